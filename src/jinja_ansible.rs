//! More of Ansible's filters and tests for [`crate::template`]: list and set algebra,
//! `combine`, `dict2items`/`items2dict`, paths, hashes, YAML, `human_readable`, and the tests
//! `subset`, `superset`, `contains`, `file`, `directory`, `exists`. Each follows Ansible's
//! (ansible-core 2.19) output for the same input; the unit tests pin those values.

use crate::template::{from_json, to_json};
use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind, Value as JinjaValue};
use serde_json::{Map, Value};
use sha1::Digest as _;

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

fn list(v: &JinjaValue) -> Result<Vec<Value>, Error> {
    match to_json(v) {
        Value::Array(items) => Ok(items),
        other => Err(invalid(format!("expected a list, got {other}"))),
    }
}

/// Items of `a` in order, each once (Ansible's `unique` keeps first occurrences).
fn unique(items: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

pub fn register(env: &mut Environment<'static>) {
    env.add_filter(
        "union",
        |a: JinjaValue, b: JinjaValue| -> Result<JinjaValue, Error> {
            let (a, b) = (list(&a)?, list(&b)?);
            Ok(from_json(&Value::Array(unique(a.into_iter().chain(b)))))
        },
    );
    env.add_filter(
        "intersect",
        |a: JinjaValue, b: JinjaValue| -> Result<JinjaValue, Error> {
            let (a, b) = (list(&a)?, list(&b)?);
            Ok(from_json(&Value::Array(unique(
                a.into_iter().filter(|x| b.contains(x)),
            ))))
        },
    );
    env.add_filter(
        "difference",
        |a: JinjaValue, b: JinjaValue| -> Result<JinjaValue, Error> {
            let (a, b) = (list(&a)?, list(&b)?);
            Ok(from_json(&Value::Array(unique(
                a.into_iter().filter(|x| !b.contains(x)),
            ))))
        },
    );
    env.add_filter(
        "symmetric_difference",
        |a: JinjaValue, b: JinjaValue| -> Result<JinjaValue, Error> {
            let (a, b) = (list(&a)?, list(&b)?);
            let left = a.iter().filter(|x| !b.contains(x)).cloned();
            let right = b.iter().filter(|x| !a.contains(x)).cloned();
            Ok(from_json(&Value::Array(unique(left.chain(right)))))
        },
    );
    env.add_filter(
        "flatten",
        |v: JinjaValue, levels: Option<usize>, kw: Kwargs| -> Result<JinjaValue, Error> {
            let levels = match levels {
                Some(n) => Some(n),
                None => kw.get::<Option<usize>>("levels")?,
            };
            let skip_nulls = kw.get::<Option<bool>>("skip_nulls")?.unwrap_or(true);
            kw.assert_all_used()?;
            let mut out = Vec::new();
            flatten_into(list(&v)?, levels, skip_nulls, &mut out);
            Ok(from_json(&Value::Array(out)))
        },
    );
    env.add_filter("combine", combine);
    env.add_filter(
        "dict2items",
        |v: JinjaValue, kw: Kwargs| -> Result<JinjaValue, Error> {
            let (key_name, value_name) = item_names(&kw)?;
            let Value::Object(map) = to_json(&v) else {
                return Err(invalid("dict2items requires a dictionary"));
            };
            let items = map
                .into_iter()
                .map(|(k, v)| {
                    let mut item = Map::new();
                    item.insert(key_name.clone(), Value::String(k));
                    item.insert(value_name.clone(), v);
                    Value::Object(item)
                })
                .collect();
            Ok(from_json(&Value::Array(items)))
        },
    );
    env.add_filter(
        "items2dict",
        |v: JinjaValue, kw: Kwargs| -> Result<JinjaValue, Error> {
            let (key_name, value_name) = item_names(&kw)?;
            let mut out = Map::new();
            for item in list(&v)? {
                let (Some(k), Some(value)) = (item.get(&key_name), item.get(&value_name)) else {
                    return Err(invalid(format!(
                        "items2dict: every item needs `{key_name}` and `{value_name}`, got {item}"
                    )));
                };
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.insert(key, value.clone());
            }
            Ok(from_json(&Value::Object(out)))
        },
    );
    env.add_filter("splitext", |v: String| {
        // Python's os.path.splitext: the dot of a leading-dot name is not an extension.
        let base_start = v.rfind('/').map_or(0, |i| i + 1);
        let base = &v[base_start..];
        let stem_len = base.len() - base.trim_start_matches('.').len();
        match base[stem_len..].rfind('.') {
            Some(i) => {
                let at = base_start + stem_len + i;
                JinjaValue::from(vec![v[..at].to_string(), v[at..].to_string()])
            }
            None => JinjaValue::from(vec![v.clone(), String::new()]),
        }
    });
    env.add_filter("path_join", |v: JinjaValue| -> Result<String, Error> {
        let parts: Vec<String> = match to_json(&v) {
            Value::Array(items) => items.iter().map(scalar).collect(),
            other => vec![scalar(&other)],
        };
        // os.path.join: an absolute part starts over.
        let mut out = String::new();
        for part in parts {
            if part.starts_with('/') || out.is_empty() {
                out = part;
            } else if out.ends_with('/') {
                out.push_str(&part);
            } else {
                out = format!("{out}/{part}");
            }
        }
        Ok(out)
    });
    env.add_filter("regex_escape", |v: String| {
        // Python's re.escape (3.7+): every character but ASCII letters, digits and `_`.
        let mut out = String::with_capacity(v.len());
        for c in v.chars() {
            if !(c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()) {
                out.push('\\');
            }
            out.push(c);
        }
        out
    });
    env.add_filter(
        "hash",
        |v: String, algorithm: Option<String>| -> Result<String, Error> {
            digest(&v, algorithm.as_deref().unwrap_or("sha1"))
        },
    );
    env.add_filter("checksum", |v: String| digest(&v, "sha1"));
    env.add_filter("sha1", |v: String| digest(&v, "sha1"));
    env.add_filter("md5", |v: String| digest(&v, "md5"));
    env.add_filter("strftime", strftime);
    env.add_function("now", now);
    // ansible-core's `finalize` (its internal `ansible._protomatter` collection): a value
    // with its lazy parts resolved; drover's values are never lazy, so it is the value.
    env.add_filter("ansible._protomatter.finalize", |v: JinjaValue| v);
    env.add_filter("to_yaml", |v: JinjaValue, kw: Kwargs| {
        to_yaml(&v, kw, false)
    });
    env.add_filter("to_nice_yaml", |v: JinjaValue, kw: Kwargs| {
        to_yaml(&v, kw, true)
    });
    env.add_filter("from_yaml", |v: String| -> Result<JinjaValue, Error> {
        let node = crate::yaml::parse(&v).map_err(|e| invalid(format!("from_yaml: {e}")))?;
        Ok(from_json(&crate::yaml::to_json(&node, &v)))
    });
    env.add_filter("human_readable", human_readable);

    env.add_test(
        "subset",
        |a: JinjaValue, b: JinjaValue| -> Result<bool, Error> {
            let (a, b) = (list(&a)?, list(&b)?);
            Ok(a.iter().all(|x| b.contains(x)))
        },
    );
    env.add_test(
        "superset",
        |a: JinjaValue, b: JinjaValue| -> Result<bool, Error> {
            let (a, b) = (list(&a)?, list(&b)?);
            Ok(b.iter().all(|x| a.contains(x)))
        },
    );
    env.add_test(
        "contains",
        |a: JinjaValue, x: JinjaValue| -> Result<bool, Error> {
            // Python's `x in a`: a substring of a string, a key of a mapping.
            if let (Some(text), Some(part)) = (a.as_str(), x.as_str()) {
                return Ok(text.contains(part));
            }
            if a.kind() == minijinja::value::ValueKind::Map {
                return Ok(a.get_item(&x).is_ok_and(|v| !v.is_undefined()));
            }
            Ok(list(&a)?.contains(&to_json(&x)))
        },
    );
    // Path tests look at the control machine, as Ansible's do.
    env.add_test("file", |p: String| std::path::Path::new(&p).is_file());
    env.add_test("directory", |p: String| std::path::Path::new(&p).is_dir());
    env.add_test("exists", |p: String| std::path::Path::new(&p).exists());
    env.add_test("link", |p: String| std::path::Path::new(&p).is_symlink());
    env.add_test("abs", |p: String| p.starts_with('/'));
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn flatten_into(items: Vec<Value>, levels: Option<usize>, skip_nulls: bool, out: &mut Vec<Value>) {
    for item in items {
        match item {
            Value::Array(inner) if levels != Some(0) => {
                flatten_into(inner, levels.map(|n| n - 1), skip_nulls, out)
            }
            // Ansible drops None and the string 'None' unless skip_nulls=False.
            Value::Null if skip_nulls => {}
            Value::String(s) if skip_nulls && s == "None" => {}
            other => out.push(other),
        }
    }
}

/// `key_name` and `value_name` of dict2items/items2dict: `key` and `value` unless given.
fn item_names(kw: &Kwargs) -> Result<(String, String), Error> {
    let key = kw.get::<Option<String>>("key_name")?;
    let value = kw.get::<Option<String>>("value_name")?;
    kw.assert_all_used()?;
    Ok((
        key.unwrap_or_else(|| "key".into()),
        value.unwrap_or_else(|| "value".into()),
    ))
}

/// `combine(b, c, recursive=False, list_merge='replace')`: later mappings win.
fn combine(
    base: JinjaValue,
    rest: minijinja::value::Rest<JinjaValue>,
    kw: Kwargs,
) -> Result<JinjaValue, Error> {
    let recursive = kw.get::<Option<bool>>("recursive")?.unwrap_or(false);
    let list_merge = kw
        .get::<Option<String>>("list_merge")?
        .unwrap_or("replace".into());
    if kw.args().any(|k| k != "recursive" && k != "list_merge") {
        return Err(invalid(
            "'recursive' and 'list_merge' are the only valid keyword arguments",
        ));
    }
    if !matches!(
        list_merge.as_str(),
        "replace" | "keep" | "append" | "prepend" | "append_rp" | "prepend_rp"
    ) {
        return Err(invalid(format!(
            "combine: unknown list_merge `{list_merge}`"
        )));
    }
    // `[a, b] | combine` is also allowed: a list of mappings.
    let mut layers = match to_json(&base) {
        Value::Array(items) => items,
        other => vec![other],
    };
    for r in rest.0 {
        match to_json(&r) {
            Value::Array(items) => layers.extend(items),
            other => layers.push(other),
        }
    }
    // `None | combine` is `{}`, as in Ansible.
    layers.retain(|layer| !layer.is_null());
    let mut out = Map::new();
    for layer in layers {
        let Value::Object(map) = layer else {
            return Err(invalid(format!(
                "failed to combine variables, expected dicts but got {layer}"
            )));
        };
        merge(&mut out, map, recursive, &list_merge);
    }
    Ok(from_json(&Value::Object(out)))
}

/// Python's `dict.update` order: a key already there keeps its place, new keys go last.
fn merge(into: &mut Map<String, Value>, from: Map<String, Value>, recursive: bool, lists: &str) {
    for (k, v) in from {
        let merged = match (into.get_mut(&k), v) {
            (Some(Value::Object(old)), Value::Object(new)) if recursive => {
                merge(old, new, recursive, lists);
                continue;
            }
            (Some(Value::Array(old)), Value::Array(new)) => {
                let old = std::mem::take(old);
                match lists {
                    "keep" => Value::Array(old),
                    "append" => Value::Array(old.into_iter().chain(new).collect()),
                    "prepend" => Value::Array(new.into_iter().chain(old).collect()),
                    "append_rp" => {
                        let kept: Vec<Value> =
                            old.into_iter().filter(|x| !new.contains(x)).collect();
                        Value::Array(kept.into_iter().chain(new).collect())
                    }
                    "prepend_rp" => {
                        let kept: Vec<Value> =
                            old.into_iter().filter(|x| !new.contains(x)).collect();
                        Value::Array(new.into_iter().chain(kept).collect())
                    }
                    _ => Value::Array(new),
                }
            }
            (_, new) => new,
        };
        into.insert(k, merged);
    }
}

fn digest(text: &str, algorithm: &str) -> Result<String, Error> {
    let bytes = text.as_bytes();
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    Ok(match algorithm {
        "sha1" => hex(&sha1::Sha1::digest(bytes)),
        "sha256" => hex(&sha2::Sha256::digest(bytes)),
        "sha512" => hex(&sha2::Sha512::digest(bytes)),
        "sha224" => hex(&sha2::Sha224::digest(bytes)),
        "sha384" => hex(&sha2::Sha384::digest(bytes)),
        "md5" => hex(&md5::Md5::digest(bytes)),
        other => {
            return Err(invalid(format!(
                "hash: unsupported hash type {other} (drover has md5, sha1, sha224, sha256, sha384 and sha512)"
            )));
        }
    })
}

/// `'%Y-%m-%d' | strftime(second=None, utc=False)`: the control machine's clock (or the
/// epoch `second`), in its local time zone unless `utc`, formatted with C's `strftime`.
fn strftime(format: String, second: Option<JinjaValue>, kw: Kwargs) -> Result<String, Error> {
    let second = match second {
        Some(v) => Some(v),
        None => kw.get::<Option<JinjaValue>>("second")?,
    };
    let utc = kw.get::<Option<bool>>("utc")?.unwrap_or(false);
    kw.assert_all_used()?;
    let at = match second.filter(|v| !v.is_none() && !v.is_undefined()) {
        None => jiff::Timestamp::now(),
        Some(v) => {
            let seconds = match to_json(&v) {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .ok_or_else(|| invalid(format!("strftime: `second` must be a number, not {v}")))?;
            let nanos = (seconds * 1e9).round() as i128;
            jiff::Timestamp::from_nanosecond(nanos)
                .map_err(|e| invalid(format!("strftime: {e}")))?
        }
    };
    let zone = if utc {
        jiff::tz::TimeZone::UTC
    } else {
        jiff::tz::TimeZone::system()
    };
    jiff::fmt::strtime::format(&format, &at.to_zoned(zone))
        .map_err(|e| invalid(format!("strftime: {e}")))
}

/// Ansible's `now(utc=False, fmt=None)`: the control machine's clock, formatted with
/// Python's `strftime` (`%f` is microseconds); without `fmt`, as Python prints a datetime.
fn now(kw: Kwargs) -> Result<String, Error> {
    let utc = kw.get::<Option<bool>>("utc")?.unwrap_or(false);
    let fmt = kw.get::<Option<String>>("fmt")?;
    kw.assert_all_used()?;
    let zone = if utc {
        jiff::tz::TimeZone::UTC
    } else {
        jiff::tz::TimeZone::system()
    };
    let at = jiff::Timestamp::now().to_zoned(zone);
    let fmt = fmt.unwrap_or_else(|| "%Y-%m-%d %H:%M:%S.%f".to_string());
    let micros = format!("{:06}", at.subsec_nanosecond() / 1000);
    // Python's `%f` is always six digits; jiff's is as many as needed.
    let mut expanded = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('%', Some('%')) => {
                expanded.push_str("%%");
                chars.next();
            }
            ('%', Some('f')) => {
                expanded.push_str(&micros);
                chars.next();
            }
            (c, _) => expanded.push(c),
        }
    }
    jiff::fmt::strtime::format(&expanded, &at).map_err(|e| invalid(format!("now: {e}")))
}

/// `to_yaml(indent=2, default_flow_style=None, sort_keys=True, width=80)` and
/// `to_nice_yaml(indent=4, …)` (block style always): PyYAML's text, byte for byte.
fn to_yaml(v: &JinjaValue, kw: Kwargs, nice: bool) -> Result<String, Error> {
    let indent = kw
        .get::<Option<usize>>("indent")?
        .unwrap_or(if nice { 4 } else { 2 });
    let flow = match kw.get::<Option<JinjaValue>>("default_flow_style")? {
        Some(v) if v.is_none() => None,
        Some(v) => Some(v.is_true()),
        None if nice => Some(false),
        None => None,
    };
    let sort_keys = kw.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
    let width = kw.get::<Option<usize>>("width")?.unwrap_or(80);
    // Options PyYAML takes that change nothing in drover's output.
    for ignored in ["allow_unicode", "explicit_start", "explicit_end"] {
        let _ = kw.get::<Option<JinjaValue>>(ignored)?;
    }
    kw.assert_all_used()?;
    if !(2..=9).contains(&indent) {
        return Err(invalid(format!(
            "to_yaml: indent must be 2 to 9, not {indent}"
        )));
    }
    let style = crate::template::pyyaml::Style {
        indent,
        flow,
        sort_keys,
        width,
    };
    Ok(crate::template::pyyaml::dump(&to_json(v), &style))
}

/// `human_readable`: bytes as Ansible prints them (`1.00 KB`), or bits with `isbits=True`.
fn human_readable(v: JinjaValue, kw: Kwargs) -> Result<String, Error> {
    let isbits = kw.get::<Option<bool>>("isbits")?.unwrap_or(false);
    let unit = kw.get::<Option<String>>("unit")?;
    kw.assert_all_used()?;
    let n: f64 = match to_json(&v) {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| invalid(format!("human_readable: `{s}` is not a number")))?,
        other => return Err(invalid(format!("human_readable: {other} is not a number"))),
    };
    let suffix = if isbits { "b" } else { "B" };
    let prefixes = ["Y", "Z", "E", "P", "T", "G", "M", "K"];
    for (i, prefix) in prefixes.iter().enumerate() {
        let limit = 1u128 << (10 * (8 - i));
        let wanted = unit.as_deref().is_some_and(|u| u.starts_with(prefix));
        if (unit.is_none() && n >= limit as f64) || wanted {
            return Ok(format!("{:.2} {prefix}{suffix}", n / limit as f64));
        }
    }
    let word = if isbits { "bits" } else { "Bytes" };
    Ok(format!("{n:.2} {word}"))
}

#[cfg(test)]
mod tests {
    use crate::template::{Origin, Templates};

    fn render(text: &str) -> String {
        let templates = Templates::new();
        let ctx = minijinja::Value::from(());
        templates
            .render_str(text, &ctx, Origin::At("t.yml:1:1"))
            .unwrap_or_else(|e| format!("ERROR {e}"))
    }

    /// Each expectation is what `ansible localhost -m debug -a "msg={{ ... }}"` prints with
    /// ansible-core 2.19 (drover prints Python's reprs, as Ansible does).
    #[test]
    fn filters_give_what_ansible_gives() {
        let cases = [
            ("{{ [1, 2, 2, 3] | union([3, 4]) }}", "[1, 2, 3, 4]"),
            ("{{ [1, 2, 2, 3] | intersect([2, 3, 5]) }}", "[2, 3]"),
            ("{{ [1, 2, 2, 3] | difference([3]) }}", "[1, 2]"),
            ("{{ [1, 2] | symmetric_difference([2, 3]) }}", "[1, 3]"),
            ("{{ [1, [2, [3, [4]]], none] | flatten }}", "[1, 2, 3, 4]"),
            ("{{ [1, [2, [3]]] | flatten(levels=1) }}", "[1, 2, [3]]"),
            ("{{ [1, [2, [3]]] | flatten(1) }}", "[1, 2, [3]]"),
            (
                "{{ 'hello' | hash('md5') }}",
                "5d41402abc4b2a76b9719d911017c592",
            ),
            ("{{ 'hello' | md5 }}", "5d41402abc4b2a76b9719d911017c592"),
            (
                "{{ 'hello' | sha1 }}",
                "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
            ),
            (
                "{{ '%Y-%m-%d %H:%M:%S' | strftime(1700000000, utc=true) }}",
                "2023-11-14 22:13:20",
            ),
            ("{{ '%s' | strftime(second=86400, utc=true) }}", "86400"),
            (
                "{{ {'x': {'p': 1, 'q': 2}, 'y': 1} | combine({'x': {'q': 3}}, recursive=true) }}",
                "{'x': {'p': 1, 'q': 3}, 'y': 1}",
            ),
            (
                "{{ {'b': 1, 'a': 2} | dict2items | items2dict }}",
                "{'b': 1, 'a': 2}",
            ),
            (
                "{{ {'a': {'x': 1}, 'l': [1]} | combine({'a': {'y': 2}, 'l': [2]}) }}",
                r#"{'a': {'y': 2}, 'l': [2]}"#,
            ),
            (
                "{{ {'a': {'x': 1}, 'l': [1]} | combine({'a': {'y': 2}, 'l': [2]}, recursive=True, list_merge='append') }}",
                r#"{'a': {'x': 1, 'y': 2}, 'l': [1, 2]}"#,
            ),
            (
                "{{ [{'a': 1}, {'b': 2}] | combine }}",
                r#"{'a': 1, 'b': 2}"#,
            ),
            (
                "{{ {'b': 1, 'a': 2} | dict2items }}",
                r#"[{'key': 'b', 'value': 1}, {'key': 'a', 'value': 2}]"#,
            ),
            (
                "{{ {'a': 1} | dict2items(key_name='k', value_name='v') }}",
                r#"[{'k': 'a', 'v': 1}]"#,
            ),
            (
                "{{ [{'key': 'a', 'value': 1}] | items2dict }}",
                r#"{'a': 1}"#,
            ),
            (
                "{{ '/etc/app.conf.j2' | splitext }}",
                r#"['/etc/app.conf', '.j2']"#,
            ),
            ("{{ '.bashrc' | splitext }}", r#"['.bashrc', '']"#),
            (
                "{{ ['/etc', 'app', 'a.conf'] | path_join }}",
                "/etc/app/a.conf",
            ),
            ("{{ ['etc', '/abs', 'x'] | path_join }}", "/abs/x"),
            ("{{ 'a.b*c' | regex_escape }}", r"a\.b\*c"),
            (
                "{{ 'hello' | hash('sha1') }}",
                "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
            ),
            (
                "{{ 'hello' | checksum }}",
                "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
            ),
            (
                "{{ 'hello' | hash('sha256') }}",
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            ),
            (
                "{{ 'a: 1\\nb: [x, y]' | from_yaml }}",
                r#"{'a': 1, 'b': ['x', 'y']}"#,
            ),
            ("{{ 1024 | human_readable }}", "1.00 KB"),
            ("{{ 1048576 | human_readable }}", "1.00 MB"),
            ("{{ 2000 | human_readable(unit='K') }}", "1.95 KB"),
            ("{{ 512 | human_readable }}", "512.00 Bytes"),
            ("{{ 1024 | human_readable(isbits=True) }}", "1.00 Kb"),
        ];
        for (template, want) in cases {
            assert_eq!(render(template), want, "{template}");
        }
        assert!(render("{{ 'x' | hash('md4') }}").contains("unsupported hash type md4"));
        assert!(render("{{ {'a': [1]} | to_yaml }}").contains("a:"));
    }

    #[test]
    fn tests_give_what_ansible_gives() {
        let cases = [
            ("{{ [1, 2] is subset([1, 2, 3]) }}", "True"),
            ("{{ [1, 4] is subset([1, 2, 3]) }}", "False"),
            ("{{ [1, 2, 3] is superset([3]) }}", "True"),
            ("{{ [1, 2, 3] is contains(2) }}", "True"),
            ("{{ ['a'] is contains('b') }}", "False"),
            ("{{ '/' is directory }}", "True"),
            ("{{ '/' is file }}", "False"),
            ("{{ '/' is exists }}", "True"),
            ("{{ '/surely/not/here' is exists }}", "False"),
            ("{{ '/etc' is abs }}", "True"),
        ];
        for (template, want) in cases {
            assert_eq!(render(template), want, "{template}");
        }
    }
}

//! A task's loop on one host: turns the rendered `loop`/`with_*` value into items as
//! Ansible's lookups of the same names do, and gives each item its variables (`item` or
//! `loop_var`, `index_var`, `ansible_loop`). Renders nothing itself and runs nothing.

use crate::playbook::loops::{LoopControl, LoopKind};
use serde_json::{Map, Value, json};

/// The items of a loop of `kind` whose keyword rendered to `value`.
pub fn items(kind: LoopKind, value: Value) -> Result<Vec<Value>, String> {
    let keyword = kind.keyword();
    match (kind, value) {
        (LoopKind::Loop, Value::Array(items)) => Ok(items),
        (LoopKind::Loop, Value::Null) => Ok(Vec::new()),
        (LoopKind::Loop, other) => Err(format!(
            "`loop` must be a list, got {other}; to loop over a mapping write `{{{{ x | dict2items }}}}`"
        )),
        (_, Value::Null) => Ok(Vec::new()),
        (LoopKind::List, Value::Array(items)) => Ok(items),
        (LoopKind::List, other) => Ok(vec![other]),
        (LoopKind::Items, value) => Ok(flatten_once(value)),
        (LoopKind::IndexedItems, value) => Ok(flatten_once(value)
            .into_iter()
            .enumerate()
            .map(|(i, item)| json!([i, item]))
            .collect()),
        (LoopKind::Dict, Value::Object(map)) => Ok(map
            .into_iter()
            .map(|(key, value)| json!({"key": key, "value": value}))
            .collect()),
        (LoopKind::Dict, other) => Err(format!("`{keyword}` expects a mapping, got {other}")),
        (LoopKind::Sequence, Value::Array(specs)) => {
            let mut all = Vec::new();
            for spec in specs {
                all.extend(sequence(&scalar(&spec))?);
            }
            Ok(all)
        }
        (LoopKind::Sequence, spec) => sequence(&scalar(&spec)),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Ansible's `_flatten`: list elements that are lists are spliced in, one level deep.
fn flatten_once(value: Value) -> Vec<Value> {
    let Value::Array(terms) = value else {
        return vec![value];
    };
    let mut out = Vec::with_capacity(terms.len());
    for term in terms {
        match term {
            Value::Array(inner) => out.extend(inner),
            other => out.push(other),
        }
    }
    out
}

/// At most this many numbers from one `with_sequence`, so a typo cannot exhaust memory.
const MAX_SEQUENCE: i64 = 100_000;

/// `with_sequence`: `start=1 end=5 stride=2 format=host%02d`, `count=3`, or the shortcut
/// `[start-]end[/stride][:format]`. Items are strings, as Ansible's are.
pub fn sequence(spec: &str) -> Result<Vec<Value>, String> {
    let bad = |why: String| format!("`with_sequence: {spec}`: {why}");
    let (mut start, mut end, mut stride, mut count, mut format) =
        (1i64, None::<i64>, 1i64, None::<i64>, "%d".to_string());
    let int =
        |text: &str| parse_int(text).ok_or_else(|| bad(format!("`{text}` is not an integer")));
    if spec.contains('=') {
        for word in spec.split_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                return Err(bad(format!("`{word}` is not key=value")));
            };
            match key {
                "start" => start = int(value)?,
                "end" => end = Some(int(value)?),
                "stride" => stride = int(value)?,
                "count" => count = Some(int(value)?),
                "format" => format = value.to_string(),
                other => {
                    return Err(bad(format!(
                        "unknown argument `{other}` (takes start, end, count, stride, format)"
                    )));
                }
            }
        }
    } else {
        let (range, fmt) = match spec.split_once(':') {
            Some((range, fmt)) => (range, Some(fmt)),
            None => (spec, None),
        };
        let (range, step) = match range.split_once('/') {
            Some((range, step)) => (range, Some(int(step)?)),
            None => (range, None),
        };
        match range.trim().split_once('-') {
            Some((a, b)) => {
                start = int(a)?;
                end = Some(int(b)?);
            }
            None => end = Some(int(range)?),
        }
        stride = step.unwrap_or(1);
        if let Some(fmt) = fmt {
            format = fmt.to_string();
        }
    }
    let end = match (count, end) {
        (Some(_), Some(_)) => return Err(bad("give `count` or `end`, not both".into())),
        (Some(0), None) => return Ok(Vec::new()),
        (Some(n), None) => start + n * stride - 1,
        (None, Some(end)) => end,
        (None, None) => return Err(bad("give `end` or `count`".into())),
    };
    if stride == 0 {
        return Err(bad("`stride` must not be 0".into()));
    }
    if (stride > 0 && end < start) || (stride < 0 && end > start) {
        return Err(bad(
            "the range is empty in this direction (to count backwards make `stride` negative)"
                .into(),
        ));
    }
    if (end - start) / stride >= MAX_SEQUENCE {
        return Err(bad(format!("more than {MAX_SEQUENCE} numbers")));
    }
    let mut out = Vec::new();
    let mut n = start;
    while (stride > 0 && n <= end) || (stride < 0 && n >= end) {
        out.push(Value::String(printf(&format, n).map_err(bad)?));
        n += stride;
    }
    Ok(out)
}

/// Python's `int(x, 0)`: decimal, `0x` hex, `0o` octal.
fn parse_int(text: &str) -> Option<i64> {
    let text = text.trim();
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let n = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else {
        digits.parse().ok()?
    };
    Some(if neg { -n } else { n })
}

/// `format % n` for one `%[0][width](d|i|x|X|o)` conversion (and `%%`).
fn printf(format: &str, n: i64) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut used = false;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let zero = chars.peek() == Some(&'0');
        let mut width = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(*d);
            chars.next();
        }
        let width: usize = width.parse().unwrap_or(0);
        let digits = match chars.next() {
            Some('d' | 'i') => n.to_string(),
            Some('x') => format!("{n:x}"),
            Some('X') => format!("{n:X}"),
            Some('o') => format!("{n:o}"),
            _ => return Err(format!("format `{format}` is not one %d, %x or %o")),
        };
        if used {
            return Err(format!("format `{format}` has more than one conversion"));
        }
        used = true;
        let pad = width.saturating_sub(digits.len());
        if zero {
            out.push_str(&"0".repeat(pad));
        } else {
            out.push_str(&" ".repeat(pad));
        }
        out.push_str(&digits);
    }
    if !used {
        return Err(format!("format `{format}` has no %d"));
    }
    Ok(out)
}

/// The variables of item `index`: the loop variable, `index_var`, and with `extended`,
/// `ansible_loop` as Ansible fills it. They also go into the item's registered result.
pub fn item_vars(
    control: &LoopControl,
    extended: bool,
    items: &[Value],
    index: usize,
) -> Map<String, Value> {
    let mut vars = Map::new();
    let item = items.get(index).cloned().unwrap_or(Value::Null);
    vars.insert(control.loop_var.clone(), item);
    vars.insert("ansible_loop_var".into(), json!(control.loop_var));
    if let Some(index_var) = &control.index_var {
        vars.insert(index_var.clone(), json!(index));
        vars.insert("ansible_index_var".into(), json!(index_var));
    }
    if extended {
        let length = items.len();
        let mut info = Map::new();
        info.insert("index".into(), json!(index + 1));
        info.insert("index0".into(), json!(index));
        info.insert("first".into(), json!(index == 0));
        info.insert("last".into(), json!(index + 1 == length));
        info.insert("length".into(), json!(length));
        info.insert("revindex".into(), json!(length - index));
        info.insert("revindex0".into(), json!(length - index - 1));
        if control.extended_allitems {
            info.insert("allitems".into(), Value::Array(items.to_vec()));
        }
        if let Some(next) = items.get(index + 1) {
            info.insert("nextitem".into(), next.clone());
        }
        if index > 0 {
            info.insert("previtem".into(), items[index - 1].clone());
        }
        vars.insert("ansible_loop".into(), Value::Object(info));
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(values: Vec<Value>) -> Vec<String> {
        values.iter().map(scalar).collect()
    }

    #[test]
    fn each_keyword_shapes_its_items_as_ansible_does() {
        let nested = json!([1, [2, [3]], "a"]);
        assert_eq!(
            items(LoopKind::Loop, nested.clone()).unwrap(),
            nested.as_array().unwrap().clone()
        );
        assert_eq!(
            items(LoopKind::Items, nested.clone()).unwrap(),
            vec![json!(1), json!(2), json!([3]), json!("a")]
        );
        assert_eq!(
            items(LoopKind::Items, json!("x")).unwrap(),
            vec![json!("x")]
        );
        assert_eq!(items(LoopKind::List, json!("x")).unwrap(), vec![json!("x")]);
        assert_eq!(
            items(LoopKind::IndexedItems, json!(["a", ["b"]])).unwrap(),
            vec![json!([0, "a"]), json!([1, "b"])]
        );
        assert_eq!(
            items(LoopKind::Dict, json!({"b": 1, "a": {"x": 2}})).unwrap(),
            vec![
                json!({"key": "b", "value": 1}),
                json!({"key": "a", "value": {"x": 2}})
            ]
        );
        let err = items(LoopKind::Dict, json!([1])).unwrap_err();
        assert!(err.contains("`with_dict` expects a mapping"), "{err}");
        let err = items(LoopKind::Loop, json!("a")).unwrap_err();
        assert!(err.contains("`loop` must be a list"), "{err}");
    }

    #[test]
    fn sequence_forms_match_ansible() {
        // Checked with ansible-core 2.19: `lookup('sequence', ...)`.
        assert_eq!(strings(sequence("start=1 end=3").unwrap()), ["1", "2", "3"]);
        assert_eq!(
            strings(sequence("start=0 end=10 stride=5 format=web%02d").unwrap()),
            ["web00", "web05", "web10"]
        );
        assert_eq!(strings(sequence("count=3").unwrap()), ["1", "2", "3"]);
        assert_eq!(
            strings(sequence("start=5 count=2 stride=2").unwrap()),
            ["5", "7"]
        );
        assert_eq!(strings(sequence("4-6").unwrap()), ["4", "5", "6"]);
        assert_eq!(strings(sequence("2-8/3:h%d").unwrap()), ["h2", "h5", "h8"]);
        assert_eq!(
            strings(sequence("start=3 end=1 stride=-1").unwrap()),
            ["3", "2", "1"]
        );
        assert_eq!(
            strings(sequence("start=0x0a end=0x0c format=%x").unwrap()),
            ["a", "b", "c"]
        );
        assert!(sequence("count=0").unwrap().is_empty());
        assert!(sequence("start=5 end=1").unwrap_err().contains("backwards"));
        assert!(
            sequence("start=1 end=many")
                .unwrap_err()
                .contains("`many` is not an integer")
        );
        assert!(
            sequence("begin=1 end=3")
                .unwrap_err()
                .contains("unknown argument `begin`")
        );
        assert!(
            sequence("end=1000000000")
                .unwrap_err()
                .contains("more than")
        );
    }

    #[test]
    fn extended_loop_variables() {
        let control = LoopControl {
            loop_var: "pkg".into(),
            index_var: Some("i".into()),
            ..LoopControl::default()
        };
        let list = [json!("a"), json!("b"), json!("c")];
        let vars = item_vars(&control, true, &list, 1);
        assert_eq!(vars["pkg"], json!("b"));
        assert_eq!(vars["i"], json!(1));
        assert_eq!(vars["ansible_loop_var"], json!("pkg"));
        let info = &vars["ansible_loop"];
        assert_eq!(info["index"], json!(2));
        assert_eq!(info["revindex0"], json!(1));
        assert_eq!(info["previtem"], json!("a"));
        assert_eq!(info["nextitem"], json!("c"));
        assert_eq!(info["allitems"], json!(["a", "b", "c"]));
        let last = item_vars(&control, true, &list, 2);
        assert_eq!(last["ansible_loop"]["last"], json!(true));
        assert!(last["ansible_loop"].get("nextitem").is_none());
        assert!(
            item_vars(&control, false, &list, 0)
                .get("ansible_loop")
                .is_none()
        );
    }
}

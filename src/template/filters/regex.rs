//! `regex_search` with Ansible's full signature: `value | regex_search(pattern, '\\1',
//! '\\g<name>', …, ignorecase=False, multiline=False)`.

use super::invalid;
use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, Value};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_findall", regex_findall);
}

/// A pattern as Python's `re` compiles it, with its `I`/`M` flags.
fn python(pattern: &str, ignorecase: bool, multiline: bool) -> Result<fancy_regex::Regex, Error> {
    let flags = match (ignorecase, multiline) {
        (false, false) => "",
        (true, false) => "(?i)",
        (false, true) => "(?m)",
        (true, true) => "(?im)",
    };
    fancy_regex::Regex::new(&format!("{flags}{pattern}"))
        .map_err(|e| invalid(format!("bad regular expression {pattern:?}: {e}")))
}

/// Python's replacement syntax (`\1`, `\g<1>`, `\g<name>`, `\n`) as the crate's (`${1}`,
/// a literal `$` doubled).
fn python_replacement(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut n = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        n.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                Some('g') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                    } else {
                        out.push_str("\\g");
                    }
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('t') => {
                    chars.next();
                    out.push('\t');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// `value | regex_replace(pattern, replacement='', ignorecase=False, multiline=False,
/// count=0, mandatory_count=0)`: Python's `re.subn`.
fn regex_replace(
    value: Value,
    pattern: String,
    rest: Rest<Value>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let mut positional = rest.0.into_iter();
    let mut arg = |name: &str| -> Result<Option<Value>, Error> {
        match positional.next() {
            Some(v) => Ok(Some(v)),
            None => kwargs.get::<Option<Value>>(name),
        }
    };
    let replacement = arg("replacement")?.map(|v| text(&v)).unwrap_or_default();
    let ignorecase = arg("ignorecase")?.is_some_and(|v| v.is_true());
    let multiline = arg("multiline")?.is_some_and(|v| v.is_true());
    let count = arg("count")?.and_then(|v| v.as_usize()).unwrap_or(0);
    let mandatory = arg("mandatory_count")?
        .and_then(|v| v.as_usize())
        .unwrap_or(0);
    kwargs.assert_all_used()?;
    let value = text(&value);
    let re = python(&pattern, ignorecase, multiline)?;
    let found = re.find_iter(&value).take_while(Result::is_ok).count();
    let subs = if count == 0 { found } else { found.min(count) };
    if mandatory != 0 && mandatory != subs {
        return Err(invalid(format!(
            "'{pattern}' should match {mandatory} times, but matches {count} times in '{value}'"
        )));
    }
    let replacement = python_replacement(&replacement);
    Ok(re
        .replacen(&value, count, replacement.as_str())
        .into_owned())
}

/// `value | regex_findall(regex, multiline=False, ignorecase=False)`: Python's
/// `re.findall` (the matches; with one group, the group; with several, lists of them).
fn regex_findall(
    value: Value,
    pattern: String,
    rest: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let mut positional = rest.0.into_iter();
    let mut arg = |name: &str| -> Result<bool, Error> {
        Ok(match positional.next() {
            Some(v) => v.is_true(),
            None => kwargs.get::<Option<bool>>(name)?.unwrap_or(false),
        })
    };
    let multiline = arg("multiline")?;
    let ignorecase = arg("ignorecase")?;
    kwargs.assert_all_used()?;
    let value = text(&value);
    let re = python(&pattern, ignorecase, multiline)?;
    let groups = re.captures_len() - 1;
    let mut out = Vec::new();
    for caps in re.captures_iter(&value) {
        let caps = caps.map_err(|e| invalid(format!("regex_findall: {e}")))?;
        let group = |i: usize| Value::from(caps.get(i).map_or("", |m| m.as_str()));
        out.push(match groups {
            0 => group(0),
            1 => group(1),
            n => Value::from((1..=n).map(group).collect::<Vec<_>>()),
        });
    }
    Ok(Value::from(out))
}

/// Python's `to_text` of a filter's input: a string as it is, anything else as printed.
fn text(value: &Value) -> String {
    match value.as_str() {
        Some(s) => s.to_string(),
        None => value.to_string(),
    }
}

fn regex_search(
    value: String,
    pattern: String,
    groups: Rest<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let re = regex::RegexBuilder::new(&pattern)
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| invalid(format!("regex_search: {e}")))?;
    let Some(caps) = re.captures(&value) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(caps.get(0).map_or("", |m| m.as_str())));
    }
    let mut out = Vec::new();
    for group in groups.iter() {
        let found = if let Some(name) = group.strip_prefix("\\g<").and_then(|g| g.strip_suffix('>'))
        {
            caps.name(name)
        } else if let Some(n) = group
            .strip_prefix('\\')
            .and_then(|n| n.parse::<usize>().ok())
        {
            caps.get(n)
        } else {
            return Err(invalid(format!("Unknown argument: {group}")));
        };
        out.push(found.map_or(Value::from(()), |m| Value::from(m.as_str())));
    }
    Ok(Value::from(out))
}

//! `regex_search` with Ansible's full signature: `value | regex_search(pattern, '\\1',
//! '\\g<name>', …, ignorecase=False, multiline=False)`.

use super::invalid;
use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, Value};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("regex_search", regex_search);
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

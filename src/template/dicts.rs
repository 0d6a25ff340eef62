//! Ansible's dictionary filters: `combine` (with `recursive`), `dict2items` and
//! `items2dict` (with `key_name`/`value_name`), on JSON values so key order is kept.

use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, ErrorKind, Value as JinjaValue};
use serde_json::{Map, Value};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
}

fn object(value: &JinjaValue, filter: &str) -> Result<Map<String, Value>, Error> {
    match super::to_json(value) {
        Value::Object(map) => Ok(map),
        other => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("{filter} expects a dictionary, got {other}"),
        )),
    }
}

/// `a | combine(b, c, recursive=true)`: later dictionaries win; with `recursive`, nested
/// dictionaries merge instead of being replaced. Lists are replaced (Ansible's default
/// `list_merge='replace'`).
fn combine(base: JinjaValue, others: Rest<JinjaValue>, kw: Kwargs) -> Result<JinjaValue, Error> {
    let recursive = kw.get::<Option<bool>>("recursive")?.unwrap_or(false);
    if let Some(mode) = kw.get::<Option<String>>("list_merge")?
        && mode != "replace"
    {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("combine: list_merge='{mode}' is not supported by drover yet"),
        ));
    }
    let mut out = object(&base, "combine")?;
    for other in others.iter() {
        // `combine([a, b])` takes a list of dictionaries too.
        let maps = match super::to_json(other) {
            Value::Array(items) => items,
            value => vec![value],
        };
        for map in maps {
            let Value::Object(map) = map else {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "combine expects dictionaries",
                ));
            };
            merge(&mut out, map, recursive);
        }
    }
    Ok(super::from_json(&Value::Object(out)))
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>, recursive: bool) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(Value::Object(old)), Value::Object(new)) if recursive => merge(old, new, true),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// `key_name` and `value_name`, `key` and `value` unless given.
fn item_names(kw: &Kwargs) -> Result<(String, String), Error> {
    let key = kw.get::<Option<String>>("key_name")?;
    let value = kw.get::<Option<String>>("value_name")?;
    Ok((
        key.unwrap_or_else(|| "key".into()),
        value.unwrap_or_else(|| "value".into()),
    ))
}

fn dict2items(value: JinjaValue, kw: Kwargs) -> Result<JinjaValue, Error> {
    let (key_name, value_name) = item_names(&kw)?;
    let items: Vec<Value> = object(&value, "dict2items")?
        .into_iter()
        .map(|(k, v)| {
            let mut item = Map::new();
            item.insert(key_name.clone(), Value::String(k));
            item.insert(value_name.clone(), v);
            Value::Object(item)
        })
        .collect();
    Ok(super::from_json(&Value::Array(items)))
}

fn items2dict(value: JinjaValue, kw: Kwargs) -> Result<JinjaValue, Error> {
    let (key_name, value_name) = item_names(&kw)?;
    let Value::Array(items) = super::to_json(&value) else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "items2dict expects a list",
        ));
    };
    let mut out = Map::new();
    for item in items {
        let (Some(key), Some(val)) = (item.get(&key_name), item.get(&value_name)) else {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("items2dict: every item needs `{key_name}` and `{value_name}`"),
            ));
        };
        let key = match key {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.insert(key, val.clone());
    }
    Ok(super::from_json(&Value::Object(out)))
}

#[cfg(test)]
mod tests {
    use super::super::{Origin, Templates};
    use serde_json::json;

    fn render(text: &str, ctx: serde_json::Value) -> String {
        let templates = Templates::new();
        let ctx = super::super::from_json(&ctx);
        templates
            .render_str(text, &ctx, Origin::File("t.j2"))
            .expect("renders")
    }

    #[test]
    fn combine_replaces_or_merges_recursively() {
        let ctx = json!({"a": {"x": {"p": 1, "q": 2}, "y": 1}, "b": {"x": {"q": 3}}});
        assert_eq!(
            render("{{ a | combine(b) | to_json }}", ctx.clone()),
            r#"{"x": {"q": 3}, "y": 1}"#
        );
        assert_eq!(
            render("{{ a | combine(b, recursive=true) | to_json }}", ctx),
            r#"{"x": {"p": 1, "q": 3}, "y": 1}"#
        );
    }

    #[test]
    fn dict2items_and_back() {
        let ctx = json!({"d": {"b": 1, "a": 2}});
        assert_eq!(
            render("{{ d | dict2items | to_json }}", ctx.clone()),
            r#"[{"key": "b", "value": 1}, {"key": "a", "value": 2}]"#
        );
        assert_eq!(
            render("{{ d | dict2items | items2dict | to_json }}", ctx),
            r#"{"b": 1, "a": 2}"#
        );
    }
}

//! The lookups that reshape their terms: `items`, `list`, `indexed_items`, `dict`, `nested`
//! (`cartesian`), `together`, `subelements` and `random_choice`, with the results and
//! messages of ansible-core's plugins of the same names.

use super::{Found, LookupError, failed};
use crate::template::{from_json, to_json};
use minijinja::Value as JinjaValue;
use serde_json::{Value, json};

pub(super) fn run(name: &str, terms: Vec<JinjaValue>) -> Found {
    let terms: Vec<Value> = terms.iter().map(to_json).collect();
    let out = match name {
        "items" => flatten(terms),
        "list" => terms,
        "indexed_items" => flatten(terms)
            .into_iter()
            .enumerate()
            .map(|(i, item)| json!([i, item]))
            .collect(),
        "dict" => dict(terms)?,
        "nested" | "cartesian" => nested(terms)?,
        "together" => together(terms)?,
        "subelements" => subelements(terms)?,
        "random_choice" => random_choice(terms),
        _ => return Err(failed(format!("no list lookup `{name}`"))),
    };
    Ok(out.iter().map(from_json).collect())
}

/// Ansible's `_flatten`: terms that are lists are spliced in, one level deep.
fn flatten(terms: Vec<Value>) -> Vec<Value> {
    let mut out = Vec::with_capacity(terms.len());
    for term in terms {
        match term {
            Value::Array(inner) => out.extend(inner),
            other => out.push(other),
        }
    }
    out
}

fn dict(terms: Vec<Value>) -> Result<Vec<Value>, LookupError> {
    let mut out = Vec::new();
    for term in terms {
        let Value::Object(map) = term else {
            return Err(failed(format!(
                "the 'dict' lookup plugin expects a dictionary, got '{}' of type {})",
                python_repr(&term),
                python_type(&term)
            )));
        };
        out.extend(
            map.into_iter()
                .map(|(key, value)| json!({"key": key, "value": value})),
        );
    }
    Ok(out)
}

/// `nested`: every combination of one item of each list, in order, each flattened one level.
fn nested(terms: Vec<Value>) -> Result<Vec<Value>, LookupError> {
    let mut lists = terms.into_iter();
    let Some(first) = lists.next() else {
        return Err(failed(
            "with_nested requires at least one element in the nested list",
        ));
    };
    let mut result: Vec<Value> = iterate(first);
    for next in lists {
        let next = iterate(next);
        let mut combined = Vec::with_capacity(result.len() * next.len());
        for x in &result {
            for y in &next {
                combined.push(Value::Array(flatten(vec![x.clone(), y.clone()])));
            }
        }
        result = combined;
    }
    Ok(result
        .into_iter()
        .map(|x| Value::Array(flatten(iterate(x))))
        .collect())
}

/// Python's iteration over a term: a list's items, a mapping's keys, a string's characters.
fn iterate(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        Value::Object(map) => map.into_iter().map(|(k, _)| Value::String(k)).collect(),
        Value::String(s) => s.chars().map(|c| Value::String(c.to_string())).collect(),
        other => vec![other],
    }
}

/// `together`: the lists side by side, the shorter ones padded with `None`.
fn together(terms: Vec<Value>) -> Result<Vec<Value>, LookupError> {
    if terms.is_empty() {
        return Err(failed(
            "with_together requires at least one element in each list",
        ));
    }
    let lists: Vec<Vec<Value>> = terms.into_iter().map(iterate).collect();
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok((0..longest)
        .map(|i| {
            let row: Vec<Value> = lists
                .iter()
                .map(|l| l.get(i).cloned().unwrap_or(Value::Null))
                .collect();
            Value::Array(flatten(row))
        })
        .collect())
}

fn random_choice(terms: Vec<Value>) -> Vec<Value> {
    use rand::seq::IndexedRandom;
    match terms.choose(&mut rand::rng()) {
        Some(choice) => vec![choice.clone()],
        None => terms,
    }
}

/// `subelements`: `[parent, child]` for each child in the list each parent holds under the
/// (dotted) key; `skip_missing` skips parents without it. The list is taken out of the
/// parent, as Ansible's plugin pops it.
fn subelements(terms: Vec<Value>) -> Result<Vec<Value>, LookupError> {
    let terms_error = |msg: &str| {
        failed(format!(
            "subelements lookup expects a list of two or three items, {msg}"
        ))
    };
    if !(2..=3).contains(&terms.len()) {
        return Err(terms_error(""));
    }
    let mut terms = terms.into_iter();
    let (first, key) = (terms.next(), terms.next());
    let flags = terms.next();
    let (Some(first @ (Value::Array(_) | Value::Object(_))), Some(Value::String(key))) =
        (first, key)
    else {
        return Err(terms_error(
            "first a dict or a list, second a string pointing to the subkey",
        ));
    };
    let subkeys: Vec<&str> = key.split('.').collect();
    let elements: Vec<Value> = match first {
        Value::Object(map) => {
            if map.get("skipped").is_some_and(|s| *s != json!(false)) {
                return Ok(Vec::new());
            }
            map.into_iter().map(|(_, v)| v).collect()
        }
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    let skip_missing = match &flags {
        None => false,
        Some(Value::Object(flags)) if flags.keys().all(|k| k == "skip_missing") => flags
            .get("skip_missing")
            .is_some_and(|v| super::boolean(&from_json(v)).unwrap_or(false)),
        Some(_) => {
            return Err(terms_error(
                "the optional third item must be a dict with flags ('skip_missing',)",
            ));
        }
    };
    let mut out = Vec::new();
    for mut parent in elements {
        let Value::Object(map) = &parent else {
            return Err(failed(format!(
                "subelements lookup expects a dictionary, got '{}'",
                python_repr(&parent)
            )));
        };
        if map.get("skipped").is_some_and(|s| *s != json!(false)) {
            continue;
        }
        let children = match take_sublist(&mut parent, &subkeys, skip_missing)? {
            Some(children) => children,
            None => continue,
        };
        for child in children {
            out.push(json!([parent.clone(), child]));
        }
    }
    Ok(out)
}

/// Follows the dotted key into `parent` and takes the list at its end out of it; `None`
/// when a key is missing and `skip_missing` says to skip.
fn take_sublist(
    parent: &mut Value,
    subkeys: &[&str],
    skip_missing: bool,
) -> Result<Option<Vec<Value>>, LookupError> {
    let mut value: &mut Value = parent;
    for (i, subkey) in subkeys.iter().enumerate() {
        let last = i + 1 == subkeys.len();
        let Value::Object(map) = value else {
            return Ok(None);
        };
        if !map.contains_key(*subkey) {
            if skip_missing {
                return Ok(None);
            }
            return Err(failed(format!(
                "could not find '{subkey}' key in iterated item '{}'",
                python_repr(&Value::Object(map.clone()))
            )));
        }
        if last {
            return match map.get(*subkey) {
                Some(Value::Array(_)) => match map.shift_remove(*subkey) {
                    Some(Value::Array(items)) => Ok(Some(items)),
                    _ => Ok(Some(Vec::new())),
                },
                Some(other) => Err(failed(format!(
                    "the key {subkey} should point to a list, got '{}'",
                    python_repr(other)
                ))),
                None => Ok(None),
            };
        }
        match map.get_mut(*subkey) {
            Some(next @ Value::Object(_)) => value = next,
            Some(other) if !skip_missing => {
                return Err(failed(format!(
                    "the key {subkey} should point to a dictionary, got '{}'",
                    python_repr(other)
                )));
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Python's `str()` of a value, for messages that quote it as Ansible's do.
fn python_repr(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => from_json(other).to_string(),
    }
}

fn python_type(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "<class 'str'>",
        Value::Number(n) if n.is_i64() || n.is_u64() => "<class 'int'>",
        Value::Number(_) => "<class 'float'>",
        Value::Bool(_) => "<class 'bool'>",
        Value::Null => "<class 'NoneType'>",
        Value::Array(_) => "<class 'list'>",
        Value::Object(_) => "<class 'dict'>",
    }
}

//! Lists and mappings: `extract`, `product`, `zip_longest`, `subelements`, `combinations`,
//! `permutations`, `rekey_on_member`, `type_debug`.

use super::invalid;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, State, Value};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("extract", extract);
    env.add_filter("product", product);
    env.add_filter("zip_longest", zip_longest);
    env.add_filter("subelements", subelements);
    env.add_filter("combinations", combinations);
    env.add_filter("permutations", permutations);
    env.add_filter("rekey_on_member", rekey_on_member);
    env.add_filter("type_debug", type_debug);
}

fn items(v: &Value) -> Result<Vec<Value>, Error> {
    Ok(v.try_iter()?.collect())
}

/// `key | extract(container, morekeys=None)`: `container[key]`, then each of `morekeys`.
fn extract(
    state: &State,
    key: Value,
    container: Value,
    morekeys: Option<Value>,
) -> Result<Value, Error> {
    // Ansible 2.19: a key the container lacks gives undefined (so `| default(x)` works).
    let _ = state;
    if container.is_undefined() {
        return Ok(Value::UNDEFINED);
    }
    let mut value = container.get_item(&key).unwrap_or(Value::UNDEFINED);
    if let Some(more) = morekeys {
        let more = match more.kind() {
            ValueKind::Seq => items(&more)?,
            _ => vec![more],
        };
        for k in more {
            if value.is_undefined() {
                break;
            }
            value = value.get_item(&k).unwrap_or(Value::UNDEFINED);
        }
    }
    Ok(value)
}

/// `a | product(b, …, repeat=1)`: Python's itertools.product, as lists.
fn product(first: Value, rest: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let repeat: usize = kwargs.get::<Option<usize>>("repeat")?.unwrap_or(1);
    kwargs.assert_all_used()?;
    let mut pools = vec![items(&first)?];
    for v in rest.iter() {
        pools.push(items(v)?);
    }
    let pools: Vec<Vec<Value>> = (0..repeat).flat_map(|_| pools.clone()).collect();
    let mut out: Vec<Vec<Value>> = vec![Vec::new()];
    for pool in &pools {
        let mut next = Vec::with_capacity(out.len() * pool.len());
        for prefix in &out {
            for item in pool {
                let mut p = prefix.clone();
                p.push(item.clone());
                next.push(p);
            }
        }
        out = next;
    }
    Ok(Value::from(
        out.into_iter().map(Value::from).collect::<Vec<_>>(),
    ))
}

/// `a | zip_longest(b, …, fillvalue=None)`.
fn zip_longest(first: Value, rest: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let fill: Value = kwargs
        .get::<Option<Value>>("fillvalue")?
        .unwrap_or(Value::from(()));
    kwargs.assert_all_used()?;
    let mut lists = vec![items(&first)?];
    for v in rest.iter() {
        lists.push(items(v)?);
    }
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    let rows: Vec<Value> = (0..longest)
        .map(|i| {
            Value::from(
                lists
                    .iter()
                    .map(|l| l.get(i).cloned().unwrap_or_else(|| fill.clone()))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    Ok(Value::from(rows))
}

/// `list | subelements('a.b', skip_missing=False)`: `[item, sub]` for each element of each
/// item's (dotted) list.
fn subelements(
    list: Value,
    path: String,
    skip_missing: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let skip = match kwargs.get::<Option<bool>>("skip_missing")? {
        Some(b) => b,
        None => match &skip_missing {
            Some(v) if v.kind() == ValueKind::Map => v
                .get_attr("skip_missing")
                .map(|s| s.is_true())
                .unwrap_or(false),
            Some(v) => v.is_true(),
            None => false,
        },
    };
    kwargs.assert_all_used()?;
    let list = match list.kind() {
        ValueKind::Map => list
            .try_iter()?
            .map(|k| list.get_item(&k))
            .collect::<Result<Vec<_>, _>>()?,
        _ => items(&list)?,
    };
    let mut out = Vec::new();
    for item in list {
        let mut sub = item.clone();
        let mut missing = false;
        for key in path.split('.') {
            let next = sub.get_attr(key).unwrap_or(Value::UNDEFINED);
            if next.is_undefined() {
                missing = true;
                break;
            }
            sub = next;
        }
        if missing {
            if skip {
                continue;
            }
            return Err(invalid(format!(
                "could not find '{path}' key in iterated item '{item}'"
            )));
        }
        if sub.kind() != ValueKind::Seq {
            return Err(invalid(format!(
                "the key {path} should point to a list, got '{sub}'"
            )));
        }
        for element in items(&sub)? {
            out.push(Value::from(vec![item.clone(), element]));
        }
    }
    Ok(Value::from(out))
}

fn choose(pool: &[Value], r: usize, start: usize, current: &mut Vec<Value>, out: &mut Vec<Value>) {
    if current.len() == r {
        out.push(Value::from(current.clone()));
        return;
    }
    for i in start..pool.len() {
        current.push(pool[i].clone());
        choose(pool, r, i + 1, current, out);
        current.pop();
    }
}

/// `list | combinations(r)`: itertools.combinations.
fn combinations(list: Value, r: usize) -> Result<Value, Error> {
    let pool = items(&list)?;
    let mut out = Vec::new();
    choose(&pool, r, 0, &mut Vec::new(), &mut out);
    Ok(Value::from(out))
}

fn arrange(
    pool: &[Value],
    r: usize,
    used: &mut Vec<bool>,
    current: &mut Vec<Value>,
    out: &mut Vec<Value>,
) {
    if current.len() == r {
        out.push(Value::from(current.clone()));
        return;
    }
    for i in 0..pool.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        current.push(pool[i].clone());
        arrange(pool, r, used, current, out);
        current.pop();
        used[i] = false;
    }
}

/// `list | permutations(r=len)`: itertools.permutations.
fn permutations(list: Value, r: Option<usize>) -> Result<Value, Error> {
    let pool = items(&list)?;
    let r = r.unwrap_or(pool.len());
    let mut out = Vec::new();
    if r <= pool.len() {
        arrange(
            &pool,
            r,
            &mut vec![false; pool.len()],
            &mut Vec::new(),
            &mut out,
        );
    }
    Ok(Value::from(out))
}

/// `list | rekey_on_member('name', duplicates='error')`: a mapping keyed by each item's
/// member.
fn rekey_on_member(list: Value, key: Value, duplicates: Option<String>) -> Result<Value, Error> {
    let duplicates = duplicates.unwrap_or_else(|| "error".to_string());
    if !matches!(duplicates.as_str(), "error" | "overwrite") {
        return Err(invalid(
            "duplicates parameter to rekey_on_member has unknown value",
        ));
    }
    let list = match list.kind() {
        ValueKind::Map => list
            .try_iter()?
            .map(|k| list.get_item(&k))
            .collect::<Result<Vec<_>, _>>()?,
        _ => items(&list)?,
    };
    let mut out: indexmap::IndexMap<String, Value> = indexmap::IndexMap::new();
    for item in list {
        if item.kind() != ValueKind::Map {
            return Err(invalid("list elements must be mappings"));
        }
        let k = item.get_item(&key)?;
        if k.is_undefined() {
            return Err(invalid(format!("key {key} was not found")));
        }
        let k = k.to_string();
        if duplicates == "error" && out.contains_key(&k) {
            return Err(invalid(format!(
                "key {k} is not unique, cannot correctly turn into dict"
            )));
        }
        out.insert(k, item);
    }
    Ok(Value::from_iter(out))
}

/// `value | type_debug`: the Python type name Ansible prints.
fn type_debug(v: Value) -> &'static str {
    match v.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if v.as_i64().is_some() && !v.to_string().contains('.') => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

//! A task's loop on one host: checks a rendered `loop:` value is a list (the `with_*` loops
//! are lookups, `crate::lookup`), and gives each item its variables (`item` or `loop_var`,
//! `index_var`, `ansible_loop`). Renders nothing itself and runs nothing.

use crate::playbook::loops::LoopControl;
use serde_json::{Map, Value, json};

/// The items of a `loop:` whose value rendered to `value` (`with_*` loops are lookups:
/// `crate::lookup`).
pub fn items(value: Value) -> Result<Vec<Value>, String> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(Vec::new()),
        other => Err(format!(
            "The `loop` value must resolve to a 'list', not {}; to loop over a mapping write `{{{{ x | dict2items }}}}`",
            python_type_name(&other)
        )),
    }
}

fn python_type_name(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "'str'",
        Value::Number(n) if n.is_f64() => "'float'",
        Value::Number(_) => "'int'",
        Value::Bool(_) => "'bool'",
        Value::Object(_) => "'dict'",
        Value::Array(_) => "'list'",
        Value::Null => "'NoneType'",
    }
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

    #[test]
    fn a_loop_takes_a_list() {
        assert_eq!(items(json!([1, [2]])).unwrap(), vec![json!(1), json!([2])]);
        assert!(items(Value::Null).unwrap().is_empty());
        let err = items(json!("a")).unwrap_err();
        assert!(err.contains("must resolve to a 'list', not 'str'"), "{err}");
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

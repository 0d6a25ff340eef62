//! Renders a task's execution keywords on one host: whom its commands run as (`become`),
//! what they find in their environment, whether it runs in check mode, and whether its
//! output may be shown (`no_log`). The transport applies the first two; the engine the rest.

use crate::playbook::{Node, Task};
use crate::template::{Templates, truthy};
use crate::transport::{BecomeDefaults, BecomeMethod, Escalation};
use serde_json::Value;

/// Ansible's replacement for a `no_log` task's result.
pub(super) const CENSORED: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

fn render(
    templates: &Templates,
    node: &Node,
    ctx: &minijinja::Value,
    task: &Task,
) -> Result<Value, String> {
    templates
        .render_node(node, ctx, &task.source)
        .map_err(|e| e.to_string())
}

fn flag(
    templates: &Templates,
    node: Option<&Node>,
    ctx: &minijinja::Value,
    task: &Task,
) -> Result<Option<bool>, String> {
    let Some(node) = node else {
        return Ok(None);
    };
    let value = render(templates, node, ctx, task)?;
    Ok(Some(truthy(&crate::template::from_json(&value))))
}

/// A host's connection variable (`ansible_become_user`, …) from the task context, when set.
fn connection_var(ctx: &minijinja::Value, name: &str) -> Option<minijinja::Value> {
    ctx.get_attr(name)
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_none())
}

/// `become` on this host. As in Ansible, connection variables (`ansible_become`,
/// `ansible_become_user`, `ansible_become_method`, `ansible_become_password`) beat the
/// task's keywords, which beat the run's defaults (`-b`, `--become-user`, …).
pub(super) fn escalation(
    templates: &Templates,
    task: &Task,
    ctx: &minijinja::Value,
    defaults: &BecomeDefaults,
) -> Result<Option<Escalation>, String> {
    let exec = &task.exec;
    let enabled = match connection_var(ctx, "ansible_become") {
        Some(value) => truthy(&crate::template::from_json(
            &serde_json::to_value(&value).unwrap_or_default(),
        )),
        None => flag(templates, exec.escalate.as_ref(), ctx, task)?.unwrap_or(defaults.enabled),
    };
    if !enabled {
        return Ok(None);
    }
    let user = match (
        connection_var(ctx, "ansible_become_user"),
        &exec.become_user,
    ) {
        (Some(value), _) if !value.to_string().trim().is_empty() => value.to_string(),
        (_, Some(node)) => match render(templates, node, ctx, task)? {
            Value::String(s) if !s.trim().is_empty() => s,
            Value::Number(n) => n.to_string(),
            other => {
                return Err(format!(
                    "{}: `become_user` must be a user name, got {other}",
                    task.source.location(node.span)
                ));
            }
        },
        (_, None) => defaults.user.clone(),
    };
    let method = match (
        connection_var(ctx, "ansible_become_method"),
        &exec.become_method,
    ) {
        (Some(value), _) => {
            let name = value.to_string();
            BecomeMethod::parse(&name).ok_or_else(|| {
                format!("ansible_become_method `{name}` is not supported by drover (sudo, su)")
            })?
        }
        (None, Some(node)) => {
            let value = render(templates, node, ctx, task)?;
            let name = value.as_str().unwrap_or_default();
            BecomeMethod::parse(name).ok_or_else(|| {
                format!(
                    "{}: become_method `{name}` is not supported by drover (sudo, su)",
                    task.source.location(node.span)
                )
            })?
        }
        (None, None) => defaults.method,
    };
    let password = ["ansible_become_password", "ansible_become_pass"]
        .iter()
        .find_map(|name| connection_var(ctx, name))
        .map(|value| crate::transport::BecomePassword::new(value.to_string()))
        .or_else(|| defaults.password.clone());
    Ok(Some(Escalation {
        method,
        user,
        password,
    }))
}

/// `environment` on this host: the mappings of the play, blocks and task merged, inner keys
/// winning; values rendered and turned into strings as Ansible does. As in Ansible, a value
/// that renders to `omit` is left out, as is an item that is a template giving `omit`, and a
/// value that needs the `ansible_env` fact before facts are gathered.
pub(super) fn environment(
    templates: &Templates,
    task: &Task,
    ctx: &minijinja::Value,
) -> Result<Vec<(String, String)>, String> {
    let mut merged: Vec<(String, String)> = Vec::new();
    let mut put = |name: String, value: Value, node: &Node, source: &crate::playbook::Source| {
        if !is_env_name(&name) {
            return Err(format!(
                "{}: `{name}` is not a valid environment variable name",
                source.location(node.span)
            ));
        }
        let text = match value {
            Value::String(s) => s,
            Value::Null => String::new(),
            Value::Bool(b) => if b { "True" } else { "False" }.to_string(),
            other => other.to_string(),
        };
        merged.retain(|(k, _)| *k != name);
        merged.push((name, text));
        Ok(())
    };
    for (node, source) in &task.exec.environment {
        if let Some(entries) = node.as_map() {
            for (key, value) in entries {
                let value = match templates.render_node(value, ctx, source) {
                    Ok(value) => value,
                    Err(err) if needs_env_fact(&err.to_string()) => continue,
                    Err(err) => return Err(err.to_string()),
                };
                if value.as_str() == Some(crate::template::OMIT) {
                    continue;
                }
                put(key.name.clone(), value, node, source)?;
            }
            continue;
        }
        let value = templates
            .render_node(node, ctx, source)
            .map_err(|e| e.to_string())?;
        match value {
            Value::String(s) if s == crate::template::OMIT => {}
            Value::Object(map) => {
                for (name, value) in map {
                    put(name, value, node, source)?;
                }
            }
            other => {
                return Err(format!(
                    "{}: `environment` must be a mapping, got {other}",
                    source.location(node.span)
                ));
            }
        }
    }
    Ok(merged)
}

/// An undefined-variable error about the `ansible_env` fact: Ansible skips such an
/// environment value (facts are not gathered yet).
fn needs_env_fact(message: &str) -> bool {
    message.contains("undefined") && message.contains("ansible_env")
}

/// An exportable environment variable name: the same rule as a variable name.
fn is_env_name(name: &str) -> bool {
    crate::playbook::is_identifier(name)
}

/// `check_mode:` on the task, else the run's `--check`.
pub(super) fn check_mode(
    templates: &Templates,
    task: &Task,
    ctx: &minijinja::Value,
    run_check: bool,
) -> Result<bool, String> {
    Ok(flag(templates, task.exec.check_mode.as_ref(), ctx, task)?.unwrap_or(run_check))
}

/// `diff:` on the task (or its blocks and play), else the run's `--diff`.
pub(super) fn diff_mode(
    templates: &Templates,
    task: &Task,
    ctx: &minijinja::Value,
    run_diff: bool,
) -> Result<bool, String> {
    Ok(flag(templates, task.exec.diff.as_ref(), ctx, task)?.unwrap_or(run_diff))
}

/// `no_log:` on the task (or its blocks and play).
pub(super) fn no_log(templates: &Templates, task: &Task, ctx: &minijinja::Value) -> bool {
    // A no_log that cannot be rendered hides: showing a secret is the worse mistake.
    flag(templates, task.exec.no_log.as_ref(), ctx, task).unwrap_or(Some(true)) == Some(true)
}

#[cfg(test)]
mod tests {
    use super::is_env_name;

    #[test]
    fn environment_names_are_shell_identifiers() {
        assert!(is_env_name("PATH"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name("1X"));
        assert!(!is_env_name("A-B"));
        assert!(!is_env_name("A;rm"));
        assert!(!is_env_name(""));
    }
}

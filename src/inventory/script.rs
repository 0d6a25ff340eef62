//! Executable inventory scripts, read as Ansible's `script` inventory plugin reads them:
//! `SCRIPT --list` prints JSON groups (`{"hosts": [...], "vars": {...}, "children": [...]}`, a
//! bare list of hosts, or a mapping that is a host's own vars) and `_meta.hostvars`; without
//! `_meta`, each host's vars come from `SCRIPT --host HOST`.

use super::InventoryError;
use super::build::Builder;
use super::error::SourceFile;
use miette::SourceSpan;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Whether `path` is a file Ansible would run as an inventory script.
pub(crate) fn is_script(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

pub(crate) fn read(builder: Builder, path: &Path) -> Result<Builder, InventoryError> {
    let text = run(path, &["--list"])?;
    let mut builder = builder.next_source(SourceFile {
        name: format!("{} --list", path.display()),
        text,
    });
    let root: Value = parse_json(&builder.source, path, "--list")?;
    let Value::Object(groups) = root else {
        return Err(script_error(
            path,
            "--list",
            "the output must be a JSON object of groups",
        ));
    };
    let mut hosts: Vec<String> = Vec::new();
    let mut meta: Option<Value> = None;
    for (name, data) in &groups {
        if name == "_meta" {
            meta = data.get("hostvars").cloned();
            continue;
        }
        group(&mut builder, path, name, data, &mut hosts)?;
    }
    for host in &hosts {
        let vars = match &meta {
            Some(Value::Object(hostvars)) => hostvars.get(host).cloned().unwrap_or(Value::Null),
            Some(_) => {
                return Err(script_error(
                    path,
                    "--list",
                    "`_meta.hostvars` must be an object of host names",
                ));
            }
            None => {
                let text = run(path, &["--host", host])?;
                let source = SourceFile {
                    name: format!("{} --host {host}", path.display()),
                    text,
                };
                parse_json(&source, path, "--host")?
            }
        };
        match vars {
            Value::Null => {}
            Value::Object(vars) => {
                for (k, v) in vars {
                    builder.set_host_var(host, &k, v);
                }
            }
            _ => {
                return Err(script_error(
                    path,
                    "--host",
                    &format!("the variables of host `{host}` must be a JSON object"),
                ));
            }
        }
    }
    Ok(builder)
}

/// Ansible's `_parse_group`.
fn group(
    builder: &mut Builder,
    path: &Path,
    name: &str,
    data: &Value,
    hosts: &mut Vec<String>,
) -> Result<(), InventoryError> {
    builder.add_group(name);
    let (members, vars, children) = match data {
        Value::Object(map)
            if map.contains_key("hosts")
                || map.contains_key("vars")
                || map.contains_key("children") =>
        {
            (map.get("hosts"), map.get("vars"), map.get("children"))
        }
        // A mapping without those keys is the vars of a host named like the group.
        Value::Object(_) => {
            add_host(builder, name, name, hosts);
            (None, Some(data), None)
        }
        other => (Some(other), None, None),
    };
    match members {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for host in list {
                let host = scalar_text(host);
                add_host(builder, &host, name, hosts);
            }
        }
        Some(_) => {
            return Err(script_error(
                path,
                "--list",
                &format!("`hosts` of group `{name}` must be a list"),
            ));
        }
    }
    if let Some(Value::Object(vars)) = vars {
        for (k, v) in vars {
            builder.set_group_var(name, k, v.clone());
        }
    }
    if let Some(Value::Array(children)) = children {
        for child in children {
            let child = scalar_text(child);
            builder.add_child(name, &child, SourceSpan::new(0.into(), 0))?;
        }
    }
    Ok(())
}

fn add_host(builder: &mut Builder, host: &str, group: &str, hosts: &mut Vec<String>) {
    builder.add_host(host, group, None);
    if !hosts.iter().any(|h| h == host) {
        hosts.push(host.to_string());
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn run(path: &Path, args: &[&str]) -> Result<String, InventoryError> {
    let what = args.join(" ");
    let output = Command::new(path)
        .args(args)
        .output()
        .map_err(|err| script_error(path, &what, &format!("cannot run it: {err}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(script_error(
            path,
            &what,
            &format!("it exited with {}: {}", output.status, stderr.trim()),
        ));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| script_error(path, &what, "its output is not UTF-8"))
}

fn parse_json(source: &SourceFile, path: &Path, what: &str) -> Result<Value, InventoryError> {
    if source.text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(&source.text).map_err(|err| InventoryError::ScriptJson {
        script: path.to_path_buf(),
        args: what.to_string(),
        message: err.to_string(),
        src: source.named(),
        span: SourceSpan::new(
            source
                .offset_of(err.line() as u64, err.column() as u64)
                .into(),
            1,
        ),
    })
}

fn script_error(path: &Path, what: &str, message: &str) -> InventoryError {
    InventoryError::Script {
        script: path.to_path_buf(),
        args: what.to_string(),
        message: message.to_string(),
    }
}

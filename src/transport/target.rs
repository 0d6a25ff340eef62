//! Resolves a host's connection variables (Ansible's `ansible_host`, `ansible_port`,
//! `ansible_user`, `ansible_ssh_private_key_file` and drover's `drover_*` aliases) into a
//! [`Target`]. Only reads variables and the local user/home; connects to nothing.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::Value;

use super::{Target, TransportError};

// Earlier names win: drover's own, then Ansible's current, then Ansible's legacy names.
const HOST_VARS: &[&str] = &["drover_host", "ansible_host", "ansible_ssh_host"];
const PORT_VARS: &[&str] = &["drover_port", "ansible_port", "ansible_ssh_port"];
const USER_VARS: &[&str] = &["drover_user", "ansible_user", "ansible_ssh_user"];
const KEY_VARS: &[&str] = &[
    "drover_private_key_file",
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
];
const KNOWN_HOSTS_VARS: &[&str] = &["drover_known_hosts_file"];

/// How a host is reached, from `ansible_connection`: SSH (the default; `smart` and
/// `paramiko` mean the same here) or the control machine itself (`local`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Ssh,
    Local,
}

impl Reach {
    pub fn from_vars(host: &str, vars: &IndexMap<String, Value>) -> Result<Reach, TransportError> {
        match vars.get("ansible_connection").and_then(Value::as_str) {
            None | Some("ssh" | "smart" | "paramiko" | "ansible.builtin.ssh") => Ok(Reach::Ssh),
            Some("local" | "ansible.builtin.local") => Ok(Reach::Local),
            Some(kind) => Err(TransportError::ConnectionType {
                host: host.to_string(),
                kind: kind.to_string(),
            }),
        }
    }
}

impl Target {
    /// Resolves `host`'s connection from its inventory variables; unset ones take OpenSSH's
    /// defaults (the inventory name, port 22, the local user).
    pub fn from_vars(host: &str, vars: &IndexMap<String, Value>) -> Result<Target, TransportError> {
        let address = match string_var(host, vars, HOST_VARS)? {
            Some(address) if !address.is_empty() => address,
            Some(_) => {
                return Err(bad(host, first_set(vars, HOST_VARS), "must not be empty"));
            }
            None => host.to_string(),
        };
        let port = port_var(host, vars)?.unwrap_or(22);
        let user = match string_var(host, vars, USER_VARS)? {
            Some(user) if !user.is_empty() => user,
            Some(_) => return Err(bad(host, first_set(vars, USER_VARS), "must not be empty")),
            None => local_user().ok_or_else(|| {
                bad(
                    host,
                    "ansible_user",
                    "not set, and the local user name is unknown ($USER unset)",
                )
            })?,
        };
        let identity_files = string_var(host, vars, KEY_VARS)?
            .filter(|path| !path.is_empty())
            .map(|path| vec![expand_tilde(&path)])
            .unwrap_or_default();
        let known_hosts = string_var(host, vars, KNOWN_HOSTS_VARS)?
            .filter(|path| !path.is_empty())
            .map(|path| expand_tilde(&path));
        Ok(Target {
            host: host.to_string(),
            address,
            port,
            user,
            identity_files,
            known_hosts,
        })
    }
}

fn first_set<'a>(vars: &IndexMap<String, Value>, names: &[&'a str]) -> &'a str {
    names
        .iter()
        .find(|name| vars.get(**name).is_some_and(|v| !v.is_null()))
        .copied()
        .unwrap_or(names[0])
}

fn bad(host: &str, variable: &str, reason: impl Into<String>) -> TransportError {
    TransportError::Variable {
        host: host.to_string(),
        variable: variable.to_string(),
        reason: reason.into(),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// The first set variable among `names` as a string; numbers are accepted for host names
/// because YAML reads `ansible_host: 10` style values as numbers.
fn string_var(
    host: &str,
    vars: &IndexMap<String, Value>,
    names: &[&str],
) -> Result<Option<String>, TransportError> {
    for name in names {
        match vars.get(*name) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => return Ok(Some(s.trim().to_string())),
            Some(Value::Number(n)) => return Ok(Some(n.to_string())),
            Some(other) => {
                return Err(bad(
                    host,
                    name,
                    format!("expected a string, found {}", type_name(other)),
                ));
            }
        }
    }
    Ok(None)
}

fn port_var(host: &str, vars: &IndexMap<String, Value>) -> Result<Option<u16>, TransportError> {
    for name in PORT_VARS {
        let parsed = match vars.get(*name) {
            None | Some(Value::Null) => continue,
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            Some(other) => {
                return Err(bad(
                    host,
                    name,
                    format!("expected a port number, found {}", type_name(other)),
                ));
            }
        };
        return match parsed {
            Some(port @ 1..=65535) => Ok(Some(port as u16)),
            _ => Err(bad(
                host,
                name,
                format!(
                    "expected a port number 1-65535, found {}",
                    vars.get(*name).map(|v| v.to_string()).unwrap_or_default()
                ),
            )),
        };
    }
    Ok(None)
}

/// `~` and `~/…` become the home directory; `~user` is left alone (rare in inventories).
pub(crate) fn expand_tilde(path: &str) -> PathBuf {
    if path == "~" {
        if let Some(home) = home_dir() {
            return home;
        }
    } else if let Some(rest) = path.strip_prefix("~/")
        && let Some(home) = home_dir()
    {
        return home.join(rest);
    }
    PathBuf::from(path)
}

pub(crate) fn home_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(home));
    }
    passwd_entry().map(|(_, home)| PathBuf::from(home))
}

pub(crate) fn local_user() -> Option<String> {
    for var in ["USER", "LOGNAME"] {
        if let Ok(user) = std::env::var(var)
            && !user.is_empty()
        {
            return Some(user);
        }
    }
    passwd_entry().map(|(user, _)| user)
}

/// The current user's name and home from /etc/passwd, found by the uid owning this process
/// (containers and cron often leave $USER unset).
fn passwd_entry() -> Option<(String, String)> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata(Path::new("/proc/self")).ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.as_slice() {
            [name, _, id, _, _, home, ..] if id.parse::<u32>().ok() == Some(uid) => {
                Some((name.to_string(), home.to_string()))
            }
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(value: Value) -> IndexMap<String, Value> {
        match value {
            Value::Object(map) => map.into_iter().collect(),
            _ => IndexMap::new(),
        }
    }

    #[test]
    fn defaults_to_inventory_name_port_22() {
        let target = Target::from_vars("web1", &vars(json!({"ansible_user": "deploy"})));
        let target = target.map_err(|e| e.to_string());
        assert_eq!(
            target,
            Ok(Target {
                host: "web1".into(),
                address: "web1".into(),
                port: 22,
                user: "deploy".into(),
                identity_files: vec![],
                known_hosts: None,
            })
        );
    }

    #[test]
    fn ansible_vars_resolve_with_numeric_string_port_and_tilde() {
        let home = home_dir().unwrap_or_default();
        let target = Target::from_vars(
            "db",
            &vars(json!({
                "ansible_host": "10.0.0.5",
                "ansible_port": "2222",
                "ansible_user": "admin",
                "ansible_ssh_private_key_file": "~/.ssh/fleet",
            })),
        )
        .map_err(|e| e.to_string());
        let target = target.as_ref();
        assert_eq!(target.map(|t| t.address.as_str()), Ok("10.0.0.5"));
        assert_eq!(target.map(|t| t.port), Ok(2222));
        assert_eq!(
            target.map(|t| t.identity_files.clone()),
            Ok(vec![home.join(".ssh/fleet")])
        );
    }

    #[test]
    fn drover_aliases_win_over_ansible_names() {
        let target = Target::from_vars(
            "db",
            &vars(json!({
                "ansible_host": "10.0.0.5",
                "drover_host": "127.0.1.9",
                "drover_port": 23001,
                "drover_user": "ops",
                "drover_known_hosts_file": "/tmp/kh",
            })),
        )
        .map_err(|e| e.to_string());
        let target = target.as_ref();
        assert_eq!(target.map(|t| t.address.as_str()), Ok("127.0.1.9"));
        assert_eq!(target.map(|t| t.port), Ok(23001));
        assert_eq!(target.map(|t| t.user.as_str()), Ok("ops"));
        assert_eq!(
            target.map(|t| t.known_hosts.clone()),
            Ok(Some(PathBuf::from("/tmp/kh")))
        );
    }

    #[test]
    fn bad_types_name_host_and_variable() {
        let cases = [
            (json!({"ansible_port": "ssh"}), "ansible_port"),
            (json!({"ansible_port": 70000}), "ansible_port"),
            (json!({"ansible_port": true}), "ansible_port"),
            (json!({"ansible_host": ["a"]}), "ansible_host"),
            (json!({"ansible_user": {"x": 1}}), "ansible_user"),
            (
                json!({"ansible_ssh_private_key_file": false}),
                "ansible_ssh_private_key_file",
            ),
        ];
        for (input, variable) in cases {
            match Target::from_vars("node7", &vars(input.clone())) {
                Err(e @ TransportError::Variable { .. }) => {
                    let message = e.to_string();
                    assert!(message.starts_with("node7: "), "{message}");
                    assert!(message.contains(variable), "{message}");
                }
                other => panic!("{input}: expected a variable error, got {other:?}"),
            }
        }
    }

    #[test]
    fn local_user_is_found_without_env() {
        // $USER is unset on the build machines; /etc/passwd must answer.
        assert!(local_user().is_some());
    }
}

//! `ansible.cfg`, found and read as Ansible does: the first of `$ANSIBLE_CONFIG` (a file, or a
//! directory holding `ansible.cfg`), `./ansible.cfg` (not in a world-writable directory),
//! `~/.ansible.cfg`, `/etc/ansible/ansible.cfg`; INI as Python's configparser reads it
//! (`key = value` or `key: value`, `#`/`;` comment lines, `;` inline comments, indented
//! continuation lines, section and key names case-insensitive for keys, duplicates an error),
//! and the `ANSIBLE_*` environment variables over the file.
//!
//! [`AnsibleConfig::get`] gives any key of any section (vault settings, callbacks…), for
//! whoever needs it; [`AnsibleConfig::settings`] the ones drover acts on, typed. Owns reading
//! only: what a setting does is decided by the caller.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use miette::{NamedSource, SourceSpan};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AnsibleCfgError {
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("here")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },
    #[error("cannot read {}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error("{origin}: {key} = `{value}`: {reason}")]
    Value {
        origin: String,
        key: String,
        value: String,
        reason: String,
    },
}

/// One value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub value: String,
    pub line: usize,
}

/// A parsed ansible.cfg (or none: every getter then answers from the environment only).
#[derive(Debug, Clone, Default)]
pub struct AnsibleConfig {
    /// The file read, if one was found.
    pub path: Option<PathBuf>,
    sections: IndexMap<String, IndexMap<String, Entry>>,
}

/// Where to look, so tests can point the search elsewhere.
#[derive(Debug, Clone)]
pub struct Search {
    pub env_config: Option<PathBuf>,
    pub cwd: PathBuf,
    pub home: Option<PathBuf>,
    pub system: PathBuf,
}

impl Search {
    /// The process's own environment, working directory and home.
    pub fn current() -> Search {
        Search {
            env_config: std::env::var_os("ANSIBLE_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            home: Some(crate::transport::ssh_config::Local::current().home),
            system: PathBuf::from("/etc/ansible/ansible.cfg"),
        }
    }

    /// The file Ansible would read, if any.
    pub fn find(&self) -> Option<PathBuf> {
        if let Some(path) = &self.env_config {
            let path = if path.is_dir() {
                path.join("ansible.cfg")
            } else {
                path.clone()
            };
            if path.is_file() {
                return Some(path);
            }
        }
        let local = self.cwd.join("ansible.cfg");
        if local.is_file() && !world_writable(&self.cwd) {
            return Some(local);
        }
        if let Some(home) = &self.home {
            let user = home.join(".ansible.cfg");
            if user.is_file() {
                return Some(user);
            }
        }
        self.system.is_file().then(|| self.system.clone())
    }
}

/// Ansible ignores ./ansible.cfg in a world-writable directory (anyone could plant one).
fn world_writable(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o002 != 0)
}

impl AnsibleConfig {
    /// Finds and reads the file Ansible would read (none found: an empty config).
    pub fn load(search: &Search) -> Result<AnsibleConfig, AnsibleCfgError> {
        let Some(path) = search.find() else {
            return Ok(AnsibleConfig::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|e| AnsibleCfgError::Io {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        AnsibleConfig::parse(&path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<AnsibleConfig, AnsibleCfgError> {
        let source = Arc::new(NamedSource::new(
            path.display().to_string(),
            text.to_string(),
        ));
        let mut sections: IndexMap<String, IndexMap<String, Entry>> = IndexMap::new();
        let mut current: Option<String> = None;
        let mut last_key: Option<String> = None;
        let mut offset = 0;
        for (index, raw) in text.split_inclusive('\n').enumerate() {
            let start = offset;
            offset += raw.len();
            let line = raw.trim_end_matches(['\n', '\r']);
            let number = index + 1;
            let bad = |message: String, help: &str| AnsibleCfgError::Syntax {
                path: path.to_path_buf(),
                line: number,
                message,
                src: source.clone(),
                span: SourceSpan::new(start.into(), line.len().max(1)),
                help: Some(help.to_string()),
            };
            let trimmed = line.trim();
            if trimmed.is_empty() {
                // configparser keeps blank lines inside multi-line values only when indented
                // text follows; a blank line ends nothing here either way.
                continue;
            }
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            let indented = line.starts_with([' ', '\t']);
            if indented && let (Some(section), Some(key)) = (&current, &last_key) {
                let entry = sections
                    .get_mut(section)
                    .and_then(|s| s.get_mut(key))
                    .ok_or_else(|| bad("continuation without a key".into(), ""))?;
                entry.value.push('\n');
                entry.value.push_str(strip_inline_comment(trimmed));
                continue;
            }
            if let Some(name) = trimmed.strip_prefix('[') {
                let Some(name) = name.strip_suffix(']') else {
                    return Err(bad(
                        format!("section header `{trimmed}` is not closed"),
                        "write `[section]`",
                    ));
                };
                if sections.contains_key(name) {
                    return Err(bad(
                        format!("section [{name}] appears twice"),
                        "merge the two sections (Python's configparser refuses duplicates too)",
                    ));
                }
                sections.insert(name.to_string(), IndexMap::new());
                current = Some(name.to_string());
                last_key = None;
                continue;
            }
            let Some(section) = &current else {
                return Err(bad(
                    "a setting before any [section] header".into(),
                    "put it under [defaults] (or the section it belongs to)",
                ));
            };
            let split = trimmed.find(['=', ':']);
            let (key, value) = match split {
                Some(at) => (trimmed[..at].trim(), trimmed[at + 1..].trim()),
                None => {
                    return Err(bad(
                        format!("`{trimmed}` is not `key = value`"),
                        "write `key = value`",
                    ));
                }
            };
            if key.is_empty() {
                return Err(bad("a value without a key".into(), "write `key = value`"));
            }
            let key = key.to_ascii_lowercase();
            let entries = sections.entry(section.clone()).or_default();
            if entries.contains_key(&key) {
                return Err(bad(
                    format!("`{key}` is set twice in [{section}]"),
                    "keep one (Python's configparser refuses duplicates too)",
                ));
            }
            entries.insert(
                key.clone(),
                Entry {
                    value: strip_inline_comment(value).to_string(),
                    line: number,
                },
            );
            last_key = Some(key);
        }
        Ok(AnsibleConfig {
            path: Some(path.to_path_buf()),
            sections,
        })
    }

    /// Any key of any section as written in the file (no environment override).
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.entry(section, key).map(|e| e.value.as_str())
    }

    pub fn entry(&self, section: &str, key: &str) -> Option<&Entry> {
        self.sections
            .get(section)
            .and_then(|s| s.get(&key.to_ascii_lowercase()))
    }

    /// `section`'s keys in file order.
    pub fn keys(&self, section: &str) -> Vec<&str> {
        self.sections
            .get(section)
            .map(|s| s.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The directory relative paths in the file are resolved against.
    fn base(&self) -> PathBuf {
        self.path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// `ANSIBLE_<NAME>` from `env`, else the file's `section.key`, with where it came from.
    fn lookup(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        var: &str,
        section: &str,
        key: &str,
    ) -> Option<(String, String)> {
        if let Some(value) = env(var).filter(|v| !v.is_empty()) {
            return Some((value, var.to_string()));
        }
        self.entry(section, key).map(|e| {
            let origin = format!(
                "{}:{} [{section}] {key}",
                self.path
                    .as_deref()
                    .unwrap_or(Path::new("ansible.cfg"))
                    .display(),
                e.line
            );
            (e.value.clone(), origin)
        })
    }

    /// The settings drover acts on, from the process environment and the file.
    pub fn settings(&self) -> Result<Settings, AnsibleCfgError> {
        self.settings_with(&|name| std::env::var(name).ok())
    }

    pub fn settings_with(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, AnsibleCfgError> {
        let home = crate::transport::ssh_config::Local::current();
        let base = self.base();
        let path = |value: &str, from_env: bool| -> PathBuf {
            let expanded = home.expand_tilde(value.trim());
            // Relative paths in the file are relative to the file (Ansible's `path` type);
            // in the environment, to the working directory.
            if expanded.is_relative() && !from_env {
                base.join(expanded)
            } else {
                expanded
            }
        };
        let get = |var: &str, section: &str, key: &str| self.lookup(env, var, section, key);
        let boolean =
            |var: &str, section: &str, key: &str| -> Result<Option<bool>, AnsibleCfgError> {
                get(var, section, key)
                    .map(|(value, origin)| {
                        parse_bool(&value).ok_or_else(|| AnsibleCfgError::Value {
                            origin,
                            key: key.to_string(),
                            value: value.clone(),
                            reason: "expected a boolean (yes/no, true/false, on/off, 1/0)".into(),
                        })
                    })
                    .transpose()
            };
        let number =
            |var: &str, section: &str, key: &str| -> Result<Option<u64>, AnsibleCfgError> {
                get(var, section, key)
                    .map(|(value, origin)| {
                        value
                            .trim()
                            .parse::<u64>()
                            .map_err(|_| AnsibleCfgError::Value {
                                origin,
                                key: key.to_string(),
                                value: value.clone(),
                                reason: "expected a whole number".into(),
                            })
                    })
                    .transpose()
            };
        let text = |var: &str, section: &str, key: &str| get(var, section, key).map(|(v, _)| v);
        let from_env = |var: &str| env(var).is_some_and(|v| !v.is_empty());

        let inventory = get("ANSIBLE_INVENTORY", "defaults", "inventory")
            .map(|(value, _)| {
                let env_set = from_env("ANSIBLE_INVENTORY");
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|item| path(item, env_set))
                    .collect()
            })
            .unwrap_or_default();
        let roles_path = text("ANSIBLE_ROLES_PATH", "defaults", "roles_path")
            .map(|value| {
                let env_set = from_env("ANSIBLE_ROLES_PATH");
                value
                    .split(':')
                    .filter(|s| !s.trim().is_empty())
                    .map(|p| path(p, env_set))
                    .collect()
            })
            .unwrap_or_default();
        let forks = number("ANSIBLE_FORKS", "defaults", "forks")?;
        if forks == Some(0) {
            return Err(AnsibleCfgError::Value {
                origin: "forks".into(),
                key: "forks".into(),
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        let remote_port = match number("ANSIBLE_REMOTE_PORT", "defaults", "remote_port")? {
            Some(port @ 1..=65535) => Some(port as u16),
            Some(other) => {
                return Err(AnsibleCfgError::Value {
                    origin: "remote_port".into(),
                    key: "remote_port".into(),
                    value: other.to_string(),
                    reason: "not a port number".into(),
                });
            }
            None => None,
        };
        Ok(Settings {
            inventory,
            remote_user: text("ANSIBLE_REMOTE_USER", "defaults", "remote_user"),
            remote_port,
            private_key_file: text("ANSIBLE_PRIVATE_KEY_FILE", "defaults", "private_key_file")
                .map(|p| path(&p, from_env("ANSIBLE_PRIVATE_KEY_FILE"))),
            forks,
            roles_path,
            host_key_checking: boolean(
                "ANSIBLE_HOST_KEY_CHECKING",
                "defaults",
                "host_key_checking",
            )?,
            timeout: number("ANSIBLE_TIMEOUT", "defaults", "timeout")?,
            force_handlers: boolean("ANSIBLE_FORCE_HANDLERS", "defaults", "force_handlers")?,
            r#become: boolean("ANSIBLE_BECOME", "privilege_escalation", "become")?,
            become_user: text("ANSIBLE_BECOME_USER", "privilege_escalation", "become_user"),
            become_method: text(
                "ANSIBLE_BECOME_METHOD",
                "privilege_escalation",
                "become_method",
            ),
            become_ask_pass: boolean(
                "ANSIBLE_BECOME_ASK_PASS",
                "privilege_escalation",
                "become_ask_pass",
            )?,
            ask_pass: boolean("ANSIBLE_ASK_PASS", "defaults", "ask_pass")?,
            ssh_args: text("ANSIBLE_SSH_ARGS", "ssh_connection", "ssh_args"),
            ssh_common_args: text(
                "ANSIBLE_SSH_COMMON_ARGS",
                "ssh_connection",
                "ssh_common_args",
            ),
            ssh_extra_args: text("ANSIBLE_SSH_EXTRA_ARGS", "ssh_connection", "ssh_extra_args"),
            vault_password_file: text(
                "ANSIBLE_VAULT_PASSWORD_FILE",
                "defaults",
                "vault_password_file",
            )
            .map(|v| {
                path(&v, from_env("ANSIBLE_VAULT_PASSWORD_FILE"))
                    .display()
                    .to_string()
            }),
            vault_identity_list: text(
                "ANSIBLE_VAULT_IDENTITY_LIST",
                "defaults",
                "vault_identity_list",
            )
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
            unhonoured: self.unhonoured(),
        })
    }

    /// Connection settings in the file that drover does not act on (warned about once).
    fn unhonoured(&self) -> Vec<String> {
        const HONOURED_SSH: &[&str] = &["ssh_args", "ssh_common_args", "ssh_extra_args"];
        // Harmless for drover: it multiplexes, transfers and retries its own way.
        const QUIET_SSH: &[&str] = &[
            "pipelining",
            "control_path",
            "control_path_dir",
            "scp_if_ssh",
            "transfer_method",
            "sftp_batch_mode",
            "retries",
            "usetty",
            "scp_extra_args",
            "sftp_extra_args",
        ];
        const WARNED_DEFAULTS: &[&str] = &["transport", "remote_tmp", "executable"];
        let file = self
            .path
            .as_deref()
            .unwrap_or(Path::new("ansible.cfg"))
            .display()
            .to_string();
        let mut out = Vec::new();
        if let Some(keys) = self.sections.get("ssh_connection") {
            for (key, entry) in keys {
                if !HONOURED_SSH.contains(&key.as_str()) && !QUIET_SSH.contains(&key.as_str()) {
                    out.push(format!(
                        "{file}:{}: [ssh_connection] {key} is not honoured by drover",
                        entry.line
                    ));
                }
            }
        }
        if let Some(keys) = self.sections.get("defaults") {
            for (key, entry) in keys {
                if WARNED_DEFAULTS.contains(&key.as_str()) {
                    out.push(format!(
                        "{file}:{}: [defaults] {key} is not honoured by drover",
                        entry.line
                    ));
                }
            }
        }
        if let Some(keys) = self.sections.get("paramiko_connection")
            && let Some((key, entry)) = keys.first()
        {
            out.push(format!(
                "{file}:{}: [paramiko_connection] {key}: drover connects with its own SSH client; paramiko settings do not apply",
                entry.line
            ));
        }
        out
    }
}

/// The settings drover acts on; `None`: not set anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Inventory sources (`inventory =`, `ANSIBLE_INVENTORY`: a path list, comma-separated).
    pub inventory: Vec<PathBuf>,
    pub remote_user: Option<String>,
    pub remote_port: Option<u16>,
    pub private_key_file: Option<PathBuf>,
    pub forks: Option<u64>,
    pub roles_path: Vec<PathBuf>,
    pub host_key_checking: Option<bool>,
    pub timeout: Option<u64>,
    /// `[defaults] force_handlers`, `ANSIBLE_FORCE_HANDLERS`.
    pub force_handlers: Option<bool>,
    pub r#become: Option<bool>,
    pub become_user: Option<String>,
    pub become_method: Option<String>,
    pub become_ask_pass: Option<bool>,
    pub ask_pass: Option<bool>,
    pub ssh_args: Option<String>,
    pub ssh_common_args: Option<String>,
    pub ssh_extra_args: Option<String>,
    /// `[defaults] vault_password_file` (relative to the file), `ANSIBLE_VAULT_PASSWORD_FILE`.
    pub vault_password_file: Option<String>,
    /// `[defaults] vault_identity_list`, `ANSIBLE_VAULT_IDENTITY_LIST` (comma-separated).
    pub vault_identity_list: Vec<String>,
    /// Messages for connection settings the file sets that drover does not act on.
    pub unhonoured: Vec<String>,
}

/// configparser takes `;` after whitespace as the start of an inline comment (Ansible sets
/// `inline_comment_prefixes=(';',)`); `#` is part of the value.
fn strip_inline_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for i in 0..bytes.len() {
        if bytes[i] == b';' && (i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
            return value[..i].trim_end();
        }
    }
    value
}

/// Ansible's `boolean()`.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "t" | "on" | "1" => Some(true),
        "no" | "n" | "false" | "f" | "off" | "0" | "" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> AnsibleConfig {
        AnsibleConfig::parse(Path::new("/proj/ansible.cfg"), text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(text: &str) -> String {
        match AnsibleConfig::parse(Path::new("/proj/ansible.cfg"), text) {
            Ok(_) => panic!("expected an error for {text:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn reads_configparser_syntax() {
        let cfg = parse(
            "# comment\n; also\n[defaults]\nInventory = ./hosts.ini ; inline\nremote_user: deploy\nvault_identity_list = dev@~/.v\n  prod@prompt\n\n[ssh_connection]\nssh_args = -o ControlMaster=auto # kept\n",
        );
        assert_eq!(cfg.get("defaults", "inventory"), Some("./hosts.ini"));
        assert_eq!(cfg.get("defaults", "remote_user"), Some("deploy"));
        assert_eq!(
            cfg.get("defaults", "vault_identity_list"),
            Some("dev@~/.v\nprod@prompt")
        );
        assert_eq!(
            cfg.get("ssh_connection", "ssh_args"),
            Some("-o ControlMaster=auto # kept")
        );
        assert_eq!(
            cfg.entry("defaults", "remote_user").map(|e| e.line),
            Some(5)
        );
        assert_eq!(cfg.get("defaults", "missing"), None);
    }

    #[test]
    fn malformed_files_name_the_line() {
        assert!(error("remote_user = x\n").contains("ansible.cfg:1"));
        assert!(error("[defaults\n").contains("not closed"));
        assert!(error("[defaults]\nforks\n").contains("ansible.cfg:2"));
        assert!(error("[defaults]\na=1\na=2\n").contains("set twice"));
        assert!(error("[a]\n[a]\n").contains("appears twice"));
    }

    #[test]
    fn settings_resolve_paths_against_the_file_and_env_wins() {
        let cfg = parse(
            "[defaults]\ninventory = hosts.ini,other/\nremote_user = deploy\nprivate_key_file = keys/id\nforks = 7\nhost_key_checking = False\ntimeout = 20\nforce_handlers = yes\nroles_path = roles:/shared/roles\n[privilege_escalation]\nbecome = yes\nbecome_user = app\n[ssh_connection]\nssh_common_args = -o ProxyJump=bastion\npipelining = True\ncontrol_master = x\n",
        );
        let none = |_: &str| None;
        let s = cfg.settings_with(&none).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.inventory,
            vec![
                PathBuf::from("/proj/hosts.ini"),
                PathBuf::from("/proj/other/")
            ]
        );
        assert_eq!(s.private_key_file, Some(PathBuf::from("/proj/keys/id")));
        assert_eq!(s.forks, Some(7));
        assert_eq!(s.host_key_checking, Some(false));
        assert_eq!(s.timeout, Some(20));
        assert_eq!(s.force_handlers, Some(true));
        assert_eq!(s.r#become, Some(true));
        assert_eq!(s.become_user.as_deref(), Some("app"));
        assert_eq!(
            s.roles_path,
            vec![PathBuf::from("/proj/roles"), PathBuf::from("/shared/roles")]
        );
        assert_eq!(s.ssh_common_args.as_deref(), Some("-o ProxyJump=bastion"));
        assert_eq!(s.unhonoured.len(), 1, "{:?}", s.unhonoured);
        assert!(s.unhonoured[0].contains("control_master"));

        let env = |name: &str| match name {
            "ANSIBLE_REMOTE_USER" => Some("from-env".to_string()),
            "ANSIBLE_INVENTORY" => Some("a.ini,/etc/b.yml".to_string()),
            _ => None,
        };
        let s = cfg.settings_with(&env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.remote_user.as_deref(), Some("from-env"));
        assert_eq!(
            s.inventory,
            vec![PathBuf::from("a.ini"), PathBuf::from("/etc/b.yml")]
        );
    }

    #[test]
    fn bad_values_name_where_they_were_set() {
        let cfg = parse("[defaults]\nforks = many\n");
        let none = |_: &str| None;
        let err = cfg
            .settings_with(&none)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("/proj/ansible.cfg:2"), "{err}");
        assert!(err.contains("whole number"), "{err}");
    }

    #[test]
    fn search_order_is_ansibles() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cwd = dir.path().join("proj");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&cwd).unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(&home).unwrap_or_else(|e| panic!("{e}"));
        let search = Search {
            env_config: None,
            cwd: cwd.clone(),
            home: Some(home.clone()),
            system: dir.path().join("etc-ansible.cfg"),
        };
        assert_eq!(search.find(), None);
        std::fs::write(dir.path().join("etc-ansible.cfg"), "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(search.find(), Some(dir.path().join("etc-ansible.cfg")));
        std::fs::write(home.join(".ansible.cfg"), "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(search.find(), Some(home.join(".ansible.cfg")));
        std::fs::write(cwd.join("ansible.cfg"), "").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(search.find(), Some(cwd.join("ansible.cfg")));
        let named = dir.path().join("named.cfg");
        std::fs::write(&named, "").unwrap_or_else(|e| panic!("{e}"));
        let search = Search {
            env_config: Some(named.clone()),
            ..search
        };
        assert_eq!(search.find(), Some(named));
    }
}

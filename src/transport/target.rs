//! What to connect to, resolved ([`super::resolve`] does the resolving): [`Target`] and its
//! route (direct, through jump hosts, or through a proxy command), and [`Reach`], how a host
//! is reached at all (`ansible_connection`). Only data; connects to nothing.

use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;

use super::{HostKeyPolicy, TransportError};

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

/// A password (`ansible_password`, `-k`): never printed, compared by value only.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Also registered with the run's redactor: no sink prints it.
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        crate::sensitive::register(&value);
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// Which ssh-agent to ask for keys (`IdentityAgent`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Agent {
    /// `$SSH_AUTH_SOCK`, as read when the run started.
    #[default]
    Default,
    /// `IdentityAgent none`.
    Off,
    Socket(PathBuf),
}

/// How the SSH stream to a target is made.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Route {
    /// A TCP connection to `address:port`.
    #[default]
    Direct,
    /// A `direct-tcpip` channel through this jump host (whose own route may be a jump too).
    Jump(Box<Target>),
    /// A child process (`/bin/sh -c COMMAND`) whose stdin and stdout are the stream.
    Command(String),
}

/// Where and as whom to connect, resolved from inventory variables, the command line,
/// ansible.cfg and ssh_config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The inventory name (or the jump host's name), used in every message.
    pub host: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    pub identity_files: Vec<PathBuf>,
    /// Whether to try `~/.ssh/id_*` too (no identity file was configured: OpenSSH's rule).
    pub default_identities: bool,
    /// `IdentitiesOnly`: agent keys only when they are one of the identity files.
    pub identities_only: bool,
    pub certificate_files: Vec<PathBuf>,
    pub agent: Agent,
    /// User known_hosts files (`UserKnownHostsFile`); empty: the run's default. New keys
    /// (`accept-new`) go to the first.
    pub known_hosts: Vec<PathBuf>,
    /// Read after the user files (`GlobalKnownHostsFile`, `/etc/ssh/ssh_known_hosts`).
    pub global_known_hosts: Vec<PathBuf>,
    /// The name host keys are looked up under instead of the address (`HostKeyAlias`).
    pub host_key_alias: Option<String>,
    /// `StrictHostKeyChecking`; `None`: the run's default.
    pub host_key_policy: Option<HostKeyPolicy>,
    pub connect_timeout: Option<Duration>,
    /// `ServerAliveInterval` and `ServerAliveCountMax`.
    pub keepalive: Option<(Duration, u32)>,
    pub password: Option<Secret>,
    /// `PasswordAuthentication` (a password is tried only when allowed).
    pub password_authentication: bool,
    pub route: Route,
}

impl Target {
    /// A target on `address:port` as `user`, OpenSSH's defaults otherwise.
    pub fn new(host: &str, address: &str, port: u16, user: &str) -> Target {
        Target {
            host: host.to_string(),
            address: address.to_string(),
            port,
            user: user.to_string(),
            identity_files: Vec::new(),
            default_identities: true,
            identities_only: false,
            certificate_files: Vec::new(),
            agent: Agent::Default,
            known_hosts: Vec::new(),
            global_known_hosts: Vec::new(),
            host_key_alias: None,
            host_key_policy: None,
            connect_timeout: None,
            keepalive: None,
            password: None,
            password_authentication: true,
            route: Route::Direct,
        }
    }

    /// Resolves `host`'s connection from its inventory variables alone (no ssh_config, no
    /// command-line defaults); unset ones take OpenSSH's defaults.
    pub fn from_vars(host: &str, vars: &IndexMap<String, Value>) -> Result<Target, TransportError> {
        super::resolve::Resolver::plain()
            .target(host, vars)
            .map(|(target, _)| target)
    }

    /// `user@address:port`, and the hops before it, for messages.
    pub fn describe(&self) -> String {
        let me = format!("{}@{}:{}", self.user, self.address, self.port);
        match &self.route {
            Route::Direct => me,
            Route::Jump(hop) => format!("{me} via {}", hop.describe()),
            Route::Command(command) => format!("{me} via ProxyCommand `{command}`"),
        }
    }
}

/// The home directory for OpenSSH's default key paths: the password database's entry,
/// `$HOME` only when there is none (as ssh does).
pub(crate) fn home_dir() -> Option<PathBuf> {
    Some(super::ssh_config::Local::current().home)
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
        let mut expected = Target::new("web1", "web1", 22, "deploy");
        expected.global_known_hosts = vec![
            PathBuf::from("/etc/ssh/ssh_known_hosts"),
            PathBuf::from("/etc/ssh/ssh_known_hosts2"),
        ];
        expected.default_identities = true;
        assert_eq!(target, Ok(expected));
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
            Ok(vec![PathBuf::from("/tmp/kh")])
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
}

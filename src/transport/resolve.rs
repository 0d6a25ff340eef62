//! Where and how to connect to a host, the way Ansible's ssh connection plugin and OpenSSH
//! together decide it: the plugin puts the inventory's connection variables on ssh's command
//! line (`-o Port=`, `-o IdentityFile=`, `-o User=`, `-o ConnectTimeout=`, then
//! `ansible_ssh_common_args` and `ansible_ssh_extra_args`), and ssh takes the first value of
//! each option from its command line, then `~/.ssh/config`, then `/etc/ssh/ssh_config`.
//! Jump hosts are resolved the same way, from the ssh_config only (as `ssh -J` does).
//!
//! Reads variables and config files; connects to nothing. Settings drover cannot honour are
//! refused here when they change where or how it connects, and returned as notices otherwise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;

use super::ssh_config::{
    self, Disposition, Hop, HostConfig, Local, Options, Proxy, SshConfig, SshConfigError,
};
use super::{Agent, HostKeyPolicy, Route, Secret, Target, TransportError};

const HOST_VARS: &[&str] = &["drover_host", "ansible_host", "ansible_ssh_host"];
const PORT_VARS: &[&str] = &["drover_port", "ansible_port", "ansible_ssh_port"];
const USER_VARS: &[&str] = &["drover_user", "ansible_user", "ansible_ssh_user"];
const KEY_VARS: &[&str] = &[
    "drover_private_key_file",
    "ansible_ssh_private_key_file",
    "ansible_private_key_file",
];
const PASSWORD_VARS: &[&str] = &[
    "ansible_password",
    "ansible_ssh_pass",
    "ansible_ssh_password",
];
const TIMEOUT_VARS: &[&str] = &["ansible_ssh_timeout", "ansible_timeout"];
const HOST_KEY_CHECKING_VARS: &[&str] =
    &["ansible_ssh_host_key_checking", "ansible_host_key_checking"];

/// Connection variables Ansible knows that drover does not act on: harmless ones are quiet,
/// the others are warned about (none of them changes where drover connects).
const QUIET_VARS: &[&str] = &[
    "ansible_ssh_pipelining",
    "ansible_pipelining",
    "ansible_ssh_retries",
    "ansible_control_path",
    "ansible_control_path_dir",
    "ansible_ssh_transfer_method",
    "ansible_scp_if_ssh",
    "ansible_sftp_batch_mode",
    "ansible_scp_extra_args",
    "ansible_sftp_extra_args",
    "ansible_ssh_use_tty",
];
const WARNED_VARS: &[&str] = &[
    "ansible_ssh_executable",
    "ansible_ssh_private_key_passphrase",
];

/// OpenSSH's default `ssh_args` as Ansible sets them (multiplexing drover does itself).
pub const ANSIBLE_DEFAULT_SSH_ARGS: &str = "-C -o ControlMaster=auto -o ControlPersist=60s";

/// Run-wide connection defaults from the command line and ansible.cfg; a host's inventory
/// variables beat them, and they beat ssh_config (Ansible passes them as `-o` options).
#[derive(Debug, Clone, Default)]
pub struct ConnectDefaults {
    /// `-u` / `remote_user` / `ANSIBLE_REMOTE_USER`.
    pub user: Option<String>,
    /// `--private-key` / `private_key_file`.
    pub private_key: Option<PathBuf>,
    /// `remote_port`.
    pub port: Option<u16>,
    /// `-T` / `timeout` (seconds).
    pub timeout: Option<u64>,
    /// `host_key_checking = False` → `Some(false)`.
    pub host_key_checking: Option<bool>,
    /// `--host-key-checking` (drover's spelling: strict / accept-new).
    pub host_key_policy: Option<HostKeyPolicy>,
    /// `--known-hosts`.
    pub known_hosts: Option<PathBuf>,
    /// `[ssh_connection] ssh_args` (Ansible's default when unset).
    pub ssh_args: Option<String>,
    pub ssh_common_args: Option<String>,
    pub ssh_extra_args: Option<String>,
    /// `-k`: the password typed once for every host without `ansible_password`.
    pub password: Option<Secret>,
    /// `-F`.
    pub ssh_config: Option<PathBuf>,
    /// Warnings about run-wide settings (ansible.cfg keys drover does not act on), given
    /// once when the run starts.
    pub notices: Vec<String>,
}

/// A setting drover does not act on but can run without: warned about once per run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notice {
    pub message: String,
}

/// Resolves hosts' connection settings; holds the run's parsed ssh_config files.
pub struct Resolver {
    local: Local,
    defaults: ConnectDefaults,
    /// The default configuration (`-F`, or `~/.ssh/config` + `/etc/ssh/ssh_config`).
    config: Arc<SshConfig>,
    /// Files named by `drover_ssh_config` or `-F` in a host's ssh args, each read once.
    files: Mutex<HashMap<PathBuf, Arc<SshConfig>>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("local", &self.local)
            .field("read", &self.config.read)
            .finish()
    }
}

impl Resolver {
    /// No ssh_config files at all (`-F none`): what tests and library callers get by default.
    pub fn plain() -> Resolver {
        Resolver {
            local: Local::current(),
            defaults: ConnectDefaults::default(),
            config: Arc::new(SshConfig::default()),
            files: Mutex::default(),
        }
    }

    /// Reads the run's ssh_config now, so a malformed file stops the run before it starts.
    pub fn new(defaults: ConnectDefaults) -> Result<Resolver, SshConfigError> {
        let local = Local::current();
        let config = SshConfig::load(defaults.ssh_config.as_deref(), &local)?;
        Ok(Resolver {
            local,
            defaults,
            config: Arc::new(config),
            files: Mutex::default(),
        })
    }

    /// The ssh_config files the run reads, for `drover check`.
    pub fn config_files(&self) -> &[PathBuf] {
        &self.config.read
    }

    pub fn defaults(&self) -> &ConnectDefaults {
        &self.defaults
    }

    fn named_config(&self, host: &str, path: &Path) -> Result<Arc<SshConfig>, TransportError> {
        let path = self.local.expand_tilde(&path.to_string_lossy());
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(config) = files.get(&path) {
            return Ok(config.clone());
        }
        let config =
            SshConfig::load(Some(&path), &self.local).map_err(|e| config_error(host, e))?;
        let config = Arc::new(config);
        files.insert(path, config.clone());
        Ok(config)
    }

    /// `host`'s target from its variables, and what drover will not honour but can run
    /// without.
    pub fn target(
        &self,
        host: &str,
        vars: &IndexMap<String, Value>,
    ) -> Result<(Target, Vec<Notice>), TransportError> {
        let mut notices = Vec::new();
        for name in vars.keys() {
            if WARNED_VARS.contains(&name.as_str()) && !vars[name].is_null() {
                notices.push(Notice {
                    message: format!(
                        "{host}: connection variable {name} is not honoured by drover (it connects with its own SSH client)"
                    ),
                });
            }
            let handled = name.starts_with("ansible_ssh_")
                && !QUIET_VARS.contains(&name.as_str())
                && !WARNED_VARS.contains(&name.as_str())
                && ![
                    HOST_VARS,
                    PORT_VARS,
                    USER_VARS,
                    KEY_VARS,
                    PASSWORD_VARS,
                    TIMEOUT_VARS,
                    HOST_KEY_CHECKING_VARS,
                ]
                .iter()
                .any(|names| names.contains(&name.as_str()))
                && !matches!(
                    name.as_str(),
                    "ansible_ssh_args" | "ansible_ssh_common_args" | "ansible_ssh_extra_args"
                );
            if handled && !vars[name].is_null() {
                notices.push(Notice {
                    message: format!(
                        "{host}: connection variable {name} is not known to drover and is ignored"
                    ),
                });
            }
        }
        let given = match string_var(host, vars, HOST_VARS)? {
            Some(address) if !address.is_empty() => address,
            Some(_) => return Err(bad(host, first_set(vars, HOST_VARS), "must not be empty")),
            None => host.to_string(),
        };
        let mut options = Options::default();
        let mut config_file = string_var(host, vars, &["drover_ssh_config"])?
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);

        // drover's own known_hosts variable first: it is drover's, and the most specific.
        if let Some(file) =
            string_var(host, vars, &["drover_known_hosts_file"])?.filter(|p| !p.is_empty())
        {
            options.user_known_hosts = Some(vec![file]);
        }
        // Ansible's command line, in its order: ssh_args, host_key_checking, port, key,
        // user, timeout, ssh_common_args, ssh_extra_args.
        let ssh_args = string_var(host, vars, &["ansible_ssh_args"])?
            .or_else(|| self.defaults.ssh_args.clone())
            .unwrap_or_else(|| ANSIBLE_DEFAULT_SSH_ARGS.to_string());
        let var_or = |found: Option<&str>| found.unwrap_or("[ssh_connection] ssh_args").to_string();
        let ssh_args_origin = var_or(vars.get("ansible_ssh_args").map(|_| "ansible_ssh_args"));
        self.apply_args(
            host,
            &ssh_args,
            &ssh_args_origin,
            &mut options,
            &mut config_file,
            &mut notices,
        )?;

        let checking = match bool_var(host, vars, HOST_KEY_CHECKING_VARS)? {
            Some(b) => Some(b),
            None => self.defaults.host_key_checking,
        };
        if checking == Some(false) && options.strict_host_key_checking.is_none() {
            options.strict_host_key_checking = Some("no".into());
        }
        if let Some(port) = port_var(host, vars)?.or(self.defaults.port) {
            options.port.get_or_insert(port);
        }
        let key = string_var(host, vars, KEY_VARS)?
            .filter(|p| !p.is_empty())
            .or_else(|| {
                self.defaults
                    .private_key
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned())
            });
        if let Some(key) = key {
            options.identity_files.push(key);
        }
        match string_var(host, vars, USER_VARS)? {
            Some(user) if user.is_empty() => {
                return Err(bad(host, first_set(vars, USER_VARS), "must not be empty"));
            }
            Some(user) => {
                options.user.get_or_insert(user);
            }
            None => {
                if let Some(user) = &self.defaults.user {
                    options.user.get_or_insert(user.clone());
                }
            }
        }
        let timeout = match number_var(host, vars, TIMEOUT_VARS)? {
            Some(t) => Some(t),
            None => self.defaults.timeout,
        };
        if let Some(t) = timeout {
            options.connect_timeout.get_or_insert(t);
        }
        for (names, default) in [
            (
                &["ansible_ssh_common_args"][..],
                &self.defaults.ssh_common_args,
            ),
            (
                &["ansible_ssh_extra_args"][..],
                &self.defaults.ssh_extra_args,
            ),
        ] {
            let value = string_var(host, vars, names)?.or_else(|| default.clone());
            if let Some(args) = value {
                let origin = if vars.contains_key(names[0]) {
                    names[0].to_string()
                } else {
                    format!("[ssh_connection] {}", &names[0]["ansible_".len()..])
                };
                self.apply_args(
                    host,
                    &args,
                    &origin,
                    &mut options,
                    &mut config_file,
                    &mut notices,
                )?;
            }
        }
        // drover's --known-hosts and --host-key-checking: defaults below Ansible's options.
        if let Some(file) = &self.defaults.known_hosts
            && options.user_known_hosts.is_none()
        {
            options.user_known_hosts = Some(vec![file.to_string_lossy().into_owned()]);
        }
        if let Some(policy) = self.defaults.host_key_policy
            && options.strict_host_key_checking.is_none()
        {
            options.strict_host_key_checking = Some(
                match policy {
                    HostKeyPolicy::Strict => "yes",
                    HostKeyPolicy::AcceptNew => "accept-new",
                    HostKeyPolicy::Off => "no",
                }
                .into(),
            );
        }
        let password = string_var(host, vars, PASSWORD_VARS)?
            .map(Secret::new)
            .or_else(|| self.defaults.password.clone());

        let config = match &config_file {
            Some(path) => self.named_config(host, path)?,
            None => self.config.clone(),
        };
        let mut chain = vec![given.to_ascii_lowercase()];
        let mut target = self.build(host, &given, options, &config, &mut chain, &mut notices)?;
        target.password = password;
        Ok((target, notices))
    }

    /// Parses ssh command-line words (`-o K=V`, `-J`, `-p`, `-l`, `-i`, `-F`, flags).
    #[allow(clippy::too_many_arguments)]
    fn apply_args(
        &self,
        host: &str,
        args: &str,
        origin: &str,
        options: &mut Options,
        config_file: &mut Option<PathBuf>,
        notices: &mut Vec<Notice>,
    ) -> Result<(), TransportError> {
        let words = shlex::split(args).ok_or_else(|| TransportError::Variable {
            host: host.to_string(),
            variable: origin.to_string(),
            reason: format!("unbalanced quotes in `{args}`"),
        })?;
        let unsupported = |setting: String, reason: &str| TransportError::Unsupported {
            host: host.to_string(),
            setting,
            origin: origin.to_string(),
            reason: reason.to_string(),
        };
        let mut i = 0;
        while i < words.len() {
            let word = &words[i];
            i += 1;
            let Some(flag) = word.strip_prefix('-').filter(|f| !f.is_empty()) else {
                return Err(unsupported(
                    format!("`{word}`"),
                    "only ssh options belong here, not a host or command",
                ));
            };
            let mut chars = flag.chars();
            let letter = chars.next().unwrap_or('-');
            let inline: String = chars.collect();
            const WITH_ARG: &str = "bBcDeEFiIJlLmoOpQRSwW";
            let value = if WITH_ARG.contains(letter) {
                if !inline.is_empty() {
                    inline
                } else if let Some(next) = words.get(i) {
                    i += 1;
                    next.clone()
                } else {
                    return Err(unsupported(format!("`-{letter}`"), "needs a value"));
                }
            } else {
                // Grouped flags such as `-qC`: all must be harmless.
                for other in flag.chars() {
                    match other {
                        'C' | 'q' | 'v' | 'T' | 't' | 'n' | 'x' | 'X' | 'Y' | 'y' | 'a' | 'k'
                        | 'K' | 'M' | 'N' | 'g' => {}
                        'A' | '4' | '6' => notices.push(Notice {
                            message: format!(
                                "{host}: ssh flag -{other} ({origin}) is not honoured by drover"
                            ),
                        }),
                        _ => {
                            return Err(unsupported(
                                format!("ssh flag `-{other}`"),
                                "drover cannot do what it asks of ssh",
                            ));
                        }
                    }
                }
                continue;
            };
            match letter {
                'o' => self.apply_option(host, &value, origin, options, notices)?,
                'J' => {
                    if options.proxy.is_none() {
                        options.proxy = Some(if value.eq_ignore_ascii_case("none") {
                            Proxy::Direct
                        } else {
                            ssh_config::parse_chain(&value)
                                .map_err(|r| unsupported(format!("-J {value}"), &r))?;
                            Proxy::Jump(value)
                        });
                    }
                }
                'p' => {
                    let port = value
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| unsupported(format!("-p {value}"), "not a port number"))?;
                    options.port.get_or_insert(port);
                }
                'l' => {
                    options.user.get_or_insert(value);
                }
                'i' => {
                    options.identity_files.push(value);
                }
                'F' => {
                    config_file.get_or_insert(PathBuf::from(value));
                }
                'S' | 'E' | 'e' => {}
                'b' | 'B' | 'c' | 'm' | 'L' | 'R' | 'D' | 'w' | 'I' | 'Q' => notices.push(Notice {
                    message: format!(
                        "{host}: ssh option -{letter} {value} ({origin}) is not honoured by drover"
                    ),
                }),
                _ => {
                    return Err(unsupported(
                        format!("ssh option `-{letter} {value}`"),
                        "drover cannot do what it asks of ssh",
                    ));
                }
            }
        }
        Ok(())
    }

    fn apply_option(
        &self,
        host: &str,
        line: &str,
        origin: &str,
        options: &mut Options,
        notices: &mut Vec<Notice>,
    ) -> Result<(), TransportError> {
        let before = options.unhonoured.len();
        options
            .apply_line(line, origin, &self.local)
            .map_err(|e| config_error(host, e))?;
        let fresh: Vec<_> = options.unhonoured.drain(before..).collect();
        for item in fresh {
            match item.disposition {
                Disposition::Refuse => {
                    return Err(TransportError::Unsupported {
                        host: host.to_string(),
                        setting: format!("-o {line}"),
                        origin: origin.to_string(),
                        reason: "ignoring it would change where or how drover connects".into(),
                    });
                }
                _ => notices.push(Notice {
                    message: format!(
                        "{host}: ssh option -o {line} ({origin}) is not honoured by drover"
                    ),
                }),
            }
        }
        Ok(())
    }

    /// Resolves `given` through `config` on top of `options`, then its proxy chain.
    fn build(
        &self,
        host: &str,
        given: &str,
        options: Options,
        config: &SshConfig,
        chain: &mut Vec<String>,
        notices: &mut Vec<Notice>,
    ) -> Result<Target, TransportError> {
        let resolved = config
            .resolve(given, options, &self.local)
            .map_err(|e| config_error(host, e))?;
        for item in &resolved.unhonoured {
            match item.disposition {
                Disposition::Refuse => {
                    return Err(TransportError::Unsupported {
                        host: host.to_string(),
                        setting: format!("ssh_config {}", item.keyword),
                        origin: item.origin.to_string(),
                        reason: "ignoring it would change where or how drover connects".into(),
                    });
                }
                _ => notices.push(Notice {
                    message: format!(
                        "ssh_config {} ({}) is not honoured by drover",
                        item.keyword, item.origin
                    ),
                }),
            }
        }
        let route = match (&resolved.proxy_jump, &resolved.proxy_command) {
            (Some(hops), _) if !hops.is_empty() => {
                Route::Jump(Box::new(self.hop(host, hops, config, chain, notices)?))
            }
            (_, Some(command)) => Route::Command(command.clone()),
            _ => Route::Direct,
        };
        Ok(self.target_from(host, resolved, route, notices))
    }

    /// The last hop of `hops`, whose own route is the hops before it (or its ssh_config's
    /// proxy, for the first hop).
    fn hop(
        &self,
        host: &str,
        hops: &[Hop],
        config: &SshConfig,
        chain: &mut Vec<String>,
        notices: &mut Vec<Notice>,
    ) -> Result<Target, TransportError> {
        let Some((last, before)) = hops.split_last() else {
            return Err(bad(host, "ProxyJump", "empty chain"));
        };
        let name = last.host.to_ascii_lowercase();
        let key = format!("{name}:{}", last.port.unwrap_or(0));
        if chain.iter().any(|c| *c == name || *c == key) || chain.len() > 16 {
            chain.push(name);
            return Err(TransportError::ProxyLoop {
                host: host.to_string(),
                chain: chain.join(" → "),
            });
        }
        chain.push(name.clone());
        let mut options = Options {
            user: last.user.clone(),
            port: last.port,
            ..Options::default()
        };
        if !before.is_empty() {
            options.proxy = Some(Proxy::Jump(
                before
                    .iter()
                    .map(Hop::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ));
        }
        if let Some(file) = &self.defaults.known_hosts {
            options.user_known_hosts = Some(vec![file.to_string_lossy().into_owned()]);
        }
        if let Some(policy) = self.defaults.host_key_policy {
            options.strict_host_key_checking = Some(
                match policy {
                    HostKeyPolicy::Strict => "yes",
                    HostKeyPolicy::AcceptNew => "accept-new",
                    HostKeyPolicy::Off => "no",
                }
                .into(),
            );
        }
        let target = self.build(&last.host, &last.host, options, config, chain, notices)?;
        chain.pop();
        Ok(target)
    }

    fn target_from(
        &self,
        host: &str,
        c: HostConfig,
        route: Route,
        notices: &mut Vec<Notice>,
    ) -> Target {
        let policy = match c.strict_host_key_checking.as_deref() {
            Some("no" | "false" | "off") => Some(HostKeyPolicy::Off),
            Some("accept-new") => Some(HostKeyPolicy::AcceptNew),
            Some(_) => Some(HostKeyPolicy::Strict),
            None => None,
        };
        if policy == Some(HostKeyPolicy::Off) {
            notices.push(Notice {
                message: format!(
                    "HOST KEY CHECKING IS OFF for {host} (StrictHostKeyChecking=no / host_key_checking=False): \
                     drover accepts any key this host presents, so a man-in-the-middle would go unnoticed"
                ),
            });
        }
        let agent = match c.identity_agent {
            None => Agent::Off,
            Some(None) => Agent::Default,
            Some(Some(path)) => Agent::Socket(path),
        };
        Target {
            host: host.to_string(),
            address: c.hostname,
            port: c.port,
            user: c.user,
            default_identities: !c.identity_files_configured,
            identity_files: c.identity_files,
            identities_only: c.identities_only,
            certificate_files: c.certificate_files,
            agent,
            known_hosts: c.user_known_hosts.unwrap_or_default(),
            global_known_hosts: c.global_known_hosts,
            host_key_alias: c.host_key_alias,
            host_key_policy: policy,
            connect_timeout: c
                .connect_timeout
                .filter(|t| *t > 0)
                .map(Duration::from_secs),
            keepalive: c.server_alive_interval.filter(|t| *t > 0).map(|t| {
                (
                    Duration::from_secs(t),
                    c.server_alive_count_max.unwrap_or(3),
                )
            }),
            password: None,
            password_authentication: c.password_authentication.unwrap_or(true),
            route,
        }
    }
}

fn config_error(host: &str, error: SshConfigError) -> TransportError {
    TransportError::SshConfig {
        host: host.to_string(),
        error: Box::new(error),
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
pub(super) fn string_var(
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

fn bool_var(
    host: &str,
    vars: &IndexMap<String, Value>,
    names: &[&str],
) -> Result<Option<bool>, TransportError> {
    for name in names {
        return match vars.get(*name) {
            None | Some(Value::Null) => continue,
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "1" => Ok(Some(true)),
                "no" | "false" | "off" | "0" => Ok(Some(false)),
                _ => Err(bad(host, name, format!("expected a boolean, found `{s}`"))),
            },
            Some(other) => Err(bad(
                host,
                name,
                format!("expected a boolean, found {}", type_name(other)),
            )),
        };
    }
    Ok(None)
}

fn number_var(
    host: &str,
    vars: &IndexMap<String, Value>,
    names: &[&str],
) -> Result<Option<u64>, TransportError> {
    for name in names {
        let parsed = match vars.get(*name) {
            None | Some(Value::Null) => continue,
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
            Some(_) => None,
        };
        return parsed
            .map(Some)
            .ok_or_else(|| bad(host, name, "expected a number of seconds"));
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

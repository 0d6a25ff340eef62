//! `drover`'s connection flags (ansible-playbook's spellings where Ansible has them) and
//! their resolution into the transport's run-wide defaults. Kept apart from cli.rs so that
//! the connection surface reads in one place.

use clap::{Args, ValueEnum};
use drover::ansible_cfg::{AnsibleCfgError, AnsibleConfig, Search, Settings};
use drover::transport::{ConnectDefaults, HostKeyPolicy, Resolver, Secret, TransportConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::CliError;

#[derive(Args, Debug)]
pub(crate) struct SshArgs {
    /// known_hosts file to verify host keys against [default: ssh_config's
    /// UserKnownHostsFile, else ~/.ssh/known_hosts].
    #[arg(long)]
    pub known_hosts: Option<PathBuf>,
    /// Unknown host keys: refuse (`strict`, OpenSSH's `yes`) or trust and record them
    /// (`accept-new`). A changed key is always refused. [default: ssh_config's
    /// StrictHostKeyChecking, else strict]
    #[arg(long, value_enum)]
    pub host_key_checking: Option<HostKeyArg>,
    /// Seconds to wait for a host to answer before calling it unreachable (when neither
    /// ansible_ssh_timeout, -T nor ssh_config's ConnectTimeout says).
    #[arg(long, default_value_t = 10)]
    pub connect_timeout: u64,
    /// OpenSSH client configuration file (`ssh -F`; `none` for no file)
    /// [default: ~/.ssh/config then /etc/ssh/ssh_config].
    #[arg(short = 'F', long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// Connect as this user when the inventory says nothing (ansible-playbook's -u).
    #[arg(short = 'u', long = "user", value_name = "REMOTE_USER")]
    pub user: Option<String>,
    /// Use this private key when the inventory names none (ansible-playbook's --private-key).
    #[arg(long = "private-key", visible_alias = "key-file", value_name = "FILE")]
    pub private_key: Option<PathBuf>,
    /// Connection timeout in seconds, as ansible-playbook's -T (beats ssh_config).
    #[arg(short = 'T', long = "timeout", value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Ask for the SSH password once, for hosts without ansible_password.
    #[arg(short = 'k', long = "ask-pass")]
    pub ask_pass: bool,
    /// Extra ssh arguments for every host, as ansible-playbook's --ssh-common-args
    /// (`-o ProxyJump=…`, `-J`, `-o ProxyCommand=…`, …).
    #[arg(
        long = "ssh-common-args",
        value_name = "ARGS",
        allow_hyphen_values = true
    )]
    pub ssh_common_args: Option<String>,
    /// As ansible-playbook's --ssh-extra-args.
    #[arg(
        long = "ssh-extra-args",
        value_name = "ARGS",
        allow_hyphen_values = true
    )]
    pub ssh_extra_args: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(super) enum HostKeyArg {
    Strict,
    AcceptNew,
}

impl SshArgs {
    /// The lab's known_hosts, strict, no ssh_config (`drover lab demo`).
    pub(super) fn for_lab(known_hosts: &Path) -> SshArgs {
        SshArgs {
            known_hosts: Some(known_hosts.to_path_buf()),
            host_key_checking: Some(HostKeyArg::Strict),
            connect_timeout: 10,
            ssh_config: Some(PathBuf::from("none")),
            user: None,
            private_key: None,
            timeout: None,
            ask_pass: false,
            ssh_common_args: None,
            ssh_extra_args: None,
        }
    }
}

/// The run's transport settings; reads the ssh_config files now, so a malformed one stops
/// the run before any host is touched.
pub(super) fn transport_config(ssh: &SshArgs) -> Result<TransportConfig, CliError> {
    let home = drover::transport::ssh_config::Local::current().home;
    let known_hosts = ssh
        .known_hosts
        .clone()
        .unwrap_or_else(|| home.join(".ssh/known_hosts"));
    let mut config = TransportConfig::new(known_hosts);
    let policy = ssh.host_key_checking.map(|arg| match arg {
        HostKeyArg::Strict => HostKeyPolicy::Strict,
        HostKeyArg::AcceptNew => HostKeyPolicy::AcceptNew,
    });
    config.host_key_policy = policy.unwrap_or(HostKeyPolicy::Strict);
    config.connect_timeout = Duration::from_secs(ssh.connect_timeout.max(1));
    config.passphrase = Some(Arc::new(|path: &Path| {
        rpassword::prompt_password(format!("Enter passphrase for key '{}': ", path.display())).ok()
    }));
    let cfg = ansible_settings()?;
    let password = if ssh.ask_pass || cfg.ask_pass == Some(true) {
        Some(Secret::new(
            rpassword::prompt_password("SSH password: ").map_err(CliError::AskPass)?,
        ))
    } else {
        None
    };
    // Flags first, then ansible.cfg / ANSIBLE_*; inventory variables beat both.
    let defaults = ConnectDefaults {
        user: ssh.user.clone().or_else(|| cfg.remote_user.clone()),
        private_key: ssh
            .private_key
            .clone()
            .or_else(|| cfg.private_key_file.clone()),
        port: cfg.remote_port,
        timeout: ssh.timeout.or(cfg.timeout),
        host_key_checking: cfg.host_key_checking,
        host_key_policy: policy,
        known_hosts: ssh.known_hosts.clone(),
        ssh_args: cfg.ssh_args.clone(),
        ssh_common_args: ssh
            .ssh_common_args
            .clone()
            .or_else(|| cfg.ssh_common_args.clone()),
        ssh_extra_args: ssh
            .ssh_extra_args
            .clone()
            .or_else(|| cfg.ssh_extra_args.clone()),
        password,
        ssh_config: ssh.ssh_config.clone(),
        notices: cfg.unhonoured.clone(),
    };
    config.resolver = Arc::new(Resolver::new(defaults)?);
    Ok(config)
}

/// The vault password sources ansible.cfg names (`vault_password_file`,
/// `vault_identity_list`); the flags and `ANSIBLE_VAULT_*` come on top.
pub(super) fn vault_configured() -> Result<drover::vault::password::Configured, CliError> {
    let cfg = ansible_settings()?;
    Ok(drover::vault::password::Configured {
        password_file: cfg.vault_password_file.clone(),
        identity_list: cfg.vault_identity_list.clone(),
    })
}

/// ansible.cfg and the `ANSIBLE_*` variables, read once per process.
pub(super) fn ansible_settings() -> Result<&'static Settings, CliError> {
    static SETTINGS: std::sync::OnceLock<Result<Settings, String>> = std::sync::OnceLock::new();
    let loaded = SETTINGS.get_or_init(|| {
        AnsibleConfig::load(&Search::current())
            .and_then(|cfg| cfg.settings())
            .map_err(|e| render(&e))
    });
    loaded
        .as_ref()
        .map_err(|message| CliError::AnsibleCfg(message.clone()))
}

/// The error with its source excerpt, as the one error rendering would show it.
fn render(error: &AnsibleCfgError) -> String {
    let mut out = String::new();
    let handler = miette::GraphicalReportHandler::new();
    if handler.render_report(&mut out, error).is_err() {
        out = error.to_string();
    }
    out.trim_end().to_string()
}

/// `-i` values, else ansible.cfg's inventory / `ANSIBLE_INVENTORY`, else
/// `/etc/ansible/hosts` (Ansible's default) when it exists.
pub(super) fn inventory_sources(given: &[String]) -> Result<Vec<String>, CliError> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    let cfg = ansible_settings()?;
    if !cfg.inventory.is_empty() {
        return Ok(cfg
            .inventory
            .iter()
            .map(|p| p.display().to_string())
            .collect());
    }
    let system = Path::new("/etc/ansible/hosts");
    if system.exists() {
        return Ok(vec![system.display().to_string()]);
    }
    Err(CliError::NoInventory)
}

/// The inventory file a journal records (the first source).
pub(super) fn primary_inventory(given: &[String]) -> Result<PathBuf, CliError> {
    Ok(PathBuf::from(
        inventory_sources(given)?
            .into_iter()
            .next()
            .unwrap_or_default(),
    ))
}

/// `-f`, else ansible.cfg's `forks` / `ANSIBLE_FORKS`, else 50.
pub(super) fn forks(flag: Option<u16>) -> Result<usize, CliError> {
    if let Some(forks) = flag {
        return Ok(usize::from(forks));
    }
    Ok(ansible_settings()?
        .forks
        .map_or(50, |f| usize::try_from(f).unwrap_or(usize::MAX)))
}

/// `--force-handlers`, else ansible.cfg's `force_handlers` / `ANSIBLE_FORCE_HANDLERS`.
pub(super) fn force_handlers(flag: bool) -> Result<bool, CliError> {
    Ok(flag || ansible_settings()?.force_handlers.unwrap_or(false))
}

/// `-c`: `local` reaches every host without `ansible_connection` on the control machine.
pub(super) fn default_connection(
    config: &mut TransportConfig,
    connection: Option<&str>,
) -> Result<(), CliError> {
    config.default_reach = match connection {
        None | Some("ssh" | "smart" | "paramiko") => drover::transport::Reach::Ssh,
        Some("local") => drover::transport::Reach::Local,
        Some(other) => {
            return Err(CliError::UnsupportedFlag {
                flag: format!("--connection {other}"),
                why: "drover connects with ssh, or `local` for the control machine".into(),
            });
        }
    };
    Ok(())
}

/// What a run would warn about and refuse in every planned host's connection settings
/// (`drover check`): resolved from inventory variables, extra vars, flags, ansible.cfg and
/// ssh_config, connecting to nothing.
pub(super) fn check_connections(
    config: &TransportConfig,
    inventory: &drover::inventory::Inventory,
    plan: &drover::plan::Plan,
    extra_vars: &drover::inventory::Vars,
) -> (Vec<String>, Vec<String>) {
    let mut warnings: Vec<String> = config.resolver.defaults().notices.clone();
    let mut refusals = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for host in plan.plays.iter().flat_map(|p| p.hosts.iter()) {
        if !seen.insert(host.clone()) {
            continue;
        }
        let Some(entry) = inventory.hosts.get(host) else {
            continue;
        };
        let mut vars: indexmap::IndexMap<String, serde_json::Value> =
            entry.vars.clone().into_iter().collect();
        vars.extend(extra_vars.clone());
        let reach = match vars.get("ansible_connection") {
            Some(v) if !v.is_null() => drover::transport::Reach::from_vars(host, &vars),
            _ => Ok(config.default_reach),
        };
        match reach {
            Ok(drover::transport::Reach::Local) => continue,
            Ok(_) => {}
            Err(e) => {
                refusals.push(e.to_string());
                continue;
            }
        }
        match config.resolver.target(host, &vars) {
            Ok((_, notices)) => {
                for notice in notices {
                    if !warnings.contains(&notice.message) {
                        warnings.push(notice.message);
                    }
                }
            }
            Err(e) => refusals.push(e.to_string()),
        }
    }
    (warnings, refusals)
}

/// ansible.cfg's `roles_path`, for the playbook loader, which reads `ANSIBLE_ROLES_PATH`:
/// exported when that variable is not set (the variable beats the file, as in Ansible).
pub(super) fn export_roles_path() -> Result<(), CliError> {
    if std::env::var_os("ANSIBLE_ROLES_PATH").is_some() {
        return Ok(());
    }
    let cfg = ansible_settings()?;
    if cfg.roles_path.is_empty() {
        return Ok(());
    }
    if let Ok(joined) = std::env::join_paths(&cfg.roles_path) {
        // SAFETY: called from the CLI before the runtime or any other thread starts, so
        // nothing reads the environment concurrently.
        unsafe { std::env::set_var("ANSIBLE_ROLES_PATH", joined) };
    }
    Ok(())
}

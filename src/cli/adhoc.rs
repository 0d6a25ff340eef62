//! `drover exec PATTERN -i INV [-m MODULE] -a ARGS`: the `ansible` command. The module call
//! becomes a one-task play (`gather_facts: false`) run by the same engine, printed with the
//! `ansible` command's lines (report::adhoc).

use clap::Args;
use drover::engine::RunConfig;
use drover::playbook::TagSelection;
use drover::report::Format;
use drover::window::SystemClock;
use std::sync::Arc;

use super::connect::{self, SshArgs, transport_config};
use super::{
    BecomeArgs, CliError, TargetArgs, become_defaults, execute_plan, load, parse_extra_vars,
};

#[derive(Args, Debug)]
pub(super) struct ExecArgs {
    /// The hosts: a pattern (`all`, `web`, `web:!db`, `node[1:3]`).
    pattern: String,
    /// Inventory, as for `drover run` (repeatable; inline `h1,h2,`).
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    inventory: Vec<String>,
    /// The module to run.
    #[arg(short = 'm', long = "module-name", default_value = "command")]
    module: String,
    /// The module's arguments: the command line for `command`/`shell`, else `key=value`
    /// words or a JSON/YAML mapping.
    #[arg(short = 'a', long = "args", allow_hyphen_values = true)]
    args: Option<String>,
    /// Further limit the hosts.
    #[arg(short = 'l', long)]
    limit: Option<String>,
    #[arg(short = 'e', long = "extra-vars")]
    extra_vars: Vec<String>,
    /// How many hosts at once [default: ansible.cfg's `forks`, else 50].
    #[arg(short = 'f', long, value_parser = clap::value_parser!(u16).range(1..))]
    forks: Option<u16>,
    /// Ask the module what it would change, change nothing.
    #[arg(short = 'C', long)]
    check: bool,
    #[arg(short = 'D', long)]
    diff: bool,
    /// The connection for hosts without `ansible_connection`: `ssh` or `local`.
    #[arg(short = 'c', long = "connection")]
    connection: Option<String>,
    /// Accepted for `ansible` command lines (results are shown in full already).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(flatten)]
    ssh: SshArgs,
    #[command(flatten)]
    escalation: BecomeArgs,
    #[command(flatten)]
    vault: super::vault::VaultArgs,
}

/// The one-task play, as YAML (JSON strings are valid YAML scalars, so nothing needs
/// escaping by hand).
fn play_text(pattern: &str, module: &str, args: Option<&str>) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let value = match args.map(str::trim) {
        None | Some("") => String::new(),
        // A mapping given as JSON/YAML stays a mapping.
        Some(a) if a.starts_with('{') => format!(" {a}"),
        Some(a) => format!(" {}", quote(a)),
    };
    format!(
        "- name: Ansible Ad-Hoc\n  hosts: {}\n  gather_facts: false\n  tasks:\n    - name: {}\n      {module}:{value}\n",
        quote(pattern),
        quote(module),
    )
}

pub(super) fn exec(args: ExecArgs) -> Result<u8, CliError> {
    if !args
        .module
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        return Err(CliError::UnsupportedFlag {
            flag: format!("-m {}", args.module),
            why: "not a module name".into(),
        });
    }
    // Options first: bad ones exit 5 before any file is written.
    parse_extra_vars(&args.extra_vars)?;
    // The play lives in a file of its own for the loader; gone once loaded.
    let file = std::env::temp_dir().join(format!(
        "drover-exec-{}-{:016x}.yml",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::write(
        &file,
        play_text(&args.pattern, &args.module, args.args.as_deref()),
    )
    .map_err(|e| CliError::ExtraVars(format!("cannot write {}: {e}", file.display())))?;
    let target = TargetArgs {
        playbook: file.clone(),
        inventory: args.inventory.clone(),
        limit: args.limit.clone(),
        extra_vars: args.extra_vars.clone(),
        vault: args.vault.clone(),
    };
    let loaded = load(&target);
    let _ = std::fs::remove_file(&file);
    let (inventory, playbook, plan, extra_vars) = loaded?;
    let mut transport = transport_config(&args.ssh)?;
    transport.trace_level = args.verbose;
    transport.escalation = become_defaults(&args.escalation)?;
    connect::default_connection(&mut transport, args.connection.as_deref())?;
    let config = RunConfig {
        forks: connect::forks(args.forks)?,
        check: args.check,
        diff: args.diff,
        extra_vars,
        transport,
        confirm: None,
        journal: None,
        resume: None,
        clock: Arc::new(SystemClock),
        wait_for_window: false,
        tags: TagSelection::default(),
        // Ad-hoc commands are not rollouts: they take no host lock.
        lock: None,
        start_at_task: None,
        force_handlers: false,
        step: None,
    };
    execute_plan(
        playbook,
        inventory,
        plan,
        config,
        Format::AdHoc,
        args.verbose,
    )
}

#[cfg(test)]
mod tests {
    use super::play_text;

    #[test]
    fn the_play_quotes_pattern_and_arguments() {
        assert_eq!(
            play_text("web:!db", "shell", Some("echo \"hi\" > /tmp/x")),
            "- name: Ansible Ad-Hoc\n  hosts: \"web:!db\"\n  gather_facts: false\n  tasks:\n    - name: \"shell\"\n      shell: \"echo \\\"hi\\\" > /tmp/x\"\n"
        );
        assert!(play_text("all", "ping", None).ends_with("      ping:\n"));
    }
}

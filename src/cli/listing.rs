//! ansible-playbook's everyday flags on `drover run` that are not about connecting:
//! `--list-hosts`, `--list-tasks`, `--list-tags` (printed as ansible-playbook prints them),
//! `--syntax-check`, `-v`, `--flush-cache`, `-c`; and the ones drover refuses by name
//! rather than ignore (`-c` other than ssh/local).

use clap::Args;
use drover::plan::Plan;
use drover::playbook::Playbook;
use std::path::Path;

use super::CliError;

#[derive(Args, Debug, Default)]
pub(super) struct PlaybookFlags {
    /// More output: `-v` shows the result of every ok and changed task (`ok: [web1] =>
    /// {…}`), as ansible-playbook's -v; `-vvv` also how each host is connected to.
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print the hosts each play would run on, and stop.
    #[arg(long)]
    pub list_hosts: bool,
    /// Print each play's tasks, and stop.
    #[arg(long)]
    pub list_tasks: bool,
    /// Print each play's tags, and stop.
    #[arg(long)]
    pub list_tags: bool,
    /// Check the playbook and inventory (as `drover check`), and stop.
    #[arg(long)]
    pub syntax_check: bool,
    /// Accepted: drover keeps no fact cache between runs, so there is nothing to flush.
    #[arg(long)]
    pub flush_cache: bool,
    /// The connection for hosts without `ansible_connection`: `ssh` (default) or `local`.
    #[arg(short = 'c', long = "connection", value_name = "CONNECTION")]
    pub connection: Option<String>,
    /// Start at the first task with this name (or `role : name`; a glob), skipping the
    /// play tasks before it, as ansible-playbook does. Not for rollouts (`drover resume`).
    #[arg(long, value_name = "TASK_NAME")]
    pub start_at_task: Option<String>,
    /// Ask before each task and handler (`(N)o/(y)es/(c)ontinue`) on the terminal, as
    /// ansible-playbook does; not for rollouts or `strategy: free` plays (refused).
    #[arg(long)]
    pub step: bool,
    /// Run notified handlers even on hosts that failed afterwards, and when a play is
    /// aborted (as the play keyword `force_handlers`, or ansible.cfg's `force_handlers`).
    #[arg(long)]
    pub force_handlers: bool,
}

impl PlaybookFlags {
    /// Flags drover refuses, named, before anything is read.
    pub(super) fn refuse_unsupported(&self) -> Result<(), CliError> {
        match self.connection.as_deref() {
            None | Some("ssh" | "smart" | "paramiko" | "local") => Ok(()),
            Some(other) => Err(CliError::UnsupportedFlag {
                flag: format!("--connection {other}"),
                why: "drover connects with ssh, or `local` for the control machine".into(),
            }),
        }
    }

    /// Whether a listing was asked for instead of a run.
    pub(super) fn lists(&self) -> bool {
        self.list_hosts || self.list_tasks || self.list_tags
    }
}

/// The listings, in ansible-playbook's layout.
pub(super) fn listing(
    flags: &PlaybookFlags,
    path: &Path,
    playbook: &Playbook,
    plan: &Plan,
) -> String {
    let mut out = format!("\nplaybook: {}\n", path.display());
    for (index, planned) in plan.plays.iter().enumerate() {
        let play = &playbook.plays[planned.play];
        let play_tags: Vec<&str> = Vec::new();
        out.push_str(&format!(
            "\n  play #{} ({}): {}\tTAGS: [{}]\n",
            index + 1,
            planned.pattern,
            if play.name.is_empty() {
                &planned.pattern
            } else {
                &play.name
            },
            play_tags.join(",")
        ));
        if flags.list_hosts {
            out.push_str(&format!(
                "    pattern: ['{}']\n    hosts ({}):\n",
                planned.pattern,
                planned.hosts.len()
            ));
            for host in &planned.hosts {
                out.push_str(&format!("      {host}\n"));
            }
        }
        if flags.list_tasks {
            out.push_str("    tasks:\n");
            for task in &play.tasks {
                let name = task.name.clone().unwrap_or_else(|| task.module.to_string());
                // ansible-playbook prefixes a role's tasks with the role's name.
                let name = match &task.role {
                    Some(role) => format!("{} : {name}", role.name),
                    None => name,
                };
                out.push_str(&format!("      {name}\tTAGS: [{}]\n", task.tags.join(", ")));
            }
        }
        if flags.list_tags {
            let mut tags: Vec<&str> = play
                .tasks
                .iter()
                .flat_map(|t| t.tags.iter().map(String::as_str))
                .collect();
            tags.sort_unstable();
            tags.dedup();
            out.push_str(&format!("      TASK TAGS: [{}]\n", tags.join(", ")));
        }
    }
    out
}

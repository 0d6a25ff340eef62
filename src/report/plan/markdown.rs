//! The upgrade plan as a Markdown document: what GitLab's "Before you upgrade" asks an
//! operator to write before touching production — the installation (the "Working with
//! Support" questions), the upgrade path with its required stops, how the rollout runs and
//! what its limits allow, every step, each host's steps hop by hop, and the rollback plan
//! (backup, where it is, the version a restore needs, the restore steps), with a checklist.

use super::hops::ChainDoc;
use super::model::{Document, PlayDoc, RolloutDoc};
use super::render::Shown;
use super::steps::{StepDoc, TaskDoc};
use super::{name, seconds};
use crate::playbook::{HopMode, Phase};
use std::fmt::Write as _;

pub fn markdown(doc: &Document) -> String {
    let mut out = String::new();
    for play in &doc.plays {
        let _ = writeln!(out, "# Upgrade plan: {}\n", play.title);
        let _ = writeln!(out, "- Playbook: `{}`", doc.playbook);
        let _ = writeln!(out, "- Inventory: `{}`", doc.inventory);
        let stages = play.rollout_doc.as_ref().map_or(0, |r| r.stages.len());
        let _ = writeln!(
            out,
            "- Hosts: `{}` — {} host(s) in {} batch(es){}",
            play.pattern,
            play.hosts.len(),
            play.batches.len(),
            if stages > 1 {
                format!(", {stages} stages")
            } else {
                String::new()
            }
        );
        match &play.rollout_doc {
            Some(rollout) => rollout_doc(&mut out, play, rollout),
            None => {
                out.push('\n');
                batches_table(&mut out, &play.batches);
                let _ = writeln!(out, "## Steps\n");
                steps(&mut out, &play.tasks, "");
                out.push('\n');
                handlers(&mut out, play);
            }
        }
    }
    out
}

fn rollout_doc(out: &mut String, play: &PlayDoc, r: &RolloutDoc) {
    let _ = writeln!(
        out,
        "- Made: {}\n",
        if r.probed {
            "after running the read-only precheck on every host"
        } else if play.order_deferred.is_some() || r.upgrade_path.is_some() {
            "without connecting: what the precheck reads is shown as \"known at run time\""
        } else {
            "without connecting (nothing needs the precheck)"
        }
    );
    about(out, play);
    path(out, r);
    if !r.problems.is_empty() {
        let _ = writeln!(
            out,
            "## Problems\n\nA run would stop before changing anything:\n"
        );
        for problem in &r.problems {
            match &problem.host {
                Some(host) => {
                    let _ = writeln!(out, "- **{host}**: {}", problem.why);
                }
                None => {
                    let _ = writeln!(out, "- {}", problem.why);
                }
            }
        }
        out.push('\n');
    }
    schedule(out, play, r);
    let _ = writeln!(out, "## Steps\n");
    if !play.tasks.is_empty() {
        let _ = writeln!(out, "### Tasks — every host, before the precheck\n");
        steps(out, &play.tasks, "");
        out.push('\n');
    }
    let per_hop = if r.upgrade_path.is_some() {
        ", per hop"
    } else {
        ""
    };
    let backup_when = match (r.upgrade_path.is_some(), r.policy.backup) {
        (true, crate::playbook::BackupMode::PerHop) => "per host, before every hop",
        (true, _) => "per host, before its first hop",
        _ => "per host",
    };
    for phase in Phase::ALL {
        let Some(list) = r.phases.get(phase.name()).filter(|l| !l.is_empty()) else {
            continue;
        };
        let heading = match phase {
            Phase::Precheck => "Precheck — every host, before anything changes (read-only; any failure abandons the rollout, nothing changed)".to_string(),
            Phase::Stop => format!("Stop — per host{per_hop}: the service goes down before the backup"),
            Phase::Backup => format!("Backup — {backup_when}"),
            Phase::Upgrade => format!("Upgrade — per host{per_hop}"),
            Phase::Migrate => format!("Migrate — per host{per_hop}"),
            Phase::Start => format!("Start — per host{per_hop}"),
            Phase::Verify => format!(
                "Verify — the health gate, per host{per_hop}{}",
                r.limits
                    .verify_timeout_seconds
                    .map_or(String::new(), |s| format!(", within {}", seconds(s)))
            ),
            Phase::Rollback => continue,
        };
        let _ = writeln!(out, "### {heading}\n");
        steps(out, list, "");
        out.push('\n');
    }
    handlers(out, play);
    hop_steps(out, r);
    rollback(out, r);
    checklist(out, r);
}

fn about(out: &mut String, play: &PlayDoc) {
    let _ = writeln!(out, "## About this installation\n");
    let arch = &play.architecture;
    let shape = if arch.single_node {
        format!("single-node: {}", play.hosts.join(", "))
    } else {
        format!("multi-node: {} hosts", play.hosts.len())
    };
    let answer =
        |s: Option<&Shown>| s.map_or("not stated (`about:` in the play)".to_string(), cell);
    let about = play.about.as_ref();
    let _ = writeln!(out, "| question | answer |\n|---|---|");
    let _ = writeln!(
        out,
        "| How is it installed? | {} |",
        answer(about.and_then(|a| a.installation.as_ref()))
    );
    let _ = writeln!(
        out,
        "| Operating system of the nodes | {} |",
        answer(about.and_then(|a| a.os.as_ref()))
    );
    let described = about
        .and_then(|a| a.architecture.as_ref())
        .map_or(String::new(), |a| format!(" — {}", cell(a)));
    let _ = writeln!(out, "| Single-node or multi-node? | {shape}{described} |");
    let components = about.map_or_else(Vec::new, |a| {
        a.components
            .iter()
            .map(|(name, detail)| match name {
                Some(name) => format!("{name}: {}", cell(detail)),
                None => cell(detail),
            })
            .collect()
    });
    let _ = writeln!(
        out,
        "| External components | {} |",
        if components.is_empty() {
            "not stated (`about.components`)".to_string()
        } else {
            components.join("; ")
        }
    );
    let _ = writeln!(
        out,
        "| Geo (secondary sites) | {} |",
        answer(about.and_then(|a| a.geo.as_ref()))
    );
    let _ = writeln!(
        out,
        "| What else is unique | {} |",
        answer(about.and_then(|a| a.notes.as_ref()))
    );
    let issues: Vec<String> =
        about.map_or_else(Vec::new, |a| a.known_issues.iter().map(cell).collect());
    let _ = writeln!(
        out,
        "| Known issues with the current version | {} |\n",
        if issues.is_empty() {
            "none stated".to_string()
        } else {
            issues.join("; ")
        }
    );
    let _ = writeln!(out, "| host | address | groups |\n|---|---|---|");
    for host in &arch.hosts {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            host.name,
            host.address.as_deref().unwrap_or("—"),
            host.groups.join(", ")
        );
    }
    out.push('\n');
    if !arch.groups.is_empty() {
        let groups: Vec<String> = arch
            .groups
            .iter()
            .map(|(g, hosts)| format!("`{g}` ({})", hosts.join(", ")))
            .collect();
        let _ = writeln!(out, "Groups: {}.", groups.join(", "));
    }
    if !arch.delegates.is_empty() {
        let _ = writeln!(
            out,
            "Steps also run on (delegated): {}.",
            arch.delegates.join(", ")
        );
    }
    out.push('\n');
}

fn path(out: &mut String, r: &RolloutDoc) {
    let Some(path) = &r.upgrade_path else {
        return;
    };
    let _ = writeln!(out, "## Upgrade path\n");
    let (target, note) = path.target_shown.describe();
    let written = if path.target_shown.is_template() && path.target_shown.value.is_some() {
        format!(" (`{}`)", path.target_shown.written)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "- Target: **{}**{written}{}",
        target.replace('`', "'"),
        note.map_or(String::new(), |n| format!(" — {n}"))
    );
    if !path.stops.is_empty() {
        let _ = writeln!(
            out,
            "- Required stops (never skipped): {}",
            path.stops.join(" → ")
        );
    }
    if let Some(every) = &path.every {
        let versions: Vec<String> = every["available"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let _ = writeln!(
            out,
            "- A stop at every {} version, latest patch, of: {}",
            every["unit"].as_str().unwrap_or("minor"),
            versions.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "- Each host's current version: `{}`, {}; {}. A host already at the target is left alone; a host above it stops the rollout before anything changes{}.\n",
        path.current,
        if r.probed {
            "read by the precheck just now"
        } else {
            "read at run time"
        },
        match r.policy.hops {
            HopMode::Host =>
                "each host walks its own chain, hop by hop, the verify gate green before the next hop",
            HopMode::Cluster =>
                "the cluster moves hop by hop: every host is verified at a hop before any host starts the next",
        },
        if path.allow_downgrade {
            " (unless downgrades are allowed)"
        } else {
            ""
        }
    );
    if r.probed {
        let _ = writeln!(out, "| host | current | hops |\n|---|---|---|");
        if let Some(probe) = &r.probe {
            for path in &probe.paths {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    path.host,
                    path.current,
                    super::chain_text(&path.current, &path.hops)
                );
            }
        }
        out.push('\n');
    }
}

fn schedule(out: &mut String, play: &PlayDoc, r: &RolloutDoc) {
    let _ = writeln!(out, "## How the rollout runs\n");
    let order = match (r.probed, &play.order_deferred) {
        (true, _) => "as computed after the precheck ran on every host",
        (false, Some(_)) => {
            "decided after the precheck (`order_by` reads its facts); inventory order shown"
        }
        (false, None) => "from the inventory and `order`/`order_groups`/`order_by`",
    };
    let _ = writeln!(out, "- Order ({order}): {}", r.order.join(", "));
    if !r.up_to_date.is_empty() {
        let _ = writeln!(
            out,
            "- Already at the target, left alone: {}",
            r.up_to_date.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "- Hops: `{}` — {}",
        name(&r.policy.hops),
        r.policy.hops_means
    );
    let _ = writeln!(
        out,
        "- Backups: `{}` — {}",
        name(&r.policy.backup),
        r.policy.backup_means
    );
    let _ = writeln!(
        out,
        "- On failure: `{}` — {}; {}",
        name(&r.policy.on_failure),
        r.policy.on_failure_means,
        r.policy.before_change_means
    );
    let limits = &r.limits;
    let _ = writeln!(
        out,
        "- Deadlines: verify {}; each hop (stop … verify) {}",
        limits
            .verify_timeout_seconds
            .map_or("none".to_string(), seconds),
        limits
            .hop_timeout_seconds
            .map_or("none".to_string(), seconds)
    );
    let _ = writeln!(
        out,
        "- Maintenance window: {}",
        limits.window.as_ref().map_or("none (any time)".to_string(), |w| format!(
            "`{w}`; no host starts and no hop begins outside it, no batch starts that would likely not finish inside it, and the run stops (resumable, exit 7) when it closes"
        ))
    );
    if limits.confirm_canary {
        let _ = writeln!(
            out,
            "- The first batch is a canary: the run asks before going on (`--yes` answers)"
        );
    }
    out.push('\n');
    for stage in &r.stages {
        if let Some(name) = &stage.name {
            let _ = writeln!(
                out,
                "### Stage `{name}`{}\n",
                if stage.confirm {
                    " — the run asks before it starts"
                } else {
                    ""
                }
            );
        }
        let _ = writeln!(
            out,
            "- Limits: at most {} host(s) out of service at once ({}); the {} halts after {} failed host(s) (max_failed {}); batch `{}`; pause between batches: {}\n",
            stage.out_of_service,
            stage.out_of_service_why,
            if stage.name.is_some() {
                "stage"
            } else {
                "rollout"
            },
            stage.max_failed + 1,
            stage.max_failed,
            stage.batch,
            seconds(stage.pause_seconds)
        );
        let hop_column = stage.rounds.iter().any(|round| round.hop.is_some());
        if hop_column {
            let _ = writeln!(out, "| hop to | batch | hosts |\n|---|---|---|");
        } else {
            let _ = writeln!(out, "| batch | hosts |\n|---|---|");
        }
        for round in &stage.rounds {
            for (i, batch) in round.batches.iter().enumerate() {
                match &round.hop {
                    Some(to) => {
                        let _ = writeln!(out, "| {to} | {} | {} |", i + 1, batch.join(", "));
                    }
                    None => {
                        let _ = writeln!(out, "| {} | {} |", i + 1, batch.join(", "));
                    }
                }
            }
        }
        out.push('\n');
        if hop_column {
            let _ = writeln!(
                out,
                "Every host of a hop is verified before any host starts the next hop (a barrier per hop).\n"
            );
        } else if r.policy.hops == HopMode::Cluster {
            let _ = writeln!(
                out,
                "With `hops: cluster` there is one round of these batches per hop; the hops are known after the precheck.\n"
            );
        }
    }
}

fn hop_steps(out: &mut String, r: &RolloutDoc) {
    let _ = writeln!(out, "## Per-host steps, hop by hop\n");
    if r.chains.is_empty() {
        let phases: Vec<&str> = r.pipeline.iter().map(|p| p.name()).collect();
        let _ = writeln!(
            out,
            "Each host's hops are known after the precheck (run `drover plan` without `--offline`). Per host and hop the engine runs: {}.\n",
            phases.join(" → ")
        );
        return;
    }
    for chain in &r.chains {
        chain_steps(out, chain, r);
    }
}

fn chain_steps(out: &mut String, chain: &ChainDoc, r: &RolloutDoc) {
    let title = match &chain.current {
        Some(current) => format!(
            "{}: {}",
            chain.hosts.join(", "),
            super::chain_text(current, &chain.hops)
        ),
        None => chain.hosts.join(", "),
    };
    let _ = writeln!(out, "### {title}\n");
    if chain.current.is_some() && chain.hops.is_empty() {
        let _ = writeln!(out, "Up to date: left alone.\n");
        return;
    }
    for hop in &chain.hop_steps {
        if let Some(info) = &hop.hop {
            let _ = writeln!(
                out,
                "**Hop {}/{}: {} → {}**\n",
                info.index, info.count, info.from, info.to
            );
        }
        for (i, step) in hop.steps.iter().enumerate() {
            let mut line = format!("{}. **{}**: {}", i + 1, step.phase, step.tasks.join("; "));
            if !step.handlers.is_empty() {
                let _ = write!(line, " — then, if notified: {}", step.handlers.join(", "));
            }
            if let Some(backup) = &step.backup {
                let _ = write!(
                    line,
                    " — taken at {0}: a restore needs {0}",
                    backup.taken_at
                );
                if !backup.writes.is_empty() {
                    let _ = write!(line, "; writes {}", backup.writes.join("; "));
                }
            }
            let _ = writeln!(out, "{}", line.replace('`', "'"));
        }
        if !hop.rollback.is_empty() {
            let _ = writeln!(
                out,
                "\nIf this fails after the host changed (`on_failure: {}`): **rollback**: {}",
                name(&r.policy.on_failure),
                hop.rollback.join("; ").replace('`', "'")
            );
        }
        out.push('\n');
        if hop.hop.is_some() && r.policy.hops == HopMode::Cluster {
            let _ = writeln!(
                out,
                "_Barrier: every host of the stage is verified at this hop before any host starts the next._\n"
            );
        }
    }
}

fn rollback(out: &mut String, r: &RolloutDoc) {
    let _ = writeln!(out, "## Rollback plan\n");
    let _ = writeln!(
        out,
        "- On failure (`{}`): {}.\n- Before a host changed: {}.\n- Backups: {}.\n",
        name(&r.policy.on_failure),
        r.policy.on_failure_means,
        r.policy.before_change_means,
        r.policy.backup_means
    );
    let _ = writeln!(out, "### Back up\n");
    if r.backups.is_empty() {
        let _ = writeln!(
            out,
            "No backup phase: a rollback has nothing to restore from.\n"
        );
    } else {
        for backup in &r.backups {
            let mut line = format!("- {}", backup.name.text());
            for (key, value) in &backup.writes {
                let (text, note) = value.describe();
                let _ = write!(
                    line,
                    " — `{key}`: `{}`{}{}",
                    text.replace('`', "'"),
                    note.map_or(String::new(), |n| format!(" ({n})")),
                    if backup.on_control_machine {
                        ", on the control machine"
                    } else {
                        ""
                    }
                );
            }
            if let Some(register) = &backup.register {
                let _ = write!(line, " — registered as `{register}`");
            }
            let _ = writeln!(out, "{line}");
        }
        if !r.rollback_reads.is_empty() {
            let _ = writeln!(
                out,
                "\nThe rollback finds the backup through `{}`, registered by the backup phase.",
                r.rollback_reads.join("`, `")
            );
        }
        out.push('\n');
        let _ = writeln!(out, "### The version a restore needs\n");
        let _ = writeln!(
            out,
            "A backup restores only onto the version it was taken at: the rollback puts that version back first.\n"
        );
        let rows: Vec<(String, String, String)> = r
            .chains
            .iter()
            .flat_map(|chain| {
                chain.hop_steps.iter().flat_map(move |hop| {
                    hop.steps.iter().filter_map(move |step| {
                        let backup = step.backup.as_ref()?;
                        let when = hop.hop.as_ref().map_or("its upgrade".to_string(), |h| {
                            format!("hop {}/{} to {}", h.index, h.count, h.to)
                        });
                        Some((chain.hosts.join(", "), when, backup.taken_at.clone()))
                    })
                })
            })
            .collect();
        if rows.is_empty() {
            let _ = writeln!(
                out,
                "{} (read at run time).\n",
                match (r.upgrade_path.is_some(), r.policy.backup) {
                    (true, crate::playbook::BackupMode::PerHop) =>
                        "Before every hop, at the version the host runs when the hop begins (`hop.from`)",
                    (true, _) =>
                        "Before a host's first hop, at the version it runs when the rollout begins",
                    _ => "At the version the host runs before its upgrade",
                }
            );
        } else {
            let _ = writeln!(
                out,
                "| host(s) | backup before | taken at: a restore needs |\n|---|---|---|"
            );
            for (hosts, when, at) in rows {
                let _ = writeln!(out, "| {hosts} | {when} | {at} |");
            }
            out.push('\n');
        }
    }
    let _ = writeln!(out, "### Restore\n");
    match r.phases.get("rollback").filter(|l| !l.is_empty()) {
        None => {
            let _ = writeln!(
                out,
                "No rollback phase: a host that fails stays as it is and the rollout halts.\n"
            );
        }
        Some(list) => {
            let _ = writeln!(
                out,
                "The `rollback` phase, with the facts the host's backup registered:\n"
            );
            steps(out, list, "");
            out.push('\n');
        }
    }
    let undo: Vec<&TaskDoc> = r
        .phases
        .values()
        .flatten()
        .flat_map(tasks_of)
        .filter(|t| !t.undo.is_empty())
        .collect();
    if !undo.is_empty() {
        let _ = writeln!(
            out,
            "### Undo of the shared steps (cluster rollback), newest first, once each\n"
        );
        for task in undo {
            let _ = writeln!(out, "- undoes **{}**:", task.shown_name.text());
            steps(out, &task.undo, "  ");
        }
        out.push('\n');
    }
}

fn checklist(out: &mut String, r: &RolloutDoc) {
    let staging = r
        .stages
        .first()
        .and_then(|s| s.name.as_ref())
        .filter(|_| r.stages.len() > 1)
        .map_or("This plan ran in staging first".to_string(), |name| {
            format!("Stage `{name}` goes first and must be verified before the next stage starts; this plan also ran in a test environment")
        });
    let _ = writeln!(
        out,
        "## Before you start\n\n- [ ] {staging}\n- [ ] The backups it takes have been restored in a test, onto the version they were taken at\n- [ ] The maintenance window and the people on call are agreed\n- [ ] `drover resume` is how to continue if the run is interrupted\n"
    );
}

fn handlers(out: &mut String, play: &PlayDoc) {
    if play.handlers.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### Handlers — {}\n",
        if play.rollout {
            "run at the end of the phase that notified them, on that host"
        } else {
            "run at the end of the play (or at `meta: flush_handlers`), once per host that notified them"
        }
    );
    for (i, handler) in play.handlers.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. {} — notified by {}",
            i + 1,
            task_line(&handler.task),
            if handler.notified_by.is_empty() {
                "no step".to_string()
            } else {
                handler.notified_by.join(", ")
            }
        );
    }
    out.push('\n');
}

fn batches_table(out: &mut String, batches: &[Vec<String>]) {
    let _ = writeln!(out, "| batch | hosts |\n|---|---|");
    for (i, batch) in batches.iter().enumerate() {
        let _ = writeln!(out, "| {} | {} |", i + 1, batch.join(", "));
    }
    out.push('\n');
}

/// A step list as numbered Markdown, blocks nested with their `rescue` and `always`.
fn steps(out: &mut String, list: &[StepDoc], indent: &str) {
    let inner = format!("{indent}   ");
    for (i, step) in list.iter().enumerate() {
        match step {
            StepDoc::Task(task) => {
                let _ = writeln!(out, "{indent}{}. {}", i + 1, task_line(task));
                if !task.undo.is_empty() {
                    let _ = writeln!(out, "{inner}- undo (once, during a cluster rollback):");
                    steps(out, &task.undo, &format!("{inner}  "));
                }
            }
            StepDoc::Block(block) => {
                let _ = writeln!(
                    out,
                    "{indent}{}. Block{} ({}):",
                    i + 1,
                    block
                        .name
                        .as_ref()
                        .map_or(String::new(), |n| format!(" **{n}**")),
                    block.location
                );
                steps(out, &block.block, &inner);
                if !block.rescue.is_empty() {
                    let _ = writeln!(out, "{inner}- **rescue** — when a step of the block fails:");
                    steps(out, &block.rescue, &format!("{inner}  "));
                }
                if !block.always.is_empty() {
                    let _ = writeln!(out, "{inner}- **always** — whatever happened in the block:");
                    steps(out, &block.always, &format!("{inner}  "));
                }
            }
            StepDoc::Include(include) => {
                let (file, note) = include.include.describe();
                let _ = writeln!(
                    out,
                    "{indent}{}. Include `{}`{} ({}){}",
                    i + 1,
                    file.replace('`', "'"),
                    note.map_or(String::new(), |n| format!(" ({n})")),
                    include.task.location,
                    if include.steps.is_empty() {
                        " — read at run time"
                    } else {
                        ":"
                    }
                );
                steps(out, &include.steps, &inner);
            }
        }
    }
}

/// `Name — `module`: `args` (file:line) _(notes)_`.
fn task_line(task: &TaskDoc) -> String {
    let (args, args_note) = task.shown_args.describe();
    let args = args.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut notes = super::notes(task);
    if let Some(note) = args_note {
        notes.insert(0, format!("arguments {note}"));
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" _({})_", notes.join("; "))
    };
    format!(
        "{}{notes} — `{}`: `{}` ({})",
        task.shown_name.text(),
        task.module,
        args.replace('`', "'"),
        task.location
    )
}

fn tasks_of(step: &StepDoc) -> Vec<&TaskDoc> {
    match step {
        StepDoc::Task(task) => vec![task],
        StepDoc::Block(block) => [&block.block, &block.rescue, &block.always]
            .into_iter()
            .flatten()
            .flat_map(tasks_of)
            .collect(),
        StepDoc::Include(include) => include.steps.iter().flat_map(tasks_of).collect(),
    }
}

/// A table cell: the answer rendered, pipes escaped.
fn cell(shown: &Shown) -> String {
    let (text, note) = shown.describe();
    let text = match note {
        Some(note) => format!("{text} ({note})"),
        None => text,
    };
    text.replace('|', "\\|").replace('\n', " ")
}

//! `drover plan` as text: the plan at a glance — hosts in order, stages and batches with
//! what the limits allow, the policies, the upgrade path and each host's chain, problems,
//! every step with its `file:line`, each host's steps hop by hop, the backups.

use super::model::{Document, PlayDoc, RolloutDoc};
use super::steps::{StepDoc, TaskDoc};
use super::{name, seconds};
use crate::playbook::Phase;
use std::fmt::Write as _;

pub fn text(doc: &Document) -> String {
    let mut out = String::new();
    for play in &doc.plays {
        let _ = writeln!(
            out,
            "PLAY [{}] — hosts `{}`: {} host(s) in {} batch(es)",
            play.title,
            play.pattern,
            play.hosts.len(),
            play.batches.len()
        );
        match &play.rollout_doc {
            Some(rollout) => rollout_text(&mut out, play, rollout),
            None => {
                for (i, batch) in play.batches.iter().enumerate() {
                    let _ = writeln!(out, "  batch {}: {}", i + 1, batch.join(", "));
                }
                steps(&mut out, &play.tasks, "  ");
                handlers(&mut out, play);
            }
        }
        out.push('\n');
    }
    out
}

fn rollout_text(out: &mut String, play: &PlayDoc, r: &RolloutDoc) {
    let limits = &r.limits;
    let unavailable = match r.stages.first() {
        Some(stage) if stage.max_unavailable_set => stage.max_unavailable.to_string(),
        _ => "no limit beyond the batch".to_string(),
    };
    let _ = writeln!(
        out,
        "  rollout: max_unavailable {unavailable}, max_failed {}, pause {}, verify_timeout {}, hop_timeout {}{}",
        limits.max_failed,
        seconds(limits.pause_seconds),
        limits
            .verify_timeout_seconds
            .map_or("none".to_string(), seconds),
        limits
            .hop_timeout_seconds
            .map_or("none".to_string(), seconds),
        if limits.confirm_canary {
            ", confirm after the canary batch"
        } else {
            ""
        }
    );
    let policy = &r.policy;
    let _ = writeln!(
        out,
        "  hops: {} — {}",
        name(&policy.hops),
        policy.hops_means
    );
    let _ = writeln!(
        out,
        "  backup: {} — {}",
        name(&policy.backup),
        policy.backup_means
    );
    let _ = writeln!(
        out,
        "  on_failure: {} — {}; {}",
        name(&policy.on_failure),
        policy.on_failure_means,
        policy.before_change_means
    );
    if let Some(window) = &limits.window {
        let _ = writeln!(
            out,
            "  window: {window} (no host starts outside it, no batch that would not finish inside; hops are checkpoints too)"
        );
    }
    match (r.probed, &play.order_deferred) {
        (true, _) => {
            let _ = writeln!(
                out,
                "  order (after the precheck ran on every host): {}",
                r.order.join(", ")
            );
        }
        (false, Some(why)) => {
            let _ = writeln!(
                out,
                "  order: decided after the precheck ({why}); until then: {}",
                r.order.join(", ")
            );
        }
        (false, None) => {
            let _ = writeln!(out, "  order: {}", r.order.join(", "));
        }
    }
    for stage in &r.stages {
        let what = stage
            .name
            .as_ref()
            .map_or("the rollout".to_string(), |n| format!("stage `{n}`"));
        let _ = writeln!(
            out,
            "  {what}: at most {} host(s) out of service at once ({}); halts after {} failed host(s){}",
            stage.out_of_service,
            stage.out_of_service_why,
            stage.max_failed + 1,
            if stage.confirm {
                "; asks before it starts"
            } else {
                ""
            }
        );
        for round in &stage.rounds {
            let hop = round
                .hop
                .as_ref()
                .map_or(String::new(), |to| format!("hop to {to}: "));
            for (i, batch) in round.batches.iter().enumerate() {
                let _ = writeln!(out, "  {hop}batch {}: {}", i + 1, batch.join(", "));
            }
        }
    }
    if let Some(path) = &r.upgrade_path {
        let (target, note) = path.target_shown.describe();
        let mut stops = path.stops.clone();
        if let Some(every) = &path.every {
            stops.push(format!(
                "every {} version",
                every["unit"].as_str().unwrap_or("minor")
            ));
        }
        let _ = writeln!(
            out,
            "  upgrade path: to {target}{}{}; each host's version from `{}`{}",
            note.map_or(String::new(), |n| format!(" ({n})")),
            if stops.is_empty() {
                String::new()
            } else {
                format!(" through {}", stops.join(", "))
            },
            path.current,
            if r.probed { "" } else { ", read at run time" }
        );
    }
    if let Some(probe) = &r.probe {
        if play.batches.is_empty() && r.problems.is_empty() {
            let _ = writeln!(out, "  nothing to do: every host is up to date");
        }
        for path in &probe.paths {
            let _ = writeln!(
                out,
                "  path: {}: {}",
                path.host,
                super::chain_text(&path.current, &path.hops)
            );
        }
    }
    for problem in &r.problems {
        let _ = writeln!(
            out,
            "  PROBLEM: {}{} (a run would stop before changing anything)",
            problem
                .host
                .as_ref()
                .map_or(String::new(), |h| format!("{h}: ")),
            problem.why
        );
    }
    if !play.tasks.is_empty() {
        let _ = writeln!(out, "  first, on every host:");
        steps(out, &play.tasks, "    ");
    }
    for phase in Phase::ALL {
        let Some(list) = r.phases.get(phase.name()).filter(|l| !l.is_empty()) else {
            continue;
        };
        let heading = match phase {
            Phase::Precheck => "precheck, on every host before anything changes:".to_string(),
            Phase::Rollback => {
                "rollback, when upgrade, migrate, start or verify fails on a host:".to_string()
            }
            Phase::Verify => "verify (the health gate):".to_string(),
            other => format!("{other}:"),
        };
        let _ = writeln!(out, "  {heading}");
        steps(out, list, "    ");
    }
    handlers(out, play);
    for backup in &r.backups {
        for (key, value) in &backup.writes {
            let (text, note) = value.describe();
            let _ = writeln!(
                out,
                "  backup location: {} — {key} {text}{}",
                backup.name.text(),
                note.map_or(String::new(), |n| format!(" ({n})"))
            );
        }
    }
    if !r.chains.is_empty() && r.upgrade_path.is_some() {
        let _ = writeln!(out, "  per host, hop by hop:");
        for chain in &r.chains {
            let _ = writeln!(out, "    {}:", chain.hosts.join(", "));
            for hop in &chain.hop_steps {
                let label = hop.hop.as_ref().map_or(String::new(), |h| {
                    format!("hop {}/{} {} → {}: ", h.index, h.count, h.from, h.to)
                });
                let phases: Vec<String> = hop
                    .steps
                    .iter()
                    .map(|step| {
                        let backup = step.backup.as_ref().map_or(String::new(), |b| {
                            format!(" (taken at {0}: a restore needs {0})", b.taken_at)
                        });
                        format!("{} [{}]{backup}", step.phase, step.tasks.join("; "))
                    })
                    .collect();
                let rollback = if hop.rollback.is_empty() {
                    String::new()
                } else {
                    format!("; if it fails: rollback [{}]", hop.rollback.join("; "))
                };
                let _ = writeln!(out, "      {label}{}{rollback}", phases.join(" → "));
            }
        }
    }
}

fn handlers(out: &mut String, play: &PlayDoc) {
    if play.handlers.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "  handlers ({}):",
        if play.rollout {
            "at the end of the phase that notified them"
        } else {
            "at the end of the play"
        }
    );
    for handler in &play.handlers {
        task_line(out, &handler.task, "    ");
    }
}

fn steps(out: &mut String, list: &[StepDoc], indent: &str) {
    let inner = format!("{indent}    ");
    for step in list {
        match step {
            StepDoc::Task(task) => {
                task_line(out, task, indent);
                if !task.undo.is_empty() {
                    let _ = writeln!(out, "{indent}  undo (once, during a cluster rollback):");
                    steps(out, &task.undo, &inner);
                }
            }
            StepDoc::Block(block) => {
                let _ = writeln!(
                    out,
                    "{indent}- block{} ({}):",
                    block
                        .name
                        .as_ref()
                        .map_or(String::new(), |n| format!(" {n}")),
                    block.location
                );
                steps(out, &block.block, &format!("{indent}  "));
                if !block.rescue.is_empty() {
                    let _ = writeln!(out, "{indent}  rescue (when a step of the block fails):");
                    steps(out, &block.rescue, &inner);
                }
                if !block.always.is_empty() {
                    let _ = writeln!(out, "{indent}  always:");
                    steps(out, &block.always, &inner);
                }
            }
            StepDoc::Include(include) => {
                let _ = writeln!(
                    out,
                    "{indent}- include {} ({})",
                    include.include.text(),
                    include.task.location
                );
                steps(out, &include.steps, &format!("{indent}  "));
            }
        }
    }
}

fn task_line(out: &mut String, task: &TaskDoc, indent: &str) {
    let notes = super::notes(task);
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" [{}]", notes.join("; "))
    };
    let _ = writeln!(
        out,
        "{indent}- {}{notes} ({})",
        task.shown_name.text(),
        task.location
    );
}

//! `drover plan` as text: the plan an operator would write by hand — hosts in order, batches,
//! the limits, and every phase's steps with the rollback — computed without connecting.

use crate::plan::{Plan, PlayPlan};
use crate::playbook::{Phase, Play, Playbook, Task};
use std::fmt::Write as _;

pub fn text(playbook: &Playbook, plan: &Plan) -> String {
    let mut out = String::new();
    for p in &plan.plays {
        let play = &playbook.plays[p.play];
        let title = if p.name.is_empty() {
            &p.pattern
        } else {
            &p.name
        };
        let _ = writeln!(
            out,
            "PLAY [{title}] — hosts `{}`: {} host(s) in {} batch(es)",
            p.pattern,
            p.hosts.len(),
            p.batches.len()
        );
        if p.rollout {
            rollout(&mut out, playbook, play, p);
        } else {
            for (i, batch) in p.batches.iter().enumerate() {
                let _ = writeln!(out, "  batch {}: {}", i + 1, batch.join(", "));
            }
            tasks(&mut out, playbook, &play.tasks, "  ");
        }
        out.push('\n');
    }
    out
}

fn rollout(out: &mut String, playbook: &Playbook, play: &Play, p: &PlayPlan) {
    let Some(rolling) = &play.rolling else {
        return;
    };
    let total = p.hosts.len();
    let limit = |l: Option<crate::playbook::Limit>| match l {
        Some(l) => l.of(total).max(1).to_string(),
        None => "no limit beyond the batch".to_string(),
    };
    let _ = writeln!(
        out,
        "  rollout: max_unavailable {}, max_failed {}, pause {}, verify_timeout {}{}",
        limit(rolling.max_unavailable),
        rolling.max_failed.of(total),
        duration(rolling.pause),
        rolling.verify_timeout.map_or("none".to_string(), duration),
        if rolling.confirm_canary {
            ", confirm after the canary batch"
        } else {
            ""
        }
    );
    if let Some(window) = &rolling.window {
        let _ = writeln!(
            out,
            "  window: {window} (no host starts outside it, no batch that would not finish inside)"
        );
    }
    if let Some(order_by) = rolling.order_by.as_ref().and_then(|n| n.as_str()) {
        let _ = writeln!(out, "  order_by: {order_by}");
    }
    if !rolling.order_groups.is_empty() {
        let _ = writeln!(out, "  order_groups: {}", rolling.order_groups.join(", "));
    }
    match &p.order_deferred {
        Some(why) => {
            let _ = writeln!(
                out,
                "  order: decided after the precheck ({why}); until then: {}",
                p.hosts.join(", ")
            );
        }
        None => {
            let _ = writeln!(out, "  order: {}", p.hosts.join(", "));
        }
    }
    for (i, batch) in p.batches.iter().enumerate() {
        let _ = writeln!(out, "  batch {}: {}", i + 1, batch.join(", "));
    }
    let Some(phases) = &play.phases else {
        return;
    };
    if !play.tasks.is_empty() {
        let _ = writeln!(out, "  first, on every host:");
        tasks(out, playbook, &play.tasks, "    ");
    }
    let sections = [
        (
            Phase::Precheck,
            "precheck, on every host before anything changes:",
        ),
        (Phase::Backup, "then per host, in order — backup:"),
        (Phase::Upgrade, "upgrade:"),
        (Phase::Migrate, "migrate:"),
        (Phase::Verify, "verify (the health gate):"),
        (
            Phase::Rollback,
            "rollback, when upgrade, migrate or verify fails on a host:",
        ),
    ];
    for (phase, heading) in sections {
        let list = phases.get(phase);
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "  {heading}");
        tasks(out, playbook, list, "    ");
    }
}

fn tasks(out: &mut String, playbook: &Playbook, list: &[Task], indent: &str) {
    for task in list {
        let mut notes = Vec::new();
        if task.run_once {
            notes.push("once".to_string());
        }
        if task.until.is_some() {
            notes.push("until".to_string());
        }
        if !task.when.is_empty() {
            notes.push("when".to_string());
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" [{}]", notes.join(", "))
        };
        let _ = writeln!(
            out,
            "{indent}- {}{notes} ({})",
            task.display_name(),
            playbook.source.location(task.span)
        );
    }
}

/// The upgrade plan as a Markdown document: what GitLab's upgrade guide asks an operator to
/// write by hand before touching production — hosts in order, batches, limits, the upgrade
/// path, every phase's steps and the rollback, and a checklist. Offline: versions a precheck
/// reads are shown as "read at run time".
pub fn markdown(playbook: &Playbook, plan: &Plan, inventory: &std::path::Path) -> String {
    let mut out = String::new();
    for p in &plan.plays {
        let play = &playbook.plays[p.play];
        let title = if p.name.is_empty() {
            &p.pattern
        } else {
            &p.name
        };
        let _ = writeln!(out, "# Upgrade plan: {title}\n");
        let _ = writeln!(out, "- Playbook: `{}`", playbook.path.display());
        let _ = writeln!(out, "- Inventory: `{}`", inventory.display());
        let _ = writeln!(
            out,
            "- Hosts: `{}` — {} host(s) in {} batch(es)",
            p.pattern,
            p.hosts.len(),
            p.batches.len()
        );
        if let Some(rolling) = &play.rolling {
            let total = p.hosts.len();
            let _ = writeln!(
                out,
                "- Limits: at most {} host(s) out of service at once; the rollout halts after {} failed host(s)",
                rolling
                    .max_unavailable
                    .map_or(total, |l| l.of(total).max(1)),
                rolling.max_failed.of(total) + 1
            );
            let _ = writeln!(
                out,
                "- Pause between batches: {}; verify deadline per host: {}{}",
                duration(rolling.pause),
                rolling.verify_timeout.map_or("none".to_string(), duration),
                if rolling.confirm_canary {
                    "; the first batch is a canary and needs confirmation"
                } else {
                    ""
                }
            );
            let _ = writeln!(
                out,
                "- Maintenance window: {}",
                rolling.window.as_ref().map_or(
                    "none (any time)".to_string(),
                    |w| format!(
                        "`{w}`; no host starts outside it, no batch starts that would likely not finish inside it, and the run stops (resumable, exit 7) when it closes"
                    )
                )
            );
        }
        out.push('\n');
        let _ = writeln!(out, "## Order and batches\n");
        if let Some(why) = &p.order_deferred {
            let _ = writeln!(
                out,
                "Order decided after the precheck ({why}); inventory order shown.\n"
            );
        }
        let _ = writeln!(out, "| batch | hosts |\n|---|---|");
        for (i, batch) in p.batches.iter().enumerate() {
            let _ = writeln!(out, "| {} | {} |", i + 1, batch.join(", "));
        }
        out.push('\n');
        if let Some(path) = &play.upgrade_path {
            let text = |n: &crate::playbook::Node| n.scalar_text().unwrap_or_default();
            let _ = writeln!(out, "## Upgrade path\n");
            let _ = writeln!(out, "- Target: **{}**", text(&path.target));
            if !path.stops.is_empty() {
                let stops: Vec<String> = path.stops.iter().map(text).collect();
                let _ = writeln!(
                    out,
                    "- Required stops (never skipped): {}",
                    stops.join(" → ")
                );
            }
            if let Some((unit, available)) = &path.every {
                let versions: Vec<String> = available.iter().map(text).collect();
                let _ = writeln!(
                    out,
                    "- A stop at every {unit} version, latest patch, of: {}",
                    versions.join(", ")
                );
            }
            let _ = writeln!(
                out,
                "- Each host's current version: `{}`, read at run time; each host walks its own chain, hop by hop, the verify gate green before the next hop. A host already at the target is left alone; a host above it stops the rollout before anything changes{}.\n",
                text(&path.current),
                if path.allow_downgrade {
                    " (unless downgrades are allowed)"
                } else {
                    ""
                }
            );
        }
        let Some(phases) = &play.phases else {
            let _ = writeln!(out, "## Steps\n");
            md_tasks(&mut out, playbook, &play.tasks);
            continue;
        };
        let _ = writeln!(out, "## Steps\n");
        let sections = [
            (
                Phase::Precheck,
                "Precheck — every host, before anything changes; any failure abandons the rollout",
            ),
            (Phase::Backup, "Backup — per host, first"),
            (Phase::Upgrade, "Upgrade — per host (per hop)"),
            (
                Phase::Migrate,
                "Migrate — per host (per hop); `once` steps run once for the whole rollout",
            ),
            (
                Phase::Verify,
                "Verify — the health gate, per host (per hop)",
            ),
        ];
        for (phase, heading) in sections {
            let list = phases.get(phase);
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(out, "### {heading}\n");
            md_tasks(&mut out, playbook, list);
        }
        let _ = writeln!(out, "## Rollback\n");
        let rollback = phases.get(Phase::Rollback);
        if rollback.is_empty() {
            let _ = writeln!(
                out,
                "No rollback phase: a host that fails stays as it is and the rollout halts.\n"
            );
        } else {
            let _ = writeln!(
                out,
                "Runs on a host whose upgrade, migrate or verify failed, with the facts its backup registered:\n"
            );
            md_tasks(&mut out, playbook, rollback);
        }
        let _ = writeln!(
            out,
            "## Before you start\n\n- [ ] This plan ran in staging first\n- [ ] The backups it takes have been restored in a test\n- [ ] The maintenance window and the people on call are agreed\n- [ ] `drover resume` is how to continue if the run is interrupted\n"
        );
    }
    out
}

fn md_tasks(out: &mut String, playbook: &Playbook, list: &[Task]) {
    for (i, task) in list.iter().enumerate() {
        let args = match task.args.to_json() {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        let args = args.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut notes = Vec::new();
        if task.run_once {
            notes.push("once for the rollout");
        }
        if task.until.is_some() {
            notes.push("retried until it holds");
        }
        if !task.when.is_empty() {
            notes.push("conditional");
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" _({})_", notes.join(", "))
        };
        let _ = writeln!(
            out,
            "{}. {}{notes} — `{}`: `{}` ({})",
            i + 1,
            task.display_name(),
            task.module,
            args.replace('`', "'"),
            playbook.source.location(task.span)
        );
    }
    out.push('\n');
}

fn duration(d: std::time::Duration) -> String {
    if d.is_zero() {
        "none".to_string()
    } else if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

//! `drover plan` as text: the plan an operator would write by hand — hosts in order, batches,
//! the limits, and every phase's steps with the rollback — computed without connecting.

use crate::engine::Probe;
use crate::plan::{Plan, PlayPlan};
use crate::playbook::{Phase, Play, Playbook, Task};
use std::fmt::Write as _;

/// `probes`: what `drover plan` learned by running rollouts' prechecks (empty offline).
pub fn text(playbook: &Playbook, plan: &Plan, probes: &[Probe]) -> String {
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
            let probe = probes.iter().find(|probe| probe.play == p.play);
            rollout(&mut out, playbook, play, p, probe);
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

fn rollout(
    out: &mut String,
    playbook: &Playbook,
    play: &Play,
    p: &PlayPlan,
    probe: Option<&Probe>,
) {
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
    match (probe, &p.order_deferred) {
        (Some(probe), _) => {
            let _ = writeln!(
                out,
                "  order (after the precheck ran on every host): {}",
                probe.order.join(", ")
            );
        }
        (None, Some(why)) => {
            let _ = writeln!(
                out,
                "  order: decided after the precheck ({why}); until then: {}",
                p.hosts.join(", ")
            );
        }
        (None, None) => {
            let _ = writeln!(out, "  order: {}", p.hosts.join(", "));
        }
    }
    let batches = probe.map_or(&p.batches, |probe| &probe.batches);
    for (i, batch) in batches.iter().enumerate() {
        let _ = writeln!(out, "  batch {}: {}", i + 1, batch.join(", "));
    }
    if let Some(path) = &play.upgrade_path {
        let text = |n: &crate::playbook::Node| n.scalar_text().unwrap_or_default();
        let mut stops: Vec<String> = path.stops.iter().map(text).collect();
        if let Some((unit, _)) = &path.every {
            stops.push(format!("every {unit} version"));
        }
        let _ = writeln!(
            out,
            "  upgrade path: to {}{}; each host's version from `{}`{}",
            text(&path.target),
            if stops.is_empty() {
                String::new()
            } else {
                format!(" through {}", stops.join(", "))
            },
            text(&path.current),
            if probe.is_some() {
                ""
            } else {
                ", read at run time"
            }
        );
    }
    if let Some(probe) = probe {
        if batches.is_empty() && probe.problems.is_empty() {
            let _ = writeln!(out, "  nothing to do: every host is up to date");
        }
        for path in &probe.paths {
            let _ = writeln!(out, "  path: {}: {}", path.host, chain_text(path));
        }
        for problem in &probe.problems {
            let _ = writeln!(
                out,
                "  PROBLEM: {}: {} (a run would stop before changing anything)",
                problem.host, problem.why
            );
        }
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
pub fn markdown(
    playbook: &Playbook,
    plan: &Plan,
    inventory: &std::path::Path,
    probes: &[Probe],
) -> String {
    let mut out = String::new();
    for p in &plan.plays {
        let play = &playbook.plays[p.play];
        let probe = probes.iter().find(|probe| probe.play == p.play);
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
        match (probe, &p.order_deferred) {
            (Some(_), _) => {
                let _ = writeln!(
                    out,
                    "Order and batches as computed after the precheck ran on every host (read-only); hosts already at the target or with a problem are not batched.\n"
                );
            }
            (None, Some(why)) => {
                let _ = writeln!(
                    out,
                    "Order decided after the precheck ({why}); inventory order shown.\n"
                );
            }
            (None, None) => {}
        }
        let _ = writeln!(out, "| batch | hosts |\n|---|---|");
        let batches = probe.map_or(&p.batches, |probe| &probe.batches);
        for (i, batch) in batches.iter().enumerate() {
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
            let read = if probe.is_some() {
                "read by the precheck just now"
            } else {
                "read at run time"
            };
            let _ = writeln!(
                out,
                "- Each host's current version: `{}`, {read}; each host walks its own chain, hop by hop, the verify gate green before the next hop. A host already at the target is left alone; a host above it stops the rollout before anything changes{}.\n",
                text(&path.current),
                if path.allow_downgrade {
                    " (unless downgrades are allowed)"
                } else {
                    ""
                }
            );
            if let Some(probe) = probe {
                let _ = writeln!(out, "| host | current | hops |\n|---|---|---|");
                for path in &probe.paths {
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} |",
                        path.host,
                        path.current,
                        chain_text(path)
                    );
                }
                out.push('\n');
            }
        }
        if let Some(probe) = probe.filter(|probe| !probe.problems.is_empty()) {
            let _ = writeln!(
                out,
                "## Problems\n\nA run would stop before changing anything:\n"
            );
            for problem in &probe.problems {
                let _ = writeln!(out, "- **{}**: {}", problem.host, problem.why);
            }
            out.push('\n');
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

/// `1.0 → 1.1 → 2.0`, or `2.0 (up to date)`.
fn chain_text(path: &crate::engine::events::HostPath) -> String {
    if path.hops.is_empty() {
        return format!("{} (up to date)", path.current);
    }
    let mut steps = vec![path.current.clone()];
    steps.extend(path.hops.iter().cloned());
    steps.join(" → ")
}

/// The plan as JSON: per play the hosts and batches, and for a rollout its limits, window,
/// upgrade path, every phase's steps (rollback included) and what a probe learned.
pub fn json(playbook: &Playbook, plan: &Plan, probes: &[Probe]) -> serde_json::Value {
    use serde_json::{Value, json};
    let steps = |list: &[Task]| -> Value {
        list.iter()
            .map(|task| {
                json!({
                    "name": task.display_name(),
                    "module": task.module,
                    "args": task.args.to_json(),
                    "location": playbook.source.location(task.span).to_string(),
                    "run_once": task.run_once,
                    "conditional": !task.when.is_empty(),
                    "retried": task.until.is_some(),
                })
            })
            .collect()
    };
    let plays: Vec<Value> = plan
        .plays
        .iter()
        .map(|p| {
            let play = &playbook.plays[p.play];
            let mut out = serde_json::to_value(p).unwrap_or(Value::Null);
            let Some(obj) = out.as_object_mut() else {
                return out;
            };
            obj.insert("tasks".into(), steps(&play.tasks));
            if let Some(rolling) = &play.rolling {
                let total = p.hosts.len();
                obj.insert(
                    "limits".into(),
                    json!({
                        "max_unavailable": rolling.max_unavailable.map_or(total, |l| l.of(total).max(1)),
                        "max_failed": rolling.max_failed.of(total),
                        "pause_seconds": rolling.pause.as_secs_f64(),
                        "verify_timeout_seconds": rolling.verify_timeout.map(|d| d.as_secs_f64()),
                        "confirm_canary": rolling.confirm_canary,
                        "window": rolling.window.as_ref().map(ToString::to_string),
                    }),
                );
            }
            if let Some(path) = &play.upgrade_path {
                let text = |n: &crate::playbook::Node| n.scalar_text().unwrap_or_default();
                obj.insert(
                    "upgrade_path".into(),
                    json!({
                        "current": text(&path.current),
                        "target": text(&path.target),
                        "stops": path.stops.iter().map(text).collect::<Vec<_>>(),
                        "every": path.every.as_ref().map(|(unit, available)| json!({
                            "unit": unit,
                            "available": available.iter().map(text).collect::<Vec<_>>(),
                        })),
                        "allow_downgrade": path.allow_downgrade,
                    }),
                );
            }
            if let Some(phases) = &play.phases {
                let by_phase: serde_json::Map<String, Value> = Phase::ALL
                    .iter()
                    .map(|phase| (phase.name().to_string(), steps(phases.get(*phase))))
                    .collect();
                obj.insert("phases".into(), Value::Object(by_phase));
            }
            if let Some(probe) = probes.iter().find(|probe| probe.play == p.play) {
                obj.insert(
                    "probe".into(),
                    serde_json::to_value(probe).unwrap_or(Value::Null),
                );
            }
            out
        })
        .collect();
    json!({ "playbook": playbook.path.display().to_string(), "plays": plays })
}

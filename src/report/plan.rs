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

fn duration(d: std::time::Duration) -> String {
    if d.is_zero() {
        "none".to_string()
    } else if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

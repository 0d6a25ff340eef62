//! `drover runs show ID`: the run in a terminal's width, one line per host.

use super::model::RunReport;
use super::svg::seconds;

pub fn render(r: &RunReport) -> String {
    let mut out = format!("run {}\n", r.run_id);
    let mut field = |name: &str, value: &str| out.push_str(&format!("  {name:<10} {value}\n"));
    field("started:", &r.started);
    field(
        "ended:",
        r.ended.as_deref().unwrap_or(if r.exit_code.is_none() {
            "- (still running, or stopped without ending)"
        } else {
            "-"
        }),
    );
    field("playbook:", &r.inputs.playbook);
    field("inventory:", &r.inputs.inventory.join(", "));
    field("limit:", r.inputs.limit.as_deref().unwrap_or("-"));
    if let Some(window) = &r.inputs.window {
        field("window:", window);
    }
    let by = match (&r.inputs.user, &r.inputs.control_host) {
        (Some(u), Some(h)) => format!("{u}@{h}"),
        (Some(u), None) => u.clone(),
        (None, Some(h)) => h.clone(),
        (None, None) => "-".into(),
    };
    field("by:", &by);
    field("outcome:", &r.outcome);
    if let Some(rollout) = &r.rollout {
        if let Some(halt) = &rollout.halted {
            field("reason:", &halt.reason);
        }
        if !rollout.untouched.is_empty() {
            field("untouched:", &rollout.untouched.join(", "));
        }
        field(
            "limits:",
            &format!(
                "in flight {} of max_unavailable {}; failed {} of max_failed {}",
                rollout.max_in_flight,
                rollout.max_unavailable,
                rollout.failures,
                rollout.max_failed
            ),
        );
    }
    field(
        "journal:",
        &format!(
            "{}{}",
            r.journal,
            if r.torn_tail {
                " (torn last line ignored)"
            } else {
                ""
            }
        ),
    );
    for host in &r.hosts {
        let mut steps: Vec<String> = host
            .phases
            .iter()
            .map(|p| {
                let state = match p.ok {
                    Some(true) => "ok",
                    Some(false) => "FAILED",
                    None if p.interrupted => "interrupted (resumed)",
                    None => "running",
                };
                let hop = p
                    .hop
                    .as_deref()
                    .map(|h| format!(" [{h}]"))
                    .unwrap_or_default();
                let took = p
                    .duration_ms
                    .map(|ms| format!(" ({})", seconds(ms)))
                    .unwrap_or_default();
                format!("{}{hop} {state}{took}", p.phase)
            })
            .collect();
        if let Some(outcome) = host.outcome {
            steps.push(format!("=> {}", outcome.name()));
        }
        let versions = match (&host.version_before, &host.version_after) {
            (Some(b), Some(a)) => format!(" [{b} -> {a}]"),
            (Some(b), None) => format!(" [{b} -> ?]"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "  {}{versions}: {}\n",
            host.host,
            steps.join(", ")
        ));
        if let Some(failure) = &host.failure {
            out.push_str(&format!(
                "      failed in {}{}{}\n",
                failure.phase,
                failure
                    .task
                    .as_deref()
                    .map(|t| format!(" at {t}"))
                    .unwrap_or_default(),
                failure
                    .message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ));
        }
        for backup in &host.backups {
            out.push_str(&format!(
                "      backup {}: {}{}\n",
                backup.name,
                backup.path,
                match super::model::checksum_and_size(backup) {
                    what if what.is_empty() => what,
                    what => format!(" ({what})"),
                }
            ));
        }
    }
    out
}

//! The run report in Markdown (a merge request, a wiki, a ticket): the same content as the
//! HTML page, the timeline as an SVG file beside it.

use super::html::{clock, versions};
use super::model::RunReport;
use super::svg::seconds;
use std::fmt::Write;

/// A table cell: pipes and newlines would break the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

pub fn render(r: &RunReport, timeline: Option<&str>) -> String {
    let mut m = format!("# drover run {} — {}\n\n", r.run_id, r.outcome);
    let i = &r.inputs;
    let _ = writeln!(m, "| | |\n|---|---|");
    let mut row = |k: &str, v: &str| {
        let _ = writeln!(m, "| {k} | {} |", cell(v));
    };
    row("playbook", &format!("`{}`", i.playbook));
    row("inventory", &i.inventory.join(", "));
    row("limit", i.limit.as_deref().unwrap_or("-"));
    row("window", i.window.as_deref().unwrap_or("-"));
    row(
        "ran by",
        &format!(
            "{}@{} in `{}`",
            i.user.as_deref().unwrap_or("?"),
            i.control_host.as_deref().unwrap_or("?"),
            i.cwd.as_deref().unwrap_or("-")
        ),
    );
    row("started", &r.started);
    row("ended", r.ended.as_deref().unwrap_or("- (not ended)"));
    if let Some(rollout) = &r.rollout {
        row(
            "limits",
            &format!(
                "most in flight {} of max_unavailable {}; failed {} of max_failed {}",
                rollout.max_in_flight,
                rollout.max_unavailable,
                rollout.failures,
                rollout.max_failed
            ),
        );
        if let Some(halt) = &rollout.halted {
            row("stopped", &halt.reason);
        }
        if !rollout.untouched.is_empty() {
            row("untouched", &rollout.untouched.join(", "));
        }
    }
    if let Some(file) = timeline {
        let _ = writeln!(
            m,
            "\n## Timeline\n\n![timeline of run {}]({file})",
            r.run_id
        );
    }
    m.push_str("\n## Hosts\n\n| # | host | batch | outcome | version | phases | failure |\n|---|---|---|---|---|---|---|\n");
    for h in &r.hosts {
        let phases: Vec<String> = h
            .phases
            .iter()
            .map(|p| {
                format!(
                    "{}{} {}",
                    p.phase,
                    if p.ok == Some(false) { " ✗" } else { "" },
                    p.duration_ms.map(seconds).unwrap_or_default()
                )
            })
            .collect();
        let failure = h
            .failure
            .as_ref()
            .map(|f| {
                format!(
                    "{}{}{}",
                    f.phase,
                    f.task
                        .as_deref()
                        .map(|t| format!(" at {t}"))
                        .unwrap_or_default(),
                    f.message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} |",
            h.order,
            cell(&h.host),
            h.batch.map_or("-".into(), |b| b.to_string()),
            h.outcome.map_or("-", |o| o.name()),
            cell(&versions(h)),
            cell(&phases.join(", ")),
            cell(&failure)
        );
    }
    for h in &r.hosts {
        if h.phases.is_empty() {
            continue;
        }
        let _ = writeln!(
            m,
            "\n### {}\n\n| phase | hop | start | end | took | result |\n|---|---|---|---|---|---|",
            h.host
        );
        for p in &h.phases {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {} |",
                p.phase,
                cell(p.hop.as_deref().unwrap_or("")),
                clock(p.start.as_deref()),
                clock(p.end.as_deref()),
                p.duration_ms.map(seconds).unwrap_or_default(),
                match p.ok {
                    Some(true) => "ok",
                    Some(false) => "**failed**",
                    None if p.interrupted => "interrupted (resumed)",
                    None => "running",
                }
            );
        }
        for b in &h.backups {
            let _ = writeln!(
                m,
                "\nBackup `{}`: `{}`{}",
                b.name,
                b.path,
                match super::model::checksum_and_size(b) {
                    what if what.is_empty() => what,
                    what => format!(" ({what})"),
                }
            );
        }
    }
    let _ = writeln!(m, "\n_Journal: `{}`_", r.journal);
    m
}

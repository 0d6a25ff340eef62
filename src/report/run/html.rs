//! The run report as one self-contained HTML page: no script, no font, no image fetched
//! (the timeline is inline SVG), readable on a phone (one column under 700 px) and printable
//! (no backgrounds needed, rows never split across pages).

use super::model::{HostStory, RunReport, failed};
use super::svg::{self, esc, seconds};
use crate::engine::HostOutcome;
use std::fmt::Write;

const STYLE: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2329;
  margin: 0 auto; padding: 16px; max-width: 1100px; background: #fff; }
h1 { font-size: 1.4em; margin: 0 0 4px; } h2 { font-size: 1.15em; margin: 28px 0 8px; border-bottom: 1px solid #dde; padding-bottom: 4px; }
.sub { color: #555; margin: 0 0 16px; word-break: break-all; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; }
.card { border: 1px solid #dde1e6; border-radius: 8px; padding: 10px 12px; }
.card b { display: block; font-size: 1.3em; } .card span { color: #555; font-size: .85em; }
.outcome { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; font-size: .85em; }
.good { background: #d8f3dc; color: #1b4332; } .warn { background: #ffe8cc; color: #7a3e00; } .bad { background: #ffd6d6; color: #7d0000; } .idle { background: #e9ecef; color: #333; }
table { border-collapse: collapse; width: 100%; font-size: .92em; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #e5e8eb; vertical-align: top; }
th { background: #f4f6f8; font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0; }
dt { color: #555; } dd { margin: 0; word-break: break-word; }
code { font: .9em ui-monospace, SFMono-Regular, Menlo, monospace; background: #f4f6f8; padding: 0 3px; border-radius: 3px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
.failure { color: #7d0000; } .timeline-box { overflow-x: auto; border: 1px solid #dde1e6; border-radius: 8px; padding: 4px; }
.host { break-inside: avoid; border: 1px solid #dde1e6; border-radius: 8px; padding: 10px 12px; margin: 10px 0; }
.host h3 { margin: 0 0 6px; font-size: 1.05em; }
@media (max-width: 700px) { body { padding: 10px; font-size: 14px; } dl { grid-template-columns: 1fr; } dt { margin-top: 6px; }
  .wide { display: block; overflow-x: auto; } .wide table { min-width: 620px; }
  .timeline-box svg { min-width: 760px; } }
@media print { body { max-width: none; padding: 0; } .timeline-box { overflow: visible; border: none; }
  h2 { break-after: avoid; } tr, .host { break-inside: avoid; } }
"#;

pub fn render(r: &RunReport) -> String {
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>drover run {id}</title><style>{STYLE}</style></head><body>\n\
         <h1>Run {id} <span class=\"outcome {class}\">{outcome}</span></h1>\n\
         <p class=\"sub\">{playbook} · started {started}{ended}</p>",
        id = esc(&r.run_id),
        class = run_class(r),
        outcome = esc(&r.outcome),
        playbook = esc(&r.inputs.playbook),
        started = esc(&r.started),
        ended = r
            .ended
            .as_deref()
            .map(|e| format!(" · ended {}", esc(e)))
            .unwrap_or_else(|| " · not ended".into()),
    );
    cards(&mut h, r);
    if let Some(picture) = svg::timeline(r) {
        let _ = writeln!(
            h,
            "<h2>Timeline</h2>\n<div class=\"timeline-box\">{picture}</div>"
        );
    }
    hosts_table(&mut h, r);
    inputs(&mut h, r);
    h.push_str("<h2>Hosts in detail</h2>\n");
    for host in &r.hosts {
        host_detail(&mut h, host);
    }
    let _ = writeln!(
        h,
        "<p class=\"sub\">Journal: <code>{}</code>{} · written by drover {}</p>\n</body></html>",
        esc(&r.journal),
        if r.torn_tail {
            " (its torn last line was ignored)"
        } else {
            ""
        },
        env!("CARGO_PKG_VERSION")
    );
    h
}

fn run_class(r: &RunReport) -> &'static str {
    match r.exit_code {
        Some(0) => "good",
        None | Some(7 | 8 | 99) => "idle",
        Some(6) => "warn",
        Some(_) => "bad",
    }
}

fn outcome_class(outcome: Option<HostOutcome>) -> &'static str {
    match outcome {
        None | Some(HostOutcome::Untouched) => "idle",
        Some(HostOutcome::RolledBack | HostOutcome::Failed | HostOutcome::Paused) => "warn",
        Some(o) if failed(o) => "bad",
        Some(_) => "good",
    }
}

fn cards(h: &mut String, r: &RunReport) {
    let done = r.hosts.iter().filter(|x| x.outcome.is_some()).count();
    let rolled = r.hosts.iter().filter(|x| x.rolled_back()).count();
    h.push_str("<div class=\"cards\">\n");
    let mut card = |value: String, label: &str| {
        let _ = writeln!(
            h,
            "<div class=\"card\"><b>{}</b><span>{label}</span></div>",
            esc(&value)
        );
    };
    card(format!("{done} / {}", r.hosts.len()), "hosts done");
    if let Some(rollout) = &r.rollout {
        card(
            format!("{} / {}", rollout.failures, rollout.max_failed),
            "failed / max_failed",
        );
        card(rolled.to_string(), "rolled back");
        card(
            format!("{} / {}", rollout.max_in_flight, rollout.max_unavailable),
            "most in flight / max_unavailable",
        );
        card(rollout.untouched.len().to_string(), "untouched");
    }
    if let Some((a, b)) = r.span() {
        card(
            seconds((b.as_millisecond() - a.as_millisecond()).max(0) as u64),
            "duration",
        );
    }
    h.push_str("</div>\n");
    if let Some(halt) = r.rollout.as_ref().and_then(|x| x.halted.as_ref()) {
        let _ = writeln!(
            h,
            "<p class=\"failure\"><b>Stopped:</b> {} <small>({})</small></p>",
            esc(&halt.reason),
            esc(&halt.at)
        );
    }
    if let Some(rollout) = &r.rollout
        && !rollout.untouched.is_empty()
    {
        let _ = writeln!(
            h,
            "<p><b>Untouched:</b> {}</p>",
            esc(&rollout.untouched.join(", "))
        );
    }
}

fn hosts_table(h: &mut String, r: &RunReport) {
    h.push_str(
        "<h2>Hosts</h2>\n<div class=\"wide\"><table><thead><tr><th>#</th><th>host</th><th>batch</th>\
         <th>outcome</th><th>version</th><th>phases</th><th>time</th></tr></thead><tbody>\n",
    );
    for host in &r.hosts {
        let took: u64 = host.phases.iter().filter_map(|p| p.duration_ms).sum();
        let phases: Vec<String> = host
            .phases
            .iter()
            .map(|p| {
                format!(
                    "<span class=\"swatch\" style=\"background:{}\"></span>{}{}",
                    svg::colour(p.phase),
                    p.phase,
                    if p.ok == Some(false) { " ✗" } else { "" }
                )
            })
            .collect();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><span class=\"outcome {}\">{}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            host.order,
            esc(&host.host),
            host.batch.map_or("-".into(), |b| b.to_string()),
            outcome_class(host.outcome),
            host.outcome.map_or("running / not started", |o| o.name()),
            esc(&versions(host)),
            phases.join(" ")
                + &host
                    .failure
                    .as_ref()
                    .map(|f| {
                        format!(
                            "<div class=\"failure\">{}: {}</div>",
                            f.phase,
                            esc(f.message.as_deref().unwrap_or("failed"))
                        )
                    })
                    .unwrap_or_default(),
            if took == 0 { "-".into() } else { seconds(took) }
        );
    }
    h.push_str("</tbody></table></div>\n");
}

pub(super) fn versions(host: &HostStory) -> String {
    match (&host.version_before, &host.version_after) {
        (Some(b), Some(a)) if b == a => b.clone(),
        (Some(b), Some(a)) => format!("{b} → {a}"),
        (Some(b), None) => format!("{b} → ?"),
        _ => "-".into(),
    }
}

fn inputs(h: &mut String, r: &RunReport) {
    let i = &r.inputs;
    h.push_str("<h2>Inputs</h2>\n<dl>\n");
    let mut row = |k: &str, v: &str| {
        let _ = writeln!(h, "<dt>{k}</dt><dd>{}</dd>", esc(v));
    };
    row("playbook", &i.playbook);
    row("inventory", &i.inventory.join(", "));
    row("limit", i.limit.as_deref().unwrap_or("-"));
    row("window", i.window.as_deref().unwrap_or("-"));
    if !i.tags.is_empty() || !i.skip_tags.is_empty() {
        row(
            "tags",
            &format!("{} / skip {}", i.tags.join(","), i.skip_tags.join(",")),
        );
    }
    row(
        "ran by",
        &format!(
            "{}@{}",
            i.user.as_deref().unwrap_or("?"),
            i.control_host.as_deref().unwrap_or("?")
        ),
    );
    row("in", i.cwd.as_deref().unwrap_or("-"));
    row("forks", &i.forks.to_string());
    if !i.extra_vars.is_empty() {
        row(
            "extra vars",
            &serde_json::to_string(&i.extra_vars).unwrap_or_default(),
        );
    }
    if !r.resumes.is_empty() {
        row("resumed", &r.resumes.join(", "));
    }
    if let Some(rollout) = &r.rollout {
        row(
            "batches",
            &rollout
                .batches
                .iter()
                .map(|b| format!("{}: {}", b.index, b.hosts.join(" ")))
                .collect::<Vec<_>>()
                .join(" | "),
        );
    }
    h.push_str("</dl>\n");
}

fn host_detail(h: &mut String, host: &HostStory) {
    let _ = writeln!(
        h,
        "<div class=\"host\"><h3>{}. {} <span class=\"outcome {}\">{}</span></h3>",
        host.order,
        esc(&host.host),
        outcome_class(host.outcome),
        host.outcome.map_or("running / not started", |o| o.name())
    );
    if !host.hops.is_empty() || host.version_before.is_some() {
        let chain = std::iter::once(host.version_before.clone().unwrap_or_default())
            .chain(host.hops.iter().cloned())
            .collect::<Vec<_>>()
            .join(" → ");
        let _ = writeln!(
            h,
            "<p>Hop chain: <code>{}</code> · before <code>{}</code>, after <code>{}</code></p>",
            esc(&chain),
            esc(host.version_before.as_deref().unwrap_or("-")),
            esc(host.version_after.as_deref().unwrap_or("-"))
        );
    }
    if let Some(f) = &host.failure {
        let _ = writeln!(
            h,
            "<p class=\"failure\"><b>Failed in {}</b>{}{}</p>",
            f.phase,
            f.task
                .as_deref()
                .map(|t| format!(" at <code>{}</code>", esc(t)))
                .unwrap_or_default(),
            f.message
                .as_deref()
                .map(|m| format!(": {}", esc(m)))
                .unwrap_or_default()
        );
    }
    if host.rolled_back() {
        let ok = host
            .phases
            .iter()
            .rev()
            .find(|p| p.phase == crate::playbook::Phase::Rollback)
            .and_then(|p| p.ok);
        let _ = writeln!(
            h,
            "<p>Rollback: {}</p>",
            match ok {
                Some(true) => "ran and passed: the host is back on its backup",
                Some(false) => "FAILED: the host needs a human",
                None => "running",
            }
        );
    }
    if !host.phases.is_empty() {
        h.push_str("<div class=\"wide\"><table><thead><tr><th>phase</th><th>hop</th><th>start</th><th>end</th><th>took</th><th></th></tr></thead><tbody>\n");
        for p in &host.phases {
            let _ = writeln!(
                h,
                "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                svg::colour(p.phase),
                p.phase,
                esc(p.hop.as_deref().unwrap_or("")),
                esc(&clock(p.start.as_deref())),
                esc(&clock(p.end.as_deref())),
                p.duration_ms.map(seconds).unwrap_or_default(),
                match p.ok {
                    Some(true) => "ok",
                    Some(false) => "<b class=\"failure\">failed</b>",
                    None if p.interrupted => "interrupted (resumed)",
                    None => "running",
                }
            );
        }
        h.push_str("</tbody></table></div>\n");
    }
    for b in &host.backups {
        let _ = writeln!(
            h,
            "<p>Backup <code>{}</code>: <code>{}</code>{}</p>",
            esc(&b.name),
            esc(&b.path),
            match super::model::checksum_and_size(b) {
                what if what.is_empty() => what,
                what => format!(" ({})", esc(&what)),
            }
        );
    }
    h.push_str("</div>\n");
}

/// `17:02:03.120` of an RFC 3339 instant (the date is in the page's header).
pub(super) fn clock(at: Option<&str>) -> String {
    match at.and_then(super::model::instant) {
        Some(t) => t.strftime("%H:%M:%S%.3f").to_string(),
        None => "-".into(),
    }
}

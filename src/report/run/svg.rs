//! The timeline picture: one row per host, each phase a coloured bar on a shared time axis,
//! hop starts marked, failed phases red-edged with a cross, rollbacks in their own colour,
//! batch starts and maintenance-window edges as vertical lines. Plain SVG 1.1 with no
//! script and no external reference, so it renders the same inline in HTML, as a file
//! beside Markdown, and on paper.

use super::model::{HostStory, PhaseSpan, RunReport, instant};
use crate::playbook::Phase;
use jiff::Timestamp;
use std::fmt::Write;

const WIDTH: f64 = 960.0;
const LABEL: f64 = 150.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 44.0;
const ROW: f64 = 26.0;
const BAR: f64 = 16.0;

/// A phase's colour (kept in step with the legend and the HTML's table swatches).
pub fn colour(phase: Phase) -> &'static str {
    match phase {
        Phase::Precheck => "#8d99ae",
        Phase::Stop => "#b08968",
        Phase::Backup => "#3a86ff",
        Phase::Upgrade => "#8338ec",
        Phase::Migrate => "#ff006e",
        Phase::Start => "#2a9d8f",
        Phase::Verify => "#38b000",
        Phase::Rollback => "#fb8500",
    }
}

pub const FAILED: &str = "#d00000";

/// The picture for `report`; `None` when no phase has a time (an old journal).
pub fn timeline(report: &RunReport) -> Option<String> {
    let (first, last) = report.span()?;
    let total = (last.as_millisecond() - first.as_millisecond()).max(1) as f64;
    let plot = WIDTH - LABEL - RIGHT;
    let x = |t: Timestamp| {
        LABEL + plot * ((t.as_millisecond() - first.as_millisecond()) as f64 / total)
    };
    let rows = report.hosts.len().max(1) as f64;
    let height = TOP + rows * ROW + 56.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" aria-labelledby="timeline-title" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">"#
    );
    let _ = write!(
        svg,
        r##"<title id="timeline-title">Timeline of run {}</title><rect width="{WIDTH}" height="{height}" fill="#ffffff"/>"##,
        esc(&report.run_id)
    );
    // Zebra rows and host names.
    for (i, host) in report.hosts.iter().enumerate() {
        let y = TOP + i as f64 * ROW;
        if i % 2 == 1 {
            let _ = write!(
                svg,
                r##"<rect x="0" y="{y}" width="{WIDTH}" height="{ROW}" fill="#f4f6f8"/>"##
            );
        }
        let _ = write!(
            svg,
            r##"<text x="8" y="{:.1}" fill="#222">{}</text>"##,
            y + ROW / 2.0 + 4.0,
            esc(&host.host)
        );
    }
    axis(&mut svg, first, total, plot, TOP + rows * ROW);
    // Batch starts and window edges behind the bars.
    if let Some(rollout) = &report.rollout {
        for batch in &rollout.batches {
            if let Some(at) = batch.started.as_deref().and_then(instant) {
                let bx = x(at);
                let _ = write!(
                    svg,
                    r##"<line class="batch" x1="{bx:.1}" y1="{:.1}" x2="{bx:.1}" y2="{:.1}" stroke="#555" stroke-dasharray="4 3"/><text x="{:.1}" y="{:.1}" fill="#555" font-size="10">batch {}</text>"##,
                    TOP - 6.0,
                    TOP + rows * ROW,
                    bx + 2.0,
                    TOP - 8.0,
                    batch.index
                );
            }
        }
        if let Some(halt) = &rollout.halted
            && let Some(at) = instant(&halt.at)
        {
            let hx = x(at);
            let _ = write!(
                svg,
                r##"<line class="halt" x1="{hx:.1}" y1="{:.1}" x2="{hx:.1}" y2="{:.1}" stroke="{FAILED}" stroke-width="2"><title>halted: {}</title></line>"##,
                TOP - 6.0,
                TOP + rows * ROW,
                esc(&halt.reason)
            );
        }
    }
    for edge in &report.window_edges {
        if let Some(at) = instant(&edge.at) {
            let ex = x(at);
            let (word, stroke) = if edge.opens {
                ("window opens", "#2d6a4f")
            } else {
                ("window closes", "#9d0208")
            };
            let _ = write!(
                svg,
                r#"<line class="window-edge" x1="{ex:.1}" y1="18" x2="{ex:.1}" y2="{:.1}" stroke="{stroke}" stroke-width="2" stroke-dasharray="8 3"/><text x="{:.1}" y="16" fill="{stroke}" font-size="10">{word}</text>"#,
                TOP + rows * ROW,
                ex + 2.0
            );
        }
    }
    for (i, host) in report.hosts.iter().enumerate() {
        let y = TOP + i as f64 * ROW + (ROW - BAR) / 2.0;
        bars(&mut svg, host, y, &x, last);
    }
    let present: Vec<Phase> = Phase::ALL
        .into_iter()
        .filter(|p| {
            report
                .hosts
                .iter()
                .any(|h| h.phases.iter().any(|s| s.phase == *p))
        })
        .collect();
    legend(&mut svg, height - 18.0, &present);
    svg.push_str("</svg>");
    Some(svg)
}

fn bars(
    svg: &mut String,
    host: &HostStory,
    y: f64,
    x: &impl Fn(Timestamp) -> f64,
    last: Timestamp,
) {
    let mut previous_hop: Option<&str> = None;
    for span in &host.phases {
        let Some((start, end)) = times(span, last) else {
            continue;
        };
        let (x0, x1) = (x(start), x(end));
        let w = (x1 - x0).max(2.0);
        let failed = span.ok == Some(false);
        let fill = colour(span.phase);
        let stroke = if failed {
            format!(r#" stroke="{FAILED}" stroke-width="2""#)
        } else if span.interrupted {
            // Cut short by a crash or kill: faded, dashed; the resumed run's bar follows.
            r##" fill-opacity="0.4" stroke="#555" stroke-dasharray="3 2""##.to_string()
        } else {
            String::new()
        };
        let state = match span.ok {
            Some(true) => "ok",
            Some(false) => "failed",
            None if span.interrupted => "interrupted",
            None => "running",
        };
        let hop = span
            .hop
            .as_deref()
            .map(|h| format!(" {h}"))
            .unwrap_or_default();
        let _ = write!(
            svg,
            r#"<rect class="phase phase-{phase} {state}" data-host="{host}" data-phase="{phase}" x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="{BAR}" rx="2" fill="{fill}"{stroke}><title>{host}: {phase}{hop_t} — {state}, {secs}</title></rect>"#,
            phase = span.phase.name(),
            host = esc(&host.host),
            hop_t = esc(&hop),
            secs = seconds(span.duration_ms.unwrap_or_else(|| {
                (end.as_millisecond() - start.as_millisecond()).max(0) as u64
            })),
        );
        if failed {
            // On the failed bar itself: the next bar (the rollback) starts where it ends.
            let cx = x0 + w / 2.0;
            let _ = write!(
                svg,
                r##"<text class="failed-mark" x="{cx:.1}" y="{:.1}" fill="{FAILED}" font-weight="bold" font-size="13" text-anchor="middle" stroke="#fff" stroke-width="3" paint-order="stroke">✗</text>"##,
                y + BAR - 3.0
            );
        }
        // A hop starts where its first phase does: mark it with the version it goes to.
        if let Some(label) = span.hop.as_deref()
            && previous_hop != Some(label)
        {
            previous_hop = Some(label);
            let to = label.rsplit(" → ").next().unwrap_or(label);
            let _ = write!(
                svg,
                r##"<path class="hop" d="M{x0:.1} {:.1} l4 -6 l-8 0 z" fill="#222"><title>hop {}</title></path><text x="{:.1}" y="{:.1}" fill="#222" font-size="9">→{}</text>"##,
                y - 1.0,
                esc(label),
                x0 + 5.0,
                y - 1.5,
                esc(to)
            );
        }
    }
}

/// A phase's start and end; one still running ends at the report's last instant.
fn times(span: &PhaseSpan, last: Timestamp) -> Option<(Timestamp, Timestamp)> {
    let start = span.start.as_deref().and_then(instant);
    let end = span.end.as_deref().and_then(instant);
    let duration = span
        .duration_ms
        .map(|ms| jiff::SignedDuration::from_millis(ms as i64));
    match (start, end, duration) {
        (Some(s), Some(e), _) => Some((s, e)),
        (Some(s), None, Some(d)) => Some((s, s.checked_add(d).ok()?)),
        (Some(s), None, None) => Some((s, last.max(s))),
        (None, Some(e), Some(d)) => Some((e.checked_sub(d).ok()?, e)),
        _ => None,
    }
}

/// Ticks at a round step (1 s … 1 h) fitting about eight on the axis.
fn axis(svg: &mut String, first: Timestamp, total_ms: f64, plot: f64, bottom: f64) {
    let steps = [
        1_000.0,
        2_000.0,
        5_000.0,
        10_000.0,
        15_000.0,
        30_000.0,
        60_000.0,
        120_000.0,
        300_000.0,
        600_000.0,
        900_000.0,
        1_800_000.0,
        3_600_000.0,
        7_200_000.0,
    ];
    let step = steps
        .iter()
        .copied()
        .find(|s| total_ms / s <= 8.0)
        .unwrap_or(3_600_000.0 * ((total_ms / 3_600_000.0 / 8.0).ceil()));
    let _ = write!(
        svg,
        r##"<line x1="{LABEL}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="#888"/>"##,
        LABEL + plot
    );
    let mut t = 0.0;
    while t <= total_ms + 1.0 && t / step < 50.0 {
        let tx = LABEL + plot * (t / total_ms);
        let _ = write!(
            svg,
            r##"<line x1="{tx:.1}" y1="{TOP}" x2="{tx:.1}" y2="{:.1}" stroke="#e0e0e0"/><text x="{tx:.1}" y="{:.1}" fill="#555" font-size="10" text-anchor="middle">+{}</text>"##,
            bottom + 4.0,
            bottom + 16.0,
            offset(t as u64)
        );
        t += step;
    }
    let _ = write!(
        svg,
        r##"<text x="{LABEL}" y="{:.1}" fill="#555" font-size="10">start {}</text>"##,
        TOP - 26.0,
        esc(&first.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
    );
}

fn legend(svg: &mut String, y: f64, phases: &[Phase]) {
    let mut x = LABEL;
    for &phase in phases {
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{:.1}" width="12" height="12" rx="2" fill="{}"/><text x="{:.1}" y="{y:.1}" fill="#333" font-size="11">{}</text>"##,
            y - 10.0,
            colour(phase),
            x + 16.0,
            phase.name()
        );
        x += 22.0 + 7.0 * phase.name().len() as f64;
    }
    let _ = write!(
        svg,
        r##"<rect x="{x:.1}" y="{:.1}" width="12" height="12" rx="2" fill="#fff" stroke="{FAILED}" stroke-width="2"/><text x="{:.1}" y="{y:.1}" fill="#333" font-size="11">failed</text>"##,
        y - 10.0,
        x + 16.0
    );
}

/// `1m05s`, `12s`, `1h02m` since the start.
pub fn offset(ms: u64) -> String {
    let s = ms / 1000;
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

pub fn seconds(ms: u64) -> String {
    if ms >= 60_000 {
        offset(ms)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// Text for XML and HTML.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

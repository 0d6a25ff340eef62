//! The run report: what a journaled run did, for the team, a change board or a support
//! ticket. [`RunReport::from_log`] reads a journal (finished or still running);
//! [`render`] writes it as text (the default of `drover runs show`), Markdown (with the
//! timeline as an SVG file beside it), a self-contained HTML page, or JSON. Everything
//! rendered passes the run's redactor: a secret never reaches a report.

mod html;
mod markdown;
pub mod model;
pub mod svg;
mod text;

pub use model::RunReport;

/// `drover runs show ID --format …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Text,
    Markdown,
    Html,
    Json,
}

/// The report in `format`. For Markdown, `timeline` names the SVG file the page shows
/// (written by the caller beside it, from [`svg::timeline`]).
pub fn render(report: &RunReport, format: ReportFormat, timeline: Option<&str>) -> String {
    let text = match format {
        ReportFormat::Text => text::render(report),
        ReportFormat::Markdown => markdown::render(report, timeline),
        ReportFormat::Html => html::render(report),
        ReportFormat::Json => {
            let mut json = serde_json::to_string_pretty(report).unwrap_or_default();
            json.push('\n');
            json
        }
    };
    crate::sensitive::redact(&text).into_owned()
}

/// The picture alone, redacted (host names and hop labels are all it holds).
pub fn timeline(report: &RunReport) -> Option<String> {
    svg::timeline(report).map(|s| crate::sensitive::redact(&s).into_owned())
}

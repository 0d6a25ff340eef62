//! `drover runs` (the table of past runs, or JSON) and `drover runs show ID` (one run's
//! report as text, Markdown, HTML or JSON), and the HTML report written at the end of every
//! journaled run. Reads journals only; a run still in progress reads as far as it got.

use clap::{Args, Subcommand, ValueEnum};
use drover::engine::HostOutcome;
use drover::journal::{self, RunLog};
use drover::report::run::{self, ReportFormat, RunReport};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::{CliError, OutputArg, StateArgs};

#[derive(Args, Debug)]
pub(super) struct RunsArgs {
    #[command(subcommand)]
    action: Option<RunsAction>,
    #[command(flatten)]
    pub(super) state: StateArgs,
    /// `human`: an aligned table; `json`: one object per run, for scripts.
    #[arg(long, value_enum, default_value = "human")]
    output: OutputArg,
}

#[derive(Subcommand, Debug)]
enum RunsAction {
    /// One run's report: its inputs, what each host went through (phases with times, hops,
    /// versions, backups, the failure and the rollback), the limits, the outcome.
    Show {
        run_id: String,
        /// `text` for the terminal, `markdown` (its timeline as an SVG file beside it),
        /// `html` (one self-contained page with the timeline), `json`.
        #[arg(long, value_enum, default_value = "text")]
        format: FormatArg,
        /// Write the report to this file instead of stdout (Markdown: the timeline goes
        /// beside it, as FILE's name with `.svg`).
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FormatArg {
    Text,
    Markdown,
    Html,
    Json,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RunsError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub(super) fn runs(args: RunsArgs, dir: &Path) -> Result<u8, CliError> {
    match args.action {
        None => list(dir, args.output),
        Some(RunsAction::Show {
            run_id,
            format,
            out,
        }) => show(dir, &run_id, format, out.as_deref()),
    }
}

fn list(dir: &Path, output: OutputArg) -> Result<u8, CliError> {
    let logs = journal::list(dir)?;
    let reports: Vec<RunReport> = logs.iter().map(RunReport::from_log).collect();
    if let OutputArg::Json = output {
        let mut out = String::new();
        for r in &reports {
            let row = serde_json::json!({
                "run_id": r.run_id,
                "started": r.started,
                "ended": r.ended,
                "exit_code": r.exit_code,
                "outcome": r.outcome,
                "playbook": r.inputs.playbook,
                "hosts": r.hosts.len(),
                "done": r.hosts.iter().filter(|h| h.outcome.is_some()).count(),
                "failed": failed_count(r),
                "journal": r.journal,
            });
            out.push_str(&row.to_string());
            out.push('\n');
        }
        print!("{}", drover::sensitive::redact(&out));
        return Ok(0);
    }
    if logs.is_empty() {
        super::note(&format!(
            "no runs in {} (looked in {}); runs journal there by default, or give --state-dir / DROVER_STATE_DIR",
            dir.display(),
            absolute(&dir.join("runs")).display()
        ));
        return Ok(0);
    }
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let now = jiff::Timestamp::now();
    let rows: Vec<[String; 7]> = reports
        .iter()
        .map(|r| {
            [
                r.run_id.clone(),
                human_time(&r.started, now),
                took(r),
                r.outcome.clone(),
                format!(
                    "{}/{}",
                    r.hosts.iter().filter(|h| h.outcome.is_some()).count(),
                    r.hosts.len()
                ),
                failed_count(r).to_string(),
                r.inputs.playbook.clone(),
            ]
        })
        .collect();
    let head = [
        "RUN", "STARTED", "TOOK", "OUTCOME", "DONE", "FAILED", "PLAYBOOK",
    ];
    let widths: Vec<usize> = (0..head.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([head[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String; 7], paint: Option<&str>| {
        let mut text = String::new();
        for (c, cell) in cells.iter().enumerate() {
            let pad = widths[c].saturating_sub(cell.chars().count());
            let shown = match (c, paint) {
                (3, Some(code)) => format!("\x1b[{code}m{cell}\x1b[0m"),
                _ => cell.clone(),
            };
            // Numbers right-aligned, words left.
            if matches!(c, 4 | 5) {
                text.push_str(&" ".repeat(pad));
                text.push_str(&shown);
            } else {
                text.push_str(&shown);
                if c + 1 < cells.len() {
                    text.push_str(&" ".repeat(pad));
                }
            }
            if c + 1 < cells.len() {
                text.push_str("  ");
            }
        }
        text.push('\n');
        text
    };
    let mut out = line(&head.map(String::from), None);
    for (row, r) in rows.iter().zip(&reports) {
        let paint = colour.then_some(match r.exit_code {
            Some(0) => "32",
            None | Some(7 | 8 | 99) => "33",
            Some(_) => "31",
        });
        out.push_str(&line(row, paint));
    }
    print!("{}", drover::sensitive::redact(&out));
    Ok(0)
}

fn failed_count(r: &RunReport) -> usize {
    r.hosts
        .iter()
        .filter(|h| {
            h.outcome
                .is_some_and(|o| o != HostOutcome::Untouched && run::model::failed(o))
        })
        .count()
}

/// How long the run took, `running` while it runs.
fn took(r: &RunReport) -> String {
    match (r.ended.as_deref(), r.span()) {
        (Some(_), Some((a, b))) => {
            run::svg::seconds((b.as_millisecond() - a.as_millisecond()).max(0) as u64)
        }
        (None, _) if r.exit_code.is_none() => "running".into(),
        _ => "-".into(),
    }
}

/// `today 17:02`, `yesterday 09:14`, `2026-11-28 22:40` in the machine's time zone.
fn human_time(at: &str, now: jiff::Timestamp) -> String {
    let Some(t) = run::model::instant(at) else {
        return at.to_string();
    };
    let tz = jiff::tz::TimeZone::system();
    let (then, today) = (t.to_zoned(tz.clone()), now.to_zoned(tz));
    let days = (today.date() - then.date()).get_days();
    match days {
        0 => format!("today {}", then.strftime("%H:%M")),
        1 => format!("yesterday {}", then.strftime("%H:%M")),
        _ => then.strftime("%Y-%m-%d %H:%M").to_string(),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

fn show(dir: &Path, run_id: &str, format: FormatArg, out: Option<&Path>) -> Result<u8, CliError> {
    let log = journal::find(dir, Some(run_id)).map_err(|e| match e {
        journal::JournalError::NoSuchRun(_) if !dir.join("runs").exists() => {
            super::note(&format!(
                "no state directory at {} (give --state-dir or DROVER_STATE_DIR)",
                absolute(dir).display()
            ));
            e
        }
        e => e,
    })?;
    let report = RunReport::from_log(&log);
    let format = match format {
        FormatArg::Text => ReportFormat::Text,
        FormatArg::Markdown => ReportFormat::Markdown,
        FormatArg::Html => ReportFormat::Html,
        FormatArg::Json => ReportFormat::Json,
    };
    // Markdown shows the picture from a file beside the page (or the journal's reports dir
    // when the page goes to stdout).
    let svg_file = match (format, out) {
        (ReportFormat::Markdown, Some(out)) => Some(out.with_extension("svg")),
        (ReportFormat::Markdown, None) => Some(reports_dir(&log).join(format!("{run_id}.svg"))),
        _ => None,
    };
    let mut shown = None;
    if let Some(file) = &svg_file
        && let Some(picture) = run::timeline(&report)
    {
        write(file, &picture)?;
        shown = Some(match out {
            Some(_) => file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            None => file.display().to_string(),
        });
    }
    let text = run::render(&report, format, shown.as_deref());
    match out {
        Some(path) => write(path, &text)?,
        None => print!("{text}"),
    }
    Ok(0)
}

/// `STATE/reports/`, beside `STATE/runs/` where the journal is.
fn reports_dir(log: &RunLog) -> PathBuf {
    log.path
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."))
        .join("reports")
}

fn write(path: &Path, text: &str) -> Result<(), RunsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| RunsError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(err)?;
    }
    // A report names hosts and paths, like the journal: only its owner reads it.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(err)
}

/// Writes the HTML report of the run journaled at `journal` to `STATE/reports/ID.html`;
/// returns its path.
pub(super) fn write_report(journal: &Path) -> Result<PathBuf, CliError> {
    let log = RunLog::read(journal)?;
    let report = RunReport::from_log(&log);
    let path = reports_dir(&log).join(format!("{}.html", report.run_id));
    write(&path, &run::render(&report, ReportFormat::Html, None))?;
    Ok(path)
}

/// Who runs drover, for the report's "ran by": `$USER` (or `$LOGNAME`), else the account
/// of the process's user id (under cron or `env -i` neither variable is set).
pub(super) fn user() -> Option<String> {
    if let Some(name) = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
    {
        return Some(name);
    }
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&uid.as_str()))
        .and_then(|f| f.first().map(|n| n.to_string()))
        .or(Some(format!("uid {uid}")))
}

/// This machine's name, for the report's "ran from" (Linux's, else `$HOSTNAME`).
pub(super) fn control_host() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

//! `drover plan`: the plan an operator would write by hand — hosts in order, stages and
//! batches with what the limits allow, the upgrade path, every step (blocks, loops,
//! conditions, retries, delegation, `run_once`, `undo:`, handlers), each host's steps hop by
//! hop, the backups and the version a restore needs, the rollback, and every problem a run
//! would stop on. One [`Document`] is built ([`model`]); text, Markdown and JSON lay it out.

mod hops;
mod markdown;
mod model;
mod render;
mod schedule;
mod steps;
mod text;

pub use markdown::markdown;
pub use model::{Document, Inputs};
pub use render::Shown;
pub use text::text;

/// The plan as JSON: the document as data (per play `hosts`, `batches`, `limits`,
/// `stages`, `upgrade_path`, `tasks`, `phases`, `chains`, `backups`, `problems`, `probe`, …).
pub fn json(doc: &Document) -> serde_json::Value {
    serde_json::to_value(doc).unwrap_or(serde_json::Value::Null)
}

/// What decides when and where a task runs, in words, for the task lines of every format.
fn notes(task: &steps::TaskDoc) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(once) = &task.once {
        notes.push(once.clone());
    }
    if !task.when.is_empty() {
        notes.push(format!("when `{}`", task.when.join("` and `")));
    }
    if let Some(looped) = &task.looped {
        let (items, note) = looped.items.describe();
        notes.push(format!(
            "for each of `{items}`{}",
            note.map_or(String::new(), |n| format!(" ({n})"))
        ));
    }
    if let Some(until) = &task.until {
        notes.push(format!(
            "retried until `{}` (up to {} retries, {} apart)",
            until.until, until.retries, until.delay
        ));
    }
    if let Some(delegate) = &task.delegate_to {
        let (host, note) = delegate.describe();
        notes.push(format!(
            "runs on `{host}` (delegate_to){}",
            note.map_or(String::new(), |n| format!(", {n}"))
        ));
    }
    if let Some(register) = &task.register {
        notes.push(format!("registers `{register}`"));
    }
    if !task.notify.is_empty() {
        notes.push(format!("notifies `{}`", task.notify.join("`, `")));
    }
    if !task.failed_when.is_empty() {
        notes.push(format!("fails when `{}`", task.failed_when.join("` or `")));
    }
    if let Some(ignore) = &task.ignore_errors {
        notes.push(format!("ignore_errors `{ignore}`"));
    }
    if task.no_log {
        notes.push("no_log: arguments not shown".to_string());
    }
    notes
}

/// `30s`, `5m`, `2h`, `1h30m`, `1.5s`.
fn duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if d.is_zero() {
        "none".to_string()
    } else if d.subsec_millis() != 0 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs >= 3600 && secs.is_multiple_of(60) {
        format!("{}h{}m", secs / 3600, secs % 3600 / 60)
    } else if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// `1.0 → 1.1 → 2.0`, or `2.0 (up to date)`.
fn chain_text(current: &str, hops: &[String]) -> String {
    if hops.is_empty() {
        return format!("{current} (up to date)");
    }
    let mut steps = vec![current.to_string()];
    steps.extend(hops.iter().cloned());
    steps.join(" → ")
}

/// A policy keyword as written (`per_hop`, `cluster`).
fn name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn seconds(s: f64) -> String {
    duration(std::time::Duration::from_secs_f64(s))
}

//! Ansible-like live output: `PLAY [...]`, `TASK [...]`, one line per host result, results
//! shown for failures and `debug`, diffs in `--diff` mode, and the PLAY RECAP.

use super::Reporter;
use crate::engine::events::{Delegate, HostRow};
use crate::engine::{Event, HostOutcome, HostStats, Status};
use serde_json::Value;
use std::io::{IsTerminal, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Color,
}

impl Style {
    /// Colour on a terminal unless `NO_COLOR` is set.
    pub fn detect() -> Style {
        if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            Style::Color
        } else {
            Style::Plain
        }
    }
}

pub struct Human {
    out: Box<dyn Write + Send>,
    style: Style,
    /// Each rollout host's position (`i` of `n`), from its first phase event.
    positions: std::collections::HashMap<String, (usize, usize)>,
    /// The task of the last banner: a result of another task (`strategy: free`, where hosts
    /// run at their own pace) names its task.
    banner_task: Option<String>,
    /// `-v` and up: the results of ok and changed tasks too, as Ansible's `-v` shows them.
    verbosity: u8,
}

const WIDTH: usize = 80;

/// A host's task result, with the rollout step (`" upgrade › Install"`) when there is one.
struct ShownResult<'a> {
    /// The host, with its delegate when the task was delegated (`web1 -> lb1`).
    host: &'a str,
    step: &'a str,
    module: &'a str,
    status: Status,
    result: &'a Value,
}

impl Human {
    pub fn new(out: Box<dyn Write + Send>, style: Style) -> Human {
        Human {
            out,
            style,
            positions: std::collections::HashMap::new(),
            banner_task: None,
            verbosity: 0,
        }
    }

    /// `-v` (1) shows each ok/changed result as `ok: [host] => {…}`; higher levels show the
    /// same today.
    pub fn with_verbosity(mut self, verbosity: u8) -> Human {
        self.verbosity = verbosity;
        self
    }

    /// `" › task"` for a result that is not the last banner's task (hosts at their own pace),
    /// `" phase › task"` in a rollout, nothing otherwise.
    fn step(&self, phase: Option<&impl std::fmt::Display>, task: &str) -> String {
        match phase {
            Some(phase) => format!(" {phase} › {task}"),
            None if self.banner_task.as_deref().is_some_and(|t| t != task) => {
                format!(" › {task}")
            }
            None => String::new(),
        }
    }

    fn paint(&self, text: &str, color: &str) -> String {
        match self.style {
            Style::Plain => text.to_string(),
            Style::Color => format!("\x1b[{color}m{text}\x1b[0m"),
        }
    }

    fn banner(title: &str) -> String {
        let stars = WIDTH.saturating_sub(title.len() + 1).max(3);
        format!("\n{title} {}\n", "*".repeat(stars))
    }

    fn progress(&self, host: &str) -> String {
        match self.positions.get(host) {
            Some((i, n)) => format!("[{i}/{n}] {host}"),
            None => host.to_string(),
        }
    }

    fn render(&mut self, event: &Event) -> String {
        match event {
            Event::Retry {
                host,
                task,
                retries_left,
                ..
            } => self.paint(
                &format!("FAILED - RETRYING: [{host}]: {task} ({retries_left} retries left).\n"),
                "35",
            ),
            Event::RolloutStart {
                hosts,
                batches,
                max_unavailable,
                max_failed,
                ..
            } => format!(
                "{}order: {}\n",
                Self::banner(&format!(
                    "ROLLOUT [{} hosts in {} batches, max_unavailable {max_unavailable}, max_failed {max_failed}]",
                    hosts.len(),
                    batches.len()
                )),
                hosts.join(", ")
            ),
            Event::PrecheckFailed { hosts } => self.paint(
                &format!(
                    "\nPRECHECK FAILED on {}: the rollout is abandoned; nothing was changed on any host\n",
                    hosts.join(", ")
                ),
                "31",
            ),
            Event::PhaseStart {
                host,
                phase,
                hop,
                position,
                total,
            } => {
                self.positions.insert(host.clone(), (*position, *total));
                let hop = hop.as_deref().map(|h| format!(" {h}")).unwrap_or_default();
                self.paint(&format!("{} ▸ {phase}{hop}\n", self.progress(host)), "1")
            }
            Event::UpgradePaths { hosts } => {
                let mut text = Self::banner("UPGRADE PATHS");
                for path in hosts {
                    let chain = if path.hops.is_empty() {
                        "already at the target".to_string()
                    } else {
                        format!("{} -> {}", path.current, path.hops.join(" -> "))
                    };
                    text.push_str(&format!("{}: {chain}\n", path.host));
                }
                text
            }
            Event::UpgradePathInvalid { problems } => {
                let mut text = self.paint(
                    "\nNO VALID UPGRADE PATH: the rollout is abandoned; nothing was changed on any host\n",
                    "31",
                );
                for (host, why) in problems {
                    text.push_str(&self.paint(&format!("  {host}: {why}\n"), "31"));
                }
                text
            }
            Event::PhaseEnd {
                host,
                phase,
                ok,
                duration_ms,
                task,
                message,
            } => {
                if *ok {
                    return String::new();
                }
                let why = match (task, message) {
                    (Some(task), Some(m)) => format!(" at {task}: {m}"),
                    (None, Some(m)) => format!(": {m}"),
                    (Some(task), None) => format!(" at {task}"),
                    (None, None) => String::new(),
                };
                self.paint(
                    &format!(
                        "{} ✗ {phase} failed after {}{why}\n",
                        self.progress(host),
                        seconds(*duration_ms)
                    ),
                    "31",
                )
            }
            Event::HostDone {
                host,
                outcome,
                phase,
                duration_ms,
                ..
            } => {
                let line = format!(
                    "{} ⇒ {} ({}, {})",
                    self.progress(host),
                    outcome.name(),
                    phase.map_or("-", |p| p.name()),
                    seconds(*duration_ms)
                );
                match outcome {
                    HostOutcome::Upgraded | HostOutcome::UpToDate | HostOutcome::WouldUpgrade => {
                        self.paint(&format!("{line}\n"), "32")
                    }
                    HostOutcome::RolledBack => self.paint(
                        &format!("!!! {line}: rolled back to its backup\n"),
                        "33",
                    ),
                    HostOutcome::Failed => self.paint(
                        &format!("!!! {line}: failed before changing anything; the service was brought back\n"),
                        "33",
                    ),
                    HostOutcome::Paused => self.paint(
                        &format!("{line}: stopped between hops, in service; `drover resume` continues it\n"),
                        "33",
                    ),
                    _ => self.paint(
                        &format!("!!! {line}: NEEDS ATTENTION, the host may be out of service\n"),
                        "31",
                    ),
                }
            }
            // The question itself is asked on the terminal; a wait shows in the live view.
            Event::AwaitingConfirmation { .. } | Event::OnceWait { .. } => String::new(),
            Event::Pause {
                after_batch,
                seconds,
            } => format!("pausing {seconds}s after batch {after_batch}\n"),
            Event::StageStart {
                index,
                total,
                name,
                hosts,
            } => Self::banner(&format!(
                "STAGE [{index}/{total}] {name}: {}",
                hosts.join(", ")
            )),
            Event::HopStart {
                to,
                index,
                total,
                hosts,
            } => Self::banner(&format!(
                "CLUSTER HOP [{index}/{total}] -> {to}: {}",
                hosts.join(", ")
            )),
            Event::ClusterRollback { trigger, hosts } => self.paint(
                &format!(
                    "\nCLUSTER ROLLBACK: {trigger} failed; rolling back {} (newest first); shared steps with an `undo:` are undone once, then every host starts again\n",
                    hosts.join(", ")
                ),
                "31",
            ),
            Event::UndoStart { host, task, hop } => self.paint(
                &format!(
                    "UNDO [{task}]{} on {host}\n",
                    hop.as_deref().map(|h| format!(" for {h}")).unwrap_or_default()
                ),
                "33",
            ),
            Event::RolloutHalted { reason, untouched } => {
                let left = if untouched.is_empty() {
                    String::new()
                } else {
                    format!("; untouched: {}", untouched.join(", "))
                };
                self.paint(&format!("\nROLLOUT HALTED: {reason}{left}\n"), "31")
            }
            Event::WindowWait { until, seconds, why } => format!(
                "\nWAITING FOR THE MAINTENANCE WINDOW: {why}; it opens {until} (in {}); Ctrl-C stops\n",
                wait_text(*seconds)
            ),
            Event::WindowClosed {
                reason,
                untouched,
                next_open,
            } => {
                let left = if untouched.is_empty() {
                    String::new()
                } else {
                    format!("; not started: {}", untouched.join(", "))
                };
                let next = next_open
                    .as_ref()
                    .map(|at| format!(" (next window opens {at})"))
                    .unwrap_or_default();
                self.paint(
                    &format!(
                        "\nWINDOW CLOSED: {reason}{left}\nThe run stopped cleanly; continue it with `drover resume` in the next window{next}.\n"
                    ),
                    "33",
                )
            }
            Event::RolloutEnd { hosts } => self.rollout_table(hosts),
            Event::PlaybookStart {
                check,
                journal,
                resumed,
                ..
            } => {
                let mut text = String::new();
                if *check {
                    text.push_str(&self.paint("running in check mode: nothing will be changed\n", "35"));
                }
                if let Some(journal) = journal {
                    let verb = if *resumed { "resuming; journal" } else { "journal" };
                    text.push_str(&format!("{verb}: {journal}\n"));
                }
                text
            }
            Event::PlayStart { name, pattern, .. } => {
                self.banner_task = None;
                let title = if name.is_empty() { pattern } else { name };
                Self::banner(&format!("PLAY [{title}]"))
            }
            Event::NoHosts { pattern } => self.paint(
                &format!("skipping: no hosts matched the pattern `{pattern}`\n"),
                "35",
            ),
            Event::BatchStart {
                index,
                total,
                hosts,
            } => Self::banner(&format!("BATCH [{index}/{total}] {}", hosts.join(", "))),
            Event::TaskStart { name, location } => {
                self.banner_task = Some(name.clone());
                Self::banner(&format!("TASK [{name}]")) + &self.task_path(location)
            }
            Event::HandlerStart { name, location } => {
                self.banner_task = Some(name.clone());
                Self::banner(&format!("RUNNING HANDLER [{name}]")) + &self.task_path(location)
            }
            Event::Included { file, hosts, item } => {
                let item = match item {
                    None => String::new(),
                    Some(Value::String(s)) => format!(" => (item={s})"),
                    Some(other) => format!(" => (item={other})"),
                };
                self.paint(
                    &format!("included: {file} for {}{item}\n", hosts.join(", ")),
                    "36",
                )
            }
            Event::HostItem {
                host,
                task,
                phase,
                module,
                status,
                item,
                result,
                delegate,
            } => {
                let host = &shown_host(host, delegate.as_ref());
                let step = self.step(phase.as_ref(), task);
                let label = match item {
                    Value::String(s) => s.clone(),
                    // Python's spelling, as Ansible prints a `no_log` item.
                    Value::Null => "None".to_string(),
                    other => other.to_string(),
                };
                let (word, color) = status_word(*status);
                // Ansible's shapes: `ok: [h] => (item=x)`, `failed: [h] (item=x) => {…}`.
                let line = match status {
                    Status::Failed => {
                        format!("{word}: [{host}]{step} (item={label}) => {}", compact(result))
                    }
                    _ if module == "debug" && *status != Status::Skipped => format!(
                        "{word}: [{host}]{step} => (item={label}) => {}",
                        serde_json::to_string_pretty(&debug_fields(result)).unwrap_or_default()
                    ),
                    _ => format!("{word}: [{host}]{step} => (item={label})"),
                };
                format!("{}\n", self.paint(&line, color))
            }
            Event::HostResult {
                host,
                task,
                phase,
                module,
                status,
                result,
                diff,
                ignored,
                looped,
                delegate,
            } => {
                let host = &shown_host(host, delegate.as_ref());
                // In a rollout (or under `strategy: free`), hosts run side by side: name
                // the step.
                let step = self.step(phase.as_ref(), task);
                let shown = ShownResult {
                    host,
                    step: &step,
                    module,
                    status: *status,
                    result,
                };
                self.host_result(&shown, diff.as_deref(), *ignored, *looped)
            }
            Event::PlayAborted { reason } => self.paint(
                &format!("\nNO MORE HOSTS LEFT: {reason}; stopping the run\n"),
                "31",
            ),
            Event::BatchFailed { index } => self.paint(
                &format!(
                    "\nNO MORE HOSTS LEFT: every host of batch {index} failed; stopping the run\n"
                ),
                "31",
            ),
            Event::InterruptRequested => self.paint(
                "\n[interrupt] finishing the steps in flight, starting nothing new (Ctrl-C again aborts at once)\n",
                "35",
            ),
            Event::Aborted => self.paint(
                "\nABORTED by a second interrupt: the steps in flight were abandoned, and commands \
                 already started on hosts may still finish there; the journal shows what was in \
                 flight, `drover resume` continues\n",
                "31",
            ),
            Event::Interrupted => self.paint(
                "\nINTERRUPTED: the current task finished on every host; nothing new was started\n",
                "35",
            ),
            Event::Warning { message } => self.paint(&format!("[WARNING]: {message}\n"), "35"),
            Event::Detail {
                host,
                level,
                message,
            } => {
                if self.verbosity < *level {
                    String::new()
                } else {
                    format!("<{host}> {message}\n")
                }
            }
            Event::Recap { hosts } => self.recap(hosts),
        }
    }

    /// `-vv`: where the task is written, under its banner (ansible-playbook's `task path:`).
    fn task_path(&self, location: &str) -> String {
        if self.verbosity < 2 || location.is_empty() {
            return String::new();
        }
        format!("task path: {location}\n")
    }

    fn host_result(
        &self,
        shown: &ShownResult,
        diff: Option<&str>,
        ignored: bool,
        looped: bool,
    ) -> String {
        let ShownResult {
            host,
            step,
            module,
            status,
            result,
        } = shown;
        let mut text = String::new();
        if let Some(diff) = diff {
            text.push_str(diff);
            if !diff.ends_with('\n') {
                text.push('\n');
            }
        }
        let line = match status {
            Status::Failed => {
                let mut line = format!("fatal: [{host}]{step}: FAILED! => {}", compact(result));
                if ignored {
                    line.push_str("\n...ignoring");
                }
                line
            }
            Status::Unreachable => {
                format!("fatal: [{host}]{step}: UNREACHABLE! => {}", compact(result))
            }
            // A loop's items were already shown; Ansible prints no summary line for them.
            _ if looped => return text,
            _ if (*module == "debug" || *module == "assert") && *status != Status::Skipped => {
                let shown = debug_fields(result);
                format!(
                    "{}: [{host}]{step} => {}",
                    status_word(*status).0,
                    serde_json::to_string_pretty(&shown).unwrap_or_default()
                )
            }
            Status::Ok | Status::Changed if self.verbosity > 0 => format!(
                "{}: [{host}]{step} => {}",
                status_word(*status).0,
                compact(result)
            ),
            _ => format!("{}: [{host}]{step}", status_word(*status).0),
        };
        text.push_str(&self.paint(&line, status_word(*status).1));
        text.push('\n');
        text
    }

    fn rollout_table(&self, rows: &[HostRow]) -> String {
        let mut text = Self::banner("ROLLOUT SUMMARY");
        let width = rows.iter().map(|r| r.host.len()).max().unwrap_or(4).max(4);
        text.push_str(&format!(
            "{:<width$}  {:<16} {:<9} {:>9}\n",
            "host", "outcome", "phase", "duration"
        ));
        for row in rows {
            let color = match row.outcome {
                HostOutcome::Upgraded | HostOutcome::UpToDate | HostOutcome::WouldUpgrade => "32",
                HostOutcome::RolledBack | HostOutcome::Untouched => "33",
                _ => "31",
            };
            let line = format!(
                "{:<width$}  {:<16} {:<9} {:>9}",
                row.host,
                row.outcome.name(),
                row.phase.map_or("-", |p| p.name()),
                if row.outcome == HostOutcome::Untouched {
                    "-".to_string()
                } else {
                    seconds(row.duration_ms)
                }
            );
            text.push_str(&self.paint(&line, color));
            text.push('\n');
        }
        text
    }

    fn recap(&self, hosts: &indexmap::IndexMap<String, HostStats>) -> String {
        let mut text = Self::banner("PLAY RECAP");
        let width = hosts.keys().map(String::len).max().unwrap_or(0).max(26);
        for (host, s) in hosts {
            let color = if s.failed > 0 || s.unreachable > 0 {
                "31"
            } else if s.changed > 0 {
                "33"
            } else {
                "32"
            };
            let name = self.paint(&format!("{host:<width$}"), color);
            text.push_str(&format!(
                "{name} : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} rescued={:<4} ignored={:<4}\n",
                s.ok, s.changed, s.unreachable, s.failed, s.skipped, s.rescued, s.ignored
            ));
        }
        text
    }
}

impl Human {
    /// The lines `event` shows (empty for events with none), for the live view to print
    /// above its bars.
    pub(super) fn lines(&mut self, event: &Event) -> String {
        self.render(event)
    }

    pub(super) fn write(&mut self, text: &str) {
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }
}

impl Reporter for Human {
    fn event(&mut self, event: &Event) {
        let text = self.render(event);
        if !text.is_empty() {
            self.write(&text);
        }
    }
}

fn shown_host(host: &str, delegate: Option<&Delegate>) -> String {
    match delegate {
        Some(delegate) => delegate.label(host),
        None => host.to_string(),
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn status_word(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Ok => ("ok", "32"),
        Status::Changed => ("changed", "33"),
        Status::Failed => ("failed", "31"),
        Status::Skipped => ("skipping", "36"),
        Status::Unreachable => ("unreachable", "31"),
    }
}

/// The result as one JSON line, without the `*_lines` duplicates.
fn compact(result: &Value) -> String {
    let mut shown = result.clone();
    if let Value::Object(map) = &mut shown {
        map.remove("stdout_lines");
        map.remove("stderr_lines");
    }
    shown.to_string()
}

/// `debug` shows its message (or variable), not the whole result.
fn debug_fields(result: &Value) -> Value {
    let mut shown = result.clone();
    if let Value::Object(map) = &mut shown {
        // Beside a `msg`, Ansible's callback hides the loop's variables, whatever
        // `loop_var`/`index_var` named them (`var: pkg` keeps its own).
        for named_by in ["ansible_loop_var", "ansible_index_var"] {
            match map.get(named_by).cloned() {
                Some(Value::String(var)) if map.contains_key("msg") => {
                    map.remove(&var);
                }
                _ => {}
            }
        }
        for key in [
            "changed",
            "item",
            "ansible_loop_var",
            "ansible_index_var",
            "ansible_loop",
            "_ansible_item_label",
        ] {
            map.remove(key);
        }
    }
    shown
}

/// A wait as `3h12m`, `5m`, `40s`.
fn wait_text(seconds: f64) -> String {
    let secs = seconds.max(0.0).round() as u64;
    match (secs / 3600, secs % 3600 / 60) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m"),
        (h, m) => format!("{h}h{m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(event: &Event) -> String {
        Human::new(Box::new(std::io::sink()), Style::Plain).render(event)
    }

    #[test]
    fn lines_look_like_ansible() {
        let e = Event::HostResult {
            host: "node1".into(),
            task: "t".into(),
            phase: None,
            module: "shell".into(),
            status: Status::Failed,
            result: json!({"changed": true, "rc": 1, "stdout_lines": []}),
            diff: None,
            ignored: false,
            looped: false,
            delegate: None,
        };
        assert_eq!(
            render(&e),
            "fatal: [node1]: FAILED! => {\"changed\":true,\"rc\":1}\n"
        );
        let e = Event::TaskStart {
            name: "Stop".into(),
            location: "p.yml:3:7".into(),
        };
        assert!(render(&e).starts_with("\nTASK [Stop] ****"));
        assert_eq!(render(&e).trim().len(), WIDTH);
    }

    #[test]
    fn delegated_results_name_the_delegate_as_ansible_does() {
        let result = |delegate: Delegate, status: Status| Event::HostResult {
            host: "web1".into(),
            task: "t".into(),
            phase: None,
            module: "command".into(),
            status,
            result: json!({"changed": false}),
            diff: None,
            ignored: false,
            looped: false,
            delegate: Some(delegate),
        };
        let lb1 = Delegate {
            host: "lb1".into(),
            address: None,
        };
        assert_eq!(
            render(&result(lb1.clone(), Status::Ok)),
            "ok: [web1 -> lb1]\n"
        );
        let addressed = Delegate {
            address: Some("10.0.0.5".into()),
            ..lb1.clone()
        };
        assert_eq!(
            render(&result(addressed, Status::Changed)),
            "changed: [web1 -> lb1(10.0.0.5)]\n"
        );
        assert!(
            render(&result(lb1.clone(), Status::Unreachable))
                .starts_with("fatal: [web1 -> lb1]: UNREACHABLE! => ")
        );
        let item = Event::HostItem {
            host: "web1".into(),
            task: "t".into(),
            phase: None,
            module: "command".into(),
            status: Status::Ok,
            item: json!("a"),
            result: json!({}),
            delegate: Some(lb1),
        };
        assert_eq!(render(&item), "ok: [web1 -> lb1] => (item=a)\n");
    }
}

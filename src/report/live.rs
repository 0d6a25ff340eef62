//! The live view on a terminal: the Ansible-like lines of [`Human`] scroll as usual, and
//! below them indicatif draws an overall bar (a rollout's hosts done of total, failed,
//! rolled back, elapsed and an ETA from the hosts finished so far; an ordinary play's hosts
//! through the current task) and one line per host in flight (phase, hop, elapsed). Waiting
//! is shown as waiting: the pause between batches, the canary question, the maintenance
//! window, a verify retrying, a `run_once` step another host runs. Only used on a terminal without `NO_COLOR`: in a pipe the
//! plain lines are all there is.

use super::Reporter;
use super::human::Human;
use crate::engine::{Event, HostOutcome};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(120);

pub struct Live {
    human: Human,
    multi: MultiProgress,
    overall: Option<Overall>,
    hosts: HashMap<String, ProgressBar>,
}

/// The bar over the whole rollout or play.
struct Overall {
    bar: ProgressBar,
    rollout: bool,
    started: Instant,
    done: usize,
    failed: usize,
    rolled_back: usize,
    /// What the rollout waits for, when it waits.
    waiting: Option<String>,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("━╸─")
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
}

impl Live {
    pub fn new(human: Human) -> Live {
        Live {
            human,
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            overall: None,
            hosts: HashMap::new(),
        }
    }

    fn start_overall(&mut self, total: usize, rollout: bool, title: &str) {
        self.finish_overall();
        let bar = self.multi.add(ProgressBar::new(total as u64));
        bar.set_style(style(
            "{spinner:.cyan} {prefix:.bold} [{bar:28.green/white}] {pos}/{len} {wide_msg} {elapsed:>4}",
        ));
        bar.set_prefix(title.to_string());
        bar.enable_steady_tick(TICK);
        self.overall = Some(Overall {
            bar,
            rollout,
            started: Instant::now(),
            done: 0,
            failed: 0,
            rolled_back: 0,
            waiting: None,
        });
        self.refresh();
    }

    fn finish_overall(&mut self) {
        if let Some(overall) = self.overall.take() {
            overall.bar.finish_and_clear();
        }
        for (_, bar) in self.hosts.drain() {
            bar.finish_and_clear();
        }
    }

    /// The overall bar's message: failures, rollbacks, what it waits for, the ETA.
    fn refresh(&self) {
        let Some(o) = &self.overall else {
            return;
        };
        if !o.rollout {
            return;
        }
        let mut parts = vec!["hosts done".to_string()];
        if o.failed > 0 {
            parts.push(
                console::style(format!("{} failed", o.failed))
                    .red()
                    .to_string(),
            );
        }
        if o.rolled_back > 0 {
            parts.push(
                console::style(format!("{} rolled back", o.rolled_back))
                    .yellow()
                    .to_string(),
            );
        }
        let total = o.bar.length().unwrap_or(0) as usize;
        if o.done > 0 && o.done < total {
            let per_host = o.started.elapsed() / o.done as u32;
            parts.push(format!("ETA {}", clock(per_host * (total - o.done) as u32)));
        }
        if let Some(waiting) = &o.waiting {
            parts.push(console::style(waiting).magenta().to_string());
        }
        o.bar.set_message(parts.join(" · "));
    }

    fn set_waiting(&mut self, what: Option<String>) {
        if let Some(o) = &mut self.overall {
            o.waiting = what;
        }
        self.refresh();
    }

    fn host_line(&mut self, host: &str) -> &ProgressBar {
        if !self.hosts.contains_key(host) {
            let bar = self.multi.add(ProgressBar::new_spinner());
            bar.set_style(style(
                "  {spinner:.yellow} {prefix:<14} {wide_msg} {elapsed:>4}",
            ));
            bar.set_prefix(host.to_string());
            bar.enable_steady_tick(TICK);
            self.hosts.insert(host.to_string(), bar);
        }
        &self.hosts[host]
    }

    /// Updates the bars for `event` (before its lines are printed).
    fn track(&mut self, event: &Event) {
        match event {
            Event::PlayStart { name, hosts, .. } => {
                let title = if name.is_empty() { "play" } else { name };
                self.start_overall(hosts.len(), false, title);
            }
            Event::TaskStart { name, .. } | Event::HandlerStart { name, .. } => {
                if let Some(o) = &self.overall
                    && !o.rollout
                {
                    o.bar.set_position(0);
                    o.bar.set_message(name.clone());
                }
            }
            Event::HostResult { host, phase, .. } => match &self.overall {
                Some(o) if !o.rollout => o.bar.inc(1),
                _ if phase.is_some() => {
                    // A verify that was retrying has moved on.
                    if let Some(bar) = self.hosts.get(host)
                        && bar.message().contains(" · ")
                    {
                        bar.set_message(
                            bar.message().split(" · ").next().unwrap_or("").to_string(),
                        );
                    }
                }
                _ => {}
            },
            Event::RolloutStart { hosts, .. } => {
                self.start_overall(hosts.len(), true, "rollout");
            }
            Event::PhaseStart {
                host, phase, hop, ..
            } => {
                let hop = hop
                    .as_deref()
                    .map(|h| format!("  {}", h.replace(" -> ", " → ")))
                    .unwrap_or_default();
                let line = format!("▸ {}{hop}", console::style(phase.name()).bold());
                self.host_line(host).set_message(line);
                self.set_waiting(None);
            }
            Event::Retry {
                host,
                task,
                retries_left,
                ..
            } => {
                let bar = self.host_line(host);
                let base = bar.message().split(" · ").next().unwrap_or("").to_string();
                bar.set_message(format!(
                    "{base} · {}",
                    console::style(format!("{task}: retrying, {retries_left} attempts left"))
                        .magenta()
                ));
            }
            Event::OnceWait { host, task, runner } => {
                let bar = self.host_line(host);
                let base = bar.message().split(" · ").next().unwrap_or("").to_string();
                let on = runner.as_deref().unwrap_or("another host");
                bar.set_message(format!(
                    "{base} · {}",
                    console::style(format!("waiting for run_once `{task}` on {on}")).magenta()
                ));
            }
            Event::HostDone { host, outcome, .. } => {
                if let Some(bar) = self.hosts.remove(host) {
                    bar.finish_and_clear();
                }
                if let Some(o) = &mut self.overall {
                    o.done += 1;
                    match outcome {
                        HostOutcome::Upgraded
                        | HostOutcome::UpToDate
                        | HostOutcome::WouldUpgrade
                        | HostOutcome::Paused => {}
                        HostOutcome::RolledBack => {
                            o.failed += 1;
                            o.rolled_back += 1;
                        }
                        _ => o.failed += 1,
                    }
                    o.bar.set_position(o.done as u64);
                }
                self.refresh();
            }
            Event::Pause {
                after_batch,
                seconds,
            } => self.set_waiting(Some(format!(
                "pausing {seconds}s after batch {after_batch}"
            ))),
            Event::BatchStart { index, total, .. }
                if self.overall.as_ref().is_some_and(|o| o.rollout) =>
            {
                self.set_waiting(None);
                if let Some(o) = &self.overall {
                    o.bar.set_prefix(format!("rollout, batch {index}/{total}"));
                }
            }
            Event::WindowWait { until, .. } => self.set_waiting(Some(format!(
                "waiting for the maintenance window (opens {until})"
            ))),
            Event::AwaitingConfirmation { .. } => {
                self.set_waiting(Some("waiting for your answer".into()));
                // The question is asked on the terminal: no bar may draw over it.
                self.multi.set_draw_target(ProgressDrawTarget::hidden());
                return;
            }
            Event::RolloutEnd { .. } | Event::Recap { .. } => {
                self.finish_overall();
            }
            _ => {}
        }
        if self.multi.is_hidden() {
            self.multi.set_draw_target(ProgressDrawTarget::stdout());
        }
    }
}

impl Reporter for Live {
    fn event(&mut self, event: &Event) {
        self.track(event);
        let text = self.human.lines(event);
        // Bars are cleared and redrawn around the lines: only when there are some.
        if !text.is_empty() {
            let (human, multi) = (&mut self.human, &self.multi);
            multi.suspend(|| human.write(&text));
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.finish_overall();
    }
}

/// `1:05`, `12:03:00`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

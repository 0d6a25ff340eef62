//! Maintenance windows as the rollout's scheduling loop applies them: before the rollout
//! starts, before every host starts (and whether the next batch would still fit), and at
//! every hop boundary of a host (hops are checkpoints).

use super::super::Interrupts;
use super::super::Shared;
use super::super::events::Event;
use super::super::scheduler::Pace;
use crate::playbook::Rolling;
use crate::window::{Gate, Windows};
use jiff::Timestamp;
use std::time::Duration;

/// What the maintenance window asks of the scheduling loop before a host starts.
pub(super) enum Hold {
    No,
    /// Start nothing; wait for the hosts in flight.
    ForHosts,
    /// Nothing is running: sleep this long (the window opens after), then ask again.
    Sleep(Duration),
    /// Stop the rollout (resumable) for this reason.
    Stop(String),
}

/// Applies `rolling.window` (or `--window`) to the scheduling loop, measuring batches on the
/// run's clock to tell whether the next one would still fit in the window.
pub(super) struct WindowKeeper<'a> {
    shared: &'a Shared,
    windows: Option<&'a Windows>,
    pub(super) pace: Pace,
    batch_started: Option<Timestamp>,
    /// The opening the last sleep waited for: a batch that does not fit even then never will.
    woke_for: Option<Timestamp>,
    /// When the next window opens, once a closing has been seen.
    next_open: Option<Timestamp>,
}

impl<'a> WindowKeeper<'a> {
    pub(super) fn new(shared: &'a Shared, rolling: &'a Rolling) -> Self {
        WindowKeeper {
            shared,
            windows: rolling.window.as_ref(),
            pace: Pace::new(1),
            batch_started: None,
            woke_for: None,
            next_open: None,
        }
    }

    pub(super) fn now(&self) -> Timestamp {
        self.shared.config.clock.now()
    }

    pub(super) fn batch_started(&mut self) {
        self.batch_started = Some(self.now());
    }

    pub(super) fn batch_done(&mut self, hosts: usize) {
        if let Some(started) = self.batch_started.take() {
            let took = Duration::try_from(self.now().duration_since(started)).unwrap_or_default();
            self.pace.finished(hosts, took);
        }
    }

    pub(super) fn next_open(&self) -> Option<String> {
        self.next_open.map(|t| t.to_string())
    }

    /// Before the rollout touches anything: `None` once a window is open (after waiting for
    /// it with `--wait-for-window`, or on Ctrl-C), else why the rollout must not start.
    pub(super) async fn wait_for_opening(&mut self, interrupts: &Interrupts) -> Option<String> {
        let mut interrupts = interrupts.clone();
        // Each sleep ends at an opening; a few rounds absorb a wall clock that lags the timer.
        for _ in 0..5 {
            match self.hold(0, None, 0) {
                Hold::No | Hold::ForHosts => return None,
                Hold::Stop(reason) => return Some(reason),
                Hold::Sleep(wait) => {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = interrupts.changed() => return None,
                    }
                }
            }
        }
        match self.hold(0, None, 0) {
            Hold::No => None,
            _ => {
                Some("the maintenance window did not open when the clock said it would".to_string())
            }
        }
    }

    /// Whether the next host of batch `batch` may start now; `first_of` is the batch's size
    /// when that host would be its first, `running` the hosts in flight.
    pub(super) fn hold(&mut self, batch: usize, first_of: Option<usize>, running: usize) -> Hold {
        let Some(windows) = self.windows else {
            return Hold::No;
        };
        let now = self.now();
        let estimate = first_of.and_then(|size| self.pace.estimate(size));
        let (why, next_open) = match windows.gate(now, estimate) {
            Gate::Open => return Hold::No,
            Gate::Closed { next_open } => (
                format!(
                    "the maintenance window ({windows}) is closed at {}",
                    clock_text(now)
                ),
                next_open,
            ),
            Gate::WontFit { closes, next_open } => {
                let estimate = estimate.unwrap_or_default();
                let why = format!(
                    "batch {} would likely not finish before the maintenance window closes at {} (estimated {} from the batches so far)",
                    batch + 1,
                    clock_text(closes),
                    long_duration(estimate)
                );
                if self.woke_for.is_some_and(|w| w <= now) {
                    return Hold::Stop(format!(
                        "{why}; it does not fit even in a window that just opened: widen the window or make batches smaller"
                    ));
                }
                (why, next_open)
            }
        };
        self.next_open = next_open;
        if running > 0 {
            return if self.shared.config.wait_for_window {
                Hold::ForHosts
            } else {
                Hold::Stop(why)
            };
        }
        let Some(until) = next_open.filter(|_| self.shared.config.wait_for_window) else {
            let hint = match next_open {
                Some(at) => format!(
                    "; the next window opens {}: `drover resume` then, or pass --wait-for-window",
                    clock_text(at)
                ),
                None => "; no window opens within a week".to_string(),
            };
            return Hold::Stop(format!("{why}{hint}"));
        };
        let wait = self.shared.config.clock.wait_until(until);
        if wait.is_zero() && self.now() < until {
            return Hold::Stop(format!(
                "{why}, and the clock did not move to {}",
                clock_text(until)
            ));
        }
        self.shared.emit(Event::WindowWait {
            until: until.to_string(),
            seconds: Duration::try_from(until.duration_since(now))
                .unwrap_or_default()
                .as_secs_f64(),
            why,
        });
        self.woke_for = Some(until);
        Hold::Sleep(wait)
    }
}

/// An instant as operators read it: `2026-11-28 02:00:00 UTC`.
pub(super) fn clock_text(at: Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Minutes and hours for window estimates: `1h05m`, `12m30s`, `40s`.
fn long_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

/// At a hop boundary of a host: `None` when the next hop may start (the window is open and
/// the last hop's duration fits before it closes), else why not. Without a window, always.
pub(super) fn hop_gate(
    shared: &Shared,
    rolling: &Rolling,
    last_hop: Option<Duration>,
) -> Option<String> {
    let windows = rolling.window.as_ref()?;
    let now = shared.config.clock.now();
    match windows.gate(now, last_hop) {
        Gate::Open => None,
        Gate::Closed { .. } => Some(format!(
            "the maintenance window ({windows}) is closed at {}",
            clock_text(now)
        )),
        Gate::WontFit { closes, .. } => Some(format!(
            "the next hop would likely not finish before the maintenance window closes at {} (the last hop took {})",
            clock_text(closes),
            long_duration(last_hop.unwrap_or_default())
        )),
    }
}

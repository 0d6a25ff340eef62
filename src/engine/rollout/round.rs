//! One round of a rollout: a set of hosts, batched, each running its [`Work`], under the
//! round's limits. A rollout is a sequence of rounds — one per stage, and per hop of the
//! cluster with `hops: cluster` — and this loop only carries out what the pure
//! [`Scheduler`] decides, with the maintenance window and the operator's confirmations in
//! between.

use super::super::events::{Event, HostOutcome};
use super::super::scheduler::{Decision, Halt, HostEnd, Pace, Scheduler};
use super::super::{Interrupts, RunState};
use super::pipeline::{PipelineEnd, Work};
use super::window::{Hold, WindowKeeper};
use super::{Ledger, Rollout, millis};
use crate::journal::Record;
use crate::plan;
use crate::playbook::BatchSize;
use std::collections::HashMap;
use std::time::Duration;

/// The hosts of a round and how they are paced.
pub(super) struct Round {
    /// In rollout order.
    pub hosts: Vec<String>,
    pub work: HashMap<String, Work>,
    pub batch: Vec<BatchSize>,
    pub max_unavailable: usize,
    pub max_failed: usize,
    pub pause: Duration,
    /// Ask after the round's first batch (the rollout's canary), at this point's name.
    pub confirm: Option<String>,
    /// Ends earlier in the same stage (earlier rounds, an earlier run): they count against
    /// the budget, and broken ones hold a `max_unavailable` slot.
    pub carried: Vec<HostEnd>,
}

/// Why a round (and with it the rollout) stopped early.
#[derive(Debug, Clone)]
pub(super) enum Stop {
    /// The failure budget was spent, or no capacity is left: hosts not started stay so.
    Halted(String),
    /// The maintenance window closed (resumable).
    WindowClosed(String),
    /// Ctrl-C (resumable).
    Interrupted,
    /// The operator said no at a confirmation point (resumable).
    Declined(String),
    /// `on_failure: cluster`: `trigger` failed; the stage rolls back.
    Cluster { trigger: String },
    /// `on_failure: hold` (or no rollback phase): the rollout holds everything as it is.
    Held(String),
}

impl Rollout {
    /// Runs one round to its end; every host that ran is entered in `ledger`.
    pub(super) async fn round(
        self: &std::sync::Arc<Self>,
        round: Round,
        state: &mut RunState,
        ledger: &mut Ledger,
        window: &mut WindowKeeper<'_>,
        interrupts: &Interrupts,
    ) -> Result<(), Stop> {
        let shared = &self.shared;
        let hosts = &round.hosts;
        let batches = plan::split(hosts, &round.batch);
        let mut offset = 0;
        let indices: Vec<Vec<usize>> = batches
            .iter()
            .map(|b| {
                let range = (offset..offset + b.len()).collect();
                offset += b.len();
                range
            })
            .collect();
        let mut scheduler = Scheduler::new(indices, round.max_unavailable, round.max_failed);
        for end in &round.carried {
            scheduler.carried(*end);
        }
        let mut running = tokio::task::JoinSet::new();
        let mut interrupts = interrupts.clone();
        let mut stop: Option<Stop> = None;
        window.pace = Pace::new(round.max_unavailable);
        let mut announced = None;
        let mut work = round.work;
        loop {
            if stop.is_none() && *interrupts.borrow() > 0 {
                shared.emit(Event::Interrupted);
                state.interrupted = true;
                stop = Some(Stop::Interrupted);
                scheduler.stop();
            }
            if stop.is_none() && shared.journal_failed() {
                stop = Some(Stop::Halted("the journal cannot be written".to_string()));
                scheduler.stop();
            }
            let hold = match (stop.is_none() && !self.check(), scheduler.next_start()) {
                (true, Some(first)) => {
                    let (batch, size) = scheduler.batch();
                    window.hold(batch, first.then_some(size), scheduler.running())
                }
                _ => Hold::No,
            };
            let decision = match hold {
                Hold::No => scheduler.decide(),
                // Hosts in flight finish while nothing new starts.
                Hold::ForHosts => Decision::Wait,
                Hold::Sleep(wait) => {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = interrupts.changed() => {}
                    }
                    continue;
                }
                Hold::Stop(reason) => {
                    stop = Some(Stop::WindowClosed(reason));
                    scheduler.stop();
                    continue;
                }
            };
            match decision {
                Decision::Start(i) => {
                    let (batch, _) = scheduler.batch();
                    if announced != Some(batch) {
                        announced = Some(batch);
                        window.batch_started();
                        if let Some(hosts) = batches.get(batch) {
                            shared.emit(Event::BatchStart {
                                index: batch + 1,
                                total: batches.len(),
                                hosts: hosts.clone(),
                            });
                        }
                    }
                    let name = &hosts[i];
                    let Some(host) = state.hosts.shift_remove(name) else {
                        continue;
                    };
                    ledger.starting(name);
                    let rollout = self.clone();
                    let position = ledger.position(name);
                    let host_work = work.remove(name).unwrap_or_default();
                    running.spawn(async move {
                        let last = host_work.last;
                        let (host, end) = rollout.pipeline(host, position, host_work).await;
                        (host, end, last)
                    });
                }
                Decision::Wait => {
                    tokio::select! {
                        joined = running.join_next() => {
                            let Some(joined) = joined else { continue };
                            match joined {
                                Ok((host, end, last)) => {
                                    for verdict in &end.verdicts {
                                        state.count(&host.name, verdict);
                                    }
                                    scheduler.finished(end.end);
                                    let failed = !matches!(end.outcome, HostOutcome::Upgraded | HostOutcome::UpToDate | HostOutcome::WouldUpgrade | HostOutcome::Paused);
                                    let message = failed.then(|| super::pipeline::failure(&host).1).flatten();
                                    if let Some(why) = self.ended(&host.name, &end, last, ledger, message) {
                                        stop.get_or_insert(why);
                                        scheduler.stop();
                                    }
                                    state.hosts.insert(host.name.clone(), host);
                                }
                                Err(err) => {
                                    // A pipeline that panicked is a host in an unknown state.
                                    shared.emit(Event::Warning {
                                        message: format!("a host pipeline ended abnormally: {err}"),
                                    });
                                    scheduler.finished(HostEnd::Broken);
                                }
                            }
                        }
                        _ = interrupts.changed() => {}
                    }
                }
                Decision::BatchDone(b) => {
                    window.batch_done(batches[b].len());
                    if b == 0
                        && let Some(at) = &round.confirm
                        && !self.confirm(at, &batches).await
                    {
                        stop = Some(Stop::Declined(format!(
                            "the canary batch ({}) was not confirmed: `drover resume` continues with the remaining hosts",
                            batches[0].join(", ")
                        )));
                        scheduler.stop();
                        continue;
                    }
                    if !round.pause.is_zero() {
                        shared.emit(Event::Pause {
                            after_batch: b + 1,
                            seconds: round.pause.as_secs_f64(),
                        });
                        tokio::select! {
                            _ = tokio::time::sleep(round.pause) => {}
                            _ = interrupts.changed() => {}
                        }
                        if *interrupts.borrow() > 0 {
                            continue;
                        }
                    }
                    scheduler.next_batch();
                }
                Decision::Halt(halt) => {
                    let stopped = match (halt, stop.take()) {
                        (Halt::Stopped, Some(stop)) => stop,
                        (Halt::Stopped, None) => Stop::Halted("stopped".to_string()),
                        (Halt::FailureBudget { failed, allowed }, _) => Stop::Halted(format!(
                            "failure budget spent: {failed} host(s) failed, max_failed allows {allowed}"
                        )),
                        (
                            Halt::NoCapacity {
                                broken,
                                max_unavailable,
                            },
                            _,
                        ) => Stop::Halted(format!(
                            "{broken} failed host(s) are still out of service and max_unavailable is {max_unavailable}: taking another host down would exceed it"
                        )),
                    };
                    return Err(stopped);
                }
                Decision::Done => return stop.map_or(Ok(()), Err),
            }
        }
    }

    /// Enters a host's end in the ledger (and the journal, when final); says whether the
    /// round must stop because of it.
    fn ended(
        &self,
        host: &str,
        end: &PipelineEnd,
        last: bool,
        ledger: &mut Ledger,
        message: Option<String>,
    ) -> Option<Stop> {
        let final_outcome = match end.outcome {
            // Verified at this hop, more hops in later rounds: not over yet.
            HostOutcome::Upgraded if !last => None,
            HostOutcome::Paused => None,
            // Waits for the cluster rollback, which gives it its outcome.
            _ if end.cluster => None,
            outcome => Some(outcome),
        };
        ledger.ran(host, end, final_outcome);
        if let Some(outcome) = final_outcome {
            self.shared.record(Record::HostDone {
                play: self.play,
                host: host.to_string(),
                outcome,
                at: Some(crate::journal::now_rfc3339()),
            });
        }
        if final_outcome.is_some() || end.outcome == HostOutcome::Paused {
            self.shared.emit(Event::HostDone {
                host: host.to_string(),
                outcome: end.outcome,
                phase: end.phase,
                duration_ms: millis(end.duration),
                message,
            });
        }
        if end.cluster {
            return Some(Stop::Cluster {
                trigger: host.to_string(),
            });
        }
        match end.outcome {
            HostOutcome::Held => Some(Stop::Held(format!(
                "{host} failed and is held as it is ({}): nothing is rolled back; fix it, then roll back or resume by hand",
                if self.has(crate::playbook::Phase::Rollback) {
                    "on_failure: hold"
                } else {
                    "the rollout has no rollback phase"
                }
            ))),
            HostOutcome::Paused => Some(Stop::WindowClosed(format!(
                "{host} stopped between hops: {}",
                end.paused.clone().unwrap_or_default()
            ))),
            _ => None,
        }
    }

    /// Asks the operator at a confirmation point (recorded, so a resume does not ask
    /// again); `--yes` answers yes.
    async fn confirm(&self, at: &str, batches: &[Vec<String>]) -> bool {
        let Some(confirm) = self.shared.config.confirm.clone() else {
            return true;
        };
        let left: usize = batches.iter().skip(1).map(Vec::len).sum();
        let question = format!(
            "Canary batch ({}) is done. Continue with the remaining {left} host(s)?",
            batches.first().map(|b| b.join(", ")).unwrap_or_default()
        );
        self.shared.emit(Event::AwaitingConfirmation {
            question: question.clone(),
        });
        let yes = tokio::task::spawn_blocking(move || confirm(&question))
            .await
            .unwrap_or(false);
        self.shared.record(Record::Confirmed {
            play: self.play,
            at: at.to_string(),
            yes,
        });
        yes
    }
}

//! `on_failure: cluster`: when a host of a cluster that shares state (one database) fails
//! after changing it, rolling back that host alone would leave the others on a schema that
//! moved. So the whole stage goes back:
//!
//! 1. every host that changed, newest first: `stop`, then `rollback` (with its own facts:
//!    its backup);
//! 2. every `run_once` step that ran and has an `undo:`, newest first, once, on the host
//!    that ran it (the shared database goes back one step at a time);
//! 3. every rolled-back host: `start`.
//!
//! Each step is journaled; a resume after a crash continues with the hosts not yet done.
//! A failed undo leaves every host `ROLLBACK_FAILED` (the shared state is in doubt) and
//! starts nothing.

use super::super::events::{Event, HostOutcome};
use super::super::walk::Walk;
use super::super::{RunState, Status};
use super::pipeline::{PhaseResult, Step};
use super::{Ledger, Rollout};
use crate::journal::{OnceRun, Record};
use crate::playbook::{Phase, Section};
use std::time::Instant;

impl Rollout {
    /// Rolls `hosts` (newest first) back with the cluster, after `trigger` failed; hosts in
    /// `done` went through their rollback already (a resumed cluster rollback).
    pub(super) async fn cluster_rollback(
        &self,
        state: &mut RunState,
        ledger: &mut Ledger,
        trigger: &str,
        hosts: Vec<String>,
        done: &[String],
    ) {
        self.shared.record(Record::ClusterRollback {
            play: self.play,
            trigger: trigger.to_string(),
            hosts: hosts.clone(),
            stage: self.once().stage(),
        });
        self.shared.emit(Event::ClusterRollback {
            trigger: trigger.to_string(),
            hosts: hosts.clone(),
        });
        let mut outcomes: Vec<(String, HostOutcome, Instant)> = Vec::new();
        for name in &hosts {
            let started = Instant::now();
            if done.contains(name) {
                outcomes.push((name.clone(), HostOutcome::RolledBack, started));
                continue;
            }
            let Some(mut host) = state.hosts.shift_remove(name) else {
                continue;
            };
            let mut verdicts = Vec::new();
            let position = ledger.position(name);
            let outcome = self
                .roll_back_phases(&mut host, position, &mut verdicts, false)
                .await;
            for verdict in &verdicts {
                state.count(name, verdict);
            }
            host.failed = true;
            state.hosts.insert(name.clone(), host);
            outcomes.push((name.clone(), outcome, started));
        }
        let undone = self.undo_shared_steps(state).await;
        for (name, outcome, _) in &mut outcomes {
            if !undone {
                if *outcome == HostOutcome::RolledBack {
                    *outcome = HostOutcome::RollbackFailed;
                }
                continue;
            }
            if *outcome != HostOutcome::RolledBack || !self.has(Phase::Start) {
                continue;
            }
            let Some(mut host) = state.hosts.shift_remove(name.as_str()) else {
                continue;
            };
            host.failed = false;
            let mut verdicts = Vec::new();
            let step = Step {
                phase: Phase::Start,
                hop: None,
                position: ledger.position(name),
                timeout: None,
            };
            let result = self.phase(&mut host, &step, &mut verdicts).await;
            for verdict in &verdicts {
                state.count(name, verdict);
            }
            host.failed = true;
            state.hosts.insert(name.clone(), host);
            if result != PhaseResult::Ok {
                *outcome = HostOutcome::RollbackFailed;
            }
        }
        for (name, outcome, started) in outcomes {
            ledger.rolled_back(&name, outcome, started.elapsed());
            self.shared.record(Record::HostDone {
                play: self.play,
                host: name.clone(),
                outcome,
                at: Some(crate::journal::now_rfc3339()),
            });
            self.shared.emit(Event::HostDone {
                host: name,
                outcome,
                phase: Some(Phase::Rollback),
                duration_ms: super::millis(started.elapsed()),
                message: None,
            });
        }
    }

    /// Runs the `undo:` of every shared step that ran, newest first, each once on the host
    /// that ran it; false when one failed (the rest are not attempted).
    async fn undo_shared_steps(&self, state: &mut RunState) -> bool {
        let play = &self.shared.playbook.plays[self.play];
        for run in self.once().take_undoable() {
            let Some(task) = play
                .phases
                .as_ref()
                .and_then(|p| p.get(run.phase).get(run.task))
            else {
                continue;
            };
            let Some(file) = task.undo.clone() else {
                continue;
            };
            let Some(mut host) = state.hosts.shift_remove(&run.host) else {
                continue;
            };
            self.shared.emit(Event::UndoStart {
                host: run.host.clone(),
                task: task.display_name(),
                hop: run.hop.clone(),
            });
            host.failed = false;
            self.set_hop(&mut host, &run);
            let walk = Walk {
                file: Some(file.clone()),
                ..self.walk(Section::Phase(run.phase), &[])
            };
            let mut verdicts = Vec::new();
            walk.on_host(&file.steps, &mut host, &mut verdicts, false)
                .await;
            let ok = host.live()
                && !verdicts.iter().any(|v| {
                    matches!(v.status, Status::Failed | Status::Unreachable) && !v.ignored
                });
            for verdict in &verdicts {
                state.count(&run.host, verdict);
            }
            host.failed = true;
            state.hosts.insert(run.host.clone(), host);
            self.shared.record(Record::Undone {
                play: self.play,
                phase: run.phase,
                task: run.task,
                hop: run.hop.clone(),
                ok,
            });
            if !ok {
                self.shared.emit(Event::Warning {
                    message: format!(
                        "the undo of `{}` failed on {}: the shared state is in doubt, no host is started again",
                        task.display_name(),
                        run.host
                    ),
                });
                return false;
            }
        }
        true
    }

    /// The hop the undone step ran for, as `hop` for its undo, and what the step registered
    /// then (a later hop's run registered the same name since).
    fn set_hop(&self, host: &mut super::super::HostState, run: &OnceRun) {
        if let Some(hop) = &run.hop_fact {
            host.facts.set("hop", hop.clone());
        }
        if let Some((name, value)) = &run.registered {
            host.facts.set(name, value.clone());
        }
    }
}

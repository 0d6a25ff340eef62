//! What an earlier, interrupted run of this rollout did, read from its journal: which hosts
//! ended, where each interrupted host stands (the phase and hop it last entered and the last
//! one it finished), the facts to give back, the shared steps that ran, the answers given at
//! confirmation points and a cluster rollback that had begun.

use super::super::task::OnceResults;
use super::super::{RunState, Shared};
use super::Rollout;
use crate::engine::HostOutcome;
use crate::journal::HostProgress;
use crate::plan::PlayPlan;
use crate::playbook::{Phase, Section, Step};
use std::collections::HashMap;

/// A point in a host's pipeline: a phase, and the hop (1-based) with an upgrade path.
pub(super) type Point = (Phase, Option<usize>);

/// An earlier run's progress on this rollout (empty for a new run).
#[derive(Default)]
pub(super) struct Resumed {
    hosts: HashMap<String, HostProgress>,
    /// The answers given at confirmation points, by point.
    confirmed: HashMap<String, bool>,
    cluster_rollback: Option<crate::journal::ClusterRollback>,
    once_ran: Vec<crate::journal::OnceRun>,
}

impl Resumed {
    pub(super) fn new(shared: &Shared, play_plan: &PlayPlan) -> Resumed {
        let Some(progress) = &shared.config.resume else {
            return Resumed::default();
        };
        let play = play_plan.play;
        let hosts = play_plan
            .hosts
            .iter()
            .filter_map(|h| progress.host(play, h).map(|p| (h.clone(), p.clone())))
            .collect();
        Resumed {
            hosts,
            confirmed: progress
                .confirmed
                .iter()
                .filter(|((p, _), _)| *p == play)
                .map(|((_, at), yes)| (at.clone(), *yes))
                .collect(),
            cluster_rollback: progress.cluster_rollback.get(&play).cloned(),
            once_ran: progress
                .once_ran
                .iter()
                .filter(|r| r.play == play)
                .cloned()
                .collect(),
        }
    }

    /// Gives every host the earlier run touched its registered facts back (an interrupted
    /// host continues with them; an ended one may still be rolled back with the cluster).
    pub(super) fn restore(&self, state: &mut RunState) {
        for (name, progress) in &self.hosts {
            if self.is_fresh(name) {
                continue;
            }
            if let Some(host) = state.hosts.get_mut(name) {
                host.facts.restore(&progress.facts, &progress.included);
            }
        }
    }

    /// The shared steps that ran in an earlier run, for a stage's undo list.
    pub(super) fn restore_once(&self, once: &OnceResults) {
        once.restore(self.once_ran.clone());
    }

    pub(super) fn outcome(&self, host: &str) -> Option<HostOutcome> {
        self.hosts.get(host).and_then(|p| p.outcome)
    }

    /// Not started before (or only prechecked): runs the precheck and the whole pipeline.
    pub(super) fn is_fresh(&self, host: &str) -> bool {
        self.hosts
            .get(host)
            .is_none_or(|p| p.outcome.is_none() && p.phase.is_none_or(|ph| ph == Phase::Precheck))
    }

    /// The phase the host last entered and the last one it finished, when it had gone past
    /// its precheck.
    pub(super) fn point(&self, host: &str) -> (Option<Point>, Option<Point>) {
        match self.hosts.get(host) {
            Some(p) if !self.is_fresh(host) => (p.phase.map(|ph| (ph, p.hop)), p.completed),
            _ => (None, None),
        }
    }

    /// When the host first entered a phase, relative to the others (rollback order).
    pub(super) fn started(&self, host: &str) -> Option<usize> {
        self.hosts
            .get(host)
            .filter(|_| !self.is_fresh(host))
            .and_then(|p| p.started)
    }

    pub(super) fn confirmed(&self, at: &str) -> Option<bool> {
        self.confirmed.get(at).copied()
    }

    /// A cluster rollback that began and did not finish (some host of it has no outcome
    /// recorded after it): what it rolls back, and which hosts already went back.
    pub(super) fn cluster_rollback(&self) -> Option<crate::journal::ClusterRollback> {
        let cluster = self.cluster_rollback.clone()?;
        let finished = cluster.hosts.iter().all(|h| {
            matches!(
                self.outcome(h),
                Some(HostOutcome::RolledBack | HostOutcome::RollbackFailed)
            )
        });
        (!finished).then_some(cluster)
    }

    /// Facts the host's `no_log` precheck tasks registered: their names are journaled, never
    /// their values.
    pub(super) fn secret_names(&self, host: &str) -> Vec<String> {
        self.hosts
            .get(host)
            .map(|p| p.secret.clone())
            .unwrap_or_default()
    }
}

/// Where a host's steps resume: after the last step it finished when that is also the last
/// it entered, else at the one it was interrupted in (which runs again). Steps are the
/// host's pipeline for this round, in order.
pub(super) fn resume_at(steps: &[Point], entered: Option<Point>, finished: Option<Point>) -> usize {
    let position = |p: Point| steps.iter().position(|s| *s == p);
    match (entered, finished) {
        (Some(entered), Some(finished)) if entered == finished => {
            position(finished).map_or(0, |i| i + 1)
        }
        (Some(entered), _) => position(entered).unwrap_or(0),
        (None, _) => 0,
    }
}

impl Rollout {
    /// A resumed host's `no_log` precheck results were not journaled: the precheck tasks
    /// that registered them run again (with the journaled facts in scope), so the host
    /// continues with every fact it had. Each such task is read-only, as a precheck is.
    pub(super) async fn rederive_secrets(&self, state: &mut RunState, resume: &Resumed) {
        let play = &self.shared.playbook.plays[self.play];
        let Some(phases) = &play.phases else { return };
        let tasks = phases.get(Phase::Precheck);
        let names: Vec<String> = state.hosts.keys().cloned().collect();
        for name in names {
            let missing: Vec<String> = resume
                .secret_names(&name)
                .into_iter()
                .filter(|n| state.hosts.get(&name).is_some_and(|h| !h.facts.contains(n)))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let Some(mut host) = state.hosts.shift_remove(&name) else {
                continue;
            };
            for index in precheck_order(phases.steps(Phase::Precheck)) {
                let registers = tasks[index]
                    .register
                    .as_ref()
                    .is_some_and(|r| missing.contains(r));
                if registers && host.live() {
                    let job = self.job(crate::playbook::TaskRef {
                        section: Section::Phase(Phase::Precheck),
                        index,
                    });
                    let verdict = job.run_on(&mut host).await;
                    state.count(&name, &verdict);
                }
            }
            state.hosts.insert(name, host);
        }
    }
}

/// The precheck's tasks in the order they run (blocks walked in order).
fn precheck_order(steps: &[Step]) -> Vec<usize> {
    let mut order = Vec::new();
    for step in steps {
        match step {
            Step::Task(i) => order.push(*i),
            Step::Block(block) => {
                for list in [&block.block, &block.rescue, &block.always] {
                    order.extend(precheck_order(list));
                }
            }
            Step::Include(_) => {}
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_step_is_not_repeated_and_an_interrupted_one_is() {
        let steps = [
            (Phase::Backup, None),
            (Phase::Upgrade, Some(1)),
            (Phase::Verify, Some(1)),
            (Phase::Upgrade, Some(2)),
            (Phase::Verify, Some(2)),
        ];
        // Verified at hop 1, then stopped (a window, or a crash before hop 2 began).
        let done = Some((Phase::Verify, Some(1)));
        assert_eq!(resume_at(&steps, done, done), 3);
        // Interrupted inside the upgrade of hop 2: that phase runs again.
        assert_eq!(resume_at(&steps, Some((Phase::Upgrade, Some(2))), done), 3);
        // Interrupted inside hop 1's verify, after the upgrade finished.
        let upgraded = Some((Phase::Upgrade, Some(1)));
        assert_eq!(
            resume_at(&steps, Some((Phase::Verify, Some(1))), upgraded),
            2
        );
        // A new host.
        assert_eq!(resume_at(&steps, None, None), 0);
        // Everything done but the outcome was not recorded: nothing left to run.
        let last = Some((Phase::Verify, Some(2)));
        assert_eq!(resume_at(&steps, last, last), 5);
    }
}

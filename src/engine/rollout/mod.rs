//! Rollouts: plays with `phases:`. The order of events for a rollout:
//!
//! 1. the play's ordinary `tasks:` (if any), linear over all its hosts;
//! 2. `precheck` on every host (for real, even under `--check`: it is read-only by
//!    contract); a failure anywhere abandons the rollout, nothing changed;
//! 3. hosts ordered (`order_by` may use facts the precheck registered), each host's hop
//!    chain computed, and the hosts split into stages (`rolling.stages`);
//! 4. per stage, one round — or, with `hops: cluster`, one round per hop of the cluster —
//!    in which hosts run their pipeline (see [`pipeline`]) in batches, under
//!    `max_unavailable` and the stage's failure budget (see [`round`]);
//! 5. a failure after a host changed: its rollback, the cluster's (see [`cluster`]), or a
//!    hold, by `rolling.on_failure`.
//!
//! Ctrl-C stops scheduling; hosts already in their pipeline finish it (upgraded or rolled
//! back), so no host is left between backup and verify without an outcome.

mod cluster;
pub mod lock;
mod pipeline;
mod resume;
mod round;
mod window;

use super::events::{Event, HostOutcome, HostPath, HostRow};
use super::scheduler::HostEnd;
use super::task::{Job, OnceResults};
use super::vars::PlayScope;
use super::walk::Walk;
use super::{Flow, HostState, Interrupts, RunState, Shared};
use crate::plan::{self, PlayPlan};
use crate::playbook::{HopMode, Phase, Rolling, Section, TaskRef, UpgradePathSpec};
use crate::template::{Origin, from_json};
use crate::upgrade_path::{Hop, Stops, UpgradePath, Version};
use indexmap::IndexMap;
use pipeline::{PipelineEnd, Work};
use resume::Resumed;
use round::{Round, Stop};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use window::WindowKeeper;

/// What a rollout play needs while it runs, shared by every host pipeline.
pub(super) struct Rollout {
    shared: Arc<Shared>,
    scope: Arc<PlayScope>,
    play: usize,
    /// The current stage's `run_once` results (each stage runs its own once).
    once: std::sync::Mutex<Arc<OnceResults>>,
    total: usize,
}

/// How each host of the rollout stands across stages and hops: what the final table, the
/// failure budgets and a cluster rollback read.
#[derive(Default)]
pub(super) struct Ledger {
    /// Every host of the rollout, in rollout order.
    rows: IndexMap<String, LedgerRow>,
    /// Hosts in the order they first started a pipeline (a cluster rolls back in reverse).
    started: Vec<String>,
}

#[derive(Default, Clone)]
struct LedgerRow {
    outcome: Option<HostOutcome>,
    phase: Option<Phase>,
    duration: Duration,
    changed: bool,
    /// Scheduling end of its last pipeline (for later rounds' budgets).
    end: Option<HostEnd>,
}

impl Ledger {
    fn position(&self, host: &str) -> usize {
        self.rows.get_index_of(host).map_or(0, |i| i + 1)
    }

    fn starting(&mut self, host: &str) {
        if !self.started.iter().any(|h| h == host) {
            self.started.push(host.to_string());
        }
    }

    fn ran(&mut self, host: &str, end: &PipelineEnd, outcome: Option<HostOutcome>) {
        let row = self.rows.entry(host.to_string()).or_default();
        row.phase = end.phase.or(row.phase);
        row.duration += end.duration;
        row.changed |= end.changed;
        row.outcome = outcome;
        row.end = Some(end.end);
    }

    fn rolled_back(&mut self, host: &str, outcome: HostOutcome, took: Duration) {
        let row = self.rows.entry(host.to_string()).or_default();
        row.outcome = Some(outcome);
        row.phase = Some(Phase::Rollback);
        row.duration += took;
        row.end = Some(pipeline::restored_end(outcome));
    }

    /// Those of `hosts` left in a state no resume has to pick up (done, rolled back, failed
    /// unchanged, or never started): their locks go. A host paused, held, whose rollback
    /// failed or that was in flight when the run stopped keeps its lock (this run's).
    fn settled(&self, hosts: &[String]) -> Vec<String> {
        hosts
            .iter()
            .filter(|h| match self.outcome(h) {
                Some(HostOutcome::Paused | HostOutcome::Held | HostOutcome::RollbackFailed) => {
                    false
                }
                Some(_) => true,
                None => !self.started.contains(h),
            })
            .cloned()
            .collect()
    }

    fn outcome(&self, host: &str) -> Option<HostOutcome> {
        self.rows.get(host).and_then(|r| r.outcome)
    }

    /// Ends so far of `hosts` (a stage): the budget they already used.
    fn ends(&self, hosts: &[String]) -> Vec<HostEnd> {
        hosts
            .iter()
            .filter_map(|h| self.rows.get(h))
            .filter_map(|r| r.outcome.map(pipeline::restored_end).or(r.end))
            .filter(|e| *e != HostEnd::Verified)
            .collect()
    }

    /// The hosts of `stage` a cluster rollback takes back, newest first: those that changed
    /// and did not already end restored (or rolled back).
    fn to_roll_back(&self, stage: &[String]) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .started
            .iter()
            .filter(|h| stage.contains(h))
            .filter(|h| {
                self.rows.get(*h).is_some_and(|r| {
                    r.changed
                        && !matches!(
                            r.outcome,
                            Some(
                                HostOutcome::RolledBack
                                    | HostOutcome::RollbackFailed
                                    | HostOutcome::Failed
                                    | HostOutcome::UpToDate
                                    | HostOutcome::Unreachable
                            )
                        )
                })
            })
            .cloned()
            .collect();
        hosts.reverse();
        hosts
    }

    /// Hosts with no outcome that never started.
    fn untouched(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|(h, r)| r.outcome.is_none() && !self.started.contains(h))
            .map(|(h, _)| h.clone())
            .collect()
    }

    fn table(&self) -> Vec<HostRow> {
        self.rows
            .iter()
            .map(|(host, r)| HostRow {
                host: host.clone(),
                outcome: r.outcome.unwrap_or(if self.started.contains(host) {
                    HostOutcome::Paused
                } else {
                    HostOutcome::Untouched
                }),
                phase: r.phase,
                duration_ms: millis(r.duration),
            })
            .collect()
    }
}

pub(super) async fn run(
    shared: &Arc<Shared>,
    scope: &Arc<PlayScope>,
    play_plan: &PlayPlan,
    state: &mut RunState,
    interrupts: &Interrupts,
) -> Flow {
    let play = &shared.playbook.plays[play_plan.play];
    let (Some(rolling), Some(_)) = (&play.rolling, &play.phases) else {
        return Flow::Continue;
    };
    let rollout = Arc::new(Rollout::new(shared, scope, play_plan));

    // A resumed rollout: hosts that ended are not touched again; a host interrupted
    // mid-pipeline gets back the facts it had registered and restarts where it was.
    let resume = Resumed::new(shared, play_plan);
    resume.restore(state);
    rollout.enter_stage(0, &resume);
    let fresh: Vec<String> = play_plan
        .hosts
        .iter()
        .filter(|h| resume.is_fresh(h))
        .cloned()
        .collect();

    // Outside the window nothing runs, not even the precheck: its facts would be stale by
    // the time the window opens. (Each round checks again before every host.)
    let mut window = WindowKeeper::new(shared, rolling);
    if !rollout.check()
        && let Some(reason) = window.wait_for_opening(interrupts).await
    {
        state.window_closed = true;
        shared.emit(Event::WindowClosed {
            reason,
            untouched: fresh.clone(),
            next_open: window.next_open(),
        });
        return Flow::Stop;
    }
    if *interrupts.borrow() > 0 {
        shared.emit(Event::Interrupted);
        state.interrupted = true;
        return Flow::Stop;
    }

    // 1 and 2: ordinary tasks, then the precheck, on every new host, before anything changes.
    rollout
        .walk(Section::Tasks, &fresh)
        .lockstep(&play.steps, &fresh, state, false)
        .await;
    rollout.precheck(state, &fresh).await;
    rollout.rederive_secrets(state, &resume).await;
    let failed: Vec<String> = fresh
        .iter()
        .filter(|h| state.hosts.get(*h).is_none_or(|s| !s.live()))
        .cloned()
        .collect();
    if !failed.is_empty() {
        shared.emit(Event::PrecheckFailed { hosts: failed });
        return Flow::Stop;
    }

    // 3: order (now that precheck facts exist), hop chains, stages.
    let ordered = rollout.order(play_plan, state);
    let pending: Vec<String> = ordered
        .iter()
        .filter(|h| resume.outcome(h).is_none())
        .cloned()
        .collect();
    let chains = match rollout.upgrade_paths(&pending, state) {
        Ok(chains) => chains,
        Err(()) => return Flow::Stop,
    };
    let mut ledger = Ledger::default();
    for host in &ordered {
        let outcome = resume.outcome(host);
        let up_to_date = chains.get(host).is_some_and(Vec::is_empty);
        let row = ledger.rows.entry(host.clone()).or_default();
        row.outcome = outcome.or(up_to_date.then_some(HostOutcome::UpToDate));
        row.changed = outcome.is_some_and(|o| o != HostOutcome::UpToDate);
    }
    let mut earlier: Vec<(usize, String)> = ordered
        .iter()
        .filter_map(|h| resume.started(h).map(|at| (at, h.clone())))
        .collect();
    earlier.sort();
    for (_, host) in earlier {
        ledger.starting(&host);
        if let Some(row) = ledger.rows.get_mut(&host) {
            row.changed = true;
        }
    }

    let stages = match rollout.stages(&ordered) {
        Ok(stages) => stages,
        Err(why) => {
            state.halted = true;
            shared.emit(Event::RolloutHalted {
                reason: why,
                untouched: ordered.clone(),
            });
            return Flow::Stop;
        }
    };

    // Every host this run may change is locked, on the host, before any of them changes.
    let resuming_rollback = resume.cluster_rollback();
    let mut to_lock: Vec<String> = ordered
        .iter()
        .filter(|h| ledger.outcome(h).is_none())
        .cloned()
        .collect();
    if let Some(cluster) = &resuming_rollback {
        for host in &cluster.hosts {
            if !to_lock.contains(host) {
                to_lock.push(host.clone());
            }
        }
    }
    let mut locks = match rollout.lock(state, &to_lock).await {
        Ok(locks) => locks,
        Err(refused) => {
            for (host, why) in &refused {
                shared.emit(Event::Warning {
                    message: format!("{host}: {why}"),
                });
            }
            state.halted = true;
            shared.emit(Event::RolloutHalted {
                reason: format!(
                    "{} host(s) locked by another run: nothing was changed",
                    refused.len()
                ),
                untouched: ordered.clone(),
            });
            return Flow::Stop;
        }
    };

    // A cluster rollback an earlier run began: finish it, then stop.
    if let Some(cluster) = resuming_rollback {
        let trigger = cluster.trigger.clone();
        // Its undo list is the shared steps of the stage it began in.
        rollout.enter_stage(cluster.stage, &resume);
        rollout
            .cluster_rollback(
                state,
                &mut ledger,
                &trigger,
                cluster.hosts,
                &cluster.rolled_back,
            )
            .await;
        state.halted = true;
        locks
            .release(&ledger.settled(&to_lock), &shared.events)
            .await;
        shared.emit(Event::RolloutHalted {
            reason: format!("{trigger} failed and the cluster was rolled back"),
            untouched: ledger.untouched(),
        });
        shared.emit(Event::RolloutEnd {
            hosts: ledger.table(),
        });
        return Flow::Stop;
    }

    let scheduled: Vec<String> = ordered
        .iter()
        .filter(|h| ledger.outcome(h).is_none())
        .cloned()
        .collect();
    let max_unavailable = rolling
        .max_unavailable
        .map_or(scheduled.len(), |l| l.of(scheduled.len()))
        .max(1);
    shared.emit(Event::RolloutStart {
        hosts: scheduled.clone(),
        batches: stages
            .iter()
            .flat_map(|(stage, hosts)| {
                let pending: Vec<String> = hosts
                    .iter()
                    .filter(|h| scheduled.contains(h))
                    .cloned()
                    .collect();
                plan::split(&pending, rollout.batch_of(*stage))
            })
            .collect(),
        max_unavailable,
        max_failed: rolling.max_failed.of(scheduled.len()),
        window: rolling.window.as_ref().map(ToString::to_string),
    });

    // 4: the stages, each as one round or one round per hop of the cluster.
    let mut stopped: Option<(Stop, Vec<String>)> = None;
    let mut first_round = true;
    'stages: for (index, (stage, hosts)) in stages.iter().enumerate() {
        if rolling.stages.len() > 1 || stage.is_some() {
            let name = stage
                .and_then(|s| rolling.stages.get(s))
                .map_or_else(String::new, |s| s.name.clone());
            shared.emit(Event::StageStart {
                index: index + 1,
                total: stages.len(),
                name,
                hosts: hosts.clone(),
            });
        }
        rollout.enter_stage(index, &resume);
        if let Some(stop) = rollout.confirm_stage(*stage, hosts, &resume, &ledger).await {
            stopped = Some((stop, hosts.clone()));
            break;
        }
        let rounds = rollout.rounds(*stage, hosts, &chains, &resume, &ledger);
        let count = rounds.len();
        for (k, (to, round)) in rounds.into_iter().enumerate() {
            let mut round = round;
            // Hosts that ended in an earlier round (failed at an earlier hop) are done; the
            // budget spans the stage.
            round.hosts.retain(|h| ledger.outcome(h).is_none());
            if round.hosts.is_empty() {
                continue;
            }
            round.carried = ledger.ends(hosts);
            if let Some(to) = to {
                shared.emit(Event::HopStart {
                    to,
                    index: k + 1,
                    total: count,
                    hosts: round.hosts.clone(),
                });
            }
            if !first_round || resume.confirmed("canary").is_some() {
                round.confirm = None;
            }
            first_round = false;
            let result = rollout
                .round(round, state, &mut ledger, &mut window, interrupts)
                .await;
            if let Err(stop) = result {
                stopped = Some((stop, hosts.clone()));
                break 'stages;
            }
        }
    }

    // 5: how it stopped.
    if let Some((stop, stage_hosts)) = stopped {
        match stop {
            Stop::Cluster { trigger } => {
                let hosts = ledger.to_roll_back(&stage_hosts);
                rollout
                    .cluster_rollback(state, &mut ledger, &trigger, hosts, &[])
                    .await;
                state.halted = true;
                shared.emit(Event::RolloutHalted {
                    reason: format!(
                        "{trigger} failed (on_failure: cluster): every host that changed was rolled back"
                    ),
                    untouched: ledger.untouched(),
                });
            }
            Stop::WindowClosed(reason) => {
                state.window_closed = true;
                shared.emit(Event::WindowClosed {
                    reason,
                    untouched: ledger.untouched(),
                    next_open: window.next_open(),
                });
            }
            Stop::Interrupted => {
                shared.emit(Event::RolloutHalted {
                    reason: "interrupted".to_string(),
                    untouched: ledger.untouched(),
                });
            }
            Stop::Declined(reason) => {
                state.declined = true;
                shared.emit(Event::RolloutHalted {
                    reason,
                    untouched: ledger.untouched(),
                });
            }
            Stop::Halted(reason) | Stop::Held(reason) => {
                state.halted = true;
                shared.emit(Event::RolloutHalted {
                    reason,
                    untouched: ledger.untouched(),
                });
            }
        }
    }
    locks
        .release(&ledger.settled(&to_lock), &shared.events)
        .await;
    shared.emit(Event::RolloutEnd {
        hosts: ledger.table(),
    });
    if state.halted || state.interrupted || state.window_closed || state.declined {
        Flow::Stop
    } else {
        Flow::Continue
    }
}

/// `drover plan`'s probe: the precheck on every host, then the order and each host's hop
/// chain as a run would compute them. Changes nothing (beyond what a precheck does).
pub(super) async fn probe(
    shared: &Arc<Shared>,
    scope: &Arc<PlayScope>,
    play_plan: &PlayPlan,
    state: &mut RunState,
) -> super::Probe {
    let play = &shared.playbook.plays[play_plan.play];
    let rollout = Rollout::new(shared, scope, play_plan);
    rollout.precheck(state, &play_plan.hosts).await;
    let order = rollout.order(play_plan, state);
    let live = state.live(&order);
    let mut probe = super::Probe {
        play: play_plan.play,
        order,
        ..super::Probe::default()
    };
    let mut pending = Vec::new();
    for host in &live {
        let chain = match (&play.upgrade_path, state.hosts.get(host)) {
            (Some(spec), Some(host_state)) => Some(rollout.chain(spec, host_state)),
            _ => None,
        };
        match chain {
            None => pending.push(host.clone()),
            Some(Ok((current, hops))) => {
                if !hops.is_empty() {
                    pending.push(host.clone());
                }
                probe.paths.push(HostPath {
                    host: host.clone(),
                    current: current.to_string(),
                    hops: hops.iter().map(|h| h.to.to_string()).collect(),
                });
            }
            Some(Err(why)) => probe.problems.push(super::ProbeProblem {
                host: host.clone(),
                why,
                unreachable: false,
            }),
        }
    }
    let batch = play.rolling.as_ref().map_or_else(
        || vec![crate::playbook::BatchSize::Count(1)],
        |r| r.batch.clone(),
    );
    probe.batches = plan::split(&pending, &batch);
    probe
}

/// The `(phase, hop)` steps a host of `play` walks for a chain of `hops` hops, in the order
/// the engine runs them (for `drover plan`).
pub(super) fn pipeline_of(
    play: &crate::playbook::Play,
    hops: usize,
) -> Vec<(Phase, Option<usize>)> {
    let has = |phase| play.phases.as_ref().is_some_and(|p| p.has(phase));
    let backup = play
        .rolling
        .as_ref()
        .map_or_else(Default::default, |r| r.backup);
    pipeline::steps(has, usize::from(hops > 0), hops, backup)
}

impl Rollout {
    fn new(shared: &Arc<Shared>, scope: &Arc<PlayScope>, play_plan: &PlayPlan) -> Rollout {
        Rollout {
            shared: shared.clone(),
            scope: scope.clone(),
            play: play_plan.play,
            once: std::sync::Mutex::new(Arc::new(OnceResults::for_stage(0))),
            total: play_plan.hosts.len(),
        }
    }

    fn check(&self) -> bool {
        self.shared.config.check
    }

    /// The `run_once` results of the stage being run.
    fn once(&self) -> Arc<OnceResults> {
        match self.once.lock() {
            Ok(once) => once.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Starts stage `index` with its own `run_once` results (and the shared steps it ran in
    /// an earlier run, for its undo).
    fn enter_stage(&self, index: usize, resume: &Resumed) {
        let once = Arc::new(OnceResults::for_stage(index));
        resume.restore_once(&once);
        match self.once.lock() {
            Ok(mut current) => *current = once,
            Err(poisoned) => *poisoned.into_inner() = once,
        }
    }

    /// A job for evaluating a host's variables outside any one task (the rollout's settings,
    /// `order_by`, the upgrade path): the first task of the first phase that has one.
    fn host_job(&self) -> Job {
        let play = &self.shared.playbook.plays[self.play];
        let phase = play
            .phases
            .as_ref()
            .and_then(|phases| Phase::ALL.into_iter().find(|p| phases.has(*p)))
            .unwrap_or(Phase::Precheck);
        self.job(TaskRef {
            section: Section::Phase(phase),
            index: 0,
        })
    }

    fn job(&self, at: TaskRef) -> Job {
        Job {
            shared: self.shared.clone(),
            scope: self.scope.clone(),
            play: self.play,
            task: at,
            once: Some(self.once()),
            rescuable: false,
            file: None,
            role: None,
        }
    }

    /// The `precheck` phase, task by task, on every live host of `hosts`.
    async fn precheck(&self, state: &mut RunState, hosts: &[String]) {
        let play = &self.shared.playbook.plays[self.play];
        let steps = play
            .phases
            .as_ref()
            .map_or(&[][..], |p| p.steps(Phase::Precheck));
        if steps.is_empty() || hosts.is_empty() {
            return;
        }
        let start = crate::journal::now_rfc3339();
        self.walk(Section::Phase(Phase::Precheck), hosts)
            .lockstep(steps, hosts, state, false)
            .await;
        // For the run report (a resume needs nothing of it: a new host prechecks again).
        let failed = hosts
            .iter()
            .filter_map(|h| state.hosts.get(h).filter(|s| !s.live()))
            .map(|s| {
                let (task, message) = pipeline::failure(s);
                crate::journal::PrecheckFailure {
                    host: s.name.clone(),
                    task,
                    message,
                }
            })
            .collect();
        self.shared.record(crate::journal::Record::Precheck {
            start,
            end: crate::journal::now_rfc3339(),
            hosts: hosts.to_vec(),
            failed,
        });
    }

    /// A walk over one of this rollout's task lists.
    fn walk<'a>(&'a self, section: Section, hosts: &'a [String]) -> Walk<'a> {
        Walk {
            shared: &self.shared,
            scope: &self.scope,
            play: self.play,
            section,
            once: Some(self.once()),
            interrupts: None,
            batch: hosts,
            free: None,
            file: None,
            role: None,
            depth: 0,
        }
    }

    fn rolling(&self) -> &Rolling {
        self.shared.playbook.plays[self.play]
            .rolling
            .as_ref()
            .unwrap_or_else(|| unreachable_rolling())
    }

    fn has(&self, phase: Phase) -> bool {
        self.shared.playbook.plays[self.play]
            .phases
            .as_ref()
            .is_some_and(|p| p.has(phase))
    }

    fn batch_of(&self, stage: Option<usize>) -> &[crate::playbook::BatchSize] {
        let rolling = self.rolling();
        stage
            .and_then(|s| rolling.stages.get(s))
            .and_then(|s| s.batch.as_deref())
            .unwrap_or(&rolling.batch)
    }

    fn order(&self, play_plan: &PlayPlan, state: &RunState) -> Vec<String> {
        if play_plan.order_deferred.is_none() {
            return play_plan.hosts.clone();
        }
        let shared = &self.shared;
        let play = &shared.playbook.plays[self.play];
        let order_by = play.rolling.as_ref().and_then(|r| r.order_by.as_ref());
        let ordered = plan::order_hosts(
            play_plan.hosts.clone(),
            play,
            play.order,
            &shared.inventory,
            |host| {
                let Some(order_by) = order_by else {
                    return Ok(minijinja::Value::from(()));
                };
                let Some(host_state) = state.hosts.get(host) else {
                    return Ok(minijinja::Value::from(()));
                };
                let job = self.host_job();
                let vars = job.context_for(host_state);
                let ctx = super::vars::jinja(&self.scope, &vars);
                shared
                    .templates
                    .render_value(
                        order_by.as_str().unwrap_or_default(),
                        &ctx,
                        Origin::Node(&play.source, order_by.span),
                    )
                    .map(|v| from_json(&v))
                    .map_err(|e| e.to_string())
            },
        );
        match ordered {
            Ok(hosts) => hosts,
            Err((hosts, err)) => {
                shared.emit(Event::Warning {
                    message: format!(
                        "order_by could not be evaluated ({err}); keeping inventory order"
                    ),
                });
                hosts
            }
        }
    }

    /// Each pending host's hop chain (empty: at the target already; absent: no upgrade
    /// path), announced; a host with no valid path stops the rollout before anything
    /// changes (`Err`, already reported).
    fn upgrade_paths(
        &self,
        pending: &[String],
        state: &mut RunState,
    ) -> Result<HashMap<String, Vec<Hop>>, ()> {
        let play = &self.shared.playbook.plays[self.play];
        let Some(spec) = &play.upgrade_path else {
            return Ok(HashMap::new());
        };
        let mut found = Vec::new();
        let mut problems = Vec::new();
        for host in pending {
            let Some(host_state) = state.hosts.get(host) else {
                continue;
            };
            match self.chain(spec, host_state) {
                Ok((current, hops)) => found.push((host.clone(), current, hops)),
                Err(why) => problems.push((host.clone(), why)),
            }
        }
        if !problems.is_empty() {
            // Like a failed precheck: those hosts failed, nothing changed anywhere.
            for (host, _) in &problems {
                if let Some(h) = state.hosts.get_mut(host) {
                    h.failed = true;
                }
                if let Some(stats) = state.stats.get_mut(host) {
                    stats.failed += 1;
                }
            }
            self.shared.emit(Event::UpgradePathInvalid { problems });
            return Err(());
        }
        self.shared.emit(Event::UpgradePaths {
            hosts: found
                .iter()
                .map(|(host, current, hops)| HostPath {
                    host: host.clone(),
                    current: current.to_string(),
                    hops: hops.iter().map(|h| h.to.to_string()).collect(),
                })
                .collect(),
        });
        let chains: HashMap<String, Vec<Hop>> = found
            .into_iter()
            .map(|(host, _, hops)| (host, hops))
            .collect();
        Ok(chains)
    }

    fn chain(
        &self,
        spec: &UpgradePathSpec,
        host: &HostState,
    ) -> Result<(Version, Vec<Hop>), String> {
        let job = self.host_job();
        let ctx = super::vars::jinja(&self.scope, &job.context_for(host));
        let shared = &self.shared;
        let source = &shared.playbook.plays[self.play].source;
        let parse = |value: &serde_json::Value, node: &crate::playbook::Node| {
            let text = match value {
                serde_json::Value::String(s) => s.trim().to_string(),
                other => other.to_string(),
            };
            Version::parse(&text).map_err(|e| {
                format!(
                    "{}: `{text}` is not a version: {e}",
                    source.location(node.span)
                )
            })
        };
        let render = |node: &crate::playbook::Node| {
            shared
                .templates
                .render_node(node, &ctx, source)
                .map_err(|e| e.to_string())
        };
        let version = |node: &crate::playbook::Node| -> Result<Version, String> {
            parse(&render(node)?, node)
        };
        // Each item a version, or a template that renders a list of them.
        let versions = |nodes: &[crate::playbook::Node]| -> Result<Vec<Version>, String> {
            let mut found = Vec::new();
            for node in nodes {
                match render(node)? {
                    serde_json::Value::Array(items) => {
                        for item in &items {
                            found.push(parse(item, node)?);
                        }
                    }
                    one => found.push(parse(&one, node)?),
                }
            }
            Ok(found)
        };
        let current = version(&spec.current)?;
        let stops = match &spec.every {
            Some((unit, available)) => {
                let available = versions(available)?;
                if unit == "major" {
                    Stops::EveryMajor { available }
                } else {
                    Stops::EveryMinor { available }
                }
            }
            None => Stops::List(versions(&spec.stops)?),
        };
        let path = UpgradePath {
            target: version(&spec.target)?,
            stops,
            allow_downgrade: spec.allow_downgrade,
        };
        let hops = path.chain(&current).map_err(|e| e.to_string())?;
        Ok((current, hops))
    }

    /// The rollout's hosts by stage, in rollout order: `(stage index, hosts)`; without
    /// `stages:`, one stage of every host. A host in no stage, or in two, is an error.
    fn stages(&self, ordered: &[String]) -> Result<Vec<StageHosts>, String> {
        let rolling = self.rolling();
        if rolling.stages.is_empty() {
            return Ok(vec![(None, ordered.to_vec())]);
        }
        let inventory = &self.shared.inventory;
        let mut taken: HashMap<String, String> = HashMap::new();
        let mut stages = Vec::new();
        for (index, stage) in rolling.stages.iter().enumerate() {
            let matched = inventory
                .select(&stage.hosts)
                .map_err(|e| format!("stage `{}`: {e}", stage.name))?;
            let names: Vec<&str> = matched.iter().map(|h| h.name.as_str()).collect();
            let hosts: Vec<String> = ordered
                .iter()
                .filter(|h| names.contains(&h.as_str()))
                .cloned()
                .collect();
            for host in &hosts {
                if let Some(other) = taken.insert(host.clone(), stage.name.clone()) {
                    return Err(format!(
                        "{host} is in two stages, `{other}` and `{}`: a host is upgraded in one stage",
                        stage.name
                    ));
                }
            }
            stages.push((Some(index), hosts));
        }
        let left: Vec<&String> = ordered
            .iter()
            .filter(|h| !taken.contains_key(h.as_str()))
            .collect();
        if !left.is_empty() {
            return Err(format!(
                "{} in no stage: every host of a staged rollout belongs to one (add a stage, or narrow the play's `hosts`)",
                left.iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(stages)
    }

    /// Before a stage with `confirm: true`, after an earlier stage: asks the operator.
    async fn confirm_stage(
        &self,
        stage: Option<usize>,
        hosts: &[String],
        resume: &Resumed,
        ledger: &Ledger,
    ) -> Option<Stop> {
        let rolling = self.rolling();
        let stage = rolling.stages.get(stage?)?;
        let pending = hosts.iter().filter(|h| ledger.outcome(h).is_none()).count();
        if !stage.confirm || pending == 0 || self.check() {
            return None;
        }
        let at = format!("stage {}", stage.name);
        if resume.confirmed(&at) == Some(true) {
            return None;
        }
        let confirm = self.shared.config.confirm.clone()?;
        let question = format!(
            "Start stage `{}` ({pending} host(s): {})?",
            stage.name,
            hosts.join(", ")
        );
        self.shared.emit(Event::AwaitingConfirmation {
            question: question.clone(),
        });
        let yes = tokio::task::spawn_blocking(move || confirm(&question))
            .await
            .unwrap_or(false);
        self.shared.record(crate::journal::Record::Confirmed {
            play: self.play,
            at,
            yes,
        });
        (!yes).then(|| {
            Stop::Declined(format!(
                "stage `{}` was not confirmed: `drover resume` starts it",
                stage.name
            ))
        })
    }

    /// A stage's rounds: one, or one per hop target of the cluster (`hops: cluster`), each
    /// with the hosts that still have that hop to do, paced by the stage.
    fn rounds(
        &self,
        stage: Option<usize>,
        hosts: &[String],
        chains: &HashMap<String, Vec<Hop>>,
        resume: &Resumed,
        ledger: &Ledger,
    ) -> Vec<(Option<String>, Round)> {
        let rolling = self.rolling();
        let spec = stage.and_then(|s| rolling.stages.get(s));
        let pending: Vec<String> = hosts
            .iter()
            .filter(|h| ledger.outcome(h).is_none())
            .cloned()
            .collect();
        let max_unavailable = spec
            .and_then(|s| s.max_unavailable)
            .or(rolling.max_unavailable)
            .map_or(pending.len(), |l| l.of(hosts.len()))
            .max(1);
        let max_failed = spec
            .and_then(|s| s.max_failed)
            .unwrap_or(rolling.max_failed)
            .of(hosts.len());
        let make = |hosts: Vec<String>, work: HashMap<String, Work>| Round {
            hosts,
            work,
            batch: self.batch_of(stage).to_vec(),
            max_unavailable,
            max_failed,
            pause: spec.and_then(|s| s.pause).unwrap_or(rolling.pause),
            confirm: rolling.confirm_canary.then(|| "canary".to_string()),
            carried: Vec::new(),
        };
        let point = |host: &str| resume.point(host);
        if rolling.hops == HopMode::Host || chains.is_empty() {
            let work = pending
                .iter()
                .map(|h| {
                    let hops = chains.get(h).cloned().unwrap_or_default();
                    let (entered, finished) = point(h);
                    let last_hop = hops.len();
                    let work = Work {
                        first_hop: usize::from(last_hop > 0),
                        last_hop,
                        hops,
                        entered,
                        finished,
                        last: true,
                    };
                    (h.clone(), work)
                })
                .collect();
            return vec![(None, make(pending.clone(), work))];
        }
        // The cluster's hops: every target version some host still has to reach, in order.
        let mut targets: Vec<Version> = pending
            .iter()
            .flat_map(|h| {
                chains
                    .get(h)
                    .into_iter()
                    .flatten()
                    .map(|hop| hop.to.clone())
            })
            .collect();
        targets.sort();
        targets.dedup();
        let mut rounds = Vec::new();
        for to in &targets {
            let mut members = Vec::new();
            let mut work = HashMap::new();
            for host in &pending {
                let Some(hops) = chains.get(host) else {
                    continue;
                };
                let Some(hop) = hops.iter().find(|h| h.to == *to) else {
                    continue;
                };
                let (entered, finished) = point(host);
                // Hops the host finished (verified) in an earlier run are not done again.
                let done = hops_done(entered, finished);
                if hop.index <= done {
                    continue;
                }
                members.push(host.clone());
                work.insert(
                    host.clone(),
                    Work {
                        hops: hops.clone(),
                        first_hop: hop.index,
                        last_hop: hop.index,
                        entered,
                        finished,
                        last: hop.index == hops.len(),
                    },
                );
            }
            rounds.push((Some(to.to_string()), make(members, work)));
        }
        rounds
    }
}

/// How many hops of its chain a host finished in an earlier run: the hop of its last
/// finished `verify`, and every hop before the one it was in.
fn hops_done(entered: Option<resume::Point>, finished: Option<resume::Point>) -> usize {
    let verified = finished
        .filter(|(p, _)| *p == Phase::Verify)
        .and_then(|(_, h)| h)
        .unwrap_or(0);
    let before = |point: Option<resume::Point>| {
        point
            .and_then(|(_, h)| h)
            .map_or(0, |h| h.saturating_sub(1))
    };
    verified.max(before(entered)).max(before(finished))
}

/// A stage (its index in `rolling.stages`; `None` without stages) and its hosts, in order.
type StageHosts = (Option<usize>, Vec<String>);

fn unreachable_rolling() -> &'static Rolling {
    // Plays with phases always carry `rolling` (the loader fills in the defaults).
    static FALLBACK: std::sync::OnceLock<Rolling> = std::sync::OnceLock::new();
    FALLBACK.get_or_init(Rolling::default)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_inside_a_hop_has_done_every_hop_before_it() {
        assert_eq!(hops_done(None, None), 0);
        // Verified at hop 1, not started hop 2.
        let v1 = Some((Phase::Verify, Some(1)));
        assert_eq!(hops_done(v1, v1), 1);
        // Killed in hop 2's upgrade after its backup: hop 1 is done, hop 2 is not.
        assert_eq!(
            hops_done(
                Some((Phase::Upgrade, Some(2))),
                Some((Phase::Backup, Some(2)))
            ),
            1
        );
        // Killed in hop 3's stop: the last phase it finished was hop 2's verify.
        assert_eq!(
            hops_done(Some((Phase::Stop, Some(3))), Some((Phase::Verify, Some(2)))),
            2
        );
    }
}

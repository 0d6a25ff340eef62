//! Rollouts: plays with `phases:`. The order of events for a rollout:
//!
//! 1. the play's ordinary `tasks:` (if any), linear over all its hosts;
//! 2. `precheck` on every host; a failure anywhere abandons the rollout, nothing changed;
//! 3. hosts ordered (`order_by` may use facts the precheck registered) and batched;
//! 4. per host, a pipeline `backup → upgrade → migrate → verify` (verify under
//!    `verify_timeout`); a failure in upgrade, migrate or verify runs `rollback` with the
//!    facts the backup registered. Which host starts when is decided by the pure
//!    [`Scheduler`]: batches in order, `max_unavailable`, the failure budget `max_failed`;
//! 5. between batches: the canary confirmation (after the first) and `pause`.
//!
//! Ctrl-C stops scheduling; hosts already in their pipeline finish it (upgraded or rolled
//! back), so no host is left between backup and verify without an outcome.

use super::events::{Event, HostOutcome, HostPath, HostRow};
use super::scheduler::{Decision, Halt, HostEnd, Pace, Scheduler};
use super::task::{Job, OnceResults, Verdict};
use super::vars::PlayScope;
use super::walk::Walk;
use super::{Flow, HostState, Interrupts, RunState, Shared};
use crate::journal::Record;
use crate::plan::{self, PlayPlan};
use crate::playbook::{Phase, Rolling, Section, TaskRef, UpgradePathSpec};
use crate::template::{Origin, from_json};
use crate::upgrade_path::{Hop, Stops, UpgradePath, Version};
use crate::window::{Gate, Windows};
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a rollout play needs while it runs, shared by every host pipeline.
struct Rollout {
    shared: Arc<Shared>,
    scope: Arc<PlayScope>,
    play: usize,
    once: Arc<OnceResults>,
    total: usize,
}

/// How a host's pipeline ended.
struct PipelineEnd {
    outcome: HostOutcome,
    phase: Option<Phase>,
    duration: Duration,
    verdicts: Vec<Verdict>,
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
    let rollout = Arc::new(Rollout {
        shared: shared.clone(),
        scope: scope.clone(),
        play: play_plan.play,
        once: Arc::new(OnceResults::default()),
        total: play_plan.hosts.len(),
    });

    // A resumed rollout: hosts that ended are not touched again; a host interrupted
    // mid-pipeline gets back the facts it had registered and restarts at its phase.
    let resume = Resumed::new(shared, play_plan);
    for (host, progress) in &resume.restored {
        if let Some(h) = state.hosts.get_mut(host) {
            h.facts.extend(progress.facts.clone());
            h.included.extend(progress.included.clone());
        }
    }
    let fresh: Vec<String> = play_plan
        .hosts
        .iter()
        .filter(|h| resume.is_fresh(h))
        .cloned()
        .collect();

    // Outside the window nothing runs, not even the precheck: its facts would be stale by
    // the time the window opens. (The scheduling loop below checks again before every host.)
    let mut window = WindowKeeper::new(shared, rolling);
    if let Some(reason) = window.wait_for_opening(interrupts).await {
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
    let failed: Vec<String> = fresh
        .iter()
        .filter(|h| state.hosts.get(*h).is_none_or(|s| !s.live()))
        .cloned()
        .collect();
    if !failed.is_empty() {
        shared.emit(Event::PrecheckFailed { hosts: failed });
        return Flow::Stop;
    }

    // 3: order (now that precheck facts exist) and batch; hosts that already ended keep
    // their place in the report but are not scheduled again.
    let ordered = rollout.order(play_plan, state);

    // An upgrade path: each host's own hop chain, from the version its precheck read. A host
    // with no valid path stops the rollout before anything changes.
    let mut chains: HashMap<String, Vec<Hop>> = HashMap::new();
    if let Some(spec) = &play.upgrade_path {
        let pending: Vec<String> = ordered
            .iter()
            .filter(|h| resume.outcome(h).is_none())
            .cloned()
            .collect();
        match rollout.chains(spec, &pending, state) {
            Ok(found) => {
                shared.emit(Event::UpgradePaths {
                    hosts: found
                        .iter()
                        .map(|(host, current, hops)| HostPath {
                            host: host.clone(),
                            current: current.to_string(),
                            hops: hops.iter().map(|h| h.to.to_string()).collect(),
                        })
                        .collect(),
                });
                chains.extend(found.into_iter().map(|(host, _, hops)| (host, hops)));
            }
            Err(problems) => {
                // Like a failed precheck: those hosts failed, nothing changed anywhere.
                for (host, _) in &problems {
                    if let Some(h) = state.hosts.get_mut(host) {
                        h.failed = true;
                    }
                    if let Some(stats) = state.stats.get_mut(host) {
                        stats.failed += 1;
                    }
                }
                shared.emit(Event::UpgradePathInvalid { problems });
                return Flow::Stop;
            }
        }
    }
    let up_to_date = |h: &str| chains.get(h).is_some_and(Vec::is_empty);
    let hosts: Vec<String> = ordered
        .iter()
        .filter(|h| resume.outcome(h).is_none() && !up_to_date(h))
        .cloned()
        .collect();
    let batches = plan::split(&hosts, &rolling.batch);
    let max_unavailable = rolling
        .max_unavailable
        .map_or(hosts.len(), |l| l.of(hosts.len()))
        .max(1);
    let max_failed = rolling.max_failed.of(hosts.len());
    shared.emit(Event::RolloutStart {
        hosts: hosts.clone(),
        batches: batches.clone(),
        max_unavailable,
        max_failed,
    });

    // 4 and 5: the scheduler decides; this loop only carries its decisions out.
    let mut offset = 0;
    let indices: Vec<Vec<usize>> = batches
        .iter()
        .map(|b| {
            let range = (offset..offset + b.len()).collect();
            offset += b.len();
            range
        })
        .collect();
    let mut scheduler = Scheduler::new(indices, max_unavailable, max_failed);
    let mut earlier: Vec<HostRow> = Vec::new();
    for host in &ordered {
        let earlier_outcome = resume
            .outcome(host)
            .or_else(|| up_to_date(host).then_some(HostOutcome::UpToDate));
        if let Some(outcome) = earlier_outcome {
            scheduler.carried(host_end(outcome));
            earlier.push(HostRow {
                host: host.clone(),
                outcome,
                phase: None,
                duration_ms: 0,
            });
        }
    }
    let mut rows: Vec<Option<HostRow>> = vec![None; hosts.len()];
    let mut running = tokio::task::JoinSet::new();
    let mut interrupts = interrupts.clone();
    let mut stop_reason: Option<String> = None;
    window.pace = Pace::new(max_unavailable);
    let mut announced = None;
    loop {
        if stop_reason.is_none() && *interrupts.borrow() > 0 {
            shared.emit(Event::Interrupted);
            state.interrupted = true;
            stop_reason = Some("interrupted".to_string());
            scheduler.stop();
        }
        if stop_reason.is_none() && shared.journal_failed() {
            stop_reason = Some("the journal cannot be written".to_string());
            scheduler.stop();
        }
        let hold = match (stop_reason.is_none(), scheduler.next_start()) {
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
                state.window_closed = true;
                stop_reason = Some(reason);
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
                    announce_batch(shared, &batches, batch);
                }
                let Some(host) = state.hosts.shift_remove(&hosts[i]) else {
                    continue;
                };
                let rollout = rollout.clone();
                let from = resume.restart_at(&hosts[i]);
                let hops = chains.get(&hosts[i]).cloned().unwrap_or_default();
                running.spawn(async move {
                    let (host, end) = rollout.pipeline(host, i + 1, from, hops).await;
                    (i, host, end)
                });
            }
            Decision::Wait => {
                tokio::select! {
                    joined = running.join_next() => {
                        let Some(joined) = joined else { continue };
                        match joined {
                            Ok((i, host, end)) => {
                                for verdict in &end.verdicts {
                                    state.count(&host.name, verdict);
                                }
                                scheduler.finished(host_end(end.outcome));
                                rows[i] = Some(HostRow {
                                    host: host.name.clone(),
                                    outcome: end.outcome,
                                    phase: end.phase,
                                    duration_ms: millis(end.duration),
                                });
                                shared.record(Record::HostDone {
                                    play: rollout.play,
                                    host: host.name.clone(),
                                    outcome: end.outcome,
                                });
                                shared.emit(Event::HostDone {
                                    host: host.name.clone(),
                                    outcome: end.outcome,
                                    phase: end.phase,
                                    duration_ms: millis(end.duration),
                                });
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
                if b == 0 && rolling.confirm_canary && !confirm_canary(shared, &batches).await {
                    stop_reason = Some(
                        "the canary batch was not confirmed (answer y, or pass --yes)".to_string(),
                    );
                    scheduler.stop();
                    continue;
                }
                if !rolling.pause.is_zero() {
                    shared.emit(Event::Pause {
                        after_batch: b + 1,
                        seconds: rolling.pause.as_secs_f64(),
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(rolling.pause) => {}
                        _ = interrupts.changed() => {}
                    }
                    if *interrupts.borrow() > 0 {
                        continue;
                    }
                }
                scheduler.next_batch();
            }
            Decision::Halt(halt) => {
                let reason = match (halt, &stop_reason) {
                    (Halt::Stopped, Some(reason)) => reason.clone(),
                    (Halt::Stopped, None) => "stopped".to_string(),
                    (Halt::FailureBudget { failed, allowed }, _) => format!(
                        "failure budget spent: {failed} host(s) failed, max_failed allows {allowed}"
                    ),
                    (
                        Halt::NoCapacity {
                            broken,
                            max_unavailable,
                        },
                        _,
                    ) => format!(
                        "{broken} failed host(s) are still out of service and max_unavailable is {max_unavailable}: taking another host down would exceed it"
                    ),
                };
                let untouched: Vec<String> = scheduler
                    .untouched()
                    .into_iter()
                    .map(|i| hosts[i].clone())
                    .collect();
                if state.window_closed && !state.interrupted {
                    shared.emit(Event::WindowClosed {
                        reason,
                        untouched,
                        next_open: window.next_open(),
                    });
                    break;
                }
                if !state.interrupted {
                    state.halted = true;
                }
                shared.emit(Event::RolloutHalted { reason, untouched });
                break;
            }
            Decision::Done => break,
        }
    }

    let mut rows: Vec<HostRow> = earlier
        .into_iter()
        .chain(rows.into_iter().zip(&hosts).map(|(row, host)| {
            row.unwrap_or(HostRow {
                host: host.clone(),
                outcome: HostOutcome::Untouched,
                phase: None,
                duration_ms: 0,
            })
        }))
        .collect();
    rows.sort_by_key(|r| ordered.iter().position(|h| *h == r.host));
    shared.emit(Event::RolloutEnd { hosts: rows });
    if state.halted || state.interrupted || state.window_closed {
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
    let rollout = Rollout {
        shared: shared.clone(),
        scope: scope.clone(),
        play: play_plan.play,
        once: Arc::new(OnceResults::default()),
        total: play_plan.hosts.len(),
    };
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

impl Rollout {
    fn job(&self, at: TaskRef) -> Job {
        Job {
            shared: self.shared.clone(),
            scope: self.scope.clone(),
            play: self.play,
            task: at,
            once: Some(self.once.clone()),
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
        self.walk(Section::Phase(Phase::Precheck), hosts)
            .lockstep(steps, hosts, state, false)
            .await;
    }

    /// A walk over one of this rollout's task lists (no handlers: rollouts refuse them).
    fn walk<'a>(&'a self, section: Section, hosts: &'a [String]) -> Walk<'a> {
        Walk {
            shared: &self.shared,
            scope: &self.scope,
            play: self.play,
            section,
            once: Some(self.once.clone()),
            interrupts: None,
            batch: hosts,
            free: None,
            file: None,
            role: None,
            depth: 0,
        }
    }

    fn order(&self, play_plan: &PlayPlan, state: &RunState) -> Vec<String> {
        if play_plan.order_deferred.is_none() {
            return play_plan.hosts.clone();
        }
        let shared = &self.shared;
        let play = &shared.playbook.plays[self.play];
        let order_by = play.rolling.as_ref().and_then(|r| r.order_by.as_ref());
        let ordered = plan::order_hosts(play_plan.hosts.clone(), play, &shared.inventory, |host| {
            let Some(order_by) = order_by else {
                return Ok(minijinja::Value::from(()));
            };
            let Some(host_state) = state.hosts.get(host) else {
                return Ok(minijinja::Value::from(()));
            };
            let job = self.job(TaskRef {
                section: Section::Phase(Phase::Precheck),
                index: 0,
            });
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
        });
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

    /// backup → upgrade → migrate → verify, and rollback when upgrade, migrate or verify fails.
    /// backup, then upgrade → migrate → verify (once per hop with an upgrade path), and
    /// rollback when upgrade, migrate or verify fails.
    async fn pipeline(
        &self,
        mut host: HostState,
        position: usize,
        from: (Phase, Option<usize>),
        hops: Vec<Hop>,
    ) -> (HostState, PipelineEnd) {
        let started = Instant::now();
        let mut verdicts = Vec::new();
        let rolling = self.rolling();
        if from.0 == Phase::Rollback {
            // Interrupted while rolling back: finish the rollback.
            let outcome = self.roll_back(&mut host, position, &mut verdicts).await;
            let end = PipelineEnd {
                outcome,
                phase: Some(Phase::Rollback),
                duration: started.elapsed(),
                verdicts,
            };
            return (host, end);
        }
        let mut steps: Vec<(Phase, Option<&Hop>)> = vec![(Phase::Backup, None)];
        let per_hop = [Phase::Upgrade, Phase::Migrate, Phase::Verify];
        if hops.is_empty() {
            steps.extend(per_hop.map(|p| (p, None)));
        } else {
            for hop in &hops {
                steps.extend(per_hop.map(|p| (p, Some(hop))));
            }
        }
        let skip = steps
            .iter()
            .position(|(p, h)| *p == from.0 && h.map(|h| h.index) == from.1)
            .unwrap_or(0);
        let mut reached = None;
        for (phase, hop) in steps.into_iter().skip(skip) {
            reached = Some(phase);
            if let Some(hop) = hop {
                let value = serde_json::to_value(hop).unwrap_or_default();
                host.facts.insert("hop".to_string(), value);
            }
            let timeout = (phase == Phase::Verify)
                .then_some(rolling.verify_timeout)
                .flatten();
            let step = Step {
                phase,
                hop,
                position,
                timeout,
            };
            let result = self.phase(&mut host, &step, &mut verdicts).await;
            let outcome = match result {
                PhaseResult::Ok => continue,
                PhaseResult::Unreachable => HostOutcome::Unreachable,
                PhaseResult::Failed if phase == Phase::Backup => HostOutcome::Failed,
                PhaseResult::Failed if self.has(Phase::Rollback) => {
                    reached = Some(Phase::Rollback);
                    self.roll_back(&mut host, position, &mut verdicts).await
                }
                PhaseResult::Failed => HostOutcome::Failed,
            };
            return (
                host,
                PipelineEnd {
                    outcome,
                    phase: reached,
                    duration: started.elapsed(),
                    verdicts,
                },
            );
        }
        (
            host,
            PipelineEnd {
                outcome: HostOutcome::Upgraded,
                phase: reached,
                duration: started.elapsed(),
                verdicts,
            },
        )
    }

    /// Each pending host's current version and hop chain, or every host's problem.
    #[allow(clippy::type_complexity)]
    fn chains(
        &self,
        spec: &UpgradePathSpec,
        hosts: &[String],
        state: &RunState,
    ) -> Result<Vec<(String, Version, Vec<Hop>)>, Vec<(String, String)>> {
        let mut found = Vec::new();
        let mut problems = Vec::new();
        for host in hosts {
            let Some(host_state) = state.hosts.get(host) else {
                continue;
            };
            match self.chain(spec, host_state) {
                Ok((current, hops)) => found.push((host.clone(), current, hops)),
                Err(why) => problems.push((host.clone(), why)),
            }
        }
        if problems.is_empty() {
            Ok(found)
        } else {
            Err(problems)
        }
    }

    fn chain(
        &self,
        spec: &UpgradePathSpec,
        host: &HostState,
    ) -> Result<(Version, Vec<Hop>), String> {
        let job = self.job(TaskRef {
            section: Section::Phase(Phase::Precheck),
            index: 0,
        });
        let ctx = super::vars::jinja(&self.scope, &job.context_for(host));
        let shared = &self.shared;
        let version = |node: &crate::playbook::Node| -> Result<Version, String> {
            let value = shared
                .templates
                .render_node(node, &ctx, &shared.playbook.plays[self.play].source)
                .map_err(|e| e.to_string())?;
            let text = match value {
                serde_json::Value::String(s) => s.trim().to_string(),
                other => other.to_string(),
            };
            Version::parse(&text).map_err(|e| {
                format!(
                    "{}: `{text}` is not a version: {e}",
                    shared.playbook.plays[self.play].source.location(node.span)
                )
            })
        };
        let current = version(&spec.current)?;
        let stops = match &spec.every {
            Some((unit, available)) => {
                let available = available.iter().map(&version).collect::<Result<_, _>>()?;
                if unit == "major" {
                    Stops::EveryMajor { available }
                } else {
                    Stops::EveryMinor { available }
                }
            }
            None => Stops::List(spec.stops.iter().map(&version).collect::<Result<_, _>>()?),
        };
        let path = UpgradePath {
            target: version(&spec.target)?,
            stops,
            allow_downgrade: spec.allow_downgrade,
        };
        let hops = path.chain(&current).map_err(|e| e.to_string())?;
        Ok((current, hops))
    }

    async fn roll_back(
        &self,
        host: &mut HostState,
        position: usize,
        verdicts: &mut Vec<Verdict>,
    ) -> HostOutcome {
        // The rollback runs on a host that just failed: let it take tasks again.
        host.failed = false;
        let step = Step {
            phase: Phase::Rollback,
            hop: None,
            position,
            timeout: None,
        };
        let rolled = self.phase(host, &step, verdicts).await;
        host.failed = true;
        match rolled {
            PhaseResult::Ok => HostOutcome::RolledBack,
            PhaseResult::Unreachable => HostOutcome::Unreachable,
            PhaseResult::Failed => HostOutcome::RollbackFailed,
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
            .is_some_and(|p| !p.get(phase).is_empty())
    }

    /// Runs a phase's tasks in order on one host, under the step's timeout if any.
    async fn phase(
        &self,
        host: &mut HostState,
        step: &Step<'_>,
        verdicts: &mut Vec<Verdict>,
    ) -> PhaseResult {
        let Step {
            phase,
            hop,
            position,
            timeout,
        } = *step;
        let steps = self.shared.playbook.plays[self.play]
            .phases
            .as_ref()
            .map_or(&[][..], |p| p.steps(phase));
        self.shared.record(Record::PhaseStart {
            play: self.play,
            host: host.name.clone(),
            phase,
            hop: hop.map(|h| h.index),
        });
        self.shared.emit(Event::PhaseStart {
            host: host.name.clone(),
            phase,
            hop: hop.map(ToString::to_string),
            position,
            total: self.total,
        });
        let started = Instant::now();
        let walk = self.walk(Section::Phase(phase), &[]);
        let tasks = async {
            walk.on_host(steps, host, verdicts, false).await;
            if host.unreachable {
                return (PhaseResult::Unreachable, None);
            }
            if host.failed {
                return (PhaseResult::Failed, None);
            }
            (PhaseResult::Ok, None)
        };
        let (result, message) = match timeout {
            None => tasks.await,
            Some(limit) => match tokio::time::timeout(limit, tasks).await {
                Ok(done) => done,
                Err(_) => (
                    PhaseResult::Failed,
                    Some(format!(
                        "{phase} did not pass within {}",
                        human_duration(limit)
                    )),
                ),
            },
        };
        if message.is_some() {
            host.failed = true;
        }
        self.shared.record(Record::PhaseEnd {
            play: self.play,
            host: host.name.clone(),
            phase,
            hop: hop.map(|h| h.index),
            ok: result == PhaseResult::Ok,
            duration_ms: millis(started.elapsed()),
            facts: host.journaled_facts(),
            included: host.included.clone(),
        });
        self.shared.emit(Event::PhaseEnd {
            host: host.name.clone(),
            phase,
            ok: result == PhaseResult::Ok,
            duration_ms: millis(started.elapsed()),
            message,
        });
        result
    }
}

fn unreachable_rolling() -> &'static Rolling {
    // Plays with phases always carry `rolling` (the loader fills in the defaults).
    static FALLBACK: std::sync::OnceLock<Rolling> = std::sync::OnceLock::new();
    FALLBACK.get_or_init(Rolling::default)
}

/// What an earlier, interrupted run of this rollout did (empty for a new run).
struct Resumed {
    hosts: std::collections::HashMap<String, crate::journal::HostProgress>,
    /// Facts to give back to hosts interrupted mid-pipeline.
    restored: Vec<(String, crate::journal::HostProgress)>,
}

impl Resumed {
    fn new(shared: &Shared, play_plan: &PlayPlan) -> Resumed {
        let mut hosts = std::collections::HashMap::new();
        let mut restored = Vec::new();
        if let Some(progress) = &shared.config.resume {
            for host in &play_plan.hosts {
                if let Some(p) = progress.host(play_plan.play, host) {
                    if p.outcome.is_none() && p.phase.is_some_and(|ph| ph != Phase::Precheck) {
                        restored.push((host.clone(), p.clone()));
                    }
                    hosts.insert(host.clone(), p.clone());
                }
            }
        }
        Resumed { hosts, restored }
    }

    fn outcome(&self, host: &str) -> Option<HostOutcome> {
        self.hosts.get(host).and_then(|p| p.outcome)
    }

    /// Not started before (or only prechecked): runs the precheck and the whole pipeline.
    fn is_fresh(&self, host: &str) -> bool {
        self.hosts
            .get(host)
            .is_none_or(|p| p.outcome.is_none() && p.phase.is_none_or(|ph| ph == Phase::Precheck))
    }

    /// Where a host restarts: the phase (and hop) it was interrupted in, else the backup.
    fn restart_at(&self, host: &str) -> (Phase, Option<usize>) {
        match self.hosts.get(host).map(|p| (p.phase, p.hop)) {
            Some((Some(Phase::Precheck) | None, _)) | None => (Phase::Backup, None),
            Some((Some(phase), hop)) => (phase, hop),
        }
    }
}

/// One phase of a host's pipeline.
#[derive(Clone, Copy)]
struct Step<'a> {
    phase: Phase,
    hop: Option<&'a Hop>,
    position: usize,
    timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PhaseResult {
    Ok,
    Failed,
    Unreachable,
}

fn host_end(outcome: HostOutcome) -> HostEnd {
    match outcome {
        HostOutcome::Upgraded | HostOutcome::UpToDate => HostEnd::Verified,
        // A failed backup changed nothing; a rolled-back host is back in service.
        HostOutcome::RolledBack | HostOutcome::Failed => HostEnd::Restored,
        HostOutcome::RollbackFailed | HostOutcome::Unreachable | HostOutcome::Untouched => {
            HostEnd::Broken
        }
    }
}

/// What the maintenance window asks of the scheduling loop before a host starts.
enum Hold {
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
struct WindowKeeper<'a> {
    shared: &'a Shared,
    windows: Option<&'a Windows>,
    pace: Pace,
    batch_started: Option<Timestamp>,
    /// The opening the last sleep waited for: a batch that does not fit even then never will.
    woke_for: Option<Timestamp>,
    /// When the next window opens, once a closing has been seen.
    next_open: Option<Timestamp>,
}

impl<'a> WindowKeeper<'a> {
    fn new(shared: &'a Shared, rolling: &'a Rolling) -> Self {
        WindowKeeper {
            shared,
            windows: rolling.window.as_ref(),
            pace: Pace::new(1),
            batch_started: None,
            woke_for: None,
            next_open: None,
        }
    }

    fn now(&self) -> Timestamp {
        self.shared.config.clock.now()
    }

    fn batch_started(&mut self) {
        self.batch_started = Some(self.now());
    }

    fn batch_done(&mut self, hosts: usize) {
        if let Some(started) = self.batch_started.take() {
            let took = Duration::try_from(self.now().duration_since(started)).unwrap_or_default();
            self.pace.finished(hosts, took);
        }
    }

    fn next_open(&self) -> Option<String> {
        self.next_open.map(|t| t.to_string())
    }

    /// Before the rollout touches anything: `None` once a window is open (after waiting for
    /// it with `--wait-for-window`, or on Ctrl-C), else why the rollout must not start.
    async fn wait_for_opening(&mut self, interrupts: &Interrupts) -> Option<String> {
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
    fn hold(&mut self, batch: usize, first_of: Option<usize>, running: usize) -> Hold {
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
fn clock_text(at: Timestamp) -> String {
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

fn announce_batch(shared: &Shared, batches: &[Vec<String>], index: usize) {
    if let Some(hosts) = batches.get(index) {
        shared.emit(Event::BatchStart {
            index: index + 1,
            total: batches.len(),
            hosts: hosts.clone(),
        });
    }
}

async fn confirm_canary(shared: &Shared, batches: &[Vec<String>]) -> bool {
    let Some(confirm) = shared.config.confirm.clone() else {
        return true;
    };
    let left: usize = batches.iter().skip(1).map(Vec::len).sum();
    let question = format!(
        "Canary batch ({}) is done. Continue with the remaining {left} host(s)?",
        batches.first().map(|b| b.join(", ")).unwrap_or_default()
    );
    tokio::task::spawn_blocking(move || confirm(&question))
        .await
        .unwrap_or(false)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

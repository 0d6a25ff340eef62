//! Walks a task list's structure — tasks, and `block`/`rescue`/`always` — as Ansible does,
//! and runs handlers when a batch ends or `meta: flush_handlers` asks.
//!
//! Two ways through the same structure: [`Walk::lockstep`] runs each task on every live
//! host before the next (the linear strategy, and a rollout's shared steps), and
//! [`Walk::on_host`] runs a rollout phase on one host, or, under the `free` strategy
//! ([`Walk::free`]), a whole batch's task list on each host at its own pace. In both, the hosts that fail inside
//! a block go through its `rescue` (a host that gets through it is rescued, not failed),
//! then every host that entered the block goes through `always`. `include_tasks` is walked
//! by [`super::include`], with a walk over the included file.

use super::events::Event;
use super::task::{Job, OnceResults, Verdict};
use super::vars::{self, PlayScope};
use super::{Flow, HostState, Interrupts, RunState, Shared};
use crate::playbook::{Role, Section, Step, Task, TaskFile, TaskRef};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

type Walking<'s, T> = Pin<Box<dyn Future<Output = T> + Send + 's>>;

/// One section of one play, walked on some hosts.
pub(super) struct Walk<'a> {
    pub shared: &'a Arc<Shared>,
    pub scope: &'a Arc<PlayScope>,
    pub play: usize,
    pub section: Section,
    /// A rollout's `run_once` results (rollouts only).
    pub once: Option<Arc<OnceResults>>,
    pub interrupts: Option<&'a Interrupts>,
    /// The batch whose notified handlers `meta: flush_handlers` runs.
    pub batch: &'a [String],
    /// The included file walked (its own task list), or none for the section's.
    pub file: Option<Arc<TaskFile>>,
    /// The role of the include that brought `file`, for its tasks that have none.
    pub role: Option<Arc<Role>>,
    /// How many includes deep this walk is.
    pub depth: usize,
    /// The `free` strategy's bookkeeping (ordinary plays with `strategy: free` only).
    pub free: Option<&'a Free>,
}

/// Under `strategy: free`, which tasks some host has reached: each task's banner is shown
/// once, when the first host starts it.
#[derive(Default)]
pub(super) struct Free {
    /// (the included file's address, or 0 for the play's own list; the task's index)
    started: std::sync::Mutex<Vec<(usize, usize)>>,
}

impl Free {
    /// Whether `index` is reached for the first time (and now marked as started).
    fn first_to_reach(&self, index: (usize, usize)) -> bool {
        let mut started = match self.started.lock() {
            Ok(started) => started,
            Err(poisoned) => poisoned.into_inner(),
        };
        if started.contains(&index) {
            return false;
        }
        started.push(index);
        true
    }
}

impl Walk<'_> {
    /// `--start-at-task`: a play task before the one to start at (handlers always run).
    fn before_start(&self, task: &Task) -> bool {
        self.section == Section::Tasks && self.shared.before_start(task)
    }

    pub(super) fn tasks(&self) -> &[Task] {
        if let Some(file) = &self.file {
            return &file.tasks;
        }
        let play = &self.shared.playbook.plays[self.play];
        match self.section {
            Section::Tasks => &play.tasks,
            Section::Handlers => &play.handlers,
            Section::Phase(phase) => play.phases.as_ref().map_or(&[][..], |p| p.get(phase)),
        }
    }

    pub(super) fn job(&self, section: Section, index: usize, rescuable: bool) -> Job {
        // Handlers live in the play, never in an included file.
        let in_file = section != Section::Handlers;
        Job {
            shared: self.shared.clone(),
            scope: self.scope.clone(),
            play: self.play,
            task: TaskRef { section, index },
            once: self.once.clone(),
            rescuable,
            file: self.file.clone().filter(|_| in_file),
            role: self.role.clone().filter(|_| in_file),
        }
    }

    pub(super) fn interrupted(&self, state: &mut RunState) -> bool {
        if self.interrupts.is_some_and(|i| *i.borrow() > 0) {
            self.shared.emit(Event::Interrupted);
            state.interrupted = true;
            return true;
        }
        false
    }

    /// Runs `steps` task by task on the live hosts of `hosts`. `rescuable`: a failure here
    /// will be rescued by an enclosing block (it counts as `rescued`, not `failed`).
    pub fn lockstep<'s>(
        &'s self,
        steps: &'s [Step],
        hosts: &'s [String],
        state: &'s mut RunState,
        rescuable: bool,
    ) -> Walking<'s, Flow> {
        Box::pin(async move {
            for step in steps {
                // A task and an include start alike; a block is walked on its own.
                let (index, include) = match step {
                    Step::Task(index) => (*index, None),
                    Step::Include(include) => (include.task, Some(include)),
                    Step::Block(block) => {
                        if self.block_lockstep(block, hosts, state, rescuable).await == Flow::Stop {
                            return Flow::Stop;
                        }
                        continue;
                    }
                };
                let task = &self.tasks()[index];
                if !self.shared.config.tags.selects(&task.tags) || self.before_start(task) {
                    continue;
                }
                if self.interrupted(state) {
                    return Flow::Stop;
                }
                let live = state.live(hosts);
                if live.is_empty() {
                    return Flow::Continue;
                }
                if include.is_none() && is_flush_handlers(task) {
                    if self.run_handlers(state).await == Flow::Stop {
                        return Flow::Stop;
                    }
                    continue;
                }
                if !self
                    .shared
                    .take_step(format!("TASK: {}", task.display_name()))
                    .await
                {
                    continue;
                }
                self.shared.emit(Event::TaskStart {
                    name: task.display_name(),
                    location: vars::location(&task.source, task.span),
                });
                if let Some(include) = include {
                    if self
                        .include_lockstep(include, &live, state, rescuable)
                        .await
                        == Flow::Stop
                    {
                        return Flow::Stop;
                    }
                    continue;
                }
                let make = || self.job(self.section, index, rescuable);
                if task.run_once && self.once.is_none() {
                    super::linear::run_once(
                        self.shared,
                        state,
                        make,
                        &live,
                        task.register.as_deref(),
                    )
                    .await;
                } else {
                    state.run_task(self.shared, make, &live).await;
                }
                if !rescuable && self.play_aborted(state, &live) {
                    return Flow::Stop;
                }
            }
            Flow::Continue
        })
    }

    /// A block in lockstep: `block` on the live hosts, `rescue` on those that failed in it,
    /// `always` on every host that entered it.
    fn block_lockstep<'s>(
        &'s self,
        block: &'s crate::playbook::Block,
        hosts: &'s [String],
        state: &'s mut RunState,
        rescuable: bool,
    ) -> Walking<'s, Flow> {
        Box::pin(async move {
            let members = state.live(hosts);
            if members.is_empty() {
                return Flow::Continue;
            }
            let inner = rescuable || !block.rescue.is_empty();
            if self.lockstep(&block.block, &members, state, inner).await == Flow::Stop {
                return Flow::Stop;
            }
            let failed_here = fallen(state, &members);
            if !block.rescue.is_empty() && !failed_here.is_empty() {
                for name in &failed_here {
                    if let Some(host) = state.hosts.get_mut(name) {
                        enter_rescue(host);
                    }
                }
                if self
                    .lockstep(&block.rescue, &failed_here, state, rescuable)
                    .await
                    == Flow::Stop
                {
                    return Flow::Stop;
                }
            }
            if !block.always.is_empty() {
                // Hosts still failed go through `always` too, and stay failed.
                let down = fallen(state, &members);
                set_failed(state, &down, false);
                let reachable: Vec<String> = members
                    .iter()
                    .filter(|h| state.hosts.get(*h).is_some_and(|s| !s.unreachable))
                    .cloned()
                    .collect();
                let flow = self
                    .lockstep(&block.always, &reachable, state, rescuable)
                    .await;
                set_failed(state, &down, true);
                if flow == Flow::Stop {
                    return Flow::Stop;
                }
            }
            Flow::Continue
        })
    }

    /// Runs `steps` on one host, task after task, until it fails (a rollout phase).
    pub fn on_host<'s>(
        &'s self,
        steps: &'s [Step],
        host: &'s mut HostState,
        verdicts: &'s mut Vec<Verdict>,
        rescuable: bool,
    ) -> Walking<'s, ()> {
        Box::pin(async move {
            for step in steps {
                if !host.live() {
                    return;
                }
                match step {
                    Step::Task(index) => {
                        let task = &self.tasks()[*index];
                        if !self.shared.config.tags.selects(&task.tags) || self.before_start(task) {
                            continue;
                        }
                        if let Some(free) = self.free {
                            // The first Ctrl-C: each host finishes its task in flight.
                            if self.interrupts.is_some_and(|i| *i.borrow() > 0) {
                                return;
                            }
                            if is_flush_handlers(task) {
                                self.flush_on_host(host, verdicts).await;
                                continue;
                            }
                            let file = self.file.as_ref().map_or(0, |f| Arc::as_ptr(f) as usize);
                            if free.first_to_reach((file, *index)) {
                                self.shared.emit(Event::TaskStart {
                                    name: task.display_name(),
                                    location: vars::location(&task.source, task.span),
                                });
                            }
                        }
                        let job = self.job(self.section, *index, rescuable);
                        verdicts.push(job.run_on(host).await);
                    }
                    Step::Include(include) => {
                        let task = &self.tasks()[include.task];
                        if !self.shared.config.tags.selects(&task.tags) || self.before_start(task) {
                            continue;
                        }
                        self.include_on_host(include, host, verdicts, rescuable)
                            .await;
                    }
                    Step::Block(block) => {
                        let inner = rescuable || !block.rescue.is_empty();
                        self.on_host(&block.block, host, verdicts, inner).await;
                        if host.failed && !host.unreachable && !block.rescue.is_empty() {
                            enter_rescue(host);
                            self.on_host(&block.rescue, host, verdicts, rescuable).await;
                        }
                        if !block.always.is_empty() && !host.unreachable {
                            let down = host.failed;
                            host.failed = false;
                            self.on_host(&block.always, host, verdicts, rescuable).await;
                            host.failed |= down;
                        }
                    }
                }
            }
        })
    }

    /// `strategy: free`: every live host of `hosts` goes through `steps` at its own pace;
    /// the batch is done when the last one is.
    pub async fn free(&self, steps: &[Step], hosts: &[String], state: &mut RunState) -> Flow {
        let mut taken = Vec::new();
        for name in state.live(hosts) {
            if let Some(host) = state.hosts.shift_remove(&name) {
                taken.push(host);
            }
        }
        let runs = taken.into_iter().map(|mut host| async move {
            let mut verdicts = Vec::new();
            self.on_host(steps, &mut host, &mut verdicts, false).await;
            (host, verdicts)
        });
        for (host, verdicts) in futures::future::join_all(runs).await {
            for verdict in &verdicts {
                state.count(&host.name, verdict);
            }
            state.hosts.insert(host.name.clone(), host);
        }
        let inventory = &self.shared.inventory.hosts;
        state
            .hosts
            .sort_by_cached_key(|name, _| inventory.get_index_of(name));
        if self.interrupted(state) || self.play_aborted(state, hosts) {
            return Flow::Stop;
        }
        Flow::Continue
    }

    /// `meta: flush_handlers` under `free`: this host's notified handlers, now.
    pub(super) async fn flush_on_host(&self, host: &mut HostState, verdicts: &mut Vec<Verdict>) {
        let handlers = &self.shared.playbook.plays[self.play].handlers;
        // A handler may notify a later one: at most one pass per handler, plus one.
        for _pass in 0..=handlers.len() {
            let Some(index) = (0..handlers.len()).find(|i| host.notified.contains(i)) else {
                return;
            };
            host.notified.retain(|&i| i != index);
            if host.takes_handlers(self.shared.forces_handlers(self.play)) {
                let job = self.job(Section::Handlers, index, false);
                verdicts.push(job.run_on(host).await);
            }
        }
    }

    /// `any_errors_fatal` (a host of `ran` fell) and `max_fail_percentage` (more than that
    /// share of the batch is down) end the play and the run, as in Ansible; a failure a
    /// `rescue` will handle does not count (the caller checks).
    fn play_aborted(&self, state: &RunState, ran: &[String]) -> bool {
        let play = &self.shared.playbook.plays[self.play];
        let down = |hosts: &[String]| -> Vec<String> {
            hosts
                .iter()
                .filter(|h| state.hosts.get(*h).is_some_and(|s| !s.live()))
                .cloned()
                .collect()
        };
        let reason = if play.any_errors_fatal
            && let fell = down(ran)
            && !fell.is_empty()
        {
            format!("any_errors_fatal, and {} failed", fell.join(", "))
        } else if let Some(limit) = play.max_fail_percentage
            && !self.batch.is_empty()
            && let fell = down(self.batch)
            && fell.len() as f64 * 100.0 / self.batch.len() as f64 > limit
        {
            format!(
                "{} of {} hosts of the batch failed, more than max_fail_percentage {limit}%",
                fell.len(),
                self.batch.len()
            )
        } else {
            return false;
        };
        self.shared.emit(Event::PlayAborted { reason });
        true
    }

    /// Runs the handlers notified on the batch's live hosts (and on its failed ones when
    /// handlers are forced), in the order `handlers:` lists them, each once per host; a
    /// handler may notify a later one.
    pub async fn run_handlers(&self, state: &mut RunState) -> Flow {
        let play = &self.shared.playbook.plays[self.play];
        let forced = self.shared.forces_handlers(self.play);
        let mut declined = Vec::new();
        // Each pass runs at least one handler, and a handler runs at most once per
        // notification: bounded by the notifications handlers can make of each other.
        for _pass in 0..=play.handlers.len() {
            let mut ran = false;
            for (index, handler) in play.handlers.iter().enumerate() {
                let hosts: Vec<String> = self
                    .batch
                    .iter()
                    .filter(|h| {
                        state.hosts.get(*h).is_some_and(|s| {
                            s.takes_handlers(forced) && s.notified.contains(&index)
                        })
                    })
                    .cloned()
                    .collect();
                if hosts.is_empty() {
                    continue;
                }
                if self.interrupted(state) {
                    return Flow::Stop;
                }
                if declined.contains(&index) {
                    continue;
                }
                // A handler declined under `--step` stays notified: the next flush point
                // asks again, as in Ansible.
                if !self
                    .shared
                    .take_step(format!("HANDLER: {}", handler.display_name()))
                    .await
                {
                    declined.push(index);
                    continue;
                }
                ran = true;
                for name in &hosts {
                    if let Some(host) = state.hosts.get_mut(name) {
                        host.notified.retain(|&i| i != index);
                    }
                }
                self.shared.emit(Event::HandlerStart {
                    name: handler.display_name(),
                    location: vars::location(&handler.source, handler.span),
                });
                if let Some(include) = play.handler_includes.iter().find(|i| i.task == index) {
                    // The handler's file is walked as the play's tasks are.
                    let walk = Walk {
                        shared: self.shared,
                        scope: self.scope,
                        play: self.play,
                        section: Section::Handlers,
                        once: self.once.clone(),
                        interrupts: self.interrupts,
                        batch: self.batch,
                        file: None,
                        role: None,
                        depth: self.depth,
                        free: None,
                    };
                    if walk.include_lockstep(include, &hosts, state, false).await == Flow::Stop {
                        return Flow::Stop;
                    }
                    continue;
                }
                let make = || self.job(Section::Handlers, index, false);
                state.run_task(self.shared, make, &hosts).await;
            }
            if !ran {
                break;
            }
        }
        Flow::Continue
    }
}

/// `meta: flush_handlers`, which the walker performs itself.
fn is_flush_handlers(task: &Task) -> bool {
    let action = match task.args.as_str() {
        Some(text) => Some(text),
        None => task.args.get("_raw_params").and_then(|n| n.as_str()),
    };
    task.module == "meta" && action.is_some_and(|a| a.trim() == "flush_handlers")
}

/// Hosts of `members` that failed (not unreachable: those are not rescued, as in Ansible).
fn fallen(state: &RunState, members: &[String]) -> Vec<String> {
    members
        .iter()
        .filter(|h| {
            state
                .hosts
                .get(*h)
                .is_some_and(|s| s.failed && !s.unreachable)
        })
        .cloned()
        .collect()
}

fn set_failed(state: &mut RunState, hosts: &[String], failed: bool) {
    for name in hosts {
        if let Some(host) = state.hosts.get_mut(name) {
            host.failed = failed;
        }
    }
}

/// The host is no longer failed, and its rescue sees what failed: `ansible_failed_task` and
/// `ansible_failed_result`.
fn enter_rescue(host: &mut HostState) {
    host.failed = false;
    if let Some((task, result)) = host.last_failure.take() {
        host.facts.set("ansible_failed_task", task);
        host.facts.set("ansible_failed_result", result);
    } else {
        host.facts.set("ansible_failed_task", Value::Null);
    }
}

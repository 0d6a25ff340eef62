//! Ansible's `linear` strategy for ordinary plays: within each `serial` batch, one task at a
//! time on every live host, the next task only when all are done. A failed host takes no more
//! tasks; a batch in which every host failed stops the run. Blocks, rescue and handlers are
//! [`super::walk`]'s. `run_once` runs a task on the
//! batch's first live host and gives its result to the others, as Ansible does.

use super::events::Event;
use super::task::Job;
use super::task::OnceResults;
use super::vars::PlayScope;
use super::walk::{Free, Walk};
use super::{Flow, Interrupts, RunState, Shared};
use crate::plan::PlayPlan;
use crate::playbook::{Section, Strategy};
use std::sync::Arc;

pub(super) async fn run(
    shared: &Arc<Shared>,
    scope: &Arc<PlayScope>,
    play_plan: &PlayPlan,
    state: &mut RunState,
    interrupts: &Interrupts,
) -> Flow {
    let play = &shared.playbook.plays[play_plan.play];
    let total = play_plan.batches.len();
    for (b, batch) in play_plan.batches.iter().enumerate() {
        if total > 1 {
            shared.emit(Event::BatchStart {
                index: b + 1,
                total,
                hosts: batch.clone(),
            });
        }
        scope.start_batch(batch);
        // Hosts that fell in an earlier play stay in their batch, left out (as in Ansible).
        let starting = state.live(batch);
        let free = Free::default();
        let is_free = play_plan.strategy == Strategy::Free;
        let walk = Walk {
            shared,
            scope,
            play: play_plan.play,
            section: Section::Tasks,
            // Under `free`, a `run_once` task runs on the first host that reaches it.
            once: is_free.then(|| Arc::new(OnceResults::default())),
            interrupts: Some(interrupts),
            batch,
            free: is_free.then_some(&free),
            file: None,
            role: None,
            depth: 0,
        };
        let flow = if is_free {
            walk.free(&play.steps, batch, state).await
        } else {
            walk.lockstep(&play.steps, batch, state, false).await
        };
        if flow == Flow::Stop {
            // An aborted play still runs the handlers notified so far when they are forced
            // (as Ansible's); an interrupted run starts nothing new.
            if shared.forces_handlers(play_plan.play) && !state.interrupted {
                walk.run_handlers(state).await;
            }
            return Flow::Stop;
        }
        // Handlers run at the end of each batch (Ansible: of each serial pass of the play),
        // on the hosts that notified them and are still standing; a failed host's
        // notifications are dropped unless handlers are forced.
        if walk.run_handlers(state).await == Flow::Stop {
            return Flow::Stop;
        }
        // Ansible flushes after the play's tasks and again after its post_tasks, even when
        // it has none: under `--step`, a handler declined at the first is asked again.
        if shared.config.step.is_some()
            && !play.has_post_tasks()
            && walk.run_handlers(state).await == Flow::Stop
        {
            return Flow::Stop;
        }
        for name in batch {
            if let Some(host) = state.hosts.get_mut(name) {
                host.notified.clear();
            }
        }
        // Ansible stops the play when every host of a batch failed in it; a batch that
        // lost only some of its hosts here (the others earlier) goes on.
        if !batch.is_empty() && starting.len() == batch.len() && state.live(batch).is_empty() {
            shared.emit(Event::BatchFailed { index: b + 1 });
            return Flow::Stop;
        }
    }
    Flow::Continue
}

/// Runs on the first live host; the others get its registered result, and fail with it.
pub(super) async fn run_once(
    shared: &Arc<Shared>,
    state: &mut RunState,
    make: impl Fn() -> Job,
    live: &[String],
    register: Option<&str>,
) {
    let Some(first) = live.first() else {
        return;
    };
    state
        .run_task(shared, make, std::slice::from_ref(first))
        .await;
    let Some(ran) = state.hosts.get(first) else {
        return;
    };
    let failed = ran.failed || ran.unreachable;
    // A failure a `rescue` takes over leaves the hosts in the play, as on the first.
    let removed = failed && shared.live.is_removed(first);
    let result = register.and_then(|r| ran.facts.get(r));
    for name in &live[1..] {
        if let Some(host) = state.hosts.get_mut(name) {
            if let (Some(register), Some(result)) = (register, &result) {
                host.facts.set(register, result.clone());
            }
            host.failed |= failed;
            if removed {
                shared.live.remove(name);
            }
        }
    }
}

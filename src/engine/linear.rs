//! Ansible's `linear` strategy for ordinary plays: within each `serial` batch, one task at a
//! time on every live host, the next task only when all are done. A failed host takes no more
//! tasks; a batch in which every host failed stops the run. `run_once` runs a task on the
//! batch's first live host and gives its result to the others, as Ansible does.

use super::events::Event;
use super::task::Job;
use super::vars::{self, PlayScope};
use super::{Flow, Interrupts, RunState, Shared};
use crate::plan::PlayPlan;
use crate::playbook::{Section, TaskRef};
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
        for (index, task) in play.tasks.iter().enumerate() {
            if *interrupts.borrow() > 0 {
                shared.emit(Event::Interrupted);
                state.interrupted = true;
                return Flow::Stop;
            }
            let live = state.live(batch);
            if live.is_empty() {
                break;
            }
            shared.emit(Event::TaskStart {
                name: task.display_name(),
                location: vars::location(&shared.playbook.source, task.span),
            });
            let at = TaskRef {
                section: Section::Tasks,
                index,
            };
            let make = || Job {
                shared: shared.clone(),
                scope: scope.clone(),
                play: play_plan.play,
                task: at,
                once: None,
            };
            if task.run_once {
                run_once(shared, state, make, &live, task.register.as_deref()).await;
            } else {
                state.run_task(shared, make, &live).await;
            }
        }
        if state.live(batch).is_empty() {
            shared.emit(Event::BatchFailed { index: b + 1 });
            return Flow::Stop;
        }
    }
    Flow::Continue
}

/// Runs on the first live host; the others get its registered result, and fail with it.
async fn run_once(
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
    let result = register.and_then(|r| ran.facts.get(r).cloned());
    for name in &live[1..] {
        if let Some(host) = state.hosts.get_mut(name) {
            if let (Some(register), Some(result)) = (register, &result) {
                host.facts.insert(register.to_string(), result.clone());
            }
            host.failed |= failed;
        }
    }
}

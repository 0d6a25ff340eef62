//! A task list as the plan shows it: its block structure (`block`/`rescue`/`always`,
//! includes), and each task with what decides when and where it runs — `when`, loops with
//! their items, `until`/`retries`/`delay`, `delegate_to`, `run_once` (and what "once" means
//! here), `notify`, `register`, `undo:` — names and arguments rendered where the plan can.

use super::render::{Render, Shown, written};
use crate::playbook::{Phase, Play, Step, Task};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum StepDoc {
    Task(Box<TaskDoc>),
    Block(BlockDoc),
    Include(IncludeDoc),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BlockDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub block: Vec<StepDoc>,
    /// Runs on a host where a step of `block` failed; the host is rescued if it succeeds.
    pub rescue: Vec<StepDoc>,
    /// Runs on every host that entered the block.
    pub always: Vec<StepDoc>,
    pub location: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IncludeDoc {
    /// The file, rendered where possible.
    pub include: Shown,
    /// The include itself (its name, `when`, loop).
    pub task: Box<TaskDoc>,
    /// The file's steps when its name is plain text (read when the playbook loaded).
    pub steps: Vec<StepDoc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskDoc {
    /// As written (the module's name without one).
    pub name: String,
    pub shown_name: Shown,
    pub module: &'static str,
    /// As written.
    pub args: Value,
    pub shown_args: Shown,
    pub location: String,
    pub run_once: bool,
    /// What `run_once` means where the task stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub once: Option<String>,
    pub conditional: bool,
    pub retried: bool,
    /// Conditions, the blocks' and imports' first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Until>,
    #[serde(rename = "loop", skip_serializing_if = "Option::is_none")]
    pub looped: Option<LoopDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegate_to: Option<Shown>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_when: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_errors: Option<String>,
    /// `no_log`: its arguments are never rendered.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_log: bool,
    /// Rollouts: run once, during a cluster rollback, to undo this `run_once` step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undo: Vec<StepDoc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Until {
    pub until: String,
    pub retries: String,
    pub delay: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoopDoc {
    pub keyword: &'static str,
    pub items: Shown,
}

/// Where a task list stands, for what `run_once` means there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// An ordinary play's `tasks:` (Ansible: once per batch).
    Tasks,
    Handlers,
    Phase(Phase),
    /// A step's `undo:`.
    Undo,
}

/// Builds the docs of one play's task lists.
pub struct Steps<'r> {
    pub render: &'r Render<'r>,
    pub play: &'r Play,
}

impl Steps<'_> {
    /// `steps` (indexing into `tasks`) as docs.
    pub fn list(&self, steps: &[Step], tasks: &[Task], place: Place) -> Vec<StepDoc> {
        steps
            .iter()
            .filter_map(|step| match step {
                Step::Task(index) => {
                    let task = tasks.get(*index)?;
                    Some(StepDoc::Task(Box::new(self.task(task, place))))
                }
                Step::Block(block) => Some(StepDoc::Block(BlockDoc {
                    name: block.name.clone(),
                    block: self.list(&block.block, tasks, place),
                    rescue: self.list(&block.rescue, tasks, place),
                    always: self.list(&block.always, tasks, place),
                    location: self.play.source.location(block.span),
                })),
                Step::Include(include) => {
                    let task = tasks.get(include.task)?;
                    let steps = include
                        .loaded
                        .as_ref()
                        .map_or_else(Vec::new, |file| self.list(&file.steps, &file.tasks, place));
                    Some(StepDoc::Include(IncludeDoc {
                        include: self.render.shown(&include.file, &task.source, None),
                        task: Box::new(self.task(task, place)),
                        steps,
                    }))
                }
            })
            .collect()
    }

    pub fn task(&self, task: &Task, place: Place) -> TaskDoc {
        let render = self.render;
        let role = task.role.as_deref();
        let source = &task.source;
        let name = task.display_name();
        let no_log = task
            .exec
            .no_log
            .as_ref()
            .is_some_and(|n| !matches!(n.value, crate::playbook::NodeValue::Bool(false)));
        let shown_args = if no_log {
            Shown {
                written: written(&task.args),
                ..Shown::default()
            }
        } else {
            render.shown(&task.args, source, role)
        };
        let text =
            |node: &crate::playbook::Node| render.shown(node, source, role).text().to_string();
        let mut when: Vec<String> = task
            .inherited_when
            .iter()
            .map(|(n, _)| written(n))
            .collect();
        when.extend(task.when.iter().map(written));
        let until = task.until.as_ref().map(|until| Until {
            until: written(until),
            retries: task.retries.as_ref().map_or("3".to_string(), text),
            delay: format!("{}s", task.delay.as_ref().map_or("5".to_string(), text)),
        });
        let control = &task.loop_control;
        let mut loop_vars = vec![control.loop_var.as_str(), "ansible_loop"];
        loop_vars.extend(control.index_var.as_deref());
        let looped = |shown: Shown| {
            if task.loop_items.is_some() {
                shown.in_loop(&loop_vars)
            } else {
                shown
            }
        };
        let shown_args = looped(shown_args);
        let undo = task.undo.as_ref().map_or_else(Vec::new, |file| {
            self.list(&file.steps, &file.tasks, Place::Undo)
        });
        TaskDoc {
            shown_name: looped(render.text_on(render.hosts(), &name, source, task.span, role, &[])),
            name,
            module: task.module,
            args: task.args.to_json(),
            shown_args,
            location: source.location(task.span),
            run_once: task.run_once,
            once: task.run_once.then(|| self.once(place)),
            conditional: !task.when.is_empty() || !task.inherited_when.is_empty(),
            retried: task.until.is_some(),
            when,
            until,
            looped: task.loop_items.as_ref().map(|items| LoopDoc {
                keyword: task.loop_kind.keyword(),
                items: render.shown(items, source, role),
            }),
            delegate_to: task
                .exec
                .delegate_to
                .as_ref()
                .map(|d| render.shown(d, source, role)),
            register: task.register.clone(),
            notify: task.notify.clone(),
            failed_when: task.failed_when.iter().map(written).collect(),
            ignore_errors: task.ignore_errors.as_ref().map(written),
            no_log,
            undo,
        }
    }

    /// What `run_once` means at `place`.
    fn once(&self, place: Place) -> String {
        let per_hop = self.play.upgrade_path.is_some();
        match place {
            Place::Tasks if self.play.phases.is_none() => "once per batch".to_string(),
            Place::Tasks | Place::Phase(Phase::Precheck | Phase::Rollback) => {
                "once for the rollout".to_string()
            }
            Place::Handlers => "once".to_string(),
            Place::Undo => "once, during a cluster rollback".to_string(),
            Place::Phase(_) if per_hop => {
                "once per hop for the whole rollout (the first host runs it, the others reuse its result)".to_string()
            }
            Place::Phase(_) => {
                "once for the whole rollout (the first host runs it, the others reuse its result)"
                    .to_string()
            }
        }
    }
}

/// The tasks of `steps` in the order a host meets them, each with the part of its block it
/// stands in (`""`, `"rescue"`, `"always"`); loaded includes entered.
pub fn leaves<'t>(steps: &'t [Step], tasks: &'t [Task]) -> Vec<(&'t Task, &'static str)> {
    let mut out = Vec::new();
    collect_leaves(steps, tasks, "", &mut out);
    out
}

fn collect_leaves<'t>(
    steps: &'t [Step],
    tasks: &'t [Task],
    part: &'static str,
    out: &mut Vec<(&'t Task, &'static str)>,
) {
    for step in steps {
        match step {
            Step::Task(index) => out.extend(tasks.get(*index).map(|t| (t, part))),
            Step::Block(block) => {
                collect_leaves(&block.block, tasks, part, out);
                let inner = |p: &'static str| if part.is_empty() { p } else { part };
                collect_leaves(&block.rescue, tasks, inner("rescue"), out);
                collect_leaves(&block.always, tasks, inner("always"), out);
            }
            Step::Include(include) => match &include.loaded {
                Some(file) => collect_leaves(&file.steps, &file.tasks, part, out),
                None => out.extend(tasks.get(include.task).map(|t| (t, part))),
            },
        }
    }
}

/// Every task of a play: `tasks:`, handlers, phases, their `undo:` and the files their
/// includes read at load time.
pub fn every_task(play: &Play) -> Vec<&Task> {
    let mut lists: Vec<(&[Step], &[Task])> = vec![(&play.steps, &play.tasks)];
    if let Some(phases) = &play.phases {
        for phase in Phase::ALL {
            lists.push((phases.steps(phase), phases.get(phase)));
        }
    }
    let mut out: Vec<&Task> = play.handlers.iter().collect();
    for (steps, tasks) in lists {
        for (task, _) in leaves(steps, tasks) {
            out.push(task);
            if let Some(undo) = &task.undo {
                out.extend(undo.tasks.iter());
            }
        }
    }
    out
}

//! Each host's pipeline as the run will walk it, from the probe's hop chains: per hop the
//! phases in the engine's order with the names rendered for that host and hop, where each
//! backup is written, the version it was taken at (a restore needs that version), and the
//! handlers a phase may run at its end. Hosts whose pipelines read the same are grouped.

use super::render::{Render, Shown};
use super::steps::leaves;
use crate::engine::Probe;
use crate::playbook::loops::LoopKind;
use crate::playbook::{BackupMode, Phase, Play, Task};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChainDoc {
    pub hosts: Vec<String>,
    /// The version the hosts run now (`None` without an upgrade path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// Versions after `current`, in order; empty when up to date.
    pub hops: Vec<String>,
    pub hop_steps: Vec<HopDoc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HopDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hop: Option<HopInfo>,
    pub steps: Vec<PhaseStep>,
    /// The `rollback` phase's tasks as they would run after a failure in this hop (names
    /// rendered with this hop); empty with `on_failure: hold` or no rollback phase.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rollback: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HopInfo {
    pub from: String,
    pub to: String,
    pub index: usize,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PhaseStep {
    pub phase: Phase,
    /// The phase's tasks in order, names rendered; a block's `rescue`/`always` tasks marked.
    pub tasks: Vec<String>,
    /// Handlers the phase's tasks notify: they run at the end of the phase, if notified.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handlers: Vec<String>,
    /// For a backup: what it writes where, and the version a restore of it needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupAt>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BackupAt {
    /// The version the host runs when the backup is taken: a restore needs the same.
    pub taken_at: String,
    /// `step: location` for each backup step that names where it writes.
    pub writes: Vec<String>,
}

/// What the backup phase writes: each step's location arguments and what it registers.
#[derive(Debug, Clone, Serialize)]
pub struct BackupStep {
    pub name: Shown,
    pub module: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register: Option<String>,
    /// `(argument, value)`: where the step writes (`dest`, `path`, …).
    pub writes: Vec<(String, Shown)>,
    /// `fetch` writes on the control machine, not on the host.
    pub on_control_machine: bool,
}

/// Arguments that say where a backup step writes.
const LOCATION_ARGS: &[&str] = &["dest", "path", "dir", "backup_dir", "to"];

/// The backup phase's steps and where each writes, rendered over every host.
pub fn backup_steps(render: &Render<'_>, play: &Play) -> Vec<BackupStep> {
    let Some(phases) = &play.phases else {
        return Vec::new();
    };
    leaves(phases.steps(Phase::Backup), phases.get(Phase::Backup))
        .into_iter()
        .map(|(task, _)| BackupStep {
            name: render.text_on(
                render.hosts(),
                &task.display_name(),
                &task.source,
                task.span,
                task.role.as_deref(),
                &[],
            ),
            module: task.module,
            register: task.register.clone(),
            writes: locations(task)
                .into_iter()
                .map(|(key, node)| (key, render.shown(node, &task.source, task.role.as_deref())))
                .collect(),
            on_control_machine: task.module == "fetch",
        })
        .collect()
}

fn locations(task: &Task) -> Vec<(String, &crate::playbook::Node)> {
    task.args
        .as_map()
        .map(|entries| {
            entries
                .iter()
                .filter(|(k, _)| LOCATION_ARGS.contains(&k.name.as_str()))
                .map(|(k, v)| (k.name.clone(), v))
                .collect()
        })
        .unwrap_or_default()
}

/// Every probed host's pipeline, hosts that read the same grouped (in rollout order).
/// Without a probe (or an upgrade path), `None`.
pub fn chains(render: &Render<'_>, play: &Play, probe: &Probe) -> Vec<ChainDoc> {
    let mut docs: Vec<ChainDoc> = Vec::new();
    for path in &probe.paths {
        let doc = chain(render, play, &path.host, Some(&path.current), &path.hops);
        match docs.iter_mut().find(|d| same_pipeline(d, &doc)) {
            Some(group) => group.hosts.push(path.host.clone()),
            None => docs.push(doc),
        }
    }
    docs
}

fn same_pipeline(a: &ChainDoc, b: &ChainDoc) -> bool {
    a.current == b.current && a.hops == b.hops && a.hop_steps == b.hop_steps
}

/// One host's pipeline: the engine's `(phase, hop)` steps, grouped by hop.
pub fn chain(
    render: &Render<'_>,
    play: &Play,
    host: &str,
    current: Option<&str>,
    hops: &[String],
) -> ChainDoc {
    let mut doc = ChainDoc {
        hosts: vec![host.to_string()],
        current: current.map(str::to_string),
        hops: hops.to_vec(),
        hop_steps: Vec::new(),
    };
    let Some(phases) = &play.phases else {
        return doc;
    };
    let infos: Vec<HopInfo> = hops
        .iter()
        .enumerate()
        .map(|(i, to)| HopInfo {
            from: if i == 0 {
                current.unwrap_or_default().to_string()
            } else {
                hops[i - 1].clone()
            },
            to: to.clone(),
            index: i + 1,
            count: hops.len(),
        })
        .collect();
    let per_hop = play
        .rolling
        .as_ref()
        .is_some_and(|r| r.backup == BackupMode::PerHop);
    // The engine sets `hop` when a step of a hop starts; a step of no hop (the one backup)
    // sees the hop of the step before it.
    let mut scope: Vec<(&str, Value)> = Vec::new();
    let mut at: Option<usize> = None;
    for (phase, hop) in crate::engine::pipeline(play, hops.len()) {
        if let Some(index) = hop
            && at != Some(index)
        {
            at = Some(index);
            let info = infos.get(index - 1).cloned();
            scope = info
                .iter()
                .map(|h| {
                    let value =
                        json!({"from": h.from, "to": h.to, "index": h.index, "count": h.count});
                    ("hop", value)
                })
                .collect();
            doc.hop_steps.push(HopDoc {
                hop: info,
                steps: Vec::new(),
                rollback: rollback_names(render, play, host, &scope),
            });
        }
        if doc.hop_steps.is_empty() {
            doc.hop_steps.push(HopDoc {
                hop: None,
                steps: Vec::new(),
                rollback: rollback_names(render, play, host, &scope),
            });
        }
        let list = leaves(phases.steps(phase), phases.get(phase));
        let mut tasks = Vec::new();
        let mut handlers: Vec<String> = Vec::new();
        let mut writes = Vec::new();
        for (task, part) in &list {
            for item in items_on(render, task, host, &scope) {
                let name = render.name_on(task, host, &item);
                tasks.push(step_name(render, task, host, part, &name, &item));
                for (_, node) in locations(task) {
                    let shown = render.shown_on(
                        &[host.to_string()],
                        node,
                        &task.source,
                        task.role.as_deref(),
                        &item,
                    );
                    writes.push(format!("{name}: {}", shown.text()));
                }
            }
            for handler in notified(play, task) {
                let name = render.name_on(handler, host, &scope);
                if !handlers.contains(&name) {
                    handlers.push(name);
                }
            }
        }
        let backup = (phase == Phase::Backup).then(|| {
            let taken_at = match (per_hop, at.and_then(|i| infos.get(i - 1))) {
                (true, Some(info)) => info.from.clone(),
                _ => current
                    .unwrap_or("the version the host runs then")
                    .to_string(),
            };
            BackupAt { taken_at, writes }
        });
        if let Some(last) = doc.hop_steps.last_mut() {
            last.steps.push(PhaseStep {
                phase,
                tasks,
                handlers,
                backup,
            });
        }
    }
    doc
}

/// The handlers `task` notifies (by name or `listen` topic).
pub fn notified<'p>(play: &'p Play, task: &Task) -> Vec<&'p Task> {
    play.handlers
        .iter()
        .filter(|h| {
            task.notify
                .iter()
                .any(|n| h.name.as_deref() == Some(n.as_str()) || h.listen.contains(n))
        })
        .collect()
}

/// The variables of each of `task`'s loop items on `host` (with `scope`), when the items
/// are known there and the loop is a plain list; else one pass with `scope` alone.
fn items_on<'a>(
    render: &Render<'_>,
    task: &'a Task,
    host: &str,
    scope: &[(&'a str, Value)],
) -> Vec<Vec<(&'a str, Value)>> {
    let once = vec![scope.to_vec()];
    let Some(node) = &task.loop_items else {
        return once;
    };
    if !matches!(
        task.loop_kind,
        LoopKind::Loop | LoopKind::With("with_items" | "with_list")
    ) {
        return once;
    }
    let Ok(Value::Array(items)) =
        render.value_on(node, &task.source, task.role.as_deref(), host, scope)
    else {
        return once;
    };
    let var = task.loop_control.loop_var.as_str();
    items
        .into_iter()
        .map(|item| {
            let mut vars = scope.to_vec();
            vars.push((var, item));
            vars
        })
        .collect()
}

/// A task as a host's pipeline lists it: its name, the part of its block, where it runs
/// when delegated, and `(once)` for a `run_once` step.
fn step_name(
    render: &Render<'_>,
    task: &Task,
    host: &str,
    part: &str,
    name: &str,
    scope: &[(&str, Value)],
) -> String {
    let mut text = if part.is_empty() {
        name.to_string()
    } else {
        format!("{part} › {name}")
    };
    if let Some(node) = &task.exec.delegate_to {
        let on = render.shown_on(
            &[host.to_string()],
            node,
            &task.source,
            task.role.as_deref(),
            scope,
        );
        text.push_str(&format!(" (on {})", on.text()));
    }
    if task.run_once {
        text.push_str(" (once)");
    }
    text
}

/// The rollback phase's tasks on `host` after a failure at the hop in `scope`.
fn rollback_names(
    render: &Render<'_>,
    play: &Play,
    host: &str,
    scope: &[(&str, Value)],
) -> Vec<String> {
    let hold = play
        .rolling
        .as_ref()
        .is_some_and(|r| r.on_failure == crate::playbook::FailurePolicy::Hold);
    let Some(phases) = play.phases.as_ref().filter(|_| !hold) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for (task, part) in leaves(phases.steps(Phase::Rollback), phases.get(Phase::Rollback)) {
        for item in items_on(render, task, host, scope) {
            let name = render.name_on(task, host, &item);
            names.push(step_name(render, task, host, part, &name, &item));
        }
    }
    names
}

//! The plan as one model that every format lays out: what a run would do, computed from the
//! playbook, the plan, the inventory, what the plan knows of each host's variables, and what
//! a probe's precheck learned. The formats (text, Markdown, JSON) decide nothing.

use super::hops::{self, BackupStep, ChainDoc};
use super::render::{Render, Shown};
use super::schedule::{self, StageDoc};
use super::steps::{Place, StepDoc, Steps, TaskDoc};
use crate::engine::{Known, Probe};
use crate::inventory::Inventory;
use crate::plan::{Plan, PlayPlan};
use crate::playbook::{
    BackupMode, FailurePolicy, HopMode, Phase, Play, Playbook, Rolling, UpgradePathSpec,
};
use indexmap::IndexMap;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

/// What the model is built from.
pub struct Inputs<'a> {
    pub playbook: &'a Playbook,
    pub plan: &'a Plan,
    pub inventory: &'a Inventory,
    pub inventory_path: &'a Path,
    pub known: &'a Known,
    /// What `drover plan` learned by running rollouts' prechecks (empty offline).
    pub probes: &'a [Probe],
}

#[derive(Debug, Serialize)]
pub struct Document {
    pub playbook: String,
    pub inventory: String,
    pub plays: Vec<PlayDoc>,
}

#[derive(Debug, Serialize)]
pub struct PlayDoc {
    /// Index into `Playbook::plays`.
    pub play: usize,
    pub name: String,
    /// The name, or the pattern for a play without one.
    #[serde(skip)]
    pub title: String,
    pub pattern: String,
    /// Matched hosts in inventory order.
    pub hosts: Vec<String>,
    /// Every batch a run would go through, in order (a rollout's across stages and hops).
    pub batches: Vec<Vec<String>>,
    pub rollout: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_deferred: Option<String>,
    /// `tasks:` (a rollout runs them first, on every host).
    pub tasks: Vec<StepDoc>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handlers: Vec<HandlerDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<AboutDoc>,
    pub architecture: Architecture,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub rollout_doc: Option<RolloutDoc>,
}

#[derive(Debug, Serialize)]
pub struct HandlerDoc {
    #[serde(flatten)]
    pub task: TaskDoc,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<String>,
    /// `phase › task` (or the task) of each step that notifies it.
    pub notified_by: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AboutDoc {
    pub installation: Option<Shown>,
    pub os: Option<Shown>,
    pub architecture: Option<Shown>,
    pub components: Vec<(Option<String>, Shown)>,
    pub geo: Option<Shown>,
    pub notes: Option<Shown>,
    pub known_issues: Vec<Shown>,
}

#[derive(Debug, Serialize)]
pub struct Architecture {
    pub single_node: bool,
    pub hosts: Vec<ArchHost>,
    /// The inventory's groups holding the play's hosts (`all`, `ungrouped` left out).
    pub groups: Vec<(String, Vec<String>)>,
    /// Hosts steps are delegated to, besides the play's own.
    pub delegates: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ArchHost {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub groups: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RolloutDoc {
    pub limits: Limits,
    pub policy: Policy,
    /// The rollout order (after the precheck when probed).
    pub order: Vec<String>,
    pub stages: Vec<StageDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade_path: Option<PathDoc>,
    pub phases: IndexMap<String, Vec<StepDoc>>,
    /// The phases one hop walks, in the engine's order (`backup` only when the first hop
    /// or every hop backs up).
    pub pipeline: Vec<Phase>,
    /// Each host's pipeline, per hop, when the hops are known (grouped by host).
    pub chains: Vec<ChainDoc>,
    pub backups: Vec<BackupStep>,
    /// Registered names of the backup phase the rollback reads (its way back to the backup).
    pub rollback_reads: Vec<String>,
    /// Hosts already at the target: left alone.
    pub up_to_date: Vec<String>,
    pub problems: Vec<ProblemDoc>,
    /// Whether the precheck ran on every host for this plan.
    pub probed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
}

#[derive(Debug, Serialize)]
pub struct Limits {
    pub max_unavailable: usize,
    pub max_failed: usize,
    /// The most hosts out of service at once, over every stage.
    pub out_of_service: usize,
    pub pause_seconds: f64,
    pub verify_timeout_seconds: Option<f64>,
    pub hop_timeout_seconds: Option<f64>,
    pub confirm_canary: bool,
    pub window: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Policy {
    pub hops: HopMode,
    pub backup: BackupMode,
    pub on_failure: FailurePolicy,
    /// What each choice does, in words.
    pub hops_means: String,
    pub backup_means: String,
    pub on_failure_means: String,
    /// What a failure in `stop` or `backup` (before the host changed) does.
    pub before_change_means: String,
}

#[derive(Debug, Serialize)]
pub struct PathDoc {
    pub current: String,
    pub target: String,
    pub target_shown: Shown,
    pub stops: Vec<String>,
    pub every: Option<serde_json::Value>,
    pub allow_downgrade: bool,
}

#[derive(Debug, Serialize)]
pub struct ProblemDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub why: String,
    /// `failed` (precheck or upgrade path), `unreachable`, or `stages`.
    pub kind: &'static str,
}

impl Document {
    pub fn build(inputs: &Inputs<'_>) -> Document {
        Document {
            playbook: inputs.playbook.path.display().to_string(),
            inventory: inputs.inventory_path.display().to_string(),
            plays: inputs
                .plan
                .plays
                .iter()
                .map(|p| play_doc(inputs, p))
                .collect(),
        }
    }

    /// What `drover plan` exits with: the code a run would end with where the plan found
    /// its first problem — 2 a host's precheck failed or it has no valid upgrade path, 3 a
    /// host is unreachable (and none failed), 6 the rollout would halt before starting any
    /// host (a host in no stage or in two); 0 when nothing stands in the way.
    pub fn exit_code(&self) -> i32 {
        let kinds: Vec<&str> = self
            .plays
            .iter()
            .filter_map(|p| p.rollout_doc.as_ref())
            .flat_map(|r| r.problems.iter().map(|p| p.kind))
            .collect();
        if kinds.contains(&"failed") {
            2
        } else if kinds.contains(&"unreachable") {
            3
        } else if kinds.contains(&"stages") {
            crate::engine::EXIT_HALTED
        } else {
            0
        }
    }
}

fn play_doc(inputs: &Inputs<'_>, p: &PlayPlan) -> PlayDoc {
    let play = &inputs.playbook.plays[p.play];
    let render = Render::new(inputs.known, p.play, play, &p.hosts);
    let steps = Steps {
        render: &render,
        play,
    };
    let probe = inputs.probes.iter().find(|probe| probe.play == p.play);
    let rollout_doc = play
        .rolling
        .as_ref()
        .filter(|_| p.rollout)
        .map(|rolling| rollout_doc(inputs, p, play, rolling, &render, probe));
    let batches = match &rollout_doc {
        Some(r) => r
            .stages
            .iter()
            .flat_map(|s| s.rounds.iter().flat_map(|round| round.batches.clone()))
            .collect(),
        None => p.batches.clone(),
    };
    let tasks = steps.list(&play.steps, &play.tasks, Place::Tasks);
    let handlers = handlers(&steps, play);
    let mut delegates: Vec<String> = Vec::new();
    for task in super::steps::every_task(play) {
        if let Some(node) = &task.exec.delegate_to {
            let shown = render.shown(node, &task.source, task.role.as_deref());
            let names: Vec<String> = match &shown.value {
                Some(v) => vec![v.clone()],
                None if shown.per_host.is_empty() => vec![shown.written.clone()],
                None => shown.per_host.values().cloned().collect(),
            };
            for name in names {
                if !delegates.contains(&name) && !p.hosts.contains(&name) {
                    delegates.push(name);
                }
            }
        }
    }
    PlayDoc {
        play: p.play,
        name: play.name.clone(),
        title: if p.name.is_empty() {
            p.pattern.clone()
        } else {
            p.name.clone()
        },
        pattern: p.pattern.clone(),
        hosts: p.hosts.clone(),
        batches,
        rollout: p.rollout,
        order_deferred: p.order_deferred.clone(),
        tasks,
        handlers,
        about: play.about.as_ref().map(|about| {
            let one = |n: &Option<crate::playbook::Node>| {
                n.as_ref().map(|n| match n.value {
                    crate::playbook::NodeValue::Bool(b) => {
                        Shown::literal(if b { "yes" } else { "no" }.to_string())
                    }
                    _ => render.shown(n, &play.source, None),
                })
            };
            AboutDoc {
                installation: one(&about.installation),
                os: one(&about.os),
                architecture: one(&about.architecture),
                components: about
                    .components
                    .iter()
                    .map(|(k, n)| (k.clone(), render.shown(n, &play.source, None)))
                    .collect(),
                geo: one(&about.geo),
                notes: one(&about.notes),
                known_issues: about
                    .known_issues
                    .iter()
                    .map(|n| render.shown(n, &play.source, None))
                    .collect(),
            }
        }),
        architecture: architecture(inputs.inventory, &p.hosts, delegates),
        rollout_doc,
    }
}

fn handlers(steps: &Steps<'_>, play: &Play) -> Vec<HandlerDoc> {
    let mut notifiers: Vec<(Option<Phase>, &crate::playbook::Task)> =
        play.tasks.iter().map(|t| (None, t)).collect();
    if let Some(phases) = &play.phases {
        for phase in Phase::ALL {
            notifiers.extend(phases.get(phase).iter().map(|t| (Some(phase), t)));
        }
    }
    play.handlers
        .iter()
        .map(|handler| {
            let notified_by = notifiers
                .iter()
                .filter(|(_, task)| {
                    hops::notified(play, task)
                        .iter()
                        .any(|h| std::ptr::eq(*h, handler))
                })
                .map(|(phase, task)| match phase {
                    Some(phase) => format!("{phase} › {}", task.display_name()),
                    None => task.display_name(),
                })
                .collect();
            HandlerDoc {
                task: steps.task(handler, Place::Handlers),
                listen: handler.listen.clone(),
                notified_by,
            }
        })
        .collect()
}

fn architecture(inventory: &Inventory, hosts: &[String], delegates: Vec<String>) -> Architecture {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    let arch_hosts = hosts
        .iter()
        .map(|name| {
            let host = inventory.hosts.get(name);
            let own: Vec<String> = host
                .map(|h| {
                    h.groups
                        .iter()
                        .filter(|g| !matches!(g.as_str(), "all" | "ungrouped"))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            for group in &own {
                match groups.iter_mut().find(|(g, _)| g == group) {
                    Some((_, members)) => members.push(name.clone()),
                    None => groups.push((group.clone(), vec![name.clone()])),
                }
            }
            ArchHost {
                name: name.clone(),
                address: host
                    .and_then(|h| h.vars.get("ansible_host"))
                    .map(|v| match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    }),
                groups: own,
            }
        })
        .collect();
    Architecture {
        single_node: hosts.len() == 1,
        hosts: arch_hosts,
        groups,
        delegates,
    }
}

fn rollout_doc(
    inputs: &Inputs<'_>,
    p: &PlayPlan,
    play: &Play,
    rolling: &Rolling,
    render: &Render<'_>,
    probe: Option<&Probe>,
) -> RolloutDoc {
    let steps = Steps { render, play };
    let order = probe.map_or_else(|| p.hosts.clone(), |probe| probe.order.clone());
    let mut problems: Vec<ProblemDoc> = probe
        .map(|probe| {
            probe
                .problems
                .iter()
                .map(|problem| ProblemDoc {
                    host: Some(problem.host.clone()),
                    why: problem.why.clone(),
                    kind: if problem.unreachable {
                        "unreachable"
                    } else {
                        "failed"
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    let up_to_date: Vec<String> = probe
        .map(|probe| {
            probe
                .paths
                .iter()
                .filter(|path| path.hops.is_empty())
                .map(|path| path.host.clone())
                .collect()
        })
        .unwrap_or_default();
    let pending: Vec<String> = order
        .iter()
        .filter(|h| !up_to_date.contains(h))
        .filter(|h| {
            !problems
                .iter()
                .any(|pr| pr.host.as_deref() == Some(h.as_str()))
        })
        .cloned()
        .collect();
    let chains_of: Option<HashMap<String, Vec<String>>> =
        probe.filter(|_| play.upgrade_path.is_some()).map(|probe| {
            probe
                .paths
                .iter()
                .map(|path| (path.host.clone(), path.hops.clone()))
                .collect()
        });
    let stages = match schedule::stages(
        rolling,
        inputs.inventory,
        &order,
        &pending,
        chains_of.as_ref(),
    ) {
        Ok(stages) => stages,
        Err(why) => {
            problems.push(ProblemDoc {
                host: None,
                why,
                kind: "stages",
            });
            Vec::new()
        }
    };
    let phases: IndexMap<String, Vec<StepDoc>> = play
        .phases
        .as_ref()
        .map(|phases| {
            Phase::ALL
                .iter()
                .map(|phase| {
                    let list = steps.list(
                        phases.steps(*phase),
                        phases.get(*phase),
                        Place::Phase(*phase),
                    );
                    (phase.name().to_string(), list)
                })
                .collect()
        })
        .unwrap_or_default();
    let chains = match (probe, &play.upgrade_path) {
        (Some(probe), Some(_)) => hops::chains(render, play, probe),
        (_, None) => {
            let mut docs: Vec<ChainDoc> = Vec::new();
            for host in &pending {
                let doc = hops::chain(render, play, host, None, &[]);
                match docs.iter_mut().find(|d| d.hop_steps == doc.hop_steps) {
                    Some(group) => group.hosts.push(host.clone()),
                    None => docs.push(doc),
                }
            }
            docs
        }
        (None, Some(_)) => Vec::new(),
    };
    let hops_for_shape = usize::from(play.upgrade_path.is_some());
    let pipeline = crate::engine::pipeline(play, hops_for_shape)
        .into_iter()
        .map(|(phase, _)| phase)
        .collect();
    let backups = hops::backup_steps(render, play);
    let rollback_reads = rollback_reads(render, play, &backups);
    let total = p.hosts.len();
    let batches = stages
        .iter()
        .flat_map(|s| s.rounds.iter().flat_map(|round| round.batches.clone()))
        .collect();
    RolloutDoc {
        limits: Limits {
            max_unavailable: rolling
                .max_unavailable
                .map_or(total, |l| l.of(total).max(1)),
            max_failed: rolling.max_failed.of(total),
            out_of_service: stages.iter().map(|s| s.out_of_service).max().unwrap_or(0),
            pause_seconds: rolling.pause.as_secs_f64(),
            verify_timeout_seconds: rolling.verify_timeout.map(|d| d.as_secs_f64()),
            hop_timeout_seconds: rolling.hop_timeout.map(|d| d.as_secs_f64()),
            confirm_canary: rolling.confirm_canary,
            window: rolling.window.as_ref().map(ToString::to_string),
        },
        policy: policy(play, rolling),
        order,
        stages,
        upgrade_path: play
            .upgrade_path
            .as_ref()
            .map(|path| path_doc(render, play, path)),
        phases,
        pipeline,
        chains,
        backups,
        rollback_reads,
        up_to_date,
        problems,
        probed: probe.is_some(),
        probe: probe.cloned().map(|mut probe| {
            // The engine's probe batches the pending hosts as one round; the schedule above
            // is what a run goes through (stages, a round per hop).
            probe.batches = batches;
            probe
        }),
    }
}

fn path_doc(render: &Render<'_>, play: &Play, path: &UpgradePathSpec) -> PathDoc {
    let text = |n: &crate::playbook::Node| render.shown(n, &play.source, None).text().to_string();
    PathDoc {
        current: super::render::written(&path.current),
        target: super::render::written(&path.target),
        target_shown: render.shown(&path.target, &play.source, None),
        stops: path.stops.iter().map(text).collect(),
        every: path.every.as_ref().map(|(unit, available)| {
            serde_json::json!({
                "unit": unit,
                "available": available.iter().map(text).collect::<Vec<_>>(),
            })
        }),
        allow_downgrade: path.allow_downgrade,
    }
}

/// The backup phase's registered names that the rollback phase reads.
fn rollback_reads(render: &Render<'_>, play: &Play, backups: &[BackupStep]) -> Vec<String> {
    let Some(phases) = &play.phases else {
        return Vec::new();
    };
    let registered: Vec<&String> = backups.iter().filter_map(|b| b.register.as_ref()).collect();
    let mut reads = Vec::new();
    for (task, _) in
        super::steps::leaves(phases.steps(Phase::Rollback), phases.get(Phase::Rollback))
    {
        for name in render.reads(task) {
            if registered.contains(&&name) && !reads.contains(&name) {
                reads.push(name);
            }
        }
    }
    reads
}

fn policy(play: &Play, rolling: &Rolling) -> Policy {
    let has = |phase| play.phases.as_ref().is_some_and(|p| p.has(phase));
    let hops_means = match rolling.hops {
        HopMode::Host => "each host walks its own chain, hop by hop, verified at every hop; then the next host of its batch's turn".to_string(),
        HopMode::Cluster => "the cluster moves hop by hop: every host of the stage finishes a hop (verified) before any host starts the next — a barrier at each hop, and `run_once` steps run once per hop for the cluster".to_string(),
    };
    let backup_means = match (rolling.backup, play.upgrade_path.is_some()) {
        (_, false) => "one backup per host, before its upgrade".to_string(),
        (BackupMode::Once, true) => "one backup per host, before its first hop: a rollback goes back to it (to the version the host ran when the rollout began)".to_string(),
        (BackupMode::PerHop, true) => "a backup before every hop: a rollback goes back to the last one (to the version the host ran when that hop began)".to_string(),
    };
    let back = if has(Phase::Stop) {
        "`stop`, `rollback`, `start`"
    } else {
        "`rollback`, then `start`"
    };
    let on_failure_means = match rolling.on_failure {
        FailurePolicy::Host if has(Phase::Rollback) => format!(
            "a host that fails in upgrade, migrate, start or verify is rolled back alone ({back}); the others keep their new version"
        ),
        FailurePolicy::Host => "a host that fails after changing is held as it is (there is no rollback phase) and the rollout halts".to_string(),
        FailurePolicy::Cluster => "a host that fails after changing brings the whole stage back: every host that changed, newest first, runs `stop` and `rollback`; then every `run_once` step that ran is undone once (its `undo:`), newest first; then every host is started again".to_string(),
        FailurePolicy::Hold => "nothing is rolled back: the rollout stops at the first failure and holds every host as it is for the operator (`drover resume` after fixing, or a manual restore)".to_string(),
    };
    let before_change_means = if has(Phase::Start) && has(Phase::Stop) {
        "a failure in `stop` or `backup`, before the host changed: `start` brings the service back on the old version and the host ends FAILED, unchanged"
    } else {
        "a failure in `backup`, before the host changed: the host ends FAILED, unchanged"
    }
    .to_string();
    Policy {
        before_change_means,
        hops: rolling.hops,
        backup: rolling.backup,
        on_failure: rolling.on_failure,
        hops_means,
        backup_means,
        on_failure_means,
    }
}

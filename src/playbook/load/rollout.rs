//! The rollout keywords of a play: `rolling:` (with its stages), `upgrade_path:`, `phases:`,
//! `about:`, and the checks that tie them to the rest of the play.

use super::{Checker, Inherit, default_rolling, first_key_span};
use crate::playbook::yaml::{Key, Node, NodeValue};
use crate::playbook::{
    About, BackupMode, FailurePolicy, HopMode, Limit, Phase, Phases, Play, Rolling, Stage, TaskFile,
};
use crate::suggest::did_you_mean;
use crate::window::Windows;
use std::sync::Arc;

const UPGRADE_PATH_KEYWORDS: &[&str] = &[
    "current",
    "target",
    "stops",
    "every",
    "available",
    "allow_downgrade",
];

const ROLLING_KEYWORDS: &[&str] = &[
    "batch",
    "window",
    "order_by",
    "order_groups",
    "max_unavailable",
    "max_failed",
    "pause",
    "confirm_canary",
    "verify_timeout",
    "hops",
    "backup",
    "on_failure",
    "hop_timeout",
    "stages",
];

const STAGE_KEYWORDS: &[&str] = &[
    "name",
    "hosts",
    "batch",
    "max_unavailable",
    "max_failed",
    "pause",
    "confirm",
];

const ABOUT_KEYWORDS: &[&str] = &[
    "installation",
    "os",
    "architecture",
    "components",
    "geo",
    "notes",
    "known_issues",
];

/// Play keys that matter to the rollout checks, found while reading the play.
#[derive(Default)]
pub(super) struct RolloutKeys<'a> {
    pub serial: Option<&'a Key>,
    /// Keywords about ordinary plays' pacing, which a rollout's `rolling:` replaces.
    pub pacing: Vec<&'a Key>,
}

impl Checker {
    pub(super) fn rolling(&mut self, node: &Node) -> Option<Rolling> {
        let Some(entries) = node.as_map() else {
            self.expect_kind(node, "`rolling`", "a mapping");
            return None;
        };
        let mut rolling = default_rolling(node.span);
        for (key, value) in entries {
            match key.name.as_str() {
                "batch" => rolling.batch = self.serial(value),
                "order_by" => rolling.order_by = Some(value.clone()),
                "order_groups" => rolling.order_groups = self.names(value, "`order_groups`"),
                "max_unavailable" => {
                    rolling.max_unavailable = self.limit(value, "`max_unavailable`", false)
                }
                "max_failed" => {
                    rolling.max_failed = self
                        .limit(value, "`max_failed`", true)
                        .unwrap_or(Limit::Count(0))
                }
                "pause" => rolling.pause = self.duration(value, "`pause`").unwrap_or_default(),
                "confirm_canary" => match value.value {
                    NodeValue::Bool(b) => rolling.confirm_canary = b,
                    _ => self.expect_kind(value, "`confirm_canary`", "true or false"),
                },
                "verify_timeout" => {
                    rolling.verify_timeout = self.duration(value, "`verify_timeout`")
                }
                "window" => rolling.window = self.window(value),
                "hops" => {
                    rolling.hops = match self.choice(value, "`hops`", &["host", "cluster"]) {
                        Some("cluster") => HopMode::Cluster,
                        _ => HopMode::Host,
                    }
                }
                "backup" => {
                    rolling.backup = match self.choice(value, "`backup`", &["once", "per_hop"]) {
                        Some("per_hop") => BackupMode::PerHop,
                        _ => BackupMode::Once,
                    }
                }
                "on_failure" => {
                    let choices = ["host", "cluster", "hold"];
                    rolling.on_failure = match self.choice(value, "`on_failure`", &choices) {
                        Some("cluster") => FailurePolicy::Cluster,
                        Some("hold") => FailurePolicy::Hold,
                        _ => FailurePolicy::Host,
                    }
                }
                "hop_timeout" => rolling.hop_timeout = self.duration(value, "`hop_timeout`"),
                "stages" => rolling.stages = self.stages(value),
                other => {
                    let help = match did_you_mean(other, ROLLING_KEYWORDS.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("`rolling` takes: {}", ROLLING_KEYWORDS.join(", ")),
                    };
                    self.problem(
                        key.span,
                        format!("unknown `rolling` keyword `{other}`"),
                        "unknown keyword",
                        Some(help),
                    );
                }
            }
        }
        Some(rolling)
    }

    /// `about:` — a mapping of the questions a plan reviewer asks (GitLab's "Working with
    /// Support"): each answer a line of text, `components` and `known_issues` lists.
    pub(super) fn about(&mut self, node: &Node) -> Option<About> {
        let Some(entries) = node.as_map() else {
            self.expect_kind(
                node,
                "`about`",
                "a mapping (`installation`, `os`, `architecture`, …)",
            );
            return None;
        };
        let mut about = About {
            span: node.span,
            ..About::default()
        };
        for (key, value) in entries {
            let what = format!("`about.{}`", key.name);
            match key.name.as_str() {
                "installation" => about.installation = self.answer(value, &what),
                "os" => about.os = self.answer(value, &what),
                "architecture" => about.architecture = self.answer(value, &what),
                "geo" => about.geo = self.answer(value, &what),
                "notes" => about.notes = self.answer(value, &what),
                "components" => {
                    about.components = match &value.value {
                        NodeValue::Map(entries) => entries
                            .iter()
                            .filter_map(|(k, v)| {
                                Some((Some(k.name.clone()), self.answer(v, &what)?))
                            })
                            .collect(),
                        _ => self
                            .answers(value, &what)
                            .into_iter()
                            .map(|n| (None, n))
                            .collect(),
                    }
                }
                "known_issues" => about.known_issues = self.answers(value, &what),
                other => {
                    let help = match did_you_mean(other, ABOUT_KEYWORDS.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("`about` takes: {}", ABOUT_KEYWORDS.join(", ")),
                    };
                    self.problem(
                        key.span,
                        format!("unknown `about` keyword `{other}`"),
                        "unknown keyword",
                        Some(help),
                    );
                }
            }
        }
        Some(about)
    }

    /// One answer of `about`: text (a number or a boolean is text too).
    fn answer(&mut self, node: &Node, what: &str) -> Option<Node> {
        if node.scalar_text().is_some() {
            return Some(node.clone());
        }
        self.expect_kind(node, what, "text");
        None
    }

    /// A list of answers; one answer is a list of one.
    fn answers(&mut self, node: &Node, what: &str) -> Vec<Node> {
        match &node.value {
            NodeValue::Seq(items) => items.iter().filter_map(|i| self.answer(i, what)).collect(),
            NodeValue::Null => Vec::new(),
            _ => self.answer(node, what).into_iter().collect(),
        }
    }

    /// `window:` as one spec (`"Sat,Sun 02:00-06:00 Europe/Berlin"`, `;`-separated for
    /// several) or a list of specs; each is checked here, at its own line.
    fn window(&mut self, node: &Node) -> Option<Windows> {
        let items: Vec<&Node> = match &node.value {
            NodeValue::Str(_) => vec![node],
            NodeValue::Seq(items) if !items.is_empty() => items.iter().collect(),
            _ => {
                self.expect_kind(
                    node,
                    "`window`",
                    "a window such as \"Sat,Sun 02:00-06:00 Europe/Berlin\", or a list of them",
                );
                return None;
            }
        };
        let mut windows = Vec::new();
        for item in items {
            let Some(text) = item.as_str() else {
                self.expect_kind(item, "a window", "a string");
                continue;
            };
            match Windows::parse(text) {
                Ok(parsed) => windows.extend(parsed.0),
                Err(err) => {
                    let text = err.to_string();
                    let (message, help) = match text.split_once("; ") {
                        Some((message, help)) => (
                            message.to_string(),
                            Some(help.trim_start_matches("hint: ").to_string()),
                        ),
                        None => (text, None),
                    };
                    self.problem(item.span, message, "this window", help);
                }
            }
        }
        (!windows.is_empty()).then_some(Windows(windows))
    }

    pub(super) fn upgrade_path(&mut self, node: &Node) -> Option<crate::playbook::UpgradePathSpec> {
        let Some(entries) = node.as_map() else {
            self.expect_kind(node, "`upgrade_path`", "a mapping");
            return None;
        };
        let mut current = None;
        let mut target = None;
        let mut stops = Vec::new();
        let mut every = None;
        let mut available = Vec::new();
        let mut allow_downgrade = false;
        for (key, value) in entries {
            match key.name.as_str() {
                "current" => current = Some(value.clone()),
                "target" => target = Some(value.clone()),
                // A list, or one template that renders a list (`"{{ gitlab_stops }}"`).
                "stops" => match &value.value {
                    NodeValue::Seq(items) => stops = items.clone(),
                    NodeValue::Str(_) => stops = vec![value.clone()],
                    _ => self.expect_kind(value, "`stops`", "a list of versions"),
                },
                "every" => match value.as_str() {
                    Some(unit @ ("minor" | "major")) => every = Some(unit.to_string()),
                    _ => self.problem(
                        value.span,
                        "`every` must be `minor` or `major`".to_string(),
                        "here",
                        None,
                    ),
                },
                "available" => match &value.value {
                    NodeValue::Seq(items) => available = items.clone(),
                    NodeValue::Str(_) => available = vec![value.clone()],
                    _ => self.expect_kind(value, "`available`", "a list of versions"),
                },
                "allow_downgrade" => match value.value {
                    NodeValue::Bool(b) => allow_downgrade = b,
                    _ => self.expect_kind(value, "`allow_downgrade`", "true or false"),
                },
                other => {
                    let help = did_you_mean(other, UPGRADE_PATH_KEYWORDS.iter().copied())
                        .map(|s| format!("did you mean `{s}`?"));
                    self.problem(
                        key.span,
                        format!("unknown `upgrade_path` keyword `{other}`"),
                        "unknown keyword",
                        help,
                    );
                }
            }
        }
        let (Some(current), Some(target)) = (current, target) else {
            self.problem(
                first_key_span(node),
                "`upgrade_path` needs `current` (how to read a host's version) and `target`"
                    .to_string(),
                "incomplete",
                None,
            );
            return None;
        };
        if every.is_some() && available.is_empty() {
            self.problem(
                node.span,
                "`every` needs `available`: the versions that exist".to_string(),
                "incomplete",
                None,
            );
        }
        Some(crate::playbook::UpgradePathSpec {
            current,
            target,
            stops,
            every: every.map(|unit| (unit, available)),
            allow_downgrade,
            span: node.span,
        })
    }

    pub(super) fn phases(&mut self, node: &Node, inherit: &Inherit) -> Option<Phases> {
        let Some(entries) = node.as_map() else {
            self.expect_kind(node, "`phases`", "a mapping of phase name to tasks");
            return None;
        };
        let mut phases = Phases::default();
        for (key, value) in entries {
            let Some(phase) = Phase::from_name(&key.name) else {
                let names = Phase::ALL.map(Phase::name);
                let help = match did_you_mean(&key.name, names.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("phases are: {}", names.join(", ")),
                };
                self.problem(
                    key.span,
                    format!("unknown phase `{}`", key.name),
                    "unknown phase",
                    Some(help),
                );
                continue;
            };
            let (tasks, steps) = self.task_list(value, inherit);
            phases.set(phase, tasks, steps);
        }
        Some(phases)
    }

    /// A `stages:` list: each a mapping with `hosts` and optional pacing of its own.
    fn stages(&mut self, node: &Node) -> Vec<Stage> {
        let NodeValue::Seq(items) = &node.value else {
            self.expect_kind(node, "`stages`", "a list of stages (`- hosts: staging`)");
            return Vec::new();
        };
        let mut stages = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let Some(entries) = item.as_map() else {
                self.expect_kind(item, "a stage", "a mapping with `hosts`");
                continue;
            };
            let mut stage = Stage {
                name: String::new(),
                hosts: String::new(),
                batch: None,
                max_unavailable: None,
                max_failed: None,
                pause: None,
                confirm: false,
                span: item.span,
            };
            for (key, value) in entries {
                match key.name.as_str() {
                    "name" => stage.name = value.scalar_text().unwrap_or_default(),
                    "hosts" => match &value.value {
                        NodeValue::Str(s) => stage.hosts = s.clone(),
                        NodeValue::Seq(items) => {
                            stage.hosts = items
                                .iter()
                                .filter_map(Node::scalar_text)
                                .collect::<Vec<_>>()
                                .join(":")
                        }
                        _ => self.expect_kind(value, "a stage's `hosts`", "a host pattern"),
                    },
                    "batch" => stage.batch = Some(self.serial(value)),
                    "max_unavailable" => {
                        stage.max_unavailable = self.limit(value, "`max_unavailable`", false)
                    }
                    "max_failed" => stage.max_failed = self.limit(value, "`max_failed`", true),
                    "pause" => stage.pause = self.duration(value, "`pause`"),
                    "confirm" => match value.value {
                        NodeValue::Bool(b) => stage.confirm = b,
                        _ => self.expect_kind(value, "`confirm`", "true or false"),
                    },
                    other => {
                        let help = match did_you_mean(other, STAGE_KEYWORDS.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("a stage takes: {}", STAGE_KEYWORDS.join(", ")),
                        };
                        self.problem(
                            key.span,
                            format!("unknown stage keyword `{other}`"),
                            "unknown keyword",
                            Some(help),
                        );
                    }
                }
            }
            if stage.hosts.is_empty() {
                self.problem(
                    item.span,
                    "a stage needs `hosts`: the pattern of the hosts it upgrades".to_string(),
                    "no hosts",
                    Some("e.g. `- {name: staging, hosts: staging}`".to_string()),
                );
            }
            if stage.name.is_empty() {
                stage.name = if stage.hosts.is_empty() {
                    format!("stage {}", index + 1)
                } else {
                    stage.hosts.clone()
                };
            }
            stages.push(stage);
        }
        stages
    }

    /// One of `choices`, or a problem at the value.
    fn choice<'c>(&mut self, node: &Node, what: &str, choices: &[&'c str]) -> Option<&'c str> {
        let found = node
            .as_str()
            .and_then(|text| choices.iter().find(|c| **c == text).copied());
        if found.is_none() {
            let help = node
                .as_str()
                .and_then(|text| did_you_mean(text, choices.iter().copied()))
                .map(|s| format!("did you mean `{s}`?"));
            self.problem(
                node.span,
                format!("{what} must be one of: {}", choices.join(", ")),
                "here",
                help,
            );
        }
        found
    }

    /// What a play with rollout keywords must also satisfy, once all its keys are read.
    pub(super) fn check_rollout(&mut self, play: &mut Play, node: &Node, keys: RolloutKeys<'_>) {
        if play.phases.is_some() {
            for key in keys.pacing {
                self.problem(
                    key.span,
                    format!("`{}` is for ordinary plays, not rollouts", key.name),
                    "not in a rollout",
                    Some(
                        "a rollout paces and guards itself with `rolling:` (`batch`, \
                         `max_failed`, `max_unavailable`)"
                            .to_string(),
                    ),
                );
            }
        }
        if let (Some(rolling), None) = (&play.rolling, &play.phases) {
            self.problem(
                rolling.span,
                "`rolling` needs `phases` to roll out".to_string(),
                "no phases",
                Some(
                    "add `phases:` with `upgrade:` (and `backup:`, `verify:`, `rollback:`)"
                        .to_string(),
                ),
            );
        }
        if let (Some(key), Some(_)) = (keys.serial, &play.phases) {
            self.problem(
                key.span,
                "a rollout batches with `rolling.batch`, not `serial`".to_string(),
                "use rolling.batch",
                None,
            );
        }
        if let (Some(path), None) = (&play.upgrade_path, &play.phases) {
            self.problem(
                path.span,
                "`upgrade_path` needs `phases`: the upgrade, migrate and verify phases run once per hop".to_string(),
                "no phases",
                None,
            );
        }
        if play.phases.is_some() && play.rolling.is_none() {
            play.rolling = Some(super::default_rolling(node.span));
        }
        if let (Some(rolling), Some(phases)) = (&play.rolling, &play.phases) {
            if rolling.hops == HopMode::Cluster && play.upgrade_path.is_none() {
                self.problem(
                    rolling.span,
                    "`hops: cluster` needs an `upgrade_path`: it moves the cluster hop by hop"
                        .to_string(),
                    "no upgrade_path",
                    None,
                );
            }
            self.check_undo(phases, rolling.on_failure);
        }
    }

    /// `undo:` belongs on the `run_once` steps that change what every host shares.
    fn check_undo(&mut self, phases: &Phases, policy: FailurePolicy) {
        for phase in Phase::ALL {
            for task in phases.get(phase) {
                if task.undo.is_none() {
                    continue;
                }
                let problem = if !matches!(phase, Phase::Upgrade | Phase::Migrate | Phase::Start) {
                    Some(format!(
                        "`undo` is for run_once steps of upgrade, migrate or start, not {phase}"
                    ))
                } else if !task.run_once {
                    Some("`undo` is for `run_once` steps: a host's own steps are undone by its `rollback` phase".to_string())
                } else {
                    None
                };
                if let Some(message) = problem {
                    let source = task.source.clone();
                    self.problem_in(&source, task.span, message, "undo here", None);
                } else if policy == FailurePolicy::Host {
                    let source = task.source.clone();
                    self.problem_in(
                        &source,
                        task.span,
                        "this step has an `undo`, but `on_failure: host` rolls back one host and never undoes a step the cluster shares".to_string(),
                        "undo here",
                        Some("set `rolling.on_failure: cluster` (roll every host back and undo this once) or `hold`".to_string()),
                    );
                }
            }
        }
    }

    /// A task's `undo:`: one task (a mapping) or a list of them, read like a task list.
    pub(super) fn undo(&mut self, node: &Node, inherit: &Inherit) -> Option<Arc<TaskFile>> {
        match &node.value {
            NodeValue::Map(_) | NodeValue::Seq(_) => {}
            _ => {
                self.expect_kind(node, "`undo`", "a task or a list of tasks");
                return None;
            }
        }
        let list = match &node.value {
            NodeValue::Map(_) => Node {
                value: NodeValue::Seq(vec![node.clone()]),
                span: node.span,
            },
            _ => node.clone(),
        };
        let (tasks, steps) = self.task_list(&list, inherit);
        Some(Arc::new(TaskFile {
            path: std::path::PathBuf::from(&self.source.name),
            source: self.source.clone(),
            tasks,
            steps,
        }))
    }
}

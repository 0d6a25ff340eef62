//! Walks the YAML node tree of a playbook into [`Play`]s and [`Task`]s, collecting every
//! problem of the file in one pass, each pointing at its key or value.

use super::exec::{BLOCK_EXEC_KEYWORDS, PLAY_EXEC_KEYWORDS, TASK_EXEC_KEYWORDS};
use super::loops::{self, LoopControl, LoopKind};
use super::yaml::{self, Key, Node, NodeValue, Span};
use super::{
    BatchSize, Block, Execution, HostOrder, Limit, Phase, Play, PlaybookError, Problem, RoleVars,
    Rolling, Source, Step, Strategy, Task,
};
use crate::modules;
use crate::playbook::Include;
use crate::suggest::did_you_mean;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod include;
mod role_include;
mod rollout;
mod structure;

pub use include::load_included;
pub(crate) use include::{find_file, looked_in};
pub use role_include::{load_role_included, role_tasks_path};

/// Play keywords drover implements.
const PLAY_KEYWORDS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "serial",
    "tasks",
    "handlers",
    "tags",
    "gather_facts",
    "order",
    "rolling",
    "phases",
    "upgrade_path",
    "about",
    "pre_tasks",
    "roles",
    "post_tasks",
    "strategy",
    "any_errors_fatal",
    "force_handlers",
    "max_fail_percentage",
];

/// Ansible play keywords that drover does not implement yet: named so the message is
/// "not supported yet" rather than "unknown".
const PLAY_KEYWORDS_LATER: &[&str] = &["import_playbook"];

const TASK_KEYWORDS: &[&str] = &[
    "name",
    "when",
    "register",
    "loop",
    "loop_control",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "ignore_unreachable",
    "args",
    "until",
    "retries",
    "delay",
    "run_once",
    "tags",
    "notify",
    "listen",
    "undo",
    "block",
    "rescue",
    "always",
    "import_tasks",
    "vars",
];

/// Keywords a `block` takes; `when`, `ignore_errors` and `tags` pass to its tasks.
const BLOCK_KEYWORDS: &[&str] = &[
    "name",
    "block",
    "rescue",
    "always",
    "when",
    "ignore_errors",
    "tags",
    "vars",
    "run_once",
];

/// Keywords an `import_tasks` takes; `when`, `tags` and `vars` pass to the imported tasks.
const IMPORT_KEYWORDS: &[&str] = &["name", "when", "tags", "vars"];

/// Imports nested deeper than this are taken for a cycle the path check missed.
const MAX_IMPORT_DEPTH: usize = 32;

const TASK_KEYWORDS_LATER: &[&str] = &["local_action"];

/// Task keywords Ansible also takes on blocks and imports, that drover takes on tasks only.
const BLOCK_KEYWORDS_LATER: &[&str] = &["delegate_facts"];

/// Reads and validates a playbook file.
pub fn load(path: &Path) -> Result<super::Playbook, PlaybookError> {
    load_with(path, &crate::inventory::Vars::new())
}

/// Reads and validates a playbook file; `extra_vars` (`-e`) render templated
/// `import_playbook` names, as Ansible renders them.
pub fn load_with(
    path: &Path,
    extra_vars: &crate::inventory::Vars,
) -> Result<super::Playbook, PlaybookError> {
    let text = crate::vault::read_to_string(path).map_err(|source| PlaybookError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let source = Source::new(path.display().to_string(), text);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| Path::new(".").to_path_buf(), Path::to_path_buf);
    let plays = parse_in(&source, Some(&dir), extra_vars).map_err(|err| match err {
        ParseFailure::Yaml(report) => PlaybookError::Yaml {
            path: path.to_path_buf(),
            detail: report.into(),
        },
        ParseFailure::Invalid(problems) => PlaybookError::Invalid {
            path: path.to_path_buf(),
            problems,
        },
    })?;
    Ok(super::Playbook {
        path: path.to_path_buf(),
        dir,
        source,
        plays,
    })
}

pub(super) enum ParseFailure {
    Yaml(miette::Report),
    Invalid(Vec<Problem>),
}

/// Parses playbook text without a file, for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn parse_for_tests(source: &Source) -> Result<Vec<Play>, String> {
    parse(source).map_err(|_| "invalid playbook".to_string())
}

#[cfg(test)]
pub(super) fn parse(source: &Source) -> Result<Vec<Play>, ParseFailure> {
    parse_in(source, None, &crate::inventory::Vars::new())
}

/// Parses a playbook whose `import_tasks` files resolve against `dir` (none: imports are
/// refused, for text without a file).
fn parse_in(
    source: &Source,
    dir: Option<&Path>,
    extra_vars: &crate::inventory::Vars,
) -> Result<Vec<Play>, ParseFailure> {
    let root = yaml::parse(&source.text).map_err(|err| {
        ParseFailure::Yaml(serde_saphyr::miette::to_miette_report(
            &err,
            &source.text,
            &source.name,
        ))
    })?;
    let mut checker = Checker {
        source: source.clone(),
        problems: Vec::new(),
        dir: dir.map(Path::to_path_buf),
        // The playbook itself, so that importing it again is a cycle.
        importing: dir
            .and_then(|_| std::fs::canonicalize(&source.name).ok())
            .into_iter()
            .collect(),
        notified: Vec::new(),
        roles_path: dir.map(structure::search_path).unwrap_or_default(),
        roles_seen: Vec::new(),
        roles_used: Vec::new(),
        role_handlers: Vec::new(),
        role_handler_includes: Vec::new(),
        current_role: None,
        in_handlers: false,
        playbook_tags: Vec::new(),
        imports: structure::PlaybookImports {
            extra_vars: extra_vars.clone(),
            ..structure::PlaybookImports::default()
        },
    };
    let plays = checker.plays(&root);
    if checker.problems.is_empty() {
        Ok(plays)
    } else {
        Err(ParseFailure::Invalid(checker.problems))
    }
}

struct Checker {
    /// The file being read: the playbook, or a file it imports.
    source: Source,
    problems: Vec<Problem>,
    /// The playbook's directory, against which `import_tasks` files resolve.
    dir: Option<PathBuf>,
    /// Files being imported, outermost first, to refuse an import cycle.
    importing: Vec<PathBuf>,
    /// The current play's `notify` names, checked against its handlers once all are read.
    notified: Vec<(String, Span, Source)>,
    /// Where `roles:` names are looked up, in order (see [`structure::search_path`]).
    roles_path: Vec<PathBuf>,
    /// Roles the current play already runs, with their params, so a role listed twice (or
    /// a dependency shared by two roles) runs once, as in Ansible.
    roles_seen: Vec<String>,
    /// The roles the current play uses, each once, with how (for `ansible_role_names`).
    roles_used: Vec<(String, super::RoleFrom)>,
    /// Handlers of the roles the current play uses, added to its own.
    role_handlers: Vec<Task>,
    /// The `include_tasks` among `role_handlers` (`task` indexes `role_handlers`).
    role_handler_includes: Vec<Include>,
    /// The role whose tasks are being read: the parent of a role they import or include.
    current_role: Option<std::sync::Arc<super::Role>>,
    /// Reading `handlers:` (their includes are read when notified).
    in_handlers: bool,
    /// Tags of the `import_playbook`s being read: every play inside gets them.
    playbook_tags: Vec<String>,
    /// The `when` and `vars` of the `import_playbook`s being read, and `-e`.
    imports: structure::PlaybookImports,
}

/// What a play, block, import or include passes down to the tasks under it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Inherit {
    when: Vec<(Node, Source)>,
    ignore_errors: Option<Node>,
    tags: Vec<String>,
    exec: Execution,
    /// `run_once` of a block around: its tasks run once (a task's own wins).
    run_once: bool,
    /// `vars:` of the blocks and imports around, outermost first (task vars in Ansible's
    /// precedence).
    pub(crate) vars: Vec<RoleVars>,
}

impl Checker {
    fn problem(&mut self, span: Span, message: String, label: &str, help: Option<String>) {
        let source = self.source.clone();
        self.problem_in(&source, span, message, label, help);
    }

    fn problem_in(
        &mut self,
        source: &Source,
        span: Span,
        message: String,
        label: &str,
        help: Option<String>,
    ) {
        self.problems.push(Problem {
            message,
            src: source.named(),
            span: span.into(),
            label: label.to_string(),
            help,
        });
    }

    fn expect_kind(&mut self, node: &Node, what: &str, expected: &str) {
        let message = format!("{what} must be {expected}, not {}", node.kind());
        self.problem(node.span, message, "here", None);
    }

    /// `vars_files`: a list whose items are paths or lists of paths (the first that exists
    /// is read); a single path is a list of one.
    fn vars_files(&mut self, node: &Node) -> Vec<Node> {
        let items = match &node.value {
            NodeValue::Null => return Vec::new(),
            NodeValue::Str(_) => return vec![node.clone()],
            NodeValue::Seq(items) => items,
            _ => {
                self.expect_kind(node, "`vars_files`", "a list of file paths");
                return Vec::new();
            }
        };
        for item in items {
            let ok = match &item.value {
                NodeValue::Str(_) => true,
                NodeValue::Seq(choices) => {
                    choices.iter().all(|c| matches!(c.value, NodeValue::Str(_)))
                }
                _ => false,
            };
            if !ok {
                self.expect_kind(item, "a `vars_files` item", "a path or a list of paths");
            }
        }
        items.clone()
    }

    fn plays(&mut self, root: &Node) -> Vec<Play> {
        let NodeValue::Seq(items) = &root.value else {
            self.expect_kind(root, "a playbook", "a list of plays");
            return Vec::new();
        };
        let mut plays = Vec::new();
        for item in items {
            let import = item.as_map().and_then(|entries| {
                entries.iter().find(|(k, _)| {
                    matches!(
                        k.name.as_str(),
                        "import_playbook"
                            | "ansible.builtin.import_playbook"
                            | "ansible.legacy.import_playbook"
                    )
                })
            });
            match import {
                Some((key, file)) => plays.extend(self.import_playbook(item, key, file)),
                None => plays.extend(self.play(item)),
            }
        }
        plays
    }

    fn play(&mut self, node: &Node) -> Option<Play> {
        let Some(entries) = node.as_map() else {
            self.expect_kind(node, "a play", "a mapping");
            return None;
        };
        let mut play = Play {
            name: String::new(),
            hosts: Node {
                value: NodeValue::Null,
                span: node.span,
            },
            vars: Vec::new(),
            vars_files: Vec::new(),
            serial: Vec::new(),
            serial_template: None,
            strategy_template: None,
            tasks: Vec::new(),
            steps: Vec::new(),
            handlers: Vec::new(),
            handler_includes: Vec::new(),
            roles: Vec::new(),
            order: HostOrder::Inventory,
            order_template: None,
            rolling: None,
            phases: None,
            upgrade_path: None,
            about: None,
            strategy: Strategy::Linear,
            any_errors_fatal: false,
            force_handlers: false,
            max_fail_percentage: None,
            source: self.source.clone(),
            dir: structure::dir_of(&self.source),
            span: node.span,
        };
        let mut has_hosts = false;
        let mut rollout_keys = rollout::RolloutKeys::default();
        let mut gather_key: Option<&Key> = None;
        // pre_tasks, roles, tasks and post_tasks run in that order wherever they stand.
        let mut sections: [Option<(&Key, &Node)>; 4] = [None; 4];
        // Play tags reach every task, wherever `tags:` stands in the play.
        let mut tags = self.playbook_tags.clone();
        tags.extend(node.get("tags").map(|t| self.tags(t)).unwrap_or_default());
        let mut inherit = Inherit {
            tags,
            when: self.imports.when.clone(),
            ..Inherit::default()
        };
        // Likewise `become`, `environment`, … wherever they stand.
        for (key, value) in entries {
            if PLAY_EXEC_KEYWORDS.contains(&key.name.as_str()) {
                self.take_exec(&mut inherit.exec, &key.name, value);
            }
        }
        self.notified.clear();
        for (key, value) in entries {
            match key.name.as_str() {
                "name" => play.name = value.scalar_text().unwrap_or_default(),
                "hosts" => {
                    has_hosts = true;
                    play.hosts = match &value.value {
                        NodeValue::Seq(items) => Node {
                            value: NodeValue::Str(
                                items
                                    .iter()
                                    .filter_map(Node::scalar_text)
                                    .collect::<Vec<_>>()
                                    .join(":"),
                            ),
                            span: value.span,
                        },
                        NodeValue::Str(_) => value.clone(),
                        _ => {
                            self.expect_kind(value, "`hosts`", "a host pattern or a list of them");
                            value.clone()
                        }
                    }
                }
                "vars" => match &value.value {
                    NodeValue::Map(vars) => play.vars.extend(vars.iter().cloned()),
                    NodeValue::Null => {}
                    _ => self.expect_kind(value, "`vars`", "a mapping"),
                },
                "vars_files" => play.vars_files = self.vars_files(value),
                "serial" => {
                    rollout_keys.serial = Some(key);
                    if node_has_template(value) {
                        play.serial_template = Some(value.clone());
                    } else if matches!(value.value, NodeValue::Int(0)) {
                        // Ansible: 0 is every host in one batch.
                        play.serial = Vec::new();
                    } else {
                        play.serial = self.serial(value);
                    }
                }
                "pre_tasks" => sections[0] = Some((key, value)),
                "roles" => sections[1] = Some((key, value)),
                "tasks" => sections[2] = Some((key, value)),
                "post_tasks" => sections[3] = Some((key, value)),
                "handlers" => {
                    (play.handlers, play.handler_includes) = self.handlers(value, &inherit);
                }
                "tags" => {}
                "order" if node_has_template(value) => play.order_template = Some(value.clone()),
                "order" => play.order = self.order(value),
                "rolling" => play.rolling = self.rolling(value),
                "phases" => play.phases = self.phases(value, &inherit),
                "upgrade_path" => play.upgrade_path = self.upgrade_path(value),
                "about" => play.about = self.about(value),
                "gather_facts" => match value.value {
                    NodeValue::Bool(true) => gather_key = Some(key),
                    NodeValue::Bool(false) => {}
                    _ => self.expect_kind(value, "`gather_facts`", "true or false"),
                },
                "strategy" => {
                    rollout_keys.pacing.push(key);
                    if value
                        .as_str()
                        .is_some_and(crate::template::has_template_syntax)
                    {
                        play.strategy_template = Some(value.clone());
                    } else {
                        play.strategy = self.strategy(value);
                    }
                }
                "any_errors_fatal" => {
                    rollout_keys.pacing.push(key);
                    match value.value {
                        NodeValue::Bool(b) => play.any_errors_fatal = b,
                        _ => self.expect_kind(value, "`any_errors_fatal`", "true or false"),
                    }
                }
                "force_handlers" => match value.value {
                    NodeValue::Bool(b) => play.force_handlers = b,
                    _ => self.expect_kind(value, "`force_handlers`", "true or false"),
                },
                "max_fail_percentage" => {
                    rollout_keys.pacing.push(key);
                    play.max_fail_percentage = self.percentage(value);
                }
                k if PLAY_EXEC_KEYWORDS.contains(&k) => {}
                other => self.unknown_key(key, other, PLAY_KEYWORDS, PLAY_KEYWORDS_LATER, "play"),
            }
        }
        // An `import_playbook`'s `vars:` rank above the imported play's own.
        play.vars.extend(self.imports.vars.iter().cloned());
        self.play_sections(&mut play, &sections, &inherit);
        if let Some(key) = gather_key
            && let Some(task) = self.gather_facts(key, &inherit)
        {
            match &mut play.phases {
                // A rollout gathers before its precheck, on every host.
                Some(phases) => phases.prepend(Phase::Precheck, task),
                None => {
                    play.tasks.push(task);
                    play.steps.insert(0, Step::Task(play.tasks.len() - 1));
                }
            }
        }
        if !has_hosts {
            self.problem(
                first_key_span(node),
                "this play has no `hosts`".to_string(),
                "play starts here",
                Some("add `hosts: all` or a group name".to_string()),
            );
        }
        self.check_notified(&play.handlers);
        self.check_rollout(&mut play, node, rollout_keys);
        Some(play)
    }

    /// An execution keyword (`become`, `environment`, …) into `exec`.
    fn take_exec(&mut self, exec: &mut Execution, name: &str, value: &Node) {
        let (_, problem) = exec.take(name, value, &self.source);
        self.problems.extend(problem);
    }

    fn unknown_key(&mut self, key: &Key, name: &str, known: &[&str], later: &[&str], what: &str) {
        if later.contains(&name) {
            self.problem(
                key.span,
                format!("{what} keyword `{name}` is not supported by drover yet"),
                "not supported yet",
                Some("remove it, or see the README for the supported subset".to_string()),
            );
            return;
        }
        let suggestion = did_you_mean(name, known.iter().copied());
        self.problem(
            key.span,
            format!("unknown {what} keyword `{name}`"),
            "unknown keyword",
            Some(match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("{what} keywords are: {}", known.join(", ")),
            }),
        );
    }

    /// `strategy: linear | free`.
    fn strategy(&mut self, node: &Node) -> Strategy {
        match node.as_str() {
            Some("linear") => Strategy::Linear,
            Some("free") => Strategy::Free,
            Some(other) => {
                let help =
                    did_you_mean(other, ["linear", "free"]).map(|s| format!("did you mean `{s}`?"));
                self.problem(
                    node.span,
                    format!("unknown strategy `{other}`"),
                    "drover has `linear` and `free`",
                    help,
                );
                Strategy::Linear
            }
            None => {
                self.expect_kind(node, "`strategy`", "`linear` or `free`");
                Strategy::Linear
            }
        }
    }

    /// `max_fail_percentage`: a number from 0 to 100 (Ansible also takes "30%").
    fn percentage(&mut self, node: &Node) -> Option<f64> {
        let value = match &node.value {
            NodeValue::Int(n) => Some(*n as f64),
            NodeValue::Float(f) => Some(*f),
            NodeValue::Str(s) => s.trim().trim_end_matches('%').trim().parse::<f64>().ok(),
            _ => None,
        };
        match value {
            Some(p) if (0.0..=100.0).contains(&p) => Some(p),
            _ => {
                self.problem(
                    node.span,
                    "`max_fail_percentage` must be a number from 0 to 100".to_string(),
                    "here",
                    Some("e.g. `max_fail_percentage: 25`".to_string()),
                );
                None
            }
        }
    }

    fn order(&mut self, node: &Node) -> HostOrder {
        let order = node.as_str().and_then(HostOrder::parse);
        order.unwrap_or_else(|| {
            self.problem(
                node.span,
                "`order` must be one of inventory, reverse_inventory, sorted, reverse_sorted, shuffle".to_string(),
                "unknown order",
                None,
            );
            HostOrder::Inventory
        })
    }

    fn names(&mut self, node: &Node, what: &str) -> Vec<String> {
        match &node.value {
            NodeValue::Seq(items) => items.iter().filter_map(Node::scalar_text).collect(),
            NodeValue::Str(s) => vec![s.clone()],
            _ => {
                self.expect_kind(node, what, "a list of names");
                Vec::new()
            }
        }
    }

    fn limit(&mut self, node: &Node, what: &str, zero_ok: bool) -> Option<Limit> {
        let parsed = match &node.value {
            NodeValue::Int(n) if *n > 0 || (zero_ok && *n == 0) => Some(Limit::Count(*n as usize)),
            NodeValue::Str(s) => match parse_batch_size(s) {
                Some(BatchSize::Count(n)) => Some(Limit::Count(n)),
                Some(BatchSize::Percent(p)) => Some(Limit::Percent(p)),
                None if zero_ok && matches!(s.trim(), "0" | "0%") => Some(Limit::Count(0)),
                None => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            let least = if zero_ok {
                "zero or more"
            } else {
                "at least one"
            };
            self.problem(
                node.span,
                format!("{what} must be a host count ({least}) or a percentage such as \"25%\""),
                "not a host count",
                None,
            );
        }
        parsed
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let parsed = match &node.value {
            NodeValue::Int(n) if *n >= 0 => Some(Duration::from_secs(*n as u64)),
            NodeValue::Str(s) => parse_duration(s),
            _ => None,
        };
        if parsed.is_none() {
            self.problem(
                node.span,
                format!("{what} must be a duration such as 30s, 5m, 1h or 500ms"),
                "not a duration",
                None,
            );
        }
        parsed
    }

    fn serial(&mut self, node: &Node) -> Vec<BatchSize> {
        match &node.value {
            NodeValue::Seq(items) => items.iter().filter_map(|i| self.batch_size(i)).collect(),
            _ => self.batch_size(node).into_iter().collect(),
        }
    }

    fn batch_size(&mut self, node: &Node) -> Option<BatchSize> {
        let parsed = match &node.value {
            NodeValue::Int(n) if *n > 0 => Some(BatchSize::Count(*n as usize)),
            NodeValue::Str(s) => parse_batch_size(s),
            _ => None,
        };
        if parsed.is_none() {
            self.problem(
                node.span,
                "`serial` must be a positive host count, a percentage such as \"25%\", or a list of them".to_string(),
                "not a batch size",
                None,
            );
        }
        parsed
    }

    /// A task list: its tasks flattened, and its structure of tasks and blocks.
    fn task_list(&mut self, node: &Node, inherit: &Inherit) -> (Vec<Task>, Vec<Step>) {
        let mut flat = Vec::new();
        let steps = self.steps(node, inherit, &mut flat);
        (flat, steps)
    }

    fn steps(&mut self, node: &Node, inherit: &Inherit, flat: &mut Vec<Task>) -> Vec<Step> {
        match &node.value {
            NodeValue::Seq(items) => items
                .iter()
                .filter_map(|t| self.step(t, inherit, flat))
                .collect(),
            NodeValue::Null => Vec::new(),
            _ => {
                self.expect_kind(node, "a task list", "a list of tasks");
                Vec::new()
            }
        }
    }

    fn step(&mut self, node: &Node, inherit: &Inherit, flat: &mut Vec<Task>) -> Option<Step> {
        let Some(entries) = node.as_map() else {
            self.expect_kind(node, "a task", "a mapping");
            return None;
        };
        let has = |name: &str| entries.iter().any(|(k, _)| k.name == name);
        if has("block") {
            return Some(Step::Block(self.block(node, inherit, flat)));
        }
        if let Some((key, value)) = entries.iter().find(|(k, _)| {
            matches!(
                k.name.as_str(),
                "import_tasks" | "ansible.builtin.import_tasks"
            )
        }) {
            return self
                .import(node, key, value, inherit, flat)
                .map(Step::Block);
        }
        if let Some((key, value)) = entries.iter().find(|(k, _)| {
            matches!(
                k.name.as_str(),
                "import_role" | "ansible.builtin.import_role"
            )
        }) {
            return self
                .import_role(node, key, value, inherit, flat)
                .map(Step::Block);
        }
        if let Some((key, value)) = entries.iter().find(|(k, _)| {
            matches!(
                k.name.as_str(),
                "include_tasks" | "ansible.builtin.include_tasks"
            )
        }) {
            return self
                .include_tasks(node, key, value, inherit, flat)
                .map(|include| Step::Include(Box::new(include)));
        }
        if let Some((key, value)) = entries.iter().find(|(k, _)| {
            matches!(
                k.name.as_str(),
                "include_role" | "ansible.builtin.include_role"
            )
        }) {
            return self
                .include_role(node, key, value, inherit, flat)
                .map(|include| Step::Include(Box::new(include)));
        }
        if let Some((key, _)) = entries
            .iter()
            .find(|(k, _)| matches!(k.name.as_str(), "rescue" | "always"))
        {
            self.problem(
                key.span,
                format!(
                    "`{}` belongs to a `block`, and this task has none",
                    key.name
                ),
                "no block",
                Some("put the tasks that may fail under `block:` beside it".to_string()),
            );
            return None;
        }
        let task = self.task(node, inherit)?;
        if !task.listen.is_empty() {
            self.problem(
                first_key_span(node),
                "`listen` is for handlers; this is a task".to_string(),
                "not a handler",
                Some("move it under the play's `handlers:`".to_string()),
            );
        }
        flat.push(task);
        Some(Step::Task(flat.len() - 1))
    }

    /// `block:` with `rescue:`/`always:`; its `when`, `ignore_errors` and `tags` go to
    /// every task under it (rescue and always included), as in Ansible.
    fn block(&mut self, node: &Node, inherit: &Inherit, flat: &mut Vec<Task>) -> Block {
        let mut inner = inherit.clone();
        let mut name = None;
        let entries = node.as_map().unwrap_or_default();
        for (key, value) in entries {
            match key.name.as_str() {
                "name" => name = value.scalar_text(),
                "when" => inner.when.extend(
                    conditions(value)
                        .into_iter()
                        .map(|c| (c, self.source.clone())),
                ),
                "ignore_errors" => inner.ignore_errors = Some(value.clone()),
                "tags" => inner.tags.extend(self.tags(value)),
                "vars" => inner.vars.extend(self.vars_layer(value)),
                "run_once" => match value.value {
                    NodeValue::Bool(b) => inner.run_once = b,
                    _ => self.expect_kind(value, "`run_once`", "true or false"),
                },
                "block" | "rescue" | "always" => {}
                k if BLOCK_EXEC_KEYWORDS.contains(&k) => self.take_exec(&mut inner.exec, k, value),
                other => self.keyword_elsewhere(key, other, BLOCK_KEYWORDS, "block"),
            }
        }
        let mut section = |name: &str, this: &mut Self| match node.get(name) {
            Some(list) => this.steps(list, &inner, flat),
            None => Vec::new(),
        };
        let block = section("block", self);
        let rescue = section("rescue", self);
        let always = section("always", self);
        Block {
            name,
            block,
            rescue,
            always,
            span: node.span,
        }
    }

    /// `when`, `tags` or `vars` of an import or role, passed to the tasks under it.
    fn inherit_key(&mut self, inner: &mut Inherit, name: &str, value: &Node) {
        match name {
            "when" => {
                let source = self.source.clone();
                inner
                    .when
                    .extend(conditions(value).into_iter().map(|c| (c, source.clone())));
            }
            "vars" => inner.vars.extend(self.vars_layer(value)),
            _ => inner.tags.extend(self.tags(value)),
        }
    }

    /// A `vars:` mapping of a block, task or import, kept unrendered (rendered on use).
    fn vars_layer(&mut self, value: &Node) -> Option<RoleVars> {
        match &value.value {
            NodeValue::Map(entries) => Some(RoleVars {
                vars: entries.clone(),
                source: self.source.clone(),
            }),
            NodeValue::Null => None,
            _ => {
                self.expect_kind(value, "`vars`", "a mapping");
                None
            }
        }
    }

    /// A keyword of a block or import that is not one of `known`: a task keyword that does
    /// not apply there, one drover does not support yet, or a typo.
    fn keyword_elsewhere(&mut self, key: &Key, name: &str, known: &[&str], what: &str) {
        let (message, label) =
            if TASK_KEYWORDS_LATER.contains(&name) || BLOCK_KEYWORDS_LATER.contains(&name) {
                (
                    format!("{what} keyword `{name}` is not supported by drover yet"),
                    "not supported yet",
                )
            } else if TASK_KEYWORDS.contains(&name)
                || LoopKind::from_keyword(name).is_some()
                || modules::find(name).is_some()
            {
                (
                    format!("`{name}` cannot be used on a {what}"),
                    "not allowed here",
                )
            } else {
                (
                    format!("unknown {what} keyword `{name}`"),
                    "unknown keyword",
                )
            };
        let help = match did_you_mean(name, known.iter().copied()) {
            Some(s) if label == "unknown keyword" => format!("did you mean `{s}`?"),
            _ => format!("a {what} takes: {}", known.join(", ")),
        };
        self.problem(key.span, message, label, Some(help));
    }

    /// `import_tasks: FILE`: read now, its tasks placed here as a block without rescue; its
    /// problems point into FILE.
    fn import(
        &mut self,
        node: &Node,
        file_key: &Key,
        file: &Node,
        inherit: &Inherit,
        flat: &mut Vec<Task>,
    ) -> Option<Block> {
        let mut inner = inherit.clone();
        let mut name = None;
        for (key, value) in node.as_map().unwrap_or_default() {
            match key.name.as_str() {
                k if k == file_key.name => {}
                "name" => name = value.scalar_text(),
                "when" | "tags" | "vars" => self.inherit_key(&mut inner, &key.name, value),
                other => self.keyword_elsewhere(key, other, IMPORT_KEYWORDS, "import_tasks"),
            }
        }
        let text = self.static_file_name(file, "import_tasks")?;
        let Some(path) = self.resolve(&text) else {
            let message = match &self.dir {
                Some(dir) => format!(
                    "imported file `{text}` not found (looked in {})",
                    dir.display()
                ),
                None => format!("imported file `{text}` not found"),
            };
            self.problem(file.span, message, "no such file", None);
            return None;
        };
        let key = self.not_importing(&path, file, &text)?;
        let (source, root) = self.read_yaml(&path, file.span)?;
        let outer = std::mem::replace(&mut self.source, source);
        self.importing.push(key);
        let block = self.steps(&root, &inner, flat);
        self.importing.pop();
        self.source = outer;
        Some(Block {
            name,
            block,
            rescue: Vec::new(),
            always: Vec::new(),
            span: node.span,
        })
    }

    /// The file name of an `import_*`: plain text, since it is read before any host exists.
    fn static_file_name(&mut self, file: &Node, what: &str) -> Option<String> {
        let Some(text) = file.as_str().filter(|t| !t.trim().is_empty()) else {
            self.expect_kind(file, &format!("`{what}`"), "a file name");
            return None;
        };
        if text.contains("{{") || text.contains("{%") {
            self.problem(
                file.span,
                format!(
                    "`{what}` is read before any host exists: its file name cannot be a template"
                ),
                "templated file name",
                Some("write the path as plain text".to_string()),
            );
            return None;
        }
        Some(text.to_string())
    }

    /// The key under which `path` is being imported, unless that is a cycle (a problem at
    /// `file`).
    fn not_importing(&mut self, path: &Path, file: &Node, text: &str) -> Option<PathBuf> {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if self.importing.contains(&key) || self.importing.len() >= MAX_IMPORT_DEPTH {
            self.problem(
                file.span,
                format!(
                    "`{text}` imports itself (through {} file(s))",
                    self.importing.len()
                ),
                "import cycle",
                None,
            );
            return None;
        }
        Some(key)
    }

    /// Reads a YAML file the playbook refers to at `at`; a read or YAML error is a problem
    /// there.
    fn read_yaml(&mut self, path: &Path, at: Span) -> Option<(Source, Node)> {
        let contents = match std::fs::read_to_string(path) {
            Ok(contents) => contents,
            Err(err) => {
                self.problem(
                    at,
                    format!("cannot read `{}`: {err}", path.display()),
                    "here",
                    None,
                );
                return None;
            }
        };
        let source = Source::new(path.display().to_string(), contents);
        match yaml::parse(&source.text) {
            Ok(root) => Some((source, root)),
            Err(err) => {
                let report =
                    serde_saphyr::miette::to_miette_report(&err, &source.text, &source.name);
                self.problem(
                    at,
                    format!("`{}` is not valid YAML: {report}", path.display()),
                    "imported here",
                    None,
                );
                None
            }
        }
    }

    /// An imported file's path: relative to the importing file's directory, then to the
    /// playbook's.
    fn resolve(&self, text: &str) -> Option<PathBuf> {
        let importing_dir = Path::new(&self.source.name).parent().map(Path::to_path_buf);
        let playbook_dir = self.dir.clone()?;
        let dirs: Vec<PathBuf> = [importing_dir, Some(playbook_dir)]
            .into_iter()
            .flatten()
            .collect();
        find_file(&dirs, text)
    }

    /// `handlers:` — tasks that run only when notified, and `include_tasks` (its file's
    /// tasks run when it is notified; `task` of each include indexes the handlers). No blocks
    /// among them yet.
    fn handlers(&mut self, node: &Node, inherit: &Inherit) -> (Vec<Task>, Vec<Include>) {
        let NodeValue::Seq(items) = &node.value else {
            if !matches!(node.value, NodeValue::Null) {
                self.expect_kind(node, "`handlers`", "a list of tasks");
            }
            return (Vec::new(), Vec::new());
        };
        let mut handlers = Vec::new();
        let mut includes = Vec::new();
        for item in items {
            let entries = item.as_map().unwrap_or_default();
            if let Some((key, value)) = entries.iter().find(|(k, _)| {
                matches!(
                    k.name.as_str(),
                    "include_tasks" | "ansible.builtin.include_tasks"
                )
            }) {
                let mut flat = Vec::new();
                self.in_handlers = true;
                let read = self.include_tasks(item, key, value, inherit, &mut flat);
                self.in_handlers = false;
                if let Some(mut include) = read
                    && include.task < flat.len()
                {
                    handlers.push(flat.swap_remove(include.task));
                    include.task = handlers.len() - 1;
                    includes.push(include);
                }
                continue;
            }
            if let Some((key, _)) = entries.iter().find(|(k, _)| {
                matches!(
                    k.name.as_str(),
                    "block" | "import_tasks" | "ansible.builtin.import_tasks"
                )
            }) {
                self.problem(
                    key.span,
                    format!(
                        "`{}` in `handlers` is not supported by drover yet",
                        key.name
                    ),
                    "not supported yet",
                    Some(
                        "write each handler as a plain task, or `include_tasks` a file".to_string(),
                    ),
                );
                continue;
            }
            if let Some(handler) = self.task(item, inherit) {
                handlers.push(handler);
            }
        }
        (handlers, includes)
    }

    /// Every `notify` of the play must name a handler or a `listen` topic (Ansible finds
    /// out only when the task changes; drover says so before anything runs).
    fn check_notified(&mut self, handlers: &[Task]) {
        let notified = std::mem::take(&mut self.notified);
        for (name, span, source) in notified {
            let found = handlers
                .iter()
                .any(|h| h.name.as_deref() == Some(name.as_str()) || h.listen.contains(&name));
            if found {
                continue;
            }
            let known: Vec<&str> = handlers
                .iter()
                .filter_map(|h| h.name.as_deref())
                .chain(
                    handlers
                        .iter()
                        .flat_map(|h| h.listen.iter().map(String::as_str)),
                )
                .collect();
            let help = match did_you_mean(&name, known.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None if known.is_empty() => "this play has no `handlers:`".to_string(),
                None => format!("handlers and topics: {}", known.join(", ")),
            };
            self.problem_in(
                &source,
                span,
                format!("no handler named or listening to `{name}`"),
                "notified here",
                Some(help),
            );
        }
    }

    /// `tags:` as a list, one tag, or a comma-separated string (as Ansible reads it).
    fn tags(&mut self, node: &Node) -> Vec<String> {
        let items: Vec<&Node> = match &node.value {
            NodeValue::Seq(items) => items.iter().collect(),
            NodeValue::Null => Vec::new(),
            _ => vec![node],
        };
        let mut tags = Vec::new();
        for item in items {
            match item.scalar_text() {
                Some(text) if text.contains("{{") || text.contains("{%") => self.problem(
                    item.span,
                    "templated tags are not supported by drover yet".to_string(),
                    "not supported yet",
                    Some(
                        "tags select tasks before any host exists: write them as plain text"
                            .to_string(),
                    ),
                ),
                Some(text) => tags.extend(
                    text.split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_string),
                ),
                None => self.expect_kind(item, "a tag", "a string"),
            }
        }
        tags
    }

    /// Names of `notify`/`listen`: one name or a list of them.
    fn names_of(&mut self, node: &Node, what: &str) -> Vec<(String, Span)> {
        let items: Vec<&Node> = match &node.value {
            NodeValue::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        let mut names = Vec::new();
        for item in items {
            match item.scalar_text() {
                Some(text) if text.contains("{{") || text.contains("{%") => self.problem(
                    item.span,
                    format!("templated `{what}` names are not supported by drover yet"),
                    "not supported yet",
                    None,
                ),
                Some(text) => names.push((text, item.span)),
                None => self.expect_kind(item, &format!("a `{what}` name"), "a string"),
            }
        }
        names
    }

    fn task(&mut self, node: &Node, inherit: &Inherit) -> Option<Task> {
        let Some(entries) = node.as_map() else {
            self.expect_kind(node, "a task", "a mapping");
            return None;
        };
        let mut task = Task {
            name: None,
            module: "",
            args: Node {
                value: NodeValue::Null,
                span: node.span,
            },
            when: Vec::new(),
            register: None,
            loop_items: None,
            loop_kind: LoopKind::Loop,
            loop_control: LoopControl::default(),
            changed_when: Vec::new(),
            failed_when: Vec::new(),
            ignore_errors: None,
            ignore_unreachable: None,
            until: None,
            retries: None,
            delay: None,
            run_once: inherit.run_once,
            tags: inherit.tags.clone(),
            notify: Vec::new(),
            listen: Vec::new(),
            undo: None,
            exec: inherit.exec.clone(),
            source: self.source.clone(),
            role: None,
            vars: inherit.vars.clone(),
            inherited_when: inherit.when.clone(),
            span: node.span,
            module_span: node.span,
        };
        let mut extra_args: Option<&Node> = None;
        let mut module_key: Option<&Key> = None;
        let mut unknown_keys = false;
        let mut loop_key: Option<&str> = None;
        let mut loop_control_span: Option<Span> = None;
        for (key, value) in entries {
            match key.name.as_str() {
                "name" => task.name = value.scalar_text(),
                "when" => task.when = conditions(value),
                "changed_when" => task.changed_when = conditions(value),
                "failed_when" => task.failed_when = conditions(value),
                "register" => match value.as_str() {
                    Some(name) if is_identifier(name) => task.register = Some(name.to_string()),
                    _ => self.problem(
                        value.span,
                        "`register` must be a variable name".to_string(),
                        "not a variable name",
                        None,
                    ),
                },
                k if LoopKind::from_keyword(k).is_some() => {
                    if let Some(first) = loop_key {
                        self.problem(
                            key.span,
                            format!(
                                "a task takes one loop, but this one has `{first}` and `{}`",
                                key.name
                            ),
                            "second loop",
                            Some("keep one of them".to_string()),
                        );
                        continue;
                    }
                    loop_key = Some(key.name.as_str());
                    task.loop_kind = LoopKind::from_keyword(&key.name).unwrap_or_default();
                    task.loop_items = Some(value.clone());
                }
                "loop_control" => {
                    let (control, problems) = loops::loop_control(value);
                    for p in problems {
                        self.problem(p.span, p.message, p.label, p.help);
                    }
                    task.loop_control = control;
                    loop_control_span = Some(key.span);
                }
                "ignore_errors" => task.ignore_errors = Some(value.clone()),
                "ignore_unreachable" => task.ignore_unreachable = Some(value.clone()),
                "vars" => task.vars.extend(self.vars_layer(value)),
                "until" => task.until = Some(value.clone()),
                "retries" => task.retries = Some(value.clone()),
                "delay" => task.delay = Some(value.clone()),
                "run_once" => match value.value {
                    NodeValue::Bool(b) => task.run_once = b,
                    _ => self.expect_kind(value, "`run_once`", "true or false"),
                },
                "tags" => {
                    for tag in self.tags(value) {
                        if !task.tags.contains(&tag) {
                            task.tags.push(tag);
                        }
                    }
                }
                "notify" => {
                    for (name, span) in self.names_of(value, "notify") {
                        self.notified
                            .push((name.clone(), span, self.source.clone()));
                        task.notify.push(name);
                    }
                }
                "undo" => task.undo = self.undo(value, inherit),
                "listen" => {
                    task.listen = self
                        .names_of(value, "listen")
                        .into_iter()
                        .map(|(name, _)| name)
                        .collect();
                }
                "args" => match &value.value {
                    NodeValue::Map(_) => extra_args = Some(value),
                    NodeValue::Str(text) if is_args_splat(text) => extra_args = Some(value),
                    _ => {
                        self.expect_kind(value, "`args`", "a mapping (or one template giving one)")
                    }
                },
                k if TASK_EXEC_KEYWORDS.contains(&k) => self.take_exec(&mut task.exec, k, value),
                name => {
                    let Some(spec) = modules::find(name) else {
                        unknown_keys = true;
                        self.unknown_task_key(key);
                        continue;
                    };
                    if let Some(first) = module_key {
                        self.problem(
                            key.span,
                            format!(
                                "a task runs one module, but this one names `{}` and `{}`",
                                first.name, key.name
                            ),
                            "second module",
                            Some("split it into two tasks".to_string()),
                        );
                        continue;
                    }
                    module_key = Some(key);
                    task.module = spec.name;
                    task.module_span = key.span;
                    task.args = match &value.value {
                        NodeValue::Str(text) => {
                            match key_value_args(text, spec, value.span) {
                                Ok(args) => args,
                                Err(message) => {
                                    self.problem(value.span, message, "here", Some(
                                    "write the arguments as a mapping, or as `key=value` words".to_string(),
                                ));
                                    value.clone()
                                }
                            }
                        }
                        _ => value.clone(),
                    };
                }
            }
        }
        let Some(module_key) = module_key else {
            if unknown_keys {
                return None;
            }
            self.problem(
                first_key_span(node),
                "this task names no module".to_string(),
                "task starts here",
                Some(format!("modules are: {}", module_names().join(", "))),
            );
            return None;
        };
        if let (Some(span), None) = (loop_control_span, loop_key) {
            self.problem(
                span,
                "`loop_control` without a loop".to_string(),
                "no `loop` on this task",
                Some("add `loop:` (or a `with_*` keyword), or remove `loop_control`".to_string()),
            );
        }
        if let Some(extra) = extra_args {
            task.args = merge_args(&task.args, extra);
        }
        if task.ignore_errors.is_none() {
            task.ignore_errors = inherit.ignore_errors.clone();
        }
        self.module_args(module_key, &task);
        Some(task)
    }

    fn unknown_task_key(&mut self, key: &Key) {
        let name = key.name.as_str();
        if let Some(help) = loops::refused_with(name) {
            self.problem(
                key.span,
                format!("`{name}` is not supported by drover"),
                "not supported",
                Some(help.to_string()),
            );
            return;
        }
        if TASK_KEYWORDS_LATER.contains(&name) || modules::is_planned(name) {
            self.problem(
                key.span,
                format!("`{name}` is not supported by drover yet"),
                "not supported yet",
                Some("see the README for the supported subset".to_string()),
            );
            return;
        }
        let specs = modules::all();
        let candidates = TASK_KEYWORDS
            .iter()
            .chain(LoopKind::WITH)
            .copied()
            .chain(specs.iter().map(|m| m.name));
        let help = match did_you_mean(name, candidates) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("modules are: {}", module_names().join(", ")),
        };
        self.problem(
            key.span,
            format!("unknown module or task keyword `{name}`"),
            "unknown module or keyword",
            Some(help),
        );
    }

    /// Checks argument names and required arguments; values are checked after rendering.
    fn module_args(&mut self, key: &Key, task: &Task) {
        let Some(spec) = modules::find(task.module) else {
            return;
        };
        match &task.args.value {
            NodeValue::Map(entries) => {
                if entries.iter().any(|(arg, _)| arg.name == ARGS_SPLAT) {
                    // The arguments are known when the task runs.
                    return;
                }
                for (arg, value) in entries {
                    if arg.name == "_raw_params" && spec.free_form {
                        continue;
                    }
                    if spec.takes(&arg.name)
                        && let Some(message) =
                            modules::literal_type_error(&arg.name, &value.to_json())
                    {
                        self.problem(
                            value.span,
                            message,
                            "wrong type",
                            Some(
                                "booleans are true/false (yes/no, on/off, 1/0); numbers are \
                                 plain digits; a `{{ template }}` is checked when it renders"
                                    .to_string(),
                            ),
                        );
                    }
                    if !spec.takes(&arg.name) {
                        let help = match did_you_mean(&arg.name, spec.args.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!(
                                "`{}` takes: {}",
                                spec.name,
                                if spec.args.is_empty() {
                                    "no arguments".to_string()
                                } else {
                                    spec.args.join(", ")
                                }
                            ),
                        };
                        self.problem(
                            arg.span,
                            format!("module `{}` has no argument `{}`", spec.name, arg.name),
                            "unknown argument",
                            Some(help),
                        );
                    }
                }
                let has_raw = task.args.get("_raw_params").is_some();
                for required in spec.required {
                    if task.args.get(required).is_none() && !(has_raw && spec.free_form) {
                        self.problem(
                            key.span,
                            format!("module `{}` needs the argument `{required}`", spec.name),
                            "missing argument",
                            None,
                        );
                    }
                }
                for problem in modules::literal_args_problems(spec.name, &task.args.to_json()) {
                    let span = problem
                        .arg
                        .as_deref()
                        .and_then(|name| entries.iter().find(|(arg, _)| arg.name == name))
                        .map_or(key.span, |(_, value)| value.span);
                    let label = match problem.arg {
                        Some(_) => "here",
                        None => "missing argument",
                    };
                    self.problem(span, problem.message, label, problem.help);
                }
                for group in spec.one_of {
                    let present = group.iter().filter(|a| task.args.get(a).is_some()).count();
                    if present == 0 && !(has_raw && spec.free_form) {
                        self.problem(
                            key.span,
                            format!("module `{}` needs one of: {}", spec.name, group.join(", ")),
                            "missing argument",
                            None,
                        );
                    } else if present > 1 {
                        self.problem(
                            key.span,
                            format!(
                                "module `{}` takes only one of: {}",
                                spec.name,
                                group.join(", ")
                            ),
                            "conflicting arguments",
                            None,
                        );
                    }
                }
            }
            NodeValue::Str(_) if spec.free_form => {}
            NodeValue::Null if spec.required.is_empty() && spec.one_of.is_empty() => {}
            _ => {
                let expected = if spec.free_form {
                    "a command string or a mapping of arguments"
                } else {
                    "a mapping of arguments"
                };
                let message = format!(
                    "arguments of `{}` must be {expected}, not {}",
                    spec.name,
                    task.args.kind()
                );
                self.problem(task.args.span, message, "here", None);
            }
        }
    }
}

fn module_names() -> Vec<&'static str> {
    modules::all().iter().map(|m| m.name).collect()
}

/// `when:` and friends: a single expression, a boolean, or a list of them (all must hold).
fn conditions(node: &Node) -> Vec<Node> {
    match &node.value {
        NodeValue::Seq(items) => items.clone(),
        NodeValue::Null => Vec::new(),
        _ => vec![node.clone()],
    }
}

/// The argument holding a template that gives a module's arguments (`module: "{{ x }}"` or
/// `args: "{{ x }}"`), merged below the arguments written out when the task runs.
pub(crate) const ARGS_SPLAT: &str = "_variable_params";

/// Text that is one template and nothing else (`"{{ item }}"`).
fn is_args_splat(text: &str) -> bool {
    let text = text.trim();
    text.starts_with("{{") && text.ends_with("}}") && split_words(text).len() == 1
}

/// Free-form string arguments become `_raw_params`; `args:` entries are added after the
/// module's own (the module's own win on conflict, as in Ansible); `args:` written as one
/// template is an argument splat.
fn merge_args(args: &Node, extra: &Node) -> Node {
    let mut entries: Vec<(Key, Node)> = match &args.value {
        NodeValue::Map(entries) => entries.clone(),
        NodeValue::Str(_) => vec![(
            Key {
                name: "_raw_params".to_string(),
                span: args.span,
            },
            args.clone(),
        )],
        _ => Vec::new(),
    };
    if extra.as_str().is_some_and(is_args_splat)
        && !entries.iter().any(|(k, _)| k.name == ARGS_SPLAT)
    {
        let key = Key {
            name: ARGS_SPLAT.to_string(),
            span: extra.span,
        };
        entries.insert(0, (key, extra.clone()));
    }
    for (key, value) in extra.as_map().unwrap_or_default() {
        if !entries.iter().any(|(k, _)| k.name == key.name) {
            entries.push((key.clone(), value.clone()));
        }
    }
    Node {
        value: NodeValue::Map(entries),
        span: args.span,
    }
}

/// Ansible's `key=value` shorthand (`copy: src=a dest=b`, `command: touch x creates=x`):
/// for free-form modules, words naming one of the module's arguments become that argument
/// and the rest stays the command; for the others every word must be `key=value`.
fn key_value_args(text: &str, spec: &modules::ModuleSpec, span: Span) -> Result<Node, String> {
    let mut entries: Vec<(Key, Node)> = Vec::new();
    let mut rest: Vec<&str> = Vec::new();
    let node = |value: NodeValue| Node { value, span };
    if !spec.free_form && is_args_splat(text) {
        // `assert: "{{ item }}"`: the arguments are the mapping the template gives, rendered
        // when the task runs (Ansible's argument splat).
        let key = Key {
            name: ARGS_SPLAT.to_string(),
            span,
        };
        return Ok(node(NodeValue::Map(vec![(
            key,
            node(NodeValue::Str(text.to_string())),
        )])));
    }
    for word in split_words(text) {
        // A module that takes any argument (`set_fact`) may name one with a template:
        // `set_fact: "{{ item }}=moo"`, rendered when the task runs.
        let pair = word.split_once('=').filter(|(k, _)| {
            !k.is_empty()
                && (k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    || (spec.any_args && k.contains("{{") && k.contains("}}")))
        });
        match pair {
            Some((k, v)) if !spec.free_form || spec.args.contains(&k) => {
                let key = Key {
                    name: k.to_string(),
                    span,
                };
                entries.push((key, node(NodeValue::Str(unquote(&decode_escapes(v))))));
            }
            _ if spec.free_form => rest.push(word),
            _ => {
                return Err(format!(
                    "`{word}` is not `key=value`; module `{}` takes no free-form text",
                    spec.name
                ));
            }
        }
    }
    if spec.free_form {
        if entries.is_empty() {
            return Ok(node(NodeValue::Str(text.to_string())));
        }
        let raw = Key {
            name: "_raw_params".to_string(),
            span,
        };
        entries.insert(0, (raw, node(NodeValue::Str(rest.join(" ")))));
    }
    Ok(node(NodeValue::Map(entries)))
}

/// Python's escape sequences in a `key=value` word, decoded as Ansible's `parse_kv` decodes
/// them (`\n`, `\t`, `\b`, `\\`, `\"`, `\xHH`, `\uHHHH`, `\UHHHHHHHH`); any other
/// backslash stays as written (`\1`, `\d`).
fn decode_escapes(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\\') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let hex = |digits: usize| {
            after
                .get(1..=digits)
                .filter(|h| h.chars().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(char::from_u32)
        };
        let (decoded, used) = match after.chars().next() {
            Some('\\') => (Some('\\'), 1),
            Some('\'') => (Some('\''), 1),
            Some('"') => (Some('"'), 1),
            Some('a') => (Some('\u{7}'), 1),
            Some('b') => (Some('\u{8}'), 1),
            Some('f') => (Some('\u{c}'), 1),
            Some('n') => (Some('\n'), 1),
            Some('r') => (Some('\r'), 1),
            Some('t') => (Some('\t'), 1),
            Some('v') => (Some('\u{b}'), 1),
            Some('x') => (hex(2), 3),
            Some('u') => (hex(4), 5),
            Some('U') => (hex(8), 9),
            _ => (None, 0),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[used..];
            }
            None => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// Splits on whitespace outside quotes and `{{ … }}`/`{% … %}`, keeping both as written
/// (the command is passed on as the user wrote it; templates render later).
fn split_words(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = None;
    let mut quote: Option<char> = None;
    let mut jinja = 0usize;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|(_, n)| *n);
        match (quote, c) {
            (_, '{') if matches!(next, Some('{' | '%')) => {
                jinja += 1;
                start.get_or_insert(i);
                chars.next();
            }
            (_, '}' | '%') if jinja > 0 && next == Some('}') => {
                jinja -= 1;
                chars.next();
            }
            _ if jinja > 0 => {}
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => {
                quote = Some(c);
                start.get_or_insert(i);
            }
            (None, c) if c.is_whitespace() => {
                if let Some(s) = start.take() {
                    words.push(&text[s..i]);
                }
            }
            (None, _) => {
                start.get_or_insert(i);
            }
        }
    }
    if let Some(s) = start {
        words.push(&text[s..]);
    }
    words
}

fn unquote(value: &str) -> String {
    for q in ['\'', '"'] {
        if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    value.to_string()
}

/// Whether any string in `node` is a template.
fn node_has_template(node: &Node) -> bool {
    match &node.value {
        NodeValue::Str(s) => crate::template::has_template_syntax(s),
        NodeValue::Seq(items) => items.iter().any(node_has_template),
        NodeValue::Map(entries) => entries.iter().any(|(_, v)| node_has_template(v)),
        _ => false,
    }
}

fn first_key_span(node: &Node) -> Span {
    node.as_map()
        .and_then(|entries| entries.first())
        .map_or(node.span, |(k, _)| k.span)
}

/// A variable (or environment variable) name: a letter or `_`, then letters, digits, `_`.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn default_rolling(span: Span) -> Rolling {
    Rolling {
        span,
        ..Rolling::default()
    }
}

/// `"30s"`, `"5m"`, `"1h"`, `"500ms"`, `"90"` (seconds) → a duration.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "" | "s" | "sec" | "secs" => number,
        "ms" => number / 1000.0,
        "m" | "min" | "mins" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// `"25%"`, `"3"`, `"12.5%"` → a batch size; zero and negatives are not.
pub fn parse_batch_size(text: &str) -> Option<BatchSize> {
    let text = text.trim();
    if let Some(percent) = text.strip_suffix('%') {
        let p: f64 = percent.trim().parse().ok()?;
        return (p > 0.0 && p <= 100.0).then_some(BatchSize::Percent(p));
    }
    let n: usize = text.parse().ok()?;
    (n > 0).then_some(BatchSize::Count(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let source = Source::new("play.yml", text);
        match parse(&source) {
            Ok(_) => Vec::new(),
            Err(ParseFailure::Invalid(problems)) => problems
                .iter()
                .map(|p| {
                    let offset = p.span.offset();
                    format!(
                        "{}: {} ({})",
                        source.location(Span { offset, len: 0 }),
                        p.message,
                        p.help.clone().unwrap_or_default()
                    )
                })
                .collect(),
            Err(ParseFailure::Yaml(report)) => vec![format!("yaml: {report}")],
        }
    }

    #[test]
    fn unknown_module_is_reported_at_its_key_with_a_suggestion() {
        let found = problems("- hosts: all\n  tasks:\n    - name: x\n      shel: echo hi\n");
        assert_eq!(
            found,
            vec![
                "play.yml:4:7: unknown module or task keyword `shel` (did you mean `shell`?)"
                    .to_string()
            ]
        );
    }

    #[test]
    fn every_problem_of_a_file_is_reported_in_one_pass() {
        let found = problems(
            "- hosts: all\n  hostz: x\n  tasks:\n    - debug: {msgg: hi}\n    - name: nothing\n",
        );
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].starts_with("play.yml:2:3: unknown play keyword `hostz`"));
        assert!(found[1].contains("module `debug` has no argument `msgg` (did you mean `msg`?)"));
        assert!(found[2].starts_with("play.yml:5:7: this task names no module"));
    }

    #[test]
    fn serial_accepts_counts_percentages_and_lists() {
        assert_eq!(parse_batch_size("25%"), Some(BatchSize::Percent(25.0)));
        assert_eq!(parse_batch_size("3"), Some(BatchSize::Count(3)));
        assert_eq!(parse_batch_size("0"), None);
        assert_eq!(parse_batch_size("150%"), None);
        let source = Source::new("p.yml", "- hosts: all\n  serial: [1, '50%']\n  tasks: []\n");
        let Ok(plays) = parse(&source) else {
            panic!("should parse")
        };
        assert_eq!(
            plays[0].serial,
            vec![BatchSize::Count(1), BatchSize::Percent(50.0)]
        );
    }

    #[test]
    fn rollout_plays_parse_and_mistakes_point_at_their_key() {
        let source = Source::new(
            "p.yml",
            "- hosts: all\n  rolling:\n    batch: [1, '50%']\n    max_failed: 0\n    pause: 2s\n  phases:\n    upgrade:\n      - command: 'true'\n        run_once: true\n",
        );
        let Ok(plays) = parse(&source) else {
            panic!("should parse")
        };
        let rolling = plays[0].rolling.as_ref().unwrap();
        assert_eq!(rolling.pause, Duration::from_secs(2));
        assert_eq!(rolling.max_failed, Limit::Count(0));
        let phases = plays[0].phases.as_ref().unwrap();
        assert!(phases.get(Phase::Upgrade)[0].run_once);
        let found = problems("- hosts: all\n  rolling: {batchh: 1}\n  phases:\n    upgrad: []\n");
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found[0]
                .contains("p.yml:2:13: unknown `rolling` keyword `batchh` (did you mean `batch`?)")
                || found[0].contains(
                    "play.yml:2:13: unknown `rolling` keyword `batchh` (did you mean `batch`?)"
                ),
            "{found:#?}"
        );
        assert!(found[1].contains("unknown phase `upgrad` (did you mean `upgrade`?)"));
        let found = problems("- hosts: all\n  serial: 1\n  phases: {upgrade: []}\n");
        assert!(found[0].contains("play.yml:2:3: a rollout batches with `rolling.batch`"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn key_value_shorthand_as_ansible_reads_it() {
        let source = Source::new(
            "p.yml",
            "- hosts: all\n  tasks:\n    - command: touch \"/tmp/a b\" creates=/tmp/x chdir=/tmp\n    - copy: src=a.txt dest='/tmp/b c'\n    - shell: echo x=1 | grep x\n    - copy: content={{ a | default('x y') }} dest={{ b }}/c\n",
        );
        let Ok(plays) = parse(&source) else {
            panic!("should parse")
        };
        let args = plays[0].tasks[0].args.to_json();
        assert_eq!(args["_raw_params"], "touch \"/tmp/a b\"");
        assert_eq!(args["creates"], "/tmp/x");
        assert_eq!(args["chdir"], "/tmp");
        let args = plays[0].tasks[1].args.to_json();
        assert_eq!(args["src"], "a.txt");
        assert_eq!(args["dest"], "/tmp/b c");
        // `x=1` is not an argument of shell: it stays in the command.
        assert_eq!(plays[0].tasks[2].args.to_json(), "echo x=1 | grep x");
        let args = plays[0].tasks[3].args.to_json();
        assert_eq!(args["content"], "{{ a | default('x y') }}");
        assert_eq!(args["dest"], "{{ b }}/c");
        let found = problems("- hosts: all\n  tasks:\n    - copy: a.txt /tmp\n");
        assert!(found[0].contains("`a.txt` is not `key=value`"), "{found:?}");
        // Python escapes are decoded in values, as Ansible's parse_kv does.
        assert_eq!(super::decode_escapes(r"a\tb\\c\x41\1"), "a\tb\\cA\\1");
        assert_eq!(super::decode_escapes(r"'\b(.+)\b'"), "'\u{8}(.+)\u{8}'");
    }

    #[test]
    fn blocks_flatten_with_inherited_keywords_and_handler_mistakes_are_caught() {
        let source = Source::new(
            "p.yml",
            "- hosts: all\n  tags: p\n  tasks:\n    - when: a\n      tags: b\n      block:\n        - debug: {msg: x}\n          when: c\n      rescue:\n        - debug: {msg: y}\n",
        );
        let Ok(plays) = parse(&source) else {
            panic!("should parse")
        };
        let tasks = &plays[0].tasks;
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0].tags, vec!["p", "b"]);
        assert_eq!(tasks[0].inherited_when.len(), 1);
        assert_eq!(tasks[0].when.len(), 1);
        assert_eq!(tasks[1].inherited_when.len(), 1);
        let found = problems(
            "- hosts: all\n  handlers:\n    - name: restart\n      debug: {}\n  tasks:\n    - debug: {}\n      notify: restrat\n    - rescue: []\n    - block: []\n      loop: [1]\n",
        );
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[0].contains("`rescue` belongs to a `block`"),
            "{found:#?}"
        );
        assert!(
            found[1].contains("`loop` cannot be used on a block"),
            "{found:#?}"
        );
        assert!(
            found[2].contains("play.yml:7:15: no handler named or listening to `restrat` (did you mean `restart`?)"),
            "{found:#?}"
        );
        // Rollouts take handlers (run at the end of the phase that notified them).
        let found = problems("- hosts: all\n  phases:\n    upgrade: []\n  handlers: []\n");
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn include_tasks_keywords_apply_to_the_include_and_others_are_refused() {
        let source = Source::new(
            "p.yml",
            "- hosts: all\n  tasks:\n    - include_tasks: \"{{ kind }}.yml\"\n      loop: [a]\n      tags: t\n      vars: {x: 1}\n",
        );
        let Ok(plays) = parse(&source) else {
            panic!("should parse")
        };
        let Some(Step::Include(include)) = plays[0].steps.first() else {
            panic!("an include step: {:?}", plays[0].steps)
        };
        let task = &plays[0].tasks[include.task];
        assert_eq!(task.module, "include_tasks");
        assert_eq!(task.tags, vec!["t"]);
        assert!(task.loop_items.is_some());
        assert!(
            include.loaded.is_none(),
            "a templated name is read at run time"
        );
        assert_eq!(include.vars.len(), 1);
        let found = problems(
            "- hosts: all\n  tasks:\n    - include_tasks: {file: \"{{ f }}\", apply: {register: r}}\n      become: true\n      register: x\n    - include_role: {name: r, vars_from: x}\n",
        );
        assert_eq!(found.len(), 5, "{found:#?}");
        assert!(
            found[0].contains("`become` on `include_tasks` applies to the include only"),
            "{found:#?}"
        );
        assert!(
            found[1].contains("`register` cannot be used on a include_tasks"),
            "{found:#?}"
        );
        assert!(
            found[2].contains("`apply` keyword `register` is not supported"),
            "{found:#?}"
        );
        assert!(
            found[3].contains("`include_role` argument `vars_from` is not supported by drover yet"),
            "{found:#?}"
        );
        assert!(found[4].contains("role `r` not found"), "{found:#?}");
    }

    #[test]
    fn free_form_and_args_merge() {
        let source = Source::new(
            "p.yml",
            "- hosts: all\n  tasks:\n    - shell: echo hi\n      args: {chdir: /tmp}\n",
        );
        let Ok(plays) = parse(&source) else {
            panic!("should parse")
        };
        let args = plays[0].tasks[0].args.to_json();
        assert_eq!(args["_raw_params"], "echo hi");
        assert_eq!(args["chdir"], "/tmp");
    }
}

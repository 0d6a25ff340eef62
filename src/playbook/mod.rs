//! Playbooks: loading YAML with spans, validating plays and tasks against the keywords and
//! modules drover knows, and keeping each value's location for later diagnostics.
//!
//! Owns the playbook's *shape* only. Templates inside it stay unrendered [`Node`]s: they are
//! rendered per host by the engine, which reports template errors with these same spans.

pub mod blocks;
pub mod exec;
pub(crate) mod load;
pub mod loops;
pub mod role;
pub mod rollout;
pub mod source;
pub mod tags;
pub mod yaml;

pub use blocks::{Block, Include, RoleInclude, Step, TaskFile, static_includes};
pub use exec::Execution;
pub use role::{Role, RoleFrom, RoleVars};
pub use rollout::{
    About, BackupMode, FailurePolicy, HopMode, Limit, Phase, Phases, Rolling, Stage,
    UpgradePathSpec,
};
pub use tags::TagSelection;

pub(crate) use load::is_identifier;
pub(crate) use load::{find_file, looked_in};
pub use load::{load, load_included, load_role_included, load_with, role_tasks_path};
pub use source::Source;
pub use yaml::{Key, Node, NodeValue, Span};

use std::path::PathBuf;

/// A loaded, validated playbook.
#[derive(Debug, Clone)]
pub struct Playbook {
    pub path: PathBuf,
    /// Directory relative to which `src:` paths resolve (Ansible's `playbook_dir`).
    pub dir: PathBuf,
    pub source: Source,
    pub plays: Vec<Play>,
}

impl Playbook {
    /// `--window`: the operator's windows replace every rollout's own.
    pub fn override_window(&mut self, windows: &crate::window::Windows) {
        for rolling in self.plays.iter_mut().filter_map(|p| p.rolling.as_mut()) {
            rolling.window = Some(windows.clone());
        }
    }
}

#[derive(Debug, Clone)]
pub struct Play {
    pub name: String,
    /// Host pattern, possibly templated.
    pub hosts: Node,
    /// Play variables, unrendered, in file order.
    pub vars: Vec<(Key, Node)>,
    /// `vars_files`, unrendered: each item a path, or a list of paths of which the first that
    /// exists is read. Paths are relative to the playbook (`vars/` beside it first).
    pub vars_files: Vec<Node>,
    /// Batch sizes from `serial`; empty means all hosts in one batch. The last size repeats.
    pub serial: Vec<BatchSize>,
    /// `serial` written as a template (`"{{ batch | default(0) }}"`): rendered with the play's
    /// vars and `-e` when the play is planned, replacing `serial`.
    pub serial_template: Option<Node>,
    /// `strategy` written as a template: rendered when the play is planned, replacing
    /// `strategy`.
    pub strategy_template: Option<Node>,
    /// Every task of `tasks:` (blocks, rescue, always and imported files flattened, in file
    /// order); [`Play::steps`] gives their structure.
    pub tasks: Vec<Task>,
    /// The structure of `tasks:`: tasks and blocks, indexing into `tasks`.
    pub steps: Vec<Step>,
    /// `handlers:`, in definition order (the order they run in).
    pub handlers: Vec<Task>,
    /// The handlers that are `include_tasks` (each include's `task` indexes `handlers`).
    pub handler_includes: Vec<Include>,
    /// The roles the play uses (read while loading), each once, with how it uses them.
    pub roles: Vec<(String, RoleFrom)>,
    /// Ansible's `order`: how the play's hosts are sorted before batching.
    pub order: HostOrder,
    /// `order` written as a template: rendered when the play is planned, replacing `order`.
    pub order_template: Option<Node>,
    /// `rolling:` — how a rollout batches, orders and guards its hosts.
    pub rolling: Option<Rolling>,
    /// `phases:` — the rollout's task lists; present iff this play is a rollout.
    pub phases: Option<Phases>,
    /// `upgrade_path:` — each host's hop chain from its current version to the target.
    pub upgrade_path: Option<UpgradePathSpec>,
    /// `about:` — the installation as the plan document describes it.
    pub about: Option<About>,
    /// `strategy`: `linear` (each task on every host before the next) or `free` (each host
    /// through its tasks at its own pace). Ordinary plays only.
    pub strategy: Strategy,
    /// `any_errors_fatal`: a task failing on any host ends the play for all, and the run.
    pub any_errors_fatal: bool,
    /// `force_handlers`: handlers notified on a host run even when the host fails later
    /// (and when the play is aborted), as `--force-handlers` does for every play.
    pub force_handlers: bool,
    /// `max_fail_percentage`: more than this share of a batch failed ends the run.
    pub max_fail_percentage: Option<f64>,
    /// The file the play was written in (the playbook, or one it imports with
    /// `import_playbook`): the play's own spans point into it.
    pub source: Source,
    /// The directory of that file: relative `src:` and `vars_files` paths of the play's
    /// tasks resolve against it (Ansible's basedir; `playbook_dir` stays the main one's).
    pub dir: PathBuf,
    pub span: Span,
}

/// The name of the flush drover adds before a play's `post_tasks` (Ansible's implicit
/// `meta: flush_handlers` there).
pub(crate) const POST_TASKS_FLUSH: &str = "flush handlers (before post_tasks)";

impl HostOrder {
    /// An `order` word.
    pub fn parse(word: &str) -> Option<HostOrder> {
        match word {
            "inventory" => Some(HostOrder::Inventory),
            "reverse_inventory" => Some(HostOrder::ReverseInventory),
            "sorted" => Some(HostOrder::Sorted),
            "reverse_sorted" => Some(HostOrder::ReverseSorted),
            "shuffle" => Some(HostOrder::Shuffle),
            _ => None,
        }
    }
}

impl Play {
    /// Whether the play has a `post_tasks:` section (with its implicit flush before it).
    pub fn has_post_tasks(&self) -> bool {
        self.tasks
            .iter()
            .any(|t| t.module == "meta" && t.name.as_deref() == Some(POST_TASKS_FLUSH))
    }

    pub fn task(&self, at: TaskRef) -> &Task {
        match at.section {
            Section::Tasks => &self.tasks[at.index],
            Section::Handlers => &self.handlers[at.index],
            Section::Phase(phase) => match &self.phases {
                Some(phases) => &phases.get(phase)[at.index],
                None => &self.tasks[at.index],
            },
        }
    }
}

/// Ansible's `strategy` play keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    #[default]
    Linear,
    Free,
}

/// Ansible's `order` play keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostOrder {
    #[default]
    Inventory,
    ReverseInventory,
    Sorted,
    ReverseSorted,
    Shuffle,
}

/// Where a task lives in its play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskRef {
    pub section: Section,
    pub index: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Tasks,
    Handlers,
    Phase(Phase),
}

/// One element of `serial`: a host count or a percentage of the play's hosts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BatchSize {
    Count(usize),
    Percent(f64),
}

#[derive(Debug, Clone)]
pub struct Task {
    pub name: Option<String>,
    /// The module's name as registered (aliases such as `ansible.builtin.shell` resolved).
    pub module: &'static str,
    /// Module arguments: a mapping, or a string for free-form modules (`shell: echo hi`).
    pub args: Node,
    /// The task's own `when` conditions (all must hold).
    pub when: Vec<Node>,
    /// Conditions of the blocks and imports around the task, outermost first, each with the
    /// file it was written in; they hold before the task's own are looked at.
    pub inherited_when: Vec<(Node, Source)>,
    pub register: Option<String>,
    pub loop_items: Option<Node>,
    /// The keyword that gave `loop_items` (`loop`, `with_items`, `with_dict`, …).
    pub loop_kind: loops::LoopKind,
    pub loop_control: loops::LoopControl,
    pub changed_when: Vec<Node>,
    pub failed_when: Vec<Node>,
    pub ignore_errors: Option<Node>,
    /// `ignore_unreachable`: an unreachable host (or delegate) is a result, not the end of
    /// the host's run.
    pub ignore_unreachable: Option<Node>,
    /// `until`: retry until this holds (with `retries`, default 3, and `delay`, default 5 s).
    pub until: Option<Node>,
    pub retries: Option<Node>,
    pub delay: Option<Node>,
    /// Ordinary plays: once per batch (Ansible). Rollouts: once for the whole rollout.
    pub run_once: bool,
    /// Effective tags: the task's own and those inherited from its play, blocks and imports.
    pub tags: Vec<String>,
    /// Handler names or `listen` topics notified when the task reports `changed`.
    pub notify: Vec<String>,
    /// Handlers only: topics this handler answers besides its name.
    pub listen: Vec<String>,
    /// Rollouts: `undo:` of a `run_once` step, run once when the cluster rolls back.
    pub undo: Option<std::sync::Arc<TaskFile>>,
    /// `become`, `environment`, `no_log`, … — its own or inherited from its play and blocks.
    pub exec: Execution,
    /// The file the task was written in (the playbook, or a file it imports): every span
    /// of the task points into it.
    pub source: Source,
    /// The role the task (or handler) belongs to: its variables and search directory.
    pub role: Option<std::sync::Arc<Role>>,
    /// `vars:` of the blocks and imports around the task, outermost first, then its own:
    /// Ansible's task vars, rendered on use.
    pub vars: Vec<RoleVars>,
    /// The whole task mapping, for messages about the task.
    pub span: Span,
    /// The module key, for messages about its arguments.
    pub module_span: Span,
}

impl Task {
    /// The name shown in output: the task's `name`, else Ansible's `module` fallback.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => self.module.to_string(),
        }
    }
}

/// A mistake in a playbook, pointing at its source.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
pub struct Problem {
    pub message: String,
    #[source_code]
    pub src: miette::NamedSource<String>,
    #[label("{label}")]
    pub span: miette::SourceSpan,
    pub label: String,
    #[help]
    pub help: Option<String>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlaybookError {
    #[error("cannot read playbook {path}: {source}")]
    #[diagnostic(code(drover::playbook::read))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} {}", if crate::yaml::is_vault_error(&detail.to_string()) { "has a vault value that cannot be opened" } else { "is not valid YAML" })]
    #[diagnostic(code(drover::playbook::yaml))]
    Yaml {
        path: PathBuf,
        #[diagnostic_source]
        detail: Box<dyn miette::Diagnostic + Send + Sync>,
    },
    #[error("{path}: {} problem{} found", problems.len(), if problems.len() == 1 { "" } else { "s" })]
    #[diagnostic(code(drover::playbook::invalid))]
    Invalid {
        path: PathBuf,
        #[related]
        problems: Vec<Problem>,
    },
}

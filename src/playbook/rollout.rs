//! The rollout's shape as the playbook wrote it: `rolling:` (batches, limits, stages, the
//! failure policy), `upgrade_path:`, `phases:` and `about:`. Plain data; the loader fills it
//! in, the engine's rollout scheduler reads it and `drover plan` describes it.

use super::{BatchSize, Node, Span, Step, Task};

/// `rolling:` — the rollout's shape and its safety limits.
#[derive(Debug, Clone)]
pub struct Rolling {
    /// Batch sizes; the last repeats (`[1, "25%", "100%"]` is a canary, then quarters, then all).
    pub batch: Vec<BatchSize>,
    /// Template expression per host; hosts sort by its value, stable in inventory order.
    pub order_by: Option<Node>,
    /// Groups whose hosts go first, in this order; hosts in none of them come last.
    pub order_groups: Vec<String>,
    /// Most hosts allowed between "backup started" and "verified" at once (default: no limit
    /// beyond the batch).
    pub max_unavailable: Option<Limit>,
    /// Failed hosts the whole rollout tolerates; one more halts it (default 0).
    pub max_failed: Limit,
    /// Wait between batches.
    pub pause: std::time::Duration,
    /// Ask for confirmation after the first batch (the canary); `--yes` answers.
    pub confirm_canary: bool,
    /// Overall deadline for one host's `verify` phase, retries included.
    pub verify_timeout: Option<std::time::Duration>,
    /// Maintenance windows: no host starts outside them, no batch starts that would likely
    /// not finish inside; `None` is always open.
    pub window: Option<crate::window::Windows>,
    /// How hosts walk an upgrade path: each its own chain, or the cluster hop by hop.
    pub hops: HopMode,
    /// One backup per host before its first hop, or one before every hop.
    pub backup: BackupMode,
    /// What a failed host does to the rest of the rollout.
    pub on_failure: FailurePolicy,
    /// Deadline for one hop of one host (stop … verify).
    pub hop_timeout: Option<std::time::Duration>,
    /// Host groups upgraded one after another, each finished and verified before the next
    /// starts; empty: the play's hosts are one stage.
    pub stages: Vec<Stage>,
    pub span: Span,
}

impl Default for Rolling {
    /// One host at a time, no failure tolerated, no pause, no window.
    fn default() -> Self {
        Rolling {
            batch: vec![BatchSize::Count(1)],
            order_by: None,
            order_groups: Vec::new(),
            max_unavailable: None,
            max_failed: Limit::Count(0),
            pause: std::time::Duration::ZERO,
            confirm_canary: false,
            verify_timeout: None,
            window: None,
            hops: HopMode::Host,
            backup: BackupMode::Once,
            on_failure: FailurePolicy::Host,
            hop_timeout: None,
            stages: Vec::new(),
            span: Span::default(),
        }
    }
}

/// `rolling.hops`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HopMode {
    /// Each host walks its own hop chain through every phase before the next host (of its
    /// batch's turn) is done: hosts with separate data stores.
    #[default]
    Host,
    /// The cluster moves hop by hop: every host finishes hop k (verified) before any host
    /// starts hop k+1, and `run_once` steps run once per hop: hosts sharing one database.
    Cluster,
}

/// `rolling.backup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupMode {
    /// One backup per host, before its first hop; a rollback goes back to it.
    #[default]
    Once,
    /// A backup before every hop (GitLab's guide); a rollback goes back to the last one.
    PerHop,
}

/// `rolling.on_failure`: what a host that fails in upgrade, migrate, start or verify does to
/// the rest of the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// The failed host rolls back alone; the others keep their new version.
    #[default]
    Host,
    /// Every host of the stage that changed rolls back, newest first, and each `run_once`
    /// step that ran is undone once (its `undo:`): a cluster sharing one database.
    Cluster,
    /// Nothing is rolled back: the rollout stops and holds every host as it is for the
    /// operator.
    Hold,
}

impl FailurePolicy {
    pub fn name(self) -> &'static str {
        match self {
            FailurePolicy::Host => "host",
            FailurePolicy::Cluster => "cluster",
            FailurePolicy::Hold => "hold",
        }
    }
}

/// One entry of `rolling.stages`: a group of the play's hosts with its own pacing and
/// failure budget (unset keys take the rollout's).
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: String,
    /// Host pattern, matched within the play's hosts.
    pub hosts: String,
    pub batch: Option<Vec<BatchSize>>,
    pub max_unavailable: Option<Limit>,
    pub max_failed: Option<Limit>,
    pub pause: Option<std::time::Duration>,
    pub confirm: bool,
    pub span: Span,
}

/// `about:` — what the upgrade plan document tells its reader about the installation
/// (GitLab's "Working with Support" questions). Never used to run anything; values may be
/// templates, rendered by `drover plan` with what it knows of the hosts.
#[derive(Debug, Clone, Default)]
pub struct About {
    /// How the product is installed (package, image, source, …).
    pub installation: Option<Node>,
    /// The nodes' operating system.
    pub os: Option<Node>,
    /// Single or multi-node, and what each node does.
    pub architecture: Option<Node>,
    /// External components (PostgreSQL, Redis, Gitaly, …): list items, or `name: detail`
    /// entries of a mapping.
    pub components: Vec<(Option<String>, Node)>,
    /// Geo / secondary sites (`false` for none).
    pub geo: Option<Node>,
    /// Whatever else is unique about the setup.
    pub notes: Option<Node>,
    /// Known issues with the current version.
    pub known_issues: Vec<Node>,
    pub span: Span,
}

/// `upgrade_path:` as written; versions are rendered per host after the precheck.
#[derive(Debug, Clone)]
pub struct UpgradePathSpec {
    /// Expression or template giving the host's current version (e.g. a precheck's output).
    pub current: Node,
    pub target: Node,
    /// Required stops, never skipped.
    pub stops: Vec<Node>,
    /// `every: minor|major` over `available` versions, instead of (or besides) `stops`.
    pub every: Option<(String, Vec<Node>)>,
    pub allow_downgrade: bool,
    pub span: Span,
}

/// A count of hosts or a percentage of the rollout's hosts (rounded down); zero allowed.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub enum Limit {
    Count(usize),
    Percent(f64),
}

impl Limit {
    pub fn of(self, total: usize) -> usize {
        match self {
            Limit::Count(n) => n,
            Limit::Percent(p) => ((total as f64) * p / 100.0).floor() as usize,
        }
    }
}

/// The phases of a rollout, in the order a host goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Precheck,
    Stop,
    Backup,
    Upgrade,
    Migrate,
    Start,
    Verify,
    Rollback,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::Precheck,
        Phase::Stop,
        Phase::Backup,
        Phase::Upgrade,
        Phase::Migrate,
        Phase::Start,
        Phase::Verify,
        Phase::Rollback,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Precheck => "precheck",
            Phase::Stop => "stop",
            Phase::Backup => "backup",
            Phase::Upgrade => "upgrade",
            Phase::Migrate => "migrate",
            Phase::Start => "start",
            Phase::Verify => "verify",
            Phase::Rollback => "rollback",
        }
    }

    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The task lists of a rollout's phases (missing phases are empty): each phase's tasks
/// flattened, and their block structure.
#[derive(Debug, Clone, Default)]
pub struct Phases {
    lists: Vec<(Phase, Vec<Task>, Vec<Step>)>,
}

impl Phases {
    pub fn set(&mut self, phase: Phase, tasks: Vec<Task>, steps: Vec<Step>) {
        self.lists.retain(|(p, _, _)| *p != phase);
        self.lists.push((phase, tasks, steps));
    }

    /// Puts `task` before the phase's first step (creating the phase if it has none).
    pub fn prepend(&mut self, phase: Phase, task: Task) {
        match self.lists.iter_mut().find(|(p, _, _)| *p == phase) {
            Some((_, tasks, steps)) => {
                tasks.push(task);
                steps.insert(0, Step::Task(tasks.len() - 1));
            }
            None => self.lists.push((phase, vec![task], vec![Step::Task(0)])),
        }
    }

    pub fn get(&self, phase: Phase) -> &[Task] {
        self.lists
            .iter()
            .find(|(p, _, _)| *p == phase)
            .map_or(&[][..], |(_, tasks, _)| tasks.as_slice())
    }

    pub fn has(&self, phase: Phase) -> bool {
        !self.get(phase).is_empty()
    }

    pub fn steps(&self, phase: Phase) -> &[Step] {
        self.lists
            .iter()
            .find(|(p, _, _)| *p == phase)
            .map_or(&[][..], |(_, _, steps)| steps.as_slice())
    }
}

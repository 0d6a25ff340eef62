//! What the engine tells the world. Reporters (human, JSON) render these; nothing in the
//! engine prints. Every event is complete in itself, so a reporter writes it whole and output
//! from concurrent hosts never tears.

use crate::playbook::Phase;
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    PlaybookStart {
        playbook: String,
        check: bool,
        /// The run's journal, when one is written.
        #[serde(skip_serializing_if = "Option::is_none")]
        journal: Option<String>,
        /// This run continues an interrupted one.
        resumed: bool,
    },
    PlayStart {
        name: String,
        pattern: String,
        hosts: Vec<String>,
        batches: usize,
    },
    /// No host matched the play's pattern (and `--limit`).
    NoHosts {
        pattern: String,
    },
    BatchStart {
        /// 1-based.
        index: usize,
        total: usize,
        hosts: Vec<String>,
    },
    TaskStart {
        name: String,
        /// `file:line` of the task.
        location: String,
    },
    /// A notified handler runs (Ansible's `RUNNING HANDLER [name]`).
    HandlerStart {
        name: String,
        location: String,
    },
    /// `include_tasks` brought `file` to these hosts (for a loop: at this item); its tasks
    /// run next. Ansible's `included: FILE for HOSTS`.
    Included {
        file: String,
        hosts: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        item: Option<Value>,
    },
    /// One loop item's result on a host (only for tasks with `loop:`).
    HostItem {
        host: String,
        task: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        phase: Option<Phase>,
        module: String,
        status: Status,
        item: Value,
        result: Value,
        /// The host whose connection ran the item (`delegate_to`).
        #[serde(skip_serializing_if = "Option::is_none")]
        delegate: Option<Delegate>,
    },
    /// A task's result on a host (for loops: the summary over its items).
    HostResult {
        host: String,
        task: String,
        /// The rollout phase the task belongs to, for rollouts.
        #[serde(skip_serializing_if = "Option::is_none")]
        phase: Option<Phase>,
        module: String,
        status: Status,
        /// Ansible's registered result (`rc`, `stdout`, `msg`, `changed`, …).
        result: Value,
        /// Unified diff of changed files, in `--diff` mode.
        #[serde(skip_serializing_if = "Option::is_none")]
        diff: Option<String>,
        /// Whether the result is ignored (`ignore_errors`) and the host carries on.
        ignored: bool,
        /// The loop already reported its items.
        looped: bool,
        /// The host whose connection ran the task (`delegate_to`); for a loop, its last item's.
        #[serde(skip_serializing_if = "Option::is_none")]
        delegate: Option<Delegate>,
    },
    /// Every host of a batch failed: the play stops, as Ansible's does.
    BatchFailed {
        index: usize,
    },
    /// `any_errors_fatal` or `max_fail_percentage` ended the play, and with it the run.
    PlayAborted {
        reason: String,
    },
    /// An `until` condition did not hold yet; the task runs again after `delay`.
    Retry {
        host: String,
        task: String,
        attempt: u32,
        retries_left: u32,
        delay_ms: u64,
    },
    /// A rollout begins (after its precheck): hosts in order, batches and limits.
    RolloutStart {
        hosts: Vec<String>,
        batches: Vec<Vec<String>>,
        max_unavailable: usize,
        max_failed: usize,
        /// The maintenance windows batches start in, when the rollout has them.
        #[serde(skip_serializing_if = "Option::is_none")]
        window: Option<String>,
    },
    /// The precheck failed somewhere: the rollout is abandoned with nothing changed.
    PrecheckFailed {
        hosts: Vec<String>,
    },
    /// Each host's hop chain, computed after the precheck.
    UpgradePaths {
        hosts: Vec<HostPath>,
    },
    /// Some host has no valid upgrade path: the rollout is abandoned with nothing changed.
    UpgradePathInvalid {
        problems: Vec<(String, String)>,
    },
    PhaseStart {
        host: String,
        phase: Phase,
        /// `1.0 -> 1.1 (1/3)` when the host walks an upgrade path.
        #[serde(skip_serializing_if = "Option::is_none")]
        hop: Option<String>,
        /// The host's position in the rollout (1-based) and the rollout's size.
        position: usize,
        total: usize,
    },
    PhaseEnd {
        host: String,
        phase: Phase,
        ok: bool,
        duration_ms: u64,
        /// For a failed phase: the task that failed (`name (file:line)`).
        #[serde(skip_serializing_if = "Option::is_none")]
        task: Option<String>,
        /// For a failed phase: why (the failed task's `msg`, or a timeout).
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A host's rollout is over.
    HostDone {
        host: String,
        outcome: HostOutcome,
        /// The last phase the host entered.
        phase: Option<Phase>,
        duration_ms: u64,
        /// For a host that failed: the failed task's message.
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A stage of a staged rollout begins (`rolling.stages`).
    StageStart {
        /// 1-based.
        index: usize,
        total: usize,
        name: String,
        hosts: Vec<String>,
    },
    /// `hops: cluster`: every host below moves to `to` before any host moves further.
    HopStart {
        to: String,
        /// 1-based, of the cluster's hops.
        index: usize,
        total: usize,
        hosts: Vec<String>,
    },
    /// `on_failure: cluster`: `trigger` failed, so every host that changed rolls back,
    /// newest first, and the shared steps that ran are undone once.
    ClusterRollback {
        trigger: String,
        hosts: Vec<String>,
    },
    /// A `run_once` step's `undo:` runs (once, on the host that ran the step).
    UndoStart {
        host: String,
        task: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        hop: Option<String>,
    },
    /// The operator is asked `question` (the canary batch, a stage's `confirm`); nothing
    /// starts until they answer.
    AwaitingConfirmation {
        question: String,
    },
    /// `host` waits for a rollout's `run_once` step `task`, which another host (`runner`,
    /// when known) runs for all.
    OnceWait {
        host: String,
        task: String,
        runner: Option<String>,
    },
    /// Waiting between batches.
    Pause {
        after_batch: usize,
        seconds: f64,
    },
    /// The rollout stops early: nothing new starts; `untouched` hosts were never started.
    RolloutHalted {
        reason: String,
        untouched: Vec<String>,
    },
    /// Outside the maintenance window with `--wait-for-window`: nothing starts until `until`.
    WindowWait {
        /// RFC 3339 instant the next window opens.
        until: String,
        seconds: f64,
        why: String,
    },
    /// The maintenance window closed (or the next batch would not finish inside it): nothing
    /// new starts, hosts in flight finished; the run is resumable.
    WindowClosed {
        reason: String,
        untouched: Vec<String>,
        /// RFC 3339 instant the next window opens, if one does within a week.
        next_open: Option<String>,
    },
    /// The rollout's per-host table.
    RolloutEnd {
        hosts: Vec<HostRow>,
    },
    /// The first Ctrl-C (or SIGTERM) arrived: what runs finishes, nothing new starts. Sent
    /// by the binary at once; [`Event::Interrupted`] follows where the engine stops.
    InterruptRequested,
    /// The user asked to stop (Ctrl-C); nothing new is scheduled.
    Interrupted,
    /// A second Ctrl-C: the run stops now, abandoning the steps in flight. Sent by the
    /// binary, not the engine; the last event of the run.
    Aborted,
    Warning {
        message: String,
    },
    /// Detail shown from `-v` × `level` up (`-vvv`: how each host was connected to).
    Detail {
        host: String,
        level: u8,
        message: String,
    },
    Recap {
        hosts: IndexMap<String, HostStats>,
    },
}

/// The host a task was delegated to (`delegate_to`), when it is not the task's own host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delegate {
    pub host: String,
    /// The address drover connected to (`ansible_host`), when it is not the name itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Delegate {
    /// Ansible's label for a delegated result: `web1 -> lb1`, or `web1 -> lb1(10.0.0.5)`
    /// when the delegate's `ansible_host` differs from its name.
    pub fn label(&self, host: &str) -> String {
        match &self.address {
            Some(address) => format!("{host} -> {}({address})", self.host),
            None => format!("{host} -> {}", self.host),
        }
    }
}

/// Where a host ended up in a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HostOutcome {
    Upgraded,
    /// Already at the upgrade path's target, or its pipeline changed nothing: it was there.
    UpToDate,
    /// `--check`: the pipeline would change the host (nothing was changed).
    WouldUpgrade,
    /// A phase failed and the rollback phase restored the host.
    RolledBack,
    /// A phase failed and so did the rollback: the host needs a human.
    RollbackFailed,
    /// Failed before changing anything (its stop or backup): the service was brought back.
    Failed,
    /// Failed after changing the host and left as it is, for the operator: no rollback
    /// phase, or `on_failure: hold`.
    Held,
    /// Stopped at a hop boundary (the maintenance window closed): in service at an
    /// intermediate version; `drover resume` continues with the next hop.
    Paused,
    Unreachable,
    /// Never started: the rollout halted first.
    Untouched,
}

impl HostOutcome {
    pub fn name(self) -> &'static str {
        match self {
            HostOutcome::Upgraded => "UPGRADED",
            HostOutcome::UpToDate => "UP_TO_DATE",
            HostOutcome::WouldUpgrade => "WOULD_UPGRADE",
            HostOutcome::RolledBack => "ROLLED_BACK",
            HostOutcome::RollbackFailed => "ROLLBACK_FAILED",
            HostOutcome::Failed => "FAILED",
            HostOutcome::Held => "HELD",
            HostOutcome::Paused => "PAUSED",
            HostOutcome::Unreachable => "UNREACHABLE",
            HostOutcome::Untouched => "UNTOUCHED",
        }
    }
}

/// A host's way from its current version to the target.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct HostPath {
    pub host: String,
    pub current: String,
    /// Versions after `current`, in order; empty when already at the target.
    pub hops: Vec<String>,
}

/// One line of the rollout's final table.
#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    pub host: String,
    pub outcome: HostOutcome,
    pub phase: Option<Phase>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Changed,
    Failed,
    Skipped,
    Unreachable,
}

/// Ansible's PLAY RECAP counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HostStats {
    pub ok: usize,
    pub changed: usize,
    pub unreachable: usize,
    pub failed: usize,
    pub skipped: usize,
    pub rescued: usize,
    pub ignored: usize,
}

impl HostStats {
    pub fn count(&mut self, status: Status, ignored: bool) {
        self.count_result(status, ignored, false);
    }

    /// Counts one task result; a failure a block's `rescue` takes over is `rescued`, not
    /// `failed`, as in Ansible.
    pub fn count_result(&mut self, status: Status, ignored: bool, rescued: bool) {
        match status {
            Status::Failed if rescued => self.rescued += 1,
            Status::Ok => self.ok += 1,
            Status::Changed => {
                self.ok += 1;
                self.changed += 1;
            }
            Status::Failed if ignored => {
                self.ok += 1;
                self.ignored += 1;
            }
            Status::Failed => self.failed += 1,
            Status::Skipped => self.skipped += 1,
            Status::Unreachable => self.unreachable += 1,
        }
    }
}

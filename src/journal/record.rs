//! The journal's file format: one [`Record`] per line, what a run started with
//! ([`RunInputs`]), and what a backup phase saved ([`Backup`]). Every field added after the
//! first journals is optional, so old journals still read.

use crate::engine::HostOutcome;
use crate::playbook::Phase;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::PathBuf;

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    RunStart(RunInputs),
    /// A later `drover resume` of the same run.
    Resume {
        at: String,
    },
    PhaseStart {
        play: usize,
        host: String,
        phase: Phase,
        /// The hop (1-based) of the host's upgrade path, for upgrade/migrate/verify.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hop: Option<usize>,
        /// RFC 3339 instant it started (journals before the run report lack it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
    PhaseEnd {
        play: usize,
        host: String,
        phase: Phase,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hop: Option<usize>,
        ok: bool,
        duration_ms: u64,
        /// Everything the host registered so far (backup paths, probed versions, …).
        facts: Map<String, Value>,
        /// Variables `include_vars` loaded so far (their own layer, below `facts`).
        #[serde(default, skip_serializing_if = "Map::is_empty")]
        included: Map<String, Value>,
        /// Names (never values) of the facts `no_log` tasks registered: a resume derives
        /// them again.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        secret: Vec<String>,
        /// RFC 3339 instant it ended.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
        /// For a failed phase: the task that failed (`name (file:line)`) and its message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failed_task: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// For a backup phase: what it saved, with checksums.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        backups: Vec<Backup>,
    },
    /// The operator's answer at a confirmation point (`confirm_canary`, a stage's
    /// `confirm`); a resume does not ask again.
    Confirmed {
        play: usize,
        at: String,
        yes: bool,
    },
    /// A `run_once` step that has an `undo:` ran (on `host`, at `hop`, in stage `stage`).
    OnceRan {
        play: usize,
        #[serde(default, skip_serializing_if = "super::is_zero")]
        stage: usize,
        phase: Phase,
        task: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hop: Option<String>,
        /// The whole `hop` variable the step saw (`from`, `to`, …), for its undo.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hop_fact: Option<Value>,
        /// What the step registered (`register:` name and result), for its undo; never a
        /// `no_log` step's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        registered: Option<(String, Value)>,
        host: String,
    },
    /// `on_failure: cluster` began rolling back these hosts, newest first.
    ClusterRollback {
        play: usize,
        trigger: String,
        hosts: Vec<String>,
        /// The stage it rolls back (its shared steps are that stage's).
        #[serde(default)]
        stage: usize,
    },
    /// A `run_once` step's undo ended.
    Undone {
        play: usize,
        phase: Phase,
        task: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hop: Option<String>,
        ok: bool,
    },
    HostDone {
        play: usize,
        host: String,
        outcome: HostOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
    },
    /// A rollout began: hosts in order, batches, limits and window, for the run report.
    Rollout {
        at: String,
        hosts: Vec<String>,
        batches: Vec<Vec<String>>,
        max_unavailable: usize,
        max_failed: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        window: Option<String>,
    },
    /// The rollout's precheck ran on `hosts` (all at once), for the run report.
    Precheck {
        start: String,
        end: String,
        hosts: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        failed: Vec<PrecheckFailure>,
    },
    /// Each host's hop chain, as computed after the precheck.
    UpgradePaths {
        hosts: Vec<crate::engine::events::HostPath>,
    },
    /// A batch of the rollout started.
    Batch {
        at: String,
        /// 1-based.
        index: usize,
        hosts: Vec<String>,
    },
    /// The rollout stopped early (failure budget, window, interrupt, precheck): why, and
    /// the hosts it never started.
    Halted {
        at: String,
        reason: String,
        #[serde(default)]
        untouched: Vec<String>,
    },
    /// A `reboot` task is about to reboot `host`, whose boot id is `boot_id`: a resume that
    /// reaches the same task (same play, task location and hop) and finds another boot id
    /// knows the reboot happened and does not reboot again.
    Reboot {
        play: usize,
        host: String,
        /// The task's `file:line:col`.
        task: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hop: Option<String>,
        boot_id: String,
        at: String,
    },
    PlayEnd {
        play: usize,
    },
    RunEnd {
        exit_code: i32,
        at: String,
    },
}

/// A file a backup phase saved: the registered result naming it, its path on the host, its
/// checksum (the module's, else SHA-256 read on the host) and size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Backup {
    pub name: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// What a backup phase registered that was not there before: each result naming a path
/// (`dest`, `path`, `backup_file`, or an absolute path printed alone), with its checksum.
pub fn backups(facts: &Map<String, Value>, before: &Map<String, Value>) -> Vec<Backup> {
    let mut found = Vec::new();
    for (name, value) in facts {
        if before.get(name) == Some(value) {
            continue;
        }
        let results: Vec<&Value> = match value.get("results").and_then(Value::as_array) {
            Some(items) => items.iter().collect(),
            None => vec![value],
        };
        for result in results {
            let text = |key: &str| result.get(key).and_then(Value::as_str).map(str::trim);
            let printed = text("stdout").filter(|s| s.starts_with('/') && !s.contains('\n'));
            let Some(path) = text("backup_file")
                .or(text("dest"))
                .or(text("path"))
                .or(printed)
            else {
                continue;
            };
            let checksum = ["checksum", "sha256", "sha256sum", "md5sum"]
                .iter()
                .find_map(|k| text(k))
                .map(str::to_string);
            found.push(Backup {
                name: name.clone(),
                path: path.to_string(),
                checksum,
                size: None,
            });
        }
    }
    found
}

/// A host whose precheck failed, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PrecheckFailure {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What the run was started with: enough to run it again and to notice changed inputs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunInputs {
    pub run_id: String,
    pub started: String,
    pub playbook: PathBuf,
    pub playbook_sha256: String,
    pub inventory: PathBuf,
    pub inventory_sha256: String,
    /// Every inventory source the run read (several `-i`, inline lists), when more than the
    /// first: a resume reads them all again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inventory_sources: Vec<String>,
    pub limit: Option<String>,
    /// Extra vars, with the values of secret-looking keys replaced by `"<redacted>"`.
    pub extra_vars: Map<String, Value>,
    pub check: bool,
    pub forks: usize,
    /// `--window`, when given: a resume keeps to the same windows unless told otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// `--tags` / `--skip-tags`: a resume runs the same tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_tags: Vec<String>,
    /// `--force-handlers` (or ansible.cfg's): a resume runs handlers the same way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_handlers: bool,
    /// Who ran it, from which machine and directory (for the run report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
}

//! What the engine tells the world. Reporters (human, JSON) render these; nothing in the
//! engine prints. Every event is complete in itself, so a reporter writes it whole and output
//! from concurrent hosts never tears.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    PlaybookStart {
        playbook: String,
        check: bool,
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
    /// One loop item's result on a host (only for tasks with `loop:`).
    HostItem {
        host: String,
        task: String,
        status: Status,
        item: Value,
        result: Value,
    },
    /// A task's result on a host (for loops: the summary over its items).
    HostResult {
        host: String,
        task: String,
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
    },
    /// Every host of a batch failed: the play stops, as Ansible's does.
    BatchFailed {
        index: usize,
    },
    /// The user asked to stop (Ctrl-C); nothing new is scheduled.
    Interrupted,
    Warning {
        message: String,
    },
    Recap {
        hosts: IndexMap<String, HostStats>,
    },
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
        match status {
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

//! The run journal: an append-only JSON-lines file per run on the control machine, written
//! and fsynced before the step it records goes on, so that a crash of the control machine
//! loses nothing a resume needs. It records the resolved inputs, and per host the rollout
//! phases started and finished, the facts registered so far (the backup's paths among them),
//! and each host's outcome.
//!
//! Reading tolerates a torn last line (the crash happened mid-write): it is reported and
//! ignored, never fatal. This module owns the file format and what a resume may skip; the
//! engine decides what to do with it.

use crate::engine::HostOutcome;
use crate::playbook::Phase;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod record;

pub use record::{Backup, PrecheckFailure, Record, RunInputs, backups};

pub const REDACTED: &str = "<redacted>";

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum JournalError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a journal record: {reason}")]
    #[diagnostic(help("only a torn last line is tolerated; this one is in the middle"))]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path} does not start with a run_start record")]
    NoStart { path: PathBuf },
    #[error("another drover is writing {0} (a run or a resume of it is in progress)")]
    #[diagnostic(help(
        "wait for it to end, or stop it (Ctrl-C); one run is written by one process at a time"
    ))]
    Busy(PathBuf),
    #[error("no run `{0}` in the state directory")]
    #[diagnostic(help("`drover runs` lists the runs"))]
    NoSuchRun(String),
    #[error("no unfinished run in {0}")]
    #[diagnostic(help("`drover runs` lists the runs; name one to resume it"))]
    NothingToResume(PathBuf),
}

/// The open journal of the current run. Every `record` is on disk before it returns.
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

impl Journal {
    /// Starts a new run's journal in `state_dir/runs/`.
    pub fn create(state_dir: &Path, inputs: &RunInputs) -> Result<Journal, JournalError> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = state_dir.join("runs");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|source| JournalError::Io {
                action: "create",
                path: dir.clone(),
                source,
            })?;
        let path = dir.join(format!("{}.jsonl", inputs.run_id));
        let journal = Journal::append_to(&path)?;
        journal.record(&Record::RunStart(inputs.clone()))?;
        sync_dir(&dir);
        Ok(journal)
    }

    /// Opens an existing journal to add to it (a resume). A torn last line (a crash
    /// mid-write) is cut off first, so new records never follow garbage.
    pub fn append_to(path: &Path) -> Result<Journal, JournalError> {
        if let Ok(bytes) = std::fs::read(path)
            && !bytes.is_empty()
            && !bytes.ends_with(b"\n")
        {
            let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|source| JournalError::Io {
                    action: "repair",
                    path: path.to_path_buf(),
                    source,
                })?;
            file.set_len(keep as u64)
                .and_then(|()| file.sync_all())
                .map_err(|source| JournalError::Io {
                    action: "repair",
                    path: path.to_path_buf(),
                    source,
                })?;
        }
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let open = |source| JournalError::Io {
            action: "open",
            path: path.to_path_buf(),
            source,
        };
        // Only its owner reads a journal: it names hosts, paths and the run's inputs.
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(open)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(open)?;
        // One writer per journal: two resumes of one run must not interleave. The lock
        // goes with the process (the kernel drops it when drover dies).
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Busy(path.to_path_buf()));
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(open(source)),
        }
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record and fsyncs it.
    pub fn record(&self, record: &Record) -> Result<(), JournalError> {
        // No secret is stored: a vault value (or one computed from it) is masked here.
        let mut line = crate::sensitive::redact(&serde_json::to_string(record).unwrap_or_default())
            .into_owned();
        line.push('\n');
        let mut file = match self.file.lock() {
            Ok(file) => file,
            Err(poisoned) => poisoned.into_inner(),
        };
        let io = |source| JournalError::Io {
            action: "write",
            path: self.path.clone(),
            source,
        };
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)
    }
}

/// Makes a new file's directory entry durable too.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A journal read back.
#[derive(Debug, Clone)]
pub struct RunLog {
    pub path: PathBuf,
    pub inputs: RunInputs,
    pub records: Vec<Record>,
    /// The last line was torn (a crash mid-write) and was ignored.
    pub torn_tail: bool,
}

impl RunLog {
    pub fn read(path: &Path) -> Result<RunLog, JournalError> {
        let text = std::fs::read_to_string(path).map_err(|source| JournalError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut records = Vec::new();
        let mut torn_tail = false;
        for (i, line) in lines.iter().enumerate() {
            let last = i + 1 == lines.len();
            match serde_json::from_str::<Record>(line.trim_end()) {
                Ok(record) if line.ends_with('\n') || !last => records.push(record),
                // A complete record without its newline: the write was cut just short.
                Ok(_) => torn_tail = true,
                Err(_) if last => torn_tail = true,
                Err(e) if line.trim().is_empty() => {
                    let _ = e;
                }
                Err(e) => {
                    return Err(JournalError::Corrupt {
                        path: path.to_path_buf(),
                        line: i + 1,
                        reason: e.to_string(),
                    });
                }
            }
        }
        let Some(Record::RunStart(inputs)) = records.first().cloned() else {
            return Err(JournalError::NoStart {
                path: path.to_path_buf(),
            });
        };
        Ok(RunLog {
            path: path.to_path_buf(),
            inputs,
            records,
            torn_tail,
        })
    }

    /// The exit code the run ended with, if it ended.
    pub fn ended(&self) -> Option<i32> {
        let last_resume = self
            .records
            .iter()
            .rposition(|r| matches!(r, Record::Resume { .. }));
        self.records
            .iter()
            .enumerate()
            .filter(|(i, _)| last_resume.is_none_or(|r| *i > r))
            .find_map(|(_, r)| match r {
                Record::RunEnd { exit_code, .. } => Some(*exit_code),
                _ => None,
            })
    }

    /// What a resume may skip and what it must restore.
    pub fn progress(&self) -> Progress {
        let mut progress = Progress::default();
        for record in &self.records {
            match record {
                Record::PhaseStart {
                    play,
                    host,
                    phase,
                    hop,
                    ..
                } => {
                    let started = progress.hosts.len();
                    let h = progress.hosts.entry((*play, host.clone())).or_default();
                    h.started.get_or_insert(started);
                    h.phase = Some(*phase);
                    h.hop = *hop;
                }
                Record::PhaseEnd {
                    play,
                    host,
                    phase,
                    hop,
                    ok,
                    facts,
                    included,
                    secret,
                    ..
                } => {
                    let h = progress.hosts.entry((*play, host.clone())).or_default();
                    h.facts = facts.clone();
                    h.included = included.clone();
                    h.secret = secret.clone();
                    if *ok {
                        h.completed = Some((*phase, *hop));
                    }
                    if let (true, Phase::Rollback, Some(cluster)) =
                        (*ok, phase, progress.cluster_rollback.get_mut(play))
                        && cluster.hosts.contains(host)
                    {
                        cluster.rolled_back.push(host.clone());
                    }
                }
                Record::HostDone {
                    play,
                    host,
                    outcome,
                    ..
                } => {
                    let h = progress.hosts.entry((*play, host.clone())).or_default();
                    // A host paused between hops is not done: a resume continues it.
                    h.outcome = (*outcome != HostOutcome::Paused).then_some(*outcome);
                }
                Record::Confirmed { play, at, yes } => {
                    progress.confirmed.insert((*play, at.clone()), *yes);
                }
                Record::OnceRan {
                    play,
                    stage,
                    phase,
                    task,
                    hop,
                    hop_fact,
                    registered,
                    host,
                } => progress.once_ran.push(OnceRun {
                    play: *play,
                    stage: *stage,
                    phase: *phase,
                    task: *task,
                    hop: hop.clone(),
                    hop_fact: hop_fact.clone(),
                    registered: registered.clone(),
                    host: host.clone(),
                    undone: false,
                }),
                Record::Undone {
                    play,
                    phase,
                    task,
                    hop,
                    ok: true,
                } => {
                    for run in progress.once_ran.iter_mut().filter(|r| {
                        r.play == *play && r.phase == *phase && r.task == *task && r.hop == *hop
                    }) {
                        run.undone = true;
                    }
                }
                Record::ClusterRollback {
                    play,
                    trigger,
                    hosts,
                    stage,
                } => {
                    // A resumed cluster rollback records itself again: keep what it did.
                    let entry = progress.cluster_rollback.entry(*play).or_default();
                    entry.trigger.clone_from(trigger);
                    entry.stage = *stage;
                    if entry.hosts.is_empty() {
                        entry.hosts.clone_from(hosts);
                    }
                }
                Record::PlayEnd { play } => {
                    progress.plays_done.insert(*play);
                }
                Record::Reboot {
                    play,
                    host,
                    task,
                    hop,
                    boot_id,
                    ..
                } => {
                    progress.reboots.insert(
                        (*play, host.clone(), task.clone(), hop.clone()),
                        boot_id.clone(),
                    );
                }
                _ => {}
            }
        }
        progress
    }
}

/// How far a run got.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub plays_done: HashSet<usize>,
    pub hosts: BTreeMap<(usize, String), HostProgress>,
    /// Answers given at confirmation points, by play and point.
    pub confirmed: BTreeMap<(usize, String), bool>,
    /// `run_once` steps with an `undo:` that ran, oldest first.
    pub once_ran: Vec<OnceRun>,
    /// A cluster rollback that began, by play.
    pub cluster_rollback: BTreeMap<usize, ClusterRollback>,
    /// Reboots begun, by play, host, task location and hop: the boot id before each.
    pub reboots: BTreeMap<(usize, String, String, Option<String>), String>,
}

/// A cluster rollback as far as it got.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterRollback {
    /// The host whose failure started it.
    pub trigger: String,
    /// The hosts it rolls back, newest first.
    pub hosts: Vec<String>,
    /// Those whose `rollback` phase finished since it began.
    pub rolled_back: Vec<String>,
    /// The stage (of `rolling.stages`) whose hosts and shared steps it rolls back.
    pub stage: usize,
}

/// A shared step that ran and may have to be undone.
#[derive(Debug, Clone, PartialEq)]
pub struct OnceRun {
    pub play: usize,
    /// The rollout stage it ran in (0 without stages): each stage runs its own once.
    pub stage: usize,
    pub phase: Phase,
    /// Index into the phase's tasks.
    pub task: usize,
    /// The hop's target version, with an upgrade path.
    pub hop: Option<String>,
    /// The `hop` variable the step saw.
    pub hop_fact: Option<Value>,
    /// What it registered, given back to its undo (a later hop's run of the same step
    /// registers the same name).
    pub registered: Option<(String, Value)>,
    pub host: String,
    pub undone: bool,
}

#[derive(Debug, Clone, Default)]
pub struct HostProgress {
    /// The last phase the host entered.
    pub phase: Option<Phase>,
    /// The hop it was on, with an upgrade path.
    pub hop: Option<usize>,
    /// The last phase (and hop) it finished successfully.
    pub completed: Option<(Phase, Option<usize>)>,
    /// When it first started a phase, relative to the other hosts (for rollback order).
    pub started: Option<usize>,
    /// Names of facts its `no_log` tasks registered (their values are not journaled).
    pub secret: Vec<String>,
    /// Facts at the end of its last finished phase.
    pub facts: Map<String, Value>,
    /// `include_vars` variables at the same point.
    pub included: Map<String, Value>,
    pub outcome: Option<HostOutcome>,
}

impl Progress {
    pub fn host(&self, play: usize, host: &str) -> Option<&HostProgress> {
        self.hosts.get(&(play, host.to_string()))
    }
}

/// Runs in `state_dir`, oldest first.
pub fn list(state_dir: &Path) -> Result<Vec<RunLog>, JournalError> {
    let dir = state_dir.join("runs");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(JournalError::Io {
                action: "list",
                path: dir,
                source,
            });
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    paths.sort();
    paths.iter().map(|p| RunLog::read(p)).collect()
}

/// The run to resume: the named one, or the latest that did not end.
pub fn find(state_dir: &Path, run_id: Option<&str>) -> Result<RunLog, JournalError> {
    let runs = list(state_dir)?;
    match run_id {
        Some(id) => runs
            .into_iter()
            .find(|r| r.inputs.run_id == id)
            .ok_or_else(|| JournalError::NoSuchRun(id.to_string())),
        None => runs
            .into_iter()
            .rev()
            .find(|r| r.ended().is_none_or(resumable))
            .ok_or_else(|| JournalError::NothingToResume(state_dir.to_path_buf())),
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Exit codes of runs that stopped on purpose and may be continued: interrupted (99), the
/// window closed (7), a confirmation declined (8).
pub fn resumable(code: i32) -> bool {
    matches!(code, 7 | 8 | 99)
}

/// Whether a variable's name says it holds a secret (`db_password`, `api_token`, `ssh_key`,
/// …): its value is never written down — not in the journal, not in a plan.
pub fn looks_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["pass", "secret", "token", "key", "credential"]
        .iter()
        .any(|s| lower.contains(s))
}

/// Extra vars as journaled: values of keys that look secret, and values holding a secret
/// (from a vault-encrypted `-e @file`), are not written down, at any depth
/// (`{"db": {"password": …}}`, lists of such maps); a resume asks for them again.
pub fn redact(vars: &Map<String, Value>) -> Map<String, Value> {
    vars.iter()
        .map(|(k, v)| {
            let value = if looks_secret(k) {
                Value::String(REDACTED.to_string())
            } else {
                redact_value(v)
            };
            (k.clone(), value)
        })
        .collect()
}

/// Where `redact` left a hole, as dotted paths (`db.password`, `users[1].token`): what a
/// resume must be given again.
pub fn redacted(name: &str, value: &Value) -> Vec<String> {
    match value {
        Value::String(s) if s == REDACTED => vec![name.to_string()],
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| redacted(&format!("{name}.{k}"), v))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(i, v)| redacted(&format!("{name}[{i}]"), v))
            .collect(),
        _ => Vec::new(),
    }
}

fn redact_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(redact(map)),
        Value::Array(items) => Value::Array(items.iter().map(redact_value).collect()),
        other if crate::sensitive::contains_secret(&other.to_string()) => {
            Value::String(REDACTED.to_string())
        }
        other => other.clone(),
    }
}

/// A sortable run id: UTC time plus a random suffix.
pub fn new_run_id() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let stamp = now
        .format(&format)
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
    let suffix: u16 = rand::random();
    format!("{stamp}-{suffix:04x}")
}

/// Now, in UTC to the millisecond, always three digits (`2026-12-03T18:47:06.030Z`), so
/// that the stamps sort as text too (the run report draws phases on a time axis).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&format).unwrap_or_else(|_| {
        now.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    })
}

/// SHA-256 of a file, hex, for noticing changed inputs.
pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    match std::fs::read(path) {
        Ok(bytes) => sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> RunInputs {
        RunInputs {
            run_id: "20261123T000000Z-0001".into(),
            started: "now".into(),
            playbook: "p.yml".into(),
            playbook_sha256: "a".into(),
            inventory: "i.yml".into(),
            inventory_sha256: "b".into(),
            inventory_sources: Vec::new(),
            limit: None,
            extra_vars: Map::new(),
            check: false,
            forks: 5,
            window: None,
            tags: Vec::new(),
            skip_tags: Vec::new(),
            force_handlers: false,
            user: None,
            control_host: None,
            cwd: None,
        }
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_progress_survives() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create(dir.path(), &inputs()).unwrap();
        let mut facts = Map::new();
        facts.insert("backup".into(), serde_json::json!({"stdout": "/b/1"}));
        journal
            .record(&Record::PhaseStart {
                play: 0,
                host: "n1".into(),
                phase: Phase::Backup,
                hop: None,
                at: None,
            })
            .unwrap();
        journal
            .record(&Record::PhaseEnd {
                play: 0,
                host: "n1".into(),
                phase: Phase::Backup,
                hop: None,
                ok: true,
                duration_ms: 5,
                facts,
                included: serde_json::json!({"site": "eu"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                secret: Vec::new(),
                at: None,
                failed_task: None,
                message: None,
                backups: Vec::new(),
            })
            .unwrap();
        journal
            .record(&Record::PhaseStart {
                play: 0,
                host: "n1".into(),
                phase: Phase::Upgrade,
                hop: Some(1),
                at: None,
            })
            .unwrap();
        let path = journal.path().to_path_buf();
        drop(journal);
        // A crash mid-write: half a record, no newline.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"record\":\"phase_end\",\"pla").unwrap();
        let log = RunLog::read(&path).unwrap();
        assert!(log.torn_tail);
        assert_eq!(log.ended(), None);
        let progress = log.progress();
        let n1 = progress.host(0, "n1").unwrap();
        assert_eq!(n1.phase, Some(Phase::Upgrade));
        assert_eq!(n1.facts["backup"]["stdout"], "/b/1");
        assert_eq!(n1.included["site"], "eu");
        assert_eq!(n1.outcome, None);
        assert_eq!(
            find(dir.path(), None).unwrap().inputs.run_id,
            log.inputs.run_id
        );
    }

    #[test]
    fn corruption_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::create(dir.path(), &inputs()).unwrap();
        let path = journal.path().to_path_buf();
        drop(journal);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"garbage\n{\"record\":\"play_end\",\"play\":0}\n")
            .unwrap();
        assert!(matches!(
            RunLog::read(&path),
            Err(JournalError::Corrupt { line: 2, .. })
        ));
    }

    #[test]
    fn secrets_are_not_written_down() {
        let mut vars = Map::new();
        vars.insert("db_password".into(), "hunter2".into());
        vars.insert("version".into(), "2.0".into());
        let r = redact(&vars);
        assert_eq!(r["db_password"], REDACTED);
        assert_eq!(r["version"], "2.0");
    }

    #[test]
    fn secrets_are_not_written_down_at_any_depth() {
        let vars: Map<String, Value> = serde_json::from_str(
            r#"{"nested": {"api_token": "s3cret", "region": "eu"},
                "users": [{"name": "a", "password": "pw"}]}"#,
        )
        .unwrap();
        let r = redact(&vars);
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            !text.contains("s3cret") && !text.contains("\"pw\""),
            "{text}"
        );
        assert_eq!(r["nested"]["region"], "eu");
        let mut holes = redacted("nested", &r["nested"]);
        holes.extend(redacted("users", &r["users"]));
        assert_eq!(holes, ["nested.api_token", "users[0].password"]);
    }
}

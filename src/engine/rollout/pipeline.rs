//! One host's pipeline in one round of a rollout: its steps (`stop → backup → upgrade →
//! migrate → start → verify`, once per hop with an upgrade path, phases the playbook does
//! not have left out), what a failure leads to, and the rollback.
//!
//! Failure rules, in order:
//! - `--check`: nothing is rolled back (nothing changed); verify and rollback never run;
//! - a failure in `stop` or `backup` before the host changed: `start` brings the service
//!   back (when the playbook has one) and the host ends `FAILED` — changed nothing;
//! - otherwise, by `rolling.on_failure`: `host` rolls the host back (`stop`, `rollback`,
//!   `start`), `cluster` leaves it to the cluster rollback, `hold` leaves it as it is.

use super::super::events::{Event, HostOutcome};
use super::super::scheduler::HostEnd;
use super::super::task::Verdict;
use super::super::{HostState, Status};
use super::resume::{Point, resume_at};
use super::{Rollout, millis};
use crate::journal::Record;
use crate::playbook::{BackupMode, FailurePolicy, Phase, Section};
use crate::upgrade_path::Hop;
use std::time::{Duration, Instant};

/// What a host does in one round.
#[derive(Debug, Clone, Default)]
pub(super) struct Work {
    /// The host's whole hop chain (empty without an upgrade path).
    pub hops: Vec<Hop>,
    /// The hops (1-based, inclusive) this round walks; `(0, 0)` without an upgrade path.
    pub first_hop: usize,
    pub last_hop: usize,
    /// Where an earlier run left the host: the point it last entered and the last finished.
    pub entered: Option<Point>,
    pub finished: Option<Point>,
    /// The round ends the host's rollout (its outcome is final after it).
    pub last: bool,
}

/// How a host's pipeline ended.
pub(super) struct PipelineEnd {
    pub outcome: HostOutcome,
    pub end: HostEnd,
    pub phase: Option<Phase>,
    pub duration: Duration,
    pub verdicts: Vec<Verdict>,
    /// The host changed something (it belongs to a cluster rollback).
    pub changed: bool,
    /// `on_failure: cluster`: the host failed and waits for the cluster rollback.
    pub cluster: bool,
    /// Why the host stopped at a hop boundary (`Paused`).
    pub paused: Option<String>,
}

/// One phase of a host's pipeline.
#[derive(Clone, Copy)]
pub(super) struct Step<'a> {
    pub phase: Phase,
    pub hop: Option<&'a Hop>,
    pub position: usize,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PhaseResult {
    Ok,
    Failed,
    Unreachable,
}

/// The steps of a round for a host, in order: per hop `stop, backup, upgrade, migrate,
/// start, verify`, the backup only before the host's first hop unless `backup: per_hop`;
/// phases `has` says are empty are left out. Pure, so resume points are stable.
pub(super) fn steps(
    has: impl Fn(Phase) -> bool,
    first_hop: usize,
    last_hop: usize,
    backup: BackupMode,
) -> Vec<Point> {
    let mut steps = Vec::new();
    let hops: Vec<Option<usize>> = if last_hop == 0 {
        vec![None]
    } else {
        (first_hop..=last_hop).map(Some).collect()
    };
    for hop in hops {
        let backs_up = hop.is_none_or(|h| h == 1 || backup == BackupMode::PerHop);
        for phase in [
            Phase::Stop,
            Phase::Backup,
            Phase::Upgrade,
            Phase::Migrate,
            Phase::Start,
            Phase::Verify,
        ] {
            if !has(phase) {
                continue;
            }
            match phase {
                // One backup for the whole chain belongs to no hop.
                Phase::Backup if backup == BackupMode::Once => {
                    if backs_up {
                        steps.push((phase, None));
                    }
                }
                Phase::Backup if !backs_up => {}
                _ => steps.push((phase, hop)),
            }
        }
    }
    steps
}

impl Rollout {
    pub(super) async fn pipeline(
        &self,
        mut host: HostState,
        position: usize,
        work: Work,
    ) -> (HostState, PipelineEnd) {
        let started = Instant::now();
        let mut run = Run {
            verdicts: Vec::new(),
            reached: None,
            // A host past its first hop (or resumed past its backup) has changed already.
            changed: work.first_hop > 1,
        };
        let rolling = self.rolling();
        let end = |outcome, end, run: Run, cluster, paused| PipelineEnd {
            outcome,
            end,
            phase: run.reached,
            duration: started.elapsed(),
            verdicts: run.verdicts,
            changed: run.changed,
            cluster,
            paused,
        };
        if work.entered.is_some_and(|(p, _)| p == Phase::Rollback) {
            // Interrupted while rolling back: finish the rollback.
            run.changed = true;
            let outcome = self.roll_back(&mut host, position, &mut run).await;
            let host_end = restored_end(outcome);
            return (host, end(outcome, host_end, run, false, None));
        }
        let steps = steps(
            |p| self.has(p),
            work.first_hop,
            work.last_hop,
            rolling.backup,
        );
        let skip = resume_at(&steps, work.entered, work.finished);
        if skip > 0 {
            run.changed |= steps[..skip].iter().any(|(p, _)| changes(*p));
        }
        let mut hop_started: Option<(usize, Instant)> = None;
        let mut last_hop_took: Option<Duration> = None;
        for (i, &(phase, hop_index)) in steps.iter().enumerate().skip(skip) {
            let hop = hop_index.and_then(|h| work.hops.get(h - 1));
            // Hops are checkpoints: the window is asked again before each one after the
            // first this run walks, and the hop's deadline starts.
            if hop_index != hop_started.map(|(h, _)| h)
                && let Some(h) = hop_index
            {
                if let Some((_, at)) = hop_started {
                    last_hop_took = Some(at.elapsed());
                }
                if hop_started.is_some()
                    && !self.check()
                    && let Some(why) = self.wait_at_hop(last_hop_took).await
                {
                    let host_end = HostEnd::Verified;
                    return (
                        host,
                        end(HostOutcome::Paused, host_end, run, false, Some(why)),
                    );
                }
                hop_started = Some((h, Instant::now()));
            }
            if self.check() && matches!(phase, Phase::Verify) {
                continue;
            }
            run.reached = Some(phase);
            if let Some(hop) = hop {
                let value = serde_json::to_value(hop).unwrap_or_default();
                host.facts.set("hop", value);
            }
            let deadline = hop_started
                .zip(rolling.hop_timeout)
                .map(|((_, at), limit)| limit.saturating_sub(at.elapsed()));
            let verify = (phase == Phase::Verify)
                .then_some(rolling.verify_timeout)
                .flatten();
            let timeout = match (verify, deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let step = Step {
                phase,
                hop,
                position,
                timeout,
            };
            if changes(phase) {
                run.changed = true;
            }
            let result = self.phase(&mut host, &step, &mut run.verdicts).await;
            if result == PhaseResult::Ok {
                continue;
            }
            if result == PhaseResult::Unreachable {
                return (
                    host,
                    end(HostOutcome::Unreachable, HostEnd::Broken, run, false, None),
                );
            }
            if self.check() {
                return (
                    host,
                    end(HostOutcome::Failed, HostEnd::Restored, run, false, None),
                );
            }
            if !run.changed {
                // Stop or backup failed on an unchanged host: bring the service back.
                let stopped = steps[..=i].iter().any(|(p, _)| *p == Phase::Stop);
                let outcome = if stopped && self.has(Phase::Start) {
                    let restarted = self.restore_service(&mut host, position, &mut run).await;
                    if restarted {
                        HostOutcome::Failed
                    } else {
                        HostOutcome::RollbackFailed
                    }
                } else {
                    HostOutcome::Failed
                };
                host.failed = true;
                let host_end = restored_end(outcome);
                return (host, end(outcome, host_end, run, false, None));
            }
            return match rolling.on_failure {
                FailurePolicy::Cluster => (
                    host,
                    end(HostOutcome::Failed, HostEnd::Broken, run, true, None),
                ),
                FailurePolicy::Hold => (
                    host,
                    end(HostOutcome::Held, HostEnd::Broken, run, false, None),
                ),
                FailurePolicy::Host if self.has(Phase::Rollback) => {
                    let outcome = self.roll_back(&mut host, position, &mut run).await;
                    let host_end = restored_end(outcome);
                    (host, end(outcome, host_end, run, false, None))
                }
                FailurePolicy::Host => (
                    host,
                    end(HostOutcome::Held, HostEnd::Broken, run, false, None),
                ),
            };
        }
        let outcome = if !work.last {
            // Verified at this round's hop; the host goes on in a later round.
            HostOutcome::Upgraded
        } else if self.check() {
            let would =
                !work.hops.is_empty() || run.verdicts.iter().any(|v| v.status == Status::Changed);
            if would {
                HostOutcome::WouldUpgrade
            } else {
                HostOutcome::UpToDate
            }
        } else if run.verdicts.iter().any(|v| v.status == Status::Changed) || skip > 0 {
            HostOutcome::Upgraded
        } else {
            // Every step ran and none changed anything: the host was already there.
            HostOutcome::UpToDate
        };
        (host, end(outcome, HostEnd::Verified, run, false, None))
    }

    /// At a hop boundary outside the window: waits for it with `--wait-for-window` (the
    /// host is in service meanwhile), else says why the host stops here.
    async fn wait_at_hop(&self, last_hop: Option<Duration>) -> Option<String> {
        let rolling = self.rolling();
        // Each sleep ends at an opening; a few rounds absorb a clock that lags the timer.
        for _ in 0..5 {
            let why = super::window::hop_gate(&self.shared, rolling, last_hop)?;
            let next = rolling
                .window
                .as_ref()
                .and_then(|w| w.next_open(self.shared.config.clock.now()));
            let Some(until) = next.filter(|_| self.shared.config.wait_for_window) else {
                return Some(why);
            };
            let wait = self.shared.config.clock.wait_until(until);
            self.shared.emit(Event::WindowWait {
                until: until.to_string(),
                seconds: wait.as_secs_f64(),
                why,
            });
            tokio::time::sleep(wait).await;
        }
        super::window::hop_gate(&self.shared, rolling, last_hop)
    }

    /// After a failed stop or backup: `start`, so the unchanged host is back in service.
    async fn restore_service(&self, host: &mut HostState, position: usize, run: &mut Run) -> bool {
        host.failed = false;
        let step = Step {
            phase: Phase::Start,
            hop: None,
            position,
            timeout: None,
        };
        let result = self.phase(host, &step, &mut run.verdicts).await;
        result == PhaseResult::Ok
    }

    /// `stop` (when the playbook has it), `rollback`, then `start`: the host back at the
    /// version its backup holds.
    async fn roll_back(&self, host: &mut HostState, position: usize, run: &mut Run) -> HostOutcome {
        run.reached = Some(Phase::Rollback);
        let outcome = self
            .roll_back_phases(host, position, &mut run.verdicts, true)
            .await;
        host.failed = true;
        outcome
    }

    /// The rollback phases on one host; `start` too unless the caller starts hosts later
    /// (a cluster rollback starts them after undoing the shared steps).
    pub(super) async fn roll_back_phases(
        &self,
        host: &mut HostState,
        position: usize,
        verdicts: &mut Vec<Verdict>,
        start: bool,
    ) -> HostOutcome {
        let mut phases = vec![Phase::Stop, Phase::Rollback];
        if start {
            phases.push(Phase::Start);
        }
        for phase in phases {
            if !self.has(phase) {
                continue;
            }
            // The rollback runs on a host that just failed: let it take tasks again.
            host.failed = false;
            let step = Step {
                phase,
                hop: None,
                position,
                timeout: None,
            };
            let result = self.phase(host, &step, verdicts).await;
            match (phase, result) {
                (_, PhaseResult::Unreachable) => return HostOutcome::Unreachable,
                // A failed stop does not stop the rollback: the service may be down already.
                (Phase::Stop, _) | (_, PhaseResult::Ok) => {}
                (_, PhaseResult::Failed) => return HostOutcome::RollbackFailed,
            }
        }
        HostOutcome::RolledBack
    }

    /// Runs a phase's tasks in order on one host, under the step's timeout if any, then the
    /// handlers its tasks notified.
    pub(super) async fn phase(
        &self,
        host: &mut HostState,
        step: &Step<'_>,
        verdicts: &mut Vec<Verdict>,
    ) -> PhaseResult {
        let Step {
            phase,
            hop,
            position,
            timeout,
        } = *step;
        let steps = self.shared.playbook.plays[self.play]
            .phases
            .as_ref()
            .map_or(&[][..], |p| p.steps(phase));
        self.shared.record(Record::PhaseStart {
            play: self.play,
            host: host.name.clone(),
            phase,
            hop: hop.map(|h| h.index),
            at: Some(crate::journal::now_rfc3339()),
        });
        self.shared.emit(Event::PhaseStart {
            host: host.name.clone(),
            phase,
            hop: hop.map(ToString::to_string),
            position,
            total: self.total,
        });
        let started = Instant::now();
        let facts_before = (phase == Phase::Backup).then(|| host.journaled_facts());
        let walk = self.walk(Section::Phase(phase), &[]);
        let tasks = async {
            walk.on_host(steps, host, verdicts, false).await;
            // Handlers notified in a phase run at its end, on this host.
            if !host.notified.is_empty()
                && host.takes_handlers(self.shared.forces_handlers(self.play))
            {
                self.walk(Section::Handlers, &[])
                    .flush_on_host(host, verdicts)
                    .await;
            }
            if host.unreachable {
                return (PhaseResult::Unreachable, None);
            }
            if host.failed {
                return (PhaseResult::Failed, None);
            }
            (PhaseResult::Ok, None)
        };
        let (result, message) = match timeout {
            None => tasks.await,
            Some(limit) => match tokio::time::timeout(limit, tasks).await {
                Ok(done) => done,
                Err(_) => (
                    PhaseResult::Failed,
                    Some(format!(
                        "{phase} did not pass within {}",
                        human_duration(limit)
                    )),
                ),
            },
        };
        if let Some(message) = &message {
            host.failed = true;
            self.shared.live.remove(&host.name);
            host.last_failure = Some((
                serde_json::json!({"name": format!("{phase} (timeout)")}),
                serde_json::json!({"msg": message}),
            ));
        }
        let (failed_task, message) = match result {
            PhaseResult::Ok => (None, None),
            _ => failure(host),
        };
        let backups = match facts_before {
            Some(before) if result == PhaseResult::Ok && !self.check() => {
                let saved = crate::journal::backups(&host.journaled_facts(), &before);
                checksummed(host, saved).await
            }
            _ => Vec::new(),
        };
        self.shared.record(Record::PhaseEnd {
            play: self.play,
            host: host.name.clone(),
            phase,
            hop: hop.map(|h| h.index),
            ok: result == PhaseResult::Ok,
            duration_ms: millis(started.elapsed()),
            facts: host.journaled_facts(),
            included: host.included(),
            secret: host.withheld(),
            at: Some(crate::journal::now_rfc3339()),
            failed_task: failed_task.clone(),
            message: message.clone(),
            backups,
        });
        self.shared.emit(Event::PhaseEnd {
            host: host.name.clone(),
            phase,
            ok: result == PhaseResult::Ok,
            duration_ms: millis(started.elapsed()),
            task: failed_task,
            message,
        });
        result
    }
}

/// The task that failed last on `host` (`name (file:line)`) and its message: the result's
/// `msg`, else its stderr, else its return code.
pub(super) fn failure(host: &HostState) -> (Option<String>, Option<String>) {
    let Some((task, result)) = &host.last_failure else {
        return (None, None);
    };
    let name = task["name"].as_str().unwrap_or_default();
    let task = match task["location"].as_str() {
        Some(at) => format!("{name} ({at})"),
        None => name.to_string(),
    };
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        serde_json::Value::Null | serde_json::Value::String(_) => None,
        other => Some(other.to_string()),
    };
    let message = text(&result["msg"])
        .or_else(|| text(&result["stderr"]))
        .or_else(|| result.get("rc").map(|rc| format!("exit status {rc}")));
    let message = message.map(|m| {
        let m = crate::sensitive::redact(&m).into_owned();
        match m.char_indices().nth(400) {
            Some((cut, _)) => format!("{}…", &m[..cut]),
            None => m,
        }
    });
    (Some(task), message)
}

/// Backups without a checksum from their module get one read on the host: SHA-256 and
/// size of a regular file up to [`CHECKSUM_LIMIT`] (larger: the size only; a directory or
/// a file that cannot be read: neither). One command per backup, for the run report.
async fn checksummed(
    host: &HostState,
    mut saved: Vec<crate::journal::Backup>,
) -> Vec<crate::journal::Backup> {
    let Some(conn) = &host.conn else {
        return saved;
    };
    for backup in saved.iter_mut().take(32) {
        let Ok(path) = shlex::try_quote(&backup.path) else {
            continue;
        };
        let script = format!(
            "[ -f {path} ] && [ -r {path} ] || exit 0; size=$(wc -c < {path}); echo \"$size\"; \
             [ \"$size\" -le {CHECKSUM_LIMIT} ] && sha256sum < {path} | cut -d' ' -f1"
        );
        let Ok(out) = conn.sh(&script, None).await else {
            continue;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines().map(str::trim);
        backup.size = lines.next().and_then(|s| s.parse().ok());
        if backup.checksum.is_none() {
            backup.checksum = lines
                .next()
                .filter(|s| s.len() == 64)
                .map(|s| format!("sha256:{s}"));
        }
    }
    saved
}

/// The largest backup file drover hashes for the report (256 MiB): hashing a multi-GB
/// backup would hold the host in its pipeline for minutes.
const CHECKSUM_LIMIT: u64 = 256 * 1024 * 1024;

/// What a host's pipeline gathered so far.
struct Run {
    verdicts: Vec<Verdict>,
    reached: Option<Phase>,
    changed: bool,
}

/// Phases that change the host (a failure after one of them needs a rollback).
fn changes(phase: Phase) -> bool {
    matches!(
        phase,
        Phase::Upgrade | Phase::Migrate | Phase::Start | Phase::Verify
    )
}

/// Where a host that ended in a rollback (or a restored service) stands for scheduling.
pub(super) fn restored_end(outcome: HostOutcome) -> HostEnd {
    match outcome {
        HostOutcome::RolledBack | HostOutcome::Failed => HostEnd::Restored,
        HostOutcome::Upgraded | HostOutcome::UpToDate | HostOutcome::WouldUpgrade => {
            HostEnd::Verified
        }
        HostOutcome::Paused => HostEnd::Verified,
        HostOutcome::RollbackFailed
        | HostOutcome::Held
        | HostOutcome::Unreachable
        | HostOutcome::Untouched => HostEnd::Broken,
    }
}

fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_per_hop_with_one_backup_or_one_per_hop() {
        let all = |_: Phase| true;
        let once = steps(all, 1, 2, BackupMode::Once);
        let names: Vec<String> = once
            .iter()
            .map(|(p, h)| format!("{p}{}", h.map_or(String::new(), |h| h.to_string())))
            .collect();
        assert_eq!(
            names,
            [
                "stop1", "backup", "upgrade1", "migrate1", "start1", "verify1", "stop2",
                "upgrade2", "migrate2", "start2", "verify2"
            ]
        );
        let per_hop = steps(all, 2, 3, BackupMode::PerHop);
        assert_eq!(per_hop[1], (Phase::Backup, Some(2)));
        assert!(per_hop.contains(&(Phase::Backup, Some(3))));
        // A round that starts at hop 2 with one backup does not back up again.
        let later = steps(all, 2, 2, BackupMode::Once);
        assert!(!later.iter().any(|(p, _)| *p == Phase::Backup));
    }

    #[test]
    fn phases_the_playbook_lacks_are_left_out() {
        let some = |p: Phase| matches!(p, Phase::Upgrade | Phase::Verify);
        assert_eq!(
            steps(some, 0, 0, BackupMode::Once),
            [(Phase::Upgrade, None), (Phase::Verify, None)]
        );
    }
}

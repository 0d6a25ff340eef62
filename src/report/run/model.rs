//! The run report's content, read from a journal: the inputs, each host's story (phases
//! with their times, hop chain, versions, backups, failure, rollback), the rollout's limits
//! and how close the run came to them, and the outcome. Renderers (text, Markdown, HTML,
//! JSON) take this and nothing else; a run still in progress reads as far as it got.

use crate::engine::HostOutcome;
use crate::journal::{Record, RunLog};
use crate::playbook::Phase;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

/// The version of the JSON report's shape (`drover runs show ID --format json`).
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub schema: u32,
    pub run_id: String,
    pub started: String,
    /// When the run (or its last resume) ended; `None` while it runs or after a crash.
    pub ended: Option<String>,
    pub exit_code: Option<i32>,
    /// In words: `ok`, `host failed`, `halted`, `unfinished (resumable)`, …
    pub outcome: String,
    pub inputs: Inputs,
    pub rollout: Option<Rollout>,
    pub hosts: Vec<HostStory>,
    /// The maintenance windows' opening and closing instants during the run.
    pub window_edges: Vec<WindowEdge>,
    /// Resumes of the run (RFC 3339 instants).
    pub resumes: Vec<String>,
    pub journal: String,
    /// The journal's last line was torn (a crash mid-write) and was ignored.
    pub torn_tail: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inputs {
    pub playbook: String,
    pub inventory: Vec<String>,
    pub limit: Option<String>,
    /// `--window` or the rollout's own `window:`.
    pub window: Option<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub check: bool,
    pub forks: usize,
    /// As journaled: secret-looking values are `<redacted>`.
    pub extra_vars: Map<String, Value>,
    pub user: Option<String>,
    pub control_host: Option<String>,
    pub cwd: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rollout {
    pub max_unavailable: usize,
    pub max_failed: usize,
    /// The most hosts ever between their first change-phase start and their end at once.
    pub max_in_flight: usize,
    /// Hosts that failed (rolled back, held, unreachable, …).
    pub failures: usize,
    pub batches: Vec<Batch>,
    pub halted: Option<Halt>,
    /// Hosts the run never started.
    pub untouched: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    /// 1-based, as planned.
    pub index: usize,
    pub hosts: Vec<String>,
    /// When it started, if it did.
    pub started: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Halt {
    pub at: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WindowEdge {
    pub at: String,
    pub opens: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostStory {
    pub host: String,
    /// 1-based position in the rollout's order.
    pub order: usize,
    /// 1-based batch, when it was planned into one.
    pub batch: Option<usize>,
    pub outcome: Option<HostOutcome>,
    pub ended: Option<String>,
    pub version_before: Option<String>,
    pub version_after: Option<String>,
    /// The versions it walks through after `version_before`.
    pub hops: Vec<String>,
    pub phases: Vec<PhaseSpan>,
    pub backups: Vec<Backup>,
    pub failure: Option<Failure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseSpan {
    pub phase: Phase,
    /// `0.27.1 → 0.28.0` for a phase of a hop.
    pub hop: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub duration_ms: Option<u64>,
    /// `None` while it runs (or when it was cut short).
    pub ok: Option<bool>,
    /// The run stopped (a crash, a kill) while the phase ran; a resume ran it again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

pub use crate::journal::Backup;

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub phase: Phase,
    pub task: Option<String>,
    pub message: Option<String>,
}

impl HostStory {
    /// Whether the rollback phase ran on this host.
    pub fn rolled_back(&self) -> bool {
        self.phases.iter().any(|p| p.phase == Phase::Rollback)
    }
}

impl RunReport {
    pub fn from_log(log: &RunLog) -> RunReport {
        let inputs = &log.inputs;
        let mut hosts: Vec<HostStory> = Vec::new();
        let mut rollout: Option<Rollout> = None;
        let mut paths: Vec<crate::engine::events::HostPath> = Vec::new();
        let mut window = inputs.window.clone();
        let mut resumes = Vec::new();
        let mut ended = None;
        // Facts as of each host's previous phase end: what a backup phase added is its backup.
        let mut facts_before: std::collections::HashMap<String, Map<String, Value>> =
            Default::default();
        for record in &log.records {
            match record {
                Record::Resume { at } => {
                    resumes.push(at.clone());
                    ended = None;
                    // Phases the stopped run left open end here, cut short.
                    for span in hosts
                        .iter_mut()
                        .flat_map(|h| h.phases.iter_mut())
                        .filter(|p| p.ok.is_none() && !p.interrupted)
                    {
                        span.interrupted = true;
                        span.end.get_or_insert_with(|| at.clone());
                    }
                }
                Record::RunEnd { at, .. } => ended = Some(at.clone()),
                Record::Rollout {
                    hosts: order,
                    batches,
                    max_unavailable,
                    max_failed,
                    window: own,
                    ..
                } => {
                    if window.is_none() {
                        window.clone_from(own);
                    }
                    for name in order {
                        story(&mut hosts, name);
                    }
                    // A resumed rollout announces the hosts left: keep the first plan.
                    rollout.get_or_insert(Rollout {
                        max_unavailable: *max_unavailable,
                        max_failed: *max_failed,
                        max_in_flight: 0,
                        failures: 0,
                        batches: batches
                            .iter()
                            .enumerate()
                            .map(|(i, hosts)| Batch {
                                index: i + 1,
                                hosts: hosts.clone(),
                                started: None,
                            })
                            .collect(),
                        halted: None,
                        untouched: Vec::new(),
                    });
                }
                Record::Precheck {
                    start,
                    end,
                    hosts: on,
                    failed,
                } => {
                    let took = match (instant(start), instant(end)) {
                        (Some(a), Some(b)) => {
                            (b.as_millisecond() - a.as_millisecond()).max(0) as u64
                        }
                        _ => 0,
                    };
                    for name in on {
                        let failure = failed.iter().find(|f| &f.host == name);
                        let story = story(&mut hosts, name);
                        story.phases.push(PhaseSpan {
                            phase: Phase::Precheck,
                            hop: None,
                            start: Some(start.clone()),
                            end: Some(end.clone()),
                            duration_ms: Some(took),
                            ok: Some(failure.is_none()),
                            interrupted: false,
                        });
                        if let Some(f) = failure {
                            story.failure = Some(Failure {
                                phase: Phase::Precheck,
                                task: f.task.clone(),
                                message: f.message.clone(),
                            });
                        }
                    }
                }
                Record::UpgradePaths { hosts: found } => {
                    for path in found {
                        paths.retain(|p| p.host != path.host);
                        paths.push(path.clone());
                    }
                }
                Record::Batch { at, hosts: on, .. } => {
                    if let Some(r) = &mut rollout
                        && let Some(batch) = r
                            .batches
                            .iter_mut()
                            .find(|b| b.started.is_none() && on.iter().any(|h| b.hosts.contains(h)))
                    {
                        batch.started = Some(at.clone());
                    }
                }
                Record::Halted {
                    at,
                    reason,
                    untouched,
                } => {
                    if let Some(r) = &mut rollout {
                        r.halted = Some(Halt {
                            at: at.clone(),
                            reason: reason.clone(),
                        });
                        r.untouched.clone_from(untouched);
                    } else {
                        rollout = Some(Rollout {
                            max_unavailable: 0,
                            max_failed: 0,
                            max_in_flight: 0,
                            failures: 0,
                            batches: Vec::new(),
                            halted: Some(Halt {
                                at: at.clone(),
                                reason: reason.clone(),
                            }),
                            untouched: untouched.clone(),
                        });
                    }
                }
                Record::PhaseStart {
                    host,
                    phase,
                    hop,
                    at,
                    ..
                } => {
                    let hop = hop.map(|h| hop_label(&paths, host, h));
                    story(&mut hosts, host).phases.push(PhaseSpan {
                        phase: *phase,
                        hop,
                        start: at.clone(),
                        end: None,
                        duration_ms: None,
                        ok: None,
                        interrupted: false,
                    });
                }
                Record::PhaseEnd {
                    host,
                    phase,
                    ok,
                    duration_ms,
                    facts,
                    at,
                    failed_task,
                    message,
                    backups: recorded,
                    ..
                } => {
                    let before = facts_before.insert(host.clone(), facts.clone());
                    let story = story(&mut hosts, host);
                    match story
                        .phases
                        .iter_mut()
                        .rev()
                        .find(|p| p.phase == *phase && p.ok.is_none() && !p.interrupted)
                    {
                        Some(span) => {
                            span.end.clone_from(at);
                            span.duration_ms = Some(*duration_ms);
                            span.ok = Some(*ok);
                        }
                        None => story.phases.push(PhaseSpan {
                            phase: *phase,
                            hop: None,
                            start: None,
                            end: at.clone(),
                            duration_ms: Some(*duration_ms),
                            ok: Some(*ok),
                            interrupted: false,
                        }),
                    }
                    if *phase == Phase::Backup && *ok {
                        // Journals before checksums were recorded: read the facts.
                        if recorded.is_empty() {
                            story.backups.extend(crate::journal::backups(
                                facts,
                                &before.unwrap_or_default(),
                            ));
                        } else {
                            story.backups.extend(recorded.iter().cloned());
                        }
                    }
                    if !*ok && story.failure.is_none() {
                        story.failure = Some(Failure {
                            phase: *phase,
                            task: failed_task.clone(),
                            message: message.clone(),
                        });
                    }
                }
                Record::HostDone {
                    host, outcome, at, ..
                } => {
                    let story = story(&mut hosts, host);
                    story.outcome = Some(*outcome);
                    story.ended.clone_from(at);
                }
                _ => {}
            }
        }
        for (i, story) in hosts.iter_mut().enumerate() {
            story.order = i + 1;
            story.batch = rollout.as_ref().and_then(|r| {
                r.batches
                    .iter()
                    .find(|b| b.hosts.contains(&story.host))
                    .map(|b| b.index)
            });
            if let Some(path) = paths.iter().find(|p| p.host == story.host) {
                story.version_before = Some(path.current.clone());
                story.hops.clone_from(&path.hops);
                story.version_after = version_after(story, path);
            }
        }
        if let Some(r) = &mut rollout {
            r.max_in_flight = max_in_flight(&hosts);
            r.failures = hosts
                .iter()
                .filter(|h| h.outcome.is_some_and(failed))
                .count();
            if r.untouched.is_empty() {
                r.untouched = hosts
                    .iter()
                    .filter(|h| h.phases.is_empty() && h.outcome.is_none())
                    .map(|h| h.host.clone())
                    .collect();
            }
        }
        let exit_code = log.ended();
        let window_edges = window
            .as_deref()
            .map(|spec| window_edges(spec, &inputs.started, ended.as_deref(), &hosts))
            .unwrap_or_default();
        RunReport {
            schema: SCHEMA,
            run_id: inputs.run_id.clone(),
            started: inputs.started.clone(),
            ended: ended.filter(|_| exit_code.is_some()),
            exit_code,
            outcome: outcome_words(exit_code),
            inputs: Inputs {
                playbook: inputs.playbook.display().to_string(),
                inventory: if inputs.inventory_sources.is_empty() {
                    vec![inputs.inventory.display().to_string()]
                } else {
                    inputs.inventory_sources.clone()
                },
                limit: inputs.limit.clone(),
                window,
                tags: inputs.tags.clone(),
                skip_tags: inputs.skip_tags.clone(),
                check: inputs.check,
                forks: inputs.forks,
                extra_vars: inputs.extra_vars.clone(),
                user: inputs.user.clone(),
                control_host: inputs.control_host.clone(),
                cwd: inputs.cwd.as_ref().map(|p| p.display().to_string()),
            },
            rollout,
            hosts,
            window_edges,
            resumes,
            journal: log.path.display().to_string(),
            torn_tail: log.torn_tail,
        }
    }

    /// The earliest and latest instants the report knows, for a time axis.
    pub fn span(&self) -> Option<(Timestamp, Timestamp)> {
        let mut instants: Vec<Timestamp> = std::iter::once(&self.started)
            .chain(self.ended.iter())
            .chain(self.hosts.iter().flat_map(|h| {
                h.phases
                    .iter()
                    .flat_map(|p| p.start.iter().chain(p.end.iter()))
                    .chain(h.ended.iter())
            }))
            .filter_map(|s| instant(s))
            .collect();
        instants.sort();
        Some((*instants.first()?, *instants.last()?))
    }
}

/// `checksum sha256:…, 16384 bytes`, as far as known.
pub fn checksum_and_size(backup: &Backup) -> String {
    let mut parts = Vec::new();
    if let Some(sum) = &backup.checksum {
        parts.push(format!("checksum {sum}"));
    }
    if let Some(size) = backup.size {
        parts.push(format!("{size} bytes"));
    }
    parts.join(", ")
}

/// An RFC 3339 instant read back.
pub fn instant(text: &str) -> Option<Timestamp> {
    text.parse().ok()
}

/// Whether an outcome counts against `max_failed`.
pub fn failed(outcome: HostOutcome) -> bool {
    !matches!(
        outcome,
        HostOutcome::Upgraded
            | HostOutcome::UpToDate
            | HostOutcome::WouldUpgrade
            | HostOutcome::Paused
            | HostOutcome::Untouched
    )
}

/// A run's exit code in words.
pub fn outcome_words(code: Option<i32>) -> String {
    match code {
        None => "unfinished (resumable)".to_string(),
        Some(0) => "ok".to_string(),
        Some(2) => "host failed".to_string(),
        Some(3) => "host unreachable".to_string(),
        Some(4) => "invalid playbook".to_string(),
        Some(6) => "halted".to_string(),
        Some(99) => "interrupted (resumable)".to_string(),
        Some(7) => "window closed (resumable)".to_string(),
        Some(8) => "not confirmed (resumable)".to_string(),
        Some(code) => format!("exit {code}"),
    }
}

fn story<'a>(hosts: &'a mut Vec<HostStory>, name: &str) -> &'a mut HostStory {
    let i = match hosts.iter().position(|h| h.host == name) {
        Some(i) => i,
        None => {
            hosts.push(HostStory {
                host: name.to_string(),
                order: 0,
                batch: None,
                outcome: None,
                ended: None,
                version_before: None,
                version_after: None,
                hops: Vec::new(),
                phases: Vec::new(),
                backups: Vec::new(),
                failure: None,
            });
            hosts.len() - 1
        }
    };
    &mut hosts[i]
}

/// `0.27.1 → 0.28.0` for hop `index` (1-based) of `host`'s chain.
fn hop_label(paths: &[crate::engine::events::HostPath], host: &str, index: usize) -> String {
    let Some(path) = paths.iter().find(|p| p.host == host) else {
        return format!("hop {index}");
    };
    let from = match index {
        0 | 1 => Some(&path.current),
        i => path.hops.get(i - 2),
    };
    match (from, path.hops.get(index.wrapping_sub(1))) {
        (Some(from), Some(to)) => format!("{from} → {to}"),
        _ => format!("hop {index}"),
    }
}

/// The version a host ended at: the target when upgraded, where it started when rolled back
/// or failed early, the last hop it verified when held or paused between hops.
fn version_after(story: &HostStory, path: &crate::engine::events::HostPath) -> Option<String> {
    let target = path.hops.last().unwrap_or(&path.current);
    match story.outcome? {
        HostOutcome::Upgraded | HostOutcome::UpToDate => Some(target.clone()),
        HostOutcome::RolledBack | HostOutcome::Failed | HostOutcome::Untouched => {
            Some(path.current.clone())
        }
        HostOutcome::WouldUpgrade => None,
        HostOutcome::Held
        | HostOutcome::Paused
        | HostOutcome::RollbackFailed
        | HostOutcome::Unreachable => {
            let verified = story
                .phases
                .iter()
                .rev()
                .filter(|p| p.phase == Phase::Verify && p.ok == Some(true))
                .find_map(|p| p.hop.as_deref()?.rsplit(" → ").next());
            verified.map(str::to_string).or(Some(path.current.clone()))
        }
    }
}

/// The most hosts between their first change-phase start and their end at any instant.
fn max_in_flight(hosts: &[HostStory]) -> usize {
    let mut edges: Vec<(Timestamp, i32)> = Vec::new();
    for host in hosts {
        let start = host
            .phases
            .iter()
            .filter(|p| p.phase != Phase::Precheck)
            .find_map(|p| p.start.as_deref().and_then(instant));
        let end = host
            .ended
            .as_deref()
            .or(host.phases.iter().rev().find_map(|p| p.end.as_deref()))
            .and_then(instant);
        if let (Some(start), Some(end)) = (start, end) {
            edges.push((start, 1));
            edges.push((end, -1));
        }
    }
    // Ends before starts at one instant: a host that hands over is not overlapping.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in edges {
        now += delta;
        most = most.max(now);
    }
    most as usize
}

/// Where the windows opened and closed between the run's start and end.
fn window_edges(
    spec: &str,
    started: &str,
    ended: Option<&str>,
    hosts: &[HostStory],
) -> Vec<WindowEdge> {
    let Ok(windows) = crate::window::Windows::parse(spec) else {
        return Vec::new();
    };
    let Some(mut at) = instant(started) else {
        return Vec::new();
    };
    let last = ended
        .and_then(instant)
        .into_iter()
        .chain(
            hosts
                .iter()
                .filter_map(|h| h.ended.as_deref().and_then(instant)),
        )
        .max()
        .unwrap_or(at);
    let stamp = |t: Timestamp| t.to_string();
    let mut edges = Vec::new();
    for _ in 0..32 {
        let next = if windows.is_open(at) {
            windows.closes_at(at).map(|t| (t, false))
        } else {
            windows.next_open(at).map(|t| (t, true))
        };
        match next {
            Some((t, opens)) if t <= last && t > at => {
                edges.push(WindowEdge {
                    at: stamp(t),
                    opens,
                });
                at = t;
            }
            _ => break,
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal as drover wrote it before the run report existed: no times, no rollout
    /// record, no failure message.
    const OLD: &str = r#"{"record":"run_start","run_id":"20261120T000000Z-0001","started":"2026-11-20T00:00:00Z","playbook":"p.yml","playbook_sha256":"a","inventory":"i.yml","inventory_sha256":"b","limit":null,"extra_vars":{"db_password":"<redacted>"},"check":false,"forks":5}
{"record":"phase_start","play":0,"host":"n1","phase":"backup"}
{"record":"phase_end","play":0,"host":"n1","phase":"backup","ok":true,"duration_ms":120,"facts":{"saved":{"dest":"/b/n1.bak","checksum":"abc"}}}
{"record":"phase_start","play":0,"host":"n1","phase":"upgrade","hop":1}
{"record":"phase_end","play":0,"host":"n1","phase":"upgrade","hop":1,"ok":false,"duration_ms":300,"facts":{}}
{"record":"phase_start","play":0,"host":"n1","phase":"rollback"}
{"record":"phase_end","play":0,"host":"n1","phase":"rollback","ok":true,"duration_ms":50,"facts":{}}
{"record":"host_done","play":0,"host":"n1","outcome":"ROLLED_BACK"}
{"record":"run_end","exit_code":2,"at":"2026-11-20T00:00:05Z"}
"#;

    #[test]
    fn an_old_journal_still_reads_as_a_report() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.jsonl");
        std::fs::write(&path, OLD).unwrap();
        let log = RunLog::read(&path).unwrap();
        let report = RunReport::from_log(&log);
        assert_eq!(report.outcome, "host failed");
        assert!(report.rollout.is_none());
        let n1 = &report.hosts[0];
        assert_eq!(n1.outcome, Some(HostOutcome::RolledBack));
        assert!(n1.rolled_back());
        let phases: Vec<_> = n1.phases.iter().map(|p| (p.phase, p.ok)).collect();
        assert_eq!(
            phases,
            [
                (Phase::Backup, Some(true)),
                (Phase::Upgrade, Some(false)),
                (Phase::Rollback, Some(true))
            ]
        );
        assert_eq!(n1.phases[1].hop.as_deref(), Some("hop 1"));
        assert_eq!(n1.backups[0].path, "/b/n1.bak");
        assert_eq!(n1.backups[0].checksum.as_deref(), Some("abc"));
        assert_eq!(n1.failure.as_ref().map(|f| f.phase), Some(Phase::Upgrade));
        // No phase has a time: the picture is left out, the rest renders.
        assert!(
            super::super::svg::timeline(&report).is_some_and(|s| !s.contains("class=\"phase "))
        );
        let html = super::super::render(&report, super::super::ReportFormat::Html, None);
        assert!(html.contains("ROLLED_BACK"));
    }

    #[test]
    fn the_most_hosts_in_flight_counts_overlaps_not_handovers() {
        let span = |phase, start: &str, end: &str| PhaseSpan {
            phase,
            hop: None,
            start: Some(start.into()),
            end: Some(end.into()),
            duration_ms: None,
            ok: Some(true),
            interrupted: false,
        };
        let host = |name: &str, start: &str, end: &str| HostStory {
            host: name.into(),
            order: 0,
            batch: None,
            outcome: Some(HostOutcome::Upgraded),
            ended: Some(end.into()),
            version_before: None,
            version_after: None,
            hops: Vec::new(),
            phases: vec![
                span(
                    Phase::Precheck,
                    "2026-01-01T00:00:00Z",
                    "2026-01-01T00:00:01Z",
                ),
                span(Phase::Upgrade, start, end),
            ],
            backups: Vec::new(),
            failure: None,
        };
        let t = |s: u32| format!("2026-01-01T00:00:{s:02}Z");
        // a: 2–5, b: 5–8 (hands over at 5), c: 6–9 overlaps b.
        let hosts = [
            host("a", &t(2), &t(5)),
            host("b", &t(5), &t(8)),
            host("c", &t(6), &t(9)),
        ];
        assert_eq!(max_in_flight(&hosts), 2);
        assert_eq!(max_in_flight(&hosts[..2]), 1);
    }

    #[test]
    fn window_edges_are_the_openings_and_closings_inside_the_run() {
        let mut host = HostStory {
            host: "a".into(),
            order: 1,
            batch: None,
            outcome: Some(HostOutcome::Upgraded),
            ended: Some("2026-12-03T11:30:00Z".into()),
            version_before: None,
            version_after: None,
            hops: Vec::new(),
            phases: Vec::new(),
            backups: Vec::new(),
            failure: None,
        };
        // 2026-12-03 is a Thursday.
        let edges = window_edges(
            "Thu 10:00-11:00 UTC",
            "2026-12-03T09:30:00Z",
            None,
            std::slice::from_ref(&host),
        );
        let shown: Vec<(String, bool)> = edges.iter().map(|e| (e.at.clone(), e.opens)).collect();
        assert_eq!(
            shown,
            [
                ("2026-12-03T10:00:00Z".to_string(), true),
                ("2026-12-03T11:00:00Z".to_string(), false)
            ]
        );
        host.ended = Some("2026-12-03T10:30:00Z".into());
        let edges = window_edges("Thu 10:00-11:00 UTC", "2026-12-03T09:30:00Z", None, &[host]);
        assert_eq!(edges.len(), 1, "only the opening falls inside the run");
    }
}

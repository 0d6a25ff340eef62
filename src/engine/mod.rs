//! The engine: executes a [`Plan`] over SSH and emits [`Event`]s. It owns run state (host
//! connections, registered results, who failed) and scheduling; it prints nothing.
//!
//! Strategy is Ansible's `linear`: within a batch, each task runs on every live host
//! (concurrently, at most `forks` at once) before the next task starts. A failed or
//! unreachable host stops taking tasks for the rest of the run while the others go on; when
//! every host of a batch has failed, the play stops. One connection per host is opened on
//! first use and kept for the whole run, and one per `delegate_to` host (see [`delegate`]).

mod delegate;
pub mod events;
mod exec;
mod hostvars;
mod include;
mod known;
mod linear;
mod loops;
mod reconnect;
mod rollout;
pub use rollout::lock::{Holder as LockHolder, LockOwner, Released};
pub mod scheduler;
mod task;
pub mod unlock;
mod vars;
mod walk;

pub use events::{Event, HostOutcome, HostStats, Status};
pub use known::{Known, pipeline};

use crate::inventory::{Inventory, Vars};
use crate::journal::{Journal, Progress, Record};
use crate::plan::{Plan, PlayPlan};
use crate::playbook::Playbook;
use crate::template::{Templates, from_json};
use crate::transport::{Connection, Connector, TransportConfig};
use crate::window::Clock;
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, watch};
use vars::PlayScope;

/// Everything a run needs besides the playbook, inventory and plan; resolved from the command
/// line by the binary.
#[derive(Clone)]
pub struct RunConfig {
    pub forks: usize,
    pub check: bool,
    pub diff: bool,
    pub extra_vars: Vars,
    pub transport: TransportConfig,
    /// Asked after a rollout's canary batch when it has `confirm_canary`; `None` (`--yes`)
    /// continues without asking.
    pub confirm: Option<Confirm>,
    /// Where every step is recorded before it proceeds (none in check mode).
    pub journal: Option<Arc<Journal>>,
    /// What an interrupted run already did, when resuming it.
    pub resume: Option<Progress>,
    /// "Now" for maintenance windows (the system clock, or a simulated one).
    pub clock: Arc<dyn Clock>,
    /// Outside a window, sleep until the next one opens instead of stopping.
    pub wait_for_window: bool,
    /// `--tags` / `--skip-tags`.
    pub tags: crate::playbook::TagSelection,
    /// The run that takes the hosts' locks before a rollout changes them (none in check
    /// mode).
    pub lock: Option<rollout::lock::LockOwner>,
    /// `--start-at-task NAME`: tasks are skipped until the first whose name matches
    /// (exactly, as a glob, or as `role : name`), as ansible-playbook does.
    pub start_at_task: Option<String>,
    /// `--force-handlers`: notified handlers run on hosts that failed since, and before an
    /// aborted play stops (the play keyword `force_handlers` does it for one play).
    pub force_handlers: bool,
    /// `--step`: each task of an ordinary play (and each handler) runs only if the operator
    /// says so.
    pub step: Option<StepAsk>,
}

pub type EventSink = mpsc::UnboundedSender<Event>;

/// How many times the user pressed Ctrl-C: 1 drains (finish the current task, start nothing
/// new), 2 is handled by the binary (abort now).
pub type Interrupts = watch::Receiver<u32>;

/// How the run ended, for the exit code.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub stats: IndexMap<String, HostStats>,
    pub interrupted: bool,
    /// A rollout halted (failure budget, no capacity, canary not confirmed).
    pub halted: bool,
    /// A rollout stopped because its maintenance window closed (or would before the next
    /// batch could finish): resumable.
    pub window_closed: bool,
    /// The operator said no at a rollout's confirmation point (canary, stage): resumable.
    pub declined: bool,
}

/// A rollout halted early and left hosts untouched.
pub const EXIT_HALTED: i32 = 6;
/// A rollout stopped at the end of its maintenance window; `drover resume` continues it.
pub const EXIT_WINDOW_CLOSED: i32 = 7;
/// The operator declined to continue at a confirmation point; `drover resume` continues it.
pub const EXIT_DECLINED: i32 = 8;
/// Interrupted (Ctrl-C, SIGTERM); `drover resume` continues it.
pub const EXIT_INTERRUPTED: i32 = 99;

impl RunSummary {
    /// Ansible's exit codes: 2 a host failed, 3 a host unreachable, 99 interrupted; and 6
    /// when a rollout halted early, 7 when its window closed.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            EXIT_INTERRUPTED
        } else if self.window_closed {
            EXIT_WINDOW_CLOSED
        } else if self.declined {
            EXIT_DECLINED
        } else if self.halted {
            EXIT_HALTED
        } else if self.stats.values().any(|s| s.failed > 0) {
            2
        } else if self.stats.values().any(|s| s.unreachable > 0) {
            3
        } else {
            0
        }
    }
}

/// Per-host state carried across tasks and plays.
struct HostState {
    name: String,
    conn: Option<Connection>,
    /// Registered results and `set_fact`s (highest precedence below extra vars), and the
    /// variables from `include_vars` just below them; other hosts read them as `hostvars`.
    facts: hostvars::Facts,
    /// The `vars:` and loop variables of the `include_tasks` the host is inside, outermost
    /// first (Ansible's include params: above role params, below extra vars).
    include_params: Vec<vars::IncludeParams>,
    failed: bool,
    unreachable: bool,
    /// Handlers notified and not run yet, as indexes into the play's `handlers`.
    notified: Vec<usize>,
    /// The last task that failed here and its result, for a rescue's
    /// `ansible_failed_task` / `ansible_failed_result`.
    last_failure: Option<(Value, Value)>,
    /// Names registered by `no_log` tasks: kept in `facts`, never journaled.
    secret: Vec<String>,
}

impl HostState {
    /// `facts` as the journal may record them: without [`HostState::withheld`] ones.
    fn journaled_facts(&self) -> Map<String, Value> {
        let withheld = self.withheld();
        let mut facts = self.facts.read().facts.clone();
        facts.retain(|name, _| !withheld.contains(name));
        facts
    }

    /// The facts whose values are never journaled, only their names: `no_log` results, and
    /// any fact holding a secret (a vault value, or one computed from it) — a resume derives
    /// them again rather than getting a masked value back.
    fn withheld(&self) -> Vec<String> {
        let mut names = self.secret.clone();
        for (name, value) in &self.facts.read().facts {
            if !names.contains(name) && crate::sensitive::contains_secret(&value.to_string()) {
                names.push(name.clone());
            }
        }
        names
    }

    /// The `include_vars` variables, as the journal records them.
    fn included(&self) -> Map<String, Value> {
        self.facts.read().included.clone()
    }

    fn live(&self) -> bool {
        !self.failed && !self.unreachable
    }

    /// Whether the handlers this host was notified of run on it: while it stands, or also
    /// after it failed when handlers are forced (never when it cannot be reached).
    fn takes_handlers(&self, forced: bool) -> bool {
        self.live() || (forced && !self.unreachable)
    }
}

/// Shared, read-only for the whole run.
struct Shared {
    playbook: Arc<Playbook>,
    inventory: Arc<Inventory>,
    templates: Templates,
    /// Local files sent to hosts (`copy`), each read once for the run.
    sources: crate::modules::sources::Sources,
    connector: Connector,
    config: RunConfig,
    events: EventSink,
    forks: Semaphore,
    journal_failed: std::sync::atomic::AtomicBool,
    /// `--start-at-task` found its task (or was not given).
    started: std::sync::atomic::AtomicBool,
    /// `--step` still asks (until it is answered `c`, for the rest of the play).
    stepping: std::sync::atomic::AtomicBool,
    /// Connections to the hosts tasks delegate to, shared by every task of the run.
    delegates: delegate::Delegates,
    /// Files read for `include_tasks` at run time, by include and path: each read once.
    includes: include::Cache,
    /// What hosts publish for `hostvars` and the standing-host lists.
    live: Arc<hostvars::Live>,
}

/// Whether `task` is the one `--start-at-task WANTED` names: its name, or `role : name`,
/// equal to WANTED or matching it as a glob (ansible-playbook's fnmatch).
pub fn starts_at(task: &crate::playbook::Task, wanted: &str) -> bool {
    let name = task.name.as_deref().unwrap_or_default();
    let role_name = task
        .role
        .as_ref()
        .map(|r| format!("{} : {name}", r.name))
        .unwrap_or_default();
    let glob = glob::Pattern::new(wanted).ok();
    [name, role_name.as_str()]
        .iter()
        .any(|n| !n.is_empty() && (*n == wanted || glob.as_ref().is_some_and(|g| g.matches(n))))
}

/// Asks the operator whether to continue after the canary batch; `None` answers yes.
pub type Confirm = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// `--step`: asked before each task and handler with its banner (`TASK: name`).
pub type StepAsk = Arc<dyn Fn(&str) -> StepAnswer + Send + Sync>;

/// An answer to `--step`'s `(N)o/(y)es/(c)ontinue`, as ansible-playbook takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAnswer {
    /// Run this task.
    Yes,
    /// Skip it (not shown, as in Ansible).
    No,
    /// Run it and every task after it without asking again.
    Continue,
}

impl Shared {
    /// `--start-at-task`: whether `task` is still before the one to start at (skipped). The
    /// first match starts the run for good; handlers are never skipped.
    fn before_start(&self, task: &crate::playbook::Task) -> bool {
        use std::sync::atomic::Ordering;
        let Some(wanted) = &self.config.start_at_task else {
            return false;
        };
        if self.started.load(Ordering::Acquire) {
            return false;
        }
        let hit = starts_at(task, wanted);
        if hit {
            self.started.store(true, Ordering::Release);
        }
        !hit
    }

    fn new(
        playbook: Arc<Playbook>,
        inventory: Arc<Inventory>,
        config: RunConfig,
        events: EventSink,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            forks: Semaphore::new(config.forks.max(1)),
            journal_failed: std::sync::atomic::AtomicBool::new(false),
            started: std::sync::atomic::AtomicBool::new(config.start_at_task.is_none()),
            stepping: std::sync::atomic::AtomicBool::new(config.step.is_some()),
            delegates: delegate::Delegates::default(),
            includes: include::Cache::default(),
            live: Arc::default(),
            connector: {
                let events = events.clone();
                let details = events.clone();
                let connector = Connector::new(config.transport.clone())
                    .with_warnings(Arc::new(move |message: String| {
                        let _ = events.send(Event::Warning { message });
                    }))
                    .with_trace(
                        Arc::new(move |host: &str, level: u8, message: String| {
                            let _ = details.send(Event::Detail {
                                host: host.to_string(),
                                level,
                                message,
                            });
                        }),
                        config.transport.trace_level,
                    );
                for notice in &config.transport.resolver.defaults().notices {
                    connector.warn(notice.clone());
                }
                connector
            },
            templates: Templates::new(),
            sources: Default::default(),
            playbook,
            inventory,
            config,
            events,
        })
    }

    fn emit(&self, event: Event) {
        if let Some(record) = for_the_report(&event) {
            self.record(record);
        }
        // A reporter that went away is not the run's problem.
        let _ = self.events.send(event);
    }

    /// Writes a journal record (fsynced) before the step it describes goes on. A journal
    /// that cannot be written stops the rollout from starting anything new: a step that is
    /// not recorded could not be resumed.
    fn record(&self, record: Record) {
        let Some(journal) = &self.config.journal else {
            return;
        };
        if let Err(err) = journal.record(&record)
            && !self
                .journal_failed
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            self.emit(Event::Warning {
                message: format!("{err}; nothing new will start"),
            });
        }
    }

    /// `--step`: whether the operator wants `banner` (`TASK: name`) to run; always yes
    /// without `--step` or once it was answered `continue`.
    async fn take_step(&self, banner: String) -> bool {
        use std::sync::atomic::Ordering;
        let Some(ask) = self.config.step.clone() else {
            return true;
        };
        if !self.stepping.load(Ordering::Acquire) {
            return true;
        }
        let answer = tokio::task::spawn_blocking(move || ask(&banner))
            .await
            .unwrap_or(StepAnswer::No);
        match answer {
            StepAnswer::Yes => true,
            StepAnswer::No => false,
            StepAnswer::Continue => {
                self.stepping.store(false, Ordering::Release);
                true
            }
        }
    }

    /// `--force-handlers`, or the play's `force_handlers: true`.
    fn forces_handlers(&self, play: usize) -> bool {
        self.config.force_handlers || self.playbook.plays[play].force_handlers
    }

    fn journal_failed(&self) -> bool {
        self.journal_failed
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// What the run report needs of the rollout's events beyond what a resume needs: the
/// rollout's shape and limits, hop chains, batch starts and why it stopped.
fn for_the_report(event: &Event) -> Option<Record> {
    let at = crate::journal::now_rfc3339;
    let halted = |reason: String, untouched: &[String]| Record::Halted {
        at: at(),
        reason,
        untouched: untouched.to_vec(),
    };
    Some(match event {
        Event::RolloutStart {
            hosts,
            batches,
            max_unavailable,
            max_failed,
            window,
        } => Record::Rollout {
            at: at(),
            hosts: hosts.clone(),
            batches: batches.clone(),
            max_unavailable: *max_unavailable,
            max_failed: *max_failed,
            window: window.clone(),
        },
        Event::UpgradePaths { hosts } => Record::UpgradePaths {
            hosts: hosts.clone(),
        },
        Event::BatchStart { index, hosts, .. } => Record::Batch {
            at: at(),
            index: *index,
            hosts: hosts.clone(),
        },
        Event::RolloutHalted { reason, untouched } => halted(reason.clone(), untouched),
        Event::WindowClosed {
            reason, untouched, ..
        } => halted(
            format!("the maintenance window closed: {reason}"),
            untouched,
        ),
        Event::PrecheckFailed { hosts } => halted(
            format!(
                "the precheck failed on {}: nothing was changed",
                hosts.join(", ")
            ),
            &[],
        ),
        Event::UpgradePathInvalid { problems } => halted(
            format!(
                "no valid upgrade path for {}: nothing was changed",
                problems
                    .iter()
                    .map(|(h, why)| format!("{h} ({why})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            &[],
        ),
        _ => return None,
    })
}

/// Runs the plan to the end (or until interrupted) and returns the recap.
pub async fn run(
    playbook: Arc<Playbook>,
    inventory: Arc<Inventory>,
    plan: Plan,
    config: RunConfig,
    events: EventSink,
    interrupts: Interrupts,
) -> RunSummary {
    let shared = Shared::new(playbook.clone(), inventory, config, events);
    shared.emit(Event::PlaybookStart {
        playbook: playbook.path.display().to_string(),
        check: shared.config.check,
        journal: shared
            .config
            .journal
            .as_ref()
            .map(|j| j.path().display().to_string()),
        resumed: shared.config.resume.is_some(),
    });

    let mut state = RunState::default();
    for play_plan in &plan.plays {
        let play = &playbook.plays[play_plan.play];
        if shared
            .config
            .resume
            .as_ref()
            .is_some_and(|p| p.plays_done.contains(&play_plan.play))
        {
            continue;
        }
        // `--step`'s `continue` lasts for the play (Ansible's strategy is made per play).
        shared.stepping.store(
            shared.config.step.is_some(),
            std::sync::atomic::Ordering::Release,
        );
        shared.emit(Event::PlayStart {
            name: play.name.clone(),
            pattern: play_plan.pattern.clone(),
            hosts: play_plan.hosts.clone(),
            batches: play_plan.batches.len(),
        });
        if play_plan.hosts.is_empty() {
            shared.emit(Event::NoHosts {
                pattern: play_plan.pattern.clone(),
            });
            continue;
        }
        for name in &play_plan.hosts {
            state.stats.entry(name.clone()).or_default();
            state.host(name, &shared.live);
        }
        // Hosts that failed or were unreachable in an earlier play take no part in this one,
        // as in Ansible. An ordinary play keeps its batches as `serial` cut them (Ansible
        // cuts them before it leaves those hosts out); a rollout batches the hosts it has.
        let play_plan = &if play_plan.rollout {
            state.without_fallen(play_plan)
        } else {
            play_plan.clone()
        };
        if state.live(&play_plan.hosts).is_empty() {
            continue;
        }
        let scope = Arc::new(play_scope(&shared, play_plan, &state.hosts));
        let flow = if play_plan.rollout {
            rollout::run(&shared, &scope, play_plan, &mut state, &interrupts).await
        } else {
            linear::run(&shared, &scope, play_plan, &mut state, &interrupts).await
        };
        if flow == Flow::Stop {
            break;
        }
        shared.record(Record::PlayEnd {
            play: play_plan.play,
        });
    }

    for host in state.hosts.values() {
        if let Some(conn) = &host.conn {
            conn.close().await;
        }
    }
    shared.delegates.close_all().await;
    let mut stats = state.stats;
    stats.sort_by_cached_key(|name, _| shared.inventory.hosts.get_index_of(name));
    for message in shared.connector.cut_off_summary() {
        shared.emit(Event::Warning { message });
    }
    shared.emit(Event::Recap {
        hosts: stats.clone(),
    });
    RunSummary {
        stats,
        interrupted: state.interrupted,
        halted: state.halted,
        window_closed: state.window_closed,
        declined: state.declined,
    }
}

/// What `drover plan` learns about a rollout by running its `precheck` on every host (a
/// precheck is read-only by contract: a run executes it before anything changes too).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Probe {
    /// Index into `Playbook::plays`.
    pub play: usize,
    /// The rollout order once the precheck's facts are known (`order_by` may use them).
    pub order: Vec<String>,
    /// The batches of the hosts that have work to do (not up to date, not failed).
    pub batches: Vec<Vec<String>>,
    /// Each host's current version and hop chain, for a rollout with `upgrade_path`.
    pub paths: Vec<events::HostPath>,
    /// Hosts whose precheck failed, that were unreachable, or that have no valid path: a
    /// run would stop before changing anything.
    pub problems: Vec<ProbeProblem>,
    /// What each host's precheck registered (without `no_log` results): the plan renders
    /// the later steps with it, as the run would.
    #[serde(skip)]
    pub facts: IndexMap<String, ProbedFacts>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeProblem {
    pub host: String,
    pub why: String,
    /// The host could not be reached (else its precheck failed, or it has no valid path).
    pub unreachable: bool,
}

/// A host's variables after its precheck: registered results and `set_fact`s, and what
/// `include_vars` loaded.
#[derive(Debug, Clone, Default)]
pub struct ProbedFacts {
    facts: Map<String, Value>,
    included: Map<String, Value>,
}

/// Runs the precheck of every rollout in `plan` that has something to learn from it (an
/// upgrade path, or an order that depends on its facts), on every host, and nothing else.
pub async fn probe(
    playbook: Arc<Playbook>,
    inventory: Arc<Inventory>,
    plan: &Plan,
    config: RunConfig,
) -> Vec<Probe> {
    let (events, mut received) = mpsc::unbounded_channel();
    let shared = Shared::new(playbook.clone(), inventory, config, events);
    let mut state = RunState::default();
    let mut probes = Vec::new();
    for play_plan in &plan.plays {
        let play = &playbook.plays[play_plan.play];
        let learns = play.upgrade_path.is_some() || play_plan.order_deferred.is_some();
        if !play_plan.rollout || !learns || play_plan.hosts.is_empty() {
            continue;
        }
        // Each rollout is probed on its own: fresh facts, the connection kept.
        for name in &play_plan.hosts {
            let host = state.host(name, &shared.live);
            host.facts.clear();
            host.failed = false;
            host.unreachable = false;
        }
        let scope = Arc::new(play_scope(&shared, play_plan, &state.hosts));
        let mut probe = rollout::probe(&shared, &scope, play_plan, &mut state).await;
        // Why a host failed its precheck: the first failure the engine reported for it.
        let mut failures: IndexMap<String, String> = IndexMap::new();
        while let Ok(event) = received.try_recv() {
            if let Event::HostResult {
                host,
                task,
                status: Status::Failed | Status::Unreachable,
                result,
                ignored: false,
                ..
            } = event
            {
                let msg = result
                    .get("msg")
                    .and_then(Value::as_str)
                    .unwrap_or("failed")
                    .to_string();
                failures.entry(host).or_insert(format!("{task}: {msg}"));
            }
        }
        for host in &play_plan.hosts {
            let Some(host_state) = state.hosts.get(host) else {
                continue;
            };
            probe.facts.insert(
                host.clone(),
                ProbedFacts {
                    facts: host_state.journaled_facts(),
                    included: host_state.included(),
                },
            );
            if host_state.live() {
                continue;
            }
            let why = failures
                .shift_remove(host)
                .unwrap_or_else(|| "the precheck failed".to_string());
            probe.problems.insert(
                0,
                ProbeProblem {
                    host: host.clone(),
                    why,
                    unreachable: host_state.unreachable,
                },
            );
        }
        probes.push(probe);
    }
    for host in state.hosts.values() {
        if let Some(conn) = &host.conn {
            conn.close().await;
        }
    }
    shared.delegates.close_all().await;
    probes
}

/// What the run carries from play to play.
#[derive(Default)]
struct RunState {
    hosts: IndexMap<String, HostState>,
    stats: IndexMap<String, HostStats>,
    interrupted: bool,
    /// A rollout halted with hosts it never started.
    halted: bool,
    /// A rollout stopped at the end of its maintenance window.
    window_closed: bool,
    /// The operator declined to go on at a rollout's confirmation point.
    declined: bool,
}

impl RunState {
    /// The host's state, created fresh (not yet connected) on first use.
    fn host(&mut self, name: &str, live: &hostvars::Live) -> &mut HostState {
        self.hosts
            .entry(name.to_string())
            .or_insert_with(|| HostState {
                name: name.to_string(),
                conn: None,
                facts: live.facts_of(name),
                include_params: Vec::new(),
                failed: false,
                unreachable: false,
                notified: Vec::new(),
                last_failure: None,
                secret: Vec::new(),
            })
    }

    fn count(&mut self, host: &str, verdict: &task::Verdict) {
        if let Some(s) = self.stats.get_mut(host) {
            s.count_result(verdict.status, verdict.ignored, verdict.rescued);
        }
    }

    /// Runs one task on each of `hosts` concurrently and waits for all of them.
    async fn run_task(
        &mut self,
        shared: &Arc<Shared>,
        make: impl Fn() -> task::Job,
        hosts: &[String],
    ) {
        let mut running = tokio::task::JoinSet::new();
        for name in hosts {
            let Some(host) = self.hosts.shift_remove(name) else {
                continue;
            };
            running.spawn(make().run(host));
        }
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok((host, verdict)) => {
                    self.count(&host.name, &verdict);
                    self.hosts.insert(host.name.clone(), host);
                }
                Err(err) => shared.emit(Event::Warning {
                    message: format!("a host task ended abnormally: {err}"),
                }),
            }
        }
        // Keep inventory order for the next task's scheduling and the recap.
        self.hosts
            .sort_by_cached_key(|name, _| shared.inventory.hosts.get_index_of(name));
    }

    /// The play's plan without the hosts that fell in earlier plays, re-batched.
    fn without_fallen(&self, play_plan: &PlayPlan) -> PlayPlan {
        let hosts = self.live(&play_plan.hosts);
        if hosts.len() == play_plan.hosts.len() {
            return play_plan.clone();
        }
        PlayPlan {
            batches: crate::plan::split(&hosts, &play_plan.sizes),
            hosts,
            ..play_plan.clone()
        }
    }

    fn live(&self, hosts: &[String]) -> Vec<String> {
        hosts
            .iter()
            .filter(|h| self.hosts.get(*h).is_some_and(HostState::live))
            .cloned()
            .collect()
    }
}

/// Whether the run goes on to the next play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// Magic variables shared by every host of a play.
///
/// `hostvars` and the lists of standing hosts change as the play runs (see [`hostvars`]);
/// the others are fixed for the play.
fn play_scope(
    shared: &Shared,
    play_plan: &crate::plan::PlayPlan,
    hosts: &IndexMap<String, HostState>,
) -> PlayScope {
    let inventory = &shared.inventory;
    let play = &shared.playbook.plays[play_plan.play];
    let config = &shared.config;
    let mut magic = Map::new();
    magic.insert(
        "playbook_dir".into(),
        Value::from(shared.playbook.dir.display().to_string()),
    );
    magic.insert("ansible_check_mode".into(), Value::from(config.check));
    magic.insert("ansible_diff_mode".into(), Value::from(config.diff));
    magic.insert("omit".into(), Value::from(crate::template::OMIT));
    magic.insert("ansible_play_name".into(), Value::from(play.name.clone()));
    let run_tags = if config.tags.only.is_empty() {
        vec!["all".to_string()]
    } else {
        config.tags.only.clone()
    };
    magic.insert("ansible_run_tags".into(), Value::from(run_tags));
    magic.insert(
        "ansible_skip_tags".into(),
        Value::from(config.tags.skip.clone()),
    );
    magic.insert("ansible_version".into(), ansible_version());
    magic.insert("ansible_forks".into(), Value::from(config.forks));
    // As Ansible lists them: the roles the play names (in `roles:`, or by import_role and
    // include_role) and, apart, the dependencies; `ansible_role_names` is both.
    let mut play_roles: Vec<String> = Vec::new();
    let mut dependencies: Vec<String> = Vec::new();
    for (name, from) in &play.roles {
        let list = match from {
            crate::playbook::RoleFrom::Dependency => &mut dependencies,
            _ => &mut play_roles,
        };
        if !list.contains(name) {
            list.push(name.clone());
        }
    }
    let mut all_roles = play_roles.clone();
    for name in &dependencies {
        if !all_roles.contains(name) {
            all_roles.push(name.clone());
        }
    }
    magic.insert("role_names".into(), Value::from(play_roles.clone()));
    magic.insert("ansible_role_names".into(), Value::from(all_roles));
    magic.insert("ansible_play_role_names".into(), Value::from(play_roles));
    magic.insert(
        "ansible_dependent_role_names".into(),
        Value::from(dependencies),
    );
    let source =
        std::path::absolute(&inventory.source).unwrap_or_else(|_| inventory.source.clone());
    let inventory_dir = if source.is_dir() {
        source.clone()
    } else {
        source
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default()
    };
    magic.insert(
        "inventory_dir".into(),
        Value::from(inventory_dir.display().to_string()),
    );
    magic.insert(
        "inventory_file".into(),
        Value::from(source.display().to_string()),
    );
    magic.insert(
        "ansible_inventory_sources".into(),
        Value::from(vec![source.display().to_string()]),
    );
    shared.live.start_play(
        play_plan
            .hosts
            .iter()
            .filter(|h| hosts.get(*h).is_some_and(|s| !s.live()))
            .cloned()
            .collect(),
    );
    let groups: Map<String, Value> = inventory
        .groups_map()
        .into_iter()
        .map(|(g, hosts)| (g, Value::from(hosts)))
        .collect();
    // Values that grow with the number of hosts are built once and shared by every host's
    // context (a minijinja value is reference-counted), never copied per host and task.
    let groups = from_json(&Value::Object(groups));
    let standing = |hosts: &Arc<std::sync::Mutex<Vec<String>>>| {
        minijinja::Value::from_object(hostvars::Standing {
            hosts: hosts.clone(),
            live: shared.live.clone(),
        })
    };
    let batch = Arc::new(std::sync::Mutex::new(play_plan.hosts.clone()));
    let play_batch = standing(&batch);
    let play_hosts = standing(&Arc::new(std::sync::Mutex::new(play_plan.hosts.clone())));
    let mut scope = PlayScope {
        magic,
        shared: vec![
            ("groups".to_string(), groups.clone()),
            ("play_hosts".to_string(), play_batch.clone()),
            ("ansible_play_batch".to_string(), play_batch),
            ("ansible_play_hosts".to_string(), play_hosts),
            (
                "ansible_play_hosts_all".to_string(),
                from_json(&Value::from(play_plan.hosts.clone())),
            ),
        ],
        vars_files: play_plan.vars_files.clone(),
        templates: shared.templates.clone(),
        batch,
    };
    let hostvars = hostvars::hostvars(inventory, &config.extra_vars, &scope, groups, &shared.live);
    scope.shared.push(("hostvars".to_string(), hostvars));
    scope
}

/// `ansible_version`: the Ansible release whose language drover follows.
fn ansible_version() -> Value {
    serde_json::json!({
        "full": "2.19.0",
        "major": 2,
        "minor": 19,
        "revision": 0,
        "string": "2.19.0",
    })
}

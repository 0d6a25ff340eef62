//! One task on one host: build the host's variables, expand `loop`, check `when`, render the
//! arguments, run the module (connecting first if needed), apply `changed_when` /
//! `failed_when` / `ignore_errors`, register the result, and emit the events.

use super::delegate::Delegated;
use super::events::{Delegate, Event, Status};
use super::exec;
use super::loops;
use super::vars::{self, PlayScope};
use super::{HostState, Shared};
use crate::modules::{self, Args, Context, ModuleError, Outcome};
use crate::playbook::loops::{LoopControl, LoopKind};
use crate::playbook::{Node, Phase, Role, Section, Task, TaskFile, TaskRef};
use crate::template::{TemplateError, truthy};
use crate::transport::Reach;
use indexmap::IndexMap;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::sync::Arc;

pub(super) struct Job {
    pub shared: Arc<Shared>,
    pub scope: Arc<PlayScope>,
    pub play: usize,
    pub task: TaskRef,
    /// `run_once` results shared by every host of a rollout (rollouts only).
    pub once: Option<Arc<OnceResults>>,
    /// A block around the task has a `rescue`: a failure here counts as rescued.
    pub rescuable: bool,
    /// The included file the task is in (`task` indexes its tasks), if any.
    pub file: Option<Arc<TaskFile>>,
    /// The role of the include that brought the task's file: the task's own if it has none.
    pub role: Option<Arc<Role>>,
}

/// Results of `run_once` tasks in a rollout: the first host to reach such a task runs it,
/// every other host waits for and reuses that result.
#[derive(Default)]
pub(super) struct OnceResults {
    /// The rollout stage these results belong to (each stage runs its own `run_once`s).
    stage: usize,
    cells: std::sync::Mutex<Vec<(OnceKey, Arc<OnceSlot>)>>,
    /// The steps with an `undo:` that ran and succeeded, oldest first: what a cluster
    /// rollback undoes.
    undoable: std::sync::Mutex<Vec<crate::journal::OnceRun>>,
}

/// One `run_once` step's result, and the host running it while the others wait.
#[derive(Default)]
struct OnceSlot {
    result: tokio::sync::OnceCell<Ran>,
    runner: std::sync::Mutex<Option<String>>,
}

/// A task of a section, or of an included file (told apart by the file's address, stable
/// for the run), and the hop it ran for: in a rollout with an upgrade path, `run_once`
/// means once per hop (a shared database migrates at every hop).
type OnceKey = (TaskRef, usize, Option<String>);

impl OnceResults {
    /// The stage (of `rolling.stages`) these results belong to.
    pub(super) fn stage(&self) -> usize {
        self.stage
    }

    pub(super) fn for_stage(stage: usize) -> OnceResults {
        OnceResults {
            stage,
            ..OnceResults::default()
        }
    }

    /// Steps that ran in an earlier, interrupted run of this rollout (from its journal).
    pub(super) fn restore(&self, runs: Vec<crate::journal::OnceRun>) {
        lock(&self.undoable).extend(runs.into_iter().filter(|r| r.stage == self.stage));
    }

    /// The steps to undo, newest first, marked as taken.
    pub(super) fn take_undoable(&self) -> Vec<crate::journal::OnceRun> {
        let mut runs: Vec<_> = lock(&self.undoable)
            .drain(..)
            .filter(|r| !r.undone)
            .collect();
        runs.reverse();
        runs
    }

    fn ran(&self, run: crate::journal::OnceRun) {
        lock(&self.undoable).push(run);
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The hop a rollout host is on (`hop.to`), for the phases that run once per hop.
pub(super) fn hop_of(host: &HostState, section: Section) -> Option<String> {
    match section {
        Section::Phase(Phase::Precheck | Phase::Rollback) | Section::Tasks | Section::Handlers => {
            None
        }
        Section::Phase(_) => host
            .facts
            .get("hop")
            .and_then(|hop| hop.get("to").cloned())
            .map(|to| match to {
                Value::String(s) => s,
                other => other.to_string(),
            }),
    }
}

/// A `run_once` task's result and the host that ran it.
#[derive(Clone)]
pub(super) struct Ran {
    host: String,
    result: Map<String, Value>,
}

impl OnceResults {
    fn cell(&self, task: OnceKey) -> Arc<OnceSlot> {
        let mut cells = lock(&self.cells);
        if let Some((_, cell)) = cells.iter().find(|(t, _)| *t == task) {
            return cell.clone();
        }
        let cell = Arc::new(OnceSlot::default());
        cells.push((task, cell.clone()));
        cell
    }
}

/// What the task came to on the host, for the recap.
pub(super) struct Verdict {
    pub status: Status,
    pub ignored: bool,
    /// A failure that a block's `rescue` takes over (Ansible's `rescued` count).
    pub rescued: bool,
}

/// Why an item stopped short of a module result.
pub(super) enum Stop {
    /// The host, or the delegate named in the message, cannot be reached.
    Unreachable(String, Option<Delegate>),
    Failed(String),
}

/// One pass of a task on a host: its result, the diff of what it changed (`--diff`), and the
/// host it was delegated to.
pub(super) struct Pass {
    result: Map<String, Value>,
    diff: Option<String>,
    delegate: Option<Delegate>,
}

impl Pass {
    pub(super) fn plain(result: Map<String, Value>) -> Pass {
        Pass {
            result,
            diff: None,
            delegate: None,
        }
    }
}

impl Stop {
    pub(super) fn message(self) -> String {
        match self {
            Stop::Failed(why) | Stop::Unreachable(why, _) => why,
        }
    }
}

impl From<TemplateError> for Stop {
    fn from(err: TemplateError) -> Self {
        Stop::Failed(err.to_string())
    }
}

impl Job {
    pub(super) fn task(&self) -> &Task {
        match &self.file {
            Some(file) => &file.tasks[self.task.index],
            None => self.shared.playbook.plays[self.play].task(self.task),
        }
    }

    /// The task's role, or that of the include that brought it.
    pub(super) fn role(&self) -> Option<&Role> {
        self.task().role.as_deref().or(self.role.as_deref())
    }

    pub(super) fn phase(&self) -> Option<Phase> {
        match self.task.section {
            Section::Phase(phase) => Some(phase),
            Section::Tasks | Section::Handlers => None,
        }
    }

    pub async fn run(self, mut host: HostState) -> (HostState, Verdict) {
        let verdict = self.run_on(&mut host).await;
        (host, verdict)
    }

    /// Runs the task on `host` within the fork limit.
    pub async fn run_on(&self, host: &mut HostState) -> Verdict {
        let Ok(_permit) = self.shared.forks.acquire().await else {
            return Verdict {
                status: Status::Skipped,
                ignored: false,
                rescued: false,
            };
        };
        if let (true, Some(once)) = (self.task().run_once, &self.once) {
            return self.run_once(host, once).await;
        }
        self.run_here(host).await
    }

    /// A rollout's `run_once` task: the first host runs it, the others reuse its result.
    async fn run_once(&self, host: &mut HostState, once: &OnceResults) -> Verdict {
        let file = self.file.as_ref().map_or(0, |f| Arc::as_ptr(f) as usize);
        let hop = hop_of(host, self.task.section);
        let cell = once.cell((self.task, file, hop.clone()));
        let mut verdict = None;
        // Whether this host is the one running the step: the others wait, and say so.
        let running_here = std::sync::atomic::AtomicBool::new(false);
        let waiting = (host.name.clone(), self.shown_name(host));
        let init = cell.result.get_or_init(|| async {
            running_here.store(true, std::sync::atomic::Ordering::Relaxed);
            *lock(&cell.runner) = Some(host.name.clone());
            let v = self.run_here(host).await;
            if let (Some(_), None, Section::Phase(phase), Status::Ok | Status::Changed) =
                (&self.task().undo, &self.file, self.task.section, v.status)
            {
                let registered = self.task().register.as_ref().and_then(|name| {
                    let value = host.facts.get(name)?;
                    (!host.secret.contains(name)).then(|| (name.clone(), value))
                });
                let run = crate::journal::OnceRun {
                    play: self.play,
                    stage: once.stage,
                    phase,
                    task: self.task.index,
                    hop: hop.clone(),
                    hop_fact: hop.as_ref().and_then(|_| host.facts.get("hop")),
                    registered,
                    host: host.name.clone(),
                    undone: false,
                };
                self.shared.record(crate::journal::Record::OnceRan {
                    play: run.play,
                    stage: run.stage,
                    phase,
                    task: run.task,
                    hop: run.hop.clone(),
                    hop_fact: run.hop_fact.clone(),
                    registered: run.registered.clone(),
                    host: run.host.clone(),
                });
                once.ran(run);
            }
            let result = match (&self.task().register, v.status) {
                (Some(register), _) => match host.facts.get(register) {
                    Some(Value::Object(result)) => result,
                    _ => Map::new(),
                },
                (None, Status::Failed | Status::Unreachable) => fail_result("failed"),
                (None, _) => Map::new(),
            };
            verdict = Some(v);
            Ran {
                host: host.name.clone(),
                result,
            }
        });
        let ran = {
            tokio::pin!(init);
            tokio::select! {
                ran = &mut init => ran.clone(),
                () = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                    if !running_here.load(std::sync::atomic::Ordering::Relaxed) {
                        self.shared.emit(Event::OnceWait {
                            host: waiting.0,
                            task: waiting.1,
                            runner: lock(&cell.runner).clone(),
                        });
                    }
                    init.await.clone()
                }
            }
        };
        if let Some(verdict) = verdict {
            return verdict;
        }
        let mut result = ran.result.clone();
        result.insert("changed".into(), json!(false));
        let failed = status_of(&ran.result) == Status::Failed;
        result.insert(
            "msg".into(),
            json!(if failed {
                format!("run_once task failed on {}", ran.host)
            } else {
                format!("ran once for the rollout, on {}", ran.host)
            }),
        );
        if !failed {
            result.remove("failed");
        }
        self.finish(host, Pass::plain(result), false)
    }

    async fn run_here(&self, host: &mut HostState) -> Verdict {
        let task = self.task();
        let shared = &self.shared;
        let name = task.display_name();
        let context = self.context(host);
        let vars = &context;
        // A failure that names an undefined variable says why that variable is undefined.
        let failed = |msg: String| fail_result(&context.explain(msg));

        let items: Option<Vec<Value>> = match &task.loop_items {
            None => None,
            Some(node) => match self.render_loop(node, vars, task.loop_kind) {
                Ok(items) => Some(items),
                Err(msg) => return self.finish(host, Pass::plain(failed(msg)), false),
            },
        };

        let Some(items) = items else {
            let result = self.run_item(host, vars, None).await;
            return match result {
                Ok(pass) => self.finish(host, pass, false),
                Err(Stop::Unreachable(msg, delegate)) => self.unreachable(host, &msg, delegate),
                Err(Stop::Failed(msg)) => self.finish(host, Pass::plain(failed(msg)), false),
            };
        };

        let ctx = vars::jinja(&self.scope, vars);
        let control = match self.loop_control_on(&ctx) {
            Ok(control) => control,
            Err(msg) => return self.finish(host, Pass::plain(failed(msg)), false),
        };
        let control = control.as_ref();
        let extended = match self.loop_extended(&ctx) {
            Ok(b) => b,
            Err(msg) => return self.finish(host, Pass::plain(failed(msg)), false),
        };
        let pause = match self.seconds(control.pause.as_ref(), &ctx) {
            Ok(pause) => pause,
            Err(msg) => return self.finish(host, Pass::plain(failed(msg)), false),
        };
        let mut delegate = None;
        let mut results = Vec::with_capacity(items.len());
        let mut diffs = Vec::new();
        let mut facts_so_far = Map::new();
        for index in 0..items.len() {
            if index > 0 && pause > 0.0 {
                tokio::time::sleep(std::time::Duration::from_secs_f64(pause)).await;
            }
            let item_vars = loops::item_vars(control, extended, &items, index);
            // Facts an earlier item set are seen by the later ones, as in Ansible.
            let outcome = if facts_so_far.is_empty() {
                self.run_item(host, vars, Some(&item_vars)).await
            } else {
                let mut seen = facts_so_far.clone();
                seen.extend(item_vars.clone());
                self.run_item(host, vars, Some(&seen)).await
            };
            let (status, result) = match outcome {
                Ok(pass) => {
                    let mut result = pass.result;
                    result.extend(item_vars.clone());
                    diffs.extend(pass.diff);
                    delegate = pass.delegate;
                    (status_of(&result), result)
                }
                Err(Stop::Unreachable(msg, delegate)) => {
                    return self.unreachable(host, &msg, delegate);
                }
                Err(Stop::Failed(msg)) => {
                    let mut result = failed(msg);
                    result.extend(item_vars.clone());
                    delegate = None;
                    (Status::Failed, result)
                }
            };
            let mut result = result;
            // The label and `break_when` see the item's result under `register`, as in Ansible.
            let mut seen = item_vars.clone();
            if let Some(register) = &task.register {
                seen.extend(registered(register, &result));
            }
            let label = match self.item_label(vars, &seen, &items[index]) {
                Ok(label) => label,
                Err(msg) => {
                    result.insert("failed".into(), json!(true));
                    result.insert(
                        "msg".into(),
                        json!(format!("Failed to template loop_control.label: {msg}")),
                    );
                    items[index].clone()
                }
            };
            let status = if result.get("failed") == Some(&json!(true)) {
                Status::Failed
            } else {
                status
            };
            if control.label.is_some() {
                result.insert("_ansible_item_label".into(), label.clone());
            }
            let stop = match self.breaks(control, vars, &seen) {
                Ok(stop) => stop,
                Err(msg) => {
                    result.insert("failed".into(), json!(true));
                    result.insert("msg".into(), json!(msg));
                    true
                }
            };
            let status = if result.get("failed") == Some(&json!(true)) {
                Status::Failed
            } else {
                status
            };
            let (shown_item, shown) = self.shown(host, &label, &result);
            shared.emit(Event::HostItem {
                host: host.name.clone(),
                task: name.clone(),
                phase: self.phase(),
                module: task.module.to_string(),
                status,
                item: shown_item,
                result: shown,
                delegate: delegate.clone(),
            });
            if status != Status::Failed
                && let Some(Value::Object(facts)) = result.get("ansible_facts")
            {
                host.facts.set_all(facts, task.module == "include_vars");
                facts_so_far.extend(facts.clone());
            }
            results.push(Value::Object(result));
            if stop {
                break;
            }
        }
        let flag = |key: &str| results.iter().any(|r| r[key] == json!(true));
        let all_skipped =
            !results.is_empty() && results.iter().all(|r| r["skipped"] == json!(true));
        let mut summary = Map::new();
        summary.insert("changed".into(), json!(flag("changed")));
        summary.insert("failed".into(), json!(flag("failed")));
        if all_skipped || results.is_empty() {
            summary.insert("skipped".into(), json!(true));
        }
        summary.insert(
            "msg".into(),
            json!(if flag("failed") {
                "One or more items failed"
            } else {
                "All items completed"
            }),
        );
        summary.insert("results".into(), Value::Array(results));
        let pass = Pass {
            result: summary,
            diff: (!diffs.is_empty()).then(|| diffs.join("")),
            delegate,
        };
        self.finish(host, pass, true)
    }

    /// The variables this task sees on `host` (for `order_by` after the precheck).
    pub fn context_for(&self, host: &HostState) -> vars::HostVars {
        self.context(host)
    }

    /// The task's variables on this host, before any loop item.
    pub(super) fn context(&self, host: &HostState) -> vars::HostVars {
        let mut vars = host_vars(
            &self.shared,
            self.play,
            &self.scope,
            host,
            self.role(),
            &self.task().vars,
        );
        vars.vars
            .put("ansible_search_path", self.search_path().into());
        // Ansible's connection gives every task `ansible_host` (the host's name unless the
        // inventory says otherwise). Only for a local connection here: for SSH the address
        // the transport resolves (~/.ssh/config's HostName, …) must not be pinned by it.
        let local = vars.vars.raw("ansible_connection").and_then(Value::as_str) == Some("local");
        if local && !vars.vars.contains_key("ansible_host") {
            vars.vars
                .put("ansible_host", Value::from(host.name.clone()));
        }
        vars
    }

    /// Ansible's `ansible_search_path`: the role's directory (in a role), the directory of
    /// the task's file, then the playbook's.
    fn search_path(&self) -> Vec<Value> {
        let absolute = |p: &std::path::Path| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .display()
                .to_string()
        };
        let mut dirs = Vec::new();
        if let Some(role) = self.role() {
            dirs.push(absolute(&role.dir));
        }
        let file = std::path::Path::new(&self.task().source.name);
        if let Some(dir) = file.parent() {
            dirs.push(absolute(dir));
        }
        dirs.push(absolute(&self.shared.playbook.plays[self.play].dir));
        dirs.dedup();
        let mut seen = Vec::new();
        for dir in dirs {
            if !seen.contains(&dir) {
                seen.push(dir);
            }
        }
        seen.into_iter().map(Value::String).collect()
    }

    /// The task's name as a host's result line shows it: a templated name rendered with the
    /// host's variables (`Install {{ hop.to }}` → `Install 17.3.6`), as Ansible templates
    /// names; a name that does not render (a loop variable, a fact not there yet) stays as
    /// written.
    pub(super) fn shown_name(&self, host: &HostState) -> String {
        if !self.templated_name() {
            return self.task().display_name();
        }
        self.name_in(&vars::jinja(&self.scope, &self.context(host)))
    }

    fn templated_name(&self) -> bool {
        (self.task().name.as_deref()).is_some_and(crate::template::has_template_syntax)
    }

    /// The task's name rendered in `ctx`, or as written when it does not render.
    fn name_in(&self, ctx: &minijinja::Value) -> String {
        let name = self.task().display_name();
        self.shared
            .templates
            .render_str(&name, ctx, crate::template::Origin::File("task name"))
            .unwrap_or(name)
    }

    pub(super) fn render_loop(
        &self,
        node: &Node,
        vars: &vars::HostVars,
        kind: LoopKind,
    ) -> Result<Vec<Value>, String> {
        let ctx = vars::jinja(&self.scope, vars);
        let task = self.task();
        let value = match self.shared.templates.render_node(node, &ctx, &task.source) {
            Ok(value) => value,
            // As in Ansible, a loop that names an undefined variable is an error only when
            // the task's `when` (without an item) does not skip it.
            Err(err) if err.variable.is_some() => {
                return match self.skipped_by_when(&ctx) {
                    Ok(Some(_)) => Ok(Vec::new()),
                    _ => Err(err.to_string()),
                };
            }
            Err(err) => return Err(err.to_string()),
        };
        let location = || task.source.location(node.span);
        match kind.lookup() {
            None => loops::items(value).map_err(|msg| format!("{}: {msg}", location())),
            Some(lookup) => {
                let origin = crate::template::Origin::Node(&task.source, node.span);
                self.shared
                    .templates
                    .with_lookup(lookup, value, task.module, &ctx, origin)
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// What the output shows for an item: `loop_control.label` rendered with the item's
    /// variables, or the item itself. A label that fails to render shows the item.
    pub(super) fn item_label(
        &self,
        vars: &vars::HostVars,
        item_vars: &Map<String, Value>,
        item: &Value,
    ) -> Result<Value, String> {
        let Some(label) = &self.task().loop_control.label else {
            return Ok(item.clone());
        };
        let ctx = vars::jinja(&self.scope, &vars.with(item_vars));
        self.shared
            .templates
            .render_node(label, &ctx, &self.task().source)
            .map_err(|e| e.message)
    }

    /// `loop_control` with a templated `loop_var` rendered on this host.
    pub(super) fn loop_control_on(
        &self,
        ctx: &minijinja::Value,
    ) -> Result<Cow<'_, LoopControl>, String> {
        let task = self.task();
        let control = &task.loop_control;
        let Some(node) = &control.loop_var_template else {
            return Ok(Cow::Borrowed(control));
        };
        let name = self
            .shared
            .templates
            .render_node(node, ctx, &task.source)
            .map_err(|e| e.to_string())?;
        match name.as_str() {
            Some(name) if crate::playbook::is_identifier(name) => {
                let mut control = control.clone();
                control.loop_var = name.to_string();
                Ok(Cow::Owned(control))
            }
            _ => Err(format!(
                "{}: `loop_var` must be a variable name, got {name}",
                task.source.location(node.span)
            )),
        }
    }

    /// Whether `loop_control.break_when` ends the loop after this item.
    fn breaks(
        &self,
        control: &LoopControl,
        vars: &vars::HostVars,
        seen: &Map<String, Value>,
    ) -> Result<bool, String> {
        if control.break_when.is_empty() {
            return Ok(false);
        }
        let ctx = vars::jinja(&self.scope, &vars.with(seen));
        for condition in &control.break_when {
            if !self
                .shared
                .templates
                .is_true(condition, &ctx, &self.task().source)
                .map_err(|e| e.to_string())?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `loop_control.pause`: seconds between items (0 without it).
    fn seconds(&self, node: Option<&Node>, ctx: &minijinja::Value) -> Result<f64, String> {
        let Some(node) = node else {
            return Ok(0.0);
        };
        let value = self
            .shared
            .templates
            .render_node(node, ctx, &self.task().source)
            .map_err(|e| e.to_string())?;
        let seconds = match &value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        seconds
            .filter(|s| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| {
                format!(
                    "{}: `pause` must be a number of seconds, got {value}",
                    self.task().source.location(node.span)
                )
            })
    }

    /// One pass of the task (one loop item, or the whole task without a loop).
    async fn run_item(
        &self,
        host: &mut HostState,
        vars: &vars::HostVars,
        item: Option<&Map<String, Value>>,
    ) -> Result<Pass, Stop> {
        let task = self.task();
        let shared = &self.shared;
        let source = &task.source;
        // A copy only when an item adds to the host's variables: at a thousand hosts each copy
        // of every host's context is megabytes held for the whole task.
        let vars: Cow<'_, vars::HostVars> = match item {
            Some(item) => Cow::Owned(vars.with(item)),
            None => Cow::Borrowed(vars),
        };
        let vars = vars.as_ref();
        let ctx = vars::jinja(&self.scope, vars);

        if let Some(skipped) = self.skipped_by_when(&ctx)? {
            return Ok(Pass::plain(skipped));
        }

        if task.until.is_none() && task.retries.is_none() {
            return self.attempt(host, vars, &ctx, None).await;
        }
        // Ansible's count: the first run plus `retries` more (3 when only `until` is given);
        // `attempts` is the run's number, and `retries` when every run failed the condition.
        let retries = self.number(task.retries.as_ref(), &ctx, 3)?;
        let runs = retries + 1;
        if runs == 1 {
            return self.attempt(host, vars, &ctx, None).await;
        }
        let delay = match &task.delay {
            None => 5.0,
            Some(_) => self
                .seconds(task.delay.as_ref(), &ctx)
                .map_err(Stop::Failed)?,
        };
        let mut attempt = 1u32;
        loop {
            let mut pass = self.attempt(host, vars, &ctx, Some(attempt)).await?;
            let result = &mut pass.result;
            let done = match &task.until {
                Some(until) => {
                    let with_result = match &task.register {
                        Some(register) => vars.with(&registered(register, result)),
                        None => vars.clone(),
                    };
                    let ctx = vars::jinja(&self.scope, &with_result);
                    shared.templates.is_true(until, &ctx, source)?
                }
                None => status_of(result) != Status::Failed,
            };
            if done {
                return Ok(pass);
            }
            if attempt >= runs {
                result.insert("attempts".into(), json!(retries));
                result.insert("failed".into(), json!(true));
                result
                    .entry("msg")
                    .or_insert(json!(format!("condition not met after {retries} retries")));
                return Ok(pass);
            }
            let name = if self.templated_name() {
                self.name_in(&ctx)
            } else {
                task.display_name()
            };
            shared.emit(Event::Retry {
                host: host.name.clone(),
                task: name,
                attempt,
                retries_left: runs - attempt,
                delay_ms: (delay * 1000.0) as u64,
            });
            tokio::time::sleep(std::time::Duration::from_secs_f64(delay)).await;
            attempt += 1;
        }
    }

    /// The skipped result when a `when` condition (inherited ones first) does not hold.
    pub(super) fn skipped_by_when(
        &self,
        ctx: &minijinja::Value,
    ) -> Result<Option<Map<String, Value>>, TemplateError> {
        let task = self.task();
        let conditions = task
            .inherited_when
            .iter()
            .map(|(c, s)| (c, s))
            .chain(task.when.iter().map(|c| (c, &task.source)));
        for (condition, source) in conditions {
            if !self.shared.templates.is_true(condition, ctx, source)? {
                let mut result = Map::new();
                result.insert("changed".into(), json!(false));
                result.insert("skipped".into(), json!(true));
                result.insert("skip_reason".into(), json!("Conditional result was False"));
                result.insert(
                    "false_condition".into(),
                    condition.scalar_text().map_or(Value::Null, Value::String),
                );
                return Ok(Some(result));
            }
        }
        Ok(None)
    }

    /// `loop_control.extended` on this host.
    pub(super) fn loop_extended(&self, ctx: &minijinja::Value) -> Result<bool, String> {
        let task = self.task();
        match &task.loop_control.extended {
            None => Ok(false),
            Some(node) => self
                .shared
                .templates
                .is_true(node, ctx, &task.source)
                .map_err(|e| e.to_string()),
        }
    }

    /// `retries:`/`delay:` as numbers (they may be templates).
    fn number(
        &self,
        node: Option<&Node>,
        ctx: &minijinja::Value,
        default: u32,
    ) -> Result<u32, Stop> {
        let Some(node) = node else {
            return Ok(default);
        };
        let value = self
            .shared
            .templates
            .render_node(node, ctx, &self.task().source)?;
        let number = match &value {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        number.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
            Stop::Failed(format!(
                "{}: expected a whole number, got {value}",
                self.task().source.location(node.span)
            ))
        })
    }

    /// One execution of the module: render arguments, run, apply changed_when/failed_when.
    async fn attempt(
        &self,
        host: &mut HostState,
        vars: &vars::HostVars,
        ctx: &minijinja::Value,
        attempt: Option<u32>,
    ) -> Result<Pass, Stop> {
        let task = self.task();
        let shared = &self.shared;
        let source = &task.source;
        let ctx = ctx.clone();
        let args = crate::template::without_omitted(splat(
            shared.templates.render_node(&task.args, &ctx, source)?,
            &location_of(task),
        )?);
        let Some(module) = modules::module(task.module) else {
            return Err(Stop::Failed(format!("unknown module `{}`", task.module)));
        };
        let delegate = self.delegate_name(host, &ctx)?;
        let (base, shown) = match delegate {
            // Modules that run on the control machine need no connection, delegated or not.
            Some(name) if module.spec().local && !module.runs_on_delegate() => {
                let shown = Delegate {
                    host: name,
                    address: None,
                };
                (None, Some(shown))
            }
            Some(name) => {
                // Boxed, like `connect` below: a handshake's state lives only while it runs,
                // not in every host's task future.
                let Delegated { conn, shown } = Box::pin(self.delegated(&name, vars)).await?;
                (Some(conn), Some(shown))
            }
            None if module.spec().local => (None, None),
            None => {
                if host.conn.is_none() {
                    host.conn = Some(Box::pin(self.connect(vars)).await?);
                }
                (host.conn.clone(), None)
            }
        };
        let templates = &shared.templates;
        let escalation =
            exec::escalation(templates, task, &ctx, &shared.config.transport.escalation)
                .map_err(Stop::Failed)?;
        if escalation.is_some()
            && let (Some(conn), Some(node)) = (&base, &task.exec.delegate_to)
            && conn.is_local()
        {
            return Err(Stop::Failed(format!(
                "{}: `become` on a task delegated to the control machine ({}) is not supported by drover yet; set `become: false` on this task",
                source.location(node.span),
                conn.host()
            )));
        }
        let environment = exec::environment(templates, task, &ctx).map_err(Stop::Failed)?;
        // A rollout's precheck is read-only by contract: under --check it runs for real, so
        // the rest of the rollout can be told what each host would do.
        let in_precheck = self.task.section == Section::Phase(Phase::Precheck);
        let check = exec::check_mode(templates, task, &ctx, shared.config.check && !in_precheck)
            .map_err(Stop::Failed)?;
        let location = source.location(task.module_span);
        // The host's own SSH connection can be remade by the module (reboot).
        let link = match (&shown, &base) {
            (None, Some(conn)) if !conn.is_local() => Some(super::reconnect::TaskLink {
                job: self,
                vars,
                conn: conn.clone(),
                play: self.play,
                host: host.name.clone(),
                task: location.clone(),
                hop: hop_of(host, self.task.section),
            }),
            _ => None,
        };
        let diff =
            exec::diff_mode(templates, task, &ctx, shared.config.diff).map_err(Stop::Failed)?;
        // `become` and `environment` ride on a view of the one connection.
        let conn = match base {
            Some(conn) if escalation.is_some() || !environment.is_empty() => {
                Some(conn.run_as(escalation, environment))
            }
            other => other,
        };
        let context = Context {
            location: &location,
            host: &host.name,
            conn: conn.as_ref(),
            check,
            diff,
            playbook_dir: &shared.playbook.plays[self.play].dir,
            role_dir: self.role().map(|r| r.dir.as_path()),
            templates: &shared.templates,
            sources: &shared.sources,
            vars: &ctx,
            link: link.as_ref().map(|l| l as &dyn modules::HostLink),
        };
        let outcome = match module.run(&context, Args::from_value(args)).await {
            Ok(outcome) => outcome,
            Err(ModuleError::Transport(err)) if err.is_unreachable() => {
                let msg = match &shown {
                    Some(_) => format!("delegated to {}", with_help(&err)),
                    None => with_help(&err),
                };
                return Err(Stop::Unreachable(msg, shown));
            }
            Err(err) => Outcome::failed(err.to_string()),
        };
        let diff = (!outcome.diffs.is_empty()).then(|| {
            outcome
                .diffs
                .iter()
                .map(|d| d.unified())
                .collect::<String>()
        });
        let mut result = to_result(outcome);
        // Known to changed_when/failed_when already, as in Ansible.
        if let Some(attempt) = attempt {
            result.insert("attempts".into(), json!(attempt));
        }

        // changed_when / failed_when see the result under the `register` name, as in Ansible.
        if !task.changed_when.is_empty() || !task.failed_when.is_empty() {
            let with_result = match &task.register {
                Some(register) => vars.with(&registered(register, &result)),
                None => vars.clone(),
            };
            let with_result = vars::HostVars {
                vars: with_result.vars.with_defaults(&result),
            };
            let ctx = vars::jinja(&self.scope, &with_result);
            if !task.changed_when.is_empty() {
                let changed = all_true(&shared.templates, &task.changed_when, &ctx, source)?;
                result.insert("changed".into(), json!(changed));
            }
            if !task.failed_when.is_empty() {
                // A list of failed_when conditions is ANDed, as in Ansible.
                let failed = all_true(&shared.templates, &task.failed_when, &ctx, source)?;
                result.insert("failed".into(), json!(failed));
                if failed && !result.contains_key("msg") {
                    result.insert("msg".into(), json!("failed_when condition was true"));
                }
            }
        }
        Ok(Pass {
            result,
            diff,
            delegate: shown,
        })
    }

    /// `delegate_to` rendered on this host: the delegate's name, or None when the task is
    /// not delegated or names its own host.
    fn delegate_name(
        &self,
        host: &HostState,
        ctx: &minijinja::Value,
    ) -> Result<Option<String>, Stop> {
        let task = self.task();
        let Some(node) = &task.exec.delegate_to else {
            return Ok(None);
        };
        let value = self.shared.templates.render_node(node, ctx, &task.source)?;
        let name = match &value {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        if name.is_empty() {
            return Err(Stop::Failed(format!(
                "{}: `delegate_to` must name a host, got {value}",
                task.source.location(node.span)
            )));
        }
        Ok((name != host.name).then_some(name))
    }

    /// The connection of the delegate `name`, opened once for the run (see
    /// [`super::delegate`]). An unreachable delegate makes the task unreachable for this host.
    async fn delegated(&self, name: &str, vars: &vars::HostVars) -> Result<Delegated, Stop> {
        let shared = &self.shared;
        let role = self.role();
        let vars = vars.resolved(&self.scope);
        let open = || super::delegate::open(shared, &self.scope, self.play, role, name, &vars);
        shared.delegates.get(name, open).await.map_err(|err| {
            if err.is_unreachable() {
                let shown = Delegate {
                    host: name.to_string(),
                    address: None,
                };
                Stop::Unreachable(format!("delegated to {}", with_help(&err)), Some(shown))
            } else {
                Stop::Failed(err.to_string())
            }
        })
    }

    /// The host's connection, opened now if it has none yet (a resumed host, before its
    /// first task).
    pub(super) async fn connection(
        &self,
        host: &mut HostState,
    ) -> Result<crate::transport::Connection, String> {
        if let Some(conn) = &host.conn {
            return Ok(conn.clone());
        }
        let vars = self.context_for(host);
        let conn = Box::pin(self.connect(&vars))
            .await
            .map_err(|stop| match stop {
                Stop::Failed(why) | Stop::Unreachable(why, _) => why,
            })?;
        host.conn = Some(conn.clone());
        Ok(conn)
    }

    pub(super) async fn connect(
        &self,
        vars: &vars::HostVars,
    ) -> Result<crate::transport::Connection, Stop> {
        let vars: IndexMap<String, Value> = vars.resolved(&self.scope).into_iter().collect();
        let name = vars
            .get("inventory_hostname")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let reach = self
            .shared
            .connector
            .reach(&name, &vars)
            .map_err(|e| Stop::Unreachable(e.to_string(), None))?;
        if reach == Reach::Local {
            self.shared.emit(Event::Detail {
                host: name.clone(),
                level: 3,
                message: "ESTABLISH LOCAL CONNECTION".into(),
            });
            return Ok(self.shared.connector.local(&name));
        }
        // A setting drover cannot honour makes the host unreachable, as a connection would.
        let target = self.shared.connector.target(&name, &vars).map_err(|e| {
            if e.is_unreachable() {
                Stop::Unreachable(with_help(&e), None)
            } else {
                Stop::Failed(e.to_string())
            }
        })?;
        self.shared.emit(Event::Detail {
            host: name.clone(),
            level: 3,
            message: format!("ESTABLISH SSH CONNECTION {}", target.describe()),
        });
        let conn = self
            .shared
            .connector
            .connect(&target)
            .await
            .map_err(|e| Stop::Unreachable(with_help(&e), None))?;
        self.shared.emit(Event::Detail {
            host: name,
            level: 3,
            message: "SSH: connected, host key verified, authenticated".into(),
        });
        Ok(conn)
    }

    fn unreachable(&self, host: &mut HostState, msg: &str, delegate: Option<Delegate>) -> Verdict {
        let mut result = Map::new();
        result.insert("unreachable".into(), json!(true));
        result.insert("changed".into(), json!(false));
        result.insert("msg".into(), json!(msg));
        let ignored = self.task().ignore_unreachable.as_ref().is_some_and(|node| {
            let ctx = vars::jinja(&self.scope, &self.context(host));
            self.shared
                .templates
                .is_true(node, &ctx, &self.task().source)
                .unwrap_or(false)
        });
        if ignored {
            // The host goes on, and later tasks see the result, as in Ansible.
            if let Some(register) = &self.task().register {
                host.facts.set(register, Value::Object(result.clone()));
            }
        } else {
            host.unreachable = true;
            self.shared.live.remove(&host.name);
        }
        self.shared.emit(Event::HostResult {
            host: host.name.clone(),
            task: self.shown_name(host),
            phase: self.phase(),
            module: self.task().module.to_string(),
            status: Status::Unreachable,
            result: Value::Object(result),
            diff: None,
            ignored,
            looped: false,
            delegate,
        });
        Verdict {
            status: Status::Unreachable,
            ignored,
            rescued: false,
        }
    }

    /// Registers the result, applies `ignore_errors`, marks the host failed if it is, emits.
    pub(super) fn finish(&self, host: &mut HostState, pass: Pass, looped: bool) -> Verdict {
        let Pass {
            result,
            diff,
            delegate,
        } = pass;
        let task = self.task();
        let status = status_of(&result);
        let ignored = status == Status::Failed && self.ignore_errors(host);
        // Other hosts see what is set here at once, through `hostvars`, as in Ansible.
        if let Some(register) = &task.register {
            host.facts.set(register, Value::Object(result.clone()));
        }
        // Modules that set facts (`set_fact`, `include_vars`) return them as `ansible_facts`,
        // as in Ansible; they join the host's variables for the rest of the run.
        if status != Status::Failed
            && let Some(Value::Object(facts)) = result.get("ansible_facts")
        {
            // `include_vars` results rank below registered results and `set_fact`s.
            host.facts.set_all(facts, task.module == "include_vars");
        }
        let rescued = status == Status::Failed && !ignored && self.rescuable;
        if status == Status::Failed && !ignored {
            host.failed = true;
            if !rescued {
                self.shared.live.remove(&host.name);
            }
            let failed_task = json!({
                "name": task.display_name(),
                "action": task.module,
                "location": task.source.location(task.span),
            });
            host.last_failure = Some((failed_task, Value::Object(result.clone())));
        }
        if status == Status::Changed {
            self.notify(host);
        }
        let hidden = self.hidden(host);
        if hidden {
            // What a no_log task read or printed is a secret wherever it shows up later.
            crate::sensitive::register_no_log_result(&result);
        }
        if hidden && let Some(register) = &task.register {
            // Kept for later tasks, never written to the journal.
            if !host.secret.contains(register) {
                host.secret.push(register.clone());
            }
        }
        let (result, diff) = if hidden {
            (Value::Object(censor(&result)), None)
        } else {
            (Value::Object(result), diff)
        };
        self.shared.emit(Event::HostResult {
            host: host.name.clone(),
            task: self.shown_name(host),
            phase: self.phase(),
            module: task.module.to_string(),
            status,
            result,
            diff,
            ignored,
            looped,
            delegate,
        });
        Verdict {
            status,
            ignored,
            rescued,
        }
    }

    /// `no_log` on this host.
    fn hidden(&self, host: &HostState) -> bool {
        let task = self.task();
        if task.exec.no_log.is_none() {
            return false;
        }
        let ctx = vars::jinja(&self.scope, &self.context(host));
        exec::no_log(&self.shared.templates, task, &ctx)
    }

    /// A loop item and its result as events may show them (`no_log` hides both).
    fn shown(&self, host: &HostState, item: &Value, result: &Map<String, Value>) -> (Value, Value) {
        if self.hidden(host) {
            (Value::Null, Value::Object(censor(result)))
        } else {
            (item.clone(), Value::Object(result.clone()))
        }
    }

    /// A changed task notifies its handlers (by name or `listen` topic) on this host.
    fn notify(&self, host: &mut HostState) {
        let task = self.task();
        if task.notify.is_empty() {
            return;
        }
        let handlers = &self.shared.playbook.plays[self.play].handlers;
        for name in &task.notify {
            for (index, handler) in handlers.iter().enumerate() {
                let named = handler.name.as_deref() == Some(name.as_str());
                if (named || handler.listen.contains(name)) && !host.notified.contains(&index) {
                    host.notified.push(index);
                    // ansible-playbook's `-vv` line.
                    self.shared.emit(Event::Detail {
                        host: host.name.clone(),
                        level: 2,
                        message: format!("NOTIFIED HANDLER {}", handler.display_name()),
                    });
                }
            }
        }
    }

    fn ignore_errors(&self, host: &HostState) -> bool {
        let Some(node) = &self.task().ignore_errors else {
            return false;
        };
        let ctx = vars::jinja(&self.scope, &self.context(host));
        self.shared
            .templates
            .is_true(node, &ctx, &self.task().source)
            .unwrap_or(false)
    }
}

fn all_true(
    templates: &crate::template::Templates,
    conditions: &[Node],
    ctx: &minijinja::Value,
    source: &crate::playbook::Source,
) -> Result<bool, TemplateError> {
    for c in conditions {
        if !templates.is_true(c, ctx, source)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The error's message and, when it has one, its hint: the operator reads both in one line.
fn with_help(err: &crate::transport::TransportError) -> String {
    match miette::Diagnostic::help(err) {
        Some(help) => format!("{err} (hint: {help})"),
        None => err.to_string(),
    }
}

/// Arguments with an argument splat (`assert: "{{ item }}"`, `args: "{{ x }}"`): the mapping
/// it rendered to, under the arguments written out (Ansible's layering).
fn splat(args: Value, at: &str) -> Result<Value, Stop> {
    let Value::Object(mut map) = args else {
        return Ok(args);
    };
    let Some(layer) = map.shift_remove(crate::playbook::load::ARGS_SPLAT) else {
        return Ok(Value::Object(map));
    };
    let layer = match layer {
        Value::Object(layer) => layer,
        Value::String(s) if s == crate::template::OMIT => Map::new(),
        other => {
            let kind = match other {
                Value::Array(_) => "list",
                Value::String(_) => "str",
                Value::Null => "NoneType",
                Value::Bool(_) => "bool",
                _ => "number",
            };
            return Err(Stop::Failed(format!(
                "{at}: Task args must resolve to a 'dict' not '{kind}'."
            )));
        }
    };
    let mut merged = layer;
    for (k, v) in map {
        merged.insert(k, v);
    }
    Ok(Value::Object(merged))
}

fn location_of(task: &Task) -> String {
    task.source.location(task.module_span)
}

fn to_result(outcome: Outcome) -> Map<String, Value> {
    let mut result = outcome.data;
    // In diff mode a module's result carries its diffs, as Ansible's modules return them
    // (`before`/`after` with their headers; a file holding a secret shows only a note).
    if !outcome.diffs.is_empty() && !result.contains_key("diff") {
        let diffs: Vec<Value> = outcome
            .diffs
            .iter()
            .map(modules::FileDiff::to_json)
            .collect();
        result.insert("diff".into(), Value::Array(diffs));
    }
    result.insert("changed".into(), json!(outcome.changed));
    if outcome.failed {
        result.insert("failed".into(), json!(true));
    }
    if outcome.skipped {
        result.insert("skipped".into(), json!(true));
    }
    if let Some(msg) = outcome.msg {
        result.insert("msg".into(), json!(msg));
    }
    result
}

/// A `no_log` result as Ansible shows it: the status flags, nothing else.
fn censor(result: &Map<String, Value>) -> Map<String, Value> {
    let mut shown = Map::new();
    shown.insert("censored".into(), json!(exec::CENSORED));
    for key in ["changed", "failed", "skipped", "attempts"] {
        if let Some(value) = result.get(key) {
            shown.insert(key.into(), value.clone());
        }
    }
    shown
}

/// A result under its `register` name, for `until`, `changed_when` and `failed_when`.
fn registered(register: &str, result: &Map<String, Value>) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(register.to_string(), Value::Object(result.clone()));
    map
}

pub(super) fn fail_result(msg: &str) -> Map<String, Value> {
    let mut result = Map::new();
    result.insert("failed".into(), json!(true));
    result.insert("changed".into(), json!(false));
    result.insert("msg".into(), json!(msg));
    result
}

fn status_of(result: &Map<String, Value>) -> Status {
    let flag = |k: &str| {
        result
            .get(k)
            .is_some_and(|v| truthy(&crate::template::from_json(v)))
    };
    if flag("failed") {
        Status::Failed
    } else if flag("skipped") {
        Status::Skipped
    } else if flag("changed") {
        Status::Changed
    } else {
        Status::Ok
    }
}

/// A host's variables for a task of `play` in `role` (none outside roles): every layer, in
/// Ansible's order.
pub(super) fn host_vars(
    shared: &Shared,
    play: usize,
    scope: &PlayScope,
    host: &HostState,
    role: Option<&Role>,
    task_vars: &[crate::playbook::RoleVars],
) -> vars::HostVars {
    let empty = IndexMap::new();
    let inv_host = shared.inventory.host_or_implicit(&host.name);
    let (inventory_vars, groups) = match inv_host {
        Some(h) => (&h.vars, h.groups.as_slice()),
        None => (&empty, &[][..]),
    };
    let facts = host.facts.read();
    vars::host_context(
        &shared.playbook,
        play,
        scope,
        &host.name,
        inventory_vars,
        groups,
        &vars::Layers {
            vars_files: scope.vars_files.for_host(&host.name),
            included: &facts.included,
            facts: &facts.facts,
            extra_vars: &shared.config.extra_vars,
            role,
            task_vars,
            include_params: &host.include_params,
        },
    )
}

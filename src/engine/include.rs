//! `include_tasks` at run time. On each host the include's `when` and loop decide which
//! files it takes (a file per loop item, its name rendered with the item), with the
//! include's `vars:` and the loop variables as the host's include params. Hosts that take the
//! same file at the same loop position walk it together, task by task; the groups run one
//! after another in order of first appearance (Ansible's linear strategy). A file is read
//! once per include per run ([`Cache`]); one named in plain text was read at load time.

use super::events::{Event, Status};
use super::task::{Job, Pass, Verdict, fail_result};
use super::walk::Walk;
use super::{Flow, HostState, RunState, loops, vars};
use crate::playbook::{Include, Section, TaskFile, find_file, load_included, looked_in};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Includes nested deeper than this fail the host: a file that includes itself without end.
const MAX_INCLUDE_DEPTH: usize = 32;

/// Included files read at run time, by include (its address in the loaded playbook, stable
/// for the run) and path; a file that could not be read keeps its error.
#[derive(Default)]
pub(super) struct Cache {
    files: Mutex<HashMap<(usize, PathBuf), Read>>,
}

/// An included file as read, or why it could not be.
type Read = Result<Arc<TaskFile>, String>;

/// One file a host takes from an include.
struct Target {
    path: PathBuf,
    /// The loop position and the item as shown, for looped includes.
    item: Option<(usize, Value)>,
    /// The include's `vars:` and the loop variables.
    params: vars::IncludeParams,
}

/// What an include comes to on one host.
enum Decision {
    /// The files to walk, in order; `skipped` are loop items whose `when` was false.
    Run {
        targets: Vec<Target>,
        skipped: Vec<(Value, Map<String, Value>)>,
    },
    /// Nothing to include: the result to report as skipped (or failed).
    Result(Map<String, Value>, bool),
}

/// Hosts that take the same file at the same loop position, with their params.
struct Group {
    path: PathBuf,
    item: Option<(usize, Value)>,
    hosts: Vec<(String, vars::IncludeParams)>,
}

impl Job {
    /// The files `include` brings to `host`, or why none.
    fn include_targets(&self, host: &HostState, include: &Include) -> Decision {
        let task = self.task();
        let context = self.context(host);
        let vars = &context;
        let failed = |msg: String| Decision::Result(fail_result(&context.explain(msg)), false);
        let items = match &task.loop_items {
            None => None,
            Some(node) => match self.render_loop(node, vars, task.loop_kind) {
                Ok(items) => Some(items),
                Err(msg) => return failed(msg),
            },
        };
        let ctx = vars::jinja(&self.scope, vars);
        let extended = match self.loop_extended(&ctx) {
            Ok(extended) => extended,
            Err(msg) => return failed(msg),
        };
        // A templated `loop_var` may name the include's own `vars:`.
        let mut own = Map::new();
        for (key, node) in &include.vars {
            if let Ok(value) = self.shared.templates.render_node(node, &ctx, &task.source) {
                own.insert(key.name.clone(), value);
            }
        }
        let with_own = vars.with(&own);
        let control = match self.loop_control_on(&vars::jinja(&self.scope, &with_own)) {
            Ok(control) => control,
            Err(msg) => return failed(msg),
        };
        let passes: Vec<Option<usize>> = match &items {
            None => vec![None],
            Some(items) => (0..items.len()).map(Some).collect(),
        };
        let mut targets = Vec::new();
        let mut skipped = Vec::new();
        for pass in passes {
            let mut item_vars = Map::new();
            let mut shown = None;
            if let (Some(items), Some(index)) = (&items, pass) {
                item_vars = loops::item_vars(&control, extended, items, index);
                let label = self
                    .item_label(vars, &item_vars, &items[index])
                    .unwrap_or_else(|_| items[index].clone());
                shown = Some((index, label));
            }
            // Copied only when something is added to the host's variables (as in run_item).
            let all: Cow<'_, vars::HostVars> = if item_vars.is_empty() {
                Cow::Borrowed(vars)
            } else {
                Cow::Owned(vars.with(&item_vars))
            };
            let ctx = vars::jinja(&self.scope, &all);
            match self.skipped_by_when(&ctx) {
                Err(err) => return failed(err.to_string()),
                Ok(Some(result)) if items.is_none() => return Decision::Result(result, false),
                Ok(Some(result)) => {
                    skipped.push((shown.map(|(_, label)| label).unwrap_or_default(), result));
                    continue;
                }
                Ok(None) => {}
            }
            // The include's own `vars:` are seen by its file name too, as in Ansible
            // (`include_tasks: "{{ lookup('first_found', files) }}"` with `vars: {files: …}`).
            let with_vars;
            let ctx = if include.vars.is_empty() {
                ctx
            } else {
                let mut own = item_vars.clone();
                for (key, node) in &include.vars {
                    let value = self.shared.templates.render_node(node, &ctx, &task.source);
                    if let Ok(value) = value {
                        own.insert(key.name.clone(), value);
                    }
                }
                with_vars = all.with(&own);
                vars::jinja(&self.scope, &with_vars)
            };
            let path = match self.included_path(include, &ctx) {
                Ok(path) => path,
                Err(msg) => return failed(msg),
            };
            // Rendered where the included tasks use them, as Ansible renders include params.
            let params = vars::IncludeParams {
                vars: crate::playbook::RoleVars {
                    vars: include.vars.clone(),
                    source: task.source.clone(),
                },
                items: item_vars,
            };
            targets.push(Target {
                path,
                item: shown,
                params,
            });
        }
        if targets.is_empty() {
            // Every item skipped, or no items: the include is skipped, as in Ansible.
            let results: Vec<Value> = skipped
                .iter()
                .map(|(_, r)| Value::Object(r.clone()))
                .collect();
            let mut result = Map::new();
            result.insert("changed".into(), json!(false));
            result.insert("skipped".into(), json!(true));
            if results.is_empty() {
                result.insert("skip_reason".into(), json!("No items in the list"));
            }
            result.insert("results".into(), Value::Array(results));
            for (item, item_result) in skipped {
                self.report_item(host, item, item_result);
            }
            return Decision::Result(result, true);
        }
        Decision::Run { targets, skipped }
    }

    /// The file an include names on this host: rendered, then looked up beside the
    /// including file, in the role's `tasks/`, then beside the playbook.
    fn included_path(&self, include: &Include, ctx: &minijinja::Value) -> Result<PathBuf, String> {
        let task = self.task();
        let at = task.source.location(task.span);
        if let Some(role) = &include.role {
            let render = |node: &crate::playbook::Node| match self.shared.templates.render_node(
                node,
                ctx,
                &task.source,
            ) {
                Ok(Value::String(s)) => Ok(s),
                Ok(other) => Err(format!(
                    "{at}: `include_role` needs a role name, got {other}"
                )),
                Err(err) => Err(err.to_string()),
            };
            let name = render(&role.name)?;
            let from = role.tasks_from.as_ref().map(render).transpose()?;
            return crate::playbook::role_tasks_path(
                &self.shared.playbook,
                self.play,
                &name,
                from.as_deref(),
            )
            .map_err(|why| format!("{at}: {why}"));
        }
        let name = self
            .shared
            .templates
            .render_node(&include.file, ctx, &task.source)
            .map_err(|e| e.to_string())?;
        let Value::String(name) = name else {
            return Err(format!(
                "{at}: `include_tasks` needs a file name, got {name}"
            ));
        };
        let mut dirs = include.dirs.clone();
        if let Some(role) = self.role() {
            dirs.insert(1.min(dirs.len()), role.dir.join("tasks"));
        }
        find_file(&dirs, &name).ok_or_else(|| {
            format!(
                "{at}: could not find or access the included file `{name}` (looked in {})",
                looked_in(&dirs)
            )
        })
    }

    /// A skipped loop item of an include, as any task's item is shown.
    fn report_item(&self, host: &HostState, item: Value, result: Map<String, Value>) {
        self.shared.emit(Event::HostItem {
            host: host.name.clone(),
            task: self.task().display_name(),
            phase: self.phase(),
            module: self.task().module.to_string(),
            status: Status::Skipped,
            item,
            result: Value::Object(result),
            delegate: None,
        });
    }

    /// The file at `path` for `include`: the one read at load time, else read now (once).
    fn included_file(&self, include: &Include, path: &Path) -> Result<Arc<TaskFile>, String> {
        if let Some(file) = include.loaded.as_ref().filter(|f| f.path == path) {
            return Ok(file.clone());
        }
        let key = (std::ptr::from_ref(include) as usize, path.to_path_buf());
        let mut files = match self.shared.includes.files.lock() {
            Ok(files) => files,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(found) = files.get(&key) {
            return found.clone();
        }
        let task = self.task();
        let read = match &include.role {
            Some(_) => crate::playbook::load_role_included(
                &self.shared.playbook,
                self.play,
                include,
                path,
                task.role.clone(),
            ),
            None => load_included(&self.shared.playbook, self.play, include, path),
        };
        let read = read.map(Arc::new).map_err(|why| {
            format!(
                "{}: the included file `{}` is invalid: {why}",
                task.source.location(task.span),
                path.display()
            )
        });
        files.insert(key, read.clone());
        read
    }
}

impl Walk<'_> {
    /// A walk over an included file, one include deeper.
    fn walk_file(&self, file: Arc<TaskFile>, include: &Include) -> Walk<'_> {
        let role = self.tasks()[include.task]
            .role
            .clone()
            .or(self.role.clone());
        Walk {
            shared: self.shared,
            scope: self.scope,
            play: self.play,
            // A handler's included tasks are tasks of their file, like any include's.
            section: match self.section {
                Section::Handlers => Section::Tasks,
                other => other,
            },
            once: self.once.clone(),
            interrupts: self.interrupts,
            batch: self.batch,
            file: Some(file),
            role,
            depth: self.depth + 1,
            free: self.free,
        }
    }

    /// The file of `target`, or why the host cannot walk it.
    fn open(&self, job: &Job, include: &Include, path: &Path) -> Result<Arc<TaskFile>, String> {
        if self.depth + 1 >= MAX_INCLUDE_DEPTH {
            let task = job.task();
            return Err(format!(
                "{}: includes nested more than {MAX_INCLUDE_DEPTH} deep at `{}` (does it include itself without end?)",
                task.source.location(task.span),
                path.display()
            ));
        }
        job.included_file(include, path)
    }

    /// An include on the live hosts of a lockstep walk.
    pub(super) async fn include_lockstep(
        &self,
        include: &Include,
        live: &[String],
        state: &mut RunState,
        rescuable: bool,
    ) -> Flow {
        let job = self.job(self.section, include.task, rescuable);
        let mut groups: Vec<Group> = Vec::new();
        for name in live {
            let Some(host) = state.hosts.get_mut(name) else {
                continue;
            };
            let verdict = match job.include_targets(host, include) {
                Decision::Result(result, looped) => job.finish(host, Pass::plain(result), looped),
                Decision::Run { targets, skipped } => {
                    for (item, result) in skipped {
                        job.report_item(host, item, result);
                    }
                    for target in targets {
                        let position = target.item.as_ref().map(|(i, _)| *i);
                        let same = groups.iter_mut().find(|g| {
                            g.path == target.path && g.item.as_ref().map(|(i, _)| *i) == position
                        });
                        match same {
                            Some(group) => group.hosts.push((name.clone(), target.params)),
                            None => groups.push(Group {
                                path: target.path,
                                item: target.item,
                                hosts: vec![(name.clone(), target.params)],
                            }),
                        }
                    }
                    continue;
                }
            };
            state.count(name, &verdict);
        }
        for group in groups {
            let names: Vec<String> = group.hosts.iter().map(|(h, _)| h.clone()).collect();
            let hosts = state.live(&names);
            if hosts.is_empty() {
                continue;
            }
            if self.interrupted(state) {
                return Flow::Stop;
            }
            let file = match self.open(&job, include, &group.path) {
                Ok(file) => file,
                Err(msg) => {
                    for name in &hosts {
                        if let Some(host) = state.hosts.get_mut(name) {
                            let verdict = job.finish(host, Pass::plain(fail_result(&msg)), false);
                            state.count(name, &verdict);
                        }
                    }
                    continue;
                }
            };
            self.shared.emit(Event::Included {
                file: group.path.display().to_string(),
                hosts: hosts.clone(),
                item: group.item.map(|(_, label)| label),
            });
            for (name, params) in group.hosts {
                if !hosts.contains(&name) {
                    continue;
                }
                state.count(&name, &included_ok());
                if let Some(host) = state.hosts.get_mut(&name) {
                    host.include_params.push(params);
                }
            }
            let walk = self.walk_file(file.clone(), include);
            let flow = walk.lockstep(&file.steps, &hosts, state, rescuable).await;
            for name in &hosts {
                if let Some(host) = state.hosts.get_mut(name) {
                    host.include_params.pop();
                }
            }
            if flow == Flow::Stop {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// An include on one host (a rollout phase): its files one after another.
    pub(super) async fn include_on_host(
        &self,
        include: &Include,
        host: &mut HostState,
        verdicts: &mut Vec<Verdict>,
        rescuable: bool,
    ) {
        let job = self.job(self.section, include.task, rescuable);
        let targets = match job.include_targets(host, include) {
            Decision::Result(result, looped) => {
                verdicts.push(job.finish(host, Pass::plain(result), looped));
                return;
            }
            Decision::Run { targets, skipped } => {
                for (item, result) in skipped {
                    job.report_item(host, item, result);
                }
                targets
            }
        };
        for target in targets {
            if !host.live() {
                return;
            }
            let file = match self.open(&job, include, &target.path) {
                Ok(file) => file,
                Err(msg) => {
                    verdicts.push(job.finish(host, Pass::plain(fail_result(&msg)), false));
                    return;
                }
            };
            self.shared.emit(Event::Included {
                file: target.path.display().to_string(),
                hosts: vec![host.name.clone()],
                item: target.item.map(|(_, label)| label),
            });
            verdicts.push(included_ok());
            host.include_params.push(target.params);
            let walk = self.walk_file(file.clone(), include);
            walk.on_host(&file.steps, host, verdicts, rescuable).await;
            host.include_params.pop();
        }
    }
}

/// A file included on a host counts as `ok` once, as Ansible's linear strategy counts it.
fn included_ok() -> Verdict {
    Verdict {
        status: Status::Ok,
        ignored: false,
        rescued: false,
    }
}

//! `include_role`: a role read where a host reaches the task (Ansible's dynamic role
//! include). The include is a task of its own (its `name`, `when`, loop, `tags`, `vars:`,
//! as `include_tasks`'s); `apply:` passes keywords to the role's tasks. A role named in plain
//! text is read while loading (so `drover check` reports its mistakes and its handlers join
//! the play's, as Ansible adds them); a templated name is rendered per host and read then
//! ([`load_role_included`]). Each include runs the role again (`allow_duplicates` defaults
//! to true for includes); its dependencies come first.

use super::structure::{RoleUse, role_key, search_path, yaml_file};
use super::{Checker, Inherit, first_key_span};
use crate::playbook::yaml::{Key, Node, NodeValue};
use crate::playbook::{Include, Playbook, Role, RoleFrom, RoleInclude, RoleVars, Source, Task};
use crate::playbook::{Step, TaskFile};
use crate::template::has_template_syntax;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Arguments of `include_role` (Ansible's `IncludeRole.VALID_ARGS`).
const INCLUDE_ROLE_ARGS: &[&str] = &[
    "name",
    "role",
    "tasks_from",
    "vars_from",
    "defaults_from",
    "handlers_from",
    "apply",
    "public",
    "allow_duplicates",
    "rolespec_validate",
];

/// `tasks_from` and friends drover reads; the others are refused rather than ignored.
const FROM_LATER: &[&str] = &["vars_from", "defaults_from", "handlers_from"];

impl Checker {
    /// `include_role:` as a step.
    pub(super) fn include_role(
        &mut self,
        node: &Node,
        include_key: &Key,
        args: &Node,
        inherit: &Inherit,
        flat: &mut Vec<Task>,
    ) -> Option<Include> {
        let (mut task, vars) = self.include_task(node, include_key, inherit, "include_role")?;
        let entries = self.include_role_args(args)?;
        let get = |name: &str| entries.iter().find(|(k, _)| k.name == name).map(|(_, v)| v);
        let Some(name) = get("name").or_else(|| get("role")).cloned() else {
            self.problem(
                first_key_span(node),
                "`include_role` needs `name`".to_string(),
                "no role name",
                Some("write `include_role: name=ROLE`".to_string()),
            );
            return None;
        };
        let tasks_from = get("tasks_from").cloned();
        let public = match get("public").map(|v| &v.value) {
            Some(NodeValue::Bool(b)) => *b,
            Some(NodeValue::Str(s)) => matches!(s.as_str(), "yes" | "true" | "True" | "on" | "1"),
            _ => false,
        };
        let mut inner = inherit.clone();
        if let Some(apply) = get("apply").cloned() {
            self.apply(&mut inner, &apply);
        }
        task.args = name.clone();
        let plain = |n: &Node| n.as_str().is_some_and(|t| !has_template_syntax(t));
        let loaded = if plain(&name) && tasks_from.as_ref().is_none_or(plain) && !self.in_handlers {
            self.static_role(&name, tasks_from.as_ref(), &inner)
        } else {
            None
        };
        flat.push(task);
        Some(Include {
            task: flat.len() - 1,
            file: name.clone(),
            loaded,
            vars,
            dirs: Vec::new(),
            inherit: inner,
            role: Some(RoleInclude {
                name,
                tasks_from,
                public,
            }),
        })
    }

    /// `include_role`'s arguments, as a mapping or as `name=X tasks_from=Y` words.
    fn include_role_args(&mut self, args: &Node) -> Option<Vec<(Key, Node)>> {
        let entries: Vec<(Key, Node)> = match &args.value {
            NodeValue::Map(entries) => entries.clone(),
            NodeValue::Str(text) => {
                let mut entries = Vec::new();
                for word in text.split_whitespace() {
                    let Some((k, v)) = word.split_once('=') else {
                        self.problem(
                            args.span,
                            format!("`{word}` is not `key=value`"),
                            "here",
                            Some("write `include_role: name=ROLE`".to_string()),
                        );
                        return None;
                    };
                    let key = Key {
                        name: k.to_string(),
                        span: args.span,
                    };
                    let value = Node {
                        value: NodeValue::Str(v.trim_matches(['"', '\'']).to_string()),
                        span: args.span,
                    };
                    entries.push((key, value));
                }
                entries
            }
            _ => {
                self.expect_kind(args, "`include_role`", "a mapping with `name`");
                return None;
            }
        };
        for (key, _) in &entries {
            let name = key.name.as_str();
            if FROM_LATER.contains(&name) {
                self.problem(
                    key.span,
                    format!("`include_role` argument `{name}` is not supported by drover yet"),
                    "not supported yet",
                    Some("drover reads a role's main vars, defaults and handlers".to_string()),
                );
            } else if !INCLUDE_ROLE_ARGS.contains(&name) {
                self.problem(
                    key.span,
                    format!("Invalid options for include_role: {name}"),
                    "unknown argument",
                    Some(format!(
                        "`include_role` takes: {}",
                        INCLUDE_ROLE_ARGS.join(", ")
                    )),
                );
            }
        }
        Some(entries)
    }

    /// The role read now, for a name in plain text.
    fn static_role(
        &mut self,
        name: &Node,
        tasks_from: Option<&Node>,
        inner: &Inherit,
    ) -> Option<Arc<TaskFile>> {
        let text = name.as_str()?;
        let dir = self.find_role(text);
        let from = tasks_from.and_then(Node::scalar_text);
        // A role including itself (the same tasks file) is read when reached, bounded there.
        if let Some(dir) = &dir
            && self.importing.contains(&role_key(dir, from.as_deref()))
        {
            return None;
        }
        let use_role = RoleUse {
            name,
            tasks_from: tasks_from.and_then(Node::scalar_text),
            vars: RoleVars::empty(&self.source),
            params: RoleVars::empty(&self.source),
            once: false,
            from: RoleFrom::Task,
        };
        let mut tasks = Vec::new();
        let steps = self.use_role(use_role, inner, &mut tasks);
        let path = dir.unwrap_or_else(|| PathBuf::from(text));
        Some(Arc::new(TaskFile {
            path: role_file_path(&path, tasks_from.and_then(Node::scalar_text).as_deref()),
            source: self.source.clone(),
            tasks,
            steps,
        }))
    }
}

/// The stand-in path of a role's tasks file, the key under which an include's file is found
/// and cached: `ROLE_DIR/tasks/FROM`.
fn role_file_path(dir: &Path, tasks_from: Option<&str>) -> PathBuf {
    dir.join("tasks").join(tasks_from.unwrap_or("main"))
}

/// The role an `include_role` names on a host (its name and `tasks_from` rendered), as the
/// path under which [`load_role_included`] reads it; a role that cannot be found is the
/// host's failure.
pub fn role_tasks_path(
    playbook: &Playbook,
    play: usize,
    name: &str,
    tasks_from: Option<&str>,
) -> Result<PathBuf, String> {
    let given = Path::new(name);
    let dirs = search_path(&playbook.plays[play].dir);
    let dir = if given.is_absolute() {
        given.is_dir().then(|| given.to_path_buf())
    } else {
        dirs.iter().map(|d| d.join(name)).find(|p| p.is_dir())
    };
    let Some(dir) = dir else {
        let tried: Vec<String> = dirs
            .iter()
            .map(|p| p.join(name).display().to_string())
            .collect();
        return Err(format!(
            "the role '{name}' was not found (looked in: {})",
            tried.join(", ")
        ));
    };
    if let Some(from) = tasks_from
        && yaml_file(&dir.join("tasks"), from).is_none()
    {
        return Err(format!(
            "role `{name}` has no tasks file `{from}` (looked for {}.yml)",
            dir.join("tasks").join(from).display()
        ));
    }
    Ok(role_file_path(&dir, tasks_from))
}

/// Reads the role at `path` (from [`role_tasks_path`]) for an `include_role` reached on a
/// host; `parent` is the role of the including task. Mistakes come back as one line each.
pub fn load_role_included(
    playbook: &Playbook,
    play: usize,
    include: &Include,
    path: &Path,
    parent: Option<Arc<Role>>,
) -> Result<TaskFile, String> {
    let the_play = &playbook.plays[play];
    let tasks_dir = path.parent().unwrap_or(path);
    let dir = tasks_dir.parent().unwrap_or(tasks_dir);
    let from = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .filter(|f| f != "main");
    let source = Source::new(dir.display().to_string(), String::new());
    let mut checker = Checker::for_file(playbook, play, &source, path);
    checker.current_role = parent;
    let name = Node {
        value: NodeValue::Str(dir.display().to_string()),
        span: include.file.span,
    };
    let use_role = RoleUse {
        name: &name,
        tasks_from: from,
        vars: RoleVars::empty(&source),
        params: RoleVars::empty(&source),
        once: false,
        from: RoleFrom::Task,
    };
    let mut tasks = Vec::new();
    let steps: Vec<Step> = checker.use_role(use_role, &include.inherit, &mut tasks);
    // Notifications may name the play's handlers and the role's own.
    let mut handlers = the_play.handlers.clone();
    handlers.extend(checker.role_handlers.iter().cloned());
    checker.check_notified(&handlers);
    if !checker.problems.is_empty() {
        return Err(super::include::problem_lines(&checker.problems));
    }
    Ok(TaskFile {
        path: path.to_path_buf(),
        source,
        tasks,
        steps,
    })
}

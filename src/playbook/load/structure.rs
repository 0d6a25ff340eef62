//! A play's structure beyond `tasks:`: `pre_tasks`/`post_tasks` with the handler flushes
//! Ansible puts between sections, `roles:` and `import_role` (read now, from
//! `roles/NAME/{tasks,handlers,vars,defaults,meta}`), and `import_playbook`. Everything here
//! is static: files are read while loading, and their problems point into them.

use super::{Checker, Inherit, MAX_IMPORT_DEPTH, first_key_span};
use crate::playbook::yaml::{Key, Node, NodeValue, Span};
use crate::playbook::{Block, Play, Role, RoleFrom, RoleVars, Source, Step, Task};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Keywords of a `roles:` entry besides its params.
const ROLE_ENTRY_KEYWORDS: &[&str] = &["role", "name", "when", "tags", "vars"];

/// Keywords Ansible takes on a `roles:` entry that drover does not support there yet: refused
/// rather than taken for role params.
const ROLE_ENTRY_LATER: &[&str] = &[
    "become",
    "become_user",
    "become_method",
    "environment",
    "delegate_to",
    "no_log",
    "ignore_errors",
    "any_errors_fatal",
    "check_mode",
    "collections",
];

/// Keywords an `import_role` task takes; `when`, `tags` and `vars` pass to the role's tasks
/// (its `vars` rank as task vars, as in Ansible).
const IMPORT_ROLE_KEYWORDS: &[&str] = &["name", "when", "tags", "vars"];

/// Arguments of `import_role`.
const IMPORT_ROLE_ARGS: &[&str] = &["name", "tasks_from"];

/// Where role names are looked up, in order: `roles/` beside the playbook, each directory of
/// `DROVER_ROLES_PATH` then `ANSIBLE_ROLES_PATH` (colon separated), then the playbook's own
/// directory.
pub(super) fn search_path(dir: &Path) -> Vec<PathBuf> {
    let mut paths = vec![dir.join("roles")];
    for var in ["DROVER_ROLES_PATH", "ANSIBLE_ROLES_PATH"] {
        if let Some(value) = std::env::var_os(var) {
            paths.extend(std::env::split_paths(&value).filter(|p| !p.as_os_str().is_empty()));
        }
    }
    paths.push(dir.to_path_buf());
    paths
}

/// One use of a role: from `roles:`, a dependency in `meta/main.yml`, or `import_role`.
pub(super) struct RoleUse<'n> {
    pub(super) name: &'n Node,
    pub(super) tasks_from: Option<String>,
    /// The entry's `vars:`.
    pub(super) vars: RoleVars,
    pub(super) params: RoleVars,
    /// `roles:` entries and dependencies run once per play unless their params differ;
    /// `import_role` runs wherever it stands.
    pub(super) once: bool,
    pub(super) from: RoleFrom,
}

/// What marks a role being read, against cycles: its directory and tasks file.
pub(super) fn role_key(dir: &Path, tasks_from: Option<&str>) -> PathBuf {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    dir.join("tasks").join(tasks_from.unwrap_or("main"))
}

/// The directory of the file a source was read from.
pub(super) fn dir_of(source: &Source) -> PathBuf {
    Path::new(&source.name)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// `DIR/NAME.yml`, `DIR/NAME.yaml` or `DIR/NAME`, whichever exists first.
pub(super) fn yaml_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [
        format!("{name}.yml"),
        format!("{name}.yaml"),
        name.to_string(),
    ]
    .into_iter()
    .map(|file| dir.join(file))
    .find(|p| p.is_file())
}

impl Checker {
    /// Builds the play's task list from its sections, in Ansible's order: pre_tasks, flush
    /// handlers, roles, tasks, flush handlers, post_tasks (the last flush is the play's end).
    pub(super) fn play_sections(
        &mut self,
        play: &mut Play,
        sections: &[Option<(&Key, &Node)>; 4],
        inherit: &Inherit,
    ) {
        let [pre, roles, tasks, post] = sections;
        if play.phases.is_some() {
            for (key, _) in [pre, roles, post].into_iter().flatten() {
                self.problem(
                    key.span,
                    format!("`{}` is not supported in rollouts yet", key.name),
                    "not supported yet",
                    Some("put these tasks under a phase (`precheck:`, `verify:`, ...)".to_string()),
                );
            }
        }
        self.roles_seen.clear();
        self.roles_used.clear();
        let mut flat = Vec::new();
        let mut steps = Vec::new();
        if let Some((key, node)) = pre {
            steps.extend(self.steps(node, inherit, &mut flat));
            steps.extend(self.implicit_flush(key, "flush handlers (after pre_tasks)", &mut flat));
        }
        if let Some((_, node)) = roles {
            steps.extend(self.roles(node, inherit, &mut flat));
        }
        if let Some((_, node)) = tasks {
            steps.extend(self.steps(node, inherit, &mut flat));
        }
        if let Some((key, node)) = post {
            steps.extend(self.implicit_flush(key, super::super::POST_TASKS_FLUSH, &mut flat));
            steps.extend(self.steps(node, inherit, &mut flat));
        }
        play.tasks = flat;
        play.steps = steps;
        play.roles = std::mem::take(&mut self.roles_used);
        // Ansible lists the roles' handlers before the play's own.
        let mut handlers = std::mem::take(&mut self.role_handlers);
        let mut includes = std::mem::take(&mut self.role_handler_includes);
        for mut include in std::mem::take(&mut play.handler_includes) {
            include.task += handlers.len();
            includes.push(include);
        }
        handlers.append(&mut play.handlers);
        play.handlers = handlers;
        play.handler_includes = includes;
    }

    /// The `meta: flush_handlers` Ansible runs between sections; tagged `always` so tag
    /// selection never drops it, and named so `drover plan` says where it comes from.
    fn implicit_flush(&mut self, at: &Key, name: &str, flat: &mut Vec<Task>) -> Option<Step> {
        let task = self.implicit_task(at, name, "meta", "flush_handlers", &Inherit::default())?;
        flat.push(task);
        Some(Step::Task(flat.len() - 1))
    }

    /// `gather_facts: true`: Ansible's "Gathering Facts" task (`setup`) before the play's
    /// first task, tagged `always`, with the play's `become` and `environment`.
    pub(super) fn gather_facts(&mut self, at: &Key, inherit: &Inherit) -> Option<Task> {
        let play_only = Inherit {
            exec: inherit.exec.clone(),
            // A false `when` on the import_playbook skips gathering too, as in Ansible.
            when: self.imports.when.clone(),
            ..Inherit::default()
        };
        self.implicit_task(at, "Gathering Facts", "setup", "", &play_only)
    }

    /// A task drover adds to the play itself, pointing at the keyword that asked for it.
    fn implicit_task(
        &mut self,
        at: &Key,
        name: &str,
        module: &str,
        args: &str,
        inherit: &Inherit,
    ) -> Option<Task> {
        let node = |value: NodeValue| Node {
            value,
            span: at.span,
        };
        let key = |name: &str| Key {
            name: name.to_string(),
            span: at.span,
        };
        let args = if args.is_empty() {
            NodeValue::Map(Vec::new())
        } else {
            NodeValue::Str(args.to_string())
        };
        let task = node(NodeValue::Map(vec![
            (key("name"), node(NodeValue::Str(name.to_string()))),
            (key(module), node(args)),
            (key("tags"), node(NodeValue::Str("always".to_string()))),
        ]));
        self.task(&task, inherit)
    }

    /// `roles:` — a list of names, or of mappings `{role: NAME, when, tags, vars, PARAM: ..}`.
    fn roles(&mut self, node: &Node, inherit: &Inherit, flat: &mut Vec<Task>) -> Vec<Step> {
        let items = match &node.value {
            NodeValue::Seq(items) => items,
            NodeValue::Null => return Vec::new(),
            _ => {
                self.expect_kind(node, "`roles`", "a list of role names");
                return Vec::new();
            }
        };
        self.listed_roles(items, inherit, flat, "role")
    }

    /// The roles of a `roles:` list or of `dependencies:`, each once per play unless its
    /// params differ.
    fn listed_roles(
        &mut self,
        items: &[Node],
        inherit: &Inherit,
        flat: &mut Vec<Task>,
        what: &str,
    ) -> Vec<Step> {
        let mut steps = Vec::new();
        for item in items {
            let mut inner = inherit.clone();
            let Some((name, vars, params)) = self.role_entry(item, &mut inner, what) else {
                continue;
            };
            let role = RoleUse {
                name,
                tasks_from: None,
                vars,
                params,
                once: true,
                from: if what == "dependency" {
                    RoleFrom::Dependency
                } else {
                    RoleFrom::Play
                },
            };
            steps.extend(self.use_role(role, &inner, flat));
        }
        steps
    }

    /// A `roles:` entry or a `dependencies:` item: its name node, `vars:` and params; its
    /// `when` and `tags` go into `inner`.
    fn role_entry<'n>(
        &mut self,
        item: &'n Node,
        inner: &mut Inherit,
        what: &str,
    ) -> Option<(&'n Node, RoleVars, RoleVars)> {
        let mut params = RoleVars::empty(&self.source);
        let mut vars = RoleVars::empty(&self.source);
        if item.as_str().is_some() {
            return Some((item, vars, params));
        }
        let Some(entries) = item.as_map() else {
            self.expect_kind(item, &format!("a {what}"), "a role name or a mapping");
            return None;
        };
        let mut name = None;
        for (key, value) in entries {
            match key.name.as_str() {
                "role" | "name" => name = Some(value),
                "when" | "tags" => self.inherit_key(inner, &key.name, value),
                "vars" => match value.as_map() {
                    Some(entries) => vars.vars.extend(entries.iter().cloned()),
                    None if matches!(value.value, NodeValue::Null) => {}
                    None => self.expect_kind(value, "`vars`", "a mapping"),
                },
                later if ROLE_ENTRY_LATER.contains(&later) => self.problem(
                    key.span,
                    format!("`{later}` on a {what} is not supported by drover yet"),
                    "not supported yet",
                    Some(format!(
                        "a {what} takes: {}",
                        ROLE_ENTRY_KEYWORDS.join(", ")
                    )),
                ),
                _ => params.vars.push((key.clone(), value.clone())),
            }
        }
        let Some(name) = name else {
            self.problem(
                first_key_span(item),
                format!("this {what} names no role"),
                "no `role:`",
                Some("add `role: NAME`".to_string()),
            );
            return None;
        };
        Some((name, vars, params))
    }

    /// `import_role:` as a task: the role's tasks placed here (its handlers join the play's).
    pub(super) fn import_role(
        &mut self,
        node: &Node,
        role_key: &Key,
        args: &Node,
        inherit: &Inherit,
        flat: &mut Vec<Task>,
    ) -> Option<Block> {
        let mut inner = inherit.clone();
        let mut task_name = None;
        for (key, value) in node.as_map().unwrap_or_default() {
            match key.name.as_str() {
                k if k == role_key.name => {}
                "name" => task_name = value.scalar_text(),
                "when" | "tags" | "vars" => self.inherit_key(&mut inner, &key.name, value),
                other => self.keyword_elsewhere(key, other, IMPORT_ROLE_KEYWORDS, "import_role"),
            }
        }
        let args = self.import_role_args(args)?;
        let name = args.iter().find(|(k, _)| k.name == "name").map(|(_, v)| v);
        let Some(name) = name else {
            self.problem(
                args_span(node, role_key),
                "`import_role` needs `name`".to_string(),
                "no role name",
                Some("write `import_role: name=ROLE`".to_string()),
            );
            return None;
        };
        let tasks_from = args
            .iter()
            .find(|(k, _)| k.name == "tasks_from")
            .and_then(|(_, v)| v.scalar_text());
        let role = RoleUse {
            name,
            tasks_from,
            vars: RoleVars::empty(&self.source),
            params: RoleVars::empty(&self.source),
            once: false,
            from: RoleFrom::Task,
        };
        let steps = self.use_role(role, &inner, flat);
        Some(Block {
            name: task_name,
            block: steps,
            rescue: Vec::new(),
            always: Vec::new(),
            span: node.span,
        })
    }

    /// `import_role`'s arguments, as a mapping or as `name=X tasks_from=Y` words.
    fn import_role_args(&mut self, args: &Node) -> Option<Vec<(Key, Node)>> {
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
                            Some("write `import_role: name=ROLE`".to_string()),
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
                self.expect_kind(args, "`import_role`", "a mapping with `name`");
                return None;
            }
        };
        for (key, _) in &entries {
            if !IMPORT_ROLE_ARGS.contains(&key.name.as_str()) {
                self.problem(
                    key.span,
                    format!(
                        "`import_role` argument `{}` is not supported by drover",
                        key.name
                    ),
                    "not supported",
                    Some(format!(
                        "`import_role` takes: {}",
                        IMPORT_ROLE_ARGS.join(", ")
                    )),
                );
            }
        }
        Some(entries)
    }

    /// Reads one use of a role: its dependencies first (each once per play unless their
    /// params differ), then its tasks as a block; its handlers go to `role_handlers`.
    pub(super) fn use_role(
        &mut self,
        role: RoleUse<'_>,
        inherit: &Inherit,
        flat: &mut Vec<Task>,
    ) -> Vec<Step> {
        let Some(name) = role.name.as_str().filter(|n| !n.trim().is_empty()) else {
            self.expect_kind(role.name, "a role name", "a string");
            return Vec::new();
        };
        if name.contains("{{") || name.contains("{%") {
            self.problem(
                role.name.span,
                "roles are read before any host exists: a role name cannot be a template"
                    .to_string(),
                "templated role name",
                Some("write the name as plain text".to_string()),
            );
            return Vec::new();
        }
        let Some(dir) = self.find_role(name) else {
            let tried: Vec<String> = self
                .roles_path
                .iter()
                .map(|p| p.join(name).display().to_string())
                .collect();
            self.problem(
                role.name.span,
                format!("role `{name}` not found"),
                "no such role",
                Some(format!(
                    "looked in: {} (add directories with DROVER_ROLES_PATH or ANSIBLE_ROLES_PATH)",
                    tried.join(", ")
                )),
            );
            return Vec::new();
        };
        // A role may import itself for another tasks file; the same file again is a cycle.
        let key = role_key(&dir, role.tasks_from.as_deref());
        if self.importing.contains(&key) || self.importing.len() >= MAX_IMPORT_DEPTH {
            self.problem(
                role.name.span,
                format!("role `{name}` depends on itself"),
                "dependency cycle",
                None,
            );
            return Vec::new();
        }
        let params_text: Vec<String> = role
            .params
            .vars
            .iter()
            .chain(role.vars.vars.iter())
            .map(|(k, v)| format!("{}={}", k.name, v.to_json()))
            .collect();
        let seen = format!(
            "{}|{}|{}",
            key.display(),
            role.tasks_from.as_deref().unwrap_or("main"),
            params_text.join(",")
        );
        let meta = self.read_role_file(&dir.join("meta"), "main", role.name.span);
        let allow_duplicates = meta
            .as_ref()
            .and_then(|(_, root)| root.get("allow_duplicates"))
            .is_some_and(|v| matches!(v.value, NodeValue::Bool(true)));
        if role.once && !allow_duplicates {
            if self.roles_seen.contains(&seen) {
                return Vec::new();
            }
            self.roles_seen.push(seen);
        }
        let tasks_file = match &role.tasks_from {
            Some(from) => match yaml_file(&dir.join("tasks"), from) {
                Some(path) => Some(path),
                None => {
                    self.problem(
                        role.name.span,
                        format!("role `{name}` has no tasks file `{from}`"),
                        "no such tasks file",
                        Some(format!(
                            "looked for {}.yml",
                            dir.join("tasks").join(from).display()
                        )),
                    );
                    return Vec::new();
                }
            },
            None => yaml_file(&dir.join("tasks"), "main"),
        };
        let has_other = ["handlers", "meta", "defaults", "vars"]
            .iter()
            .any(|sub| yaml_file(&dir.join(sub), "main").is_some());
        if tasks_file.is_none() && (dir.join("tasks").is_dir() || !has_other) {
            self.problem(
                role.name.span,
                format!("role `{name}` has no tasks/main.yml"),
                "role without tasks",
                Some(format!(
                    "create {} (a role needs tasks/main.yml, or at least handlers, meta, defaults or vars)",
                    dir.join("tasks").join("main.yml").display()
                )),
            );
            return Vec::new();
        }
        let defaults = self.role_vars(&dir, "defaults", role.name.span);
        let vars = self.role_vars(&dir, "vars", role.name.span);
        // A role named by its path is called by its directory's name, as in Ansible.
        let role_name = match name.contains('/') {
            true => Path::new(name)
                .file_name()
                .map_or_else(|| name.to_string(), |n| n.to_string_lossy().into_owned()),
            false => name.to_string(),
        };
        if !self
            .roles_used
            .iter()
            .any(|(n, from)| *n == role_name && *from == role.from)
        {
            self.roles_used.push((role_name.clone(), role.from));
        }
        let scope = Arc::new(Role {
            name: role_name.clone(),
            dir: dir.clone(),
            defaults,
            vars,
            entry_vars: role.vars,
            params: role.params,
            from: role.from,
            parents: match (&self.current_role, role.from) {
                (Some(parent), RoleFrom::Task) => {
                    std::iter::once((parent.name.clone(), parent.dir.clone()))
                        .chain(parent.parents.iter().cloned())
                        .collect()
                }
                _ => Vec::new(),
            },
        });
        self.importing.push(key);
        let mut steps = Vec::new();
        if let Some((source, root)) = meta {
            steps.extend(self.dependencies(&source, &root, inherit, flat));
        }
        // A role used again (include_role of it once more) brings its handlers once.
        let handlers_known = self
            .role_handlers
            .iter()
            .any(|h| h.role.as_ref().is_some_and(|r| r.dir == dir));
        if !handlers_known
            && let Some((source, root)) =
                self.read_role_file(&dir.join("handlers"), "main", role.name.span)
        {
            let outer = std::mem::replace(&mut self.source, source);
            let handler_inherit = Inherit {
                tags: inherit.tags.clone(),
                vars: inherit.vars.clone(),
                ..Inherit::default()
            };
            let (role_handlers, includes) = self.handlers(&root, &handler_inherit);
            for mut include in includes {
                include.task += self.role_handlers.len();
                self.role_handler_includes.push(include);
            }
            for mut handler in role_handlers {
                handler.role = Some(scope.clone());
                self.role_handlers.push(handler);
            }
            self.source = outer;
        }
        let start = flat.len();
        let mut block = Vec::new();
        if let Some(path) = tasks_file
            && let Some((source, root)) = self.read_yaml(&path, role.name.span)
        {
            let outer = std::mem::replace(&mut self.source, source);
            let outer_role = self.current_role.replace(scope.clone());
            block = self.steps(&root, inherit, flat);
            self.current_role = outer_role;
            self.source = outer;
        }
        self.importing.pop();
        for task in flat[start..].iter_mut().filter(|t| t.role.is_none()) {
            task.role = Some(scope.clone());
        }
        steps.push(Step::Block(Block {
            name: Some(role_name),
            block,
            rescue: Vec::new(),
            always: Vec::new(),
            span: role.name.span,
        }));
        steps
    }

    /// `meta/main.yml`'s `dependencies`: roles run before this one.
    fn dependencies(
        &mut self,
        source: &Source,
        root: &Node,
        inherit: &Inherit,
        flat: &mut Vec<Task>,
    ) -> Vec<Step> {
        let outer = std::mem::replace(&mut self.source, source.clone());
        let mut steps = Vec::new();
        match root.get("dependencies").map(|d| &d.value) {
            None | Some(NodeValue::Null) => {}
            Some(NodeValue::Seq(items)) => {
                steps = self.listed_roles(items, inherit, flat, "dependency");
            }
            Some(_) => {
                if let Some(deps) = root.get("dependencies") {
                    self.expect_kind(deps, "`dependencies`", "a list of roles");
                }
            }
        }
        self.source = outer;
        steps
    }

    /// A role's `defaults/main.yml` or `vars/main.yml`: a mapping of variables.
    fn role_vars(&mut self, dir: &Path, sub: &str, at: Span) -> RoleVars {
        let Some((source, root)) = self.read_role_file(&dir.join(sub), "main", at) else {
            return RoleVars::empty(&self.source);
        };
        let vars = match &root.value {
            NodeValue::Map(entries) => entries.clone(),
            NodeValue::Null => Vec::new(),
            _ => {
                let message = format!("a role's {sub} file must be a mapping, not {}", root.kind());
                self.problem_in(&source, root.span, message, "here", None);
                Vec::new()
            }
        };
        RoleVars { vars, source }
    }

    fn read_role_file(&mut self, dir: &Path, name: &str, at: Span) -> Option<(Source, Node)> {
        let path = yaml_file(dir, name)?;
        self.read_yaml(&path, at)
    }

    /// A role's named directory: a path as given, else NAME under each search directory.
    pub(super) fn find_role(&self, name: &str) -> Option<PathBuf> {
        let given = Path::new(name);
        if given.is_absolute() {
            return given.is_dir().then(|| given.to_path_buf());
        }
        self.roles_path
            .iter()
            .map(|dir| dir.join(name))
            .find(|p| p.is_dir())
    }

    /// Top-level `- import_playbook: FILE`: the plays of FILE (relative to the importing
    /// file), read now; problems inside it point at it.
    pub(super) fn import_playbook(
        &mut self,
        node: &Node,
        file_key: &Key,
        file: &Node,
    ) -> Vec<Play> {
        let mut tags = Vec::new();
        let mut when = Vec::new();
        let mut vars: Vec<(Key, Node)> = Vec::new();
        for (key, value) in node.as_map().unwrap_or_default() {
            match key.name.as_str() {
                k if k == file_key.name => {}
                "name" => {}
                "tags" => tags = self.tags(value),
                "when" => when.extend(
                    super::conditions(value)
                        .into_iter()
                        .map(|c| (c, self.source.clone())),
                ),
                "vars" => match &value.value {
                    NodeValue::Map(entries) => vars.extend(entries.iter().cloned()),
                    NodeValue::Null => {}
                    _ => self.expect_kind(value, "`vars`", "a mapping"),
                },
                other => self.problem(
                    key.span,
                    format!("`import_playbook` does not take `{other}`"),
                    "unknown keyword",
                    Some("`import_playbook` takes: name, tags, when, vars".to_string()),
                ),
            }
        }
        let Some(text) = self.playbook_file_name(file, &vars) else {
            return Vec::new();
        };
        let dir = dir_of(&self.source);
        let path = dir.join(&text);
        if !path.is_file() {
            self.problem(
                file.span,
                format!(
                    "imported playbook `{text}` not found (looked in {})",
                    dir.display()
                ),
                "no such file",
                Some("a relative path is relative to the importing playbook".to_string()),
            );
            return Vec::new();
        }
        let Some(key) = self.not_importing(&path, file, &text) else {
            return Vec::new();
        };
        let Some((source, root)) = self.read_yaml(&path, file.span) else {
            return Vec::new();
        };
        let roles_path = search_path(&dir_of(&source));
        let outer_roles = std::mem::replace(&mut self.roles_path, roles_path);
        let outer = std::mem::replace(&mut self.source, source);
        let outer_tags = self.playbook_tags.len();
        self.playbook_tags.extend(tags);
        let outer_imports = self.imports.clone();
        self.imports.when.extend(when);
        self.imports.vars.extend(vars);
        self.importing.push(key);
        let plays = self.plays(&root);
        self.importing.pop();
        self.playbook_tags.truncate(outer_tags);
        self.imports = outer_imports;
        self.source = outer;
        self.roles_path = outer_roles;
        plays
    }
}

/// What the `import_playbook`s around a play give it: their `when` (on every task) and
/// `vars` (above the play's own), with `-e`, which a templated file name may use.
#[derive(Debug, Clone, Default)]
pub(super) struct PlaybookImports {
    pub(super) when: Vec<(Node, Source)>,
    pub(super) vars: Vec<(Key, Node)>,
    pub(super) extra_vars: crate::inventory::Vars,
}

impl Checker {
    /// An `import_playbook` file name; a template is rendered with the import's `vars`
    /// (and those of the imports around it) and `-e`, as Ansible renders it before any
    /// host exists.
    fn playbook_file_name(&mut self, file: &Node, vars: &[(Key, Node)]) -> Option<String> {
        let Some(text) = file.as_str().filter(|t| !t.trim().is_empty()) else {
            self.expect_kind(file, "`import_playbook`", "a file name");
            return None;
        };
        if !crate::template::has_template_syntax(text) {
            return Some(text.to_string());
        }
        let mut known = crate::template::LazyVars::default();
        for (key, value) in self.imports.vars.iter().chain(vars) {
            let written = crate::template::Written::At(self.source.clone(), value.span);
            known.put_template(&key.name, value.to_json(), written);
        }
        for (key, value) in &self.imports.extra_vars {
            known.put_template(
                key,
                value.clone(),
                crate::template::Written::Layer("extra vars"),
            );
        }
        let templates = crate::template::Templates::new();
        let ctx = known.context(&templates, &[]);
        let origin = crate::template::Origin::Node(&self.source, file.span);
        match templates.render_str(text, &ctx, origin) {
            Ok(name) if !name.trim().is_empty() => Some(name),
            Ok(_) => {
                self.expect_kind(file, "`import_playbook`", "a file name");
                None
            }
            Err(err) => {
                self.problem(
                    file.span,
                    format!("`import_playbook` file name: {err}"),
                    "cannot render",
                    Some(
                        "an imported playbook's name may use the import's `vars` and `-e`, \
                         never host variables (no host exists yet)"
                            .to_string(),
                    ),
                );
                None
            }
        }
    }
}

/// The span of a task's arguments, or of the task when it has none.
fn args_span(node: &Node, key: &Key) -> Span {
    node.get(&key.name).map_or(node.span, |v| v.span)
}

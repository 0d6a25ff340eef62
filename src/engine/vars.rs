//! Variables a task sees on a host, layered as Ansible layers them (lowest first):
//! role `defaults/` → inventory vars (group vars, `group_vars/`, host vars, `host_vars/`: see
//! `inventory::layers`) → play `vars` → `vars_files` → role `vars/` and the `vars:` of its
//! `roles:` entry → block and task `vars` (with those of the `import_tasks`/`import_role`
//! around the task, outermost first) → `include_vars` → registered results and `set_fact` →
//! role params → include params (the `vars:` and loop variables of the `include_tasks`
//! around the task) → `-e` extra vars → the magic variables (`inventory_hostname`, `groups`,
//! `hostvars`, `play_hosts`, …). The role layers are those of the task's own role (none
//! outside roles).
//!
//! Nothing is rendered here: a value written as a template is rendered when a template
//! reads it, against the task's whole context (see [`crate::template::LazyVars`]), as
//! Ansible does — so precedence picks the value first, and a play var may use a task var,
//! the loop item or a result registered by the task itself.

use crate::inventory::Vars;
use crate::playbook::{Playbook, Role, RoleVars, Source};
use crate::template::{LazyVars, Templates, Written};
use serde_json::{Map, Value};

/// What is the same for every host of a play.
pub struct PlayScope {
    /// Small magic variables, copied into each host's context.
    pub magic: Map<String, Value>,
    /// Magic variables that grow with the fleet (`hostvars`, `groups`, `play_hosts`, …):
    /// built once per play and shared by every context (cheap to clone), so a task on N
    /// hosts costs O(N), not O(N²).
    pub shared: Vec<(String, minijinja::Value)>,
    /// The play's `vars_files`, as each host reads them.
    pub vars_files: crate::plan::VarsFiles,
    /// The run's template environment, which contexts render their variables with.
    pub templates: Templates,
    /// The batch running now (`ansible_play_batch`), set as each batch starts.
    pub batch: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl PlayScope {
    /// `batch` is the one running now.
    pub fn start_batch(&self, batch: &[String]) {
        let mut current = match self.batch.lock() {
            Ok(current) => current,
            Err(poisoned) => poisoned.into_inner(),
        };
        *current = batch.to_vec();
    }
}

/// A host's variables at one task (unrendered: see the module's doc).
#[derive(Clone)]
pub struct HostVars {
    pub vars: LazyVars,
}

impl HostVars {
    /// These variables with `extra` (a loop item's variables, a result) on top.
    pub fn with(&self, extra: &Map<String, Value>) -> HostVars {
        HostVars {
            vars: self.vars.with(extra),
        }
    }

    /// Every variable rendered, for code that needs plain values (connection variables).
    pub fn resolved(&self, scope: &PlayScope) -> Map<String, Value> {
        self.vars.resolved(&scope.templates, &scope.shared)
    }

    /// Adds the reason to an "undefined variable `x`" message when `x` is a variable whose
    /// template failed (Ansible renders variables lazily, so an unused broken variable is
    /// no error).
    pub fn explain(&self, message: String) -> String {
        for (name, why) in self.vars.failures() {
            if message.contains(&format!("undefined variable `{name}`"))
                || message.contains(&format!("undefined variable `{name}."))
            {
                return format!("{message} (its definition failed: {why})");
            }
        }
        if message.contains("undefined variable `ansible_") {
            return format!(
                "{message} (facts are gathered only by plays with `gather_facts: true`, and \
                 drover gathers a small set: see the README's `setup` module)"
            );
        }
        message
    }
}

/// The `vars:` and loop variables of one `include_tasks` a host is inside.
#[derive(Debug, Clone)]
pub struct IncludeParams {
    /// The include's `vars:`, unrendered, with the file they were written in.
    pub vars: RoleVars,
    /// The loop variables of the include's item (`item`, `ansible_loop`, …).
    pub items: Map<String, Value>,
}

/// The layers of one host's variables above the inventory's, lowest first.
pub struct Layers<'a> {
    /// The files of the play's `vars_files` this host reads, in order.
    pub vars_files: Vec<&'a Vars>,
    /// Variables loaded by `include_vars`.
    pub included: &'a Map<String, Value>,
    /// Registered results and `set_fact`s.
    pub facts: &'a Map<String, Value>,
    pub extra_vars: &'a Vars,
    /// The role of the task: its defaults, vars and params.
    pub role: Option<&'a Role>,
    /// The `vars:` of the blocks, imports and task itself, outermost first.
    pub task_vars: &'a [RoleVars],
    /// The includes around the task, outermost first.
    pub include_params: &'a [IncludeParams],
}

/// Builds the variables for one host at one task.
#[allow(clippy::too_many_arguments)]
pub fn host_context(
    playbook: &Playbook,
    play_index: usize,
    scope: &PlayScope,
    host: &str,
    inventory_vars: &Vars,
    group_names: &[String],
    layers: &Layers<'_>,
) -> HostVars {
    let Layers {
        vars_files,
        included,
        facts,
        extra_vars,
        role,
        task_vars,
        include_params,
    } = layers;
    let play = &playbook.plays[play_index];
    let mut vars = LazyVars::default();
    if let Some(role) = role {
        put_layer(&mut vars, &role.defaults);
    }
    for (k, v) in inventory_vars {
        vars.put_template(k, v.clone(), Written::Layer("inventory"));
    }
    for (key, node) in &play.vars {
        let written = Written::At(play.source.clone(), node.span);
        vars.put_template(&key.name, node.to_json(), written);
    }
    for file in vars_files {
        for (k, v) in file.iter() {
            vars.put_template(k, v.clone(), Written::Layer("vars_files"));
        }
    }
    if let Some(role) = role {
        put_layer(&mut vars, &role.vars);
        put_layer(&mut vars, &role.entry_vars);
    }
    for layer in task_vars.iter() {
        put_layer(&mut vars, layer);
    }
    for layer in [*included, *facts] {
        for (k, v) in layer {
            vars.put(k, v.clone());
        }
    }
    if let Some(role) = role {
        put_layer(&mut vars, &role.params);
    }
    for params in include_params.iter() {
        put_layer(&mut vars, &params.vars);
        for (k, v) in &params.items {
            vars.put(k, v.clone());
        }
    }
    for (k, v) in extra_vars.iter() {
        vars.put_template(k, v.clone(), Written::Layer("extra vars"));
    }
    for (k, v) in &scope.magic {
        vars.put(k, v.clone());
    }
    put_host_names(&mut vars, host, group_names);
    if let Some(role) = role {
        vars.put("role_name", Value::from(role.name.clone()));
        vars.put("ansible_role_name", Value::from(role.name.clone()));
        let path = std::path::absolute(&role.dir).unwrap_or_else(|_| role.dir.clone());
        vars.put("role_path", Value::from(path.display().to_string()));
        if !role.parents.is_empty() {
            let names: Vec<&str> = role.parents.iter().map(|(n, _)| n.as_str()).collect();
            let paths: Vec<String> = role
                .parents
                .iter()
                .map(|(_, dir)| {
                    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
                    dir.display().to_string()
                })
                .collect();
            vars.put("ansible_parent_role_names", Value::from(names));
            vars.put("ansible_parent_role_paths", Value::from(paths));
        }
    }
    HostVars { vars }
}

/// `inventory_hostname`, `inventory_hostname_short` and `group_names` (`hostvars[h]` has
/// them too).
pub fn put_host_names(vars: &mut LazyVars, host: &str, group_names: &[String]) {
    vars.put("inventory_hostname", Value::from(host));
    vars.put(
        "inventory_hostname_short",
        Value::from(host.split('.').next().unwrap_or(host)),
    );
    vars.put("group_names", Value::from(group_names.to_vec()));
}

/// A layer written in the playbook or a role's file: each value a template, rendered on use.
fn put_layer(vars: &mut LazyVars, layer: &RoleVars) {
    for (key, node) in &layer.vars {
        let written = Written::At(layer.source.clone(), node.span);
        vars.put_template(&key.name, node.to_json(), written);
    }
}

/// The minijinja view of a context, with the shared `hostvars`/`groups` attached.
pub fn jinja(scope: &PlayScope, vars: &HostVars) -> minijinja::Value {
    vars.vars.context(&scope.templates, &scope.shared)
}

/// `file:line:col` of a task, for events.
pub fn location(source: &Source, span: crate::playbook::Span) -> String {
    source.location(span)
}

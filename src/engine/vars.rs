//! Variables a task sees on a host, layered as Ansible layers them (lowest first):
//! role `defaults/` → inventory vars (group vars, `group_vars/`, host vars, `host_vars/`: see
//! `inventory::layers`) → play `vars` → `vars_files` → role `vars/` → `include_vars` →
//! registered results and `set_fact` → role params → include params (the `vars:` and loop
//! variable of the `include_tasks` around the task) → `-e` extra vars, plus the magic
//! variables (`inventory_hostname`, `groups`, `hostvars`, `play_hosts`, …). The role layers
//! are those of the task's own role (none outside roles).
//!
//! Variables whose values are templates are rendered when the context is built, in layer
//! order, so a play var may refer to an inventory var and to play vars defined above it.

use crate::inventory::Vars;
use crate::playbook::{Playbook, Role, Source};
use crate::template::{Origin, TemplateError, Templates, from_json, has_template_syntax};
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
}

/// A host's variables at one task, and the variables whose templates could not be rendered.
pub struct HostVars {
    pub vars: Map<String, Value>,
    /// Variables left undefined because their template failed, with why; a task that uses
    /// one is told the reason (Ansible renders variables lazily, so an unused broken variable
    /// is no error).
    pub unresolved: Vec<(String, TemplateError)>,
}

impl HostVars {
    /// Adds the reason to an "undefined variable `x`" message when `x` is unresolved.
    pub fn explain(&self, message: String) -> String {
        for (name, why) in &self.unresolved {
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
    /// The `vars:` and loop variables of the includes around the task, outermost first.
    pub include_params: &'a [Map<String, Value>],
}

/// Builds the variables for one host at one task.
#[allow(clippy::too_many_arguments)]
pub fn host_context(
    templates: &Templates,
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
        include_params,
    } = layers;
    let params_of_include = |k: &str| include_params.iter().any(|p| p.contains_key(k));
    let mut vars: Map<String, Value> = scope.magic.clone();
    vars.insert("inventory_hostname".into(), Value::from(host));
    vars.insert(
        "inventory_hostname_short".into(),
        Value::from(host.split('.').next().unwrap_or(host)),
    );
    vars.insert("group_names".into(), Value::from(group_names.to_vec()));
    if let Some(role) = role {
        for (key, node) in &role.defaults.vars {
            vars.insert(key.name.clone(), node.to_json());
        }
    }
    for (k, v) in inventory_vars {
        vars.insert(k.clone(), v.clone());
    }
    // Layers above play vars are known from the start, so templates in inventory and play
    // variables can use them; they are inserted again in order below.
    let files: Vars = vars_files
        .iter()
        .flat_map(|file| file.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect();
    vars.extend(files.iter().map(|(k, v)| (k.clone(), v.clone())));
    for layer in [*included, *facts] {
        vars.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    for layer in include_params.iter() {
        vars.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    for (k, v) in extra_vars.iter() {
        vars.insert(k.clone(), v.clone());
    }
    let params = |k: &str| role.is_some_and(|r| r.params.has(k));
    let above_role_vars = |k: &str| {
        included.contains_key(k)
            || facts.contains_key(k)
            || params_of_include(k)
            || extra_vars.contains_key(k)
    };
    let above_files =
        |k: &str| above_role_vars(k) || params(k) || role.is_some_and(|r| r.vars.has(k));
    let overridden = |k: &str| above_files(k) || files.contains_key(k);
    let mut unresolved = Vec::new();
    // Inventory vars may hold templates (`url: "http://{{ ansible_host }}"`).
    let layer = inventory_vars.iter().filter(|(k, _)| !overridden(k));
    render_layer(
        templates,
        scope,
        layer,
        "inventory",
        &mut vars,
        &mut unresolved,
    );
    let play = &playbook.plays[play_index];
    for (key, node) in &play.vars {
        if overridden(&key.name) {
            continue;
        }
        if !node_contains_template(node) {
            vars.insert(key.name.clone(), node.to_json());
            continue;
        }
        match templates.render_node(node, &jinja(scope, &vars), &play.source) {
            Ok(value) => {
                vars.insert(key.name.clone(), value);
            }
            Err(err) => {
                vars.remove(&key.name);
                unresolved.push((key.name.clone(), err));
            }
        }
    }
    // `vars_files` values may be templates too (over inventory and play vars).
    let layer = files.iter().filter(|(k, _)| !above_files(k));
    render_layer(
        templates,
        scope,
        layer,
        "vars_files",
        &mut vars,
        &mut unresolved,
    );
    if let Some(role) = role {
        let ctx = RoleLayers {
            templates,
            scope,
            vars: &mut vars,
            unresolved: &mut unresolved,
        };
        let above_params = |k: &str| params_of_include(k) || extra_vars.contains_key(k);
        ctx.apply(
            role,
            inventory_vars,
            play,
            &files,
            &above_role_vars,
            &above_params,
        );
    }
    HostVars { vars, unresolved }
}

/// Puts a role's layers at their places once the play's are in: `vars/` above `vars_files`
/// (below `include_vars`, facts and extra vars), params above facts (below extra vars), and
/// templates in `defaults/` rendered last, over everything, if no layer overrides them.
struct RoleLayers<'a> {
    templates: &'a Templates,
    scope: &'a PlayScope,
    vars: &'a mut Map<String, Value>,
    unresolved: &'a mut Vec<(String, TemplateError)>,
}

impl RoleLayers<'_> {
    fn apply(
        mut self,
        role: &Role,
        inventory_vars: &Vars,
        play: &crate::playbook::Play,
        files: &Vars,
        above_role_vars: &dyn Fn(&str) -> bool,
        above_params: &dyn Fn(&str) -> bool,
    ) {
        let set_by_params = |k: &str| role.params.has(k) || above_params(k);
        for (key, node) in &role.vars.vars {
            if !above_role_vars(&key.name) && !set_by_params(&key.name) {
                self.put(&key.name, node, &role.vars.source);
            }
        }
        for (key, node) in &role.params.vars {
            if !above_params(&key.name) {
                self.put(&key.name, node, &role.params.source);
            }
        }
        for (key, node) in &role.defaults.vars {
            let k = key.name.as_str();
            let overridden = inventory_vars.contains_key(k)
                || play.vars.iter().any(|(p, _)| p.name == k)
                || files.contains_key(k)
                || role.vars.has(k)
                || above_role_vars(k)
                || set_by_params(k);
            if !overridden && node_contains_template(node) {
                self.put(k, node, &role.defaults.source);
            }
        }
    }

    fn put(&mut self, name: &str, node: &crate::playbook::Node, source: &Source) {
        if !node_contains_template(node) {
            self.vars.insert(name.to_string(), node.to_json());
            return;
        }
        match self
            .templates
            .render_node(node, &jinja(self.scope, self.vars), source)
        {
            Ok(value) => {
                self.vars.insert(name.to_string(), value);
            }
            Err(err) => {
                self.vars.remove(name);
                self.unresolved.push((name.to_string(), err));
            }
        }
    }
}

/// Renders the values of `layer` that are templates, in order, each over the context so far;
/// a value whose template fails is left undefined and recorded as unresolved.
fn render_layer<'a>(
    templates: &Templates,
    scope: &PlayScope,
    layer: impl Iterator<Item = (&'a String, &'a Value)>,
    origin: &str,
    vars: &mut Map<String, Value>,
    unresolved: &mut Vec<(String, TemplateError)>,
) {
    for (k, v) in layer {
        if !contains_template(v) {
            continue;
        }
        match templates.render_json(v, &jinja(scope, vars), Origin::File(origin)) {
            Ok(rendered) => {
                vars.insert(k.clone(), rendered);
            }
            Err(err) => {
                vars.remove(k);
                unresolved.push((k.clone(), err));
            }
        }
    }
}

/// The minijinja view of a context, with the shared `hostvars`/`groups` attached.
pub fn jinja(scope: &PlayScope, vars: &Map<String, Value>) -> minijinja::Value {
    let mut map: std::collections::BTreeMap<String, minijinja::Value> = vars
        .iter()
        .map(|(k, v)| (k.clone(), from_json(v)))
        .collect();
    for (name, value) in &scope.shared {
        map.insert(name.clone(), value.clone());
    }
    minijinja::Value::from(map)
}

fn contains_template(value: &Value) -> bool {
    match value {
        Value::String(s) => has_template_syntax(s),
        Value::Array(items) => items.iter().any(contains_template),
        Value::Object(map) => map.values().any(contains_template),
        _ => false,
    }
}

fn node_contains_template(node: &crate::playbook::Node) -> bool {
    use crate::playbook::NodeValue;
    match &node.value {
        NodeValue::Str(s) => has_template_syntax(s),
        NodeValue::Seq(items) => items.iter().any(node_contains_template),
        NodeValue::Map(entries) => entries.iter().any(|(_, v)| node_contains_template(v)),
        _ => false,
    }
}

/// `file:line:col` of a task, for events.
pub fn location(source: &Source, span: crate::playbook::Span) -> String {
    source.location(span)
}

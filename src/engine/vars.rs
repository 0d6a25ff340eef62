//! Variables a task sees on a host, layered as Ansible layers them (lowest first):
//! inventory group and host vars → play `vars` → registered results → `-e` extra vars, plus the
//! magic variables (`inventory_hostname`, `groups`, `hostvars`, `play_hosts`, …).
//!
//! Variables whose values are templates are rendered when the context is built, in layer
//! order, so a play var may refer to an inventory var and to play vars defined above it.

use crate::inventory::Vars;
use crate::playbook::{Playbook, Source};
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
        message
    }
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
    facts: &Map<String, Value>,
    extra_vars: &Vars,
) -> HostVars {
    let mut vars: Map<String, Value> = scope.magic.clone();
    vars.insert("inventory_hostname".into(), Value::from(host));
    vars.insert(
        "inventory_hostname_short".into(),
        Value::from(host.split('.').next().unwrap_or(host)),
    );
    vars.insert("group_names".into(), Value::from(group_names.to_vec()));
    for (k, v) in inventory_vars {
        vars.insert(k.clone(), v.clone());
    }
    // Registered results and extra vars are known from the start, so templates in inventory
    // and play variables can use them.
    for (k, v) in facts {
        vars.insert(k.clone(), v.clone());
    }
    for (k, v) in extra_vars {
        vars.insert(k.clone(), v.clone());
    }
    let overridden = |k: &str| facts.contains_key(k) || extra_vars.contains_key(k);
    let mut unresolved = Vec::new();
    // Inventory vars may hold templates (`url: "http://{{ ansible_host }}"`).
    for (k, v) in inventory_vars {
        if overridden(k) || !contains_template(v) {
            continue;
        }
        match templates.render_json(v, &jinja(scope, &vars), Origin::File("inventory")) {
            Ok(rendered) => {
                vars.insert(k.clone(), rendered);
            }
            Err(err) => {
                vars.remove(k);
                unresolved.push((k.clone(), err));
            }
        }
    }
    let play = &playbook.plays[play_index];
    for (key, node) in &play.vars {
        if overridden(&key.name) {
            continue;
        }
        if !node_contains_template(node) {
            vars.insert(key.name.clone(), node.to_json());
            continue;
        }
        match templates.render_node(node, &jinja(scope, &vars), &playbook.source) {
            Ok(value) => {
                vars.insert(key.name.clone(), value);
            }
            Err(err) => {
                vars.remove(&key.name);
                unresolved.push((key.name.clone(), err));
            }
        }
    }
    HostVars { vars, unresolved }
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

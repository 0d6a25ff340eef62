//! Rendering a playbook's templates for the plan: with each host's variables as far as the
//! plan knows them ([`Known`]), the same on every host or per host, or left as written with
//! what it waits for (a fact a step registers at run time, the hop, a secret).

use crate::engine::Known;
use crate::journal::looks_secret;
use crate::playbook::{Node, NodeValue, Play, Role, Source, Span, Task};
use crate::template::{Templates, has_template_syntax};
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// A templated value as the plan shows it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Shown {
    /// As written.
    pub written: String,
    /// Rendered, the same on every host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Rendered, when it differs from host to host.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub per_host: IndexMap<String, String>,
    /// What it waits for when it cannot be rendered yet: variables a step registers at run
    /// time, `hop`, `lookup`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// Secret variables it reads: never rendered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secret: Vec<String>,
    /// Variables it reads that nothing the plan knows defines (nor a step registers).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undefined: Vec<String>,
    /// It reads the loop's item: one value per item.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub per_item: bool,
}

impl Shown {
    pub fn literal(text: String) -> Shown {
        Shown {
            value: Some(text.clone()),
            written: text,
            ..Shown::default()
        }
    }

    /// The rendered value when there is one for every host, else the template.
    pub fn text(&self) -> &str {
        self.value.as_deref().unwrap_or(&self.written)
    }

    pub fn is_template(&self) -> bool {
        has_template_syntax(&self.written)
    }

    /// Marks what a loop supplies (`loop_var`, `index_var`, `ansible_loop`) as per item
    /// rather than waited for.
    pub fn in_loop(mut self, loop_vars: &[&str]) -> Shown {
        let before = self.needs.len();
        self.needs.retain(|n| !loop_vars.contains(&n.as_str()));
        self.per_item = self.needs.len() < before;
        self
    }
}

/// Renders one play's templates over its hosts.
pub struct Render<'a> {
    known: &'a Known,
    templates: Templates,
    play: usize,
    hosts: &'a [String],
    /// Names a run only learns as it goes: registered results, `set_fact`s, loop variables,
    /// `hop`.
    runtime: HashSet<String>,
    contexts: RefCell<HashMap<(String, usize, String), Option<minijinja::Value>>>,
}

impl<'a> Render<'a> {
    pub fn new(known: &'a Known, play_index: usize, play: &Play, hosts: &'a [String]) -> Self {
        Render {
            known,
            templates: Templates::new(),
            play: play_index,
            hosts,
            runtime: runtime_names(play),
            contexts: RefCell::new(HashMap::new()),
        }
    }

    pub fn hosts(&self) -> &[String] {
        self.hosts
    }

    /// `node` rendered for every host of the play.
    pub fn shown(&self, node: &Node, source: &Source, role: Option<&Role>) -> Shown {
        self.shown_on(self.hosts, node, source, role, &[])
    }

    /// `node` rendered for `hosts`, with `extra` variables in scope (`hop`, a loop item).
    pub fn shown_on(
        &self,
        hosts: &[String],
        node: &Node,
        source: &Source,
        role: Option<&Role>,
        extra: &[(&str, Value)],
    ) -> Shown {
        let written = written(node);
        let mut shown = Shown {
            written: written.clone(),
            ..Shown::default()
        };
        if !node_has_template(node) {
            shown.value = Some(written);
            return shown;
        }
        let read = self.variables_read(node);
        shown.secret = read.iter().filter(|n| looks_secret(n)).cloned().collect();
        if !shown.secret.is_empty() {
            return shown;
        }
        if strings(node).any(|s| s.contains("lookup(") || s.contains("query(")) {
            // A lookup runs on the control machine: the plan does not run it.
            shown.needs.push("lookup".to_string());
            return shown;
        }
        let mut values: IndexMap<String, String> = IndexMap::new();
        for host in hosts {
            match self.value_on(node, source, role, host, extra) {
                Ok(value) => {
                    let text = match value {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    values.insert(host.clone(), text);
                }
                Err(name) => {
                    let runtime = self.runtime.contains(&name) || name.starts_with("ansible_");
                    let list = if runtime {
                        &mut shown.needs
                    } else {
                        &mut shown.undefined
                    };
                    if !list.contains(&name) {
                        list.push(name);
                    }
                }
            }
        }
        if !shown.needs.is_empty() || !shown.undefined.is_empty() || values.is_empty() {
            return shown;
        }
        let first = values.values().next().cloned();
        if values.values().all(|v| Some(v) == first.as_ref()) {
            shown.value = first;
        } else {
            shown.per_host = values;
        }
        shown
    }

    /// A name (or other text) rendered like a node.
    pub fn text_on(
        &self,
        hosts: &[String],
        text: &str,
        source: &Source,
        span: Span,
        role: Option<&Role>,
        extra: &[(&str, Value)],
    ) -> Shown {
        let node = Node {
            value: NodeValue::Str(text.to_string()),
            span,
        };
        self.shown_on(hosts, &node, source, role, extra)
    }

    /// A task's name on one host (with `extra`: the hop, an item): rendered, or as written.
    pub fn name_on(&self, task: &Task, host: &str, extra: &[(&str, Value)]) -> String {
        let name = task.display_name();
        if !has_template_syntax(&name) {
            return name;
        }
        let shown = self.text_on(
            &[host.to_string()],
            &name,
            &task.source,
            task.span,
            task.role.as_deref(),
            extra,
        );
        shown.text().to_string()
    }

    /// `node`'s value on one host, or the variable it lacks (or why it failed).
    pub fn value_on(
        &self,
        node: &Node,
        source: &Source,
        role: Option<&Role>,
        host: &str,
        extra: &[(&str, Value)],
    ) -> Result<Value, String> {
        let Some(ctx) = self.context(host, role, extra) else {
            return Err(format!("{host}'s variables"));
        };
        match self.templates.render_node(node, &ctx, source) {
            Ok(value) => Ok(value),
            Err(err) => {
                let name = err
                    .variable
                    .as_deref()
                    .and_then(|v| v.split('.').next())
                    .map(str::to_string);
                Err(name.unwrap_or(err.message))
            }
        }
    }

    fn context(
        &self,
        host: &str,
        role: Option<&Role>,
        extra: &[(&str, Value)],
    ) -> Option<minijinja::Value> {
        let role_key = role.map_or(0, |r| r as *const Role as usize);
        let extra_key = extra
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        let key = (host.to_string(), role_key, extra_key);
        if let Some(ctx) = self.contexts.borrow().get(&key) {
            return ctx.clone();
        }
        let ctx = self.known.context(self.play, host, role, extra);
        self.contexts.borrow_mut().insert(key, ctx.clone());
        ctx
    }

    fn variables_read(&self, node: &Node) -> Vec<String> {
        strings(node)
            .flat_map(|s| self.templates.variables_read(s, false).unwrap_or_default())
            .collect()
    }

    /// The variables a task reads in its arguments, conditions and loop.
    pub fn reads(&self, task: &Task) -> Vec<String> {
        let mut names = self.variables_read(&task.args);
        for node in task.when.iter().chain(task.loop_items.iter()) {
            names.extend(self.variables_read(node));
        }
        names
    }
}

impl Shown {
    /// What to show (the rendered value, else the template) and, when it is not one value
    /// for every host, why: per-host values, what it waits for, a secret it reads.
    pub fn describe(&self) -> (String, Option<String>) {
        let main = self.text().to_string();
        if self.value.is_some() {
            return (main, None);
        }
        if !self.secret.is_empty() {
            return (
                main,
                Some(format!(
                    "not shown: it reads the secret `{}`",
                    self.secret.join("`, `")
                )),
            );
        }
        if let Some((host, value)) = self.per_host.first() {
            // One example: the JSON plan has every host's value.
            return (
                main,
                Some(format!(
                    "per host, e.g. {host}: {}",
                    value.split_whitespace().collect::<Vec<_>>().join(" ")
                )),
            );
        }
        if self.needs.iter().any(|n| n == "lookup") {
            return (main, Some("a lookup, run at run time".to_string()));
        }
        if self.per_item && self.needs.is_empty() && self.undefined.is_empty() {
            return (main, Some("per item".to_string()));
        }
        if !self.needs.is_empty() {
            return (
                main,
                Some(format!(
                    "known at run time: it reads `{}`",
                    self.needs.join("`, `")
                )),
            );
        }
        if !self.undefined.is_empty() {
            return (
                main,
                Some(format!(
                    "not rendered: `{}` is not defined here",
                    self.undefined.join("`, `")
                )),
            );
        }
        (main, None)
    }
}

/// A node as written, on one line: a string as it is, anything else as compact JSON.
pub fn written(node: &Node) -> String {
    match node.to_json() {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn node_has_template(node: &Node) -> bool {
    strings(node).any(has_template_syntax)
}

/// Every string in a node tree.
fn strings(node: &Node) -> Box<dyn Iterator<Item = &str> + '_> {
    match &node.value {
        NodeValue::Str(s) => Box::new(std::iter::once(s.as_str())),
        NodeValue::Seq(items) => Box::new(items.iter().flat_map(strings)),
        NodeValue::Map(entries) => Box::new(entries.iter().flat_map(|(_, v)| strings(v))),
        _ => Box::new(std::iter::empty()),
    }
}

/// What the play's steps register or set as they run, their loop variables, and `hop`.
fn runtime_names(play: &Play) -> HashSet<String> {
    let mut names: HashSet<String> = ["hop", "item", "ansible_loop"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for task in super::steps::every_task(play) {
        names.extend(task.register.clone());
        names.insert(task.loop_control.loop_var.clone());
        names.extend(task.loop_control.index_var.clone());
        if task.module == "set_fact"
            && let Some(entries) = task.args.as_map()
        {
            names.extend(entries.iter().map(|(k, _)| k.name.clone()));
        }
    }
    names
}

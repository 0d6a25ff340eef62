//! Variables templated when a template reads them, as Ansible templates its variables: a
//! value written as a template (`url: "http://{{ host }}:{{ port }}"`) is kept as written
//! and rendered on first use, against the whole context of that use — every layer's final
//! value, the loop item, a result registered a moment ago. So precedence decides *which*
//! value a name has before anything is rendered, and a variable may use names defined in
//! any layer, above or below its own.
//!
//! Only values from trusted layers (the playbook, inventory, variable files, `-e`) are
//! templates; data (registered results, facts, loop items) is never rendered, whatever it
//! holds, as Ansible marks module output unsafe.

use super::{Origin, TemplateError, Templates, from_json, has_template_syntax};
use crate::playbook::{Source, Span};
use minijinja::Value as JinjaValue;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Where a variable whose value is a template was written, for its errors.
#[derive(Debug, Clone)]
pub enum Written {
    /// A playbook value (play, role, block, task or include `vars`).
    At(Source, Span),
    /// A value of a layer without spans: `inventory`, `vars_files`, `extra vars`.
    Layer(&'static str),
}

/// One context's variables before rendering: every name's final value, with those that are
/// templates marked. Cheap to extend for a loop item or a result ([`LazyVars::with`]).
#[derive(Debug, Clone, Default)]
pub struct LazyVars {
    values: Map<String, Value>,
    templated: Arc<HashMap<String, Written>>,
    /// Templates that failed while rendering, shared by every context made from these
    /// variables, so an error that names such a variable can say why it is undefined.
    failures: Arc<Mutex<Vec<(String, TemplateError)>>>,
}

impl LazyVars {
    /// `name` is `value`, as data: never rendered.
    pub fn put(&mut self, name: &str, value: Value) {
        if self.templated.contains_key(name) {
            Arc::make_mut(&mut self.templated).remove(name);
        }
        self.values.insert(name.to_string(), value);
    }

    /// `name` is `value` as written in a trusted layer: rendered on use if it holds a
    /// template.
    pub fn put_template(&mut self, name: &str, value: Value, written: Written) {
        if contains_template(&value) {
            Arc::make_mut(&mut self.templated).insert(name.to_string(), written);
            self.values.insert(name.to_string(), value);
        } else {
            self.put(name, value);
        }
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Drops every variable `keep` says no to (a plan leaves secret-looking names out).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let dropped: Vec<String> = self.values.keys().filter(|k| !keep(k)).cloned().collect();
        for name in dropped {
            self.values.remove(&name);
            if self.templated.contains_key(&name) {
                Arc::make_mut(&mut self.templated).remove(&name);
            }
        }
    }

    /// The value as stored: unrendered for a template.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.values.keys()
    }

    /// These variables with `extra` (data: loop variables, a registered result) on top.
    pub fn with(&self, extra: &Map<String, Value>) -> LazyVars {
        let mut out = self.clone();
        for (k, v) in extra {
            out.put(k, v.clone());
        }
        out
    }

    /// Like [`LazyVars::with`], but `extra` only fills names not defined yet.
    pub fn with_defaults(&self, extra: &Map<String, Value>) -> LazyVars {
        let mut out = self.clone();
        for (k, v) in extra {
            if !out.contains_key(k) {
                out.put(k, v.clone());
            }
        }
        out
    }

    /// The minijinja context over these variables, with `shared` values (magic variables
    /// built once per play) above them.
    pub fn context(&self, templates: &Templates, shared: &[(String, JinjaValue)]) -> JinjaValue {
        JinjaValue::from_object(Scope {
            vars: self.clone(),
            shared: shared.to_vec(),
            templates: templates.clone(),
            cache: Mutex::default(),
            rendering: Mutex::default(),
        })
    }

    /// Every variable rendered (those whose template fails are left out), for code that
    /// needs plain values: connection variables, a delegate's.
    pub fn resolved(
        &self,
        templates: &Templates,
        shared: &[(String, JinjaValue)],
    ) -> Map<String, Value> {
        if self.templated.is_empty() {
            return self.values.clone();
        }
        let ctx = self.context(templates, shared);
        let mut out = Map::new();
        for name in self.values.keys() {
            if let Ok(value) = ctx.get_attr(name)
                && !value.is_undefined()
            {
                out.insert(name.clone(), super::to_json(&value));
            }
        }
        out
    }

    /// Variables whose templates failed so far, with why.
    pub fn failures(&self) -> Vec<(String, TemplateError)> {
        lock(&self.failures).clone()
    }

    fn failed(&self, name: &str, error: TemplateError) {
        let mut failures = lock(&self.failures);
        if !failures.iter().any(|(n, _)| n == name) {
            failures.push((name.to_string(), error));
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The context a template sees: a variable is looked up (and, if a template, rendered
/// against this same context) when read, then kept for the rest of this context's life.
struct Scope {
    vars: LazyVars,
    shared: Vec<(String, JinjaValue)>,
    templates: Templates,
    /// Rendered values; `None` for a template that failed.
    cache: Mutex<HashMap<String, Option<JinjaValue>>>,
    /// Variables being rendered, innermost last: a template that needs itself is a loop.
    rendering: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("vars", &self.vars.values.len())
            .finish()
    }
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &JinjaValue) -> Option<JinjaValue> {
        let name = key.as_str()?;
        if let Some((_, value)) = self.shared.iter().find(|(n, _)| n == name) {
            return Some(value.clone());
        }
        if let Some(cached) = lock(&self.cache).get(name) {
            return cached.clone();
        }
        let value = match self.vars.values.get(name) {
            Some(raw) => match self.vars.templated.get(name) {
                Some(written) => self.render(name, raw, written),
                None => Some(from_json(raw)),
            },
            // Ansible's `vars`: every variable by name (`vars['app_' ~ kind]`).
            None if name == "vars" => Some(JinjaValue::from_dyn_object(self.clone())),
            None => return None,
        };
        lock(&self.cache).insert(name.to_string(), value.clone());
        value
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut names: Vec<JinjaValue> = self
            .vars
            .values
            .keys()
            .map(|k| JinjaValue::from(k.as_str()))
            .collect();
        for (name, _) in &self.shared {
            if !self.vars.values.contains_key(name) {
                names.push(JinjaValue::from(name.as_str()));
            }
        }
        Enumerator::Values(names)
    }
}

impl Scope {
    /// Renders the template `raw` of `name` against this context (the lock is not held
    /// meanwhile: the template reads other variables through this same scope).
    fn render(self: &Arc<Self>, name: &str, raw: &Value, written: &Written) -> Option<JinjaValue> {
        {
            let mut rendering = lock(&self.rendering);
            if rendering.iter().any(|n| n == name) {
                let chain = rendering.join(" -> ");
                drop(rendering);
                let location = match written {
                    Written::At(source, span) => source.location(*span),
                    Written::Layer(layer) => (*layer).to_string(),
                };
                self.vars.failed(
                    name,
                    TemplateError {
                        location,
                        message: format!(
                            "recursive loop detected in template: `{name}` needs itself ({chain} -> {name})"
                        ),
                        variable: None,
                    },
                );
                return None;
            }
            rendering.push(name.to_string());
        }
        let ctx = JinjaValue::from_dyn_object(self.clone());
        let result = match written {
            Written::At(source, span) => {
                self.templates
                    .render_json(raw, &ctx, Origin::Node(source, *span))
            }
            Written::Layer(layer) => self.templates.render_json(raw, &ctx, Origin::File(layer)),
        };
        lock(&self.rendering).retain(|n| n != name);
        match result {
            Ok(value) => Some(from_json(&value)),
            Err(err) => {
                self.vars.failed(name, err);
                None
            }
        }
    }
}

fn contains_template(value: &Value) -> bool {
    match value {
        Value::String(s) => has_template_syntax(s),
        Value::Array(items) => items.iter().any(contains_template),
        Value::Object(map) => map.values().any(contains_template),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(vars: &LazyVars, expr: &str) -> Result<String, TemplateError> {
        let t = Templates::new();
        let ctx = vars.context(&t, &[]);
        t.eval(expr, &ctx, Origin::File("x")).map(|v| v.to_string())
    }

    #[test]
    fn a_template_renders_with_the_final_values_of_every_layer() {
        let mut vars = LazyVars::default();
        vars.put_template(
            "url",
            json!("http://{{ host }}:{{ port }}"),
            Written::Layer("a"),
        );
        vars.put_template("host", json!("db1"), Written::Layer("a"));
        vars.put("port", json!(5432));
        assert_eq!(eval(&vars, "url").unwrap(), "http://db1:5432");
        // A later layer (or a loop item) changes what the template gives.
        let later = vars.with(&Map::from_iter([("port".to_string(), json!(6432))]));
        assert_eq!(eval(&later, "url").unwrap(), "http://db1:6432");
    }

    #[test]
    fn data_is_never_rendered_and_loops_are_errors() {
        let mut vars = LazyVars::default();
        vars.put("out", json!("{{ not_a_template }}"));
        vars.put_template("a", json!("{{ b }}"), Written::Layer("l"));
        vars.put_template("b", json!("{{ a }}"), Written::Layer("l"));
        assert_eq!(eval(&vars, "out").unwrap(), "{{ not_a_template }}");
        let err = eval(&vars, "a").unwrap_err();
        assert!(err.message.contains("undefined variable `a`"), "{err}");
        let failures = vars.failures();
        assert!(
            failures
                .iter()
                .any(|(_, e)| e.message.contains("recursive loop")),
            "{failures:?}"
        );
        assert!(eval(&vars, "a | default('d')").unwrap() == "d");
    }

    #[test]
    fn vars_names_every_variable() {
        let mut vars = LazyVars::default();
        vars.put("app_web", json!(1));
        vars.put("kind", json!("web"));
        assert_eq!(eval(&vars, "vars['app_' ~ kind]").unwrap(), "1");
    }
}

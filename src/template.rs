//! Jinja templating as Ansible users expect it: minijinja in strict mode (an undefined variable
//! is an error that names the variable), the Ansible filters and tests playbooks use, and
//! "native" rendering where a string that is one `{{ expression }}` yields the expression's
//! value (a list stays a list), as Ansible does for `loop:` and variables.
//!
//! Knows nothing of hosts or SSH: it renders text and nodes against a context it is given.

use crate::playbook::{Node, NodeValue, Source, Span};
use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value as JinjaValue};
use serde_json::Value;

mod filters;
mod lazy;
mod pyjson;
pub(crate) mod pyyaml;

pub use lazy::{LazyVars, Written};

/// Where a template came from, for messages: the playbook source and the node's span, or a
/// template file.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    Node(&'a Source, Span),
    /// A template file: errors add the line within it.
    File(&'a str),
    /// An expression whose `file:line:col` is already known (a task's).
    At(&'a str),
}

impl Origin<'_> {
    fn describe(&self) -> String {
        match self {
            Origin::Node(source, span) => source.location(*span),
            Origin::File(name) | Origin::At(name) => (*name).to_string(),
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
#[error("{location}: {message}")]
pub struct TemplateError {
    pub location: String,
    pub message: String,
    /// The undefined variable, when that is what went wrong.
    pub variable: Option<String>,
}

/// The template environment for one run; clones share it.
#[derive(Clone)]
pub struct Templates {
    env: std::sync::Arc<Environment<'static>>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::StrictChainable);
        // Ansible's template defaults: trim_blocks on, trailing newline kept.
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        env.set_unknown_method_callback(python_methods);
        // Ansible 2.19 prints a None result as nothing (`"x{{ none }}y"` is `xy`); inside a
        // list or mapping it stays `None`, as Python's repr.
        env.set_formatter(|out, state, value| {
            if value.is_none() {
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        basic::register(&mut env);
        crate::lookup::register(&mut env);
        crate::jinja_ansible::register(&mut env);
        // Last: these give Ansible's full signatures where an earlier one is simpler.
        filters::register(&mut env);
        Templates {
            env: std::sync::Arc::new(env),
        }
    }

    /// Renders `text` as a template to a string.
    pub fn render_str(
        &self,
        text: &str,
        ctx: &JinjaValue,
        origin: Origin,
    ) -> Result<String, TemplateError> {
        if !has_template_syntax(text) {
            return Ok(text.to_string());
        }
        let rendered = self
            .env
            .render_str(text, ctx.clone())
            .map_err(|err| self.error(err, text, ctx, origin))?;
        mark_if_secret(text, &rendered);
        Ok(rendered)
    }

    /// Renders `text`, keeping the value's type when the whole string is one expression.
    pub fn render_value(
        &self,
        text: &str,
        ctx: &JinjaValue,
        origin: Origin,
    ) -> Result<Value, TemplateError> {
        // Ansible 2.19: Jinja drops one trailing newline, so `"{{ x }}\n"` is still one
        // expression and keeps x's type; only a string result gets its newline back. Any
        // other text around the expression makes the result a string.
        let bare = text.strip_suffix('\n').unwrap_or(text);
        if let Some(expr) = single_expression(bare).filter(|_| bare.trim() == bare) {
            let mut value = to_json(&self.eval(expr, ctx, origin)?);
            if let (Value::String(s), true) = (&mut value, bare.len() < text.len()) {
                s.push('\n');
            }
            return Ok(value);
        }
        self.render_str(text, ctx, origin).map(Value::String)
    }

    /// Evaluates a bare expression (`when:`, `that:`, `var:`).
    pub fn eval(
        &self,
        expr: &str,
        ctx: &JinjaValue,
        origin: Origin,
    ) -> Result<JinjaValue, TemplateError> {
        // Ansible accepts `when: "{{ x }}"` with a warning; strip the braces the same way.
        let expr = single_expression(expr).unwrap_or(expr);
        let compiled = self
            .env
            .compile_expression(expr)
            .map_err(|err| self.error(err, expr, ctx, origin))?;
        let value = compiled
            .eval(ctx.clone())
            .map_err(|err| self.error(err, expr, ctx, origin))?;
        if value.is_undefined() {
            let name = self
                .first_undefined(expr, ctx)
                .or_else(|| compiled.undeclared_variables(false).into_iter().next());
            return Err(undefined(origin, name, ctx));
        }
        if let Some(text) = value.as_str() {
            mark_if_secret(expr, text);
        }
        Ok(value)
    }

    /// The items of a `with_<lookup>` loop: the lookup `name` run on the loop's rendered
    /// `terms` (a list, or one term), as Ansible runs `with_` loops. `module` is the task's
    /// (`with_first_found` looks in the directory it names).
    pub fn with_lookup(
        &self,
        name: &str,
        terms: Value,
        module: &str,
        ctx: &JinjaValue,
        origin: Origin,
    ) -> Result<Vec<Value>, TemplateError> {
        let call = minijinja::context! {
            __drover_with_name => name,
            __drover_with_terms => from_json(&terms),
            __drover_with_module => module,
            ..ctx.clone()
        };
        let expr = format!(
            "{}(__drover_with_name, __drover_with_terms, __drover_with_module)",
            crate::lookup::WITH_FUNCTION
        );
        let compiled = self
            .env
            .compile_expression(&expr)
            .map_err(|err| self.error(err, &expr, ctx, origin))?;
        let value = compiled.eval(call.clone()).map_err(|err| {
            let detail = err.detail().map(str::to_string);
            let mut error = self.error(err, &expr, &call, origin);
            if let (None, Some(detail)) = (&error.variable, detail) {
                error.message = detail;
            }
            error
        })?;
        Ok(match to_json(&value) {
            Value::Array(items) => items,
            other => vec![other],
        })
    }

    /// A condition: booleans as they are, strings as expressions, other values by truth.
    pub fn is_true(
        &self,
        node: &Node,
        ctx: &JinjaValue,
        source: &Source,
    ) -> Result<bool, TemplateError> {
        match &node.value {
            NodeValue::Bool(b) => Ok(*b),
            NodeValue::Null => Ok(false),
            NodeValue::Str(expr) => {
                let value = self.eval(expr, ctx, Origin::Node(source, node.span))?;
                Ok(truthy(&value))
            }
            _ => Ok(truthy(&JinjaValue::from(minijinja::value::Serde(
                node.to_json(),
            )))),
        }
    }

    /// Renders every string in a node tree, keeping structure; errors point at the string.
    pub fn render_node(
        &self,
        node: &Node,
        ctx: &JinjaValue,
        source: &Source,
    ) -> Result<Value, TemplateError> {
        Ok(match &node.value {
            NodeValue::Str(text) => {
                self.render_value(text, ctx, Origin::Node(source, node.span))?
            }
            NodeValue::Seq(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.render_node(item, ctx, source))
                    .collect::<Result<_, _>>()?,
            ),
            NodeValue::Map(entries) => {
                let mut map = serde_json::Map::new();
                for (key, value) in entries {
                    map.insert(key.name.clone(), self.render_node(value, ctx, source)?);
                }
                Value::Object(map)
            }
            _ => node.to_json(),
        })
    }

    /// Renders strings inside a plain value (variables whose values are templates).
    pub fn render_json(
        &self,
        value: &Value,
        ctx: &JinjaValue,
        origin: Origin,
    ) -> Result<Value, TemplateError> {
        Ok(match value {
            Value::String(text) if has_template_syntax(text) => {
                self.render_value(text, ctx, origin)?
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.render_json(i, ctx, origin))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_json(v, ctx, origin)?)))
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => other.clone(),
        })
    }

    fn error(
        &self,
        err: minijinja::Error,
        text: &str,
        ctx: &JinjaValue,
        origin: Origin,
    ) -> TemplateError {
        // With undefined chaining, `x + missing.attr` fails in the `+`, naming the undefined
        // operand: that is an undefined variable too.
        let names_undefined = err.kind() == ErrorKind::InvalidOperation
            && err.detail().is_some_and(|d| d.contains("undefined"));
        // A filter given an undefined variable (`missing | dict2items`) fails on what it got;
        // in Ansible the undefined value is what fails, and that is what the message names.
        let first = match names_undefined {
            true => self.first_undefined(text, ctx),
            false => self
                .first_undefined(text, ctx)
                .filter(|name| !name.contains('.')),
        };
        if err.kind() == ErrorKind::UndefinedError || first.is_some() {
            let name = first.or_else(|| self.first_undefined(text, ctx));
            let mut error = undefined(origin, name, ctx);
            // In a template file, the line within it is what the user needs.
            if let (Origin::File(_), Some(line)) = (origin, err.line()) {
                error.location = format!("{}:{line}", origin.describe());
            }
            return error;
        }
        let mut message = err.kind().to_string();
        if let Some(detail) = err.detail() {
            message = format!("{message}: {detail}");
        }
        if let (Origin::File(_), Some(line)) = (origin, err.line()) {
            return TemplateError {
                location: format!("{}:{line}", origin.describe()),
                message,
                variable: None,
            };
        }
        TemplateError {
            location: origin.describe(),
            message,
            variable: None,
        }
    }

    /// The syntax error in `text`, if any, without rendering it: a template (`{{ }}`,
    /// `{% %}`), or with `expression`, a bare expression as `when:` takes.
    pub fn syntax_error(&self, text: &str, expression: bool) -> Option<String> {
        let result = match single_expression(text) {
            Some(expr) => self.env.compile_expression(expr).map(|_| ()),
            None if expression && !has_template_syntax(text) => {
                self.env.compile_expression(text).map(|_| ())
            }
            None if has_template_syntax(text) => self.env.template_from_str(text).map(|_| ()),
            None => Ok(()),
        };
        let err = result.err()?;
        Some(match err.detail() {
            Some(detail) => format!("{}: {detail}", err.kind()),
            None => err.kind().to_string(),
        })
    }

    /// The top-level variables `text` reads (a template, or a bare expression when
    /// `expression`), without the names the template sets itself or the environment's
    /// globals (`lookup`, `range`, …). `None` when it does not compile.
    pub fn variables_read(&self, text: &str, expression: bool) -> Option<Vec<String>> {
        let names = match single_expression(text) {
            Some(expr) => self
                .env
                .compile_expression(expr)
                .ok()?
                .undeclared_variables(false),
            None if expression && !has_template_syntax(text) => self
                .env
                .compile_expression(text)
                .ok()?
                .undeclared_variables(false),
            None if has_template_syntax(text) => self
                .env
                .template_from_str(text)
                .ok()?
                .undeclared_variables(false),
            None => return Some(Vec::new()),
        };
        let globals: Vec<&str> = self.env.globals().map(|(name, _)| name).collect();
        let mut names: Vec<String> = names
            .into_iter()
            .filter(|n| !globals.contains(&n.as_str()))
            .collect();
        names.sort();
        Some(names)
    }

    /// The first variable the template uses that the context lacks, to name it in the error.
    fn first_undefined(&self, text: &str, ctx: &JinjaValue) -> Option<String> {
        let names = match single_expression(text) {
            Some(expr) => self
                .env
                .compile_expression(expr)
                .ok()?
                .undeclared_variables(true),
            None if has_template_syntax(text) => self
                .env
                .template_from_str(text)
                .ok()?
                .undeclared_variables(true),
            None => self
                .env
                .compile_expression(text)
                .ok()?
                .undeclared_variables(true),
        };
        let globals: Vec<&str> = self.env.globals().map(|(name, _)| name).collect();
        let mut names: Vec<String> = names
            .into_iter()
            .filter(|path| !globals.contains(&path.split('.').next().unwrap_or_default()))
            .collect();
        names.sort();
        names.into_iter().find(|path| !path_defined(ctx, path))
    }
}

/// Python's name for a value's type, as Ansible's messages print it.
fn python_type_name(value: &JinjaValue) -> &'static str {
    use minijinja::value::ValueKind;
    match value.kind() {
        ValueKind::String => "str",
        ValueKind::Number if value.as_i64().is_some() => "int",
        ValueKind::Number => "float",
        ValueKind::Bool => "bool",
        ValueKind::None | ValueKind::Undefined => "NoneType",
        ValueKind::Seq => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

/// Whether a dotted path (`a.b.c`, as `undeclared_variables(true)` reports) resolves.
fn path_defined(ctx: &JinjaValue, path: &str) -> bool {
    let mut value = ctx.clone();
    for part in path.split('.') {
        match value.get_attr(part) {
            Ok(next) if !next.is_undefined() => value = next,
            _ => return false,
        }
    }
    true
}

fn undefined(origin: Origin, name: Option<String>, ctx: &JinjaValue) -> TemplateError {
    let message = match &name {
        // `r.stdout` where `r` is there: say what Ansible says of the missing attribute.
        Some(name) => match name.rsplit_once('.') {
            Some((parent, attr)) if path_defined(ctx, parent) => {
                let mut value = ctx.clone();
                for part in parent.split('.') {
                    value = value.get_attr(part).unwrap_or_default();
                }
                format!(
                    "undefined variable `{name}`: object of type '{}' has no attribute '{attr}'",
                    python_type_name(&value)
                )
            }
            _ => format!("undefined variable `{name}`"),
        },
        None => "undefined variable".to_string(),
    };
    TemplateError {
        location: origin.describe(),
        message,
        variable: name,
    }
}

/// The value of Ansible's `omit` variable: an argument that renders to it is left out
/// (`mode: "{{ file_mode | default(omit) }}"`).
pub const OMIT: &str = "__omit_place_holder__drover";

/// `value` without the mapping entries and list items that rendered to [`OMIT`], at any
/// depth (as Ansible 2.19 drops them from module arguments).
pub fn without_omitted(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| v.as_str() != Some(OMIT))
                .map(|(k, v)| (k, without_omitted(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .filter(|v| v.as_str() != Some(OMIT))
                .map(without_omitted)
                .collect(),
        ),
        other => other,
    }
}

/// Sensitive values (issue 16): what a template computes from a variable holding a secret is
/// a secret too (`{{ vault_pw | b64encode }}`), masked from then on wherever it appears.
fn mark_if_secret(template: &str, result: &str) {
    if result != template && crate::sensitive::reads_secret(template) {
        crate::sensitive::register_derived(result);
    }
}

pub fn has_template_syntax(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

/// `"{{ expr }}"` (and nothing else) → `expr`.
fn single_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%"))
        .then_some(inner.trim())
}

/// Python methods on values (`'a,b'.split(',')`, `d.items()`): minijinja-contrib's, plus the
/// list methods it lacks.
fn python_methods(
    state: &mut minijinja::State,
    value: &JinjaValue,
    method: &str,
    args: &[JinjaValue],
) -> Result<JinjaValue, minijinja::Error> {
    if method == "index" && value.kind() == minijinja::value::ValueKind::Seq {
        let [wanted] = args else {
            return Err(minijinja::Error::new(
                ErrorKind::MissingArgument,
                "list.index() takes one argument",
            ));
        };
        let found = value
            .try_iter()?
            .position(|item| &item == wanted)
            .ok_or_else(|| {
                minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!("{wanted} is not in list"),
                )
            })?;
        return Ok(JinjaValue::from(found));
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// Jinja truthiness, plus Ansible's reading of the strings "yes"/"no"/"true"/"false".
pub fn truthy(value: &JinjaValue) -> bool {
    if let Some(s) = value.as_str() {
        return !matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "" | "false" | "no" | "off" | "0" | "n" | "f"
        );
    }
    value.is_true()
}

pub fn to_json(value: &JinjaValue) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

pub fn from_json(value: &Value) -> JinjaValue {
    JinjaValue::from(minijinja::value::Serde(value))
}

/// Ansible filters and tests that playbooks commonly use and minijinja lacks.
mod basic {
    use super::*;
    use base64::Engine as _;
    use minijinja::Error;

    pub fn register(env: &mut Environment<'static>) {
        env.add_filter("bool", |v: JinjaValue| truthy(&v));
        env.add_filter("quote", |v: String| shell_quote(&v));
        // Python's json.dumps layout, as Ansible writes it (see pyjson).
        env.add_filter(
            "to_json",
            |v: JinjaValue, kw: Kwargs| -> Result<String, Error> {
                let style = pyjson::Style {
                    indent: kw.get::<Option<usize>>("indent")?,
                    sort_keys: kw.get::<Option<bool>>("sort_keys")?.unwrap_or(false),
                };
                Ok(pyjson::dumps(&to_json(&v), &style))
            },
        );
        env.add_filter(
            "to_nice_json",
            |v: JinjaValue, kw: Kwargs| -> Result<String, Error> {
                let style = pyjson::Style {
                    indent: Some(kw.get::<Option<usize>>("indent")?.unwrap_or(4)),
                    sort_keys: kw.get::<Option<bool>>("sort_keys")?.unwrap_or(true),
                };
                Ok(pyjson::dumps(&to_json(&v), &style))
            },
        );
        env.add_filter("from_json", |v: String| -> Result<JinjaValue, Error> {
            serde_json::from_str::<Value>(&v)
                .map(|j| from_json(&j))
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
        });
        env.add_filter("basename", |v: String| {
            v.rsplit('/').next().unwrap_or_default().to_string()
        });
        env.add_filter("dirname", |v: String| match v.rfind('/') {
            Some(0) => "/".to_string(),
            Some(i) => v[..i].to_string(),
            None => String::new(),
        });
        env.add_filter("b64encode", |v: String| {
            base64::engine::general_purpose::STANDARD.encode(v.as_bytes())
        });
        env.add_filter("b64decode", |v: String| -> Result<String, Error> {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        });
        env.add_filter(
            "ternary",
            |v: JinjaValue, yes: JinjaValue, no: JinjaValue| if truthy(&v) { yes } else { no },
        );
        env.add_filter(
            "mandatory",
            |v: JinjaValue, msg: Option<String>| -> Result<JinjaValue, Error> {
                if v.is_undefined() {
                    Err(Error::new(
                        ErrorKind::UndefinedError,
                        msg.unwrap_or_else(|| "mandatory variable not defined".into()),
                    ))
                } else {
                    Ok(v)
                }
            },
        );
        env.add_filter(
            "regex_replace",
            |v: String, pattern: String, replacement: Option<String>| -> Result<String, Error> {
                let re = regex(&pattern)?;
                // Python's \1 back-references become the regex crate's ${1}.
                let replacement = python_backrefs(&replacement.unwrap_or_default());
                Ok(re.replace_all(&v, replacement.as_str()).into_owned())
            },
        );
        env.add_filter(
            "regex_search",
            |v: String, pattern: String, _rest: Rest<JinjaValue>| -> Result<JinjaValue, Error> {
                let re = regex(&pattern)?;
                Ok(re
                    .find(&v)
                    .map_or(JinjaValue::from(()), |m| JinjaValue::from(m.as_str())))
            },
        );
        env.add_filter(
            "regex_findall",
            |v: String, pattern: String| -> Result<Vec<String>, Error> {
                let re = regex(&pattern)?;
                Ok(re.find_iter(&v).map(|m| m.as_str().to_string()).collect())
            },
        );
        env.add_test("version", version_test);
        env.add_test("version_compare", version_test);
        env.add_test(
            "match",
            |v: String, pattern: String| -> Result<bool, Error> {
                Ok(regex(&format!("^(?:{pattern})"))?.is_match(&v))
            },
        );
        env.add_test(
            "search",
            |v: String, pattern: String| -> Result<bool, Error> {
                Ok(regex(&pattern)?.is_match(&v))
            },
        );
        env.add_test(
            "regex",
            |v: String, pattern: String| -> Result<bool, Error> {
                Ok(regex(&pattern)?.is_match(&v))
            },
        );
        env.add_test("truthy", |v: JinjaValue| truthy(&v));
        env.add_test("falsy", |v: JinjaValue| !truthy(&v));
        env.add_test("failed", |v: JinjaValue| result_flag(&v, "failed"));
        env.add_test("changed", |v: JinjaValue| result_flag(&v, "changed"));
        env.add_test("skipped", |v: JinjaValue| result_flag(&v, "skipped"));
        env.add_test("succeeded", |v: JinjaValue| !result_flag(&v, "failed"));
        env.add_test("success", |v: JinjaValue| !result_flag(&v, "failed"));
    }

    fn result_flag(v: &JinjaValue, flag: &str) -> bool {
        v.get_attr(flag).map(|f| f.is_true()).unwrap_or(false)
    }

    fn regex(pattern: &str) -> Result<regex::Regex, Error> {
        regex::Regex::new(pattern).map_err(|e| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("bad regular expression: {e}"),
            )
        })
    }

    fn python_backrefs(replacement: &str) -> String {
        let mut out = String::with_capacity(replacement.len());
        let mut chars = replacement.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, chars.peek()) {
                ('\\', Some(d)) if d.is_ascii_digit() => {
                    out.push_str(&format!("${{{d}}}"));
                    chars.next();
                }
                ('$', _) => out.push_str("$$"),
                _ => out.push(c),
            }
        }
        out
    }

    pub fn shell_quote(s: &str) -> String {
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
        {
            return s.to_string();
        }
        format!("'{}'", s.replace('\'', "'\"'\"'"))
    }

    /// Ansible's `version` test: `v is version('2.0', '>=')`.
    fn version_test(v: JinjaValue, other: String, op: Option<String>) -> Result<bool, Error> {
        let left = v.to_string();
        let ord = compare_versions(&left, &other);
        let op = op.unwrap_or_else(|| "eq".to_string());
        use std::cmp::Ordering::*;
        Ok(match op.as_str() {
            "<" | "lt" => ord == Less,
            "<=" | "le" => ord != Greater,
            ">" | "gt" => ord == Greater,
            ">=" | "ge" => ord != Less,
            "==" | "=" | "eq" => ord == Equal,
            "!=" | "<>" | "ne" => ord != Equal,
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("unknown version comparison `{other}`"),
                ));
            }
        })
    }

    /// Loose version ordering as Ansible's LooseVersion: numeric parts numerically.
    pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
        let parts = |s: &str| -> Vec<String> {
            s.trim_start_matches('v')
                .split(['.', '-', '+', '_'])
                .map(str::to_string)
                .collect()
        };
        let (pa, pb) = (parts(a), parts(b));
        for i in 0..pa.len().max(pb.len()) {
            let x = pa.get(i).map(String::as_str).unwrap_or("0");
            let y = pb.get(i).map(String::as_str).unwrap_or("0");
            let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                _ => x.cmp(y),
            };
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        std::cmp::Ordering::Equal
    }
}

pub use basic::{compare_versions, shell_quote};

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn undefined_variable_is_named_with_its_location() {
        let t = Templates::new();
        let source = Source::new(
            "p.yml",
            "- hosts: all\n  tasks:\n    - debug: msg={{ nope }}\n",
        );
        let ctx = context! { known => 1 };
        let err = t
            .render_str(
                "x {{ known }} {{ nope }}",
                &ctx,
                Origin::Node(&source, Span { offset: 30, len: 4 }),
            )
            .unwrap_err();
        assert_eq!(err.variable.as_deref(), Some("nope"));
        assert_eq!(err.to_string(), "p.yml:3:9: undefined variable `nope`");
        let err = t
            .eval("known + missing.attr", &ctx, Origin::File("t.j2"))
            .unwrap_err();
        assert_eq!(err.variable.as_deref(), Some("missing.attr"));
    }

    #[test]
    fn one_expression_keeps_its_type() {
        let t = Templates::new();
        let ctx = context! { items => vec![1, 2], name => "a" };
        let v = t
            .render_value("{{ items }}", &ctx, Origin::File("x"))
            .unwrap();
        assert_eq!(v, serde_json::json!([1, 2]));
        let v = t
            .render_value("n-{{ name }}", &ctx, Origin::File("x"))
            .unwrap();
        assert_eq!(v, serde_json::json!("n-a"));
    }

    #[test]
    fn undefined_chains_like_ansibles_and_none_prints_as_nothing() {
        let t = Templates::new();
        let ctx = context! { a => context! { b => () }, loop_info => context! { index => 1 } };
        let r = |text: &str| t.render_str(text, &ctx, Origin::File("x"));
        assert_eq!(r("{{ a.x.y | default('d') }}").unwrap(), "d");
        assert_eq!(
            r("{{ loop_info.previtem.name | default('none') }}").unwrap(),
            "none"
        );
        assert_eq!(r("{{ a.x.y is defined }}").unwrap(), "False");
        assert_eq!(
            r("x{{ a.b }}y {{ [a.b] }} {{ {'k': a.b} }}").unwrap(),
            "xy [None] {'k': None}"
        );
        // Still strict: printing, iterating or testing an undefined value fails.
        for text in [
            "{{ a.x.y }}",
            "{% for i in a.x.y %}{% endfor %}",
            "{% if a.x %}{% endif %}",
        ] {
            assert!(r(text).is_err(), "{text} should fail");
        }
        let err = r("{{ nope.deeper }}").unwrap_err();
        assert!(err.message.contains("undefined variable `nope"), "{err}");
    }

    #[test]
    fn omitted_arguments_are_dropped_at_any_depth() {
        let args = serde_json::json!({
            "path": "/x",
            "mode": OMIT,
            "headers": {"A": "1", "B": OMIT},
            "list": [1, OMIT, 2],
        });
        assert_eq!(
            without_omitted(args),
            serde_json::json!({"path": "/x", "headers": {"A": "1"}, "list": [1, 2]})
        );
    }

    #[test]
    fn ansible_filters_and_tests() {
        let t = Templates::new();
        let ctx = context! { v => "2.0.1", s => "it's" };
        let r = |e: &str| t.eval(e, &ctx, Origin::File("x")).unwrap().to_string();
        assert_eq!(r("v is version('2.0', '>=')"), "True");
        assert_eq!(r("v is version('10.0', '<')"), "True");
        assert_eq!(r("s | quote"), "'it'\"'\"'s'");
        assert_eq!(
            r("'a-1' | regex_replace('(\\\\w)-(\\\\d)', '\\\\2\\\\1')"),
            "1a"
        );
        assert_eq!(r("'yes' | bool"), "True");
        assert_eq!(r("v.startswith('2.')"), "True");
    }
}

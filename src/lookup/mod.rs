//! Ansible's lookups: `lookup()`, `query()` and `q()` in templates, and the `with_<lookup>`
//! loops (`with_items`, `with_nested`, `with_first_found`, …), which are the same lookups
//! run with the loop's terms. Each lookup gives what ansible-core 2.19's plugin of the same
//! name gives, with its messages: files are read on the control machine (vault-encrypted
//! ones decrypted with the run's keyring) and searched for as Ansible's search path does
//! (the role's `files/`/`templates/`, the role, then the playbook's); commands (`pipe`,
//! `lines`) run there through `sh -c`.
//!
//! Knows nothing of hosts or the run: it reads what the template's own variables say.

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value};
use std::path::{Path, PathBuf};

mod files;
mod ini;
mod lists;
mod sequence;

/// The lookups drover runs (also the names `with_<name>` takes); any other is refused by name.
pub const NAMES: &[&str] = &[
    "env",
    "file",
    "unvault",
    "template",
    "pipe",
    "lines",
    "vars",
    "varnames",
    "first_found",
    "items",
    "list",
    "indexed_items",
    "dict",
    "nested",
    "cartesian",
    "together",
    "subelements",
    "sequence",
    "random_choice",
    "csvfile",
    "ini",
];

/// The function the engine calls for a `with_<lookup>` loop: `name`, the loop's terms (a
/// list), and the task's module (first_found searches `templates/` for `template`).
pub const WITH_FUNCTION: &str = "__drover_with_lookup";

pub fn register(env: &mut Environment<'static>) {
    env.add_function("lookup", |state: &State, args: Rest<Value>, kw: Kwargs| {
        call(state, args.0, kw, false)
    });
    env.add_function("query", |state: &State, args: Rest<Value>, kw: Kwargs| {
        call(state, args.0, kw, true)
    });
    env.add_function("q", |state: &State, args: Rest<Value>, kw: Kwargs| {
        call(state, args.0, kw, true)
    });
    env.add_function(
        WITH_FUNCTION,
        |state: &State, name: String, terms: Value, module: String| {
            let terms = match terms.kind() {
                ValueKind::Seq => terms.try_iter()?.collect(),
                _ => vec![terms],
            };
            let call = Call {
                state,
                kwargs: None,
                with_module: Some(&module),
            };
            run(&call, &name, terms)
                .map(Value::from)
                .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.message))
        },
    );
}

/// One lookup call: where it runs, its keyword options, and for a `with_` loop, the task's
/// module.
struct Call<'c, 's, 'e> {
    state: &'c State<'s, 'e>,
    kwargs: Option<&'c Kwargs>,
    with_module: Option<&'c str>,
}

impl Call<'_, '_, '_> {
    /// A keyword option; `None` when not given (or given as `None`).
    fn option(&self, key: &str) -> Result<Option<Value>, LookupError> {
        let Some(kwargs) = self.kwargs else {
            return Ok(None);
        };
        let value = kwargs
            .get::<Option<Value>>(key)
            .map_err(|e| failed(e.to_string()))?;
        Ok(value.filter(|v| !v.is_none() && !v.is_undefined()))
    }

    /// A boolean option, as Ansible's `boolean()` reads it.
    fn flag(&self, key: &str, default: bool) -> Result<bool, LookupError> {
        Ok(match self.option(key)? {
            None => default,
            Some(v) => boolean(&v).ok_or_else(|| {
                failed(format!(
                    "option `{key}`: {v} is not a valid boolean (write true or false)"
                ))
            })?,
        })
    }

    /// A variable of the template's context.
    fn var(&self, name: &str) -> Option<Value> {
        self.state.lookup(name).filter(|v| !v.is_undefined())
    }

    fn var_path(&self, name: &str) -> Option<PathBuf> {
        self.var(name).and_then(|v| v.as_str().map(PathBuf::from))
    }

    /// The directories a relative file name is looked for in, in order: the role's (when the
    /// task is in one), then the playbook's; each as `<dir>/<subdir>/name`, then `<dir>/name`.
    fn search_dirs(&self, subdir: &str) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        let mut bases = Vec::new();
        if let Some(role) = self.var_path("role_path") {
            bases.push(role);
        }
        bases.push(
            self.var_path("playbook_dir")
                .unwrap_or_else(|| PathBuf::from(".")),
        );
        for base in bases {
            dirs.push(base.join(subdir));
            dirs.push(base.join("tasks").join(subdir));
            dirs.push(base.join("tasks"));
            dirs.push(base);
        }
        dirs
    }

    /// Ansible's `find_file_in_search_path`: an absolute path as it is, else the first of
    /// the search directories that has it.
    fn find(&self, subdir: &str, term: &str) -> Result<PathBuf, LookupError> {
        let path = Path::new(term);
        if path.is_absolute() {
            return match path.is_file() {
                true => Ok(path.to_path_buf()),
                false => Err(failed(format!("Unable to find '{term}' in expected paths"))),
            };
        }
        let dirs = self.search_dirs(subdir);
        dirs.iter()
            .map(|d| d.join(term))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                failed(format!(
                    "Unable to find '{term}' in expected paths (looked in: {})",
                    dirs.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }
}

/// How a lookup reacts to a failure: `errors=strict` (the default) fails the task,
/// `warn` and `ignore` give an empty result.
#[derive(Clone, Copy, PartialEq)]
enum OnError {
    Strict,
    Quiet,
}

fn call(state: &State, args: Vec<Value>, kw: Kwargs, mut wantlist: bool) -> Result<Value, Error> {
    let kwargs = (kw.args().count() > 0).then_some(kw);
    let mut args = args.into_iter();
    let Some(name) = args.next().and_then(|n| n.as_str().map(str::to_string)) else {
        return Err(Error::new(
            ErrorKind::MissingArgument,
            "lookup() needs the lookup's name first, as in lookup('env', 'HOME')",
        ));
    };
    let terms: Vec<Value> = args.collect();
    let mut on_error = OnError::Strict;
    if let Some(kwargs) = &kwargs {
        if let Some(w) = kwargs.get::<Option<bool>>("wantlist")? {
            wantlist |= w;
        }
        on_error = match kwargs.get::<Option<String>>("errors")?.as_deref() {
            None | Some("strict") => OnError::Strict,
            Some("warn" | "ignore") => OnError::Quiet,
            Some(other) => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("lookup('{name}'): errors={other} must be strict, warn or ignore"),
                ));
            }
        };
    }
    let call = Call {
        state,
        kwargs: kwargs.as_ref(),
        with_module: None,
    };
    let found = run(&call, &name, terms).and_then(|found| match &kwargs {
        Some(kwargs) => kwargs
            .assert_all_used()
            .map(|()| found)
            .map_err(|e| usage(e.to_string())),
        None => Ok(found),
    });
    let found = match found {
        Ok(found) => found,
        Err(err) if on_error == OnError::Quiet && !err.is_usage => {
            return Ok(if wantlist {
                Value::from(Vec::<Value>::new())
            } else {
                Value::from(())
            });
        }
        Err(err) => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("lookup('{name}'): {}", err.message),
            ));
        }
    };
    if wantlist {
        return Ok(Value::from(found));
    }
    // Ansible joins a lookup's results with commas unless `wantlist`/`query` asks for a list.
    Ok(match found.len() {
        0 => Value::from(found),
        1 => found.into_iter().next().unwrap_or_default(),
        _ if found.iter().all(|v| v.as_str().is_some()) => {
            Value::from(found.iter().map(text).collect::<Vec<_>>().join(","))
        }
        _ => Value::from(found),
    })
}

struct LookupError {
    message: String,
    /// A mistake in the call itself (unknown lookup): `errors=ignore` does not hide it.
    is_usage: bool,
}

fn failed(message: impl Into<String>) -> LookupError {
    LookupError {
        message: message.into(),
        is_usage: false,
    }
}

fn usage(message: impl Into<String>) -> LookupError {
    LookupError {
        message: message.into(),
        is_usage: true,
    }
}

type Found = Result<Vec<Value>, LookupError>;

fn run(call: &Call, name: &str, terms: Vec<Value>) -> Found {
    let name = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    match name {
        "env" => env(call, &terms),
        "file" => files::file(call, &terms),
        "unvault" => files::unvault(call, &terms),
        "template" => files::template(call, &terms),
        "pipe" => files::pipe(&terms),
        "lines" => files::lines(call, &terms),
        "first_found" => files::first_found(call, terms),
        "csvfile" => files::csvfile(call, &terms),
        "ini" => ini::run(call, &terms),
        "vars" => vars(call, &terms),
        "varnames" => varnames(call, &terms),
        "sequence" => sequence::run(call, &terms),
        "items" | "list" | "indexed_items" | "dict" | "nested" | "cartesian" | "together"
        | "subelements" | "random_choice" => lists::run(name, terms),
        other => Err(usage(format!(
            "drover has no `{other}` lookup (it has: {})",
            NAMES.join(", ")
        ))),
    }
}

/// The text of a term (a string as it is, anything else as Jinja prints it).
fn text(value: &Value) -> String {
    match value.as_str() {
        Some(s) => s.to_string(),
        None => value.to_string(),
    }
}

/// Ansible's `parse_kv` for a lookup's inline options: `key=value` words (the value may be
/// quoted) are options, the other words, joined by spaces, the term itself.
fn parse_kv(term: &str) -> (Option<String>, Vec<(String, String)>) {
    let mut raw = Vec::new();
    let mut options = Vec::new();
    for word in shlex_words(term) {
        match word.split_once('=') {
            Some((k, v)) if !k.is_empty() && k.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                options.push((k.to_string(), unquote(v)));
            }
            _ => raw.push(word),
        }
    }
    ((!raw.is_empty()).then(|| raw.join(" ")), options)
}

/// Splits on whitespace outside quotes, keeping the quotes.
fn shlex_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                quote = None;
                word.push(c);
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                word.push(c);
            }
            (None, c) if c == ' ' || c == '\n' || c == '\r' => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            (_, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn unquote(value: &str) -> String {
    for q in ['\'', '"'] {
        if value.len() >= 2
            && let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q))
        {
            return inner.to_string();
        }
    }
    value.to_string()
}

/// Ansible's `boolean(value, strict=False)` for an option.
fn boolean(value: &Value) -> Option<bool> {
    match value.kind() {
        ValueKind::Bool => Some(value.is_true()),
        ValueKind::Number => Some(value.is_true()),
        _ => match text(value).to_lowercase().trim() {
            "y" | "yes" | "on" | "1" | "true" | "t" => Some(true),
            "n" | "no" | "off" | "0" | "false" | "f" | "" => Some(false),
            _ => None,
        },
    }
}

/// Ansible's name for a value's type in messages (`str`, `int`, `dict`, …).
fn type_name(value: &Value) -> &'static str {
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

fn env(call: &Call, terms: &[Value]) -> Found {
    let default = call.option("default")?;
    Ok(terms
        .iter()
        .map(|term| match std::env::var(text(term)) {
            Ok(value) => Value::from(value),
            // Ansible gives '' for an unset variable unless `default=` says otherwise.
            Err(_) => default.clone().unwrap_or_else(|| Value::from("")),
        })
        .collect())
}

fn vars(call: &Call, terms: &[Value]) -> Found {
    let default = call.option("default")?;
    terms
        .iter()
        .map(|term| {
            let Some(name) = term.as_str() else {
                return Err(failed(format!(
                    "Variable name must be 'str' not '{}'.",
                    type_name(term)
                )));
            };
            match (call.var(name), &default) {
                (Some(value), _) => Ok(value),
                (None, Some(default)) => Ok(default.clone()),
                (None, None) => Err(failed(format!("No variable named '{name}' was found."))),
            }
        })
        .collect()
}

/// `varnames`: the names of the variables each term's regular expression finds (Python's
/// `re.search`), in the order the variables are known.
fn varnames(call: &Call, terms: &[Value]) -> Found {
    let names: Vec<String> = call
        .var("vars")
        .and_then(|v| v.try_iter().ok().map(|i| i.map(|k| text(&k)).collect()))
        .unwrap_or_default();
    let mut out = Vec::new();
    for term in terms {
        let Some(pattern) = term.as_str() else {
            return Err(failed(format!(
                "Invalid setting identifier, \"{term}\" is not a string, it is a {}",
                type_name(term)
            )));
        };
        let re = regex::Regex::new(pattern).map_err(|e| {
            failed(format!(
                "Unable to use \"{pattern}\" as a search parameter: {}",
                python_regex_error(&e)
            ))
        })?;
        out.extend(
            names
                .iter()
                .filter(|n| re.is_match(n))
                .map(|n| Value::from(n.as_str())),
        );
    }
    Ok(out)
}

/// A regex error in Python's words where Python's `re` says it differently (`*` alone is
/// "nothing to repeat"), else the Rust crate's.
fn python_regex_error(err: &regex::Error) -> String {
    let text = err.to_string();
    if text.contains("repetition operator missing expression") {
        return format!(
            "nothing to repeat ({})",
            text.lines().last().unwrap_or_default().trim()
        );
    }
    text
}

#[cfg(test)]
mod tests;

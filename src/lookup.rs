//! Ansible's `lookup()`, `query()` and `q()` in templates: `env`, `file`, `unvault`,
//! `template`, `pipe` and `vars`, read on the control machine as Ansible's lookups are. Files are searched
//! relative to `playbook_dir` (its `files/` or `templates/` first), the path a play's lookup
//! uses in Ansible. Vault-encrypted files are decrypted with the run's keyring (`file`,
//! `unvault` and `template` alike, as Ansible's loader does).
//!
//! Knows nothing of hosts or the run: it reads what the template's own variables say.

use minijinja::value::{Kwargs, Rest};
use minijinja::{Environment, Error, ErrorKind, State, Value};
use std::path::{Path, PathBuf};

/// The lookups drover runs; any other name is refused by name.
const LOOKUPS: &[&str] = &[
    "env",
    "file",
    "unvault",
    "template",
    "pipe",
    "vars",
    "first_found",
];

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
    if name.strip_prefix("ansible.builtin.").unwrap_or(&name) == "first_found" {
        return first_found(state, args.collect(), kwargs.as_ref(), wantlist);
    }
    let terms: Vec<String> = args.map(|t| text(&t)).collect();
    let mut on_error = OnError::Strict;
    let mut default = None;
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
        default = kwargs.get::<Option<Value>>("default")?;
        for key in ["rstrip", "lstrip"] {
            let _ = kwargs.get::<Option<bool>>(key)?;
        }
        kwargs.assert_all_used()?;
    }
    let found = match run(state, &name, &terms, kwargs.as_ref(), default.as_ref()) {
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
        0 => Value::from(""),
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

fn failed(message: String) -> LookupError {
    LookupError {
        message,
        is_usage: false,
    }
}

fn run(
    state: &State,
    name: &str,
    terms: &[String],
    kwargs: Option<&Kwargs>,
    default: Option<&Value>,
) -> Result<Vec<Value>, LookupError> {
    let name = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    let mut out = Vec::with_capacity(terms.len());
    for term in terms {
        out.push(match name {
            "env" => match std::env::var(term) {
                Ok(value) => Value::from(value),
                // Ansible gives '' for an unset variable unless `default=` says otherwise.
                Err(_) => default.cloned().unwrap_or_else(|| Value::from("")),
            },
            "file" => {
                let path = find(state, "files", term)?;
                let text = read(&path)?;
                let rstrip = kwarg(kwargs, "rstrip").unwrap_or(true);
                let lstrip = kwarg(kwargs, "lstrip").unwrap_or(false);
                let text = if rstrip { text.trim_end() } else { &text[..] };
                let text = if lstrip { text.trim_start() } else { text };
                Value::from(text)
            }
            // The file's contents whole (decrypted when it is vault data), no stripping.
            "unvault" => Value::from(read(&find(state, "files", term)?)?),
            "template" => {
                let path = find(state, "templates", term)?;
                let text = read(&path)?;
                let ctx: std::collections::BTreeMap<String, Value> = state
                    .known_variables()
                    .into_iter()
                    .filter_map(|k| state.lookup(&k).map(|v| (k.to_string(), v)))
                    .collect();
                let rendered = state
                    .env()
                    .render_str(&text, Value::from(ctx))
                    .map_err(|e| failed(format!("{}: {e}", path.display())))?;
                Value::from(rendered)
            }
            "pipe" => Value::from(pipe(term)?),
            "vars" => match state.lookup(term).filter(|v| !v.is_undefined()) {
                Some(value) => value,
                None => match default {
                    Some(d) => d.clone(),
                    None => return Err(failed(format!("no variable named `{term}`"))),
                },
            },
            other => {
                return Err(LookupError {
                    message: format!(
                        "drover has no `{other}` lookup (it has: {})",
                        LOOKUPS.join(", ")
                    ),
                    is_usage: true,
                });
            }
        });
    }
    Ok(out)
}

fn kwarg(kwargs: Option<&Kwargs>, key: &str) -> Option<bool> {
    kwargs.and_then(|k| k.get::<Option<bool>>(key).ok().flatten())
}

fn text(value: &Value) -> String {
    match value.as_str() {
        Some(s) => s.to_string(),
        None => value.to_string(),
    }
}

fn read(path: &Path) -> Result<String, LookupError> {
    let bytes =
        std::fs::read(path).map_err(|e| failed(format!("cannot read {}: {e}", path.display())))?;
    let bytes = crate::vault::read_maybe_encrypted(bytes, &path.display().to_string())
        .map_err(|e| failed(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| failed(format!("{} is not UTF-8 text", path.display())))
}

/// Ansible's search for a play's lookup: `playbook_dir/<kind>/term`, then
/// `playbook_dir/term`; an absolute path is taken as it is.
fn find(state: &State, kind: &str, term: &str) -> Result<PathBuf, LookupError> {
    let path = Path::new(term);
    if path.is_absolute() {
        return match path.is_file() {
            true => Ok(path.to_path_buf()),
            false => Err(failed(format!("no file {term}"))),
        };
    }
    let dir = state
        .lookup("playbook_dir")
        .and_then(|d| d.as_str().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."));
    let candidates = [dir.join(kind).join(term), dir.join(term)];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            failed(format!(
                "no file `{term}` (looked in {kind}/ and beside the playbook: {})",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// `first_found`: the first of the files that exists, as an absolute path. Terms are file
/// names, lists of them, or `{files, paths, skip}` mappings (names may hold commas or
/// semicolons); `files=`/`paths=`/`skip=` keywords apply to bare names. A relative name is
/// looked for as Ansible's search path does: the role's `files/`, the role, its `tasks/`,
/// then the playbook's `files/` and the playbook's directory (or in each of `paths`).
fn first_found(
    state: &State,
    terms: Vec<Value>,
    kwargs: Option<&Kwargs>,
    wantlist: bool,
) -> Result<Value, Error> {
    let split = |v: &Value| -> Vec<String> {
        let items: Vec<Value> = match v.as_str() {
            Some(_) => vec![v.clone()],
            None => v.try_iter().map(|i| i.collect()).unwrap_or_default(),
        };
        items
            .iter()
            .flat_map(|i| {
                text(i)
                    .split([',', ';'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let kw_value = |key: &str| kwargs.and_then(|k| k.get::<Option<Value>>(key).ok().flatten());
    let mut skip = kwarg(kwargs, "skip").unwrap_or(false);
    let mut groups: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    let mut bare = Vec::new();
    let mut flat = Vec::new();
    for term in terms {
        match term.as_str() {
            Some(_) => flat.push(term),
            None => flat.extend(
                term.try_iter()
                    .map(|i| i.collect::<Vec<_>>())
                    .unwrap_or_default(),
            ),
        }
    }
    for term in flat {
        if term.kind() == minijinja::value::ValueKind::Map {
            let files = term
                .get_attr("files")
                .map(|v| split(&v))
                .unwrap_or_default();
            let paths = term
                .get_attr("paths")
                .map(|v| split(&v))
                .unwrap_or_default();
            if term.get_attr("skip").is_ok_and(|v| v.is_true()) {
                skip = true;
            }
            groups.push((files, paths));
        } else {
            bare.extend(split(&term));
        }
    }
    if let Some(files) = kw_value("files") {
        bare.extend(split(&files));
    }
    if !bare.is_empty() {
        let paths = kw_value("paths").map(|p| split(&p)).unwrap_or_default();
        groups.push((bare, paths));
    }
    let var = |name: &str| {
        state
            .lookup(name)
            .and_then(|v| v.as_str().map(PathBuf::from))
    };
    let mut dirs = Vec::new();
    if let Some(role) = var("role_path") {
        dirs.extend([role.join("files"), role.clone(), role.join("tasks")]);
    }
    let playbook = var("playbook_dir").unwrap_or_else(|| PathBuf::from("."));
    dirs.extend([playbook.join("files"), playbook]);
    for (files, paths) in &groups {
        for file in files {
            let candidates: Vec<PathBuf> = if Path::new(file).is_absolute() {
                vec![PathBuf::from(file)]
            } else if paths.is_empty() {
                dirs.iter().map(|d| d.join(file)).collect()
            } else {
                paths
                    .iter()
                    .map(|p| {
                        let p = Path::new(p);
                        if p.is_absolute() {
                            p.join(file)
                        } else {
                            dirs.last().map_or(p.join(file), |d| d.join(p).join(file))
                        }
                    })
                    .collect()
            };
            if let Some(found) = candidates.iter().find(|c| c.exists()) {
                let found = Value::from(found.display().to_string());
                return Ok(if wantlist {
                    Value::from(vec![found])
                } else {
                    found
                });
            }
        }
    }
    if skip {
        return Ok(if wantlist {
            Value::from(Vec::<Value>::new())
        } else {
            Value::from(())
        });
    }
    Err(Error::new(
        ErrorKind::InvalidOperation,
        "lookup('first_found'): No file was found when using first_found.",
    ))
}

/// `pipe`: the command through `sh -c` on the control machine; its stdout without the
/// trailing newline. A non-zero exit fails, as in Ansible.
fn pipe(command: &str) -> Result<String, LookupError> {
    let output = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| failed(format!("cannot run `{command}`: {e}")))?;
    if !output.status.success() {
        let code = output
            .status
            .code()
            .map_or("a signal".to_string(), |c| c.to_string());
        return Err(failed(format!(
            "`{command}` exited with {code}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_string())
}

#[cfg(test)]
mod tests {
    use crate::template::{Origin, Templates};
    use serde_json::json;

    fn render(text: &str, ctx: serde_json::Value) -> Result<String, String> {
        let templates = Templates::new();
        let ctx = crate::template::from_json(&ctx);
        templates
            .render_str(text, &ctx, Origin::At("t.yml:1:1"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn file_template_env_pipe_and_vars_lookups() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("files")).expect("mkdir");
        std::fs::write(dir.path().join("files/motd"), "hello\n\n").expect("write");
        std::fs::write(dir.path().join("beside.txt"), "beside").expect("write");
        std::fs::create_dir_all(dir.path().join("templates")).expect("mkdir");
        std::fs::write(dir.path().join("templates/t.j2"), "hi {{ who }}").expect("write");
        let ctx = json!({"playbook_dir": dir.path().display().to_string(), "who": "ann"});
        let r = |t: &str| render(t, ctx.clone());
        assert_eq!(r("{{ lookup('file', 'motd') }}").unwrap(), "hello");
        assert_eq!(
            r("{{ lookup('ansible.builtin.file', 'beside.txt') }}").unwrap(),
            "beside"
        );
        assert_eq!(
            r("{{ lookup('file', 'motd', 'beside.txt') }}").unwrap(),
            "hello,beside"
        );
        assert_eq!(r("{{ query('file', 'motd') | length }}").unwrap(), "1");
        assert_eq!(
            r("{{ lookup('file', 'motd', wantlist=True) }}").unwrap(),
            "['hello']"
        );
        assert_eq!(r("{{ lookup('template', 't.j2') }}").unwrap(), "hi ann");
        assert_eq!(r("{{ lookup('pipe', 'echo a; echo b') }}").unwrap(), "a\nb");
        assert_eq!(r("{{ lookup('vars', 'who') }}").unwrap(), "ann");
        assert_eq!(r("{{ lookup('env', 'DROVER_SURELY_UNSET') }}").unwrap(), "");
        assert_eq!(
            r("{{ lookup('env', 'DROVER_SURELY_UNSET', default='d') }}").unwrap(),
            "d"
        );
        assert_eq!(r("{{ q('env', 'DROVER_SURELY_UNSET') }}").unwrap(), "['']");
        assert_eq!(
            r("{{ lookup('file', 'nope', errors='ignore') is none }}").unwrap(),
            "True"
        );
        assert_eq!(
            r("{{ query('file', 'nope', errors='warn') }}").unwrap(),
            "[]"
        );

        let err = r("{{ lookup('file', 'nope') }}").unwrap_err();
        assert!(
            err.contains("t.yml:1:1") && err.contains("lookup('file'): no file `nope`"),
            "{err}"
        );
        let err = r("{{ lookup('pipe', 'exit 3') }}").unwrap_err();
        assert!(err.contains("exited with 3"), "{err}");
        let err = r("{{ lookup('dig', 'x', errors='ignore') }}").unwrap_err();
        assert!(err.contains("drover has no `dig` lookup"), "{err}");
        let err = r("{{ lookup('file', 'motd', errors='loud') }}").unwrap_err();
        assert!(err.contains("strict, warn or ignore"), "{err}");
    }
}

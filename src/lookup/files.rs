//! The lookups that read the control machine: files (`file`, `unvault`, `template`,
//! `first_found`, `csvfile`, `ini`) and commands (`pipe`, `lines`).

use super::{Call, Found, LookupError, failed, text, type_name};
use minijinja::Value;
use minijinja::value::ValueKind;
use std::path::{Path, PathBuf};

pub(super) fn file(call: &Call, terms: &[Value]) -> Found {
    let rstrip = call.flag("rstrip", true)?;
    let lstrip = call.flag("lstrip", false)?;
    terms
        .iter()
        .map(|term| {
            let text = read(&call.find("files", &text(term))?)?;
            let text = if rstrip { text.trim_end() } else { &text[..] };
            let text = if lstrip { text.trim_start() } else { text };
            Ok(Value::from(text))
        })
        .collect()
}

/// The file's contents whole (decrypted when it is vault data), no stripping.
pub(super) fn unvault(call: &Call, terms: &[Value]) -> Found {
    terms
        .iter()
        .map(|term| Ok(Value::from(read(&call.find("files", &text(term))?)?)))
        .collect()
}

/// `template`: the file rendered with the template's variables, `template_vars` over them,
/// and Ansible's options for the delimiters and `trim_blocks`. A template that renders to
/// nothing gives `None`, as Ansible 2.19's does.
pub(super) fn template(call: &Call, terms: &[Value]) -> Found {
    let state = call.state;
    let extra = call.option("template_vars")?;
    let mut env = state.env().clone();
    let delimiter = |key: &str, default: &'static str| -> Result<String, LookupError> {
        Ok(call.option(key)?.map_or(default.to_string(), |v| text(&v)))
    };
    let (vs, ve) = (
        delimiter("variable_start_string", "{{")?,
        delimiter("variable_end_string", "}}")?,
    );
    let (cs, ce) = (
        delimiter("comment_start_string", "{#")?,
        delimiter("comment_end_string", "#}")?,
    );
    let trim_blocks = call.flag("trim_blocks", true)?;
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .variable_delimiters(vs, ve)
        .comment_delimiters(cs, ce)
        .trim_blocks(trim_blocks)
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| failed(format!("the delimiters given cannot be used: {e}")))?;
    env.set_syntax(syntax);
    let mut ctx: indexmap::IndexMap<String, Value> = state
        .lookup("vars")
        .and_then(|vars| {
            let names: Vec<Value> = vars.try_iter().ok()?.collect();
            Some(
                names
                    .iter()
                    .filter_map(|k| Some((text(k), vars.get_item(k).ok()?)))
                    .filter(|(_, v)| !v.is_undefined())
                    .collect(),
            )
        })
        .unwrap_or_default();
    for name in state.known_variables() {
        if !ctx.contains_key(name.as_ref())
            && let Some(value) = state.lookup(&name).filter(|v| !v.is_undefined())
        {
            ctx.insert(name.to_string(), value);
        }
    }
    if let Some(extra) = &extra {
        let keys: Vec<Value> = extra
            .try_iter()
            .map_err(|_| failed("`template_vars` must be a mapping"))?
            .collect();
        for key in keys {
            if let Ok(value) = extra.get_item(&key) {
                ctx.insert(text(&key), value);
            }
        }
    }
    let mut out = Vec::new();
    for term in terms {
        let name = text(term);
        let path = call.find("templates", &name)?;
        let source = read(&path)?;
        let mut vars = ctx.clone();
        vars.insert("template_path".into(), Value::from(name.as_str()));
        vars.insert(
            "template_fullpath".into(),
            Value::from(path.display().to_string()),
        );
        vars.entry("ansible_managed".into())
            .or_insert_with(|| Value::from("Ansible managed"));
        // Includes are looked for beside the template, then in each search directory's
        // `templates/` and in the directory itself, as Ansible's template lookup does.
        let mut dirs: Vec<PathBuf> = path.parent().map(Path::to_path_buf).into_iter().collect();
        for dir in search_path(call) {
            dirs.push(dir.join("templates"));
            dirs.push(dir);
        }
        let mut env = env.clone();
        env.set_loader(move |name| {
            for dir in &dirs {
                let candidate = dir.join(name);
                if candidate.is_file() {
                    return std::fs::read_to_string(&candidate).map(Some).map_err(|e| {
                        minijinja::Error::new(
                            minijinja::ErrorKind::TemplateNotFound,
                            format!("cannot read {}: {e}", candidate.display()),
                        )
                    });
                }
            }
            Ok(None)
        });
        let rendered = env
            .render_str(
                &source,
                Value::from(
                    vars.into_iter()
                        .collect::<std::collections::BTreeMap<_, _>>(),
                ),
            )
            .map_err(|e| failed(format!("{}: {e}", path.display())))?;
        out.push(if rendered.is_empty() {
            Value::from(())
        } else {
            Value::from(rendered)
        });
    }
    Ok(out)
}

/// `ansible_search_path` (the role's directory, the task file's, the playbook's).
fn search_path(call: &Call) -> Vec<PathBuf> {
    let listed: Vec<PathBuf> = call
        .var("ansible_search_path")
        .and_then(|v| {
            v.try_iter()
                .ok()
                .map(|i| i.map(|p| PathBuf::from(text(&p))).collect())
        })
        .unwrap_or_default();
    if !listed.is_empty() {
        return listed;
    }
    call.var_path("role_path")
        .into_iter()
        .chain(call.var_path("playbook_dir"))
        .collect()
}

pub(super) fn pipe(terms: &[Value]) -> Found {
    terms
        .iter()
        .map(|term| {
            let out = command(&text(term))?;
            Ok(Value::from(out.trim_end()))
        })
        .collect()
}

/// `lines`: each command's output, one item per line, run in the playbook's directory.
pub(super) fn lines(call: &Call, terms: &[Value]) -> Found {
    let dir = call.var_path("playbook_dir");
    let mut out = Vec::new();
    for term in terms {
        let term = text(term);
        let mut command = std::process::Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(&term)
            .stdin(std::process::Stdio::null());
        if let Some(dir) = &dir {
            command.current_dir(dir);
        }
        let output = command
            .output()
            .map_err(|e| failed(format!("cannot run `{term}`: {e}")))?;
        if !output.status.success() {
            return Err(failed(format!(
                "lookup_plugin.lines({term}) returned {}",
                output.status.code().unwrap_or(-1)
            )));
        }
        out.extend(
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .map(Value::from),
        );
    }
    Ok(out)
}

/// One command through `sh -c` on the control machine; a non-zero exit fails, as in Ansible.
fn command(command: &str) -> Result<String, LookupError> {
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
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn read(path: &Path) -> Result<String, LookupError> {
    let bytes =
        std::fs::read(path).map_err(|e| failed(format!("cannot read {}: {e}", path.display())))?;
    let bytes = crate::vault::read_maybe_encrypted(bytes, &path.display().to_string())
        .map_err(|e| failed(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| failed(format!("{} is not UTF-8 text", path.display())))
}

/// `first_found`: the first of the candidate files that exists, as an absolute path. Terms
/// are file names, lists of them, or `{files, paths, skip}` mappings; names split on `,`
/// and `;`, paths on `,`, `:` and `;`. A relative candidate is looked for along the search
/// path (role, then playbook); as a `with_first_found` loop, in the subdirectory the task's
/// module names (`templates/` for `template`, `vars/` for `include_vars`, else `files/`).
pub(super) fn first_found(call: &Call, terms: Vec<Value>) -> Found {
    let mut options = FirstFound {
        files: call
            .option("files")?
            .map(|v| listed(&v))
            .unwrap_or_default(),
        paths: call
            .option("paths")?
            .map(|v| listed(&v))
            .unwrap_or_default(),
        skip: call.flag("skip", false)?,
    };
    let terms = if terms.is_empty() {
        options
            .files
            .iter()
            .map(|f| Value::from(f.as_str()))
            .collect()
    } else {
        terms
    };
    let mut search = Vec::new();
    options.candidates(&terms, &mut search)?;
    let subdir = call.with_module.map(|module| {
        ["template", "var", "file"]
            .into_iter()
            .find(|s| module.contains(s))
            .map_or("files".to_string(), |s| format!("{s}s"))
    });
    for candidate in &search {
        if let Some(found) = find_existing(call, subdir.as_deref(), candidate) {
            return Ok(vec![Value::from(found.display().to_string())]);
        }
    }
    if options.skip {
        return Ok(Vec::new());
    }
    Err(failed("No file was found when using first_found."))
}

struct FirstFound {
    files: Vec<String>,
    paths: Vec<String>,
    skip: bool,
}

impl FirstFound {
    fn candidates(&mut self, terms: &[Value], out: &mut Vec<String>) -> Result<(), LookupError> {
        for term in terms {
            let files = match term.kind() {
                ValueKind::Map => {
                    // A mapping's own options replace the call's, as Ansible's set_options does.
                    let get = |k: &str| term.get_attr(k).ok().filter(|v| !v.is_undefined());
                    self.files = get("files").map(|v| listed(&v)).unwrap_or_default();
                    self.paths = get("paths").map(|v| listed(&v)).unwrap_or_default();
                    self.skip = get("skip").is_some_and(|v| super::boolean(&v) == Some(true));
                    self.files.clone()
                }
                ValueKind::String => vec![text(term)],
                ValueKind::Seq | ValueKind::Iterable => {
                    let inner: Vec<Value> =
                        term.try_iter().map(Iterator::collect).unwrap_or_default();
                    self.candidates(&inner, out)?;
                    continue;
                }
                _ => {
                    return Err(failed(format!(
                        "Invalid term supplied. A string, dict or list is required, not '{}').",
                        type_name(term)
                    )));
                }
            };
            let files = split_on(&files, &[',', ';']);
            let paths = split_on(&self.paths, &[',', ':', ';']);
            if paths.is_empty() {
                out.extend(files);
            } else {
                for path in &paths {
                    out.extend(files.iter().map(|f| format!("{path}/{f}")));
                }
            }
        }
        Ok(())
    }
}

/// A string option or a list of them.
fn listed(value: &Value) -> Vec<String> {
    match value.kind() {
        ValueKind::Seq | ValueKind::Iterable => value
            .try_iter()
            .map(|i| i.map(|v| text(&v)).collect())
            .unwrap_or_default(),
        _ => vec![text(value)],
    }
}

fn split_on(items: &[String], on: &[char]) -> Vec<String> {
    items
        .iter()
        .flat_map(|i| i.split(on).map(str::trim).map(str::to_string))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Ansible's `path_dwim_relative_stack` for one name: absolute as it is; else along the
/// search path, each directory's `subdir/` first.
fn find_existing(call: &Call, subdir: Option<&str>, name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return path.exists().then(|| path.to_path_buf());
    }
    let mut bases = Vec::new();
    if let Some(role) = call.var_path("role_path") {
        bases.push(role.join("tasks"));
        bases.push(role);
    }
    bases.push(
        call.var_path("playbook_dir")
            .unwrap_or_else(|| PathBuf::from(".")),
    );
    let first = name.split('/').next().unwrap_or_default();
    let mut candidates = Vec::new();
    for base in &bases {
        if let Some(subdir) = subdir.filter(|s| *s != first) {
            candidates.push(base.join(subdir).join(name));
        }
        candidates.push(base.join(name));
    }
    candidates.into_iter().find(|c| c.exists())
}

/// Python's csv reader (excel dialect) for one line: `"` quotes fields, `""` is a quote.
fn csv_fields(line: &str, delimiter: char) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if quoted => quoted = false,
            '"' if field.is_empty() => quoted = true,
            c if c == delimiter && !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// `csvfile`: the `col` field of the first row whose `keycol` field is the term's key.
/// Options come as keywords or inline (`key file=x.csv delimiter=,`).
pub(super) fn csvfile(call: &Call, terms: &[Value]) -> Found {
    let mut base = CsvOptions {
        file: "ansible.csv".into(),
        delimiter: "TAB".into(),
        col: "1".into(),
        keycol: "0".into(),
        default: None,
        encoding: "utf-8".into(),
    };
    for (key, slot) in [
        ("file", &mut base.file),
        ("delimiter", &mut base.delimiter),
        ("col", &mut base.col),
        ("keycol", &mut base.keycol),
        ("encoding", &mut base.encoding),
    ] {
        if let Some(v) = call.option(key)? {
            *slot = text(&v);
        }
    }
    base.default = call.option("default")?;
    if terms.is_empty() {
        return Err(failed("Search key is required but was not found"));
    }
    let mut out = Vec::new();
    for term in terms {
        let (key, inline) = super::parse_kv(&text(term));
        let Some(key) = key else {
            return Err(failed("Search key is required but was not found"));
        };
        let mut options = base.clone();
        for (name, value) in inline {
            match name.as_str() {
                "file" => options.file = value,
                "delimiter" => options.delimiter = value,
                "col" => options.col = value,
                "keycol" => options.keycol = value,
                "encoding" => options.encoding = value,
                "default" => options.default = Some(Value::from(value)),
                other => return Err(failed(format!("'{other}' is not a valid option"))),
            }
        }
        let delimiter = match options.delimiter.as_str() {
            "TAB" | "\\t" => '\t',
            d => {
                let mut chars = d.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => c,
                    _ => {
                        return Err(failed(format!(
                            "csvfile: \"delimiter\" must be a 1-character string, not {d:?}"
                        )));
                    }
                }
            }
        };
        let int = |name: &str, v: &str| {
            v.trim().parse::<usize>().map_err(|_| {
                failed(format!(
                    "Config csvfile option '{name}' from {v:?} has an invalid value."
                ))
            })
        };
        let (col, keycol) = (int("col", &options.col)?, int("keycol", &options.keycol)?);
        let path = call.find("files", &options.file)?;
        let bytes = std::fs::read(&path)
            .map_err(|e| failed(format!("csvfile: {}: {e}", path.display())))?;
        let contents = match options.encoding.to_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => String::from_utf8(bytes)
                .map_err(|_| failed(format!("csvfile: {} is not UTF-8 text", path.display())))?,
            "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" => {
                bytes.iter().map(|b| char::from(*b)).collect()
            }
            other => return Err(failed(format!("csvfile: unknown encoding {other:?}"))),
        };
        let mut found = None;
        for line in contents.lines() {
            let row = csv_fields(line, delimiter);
            if line.is_empty() {
                continue;
            }
            if row.get(keycol).is_some_and(|k| *k == key) {
                found = Some(row.get(col).cloned().ok_or_else(|| {
                    failed(format!(
                        "csvfile: the row of {key:?} has no column {col} (list index out of range)"
                    ))
                })?);
                break;
            }
        }
        match found {
            Some(v) => out.push(Value::from(v)),
            None => {
                if let Some(d) = &options.default {
                    out.push(d.clone());
                }
            }
        }
    }
    Ok(out)
}

#[derive(Clone)]
struct CsvOptions {
    file: String,
    delimiter: String,
    col: String,
    keycol: String,
    default: Option<Value>,
    encoding: String,
}

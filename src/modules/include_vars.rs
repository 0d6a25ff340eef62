//! `include_vars`: variables from YAML/JSON files on the control machine join the host's, at
//! Ansible's `include_vars` precedence (above play vars and `vars_files`, below registered
//! results and `set_fact`: the engine keeps them in their own layer).

use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use crate::template::Origin;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

pub struct IncludeVars;

static INCLUDE_VARS: ModuleSpec = ModuleSpec {
    name: "include_vars",
    args: &[
        "file",
        "dir",
        "name",
        "files_matching",
        "ignore_files",
        "extensions",
        "depth",
        "ignore_unknown_extensions",
        "hash_behaviour",
    ],
    required: &[],
    one_of: &[],
    free_form: true,
    local: true,
    any_args: false,
};

module!(IncludeVars, INCLUDE_VARS, include_vars);

/// Directory nesting followed when `depth` is 0 (unlimited): symlink loops must end.
const MAX_DEPTH: usize = 32;

async fn include_vars(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let file = args.first_str(&["file", "_raw_params"])?;
    let dir = args.str("dir")?;
    let files = match (file, dir) {
        (Some(file), None) => vec![super::file::find_local(ctx, "vars", &file)?],
        (None, Some(dir)) => {
            // Ansible's root: in a role, `ROLE/DIR` when DIR starts with `vars` (and exists),
            // else `ROLE/vars/DIR`; outside roles, relative to the playbook's directory.
            let root = match ctx.role_dir {
                Some(role) if dir.split('/').next() == Some("vars") && role.join(&dir).exists() => {
                    role.join(&dir)
                }
                Some(_) if dir.split('/').next() == Some("vars") => ctx.playbook_dir.join(&dir),
                Some(role) => role.join("vars").join(&dir),
                None => ctx.playbook_dir.join(&dir),
            };
            if !root.is_dir() {
                return Err(ModuleError::Args {
                    message: format!("`dir`: {} is not a directory", root.display()),
                });
            }
            dir_files(&root, &args)?
        }
        (Some(_), Some(_)) => {
            return Err(ModuleError::Args {
                message: "give either a file or `dir`, not both".to_string(),
            });
        }
        (None, None) => {
            return Err(ModuleError::Args {
                message: "a file (free form or `file`) or `dir` is required".to_string(),
            });
        }
    };
    let mut vars = Map::new();
    for path in &files {
        let loaded = crate::vars_file::read(path).map_err(|err| ModuleError::Args {
            message: describe(&err),
        })?;
        for (k, v) in loaded {
            // Values may be templates over the host's variables, rendered now.
            let v = ctx
                .templates
                .render_json(&v, ctx.vars, Origin::At(ctx.location))?;
            vars.insert(k, v);
        }
    }
    let hash_behaviour = args.choice("hash_behaviour", &["replace", "merge"], "replace")?;
    let facts = match args.str("name")? {
        Some(name) => {
            let mut wrapped = Map::new();
            wrapped.insert(name, Value::Object(vars));
            wrapped
        }
        None => vars,
    };
    // `hash_behaviour: merge`: mappings merge into the host's current values, recursively
    // (Ansible's combine_vars with merge); `replace` (the default) replaces them.
    let facts = if hash_behaviour == "merge" {
        facts
            .into_iter()
            .map(|(k, v)| {
                let existing = ctx
                    .vars
                    .get_attr(&k)
                    .ok()
                    .filter(|e| !e.is_undefined())
                    .and_then(|e| serde_json::to_value(&e).ok());
                let merged = match existing {
                    Some(old) => merge_hashes(old, v),
                    None => v,
                };
                (k, merged)
            })
            .collect()
    } else {
        facts
    };
    let mut outcome = Outcome::default();
    outcome
        .data
        .insert("ansible_facts".into(), Value::Object(facts));
    outcome.data.insert(
        "ansible_included_var_files".into(),
        json!(
            files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        ),
    );
    Ok(outcome)
}

/// Ansible's `merge_hash`: mappings merge key by key (recursively), anything else is
/// replaced by the new value.
fn merge_hashes(old: Value, new: Value) -> Value {
    match (old, new) {
        (Value::Object(mut old), Value::Object(new)) => {
            for (k, v) in new {
                let merged = match old.shift_remove(&k) {
                    Some(o) => merge_hashes(o, v),
                    None => v,
                };
                old.insert(k, merged);
            }
            Value::Object(old)
        }
        (_, new) => new,
    }
}

/// `file:line:col: message` for a variables file error (the engine reports text).
fn describe(err: &crate::vars_file::VarsFileError) -> String {
    use crate::vars_file::VarsFileError;
    match err {
        VarsFileError::Yaml { span, src, .. } | VarsFileError::NotMapping { span, src, .. } => {
            let text = src.inner();
            let before = &text[..span.offset().min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("{}:{line}:{column}: {err}", src.name())
        }
        VarsFileError::Read { .. } | VarsFileError::Vault(_) | VarsFileError::NotText { .. } => {
            err.to_string()
        }
    }
}

/// The files of `dir` that `include_vars` reads, in Ansible's order: directories sorted by
/// path, each one's files sorted by name; a file must match `files_matching` and not
/// `ignore_files`; one with an extension outside `extensions` is an error unless
/// `ignore_unknown_extensions`. `depth` 1 is `dir` alone (0: unlimited).
fn dir_files(root: &Path, args: &Args) -> Result<Vec<PathBuf>, ModuleError> {
    let mut extensions = args.list("extensions")?;
    if extensions.is_empty() {
        extensions = vec!["yaml".into(), "yml".into(), "json".into()];
    }
    let ignore_unknown = args.bool("ignore_unknown_extensions", false)?;
    let matching = match args.str("files_matching")? {
        Some(pattern) => Some(
            regex::Regex::new(&pattern).map_err(|err| ModuleError::Args {
                message: format!("`files_matching` is not a valid regular expression: {err}"),
            })?,
        ),
        None => None,
    };
    let ignore = args
        .list("ignore_files")?
        .iter()
        .map(|p| regex::Regex::new(&format!("{p}$")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| ModuleError::Args {
            message: format!("`ignore_files` holds an invalid regular expression: {err}"),
        })?;
    let depth = match args.int("depth")? {
        None | Some(0) => MAX_DEPTH,
        Some(d) => usize::try_from(d).unwrap_or(MAX_DEPTH).min(MAX_DEPTH),
    };
    let mut dirs = vec![root.to_path_buf()];
    collect_dirs(root, 1, depth, &mut dirs);
    dirs.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| !e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            if matching.as_ref().is_some_and(|re| !re.is_match(&name))
                || ignore.iter().any(|re| re.is_match(&name))
            {
                continue;
            }
            // No extension is `''`, which `extensions` may list (Python's splitext).
            let ext = Path::new(&name)
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("");
            if !extensions.iter().any(|e| e == ext) {
                if ignore_unknown {
                    continue;
                }
                return Err(ModuleError::Args {
                    message: format!(
                        "{} does not have a valid extension: {} (set `ignore_unknown_extensions: true` to skip it)",
                        dir.join(&name).display(),
                        extensions.join(", ")
                    ),
                });
            }
            found.push(dir.join(name));
        }
    }
    Ok(found)
}

/// Subdirectories of `dir` down to `depth` (`dir` itself is level 1).
fn collect_dirs(dir: &Path, level: usize, depth: usize, out: &mut Vec<PathBuf>) {
    if level >= depth {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(Result::ok).map(|e| e.path()) {
        if path.is_dir() {
            out.push(path.clone());
            collect_dirs(&path, level + 1, depth, out);
        }
    }
}

//! Variable files: a YAML (or JSON) mapping of variables, as Ansible reads `group_vars/`,
//! `host_vars/`, `vars_files` and `include_vars`. Owns reading one file into [`Vars`] with a
//! diagnostic that points at the line; knows nothing about which layer the variables join.

use crate::inventory::Vars;
use crate::yaml::{Node, to_json};
use miette::{NamedSource, SourceSpan};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum VarsFileError {
    #[error("cannot read variables file {path}: {source}")]
    #[diagnostic(code(drover::vars_file::read))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{}: {message}", yaml_or_vault(message, path))]
    #[diagnostic(code(drover::vars_file::yaml))]
    Yaml {
        path: PathBuf,
        message: String,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("{message}")]
        span: SourceSpan,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Vault(#[from] crate::vault::VaultError),

    #[error("variables file {path} is not UTF-8 text")]
    #[diagnostic(code(drover::vars_file::not_text))]
    NotText { path: PathBuf },

    #[error("variables file {path} must hold a mapping of variables, found {found}")]
    #[diagnostic(
        code(drover::vars_file::not_mapping),
        help("write `name: value` lines at the top level of the file")
    )]
    NotMapping {
        path: PathBuf,
        found: &'static str,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("expected a mapping here")]
        span: SourceSpan,
    },
}

/// The head of a parse error: a YAML mistake, or a `!vault` value that could not be opened.
fn yaml_or_vault(message: &str, path: &Path) -> String {
    match crate::yaml::is_vault_error(message) {
        true => format!(
            "cannot open a vault value in variables file {}",
            path.display()
        ),
        false => format!("invalid YAML in variables file {}", path.display()),
    }
}

/// Reads a variables file; an empty file (or one holding only `null`) has no variables, as in
/// Ansible. A vault-encrypted file is decrypted with the run's keyring (an error naming the
/// file without the right password); its values are then sensitive.
pub fn read(path: &Path) -> Result<Vars, VarsFileError> {
    let bytes = std::fs::read(path).map_err(|source| VarsFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let encrypted = crate::vault::is_encrypted(&bytes);
    let bytes = crate::vault::read_maybe_encrypted(bytes, &path.display().to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| VarsFileError::NotText {
        path: path.to_path_buf(),
    })?;
    let vars = parse(path, &text)?;
    if encrypted {
        for name in vars.keys() {
            crate::sensitive::register_name(name);
        }
    }
    Ok(vars)
}

/// Parses variables-file text as if read from `path` (which names the file in errors).
pub fn parse(path: &Path, text: &str) -> Result<Vars, VarsFileError> {
    let named = || {
        Arc::new(
            NamedSource::new(path.display().to_string(), text.to_string()).with_language("yaml"),
        )
    };
    let root = crate::yaml::parse(text).map_err(|err| {
        let (message, offset) = crate::yaml::error_at(&err, text);
        let span = match offset {
            Some(offset) => SourceSpan::new(offset.into(), 1),
            None => SourceSpan::new(0.into(), 0),
        };
        VarsFileError::Yaml {
            path: path.to_path_buf(),
            message,
            src: named(),
            span,
        }
    })?;
    match &root.value {
        Node::Null => Ok(Vars::new()),
        Node::Map(entries) => Ok(entries
            .iter()
            .map(|(k, v)| (k.value.clone(), to_json(v, text)))
            .collect()),
        other => {
            let span = root.defined.span();
            let start = span
                .byte_offset()
                .and_then(|o| usize::try_from(o).ok())
                .unwrap_or(0);
            let len = span
                .byte_len()
                .and_then(|l| usize::try_from(l).ok())
                .unwrap_or(1)
                .max(1);
            Err(VarsFileError::NotMapping {
                path: path.to_path_buf(),
                found: other.kind(),
                src: named(),
                span: SourceSpan::new(start.into(), len),
            })
        }
    }
}

/// The files a variables directory contributes, as Ansible's `find_vars_files` lists them for
/// `name` under `dir`: the first of `name`, `name.yml`, `name.yaml`, `name.json` that exists;
/// when that is a directory, every file in it (and in subdirectories without an extension)
/// with one of those extensions or none, in lexical order, skipping hidden files and `~`
/// backups.
pub fn find(dir: &Path, name: &str) -> Vec<PathBuf> {
    for ext in ["", ".yml", ".yaml", ".json"] {
        let path = dir.join(format!("{name}{ext}"));
        if path.is_dir() {
            let mut found = Vec::new();
            list_dir(&path, &mut found, 0);
            return found;
        }
        if path.exists() {
            return vec![path];
        }
    }
    Vec::new()
}

/// Directory nesting followed at most (symlink loops must not hang a run).
const MAX_DEPTH: usize = 32;

fn list_dir(dir: &Path, found: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let path = dir.join(&name);
        let ext = Path::new(&name).extension().and_then(|e| e.to_str());
        if path.is_dir() && ext.is_none() {
            if depth < MAX_DEPTH {
                list_dir(&path, found, depth + 1);
            }
        } else if path.is_file() && matches!(ext, None | Some("yml" | "yaml" | "json")) {
            found.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_has_no_vars() {
        assert!(parse(Path::new("x.yml"), "").unwrap().is_empty());
        assert!(
            parse(Path::new("x.yml"), "---\n# nothing\n")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn reads_as_ansible_types_them() {
        let vars = parse(Path::new("x.yml"), "a: 0644\nb: y\nc: [1, two]\n").unwrap();
        assert_eq!(vars["a"], serde_json::json!(420));
        assert_eq!(vars["b"], serde_json::json!("y"));
        assert_eq!(vars["c"], serde_json::json!([1, "two"]));
    }

    #[test]
    fn a_list_is_not_a_vars_file() {
        let err = parse(Path::new("x.yml"), "- a\n- b\n").unwrap_err();
        assert!(
            matches!(
                err,
                VarsFileError::NotMapping {
                    found: "a list",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn syntax_errors_point_at_the_line() {
        let err = parse(Path::new("x.yml"), "a: 1\nb: [unclosed\nc: 2\n").unwrap_err();
        let VarsFileError::Yaml { span, .. } = err else {
            panic!("{err:?}");
        };
        assert!(span.offset() >= 5, "{span:?}");
    }
}

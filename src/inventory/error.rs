//! `InventoryError`: everything that can go wrong loading an inventory or resolving a host
//! pattern. Variants carry their facts and, for problems in a file, the source and the span
//! miette needs to draw `file:line:col` and a caret. Rendering is left to the caller.

use miette::{NamedSource, SourceSpan};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InventoryError {
    #[error("cannot read inventory {path}: {source}")]
    #[diagnostic(code(drover::inventory::read))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{} in inventory: {message}", if crate::yaml::is_vault_error(message) { "cannot open a vault value" } else { "invalid YAML" })]
    #[diagnostic(code(drover::inventory::yaml))]
    YamlSyntax {
        message: String,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("{message}")]
        span: SourceSpan,
    },

    /// The YAML is valid but is not an inventory of the expected shape (a group that is not a
    /// mapping, `hosts` given as a list, a host key that is a mapping, …).
    #[error("{message}")]
    #[diagnostic(code(drover::inventory::structure))]
    Structure {
        message: String,
        label: String,
        #[help]
        help: Option<String>,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("{label}")]
        span: SourceSpan,
    },

    #[error("unknown key `{key}` in group `{group}`")]
    #[diagnostic(code(drover::inventory::unknown_group_key))]
    UnknownGroupKey {
        group: String,
        key: String,
        suggestion: Option<&'static str>,
        #[help]
        help: String,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("not `hosts`, `vars` or `children`")]
        span: SourceSpan,
    },

    /// A line of an INI inventory that cannot be read; `line` is 1-based.
    #[error("{message}")]
    #[diagnostic(code(drover::inventory::ini))]
    IniSyntax {
        message: String,
        line: usize,
        #[help]
        help: Option<String>,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("{message}")]
        span: SourceSpan,
    },

    /// `[g:vars]` for a group never declared, or `[p:children]` naming one.
    #[error("section [{section}] refers to undefined group `{group}`")]
    #[diagnostic(
        code(drover::inventory::undefined_group),
        help("declare it with a `[{group}]` or `[{group}:children]` section")
    )]
    UndefinedGroup {
        group: String,
        section: String,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("`{group}` is not defined anywhere in this inventory")]
        span: SourceSpan,
    },

    #[error("bad host range in `{entry}`: {reason}")]
    #[diagnostic(
        code(drover::inventory::host_range),
        help(
            "ranges are written `[begin:end]` or `[begin:end:step]`, e.g. `web[01:10]`, `db-[a:c]`"
        )
    )]
    HostRange {
        entry: String,
        reason: String,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("{reason}")]
        span: SourceSpan,
    },

    #[error("adding group `{child}` as a child of `{parent}` creates a cycle: {cycle}")]
    #[diagnostic(
        code(drover::inventory::group_cycle),
        help("a group cannot contain itself, directly or through its children")
    )]
    GroupCycle {
        parent: String,
        child: String,
        /// The loop as written, e.g. `a -> b -> a`.
        cycle: String,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("`{child}` already contains `{parent}`")]
        span: SourceSpan,
    },

    #[error("invalid regular expression in host pattern `{pattern}`")]
    #[diagnostic(code(drover::inventory::pattern_regex))]
    PatternRegex {
        pattern: String,
        source: regex::Error,
    },

    /// `web[5]` when `web` has fewer hosts (a slice never fails, like Python's).
    #[error("no host at index {index} in host pattern `{pattern}` (it matches {matched} hosts)")]
    #[diagnostic(code(drover::inventory::pattern_index))]
    PatternIndex {
        pattern: String,
        index: i64,
        matched: usize,
    },

    /// A file of `group_vars/` or `host_vars/`.
    #[error(transparent)]
    #[diagnostic(transparent)]
    VarsFile(#[from] crate::vars_file::VarsFileError),

    #[error("inventory script {script} ({args}): {message}")]
    #[diagnostic(
        code(drover::inventory::script),
        help(
            "an executable inventory is run as Ansible runs it: `SCRIPT --list`, then `SCRIPT --host HOST` when the JSON has no `_meta.hostvars`"
        )
    )]
    Script {
        script: PathBuf,
        args: String,
        message: String,
    },

    #[error("inventory script {script} ({args}) printed invalid JSON: {message}")]
    #[diagnostic(code(drover::inventory::script_json))]
    ScriptJson {
        script: PathBuf,
        args: String,
        message: String,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("{message}")]
        span: SourceSpan,
    },

    #[error("cannot read inventory directory {path}: {source}")]
    #[diagnostic(code(drover::inventory::read_dir))]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot read limit file {path}: {source}")]
    #[diagnostic(code(drover::inventory::limit_file))]
    LimitFile {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One inventory file's text, kept to point errors at it.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub(crate) name: String,
    pub(crate) text: String,
}

impl SourceFile {
    /// The text for an error. Behind an `Arc` to keep `InventoryError` small.
    pub(crate) fn named(&self) -> Arc<NamedSource<String>> {
        Arc::new(
            NamedSource::new(&self.name, self.text.clone()).with_language(language(&self.name)),
        )
    }

    /// Byte offset of a 1-based line and a 1-based column counted in characters, clamped to
    /// the text (parsers report positions this way; miette wants bytes).
    pub(crate) fn offset_of(&self, line: u64, column: u64) -> usize {
        crate::yaml::offset_of(&self.text, line, column)
    }
}

fn language(name: &str) -> &'static str {
    if name.ends_with(".yml") || name.ends_with(".yaml") || name.ends_with(".json") {
        "yaml"
    } else {
        "ini"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_characters_within_a_line() {
        let src = SourceFile {
            name: "x".into(),
            text: "ab\né: x\nlast".into(),
        };
        assert_eq!(src.offset_of(1, 1), 0);
        assert_eq!(src.offset_of(2, 2), 5);
        assert_eq!(src.offset_of(3, 1), 9);
        assert_eq!(src.offset_of(9, 1), 13);
    }
}

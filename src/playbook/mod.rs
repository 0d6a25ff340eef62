//! Playbooks: loading YAML with spans, validating plays and tasks against the keywords and
//! modules drover knows, and keeping each value's location for later diagnostics.
//!
//! Owns the playbook's *shape* only. Templates inside it stay unrendered [`Node`]s: they are
//! rendered per host by the engine, which reports template errors with these same spans.

mod load;
pub mod source;
pub mod yaml;

pub use load::load;
pub use source::Source;
pub use yaml::{Key, Node, NodeValue, Span};

use std::path::PathBuf;

/// A loaded, validated playbook.
#[derive(Debug, Clone)]
pub struct Playbook {
    pub path: PathBuf,
    /// Directory relative to which `src:` paths resolve (Ansible's `playbook_dir`).
    pub dir: PathBuf,
    pub source: Source,
    pub plays: Vec<Play>,
}

#[derive(Debug, Clone)]
pub struct Play {
    pub name: String,
    /// Host pattern, possibly templated.
    pub hosts: Node,
    /// Play variables, unrendered, in file order.
    pub vars: Vec<(Key, Node)>,
    /// Batch sizes from `serial`; empty means all hosts in one batch. The last size repeats.
    pub serial: Vec<BatchSize>,
    pub tasks: Vec<Task>,
    pub span: Span,
}

/// One element of `serial`: a host count or a percentage of the play's hosts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BatchSize {
    Count(usize),
    Percent(f64),
}

#[derive(Debug, Clone)]
pub struct Task {
    pub name: Option<String>,
    /// The module's name as registered (aliases such as `ansible.builtin.shell` resolved).
    pub module: &'static str,
    /// Module arguments: a mapping, or a string for free-form modules (`shell: echo hi`).
    pub args: Node,
    pub when: Vec<Node>,
    pub register: Option<String>,
    pub loop_items: Option<Node>,
    pub changed_when: Vec<Node>,
    pub failed_when: Vec<Node>,
    pub ignore_errors: Option<Node>,
    /// The whole task mapping, for messages about the task.
    pub span: Span,
    /// The module key, for messages about its arguments.
    pub module_span: Span,
}

impl Task {
    /// The name shown in output: the task's `name`, else Ansible's `module` fallback.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => self.module.to_string(),
        }
    }
}

/// A mistake in a playbook, pointing at its source.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
pub struct Problem {
    pub message: String,
    #[source_code]
    pub src: miette::NamedSource<String>,
    #[label("{label}")]
    pub span: miette::SourceSpan,
    pub label: String,
    #[help]
    pub help: Option<String>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlaybookError {
    #[error("cannot read playbook {path}: {source}")]
    #[diagnostic(code(drover::playbook::read))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid YAML")]
    #[diagnostic(code(drover::playbook::yaml))]
    Yaml {
        path: PathBuf,
        #[diagnostic_source]
        detail: Box<dyn miette::Diagnostic + Send + Sync>,
    },
    #[error("{path}: {} problem{} found", problems.len(), if problems.len() == 1 { "" } else { "s" })]
    #[diagnostic(code(drover::playbook::invalid))]
    Invalid {
        path: PathBuf,
        #[related]
        problems: Vec<Problem>,
    },
}

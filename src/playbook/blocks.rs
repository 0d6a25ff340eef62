//! The structure of a task list: plain tasks, `block`/`rescue`/`always` groups (imported
//! files are blocks without rescue), and `include_tasks`, whose file is walked at run time.
//! Leaf tasks live in a flat list per section (per included file) so a [`super::TaskRef`]
//! stays an index; steps refer to them by that index.
//!
//! Keywords a block passes to its tasks (`when`, `ignore_errors`, `tags`) are copied into
//! each task at load time, so the engine only walks the structure.

use super::load::Inherit;
use super::yaml::{Key, Node, Span};
use super::{Source, Task};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub enum Step {
    /// Index into the section's flat task list.
    Task(usize),
    Block(Block),
    /// `include_tasks`: a file of tasks chosen per host when the walk reaches it.
    Include(Box<Include>),
}

#[derive(Debug, Clone)]
pub struct Block {
    pub name: Option<String>,
    pub block: Vec<Step>,
    /// Runs on the hosts that failed in `block`; a host that gets through it is rescued.
    pub rescue: Vec<Step>,
    /// Runs on every host that entered the block, failed or not.
    pub always: Vec<Step>,
    pub span: Span,
}

/// `include_tasks: FILE` (or `{file: FILE, apply: {...}}`).
#[derive(Debug, Clone)]
pub struct Include {
    /// The include itself in the section's flat list: its name, `when`, loop and `tags`
    /// (they apply to the include, not to the tasks it brings).
    pub task: usize,
    /// The file name as written; may be a template, rendered per host (and loop item).
    pub file: Node,
    /// The file read when the playbook loaded, when its name is plain text.
    pub loaded: Option<Arc<TaskFile>>,
    /// The include's `vars:`, unrendered: rendered per host when the include is reached and
    /// seen by every included task.
    pub vars: Vec<(Key, Node)>,
    /// Where a relative file name is looked for, in order: the including file's directory,
    /// then the playbook's (a role's `tasks/` is added at run time).
    pub dirs: Vec<PathBuf>,
    /// What the included tasks inherit: the include's surroundings and its `apply:`.
    pub(crate) inherit: Inherit,
    /// `include_role`: the role to read instead of a file of tasks.
    pub role: Option<RoleInclude>,
}

/// What `include_role` names: a role (a template rendered per host) and its tasks file.
#[derive(Debug, Clone)]
pub struct RoleInclude {
    pub name: Node,
    /// `tasks_from` (default `main`), possibly a template.
    pub tasks_from: Option<Node>,
    /// `public`: the role's `vars/` and `defaults/` stay visible to the play's later tasks.
    pub public: bool,
}

/// A file of tasks brought in by `include_tasks`: its own flat list and structure.
#[derive(Debug, Clone)]
pub struct TaskFile {
    pub path: PathBuf,
    pub source: Source,
    pub tasks: Vec<Task>,
    pub steps: Vec<Step>,
}

/// The files of every `include_tasks` in `steps` whose name is plain text (read at load
/// time), nested ones included, each once.
pub fn static_includes(steps: &[Step]) -> Vec<Arc<TaskFile>> {
    let mut found: Vec<Arc<TaskFile>> = Vec::new();
    let mut pending: Vec<&[Step]> = vec![steps];
    // Each file is visited once, and a file never holds itself (cycles are left to run
    // time): bounded by the number of files read.
    while let Some(list) = pending.pop() {
        for step in list {
            match step {
                Step::Task(_) => {}
                Step::Block(block) => {
                    pending.extend([&block.block[..], &block.rescue[..], &block.always[..]]);
                }
                Step::Include(include) => {
                    if let Some(file) = &include.loaded
                        && !found.iter().any(|f| Arc::ptr_eq(f, file))
                    {
                        found.push(file.clone());
                        pending.push(&file.steps);
                    }
                }
            }
        }
    }
    found
}

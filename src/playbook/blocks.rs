//! The structure of a task list: plain tasks and `block`/`rescue`/`always` groups (imported
//! files are blocks without rescue). Leaf tasks live in a flat list per section so a
//! [`super::TaskRef`] stays an index; steps refer to them by that index.
//!
//! Keywords a block passes to its tasks (`when`, `ignore_errors`, `tags`) are copied into
//! each task at load time, so the engine only walks the structure.

use super::yaml::Span;

#[derive(Debug, Clone)]
pub enum Step {
    /// Index into the section's flat task list.
    Task(usize),
    Block(Block),
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

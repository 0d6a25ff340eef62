//! A role as loaded for one use in a play: where it lives (for `src:` lookups) and the
//! variable layers its tasks and handlers see — `defaults/main.yml` (below everything),
//! `vars/main.yml` and its entry's `vars:` (above play vars and `vars_files`) and the params
//! it was given (above registered results and `set_fact`), each kept unrendered with the
//! file it came from. [`RoleVars`] also holds the `vars:` of blocks and tasks.

use super::Source;
use super::yaml::{Key, Node};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    /// `roles/NAME`: its `templates/` and `files/` are searched before the playbook's.
    pub dir: PathBuf,
    pub defaults: RoleVars,
    pub vars: RoleVars,
    /// The `vars:` of its `roles:` entry (or dependency): just above `vars/main.yml`.
    pub entry_vars: RoleVars,
    /// Keys of the `roles:` entry besides `role`/`when`/`tags`/`vars` (Ansible's role params).
    pub params: RoleVars,
    /// How the play came to run it.
    pub from: RoleFrom,
    /// For a role brought in by `import_role`/`include_role` from another role's tasks: that
    /// role (name and directory), then its own parents (`ansible_parent_role_names`).
    pub parents: Vec<(String, PathBuf)>,
}

/// How a role is used: listed in `roles:`, a dependency in `meta/main.yml`, or brought in by
/// an `import_role`/`include_role` task (Ansible's `ansible_play_role_names` are the first
/// and last, `ansible_dependent_role_names` the second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleFrom {
    Play,
    Dependency,
    Task,
}

/// Variables of one layer (a role's file, a role entry's or a block's or task's `vars:`),
/// unrendered, in file order, with the file they were read from.
#[derive(Debug, Clone)]
pub struct RoleVars {
    pub vars: Vec<(Key, Node)>,
    pub source: Source,
}

impl RoleVars {
    pub fn empty(source: &Source) -> RoleVars {
        RoleVars {
            vars: Vec::new(),
            source: source.clone(),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.vars.iter().any(|(k, _)| k.name == name)
    }
}

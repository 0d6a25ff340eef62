//! A role as loaded for one use in a play: where it lives (for `src:` lookups) and the
//! variable layers its tasks and handlers see — `defaults/main.yml` (below everything),
//! `vars/main.yml` (above play vars and `vars_files`) and the params it was given (above
//! registered results and `set_fact`), each kept unrendered with the file it came from.

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
    /// Keys of the `roles:` entry besides `role`/`when`/`tags` (and its `vars:`), or the
    /// `vars:` of an `import_role` task.
    pub params: RoleVars,
}

/// Variables of one role layer, unrendered, in file order, with the file they were read from.
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

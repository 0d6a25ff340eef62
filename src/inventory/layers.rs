//! A host's inventory-level variables, merged in the order Ansible's `VariableManager`
//! merges them (its default `VARIABLE_PRECEDENCE`), lowest first:
//! 1. the `all` group's vars from the inventory source;
//! 2. the host's other groups' vars from the source, sorted by depth, then
//!    `ansible_group_priority`, then name;
//! 3. `group_vars/all` beside the inventory, then 4. beside the playbook;
//! 5. `group_vars/GROUP` beside the inventory for those groups in the same order, then
//!    6. beside the playbook;
//! 7. the host's own vars from the source, 8. `host_vars/HOST` beside the inventory,
//!    9. beside the playbook.
//!
//! Values replace whole (`hash_behaviour = replace`). Owns loading the `group_vars/` and
//! `host_vars/` directories; the play-level layers above these belong to the engine.

use super::{Host, Inventory, InventoryError, Vars};
use indexmap::IndexMap;
use std::path::{Path, PathBuf};

/// `group_vars/` and `host_vars/` beside one inventory source or playbook, as read for the
/// inventory's groups and hosts (files for names the inventory does not have are ignored, as
/// in Ansible).
#[derive(Debug, Clone, Default)]
pub struct VarDirs {
    pub base: PathBuf,
    pub groups: IndexMap<String, Vars>,
    pub hosts: IndexMap<String, Vars>,
}

impl VarDirs {
    /// Reads `base/group_vars/NAME…` for every group and `base/host_vars/NAME…` for every
    /// host (and the implicit `localhost`); see [`crate::vars_file::find`] for which files.
    pub fn load(base: &Path, inventory: &Inventory) -> Result<VarDirs, InventoryError> {
        let mut dirs = VarDirs {
            base: base.to_path_buf(),
            ..VarDirs::default()
        };
        let group_dir = base.join("group_vars");
        if group_dir.is_dir() {
            for name in inventory.groups.keys() {
                if let Some(vars) = read_entity(&group_dir, name)? {
                    dirs.groups.insert(name.clone(), vars);
                }
            }
        }
        let host_dir = base.join("host_vars");
        if host_dir.is_dir() {
            let implicit = inventory.implicit_localhost.as_ref().map(|h| &h.name);
            for name in inventory.hosts.keys().chain(implicit) {
                if let Some(vars) = read_entity(&host_dir, name)? {
                    dirs.hosts.insert(name.clone(), vars);
                }
            }
        }
        Ok(dirs)
    }

    fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.hosts.is_empty()
    }
}

/// The variables of `dir/NAME` (a file or a directory of files merged in lexical order), or
/// `None` when there is none.
fn read_entity(dir: &Path, name: &str) -> Result<Option<Vars>, InventoryError> {
    let files = crate::vars_file::find(dir, name);
    if files.is_empty() {
        return Ok(None);
    }
    let mut vars = Vars::new();
    for file in files {
        vars.extend(crate::vars_file::read(&file)?);
    }
    Ok(Some(vars))
}

impl Inventory {
    /// Loads `group_vars/`/`host_vars/` beside the playbook (`dir`) as the layers above the
    /// inventory's own (see the module docs) and merges every host's variables again. A
    /// directory already read as the inventory's is not read twice.
    pub fn add_playbook_dir(&mut self, dir: &Path) -> Result<(), InventoryError> {
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        if self.inventory_var_dirs.iter().any(|d| same(&d.base, dir))
            || self.playbook_var_dirs.iter().any(|d| same(&d.base, dir))
        {
            return Ok(());
        }
        let dirs = VarDirs::load(dir, self)?;
        if !dirs.is_empty() {
            self.playbook_var_dirs.push(dirs);
            self.resolve_vars();
        }
        Ok(())
    }

    /// Recomputes every host's `vars` from its layers (see the module docs).
    pub(crate) fn resolve_vars(&mut self) {
        let mut resolved: Vec<Vars> = Vec::with_capacity(self.hosts.len());
        for host in self.hosts.values() {
            resolved.push(self.merge(host));
        }
        for (host, vars) in self.hosts.values_mut().zip(resolved) {
            host.vars = vars;
        }
        if let Some(local) = &self.implicit_localhost {
            let mut vars = self.merge(local);
            vars.insert("ansible_connection".to_string(), "local".into());
            if let Some(local) = self.implicit_localhost.as_mut() {
                local.vars = vars;
            }
        }
    }

    fn merge(&self, host: &Host) -> Vars {
        let mut vars = Vars::new();
        let mut layer = |from: Option<&Vars>| {
            if let Some(from) = from {
                vars.extend(from.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        };
        layer(self.groups.get("all").map(|g| &g.vars));
        for group in &host.merge_order {
            layer(self.groups.get(group).map(|g| &g.vars));
        }
        let dirs = || {
            self.inventory_var_dirs
                .iter()
                .chain(&self.playbook_var_dirs)
        };
        for dir in dirs() {
            layer(dir.groups.get("all"));
        }
        for dir in dirs() {
            for group in &host.merge_order {
                layer(dir.groups.get(group));
            }
        }
        layer(Some(&host.own_vars));
        for dir in dirs() {
            layer(dir.hosts.get(&host.name));
        }
        vars
    }
}

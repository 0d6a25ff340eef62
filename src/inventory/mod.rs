//! Ansible-compatible inventories (YAML and INI): hosts, groups, children, variables, and host
//! patterns. Owns loading and selecting hosts; knows nothing about SSH or playbooks.

use indexmap::IndexMap;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Variables as loaded from YAML/INI, in file order.
pub type Vars = IndexMap<String, Value>;

#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    /// Effective variables: `all` vars, then parent groups before child groups, then host vars
    /// (Ansible's order for inventory variables).
    pub vars: Vars,
    /// Every group the host belongs to, directly or through children, excluding `all`.
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Group {
    pub name: String,
    pub vars: Vars,
    /// Hosts listed directly in this group, in file order.
    pub hosts: Vec<String>,
    pub children: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub source: PathBuf,
    /// All hosts, in the order they first appear in the source.
    pub hosts: IndexMap<String, Host>,
    pub groups: IndexMap<String, Group>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InventoryError {
    #[error("cannot read inventory {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Inventory {
    /// Loads a YAML (`.yml`, `.yaml`, or content that parses as a YAML mapping) or INI inventory.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let _ = path;
        todo!("inventory loading")
    }

    /// Hosts matching an Ansible host pattern (`all`, `*`, a group, a host, `a:b`, `a:&b`,
    /// `a:!b`, wildcards), in inventory order.
    pub fn select(&self, pattern: &str) -> Result<Vec<&Host>, InventoryError> {
        let _ = pattern;
        todo!("host patterns")
    }

    /// `groups` magic variable: group name -> host names (including `all` and `ungrouped`).
    pub fn groups_map(&self) -> IndexMap<String, Vec<String>> {
        todo!("groups map")
    }
}

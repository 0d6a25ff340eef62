//! Ansible-compatible inventories (YAML and INI): hosts, groups, children, variables, and host
//! patterns. Owns loading and selecting hosts; knows nothing about SSH or playbooks.
//!
//! The goal is that an inventory means here what it means to `ansible-inventory --list`:
//! - Format: `.yml`/`.yaml`/`.json` are read as Ansible's `yaml` inventory plugin format. Any
//!   other name (`.ini`, `hosts`, no extension) is read as YAML when it parses as a YAML
//!   mapping whose values are all mappings or empty (group-shaped), and as INI otherwise.
//! - Variables: see [`Host::vars`] for the merge order; nested values replace, never deep-merge.
//! - `all` contains every group; `ungrouped` holds the hosts in no group but `all`.
//! - Order: "inventory order" is the order Ansible walks `all` (a group's own hosts, then its
//!   children breadth-first), which is the order plays run hosts in.
//!
//! Deliberately not here: `group_vars/`/`host_vars/` directories, dynamic inventory scripts and
//! plugins, vault decryption (a `!vault` value is kept as its ciphertext text).
//!
//! Submodules: `yaml`/`ini` read the two formats into `build::Builder`, which applies Ansible's
//! reconciliation; `pattern` resolves host patterns; `host_range` expands `web[01:03]`.

mod build;
mod error;
mod host_range;
mod ini;
mod pattern;
mod pyliteral;
mod yaml;

pub use error::InventoryError;

use error::SourceFile;
use indexmap::IndexMap;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// Variables as loaded from YAML/INI, in file order.
pub type Vars = IndexMap<String, Value>;

#[derive(Debug, Clone, Default)]
pub struct Host {
    pub name: String,
    /// Effective inventory variables, in Ansible's order (later wins, values replace whole):
    /// 1. the `all` group's vars;
    /// 2. every other group the host is in (directly or through children), sorted by depth
    ///    (parents before children), then `ansible_group_priority` (default 1, higher wins),
    ///    then group name alphabetically;
    /// 3. the host's own vars (a host listed several times: later settings win).
    pub vars: Vars,
    /// Every group the host belongs to, directly or through children, excluding `all`, sorted
    /// by name (Ansible's `group_names`).
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Group {
    pub name: String,
    /// The group's own vars (without `ansible_group_priority`, which sets `priority`).
    pub vars: Vars,
    /// Hosts listed directly in this group, in file order.
    pub hosts: Vec<String>,
    pub children: Vec<String>,
    /// Parent groups; every group but `all` has at least one (`all` when none is written).
    pub parents: Vec<String>,
    /// Longest chain of parents up to `all` (`all` is 0, a top-level group 1).
    pub depth: usize,
    /// `ansible_group_priority`: among groups of the same depth, higher is merged later.
    pub priority: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub source: PathBuf,
    /// All hosts, in inventory order (the order Ansible walks `all`: see the module docs).
    pub hosts: IndexMap<String, Host>,
    pub groups: IndexMap<String, Group>,
    /// What `localhost`, `127.0.0.1` or `::1` select when the inventory does not list them,
    /// as Ansible's implicit localhost: `all` vars plus `ansible_connection: local`.
    pub implicit_localhost: Option<Host>,
}

/// How a file is read, from its name (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Detect,
}

impl Inventory {
    /// Loads a YAML (`.yml`, `.yaml`, `.json`, or other content that parses as a group-shaped
    /// YAML mapping) or INI inventory.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Inventory::from_source(path, text)
    }

    /// Parses inventory text as if read from `path` (which picks the format and names the
    /// file in errors).
    pub fn from_source(path: &Path, text: String) -> Result<Inventory, InventoryError> {
        let source = SourceFile {
            name: path.display().to_string(),
            text,
        };
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("yml" | "yaml" | "json") => Format::Yaml,
            _ => Format::Detect,
        };
        let builder = match format {
            Format::Yaml => yaml::read(source)?,
            Format::Detect => match yaml::probe(&source) {
                yaml::Probe::Inventory(root) => yaml::read_parsed(source, &root)?,
                yaml::Probe::NotInventory => ini::read(source)?,
                // Broken YAML makes a poor INI file: show the YAML error, it is the useful one.
                yaml::Probe::LooksLikeBrokenYaml(yaml_error) => {
                    ini::read(source).map_err(|_| *yaml_error)?
                }
            },
        };
        Ok(builder.finish(path))
    }

    /// Hosts matching an Ansible host pattern (`all`, `*`, a group, a host, `a:b`, `a,b`,
    /// `a:&b`, `a:!b`, wildcards, `~regex`, `group[0]`, `group[1:3]`, `group[-1]`), in
    /// inventory order. Matching nothing is `Ok(vec![])`; the caller decides whether to warn.
    pub fn select(&self, pattern: &str) -> Result<Vec<&Host>, InventoryError> {
        pattern::select(self, pattern, None)
    }

    /// `select(pattern)` restricted to the hosts `limit` matches (`--limit`). In `limit`,
    /// `@path` reads one pattern per line from a file.
    pub fn select_limited(
        &self,
        pattern: &str,
        limit: Option<&str>,
    ) -> Result<Vec<&Host>, InventoryError> {
        pattern::select(self, pattern, limit)
    }

    /// Hosts of a group, directly or through its children, in Ansible's order; empty for an
    /// unknown group.
    pub fn group_hosts(&self, group: &str) -> Vec<&Host> {
        self.member_names(group)
            .into_iter()
            .filter_map(|name| self.hosts.get(name))
            .collect()
    }

    /// `groups` magic variable: group name -> host names (including `all` and `ungrouped`).
    pub fn groups_map(&self) -> IndexMap<String, Vec<String>> {
        self.groups
            .keys()
            .map(|name| {
                let hosts = self
                    .member_names(name)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                (name.clone(), hosts)
            })
            .collect()
    }

    /// The JSON `ansible-inventory --list` prints: one entry per non-empty group with `hosts`
    /// (direct members) and `children`, `all` with only `children`, and `_meta.hostvars` with
    /// every host's merged variables.
    pub fn to_ansible_list_json(&self) -> Value {
        let mut out = Map::new();
        let mut seen = std::collections::HashSet::new();
        self.list_group("all", &mut seen, &mut out);
        let hostvars: Map<String, Value> = self
            .hosts
            .values()
            .filter(|h| !h.vars.is_empty())
            .map(|h| {
                let vars: Map<String, Value> = h.vars.clone().into_iter().collect();
                (h.name.clone(), Value::Object(vars))
            })
            .collect();
        out.insert("_meta".to_string(), json!({ "hostvars": hostvars }));
        Value::Object(out)
    }

    fn list_group(
        &self,
        name: &str,
        seen: &mut std::collections::HashSet<String>,
        out: &mut Map<String, Value>,
    ) {
        let Some(group) = self.groups.get(name) else {
            return;
        };
        // Insert first so that the group precedes its children, as in Ansible's output.
        out.insert(name.to_string(), Value::Null);
        let mut entry = Map::new();
        if name != "all" && !group.hosts.is_empty() {
            entry.insert("hosts".to_string(), json!(group.hosts));
        }
        if !group.children.is_empty() {
            entry.insert("children".to_string(), json!(group.children));
        }
        for child in &group.children {
            if seen.insert(child.clone()) {
                self.list_group(child, seen, out);
            }
        }
        if entry.is_empty() {
            out.shift_remove(name);
        } else {
            out.insert(name.to_string(), Value::Object(entry));
        }
    }

    /// Host names in `group` and its descendants, the way Ansible's `Group.get_hosts` orders
    /// them: the group's own hosts, then its children's, then grandchildren's, and so on
    /// (breadth-first, each level in the order the previous level lists its children).
    pub(crate) fn member_names(&self, group: &str) -> Vec<&str> {
        let Some(start) = self.groups.get(group) else {
            return Vec::new();
        };
        let mut ordered: Vec<&Group> = vec![start];
        let mut seen: Vec<&str> = vec![start.name.as_str()];
        let mut level: Vec<&Group> = vec![start];
        while !level.is_empty() {
            let mut next: Vec<&Group> = Vec::new();
            for g in &level {
                for child in &g.children {
                    if seen.contains(&child.as_str()) {
                        continue;
                    }
                    if let Some(child) = self.groups.get(child) {
                        seen.push(child.name.as_str());
                        ordered.push(child);
                        next.push(child);
                    }
                }
            }
            level = next;
        }
        let mut hosts: Vec<&str> = Vec::new();
        let mut known = std::collections::HashSet::new();
        for g in ordered {
            for h in &g.hosts {
                if known.insert(h.as_str()) {
                    hosts.push(h.as_str());
                }
            }
        }
        hosts
    }
}

#[cfg(test)]
mod tests;

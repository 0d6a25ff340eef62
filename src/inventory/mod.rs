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
//! - Sources: a file, an executable script (`script --list`, Ansible's `script` plugin), or a
//!   directory of them read in lexical order into one inventory.
//! - `group_vars/` and `host_vars/` beside the inventory (and, via
//!   [`Inventory::add_playbook_dir`], beside the playbook) join each host's vars in Ansible's
//!   order: see `layers`.
//!
//! Deliberately not here: inventory plugins (`plugin:` files), vault decryption (a `!vault`
//! value is kept as its ciphertext text).
//!
//! Submodules: `yaml`/`ini`/`script` read sources into `build::Builder`, which applies Ansible's
//! reconciliation; `layers` merges variables; `pattern` resolves host patterns; `host_range`
//! expands `web[01:03]`.

mod build;
mod error;
mod host_range;
mod ini;
mod layers;
mod pattern;
mod pyliteral;
mod script;
mod yaml;

pub use error::InventoryError;
pub use layers::VarDirs;

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
    /// the inventory's group vars (`all`, then the host's other groups in `merge_order`),
    /// `group_vars/` files, the host's own vars, `host_vars/` files. See `layers` for the
    /// whole order.
    pub vars: Vars,
    /// The vars the inventory source gives the host itself (a host listed several times:
    /// later settings win).
    pub own_vars: Vars,
    /// Every group the host belongs to, directly or through children, excluding `all`, sorted
    /// by name (Ansible's `group_names`).
    pub groups: Vec<String>,
    /// The same groups in the order their vars merge (Ansible's `sort_groups`): by depth
    /// (parents before children), then `ansible_group_priority` (default 1, higher wins),
    /// then name.
    pub merge_order: Vec<String>,
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
    /// `group_vars/`/`host_vars/` beside the inventory source.
    pub inventory_var_dirs: Vec<VarDirs>,
    /// `group_vars/`/`host_vars/` beside the playbook (higher precedence).
    pub playbook_var_dirs: Vec<VarDirs>,
}

/// How a file is read, from its name (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Detect,
}

impl Inventory {
    /// Loads an inventory source as Ansible does: a directory (every source in it, in lexical
    /// order, skipping what Ansible skips), an executable script, or a YAML (`.yml`, `.yaml`,
    /// `.json`, or other content that parses as a group-shaped YAML mapping) or INI file; then
    /// the `group_vars/`/`host_vars/` beside it (inside it, for a directory).
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let empty = SourceFile {
            name: path.display().to_string(),
            text: String::new(),
        };
        let builder = read_source(build::Builder::new(empty), path, 0)?;
        let mut inventory = builder.finish(path);
        let base = if path.is_dir() {
            path.to_path_buf()
        } else {
            parent_dir(path)
        };
        let dirs = VarDirs::load(&base, &inventory)?;
        inventory.inventory_var_dirs.push(dirs);
        inventory.resolve_vars();
        Ok(inventory)
    }

    /// Several sources as one inventory, as `ansible-playbook -i a -i b` reads them (later
    /// sources add hosts and override variables); a source that is not an existing path and
    /// contains a comma is an inline host list (`-i 'web1,web2:2222,'`).
    pub fn load_sources(sources: &[String]) -> Result<Inventory, InventoryError> {
        let first = sources.first().map(String::as_str).unwrap_or("");
        let empty = SourceFile {
            name: first.to_string(),
            text: String::new(),
        };
        let mut builder = build::Builder::new(empty);
        let mut bases = Vec::new();
        for source in sources {
            let path = Path::new(source);
            if !path.exists() && source.contains(',') {
                // An inline list is the host_list plugin: every item an ungrouped host.
                let text: String = source
                    .split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(|h| format!("{h}\n"))
                    .collect();
                builder = read_text(builder, Path::new("inline host list"), text)?;
                continue;
            }
            builder = read_source(builder, path, 0)?;
            bases.push(if path.is_dir() {
                path.to_path_buf()
            } else {
                parent_dir(path)
            });
        }
        let mut inventory = builder.finish(Path::new(first));
        for base in bases {
            let dirs = VarDirs::load(&base, &inventory)?;
            inventory.inventory_var_dirs.push(dirs);
        }
        inventory.resolve_vars();
        Ok(inventory)
    }

    /// Parses inventory text as if read from `path` (which picks the format and names the
    /// file in errors). Reads no `group_vars/`.
    pub fn from_source(path: &Path, text: String) -> Result<Inventory, InventoryError> {
        let empty = SourceFile {
            name: path.display().to_string(),
            text: String::new(),
        };
        Ok(read_text(build::Builder::new(empty), path, text)?.finish(path))
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

    /// The host named `name`: an inventory host, or Ansible's implicit localhost for
    /// `localhost`, `127.0.0.1` or `::1` when the inventory does not list them.
    pub fn host_or_implicit(&self, name: &str) -> Option<&Host> {
        self.hosts.get(name).or_else(|| {
            pattern::LOCALHOST
                .contains(&name)
                .then_some(self.implicit_localhost.as_ref())
                .flatten()
        })
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

/// Names Ansible skips in a directory inventory: hidden files, variable directories, and its
/// `INVENTORY_IGNORE_EXTS` (`REJECT_EXTS` plus `.orig`, `.cfg`, `.retry`).
fn ignored_in_directory(name: &str) -> bool {
    const IGNORED_EXTS: &[&str] = &[
        ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg",
        ".retry",
    ];
    name.starts_with('.')
        || matches!(name, "host_vars" | "group_vars" | "vars_plugins")
        || IGNORED_EXTS.iter().any(|ext| name.ends_with(ext))
}

/// Directory nesting followed at most in a directory inventory (symlink loops).
const MAX_SOURCE_DEPTH: usize = 16;

fn read_source(
    builder: build::Builder,
    path: &Path,
    depth: usize,
) -> Result<build::Builder, InventoryError> {
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|source| InventoryError::ReadDir {
            path: path.to_path_buf(),
            source,
        })?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !ignored_in_directory(name))
            .collect();
        names.sort();
        let mut builder = builder;
        for name in names {
            let entry = path.join(name);
            if entry.is_dir() && depth >= MAX_SOURCE_DEPTH {
                continue;
            }
            builder = read_source(builder, &entry, depth + 1)?;
        }
        return Ok(builder);
    }
    if script::is_script(path) {
        return script::read(builder, path);
    }
    let text = crate::vault::read_to_string(path).map_err(|source| InventoryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    read_text(builder, path, text)
}

fn read_text(
    builder: build::Builder,
    path: &Path,
    text: String,
) -> Result<build::Builder, InventoryError> {
    let builder = builder.next_source(SourceFile {
        name: path.display().to_string(),
        text,
    });
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("yml" | "yaml" | "json") => Format::Yaml,
        _ => Format::Detect,
    };
    match format {
        Format::Yaml => yaml::read(builder),
        Format::Detect => match yaml::probe(&builder.source) {
            yaml::Probe::Inventory(root) => yaml::read_parsed(builder, &root),
            yaml::Probe::NotInventory => ini::read(builder),
            // Broken YAML makes a poor INI file: show the YAML error, it is the useful one.
            yaml::Probe::LooksLikeBrokenYaml(yaml_error) => {
                ini::read(builder).map_err(|_| *yaml_error)
            }
        },
    }
}

/// The directory a file is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

#[cfg(test)]
mod tests;

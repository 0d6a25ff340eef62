//! Building an `Inventory` the way Ansible's `InventoryData` does, shared by the YAML and INI
//! readers: groups and hosts as declared, then the reconciliation Ansible runs after parsing
//! (orphan groups become children of `all`, `ungrouped` holds hosts in no other group), group
//! depths, and each host's merged variables.

use super::error::SourceFile;
use super::{Group, Host, Inventory, InventoryError, Vars};
use indexmap::IndexMap;
use miette::SourceSpan;
use serde_json::Value;
use std::path::Path;

/// Ansible's default `ansible_group_priority`.
const DEFAULT_PRIORITY: i64 = 1;

#[derive(Debug)]
struct RawGroup {
    vars: Vars,
    priority: i64,
    hosts: Vec<String>,
    children: Vec<String>,
    parents: Vec<String>,
}

impl Default for RawGroup {
    fn default() -> Self {
        RawGroup {
            vars: Vars::new(),
            priority: DEFAULT_PRIORITY,
            hosts: Vec::new(),
            children: Vec::new(),
            parents: Vec::new(),
        }
    }
}

#[derive(Debug, Default)]
struct RawHost {
    vars: Vars,
    /// Groups the host was listed in directly.
    groups: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct Builder {
    pub(crate) source: SourceFile,
    groups: IndexMap<String, RawGroup>,
    hosts: IndexMap<String, RawHost>,
}

impl Builder {
    pub(crate) fn new(source: SourceFile) -> Builder {
        let mut builder = Builder {
            source,
            groups: IndexMap::new(),
            hosts: IndexMap::new(),
        };
        // Ansible creates both before reading any source, `ungrouped` as the first child.
        builder.add_group("all");
        builder.add_group("ungrouped");
        builder.link("all", "ungrouped");
        builder
    }

    pub(crate) fn add_group(&mut self, name: &str) {
        self.groups.entry(name.to_string()).or_default();
    }

    pub(crate) fn has_group(&self, name: &str) -> bool {
        self.groups.contains_key(name)
    }

    /// Makes `child` a child group of `parent` (both created if needed). `at` is where the
    /// child is named in the source, for the error if this closes a loop.
    pub(crate) fn add_child(
        &mut self,
        parent: &str,
        child: &str,
        at: SourceSpan,
    ) -> Result<(), InventoryError> {
        self.add_group(parent);
        self.add_group(child);
        if let Some(path) = self.path_down(child, parent) {
            let mut cycle = path;
            cycle.push(child.to_string());
            return Err(InventoryError::GroupCycle {
                parent: parent.to_string(),
                child: child.to_string(),
                cycle: cycle.join(" -> "),
                src: self.source.named(),
                span: at,
            });
        }
        self.link(parent, child);
        Ok(())
    }

    fn link(&mut self, parent: &str, child: &str) {
        if let Some(group) = self.groups.get_mut(parent)
            && !group.children.iter().any(|c| c == child)
        {
            group.children.push(child.to_string());
        }
        if let Some(group) = self.groups.get_mut(child)
            && !group.parents.iter().any(|p| p == parent)
        {
            group.parents.push(parent.to_string());
        }
    }

    /// The chain of groups from `from` down to `to` through children, if there is one.
    fn path_down(&self, from: &str, to: &str) -> Option<Vec<String>> {
        if from == to {
            return Some(vec![from.to_string()]);
        }
        let mut stack = vec![vec![from.to_string()]];
        let mut seen = std::collections::HashSet::new();
        while let Some(path) = stack.pop() {
            let last = path.last()?;
            if !seen.insert(last.clone()) {
                continue;
            }
            for child in self.groups.get(last.as_str())?.children.iter().rev() {
                let mut next = path.clone();
                next.push(child.clone());
                if child == to {
                    return Some(next);
                }
                stack.push(next);
            }
        }
        None
    }

    /// Adds a host to a group. A port is recorded as `ansible_port` when the host is first
    /// seen, as Ansible does; explicit `ansible_port` variables set later win.
    pub(crate) fn add_host(&mut self, name: &str, group: &str, port: Option<u16>) {
        if !self.hosts.contains_key(name) {
            let mut host = RawHost::default();
            if let Some(port) = port {
                host.vars
                    .insert("ansible_port".to_string(), Value::from(port));
            }
            self.hosts.insert(name.to_string(), host);
        }
        self.add_group(group);
        // A host's own group list is short, and a group lists a host exactly when the host
        // lists the group: checking it keeps adding N hosts to a group linear (a scan of the
        // group's hosts made `h[0:99999]` quadratic).
        if let Some(host) = self.hosts.get_mut(name)
            && !host.groups.iter().any(|g| g == group)
        {
            host.groups.push(group.to_string());
            if let Some(g) = self.groups.get_mut(group) {
                g.hosts.push(name.to_string());
            }
        }
    }

    /// Sets a group variable; `ansible_group_priority` sets the group's priority instead (Ansible
    /// does not keep it as a variable).
    pub(crate) fn set_group_var(&mut self, group: &str, key: &str, value: Value) {
        self.add_group(group);
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        if key == "ansible_group_priority"
            && let Some(priority) = as_priority(&value)
        {
            g.priority = priority;
            return;
        }
        g.vars.insert(key.to_string(), value);
    }

    pub(crate) fn set_host_var(&mut self, host: &str, key: &str, value: Value) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.vars.insert(key.to_string(), value);
        }
    }

    /// Ansible's `reconcile_inventory`, then the finished `Inventory`.
    pub(crate) fn finish(mut self, path: &Path) -> Inventory {
        let orphans: Vec<String> = self
            .groups
            .iter()
            .filter(|(name, g)| name.as_str() != "all" && g.parents.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        for orphan in orphans {
            // `all` has no parents, so this cannot close a loop.
            self.link("all", &orphan);
        }

        let names: Vec<String> = self.hosts.keys().cloned().collect();
        for name in names {
            let Some(host) = self.hosts.get(&name) else {
                continue;
            };
            let in_other_group = host.groups.iter().any(|g| g != "all" && g != "ungrouped");
            if in_other_group {
                if let Some(ungrouped) = self.groups.get_mut("ungrouped") {
                    ungrouped.hosts.retain(|h| h != &name);
                }
                if let Some(host) = self.hosts.get_mut(&name) {
                    host.groups.retain(|g| g != "ungrouped");
                }
            } else if !host.groups.iter().any(|g| g == "ungrouped") {
                self.add_host(&name, "ungrouped", None);
            }
        }

        let depths = self.depths();
        let groups: IndexMap<String, Group> = self
            .groups
            .iter()
            .map(|(name, g)| {
                let group = Group {
                    name: name.clone(),
                    vars: g.vars.clone(),
                    hosts: g.hosts.clone(),
                    children: g.children.clone(),
                    parents: g.parents.clone(),
                    depth: depths.get(name).copied().unwrap_or(0),
                    priority: g.priority,
                };
                (name.clone(), group)
            })
            .collect();

        let mut inventory = Inventory {
            source: path.to_path_buf(),
            hosts: IndexMap::new(),
            groups,
            implicit_localhost: None,
            inventory_var_dirs: Vec::new(),
            playbook_var_dirs: Vec::new(),
        };
        for (name, raw) in &self.hosts {
            let host = self.resolve_host(name, raw, &inventory.groups);
            inventory.hosts.insert(name.clone(), host);
        }
        // `Inventory.hosts` follows the order Ansible gives `all`, which is the order plays
        // run in; it can differ from file order when groups nest.
        let order: Vec<String> = inventory
            .member_names("all")
            .into_iter()
            .map(str::to_string)
            .collect();
        // Taken out by position (a shift_remove per host made large inventories quadratic);
        // hosts `all` does not list keep their file order after the others.
        let mut slots: Vec<Option<(String, Host)>> = inventory.hosts.drain(..).map(Some).collect();
        let position: std::collections::HashMap<String, usize> = slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| slot.as_ref().map(|(name, _)| (name.clone(), i)))
            .collect();
        let mut ordered = IndexMap::with_capacity(slots.len());
        for name in order {
            if let Some(&i) = position.get(&name)
                && let Some((name, host)) = slots[i].take()
            {
                ordered.insert(name, host);
            }
        }
        ordered.extend(slots.into_iter().flatten());
        inventory.hosts = ordered;

        inventory.implicit_localhost = Some(Host {
            name: "localhost".to_string(),
            ..Host::default()
        });
        inventory.resolve_vars();
        inventory
    }

    /// Depth of each group: the longest chain of parents up to `all` (Ansible keeps the
    /// maximum when a group is reachable several ways).
    fn depths(&self) -> IndexMap<String, usize> {
        let mut depths: IndexMap<String, usize> = IndexMap::new();
        for name in self.groups.keys() {
            self.depth_of(name, &mut depths);
        }
        depths
    }

    fn depth_of(&self, name: &str, memo: &mut IndexMap<String, usize>) -> usize {
        if let Some(depth) = memo.get(name) {
            return *depth;
        }
        let parents = self
            .groups
            .get(name)
            .map(|g| g.parents.clone())
            .unwrap_or_default();
        // Loops were refused in `add_child`, so this recursion ends.
        let depth = parents
            .iter()
            .map(|p| self.depth_of(p, memo) + 1)
            .max()
            .unwrap_or(0);
        memo.insert(name.to_string(), depth);
        depth
    }

    fn resolve_host(&self, name: &str, raw: &RawHost, groups: &IndexMap<String, Group>) -> Host {
        // Every group the host is in, directly or as a descendant.
        let mut member_of: Vec<&Group> = Vec::new();
        let mut stack: Vec<&str> = raw.groups.iter().map(String::as_str).collect();
        while let Some(g) = stack.pop() {
            let Some(group) = groups.get(g) else {
                continue;
            };
            if member_of.iter().any(|m| m.name == group.name) {
                continue;
            }
            member_of.push(group);
            stack.extend(group.parents.iter().map(String::as_str));
        }
        member_of.retain(|g| g.name != "all");
        // Ansible's `sort_groups`: by depth, then priority, then name.
        member_of
            .sort_by(|a, b| (a.depth, a.priority, &a.name).cmp(&(b.depth, b.priority, &b.name)));

        let mut names: Vec<String> = member_of.iter().map(|g| g.name.clone()).collect();
        let merge_order = names.clone();
        names.sort();
        Host {
            name: name.to_string(),
            vars: Vars::new(),
            own_vars: raw.vars.clone(),
            groups: names,
            merge_order,
        }
    }

    /// Starts reading another source (the next file of a directory inventory) into the same
    /// inventory, as Ansible's sources share one `InventoryData`.
    pub(crate) fn next_source(mut self, source: SourceFile) -> Builder {
        self.source = source;
        self
    }
}

/// Python's `int(value)` for the values a priority is written as.
fn as_priority(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

//! The magic variables that change while a play runs, as Ansible shows them: `hostvars` (every
//! host's variables, with what other hosts registered or `set_fact` a moment ago) and the
//! lists of the play's hosts still standing (`ansible_play_hosts`, `ansible_play_batch`).
//!
//! A host's facts live in one [`Facts`] handle that its own tasks write and every other host
//! reads, so a fact is visible the moment it is set, whatever runs the host: a linear task,
//! a `free` walk or a rollout pipeline running concurrently with others. `hostvars[h]` is
//! built from it on first use (and again after `h`'s facts change), as Ansible builds it:
//! `h`'s inventory variables, `include_vars`, facts and `-e`, its templates rendered in `h`'s
//! own context, and the magic variables that do not depend on a play. Play `vars`,
//! `vars_files` and role variables are not part of it, as in Ansible.
//!
//! Who stands is Ansible's `_removed_hosts`: a host leaves when a task fails on it (not
//! ignored, not rescued) or it becomes unreachable, and stays out for the play.

use super::vars::{self, PlayScope};
use crate::inventory::{Inventory, Vars};
use crate::template::{LazyVars, Templates, Written};
use minijinja::Value as JinjaValue;
use minijinja::value::{Enumerator, Object, ObjectRepr};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    match lock.read() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    match lock.write() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// One host's variables set while the run goes: registered results and `set_fact`s, and
/// below them `include_vars` (Ansible's `_vars_cache`). Cheap to clone: every clone is the
/// same store.
#[derive(Debug, Clone, Default)]
pub(super) struct Facts {
    store: Arc<RwLock<FactLayers>>,
}

#[derive(Debug, Default)]
pub(super) struct FactLayers {
    /// Bumped by every change, so a `hostvars` view knows it is stale.
    version: u64,
    pub included: Map<String, Value>,
    pub facts: Map<String, Value>,
}

impl Facts {
    /// Both layers, read (held briefly: the host's own task waits to write meanwhile).
    pub fn read(&self) -> RwLockReadGuard<'_, FactLayers> {
        read(&self.store)
    }

    fn change(&self, apply: impl FnOnce(&mut FactLayers)) {
        let mut layers = write(&self.store);
        apply(&mut layers);
        layers.version += 1;
    }

    pub fn get(&self, name: &str) -> Option<Value> {
        self.read().facts.get(name).cloned()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.read().facts.contains_key(name)
    }

    /// A registered result or a `set_fact`.
    pub fn set(&self, name: &str, value: Value) {
        self.change(|l| {
            l.facts.insert(name.to_string(), value);
        });
    }

    /// Facts a module returned (`ansible_facts`): into `include_vars`' layer for
    /// `include_vars`, else with the facts.
    pub fn set_all(&self, values: &Map<String, Value>, included: bool) {
        self.change(|l| {
            let layer = if included {
                &mut l.included
            } else {
                &mut l.facts
            };
            layer.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
        });
    }

    /// What an earlier run of a rollout journaled, restored.
    pub fn restore(&self, facts: &Map<String, Value>, included: &Map<String, Value>) {
        self.change(|l| {
            l.facts
                .extend(facts.iter().map(|(k, v)| (k.clone(), v.clone())));
            l.included
                .extend(included.iter().map(|(k, v)| (k.clone(), v.clone())));
        });
    }

    pub fn clear(&self) {
        self.change(|l| {
            l.facts.clear();
            l.included.clear();
        });
    }

    fn version(&self) -> u64 {
        self.read().version
    }
}

/// What hosts show each other, for the whole run.
#[derive(Debug, Default)]
pub(super) struct Live {
    /// Each host's facts store, shared with its `HostState`.
    facts: RwLock<HashMap<String, Facts>>,
    /// Ansible's `_removed_hosts`: failed (not rescued) or unreachable in this play.
    removed: RwLock<HashSet<String>>,
}

impl Live {
    /// `host`'s facts store, created empty on first use.
    pub fn facts_of(&self, host: &str) -> Facts {
        if let Some(facts) = read(&self.facts).get(host) {
            return facts.clone();
        }
        write(&self.facts)
            .entry(host.to_string())
            .or_default()
            .clone()
    }

    /// A play starts: the hosts that fell in earlier plays are out of it from the start.
    pub fn start_play(&self, fallen: HashSet<String>) {
        *write(&self.removed) = fallen;
    }

    /// `host` failed (not ignored, not rescued) or became unreachable.
    pub fn remove(&self, host: &str) {
        let mut removed = write(&self.removed);
        if !removed.contains(host) {
            removed.insert(host.to_string());
        }
    }

    pub fn is_removed(&self, host: &str) -> bool {
        read(&self.removed).contains(host)
    }

    fn standing(&self, hosts: &[String]) -> Vec<JinjaValue> {
        let removed = read(&self.removed);
        hosts
            .iter()
            .filter(|h| !removed.contains(*h))
            .map(|h| JinjaValue::from(h.as_str()))
            .collect()
    }
}

/// `ansible_play_hosts` (the play's hosts) or `ansible_play_batch` / `play_hosts` (the
/// current batch's), without the hosts removed from the play.
#[derive(Debug)]
pub(super) struct Standing {
    pub hosts: Arc<Mutex<Vec<String>>>,
    pub live: Arc<Live>,
}

impl Standing {
    fn list(&self) -> Vec<JinjaValue> {
        let hosts = lock(&self.hosts).clone();
        self.live.standing(&hosts)
    }
}

impl Object for Standing {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &JinjaValue) -> Option<JinjaValue> {
        let index = usize::try_from(key.as_i64()?).ok()?;
        self.list().get(index).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.list())
    }
}

/// The play's magic variables that `hostvars[h]` shows too (they do not depend on the play
/// in Ansible); `omit`, `ansible_play_*` and `role_names` are the play's only.
const RUN_MAGIC: &[&str] = &[
    "playbook_dir",
    "ansible_check_mode",
    "ansible_diff_mode",
    "ansible_version",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_forks",
    "ansible_verbosity",
    "ansible_inventory_sources",
    "ansible_config_file",
    "ansible_playbook_python",
    "inventory_dir",
    "inventory_file",
];

/// `hostvars`: each inventory host's variables, built when first read.
pub(super) struct Hostvars {
    pub inventory: Arc<Inventory>,
    pub extra_vars: Vars,
    pub templates: Templates,
    /// The play's magic variables (those of [`RUN_MAGIC`] are shown).
    pub magic: Map<String, Value>,
    /// `groups`: a view renders with it, not with `hostvars` itself.
    pub shared: Vec<(String, JinjaValue)>,
    pub live: Arc<Live>,
    /// Each host's view, with the facts version it was built at.
    pub cache: Mutex<HashMap<String, (u64, JinjaValue)>>,
}

impl std::fmt::Debug for Hostvars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hostvars").finish_non_exhaustive()
    }
}

impl Hostvars {
    fn view(&self, name: &str, host: &crate::inventory::Host, facts: &FactLayers) -> JinjaValue {
        let mut vars = LazyVars::default();
        for (k, v) in &host.vars {
            vars.put_template(k, v.clone(), Written::Layer("inventory"));
        }
        for layer in [&facts.included, &facts.facts] {
            for (k, v) in layer {
                vars.put(k, v.clone());
            }
        }
        for (k, v) in self.extra_vars.iter() {
            vars.put_template(k, v.clone(), Written::Layer("extra vars"));
        }
        for (k, v) in &self.magic {
            if RUN_MAGIC.contains(&k.as_str()) {
                vars.put(k, v.clone());
            }
        }
        vars::put_host_names(&mut vars, name, &host.groups);
        vars.context(&self.templates, &self.shared)
    }
}

impl Object for Hostvars {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &JinjaValue) -> Option<JinjaValue> {
        let name = key.as_str()?;
        let host = self.inventory.host_or_implicit(name)?;
        let facts = self.live.facts_of(name);
        let version = facts.version();
        if let Some((built, view)) = lock(&self.cache).get(name)
            && *built == version
        {
            return Some(view.clone());
        }
        let (version, view) = {
            let layers = facts.read();
            (layers.version, self.view(name, host, &layers))
        };
        lock(&self.cache).insert(name.to_string(), (version, view.clone()));
        Some(view)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.inventory
                .hosts
                .keys()
                .map(|h| JinjaValue::from(h.as_str()))
                .collect(),
        )
    }
}

/// The `hostvars` of a play whose magic variables are `scope`'s.
pub(super) fn hostvars(
    inventory: &Arc<Inventory>,
    extra_vars: &Vars,
    scope: &PlayScope,
    groups: JinjaValue,
    live: &Arc<Live>,
) -> JinjaValue {
    JinjaValue::from_object(Hostvars {
        inventory: inventory.clone(),
        extra_vars: extra_vars.clone(),
        templates: scope.templates.clone(),
        magic: scope.magic.clone(),
        shared: vec![("groups".to_string(), groups)],
        live: live.clone(),
        cache: Mutex::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_fact_set_through_one_handle_is_read_through_another() {
        let live = Live::default();
        let writer = live.facts_of("db1");
        let before = live.facts_of("db1").version();
        writer.set("port", json!(5433));
        let reader = live.facts_of("db1");
        assert_eq!(reader.get("port"), Some(json!(5433)));
        assert!(reader.version() > before);
        writer.set_all(&Map::from_iter([("a".to_string(), json!(1))]), true);
        assert_eq!(reader.read().included.get("a"), Some(&json!(1)));
        assert!(!reader.contains("a"), "include_vars is its own layer");
    }

    #[test]
    fn removed_hosts_leave_the_standing_lists() {
        let live = Live::default();
        let hosts = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        live.start_play(HashSet::from(["c".to_string()]));
        live.remove("a");
        live.remove("a");
        let names: Vec<String> = live
            .standing(&hosts)
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(names, ["b"]);
        live.start_play(HashSet::new());
        assert_eq!(live.standing(&hosts).len(), 3);
    }
}

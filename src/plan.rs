//! The plan: which hosts each play runs on, in which batches. Computed from the playbook and
//! the inventory without touching any host, so `drover plan` and the engine agree.

use crate::inventory::{Inventory, InventoryError, Vars};
use crate::playbook::{BatchSize, HostOrder, Play, Playbook};
use crate::template::{
    LazyVars, Origin, TemplateError, Templates, Written, from_json, has_template_syntax,
};
use crate::vars_file::VarsFileError;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub plays: Vec<PlayPlan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlayPlan {
    /// Index into `Playbook::plays`.
    pub play: usize,
    pub name: String,
    pub pattern: String,
    /// Matched hosts in inventory order.
    pub hosts: Vec<String>,
    /// Hosts split by `serial` (or `rolling.batch`), in order.
    pub batches: Vec<Vec<String>>,
    /// The batch sizes `batches` were split by (a templated `serial` rendered).
    #[serde(skip)]
    pub sizes: Vec<BatchSize>,
    /// Whether this play is a rollout (`phases:`).
    pub rollout: bool,
    /// `strategy`, its template rendered when it is one (`"{{ s | default('linear') }}"`).
    #[serde(skip)]
    pub strategy: crate::playbook::Strategy,
    /// Set when `order_by` could not be evaluated from inventory variables alone (it uses
    /// facts registered by `precheck`): the engine orders the hosts after the precheck.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_deferred: Option<String>,
    /// The play's `vars_files`, read for each host (paths may use host variables).
    #[serde(skip)]
    pub vars_files: VarsFiles,
}

/// `vars_files` as read for each host: every file once, each host pointing at its own list.
#[derive(Debug, Clone, Default)]
pub struct VarsFiles {
    files: Vec<(PathBuf, Arc<Vars>)>,
    per_host: HashMap<String, Vec<usize>>,
}

impl VarsFiles {
    /// The variables of each file `host` reads, in `vars_files` order (later wins).
    pub fn for_host(&self, host: &str) -> Vec<&Vars> {
        self.per_host
            .get(host)
            .map(|indexes| {
                indexes
                    .iter()
                    .filter_map(|&i| self.files.get(i).map(|(_, vars)| vars.as_ref()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Inventory(#[from] InventoryError),
    #[error("host pattern: {0}")]
    Pattern(#[from] TemplateError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    VarsFile(#[from] VarsFileError),
    #[error("vars_files path for host {host}: {source}")]
    VarsFilePath { host: String, source: TemplateError },
    #[error("{at}: vars_files: no file found for {host} (tried {tried})")]
    #[diagnostic(help(
        "a relative path is looked up in `vars/` beside the playbook, then beside the playbook"
    ))]
    VarsFileMissing {
        at: String,
        host: String,
        tried: String,
    },
    #[error("serial: {0}")]
    SerialTemplate(TemplateError),
    #[error(
        "{at}: `serial` must be a host count, a percentage such as \"25%\", or a list of them; it gave {got}"
    )]
    #[diagnostic(help("0 (or an empty value) means every host in one batch"))]
    Serial { at: String, got: String },
    #[error("{at}: `strategy` rendered to {got}; drover has `linear` and `free`")]
    Strategy { at: String, got: String },
    #[error(
        "{at}: `order` rendered to {got}; it must be one of inventory, reverse_inventory, sorted, reverse_sorted, shuffle"
    )]
    Order { at: String, got: String },
    #[error("--limit `{0}` matches no host of the inventory")]
    #[diagnostic(help("check the pattern with `drover inventory -i INVENTORY --graph`"))]
    LimitMatchesNothing(String),
}

/// Selects each play's hosts (its pattern, intersected with `--limit`) and splits them into
/// batches.
pub fn plan(
    playbook: &Playbook,
    inventory: &Inventory,
    limit: Option<&str>,
    extra_vars: &Vars,
    templates: &Templates,
) -> Result<Plan, PlanError> {
    // `--limit` (also `@file`) must match something: a typo must not look like success.
    if let Some(pattern) = limit
        && inventory.select_limited("all", Some(pattern))?.is_empty()
    {
        return Err(PlanError::LimitMatchesNothing(pattern.to_string()));
    }
    let mut plays = Vec::new();
    for (index, play) in playbook.plays.iter().enumerate() {
        // Host patterns and `serial` may use play vars and extra vars, never host vars (no
        // host yet), as in Ansible.
        let (known, ctx) = play_context(play, inventory, extra_vars, templates);
        let pattern_text = play.hosts.as_str().unwrap_or("");
        let pattern = templates.render_str(
            pattern_text,
            &ctx,
            Origin::Node(&play.source, play.hosts.span),
        )?;
        let selected: Vec<String> = inventory
            .select_limited(&pattern, limit)?
            .into_iter()
            .map(|h| h.name.clone())
            .collect();
        let mut order_deferred = None;
        let order = order(play, &ctx, templates)?;
        let hosts = order_hosts(selected, play, order, inventory, |host| {
            let Some(order_by) = play.rolling.as_ref().and_then(|r| r.order_by.as_ref()) else {
                return Ok(minijinja::Value::from(()));
            };
            let vars = static_vars(play, inventory, host, extra_vars);
            templates
                .render_value(
                    order_by.as_str().unwrap_or_default(),
                    &from_json(&vars),
                    Origin::Node(&play.source, order_by.span),
                )
                .map(|v| from_json(&v))
        })
        .unwrap_or_else(|(hosts, err)| {
            order_deferred = Some(err.to_string());
            hosts
        });
        let sizes = match &play.rolling {
            Some(rolling) if play.phases.is_some() => rolling.batch.clone(),
            _ => serial(play, &ctx, templates).map_err(|err| match err {
                PlanError::SerialTemplate(mut err) => {
                    err.message = explained(&known, err.message);
                    PlanError::SerialTemplate(err)
                }
                other => other,
            })?,
        };
        let batches = split(&hosts, &sizes);
        let vars_files = read_vars_files(play, inventory, &hosts, extra_vars, templates)?;
        let strategy = strategy(play, &ctx, templates)?;
        plays.push(PlayPlan {
            play: index,
            name: play.name.clone(),
            pattern,
            hosts,
            batches,
            sizes,
            rollout: play.phases.is_some(),
            strategy,
            order_deferred,
            vars_files,
        });
    }
    Ok(Plan { plays })
}

/// What a play knows before any host: its `vars`, `-e` and `groups`, each rendered when
/// used.
fn play_context(
    play: &Play,
    inventory: &Inventory,
    extra_vars: &Vars,
    templates: &Templates,
) -> (LazyVars, minijinja::Value) {
    let mut vars = LazyVars::default();
    let groups: serde_json::Map<String, serde_json::Value> = inventory
        .groups_map()
        .into_iter()
        .map(|(g, hosts)| (g, serde_json::Value::from(hosts)))
        .collect();
    vars.put("groups", serde_json::Value::Object(groups));
    // `serial: "{{ n | default(omit) }}"`: omitted is not set at all.
    vars.put("omit", serde_json::Value::from(crate::template::OMIT));
    for (key, value) in &play.vars {
        let written = Written::At(play.source.clone(), value.span);
        vars.put_template(&key.name, value.to_json(), written);
    }
    for (key, value) in extra_vars {
        vars.put_template(key, value.clone(), Written::Layer("extra vars"));
    }
    let ctx = vars.context(templates, &[]);
    (vars, ctx)
}

/// An "undefined variable `x`" message with why `x` is undefined, when its template failed.
fn explained(vars: &LazyVars, message: String) -> String {
    for (name, why) in vars.failures() {
        if message.contains(&format!("undefined variable `{name}`")) {
            return format!("{message} (its definition failed: {why})");
        }
    }
    message
}

/// The play's strategy: as written, or its template rendered (Ansible renders it with the
/// play's vars and `-e`).
fn strategy(
    play: &Play,
    ctx: &minijinja::Value,
    templates: &Templates,
) -> Result<crate::playbook::Strategy, PlanError> {
    let Some(node) = &play.strategy_template else {
        return Ok(play.strategy);
    };
    let value = templates
        .render_node(node, ctx, &play.source)
        .map_err(PlanError::SerialTemplate)?;
    match value.as_str().map(str::trim) {
        Some(crate::template::OMIT) => Ok(play.strategy),
        Some("linear") => Ok(crate::playbook::Strategy::Linear),
        Some("free") => Ok(crate::playbook::Strategy::Free),
        _ => Err(PlanError::Strategy {
            at: play.source.location(node.span),
            got: value.to_string(),
        }),
    }
}

/// The play's host order: as written, or its template rendered with the play's vars and
/// `-e` (as Ansible renders `order`).
fn order(
    play: &Play,
    ctx: &minijinja::Value,
    templates: &Templates,
) -> Result<HostOrder, PlanError> {
    let Some(node) = &play.order_template else {
        return Ok(play.order);
    };
    let value = templates
        .render_node(node, ctx, &play.source)
        .map_err(PlanError::SerialTemplate)?;
    match value.as_str().map(str::trim) {
        Some(crate::template::OMIT) => Ok(play.order),
        Some(word) => HostOrder::parse(word).ok_or_else(|| PlanError::Order {
            at: play.source.location(node.span),
            got: value.to_string(),
        }),
        None => Err(PlanError::Order {
            at: play.source.location(node.span),
            got: value.to_string(),
        }),
    }
}

/// The play's batch sizes: `serial` as written, or its template rendered. As in Ansible, 0
/// (or nothing) is every host in one batch, also as an element of a list (the rest).
fn serial(
    play: &Play,
    ctx: &minijinja::Value,
    templates: &Templates,
) -> Result<Vec<BatchSize>, PlanError> {
    let Some(node) = &play.serial_template else {
        return Ok(play.serial.clone());
    };
    let value = templates
        .render_node(node, ctx, &play.source)
        .map_err(PlanError::SerialTemplate)?;
    let bad = || PlanError::Serial {
        at: play.source.location(node.span),
        got: value.to_string(),
    };
    let one = |v: &serde_json::Value| -> Option<BatchSize> {
        match v {
            serde_json::Value::Null => Some(BatchSize::Percent(100.0)),
            serde_json::Value::Number(n) => match n.as_u64()? {
                0 => Some(BatchSize::Percent(100.0)),
                n => Some(BatchSize::Count(usize::try_from(n).ok()?)),
            },
            serde_json::Value::String(s) => match s.trim() {
                "" | "0" | crate::template::OMIT => Some(BatchSize::Percent(100.0)),
                text => crate::playbook::load::parse_batch_size(text),
            },
            _ => None,
        }
    };
    let sizes = match &value {
        serde_json::Value::Array(items) => items.iter().map(one).collect::<Option<Vec<_>>>(),
        other => one(other).map(|size| vec![size]),
    };
    let sizes = sizes.ok_or_else(bad)?;
    // One batch of everything is no serial at all.
    Ok(if sizes == [BatchSize::Percent(100.0)] {
        Vec::new()
    } else {
        sizes
    })
}

/// Reads the play's `vars_files` for each host, as Ansible does at the start of a play: each
/// path rendered with what is known before connecting (inventory vars, play vars, extra vars),
/// looked up in `vars/` beside the play's file, then beside it; for a list of paths, the first
/// that exists.
fn read_vars_files(
    play: &Play,
    inventory: &Inventory,
    hosts: &[String],
    extra_vars: &Vars,
    templates: &Templates,
) -> Result<VarsFiles, PlanError> {
    let mut out = VarsFiles::default();
    if play.vars_files.is_empty() {
        return Ok(out);
    }
    let mut index_of: HashMap<PathBuf, usize> = HashMap::new();
    for host in hosts {
        let vars = from_json(&static_vars(play, inventory, host, extra_vars));
        let mut chosen = Vec::new();
        for item in &play.vars_files {
            let choices = match &item.value {
                crate::playbook::NodeValue::Seq(items) => items.iter().collect(),
                _ => vec![item],
            };
            let mut tried = Vec::new();
            let mut found = None;
            for choice in choices {
                let text = choice.as_str().unwrap_or_default();
                let rendered = if has_template_syntax(text) {
                    templates
                        .render_str(text, &vars, Origin::Node(&play.source, choice.span))
                        .map_err(|source| PlanError::VarsFilePath {
                            host: host.clone(),
                            source,
                        })?
                } else {
                    text.to_string()
                };
                let candidates = candidates(&play.dir, &rendered);
                if let Some(path) = candidates.iter().find(|p| p.is_file()) {
                    found = Some(path.clone());
                    break;
                }
                tried.extend(candidates.iter().map(|p| p.display().to_string()));
            }
            let Some(path) = found else {
                return Err(PlanError::VarsFileMissing {
                    at: play.source.location(item.span),
                    host: host.clone(),
                    tried: tried.join(", "),
                });
            };
            let index = match index_of.get(&path) {
                Some(&i) => i,
                None => {
                    let vars = crate::vars_file::read(&path)?;
                    out.files.push((path.clone(), Arc::new(vars)));
                    index_of.insert(path, out.files.len() - 1);
                    out.files.len() - 1
                }
            };
            chosen.push(index);
        }
        out.per_host.insert(host.clone(), chosen);
    }
    Ok(out)
}

/// Where a `vars_files` path may be: as is when absolute, else `vars/PATH` then `PATH` beside
/// the playbook.
fn candidates(playbook_dir: &Path, path: &str) -> Vec<PathBuf> {
    let path = Path::new(path);
    if path.is_absolute() {
        return vec![path.to_path_buf()];
    }
    vec![
        playbook_dir.join("vars").join(path),
        playbook_dir.join(path),
    ]
}

/// Inventory vars, play vars (as written) and extra vars: what is known before connecting.
fn static_vars(
    play: &Play,
    inventory: &Inventory,
    host: &str,
    extra_vars: &Vars,
) -> serde_json::Value {
    let mut vars = serde_json::Map::new();
    if let Some(h) = inventory.hosts.get(host) {
        vars.extend(h.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    vars.insert("inventory_hostname".into(), host.into());
    for (key, value) in &play.vars {
        vars.insert(key.name.clone(), value.to_json());
    }
    vars.extend(extra_vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    serde_json::Value::Object(vars)
}

/// Orders a play's hosts: Ansible's `order` first, then (for rollouts) `order_groups` and
/// `order_by` as sort keys, stable so equal keys keep the previous order. `key` evaluates
/// `order_by` for a host; when it fails, the hosts come back in `order` order with the error.
pub fn order_hosts<E>(
    mut hosts: Vec<String>,
    play: &Play,
    order: HostOrder,
    inventory: &Inventory,
    mut key: impl FnMut(&str) -> Result<minijinja::Value, E>,
) -> Result<Vec<String>, (Vec<String>, E)> {
    match order {
        HostOrder::Inventory => {}
        HostOrder::ReverseInventory => hosts.reverse(),
        HostOrder::Sorted => hosts.sort(),
        HostOrder::ReverseSorted => {
            hosts.sort();
            hosts.reverse();
        }
        HostOrder::Shuffle => {
            use rand::seq::SliceRandom;
            hosts.shuffle(&mut rand::rng());
        }
    }
    let Some(rolling) = &play.rolling else {
        return Ok(hosts);
    };
    let group_rank = |host: &str| {
        let groups = inventory
            .hosts
            .get(host)
            .map(|h| h.groups.as_slice())
            .unwrap_or(&[]);
        rolling
            .order_groups
            .iter()
            .position(|g| groups.contains(g))
            .unwrap_or(rolling.order_groups.len())
    };
    let mut keyed = Vec::with_capacity(hosts.len());
    for host in &hosts {
        match key(host) {
            Ok(k) => keyed.push((group_rank(host), k, host.clone())),
            Err(err) => {
                let mut by_group = hosts.clone();
                by_group.sort_by_key(|h| group_rank(h));
                return Err((by_group, err));
            }
        }
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    Ok(keyed.into_iter().map(|(_, _, h)| h).collect())
}

/// A stage (its index in `rolling.stages`; `None` without stages) and its hosts, in order.
pub type StageHosts = (Option<usize>, Vec<String>);

/// A rollout's hosts by stage, in rollout order: `(index in rolling.stages, hosts)`; without
/// `stages:`, one stage of every host. A host in no stage or in two is what a run halts on
/// before changing anything: `Err` says why, in the run's words.
pub fn stages(
    rolling: &crate::playbook::Rolling,
    inventory: &Inventory,
    ordered: &[String],
) -> Result<Vec<StageHosts>, String> {
    if rolling.stages.is_empty() {
        return Ok(vec![(None, ordered.to_vec())]);
    }
    let mut owner: HashMap<&str, &str> = HashMap::new();
    let mut stages = Vec::new();
    for (index, stage) in rolling.stages.iter().enumerate() {
        let matched = inventory
            .select(&stage.hosts)
            .map_err(|e| format!("stage `{}`: {e}", stage.name))?;
        let hosts: Vec<&String> = ordered
            .iter()
            .filter(|h| matched.iter().any(|m| &m.name == *h))
            .collect();
        for host in &hosts {
            if let Some(other) = owner.insert(host.as_str(), &stage.name) {
                return Err(format!(
                    "{host} is in two stages, `{other}` and `{}`: a host is upgraded in one stage",
                    stage.name
                ));
            }
        }
        stages.push((Some(index), hosts.into_iter().cloned().collect()));
    }
    let left: Vec<&str> = ordered
        .iter()
        .map(String::as_str)
        .filter(|h| !owner.contains_key(h))
        .collect();
    if !left.is_empty() {
        return Err(format!(
            "{} in no stage: every host of a staged rollout belongs to one (add a stage, or narrow the play's `hosts`)",
            left.join(", ")
        ));
    }
    Ok(stages)
}

/// Batch sizes for `total` hosts: Ansible's rule — a percentage rounds down but is at least
/// one host, the last size repeats, and the sizes cover every host exactly once.
pub fn batch_sizes(total: usize, serial: &[BatchSize]) -> Vec<usize> {
    if total == 0 {
        return Vec::new();
    }
    if serial.is_empty() {
        return vec![total];
    }
    let size_of = |b: &BatchSize| match *b {
        BatchSize::Count(n) => n.max(1),
        BatchSize::Percent(p) => (((total as f64) * p / 100.0).floor() as usize).max(1),
    };
    let mut sizes = Vec::new();
    let mut left = total;
    let mut i = 0;
    while left > 0 {
        let want = size_of(&serial[i.min(serial.len() - 1)]);
        let take = want.min(left);
        sizes.push(take);
        left -= take;
        i += 1;
    }
    sizes
}

/// Splits hosts into batches of [`batch_sizes`].
pub fn split(hosts: &[String], serial: &[BatchSize]) -> Vec<Vec<String>> {
    let mut rest = hosts;
    batch_sizes(hosts.len(), serial)
        .into_iter()
        .map(|n| {
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            batch.to_vec()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ansible_batch_rules() {
        assert_eq!(batch_sizes(5, &[]), vec![5]);
        assert_eq!(batch_sizes(5, &[BatchSize::Count(2)]), vec![2, 2, 1]);
        assert_eq!(
            batch_sizes(10, &[BatchSize::Percent(25.0)]),
            vec![2, 2, 2, 2, 2]
        );
        assert_eq!(batch_sizes(3, &[BatchSize::Percent(10.0)]), vec![1, 1, 1]);
        assert_eq!(
            batch_sizes(
                10,
                &[
                    BatchSize::Count(1),
                    BatchSize::Percent(50.0),
                    BatchSize::Count(3)
                ]
            ),
            vec![1, 5, 3, 1]
        );
    }

    #[test]
    fn a_templated_serial_renders_with_play_vars_extra_vars_and_groups() {
        let inv = inventory(&[("web", &[0, 1, 2, 3])], 4);
        let t = Templates::new();
        let batches = |serial: &str, extra: &[(&str, serde_json::Value)]| {
            let text = format!(
                "- hosts: web\n  vars:\n    half: \"{{{{ (groups.web | length / 2) | int }}}}\"\n  serial: {serial}\n  tasks: []\n"
            );
            let source = crate::playbook::Source::new("p.yml", text);
            let plays = crate::playbook::load::parse_for_tests(&source).expect("parse");
            let playbook = Playbook {
                path: "p.yml".into(),
                dir: ".".into(),
                source,
                plays,
            };
            let extra: Vars = extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            plan(&playbook, &inv, None, &extra, &t)
                .map(|p| p.plays[0].batches.iter().map(Vec::len).collect::<Vec<_>>())
        };
        let ok = |serial: &str, extra: &[(&str, serde_json::Value)]| {
            batches(serial, extra).unwrap_or_else(|e| panic!("{serial}: {e}"))
        };
        assert_eq!(ok("\"{{ batch | default(0) }}\"", &[]), vec![4]);
        assert_eq!(
            ok("\"{{ batch | default(0) }}\"", &[("batch", 3.into())]),
            vec![3, 1]
        );
        assert_eq!(ok("\"{{ half }}\"", &[]), vec![2, 2]);
        assert_eq!(ok("[1, \"{{ rest | default(0) }}\"]", &[]), vec![1, 3]);
        assert_eq!(ok("\"{{ '25%' }}\"", &[]), vec![1, 1, 1, 1]);
        assert_eq!(ok("0", &[]), vec![4]);
        let err = batches("\"{{ 'many' }}\"", &[]).unwrap_err().to_string();
        assert!(
            err.contains("p.yml:4:11: `serial` must be a host count"),
            "{err}"
        );
        let err = batches("\"{{ nope }}\"", &[]).unwrap_err().to_string();
        assert!(err.contains("undefined variable `nope`"), "{err}");
    }

    fn batch_size() -> impl Strategy<Value = BatchSize> {
        prop_oneof![
            (1usize..20).prop_map(BatchSize::Count),
            (1u32..=100).prop_map(|p| BatchSize::Percent(f64::from(p))),
        ]
    }

    fn rollout_play(order_groups: Vec<String>) -> Play {
        let source =
            crate::playbook::Source::new("p.yml", "- hosts: all\n  phases:\n    upgrade: []\n");
        let Ok(mut plays) = crate::playbook::load::parse_for_tests(&source) else {
            panic!("parse")
        };
        let mut play = plays.remove(0);
        if let Some(rolling) = play.rolling.as_mut() {
            rolling.order_groups = order_groups;
        }
        play
    }

    fn inventory(groups: &[(&str, &[usize])], n: usize) -> Inventory {
        let mut text = String::from("all:\n  hosts:\n");
        for i in 0..n {
            text.push_str(&format!("    h{i}:\n"));
        }
        text.push_str("  children:\n");
        for (group, members) in groups {
            text.push_str(&format!("    {group}:\n      hosts:\n"));
            for m in *members {
                text.push_str(&format!("        h{m}:\n"));
            }
        }
        match Inventory::from_source(std::path::Path::new("inv.yml"), text) {
            Ok(inv) => inv,
            Err(e) => panic!("{e}"),
        }
    }

    proptest! {
        #[test]
        fn ordering_is_stable_and_puts_groups_then_keys_in_order(
            n in 1usize..12,
            keys in proptest::collection::vec(0i32..3, 12),
            primary in proptest::collection::vec(0usize..12, 0..4),
        ) {
            let primary: Vec<usize> = primary.into_iter().filter(|&p| p < n).collect();
            let inv = inventory(&[("first", &primary)], n);
            let play = rollout_play(vec!["first".to_string()]);
            let hosts: Vec<String> = (0..n).map(|i| format!("h{i}")).collect();
            let key_of = |h: &str| keys[h[1..].parse::<usize>().unwrap_or(0)];
            let ordered = order_hosts(hosts.clone(), &play, play.order, &inv, |h| {
                Ok::<_, ()>(minijinja::Value::from(key_of(h)))
            })
            .unwrap_or_else(|(h, _)| h);
            // A permutation of the hosts…
            let mut sorted = ordered.clone();
            sorted.sort_by_key(|h| h[1..].parse::<usize>().unwrap_or(0));
            prop_assert_eq!(&sorted, &hosts);
            // …sorted by (in `first`? first : last, key), ties in inventory order.
            let rank = |h: &String| {
                let i = h[1..].parse::<usize>().unwrap_or(0);
                (usize::from(!primary.contains(&i)), key_of(h), i)
            };
            for pair in ordered.windows(2) {
                prop_assert!(rank(&pair[0]) < rank(&pair[1]), "{:?}", ordered);
            }
        }

        #[test]
        fn batches_cover_every_host_once_in_order(
            n in 0usize..200,
            serial in proptest::collection::vec(batch_size(), 0..4),
        ) {
            let hosts: Vec<String> = (0..n).map(|i| format!("h{i}")).collect();
            let batches = split(&hosts, &serial);
            prop_assert!(batches.iter().all(|b| !b.is_empty()));
            let flat: Vec<String> = batches.concat();
            prop_assert_eq!(flat, hosts);
        }
    }
}

//! What `drover plan` knows of each host's variables without running a step: the context a
//! task would see on a host (inventory, play vars, `vars_files`, role layers, extra vars,
//! magic variables) plus what a probe's precheck registered, built the way a run builds a
//! task's context, so that the plan renders names, targets and arguments as the run would.
//!
//! Variables whose names look secret (`db_password`, `api_token`, …) and `no_log` results
//! are left out: a plan never shows one. Nothing here connects or runs anything.

use super::{Probe, RunConfig, RunState, Shared, play_scope, task, vars};
use crate::inventory::Inventory;
use crate::journal::looks_secret;
use crate::plan::Plan;
use crate::playbook::{Phase, Play, Playbook, Role};
use crate::template::{from_json, to_json};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Each play's hosts as far as the plan knows them.
pub struct Known {
    shared: Arc<Shared>,
    plays: HashMap<usize, KnownPlay>,
}

struct KnownPlay {
    scope: vars::PlayScope,
    hosts: indexmap::IndexMap<String, super::HostState>,
}

impl Known {
    /// `probes`: what `drover plan` learned by running prechecks (empty offline).
    pub fn new(
        playbook: Arc<Playbook>,
        inventory: Arc<Inventory>,
        plan: &Plan,
        config: RunConfig,
        probes: &[Probe],
    ) -> Known {
        // A reporter is not needed: nothing runs, nothing is emitted.
        let (events, _) = tokio::sync::mpsc::unbounded_channel();
        let shared = Shared::new(playbook, inventory, config, events);
        let mut plays = HashMap::new();
        for play_plan in &plan.plays {
            let probe = probes.iter().find(|p| p.play == play_plan.play);
            let mut state = RunState::default();
            for name in &play_plan.hosts {
                let host = state.host(name, &shared.live);
                if let Some(probed) = probe.and_then(|p| p.facts.get(name)) {
                    host.facts.restore(&probed.facts, &probed.included);
                }
            }
            let mut scope = play_scope(&shared, play_plan, &state.hosts);
            for (name, value) in &mut scope.shared {
                if name == "hostvars" {
                    *value = from_json(&without_secrets(to_json(value)));
                }
            }
            plays.insert(
                play_plan.play,
                KnownPlay {
                    scope,
                    hosts: state.hosts,
                },
            );
        }
        Known { shared, plays }
    }

    /// The variables a task of `play` in `role` would see on `host` before it runs, with
    /// `extra` on top (`hop`), as a template context; `None` for a host not in the play.
    pub fn context(
        &self,
        play: usize,
        host: &str,
        role: Option<&Role>,
        extra: &[(&str, Value)],
    ) -> Option<minijinja::Value> {
        let known = self.plays.get(&play)?;
        let state = known.hosts.get(host)?;
        let mut vars = task::host_vars(&self.shared, play, &known.scope, state, role, &[]);
        vars.vars.retain(|name| !looks_secret(name));
        for (name, value) in extra {
            vars.vars.put(name, value.clone());
        }
        Some(vars::jinja(&known.scope, &vars))
    }
}

/// The `(phase, hop)` steps a host of `play` walks for a chain of `hops` hops (none without
/// an upgrade path), in the order the engine runs them: per hop `stop, backup, upgrade,
/// migrate, start, verify`, the backup only before the first hop unless `backup: per_hop`,
/// phases the playbook lacks left out.
pub fn pipeline(play: &Play, hops: usize) -> Vec<(Phase, Option<usize>)> {
    super::rollout::pipeline_of(play, hops)
}

/// `hostvars` without the variables whose names look secret.
fn without_secrets(hostvars: Value) -> Value {
    let Value::Object(hosts) = hostvars else {
        return hostvars;
    };
    let hosts = hosts
        .into_iter()
        .map(|(host, vars)| match vars {
            Value::Object(mut vars) => {
                vars.retain(|name, _| !looks_secret(name));
                (host, Value::Object(vars))
            }
            other => (host, other),
        })
        .collect();
    Value::Object(hosts)
}

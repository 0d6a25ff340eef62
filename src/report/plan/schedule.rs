//! The rollout's schedule as a run would follow it: stages (each with its own pacing and
//! failure budget), within a stage one round — or one per hop of the cluster with
//! `hops: cluster` — and the batches of each round; with what `batch`, `max_unavailable`
//! and `max_failed` really allow there.

use crate::plan;
use crate::playbook::{BatchSize, HopMode, Rolling};
use crate::upgrade_path::Version;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize)]
pub struct StageDoc {
    /// `None` without `rolling.stages`: the rollout is one stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The stage's hosts with work to do, in rollout order.
    pub hosts: Vec<String>,
    /// Batch sizes as written (`1`, `25%`, a ramp).
    pub batch: String,
    pub max_unavailable: usize,
    /// Whether `max_unavailable` was set (else it is the stage's host count).
    pub max_unavailable_set: bool,
    pub max_failed: usize,
    /// The most hosts out of service at once, and why.
    pub out_of_service: usize,
    pub out_of_service_why: String,
    pub pause_seconds: f64,
    /// The operator confirms before the stage starts.
    pub confirm: bool,
    pub rounds: Vec<RoundDoc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoundDoc {
    /// The version this round takes its hosts to (`hops: cluster`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hop: Option<String>,
    pub batches: Vec<Vec<String>>,
}

/// The stages of a rollout over `ordered` hosts, of which `pending` have work to do;
/// `chains`: each pending host's hop targets, when a probe read them. `Err` is what a run
/// would halt on before starting (a host in no stage, or in two).
pub fn stages(
    rolling: &Rolling,
    inventory: &crate::inventory::Inventory,
    ordered: &[String],
    pending: &[String],
    chains: Option<&HashMap<String, Vec<String>>>,
) -> Result<Vec<StageDoc>, String> {
    let groups = plan::stages(rolling, inventory, ordered)?;
    Ok(groups
        .into_iter()
        .map(|(index, hosts)| {
            let spec = index.and_then(|i| rolling.stages.get(i));
            let todo: Vec<String> = hosts
                .iter()
                .filter(|h| pending.contains(h))
                .cloned()
                .collect();
            let batch = spec
                .and_then(|s| s.batch.as_deref())
                .unwrap_or(&rolling.batch);
            let limit = spec
                .and_then(|s| s.max_unavailable)
                .or(rolling.max_unavailable);
            // As the engine resolves them: percentages of the stage's hosts.
            let max_unavailable = limit.map_or(todo.len(), |l| l.of(hosts.len())).max(1);
            let max_failed = spec
                .and_then(|s| s.max_failed)
                .unwrap_or(rolling.max_failed)
                .of(hosts.len());
            let rounds = rounds(rolling.hops, &todo, batch, chains);
            let largest = rounds
                .iter()
                .flat_map(|r| r.batches.iter().map(Vec::len))
                .max()
                .unwrap_or(0);
            let (out_of_service, out_of_service_why) = out_of_service(
                largest,
                limit.map(|_| max_unavailable),
                max_failed,
                todo.len(),
            );
            StageDoc {
                name: spec.map(|s| s.name.clone()),
                hosts: todo,
                batch: batch_text(batch),
                max_unavailable,
                max_unavailable_set: limit.is_some(),
                max_failed,
                out_of_service,
                out_of_service_why,
                pause_seconds: spec
                    .and_then(|s| s.pause)
                    .unwrap_or(rolling.pause)
                    .as_secs_f64(),
                confirm: spec.is_some_and(|s| s.confirm),
                rounds,
            }
        })
        .collect())
}

/// One round of every pending host, or with `hops: cluster` (and known chains) one round
/// per version some host still has to reach, in version order, with the hosts that have
/// that hop — as the engine forms them.
fn rounds(
    hops: HopMode,
    pending: &[String],
    batch: &[BatchSize],
    chains: Option<&HashMap<String, Vec<String>>>,
) -> Vec<RoundDoc> {
    let chains = match chains {
        Some(chains) if hops == HopMode::Cluster && !chains.is_empty() => chains,
        _ => {
            return vec![RoundDoc {
                hop: None,
                batches: plan::split(pending, batch),
            }];
        }
    };
    let mut targets: Vec<&String> = pending
        .iter()
        .filter_map(|h| chains.get(h))
        .flatten()
        .collect();
    targets.sort_by(|a, b| match (Version::parse(a), Version::parse(b)) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => a.cmp(b),
    });
    targets.dedup();
    targets
        .into_iter()
        .map(|to| {
            let members: Vec<String> = pending
                .iter()
                .filter(|h| chains.get(*h).is_some_and(|hops| hops.contains(to)))
                .cloned()
                .collect();
            RoundDoc {
                hop: Some(to.clone()),
                batches: plan::split(&members, batch),
            }
        })
        .collect()
}

/// The most hosts out of service at once, and why: a batch (the largest, `largest`) runs
/// side by side, in waves of `max_unavailable` when that is smaller; a host that failed and
/// was not rolled back stays out of service and keeps a slot, and up to `max_failed` such
/// hosts can be out while later batches run.
fn out_of_service(
    largest: usize,
    max_unavailable: Option<usize>,
    max_failed: usize,
    hosts: usize,
) -> (usize, String) {
    if hosts == 0 {
        return (0, "no host has work to do".to_string());
    }
    let unbounded = (largest + max_failed).min(hosts);
    let held = if max_failed > 0 {
        format!(
            ", plus up to {max_failed} failed host(s) not rolled back, which stay out of service while the failure budget lets the rollout go on"
        )
    } else {
        String::new()
    };
    match max_unavailable {
        Some(limit) if limit < largest => (
            limit,
            format!("max_unavailable {limit}: a batch of up to {largest} runs in waves of {limit}"),
        ),
        Some(limit) if limit < unbounded => (
            limit,
            format!(
                "max_unavailable {limit}: batches of up to {largest}{held}, never more than {limit} together"
            ),
        ),
        Some(limit) => (
            unbounded,
            format!("batches of up to {largest}{held}; max_unavailable {limit}"),
        ),
        None => (
            unbounded,
            format!("batches of up to {largest}{held}; no max_unavailable"),
        ),
    }
}

fn batch_text(batch: &[BatchSize]) -> String {
    let one = |b: &BatchSize| match b {
        BatchSize::Count(n) => n.to_string(),
        BatchSize::Percent(p) => format!("{p}%"),
    };
    match batch {
        [single] => one(single),
        many => format!("[{}]", many.iter().map(one).collect::<Vec<_>>().join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_service_says_what_the_limits_allow() {
        // batch 1, no max_unavailable, no failure tolerated: one host at a time.
        assert_eq!(out_of_service(1, None, 0, 4).0, 1);
        // A batch of 4 under max_unavailable 1 runs one host at a time.
        let (n, why) = out_of_service(4, Some(1), 0, 4);
        assert_eq!(n, 1);
        assert!(why.contains("waves of 1"), "{why}");
        // A tolerated failure that stays broken adds to the next batch.
        let (n, why) = out_of_service(1, None, 1, 4);
        assert_eq!(n, 2);
        assert!(why.contains("not rolled back"), "{why}");
        assert_eq!(out_of_service(2, Some(2), 1, 4).0, 2);
        assert_eq!(out_of_service(3, None, 5, 4).0, 4);
    }

    #[test]
    fn cluster_rounds_follow_version_order() {
        let pending = vec!["a".to_string(), "b".to_string()];
        let chains: HashMap<String, Vec<String>> = [
            ("a".to_string(), vec!["1.10".to_string(), "2.0".to_string()]),
            (
                "b".to_string(),
                vec!["1.9".to_string(), "1.10".to_string(), "2.0".to_string()],
            ),
        ]
        .into();
        let rounds = rounds(
            HopMode::Cluster,
            &pending,
            &[BatchSize::Count(1)],
            Some(&chains),
        );
        let hops: Vec<_> = rounds
            .iter()
            .map(|r| r.hop.clone().unwrap_or_default())
            .collect();
        assert_eq!(hops, ["1.9", "1.10", "2.0"]);
        assert_eq!(rounds[0].batches, vec![vec!["b".to_string()]]);
        assert_eq!(rounds[1].batches.len(), 2);
    }
}

//! The plan: which hosts each play runs on, in which batches. Computed from the playbook and
//! the inventory without touching any host, so `drover plan` and the engine agree.

use crate::inventory::{Inventory, InventoryError, Vars};
use crate::playbook::{BatchSize, Playbook};
use crate::template::{Origin, TemplateError, Templates, from_json};
use serde::Serialize;

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
    /// Hosts split by `serial`, in order.
    pub batches: Vec<Vec<String>>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Inventory(#[from] InventoryError),
    #[error("host pattern: {0}")]
    Pattern(#[from] TemplateError),
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
    let limited: Option<Vec<String>> = match limit {
        Some(pattern) => Some(
            inventory
                .select(pattern)?
                .into_iter()
                .map(|h| h.name.clone())
                .collect(),
        ),
        None => None,
    };
    let mut plays = Vec::new();
    for (index, play) in playbook.plays.iter().enumerate() {
        // Host patterns may use play vars and extra vars, never host vars (no host yet).
        let mut ctx = serde_json::Map::new();
        for (key, value) in &play.vars {
            ctx.insert(key.name.clone(), value.to_json());
        }
        for (key, value) in extra_vars {
            ctx.insert(key.clone(), value.clone());
        }
        let ctx = from_json(&serde_json::Value::Object(ctx));
        let pattern_text = play.hosts.as_str().unwrap_or("");
        let pattern = templates.render_str(
            pattern_text,
            &ctx,
            Origin::Node(&playbook.source, play.hosts.span),
        )?;
        let hosts: Vec<String> = inventory
            .select(&pattern)?
            .into_iter()
            .map(|h| h.name.clone())
            .filter(|h| limited.as_ref().is_none_or(|l| l.contains(h)))
            .collect();
        let batches = split(&hosts, &play.serial);
        plays.push(PlayPlan {
            play: index,
            name: play.name.clone(),
            pattern,
            hosts,
            batches,
        });
    }
    Ok(Plan { plays })
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

fn split(hosts: &[String], serial: &[BatchSize]) -> Vec<Vec<String>> {
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

    fn batch_size() -> impl Strategy<Value = BatchSize> {
        prop_oneof![
            (1usize..20).prop_map(BatchSize::Count),
            (1u32..=100).prop_map(|p| BatchSize::Percent(f64::from(p))),
        ]
    }

    proptest! {
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

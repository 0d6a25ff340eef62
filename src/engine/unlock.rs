//! `drover unlock HOST… --run ID`: removes the rollout locks a run left on its hosts (a run
//! that died, whose lease ran out). Only the named run's locks go; a host locked by another
//! run is left alone and reported.

use super::rollout::lock::{self, Released};
use crate::inventory::{Host, Inventory, InventoryError};
use crate::template::{Origin, Templates, from_json};
use crate::transport::{Connection, Connector, Reach, TransportConfig};
use serde_json::Value;

/// One host's answer.
pub struct Unlocked {
    pub host: String,
    pub path: String,
    pub result: Result<Released, String>,
}

/// The lock path of `host`: `drover_lock_path` rendered with its inventory variables.
fn lock_path(templates: &Templates, host: &Host) -> String {
    let vars: serde_json::Map<String, Value> = host
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let ctx = from_json(&Value::Object(vars));
    match host.vars.get("drover_lock_path").and_then(Value::as_str) {
        Some(text) => templates
            .render_str(text, &ctx, Origin::At("drover_lock_path"))
            .unwrap_or_else(|_| text.to_string()),
        None => lock::DEFAULT_PATH.to_string(),
    }
}

pub async fn unlock(
    inventory: &Inventory,
    pattern: &str,
    run_id: &str,
    transport: TransportConfig,
) -> Result<Vec<Unlocked>, InventoryError> {
    let hosts = inventory.select(pattern)?;
    let connector = Connector::new(transport);
    let templates = Templates::new();
    let mut answers = Vec::new();
    for host in hosts {
        let path = lock_path(&templates, host);
        // Reached as a run reaches it: inventory, ssh_config, bastions.
        let conn = match connector.reach(&host.name, &host.vars) {
            Err(e) => Err(e.to_string()),
            Ok(Reach::Local) => Ok(Connection::local(&host.name)),
            Ok(_) => match connector.target(&host.name, &host.vars) {
                Err(e) => Err(e.to_string()),
                Ok(target) => connector.connect(&target).await.map_err(|e| e.to_string()),
            },
        };
        let result = match conn {
            Err(why) => Err(why),
            Ok(conn) => {
                let released = lock::release(&conn, &path, run_id).await;
                conn.close().await;
                released
            }
        };
        answers.push(Unlocked {
            host: host.name.clone(),
            path,
            result,
        });
    }
    Ok(answers)
}

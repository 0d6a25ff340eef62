//! `delegate_to`: a task's module runs on another host's connection while the task's
//! variables, registered results and facts stay those of the host it runs for (Ansible's
//! default `delegate_facts: false`).
//!
//! A delegate's connection is opened on first use and kept for the whole run in
//! [`Delegates`], shared by every task and host that delegates to it. It is not the
//! delegate's own connection as a play host: that one lives in the delegate's `HostState`,
//! which is busy running the delegate's own task while others delegate to it. The implicit
//! localhost (and any host with `ansible_connection: local`) is the control machine itself:
//! no SSH.

use super::Shared;
use super::events::Delegate;
use super::vars::{self, PlayScope};
use crate::playbook::Role;
use crate::transport::{Connection, Reach, TransportError};
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// A delegate's connection, and how results show it.
#[derive(Clone)]
pub(super) struct Delegated {
    pub conn: Connection,
    pub shown: Delegate,
}

/// The run's delegate connections, by the name `delegate_to` gave.
#[derive(Default)]
pub(super) struct Delegates {
    cells: Mutex<HashMap<String, Arc<OnceCell<Delegated>>>>,
}

impl Delegates {
    fn cells(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<OnceCell<Delegated>>>> {
        self.cells
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The connection to `name`, opened with `open` on first use; tasks arriving meanwhile
    /// wait for that one connect. A failed open is not remembered (the next task tries
    /// again), and a connection the server closed is opened anew.
    pub(super) async fn get<F, Fut>(&self, name: &str, open: F) -> Result<Delegated, TransportError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Delegated, TransportError>>,
    {
        let cell = self.cells().entry(name.to_string()).or_default().clone();
        let delegated = cell.get_or_try_init(&open).await?.clone();
        if !delegated.conn.is_closed() {
            return Ok(delegated);
        }
        let fresh = {
            let mut cells = self.cells();
            let entry = cells.entry(name.to_string()).or_default();
            // Another task may have replaced it already.
            if Arc::ptr_eq(entry, &cell) {
                *entry = Arc::default();
            }
            entry.clone()
        };
        Ok(fresh.get_or_try_init(open).await?.clone())
    }

    /// Closes every delegate connection (at the end of the run).
    pub(super) async fn close_all(&self) {
        let cells: Vec<_> = self.cells().drain().map(|(_, cell)| cell).collect();
        for cell in cells {
            if let Some(delegated) = cell.get() {
                delegated.conn.close().await;
            }
        }
    }
}

/// Opens the connection to the delegate `name` for a task whose host has `task_vars`.
///
/// An inventory host (or the implicit localhost) connects with its own connection variables,
/// built as that host's variables at this play (inventory, play vars, `vars_files`, `-e`), as
/// Ansible builds delegated vars. A name the inventory does not know is taken, as Ansible
/// does, for an address reached with the task host's user, port and key.
pub(super) async fn open(
    shared: &Shared,
    scope: &PlayScope,
    play: usize,
    role: Option<&Role>,
    name: &str,
    task_vars: &Map<String, Value>,
) -> Result<Delegated, TransportError> {
    let shown = |address: &str| Delegate {
        host: name.to_string(),
        address: (address != name).then(|| address.to_string()),
    };
    let indexed = |vars: &Map<String, Value>| -> IndexMap<String, Value> {
        vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let target = match shared.inventory.host_or_implicit(name) {
        Some(host) => {
            let empty = Map::new();
            let context = vars::host_context(
                &shared.playbook,
                play,
                scope,
                name,
                &host.vars,
                &host.groups,
                &vars::Layers {
                    vars_files: scope.vars_files.for_host(name),
                    included: &empty,
                    facts: &empty,
                    task_vars: &[],
                    include_params: &[],
                    extra_vars: &shared.config.extra_vars,
                    role,
                },
            );
            let vars = indexed(&context.resolved(scope));
            if shared.connector.reach(name, &vars)? == Reach::Local {
                return Ok(Delegated {
                    conn: shared.connector.local(name),
                    shown: shown(name),
                });
            }
            shared.connector.target(name, &vars)?
        }
        None => {
            let mut target = shared.connector.target(name, &indexed(task_vars))?;
            target.address = name.to_string();
            target
        }
    };
    let conn = shared.connector.connect(&target).await?;
    Ok(Delegated {
        conn,
        shown: shown(&target.address),
    })
}

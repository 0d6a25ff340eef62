//! The lab's data stores as a whole: which ones a lab runs ([`Services`]), where their ports
//! come from, and starting them together after the nodes' sshds (PostgreSQL in `postgres`,
//! Redis in `redis`, both behind the `systemctl` stand-in of `units`).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{DEFAULT_FIRST_ADDRESS, LabError, Node, postgres, redis, sshd, units};

/// Default service ports sit at fixed offsets from the lab port (2222 -> PostgreSQL 3222,
/// node k's Redis 4222 + k), so checked-in inventories of the default lab stay valid.
pub(super) const POSTGRESQL_PORT_OFFSET: u32 = 1000;
pub(super) const REDIS_PORT_OFFSET: u32 = 2000;

/// The data stores a lab runs besides its sshd nodes (`drover lab up --with …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Services {
    /// One throwaway PostgreSQL cluster for the lab, on node1's address ([`Lab::postgresql`](super::Lab::postgresql)).
    pub postgresql: bool,
    /// One redis-server per node, AOF on, unit `redis` ([`Node::redis_port`]).
    pub redis: bool,
}

impl Services {
    pub const NONE: Services = Services {
        postgresql: false,
        redis: false,
    };
    pub const ALL: Services = Services {
        postgresql: true,
        redis: true,
    };

    /// What either asks for.
    pub fn union(self, other: Services) -> Services {
        Services {
            postgresql: self.postgresql || other.postgresql,
            redis: self.redis || other.redis,
        }
    }
}

/// The lab's PostgreSQL cluster: trust authentication, `user` is its superuser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Postgres {
    /// node1's address; the server listens there only.
    pub host: Ipv4Addr,
    pub port: u16,
    /// The lab login user (`drover-lab` when drover runs as root), who runs the server.
    pub user: String,
    /// The directory of `psql`, `pg_dump`, `pg_restore`, `createdb`, `dropdb` (and the server).
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    /// The unix socket directory (`psql -h <socket_dir>` connects through it).
    pub socket_dir: PathBuf,
    pub log: PathBuf,
    /// The running postmaster, checked against `/proc` when the lab was read.
    pub pid: Option<u32>,
}

/// `port + offset`, if it is a port.
pub(super) fn service_port(port: u16, offset: u32, service: &'static str) -> Result<u16, LabError> {
    u16::try_from(u32::from(port) + offset).map_err(|_| LabError::ServicePort {
        service,
        port,
        offset,
    })
}

/// What [`start_services`] started.
pub(super) struct Started {
    pub postgresql: Option<Postgres>,
    pub redis_cli: Option<PathBuf>,
}

/// Writes every node's `systemctl` stand-in, then makes the lab's data stores run: PostgreSQL
/// (on node1's address) on its own thread while the nodes' Redis servers start. Every binary is
/// found before anything starts. On failure, the services this call started are stopped again.
pub(super) fn start_services(
    dir: &Path,
    account: &sshd::Account,
    services: Services,
    nodes: &[Node],
    postgresql_port: u16,
) -> Result<Started, LabError> {
    for node in nodes {
        units::write_systemctl(account, node)?;
    }
    let pg_bin = services
        .postgresql
        .then(postgres::find_bin_dir)
        .transpose()?;
    let redis_bins = services.redis.then(redis::find).transpose()?;
    let first = nodes.first().map_or(DEFAULT_FIRST_ADDRESS, |n| n.address);
    let pg_layout =
        pg_bin.map(|bin| postgres::layout(dir, bin, &account.name, first, postgresql_port));
    let pg_was_running = pg_layout
        .as_ref()
        .is_some_and(|pg| postgres::live_pid(&pg.data_dir).is_some());
    let redis_was_running: Vec<bool> = nodes
        .iter()
        .map(|n| redis::live_pid(&n.root).is_some())
        .collect();
    let (postgresql, redis) = std::thread::scope(|scope| {
        let pg = pg_layout
            .clone()
            .map(|pg| scope.spawn(move || postgres::ensure(account, pg)));
        let redis = match &redis_bins {
            Some(bins) => redis::ensure(account, bins, nodes),
            None => Ok(()),
        };
        let pg = pg
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .transpose();
        (pg, redis)
    });
    let outcome = match (postgresql, redis) {
        (Ok(postgresql), Ok(())) => Ok(postgresql),
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    if let Err(error) = outcome {
        if let Some(pg) = pg_layout.filter(|_| !pg_was_running) {
            let _ = postgres::stop(&pg.data_dir);
        }
        for (node, was_running) in nodes.iter().zip(redis_was_running) {
            if !was_running {
                let _ = redis::stop_node(&node.root);
            }
        }
        return Err(error);
    }
    Ok(Started {
        postgresql: outcome?,
        redis_cli: redis_bins.map(|bins| bins.cli),
    })
}

//! A disposable fleet of real OpenSSH `sshd` nodes on loopback (127.0.0.2, 127.0.0.3, …), each
//! with its own host key, config, log and data directory, for `drover lab`, the examples and the
//! test suite.
//!
//! Everything is keyed by the lab directory: several labs (the test suite runs them in parallel)
//! coexist as long as their address/port pairs differ. The lab only ever signals processes it
//! started, and checks `/proc/PID/cmdline` before each signal, so a recycled pid is never killed
//! (Linux only, like the lab itself). It prints nothing: it returns data and [`LabError`]s, and
//! the CLI renders them.
//!
//! Layout of a lab directory (all directories mode 0755 so the lab user can traverse them):
//!
//! ```text
//! lab.json              state: user, port, nodes with addresses, pids and sshd file paths
//! id_ed25519(.pub)      client key (no passphrase, 0600, owned by whoever runs drover)
//! authorized_keys       the client public key, read by every node's sshd
//! known_hosts           one line per node: [127.0.0.2]:2222 ssh-ed25519 AAAA…
//! inventory.yml         Ansible YAML inventory of the lab (group `lab`)
//! sshd/nodeN/           sshd_config, ssh_host_ed25519_key(.pub), sshd.pid, sshd.log
//! nodes/nodeN/          the node's data (`node_root`), owned by the lab user:
//!                       opt/demo/bin/demo-service, var/demo/demo.db, run/, log/,
//!                       lab/bin/systemctl, lab/units/<unit>/{start,stop,status},
//!                       with Redis: etc/redis/redis.conf, var/lib/redis/ (the AOF)
//! services/postgresql/  with PostgreSQL: data/, run/ (socket), postgresql.log
//! ```
//!
//! `sshd/` is kept apart from `nodes/` so the login user, who owns the node data, cannot edit the
//! config or host key of the root-run sshd.

mod demo;
pub mod escalation;
mod files;
pub mod netns;
mod postgres;
mod redis;
mod services;
mod sshd;
pub mod standins;
mod units;

pub use demo::{DEMO_SERVICE_TEMPLATE, render_demo_service};
pub use services::{Postgres, Services};
pub use standins::{Product, SeedOptions, Seeded};

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use services::{POSTGRESQL_PORT_OFFSET, REDIS_PORT_OFFSET, service_port, start_services};

use files::{
    STATE_FILE, State, check_quotable, io_err, make_dir, pub_path, read_state, read_to_string,
    remove_if_exists, subdirectory_names, write_atomic, write_state,
};

/// The login user created for the lab when drover runs as root.
pub const LAB_USER: &str = "drover-lab";
/// The login user of a heavy-shell lab (`LabConfig::heavy_shell`, root only): `/bin/bash` with
/// a `~/.bashrc` that takes ~100 ms, so every command pays a slow shell start.
pub const HEAVY_USER: &str = "drover-lab-heavy";
/// Directory under the lab dir that every node can write: the "cluster-wide" state.
pub const SHARED_DIR: &str = "shared";
/// Nodes started by `drover lab up` without a count.
pub const DEFAULT_NODES: usize = 3;
pub const DEFAULT_PORT: u16 = 2222;
pub const DEFAULT_FIRST_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// How long a starting sshd gets to write its pid file and accept a connection.
const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// What `up` should build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabConfig {
    pub dir: PathBuf,
    pub nodes: usize,
    /// One port for every node; nodes differ by address.
    pub port: u16,
    /// node1's address; node N gets `first_address + N - 1`.
    pub first_address: Ipv4Addr,
    /// Nodes per sshd process: 1 (the default) gives every node its own sshd, config and host
    /// key; more (at most [`MAX_PER_SSHD`]) makes one sshd listen on that many consecutive
    /// nodes' addresses with one host key, for labs of hundreds or thousands of nodes. Nodes
    /// sharing an sshd are stopped and started together.
    pub per_sshd: usize,
    /// Log in as [`HEAVY_USER`], whose shell sources a slow `~/.bashrc` (root only).
    pub heavy_shell: bool,
    /// Data stores to run. A lab keeps the services it already has (`up` never drops one).
    pub services: Services,
    /// PostgreSQL's port; `None`: the recorded one, else `port + 1000`.
    pub postgresql_port: Option<u16>,
    /// Redis port of node k at index k-1; a node past the list: its recorded port, else
    /// `port + 2000 + k`.
    pub redis_ports: Vec<u16>,
}

/// OpenSSH's sshd accepts at most 16 `ListenAddress` lines (MAX_LISTEN_SOCKS).
pub const MAX_PER_SSHD: usize = 16;

impl LabConfig {
    /// Three nodes on 127.0.0.2:2222, 127.0.0.3:2222, 127.0.0.4:2222.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LabConfig {
            dir: dir.into(),
            nodes: DEFAULT_NODES,
            port: DEFAULT_PORT,
            first_address: DEFAULT_FIRST_ADDRESS,
            per_sshd: 1,
            heavy_shell: false,
            services: Services::NONE,
            postgresql_port: None,
            redis_ports: Vec::new(),
        }
    }

    /// `$DROVER_LAB_DIR`, else `/tmp/drover-lab`.
    pub fn default_dir() -> PathBuf {
        match std::env::var_os("DROVER_LAB_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => PathBuf::from("/tmp/drover-lab"),
        }
    }
}

/// One lab node: an sshd listening on `address:port`, and a data directory standing for the
/// machine's filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// `node1`, `node2`, …: the inventory name.
    pub name: String,
    pub address: Ipv4Addr,
    pub port: u16,
    /// The node's own data directory (`node_root` in the inventory), owned by the lab user.
    pub root: PathBuf,
    /// The running sshd, checked against `/proc` when the lab was read; `None` when stopped.
    pub pid: Option<u32>,
    pub sshd_config: PathBuf,
    /// Replace it (and restart the node) to simulate a host whose key changed.
    pub host_key: PathBuf,
    pub pid_file: PathBuf,
    pub log: PathBuf,
    /// The port of the node's redis-server (on the node's address), when the lab runs Redis.
    #[serde(default)]
    pub redis_port: Option<u16>,
}

impl Node {
    /// Where `seed_demo` and the demo playbooks install the demo service.
    pub fn demo_service(&self) -> PathBuf {
        self.root.join("opt/demo/bin/demo-service")
    }

    /// `sshd_name` names the sshd serving the node (its directory under `sshd/`): the node's
    /// own name, or the first node's of the group sharing one sshd.
    fn new(dir: &Path, name: String, sshd_name: &str, address: Ipv4Addr, port: u16) -> Node {
        let sshd_dir = dir.join("sshd").join(sshd_name);
        Node {
            root: dir.join("nodes").join(&name),
            pid: None,
            sshd_config: sshd_dir.join("sshd_config"),
            host_key: sshd_dir.join("ssh_host_ed25519_key"),
            pid_file: sshd_dir.join("sshd.pid"),
            log: sshd_dir.join("sshd.log"),
            redis_port: None,
            name,
            address,
            port,
        }
    }
}

/// A lab as recorded in its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lab {
    pub dir: PathBuf,
    /// The user to log in as: `drover-lab` when drover runs as root, else the current user.
    pub user: String,
    /// Client private key accepted by every node.
    pub key: PathBuf,
    pub known_hosts: PathBuf,
    pub inventory: PathBuf,
    pub nodes: Vec<Node>,
    pub services: Services,
    /// The lab's PostgreSQL, when it runs one.
    pub postgresql: Option<Postgres>,
    /// `redis-cli` on this machine (the nodes' too), when the lab runs Redis.
    pub redis_cli: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LabError {
    #[error("OpenSSH server (sshd) is not installed; install it with: {install}")]
    SshdMissing { install: String },

    #[error("`{program}` is not installed; install it with: {install}")]
    ToolMissing {
        program: &'static str,
        install: String,
    },

    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("`{command}` failed ({status}): {output}")]
    Command {
        command: String,
        status: String,
        output: String,
    },

    #[error("{node}: sshd on {address}:{port} was not ready after {waited:?}; last lines of {log}:\n{log_tail}", log = log.display())]
    NotReady {
        node: String,
        address: Ipv4Addr,
        port: u16,
        waited: Duration,
        log: PathBuf,
        log_tail: String,
    },

    #[error("{node}: {address}:{port} is already in use by another process")]
    #[diagnostic(help(
        "pick another port (`--port`) or first address, or stop what listens there"
    ))]
    AddressInUse {
        node: String,
        address: Ipv4Addr,
        port: u16,
    },

    #[error("no node named `{name}` in the lab at {dir} (nodes: {known})")]
    UnknownNode {
        name: String,
        dir: PathBuf,
        known: String,
    },

    #[error("no lab is recorded in {dir}")]
    #[diagnostic(help("start one with `drover lab up`"))]
    NoLab { dir: PathBuf },

    #[error("cannot read lab state {path}: {source}")]
    State {
        path: PathBuf,
        source: serde_json::Error,
    },

    #[error("a lab needs at least one node")]
    NoNodes,

    #[error(
        "{per_sshd} nodes per sshd: expected 1 to {MAX_PER_SSHD} (sshd's limit of listen addresses)"
    )]
    PerSshd { per_sshd: usize },

    #[error("{nodes} nodes from {first} leave the loopback range 127.0.0.0/8")]
    NotLoopback { first: Ipv4Addr, nodes: usize },

    #[error("port {port} needs root; as {user}, pick a port above 1024")]
    PrivilegedPort { port: u16, user: String },

    #[error("the lab path {path} contains a character it cannot quote (', \", %, newline)")]
    UnsafePath { path: PathBuf },

    #[error("invalid demo version `{version}`: expected a version such as 1.0 or 2.0")]
    DemoVersion { version: String },

    #[error("{node}: `demo-service {action}` failed: {output}")]
    Demo {
        node: String,
        action: &'static str,
        output: String,
    },

    #[error("cannot render the demo service: {0}")]
    Template(#[from] minijinja::Error),

    #[error("cannot set up the lab user `{user}`: {message}")]
    LabUser { user: String, message: String },

    #[error("no free port on {address}: {source}")]
    NoFreePort {
        address: Ipv4Addr,
        source: io::Error,
    },

    #[error("{node}: {service} did not start: {output}")]
    Service {
        service: &'static str,
        node: String,
        output: String,
    },

    #[error("lab port {port} leaves no room for the {service} port (lab port + {offset} > 65535)")]
    #[diagnostic(help("pick a lower `--port`"))]
    ServicePort {
        service: &'static str,
        port: u16,
        offset: u32,
    },

    #[error(
        "unknown product `{name}` (products: headscale, devlake, gitlab, nakama, thethingsstack)"
    )]
    UnknownProduct { name: String },

    #[error("the lab has no {product} {version} (versions: {known})")]
    UnknownVersion {
        product: &'static str,
        version: String,
        known: String,
    },

    #[error("{node} already has {product} {version}; seeding leaves an installed product alone")]
    #[diagnostic(help(
        "seed another node, or delete the node's data (its directory under nodes/) to start afresh"
    ))]
    AlreadySeeded {
        node: String,
        product: &'static str,
        version: String,
    },

    #[error("{node}: seeding {product} failed: {output}")]
    Seed {
        node: String,
        product: String,
        output: String,
    },

    #[error("process {pid} ({what}) did not stop after SIGKILL")]
    StopFailed { pid: u32, what: String },

    #[error("cannot signal process {pid} ({what}): {source}")]
    Signal {
        pid: u32,
        what: String,
        source: io::Error,
    },
}

/// Starts (or completes) the lab described by `cfg` and returns it. Idempotent: running nodes
/// whose config is unchanged are kept, stopped or missing ones are started, and the lab grows to
/// `cfg.nodes` (it never shrinks: extra recorded nodes are kept and started).
pub fn up(cfg: &LabConfig) -> Result<Lab, LabError> {
    if cfg.nodes == 0 {
        return Err(LabError::NoNodes);
    }
    if !(1..=MAX_PER_SSHD).contains(&cfg.per_sshd) {
        return Err(LabError::PerSshd {
            per_sshd: cfg.per_sshd,
        });
    }
    let dir = std::path::absolute(&cfg.dir).map_err(io_err("resolve", &cfg.dir))?;
    check_quotable(&dir)?;
    let sshd_bin = sshd::find_sshd()?;
    let keygen = sshd::find_keygen()?;
    let account = sshd::Account::for_lab(cfg.heavy_shell)?;
    if !account.is_root_run() && cfg.port <= 1024 {
        return Err(LabError::PrivilegedPort {
            port: cfg.port,
            user: account.name.clone(),
        });
    }

    make_dir(&dir)?;
    let key = dir.join("id_ed25519");
    sshd::ensure_keypair(&keygen, &key, "drover-lab-client")?;
    let client_pub = read_to_string(&pub_path(&key))?;
    write_atomic(&dir.join("authorized_keys"), client_pub.as_bytes(), 0o644)?;

    let previous = read_state(&dir)?;
    let recorded = previous.as_ref().map_or(0, |s| s.nodes.len());
    let count = cfg.nodes.max(recorded);
    let mut nodes = Vec::with_capacity(count);
    for index in 0..count {
        let address = node_address(cfg.first_address, index, count)?;
        let sshd_name = format!("node{}", index / cfg.per_sshd * cfg.per_sshd + 1);
        let mut node = Node::new(
            &dir,
            format!("node{}", index + 1),
            &sshd_name,
            address,
            cfg.port,
        );
        let recorded = previous
            .as_ref()
            .and_then(|s| s.nodes.iter().find(|n| n.name == node.name));
        // A pid from the previous state, still ours, is the node's running sshd — unless the
        // node moved to another sshd (`per_sshd` changed): then the old one must go first, or
        // it would keep the address.
        match recorded {
            Some(old) if old.sshd_config != node.sshd_config => {
                if let Some(pid) = sshd::live_pid(old) {
                    sshd::terminate(pid, &old.sshd_config, "sshd")?;
                }
            }
            _ => node.pid = recorded.and_then(sshd::live_pid),
        }
        if node.pid.is_none() {
            node.pid = sshd::live_pid(&node);
        }
        nodes.push(node);
    }

    // Prepare every node, then start the stopped ones together: sshd daemonizes at once and the
    // readiness waits overlap, so a large lab starts in about the time of one node.
    let mut to_start = Vec::new();
    make_dir(&dir.join("nodes"))?;
    // State the nodes share, as a cluster's shared database would be (`lab_shared`).
    make_dir(&dir.join(SHARED_DIR))?;
    account.chown(&dir.join(SHARED_DIR))?;
    for node in &nodes {
        make_dir(&node.root)?;
        account.chown(&node.root)?;
    }
    // One sshd per group of nodes sharing a config (one node each by default).
    for group in nodes.chunk_by_mut(|a, b| a.sshd_config == b.sshd_config) {
        let leader = &group[0];
        let sshd_dir = leader.sshd_config.parent().unwrap_or(&dir).to_path_buf();
        make_dir(&dir.join("sshd"))?;
        make_dir(&sshd_dir)?;
        let host_key_comment = format!("drover-lab-{}", leader.name);
        sshd::ensure_keypair(&keygen, &leader.host_key, &host_key_comment)?;
        let addresses: Vec<Ipv4Addr> = group.iter().map(|n| n.address).collect();
        let config = sshd::render_config(
            leader,
            &addresses,
            &dir.join("authorized_keys"),
            &account.name,
            !cfg.heavy_shell,
        );
        let changed = read_to_string(&leader.sshd_config).ok().as_deref() != Some(config.as_str());
        if changed {
            write_atomic(&leader.sshd_config, config.as_bytes(), 0o644)?;
        }
        let pid = group.iter().find_map(|n| n.pid);
        match pid {
            Some(pid) if changed => {
                sshd::terminate(pid, &leader.sshd_config, "sshd")?;
                to_start.push(leader.name.clone());
            }
            Some(_) => {}
            None => to_start.push(leader.name.clone()),
        }
        let pid = if to_start.last() == Some(&leader.name) {
            None
        } else {
            pid
        };
        for node in group.iter_mut() {
            node.pid = pid;
        }
    }
    let stop_started = |nodes: &[Node]| {
        for node in nodes.iter().filter(|n| to_start.contains(&n.name)) {
            if let Some(pid) = sshd::live_pid(node) {
                let _ = sshd::terminate(pid, &node.sshd_config, "sshd");
            }
        }
    };
    if let Err(error) = start_all(&sshd_bin, &mut nodes, &to_start) {
        // Leave no unrecorded sshd behind: stop what this call started, then report.
        stop_started(&nodes);
        return Err(error);
    }

    let services = cfg
        .services
        .union(previous.as_ref().map_or(Services::NONE, |s| s.services));
    let recorded_pg = previous.as_ref().and_then(|s| s.postgresql.as_ref());
    let postgresql_port = match (cfg.postgresql_port, recorded_pg) {
        (Some(port), _) => port,
        (None, Some(pg)) => pg.port,
        (None, None) => service_port(cfg.port, POSTGRESQL_PORT_OFFSET, "postgresql")?,
    };
    for (index, node) in nodes.iter_mut().enumerate() {
        let recorded = previous
            .as_ref()
            .and_then(|s| s.nodes.iter().find(|n| n.name == node.name))
            .and_then(|n| n.redis_port);
        node.redis_port = match (services.redis, cfg.redis_ports.get(index), recorded) {
            (false, _, _) => None,
            (true, Some(&port), _) => Some(port),
            (true, None, Some(port)) => Some(port),
            (true, None, None) => {
                let offset = REDIS_PORT_OFFSET + index as u32 + 1;
                Some(service_port(cfg.port, offset, "redis")?)
            }
        };
    }
    let started = match start_services(&dir, &account, services, &nodes, postgresql_port) {
        Ok(started) => started,
        Err(error) => {
            stop_started(&nodes);
            return Err(error);
        }
    };

    let lab = Lab {
        key,
        known_hosts: dir.join("known_hosts"),
        inventory: dir.join("inventory.yml"),
        user: account.name.clone(),
        nodes,
        services,
        postgresql: started.postgresql,
        redis_cli: started.redis_cli,
        dir,
    };
    files::write_known_hosts(&lab)?;
    files::write_inventory(&lab, cfg.port)?;
    lab.save(cfg.port)?;
    Ok(lab)
}

/// Starts the sshds whose first node is named in `names`: every address they serve is checked
/// first, then all sshds are spawned and awaited together. Nodes sharing an sshd get its pid.
fn start_all(sshd_bin: &Path, nodes: &mut [Node], names: &[String]) -> Result<(), LabError> {
    let starting = |group: &&mut [Node]| names.contains(&group[0].name);
    for group in nodes
        .chunk_by_mut(|a, b| a.sshd_config == b.sshd_config)
        .filter(starting)
    {
        for node in group.iter() {
            sshd::check_address_free(node)?;
        }
    }
    for group in nodes
        .chunk_by_mut(|a, b| a.sshd_config == b.sshd_config)
        .filter(starting)
    {
        sshd::spawn(sshd_bin, &group[0])?;
    }
    for group in nodes
        .chunk_by_mut(|a, b| a.sshd_config == b.sshd_config)
        .filter(starting)
    {
        // sshd binds every ListenAddress before it writes its pid file.
        let pid = sshd::wait_ready(&group[0], READY_TIMEOUT)?;
        for node in group.iter_mut() {
            node.pid = Some(pid);
        }
    }
    Ok(())
}

/// The lab recorded in `dir`, with each node's pid checked against the running processes;
/// `None` when no lab is recorded there.
pub fn status(dir: &Path) -> Result<Option<Lab>, LabError> {
    let dir = std::path::absolute(dir).map_err(io_err("resolve", dir))?;
    let Some(state) = read_state(&dir)? else {
        return Ok(None);
    };
    Ok(Some(Lab::from_state(dir, state)))
}

/// Stops every sshd this lab started, the demo services running from its node directories and
/// the lab's PostgreSQL and Redis servers, then forgets the state file. Keys, configs, logs and node data stay, so a later `up` brings
/// back the same host identities and demo databases; delete the directory to start afresh.
/// Returns how many node sshd processes were running and were stopped.
pub fn down(dir: &Path) -> Result<usize, LabError> {
    let dir = std::path::absolute(dir).map_err(io_err("resolve", dir))?;
    // Recorded nodes plus any node directory on disk: an `up` that failed half-way may have
    // started sshds it never recorded.
    let mut nodes = read_state(&dir)?.map(|s| s.nodes).unwrap_or_default();
    for name in subdirectory_names(&dir.join("sshd"))? {
        if !nodes.iter().any(|n| n.name == name) {
            // Address and port do not matter here: only the pid file and config path are used.
            nodes.push(Node::new(
                &dir,
                name.clone(),
                &name,
                DEFAULT_FIRST_ADDRESS,
                0,
            ));
        }
    }
    for name in subdirectory_names(&dir.join("nodes"))? {
        demo::stop_daemon(&dir.join("nodes").join(&name))?;
        // Stand-ins first: a sidekiq stand-in still writes to PostgreSQL.
        standins::stop_daemons(&dir.join("nodes").join(&name))?;
        redis::stop_node(&dir.join("nodes").join(&name))?;
    }
    postgres::stop(&dir.join("services/postgresql/data"))?;
    let mut stopped = 0;
    for node in &nodes {
        if let Some(pid) = sshd::live_pid(node)
            && sshd::terminate(pid, &node.sshd_config, "sshd")?
        {
            stopped += 1;
        }
        remove_if_exists(&node.pid_file)?;
    }
    remove_if_exists(&dir.join(STATE_FILE))?;
    Ok(stopped)
}

/// A port nothing listens on at `address` right now (the kernel's pick), for tests that run labs
/// side by side. Another process may take it before the lab binds it; `up` then says so.
pub fn free_port(address: Ipv4Addr) -> Result<u16, LabError> {
    let no_port = |source| LabError::NoFreePort { address, source };
    let listener = TcpListener::bind((address, 0)).map_err(no_port)?;
    Ok(listener.local_addr().map_err(no_port)?.port())
}

impl Lab {
    /// The directory every node can write (`lab_shared` in the inventory).
    pub fn shared_dir(&self) -> PathBuf {
        self.dir.join(SHARED_DIR)
    }

    pub fn node(&self, name: &str) -> Result<&Node, LabError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| LabError::UnknownNode {
                name: name.to_string(),
                dir: self.dir.clone(),
                known: self
                    .nodes
                    .iter()
                    .map(|n| n.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The OpenSSH client command line that logs into `node` the way drover does (this lab's
    /// key and known_hosts, strict host key checking, no user or system ssh config).
    pub fn ssh_command(&self, node: &Node) -> Vec<String> {
        vec![
            "ssh".into(),
            "-F".into(),
            "/dev/null".into(),
            "-i".into(),
            self.key.display().to_string(),
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-p".into(),
            node.port.to_string(),
            format!("{}@{}", self.user, node.address),
        ]
    }

    /// Stops one node's sshd (new connections are refused; open sessions finish), and with it
    /// every node sharing that sshd (`per_sshd`). Idempotent.
    /// The state file is updated; this `Lab` value keeps its old pids: re-read it with [`status`].
    pub fn stop_node(&self, name: &str) -> Result<(), LabError> {
        let mut state = self.current_state()?;
        let node = state_node(&self.dir, &mut state, name)?;
        if let Some(pid) = sshd::live_pid(node) {
            sshd::terminate(pid, &node.sshd_config, "sshd")?;
        }
        remove_if_exists(&node.pid_file)?;
        node.pid = None;
        write_state(&self.dir, &state)
    }

    /// Starts one node's sshd again with its existing config and host key. Idempotent.
    pub fn start_node(&self, name: &str) -> Result<(), LabError> {
        let mut state = self.current_state()?;
        let node = state_node(&self.dir, &mut state, name)?;
        if sshd::live_pid(node).is_none() {
            let sshd_bin = sshd::find_sshd()?;
            sshd::spawn(&sshd_bin, node)?;
            node.pid = Some(sshd::wait_ready(node, READY_TIMEOUT)?);
        }
        write_state(&self.dir, &state)
    }

    /// Installs demo-service 1.0 on every node, creates its database (schema 1, five rows) and
    /// starts it. A node that already has a database keeps its installed version and data (it
    /// may be mid-upgrade); its service is only started.
    pub fn seed_demo(&self) -> Result<(), LabError> {
        demo::seed(self)
    }

    fn from_state(dir: PathBuf, state: State) -> Lab {
        let nodes = state
            .nodes
            .into_iter()
            .map(|mut node| {
                node.pid = sshd::live_pid(&node);
                node
            })
            .collect();
        let postgresql = state.postgresql.map(|mut pg| {
            pg.pid = postgres::live_pid(&pg.data_dir);
            pg
        });
        Lab {
            key: dir.join("id_ed25519"),
            known_hosts: dir.join("known_hosts"),
            inventory: dir.join("inventory.yml"),
            user: state.user,
            nodes,
            services: state.services,
            postgresql,
            redis_cli: state.redis_cli,
            dir,
        }
    }

    fn current_state(&self) -> Result<State, LabError> {
        read_state(&self.dir)?.ok_or_else(|| LabError::NoLab {
            dir: self.dir.clone(),
        })
    }

    fn save(&self, port: u16) -> Result<(), LabError> {
        let state = State::new(self, port);
        write_state(&self.dir, &state)
    }
}

fn state_node<'a>(dir: &Path, state: &'a mut State, name: &str) -> Result<&'a mut Node, LabError> {
    let known = state
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    state
        .nodes
        .iter_mut()
        .find(|n| n.name == name)
        .ok_or_else(|| LabError::UnknownNode {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            known,
        })
}

fn node_address(first: Ipv4Addr, index: usize, count: usize) -> Result<Ipv4Addr, LabError> {
    let not_loopback = || LabError::NotLoopback {
        first,
        nodes: count,
    };
    let offset = u32::try_from(index).map_err(|_| not_loopback())?;
    let address = Ipv4Addr::from(
        u32::from(first)
            .checked_add(offset)
            .ok_or_else(not_loopback)?,
    );
    if !address.is_loopback() {
        return Err(not_loopback());
    }
    Ok(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses_count_up_and_stay_on_loopback() {
        let first = Ipv4Addr::new(127, 0, 0, 254);
        assert_eq!(
            node_address(first, 1, 3).ok(),
            Some(Ipv4Addr::new(127, 0, 0, 255))
        );
        assert_eq!(
            node_address(first, 2, 3).ok(),
            Some(Ipv4Addr::new(127, 0, 1, 0))
        );
        let last = Ipv4Addr::new(127, 255, 255, 255);
        assert!(matches!(
            node_address(last, 1, 2),
            Err(LabError::NotLoopback { .. })
        ));
        assert!(node_address(Ipv4Addr::new(10, 0, 0, 1), 0, 1).is_err());
    }

    #[test]
    fn service_ports_derive_from_the_lab_port_and_never_wrap() {
        assert_eq!(
            service_port(2222, POSTGRESQL_PORT_OFFSET, "postgresql").ok(),
            Some(3222)
        );
        assert_eq!(
            service_port(2222, REDIS_PORT_OFFSET + 3, "redis").ok(),
            Some(4225)
        );
        assert!(matches!(
            service_port(64000, REDIS_PORT_OFFSET + 1, "redis"),
            Err(LabError::ServicePort {
                service: "redis",
                ..
            })
        ));
        let redis = Services {
            postgresql: false,
            redis: true,
        };
        assert_eq!(redis.union(Services::NONE), redis);
        assert_eq!(
            redis.union(Services {
                postgresql: true,
                redis: false
            }),
            Services::ALL
        );
    }

    #[test]
    fn default_config_is_three_nodes_from_127_0_0_2_on_2222() {
        let cfg = LabConfig::new("/tmp/x");
        assert_eq!(cfg.nodes, 3);
        assert_eq!(cfg.port, 2222);
        assert_eq!(cfg.first_address, Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(cfg.per_sshd, 1);
        assert!(!cfg.heavy_shell);
        assert_eq!(cfg.services, Services::NONE);
    }
}

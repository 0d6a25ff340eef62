//! The lab's Redis: one `redis-server` per node, run by the lab user with AOF on, at Debian's
//! paths under the node root (`etc/redis/redis.conf`, data in `var/lib/redis`, pid file
//! `run/redis/redis-server.pid`, log `var/log/redis/redis-server.log`), and the node's unit
//! `redis`, so a playbook stops it with `systemctl stop redis` (SIGTERM: Redis flushes the
//! AOF and exits) exactly as on a real host. `up` starts it through that unit; `down` stops it
//! by pid after checking the process's command line names this node's config.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use super::files::{io_err, make_dir, read_to_string, write_atomic};
use super::sshd::{self, Account, find_program, install_hint};
use super::units::{self, Unit};
use super::{LabError, Node};

/// The programs the lab runs (`redis-cli` also goes into the inventory as `lab_redis_cli`).
pub(super) struct Binaries {
    pub server: PathBuf,
    pub cli: PathBuf,
}

pub(super) fn find() -> Result<Binaries, LabError> {
    let find = |program: &'static str| {
        let path = find_program(program).ok_or_else(|| LabError::ToolMissing {
            program,
            install: install_hint("redis-server"),
        })?;
        std::path::absolute(&path).map_err(io_err("resolve", &path))
    };
    Ok(Binaries {
        server: find("redis-server")?,
        cli: find("redis-cli")?,
    })
}

impl Node {
    pub fn redis_conf(&self) -> PathBuf {
        self.root.join("etc/redis/redis.conf")
    }

    /// Where the node's Redis keeps its AOF (`appendonlydir/` with Redis 7).
    pub fn redis_data_dir(&self) -> PathBuf {
        self.root.join("var/lib/redis")
    }

    /// The node's running redis-server, if any.
    pub fn redis_pid(&self) -> Option<u32> {
        live_pid(&self.root)
    }
}

fn pid_file(root: &Path) -> PathBuf {
    root.join("run/redis/redis-server.pid")
}

fn log_file(root: &Path) -> PathBuf {
    root.join("var/log/redis/redis-server.log")
}

/// Writes every node's config and unit and starts the Redis servers that are not running
/// (all at once, then waits for each); a server whose config changed is restarted. Each node's
/// `redis_port` must be set.
pub(super) fn ensure(account: &Account, bins: &Binaries, nodes: &[Node]) -> Result<(), LabError> {
    let mut to_start = Vec::new();
    for node in nodes {
        let Some(port) = node.redis_port else {
            continue;
        };
        for dir in [
            "etc",
            "etc/redis",
            "var",
            "var/lib",
            "var/lib/redis",
            "var/log",
        ] {
            make_dir(&node.root.join(dir))?;
            account.chown(&node.root.join(dir))?;
        }
        for dir in ["var/log/redis", "run", "run/redis"] {
            make_dir(&node.root.join(dir))?;
            account.chown(&node.root.join(dir))?;
        }
        let conf = render_conf(node, port);
        let conf_path = node.redis_conf();
        let changed = read_to_string(&conf_path).ok().as_deref() != Some(conf.as_str());
        if changed {
            write_atomic(&conf_path, conf.as_bytes(), 0o644)?;
            account.chown(&conf_path)?;
        }
        let (start, stop, status) = unit_scripts(node, port, &account.name, bins);
        units::write_unit(
            account,
            node,
            &Unit {
                name: "redis",
                start: &start,
                stop: &stop,
                status: &status,
            },
        )?;
        match live_pid(&node.root) {
            Some(_) if !changed => {}
            Some(_) => {
                stop_node(&node.root)?;
                to_start.push(node);
            }
            None => to_start.push(node),
        }
    }
    for node in &to_start {
        let port = node.redis_port.unwrap_or_default();
        let address = SocketAddr::from((node.address, port));
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Err(LabError::AddressInUse {
                node: format!("{} (redis)", node.name),
                address: node.address,
                port,
            });
        }
    }
    let mut starts: Vec<(&Node, Child)> = Vec::new();
    for node in to_start {
        let start = node.unit_dir("redis").join("start");
        let child = account
            .command("/bin/sh")
            .arg(&start)
            .current_dir(&node.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io_err("run", &start))?;
        starts.push((node, child));
    }
    let mut first_error = None;
    for (node, child) in starts {
        let start = node.unit_dir("redis").join("start");
        let result = child.wait_with_output().map_err(io_err("run", &start));
        let failed = match result {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(LabError::Service {
                service: "redis",
                node: node.name.clone(),
                output: format!(
                    "{}\nlast lines of {}:\n{}",
                    sshd::combined_output(&out),
                    log_file(&node.root).display(),
                    sshd::log_tail(&log_file(&node.root))
                ),
            }),
            Err(e) => Some(e),
        };
        if let Some(e) = failed {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The redis-server started with the config of the node at `root`.
pub(super) fn live_pid(root: &Path) -> Option<u32> {
    let pid = sshd::read_pid(&pid_file(root))?;
    let conf = root.join("etc/redis/redis.conf");
    sshd::is_ours(pid, &conf).then_some(pid)
}

/// Stops the node's redis-server (SIGTERM: it writes the AOF out and exits). True if it ran.
pub(super) fn stop_node(root: &Path) -> Result<bool, LabError> {
    match live_pid(root) {
        Some(pid) => sshd::terminate(pid, &root.join("etc/redis/redis.conf"), "redis-server"),
        None => Ok(false),
    }
}

/// Paths are double-quoted (the lab refuses paths with quotes or backslashes).
fn render_conf(node: &Node, port: u16) -> String {
    format!(
        "# drover lab redis of {name}: written by `drover lab up` (rewritten on every `up`).\n\
         bind {address}\n\
         port {port}\n\
         daemonize yes\n\
         pidfile \"{pid}\"\n\
         logfile \"{log}\"\n\
         dir \"{data}\"\n\
         # The AOF is what a backup copies (with the server stopped).\n\
         appendonly yes\n\
         appendfsync everysec\n\
         save \"\"\n\
         # Keep the command line as started: the lab knows its servers by this file's path.\n\
         set-proc-title no\n",
        name = node.name,
        address = node.address,
        pid = pid_file(&node.root).display(),
        log = log_file(&node.root).display(),
        data = node.redis_data_dir().display(),
    )
}

/// The `start`, `stop` and `status` scripts of the node's `redis` unit. Run as root (a
/// playbook with `become`), `start` switches to the lab user, so the server and its files
/// keep one owner.
fn unit_scripts(node: &Node, port: u16, user: &str, bins: &Binaries) -> (String, String, String) {
    let conf = node.redis_conf();
    let conf = conf.display();
    let pid = pid_file(&node.root);
    let pid = pid.display();
    let address = node.address;
    let server = bins.server.display();
    let cli = bins.cli.display();
    let log = log_file(&node.root);
    let log = log.display();
    let status = format!(
        "#!/bin/sh\n\
         # Unit `redis` of the drover lab: active when the pid file names a live redis-server\n\
         # started with this node's config.\n\
         pid=$(cat '{pid}' 2>/dev/null) || exit 3\n\
         case $pid in ''|*[!0-9]*) exit 3 ;; esac\n\
         if tr '\\0' ' ' < \"/proc/$pid/cmdline\" 2>/dev/null | grep -qF -- '{conf} '; then\n\
         \x20   echo \"redis-server (pid $pid) on {address}:{port}\"\n\
         \x20   exit 0\n\
         fi\n\
         exit 3\n"
    );
    let start = format!(
        "#!/bin/sh\n\
         # Unit `redis` of the drover lab: starts redis-server with the node's config (AOF on)\n\
         # and waits until it answers PING.\n\
         if [ \"$(id -u)\" -eq 0 ] && [ '{user}' != root ]; then\n\
         \x20   exec runuser -u '{user}' -- /bin/sh \"$0\" \"$@\"\n\
         fi\n\
         unit=$(dirname \"$0\")\n\
         /bin/sh \"$unit/status\" >/dev/null && exit 0\n\
         '{server}' '{conf}' || exit 1\n\
         i=0\n\
         while [ $i -lt 100 ]; do\n\
         \x20   [ \"$('{cli}' -h {address} -p {port} ping 2>/dev/null)\" = PONG ] && exit 0\n\
         \x20   sleep 0.05\n\
         \x20   i=$((i + 1))\n\
         done\n\
         echo \"redis-server did not answer PING on {address}:{port} within 5 s; see {log}\" >&2\n\
         exit 1\n"
    );
    let stop = format!(
        "#!/bin/sh\n\
         # Unit `redis` of the drover lab: SIGTERM (redis-server writes the AOF out and exits),\n\
         # then a bounded wait.\n\
         unit=$(dirname \"$0\")\n\
         /bin/sh \"$unit/status\" >/dev/null || exit 0\n\
         pid=$(cat '{pid}')\n\
         kill -TERM \"$pid\" || exit 1\n\
         i=0\n\
         while [ $i -lt 200 ]; do\n\
         \x20   /bin/sh \"$unit/status\" >/dev/null || exit 0\n\
         \x20   sleep 0.05\n\
         \x20   i=$((i + 1))\n\
         done\n\
         echo \"redis-server (pid $pid) did not stop within 10 s\" >&2\n\
         exit 1\n"
    );
    (start, stop, status)
}

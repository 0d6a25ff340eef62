//! The lab's PostgreSQL: one throwaway cluster per lab in `$LAB/services/postgresql/`
//! (`data/`, the socket directory `run/`, `postgresql.log`), run by the lab login user (the
//! server refuses root), trust authentication, the login user as superuser.
//!
//! `initdb` costs most of a lab's start, so it runs once per login user and PostgreSQL
//! build: the pristine cluster is kept in `~/.cache/drover-lab/postgresql/` and each lab gets a
//! copy (`cp -a`), which takes a fraction of the time. The lab's own settings (address, port,
//! socket directory, no fsync) live in `data/lab.conf`, which `postgresql.conf` includes;
//! `up` rewrites it and restarts the server only when it changed.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use super::files::{make_dir, read_to_string, remove_if_exists, write_atomic};
use super::sshd::{self, Account, find_program, install_hint, is_ours};
use super::{LabError, Postgres};

/// Where PostgreSQL's server programs live on Debian: not on PATH, one directory per major
/// version.
const DEBIAN_VERSIONS: &str = "/usr/lib/postgresql";
/// Bumped when the template's `initdb` options change, so an old template is not reused.
const TEMPLATE_VERSION: &str = "v1";

/// The directory holding `initdb`, `pg_ctl` and `postgres` (and the client programs): on PATH
/// first, else `/usr/lib/postgresql/<highest version>/bin`.
pub(super) fn find_bin_dir() -> Result<PathBuf, LabError> {
    let has_server = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|p| dir.join(p).is_file())
    };
    // A PATH entry may hold symlinks to one version's programs: the directory they live in is
    // what the inventory names, as on a machine without the links.
    if let Some(initdb) = find_program("initdb")
        && let Ok(initdb) = fs::canonicalize(initdb)
        && let Some(dir) = initdb.parent()
        && has_server(dir)
    {
        return Ok(dir.to_path_buf());
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(DEBIAN_VERSIONS)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            let version = name
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_server(bin))
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| LabError::ToolMissing {
            program: "initdb",
            install: install_hint("postgresql"),
        })
}

/// Where the lab in `dir` keeps its cluster.
pub(super) fn layout(dir: &Path, bin: PathBuf, user: &str, host: Ipv4Addr, port: u16) -> Postgres {
    let base = dir.join("services").join("postgresql");
    Postgres {
        host,
        port,
        user: user.to_string(),
        bin,
        data_dir: base.join("data"),
        socket_dir: base.join("run"),
        log: base.join("postgresql.log"),
        pid: None,
    }
}

/// Makes the cluster exist with `pg`'s settings and run; keeps a running server whose settings
/// are unchanged.
pub(super) fn ensure(account: &Account, mut pg: Postgres) -> Result<Postgres, LabError> {
    let base = pg.data_dir.parent().unwrap_or(&pg.data_dir).to_path_buf();
    if let Some(services) = base.parent() {
        make_dir(services)?;
    }
    make_dir(&base)?;
    account.chown(&base)?;
    make_dir(&pg.socket_dir)?;
    account.chown(&pg.socket_dir)?;
    let live = live_pid(&pg.data_dir);
    if !pg.data_dir.join("PG_VERSION").is_file() {
        clone_template(account, &pg.bin, &pg.data_dir)?;
    }
    let conf_path = pg.data_dir.join("lab.conf");
    let conf = render_conf(&pg);
    let changed = read_to_string(&conf_path).ok().as_deref() != Some(conf.as_str());
    if changed {
        write_atomic(&conf_path, conf.as_bytes(), 0o600)?;
        account.chown(&conf_path)?;
    }
    match live {
        Some(pid) if !changed => {
            pg.pid = Some(pid);
            return Ok(pg);
        }
        Some(_) => {
            stop(&pg.data_dir)?;
        }
        None => {}
    }
    // Not ours (checked above): a pid file left by a server that died, maybe naming a pid
    // another process has by now, which would make the new server refuse to start.
    remove_if_exists(&pg.data_dir.join("postmaster.pid"))?;
    let address = SocketAddr::from((pg.host, pg.port));
    if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
        return Err(LabError::AddressInUse {
            node: "postgresql".into(),
            address: pg.host,
            port: pg.port,
        });
    }
    let out = account
        .command(pg.bin.join("pg_ctl"))
        .args(["start", "--wait", "--timeout=20", "--silent", "-D"])
        .arg(&pg.data_dir)
        .arg("-l")
        .arg(&pg.log)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(super::files::io_err("run", &pg.bin.join("pg_ctl")))?;
    let pid = live_pid(&pg.data_dir);
    if !out.status.success() || pid.is_none() {
        return Err(LabError::Service {
            service: "postgresql",
            node: format!("{}:{}", pg.host, pg.port),
            output: format!(
                "{}\nlast lines of {}:\n{}",
                sshd::combined_output(&out),
                pg.log.display(),
                sshd::log_tail(&pg.log)
            ),
        });
    }
    pg.pid = pid;
    Ok(pg)
}

/// The settings the lab adds to the cluster's own.
fn render_conf(pg: &Postgres) -> String {
    format!(
        "# drover lab: written by `drover lab up` (rewritten on every `up`).\n\
         listen_addresses = '{host}'\n\
         port = {port}\n\
         unix_socket_directories = '{socket}'\n\
         # A throwaway cluster: durability traded for speed, small memory for many labs.\n\
         fsync = off\n\
         synchronous_commit = off\n\
         full_page_writes = off\n\
         shared_buffers = 16MB\n\
         max_connections = 50\n",
        host = pg.host,
        port = pg.port,
        socket = pg.socket_dir.display(),
    )
}

/// The running postmaster of the cluster in `data_dir`: the first line of `postmaster.pid`,
/// if that process's command line names the data directory.
pub(super) fn live_pid(data_dir: &Path) -> Option<u32> {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let pid: u32 = text.lines().next()?.trim().parse().ok()?;
    is_ours(pid, data_dir).then_some(pid)
}

/// Stops the cluster's server if it runs: a fast shutdown (SIGINT: clients are disconnected),
/// then an immediate one (SIGQUIT), then SIGKILL. True if it was running.
pub(super) fn stop(data_dir: &Path) -> Result<bool, LabError> {
    match live_pid(data_dir) {
        Some(pid) => {
            sshd::terminate_with(pid, data_dir, "postgres", &[libc::SIGINT, libc::SIGQUIT])
        }
        None => Ok(false),
    }
}

/// Copies the pristine cluster into `data_dir` (which must not exist yet), as the lab user.
fn clone_template(account: &Account, bin: &Path, data_dir: &Path) -> Result<(), LabError> {
    let template = ensure_template(account, bin)?;
    // A half-copied directory from an interrupted `up` would never be completed.
    if data_dir.exists() {
        sshd::run(account.command("rm").arg("-rf").arg(data_dir))?;
    }
    sshd::run(account.command("cp").arg("-a").arg(&template).arg(data_dir))?;
    Ok(())
}

/// The lab user's pristine cluster for this PostgreSQL build, created on first use:
/// `initdb` into a staging directory, then renamed into place, so labs starting at the same
/// time in other processes never see half a template (the loser of a race drops its copy).
fn ensure_template(account: &Account, bin: &Path) -> Result<PathBuf, LabError> {
    // Labs started by threads of one process (the test suite) build it once.
    static TEMPLATE_LOCK: Mutex<()> = Mutex::new(());
    let _guard = TEMPLATE_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let cache = account.home().join(".cache/drover-lab/postgresql");
    let key = format!(
        "{TEMPLATE_VERSION}{}",
        bin.display().to_string().replace(['/', ' '], "_")
    );
    let template = cache.join(&key);
    let complete = |dir: &Path| dir.join("PG_VERSION").is_file() && dir.join("lab.conf").is_file();
    if complete(&template) {
        return Ok(template);
    }
    sshd::run(account.command("mkdir").arg("-p").arg(&cache))?;
    let staging = cache.join(format!("{key}.staging{}", std::process::id()));
    sshd::run(
        account
            .command("rm")
            .arg("-rf")
            .arg(&staging)
            .arg(&template),
    )?;
    sshd::run(
        account
            .command(bin.join("initdb"))
            .args(["--no-sync", "--auth=trust", "--encoding=UTF8", "--locale=C"])
            // 1 MB WAL segments instead of 16: a smaller directory to copy per lab.
            .arg("--wal-segsize=1")
            .arg(format!("--username={}", account.name))
            .arg("-D")
            .arg(&staging),
    )?;
    let include = "\n# drover lab: the lab's own settings.\ninclude_if_exists = 'lab.conf'\n";
    append(account, &staging.join("postgresql.conf"), include)?;
    // Present (empty) so `complete` can tell a finished template from a staging one; each
    // lab writes its own.
    write_atomic(&staging.join("lab.conf"), b"", 0o600)?;
    account.chown(&staging.join("lab.conf"))?;
    if let Err(error) = fs::rename(&staging, &template) {
        let _ = sshd::run(account.command("rm").arg("-rf").arg(&staging));
        if !complete(&template) {
            return Err(LabError::Io {
                action: "rename",
                path: staging,
                source: error,
            });
        }
    }
    Ok(template)
}

fn append(account: &Account, path: &Path, text: &str) -> Result<(), LabError> {
    let mut current = read_to_string(path)?;
    current.push_str(text);
    write_atomic(path, current.as_bytes(), 0o600)?;
    account.chown(path)
}

impl Postgres {
    /// A client program of the cluster's PostgreSQL (`psql`, `pg_dump`, `createdb`, …) with
    /// the lab's host, port and superuser set, run by whoever runs drover.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command
            .arg("-h")
            .arg(self.host.to_string())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-U")
            .arg(&self.user);
        command
    }
}

//! The OpenSSH side of the lab: finding `sshd` and `ssh-keygen`, the login account, one node's
//! sshd_config, starting an sshd and waiting until it accepts connections, and stopping a pid
//! only after `/proc/PID/cmdline` proves it is still the process the lab started.

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use std::net::Ipv4Addr;

use super::{HEAVY_USER, LAB_USER, LabError, Node};

/// Directories searched after `$PATH`: sshd lives in sbin, often outside a user's PATH.
const SBIN_DIRS: [&str; 3] = ["/usr/sbin", "/usr/local/sbin", "/sbin"];
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
const KILL_TIMEOUT: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(20);

pub(super) fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

pub(super) fn install_hint(package: &str) -> String {
    let sudo = if running_as_root() { "" } else { "sudo " };
    format!("{sudo}apt-get install -y {package}")
}

pub(super) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// sshd must be started by absolute path: it re-executes itself for every connection.
pub(super) fn find_sshd() -> Result<PathBuf, LabError> {
    let sshd = find_program("sshd").ok_or_else(|| LabError::SshdMissing {
        install: install_hint("openssh-server"),
    })?;
    std::path::absolute(&sshd).map_err(|source| LabError::Io {
        action: "resolve",
        path: sshd,
        source,
    })
}

pub(super) fn find_keygen() -> Result<PathBuf, LabError> {
    find_program("ssh-keygen").ok_or_else(|| LabError::ToolMissing {
        program: "ssh-keygen",
        install: install_hint("openssh-client"),
    })
}

pub(super) fn find_sqlite() -> Result<PathBuf, LabError> {
    find_program("sqlite3").ok_or_else(|| LabError::ToolMissing {
        program: "sqlite3",
        install: install_hint("sqlite3"),
    })
}

/// The user that logs into the lab nodes and owns their data.
#[derive(Debug, Clone)]
pub(super) struct Account {
    pub name: String,
    home: PathBuf,
    /// uid and gid to switch to for local commands: set only when drover runs as root and the
    /// account is another user.
    switch_to: Option<(u32, u32)>,
}

impl Account {
    /// As root: the `drover-lab` system user (created if missing), whose `/bin/sh` starts fast,
    /// unlike root's login shell here; with `heavy_shell`, the `drover-lab-heavy` user instead,
    /// whose `/bin/bash` sources a `~/.bashrc` that takes ~100 ms (like a real rc running
    /// `pyenv init`). Otherwise the current user: an unprivileged sshd can only log in the user
    /// it runs as, and its shell is what it is.
    pub fn for_lab(heavy_shell: bool) -> Result<Account, LabError> {
        if running_as_root() {
            if heavy_shell {
                ensure_user(HEAVY_USER, "/bin/bash")?;
                let account = Account::named(HEAVY_USER)?;
                account.write_slow_bashrc()?;
                return Ok(account);
            }
            ensure_user(LAB_USER, "/bin/sh")?;
            return Account::named(LAB_USER);
        }
        if heavy_shell {
            return Err(LabError::LabUser {
                user: HEAVY_USER.into(),
                message: "the heavy-shell lab user can only be set up as root".into(),
            });
        }
        let out = run(Command::new("id").arg("-un"))?;
        Account::named(String::from_utf8_lossy(&out.stdout).trim())
    }

    /// `~/.bashrc` of the heavy-shell user: bash sources it for every command sshd runs (it
    /// was started by sshd, SHLVL unset), so each command pays ~100 ms before it starts.
    fn write_slow_bashrc(&self) -> Result<(), LabError> {
        let rc = self.home.join(".bashrc");
        super::files::write_atomic(
            &rc,
            b"# drover lab heavy shell: a slow rc file, as on machines whose .bashrc runs pyenv init.
              sleep 0.1
",
            0o644,
        )
    }

    pub fn named(name: &str) -> Result<Account, LabError> {
        let entry = passwd_entry(name)?.ok_or_else(|| LabError::LabUser {
            user: name.to_string(),
            message: "no such user".into(),
        })?;
        let switch_to = (running_as_root() && entry.uid != 0).then_some((entry.uid, entry.gid));
        Ok(Account {
            name: name.to_string(),
            home: entry.home,
            switch_to,
        })
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn is_root_run(&self) -> bool {
        running_as_root()
    }

    /// Gives `path` to the account, so it can write in the directories the lab made for it.
    pub fn chown(&self, path: &Path) -> Result<(), LabError> {
        match self.switch_to {
            Some((uid, gid)) => {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|source| {
                    LabError::Io {
                        action: "chown",
                        path: path.to_path_buf(),
                        source,
                    }
                })
            }
            None => Ok(()),
        }
    }

    /// A command that runs as the account with a clean login-like environment (root's HOME
    /// would make tools such as sqlite3 read files the account may not open).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", &self.home)
            .env("USER", &self.name)
            .env("LOGNAME", &self.name)
            .env("LANG", "C.UTF-8");
        if let Some((uid, gid)) = self.switch_to {
            command.uid(uid).gid(gid);
        }
        command
    }
}

struct PasswdEntry {
    uid: u32,
    gid: u32,
    home: PathBuf,
}

fn passwd_entry(name: &str) -> Result<Option<PasswdEntry>, LabError> {
    let out = Command::new("getent")
        .args(["passwd", name])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LabError::Io {
            action: "run",
            path: PathBuf::from("getent"),
            source,
        })?;
    if !out.status.success() {
        return Ok(None);
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = line.trim().split(':').collect();
    let bad = || LabError::LabUser {
        user: name.to_string(),
        message: format!("unexpected passwd entry `{}`", line.trim()),
    };
    if fields.len() < 7 {
        return Err(bad());
    }
    Ok(Some(PasswdEntry {
        uid: fields[2].parse().map_err(|_| bad())?,
        gid: fields[3].parse().map_err(|_| bad())?,
        home: PathBuf::from(fields[5]),
    }))
}

/// Creates a lab user if missing and unlocks its password field: without PAM, sshd refuses
/// accounts whose password starts with `!`, which is how useradd leaves a new account.
pub(super) fn ensure_user(user: &str, shell: &str) -> Result<(), LabError> {
    // Parallel labs in one process would race on useradd; other processes may too, hence the
    // re-check after a failed attempt.
    static USER_LOCK: Mutex<()> = Mutex::new(());
    let _guard = USER_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut last_error = String::new();
    for _ in 0..5 {
        if passwd_entry(user)?.is_some() {
            return unlock_user(user);
        }
        let home = format!("/var/lib/{user}");
        let out = Command::new("useradd")
            .args(["--system", "--create-home", "--home-dir", &home])
            .args(["--shell", shell, user])
            .stdin(Stdio::null())
            .output()
            .map_err(|source| LabError::LabUser {
                user: user.into(),
                message: format!("cannot run useradd: {source}"),
            })?;
        if out.status.success() {
            return unlock_user(user);
        }
        last_error = String::from_utf8_lossy(&out.stderr).trim().to_string();
        thread::sleep(Duration::from_millis(200));
    }
    Err(LabError::LabUser {
        user: user.into(),
        message: format!("useradd failed: {last_error}"),
    })
}

fn unlock_user(user: &str) -> Result<(), LabError> {
    let out = Command::new("getent")
        .args(["shadow", user])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LabError::LabUser {
            user: user.into(),
            message: format!("cannot run getent: {source}"),
        })?;
    let line = String::from_utf8_lossy(&out.stdout);
    let locked = line.split(':').nth(1).is_some_and(|p| p.starts_with('!'));
    if locked {
        // `*`: no password can match, but the account is not "locked" for key logins.
        run(Command::new("usermod").args(["-p", "*", user]))?;
    }
    Ok(())
}

/// Generates an ed25519 key pair without passphrase unless both halves exist.
pub(super) fn ensure_keypair(keygen: &Path, key: &Path, comment: &str) -> Result<(), LabError> {
    let public = super::files::pub_path(key);
    if key.is_file() && public.is_file() {
        return Ok(());
    }
    for path in [key, public.as_path()] {
        super::files::remove_if_exists(path)?;
    }
    run(Command::new(keygen)
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(key))?;
    Ok(())
}

/// The sshd_config of `node`'s sshd, listening on `addresses` (the node's own address, or the
/// addresses of every node sharing this sshd). Paths are double-quoted (the lab refuses paths
/// with quotes or `%`). `fast_shell` adds `SetEnv SHLVL=1`, which makes bash skip `~/.bashrc`.
pub(super) fn render_config(
    node: &Node,
    addresses: &[Ipv4Addr],
    authorized_keys: &Path,
    user: &str,
    fast_shell: bool,
) -> String {
    let q = |path: &Path| format!("\"{}\"", path.display());
    let listen: String = addresses
        .iter()
        .map(|address| format!("ListenAddress {address}:{}\n", node.port))
        .collect();
    let shell = if fast_shell {
        "# Bash skips ~/.bashrc (slow pyenv init on some machines) when SHLVL is already set.\n\
         SetEnv SHLVL=1\n"
    } else {
        "# The login shell starts as it would on a real host (~/.bashrc sourced).\n"
    };
    format!(
        "# drover lab {name}: written by `drover lab up` (rewritten on every `up`).\n\
         {listen}\
         HostKey {host_key}\n\
         PidFile {pid_file}\n\
         AuthorizedKeysFile {authorized_keys}\n\
         AllowUsers {user}\n\
         # Keys live under a world-writable /tmp.\n\
         StrictModes no\n\
         UsePAM no\n\
         UseDNS no\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PermitRootLogin prohibit-password\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         Subsystem sftp internal-sftp\n\
         {shell}\
         # Many parallel connects from one control machine; MaxSessions keeps its default (10).\n\
         MaxStartups 200:30:400\n",
        name = node.name,
        host_key = q(&node.host_key),
        pid_file = q(&node.pid_file),
        authorized_keys = q(authorized_keys),
    )
}

/// Starts the node's sshd, which daemonizes: it outlives the process that ran `lab up`.
pub(super) fn spawn(sshd: &Path, node: &Node) -> Result<(), LabError> {
    if running_as_root() {
        // The privilege separation directory; something on these machines may remove it.
        let privsep = Path::new("/run/sshd");
        fs::create_dir_all(privsep).map_err(|source| LabError::Io {
            action: "create",
            path: privsep.to_path_buf(),
            source,
        })?;
    }
    check_address_free(node)?;
    // A stale pid file would make readiness trust a dead (or someone else's) pid.
    super::files::remove_if_exists(&node.pid_file)?;
    let mut command = Command::new(sshd);
    // The config path comes first: the listener's process title (what /proc/PID/cmdline shows)
    // repeats the command line and may be cut at the end.
    command
        .arg("-f")
        .arg(&node.sshd_config)
        .arg("-E")
        .arg(&node.log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = command.output().map_err(|source| LabError::Io {
        action: "run",
        path: sshd.to_path_buf(),
        source,
    })?;
    if !out.status.success() {
        return Err(LabError::Command {
            command: format!("{command:?}"),
            status: out.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr),
                log_tail(&node.log)
            ),
        });
    }
    Ok(())
}

/// Refuses early when something already accepts connections on the node's address: the new
/// sshd would fail to bind, and readiness would be fooled by the other listener.
pub(super) fn check_address_free(node: &Node) -> Result<(), LabError> {
    let address = SocketAddr::from((node.address, node.port));
    if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
        return Err(LabError::AddressInUse {
            node: node.name.clone(),
            address: node.address,
            port: node.port,
        });
    }
    Ok(())
}

/// Waits (bounded) until the node's pid file names a live sshd of this lab and its address
/// accepts a TCP connection; returns the pid.
pub(super) fn wait_ready(node: &Node, timeout: Duration) -> Result<u32, LabError> {
    let start = Instant::now();
    let address = SocketAddr::from((node.address, node.port));
    loop {
        if let Some(pid) = read_pid(&node.pid_file)
            && is_ours(pid, &node.sshd_config)
            && TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
        {
            return Ok(pid);
        }
        if start.elapsed() >= timeout {
            return Err(LabError::NotReady {
                node: node.name.clone(),
                address: node.address,
                port: node.port,
                waited: start.elapsed(),
                log: node.log.clone(),
                log_tail: log_tail(&node.log),
            });
        }
        thread::sleep(POLL);
    }
}

/// The node's running sshd: the recorded pid, else the pid file's, if it is still this node's.
pub(super) fn live_pid(node: &Node) -> Option<u32> {
    node.pid
        .into_iter()
        .chain(read_pid(&node.pid_file))
        .find(|&pid| is_ours(pid, &node.sshd_config))
}

pub(super) fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// True if `pid` is alive and its command line names `marker` (a config or script path) as a
/// whole word. Zombies have an empty command line, so an exited-but-unreaped process (nobody
/// reaps daemons in some containers) counts as gone.
pub(super) fn is_ours(pid: u32, marker: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let cmdline: Vec<u8> = cmdline
        .into_iter()
        .map(|b| if b == 0 { b' ' } else { b })
        .collect();
    let cmdline = String::from_utf8_lossy(&cmdline);
    let marker = marker.to_string_lossy();
    cmdline.match_indices(marker.as_ref()).any(|(at, _)| {
        let rest = &cmdline[at + marker.len()..];
        rest.is_empty() || rest.starts_with(' ')
    })
}

/// Stops `pid` if it is still ours: SIGTERM, a bounded wait, then SIGKILL. Returns whether it
/// was running.
pub(super) fn terminate(pid: u32, marker: &Path, what: &str) -> Result<bool, LabError> {
    terminate_with(pid, marker, what, &[libc::SIGTERM])
}

/// Like [`terminate`] with the daemon's own shutdown signals, tried in order with a bounded
/// wait each before SIGKILL (PostgreSQL: SIGINT is a fast shutdown, SIGQUIT an immediate one).
pub(super) fn terminate_with(
    pid: u32,
    marker: &Path,
    what: &str,
    signals: &[libc::c_int],
) -> Result<bool, LabError> {
    if !is_ours(pid, marker) {
        return Ok(false);
    }
    for &sig in signals {
        signal(pid, sig, what)?;
        if wait_gone(pid, marker, STOP_TIMEOUT) {
            return Ok(true);
        }
    }
    signal(pid, libc::SIGKILL, what)?;
    if wait_gone(pid, marker, KILL_TIMEOUT) {
        return Ok(true);
    }
    Err(LabError::StopFailed {
        pid,
        what: what.to_string(),
    })
}

fn signal(pid: u32, signal: libc::c_int, what: &str) -> Result<(), LabError> {
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return Ok(());
    };
    // SAFETY: kill has no memory-safety preconditions; the pid was just checked to be ours.
    if unsafe { libc::kill(raw, signal) } == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::ESRCH) {
        // It exited between the check and the signal: that is what we wanted.
        return Ok(());
    }
    Err(LabError::Signal {
        pid,
        what: what.to_string(),
        source: error,
    })
}

fn wait_gone(pid: u32, marker: &Path, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if !is_ours(pid, marker) {
            return true;
        }
        thread::sleep(POLL);
    }
    !is_ours(pid, marker)
}

/// The last lines of an sshd log, for errors: sshd reports bind and key problems only there.
pub(super) fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// Runs a short command to completion; a non-zero exit is an error carrying its output.
pub(super) fn run(command: &mut Command) -> Result<Output, LabError> {
    command.stdin(Stdio::null());
    let out = command.output().map_err(|source| LabError::Io {
        action: "run",
        path: PathBuf::from(command.get_program()),
        source,
    })?;
    if out.status.success() {
        return Ok(out);
    }
    Err(LabError::Command {
        command: format!("{command:?}"),
        status: out.status.to_string(),
        output: combined_output(&out),
    })
}

/// stdout then stderr of a finished command, trimmed, for error messages.
pub(super) fn combined_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .trim()
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_config_listens_on_its_address_and_keeps_default_max_sessions() {
        let node = Node {
            name: "node1".into(),
            address: std::net::Ipv4Addr::new(127, 0, 0, 2),
            port: 2222,
            root: "/tmp/lab/nodes/node1".into(),
            pid: None,
            sshd_config: "/tmp/lab/sshd/node1/sshd_config".into(),
            host_key: "/tmp/lab/sshd/node1/ssh_host_ed25519_key".into(),
            pid_file: "/tmp/lab/sshd/node1/sshd.pid".into(),
            log: "/tmp/lab/sshd/node1/sshd.log".into(),
            redis_port: None,
        };
        let addresses = [node.address];
        let config = render_config(
            &node,
            &addresses,
            Path::new("/tmp/lab/authorized_keys"),
            "drover-lab",
            true,
        );
        for line in [
            "ListenAddress 127.0.0.2:2222",
            "HostKey \"/tmp/lab/sshd/node1/ssh_host_ed25519_key\"",
            "AuthorizedKeysFile \"/tmp/lab/authorized_keys\"",
            "AllowUsers drover-lab",
            "StrictModes no",
            "SetEnv SHLVL=1",
            "MaxStartups 200:30:400",
        ] {
            assert!(config.lines().any(|l| l == line), "missing {line}");
        }
        assert!(!config.lines().any(|l| l.starts_with("MaxSessions")));

        // Shared by several nodes, with the user's own shell start.
        let addresses = [node.address, std::net::Ipv4Addr::new(127, 0, 0, 3)];
        let config = render_config(&node, &addresses, Path::new("/k"), "u", false);
        let listen: Vec<&str> = config
            .lines()
            .filter(|l| l.starts_with("ListenAddress"))
            .collect();
        assert_eq!(
            listen,
            [
                "ListenAddress 127.0.0.2:2222",
                "ListenAddress 127.0.0.3:2222"
            ]
        );
        assert!(!config.contains("SetEnv"));
    }

    #[test]
    fn missing_sshd_says_how_to_install_it() {
        let error = LabError::SshdMissing {
            install: install_hint("openssh-server"),
        };
        let sudo = if running_as_root() { "" } else { "sudo " };
        assert_eq!(
            error.to_string(),
            format!(
                "OpenSSH server (sshd) is not installed; install it with: \
                 {sudo}apt-get install -y openssh-server"
            )
        );
    }

    #[test]
    fn is_ours_matches_whole_paths_only() {
        let me = std::process::id();
        let exe = fs::read(format!("/proc/{me}/cmdline")).unwrap_or_default();
        let argv0 =
            String::from_utf8_lossy(exe.split(|&b| b == 0).next().unwrap_or(&[])).into_owned();
        assert!(is_ours(me, Path::new(&argv0)));
        assert!(!is_ours(me, Path::new(&argv0[..argv0.len() - 1])));
        assert!(!is_ours(me, Path::new("/nonexistent/sshd_config")));
    }
}

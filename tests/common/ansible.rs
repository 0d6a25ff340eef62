//! The real Ansible the compatibility tests compare drover with (`ansible-playbook`,
//! `ansible-vault`): one pinned ansible-core release in a venv under `target/`, installed
//! once from PyPI, and a bounded way to run them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The ansible-core release every comparison runs: the compat venv installs it, and the
/// conformance runner reads the integration tests of the same release's sdist.
pub const ANSIBLE_CORE_VERSION: &str = "2.19.14";
/// Creating the venv and installing ansible-core from PyPI, at most.
const INSTALL_LIMIT: Duration = Duration::from_secs(900);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv holds the pinned release (an older venv is replaced, not trusted).
fn installed(venv: &Path) -> bool {
    let want = format!("ansible_core-{ANSIBLE_CORE_VERSION}.dist-info");
    let Ok(libs) = fs::read_dir(venv.join("lib")) else {
        return false;
    };
    libs.flatten()
        .any(|python| python.path().join("site-packages").join(&want).is_dir())
}

/// `ansible-vault` beside [`ansible_playbook`].
pub fn ansible_vault() -> PathBuf {
    let bin = ansible_playbook().with_file_name("ansible-vault");
    assert!(bin.is_file(), "{} is missing", bin.display());
    bin
}

/// Runs a command, killing it if it outlives `limit`.
pub fn output_within(command: Command, limit: Duration, what: &str) -> Output {
    let shown = format!("{command:?}");
    run_within(command, limit, what)
        .unwrap_or_else(|| panic!("{what} did not finish within {limit:?}: {shown}"))
}

/// Runs a command in its own process group; `None` when it outlived `limit` (then the whole
/// group, the command and whatever it started, is killed).
pub fn run_within(mut command: Command, limit: Duration, what: &str) -> Option<Output> {
    use std::os::unix::process::CommandExt;
    let mut child: Child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what} ({command:?}): {e}"));
    // Drain the pipes on threads so a chatty child never blocks on a full pipe.
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                if let Ok(pid) = i32::try_from(child.id()) {
                    // SAFETY: kill(2) on the process group this function created.
                    unsafe { libc::kill(-pid, libc::SIGKILL) };
                }
                let _ = child.wait();
                break None;
            }
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    };
    let join = |h: Option<std::thread::JoinHandle<Vec<u8>>>| {
        h.map(|h| h.join().unwrap_or_default()).unwrap_or_default()
    };
    let (stdout, stderr) = (join(stdout), join(stderr));
    status.map(|status| Output {
        status,
        stdout,
        stderr,
    })
}

fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

pub fn dump(output: &Output) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `DROVER_ANSIBLE_PLAYBOOK`, else `target/ansible-venv/bin/ansible-playbook`, created once
/// (under a file lock, as the cases run in parallel) from PyPI.
pub fn ansible_playbook() -> PathBuf {
    if let Some(path) = std::env::var_os("DROVER_ANSIBLE_PLAYBOOK") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "DROVER_ANSIBLE_PLAYBOOK={} is not a file",
            path.display()
        );
        return path;
    }
    let venv = repo().join("target/ansible-venv");
    let bin = venv.join("bin/ansible-playbook");
    if bin.is_file() && installed(&venv) {
        return bin;
    }
    fs::create_dir_all(repo().join("target")).expect("mkdir target");
    let lock_path = repo().join("target/ansible-venv.lock");
    let lock = fs::File::create(&lock_path).expect("create the venv lock file");
    lock.lock().expect("lock target/ansible-venv.lock");
    if !(bin.is_file() && installed(&venv)) {
        install_ansible(&venv);
    }
    drop(lock);
    assert!(
        bin.is_file(),
        "{} is missing after the install",
        bin.display()
    );
    bin
}

fn install_ansible(venv: &Path) {
    let _ = fs::remove_dir_all(venv);
    let mut create = Command::new("python3");
    create.args(["-m", "venv"]).arg(venv);
    let out = output_within(create, INSTALL_LIMIT, "python3 -m venv");
    assert!(
        out.status.success(),
        "cannot create the Ansible venv with `python3 -m venv {}`: install python3 and \
         python3-venv (apt-get install python3 python3-venv), or point DROVER_ANSIBLE_PLAYBOOK \
         at an ansible-playbook\n{}",
        venv.display(),
        dump(&out)
    );
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.args([
        "install",
        "-q",
        &format!("ansible-core=={ANSIBLE_CORE_VERSION}"),
    ]);
    let out = output_within(pip, INSTALL_LIMIT, "pip install ansible-core");
    if !out.status.success() {
        // A half-made venv would be taken for a good one by the next run.
        let _ = fs::remove_dir_all(venv);
        panic!(
            "cannot install ansible-core {ANSIBLE_CORE_VERSION} from PyPI into {}: is PyPI reachable? Or point \
             DROVER_ANSIBLE_PLAYBOOK at an ansible-playbook\n{}",
            venv.display(),
            dump(&out)
        );
    }
}

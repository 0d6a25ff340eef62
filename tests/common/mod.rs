//! Test fixtures: a real lab fleet (OpenSSH sshd on loopback, the same code as `drover lab`)
//! per test, and a builder that runs the real `drover` binary and explains failures.
#![allow(dead_code)]

pub mod ansible;
pub mod product;

use drover::lab::{self, Lab, LabConfig, Services};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU8, Ordering};

/// A lab of `n` nodes in its own temp dir, on its own addresses and port; stopped on drop.
pub struct Fleet {
    pub lab: Lab,
    pub dir: tempfile::TempDir,
}

/// Each test process hands out its own addresses, 127.(10+k).P.x with P from the process
/// id, so parallel tests (and parallel test runs) never share an address and port.
static NEXT_SLOT: AtomicU8 = AtomicU8::new(0);

impl Fleet {
    pub fn up(n: usize) -> Fleet {
        Fleet::up_with(n, Services::NONE)
    }

    /// A lab of `n` nodes that also runs `services` (PostgreSQL on node1's address, a Redis
    /// per node), each on a port the kernel says is free.
    pub fn up_with(n: usize, services: Services) -> Fleet {
        let dir = tempfile::Builder::new()
            .prefix("drover-test-")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let slot = NEXT_SLOT.fetch_add(1, Ordering::SeqCst);
        let process = (std::process::id() % 250) as u8;
        let first = Ipv4Addr::new(127, 10 + slot / 20, process, 2 + (slot % 20) * 10);
        let mut config = LabConfig::new(dir.path().join("lab"));
        config.nodes = n;
        config.first_address = first;
        config.port = lab::free_port(first).expect("free port");
        config.services = services;
        // node1's address carries sshd, PostgreSQL and node1's Redis: three different ports.
        let mut taken = vec![config.port];
        if services.postgresql {
            config.postgresql_port = Some(free_port_besides(first, &mut taken));
        }
        if services.redis {
            config.redis_ports = (0..n as u32)
                .map(|i| {
                    let address = Ipv4Addr::from(u32::from(first) + i);
                    free_port_besides(address, &mut taken)
                })
                .collect();
        }
        let lab = lab::up(&config).unwrap_or_else(|e| panic!("lab up: {e}"));
        Fleet { lab, dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file in the test dir and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
        path
    }

    /// The directory of the lab's inventory file (its `group_vars/` and `host_vars/` go here).
    pub fn inventory_dir(&self) -> PathBuf {
        self.lab
            .inventory
            .parent()
            .expect("inventory dir")
            .to_path_buf()
    }

    pub fn node_root(&self, name: &str) -> PathBuf {
        self.lab
            .nodes
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.root.clone())
            .expect("node")
    }

    /// `drover run PLAYBOOK -i <the lab inventory>` with the lab's known_hosts.
    pub fn run(&self, playbook: &Path) -> Drover {
        drover()
            .arg("run")
            .arg(playbook)
            .arg("-i")
            .arg(&self.lab.inventory)
    }
}

/// A free port on `address` that is not in `taken` (the kernel may hand out one port twice
/// while nothing is bound to it); added to `taken`.
fn free_port_besides(address: Ipv4Addr, taken: &mut Vec<u16>) -> u16 {
    for _ in 0..20 {
        let port = lab::free_port(address).expect("free port");
        if !taken.contains(&port) {
            taken.push(port);
            return port;
        }
    }
    panic!("no free port on {address} besides {taken:?}");
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = lab::down(&self.lab.dir);
    }
}

/// The real binary, as a user runs it.
pub fn drover() -> Drover {
    Drover {
        command: Command::new(env!("CARGO_BIN_EXE_drover")),
        args: Vec::new(),
    }
}

#[must_use]
pub struct Drover {
    command: Command,
    args: Vec<String>,
}

impl Drover {
    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Self {
        self.args.push(arg.as_ref().to_string_lossy().into_owned());
        self.command.arg(arg);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<std::ffi::OsStr>>(mut self, args: I) -> Self {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Runs to completion (bounded by the binary's own timeouts) and checks the exit code.
    pub fn expect_code(mut self, code: i32) -> Run {
        self.command.env("NO_COLOR", "1");
        let output = self.command.output().expect("run drover");
        let run = Run {
            args: self.args,
            output,
        };
        if run.output.status.code() != Some(code) {
            panic!(
                "expected exit code {code}, got {:?}\n{}",
                run.output.status.code(),
                run.dump()
            );
        }
        run
    }
}

pub struct Run {
    pub args: Vec<String>,
    pub output: Output,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn dump(&self) -> String {
        format!(
            "command: drover {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.stdout(),
            self.stderr()
        )
    }

    /// Asserts stdout contains `needle`, showing everything when it does not.
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout().contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.dump()
        );
        self
    }

    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr().contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.dump()
        );
        self
    }

    /// The PLAY RECAP line of a host, e.g. `ok=3 changed=1 unreachable=0 failed=0 …`.
    pub fn recap(&self, host: &str) -> String {
        let stdout = self.stdout();
        let recap = stdout
            .rsplit_once("PLAY RECAP")
            .map(|(_, r)| r.to_string())
            .unwrap_or_else(|| panic!("no PLAY RECAP\n{}", self.dump()));
        recap
            .lines()
            .find(|l| l.split_whitespace().next() == Some(host))
            .map(|l| {
                l.split_once(':')
                    .map(|(_, r)| r.split_whitespace().collect::<Vec<_>>().join(" "))
                    .unwrap_or_default()
            })
            .unwrap_or_else(|| panic!("no recap line for {host}\n{}", self.dump()))
    }

    /// `--output json` events.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\n{}", self.dump()))
            })
            .collect()
    }
}

/// Runs a shell command locally (the lab nodes share this machine's filesystem).
pub fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Fleet {
    /// `drover run PLAYBOOK -i <the lab inventory> --state-dir STATE EXTRA…` in the
    /// background (stdout and stderr dropped), for a test that kills or races it.
    pub fn spawn_run(&self, playbook: &Path, state: &Path, extra: &[&str]) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_drover"))
            .arg("run")
            .arg(playbook)
            .arg("-i")
            .arg(&self.lab.inventory)
            .arg("--state-dir")
            .arg(state)
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn drover")
    }
}

/// Waits, at most `limit`, until `path` exists; fails the test saying `what` never happened.
pub fn wait_for_file(path: &Path, limit: std::time::Duration, what: &str) {
    let deadline = std::time::Instant::now() + limit;
    while !path.exists() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

//! Nodes only a bastion can reach: moves some lab nodes' sshd into a network namespace of
//! their own (as root), where their loopback addresses exist only inside it, and gives one of
//! them — the bastion — a second address on a veth pair the control machine can reach.
//! Connecting to the hidden nodes' addresses from outside is refused; only TCP forwarding
//! through the bastion's sshd gets there. Everything is undone on drop.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::{Lab, LabError, sshd};

static NEXT: AtomicU8 = AtomicU8::new(0);

/// A network namespace holding a bastion and the nodes behind it; removed on drop.
pub struct Isolation {
    pub netns: String,
    /// The bastion's address as the control machine sees it (on the veth pair).
    pub bastion_address: Ipv4Addr,
    pub bastion_port: u16,
    host_link: String,
    /// The moved sshd processes and their configs (to check the pid is still ours).
    sshds: Vec<(u32, std::path::PathBuf)>,
}

fn ip(args: &[&str]) -> Result<(), LabError> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LabError::Io {
            action: "run",
            path: "ip".into(),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(LabError::Command {
        command: format!("ip {}", args.join(" ")),
        status: out.status.to_string(),
        output: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Why isolation cannot be done here (not root, no `ip`), or `None`.
pub fn unavailable() -> Option<String> {
    if !sshd::running_as_root() {
        return Some("network namespaces need root".into());
    }
    if sshd::find_program("ip").is_none() {
        return Some("`ip` (iproute2) is not installed".into());
    }
    None
}

impl Lab {
    /// Moves `bastion` and `behind` into a new network namespace; `bastion` also listens on
    /// a veth address reachable from here. Their sshd configs, keys and addresses stay.
    pub fn isolate(&self, bastion: &str, behind: &[&str]) -> Result<Isolation, LabError> {
        if let Some(reason) = unavailable() {
            return Err(LabError::Command {
                command: "ip netns add".into(),
                status: "not run".into(),
                output: reason,
            });
        }
        let serial = NEXT.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let netns = format!("drover-{pid}-{serial}");
        // Interface names are at most 15 bytes.
        let host_link = format!("dv{}h{serial}", pid % 100_000);
        let peer_link = format!("dv{}n{serial}", pid % 100_000);
        let third = (pid % 250) as u8;
        let fourth = (serial % 60) * 4;
        let host_address = Ipv4Addr::new(10, 231, third, fourth + 1);
        let bastion_address = Ipv4Addr::new(10, 231, third, fourth + 2);
        let mut isolation = Isolation {
            netns: netns.clone(),
            bastion_address,
            bastion_port: self.node(bastion)?.port,
            host_link: host_link.clone(),
            sshds: Vec::new(),
        };
        ip(&["netns", "add", &netns])?;
        ip(&["-n", &netns, "link", "set", "lo", "up"])?;
        ip(&[
            "link", "add", &host_link, "type", "veth", "peer", "name", &peer_link, "netns", &netns,
        ])?;
        ip(&[
            "addr",
            "add",
            &format!("{host_address}/30"),
            "dev",
            &host_link,
        ])?;
        ip(&["link", "set", &host_link, "up"])?;
        ip(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{bastion_address}/30"),
            "dev",
            &peer_link,
        ])?;
        ip(&["-n", &netns, "link", "set", &peer_link, "up"])?;

        let sshd_bin = sshd::find_sshd()?;
        for name in std::iter::once(&bastion).chain(behind) {
            self.stop_node(name)?;
            let node = self.node(name)?;
            let mut config =
                std::fs::read_to_string(&node.sshd_config).map_err(|source| LabError::Io {
                    action: "read",
                    path: node.sshd_config.clone(),
                    source,
                })?;
            if *name == bastion {
                config = format!("ListenAddress {bastion_address}:{}\n{config}", node.port);
            }
            // DEBUG1 logs every forwarded connection (`direct-tcpip` with its target).
            config.push_str("LogLevel DEBUG1\nAllowTcpForwarding yes\n");
            std::fs::write(&node.sshd_config, config).map_err(|source| LabError::Io {
                action: "write",
                path: node.sshd_config.clone(),
                source,
            })?;
            super::files::remove_if_exists(&node.pid_file)?;
            let out = Command::new("ip")
                .args(["netns", "exec", &netns])
                .arg(&sshd_bin)
                .arg("-f")
                .arg(&node.sshd_config)
                .arg("-E")
                .arg(&node.log)
                .stdin(Stdio::null())
                .output()
                .map_err(|source| LabError::Io {
                    action: "run",
                    path: sshd_bin.clone(),
                    source,
                })?;
            if !out.status.success() {
                return Err(LabError::Command {
                    command: format!(
                        "ip netns exec {netns} sshd -f {}",
                        node.sshd_config.display()
                    ),
                    status: out.status.to_string(),
                    output: String::from_utf8_lossy(&out.stderr).into_owned(),
                });
            }
            let pid = wait_pid(&node.pid_file, &node.sshd_config, Duration::from_secs(5))
                .ok_or_else(|| LabError::Command {
                    command: format!("sshd in {netns} for {name}"),
                    status: "no pid file".into(),
                    output: sshd::log_tail(&node.log),
                })?;
            isolation.sshds.push((pid, node.sshd_config.clone()));
        }
        Ok(isolation)
    }
}

/// Waits (bounded) for sshd to write its pid file: it binds its listeners first.
fn wait_pid(pid_file: &Path, config: &Path, limit: Duration) -> Option<u32> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(pid) = sshd::read_pid(pid_file)
            && sshd::is_ours(pid, config)
        {
            return Some(pid);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

impl Drop for Isolation {
    fn drop(&mut self) {
        for (pid, config) in &self.sshds {
            let _ = sshd::terminate(*pid, config, "sshd");
        }
        let _ = ip(&["netns", "del", &self.netns]);
        let _ = ip(&["link", "del", &self.host_link]);
    }
}

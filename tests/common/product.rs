//! The product rehearsals' fixture: a lab with the data stores a product needs, the product's
//! stand-in seeded at chosen versions, and the product's checked-in example inventory
//! (`playbooks/<product>/inventory.yml`, written for the default lab) rewritten for this
//! lab's directory, addresses and ports — so the file an operator copies is the one tested.
#![allow(dead_code)]

use super::{Drover, Fleet, drover};
use drover::lab::{Product, SeedOptions, Services};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Rehearsal {
    pub fleet: Fleet,
    pub inventory: PathBuf,
    pub playbook: PathBuf,
    pub state: PathBuf,
}

/// The default lab's values that an example inventory spells out.
const DEFAULT_DIR: &str = "/tmp/drover-lab";
const DEFAULT_PORT: u16 = 2222;

impl Rehearsal {
    /// `nodes` lab nodes with `services`, `product` seeded per `(nodes, version)` group (an
    /// empty node list: every node), and its example inventory rewritten for this lab.
    pub fn up(
        product: Product,
        nodes: usize,
        services: Services,
        seeds: &[(&[&str], Option<&str>)],
        enterprise: bool,
    ) -> Rehearsal {
        let fleet = Fleet::up_with(nodes, services);
        for (names, version) in seeds {
            let options = SeedOptions {
                version: version.map(str::to_string),
                nodes: names.iter().map(|n| n.to_string()).collect(),
                enterprise,
            };
            fleet
                .lab
                .seed_product(&product, &options)
                .unwrap_or_else(|e| panic!("seed {product}: {e:?}"));
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("playbooks")
            .join(product.name());
        let example =
            std::fs::read_to_string(root.join("inventory.yml")).expect("example inventory");
        let inventory = fleet.write("inventory.yml", &rewrite(&example, &fleet));
        Rehearsal {
            state: fleet.path("state"),
            playbook: root.join("upgrade.yml"),
            inventory,
            fleet,
        }
    }

    /// `drover run` of the product's playbook on this lab, journaled under `state`.
    pub fn run(&self) -> Drover {
        drover()
            .arg("run")
            .arg(&self.playbook)
            .arg("-i")
            .arg(&self.inventory)
            .arg("--state-dir")
            .arg(&self.state)
    }

    pub fn resume(&self) -> Drover {
        drover().arg("resume").arg("--state-dir").arg(&self.state)
    }

    /// Plants a fault: `product` at `version` starts on `node`, then crashes (see the
    /// stand-ins' `daemon_loop`), so that version's verify fails there.
    pub fn fault(&self, node: &str, product: &str, version: &str) {
        let dir = self.fleet.node_root(node).join("lab/faults");
        std::fs::create_dir_all(&dir).expect("faults dir");
        std::fs::write(
            dir.join(format!("{product}-{version}")),
            "planted by the test\n",
        )
        .expect("fault");
    }

    /// Runs the playbook in the background and SIGKILLs drover once its journal has a line
    /// containing every one of `needles` (bounded: 120 s).
    pub fn kill_when(&self, needles: &[&str]) {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
            .arg("run")
            .arg(&self.playbook)
            .arg("-i")
            .arg(&self.inventory)
            .arg("--state-dir")
            .arg(&self.state)
            .env("NO_COLOR", "1")
            .stdout(std::fs::File::create(self.fleet.path("killed.out")).expect("output file"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn drover");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let seen = std::fs::read_dir(self.state.join("runs"))
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .any(|text| {
                    text.lines()
                        .any(|line| needles.iter().all(|n| line.contains(n)))
                });
            if seen {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let out =
                    std::fs::read_to_string(self.fleet.path("killed.out")).unwrap_or_default();
                panic!("drover ended ({status}) before the journal showed {needles:?}:\n{out}");
            }
            assert!(
                Instant::now() < deadline,
                "the journal never showed {needles:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    }

    pub fn node_root(&self, node: &str) -> PathBuf {
        self.fleet.node_root(node)
    }

    /// Runs `script` on the control machine (the nodes' files are local) and returns stdout.
    pub fn sh(&self, script: &str) -> String {
        super::sh(script)
    }
}

/// The example inventory, for this lab: its directory, port, node addresses and the data
/// stores' ports instead of the default lab's.
fn rewrite(text: &str, fleet: &Fleet) -> String {
    let lab = &fleet.lab;
    let mut text = text.replace(DEFAULT_DIR, &lab.dir.display().to_string());
    let port = lab.nodes.first().map_or(DEFAULT_PORT, |n| n.port);
    text = text.replace(
        &format!("ansible_port: {DEFAULT_PORT}"),
        &format!("ansible_port: {port}"),
    );
    for (i, node) in lab.nodes.iter().enumerate() {
        let default = format!("ansible_host: 127.0.0.{}", i + 2);
        text = text.replace(
            &format!("{default},"),
            &format!("ansible_host: {},", node.address),
        );
        text = text.replace(
            &format!("{default} "),
            &format!("ansible_host: {} ", node.address),
        );
        if let Some(redis) = node.redis_port {
            let default = DEFAULT_PORT + 2000 + i as u16 + 1;
            text = text.replace(
                &format!("lab_redis_port: {default}"),
                &format!("lab_redis_port: {redis}"),
            );
        }
    }
    if let Some(pg) = &lab.postgresql {
        text = text
            .replace(
                &format!("lab_postgresql_port: {}", DEFAULT_PORT + 1000),
                &format!("lab_postgresql_port: {}", pg.port),
            )
            .replace(
                "lab_postgresql_host: 127.0.0.2",
                &format!("lab_postgresql_host: {}", pg.host),
            )
            .replace(
                "lab_postgresql_bin: /usr/lib/postgresql/15/bin",
                &format!("lab_postgresql_bin: {}", pg.bin.display()),
            );
    }
    assert!(
        !text.contains("127.0.0.") && !text.contains("ansible_port: 2222"),
        "the example inventory has a default-lab value the rewrite does not know:\n{text}"
    );
    text
}

/// `(host, phase, hop target)` of every `phase_start` event.
pub fn phases(events: &[serde_json::Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter(|e| e["event"] == "phase_start")
        .map(|e| {
            let to = e["hop"]
                .as_str()
                .and_then(|h| h.split(" -> ").nth(1))
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or_default();
            (
                e["host"].as_str().unwrap_or_default().to_string(),
                e["phase"].as_str().unwrap_or_default().to_string(),
                to.to_string(),
            )
        })
        .collect()
}

/// The rollout table: `(host, outcome)`.
pub fn outcomes(events: &[serde_json::Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["event"] == "rollout_end")
        .flat_map(|e| e["hosts"].as_array().cloned().unwrap_or_default())
        .map(|row| {
            (
                row["host"].as_str().unwrap_or_default().to_string(),
                row["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Sum of `changed=` over the PLAY RECAP.
pub fn changed(run: &super::Run) -> usize {
    let stdout = run.stdout();
    let recap = stdout.rsplit_once("PLAY RECAP").map_or("", |(_, r)| r);
    recap
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("changed="))
        .filter_map(|n| n.parse::<usize>().ok())
        .sum()
}

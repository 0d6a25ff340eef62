//! The example inventories and playbooks in the repository stay valid and match the lab.

mod common;

use common::drover;
use drover::inventory::Inventory;
use std::path::Path;

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn inventories_lab_yml_describes_the_default_lab() {
    let inventory = Inventory::load(&repo("inventories/lab.yml")).expect("load");
    let lab = inventory.select("lab").expect("select");
    assert_eq!(lab.len(), drover::lab::DEFAULT_NODES);
    for (i, host) in lab.iter().enumerate() {
        let n = i + 1;
        assert_eq!(host.name, format!("node{n}"));
        let address = drover::lab::DEFAULT_FIRST_ADDRESS.octets()[3] as usize + i;
        assert_eq!(host.vars["ansible_host"], format!("127.0.0.{address}"));
        assert_eq!(host.vars["ansible_port"], drover::lab::DEFAULT_PORT);
        assert_eq!(host.vars["ansible_user"], drover::lab::LAB_USER);
        assert_eq!(
            host.vars["node_root"],
            format!("/tmp/drover-lab/nodes/node{n}")
        );
        assert_eq!(
            host.vars["ansible_ssh_private_key_file"],
            "/tmp/drover-lab/id_ed25519"
        );
        assert_eq!(
            host.vars["drover_known_hosts_file"],
            "/tmp/drover-lab/known_hosts"
        );
        assert_eq!(
            host.vars["lab_bin"],
            format!("/tmp/drover-lab/nodes/node{n}/lab/bin")
        );
        // `lab up --with all`: ports derived from the lab port.
        assert_eq!(
            host.vars["lab_redis_port"],
            drover::lab::DEFAULT_PORT as usize + 2000 + n
        );
        assert_eq!(
            host.vars["lab_postgresql_port"],
            drover::lab::DEFAULT_PORT + 1000
        );
        assert_eq!(host.vars["lab_postgresql_host"], "127.0.0.2");
    }
}

#[test]
fn every_example_playbook_passes_check() {
    let mut checked = 0;
    for entry in std::fs::read_dir(repo("playbooks")).expect("playbooks/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            drover()
                .arg("check")
                .arg(&path)
                .arg("-i")
                .arg(repo("inventories/lab.yml"))
                .expect_code(0);
            checked += 1;
        }
    }
    assert!(checked >= 1);
}

/// The upgrade plan document is pinned: a change to it is a change a reviewer should see.
/// Regenerate with `UPDATE_SNAPSHOTS=1 cargo test --test examples`.
#[test]
fn the_markdown_upgrade_plan_is_pinned() {
    let run = drover()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "plan",
            "playbooks/demo-upgrade-path.yml",
            "-i",
            "inventories/lab.yml",
            "--format",
            "markdown",
            "--offline",
        ])
        .expect_code(0);
    let snapshot = repo("tests/snapshots/plan-demo-upgrade-path.md");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(repo("tests/snapshots")).expect("mkdir");
        std::fs::write(&snapshot, run.stdout()).expect("write snapshot");
    }
    let expected = std::fs::read_to_string(&snapshot).expect("snapshot (UPDATE_SNAPSHOTS=1)");
    assert_eq!(run.stdout(), expected);
}

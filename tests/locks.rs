//! Host locks: a rollout locks every host it may change, on the host, before any changes. A
//! second rollout started meanwhile is refused, naming the holder, and changes nothing; a run
//! that died leaves its locks, which its resume takes back, another run refuses as stale, and
//! `drover unlock --run ID` or `--break-lock` removes.

mod common;

use common::{Fleet, drover};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

/// node1's verify waits (bounded) for `$lab_shared/go`; every upgrade is counted.
const ROLLOUT: &str = r#"- name: rollout
  hosts: lab
  vars:
    app: "{{ node_root }}/app"
  rolling:
    batch: 1
  phases:
    precheck:
      - command: cat {{ app }}/version
        register: current
        changed_when: false
    upgrade:
      - shell: echo x >> {{ app }}/upgrades && echo 2 > {{ app }}/version
    verify:
      - shell: >-
          touch {{ app }}/verifying;
          i=0; while [ {{ inventory_hostname }} = node1 ] && [ ! -f {{ lab_shared }}/go ] && [ $i -lt 600 ];
          do sleep 0.1; i=$((i+1)); done
    rollback:
      - shell: echo 1 > {{ app }}/version
"#;

fn setup(fleet: &Fleet) -> PathBuf {
    let setup = fleet.write(
        "setup.yml",
        "- hosts: lab\n  tasks:\n    - shell: rm -rf {{ node_root }}/app {{ lab_shared }}/go && mkdir -p {{ node_root }}/app && echo 1 > {{ node_root }}/app/version\n",
    );
    fleet.run(&setup).arg("--no-journal").expect_code(0);
    fleet.write("rollout.yml", ROLLOUT)
}

fn lock_dir(fleet: &Fleet, node: &str) -> PathBuf {
    fleet.node_root(node).join("lab/drover.lock")
}

fn upgrades(fleet: &Fleet, node: &str) -> usize {
    std::fs::read_to_string(fleet.node_root(node).join("app/upgrades"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn go(fleet: &Fleet) {
    std::fs::write(fleet.lab.shared_dir().join("go"), "").expect("go");
}

/// Starts `drover run` in the background, until node1 is in its verify (holding its lock).
fn start_holding(fleet: &Fleet, playbook: &Path, state: &Path, extra: &[&str]) -> Child {
    let _ = std::fs::remove_file(fleet.node_root("node1").join("app/verifying"));
    let child = fleet.spawn_run(playbook, state, extra);
    let verifying = fleet.node_root("node1").join("app/verifying");
    common::wait_for_file(
        &verifying,
        Duration::from_secs(60),
        "node1 never reached its verify",
    );
    child
}

fn owner_run(fleet: &Fleet, node: &str) -> String {
    let owner = std::fs::read_to_string(lock_dir(fleet, node).join("owner")).expect("owner");
    owner
        .lines()
        .find_map(|l| l.strip_prefix("run="))
        .expect("run= line")
        .to_string()
}

/// Waits (bounded) until the lock's lease, as the owner file says, ran out.
fn wait_stale(fleet: &Fleet, node: &str) {
    let owner = std::fs::read_to_string(lock_dir(fleet, node).join("owner")).expect("owner");
    let expires: u64 = owner
        .lines()
        .find_map(|l| l.strip_prefix("expires="))
        .and_then(|v| v.parse().ok())
        .expect("expires= line");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        if now > expires {
            return;
        }
        assert!(Instant::now() < deadline, "the lease never ran out");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_second_rollout_is_refused_while_the_first_holds_the_hosts() {
    let fleet = Fleet::up(2);
    let playbook = setup(&fleet);
    // A short lease, renewed while the run works: outliving it does not make the lock stale.
    let lease = ["-e", "drover_lock_lease=3"];
    let mut first = start_holding(&fleet, &playbook, &fleet.path("state-a"), &lease);
    let holder = owner_run(&fleet, "node1");
    assert_eq!(
        owner_run(&fleet, "node2"),
        holder,
        "every host locked up front"
    );
    std::thread::sleep(Duration::from_millis(4500));

    let second = fleet
        .run(&playbook)
        .arg("--state-dir")
        .arg(fleet.path("state-b"))
        .env("NO_COLOR", "1")
        .expect_code(6);
    second.stdout_has(&format!(
        "locked at {}",
        lock_dir(&fleet, "node1").display()
    ));
    second.stdout_has(&format!("run {holder} of "));
    second.stdout_has("nothing was changed");
    second.stdout_has("lease renewed");
    assert!(!second.stdout().contains("stale"), "{}", second.dump());
    assert_eq!(upgrades(&fleet, "node1"), 1);
    assert_eq!(upgrades(&fleet, "node2"), 0);

    go(&fleet);
    let status = first.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert_eq!(upgrades(&fleet, "node2"), 1);
    for node in ["node1", "node2"] {
        assert!(
            !lock_dir(&fleet, node).exists(),
            "{node}'s lock was released"
        );
    }
}

#[test]
fn a_dead_runs_locks_are_taken_back_by_its_resume_and_refused_to_others_until_unlocked() {
    let fleet = Fleet::up(2);
    let playbook = setup(&fleet);
    let lease = ["-e", "drover_lock_lease=3"];

    // Killed while node1 verifies: its locks stay.
    let state = fleet.path("state-a");
    let mut dead = start_holding(&fleet, &playbook, &state, &lease);
    dead.kill().expect("SIGKILL");
    let _ = dead.wait();
    let run = owner_run(&fleet, "node1");
    wait_stale(&fleet, "node1");

    // Another run: refused, the lock named stale, with the way out.
    let refused = fleet
        .run(&playbook)
        .arg("--state-dir")
        .arg(fleet.path("state-b"))
        .env("NO_COLOR", "1")
        .expect_code(6);
    refused.stdout_has("stale");
    refused.stdout_has(&format!("drover unlock node1 --run {run}"));
    assert_eq!(upgrades(&fleet, "node2"), 0);

    // The run's own resume takes its locks back and finishes.
    go(&fleet);
    let resumed = drover()
        .arg("resume")
        .arg("--state-dir")
        .arg(&state)
        .env("NO_COLOR", "1")
        .expect_code(0);
    assert_eq!(upgrades(&fleet, "node1"), 1);
    assert_eq!(upgrades(&fleet, "node2"), 1);
    assert!(!lock_dir(&fleet, "node1").exists(), "{}", resumed.dump());

    // Another dead run; `drover unlock` removes only that run's locks.
    let playbook = setup(&fleet);
    let mut dead = start_holding(&fleet, &playbook, &fleet.path("state-c"), &lease);
    dead.kill().expect("SIGKILL");
    let _ = dead.wait();
    let run = owner_run(&fleet, "node1");
    let unlock = |run: &str, code: i32| {
        drover()
            .arg("unlock")
            .arg("all")
            .arg("-i")
            .arg(&fleet.lab.inventory)
            .args(["--run", run])
            .expect_code(code)
    };
    unlock("20990101T000000Z-0000", 2).stdout_has("left alone");
    assert!(lock_dir(&fleet, "node1").exists());
    unlock(&run, 0).stdout_has(&format!("node1: released the lock of run {run}"));
    assert!(!lock_dir(&fleet, "node1").exists() && !lock_dir(&fleet, "node2").exists());

    // A third dead run, broken with --break-lock once stale.
    let playbook = setup(&fleet);
    let mut dead = start_holding(&fleet, &playbook, &fleet.path("state-d"), &lease);
    dead.kill().expect("SIGKILL");
    let _ = dead.wait();
    wait_stale(&fleet, "node1");
    go(&fleet);
    fleet
        .run(&playbook)
        .arg("--state-dir")
        .arg(fleet.path("state-e"))
        .arg("--break-lock")
        .env("NO_COLOR", "1")
        .expect_code(0)
        .stdout_has("broke the stale lock");
    assert!(!lock_dir(&fleet, "node1").exists());
}

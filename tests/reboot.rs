//! `reboot` and `wait_for_connection` on the lab: a node "reboots" by a stand-in that drops
//! its sshd and every session on it, changes a boot-id file and brings sshd back; drover
//! reconnects with the same host-key rules and goes on. The journal records the reboot, so a
//! run killed mid-reboot and resumed does not reboot again. And the example kernel upgrade
//! rollout (playbooks/examples/kernel-reboot.yml) runs end to end, gated on HTTPS health.

mod common;
#[path = "common/https.rs"]
mod https;

use common::{Fleet, drover, sh};
use drover::lab::escalation::enable_become;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fleet_with_become(n: usize) -> Fleet {
    assert!(
        sh("id -u") == "0",
        "the reboot stand-in restarts sshd: root"
    );
    enable_become().expect("lab become rules (is sudo installed?)");
    Fleet::up(n)
}

/// Writes the node's reboot stand-in (run as root through `become`) and its first boot id;
/// returns the host variables that make `reboot` use them.
fn install_reboot_standin(fleet: &Fleet, name: &str, down_dir: &Path) -> String {
    install_standin(fleet, name, down_dir, true)
}

/// The stand-in; with `comes_back` false the node goes away for good (its sshd stays down).
fn install_standin(fleet: &Fleet, name: &str, down_dir: &Path, comes_back: bool) -> String {
    let node = fleet.lab.node(name).expect("node");
    let back = if comes_back {
        format!(
            "echo boot-\\$(date +%s%N) > {boot_id}; /usr/sbin/sshd -f {config} -E {log}; sleep 1; rm -f {down}/{name}",
            boot_id = node.root.join("boot_id").display(),
            config = node.sshd_config.display(),
            log = node.log.display(),
            down = down_dir.display(),
        )
    } else {
        ":".to_string()
    };
    let root = &node.root;
    let boot_id = root.join("boot_id");
    std::fs::write(&boot_id, "boot-first\n").expect("boot id");
    let script = root.join("fake-reboot.sh");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
# A lab node's reboot: its sshd and every session on it go away, the boot id changes, sshd
# comes back, and the service a moment after.
set -u
echo x >> {root}/reboots
touch {down}/{name}
master=$(cat {pid_file})
p=$$
found=0
while [ "$p" -gt 1 ]; do
    pp=$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f2)
    if [ "$pp" = "$master" ]; then found=1; break; fi
    p=$pp
done
[ "$found" = 1 ] || {{ echo "not inside a session of this node's sshd" >&2; exit 1; }}
setsid sh -c "sleep 0.5; kill -TERM $master; kill -KILL $p; sleep 1; {back}" </dev/null >/dev/null 2>&1 &
"#,
            root = root.display(),
            down = down_dir.display(),
            pid_file = node.pid_file.display(),
        ),
    )
    .expect("script");
    sh(&format!(
        "chmod 755 '{}'; chown {} '{}'",
        script.display(),
        fleet.lab.user,
        boot_id.display()
    ));
    format!(
        "reboot_command: \"sh {}\"\nboot_time_command: \"cat {}\"\n",
        script.display(),
        boot_id.display()
    )
}

/// One node whose `reboot_command`/`boot_time_command` host vars are the stand-in's.
fn one_node_with_standin() -> (Fleet, PathBuf) {
    let fleet = fleet_with_become(1);
    let down = down_dir(&fleet);
    let vars = install_reboot_standin(&fleet, "node1", &down);
    host_vars(&fleet, "node1", &vars);
    (fleet, down)
}

fn down_dir(fleet: &Fleet) -> PathBuf {
    let dir = fleet.path("down");
    std::fs::create_dir_all(&dir).expect("down dir");
    sh(&format!("chmod 1777 '{}'", dir.display()));
    dir
}

fn reboots(fleet: &Fleet, name: &str) -> usize {
    std::fs::read_to_string(fleet.node_root(name).join("reboots"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn host_vars(fleet: &Fleet, name: &str, text: &str) {
    let dir = fleet.inventory_dir().join("host_vars");
    std::fs::create_dir_all(&dir).expect("host_vars");
    std::fs::write(dir.join(format!("{name}.yml")), text).expect("host vars");
}

/// Every journal under the state directory, as one text.
fn journal_text(state: &Path) -> String {
    std::fs::read_dir(state.join("runs"))
        .expect("runs")
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}

fn sshd_pid(fleet: &Fleet, name: &str) -> String {
    let node = fleet.lab.node(name).expect("node");
    std::fs::read_to_string(&node.pid_file)
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn reboot_drops_the_connection_reconnects_and_the_run_goes_on() {
    let (fleet, _down) = one_node_with_standin();
    let sshd_before = sshd_pid(&fleet, "node1");
    let book = fleet.write(
        "reboot.yml",
        r#"- hosts: node1
  become: true
  tasks:
    - command: "{{ boot_time_command }}"
      register: before
    - name: reboot it
      reboot:
        reboot_command: "{{ reboot_command }}"
        boot_time_command: "{{ boot_time_command }}"
        reboot_timeout: 60
        connect_timeout: 5
      register: rebooted
    - command: "{{ boot_time_command }}"
      register: after
    - assert:
        that:
          - rebooted is changed
          - rebooted.rebooted
          - after.stdout != before.stdout
    - name: files still move over the fresh connection
      copy: {content: "after the reboot\n", dest: "{{ node_root }}/after.txt"}
"#,
    );
    let only_reboot = fleet.write(
        "reboot-check.yml",
        "- hosts: node1\n  become: true\n  tasks:\n    - reboot: {reboot_command: \"{{ reboot_command }}\"}\n      register: r\n    - assert: {that: [r is changed, r.rebooted]}\n",
    );
    let checked = fleet.run(&only_reboot).arg("--check").expect_code(0);
    assert_eq!(
        reboots(&fleet, "node1"),
        0,
        "check mode rebooted\n{}",
        checked.dump()
    );

    let state = fleet.path("state");
    let run = fleet
        .run(&book)
        .arg("--state-dir")
        .arg(&state)
        .expect_code(0);
    assert_eq!(reboots(&fleet, "node1"), 1, "{}", run.dump());
    assert!(run.recap("node1").contains("failed=0"), "{}", run.dump());
    assert_ne!(
        sshd_pid(&fleet, "node1"),
        sshd_before,
        "sshd was not restarted"
    );
    assert_eq!(
        std::fs::read_to_string(fleet.node_root("node1").join("after.txt")).expect("after.txt"),
        "after the reboot\n"
    );
    // The journal has the reboot, with the boot id it left.
    let journal = journal_text(&state);
    assert!(
        journal.lines().any(
            |l| l.contains("\"record\":\"reboot\"") && l.contains("\"boot_id\":\"boot-first\"")
        ),
        "{journal}"
    );
}

#[test]
fn wait_for_connection_reconnects_after_sshd_dropped_the_session() {
    let (fleet, _down) = one_node_with_standin();
    let book = fleet.write(
        "wait.yml",
        r#"- hosts: node1
  tasks:
    - name: the node goes away under us
      become: true
      command: "{{ reboot_command }}"
    - pause: {seconds: 1}
    - wait_for_connection: {timeout: 30, sleep: 0.5}
    - command: "{{ boot_time_command }}"
      register: now
    - assert: {that: ["now.stdout != 'boot-first'"]}
"#,
    );
    let run = fleet.run(&book).expect_code(0);
    assert_eq!(reboots(&fleet, "node1"), 1, "{}", run.dump());
    assert!(run.recap("node1").contains("failed=0"), "{}", run.dump());
}

#[test]
fn a_run_killed_mid_reboot_resumes_without_rebooting_again() {
    let (fleet, down) = one_node_with_standin();
    // The reboot takes long enough to be killed during it: the node is back only after 2 s,
    // and `post_reboot_delay` holds drover a while longer.
    let book = fleet.write(
        "rollout.yml",
        r#"- hosts: node1
  become: true
  rolling:
    batch: 1
  phases:
    upgrade:
      - shell: echo x >> {{ node_root }}/upgrades
      - reboot:
          reboot_command: "{{ reboot_command }}"
          boot_time_command: "{{ boot_time_command }}"
          post_reboot_delay: 30
        register: rebooted
    verify:
      - command: "{{ boot_time_command }}"
        register: now
        failed_when: now.stdout == 'boot-first'
      # Only the resumed run gets here: its reboot task saw the journal's record.
      - assert: {that: ["'not rebooted again' in rebooted.msg"]}
"#,
    );
    let state = fleet.path("state");
    let mut child = fleet.spawn_run(&book, &state, &[]);
    let marker = fleet.node_root("node1").join("reboots");
    common::wait_for_file(&marker, Duration::from_secs(30), "the reboot never started");
    // Let the node come back (a new boot id, its service up) while drover waits out
    // post_reboot_delay, then kill it.
    let boot_id = fleet.node_root("node1").join("boot_id");
    let back = std::time::Instant::now() + Duration::from_secs(20);
    while down.join("node1").exists()
        || std::fs::read_to_string(&boot_id).is_ok_and(|b| b.trim() == "boot-first")
    {
        assert!(std::time::Instant::now() < back, "the node never came back");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(reboots(&fleet, "node1"), 1);

    let resumed = drover()
        .arg("resume")
        .arg("--state-dir")
        .arg(&state)
        .expect_code(0);
    assert_eq!(
        reboots(&fleet, "node1"),
        1,
        "rebooted twice\n{}",
        resumed.dump()
    );
    assert!(
        resumed.recap("node1").contains("failed=0"),
        "{}",
        resumed.dump()
    );
    // The interrupted phase ran again from its start, as a resume does.
    assert_eq!(
        sh(&format!(
            "wc -l < {}/upgrades",
            fleet.node_root("node1").display()
        )),
        "2"
    );
}

#[test]
fn the_kernel_upgrade_example_reboots_each_node_in_turn_gated_on_https_health() {
    let fleet = fleet_with_become(2);
    let down = down_dir(&fleet);
    let pki_dir = fleet.node_root("node1").join("pki");
    let pki = https::Pki::new(&pki_dir);
    let port = pki.serve(false, Some(down.clone()));
    for name in ["node1", "node2"] {
        let vars = install_reboot_standin(&fleet, name, &down);
        host_vars(
            &fleet,
            name,
            &format!(
                "{vars}health_url: \"https://127.0.0.1:{port}/health?node={{{{ inventory_hostname }}}}\"\nhealth_ca: \"{}\"\nkernel_package: \"\"\n",
                pki.ca.display()
            ),
        );
    }
    let book = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/examples/kernel-reboot.yml");
    let state = fleet.path("state");
    let run = fleet
        .run(&book)
        .arg("--state-dir")
        .arg(&state)
        .expect_code(0);
    assert_eq!(reboots(&fleet, "node1"), 1, "{}", run.dump());
    assert_eq!(reboots(&fleet, "node2"), 1, "{}", run.dump());
    // The lab's inventory empties `kernel_package`: the real package manager is never asked
    // (inventory values must beat the playbook's defaults).
    run.stdout_has("skipping: [node1] upgrade › install the new kernel");
    // The gate held each node until its service was back.
    run.stdout_has("FAILED - RETRYING: [node1]: healthy again over HTTPS")
        .stdout_has("ok: [node1] verify › healthy again over HTTPS")
        .stdout_has("ok: [node2] verify › healthy again over HTTPS");
    // max_unavailable 1: node2 started its upgrade only after node1 was verified.
    let journal = journal_text(&state);
    let at = |needle: &[&str]| {
        journal
            .lines()
            .position(|l| needle.iter().all(|n| l.contains(n)))
            .unwrap_or_else(|| panic!("no journal line with {needle:?}\n{journal}"))
    };
    let node1_verified = at(&["\"phase_end\"", "\"node1\"", "\"verify\"", "\"ok\":true"]);
    let node2_upgrade = at(&["\"phase_start\"", "\"node2\"", "\"upgrade\""]);
    assert!(node1_verified < node2_upgrade, "{journal}");
}

/// A node that never comes back fails its host when `timeout` runs out, naming the host and
/// what the last attempt saw; the other host carries on to the end of the play.
#[test]
fn a_node_that_never_comes_back_fails_wait_for_connection_and_the_other_host_goes_on() {
    let fleet = fleet_with_become(2);
    let down = down_dir(&fleet);
    let vars = install_standin(&fleet, "node1", &down, false);
    host_vars(&fleet, "node1", &vars);
    let book = fleet.write(
        "gone.yml",
        r#"- hosts: all
  tasks:
    - name: node1 goes away for good
      become: true
      command: "{{ reboot_command }}"
      when: inventory_hostname == 'node1'
    - pause: {seconds: 1}
    - wait_for_connection: {timeout: 3, sleep: 0.5, connect_timeout: 1}
    - name: still here
      command: echo still-here
"#,
    );
    let run = fleet.run(&book).expect_code(2);
    assert!(
        run.stdout()
            .contains("timed out waiting for the connection to node1 (3s)"),
        "{}",
        run.dump()
    );
    assert!(run.recap("node1").contains("failed=1"), "{}", run.dump());
    assert!(run.recap("node2").contains("failed=0"), "{}", run.dump());
    assert!(run.recap("node2").contains("ok=3"), "{}", run.dump());
}

/// `reboot` on a node that never comes back fails when `reboot_timeout` runs out.
#[test]
fn reboot_of_a_node_that_never_comes_back_fails_at_reboot_timeout() {
    let fleet = fleet_with_become(1);
    let down = down_dir(&fleet);
    let vars = install_standin(&fleet, "node1", &down, false);
    host_vars(&fleet, "node1", &vars);
    let book = fleet.write(
        "gone.yml",
        r#"- hosts: node1
  become: true
  tasks:
    - reboot: {reboot_timeout: 4, connect_timeout: 1, reboot_command: "{{ reboot_command }}", boot_time_command: "{{ boot_time_command }}"}
    - name: after-the-reboot
      command: echo never
"#,
    );
    let run = fleet.run(&book).expect_code(2);
    assert_eq!(reboots(&fleet, "node1"), 1, "{}", run.dump());
    assert!(
        run.stdout()
            .contains("Timed out waiting for node1 to come back after the reboot (4s)"),
        "{}",
        run.dump()
    );
    assert!(run.recap("node1").contains("failed=1"), "{}", run.dump());
    assert!(!run.stdout().contains("after-the-reboot"), "{}", run.dump());
}

//! The rollout constructs a cluster sharing one database needs, end to end on real sshd
//! nodes: `stop`/`start` phases around the backup, `hops: cluster` (every host at hop k
//! before any host starts hop k+1; `run_once` once per hop), `on_failure: cluster` (every
//! changed host rolled back, each shared migration undone once), `on_failure: hold`,
//! stages, `--check`, handlers in phases, hop boundaries as window checkpoints, and
//! truthful outcomes.
//!
//! The "cluster" is a tiny app per node (`app/version`, `app/running`) over one shared
//! "schema" file in the lab's shared directory; `start` refuses to run a version that does
//! not match the schema, as the product stand-ins do.

mod common;

use common::{Fleet, drover, sh};
use serde_json::Value;
use std::path::Path;

const SETUP: &str = r#"- hosts: lab
  tasks:
    - shell: >-
        mkdir -p {{ node_root }}/app &&
        echo 1 > {{ node_root }}/app/version &&
        touch {{ node_root }}/app/running &&
        echo 1 > {{ lab_shared }}/schema
"#;

/// The cluster rollout; `rolling` is YAML indented under `rolling:`.
fn cluster(rolling: &str) -> String {
    format!(
        r#"- name: cluster
  hosts: lab
  vars:
    app: "{{{{ node_root }}}}/app"
    db: "{{{{ lab_shared }}}}/schema"
    log: "{{{{ lab_shared }}}}/migrations.log"
    fail_on: []
    fail_hop: none
    fail_backup: []
  rolling:
{rolling}
  upgrade_path:
    current: "{{{{ current.stdout }}}}"
    target: "3"
    stops: ["2", "3"]
  phases:
    precheck:
      - command: cat {{{{ app }}}}/version
        register: current
        changed_when: false
    stop:
      - file:
          path: "{{{{ app }}}}/running"
          state: absent
    backup:
      - shell: >-
          test {{{{ inventory_hostname }}}} != "{{{{ fail_backup | join(' ') }}}}" &&
          cp {{{{ app }}}}/version {{{{ app }}}}/version.bak && echo {{{{ app }}}}/version.bak
        register: backup
    upgrade:
      - copy:
          content: "{{{{ hop.to }}}}\n"
          dest: "{{{{ app }}}}/version"
        notify: note the upgrade
    migrate:
      - name: migrate the shared schema
        shell: echo {{{{ hop.to }}}} > {{{{ db }}}} && echo "up {{{{ hop.to }}}} {{{{ inventory_hostname }}}}" >> {{{{ log }}}}
        run_once: true
        undo:
          name: migrate the shared schema down
          shell: echo {{{{ hop.from }}}} > {{{{ db }}}} && echo "down {{{{ hop.to }}}}" >> {{{{ log }}}}
    start:
      - name: start (refuses a schema that is not its version)
        shell: test "$(cat {{{{ db }}}})" = "$(cat {{{{ app }}}}/version)" && touch {{{{ app }}}}/running
    verify:
      - command: test -f {{{{ app }}}}/noted-{{{{ hop.to }}}}
        changed_when: false
      - assert:
          that: not (inventory_hostname in fail_on and hop.to == fail_hop)
    rollback:
      - shell: cp {{{{ backup.stdout }}}} {{{{ app }}}}/version
  handlers:
    - name: note the upgrade
      shell: touch {{{{ app }}}}/noted-{{{{ hop.to }}}}
"#
    )
}

/// The same rollout without the schema migration's `undo:` (a host-by-host rollback never
/// undoes a shared step, so the loader refuses one with `on_failure: host`).
fn host_by_host(rolling: &str) -> String {
    let text = cluster(rolling);
    let start = text.find("        undo:\n").unwrap_or(text.len());
    let end = text[start..]
        .find("    start:\n")
        .map_or(text.len(), |i| start + i);
    format!("{}{}", &text[..start], &text[end..])
}

/// `start` without the shared-schema check: for hosts that each own their data.
fn own_data(text: &str) -> String {
    let text = text.replace(
        "shell: test \"$(cat {{ db }})\" = \"$(cat {{ app }}/version)\" && touch",
        "shell: touch",
    );
    assert!(!text.contains("$(cat {{ db }})"));
    text
}

fn setup(fleet: &Fleet) {
    let playbook = fleet.write("setup.yml", SETUP);
    fleet.run(&playbook).arg("--no-journal").expect_code(0);
}

fn app(fleet: &Fleet, node: &str, file: &str) -> String {
    std::fs::read_to_string(fleet.node_root(node).join("app").join(file))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn running(fleet: &Fleet, node: &str) -> bool {
    fleet.node_root(node).join("app/running").exists()
}

fn shared(fleet: &Fleet, file: &str) -> String {
    std::fs::read_to_string(fleet.lab.shared_dir().join(file))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn outcomes(events: &[Value]) -> Vec<(String, String)> {
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

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// `(host, phase, hop target)` of every phase_start, in order.
fn phases(events: &[Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter(|e| e["event"] == "phase_start")
        .map(|e| {
            let hop = e["hop"].as_str().unwrap_or_default();
            let to = hop
                .split(" -> ")
                .nth(1)
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

fn run(fleet: &Fleet, playbook: &Path, extra: &[&str], code: i32) -> common::Run {
    fleet
        .run(playbook)
        .args(["--output", "json", "--no-journal"])
        .args(extra)
        .expect_code(code)
}

#[test]
fn the_cluster_moves_hop_by_hop_and_migrates_the_shared_schema_once_per_hop() {
    let fleet = Fleet::up(3);
    setup(&fleet);
    let playbook = fleet.write(
        "cluster.yml",
        &cluster("    batch: 1\n    hops: cluster\n    on_failure: cluster"),
    );
    let done = run(&fleet, &playbook, &[], 0);
    let events = done.events();
    // Barrier: every host verified at 2 before any host starts its hop to 3.
    let seen = phases(&events);
    let last_at_2 = seen.iter().rposition(|(_, _, to)| to == "2");
    let first_at_3 = seen.iter().position(|(_, _, to)| to == "3");
    assert!(
        last_at_2 < first_at_3 && first_at_3.is_some(),
        "{seen:#?}\n{}",
        done.dump()
    );
    // The shared schema migrated once per hop, by the first host of each hop.
    assert_eq!(shared(&fleet, "migrations.log"), "up 2 node1\nup 3 node1");
    assert_eq!(shared(&fleet, "schema"), "3");
    for node in ["node1", "node2", "node3"] {
        assert_eq!(app(&fleet, node, "version"), "3");
        assert!(running(&fleet, node), "{node} not running");
        // The handler the upgrade notified ran before the verify that checks it.
        assert!(fleet.node_root(node).join("app/noted-3").exists());
    }
    // stop → backup (once) → upgrade → migrate → start → verify, per hop.
    let node2: Vec<String> = seen
        .iter()
        .filter(|(h, _, _)| h == "node2")
        .map(|(_, p, to)| format!("{p}{to}"))
        .collect();
    assert_eq!(
        node2,
        [
            "stop2", "backup", "upgrade2", "migrate2", "start2", "verify2", "stop3", "upgrade3",
            "migrate3", "start3", "verify3"
        ]
    );
    assert_eq!(
        outcomes(&events),
        pairs(&[
            ("node1", "UPGRADED"),
            ("node2", "UPGRADED"),
            ("node3", "UPGRADED")
        ])
    );
    // Again: every host is at the target, nothing to do.
    let again = run(&fleet, &playbook, &[], 0);
    assert_eq!(
        outcomes(&again.events()),
        pairs(&[
            ("node1", "UP_TO_DATE"),
            ("node2", "UP_TO_DATE"),
            ("node3", "UP_TO_DATE")
        ])
    );
}

#[test]
fn a_host_failing_after_the_shared_migration_rolls_the_whole_cluster_back() {
    let fleet = Fleet::up(3);
    setup(&fleet);
    let playbook = fleet.write(
        "cluster.yml",
        &cluster("    batch: 1\n    hops: cluster\n    on_failure: cluster"),
    );
    // node2's verify fails at the hop to 3: node1 is at 3 by then, node3 at 2, and the
    // schema at 3.
    let failed = run(
        &fleet,
        &playbook,
        &["-e", r#"{"fail_on": ["node2"], "fail_hop": "3"}"#],
        6,
    );
    let events = failed.events();
    let rollback = events
        .iter()
        .find(|e| e["event"] == "cluster_rollback")
        .unwrap_or_else(|| panic!("no cluster rollback\n{}", failed.dump()));
    assert_eq!(rollback["trigger"], "node2");
    // Every host back on 1, the schema undone hop by hop, newest first, and everyone
    // started again on the old version (start checks the schema matches).
    for node in ["node1", "node2", "node3"] {
        assert_eq!(app(&fleet, node, "version"), "1", "{}", failed.dump());
        assert!(
            running(&fleet, node),
            "{node} not started\n{}",
            failed.dump()
        );
    }
    assert_eq!(shared(&fleet, "schema"), "1");
    assert_eq!(
        shared(&fleet, "migrations.log"),
        "up 2 node1\nup 3 node1\ndown 3\ndown 2"
    );
    assert_eq!(
        outcomes(&events),
        pairs(&[
            ("node1", "ROLLED_BACK"),
            ("node2", "ROLLED_BACK"),
            ("node3", "ROLLED_BACK")
        ])
    );
    failed.stdout_has("cluster_rollback");
}

#[test]
fn on_failure_hold_leaves_every_host_as_it_is() {
    let fleet = Fleet::up(3);
    setup(&fleet);
    let playbook = fleet.write(
        "cluster.yml",
        &cluster("    batch: 1\n    hops: cluster\n    on_failure: hold"),
    );
    let held = run(
        &fleet,
        &playbook,
        &["-e", r#"{"fail_on": ["node2"], "fail_hop": "3"}"#],
        6,
    );
    assert_eq!(
        outcomes(&held.events()),
        pairs(&[
            ("node1", "UPGRADED"),
            ("node2", "HELD"),
            ("node3", "PAUSED"),
        ]),
        "{}",
        held.dump()
    );
    assert_eq!(app(&fleet, "node1", "version"), "3");
    assert_eq!(app(&fleet, "node2", "version"), "3");
    assert_eq!(app(&fleet, "node3", "version"), "2");
    assert_eq!(shared(&fleet, "schema"), "3");
    held.stdout_has("held as it is");
}

#[test]
fn a_failed_backup_after_the_stop_brings_the_service_back_and_changes_nothing() {
    let fleet = Fleet::up(2);
    setup(&fleet);
    let playbook = fleet.write("cluster.yml", &host_by_host("    batch: 1"));
    let failed = run(
        &fleet,
        &playbook,
        &["-e", r#"{"fail_backup": ["node1"]}"#],
        6,
    );
    assert_eq!(
        outcomes(&failed.events()),
        pairs(&[("node1", "FAILED"), ("node2", "UNTOUCHED")]),
        "{}",
        failed.dump()
    );
    // Stopped, the backup failed, started again on the old version.
    assert_eq!(app(&fleet, "node1", "version"), "1");
    assert!(running(&fleet, "node1"));
    let node1: Vec<String> = phases(&failed.events())
        .into_iter()
        .filter(|(h, _, _)| h == "node1")
        .map(|(_, p, _)| p)
        .collect();
    assert_eq!(node1, ["stop", "backup", "start"]);
}

#[test]
fn each_host_walks_its_chain_and_run_once_still_means_once_per_hop() {
    let fleet = Fleet::up(3);
    setup(&fleet);
    // node3 starts at 2: it walks 2 -> 3 only.
    sh(&format!(
        "echo 2 > {}",
        fleet.node_root("node3").join("app/version").display()
    ));
    // Hosts that each walk their own chain only suit data each host owns: here `start`
    // does not check the shared schema (with it, node2's first hop would meet the schema
    // node1 left at 3, which is what `hops: cluster` is for).
    let playbook = fleet.write("cluster.yml", &own_data(&host_by_host("    batch: 1")));
    let done = run(&fleet, &playbook, &[], 0);
    assert_eq!(
        shared(&fleet, "migrations.log"),
        "up 2 node1\nup 3 node1",
        "{}",
        done.dump()
    );
    let node3: Vec<String> = phases(&done.events())
        .into_iter()
        .filter(|(h, p, _)| h == "node3" && p == "upgrade")
        .map(|(_, _, to)| to)
        .collect();
    assert_eq!(node3, ["3"]);
}

#[test]
fn check_mode_runs_the_precheck_and_says_what_each_host_would_do() {
    let fleet = Fleet::up(2);
    setup(&fleet);
    let playbook = fleet.write(
        "cluster.yml",
        &cluster("    batch: 1\n    hops: cluster\n    on_failure: cluster"),
    );
    let checked = run(&fleet, &playbook, &["--check"], 0);
    let events = checked.events();
    assert_eq!(
        outcomes(&events),
        pairs(&[("node1", "WOULD_UPGRADE"), ("node2", "WOULD_UPGRADE")]),
        "{}",
        checked.dump()
    );
    // The precheck ran for real: the hop chains were computed from it.
    assert!(events.iter().any(|e| e["event"] == "upgrade_paths"));
    // Nothing changed, and no verify ran (it would check a version that is not there).
    for node in ["node1", "node2"] {
        assert_eq!(app(&fleet, node, "version"), "1");
        assert!(running(&fleet, node));
    }
    assert_eq!(shared(&fleet, "schema"), "1");
    assert!(
        !phases(&events)
            .iter()
            .any(|(_, p, _)| p == "verify" || p == "rollback")
    );
}

#[test]
fn a_staging_failure_leaves_production_untouched() {
    let fleet = Fleet::up(3);
    setup(&fleet);
    // The lab's groups: `replicas` (node2, node3) stage first, then `primary` (node1).
    let rolling = "    batch: 1\n    stages:\n      - {name: staging, hosts: replicas}\n      - {name: production, hosts: primary, max_failed: 1}";
    let playbook = fleet.write("staged.yml", &own_data(&host_by_host(rolling)));
    let failed = run(
        &fleet,
        &playbook,
        &["-e", r#"{"fail_on": ["node3"], "fail_hop": "2"}"#],
        6,
    );
    assert_eq!(
        outcomes(&failed.events()),
        pairs(&[
            ("node1", "UNTOUCHED"),
            ("node2", "UPGRADED"),
            ("node3", "ROLLED_BACK"),
        ]),
        "{}",
        failed.dump()
    );
    assert_eq!(app(&fleet, "node1", "version"), "1");
    // Without the failure: staging is done and verified before production starts.
    setup(&fleet);
    sh(&format!(
        "rm -f {}",
        fleet.lab.shared_dir().join("migrations.log").display()
    ));
    let done = run(&fleet, &playbook, &[], 0);
    let events = done.events();
    let stages: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "stage_start")
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(stages, ["staging", "production"]);
    // Each stage is its own cluster: its run_once steps run once in it, per hop.
    assert_eq!(
        shared(&fleet, "migrations.log"),
        "up 2 node2\nup 3 node2\nup 2 node1\nup 3 node1"
    );
    let seen = phases(&events);
    let last_staging = seen.iter().rposition(|(h, _, _)| h != "node1");
    let first_production = seen.iter().position(|(h, _, _)| h == "node1");
    assert!(last_staging < first_production, "{seen:#?}");
}

#[test]
fn a_window_closing_between_hops_pauses_the_host_and_resume_takes_the_next_hop() {
    let fleet = Fleet::up(1);
    setup(&fleet);
    // Where the node's own task can write it (the test dir is private to this user).
    let clock = fleet.lab.shared_dir().join("now");
    std::fs::write(&clock, "2026-11-28T03:00:00Z\n").expect("clock");
    sh(&format!("chmod 666 {}", clock.display()));
    // The verify of the first hop moves the clock past the window's end.
    let text = host_by_host("    batch: 1\n    window: \"Sat 02:00-06:00 UTC\"").replace(
        "    verify:\n",
        &format!(
            "    verify:\n      - shell: echo 2026-11-28T07:00:00Z > {}\n        when: hop.to == '2'\n",
            clock.display()
        ),
    );
    let playbook = fleet.write("window.yml", &text);
    let state = fleet.path("state");
    let paused = fleet
        .run(&playbook)
        .arg("--state-dir")
        .arg(&state)
        .args(["--output", "json"])
        .env("DROVER_CLOCK_FILE", &clock)
        .expect_code(7);
    assert_eq!(
        outcomes(&paused.events()),
        pairs(&[("node1", "PAUSED")]),
        "{}",
        paused.dump()
    );
    assert_eq!(app(&fleet, "node1", "version"), "2");
    // The next window: the host goes on with its second hop, the first not done again.
    std::fs::write(&clock, "2026-12-05T02:00:00Z\n").expect("clock");
    let resumed = drover()
        .arg("resume")
        .arg("--state-dir")
        .arg(&state)
        .args(["--output", "json"])
        .env("DROVER_CLOCK_FILE", &clock)
        .env("NO_COLOR", "1")
        .expect_code(0);
    let upgrades: Vec<String> = phases(&resumed.events())
        .into_iter()
        .filter(|(_, p, _)| p == "upgrade")
        .map(|(_, _, to)| to)
        .collect();
    assert_eq!(upgrades, ["3"], "{}", resumed.dump());
    assert_eq!(app(&fleet, "node1", "version"), "3");
    assert_eq!(shared(&fleet, "migrations.log"), "up 2 node1\nup 3 node1");
}

#[test]
fn a_cluster_rollback_killed_midway_is_finished_by_resume() {
    let fleet = Fleet::up(3);
    setup(&fleet);
    // node1's rollback hangs the first time, long enough to be killed; by then node3 and
    // node2 are rolled back and node1 is not.
    let text = cluster("    batch: 1\n    hops: cluster\n    on_failure: cluster").replace(
        "    rollback:\n",
        "    rollback:\n      - shell: >-\n          if [ {{ inventory_hostname }} = node1 ] && [ ! -f {{ app }}/slept ];\n          then touch {{ app }}/slept; sleep 15; fi\n",
    );
    let playbook = fleet.write("cluster.yml", &text);
    let state = fleet.path("state");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&fleet.lab.inventory)
        .arg("--state-dir")
        .arg(&state)
        .args(["-e", r#"{"fail_on": ["node2"], "fail_hop": "3"}"#])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn drover");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let slept = fleet.node_root("node1").join("app/slept");
    while !slept.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "node1 never began its rollback"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(app(&fleet, "node3", "version"), "1");
    assert_eq!(app(&fleet, "node1", "version"), "3");
    let resumed = drover()
        .arg("resume")
        .arg("--state-dir")
        .arg(&state)
        .args(["--output", "json"])
        .env("NO_COLOR", "1")
        .expect_code(6);
    // Only node1 rolled back this time; then the shared steps undone once and everyone
    // started on the old version.
    let rolled: Vec<String> = phases(&resumed.events())
        .into_iter()
        .filter(|(_, p, _)| p == "rollback")
        .map(|(h, _, _)| h)
        .collect();
    assert_eq!(rolled, ["node1"], "{}", resumed.dump());
    for node in ["node1", "node2", "node3"] {
        assert_eq!(app(&fleet, node, "version"), "1");
    }
    assert_eq!(shared(&fleet, "schema"), "1");
    assert_eq!(
        shared(&fleet, "migrations.log"),
        "up 2 node1\nup 3 node1\ndown 3\ndown 2"
    );
    assert!(running(&fleet, "node1") && running(&fleet, "node2") && running(&fleet, "node3"));
}

#[test]
fn hop_timeout_bounds_one_hop_and_a_slow_hop_is_rolled_back() {
    let fleet = Fleet::up(1);
    setup(&fleet);
    // The second hop's verify waits longer than a whole hop may take.
    let text = own_data(&host_by_host("    batch: 1\n    hop_timeout: 2s")).replace(
        "    verify:\n",
        "    verify:\n      - command: sleep 8\n        when: hop.to == '3'\n",
    );
    let playbook = fleet.write("slow.yml", &text);
    let slow = run(&fleet, &playbook, &[], 6);
    assert_eq!(
        outcomes(&slow.events()),
        pairs(&[("node1", "ROLLED_BACK")]),
        "{}",
        slow.dump()
    );
    let timed_out = slow.events().into_iter().any(|e| {
        e["event"] == "phase_end"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.contains("verify did not pass within"))
    });
    assert!(timed_out, "{}", slow.dump());
    assert_eq!(app(&fleet, "node1", "version"), "1");
}

#[test]
fn a_resumed_cluster_rollback_undoes_the_shared_steps_of_its_own_stage() {
    let fleet = Fleet::up(3);
    setup(&fleet);
    // Staging (node2, node3) finishes; production (node1) fails at hop 3 and its rollback is
    // killed. The resume must undo production's shared steps, not staging's.
    let rolling = "    batch: 1\n    hops: cluster\n    on_failure: cluster\n    stages:\n      - {name: staging, hosts: replicas}\n      - {name: production, hosts: primary}";
    let text = own_data(&cluster(rolling))
        .replace(
            r#"echo "down {{ hop.to }}" >> {{ log }}"#,
            r#"echo "down {{ hop.to }} {{ inventory_hostname }}" >> {{ log }}"#,
        )
        .replace(
            "    rollback:\n",
            "    rollback:\n      - shell: >-\n          if [ ! -f {{ app }}/slept ];\n          then touch {{ app }}/slept; sleep 15; fi\n",
        );
    let playbook = fleet.write("staged-cluster.yml", &text);
    let state = fleet.path("state");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&fleet.lab.inventory)
        .arg("--state-dir")
        .arg(&state)
        .args(["-e", r#"{"fail_on": ["node1"], "fail_hop": "3"}"#])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn drover");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let slept = fleet.node_root("node1").join("app/slept");
    while !slept.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "node1 never began its rollback"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let resumed = drover()
        .arg("resume")
        .arg("--state-dir")
        .arg(&state)
        .args(["--output", "json"])
        .env("NO_COLOR", "1")
        .expect_code(6);
    assert_eq!(
        shared(&fleet, "migrations.log"),
        "up 2 node2\nup 3 node2\nup 2 node1\nup 3 node1\ndown 3 node1\ndown 2 node1",
        "{}",
        resumed.dump()
    );
    assert_eq!(app(&fleet, "node1", "version"), "1");
    for node in ["node2", "node3"] {
        assert_eq!(app(&fleet, node, "version"), "3");
    }
}

//! Rollouts (`rolling:` + `phases:`) end to end on real sshd nodes: ordering, the failure
//! budget, rollback to the exact prior data, run_once, precheck, verify gates, and the
//! max_unavailable invariant as seen in the event stream.

mod common;

use common::{Fleet, sh};
use serde_json::Value;

/// Gives every node version 1 and some data, as a first, ordinary play.
const SETUP: &str = r#"- hosts: lab
  tasks:
    - shell: >-
        mkdir -p {{ node_root }}/app &&
        echo 1 > {{ node_root }}/app/version &&
        head -c 4096 /dev/urandom | base64 > {{ node_root }}/app/data.txt
"#;

/// A rollout over the nodes' `app` dirs. `rolling` and `verify` are YAML indented to fit.
fn rollout(rolling: &str, precheck_extra: &str, verify: &str) -> String {
    format!(
        r#"- name: rollout
  hosts: lab
  vars:
    app: "{{{{ node_root }}}}/app"
    fail_on: []
  rolling:
{rolling}
  phases:
    precheck:
      - command: cat {{{{ app }}}}/version
        register: current
        changed_when: false
{precheck_extra}
    backup:
      - shell: cp {{{{ app }}}}/data.txt {{{{ app }}}}/data.bak && echo {{{{ app }}}}/data.bak
        register: backup
    upgrade:
      - shell: echo 2 > {{{{ app }}}}/version && echo migrated >> {{{{ app }}}}/data.txt
    migrate:
      - name: cluster migration
        shell: echo {{{{ inventory_hostname }}}} >> {{{{ lab_shared }}}}/migrations.log
        run_once: true
    verify:
{verify}
    rollback:
      - shell: cp {{{{ backup.stdout }}}} {{{{ app }}}}/data.txt && echo 1 > {{{{ app }}}}/version
"#
    )
}

const VERIFY_FAIL_ON: &str = "      - assert:\n          that: inventory_hostname not in fail_on\n";

struct Node {
    version: String,
    data_sum: String,
    backed_up: bool,
}

fn node(fleet: &Fleet, name: &str) -> Node {
    let app = fleet.node_root(name).join("app");
    Node {
        version: sh(&format!("cat {}/version", app.display())),
        data_sum: sh(&format!("sha256sum < {}/data.txt", app.display())),
        backed_up: app.join("data.bak").exists(),
    }
}

fn setup(fleet: &Fleet) -> Vec<String> {
    let playbook = fleet.write("setup.yml", SETUP);
    fleet.run(&playbook).expect_code(0);
    fleet
        .lab
        .nodes
        .iter()
        .map(|n| node(fleet, &n.name).data_sum)
        .collect()
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

#[test]
fn verify_failing_on_the_third_of_five_rolls_it_back_and_spares_the_rest() {
    let fleet = Fleet::up(5);
    let before = setup(&fleet);
    let playbook = fleet.write(
        "rollout.yml",
        &rollout("    batch: 1\n    max_failed: 0", "", VERIFY_FAIL_ON),
    );
    let run = fleet
        .run(&playbook)
        .args(["--output", "json", "-e", r#"{"fail_on": ["node3"]}"#])
        .expect_code(6);
    assert_eq!(
        outcomes(&run.events()),
        pairs(&[
            ("node1", "UPGRADED"),
            ("node2", "UPGRADED"),
            ("node3", "ROLLED_BACK"),
            ("node4", "UNTOUCHED"),
            ("node5", "UNTOUCHED"),
        ]),
        "{}",
        run.dump()
    );
    for (i, name) in ["node1", "node2"].iter().enumerate() {
        let n = node(&fleet, name);
        assert_eq!(n.version, "2");
        assert_ne!(n.data_sum, before[i], "{name} was migrated");
    }
    let third = node(&fleet, "node3");
    assert_eq!(third.version, "1");
    assert_eq!(
        third.data_sum, before[2],
        "node3 has exactly its prior data"
    );
    for (i, name) in [(3, "node4"), (4, "node5")] {
        let n = node(&fleet, name);
        assert_eq!(
            (n.version.as_str(), n.backed_up),
            ("1", false),
            "{name} untouched"
        );
        assert_eq!(n.data_sum, before[i]);
    }
    // The halt is explained in the human output too.
    let human = fleet
        .run(&playbook)
        .args(["-e", r#"{"fail_on": ["node4"]}"#])
        .expect_code(6);
    human
        .stdout_has("ROLLOUT HALTED: failure budget spent")
        .stdout_has("node4 ⇒ ROLLED_BACK");
}

#[test]
fn the_failure_budget_counts_the_whole_rollout_not_one_batch() {
    let fleet = Fleet::up(5);
    setup(&fleet);
    let playbook = fleet.write(
        "rollout.yml",
        &rollout("    batch: 1\n    max_failed: 1", "", VERIFY_FAIL_ON),
    );
    let run = fleet
        .run(&playbook)
        .args([
            "--output",
            "json",
            "-e",
            r#"{"fail_on": ["node2", "node4"]}"#,
        ])
        .expect_code(6);
    assert_eq!(
        outcomes(&run.events()),
        pairs(&[
            ("node1", "UPGRADED"),
            ("node2", "ROLLED_BACK"),
            ("node3", "UPGRADED"),
            ("node4", "ROLLED_BACK"),
            ("node5", "UNTOUCHED"),
        ])
    );
    // One failure within the budget: the rollout completes, and the exit code says a host failed.
    let fleet = Fleet::up(3);
    setup(&fleet);
    let playbook = fleet.write(
        "rollout.yml",
        &rollout("    batch: 1\n    max_failed: 1", "", VERIFY_FAIL_ON),
    );
    fleet
        .run(&playbook)
        .args(["-e", r#"{"fail_on": ["node2"]}"#])
        .expect_code(2);
    assert_eq!(node(&fleet, "node3").version, "2");
}

#[test]
fn run_once_runs_once_for_the_whole_rollout_across_batches() {
    let fleet = Fleet::up(3);
    setup(&fleet);
    let playbook = fleet.write("rollout.yml", &rollout("    batch: 1", "", VERIFY_FAIL_ON));
    fleet.run(&playbook).expect_code(0);
    let log = std::fs::read_to_string(fleet.lab.shared_dir().join("migrations.log"))
        .expect("migrations.log");
    assert_eq!(log, "node1\n", "run_once ran on: {log:?}");
    for n in ["node1", "node2", "node3"] {
        assert_eq!(node(&fleet, n).version, "2");
    }
}

#[test]
fn order_by_and_order_groups_put_the_primary_last() {
    let fleet = Fleet::up(3);
    setup(&fleet);
    for rolling in [
        "    batch: [1, 2]\n    order_by: \"{{ role == 'primary' }}\"",
        "    batch: [1, 2]\n    order_groups: [replicas, primary]",
    ] {
        let playbook = fleet.write("rollout.yml", &rollout(rolling, "", VERIFY_FAIL_ON));
        // The plan shows the order and the batches without connecting.
        let plan = common::drover()
            .arg("plan")
            .arg(&playbook)
            .arg("-i")
            .arg(&fleet.lab.inventory)
            .expect_code(0);
        plan.stdout_has("batch 1: node2\n")
            .stdout_has("batch 2: node3, node1\n");
        let run = fleet
            .run(&playbook)
            .args(["--output", "json"])
            .expect_code(0);
        let start = run
            .events()
            .into_iter()
            .find(|e| e["event"] == "rollout_start")
            .expect("rollout_start");
        assert_eq!(
            start["hosts"],
            serde_json::json!(["node2", "node3", "node1"])
        );
        assert_eq!(
            start["batches"],
            serde_json::json!([["node2"], ["node3", "node1"]])
        );
    }
}

#[test]
fn a_precheck_failure_anywhere_changes_nothing_anywhere() {
    let fleet = Fleet::up(3);
    let before = setup(&fleet);
    let playbook = fleet.write(
        "rollout.yml",
        &rollout(
            "    batch: 1",
            "      - assert:\n          that: inventory_hostname != 'node3'\n",
            VERIFY_FAIL_ON,
        ),
    );
    let run = fleet.run(&playbook).expect_code(2);
    run.stdout_has("PRECHECK FAILED on node3");
    for (i, name) in ["node1", "node2", "node3"].iter().enumerate() {
        let n = node(&fleet, name);
        assert_eq!((n.version.as_str(), n.backed_up), ("1", false), "{name}");
        assert_eq!(n.data_sum, before[i]);
    }
}

#[test]
fn a_verify_gate_passes_once_green_and_fails_at_its_deadline() {
    let fleet = Fleet::up(2);
    setup(&fleet);
    // Green on the third try.
    let eventually = "      - shell: >-\n          n=$(cat {{ app }}/tries 2>/dev/null || echo 0); n=$((n+1)); echo $n > {{ app }}/tries; echo $n\n        register: tries\n        until: tries.stdout | int >= 3\n        retries: 5\n        delay: 1\n        changed_when: false\n";
    let playbook = fleet.write("eventually.yml", &rollout("    batch: 2", "", eventually));
    let run = fleet.run(&playbook).expect_code(0);
    run.stdout_has("FAILED - RETRYING: [node1]");
    assert_eq!(
        sh(&format!(
            "cat {}/app/tries",
            fleet.node_root("node2").display()
        )),
        "3"
    );

    // Never green: the deadline ends it long before the retries would.
    let fleet = Fleet::up(1);
    setup(&fleet);
    let never = "      - command: \"false\"\n        register: gate\n        until: gate.rc == 0\n        retries: 1000\n        delay: 1\n";
    let playbook = fleet.write(
        "never.yml",
        &rollout("    batch: 1\n    verify_timeout: 2s", "", never),
    );
    let run = fleet.run(&playbook).expect_code(6);
    run.stdout_has("verify failed after")
        .stdout_has("verify did not pass within 2s")
        .stdout_has("node1 ⇒ ROLLED_BACK");
    assert_eq!(node(&fleet, "node1").version, "1");
}

#[test]
fn never_more_than_max_unavailable_hosts_between_backup_and_verified() {
    let fleet = Fleet::up(4);
    setup(&fleet);
    let verify = "      - command: sleep 0.3\n";
    let playbook = fleet.write(
        "rollout.yml",
        &rollout("    batch: 4\n    max_unavailable: 2", "", verify),
    );
    let run = fleet
        .run(&playbook)
        .args(["--output", "json"])
        .expect_code(0);
    let mut out = std::collections::BTreeSet::new();
    let mut most = 0;
    for e in run.events() {
        match e["event"].as_str() {
            Some("phase_start") if e["phase"] == "backup" => {
                out.insert(e["host"].as_str().unwrap_or_default().to_string());
            }
            Some("host_done") => {
                out.remove(e["host"].as_str().unwrap_or_default());
            }
            _ => {}
        }
        assert!(out.len() <= 2, "more than 2 hosts out of service: {out:?}");
        most = most.max(out.len());
    }
    assert_eq!(most, 2, "the batch of 4 ran two at a time");
}

#[test]
fn the_canary_batch_waits_for_confirmation_and_yes_gives_it() {
    let fleet = Fleet::up(3);
    setup(&fleet);
    let playbook = fleet.write(
        "rollout.yml",
        &rollout(
            "    batch: [1, \"100%\"]\n    confirm_canary: true\n    pause: 1s",
            "",
            VERIFY_FAIL_ON,
        ),
    );
    // No terminal to ask on and no --yes: stop after the canary, the rest untouched, and
    // the run is resumable (exit 8).
    let state = fleet.path("state");
    let run = fleet
        .run(&playbook)
        .arg("--state-dir")
        .arg(&state)
        .args(["--output", "json"])
        .expect_code(8);
    assert_eq!(
        outcomes(&run.events()),
        pairs(&[
            ("node1", "UPGRADED"),
            ("node2", "UNTOUCHED"),
            ("node3", "UNTOUCHED"),
        ])
    );
    assert!(run.stdout().contains("was not confirmed"), "{}", run.dump());
    // `drover resume` is the operator's go-ahead: the rest in one batch after the pause,
    // the canary not touched again and not asked about again.
    let resumed = common::drover()
        .arg("resume")
        .arg("--state-dir")
        .arg(&state)
        .args(["--output", "json"])
        .expect_code(0);
    let events = resumed.events();
    assert!(
        !events
            .iter()
            .any(|e| e["event"] == "phase_start" && e["host"] == "node1"),
        "{}",
        resumed.dump()
    );
    assert_eq!(node(&fleet, "node2").version, "2");
    assert_eq!(node(&fleet, "node3").version, "2");
}

#[test]
fn ansible_order_values_apply_before_batching() {
    let fleet = Fleet::up(3);
    let playbook = fleet.write(
        "order.yml",
        "- hosts: lab\n  order: reverse_inventory\n  serial: 1\n  tasks:\n    - command: 'true'\n",
    );
    let plan = common::drover()
        .arg("plan")
        .arg(&playbook)
        .arg("-i")
        .arg(&fleet.lab.inventory)
        .expect_code(0);
    plan.stdout_has("batch 1: node3\n  batch 2: node2\n  batch 3: node1\n");
}

/// Puts demo-service `version` on a node (its database stays at schema 1).
fn install_demo(fleet: &Fleet, node: &str, version: &str) {
    let root = fleet.node_root(node);
    let script = drover::lab::render_demo_service(version, &root).expect("render");
    let path = root.join("opt/demo/bin/demo-service");
    std::fs::write(&path, script).expect("write");
    sh(&format!("chmod 755 {}", path.display()));
}

#[test]
fn each_host_walks_its_own_chain_through_the_required_stops() {
    let fleet = Fleet::up(3);
    fleet.lab.seed_demo().expect("seed");
    install_demo(&fleet, "node2", "1.1");
    install_demo(&fleet, "node3", "1.2");
    let playbook =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/demo-upgrade-path.yml");
    let run = fleet
        .run(&playbook)
        .args(["--output", "json", "--no-journal"])
        .expect_code(0);
    let events = run.events();
    let paths = events
        .iter()
        .find(|e| e["event"] == "upgrade_paths")
        .expect("upgrade_paths");
    assert_eq!(
        paths["hosts"],
        serde_json::json!([
            {"host": "node2", "current": "1.1", "hops": ["1.2", "2.0"]},
            {"host": "node3", "current": "1.2", "hops": ["2.0"]},
            {"host": "node1", "current": "1.0", "hops": ["1.1", "1.2", "2.0"]},
        ])
    );
    // Every hop's verify ran before the next hop's upgrade, for each host.
    let node1_steps: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "phase_start" && e["host"] == "node1")
        .map(|e| {
            format!(
                "{} {}",
                e["phase"].as_str().unwrap_or(""),
                e["hop"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        node1_steps,
        vec![
            "backup ",
            "upgrade 1.0 -> 1.1 (1/3)",
            "migrate 1.0 -> 1.1 (1/3)",
            "verify 1.0 -> 1.1 (1/3)",
            "upgrade 1.1 -> 1.2 (2/3)",
            "migrate 1.1 -> 1.2 (2/3)",
            "verify 1.1 -> 1.2 (2/3)",
            "upgrade 1.2 -> 2.0 (3/3)",
            "migrate 1.2 -> 2.0 (3/3)",
            "verify 1.2 -> 2.0 (3/3)",
        ]
    );
    for node in ["node1", "node2", "node3"] {
        let service = fleet.node_root(node).join("opt/demo/bin/demo-service");
        assert_eq!(
            sh(&format!("{} check", service.display())),
            "rows=5 schema=2"
        );
    }
    // Everyone is at the target now: nothing to do, nothing changed.
    let again = fleet.run(&playbook).arg("--no-journal").expect_code(0);
    again.stdout_has("node1: already at the target");
    assert!(
        again.recap("node1").contains("changed=0"),
        "{}",
        again.dump()
    );
}

#[test]
fn a_host_above_the_target_stops_the_rollout_before_anything_changes() {
    let fleet = Fleet::up(2);
    fleet.lab.seed_demo().expect("seed");
    install_demo(&fleet, "node1", "3.0");
    let playbook =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/demo-upgrade-path.yml");
    let run = fleet.run(&playbook).arg("--no-journal").expect_code(2);
    run.stdout_has("NO VALID UPGRADE PATH")
        .stdout_has("node1: the host runs 3.0, above the target 2.0");
    for node in ["node1", "node2"] {
        assert!(
            !fleet.node_root(node).join("backup").exists(),
            "{node} was touched"
        );
    }
}

#[test]
fn the_plan_reads_each_hosts_version_and_shows_its_own_chain() {
    let fleet = Fleet::up(3);
    fleet.lab.seed_demo().expect("seed");
    install_demo(&fleet, "node1", "9.0");
    install_demo(&fleet, "node2", "1.1");
    install_demo(&fleet, "node3", "2.0");
    let playbook =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/demo-upgrade-path.yml");
    // node1 has no valid path: the plan exits 2, as the run would; offline it cannot know.
    let plan = |extra: &[&str]| {
        let offline = extra.contains(&"--offline");
        common::drover()
            .arg("plan")
            .arg(&playbook)
            .arg("-i")
            .arg(&fleet.lab.inventory)
            .args(extra)
            .expect_code(if offline { 0 } else { 2 })
    };
    let text = plan(&[]);
    text.stdout_has("order (after the precheck ran on every host): node2, node3, node1")
        .stdout_has("batch 1: node2\n")
        .stdout_has("path: node2: 1.1 → 1.2 → 2.0")
        .stdout_has("path: node3: 2.0 (up to date)")
        .stdout_has("PROBLEM: node1: the host runs 9.0, above the target 2.0");
    assert!(!text.stdout().contains("batch 2:"), "{}", text.dump());

    let json = plan(&["--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout()).expect("json plan");
    let probe = &doc["plays"][0]["probe"];
    assert_eq!(probe["batches"], serde_json::json!([["node2"]]));
    assert_eq!(probe["problems"][0]["host"], "node1");
    assert_eq!(doc["plays"][0]["limits"]["max_unavailable"], 1);
    assert_eq!(
        doc["plays"][0]["phases"]["rollback"][0]["name"],
        "Stop whatever is running"
    );

    plan(&["--format", "markdown"])
        .stdout_has("| node2 | 1.1 | 1.1 → 1.2 → 2.0 |")
        .stdout_has("## Problems");
    let offline = plan(&["--offline"]);
    offline.stdout_has("upgrade path: to 2.0 through 1.1, 1.2; each host's version from `{{ installed.stdout }}`, read at run time");
    assert!(
        !offline.stdout().contains("path: node"),
        "{}",
        offline.dump()
    );
    // The plan changed nothing: every node still runs what it ran, nothing was backed up.
    for (node, version) in [("node1", "9.0"), ("node2", "1.1"), ("node3", "2.0")] {
        let service = fleet.node_root(node).join("opt/demo/bin/demo-service");
        assert_eq!(sh(&format!("{} version", service.display())), version);
        assert!(!fleet.node_root(node).join("backup").exists(), "{node}");
    }
}

#[test]
fn hostvars_shows_a_fact_another_hosts_pipeline_set_while_both_run() {
    let fleet = Fleet::up(2);
    setup(&fleet);
    // Both pipelines are in `verify` at once: each sets a fact, then waits (bounded) until
    // it sees its peer's, and writes what it saw.
    let verify = r#"      - set_fact:
          verified_by: "{{ inventory_hostname }}"
      - command: "true"
        changed_when: false
        until: hostvars[peer].verified_by is defined
        retries: 20
        delay: 1
      - copy:
          dest: "{{ node_root }}/peer"
          content: "{{ hostvars[peer].verified_by }} {{ ansible_play_hosts | join(',') }}"
"#;
    let text = rollout("    batch: 2\n    max_unavailable: 2", "", verify).replace(
        "    fail_on: []\n",
        "    fail_on: []\n    peer: \"{{ ansible_play_hosts_all | difference([inventory_hostname]) | first }}\"\n",
    );
    let playbook = fleet.write("rollout.yml", &text);
    fleet.run(&playbook).expect_code(0);
    for (name, peer) in [("node1", "node2"), ("node2", "node1")] {
        let seen = std::fs::read_to_string(fleet.node_root(name).join("peer")).expect("peer");
        assert_eq!(seen, format!("{peer} node1,node2"), "{name}");
    }
}

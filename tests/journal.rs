//! The run journal and `drover resume`: a rollout killed with SIGKILL mid-host continues where
//! it stopped, never repeating a finished host, restarting the interrupted one at its phase
//! with its backup facts, even with a torn last journal line.

mod common;

use common::{Fleet, drover, sh};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROLLOUT: &str = r#"- name: rollout
  hosts: lab
  vars:
    app: "{{ node_root }}/app"
  rolling:
    batch: 1
  phases:
    precheck:
      - shell: echo x >> {{ app }}/prechecks
    backup:
      - shell: cp {{ app }}/data.txt {{ app }}/data.bak && echo {{ app }}/data.bak
        register: backup
    upgrade:
      - shell: echo x >> {{ app }}/upgrades && echo 2 > {{ app }}/version
    verify:
      # node2 hangs here the first time, long enough to be killed.
      - shell: >-
          if [ {{ inventory_hostname }} = node2 ] && [ ! -f {{ app }}/slept ];
          then touch {{ app }}/slept; sleep 15; fi
      # Needs the backup's registered path: only there if the journal gave it back.
      - command: test -f {{ backup.stdout }}
    rollback:
      - shell: cp {{ backup.stdout }} {{ app }}/data.txt && echo 1 > {{ app }}/version
"#;

fn journal_file(state: &Path) -> Option<PathBuf> {
    std::fs::read_dir(state.join("runs"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
}

fn count(fleet: &Fleet, node: &str, file: &str) -> usize {
    std::fs::read_to_string(fleet.node_root(node).join("app").join(file))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_rollout_killed_mid_host_resumes_exactly_where_it_stopped() {
    let fleet = Fleet::up(3);
    let setup = fleet.write(
        "setup.yml",
        "- hosts: lab\n  tasks:\n    - shell: mkdir -p {{ node_root }}/app && echo 1 > {{ node_root }}/app/version && echo data > {{ node_root }}/app/data.txt\n",
    );
    fleet.run(&setup).arg("--no-journal").expect_code(0);
    let playbook = fleet.write("rollout.yml", ROLLOUT);
    let state = fleet.path("state");

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&fleet.lab.inventory)
        .arg("--state-dir")
        .arg(&state)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn drover");
    // Wait (bounded) until the journal says node2 entered verify, then kill -9.
    let deadline = Instant::now() + Duration::from_secs(30);
    let journal = loop {
        let found = journal_file(&state).filter(|p| {
            std::fs::read_to_string(p).is_ok_and(|t| {
                t.lines().any(|l| {
                    l.contains("\"phase_start\"")
                        && l.contains("\"node2\"")
                        && l.contains("\"verify\"")
                })
            })
        });
        if let Some(path) = found {
            break path;
        }
        assert!(Instant::now() < deadline, "node2 never reached verify");
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert_eq!(count(&fleet, "node1", "upgrades"), 1);
    assert_eq!(count(&fleet, "node2", "upgrades"), 1);
    assert_eq!(count(&fleet, "node3", "upgrades"), 0);

    // A crash mid-write leaves half a record: tolerated.
    let mut text = std::fs::read_to_string(&journal).expect("journal");
    text.push_str("{\"record\":\"phase_end\",\"pla");
    std::fs::write(&journal, text).expect("tear");

    let runs = drover()
        .arg("runs")
        .arg("--state-dir")
        .arg(&state)
        .expect_code(0);
    runs.stdout_has("unfinished (resumable)");

    // Changed inputs are refused unless forced.
    let original = std::fs::read_to_string(&playbook).expect("playbook");
    std::fs::write(&playbook, format!("{original}# edited\n")).expect("edit");
    drover()
        .arg("resume")
        .arg("--state-dir")
        .arg(&state)
        .expect_code(5)
        .stderr_has("the playbook changed since run");
    std::fs::write(&playbook, original).expect("restore");

    let resumed = drover()
        .arg("resume")
        .arg("--state-dir")
        .arg(&state)
        .args(["--output", "json"])
        .expect_code(0);
    // node1 was not touched again; node2 restarted at verify (no second upgrade, no second
    // precheck); node3 ran from the start.
    assert_eq!(count(&fleet, "node1", "upgrades"), 1);
    assert_eq!(count(&fleet, "node1", "prechecks"), 1);
    assert_eq!(count(&fleet, "node2", "upgrades"), 1);
    assert_eq!(count(&fleet, "node2", "prechecks"), 1);
    assert_eq!(count(&fleet, "node3", "upgrades"), 1);
    for node in ["node1", "node2", "node3"] {
        assert_eq!(
            sh(&format!(
                "cat {}/app/version",
                fleet.node_root(node).display()
            )),
            "2"
        );
    }
    let events = resumed.events();
    assert!(
        !events
            .iter()
            .any(|e| e["host"] == "node1" && e["event"] == "phase_start"),
        "node1 was touched again:\n{}",
        resumed.dump()
    );
    let node2_phases: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "phase_start" && e["host"] == "node2")
        .filter_map(|e| e["phase"].as_str())
        .collect();
    assert_eq!(node2_phases, vec!["verify"]);

    let show = drover()
        .arg("runs")
        .arg("--state-dir")
        .arg(&state)
        .expect_code(0);
    show.stdout_has(" ok ");
    let id = journal
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("run id")
        .to_string();
    drover()
        .args(["runs", "show", &id])
        .arg("--state-dir")
        .arg(&state)
        .expect_code(0)
        .stdout_has("node2: precheck ok")
        .stdout_has("backup ok")
        // The verify the kill cut short, then the resumed one.
        .stdout_has("verify interrupted (resumed), verify ok")
        .stdout_has("verify ok")
        .stdout_has("=> UPGRADED");
    // Nothing left to resume.
    drover()
        .arg("resume")
        .arg("--state-dir")
        .arg(&state)
        .expect_code(1)
        .stderr_has("no unfinished run");
}

/// A precheck fact from a `no_log` task is never journaled; a resumed host gets it back by
/// running that precheck task again, so it is not failed for a fact it lost.
const SECRET_ROLLOUT: &str = r#"- name: rollout
  hosts: lab
  vars:
    app: "{{ node_root }}/app"
  rolling:
    batch: 1
  phases:
    precheck:
      - shell: echo x >> {{ app }}/prechecks
      - name: Read the API token
        command: cat {{ app }}/token
        register: token
        no_log: true
        changed_when: false
    upgrade:
      - shell: echo x >> {{ app }}/upgrades && echo 2 > {{ app }}/version
    verify:
      - shell: >-
          if [ {{ inventory_hostname }} = node2 ] && [ ! -f {{ app }}/slept ];
          then touch {{ app }}/slept; sleep 15; fi
      - name: The token still works
        assert:
          that: token.stdout == 's3cr3t-' ~ inventory_hostname
"#;

#[test]
fn a_resumed_host_gets_its_no_log_precheck_facts_back_without_journaling_them() {
    let fleet = Fleet::up(2);
    let setup = fleet.write(
        "setup.yml",
        "- hosts: lab\n  tasks:\n    - shell: mkdir -p {{ node_root }}/app && echo 1 > {{ node_root }}/app/version && echo s3cr3t-{{ inventory_hostname }} > {{ node_root }}/app/token\n",
    );
    fleet.run(&setup).arg("--no-journal").expect_code(0);
    let playbook = fleet.write("rollout.yml", SECRET_ROLLOUT);
    let state = fleet.path("state");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&fleet.lab.inventory)
        .arg("--state-dir")
        .arg(&state)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn drover");
    let deadline = Instant::now() + Duration::from_secs(30);
    let journal = loop {
        let found = journal_file(&state).filter(|p| {
            std::fs::read_to_string(p).is_ok_and(|t| {
                t.lines().any(|l| {
                    l.contains("\"phase_start\"")
                        && l.contains("\"node2\"")
                        && l.contains("\"verify\"")
                })
            })
        });
        if let Some(path) = found {
            break path;
        }
        assert!(Instant::now() < deadline, "node2 never reached verify");
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let resumed = drover()
        .arg("resume")
        .arg("--state-dir")
        .arg(&state)
        .args(["--output", "json"])
        .expect_code(0);
    // node2 finished with its token, its precheck's other steps not run again, and its
    // upgrade not repeated.
    assert_eq!(count(&fleet, "node2", "prechecks"), 1, "{}", resumed.dump());
    assert_eq!(count(&fleet, "node2", "upgrades"), 1);
    let text = std::fs::read_to_string(&journal).expect("journal");
    assert!(
        !text.contains("s3cr3t"),
        "a no_log value reached the journal"
    );
    assert!(text.contains("\"secret\":[\"token\"]"), "{text}");
    let outcome = resumed
        .events()
        .into_iter()
        .find(|e| e["event"] == "host_done" && e["host"] == "node2")
        .map(|e| e["outcome"].clone());
    assert_eq!(outcome, Some("UPGRADED".into()), "{}", resumed.dump());
}

#[test]
fn a_journal_is_private_has_one_writer_and_keeps_nested_secrets_out() {
    use std::os::unix::fs::PermissionsExt;
    let fleet = Fleet::up(2);
    let setup = fleet.write(
        "setup.yml",
        "- hosts: lab\n  tasks:\n    - shell: mkdir -p {{ node_root }}/app && echo 1 > {{ node_root }}/app/version && echo data > {{ node_root }}/app/data.txt\n",
    );
    fleet.run(&setup).arg("--no-journal").expect_code(0);
    let playbook = fleet.write("rollout.yml", ROLLOUT);
    let state = fleet.path("state");
    let secret = r#"{"nested": {"api_token": "s3cret-nested", "region": "eu"}}"#;
    let mut child = fleet.spawn_run(&playbook, &state, &["-e", secret]);
    let slept = fleet.node_root("node2").join("app/slept");
    common::wait_for_file(
        &slept,
        Duration::from_secs(30),
        "node2 never reached verify",
    );
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let journal = journal_file(&state).expect("a journal");
    let mode = std::fs::metadata(&journal)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "journal mode {mode:o}");
    let dir_mode = std::fs::metadata(state.join("runs"))
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o077, 0, "runs/ mode {dir_mode:o}");
    let text = std::fs::read_to_string(&journal).expect("journal");
    assert!(!text.contains("s3cret-nested"), "{text}");
    assert!(text.contains("\"region\":\"eu\""), "{text}");

    // While another process writes the journal, a resume is refused, not interleaved.
    let holder = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .expect("open journal");
    holder.lock().expect("flock");
    drover()
        .arg("resume")
        .arg("--state-dir")
        .arg(&state)
        .args(["-e", secret])
        .expect_code(1)
        .stderr_has("another drover is writing");
    drop(holder);

    // The nested secret was not journaled: the resume asks for it by its path.
    drover()
        .arg("resume")
        .arg("--state-dir")
        .arg(&state)
        .expect_code(5)
        .stderr_has("nested.api_token");
    drover()
        .arg("resume")
        .arg("--state-dir")
        .arg(&state)
        .args(["-e", secret])
        .expect_code(0);
    for node in ["node1", "node2"] {
        assert_eq!(count(&fleet, node, "upgrades"), 1);
    }
}

#[test]
fn a_run_with_several_inventories_resumes_with_all_of_them() {
    let fleet = Fleet::up(2);
    let setup = fleet.write(
        "setup.yml",
        "- hosts: lab\n  tasks:\n    - shell: mkdir -p {{ node_root }}/app && echo 1 > {{ node_root }}/app/version && echo data > {{ node_root }}/app/data.txt\n",
    );
    fleet.run(&setup).arg("--no-journal").expect_code(0);
    // The second inventory defines what the playbook needs: a resume without it would fail.
    let second = fleet.write("more.yml", "all:\n  vars:\n    app_dir_name: app\n");
    let playbook = fleet.write(
        "rollout.yml",
        &ROLLOUT.replace(
            "{{ node_root }}/app\"",
            "{{ node_root }}/{{ app_dir_name }}\"",
        ),
    );
    let state = fleet.path("state");
    let second = second.display().to_string();
    let mut child = fleet.spawn_run(&playbook, &state, &["-i", &second]);
    let slept = fleet.node_root("node2").join("app/slept");
    common::wait_for_file(
        &slept,
        Duration::from_secs(30),
        "node2 never reached verify",
    );
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    drover()
        .arg("resume")
        .arg("--state-dir")
        .arg(&state)
        .expect_code(0);
    for node in ["node1", "node2"] {
        assert_eq!(count(&fleet, node, "upgrades"), 1);
    }
}

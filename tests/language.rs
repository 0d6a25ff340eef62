//! The task language on real nodes: conditions, failures, loops, limits, later plays after a
//! failure, variables that use registered results, key=value shorthand, and signals.

mod common;

use common::{Fleet, drover, sh};

#[test]
fn failed_when_ignore_errors_and_fail_behave_as_in_ansible() {
    let fleet = Fleet::up(2);
    let playbook = fleet.write(
        "failures.yml",
        r#"- hosts: lab
  tasks:
    - name: exit 3 is fine here
      command: sh -c 'exit 3'
      register: three
      failed_when: three.rc not in [0, 3]
    - name: a failure that is ignored
      command: "false"
      ignore_errors: true
    - name: stdout decides
      shell: echo DANGER
      register: out
      failed_when: "'DANGER' in out.stdout"
      when: inventory_hostname == 'node2'
    - name: fail on node1 only
      fail:
        msg: stop here
      when: inventory_hostname == 'node1'
    - name: never reached by a failed host
      shell: touch {{ node_root }}/after
"#,
    );
    let run = fleet.run(&playbook).expect_code(2);
    run.stdout_has("...ignoring")
        .stdout_has("fatal: [node1]: FAILED! =>")
        .stdout_has("stop here")
        .stdout_has("fatal: [node2]: FAILED!");
    assert!(run.recap("node1").contains("failed=1"));
    assert!(run.recap("node1").contains("ignored=1"));
    assert!(!fleet.node_root("node1").join("after").exists());
    assert!(!fleet.node_root("node2").join("after").exists());
}

#[test]
fn with_items_and_serial_percent() {
    let fleet = Fleet::up(4);
    let playbook = fleet.write(
        "items.yml",
        r#"- hosts: lab
  serial: "50%"
  tasks:
    - shell: touch {{ node_root }}/{{ item }}
      with_items: [a, b]
"#,
    );
    let run = fleet
        .run(&playbook)
        .args(["--output", "json"])
        .expect_code(0);
    let batches: Vec<serde_json::Value> = run
        .events()
        .into_iter()
        .filter(|e| e["event"] == "batch_start")
        .map(|e| e["hosts"].clone())
        .collect();
    assert_eq!(
        batches,
        vec![
            serde_json::json!(["node1", "node2"]),
            serde_json::json!(["node3", "node4"])
        ]
    );
    assert!(fleet.node_root("node4").join("b").exists());
}

#[test]
fn limit_selects_hosts_reads_files_and_refuses_to_match_nothing() {
    let fleet = Fleet::up(3);
    let playbook = fleet.write(
        "touch.yml",
        "- hosts: all\n  tasks:\n    - shell: touch {{ node_root }}/limited\n",
    );
    fleet.run(&playbook).args(["-l", "node2"]).expect_code(0);
    assert!(fleet.node_root("node2").join("limited").exists());
    assert!(!fleet.node_root("node1").join("limited").exists());
    let file = fleet.write("limit.txt", "node3\n");
    fleet
        .run(&playbook)
        .arg("-l")
        .arg(format!("@{}", file.display()))
        .expect_code(0);
    assert!(fleet.node_root("node3").join("limited").exists());
    assert!(!fleet.node_root("node1").join("limited").exists());
    fleet
        .run(&playbook)
        .args(["-l", "nodee*"])
        .expect_code(1)
        .stderr_has("--limit `nodee*` matches no host");
}

#[test]
fn a_host_failed_in_one_play_sits_out_the_later_plays_while_the_others_go_on() {
    let fleet = Fleet::up(3);
    let playbook = fleet.write(
        "plays.yml",
        r#"- hosts: lab
  tasks:
    - command: "false"
      when: inventory_hostname == 'node1'
- hosts: lab
  serial: 1
  tasks:
    - shell: touch {{ node_root }}/second
"#,
    );
    let run = fleet.run(&playbook).expect_code(2);
    assert!(!fleet.node_root("node1").join("second").exists());
    for node in ["node2", "node3"] {
        assert!(
            fleet.node_root(node).join("second").exists(),
            "{}",
            run.dump()
        );
    }
}

#[test]
fn play_vars_may_use_registered_results_and_broken_ones_explain_themselves() {
    let fleet = Fleet::up(1);
    let playbook = fleet.write(
        "vars.yml",
        r#"- hosts: lab
  vars:
    current: "{{ installed.stdout }}"
    marker: "{{ node_root }}/{{ current }}"
  tasks:
    - command: echo v1
      register: installed
    - shell: touch {{ marker }}
    - debug:
        msg: "{{ nowhere }}"
"#,
    );
    let run = fleet.run(&playbook).expect_code(2);
    assert!(
        fleet.node_root("node1").join("v1").exists(),
        "{}",
        run.dump()
    );
    run.stdout_has("undefined variable `nowhere`");

    let broken = fleet.write(
        "broken.yml",
        "- hosts: lab\n  vars:\n    current: \"{{ missing.stdout }}\"\n  tasks:\n    - command: echo fine\n    - debug:\n        msg: \"{{ current }}\"\n",
    );
    let run = fleet.run(&broken).expect_code(2);
    assert!(run.recap("node1").contains("ok=1"), "{}", run.dump());
    run.stdout_has("undefined variable `current` (its definition failed:")
        .stdout_has("undefined variable `missing.stdout`");
}

#[test]
fn key_value_shorthand_makes_command_idempotent_with_creates() {
    let fleet = Fleet::up(1);
    let playbook = fleet.write(
        "kv.yml",
        "- hosts: lab\n  tasks:\n    - command: touch made creates={{ node_root }}/made chdir={{ node_root }}\n    - copy: content=hello dest={{ node_root }}/hello.txt\n",
    );
    let first = fleet.run(&playbook).expect_code(0);
    assert!(
        first.recap("node1").contains("changed=2"),
        "{}",
        first.dump()
    );
    assert_eq!(
        std::fs::read_to_string(fleet.node_root("node1").join("hello.txt")).expect("hello"),
        "hello"
    );
    let second = fleet.run(&playbook).expect_code(0);
    assert!(
        second.recap("node1").contains("changed=0"),
        "{}",
        second.dump()
    );
}

#[test]
fn a_silent_server_is_unreachable_after_the_connect_timeout() {
    // Accepts TCP connections and never speaks SSH.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tmp");
    let inventory = dir.path().join("hosts.ini");
    std::fs::write(
        &inventory,
        format!("[silent]\nmute ansible_host=127.0.0.1 ansible_port={port}\n"),
    )
    .expect("write");
    let playbook = dir.path().join("p.yml");
    std::fs::write(&playbook, "- hosts: all\n  tasks:\n    - command: 'true'\n").expect("write");
    let run = drover()
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&inventory)
        .args(["--connect-timeout", "1"])
        .expect_code(3);
    run.stdout_has("fatal: [mute]: UNREACHABLE!")
        .stdout_has("timed out");
    drop(listener);
}

#[test]
fn first_ctrl_c_finishes_the_current_task_then_exits_99() {
    let fleet = Fleet::up(1);
    let playbook = fleet.write(
        "slow.yml",
        "- hosts: lab\n  tasks:\n    - shell: touch {{ node_root }}/started && sleep 2 && touch {{ node_root }}/finished\n    - shell: touch {{ node_root }}/never\n",
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&fleet.lab.inventory)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Bounded wait for the task to start on the node, then one SIGINT. (A
    // marker file, not pgrep: `pgrep -f` also matches the shell running it.)
    let started = fleet.node_root("node1").join("started");
    for _ in 0..200 {
        if started.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    sh(&format!("kill -INT {}", child.id()));
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(99));
    assert!(fleet.node_root("node1").join("finished").exists());
    assert!(!fleet.node_root("node1").join("never").exists());
}

#[test]
fn undefined_variables_in_assert_and_template_files_name_where() {
    let fleet = Fleet::up(1);
    let tpl = fleet.write("templates/bad.j2", "line one\nline {{ two_is_missing }}\n");
    let _ = tpl;
    let playbook = fleet.write(
        "where.yml",
        "- hosts: lab\n  tasks:\n    - assert:\n        that: nope == 1\n      ignore_errors: true\n    - template:\n        src: bad.j2\n        dest: \"{{ node_root }}/bad\"\n",
    );
    let run = fleet.run(&playbook).expect_code(2);
    run.stdout_has(&format!(
        "{}:3:7: undefined variable `nope`",
        playbook.display()
    ))
    .stdout_has("bad.j2:2: undefined variable `two_is_missing`");
}

#[test]
fn fleet_wide_magic_variables_are_there_for_every_host() {
    let fleet = Fleet::up(2);
    let playbook = fleet.write(
        "magic.yml",
        "- hosts: lab\n  tasks:\n    - debug:\n        msg: \"{{ play_hosts | join(',') }}|{{ ansible_play_hosts | length }}|{{ groups['lab'] | length }}|{{ hostvars['node2']['ansible_host'] }}\"\n",
    );
    let run = fleet.run(&playbook).expect_code(0);
    run.stdout_has(&format!(
        "\"msg\": \"node1,node2|2|2|{}\"",
        fleet.lab.nodes[1].address
    ));
}

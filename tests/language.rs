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
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    assert!(
        fleet.node_root("node1").join("v1").exists(),
        "{}",
        run.dump()
    );
    // A variable nothing defines is refused before any task runs, as `drover check` does.
    let nowhere = fleet.write(
        "nowhere.yml",
        "- hosts: lab\n  tasks:\n    - command: touch {{ node_root }}/ran\n    - debug:\n        msg: \"{{ nowhere }}\"\n",
    );
    fleet
        .run(&nowhere)
        .expect_code(4)
        .stderr_has("undefined variable `nowhere`");
    assert!(!fleet.node_root("node1").join("ran").exists());

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
        .arg("--state-dir")
        .arg(fleet.path("state"))
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
fn a_second_ctrl_c_aborts_at_once_and_says_so() {
    let fleet = Fleet::up(1);
    let playbook = fleet.write(
        "slower.yml",
        "- hosts: lab\n  tasks:\n    - shell: touch {{ node_root }}/started && sleep 20 && touch {{ node_root }}/finished\n",
    );
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&fleet.lab.inventory)
        .arg("--state-dir")
        .arg(fleet.path("state"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = fleet.node_root("node1").join("started");
    for _ in 0..200 {
        if started.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    sh(&format!("kill -INT {}", child.id()));
    std::thread::sleep(std::time::Duration::from_millis(300));
    sh(&format!("kill -INT {}", child.id()));
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(99), "{stdout}");
    let first = stdout
        .find("[interrupt] finishing the steps in flight")
        .unwrap_or_else(|| panic!("no first-interrupt line\n{stdout}"));
    let second = stdout
        .find("ABORTED by a second interrupt")
        .unwrap_or_else(|| panic!("no abort line\n{stdout}"));
    assert!(first < second, "{stdout}");
    // It did not wait for the 20 s task.
    assert!(!fleet.node_root("node1").join("finished").exists());
    assert!(!stdout.contains("PLAY RECAP"), "{stdout}");
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

#[test]
fn rescue_runs_after_a_failure_always_runs_either_way_and_the_recap_counts_rescued() {
    let fleet = Fleet::up(2);
    let playbook = fleet.write(
        "blocks.yml",
        r#"- hosts: lab
  tasks:
    - name: outer
      block:
        - name: fails on node1
          command: "false"
          when: inventory_hostname == 'node1'
        - name: not reached by node1
          shell: touch {{ node_root }}/block-done
      rescue:
        - name: rescue sees the failure
          shell: echo "{{ ansible_failed_task.name }}/{{ ansible_failed_result.rc }}" > {{ node_root }}/rescued
      always:
        - shell: touch {{ node_root }}/always
    - name: a block's when reaches its tasks; nested, without rescue
      when: inventory_hostname == 'node2'
      block:
        - block:
            - fail:
                msg: inner failure
          always:
            - shell: touch {{ node_root }}/inner-always
    - name: after a failure without rescue
      shell: touch {{ node_root }}/after
"#,
    );
    let run = fleet.run(&playbook).expect_code(2);
    let (n1, n2) = (fleet.node_root("node1"), fleet.node_root("node2"));
    assert_eq!(
        std::fs::read_to_string(n1.join("rescued")).unwrap_or_default(),
        "fails on node1/1\n",
        "{}",
        run.dump()
    );
    assert!(!n1.join("block-done").exists());
    assert!(n2.join("block-done").exists() && !n2.join("rescued").exists());
    assert!(n1.join("always").exists() && n2.join("always").exists());
    // node1 was rescued: it carries on, and the nested block's `when` skipped it.
    assert!(run.recap("node1").contains("failed=0"), "{}", run.dump());
    assert!(run.recap("node1").contains("rescued=1"));
    assert!(n1.join("after").exists() && !n1.join("inner-always").exists());
    // node2 failed in a block with no rescue: its `always` ran, then it stopped.
    assert!(n2.join("inner-always").exists() && !n2.join("after").exists());
    // The counts ansible-playbook 2.x prints for this playbook.
    assert_eq!(
        run.recap("node1"),
        "ok=3 changed=3 unreachable=0 failed=0 skipped=2 rescued=1 ignored=0"
    );
    assert_eq!(
        run.recap("node2"),
        "ok=3 changed=3 unreachable=0 failed=1 skipped=1 rescued=0 ignored=0"
    );
}

#[test]
fn handlers_run_once_at_the_end_only_when_changed_and_listen_and_flush_work() {
    let fleet = Fleet::up(2);
    let playbook = fleet.write(
        "handlers.yml",
        r#"- hosts: lab
  handlers:
    - name: restart app
      shell: echo restart >> {{ node_root }}/restarts
    - name: never notified
      shell: touch {{ node_root }}/never
    - name: reload
      shell: echo reload >> {{ node_root }}/reloads
      listen: config changed
    - name: unchanged
      shell: touch {{ node_root }}/unchanged
  tasks:
    - shell: "true"
      notify: restart app
    - shell: "true"
      notify: [restart app, config changed]
    - shell: "true"
      changed_when: false
      notify: unchanged
    - shell: "test ! -e {{ node_root }}/restarts"
      name: handlers have not run yet
    - shell: "true"
      notify: config changed
      when: inventory_hostname == 'node1'
    - meta: flush_handlers
    - name: flushed before this task
      shell: test -e {{ node_root }}/restarts && touch {{ node_root }}/saw-restart
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    run.stdout_has("RUNNING HANDLER [restart app]")
        .stdout_has("RUNNING HANDLER [reload]");
    for node in ["node1", "node2"] {
        let root = fleet.node_root(node);
        let restarts = std::fs::read_to_string(root.join("restarts")).unwrap_or_default();
        assert_eq!(restarts, "restart\n", "{node}\n{}", run.dump());
        let reloads = std::fs::read_to_string(root.join("reloads")).unwrap_or_default();
        assert_eq!(reloads, "reload\n", "{node}");
        assert!(!root.join("never").exists() && !root.join("unchanged").exists());
        assert!(root.join("saw-restart").exists(), "{node}");
    }
    assert_eq!(
        run.stdout()
            .matches("RUNNING HANDLER [restart app]")
            .count(),
        1
    );
}

#[test]
fn handlers_of_a_serial_play_run_at_the_end_of_each_batch_and_not_on_failed_hosts() {
    let fleet = Fleet::up(3);
    let playbook = fleet.write(
        "serial-handlers.yml",
        r#"- hosts: lab
  serial: 1
  handlers:
    - name: mark
      shell: date +%s%N > {{ node_root }}/handled
  tasks:
    - shell: "true"
      notify: mark
    - fail:
        msg: node3 fails after notifying
      when: inventory_hostname == 'node3'
"#,
    );
    let run = fleet.run(&playbook).expect_code(2);
    let out = run.stdout();
    assert_eq!(
        out.matches("RUNNING HANDLER [mark]").count(),
        2,
        "{}",
        run.dump()
    );
    // The first batch's handler ran before the second batch started.
    let handler = out.find("RUNNING HANDLER [mark]").unwrap_or(usize::MAX);
    let second = out.find("BATCH [2/3]").unwrap_or(0);
    assert!(handler < second, "{}", run.dump());
    assert!(fleet.node_root("node1").join("handled").exists());
    assert!(fleet.node_root("node2").join("handled").exists());
    assert!(!fleet.node_root("node3").join("handled").exists());
}

#[test]
fn tags_select_and_skip_tasks_with_always_and_never() {
    let fleet = Fleet::up(1);
    let playbook = fleet.write(
        "tags.yml",
        r#"- hosts: lab
  tags: play
  tasks:
    - shell: touch {{ node_root }}/web
      tags: web
    - shell: touch {{ node_root }}/db
      tags: [db]
    - shell: touch {{ node_root }}/untagged-in-play
    - shell: touch {{ node_root }}/always
      tags: always
    - shell: touch {{ node_root }}/never
      tags: [never, debug]
    - tags: web
      block:
        - shell: touch {{ node_root }}/block-web
"#,
    );
    let root = fleet.node_root("node1");
    let names = [
        "web",
        "db",
        "untagged-in-play",
        "always",
        "never",
        "block-web",
    ];
    let ran = |args: &[&str]| -> Vec<&str> {
        for name in names {
            let _ = std::fs::remove_file(root.join(name));
        }
        fleet.run(&playbook).args(args).expect_code(0);
        names
            .into_iter()
            .filter(|n| root.join(n).exists())
            .collect()
    };
    assert_eq!(
        ran(&[]),
        ["web", "db", "untagged-in-play", "always", "block-web"]
    );
    assert_eq!(ran(&["--tags", "web"]), ["web", "always", "block-web"]);
    assert_eq!(ran(&["--tags", "debug,db"]), ["db", "always", "never"]);
    assert_eq!(
        ran(&["--skip-tags", "web"]),
        ["db", "untagged-in-play", "always"]
    );
    assert_eq!(ran(&["--skip-tags", "always", "--tags", "db"]), ["db"]);
    // Every task inherits the play's tag; naming a tag a `never` task has (here inherited)
    // selects it, as in Ansible.
    assert_eq!(
        ran(&["--tags", "play"]),
        [
            "web",
            "db",
            "untagged-in-play",
            "always",
            "never",
            "block-web"
        ]
    );
}

#[test]
fn import_tasks_runs_the_file_and_its_errors_point_into_it() {
    let fleet = Fleet::up(1);
    fleet.write(
        "tasks/good.yml",
        "- name: imported\n  shell: touch {{ node_root }}/imported-{{ which }}\n",
    );
    let playbook = fleet.write(
        "import.yml",
        r#"- hosts: lab
  tasks:
    - import_tasks: tasks/good.yml
      vars_not_here: 1
"#,
    );
    let run = fleet.run(&playbook).expect_code(4);
    run.stderr_has("import.yml:4:7").stderr_has("vars_not_here");
    let playbook = fleet.write(
        "import.yml",
        r#"- hosts: lab
  vars:
    which: a
  tasks:
    - import_tasks: tasks/good.yml
      tags: imp
    - import_tasks: tasks/good.yml
      when: false
"#,
    );
    fleet.run(&playbook).arg("--tags=imp").expect_code(0);
    assert!(fleet.node_root("node1").join("imported-a").exists());
    fleet.write(
        "tasks/bad.yml",
        "- name: fine\n  debug: {msg: hi}\n- name: typo\n  shel: echo hi\n",
    );
    let playbook = fleet.write(
        "bad.yml",
        "- hosts: lab\n  tasks:\n    - import_tasks: tasks/bad.yml\n",
    );
    let run = fleet.run(&playbook).expect_code(4);
    run.stderr_has("tasks/bad.yml:4:3")
        .stderr_has("unknown module or task keyword `shel`");
}

#[test]
fn blocks_work_inside_rollout_phases() {
    let fleet = Fleet::up(2);
    let playbook = fleet.write(
        "phase-blocks.yml",
        r#"- hosts: lab
  rolling:
    batch: 1
  phases:
    upgrade:
      - block:
          - command: "false"
            when: inventory_hostname == 'node1'
          - shell: touch {{ node_root }}/upgraded
        rescue:
          - shell: touch {{ node_root }}/phase-rescued
        always:
          - shell: touch {{ node_root }}/phase-always
"#,
    );
    let run = fleet.run(&playbook).arg("--yes").expect_code(0);
    let (n1, n2) = (fleet.node_root("node1"), fleet.node_root("node2"));
    assert!(n1.join("phase-rescued").exists(), "{}", run.dump());
    assert!(!n1.join("upgraded").exists() && n2.join("upgraded").exists());
    assert!(n1.join("phase-always").exists() && n2.join("phase-always").exists());
    assert!(run.recap("node1").contains("rescued=1"));
}

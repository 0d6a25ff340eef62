//! `drover run` end to end: the real binary against real OpenSSH sshd nodes on loopback.

mod common;

use common::{Fleet, drover, sh};
use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn demo_upgrades_every_node_one_at_a_time_and_a_second_run_changes_nothing() {
    let fleet = Fleet::up(3);
    fleet.lab.seed_demo().expect("seed demo 1.0");
    let playbook = repo("playbooks/demo-rolling-upgrade.yml");

    let run = fleet
        .run(&playbook)
        .args(["--output", "json"])
        .expect_code(0);
    let events = run.events();

    // One batch per node, replicas first and the primary (node1) last, each node done
    // before the next one starts.
    let batches: Vec<Vec<String>> = events
        .iter()
        .filter(|e| e["event"] == "batch_start")
        .map(|e| serde_json::from_value(e["hosts"].clone()).expect("hosts"))
        .collect();
    assert_eq!(batches, vec![vec!["node2"], vec!["node3"], vec!["node1"]]);
    // After the precheck (which runs on every host first).
    let hosts_in_order: Vec<String> = events
        .iter()
        .skip_while(|e| e["event"] != "rollout_start")
        .filter_map(|e| e["host"].as_str().map(str::to_string))
        .collect();
    for (earlier, later) in [("node2", "node3"), ("node3", "node1")] {
        let last = hosts_in_order
            .iter()
            .rposition(|h| h == earlier)
            .expect("ran");
        let first = hosts_in_order.iter().position(|h| h == later).expect("ran");
        assert!(last < first, "{later} started before {earlier} finished");
    }
    // The cluster-wide migration ran once, on the first node of the rollout.
    let registry = fleet.lab.shared_dir().join("registry.db");
    assert_eq!(
        sh(&format!(
            "sqlite3 {} 'select version, host from migrations'",
            registry.display()
        )),
        "2.0|node2"
    );

    for node in ["node1", "node2", "node3"] {
        let root = fleet.node_root(node);
        let service = root.join("opt/demo/bin/demo-service");
        assert_eq!(sh(&format!("{} version", service.display())), "2.0");
        assert_eq!(
            sh(&format!("{} check", service.display())),
            "rows=5 schema=2"
        );
        assert!(sh(&format!("{} status", service.display())).contains("version 2.0"));
        // The timestamped backup is the 1.0 database with every row.
        let backups = sh(&format!("ls {}/backup", root.display()));
        let backup = backups.lines().next().expect("a backup");
        assert!(
            backup.starts_with("demo-1.0-") && backup.ends_with(".db"),
            "{backup}"
        );
        let rows = sh(&format!(
            "sqlite3 {}/backup/{backup} 'select count(*) from items; select value from meta'",
            root.display()
        ));
        assert_eq!(rows, "5\n1");
    }

    let again = fleet.run(&playbook).expect_code(0);
    for node in ["node1", "node2", "node3"] {
        assert!(
            again
                .recap(node)
                .contains("changed=0 unreachable=0 failed=0"),
            "{}",
            again.dump()
        );
    }
}

#[test]
fn failed_demo_rolls_back_one_node_and_protects_the_rest() {
    let fleet = Fleet::up(3);
    fleet.lab.seed_demo().expect("seed demo 1.0");
    let run = fleet
        .run(&repo("playbooks/demo-failed-upgrade.yml"))
        .expect_code(6);
    run.stdout_has("node2 ⇒ ROLLED_BACK")
        .stdout_has("ROLLOUT HALTED: failure budget spent")
        .stdout_has("untouched: node3, node1");
    let service = |node: &str| fleet.node_root(node).join("opt/demo/bin/demo-service");
    // node2: back on 1.0 with its original rows, running.
    assert_eq!(
        sh(&format!("{} check", service("node2").display())),
        "rows=5 schema=1"
    );
    assert!(sh(&format!("{} status", service("node2").display())).contains("version 1.0"));
    for node in ["node3", "node1"] {
        assert_eq!(sh(&format!("{} version", service(node).display())), "1.0");
        assert!(
            !fleet.node_root(node).join("backup").exists(),
            "{node} was touched"
        );
    }
}

#[test]
fn changed_host_key_is_refused_naming_the_known_hosts_line() {
    let fleet = Fleet::up(2);
    let node1 = &fleet.lab.nodes[0];
    // A different key for node1's name on line 3, as after a reinstall (or an attack).
    let other_key = fleet.path("other_key");
    sh(&format!(
        "ssh-keygen -q -t ed25519 -N '' -f {} -C impostor",
        other_key.display()
    ));
    let good = std::fs::read_to_string(&fleet.lab.known_hosts).expect("known_hosts");
    let node2_line = good
        .lines()
        .find(|l| l.starts_with(&format!("[{}]", fleet.lab.nodes[1].address)))
        .expect("node2 line");
    let impostor = sh(&format!("cut -d' ' -f1,2 {}.pub", other_key.display()));
    let known_hosts = fleet.write(
        "known_hosts",
        &format!(
            "# reinstalled hosts\n{node2_line}\n[{}]:{} {impostor}\n",
            node1.address, node1.port
        ),
    );
    let playbook = fleet.write(
        "ping.yml",
        "- hosts: all\n  tasks:\n    - command: echo hello\n",
    );
    // `-e` beats the lab inventory's `drover_known_hosts_file`, as extra vars beat everything.
    let run = fleet
        .run(&playbook)
        .arg("-e")
        .arg(format!("drover_known_hosts_file={}", known_hosts.display()))
        .expect_code(3);
    let expected = format!("{}:3", known_hosts.display());
    run.stdout_has("fatal: [node1]: UNREACHABLE!")
        .stdout_has(&expected)
        .stdout_has("changed");
    assert!(run.recap("node1").contains("unreachable=1"));
    assert!(
        run.recap("node2")
            .contains("changed=1 unreachable=0 failed=0")
    );
}

#[test]
fn unknown_host_is_refused_unless_accept_new_records_it() {
    let fleet = Fleet::up(1);
    let empty = fleet.write("empty_known_hosts", "");
    let playbook = fleet.write(
        "ping.yml",
        "- hosts: all\n  tasks:\n    - command: 'true'\n",
    );
    fleet
        .run(&playbook)
        .arg("-e")
        .arg(format!("drover_known_hosts_file={}", empty.display()))
        .expect_code(3)
        .stdout_has("UNREACHABLE!")
        .stdout_has("accept-new");
    fleet
        .run(&playbook)
        .arg("-e")
        .arg(format!("drover_known_hosts_file={}", empty.display()))
        .args(["--host-key-checking", "accept-new"])
        .expect_code(0);
    let recorded = std::fs::read_to_string(&empty).expect("known_hosts");
    assert_eq!(recorded.lines().count(), 1, "{recorded}");
    // Now known: strict checking passes.
    fleet
        .run(&playbook)
        .arg("-e")
        .arg(format!("drover_known_hosts_file={}", empty.display()))
        .expect_code(0);
}

#[test]
fn an_unreachable_host_is_reported_and_the_others_carry_on() {
    let fleet = Fleet::up(3);
    fleet.lab.stop_node("node2").expect("stop node2");
    let playbook = fleet.write(
        "touch.yml",
        "- hosts: all\n  tasks:\n    - name: first\n      shell: touch {{ node_root }}/first\n    - name: second\n      shell: touch {{ node_root }}/second\n",
    );
    let run = fleet.run(&playbook).expect_code(3);
    run.stdout_has("fatal: [node2]: UNREACHABLE! =>")
        .stdout_has("refused");
    assert!(
        run.recap("node2").contains("unreachable=1"),
        "{}",
        run.dump()
    );
    for node in ["node1", "node3"] {
        assert!(
            run.recap(node)
                .contains("ok=2 changed=2 unreachable=0 failed=0")
        );
        assert!(fleet.node_root(node).join("second").exists());
    }
    assert!(!fleet.node_root("node2").join("first").exists());
}

#[test]
fn a_failed_host_stops_taking_tasks_while_its_batch_goes_on() {
    let fleet = Fleet::up(4);
    let playbook = fleet.write(
        "serial.yml",
        r#"- hosts: all
  serial: 2
  tasks:
    - name: step one
      shell: touch {{ node_root }}/one
    - name: break node2
      command: "false"
      when: inventory_hostname == 'node2'
    - name: step two
      shell: touch {{ node_root }}/two
"#,
    );
    let run = fleet.run(&playbook).expect_code(2);
    run.stdout_has("fatal: [node2]: FAILED!");
    assert!(run.recap("node2").contains("failed=1"));
    assert!(!fleet.node_root("node2").join("two").exists());
    for node in ["node1", "node3", "node4"] {
        assert!(
            fleet.node_root(node).join("two").exists(),
            "{node}\n{}",
            run.dump()
        );
        assert!(run.recap(node).contains("failed=0"));
    }
}

#[test]
fn when_a_whole_batch_fails_the_play_stops_and_later_hosts_are_untouched() {
    let fleet = Fleet::up(3);
    let playbook = fleet.write(
        "serial.yml",
        r#"- hosts: all
  serial: 1
  tasks:
    - shell: touch {{ node_root }}/started
    - command: "false"
      when: inventory_hostname == 'node2'
"#,
    );
    let run = fleet.run(&playbook).expect_code(2);
    run.stdout_has("NO MORE HOSTS LEFT");
    assert!(fleet.node_root("node1").join("started").exists());
    assert!(fleet.node_root("node2").join("started").exists());
    assert!(!fleet.node_root("node3").join("started").exists());
    assert!(
        run.recap("node3").contains("ok=0 changed=0"),
        "{}",
        run.dump()
    );
}

#[test]
fn copy_round_trips_a_large_file_and_is_idempotent() {
    let fleet = Fleet::up(1);
    let local = fleet.path("payload.bin");
    sh(&format!(
        "head -c 3145728 /dev/urandom > {}",
        local.display()
    ));
    let expected = sh(&format!("sha256sum {} | cut -d' ' -f1", local.display()));
    let playbook = fleet.write(
        "copy.yml",
        &format!(
            r#"- hosts: all
  tasks:
    - copy:
        src: {}
        dest: "{{{{ node_root }}}}/payload.bin"
        mode: "0640"
      register: copied
    - command: sha256sum {{{{ node_root }}}}/payload.bin
      register: sum
      changed_when: false
    - assert:
        that: sum.stdout.split()[0] == '{expected}'
"#,
            local.display()
        ),
    );
    let first = fleet.run(&playbook).expect_code(0);
    assert!(
        first.recap("node1").contains("changed=1"),
        "{}",
        first.dump()
    );
    let remote = fleet.node_root("node1").join("payload.bin");
    assert_eq!(sh(&format!("stat -c %a {}", remote.display())), "640");
    let second = fleet.run(&playbook).expect_code(0);
    assert!(
        second.recap("node1").contains("changed=0"),
        "{}",
        second.dump()
    );
}

#[test]
fn check_mode_changes_nothing_and_diff_shows_what_would() {
    let fleet = Fleet::up(1);
    let target = fleet.node_root("node1").join("app.conf");
    let playbook = fleet.write(
        "conf.yml",
        "- hosts: all\n  tasks:\n    - copy:\n        content: \"port = 8080\\n\"\n        dest: \"{{ node_root }}/app.conf\"\n",
    );
    let run = fleet
        .run(&playbook)
        .args(["--check", "--diff"])
        .expect_code(0);
    run.stdout_has("+port = 8080")
        .stdout_has("changed: [node1]");
    assert!(!target.exists(), "check mode wrote the file");
    fleet.run(&playbook).expect_code(0);
    assert_eq!(
        std::fs::read_to_string(&target).expect("written"),
        "port = 8080\n"
    );
}

#[test]
fn loops_register_and_templates_render_per_host() {
    let fleet = Fleet::up(2);
    let tpl = fleet.write(
        "templates/motd.j2",
        "host {{ inventory_hostname }} of {{ groups['lab'] | length }}\n{% for i in items %}- {{ i }}\n{% endfor %}",
    );
    let _ = tpl;
    let playbook = fleet.write(
        "loop.yml",
        r#"- hosts: lab
  vars:
    items: [a, b]
  tasks:
    - shell: echo {{ item }}-{{ inventory_hostname }}
      loop: "{{ items }}"
      register: echoes
    - assert:
        that:
          - echoes.results | length == 2
          - echoes.results[1].stdout == 'b-' ~ inventory_hostname
    - template:
        src: motd.j2
        dest: "{{ node_root }}/motd"
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    run.stdout_has("changed: [node1] => (item=a)");
    let motd = std::fs::read_to_string(fleet.node_root("node2").join("motd")).expect("motd");
    assert_eq!(motd, "host node2 of 2\n- a\n- b\n");
}

#[test]
fn undefined_variable_fails_the_host_naming_variable_file_and_line() {
    let fleet = Fleet::up(1);
    let playbook = fleet.write(
        "undef.yml",
        // A set_fact that never runs defines `nope` statically (check lets it through);
        // at run time it is undefined.
        "- hosts: all\n  tasks:\n    - debug:\n        msg: \"{{ nope }}\"\n    - set_fact:\n        nope: 1\n      when: false\n",
    );
    let run = fleet.run(&playbook).expect_code(2);
    let location = format!("{}:4:14: undefined variable `nope`", playbook.display());
    run.stdout_has(&location);
}

#[test]
fn playbook_mistakes_are_shown_with_file_line_and_caret_before_connecting() {
    let dir = tempfile::tempdir().expect("tmp");
    let inventory = dir.path().join("hosts.ini");
    std::fs::write(&inventory, "[web]\nnowhere ansible_host=192.0.2.1\n").expect("write");
    let playbook = dir.path().join("bad.yml");
    std::fs::write(
        &playbook,
        "- hosts: web\n  tasks:\n    - name: typo\n      shel: echo hi\n",
    )
    .expect("write");
    let run = drover()
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&inventory)
        .expect_code(4);
    run.stderr_has("unknown module or task keyword `shel`")
        .stderr_has("did you mean `shell`?")
        .stderr_has("bad.yml:4:7");
    // The caret line under the key.
    assert!(
        run.stderr()
            .contains(" 4 |       shel: echo hi\n   :       ^^|^"),
        "{}",
        run.dump()
    );
}

#[test]
fn bad_options_exit_5() {
    drover().args(["run"]).expect_code(5);
    drover()
        .args(["run", "x.yml", "-i", "y", "-e", "novalue"])
        .expect_code(5);
    drover()
        .args(["run", "/nonexistent.yml", "-i", "/nonexistent"])
        .expect_code(4);
}

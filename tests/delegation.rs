//! `delegate_to` on real nodes: a task's module runs on another host's connection (or on the
//! control machine for `localhost`) while its variables and results stay the original host's.
//!
//! Lab nodes share this machine's filesystem, so where a command ran is told by the SSH
//! connection it ran over (`$SSH_CONNECTION` names the sshd's address), or, for the control
//! machine, by a variable only drover's own environment has.

mod common;

use common::{Fleet, drover};
use std::path::Path;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The sshd address a command ran through, from what it wrote of `$SSH_CONNECTION`
/// (`client_ip client_port server_ip server_port`).
fn server_address(line: &str) -> String {
    line.split_whitespace().nth(2).unwrap_or("").to_string()
}

#[test]
fn tasks_delegated_to_an_inventory_host_run_over_its_connection_and_register_on_their_own() {
    let fleet = Fleet::up(3);
    let address = |name: &str| {
        fleet
            .lab
            .nodes
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.address.to_string())
            .expect("node")
    };
    let playbook = fleet.write(
        "delegate.yml",
        r#"- hosts: node2:node3
  gather_facts: false
  tasks:
    - name: written on node1, named after the host the task is for
      shell: echo "$SSH_CONNECTION" > {{ hostvars['node1'].node_root }}/from-{{ inventory_hostname }}; echo "$SSH_CONNECTION"
      delegate_to: "{{ groups['lab'][0] }}"
      register: where
    - name: the registered result is the original host's
      copy:
        content: "{{ inventory_hostname }} {{ where.stdout }}\n"
        dest: "{{ node_root }}/registered"
    - name: a loop delegates each item where it says
      shell: echo "$SSH_CONNECTION" > {{ hostvars[item].node_root }}/loop-{{ inventory_hostname }}
      loop: [node1, node2]
      delegate_to: "{{ item }}"
      when: inventory_hostname == 'node3'
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    run.stdout_has(&format!("changed: [node2 -> node1({})]", address("node1")))
        .stdout_has(&format!("changed: [node3 -> node1({})]", address("node1")))
        .stdout_has(&format!(
            "changed: [node3 -> node2({})] => (item=node2)",
            address("node2")
        ));
    let node1 = fleet.node_root("node1");
    for host in ["node2", "node3"] {
        let written = read(&node1.join(format!("from-{host}")));
        assert_eq!(
            server_address(&written),
            address("node1"),
            "{host}'s task did not run over node1's connection\n{}",
            run.dump()
        );
        for node in ["node2", "node3"] {
            assert!(
                !fleet.node_root(node).join(format!("from-{host}")).exists(),
                "{host}'s delegated file landed on {node}"
            );
        }
        let registered = read(&fleet.node_root(host).join("registered"));
        assert!(registered.starts_with(&format!("{host} ")), "{registered}");
        assert_eq!(
            server_address(registered.split_once(' ').map_or("", |(_, r)| r)),
            address("node1"),
            "{host} did not register the delegated result: {registered}"
        );
    }
    assert!(
        !node1.join("registered").exists(),
        "node1 is not in the play"
    );
    for (delegate, root) in [
        ("node1", node1.clone()),
        ("node2", fleet.node_root("node2")),
    ] {
        let written = read(&root.join("loop-node3"));
        assert_eq!(
            server_address(&written),
            address(delegate),
            "{}",
            run.dump()
        );
    }
    assert!(!fleet.node_root("node3").join("loop-node3").exists());
    assert_eq!(
        run.recap("node2"),
        "ok=2 changed=2 unreachable=0 failed=0 skipped=1 rescued=0 ignored=0"
    );
}

#[test]
fn delegating_to_localhost_runs_on_the_control_machine_without_ssh() {
    let fleet = Fleet::up(2);
    let out = fleet.path("controller");
    std::fs::create_dir_all(&out).expect("mkdir");
    let playbook = fleet.write(
        "local.yml",
        r#"- hosts: lab
  gather_facts: false
  tasks:
    - command: touch {{ out }}/command-{{ inventory_hostname }}
      delegate_to: localhost
    - shell: echo "${DROVER_TEST_WHERE:-remote}" > {{ out }}/shell-{{ inventory_hostname }}
      delegate_to: localhost
    - copy:
        content: "copied for {{ inventory_hostname }}\n"
        dest: "{{ out }}/copy-{{ inventory_hostname }}"
        mode: "0640"
      delegate_to: 127.0.0.1
    - shell: cat
      args:
        stdin: "fed to {{ inventory_hostname }}"
      delegate_to: localhost
      register: fed
    - copy:
        content: "{{ fed.stdout | default('') }}"
        dest: "{{ node_root }}/fed"
    - shell: echo {{ inventory_hostname }} >> {{ out }}/once
      run_once: true
      delegate_to: localhost
      register: once
    - copy:
        content: "{{ 'yes' if once.stdout is defined else 'no' }}"
        dest: "{{ node_root }}/once-registered"
"#,
    );
    // Check mode first: nothing is written, and the delegated copy says what it would do.
    let check = fleet
        .run(&playbook)
        .arg("-e")
        .arg(format!("out={}", out.display()))
        .arg("--check")
        .env("DROVER_TEST_WHERE", "control")
        .expect_code(0);
    check.stdout_has("changed: [node1 -> 127.0.0.1]");
    assert_eq!(
        std::fs::read_dir(&out).expect("ls").count(),
        0,
        "--check wrote files\n{}",
        check.dump()
    );

    let run = fleet
        .run(&playbook)
        .arg("-e")
        .arg(format!("out={}", out.display()))
        .env("DROVER_TEST_WHERE", "control")
        .expect_code(0);
    run.stdout_has("changed: [node1 -> localhost]")
        .stdout_has("changed: [node2 -> 127.0.0.1]");
    for host in ["node1", "node2"] {
        assert!(
            out.join(format!("command-{host}")).exists(),
            "{}",
            run.dump()
        );
        assert_eq!(read(&out.join(format!("shell-{host}"))), "control");
        let copy = out.join(format!("copy-{host}"));
        assert_eq!(read(&copy), format!("copied for {host}"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).expect("stat").permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        assert_eq!(
            read(&fleet.node_root(host).join("fed")),
            format!("fed to {host}")
        );
        assert_eq!(read(&fleet.node_root(host).join("once-registered")), "yes");
    }
    assert_eq!(
        read(&out.join("once")),
        "node1",
        "run_once ran more than once"
    );
    // The temp files of the atomic writes are gone.
    let left: Vec<_> = std::fs::read_dir(&out)
        .expect("ls")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_unreachable_delegate_makes_the_task_unreachable_for_its_host_and_the_others_go_on() {
    let fleet = Fleet::up(2);
    // The lab's inventory plus a host nothing answers for, read as one directory inventory.
    let inventory = fleet.path("inventory");
    std::fs::create_dir_all(&inventory).expect("mkdir");
    std::fs::copy(&fleet.lab.inventory, inventory.join("lab.yml")).expect("copy inventory");
    std::fs::write(
        inventory.join("ghost.yml"),
        "all:\n  hosts:\n    ghost:\n      ansible_host: 127.0.0.250\n      ansible_port: 1\n",
    )
    .expect("write");
    let playbook = fleet.write(
        "ghost.yml",
        r#"- hosts: lab
  gather_facts: false
  tasks:
    - command: "true"
      delegate_to: "{{ 'ghost' if inventory_hostname == 'node1' else inventory_hostname }}"
    - copy:
        content: "after\n"
        dest: "{{ node_root }}/after"
"#,
    );
    let run = drover()
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&inventory)
        .expect_code(3);
    run.stdout_has("fatal: [node1 -> ghost]: UNREACHABLE!")
        .stdout_has("delegated to ghost: cannot connect to 127.0.0.250:1");
    assert!(!fleet.node_root("node1").join("after").exists());
    assert!(
        fleet.node_root("node2").join("after").exists(),
        "{}",
        run.dump()
    );
    assert!(
        run.recap("node1").contains("unreachable=1"),
        "{}",
        run.dump()
    );
    assert!(
        run.recap("node2")
            .starts_with("ok=2 changed=2 unreachable=0 failed=0"),
        "{}",
        run.dump()
    );
}

#[test]
fn an_undefined_variable_in_delegate_to_fails_the_task_naming_it() {
    let fleet = Fleet::up(1);
    let playbook = fleet.write(
        "undefined.yml",
        r#"- hosts: lab
  gather_facts: false
  tasks:
    - command: "true"
      delegate_to: "{{ undefined_var }}"
"#,
    );
    let run = fleet.run(&playbook).expect_code(2);
    run.stdout_has("fatal: [node1]: FAILED!")
        .stdout_has("undefined_var");
}

/// `drover COMMAND NAME -i hosts.ini` in a temp dir holding the playbook NAME and the INI
/// inventory, for cases that need no lab; the dir lives as long as the returned guard.
fn without_lab(
    command: &str,
    name: &str,
    playbook: &str,
    inventory: &str,
) -> (tempfile::TempDir, common::Drover) {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join(name), playbook).expect("write playbook");
    std::fs::write(dir.path().join("hosts.ini"), inventory).expect("write inventory");
    let run = drover()
        .current_dir(dir.path())
        .args([command, name, "-i", "hosts.ini"]);
    (dir, run)
}

#[test]
fn delegate_facts_and_bad_delegation_are_refused_at_their_line() {
    let (_dir, check) = without_lab(
        "check",
        "bad.yml",
        "- hosts: all\n  tasks:\n    - command: id\n      delegate_to: db1\n      delegate_facts: true\n    - block:\n        - command: id\n      delegate_to: db1\n    - command: id\n      delegate_to: [a, b]\n",
        "h1\n",
    );
    check
        .expect_code(4)
        .stderr_has("`delegate_facts: true` is not supported by drover yet")
        .stderr_has("bad.yml:5")
        .stderr_has("`delegate_to` must be a host name, not a list");
}

#[test]
fn become_on_a_task_delegated_to_localhost_is_refused_at_the_task() {
    // The play's host is never contacted: both tasks run on the control machine.
    let (_dir, run) = without_lab(
        "run",
        "become.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: echo hi\n      delegate_to: localhost\n    - command: id\n      delegate_to: localhost\n      become: true\n",
        "h1 ansible_host=127.0.0.250 ansible_port=1\n",
    );
    run.expect_code(2)
        .stdout_has("changed: [h1 -> localhost]")
        .stdout_has("become.yml:7:20: `become` on a task delegated to the control machine (localhost) is not supported by drover yet");
}

#[test]
fn play_hosts_with_a_local_connection_run_on_the_control_machine() {
    let fleet = Fleet::up(1);
    let out = fleet.path("local-out");
    std::fs::create_dir_all(&out).expect("mkdir");
    let inventory = fleet.write(
        "local-hosts.yml",
        &format!(
            "all:\n  hosts:\n    ctl:\n      ansible_connection: local\n    box:\n      ansible_connection: docker\n  vars:\n    out: {}\n",
            out.display()
        ),
    );
    let playbook = fleet.write(
        "local-play.yml",
        r#"- hosts: localhost:ctl
  tasks:
    - shell: echo "$DROVER_LOCAL_MARK" > {{ out }}/{{ inventory_hostname }}.txt
- hosts: box
  tasks:
    - command: "true"
"#,
    );
    let run = drover()
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&inventory)
        .env("DROVER_LOCAL_MARK", "from-drover")
        .expect_code(3);
    // Only drover's own process has the variable: these ran as its children, not over SSH.
    for host in ["localhost", "ctl"] {
        let text = std::fs::read_to_string(out.join(format!("{host}.txt")))
            .unwrap_or_else(|e| panic!("{host}: {e}\n{}", run.dump()));
        assert_eq!(text.trim(), "from-drover");
    }
    run.stdout_has("ansible_connection `docker` is not supported by drover");
}

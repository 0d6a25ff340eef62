//! Execution keywords on real nodes: `become` through real sudo and su, `environment`,
//! `no_log` and `check_mode`.

mod common;

use common::{Fleet, drover, sh};
use drover::lab::escalation::{BECOME_PASSWORD, BECOME_USER, enable_become};

/// A one-node lab whose login user may sudo (see `drover::lab::escalation`); needs root.
fn fleet_with_become() -> Fleet {
    assert!(
        sh("id -u") == "0",
        "become tests set up sudoers rules and need root"
    );
    enable_become().expect("lab become rules (is sudo installed?)");
    Fleet::up(1)
}

fn read(fleet: &Fleet, name: &str) -> String {
    std::fs::read_to_string(fleet.node_root("node1").join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .trim()
        .to_string()
}

#[test]
fn become_runs_commands_and_writes_files_as_root_and_task_level_overrides() {
    let fleet = fleet_with_become();
    let playbook = fleet.write(
        "become.yml",
        r#"- hosts: lab
  become: true
  tasks:
    - shell: id -un > {{ node_root }}/as-root
    - shell: id -un > {{ node_root }}/as-login
      become: false
    - copy:
        content: "only root reads this\n"
        dest: "{{ node_root }}/root-file"
        mode: "0600"
    - name: reading it back needs become too
      slurp:
        src: "{{ node_root }}/root-file"
      register: back
    - copy:
        content: "{{ back.content | b64decode }}"
        dest: "{{ node_root }}/read-back"
      become: false
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    assert_eq!(read(&fleet, "as-root"), "root", "{}", run.dump());
    assert_eq!(read(&fleet, "as-login"), "drover-lab");
    let file = fleet.node_root("node1").join("root-file");
    let owner = sh(&format!("stat -c '%U %a' {}", file.display()));
    assert_eq!(owner, "root 600");
    assert_eq!(read(&fleet, "read-back"), "only root reads this");
}

#[test]
fn become_user_with_a_password_through_sudo_and_su() {
    let fleet = fleet_with_become();
    let playbook = fleet.write(
        "become-user.yml",
        &format!(
            r#"- hosts: lab
  tasks:
    - block:
        - command: id -un
          register: by_sudo
        - command: id -un
          register: by_su
          become_method: su
        - shell: cat
          args:
            stdin: the command's own stdin
          register: piped
      become: true
      become_user: {BECOME_USER}
    - copy:
        content: "{{{{ by_sudo.stdout }}}} {{{{ by_su.stdout }}}} {{{{ piped.stdout }}}}"
        dest: "{{{{ node_root }}}}/who"
"#
        ),
    );
    let run = fleet
        .run(&playbook)
        .env("DROVER_BECOME_PASS", BECOME_PASSWORD)
        .expect_code(0);
    assert_eq!(
        read(&fleet, "who"),
        format!("{BECOME_USER} {BECOME_USER} the command's own stdin"),
        "{}",
        run.dump()
    );
    assert!(!run.stdout().contains(BECOME_PASSWORD));
}

#[test]
fn a_wrong_or_missing_become_password_is_a_clear_host_failure() {
    let fleet = fleet_with_become();
    let playbook = fleet.write(
        "wrong.yml",
        &format!(
            r#"- hosts: lab
  become: true
  become_user: {BECOME_USER}
  tasks:
    - command: id -un
"#
        ),
    );
    let wrong = fleet
        .run(&playbook)
        .env("DROVER_BECOME_PASS", "not-the-password")
        .expect_code(2);
    wrong
        .stdout_has("become (sudo to drover-lab-become) failed: incorrect become password")
        .stdout_has("fatal: [node1]");
    assert!(!wrong.stdout().contains("not-the-password"));

    let missing = fleet
        .run(&playbook)
        .env("DROVER_BECOME_PASS", "")
        .expect_code(2);
    missing.stdout_has("a password is required");
}

#[test]
fn environment_merges_play_block_and_task_and_survives_become() {
    let fleet = fleet_with_become();
    let playbook = fleet.write(
        "env.yml",
        r#"- hosts: lab
  vars:
    greeting: hello
  environment:
    A: from-play
    B: from-play
  tasks:
    - block:
        - shell: echo "$A $B $C" > {{ node_root }}/env
          environment:
            B: "{{ greeting }} task"
        - shell: echo "$A $C" > {{ node_root }}/env-root; id -un >> {{ node_root }}/env-root
          become: true
      environment:
        C: from-block
    - command: printenv A
      register: plain
    - copy:
        content: "{{ plain.stdout }}"
        dest: "{{ node_root }}/env-command"
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    assert_eq!(
        read(&fleet, "env"),
        "from-play hello task from-block",
        "{}",
        run.dump()
    );
    assert_eq!(read(&fleet, "env-root"), "from-play from-block\nroot");
    assert_eq!(read(&fleet, "env-command"), "from-play");
}

#[test]
fn no_log_hides_results_items_and_arguments_from_output_and_journal() {
    let fleet = Fleet::up(1);
    let playbook = fleet.write(
        "secret.yml",
        r#"- hosts: lab
  tasks:
    - shell: echo s3cr3t-{{ item }}
      loop: [one, two]
      register: hidden
      no_log: true
    - command: echo s3cr3t-plain
      no_log: true
    - name: a failing secret
      command: sh -c 'echo s3cr3t-fail >&2; exit 1'
      no_log: true
      ignore_errors: true
    - name: the registered value is still usable
      copy:
        content: "{{ hidden.results[0].stdout }}"
        dest: "{{ node_root }}/kept"
"#,
    );
    for output in ["human", "json"] {
        let run = fleet
            .run(&playbook)
            .args(["--output", output])
            .current_dir(fleet.dir.path())
            .expect_code(0);
        assert!(
            !run.stdout().contains("s3cr3t") && !run.stderr().contains("s3cr3t"),
            "{}",
            run.dump()
        );
        run.stdout_has("the output has been hidden due to the fact that 'no_log: true'");
        if output == "human" {
            run.stdout_has("(item=None)");
        }
    }
    assert_eq!(read(&fleet, "kept"), "s3cr3t-one");
    let journal = fleet.dir.path().join(".drover");
    assert!(journal.is_dir(), "no journal at {}", journal.display());
    let found = sh(&format!("grep -rl s3cr3t {} || true", journal.display()));
    assert!(found.is_empty(), "secret in the journal: {found}");
}

#[test]
fn check_mode_per_task_overrides_the_run() {
    let fleet = Fleet::up(1);
    let playbook = fleet.write(
        "check.yml",
        r#"- hosts: lab
  tasks:
    - copy:
        content: "x\n"
        dest: "{{ node_root }}/always-written"
      check_mode: false
    - copy:
        content: "x\n"
        dest: "{{ node_root }}/never-written"
      check_mode: true
"#,
    );
    fleet.run(&playbook).expect_code(0);
    assert!(fleet.node_root("node1").join("always-written").exists());
    assert!(!fleet.node_root("node1").join("never-written").exists());
    std::fs::remove_file(fleet.node_root("node1").join("always-written")).expect("rm");
    fleet.run(&playbook).arg("--check").expect_code(0);
    assert!(fleet.node_root("node1").join("always-written").exists());
    assert!(!fleet.node_root("node1").join("never-written").exists());
}

#[test]
fn unsupported_become_method_and_delegated_facts_are_refused_at_their_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let playbook = dir.path().join("bad.yml");
    std::fs::write(
        &playbook,
        "- hosts: all\n  become: true\n  become_method: runas\n  tasks:\n    - command: id\n      delegate_to: db1\n      delegate_facts: true\n",
    )
    .expect("write");
    let inventory = dir.path().join("hosts.ini");
    std::fs::write(&inventory, "h1\n").expect("write");
    let run = drover()
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&inventory)
        .expect_code(4);
    run.stderr_has("become_method `runas` is not supported by drover")
        .stderr_has("bad.yml:3")
        .stderr_has("`delegate_facts: true` is not supported by drover yet");
}

#[test]
fn ansible_become_host_variables_beat_keywords_and_carry_the_password() {
    let fleet = fleet_with_become();
    std::fs::create_dir_all(fleet.inventory_dir().join("host_vars")).expect("mkdir");
    fleet.write(
        &format!(
            "{}/host_vars/node1.yml",
            fleet
                .inventory_dir()
                .strip_prefix(fleet.dir.path())
                .expect("inventory under the test dir")
                .display()
        ),
        &format!(
            "ansible_become: true\nansible_become_user: {BECOME_USER}\nansible_become_method: su\nansible_become_password: {BECOME_PASSWORD}\n"
        ),
    );
    // The play says root by sudo; the host's variables say BECOME_USER by su, and win (even
    // over a task's `become: false`, as in Ansible).
    let playbook = fleet.write(
        "become-vars.yml",
        &format!("- hosts: lab\n  become_user: root\n  tasks:\n    - command: id -un\n      register: who\n      become: false\n    - assert:\n        that: who.stdout == '{BECOME_USER}'\n"),
    );
    let run = fleet.run(&playbook).expect_code(0);
    run.stdout_has("All assertions passed");
    assert!(!run.stdout().contains(BECOME_PASSWORD));
}

//! Modules end to end against real sshd nodes: each one reports `changed` the first time and
//! `ok` the second with nothing touched on the node, changes nothing in check mode, shows the
//! right diff, and explains bad arguments.

mod common;

use common::{Fleet, Run, sh};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The recap counters of node1 as `(ok, changed, failed)`.
fn counts(run: &Run) -> (u32, u32, u32) {
    let recap = run.recap("node1");
    let get = |key: &str| -> u32 {
        recap
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {recap}\n{}", run.dump()))
    };
    (get("ok"), get("changed"), get("failed"))
}

fn assert_changed(run: &Run, changed: u32) {
    let (_, c, failed) = counts(run);
    assert_eq!((c, failed), (changed, 0), "{}", run.dump());
}

/// mtime (ns), ctime (ns) and mode of a path, not following symlinks: a second run must
/// leave all three alone.
fn stamp(path: &Path) -> (i64, i64, u32) {
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (
        m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        m.ctime() * 1_000_000_000 + m.ctime_nsec(),
        m.permissions().mode() & 0o7777,
    )
}

/// Gives files the test made on a node to the lab's login user (tests may run as root).
fn give_to_lab_user(fleet: &Fleet, path: &Path) {
    sh(&format!("chown -R {} '{}'", fleet.lab.user, path.display()));
}

fn mode(path: &Path) -> u32 {
    stamp(path).2
}

/// Writes `tasks` (YAML, indented for a task list) into a one-play playbook for node1.
fn playbook(fleet: &Fleet, name: &str, tasks: &str) -> PathBuf {
    fleet.write(
        name,
        &format!("- hosts: node1\n  vars:\n    root: \"{{{{ node_root }}}}\"\n  tasks:\n{tasks}"),
    )
}

#[test]
fn file_creates_directories_files_and_links_then_changes_nothing() {
    let fleet = Fleet::up(1);
    let root = fleet.node_root("node1");
    std::fs::write(root.join("plain"), "x").expect("write");
    std::fs::set_permissions(root.join("plain"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod");
    std::fs::write(root.join("script"), "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(root.join("script"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let book = playbook(
        &fleet,
        "file.yml",
        r#"    - file: {path: "{{ root }}/etc/app/conf.d", state: directory, mode: "0750"}
    - file: {path: "{{ root }}/plain", mode: "u=rw,g=r,o=r"}
    - file: {path: "{{ root }}/script", mode: "u+x"}
    - file: {path: "{{ root }}/marker", state: touch, mode: "0640", modification_time: preserve, access_time: preserve}
    - file: {path: "{{ root }}/current", state: link, src: plain}
    - file: {path: "{{ root }}/hard", state: hard, src: "{{ root }}/plain"}
    - file: {path: "{{ root }}/tree", state: directory}
    - file: {path: "{{ root }}/tree/a/b", state: directory}
    - file: {path: "{{ root }}/tree", state: directory, recurse: yes, mode: "u=rwX,g=rX,o="}
    - file: {path: "{{ root }}/gone", state: absent}
"#,
    );
    std::fs::create_dir_all(root.join("gone/sub")).expect("mkdir");
    give_to_lab_user(&fleet, &root);

    // Check mode first: it reports the changes and makes none.
    let check = fleet.run(&book).arg("--check").expect_code(0);
    assert!(counts(&check).1 >= 8, "{}", check.dump());
    assert!(!root.join("etc").exists());
    assert!(root.join("gone").exists());
    assert_eq!(mode(&root.join("plain")), 0o600);

    let first = fleet.run(&book).expect_code(0);
    assert_changed(&first, 10);
    assert_eq!(mode(&root.join("etc/app/conf.d")), 0o750);
    assert_eq!(mode(&root.join("plain")), 0o644);
    assert_eq!(mode(&root.join("script")), 0o744);
    assert_eq!(mode(&root.join("marker")), 0o640);
    assert_eq!(
        std::fs::read_link(root.join("current")).expect("link"),
        PathBuf::from("plain")
    );
    assert_eq!(
        std::fs::metadata(root.join("hard")).expect("hard").ino(),
        std::fs::metadata(root.join("plain")).expect("plain").ino()
    );
    assert_eq!(mode(&root.join("tree/a/b")), 0o750);
    assert!(!root.join("gone").exists());

    let paths = [
        "etc/app/conf.d",
        "plain",
        "script",
        "marker",
        "current",
        "tree/a/b",
    ];
    let before: Vec<_> = paths.iter().map(|p| stamp(&root.join(p))).collect();
    let second = fleet.run(&book).expect_code(0);
    assert_changed(&second, 0);
    let after: Vec<_> = paths.iter().map(|p| stamp(&root.join(p))).collect();
    assert_eq!(before, after, "the second run touched the node");
}

#[test]
fn file_diff_shows_the_state_change_and_bad_modes_point_at_the_task() {
    let fleet = Fleet::up(1);
    let book = playbook(
        &fleet,
        "file.yml",
        "    - file: {path: \"{{ root }}/d\", state: directory, mode: \"0700\"}\n",
    );
    let run = fleet.run(&book).args(["--check", "--diff"]).expect_code(0);
    run.stdout_has("-  \"state\": \"absent\"")
        .stdout_has("+  \"state\": \"directory\"")
        .stdout_has("+  \"mode\": \"0700\"");

    let bad = playbook(
        &fleet,
        "bad.yml",
        "    - name: make the dir\n      file: {path: \"{{ root }}/d\", state: directory, mode: \"u=zz\"}\n",
    );
    fleet
        .run(&bad)
        .expect_code(2)
        .stdout_has("TASK [make the dir]")
        .stdout_has("bad symbolic mode `u=zz`");
    assert!(!fleet.node_root("node1").join("d").exists());

    let typo = playbook(
        &fleet,
        "typo.yml",
        "    - file: {path: /tmp/x, stat: directory}\n",
    );
    let run = fleet.run(&typo).expect_code(4);
    let text = run.stdout() + &run.stderr();
    assert!(text.contains("typo.yml:5"), "{}", run.dump());
    assert!(text.contains("did you mean `state`?"), "{}", run.dump());
}

#[test]
fn set_fact_sets_variables_for_later_tasks_and_changes_nothing() {
    let fleet = Fleet::up(1);
    let book = playbook(
        &fleet,
        "facts.yml",
        r#"    - set_fact:
        release: "2.{{ 1 + 1 }}"
        ports: [80, 443]
        cacheable: yes
    - copy: {dest: "{{ root }}/release", content: "{{ release }} {{ ports | join(',') }}"}
"#,
    );
    let run = fleet.run(&book).expect_code(0);
    assert_changed(&run, 1);
    assert_eq!(
        sh(&format!(
            "cat {}",
            fleet.node_root("node1").join("release").display()
        )),
        "2.2 80,443"
    );
    // In check mode too: later tasks depend on the facts.
    let check = fleet.run(&book).arg("--check").expect_code(0);
    assert_changed(&check, 0);
}

#[test]
fn examples_modules_playbook_is_idempotent_on_the_lab() {
    let fleet = Fleet::up(2);
    let book = repo("playbooks/examples/modules.yml");
    let first = fleet.run(&book).expect_code(0);
    for node in ["node1", "node2"] {
        assert!(first.recap(node).contains("failed=0"), "{}", first.dump());
    }
    let second = fleet.run(&book).expect_code(0);
    for node in ["node1", "node2"] {
        assert!(
            second
                .recap(node)
                .contains("changed=0 unreachable=0 failed=0"),
            "{}",
            second.dump()
        );
    }
}

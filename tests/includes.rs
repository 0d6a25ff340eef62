//! `include_tasks` on real nodes: a file chosen per host by a template, a file per loop item,
//! the include's own `when` and `tags` (not passed to its tasks; `apply:` passes them),
//! nested and recursive includes inside a block, run-time failures that name the file and
//! the include, and `drover check` reading a statically named file.

mod common;

use common::Fleet;

/// Lines a node's `log` file holds, in order (none when it does not exist).
fn log(fleet: &Fleet, host: &str) -> Vec<String> {
    std::fs::read_to_string(fleet.node_root(host).join("log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_templated_file_name_gives_each_host_its_own_file() {
    let fleet = Fleet::up(2);
    fleet.write(
        "play/tasks/setup-primary.yml",
        "- shell: echo primary {{ greeting }} >> {{ node_root }}/log\n",
    );
    fleet.write(
        "play/tasks/setup-replica.yml",
        "- shell: echo replica {{ greeting }} >> {{ node_root }}/log\n- shell: echo replica again >> {{ node_root }}/log\n",
    );
    let playbook = fleet.write(
        "play/site.yml",
        r#"- hosts: lab
  tasks:
    - name: per role
      include_tasks: "tasks/setup-{{ role }}.yml"
      vars:
        greeting: "hi {{ inventory_hostname }}"
    - shell: echo after >> {{ node_root }}/log
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    assert_eq!(
        log(&fleet, "node1"),
        ["primary hi node1", "after"],
        "{}",
        run.dump()
    );
    assert_eq!(
        log(&fleet, "node2"),
        ["replica hi node2", "replica again", "after"],
        "{}",
        run.dump()
    );
    run.stdout_has("TASK [per role]")
        .stdout_has("setup-primary.yml for node1\n")
        .stdout_has("setup-replica.yml for node2\n");
    // The include counts as `ok` once per file a host took, as Ansible's linear strategy
    // counts it; its tasks count as usual.
    assert!(
        run.recap("node1").starts_with("ok=3 changed=2 "),
        "{}",
        run.dump()
    );
    assert!(
        run.recap("node2").starts_with("ok=4 changed=3 "),
        "{}",
        run.dump()
    );
}

#[test]
fn a_looped_include_runs_the_file_once_per_item_with_its_loop_var() {
    let fleet = Fleet::up(1);
    fleet.write(
        "item.yml",
        "- shell: echo {{ pkg }}-{{ idx }}-{{ extra }} >> {{ node_root }}/log\n- file: {path: \"{{ node_root }}/{{ pkg }}.done\", state: touch}\n",
    );
    let playbook = fleet.write(
        "site.yml",
        r#"- hosts: lab
  tasks:
    - set_fact:
        extra: from set_fact
    - include_tasks: item.yml
      loop: [a, b, c]
      loop_control:
        loop_var: pkg
        index_var: idx
      vars:
        extra: "x{{ pkg }}"
    - shell: echo "{{ extra }} {{ pkg | default('gone') }}" >> {{ node_root }}/log
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    // Include params beat set_fact inside the include, and are gone after it.
    assert_eq!(
        log(&fleet, "node1"),
        ["a-0-xa", "b-1-xb", "c-2-xc", "from set_fact gone"],
        "{}",
        run.dump()
    );
    for item in ["a", "b", "c"] {
        let done = fleet.node_root("node1").join(format!("{item}.done"));
        assert!(done.is_file(), "{} missing\n{}", done.display(), run.dump());
    }
    run.stdout_has("item.yml for node1 => (item=a)")
        .stdout_has("item.yml for node1 => (item=c)");
    // set_fact, 3 includes, 6 included tasks, the last task.
    assert!(
        run.recap("node1").starts_with("ok=11 changed=7 "),
        "{}",
        run.dump()
    );
}

#[test]
fn a_false_when_skips_the_include_and_is_not_asked_again_inside_it() {
    let fleet = Fleet::up(2);
    fleet.write(
        "primary.yml",
        "- shell: echo first >> {{ node_root }}/log\n- set_fact: {role: demoted}\n- shell: echo second >> {{ node_root }}/log\n",
    );
    let playbook = fleet.write(
        "site.yml",
        r#"- hosts: lab
  tasks:
    - include_tasks: primary.yml
      when: role == 'primary'
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    // The include's `when` held when it was reached; changing `role` inside does not stop
    // the rest of the file.
    assert_eq!(log(&fleet, "node1"), ["first", "second"], "{}", run.dump());
    assert!(log(&fleet, "node2").is_empty(), "{}", run.dump());
    run.stdout_has("skipping: [node2]");
    assert_eq!(
        run.recap("node2"),
        "ok=0 changed=0 unreachable=0 failed=0 skipped=1 rescued=0 ignored=0",
        "{}",
        run.dump()
    );
}

#[test]
fn tags_on_an_include_select_it_but_only_apply_passes_them_to_its_tasks() {
    let fleet = Fleet::up(1);
    fleet.write(
        "tagged.yml",
        "- shell: echo inner >> {{ node_root }}/log\n  tags: inner\n- shell: echo untagged >> {{ node_root }}/log\n",
    );
    fleet.write(
        "applied.yml",
        "- shell: echo applied >> {{ node_root }}/log\n",
    );
    let playbook = fleet.write(
        "site.yml",
        r#"- hosts: lab
  tasks:
    - include_tasks: tagged.yml
      tags: outer
    - include_tasks:
        file: applied.yml
        apply:
          tags: outer
      tags: outer
    - include_tasks: tagged.yml
      tags: elsewhere
"#,
    );
    let run = fleet
        .run(&playbook)
        .args(["--tags", "outer,inner"])
        .expect_code(0);
    // `untagged` would run if the include's tag reached it; the third include is not
    // selected at all.
    assert_eq!(log(&fleet, "node1"), ["inner", "applied"], "{}", run.dump());
}

#[test]
fn nested_and_recursive_includes_run_inside_a_block_and_its_rescue() {
    let fleet = Fleet::up(1);
    fleet.write(
        "tasks/outer.yml",
        "- shell: echo outer >> {{ node_root }}/log\n- include_tasks: inner.yml\n",
    );
    fleet.write(
        "tasks/inner.yml",
        "- shell: echo inner >> {{ node_root }}/log\n- command: 'false'\n- shell: echo never >> {{ node_root }}/log\n",
    );
    fleet.write(
        "tasks/count.yml",
        // `vars: {n: "{{ n | int + 1 }}"}` on the include would be a recursive template (in
        // Ansible too): the counter is a fact.
        "- shell: echo n{{ n }} >> {{ node_root }}/log\n- set_fact: {n: \"{{ n | int + 1 }}\"}\n- include_tasks: count.yml\n  when: n | int < 4\n",
    );
    let playbook = fleet.write(
        "site.yml",
        r#"- hosts: lab
  tasks:
    - block:
        - include_tasks: tasks/outer.yml
      rescue:
        - set_fact: {n: 0}
        - include_tasks: tasks/count.yml
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    assert_eq!(
        log(&fleet, "node1"),
        ["outer", "inner", "n0", "n1", "n2", "n3"],
        "{}",
        run.dump()
    );
    let recap = run.recap("node1");
    assert!(recap.contains("failed=0"), "{recap}\n{}", run.dump());
    assert!(recap.contains("rescued=1"), "{recap}\n{}", run.dump());
    // The last level's include was skipped by its `when`.
    assert!(recap.contains("skipped=1"), "{recap}\n{}", run.dump());
}

#[test]
fn a_missing_or_broken_included_file_fails_that_host_naming_the_file_and_the_include() {
    let fleet = Fleet::up(2);
    fleet.write("broken.yml", "- debug: {msg: ok}\n- shel: echo typo\n");
    let playbook = fleet.write(
        "site.yml",
        r#"- hosts: lab
  tasks:
    - include_tasks: "{{ 'missing' if role == 'primary' else 'broken' }}.yml"
    - shell: echo after >> {{ node_root }}/log
"#,
    );
    let run = fleet.run(&playbook).expect_code(2);
    run.stdout_has("fatal: [node1]: FAILED!")
        .stdout_has("site.yml:3:7: could not find or access the included file `missing.yml`")
        .stdout_has("fatal: [node2]: FAILED!")
        .stdout_has("the included file `")
        .stdout_has("broken.yml:2:3: unknown module or task keyword `shel`");
    for host in ["node1", "node2"] {
        assert!(log(&fleet, host).is_empty(), "{host}\n{}", run.dump());
        assert!(run.recap(host).contains("failed=1"), "{}", run.dump());
    }
}

#[test]
fn check_points_into_a_statically_named_included_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("tasks")).expect("mkdir");
    std::fs::write(dir.path().join("hosts"), "node1\n").expect("write");
    std::fs::write(
        dir.path().join("tasks/bad.yml"),
        "- debug: {msg: fine}\n- debug: {msgg: typo}\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("site.yml"),
        "- hosts: all\n  tasks:\n    - include_tasks: tasks/bad.yml\n    - include_tasks: tasks/absent.yml\n",
    )
    .expect("write");
    let run = common::drover()
        .args(["check", "site.yml", "-i", "hosts"])
        .current_dir(dir.path())
        .expect_code(4);
    run.stderr_has("module `debug` has no argument `msgg`")
        .stderr_has("[tasks/bad.yml:2:11]")
        .stderr_has("^^|^")
        .stderr_has("included file `tasks/absent.yml` not found (looked in .)")
        .stderr_has("[site.yml:4:22]");
    // A templated name is read at run time, but its template is checked now; so are the
    // templates inside a file named in plain text.
    std::fs::write(
        dir.path().join("tasks/bad.yml"),
        "- debug: {msg: fine}\n- debug: {msg: \"{{ broken \"}\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("site.yml"),
        "- hosts: all\n  tasks:\n    - include_tasks: tasks/bad.yml\n    - include_tasks: \"{{ oops .yml\"\n",
    )
    .expect("write");
    let run = common::drover()
        .args(["check", "site.yml", "-i", "hosts"])
        .current_dir(dir.path())
        .expect_code(4);
    run.stderr_has("tasks/bad.yml:2:").stderr_has("site.yml:4:");
}

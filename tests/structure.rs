//! Playbook structure on real nodes: pre_tasks/post_tasks and their handler flushes, roles
//! (tasks, handlers, defaults, vars, params, templates, meta dependencies), import_role,
//! import_playbook, and the diagnostics for a missing role or a bad imported file.

mod common;

use common::Fleet;

/// Lines a node's `log` file holds, in order.
fn log(fleet: &Fleet, host: &str) -> Vec<String> {
    let path = fleet.node_root(host).join("log");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn sections_run_in_ansibles_order_with_handler_flushes_in_each_batch() {
    let fleet = Fleet::up(2);
    fleet.write(
        "roles/r/tasks/main.yml",
        "- shell: echo role >> {{ node_root }}/log\n  notify: from role\n",
    );
    fleet.write(
        "roles/r/handlers/main.yml",
        "- name: from role\n  shell: echo role handler >> {{ node_root }}/log\n",
    );
    // The sections are written out of order on purpose: the order is Ansible's, not the file's.
    let playbook = fleet.write(
        "order.yml",
        r#"- hosts: lab
  serial: 1
  post_tasks:
    - shell: echo post >> {{ node_root }}/log
  tasks:
    - shell: echo task >> {{ node_root }}/log
      notify: play handler
  roles:
    - r
  pre_tasks:
    - shell: echo pre >> {{ node_root }}/log
      notify: play handler
  handlers:
    - name: play handler
      shell: echo play handler >> {{ node_root }}/log
"#,
    );
    let run = fleet
        .run(&playbook)
        .args(["--output", "json"])
        .expect_code(0);
    let expected = [
        "pre",
        "play handler",
        "role",
        "task",
        "role handler",
        "play handler",
        "post",
    ];
    for host in ["node1", "node2"] {
        assert_eq!(log(&fleet, host), expected, "{host}\n{}", run.dump());
    }
    let batches = run
        .events()
        .into_iter()
        .filter(|e| e["event"] == "batch_start")
        .count();
    assert_eq!(batches, 2, "{}", run.dump());
}

#[test]
fn role_variables_templates_and_dependencies_follow_ansible() {
    let fleet = Fleet::up(1);
    fleet.write(
        "roles/web/defaults/main.yml",
        "port: 80\nwho: default\ngreeting: \"hello {{ who }}\"\nonly_default: d\n",
    );
    fleet.write("roles/web/vars/main.yml", "level: role vars\n");
    fleet.write(
        "roles/web/meta/main.yml",
        "dependencies:\n  - base\n  - role: base\n    flavour: other\n",
    );
    fleet.write(
        "roles/web/tasks/main.yml",
        "- template:\n    src: site.j2\n    dest: \"{{ node_root }}/site.conf\"\n",
    );
    fleet.write(
        "roles/web/templates/site.j2",
        "port={{ port }} level={{ level }} greeting={{ greeting }} param={{ colour }} default={{ only_default }}\n",
    );
    // The playbook's own templates/ comes after the role's.
    fleet.write("templates/site.j2", "the playbook's template\n");
    fleet.write(
        "roles/base/tasks/main.yml",
        "- shell: echo base {{ flavour | default('plain') }} >> {{ node_root }}/log\n",
    );
    let playbook = fleet.write(
        "site.yml",
        r#"- hosts: lab
  vars:
    port: 8080
    who: play
    level: play vars
  roles:
    - base
    - role: web
      colour: blue
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    let site = std::fs::read_to_string(fleet.node_root("node1").join("site.conf"))
        .unwrap_or_else(|e| panic!("site.conf: {e}\n{}", run.dump()));
    assert_eq!(
        site,
        "port=8080 level=role vars greeting=hello play param=blue default=d\n"
    );
    // `base` is listed twice (in `roles:` and as a dependency) but runs once; with other
    // params it runs again.
    assert_eq!(log(&fleet, "node1"), ["base plain", "base other"]);
}

#[test]
fn extra_vars_and_params_beat_role_vars() {
    let fleet = Fleet::up(1);
    fleet.write("roles/r/vars/main.yml", "a: role\nb: role\n");
    fleet.write(
        "roles/r/tasks/main.yml",
        "- shell: echo {{ a }} {{ b }} >> {{ node_root }}/log\n",
    );
    let playbook = fleet.write(
        "p.yml",
        "- hosts: lab\n  roles:\n    - role: r\n      b: param\n",
    );
    fleet.run(&playbook).args(["-e", "a=extra"]).expect_code(0);
    assert_eq!(log(&fleet, "node1"), ["extra param"]);
}

#[test]
fn import_role_takes_tasks_from_vars_and_when() {
    let fleet = Fleet::up(2);
    fleet.write("roles/tools/defaults/main.yml", "what: default\n");
    fleet.write(
        "roles/tools/tasks/main.yml",
        "- shell: echo main {{ what }} >> {{ node_root }}/log\n",
    );
    fleet.write(
        "roles/tools/tasks/extra.yaml",
        "- shell: echo extra {{ what }} >> {{ node_root }}/log\n",
    );
    let playbook = fleet.write(
        "p.yml",
        r#"- hosts: lab
  tasks:
    - import_role: name=tools
    - name: the other entry point
      import_role:
        name: tools
        tasks_from: extra
      vars:
        what: given
      when: inventory_hostname == 'node1'
"#,
    );
    fleet.run(&playbook).expect_code(0);
    assert_eq!(log(&fleet, "node1"), ["main default", "extra given"]);
    assert_eq!(log(&fleet, "node2"), ["main default"]);
}

#[test]
fn roles_are_found_through_drover_roles_path() {
    let fleet = Fleet::up(1);
    fleet.write(
        "shared/lib/common/tasks/main.yml",
        "- shell: echo common >> {{ node_root }}/log\n",
    );
    let playbook = fleet.write("p.yml", "- hosts: lab\n  roles: [common]\n");
    fleet
        .run(&playbook)
        .env(
            "DROVER_ROLES_PATH",
            format!("/nonexistent:{}", fleet.path("shared/lib").display()),
        )
        .expect_code(0);
    assert_eq!(log(&fleet, "node1"), ["common"]);
}

#[test]
fn import_playbook_nests_relative_to_the_importing_file_with_tags() {
    let fleet = Fleet::up(1);
    fleet.write(
        "plays/one.yml",
        "- hosts: lab\n  tasks:\n    - shell: echo one >> {{ node_root }}/log\n- import_playbook: deeper/two.yml\n",
    );
    // An imported play's relative paths resolve beside its own file, as in Ansible.
    fleet.write("plays/deeper/vars/words.yml", "word: two\n");
    fleet.write(
        "plays/deeper/two.yml",
        "- hosts: lab\n  vars_files: [words.yml]\n  tasks:\n    - shell: echo {{ word }} >> {{ node_root }}/log\n",
    );
    let playbook = fleet.write(
        "site.yml",
        r#"- import_playbook: plays/one.yml
  tags: imported
- hosts: lab
  tasks:
    - shell: echo last >> {{ node_root }}/log
"#,
    );
    fleet.run(&playbook).expect_code(0);
    assert_eq!(log(&fleet, "node1"), ["one", "two", "last"]);
    // The import's tags reach every play inside it, nested ones included.
    std::fs::remove_file(fleet.node_root("node1").join("log")).expect("remove log");
    fleet.run(&playbook).arg("--tags=imported").expect_code(0);
    assert_eq!(log(&fleet, "node1"), ["one", "two"]);
}

#[test]
fn a_missing_role_names_every_place_it_was_looked_for() {
    let fleet = Fleet::up(1);
    let playbook = fleet.write(
        "p.yml",
        "- hosts: lab\n  roles:\n    - common\n    - role: webserver\n      port: 1\n",
    );
    let run = fleet.run(&playbook).expect_code(4);
    run.stderr_has("role `webserver` not found")
        .stderr_has("p.yml:4:13")
        .stderr_has(&format!("{}", fleet.path("roles/webserver").display()))
        .stderr_has("DROVER_ROLES_PATH")
        .stderr_has("role `common` not found")
        .stderr_has("p.yml:3:7");
}

#[test]
fn a_role_whose_tasks_file_is_misspelt_is_refused_at_its_entry() {
    let fleet = Fleet::up(1);
    fleet.write("roles/r/tasks/mian.yml", "- debug: msg=hi\n");
    fleet.write("roles/r/tasks/other.yml", "- debgu: msg=hi\n");
    let playbook = fleet.write(
        "p.yml",
        "- hosts: lab\n  roles: [r]\n  tasks:\n    - import_role:\n        name: r\n        tasks_from: nothere\n",
    );
    let run = fleet.run(&playbook).expect_code(4);
    run.stderr_has("role `r` has no tasks/main.yml")
        .stderr_has("p.yml:2:11")
        .stderr_has("role `r` has no tasks file `nothere`");
}

#[test]
fn problems_inside_roles_and_imported_playbooks_point_into_those_files() {
    let fleet = Fleet::up(1);
    fleet.write("roles/r/tasks/main.yml", "- name: typo\n  shel: echo hi\n");
    fleet.write("roles/r/meta/main.yml", "dependencies: [ghost]\n");
    fleet.write("other.yml", "- hosts: lab\n  taks: []\n");
    fleet.write("loop.yml", "- import_playbook: site.yml\n");
    let playbook = fleet.write(
        "site.yml",
        r#"- hosts: lab
  roles: [r]
- import_playbook: other.yml
- import_playbook: loop.yml
- import_playbook: other.yml
  when: false
- hosts: lab
  tasks:
    - include_role: name=nosuch
"#,
    );
    let run = fleet.run(&playbook).expect_code(4);
    run.stderr_has("roles/r/tasks/main.yml:2:3")
        .stderr_has("role `ghost` not found")
        .stderr_has("roles/r/meta/main.yml:1:16")
        .stderr_has("did you mean `shell`?")
        .stderr_has("other.yml:2:3")
        .stderr_has("did you mean `tasks`?")
        .stderr_has("imports itself")
        // A role named in plain text by include_role is read while loading, as import_role.
        .stderr_has("role `nosuch` not found");
}

#[test]
fn a_role_entrys_when_and_tags_reach_its_tasks_and_dependencies() {
    let fleet = Fleet::up(2);
    fleet.write(
        "roles/dep/tasks/main.yml",
        "- shell: echo dep >> {{ node_root }}/log\n",
    );
    fleet.write("roles/app/meta/main.yml", "dependencies: [dep]\n");
    fleet.write(
        "roles/app/tasks/main.yml",
        "- shell: echo app >> {{ node_root }}/log\n",
    );
    let playbook = fleet.write(
        "p.yml",
        r#"- hosts: lab
  pre_tasks:
    - shell: echo pre >> {{ node_root }}/log
  roles:
    - role: app
      when: inventory_hostname == 'node1'
      tags: app
  tasks:
    - shell: echo plain >> {{ node_root }}/log
"#,
    );
    fleet.run(&playbook).arg("--tags=app").expect_code(0);
    assert_eq!(log(&fleet, "node1"), ["dep", "app"]);
    assert!(!fleet.node_root("node2").join("log").exists());
}

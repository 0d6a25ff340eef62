//! Variable precedence end to end on the lab: the same variable defined in several layers
//! resolves on each node to the layer Ansible would pick (checked in a file the run writes).

mod common;

use common::Fleet;

/// Writes each `(path, text)` in the test's directory.
fn write_all(fleet: &Fleet, files: &[(&str, &str)]) {
    for (path, text) in files {
        fleet.write(path, text);
    }
}

#[test]
fn each_layer_wins_over_the_ones_below_it_as_in_ansible() {
    let fleet = Fleet::up(2);
    let inv_dir = fleet.inventory_dir();
    let beside_inventory = |name: &str, text: &str| {
        let path = inv_dir.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    // Inventory-adjacent: group_vars/all, a group_vars/lab directory merged in order, and
    // host_vars for node1.
    beside_inventory(
        "group_vars/all.yml",
        "a: inv_all\nb: inv_all\nc: inv_all\nd: inv_all\ne: inv_all\nenv_name: prod\n",
    );
    beside_inventory(
        "group_vars/lab/01-first.yml",
        "b: inv_lab_first\nc: inv_lab\n",
    );
    beside_inventory("group_vars/lab/02-second.yml", "b: inv_lab_second\n");
    beside_inventory("host_vars/node1.yml", "d: inv_host\ne: inv_host\n");
    // Playbook-adjacent: above the inventory's for the same kind of layer only.
    write_all(
        &fleet,
        &[
            ("play/group_vars/all.yml", "a: pb_all\nb: pb_all\n"),
            ("play/group_vars/lab.yml", "c: pb_lab\nd: pb_lab\n"),
            ("play/host_vars/node1.yml", "e: pb_host\nf: pb_host\n"),
            ("play/vars/prod.yml", "g: vars_file\nh: vars_file\n"),
            ("play/vars/included.yml", "h: included\ni: included\n"),
            ("play/vars/bundle.yml", "k: \"{{ a }}-in-bundle\"\n"),
        ],
    );
    let playbook = fleet.write(
        "play/site.yml",
        r#"- hosts: lab
  vars:
    f: play
    g: play
  vars_files:
    - "{{ env_name }}.yml"
  tasks:
    - include_vars: included.yml
    - include_vars:
        file: bundle.yml
        name: bundle
    - set_fact:
        i: set_fact
        j: set_fact
    - copy:
        dest: "{{ node_root }}/vars.txt"
        content: "a={{ a }} b={{ b }} c={{ c }} d={{ d }} e={{ e }} f={{ f }} g={{ g }} h={{ h }} i={{ i }} j={{ j }} k={{ bundle.k }}\n"
"#,
    );
    let run = fleet.run(&playbook).args(["-e", "j=extra"]).expect_code(0);
    // Both lines are what ansible-playbook (ansible-core 2.19) writes for the same files,
    // inventory and `-e` (checked with `ansible_connection: local`).
    let read = |node: &str| {
        std::fs::read_to_string(fleet.node_root(node).join("vars.txt"))
            .unwrap_or_else(|e| panic!("{node}: {e}\n{}", run.dump()))
    };
    assert_eq!(
        read("node1"),
        "a=pb_all b=inv_lab_second c=pb_lab d=inv_host e=pb_host f=play g=vars_file \
         h=included i=set_fact j=extra k=pb_all-in-bundle\n"
    );
    assert_eq!(
        read("node2"),
        "a=pb_all b=inv_lab_second c=pb_lab d=pb_lab e=inv_all f=play g=vars_file \
         h=included i=set_fact j=extra k=pb_all-in-bundle\n",
        "{}",
        run.dump()
    );
}

#[test]
fn missing_vars_file_stops_the_run_before_connecting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = dir.path().join("hosts");
    std::fs::write(&inventory, "[web]\nweb1 ansible_host=192.0.2.1\n").expect("write");
    std::fs::create_dir_all(dir.path().join("group_vars")).expect("mkdir");
    std::fs::write(dir.path().join("group_vars/web.yml"), "stage: prod\n").expect("write");
    let playbook = dir.path().join("site.yml");
    std::fs::write(
        &playbook,
        "- hosts: web\n  vars_files:\n    - [\"{{ stage }}-missing.yml\", also-missing.yml]\n  tasks: []\n",
    )
    .expect("write");
    let run = common::drover()
        .arg("check")
        .arg(&playbook)
        .arg("-i")
        .arg(&inventory)
        .expect_code(4);
    // The path was rendered with the group_vars value, and every place looked at is named.
    run.stderr_has("vars_files: no file found for web1")
        .stderr_has("vars/prod-missing.yml")
        .stderr_has("also-missing.yml");
}

#[test]
fn include_vars_dir_merges_matching_files_in_order_and_vars_files_takes_the_first_found() {
    let fleet = Fleet::up(1);
    write_all(
        &fleet,
        &[
            ("play/vars/conf/10-base.yml", "port: 80\nname: base\n"),
            ("play/vars/conf/20-site.yaml", "port: 8080\n"),
            ("play/vars/conf/30-skip.yml", "port: 1\n"),
            ("play/vars/conf/notes.txt", "port: 2\n"),
            ("play/vars/conf/sub/40-deep.json", "{\"deep\": true}\n"),
            ("play/vars/fallback.yml", "picked: fallback\n"),
        ],
    );
    let playbook = fleet.write(
        "play/site.yml",
        r#"- hosts: lab
  vars_files:
    - [missing.yml, fallback.yml]
  tasks:
    - include_vars:
        dir: vars/conf
        ignore_files: [30-skip.yml]
        ignore_unknown_extensions: true
      register: loaded
    - include_vars:
        dir: vars/conf
        files_matching: "^10-"
        depth: 1
        name: only_base
    - copy:
        dest: "{{ node_root }}/conf.txt"
        content: "{{ port }} {{ name }} {{ deep }} {{ picked }} {{ only_base }} {{ loaded.ansible_included_var_files | map('basename') | join(',') }}\n"
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    // What ansible-playbook (ansible-core 2.19) writes for the same files.
    let text = std::fs::read_to_string(fleet.node_root("node1").join("conf.txt"))
        .unwrap_or_else(|e| panic!("{e}\n{}", run.dump()));
    assert_eq!(
        text,
        "8080 base True fallback {'port': 80, 'name': 'base'} 10-base.yml,20-site.yaml,40-deep.json\n",
        "{}",
        run.dump()
    );
}

#[test]
fn role_defaults_vars_and_params_sit_at_ansibles_places() {
    let fleet = Fleet::up(1);
    let inv_dir = fleet.inventory_dir();
    std::fs::create_dir_all(inv_dir.join("group_vars")).expect("mkdir");
    std::fs::write(inv_dir.join("group_vars/all.yml"), "d2: inventory\n").expect("write");
    write_all(
        &fleet,
        &[
            (
                "roles/r/defaults/main.yml",
                "d1: default\nd2: default\nd3: \"{{ d1 }}-tmpl\"\n",
            ),
            (
                "roles/r/vars/main.yml",
                "v1: rolevars\nv2: rolevars\nv3: rolevars\nv4: rolevars\n",
            ),
            // include_vars in a role looks in the role's vars/ first.
            ("roles/r/vars/inc.yml", "v3: included\n"),
            ("vars/vf.yml", "v2: vars_file\n"),
            (
                "roles/r/tasks/main.yml",
                r#"- include_vars: inc.yml
- set_fact:
    v4: fact
    p1: fact
- shell: >-
    echo {{ d1 }} {{ d2 }} {{ d3 }} {{ v1 }} {{ v2 }} {{ v3 }} {{ v4 }} {{ p1 }} {{ p2 }}
    > {{ node_root }}/role
"#,
            ),
        ],
    );
    let playbook = fleet.write(
        "site.yml",
        r#"- hosts: lab
  vars:
    v1: play
  vars_files: [vf.yml]
  roles:
    - role: r
      p1: param
      vars: {p2: param}
  tasks:
    - shell: echo {{ d1 | default('none') }} > {{ node_root }}/play
"#,
    );
    let run = fleet.run(&playbook).args(["-e", "p2=extra"]).expect_code(0);
    let read = |name: &str| {
        std::fs::read_to_string(fleet.node_root("node1").join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", run.dump()))
    };
    assert_eq!(
        read("role").trim(),
        "default inventory default-tmpl rolevars rolevars included fact param extra"
    );
    // drover keeps a role's variables to its own tasks (see the README).
    assert_eq!(read("play").trim(), "none");
}

#[test]
fn task_block_import_and_role_entry_vars_rank_and_render_as_in_ansible() {
    let fleet = Fleet::up(1);
    write_all(
        &fleet,
        &[
            (
                "roles/r/tasks/main.yml",
                "- set_fact: {v: fact, p: fact}\n- shell: echo v={{ v }} p={{ p }} >> {{ node_root }}/role\n",
            ),
            (
                "tasks/imported.yml",
                "- shell: echo {{ imp }} {{ from_block }} >> {{ node_root }}/imported\n  vars: {imp: task-wins}\n- shell: echo {{ imp }} >> {{ node_root }}/imported\n",
            ),
        ],
    );
    let playbook = fleet.write(
        "site.yml",
        r#"- hosts: lab
  vars:
    greeting: "hello {{ who }}"
    who: play
  roles:
    - role: r
      vars: {v: entry}
      p: param
  tasks:
    - import_role: {name: r}
      vars: {v: imported}
    - block:
        - import_tasks: tasks/imported.yml
          vars: {imp: import}
      vars:
        from_block: "block-{{ who }}"
        who: block
    - shell: echo {{ line }} >> {{ node_root }}/items
      loop: [1, 2, 3]
      when: wanted | bool
      vars:
        line: "{{ greeting }}-{{ item }}"
        wanted: "{{ item != 2 }}"
        who: task
    - shell: echo {{ line | default('gone') }} {{ who }} > {{ node_root }}/after
    - debug:
        msg: "{{ broken }}"
      vars:
        broken: "{{ nope }}"
"#,
    );
    // Nothing undefined for `drover check`: task, block and import vars count as defined.
    common::drover()
        .arg("check")
        .arg(&playbook)
        .arg("-i")
        .arg(&fleet.lab.inventory)
        .expect_code(0);
    let run = fleet.run(&playbook).expect_code(2);
    let read = |name: &str| {
        std::fs::read_to_string(fleet.node_root("node1").join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}\n{}", run.dump()))
    };
    // What ansible-playbook (ansible-core 2.19) gives for the same play: a role entry's
    // `vars:` and an `import_role`'s rank below set_fact, inline role params above it.
    assert_eq!(read("role"), "v=fact p=param\nv=fact p=fact\n");
    // Task vars beat the import's, which beat the block's; each renders with the final
    // values of the names it uses, whichever layer they come from.
    assert_eq!(read("imported"), "task-wins block-block\nimport\n");
    assert_eq!(read("items"), "hello task-1\nhello task-3\n");
    assert_eq!(read("after"), "gone play\n");
    run.stdout_has("undefined variable `broken` (its definition failed: ")
        .stdout_has("undefined variable `nope`");
}

//! Loops on real nodes: `loop_control` (`loop_var`, `index_var`, `label`, `extended`,
//! `pause`), the `with_*` keywords drover runs, and the ones it refuses.

mod common;

use common::Fleet;

#[test]
fn loop_control_names_the_item_its_index_and_its_place() {
    let fleet = Fleet::up(1);
    let playbook = fleet.write(
        "control.yml",
        r#"- hosts: lab
  vars:
    users:
      - {name: ann, uid: 1001, secret: s3cr3t-ann}
      - {name: bob, uid: 1002, secret: s3cr3t-bob}
      - {name: cy, uid: 1003, secret: s3cr3t-cy}
  tasks:
    - name: one file per user
      shell: >-
        echo "{{ i }} {{ ansible_loop.index }}/{{ ansible_loop.length }}
        first={{ ansible_loop.first }} last={{ ansible_loop.last }}
        prev={{ ansible_loop.previtem.name if ansible_loop.previtem is defined else '-' }}
        next={{ ansible_loop.nextitem.name if ansible_loop.nextitem is defined else '-' }}" > {{ node_root }}/{{ user.name }}
      loop: "{{ users }}"
      loop_control:
        loop_var: user
        index_var: i
        label: "{{ user.name }}"
        extended: true
        pause: 0.1
      register: made
    - name: registered items carry the loop variables
      shell: echo {{ made.results | map(attribute='user.uid') | join(',') }}-{{ made.results[2].i }} > {{ node_root }}/registered
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    // The label replaces the item in the output: no secret is printed.
    run.stdout_has("(item=ann)").stdout_has("(item=cy)");
    assert!(!run.stdout().contains("s3cr3t"), "{}", run.dump());
    let root = fleet.node_root("node1");
    let read = |name: &str| std::fs::read_to_string(root.join(name)).unwrap_or_default();
    assert_eq!(
        read("ann").trim(),
        "0 1/3 first=True last=False prev=- next=bob"
    );
    assert_eq!(
        read("bob").trim(),
        "1 2/3 first=False last=False prev=ann next=cy"
    );
    assert_eq!(
        read("cy").trim(),
        "2 3/3 first=False last=True prev=bob next=-"
    );
    assert_eq!(read("registered").trim(), "1001,1002,1003-2");
}

#[test]
fn with_keywords_shape_items_as_ansible_does() {
    let fleet = Fleet::up(1);
    let playbook = fleet.write(
        "with.yml",
        r#"- hosts: lab
  vars:
    ports: {http: 80, https: 443}
  tasks:
    - shell: echo {{ item.value }} > {{ node_root }}/dict-{{ item.key }}
      with_dict: "{{ ports }}"
    - shell: echo {{ item.0 }} > {{ node_root }}/indexed-{{ item.1 }}
      with_indexed_items: [a, [b]]
    - shell: touch {{ node_root }}/{{ item }}
      with_sequence: start=1 end=5 stride=2 format=seq%02d
    - shell: touch {{ node_root }}/flat-{{ item }}
      with_items: [x, [y, z]]
    - shell: echo '{{ item | length }}' > {{ node_root }}/list-{{ item | first }}
      with_list: [[p, q, r]]
"#,
    );
    fleet.run(&playbook).expect_code(0);
    let root = fleet.node_root("node1");
    let read = |name: &str| std::fs::read_to_string(root.join(name)).unwrap_or_default();
    assert_eq!(read("dict-http").trim(), "80");
    assert_eq!(read("dict-https").trim(), "443");
    assert_eq!(read("indexed-a").trim(), "0");
    assert_eq!(read("indexed-b").trim(), "1");
    for name in ["seq01", "seq03", "seq05", "flat-x", "flat-y", "flat-z"] {
        assert!(root.join(name).exists(), "{name} missing");
    }
    assert!(!root.join("seq02").exists());
    // with_list does not flatten: the one item is the whole inner list.
    assert_eq!(read("list-p").trim(), "3");
}

#[test]
fn unsupported_loops_and_loop_mistakes_are_refused_before_connecting() {
    let fleet = Fleet::up(1);
    let playbook = fleet.write(
        "refused.yml",
        r#"- hosts: lab
  tasks:
    - debug: msg={{ item }}
      with_fileglob: ["*.conf"]
    - debug: msg={{ item }}
      loop: [1]
      with_items: [2]
    - debug: msg={{ x }}
      loop: [1]
      loop_control:
        loop_vra: x
    - debug: msg=hi
      loop_control: {label: x}
"#,
    );
    let run = fleet.run(&playbook).expect_code(4);
    run.stderr_has("`with_fileglob` is not supported by drover")
        .stderr_has("write the loop as `loop:`")
        .stderr_has("a task takes one loop, but this one has `loop` and `with_items`")
        .stderr_has("unknown `loop_control` key `loop_vra`")
        .stderr_has("did you mean `loop_var`?")
        .stderr_has("`loop_control` without a loop");
    assert!(run.stderr().contains("refused.yml:4:7"), "{}", run.dump());
}

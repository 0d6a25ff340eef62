//! Play keywords that shape a run: `gather_facts` (the `setup` module), `strategy: free`,
//! `any_errors_fatal` and `max_fail_percentage`, on real nodes. Their mistakes are pinned in
//! `tests/bad-inputs/strategy-typo.yml`.

mod common;

use common::{Fleet, sh};

fn read(fleet: &Fleet, node: &str, name: &str) -> Option<String> {
    std::fs::read_to_string(fleet.node_root(node).join(name))
        .ok()
        .map(|s| s.trim().to_string())
}

#[test]
fn gather_facts_gives_ansible_named_facts_from_one_command() {
    let fleet = Fleet::up(2);
    let playbook = fleet.write(
        "facts.yml",
        r#"- hosts: lab
  gather_facts: true
  tasks:
    - copy:
        content: |
          system={{ ansible_system }}
          same={{ ansible_facts.system == ansible_system }}
          kernel={{ ansible_kernel }}
          arch={{ ansible_architecture }}
          user={{ ansible_user_id }}
          family={{ ansible_os_family }}
          distribution={{ ansible_distribution }}
          home={{ ansible_env.HOME }}
          cpus={{ ansible_processor_vcpus > 0 }}
          epoch={{ ansible_date_time.epoch | int > 1700000000 }}
        dest: "{{ node_root }}/facts.txt"
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    run.stdout_has("TASK [Gathering Facts]");
    // Gathering counts as an `ok` task, as in Ansible.
    assert!(
        run.recap("node1").contains("ok=2"),
        "{}",
        run.recap("node1")
    );
    let facts = read(&fleet, "node2", "facts.txt").expect("facts.txt on node2");
    let home = sh("getent passwd drover-lab | cut -d: -f6");
    for line in [
        format!("system={}", sh("uname -s")),
        "same=True".to_string(),
        format!("kernel={}", sh("uname -r")),
        format!("arch={}", sh("uname -m")),
        "user=drover-lab".to_string(),
        format!("home={home}"),
        "cpus=True".to_string(),
        "epoch=True".to_string(),
    ] {
        assert!(facts.lines().any(|l| l == line), "no `{line}` in\n{facts}");
    }
    let os_id = sh(". /etc/os-release && echo $ID");
    if os_id == "debian" {
        assert!(facts.contains("family=Debian\n"), "{facts}");
        assert!(facts.contains("distribution=Debian\n"), "{facts}");
    }
}

#[test]
fn a_fact_used_without_gathering_is_an_error_that_says_why() {
    let fleet = Fleet::up(1);
    let playbook = fleet.write(
        "nofacts.yml",
        "- hosts: lab\n  tasks:\n    - debug:\n        msg: \"{{ ansible_distribution }}\"\n",
    );
    // Found before anything runs, as `drover check` finds it.
    let run = fleet.run(&playbook).expect_code(4);
    run.stderr_has("ansible_distribution")
        .stderr_has("gather_facts: true");
}

#[test]
fn strategy_free_lets_each_host_run_ahead() {
    let fleet = Fleet::up(3);
    // node1 is slow at the first task; under `free` the others finish the whole list
    // meanwhile (under `linear` they would wait for it).
    let playbook = fleet.write(
        "free.yml",
        r#"- hosts: lab
  strategy: free
  tasks:
    - name: slow on node1
      shell: |
        if [ {{ inventory_hostname }} = node1 ]; then
          for i in $(seq 1 100); do [ -e {{ hostvars.node2.node_root }}/done ] && [ -e {{ hostvars.node3.node_root }}/done ] && break; sleep 0.1; done
        fi
        echo first > {{ node_root }}/first
    - name: done
      shell: echo done > {{ node_root }}/done
    - name: once for the batch
      run_once: true
      shell: echo {{ inventory_hostname }} > {{ node_root }}/once
    - name: handler flush per host
      shell: "true"
      notify: note
    - meta: flush_handlers
  handlers:
    - name: note
      shell: echo handled > {{ node_root }}/handled
"#,
    );
    let run = fleet.run(&playbook).expect_code(0);
    // node1 waited (bounded, 10 s) until node2 and node3 had finished their second task:
    // its first task saw their `done` files, which linear would never allow.
    let first = std::fs::metadata(fleet.node_root("node1").join("first"))
        .and_then(|m| m.modified())
        .expect("node1's first");
    for node in ["node2", "node3"] {
        let done = std::fs::metadata(fleet.node_root(node).join("done"))
            .and_then(|m| m.modified())
            .expect("done");
        assert!(done <= first, "{node} waited for node1\n{}", run.dump());
    }
    let once: Vec<&str> = ["node1", "node2", "node3"]
        .into_iter()
        .filter(|n| read(&fleet, n, "once").is_some())
        .collect();
    assert_eq!(once.len(), 1, "run_once ran on {once:?}\n{}", run.dump());
    for node in ["node1", "node2", "node3"] {
        assert_eq!(read(&fleet, node, "handled").as_deref(), Some("handled"));
    }
    // node1's results come after other banners: they name their task.
    run.stdout_has("[node1] › once for the batch")
        .stdout_has("changed: [node1] › slow on node1");
}

#[test]
fn any_errors_fatal_stops_every_host_and_the_run() {
    let fleet = Fleet::up(3);
    let playbook = fleet.write(
        "fatal.yml",
        r#"- hosts: lab
  any_errors_fatal: true
  tasks:
    - name: fails on node2
      shell: "test {{ inventory_hostname }} != node2"
    - name: never
      shell: echo ran > {{ node_root }}/after
- hosts: lab
  tasks:
    - shell: echo ran > {{ node_root }}/second-play
"#,
    );
    let run = fleet.run(&playbook).expect_code(2);
    run.stdout_has("NO MORE HOSTS LEFT: any_errors_fatal, and node2 failed");
    for node in ["node1", "node2", "node3"] {
        assert_eq!(read(&fleet, node, "after"), None, "{}", run.dump());
        assert_eq!(read(&fleet, node, "second-play"), None);
    }
    assert!(run.recap("node2").contains("failed=1"));

    // A failure a rescue handles is not fatal.
    let rescued = fleet.write(
        "rescued.yml",
        r#"- hosts: lab
  any_errors_fatal: true
  tasks:
    - block:
        - shell: "test {{ inventory_hostname }} != node2"
      rescue:
        - debug: msg=rescued
    - shell: echo ran > {{ node_root }}/after
"#,
    );
    let run = fleet.run(&rescued).expect_code(0);
    for node in ["node1", "node2", "node3"] {
        assert_eq!(
            read(&fleet, node, "after").as_deref(),
            Some("ran"),
            "{}",
            run.dump()
        );
    }
}

#[test]
fn max_fail_percentage_counts_the_batch_and_stops_above_it() {
    let fleet = Fleet::up(4);
    let playbook = |failing: &str| {
        fleet.write(
            &format!("pct-{}.yml", failing.replace(' ', "-")),
            &format!(
                r#"- hosts: lab
  max_fail_percentage: 30
  tasks:
    - shell: "for h in {failing}; do [ $h = {{{{ inventory_hostname }}}} ] && exit 1; done; true"
    - shell: echo ran > {{{{ node_root }}}}/after-{n}
"#,
                n = failing.split(' ').count()
            ),
        )
    };
    // One of four (25%) is within the limit: the others go on.
    let run = fleet.run(&playbook("node1")).expect_code(2);
    for node in ["node2", "node3", "node4"] {
        assert_eq!(
            read(&fleet, node, "after-1").as_deref(),
            Some("ran"),
            "{}",
            run.dump()
        );
    }
    // Two of four (50%) is above it: nobody goes on.
    let run = fleet.run(&playbook("node1 node2")).expect_code(2);
    run.stdout_has("2 of 4 hosts of the batch failed, more than max_fail_percentage 30%");
    for node in ["node3", "node4"] {
        assert_eq!(read(&fleet, node, "after-2"), None, "{}", run.dump());
    }
}

//! ansible-playbook's everyday command line on `drover run`, against real sshd: `-u`,
//! `--private-key`, inline and repeated `-i`, `ANSIBLE_INVENTORY`, `-c local`, `-v`, the
//! listings and `--syntax-check`, and the flags drover refuses by name.

mod common;

use common::{Fleet, drover};

const PLAYBOOK: &str = "- name: greet\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: say hello\n      command: echo hello\n      tags: [greet]\n    - debug:\n        msg: done\n      tags: [wrap, greet]\n";

/// An inventory with addresses and ports only: user and key come from the command line.
fn bare_inventory(fleet: &Fleet) -> std::path::PathBuf {
    let hosts: String = fleet
        .lab
        .nodes
        .iter()
        .map(|n| {
            format!(
                "{} ansible_host={} ansible_port={}\n",
                n.name, n.address, n.port
            )
        })
        .collect();
    fleet.write("bare.ini", &format!("[web]\n{hosts}"))
}

#[test]
fn user_and_private_key_flags_inline_and_repeated_inventories_reach_the_hosts() {
    let fleet = Fleet::up(2);
    let playbook = fleet.write("site.yml", PLAYBOOK);
    let inventory = bare_inventory(&fleet);
    let login = |run: common::Drover| {
        run.arg("-u")
            .arg(&fleet.lab.user)
            .arg("--private-key")
            .arg(&fleet.lab.key)
            .arg("--known-hosts")
            .arg(&fleet.lab.known_hosts)
            .args(["-F", "none", "-y", "--no-journal", "-vvv", "-T", "5"])
    };
    // Without -u the local user (root) is refused by the lab's AllowUsers.
    let run = drover()
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&inventory)
        .arg("--private-key")
        .arg(&fleet.lab.key)
        .arg("--known-hosts")
        .arg(&fleet.lab.known_hosts)
        .args(["-F", "none", "-y", "--no-journal"])
        .expect_code(3);
    assert!(
        run.recap("node1").contains("unreachable=1"),
        "{}",
        run.dump()
    );

    let run = login(drover().arg("run").arg(&playbook).arg("-i").arg(&inventory)).expect_code(0);
    assert!(run.recap("node1").contains("ok=2"), "{}", run.dump());
    // -v (here -vvv) shows each result.
    let node1 = fleet.lab.node("node1").expect("node1");
    run.stdout_has("changed: [node1] => {")
        .stdout_has("\"stdout\":\"hello\"")
        // -vvv: how each host was reached.
        .stdout_has(&format!(
            "<node1> ESTABLISH SSH CONNECTION {}@{}:{}",
            fleet.lab.user, node1.address, node1.port
        ));
    assert!(run.recap("node2").contains("ok=2"), "{}", run.dump());

    // An inline list `addr:port,` and a second -i adding a host.
    let node1 = fleet.lab.node("node1").expect("node1");
    let node2 = fleet.lab.node("node2").expect("node2");
    let second = fleet.write(
        "second.ini",
        &format!(
            "extra ansible_host={} ansible_port={}\n",
            node2.address, node2.port
        ),
    );
    let run = login(
        drover()
            .arg("run")
            .arg(&playbook)
            .arg("-i")
            .arg(format!("{}:{},", node1.address, node1.port))
            .arg("-i")
            .arg(&second),
    )
    .expect_code(0);
    assert!(
        run.recap(&node1.address.to_string()).contains("ok=2"),
        "{}",
        run.dump()
    );
    assert!(run.recap("extra").contains("ok=2"), "{}", run.dump());

    // ANSIBLE_INVENTORY when no -i is given.
    let run = login(drover().arg("run").arg(&playbook))
        .env("ANSIBLE_INVENTORY", &inventory)
        .expect_code(0);
    assert!(run.recap("node2").contains("ok=2"), "{}", run.dump());
}

#[test]
fn listings_syntax_check_and_local_connection_touch_no_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let playbook = dir.path().join("site.yml");
    std::fs::write(&playbook, PLAYBOOK).expect("write");
    // Nothing listens on these: a listing that connected would fail.
    let inventory = dir.path().join("hosts.ini");
    std::fs::write(&inventory, "[web]\nweb1 ansible_host=127.0.0.1 ansible_port=1\nweb2 ansible_host=127.0.0.1 ansible_port=1\n")
        .expect("write");
    let run = drover()
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&inventory)
        .args(["--list-hosts", "--list-tasks", "--list-tags"])
        .expect_code(0);
    let out = run.stdout();
    for needle in [
        "playbook: ",
        "play #1 (all): greet\tTAGS: []",
        "pattern: ['all']",
        "hosts (2):\n      web1\n      web2\n",
        "say hello\tTAGS: [greet]",
        "TASK TAGS: [greet, wrap]",
    ] {
        assert!(out.contains(needle), "lacks {needle:?}\n{}", run.dump());
    }
    drover()
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&inventory)
        .arg("--syntax-check")
        .expect_code(0);
    // -c local: every host is the control machine.
    let run = drover()
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&inventory)
        .args(["-c", "local", "-y", "--no-journal", "--flush-cache"])
        .expect_code(0);
    assert!(run.recap("web1").contains("ok=2"), "{}", run.dump());
}

#[test]
fn flags_drover_cannot_honour_are_refused_by_name_and_a_bare_playbook_gets_a_hint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let playbook = dir.path().join("site.yml");
    std::fs::write(&playbook, PLAYBOOK).expect("write");
    for (flag, value, needle) in [
        (
            "--start-at-task",
            Some("no such task"),
            "no task of the playbook has this name",
        ),
        // --step asks on the terminal: without one it cannot.
        ("--step", None, "stdin is not one"),
        ("-c", Some("winrm"), "--connection winrm"),
    ] {
        let mut run = drover()
            .arg("run")
            .arg(&playbook)
            .args(["-i", "h,"])
            .arg(flag);
        if let Some(value) = value {
            run = run.arg(value);
        }
        run.expect_code(5).stderr_has(needle);
    }
    drover()
        .arg(&playbook)
        .expect_code(5)
        .stderr_has("drover run");
}

#[test]
fn exec_runs_one_module_with_ansibles_output_lines_and_exit_codes() {
    let fleet = Fleet::up(2);
    let inventory = &fleet.lab.inventory;
    let exec = || {
        drover()
            .arg("exec")
            .arg("all")
            .arg("-i")
            .arg(inventory)
            .args(["-F", "none"])
    };
    // Default module: command.
    let run = exec()
        .args(["-a", "echo hello {{ inventory_hostname }}"])
        .expect_code(0);
    run.stdout_has("node1 | CHANGED | rc=0 >>\nhello node1\n")
        .stdout_has("node2 | CHANGED | rc=0 >>\nhello node2\n");
    assert!(!run.stdout().contains("PLAY RECAP"), "{}", run.dump());

    // shell, failing on one host: FAILED with rc, exit 2.
    let run = exec()
        .args([
            "-m",
            "shell",
            "-a",
            "test {{ inventory_hostname }} = node1 || { echo nope >&2; exit 3; }",
        ])
        .expect_code(2);
    run.stdout_has("node1 | CHANGED | rc=0 >>")
        .stdout_has("node2 | FAILED | rc=3 >>\nnope");

    // Another module with key=value arguments, then --check on the same file: SUCCESS.
    let dest = fleet.node_root("node1").join("adhoc.txt");
    let args = format!("content=hi dest={}", dest.display());
    exec()
        .args(["-l", "node1", "-m", "copy", "-a", &args])
        .expect_code(0)
        .stdout_has("node1 | CHANGED => {");
    assert_eq!(std::fs::read_to_string(&dest).expect("copied"), "hi");
    exec()
        .args(["-l", "node1", "-m", "copy", "-C", "-a", &args])
        .expect_code(0)
        .stdout_has("node1 | SUCCESS => {\n    \"changed\": false,\n    \"checksum\"");
}

#[test]
fn ansible_cfg_in_the_working_directory_gives_inventory_and_roles_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    };
    write(
        "ansible.cfg",
        "[defaults]\ninventory = inv/hosts.ini\nroles_path = shared\n",
    );
    write("inv/hosts.ini", "[web]\nweb1 ansible_connection=local\n");
    write(
        "shared/greeter/tasks/main.yml",
        "- name: greet from the shared role\n  debug:\n    msg: hi\n",
    );
    write(
        "site.yml",
        "- hosts: web\n  gather_facts: false\n  roles: [greeter]\n",
    );
    let run = drover()
        .args(["run", "site.yml", "--list-tasks", "--list-hosts"])
        .current_dir(dir.path())
        .expect_code(0);
    run.stdout_has("greeter : greet from the shared role")
        .stdout_has("hosts (1):\n      web1");
    // A malformed ansible.cfg stops everything with file:line.
    write("ansible.cfg", "[defaults]\nforks\n");
    drover()
        .args(["run", "site.yml"])
        .current_dir(dir.path())
        .expect_code(4)
        .stderr_has("ansible.cfg:2");
}

/// `--start-at-task` skips the play tasks before the named one, across plays, as the real
/// ansible-playbook does (compared on the control machine, `ansible_connection=local`).
#[test]
fn start_at_task_skips_what_ansible_playbook_skips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(
        d.join("hosts"),
        format!(
            "localhost ansible_connection=local ansible_python_interpreter={}\n",
            common::ansible::ansible_playbook()
                .with_file_name("python3")
                .display()
        ),
    )
    .expect("inventory");
    let playbook = |out: &std::path::Path| {
        format!(
            "- name: first\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: one\n      command: touch {o}/one\n    - name: two\n      command: touch {o}/two\n      notify: bell\n    - name: three\n      command: touch {o}/three\n  handlers:\n    - name: bell\n      command: touch {o}/bell\n- name: second\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: four\n      command: touch {o}/four\n",
            o = out.display()
        )
    };
    let marks = |out: &std::path::Path| {
        let mut found: Vec<String> = std::fs::read_dir(out)
            .expect("out dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        found
    };
    for wanted in ["two", "th*", "four"] {
        let (ours, theirs) = (
            d.join(format!("drover-{wanted}")),
            d.join(format!("ansible-{wanted}")),
        );
        for out in [&ours, &theirs] {
            std::fs::create_dir_all(out).expect("mkdir");
        }
        let site = d.join(format!("site-{}.yml", wanted.replace('*', "x")));
        std::fs::write(&site, playbook(&ours)).expect("playbook");
        drover()
            .arg("run")
            .arg(&site)
            .arg("-i")
            .arg(d.join("hosts"))
            .args(["--no-journal", "--start-at-task", wanted])
            .expect_code(0);
        std::fs::write(&site, playbook(&theirs)).expect("playbook");
        let mut ansible = std::process::Command::new(common::ansible::ansible_playbook());
        ansible
            .arg(&site)
            .arg("-i")
            .arg(d.join("hosts"))
            .args(["--start-at-task", wanted])
            .env("ANSIBLE_LOCAL_TEMP", d.join("ansible-tmp"))
            .env("ANSIBLE_NOCOLOR", "1");
        let out = common::ansible::output_within(
            ansible,
            std::time::Duration::from_secs(300),
            "ansible-playbook",
        );
        assert!(out.status.success(), "{}", common::ansible::dump(&out));
        assert_eq!(marks(&ours), marks(&theirs), "--start-at-task {wanted}");
    }
}

/// `--step` on a terminal, answered the same way under both tools: the same tasks and
/// handlers run. Answers are typed one at a time, as an operator does (ansible-playbook may
/// discard type-ahead before it prompts).
#[test]
fn step_runs_what_the_operator_says_as_ansible_playbook_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(
        d.join("hosts"),
        format!(
            "localhost ansible_connection=local ansible_python_interpreter={}\n",
            common::ansible::ansible_playbook()
                .with_file_name("python3")
                .display()
        ),
    )
    .expect("inventory");
    let playbook = |out: &std::path::Path| {
        format!(
            "- name: first\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: one\n      command: touch {o}/one\n    - name: two\n      command: touch {o}/two\n      notify: bell\n    - name: three\n      command: touch {o}/three\n  handlers:\n    - name: bell\n      command: touch {o}/bell\n- name: second\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: four\n      command: touch {o}/four\n",
            o = out.display()
        )
    };
    let marks = |out: &std::path::Path| {
        let mut found: Vec<String> = std::fs::read_dir(out)
            .expect("out dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        found
    };
    // one: no, two: yes, three: yes, handler bell: no at the flush after the tasks and
    // again at the one after the (empty) post_tasks, four: yes. Then `continue` from two,
    // which lasts for its play: the second play asks again.
    for (label, answers, expected) in [
        (
            "each",
            &["n", "y", "y", "n", "n", "y"][..],
            &["four", "three", "two"][..],
        ),
        (
            "continue",
            &["y", "c", "y"][..],
            &["bell", "four", "one", "three", "two"][..],
        ),
    ] {
        let mut found = Vec::new();
        for tool in ["drover", "ansible"] {
            let out = d.join(format!("{tool}-{label}"));
            std::fs::create_dir_all(&out).expect("mkdir");
            let site = d.join(format!("site-{tool}-{label}.yml"));
            std::fs::write(&site, playbook(&out)).expect("playbook");
            let command_line = if tool == "drover" {
                format!(
                    "{} run {} -i {} --no-journal --step",
                    env!("CARGO_BIN_EXE_drover"),
                    site.display(),
                    d.join("hosts").display()
                )
            } else {
                format!(
                    "{} {} -i {} --step",
                    common::ansible::ansible_playbook().display(),
                    site.display(),
                    d.join("hosts").display()
                )
            };
            let typed: String = answers
                .iter()
                .map(|a| format!("sleep 2; printf '{a}\\n'; "))
                .collect();
            let mut command = std::process::Command::new("sh");
            command
                .current_dir(d)
                .env("ANSIBLE_LOCAL_TEMP", d.join("ansible-tmp"))
                .env("ANSIBLE_NOCOLOR", "1")
                .arg("-c")
                .arg(format!(
                    "({typed} sleep 2) | timeout 120 script -qec '{command_line}' /dev/null"
                ));
            let run = common::ansible::output_within(
                command,
                std::time::Duration::from_secs(150),
                "a --step run on a terminal (script)",
            );
            let screen = common::ansible::dump(&run);
            if tool == "drover" {
                assert!(
                    screen.contains("Perform task: TASK: one (N)o/(y)es/(c)ontinue:"),
                    "{screen}"
                );
            }
            found.push((tool, marks(&out), screen));
        }
        let expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        for (tool, marks, screen) in &found {
            assert_eq!(marks, &expected, "--step {label} under {tool}\n{screen}");
        }
    }
}

/// What each `-v` adds, as ansible-playbook's levels do: results, then where tasks are
/// written and which handlers were notified, then the commands sent and files moved, then the
/// SSH negotiation (route, host key and where it is known, authentication).
#[test]
fn each_verbosity_level_adds_its_own_lines() {
    let fleet = Fleet::up(1);
    let node = fleet.lab.node("node1").expect("node1");
    let dest = node.root.join("motd");
    let playbook = fleet.write(
        "site.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: say hello\n      command: echo hello\n    - name: write motd\n      copy:\n        content: \"welcome\\n\"\n        dest: {}\n      notify: bell\n  handlers:\n    - name: bell\n      command: \"true\"\n",
            dest.display()
        ),
    );
    let run = |v: &str| {
        // Each run changes the file, so the handler is notified every time.
        let _ = std::fs::remove_file(&dest);
        let mut run = fleet.run(&playbook).args(["--no-journal", "-y"]);
        if !v.is_empty() {
            run = run.arg(v);
        }
        run.expect_code(0)
    };
    // (level, a line it adds)
    let lines: [(usize, &str); 8] = [
        (1, "changed: [node1] => {"),
        (2, "task path: "),
        (2, "<node1> NOTIFIED HANDLER bell"),
        (3, "<node1> EXEC "),
        (3, "<node1> rc=0 (stdout "),
        (3, &format!("<node1> PUT 8 bytes TO {}", dest.display())),
        (4, "<node1> SSH: server host key "),
        (
            4,
            &format!("<node1> SSH: authenticated as {} with key ", fleet.lab.user),
        ),
    ];
    for (count, flag) in ["", "-v", "-vv", "-vvv", "-vvvv"].iter().enumerate() {
        let out = run(flag);
        let stdout = out.stdout();
        for (level, line) in &lines {
            assert_eq!(
                stdout.contains(line),
                count >= *level,
                "`{line}` (level {level}) under `{flag}`\n{}",
                out.dump()
            );
        }
    }
    // -vvvv also names the route and the known_hosts lookup.
    let out = run("-vvvv");
    out.stdout_has(&format!(
        "<node1> SSH: connecting to {}:{} directly over TCP",
        node.address, node.port
    ))
    .stdout_has(&format!(
        "<node1> SSH: host key looked up as `[{}]:{}` in {}",
        node.address,
        node.port,
        fleet.lab.known_hosts.display()
    ));
}

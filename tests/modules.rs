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
    // Ansible gives the missing ancestors it creates the task's mode too.
    for dir in ["etc", "etc/app", "etc/app/conf.d"] {
        assert_eq!(mode(&root.join(dir)), 0o750, "{dir}");
    }
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
fn file_directory_refuses_what_is_in_the_way_and_creates_awkward_names() {
    let fleet = Fleet::up(1);
    let root = fleet.node_root("node1");
    std::fs::write(root.join("plain"), "x").expect("write");
    std::os::unix::fs::symlink(root.join("nowhere"), root.join("dangling")).expect("symlink");
    let book = playbook(
        &fleet,
        "dirs.yml",
        r#"    - name: over a file
      file: {path: "{{ root }}/plain", state: directory}
      ignore_errors: true
    - name: over a dangling link
      file: {path: "{{ root }}/dangling", state: directory}
      ignore_errors: true
    - name: under a file
      file: {path: "{{ root }}/plain/sub", state: directory}
      ignore_errors: true
    - name: awkward name
      file: {path: "{{ root }}/a b/c'd", state: directory, mode: "0700"}
"#,
    );
    give_to_lab_user(&fleet, &root);
    let run = fleet.run(&book).arg("--diff").expect_code(0);
    run.stdout_has("plain already exists as a file (not a directory)")
        .stdout_has("dangling already exists as a link (not a directory)")
        .stdout_has("plain/sub failed: mkdir:")
        .stdout_has("-  \"state\": \"absent\"")
        .stdout_has("+  \"state\": \"directory\"");
    assert_eq!(std::fs::read(root.join("plain")).expect("read"), b"x");
    assert!(!root.join("nowhere").exists(), "{}", run.dump());
    assert_eq!(mode(&root.join("a b/c'd")), 0o700);
    assert_eq!(mode(&root.join("a b")), 0o700);
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
    // The directory copies landed where the trailing-slash rule puts them.
    let examples = fleet.node_root("node1").join("examples");
    for rel in [
        "app/conf.d/limits/connections.conf",
        "backup/conf.d/limits/connections.conf",
        "backup/conf.d/extra.conf",
    ] {
        assert!(examples.join(rel).is_file(), "no {rel}\n{}", first.dump());
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

/// Writes `text` at `rel` under node1's root, owned by the lab user, and returns the path.
fn node_file(fleet: &Fleet, rel: &str, text: &str) -> PathBuf {
    let path = fleet.node_root("node1").join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&path, text).expect("write");
    give_to_lab_user(fleet, &fleet.node_root("node1"));
    path
}

#[test]
fn edits_change_once_show_their_diff_and_leave_the_file_alone_after() {
    let fleet = Fleet::up(1);
    let conf = node_file(
        &fleet,
        "etc/app.conf",
        "# app\nport=8080\nlog_level=info\nhost=old.example\n",
    );
    let book = playbook(
        &fleet,
        "edits.yml",
        r#"    - lineinfile: {path: "{{ root }}/etc/app.conf", regexp: '^port=', line: port=9090}
    - lineinfile: {path: "{{ root }}/etc/app.conf", line: "workers=4", insertafter: '^port='}
    - lineinfile: {path: "{{ root }}/etc/app.conf", regexp: '^# app', state: absent}
    - blockinfile:
        path: "{{ root }}/etc/app.conf"
        block: |
          [cache]
          size=64
    - replace: {path: "{{ root }}/etc/app.conf", regexp: 'old\.example', replace: new.example}
    - lineinfile: {path: "{{ root }}/etc/app.conf", regexp: '^log_level=(\w+)', line: 'log_level=\1 # kept', backrefs: yes}
"#,
    );
    let original = std::fs::read_to_string(&conf).expect("read");
    let check = fleet.run(&book).args(["--check", "--diff"]).expect_code(0);
    assert_changed(&check, 6);
    check
        .stdout_has("-port=8080")
        .stdout_has("+port=9090")
        .stdout_has("+workers=4")
        .stdout_has("-# app")
        .stdout_has("+# BEGIN ANSIBLE MANAGED BLOCK")
        .stdout_has("+size=64")
        .stdout_has("-host=old.example")
        .stdout_has("+host=new.example");
    assert_eq!(std::fs::read_to_string(&conf).expect("read"), original);

    let first = fleet.run(&book).expect_code(0);
    assert_changed(&first, 6);
    assert_eq!(
        std::fs::read_to_string(&conf).expect("read"),
        "port=9090\nworkers=4\nlog_level=info # kept\nhost=new.example\n\
         # BEGIN ANSIBLE MANAGED BLOCK\n[cache]\nsize=64\n# END ANSIBLE MANAGED BLOCK\n"
    );
    let before = stamp(&conf);
    let second = fleet.run(&book).expect_code(0);
    assert_changed(&second, 0);
    assert_eq!(stamp(&conf), before, "the second run rewrote the file");

    // A failed validation leaves the file as it was.
    let bad = playbook(
        &fleet,
        "validate.yml",
        r#"    - name: change the port, validated
      lineinfile: {path: "{{ root }}/etc/app.conf", regexp: '^port=', line: port=1, validate: "grep -q '^port=9' %s"}
"#,
    );
    fleet
        .run(&bad)
        .expect_code(2)
        .stdout_has("TASK [change the port, validated]")
        .stdout_has("failed to validate");
    assert_eq!(stamp(&conf), before);
    let leftovers = sh(&format!(
        "ls -A {} | grep drover || true",
        conf.parent().expect("dir").display()
    ));
    assert_eq!(leftovers, "", "temp files left behind");
}

#[test]
fn stat_slurp_and_find_read_the_node_and_change_nothing() {
    let fleet = Fleet::up(1);
    let conf = node_file(&fleet, "data/a.log", "hello\n");
    node_file(&fleet, "data/b.txt", "world\n");
    node_file(&fleet, "data/sub/c.log", "deep\n");
    let sha1 = sh(&format!("sha1sum < {} | cut -d' ' -f1", conf.display()));
    let book = playbook(
        &fleet,
        "inspect.yml",
        &format!(
            r#"    - stat: {{path: "{{{{ root }}}}/data/a.log"}}
      register: st
    - stat: {{path: "{{{{ root }}}}/missing"}}
      register: missing
    - slurp: {{src: "{{{{ root }}}}/data/a.log"}}
      register: slurped
    - find: {{paths: "{{{{ root }}}}/data", patterns: "*.log", recurse: yes}}
      register: logs
    - find: {{paths: "{{{{ root }}}}/data", contains: "^wor"}}
      register: worlds
    - assert:
        that:
          - st.stat.exists
          - st.stat.isreg
          - st.stat.size == 6
          - st.stat.checksum == '{sha1}'
          - not missing.stat.exists
          - slurped.content | b64decode == 'hello\n'
          - logs.matched == 2
          - worlds.files[0].path is search('b.txt')
"#
        ),
    );
    let run = fleet.run(&book).expect_code(0);
    assert_changed(&run, 0);
    let check = fleet.run(&book).arg("--check").expect_code(0);
    assert_changed(&check, 0);
}

#[test]
fn raw_script_pause_and_meta_run_and_script_honours_creates() {
    let fleet = Fleet::up(1);
    fleet.write(
        "files/setup.sh",
        "#!/bin/sh\nset -e\necho \"$1\" > \"$2\"\necho made it\n",
    );
    let book = playbook(
        &fleet,
        "scripts.yml",
        r#"    - script: setup.sh hello {{ root }}/made
      args: {creates: "{{ root }}/made"}
      register: ran
    - raw: echo raw-ok
      register: r
      changed_when: false
    - assert: {that: ["r.stdout is search('raw-ok')"]}
      when: not ansible_check_mode
    - pause: {seconds: 1}
    - meta: noop
"#,
    );
    let check = fleet.run(&book).arg("--check").expect_code(0);
    assert!(
        !fleet.node_root("node1").join("made").exists(),
        "{}",
        check.dump()
    );
    let first = fleet.run(&book).expect_code(0);
    assert_changed(&first, 1);
    assert_eq!(
        sh(&format!(
            "cat {}",
            fleet.node_root("node1").join("made").display()
        )),
        "hello"
    );
    let second = fleet.run(&book).expect_code(0);
    assert_changed(&second, 0);
    // No script left behind in the node's temp dir by either run.
    let meta = playbook(&fleet, "meta.yml", "    - meta: end_play\n");
    fleet
        .run(&meta)
        .expect_code(2)
        .stdout_has("`end_play` is not supported by drover yet");
}

#[test]
fn fetch_copies_to_dest_host_path_once_and_flat_when_asked() {
    let fleet = Fleet::up(1);
    let remote = node_file(&fleet, "var/report.txt", "numbers\n");
    let book = playbook(
        &fleet,
        "fetch.yml",
        r#"    - fetch: {src: "{{ root }}/var/report.txt", dest: fetched}
    - fetch: {src: "{{ root }}/var/report.txt", dest: flat/, flat: yes}
"#,
    );
    let nested = fleet
        .path("fetched/node1")
        .join(remote.strip_prefix("/").expect("absolute"));
    let flat = fleet.path("flat/report.txt");
    let check = fleet.run(&book).arg("--check").expect_code(0);
    assert_changed(&check, 2);
    assert!(!nested.exists() && !flat.exists());
    let first = fleet.run(&book).expect_code(0);
    assert_changed(&first, 2);
    assert_eq!(
        std::fs::read_to_string(&nested).expect("nested"),
        "numbers\n"
    );
    assert_eq!(std::fs::read_to_string(&flat).expect("flat"), "numbers\n");
    let before = (stamp(&nested), stamp(&flat));
    let second = fleet.run(&book).expect_code(0);
    assert_changed(&second, 0);
    assert_eq!((stamp(&nested), stamp(&flat)), before);
}

#[test]
fn get_url_downloads_on_the_node_verifies_the_checksum_and_then_leaves_it() {
    let fleet = Fleet::up(1);
    let source = fleet.write("pkg/release.tar", "release bytes\n");
    std::fs::set_permissions(fleet.dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let sha256 = sh(&format!("sha256sum < {} | cut -d' ' -f1", source.display()));
    let book = playbook(
        &fleet,
        "get_url.yml",
        &format!(
            r#"    - get_url:
        url: "file://{}"
        dest: "{{{{ root }}}}/release.tar"
        checksum: "sha256:{sha256}"
        mode: "0640"
"#,
            source.display()
        ),
    );
    let dest = fleet.node_root("node1").join("release.tar");
    fleet.run(&book).arg("--check").expect_code(0);
    assert!(!dest.exists());
    let first = fleet.run(&book).expect_code(0);
    assert_changed(&first, 1);
    assert_eq!(
        std::fs::read_to_string(&dest).expect("dest"),
        "release bytes\n"
    );
    assert_eq!(mode(&dest), 0o640);
    let before = stamp(&dest);
    let second = fleet.run(&book).expect_code(0);
    assert_changed(&second, 0);
    assert_eq!(stamp(&dest), before);

    let wrong = playbook(
        &fleet,
        "wrong.yml",
        &format!(
            "    - get_url: {{url: \"file://{}\", dest: \"{{{{ root }}}}/other.tar\", checksum: \"sha256:{}\"}}\n",
            source.display(),
            "0".repeat(64)
        ),
    );
    fleet
        .run(&wrong)
        .expect_code(2)
        .stdout_has("does not match");
    assert!(!fleet.node_root("node1").join("other.tar").exists());
}

#[test]
fn wait_for_sees_open_and_closed_ports_and_file_contents_and_times_out_clearly() {
    let fleet = Fleet::up(1);
    let node = &fleet.lab.nodes[0];
    node_file(&fleet, "log/app.log", "starting\nready on port 8080\n");
    let closed = drover::lab::free_port(node.address).expect("port");
    let book = playbook(
        &fleet,
        "wait.yml",
        &format!(
            r#"    - wait_for: {{host: "{addr}", port: {port}, timeout: 5}}
    - wait_for: {{host: "{addr}", port: {closed}, state: stopped, timeout: 5}}
    - wait_for: {{path: "{{{{ root }}}}/log/app.log", search_regex: 'ready on port (\d+)', timeout: 5}}
      register: ready
    - assert: {{that: ["ready.match_groups[0] == '8080'"]}}
    - name: never ready
      wait_for: {{path: "{{{{ root }}}}/never", timeout: 1, sleep: 0.2}}
"#,
            addr = node.address,
            port = node.port,
        ),
    );
    let run = fleet.run(&book).expect_code(2);
    run.stdout_has("TASK [never ready]")
        .stdout_has("Timeout when waiting for");
    let (ok, changed, failed) = counts(&run);
    assert_eq!((ok, changed, failed), (4, 0, 1), "{}", run.dump());
}

#[test]
fn uri_checks_status_and_reads_json_from_the_control_machine() {
    let fleet = Fleet::up(1);
    fleet.write(
        "www/health.json",
        "{\"status\": \"green\", \"version\": \"2.0\"}",
    );
    let port = drover::lab::free_port(std::net::Ipv4Addr::LOCALHOST).expect("port");
    let mut server = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .current_dir(fleet.path("www"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 http.server");
    // Wait until it listens.
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let book = playbook(
        &fleet,
        "uri.yml",
        &format!(
            r#"    - uri: {{url: "http://127.0.0.1:{port}/health.json", return_content: yes}}
      register: health
    - assert: {{that: ["health.status == 200", "health.json.status == 'green'", "'version' in health.content"]}}
    - uri: {{url: "http://127.0.0.1:{port}/missing", status_code: [404]}}
    - name: wrong status
      uri: {{url: "http://127.0.0.1:{port}/missing"}}
"#
        ),
    );
    let run = fleet.run(&book).expect_code(2);
    let _ = server.kill();
    let _ = server.wait();
    run.stdout_has("TASK [wrong status]")
        .stdout_has("Status code was 404 and not [200]");
    let (ok, changed, failed) = counts(&run);
    assert_eq!((ok, changed, failed), (3, 0, 1), "{}", run.dump());
}

#[test]
fn service_and_package_fail_clearly_without_systemd_or_root() {
    let fleet = Fleet::up(1);
    let book = playbook(
        &fleet,
        "system.yml",
        r#"    - name: start it
      service: {name: demo, state: started}
      ignore_errors: yes
    - name: install it
      apt: {name: "curl=7.88.1-10", state: present}
"#,
    );
    let run = fleet.run(&book).expect_code(2);
    run.stdout_has("TASK [start it]")
        .stdout_has("has no running systemd")
        .stdout_has("TASK [install it]")
        .stdout_has("needs root");
}

#[test]
fn archive_then_unarchive_change_once_and_then_report_ok() {
    let fleet = Fleet::up(1);
    node_file(&fleet, "app/bin/run", "#!/bin/sh\n");
    node_file(&fleet, "app/conf/app.conf", "port=1\n");
    let book = playbook(
        &fleet,
        "archive.yml",
        r#"    - archive: {path: "{{ root }}/app", dest: "{{ root }}/app.tar.gz"}
    - file: {path: "{{ root }}/restore", state: directory}
    - unarchive: {src: "{{ root }}/app.tar.gz", dest: "{{ root }}/restore", remote_src: yes}
"#,
    );
    let root = fleet.node_root("node1");
    let first = fleet.run(&book).expect_code(0);
    assert_changed(&first, 3);
    assert_eq!(
        std::fs::read_to_string(root.join("restore/app/conf/app.conf")).expect("restored"),
        "port=1\n"
    );
    let before = (
        stamp(&root.join("app.tar.gz")),
        stamp(&root.join("restore/app/conf/app.conf")),
    );
    let second = fleet.run(&book).expect_code(0);
    assert_changed(&second, 0);
    assert_eq!(
        (
            stamp(&root.join("app.tar.gz")),
            stamp(&root.join("restore/app/conf/app.conf"))
        ),
        before
    );
    // A changed source changes the archive again; check mode only reports it (the unarchive
    // still compares against the old archive, which check mode did not replace).
    std::fs::write(root.join("app/conf/app.conf"), "port=2\n").expect("write");
    let check = fleet.run(&book).arg("--check").expect_code(0);
    assert_changed(&check, 1);
    assert_eq!(stamp(&root.join("app.tar.gz")), before.0);
}

#[test]
fn copy_streams_large_files_and_skips_the_transfer_when_the_checksum_matches() {
    let fleet = Fleet::up(1);
    let big = fleet.path("files/big.bin");
    std::fs::create_dir_all(big.parent().expect("dir")).expect("mkdir");
    sh(&format!(
        "head -c 20000000 /dev/urandom > {}",
        big.display()
    ));
    let book = playbook(
        &fleet,
        "copy.yml",
        r#"    - copy: {src: big.bin, dest: "{{ root }}/big.bin", mode: "u=rw,g=r,o=", validate: "test -s %s"}
"#,
    );
    let dest = fleet.node_root("node1").join("big.bin");
    let first = fleet.run(&book).expect_code(0);
    assert_changed(&first, 1);
    assert_eq!(
        sh(&format!(
            "cmp {} {} && echo same",
            big.display(),
            dest.display()
        )),
        "same"
    );
    assert_eq!(mode(&dest), 0o640);
    let before = stamp(&dest);
    let second = fleet.run(&book).expect_code(0);
    assert_changed(&second, 0);
    assert_eq!(stamp(&dest), before);
}

/// The regression the issue names: a connection lost mid-upload must leave the old file.
#[test]
fn copy_interrupted_mid_transfer_leaves_the_old_file_intact() {
    let fleet = Fleet::up(1);
    let root = fleet.node_root("node1");
    let old = node_file(&fleet, "app.conf", "the old, good config\n");
    let big = fleet.path("files/app.conf");
    std::fs::create_dir_all(big.parent().expect("dir")).expect("mkdir");
    sh(&format!("head -c 1500000000 /dev/zero > {}", big.display()));
    let book = playbook(
        &fleet,
        "copy.yml",
        "    - copy: {src: app.conf, dest: \"{{ root }}/app.conf\"}\n",
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("run")
        .arg(&book)
        .arg("-i")
        .arg(&fleet.lab.inventory)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("drover");
    // Wait for the temp file to start growing, then cut the connection: stop the node's sshd
    // and kill the session processes it forked for drover (by their pids).
    let sshd = fleet.lab.nodes[0].pid.expect("sshd pid");
    let mut saw_temp = false;
    for _ in 0..600 {
        let temp = sh(&format!(
            "find {} -maxdepth 1 -name '.app.conf.drover-tmp-*' -size +1k | head -1",
            root.display()
        ));
        if !temp.is_empty() {
            saw_temp = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(saw_temp, "the upload never started");
    let sessions = sh(&format!("pgrep -P {sshd} || true"));
    fleet.lab.stop_node("node1").expect("stop");
    for pid in sessions.split_whitespace() {
        sh(&format!("kill -9 {pid} 2>/dev/null || true"));
    }
    let status = child.wait().expect("drover exit");
    assert!(!status.success(), "the copy finished before the cut");
    assert_eq!(
        std::fs::read_to_string(&old).expect("old file"),
        "the old, good config\n"
    );
    let _ = std::fs::remove_file(&big);
}

/// Every path below `dir` (relative, sorted) with its stamp: a run that should touch nothing
/// must leave this list identical.
fn tree_stamps(dir: &Path) -> Vec<(String, (i64, i64, u32))> {
    let listing = sh(&format!("cd '{}' && find . | sort", dir.display()));
    listing
        .lines()
        .map(|rel| (rel.to_string(), stamp(&dir.join(rel))))
        .collect()
}

/// Runs `book` in check mode (plus `flags`): it must report `changed` tasks changed and leave
/// every path under `root` as it was.
fn check_touches_nothing(
    fleet: &Fleet,
    book: &Path,
    root: &Path,
    flags: &[&str],
    changed: u32,
) -> Run {
    let before = tree_stamps(root);
    let run = fleet.run(book).arg("--check").args(flags).expect_code(0);
    assert_changed(&run, changed);
    assert_eq!(tree_stamps(root), before, "check mode touched the node");
    run
}

/// Runs `book` again: `ok` everywhere, nothing under `root` touched; returns the stamps.
fn rerun_touches_nothing(
    fleet: &Fleet,
    book: &Path,
    root: &Path,
) -> Vec<(String, (i64, i64, u32))> {
    let before = tree_stamps(root);
    let run = fleet.run(book).expect_code(0);
    assert_changed(&run, 0);
    assert_eq!(tree_stamps(root), before, "the second run touched the node");
    before
}

#[test]
fn copy_directory_trailing_slash_copies_contents_and_no_slash_the_directory() {
    let fleet = Fleet::up(1);
    let root = fleet.node_root("node1");
    fleet.write("files/site/index.html", "<h1>hi</h1>\n");
    fleet.write("files/site/css/app.css", "body { color: red; }\n");
    std::fs::create_dir_all(fleet.path("files/site/empty")).expect("mkdir");
    let book = playbook(
        &fleet,
        "tree.yml",
        r#"    - copy: {src: site/, dest: "{{ root }}/contents", mode: "0640", directory_mode: "0750"}
    - copy: {src: site, dest: "{{ root }}/whole"}
"#,
    );
    give_to_lab_user(&fleet, &root);

    check_touches_nothing(&fleet, &book, &root, &[], 2);
    assert!(!root.join("contents").exists() && !root.join("whole").exists());

    let first = fleet.run(&book).expect_code(0);
    assert_changed(&first, 2);
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).expect(rel);
    assert_eq!(read("contents/index.html"), "<h1>hi</h1>\n");
    assert_eq!(read("contents/css/app.css"), "body { color: red; }\n");
    assert!(root.join("contents/empty").is_dir());
    assert!(!root.join("contents/site").exists());
    assert_eq!(read("whole/site/css/app.css"), "body { color: red; }\n");
    assert!(!root.join("whole/index.html").exists());
    assert_eq!(mode(&root.join("contents/css/app.css")), 0o640);
    assert_eq!(mode(&root.join("contents/css")), 0o750);
    assert_eq!(mode(&root.join("whole/site/index.html")), 0o644);

    let before = rerun_touches_nothing(&fleet, &book, &root);

    // One text file changes: check + diff shows exactly that change and writes nothing.
    fleet.write("files/site/css/app.css", "body { color: blue; }\n");
    let diff = check_touches_nothing(&fleet, &book, &root, &["--diff"], 2);
    diff.stdout_has("-body { color: red; }")
        .stdout_has("+body { color: blue; }")
        .stdout_has("contents/css/app.css");
    assert!(!diff.stdout().contains("index.html"), "{}", diff.dump());

    let third = fleet.run(&book).expect_code(0);
    assert_changed(&third, 2);
    assert_eq!(read("contents/css/app.css"), "body { color: blue; }\n");
    assert_eq!(
        stamp(&root.join("contents/index.html")),
        before
            .iter()
            .find(|(p, _)| p == "./contents/index.html")
            .map(|(_, s)| *s)
            .expect("stamp"),
        "an unchanged file was rewritten"
    );
}

#[test]
fn copy_remote_src_file_and_directory_are_idempotent() {
    let fleet = Fleet::up(1);
    let root = fleet.node_root("node1");
    node_file(&fleet, "src/app.conf", "port=1\n");
    node_file(&fleet, "srctree/a.txt", "a\n");
    node_file(&fleet, "srctree/sub/b.txt", "b\n");
    node_file(&fleet, "dst/keep", "");
    std::fs::set_permissions(
        root.join("srctree/a.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    let book = playbook(
        &fleet,
        "remote.yml",
        r#"    - copy: {src: "{{ root }}/src/app.conf", dest: "{{ root }}/dst/app.conf", remote_src: yes, mode: "0640", validate: "test -s %s"}
    - copy: {src: "{{ root }}/srctree/", dest: "{{ root }}/contents", remote_src: yes}
    - copy: {src: "{{ root }}/srctree", dest: "{{ root }}/whole", remote_src: yes}
"#,
    );

    check_touches_nothing(&fleet, &book, &root, &[], 3);
    assert!(!root.join("dst/app.conf").exists());
    assert!(!root.join("contents").exists() && !root.join("whole").exists());

    let first = fleet.run(&book).expect_code(0);
    assert_changed(&first, 3);
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).expect(rel);
    assert_eq!(read("dst/app.conf"), "port=1\n");
    assert_eq!(mode(&root.join("dst/app.conf")), 0o640);
    assert_eq!(read("contents/sub/b.txt"), "b\n");
    assert_eq!(read("whole/srctree/a.txt"), "a\n");
    assert!(!root.join("contents/srctree").exists());
    // `cp -a`: a new file keeps its source's mode.
    assert_eq!(mode(&root.join("contents/a.txt")), 0o600);

    rerun_touches_nothing(&fleet, &book, &root);

    std::fs::write(root.join("srctree/sub/b.txt"), "b2\n").expect("write");
    std::fs::write(root.join("src/app.conf"), "port=2\n").expect("write");
    let diff = check_touches_nothing(&fleet, &book, &root, &["--diff"], 3);
    diff.stdout_has("-port=1")
        .stdout_has("+port=2")
        .stdout_has("+b2");
    assert_eq!(read("dst/app.conf"), "port=1\n");
    let third = fleet.run(&book).expect_code(0);
    assert_changed(&third, 3);
    assert_eq!(read("dst/app.conf"), "port=2\n");
    assert_eq!(read("whole/srctree/sub/b.txt"), "b2\n");
}

#[test]
fn copy_with_a_missing_src_points_at_the_task_line() {
    let fleet = Fleet::up(1);
    let book = playbook(
        &fleet,
        "missing.yml",
        r#"    - name: a local src that is not there
      copy: {src: nowhere/, dest: "{{ root }}/x"}
"#,
    );
    let run = fleet.run(&book).expect_code(2);
    run.stdout_has("missing.yml:6:")
        .stdout_has("could not find `nowhere/`");

    let remote = playbook(
        &fleet,
        "missing-remote.yml",
        r#"    - name: a node src that is not there
      copy: {src: "{{ root }}/nowhere", dest: "{{ root }}/y", remote_src: yes}
"#,
    );
    fleet
        .run(&remote)
        .expect_code(2)
        .stdout_has("missing-remote.yml:6:")
        .stdout_has("does not exist on the node");
    let root = fleet.node_root("node1");
    assert!(!root.join("x").exists() && !root.join("y").exists());

    let both = playbook(
        &fleet,
        "both.yml",
        "    - copy: {src: nowhere/, content: hi, dest: \"{{ root }}/z\"}\n",
    );
    let run = fleet.run(&both).expect_code(4);
    let text = run.stdout() + &run.stderr();
    assert!(text.contains("both.yml:5"), "{}", run.dump());
    assert!(
        text.contains("takes only one of: src, content"),
        "{}",
        run.dump()
    );
}

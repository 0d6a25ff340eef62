//! `drover inventory` prints what `ansible-inventory` prints for the same input (outputs of
//! ansible-core 2.19 captured in tests/fixtures/inventory).

mod common;

use common::drover;
use std::path::Path;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inventory")
        .join(name)
}

#[test]
fn graph_matches_ansible_inventory_graph() {
    for name in ["fleet.yml", "fleet.ini", "precedence.yml"] {
        let run = drover()
            .arg("inventory")
            .arg("-i")
            .arg(fixture(name))
            .arg("--graph")
            .expect_code(0);
        let expected = std::fs::read_to_string(fixture(&format!("{name}.graph.ansible.txt")))
            .expect("fixture");
        assert_eq!(run.stdout(), expected, "{name}");
    }
}

#[test]
fn list_matches_ansible_inventory_list() {
    for name in [
        "fleet.yml",
        "fleet.ini",
        "precedence.yml",
        "values.ini",
        "edge.yml",
    ] {
        assert_list_matches(name, &format!("{name}.ansible.json"), &[]);
    }
}

/// `drover inventory -i INPUT --list` equals ansible-inventory's captured output (minus its
/// `_meta.profile`).
fn assert_list_matches(input: &str, expected: &str, extra: &[std::path::PathBuf]) {
    let run = drover()
        .arg("inventory")
        .arg("-i")
        .arg(fixture(input))
        .arg("--list")
        .args(extra)
        .expect_code(0);
    let mut ours: serde_json::Value = serde_json::from_str(&run.stdout()).expect("json");
    let mut theirs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(expected)).expect("fixture"))
            .expect("json");
    for v in [&mut ours, &mut theirs] {
        if let Some(meta) = v.get_mut("_meta").and_then(|m| m.as_object_mut()) {
            meta.remove("profile");
        }
    }
    assert_eq!(ours, theirs, "{input}");
}

#[test]
fn list_with_var_dirs_scripts_and_directories_matches_ansible_inventory() {
    for (input, expected) in [
        ("vardirs/hosts.ini", "vardirs.ansible.json"),
        ("invdir", "invdir.ansible.json"),
        ("script-nometa.sh", "script-nometa.sh.ansible.json"),
    ] {
        assert_list_matches(input, expected, &[]);
    }
    // `--playbook-dir`: that directory's group_vars/host_vars rank above the inventory's.
    assert_list_matches(
        "vardirs/hosts.ini",
        "vardirs.pbdir.ansible.json",
        &["--playbook-dir".into(), fixture("pbdir")],
    );
}

#[test]
fn host_shows_group_vars_and_host_vars_of_one_host() {
    let vars = host_vars("vardirs/hosts.ini", "db1");
    assert_eq!(vars["level"], "host_vars_db1");
    assert_eq!(vars["db_engine"], "mariadb");
}

/// `drover inventory -i INPUT --host HOST`, parsed.
fn host_vars(input: &str, host: &str) -> serde_json::Value {
    let run = drover()
        .arg("inventory")
        .arg("-i")
        .arg(fixture(input))
        .args(["--host", host])
        .expect_code(0);
    serde_json::from_str(&run.stdout()).expect("json")
}

#[test]
fn malformed_group_vars_file_points_at_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hosts"), "[web]\nweb1\n").expect("write");
    std::fs::create_dir_all(dir.path().join("group_vars/web")).expect("mkdir");
    std::fs::write(
        dir.path().join("group_vars/web/main.yml"),
        "port: 80\nusers: [alice, bob\nmode: x\n",
    )
    .expect("write");
    let list_fails = || {
        drover()
            .env("NO_COLOR", "1")
            .arg("inventory")
            .arg("-i")
            .arg(dir.path().join("hosts"))
            .arg("--list")
            .expect_code(4)
    };
    let run = list_fails();
    let err = run.stderr();
    assert!(err.contains("invalid YAML in variables file"), "{err}");
    // file:line:col, the offending line, and the label under the column the parser stopped at.
    assert!(err.contains("group_vars/web/main.yml:3:5]"), "{err}");
    assert!(
        err.contains(" 3 | mode: x\n   :     |\n"),
        "no caret: {err}"
    );

    // A list is valid YAML but not a variables file.
    std::fs::write(dir.path().join("group_vars/web/main.yml"), "- a\n- b\n").expect("write");
    let run = list_fails();
    run.stderr_has("must hold a mapping of variables, found a list")
        .stderr_has("group_vars/web/main.yml:1:1]");
}

#[test]
fn host_shows_one_hosts_variables_and_unknown_hosts_are_an_error() {
    assert!(host_vars("fleet.yml", "hs01.example.net").is_object());
    drover()
        .arg("inventory")
        .arg("-i")
        .arg(fixture("fleet.yml"))
        .args(["--host", "nope"])
        .expect_code(5);
}

/// The whole diagnostic for a malformed group_vars file, pinned (`UPDATE_SNAPSHOTS=1` rewrites
/// it): file:line:col, the lines around it and the label under the offending column.
#[test]
fn malformed_group_vars_diagnostic_is_pinned() {
    let run = drover()
        .env("NO_COLOR", "1")
        .current_dir(fixture(""))
        .args(["inventory", "-i", "bad-group-vars/hosts", "--list"])
        .expect_code(4);
    let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/bad-group-vars.txt");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snapshot, run.stderr()).expect("write snapshot");
    }
    let expected = std::fs::read_to_string(&snapshot).expect("snapshot (UPDATE_SNAPSHOTS=1)");
    assert_eq!(run.stderr(), expected);
}

/// Host ranges expand in time linear in the hosts they give (100,000 hosts list in seconds;
/// this took minutes when each insertion scanned the group), and one that would give more
/// than drover's cap is refused at its line before any host is built, not left to eat the
/// machine's memory.
#[test]
fn host_ranges_are_linear_and_capped_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.ini");
    std::fs::write(&big, "[fleet]\nh[00000:99999] ansible_host=127.0.0.1\n").expect("write");
    let run = drover()
        .args(["inventory", "--list", "-i"])
        .arg(&big)
        .expect_code(0);
    let list: serde_json::Value = serde_json::from_str(&run.stdout()).expect("JSON");
    let hosts = list["fleet"]["hosts"].as_array().expect("fleet hosts");
    assert_eq!(hosts.len(), 100_000);
    assert_eq!(hosts[0], "h00000");
    assert_eq!(hosts[99_999], "h99999");

    for (entry, count) in [
        ("h[0:99999999]", "100000000"),
        ("h[a:z][0:9][0:9][0:9][0:9]", "260000"),
    ] {
        let huge = dir.path().join("huge.ini");
        std::fs::write(&huge, format!("[fleet]\n{entry}\n")).expect("write");
        drover()
            .args(["inventory", "--list", "-i"])
            .arg(&huge)
            .expect_code(4)
            .stderr_has(&format!(
                "gives {count} hosts, more than drover's limit of 100000"
            ))
            .stderr_has("huge.ini:2:1");
    }
}

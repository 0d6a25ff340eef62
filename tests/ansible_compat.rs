//! The Ansible compatibility corpus: every case under `tests/compat/NN-name/` runs on one lab
//! under drover and on another under the real `ansible-playbook`, and the files both leave on
//! the nodes must be identical (paths, types, contents, modes), as must the PLAY RECAP counts.
//!
//! A case is a directory with `site.yml`, an `inventory/` directory (read as one inventory by
//! both tools) and whatever the playbook uses (group_vars, host_vars, roles, templates, files).
//! The harness copies it into each lab's temp dir and adds `inventory/zz-lab.yml`, which gives
//! each of the case's hosts (in sorted order) the connection of one lab node and `node_root`,
//! that node's data directory: playbooks write only under `{{ node_root }}` (and, on the
//! control machine, under `{{ playbook_dir }}/controller/`, which is compared too).
//! Optional files: `ARGS` (extra command-line words, one per line, for both tools) and
//! `NO_RECAP` (why the recap counts cannot be compared), `EXIT` (the exit code both tools must
//! give, when a case fails a host on purpose; 0 without it). Cases named in `tests/compat/PENDING`
//! wait for a drover feature: they run under Ansible only, so they stay correct, and the test
//! says loudly that they are pending.

mod common;

use common::ansible::{ansible_playbook, dump, output_within};
use common::{Fleet, drover};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// One playbook run (either tool), at most.
const RUN_LIMIT: Duration = Duration::from_secs(300);

macro_rules! compat_cases {
    ($($test:ident => $dir:literal,)*) => {
        $(
            #[test]
            fn $test() {
                run_case($dir);
            }
        )*

        /// Every directory under tests/compat is a case with a test: none is forgotten.
        #[test]
        fn every_case_directory_has_a_test() {
            let listed: Vec<&str> = vec![$($dir),*];
            check_cases_listed(&listed);
        }
    };
}

compat_cases! {
    c01_static_site => "01-static-site",
    c02_nginx_handlers => "02-nginx-handlers",
    c03_app_layout_loops => "03-app-layout-loops",
    c04_block_rescue_backup => "04-block-rescue-backup",
    c05_config_edits => "05-config-edits",
    c06_template_filters => "06-template-filters",
    c07_var_precedence => "07-var-precedence",
    c08_ini_ranges => "08-ini-ranges",
    c09_tags => "09-tags",
    c10_import_tasks => "10-import-tasks",
    c11_register_set_fact => "11-register-set-fact",
    c12_stat_fetch => "12-stat-fetch",
    c13_when_lists => "13-when-lists",
    c14_role_app => "14-role-app",
    c15_loop_control_dicts => "15-loop-control-dicts",
    c16_pre_post_import_playbook => "16-pre-post-import-playbook",
    c17_become_environment => "17-become-environment",
    c18_delegate_no_log_include => "18-delegate-no-log-include",
    c19_dict_filters => "19-dict-filters",
    c20_patterns_gates => "20-patterns-gates",
    c21_task_block_vars => "21-task-block-vars",
    c22_serial_omit => "22-serial-omit",
    c23_undefined_defaults => "23-undefined-defaults",
    c24_yaml_merge_keys => "24-yaml-merge-keys",
    c25_magic_vars_hostvars => "25-magic-vars-hostvars",
    c26_filter_signatures => "26-filter-signatures",
    c30_vault => "30-vault",
    c40_include_role => "40-include-role",
    c41_diff_environment => "41-diff-environment",
    c42_force_handlers => "42-force-handlers",
    c43_force_handlers_aborted_play => "43-force-handlers-aborted-play",
    c50_with_lookups => "50-with-lookups",
    c51_until_break_when => "51-until-break-when",
    c52_yaml_regex_filters => "52-yaml-regex-filters",
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn compat_dir() -> PathBuf {
    repo().join("tests/compat")
}

fn check_cases_listed(listed: &[&str]) {
    let mut missing = Vec::new();
    for entry in fs::read_dir(compat_dir()).expect("read tests/compat") {
        let entry = entry.expect("read tests/compat");
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && !listed.contains(&name.as_str()) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "cases without a test in tests/ansible_compat.rs: {missing:?}"
    );
    for (case, _) in pending() {
        assert!(
            listed.contains(&case.as_str()),
            "tests/compat/PENDING names `{case}`, which is not a case"
        );
    }
}

/// `tests/compat/PENDING`: `case-name  feature it waits for`, one a line, `#` comments.
fn pending() -> Vec<(String, String)> {
    let text = fs::read_to_string(compat_dir().join("PENDING")).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(char::is_whitespace) {
            Some((case, why)) => (case.to_string(), why.trim().to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

/// Written past libtest's capture, so that a pending case shows in every run's output.
fn shout(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

fn run_case(name: &str) {
    let case = compat_dir().join(name);
    assert!(case.join("site.yml").is_file(), "{name}: no site.yml");
    assert!(case.join("inventory").is_dir(), "{name}: no inventory/ dir");
    let ansible = ansible_playbook();
    let hosts = case_hosts(&case);
    assert!(
        (1..=4).contains(&hosts.len()),
        "{name}: the inventory has {} hosts; cases use 1 to 4",
        hosts.len()
    );
    let args = case_args(&case);
    let waits_for = pending()
        .into_iter()
        .find(|(c, _)| c == name)
        .map(|(_, why)| why);

    if fs::read_to_string(case.join("site.yml")).is_ok_and(|t| t.contains("become")) {
        // Both tools need the lab user's passwordless sudo (root only; CI runs as root).
        drover::lab::escalation::enable_become().expect("lab become rules (root, sudo installed)");
    }
    let ansible_fleet = Fleet::up(hosts.len());
    let ansible_dir = stage(&ansible_fleet, &case, &hosts);
    let ansible_run = run_ansible(&ansible, &ansible_fleet, &ansible_dir, &args);
    let exit = case_exit(&case);
    if ansible_run.status.code() != Some(exit) {
        panic!(
            "{name}: ansible-playbook exited with {:?}, not {exit}: the case itself is wrong\n{}",
            ansible_run.status.code(),
            dump(&ansible_run)
        );
    }
    if let Some(why) = waits_for {
        shout(&format!(
            "\n*** PENDING compat case {name}: waits for {why}; ran under ansible-playbook only \
             (tests/compat/PENDING) ***\n"
        ));
        return;
    }

    let drover_fleet = Fleet::up(hosts.len());
    let drover_dir = stage(&drover_fleet, &case, &hosts);
    let state_dir = drover_fleet.path("state");
    let drover_run = drover()
        .arg("run")
        .arg(drover_dir.join("site.yml"))
        .arg("-i")
        .arg(drover_dir.join("inventory"))
        .arg("--state-dir")
        .arg(&state_dir)
        .args(&args)
        .current_dir(&drover_dir)
        .expect_code(exit);

    let labs = [drover_fleet.dir.path(), ansible_fleet.dir.path()];
    for (i, host) in hosts.iter().enumerate() {
        let node = format!("node{}", i + 1);
        compare_trees(
            name,
            &format!("{host} (node root)"),
            &drover_fleet.node_root(&node),
            &ansible_fleet.node_root(&node),
            labs,
        );
    }
    compare_trees(
        name,
        "the control machine (controller/)",
        &drover_dir.join("controller"),
        &ansible_dir.join("controller"),
        labs,
    );

    if case.join("NO_RECAP").exists() {
        return;
    }
    let ansible_stdout = String::from_utf8_lossy(&ansible_run.stdout).into_owned();
    for host in &hosts {
        let theirs = recap_counts(&ansible_stdout, host);
        let ours = recap_counts(&drover_run.stdout(), host);
        assert_eq!(
            ours,
            theirs,
            "{name}: PLAY RECAP of {host} differs (left drover, right ansible-playbook)\n\
             --- drover ---\n{}\n--- ansible-playbook ---\n{ansible_stdout}",
            drover_run.dump()
        );
    }
}

/// The case's hosts, sorted, from drover's reading of its inventory (checked against
/// ansible-inventory by the inventory tests).
fn case_hosts(case: &Path) -> Vec<String> {
    let run = drover()
        .args(["inventory", "--list", "-i"])
        .arg(case.join("inventory"))
        .expect_code(0);
    let list: serde_json::Value = serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("inventory --list is not JSON ({e})\n{}", run.dump()));
    let mut hosts: Vec<String> = list["_meta"]["hostvars"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    // Hosts without variables are not in _meta: take them from the groups too.
    for group in list.as_object().into_iter().flat_map(|m| m.values()) {
        for h in group["hosts"].as_array().into_iter().flatten() {
            if let Some(h) = h.as_str() {
                hosts.push(h.to_string());
            }
        }
    }
    hosts.sort();
    hosts.dedup();
    hosts
}

/// `EXIT`: the exit code both tools must give (a case that fails a host on purpose).
fn case_exit(case: &Path) -> i32 {
    match fs::read_to_string(case.join("EXIT")) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{}: EXIT is not a number", case.display())),
        Err(_) => 0,
    }
}

fn case_args(case: &Path) -> Vec<String> {
    fs::read_to_string(case.join("ARGS"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// Copies the case into the fleet's temp dir and adds the lab's connection inventory.
fn stage(fleet: &Fleet, case: &Path, hosts: &[String]) -> PathBuf {
    let dir = fleet.path("case");
    copy_tree(case, &dir);
    let lab = &fleet.lab;
    let mut text = String::from(
        "# Written by tests/ansible_compat.rs: the lab connection of each host.\nall:\n  hosts:\n",
    );
    for (i, host) in hosts.iter().enumerate() {
        let node = &lab.nodes[i];
        text.push_str(&format!(
            "    {host}:\n      ansible_host: \"{}\"\n      ansible_port: {}\n      \
             ansible_user: \"{}\"\n      ansible_ssh_private_key_file: \"{}\"\n      \
             drover_known_hosts_file: \"{}\"\n      node_root: \"{}\"\n",
            node.address,
            node.port,
            lab.user,
            lab.key.display(),
            lab.known_hosts.display(),
            node.root.display(),
        ));
    }
    fs::write(dir.join("inventory/zz-lab.yml"), text).expect("write zz-lab.yml");
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read case dir") {
        let entry = entry.expect("read case dir");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy case file");
        }
    }
}

fn run_ansible(ansible: &Path, fleet: &Fleet, dir: &Path, args: &[String]) -> Output {
    let tmp = fleet.path("ansible-tmp");
    let remote_tmp = fleet.path("ansible-remote-tmp");
    for d in [&tmp, &remote_tmp] {
        fs::create_dir_all(d).expect("mkdir ansible tmp");
    }
    // The lab user (not us) writes the remote temp dir; the sticky bit keeps it private.
    fs::set_permissions(&remote_tmp, fs::Permissions::from_mode(0o1777)).expect("chmod");
    let mut command = Command::new(ansible);
    command
        .arg("site.yml")
        .arg("-i")
        .arg("inventory")
        .args(args)
        .current_dir(dir)
        .env("ANSIBLE_SSH_ARGS", ssh_args(&fleet.lab.known_hosts))
        .env("ANSIBLE_HOST_KEY_CHECKING", "True")
        .env("ANSIBLE_PIPELINING", "True")
        .env("ANSIBLE_FORKS", fleet.lab.nodes.len().to_string())
        .env("ANSIBLE_RETRY_FILES_ENABLED", "False")
        .env("ANSIBLE_LOCAL_TEMP", &tmp)
        .env("ANSIBLE_REMOTE_TEMP", &remote_tmp)
        .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .env("ANSIBLE_STDOUT_CALLBACK", "default")
        .env("ANSIBLE_CONFIG", dir.join("no-ansible.cfg"))
        .env("ANSIBLE_HOME", fleet.path("ansible-home"))
        .env("ANSIBLE_DEPRECATION_WARNINGS", "False");
    output_within(command, RUN_LIMIT, "ansible-playbook")
}

/// Lab known_hosts, strict checking, and no ControlPersist master left behind after the test.
fn ssh_args(known_hosts: &Path) -> String {
    format!(
        "-o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o ControlMaster=no \
         -o ControlPath=none -o BatchMode=yes",
        known_hosts.display()
    )
}

/// What the comparison sees of a file: its type, permission bits, and content or target.
#[derive(Debug, PartialEq)]
enum Entry {
    File { mode: u32, content: Vec<u8> },
    Dir { mode: u32 },
    Link { target: PathBuf },
    Other,
}

fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let meta = fs::symlink_metadata(&path).expect("stat");
        let rel = path.strip_prefix(root).expect("under root").to_path_buf();
        let mode = meta.permissions().mode() & 0o7777;
        let entry = if meta.file_type().is_symlink() {
            Entry::Link {
                target: fs::read_link(&path).expect("readlink"),
            }
        } else if meta.is_dir() {
            walk(root, &path, out);
            Entry::Dir { mode }
        } else if meta.is_file() {
            Entry::File {
                mode,
                content: fs::read(&path).expect("read"),
            }
        } else {
            Entry::Other
        };
        out.insert(rel, entry);
    }
}

/// The same text with each lab's temp dir (the part of node paths that differs between the
/// two labs) replaced by `<LAB>`.
fn normalise(content: &[u8], labs: [&Path; 2]) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(content).into_owned();
    for lab in labs {
        let lab = lab.display().to_string();
        text = text.replace(&lab, "<LAB>");
        // Relative paths too (fetch puts the node's absolute path under `dest/HOST/`).
        text = text.replace(lab.trim_start_matches('/'), "<LAB>");
    }
    text.into_bytes()
}

fn compare_trees(case: &str, what: &str, ours: &Path, theirs: &Path, labs: [&Path; 2]) {
    let keyed = |root: &Path| -> BTreeMap<PathBuf, Entry> {
        snapshot(root)
            .into_iter()
            .map(|(path, entry)| {
                let path = normalise(path.as_os_str().as_encoded_bytes(), labs);
                (
                    PathBuf::from(String::from_utf8_lossy(&path).into_owned()),
                    entry,
                )
            })
            .collect()
    };
    let a = keyed(ours);
    let b = keyed(theirs);
    let paths: std::collections::BTreeSet<&PathBuf> = a.keys().chain(b.keys()).collect();
    for path in paths {
        let (x, y) = (a.get(path), b.get(path));
        let same = match (x, y) {
            (
                Some(Entry::File {
                    mode: m1,
                    content: c1,
                }),
                Some(Entry::File {
                    mode: m2,
                    content: c2,
                }),
            ) => m1 == m2 && normalise(c1, labs) == normalise(c2, labs),
            (Some(Entry::Link { target: t1 }), Some(Entry::Link { target: t2 })) => {
                normalise(t1.as_os_str().as_encoded_bytes(), labs)
                    == normalise(t2.as_os_str().as_encoded_bytes(), labs)
            }
            _ => x == y,
        };
        if same {
            continue;
        }
        let describe = |e: Option<&Entry>| match e {
            None => "missing".to_string(),
            Some(Entry::File { mode, content }) => {
                format!("file, mode {mode:04o}, {} bytes", content.len())
            }
            Some(Entry::Dir { mode }) => format!("directory, mode {mode:04o}"),
            Some(Entry::Link { target }) => format!("symlink to {}", target.display()),
            Some(Entry::Other) => "special file".to_string(),
        };
        let mut message = format!(
            "{case}: {what}: `{}` differs\n  drover:           {}\n  ansible-playbook: {}\n",
            path.display(),
            describe(x),
            describe(y)
        );
        if let (Some(Entry::File { content: c1, .. }), Some(Entry::File { content: c2, .. })) =
            (x, y)
        {
            let left = String::from_utf8_lossy(c1);
            let right = String::from_utf8_lossy(c2);
            let diff = similar::TextDiff::from_lines(left.as_ref(), right.as_ref())
                .unified_diff()
                .header("drover", "ansible-playbook")
                .to_string();
            message.push_str(&diff);
        }
        panic!("{message}");
    }
}

/// `ok`, `changed`, `failed`, `skipped`, `rescued`, `ignored` of a host's PLAY RECAP line.
fn recap_counts(stdout: &str, host: &str) -> BTreeMap<String, String> {
    let recap = stdout
        .rsplit_once("PLAY RECAP")
        .map(|(_, r)| r)
        .unwrap_or_else(|| panic!("no PLAY RECAP in\n{stdout}"));
    let line = recap
        .lines()
        .find(|l| l.split_whitespace().next() == Some(host))
        .unwrap_or_else(|| panic!("no recap line for {host} in\n{stdout}"));
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter(|(k, _)| k != &"unreachable")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

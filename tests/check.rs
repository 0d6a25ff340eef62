//! `drover check` on a directory of bad inputs: each `tests/bad-inputs/NAME.yml` is checked
//! (with `NAME.hosts` as its inventory when there is one, else `hosts`) and everything the
//! command prints is compared with `NAME.expected` beside it. Nothing connects.
//!
//! To re-bless the snapshots after an intended change of a message:
//! `UPDATE_SNAPSHOTS=1 cargo test --test check`, then review the diff of `tests/bad-inputs/`.

mod common;

use common::drover;
use std::path::Path;

#[test]
fn bad_inputs_give_their_pinned_diagnostics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-inputs");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/bad-inputs")
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter_map(|name| name.strip_suffix(".yml").map(str::to_string))
        .collect();
    names.sort();
    assert!(names.len() >= 15, "only {} bad inputs", names.len());
    let bless = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut mismatches = Vec::new();
    for name in &names {
        let inventory = if dir.join(format!("{name}.hosts")).exists() {
            format!("{name}.hosts")
        } else {
            "hosts".to_string()
        };
        // Relative paths from the directory itself: the output names no absolute path.
        let run = drover()
            .current_dir(&dir)
            .args(["check", &format!("{name}.yml"), "-i", &inventory])
            .expect_code(4);
        let got = format!("{}{}", run.stdout(), run.stderr());
        assert!(
            !got.contains(env!("CARGO_MANIFEST_DIR")),
            "{name}: output names an absolute path:\n{got}"
        );
        assert!(!got.contains('\u{1b}'), "{name}: output has colors:\n{got}");
        let snapshot = dir.join(format!("{name}.expected"));
        if bless {
            std::fs::write(&snapshot, &got).expect("write snapshot");
            continue;
        }
        let expected = std::fs::read_to_string(&snapshot).unwrap_or_default();
        if got != expected {
            mismatches.push(format!("--- {name}.expected\n{expected}\n+++ got\n{got}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} diagnostics differ (UPDATE_SNAPSHOTS=1 re-blesses):\n{}",
        mismatches.len(),
        names.len(),
        mismatches.join("\n")
    );
}

/// Every problem of a file comes in one pass, each once.
#[test]
fn all_problems_of_a_file_are_reported_once_in_one_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-inputs");
    let run = drover()
        .current_dir(&dir)
        .args(["check", "many-problems.yml", "-i", "hosts"])
        .expect_code(4);
    let err = run.stderr();
    for needle in [
        "many-problems.yml:3:7",
        "did you mean `shell`?",
        "many-problems.yml:5:7",
        "many-problems.yml:7:7",
        "`with_fileglob` is not supported",
        "many-problems.yml:9:17",
    ] {
        assert_eq!(err.matches(needle).count(), 1, "`{needle}` once in:\n{err}");
    }
}

/// A name registered in a file `include_tasks` reads is defined for the tasks after it; a
/// file chosen at run time may define anything, so nothing is reported as undefined.
#[test]
fn names_defined_in_included_files_are_not_undefined() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).expect(name);
    let check = |book: &str| {
        drover()
            .current_dir(dir.path())
            .args(["check", book, "-i", "hosts"])
    };
    write("hosts", "web1 ansible_host=127.0.0.1\n");
    write("probe.yml", "- command: uname -r\n  register: kernel\n");
    write(
        "static.yml",
        "- hosts: all\n  tasks:\n    - include_tasks: probe.yml\n    - debug: msg=\"{{ kernel.stdout }}\"\n",
    );
    check("static.yml").expect_code(0);
    write(
        "dynamic.yml",
        "- hosts: all\n  tasks:\n    - include_tasks: \"{{ 'probe' }}.yml\"\n    - debug: msg=\"{{ kernel.stdout }} {{ other }}\"\n",
    );
    check("dynamic.yml").expect_code(0);
    // Without the include, the same read is reported.
    write(
        "none.yml",
        "- hosts: all\n  tasks:\n    - debug: msg=\"{{ kernel.stdout }}\"\n",
    );
    let run = check("none.yml").expect_code(4);
    assert!(run.stderr().contains("kernel"), "{}", run.stderr());
}

#[test]
fn run_refuses_what_check_finds_before_any_task_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("marker");
    std::fs::write(
        dir.path().join("hosts.yml"),
        "all:\n  hosts:\n    localhost: { ansible_connection: local }\n",
    )
    .expect("inventory");
    let playbook = dir.path().join("site.yml");
    std::fs::write(
        &playbook,
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: touch {}\n    # A variable whose name contains `undefined` guards nothing.\n    - shell: \"echo {{{{ nope_undefined }}}}\"\n",
            marker.display()
        ),
    )
    .expect("playbook");
    for command in [&["check"][..], &["run", "--state-dir"][..]] {
        let mut cmd = drover().args(command);
        if command.len() > 1 {
            cmd = cmd.arg(dir.path().join("state"));
        }
        cmd.arg(&playbook)
            .arg("-i")
            .arg(dir.path().join("hosts.yml"))
            .expect_code(4)
            .stderr_has("undefined variable `nope_undefined`");
    }
    assert!(
        !marker.exists(),
        "a task ran before the check refused the run"
    );
    assert!(
        !dir.path().join("state/runs").exists(),
        "no journal for a refused run"
    );
}

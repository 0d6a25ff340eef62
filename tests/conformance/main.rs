//! The conformance runner: ansible-core's own integration tests (`test/integration/targets/`
//! of the sdist of the release the compat venv installs) run under drover and under the real
//! `ansible-playbook`, and per target the asserts that passed, failed and were never reached.
//!
//! Each target runs on the control machine (`testhost ansible_connection=local`, ansible-test's
//! controller inventory) as `targets.rs` says. A target passes when every run ends as under
//! ansible-playbook (the same exit code) and every assert Ansible ran has Ansible's outcome
//! under drover. `tests/conformance/RESULTS.md` records the last full run:
//!
//! ```text
//! DROVER_CONFORMANCE_WRITE=1 cargo test --test conformance   # rewrite RESULTS.md
//! cargo test --test conformance                              # fail if a recorded pass fails
//! DROVER_CONFORMANCE_TARGETS=loops,assert cargo test --test conformance -- --nocapture
//! ```
//!
//! ansible-playbook's results depend only on the pinned release and the runs: they are kept
//! under `target/conformance/ansible-cache/` (keyed by a digest of both) so that later runs
//! run only drover.

#[path = "../common/mod.rs"]
mod common;
mod results;
mod sdist;
mod tally;
mod targets;

use common::ansible::{ANSIBLE_CORE_VERSION, ansible_playbook, run_within};
use results::{Outcome, RunOutcome};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use targets::{How, TARGETS, Target};

/// One playbook run (either tool), at most.
const RUN_LIMIT: Duration = Duration::from_secs(180);
/// Targets run at once (CI has two cores).
const WORKERS: usize = 2;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn results_path() -> PathBuf {
    repo().join("tests/conformance/RESULTS.md")
}

#[test]
fn conformance() {
    let started = Instant::now();
    let integration = sdist::integration_dir();
    let ansible = ansible_playbook();
    let only: Option<Vec<String>> = std::env::var("DROVER_CONFORMANCE_TARGETS")
        .ok()
        .map(|s| s.split(',').map(|t| t.trim().to_string()).collect());
    let write = std::env::var_os("DROVER_CONFORMANCE_WRITE").is_some();
    assert!(
        !(write && only.is_some()),
        "DROVER_CONFORMANCE_WRITE rewrites RESULTS.md from a full run: unset \
         DROVER_CONFORMANCE_TARGETS"
    );
    let work = repo().join("target/conformance/work");
    let _ = fs::remove_dir_all(&work);
    let runner = Runner {
        ansible,
        drover: PathBuf::from(env!("CARGO_BIN_EXE_drover")),
        drover_tree: stage(&integration, &work.join("drover")),
        ansible_tree: stage(&integration, &work.join("ansible")),
        work,
    };

    let queue: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| only.as_ref().is_none_or(|o| o.iter().any(|n| n == t.name)))
        .collect();
    let next = Mutex::new(0usize);
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                loop {
                    let i = {
                        let mut next = next.lock().expect("queue lock");
                        *next += 1;
                        *next - 1
                    };
                    let Some(target) = queue.get(i) else { break };
                    let outcome = runner.target(target);
                    outcomes.lock().expect("outcomes lock").push(outcome);
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().expect("outcomes");
    outcomes.sort_by(|a, b| a.name.cmp(&b.name));
    let report = results::render(&outcomes);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("{report}\n(conformance run took {:?})\n", started.elapsed()).as_bytes(),
    );
    if write {
        fs::write(results_path(), &report).expect("write tests/conformance/RESULTS.md");
        return;
    }
    let recorded = fs::read_to_string(results_path()).unwrap_or_default();
    let regressed: Vec<&Outcome> = results::passing(&recorded)
        .iter()
        .filter_map(|name| outcomes.iter().find(|o| &o.name == name))
        .filter(|o| !o.passes())
        .collect();
    assert!(
        regressed.is_empty(),
        "targets recorded as passing in tests/conformance/RESULTS.md fail now:\n{}",
        regressed
            .iter()
            .map(|o| format!("  {}: {}", o.name, o.why()))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A fresh copy of `test/integration` for one tool, with ansible-test's controller inventory.
fn stage(integration: &Path, dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).expect("mkdir work dir");
    let mut cp = Command::new("cp");
    cp.arg("-a").arg(integration).arg(dir);
    let out = run_within(cp, Duration::from_secs(120), "cp").expect("cp finishes");
    assert!(out.status.success(), "cp -a {}", integration.display());
    let tree = dir.join("integration");
    let python = repo().join("target/ansible-venv/bin/python");
    fs::write(
        tree.join("inventory"),
        format!(
            "[testgroup]\ntesthost ansible_connection=local ansible_pipelining=yes \
             ansible_python_interpreter={}\n",
            python.display()
        ),
    )
    .expect("write the inventory");
    tree
}

struct Runner {
    ansible: PathBuf,
    drover: PathBuf,
    drover_tree: PathBuf,
    ansible_tree: PathBuf,
    work: PathBuf,
}

/// One `ansible-playbook` line: environment, playbook, arguments, directory.
struct Line {
    text: String,
    env: Vec<(String, String)>,
    playbook: String,
    args: Vec<String>,
    /// Relative to the integration dir.
    dir: String,
}

impl Runner {
    /// ansible-test's `output_dir` of a target, one per tool, made on first use.
    fn output_dir(&self, tool: &str, name: &str) -> PathBuf {
        let dir = self.work.join(format!("{tool}-output")).join(name);
        fs::create_dir_all(&dir).expect("mkdir output_dir");
        dir
    }

    fn target(&self, target: &Target) -> Outcome {
        let lines = match &target.how {
            How::OutOfScope(why) => return Outcome::out_of_scope(target.name, why),
            How::Role => vec![self.role_line(target.name)],
            How::Script(lines) => lines.iter().map(|l| script_line(target.name, l)).collect(),
        };
        let reference = self.ansible_results(target.name, &lines);
        let mut runs = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let (ansible_exit, ansible_log) = &reference[i];
            let theirs = tally::from_ansible_log(ansible_log);
            let (drover_exit, stdout, stderr) = self.run_drover(target.name, i, line);
            let ours = tally::from_drover_json(&stdout, &self.drover_tree.join(&line.dir));
            let count = tally::compare(&theirs, &ours);
            let why = why_not(*ansible_exit, drover_exit, &stdout, &stderr, &theirs, &ours)
                .map(|w| w.replace(&self.drover_tree.display().to_string(), ""));
            runs.push(RunOutcome {
                line: line.text.clone(),
                ansible_exit: *ansible_exit,
                drover_exit,
                count,
                why,
            });
        }
        Outcome::ran(target.name, runs)
    }

    /// ansible-test's generated play for a target without runme.sh.
    fn role_line(&self, name: &str) -> Line {
        let aliases =
            fs::read_to_string(self.drover_tree.join("targets").join(name).join("aliases"))
                .unwrap_or_default();
        let gather = !aliases.lines().any(|l| l.trim() == "gather_facts/no");
        let playbook = format!("{name}-conformance.yml");
        for (tree, tool) in [
            (&self.drover_tree, "drover"),
            (&self.ansible_tree, "ansible"),
        ] {
            let text = format!(
                "- hosts: testhost\n  gather_facts: {gather}\n  vars:\n    output_dir: \"{}\"\n  \
                 roles:\n    - {name}\n",
                self.output_dir(tool, name).display()
            );
            fs::write(tree.join(&playbook), &text).expect("write the generated play");
        }
        Line {
            text: format!("(ansible-test's play: roles: [{name}], gather_facts: {gather})"),
            env: vec![("ANSIBLE_ROLES_PATH".into(), "targets".into())],
            playbook,
            args: vec!["-i".into(), "inventory".into()],
            dir: String::new(),
        }
    }

    /// Ansible's exit code and assert log per line, from the cache or a run.
    fn ansible_results(&self, name: &str, lines: &[Line]) -> Vec<(Option<i32>, String)> {
        let mut key = Sha256::new();
        key.update(ANSIBLE_CORE_VERSION);
        key.update(include_str!("callback_plugins/drover_asserts.py"));
        for line in lines {
            key.update(&line.text);
            key.update("\0");
            if line.dir.is_empty() {
                // The generated play (its output_dir) is part of what ran.
                key.update(fs::read(self.ansible_tree.join(&line.playbook)).unwrap_or_default());
            }
        }
        let digest: String = key
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let cache = repo().join(format!(
            "target/conformance/ansible-cache/{name}-{digest}.json"
        ));
        if let Ok(text) = fs::read_to_string(&cache)
            && let Ok(cached) = serde_json::from_str::<Vec<(Option<i32>, String)>>(&text)
            && cached.len() == lines.len()
        {
            return cached;
        }
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            out.push(self.run_ansible(name, i, line));
        }
        if let Some(parent) = cache.parent() {
            let _ = fs::create_dir_all(parent);
        }
        let _ = fs::write(&cache, serde_json::to_string(&out).unwrap_or_default());
        out
    }

    fn run_ansible(&self, name: &str, i: usize, line: &Line) -> (Option<i32>, String) {
        let scratch = self
            .work
            .join("ansible-scratch")
            .join(format!("{name}-{i}"));
        let log = scratch.join("asserts.jsonl");
        let output_dir = self.output_dir("ansible", name);
        for d in [&scratch, &output_dir] {
            fs::create_dir_all(d).expect("mkdir scratch");
        }
        let mut command = Command::new(&self.ansible);
        command
            .arg(&line.playbook)
            .args(&line.args)
            .current_dir(self.ansible_tree.join(&line.dir))
            .env("ANSIBLE_CONFIG", scratch.join("no-ansible.cfg"))
            .env("ANSIBLE_HOME", scratch.join("home"))
            .env("ANSIBLE_LOCAL_TEMP", scratch.join("tmp"))
            .env("ANSIBLE_REMOTE_TEMP", scratch.join("remote-tmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "False")
            .env("ANSIBLE_DEPRECATION_WARNINGS", "False")
            .env(
                "ANSIBLE_CALLBACK_PLUGINS",
                repo().join("tests/conformance/callback_plugins"),
            )
            .env("ANSIBLE_CALLBACKS_ENABLED", "drover_asserts")
            .env("DROVER_ASSERT_LOG", &log)
            .env("OUTPUT_DIR", &output_dir)
            .env("INVENTORY_PATH", self.ansible_tree.join("inventory"));
        for (k, v) in &line.env {
            command.env(k, v);
        }
        let run = run_within(command, RUN_LIMIT, "ansible-playbook");
        if let Some(out) = &run {
            // Kept for reading when a target surprises (target/conformance/work/).
            let _ = fs::write(scratch.join("stdout"), &out.stdout);
            let _ = fs::write(scratch.join("stderr"), &out.stderr);
        }
        let exit = run.and_then(|o| o.status.code());
        (exit, fs::read_to_string(&log).unwrap_or_default())
    }

    fn run_drover(&self, name: &str, i: usize, line: &Line) -> (Option<i32>, String, String) {
        let scratch = self.work.join("drover-scratch").join(format!("{name}-{i}"));
        let output_dir = self.output_dir("drover", name);
        for d in [&scratch, &output_dir] {
            fs::create_dir_all(d).expect("mkdir scratch");
        }
        let mut command = Command::new(&self.drover);
        command
            .arg("run")
            .arg(&line.playbook)
            .args(drover_args(&line.args))
            .arg("--output")
            .arg("json")
            .arg("--state-dir")
            .arg(scratch.join("state"))
            .current_dir(self.drover_tree.join(&line.dir))
            .env("NO_COLOR", "1")
            .env("OUTPUT_DIR", &output_dir)
            .env("INVENTORY_PATH", self.drover_tree.join("inventory"));
        for (k, v) in &line.env {
            command.env(k, v);
        }
        match run_within(command, RUN_LIMIT, "drover") {
            Some(out) => {
                let _ = fs::write(scratch.join("stdout"), &out.stdout);
                let _ = fs::write(scratch.join("stderr"), &out.stderr);
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )
            }
            None => (
                None,
                String::new(),
                format!("timed out after {RUN_LIMIT:?}"),
            ),
        }
    }
}

/// A runme.sh line (`NAME=value… playbook.yml args…`), run in the target's directory.
fn script_line(target: &str, text: &str) -> Line {
    let words = shlex::split(text).unwrap_or_else(|| panic!("{target}: bad line {text:?}"));
    let mut env = Vec::new();
    let mut rest = words.into_iter().peekable();
    while let Some(word) = rest.peek() {
        match word.split_once('=') {
            Some((k, v)) if k.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
                env.push((k.to_string(), v.to_string()));
                rest.next();
            }
            _ => break,
        }
    }
    let playbook = rest
        .next()
        .unwrap_or_else(|| panic!("{target}: no playbook in {text:?}"));
    let mut args: Vec<String> = rest.collect();
    if !args.iter().any(|a| a == "-i" || a == "--inventory") {
        args.extend(["-i".to_string(), "../../inventory".to_string()]);
    }
    Line {
        text: text.to_string(),
        env,
        playbook,
        args,
        dir: format!("targets/{target}"),
    }
}

/// ansible-playbook's words as drover spells them: verbosity has no meaning for drover.
fn drover_args(args: &[String]) -> Vec<String> {
    args.iter()
        .filter(|a| !(a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|c| c == 'v')))
        .cloned()
        .collect()
}

/// Why a run does not end as Ansible's, in one line.
fn why_not(
    ansible_exit: Option<i32>,
    drover_exit: Option<i32>,
    stdout: &str,
    stderr: &str,
    theirs: &[tally::AssertResult],
    ours: &[tally::AssertResult],
) -> Option<String> {
    if ansible_exit != drover_exit {
        let reason = stderr
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("error") || l.starts_with('×') || l.starts_with("x "))
            .map(str::to_string)
            .or_else(|| first_failure(stdout))
            .unwrap_or_default();
        return Some(format!(
            "exit {} (ansible-playbook {}){}{}",
            code(drover_exit),
            code(ansible_exit),
            if reason.is_empty() { "" } else { ": " },
            shorten(&reason)
        ));
    }
    let missing = theirs.iter().find(|t| !ours.contains(t))?;
    Some(format!(
        "assert {} {}",
        missing.location,
        if ours
            .iter()
            .any(|o| o.host == missing.host && o.location == missing.location)
        {
            "has another outcome"
        } else {
            "never reached"
        }
    ))
}

/// The first failed (not ignored) task in drover's JSON, and its `msg`.
fn first_failure(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| {
            e["event"] == "host_result"
                && matches!(e["status"].as_str(), Some("failed" | "unreachable"))
                && e["ignored"] != true
        })
        .map(|e| {
            let msg = match &e["result"]["msg"] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!(
                "task `{}` failed: {msg}",
                e["task"].as_str().unwrap_or_default()
            )
        })
}

fn code(exit: Option<i32>) -> String {
    exit.map_or("killed".to_string(), |c| c.to_string())
}

fn shorten(text: &str) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 160 {
        format!("{}…", one.chars().take(160).collect::<String>())
    } else {
        one
    }
}

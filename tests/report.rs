//! The rollout as people watch and share it: the run report of a real lab rollout (one host
//! failed and rolled back) in every format, rendered by a real browser (headless Chromium)
//! and looked at; the live view under a real pseudo-terminal (tmux) mid-rollout, and plain
//! lines in a pipe; the JSON event stream's schema, times and run id; `drover runs`.

mod common;

use common::{Fleet, drover};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Upgrades the nodes' `app` from 1.0 to 2.0 through 1.5, in batches [1, 2, rest]; verify
/// fails on the hosts in `fail_on` (with a message), whose rollback restores the backup.
fn rollout(extra_verify: &str) -> String {
    format!(
        r#"- name: setup
  hosts: lab
  tasks:
    - shell: mkdir -p {{{{ node_root }}}}/app && echo 1.0 > {{{{ node_root }}}}/app/version
- name: rollout
  hosts: lab
  vars:
    app: "{{{{ node_root }}}}/app"
    fail_on: []
    db_password: hunter2-not-in-any-report
  upgrade_path:
    current: "{{{{ current.stdout }}}}"
    target: "2.0"
    stops: ["1.5"]
  rolling:
    batch: [1, 2, "100%"]
    max_unavailable: 2
    max_failed: 1
  phases:
    precheck:
      - command: cat {{{{ app }}}}/version
        register: current
        changed_when: false
    backup:
      - copy:
          src: "{{{{ app }}}}/version"
          dest: "{{{{ app }}}}/version.bak"
          remote_src: true
        register: saved
    upgrade:
      - shell: sleep 0.2; echo {{{{ hop.to }}}} > {{{{ app }}}}/version
    verify:
      - assert:
          that: inventory_hostname not in fail_on
          fail_msg: "health check failed on {{{{ inventory_hostname }}}}"
{extra_verify}
    rollback:
      - shell: cp {{{{ app }}}}/version.bak {{{{ app }}}}/version
"#
    )
}

/// The latest run's id in `state`, if a journal is there yet.
fn latest_run(state: &Path) -> Option<String> {
    let mut ids: Vec<String> = std::fs::read_dir(state.join("runs"))
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.path()
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .collect();
    ids.sort();
    ids.pop()
}

fn run_id(state: &Path) -> String {
    latest_run(state).expect("a journaled run")
}

/// The lab rollout every report test looks at: node1 upgraded, node2 failed its verify and
/// was rolled back, node3 upgraded (max_failed 1 lets it go on).
fn failed_rollout(fleet: &Fleet) -> (PathBuf, String, Vec<Value>) {
    let playbook = fleet.write("rollout.yml", &rollout(""));
    let state = fleet.path("state");
    let run = fleet
        .run(&playbook)
        .arg("--state-dir")
        .arg(&state)
        .args(["--output", "json", "-e", r#"{"fail_on": ["node2"]}"#])
        .expect_code(2);
    let events = run.events();
    (state.clone(), run_id(&state), events)
}

#[test]
fn json_events_carry_schema_time_run_id_and_the_failed_tasks_message() {
    let fleet = Fleet::up(3);
    let (state, id, events) = failed_rollout(&fleet);
    assert_eq!(events[0]["event"], "stream_start", "{:?}", events[0]);
    assert_eq!(events[0]["schema"], 1);
    for e in &events {
        assert_eq!(e["run_id"], id.as_str(), "{e}");
        let time = e["time"].as_str().unwrap_or_default();
        assert!(
            time.parse::<jiff::Timestamp>().is_ok(),
            "not RFC 3339: {time:?} in {e}"
        );
    }
    let failed = events
        .iter()
        .find(|e| e["event"] == "phase_end" && e["ok"] == false)
        .expect("a failed phase");
    assert_eq!(failed["host"], "node2");
    assert_eq!(failed["message"], "health check failed on node2");
    assert!(
        failed["task"]
            .as_str()
            .unwrap_or_default()
            .contains("rollout.yml:"),
        "{failed}"
    );
    let done = events
        .iter()
        .find(|e| e["event"] == "host_done" && e["host"] == "node2")
        .expect("node2 done");
    assert_eq!(done["outcome"], "ROLLED_BACK");
    assert_eq!(done["message"], "health check failed on node2");
    // The HTML report was written at the end of the run.
    assert!(state.join("reports").join(format!("{id}.html")).exists());
}

#[test]
fn the_report_tells_each_hosts_story_in_every_format_without_secrets() {
    let fleet = Fleet::up(3);
    let (state, id, _) = failed_rollout(&fleet);
    let show = |format: &str| {
        drover()
            .args(["runs", "show", &id, "--format", format])
            .arg("--state-dir")
            .arg(&state)
            .expect_code(0)
            .stdout()
    };
    let json: Value = serde_json::from_str(&show("json")).expect("report JSON");
    assert_eq!(json["schema"], 1);
    assert_eq!(json["outcome"], "host failed");
    // Who ran it, from where (even without $USER, as under cron).
    assert!(json["inputs"]["user"].is_string(), "{}", json["inputs"]);
    assert!(
        json["inputs"]["control_host"].is_string(),
        "{}",
        json["inputs"]
    );
    assert!(json["inputs"]["cwd"].is_string(), "{}", json["inputs"]);
    assert!(json["ended"].is_string());
    let host = |name: &str| {
        json["hosts"]
            .as_array()
            .and_then(|h| h.iter().find(|h| h["host"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {json}"))
    };
    let (node1, node2) = (host("node1"), host("node2"));
    assert_eq!(node1["outcome"], "UPGRADED");
    assert_eq!(
        (
            node1["version_before"].as_str(),
            node1["version_after"].as_str()
        ),
        (Some("1.0"), Some("2.0"))
    );
    assert_eq!(node1["hops"], serde_json::json!(["1.5", "2.0"]));
    assert_eq!(node1["batch"], 1);
    assert_eq!(node2["batch"], 2);
    let phases: Vec<(String, Option<String>)> = node1["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .map(|p| {
            (
                p["phase"].as_str().unwrap_or_default().to_string(),
                p["hop"].as_str().map(str::to_string),
            )
        })
        .collect();
    let hop1 = Some("1.0 → 1.5".to_string());
    let hop2 = Some("1.5 → 2.0".to_string());
    assert_eq!(
        phases,
        [
            ("precheck".to_string(), None),
            ("backup".to_string(), None),
            ("upgrade".to_string(), hop1.clone()),
            ("verify".to_string(), hop1),
            ("upgrade".to_string(), hop2.clone()),
            ("verify".to_string(), hop2),
        ]
    );
    for p in node1["phases"].as_array().expect("phases") {
        let instant = |key: &str| {
            p[key]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .unwrap_or_else(|| panic!("no {key} instant in {p}"))
        };
        assert!(instant("start") <= instant("end"), "{p}");
        // Fixed millisecond digits: the stamps also sort as text.
        assert_eq!(p["start"].as_str().map(str::len), Some(24), "{p}");
    }
    // The backup with its path and checksum (copy returns one).
    let backup = &node1["backups"][0];
    assert!(
        backup["path"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/app/version.bak"),
        "{backup}"
    );
    assert_eq!(
        backup["checksum"].as_str().map(str::len),
        Some(40),
        "{backup}"
    );
    // The module's own checksum (copy's SHA-1) is kept; the size is read on the host.
    assert_eq!(backup["size"], 4, "`1.0\n`: {backup}");
    assert_eq!(node2["outcome"], "ROLLED_BACK");
    assert_eq!(node2["version_after"], "1.0");
    assert_eq!(node2["failure"]["phase"], "verify");
    assert_eq!(node2["failure"]["message"], "health check failed on node2");
    assert!(
        node2["phases"].as_array().is_some_and(|p| p
            .iter()
            .any(|p| p["phase"] == "rollback" && p["ok"] == true)),
        "{node2}"
    );
    assert_eq!(json["rollout"]["max_failed"], 1);
    assert_eq!(json["rollout"]["failures"], 1);
    assert_eq!(json["rollout"]["max_unavailable"], 2);
    let in_flight = json["rollout"]["max_in_flight"].as_u64().unwrap_or(0);
    assert!((1..=2).contains(&in_flight), "{}", json["rollout"]);

    let text = show("text");
    for needle in [
        "failed in verify at",
        "health check failed on node2",
        "=> ROLLED_BACK",
        "node1 [1.0 -> 2.0]",
        "failed 1 of max_failed 1",
        "ended:",
    ] {
        assert!(text.contains(needle), "text lacks {needle:?}:\n{text}");
    }
    let out = fleet.path("share/report.md");
    drover()
        .args(["runs", "show", &id, "--format", "markdown", "-o"])
        .arg(&out)
        .arg("--state-dir")
        .arg(&state)
        .expect_code(0);
    let markdown = std::fs::read_to_string(&out).expect("markdown");
    assert!(markdown.contains("](report.svg)"), "{markdown}");
    let svg = std::fs::read_to_string(fleet.path("share/report.svg")).expect("svg beside it");
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(
        markdown.contains("| 2 | node2 | 2 | ROLLED_BACK |"),
        "{markdown}"
    );

    let html = show("html");
    for (what, report) in [
        ("json", show("json")),
        ("text", text),
        ("markdown", markdown),
        ("html", html.clone()),
        ("svg", svg),
    ] {
        assert!(
            !report.contains("hunter2-not-in-any-report"),
            "a secret reached the {what} report"
        );
    }
    // Self-contained: nothing fetched from anywhere.
    for reference in ["src=\"http", "href=\"http", "<script", "@import", "url("] {
        assert!(
            !html.contains(reference),
            "the HTML report references {reference}"
        );
    }
}

/// Every `(host, phase)` the journal recorded, as the SVG must draw them.
fn journaled_phases(state: &Path, id: &str) -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(state.join("runs").join(format!("{id}.jsonl"))).expect("journal");
    let mut pairs = Vec::new();
    for line in text.lines() {
        let record: Value = serde_json::from_str(line).expect("record");
        match record["record"].as_str() {
            Some("phase_start") => pairs.push((
                record["host"].as_str().unwrap_or_default().to_string(),
                record["phase"].as_str().unwrap_or_default().to_string(),
            )),
            Some("precheck") => {
                for host in record["hosts"].as_array().into_iter().flatten() {
                    pairs.push((
                        host.as_str().unwrap_or_default().to_string(),
                        "precheck".to_string(),
                    ));
                }
            }
            _ => {}
        }
    }
    pairs
}

/// Debian's `chromium`; in CI (where `.ci/run` installs it) its absence fails the test.
fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing: .ci/run installs it"
        );
        eprintln!("skipped: chromium is not installed (apt-get install chromium)");
    }
    found
}

/// Chromium headless on `page`: a screenshot and the DOM the browser built.
fn browse(chromium: &Path, page: &Path, shot: &Path) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let common = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--window-size=1100,1300",
            "--timeout=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()));
    };
    let mut screenshot = Command::new(chromium);
    common(&mut screenshot);
    let out = screenshot
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        shot.exists(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut dom = Command::new(chromium);
    common(&mut dom);
    let out = dom
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_html_report_opens_in_a_real_browser_with_a_bar_per_host_and_phase() {
    let Some(chromium) = chromium() else {
        return;
    };
    let fleet = Fleet::up(3);
    let (state, id, _) = failed_rollout(&fleet);
    let page = state.join("reports").join(format!("{id}.html"));
    let shot = fleet.path("report.png");
    let dom = browse(&chromium, &page, &shot);
    // The browser built the page and its picture: the timeline's bars are in its DOM.
    let bars: Vec<(String, String)> = dom
        .split("<rect class=\"phase ")
        .skip(1)
        .map(|rest| {
            let attr = |name: &str| {
                rest.split_once(&format!("{name}=\""))
                    .and_then(|(_, v)| v.split_once('"'))
                    .map(|(v, _)| v.to_string())
                    .unwrap_or_default()
            };
            (attr("data-host"), attr("data-phase"))
        })
        .collect();
    let mut wanted = journaled_phases(&state, &id);
    let mut drawn = bars.clone();
    wanted.sort();
    drawn.sort();
    assert_eq!(drawn, wanted, "one bar per host and phase run");
    assert!(wanted.contains(&("node2".into(), "rollback".into())));
    assert!(
        dom.contains("class=\"failed-mark\""),
        "the failure is marked"
    );
    assert!(
        dom.matches("class=\"batch\"").count() >= 2,
        "batch starts drawn"
    );
    assert!(dom.matches("class=\"hop\"").count() >= 4, "hops marked");

    // Not blank: a screenshot of the report is far richer than one of an empty page.
    let blank = fleet.write("blank.html", "<!DOCTYPE html><html><body></body></html>");
    let blank_shot = fleet.path("blank.png");
    browse(&chromium, &blank, &blank_shot);
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    assert!(
        size(&shot) > 10 * size(&blank_shot).max(1),
        "the report's screenshot ({} bytes) looks blank next to an empty page's ({} bytes)",
        size(&shot),
        size(&blank_shot)
    );
    if let Ok(dir) = std::env::var("DROVER_REPORT_SCREENSHOT") {
        let _ = std::fs::copy(&shot, Path::new(&dir));
    }
}

#[test]
fn runs_lists_a_table_or_json_and_says_where_it_looked() {
    let fleet = Fleet::up(3);
    let (state, id, _) = failed_rollout(&fleet);
    let table = drover()
        .arg("runs")
        .arg("--state-dir")
        .arg(&state)
        .expect_code(0)
        .stdout();
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("RUN "), "{table}");
    let row = lines
        .iter()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("no row for {id}:\n{table}"));
    assert!(
        row.contains("host failed") && row.contains("today "),
        "{row}"
    );
    // Aligned: every column starts where its header does.
    let column = lines[0].find("OUTCOME").expect("outcome column");
    assert_eq!(row.find("host failed"), Some(column), "{table}");
    let json = drover()
        .args(["runs", "--output", "json"])
        .arg("--state-dir")
        .arg(&state)
        .expect_code(0);
    let rows = json.events();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["run_id"], id.as_str());
    assert_eq!(rows[0]["exit_code"], 2);
    assert_eq!(rows[0]["failed"], 1);
    let nowhere = fleet.path("empty");
    std::fs::create_dir_all(&nowhere).expect("mkdir");
    drover()
        .arg("runs")
        .current_dir(&nowhere)
        .env("DROVER_STATE_DIR", ".drover")
        .expect_code(0)
        .stderr_has(&format!(
            "looked in {}",
            nowhere.join(".drover/runs").display()
        ));
}

/// A rollout slow enough to be watched: each upgrade takes `seconds`.
fn slow_rollout(seconds: f64) -> String {
    format!(
        r#"- name: watched
  hosts: lab
  upgrade_path:
    current: "0.27.1"
    target: "0.28.0"
    stops: []
  rolling:
    batch: 2
  phases:
    precheck:
      - command: "true"
        changed_when: false
    upgrade:
      - shell: sleep {seconds}
    verify:
      - command: "true"
        changed_when: false
"#
    )
}

/// tmux on its own server socket (so no other tmux session's environment leaks in).
fn tmux(socket: &str) -> Command {
    let mut cmd = Command::new("tmux");
    cmd.args(["-L", socket, "-f", "/dev/null"]);
    cmd
}

#[test]
fn a_terminal_shows_live_progress_and_a_pipe_plain_lines() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is missing: .ci/run installs it"
        );
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let fleet = Fleet::up(2);
    let playbook = fleet.write("watched.yml", &slow_rollout(4.0));
    let done = fleet.path("done");
    let pane = Pane::run(&fleet, &playbook, &done, "live");
    let capture = || pane.capture();
    // Mid-rollout (the upgrades take 4 s): the overall bar and a line per host in flight.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut screen = String::new();
    let mut seen = false;
    while Instant::now() < deadline && !done.exists() {
        screen = capture();
        let bar = screen
            .lines()
            .any(|l| l.contains("rollout") && l.contains("0/2 hosts done"));
        let hosts = ["node1", "node2"].iter().all(|h| {
            screen
                .lines()
                .any(|l| l.contains(h) && l.contains("▸ upgrade") && l.contains("0.27.1 → 0.28.0"))
        });
        if bar && hosts {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        seen,
        "no live progress on the terminal mid-rollout:\n{screen}"
    );
    // Task lines scroll above the bars as usual.
    assert!(screen.contains("ROLLOUT [2 hosts"), "{screen}");
    common::wait_for_file(
        &done,
        Duration::from_secs(60),
        "the watched rollout never ended",
    );
    let end = capture();
    assert!(end.contains("ROLLOUT SUMMARY"), "{end}");
    assert!(
        !end.contains("hosts done"),
        "the bars are gone at the end:\n{end}"
    );

    // In a pipe (and without NO_COLOR): plain lines, no bars, no colour.
    let piped = Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&fleet.lab.inventory)
        .arg("--no-journal")
        .env_remove("NO_COLOR")
        .output()
        .expect("run drover");
    assert!(piped.status.success());
    let out = String::from_utf8_lossy(&piped.stdout).into_owned();
    assert!(out.contains("node1 ▸ upgrade"), "{out}");
    assert!(!out.contains('\x1b'), "escape codes in a pipe:\n{out}");
    assert!(!out.contains("hosts done"), "a bar in a pipe:\n{out}");
}

/// A tmux server of its own running `drover run PLAYBOOK` on the lab in a 160x40 pane (then
/// touching `done`); killed when dropped.
struct Pane(String);

impl Pane {
    fn run(fleet: &Fleet, playbook: &Path, done: &Path, name: &str) -> Pane {
        let socket = format!("drover-{name}-{}", std::process::id());
        let script = format!(
            "cd {dir} && env -u NO_COLOR TERM=xterm-256color {bin} run {pb} -i {inv} --no-journal; touch {done}; sleep 60",
            dir = fleet.dir.path().display(),
            bin = env!("CARGO_BIN_EXE_drover"),
            pb = playbook.display(),
            inv = fleet.lab.inventory.display(),
            done = done.display(),
        );
        let started = tmux(&socket)
            .args([
                "new-session",
                "-d",
                "-s",
                "live",
                "-x",
                "160",
                "-y",
                "40",
                &script,
            ])
            .status()
            .expect("tmux");
        assert!(started.success());
        Pane(socket)
    }

    fn capture(&self) -> String {
        let out = tmux(&self.0)
            .args(["capture-pane", "-p", "-t", "live"])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = tmux(&self.0).arg("kill-server").status();
    }
}

/// Watches `drover run PLAYBOOK` on a terminal until every `wanted` text has been on the
/// screen (each at some moment); returns the texts never seen.
fn watch_for(fleet: &Fleet, playbook: &Path, wanted: &[&str]) -> Vec<String> {
    let done = fleet.path("watched-done");
    let pane = Pane::run(fleet, playbook, &done, "wait");
    let mut missing: Vec<String> = wanted.iter().map(|w| w.to_string()).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && !done.exists() && !missing.is_empty() {
        let screen = pane.capture();
        missing.retain(|w| !screen.contains(w.as_str()));
        std::thread::sleep(Duration::from_millis(100));
    }
    missing
}

/// The waiting states are shown as such while they last: a `run_once` step another host
/// runs (naming it), a verify retrying with its attempts left, the pause between batches.
#[test]
fn the_terminal_says_what_a_rollout_waits_for() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is missing: .ci/run installs it"
        );
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let fleet = Fleet::up(3);
    let playbook = fleet.write(
        "waits.yml",
        r#"- name: waits
  hosts: lab
  order: sorted
  rolling:
    batch: 2
    pause: 4s
  phases:
    upgrade:
      - name: shared migration
        shell: sleep 3
        run_once: true
    verify:
      - name: health
        command: "true"
        register: health
        until: health.attempts >= 2
        retries: 3
        delay: 3
        changed_when: false
"#,
    );
    let missing = watch_for(
        &fleet,
        &playbook,
        &[
            "waiting for run_once `shared migration` on node",
            "health: retrying, 3 attempts left",
            "pausing 4s after batch 1",
        ],
    );
    assert!(missing.is_empty(), "never on the screen: {missing:?}");
}

#[test]
fn runs_show_reads_a_run_still_in_progress() {
    let fleet = Fleet::up(2);
    let playbook = fleet.write("watched.yml", &slow_rollout(3.0));
    let state = fleet.path("state");
    let mut child = fleet.spawn_run(&playbook, &state, &[]);
    common::wait_for_file(&state.join("runs"), Duration::from_secs(20), "no journal");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    while Instant::now() < deadline {
        if let Some(id) = latest_run(&state) {
            text = drover()
                .args(["runs", "show", &id])
                .arg("--state-dir")
                .arg(&state)
                .expect_code(0)
                .stdout();
            if text.contains("upgrade [0.27.1 → 0.28.0] running") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        text.contains("upgrade [0.27.1 → 0.28.0] running"),
        "the report of a run in progress:\n{text}"
    );
    assert!(text.contains("(still running"), "{text}");
    assert!(text.contains("outcome:   unfinished"), "{text}");
    let status = child.wait().expect("drover ends");
    assert!(status.success());
}

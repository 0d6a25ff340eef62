//! Maintenance windows, judged by a simulated clock (`DROVER_CLOCK_FILE`) that the test and
//! the lab nodes' own tasks move: no test sleeps waiting for a window.

mod common;

use common::{Fleet, drover};
use std::path::{Path, PathBuf};

/// 2026-11-28 is a Saturday.
const ROLLOUT: &str = r#"- name: windowed rollout
  hosts: lab
  vars:
    app: "{{ node_root }}/app"
  rolling:
    batch: 1
    WINDOW
  phases:
    precheck:
      - shell: echo x >> {{ app }}/prechecks
    upgrade:
      - shell: echo x >> {{ app }}/upgrades && echo 2 > {{ app }}/version
      # Time passes while a host upgrades: each moves the simulated clock.
      - shell: echo {{ clock_after[inventory_hostname] }} > {{ clock }}
        when: inventory_hostname in clock_after
"#;

struct Lab {
    fleet: Fleet,
    playbook: PathBuf,
    clock: PathBuf,
    state: PathBuf,
}

impl Lab {
    /// Three nodes with an app at version 1; `window` is the `rolling:` line (or empty),
    /// `clock_after` what each node sets the clock to as it upgrades.
    fn new(window: &str, clock_after: &str) -> Lab {
        let fleet = Fleet::up(3);
        let setup = fleet.write(
            "setup.yml",
            "- hosts: lab\n  tasks:\n    - shell: mkdir -p {{ node_root }}/app && echo 1 > {{ node_root }}/app/version\n",
        );
        fleet.run(&setup).arg("--no-journal").expect_code(0);
        let text = ROLLOUT.replace("WINDOW", window);
        let playbook = fleet.write("rollout.yml", &text);
        // node1's root is writable by the lab user, so tasks can move the clock too.
        let clock = fleet.node_root("node1").join("clock");
        fleet.write(
            "clock.yml",
            &format!("clock: {}\nclock_after: {clock_after}\n", clock.display()),
        );
        let state = fleet.path("state");
        Lab {
            fleet,
            playbook,
            clock,
            state,
        }
    }

    fn set_clock(&self, at: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&self.clock, format!("{at}\n")).expect("clock");
        // The lab user's tasks move it too.
        std::fs::set_permissions(&self.clock, std::fs::Permissions::from_mode(0o666))
            .expect("chmod clock");
    }

    fn clock(&self) -> String {
        std::fs::read_to_string(&self.clock)
            .expect("clock")
            .trim()
            .to_string()
    }

    fn run(&self) -> common::Drover {
        self.fleet
            .run(&self.playbook)
            .arg("-e")
            .arg(format!("@{}", self.fleet.path("clock.yml").display()))
            .arg("--state-dir")
            .arg(&self.state)
            .env("DROVER_CLOCK_FILE", &self.clock)
    }

    fn resume(&self) -> common::Drover {
        drover()
            .arg("resume")
            .arg("--state-dir")
            .arg(&self.state)
            .env("DROVER_CLOCK_FILE", &self.clock)
    }

    fn count(&self, node: &str, file: &str) -> usize {
        count(&self.fleet.node_root(node), file)
    }
}

fn count(root: &Path, file: &str) -> usize {
    std::fs::read_to_string(root.join("app").join(file))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_window_that_closes_mid_run_stops_cleanly_and_resume_finishes_in_the_next_one() {
    let lab = Lab::new(
        "window: \"Sat 02:00-06:00 UTC\"",
        "{node1: '2026-11-28T06:30:00Z'}",
    );
    lab.set_clock("2026-11-28T02:00:00Z");
    // node1 upgrades inside the window; while it does, the window closes.
    let run = lab.run().expect_code(7);
    run.stdout_has("WINDOW CLOSED: the maintenance window (Sat 02:00-06:00 UTC) is closed at 2026-11-28 06:30:00 UTC")
        .stdout_has("not started: node2, node3")
        .stdout_has("next window opens 2026-12-05T02:00:00Z");
    assert_eq!(lab.count("node1", "upgrades"), 1);
    assert_eq!(lab.count("node2", "upgrades"), 0);
    assert_eq!(lab.count("node3", "upgrades"), 0);
    drover()
        .arg("runs")
        .arg("--state-dir")
        .arg(&lab.state)
        .expect_code(0)
        .stdout_has("window closed (resumable)");

    // Still outside the window: a resume starts nothing and says when to come back.
    lab.resume()
        .expect_code(7)
        .stdout_has("`drover resume` then, or pass --wait-for-window");
    assert_eq!(lab.count("node2", "upgrades"), 0);

    // Waiting for the next window (the simulated clock jumps there), the rest upgrade and
    // node1 is not touched again. Hosts not yet started are prechecked again: a week-old
    // precheck proves nothing.
    let resumed = lab.resume().arg("--wait-for-window").expect_code(0);
    resumed
        .stdout_has("WAITING FOR THE MAINTENANCE WINDOW")
        .stdout_has("it opens 2026-12-05T02:00:00Z (in 163h30m)");
    assert_eq!(lab.clock(), "2026-12-05T02:00:00Z");
    for (node, upgrades, prechecks) in [("node1", 1, 1), ("node2", 1, 2), ("node3", 1, 2)] {
        assert_eq!(lab.count(node, "upgrades"), upgrades, "{node}");
        assert_eq!(lab.count(node, "prechecks"), prechecks, "{node}");
    }
}

#[test]
fn a_batch_that_would_not_finish_before_the_window_closes_is_not_started() {
    // Each host takes an hour of (simulated) time; the window closes at 04:30.
    let lab = Lab::new(
        "",
        "{node1: '2026-11-28T03:00:00Z', node2: '2026-11-28T04:00:00Z', node3: '2026-11-28T05:00:00Z'}",
    );
    lab.set_clock("2026-11-28T02:00:00Z");
    let run = lab
        .run()
        .args(["--window", "Sat 02:00-04:30 UTC"])
        .expect_code(7);
    run.stdout_has(
        "batch 3 would likely not finish before the maintenance window closes at 2026-11-28 04:30:00 UTC (estimated 1h00m from the batches so far)",
    )
    .stdout_has("not started: node3");
    assert_eq!(lab.count("node1", "upgrades"), 1);
    assert_eq!(lab.count("node2", "upgrades"), 1);
    assert_eq!(lab.count("node3", "upgrades"), 0);

    // The resume keeps the run's --window: next Saturday node3 fits.
    lab.set_clock("2026-12-05T02:00:00Z");
    lab.resume().expect_code(0);
    assert_eq!(lab.count("node3", "upgrades"), 1);
    assert_eq!(lab.count("node1", "upgrades"), 1);
}

#[test]
fn outside_the_window_nothing_runs_unless_told_to_wait() {
    let lab = Lab::new(
        "window: [\"Sat 02:00-06:00 UTC\", \"Wed 22:00-23:00 Europe/Berlin\"]",
        "{}",
    );
    // Friday noon.
    lab.set_clock("2026-11-27T12:00:00Z");
    let run = lab.run().expect_code(7);
    run.stdout_has("is closed at 2026-11-27 12:00:00 UTC")
        .stdout_has("the next window opens 2026-11-28 02:00:00 UTC");
    for node in ["node1", "node2", "node3"] {
        assert_eq!(lab.count(node, "prechecks"), 0, "{node} was prechecked");
    }

    let waited = lab
        .run()
        .arg("--wait-for-window")
        .args(["--output", "json"])
        .expect_code(0);
    let wait = waited
        .events()
        .into_iter()
        .find(|e| e["event"] == "window_wait")
        .unwrap_or_else(|| panic!("no window_wait event:\n{}", waited.dump()));
    assert_eq!(wait["until"], "2026-11-28T02:00:00Z");
    assert_eq!(wait["seconds"], 14.0 * 3600.0);
    for node in ["node1", "node2", "node3"] {
        assert_eq!(lab.count(node, "upgrades"), 1, "{node}");
    }
}

#[test]
fn bad_windows_point_at_the_mistake() {
    let lab = Lab::new("window: \"Satu 02:00-06:00 Europe/Berlin\"", "{}");
    lab.set_clock("2026-11-28T02:00:00Z");
    let run = lab.run().expect_code(4);
    run.stderr_has("rollout.yml:7:13")
        .stderr_has("`Satu` is not a day")
        .stderr_has("did you mean `sat`?");
    drover()
        .arg("plan")
        .arg(&lab.playbook)
        .arg("-i")
        .arg(&lab.fleet.lab.inventory)
        .args(["--window", "Sat 02:00-06:00 Mars/Olympus"])
        .expect_code(5)
        .stderr_has(
            "--window: window `Sat 02:00-06:00 Mars/Olympus`: unknown time zone `Mars/Olympus`",
        );
    let fine = lab.fleet.write("fine.yml", &ROLLOUT.replace("WINDOW", ""));
    drover()
        .arg("plan")
        .arg(&fine)
        .arg("-i")
        .arg(&lab.fleet.lab.inventory)
        .args(["--window", "Sat,Sun 02:00-06:00 Europe/Berlin"])
        .expect_code(0)
        .stdout_has("window: Sat,Sun 02:00-06:00 Europe/Berlin (no host starts outside it");
}

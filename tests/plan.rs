//! `drover plan` and `drover check` tell the truth about rollouts: the GitLab-style rollout
//! in `tests/fixtures/plan/` planned offline (pinned) and against a real lab (the precheck
//! probed on every host: each host's hops, the per-hop rounds, the backups and the versions
//! a restore needs), exit codes when the plan finds a problem, what `batch` and
//! `max_unavailable` really allow, and task names rendered in a run's output.
//!
//! Regenerate the pinned plan with `UPDATE_SNAPSHOTS=1 cargo test --test plan`.

mod common;

use common::{Fleet, drover, sh};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

const GITLAB: &str = "tests/fixtures/plan/gitlab.yml";

/// Puts GitLab `version` on every node of the lab (config files, running), the shared
/// database at `db`, no background migration pending.
fn install_gitlab(fleet: &Fleet, version: &str, db: &str) {
    let playbook = fleet.write(
        "setup.yml",
        &format!(
            r#"- hosts: lab
  tasks:
    - shell: >-
        mkdir -p {{{{ node_root }}}}/gitlab {{{{ node_root }}}}/backups &&
        echo {version} > {{{{ node_root }}}}/gitlab/version &&
        echo secrets > {{{{ node_root }}}}/gitlab/gitlab-secrets.json &&
        echo config > {{{{ node_root }}}}/gitlab/gitlab.rb &&
        touch {{{{ node_root }}}}/gitlab/running &&
        echo {db} > {{{{ lab_shared }}}}/gitlab-db &&
        echo 0 > {{{{ lab_shared }}}}/gitlab-db.pending
"#
        ),
    );
    fleet.run(&playbook).arg("--no-journal").expect_code(0);
}

fn gitlab_version(fleet: &Fleet, node: &str) -> String {
    std::fs::read_to_string(fleet.node_root(node).join("gitlab/version"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn plan(fleet: &Fleet, playbook: &Path, format: &str, code: i32) -> common::Run {
    drover()
        .arg("plan")
        .arg(playbook)
        .arg("-i")
        .arg(&fleet.lab.inventory)
        .args(["--format", format])
        .expect_code(code)
}

/// The upgrade plan document is pinned: a change to it is a change a reviewer should see.
#[test]
fn the_gitlab_style_upgrade_plan_is_pinned() {
    let run = drover()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "plan",
            GITLAB,
            "-i",
            "tests/fixtures/plan/inventory.yml",
            "--format",
            "markdown",
            "--offline",
        ])
        .expect_code(0);
    let doc = run.stdout();
    // What the guide asks of a plan, and what issue 13 found missing.
    for needle in [
        "- Target: **17.5.0** (`{{ gitlab_target }}`)",
        "- Required stops (never skipped): 16.11.10 → 17.3.6 → 17.5.0",
        "| How is it installed? | Linux package (Omnibus) on every node |",
        "| Single-node or multi-node? | multi-node: 3 hosts — two Rails nodes",
        "| Geo (secondary sites) | no |",
        "PostgreSQL: external, one cluster shared by every node",
        "| node1 | 10.0.0.11 | lab, primary |",
        "at most 1 host(s) out of service at once",
        "- Hops: `cluster`",
        "- Backups: `per_hop`",
        "- On failure: `cluster`",
        "each hop (stop … verify) 30m",
        "### Stop — per host, per hop",
        "- **rescue** — when a step of the block fails:",
        "runs on `node1` (delegate_to)",
        "for each of `[\"gitlab-secrets.json\",\"gitlab.rb\"]`",
        "retried until `pending.stdout == \"0\"` (up to 5 retries, 1s apart)",
        "when `inventory_hostname in groups['lab']`",
        "once per hop for the whole rollout",
        "- undo (once, during a cluster rollback):",
        "### Handlers — run at the end of the phase that notified them",
        "`cat /srv/shared/gitlab-db.pending`",
        "## Rollback plan",
        "Before every hop, at the version the host runs when the hop begins",
    ] {
        assert!(doc.contains(needle), "plan lacks {needle:?}:\n{doc}");
    }
    assert!(!doc.contains("Target: **{{"), "{doc}");
    let snapshot = repo("tests/snapshots/plan-gitlab.md");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snapshot, &doc).expect("write snapshot");
    }
    let expected = std::fs::read_to_string(&snapshot).expect("snapshot (UPDATE_SNAPSHOTS=1)");
    assert_eq!(doc, expected);
}

#[test]
fn the_probed_plan_walks_each_host_hop_by_hop_and_changes_nothing() {
    let fleet = Fleet::up(3);
    install_gitlab(&fleet, "16.11.10", "16.11.10");
    sh(&format!(
        "echo 17.3.6 > {}",
        fleet.node_root("node3").join("gitlab/version").display()
    ));
    let playbook = repo(GITLAB);
    let md = plan(&fleet, &playbook, "markdown", 0);
    let doc = md.stdout();
    for needle in [
        "| node1 | 16.11.10 | 16.11.10 → 17.3.6 → 17.5.0 |",
        "| node3 | 17.3.6 | 17.3.6 → 17.5.0 |",
        // hops: cluster — one round per hop, every host of a hop before the next.
        "| 17.3.6 | 1 | node1 |",
        "| 17.3.6 | 2 | node2 |",
        "| 17.5.0 | 3 | node3 |",
        "### node1: 16.11.10 → 17.3.6 → 17.5.0",
        "**Hop 1/2: 16.11.10 → 17.3.6**",
        "1. **stop**: Stop Puma and Sidekiq on node1",
        "2. **backup**: Back up the database at 16.11.10; Back up gitlab-secrets.json; Back up gitlab.rb — taken at 16.11.10: a restore needs 16.11.10",
        "3. **upgrade**: Install GitLab 17.3.6 — then, if notified: reconfigure",
        "4. **migrate**: Migrate the database to 17.3.6",
        "5. **start**: Start Puma and Sidekiq on 17.3.6; rescue › Say why GitLab did not start",
        "**Hop 2/2: 17.3.6 → 17.5.0**",
        "taken at 17.3.6: a restore needs 17.3.6",
        "### node3: 17.3.6 → 17.5.0",
        "_Barrier: every host of the stage is verified at this hop before any host starts the next._",
        "| node1 | hop 2/2 to 17.5.0 | 17.3.6 |",
    ] {
        assert!(
            doc.contains(needle),
            "plan lacks {needle:?}:\n{}",
            md.dump()
        );
    }
    let backup_dir = fleet.node_root("node1").join("backups");
    assert!(
        doc.contains(&format!(
            "writes Back up the database at 16.11.10: {0}/16.11.10/gitlab-db",
            backup_dir.display()
        )) || doc.contains(&format!(
            "{}/16.11.10/gitlab-secrets.json",
            backup_dir.display()
        )),
        "{doc}"
    );
    // The header counts the batches the tables list: 2 at the first hop, 3 at the second.
    assert!(doc.contains("— 3 host(s) in 5 batch(es)"), "{}", md.dump());

    let text = plan(&fleet, &playbook, "text", 0);
    text.stdout_has("PLAY [Upgrade GitLab] — hosts `lab`: 3 host(s) in 5 batch(es)")
        .stdout_has("  hop to 17.3.6: batch 1: node1\n")
        .stdout_has("  hop to 17.5.0: batch 3: node3\n")
        .stdout_has("path: node3: 17.3.6 → 17.5.0");

    let json: Value =
        serde_json::from_str(&plan(&fleet, &playbook, "json", 0).stdout()).expect("json plan");
    let play = &json["plays"][0];
    assert_eq!(play["batches"].as_array().map(Vec::len), Some(5));
    assert_eq!(play["probe"]["batches"], play["batches"]);
    assert_eq!(play["stages"][0]["rounds"][0]["hop"], "17.3.6");
    assert_eq!(play["upgrade_path"]["target_shown"]["value"], "17.5.0");
    let chains = play["chains"].as_array().expect("chains");
    assert_eq!(chains.len(), 3, "{chains:#?}");
    let node1_hop1 = &chains[0]["hop_steps"][0];
    assert_eq!(node1_hop1["hop"]["to"], "17.3.6");
    assert_eq!(node1_hop1["steps"][1]["phase"], "backup");
    assert_eq!(node1_hop1["steps"][1]["backup"]["taken_at"], "16.11.10");

    // The plan changed nothing: versions, the database, no backup written.
    for (node, version) in [
        ("node1", "16.11.10"),
        ("node2", "16.11.10"),
        ("node3", "17.3.6"),
    ] {
        assert_eq!(gitlab_version(&fleet, node), version);
        let backups = fleet.node_root(node).join("backups");
        assert_eq!(
            std::fs::read_dir(&backups).map(|d| d.count()).unwrap_or(0),
            0
        );
    }
    assert_eq!(
        sh(&format!(
            "cat {}",
            fleet.lab.shared_dir().join("gitlab-db").display()
        )),
        "16.11.10"
    );
}

#[test]
fn the_plan_exits_as_a_run_would_when_it_finds_a_problem() {
    let fleet = Fleet::up(2);
    install_gitlab(&fleet, "16.11.10", "16.11.10");
    sh(&format!(
        "echo 18.0.0 > {}",
        fleet.node_root("node2").join("gitlab/version").display()
    ));
    let playbook = repo(GITLAB);
    // A host above the target: the run would stop with NO VALID UPGRADE PATH (exit 2).
    plan(&fleet, &playbook, "text", 2)
        .stdout_has("PROBLEM: node2: the host runs 18.0.0, above the target 17.5.0");
    plan(&fleet, &playbook, "markdown", 2).stdout_has("## Problems");

    // An unreachable host (and none failed): 3, as a run.
    sh(&format!(
        "echo 16.11.10 > {}",
        fleet.node_root("node2").join("gitlab/version").display()
    ));
    let inventory = std::fs::read_to_string(&fleet.lab.inventory).expect("inventory");
    let ghost = inventory.replacen(
        "    lab:\n      hosts:\n",
        "    lab:\n      hosts:\n        ghost: { ansible_host: 127.0.0.1, ansible_port: 1, node_root: /nonexistent }\n",
        1,
    );
    assert_ne!(
        ghost, inventory,
        "the lab inventory changed shape:\n{inventory}"
    );
    let ghost_inventory = fleet.write("ghost.yml", &ghost);
    let unreachable = drover()
        .arg("plan")
        .arg(&playbook)
        .arg("-i")
        .arg(&ghost_inventory)
        .expect_code(3);
    unreachable.stdout_has("PROBLEM: ghost: ");

    // A staged rollout with a host in no stage halts before starting any host: 6.
    let staged = std::fs::read_to_string(&playbook)
        .expect("playbook")
        .replace(
            "    window: \"Sat,Sun 02:00-06:00 UTC\"\n",
            "    stages:\n      - {name: staging, hosts: replicas}\n",
        );
    let staged = fleet.write("staged.yml", &staged);
    drover()
        .arg("plan")
        .arg(&staged)
        .arg("-i")
        .arg(&fleet.lab.inventory)
        .arg("--offline")
        .expect_code(6)
        .stdout_has("PROBLEM: node1 in no stage");
}

#[test]
fn the_plan_says_what_batch_and_max_unavailable_really_allow() {
    let cases = [
        // (rolling, out of service, batches, why)
        (
            "    batch: 1\n",
            1,
            4,
            "batches of up to 1; no max_unavailable",
        ),
        (
            "    batch: 4\n    max_unavailable: 1\n",
            1,
            1,
            "a batch of up to 4 runs in waves of 1",
        ),
        (
            "    batch: 1\n    max_failed: 1\n",
            2,
            4,
            "plus up to 1 failed host(s) not rolled back",
        ),
        (
            "    batch: [1, \"50%\"]\n    max_unavailable: \"50%\"\n",
            2,
            3,
            "max_unavailable 2",
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = dir.path().join("hosts.yml");
    std::fs::write(
        &inventory,
        "all:\n  hosts:\n    h1:\n    h2:\n    h3:\n    h4:\n",
    )
    .expect("inventory");
    for (rolling, out, batches, why) in cases {
        let playbook = dir.path().join("rollout.yml");
        std::fs::write(
            &playbook,
            format!(
                "- hosts: all\n  rolling:\n{rolling}  phases:\n    upgrade:\n      - command: 'true'\n"
            ),
        )
        .expect("playbook");
        let text = drover()
            .arg("plan")
            .arg(&playbook)
            .arg("-i")
            .arg(&inventory)
            .expect_code(0);
        text.stdout_has(&format!("4 host(s) in {batches} batch(es)"))
            .stdout_has(&format!("at most {out} host(s) out of service at once ("))
            .stdout_has(why);
        let listed = text.stdout().matches("  batch ").count();
        assert_eq!(listed, batches, "{}", text.dump());
    }
}

#[test]
fn check_counts_the_tasks_of_every_phase() {
    drover()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check", GITLAB, "-i", "tests/fixtures/plan/inventory.yml"])
        .expect_code(0)
        .stdout_has(
            "tests/fixtures/plan/gitlab.yml: 1 play(s), 14 task(s) (precheck 2, stop 1, backup 2, upgrade 1, migrate 1 + 1 undo, start 2, verify 2, rollback 2), 1 handler(s), 3 host slot(s): OK",
        );
}

#[test]
fn a_run_names_each_hosts_step_with_the_hop_it_is_at() {
    let fleet = Fleet::up(2);
    install_gitlab(&fleet, "16.11.10", "16.11.10");
    let playbook = repo(GITLAB);
    let run = fleet
        .run(&playbook)
        .args(["--no-journal", "--window", "always", "--yes"])
        .expect_code(0);
    run.stdout_has("changed: [node1] upgrade › Install GitLab 17.3.6")
        .stdout_has("changed: [node2] upgrade › Install GitLab 17.5.0")
        .stdout_has("[node1] stop › Stop Puma and Sidekiq on node1")
        .stdout_has("backup › Back up the database at 17.3.6");
    for node in ["node1", "node2"] {
        assert_eq!(gitlab_version(&fleet, node), "17.5.0", "{}", run.dump());
    }
    // The JSON events carry the rendered names too; a name that cannot render stays as
    // written (the loop item is not a host variable).
    install_gitlab(&fleet, "17.3.6", "17.3.6");
    let json = fleet
        .run(&playbook)
        .args([
            "--no-journal",
            "--window",
            "always",
            "--yes",
            "--output",
            "json",
        ])
        .expect_code(0);
    let names: Vec<String> = json
        .events()
        .iter()
        .filter(|e| e["event"] == "host_result")
        .filter_map(|e| e["task"].as_str().map(str::to_string))
        .collect();
    assert!(
        names.iter().any(|n| n == "Migrate the database to 17.5.0"),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n == "Back up {{ item }}"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("{{ hop")), "{names:?}");
}

/// Writes `playbook` and an inventory of h1..h4 (`staging`: h1, `production`: the others)
/// in a temp dir, and plans it offline in `format`.
fn plan_offline(playbook: &str, format: &str, code: i32) -> common::Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let inventory = dir.path().join("hosts.yml");
    std::fs::write(
        &inventory,
        "all:\n  vars:\n    db_password: hunter2\n    app_dir: /srv/app\n  hosts:\n    h1:\n    h2:\n    h3:\n    h4:\n  children:\n    staging:\n      hosts:\n        h1:\n    production:\n      hosts:\n        h2:\n        h3:\n        h4:\n",
    )
    .expect("inventory");
    let path = dir.path().join("rollout.yml");
    std::fs::write(&path, playbook).expect("playbook");
    drover()
        .arg("plan")
        .arg(&path)
        .arg("-i")
        .arg(&inventory)
        .args(["--format", format, "--offline"])
        .expect_code(code)
}

#[test]
fn a_staged_rollout_is_planned_stage_by_stage_with_its_own_limits() {
    let playbook = r#"- hosts: all
  rolling:
    batch: 1
    stages:
      - {name: staging, hosts: staging}
      - {name: production, hosts: production, batch: 2, max_failed: 1, confirm: true}
  phases:
    upgrade:
      - command: 'true'
"#;
    let text = plan_offline(playbook, "text", 0);
    text.stdout_has("4 host(s) in 3 batch(es)")
        .stdout_has("  stage `staging`: at most 1 host(s) out of service at once (batches of up to 1; no max_unavailable); halts after 1 failed host(s)\n  batch 1: h1\n")
        .stdout_has("  stage `production`: at most 3 host(s) out of service at once (batches of up to 2, plus up to 1 failed host(s) not rolled back")
        .stdout_has("halts after 2 failed host(s); asks before it starts\n  batch 1: h2, h3\n  batch 2: h4\n");
    plan_offline(playbook, "markdown", 0)
        .stdout_has("### Stage `production` — the run asks before it starts")
        .stdout_has("- [ ] Stage `staging` goes first");
    let json: Value =
        serde_json::from_str(&plan_offline(playbook, "json", 0).stdout()).expect("json");
    let stages = &json["plays"][0]["stages"];
    assert_eq!(stages[1]["name"], "production");
    assert_eq!(stages[1]["max_failed"], 1);
    assert_eq!(stages[1]["out_of_service"], 3);
    assert_eq!(
        json["plays"][0]["batches"],
        serde_json::json!([["h1"], ["h2", "h3"], ["h4"]])
    );
}

#[test]
fn a_secret_never_reaches_the_plan() {
    let playbook = r#"- hosts: all
  about:
    notes: "the database password is {{ db_password }}"
  phases:
    backup:
      - name: Dump the database
        shell: PGPASSWORD={{ db_password }} pg_dump app > {{ app_dir }}/dump.sql
      - name: Quiet step
        shell: echo {{ app_dir }}
        no_log: true
    upgrade:
      - command: 'true'
"#;
    for format in ["text", "markdown", "json"] {
        let run = plan_offline(playbook, format, 0);
        assert!(!run.stdout().contains("hunter2"), "{}", run.dump());
        assert!(!run.stdout().contains("echo /srv/app"), "{}", run.dump());
    }
    plan_offline(playbook, "markdown", 0)
        .stdout_has("not shown: it reads the secret `db_password`")
        .stdout_has("no_log: arguments not shown");
}

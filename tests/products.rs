//! The five seed procedures (`playbooks/<product>/`) rehearsed end to end on the lab, on real
//! sshd, SQLite, PostgreSQL and Redis, against the product stand-ins: the upgrade (every row
//! intact, run twice: the second changes nothing), a node whose new version fails its verify
//! (restored byte-identical, later nodes untouched), and the control process killed
//! mid-rollout (`drover resume` finishes without repeating a finished node or hop).

mod common;

use common::product::{Rehearsal, changed, outcomes, pairs, phases};
use drover::lab::{Product, Services};

// ---- Headscale: SQLite per node, required path 0.26 -> 0.27.1 -> 0.28.0 ----

fn headscale(seeds: &[(&[&str], Option<&str>)]) -> Rehearsal {
    Rehearsal::up(Product::Headscale, 3, Services::NONE, seeds, false)
}

/// The rows the guide's backup must keep, per node.
fn headscale_rows(r: &Rehearsal, node: &str) -> String {
    let db = r.node_root(node).join("var/lib/headscale/db.sqlite");
    r.sh(&format!(
        "sqlite3 {} 'SELECT id, name FROM users ORDER BY id; SELECT id, machine_key, hostname, user_id, ipv4 FROM nodes ORDER BY id; SELECT id, key, user_id FROM pre_auth_keys ORDER BY id;' | sha256sum",
        db.display()
    ))
}

fn headscale_version(r: &Rehearsal, node: &str) -> String {
    let bin = r.node_root(node).join("usr/bin/headscale");
    r.sh(&format!("{} version", bin.display()))
}

#[test]
fn headscale_walks_the_required_path_on_every_node_and_keeps_every_row() {
    // node3 starts at 0.27.1: its own, shorter chain.
    let r = headscale(&[
        (&["node1", "node2"], Some("0.26.0")),
        (&["node3"], Some("0.27.1")),
    ]);
    let before: Vec<String> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| headscale_rows(&r, n))
        .collect();
    let run = r.run().args(["--output", "json"]).expect_code(0);
    let events = run.events();
    let upgrades = |host: &str| -> Vec<String> {
        phases(&events)
            .into_iter()
            .filter(|(h, p, _)| h == host && p == "upgrade")
            .map(|(_, _, to)| to)
            .collect()
    };
    // The latest patch of every minor, never one skipped.
    assert_eq!(upgrades("node1"), ["0.27.1", "0.28.0"], "{}", run.dump());
    assert_eq!(upgrades("node3"), ["0.28.0"]);
    // Per hop: stop, a backup, the new binary and config, start, verify.
    let node1: Vec<String> = phases(&events)
        .into_iter()
        .filter(|(h, _, _)| h == "node1")
        .map(|(_, p, _)| p)
        .take(6)
        .collect();
    assert_eq!(
        node1,
        ["stop", "backup", "upgrade", "start", "verify", "stop"]
    );
    for (i, node) in ["node1", "node2", "node3"].iter().enumerate() {
        assert_eq!(headscale_version(&r, node), "v0.28.0");
        assert_eq!(headscale_rows(&r, node), before[i], "{node} lost rows");
        // The key 0.27.0 renamed was updated in the live configuration.
        let config = std::fs::read_to_string(r.node_root(node).join("etc/headscale/config.yaml"))
            .expect("config");
        assert!(config.contains("ephemeral_node_expiry:"), "{config}");
        assert!(!config.contains("ephemeral_node_inactivity_timeout"));
        // A timestamped backup of the config and data directories per hop.
        let backups = r.sh(&format!(
            "ls -d {}/var/lib/headscale.backup-* | wc -l",
            r.node_root(node).display()
        ));
        assert_eq!(backups, if *node == "node3" { "1" } else { "2" });
    }
    let again = r.run().expect_code(0);
    assert_eq!(changed(&again), 0, "{}", again.dump());
    again.stdout_has("UP_TO_DATE");
}

#[test]
fn headscale_node_whose_new_version_fails_is_restored_and_the_rest_untouched() {
    let r = headscale(&[(&[], Some("0.26.0"))]);
    // 0.28.0 crashes on node2 after it starts: its verify of the hop to 0.28.0 fails.
    r.fault("node2", "headscale", "0.28.0");
    let run = r.run().args(["--output", "json"]).expect_code(6);
    assert_eq!(
        outcomes(&run.events()),
        pairs(&[
            ("node1", "UPGRADED"),
            ("node2", "ROLLED_BACK"),
            ("node3", "UNTOUCHED")
        ]),
        "{}",
        run.dump()
    );
    // node2 is back at 0.27.1 — the state its last backup holds — byte for byte, running.
    assert_eq!(headscale_version(&r, "node2"), "v0.27.1");
    let root = r.node_root("node2");
    let backup = r.sh(&format!(
        "ls -d {}/var/lib/headscale.backup-* | sort | tail -1",
        root.display()
    ));
    assert_eq!(
        r.sh(&format!(
            "sha256sum < {}/var/lib/headscale/db.sqlite",
            root.display()
        )),
        r.sh(&format!("sha256sum < {backup}/db.sqlite"))
    );
    let health = r.sh(&format!("{}/usr/bin/headscale health", root.display()));
    assert!(health.contains("\"version\":\"0.27.1\""), "{health}");
    // node3 was never touched.
    assert_eq!(headscale_version(&r, "node3"), "v0.26.0");
    assert!(!r.node_root("node3").join("etc/headscale.backup-0").exists());
    assert_eq!(
        r.sh(&format!(
            "ls -d {}/var/lib/headscale.backup-* 2>/dev/null | wc -l",
            r.node_root("node3").display()
        )),
        "0"
    );
}

#[test]
fn headscale_rollout_killed_midway_resumes_without_repeating_a_node_or_hop() {
    let r = headscale(&[(&[], Some("0.26.0"))]);
    // Killed once node2 began its second hop's upgrade.
    r.kill_when(&["\"phase_start\"", "\"node2\"", "\"upgrade\"", "\"hop\":2"]);
    let resumed = r.resume().args(["--output", "json"]).expect_code(0);
    let seen = phases(&resumed.events());
    assert!(
        !seen.iter().any(|(h, _, _)| h == "node1"),
        "node1 was touched again:\n{}",
        resumed.dump()
    );
    let node2: Vec<String> = seen
        .iter()
        .filter(|(h, _, _)| h == "node2")
        .map(|(_, p, to)| format!("{p} {to}"))
        .collect();
    // node2 goes on with the phase it was killed in, at its second hop; hop 1 is not redone.
    assert_eq!(
        node2.first().map(String::as_str),
        Some("upgrade 0.28.0"),
        "{}",
        resumed.dump()
    );
    assert!(!node2.iter().any(|p| p.ends_with("0.27.1")));
    for node in ["node1", "node2", "node3"] {
        assert_eq!(headscale_version(&r, node), "v0.28.0");
    }
}

// ---- Nakama: one PostgreSQL database shared by the cluster, migrated once per hop ----

fn nakama() -> Rehearsal {
    let services = Services {
        postgresql: true,
        redis: false,
    };
    Rehearsal::up(
        Product::Nakama,
        3,
        services,
        &[(&[], Some("3.20.0"))],
        false,
    )
}

fn psql(r: &Rehearsal, db: &str, sql: &str) -> String {
    let pg = r.fleet.lab.postgresql.as_ref().expect("postgresql");
    r.sh(&format!(
        "{}/psql -At -h {} -p {} -U {} -d {db} -c {}",
        pg.bin.display(),
        pg.host,
        pg.port,
        pg.user,
        shlex_quote(sql)
    ))
}

fn shlex_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

fn nakama_data(r: &Rehearsal) -> String {
    psql(
        r,
        "nakama",
        "SELECT id, username, display_name, create_time FROM users ORDER BY id; SELECT collection, key, user_id, value FROM storage ORDER BY 1, 2, 3",
    )
}

fn nakama_schema(r: &Rehearsal) -> String {
    psql(r, "nakama", "SELECT count(*) FROM migration_info")
}

fn nakama_version(r: &Rehearsal, node: &str) -> String {
    r.sh(&format!(
        "{}/usr/local/bin/nakama --version",
        r.node_root(node).display()
    ))
}

#[test]
fn nakama_cluster_moves_hop_by_hop_with_one_migration_per_hop() {
    let r = nakama();
    let before = nakama_data(&r);
    let run = r.run().args(["--output", "json"]).expect_code(0);
    let events = run.events();
    // Every node at 3.21.1 before any node goes to 3.22.0.
    let seen = phases(&events);
    let last_first_hop = seen.iter().rposition(|(_, _, to)| to == "3.21.1");
    let first_second_hop = seen.iter().position(|(_, _, to)| to == "3.22.0");
    assert!(last_first_hop < first_second_hop, "{seen:#?}");
    // The schema migrated once per hop: only the first node of each hop applied anything.
    let migrations: Vec<(String, bool)> = events
        .iter()
        .filter(|e| {
            e["event"] == "host_result"
                && e["task"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Upgrade the database schema"))
        })
        .map(|e| {
            (
                e["host"].as_str().unwrap_or_default().to_string(),
                e["status"] == "changed",
            )
        })
        .collect();
    assert_eq!(
        migrations.iter().filter(|(_, changed)| *changed).count(),
        2,
        "{migrations:?}"
    );
    for node in ["node1", "node2", "node3"] {
        assert_eq!(nakama_version(&r, node), "3.22.0");
    }
    assert_eq!(nakama_data(&r), before, "the players' data changed");
    let again = r.run().expect_code(0);
    assert_eq!(changed(&again), 0, "{}", again.dump());
}

#[test]
fn nakama_node_failing_after_the_shared_migration_rolls_the_cluster_back() {
    let r = nakama();
    let before = nakama_data(&r);
    let schema_before = nakama_schema(&r);
    let dump = |r: &Rehearsal| {
        let pg = r.fleet.lab.postgresql.as_ref().expect("postgresql");
        r.sh(&format!(
            "{}/pg_dump --data-only --table=users --table=storage -h {} -p {} -U {} -d nakama | grep -v -e '^--' -e '^\\\\' | sha256sum",
            pg.bin.display(),
            pg.host,
            pg.port,
            pg.user
        ))
    };
    let dump_before = dump(&r);
    // 3.22.0 crashes on node2: by then node1 runs 3.22.0 on a schema migrated to 3.22.0.
    r.fault("node2", "nakama", "3.22.0");
    let run = r.run().args(["--output", "json"]).expect_code(6);
    let events = run.events();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "cluster_rollback" && e["trigger"] == "node2"),
        "{}",
        run.dump()
    );
    assert_eq!(
        outcomes(&events),
        pairs(&[
            ("node1", "ROLLED_BACK"),
            ("node2", "ROLLED_BACK"),
            ("node3", "ROLLED_BACK")
        ]),
        "{}",
        run.dump()
    );
    // Every node back on 3.20.0 and running, the schema migrated down to where it was, the
    // data byte-identical.
    for node in ["node1", "node2", "node3"] {
        assert_eq!(nakama_version(&r, node), "3.20.0");
        let health = r.sh(&format!(
            "{}/usr/local/bin/nakama healthcheck --database.address {}@{}:{}/nakama",
            r.node_root(node).display(),
            r.fleet
                .lab
                .postgresql
                .as_ref()
                .map_or("", |p| p.user.as_str()),
            r.fleet
                .lab
                .postgresql
                .as_ref()
                .map_or(String::new(), |p| p.host.to_string()),
            r.fleet.lab.postgresql.as_ref().map_or(0, |p| p.port),
        ));
        assert!(
            health.contains("\"version\":\"3.20.0\""),
            "{node}: {health}"
        );
    }
    assert_eq!(nakama_schema(&r), schema_before);
    assert_eq!(nakama_data(&r), before);
    assert_eq!(dump(&r), dump_before);
}

#[test]
fn nakama_rollout_killed_midway_resumes_without_repeating_a_node_or_hop() {
    let r = nakama();
    // Killed when node2 began the second hop (node1 has done both hops' migrations).
    r.kill_when(&["\"phase_start\"", "\"node2\"", "\"stop\"", "\"hop\":2"]);
    let resumed = r.resume().args(["--output", "json"]).expect_code(0);
    let seen = phases(&resumed.events());
    assert!(
        !seen.iter().any(|(h, _, to)| h == "node1" || to == "3.21.1"),
        "a finished node or hop ran again:\n{}",
        resumed.dump()
    );
    for node in ["node1", "node2", "node3"] {
        assert_eq!(nakama_version(&r, node), "3.22.0");
    }
}

// ---- The Things Stack: PostgreSQL + Redis per node, staging before production ----

fn tts(enterprise_node3: bool) -> Rehearsal {
    let mut seeds: Vec<(&[&str], Option<&str>)> = vec![(&["node1", "node2"], Some("3.30.2"))];
    if !enterprise_node3 {
        seeds.push((&["node3"], Some("3.30.2")));
    }
    let r = Rehearsal::up(Product::TheThingsStack, 3, Services::ALL, &seeds, false);
    if enterprise_node3 {
        // One Enterprise deployment: the inventory says so, and it migrates as-db and dcs-db.
        let options = drover::lab::SeedOptions {
            version: Some("3.30.2".to_string()),
            nodes: vec!["node3".to_string()],
            enterprise: true,
        };
        r.fleet
            .lab
            .seed_product(&Product::TheThingsStack, &options)
            .expect("seed");
        r.fleet
            .write("host_vars/node3.yml", "tts_edition: enterprise\n");
    }
    r
}

/// Users and devices in PostgreSQL and the devices' EUIs in Redis (what an upgrade keeps;
/// migrations add fields), and both stores dumped whole (what a restore puts back).
fn tts_data(r: &Rehearsal, node: &str) -> (String, String) {
    let pg = r.fleet.lab.postgresql.as_ref().expect("postgresql");
    let n = r.fleet.lab.node(node).expect("node");
    let db = format!("ttn_lorawan_{node}");
    let rows = psql(
        r,
        &db,
        "SELECT user_id, primary_email_address FROM users ORDER BY 1; SELECT application_id, device_id, dev_eui FROM end_devices ORDER BY 1, 2",
    );
    let redis = |command: &str| {
        r.sh(&format!(
            "for k in $(redis-cli -h {a} -p {p} --scan --pattern 'ttn:v3:*' | sort); do echo \"$k $(redis-cli -h {a} -p {p} {command} | tr '\\n' ' ')\"; done | sha256sum",
            a = n.address,
            p = n.redis_port.expect("redis")
        ))
    };
    let euis = redis("HGET $k dev_eui");
    let sessions = redis("HGETALL $k");
    let dump = r.sh(&format!(
        "{}/pg_dump --data-only -h {} -p {} -U {} -d {db} | grep -v -e '^--' -e '^\\\\' | grep -v -i migration | sha256sum",
        pg.bin.display(),
        pg.host,
        pg.port,
        pg.user
    ));
    (format!("{rows}\n{euis}"), format!("{dump}\n{sessions}"))
}

fn tts_tag(r: &Rehearsal, node: &str) -> String {
    let compose = r
        .node_root(node)
        .join("srv/lorawan-stack/docker-compose.yml");
    r.sh(&format!(
        "sed -n \"s/.*lorawan-stack:\\([^']*\\)'.*/\\1/p\" {}",
        compose.display()
    ))
}

#[test]
fn tts_staging_then_production_every_store_migrated_every_record_kept() {
    let r = tts(true);
    let before: Vec<(String, String)> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| tts_data(&r, n))
        .collect();
    let run = r.run().args(["--output", "json"]).expect_code(0);
    let events = run.events();
    // Staging (node1) done and verified before production starts.
    let seen = phases(&events);
    let last_staging = seen.iter().rposition(|(h, _, _)| h == "node1");
    let first_production = seen.iter().position(|(h, _, _)| h != "node1");
    assert!(last_staging < first_production, "{seen:#?}");
    // Enterprise migrates as-db and dcs-db too; Open Source only is-db and ns-db.
    let migrated = |host: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| {
                e["event"] == "host_result"
                    && e["host"] == host
                    && e["phase"] == "migrate"
                    && e["status"] == "changed"
            })
            .filter_map(|e| e["task"].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(migrated("node2").len(), 4, "{:?}", migrated("node2"));
    assert_eq!(migrated("node3").len(), 8, "{:?}", migrated("node3"));
    for (i, node) in ["node1", "node2", "node3"].iter().enumerate() {
        assert_eq!(tts_tag(&r, node), "3.32.0");
        assert_eq!(tts_data(&r, node).0, before[i].0, "{node} lost records");
    }
    let again = r.run().expect_code(0);
    assert_eq!(changed(&again), 0, "{}", again.dump());
}

#[test]
fn tts_staging_failure_is_restored_and_production_untouched() {
    let r = tts(false);
    let before = tts_data(&r, "node1");
    let production_before: Vec<(String, String)> =
        ["node2", "node3"].iter().map(|n| tts_data(&r, n)).collect();
    // 3.31.1 crashes on staging.
    r.fault("node1", "ttn-lw-stack", "3.31.1");
    let run = r.run().args(["--output", "json"]).expect_code(6);
    assert_eq!(
        outcomes(&run.events()),
        pairs(&[
            ("node1", "ROLLED_BACK"),
            ("node2", "UNTOUCHED"),
            ("node3", "UNTOUCHED")
        ]),
        "{}",
        run.dump()
    );
    // Restored by the guide's sequence: PostgreSQL (the data dump compared) and the AOF.
    assert_eq!(tts_data(&r, "node1"), before, "{}", run.dump());
    assert_eq!(tts_tag(&r, "node1"), "3.30.2");
    let compose = r
        .node_root("node1")
        .join("srv/lorawan-stack/docker-compose.yml");
    let health = r.sh(&format!(
        "{}/lab/bin/docker compose -f {} exec -T stack ttn-lw-stack health",
        r.node_root("node1").display(),
        compose.display()
    ));
    assert!(health.contains("\"version\":\"3.30.2\""), "{health}");
    for (i, node) in ["node2", "node3"].iter().enumerate() {
        assert_eq!(tts_tag(&r, node), "3.30.2");
        assert_eq!(tts_data(&r, node), production_before[i]);
        assert!(!r.node_root(node).join("srv/lorawan-stack/backups").exists());
    }
}

#[test]
fn tts_rollout_killed_midway_resumes_without_repeating_a_node_or_hop() {
    let r = tts(false);
    r.kill_when(&["\"phase_start\"", "\"node2\"", "\"migrate\"", "\"hop\":1"]);
    let resumed = r.resume().args(["--output", "json"]).expect_code(0);
    let seen = phases(&resumed.events());
    assert!(
        !seen.iter().any(|(h, _, _)| h == "node1"),
        "staging was touched again:\n{}",
        resumed.dump()
    );
    let node2: Vec<String> = seen
        .iter()
        .filter(|(h, _, _)| h == "node2")
        .map(|(_, p, to)| format!("{p} {to}"))
        .collect();
    assert_eq!(
        node2.first().map(String::as_str),
        Some("migrate 3.31.1"),
        "{}",
        resumed.dump()
    );
    for node in ["node1", "node2", "node3"] {
        assert_eq!(tts_tag(&r, node), "3.32.0");
    }
}

// ---- Apache DevLake: one-way migrations, the .env and its ENCODE_KEY preserved ----

fn devlake() -> Rehearsal {
    let services = Services {
        postgresql: true,
        redis: false,
    };
    Rehearsal::up(
        Product::Devlake,
        3,
        services,
        &[(&[], Some("v0.20.0"))],
        false,
    )
}

fn devlake_compose(r: &Rehearsal, node: &str, args: &str) -> String {
    let root = r.node_root(node);
    r.sh(&format!(
        "{}/lab/bin/docker compose -f {}/app/docker-compose.yml {args}",
        root.display(),
        root.display()
    ))
}

/// The database's data dumped (what a restore must put back byte for byte).
fn devlake_dump(r: &Rehearsal, node: &str) -> String {
    let pg = r.fleet.lab.postgresql.as_ref().expect("postgresql");
    r.sh(&format!(
        "{}/pg_dump --data-only -h {} -p {} -U {} -d lake_{node} | grep -v -e '^--' -e '^\\\\' | sha256sum",
        pg.bin.display(),
        pg.host,
        pg.port,
        pg.user
    ))
}

fn encode_key(r: &Rehearsal, node: &str) -> String {
    r.sh(&format!(
        "grep '^ENCODE_KEY=' {}/app/.env",
        r.node_root(node).display()
    ))
}

#[test]
fn devlake_upgrade_keeps_the_encode_key_and_every_token_decrypts() {
    let r = devlake();
    let keys: Vec<String> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| encode_key(&r, n))
        .collect();
    let tokens: Vec<String> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| devlake_compose(&r, n, "exec -T devlake lake connections"))
        .collect();
    let run = r.run().args(["--output", "json"]).expect_code(0);
    let upgrades: Vec<String> = phases(&run.events())
        .into_iter()
        .filter(|(h, p, _)| h == "node1" && p == "upgrade")
        .map(|(_, _, to)| to)
        .collect();
    assert_eq!(upgrades, ["v0.21.0", "v1.0.1"], "{}", run.dump());
    for (i, node) in ["node1", "node2", "node3"].iter().enumerate() {
        let health = devlake_compose(&r, node, "exec -T devlake lake health");
        assert!(health.contains("\"version\":\"v1.0.1\""), "{health}");
        assert_eq!(encode_key(&r, node), keys[i]);
        assert_eq!(
            devlake_compose(&r, node, "exec -T devlake lake connections"),
            tokens[i]
        );
    }
    // The key is never printed or journaled.
    let key = keys[0].trim_start_matches("ENCODE_KEY=");
    assert!(!run.stdout().contains(key), "ENCODE_KEY reached the output");
    let journals = r.sh(&format!("cat {}/runs/*.jsonl", r.state.display()));
    assert!(!journals.contains(key), "ENCODE_KEY reached the journal");
    let again = r.run().expect_code(0);
    assert_eq!(changed(&again), 0, "{}", again.dump());
}

#[test]
fn devlake_failure_restores_the_database_never_a_down_migration() {
    let r = devlake();
    r.fault("node2", "devlake", "v1.0.1");
    // node2's state before its second hop is what a restore must give back: reach it with
    // the same playbook, limited to v0.21.0, then take the checksums.
    let first = r
        .run()
        .args([
            "-l",
            "node2",
            "-e",
            "devlake_target=v0.21.0",
            "--no-journal",
        ])
        .expect_code(0);
    drop(first);
    let dump_before = devlake_dump(&r, "node2");
    let env_before = r.sh(&format!(
        "sha256sum < {}/app/.env",
        r.node_root("node2").display()
    ));
    let run = r.run().args(["--output", "json"]).expect_code(6);
    assert_eq!(
        outcomes(&run.events()),
        pairs(&[
            ("node1", "UPGRADED"),
            ("node2", "ROLLED_BACK"),
            ("node3", "UNTOUCHED")
        ]),
        "{}",
        run.dump()
    );
    assert_eq!(
        devlake_dump(&r, "node2"),
        dump_before,
        "the database was not restored"
    );
    assert_eq!(
        r.sh(&format!(
            "sha256sum < {}/app/.env",
            r.node_root("node2").display()
        )),
        env_before
    );
    let health = devlake_compose(&r, "node2", "exec -T devlake lake health");
    assert!(health.contains("\"version\":\"v0.21.0\""), "{health}");
    // Never a down-migration: the rollback restored, it did not migrate.
    assert!(!run.stdout().contains("migrate down"));
    let health3 = devlake_compose(&r, "node3", "exec -T devlake lake health");
    assert!(health3.contains("\"version\":\"v0.20.0\""), "{health3}");
}

#[test]
fn devlake_rollout_killed_midway_resumes_without_repeating_a_node_or_hop() {
    let r = devlake();
    r.kill_when(&["\"phase_start\"", "\"node2\"", "\"start\"", "\"hop\":2"]);
    let resumed = r.resume().args(["--output", "json"]).expect_code(0);
    let seen = phases(&resumed.events());
    assert!(
        !seen.iter().any(|(h, _, _)| h == "node1"),
        "{}",
        resumed.dump()
    );
    assert!(
        !seen
            .iter()
            .any(|(h, _, to)| h == "node2" && to == "v0.21.0"),
        "{}",
        resumed.dump()
    );
    for node in ["node1", "node2", "node3"] {
        let health = devlake_compose(&r, node, "exec -T devlake lake health");
        assert!(
            health.contains("\"version\":\"v1.0.1\""),
            "{node}: {health}"
        );
    }
}

// ---- GitLab: required stops, a shared database migrated once per hop, backups per hop ----

fn gitlab() -> Rehearsal {
    let services = Services {
        postgresql: true,
        redis: false,
    };
    Rehearsal::up(
        Product::Gitlab,
        3,
        services,
        &[(&[], Some("16.3.9"))],
        false,
    )
}

fn gitlab_version(r: &Rehearsal, node: &str) -> String {
    r.sh(&format!(
        "{}/lab/bin/dpkg-query -W -f='${{Version}}' gitlab-ee",
        r.node_root(node).display()
    ))
}

/// Users, projects and every repository file, on the deploy node (node1).
fn gitlab_data(r: &Rehearsal) -> String {
    let root = r.node_root("node1");
    let rows = psql(
        r,
        "gitlabhq_production",
        "SELECT id, username, email FROM users ORDER BY id; SELECT id, name, path, disk_path FROM projects ORDER BY id",
    );
    let repos = r.sh(&format!(
        "cd {}/var/opt/gitlab/git-data/repositories && find . -type f | sort | xargs sha256sum | sha256sum",
        root.display()
    ));
    format!("{rows}\n{repos}")
}

#[test]
fn gitlab_takes_every_required_stop_with_one_migration_and_one_backup_per_hop() {
    let r = gitlab();
    let before = gitlab_data(&r);
    // The upgrade plan the guide asks for, from the same playbook and inventory.
    let plan = common::drover()
        .arg("plan")
        .arg(&r.playbook)
        .arg("-i")
        .arg(&r.inventory)
        .args(["--format", "markdown"])
        .expect_code(0);
    for needle in [
        "## Upgrade path",
        "16.3.9 → 16.7.10 → 16.11.10 → 17.1.8",
        "## Rollback plan",
        "a restore needs 16.11.10",
        "multi-node",
        "External components",
        "Barrier",
    ] {
        plan.stdout_has(needle);
    }
    let run = r.run().args(["--output", "json"]).expect_code(0);
    let events = run.events();
    // The required stops, never 16.9.2 (not a stop), every node at each before the next.
    let hops: Vec<String> = phases(&events)
        .into_iter()
        .filter(|(h, p, _)| h == "node1" && p == "upgrade")
        .map(|(_, _, to)| to)
        .collect();
    assert_eq!(hops, ["16.7.10", "16.11.10", "17.1.8"], "{}", run.dump());
    let seen = phases(&events);
    for (earlier, later) in [("16.7.10", "16.11.10"), ("16.11.10", "17.1.8")] {
        let last = seen.iter().rposition(|(_, _, to)| to == earlier);
        let first = seen.iter().position(|(_, _, to)| to == later);
        assert!(last < first, "{earlier} then {later}: {seen:#?}");
    }
    // The schema migrated once per hop (by the deploy node), a backup per hop there, and
    // every node's configuration and secrets saved per hop.
    let migrated = events
        .iter()
        .filter(|e| {
            e["event"] == "host_result"
                && e["status"] == "changed"
                && e["task"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Migrate the database"))
        })
        .count();
    assert_eq!(migrated, 3, "{}", run.dump());
    let count = |dir: &str| {
        r.sh(&format!(
            "ls {} | wc -l",
            r.node_root("node1").join(dir).display()
        ))
    };
    assert_eq!(count("var/opt/gitlab/backups"), "3");
    for node in ["node1", "node2", "node3"] {
        assert_eq!(gitlab_version(&r, node), "17.1.8-ee.0");
        assert_eq!(
            r.sh(&format!(
                "ls {}/etc/gitlab/config_backup | wc -l",
                r.node_root(node).display()
            )),
            "3"
        );
    }
    assert_eq!(gitlab_data(&r), before, "GitLab's data changed");
    let again = r.run().expect_code(0);
    assert_eq!(changed(&again), 0, "{}", again.dump());
}

#[test]
fn gitlab_node_failing_takes_the_cluster_back_to_the_last_backup() {
    let r = gitlab();
    let before = gitlab_data(&r);
    r.fault("node2", "gitlab", "17.1.8");
    let run = r.run().args(["--output", "json"]).expect_code(6);
    assert_eq!(
        outcomes(&run.events()),
        pairs(&[
            ("node1", "ROLLED_BACK"),
            ("node2", "ROLLED_BACK"),
            ("node3", "ROLLED_BACK")
        ]),
        "{}",
        run.dump()
    );
    // Back at the last backup's version (16.11.10: a restore needs it), healthy, the data
    // and repositories as they were.
    for node in ["node1", "node2", "node3"] {
        assert_eq!(gitlab_version(&r, node), "16.11.10-ee.0");
        let check = r.sh(&format!(
            "{}/opt/gitlab/bin/gitlab-rake gitlab:check SANITIZE=true",
            r.node_root(node).display()
        ));
        assert!(check.contains("running 16.11.10-ee"), "{node}: {check}");
    }
    assert_eq!(gitlab_data(&r), before);
    let secrets = r.sh(&format!(
        "{}/opt/gitlab/bin/gitlab-rake gitlab:doctor:secrets",
        r.node_root("node1").display()
    ));
    assert!(secrets.contains(" 0 failure(s)"), "{secrets}");
}

#[test]
fn gitlab_rollout_killed_midway_resumes_without_repeating_a_node_or_hop() {
    let r = gitlab();
    r.kill_when(&["\"phase_start\"", "\"node3\"", "\"upgrade\"", "\"hop\":2"]);
    let resumed = r.resume().args(["--output", "json"]).expect_code(0);
    let seen = phases(&resumed.events());
    assert!(
        !seen.iter().any(|(_, _, to)| to == "16.7.10"),
        "a finished hop ran again:\n{}",
        resumed.dump()
    );
    assert!(
        !seen
            .iter()
            .any(|(h, _, to)| h != "node3" && to == "16.11.10"),
        "a node that finished the hop ran it again:\n{}",
        resumed.dump()
    );
    for node in ["node1", "node2", "node3"] {
        assert_eq!(gitlab_version(&r, node), "17.1.8-ee.0");
    }
}

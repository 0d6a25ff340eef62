//! The product stand-ins (`drover lab seed <product>`) against real sshd, PostgreSQL, Redis and
//! SQLite: each test seeds a product, then upgrades it by hand over SSH with the commands of the
//! product's guide, and checks that the happy path works, that a skipped version and a newer
//! schema are refused, that the data survive, and that the health check tells the truth.
//! Every remote script is bounded: the stand-ins' own waits are, and the test loops count.

mod common;

use common::{Fleet, drover};
use drover::lab::Services;
use std::process::{Command, Output, Stdio};

/// One lab node as a shell: every script runs over SSH (the real client) in the node root with
/// N (the node root), REL ($LAB/releases), the lab's PostgreSQL in PGHOST/PGPORT/PGUSER, and
/// PATH starting with the node's stand-ins (lab/bin, usr/bin, usr/local/bin).
struct Shell<'a> {
    fleet: &'a Fleet,
    node: &'static str,
}

impl Shell<'_> {
    fn run(&self, script: &str) -> Output {
        let lab = &self.fleet.lab;
        let node = lab.node(self.node).expect("node");
        let argv = lab.ssh_command(node);
        let mut prelude = format!(
            "N='{root}'; REL='{rel}'; cd \"$N\" || exit 99; \
             PATH=\"$N/lab/bin:$N/usr/bin:$N/usr/local/bin:$PATH\"; export PATH; ",
            root = node.root.display(),
            rel = lab.releases_dir().display(),
        );
        if let Some(pg) = &lab.postgresql {
            prelude.push_str(&format!(
                "PGHOST={}; PGPORT={}; PGUSER={}; PATH=\"{}:$PATH\"; export PGHOST PGPORT PGUSER PATH; ",
                pg.host,
                pg.port,
                pg.user,
                pg.bin.display()
            ));
        }
        if let Some(port) = node.redis_port {
            prelude.push_str(&format!("REDIS='-h {} -p {port}'; ", node.address));
        }
        Command::new(&argv[0])
            .args(&argv[1..argv.len() - 1])
            // Bounded; a classic key exchange saves ~0.1 s of each of the many logins.
            .args([
                "-o",
                "ConnectTimeout=5",
                "-o",
                "KexAlgorithms=curve25519-sha256",
            ])
            .arg(&argv[argv.len() - 1])
            .arg(format!("{prelude}\n{script}"))
            .stdin(Stdio::null())
            .output()
            .expect("run ssh")
    }

    /// Runs `script`, which must succeed; returns its stdout.
    fn ok(&self, script: &str) -> String {
        let out = self.run(script);
        assert!(
            out.status.success(),
            "{}: `{script}` failed ({:?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.node,
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs `script`, which must fail; returns its stdout and stderr.
    fn fails(&self, script: &str) -> String {
        let out = self.run(script);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.status.success(),
            "{}: `{script}` should have failed\n{text}",
            self.node
        );
        text
    }
}

fn on<'a>(fleet: &'a Fleet, node: &'static str) -> Shell<'a> {
    Shell { fleet, node }
}

fn seed(fleet: &Fleet, product: &str, args: &[&str]) {
    drover()
        .args(["lab", "seed", product, "--dir"])
        .arg(&fleet.lab.dir)
        .args(args)
        .expect_code(0);
}

fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}

/// Headscale's guide, per node: stop, timestamped backup of the config and data directories,
/// replace the binary, compare the config with the release's example and apply the renamed
/// key, start. `$1` is the version.
const HEADSCALE_UPGRADE: &str = r#"
upgrade() {
    systemctl stop headscale || return 1
    TS=$(date +%Y%m%d%H%M%S%N)
    cp -aR etc/headscale "etc/headscale.backup-$TS" && cp -aR var/lib/headscale "var/lib/headscale.backup-$TS" || return 1
    install -m 755 "$REL/headscale/$1/headscale_$1_linux_amd64" usr/bin/headscale || return 1
    if diff etc/headscale/config.yaml "$REL/headscale/$1/config-example.yaml" | grep -q '^> ephemeral_node_expiry:'; then
        sed -i 's/^ephemeral_node_inactivity_timeout:/ephemeral_node_expiry:/' etc/headscale/config.yaml
    fi
    systemctl start headscale
}
"#;

const HEADSCALE_DATA: &str = "sqlite3 var/lib/headscale/db.sqlite 'SELECT id, name FROM users ORDER BY id; \
     SELECT id, machine_key, hostname, user_id, ipv4 FROM nodes ORDER BY id; \
     SELECT id, key, user_id FROM pre_auth_keys ORDER BY id;' | sha256sum";

#[test]
fn headscale_walks_the_latest_patch_of_each_minor_and_refuses_skips_and_downgrades() {
    let fleet = Fleet::up(3);
    seed(&fleet, "headscale", &["--nodes", "node1,node2"]);
    seed(
        &fleet,
        "headscale",
        &["--version", "0.27.1", "--nodes", "node3"],
    );
    let (n1, n2, n3) = (
        on(&fleet, "node1"),
        on(&fleet, "node2"),
        on(&fleet, "node3"),
    );
    let before = n1.ok(HEADSCALE_DATA);
    has(
        &n1.ok("headscale health"),
        r#""status":"pass","version":"0.26.0""#,
    );
    has(&n3.ok("headscale health"), r#""version":"0.27.1""#);

    // Skipping 0.27 is refused at start, and nothing runs.
    let out = n1.fails(&format!("{HEADSCALE_UPGRADE} upgrade 0.28.0"));
    has(&out, "schema is from 0.26.0");
    has(&out, "upgrade to 0.27.1 first");
    has(&n1.fails("headscale health"), "not running");
    n1.fails("systemctl is-active headscale");
    // Back to 0.26.0 from the backup (the config there has the old key).
    n1.ok("B=$(ls -d etc/headscale.backup-* | tail -n 1); rm -rf etc/headscale && cp -aR \"$B\" etc/headscale && \
           install -m 755 \"$REL/headscale/0.26.0/headscale_0.26.0_linux_amd64\" usr/bin/headscale && systemctl start headscale");

    // 0.27.1 refuses the renamed key, naming it, until the config is updated.
    let out = n1.fails(
        "systemctl stop headscale && install -m 755 \"$REL/headscale/0.27.1/headscale_0.27.1_linux_amd64\" usr/bin/headscale && \
         systemctl start headscale",
    );
    has(
        &out,
        "`ephemeral_node_inactivity_timeout` was renamed to `ephemeral_node_expiry`",
    );
    n1.ok(&format!("{HEADSCALE_UPGRADE} upgrade 0.27.1"));
    has(&n1.ok("headscale health"), r#""version":"0.27.1""#);
    n1.ok(&format!("{HEADSCALE_UPGRADE} upgrade 0.28.0"));
    has(
        &n1.ok("headscale health"),
        r#""status":"pass","version":"0.28.0""#,
    );
    assert_eq!(n1.ok(HEADSCALE_DATA), before, "headscale data changed");

    // The health check reports the running server, not the installed binary.
    let out = n1.ok(
        "install -m 755 \"$REL/headscale/0.27.1/headscale_0.27.1_linux_amd64\" usr/bin/headscale && \
         headscale version && headscale health",
    );
    has(&out, "v0.27.1");
    has(&out, r#""version":"0.28.0""#);
    // A downgrade is refused: 0.27.1 on a schema 0.28.0 migrated.
    let out = n1.fails("systemctl restart headscale");
    has(&out, "migrated by a newer version");
    has(&n1.fails("headscale health"), "not running");

    // node2 takes 0.27.0, not the latest patch: 0.28.0 needs 0.27.1.
    n2.ok(&format!("{HEADSCALE_UPGRADE} upgrade 0.27.0"));
    has(
        &n2.fails(&format!("{HEADSCALE_UPGRADE} upgrade 0.28.0")),
        "upgrade to 0.27.1 first",
    );
    n2.ok(&format!(
        "{HEADSCALE_UPGRADE} upgrade 0.27.1 && upgrade 0.28.0 && headscale health"
    ));
    // node3 started at 0.27.1: one hop.
    has(
        &n3.ok(&format!(
            "{HEADSCALE_UPGRADE} upgrade 0.28.0 && headscale health"
        )),
        r#""version":"0.28.0""#,
    );

    // A killed server is not healthy, whatever its pid file says.
    n3.ok("kill -9 $(cat run/standins/headscale.pid)");
    has(&n3.fails("headscale health"), "not running");
    n3.fails("systemctl is-active headscale");
}

const NAKAMA_DATA: &str = "psql -X -At -d nakama -c 'SELECT id, username, display_name, create_time FROM users ORDER BY id' \
     -c 'SELECT collection, key, user_id, value FROM storage ORDER BY 1, 2, 3' | sha256sum";

/// Nakama's guide, per node: stop, back up the database, replace the binary, `migrate up`,
/// start. `$1` is the version; A is the shared database's address.
const NAKAMA_UPGRADE: &str = r#"
A="$PGUSER@$PGHOST:$PGPORT/nakama"
upgrade() {
    systemctl stop nakama || return 1
    pg_dump --format=c -d nakama -f "var/lib/nakama/backup-$(date +%s%N).dump" || return 1
    install -m 755 "$REL/nakama/$1/nakama" usr/local/bin/nakama || return 1
    nakama migrate up --database.address "$A" || return 1
    systemctl start nakama && nakama healthcheck
}
"#;

#[test]
fn nakama_cluster_migrates_its_shared_schema_and_nodes_behind_it_refuse_to_start() {
    let fleet = Fleet::up_with(3, Services::ALL);
    seed(&fleet, "nakama", &[]);
    let (n1, n2, n3) = (
        on(&fleet, "node1"),
        on(&fleet, "node2"),
        on(&fleet, "node3"),
    );
    let before = n1.ok(NAKAMA_DATA);
    has(&n1.ok("nakama healthcheck"), r#""version":"3.20.0""#);

    // 3.22.0 straight from 3.20.0 skips 3.21: migrate up refuses, and so does the server.
    let out = n1.fails(&format!("{NAKAMA_UPGRADE} upgrade 3.22.0"));
    has(&out, "upgrade to 3.21.0 first");
    has(
        &n1.fails("systemctl start nakama"),
        "upgrade to 3.21.0 first",
    );
    n1.ok(&format!("{NAKAMA_UPGRADE} upgrade 3.20.0"));

    for version in ["3.21.1", "3.22.0"] {
        has(
            &n1.ok(&format!("{NAKAMA_UPGRADE} upgrade {version}")),
            &format!(r#""version":"{version}""#),
        );
        // node2 still runs the old server on the new schema: healthy, and says so...
        has(
            &n2.ok("nakama healthcheck"),
            "schema ahead of the running version",
        );
        // ...but its old binary cannot start again on it.
        has(
            &n2.fails("systemctl restart nakama"),
            "migrated by a newer version",
        );
        for node in [&n2, &n3] {
            has(
                &node.ok(&format!("{NAKAMA_UPGRADE} upgrade {version}")),
                &format!(r#""version":"{version}""#),
            );
        }
    }
    has(
        &n3.ok(&format!(
            "{NAKAMA_UPGRADE} nakama migrate status --database.address \"$A\""
        )),
        "applied",
    );
    assert_eq!(n1.ok(NAKAMA_DATA), before, "nakama data changed");

    // The guide's downgrade on node3: old binary, `migrate down --limit 1`. The other nodes
    // still run 3.22.0, now on a schema behind them: their health check says so.
    let out = n3.ok(&format!(
        "{NAKAMA_UPGRADE} systemctl stop nakama && install -m 755 \"$REL/nakama/3.21.1/nakama\" usr/local/bin/nakama && \
         nakama migrate down --limit 1 --database.address \"$A\" && systemctl start nakama && nakama healthcheck"
    ));
    has(&out, r#""version":"3.21.1""#);
    has(
        &n1.fails("nakama healthcheck"),
        "database schema is behind 3.22.0",
    );
    assert_eq!(n1.ok(NAKAMA_DATA), before, "a down migration lost data");
}

const GITLAB_DATA: &str = "{ psql -X -At -d gitlabhq_production -c 'SELECT id, username, email FROM users ORDER BY id' \
     -c 'SELECT id, name, path, disk_path FROM projects ORDER BY id'; \
     (cd var/opt/gitlab/git-data/repositories && find . -type f | sort | xargs sha256sum); } | sha256sum";

/// Waits (bounded: 40 x 0.25 s) until no batched background migration is queued.
const GITLAB_DRAIN: &str = "i=0; while [ \"$(gitlab-rails runner -e production 'puts Gitlab::Database::BackgroundMigration::BatchedMigration.queued.count')\" != 0 ]; do \
     i=$((i + 1)); [ $i -le 40 ] || { echo 'background migrations did not finish' >&2; exit 1; }; sleep 0.25; done";

#[test]
fn gitlab_cluster_takes_required_stops_after_background_migrations_and_restores_same_version() {
    let fleet = Fleet::up_with(3, Services::ALL);
    seed(&fleet, "gitlab", &["--version", "16.7.10"]);
    // node1: app node that runs the migrations, node2: app node, node3: the sidekiq worker.
    let (n1, n2, n3) = (
        on(&fleet, "node1"),
        on(&fleet, "node2"),
        on(&fleet, "node3"),
    );
    let before = n1.ok(GITLAB_DATA);
    has(
        &n1.ok("gitlab-rake gitlab:check"),
        "puma: running 16.7.10-ee",
    );
    has(
        &n3.ok("gitlab-rake gitlab:check"),
        "sidekiq: running 16.7.10-ee",
    );
    let backup = n1.ok(
        "gitlab-backup create >/dev/null && gitlab-ctl backup-etc >/dev/null && \
                        ls var/opt/gitlab/backups | sed 's/_gitlab_backup.tar$//'",
    );
    has(&backup, "_16.7.10-ee");

    // 17.1.8 skips the 16.11 stop: the package's preinst refuses it, nothing changes.
    let out = n1.fails("apt-get install -y gitlab-ee=17.1.8-ee.0");
    has(
        &out,
        "It is required to upgrade to the latest 16.11.x version first",
    );
    assert_eq!(
        n1.ok("dpkg-query -W -f='${Version}' gitlab-ee"),
        "16.7.10-ee.0"
    );

    // Zero-downtime style: no node reconfigures on install; the worker's sidekiq is stopped, so
    // the background migrations the hop queues stay pending.
    for node in [&n1, &n2, &n3] {
        node.ok("touch etc/gitlab/skip-auto-reconfigure");
    }
    n3.ok("gitlab-ctl stop sidekiq");
    n1.ok("apt-get install -y gitlab-ee=16.11.10-ee.0 && gitlab-rake db:migrate && gitlab-ctl restart");
    assert_eq!(
        n1.ok("gitlab-rails runner 'puts Gitlab::BackgroundMigration.remaining'"),
        "3"
    );
    n2.ok("apt-get install -y gitlab-ee=16.11.10-ee.0 && gitlab-ctl reconfigure && gitlab-ctl restart");
    n3.ok("apt-get install -y gitlab-ee=16.11.10-ee.0 && gitlab-ctl reconfigure");

    // The next hop's migration waits for them.
    let out =
        n1.fails("apt-get install -y gitlab-ee=17.1.8-ee.0 >/dev/null && gitlab-rake db:migrate");
    has(
        &out,
        "Expected batched background migrations to be finished",
    );
    n3.ok(&format!("gitlab-ctl start && {GITLAB_DRAIN}"));
    n1.ok("gitlab-rake db:migrate && gitlab-ctl restart");
    for node in [&n2, &n3] {
        node.ok("apt-get install -y gitlab-ee=17.1.8-ee.0 && gitlab-ctl reconfigure && gitlab-ctl restart");
    }
    n1.ok(GITLAB_DRAIN);
    for node in [&n1, &n2, &n3] {
        has(&node.ok("gitlab-rake gitlab:check"), "running 17.1.8-ee");
    }
    assert_eq!(n1.ok(GITLAB_DATA), before, "gitlab data changed");
    has(&n1.ok("gitlab-rake gitlab:doctor:secrets"), "0 failure(s)");

    // An older package cannot start on the newer schema.
    let out = n2.fails("gitlab-ctl stop && apt-get install -y --allow-downgrades gitlab-ee=16.11.10-ee.0 && gitlab-ctl start");
    has(&out, "migrated by a newer version");

    // Rollback: a restore needs the backup's version; at 16.7.10 it brings everything back.
    let restore = format!("gitlab-backup restore BACKUP={backup} force=yes");
    for node in [&n1, &n3] {
        node.ok("gitlab-ctl stop");
    }
    let out = n1.fails(&restore);
    has(&out, "GitLab version mismatch");
    has(&out, "version: 16.7.10-ee");
    n1.ok(&format!(
        "apt-get install -y --allow-downgrades gitlab-ee=16.7.10-ee.0 && {restore} && \
         tar -xf etc/gitlab/config_backup/gitlab_config_*.tar -C . && gitlab-ctl start"
    ));
    has(
        &n1.ok("gitlab-rake gitlab:check"),
        "puma: running 16.7.10-ee",
    );
    assert_eq!(n1.ok(GITLAB_DATA), before, "the restore lost data");
}

/// The connections with a hash of each decrypted token, from the running DevLake.
const DEVLAKE_TOKENS: &str = "cd app && docker compose exec -T devlake lake connections";

#[test]
fn devlake_migrates_one_way_keeps_its_encode_key_and_rolls_back_by_restore() {
    let fleet = Fleet::up_with(2, Services::ALL);
    seed(
        &fleet,
        "devlake",
        &["--version", "v0.21.0", "--nodes", "node1"],
    );
    seed(
        &fleet,
        "devlake",
        &["--version", "v0.20.0", "--nodes", "node2"],
    );
    let (n1, n2) = (on(&fleet, "node1"), on(&fleet, "node2"));
    let tokens = n1.ok(DEVLAKE_TOKENS);
    assert_eq!(tokens.lines().count(), 2, "{tokens}");
    assert!(!tokens.contains("undecryptable"), "{tokens}");
    let key = n1.ok("grep '^ENCODE_KEY=' app/.env");

    // Back up the database and .env, bump the tag, pull, up.
    n1.ok(
        "cd app && pg_dump --format=c -d lake_node1 -f ../lake.dump && cp .env ../env.backup && \
           sed -i 's|apache/devlake:v0.21.0|apache/devlake:v1.0.1|' docker-compose.yml && \
           docker compose pull devlake && docker compose up -d",
    );
    let health = n1.ok("cd app && docker compose exec -T devlake lake health");
    has(&health, r#""status":"ok","version":"v1.0.1""#);
    has(&health, r#""connections":2"#);
    assert_eq!(n1.ok(DEVLAKE_TOKENS), tokens, "the tokens changed");
    assert_eq!(n1.ok("grep '^ENCODE_KEY=' app/.env"), key);

    // No downgrade: v1.0.0 on a database v1.0.1 migrated exits at once.
    let out = n1.ok(
        "cd app && sed -i 's|devlake:v1.0.1|devlake:v1.0.0|' docker-compose.yml && \
                     docker compose up -d && docker compose ps -a && docker compose logs devlake",
    );
    has(&out, "Exited (1)");
    has(&out, "downgrade is not supported");
    n1.fails("cd app && docker compose exec -T devlake lake health");

    // Rollback = restore the database and run the old version.
    n1.ok("cd app && docker compose down && dropdb lake_node1 && createdb lake_node1 && \
           pg_restore -d lake_node1 ../lake.dump && cp ../env.backup .env && \
           sed -i 's|devlake:v1.0.0|devlake:v0.21.0|' docker-compose.yml && docker compose up -d --wait");
    has(
        &n1.ok("cd app && docker compose exec -T devlake lake health"),
        r#""version":"v0.21.0""#,
    );
    assert_eq!(n1.ok(DEVLAKE_TOKENS), tokens);

    // A wrong ENCODE_KEY is caught at start (the changed .env recreates the container).
    let out = n1.fails("cd app && sed -i 's/^ENCODE_KEY=.*/ENCODE_KEY=not-the-key/' .env && docker compose up -d --wait");
    has(&out, "unhealthy or exited");
    has(
        &n1.ok("cd app && docker compose logs devlake"),
        "does not decrypt the tokens",
    );
    n1.ok("cd app && cp ../env.backup .env && docker compose up -d --wait");

    // A tag that is not in the image store fails to pull, like Docker Hub.
    let out = n1.fails("cd app && sed 's|devlake:v0.21.0|devlake:v9.9.9|' docker-compose.yml > /tmp/x.$$.yml && \
                        docker compose -f /tmp/x.$$.yml --project-directory . pull; rc=$?; rm -f /tmp/x.$$.yml; exit $rc");
    has(&out, "manifest unknown");

    // node2 at v0.20.0 cannot skip v0.21.
    let out = n2.ok("cd app && sed -i 's|devlake:v0.20.0|devlake:v1.0.1|' docker-compose.yml && docker compose up -d && \
                     docker compose ps -a && docker compose logs devlake");
    has(&out, "Exited (1)");
    has(&out, "upgrade to v0.21.0 first");
}

const TTS_DATA: &str = "{ psql -X -At -d ttn_lorawan_$(basename \"$N\") -c 'SELECT user_id, primary_email_address FROM users ORDER BY 1' \
     -c 'SELECT application_id, device_id, dev_eui FROM end_devices ORDER BY 1, 2'; \
     for k in $(redis-cli $REDIS --scan --pattern 'ttn:v3:*:devices:*' | sort); do echo \"$k $(redis-cli $REDIS HGET $k dev_eui)\"; done; } | sha256sum";

/// The guide's backup: stack stopped, Redis stopped and its AOF copied, Redis started,
/// pg_dump --format=c. Then the new tag pulled.
const TTS_BACKUP: &str = r#"
cd srv/lorawan-stack || exit 1
backup() {
    docker compose stop stack && docker compose stop redis || return 1
    rm -rf ../aof.backup && cp -a ../../var/lib/redis/appendonlydir ../aof.backup || return 1
    docker compose up -d redis && pg_dump --format=c -d "ttn_lorawan_$(basename "$N")" -f ../postgres-backup.sql
}
tag() { sed -i "s|lorawan-stack:[0-9.]*'|lorawan-stack:$1'|" docker-compose.yml && docker compose pull stack; }
"#;

#[test]
fn the_things_stack_needs_every_database_migration_of_its_edition_and_restores_by_the_guide() {
    let fleet = Fleet::up_with(2, Services::ALL);
    seed(&fleet, "thethingsstack", &["--nodes", "node1"]);
    seed(
        &fleet,
        "thethingsstack",
        &["--nodes", "node2", "--enterprise"],
    );
    let (n1, n2) = (on(&fleet, "node1"), on(&fleet, "node2"));
    let before = n1.ok(TTS_DATA);
    has(
        &n1.ok("cd srv/lorawan-stack && docker compose exec -T stack ttn-lw-stack health"),
        r#""version":"3.30.2""#,
    );

    // 3.32.0 straight from 3.30.2 skips 3.31.
    let out = n1.fails(&format!(
        "{TTS_BACKUP} backup && tag 3.32.0 && docker compose run --rm stack is-db migrate"
    ));
    has(&out, "upgrade to 3.31.0 first");

    // Open Source: is-db alone is not enough to start; ns-db too; there is no as-db.
    let out = n1.ok(&format!(
        "{TTS_BACKUP} tag 3.31.1 && docker compose run --rm stack is-db migrate && docker compose up -d stack && \
         docker compose ps -a stack && docker compose logs stack"
    ));
    has(&out, "Exited (1)");
    has(&out, "ns-db schema lacks migrations of 3.31.1");
    has(
        &n1.fails("cd srv/lorawan-stack && docker compose run --rm stack as-db migrate"),
        "unknown command \"as-db\"",
    );
    n1.ok("cd srv/lorawan-stack && docker compose run --rm stack ns-db migrate && docker compose up -d --wait stack");
    has(
        &n1.ok("cd srv/lorawan-stack && docker compose exec -T stack ttn-lw-stack health"),
        r#""version":"3.31.1""#,
    );
    assert_eq!(n1.ok(TTS_DATA), before, "the stack's data changed");

    // Enterprise also needs as-db and dcs-db.
    let out = n2.fails(&format!(
        "{TTS_BACKUP} backup && tag 3.31.1 && docker compose run --rm stack is-db migrate && \
         docker compose run --rm stack ns-db migrate && docker compose up -d --wait stack"
    ));
    has(&out, "unhealthy or exited");
    has(
        &n2.ok("cd srv/lorawan-stack && docker compose logs stack"),
        "as-db schema lacks migrations",
    );
    n2.ok(
        "cd srv/lorawan-stack && docker compose run --rm stack as-db migrate && \
           docker compose run --rm stack dcs-db migrate && docker compose up -d --wait stack",
    );
    has(
        &n2.ok("cd srv/lorawan-stack && docker compose exec -T stack ttn-lw-stack health"),
        r#""edition":"Enterprise""#,
    );

    // The old image refuses the migrated databases...
    let out = n1.ok(&format!(
        "{TTS_BACKUP} tag 3.30.2 && docker compose up -d stack && docker compose ps -a stack && docker compose logs stack"
    ));
    has(&out, "Exited (1)");
    has(&out, "migrated by a newer version");
    // ...until the guide's restore: temp_db, terminate the connections, drop, create,
    // pg_restore; the AOF put back with Redis stopped.
    n1.ok(&format!(
        "{TTS_BACKUP} D=ttn_lorawan_$(basename \"$N\"); docker compose stop stack && \
         psql -X -q -d $D -c 'CREATE DATABASE temp_db;' && \
         psql -X -q -d $D -c \"SELECT pg_terminate_backend(pg_stat_activity.pid) FROM pg_stat_activity WHERE pg_stat_activity.datname = '$D' AND pid <> pg_backend_pid();\" >/dev/null && \
         psql -X -q -d temp_db -c \"DROP DATABASE $D;\" && psql -X -q -d temp_db -c \"CREATE DATABASE $D;\" && \
         pg_restore -d $D ../postgres-backup.sql && \
         docker compose stop redis && rm -rf ../../var/lib/redis/appendonlydir && cp -a ../aof.backup ../../var/lib/redis/appendonlydir && \
         docker compose up -d redis && docker compose up -d --wait stack"
    ));
    has(
        &n1.ok("cd srv/lorawan-stack && docker compose exec -T stack ttn-lw-stack health"),
        r#""version":"3.30.2""#,
    );
    assert_eq!(n1.ok(TTS_DATA), before, "the restore lost data");
    // The migration's marks on the Redis records are gone with the AOF restored.
    assert_eq!(
        n1.ok(
            "redis-cli $REDIS HEXISTS ttn:v3:ns:devices:app-node1:dev-1 schema:ns-3.31.1-mac-state"
        ),
        "0"
    );
}

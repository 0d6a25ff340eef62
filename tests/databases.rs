//! `db_backup` and `db_restore` against the lab's real PostgreSQL, per-node Redis and SQLite,
//! through the real `drover` binary and real sshd.

mod common;

use common::{Fleet, drover, sh};
use drover::lab::{Postgres, Services};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const POSTGRESQL: Services = Services {
    postgresql: true,
    redis: false,
};
const REDIS: Services = Services {
    postgresql: false,
    redis: true,
};

fn pg(fleet: &Fleet) -> &Postgres {
    fleet
        .lab
        .postgresql
        .as_ref()
        .expect("the lab runs PostgreSQL")
}

/// Runs SQL on `db` as the lab's superuser; returns the unaligned output.
fn psql(fleet: &Fleet, db: &str, sql: &str) -> String {
    let out = pg(fleet)
        .command("psql")
        .args([
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            db,
            "-c",
            sql,
        ])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The table data of `db` as `pg_dump --data-only` prints it (comments dropped): equal
/// before a backup and after its restore.
fn data_dump(fleet: &Fleet, db: &str) -> String {
    let out = pg(fleet)
        .command("pg_dump")
        .args(["--data-only", "-d", db])
        .output()
        .expect("pg_dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        // Comments, and pg_dump's per-run `\restrict KEY` guard lines.
        .filter(|l| {
            !l.starts_with("--") && !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `app`, owned by the role `app_owner`, with 200 rows in two tables.
fn seed_app(fleet: &Fleet) {
    psql(fleet, "postgres", "CREATE ROLE app_owner LOGIN");
    psql(fleet, "postgres", "CREATE DATABASE app OWNER app_owner");
    psql(
        fleet,
        "app",
        "SET ROLE app_owner; \
         CREATE TABLE devices (id int PRIMARY KEY, eui text NOT NULL); \
         INSERT INTO devices SELECT g, md5(g::text) FROM generate_series(1, 150) g; \
         CREATE TABLE gateways (id int PRIMARY KEY, name text); \
         INSERT INTO gateways SELECT g, 'gw-' || g FROM generate_series(1, 50) g;",
    );
}

/// The PostgreSQL connection arguments of a task on the lab.
const PG_LOGIN: &str = "        type: postgresql
        name: app
        login_host: \"{{ lab_postgresql_host }}\"
        login_port: \"{{ lab_postgresql_port }}\"
        login_user: \"{{ lab_postgresql_user }}\"
        bin_dir: \"{{ lab_postgresql_bin }}\"
";

fn sha256(path: &std::path::Path) -> String {
    let out = sh(&format!("sha256sum < '{}'", path.display()));
    out.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Waits (bounded) for `child` to exit; true if it did.
fn exits_within(child: &mut Child, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn postgresql_restore_follows_the_guide_and_brings_every_row_back() {
    let fleet = Fleet::up_with(1, POSTGRESQL);
    seed_app(&fleet);
    let before = data_dump(&fleet, "app");
    assert!(before.contains("COPY public.devices"), "{before}");

    // pg_dump through a wrapper that records what it was given: the password must arrive in
    // the environment, never in the arguments.
    let spy = fleet.node_root("node1").join("spy-pg_dump");
    std::fs::write(
        &spy,
        format!(
            "#!/bin/sh\necho \"env=$PGPASSWORD args=$*\" > \"$(dirname \"$0\")/spy.log\"\nexec {}/pg_dump \"$@\"\n",
            pg(&fleet).bin.display()
        ),
    )
    .expect("spy");
    sh(&format!("chmod 0755 '{}'", spy.display()));
    let playbook = fleet.write(
        "backup.yml",
        &format!(
            "- hosts: node1
  gather_facts: false
  tasks:
    - db_backup:
{PG_LOGIN}        login_password: s3cret-pw
        pg_dump: \"{{{{ node_root }}}}/spy-pg_dump\"
        dest: \"{{{{ node_root }}}}/backups/2026/app.dump\"
      register: backup
    - debug:
        msg: \"{{{{ backup.checksum }}}} {{{{ backup.size }}}} {{{{ backup.type }}}} {{{{ backup.path }}}}\"
"
        ),
    );
    let run = fleet.run(&playbook).expect_code(0);
    let dump = fleet.node_root("node1").join("backups/2026/app.dump");
    let size = std::fs::metadata(&dump).expect("the dump").len();
    run.stdout_has(&format!(
        "{} {size} postgresql {}",
        sha256(&dump),
        dump.display()
    ));
    assert!(!run.stdout().contains("s3cret-pw"), "{}", run.dump());
    let log = std::fs::read_to_string(fleet.node_root("node1").join("spy.log")).expect("spy log");
    assert!(log.starts_with("env=s3cret-pw args="), "{log}");
    assert!(!log["env=s3cret-pw".len()..].contains("s3cret-pw"), "{log}");
    assert!(log.contains("--format=c"), "{log}");
    let checksum = sha256(&dump);
    let magic = std::fs::read(&dump).expect("dump");
    assert_eq!(&magic[..5], b"PGDMP", "custom format");

    // The application changes the data, then a client stays connected during the restore:
    // the guide's sequence terminates it.
    psql(
        &fleet,
        "app",
        "DELETE FROM devices WHERE id > 100; UPDATE gateways SET name = 'x'; \
         CREATE TABLE junk (id int)",
    );
    assert_ne!(data_dump(&fleet, "app"), before);
    let mut client = pg(&fleet)
        .command("psql")
        .args(["-X", "-d", "app", "-c", "SELECT pg_sleep(60)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("psql client");
    let start = Instant::now();
    while psql(
        &fleet,
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app'",
    ) == "0"
        && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(50));
    }

    let restore = fleet.write(
        "restore.yml",
        &format!(
            "- hosts: node1
  gather_facts: false
  tasks:
    - db_restore:
{PG_LOGIN}        src: \"{{{{ node_root }}}}/backups/2026/app.dump\"
      register: restored
    - debug:
        msg: \"restored {{{{ restored.checksum }}}} changed={{{{ restored.changed }}}}\"
"
        ),
    );
    let run = fleet.run(&restore).expect_code(0);
    run.stdout_has(&format!("restored {} changed=True", sha256(&dump)));
    assert_eq!(
        run.recap("node1"),
        "ok=2 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0"
    );
    assert!(
        exits_within(&mut client, Duration::from_secs(10)),
        "the connected client was not terminated"
    );
    assert_eq!(
        data_dump(&fleet, "app"),
        before,
        "every row as at the backup"
    );
    assert_eq!(psql(&fleet, "app", "SELECT count(*) FROM devices"), "150");
    assert_eq!(
        psql(
            &fleet,
            "postgres",
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'"
        ),
        "app_owner",
        "recreated with the same owner"
    );
    assert_eq!(
        psql(
            &fleet,
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'drover_restore_%'"
        ),
        "0",
        "the temporary database is dropped"
    );
    assert_eq!(sha256(&dump), checksum, "the backup is only read");
}

#[test]
fn postgresql_failures_name_the_step_and_check_mode_changes_nothing() {
    let fleet = Fleet::up_with(1, POSTGRESQL);
    seed_app(&fleet);
    let before = data_dump(&fleet, "app");
    let backups = fleet.node_root("node1").join("backups");
    let play = |tasks: &str| format!("- hosts: node1\n  gather_facts: false\n  tasks:\n{tasks}");

    // Check mode: nothing written, nothing restored, both reported as changes.
    fleet.run(&fleet.write(
        "backup.yml",
        &play(&format!("    - db_backup:\n{PG_LOGIN}        dest: \"{{{{ node_root }}}}/backups/app.dump\"\n")),
    ))
    .expect_code(0);
    let dump = backups.join("app.dump");
    let checksum = sha256(&dump);
    psql(&fleet, "app", "DELETE FROM devices");
    let after_delete = data_dump(&fleet, "app");
    let check = play(&format!(
        "    - db_backup:\n{PG_LOGIN}        dest: \"{{{{ node_root }}}}/backups/new.dump\"\n\
         \x20   - db_restore:\n{PG_LOGIN}        src: \"{{{{ node_root }}}}/backups/app.dump\"\n"
    ));
    let run = fleet
        .run(&fleet.write("check.yml", &check))
        .arg("--check")
        .expect_code(0);
    assert!(
        run.recap("node1").starts_with("ok=2 changed=2"),
        "{}",
        run.dump()
    );
    assert!(
        !backups.join("new.dump").exists(),
        "check mode wrote a backup"
    );
    assert_eq!(
        data_dump(&fleet, "app"),
        after_delete,
        "check mode restored"
    );

    // `force: no` keeps an existing backup: ok, not rewritten.
    let keep = play(&format!(
        "    - db_backup:\n{PG_LOGIN}        dest: \"{{{{ node_root }}}}/backups/app.dump\"\n        force: no\n"
    ));
    let run = fleet.run(&fleet.write("keep.yml", &keep)).expect_code(0);
    assert!(
        run.recap("node1").starts_with("ok=1 changed=0"),
        "{}",
        run.dump()
    );
    assert_eq!(sha256(&dump), checksum);

    // A missing backup: refused before anything is touched.
    let missing = play(&format!(
        "    - db_restore:\n{PG_LOGIN}        src: \"{{{{ node_root }}}}/backups/none.dump\"\n"
    ));
    let run = fleet
        .run(&fleet.write("missing.yml", &missing))
        .expect_code(2);
    run.stdout_has("does not exist; nothing was changed");
    assert_eq!(data_dump(&fleet, "app"), after_delete);

    // A file that is no dump: the restore stops at pg's step 6 and says what state it left.
    std::fs::write(backups.join("garbage.dump"), "this is not SQL;\n").expect("garbage");
    let garbage = play(&format!(
        "    - db_restore:\n{PG_LOGIN}        src: \"{{{{ node_root }}}}/backups/garbage.dump\"\n"
    ));
    let run = fleet
        .run(&fleet.write("garbage.yml", &garbage))
        .expect_code(2);
    run.stdout_has("step 6 of 7 (psql -d app <")
        .stdout_has("The database app is empty or partly restored; the backup")
        .stdout_has("is untouched. The temporary database drover_restore_");
    assert_eq!(
        psql(
            &fleet,
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'drover_restore_%'"
        ),
        "0"
    );
    // The real backup still restores everything.
    let good = play(&format!(
        "    - db_restore:\n{PG_LOGIN}        src: \"{{{{ node_root }}}}/backups/app.dump\"\n"
    ));
    fleet.run(&fleet.write("good.yml", &good)).expect_code(0);
    assert_eq!(data_dump(&fleet, "app"), before);
    assert_eq!(sha256(&dump), checksum);

    // The first connection fails (no such maintenance database): nothing else runs.
    let wrong_db = play(&format!(
        "    - db_restore:\n{}        login_db: nosuchdb\n        src: \"{{{{ node_root }}}}/backups/app.dump\"\n",
        PG_LOGIN
    ));
    let run = fleet
        .run(&fleet.write("wrong.yml", &wrong_db))
        .expect_code(2);
    run.stdout_has("step 1 of 7 (CREATE DATABASE drover_restore_")
        .stdout_has("The database app is unchanged");
    assert_eq!(data_dump(&fleet, "app"), before);
}

/// Runs `redis-cli` against the node's Redis; returns its output.
fn redis(fleet: &Fleet, args: &str) -> String {
    let node = &fleet.lab.nodes[0];
    let cli = fleet.lab.redis_cli.as_ref().expect("redis-cli");
    sh(&format!(
        "{} -h {} -p {} {args}",
        cli.display(),
        node.address,
        node.redis_port.expect("redis port")
    ))
}

const REDIS_LOGIN: &str = "        type: redis
        data_dir: \"{{ node_root }}/var/lib/redis\"
        login_host: \"{{ ansible_host }}\"
        login_port: \"{{ lab_redis_port }}\"
        redis_cli: \"{{ lab_redis_cli }}\"
";

#[test]
fn redis_aof_is_backed_up_and_restored_only_with_redis_stopped() {
    let fleet = Fleet::up_with(1, REDIS);
    for (key, value) in [
        ("device:1", "alpha"),
        ("device:2", "beta"),
        ("session", "s1"),
    ] {
        assert_eq!(redis(&fleet, &format!("set {key} {value}")), "OK");
    }
    let play = |tasks: &str| {
        format!(
            "- hosts: node1\n  gather_facts: false\n  vars:\n    systemctl: \"{{{{ lab_bin }}}}/systemctl\"\n  tasks:\n{tasks}"
        )
    };
    let backup_task = format!(
        "    - db_backup:\n{REDIS_LOGIN}        dest: \"{{{{ node_root }}}}/backups/redis-aof\"\n      register: backup\n"
    );

    // Refused while Redis answers, for a backup and for a restore.
    let run = fleet
        .run(&fleet.write("running.yml", &play(&backup_task)))
        .expect_code(2);
    run.stdout_has("stop it first");
    let backup = fleet.node_root("node1").join("backups/redis-aof");
    assert!(!backup.exists());

    // The guide: stop, copy the AOF, start.
    let tasks = format!(
        "    - command: \"{{{{ systemctl }}}} stop redis\"\n{backup_task}\
         \x20   - command: \"{{{{ systemctl }}}} start redis\"\n\
         \x20   - debug:\n        msg: \"{{{{ backup.checksum }}}} {{{{ backup.size }}}}\"\n"
    );
    let run = fleet
        .run(&fleet.write("backup.yml", &play(&tasks)))
        .expect_code(0);
    assert!(
        backup.join("appendonly.aof.manifest").is_file(),
        "Redis 7's appendonlydir"
    );
    let listing = sh(&format!(
        "cd '{}' && find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum | sha256sum",
        backup.display()
    ));
    let size = sh(&format!("cat '{}'/* | wc -c", backup.display()));
    run.stdout_has(&format!(
        "{} {size}",
        listing.split_whitespace().next().unwrap_or("?")
    ));

    // The data changes after the backup.
    redis(&fleet, "set device:1 changed");
    redis(&fleet, "del device:2");
    redis(&fleet, "set intruder yes");
    let restore_task = format!(
        "    - db_restore:\n{REDIS_LOGIN}        src: \"{{{{ node_root }}}}/backups/redis-aof\"\n"
    );
    let run = fleet
        .run(&fleet.write("restore-running.yml", &play(&restore_task)))
        .expect_code(2);
    run.stdout_has("stop it first");
    assert_eq!(redis(&fleet, "get intruder"), "yes", "nothing restored");

    let tasks = format!(
        "    - command: \"{{{{ systemctl }}}} stop redis\"\n{restore_task}\
         \x20   - command: \"{{{{ systemctl }}}} start redis\"\n"
    );
    fleet
        .run(&fleet.write("restore.yml", &play(&tasks)))
        .expect_code(0);
    assert_eq!(redis(&fleet, "get device:1"), "alpha");
    assert_eq!(redis(&fleet, "get device:2"), "beta");
    assert_eq!(redis(&fleet, "get session"), "s1");
    assert_eq!(redis(&fleet, "exists intruder"), "0");
    assert!(
        backup.join("appendonly.aof.manifest").is_file(),
        "the backup is kept"
    );

    // A Redis 6 backup (one appendonly.aof file) goes back in place of the directory, which
    // Redis 7 would load instead; Redis 7 upgrades the file when it starts.
    let aof = "*3\r\n$3\r\nSET\r\n$6\r\nlegacy\r\n$2\r\nv6\r\n";
    let file = fleet.write("redis6.aof", aof);
    sh(&format!("chmod 0644 '{}'", file.display()));
    let tasks = format!(
        "    - command: \"{{{{ systemctl }}}} stop redis\"\n\
         \x20   - db_restore:\n{REDIS_LOGIN}        src: \"{}\"\n\
         \x20   - command: \"{{{{ systemctl }}}} start redis\"\n",
        file.display()
    );
    fleet
        .run(&fleet.write("restore6.yml", &play(&tasks)))
        .expect_code(0);
    assert_eq!(redis(&fleet, "get legacy"), "v6");
    assert_eq!(redis(&fleet, "exists device:1"), "0");
}

/// `sqlite3 DB` as the lab user (whose files the node's database are), stdin piped.
fn sqlite_as_lab_user(fleet: &Fleet, db: &std::path::Path) -> Child {
    let mut command = Command::new("sqlite3");
    command.arg(db).stdin(Stdio::piped()).stdout(Stdio::null());
    if sh("id -u") == "0" {
        let uid: u32 = sh(&format!("id -u {}", fleet.lab.user))
            .parse()
            .expect("uid");
        let gid: u32 = sh(&format!("id -g {}", fleet.lab.user))
            .parse()
            .expect("gid");
        command.uid(uid).gid(gid).env("HOME", "/");
    }
    command.spawn().expect("sqlite3")
}

fn sqlite(db: &std::path::Path, sql: &str) -> String {
    sh(&format!("sqlite3 '{}' \"{sql}\"", db.display()))
}

#[test]
fn sqlite_backup_is_online_and_restore_replaces_the_file_and_its_stale_wal() {
    let fleet = Fleet::up(1);
    let root = fleet.node_root("node1");
    let play = |tasks: &str| format!("- hosts: node1\n  gather_facts: false\n  tasks:\n{tasks}");
    fleet
        .run(&fleet.write(
            "seed.yml",
            &play(
                "    - file: {path: \"{{ node_root }}/var/lib/headscale\", state: directory}\n\
                 \x20   - shell: sqlite3 {{ node_root }}/var/lib/headscale/db.sqlite \
                 'PRAGMA journal_mode=WAL; CREATE TABLE nodes (id INTEGER PRIMARY KEY, name TEXT);'\n",
            ),
        ))
        .expect_code(0);
    let db = root.join("var/lib/headscale/db.sqlite");

    // A service holds the database open and its last writes are still in the WAL (no
    // checkpoint): an online backup has them, a copy of the main file would not.
    let mut service = sqlite_as_lab_user(&fleet, &db);
    let mut stdin = service.stdin.take().expect("stdin");
    writeln!(
        stdin,
        "PRAGMA wal_autocheckpoint=0; INSERT INTO nodes (name) VALUES ('a'),('b'),('c'),('d');"
    )
    .expect("write");
    stdin.flush().expect("flush");
    let start = Instant::now();
    while sqlite(&db, "SELECT count(*) FROM nodes") != "4"
        && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        std::fs::metadata(root.join("var/lib/headscale/db.sqlite-wal")).is_ok_and(|m| m.len() > 0)
    );

    let backup = "    - db_backup:\n        type: sqlite\n        path: \"{{ node_root }}/var/lib/headscale/db.sqlite\"\n        dest: \"{{ node_root }}/backups/db.sqlite.bak\"\n      register: b\n    - debug: {msg: \"{{ b.checksum }} {{ b.size }}\"}\n";
    let run = fleet
        .run(&fleet.write("backup.yml", &play(backup)))
        .expect_code(0);
    let copy = root.join("backups/db.sqlite.bak");
    assert_eq!(
        sqlite(&copy, "SELECT group_concat(name) FROM nodes"),
        "a,b,c,d"
    );
    let size = std::fs::metadata(&copy).expect("backup").len();
    run.stdout_has(&format!("{} {size}", sha256(&copy)));
    let checksum = sha256(&copy);

    // The service changes the data and dies without a checkpoint: the WAL holds the change.
    writeln!(stdin, "DELETE FROM nodes WHERE name IN ('a', 'b');").expect("write");
    stdin.flush().expect("flush");
    let start = Instant::now();
    while sqlite(&db, "SELECT count(*) FROM nodes") != "2"
        && start.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    service.kill().expect("kill sqlite3");
    let _ = service.wait();
    assert!(root.join("var/lib/headscale/db.sqlite-wal").exists());

    // Check mode restores nothing; a file that is no database is refused, nothing replaced.
    let restore_from = |src: &str| {
        format!(
            "    - db_restore:\n        type: sqlite\n        path: \"{{{{ node_root }}}}/var/lib/headscale/db.sqlite\"\n        src: \"{src}\"\n"
        )
    };
    let restore = restore_from("{{ node_root }}/backups/db.sqlite.bak");
    fleet
        .run(&fleet.write("restore.yml", &play(&restore)))
        .arg("--check")
        .expect_code(0)
        .stdout_has("changed: [node1]");
    let garbage = fleet.write("garbage.db", "not a database");
    sh(&format!("chmod 0644 '{}'", garbage.display()));
    fleet
        .run(&fleet.write(
            "garbage.yml",
            &play(&restore_from(&garbage.display().to_string())),
        ))
        .expect_code(2)
        .stdout_has("is not a sound SQLite database");
    assert!(
        root.join("var/lib/headscale/db.sqlite-wal").exists(),
        "nothing touched"
    );

    // The real restore, as root through sudo when the lab allows it: the file keeps its owner
    // and the stale WAL (which would delete 'a' and 'b' again) is gone.
    let owner = sh(&format!("stat -c %U '{}'", db.display()));
    let escalate = sh("id -u") == "0" && drover::lab::escalation::enable_become().is_ok();
    let restore = if escalate {
        format!("{restore}      become: true\n")
    } else {
        restore
    };
    fleet
        .run(&fleet.write("restore.yml", &play(&restore)))
        .expect_code(0);
    assert_eq!(
        sqlite(&db, "SELECT group_concat(name) FROM nodes"),
        "a,b,c,d"
    );
    assert!(!root.join("var/lib/headscale/db.sqlite-wal").exists());
    assert!(!root.join("var/lib/headscale/db.sqlite-shm").exists());
    assert_eq!(sh(&format!("stat -c %U '{}'", db.display())), owner);
    assert_eq!(sha256(&copy), checksum, "the backup is only read");
    let leftovers = sh(&format!(
        "ls -A '{}'",
        root.join("var/lib/headscale").display()
    ));
    assert_eq!(
        leftovers, "db.sqlite",
        "no temp files left beside the database"
    );
}

#[test]
fn bad_database_arguments_are_load_time_errors_with_their_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let playbook = dir.path().join("bad.yml");
    std::fs::write(
        &playbook,
        "- hosts: localhost\n  tasks:\n    - db_restore:\n        type: redis\n        src: /b\n        path: /x.db\n",
    )
    .expect("write");
    let inventory = dir.path().join("hosts");
    std::fs::write(&inventory, "localhost\n").expect("write");
    let run = drover()
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&inventory)
        .expect_code(4);
    let out = format!("{}{}", run.stdout(), run.stderr());
    assert!(out.contains("bad.yml:6:15"), "{out}");
    assert!(
        out.contains("argument `path` is for type sqlite, not redis"),
        "{out}"
    );
    assert!(out.contains("needs the argument `data_dir`"), "{out}");
}

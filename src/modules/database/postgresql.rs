//! PostgreSQL: a backup is `pg_dump --format=c` (or tar, plain) written beside `dest` and
//! renamed; a restore is The Things Stack guide's sequence, one step per command so a failure
//! says which step failed and what state the database is left in:
//!
//! 1. connect to the target (or `login_db`) and `CREATE DATABASE` a temporary database;
//! 2. from it, look up the target's owner;
//! 3. terminate the other connections to the target;
//! 4. `DROP DATABASE` the target (after terminating again, if a client came back);
//! 5. `CREATE DATABASE` it again, same owner;
//! 6. `pg_restore -d` it (`psql` for a plain SQL dump, detected from the file);
//! 7. drop the temporary database.
//!
//! The backup file is only read. The client programs run on the node: `pg_dump`, `pg_restore`
//! and `psql` may be whole command prefixes (`docker exec -i -e PGPASSWORD db pg_dump`), or
//! come from `bin_dir`; the dump always travels through the shell's stdin and stdout, so a
//! program in a container needs no access to the node's files.

use std::time::Duration;

use super::super::{Args, Context, ModuleError};
use super::{read_secret, run, run_ok, sql_ident, sql_literal, write_file_script};
use crate::template::shell_quote;

/// Attempts at dropping the target while clients keep reconnecting.
const DROP_ATTEMPTS: u32 = 5;

pub(in crate::modules) struct Target {
    pub name: String,
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<String>,
    login_db: Option<String>,
    pg_dump: String,
    pg_restore: String,
    psql: String,
    format: &'static str,
}

impl Target {
    pub fn from_args(args: &Args) -> Result<Target, ModuleError> {
        let bin_dir = args.str("bin_dir")?;
        let program = |name: &str| -> Result<String, ModuleError> {
            Ok(match (args.str(name)?, &bin_dir) {
                (Some(command), _) => command,
                (None, Some(dir)) => shell_quote(&format!("{}/{name}", dir.trim_end_matches('/'))),
                (None, None) => name.to_string(),
            })
        };
        Ok(Target {
            name: args.required_str("name")?,
            host: args.str("login_host")?,
            port: super::login_port(args)?,
            user: args.str("login_user")?,
            password: args.str("login_password")?,
            login_db: args.str("login_db")?,
            pg_dump: program("pg_dump")?,
            pg_restore: program("pg_restore")?,
            psql: program("psql")?,
            format: args.choice("format", super::FORMATS, "custom")?,
        })
    }

    /// ` -h H -p P -U U -d DB`, each only when given.
    fn connect_to(&self, db: &str) -> String {
        let mut out = String::new();
        if let Some(host) = &self.host {
            out.push_str(&format!(" -h {}", shell_quote(host)));
        }
        if let Some(port) = self.port {
            out.push_str(&format!(" -p {port}"));
        }
        if let Some(user) = &self.user {
            out.push_str(&format!(" -U {}", shell_quote(user)));
        }
        out.push_str(&format!(" -d {}", shell_quote(db)));
        out
    }

    /// Every script starts here: the password (from stdin) and a bounded connect.
    fn prelude(&self) -> String {
        format!(
            "{}export PGCONNECT_TIMEOUT=10\n",
            read_secret("PGPASSWORD", self.password.as_deref())
        )
    }

    /// Runs one SQL statement on `db` (its own transaction, as `psql -c` does) and returns the
    /// unaligned output.
    async fn sql(&self, ctx: &Context<'_>, db: &str, sql: &str) -> Result<String, String> {
        let script = format!(
            "{}{} -X -w -q -At -v ON_ERROR_STOP=1{} -c {} < /dev/null",
            self.prelude(),
            self.psql,
            self.connect_to(db),
            shell_quote(sql)
        );
        let out = run(ctx, &script, self.password.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        if out.exit_status == Some(0) {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        Err(failure_text(&out))
    }
}

fn failure_text(out: &crate::transport::ExecOutput) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if stderr.is_empty() {
        format!("exit status {:?}", out.exit_status)
    } else {
        stderr
    }
}

pub(in crate::modules) async fn backup(
    ctx: &Context<'_>,
    target: &Target,
    dest: &str,
) -> Result<(), ModuleError> {
    let letter = match target.format {
        "tar" => "t",
        "plain" => "p",
        _ => "c",
    };
    let produce = format!(
        "{} --format={letter} -w{} < /dev/null > \"$tmp\"",
        target.pg_dump,
        target.connect_to(&target.name)
    );
    let script = format!("{}{}", target.prelude(), write_file_script(dest, &produce));
    let what = format!("db_backup: pg_dump of database {} to {dest}", target.name);
    run_ok(ctx, &script, target.password.as_deref(), &what).await?;
    Ok(())
}

/// Where a failed restore leaves the target, for the message.
#[derive(Clone, Copy)]
enum Left {
    Unchanged,
    Dropped,
    Incomplete,
}

pub(in crate::modules) async fn restore(
    ctx: &Context<'_>,
    target: &Target,
    src: &str,
) -> Result<(), ModuleError> {
    let archive = is_archive(ctx, src).await?;
    let temp = format!("drover_restore_{:016x}", rand::random::<u64>());
    let name = &target.name;
    let first_db = target.login_db.clone().unwrap_or_else(|| name.clone());
    let fail = |step: u32, label: &str, why: String, left: Left, cleanup: String| {
        let state = match left {
            Left::Unchanged => format!("database {name} is unchanged"),
            Left::Dropped => format!("database {name} was dropped and does not exist now"),
            Left::Incomplete => format!("database {name} is empty or partly restored"),
        };
        ModuleError::Remote {
            message: format!(
                "db_restore: step {step} of 7 ({label}) failed: {why}\n\
                 The {state}; the backup {src} is untouched.{cleanup}"
            ),
        }
    };

    let label = format!("CREATE DATABASE {temp} on {first_db}");
    let create_temp = format!("CREATE DATABASE {}", sql_ident(&temp));
    if let Err(why) = target.sql(ctx, &first_db, &create_temp).await {
        return Err(fail(1, &label, why, Left::Unchanged, String::new()));
    }
    let mut left = Left::Unchanged;
    let result = restore_steps(ctx, target, src, &temp, archive, &mut left).await;
    // The temporary database goes in every case; from the target when it exists again.
    let drop_temp = format!("DROP DATABASE IF EXISTS {}", sql_ident(&temp));
    let mut dropped = Err(String::new());
    for db in [name.as_str(), first_db.as_str(), "postgres", "template1"] {
        dropped = target.sql(ctx, db, &drop_temp).await;
        if dropped.is_ok() {
            break;
        }
    }
    match (result, dropped) {
        (Ok(()), Ok(_)) => Ok(()),
        (Ok(()), Err(why)) => Err(ModuleError::Remote {
            message: format!(
                "db_restore: database {name} was restored from {src}, but step 7 of 7 \
                 (DROP DATABASE {temp}) failed: {why}; drop it by hand"
            ),
        }),
        (Err((step, label, why)), dropped) => {
            let cleanup = match dropped {
                Ok(_) => format!(" The temporary database {temp} was dropped."),
                Err(e) => format!(" The temporary database {temp} is left behind: {e}"),
            };
            Err(fail(step, &label, why, left, cleanup))
        }
    }
}

/// Steps 2 to 6, run from the temporary database; `left` follows the target's state.
async fn restore_steps(
    ctx: &Context<'_>,
    target: &Target,
    src: &str,
    temp: &str,
    archive: bool,
    left: &mut Left,
) -> Result<(), (u32, String, String)> {
    let name = &target.name;
    let owner_sql = format!(
        "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database \
         WHERE datname = {}",
        sql_literal(name)
    );
    let owner = target
        .sql(ctx, temp, &owner_sql)
        .await
        .map_err(|why| (2, format!("look up the owner of {name}"), why))?;
    let terminate = format!(
        "SELECT count(pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_stat_activity \
         WHERE datname = {} AND pid <> pg_catalog.pg_backend_pid()",
        sql_literal(name)
    );
    // A database that does not exist yet has no connections to end and nothing to drop.
    if !owner.is_empty() {
        target
            .sql(ctx, temp, &terminate)
            .await
            .map_err(|why| (3, format!("terminate the connections to {name}"), why))?;
        let drop = format!("DROP DATABASE {}", sql_ident(name));
        let mut attempt = 1;
        loop {
            match target.sql(ctx, temp, &drop).await {
                Ok(_) => break,
                // A client reconnected between the two steps: end it again.
                Err(why)
                    if why.contains("being accessed by other users") && attempt < DROP_ATTEMPTS =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let _ = target.sql(ctx, temp, &terminate).await;
                }
                Err(why) => return Err((4, format!("DROP DATABASE {name}"), why)),
            }
        }
        *left = Left::Dropped;
    }
    let mut create = format!("CREATE DATABASE {}", sql_ident(name));
    if !owner.is_empty() {
        create.push_str(&format!(" OWNER {}", sql_ident(&owner)));
    }
    target
        .sql(ctx, temp, &create)
        .await
        .map_err(|why| (5, format!("CREATE DATABASE {name}"), why))?;
    *left = Left::Incomplete;
    let load = if archive {
        format!("{} -w{}", target.pg_restore, target.connect_to(name))
    } else {
        format!(
            "{} -X -w -q -v ON_ERROR_STOP=1{}",
            target.psql,
            target.connect_to(name)
        )
    };
    let script = format!(
        "{}{load} > /dev/null < {}",
        target.prelude(),
        shell_quote(src)
    );
    let program = if archive { "pg_restore" } else { "psql" };
    let out = run(ctx, &script, target.password.as_deref())
        .await
        .map_err(|e| (6, format!("{program} into {name}"), e.to_string()))?;
    if out.exit_status != Some(0) {
        return Err((
            6,
            format!("{program} -d {name} < {src}"),
            failure_text(&out),
        ));
    }
    Ok(())
}

/// Whether `src` is a `pg_dump` archive (custom: starts with `PGDMP`; tar: `ustar` at 257)
/// for `pg_restore`, rather than a plain SQL script for `psql`.
async fn is_archive(ctx: &Context<'_>, src: &str) -> Result<bool, ModuleError> {
    let q = shell_quote(src);
    let out = ctx
        .sh_ok(
            &format!(
                "head -c 5 -- {q} | tr -c A-Za-z _ && echo && \
                 dd if={q} bs=1 skip=257 count=5 2>/dev/null | tr -c a-z _; echo"
            ),
            &format!("db_restore: reading {src}"),
        )
        .await?;
    // Two lines whatever the file holds: `tr` turned every other byte into `_`.
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let custom = lines.next() == Some("PGDMP");
    Ok(custom || lines.next() == Some("ustar"))
}

//! `db_backup` and `db_restore`: one backup artefact of a PostgreSQL database (`pg_dump`), an
//! SQLite file (sqlite3's online `.backup`) or a Redis AOF (copied with Redis stopped), and
//! putting it back — the hand-written dropdb/createdb/pg_restore sequences of the upgrade
//! guides as one task. Everything is POSIX shell on the node over the task's connection (so
//! `become` applies); passwords reach the node on stdin, never on a command line.
//!
//! Idempotence, as Ansible's `postgresql_db state=dump|restore` has it: a backup writes a new
//! artefact and reports `changed` every time, unless `force: no` and `dest` exists (then `ok`,
//! nothing read or written); a restore always changes. Check mode runs nothing on the node
//! (an earlier task that would stop the server was skipped too) and reports what would be done.
//!
//! This file owns the arguments (checked at load time where they are literal), the shared
//! shell pieces (atomic writes, checksums) and the returned values; each store's commands live
//! in `database/<type>.rs`.

mod postgresql;
mod redis;
mod sqlite;

use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use crate::template::{has_template_syntax, shell_quote};
use crate::transport::ExecOutput;
use serde_json::{Map, Value, json};

pub struct DbBackup;
pub struct DbRestore;

const TYPES: &[&str] = &["postgresql", "sqlite", "redis"];
/// Every type's own arguments; an argument of another type is a mistake worth naming.
const POSTGRESQL_ARGS: &[&str] = &[
    "name",
    "login_host",
    "login_port",
    "login_user",
    "login_password",
    "login_db",
    "pg_dump",
    "pg_restore",
    "psql",
    "bin_dir",
    "format",
];
const SQLITE_ARGS: &[&str] = &["path", "sqlite3"];
const REDIS_ARGS: &[&str] = &[
    "data_dir",
    "login_host",
    "login_port",
    "login_password",
    "redis_cli",
];
/// What each type cannot do without.
const TYPE_REQUIRED: &[(&str, &str)] = &[
    ("postgresql", "name"),
    ("sqlite", "path"),
    ("redis", "data_dir"),
];
/// `pg_dump --format`: custom (`-Fc`, the guides' choice), tar, plain SQL.
const FORMATS: &[&str] = &["custom", "tar", "plain"];

/// A module's arguments: its own, then every store type's.
macro_rules! with_store_args {
    ($($own:literal),*) => {
        &[
            $($own,)*
            "name", "login_host", "login_port", "login_user", "login_password", "login_db",
            "pg_dump", "pg_restore", "psql", "bin_dir", "format",
            "path", "sqlite3",
            "data_dir", "redis_cli",
        ]
    };
}

static DB_BACKUP: ModuleSpec = ModuleSpec {
    name: "db_backup",
    args: with_store_args!("type", "dest", "force"),
    required: &["type", "dest"],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

static DB_RESTORE: ModuleSpec = ModuleSpec {
    name: "db_restore",
    args: with_store_args!("type", "src"),
    required: &["type", "src"],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

module!(DbBackup, DB_BACKUP, backup);
module!(DbRestore, DB_RESTORE, restore);

/// A mistake in a `db_backup`/`db_restore` task's arguments: `arg` names the argument to point
/// at, `None` the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgProblem {
    pub arg: Option<String>,
    pub message: String,
    pub help: Option<String>,
}

/// The mistakes `args` shows without rendering (templated values are judged when they
/// render), for the playbook loader. Empty for other modules.
pub fn literal_problems(module: &str, args: &Map<String, Value>) -> Vec<ArgProblem> {
    if module != DB_BACKUP.name && module != DB_RESTORE.name {
        return Vec::new();
    }
    let literal = |name: &str| match args.get(name) {
        Some(Value::String(s)) if has_template_syntax(s) => None,
        Some(Value::Null) | None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let mut problems = Vec::new();
    let Some(kind) = literal("type") else {
        return problems;
    };
    if !TYPES.contains(&kind.as_str()) {
        problems.push(ArgProblem {
            arg: Some("type".into()),
            message: format!(
                "argument `type` must be one of {}, not `{kind}`",
                TYPES.join(", ")
            ),
            help: crate::suggest::did_you_mean(&kind, TYPES.iter().copied())
                .map(|s| format!("did you mean `{s}`?")),
        });
        return problems;
    }
    let own = type_args(&kind);
    for name in args.keys() {
        let other_type = TYPES
            .iter()
            .find(|t| **t != kind && type_args(t).contains(&name.as_str()));
        if let Some(other) = other_type
            && !own.contains(&name.as_str())
        {
            problems.push(ArgProblem {
                arg: Some(name.clone()),
                message: format!("argument `{name}` is for type {other}, not {kind}"),
                help: Some(format!("{kind} takes: {}", own.join(", "))),
            });
        }
    }
    for (t, required) in TYPE_REQUIRED {
        if *t == kind && !args.contains_key(*required) {
            problems.push(ArgProblem {
                arg: None,
                message: format!(
                    "module `{module}` with type {kind} needs the argument `{required}`"
                ),
                help: None,
            });
        }
    }
    if let Some(format) = literal("format")
        && !FORMATS.contains(&format.as_str())
    {
        problems.push(ArgProblem {
            arg: Some("format".into()),
            message: format!(
                "argument `format` must be one of {}, not `{format}`",
                FORMATS.join(", ")
            ),
            help: None,
        });
    }
    if let Some(port) = literal("login_port")
        && port.parse::<u16>().is_err()
    {
        problems.push(ArgProblem {
            arg: Some("login_port".into()),
            message: format!("argument `login_port` must be a port number, not {port}"),
            help: None,
        });
    }
    problems
}

fn type_args(kind: &str) -> &'static [&'static str] {
    match kind {
        "postgresql" => POSTGRESQL_ARGS,
        "sqlite" => SQLITE_ARGS,
        _ => REDIS_ARGS,
    }
}

/// The store a task works on, from its rendered arguments (checked again: templates rendered).
enum Store {
    Postgresql(postgresql::Target),
    Sqlite(sqlite::Target),
    Redis(redis::Target),
}

impl Store {
    fn from_args(module: &str, args: &Args) -> Result<Store, ModuleError> {
        if let Some(problem) = literal_problems(module, &args.0).into_iter().next() {
            return Err(ModuleError::Args {
                message: problem.message,
            });
        }
        Ok(match args.choice("type", TYPES, "postgresql")? {
            "postgresql" => Store::Postgresql(postgresql::Target::from_args(args)?),
            "sqlite" => Store::Sqlite(sqlite::Target::from_args(args)?),
            _ => Store::Redis(redis::Target::from_args(args)?),
        })
    }

    fn kind(&self) -> &'static str {
        match self {
            Store::Postgresql(_) => "postgresql",
            Store::Sqlite(_) => "sqlite",
            Store::Redis(_) => "redis",
        }
    }

    /// What is backed up or restored, for messages: `database app`, `/var/lib/x.db`, …
    fn describe(&self) -> String {
        match self {
            Store::Postgresql(t) => format!("PostgreSQL database {}", t.name),
            Store::Sqlite(t) => format!("SQLite database {}", t.path),
            Store::Redis(t) => format!("the Redis AOF in {}", t.data_dir),
        }
    }
}

async fn backup(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let store = Store::from_args(DB_BACKUP.name, &args).map_err(|e| ctx.at_task(e))?;
    let dest = args.required_str("dest")?;
    let force = args.bool("force", true)?;
    if !force && let Some(facts) = artefact_facts(ctx, &dest).await? {
        let mut outcome = artefact_outcome(&store, &dest, Some(&facts));
        outcome.msg = Some(format!("{dest} exists (force: no): nothing backed up"));
        return Ok(outcome);
    }
    let what = store.describe();
    if ctx.check {
        let mut outcome = artefact_outcome(&store, &dest, None);
        outcome.changed = true;
        outcome.msg = Some(format!("would back up {what} to {dest}"));
        return Ok(outcome);
    }
    match &store {
        Store::Postgresql(t) => postgresql::backup(ctx, t, &dest).await?,
        Store::Sqlite(t) => sqlite::backup(ctx, t, &dest).await?,
        Store::Redis(t) => redis::backup(ctx, t, &dest).await?,
    }
    let facts = artefact_facts(ctx, &dest)
        .await?
        .ok_or_else(|| ModuleError::Remote {
            message: format!("the backup {dest} is missing after it was written"),
        })?;
    let mut outcome = artefact_outcome(&store, &dest, Some(&facts));
    outcome.changed = true;
    outcome.msg = Some(format!("backed up {what} to {dest}"));
    Ok(outcome)
}

async fn restore(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let store = Store::from_args(DB_RESTORE.name, &args).map_err(|e| ctx.at_task(e))?;
    let src = args.required_str("src")?;
    let what = store.describe();
    if ctx.check {
        let mut outcome = artefact_outcome(&store, &src, None);
        outcome.changed = true;
        outcome.msg = Some(format!("would restore {what} from {src}"));
        return Ok(outcome);
    }
    let facts = artefact_facts(ctx, &src)
        .await?
        .ok_or_else(|| ModuleError::Remote {
            message: format!("db_restore: the backup {src} does not exist; nothing was changed"),
        })?;
    match &store {
        Store::Postgresql(t) => postgresql::restore(ctx, t, &src).await?,
        Store::Sqlite(t) => sqlite::restore(ctx, t, &src, facts.is_dir).await?,
        Store::Redis(t) => redis::restore(ctx, t, &src, facts.is_dir).await?,
    }
    let mut outcome = artefact_outcome(&store, &src, Some(&facts));
    outcome.changed = true;
    outcome.msg = Some(format!("restored {what} from {src}"));
    Ok(outcome)
}

/// A backup artefact on the node: a file, or a directory (a Redis 7 `appendonlydir`).
#[derive(Debug)]
struct Facts {
    checksum: String,
    size: u64,
    is_dir: bool,
}

/// The artefact's sha256 and size, `None` if nothing is at `path`. A directory's checksum is
/// the sha256 of `sha256sum` lines of its files in byte order of their paths
/// (`find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum`), its size their total.
async fn artefact_facts(ctx: &Context<'_>, path: &str) -> Result<Option<Facts>, ModuleError> {
    let p = shell_quote(path);
    let script = format!(
        "p={p}\n\
         if [ -d \"$p\" ]; then\n\
         \x20 cd -- \"$p\" || exit 1\n\
         \x20 echo dir\n\
         \x20 find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum | sha256sum\n\
         \x20 find . -type f -print0 | xargs -0r stat -c %s | awk '{{ s += $1 }} END {{ print s + 0 }}'\n\
         elif [ -f \"$p\" ]; then\n\
         \x20 echo file\n\
         \x20 sha256sum < \"$p\" && stat -L -c %s -- \"$p\"\n\
         else\n\
         \x20 echo missing\n\
         fi"
    );
    let out = ctx
        .sh_ok(&script, &format!("reading the backup {path}"))
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let is_dir = match lines.next() {
        Some("dir") => true,
        Some("file") => false,
        _ => return Ok(None),
    };
    let checksum = lines
        .next()
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default()
        .to_string();
    let size = lines.next().and_then(|l| l.trim().parse().ok());
    match size {
        Some(size) if checksum.len() == 64 => Ok(Some(Facts {
            checksum,
            size,
            is_dir,
        })),
        _ => Err(ModuleError::Remote {
            message: format!("cannot read the checksum and size of {path}: {text}"),
        }),
    }
}

fn artefact_outcome(store: &Store, path: &str, facts: Option<&Facts>) -> Outcome {
    let mut data = Map::new();
    data.insert("path".into(), json!(path));
    data.insert("type".into(), json!(store.kind()));
    if let Some(facts) = facts {
        data.insert("checksum".into(), json!(facts.checksum));
        data.insert("size".into(), json!(facts.size));
    }
    Outcome {
        data,
        ..Outcome::default()
    }
}

/// Runs `script` with `/bin/sh` on the node; `secret`, if any, is its stdin's first line (the
/// script's [`read_secret`] prelude exports it), so it never appears in a command line.
async fn run(
    ctx: &Context<'_>,
    script: &str,
    secret: Option<&str>,
) -> Result<ExecOutput, ModuleError> {
    let stdin = secret.map(|s| format!("{s}\n").into_bytes());
    Ok(ctx.conn()?.sh(script, stdin).await?)
}

/// Like [`run`] for a step that must succeed: a failure names `what` and the command's stderr.
async fn run_ok(
    ctx: &Context<'_>,
    script: &str,
    secret: Option<&str>,
    what: &str,
) -> Result<ExecOutput, ModuleError> {
    let out = run(ctx, script, secret).await?;
    if out.exit_status == Some(0) {
        return Ok(out);
    }
    Err(super::remote_failure(what, &out))
}

/// The prelude that exports `var` from the first line of stdin, when there is a secret.
fn read_secret(var: &str, secret: Option<&str>) -> String {
    match secret {
        Some(_) => format!("IFS= read -r {var} || true\nexport {var}\n"),
        None => String::new(),
    }
}

/// A script that creates `dest`'s directory and a private temp file beside `dest` (`$tmp`),
/// runs `produce` (which fills `$tmp`), and renames it over `dest`: an interrupted backup
/// never leaves half an artefact under the real name.
fn write_file_script(dest: &str, produce: &str) -> String {
    format!(
        "dest={dest}\n\
         dir=$(dirname -- \"$dest\")\n\
         mkdir -p -- \"$dir\" || exit 1\n\
         tmp=$(mktemp \"$dir/.drover-backup.XXXXXXXX\") || exit 1\n\
         trap 'rm -f -- \"$tmp\"' EXIT\n\
         {produce} || exit 1\n\
         mv -f -- \"$tmp\" \"$dest\" || exit 1\n\
         trap - EXIT\n",
        dest = shell_quote(dest),
    )
}

/// Replaces the directory `$target` with the directory `$new` (both set by the caller's
/// script, on one filesystem): the old one is renamed aside first, then removed, so `$target`
/// is never a mix of both.
const SWAP_DIR: &str = "old=\n\
     if [ -e \"$target\" ]; then\n\
     \x20 old=\"$target.drover-old.$$\"\n\
     \x20 mv -T -- \"$target\" \"$old\" || exit 1\n\
     fi\n\
     mv -T -- \"$new\" \"$target\" || exit 1\n\
     [ -z \"$old\" ] || rm -rf -- \"$old\"\n";

/// `"name"`: an SQL identifier.
fn sql_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`: an SQL string literal (standard_conforming_strings, the default since 9.1).
fn sql_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Connection arguments shared by the PostgreSQL and Redis targets.
fn login_port(args: &Args) -> Result<Option<u16>, ModuleError> {
    match args.int("login_port")? {
        None => Ok(None),
        Some(port) => u16::try_from(port)
            .map(Some)
            .map_err(|_| ModuleError::Args {
                message: format!("argument `login_port` must be a port number, not {port}"),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(module: &str, args: Value) -> Vec<String> {
        let Value::Object(map) = args else {
            return vec!["not a map".into()];
        };
        literal_problems(module, &map)
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    #[test]
    fn literal_arguments_are_checked_against_the_type() {
        assert!(
            problems(
                "db_backup",
                json!({"type": "postgresql", "name": "app", "dest": "/b"})
            )
            .is_empty()
        );
        assert_eq!(
            problems("db_backup", json!({"type": "mysql", "dest": "/b"})),
            ["argument `type` must be one of postgresql, sqlite, redis, not `mysql`"]
        );
        assert_eq!(
            problems(
                "db_restore",
                json!({"type": "redis", "src": "/b", "name": "x", "data_dir": "/d"})
            ),
            ["argument `name` is for type postgresql, not redis"]
        );
        assert_eq!(
            problems("db_restore", json!({"type": "sqlite", "src": "/b"})),
            ["module `db_restore` with type sqlite needs the argument `path`"]
        );
        assert_eq!(
            problems(
                "db_backup",
                json!({"type": "postgresql", "name": "a", "format": "dir", "login_port": "x"})
            ),
            [
                "argument `format` must be one of custom, tar, plain, not `dir`",
                "argument `login_port` must be a port number, not x"
            ]
        );
        // Templates are judged when they render; other modules are not ours.
        assert!(problems("db_backup", json!({"type": "{{ kind }}", "dest": "/b"})).is_empty());
        assert!(problems("copy", json!({"type": "mysql"})).is_empty());
    }

    #[test]
    fn sql_names_and_strings_are_quoted() {
        assert_eq!(sql_ident("ttn_lorawan"), "\"ttn_lorawan\"");
        assert_eq!(sql_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(sql_literal("it's"), "'it''s'");
    }
}

//! SQLite: a backup is sqlite3's online `.backup` (the backup API: a consistent copy even
//! while the service writes), into a temp file beside `dest`, renamed. A restore copies the
//! backup beside the database, checks it is one (`PRAGMA quick_check`), gives it the old
//! file's mode and (as root) owner, removes the stale `-wal`, `-shm` and `-journal` files
//! (SQLite would replay them into the restored file), and renames it over the database.
//! Stop the service first: a process with the old file open keeps writing to it.

use super::super::{Args, Context, ModuleError};
use super::{run_ok, write_file_script};
use crate::template::shell_quote;

pub(in crate::modules) struct Target {
    pub path: String,
    sqlite3: String,
}

impl Target {
    pub fn from_args(args: &Args) -> Result<Target, ModuleError> {
        Ok(Target {
            path: args.required_str("path")?,
            sqlite3: args.str("sqlite3")?.unwrap_or_else(|| "sqlite3".into()),
        })
    }

    /// `db=ABSOLUTE PATH`: the scripts change directory before sqlite3 runs.
    fn db_var(&self) -> String {
        format!(
            "db={}\ncase $db in /*) ;; *) db=$PWD/$db ;; esac\n",
            shell_quote(&self.path)
        )
    }
}

pub(in crate::modules) async fn backup(
    ctx: &Context<'_>,
    target: &Target,
    dest: &str,
) -> Result<(), ModuleError> {
    // `.backup` takes a file name in sqlite's own quoting: run it in the temp file's
    // directory on its plain name (`.drover-backup.XXXXXXXX`), so no path needs quoting.
    let produce = format!(
        "(cd -- \"$dir\" && {} -bail \"$db\" \".backup $(basename -- \"$tmp\")\" < /dev/null)",
        target.sqlite3
    );
    let script = format!(
        "{}[ -f \"$db\" ] || {{ echo \"no SQLite database at $db\" >&2; exit 1; }}\n{}",
        target.db_var(),
        write_file_script(dest, &produce)
    );
    run_ok(
        ctx,
        &script,
        None,
        &format!("db_backup: sqlite3 .backup of {} to {dest}", target.path),
    )
    .await?;
    Ok(())
}

pub(in crate::modules) async fn restore(
    ctx: &Context<'_>,
    target: &Target,
    src: &str,
    src_is_dir: bool,
) -> Result<(), ModuleError> {
    if src_is_dir {
        return Err(ModuleError::Remote {
            message: format!("db_restore: {src} is a directory, not an SQLite backup file"),
        });
    }
    let script = format!(
        "{db}src={src}\n\
         dir=$(dirname -- \"$db\")\n\
         [ -d \"$dir\" ] || {{ echo \"no directory $dir for the database\" >&2; exit 1; }}\n\
         tmp=$(mktemp \"$dir/.drover-restore.XXXXXXXX\") || exit 1\n\
         trap 'rm -f -- \"$tmp\"' EXIT\n\
         cp -- \"$src\" \"$tmp\" || exit 1\n\
         check=$(cd -- \"$dir\" && {sqlite3} -bail \"$(basename -- \"$tmp\")\" 'PRAGMA quick_check;' < /dev/null 2>&1)\n\
         if [ \"$check\" != ok ]; then\n\
         \x20 echo \"$src is not a sound SQLite database: $check\" >&2\n\
         \x20 exit 1\n\
         fi\n\
         ref=$db\n\
         [ -e \"$ref\" ] || ref=$dir\n\
         if [ -e \"$db\" ]; then chmod --reference=\"$db\" \"$tmp\"; else chmod 0644 \"$tmp\"; fi || exit 1\n\
         if [ \"$(id -u)\" -eq 0 ]; then chown --reference=\"$ref\" \"$tmp\" || exit 1; fi\n\
         rm -f -- \"$db-wal\" \"$db-shm\" \"$db-journal\" || exit 1\n\
         mv -f -- \"$tmp\" \"$db\" || exit 1\n\
         trap - EXIT\n",
        db = target.db_var(),
        src = shell_quote(src),
        sqlite3 = target.sqlite3,
    );
    run_ok(
        ctx,
        &script,
        None,
        &format!(
            "db_restore: restoring {} from {src} (the database is unchanged)",
            target.path
        ),
    )
    .await?;
    Ok(())
}

//! Redis: the guide's backup is the append-only file copied with Redis stopped, and its
//! restore puts the file back before Redis starts. Both refuse while the server answers on
//! `login_host:login_port` (a running server rewrites the AOF under the copy, and would
//! overwrite a restored one). The AOF is `appendonly.aof` up to Redis 6 and the multi-part
//! `appendonlydir/` from Redis 7 (a directory artefact); a restore replaces whichever form the
//! backup has (and removes the other form, which Redis 7 would prefer or ignore), through a
//! temp copy beside it and renames.

use super::super::{Args, Context, ModuleError};
use super::{SWAP_DIR, read_secret, run, run_ok, write_file_script};
use crate::template::shell_quote;

pub(in crate::modules) struct Target {
    pub data_dir: String,
    host: String,
    port: u16,
    password: Option<String>,
    redis_cli: String,
}

impl Target {
    pub fn from_args(args: &Args) -> Result<Target, ModuleError> {
        Ok(Target {
            data_dir: args.required_str("data_dir")?,
            host: args
                .str("login_host")?
                .unwrap_or_else(|| "127.0.0.1".into()),
            port: super::login_port(args)?.unwrap_or(6379),
            password: args.str("login_password")?,
            redis_cli: args.str("redis_cli")?.unwrap_or_else(|| "redis-cli".into()),
        })
    }

    /// Fails unless nothing answers on the server's address: any reply (PONG, NOAUTH,
    /// LOADING) means a server runs there.
    async fn refuse_if_running(&self, ctx: &Context<'_>, module: &str) -> Result<(), ModuleError> {
        let script = format!(
            "{}{} -h {} -p {} ping < /dev/null 2>&1\necho \"rc=$?\"",
            read_secret("REDISCLI_AUTH", self.password.as_deref()),
            self.redis_cli,
            shell_quote(&self.host),
            self.port
        );
        let out = run(ctx, &script, self.password.as_deref()).await?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if text.ends_with("rc=127") {
            return Err(ModuleError::Remote {
                message: format!(
                    "{module}: cannot run `{}` on the node to check that Redis is stopped: {text}; \
                     set `redis_cli`",
                    self.redis_cli
                ),
            });
        }
        let refused = text.contains("Could not connect") || text.contains("Connection refused");
        if refused {
            return Ok(());
        }
        Err(ModuleError::Remote {
            message: format!(
                "{module}: Redis answers on {}:{} ({}); stop it first (`systemctl stop redis`): \
                 the AOF is copied with Redis stopped",
                self.host,
                self.port,
                text.lines().next().unwrap_or_default()
            ),
        })
    }
}

pub(in crate::modules) async fn backup(
    ctx: &Context<'_>,
    target: &Target,
    dest: &str,
) -> Result<(), ModuleError> {
    target.refuse_if_running(ctx, "db_backup").await?;
    let d = shell_quote(&target.data_dir);
    let file = write_file_script(dest, "cp -p -- \"$d/appendonly.aof\" \"$tmp\"");
    // A directory artefact: copied into a temp directory beside dest, then swapped in.
    let dir = format!(
        "dest={dest}\n\
         parent=$(dirname -- \"$dest\")\n\
         mkdir -p -- \"$parent\" || exit 1\n\
         new=$(mktemp -d \"$parent/.drover-backup.XXXXXXXX\") || exit 1\n\
         trap 'rm -rf -- \"$new\"' EXIT\n\
         cp -a -- \"$d/appendonlydir/.\" \"$new/\" || exit 1\n\
         chmod --reference=\"$d/appendonlydir\" \"$new\" || exit 1\n\
         target=$dest\n\
         {SWAP_DIR}\
         trap - EXIT\n",
        dest = shell_quote(dest),
    );
    let script = format!(
        "d={d}\n\
         if [ -d \"$d/appendonlydir\" ]; then\n{dir}\n\
         elif [ -f \"$d/appendonly.aof\" ]; then\n{file}\n\
         else\n\
         \x20 echo \"no AOF in $d (neither appendonlydir/ nor appendonly.aof): is appendonly on?\" >&2\n\
         \x20 exit 1\n\
         fi\n"
    );
    run_ok(
        ctx,
        &script,
        None,
        &format!(
            "db_backup: copying the AOF of {} to {dest}",
            target.data_dir
        ),
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
    target.refuse_if_running(ctx, "db_restore").await?;
    // The restored AOF takes the data directory's owner when root restores it, so the
    // server (its own user) can read and rewrite it.
    let (name, other, copy) = if src_is_dir {
        (
            "appendonlydir",
            "appendonly.aof",
            "new=$(mktemp -d \"$d/.drover-restore.XXXXXXXX\") || exit 1\n\
             trap 'rm -rf -- \"$new\"' EXIT\n\
             cp -a -- \"$src/.\" \"$new/\" || exit 1\n\
             chmod --reference=\"$src\" \"$new\" || exit 1\n\
             if [ \"$(id -u)\" -eq 0 ]; then chown -R --reference=\"$d\" \"$new\" || exit 1; fi\n"
                .to_string()
                + SWAP_DIR,
        )
    } else {
        (
            "appendonly.aof",
            "appendonlydir",
            "new=$(mktemp \"$d/.drover-restore.XXXXXXXX\") || exit 1\n\
             trap 'rm -f -- \"$new\"' EXIT\n\
             cp -p -- \"$src\" \"$new\" || exit 1\n\
             if [ \"$(id -u)\" -eq 0 ]; then chown --reference=\"$d\" \"$new\" || exit 1; fi\n\
             mv -f -- \"$new\" \"$target\" || exit 1\n"
                .to_string(),
        )
    };
    let script = format!(
        "d={d}\nsrc={src}\n\
         [ -d \"$d\" ] || {{ echo \"no Redis data directory $d\" >&2; exit 1; }}\n\
         target=\"$d/{name}\"\n\
         {copy}\
         trap - EXIT\n\
         # The other form of the AOF would be loaded instead (Redis 7 prefers the directory).\n\
         rm -rf -- \"$d/{other}\"\n",
        d = shell_quote(&target.data_dir),
        src = shell_quote(src),
    );
    run_ok(
        ctx,
        &script,
        None,
        &format!(
            "db_restore: putting the AOF {src} back into {}",
            target.data_dir
        ),
    )
    .await?;
    Ok(())
}

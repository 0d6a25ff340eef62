//! `raw` (a command line handed to the login shell as is, no `/bin/sh -c` wrapper) and
//! `script` (a local script uploaded to a private temp file on the node, run, removed).
//! Like `command`, both report `changed` unless `creates`/`removes` say the work is done,
//! and are skipped in check mode.

use super::command::{already_done, result};
use super::file::find_local;
use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use crate::template::shell_quote;
use std::time::Instant;

pub struct Raw;
pub struct Script;

static RAW: ModuleSpec = ModuleSpec {
    name: "raw",
    args: &["executable"],
    required: &[],
    one_of: &[&["_raw_params"]],
    free_form: true,
    local: false,
    any_args: false,
};

static SCRIPT: ModuleSpec = ModuleSpec {
    name: "script",
    args: &["cmd", "chdir", "creates", "removes", "executable"],
    required: &[],
    one_of: &[&["cmd", "_raw_params"]],
    free_form: true,
    local: false,
    any_args: false,
};

module!(Raw, RAW, raw);

async fn raw(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let line = args.required_str("_raw_params")?;
    if ctx.check {
        return Ok(Outcome::skipped_in_check());
    }
    let command = match args.str("executable")? {
        Some(exe) => format!("{} -c {}", shell_quote(&exe), shell_quote(&line)),
        None => line.clone(),
    };
    let started = Instant::now();
    let out = ctx.conn()?.exec(&command, None).await?;
    // raw keeps output as is (Ansible does not strip it either).
    Ok(result(&out, &line, started.elapsed(), false))
}

module!(Script, SCRIPT, script);

async fn script(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let line = match args.str("cmd")? {
        Some(cmd) => cmd,
        None => args.required_str("_raw_params")?,
    };
    let words = shlex::split(&line).ok_or_else(|| ModuleError::Args {
        message: format!("cannot split `{line}` (unbalanced quotes?)"),
    })?;
    let Some((script, rest)) = words.split_first() else {
        return Err(ModuleError::Args {
            message: "no script given".to_string(),
        });
    };
    let local = find_local(ctx, "files", script)?;
    if let Some(done) = already_done(ctx, &args, &line).await? {
        return Ok(done);
    }
    if ctx.check {
        return Ok(Outcome::skipped_in_check());
    }
    let conn = ctx.conn()?;
    let made = ctx
        .sh_ok(
            "umask 077 && mktemp \"${TMPDIR:-/tmp}/drover-script.XXXXXXXX\"",
            "creating a temp file for the script",
        )
        .await?;
    let remote = String::from_utf8_lossy(&made.stdout).trim().to_string();
    let uploaded = conn.upload_file(&local, &remote, Some(0o700)).await;
    let ran = match uploaded {
        Ok(()) => {
            let mut command = match args.str("executable")? {
                Some(exe) => shell_quote(&exe) + " " + &shell_quote(&remote),
                None => shell_quote(&remote),
            };
            for word in rest {
                command.push(' ');
                command.push_str(&shell_quote(word));
            }
            if let Some(dir) = args.str("chdir")? {
                command = format!("cd {} && {command}", shell_quote(&dir));
            }
            let started = Instant::now();
            conn.exec(&command, None)
                .await
                .map(|out| (out, started.elapsed()))
        }
        Err(e) => Err(e),
    };
    // Removed whatever happened, so no script is left behind on the node.
    let _ = ctx.sh(&format!("rm -f -- {}", shell_quote(&remote))).await;
    let (out, delta) = ran?;
    Ok(result(&out, &line, delta, true))
}

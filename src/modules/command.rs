//! `command` and `shell`: run a program on the host. `command` passes its words through no
//! shell (pipes and `$VARS` are literal, as in Ansible); `shell` runs the string with
//! `/bin/sh -c` (or `executable`). Both always report `changed` unless `creates`/`removes`
//! say the work is already done; in check mode they are skipped, as Ansible does.

use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use crate::template::shell_quote;
use serde_json::{Value, json};
use std::time::Instant;

pub struct Command;
pub struct Shell;

static COMMAND: ModuleSpec = ModuleSpec {
    name: "command",
    args: &[
        "cmd",
        "argv",
        "chdir",
        "creates",
        "removes",
        "stdin",
        "stdin_add_newline",
        "strip_empty_ends",
    ],
    required: &[],
    one_of: &[&["cmd", "argv", "_raw_params"]],
    free_form: true,
    local: false,
    any_args: false,
};

static SHELL: ModuleSpec = ModuleSpec {
    name: "shell",
    args: &[
        "cmd",
        "chdir",
        "creates",
        "removes",
        "stdin",
        "stdin_add_newline",
        "strip_empty_ends",
        "executable",
    ],
    required: &[],
    one_of: &[&["cmd", "_raw_params"]],
    free_form: true,
    local: false,
    any_args: false,
};

module!(Command, COMMAND, |ctx, args| run(ctx, args, false));

module!(Shell, SHELL, |ctx, args| run(ctx, args, true));

/// The remote command line for `command`: each word quoted, so no shell syntax applies.
fn command_line(args: &Args) -> Result<String, ModuleError> {
    if let Some(Value::Array(argv)) = args.0.get("argv") {
        let words: Vec<String> = argv
            .iter()
            .map(|w| match w {
                Value::String(s) => shell_quote(s),
                other => shell_quote(&other.to_string()),
            })
            .collect();
        return Ok(words.join(" "));
    }
    let raw = match args.str("cmd")? {
        Some(cmd) => cmd,
        None => args.required_str("_raw_params")?,
    };
    let words = shlex::split(&raw).ok_or_else(|| ModuleError::Args {
        message: format!("cannot split command line (unbalanced quotes?): {raw}"),
    })?;
    if words.is_empty() {
        return Err(ModuleError::Args {
            message: "no command given".to_string(),
        });
    }
    Ok(words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" "))
}

async fn run(ctx: &Context<'_>, args: Args, shell: bool) -> Result<Outcome, ModuleError> {
    let (display, script) = if shell {
        let raw = match args.str("cmd")? {
            Some(cmd) => cmd,
            None => args.required_str("_raw_params")?,
        };
        // `None`: /bin/sh, through `Connection::sh`, which skips the wrapper shell when the
        // login shell is /bin/sh.
        let script = args
            .str("executable")?
            .filter(|e| e != "/bin/sh")
            .map(|e| format!("{} -c {}", shell_quote(&e), shell_quote(&raw)));
        (raw, script)
    } else {
        let line = command_line(&args)?;
        (line.clone(), Some(line))
    };
    let conn = ctx.conn()?;
    if let Some(done) = already_done(ctx, &args, &display).await? {
        return Ok(done);
    }
    if ctx.check {
        return Ok(Outcome::skipped_in_check());
    }

    let chdir = args.str("chdir")?;
    let stdin = match args.str("stdin")? {
        Some(mut text) => {
            if args.bool("stdin_add_newline", true)? {
                text.push('\n');
            }
            Some(text.into_bytes())
        }
        None => None,
    };
    let started = Instant::now();
    let out = match (script, chdir) {
        (Some(line), None) => conn.exec(&line, stdin).await?,
        (Some(line), Some(dir)) => {
            conn.exec(&format!("cd {} && {line}", shell_quote(&dir)), stdin)
                .await?
        }
        (None, None) => conn.sh(&display, stdin).await?,
        (None, Some(dir)) => {
            let script = format!("cd {} || exit 1\n{display}", shell_quote(&dir));
            conn.sh(&script, stdin).await?
        }
    };
    let delta = started.elapsed();

    Ok(result(
        &out,
        &display,
        delta,
        args.bool("strip_empty_ends", true)?,
    ))
}

/// `creates`/`removes`: the outcome when they say the work is already done.
pub(super) async fn already_done(
    ctx: &Context<'_>,
    args: &Args,
    display: &str,
) -> Result<Option<Outcome>, ModuleError> {
    let conn = ctx.conn()?;
    for (arg, exists_means_skip) in [("creates", true), ("removes", false)] {
        if let Some(path) = args.str(arg)? {
            let probe = conn
                .exec(&format!("test -e {}", shell_quote(&path)), None)
                .await?;
            let exists = probe.exit_status == Some(0);
            if exists == exists_means_skip {
                let msg = if exists_means_skip {
                    format!("Did not run command since '{path}' exists")
                } else {
                    format!("Did not run command since '{path}' does not exist")
                };
                let mut outcome = Outcome {
                    msg: Some(msg),
                    ..Outcome::default()
                };
                outcome.data.insert("cmd".into(), json!(display));
                outcome.data.insert("rc".into(), json!(0));
                return Ok(Some(outcome));
            }
        }
    }
    Ok(None)
}

/// Ansible's command result: rc, stdout/stderr (and their lines), cmd, delta; failed on a
/// non-zero exit.
pub(super) fn result(
    out: &crate::transport::ExecOutput,
    display: &str,
    delta: std::time::Duration,
    strip: bool,
) -> Outcome {
    let text = |bytes: &[u8]| {
        let s = String::from_utf8_lossy(bytes).into_owned();
        if strip {
            s.trim_end_matches(['\n', '\r']).to_string()
        } else {
            s
        }
    };
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    let rc: i64 = match (out.exit_status, &out.exit_signal) {
        (Some(code), _) => i64::from(code),
        (None, _) => -1,
    };
    let mut outcome = Outcome {
        changed: true,
        failed: rc != 0,
        ..Outcome::default()
    };
    if rc != 0 {
        outcome.msg = Some(match &out.exit_signal {
            Some(signal) => format!("killed by signal {signal}"),
            None => "non-zero return code".to_string(),
        });
    }
    let lines = |s: &str| -> Vec<String> { s.lines().map(str::to_string).collect() };
    let data = &mut outcome.data;
    data.insert("cmd".into(), json!(display));
    data.insert("rc".into(), json!(rc));
    data.insert("stdout_lines".into(), json!(lines(&stdout)));
    data.insert("stderr_lines".into(), json!(lines(&stderr)));
    data.insert("stdout".into(), json!(stdout));
    data.insert("stderr".into(), json!(stderr));
    data.insert("delta".into(), json!(format!("{:.6}", delta.as_secs_f64())));
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: Value) -> Args {
        Args::from_value(v)
    }

    #[test]
    fn command_words_are_quoted_so_no_shell_syntax_applies() {
        let line = command_line(&args(json!({"_raw_params": "echo 'a b' | wc $HOME"}))).unwrap();
        assert_eq!(line, "echo 'a b' '|' wc '$HOME'");
        let line = command_line(&args(json!({"argv": ["ls", "-l", "x y"]}))).unwrap();
        assert_eq!(line, "ls -l 'x y'");
        assert!(command_line(&args(json!({"_raw_params": "echo 'open"}))).is_err());
    }
}

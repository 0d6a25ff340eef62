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
        "executable",
        "expand_argument_vars",
    ],
    required: &[],
    // Checked when the task runs, with Ansible's messages (its arguments may come from
    // `args:` or a template).
    one_of: &[],
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
    one_of: &[],
    free_form: true,
    local: false,
    any_args: false,
};

module!(Command, COMMAND, |ctx, args| run(ctx, args, false));

module!(Shell, SHELL, |ctx, args| run(ctx, args, true));

/// `_raw_params`, `cmd`, `argv`: exactly one, as Ansible's `required_one_of` and
/// `mutually_exclusive` say (an empty one counts as not given).
fn the_command(args: &Args, shell: bool) -> Result<(), ModuleError> {
    let given: Vec<&str> = ["_raw_params", "cmd", "argv"]
        .into_iter()
        .filter(|name| match args.0.get(*name) {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        })
        .filter(|name| !(shell && *name == "argv"))
        .collect();
    match given.len() {
        0 => Err(ModuleError::Args {
            message: "one of the following is required: _raw_params, cmd, argv".to_string(),
        }),
        1 => Ok(()),
        _ => Err(ModuleError::Args {
            message: format!("parameters are mutually exclusive: {}", given.join("|")),
        }),
    }
}

/// `command`'s words: `argv` as given, else the command line split as a shell would
/// (Python's `shlex.split`).
fn command_words(args: &Args) -> Result<Vec<String>, ModuleError> {
    if let Some(Value::Array(argv)) = args.0.get("argv") {
        return Ok(argv
            .iter()
            .map(|w| match w {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect());
    }
    let raw = match args.str("cmd")? {
        Some(cmd) if !cmd.is_empty() => cmd,
        _ => args.required_str("_raw_params")?,
    };
    shlex::split(&raw).ok_or_else(|| ModuleError::Args {
        message: format!("cannot split command line (unbalanced quotes?): {raw}"),
    })
}

/// One word of `command` as the node's shell gets it: quoted, so no shell syntax applies,
/// except (with `expand_argument_vars`, the default) a leading `~` and `$NAME`/`${NAME}`,
/// expanded as Python's `expanduser`/`expandvars` do (an unset variable stays as written).
fn command_word(word: &str, expand: bool) -> String {
    if !expand {
        return shell_quote(word);
    }
    let mut out = String::new();
    let mut rest = word;
    if let Some(after) = rest.strip_prefix('~') {
        let end = after.find('/').unwrap_or(after.len());
        let user = &after[..end];
        if user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            out.push('~');
            out.push_str(user);
            rest = &after[end..];
        }
    }
    let mut literal = String::new();
    let flush = |literal: &mut String, out: &mut String| {
        if !literal.is_empty() {
            out.push_str(&shell_quote(literal));
            literal.clear();
        }
    };
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '$' {
            let tail = &rest[i + 1..];
            let (name, used) = if let Some(inner) = tail.strip_prefix('{') {
                match inner.find('}') {
                    Some(close) => (&inner[..close], close + 2),
                    None => ("", 0),
                }
            } else {
                let len = tail
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                    .unwrap_or(tail.len());
                (&tail[..len], len)
            };
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                && !name.starts_with(|ch: char| ch.is_ascii_digit());
            if valid {
                flush(&mut literal, &mut out);
                let as_written = &rest[i..i + 1 + used];
                // Set: its value; unset: the text as written (Python's expandvars).
                out.push_str(&format!(
                    "\"$(if [ -n \"${{{name}+x}}\" ]; then printf %s \"${name}\"; else printf %s {}; fi)\"",
                    shell_quote(as_written)
                ));
                // Skip the variable's characters.
                for _ in 0..used {
                    chars.next();
                }
                continue;
            }
        }
        literal.push(c);
    }
    flush(&mut literal, &mut out);
    if out.is_empty() {
        "''".to_string()
    } else {
        out
    }
}

async fn run(ctx: &Context<'_>, args: Args, shell: bool) -> Result<Outcome, ModuleError> {
    the_command(&args, shell)?;
    let mut warnings = Vec::new();
    let (display, cmd, script) = if shell {
        let raw = match args.str("cmd")? {
            Some(cmd) if !cmd.is_empty() => cmd,
            _ => args.required_str("_raw_params")?,
        };
        // `None`: /bin/sh, through `Connection::sh`, which skips the wrapper shell when the
        // login shell is /bin/sh.
        let script = args
            .str("executable")?
            .filter(|e| e != "/bin/sh")
            .map(|e| format!("{} -c {}", shell_quote(&e), shell_quote(&raw)));
        (raw.clone(), json!(raw), script)
    } else {
        if let Some(executable) = args.str("executable")? {
            warnings.push(format!(
                "As of Ansible 2.4, the parameter 'executable' is no longer supported with \
                 the 'command' module. Not using '{executable}'."
            ));
        }
        let words = command_words(&args)?;
        let expand = args.bool("expand_argument_vars", true)?;
        let line: Vec<String> = words.iter().map(|w| command_word(w, expand)).collect();
        (words.join(" "), json!(words), Some(line.join(" ")))
    };
    let mut outcome = run_once(ctx, &args, &display, script).await?;
    outcome.data.insert("cmd".into(), cmd);
    if !warnings.is_empty() {
        outcome.data.insert("warnings".into(), json!(warnings));
    }
    Ok(outcome)
}

/// `creates`/`removes`, check mode, `chdir`, then the command itself.
async fn run_once(
    ctx: &Context<'_>,
    args: &Args,
    display: &str,
    script: Option<String>,
) -> Result<Outcome, ModuleError> {
    let conn = ctx.conn()?;
    let chdir = args.str("chdir")?;
    if let Some(dir) = &chdir {
        let probe = conn.exec(&format!("cd {}", shell_quote(dir)), None).await?;
        if probe.exit_status != Some(0) {
            let mut outcome = Outcome::failed("Unable to change directory before execution.");
            outcome.data.insert("rc".into(), Value::Null);
            return Ok(outcome);
        }
    }
    if let Some(done) = already_done(ctx, args, display).await? {
        return Ok(done);
    }
    if ctx.check {
        let guarded = args.str("creates")?.is_some() || args.str("removes")?.is_some();
        if !guarded {
            return Ok(Outcome::skipped_in_check());
        }
        // With `creates`/`removes` Ansible reports what would happen: changed, not skipped.
        let mut outcome = Outcome::skipped_in_check();
        outcome.skipped = false;
        outcome.changed = true;
        return Ok(outcome);
    }
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
        (None, None) => conn.sh(display, stdin).await?,
        (None, Some(dir)) => {
            let script = format!("cd {} || exit 1\n{display}", shell_quote(&dir));
            conn.sh(&script, stdin).await?
        }
    };
    let delta = started.elapsed();
    Ok(result(
        &out,
        display,
        delta,
        args.bool("strip_empty_ends", true)?,
    ))
}

/// A path pattern for the node's shell: glob characters (`*`, `?`, `[…]`) active, the rest
/// quoted (Python's `glob.glob` on `creates`/`removes`).
fn glob_word(pattern: &str) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    for c in pattern.chars() {
        if matches!(c, '*' | '?' | '[' | ']') {
            if !literal.is_empty() {
                out.push_str(&shell_quote(&literal));
                literal.clear();
            }
            out.push(c);
        } else {
            literal.push(c);
        }
    }
    if !literal.is_empty() {
        out.push_str(&shell_quote(&literal));
    }
    out
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
                .sh(
                    &format!(
                        "for f in {}; do [ -e \"$f\" ] || [ -L \"$f\" ] && exit 0; done; exit 1",
                        glob_word(&path)
                    ),
                    None,
                )
                .await?;
            let exists = probe.exit_status == Some(0);
            if exists == exists_means_skip {
                let did = if ctx.check { "Would" } else { "Did" };
                let msg = if exists_means_skip {
                    format!("{did} not run command since '{path}' exists")
                } else {
                    format!("{did} not run command since '{path}' does not exist")
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
        let words = command_words(&args(json!({"_raw_params": "echo 'a b' | wc $HOME"}))).unwrap();
        assert_eq!(words, ["echo", "a b", "|", "wc", "$HOME"]);
        let line: Vec<String> = words.iter().map(|w| command_word(w, false)).collect();
        assert_eq!(line.join(" "), "echo 'a b' '|' wc '$HOME'");
        let words = command_words(&args(json!({"argv": ["ls", "-l", "x y"]}))).unwrap();
        assert_eq!(words, ["ls", "-l", "x y"]);
        assert!(command_words(&args(json!({"_raw_params": "echo 'open"}))).is_err());
    }

    #[test]
    fn variables_and_tilde_expand_as_python_expands_them() {
        let word = command_word("~/x$HOME.y", true);
        assert_eq!(
            word,
            "~/x\"$(if [ -n \"${HOME+x}\" ]; then printf %s \"$HOME\"; else printf %s '$HOME'; fi)\".y"
        );
        assert_eq!(command_word("a$1b", true), "'a$1b'");
        assert_eq!(command_word("", true), "''");
    }

    #[test]
    fn one_command_is_required_and_only_one() {
        assert!(the_command(&args(json!({"chdir": "/"})), false).is_err());
        let both = the_command(
            &args(json!({"_raw_params": "echo", "argv": ["echo"]})),
            false,
        );
        let Err(ModuleError::Args { message }) = both else {
            panic!("both should be refused")
        };
        assert_eq!(
            message,
            "parameters are mutually exclusive: _raw_params|argv"
        );
    }
}

//! In-place edits of text files: `lineinfile`, `blockinfile`, `replace`. The file is read
//! over SFTP, the edit is computed on the control machine (so the diff and check mode are
//! exact), and only a changed result is written back — atomically, after `validate` passed
//! on a temp copy beside it, with an optional `backup`.
//!
//! Regexes are Rust's `regex` (no look-around or back-references inside the pattern);
//! Python-style `\1` / `\g<name>` in replacements are translated.

use super::filesystem::{Kind, path_state};
use super::lineinfile::{failed_rc, finish};
use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use crate::template::shell_quote;
use serde_json::json;

pub struct Replace;

static REPLACE: ModuleSpec = ModuleSpec {
    name: "replace",
    args: &[
        "path",
        "dest",
        "destfile",
        "name",
        "regexp",
        "replace",
        "after",
        "before",
        "backup",
        "validate",
        "encoding",
        "mode",
        "owner",
        "group",
        "unsafe_writes",
    ],
    required: &["regexp"],
    one_of: &[&["path", "dest", "destfile", "name"]],
    free_form: false,
    local: false,
    any_args: false,
};

pub(super) const PATH_ALIASES: &[&str] = &["path", "dest", "destfile", "name"];

/// A replacement as Python's `re.sub` checks it: an unknown escape of an ASCII letter
/// (`\D`) is an error ("bad escape"); otherwise as [`python_replacement`].
pub(super) fn checked_replacement(text: &str) -> Result<String, String> {
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            continue;
        }
        match chars.next() {
            Some((_, d))
                if d.is_ascii_alphabetic()
                    && !matches!(d, 'g' | 'n' | 't' | 'r' | 'f' | 'v' | 'a' | 'b') =>
            {
                return Err(format!("bad escape \\{d} at position {i}"));
            }
            _ => {}
        }
    }
    Ok(python_replacement(text))
}

/// Python's `\1`, `\g<1>`, `\g<name>` as `regex`'s `${1}`, `${name}`; a literal `$` escaped.
pub(super) fn python_replacement(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut n = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        n.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                Some('g') => {
                    chars.next();
                    if chars.peek() == Some(&'<') {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                    } else {
                        out.push_str("\\g");
                    }
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('t') => {
                    chars.next();
                    out.push('\t');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

/// The file as it is now: its text (None when absent) and mode; `kind` is set for a
/// directory when the caller reports that itself.
pub(super) struct Current {
    pub text: Option<String>,
    pub mode: Option<u32>,
    pub kind: Option<Kind>,
}

/// The file at `path`; a directory is an error unless `dir_ok` (then `kind` says so).
pub(super) async fn read_current(
    ctx: &Context<'_>,
    path: &str,
    dir_ok: bool,
) -> Result<Current, ModuleError> {
    let state = path_state(ctx, path, true).await?;
    match state.kind {
        Kind::Absent => Ok(Current {
            text: None,
            mode: None,
            kind: None,
        }),
        Kind::Directory if dir_ok => Ok(Current {
            text: None,
            mode: None,
            kind: Some(Kind::Directory),
        }),
        // A device reads as Ansible's `open()` reads it (`/dev/null`: empty).
        Kind::File | Kind::Other => {
            let bytes = ctx.conn()?.download(path).await?;
            let text = String::from_utf8(bytes).map_err(|_| ModuleError::Remote {
                message: format!("{path} is not a UTF-8 text file"),
            })?;
            Ok(Current {
                text: Some(text),
                mode: Some(state.mode),
                kind: Some(Kind::File),
            })
        }
        other => Err(ModuleError::Remote {
            message: format!("{path} is a {}, not a file", other.word()),
        }),
    }
}

/// A failed write or validation as the task's failure (Ansible's `fail_json`), other errors
/// as they are.
pub(super) fn file_error(err: ModuleError) -> Result<Outcome, ModuleError> {
    match err {
        ModuleError::Args { message } | ModuleError::Remote { message } => {
            Ok(Outcome::failed(message))
        }
        other => Err(other),
    }
}

/// Uploads `data` to `path` atomically; with `validate` (`visudo -cf %s`), first to a temp
/// file beside it that the command must accept, then renamed over `path`.
pub(super) async fn write_validated(
    ctx: &Context<'_>,
    path: &str,
    data: &[u8],
    mode: u32,
    validate: Option<&str>,
) -> Result<(), ModuleError> {
    let conn = ctx.conn()?;
    let Some(validate) = validate else {
        conn.upload(path, data, Some(mode)).await?;
        return Ok(());
    };
    let temp = validation_temp(path);
    conn.upload(&temp, data, Some(mode)).await?;
    validate_and_move(ctx, &temp, path, validate).await
}

/// Runs `validate` (with `%s` the temp file) and renames `temp` over `path` if it passes;
/// removes `temp` if it does not.
pub(super) async fn validate_and_move(
    ctx: &Context<'_>,
    temp: &str,
    path: &str,
    validate: &str,
) -> Result<(), ModuleError> {
    if !validate.contains("%s") {
        let _ = ctx.sh(&format!("rm -f -- {}", shell_quote(temp))).await;
        return Err(ModuleError::Args {
            message: format!("validate must contain %s: {validate}"),
        });
    }
    let check = validate.replace("%s", &shell_quote(temp));
    let out = ctx.sh(&check).await?;
    if out.exit_status != Some(0) {
        let _ = ctx.sh(&format!("rm -f -- {}", shell_quote(temp))).await;
        return Err(ModuleError::Remote {
            message: format!(
                "failed to validate: rc:{} error:{}",
                out.exit_status.map_or(-1, i64::from),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    ctx.sh_ok(
        &format!("mv -f -- {} {}", shell_quote(temp), shell_quote(path)),
        &format!("moving the validated file over {path}"),
    )
    .await?;
    Ok(())
}

/// A hidden temp name in the same directory, so the final `mv` is an atomic rename.
pub(super) fn validation_temp(path: &str) -> String {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let suffix: u32 = rand::random();
    let temp = format!(".{name}.drover-validate-{suffix:08x}");
    if dir.is_empty() && !path.starts_with('/') {
        temp
    } else {
        format!("{dir}/{temp}")
    }
}

module!(Replace, REPLACE, replace);

async fn replace(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let path = args.required_first(PATH_ALIASES)?;
    let pattern_of = |name: &str, pattern: &str| {
        fancy_regex::Regex::new(pattern).map_err(|e| ModuleError::Args {
            message: format!("argument `{name}` is not a valid regular expression: {e}"),
        })
    };
    let regexp = args.required_str("regexp")?;
    let mre = pattern_of("regexp", &format!("(?m){regexp}"))?;
    let replacement = checked_replacement(&args.str("replace")?.unwrap_or_default());
    let current = read_current(ctx, &path, true).await?;
    if current.kind == Some(Kind::Directory) {
        return Ok(failed_rc(256, format!("Path {path} is a directory !")));
    }
    let Some(contents) = current.text.as_deref() else {
        return Ok(failed_rc(257, format!("Path {path} does not exist !")));
    };
    // The section between `after` and `before`, as Ansible cuts it: one DOTALL pattern
    // around a `subsection` group, lazy when both are given.
    let after = args.str("after")?.filter(|s| !s.is_empty());
    let before = args.str("before")?.filter(|s| !s.is_empty());
    let section_pattern = match (&after, &before) {
        (Some(a), Some(b)) => Some(format!("{a}(?P<subsection>.*?){b}")),
        (Some(a), None) => Some(format!("{a}(?P<subsection>.*)")),
        (None, Some(b)) => Some(format!("(?P<subsection>.*){b}")),
        (None, None) => None,
    };
    let (start, end) = match &section_pattern {
        None => (0, contents.len()),
        Some(pattern) => {
            let re = pattern_of("after/before", &format!("(?s){pattern}"))?;
            match re
                .captures(contents)
                .ok()
                .flatten()
                .and_then(|c| c.name("subsection"))
            {
                Some(m) => (m.start(), m.end()),
                None => {
                    let mut outcome = Outcome {
                        msg: Some(format!(
                            "Pattern for before/after params did not match the given file: {pattern}"
                        )),
                        ..Outcome::default()
                    };
                    outcome.data.insert("rc".into(), json!(0));
                    return Ok(outcome);
                }
            }
        }
    };
    let replacement = match replacement {
        Ok(replacement) => replacement,
        Err(why) => {
            let msg = format!("Unable to process replace due to error: {why}");
            return Ok(Outcome::failed(msg));
        }
    };
    let section = &contents[start..end];
    let count = mre.find_iter(section).filter(Result::is_ok).count();
    let replaced = mre.replace_all(section, replacement.as_str());
    let changed = count > 0 && replaced != section;
    let after_text = format!("{}{}{}", &contents[..start], replaced, &contents[end..]);
    let msg = if changed {
        format!("{count} replacements made")
    } else {
        String::new()
    };
    let new_text = if changed {
        after_text.as_str()
    } else {
        contents
    };
    let mut outcome = finish(ctx, &args, &path, &current, new_text, changed, msg, None).await?;
    outcome.data.insert("rc".into(), json!(0));
    if changed && ctx.diff {
        let diff = json!({
            "before_header": path,
            "before": contents,
            "after_header": path,
            "after": after_text,
        });
        outcome.data.insert("diff".into(), diff);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::python_replacement;

    #[test]
    fn python_backreferences_become_regex_ones() {
        assert_eq!(python_replacement(r"port=\1"), "port=${1}");
        assert_eq!(python_replacement(r"\g<name>-\g<2>"), "${name}-${2}");
        assert_eq!(python_replacement("cost $5"), "cost $$5");
    }
}

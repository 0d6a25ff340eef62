//! In-place edits of text files: `lineinfile`, `blockinfile`, `replace`. The file is read
//! over SFTP, the edit is computed on the control machine (so the diff and check mode are
//! exact), and only a changed result is written back — atomically, after `validate` passed
//! on a temp copy beside it, with an optional `backup`.
//!
//! Regexes are Rust's `regex` (no look-around or back-references inside the pattern);
//! Python-style `\1` / `\g<name>` in replacements are translated.

use super::file::backup_stamp;
use super::filesystem::{Attributes, Kind, path_state};
use super::{Args, Context, FileDiff, ModuleError, ModuleSpec, Outcome};
use crate::template::shell_quote;
use regex::Regex;
use serde_json::json;

pub struct BlockInFile;
pub struct Replace;

static BLOCKINFILE: ModuleSpec = ModuleSpec {
    name: "blockinfile",
    args: &[
        "path",
        "dest",
        "destfile",
        "name",
        "block",
        "content",
        "marker",
        "marker_begin",
        "marker_end",
        "state",
        "insertafter",
        "insertbefore",
        "create",
        "backup",
        "validate",
        "append_newline",
        "prepend_newline",
        "mode",
        "owner",
        "group",
        "unsafe_writes",
    ],
    required: &[],
    one_of: &[&["path", "dest", "destfile", "name"]],
    free_form: false,
    local: false,
    any_args: false,
};

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

fn regex(name: &str, pattern: &str, multiline: bool) -> Result<Regex, ModuleError> {
    let full = if multiline {
        format!("(?m){pattern}")
    } else {
        pattern.to_string()
    };
    Regex::new(&full).map_err(|e| ModuleError::Args {
        message: format!("argument `{name}` is not a valid regular expression: {e}"),
    })
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
        Kind::File => {
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

/// Writes `after` to `path` if it differs from `before` (with backup, validate and the
/// file attributes), filling in `changed`, `diff` and `backup`.
pub(super) async fn commit_text(
    ctx: &Context<'_>,
    args: &Args,
    path: &str,
    before: Option<&str>,
    current_mode: Option<u32>,
    after: &str,
    msg: String,
) -> Result<Outcome, ModuleError> {
    let attrs = Attributes::from_args(args)?;
    let backup = args.bool("backup", false)?;
    let validate = args.str("validate")?;
    let mut outcome = Outcome {
        msg: Some(msg),
        ..Outcome::default()
    };
    let content_changed = before != Some(after);
    if content_changed {
        outcome.changed = true;
        if ctx.diff {
            outcome.diffs.push(FileDiff {
                path: path.to_string(),
                before: before.map(str::to_string),
                after: after.to_string(),
            });
        }
        if !ctx.check {
            let mode = attrs
                .mode
                .as_ref()
                .map(|m| m.resolve(current_mode.unwrap_or(0o644), false))
                .or(current_mode)
                .unwrap_or(0o644);
            // `create` makes the missing parent directories too, as Ansible does.
            if let (None, Some((dir, _))) = (before, path.rsplit_once('/'))
                && !dir.is_empty()
            {
                let dir = shell_quote(dir);
                ctx.sh_ok(
                    &format!("[ -d {dir} ] || mkdir -p -- {dir}"),
                    &format!("creating the directory of {path}"),
                )
                .await?;
            }
            if backup && before.is_some() {
                let file = format!("{path}.{}~", backup_stamp());
                ctx.sh_ok(
                    &format!("cp -p {} {}", shell_quote(path), shell_quote(&file)),
                    &format!("backup of {path}"),
                )
                .await?;
                outcome.data.insert("backup".into(), json!(file));
                outcome.data.insert("backup_file".into(), json!(file));
            }
            write_validated(ctx, path, after.as_bytes(), mode, validate.as_deref()).await?;
        }
    }
    // Attributes of the file as it now is (or, in check mode, will be).
    let state = if ctx.check && before.is_none() {
        None
    } else {
        Some(path_state(ctx, path, true).await?)
    };
    if let Some(state) = state.filter(|s| s.exists()) {
        let (fixes, _) = attrs.fix(path, &state);
        if !fixes.is_empty() {
            outcome.changed = true;
            if !ctx.check {
                ctx.sh_ok(
                    &fixes.join(" && "),
                    &format!("setting attributes of {path}"),
                )
                .await?;
            }
        }
    }
    Ok(outcome)
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

/// Splits text into lines that keep their line endings (Python's `readlines`).
fn lines_of(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_string).collect()
}

fn strip_eol(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}

module!(BlockInFile, BLOCKINFILE, blockinfile);

async fn blockinfile(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let path = args.required_first(PATH_ALIASES)?;
    let state = args.choice("state", &["present", "absent"], "present")?;
    let block = args.first_str(&["block", "content"])?.unwrap_or_default();
    let marker = args
        .str("marker")?
        .unwrap_or_else(|| "# {mark} ANSIBLE MANAGED BLOCK".to_string());
    let begin = marker.replace(
        "{mark}",
        &args.str("marker_begin")?.unwrap_or_else(|| "BEGIN".into()),
    );
    let end = marker.replace(
        "{mark}",
        &args.str("marker_end")?.unwrap_or_else(|| "END".into()),
    );
    let create = args.bool("create", false)?;
    let after_arg = args.str("insertafter")?;
    let before_arg = args.str("insertbefore")?;
    let current = read_current(ctx, &path, false).await?;
    if current.text.is_none() && (state == "absent" || !create) {
        if state == "absent" {
            return Ok(Outcome {
                msg: Some("file not present".into()),
                ..Outcome::default()
            });
        }
        return Err(ModuleError::Remote {
            message: format!("Path {path} does not exist !"),
        });
    }
    let text = current.text.clone().unwrap_or_default();
    let mut lines = lines_of(&text);
    let eol = "\n";

    let begin_at = lines.iter().position(|l| strip_eol(l) == begin);
    let end_at = lines.iter().rposition(|l| strip_eol(l) == end);
    // An empty block means "absent", as in Ansible.
    let wanted: Vec<String> = if state == "absent" || block.is_empty() {
        Vec::new()
    } else {
        let mut v = vec![format!("{begin}{eol}")];
        v.extend(
            block
                .trim_end_matches('\n')
                .split('\n')
                .map(|l| format!("{l}{eol}")),
        );
        v.push(format!("{end}{eol}"));
        v
    };
    let msg = match (begin_at, end_at) {
        (Some(b), Some(e)) if b <= e => {
            let _ = lines.splice(b..=e, wanted.iter().cloned());
            if wanted.is_empty() {
                "Block removed"
            } else {
                "Block inserted"
            }
        }
        _ if wanted.is_empty() => "",
        _ => {
            let find_last = |p: &str| -> Result<Option<usize>, ModuleError> {
                let re = regex("insertafter/insertbefore", p, false)?;
                Ok(lines.iter().rposition(|l| re.is_match(strip_eol(l))))
            };
            let at = match (after_arg.as_deref(), before_arg.as_deref()) {
                (_, Some("BOF")) => 0,
                (_, Some(p)) => find_last(p)?.unwrap_or(lines.len()),
                (Some("EOF") | None, None) => lines.len(),
                (Some(p), None) => find_last(p)?.map(|i| i + 1).unwrap_or(lines.len()),
            };
            if at > 0 && !lines[at - 1].ends_with('\n') {
                lines[at - 1].push_str(eol);
            }
            let _ = lines.splice(at..at, wanted.iter().cloned());
            "Block inserted"
        }
    };
    let after = lines.concat();
    let msg = if after == text && current.text.is_some() {
        String::new()
    } else {
        msg.to_string()
    };
    commit_text(
        ctx,
        &args,
        &path,
        current.text.as_deref(),
        current.mode,
        &after,
        msg,
    )
    .await
}

module!(Replace, REPLACE, replace);

async fn replace(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let path = args.required_first(PATH_ALIASES)?;
    let re = regex("regexp", &args.required_str("regexp")?, true)?;
    let replacement = python_replacement(&args.str("replace")?.unwrap_or_default());
    let after_re = match args.str("after")? {
        Some(p) => Some(regex("after", &p, true)?),
        None => None,
    };
    let before_re = match args.str("before")? {
        Some(p) => Some(regex("before", &p, true)?),
        None => None,
    };
    let current = read_current(ctx, &path, false).await?;
    let Some(text) = current.text.as_deref() else {
        return Err(ModuleError::Remote {
            message: format!("Path {path} does not exist !"),
        });
    };
    // The section between `after` and `before` (exclusive), as Ansible cuts it.
    let start = after_re
        .as_ref()
        .and_then(|r| r.find(text))
        .map(|m| m.end())
        .unwrap_or(0);
    let end = before_re
        .as_ref()
        .and_then(|r| r.find(&text[start..]))
        .map(|m| start + m.start())
        .unwrap_or(text.len());
    let section = &text[start..end];
    let count = re.find_iter(section).count();
    let replaced = re.replace_all(section, replacement.as_str());
    let after = format!("{}{}{}", &text[..start], replaced, &text[end..]);
    let msg = if after != text {
        format!("{count} replacements made")
    } else {
        String::new()
    };
    commit_text(ctx, &args, &path, Some(text), current.mode, &after, msg).await
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

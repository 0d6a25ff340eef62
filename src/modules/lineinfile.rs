//! `lineinfile`: one line present (added, or replacing the line a `regexp` or
//! `search_string` finds) or absent. The rules are Ansible's, step for step (its
//! `present()`/`absent()`): the last matching line wins unless `firstmatch`; without a match
//! the line goes after (before) the last (first, with `firstmatch`) line `insertafter`
//! (`insertbefore`) matches, else at the end; `backrefs` without a match changes nothing.
//! The result carries Ansible's `diff` list (content, then file attributes), its messages and
//! its warnings.
//!
//! A regex sees each line as Python's `re.search` does, without its final newline (Python's
//! `$` also matches before it); patterns are Python's syntax, back-references included
//! (`fancy-regex`).

use super::edit::{PATH_ALIASES, file_error, python_replacement, read_current, write_validated};
use super::file::backup_stamp;
use super::filesystem::{Attributes, Kind, path_state};
use super::{Args, Context, FileDiff, ModuleError, ModuleSpec, Outcome};
use crate::template::shell_quote;
use fancy_regex::Regex;
use serde_json::{Map, Value, json};

pub struct LineInFile;

static LINEINFILE: ModuleSpec = ModuleSpec {
    name: "lineinfile",
    args: &[
        "path",
        "dest",
        "destfile",
        "name",
        "regexp",
        "regex",
        "search_string",
        "state",
        "line",
        "value",
        "backrefs",
        "insertafter",
        "insertbefore",
        "create",
        "backup",
        "firstmatch",
        "validate",
        "mode",
        "owner",
        "group",
        "unsafe_writes",
        "attributes",
        "seuser",
        "serole",
        "setype",
        "selevel",
    ],
    required: &[],
    one_of: &[&["path", "dest", "destfile", "name"]],
    free_form: false,
    local: false,
    any_args: false,
};

module!(LineInFile, LINEINFILE, lineinfile);

/// The arguments of one run, checked as Ansible's `main()` checks them.
struct Want {
    path: String,
    regexp: Option<Regex>,
    search: Option<String>,
    line: Option<String>,
    insertafter: Option<String>,
    insertbefore: Option<String>,
    backrefs: bool,
    create: bool,
    firstmatch: bool,
}

fn compile(name: &str, pattern: &str) -> Result<Regex, ModuleError> {
    Regex::new(pattern).map_err(|e| ModuleError::Args {
        message: format!("argument `{name}` is not a valid regular expression: {e}"),
    })
}

/// The line as Python's `re.search` sees it: `$` matches before a final newline too.
fn searched(line: &str) -> &str {
    line.strip_suffix('\n').unwrap_or(line)
}

/// Python's `line.rstrip(b'\r\n')`.
fn bare(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

pub(super) fn exclusive(args: &Args, a: &str, b: &str) -> Result<(), ModuleError> {
    if args.str(a)?.is_some() && args.str(b)?.is_some() {
        return Err(ModuleError::Args {
            message: format!("parameters are mutually exclusive: {a}|{b}"),
        });
    }
    Ok(())
}

async fn lineinfile(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    exclusive(&args, "insertbefore", "insertafter")?;
    exclusive(&args, "regexp", "search_string")?;
    let backrefs = args.bool("backrefs", false)?;
    if backrefs && args.str("search_string")?.is_some() {
        return Err(ModuleError::Args {
            message: "parameters are mutually exclusive: backrefs|search_string".to_string(),
        });
    }
    let path = args.required_first(PATH_ALIASES)?;
    let state = args.choice("state", &["present", "absent"], "present")?;
    let regexp_text = args.first_str(&["regexp", "regex"])?;
    let search = args.str("search_string")?;
    let mut warnings = Vec::new();
    if regexp_text.as_deref() == Some("") || search.as_deref() == Some("") {
        let what = if regexp_text.as_deref() == Some("") {
            "regular expression"
        } else {
            "search string"
        };
        let mut warning = format!(
            "The {what} is an empty string, which will match every line in the file. This \
             may have unintended consequences, such as replacing the last line in the file \
             rather than appending."
        );
        if regexp_text.as_deref() == Some("") {
            warning.push_str(
                " If this is desired, use '^' to match every line in the file and avoid this warning.",
            );
        }
        warnings.push(warning);
    }
    let current = read_current(ctx, &path, true).await?;
    if current.kind == Some(Kind::Directory) {
        return Ok(failed_rc(256, format!("Path {path} is a directory !")));
    }
    let want = Want {
        regexp: regexp_text
            .as_deref()
            .map(|r| compile("regexp", r))
            .transpose()?,
        search,
        line: args.first_str(&["line", "value"])?,
        insertafter: args.str("insertafter")?,
        insertbefore: args.str("insertbefore")?,
        backrefs,
        create: args.bool("create", false)?,
        firstmatch: args.bool("firstmatch", false)?,
        path,
    };
    let mut outcome = if state == "present" {
        if want.backrefs && want.regexp.is_none() {
            return Ok(Outcome::failed("regexp is required with backrefs=true"));
        }
        if want.line.is_none() {
            return Ok(Outcome::failed("line is required with state=present"));
        }
        present(ctx, &args, &want, current).await?
    } else {
        if want.regexp.is_none() && want.search.is_none() && want.line.is_none() {
            return Ok(Outcome::failed(
                "one of line, search_string, or regexp is required with state=absent",
            ));
        }
        absent(ctx, &args, &want, current).await?
    };
    if !warnings.is_empty() {
        outcome.data.insert("warnings".into(), json!(warnings));
    }
    Ok(outcome)
}

pub(super) fn failed_rc(rc: i32, msg: String) -> Outcome {
    let mut outcome = Outcome::failed(msg);
    outcome.data.insert("rc".into(), json!(rc));
    outcome
}

/// Ansible's content diff: the text before and after (in diff mode), under its headers.
pub(super) fn content_diff(
    ctx: &Context<'_>,
    path: &str,
    before: &str,
    after: &str,
) -> Map<String, Value> {
    let mut diff = Map::new();
    let (before, after) = if ctx.diff { (before, after) } else { ("", "") };
    diff.insert("before".into(), json!(before));
    diff.insert("after".into(), json!(after));
    diff.insert("before_header".into(), json!(format!("{path} (content)")));
    diff.insert("after_header".into(), json!(format!("{path} (content)")));
    diff
}

/// The lines of `text`, each with its line ending (Python's `readlines`).
fn lines_of(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_string).collect()
}

/// Where the line goes, and what becomes of the file (Ansible's `present()`).
fn place(want: &Want, lines: &mut Vec<String>) -> Result<(bool, &'static str), ModuleError> {
    let line = want.line.as_deref().unwrap_or_default();
    let after = want
        .insertafter
        .as_deref()
        .or(want.insertbefore.is_none().then_some("EOF"));
    let before = want.insertbefore.as_deref();
    let anchor = match (after, before) {
        (Some(a), _) if !matches!(a, "BOF" | "EOF") => Some(compile("insertafter", a)?),
        (None, Some(b)) if b != "BOF" => Some(compile("insertbefore", b)?),
        _ => None,
    };
    // index[0]: the matching line; index[1]: where an insertion goes.
    let mut found: Option<usize> = None;
    let mut insert_at: Option<usize> = None;
    let mut matched: Option<usize> = None;
    if let Some(re) = &want.regexp {
        for (i, l) in lines.iter().enumerate() {
            if re.is_match(searched(l)).unwrap_or(false) {
                found = Some(i);
                matched = Some(i);
                if want.firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(s) = &want.search {
        for (i, l) in lines.iter().enumerate() {
            if l.contains(s.as_str()) {
                found = Some(i);
                matched = Some(i);
                if want.firstmatch {
                    break;
                }
            }
        }
    }
    if matched.is_none() {
        for (i, l) in lines.iter().enumerate() {
            if bare(l) == line {
                found = Some(i);
            } else if let Some(re) = &anchor
                && re.is_match(searched(l)).unwrap_or(false)
            {
                if after.is_some() {
                    insert_at = Some(i + 1);
                    if want.firstmatch {
                        break;
                    }
                }
                if before.is_some() {
                    insert_at = Some(i);
                    if want.firstmatch {
                        break;
                    }
                }
            }
        }
    }
    let eol = "\n";
    let ensure_eol = |lines: &mut Vec<String>| {
        if let Some(last) = lines.last_mut()
            && !last.ends_with(['\n', '\r'])
        {
            last.push_str(eol);
        }
    };
    if let Some(i) = found {
        let mut new = match (&want.regexp, want.backrefs, matched) {
            (Some(re), true, Some(_)) => {
                let text = searched(&lines[i]).to_string();
                let mut out = String::new();
                if let Ok(Some(caps)) = re.captures(text.as_str()) {
                    caps.expand(&python_replacement(line), &mut out);
                }
                out
            }
            _ => line.to_string(),
        };
        if !new.ends_with(eol) {
            new.push_str(eol);
        }
        // Without a regexp or search string a found line is the exact line (Ansible's
        // insertion branch for the other case cannot be reached); either way the line is
        // replaced when it differs, its ending included.
        if lines[i] != new {
            lines[i] = new;
            return Ok((true, "line replaced"));
        }
        return Ok((false, ""));
    }
    if want.backrefs {
        return Ok((false, ""));
    }
    if before == Some("BOF") || after == Some("BOF") {
        lines.insert(0, format!("{line}{eol}"));
        return Ok((true, "line added"));
    }
    let Some(at) = insert_at.filter(|_| after != Some("EOF")) else {
        ensure_eol(lines);
        lines.push(format!("{line}{eol}"));
        return Ok((true, "line added"));
    };
    if after.is_some() {
        if lines.len() == at {
            if bare(&lines[at - 1]) != line {
                lines.push(format!("{line}{eol}"));
                return Ok((true, "line added"));
            }
            return Ok((false, ""));
        }
        if bare(&lines[at]) != line {
            lines.insert(at, format!("{line}{eol}"));
            return Ok((true, "line added"));
        }
        return Ok((false, ""));
    }
    lines.insert(at, format!("{line}{eol}"));
    Ok((true, "line added"))
}

async fn present(
    ctx: &Context<'_>,
    args: &Args,
    want: &Want,
    current: super::edit::Current,
) -> Result<Outcome, ModuleError> {
    let path = &want.path;
    let Some(before) = current
        .text
        .clone()
        .or_else(|| want.create.then(String::new))
    else {
        return Ok(failed_rc(
            257,
            format!("Destination {path} does not exist !"),
        ));
    };
    let exists = current.text.is_some();
    if !exists
        && !ctx.check
        && let Some((dir, _)) = path.rsplit_once('/')
        && !dir.is_empty()
    {
        let dir = shell_quote(dir);
        ctx.sh_ok(
            &format!("[ -d {dir} ] || mkdir -p -- {dir}"),
            &format!("creating the directory of {path}"),
        )
        .await?;
    }
    let mut lines = lines_of(&before);
    let (changed, msg) = place(want, &mut lines)?;
    let after = lines.concat();
    let diff = content_diff(ctx, path, &before, &after);
    let outcome = finish(
        ctx,
        args,
        path,
        &current,
        &after,
        changed,
        msg.into(),
        Some(diff),
    );
    Ok(with_backup(outcome.await?))
}

/// `lineinfile` always returns `backup` (empty when none was made).
fn with_backup(mut outcome: Outcome) -> Outcome {
    let backup = outcome.data.remove("backup_file").unwrap_or(json!(""));
    outcome.data.insert("backup".into(), backup);
    outcome
}

async fn absent(
    ctx: &Context<'_>,
    args: &Args,
    want: &Want,
    current: super::edit::Current,
) -> Result<Outcome, ModuleError> {
    let path = &want.path;
    let Some(before) = current.text.clone() else {
        return Ok(Outcome {
            msg: Some("file not present".to_string()),
            ..Outcome::default()
        });
    };
    let line = want.line.as_deref().unwrap_or_default();
    let lines = lines_of(&before);
    let kept: Vec<&String> = lines
        .iter()
        .filter(|l| {
            let hit = if let Some(re) = &want.regexp {
                re.is_match(searched(l)).unwrap_or(false)
            } else if let Some(s) = &want.search {
                l.contains(s.as_str())
            } else {
                bare(l) == line
            };
            !hit
        })
        .collect();
    let found = lines.len() - kept.len();
    let after: String = kept.into_iter().map(String::as_str).collect();
    let diff = content_diff(ctx, path, &before, &after);
    let msg = if found > 0 {
        format!("{found} line(s) removed")
    } else {
        String::new()
    };
    let outcome = finish(
        ctx,
        args,
        path,
        &current,
        &after,
        found > 0,
        msg,
        Some(diff),
    );
    let outcome = outcome.await?;
    let mut outcome = with_backup(outcome);
    outcome.data.insert("found".into(), json!(found));
    Ok(outcome)
}

/// Writes the new text when it changed (backup, then validate), then the file attributes;
/// the result as Ansible's `lineinfile`, `blockinfile` and `replace` return it (`backup_file`
/// when a backup was made; `diff` followed by the attributes' diff header when given).
#[allow(clippy::too_many_arguments)]
pub(super) async fn finish(
    ctx: &Context<'_>,
    args: &Args,
    path: &str,
    current: &super::edit::Current,
    after: &str,
    changed: bool,
    mut msg: String,
    diff: Option<Map<String, Value>>,
) -> Result<Outcome, ModuleError> {
    let attrs = Attributes::from_args(args)?;
    let exists = current.text.is_some();
    let mut outcome = Outcome::default();
    if ctx.diff && current.text.as_deref() != Some(after) {
        // What `--diff` prints.
        outcome.diffs.push(FileDiff {
            path: path.to_string(),
            before: current.text.clone(),
            after: after.to_string(),
        });
    }
    if changed && !ctx.check {
        if args.bool("backup", false)? && exists {
            let backup = format!("{path}.{}~", backup_stamp());
            ctx.sh_ok(
                &format!("cp -p {} {}", shell_quote(path), shell_quote(&backup)),
                &format!("backup of {path}"),
            )
            .await?;
            outcome.data.insert("backup_file".into(), json!(backup));
        }
        let mode = current.mode.unwrap_or_else(|| {
            attrs
                .mode
                .as_ref()
                .map_or(0o644, |m| m.resolve(0o644, false))
        });
        if let Err(err) = write_validated(
            ctx,
            path,
            after.as_bytes(),
            mode,
            args.str("validate")?.as_deref(),
        )
        .await
        {
            return file_error(err);
        }
    }
    if ctx.check && !exists {
        outcome.changed = changed;
        outcome.msg = Some(msg);
        if let Some(diff) = diff {
            outcome.data.insert("diff".into(), Value::Object(diff));
        }
        return Ok(outcome);
    }
    let mut changed = changed;
    let state = path_state(ctx, path, true).await?;
    if state.exists() {
        let (fixes, _) = attrs.fix(path, &state);
        if !fixes.is_empty() {
            if changed {
                msg.push_str(" and ");
            }
            changed = true;
            msg.push_str("ownership, perms or SE linux context changed");
            if !ctx.check {
                ctx.sh_ok(
                    &fixes.join(" && "),
                    &format!("setting attributes of {path}"),
                )
                .await?;
            }
        }
    }
    outcome.changed = changed;
    outcome.msg = Some(msg);
    if let Some(diff) = diff {
        let attr_diff = json!({
            "before_header": format!("{path} (file attributes)"),
            "after_header": format!("{path} (file attributes)"),
        });
        outcome
            .data
            .insert("diff".into(), json!([Value::Object(diff), attr_diff]));
    }
    Ok(outcome)
}

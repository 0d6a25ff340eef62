//! `blockinfile`: a block of lines between two marker lines, inserted, replaced or removed.
//! The rules are Ansible's, step for step: the markers found (the last of each) are replaced
//! by the new block; without them the block goes after (before) the last line `insertafter`
//! (`insertbefore`) matches — a `(?m)` pattern is searched in the whole text — else at the
//! end (or the start, for `insertbefore: BOF`); `prepend_newline`/`append_newline` keep a
//! blank line around it. The result carries Ansible's `diff` list and messages.

use super::edit::{PATH_ALIASES, read_current};
use super::filesystem::Kind;
use super::lineinfile::{content_diff, exclusive, failed_rc, finish};
use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use crate::template::shell_quote;
use fancy_regex::Regex;

pub struct BlockInFile;

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

module!(BlockInFile, BLOCKINFILE, blockinfile);

/// Python's `bytes.splitlines(True)`: lines split after `\n`, `\r\n` or a lone `\r`.
fn split_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let end = match bytes[i] {
            b'\n' => Some(i + 1),
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => Some(i + 2),
            b'\r' => Some(i + 1),
            _ => None,
        };
        match end {
            Some(end) => {
                lines.push(text[start..end].to_string());
                start = end;
                i = end;
            }
            None => i += 1,
        }
    }
    if start < text.len() {
        lines.push(text[start..].to_string());
    }
    lines
}

/// Whether a pattern turns on Python's `re.MULTILINE` (an inline `(?m)` or `(?…m…)` flag).
fn multiline(pattern: &str) -> bool {
    pattern
        .strip_prefix("(?")
        .and_then(|rest| rest.split_once(')'))
        .is_some_and(|(flags, _)| flags.chars().all(char::is_alphabetic) && flags.contains('m'))
}

async fn blockinfile(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    exclusive(&args, "insertbefore", "insertafter")?;
    let path = args.required_first(PATH_ALIASES)?;
    let present = args.choice("state", &["present", "absent"], "present")? == "present";
    let current = read_current(ctx, &path, true).await?;
    if current.kind == Some(Kind::Directory) {
        return Ok(failed_rc(256, format!("Path {path} is a directory !")));
    }
    let exists = current.text.is_some();
    if !exists {
        if !args.bool("create", false)? {
            return Ok(failed_rc(257, format!("Path {path} does not exist !")));
        }
        if !ctx.check
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
    }
    let original = current.text.clone();
    let mut lines = original.as_deref().map(split_lines).unwrap_or_default();
    if !present && !exists {
        return Ok(Outcome {
            msg: Some(format!("File {path} not present")),
            ..Outcome::default()
        });
    }
    let mut block = args.first_str(&["block", "content"])?.unwrap_or_default();
    let marker = args
        .str("marker")?
        .unwrap_or_else(|| "# {mark} ANSIBLE MANAGED BLOCK".to_string());
    let begin = args.str("marker_begin")?.unwrap_or_else(|| "BEGIN".into());
    let end = args.str("marker_end")?.unwrap_or_else(|| "END".into());
    let marker0 = format!("{}\n", marker.replace("{mark}", &begin));
    let marker1 = format!("{}\n", marker.replace("{mark}", &end));
    let insertbefore = args.str("insertbefore")?;
    let insertafter = args
        .str("insertafter")?
        .or(insertbefore.is_none().then(|| "EOF".to_string()));
    let pattern = match (&insertafter, &insertbefore) {
        (Some(a), _) if a != "EOF" => Some(a.clone()),
        (None, Some(b)) if b != "BOF" => Some(b.clone()),
        _ => None,
    };
    let insertre = pattern
        .as_deref()
        .map(|p| {
            Regex::new(p).map_err(|e| ModuleError::Args {
                message: format!(
                    "`insertafter`/`insertbefore` is not a valid regular expression: {e}"
                ),
            })
        })
        .transpose()?;
    let blocklines: Vec<String> = if present && !block.is_empty() {
        if !block.ends_with('\n') {
            block.push('\n');
        }
        let mut v = vec![marker0.clone()];
        v.extend(split_lines(&block));
        v.push(marker1.clone());
        v
    } else {
        Vec::new()
    };
    let mut n0 = None;
    let mut n1 = None;
    for (i, line) in lines.iter().enumerate() {
        if *line == marker0 {
            n0 = Some(i);
        }
        if *line == marker1 {
            n1 = Some(i);
        }
    }
    let mut at = match (n0, n1) {
        (Some(a), Some(b)) if a < b => {
            lines.drain(a..=b);
            a
        }
        (Some(a), Some(b)) => {
            lines.drain(b..=a);
            b
        }
        _ => match &insertre {
            Some(re) => {
                let text = original.as_deref().unwrap_or_default();
                let mut found = None;
                if multiline(pattern.as_deref().unwrap_or_default()) {
                    if let Ok(Some(m)) = re.find(text) {
                        found = if insertafter.is_some() {
                            Some(text[..m.end()].matches('\n').count())
                        } else {
                            Some(text[..m.start()].matches('\n').count())
                        };
                    }
                } else {
                    for (i, line) in lines.iter().enumerate() {
                        let searched = line.strip_suffix('\n').unwrap_or(line);
                        if re.is_match(searched).unwrap_or(false) {
                            found = Some(i);
                        }
                    }
                }
                match found {
                    None => lines.len(),
                    Some(i) if insertafter.is_some() => i + 1,
                    Some(i) => i,
                }
            }
            None if insertbefore.is_some() => 0,
            None => lines.len(),
        },
    };
    if at > 0 && !lines[at - 1].ends_with('\n') {
        lines[at - 1].push('\n');
    }
    if present && args.bool("prepend_newline", false)? && at != 0 && lines[at - 1] != "\n" {
        lines.insert(at, "\n".to_string());
        at += 1;
    }
    let count = blocklines.len();
    let removed = blocklines.is_empty();
    lines.splice(at..at, blocklines);
    if present && args.bool("append_newline", false)? {
        let after_block = at + count;
        if after_block < lines.len() && lines[after_block] != "\n" {
            lines.insert(after_block, "\n".to_string());
        }
    }
    let result = lines.concat();
    let (changed, msg) = match &original {
        Some(original) if *original == result => (false, ""),
        None => (true, "File created"),
        Some(_) if removed => (true, "Block removed"),
        Some(_) => (true, "Block inserted"),
    };
    let before = original.as_deref().unwrap_or_default();
    let diff = content_diff(ctx, &path, before, &result);
    let msg = msg.to_string();
    finish(
        ctx,
        &args,
        &path,
        &current,
        &result,
        changed,
        msg,
        Some(diff),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::{multiline, split_lines};

    #[test]
    fn lines_split_as_python_splitlines_keeps_ends() {
        assert_eq!(split_lines("a\r\nb\rc\nd"), ["a\r\n", "b\r", "c\n", "d"]);
        assert!(split_lines("").is_empty());
    }

    #[test]
    fn inline_multiline_flag_is_seen() {
        assert!(multiline("(?m)^foo$"));
        assert!(multiline("(?im)x"));
        assert!(!multiline("^foo$"));
        assert!(!multiline("(?P<x>m)"));
    }
}

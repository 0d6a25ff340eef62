//! Reading ssh_config files into entries: OpenSSH's line syntax (`Keyword value`,
//! `Keyword=value`, double or single quotes, `#` comments), `Include` expanded in place with
//! globs, and every value checked at read time — as OpenSSH does, a bad `Port` is an error even
//! inside a `Host` block that never matches. Decides nothing about which host a line is for.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

use super::SshConfigError;
use super::keywords::{self, Keyword};

/// How deep `Include` may nest (OpenSSH's READCONF_MAX_DEPTH).
pub(crate) const MAX_DEPTH: usize = 16;

/// Where a line came from: file and 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One meaningful line of a config file, `Include`s already read.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// `Host PATTERN…`: starts a block for hosts matching one pattern and no `!pattern`.
    Host { patterns: Vec<String> },
    /// `Match CRITERIA…`.
    Match {
        criteria: Vec<Criterion>,
        origin: Origin,
    },
    /// The entries of the files an `Include` line names, each file in glob order.
    Include { files: Vec<Vec<Entry>> },
    /// A keyword and its arguments (raw rest of line for the command keywords).
    Set {
        keyword: Keyword,
        args: Vec<String>,
        origin: Origin,
    },
}

/// One `Match` criterion, possibly negated with `!`.
#[derive(Debug, Clone)]
pub(crate) struct Criterion {
    pub negate: bool,
    pub kind: CriterionKind,
}

#[derive(Debug, Clone)]
pub(crate) enum CriterionKind {
    All,
    Canonical,
    Final,
    Host(String),
    OriginalHost(String),
    User(String),
    LocalUser(String),
    Exec(String),
    Tagged(String),
}

/// Whether a file is the user's (relative `Include`s live in `~/.ssh`) or the system's
/// (`/etc/ssh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    User,
    System,
}

pub(crate) struct Reader<'a> {
    pub home: &'a Path,
    pub scope: Scope,
}

/// A word of a line and its byte range in the line.
struct Word {
    text: String,
    start: usize,
    end: usize,
}

impl Reader<'_> {
    /// Reads `path`; `None` when the file does not exist (a missing config is no config).
    pub(crate) fn read_file(&self, path: &Path) -> Result<Option<Vec<Entry>>, SshConfigError> {
        self.read_depth(path, 0)
    }

    fn read_depth(&self, path: &Path, depth: usize) -> Result<Option<Vec<Entry>>, SshConfigError> {
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(SshConfigError::Io {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                });
            }
        };
        self.parse(path, &text, depth).map(Some)
    }

    pub(crate) fn parse(
        &self,
        path: &Path,
        text: &str,
        depth: usize,
    ) -> Result<Vec<Entry>, SshConfigError> {
        let source = Arc::new(NamedSource::new(
            path.display().to_string(),
            text.to_string(),
        ));
        let mut entries = Vec::new();
        let mut offset = 0;
        for (index, raw) in text.split_inclusive('\n').enumerate() {
            let line_start = offset;
            offset += raw.len();
            let line = raw.trim_end_matches(['\n', '\r']);
            let origin = Origin {
                file: path.to_path_buf(),
                line: index + 1,
            };
            let bad = |start: usize, end: usize, message: String, help: Option<String>| {
                SshConfigError::Syntax {
                    origin: origin.clone(),
                    message,
                    src: source.clone(),
                    span: SourceSpan::new((line_start + start).into(), end.saturating_sub(start)),
                    help,
                }
            };
            let Some((keyword_word, rest_at)) = split_keyword(line) else {
                continue;
            };
            let lower = keyword_word.text.to_ascii_lowercase();
            let rest = &line[rest_at..];
            let words = split_args(rest, rest_at).map_err(|at| {
                bad(
                    at,
                    line.len(),
                    "invalid quotes".into(),
                    Some("close the quote, or escape it with a backslash".into()),
                )
            })?;
            let Some(keyword) = keywords::lookup(&lower) else {
                entries.push(Entry::Set {
                    keyword: Keyword::Unknown(keyword_word.text.clone()),
                    args: Vec::new(),
                    origin,
                });
                continue;
            };
            let first = words.first();
            let need_arg = |what: &str| {
                bad(
                    keyword_word.start,
                    keyword_word.end,
                    format!("{} needs {what}", keyword_word.text),
                    None,
                )
            };
            match keyword {
                Keyword::Host => {
                    if words.is_empty() {
                        return Err(need_arg("at least one pattern"));
                    }
                    entries.push(Entry::Host {
                        patterns: words.into_iter().map(|w| w.text).collect(),
                    });
                }
                Keyword::Match => {
                    let criteria = parse_match(&words, &bad).and_then(|c| {
                        if c.is_empty() {
                            Err(need_arg(
                                "criteria (`all`, `host PATTERNS`, `user PATTERNS`, …)",
                            ))
                        } else {
                            Ok(c)
                        }
                    })?;
                    entries.push(Entry::Match { criteria, origin });
                }
                Keyword::Include => {
                    if words.is_empty() {
                        return Err(need_arg("a file name"));
                    }
                    if depth >= MAX_DEPTH {
                        return Err(bad(
                            keyword_word.start,
                            line.len(),
                            format!("Include nested more than {MAX_DEPTH} deep"),
                            Some("an included file probably includes itself".into()),
                        ));
                    }
                    let mut files = Vec::new();
                    for word in &words {
                        if self.scope == Scope::System && word.text.starts_with('~') {
                            return Err(bad(
                                word.start,
                                word.end,
                                format!("bad include path {} in a system file", word.text),
                                Some("a system-wide ssh_config cannot include from a home".into()),
                            ));
                        }
                        for found in self.include_paths(&word.text) {
                            if let Some(included) = self.read_depth(&found, depth + 1)? {
                                files.push(included);
                            }
                        }
                    }
                    entries.push(Entry::Include { files });
                }
                _ => {
                    let args = if keyword.takes_raw_rest() {
                        let raw = rest.trim_start_matches([' ', '\t', '=']).trim_end();
                        if raw.is_empty() {
                            return Err(need_arg("a command"));
                        }
                        vec![raw.to_string()]
                    } else {
                        words.iter().map(|w| w.text.clone()).collect()
                    };
                    if let Err(problem) = keywords::validate(&keyword, &args) {
                        let (start, end) = first
                            .map(|w| (w.start, w.end))
                            .unwrap_or((keyword_word.start, keyword_word.end));
                        return Err(bad(start, end, problem.message, problem.help));
                    }
                    entries.push(Entry::Set {
                        keyword,
                        args,
                        origin,
                    });
                }
            }
        }
        Ok(entries)
    }

    /// The files an `Include` argument names: relative to `~/.ssh` (user files) or `/etc/ssh`
    /// (system files), `~` expanded, globbed, sorted as glob(3) sorts.
    fn include_paths(&self, arg: &str) -> Vec<PathBuf> {
        let expanded = if let Some(rest) = arg.strip_prefix("~/") {
            self.home.join(rest)
        } else if arg == "~" {
            self.home.to_path_buf()
        } else if arg.starts_with('/') {
            PathBuf::from(arg)
        } else if self.scope == Scope::User {
            self.home.join(".ssh").join(arg)
        } else {
            Path::new("/etc/ssh").join(arg)
        };
        let Some(text) = expanded.to_str() else {
            return Vec::new();
        };
        let mut found: Vec<PathBuf> = match glob::glob(text) {
            Ok(paths) => paths.filter_map(Result::ok).collect(),
            Err(_) => vec![expanded.clone()],
        };
        found.sort();
        found
    }
}

/// The keyword and where its arguments start; `None` for blank and comment lines.
fn split_keyword(line: &str) -> Option<(Word, usize)> {
    let start = line.len() - line.trim_start().len();
    let body = &line[start..];
    if body.is_empty() || body.starts_with('#') {
        return None;
    }
    let len = body
        .find(|c: char| c == '=' || c.is_whitespace())
        .unwrap_or(body.len());
    let end = start + len;
    // One `=` may separate keyword and value, with whitespace around it.
    let mut rest = end;
    let bytes = line.as_bytes();
    while rest < line.len() && (bytes[rest] == b' ' || bytes[rest] == b'\t') {
        rest += 1;
    }
    if rest < line.len() && bytes[rest] == b'=' {
        rest += 1;
    }
    Some((
        Word {
            text: line[start..end].to_string(),
            start,
            end,
        },
        rest,
    ))
}

/// Splits arguments as OpenSSH's argv_split: whitespace separates, `"…"` and `'…'` group,
/// a backslash escapes a quote, backslash or space, a word starting with `#` ends the line.
/// `Err(at)`: a quote opened at `at` is never closed.
fn split_args(rest: &str, base: usize) -> Result<Vec<Word>, usize> {
    let mut words = Vec::new();
    let chars: Vec<(usize, char)> = rest.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            break;
        }
        let start = at;
        let mut text = String::new();
        let mut quote: Option<(char, usize)> = None;
        while i < chars.len() {
            let (at, c) = chars[i];
            match (quote, c) {
                (None, c) if c.is_whitespace() => break,
                (_, '\\')
                    if i + 1 < chars.len() && matches!(chars[i + 1].1, '"' | '\'' | '\\' | ' ') =>
                {
                    text.push(chars[i + 1].1);
                    i += 2;
                    continue;
                }
                (None, '"' | '\'') => quote = Some((c, at)),
                (Some((q, _)), c) if c == q => quote = None,
                (_, c) => text.push(c),
            }
            i += 1;
        }
        if let Some((_, open)) = quote {
            return Err(base + open);
        }
        let end = chars.get(i).map_or(rest.len(), |(at, _)| *at);
        words.push(Word {
            text,
            start: base + start,
            end: base + end,
        });
    }
    Ok(words)
}

type Bad<'a> = dyn Fn(usize, usize, String, Option<String>) -> SshConfigError + 'a;

fn parse_match(words: &[Word], bad: &Bad<'_>) -> Result<Vec<Criterion>, SshConfigError> {
    let mut criteria = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let word = &words[i];
        let (negate, name) = match word.text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, word.text.as_str()),
        };
        // `host=pattern` is accepted as well as `host pattern`.
        let (name, inline) = match name.split_once('=') {
            Some((n, v)) => (n.to_ascii_lowercase(), Some(v.to_string())),
            None => (name.to_ascii_lowercase(), None),
        };
        i += 1;
        let simple = match name.as_str() {
            "all" => Some(CriterionKind::All),
            "canonical" => Some(CriterionKind::Canonical),
            "final" => Some(CriterionKind::Final),
            _ => None,
        };
        if let Some(kind) = simple {
            criteria.push(Criterion { negate, kind });
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => match words.get(i) {
                Some(next) => {
                    i += 1;
                    next.text.clone()
                }
                None => {
                    return Err(bad(
                        word.start,
                        word.end,
                        format!("missing argument for Match `{name}`"),
                        None,
                    ));
                }
            },
        };
        let kind = match name.as_str() {
            "host" => CriterionKind::Host(value),
            "originalhost" => CriterionKind::OriginalHost(value),
            "user" => CriterionKind::User(value),
            "localuser" => CriterionKind::LocalUser(value),
            "exec" => CriterionKind::Exec(value),
            "tagged" => CriterionKind::Tagged(value),
            other => {
                let known = [
                    "all",
                    "canonical",
                    "final",
                    "host",
                    "originalhost",
                    "user",
                    "localuser",
                    "exec",
                    "tagged",
                ];
                let help = match other {
                    "localnetwork" | "version" | "command" | "sessiontype" => {
                        format!(
                            "drover does not evaluate Match `{other}`; drover knows: {}",
                            known.join(", ")
                        )
                    }
                    _ => format!(
                        "Match criteria are: {}{}",
                        known.join(", "),
                        crate::suggest::did_you_mean(other, known.iter().copied())
                            .map(|s| format!(" (did you mean `{s}`?)"))
                            .unwrap_or_default()
                    ),
                };
                return Err(bad(
                    word.start,
                    word.end,
                    format!("unsupported Match criterion `{other}`"),
                    Some(help),
                ));
            }
        };
        if let CriterionKind::Host(p)
        | CriterionKind::OriginalHost(p)
        | CriterionKind::User(p)
        | CriterionKind::LocalUser(p) = &kind
            && p.is_empty()
        {
            return Err(bad(
                word.start,
                word.end,
                format!("empty pattern for Match `{name}`"),
                None,
            ));
        }
        criteria.push(Criterion { negate, kind });
    }
    if criteria.len() > 1
        && let Some(all) = words.iter().find(|w| w.text.eq_ignore_ascii_case("all"))
    {
        return Err(bad(
            all.start,
            all.end,
            "`all` cannot be combined with other Match criteria".into(),
            Some("write `Match all` alone, or drop `all`".into()),
        ));
    }
    Ok(criteria)
}

//! Ansible's `ini` inventory format, read line by line as Ansible's plugin does:
//! `[group]` host lines (`name key=value …`, split like a POSIX shell: quotes removed, `#`
//! starts a comment), `[group:vars]` lines (`key=value`, the rest of the line is the value),
//! `[group:children]` lines (a group name), `#`/`;` comment lines, and host lines before any
//! section going to `ungrouped`. Values are Python literals when they parse as one (see
//! `pyliteral`), so `port=22` is an int but `yes` stays a string. Note, as in Ansible, that
//! the shell-style quotes of a host line are removed before that: `a="5"` is the int 5 there,
//! while in a `:vars` section `a="5"` is the string "5".

use super::InventoryError;
use super::build::Builder;
use super::host_range;
use super::pyliteral::parse_value;
use indexmap::IndexMap;
use miette::SourceSpan;
use regex::Regex;
use std::sync::LazyLock;

static SECTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").expect("constant regex")
});
static GROUP_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").expect("constant regex"));

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Hosts,
    Vars,
    Children,
}

/// A group named before it is declared (Ansible's `pending_declarations`).
struct Pending {
    state: State,
    /// Where it was first named, for the error if it never gets declared.
    span: SourceSpan,
    section: String,
    /// For a child reference: the parents waiting for it, with where each named it.
    parents: Vec<(String, SourceSpan)>,
}

/// Reads the INI text in `builder.source` into `builder` (which may already hold other
/// sources of a directory inventory).
pub(crate) fn read(builder: Builder) -> Result<Builder, InventoryError> {
    let text = builder.source.text.clone();
    let mut reader = Reader {
        builder,
        pending: IndexMap::new(),
    };
    let mut group = "ungrouped".to_string();
    let mut state = State::Hosts;
    let mut offset = 0;
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        let line_start = offset;
        offset += raw.len();
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        // Byte offset of the trimmed line in the file, to point at tokens within it.
        let start = line_start + (raw.len() - raw.trim_start().len());
        let at = Line {
            number: line_no,
            start,
            text: line,
        };
        if let Some(section) = SECTION.captures(line) {
            group = section[1].to_string();
            state = match section.get(2).map(|m| m.as_str()) {
                None | Some("hosts") => State::Hosts,
                Some("vars") => State::Vars,
                Some("children") => State::Children,
                Some(other) => {
                    return Err(reader.syntax(
                        &at,
                        at.whole(),
                        format!("section [{line}] has unknown type `{other}`"),
                        Some("a section is `[group]`, `[group:vars]` or `[group:children]`".into()),
                    ));
                }
            };
            reader.section(&group, state, &at)?;
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            return Err(reader.syntax(
                &at,
                at.whole(),
                "invalid section header".into(),
                Some("a section header has no spaces: `[group]`, `[group:vars]` or `[group:children]`".into()),
            ));
        }
        match state {
            State::Hosts => reader.host_line(&group, &at)?,
            State::Vars => match line.split_once('=') {
                Some((key, value)) => {
                    reader
                        .builder
                        .set_group_var(&group, key.trim(), parse_value(value.trim()));
                }
                None => {
                    return Err(reader.syntax(
                        &at,
                        at.whole(),
                        format!("expected `key=value` in [{group}:vars], got `{line}`"),
                        Some(
                            "each line of a `:vars` section sets one variable: `name=value`".into(),
                        ),
                    ));
                }
            },
            State::Children => {
                let Some(child) = GROUP_NAME.captures(line) else {
                    return Err(reader.syntax(
                        &at,
                        at.whole(),
                        format!("expected a group name in [{group}:children], got `{line}`"),
                        Some(
                            "list one child group per line; hosts go in a `[group]` section".into(),
                        ),
                    ));
                };
                let child = child[1].to_string();
                let span = at.span(0, child.len());
                reader.child(&group, &child, span)?;
            }
        }
    }
    reader.finish()
}

struct Line<'a> {
    number: usize,
    start: usize,
    text: &'a str,
}

impl Line<'_> {
    fn whole(&self) -> SourceSpan {
        self.span(0, self.text.len())
    }

    fn span(&self, from: usize, len: usize) -> SourceSpan {
        SourceSpan::new((self.start + from).into(), len)
    }
}

struct Reader {
    builder: Builder,
    pending: IndexMap<String, Pending>,
}

impl Reader {
    fn syntax(
        &self,
        at: &Line<'_>,
        span: SourceSpan,
        message: String,
        help: Option<String>,
    ) -> InventoryError {
        InventoryError::IniSyntax {
            message,
            line: at.number,
            help,
            src: self.builder.source.named(),
            span,
        }
    }

    fn section(&mut self, group: &str, state: State, at: &Line<'_>) -> Result<(), InventoryError> {
        if !self.builder.has_group(group) {
            // `[g:vars]` alone does not declare `g`; `[g]` or `[g:children]` must follow.
            if state == State::Vars && !self.pending.contains_key(group) {
                self.pending.insert(
                    group.to_string(),
                    Pending {
                        state,
                        span: at.whole(),
                        section: format!("{group}:vars"),
                        parents: Vec::new(),
                    },
                );
            }
            self.builder.add_group(group);
        }
        if state != State::Vars
            && let Some(pending) = self.pending.get(group)
        {
            match pending.state {
                State::Children => self.resolve_pending_children(group)?,
                State::Vars | State::Hosts => {
                    self.pending.shift_remove(group);
                }
            }
        }
        Ok(())
    }

    /// Ansible's `_add_pending_children`: link a now-declared group under the parents that
    /// named it earlier.
    fn resolve_pending_children(&mut self, group: &str) -> Result<(), InventoryError> {
        let Some(pending) = self.pending.shift_remove(group) else {
            return Ok(());
        };
        for (parent, span) in pending.parents {
            self.builder.add_child(&parent, group, span)?;
            if self
                .pending
                .get(&parent)
                .is_some_and(|p| p.state == State::Children)
            {
                self.resolve_pending_children(&parent)?;
            }
        }
        Ok(())
    }

    fn child(&mut self, parent: &str, child: &str, span: SourceSpan) -> Result<(), InventoryError> {
        if self.builder.has_group(child) {
            return self.builder.add_child(parent, child, span);
        }
        let pending = self.pending.entry(child.to_string()).or_insert(Pending {
            state: State::Children,
            span,
            section: format!("{parent}:children"),
            parents: Vec::new(),
        });
        pending.parents.push((parent.to_string(), span));
        Ok(())
    }

    fn host_line(&mut self, group: &str, at: &Line<'_>) -> Result<(), InventoryError> {
        let tokens = shell_words(at.text).map_err(|reason| {
            self.syntax(
                at,
                at.whole(),
                format!("cannot parse host line: {reason}"),
                Some("quote values that hold spaces or `#`: key=\"a value\"".into()),
            )
        })?;
        let Some(first) = tokens.first() else {
            return Ok(());
        };
        let entry = first.text.as_str();
        let entry_span = at.span(first.start, first.len);
        let (pattern, port) = host_range::split_port(entry);
        if entry.trim_end().ends_with(':') && port.is_none() {
            return Err(self.syntax(
                at,
                entry_span,
                format!("invalid host `{entry}`: a trailing `:` is reserved for a port"),
                Some("write `host:port` with a number, or drop the `:`; a file of `group:` lines is YAML and should be named .yml".into()),
            ));
        }
        if entry == "---" {
            return Err(self.syntax(
                at,
                entry_span,
                "`---` is not a host: this looks like a YAML file".into(),
                Some("name the file .yml or .yaml".into()),
            ));
        }
        let names = host_range::expand(pattern).map_err(|e| InventoryError::HostRange {
            entry: entry.to_string(),
            reason: e.0,
            src: self.builder.source.named(),
            span: entry_span,
        })?;
        let mut vars = Vec::with_capacity(tokens.len().saturating_sub(1));
        for token in &tokens[1..] {
            match token.text.split_once('=') {
                Some((key, value)) => vars.push((key.to_string(), parse_value(value))),
                None => {
                    return Err(self.syntax(
                        at,
                        at.span(token.start, token.len),
                        format!("expected `key=value` after the host name, got `{}`", token.text),
                        Some("host variables are `name=value` pairs separated by spaces; quote values that contain spaces".into()),
                    ));
                }
            }
        }
        for name in names {
            self.builder.add_host(&name, group, port);
            for (key, value) in &vars {
                self.builder.set_host_var(&name, key, value.clone());
            }
        }
        Ok(())
    }

    /// Groups named but never declared are errors, as in Ansible (first one reported).
    fn finish(self) -> Result<Builder, InventoryError> {
        if let Some((group, pending)) = self.pending.into_iter().next() {
            return Err(InventoryError::UndefinedGroup {
                group,
                section: pending.section,
                src: self.builder.source.named(),
                span: pending.span,
            });
        }
        Ok(self.builder)
    }
}

/// A word of a host line and where it starts in the line (bytes), for carets.
struct Word {
    text: String,
    start: usize,
    len: usize,
}

/// Python's `shlex.split(line, comments=True)`: words split on whitespace, `'…'` literal,
/// `"…"` where `\` escapes only `"` and `\\`, `\` escaping any character outside quotes,
/// and `#` outside quotes ending the line, even inside a word (so `pass=a#b` is `pass=a`).
fn shell_words(line: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut chars = line.char_indices().peekable();
    let mut current: Option<(String, usize)> = None;
    let mut end = line.len();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some((text, start)) = current.take() {
                    words.push(Word {
                        text,
                        start,
                        len: i - start,
                    });
                }
            }
            '#' => {
                end = i;
                break;
            }
            '\\' => {
                let (_, next) = chars.next().ok_or("no character after `\\`")?;
                current
                    .get_or_insert_with(|| (String::new(), i))
                    .0
                    .push(next);
            }
            '\'' | '"' => {
                let word = &mut current.get_or_insert_with(|| (String::new(), i)).0;
                loop {
                    let (_, q) = chars.next().ok_or("no closing quotation")?;
                    if q == c {
                        break;
                    }
                    if c == '"' && q == '\\' {
                        let (_, next) = chars.next().ok_or("no closing quotation")?;
                        if next != '"' && next != '\\' {
                            word.push('\\');
                        }
                        word.push(next);
                    } else {
                        word.push(q);
                    }
                }
            }
            c => current.get_or_insert_with(|| (String::new(), i)).0.push(c),
        }
    }
    if let Some((text, start)) = current.take() {
        words.push(Word {
            text,
            start,
            len: end - start,
        });
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::shell_words;

    fn words(line: &str) -> Vec<String> {
        shell_words(line)
            .unwrap()
            .into_iter()
            .map(|w| w.text)
            .collect()
    }

    #[test]
    fn host_lines_split_like_python_shlex() {
        assert_eq!(
            words("web1 a=1 b=\"two words\""),
            ["web1", "a=1", "b=two words"]
        );
        assert_eq!(words("web1 a='x y' # comment"), ["web1", "a=x y"]);
        assert_eq!(words("web1 pass=ab#cd"), ["web1", "pass=ab"]);
        assert_eq!(words(r#"h a="q\"x\\y\z""#), ["h", r#"a=q"x\y\z"#]);
        assert_eq!(words(r"h a=x\ y"), ["h", "a=x y"]);
        assert!(shell_words("h a='open").is_err());
    }
}

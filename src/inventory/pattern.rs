//! Ansible host patterns, resolved as Ansible's `InventoryManager.get_hosts` does.
//!
//! A pattern is split on `,` (or, when it has no comma and is not a single address, on `:`
//! outside brackets). Terms are applied unions first (in the order written), then `&`
//! intersections, then `!` exclusions; a pattern of only `&`/`!` terms starts from `all`.
//! A term is a host name, a group name, a shell wildcard (`web*`, `node?`, `[ab]*`) or a
//! `~regex` (matched from the start of the name, as Python's `re.match`), against group names
//! and host names; a group or wildcard may carry a subscript (`web[0]`, `web[-1]`, `web[1:3]`
//! inclusive, `web[2:]`). The result keeps Ansible's order: each union term's hosts in
//! inventory order, terms in the order written, duplicates dropped.

use super::{Host, Inventory, InventoryError};
use regex::Regex;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::LazyLock;

/// Names that select Ansible's implicit localhost when the inventory does not list them.
pub(super) const LOCALHOST: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

static SUBSCRIPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)[:-]([0-9]*))\]$").expect("constant regex")
});
// Ansible's fallback split: runs of anything but whitespace, `:`, `[`, `]`, or a complete
// bracketed expression.
static COLON_TERMS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").expect("constant regex"));
// A single address (host name or IPv4 with optional ranges and port, or IPv6), which Ansible
// keeps whole instead of splitting on its colons.
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)^(?:
            (?:[\w]|\[[0-9a-z]+:[0-9a-z]+(?::[0-9]+)?\])(?:[\w-]|\[[0-9a-z]+:[0-9a-z]+(?::[0-9]+)?\])*
            (?:\.(?:[\w]|\[[0-9a-z]+:[0-9a-z]+(?::[0-9]+)?\])(?:[\w-]|\[[0-9a-z]+:[0-9a-z]+(?::[0-9]+)?\])*)*
            (?::[0-9]+)?
          | \[[0-9a-fA-F:.]+\]:[0-9]+
          | [0-9a-fA-F:.]*::[0-9a-fA-F:.]*
          | (?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}
        )$",
    )
    .expect("constant regex")
});

pub(crate) fn select<'a>(
    inventory: &'a Inventory,
    pattern: &str,
    limit: Option<&str>,
) -> Result<Vec<&'a Host>, InventoryError> {
    let mut hosts = evaluate(inventory, &split(pattern))?;
    if let Some(limit) = limit {
        let allowed: HashSet<&str> = evaluate(inventory, &limit_terms(limit)?)?
            .into_iter()
            .map(|h| h.name.as_str())
            .collect();
        hosts.retain(|h| allowed.contains(h.name.as_str()));
    }
    let mut seen = HashSet::new();
    hosts.retain(|h| seen.insert(h.name.as_str()));
    Ok(hosts)
}

/// Ansible's `split_host_pattern`.
pub(crate) fn split(pattern: &str) -> Vec<String> {
    let terms: Vec<&str> = if pattern.contains(',') {
        pattern.split(',').collect()
    } else if ADDRESS.is_match(pattern.trim()) {
        vec![pattern]
    } else {
        COLON_TERMS.find_iter(pattern).map(|m| m.as_str()).collect()
    };
    terms
        .into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// `--limit` terms, with `@file` replaced by the file's lines (one pattern per line).
fn limit_terms(limit: &str) -> Result<Vec<String>, InventoryError> {
    let mut terms = Vec::new();
    for term in split(limit) {
        match term.strip_prefix('@') {
            Some(file) => {
                let path = PathBuf::from(file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| InventoryError::LimitFile { path, source })?;
                terms.extend(text.lines().map(|l| l.trim().to_string()));
            }
            None => terms.push(term),
        }
    }
    Ok(terms)
}

/// Ansible's `_evaluate_patterns` (with `order_patterns`).
fn evaluate<'a>(
    inventory: &'a Inventory,
    terms: &[String],
) -> Result<Vec<&'a Host>, InventoryError> {
    let terms: Vec<&str> = terms
        .iter()
        .map(String::as_str)
        .filter(|t| !t.is_empty())
        .collect();
    let mut unions: Vec<&str> = terms
        .iter()
        .copied()
        .filter(|t| !t.starts_with(['!', '&']))
        .collect();
    if unions.is_empty() {
        unions.push("all");
    }
    let intersections = terms.iter().copied().filter(|t| t.starts_with('&'));
    let exclusions = terms.iter().copied().filter(|t| t.starts_with('!'));

    let mut hosts: Vec<&Host> = Vec::new();
    for term in unions.into_iter().chain(intersections).chain(exclusions) {
        // A plain host name wins over everything, as in Ansible.
        if let Some(host) = inventory.hosts.get(term) {
            hosts.push(host);
            continue;
        }
        let matched = match_term(inventory, term)?;
        let names: HashSet<&str> = matched.iter().map(|h| h.name.as_str()).collect();
        if term.starts_with('!') {
            hosts.retain(|h| !names.contains(h.name.as_str()));
        } else if term.starts_with('&') {
            hosts.retain(|h| names.contains(h.name.as_str()));
        } else {
            let existing: HashSet<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
            hosts.extend(
                matched
                    .into_iter()
                    .filter(|h| !existing.contains(h.name.as_str())),
            );
        }
    }
    Ok(hosts)
}

/// One term without its `&`/`!`: Ansible's `_match_one_pattern`.
fn match_term<'a>(inventory: &'a Inventory, term: &str) -> Result<Vec<&'a Host>, InventoryError> {
    let expr = term.strip_prefix(['&', '!']).unwrap_or(term);
    let (expr, subscript) = split_subscript(expr);
    let hosts = enumerate(inventory, expr, term)?;
    apply_subscript(hosts, subscript, term)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subscript {
    Index(i64),
    /// Inclusive; `None` end means "to the last host".
    Range(usize, Option<usize>),
}

fn split_subscript(expr: &str) -> (&str, Option<Subscript>) {
    if expr.starts_with('~') {
        return (expr, None);
    }
    let Some(caps) = SUBSCRIPT.captures(expr) else {
        return (expr, None);
    };
    let base = caps.get(1).map_or(expr, |m| m.as_str());
    let subscript = if let Some(index) = caps.get(2) {
        index.as_str().parse().ok().map(Subscript::Index)
    } else {
        let start = caps.get(3).and_then(|m| m.as_str().parse().ok());
        let end = caps.get(4).map(|m| m.as_str()).unwrap_or("");
        match (start, end) {
            (Some(start), "") => Some(Subscript::Range(start, None)),
            // Ansible's `if end:` reads an end of 0 as "no range": `[n:0]` is `[n]`.
            (Some(start), "0") => i64::try_from(start).ok().map(Subscript::Index),
            (Some(start), end) => end.parse().ok().map(|e| Subscript::Range(start, Some(e))),
            (None, _) => None,
        }
    };
    match subscript {
        Some(subscript) => (base, Some(subscript)),
        None => (expr, None),
    }
}

fn apply_subscript<'a>(
    hosts: Vec<&'a Host>,
    subscript: Option<Subscript>,
    term: &str,
) -> Result<Vec<&'a Host>, InventoryError> {
    let Some(subscript) = subscript else {
        return Ok(hosts);
    };
    if hosts.is_empty() {
        return Ok(hosts);
    }
    let len = hosts.len();
    match subscript {
        Subscript::Index(index) => {
            let position = if index < 0 {
                i64::try_from(len)
                    .ok()
                    .and_then(|l| usize::try_from(l + index).ok())
            } else {
                usize::try_from(index).ok()
            };
            match position.and_then(|p| hosts.get(p)) {
                Some(host) => Ok(vec![*host]),
                None => Err(InventoryError::PatternIndex {
                    pattern: term.to_string(),
                    index,
                    matched: len,
                }),
            }
        }
        Subscript::Range(start, end) => {
            let end = end.map_or(len, |e| e.saturating_add(1)).min(len);
            Ok(hosts.get(start..end).map(<[_]>::to_vec).unwrap_or_default())
        }
    }
}

/// Ansible's `_enumerate_matches`: groups first, then host names for wildcards and regexes
/// (or when no group matched), then the implicit localhost.
fn enumerate<'a>(
    inventory: &'a Inventory,
    expr: &str,
    term: &str,
) -> Result<Vec<&'a Host>, InventoryError> {
    let matcher = matcher(expr, term)?;
    let mut hosts: Vec<&Host> = Vec::new();
    let groups: Vec<&str> = inventory
        .groups
        .keys()
        .map(String::as_str)
        .filter(|g| matcher.is_match(g))
        .collect();
    for group in &groups {
        hosts.extend(inventory.group_hosts(group));
    }
    let wildcard = expr.starts_with('~') || expr.contains(['.', '?', '*', '[']);
    if groups.is_empty() || wildcard {
        hosts.extend(
            inventory
                .hosts
                .values()
                .filter(|h| matcher.is_match(&h.name)),
        );
    }
    if hosts.is_empty()
        && LOCALHOST.contains(&expr)
        && let Some(local) = &inventory.implicit_localhost
    {
        hosts.push(local);
    }
    Ok(hosts)
}

fn matcher(expr: &str, term: &str) -> Result<Regex, InventoryError> {
    let source = match expr.strip_prefix('~') {
        // Python's `re.match` anchors at the start only.
        Some(regex) => format!("^(?:{regex})"),
        None => fnmatch_regex(expr),
    };
    Regex::new(&source).map_err(|source| InventoryError::PatternRegex {
        pattern: term.to_string(),
        source,
    })
}

/// Python's `fnmatch.translate`: `*`, `?`, `[seq]`, `[!seq]`, everything else literal, the
/// whole name must match. Case-sensitive, as Ansible compiles it.
fn fnmatch_regex(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::from("(?s)^");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => {
                // Consecutive stars mean one.
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => {
                // A `]` right after `[` or `[!` is part of the set.
                let mut j = i;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str(r"\[");
                    continue;
                }
                let mut set: &[char] = &chars[i..j];
                i = j + 1;
                out.push('[');
                if set.first() == Some(&'!') {
                    out.push('^');
                    set = &set[1..];
                }
                for (k, c) in set.iter().enumerate() {
                    let range_dash = *c == '-' && k > 0 && k + 1 < set.len();
                    if range_dash {
                        out.push('-');
                    } else {
                        out.push_str(&regex::escape(&c.to_string()));
                    }
                }
                out.push(']');
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_follows_ansible() {
        assert_eq!(split("a,b[1], c[2:3] , d"), ["a", "b[1]", "c[2:3]", "d"]);
        assert_eq!(split("web:&db:!x"), ["web", "&db", "!x"]);
        assert_eq!(split("web[0:2]"), ["web[0:2]"]);
        assert_eq!(split("web[0:2]:db"), ["web[0:2]", "db"]);
        assert_eq!(split("fe80::1"), ["fe80::1"]);
        assert_eq!(split("host:22"), ["host:22"]);
        assert_eq!(split("a:b:c"), ["a", "b", "c"]);
        assert_eq!(split("web*:!web2"), ["web*", "!web2"]);
        assert_eq!(split(""), Vec::<String>::new());
    }

    #[test]
    fn globs() {
        let re = |g| Regex::new(&fnmatch_regex(g)).unwrap();
        assert!(re("web*").is_match("web01"));
        assert!(!re("web*").is_match("xweb01"));
        assert!(re("node?").is_match("node1"));
        assert!(!re("node?").is_match("node10"));
        assert!(re("db[12]").is_match("db2"));
        assert!(re("db[!12]").is_match("db3"));
        assert!(re("db[a-c]").is_match("dbb"));
        assert!(re("a.b").is_match("a.b") && !re("a.b").is_match("axb"));
        assert!(re("x[").is_match("x["));
    }

    #[test]
    fn subscripts() {
        assert_eq!(
            split_subscript("web[0]"),
            ("web", Some(Subscript::Index(0)))
        );
        assert_eq!(
            split_subscript("web[-1]"),
            ("web", Some(Subscript::Index(-1)))
        );
        assert_eq!(
            split_subscript("web[1:3]"),
            ("web", Some(Subscript::Range(1, Some(3))))
        );
        assert_eq!(
            split_subscript("web[2:]"),
            ("web", Some(Subscript::Range(2, None)))
        );
        assert_eq!(split_subscript("~web[0]"), ("~web[0]", None));
        assert_eq!(split_subscript("web"), ("web", None));
    }
}

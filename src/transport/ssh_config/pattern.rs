//! OpenSSH's patterns (ssh_config(5) "PATTERNS"): `*` any run of characters, `?` exactly one;
//! lists are comma-separated and `!pattern` negates (a negated match vetoes the list).

/// Whether `text` matches `pattern` (`*`, `?`); byte-wise, as OpenSSH's match_pattern.
pub(crate) fn matches(text: &str, pattern: &str) -> bool {
    let (t, p) = (text.as_bytes(), pattern.as_bytes());
    let (mut ti, mut pi) = (0, 0);
    // The last `*` seen and the text position it was tried against, for backtracking.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A comma-separated list against `text`: `Some(true)` a positive pattern matched and no
/// negated one, `Some(false)` a negated pattern matched, `None` nothing matched.
/// `fold_case` lowercases both sides (host names).
pub(crate) fn list(text: &str, patterns: &str, fold_case: bool) -> Option<bool> {
    let text = if fold_case {
        text.to_ascii_lowercase()
    } else {
        text.to_string()
    };
    let mut got = None;
    for item in patterns.split(',') {
        let (negated, item) = match item.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, item),
        };
        let item = if fold_case {
            item.to_ascii_lowercase()
        } else {
            item.to_string()
        };
        if matches(&text, &item) {
            if negated {
                return Some(false);
            }
            got = Some(true);
        }
    }
    got
}

/// Whether a comma-separated list matches: a positive match and no negated one.
pub(crate) fn list_matches(text: &str, patterns: &str, fold_case: bool) -> bool {
    list(text, patterns, fold_case) == Some(true)
}

/// A `Host` line's patterns (separate words): active when one matches and no `!` one does.
pub(crate) fn host_line(host: &str, patterns: &[String]) -> bool {
    let mut active = false;
    for pattern in patterns {
        match pattern.strip_prefix('!') {
            Some(negated) if matches(host, negated) => return false,
            Some(_) => {}
            None if matches(host, pattern) => active = true,
            None => {}
        }
    }
    active
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("web1.example.com", "*.example.com"));
        assert!(matches("web1", "web?"));
        assert!(!matches("web10", "web?"));
        assert!(matches("anything", "*"));
        assert!(matches("", "*"));
        assert!(matches("abcbcd", "a*bcd"));
        assert!(!matches("abc", "a*d"));
        assert!(matches("db-1-prod", "db-*-prod"));
    }

    #[test]
    fn host_line_negation_vetoes() {
        let p = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(host_line("web1", &p(&["web*", "!web2"])));
        assert!(!host_line("web2", &p(&["web*", "!web2"])));
        // A negated pattern alone never makes a block apply (ssh_config(5)).
        assert!(!host_line("db", &p(&["!web*"])));
    }

    #[test]
    fn lists_fold_case_for_hosts_only() {
        assert!(list_matches("WEB1", "db*,web*", true));
        assert!(!list_matches("Admin", "admin", false));
        assert_eq!(list("web2", "web*,!web2", true), Some(false));
        assert_eq!(list("db", "web*", true), None);
    }
}

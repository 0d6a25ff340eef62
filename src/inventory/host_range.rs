//! Host entries as both inventory formats write them: an optional `:port` suffix and `[x:y]`
//! ranges (`web[01:03]`, `db-[a:c]`, `node[0:10:2]`), expanded the way Ansible's
//! `parse_address` and `expand_hostname_range` do. Owns no inventory state.

/// Why a host range could not be expanded (Ansible's wording, so users recognise it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RangeError(pub(crate) String);

/// Splits `host:port` (or `[host]:port`) into the host part and the port.
///
/// Ansible only treats the suffix as a port when the whole entry parses as an address; a
/// colon inside a `[x:y]` range never counts. Bare IPv6 addresses have no port.
pub(crate) fn split_port(entry: &str) -> (&str, Option<u16>) {
    // `[v6addr]:port` or `[name]:port`.
    if let Some(rest) = entry.strip_prefix('[')
        && let Some((inner, port)) = rest.rsplit_once("]:")
        && !inner.contains(']')
        && let Some(port) = parse_port(port)
    {
        return (inner, Some(port));
    }
    // `name:port`, where `name` may hold complete bracketed ranges but no other colon.
    if let Some((head, port)) = entry.rsplit_once(':')
        && let Some(port) = parse_port(port)
        && !head.is_empty()
        && colons_outside_brackets(head) == 0
        && brackets_balanced(head)
    {
        return (head, Some(port));
    }
    (entry, None)
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn colons_outside_brackets(text: &str) -> usize {
    let mut depth = 0usize;
    let mut count = 0;
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => count += 1,
            _ => {}
        }
    }
    count
}

fn brackets_balanced(text: &str) -> bool {
    let mut open = false;
    for c in text.chars() {
        match c {
            '[' if open => return false,
            '[' => open = true,
            ']' if !open => return false,
            ']' => open = false,
            _ => {}
        }
    }
    !open
}

/// The most hosts one inventory entry may expand to. Ansible has no limit and takes minutes
/// (or all memory) on `h[0:99999999]`; a fleet this size is written as several entries.
pub(crate) const MAX_RANGE_HOSTS: u64 = 100_000;

/// Expands every `[begin:end(:step)]` range in a host name, left to right, refusing an entry
/// that would give more than [`MAX_RANGE_HOSTS`] hosts before building any of them.
///
/// A begin with a leading zero fixes the width (`[01:10]` gives `01` … `10`); single letters
/// range over `a-zA-Z` in that order, as Python's `string.ascii_letters`.
pub(crate) fn expand(name: &str) -> Result<Vec<String>, RangeError> {
    let count = count(name)?;
    if count > MAX_RANGE_HOSTS {
        return Err(RangeError(format!(
            "host range `{name}` gives {count} hosts, more than drover's limit of \
             {MAX_RANGE_HOSTS} for one entry; split it into several entries"
        )));
    }
    expand_unchecked(name)
}

/// How many hosts `name` expands to, computed from the ranges' bounds alone (saturating).
fn count(name: &str) -> Result<u64, RangeError> {
    let mut total: u64 = 1;
    let mut rest = name;
    while let Some(open) = rest.find('[') {
        let Some(close_rel) = rest[open..].find(']') else {
            return Ok(total);
        };
        let range = &rest[open + 1..open + close_rel];
        rest = &rest[open + close_rel + 1..];
        let bounds: Vec<&str> = range.split(':').collect();
        if bounds.len() != 2 && bounds.len() != 3 {
            // expand_unchecked reports the malformed range.
            return Ok(total);
        }
        let begin = if bounds[0].is_empty() { "0" } else { bounds[0] };
        let step: u64 = bounds
            .get(2)
            .and_then(|s| s.parse().ok())
            .filter(|s| *s > 0)
            .unwrap_or(1);
        const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let span = match (begin.parse::<u64>(), bounds[1].parse::<u64>()) {
            (Ok(b), Ok(e)) if e >= b => (e - b) / step + 1,
            (Ok(_), Ok(_)) => 0,
            _ => match (LETTERS.find(begin), LETTERS.find(bounds[1])) {
                (Some(b), Some(e)) if e >= b => (e - b) as u64 / step + 1,
                _ => 1,
            },
        };
        total = total.saturating_mul(span);
    }
    Ok(total)
}

fn expand_unchecked(name: &str) -> Result<Vec<String>, RangeError> {
    let Some(open) = name.find('[') else {
        return Ok(vec![name.to_string()]);
    };
    let Some(close_rel) = name[open..].find(']') else {
        return Err(RangeError(format!(
            "host range `{name}` has `[` without a closing `]`"
        )));
    };
    let close = open + close_rel;
    let (head, range, tail) = (&name[..open], &name[open + 1..close], &name[close + 1..]);
    let bounds: Vec<&str> = range.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(RangeError(
            "host range must be begin:end or begin:end:step".to_string(),
        ));
    }
    let begin = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(RangeError("host range must specify end value".to_string()));
    }
    let step: usize = match bounds.get(2) {
        None => 1,
        Some(step) => match step.parse() {
            Ok(0) | Err(_) => {
                return Err(RangeError(format!(
                    "host range step `{step}` must be a positive integer"
                )));
            }
            Ok(step) => step,
        },
    };
    let width = if begin.len() > 1 && begin.starts_with('0') {
        if begin.len() != end.len() {
            return Err(RangeError(
                "host range must specify equal-length begin and end formats".to_string(),
            ));
        }
        begin.len()
    } else {
        0
    };

    const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let items: Vec<String> = match (LETTERS.find(begin), LETTERS.find(end)) {
        (Some(b), Some(e)) if begin.len() == 1 && end.len() == 1 => {
            if b > e {
                return Err(RangeError("host range must have begin <= end".to_string()));
            }
            LETTERS[b..=e]
                .chars()
                .step_by(step)
                .map(|c| c.to_string())
                .collect()
        }
        _ => {
            let parse = |text: &str| {
                text.parse::<u64>().map_err(|_| {
                    RangeError(format!(
                        "host range `[{range}]` must be numeric or single letters"
                    ))
                })
            };
            let (b, e) = (parse(begin)?, parse(end)?);
            // Python's range(b, e + 1) is simply empty when b > e; Ansible does not complain.
            (b..=e)
                .step_by(step)
                .map(|n| format!("{n:0width$}"))
                .collect()
        }
    };

    let mut hosts = Vec::with_capacity(items.len());
    for item in items {
        // Later ranges are expanded recursively, as Ansible does.
        hosts.extend(expand_unchecked(&format!("{head}{item}{tail}"))?);
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ranges_keep_zero_padding() {
        assert_eq!(expand("web[01:03]").unwrap(), ["web01", "web02", "web03"]);
        assert_eq!(expand("web[1:3]").unwrap(), ["web1", "web2", "web3"]);
        assert_eq!(expand("n[0:6:3]").unwrap(), ["n0", "n3", "n6"]);
        assert_eq!(expand("n[:1]").unwrap(), ["n0", "n1"]);
    }

    #[test]
    fn letter_ranges_and_several_ranges() {
        assert_eq!(expand("db-[a:c]").unwrap(), ["db-a", "db-b", "db-c"]);
        assert_eq!(
            expand("r[1:2]-[x:y].lan").unwrap(),
            ["r1-x.lan", "r1-y.lan", "r2-x.lan", "r2-y.lan"]
        );
    }

    #[test]
    fn bad_ranges_are_errors() {
        assert!(expand("web[01:3]").is_err());
        assert!(expand("web[1]").is_err());
        assert!(expand("web[1:]").is_err());
        assert!(expand("web[c:a]").is_err());
        assert!(expand("web[1:3").is_err());
    }

    #[test]
    fn huge_ranges_are_refused_before_any_host_is_built() {
        let err = expand("h[0:99999999]").unwrap_err();
        assert!(err.0.contains("100000000 hosts"), "{}", err.0);
        let err = expand("h[a:z][0:9][0:9][0:9][0:9]").unwrap_err();
        assert!(err.0.contains("260000 hosts"), "{}", err.0);
        // Saturates instead of overflowing.
        assert!(expand("h[0:99999999999][0:99999999999]").is_err());
        assert_eq!(expand("h[0:99999]").unwrap().len(), 100_000);
        assert_eq!(expand("h[0:10:5]").unwrap(), ["h0", "h5", "h10"]);
    }

    #[test]
    fn ports_are_split_outside_ranges_only() {
        assert_eq!(split_port("web1:2222"), ("web1", Some(2222)));
        assert_eq!(split_port("web[01:03]:2222"), ("web[01:03]", Some(2222)));
        assert_eq!(split_port("web[01:03]"), ("web[01:03]", None));
        assert_eq!(split_port("[::1]:22"), ("::1", Some(22)));
        assert_eq!(split_port("fe80::1"), ("fe80::1", None));
        assert_eq!(split_port("10.0.0.1:22"), ("10.0.0.1", Some(22)));
    }
}

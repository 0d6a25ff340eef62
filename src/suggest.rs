//! "Did you mean …?" for misspelt keywords, modules, arguments and group keys.

/// The closest of `candidates` to a misspelt `word`, if it is close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len().div_ceil(3)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        let keys = ["hosts", "vars", "children"];
        assert_eq!(did_you_mean("hostss", keys), Some("hosts"));
        assert_eq!(did_you_mean("host", keys), Some("hosts"));
        assert_eq!(did_you_mean("childs", keys), Some("children"));
        assert_eq!(did_you_mean("Vars", keys), Some("vars"));
        assert_eq!(did_you_mean("ansible_user", keys), None);
    }
}

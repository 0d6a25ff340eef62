//! `--tags` / `--skip-tags`: which tasks run, decided exactly as Ansible's
//! `Taggable.evaluate_tags` decides it (special tags `always`, `never`, `all`, `tagged`,
//! `untagged`).

/// The operator's tag selection, resolved from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagSelection {
    /// `--tags`; empty means `all`.
    pub only: Vec<String>,
    /// `--skip-tags`.
    pub skip: Vec<String>,
}

impl TagSelection {
    /// Whether a task with these (effective) tags runs.
    pub fn selects(&self, tags: &[String]) -> bool {
        let untagged = ["untagged".to_string()];
        let tags: &[String] = if tags.is_empty() { &untagged } else { tags };
        let has = |name: &str| tags.iter().any(|t| t == name);
        let is_tagged = !(tags.len() == 1 && tags[0] == "untagged");
        let only: &[String] = &self.only;
        let all = ["all".to_string()];
        let only = if only.is_empty() { &all[..] } else { only };
        let wants = |name: &str| only.iter().any(|t| t == name);
        let mut run = has("always")
            || (wants("all") && !has("never"))
            || tags.iter().any(|t| wants(t))
            || (wants("tagged") && is_tagged && !has("never"));
        if run && !self.skip.is_empty() {
            let skips = |name: &str| self.skip.iter().any(|t| t == name);
            if skips("all") {
                if !has("always") || skips("always") {
                    run = false;
                }
            } else if tags.iter().any(|t| skips(t)) || (skips("tagged") && is_tagged) {
                run = false;
            }
        }
        run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(only: &[&str], skip: &[&str]) -> TagSelection {
        TagSelection {
            only: only.iter().map(|s| s.to_string()).collect(),
            skip: skip.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn decision_table_matches_ansible() {
        let none = sel(&[], &[]);
        assert!(none.selects(&[]));
        assert!(none.selects(&tags(&["web"])));
        assert!(none.selects(&tags(&["always"])));
        assert!(!none.selects(&tags(&["never"])));
        assert!(!none.selects(&tags(&["never", "debug"])));

        let web = sel(&["web"], &[]);
        assert!(web.selects(&tags(&["web", "db"])));
        assert!(!web.selects(&tags(&["db"])));
        assert!(!web.selects(&[]));
        assert!(web.selects(&tags(&["always"])));
        let debug = sel(&["debug"], &[]);
        assert!(debug.selects(&tags(&["never", "debug"])));

        assert!(sel(&["tagged"], &[]).selects(&tags(&["x"])));
        assert!(!sel(&["tagged"], &[]).selects(&[]));
        assert!(!sel(&["tagged"], &[]).selects(&tags(&["never", "x"])));
        assert!(sel(&["untagged"], &[]).selects(&[]));
        assert!(!sel(&["untagged"], &[]).selects(&tags(&["x"])));

        let skip = sel(&[], &["web"]);
        assert!(!skip.selects(&tags(&["web"])));
        assert!(skip.selects(&[]));
        assert!(!sel(&[], &["always"]).selects(&tags(&["always"])));
        assert!(sel(&[], &["all"]).selects(&tags(&["always"])));
        assert!(!sel(&[], &["all"]).selects(&tags(&["x"])));
        assert!(!sel(&[], &["tagged"]).selects(&tags(&["x"])));
        assert!(sel(&[], &["untagged"]).selects(&tags(&["x"])));
        assert!(!sel(&[], &["untagged"]).selects(&[]));
    }
}

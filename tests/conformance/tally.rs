//! Counting asserts. Ansible's side comes from the runner's callback plugin
//! (`callback_plugins/drover_asserts.py`), drover's from `--output json` (`host_result`
//! events whose module is `assert`, each under the `task_start`/`handler_start` before it).
//! An assert result is keyed by host, task location (the file under `targets/` and the task's
//! line) and outcome; an assert passes under drover when drover gives it the outcome
//! ansible-playbook gives it (nearly always ok; a few targets fail one on purpose).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// `at` under `dir` when relative, with `..` taken out (without touching the filesystem).
fn absolute(dir: &Path, at: &str) -> String {
    let mut out = PathBuf::new();
    for part in dir.join(at).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.to_string_lossy().into_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AssertResult {
    pub host: String,
    /// `name/tasks/main.yml:12`: the path after `targets/` (or as given) and the line.
    pub location: String,
    pub ok: bool,
}

/// `path:line[:col]` → the path after the last `/targets/` and the line.
pub fn normalise_location(location: &str) -> String {
    let mut parts = location.rsplitn(3, ':').collect::<Vec<_>>();
    parts.reverse();
    // `path:line:col` (drover) or `path:line` (Ansible).
    let (path, line) = match parts.as_slice() {
        [path, line, col] if col.chars().all(|c| c.is_ascii_digit()) => {
            (path.to_string(), line.to_string())
        }
        [a, b, line] => (format!("{a}:{b}"), line.to_string()),
        [path, line] => (path.to_string(), line.to_string()),
        _ => (location.to_string(), String::new()),
    };
    let path = match path.rfind("/targets/") {
        Some(i) => path[i + "/targets/".len()..].to_string(),
        None => path,
    };
    format!("{path}:{line}")
}

/// The callback plugin's log: one JSON object a line.
pub fn from_ansible_log(text: &str) -> Vec<AssertResult> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| AssertResult {
            host: v["host"].as_str().unwrap_or_default().to_string(),
            location: normalise_location(v["location"].as_str().unwrap_or_default()),
            ok: v["status"] == "ok",
        })
        .collect()
}

/// drover's `--output json` stream; `dir` is where it ran (its locations may be relative).
pub fn from_drover_json(text: &str, dir: &Path) -> Vec<AssertResult> {
    let mut location = String::new();
    let mut out = Vec::new();
    for event in text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    {
        match event["event"].as_str() {
            Some("task_start" | "handler_start") => {
                let at = event["location"].as_str().unwrap_or_default();
                location = normalise_location(&absolute(dir, at));
            }
            Some("host_result") => {
                let module = event["module"].as_str().unwrap_or_default();
                let status = event["status"].as_str().unwrap_or_default();
                if matches!(
                    module,
                    "assert" | "ansible.builtin.assert" | "ansible.legacy.assert"
                ) && matches!(status, "ok" | "failed")
                {
                    out.push(AssertResult {
                        host: event["host"].as_str().unwrap_or_default().to_string(),
                        location: location.clone(),
                        ok: status == "ok",
                    });
                }
            }
            _ => {}
        }
    }
    out
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Asserts ansible-playbook ran (ok or failed): the total.
    pub total: usize,
    /// drover gave them the outcome Ansible gave.
    pub passed: usize,
    /// drover gave another outcome (or ran an assert Ansible did not).
    pub failed: usize,
    /// Ansible ran them; drover never got there.
    pub unreached: usize,
}

impl Count {
    pub fn add(&mut self, other: Count) {
        self.total += other.total;
        self.passed += other.passed;
        self.failed += other.failed;
        self.unreached += other.unreached;
    }
}

/// Matches drover's results against Ansible's, key by key (host, location, outcome), as
/// multisets: a task run twice (a loop of includes) counts twice.
pub fn compare(ansible: &[AssertResult], drover: &[AssertResult]) -> Count {
    let mut theirs: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    for r in ansible {
        let e = theirs.entry((&r.host, &r.location)).or_default();
        if r.ok { e.0 += 1 } else { e.1 += 1 }
    }
    let mut ours: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    for r in drover {
        let e = ours.entry((&r.host, &r.location)).or_default();
        if r.ok { e.0 += 1 } else { e.1 += 1 }
    }
    let mut count = Count {
        total: ansible.len(),
        ..Count::default()
    };
    let mut reached = 0;
    for (key, &(a_ok, a_failed)) in &theirs {
        let (d_ok, d_failed) = ours.get(key).copied().unwrap_or_default();
        let same = a_ok.min(d_ok) + a_failed.min(d_failed);
        let ran = (d_ok + d_failed).min(a_ok + a_failed);
        count.passed += same;
        count.failed += ran - same;
        reached += ran;
    }
    // Asserts only drover ran (Ansible skipped them, or never got there) are failures too.
    for (key, &(d_ok, d_failed)) in &ours {
        let (a_ok, a_failed) = theirs.get(key).copied().unwrap_or_default();
        count.failed += (d_ok + d_failed).saturating_sub(a_ok + a_failed);
    }
    count.unreached = count.total - reached;
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(host: &str, location: &str, ok: bool) -> AssertResult {
        AssertResult {
            host: host.into(),
            location: location.into(),
            ok,
        }
    }

    #[test]
    fn locations_of_both_tools_meet() {
        assert_eq!(
            normalise_location("/x/test/integration/targets/assert/tasks/main.yml:12:3"),
            "assert/tasks/main.yml:12"
        );
        assert_eq!(
            normalise_location("/y/work/integration/targets/assert/tasks/main.yml:12"),
            "assert/tasks/main.yml:12"
        );
    }

    #[test]
    fn relative_locations_are_taken_from_where_drover_ran() {
        let dir = Path::new("/w/integration/targets/filter_core");
        assert_eq!(
            normalise_location(&absolute(dir, "../filter_core/tasks/main.yml:6:3")),
            "filter_core/tasks/main.yml:6"
        );
    }

    #[test]
    fn an_assert_passes_only_with_ansibles_outcome() {
        let ansible = [
            r("h", "a:1", true),
            r("h", "a:2", false),
            r("h", "a:3", true),
        ];
        // a:1 as Ansible; a:2 ok where Ansible failed it; a:3 never reached.
        let drover = [r("h", "a:1", true), r("h", "a:2", true)];
        assert_eq!(
            compare(&ansible, &drover),
            Count {
                total: 3,
                passed: 1,
                failed: 1,
                unreached: 1
            }
        );
    }
}

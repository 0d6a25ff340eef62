//! `tests/conformance/RESULTS.md`: what one full run found, per target and in total, written
//! by `DROVER_CONFORMANCE_WRITE=1 cargo test --test conformance` and read back by every
//! other run (a target recorded as passing must still pass).

use crate::common::ansible::ANSIBLE_CORE_VERSION;
use crate::tally::Count;
use std::fmt::Write;

pub struct RunOutcome {
    pub line: String,
    pub ansible_exit: Option<i32>,
    pub drover_exit: Option<i32>,
    pub count: Count,
    /// Why the run does not end as ansible-playbook's (or which assert differs).
    pub why: Option<String>,
}

pub struct Outcome {
    pub name: String,
    pub out_of_scope: Option<String>,
    pub runs: Vec<RunOutcome>,
}

impl Outcome {
    pub fn out_of_scope(name: &str, why: &str) -> Outcome {
        Outcome {
            name: name.to_string(),
            out_of_scope: Some(why.to_string()),
            runs: Vec::new(),
        }
    }

    pub fn ran(name: &str, runs: Vec<RunOutcome>) -> Outcome {
        Outcome {
            name: name.to_string(),
            out_of_scope: None,
            runs,
        }
    }

    pub fn count(&self) -> Count {
        let mut count = Count::default();
        for run in &self.runs {
            count.add(run.count);
        }
        count
    }

    /// Every run ended as under ansible-playbook and every assert had Ansible's outcome.
    pub fn passes(&self) -> bool {
        self.out_of_scope.is_none()
            && self.runs.iter().all(|r| {
                r.ansible_exit == r.drover_exit
                    && r.count.failed == 0
                    && r.count.unreached == 0
                    && r.count.passed == r.count.total
            })
    }

    pub fn why(&self) -> String {
        self.runs
            .iter()
            .find_map(|r| r.why.as_ref().map(|w| format!("`{}`: {w}", r.line)))
            .unwrap_or_default()
    }

    fn runs_as_ansible(&self) -> usize {
        self.runs
            .iter()
            .filter(|r| r.ansible_exit == r.drover_exit)
            .count()
    }
}

pub fn render(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let ran: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.out_of_scope.is_none())
        .collect();
    let mut total = Count::default();
    for o in &ran {
        total.add(o.count());
    }
    let passing = ran.iter().filter(|o| o.passes()).count();
    let _ = writeln!(
        out,
        "# Conformance: ansible-core {ANSIBLE_CORE_VERSION}'s integration targets under drover\n\n\
         Written by `DROVER_CONFORMANCE_WRITE=1 cargo test --test conformance` (see \
         `tests/conformance/main.rs`); `cargo test --test conformance` fails when a target \
         marked **pass** here stops passing. A target passes when each of its runs ends as \
         under `ansible-playbook` (same exit code) and every assert ansible-playbook ran has \
         its outcome under drover. *Failed* counts asserts with another outcome (or run only \
         by drover); *never reached* counts those drover did not get to.\n"
    );
    let _ = writeln!(
        out,
        "**Totals: {passing} of {} targets pass; asserts {} passed of {} ({} failed, {} never \
         reached); {} targets out of scope.**\n",
        ran.len(),
        total.passed,
        total.total,
        total.failed,
        total.unreached,
        outcomes.len() - ran.len()
    );
    let _ = writeln!(
        out,
        "| target | result | asserts passed / total | failed | never reached | runs as ansible-playbook | first difference |\n\
         |---|---|---|---|---|---|---|"
    );
    for o in &ran {
        let c = o.count();
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} | {} | {} | {} / {} | {} |",
            o.name,
            if o.passes() { "**pass**" } else { "fail" },
            c.passed,
            c.total,
            c.failed,
            c.unreached,
            o.runs_as_ansible(),
            o.runs.len(),
            cell(&o.why())
        );
    }
    let _ = writeln!(out, "\n## Out of scope\n\n| target | why |\n|---|---|");
    for o in outcomes {
        if let Some(why) = &o.out_of_scope {
            let _ = writeln!(out, "| {} | {} |", o.name, cell(why));
        }
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The targets RESULTS.md records as passing.
pub fn passing(recorded: &str) -> Vec<String> {
    recorded
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() > 3 && cells[2] == "**pass**").then(|| cells[1].to_string())
        })
        .collect()
}

//! Static checks `drover check` adds to loading: template syntax in every templated string of
//! a loaded playbook (task arguments, conditions, loops, `loop_control`, play `vars`),
//! reported as the loader's problems are, with the string's file:line:column and a caret.
//!
//! Renders nothing and connects to nothing: values are only compiled.

use crate::playbook::{Node, NodeValue, Playbook, Problem, Source, Task};
use crate::template::Templates;

/// Every template syntax error in `playbook`, each once, in file order per play.
pub fn template_problems(playbook: &Playbook, templates: &Templates) -> Vec<Problem> {
    let mut found = Finder {
        templates,
        problems: Vec::new(),
        seen: Vec::new(),
    };
    for play in &playbook.plays {
        found.node(&play.hosts, &playbook.source, false);
        for (_, value) in &play.vars {
            found.node(value, &playbook.source, false);
        }
        for node in &play.vars_files {
            found.node(node, &playbook.source, false);
        }
        let phases = play
            .phases
            .iter()
            .flat_map(|p| crate::playbook::Phase::ALL.iter().map(move |ph| p.get(*ph)));
        let lists = [play.tasks.as_slice(), play.handlers.as_slice()]
            .into_iter()
            .chain(phases);
        for task in lists.flatten() {
            found.task(task);
        }
        // Files named by `include_tasks` in plain text were read at load time: check them too.
        let phase_steps = play.phases.iter().flat_map(|p| {
            crate::playbook::Phase::ALL
                .iter()
                .map(move |ph| p.steps(*ph))
        });
        for steps in std::iter::once(play.steps.as_slice()).chain(phase_steps) {
            for file in crate::playbook::static_includes(steps) {
                for task in &file.tasks {
                    found.task(task);
                }
            }
        }
    }
    found.problems
}

struct Finder<'a> {
    templates: &'a Templates,
    problems: Vec<Problem>,
    /// (file, offset) of strings already reported: a task inherited by several blocks or
    /// imported twice is reported once.
    seen: Vec<(String, usize)>,
}

impl Finder<'_> {
    fn task(&mut self, task: &Task) {
        let source = &task.source;
        self.node(&task.args, source, false);
        for conditions in [&task.when, &task.changed_when, &task.failed_when] {
            for c in conditions {
                self.node(c, source, true);
            }
        }
        if let Some(until) = &task.until {
            self.node(until, source, true);
        }
        for node in [
            &task.retries,
            &task.delay,
            &task.ignore_errors,
            &task.loop_items,
        ]
        .into_iter()
        .flatten()
        {
            self.node(node, source, false);
        }
        let control = &task.loop_control;
        for node in [&control.label, &control.pause].into_iter().flatten() {
            self.node(node, source, false);
        }
        if let Some(extended) = &control.extended {
            self.node(extended, source, true);
        }
    }

    fn node(&mut self, node: &Node, source: &Source, expression: bool) {
        match &node.value {
            NodeValue::Str(text) => {
                let Some(message) = self.templates.syntax_error(text, expression) else {
                    return;
                };
                let key = (source.name.clone(), node.span.offset);
                if self.seen.contains(&key) {
                    return;
                }
                self.seen.push(key);
                self.problems.push(Problem {
                    message: format!("template error: {message}"),
                    src: source.named(),
                    span: node.span.into(),
                    label: "in this template".to_string(),
                    help: Some(if expression {
                        "a condition is a bare Jinja expression, e.g. `x is defined and x > 1`"
                            .to_string()
                    } else {
                        "check the `{{ }}` and `{% %}` pairs and the expression inside".to_string()
                    }),
                });
            }
            NodeValue::Seq(items) => {
                for item in items {
                    self.node(item, source, expression);
                }
            }
            NodeValue::Map(entries) => {
                for (_, value) in entries {
                    self.node(value, source, false);
                }
            }
            _ => {}
        }
    }
}

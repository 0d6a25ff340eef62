//! Static checks `drover check` adds to loading: template syntax in every templated string of
//! a loaded playbook (task arguments, conditions, loops, `loop_control`, play `vars`),
//! reported as the loader's problems are, with the string's file:line:column and a caret.
//!
//! Then variables that tasks read and that nothing could define ([`undefined_problems`]).
//!
//! Renders nothing and connects to nothing: values are only compiled.

use crate::inventory::{Inventory, Vars};
use crate::plan::Plan;
use crate::playbook::{Node, NodeValue, Play, Playbook, Problem, Source, Span, Step, Task};
use crate::template::Templates;
use std::collections::HashSet;

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
        if let Some(about) = &play.about {
            let answers = [&about.installation, &about.os, &about.architecture]
                .into_iter()
                .chain([&about.geo, &about.notes])
                .flatten()
                .chain(about.components.iter().map(|(_, n)| n))
                .chain(&about.known_issues);
            for node in answers {
                found.node(node, &play.source, false);
            }
        }
        let soft = soft_failing(play);
        for task in play_tasks(play).filter(|t| !soft.contains(&addr(t))) {
            found.task(task);
        }
        // Files named by `include_tasks` in plain text were read at load time: check them too.
        for file in included_files(play) {
            for task in &file.tasks {
                found.task(task);
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
        for condition in &control.break_when {
            self.node(condition, source, true);
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

/// Variables every task can read without anyone defining them: Ansible's magic variables
/// and those drover sets itself (loop, rescue and rollout variables are added per task).
const MAGIC: &[&str] = &[
    "inventory_hostname",
    "inventory_hostname_short",
    "group_names",
    "groups",
    "hostvars",
    "play_hosts",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_batch",
    "ansible_play_name",
    "playbook_dir",
    "inventory_dir",
    "inventory_file",
    "ansible_check_mode",
    "ansible_diff_mode",
    "ansible_failed_task",
    "ansible_failed_result",
    "ansible_version",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_limit",
    "role_name",
    "role_path",
    "ansible_search_path",
    "role_names",
    "ansible_role_name",
    "ansible_role_names",
    "ansible_play_role_names",
    "ansible_dependent_role_names",
    "ansible_parent_role_names",
    "ansible_parent_role_paths",
    "vars",
    "omit",
    "hop",
];

/// Names that a task may read because some task of the playbook defines them.
struct Defined {
    /// `register` names, `set_fact` keys and `include_vars` `name`s, in any play (they
    /// outlive their play, and a check cannot know which hosts ran which task).
    names: HashSet<String>,
    /// A play gathers facts (or runs `setup`): any `ansible_*` may exist.
    facts: bool,
}

impl Defined {
    /// `None` when the playbook defines variables no check can name (an `include_vars`
    /// without `name`, a `set_fact` that is not a mapping): then nothing is reported.
    fn of(playbook: &Playbook) -> Option<Defined> {
        let mut defined = Defined {
            names: HashSet::new(),
            facts: false,
        };
        for task in all_tasks(playbook) {
            defined.note(task)?;
        }
        for play in &playbook.plays {
            // A file whose name is a template is only known at run time, and may define
            // anything: report nothing rather than names it might define.
            let files = included_files(play);
            if play_steps(play)
                .chain(files.iter().map(|f| f.steps.as_slice()))
                .any(has_runtime_include)
            {
                return None;
            }
            for file in files {
                for task in &file.tasks {
                    defined.note(task)?;
                }
            }
        }
        Some(defined)
    }

    /// What `task` defines; `None` when it defines names no check can know.
    fn note(&mut self, task: &Task) -> Option<()> {
        if let Some(register) = &task.register {
            self.names.insert(register.clone());
        }
        match task.module {
            "setup" => self.facts = true,
            "set_fact" => {
                for (key, _) in task.args.as_map()? {
                    self.names.insert(key.name.clone());
                }
            }
            "include_vars" => {
                let name = task.args.get("name")?.as_str()?;
                self.names.insert(name.to_string());
            }
            _ => {}
        }
        Some(())
    }
}

/// The step lists of a play: its tasks' and each rollout phase's.
fn play_steps(play: &Play) -> impl Iterator<Item = &[crate::playbook::Step]> {
    let phases = play.phases.iter().flat_map(|p| {
        crate::playbook::Phase::ALL
            .iter()
            .map(move |ph| p.steps(*ph))
    });
    std::iter::once(play.steps.as_slice()).chain(phases)
}

/// The files a play's `include_tasks` name in plain text, read at load time.
fn included_files(play: &Play) -> Vec<std::sync::Arc<crate::playbook::TaskFile>> {
    play_steps(play)
        .flat_map(crate::playbook::static_includes)
        .collect()
}

/// Whether `steps` (or a block in them) include a file chosen at run time. Loaded files are
/// not entered: [`included_files`] lists them, each once.
fn has_runtime_include(steps: &[crate::playbook::Step]) -> bool {
    use crate::playbook::Step;
    steps.iter().any(|step| match step {
        Step::Task(_) => false,
        Step::Block(block) => [&block.block, &block.rescue, &block.always]
            .into_iter()
            .any(|steps| has_runtime_include(steps)),
        Step::Include(include) => include.loaded.is_none(),
    })
}

fn all_tasks(playbook: &Playbook) -> impl Iterator<Item = &Task> {
    playbook.plays.iter().flat_map(play_tasks)
}

/// A play's tasks, handlers and rollout phases (with their steps' `undo:`).
/// Tasks whose failure is a result, not the end of the run: `ignore_errors: true`, or in a
/// block with a `rescue`. Their mistakes (a bad template, an undefined variable) are
/// failures of the task when it runs, as in Ansible, not reasons to refuse the playbook;
/// playbooks written to test that an error happens rely on it.
fn soft_failing(play: &Play) -> HashSet<usize> {
    fn walk(steps: &[Step], tasks: &[Task], rescued: bool, out: &mut HashSet<usize>) {
        for step in steps {
            match step {
                Step::Task(i) => {
                    if let Some(task) = tasks.get(*i)
                        && (rescued
                            || task
                                .ignore_errors
                                .as_ref()
                                .is_some_and(|n| matches!(n.value, NodeValue::Bool(true))))
                    {
                        out.insert(addr(task));
                    }
                }
                Step::Block(block) => {
                    let inner = rescued || !block.rescue.is_empty();
                    walk(&block.block, tasks, inner, out);
                    walk(&block.rescue, tasks, rescued, out);
                    walk(&block.always, tasks, rescued, out);
                }
                Step::Include(_) => {}
            }
        }
    }
    let mut out = HashSet::new();
    walk(&play.steps, &play.tasks, false, &mut out);
    out
}

fn addr(task: &Task) -> usize {
    std::ptr::from_ref(task) as usize
}

fn play_tasks(play: &Play) -> impl Iterator<Item = &Task> {
    let phases = play
        .phases
        .iter()
        .flat_map(|p| crate::playbook::Phase::ALL.iter().map(move |ph| p.get(*ph)));
    let undo = phases
        .clone()
        .flatten()
        .filter_map(|task| task.undo.as_deref())
        .map(|file| file.tasks.as_slice());
    [play.tasks.as_slice(), play.handlers.as_slice()]
        .into_iter()
        .chain(phases)
        .chain(undo)
        .flatten()
}

/// The line `drover check` ends with when all is well: plays, tasks — a rollout's counted
/// per phase, since its `tasks:` are often empty — handlers, and host slots.
pub fn summary(playbook: &Playbook, plan: &Plan) -> String {
    use crate::playbook::Phase;
    let mut tasks = 0;
    let mut per_phase: Vec<(Phase, usize, usize)> = Vec::new();
    for play in &playbook.plays {
        tasks += play.tasks.len();
        let Some(phases) = &play.phases else {
            continue;
        };
        for phase in Phase::ALL {
            let list = phases.get(phase);
            let undo: usize = list
                .iter()
                .filter_map(|t| t.undo.as_deref())
                .map(|f| f.tasks.len())
                .sum();
            tasks += list.len() + undo;
            match per_phase.iter_mut().find(|(p, _, _)| *p == phase) {
                Some(entry) => {
                    entry.1 += list.len();
                    entry.2 += undo;
                }
                None => per_phase.push((phase, list.len(), undo)),
            }
        }
    }
    let mut line = format!(
        "{}: {} play(s), {tasks} task(s)",
        playbook.path.display(),
        playbook.plays.len()
    );
    let counted: Vec<String> = per_phase
        .iter()
        .filter(|(_, n, undo)| n + undo > 0)
        .map(|(phase, n, undo)| match undo {
            0 => format!("{phase} {n}"),
            u => format!("{phase} {n} + {u} undo"),
        })
        .collect();
    if playbook.plays.iter().any(|p| p.phases.is_some()) {
        let plain: usize = playbook.plays.iter().map(|p| p.tasks.len()).sum();
        let mut parts = Vec::new();
        if plain > 0 {
            parts.push(format!("tasks {plain}"));
        }
        parts.extend(counted);
        line.push_str(&format!(" ({})", parts.join(", ")));
    }
    let handlers: usize = playbook.plays.iter().map(|p| p.handlers.len()).sum();
    if handlers > 0 {
        line.push_str(&format!(", {handlers} handler(s)"));
    }
    let hosts: usize = plan.plays.iter().map(|p| p.hosts.len()).sum();
    line.push_str(&format!(", {hosts} host slot(s): OK"));
    line
}

/// Variables that tasks read and that nothing can define: not the inventory (for any host
/// of the play), `-e`, the play's `vars`/`vars_files`, the task's role, the `vars:` of the
/// task and its blocks and imports, a loop, a magic
/// variable, or a `register`/`set_fact`/`include_vars` anywhere in the playbook. Strings
/// that guard themselves (`is defined`, `default(…)`, also in the task's `when`) are left
/// alone: a check reports only what would fail on every host.
pub fn undefined_problems(
    playbook: &Playbook,
    inventory: &Inventory,
    plan: &Plan,
    extra_vars: &Vars,
    templates: &Templates,
) -> Vec<Problem> {
    let Some(defined) = Defined::of(playbook) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for play_plan in &plan.plays {
        let play = &playbook.plays[play_plan.play];
        if play_plan.hosts.is_empty() {
            continue;
        }
        let mut known: HashSet<String> = MAGIC.iter().map(|s| s.to_string()).collect();
        known.extend(defined.names.iter().cloned());
        known.extend(extra_vars.keys().cloned());
        known.extend(play.vars.iter().map(|(key, _)| key.name.clone()));
        for host in &play_plan.hosts {
            if let Some(h) = inventory.hosts.get(host) {
                known.extend(h.vars.keys().cloned());
            }
            for file in play_plan.vars_files.for_host(host) {
                known.extend(file.keys().cloned());
            }
        }
        let soft = soft_failing(play);
        for task in play_tasks(play).filter(|t| !soft.contains(&addr(t))) {
            let task_known = TaskNames {
                play: &known,
                own: task_names(task),
                facts: defined.facts,
            };
            task_known.check(task, templates, &mut seen, &mut problems);
        }
    }
    problems
}

/// What one task may read: the play's names, plus its loop's and its role's.
struct TaskNames<'a> {
    play: &'a HashSet<String>,
    own: Vec<String>,
    facts: bool,
}

fn task_names(task: &Task) -> Vec<String> {
    let mut own = Vec::new();
    if task.loop_items.is_some() {
        let control = &task.loop_control;
        own.push(control.loop_var.clone());
        own.extend(control.index_var.clone());
        own.extend(["ansible_loop_var", "ansible_index_var", "ansible_loop"].map(String::from));
    }
    if let Some(role) = &task.role {
        for layer in [&role.defaults, &role.vars, &role.entry_vars, &role.params] {
            own.extend(layer.vars.iter().map(|(key, _)| key.name.clone()));
        }
    }
    // The `vars:` of the task and of the blocks and imports around it.
    for layer in &task.vars {
        own.extend(layer.vars.iter().map(|(key, _)| key.name.clone()));
    }
    own
}

impl TaskNames<'_> {
    fn knows(&self, name: &str) -> bool {
        self.play.contains(name)
            || self.own.iter().any(|n| n == name)
            || (self.facts && name.starts_with("ansible_"))
    }

    fn check(
        &self,
        task: &Task,
        templates: &Templates,
        seen: &mut Vec<(String, usize)>,
        problems: &mut Vec<Problem>,
    ) {
        // A task that `when: false` skips reads nothing (its loop is not even rendered); a
        // templated `loop_var` names its variable only when the task runs.
        if task
            .when
            .iter()
            .any(|c| matches!(c.value, NodeValue::Bool(false)))
            || task.loop_control.loop_var_template.is_some()
        {
            return;
        }
        // Conditions that guard a name (`x is defined`, `x | default(..)`) cover the task.
        let guards: Vec<String> = task
            .when
            .iter()
            .chain(task.inherited_when.iter().map(|(node, _)| node))
            .filter_map(|node| node.scalar_text())
            .filter(|text| guards_names(text))
            .collect();
        let mut strings: Vec<(&Node, bool)> = Vec::new();
        collect_strings(&task.args, false, &mut strings);
        for conditions in [&task.when, &task.changed_when, &task.failed_when] {
            for c in conditions {
                collect_strings(c, true, &mut strings);
            }
        }
        if let Some(until) = &task.until {
            collect_strings(until, true, &mut strings);
        }
        for condition in &task.loop_control.break_when {
            collect_strings(condition, true, &mut strings);
        }
        if let Some(items) = &task.loop_items {
            collect_strings(items, false, &mut strings);
        }
        for (node, expression) in strings {
            let Some(text) = node.scalar_text() else {
                continue;
            };
            if guards_names(&text) {
                continue;
            }
            let Some(names) = templates.variables_read(&text, expression) else {
                continue;
            };
            for name in names {
                if self.knows(&name) || guards.iter().any(|g| contains_word(g, &name)) {
                    continue;
                }
                let key = (task.source.name.clone(), node.span.offset);
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                let candidates: Vec<&str> = self
                    .play
                    .iter()
                    .map(String::as_str)
                    .chain(self.own.iter().map(String::as_str))
                    .collect();
                let help = match crate::suggest::did_you_mean(&name, candidates) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None if name.starts_with("ansible_") => format!(
                        "`{name}` looks like a fact: facts exist once gathered — set \
                         `gather_facts: true` on the play (or run `setup` before this task)"
                    ),
                    None => "define it in the inventory, the play's `vars`, `-e`, or a \
                             `register`/`set_fact` before this task; or guard it with \
                             `is defined` / `default(…)`"
                        .to_string(),
                };
                problems.push(Problem {
                    message: format!("undefined variable `{name}`"),
                    src: task.source.named(),
                    span: name_span(&task.source, node.span, &name).into(),
                    label: "nothing defines this".to_string(),
                    help: Some(help),
                });
            }
        }
    }
}

/// A string that deals with undefined values itself: the tests `defined`/`undefined`/`none`,
/// the `default` (`d`) filter, a lookup. Whole words only: a variable named
/// `nope_undefined` guards nothing.
fn guards_names(text: &str) -> bool {
    ["defined", "undefined", "default"]
        .iter()
        .any(|w| contains_word(text, w))
        || ["|d(", "| d(", "is none", "lookup(", "query("]
            .iter()
            .any(|g| text.contains(g))
}

fn contains_word(text: &str, word: &str) -> bool {
    word_at(text, word).is_some()
}

/// The byte offset of `word` in `text` as a whole identifier.
fn word_at(text: &str, word: &str) -> Option<usize> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).map(|(i, _)| i).find(|&i| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// The variable inside the string's span when it appears there literally, else the string.
fn name_span(source: &Source, span: Span, name: &str) -> Span {
    let end = (span.offset + span.len).min(source.text.len());
    source
        .text
        .get(span.offset..end)
        .and_then(|text| word_at(text, name))
        .map_or(span, |at| Span {
            offset: span.offset + at,
            len: name.len(),
        })
}

/// Every string under `node` (keys' values of mappings are arguments, not conditions).
fn collect_strings<'n>(node: &'n Node, expression: bool, out: &mut Vec<(&'n Node, bool)>) {
    match &node.value {
        NodeValue::Str(_) => out.push((node, expression)),
        NodeValue::Seq(items) => {
            for item in items {
                collect_strings(item, expression, out);
            }
        }
        NodeValue::Map(entries) => {
            for (_, value) in entries {
                collect_strings(value, false, out);
            }
        }
        _ => {}
    }
}

//! `include_tasks`: the include's own keywords (`name`, `when`, loops, `tags`, `vars` — they
//! apply to the include, not to the tasks it brings), its `apply:` (passed to the included
//! tasks), and reading the included file: while loading when its name is plain text, so
//! `drover check` reports its mistakes, or when a host reaches it ([`load_included`]).

use super::{Checker, Inherit, MAX_IMPORT_DEPTH, structure};
use crate::playbook::exec::BLOCK_EXEC_KEYWORDS;
use crate::playbook::loops::LoopKind;
use crate::playbook::yaml::{self, Key, Node, NodeValue, Span};
use crate::playbook::{Include, Playbook, Problem, Source, Task, TaskFile};
use crate::template::has_template_syntax;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Keywords an `include_tasks` takes besides its file (and the `with_*` loops); all apply to
/// the include itself.
const INCLUDE_KEYWORDS: &[&str] = &["name", "when", "loop", "loop_control", "tags", "vars"];

/// `include_tasks` in mapping form.
const INCLUDE_ARGS: &[&str] = &["file", "apply"];

/// What `apply:` passes to the included tasks besides the execution keywords.
const APPLY_KEYWORDS: &[&str] = &["tags", "when", "ignore_errors"];

/// `dirs` as a message lists them (the current directory as `.`).
pub(crate) fn looked_in(dirs: &[PathBuf]) -> String {
    let mut shown: Vec<String> = Vec::new();
    for dir in dirs {
        let text = match dir.as_os_str().is_empty() {
            true => ".".to_string(),
            false => dir.display().to_string(),
        };
        if !shown.contains(&text) {
            shown.push(text);
        }
    }
    shown.join(", ")
}

/// A file named `name` in the first of `dirs` that has it (an absolute name as given).
pub(crate) fn find_file(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    let given = Path::new(name);
    if given.is_absolute() {
        return given.is_file().then(|| given.to_path_buf());
    }
    dirs.iter().map(|dir| dir.join(given)).find(|p| p.is_file())
}

impl Checker {
    /// The include itself as a task (`include_tasks`, `include_role`): its `name`, `when`,
    /// loop and `tags`, and its `vars:`; keywords that would apply to the included tasks
    /// belong under `apply:`.
    pub(super) fn include_task(
        &mut self,
        node: &Node,
        include_key: &Key,
        inherit: &Inherit,
        module: &'static str,
    ) -> Option<(Task, Vec<(Key, Node)>)> {
        let mut kept = Vec::new();
        let mut vars = Vec::new();
        for (key, value) in node.as_map().unwrap_or_default() {
            match key.name.as_str() {
                k if k == include_key.name => {}
                "vars" => match &value.value {
                    NodeValue::Map(entries) => vars = entries.clone(),
                    NodeValue::Null => {}
                    _ => self.expect_kind(value, "`vars`", "a mapping"),
                },
                k if INCLUDE_KEYWORDS.contains(&k) || LoopKind::from_keyword(k).is_some() => {
                    kept.push((key.clone(), value.clone()));
                }
                k if BLOCK_EXEC_KEYWORDS.contains(&k) || k == "ignore_errors" => self.problem(
                    key.span,
                    format!("`{k}` on `{module}` applies to the include only, not to the tasks it brings"),
                    "applies to the include only",
                    Some(format!("put it under `apply:` (`{}: {{..., apply: {{{k}: ...}}}}`)", include_key.name)),
                ),
                other => self.keyword_elsewhere(key, other, INCLUDE_KEYWORDS, module),
            }
        }
        // Read as a no-op task, then made the include.
        kept.push((
            Key {
                name: "meta".to_string(),
                span: include_key.span,
            },
            Node {
                value: NodeValue::Str("noop".to_string()),
                span: include_key.span,
            },
        ));
        let shape = Node {
            value: NodeValue::Map(kept),
            span: node.span,
        };
        let mut task = self.task(&shape, inherit)?;
        task.module = module;
        task.module_span = include_key.span;
        Some((task, vars))
    }

    /// `include_tasks:` as a step: the include as a task of its own (its `when`, loop and
    /// tags are read as any task's), and its file when the name is plain text.
    pub(super) fn include_tasks(
        &mut self,
        node: &Node,
        include_key: &Key,
        args: &Node,
        inherit: &Inherit,
        flat: &mut Vec<Task>,
    ) -> Option<Include> {
        let (mut task, vars) = self.include_task(node, include_key, inherit, "include_tasks")?;
        let (file, apply) = self.include_args(args)?;
        task.args = file.clone();
        // The included tasks inherit what the include's surroundings give (play, blocks,
        // imports), not the include's own `when` and `tags`; `apply:` adds to that.
        let mut inner = inherit.clone();
        if let Some(apply) = apply {
            self.apply(&mut inner, apply);
        }
        // As given (empty beside a playbook named without a directory), so that messages
        // show the paths the user wrote.
        let here = Path::new(&self.source.name)
            .parent()
            .map_or_else(PathBuf::new, Path::to_path_buf);
        let playbook_dir = self.dir.clone().filter(|d| *d != here);
        // A role's handler includes from the role's `tasks/` too, as Ansible's role search
        // path does (setup_remote_tmp_dir's cleanup handler).
        let role_tasks = (here.file_name().is_some_and(|n| n == "handlers"))
            .then(|| here.with_file_name("tasks"));
        let dirs: Vec<PathBuf> = std::iter::once(here)
            .chain(role_tasks)
            .chain(playbook_dir)
            .collect();
        // A handler's file is read when it is notified, as Ansible reads it: a handler
        // never notified (setup_remote_tmp_dir's Windows cleanup) is never read.
        let loaded = if self.in_handlers {
            None
        } else {
            self.static_include(&file, &dirs, &inner)
        };
        flat.push(task);
        Some(Include {
            task: flat.len() - 1,
            file,
            loaded,
            vars,
            dirs,
            inherit: inner,
            role: None,
        })
    }

    /// `include_tasks: FILE` or `include_tasks: {file: FILE, apply: {...}}`.
    fn include_args<'n>(&mut self, args: &'n Node) -> Option<(Node, Option<&'n Node>)> {
        let (file, apply) = match &args.value {
            NodeValue::Str(_) => (Some(args), None),
            NodeValue::Map(entries) => {
                let mut file = None;
                let mut apply = None;
                for (key, value) in entries {
                    match key.name.as_str() {
                        "file" | "_raw_params" => file = Some(value),
                        "apply" => apply = Some(value),
                        other => self.problem(
                            key.span,
                            format!(
                                "`include_tasks` argument `{other}` is not supported by drover"
                            ),
                            "unknown argument",
                            Some(format!(
                                "`include_tasks` takes: {}",
                                INCLUDE_ARGS.join(", ")
                            )),
                        ),
                    }
                }
                (file, apply)
            }
            _ => (None, None),
        };
        let Some(file) = file.filter(|f| f.as_str().is_some_and(|t| !t.trim().is_empty())) else {
            self.expect_kind(
                args,
                "`include_tasks`",
                "a file name, or a mapping with `file`",
            );
            return None;
        };
        Some((file.clone(), apply))
    }

    /// `apply:` — keywords given to every included task.
    pub(super) fn apply(&mut self, inner: &mut Inherit, apply: &Node) {
        let Some(entries) = apply.as_map() else {
            self.expect_kind(apply, "`apply`", "a mapping of task keywords");
            return;
        };
        for (key, value) in entries {
            match key.name.as_str() {
                "tags" | "when" => self.inherit_key(inner, &key.name, value),
                "ignore_errors" => inner.ignore_errors = Some(value.clone()),
                k if BLOCK_EXEC_KEYWORDS.contains(&k) => self.take_exec(&mut inner.exec, k, value),
                other => {
                    let takes: Vec<&str> = APPLY_KEYWORDS
                        .iter()
                        .chain(BLOCK_EXEC_KEYWORDS)
                        .copied()
                        .collect();
                    self.problem(
                        key.span,
                        format!("`apply` keyword `{other}` is not supported by drover yet"),
                        "not supported yet",
                        Some(format!("`apply` takes: {}", takes.join(", "))),
                    );
                }
            }
        }
    }

    /// The included file read now, when its name is plain text; `None` for a template (read
    /// at run time), a file already being read (a recursive include, bounded at run time),
    /// or a mistake (reported).
    fn static_include(
        &mut self,
        file: &Node,
        dirs: &[PathBuf],
        inner: &Inherit,
    ) -> Option<Arc<TaskFile>> {
        let text = file.as_str()?;
        if has_template_syntax(text) {
            return None;
        }
        let Some(path) = find_file(dirs, text) else {
            self.problem(
                file.span,
                format!(
                    "included file `{text}` not found (looked in {})",
                    looked_in(dirs)
                ),
                "no such file",
                Some(
                    "a relative path is relative to the including file, then to the playbook"
                        .to_string(),
                ),
            );
            return None;
        };
        let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if self.importing.contains(&key) || self.importing.len() >= MAX_IMPORT_DEPTH {
            return None;
        }
        let (source, root) = self.read_yaml(&path, file.span)?;
        let outer = std::mem::replace(&mut self.source, source.clone());
        self.importing.push(key);
        let mut tasks = Vec::new();
        let steps = self.steps(&root, inner, &mut tasks);
        self.importing.pop();
        self.source = outer;
        Some(Arc::new(TaskFile {
            path,
            source,
            tasks,
            steps,
        }))
    }
}

impl Checker {
    /// A checker for a file read at run time, in `play` of `playbook`.
    pub(super) fn for_file(
        playbook: &Playbook,
        play: usize,
        source: &Source,
        path: &Path,
    ) -> Checker {
        Checker {
            source: source.clone(),
            problems: Vec::new(),
            dir: Some(playbook.dir.clone()),
            importing: std::fs::canonicalize(path).into_iter().collect(),
            notified: Vec::new(),
            roles_path: structure::search_path(&playbook.plays[play].dir),
            roles_seen: Vec::new(),
            roles_used: Vec::new(),
            role_handlers: Vec::new(),
            role_handler_includes: Vec::new(),
            current_role: None,
            in_handlers: false,
            playbook_tags: Vec::new(),
            imports: structure::PlaybookImports::default(),
        }
    }
}

/// Reads the file an include names when a host reaches it (its name was a template, or it
/// includes itself). Mistakes come back as `file:line:col: message` lines, for the hosts
/// that included it to fail with.
pub fn load_included(
    playbook: &Playbook,
    play: usize,
    include: &Include,
    path: &Path,
) -> Result<TaskFile, String> {
    let text = crate::vault::read_to_string(path)
        .map_err(|err| format!("cannot read included file `{}`: {err}", path.display()))?;
    let source = Source::new(path.display().to_string(), text);
    let root = yaml::parse(&source.text).map_err(|err| {
        let report = serde_saphyr::miette::to_miette_report(&err, &source.text, &source.name);
        format!(
            "included file `{}` is not valid YAML: {report:?}",
            path.display()
        )
    })?;
    let the_play = &playbook.plays[play];
    let mut checker = Checker::for_file(playbook, play, &source, path);
    let mut tasks = Vec::new();
    let steps = checker.steps(&root, &include.inherit, &mut tasks);
    checker.check_notified(&the_play.handlers);
    if !checker.role_handlers.is_empty() {
        checker.problem(
            root.span,
            "a role imported by a file read at run time cannot add handlers to the play"
                .to_string(),
            "not supported yet",
            Some("import the role in the playbook, or name the file as plain text".to_string()),
        );
    }
    if !checker.problems.is_empty() {
        return Err(problem_lines(&checker.problems));
    }
    Ok(TaskFile {
        path: path.to_path_buf(),
        source,
        tasks,
        steps,
    })
}

/// Problems as one line each: `file:line:col: message (hint)`.
pub(super) fn problem_lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| {
            let source = Source::new(p.src.name().to_string(), p.src.inner().as_str());
            let at = source.location(Span {
                offset: p.span.offset(),
                len: 0,
            });
            match &p.help {
                Some(help) => format!("{at}: {} ({help})", p.message),
                None => format!("{at}: {}", p.message),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

//! Execution keywords: how and where a task runs rather than what it does — `become`,
//! `become_user`, `become_method`, `environment` (a mapping, a template of one, or a list of
//! them), `no_log`, `check_mode`, `diff`, `delegate_to` (tasks only), `delegate_facts` (only its
//! default, `false`).
//! Plays and blocks pass them to their tasks; a task's own value overrides (`environment`
//! mappings merge, inner keys winning). Values stay unrendered: they may be templates.

use super::yaml::{Node, NodeValue};
use super::{Problem, Source};

/// Keywords read here, at the levels Ansible allows them.
pub(crate) const PLAY_EXEC_KEYWORDS: &[&str] = &[
    "become",
    "become_user",
    "become_method",
    "environment",
    "no_log",
    "check_mode",
    "diff",
];
pub(crate) const BLOCK_EXEC_KEYWORDS: &[&str] = &[
    "become",
    "become_user",
    "become_method",
    "environment",
    "no_log",
    "check_mode",
    "diff",
    "delegate_to",
];
pub(crate) const TASK_EXEC_KEYWORDS: &[&str] = &[
    "become",
    "become_user",
    "become_method",
    "environment",
    "no_log",
    "check_mode",
    "diff",
    "delegate_to",
    "delegate_facts",
];

/// A task's execution keywords, its own or inherited.
#[derive(Debug, Clone, Default)]
pub struct Execution {
    /// `become`: a boolean or a template of one.
    pub escalate: Option<Node>,
    pub become_user: Option<Node>,
    /// A literal was checked to be `sudo` or `su`; a template is checked when rendered.
    pub become_method: Option<Node>,
    /// `environment` mappings (or templates giving one), outermost first, each with its file
    /// (a list of them is its items in order).
    pub environment: Vec<(Node, Source)>,
    pub no_log: Option<Node>,
    pub check_mode: Option<Node>,
    /// `diff`: show the changes a task makes (else `--diff`).
    pub diff: Option<Node>,
    /// `delegate_to`: the host whose connection runs the task's module (a name or a
    /// template of one); the task's variables stay those of the host it is for.
    pub delegate_to: Option<Node>,
}

fn is_template(node: &Node) -> bool {
    node.as_str()
        .is_some_and(|s| s.contains("{{") || s.contains("{%"))
}

impl Execution {
    /// Takes `name: value` if it is an execution keyword; returns whether it was, and the
    /// problem with its value if any.
    pub(crate) fn take(
        &mut self,
        name: &str,
        value: &Node,
        source: &Source,
    ) -> (bool, Option<Problem>) {
        let problem = |message: String, label: &str, help: Option<&str>| Problem {
            message,
            src: source.named(),
            span: value.span.into(),
            label: label.to_string(),
            help: help.map(str::to_string),
        };
        let flag = |what: &str| match &value.value {
            NodeValue::Bool(_) => None,
            _ if is_template(value) => None,
            _ => Some(problem(
                format!("`{what}` must be true or false, not {}", value.kind()),
                "not a boolean",
                None,
            )),
        };
        match name {
            "become" => {
                self.escalate = Some(value.clone());
                (true, flag("become"))
            }
            "become_user" => {
                self.become_user = Some(value.clone());
                let bad = value.scalar_text().is_none_or(|s| s.trim().is_empty());
                (
                    true,
                    bad.then(|| problem("`become_user` must be a user name".into(), "here", None)),
                )
            }
            "become_method" => {
                self.become_method = Some(value.clone());
                let known = value
                    .as_str()
                    .is_some_and(|s| matches!(s, "sudo" | "su") || is_template(value));
                (
                    true,
                    (!known).then(|| {
                        problem(
                            format!(
                                "become_method `{}` is not supported by drover",
                                value.scalar_text().unwrap_or_default()
                            ),
                            "not supported",
                            Some("drover becomes another user with `sudo` or `su`"),
                        )
                    }),
                )
            }
            "environment" => {
                // Ansible's `environment` is a list (a mapping is a list of one), each item a
                // mapping or a template giving one; they merge in order, later keys winning.
                let items = match &value.value {
                    NodeValue::Seq(items) => items.iter().collect(),
                    _ => vec![value],
                };
                let mut bad = None;
                for item in items {
                    match &item.value {
                        NodeValue::Map(_) => self.environment.push((item.clone(), source.clone())),
                        NodeValue::Null => {}
                        _ if is_template(item) => {
                            self.environment.push((item.clone(), source.clone()));
                        }
                        _ => bad = Some(item.kind()),
                    }
                }
                (
                    true,
                    bad.map(|kind| {
                        problem(
                            format!(
                                "`environment` must be a mapping (or a list of them), not {kind}"
                            ),
                            "not a mapping",
                            Some("write `environment:` with `NAME: value` lines under it"),
                        )
                    }),
                )
            }
            "no_log" => {
                self.no_log = Some(value.clone());
                (true, flag("no_log"))
            }
            "check_mode" => {
                self.check_mode = Some(value.clone());
                (true, flag("check_mode"))
            }
            "diff" => {
                self.diff = Some(value.clone());
                (true, flag("diff"))
            }
            "delegate_to" => {
                self.delegate_to = Some(value.clone());
                let named = value.scalar_text().is_some_and(|s| !s.trim().is_empty())
                    && !matches!(value.value, NodeValue::Bool(_) | NodeValue::Null);
                (
                    true,
                    (!named).then(|| {
                        problem(
                            format!(
                                "`delegate_to` must be a host name, not {}",
                                match value.as_str() {
                                    Some(_) => "an empty string",
                                    None => value.kind(),
                                }
                            ),
                            "not a host name",
                            Some("write `delegate_to: HOST` (an inventory host, or localhost)"),
                        )
                    }),
                )
            }
            // Facts set by a delegated task go to the host it runs for (Ansible's default);
            // giving them to the delegate would mean writing another host's state mid-task.
            "delegate_facts" => match &value.value {
                NodeValue::Bool(false) => (true, None),
                NodeValue::Bool(true) => (
                    true,
                    Some(problem(
                        "`delegate_facts: true` is not supported by drover yet".into(),
                        "not supported yet",
                        Some(
                            "facts set by a delegated task go to the host the task runs for; set them on the delegate with a task of its own",
                        ),
                    )),
                ),
                _ => (
                    true,
                    Some(problem(
                        format!(
                            "`delegate_facts` must be true or false, not {}",
                            value.kind()
                        ),
                        "not a literal boolean",
                        Some(
                            "drover reads `delegate_facts` before running anything: write `false`, or leave it out",
                        ),
                    )),
                ),
            },
            _ => (false, None),
        }
    }
}

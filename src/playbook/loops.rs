//! A task's loop as written: which loop keyword (`loop`, `with_items`, `with_dict`, …) and
//! its `loop_control`. Only the shape is checked here; the engine renders the items per host.

use super::load::is_identifier;
use super::{Node, NodeValue, Span};

/// Which keyword gave the task its items: `loop:` (a list, taken as it is) or
/// `with_<lookup>:`, whose terms go to the lookup of that name (`with_items` to `items`,
/// `with_nested` to `nested`, …), as Ansible runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoopKind {
    #[default]
    Loop,
    /// The `with_…` keyword, as written (one of [`LoopKind::WITH`]).
    With(&'static str),
}

impl LoopKind {
    /// The `with_<lookup>` keywords drover runs: one per lookup it has.
    pub const WITH: &'static [&'static str] = &[
        "with_env",
        "with_file",
        "with_unvault",
        "with_template",
        "with_pipe",
        "with_lines",
        "with_vars",
        "with_varnames",
        "with_first_found",
        "with_items",
        "with_list",
        "with_indexed_items",
        "with_dict",
        "with_nested",
        "with_cartesian",
        "with_together",
        "with_subelements",
        "with_sequence",
        "with_random_choice",
        "with_csvfile",
        "with_ini",
    ];

    pub fn from_keyword(name: &str) -> Option<LoopKind> {
        if name == "loop" {
            return Some(LoopKind::Loop);
        }
        Self::WITH
            .iter()
            .find(|k| **k == name)
            .map(|k| LoopKind::With(k))
    }

    pub fn keyword(self) -> &'static str {
        match self {
            LoopKind::Loop => "loop",
            LoopKind::With(keyword) => keyword,
        }
    }

    /// The lookup a `with_` loop runs.
    pub fn lookup(self) -> Option<&'static str> {
        match self {
            LoopKind::Loop => None,
            LoopKind::With(keyword) => keyword.strip_prefix("with_"),
        }
    }
}

/// `with_*` loops drover refuses, each with the `loop:` form that replaces it.
pub fn refused_with(name: &str) -> Option<&'static str> {
    Some(match name {
        "with_fileglob"
        | "with_filetree"
        | "with_inventory_hostnames"
        | "with_flattened"
        | "with_url"
        | "with_password" => "write the loop as `loop:` over a list (see \"Loops\" in the README)",
        other if other.starts_with("with_") => {
            "drover runs `with_<lookup>` for the lookups it has (see \"Lookups\" in the README); write others as `loop:`"
        }
        _ => return None,
    })
}

/// `loop_control`, unrendered: `label`, `pause` and `extended` may be templates.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopControl {
    /// The variable that holds the item (`item` unless `loop_var` says otherwise).
    pub loop_var: String,
    /// A variable that holds the item's 0-based index.
    pub index_var: Option<String>,
    /// What the output shows for each item instead of the whole item.
    pub label: Option<Node>,
    /// Seconds to wait between items.
    pub pause: Option<Node>,
    /// Whether `ansible_loop` (index, first, last, length, …) is set.
    pub extended: Option<Node>,
    /// With `extended`: whether `ansible_loop.allitems` is set (it copies the whole list).
    pub extended_allitems: bool,
    /// A `loop_var` written as a template (`"{{ name_var }}"`), rendered when the task runs.
    pub loop_var_template: Option<Node>,
    /// Conditions checked after each item (its result registered): the first true one ends
    /// the loop.
    pub break_when: Vec<Node>,
}

impl Default for LoopControl {
    fn default() -> Self {
        LoopControl {
            loop_var: "item".to_string(),
            index_var: None,
            label: None,
            pause: None,
            extended: None,
            extended_allitems: true,
            loop_var_template: None,
            break_when: Vec::new(),
        }
    }
}

const LOOP_CONTROL_KEYS: &[&str] = &[
    "loop_var",
    "index_var",
    "label",
    "pause",
    "extended",
    "extended_allitems",
    "break_when",
];

/// What is wrong in a `loop_control`, for the loader to report at `span`.
#[derive(Debug, Clone, PartialEq)]
pub struct LoopProblem {
    pub span: Span,
    pub message: String,
    pub label: &'static str,
    pub help: Option<String>,
}

/// Reads `loop_control`, collecting every problem rather than stopping at the first.
pub fn loop_control(node: &Node) -> (LoopControl, Vec<LoopProblem>) {
    let mut control = LoopControl::default();
    let mut problems = Vec::new();
    let Some(entries) = node.as_map() else {
        problems.push(LoopProblem {
            span: node.span,
            message: format!("`loop_control` must be a mapping, not {}", node.kind()),
            label: "here",
            help: Some(
                "for example `loop_control: {loop_var: pkg, label: \"{{ pkg.name }}\"}`".into(),
            ),
        });
        return (control, problems);
    };
    for (key, value) in entries {
        let mut variable = |what: &str| match value.as_str() {
            Some(name) if is_identifier(name) => Some(name.to_string()),
            _ => {
                problems.push(LoopProblem {
                    span: value.span,
                    message: format!("`{what}` must be a variable name"),
                    label: "not a variable name",
                    help: None,
                });
                None
            }
        };
        match key.name.as_str() {
            "loop_var"
                if value
                    .as_str()
                    .is_some_and(crate::template::has_template_syntax) =>
            {
                control.loop_var_template = Some(value.clone());
            }
            "loop_var" => {
                if let Some(name) = variable("loop_var") {
                    control.loop_var = name;
                }
            }
            "index_var" => control.index_var = variable("index_var"),
            "label" => control.label = Some(value.clone()),
            "pause" => match &value.value {
                NodeValue::Int(n) if *n >= 0 => control.pause = Some(value.clone()),
                NodeValue::Float(f) if *f >= 0.0 => control.pause = Some(value.clone()),
                NodeValue::Str(_) => control.pause = Some(value.clone()),
                _ => problems.push(LoopProblem {
                    span: value.span,
                    message: format!("`pause` must be a number of seconds, not {}", value.kind()),
                    label: "here",
                    help: None,
                }),
            },
            "extended" => control.extended = Some(value.clone()),
            "extended_allitems" => match value.value {
                NodeValue::Bool(b) => control.extended_allitems = b,
                _ => problems.push(LoopProblem {
                    span: value.span,
                    message: format!(
                        "`extended_allitems` must be true or false, not {}",
                        value.kind()
                    ),
                    label: "here",
                    help: None,
                }),
            },
            "break_when" => match &value.value {
                NodeValue::Seq(items) => control.break_when = items.clone(),
                NodeValue::Null => {}
                _ => control.break_when = vec![value.clone()],
            },
            other => {
                let help = crate::suggest::did_you_mean(other, LOOP_CONTROL_KEYS.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| {
                        format!("`loop_control` takes: {}", LOOP_CONTROL_KEYS.join(", "))
                    });
                problems.push(LoopProblem {
                    span: key.span,
                    message: format!("unknown `loop_control` key `{other}`"),
                    label: "unknown key",
                    help: Some(help),
                });
            }
        }
    }
    (control, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::yaml::parse;

    fn control(text: &str) -> (LoopControl, Vec<String>) {
        let node = parse(text).expect("test YAML parses");
        let (control, problems) = loop_control(&node);
        (control, problems.into_iter().map(|p| p.message).collect())
    }

    #[test]
    fn loop_control_keys_are_read_and_mistakes_all_reported() {
        let (c, problems) =
            control("{loop_var: pkg, index_var: i, label: '{{ pkg.name }}', pause: 1}");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(c.loop_var, "pkg");
        assert_eq!(c.index_var.as_deref(), Some("i"));
        assert!(c.label.is_some() && c.pause.is_some());

        let (c, problems) = control("{loop_var: 'a b', lable: x, pause: [1], break_when: x}");
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("`loop_var` must be a variable name"));
        assert!(problems[1].contains("unknown `loop_control` key `lable`"));
        assert!(problems[2].contains("`pause` must be a number"));
        assert_eq!(c.break_when.len(), 1);

        let (c, problems) = control("{loop_var: '{{ name }}', break_when: [a, b]}");
        assert!(problems.is_empty(), "{problems:?}");
        assert!(c.loop_var_template.is_some());
        assert_eq!(c.break_when.len(), 2);
    }

    #[test]
    fn loop_keywords_map_to_kinds_and_others_are_refused() {
        assert_eq!(
            LoopKind::from_keyword("with_dict"),
            Some(LoopKind::With("with_dict"))
        );
        assert_eq!(LoopKind::With("with_sequence").lookup(), Some("sequence"));
        for keyword in LoopKind::WITH {
            let lookup = LoopKind::from_keyword(keyword).and_then(LoopKind::lookup);
            assert!(
                lookup.is_some_and(|l| crate::lookup::NAMES.contains(&l)),
                "{keyword} names no lookup"
            );
        }
        assert!(refused_with("with_fileglob").is_some());
        assert!(refused_with("with_whatever").is_some());
        assert!(refused_with("when").is_none());
    }
}

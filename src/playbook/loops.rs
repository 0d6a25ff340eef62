//! A task's loop as written: which loop keyword (`loop`, `with_items`, `with_dict`, …) and
//! its `loop_control`. Only the shape is checked here; the engine renders the items per host.

use super::load::is_identifier;
use super::{Node, NodeValue, Span};

/// Which keyword gave the task its items; each turns the rendered value into items its own
/// way, as Ansible's lookup plugins of the same names do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoopKind {
    /// `loop:`: a list, taken as it is.
    #[default]
    Loop,
    /// `with_items:`: a list flattened one level; a single value is a list of one.
    Items,
    /// `with_list:`: a list as it is; a single value is a list of one.
    List,
    /// `with_dict:`: a mapping, one `{key, value}` item per entry.
    Dict,
    /// `with_indexed_items:`: `[index, item]` pairs over the flattened list.
    IndexedItems,
    /// `with_sequence:`: `start=1 end=5 stride=1 format=%d` or `count=3`, as strings.
    Sequence,
}

impl LoopKind {
    /// The loop keywords drover runs, and the kind each gives.
    pub const KEYWORDS: &'static [(&'static str, LoopKind)] = &[
        ("loop", LoopKind::Loop),
        ("with_items", LoopKind::Items),
        ("with_list", LoopKind::List),
        ("with_dict", LoopKind::Dict),
        ("with_indexed_items", LoopKind::IndexedItems),
        ("with_sequence", LoopKind::Sequence),
    ];

    pub fn from_keyword(name: &str) -> Option<LoopKind> {
        Self::KEYWORDS
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, kind)| *kind)
    }

    pub fn keyword(self) -> &'static str {
        Self::KEYWORDS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("loop", |(name, _)| name)
    }
}

/// `with_*` loops drover refuses, each with the `loop:` form that replaces it.
pub fn refused_with(name: &str) -> Option<&'static str> {
    Some(match name {
        "with_nested" | "with_cartesian" => {
            "write `loop: \"{{ list_a | product(list_b) | list }}\"` (with `item.0`, `item.1`)"
        }
        "with_together" => "write `loop: \"{{ list_a | zip(list_b) | list }}\"`",
        "with_subelements" => "write `loop: \"{{ users | subelements('keys') }}\"`",
        "with_fileglob"
        | "with_filetree"
        | "with_first_found"
        | "with_lines"
        | "with_random_choice"
        | "with_inventory_hostnames"
        | "with_flattened"
        | "with_together_longest"
        | "with_env"
        | "with_file"
        | "with_template"
        | "with_url"
        | "with_password"
        | "with_ini"
        | "with_csvfile"
        | "with_pipe" => "write the loop as `loop:` over a list (see \"Loops\" in the README)",
        other if other.starts_with("with_") => {
            "drover runs with_items, with_list, with_dict, with_indexed_items and with_sequence; write others as `loop:`"
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
            "break_when" => problems.push(LoopProblem {
                span: key.span,
                message: "`loop_control.break_when` is not supported by drover yet".into(),
                label: "not supported yet",
                help: Some("see \"Loops\" in the README for the supported subset".into()),
            }),
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

        let (_, problems) = control("{loop_var: 'a b', lable: x, pause: [1], break_when: x}");
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("`loop_var` must be a variable name"));
        assert!(problems[1].contains("unknown `loop_control` key `lable`"));
        assert!(problems[2].contains("`pause` must be a number"));
        assert!(problems[3].contains("break_when"));
    }

    #[test]
    fn loop_keywords_map_to_kinds_and_others_are_refused() {
        assert_eq!(LoopKind::from_keyword("with_dict"), Some(LoopKind::Dict));
        assert_eq!(LoopKind::Sequence.keyword(), "with_sequence");
        assert!(refused_with("with_nested").is_some_and(|h| h.contains("product")));
        assert!(refused_with("with_whatever").is_some());
        assert!(refused_with("when").is_none());
    }
}

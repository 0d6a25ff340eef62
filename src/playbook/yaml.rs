//! A YAML document as a tree of nodes that remember where they came from.
//!
//! Playbooks are validated by walking this tree rather than by `#[derive(Deserialize)]` on the
//! final types: a task's module is a dynamic key, and every diagnostic must point at the
//! offending key or value with a caret. [`crate::yaml`] parses as Ansible does (PyYAML typing,
//! `0644` octal, last duplicate key wins); this module gives the playbook loader byte spans.

use crate::yaml::Node as Raw;
use serde_json::Value;
use serde_saphyr::Spanned;

/// Byte range of a node in its source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        (span.offset, span.len).into()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key: always a string in playbooks (Ansible stringifies the rest).
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

impl Node {
    pub fn kind(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a number",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            NodeValue::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(_, v)| v)
    }

    /// Scalars as the text a user wrote (numbers and booleans included), for fields such as
    /// `name:` that Ansible stringifies.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            NodeValue::Str(s) => Some(s.clone()),
            NodeValue::Bool(b) => Some(b.to_string()),
            NodeValue::Int(i) => Some(i.to_string()),
            NodeValue::Float(f) => Some(f.to_string()),
            NodeValue::Null => None,
            NodeValue::Seq(_) | NodeValue::Map(_) => None,
        }
    }

    /// The plain value, spans dropped; key order kept.
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// Parses one YAML document into a node tree, scalars typed as Ansible (PyYAML) types them.
pub fn parse(source: &str) -> Result<Node, serde_saphyr::Error> {
    let root = crate::yaml::parse(source)?;
    Ok(into_node(&root, source))
}

fn span_of<T>(spanned: &Spanned<T>, source: &str) -> Span {
    let span = spanned.referenced.span();
    let offset = span
        .byte_offset()
        .map(|o| o as usize)
        .unwrap_or_else(|| char_to_byte(source, span.offset() as usize));
    let len = span.byte_len().map(|l| l as usize).unwrap_or(0);
    Span {
        offset: offset.min(source.len()),
        len,
    }
}

fn char_to_byte(source: &str, chars: usize) -> usize {
    source
        .char_indices()
        .nth(chars)
        .map(|(i, _)| i)
        .unwrap_or(source.len())
}

fn into_node(raw: &Spanned<Raw>, source: &str) -> Node {
    let span = span_of(raw, source);
    let value = match &raw.value {
        Raw::Seq(items) => NodeValue::Seq(items.iter().map(|i| into_node(i, source)).collect()),
        Raw::Map(entries) => NodeValue::Map(
            entries
                .iter()
                .map(|(k, v)| {
                    let mut key_span = span_of(k, source);
                    if key_span.len == 0 {
                        key_span.len = k.value.len();
                    }
                    let key = Key {
                        name: k.value.clone(),
                        span: key_span,
                    };
                    (key, into_node(v, source))
                })
                .collect(),
        ),
        // Scalars go through the shared PyYAML typing (`y` and `1e3` stay strings).
        _ => match crate::yaml::to_json(raw, source) {
            Value::Bool(b) => NodeValue::Bool(b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => NodeValue::Int(i),
                None => NodeValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => NodeValue::Str(s),
            _ => NodeValue::Null,
        },
    };
    Node { value, span }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_keep_their_byte_spans() {
        let src = "- name: first\n  hosts: all\n  tasks:\n    - shell: echo hi\n";
        let root = parse(src).unwrap();
        let NodeValue::Seq(plays) = &root.value else {
            panic!("not a seq")
        };
        let play = plays[0].as_map().unwrap();
        let (hosts_key, hosts) = &play[1];
        assert_eq!(&src[hosts_key.span.offset..][..5], "hosts");
        assert_eq!(&src[hosts.span.offset..][..3], "all");
        let tasks = plays[0].get("tasks").unwrap();
        let NodeValue::Seq(tasks) = &tasks.value else {
            panic!()
        };
        let (module, _) = &tasks[0].as_map().unwrap()[0];
        assert_eq!(module.name, "shell");
        assert_eq!(&src[module.span.offset..][..5], "shell");
    }

    #[test]
    fn yaml_1_1_scalars_read_as_ansible_reads_them() {
        let root = parse("a: yes\nb: 0644\nc: '0644'\nd: 1.5\ne: ~\nf: y\n").unwrap();
        assert_eq!(root.get("f").unwrap().value, NodeValue::Str("y".into()));
        assert_eq!(root.get("a").unwrap().value, NodeValue::Bool(true));
        assert_eq!(root.get("b").unwrap().value, NodeValue::Int(420));
        assert_eq!(root.get("c").unwrap().value, NodeValue::Str("0644".into()));
        assert_eq!(root.get("d").unwrap().value, NodeValue::Float(1.5));
        assert_eq!(root.get("e").unwrap().value, NodeValue::Null);
    }
}

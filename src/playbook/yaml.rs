//! A YAML document as a tree of nodes that remember where they came from.
//!
//! Playbooks are validated by walking this tree rather than by `#[derive(Deserialize)]` on the
//! final types: a task's module is a dynamic key, and every diagnostic must point at the
//! offending key or value with a caret. serde-saphyr parses (YAML 1.1 booleans, `0644` octal as
//! Ansible reads it, last duplicate key wins); this module only records spans and values.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;
use std::fmt;

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

/// Parses one YAML document into a node tree with Ansible's reading of YAML 1.1.
pub fn parse(source: &str) -> Result<Node, serde_saphyr::Error> {
    let options = serde_saphyr::options! {
        legacy_octal_numbers: true,
        duplicate_keys: serde_saphyr::options::DuplicateKeyPolicy::LastWins,
    };
    let root: Spanned<Raw> = serde_saphyr::from_str_with_options(source, options)?;
    Ok(into_node(root, source))
}

/// Deserialized value before spans are converted to byte ranges.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
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

fn into_node(raw: Spanned<Raw>, source: &str) -> Node {
    let span = span_of(&raw, source);
    let value = match raw.value {
        Raw::Null => NodeValue::Null,
        Raw::Bool(b) => NodeValue::Bool(b),
        Raw::Int(i) => NodeValue::Int(i),
        Raw::Float(f) => NodeValue::Float(f),
        Raw::Str(s) => NodeValue::Str(s),
        Raw::Seq(items) => {
            NodeValue::Seq(items.into_iter().map(|i| into_node(i, source)).collect())
        }
        Raw::Map(entries) => NodeValue::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let key_node = into_node(k, source);
                    let name = key_node
                        .scalar_text()
                        .unwrap_or_else(|| key_node.to_json().to_string());
                    let mut key_span = key_node.span;
                    if key_span.len == 0 {
                        key_span.len = name.len();
                    }
                    (
                        Key {
                            name,
                            span: key_span,
                        },
                        into_node(v, source),
                    )
                })
                .collect(),
        ),
    };
    Node { value, span }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        Ok(i64::try_from(v).map_or(Raw::Float(v as f64), Raw::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Raw>>()? {
            let value = map.next_value::<Spanned<Raw>>()?;
            entries.push((key, value));
        }
        Ok(Raw::Map(entries))
    }
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
        let root = parse("a: yes\nb: 0644\nc: '0644'\nd: 1.5\ne: ~\n").unwrap();
        assert_eq!(root.get("a").unwrap().value, NodeValue::Bool(true));
        assert_eq!(root.get("b").unwrap().value, NodeValue::Int(420));
        assert_eq!(root.get("c").unwrap().value, NodeValue::Str("0644".into()));
        assert_eq!(root.get("d").unwrap().value, NodeValue::Float(1.5));
        assert_eq!(root.get("e").unwrap().value, NodeValue::Null);
    }
}

//! YAML as Ansible reads it (PyYAML, YAML 1.1), as a tree that keeps the location of every key
//! and value, so that errors about structure (not only syntax) point at the offending line.
//! Inventories and playbooks both read through here.

use regex::Regex;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;
use std::fmt;
use std::sync::LazyLock;

/// One YAML node. Mapping entries stay in file order; duplicate keys were already resolved by
/// the parser (last wins, like Ansible).
#[derive(Debug, Clone)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    /// Keys are read as text: a host named `yes` or `10` keeps that spelling.
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl Node {
    /// What a user would call this kind of node, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Int(_) | Node::UInt(_) => "an integer",
            Node::Float(_) => "a float",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }
}

/// Converts a variable's value to JSON, typing plain scalars as Ansible (PyYAML, YAML 1.1) does.
///
/// serde-saphyr's YAML 1.1 mode is broader than PyYAML: it reads `y`/`n` as booleans and
/// `1e3` or `0o17` as numbers, where Ansible keeps the text. Such scalars are turned back into
/// their source text, read from `source` through the node's span.
pub fn to_json(node: &Spanned<Node>, source: &str) -> Value {
    match &node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => pyyaml_text(node, source, &PY_BOOL).unwrap_or(Value::Bool(*b)),
        Node::Int(i) => pyyaml_text(node, source, &PY_INT).unwrap_or_else(|| Value::from(*i)),
        Node::UInt(u) => pyyaml_text(node, source, &PY_INT).unwrap_or_else(|| Value::from(*u)),
        Node::Float(f) => pyyaml_text(node, source, &PY_FLOAT).unwrap_or_else(|| {
            // JSON has no NaN/inf: keep YAML's spelling rather than turn it into null.
            serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(yaml_float_text(*f)))
        }),
        Node::Str(s) => Value::String(s.clone()),
        Node::Seq(items) => Value::Array(items.iter().map(|i| to_json(i, source)).collect()),
        Node::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.value.clone(), to_json(v, source)))
                .collect(),
        ),
    }
}

/// serde-saphyr options matching PyYAML: `0644` is octal 420, the last duplicate key wins.
pub fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        legacy_octal_numbers: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
        // `<<` merge keys are expanded by `merge` below, in Ansible's key order.
        merge_keys: serde_saphyr::MergeKeyPolicy::AsOrdinary,
        // miette draws the snippet; the message alone is wanted.
        with_snippet: false,
    }
}

/// Parses one document; an empty one is `Null`.
pub fn parse(text: &str) -> Result<Spanned<Node>, serde_saphyr::Error> {
    if text.trim().is_empty() {
        return Ok(Spanned::new(
            Node::Null,
            serde_saphyr::Location::UNKNOWN,
            serde_saphyr::Location::UNKNOWN,
        ));
    }
    let mut root = serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options())?;
    if text.contains("!vault") {
        open_vault_values(&mut root, text)?;
    }
    Ok(root)
}

/// Replaces each `!vault`-tagged scalar with its plaintext, opened with the run's keyring
/// ([`crate::vault::keyring`]), and marks the variable holding it as sensitive. Without a
/// password (or with a wrong one) the value is an error at its location: the ciphertext is
/// never passed on as if it were the value. Returns whether any value was opened.
fn open_vault_values(node: &mut Spanned<Node>, text: &str) -> Result<bool, serde_saphyr::Error> {
    match &mut node.value {
        Node::Str(value) if is_vault_tagged(node.defined, text) => {
            let keyring = crate::vault::keyring();
            if keyring.is_empty() && crate::vault::sealed_values_shown() {
                // `drover inventory` without a password, as `ansible-inventory`: the value
                // stays sealed, shown as `{"__ansible_vault": "<vault text>"}`.
                let key =
                    Spanned::new("__ansible_vault".to_string(), node.referenced, node.defined);
                let sealed = Spanned::new(Node::Str(value.clone()), node.referenced, node.defined);
                node.value = Node::Map(vec![(key, sealed)]);
                return Ok(false);
            }
            let plain = keyring
                .open_text(value.as_bytes(), VAULT_VALUE)
                .map_err(|err| serde_saphyr::Error::Message {
                    msg: match err {
                        crate::vault::VaultError::NoPassword { .. } => format!(
                            "{err} (pass --vault-password-file FILE, --vault-id LABEL@SOURCE or \
                             --ask-vault-pass)"
                        ),
                        _ => err.to_string(),
                    },
                    location: node.defined,
                })?;
            *value = plain;
            Ok(true)
        }
        Node::Seq(items) => {
            let mut any = false;
            for item in items {
                any |= open_vault_values(item, text)?;
            }
            Ok(any)
        }
        Node::Map(entries) => {
            let mut any = false;
            for (key, value) in entries {
                if open_vault_values(value, text)? {
                    crate::sensitive::register_name(&key.value);
                    any = true;
                }
            }
            Ok(any)
        }
        _ => Ok(false),
    }
}

/// Whether a parse error is a `!vault` value that could not be opened (not a YAML mistake).
pub fn is_vault_error(message: &str) -> bool {
    message.contains(VAULT_VALUE)
}

const VAULT_VALUE: &str = "this `!vault` value";

/// Whether the scalar at `at` carries the `!vault` tag (serde-saphyr's span starts after the
/// tag and a block scalar's indicator, so the text just before it is read).
fn is_vault_tagged(at: serde_saphyr::Location, text: &str) -> bool {
    let Some(start) = at
        .span()
        .byte_offset()
        .and_then(|o| usize::try_from(o).ok())
    else {
        return false;
    };
    let before = text.get(..start).unwrap_or_default().trim_end();
    let before = before
        .trim_end_matches(|c: char| matches!(c, '|' | '>' | '+' | '-') || c.is_ascii_digit())
        .trim_end();
    before.ends_with("!vault")
}

/// A parse error's message without the position (a caret will show it), and the byte offset
/// in `text` it points at.
pub fn error_at(err: &serde_saphyr::Error, text: &str) -> (String, Option<usize>) {
    let message = err.to_string();
    let message = match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => message[..i].to_string(),
        _ => message,
    };
    let offset = err
        .location()
        .map(|loc| offset_of(text, loc.line(), loc.column()));
    (message, offset)
}

/// Byte offset of a 1-based line and a 1-based column counted in characters, clamped to the
/// text (parsers report positions this way; miette wants bytes).
pub fn offset_of(text: &str, line: u64, column: u64) -> usize {
    let line_start = text
        .split_inclusive('\n')
        .take(usize::try_from(line.saturating_sub(1)).unwrap_or(usize::MAX))
        .map(str::len)
        .sum::<usize>();
    let rest = &text[line_start..];
    let skip = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
    line_start
        + rest
            .char_indices()
            .take_while(|(_, c)| *c != '\n')
            .nth(skip)
            .map_or_else(|| rest.find('\n').unwrap_or(rest.len()), |(i, _)| i)
}

// PyYAML's implicit resolvers (yaml/resolver.py) for the types serde-saphyr may over-match.
static PY_BOOL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")
        .expect("constant regex")
});
static PY_INT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$")
        .expect("constant regex")
});
static PY_FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$").expect("constant regex")
});

/// `Some(text)` when the scalar's source text is not of the type PyYAML would give it.
fn pyyaml_text(node: &Spanned<Node>, source: &str, resolver: &Regex) -> Option<Value> {
    let span = node.defined.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    let text = source.get(start..start.checked_add(len)?)?;
    // Quoted or explicitly tagged scalars were typed on purpose; only plain ones are re-read.
    if text.is_empty() || text.starts_with(['\'', '"', '!']) {
        return None;
    }
    (!resolver.is_match(text)).then(|| Value::String(text.to_string()))
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        // Out of JSON's integer range: keep the digits rather than lose precision.
        Ok(i64::try_from(v)
            .map(Node::Int)
            .unwrap_or_else(|_| Node::Str(v.to_string())))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(u64::try_from(v)
            .map(Node::UInt)
            .unwrap_or_else(|_| Node::Str(v.to_string())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Node, E> {
        Ok(Node::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<Spanned<String>, Spanned<Node>>()? {
            entries.push(entry);
        }
        Ok(Node::Map(merge(entries)))
    }
}

/// Expands `<<` merge keys as Ansible's loader does: the merged mappings' keys come first, in
/// the order of the merges (for `<<: [*a, *b]`, `b`'s values win over `a`'s), then the
/// mapping's own keys, which win over merged ones; a key keeps the place it first took.
fn merge(entries: Vec<(Spanned<String>, Spanned<Node>)>) -> Vec<(Spanned<String>, Spanned<Node>)> {
    if !entries.iter().any(|(k, _)| k.value == "<<") {
        return entries;
    }
    let mut out: Vec<(Spanned<String>, Spanned<Node>)> = Vec::new();
    let mut put = |key: Spanned<String>, value: Spanned<Node>| match out
        .iter_mut()
        .find(|(k, _)| k.value == key.value)
    {
        Some(slot) => slot.1 = value,
        None => out.push((key, value)),
    };
    let (merges, own): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(k, _)| k.value == "<<");
    for (key, value) in merges {
        let sources = match value.value {
            Node::Map(inner) => vec![inner],
            Node::Seq(items) => items
                .into_iter()
                .filter_map(|item| match item.value {
                    Node::Map(inner) => Some(inner),
                    _ => None,
                })
                .collect(),
            // Not a mapping to merge: PyYAML would refuse it; keep it as an ordinary key.
            other => {
                put(key, Spanned::new(other, value.referenced, value.defined));
                continue;
            }
        };
        for source in sources {
            for (k, v) in source {
                put(k, v);
            }
        }
    }
    for (k, v) in own {
        put(k, v);
    }
    out
}

fn yaml_float_text(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_string()
    } else if f > 0.0 {
        ".inf".to_string()
    } else {
        "-.inf".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_and_json(text: &str) -> String {
        let node = parse(text).expect("yaml");
        to_json(&node, text).to_string()
    }

    #[test]
    fn vault_values_are_opened_or_refused_never_passed_on() {
        let sealed = crate::vault::format::encrypt(b"tagged-pw", b"pw", None);
        let indented: String = sealed.lines().map(|l| format!("  {l}\n")).collect();
        let text = format!(
            "plain: x\nunit_vault_pw: !vault |\n{indented}unit_vault_list:\n  - !vault |\n{}\n",
            indented.replace("  ", "      ")
        );
        crate::vault::install(crate::vault::Keyring::default());
        let err = parse(&text).unwrap_err();
        let (message, offset) = error_at(&err, &text);
        assert!(message.contains("no vault password was given"), "{message}");
        assert_eq!(offset, Some(text.find("$ANSIBLE").unwrap()));
        crate::vault::install(crate::vault::Keyring::new(vec![crate::vault::Secret::new(
            "default", "pw",
        )]));
        let json = keys_and_json(&text);
        crate::vault::install(crate::vault::Keyring::default());
        assert_eq!(
            json,
            r#"{"plain":"x","unit_vault_pw":"tagged-pw","unit_vault_list":["tagged-pw"]}"#
        );
        assert!(crate::sensitive::reads_secret("{{ unit_vault_pw }}"));
        assert_eq!(crate::sensitive::redact("a tagged-pw b"), "a ******** b");
    }

    #[test]
    fn merge_keys_give_ansibles_key_order_and_values() {
        // What ansible-core 2.19 loads for the same text (checked with to_json).
        let text = "base: &b {port: 80, workers: 2, level: info}\ntune: &t {workers: 8, keep: 65}\n\
                    web: {<<: *b, name: web, port: 8080}\napi: {name: api, <<: [*t, *b]}\n\
                    job: {level: debug, <<: *b, name: job}\n";
        let json = keys_and_json(text);
        assert!(
            json.contains(r#""web":{"port":8080,"workers":2,"level":"info","name":"web"}"#),
            "{json}"
        );
        assert!(
            json.contains(r#""api":{"workers":2,"keep":65,"port":80,"level":"info","name":"api"}"#),
            "{json}"
        );
        assert!(
            json.contains(r#""job":{"port":80,"workers":2,"level":"debug","name":"job"}"#),
            "{json}"
        );
    }
}

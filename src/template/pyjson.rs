//! JSON text as Python's `json.dumps` writes it, which is what Ansible's `to_json` and
//! `to_nice_json` produce: `", "` and `": "` separators (`","` when indented), non-ASCII
//! escaped as `\uXXXX`, and for `to_nice_json` four-space indents and sorted keys. Files
//! rendered with these filters must be byte-identical to Ansible's.

use serde_json::Value;

pub struct Style {
    pub indent: Option<usize>,
    pub sort_keys: bool,
}

pub fn dumps(value: &Value, style: &Style) -> String {
    let mut out = String::new();
    write(value, style, 0, &mut out);
    out
}

fn write(value: &Value, style: &Style, depth: usize, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => string(s, out),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                separate(i, style, depth + 1, out);
                write(item, style, depth + 1, out);
            }
            close(style, depth, out);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            if style.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                separate(i, style, depth + 1, out);
                string(key, out);
                out.push_str(": ");
                write(item, style, depth + 1, out);
            }
            close(style, depth, out);
            out.push('}');
        }
    }
}

/// Before the `i`th item: the item separator (not before the first) and the indent.
fn separate(i: usize, style: &Style, depth: usize, out: &mut String) {
    match style.indent {
        Some(width) => {
            if i > 0 {
                out.push(',');
            }
            out.push('\n');
            out.push_str(&" ".repeat(width * depth));
        }
        None if i > 0 => out.push_str(", "),
        None => {}
    }
}

fn close(style: &Style, depth: usize, out: &mut String) {
    if let Some(width) = style.indent {
        out.push('\n');
        out.push_str(&" ".repeat(width * depth));
    }
}

/// Integers as they are; floats as Python's `repr` (`1.0`, `0.5`, `1e+20`).
fn number(n: &serde_json::Number) -> String {
    if n.is_f64() {
        let f = n.as_f64().unwrap_or_default();
        if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
            return format!("{f:.1}");
        }
    }
    n.to_string()
}

fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_uses_pythons_separators_and_escapes_non_ascii() {
        let v = json!({"b": [1, 2.0, "é"], "a": null});
        let style = Style {
            indent: None,
            sort_keys: false,
        };
        assert_eq!(dumps(&v, &style), r#"{"b": [1, 2.0, "\u00e9"], "a": null}"#);
    }

    #[test]
    fn nice_sorts_keys_and_indents_by_four() {
        let v = json!({"b": {"y": [], "x": [true]}, "a": 1});
        let style = Style {
            indent: Some(4),
            sort_keys: true,
        };
        assert_eq!(
            dumps(&v, &style),
            "{\n    \"a\": 1,\n    \"b\": {\n        \"x\": [\n            true\n        ],\n        \"y\": []\n    }\n}"
        );
    }
}

//! YAML text as PyYAML's `yaml.dump` writes it, which is what Ansible's `to_yaml` and
//! `to_nice_yaml` produce: keys sorted, sequences in a mapping not indented, a collection
//! of scalars in flow style (`{a: 1}`) unless `default_flow_style=False` (`to_nice_yaml`),
//! strings quoted only when a plain scalar would read as something else, long plain and
//! single-quoted scalars folded at 80 columns, and a bare scalar document ended by `...`.
//! Files rendered with these filters must be byte-identical to Ansible's.

use serde_json::Value;

pub struct Style {
    pub indent: usize,
    /// `default_flow_style`: `None` writes collections of scalars in flow style.
    pub flow: Option<bool>,
    pub sort_keys: bool,
    pub width: usize,
}

pub fn dump(value: &Value, style: &Style) -> String {
    let mut out = Writer {
        style,
        text: String::new(),
        column: 0,
    };
    match value {
        Value::Array(items) if !items.is_empty() && !out.flow_for(value) => {
            out.sequence(items, 0, true);
            out.newline();
        }
        Value::Object(map) if !map.is_empty() && !out.flow_for(value) => {
            out.mapping(map, 0, true);
            out.newline();
        }
        Value::Array(_) | Value::Object(_) => {
            out.flow(value, style.indent);
            out.newline();
        }
        scalar => {
            out.scalar(scalar, style.indent, false);
            // (PyYAML ends it with `...`, which Ansible's filter strips.)
            out.newline();
        }
    }
    out.text
}

struct Writer<'a> {
    style: &'a Style,
    text: String,
    column: usize,
}

impl Writer<'_> {
    fn write(&mut self, s: &str) {
        self.text.push_str(s);
        match s.rfind('\n') {
            Some(i) => self.column = s[i + 1..].chars().count(),
            None => self.column += s.chars().count(),
        }
    }

    fn newline(&mut self) {
        self.text.push('\n');
        self.column = 0;
    }

    fn indent_to(&mut self, indent: usize) {
        if !self.text.is_empty() {
            self.newline();
        }
        self.write(&" ".repeat(indent));
    }

    fn is_scalar(value: &Value) -> bool {
        !matches!(value, Value::Array(_) | Value::Object(_))
    }

    /// Whether a non-empty collection is written in flow style.
    fn flow_for(&self, value: &Value) -> bool {
        match self.style.flow {
            Some(flow) => flow,
            None => match value {
                Value::Array(items) => items.iter().all(Self::is_scalar),
                Value::Object(map) => map.values().all(Self::is_scalar),
                _ => true,
            },
        }
    }

    fn keys<'m>(&self, map: &'m serde_json::Map<String, Value>) -> Vec<&'m String> {
        let mut keys: Vec<&String> = map.keys().collect();
        if self.style.sort_keys {
            keys.sort();
        }
        keys
    }

    /// A block mapping whose entries start at column `indent` (the first on the current line
    /// when something, `- `, is already written there).
    fn mapping(&mut self, map: &serde_json::Map<String, Value>, indent: usize, inline: bool) {
        for (i, key) in self.keys(map).into_iter().enumerate() {
            if i > 0 || !inline {
                self.indent_to(indent);
            }
            self.scalar(&Value::String(key.clone()), indent, false);
            self.write(":");
            let value = &map[key];
            self.value(value, indent);
        }
    }

    /// A block sequence whose items start at column `indent`.
    fn sequence(&mut self, items: &[Value], indent: usize, inline: bool) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 || !inline {
                self.indent_to(indent);
            }
            self.write("-");
            let inner = indent + self.style.indent;
            match item {
                Value::Array(inner_items) if !inner_items.is_empty() && !self.flow_for(item) => {
                    self.write(&" ".repeat(self.style.indent - 1));
                    self.sequence(inner_items, inner, true);
                }
                Value::Object(map) if !map.is_empty() && !self.flow_for(item) => {
                    self.write(&" ".repeat(self.style.indent - 1));
                    self.mapping(map, inner, true);
                }
                _ => {
                    self.write(" ");
                    self.inline(item, inner);
                }
            }
        }
    }

    /// A mapping's value after `key:`.
    fn value(&mut self, value: &Value, indent: usize) {
        match value {
            // PyYAML does not indent a sequence that is a mapping's value.
            Value::Array(items) if !items.is_empty() && !self.flow_for(value) => {
                self.sequence(items, indent, false);
            }
            Value::Object(map) if !map.is_empty() && !self.flow_for(value) => {
                self.mapping(map, indent + self.style.indent, false);
            }
            _ => {
                self.write(" ");
                self.inline(value, indent + self.style.indent);
            }
        }
    }

    /// A scalar or a flow collection where a value goes.
    fn inline(&mut self, value: &Value, indent: usize) {
        match value {
            Value::Array(_) | Value::Object(_) => self.flow(value, indent),
            scalar => self.scalar(scalar, indent, false),
        }
    }

    /// A flow collection whose own indentation is `indent` (its scalars continue one step
    /// further in, as PyYAML indents them).
    fn flow(&mut self, value: &Value, indent: usize) {
        let inner = indent + self.style.indent;
        match value {
            Value::Array(items) => {
                self.write("[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.write(", ");
                    }
                    self.flow_item(item, indent);
                }
                self.write("]");
            }
            Value::Object(map) => {
                self.write("{");
                for (i, key) in self.keys(map).into_iter().enumerate() {
                    if i > 0 {
                        self.write(", ");
                    }
                    if self.column > self.style.width {
                        self.indent_to(indent);
                    }
                    self.scalar(&Value::String(key.clone()), inner, true);
                    self.write(": ");
                    match &map[key] {
                        v @ (Value::Array(_) | Value::Object(_)) => self.flow(v, inner),
                        v => self.scalar(v, inner, true),
                    }
                }
                self.write("}");
            }
            scalar => self.scalar(scalar, inner, true),
        }
    }

    fn flow_item(&mut self, value: &Value, indent: usize) {
        // PyYAML breaks a flow collection's line once it passes the width.
        if self.column > self.style.width {
            self.indent_to(indent);
        }
        let inner = indent + self.style.indent;
        match value {
            Value::Array(_) | Value::Object(_) => self.flow(value, inner),
            scalar => self.scalar(scalar, inner, true),
        }
    }

    fn scalar(&mut self, value: &Value, indent: usize, in_flow: bool) {
        match value {
            Value::Null => self.write("null"),
            Value::Bool(b) => self.write(if *b { "true" } else { "false" }),
            Value::Number(n) => self.write(&number(n)),
            Value::String(s) => match scalar_style(s, in_flow) {
                ScalarStyle::Plain => self.folded(s, indent, None),
                ScalarStyle::Single => self.folded(s, indent, Some('\'')),
                ScalarStyle::Double => self.write(&double_quoted(s)),
            },
            _ => {}
        }
    }

    /// A plain or single-quoted scalar, its spaces turned into line breaks past the width.
    fn folded(&mut self, s: &str, indent: usize, quote: Option<char>) {
        if let Some(q) = quote {
            self.write(&q.to_string());
        }
        let words: Vec<&str> = s.split(' ').collect();
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                let lone_space = !word.is_empty() && !words[i - 1].is_empty();
                if lone_space && self.column > self.style.width {
                    self.indent_to(indent);
                } else {
                    self.write(" ");
                }
            }
            let word = match quote {
                Some(_) => word
                    .replace('\'', "''")
                    .replace('\n', &format!("\n\n{}", " ".repeat(indent))),
                None => word.to_string(),
            };
            self.write(&word);
        }
        if let Some(q) = quote {
            self.write(&q.to_string());
        }
    }
}

fn number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    // Python's repr, with PyYAML's `e+XX` exponent.
    let text = if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f:?}")
    };
    match text.split_once('e') {
        Some((m, e)) => {
            let m = if m.contains('.') {
                m.to_string()
            } else {
                format!("{m}.0")
            };
            let e = if e.starts_with('-') || e.starts_with('+') {
                e.to_string()
            } else {
                format!("+{e}")
            };
            format!("{m}e{e}")
        }
        None => text,
    }
}

enum ScalarStyle {
    Plain,
    Single,
    Double,
}

/// PyYAML's `choose_scalar_style` for a string, from `analyze_scalar`.
fn scalar_style(s: &str, in_flow: bool) -> ScalarStyle {
    if s.chars().any(|c| {
        !(c == '\n'
            || c == '\t'
            || (' '..='~').contains(&c)
            || (c as u32 >= 0xA0 && c != '\u{FEFF}'))
    }) {
        return ScalarStyle::Double;
    }
    if plain_allowed(s, in_flow) && !resolves_to_other_type(s) {
        return ScalarStyle::Plain;
    }
    // Single quotes cannot hold a leading or trailing line break or a space before a break.
    if s.starts_with('\n') || s.ends_with('\n') || s.contains(" \n") || s.contains("\n ") {
        return ScalarStyle::Double;
    }
    ScalarStyle::Single
}

fn plain_allowed(s: &str, in_flow: bool) -> bool {
    if s.is_empty() || s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) || s.contains('\n') {
        return false;
    }
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next_space = chars.get(i + 1).is_none_or(|n| *n == ' ' || *n == '\t');
        let first = i == 0;
        if first {
            if "#,[]{}&*!|>'\"%@`".contains(c) {
                return false;
            }
            if "?:-".contains(c) && next_space {
                return false;
            }
        } else {
            if ",?[]{}".contains(c) && in_flow {
                return false;
            }
            if c == ':' && next_space {
                return false;
            }
            if c == '#' && chars[i - 1] == ' ' {
                return false;
            }
        }
    }
    true
}

/// Whether PyYAML's resolver would read the plain text as a bool, number, null, date, …
fn resolves_to_other_type(s: &str) -> bool {
    const PATTERNS: &[&str] = &[
        r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        r"^(?:~|null|Null|NULL)$",
        r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
        r"^(?:<<|=)$",
    ];
    PATTERNS
        .iter()
        .any(|p| regex::Regex::new(p).is_ok_and(|re| re.is_match(s)))
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02X}", c as u32))
            }
            '\u{FEFF}' => out.push_str("\\uFEFF"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(v: Value) -> String {
        dump(
            &v,
            &Style {
                indent: 2,
                flow: None,
                sort_keys: true,
                width: 80,
            },
        )
    }

    fn nice(v: Value) -> String {
        dump(
            &v,
            &Style {
                indent: 4,
                flow: Some(false),
                sort_keys: true,
                width: 80,
            },
        )
    }

    #[test]
    fn pyyaml_layouts() {
        // Each as PyYAML 6 dumps it (Ansible 2.19's to_yaml / to_nice_yaml).
        let v = json!(["this is a list element", {"this": "x", "warp": 9, "templated": 1}]);
        assert_eq!(
            yaml(v.clone()),
            "- this is a list element\n- {templated: 1, this: x, warp: 9}\n"
        );
        assert_eq!(
            nice(v),
            "- this is a list element\n-   templated: 1\n    this: x\n    warp: 9\n"
        );
        assert_eq!(
            yaml(json!({"b": [1, {"c": [2]}], "a": "yes"})),
            "a: 'yes'\nb:\n- 1\n- c: [2]\n"
        );
        assert_eq!(
            nice(json!({"a": {"b": [1, 2]}})),
            "a:\n    b:\n    - 1\n    - 2\n"
        );
        assert_eq!(yaml(json!("abc")), "abc\n");
        let long = "word ".repeat(30);
        assert_eq!(
            yaml(json!({"a": {"long": long, "x": [1]}})),
            format!(
                "a:\n  long: '{}\n    {}'\n  x: [1]\n",
                "word ".repeat(15).trim_end(),
                "word ".repeat(15)
            )
        );
        assert_eq!(
            yaml(json!([long])),
            format!(
                "['{}\n    {}']\n",
                "word ".repeat(16).trim_end(),
                "word ".repeat(14)
            )
        );
        assert_eq!(
            nice(json!({"a": [{"b": "a\nb"}]})),
            "a:\n-   b: 'a\n\n        b'\n"
        );
        assert_eq!(
            yaml(json!({"l": ["a,b", "[x"], "q": "?x", "s": "x #y", "u": "a:b", "w": "1.0"})),
            "l: ['a,b', '[x']\nq: ?x\ns: 'x #y'\nu: a:b\nw: '1.0'\n"
        );
        assert_eq!(nice(json!([[1, 2], [3]])), "-   - 1\n    - 2\n-   - 3\n");
        assert_eq!(yaml(json!({"x": 1e20, "y": 0.1})), "{x: 1.0e+20, y: 0.1}\n");
        assert_eq!(yaml(json!({})), "{}\n");
        assert_eq!(
            yaml(json!({"k": "a: b", "n": null, "e": ""})),
            "{e: '', k: 'a: b', n: null}\n"
        );
        assert_eq!(nice(json!({"k": "it's", "f": 1.5})), "f: 1.5\nk: it's\n");
        assert_eq!(nice(json!({"k": "- x"})), "k: '- x'\n");
    }
}

//! Values in INI inventories, read the way Ansible reads them: `ast.literal_eval` first, the
//! raw text when that fails. So `5` is an int, `1.5` a float, `True`/`False` booleans,
//! `None` null, `'x'`/`"x"` strings, `[..]`/`(..)`/`{..}` lists and dicts, and anything
//! else (`yes`, `web01`, `a b`) stays the text as written. What Ansible 2.19 converts after
//! `literal_eval` is converted the same way: tuples and sets (`{1, 2}`, `set()`) become
//! lists, bytes (`b'x'`) text, and `...` and complex numbers (`1j`) their text.

use serde_json::{Map, Number, Value};

/// Ansible's `_parse_value`: a Python literal if the whole text is one, else the text.
pub(crate) fn parse_value(text: &str) -> Value {
    let mut parser = Parser {
        s: text.as_bytes(),
        text,
        pos: 0,
    };
    match parser.whole() {
        Some(value) => value,
        None => Value::String(text.to_string()),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    /// One expression, then only whitespace or a `#` comment (Python's tokenizer drops those).
    fn whole(&mut self) -> Option<Value> {
        self.skip_space();
        let value = self.value()?;
        self.skip_space();
        if self.peek() == Some(b'#') || self.pos == self.s.len() {
            Some(value)
        } else {
            None
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_space();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Value> {
        self.skip_space();
        match self.peek()? {
            b'[' => {
                self.pos += 1;
                self.sequence(b']').map(Value::Array)
            }
            // Tuples become lists, as they do when Ansible serialises them.
            b'(' => {
                self.pos += 1;
                self.sequence(b')').map(Value::Array)
            }
            b'{' => {
                self.pos += 1;
                self.dict()
            }
            b'\'' | b'"' => self.strings(),
            b'r' | b'R' | b'u' | b'U' | b'b' | b'B'
                if matches!(self.s.get(self.pos + 1), Some(b'\'' | b'"')) =>
            {
                self.strings()
            }
            b'b' | b'B' | b'r' | b'R'
                if matches!(self.s.get(self.pos + 1), Some(b'r' | b'R' | b'b' | b'B'))
                    && matches!(self.s.get(self.pos + 2), Some(b'\'' | b'"')) =>
            {
                self.strings()
            }
            b'.' if self.s[self.pos..].starts_with(b"...") => {
                self.pos += 3;
                Some(Value::String("...".to_string()))
            }
            b'-' | b'+' => {
                let negative = self.peek() == Some(b'-');
                self.pos += 1;
                let value = self.value()?;
                match value {
                    Value::Number(n) if negative => negate(&n),
                    Value::Number(n) => Some(Value::Number(n)),
                    _ => None,
                }
            }
            b'0'..=b'9' | b'.' => self.number(),
            _ => self.name(),
        }
    }

    fn sequence(&mut self, close: u8) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.value()?);
            if !self.eat(b',') {
                return self.eat(close).then_some(items);
            }
        }
    }

    fn dict(&mut self) -> Option<Value> {
        let mut map = Map::new();
        let mut first = true;
        loop {
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            let item = self.value()?;
            if first && !self.eat(b':') {
                // `{1, 2}` is a set: a list once Ansible has read it.
                let mut items = vec![item];
                if !self.eat(b',') {
                    return self.eat(b'}').then_some(Value::Array(items));
                }
                items.extend(self.sequence(b'}')?);
                return Some(Value::Array(items));
            }
            if !first && !self.eat(b':') {
                return None;
            }
            first = false;
            let key = match item {
                Value::String(s) => s,
                // Python allows any hashable key; JSON needs text.
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => if b { "True" } else { "False" }.to_string(),
                Value::Null => "None".to_string(),
                Value::Array(_) | Value::Object(_) => return None,
            };
            let value = self.value()?;
            map.insert(key, value);
            if !self.eat(b',') {
                return self.eat(b'}').then_some(Value::Object(map));
            }
        }
    }

    /// Adjacent string literals concatenate, as in Python (`'a' "b"` is `ab`).
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        loop {
            self.skip_space();
            let start = self.pos;
            let mut raw = false;
            while let Some(c @ (b'r' | b'R' | b'u' | b'U' | b'b' | b'B')) = self.peek() {
                if self.pos - start >= 2 {
                    break;
                }
                raw |= matches!(c, b'r' | b'R');
                self.pos += 1;
            }
            match self.peek() {
                Some(q @ (b'\'' | b'"')) => out.push_str(&self.string(q, raw)?),
                _ => {
                    self.pos = start;
                    break;
                }
            }
        }
        Some(Value::String(out))
    }

    fn string(&mut self, quote: u8, raw: bool) -> Option<String> {
        let triple = self.s[self.pos..].starts_with(&[quote, quote, quote]);
        let delimiter_len = if triple { 3 } else { 1 };
        self.pos += delimiter_len;
        let mut out = String::new();
        let rest = &self.text[self.pos..];
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == quote as char {
                let closes = !triple || rest[i..].starts_with(&[quote as char; 3][..]);
                if closes {
                    self.pos += i + delimiter_len;
                    return Some(out);
                }
                out.push(c);
            } else if c == '\n' && !triple {
                return None;
            } else if c == '\\' {
                let (_, next) = chars.next()?;
                if raw {
                    out.push('\\');
                    out.push(next);
                    continue;
                }
                match next {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    'a' => out.push('\u{7}'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '\\' | '\'' | '"' => out.push(next),
                    '\n' => {}
                    'x' | 'u' | 'U' => {
                        let digits = match next {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut code = 0u32;
                        for _ in 0..digits {
                            let (_, d) = chars.next()?;
                            code = code * 16 + d.to_digit(16)?;
                        }
                        out.push(char::from_u32(code)?);
                    }
                    // Python keeps unknown escapes as written.
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
            } else {
                out.push(c);
            }
        }
        None
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let exponent_sign = matches!(c, b'+' | b'-')
                && matches!(self.s.get(self.pos.wrapping_sub(1)), Some(b'e' | b'E'))
                && !self.text[start..self.pos].starts_with("0x")
                && !self.text[start..self.pos].starts_with("0X");
            if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || exponent_sign {
                self.pos += 1;
            } else {
                break;
            }
        }
        let token = &self.text[start..self.pos];
        if let Some(real) = token.strip_suffix(['j', 'J'])
            && !real.is_empty()
            && real
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'e' | b'E'))
        {
            // A complex number: its text (Ansible's fallback for what JSON cannot hold).
            return Some(Value::String(token.to_string()));
        }
        if token.starts_with('_') || token.ends_with('_') || token.contains("__") {
            return None;
        }
        let digits = token.replace('_', "");
        let lower = digits.to_ascii_lowercase();
        let radix_int = |prefix: &str, radix: u32| {
            lower
                .strip_prefix(prefix)
                .and_then(|d| i64::from_str_radix(d, radix).ok())
        };
        if let Some(n) = radix_int("0x", 16)
            .or_else(|| radix_int("0o", 8))
            .or_else(|| radix_int("0b", 2))
        {
            return Some(Value::from(n));
        }
        if lower.bytes().all(|b| b.is_ascii_digit()) {
            // Python 3 rejects `012` (a syntax error) but accepts `0` and `00`.
            if lower.len() > 1 && lower.starts_with('0') && lower.bytes().any(|b| b != b'0') {
                return None;
            }
            return match lower.parse::<i64>() {
                Ok(n) => Some(Value::from(n)),
                // Bigger than JSON's integers: u64 still fits, beyond that keep the text.
                Err(_) => lower.parse::<u64>().ok().map(Value::from),
            };
        }
        let float_shaped = lower
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'));
        if float_shaped && lower.bytes().any(|b| b.is_ascii_digit()) {
            return lower
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number);
        }
        None
    }

    fn name(&mut self) -> Option<Value> {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
            self.pos += 1;
        }
        match &self.text[start..self.pos] {
            "set" if self.eat(b'(') => self.eat(b')').then(|| Value::Array(Vec::new())),
            "True" => Some(Value::Bool(true)),
            "False" => Some(Value::Bool(false)),
            "None" => Some(Value::Null),
            _ => None,
        }
    }
}

fn negate(n: &Number) -> Option<Value> {
    if let Some(i) = n.as_i64() {
        return i.checked_neg().map(Value::from);
    }
    n.as_f64()
        .and_then(|f| Number::from_f64(-f))
        .map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::parse_value;
    use serde_json::json;

    #[test]
    fn scalars_follow_python_literal_rules() {
        assert_eq!(parse_value("5"), json!(5));
        assert_eq!(parse_value("-5"), json!(-5));
        assert_eq!(parse_value("1_000"), json!(1000));
        assert_eq!(parse_value("0x1F"), json!(31));
        assert_eq!(parse_value("1.5"), json!(1.5));
        assert_eq!(parse_value("1e3"), json!(1000.0));
        assert_eq!(parse_value("True"), json!(true));
        assert_eq!(parse_value("False"), json!(false));
        assert_eq!(parse_value("None"), json!(null));
        assert_eq!(parse_value("'quoted value'"), json!("quoted value"));
        assert_eq!(parse_value("\"5\""), json!("5"));
        assert_eq!(parse_value("'a' \"b\""), json!("ab"));
        assert_eq!(parse_value(r"'tab\there'"), json!("tab\there"));
    }

    #[test]
    fn anything_else_stays_text() {
        for text in [
            "yes", "no", "true", "web01", "a b", "", "0644", "1.2.3.4", "5 # c", "inf", "'open",
        ] {
            if text == "5 # c" {
                // A literal followed by a comment is still the literal (Python drops comments).
                assert_eq!(parse_value(text), json!(5));
            } else {
                assert_eq!(parse_value(text), json!(text), "{text}");
            }
        }
    }

    #[test]
    fn containers() {
        assert_eq!(parse_value("[1, 'a', True]"), json!([1, "a", true]));
        assert_eq!(parse_value("(1, 2)"), json!([1, 2]));
        assert_eq!(parse_value("{'a': 1, 'b': [2]}"), json!({"a": 1, "b": [2]}));
        // What Ansible 2.19 converts after literal_eval: sets and tuples to lists, bytes to
        // text, `...` and complex numbers to their text.
        assert_eq!(parse_value("{1, 2}"), json!([1, 2]));
        assert_eq!(parse_value("set()"), json!([]));
        assert_eq!(
            parse_value("[..., 1j, set(), {1, 2}, b'x']"),
            json!(["...", "1j", [], [1, 2], "x"])
        );
        assert_eq!(parse_value("b'single'"), json!("single"));
        assert_eq!(parse_value("[1, 2"), json!("[1, 2"));
    }
}

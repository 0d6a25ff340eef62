//! The `sequence` lookup (`with_sequence`): numbers as formatted strings, from
//! `start=1 end=5 stride=2 format=host%02d`, `count=3`, or the shortcut
//! `[start-]end[/stride][:format]`. Keyword options apply to every term; a term's own
//! values win over them. Messages are ansible-core 2.19's.

use super::{Call, Found, LookupError, failed, text};
use minijinja::Value;

/// At most this many numbers from one term, so a typo cannot exhaust memory.
const MAX_SEQUENCE: i64 = 1_000_000;

const FIELDS: &[&str] = &["start", "end", "stride", "count", "format"];

#[derive(Clone, Default)]
struct Spec {
    start: Option<String>,
    end: Option<String>,
    stride: Option<String>,
    count: Option<String>,
    format: Option<String>,
}

impl Spec {
    fn set(&mut self, key: &str, value: String) {
        match key {
            "start" => self.start = Some(value),
            "end" => self.end = Some(value),
            "stride" => self.stride = Some(value),
            "count" => self.count = Some(value),
            _ => self.format = Some(value),
        }
    }
}

pub(super) fn run(call: &Call, terms: &[Value]) -> Found {
    let mut defaults = Spec::default();
    let mut any = false;
    for key in FIELDS {
        if let Some(v) = call.option(key)? {
            defaults.set(key, text(&v));
            any = true;
        }
    }
    let terms: Vec<String> = if terms.is_empty() && any {
        vec![String::new()]
    } else {
        terms.iter().map(text).collect()
    };
    let mut out = Vec::new();
    for term in &terms {
        let mut spec = defaults.clone();
        if !shortcut(term, &mut spec) {
            let (raw, options) = super::parse_kv(term);
            let mut unknown: Vec<String> = Vec::new();
            if let Some(raw) = raw {
                unknown.push("_raw_params".into());
                let _ = raw;
            }
            for (key, value) in options {
                if FIELDS.contains(&key.as_str()) {
                    spec.set(&key, value);
                } else {
                    unknown.push(key);
                }
            }
            if !unknown.is_empty() {
                return Err(failed(format!(
                    "unrecognized arguments to with_sequence: [{}]",
                    unknown
                        .iter()
                        .map(|k| format!("'{k}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        out.extend(generate(&spec)?.into_iter().map(Value::from));
    }
    Ok(out)
}

/// The shortcut form `[start-]end[/stride][:format]` (numbers as `0?x?[0-9a-f]+`).
fn shortcut(term: &str, spec: &mut Spec) -> bool {
    let re =
        regex::Regex::new(r"(?i)^((0?x?[0-9a-f]+)-)?(0?x?[0-9a-f]+)(/(0?x?[0-9a-f]+))?(:(.+))?$");
    let Some(caps) = re.ok().and_then(|re| re.captures(term)) else {
        return false;
    };
    let group = |i: usize| caps.get(i).map(|m| m.as_str().to_string());
    if let Some(start) = group(2) {
        spec.start = Some(start);
    }
    if let Some(end) = group(3) {
        spec.end = Some(end);
    }
    if let Some(stride) = group(5) {
        spec.stride = Some(stride);
    }
    if let Some(format) = group(7) {
        spec.format = Some(format);
    }
    true
}

/// An integer option as Ansible's config reads one: a decimal number (`"05"`, `"3.0"`).
fn integer(name: &str, value: &Option<String>) -> Result<Option<i64>, LookupError> {
    let Some(text) = value else {
        return Ok(None);
    };
    let t = text.trim();
    let parsed = t.parse::<i64>().ok().or_else(|| {
        t.parse::<f64>()
            .ok()
            .filter(|f| f.fract() == 0.0 && f.is_finite())
            .map(|f| f as i64)
    });
    parsed.map(Some).ok_or_else(|| {
        failed(format!(
            "Config sequence option '{name}' from {text:?} has an invalid value."
        ))
    })
}

fn generate(spec: &Spec) -> Result<Vec<String>, LookupError> {
    let start = integer("start", &spec.start)?.unwrap_or(1);
    let stride = integer("stride", &spec.stride)?.unwrap_or(1);
    let count = integer("count", &spec.count)?;
    let end = integer("end", &spec.end)?;
    let format = spec.format.clone().unwrap_or_else(|| "%d".to_string());
    let end = match (count, end) {
        (None, None) => return Err(failed("must specify count or end in with_sequence")),
        (Some(_), Some(_)) => {
            return Err(failed("can't specify both count and end in with_sequence"));
        }
        (Some(0), None) => return Ok(Vec::new()),
        (Some(count), None) => start + count * stride - 1,
        (None, Some(end)) => end,
    };
    if stride > 0 && end < start {
        return Err(failed("to count backwards make stride negative"));
    }
    if stride < 0 && end > start {
        return Err(failed("to count forward don't make stride negative"));
    }
    if stride == 0 {
        return Ok(Vec::new());
    }
    if format.matches('%').count() != 1 {
        return Err(failed(format!("bad formatting string: {format}")));
    }
    // Python's range(start, end + adjust, stride).
    let stop = if stride > 0 { end + 1 } else { end - 1 };
    if (stop - start) / stride > MAX_SEQUENCE {
        return Err(failed(format!(
            "the sequence has more than {MAX_SEQUENCE} numbers"
        )));
    }
    let mut out = Vec::new();
    let mut n = start;
    while (stride > 0 && n < stop) || (stride < 0 && n > stop) {
        out.push(
            printf(&format, n)
                .ok_or_else(|| failed(format!("problem formatting {n} with '{format}'")))?,
        );
        n += stride;
    }
    Ok(out)
}

/// Python's `format % n` for a format with one conversion:
/// `%[flags][width][.precision](d|i|u|o|x|X|s|r|c|f|F)`.
fn printf(format: &str, n: i64) -> Option<String> {
    let at = format.find('%')?;
    let (before, spec) = (&format[..at], &format[at + 1..]);
    let mut chars = spec.char_indices().peekable();
    let (mut left, mut zero, mut plus, mut space, mut alt) = (false, false, false, false, false);
    while let Some((_, c)) = chars.peek().copied() {
        match c {
            '-' => left = true,
            '0' => zero = true,
            '+' => plus = true,
            ' ' => space = true,
            '#' => alt = true,
            _ => break,
        }
        chars.next();
    }
    let mut width = String::new();
    while let Some((_, c)) = chars.peek().copied().filter(|(_, c)| c.is_ascii_digit()) {
        width.push(c);
        chars.next();
    }
    let mut precision: Option<usize> = None;
    if chars.peek().is_some_and(|(_, c)| *c == '.') {
        chars.next();
        let mut digits = String::new();
        while let Some((_, c)) = chars.peek().copied().filter(|(_, c)| c.is_ascii_digit()) {
            digits.push(c);
            chars.next();
        }
        precision = Some(digits.parse().unwrap_or(0));
    }
    let (i, conversion) = chars.next()?;
    let after = &spec[i + conversion.len_utf8()..];
    let sign = if n < 0 {
        "-"
    } else if plus {
        "+"
    } else if space {
        " "
    } else {
        ""
    };
    let magnitude = n.unsigned_abs();
    let (prefix, mut digits) = match conversion {
        'd' | 'i' | 'u' => ("", magnitude.to_string()),
        'o' => (if alt { "0o" } else { "" }, format!("{magnitude:o}")),
        'x' => (if alt { "0x" } else { "" }, format!("{magnitude:x}")),
        'X' => (if alt { "0X" } else { "" }, format!("{magnitude:X}")),
        'f' | 'F' => (
            "",
            format!("{:.*}", precision.unwrap_or(6), magnitude as f64),
        ),
        's' | 'r' => {
            let text = n.to_string();
            let text = match precision {
                Some(p) => text.chars().take(p).collect(),
                None => text,
            };
            return Some(format!(
                "{before}{}{after}",
                pad(&text, &width, left, false)
            ));
        }
        'c' => {
            let c = char::from_u32(u32::try_from(n).ok()?)?;
            return Some(format!(
                "{before}{}{after}",
                pad(&c.to_string(), &width, left, false)
            ));
        }
        _ => return None,
    };
    if let (Some(p), 'd' | 'i' | 'u' | 'o' | 'x' | 'X') = (precision, conversion)
        && digits.len() < p
    {
        digits = format!("{}{digits}", "0".repeat(p - digits.len()));
    }
    let body = format!("{sign}{prefix}{digits}");
    let width_n: usize = width.parse().unwrap_or(0);
    let body = if zero && !left && body.len() < width_n {
        format!("{sign}{prefix}{}{digits}", "0".repeat(width_n - body.len()))
    } else {
        pad(&body, &width, left, false)
    };
    Some(format!("{before}{body}{after}"))
}

fn pad(text: &str, width: &str, left: bool, _zero: bool) -> String {
    let width: usize = width.parse().unwrap_or(0);
    let len = text.chars().count();
    if len >= width {
        return text.to_string();
    }
    let fill = " ".repeat(width - len);
    if left {
        format!("{text}{fill}")
    } else {
        format!("{fill}{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(start: &str, end: &str, stride: &str, format: &str) -> Result<Vec<String>, String> {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        generate(&Spec {
            start: some(start),
            end: some(end),
            stride: some(stride),
            count: None,
            format: some(format),
        })
        .map_err(|e| e.message)
    }

    #[test]
    fn sequences_and_messages_as_ansible_gives_them() {
        assert_eq!(seq("0", "3", "", "").unwrap(), ["0", "1", "2", "3"]);
        assert_eq!(seq("3", "0", "-1", "").unwrap(), ["3", "2", "1", "0"]);
        assert_eq!(
            seq("0", "10", "5", "web%02d").unwrap(),
            ["web00", "web05", "web10"]
        );
        assert_eq!(seq("10", "12", "", "%x").unwrap(), ["a", "b", "c"]);
        assert_eq!(
            seq("5", "7", "", "0x%02x").unwrap(),
            ["0x05", "0x06", "0x07"]
        );
        assert_eq!(seq("1", "1", "", "%-3d|").unwrap(), ["1  |"]);
        assert!(
            seq("A", "3", "", "")
                .unwrap_err()
                .contains("has an invalid value")
        );
        assert!(
            seq("4", "1", "2", "")
                .unwrap_err()
                .contains("to count backwards make stride negative")
        );
        assert!(
            seq("1", "4", "-2", "")
                .unwrap_err()
                .contains("to count forward don't make stride negative")
        );
        assert_eq!(
            seq("1", "4", "", "d").unwrap_err(),
            "bad formatting string: d"
        );
        let mut spec = Spec::default();
        assert!(shortcut("2-8/3:h%d", &mut spec));
        assert_eq!(
            generate(&spec).map_err(|e| e.message).unwrap(),
            ["h2", "h5", "h8"]
        );
        let mut spec = Spec::default();
        assert!(!shortcut("start=1", &mut spec));
    }
}

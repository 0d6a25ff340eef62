//! The `ini` lookup: a value of an INI file (or a Java `.properties` file), read as Python's
//! `configparser` reads it, since that is what Ansible's plugin uses: `key = value` or
//! `key: value`, `#`/`;` comment lines, indented continuation lines, keys lower-cased unless
//! `case_sensitive`, `[DEFAULT]` inherited by every section, `%(name)s` interpolation unless
//! `interpolation=false`, a duplicate key or section an error.

use super::{Call, Found, LookupError, failed, text};
use indexmap::IndexMap;
use minijinja::Value;

/// The plugin's options in the order its documentation lists them (inline `key=value`
/// words are matched against them in this order, as Ansible's `_parse_params` does).
const OPTIONS: &[&str] = &[
    "type",
    "file",
    "section",
    "re",
    "encoding",
    "default",
    "case_sensitive",
    "allow_no_value",
    "allow_none",
    "interpolation",
];

pub(super) fn run(call: &Call, terms: &[Value]) -> Found {
    let mut options: IndexMap<&str, String> = IndexMap::new();
    for (key, default) in [
        ("type", "ini"),
        ("file", "ansible.ini"),
        ("section", "global"),
        ("re", "false"),
        ("encoding", "utf-8"),
        ("default", ""),
        ("case_sensitive", "false"),
        ("allow_no_value", "false"),
        ("interpolation", "true"),
    ] {
        options.insert(key, default.to_string());
    }
    for key in OPTIONS {
        if let Some(v) = call.option(key)? {
            let key = if *key == "allow_none" {
                "allow_no_value"
            } else {
                key
            };
            options.insert(key, text(&v));
        }
    }
    let mut out = Vec::new();
    for term in terms {
        let term = text(term);
        let mut key = term.clone();
        if term.contains('=') || term.trim().contains(' ') {
            let mut updated_key = false;
            for param in parse_params(&term) {
                if let Some((name, value)) = param.split_once('=') {
                    if value.contains('=') {
                        return Err(failed(format!(
                            "Could not use {param:?} from the inline options of {term:?}."
                        )));
                    }
                    let Some(known) = OPTIONS.iter().find(|o| **o == name) else {
                        return Err(failed(format!("'{name}' is not a valid option.")));
                    };
                    let known = if *known == "allow_none" {
                        "allow_no_value"
                    } else {
                        known
                    };
                    options.insert(known, value.to_string());
                } else if key == term {
                    key = param;
                    updated_key = true;
                }
            }
            if !updated_key {
                return Err(failed(format!(
                    "No key to look up was provided as first term within string inline options: {term}"
                )));
            }
        }
        let flag = |name: &str| {
            super::boolean(&Value::from(options[name].as_str())).ok_or_else(|| {
                failed(format!(
                    "Config ini option '{name}' from {:?} has an invalid value.",
                    options[name]
                ))
            })
        };
        let file = options["file"].clone();
        let path = call.find("files", &file)?;
        let bytes = std::fs::read(&path)
            .map_err(|e| failed(format!("cannot read {}: {e}", path.display())))?;
        let bytes = crate::vault::read_maybe_encrypted(bytes, &path.display().to_string())
            .map_err(|e| failed(e.to_string()))?;
        let mut contents = decode(&bytes, &options["encoding"], &path)?;
        let mut section = options["section"].clone();
        if options["type"] == "properties" {
            contents = format!("[java_properties]\n{contents}");
            section = "java_properties".into();
        }
        let parser = Parser {
            case_sensitive: flag("case_sensitive")?,
            allow_no_value: flag("allow_no_value")?,
        };
        let sections = parser.parse(&contents, &file)?;
        let Some(entries) = sections.get(&section).or_else(|| {
            (section == "DEFAULT")
                .then(|| sections.get("DEFAULT"))
                .flatten()
        }) else {
            return Err(failed(format!("No section '{section}' in '{file}'.")));
        };
        let defaults = sections.get("DEFAULT");
        let mut all: IndexMap<String, Option<String>> = entries.clone();
        for (k, v) in defaults.into_iter().flatten() {
            all.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let interpolate = flag("interpolation")?;
        let value_of = |raw: &Option<String>| -> Result<Option<String>, LookupError> {
            match raw {
                Some(v) if interpolate => interpolated(v, &all, 0).map(Some),
                other => Ok(other.clone()),
            }
        };
        if flag("re")? {
            let re = regex::Regex::new(&format!("^(?:{key})"))
                .map_err(|e| failed(format!("the key {key:?} is not a regular expression: {e}")))?;
            for (k, v) in &all {
                if re.is_match(k)
                    && let Some(v) = value_of(v)?
                {
                    out.push(Value::from(v));
                }
            }
            continue;
        }
        let lookup_key = if parser.case_sensitive {
            key.clone()
        } else {
            key.to_lowercase()
        };
        match all.get(&lookup_key) {
            Some(v) => {
                if let Some(v) = value_of(v)? {
                    out.push(Value::from(v));
                }
            }
            None => match call.option("default")? {
                Some(d) => out.push(d),
                None => out.push(Value::from(options["default"].as_str())),
            },
        }
    }
    Ok(out)
}

/// Ansible's `_parse_params`: whitespace-separated words; a word naming an option (`file=`)
/// starts that option, the words after it (until the next option) belong to its value.
fn parse_params(term: &str) -> Vec<String> {
    let mut params: IndexMap<&str, String> = IndexMap::new();
    let mut order = Vec::new();
    let mut current = "key";
    for (i, phrase) in term.split_whitespace().enumerate() {
        if phrase.contains('=') {
            for option in OPTIONS {
                if phrase.contains(&format!("{option}=")) {
                    current = option;
                }
            }
        }
        let slot = params.entry(current).or_default();
        if i == 0 || slot.is_empty() {
            *slot = phrase.to_string();
            order.push(current);
        } else {
            slot.push(' ');
            slot.push_str(phrase);
        }
    }
    order.iter().map(|k| params[k].clone()).collect()
}

fn decode(bytes: &[u8], encoding: &str, path: &std::path::Path) -> Result<String, LookupError> {
    match encoding.to_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" => String::from_utf8(bytes.to_vec())
            .map_err(|_| failed(format!("{} is not UTF-8 text", path.display()))),
        "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "iso-8859-15" | "iso8859-15" => {
            Ok(bytes.iter().map(|b| char::from(*b)).collect())
        }
        other => Err(failed(format!("unknown encoding {other:?}"))),
    }
}

type Sections = IndexMap<String, IndexMap<String, Option<String>>>;

struct Parser {
    case_sensitive: bool,
    allow_no_value: bool,
}

impl Parser {
    fn parse(&self, contents: &str, file: &str) -> Result<Sections, LookupError> {
        let mut sections: Sections = IndexMap::new();
        let mut section: Option<String> = None;
        let mut last: Option<(String, usize)> = None;
        for (n, line) in contents.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            if trimmed.is_empty() {
                last = None;
                continue;
            }
            let indented = line.starts_with([' ', '\t']);
            if indented && let (Some((key, _)), Some(name)) = (&last, &section) {
                if let Some(Some(value)) = sections.get_mut(name).and_then(|s| s.get_mut(key)) {
                    value.push('\n');
                    value.push_str(trimmed);
                }
                continue;
            }
            if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                if sections.contains_key(name) {
                    return Err(failed(format!(
                        "While reading from '{file}' [line {}]: section '{name}' already exists",
                        n + 1
                    )));
                }
                sections.insert(name.to_string(), IndexMap::new());
                section = Some(name.to_string());
                last = None;
                continue;
            }
            let Some(name) = &section else {
                return Err(failed(format!(
                    "File contains no section headers. file: '{file}', line: {}",
                    n + 1
                )));
            };
            let split = trimmed.find(['=', ':']);
            let (key, value) = match split {
                Some(i) => (
                    trimmed[..i].trim(),
                    Some(trimmed[i + 1..].trim().to_string()),
                ),
                None if self.allow_no_value => (trimmed, None),
                None => {
                    return Err(failed(format!(
                        "Source contains parsing errors: '{file}' [line {}]: {line:?}",
                        n + 1
                    )));
                }
            };
            let key = if self.case_sensitive {
                key.to_string()
            } else {
                key.to_lowercase()
            };
            let entries = sections.entry(name.clone()).or_default();
            if entries.contains_key(&key) {
                return Err(failed(format!("Duplicate option in '{file}'.")));
            }
            entries.insert(key.clone(), value);
            last = Some((key, n));
        }
        Ok(sections)
    }
}

/// configparser's `BasicInterpolation`: `%(name)s` is another option of the section (or
/// of `[DEFAULT]`), `%%` a percent sign.
fn interpolated(
    value: &str,
    all: &IndexMap<String, Option<String>>,
    depth: usize,
) -> Result<String, LookupError> {
    if depth > 10 {
        return Err(failed(format!(
            "Recursion limit exceeded in value substitution: {value:?}"
        )));
    }
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if let Some(after) = rest.strip_prefix("%%") {
            out.push('%');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("%(")
            && let Some(end) = after.find(")s")
        {
            let name = after[..end].to_lowercase();
            let Some(Some(inner)) = all.get(&name) else {
                return Err(failed(format!(
                    "Bad value substitution: option {name:?} in the value {value:?} is not defined"
                )));
            };
            out.push_str(&interpolated(inner, all, depth + 1)?);
            rest = &after[end + 2..];
        } else {
            return Err(failed(format!(
                "'%' must be followed by '%' or '(', found: {rest:?}"
            )));
        }
    }
    out.push_str(rest);
    Ok(out)
}

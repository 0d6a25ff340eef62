//! Tests from ansible.builtin's list that minijinja and `template` lack or take fewer
//! arguments of: `match`/`search`/`regex` with keywords, `all`, `any`,
//! `nan`, `url`, `uri`, `urn`, `successful`, `failure`, `finished`, `started`, `reachable`, `unreachable`.

use super::invalid;
use minijinja::value::Kwargs;
use minijinja::{Environment, Error, Value};

/// Ansible's `match`/`search`/`regex` tests: `ignorecase`, `multiline` and (for `regex`)
/// `match_type` keyword arguments, so `select('match', 'a', ignorecase=true)` works.
fn regex_test(
    value: String,
    pattern: String,
    kwargs: Kwargs,
    anchored: bool,
) -> Result<bool, Error> {
    let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    let match_type = kwargs.get::<Option<String>>("match_type")?;
    kwargs.assert_all_used()?;
    let anchored = match match_type.as_deref() {
        None => anchored,
        Some("match") => true,
        Some("search") => false,
        Some("fullmatch") => {
            let re = build(&format!("^(?:{pattern})$"), ignorecase, multiline)?;
            return matches(&re, &value);
        }
        Some(other) => return Err(invalid(format!("invalid match_type: {other}"))),
    };
    let pattern = if anchored {
        format!("\\A(?:{pattern})")
    } else {
        pattern
    };
    matches(&build(&pattern, ignorecase, multiline)?, &value)
}

/// A pattern as Python's `re` reads it: look-around and back-references included.
fn build(pattern: &str, ignorecase: bool, multiline: bool) -> Result<fancy_regex::Regex, Error> {
    let flags = match (ignorecase, multiline) {
        (false, false) => "",
        (true, false) => "(?i)",
        (false, true) => "(?m)",
        (true, true) => "(?im)",
    };
    fancy_regex::Regex::new(&format!("{flags}{pattern}"))
        .map_err(|e| invalid(format!("bad regular expression: {e}")))
}

fn matches(re: &fancy_regex::Regex, value: &str) -> Result<bool, Error> {
    re.is_match(value)
        .map_err(|e| invalid(format!("the regular expression failed on {value:?}: {e}")))
}

pub fn register(env: &mut Environment<'static>) {
    env.add_test("match", |v: String, p: String, kw: Kwargs| {
        regex_test(v, p, kw, true)
    });
    env.add_test("search", |v: String, p: String, kw: Kwargs| {
        regex_test(v, p, kw, false)
    });
    env.add_test("regex", |v: String, p: String, kw: Kwargs| {
        regex_test(v, p, kw, false)
    });
    env.add_test("all", |v: Value| {
        v.try_iter().is_ok_and(|mut i| i.all(|x| x.is_true()))
    });
    env.add_test("any", |v: Value| {
        v.try_iter().is_ok_and(|mut i| i.any(|x| x.is_true()))
    });
    env.add_test("nan", |v: Value| f64::try_from(v).is_ok_and(f64::is_nan));
    env.add_test("url", |v: String| {
        regex::Regex::new(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/]+").is_ok_and(|re| re.is_match(&v))
    });
    env.add_test("uri", |v: String, schemes: Option<Vec<String>>| {
        let scheme = v.split_once(':').map(|(s, _)| s.to_string());
        match (scheme, schemes) {
            (Some(s), Some(allowed)) => allowed.contains(&s),
            (Some(s), None) => !s.is_empty(),
            (None, _) => false,
        }
    });
    env.add_test("urn", |v: String| {
        regex::Regex::new(r"^urn:[a-zA-Z0-9][a-zA-Z0-9-]{0,31}:\S+$")
            .is_ok_and(|re| re.is_match(&v))
    });
    env.add_test("successful", |v: Value| !flag(&v, "failed", false));
    env.add_test("failure", |v: Value| flag(&v, "failed", false));
    env.add_test("finished", |v: Value| flag(&v, "finished", true));
    env.add_test("started", |v: Value| flag(&v, "started", true));
    env.add_test("reachable", |v: Value| !flag(&v, "unreachable", false));
    env.add_test("unreachable", |v: Value| flag(&v, "unreachable", false));
}

fn flag(v: &Value, name: &str, default: bool) -> bool {
    match v.get_attr(name) {
        Ok(f) if !f.is_undefined() => f.is_true(),
        _ => default,
    }
}

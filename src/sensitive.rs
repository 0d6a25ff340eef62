//! Values that must never be shown or stored: what came out of vault, become and SSH
//! passwords, and what templates computed from them. They are registered here once, when
//! they enter the run; every sink (reporters, error rendering, the journal, plans) passes its
//! text through [`redact`] (or writes through [`Redacting`]), which masks any occurrence as
//! `********`. This is a property of the values, not of variable names; the `-e` name
//! heuristic in [`crate::journal::looks_secret`] stays as an extra guard.
//!
//! A secret is masked in the forms a sink may print it: as is, each of its lines, as JSON
//! escapes it and as a shell quotes it.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::Write;
use std::sync::RwLock;

/// What a masked secret reads as (Ansible's no_log mask).
pub const MASK: &str = "********";

/// Texts derived from secrets shorter than this are not registered: `True`, `0` or `ok`
/// computed from a secret would mask every occurrence in all output.
const MIN_DERIVED: usize = 4;

#[derive(Default)]
struct Registry {
    /// Longest first, so a secret that contains another is masked whole.
    texts: Vec<String>,
    /// Variables whose value is (or holds) a secret: templates reading them compute one.
    names: BTreeSet<String>,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry {
    texts: Vec::new(),
    names: BTreeSet::new(),
});

fn forms(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    let escaped = serde_json::to_string(secret).unwrap_or_default();
    let escaped = escaped
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_default();
    if escaped != secret {
        out.push(escaped.to_string());
    }
    // A command line echoed back quotes it for the shell.
    let quoted = crate::template::shell_quote(secret);
    if quoted != secret {
        out.push(quoted);
    }
    if secret.contains('\n') {
        out.extend(
            secret
                .lines()
                .map(str::trim)
                .filter(|l| l.len() >= MIN_DERIVED)
                .map(String::from),
        );
    }
    out
}

/// Registers a secret's plaintext: from now on it is masked everywhere.
pub fn register(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    let mut changed = false;
    for form in forms(secret) {
        if !form.is_empty() && !reg.texts.contains(&form) {
            reg.texts.push(form);
            changed = true;
        }
    }
    if changed {
        reg.texts.sort_by_key(|t| std::cmp::Reverse(t.len()));
    }
}

/// Registers a text computed from a secret (a template result), unless it is too short to
/// mask without damaging all other output.
pub fn register_derived(text: &str) {
    if text.trim().len() >= MIN_DERIVED && !is_masked(text) {
        register(text);
    }
}

/// Registers the string leaves of a decrypted document (a whole vault-encrypted variables
/// file or template): each is a secret.
pub fn register_document(text: &str) {
    if let Ok(root) = crate::yaml::parse(text) {
        let mut leaves = Vec::new();
        collect_leaves(&crate::yaml::to_json(&root, text), &mut leaves);
        for leaf in leaves {
            register_derived(&leaf);
        }
    }
    // A document that is not YAML (a template, a key file) is one secret.
    if text.trim().len() >= MIN_DERIVED {
        register(text.trim_end_matches('\n'));
    }
}

/// The output of a `no_log` task (`stdout`, `stderr`, their lines, `content`, facts it
/// set): masked wherever a later task shows it. Status texts (`msg`, `cmd`) are not taken:
/// Ansible's own wording would be masked everywhere.
pub fn register_no_log_result(result: &serde_json::Map<String, serde_json::Value>) {
    let mut leaves = Vec::new();
    for key in [
        "stdout",
        "stderr",
        "stdout_lines",
        "stderr_lines",
        "content",
        "ansible_facts",
    ] {
        if let Some(value) = result.get(key) {
            collect_leaves(value, &mut leaves);
        }
    }
    for leaf in leaves {
        register_derived(leaf.trim_end_matches('\n'));
    }
}

fn collect_leaves(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_leaves(i, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_leaves(v, out)),
        _ => {}
    }
}

/// Marks a variable as holding a secret.
pub fn register_name(name: &str) {
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    reg.names.insert(name.to_string());
}

/// Whether template `text` mentions a variable that holds a secret (its result is one).
pub fn reads_secret(text: &str) -> bool {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    !reg.names.is_empty() && reg.names.iter().any(|n| text.contains(n.as_str()))
}

/// Whether any secret is known (sinks may skip work otherwise).
pub fn any() -> bool {
    !REGISTRY
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .texts
        .is_empty()
}

/// Whether `text` contains a secret.
pub fn contains_secret(text: &str) -> bool {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    reg.texts.iter().any(|t| text.contains(t.as_str()))
}

fn is_masked(text: &str) -> bool {
    text == MASK
}

/// `text` with every registered secret replaced by [`MASK`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
    if !reg.texts.iter().any(|t| text.contains(t.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for secret in &reg.texts {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    Cow::Owned(out)
}

/// Every string in a JSON value redacted (for sinks that serialize values).
pub fn redact_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(redact(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (redact(k).into_owned(), redact_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A writer that masks secrets in what passes through it. It holds text back until a line
/// ends (a secret split across two writes is still seen whole) and on flush.
pub struct Redacting<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> Redacting<W> {
    pub fn new(inner: W) -> Redacting<W> {
        Redacting {
            inner,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, upto: usize) -> std::io::Result<()> {
        let chunk: Vec<u8> = self.pending.drain(..upto).collect();
        let text = String::from_utf8_lossy(&chunk);
        self.inner.write_all(redact(&text).as_bytes())
    }
}

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(last) = self.pending.iter().rposition(|b| *b == b'\n') {
            self.emit(last + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let len = self.pending.len();
        self.emit(len)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for Redacting<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_text_json_and_across_writes() {
        register("pa55-unit\"word");
        assert_eq!(redact("x=pa55-unit\"word;"), "x=********;");
        assert_eq!(redact(r#"{"x":"pa55-unit\"word"}"#), r#"{"x":"********"}"#);
        let mut out = Vec::new();
        {
            let mut w = Redacting::new(&mut out);
            w.write_all(b"a pa55-un").unwrap();
            w.write_all(b"it\"word b\nnext").unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "a ******** b\nnext");
        register_derived("ok");
        assert_eq!(redact("ok"), "ok");
        register("it's-a-unit-secret");
        assert_eq!(redact("echo 'it'\"'\"'s-a-unit-secret'"), "echo ********");
    }
}

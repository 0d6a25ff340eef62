//! File modes as Ansible accepts them: octal (`0644`, `"0644"`) or symbolic (`u=rw,g=r,o=r`,
//! `u+x`, `a-w`, `g+X`). A symbolic mode is resolved against the file's current mode on the
//! control machine, so the module can compare before acting (and report in check mode) and
//! then set the exact octal mode — `chmod` never decides whether anything changed.

use super::ModuleError;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileMode {
    Octal(u32),
    Symbolic(String),
}

impl FileMode {
    /// Reads a mode argument: an integer as is (YAML `0644` is already 420), a string of
    /// octal digits as octal, any other string as a symbolic mode (validated here).
    pub fn parse(name: &str, value: &Value) -> Result<Option<FileMode>, ModuleError> {
        let bad = |v: &dyn std::fmt::Display| ModuleError::Args {
            message: format!(
                "argument `{name}` must be an octal mode such as \"0644\" or a symbolic one \
                 such as \"u=rw,g=r,o=r\", not {v}"
            ),
        };
        match value {
            Value::Null => Ok(None),
            Value::Number(n) => n
                .as_u64()
                .filter(|m| *m <= 0o7777)
                .map(|m| Some(FileMode::Octal(m as u32)))
                .ok_or_else(|| bad(n)),
            Value::String(s) => {
                let s = s.trim();
                if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
                    return u32::from_str_radix(s, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .map(|m| Some(FileMode::Octal(m)))
                        .ok_or_else(|| bad(&s));
                }
                // Validate now, so a typo fails before anything is touched.
                apply_symbolic(s, 0, false).map_err(|why| ModuleError::Args {
                    message: format!("argument `{name}`: bad symbolic mode `{s}`: {why}"),
                })?;
                Ok(Some(FileMode::Symbolic(s.to_string())))
            }
            other => Err(bad(other)),
        }
    }

    /// The mode a path with `current` permissions ends up with.
    pub fn resolve(&self, current: u32, is_dir: bool) -> u32 {
        match self {
            FileMode::Octal(m) => *m,
            // Validated in `parse`; an error here cannot happen, keep the current mode.
            FileMode::Symbolic(s) => apply_symbolic(s, current, is_dir).unwrap_or(current),
        }
    }
}

/// Applies `chmod`-style clauses (`[ugoa]*([-+=][rwxXst]*)+`, comma separated) to `current`.
/// No `who` means everyone, as in Ansible (which ignores the umask here).
pub fn apply_symbolic(spec: &str, current: u32, is_dir: bool) -> Result<u32, String> {
    let mut mode = current & 0o7777;
    if spec.is_empty() {
        return Err("empty mode".to_string());
    }
    for clause in spec.split(',') {
        let mut chars = clause.chars().peekable();
        let mut who = 0u32;
        while let Some(&c) = chars.peek() {
            who |= match c {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o1007,
                'a' => 0o7777,
                _ => break,
            };
            chars.next();
        }
        if who == 0 {
            who = 0o7777;
        }
        let mut saw_op = false;
        while let Some(op) = chars.next() {
            if !matches!(op, '+' | '-' | '=') {
                return Err(format!(
                    "expected `+`, `-` or `=` in `{clause}`, found `{op}`"
                ));
            }
            saw_op = true;
            let mut bits = 0u32;
            while let Some(&p) = chars.peek() {
                bits |= match p {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' => 0o111,
                    // Execute only for directories and files already executable by someone.
                    'X' if is_dir || current & 0o111 != 0 => 0o111,
                    'X' => 0,
                    's' => 0o6000,
                    't' => 0o1000,
                    '+' | '-' | '=' => break,
                    'u' | 'g' | 'o' => {
                        return Err("copying permissions (`g=u`) is not supported".to_string());
                    }
                    other => return Err(format!("unknown permission `{other}` in `{clause}`")),
                };
                chars.next();
            }
            let bits = bits & who;
            match op {
                '+' => mode |= bits,
                '-' => mode &= !bits,
                _ => {
                    // `=` resets the class's rwx; chmod keeps set-id bits of directories.
                    let mut clear = who & 0o777;
                    if !is_dir {
                        clear |= who & 0o7000;
                    }
                    mode = (mode & !clear) | bits;
                }
            }
        }
        if !saw_op {
            return Err(format!("no operator in `{clause}`"));
        }
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn symbolic_modes_resolve_like_chmod() {
        assert_eq!(apply_symbolic("u=rw,g=r,o=r", 0o777, false), Ok(0o644));
        assert_eq!(apply_symbolic("u+x", 0o644, false), Ok(0o744));
        assert_eq!(apply_symbolic("a-w", 0o664, false), Ok(0o444));
        assert_eq!(apply_symbolic("go-rwx", 0o755, false), Ok(0o700));
        assert_eq!(apply_symbolic("+x", 0o600, false), Ok(0o711));
        assert_eq!(apply_symbolic("g+X", 0o600, false), Ok(0o600));
        assert_eq!(apply_symbolic("g+X", 0o700, false), Ok(0o710));
        assert_eq!(apply_symbolic("g+X", 0o600, true), Ok(0o610));
        assert_eq!(apply_symbolic("u=rwx,g=rx,o=", 0o644, true), Ok(0o750));
        assert_eq!(apply_symbolic("u+s", 0o755, false), Ok(0o4755));
        assert_eq!(apply_symbolic("o+t", 0o777, true), Ok(0o1777));
        assert_eq!(apply_symbolic("u+x-w", 0o644, false), Ok(0o544));
        assert!(apply_symbolic("u=zz", 0o644, false).is_err());
        assert!(apply_symbolic("u", 0o644, false).is_err());
        assert!(apply_symbolic("g=u", 0o644, false).is_err());
    }

    #[test]
    fn octal_strings_and_numbers_are_octal() {
        assert_eq!(
            FileMode::parse("mode", &json!("0644")).ok().flatten(),
            Some(FileMode::Octal(0o644))
        );
        assert_eq!(
            FileMode::parse("mode", &json!(420)).ok().flatten(),
            Some(FileMode::Octal(0o644))
        );
        assert_eq!(
            FileMode::parse("mode", &json!("u+x")).ok().flatten(),
            Some(FileMode::Symbolic("u+x".into()))
        );
        assert!(FileMode::parse("mode", &json!("0999")).is_err());
        assert!(FileMode::parse("mode", &json!("u+q")).is_err());
    }
}

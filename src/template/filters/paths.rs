//! Paths and URLs: `relpath`, `realpath`, `expanduser`, `expandvars`, `urldecode`,
//! `urlsplit`, `win_basename`, `win_dirname`, `win_splitdrive`, `to_uuid`.

use super::invalid;
use minijinja::{Environment, Error, Value};
use std::path::{Component, Path, PathBuf};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("relpath", |path: String, start: Option<String>| {
        let start = start.unwrap_or_else(|| {
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        });
        relpath(&path, &start)
    });
    env.add_filter("realpath", |path: String| {
        std::fs::canonicalize(&path)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| normalise(Path::new(&path)).display().to_string())
    });
    env.add_filter("expanduser", |path: String| match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            format!("{}{rest}", std::env::var("HOME").unwrap_or_default())
        }
        _ => path,
    });
    env.add_filter("expandvars", expandvars);
    env.add_filter("urldecode", |text: String| urldecode(&text));
    env.add_filter("urlsplit", urlsplit);
    env.add_filter("win_basename", |p: String| {
        p.rsplit(['\\', '/']).next().unwrap_or_default().to_string()
    });
    env.add_filter("win_dirname", |p: String| match p.rfind(['\\', '/']) {
        Some(i) => p[..i].to_string(),
        None => String::new(),
    });
    env.add_filter("win_splitdrive", |p: String| {
        let drive = p.len() >= 2 && p.as_bytes()[1] == b':';
        if drive {
            Value::from(vec![p[..2].to_string(), p[2..].to_string()])
        } else {
            Value::from(vec![String::new(), p])
        }
    });
    env.add_filter("to_uuid", |text: String, namespace: Option<String>| {
        to_uuid(&text, namespace.as_deref())
    });
}

/// Lexically: `.` and `..` taken out, as Python's os.path.normpath.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Python's os.path.relpath (both paths made absolute against the working directory).
fn relpath(path: &str, start: &str) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let path = normalise(&cwd.join(path));
    let start = normalise(&cwd.join(start));
    let p: Vec<_> = path.components().collect();
    let s: Vec<_> = start.components().collect();
    let common = p.iter().zip(&s).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..s.len() {
        out.push("..");
    }
    for part in &p[common..] {
        out.push(part);
    }
    if out.as_os_str().is_empty() {
        ".".to_string()
    } else {
        out.display().to_string()
    }
}

fn expandvars(text: String) -> String {
    let re = regex::Regex::new(r"\$(\w+|\{[^}]*\})").expect("a valid pattern");
    re.replace_all(&text, |c: &regex::Captures| {
        let name = c[1].trim_start_matches('{').trim_end_matches('}');
        std::env::var(name).unwrap_or_else(|_| c[0].to_string())
    })
    .into_owned()
}

fn urldecode(text: &str) -> String {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|&b| hex(b)),
            bytes.get(i + 2).and_then(|&b| hex(b)),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `url | urlsplit(query='')`: Python's urlsplit parts (`scheme`, `netloc`, `path`,
/// `query`, `fragment`, `username`, `password`, `hostname`, `port`), or one of them.
fn urlsplit(url: String, query: Option<String>) -> Result<Value, Error> {
    let (rest, fragment) = url.split_once('#').unwrap_or((&url, ""));
    let (rest, q) = rest.split_once('?').unwrap_or((rest, ""));
    let (scheme, rest) = match rest.split_once("://") {
        Some((s, r)) => (s, format!("//{r}")),
        None => ("", rest.to_string()),
    };
    let (netloc, path) = match rest.strip_prefix("//") {
        Some(r) => match r.find('/') {
            Some(i) => (r[..i].to_string(), r[i..].to_string()),
            None => (r.to_string(), String::new()),
        },
        None => (String::new(), rest),
    };
    let (userinfo, hostport) = match netloc.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h.to_string()),
        None => (None, netloc.clone()),
    };
    let (username, password) = match &userinfo {
        Some(u) => match u.split_once(':') {
            Some((a, b)) => (Value::from(a), Value::from(b)),
            None => (Value::from(u.as_str()), Value::from(())),
        },
        None => (Value::from(()), Value::from(())),
    };
    let (hostname, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
            (h.to_string(), Value::from(p.parse::<u16>().unwrap_or(0)))
        }
        _ => (hostport.clone(), Value::from(())),
    };
    let hostname = if hostname.is_empty() {
        Value::from(())
    } else {
        Value::from(hostname.to_lowercase())
    };
    let parts = [
        ("fragment", Value::from(fragment)),
        ("hostname", hostname),
        ("netloc", Value::from(netloc.as_str())),
        ("password", password),
        ("path", Value::from(path.as_str())),
        ("port", port),
        ("query", Value::from(q)),
        ("scheme", Value::from(scheme)),
        ("username", username),
    ];
    match query.filter(|q| !q.is_empty()) {
        Some(q) => parts
            .iter()
            .find(|(k, _)| *k == q)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| invalid(format!("urlsplit: unknown URL component: {q}"))),
        None => Ok(Value::from_iter(
            parts.iter().map(|(k, v)| (k.to_string(), v.clone())),
        )),
    }
}

/// Ansible's `to_uuid`: a UUID v5 in Ansible's namespace (or the given one).
fn to_uuid(text: &str, namespace: Option<&str>) -> Result<String, Error> {
    use sha1::{Digest, Sha1};
    let namespace = namespace.unwrap_or("361E6D51-FAEC-444A-9079-341386DA8E2E");
    let hex: String = namespace.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return Err(invalid(format!(
            "Invalid value '{namespace}' for 'namespace'"
        )));
    }
    let mut ns = [0u8; 16];
    for (i, byte) in ns.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| invalid(format!("Invalid value '{namespace}' for 'namespace'")))?;
    }
    let mut hasher = Sha1::new();
    hasher.update(ns);
    hasher.update(text.as_bytes());
    let digest = hasher.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

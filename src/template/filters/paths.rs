//! Paths and URLs: `relpath`, `realpath`, `expanduser`, `expandvars`, `urldecode`,
//! `urlsplit`, `win_basename`, `win_dirname`, `win_splitdrive`, `to_uuid`, `fileglob`.

use super::invalid;
use base64::Engine;
use minijinja::value::Kwargs;
use minijinja::{Environment, Error, Value};
use std::path::{Component, Path, PathBuf};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    // The regular files a glob pattern matches on the control machine, as Python's glob
    // (unsorted, directory order is the file system's; `*` does not match a leading dot).
    env.add_filter("fileglob", |pattern: String| {
        let options = glob::MatchOptions {
            require_literal_leading_dot: true,
            ..glob::MatchOptions::new()
        };
        glob::glob_with(&pattern, options)
            .map(|paths| {
                paths
                    .flatten()
                    .filter(|p| p.is_file())
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    });
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

/// The bytes of `text` in Python's codec `encoding` (`utf-8`, `utf-16-le`, `latin-1`).
fn encode(text: &str, encoding: &str) -> Result<Vec<u8>, Error> {
    match encoding.to_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" => Ok(text.as_bytes().to_vec()),
        "utf-16-le" | "utf-16le" => Ok(text.encode_utf16().flat_map(u16::to_le_bytes).collect()),
        "utf-16-be" | "utf-16be" => Ok(text.encode_utf16().flat_map(u16::to_be_bytes).collect()),
        "latin-1" | "latin1" | "iso-8859-1" => text
            .chars()
            .map(|c| {
                u8::try_from(u32::from(c))
                    .map_err(|_| invalid(format!("'latin-1' codec can't encode {c:?}")))
            })
            .collect(),
        "ascii" => text
            .chars()
            .map(|c| {
                if c.is_ascii() {
                    Ok(c as u8)
                } else {
                    Err(invalid(format!("'ascii' codec can't encode {c:?}")))
                }
            })
            .collect(),
        other => Err(invalid(format!("unknown encoding: {other}"))),
    }
}

fn decode(bytes: &[u8], encoding: &str) -> Result<String, Error> {
    match encoding.to_lowercase().replace('_', "-").as_str() {
        "utf-8" | "utf8" => Ok(String::from_utf8_lossy(bytes).into_owned()),
        "utf-16-le" | "utf-16le" | "utf-16-be" | "utf-16be" => {
            let le = encoding.to_lowercase().contains("le");
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| {
                    let pair = [c[0], *c.get(1).unwrap_or(&0)];
                    if le {
                        u16::from_le_bytes(pair)
                    } else {
                        u16::from_be_bytes(pair)
                    }
                })
                .collect();
            Ok(String::from_utf16_lossy(&units))
        }
        "latin-1" | "latin1" | "iso-8859-1" | "ascii" => {
            Ok(bytes.iter().map(|b| char::from(*b)).collect())
        }
        other => Err(invalid(format!("unknown encoding: {other}"))),
    }
}

/// `b64encode(encoding='utf-8', urlsafe=False)`.
fn b64encode(value: Value, kwargs: Kwargs) -> Result<String, Error> {
    let encoding = kwargs
        .get::<Option<String>>("encoding")?
        .unwrap_or_else(|| "utf-8".into());
    let urlsafe = kwargs.get::<Option<bool>>("urlsafe")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let text = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string);
    let bytes = encode(&text, &encoding)?;
    Ok(if urlsafe {
        base64::engine::general_purpose::URL_SAFE.encode(bytes)
    } else {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    })
}

/// `b64decode(encoding='utf-8', urlsafe=False)`.
fn b64decode(value: String, kwargs: Kwargs) -> Result<String, Error> {
    let encoding = kwargs
        .get::<Option<String>>("encoding")?
        .unwrap_or_else(|| "utf-8".into());
    let urlsafe = kwargs.get::<Option<bool>>("urlsafe")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let engine = if urlsafe {
        base64::engine::general_purpose::URL_SAFE
    } else {
        base64::engine::general_purpose::STANDARD
    };
    let bytes = engine
        .decode(value.trim())
        .map_err(|e| invalid(format!("b64decode: {e}")))?;
    decode(&bytes, &encoding)
}

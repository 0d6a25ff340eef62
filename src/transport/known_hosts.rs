//! known_hosts matching as OpenSSH does it: hashed names, `[host]:port`, wildcards and
//! negation, `@revoked`, `@cert-authority`; file and line of the entry kept for messages.
//!
//! Lines are parsed with `ssh_key::known_hosts::Entry`; this module adds what that parser leaves
//! to its caller (host matching, line numbers, tab separators) and the `accept-new` append. It
//! never decides policy: the session asks for a [`HostKeyStatus`] and refuses or appends.
//! russh's own `check_known_hosts_path` is deliberately not used (it ignores `@revoked` and
//! patterns, and compares key comments).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::known_hosts::{Entry, HostPatterns, Marker};
use russh::keys::ssh_key::{Algorithm, HashAlg, PublicKey};
use sha1::Sha1;

/// What known_hosts says about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyStatus {
    Known,
    /// The host is listed with a different key of the same type; `line` is that entry.
    Changed {
        file: PathBuf,
        line: usize,
    },
    /// The key is marked `@revoked` at `line`.
    Revoked {
        file: PathBuf,
        line: usize,
    },
    /// No entry holds the key, but `line` names the host and cannot be read (a truncated
    /// key, a broken paste): its key cannot be compared, and adding another entry beside it
    /// would hide the damage.
    Damaged {
        file: PathBuf,
        line: usize,
    },
    Unknown,
}

/// The name OpenSSH looks up: `addr` on port 22, `[addr]:port` otherwise.
pub fn lookup_name(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_string()
    } else {
        format!("[{address}]:{port}")
    }
}

/// `ED25519 SHA256:…`, the way OpenSSH names a key in its messages.
pub fn describe_key(key: &PublicKey) -> String {
    let kind = match key.algorithm() {
        Algorithm::Ed25519 => "ED25519".to_string(),
        Algorithm::Ecdsa { .. } => "ECDSA".to_string(),
        Algorithm::Rsa { .. } => "RSA".to_string(),
        Algorithm::Dsa => "DSA".to_string(),
        other => other.as_str().to_uppercase(),
    };
    format!("{kind} {}", key.fingerprint(HashAlg::Sha256))
}

/// Checks `key` for `name` against the file at `path`. A missing file is no entry at all.
pub fn check_file(path: &Path, name: &str, key: &PublicKey) -> std::io::Result<HostKeyStatus> {
    match std::fs::read_to_string(path) {
        Ok(contents) => Ok(check(&contents, path, name, key)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HostKeyStatus::Unknown),
        Err(e) => Err(e),
    }
}

/// Checks `key` for `name` against known_hosts `contents` read from `file`.
///
/// Like OpenSSH: a matching `@revoked` entry wins over everything; otherwise an exact key match
/// is `Known`; otherwise an entry with the same key type but other key data is `Changed`
/// (the first such line is reported).
pub fn check(contents: &str, file: &Path, name: &str, key: &PublicKey) -> HostKeyStatus {
    let mut known = false;
    let mut changed: Option<usize> = None;
    let damaged = damaged_lines(contents)
        .find(|(_, hosts)| raw_hosts_match(hosts, name))
        .map(|(line, _)| line);
    for (line, entry) in entries(contents) {
        if !entry_matches(&entry, name) {
            continue;
        }
        let same_key = entry.public_key().key_data() == key.key_data();
        match entry.marker() {
            Some(Marker::Revoked) if same_key => {
                return HostKeyStatus::Revoked {
                    file: file.to_path_buf(),
                    line,
                };
            }
            Some(_) => {}
            None if same_key => known = true,
            None => {
                if changed.is_none() && same_type(&entry.public_key().algorithm(), &key.algorithm())
                {
                    changed = Some(line);
                }
            }
        }
    }
    if known {
        HostKeyStatus::Known
    } else if let Some(line) = changed {
        HostKeyStatus::Changed {
            file: file.to_path_buf(),
            line,
        }
    } else if let Some(line) = damaged {
        HostKeyStatus::Damaged {
            file: file.to_path_buf(),
            line,
        }
    } else {
        HostKeyStatus::Unknown
    }
}

/// Key algorithms listed for `name` (not revoked), so the handshake can ask the server for a
/// key type we can verify, as OpenSSH orders its HostKeyAlgorithms.
pub fn known_algorithms(path: &Path, name: &str) -> Vec<Algorithm> {
    let Ok(contents) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut algorithms: Vec<Algorithm> = Vec::new();
    for (_, entry) in entries(&contents) {
        if entry.marker().is_none() && entry_matches(&entry, name) {
            let algorithm = entry.public_key().algorithm();
            if !algorithms.contains(&algorithm) {
                algorithms.push(algorithm);
            }
        }
    }
    algorithms
}

/// The `@cert-authority` keys listed for `name` in the file at `path`, with their lines, and
/// the keys marked `@revoked` for it (a revoked CA signs nothing).
pub fn cert_authorities(path: &Path, name: &str) -> (Vec<(PublicKey, usize)>, Vec<PublicKey>) {
    let Ok(contents) = std::fs::read_to_string(path) else {
        return (Vec::new(), Vec::new());
    };
    let mut authorities = Vec::new();
    let mut revoked = Vec::new();
    for (line, entry) in entries(&contents) {
        match entry.marker() {
            Some(Marker::CertAuthority) if entry_matches(&entry, name) => {
                authorities.push((entry.public_key().clone(), line));
            }
            Some(Marker::Revoked) => revoked.push(entry.public_key().clone()),
            _ => {}
        }
    }
    (authorities, revoked)
}

/// Whether two algorithms are the same key type (RSA signature hashes do not matter).
pub fn same_type(a: &Algorithm, b: &Algorithm) -> bool {
    match (a, b) {
        (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
        _ => a == b,
    }
}

/// Serializes appends within this process: many hosts may be accepted at once.
static APPEND_LOCK: Mutex<()> = Mutex::new(());

/// Appends `name keytype base64` for `key` (creating the file and its directory), unless a
/// concurrent connect already recorded it. Returns the status found under the lock, so a
/// racing append of a different key is still reported as `Changed`.
pub fn append(path: &Path, name: &str, key: &PublicKey) -> std::io::Result<HostKeyStatus> {
    let _guard = APPEND_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let existing = match std::fs::read_to_string(path) {
        Ok(contents) => contents,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let status = check(&existing, path, name, key);
    if status != HostKeyStatus::Unknown {
        return Ok(status);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let plain = PublicKey::new(key.key_data().clone(), "");
    let encoded = plain
        .to_openssh()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut line = String::new();
    if !existing.is_empty() && !existing.ends_with('\n') {
        line.push('\n');
    }
    line.push_str(name);
    line.push(' ');
    line.push_str(encoded.trim_end());
    line.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One write with O_APPEND keeps the line whole even if another process appends too.
    file.write_all(line.as_bytes())?;
    Ok(HostKeyStatus::Known)
}

/// Parsed entries with their 1-based line numbers. Lines that do not parse (unknown key types,
/// garbage) are skipped as OpenSSH skips them.
fn entries(contents: &str) -> impl Iterator<Item = (usize, Entry)> + '_ {
    contents.lines().enumerate().filter_map(|(index, raw)| {
        let text = raw.split('#').next().unwrap_or("");
        // The ssh-key parser splits on single spaces only; OpenSSH accepts any blanks.
        let normalized = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if normalized.is_empty() {
            return None;
        }
        Entry::from_str(&normalized)
            .ok()
            .map(|entry| (index + 1, entry))
    })
}

/// Lines of a known key type that do not parse, with their 1-based numbers and their host
/// field (after any `@marker`).
fn damaged_lines(contents: &str) -> impl Iterator<Item = (usize, &str)> + '_ {
    contents.lines().enumerate().filter_map(|(index, raw)| {
        let text = raw.split('#').next().unwrap_or("");
        let normalized = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if normalized.is_empty() || Entry::from_str(&normalized).is_ok() {
            return None;
        }
        let mut fields = text.split_whitespace();
        let first = fields.next()?;
        let hosts = if first.starts_with('@') {
            fields.next()?
        } else {
            first
        };
        // A key type this client does not know (a newer one) is skipped as OpenSSH skips it;
        // a known type whose key does not parse is damage.
        let kind = fields.next()?;
        Algorithm::from_str(kind).ok()?;
        Some((index + 1, hosts))
    })
}

/// Whether a host field read as text (`a,b,!c` or `|1|salt|hash`) names `name`.
fn raw_hosts_match(hosts: &str, name: &str) -> bool {
    use base64::Engine;
    if let Some(hashed) = hosts.strip_prefix("|1|") {
        let engine = base64::engine::general_purpose::STANDARD;
        let Some((salt, hash)) = hashed.split_once('|') else {
            return false;
        };
        let (Ok(salt), Ok(hash)) = (engine.decode(salt), engine.decode(hash)) else {
            return false;
        };
        let Ok(hash) = <[u8; 20]>::try_from(hash.as_slice()) else {
            return false;
        };
        return hashed_name_matches(&salt, &hash, name);
    }
    let patterns: Vec<String> = hosts.split(',').map(str::to_string).collect();
    patterns_match(&patterns, name)
}

fn entry_matches(entry: &Entry, name: &str) -> bool {
    match entry.host_patterns() {
        HostPatterns::HashedName { salt, hash } => hashed_name_matches(salt, hash, name),
        HostPatterns::Patterns(patterns) => patterns_match(patterns, name),
    }
}

fn hashed_name_matches(salt: &[u8], hash: &[u8; 20], name: &str) -> bool {
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(hash).is_ok()
}

/// OpenSSH `match_hostname`: any matching negated pattern excludes the host, otherwise any
/// matching positive pattern includes it. Case-insensitive.
fn patterns_match(patterns: &[String], name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let mut matched = false;
    for pattern in patterns {
        let pattern = pattern.to_ascii_lowercase();
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(negated.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if glob(pattern.as_bytes(), name.as_bytes()) {
            matched = true;
        }
    }
    matched
}

/// `*` and `?` wildcards, iterative with single backtrack point (linear in practice).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests;

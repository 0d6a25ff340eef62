//! known_hosts matching against files written and hashed by the real OpenSSH tools.

use std::path::{Path, PathBuf};
use std::process::Command;

use russh::keys::ssh_key::PublicKey;

use super::*;

struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    fn new() -> Keys {
        Keys {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A fresh host key from `ssh-keygen`; returns the parsed key and its `.pub` line.
    fn generate(&self, name: &str, kind: &str) -> (PublicKey, String) {
        let path = self.dir.path().join(name);
        let status = Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                kind,
                "-N",
                "",
                "-C",
                &format!("root@{name}"),
                "-f",
            ])
            .arg(&path)
            .status()
            .expect("run ssh-keygen");
        assert!(status.success(), "ssh-keygen failed for {name}");
        let line = std::fs::read_to_string(path.with_extension("pub")).expect("read .pub");
        let key = PublicKey::from_openssh(line.trim()).expect("parse .pub");
        (key, line.trim().to_string())
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write known_hosts");
        path
    }
}

/// The `keytype base64` part of a `.pub` line, without its comment.
fn key_part(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn status(path: &Path, name: &str, key: &PublicKey) -> HostKeyStatus {
    check_file(path, name, key).expect("read known_hosts")
}

#[test]
fn plain_name_matches_only_that_host() {
    let keys = Keys::new();
    let (key, line) = keys.generate("a", "ed25519");
    let file = keys.file("kh", &format!("127.0.1.5 {line}\n"));
    assert_eq!(status(&file, "127.0.1.5", &key), HostKeyStatus::Known);
    assert_eq!(status(&file, "127.0.1.50", &key), HostKeyStatus::Unknown);
    assert_eq!(
        status(&file, &lookup_name("127.0.1.5", 2222), &key),
        HostKeyStatus::Unknown
    );
}

#[test]
fn bracketed_name_with_port() {
    let keys = Keys::new();
    let (key, line) = keys.generate("a", "ed25519");
    let file = keys.file("kh", &format!("[127.0.1.5]:2222 {}\n", key_part(&line)));
    assert_eq!(lookup_name("127.0.1.5", 2222), "[127.0.1.5]:2222");
    assert_eq!(lookup_name("127.0.1.5", 22), "127.0.1.5");
    assert_eq!(
        status(&file, &lookup_name("127.0.1.5", 2222), &key),
        HostKeyStatus::Known
    );
    assert_eq!(status(&file, "127.0.1.5", &key), HostKeyStatus::Unknown);
}

#[test]
fn names_hashed_by_ssh_keygen_match() {
    let keys = Keys::new();
    let (a, line_a) = keys.generate("a", "ed25519");
    let (b, line_b) = keys.generate("b", "ecdsa");
    let (other, _) = keys.generate("c", "ed25519");
    let file = keys.file(
        "kh",
        &format!(
            "web.example.net {}\n[127.0.1.7]:23007 {}\n",
            key_part(&line_a),
            key_part(&line_b)
        ),
    );
    let hashed = Command::new("ssh-keygen")
        .args(["-q", "-H", "-f"])
        .arg(&file)
        .output()
        .expect("run ssh-keygen -H");
    assert!(hashed.status.success(), "{hashed:?}");
    let contents = std::fs::read_to_string(&file).expect("read hashed file");
    assert!(contents.starts_with("|1|"), "not hashed: {contents}");
    assert!(
        !contents.contains("example"),
        "name left in clear: {contents}"
    );

    assert_eq!(status(&file, "web.example.net", &a), HostKeyStatus::Known);
    assert_eq!(status(&file, "[127.0.1.7]:23007", &b), HostKeyStatus::Known);
    assert_eq!(
        status(&file, "web2.example.net", &a),
        HostKeyStatus::Unknown
    );
    assert_eq!(
        status(&file, "web.example.net", &other),
        HostKeyStatus::Changed { file, line: 1 }
    );
}

#[test]
fn wildcards_and_negation() {
    let keys = Keys::new();
    let (key, line) = keys.generate("a", "ed25519");
    let file = keys.file(
        "kh",
        &format!("*.example.net,!bad.example.net,10.0.?.1,[db*]:2200 {line}\n"),
    );
    assert_eq!(status(&file, "web.example.net", &key), HostKeyStatus::Known);
    assert_eq!(status(&file, "WEB.Example.NET", &key), HostKeyStatus::Known);
    assert_eq!(
        status(&file, "bad.example.net", &key),
        HostKeyStatus::Unknown
    );
    assert_eq!(status(&file, "10.0.7.1", &key), HostKeyStatus::Known);
    assert_eq!(status(&file, "10.0.17.1", &key), HostKeyStatus::Unknown);
    assert_eq!(status(&file, "[db3]:2200", &key), HostKeyStatus::Known);
    assert_eq!(status(&file, "[db3]:2201", &key), HostKeyStatus::Unknown);
    assert_eq!(status(&file, "example.org", &key), HostKeyStatus::Unknown);
}

#[test]
fn revoked_key_is_refused_even_when_also_listed() {
    let keys = Keys::new();
    let (key, line) = keys.generate("a", "ed25519");
    let file = keys.file(
        "kh",
        &format!("host1 {line}\n# revoked after the leak\n@revoked * {line}\n"),
    );
    assert_eq!(
        status(&file, "host1", &key),
        HostKeyStatus::Revoked { file, line: 3 }
    );
}

#[test]
fn changed_key_reports_the_offending_line() {
    let keys = Keys::new();
    let (old, old_line) = keys.generate("old", "ed25519");
    let (new, _) = keys.generate("new", "ed25519");
    let (unrelated, unrelated_line) = keys.generate("u", "ed25519");
    let file = keys.file(
        "kh",
        &format!(
            "# fleet keys\n\nother {unrelated_line}\n[127.0.1.2]:2222 {old_line}\n127.0.1.2 {old_line}\n"
        ),
    );
    assert_eq!(
        status(&file, "[127.0.1.2]:2222", &new),
        HostKeyStatus::Changed {
            file: file.clone(),
            line: 4
        }
    );
    assert_eq!(
        status(&file, "[127.0.1.2]:2222", &old),
        HostKeyStatus::Known
    );
    assert_eq!(status(&file, "other", &unrelated), HostKeyStatus::Known);
}

#[test]
fn another_key_type_is_not_a_change() {
    // OpenSSH treats a host known only by an ECDSA key that offers ED25519 as new, not changed.
    let keys = Keys::new();
    let (_, ecdsa_line) = keys.generate("e", "ecdsa");
    let (ed, _) = keys.generate("d", "ed25519");
    let file = keys.file("kh", &format!("node {ecdsa_line}\n"));
    assert_eq!(status(&file, "node", &ed), HostKeyStatus::Unknown);
    assert_eq!(known_algorithms(&file, "node").len(), 1);
}

#[test]
fn comments_do_not_matter_and_tabs_separate() {
    let keys = Keys::new();
    let (key, line) = keys.generate("a", "ed25519");
    let parts: Vec<&str> = line.split_whitespace().collect();
    let file = keys.file(
        "kh",
        &format!(
            "   # indented comment\nhost1 {} {} someone-else@laptop extra words\nhost2\t{}\t{}\nhost3 {} {}   # trailing\n",
            parts[0], parts[1], parts[0], parts[1], parts[0], parts[1]
        ),
    );
    for host in ["host1", "host2", "host3"] {
        assert_eq!(status(&file, host, &key), HostKeyStatus::Known, "{host}");
    }
}

#[test]
fn cert_authority_lines_and_garbage_are_skipped() {
    let keys = Keys::new();
    let (key, line) = keys.generate("a", "ed25519");
    let file = keys.file(
        "kh",
        &format!("@cert-authority *.example.net {line}\nnot a key line\nhost1 ssh-foo AAAA\n"),
    );
    assert_eq!(
        status(&file, "web.example.net", &key),
        HostKeyStatus::Unknown
    );
    assert_eq!(status(&file, "host1", &key), HostKeyStatus::Unknown);
}

#[test]
fn a_known_key_type_that_does_not_parse_is_damage_for_its_host_only() {
    let keys = Keys::new();
    let (key, line) = keys.generate("a", "ed25519");
    let cut = &line[..line.len() / 2];
    let file = keys.file("kh", &format!("host1 {cut}\nhost2 {line}\n"));
    assert_eq!(
        status(&file, "host1", &key),
        HostKeyStatus::Damaged {
            file: file.clone(),
            line: 1
        }
    );
    assert_eq!(status(&file, "host2", &key), HostKeyStatus::Known);
    assert_eq!(status(&file, "host3", &key), HostKeyStatus::Unknown);
    // A hashed name is matched too.
    let hashed = keys.file("hashed", &format!("host1 {cut}\n"));
    let out = Command::new("ssh-keygen")
        .args(["-q", "-H", "-f"])
        .arg(&hashed)
        .output()
        .expect("ssh-keygen -H");
    assert!(out.status.success(), "ssh-keygen -H failed");
    assert!(
        std::fs::read_to_string(&hashed).is_ok_and(|t| t.starts_with("|1|")),
        "ssh-keygen -H did not hash the line"
    );
    assert!(matches!(
        status(&hashed, "host1", &key),
        HostKeyStatus::Damaged { .. }
    ));
    assert_eq!(status(&hashed, "host2", &key), HostKeyStatus::Unknown);
}

#[test]
fn missing_file_is_unknown() {
    let keys = Keys::new();
    let (key, _) = keys.generate("a", "ed25519");
    let path = keys.dir.path().join("nope/known_hosts");
    assert_eq!(status(&path, "host1", &key), HostKeyStatus::Unknown);
}

#[test]
fn accept_new_appends_a_line_ssh_keygen_finds() {
    let keys = Keys::new();
    let (key, line) = keys.generate("a", "ed25519");
    let path = keys.dir.path().join("new-dir/known_hosts");
    let name = lookup_name("127.0.1.9", 23009);
    assert_eq!(append(&path, &name, &key).ok(), Some(HostKeyStatus::Known));
    assert_eq!(append(&path, &name, &key).ok(), Some(HostKeyStatus::Known));
    let contents = std::fs::read_to_string(&path).expect("appended file");
    assert_eq!(contents, format!("{name} {}\n", key_part(&line)));
    assert_eq!(status(&path, &name, &key), HostKeyStatus::Known);

    let found = Command::new("ssh-keygen")
        .args(["-F", &name, "-f"])
        .arg(&path)
        .output()
        .expect("run ssh-keygen -F");
    assert!(found.status.success(), "ssh-keygen -F did not find {name}");
}

#[test]
fn accept_new_keeps_a_missing_final_newline_apart() {
    let keys = Keys::new();
    let (a, line_a) = keys.generate("a", "ed25519");
    let (b, _) = keys.generate("b", "ed25519");
    let path = keys.file("kh", &format!("host-a {line_a}"));
    assert_eq!(append(&path, "host-b", &b).ok(), Some(HostKeyStatus::Known));
    assert_eq!(status(&path, "host-a", &a), HostKeyStatus::Known);
    assert_eq!(status(&path, "host-b", &b), HostKeyStatus::Known);
}

#[test]
fn concurrent_appends_all_land_once() {
    let keys = Keys::new();
    let (key, _) = keys.generate("a", "ed25519");
    let path = keys.dir.path().join("known_hosts");
    std::thread::scope(|scope| {
        for i in 0..16 {
            let (path, key) = (&path, &key);
            scope.spawn(move || {
                // Two racers per host: the second must find the first's line.
                let name = format!("[127.0.1.{}]:23000", i % 8);
                append(path, &name, key).expect("append");
            });
        }
    });
    let contents = std::fs::read_to_string(&path).expect("read");
    assert_eq!(contents.lines().count(), 8, "{contents}");
    for i in 0..8 {
        let name = format!("[127.0.1.{i}]:23000");
        assert_eq!(status(&path, &name, &key), HostKeyStatus::Known);
    }
}

#[test]
fn describe_key_reads_like_openssh() {
    let keys = Keys::new();
    let (key, _) = keys.generate("a", "ed25519");
    let text = describe_key(&key);
    assert!(text.starts_with("ED25519 SHA256:"), "{text}");
}

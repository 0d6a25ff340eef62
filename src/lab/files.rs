//! What a lab directory holds on disk: the state file `lab.json`, `known_hosts`,
//! `inventory.yml`, and the small file helpers the lab uses (atomic writes, 0755 directories).
//! Knows nothing about processes: `sshd` starts and stops them.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Lab, LabError, Node, Postgres, Services};

pub(super) const STATE_FILE: &str = "lab.json";
const STATE_VERSION: u32 = 1;

/// What `lab.json` holds. Pids are re-checked against `/proc` on every read.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct State {
    version: u32,
    pub user: String,
    pub port: u16,
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub services: Services,
    #[serde(default)]
    pub postgresql: Option<Postgres>,
    #[serde(default)]
    pub redis_cli: Option<PathBuf>,
}

impl State {
    pub fn new(lab: &Lab, port: u16) -> State {
        State {
            version: STATE_VERSION,
            user: lab.user.clone(),
            port,
            nodes: lab.nodes.clone(),
            services: lab.services,
            postgresql: lab.postgresql.clone(),
            redis_cli: lab.redis_cli.clone(),
        }
    }
}

/// One line per node, in the `[address]:port` form OpenSSH writes for a non-22 port.
pub(super) fn write_known_hosts(lab: &Lab) -> Result<(), LabError> {
    let mut out = String::new();
    for node in &lab.nodes {
        let public = read_to_string(&pub_path(&node.host_key))?;
        // "ssh-ed25519 AAAA… comment": the comment is not part of the host's identity.
        let key: Vec<&str> = public.split_whitespace().take(2).collect();
        let host = if node.port == 22 {
            node.address.to_string()
        } else {
            format!("[{}]:{}", node.address, node.port)
        };
        out.push_str(&format!("{host} {}\n", key.join(" ")));
    }
    write_atomic(&lab.known_hosts, out.as_bytes(), 0o644)
}

/// The lab as an Ansible YAML inventory: group `lab` (with the PostgreSQL vars), one shared
/// port, `node_root`, `lab_bin` and the Redis vars per host. node1 plays a cluster's primary (`role: primary`, group
/// `primary`), the others its replicas, so rollouts can order "replicas first, primary last".
pub(super) fn write_inventory(lab: &Lab, port: u16) -> Result<(), LabError> {
    let mut out = format!(
        "# drover lab inventory, written by `drover lab up` (rewritten on every `up`).\n\
         all:\n  vars:\n    ansible_user: {}\n    ansible_port: {port}\n    \
         ansible_ssh_private_key_file: {}\n    drover_known_hosts_file: {}\n    \
         lab_shared: {}\n    \
         # The nodes share one machine: each keeps its rollout lock in its own root.\n    \
         drover_lock_path: \"{{{{ node_root }}}}/lab/drover.lock\"\n  \
         children:\n    lab:\n",
        yaml_scalar(&lab.user),
        yaml_scalar(&lab.key.display().to_string()),
        yaml_scalar(&lab.known_hosts.display().to_string()),
        yaml_scalar(&lab.shared_dir().display().to_string()),
    );
    if let Some(pg) = &lab.postgresql {
        out.push_str(&format!(
            "      vars:\n        lab_postgresql_host: {}\n        lab_postgresql_port: {}\n        \
             lab_postgresql_user: {}\n        lab_postgresql_bin: {}\n",
            pg.host,
            pg.port,
            yaml_scalar(&pg.user),
            yaml_scalar(&pg.bin.display().to_string()),
        ));
    }
    out.push_str("      hosts:\n");
    let role = |i: usize| if i == 0 { "primary" } else { "replica" };
    for (i, node) in lab.nodes.iter().enumerate() {
        let mut redis = String::new();
        if let (Some(port), Some(cli)) = (node.redis_port, &lab.redis_cli) {
            redis = format!(
                ", lab_redis_port: {port}, lab_redis_cli: {}",
                yaml_scalar(&cli.display().to_string())
            );
        }
        out.push_str(&format!(
            "        {}: {{ ansible_host: {}, node_root: {}, role: {}, lab_bin: {}{redis} }}\n",
            node.name,
            node.address,
            yaml_scalar(&node.root.display().to_string()),
            role(i),
            yaml_scalar(&node.lab_bin().display().to_string()),
        ));
    }
    out.push_str("    primary:\n      hosts:\n");
    for node in lab.nodes.iter().take(1) {
        out.push_str(&format!("        {}:\n", node.name));
    }
    if lab.nodes.len() > 1 {
        out.push_str("    replicas:\n      hosts:\n");
        for node in lab.nodes.iter().skip(1) {
            out.push_str(&format!("        {}:\n", node.name));
        }
    }
    write_atomic(&lab.inventory, out.as_bytes(), 0o644)
}

/// Paths go into sshd_config (double quotes, `%` tokens) and the demo script (single quotes).
pub(super) fn check_quotable(path: &Path) -> Result<(), LabError> {
    let text = path.to_str().ok_or_else(|| LabError::UnsafePath {
        path: path.to_path_buf(),
    })?;
    if text.contains(['\'', '"', '%', '\n', '\r', '\\']) {
        return Err(LabError::UnsafePath {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Plain YAML scalars for the common case, a JSON string (valid YAML) for anything unusual.
pub(super) fn yaml_scalar(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
        && !text.starts_with(['-', '.']);
    if plain {
        text.to_string()
    } else {
        serde_json::Value::String(text.to_string()).to_string()
    }
}

pub(super) fn read_state(dir: &Path) -> Result<Option<State>, LabError> {
    let path = dir.join(STATE_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LabError::Io {
                action: "read",
                path,
                source,
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| LabError::State { path, source })
}

pub(super) fn write_state(dir: &Path, state: &State) -> Result<(), LabError> {
    let path = dir.join(STATE_FILE);
    let mut text = serde_json::to_string_pretty(state).map_err(|source| LabError::State {
        path: path.clone(),
        source,
    })?;
    text.push('\n');
    write_atomic(&path, text.as_bytes(), 0o644)
}

pub(super) fn pub_path(key: &Path) -> PathBuf {
    let mut path = key.as_os_str().to_owned();
    path.push(".pub");
    PathBuf::from(path)
}

pub(super) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> LabError {
    let path = path.to_path_buf();
    move |source| LabError::Io {
        action,
        path,
        source,
    }
}

pub(super) fn read_to_string(path: &Path) -> Result<String, LabError> {
    fs::read_to_string(path).map_err(io_err("read", path))
}

/// Creates `path` (and parents) mode 0755: the lab user must traverse the lab directory to
/// reach authorized_keys and its node root, even when the directory came from a 0700 mkdtemp.
pub(super) fn make_dir(path: &Path) -> Result<(), LabError> {
    fs::create_dir_all(path).map_err(io_err("create", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(io_err("chmod", path))
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
pub(super) fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), LabError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut file = fs::File::create(&tmp).map_err(io_err("write", &tmp))?;
    file.write_all(data).map_err(io_err("write", &tmp))?;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err("chmod", &tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_err("write", path))
}

pub(super) fn remove_if_exists(path: &Path) -> Result<(), LabError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(LabError::Io {
            action: "remove",
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

pub(super) fn subdirectory_names(dir: &Path) -> Result<Vec<String>, LabError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(LabError::Io {
                action: "list",
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("list", dir))?;
        if entry.file_type().is_ok_and(|t| t.is_dir())
            && let Some(name) = entry.file_name().to_str()
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_scalars_quote_only_what_needs_it() {
        assert_eq!(
            yaml_scalar("/tmp/drover-lab/id_ed25519"),
            "/tmp/drover-lab/id_ed25519"
        );
        assert_eq!(yaml_scalar("/tmp/my lab"), "\"/tmp/my lab\"");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
    }

    #[test]
    fn unquotable_lab_paths_are_refused() {
        assert!(check_quotable(Path::new("/tmp/.tmpAbC1/lab")).is_ok());
        assert!(check_quotable(Path::new("/tmp/it's")).is_err());
        assert!(check_quotable(Path::new("/tmp/100%")).is_err());
    }
}

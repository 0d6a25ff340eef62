//! SSH transport: one russh connection per host for the whole run, commands as exec channels,
//! files over SFTP, host keys checked against known_hosts. Owns nothing about tasks or output:
//! it returns data and typed errors that always name the host.

pub mod known_hosts;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How unknown host keys are treated (OpenSSH's `StrictHostKeyChecking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Refuse unknown hosts and changed keys (OpenSSH `yes`).
    #[default]
    Strict,
    /// Append unknown host keys to the known_hosts file; still refuse changed keys.
    AcceptNew,
}

/// Supplies the passphrase of an encrypted key file; called at most once per key per run.
pub type PassphraseSource = Arc<dyn Fn(&std::path::Path) -> Option<String> + Send + Sync>;

/// Settings shared by every connection of a run.
#[derive(Clone)]
pub struct TransportConfig {
    /// Default known_hosts file (`~/.ssh/known_hosts`); a host's `known_hosts` overrides it.
    pub known_hosts: PathBuf,
    pub host_key_policy: HostKeyPolicy,
    pub connect_timeout: Duration,
    pub keepalive_interval: Duration,
    /// Channels open at once on one connection (OpenSSH's MaxSessions defaults to 10).
    pub max_channels: usize,
    pub passphrase: Option<PassphraseSource>,
}

/// Where and as whom to connect, resolved from a host's inventory variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The inventory name, used in every message.
    pub host: String,
    pub address: String,
    pub port: u16,
    pub user: String,
    pub identity_files: Vec<PathBuf>,
    pub known_hosts: Option<PathBuf>,
}

/// What a remote command did.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_status: Option<u32>,
    pub exit_signal: Option<String>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TransportError {
    #[error("{host}: {message}")]
    Other { host: String, message: String },
}

/// Opens connections; holds what is shared across hosts (decrypted keys, agent socket path).
pub struct Connector {
    pub config: TransportConfig,
}

/// One authenticated SSH connection. Cheap to clone; channels are multiplexed over it.
#[derive(Clone)]
pub struct Connection {}

impl Connector {
    pub fn new(config: TransportConfig) -> Connector {
        Connector { config }
    }

    pub async fn connect(&self, target: &Target) -> Result<Connection, TransportError> {
        let _ = target;
        todo!("connect")
    }
}

impl Connection {
    /// Runs `command` through the login shell, feeding `stdin` if given, and waits for it.
    pub async fn exec(
        &self,
        command: &str,
        stdin: Option<Vec<u8>>,
    ) -> Result<ExecOutput, TransportError> {
        let _ = (command, stdin);
        todo!("exec")
    }

    /// Writes `data` to `path` atomically (temp file in the same directory, then rename).
    pub async fn upload(
        &self,
        path: &str,
        data: &[u8],
        mode: Option<u32>,
    ) -> Result<(), TransportError> {
        let _ = (path, data, mode);
        todo!("upload")
    }

    pub async fn download(&self, path: &str) -> Result<Vec<u8>, TransportError> {
        let _ = path;
        todo!("download")
    }

    pub async fn close(&self) {}
}

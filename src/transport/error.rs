//! The transport's one error type. Every variant carries the facts a user needs (host, address,
//! file and line, what was tried) and every message starts with the inventory host name, so the
//! engine can report it as is.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TransportError {
    /// TCP connect or SSH handshake failed: refused, timed out, no route, DNS, banner.
    #[error("{host}: cannot connect to {address}: {reason}")]
    #[diagnostic(
        code(drover::transport::unreachable),
        help(
            "check that the host is up, that sshd listens on that port, and ansible_host/ansible_port"
        )
    )]
    Unreachable {
        host: String,
        address: String,
        reason: String,
    },

    #[error(
        "{host}: host key for {name} has changed ({fingerprint}); offending key in {}:{line} — if the host was reinstalled, remove that line (ssh-keygen -R '{name}' -f {})",
        file.display(),
        file.display()
    )]
    #[diagnostic(
        code(drover::transport::host_key_changed),
        help(
            "someone could be intercepting the connection (man-in-the-middle); verify the new key out of band before removing the old one"
        )
    )]
    HostKeyChanged {
        host: String,
        name: String,
        fingerprint: String,
        file: PathBuf,
        line: usize,
    },

    #[error(
        "{host}: host key for {name} is revoked ({fingerprint}); marked @revoked in {}:{line}",
        file.display()
    )]
    #[diagnostic(code(drover::transport::host_key_revoked))]
    HostKeyRevoked {
        host: String,
        name: String,
        fingerprint: String,
        file: PathBuf,
        line: usize,
    },

    #[error(
        "{host}: host key for {name} is not known ({fingerprint}) and strict host key checking is on; no entry in {}",
        file.display()
    )]
    #[diagnostic(
        code(drover::transport::host_key_unknown),
        help(
            "verify the fingerprint, then connect once with `--host-key-checking accept-new` (or add the key with ssh-keyscan)"
        )
    )]
    HostKeyUnknown {
        host: String,
        name: String,
        fingerprint: String,
        file: PathBuf,
    },

    #[error(
        "{host}: {}:{line} names {name} but is not a readable known_hosts entry, so the server's key ({fingerprint}) cannot be checked against it",
        file.display()
    )]
    #[diagnostic(
        code(drover::transport::known_hosts_damaged),
        help(
            "fix or delete that line (`ssh-keygen -R {name} -f {}`); drover does not add a second entry beside a damaged one",
            file.display()
        )
    )]
    HostKeyDamaged {
        host: String,
        name: String,
        fingerprint: String,
        file: PathBuf,
        line: usize,
    },

    /// A host certificate signed by a trusted `@cert-authority` that does not hold.
    #[error("{host}: host certificate for {name} ({fingerprint}) refused: {reason}")]
    #[diagnostic(code(drover::transport::host_certificate))]
    HostCertificate {
        host: String,
        name: String,
        fingerprint: String,
        reason: String,
    },

    /// known_hosts exists but cannot be read, or a new key cannot be appended to it.
    #[error("{host}: known_hosts file {}: {reason}", file.display())]
    #[diagnostic(code(drover::transport::known_hosts))]
    KnownHosts {
        host: String,
        file: PathBuf,
        reason: String,
    },

    #[error("{host}: permission denied for user {user} (tried: {})", tried_list(.tried))]
    #[diagnostic(
        code(drover::transport::auth),
        help(
            "set ansible_ssh_private_key_file, load the key into ssh-agent (SSH_AUTH_SOCK), or check the user's authorized_keys"
        )
    )]
    Auth {
        host: String,
        user: String,
        tried: Vec<String>,
    },

    /// A key file that was asked for explicitly cannot be used.
    #[error("{host}: key file {}: {reason}", path.display())]
    #[diagnostic(
        code(drover::transport::key_file),
        help("for an encrypted key, set DROVER_SSH_PASSPHRASE or answer the passphrase prompt")
    )]
    KeyFile {
        host: String,
        path: PathBuf,
        reason: String,
    },

    #[error("{host}: bad connection variable {variable}: {reason}")]
    #[diagnostic(code(drover::transport::variable))]
    Variable {
        host: String,
        variable: String,
        reason: String,
    },

    #[error("{host}: SSH channel: {reason}")]
    #[diagnostic(code(drover::transport::channel))]
    Channel { host: String, reason: String },

    /// `become` could not switch user: a wrong or missing password, a refused sudo.
    #[error("{host}: become ({method} to {user}) failed: {reason}")]
    #[diagnostic(code(drover::transport::escalation))]
    Become {
        host: String,
        method: &'static str,
        user: String,
        reason: String,
    },

    #[error("{host}: SFTP {path}: {reason}")]
    #[diagnostic(code(drover::transport::sftp))]
    Sftp {
        host: String,
        path: String,
        reason: String,
    },

    /// A local file given to `upload_file` / `download_to_file` failed.
    #[error("{host}: local file {}: {reason}", path.display())]
    #[diagnostic(code(drover::transport::local_file))]
    LocalFile {
        host: String,
        path: PathBuf,
        reason: String,
    },

    #[error("{host}: connection lost")]
    #[diagnostic(code(drover::transport::disconnected))]
    Disconnected { host: String },

    #[error(
        "{host}: ansible_connection `{kind}` is not supported by drover (it connects with ssh, \
         or `local` for the control machine)"
    )]
    #[diagnostic(code(drover::transport::connection_type))]
    ConnectionType { host: String, kind: String },

    /// A connection setting drover cannot honour, where ignoring it would change where or
    /// how it connects (a proxy, a user, a key, the host-key policy).
    #[error("{host}: {setting} (set in {origin}) is not supported by drover: {reason}")]
    #[diagnostic(
        code(drover::transport::unsupported_setting),
        help("remove it for this host, or use a setting drover honours (README: SSH)")
    )]
    Unsupported {
        host: String,
        setting: String,
        origin: String,
        reason: String,
    },

    /// The ssh_config for this host cannot be read or evaluated.
    #[error("{host}: {error}")]
    #[diagnostic(code(drover::transport::ssh_config))]
    SshConfig {
        host: String,
        error: Box<super::ssh_config::SshConfigError>,
    },

    /// A `ProxyJump` chain comes back to a host already on it.
    #[error("{host}: ProxyJump loop: {chain}")]
    #[diagnostic(
        code(drover::transport::proxy_loop),
        help(
            "a bastion's own ProxyJump must not lead back to a host on the chain; set `ProxyJump none` for the first bastion"
        )
    )]
    ProxyLoop { host: String, chain: String },
}

fn tried_list(tried: &[String]) -> String {
    if tried.is_empty() {
        "no keys: no identity file, no ssh-agent, no default key in ~/.ssh".to_string()
    } else {
        tried.join(", ")
    }
}

impl TransportError {
    /// Whether Ansible would call this host UNREACHABLE (as opposed to a failed task): the
    /// connection could not be made, trusted or authenticated, or it was lost.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            TransportError::Unreachable { .. }
                | TransportError::HostKeyChanged { .. }
                | TransportError::HostKeyRevoked { .. }
                | TransportError::HostKeyUnknown { .. }
                | TransportError::HostKeyDamaged { .. }
                | TransportError::HostCertificate { .. }
                | TransportError::KnownHosts { .. }
                | TransportError::Auth { .. }
                | TransportError::KeyFile { .. }
                | TransportError::Disconnected { .. }
                | TransportError::ConnectionType { .. }
                | TransportError::Unsupported { .. }
                | TransportError::SshConfig { .. }
                | TransportError::ProxyLoop { .. }
        )
    }

    /// The inventory host the error is about.
    pub fn host(&self) -> &str {
        match self {
            TransportError::Unreachable { host, .. }
            | TransportError::HostKeyChanged { host, .. }
            | TransportError::HostKeyRevoked { host, .. }
            | TransportError::HostKeyUnknown { host, .. }
            | TransportError::HostKeyDamaged { host, .. }
            | TransportError::HostCertificate { host, .. }
            | TransportError::KnownHosts { host, .. }
            | TransportError::Auth { host, .. }
            | TransportError::KeyFile { host, .. }
            | TransportError::Variable { host, .. }
            | TransportError::Channel { host, .. }
            | TransportError::Become { host, .. }
            | TransportError::Sftp { host, .. }
            | TransportError::LocalFile { host, .. }
            | TransportError::ConnectionType { host, .. }
            | TransportError::Unsupported { host, .. }
            | TransportError::SshConfig { host, .. }
            | TransportError::ProxyLoop { host, .. }
            | TransportError::Disconnected { host } => host,
        }
    }
}

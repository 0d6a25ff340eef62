//! Public-key authentication in OpenSSH's order: the target's identity files, then ssh-agent,
//! then the default keys in `~/.ssh`. Owns the run-wide cache of decrypted keys so each key
//! file is read and decrypted at most once, however many hosts connect at the same time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::timeout;

use russh::client::{AuthResult, Handle, Handler};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::ssh_key::HashAlg;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use tokio::sync::OnceCell;

use super::trace::{NEGOTIATION, Trace};
use super::{PassphraseSource, Target, TransportError};

/// Environment variable holding the passphrase of encrypted key files.
pub const PASSPHRASE_ENV: &str = "DROVER_SSH_PASSPHRASE";

const DEFAULT_KEYS: &[&str] = &["id_ed25519", "id_ecdsa", "id_rsa"];

type KeySlot = Arc<OnceCell<Result<Arc<PrivateKey>, String>>>;

/// Decrypted keys by path, shared by every connect of a run. Failures are cached too, so a
/// wrong passphrase is asked for once, not once per host.
pub(crate) struct KeyCache {
    slots: Mutex<HashMap<PathBuf, KeySlot>>,
    env_passphrase: Option<String>,
    prompt: Option<PassphraseSource>,
}

impl KeyCache {
    pub(crate) fn new(prompt: Option<PassphraseSource>) -> KeyCache {
        KeyCache {
            slots: Mutex::new(HashMap::new()),
            env_passphrase: std::env::var(PASSPHRASE_ENV).ok().filter(|p| !p.is_empty()),
            prompt,
        }
    }

    /// The decrypted key at `path`, or why it cannot be used.
    pub(crate) async fn load(&self, path: &Path) -> Result<Arc<PrivateKey>, String> {
        let slot = {
            let mut slots = self
                .slots
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            slots.entry(path.to_path_buf()).or_default().clone()
        };
        // The OnceCell makes concurrent callers for the same path wait for one decryption.
        slot.get_or_init(|| self.decrypt(path.to_path_buf()))
            .await
            .clone()
    }

    async fn decrypt(&self, path: PathBuf) -> Result<Arc<PrivateKey>, String> {
        let contents = tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| format!("cannot read: {e}"))?;
        let env_passphrase = self.env_passphrase.clone();
        let prompt = self.prompt.clone();
        // Decryption (bcrypt KDF) costs hundreds of ms and a prompt blocks on the terminal:
        // keep both off the async workers.
        tokio::task::spawn_blocking(move || {
            match russh::keys::decode_secret_key(&contents, None) {
                Ok(key) => return Ok(Arc::new(key)),
                Err(russh::keys::Error::KeyIsEncrypted) => {}
                Err(_) if contents.contains("ENCRYPTED") => {}
                Err(e) => return Err(format!("not a usable private key: {e}")),
            }
            let passphrase = env_passphrase
                .or_else(|| prompt.and_then(|ask| ask(&path)))
                .ok_or_else(|| {
                    format!("is encrypted and no passphrase was given (set {PASSPHRASE_ENV})")
                })?;
            russh::keys::decode_secret_key(&contents, Some(&passphrase))
                .map(Arc::new)
                .map_err(|e| format!("cannot decrypt (wrong passphrase?): {e}"))
        })
        .await
        .map_err(|e| format!("key loading task failed: {e}"))?
    }
}

/// Tries every available key until the server accepts one.
pub(crate) async fn authenticate<H: Handler>(
    handle: &mut Handle<H>,
    target: &Target,
    keys: &KeyCache,
    agent_socket: Option<&Path>,
    limit: Duration,
    trace: &Trace,
) -> Result<(), TransportError> {
    let user = target.user.as_str();
    let accepted = |what: &str| {
        trace.say(NEGOTIATION, || {
            format!("SSH: authenticated as {user} with {what}")
        });
        Ok(())
    };
    let refused = |tried: &mut Vec<String>, what: String| {
        trace.say(NEGOTIATION, || format!("SSH: {what} refused for {user}"));
        tried.push(what);
    };
    let mut tried: Vec<String> = Vec::new();
    let mut key_file_error: Option<TransportError> = None;
    let ssh_failure = |e: russh::Error| TransportError::Unreachable {
        host: target.host.clone(),
        address: format!("{}:{}", target.address, target.port),
        reason: format!("authentication aborted: {e}"),
    };
    // Every exchange with the server or the agent is bounded, so a peer that stalls after
    // the key exchange cannot hang the host. Key loading is not: it may wait for a human
    // typing a passphrase.
    let stalled = || TransportError::Unreachable {
        host: target.host.clone(),
        address: format!("{}:{}", target.address, target.port),
        reason: format!(
            "authentication stalled for {:.1}s (server or ssh-agent not answering)",
            limit.as_secs_f64()
        ),
    };

    for path in &target.identity_files {
        match keys.load(path).await {
            Ok(key) => {
                // An OpenSSH user certificate for this key: CertificateFile, or
                // `KEY-cert.pub` beside it (as ssh does); tried before the bare key.
                for cert_path in certificates_for(path, &target.certificate_files) {
                    let Ok(cert) = russh::keys::load_openssh_certificate(&cert_path) else {
                        continue;
                    };
                    if cert.public_key() != key.public_key().key_data() {
                        continue;
                    }
                    let accepted_cert = timeout(
                        limit,
                        handle.authenticate_openssh_cert(&target.user, key.clone(), cert),
                    )
                    .await
                    .map_err(|_| stalled())?
                    .map_err(ssh_failure)?;
                    if accepted_cert.success() {
                        return accepted(&format!("certificate {}", cert_path.display()));
                    }
                    refused(&mut tried, format!("certificate {}", cert_path.display()));
                }
                if timeout(limit, try_key(handle, &target.user, key))
                    .await
                    .map_err(|_| stalled())?
                    .map_err(ssh_failure)?
                {
                    return accepted(&format!("key {}", path.display()));
                }
                refused(&mut tried, format!("key {}", path.display()));
            }
            Err(reason) => {
                refused(&mut tried, format!("key {} (unusable)", path.display()));
                key_file_error.get_or_insert(TransportError::KeyFile {
                    host: target.host.clone(),
                    path: path.clone(),
                    reason,
                });
            }
        }
    }

    // IdentitiesOnly: the agent may sign only for the identity files' keys.
    let mut allowed = Vec::new();
    if target.identities_only {
        for path in &target.identity_files {
            if let Ok(key) = keys.load(path).await {
                allowed.push(key.public_key().key_data().clone());
            }
        }
    }
    if let Some(socket) = agent_socket
        && let Ok(Ok(mut agent)) = timeout(limit, AgentClient::connect_uds(socket)).await
        && let Ok(Ok(identities)) = timeout(limit, agent.request_identities()).await
    {
        for identity in identities {
            let AgentIdentity::PublicKey { key, comment } = identity else {
                continue;
            };
            if target.identities_only && !allowed.contains(key.key_data()) {
                continue;
            }
            let hash_alg = if key.algorithm().is_rsa() {
                timeout(limit, rsa_hash(handle))
                    .await
                    .map_err(|_| stalled())?
                    .map_err(ssh_failure)?
            } else {
                None
            };
            let fingerprint = key.fingerprint(HashAlg::Sha256);
            let signed = timeout(
                limit,
                handle.authenticate_publickey_with(&target.user, key, hash_alg, &mut agent),
            )
            .await
            .map_err(|_| stalled())?;
            match signed {
                Ok(AuthResult::Success) => {
                    return accepted(&format!("agent key {fingerprint} {comment}"));
                }
                Ok(AuthResult::Failure { .. }) => {}
                // The agent refused to sign (locked, confirm denied): try the next key.
                Err(_) => {}
            }
            refused(
                &mut tried,
                format!("agent key {fingerprint} {comment}")
                    .trim_end()
                    .to_string(),
            );
        }
    }

    if target.default_identities
        && let Some(ssh_dir) = super::target::home_dir().map(|home| home.join(".ssh"))
    {
        for name in DEFAULT_KEYS {
            let path = ssh_dir.join(name);
            if target.identity_files.contains(&path) || !path.exists() {
                continue;
            }
            match keys.load(&path).await {
                Ok(key) => {
                    if timeout(limit, try_key(handle, &target.user, key))
                        .await
                        .map_err(|_| stalled())?
                        .map_err(ssh_failure)?
                    {
                        return accepted(&format!("key {}", path.display()));
                    }
                    refused(&mut tried, format!("key {}", path.display()));
                }
                // A default key is only a guess: an unusable one is noted, not fatal.
                Err(_) => refused(&mut tried, format!("key {} (unusable)", path.display())),
            }
        }
    }

    // A password (`ansible_password`, `-k`): the `password` method, then
    // keyboard-interactive answering every prompt with it (PAM-style servers).
    if let Some(password) = target
        .password
        .as_ref()
        .filter(|_| target.password_authentication)
    {
        let sent = timeout(
            limit,
            handle.authenticate_password(&target.user, password.expose()),
        )
        .await
        .map_err(|_| stalled())?
        .map_err(ssh_failure)?;
        if sent.success() {
            return accepted("a password");
        }
        refused(&mut tried, "password".into());
        if timeout(
            limit,
            keyboard_interactive(handle, &target.user, password.expose()),
        )
        .await
        .map_err(|_| stalled())?
        .map_err(ssh_failure)?
        {
            return accepted("keyboard-interactive (the password)");
        }
        refused(&mut tried, "keyboard-interactive".into());
    }

    // A key the user named explicitly that could not be loaded explains the failure better
    // than "permission denied".
    Err(key_file_error.unwrap_or_else(|| TransportError::Auth {
        host: target.host.clone(),
        user: target.user.clone(),
        tried,
    }))
}

async fn try_key<H: Handler>(
    handle: &mut Handle<H>,
    user: &str,
    key: Arc<PrivateKey>,
) -> Result<bool, russh::Error> {
    let hash_alg = if key.algorithm().is_rsa() {
        rsa_hash(handle).await?
    } else {
        None
    };
    let result = handle
        .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, hash_alg))
        .await?;
    Ok(result.success())
}

/// Answers every keyboard-interactive prompt with the password; a bounded number of rounds.
async fn keyboard_interactive<H: Handler>(
    handle: &mut Handle<H>,
    user: &str,
    password: &str,
) -> Result<bool, russh::Error> {
    use russh::client::KeyboardInteractiveAuthResponse as Reply;
    let mut reply = handle
        .authenticate_keyboard_interactive_start(user, None::<String>)
        .await?;
    for _ in 0..5 {
        match reply {
            Reply::Success => return Ok(true),
            Reply::Failure { .. } => return Ok(false),
            Reply::InfoRequest { prompts, .. } => {
                let answers = prompts.iter().map(|_| password.to_string()).collect();
                reply = handle
                    .authenticate_keyboard_interactive_respond(answers)
                    .await?;
            }
        }
    }
    Ok(false)
}

/// Certificates to try with the key at `key`: the configured ones, then `KEY-cert.pub`.
fn certificates_for(key: &Path, configured: &[PathBuf]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = configured.to_vec();
    let beside = PathBuf::from(format!("{}-cert.pub", key.display()));
    if beside.is_file() && !found.contains(&beside) {
        found.push(beside);
    }
    found
}

async fn rsa_hash<H: Handler>(handle: &Handle<H>) -> Result<Option<HashAlg>, russh::Error> {
    Ok(handle.best_supported_rsa_hash().await?.flatten())
}

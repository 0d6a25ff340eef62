//! ansible-vault: reading and writing its format ([`format`]), the passwords an operator gives
//! ([`password`]), and the run's keyring that every reader of YAML, variables files, `copy` /
//! `template` sources and `lookup('unvault')` opens vault data with.
//!
//! Everything decrypted here is handed to [`crate::sensitive`] before it is returned, so the
//! plaintext is masked in every output from then on.

pub mod format;
pub mod password;

pub use format::{DEFAULT_ID, FormatError, is_encrypted};
use std::sync::{Arc, RwLock};

/// One vault secret: its vault id (`default` when none was given) and password.
#[derive(Clone)]
pub struct Secret {
    pub id: String,
    password: Vec<u8>,
}

impl Secret {
    pub fn new(id: impl Into<String>, password: impl Into<Vec<u8>>) -> Secret {
        Secret {
            id: id.into(),
            password: password.into(),
        }
    }

    pub fn password(&self) -> &[u8] {
        &self.password
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}, ********)", self.id)
    }
}

/// The secrets of a run, in the order they were given (tried in that order, as Ansible).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    pub secrets: Vec<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum VaultError {
    #[error("{origin} holds vault data (vault id '{vault_id}') but no vault password was given")]
    #[diagnostic(
        code(drover::vault::no_password),
        help("pass --vault-password-file FILE, --vault-id LABEL@SOURCE or --ask-vault-pass")
    )]
    NoPassword { origin: String, vault_id: String },

    #[error(
        "cannot decrypt {origin} (vault id '{vault_id}'): no vault password given opens it (tried vault ids: {tried})"
    )]
    #[diagnostic(
        code(drover::vault::wrong_password),
        help(
            "check the password file, or give the vault id's own password with --vault-id {vault_id}@SOURCE"
        )
    )]
    WrongPassword {
        origin: String,
        vault_id: String,
        tried: String,
    },

    #[error("cannot read vault data in {origin}: {source}")]
    #[diagnostic(code(drover::vault::format))]
    Format { origin: String, source: FormatError },

    #[error("the vault data in {origin} does not decrypt to UTF-8 text")]
    #[diagnostic(code(drover::vault::not_text))]
    NotText { origin: String },
}

impl Keyring {
    pub fn new(secrets: Vec<Secret>) -> Keyring {
        Keyring { secrets }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Decrypts vault text from `origin` (a file name, or `file:line` for an inline value)
    /// with the first secret that opens it, returning the plaintext and the vault id used.
    /// The plaintext is registered as sensitive.
    pub fn open(&self, text: &[u8], origin: &str) -> Result<(Vec<u8>, String), VaultError> {
        let envelope = format::parse_envelope(text).map_err(|source| VaultError::Format {
            origin: origin.to_string(),
            source,
        })?;
        if self.secrets.is_empty() {
            return Err(VaultError::NoPassword {
                origin: origin.to_string(),
                vault_id: envelope.id().to_string(),
            });
        }
        // As Ansible (vault_id_match off): the header's id picks nothing, every secret is
        // tried in order — the id is not part of what the HMAC protects.
        for secret in &self.secrets {
            match envelope.decrypt(secret.password()) {
                Ok(plain) => return Ok((plain, secret.id.clone())),
                Err(FormatError::WrongPassword) => continue,
                Err(source) => {
                    return Err(VaultError::Format {
                        origin: origin.to_string(),
                        source,
                    });
                }
            }
        }
        let mut tried: Vec<&str> = self.secrets.iter().map(|s| s.id.as_str()).collect();
        tried.dedup();
        Err(VaultError::WrongPassword {
            origin: origin.to_string(),
            vault_id: envelope.id().to_string(),
            tried: tried.join(", "),
        })
    }

    /// [`Keyring::open`] for text (vault values, vars files, templates): the plaintext must be
    /// UTF-8. It is registered as sensitive before it is returned.
    pub fn open_text(&self, text: &[u8], origin: &str) -> Result<String, VaultError> {
        let (plain, _) = self.open(text, origin)?;
        let plain = String::from_utf8(plain).map_err(|_| VaultError::NotText {
            origin: origin.to_string(),
        })?;
        crate::sensitive::register(&plain);
        Ok(plain)
    }
}

static KEYRING: RwLock<Option<Arc<Keyring>>> = RwLock::new(None);
static SHOW_SEALED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Without any vault password, `!vault` values read as `{"__ansible_vault": "<vault text>"}`
/// instead of failing — for showing an inventory, as `ansible-inventory` does. Never for a
/// run: a sealed value must not reach a node.
pub fn show_sealed_values() {
    SHOW_SEALED.store(true, std::sync::atomic::Ordering::Relaxed);
}

pub fn sealed_values_shown() -> bool {
    SHOW_SEALED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Makes `keyring` the run's: every later read of vault data uses it.
pub fn install(keyring: Keyring) {
    let mut slot = KEYRING.write().unwrap_or_else(|e| e.into_inner());
    *slot = Some(Arc::new(keyring));
}

/// The run's keyring (empty until [`install`]).
pub fn keyring() -> Arc<Keyring> {
    KEYRING
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// File contents as drover reads a file that may be vault-encrypted (vars files, `copy` and
/// `template` sources, `unvault`): decrypted when it is vault data, as it is otherwise.
pub fn read_maybe_encrypted(bytes: Vec<u8>, origin: &str) -> Result<Vec<u8>, VaultError> {
    if !is_encrypted(&bytes) {
        return Ok(bytes);
    }
    let (plain, _) = keyring().open(&bytes, origin)?;
    if let Ok(text) = std::str::from_utf8(&plain) {
        crate::sensitive::register_document(text);
    }
    Ok(plain)
}

/// A text file (inventory, playbook, tasks file) as Ansible's loader reads it: decrypted when
/// it is vault data; a vault failure reads as an I/O error naming the file.
pub fn read_to_string(path: &std::path::Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    let bytes = read_maybe_encrypted(bytes, &path.display().to_string())
        .map_err(|err| std::io::Error::other(err.to_string()))?;
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_secret_that_opens_it_wins_and_failures_name_the_file() {
        let text = format::encrypt(b"s3cret", b"prodpw", Some("prod"));
        let ring = Keyring::new(vec![
            Secret::new("dev", "devpw"),
            Secret::new("prod", "prodpw"),
        ]);
        let (plain, id) = ring.open(text.as_bytes(), "vault.yml").unwrap();
        assert_eq!((plain.as_slice(), id.as_str()), (&b"s3cret"[..], "prod"));

        let wrong = Keyring::new(vec![Secret::new("dev", "devpw")]);
        let err = wrong
            .open(text.as_bytes(), "group_vars/all/vault.yml")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot decrypt group_vars/all/vault.yml (vault id 'prod'): no vault password \
             given opens it (tried vault ids: dev)"
        );
        let none = Keyring::default()
            .open(text.as_bytes(), "f.yml")
            .unwrap_err();
        assert!(matches!(none, VaultError::NoPassword { .. }), "{none}");
    }
}

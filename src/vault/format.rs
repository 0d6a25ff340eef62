//! The ansible-vault text format (1.1, and 1.2 which adds a vault id to the header) and its one
//! cipher, `AES256`, as ansible-core's `ansible/parsing/vault/__init__.py` defines them:
//!
//! - header `$ANSIBLE_VAULT;1.1;AES256` (or `…;1.2;AES256;<vault id>`), then the body in
//!   lines of 80 characters, then a newline;
//! - the body is hexlify(hexlify(salt) `\n` hexlify(hmac) `\n` hexlify(ciphertext));
//! - PBKDF2-HMAC-SHA256 over the password and the 32-byte salt, 10000 iterations, gives 80
//!   bytes: the AES-256 key, the HMAC-SHA256 key, the 16-byte initial counter;
//! - the plaintext is PKCS#7-padded to AES's block and encrypted in CTR mode (a 128-bit
//!   big-endian counter); the HMAC is over the ciphertext and is checked (in constant time)
//!   before anything is decrypted.
//!
//! All the cryptography is RustCrypto's (`aes`, `ctr`, `pbkdf2`, `hmac`, `sha2`,
//! `block-padding`); this file only arranges the bytes.

use aes::Aes256;
use block_padding::{Padding, Pkcs7};
use ctr::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

pub const HEADER: &str = "$ANSIBLE_VAULT";
/// The only cipher ansible-vault writes (and the only one ansible-core still reads).
pub const CIPHER: &str = "AES256";
/// The vault id of a secret given without a label, and of a 1.1 envelope.
pub const DEFAULT_ID: &str = "default";
const ITERATIONS: u32 = 10_000;
const KEY_LEN: usize = 32;
const IV_LEN: usize = 16;
const SALT_LEN: usize = 32;
const BLOCK: usize = 16;

/// Why vault text could not be read or opened (the caller adds which file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not vault data (it does not start with `$ANSIBLE_VAULT;`)")]
    NotVault,
    #[error("the vault header `{0}` is not `$ANSIBLE_VAULT;<version>;<cipher>[;<vault id>]`")]
    Header(String),
    #[error("vault cipher `{0}` is not supported (ansible-vault writes AES256)")]
    Cipher(String),
    #[error("the vault data is damaged: {0}")]
    Body(&'static str),
    /// The HMAC did not match: a wrong password (or data altered after encryption).
    #[error("the password does not open it")]
    WrongPassword,
}

/// A parsed envelope: the header's fields and the body, still hexlified once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub version: String,
    pub cipher: String,
    /// The header's vault id (1.2); `None` for 1.1.
    pub vault_id: Option<String>,
    body: Vec<u8>,
}

/// Whether `data` starts as vault data does (ansible's `is_encrypted`: ASCII and the header).
pub fn is_encrypted(data: &[u8]) -> bool {
    data.is_ascii() && data.starts_with(HEADER.as_bytes())
}

/// Splits vault text into its header and body, as ansible's `parse_vaulttext_envelope`.
pub fn parse_envelope(text: &[u8]) -> Result<Envelope, FormatError> {
    if !is_encrypted(text) {
        return Err(FormatError::NotVault);
    }
    // ASCII checked above: the text is valid UTF-8.
    let text = String::from_utf8_lossy(text);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default().trim();
    let fields: Vec<&str> = header.split(';').map(str::trim).collect();
    if fields.len() < 3 || fields[0] != HEADER {
        return Err(FormatError::Header(header.to_string()));
    }
    let vault_id = fields
        .get(3)
        .filter(|id| !id.is_empty())
        .map(|id| id.to_string());
    let body: Vec<u8> = lines.flat_map(|l| l.trim().bytes()).collect();
    Ok(Envelope {
        version: fields[1].to_string(),
        cipher: fields[2].to_string(),
        vault_id,
        body,
    })
}

impl Envelope {
    /// The vault id to report and match secrets by: the header's, else `default`.
    pub fn id(&self) -> &str {
        self.vault_id.as_deref().unwrap_or(DEFAULT_ID)
    }

    /// Decrypts with one password: the HMAC is checked first, so a wrong password is
    /// [`FormatError::WrongPassword`], never garbage.
    pub fn decrypt(&self, password: &[u8]) -> Result<Vec<u8>, FormatError> {
        if self.cipher != CIPHER {
            return Err(FormatError::Cipher(self.cipher.clone()));
        }
        let inner = hex::decode(&self.body).map_err(|_| FormatError::Body("not hexadecimal"))?;
        let mut parts = inner.splitn(3, |b| *b == b'\n');
        let (Some(salt), Some(mac), Some(ciphertext)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(FormatError::Body(
                "salt, HMAC and ciphertext are not all there",
            ));
        };
        let salt = hex::decode(salt).map_err(|_| FormatError::Body("the salt is not hex"))?;
        let mac = hex::decode(mac).map_err(|_| FormatError::Body("the HMAC is not hex"))?;
        let mut data =
            hex::decode(ciphertext).map_err(|_| FormatError::Body("the ciphertext is not hex"))?;
        let keys = Keys::derive(password, &salt);
        keys.mac(&data)
            .verify_slice(&mac)
            .map_err(|_| FormatError::WrongPassword)?;
        if data.is_empty() || data.len() % BLOCK != 0 {
            return Err(FormatError::Body("the ciphertext is not whole AES blocks"));
        }
        keys.cipher().apply_keystream(&mut data);
        let last = data.len() - BLOCK;
        let kept = Pkcs7::raw_unpad(&data[last..])
            .map_err(|_| FormatError::Body("bad padding"))?
            .len();
        data.truncate(last + kept);
        Ok(data)
    }
}

/// Encrypts `plaintext` as ansible-vault does, with a fresh random salt; `vault_id` other
/// than `default` gives a 1.2 header naming it.
pub fn encrypt(plaintext: &[u8], password: &[u8], vault_id: Option<&str>) -> String {
    let salt: [u8; SALT_LEN] = rand::random();
    encrypt_with_salt(plaintext, password, vault_id, &salt)
}

/// [`encrypt`] with a given salt (ansible's `VAULT_ENCRYPT_SALT`; tests).
pub fn encrypt_with_salt(
    plaintext: &[u8],
    password: &[u8],
    vault_id: Option<&str>,
    salt: &[u8],
) -> String {
    let keys = Keys::derive(password, salt);
    let full = plaintext.len() - plaintext.len() % BLOCK;
    let mut data = Vec::with_capacity(full + BLOCK);
    data.extend_from_slice(plaintext);
    data.resize(full + BLOCK, 0);
    Pkcs7::raw_pad(&mut data[full..], plaintext.len() - full);
    keys.cipher().apply_keystream(&mut data);
    let mac = keys.mac(&data).finalize().into_bytes();
    let inner = [hex::encode(salt), hex::encode(mac), hex::encode(&data)].join("\n");
    let body = hex::encode(inner.as_bytes());

    let mut out = match vault_id.filter(|id| !id.is_empty() && *id != DEFAULT_ID) {
        Some(id) => format!("{HEADER};1.2;{CIPHER};{id}"),
        None => format!("{HEADER};1.1;{CIPHER}"),
    };
    for chunk in body.as_bytes().chunks(80) {
        out.push('\n');
        out.push_str(&String::from_utf8_lossy(chunk));
    }
    out.push('\n');
    out
}

struct Keys {
    cipher: [u8; KEY_LEN],
    mac: [u8; KEY_LEN],
    iv: [u8; IV_LEN],
}

impl Keys {
    fn derive(password: &[u8], salt: &[u8]) -> Keys {
        let mut material = [0u8; 2 * KEY_LEN + IV_LEN];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, ITERATIONS, &mut material);
        let mut keys = Keys {
            cipher: [0; KEY_LEN],
            mac: [0; KEY_LEN],
            iv: [0; IV_LEN],
        };
        keys.cipher.copy_from_slice(&material[..KEY_LEN]);
        keys.mac.copy_from_slice(&material[KEY_LEN..2 * KEY_LEN]);
        keys.iv.copy_from_slice(&material[2 * KEY_LEN..]);
        keys
    }

    fn cipher(&self) -> Aes256Ctr {
        Aes256Ctr::new(&self.cipher.into(), &self.iv.into())
    }

    fn mac(&self, data: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.mac)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(data);
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by ansible-vault 2.19 (`ansible-vault encrypt_string --vault-password-file`
    /// with the password `drover-test`): the string `hunter2`.
    const FROM_ANSIBLE: &str = "$ANSIBLE_VAULT;1.1;AES256
39633461373139386465626138633136626230613635623038386661303934313438386239393862
3433306462653934663232313933653239373731353334390a363766646431623634303730373762
65346632623665383133336366363837643166633137616662613463343937663134373639346138
6131343636306461370a326336326465663433663238333835323466666264396662373562373835
3231
";
    /// The same with `--vault-id prod@…` (format 1.2).
    const FROM_ANSIBLE_12: &str = "$ANSIBLE_VAULT;1.2;AES256;prod
36373862333437616333636236656239376634653935313539653266613736333630353434623661
3666356333623339393336393533383735653732643065610a356462623135653330373436623564
37636433373035383630643165326436336262663162646664396166336232353363623133643330
3534303430613930330a643334616161633331333363366533313436336239323731636261346139
3038
";

    #[test]
    fn round_trip_keeps_every_length() {
        for len in [0usize, 1, 15, 16, 17, 31, 32, 100] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let text = encrypt(&plain, b"pw", None);
            let env = parse_envelope(text.as_bytes()).unwrap();
            assert_eq!(env.version, "1.1");
            assert_eq!(env.decrypt(b"pw").unwrap(), plain, "length {len}");
        }
    }

    #[test]
    fn lines_are_80_columns_and_end_with_a_newline() {
        let text = encrypt(&[b'x'; 200], b"pw", Some("prod"));
        assert!(text.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"));
        assert!(text.ends_with('\n'));
        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert!(lines[..lines.len() - 1].iter().all(|l| l.len() == 80));
        assert_eq!(parse_envelope(text.as_bytes()).unwrap().id(), "prod");
    }

    #[test]
    fn a_wrong_password_is_refused_not_garbage() {
        let text = encrypt(b"secret", b"right", None);
        let env = parse_envelope(text.as_bytes()).unwrap();
        assert_eq!(env.decrypt(b"wrong"), Err(FormatError::WrongPassword));
    }

    #[test]
    fn damaged_data_is_refused() {
        let text = encrypt(b"secret", b"pw", None);
        let mut bytes = text.into_bytes();
        let n = bytes.len() - 5;
        bytes[n] = if bytes[n] == b'0' { b'1' } else { b'0' };
        let env = parse_envelope(&bytes).unwrap();
        assert!(env.decrypt(b"pw").is_err());
        assert_eq!(parse_envelope(b"hello"), Err(FormatError::NotVault));
        assert!(matches!(
            parse_envelope(b"$ANSIBLE_VAULT;1.1"),
            Err(FormatError::Header(_))
        ));
    }

    #[test]
    fn reads_what_ansible_vault_wrote() {
        let env = parse_envelope(FROM_ANSIBLE.as_bytes()).unwrap();
        assert_eq!((env.version.as_str(), env.id()), ("1.1", "default"));
        assert_eq!(env.decrypt(b"drover-test").unwrap(), b"hunter2");
        let env = parse_envelope(FROM_ANSIBLE_12.as_bytes()).unwrap();
        assert_eq!((env.version.as_str(), env.id()), ("1.2", "prod"));
        assert_eq!(env.decrypt(b"drover-test").unwrap(), b"hunter2");
        assert_eq!(env.decrypt(b"drover-tesT"), Err(FormatError::WrongPassword));
    }
}

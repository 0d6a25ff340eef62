//! Vault passwords as operators supply them, resolved as ansible-core's `CLI.setup_vault_secrets`
//! does: the configured identity list first, then each `--vault-id`, then each
//! `--vault-password-file` and the configured password file (vault id `default`), then
//! `--ask-vault-pass`. A source is `prompt` (asked on the terminal) or a file: an executable
//! file is run and its stdout is the password (a `*-client` script is given
//! `--vault-id LABEL`), any other file's first line is. A source that fails is a warning when
//! another one gave a password, the error otherwise — as Ansible.
//!
//! The ansible.cfg keys (`vault_password_file`, `vault_identity_list`) are not read here: the
//! caller passes them as [`Configured`]; the environment variables override them.

use super::{DEFAULT_ID, Keyring, Secret};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the command line said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// `--vault-id [LABEL@]SOURCE`, in order.
    pub vault_ids: Vec<String>,
    /// `--vault-password-file FILE`, in order.
    pub password_files: Vec<PathBuf>,
    /// `--ask-vault-pass`.
    pub ask: bool,
}

/// Defaults from configuration (ansible.cfg `[defaults] vault_password_file` and
/// `vault_identity_list`); [`Configured::with_env`] lets `ANSIBLE_VAULT_PASSWORD_FILE` and
/// `ANSIBLE_VAULT_IDENTITY_LIST` override them, as Ansible ranks the environment over the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configured {
    pub password_file: Option<String>,
    pub identity_list: Vec<String>,
}

impl Configured {
    pub fn with_env(mut self) -> Configured {
        self.apply_env(|name| std::env::var(name).ok());
        self
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        if let Some(file) = var("ANSIBLE_VAULT_PASSWORD_FILE").filter(|f| !f.is_empty()) {
            self.password_file = Some(file);
        }
        if let Some(list) = var("ANSIBLE_VAULT_IDENTITY_LIST") {
            self.identity_list = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
    }
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PasswordError {
    #[error("the vault password file {0} was not found")]
    #[diagnostic(code(drover::vault::password_file))]
    NotFound(PathBuf),
    #[error("the vault password file {0} is a directory")]
    #[diagnostic(code(drover::vault::password_file))]
    IsDir(PathBuf),
    #[error("cannot read the vault password file {path}: {source}")]
    #[diagnostic(code(drover::vault::password_file))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run the vault password script {path}: {source}")]
    #[diagnostic(
        code(drover::vault::password_script),
        help("if it is not a script, remove its executable bit")
    )]
    Run {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the vault password script {path} exited with {status}{stderr}")]
    #[diagnostic(code(drover::vault::password_script))]
    Failed {
        path: PathBuf,
        status: String,
        stderr: String,
    },
    #[error("the vault password from {0} is empty")]
    #[diagnostic(code(drover::vault::empty_password))]
    Empty(String),
    #[error("cannot ask for the vault password: {0}")]
    #[diagnostic(code(drover::vault::prompt))]
    Prompt(std::io::Error),
    #[error("the vault passwords do not match")]
    #[diagnostic(code(drover::vault::prompt))]
    Mismatch,
}

/// How a prompt is answered: the terminal in the binary, a closure in tests.
pub type Ask<'a> = &'a mut dyn FnMut(&str) -> std::io::Result<String>;

/// Asks on the terminal without echo.
pub fn ask_terminal(prompt: &str) -> std::io::Result<String> {
    rpassword::prompt_password(prompt)
}

/// The secrets every source gives, in Ansible's order, and warnings for sources that failed
/// while another gave a password. `new` asks twice (a password to encrypt with).
pub fn load(
    sources: &Sources,
    configured: &Configured,
    new: bool,
    ask: Ask,
) -> Result<(Keyring, Vec<String>), PasswordError> {
    let mut slugs: Vec<String> = configured.identity_list.clone();
    slugs.extend(sources.vault_ids.iter().cloned());
    for file in &sources.password_files {
        slugs.push(format!("{DEFAULT_ID}@{}", file.display()));
    }
    if let Some(file) = &configured.password_file {
        slugs.push(format!("{DEFAULT_ID}@{file}"));
    }
    if sources.ask {
        slugs.push(format!("{DEFAULT_ID}@prompt_ask_vault_pass"));
    }

    let mut keyring = Keyring::default();
    let mut warnings = Vec::new();
    let mut last_error = None;
    for slug in slugs {
        let (label, source) = match slug.split_once('@') {
            Some((label, source)) => (Some(label.to_string()), source.to_string()),
            None => (None, slug.clone()),
        };
        let id = label.clone().unwrap_or_else(|| DEFAULT_ID.to_string());
        if source == "prompt" || source == "prompt_ask_vault_pass" {
            // A failed prompt is an error at once, as Ansible.
            let prompt = match (source.as_str(), new) {
                ("prompt", false) => format!("Vault password ({id}): "),
                ("prompt", true) => format!("New vault password ({id}): "),
                (_, false) => "Vault password: ".to_string(),
                (_, true) => "New Vault password: ".to_string(),
            };
            let password = ask(&prompt).map_err(PasswordError::Prompt)?;
            if new {
                let confirm = match source.as_str() {
                    "prompt" => format!("Confirm new vault password ({id}): "),
                    _ => "Confirm New Vault password: ".to_string(),
                };
                if ask(&confirm).map_err(PasswordError::Prompt)? != password {
                    return Err(PasswordError::Mismatch);
                }
            }
            if password.is_empty() {
                return Err(PasswordError::Empty("the prompt".into()));
            }
            keyring.secrets.push(Secret::new(id, password.into_bytes()));
            continue;
        }
        match read_file(&expand_home(&source), label.as_deref(), &keyring) {
            Ok(password) => keyring.secrets.push(Secret::new(id, password)),
            Err(err) => {
                warnings.push(format!("error getting vault password file ({id}): {err}"));
                last_error = Some(err);
            }
        }
    }
    match last_error {
        Some(err) if keyring.is_empty() => Err(err),
        _ => Ok((keyring, warnings)),
    }
}

/// `~/` expanded and a relative path made absolute (as Ansible's `unfrackpath`), so that a
/// script named `pass.sh` runs from the current directory, not from `$PATH`.
fn expand_home(path: &str) -> PathBuf {
    let path = match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    };
    match std::env::current_dir() {
        Ok(cwd) if path.is_relative() => cwd.join(path),
        _ => path,
    }
}

/// A password file's password: an executable is run (`*-client` scripts get
/// `--vault-id LABEL`), its stdout is the password; a plain file's content, stripped. A file
/// that is itself vault data is opened with the secrets given before it, as Ansible.
fn read_file(
    path: &Path,
    label: Option<&str>,
    earlier: &Keyring,
) -> Result<Vec<u8>, PasswordError> {
    let meta = std::fs::metadata(path).map_err(|_| PasswordError::NotFound(path.to_path_buf()))?;
    if meta.is_dir() {
        return Err(PasswordError::IsDir(path.to_path_buf()));
    }
    let executable = {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    };
    let bytes = if executable {
        run_script(path, label)?
    } else {
        let raw = std::fs::read(path).map_err(|source| PasswordError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut text = raw.trim_ascii().to_vec();
        if super::is_encrypted(&text) {
            text = earlier
                .open(&text, &path.display().to_string())
                .map(|(plain, _)| plain)
                .map_err(|err| PasswordError::Read {
                    path: path.to_path_buf(),
                    source: std::io::Error::other(err.to_string()),
                })?;
        }
        text
    };
    let password = trim_newlines(&bytes).to_vec();
    if password.is_empty() {
        return Err(PasswordError::Empty(path.display().to_string()));
    }
    Ok(password)
}

fn run_script(path: &Path, label: Option<&str>) -> Result<Vec<u8>, PasswordError> {
    let mut command = Command::new(path);
    let client = path
        .file_stem()
        .and_then(|s| s.to_str())
        .is_some_and(|s| s.ends_with("-client"));
    if client && let Some(label) = label {
        command.args(["--vault-id", label]);
    }
    // stderr stays the terminal's: a script may prompt there, as Ansible allows.
    command
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(if client {
            Stdio::piped()
        } else {
            Stdio::inherit()
        });
    let out = command.output().map_err(|source| PasswordError::Run {
        path: path.to_path_buf(),
        source,
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(PasswordError::Failed {
            path: path.to_path_buf(),
            status: out.status.to_string(),
            stderr: if stderr.is_empty() {
                String::new()
            } else {
                format!(": {stderr}")
            },
        });
    }
    Ok(out.stdout)
}

fn trim_newlines(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b'\r' | b'\n'))
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn no_prompt(_: &str) -> std::io::Result<String> {
        Err(std::io::Error::other("no terminal in tests"))
    }

    #[test]
    fn files_scripts_ids_and_prompts_in_ansibles_order() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("pw");
        std::fs::write(&plain, "  filepw \n").unwrap();
        let script = dir.path().join("pw.sh");
        std::fs::write(&script, "#!/bin/sh\necho scriptpw\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        let client = dir.path().join("vault-client.sh");
        std::fs::write(&client, "#!/bin/sh\necho \"client-$2\"\n").unwrap();
        std::fs::set_permissions(&client, std::fs::Permissions::from_mode(0o700)).unwrap();

        let sources = Sources {
            vault_ids: vec![
                format!("prod@{}", script.display()),
                "ask@prompt".into(),
                format!("stage@{}", client.display()),
            ],
            password_files: vec![plain.clone()],
            ask: false,
        };
        let configured = Configured {
            password_file: None,
            identity_list: vec![format!("cfg@{}", plain.display())],
        };
        let mut asked = Vec::new();
        let mut answer = |p: &str| {
            asked.push(p.to_string());
            Ok("typed".to_string())
        };
        let (ring, warnings) = load(&sources, &configured, false, &mut answer).unwrap();
        let got: Vec<(String, String)> = ring
            .secrets
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    String::from_utf8_lossy(s.password()).into_owned(),
                )
            })
            .collect();
        let want = [
            ("cfg", "filepw"),
            ("prod", "scriptpw"),
            ("ask", "typed"),
            ("stage", "client-stage"),
            ("default", "filepw"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want);
        assert!(warnings.is_empty());
        assert_eq!(asked, ["Vault password (ask): "]);
    }

    #[test]
    fn a_missing_file_warns_when_another_source_worked_and_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("pw");
        std::fs::write(&plain, "x\n").unwrap();
        let missing = dir.path().join("nope");
        let sources = Sources {
            password_files: vec![missing.clone(), plain],
            ..Sources::default()
        };
        let (ring, warnings) =
            load(&sources, &Configured::default(), false, &mut no_prompt).unwrap();
        assert_eq!(ring.secrets.len(), 1);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let alone = Sources {
            password_files: vec![missing],
            ..Sources::default()
        };
        let err = load(&alone, &Configured::default(), false, &mut no_prompt).unwrap_err();
        assert!(err.to_string().contains("was not found"), "{err}");
    }

    #[test]
    fn environment_overrides_configuration() {
        let mut c = Configured {
            password_file: Some("cfg".into()),
            identity_list: vec!["a@cfg".into()],
        };
        c.apply_env(|name| match name {
            "ANSIBLE_VAULT_PASSWORD_FILE" => Some("env".into()),
            "ANSIBLE_VAULT_IDENTITY_LIST" => Some("x@1, y@2".into()),
            _ => None,
        });
        assert_eq!(c.password_file.as_deref(), Some("env"));
        assert_eq!(c.identity_list, ["x@1", "y@2"]);
    }

    #[test]
    fn a_failing_script_and_an_empty_password_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("bad.sh");
        std::fs::write(&script, "#!/bin/sh\necho oops >&2\nexit 3\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n\n").unwrap();
        for file in [script, empty] {
            let s = Sources {
                password_files: vec![file],
                ..Sources::default()
            };
            assert!(load(&s, &Configured::default(), false, &mut no_prompt).is_err());
        }
    }
}

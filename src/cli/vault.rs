//! The vault part of the command line: the password options every command that reads
//! playbooks takes (`--vault-password-file`, `--vault-id`, `--ask-vault-pass`), and
//! `drover vault encrypt|decrypt|view|edit|encrypt_string|rekey`, which reads and writes
//! exactly what `ansible-vault` does.

use super::CliError;
use clap::{Args, Subcommand};
use drover::vault::password::{self, Configured, Sources};
use drover::vault::{DEFAULT_ID, Keyring, Secret, format};
use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Args, Debug, Clone, Default)]
pub struct VaultArgs {
    /// A vault password file; an executable one is run and its output is the password.
    #[arg(
        long = "vault-password-file",
        alias = "vault-pass-file",
        value_name = "FILE"
    )]
    pub vault_password_files: Vec<PathBuf>,
    /// A vault identity, `LABEL@SOURCE` (SOURCE a file, a script, or `prompt`); repeatable.
    #[arg(long = "vault-id", value_name = "ID")]
    pub vault_ids: Vec<String>,
    /// Ask for the vault password on the terminal.
    #[arg(short = 'J', long = "ask-vault-pass", alias = "ask-vault-password")]
    pub ask_vault_pass: bool,
}

impl VaultArgs {
    fn sources(&self) -> Sources {
        Sources {
            vault_ids: self.vault_ids.clone(),
            password_files: self.vault_password_files.clone(),
            ask: self.ask_vault_pass,
        }
    }
}

/// Loads the run's vault secrets and makes them the run's keyring, before any file is read.
/// `configured` is what ansible.cfg says (`vault_password_file`, `vault_identity_list`); the
/// environment overrides it. Warnings go to stderr, as Ansible's.
pub fn install(args: &VaultArgs, configured: Configured) -> Result<(), CliError> {
    let (keyring, warnings) = load(args, configured, false)?;
    for warning in warnings {
        super::warn(&warning);
    }
    // The passwords themselves are secrets too.
    for secret in &keyring.secrets {
        drover::sensitive::register(&String::from_utf8_lossy(secret.password()));
    }
    drover::vault::install(keyring);
    Ok(())
}

fn load(
    args: &VaultArgs,
    configured: Configured,
    new: bool,
) -> Result<(Keyring, Vec<String>), CliError> {
    for id in &args.vault_ids {
        if id.contains(';') {
            return Err(CliError::Vault(format!(
                "'{id}' is not a valid vault id: the character ';' is not allowed in vault ids"
            )));
        }
    }
    password::load(
        &args.sources(),
        &configured.with_env(),
        new,
        &mut password::ask_terminal,
    )
    .map_err(|e| CliError::Vault(e.to_string()))
}

#[derive(Subcommand, Debug)]
pub enum VaultAction {
    /// Encrypt files in place (or stdin, or to --output), as `ansible-vault encrypt`.
    Encrypt {
        files: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Decrypt vault files in place (or stdin, or to --output).
    Decrypt {
        files: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Print the plaintext of vault files.
    View {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Decrypt into a private temporary file, open $EDITOR, encrypt again when it changed.
    Edit {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Create a new vault file in $EDITOR (as `edit`, from nothing).
    Create {
        file: PathBuf,
        /// Open the editor even without a terminal.
        #[arg(long)]
        skip_tty_check: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Encrypt strings as `!vault |` YAML values to paste into a vars file.
    #[command(name = "encrypt_string", alias = "encrypt-string")]
    EncryptString {
        /// The strings (stdin when none, or `-`).
        strings: Vec<String>,
        /// A variable name for each string, in order.
        #[arg(short = 'n', long = "name")]
        names: Vec<String>,
        /// The variable name for the string read from stdin.
        #[arg(long = "stdin-name")]
        stdin_name: Option<String>,
        /// Ask for the string on the terminal (not echoed).
        #[arg(short = 'p', long = "prompt")]
        prompt: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Encrypt vault files again with a new password.
    Rekey {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The new password's file.
        #[arg(long = "new-vault-password-file", value_name = "FILE")]
        new_vault_password_file: Option<PathBuf>,
        /// The new vault identity, `LABEL@SOURCE`.
        #[arg(long = "new-vault-id", value_name = "ID")]
        new_vault_id: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args, Debug)]
pub struct Common {
    #[command(flatten)]
    vault: VaultArgs,
    /// The vault id to encrypt with (when several are given).
    #[arg(long = "encrypt-vault-id", value_name = "ID")]
    encrypt_vault_id: Option<String>,
    /// Output file for encrypt, decrypt and encrypt_string (`-`: stdout).
    #[arg(long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

fn verr(message: impl Into<String>) -> CliError {
    CliError::Vault(message.into())
}

/// The secret to encrypt with, as ansible-vault's `match_encrypt_secret`: `--encrypt-vault-id`
/// names it, else the only one; with none given, a new password is asked for.
fn encrypt_secret(common: &Common, configured: Configured) -> Result<Secret, CliError> {
    let mut args = common.vault.clone();
    if args.vault_ids.is_empty() && args.vault_password_files.is_empty() && !args.ask_vault_pass {
        let configured = configured.clone().with_env();
        if configured.password_file.is_none() && configured.identity_list.is_empty() {
            args.ask_vault_pass = true;
        }
    }
    let (keyring, warnings) = load(&args, configured, true)?;
    warnings.iter().for_each(|w| super::warn(w));
    if keyring.secrets.len() > 1 && common.encrypt_vault_id.is_none() {
        let ids: Vec<&str> = keyring.secrets.iter().map(|s| s.id.as_str()).collect();
        return Err(verr(format!(
            "the vault-ids {} are available to encrypt; choose one with --encrypt-vault-id",
            ids.join(",")
        )));
    }
    let chosen = match &common.encrypt_vault_id {
        Some(id) => keyring
            .secrets
            .iter()
            .find(|s| &s.id == id)
            .cloned()
            .ok_or_else(|| {
                verr(format!(
                    "did not find a match for --encrypt-vault-id={id} in the known vault-ids"
                ))
            })?,
        None => keyring
            .secrets
            .first()
            .cloned()
            .ok_or_else(|| verr("a vault password is required to use drover vault"))?,
    };
    Ok(chosen)
}

fn decrypt_keyring(common: &Common, configured: Configured) -> Result<Keyring, CliError> {
    let mut args = common.vault.clone();
    if args.vault_ids.is_empty() && args.vault_password_files.is_empty() && !args.ask_vault_pass {
        let c = configured.clone().with_env();
        if c.password_file.is_none() && c.identity_list.is_empty() {
            args.ask_vault_pass = true;
        }
    }
    let (keyring, warnings) = load(&args, configured, false)?;
    warnings.iter().for_each(|w| super::warn(w));
    if keyring.is_empty() {
        return Err(verr("a vault password is required to use drover vault"));
    }
    Ok(keyring)
}

fn encrypt_id(secret: &Secret) -> Option<&str> {
    (secret.id != DEFAULT_ID).then_some(secret.id.as_str())
}

fn read_input(path: &Path) -> Result<Vec<u8>, CliError> {
    if path == Path::new("-") {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .map_err(|e| verr(format!("cannot read stdin: {e}")))?;
        return Ok(data);
    }
    std::fs::read(path).map_err(|e| verr(format!("cannot read {}: {e}", path.display())))
}

/// Writes a result as ansible-vault's `write_data`: stdout for `-`; a file is replaced by a
/// new one with mode 0600 (`keep_mode`: the old file's mode, as `edit` and `rekey` keep it).
fn write_output(path: &Path, data: &[u8], keep_mode: bool) -> Result<(), CliError> {
    if path == Path::new("-") {
        let mut out = std::io::stdout();
        return out
            .write_all(data)
            .and_then(|_| out.flush())
            .map_err(|e| verr(format!("cannot write stdout: {e}")));
    }
    use std::os::unix::fs::OpenOptionsExt;
    let mode = match std::fs::metadata(path) {
        Ok(meta) if keep_mode => meta.permissions().mode() & 0o7777,
        _ => 0o600,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.drover-vault-{:08x}",
        rand::random::<u32>()
    ));
    let fail = |e: std::io::Error| verr(format!("cannot write {}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    let written = file
        .write_all(data)
        .and_then(|_| file.sync_all())
        .and_then(|_| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)))
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}

fn inputs(files: &[PathBuf]) -> Vec<PathBuf> {
    if files.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        files.to_vec()
    }
}

fn check_output(files: &[PathBuf], common: &Common) -> Result<(), CliError> {
    if common.output.is_some() && files.len() > 1 {
        return Err(verr(
            "at most one input file may be used with the --output option",
        ));
    }
    Ok(())
}

fn open(keyring: &Keyring, path: &Path, data: &[u8]) -> Result<(Vec<u8>, String), CliError> {
    let origin = if path == Path::new("-") {
        "stdin".to_string()
    } else {
        path.display().to_string()
    };
    if !drover::vault::is_encrypted(data) {
        return Err(verr(format!(
            "input is not vault encrypted data: {origin} is not a vault encrypted file"
        )));
    }
    keyring.open(data, &origin).map_err(|e| verr(e.to_string()))
}

/// A line typed on the terminal, echoed (a variable name is no secret).
fn ask_line(prompt: &str) -> Result<Option<String>, CliError> {
    super::note_inline(prompt);
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| verr(format!("cannot read the terminal: {e}")))?;
    let line = line.trim().to_string();
    Ok((!line.is_empty()).then_some(line))
}

fn success(message: &str) {
    if std::io::stdout().is_terminal() {
        super::note(message);
    }
}

pub fn execute(action: VaultAction, configured: Configured) -> Result<u8, CliError> {
    match action {
        VaultAction::Encrypt { files, common } => {
            check_output(&files, &common)?;
            let secret = encrypt_secret(&common, configured)?;
            for file in inputs(&files) {
                let data = read_input(&file)?;
                if drover::vault::is_encrypted(&data) {
                    return Err(verr(format!("{} is already encrypted", file.display())));
                }
                let sealed = format::encrypt(&data, secret.password(), encrypt_id(&secret));
                let out = common.output.clone().unwrap_or(file);
                write_output(&out, sealed.as_bytes(), false)?;
            }
            success("Encryption successful");
        }
        VaultAction::Decrypt { files, common } => {
            check_output(&files, &common)?;
            let keyring = decrypt_keyring(&common, configured)?;
            for file in inputs(&files) {
                let data = read_input(&file)?;
                let (plain, _) = open(&keyring, &file, &data)?;
                let out = common.output.clone().unwrap_or(file);
                write_output(&out, &plain, false)?;
            }
            success("Decryption successful");
        }
        VaultAction::View { files, common } => {
            let keyring = decrypt_keyring(&common, configured)?;
            for file in files {
                let data = read_input(&file)?;
                let (plain, _) = open(&keyring, &file, &data)?;
                write_output(Path::new("-"), &plain, false)?;
            }
        }
        VaultAction::Edit { files, common } => {
            let keyring = decrypt_keyring(&common, configured)?;
            for file in files {
                edit(&keyring, &file)?;
            }
        }
        VaultAction::Create {
            file,
            skip_tty_check,
            common,
        } => {
            if !skip_tty_check && !std::io::stdout().is_terminal() {
                return Err(verr("not a tty, editor cannot be opened"));
            }
            let secret = encrypt_secret(&common, configured)?;
            create(&file, &secret)?;
        }
        VaultAction::EncryptString {
            strings,
            names,
            stdin_name,
            prompt,
            common,
        } => {
            encrypt_string(strings, names, stdin_name, prompt, &common, configured)?;
        }
        VaultAction::Rekey {
            files,
            new_vault_password_file,
            new_vault_id,
            common,
        } => {
            let keyring = decrypt_keyring(&common, configured.clone())?;
            let new_args = VaultArgs {
                vault_password_files: new_vault_password_file.into_iter().collect(),
                vault_ids: new_vault_id.into_iter().collect(),
                ask_vault_pass: false,
            };
            let new_args =
                if new_args.vault_ids.is_empty() && new_args.vault_password_files.is_empty() {
                    VaultArgs {
                        ask_vault_pass: true,
                        ..new_args
                    }
                } else {
                    new_args
                };
            let (new, _) = load(&new_args, Configured::default(), true)?;
            let secret = new
                .secrets
                .first()
                .cloned()
                .ok_or_else(|| verr("a new vault password is required to rekey"))?;
            for file in files {
                let data = read_input(&file)?;
                let (plain, _) = open(&keyring, &file, &data)?;
                let sealed = format::encrypt(&plain, secret.password(), encrypt_id(&secret));
                write_output(&file, sealed.as_bytes(), true)?;
            }
            super::note("Rekey successful");
        }
    }
    Ok(0)
}

/// `ansible-vault edit`: the plaintext goes to a 0600 file in a private (0700) temporary
/// directory, `$EDITOR` (default `vi`) edits it, and the file is encrypted again with the
/// same password and vault id only if it changed; the directory is removed in every case.
fn edit(keyring: &Keyring, file: &Path) -> Result<(), CliError> {
    let data = read_input(file)?;
    let (plain, id_used) = open(keyring, file, &data)?;
    let envelope = format::parse_envelope(&data).map_err(|e| verr(e.to_string()))?;
    let secret = keyring
        .secrets
        .iter()
        .find(|s| s.id == id_used && envelope.decrypt(s.password()).is_ok())
        .cloned()
        .ok_or_else(|| verr("the password that opened the file is gone"))?;
    let force = envelope.cipher != format::CIPHER;
    edit_privately(
        file,
        Some(&plain),
        &secret,
        envelope.vault_id.as_deref(),
        force,
    )
}

/// `ansible-vault create`: a new file, written in `$EDITOR` as `edit` does, then encrypted.
fn create(file: &Path, secret: &Secret) -> Result<(), CliError> {
    if file.is_file() {
        return Err(verr(format!(
            "{} exists, please use 'edit' instead",
            file.display()
        )));
    }
    if let Some(parent) = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && !p.exists())
    {
        super::warn(&format!("{} does not exist, creating...", parent.display()));
        std::fs::create_dir_all(parent)
            .map_err(|e| verr(format!("cannot create {}: {e}", parent.display())))?;
    }
    edit_privately(file, None, secret, encrypt_id(secret), false)
}

/// The plaintext (`existing`, or nothing for a new file) in a 0600 file in a private 0700
/// directory, edited with `$EDITOR`, encrypted into `file` when it changed (always for a new
/// file, or with `force`); the directory is removed in every case.
fn edit_privately(
    file: &Path,
    existing: Option<&[u8]>,
    secret: &Secret,
    vault_id: Option<&str>,
    force: bool,
) -> Result<(), CliError> {
    let dir = tempfile::Builder::new()
        .prefix("drover-vault-edit-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .map_err(|e| verr(format!("cannot make a private temporary directory: {e}")))?;
    let ext = file
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tmp = dir.path().join(format!("edit{ext}"));
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| verr(format!("cannot write {}: {e}", tmp.display())))?;
        f.write_all(existing.unwrap_or_default())
            .map_err(|e| verr(format!("cannot write {}: {e}", tmp.display())))?;
    }
    let editor = std::env::var("EDITOR")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    let mut words =
        shlex::split(&editor).ok_or_else(|| verr(format!("cannot split $EDITOR `{editor}`")))?;
    if words.is_empty() {
        words.push("vi".into());
    }
    let status = std::process::Command::new(&words[0])
        .args(&words[1..])
        .arg(&tmp)
        .status()
        .map_err(|e| verr(format!("unable to execute the command \"{editor}\": {e}")))?;
    if !status.success() {
        return Err(verr(format!(
            "the editor `{editor}` exited with {status}; {} is unchanged",
            file.display()
        )));
    }
    let edited =
        std::fs::read(&tmp).map_err(|e| verr(format!("cannot read {}: {e}", tmp.display())))?;
    // The private directory (and the plaintext in it) goes when `dir` is dropped.
    if force || existing != Some(edited.as_slice()) {
        let sealed = format::encrypt(&edited, secret.password(), vault_id);
        write_output(file, sealed.as_bytes(), true)?;
    }
    drop(dir);
    Ok(())
}

/// `ansible-vault encrypt_string`'s output: `[name: ]!vault |` then the vault text indented
/// by 10 spaces; several strings are separated by newlines, with a comment on stderr each.
fn encrypt_string(
    strings: Vec<String>,
    names: Vec<String>,
    stdin_name: Option<String>,
    prompt: bool,
    common: &Common,
    configured: Configured,
) -> Result<(), CliError> {
    let read_stdin =
        strings.iter().any(|s| s == "-") || (strings.is_empty() && !prompt) || stdin_name.is_some();
    if prompt && read_stdin && !(strings.is_empty() && stdin_name.is_none()) {
        return Err(verr(
            "the --prompt option is not supported if also reading input from stdin",
        ));
    }
    let secret = encrypt_secret(common, configured)?;
    let mut items: Vec<(Vec<u8>, &str, Option<String>)> = Vec::new();
    if prompt {
        let name = ask_line("Variable name (enter for no name): ")?;
        let text = password::ask_terminal("String to encrypt (hidden): ")
            .map_err(|e| verr(format!("cannot ask for the string: {e}")))?;
        if text.is_empty() {
            return Err(verr(
                "the plaintext provided from the prompt was empty, not encrypting",
            ));
        }
        items.push((text.into_bytes(), "the interactive prompt", name));
    } else if read_stdin {
        let data = read_input(Path::new("-"))?;
        if data.is_empty() {
            return Err(verr("stdin was empty, not encrypting"));
        }
        items.push((data, "stdin", stdin_name));
    }
    let args: Vec<String> = strings.into_iter().filter(|s| s != "-").collect();
    if !names.is_empty() && args.len() > names.len() {
        super::warn("the number of --name options do not match the number of args");
    }
    for (i, text) in args.into_iter().enumerate() {
        if text.is_empty() {
            return Err(verr(
                "the plaintext provided from the command line args was empty, not encrypting",
            ));
        }
        items.push((
            text.into_bytes(),
            "the command line args",
            names.get(i).cloned(),
        ));
    }
    let several = items.len() > 1;
    let mut outs = Vec::new();
    for (index, (plain, from, name)) in items.into_iter().enumerate() {
        let sealed = format::encrypt(&plain, secret.password(), encrypt_id(&secret));
        let mut lines = vec![match &name {
            Some(name) => format!("{name}: !vault |"),
            None => "!vault |".to_string(),
        }];
        lines.extend(sealed.lines().map(|l| format!("{}{l}", " ".repeat(10))));
        if several {
            let n = index + 1;
            super::note(&match &name {
                Some(name) => format!(
                    "# The encrypted version of variable (\"{name}\", the string #{n} from {from})."
                ),
                None => format!("# The encrypted version of the string #{n} from {from}.)"),
            });
        }
        outs.push(lines.join("\n"));
    }
    outs.push(String::new());
    let out = common.output.clone().unwrap_or_else(|| PathBuf::from("-"));
    write_output(&out, outs.join("\n").as_bytes(), false)?;
    success("Encryption successful");
    Ok(())
}

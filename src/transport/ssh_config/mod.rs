//! OpenSSH client configuration (ssh_config(5)) as `ssh` reads it: the user's file (or the one
//! `-F` names) then `/etc/ssh/ssh_config`; for each keyword the first value obtained wins;
//! `Host` patterns match the name given on the command line, `Match` criteria the host, the
//! original host, the users, `exec`; `Include` reads files in place; `%` tokens and `~` are
//! expanded at the end, as ssh.c does. Values set before the files (Ansible's inventory
//! variables and `-o` options) win over every file.
//!
//! Owns reading and resolving only: it connects to nothing and decides no policy. Keywords
//! drover does not act on are reported in [`HostConfig::unhonoured`] for the caller to warn
//! about or refuse.

mod jump;
mod keywords;
mod lex;
mod local;
mod pattern;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

pub use jump::{Hop, parse_chain, parse_hop};
pub use keywords::Disposition;
pub use lex::Origin;
pub use local::Local;

use keywords::Keyword;
use lex::{CriterionKind, Entry, Reader, Scope};

/// The system-wide client configuration, read after the user's.
pub const SYSTEM_CONFIG: &str = "/etc/ssh/ssh_config";

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SshConfigError {
    #[error("{origin}: {message}")]
    Syntax {
        origin: Origin,
        message: String,
        #[source_code]
        src: Arc<NamedSource<String>>,
        #[label("here")]
        span: SourceSpan,
        #[help]
        help: Option<String>,
    },
    #[error("cannot read ssh config {}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error("{origin}: {message}")]
    Token { origin: String, message: String },
}

/// The parsed files, in reading order.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    files: Vec<Vec<Entry>>,
    /// The files that exist and were read, for messages and `drover check`.
    pub read: Vec<PathBuf>,
}

/// How a host's proxy was configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proxy {
    /// `none`: connect directly, even if a later line says otherwise.
    Direct,
    /// A `ProxyJump` chain as written (`a,user@b:2222`).
    Jump(String),
    /// A `ProxyCommand` as written (tokens unexpanded).
    Command(String),
}

/// Options as set so far, first value wins. Fill it with the higher-precedence values
/// (inventory, `-o`) before [`SshConfig::resolve`] adds the files' values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_files: Vec<String>,
    pub identities_only: Option<bool>,
    pub identity_agent: Option<String>,
    pub certificate_files: Vec<String>,
    pub proxy: Option<Proxy>,
    pub user_known_hosts: Option<Vec<String>>,
    pub global_known_hosts: Option<Vec<String>>,
    /// `yes`, `no`, `accept-new`, `ask` as written (lowercase).
    pub strict_host_key_checking: Option<String>,
    /// Seconds; 0 is `none`.
    pub connect_timeout: Option<u64>,
    pub server_alive_interval: Option<u64>,
    pub server_alive_count_max: Option<u32>,
    pub host_key_alias: Option<String>,
    pub password_authentication: Option<bool>,
    pub pubkey_authentication: Option<bool>,
    pub kbd_interactive_authentication: Option<bool>,
    pub ignore_unknown: Option<String>,
    pub tag: Option<String>,
    /// Where each value from a file was set, by keyword (messages name it).
    pub origins: BTreeMap<String, Origin>,
    /// Lines that applied to this host with keywords drover does not act on.
    pub unhonoured: Vec<Unhonoured>,
}

/// An applying line drover does not act on, and what it does about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhonoured {
    pub keyword: String,
    pub origin: Origin,
    pub disposition: Disposition,
}

/// A host's configuration after the files and token expansion: what to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// The name `Host` lines were matched against (`ansible_host`, else the inventory name).
    pub original: String,
    pub hostname: String,
    pub user: String,
    pub port: u16,
    pub identity_files: Vec<PathBuf>,
    /// Whether identity files came from configuration (else OpenSSH's defaults apply).
    pub identity_files_configured: bool,
    pub identities_only: bool,
    /// `None`: no agent (`IdentityAgent none`); `Some(None)`: `$SSH_AUTH_SOCK`.
    pub identity_agent: Option<Option<PathBuf>>,
    pub certificate_files: Vec<PathBuf>,
    /// A jump chain, or a proxy command with tokens expanded, or none.
    pub proxy_jump: Option<Vec<Hop>>,
    pub proxy_command: Option<String>,
    /// `None`: not configured (the caller's default applies).
    pub user_known_hosts: Option<Vec<PathBuf>>,
    pub global_known_hosts: Vec<PathBuf>,
    pub strict_host_key_checking: Option<String>,
    pub connect_timeout: Option<u64>,
    pub server_alive_interval: Option<u64>,
    pub server_alive_count_max: Option<u32>,
    pub host_key_alias: Option<String>,
    pub password_authentication: Option<bool>,
    pub pubkey_authentication: Option<bool>,
    pub origins: BTreeMap<String, Origin>,
    pub unhonoured: Vec<Unhonoured>,
}

impl SshConfig {
    /// `file`: the one `-F` names (`none`: no file at all; the system file is then skipped,
    /// as `ssh -F` does); else `~/.ssh/config` then `/etc/ssh/ssh_config`. A named file
    /// that is missing is an error; the default ones may be absent.
    pub fn load(file: Option<&Path>, local: &Local) -> Result<SshConfig, SshConfigError> {
        Self::load_from(file, local, Path::new(SYSTEM_CONFIG))
    }

    pub(crate) fn load_from(
        file: Option<&Path>,
        local: &Local,
        system: &Path,
    ) -> Result<SshConfig, SshConfigError> {
        let mut config = SshConfig::default();
        let user = Reader {
            home: &local.home,
            scope: Scope::User,
        };
        match file {
            Some(path) if path.as_os_str() == "none" => {}
            Some(path) => {
                let path = local.expand_tilde(&path.to_string_lossy());
                match user.read_file(&path)? {
                    Some(entries) => {
                        config.files.push(entries);
                        config.read.push(path);
                    }
                    None => {
                        return Err(SshConfigError::Io {
                            path,
                            reason: "no such file".into(),
                        });
                    }
                }
            }
            None => {
                let path = local.home.join(".ssh/config");
                if let Some(entries) = user.read_file(&path)? {
                    config.files.push(entries);
                    config.read.push(path);
                }
                let reader = Reader {
                    home: &local.home,
                    scope: Scope::System,
                };
                if let Some(entries) = reader.read_file(system)? {
                    config.files.push(entries);
                    config.read.push(system.to_path_buf());
                }
            }
        }
        Ok(config)
    }

    /// Parses one file's text (tests, and `-o` style snippets).
    pub fn parse(path: &Path, text: &str, local: &Local) -> Result<SshConfig, SshConfigError> {
        let reader = Reader {
            home: &local.home,
            scope: Scope::User,
        };
        Ok(SshConfig {
            files: vec![reader.parse(path, text, 0)?],
            read: vec![path.to_path_buf()],
        })
    }

    /// `host` as given to ssh (before `HostName`), with `preset` holding what the command
    /// line already set.
    pub fn resolve(
        &self,
        host: &str,
        preset: Options,
        local: &Local,
    ) -> Result<HostConfig, SshConfigError> {
        let original = host.to_ascii_lowercase();
        let mut options = preset;
        let mut want_final = false;
        let mut pass = Pass {
            host: &original,
            original: &original,
            local,
            final_pass: false,
            want_final: &mut want_final,
        };
        for file in &self.files {
            pass.entries(file, &mut options, true)?;
        }
        if want_final {
            // `Match final`: a second pass with the host name as resolved (ssh.c does this
            // after canonicalisation; drover never canonicalises).
            let resolved = options
                .hostname
                .as_deref()
                .map(|h| h.replace("%h", &original).replace("%%", "%"))
                .unwrap_or_else(|| original.clone());
            let mut ignored = false;
            let mut pass = Pass {
                host: &resolved,
                original: &original,
                local,
                final_pass: true,
                want_final: &mut ignored,
            };
            for file in &self.files {
                pass.entries(file, &mut options, true)?;
            }
        }
        finish(host, options, local)
    }
}

struct Pass<'a> {
    /// What `Host` lines match: the name given (the resolved one in the final pass).
    host: &'a str,
    original: &'a str,
    local: &'a Local,
    final_pass: bool,
    want_final: &'a mut bool,
}

impl Pass<'_> {
    /// Applies one file's entries; `active` is the state the file starts in (an included
    /// file starts in its includer's state, and cannot change it).
    fn entries(
        &mut self,
        entries: &[Entry],
        options: &mut Options,
        start_active: bool,
    ) -> Result<(), SshConfigError> {
        let mut active = start_active;
        for entry in entries {
            match entry {
                Entry::Host { patterns } => {
                    active = start_active && pattern::host_line(self.host, patterns);
                }
                Entry::Match { criteria, origin } => {
                    active = start_active && self.matches(criteria, options, origin)?;
                }
                Entry::Include { files } => {
                    for file in files {
                        self.entries(file, options, active)?;
                    }
                }
                Entry::Set {
                    keyword,
                    args,
                    origin,
                } => {
                    if active {
                        options.set(keyword, args, origin);
                    }
                }
            }
        }
        Ok(())
    }

    fn matches(
        &mut self,
        criteria: &[lex::Criterion],
        options: &Options,
        origin: &Origin,
    ) -> Result<bool, SshConfigError> {
        // As match_cfg_line: `host` is HostName as set so far (`%h` expanded), `user` the
        // remote user as set so far, else the local one.
        let host = match (&options.hostname, self.final_pass) {
            (Some(h), _) => h.replace("%h", self.original).replace("%%", "%"),
            (None, true) => self.host.to_string(),
            (None, false) => self.original.to_string(),
        };
        let remote_user = options
            .user
            .clone()
            .unwrap_or_else(|| self.local.user.clone());
        let mut result = true;
        for criterion in criteria {
            let hit = match &criterion.kind {
                CriterionKind::All => true,
                CriterionKind::Canonical => self.final_pass,
                CriterionKind::Final => {
                    if !criterion.negate {
                        *self.want_final = true;
                    }
                    self.final_pass
                }
                CriterionKind::Host(p) => pattern::list_matches(&host, p, true),
                CriterionKind::OriginalHost(p) => pattern::list_matches(self.original, p, true),
                CriterionKind::User(p) => pattern::list_matches(&remote_user, p, false),
                CriterionKind::LocalUser(p) => pattern::list_matches(&self.local.user, p, false),
                CriterionKind::Tagged(p) => {
                    let tag = options.tag.as_deref().unwrap_or("");
                    if tag.is_empty() {
                        p.is_empty()
                    } else {
                        pattern::list_matches(tag, p, false)
                    }
                }
                CriterionKind::Exec(command) => {
                    // Skipped when an earlier criterion already failed, as OpenSSH does.
                    if !result {
                        continue;
                    }
                    let tokens = Tokens {
                        hostname: &host,
                        original: self.original,
                        port: options.port.unwrap_or(22),
                        remote_user: &remote_user,
                        local: self.local,
                        alias: options.host_key_alias.as_deref(),
                        jump: "",
                    };
                    let command =
                        tokens
                            .expand(command)
                            .map_err(|message| SshConfigError::Token {
                                origin: origin.to_string(),
                                message: format!("Match exec: {message}"),
                            })?;
                    std::process::Command::new("/bin/sh")
                        .arg("-c")
                        .arg(&command)
                        .stdin(std::process::Stdio::null())
                        .stdout(std::process::Stdio::null())
                        .status()
                        .map(|s| s.success())
                        .unwrap_or(false)
                }
            };
            if hit == criterion.negate {
                result = false;
            }
        }
        Ok(result)
    }
}

impl Options {
    /// Applies one `Keyword=value` as ssh's `-o` does (first value wins here too); `source`
    /// names where it was written, for messages.
    pub fn apply_line(
        &mut self,
        line: &str,
        source: &str,
        local: &Local,
    ) -> Result<(), SshConfigError> {
        let reader = Reader {
            home: &local.home,
            scope: Scope::User,
        };
        for entry in reader.parse(Path::new(source), line, lex::MAX_DEPTH)? {
            match entry {
                Entry::Set {
                    keyword,
                    args,
                    origin,
                } => self.set(&keyword, &args, &origin),
                Entry::Host { .. } | Entry::Match { .. } | Entry::Include { .. } => {
                    return Err(SshConfigError::Token {
                        origin: source.to_string(),
                        message: format!(
                            "`{line}`: Host, Match and Include are not supported as a command-line option"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Sets `keyword` unless already set (lists accumulate).
    fn set(&mut self, keyword: &Keyword, args: &[String], origin: &Origin) {
        let first = args.first().cloned().unwrap_or_default();
        let yes = |v: &str| matches!(v.to_ascii_lowercase().as_str(), "yes" | "true");
        let name = keyword.name().to_ascii_lowercase();
        let mut took = true;
        macro_rules! once {
            ($field:expr, $value:expr) => {
                if $field.is_none() {
                    $field = Some($value);
                } else {
                    took = false;
                }
            };
        }
        match keyword {
            Keyword::HostName => once!(self.hostname, first),
            Keyword::User => once!(self.user, first),
            Keyword::Port => once!(self.port, first.parse().unwrap_or(22)),
            Keyword::IdentityFile => {
                // `IdentityFile none` clears nothing already set but adds no file.
                if !first.eq_ignore_ascii_case("none") {
                    self.identity_files.push(first);
                }
            }
            Keyword::CertificateFile => {
                if !first.eq_ignore_ascii_case("none") {
                    self.certificate_files.push(first);
                }
            }
            Keyword::IdentitiesOnly => once!(self.identities_only, yes(&first)),
            Keyword::IdentityAgent => once!(self.identity_agent, first),
            Keyword::ProxyJump => once!(
                self.proxy,
                if first.eq_ignore_ascii_case("none") {
                    Proxy::Direct
                } else {
                    Proxy::Jump(first)
                }
            ),
            Keyword::ProxyCommand => once!(
                self.proxy,
                if first.eq_ignore_ascii_case("none") {
                    Proxy::Direct
                } else {
                    Proxy::Command(first)
                }
            ),
            Keyword::UserKnownHostsFile => once!(self.user_known_hosts, args.to_vec()),
            Keyword::GlobalKnownHostsFile => once!(self.global_known_hosts, args.to_vec()),
            Keyword::StrictHostKeyChecking => {
                once!(self.strict_host_key_checking, first.to_ascii_lowercase())
            }
            Keyword::ConnectTimeout => once!(self.connect_timeout, first.parse().unwrap_or(0)),
            Keyword::ServerAliveInterval => {
                once!(self.server_alive_interval, first.parse().unwrap_or(0))
            }
            Keyword::ServerAliveCountMax => {
                once!(self.server_alive_count_max, first.parse().unwrap_or(3))
            }
            Keyword::HostKeyAlias => once!(self.host_key_alias, first),
            Keyword::PasswordAuthentication => once!(self.password_authentication, yes(&first)),
            Keyword::PubkeyAuthentication => once!(self.pubkey_authentication, yes(&first)),
            Keyword::KbdInteractiveAuthentication => {
                once!(self.kbd_interactive_authentication, yes(&first))
            }
            Keyword::IgnoreUnknown => once!(self.ignore_unknown, first),
            Keyword::Tag => once!(self.tag, first),
            Keyword::Unknown(word) => {
                took = false;
                let ignored = self
                    .ignore_unknown
                    .as_deref()
                    .is_some_and(|list| pattern::list_matches(word, list, false));
                if !ignored {
                    self.note(keyword, args, origin);
                }
            }
            Keyword::Other(_) => {
                took = false;
                self.note(keyword, args, origin);
            }
            Keyword::Host | Keyword::Match | Keyword::Include => took = false,
        }
        if took && !self.origins.contains_key(&name) {
            self.origins.insert(name, origin.clone());
        }
    }

    fn note(&mut self, keyword: &Keyword, args: &[String], origin: &Origin) {
        let disposition = keyword.disposition(args);
        if disposition == Disposition::Quiet {
            return;
        }
        let entry = Unhonoured {
            keyword: keyword.name(),
            origin: origin.clone(),
            disposition,
        };
        if !self.unhonoured.contains(&entry) {
            self.unhonoured.push(entry);
        }
    }
}

/// `%` tokens (ssh_config(5) TOKENS) for one host.
struct Tokens<'a> {
    hostname: &'a str,
    original: &'a str,
    port: u16,
    remote_user: &'a str,
    local: &'a Local,
    alias: Option<&'a str>,
    jump: &'a str,
}

impl Tokens<'_> {
    fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('%') => out.push('%'),
                Some('h') => out.push_str(self.hostname),
                Some('n') => out.push_str(self.original),
                Some('p') => out.push_str(&self.port.to_string()),
                Some('r') => out.push_str(self.remote_user),
                Some('u') => out.push_str(&self.local.user),
                Some('d') => out.push_str(&self.local.home.to_string_lossy()),
                Some('i') => out.push_str(&self.local.uid.to_string()),
                Some('l') => out.push_str(&self.local.hostname),
                Some('L') => out.push_str(
                    self.local
                        .hostname
                        .split('.')
                        .next()
                        .unwrap_or(&self.local.hostname),
                ),
                Some('k') => out.push_str(self.alias.unwrap_or(self.original)),
                Some('j') => out.push_str(self.jump),
                Some('C') => {
                    use sha1::Digest;
                    let digest = sha1::Sha1::digest(
                        format!(
                            "{}{}{}{}{}",
                            self.local.hostname,
                            self.hostname,
                            self.port,
                            self.remote_user,
                            self.jump
                        )
                        .as_bytes(),
                    );
                    for byte in digest {
                        out.push_str(&format!("{byte:02x}"));
                    }
                }
                Some(other) => return Err(format!("unknown token %{other} in `{text}`")),
                None => return Err(format!("`{text}` ends with a lone %")),
            }
        }
        Ok(out)
    }
}

/// Token and `~` expansion and defaults, as ssh.c does after reading the files.
fn finish(given: &str, options: Options, local: &Local) -> Result<HostConfig, SshConfigError> {
    let original = given.to_ascii_lowercase();
    let at = |keyword: &str| {
        options
            .origins
            .get(keyword)
            .map_or_else(|| "command line".to_string(), ToString::to_string)
    };
    let token_error = |keyword: &str, message: String| SshConfigError::Token {
        origin: at(keyword),
        message: format!("{keyword}: {message}"),
    };
    // HostName takes only %h and %%.
    let hostname = match &options.hostname {
        Some(h) => h
            .replace("%%", "\u{0}")
            .replace("%h", &original)
            .replace('\u{0}', "%"),
        None => original.clone(),
    };
    let port = options.port.unwrap_or(22);
    let user = options.user.clone().unwrap_or_else(|| local.user.clone());
    let jump = match &options.proxy {
        Some(Proxy::Jump(j)) => j.clone(),
        _ => String::new(),
    };
    let tokens = Tokens {
        hostname: &hostname,
        original: &original,
        port,
        remote_user: &user,
        local,
        alias: options.host_key_alias.as_deref(),
        jump: &jump,
    };
    let path = |keyword: &str, raw: &str| -> Result<PathBuf, SshConfigError> {
        let expanded = tokens.expand(raw).map_err(|m| token_error(keyword, m))?;
        Ok(local.expand_tilde(&expanded))
    };
    let identity_files = options
        .identity_files
        .iter()
        .map(|f| path("identityfile", f))
        .collect::<Result<Vec<_>, _>>()?;
    let certificate_files = options
        .certificate_files
        .iter()
        .map(|f| path("certificatefile", f))
        .collect::<Result<Vec<_>, _>>()?;
    let identity_agent = match options.identity_agent.as_deref() {
        None => Some(None),
        Some(a) if a.eq_ignore_ascii_case("none") => None,
        Some("SSH_AUTH_SOCK") => Some(None),
        Some(a) if a.starts_with('$') => Some(
            std::env::var_os(&a[1..])
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        ),
        Some(a) => Some(Some(path("identityagent", a)?)),
    };
    let user_known_hosts = match &options.user_known_hosts {
        None => None,
        Some(files) if files.iter().any(|f| f.eq_ignore_ascii_case("none")) => Some(Vec::new()),
        Some(files) => Some(
            files
                .iter()
                .map(|f| path("userknownhostsfile", f))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let global_known_hosts = match &options.global_known_hosts {
        None => vec![
            PathBuf::from("/etc/ssh/ssh_known_hosts"),
            PathBuf::from("/etc/ssh/ssh_known_hosts2"),
        ],
        Some(files) if files.iter().any(|f| f.eq_ignore_ascii_case("none")) => Vec::new(),
        Some(files) => files
            .iter()
            .map(|f| path("globalknownhostsfile", f))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let (proxy_jump, proxy_command) = match &options.proxy {
        None | Some(Proxy::Direct) => (None, None),
        Some(Proxy::Jump(chain)) => {
            // ProxyJump takes %h %n %p %r and %%.
            let expanded = tokens
                .expand(chain)
                .map_err(|m| token_error("proxyjump", m))?;
            let hops = parse_chain(&expanded)
                .map_err(|m| token_error("proxyjump", m))?
                .unwrap_or_default();
            (Some(hops), None)
        }
        Some(Proxy::Command(command)) => {
            let expanded = tokens
                .expand(command)
                .map_err(|m| token_error("proxycommand", m))?;
            (None, Some(expanded))
        }
    };
    Ok(HostConfig {
        original,
        identity_files_configured: !identity_files.is_empty(),
        hostname,
        user,
        port,
        identity_files,
        identities_only: options.identities_only.unwrap_or(false),
        identity_agent,
        certificate_files,
        proxy_jump,
        proxy_command,
        user_known_hosts,
        global_known_hosts,
        strict_host_key_checking: options.strict_host_key_checking,
        connect_timeout: options.connect_timeout,
        server_alive_interval: options.server_alive_interval,
        server_alive_count_max: options.server_alive_count_max,
        host_key_alias: options.host_key_alias,
        password_authentication: options.password_authentication,
        pubkey_authentication: options.pubkey_authentication,
        origins: options.origins,
        unhonoured: options.unhonoured,
    })
}

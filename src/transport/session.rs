//! One SSH session per host: TCP connect with a deadline, the russh handshake with the host
//! key checked against known_hosts, and commands run as exec channels multiplexed over it.
//! Channel opens are capped by a semaphore and retried with a short backoff, because sshd's
//! MaxSessions frees a slot only after our close reaches it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client::{self, Handle, Msg};
use russh::keys::PublicKeyOrCertificate;
use russh::keys::ssh_key::{Algorithm, PublicKey};
use russh::{Channel, ChannelMsg, Sig};
use tokio::net::TcpStream;

use super::known_hosts::{self, HostKeyStatus};
use super::{ExecOutput, HostKeyPolicy, Target, TransportConfig, TransportError};

/// Channel-open retries when the server refuses a session (MaxSessions): about 3 s in all.
const OPEN_RETRIES: u32 = 12;
const OPEN_BACKOFF_START: Duration = Duration::from_millis(5);
const OPEN_BACKOFF_MAX: Duration = Duration::from_millis(400);
/// How long an exec that ended without a status waits to learn the connection is gone.
const CLOSE_POLLS: u32 = 20;
const CLOSE_POLL: Duration = Duration::from_millis(10);

/// Verifies the server's host key during the handshake.
pub(crate) struct HostKeyVerifier {
    pub(crate) host: String,
    /// The known_hosts lookup name: `addr`, `[addr]:port`, or the `HostKeyAlias`.
    pub(crate) name: String,
    /// User files, then global ones, in OpenSSH's order.
    pub(crate) files: Vec<PathBuf>,
    /// Where `accept-new` records a key: the first user file.
    pub(crate) append_to: PathBuf,
    pub(crate) policy: HostKeyPolicy,
    /// The refusal, kept so `connect` reports it even if russh wraps the handler's error.
    pub(crate) verdict: Arc<Mutex<Option<TransportError>>>,
    pub(crate) warnings: Option<super::WarningSink>,
    pub(crate) warned: Arc<Mutex<std::collections::HashSet<String>>>,
    /// `-vvvv`: the key the server showed and what known_hosts says of it.
    pub(crate) trace: super::Trace,
}

#[derive(Debug)]
pub(crate) enum HandlerError {
    Ssh(russh::Error),
    HostKey,
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Ssh(e)
    }
}

impl HostKeyVerifier {
    fn refuse(&self, error: TransportError) -> Result<bool, HandlerError> {
        let mut verdict = self
            .verdict
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *verdict = Some(error);
        Err(HandlerError::HostKey)
    }

    /// What all the files say together: a revocation anywhere refuses, a match anywhere
    /// accepts, else the first changed entry, else unknown.
    fn status(&self, key: &PublicKey) -> Result<HostKeyStatus, TransportError> {
        let mut changed = None;
        let mut damaged = None;
        let mut known = false;
        for file in &self.files {
            let status = known_hosts::check_file(file, &self.name, key).map_err(|e| {
                TransportError::KnownHosts {
                    host: self.host.clone(),
                    file: file.clone(),
                    reason: e.to_string(),
                }
            })?;
            match status {
                HostKeyStatus::Revoked { .. } => return Ok(status),
                HostKeyStatus::Known => known = true,
                HostKeyStatus::Changed { .. } => {
                    changed.get_or_insert(status);
                }
                HostKeyStatus::Damaged { .. } => {
                    damaged.get_or_insert(status);
                }
                HostKeyStatus::Unknown => {}
            }
        }
        Ok(if known {
            HostKeyStatus::Known
        } else {
            changed.or(damaged).unwrap_or(HostKeyStatus::Unknown)
        })
    }

    fn verify(&self, key: &PublicKey) -> Result<bool, HandlerError> {
        let fingerprint = known_hosts::describe_key(key);
        let status = match self.status(key) {
            Ok(status) => status,
            Err(e) => return self.refuse(e),
        };
        self.trace.say(super::trace::NEGOTIATION, || {
            let verdict = match &status {
                HostKeyStatus::Known => "known".to_string(),
                HostKeyStatus::Unknown => format!(
                    "not known (StrictHostKeyChecking {})",
                    match self.policy {
                        HostKeyPolicy::Strict => "yes",
                        HostKeyPolicy::AcceptNew => "accept-new",
                        HostKeyPolicy::Off => "no",
                    }
                ),
                HostKeyStatus::Changed { file, line } => {
                    format!("CHANGED (old key at {}:{line})", file.display())
                }
                HostKeyStatus::Revoked { file, line } => {
                    format!("@revoked at {}:{line}", file.display())
                }
                HostKeyStatus::Damaged { file, line } => {
                    format!("named by an unreadable line at {}:{line}", file.display())
                }
            };
            format!(
                "SSH: server host key {fingerprint} for `{}`: {verdict}",
                self.name
            )
        });
        let status = match (status, self.policy) {
            (HostKeyStatus::Unknown, HostKeyPolicy::AcceptNew | HostKeyPolicy::Off) => {
                match known_hosts::append(&self.append_to, &self.name, key) {
                    Ok(status) => status,
                    Err(e) => {
                        return self.refuse(TransportError::KnownHosts {
                            host: self.host.clone(),
                            file: self.append_to.clone(),
                            reason: e.to_string(),
                        });
                    }
                }
            }
            (HostKeyStatus::Changed { file, line }, HostKeyPolicy::Off) => {
                super::warn_once(
                    &self.warnings,
                    &self.warned,
                    format!(
                        "{}: HOST KEY FOR {} HAS CHANGED ({fingerprint}; old key at {}:{line}) and host key checking is off: connecting anyway",
                        self.host,
                        self.name,
                        file.display()
                    ),
                );
                HostKeyStatus::Known
            }
            (HostKeyStatus::Damaged { file, line }, HostKeyPolicy::Off) => {
                super::warn_once(
                    &self.warnings,
                    &self.warned,
                    format!(
                        "{}: {}:{line} names {} but cannot be read ({fingerprint} not checked) and host key checking is off: connecting anyway",
                        self.host,
                        file.display(),
                        self.name
                    ),
                );
                HostKeyStatus::Known
            }
            (status, _) => status,
        };
        match status {
            HostKeyStatus::Known => Ok(true),
            HostKeyStatus::Changed { file, line } => self.refuse(TransportError::HostKeyChanged {
                host: self.host.clone(),
                name: self.name.clone(),
                fingerprint,
                file,
                line,
            }),
            HostKeyStatus::Revoked { file, line } => self.refuse(TransportError::HostKeyRevoked {
                host: self.host.clone(),
                name: self.name.clone(),
                fingerprint,
                file,
                line,
            }),
            HostKeyStatus::Damaged { file, line } => self.refuse(TransportError::HostKeyDamaged {
                host: self.host.clone(),
                name: self.name.clone(),
                fingerprint,
                file,
                line,
            }),
            HostKeyStatus::Unknown => self.refuse(TransportError::HostKeyUnknown {
                host: self.host.clone(),
                name: self.name.clone(),
                fingerprint,
                file: self.append_to.clone(),
            }),
        }
    }
}

impl HostKeyVerifier {
    /// A host certificate (we ask for one only when known_hosts lists a `@cert-authority`
    /// for the host): signed by such an authority, not revoked, valid now, a host
    /// certificate naming this host among its principals — as OpenSSH checks it.
    fn verify_certificate(&self, cert: &russh::keys::Certificate) -> Result<bool, HandlerError> {
        let key = PublicKey::from(cert.public_key().clone());
        let fingerprint = known_hosts::describe_key(&key);
        let mut authorities = Vec::new();
        let mut revoked = Vec::new();
        for file in &self.files {
            let (found, marked) = known_hosts::cert_authorities(file, &self.name);
            authorities.extend(found.into_iter().map(|(ca, line)| (ca, file.clone(), line)));
            revoked.extend(marked);
        }
        let refuse_with = |reason: String| {
            self.refuse(TransportError::HostCertificate {
                host: self.host.clone(),
                name: self.name.clone(),
                fingerprint: fingerprint.clone(),
                reason,
            })
        };
        let signer = cert.signature_key();
        let Some((_, file, line)) = authorities
            .iter()
            .find(|(ca, _, _)| ca.key_data() == signer)
        else {
            // No authority of ours signed it: judge the bare key as usual.
            return self.verify(&key);
        };
        if revoked
            .iter()
            .any(|r| r.key_data() == signer || r.key_data() == cert.public_key())
        {
            return refuse_with("the certificate's key or its authority is @revoked".into());
        }
        if cert.cert_type() != russh::keys::ssh_key::certificate::CertType::Host {
            return refuse_with("it is a user certificate, not a host certificate".into());
        }
        let principal = principal_of(&self.name);
        if !cert.valid_principals().is_empty()
            && !cert.valid_principals().iter().any(|p| p == principal)
        {
            return refuse_with(format!(
                "it is not valid for `{principal}` (principals: {})",
                cert.valid_principals().join(", ")
            ));
        }
        let ca_fingerprint = signer.fingerprint(russh::keys::ssh_key::HashAlg::Sha256);
        if let Err(e) = cert.validate([&ca_fingerprint]) {
            return refuse_with(format!(
                "it does not validate against the @cert-authority at {}:{line}: {e}",
                file.display()
            ));
        }
        self.trace.say(super::trace::NEGOTIATION, || {
            format!(
                "SSH: server host certificate {fingerprint} for `{}` signed by the @cert-authority at {}:{line}",
                self.name,
                file.display()
            )
        });
        Ok(true)
    }
}

/// The host name a certificate must name: the known_hosts name without `[…]:port`.
fn principal_of(name: &str) -> &str {
    name.strip_prefix('[')
        .and_then(|rest| rest.split_once("]:"))
        .map_or(name, |(host, _)| host)
}

impl client::Handler for HostKeyVerifier {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.verify(key),
            // We advertise no certificate algorithms; should a server send one anyway, trust
            // only its plain key, never the (unchecked) certificate authority.
            PublicKeyOrCertificate::Certificate(cert) => self.verify_certificate(cert),
        }
    }
}

/// russh's client config for one host: keepalives, and host key algorithms ordered so the
/// server offers a key type known_hosts already lists for it (as OpenSSH does).
pub(crate) fn client_config(
    config: &TransportConfig,
    known: &[Algorithm],
    certificates: bool,
) -> client::Config {
    let mut preferred = russh::Preferred::default();
    if certificates {
        // A `@cert-authority` covers this host: ask for its host certificate first.
        preferred.host_key_certificates = preferred.key.clone();
    }
    if !known.is_empty() {
        let mut keys: Vec<Algorithm> = preferred.key.to_vec();
        keys.sort_by_key(|alg| !known.iter().any(|k| known_hosts::same_type(k, alg)));
        preferred.key = keys.into();
    }
    client::Config {
        keepalive_interval: (!config.keepalive_interval.is_zero())
            .then_some(config.keepalive_interval),
        keepalive_max: 3,
        nodelay: true,
        preferred,
        ..client::Config::default()
    }
}

/// Resolves and connects within `timeout`, trying each resolved address in turn.
pub(crate) async fn tcp_connect(
    target: &Target,
    timeout: Duration,
) -> Result<TcpStream, TransportError> {
    let unreachable = |reason: String| TransportError::Unreachable {
        host: target.host.clone(),
        address: format!("{}:{}", target.address, target.port),
        reason,
    };
    let deadline = Instant::now() + timeout;
    let lookup = tokio::net::lookup_host((target.address.as_str(), target.port));
    let addresses: Vec<SocketAddr> = match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(addresses)) => addresses.collect(),
        Ok(Err(e)) => return Err(unreachable(format!("cannot resolve address: {e}"))),
        Err(_) => return Err(unreachable("name resolution timed out".to_string())),
    };
    let mut last = String::from("name resolved to no address");
    for address in addresses {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                // Small exec messages should not wait for Nagle.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = describe_io(&e),
            Err(_) => {
                return Err(unreachable(format!(
                    "connection timed out after {:.1}s",
                    timeout.as_secs_f64()
                )));
            }
        }
    }
    Err(unreachable(last))
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        std::io::ErrorKind::HostUnreachable => "no route to host".to_string(),
        std::io::ErrorKind::NetworkUnreachable => "network unreachable".to_string(),
        _ => e.to_string(),
    }
}

/// Runs `command` on `handle`, feeding `stdin`, until the server closes the channel.
pub(crate) async fn exec(
    host: &str,
    handle: &Handle<HostKeyVerifier>,
    permits: &tokio::sync::Semaphore,
    command: &str,
    stdin: Option<Vec<u8>>,
) -> Result<ExecOutput, TransportError> {
    run(host, handle, permits, command, stdin, &mut Started)
        .await?
        .finish(host, handle)
        .await
}

/// The server answered the exec request with a failure.
pub(crate) fn refused(host: &str) -> TransportError {
    TransportError::Channel {
        host: host.to_string(),
        reason: "the server refused to run the command".into(),
    }
}

/// What comes out of a command before the command proper starts, and what to answer it:
/// `become`'s password prompts and success marker. A plain command has started at once.
pub(crate) trait Prelude: Send {
    /// Whether the command proper runs: its stdin may flow and its output is its own.
    fn started(&self) -> bool;
    /// Stdout before the start; returns what of it already belongs to the command.
    fn stdout(&mut self, data: &[u8]) -> Vec<u8>;
    /// Stderr before the start; returns what to send back.
    fn stderr(&mut self, data: &[u8]) -> Vec<Answer>;
}

/// A [`Prelude`]'s answer to what it read.
pub(crate) enum Answer {
    /// Written to the command's stdin (a password line).
    Send(Vec<u8>),
    /// Ends stdin, so a tool asking for what it cannot get gives up instead of waiting.
    EndInput,
}

/// No prelude: the command proper starts at once.
struct Started;

impl Prelude for Started {
    fn started(&self) -> bool {
        true
    }

    fn stdout(&mut self, data: &[u8]) -> Vec<u8> {
        data.to_vec()
    }

    fn stderr(&mut self, _: &[u8]) -> Vec<Answer> {
        Vec::new()
    }
}

/// A command's channel once the server has closed it.
pub(crate) struct Ran {
    pub output: ExecOutput,
    /// The server answered the exec request with a failure before any exit status.
    pub refused: bool,
}

impl Ran {
    /// Whether the command reported how it ended (a status or a signal).
    pub(crate) fn ended(&self) -> bool {
        self.output.exit_status.is_some() || self.output.exit_signal.is_some()
    }

    /// The command's output if it ended; otherwise why not (refused, or the channel or
    /// connection went away first).
    pub(crate) async fn finish(
        self,
        host: &str,
        handle: &Handle<HostKeyVerifier>,
    ) -> Result<ExecOutput, TransportError> {
        if self.ended() {
            return Ok(self.output);
        }
        if self.refused {
            return Err(refused(host));
        }
        Err(ended_without_status(host, handle).await)
    }
}

/// The one channel loop every command goes through: opens a session channel (within the
/// connection's channel cap), execs `command`, lets `prelude` read and answer what precedes
/// the command proper, then feeds `stdin` while reading output until the channel closes.
pub(crate) async fn run(
    host: &str,
    handle: &Handle<HostKeyVerifier>,
    permits: &tokio::sync::Semaphore,
    command: &str,
    stdin: Option<Vec<u8>>,
    prelude: &mut dyn Prelude,
) -> Result<Ran, TransportError> {
    let _permit = permits
        .acquire()
        .await
        .map_err(|_| TransportError::Disconnected {
            host: host.to_string(),
        })?;
    let channel = open_session(host, handle).await?;
    let (mut reader, writer) = channel.split();
    writer
        .exec(true, command)
        .await
        .map_err(|e| lost_or(host, handle, e))?;

    // stdin is written while output is read: a command that echoes its input would otherwise
    // fill both windows and deadlock.
    let feed = async {
        if let Some(data) = &stdin {
            writer.data(data.as_slice()).await?;
        }
        writer.eof().await
    };
    tokio::pin!(feed);
    let mut fed = false;
    let mut output = ExecOutput::default();
    let mut refused = false;
    loop {
        let started = prelude.started();
        tokio::select! {
            // Errors writing stdin are not fatal: the command may exit without reading it all.
            _ = &mut feed, if started && !fed => fed = true,
            message = reader.wait() => match message {
                None => break,
                Some(ChannelMsg::Data { data }) if started => {
                    output.stdout.extend_from_slice(&data)
                }
                Some(ChannelMsg::Data { data }) => {
                    output.stdout.extend_from_slice(&prelude.stdout(&data))
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) if started => {
                    output.stderr.extend_from_slice(&data)
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                    for answer in prelude.stderr(&data) {
                        // A failed write shows as the command ending without starting.
                        let _ = match answer {
                            Answer::Send(bytes) => writer.data(bytes.as_slice()).await,
                            Answer::EndInput => writer.eof().await,
                        };
                    }
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    output.exit_status = Some(exit_status)
                }
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    output.exit_signal = Some(signal_text(&signal_name))
                }
                Some(ChannelMsg::Failure) if output.exit_status.is_none() => refused = true,
                Some(_) => {}
            },
        }
    }
    Ok(Ran { output, refused })
}

/// Why a channel closed without saying how its command ended. sshd always reports it unless
/// the connection died, and the channel may notice that a moment before the session does.
pub(crate) async fn ended_without_status(
    host: &str,
    handle: &Handle<HostKeyVerifier>,
) -> TransportError {
    for _ in 0..CLOSE_POLLS {
        if handle.is_closed() {
            return TransportError::Disconnected {
                host: host.to_string(),
            };
        }
        tokio::time::sleep(CLOSE_POLL).await;
    }
    TransportError::Channel {
        host: host.to_string(),
        reason: "the channel closed without an exit status".into(),
    }
}

/// Opens a session channel, retrying while the server refuses for lack of sessions.
pub(crate) async fn open_session(
    host: &str,
    handle: &Handle<HostKeyVerifier>,
) -> Result<Channel<Msg>, TransportError> {
    let mut backoff = OPEN_BACKOFF_START;
    let mut attempt = 0;
    loop {
        match handle.channel_open_session().await {
            Ok(channel) => return Ok(channel),
            Err(russh::Error::ChannelOpenFailure(reason)) if attempt < OPEN_RETRIES => {
                let _ = reason;
                attempt += 1;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(OPEN_BACKOFF_MAX);
            }
            Err(russh::Error::ChannelOpenFailure(reason)) => {
                return Err(TransportError::Channel {
                    host: host.to_string(),
                    reason: format!(
                        "server refused to open a session after {} attempts ({reason:?}); is sshd's MaxSessions below max_channels?",
                        attempt + 1
                    ),
                });
            }
            Err(e) => return Err(lost_or(host, handle, e)),
        }
    }
}

/// A failed request on a closed connection is a lost host; otherwise a channel problem.
pub(crate) fn lost_or(
    host: &str,
    handle: &Handle<HostKeyVerifier>,
    e: russh::Error,
) -> TransportError {
    if handle.is_closed()
        || matches!(
            e,
            russh::Error::Disconnect
                | russh::Error::HUP
                | russh::Error::SendError
                | russh::Error::KeepaliveTimeout
                | russh::Error::ConnectionTimeout
        )
    {
        TransportError::Disconnected {
            host: host.to_string(),
        }
    } else {
        TransportError::Channel {
            host: host.to_string(),
            reason: e.to_string(),
        }
    }
}

pub(crate) fn signal_text(signal: &Sig) -> String {
    match signal {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(name) => name.as_str(),
    }
    .to_string()
}

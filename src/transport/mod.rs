//! SSH transport: one russh connection per host for the whole run, commands as exec channels,
//! files over SFTP, host keys checked against known_hosts; and the control machine as a host
//! ([`Connection::local`], for `delegate_to: localhost`), with the same interface and
//! guarantees. Owns nothing about tasks or output: it returns data and typed errors that
//! always name the host.

mod auth;
mod error;
mod escalation;
pub mod known_hosts;
mod local;
mod proxy;
mod resolve;
mod session;
mod sftp;
pub mod ssh_config;
mod target;
pub mod trace;

pub use auth::PASSPHRASE_ENV;
pub use error::TransportError;
pub use escalation::{BecomeDefaults, BecomeMethod, BecomePassword, Escalation};
pub use resolve::{ANSIBLE_DEFAULT_SSH_ARGS, ConnectDefaults, Notice, Resolver};
pub use target::{Agent, Reach, Route, Secret, Target};
pub use trace::{Trace, TraceSink};

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How unknown host keys are treated (OpenSSH's `StrictHostKeyChecking`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Refuse unknown hosts and changed keys (OpenSSH `yes`).
    #[default]
    Strict,
    /// Append unknown host keys to the known_hosts file; still refuse changed keys.
    AcceptNew,
    /// OpenSSH `no` (Ansible's `host_key_checking = False`): record unknown keys, accept
    /// changed ones with a warning. Every run using it says so loudly.
    Off,
}

/// Receives the transport's warnings (settings not honoured, host key checking off); each
/// distinct message is delivered once per run.
pub type WarningSink = Arc<dyn Fn(String) + Send + Sync>;

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
    /// `become` for tasks that say nothing of it.
    pub escalation: BecomeDefaults,
    /// Turns hosts' variables into targets (ssh_config, command-line defaults).
    pub resolver: Arc<Resolver>,
    /// `-c`: how hosts without `ansible_connection` are reached.
    pub default_reach: Reach,
    /// `-v`'s count: from 3 the connections tell what they do (see [`trace`]).
    pub trace_level: u8,
}

/// What a remote command did.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_status: Option<u32>,
    pub exit_signal: Option<String>,
}

impl TransportConfig {
    /// OpenSSH's defaults: `known_hosts` strict, 10 s connect timeout, 15 s keepalive,
    /// 8 channels per connection (sshd allows 10 sessions; SFTP keeps one).
    pub fn new(known_hosts: PathBuf) -> TransportConfig {
        TransportConfig {
            known_hosts,
            host_key_policy: HostKeyPolicy::Strict,
            connect_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(15),
            max_channels: 8,
            passphrase: None,
            escalation: BecomeDefaults::default(),
            resolver: Arc::new(Resolver::plain()),
            default_reach: Reach::Ssh,
            trace_level: 0,
        }
    }
}

impl std::fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportConfig")
            .field("known_hosts", &self.known_hosts)
            .field("host_key_policy", &self.host_key_policy)
            .field("connect_timeout", &self.connect_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("max_channels", &self.max_channels)
            .field(
                "passphrase",
                &self.passphrase.as_ref().map(|_| "<callback>"),
            )
            .field("escalation", &self.escalation)
            .field("resolver", &self.resolver)
            .finish()
    }
}

/// Opens connections; holds what is shared across hosts (decrypted keys, agent socket path).
pub struct Connector {
    pub config: TransportConfig,
    keys: auth::KeyCache,
    agent_socket: Option<PathBuf>,
    transfers: sftp::Budget,
    /// One connection per jump host, shared by every host behind it; a failure is kept so
    /// the hosts behind a dead bastion do not each retry it.
    bastions: Mutex<HashMap<String, BastionSlot>>,
    warnings: Option<WarningSink>,
    warned: Arc<Mutex<HashSet<String>>>,
    /// Each failed jump host (as described in messages) and the hosts it cut off.
    cut_off: Mutex<Vec<(String, Vec<String>)>>,
    /// `-vvv`/`-vvvv`: what each connection does, told as it happens.
    trace: Trace,
}

type BastionSlot = Arc<tokio::sync::OnceCell<Result<Arc<Bastion>, String>>>;

/// A jump host's connection and the bound on tunnels being set up through it at once
/// (its sshd's MaxStartups applies to the hosts behind it too).
struct Bastion {
    conn: Connection,
    opening: Arc<tokio::sync::Semaphore>,
}

/// File data in flight to and from all hosts at once (see [`sftp::Budget`]): 128 chunks of
/// 32 KiB, a full window each for 8 hosts, one chunk each for 128. Each chunk in flight is
/// held two or three times over (request, serialised packet, channel data), so this bounds
/// the control process's memory while many hosts copy; 4 MiB per round trip is still
/// 200 MiB/s at 20 ms. 8 MiB cost 1.3 MiB more peak RSS at 100 hosts and was no faster.
const TRANSFER_BUDGET: usize = 4 * 1024 * 1024;

/// One authenticated SSH connection, or the control machine itself. Cheap to clone; channels
/// are multiplexed over an SSH connection.
#[derive(Clone)]
pub struct Connection {
    link: Link,
    /// `become` and `environment` for this view of the connection (plain by default).
    run_as: Arc<escalation::RunAs>,
    /// `-vvv`: the commands this connection runs and the files it moves.
    trace: Trace,
}

#[derive(Clone)]
enum Link {
    Ssh(Arc<Slot>),
    Local(Arc<local::Local>),
}

/// The host's current SSH connection, shared by every clone and view of a [`Connection`]:
/// [`Connection::adopt`] puts a fresh one in (after a reboot), and everything holding the
/// connection — the host's tasks, its lock's renewal — uses the fresh one from then on.
struct Slot {
    host: String,
    current: std::sync::RwLock<Arc<Inner>>,
}

impl Slot {
    fn new(inner: Inner) -> Slot {
        Slot {
            host: inner.host.clone(),
            current: std::sync::RwLock::new(Arc::new(inner)),
        }
    }

    fn get(&self) -> Arc<Inner> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

struct Inner {
    host: String,
    handle: russh::client::Handle<session::HostKeyVerifier>,
    channels: tokio::sync::Semaphore,
    sftp: tokio::sync::OnceCell<sftp::Sftp>,
    transfers: sftp::Budget,
    /// Whether the login shell is `/bin/sh` itself, learnt on the first [`Connection::sh`].
    login_shell_is_sh: tokio::sync::OnceCell<bool>,
    /// The ProxyCommand process carrying this connection (killed when it is dropped).
    _proxy: Option<tokio::process::Child>,
}

impl Connector {
    /// Reads `SSH_AUTH_SOCK` and `DROVER_SSH_PASSPHRASE` once, for the whole run.
    pub fn new(config: TransportConfig) -> Connector {
        let agent_socket = std::env::var_os("SSH_AUTH_SOCK")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        Connector {
            keys: auth::KeyCache::new(config.passphrase.clone()),
            config,
            agent_socket,
            transfers: sftp::Budget::new(TRANSFER_BUDGET),
            bastions: Mutex::default(),
            cut_off: Mutex::default(),
            warnings: None,
            warned: Arc::default(),
            trace: Trace::default(),
        }
    }

    /// Tells `sink` what connections do, up to `level` (3: commands and transfers, 4: the
    /// SSH negotiation too); nothing below 3.
    pub fn with_trace(mut self, sink: TraceSink, level: u8) -> Connector {
        if level >= trace::COMMANDS {
            self.trace = Trace::new(sink, level);
        }
        self
    }

    /// The control machine as `host`, its commands traced as SSH hosts' are.
    pub fn local(&self, host: &str) -> Connection {
        Connection {
            trace: self.trace.for_host(host),
            ..Connection::local(host)
        }
    }

    /// Caps the file data in flight over SFTP across all of this connector's connections
    /// (default 4 MiB); tests use a small cap to show transfers still finish under it.
    pub fn with_transfer_budget(mut self, bytes: usize) -> Connector {
        self.transfers = sftp::Budget::new(bytes);
        self
    }

    /// Uses this ssh-agent socket instead of `SSH_AUTH_SOCK` (None: no agent).
    pub fn with_agent_socket(mut self, socket: Option<PathBuf>) -> Connector {
        self.agent_socket = socket;
        self
    }

    /// Sends the transport's warnings to `sink`, each distinct one once.
    pub fn with_warnings(mut self, sink: WarningSink) -> Connector {
        self.warnings = Some(sink);
        self
    }

    /// Delivers `message` unless it was delivered before in this run.
    pub fn warn(&self, message: String) {
        warn_once(&self.warnings, &self.warned, message);
    }

    /// How `host` is reached: its `ansible_connection`, else the run's `-c`.
    pub fn reach(
        &self,
        host: &str,
        vars: &indexmap::IndexMap<String, serde_json::Value>,
    ) -> Result<Reach, TransportError> {
        if vars.get("ansible_connection").is_none_or(|v| v.is_null()) {
            return Ok(self.config.default_reach);
        }
        Reach::from_vars(host, vars)
    }

    /// `host`'s target from its variables (ssh_config and the run's defaults applied), its
    /// notices delivered as warnings.
    pub fn target(
        &self,
        host: &str,
        vars: &indexmap::IndexMap<String, serde_json::Value>,
    ) -> Result<Target, TransportError> {
        let (target, notices) = self.config.resolver.target(host, vars)?;
        for notice in notices {
            self.warn(notice.message);
        }
        Ok(target)
    }

    /// Connects (through the target's jump hosts or proxy command), verifies the host key
    /// of every hop and authenticates. Every failure is one of the
    /// [`TransportError::is_unreachable`] kinds.
    pub async fn connect(&self, target: &Target) -> Result<Connection, TransportError> {
        Box::pin(self.connect_route(target)).await
    }

    async fn connect_route(&self, target: &Target) -> Result<Connection, TransportError> {
        let limit = target
            .connect_timeout
            .unwrap_or(self.config.connect_timeout);
        let unreachable = |reason: String| TransportError::Unreachable {
            host: target.host.clone(),
            address: format!("{}:{}", target.address, target.port),
            reason,
        };
        let trace = self.trace.for_host(&target.host);
        trace.say(trace::NEGOTIATION, || {
            let route = match &target.route {
                Route::Direct => "directly over TCP".to_string(),
                Route::Command(command) => format!("through ProxyCommand `{command}`"),
                Route::Jump(hop) => format!("through jump host {} ({})", hop.host, hop.describe()),
            };
            format!(
                "SSH: connecting to {}:{} {route}, within {:.1}s",
                target.address,
                target.port,
                limit.as_secs_f64()
            )
        });
        let (stream, child, _opening) = match &target.route {
            Route::Direct => {
                let stream = session::tcp_connect(target, limit).await?;
                (Box::new(stream) as Box<dyn proxy::Stream>, None, None)
            }
            Route::Command(command) => {
                let (stream, child) = proxy::spawn(command).map_err(|e| {
                    unreachable(format!("cannot start ProxyCommand `{command}`: {e}"))
                })?;
                (
                    Box::new(stream) as Box<dyn proxy::Stream>,
                    Some(child),
                    None,
                )
            }
            Route::Jump(hop) => {
                let bastion = match self.bastion(hop).await {
                    Ok(bastion) => bastion,
                    Err(reason) => {
                        self.note_cut_off(hop, &target.host);
                        return Err(unreachable(format!(
                            "through jump host {}: {reason}",
                            hop.host
                        )));
                    }
                };
                let permit = bastion.opening_permit().await;
                let channel = bastion
                    .conn
                    .tunnel(&target.address, target.port, limit)
                    .await
                    .map_err(|reason| {
                        unreachable(format!(
                            "jump host {} could not open a tunnel: {reason}",
                            hop.host
                        ))
                    })?;
                trace.say(trace::NEGOTIATION, || {
                    format!(
                        "SSH: jump host {} opened a direct-tcpip channel to {}:{}",
                        hop.host, target.address, target.port
                    )
                });
                (
                    Box::new(channel) as Box<dyn proxy::Stream>,
                    None,
                    Some(permit),
                )
            }
        };
        let mut known_files = if target.known_hosts.is_empty() {
            vec![self.config.known_hosts.clone()]
        } else {
            target.known_hosts.clone()
        };
        let first_user_file = known_files.first().cloned();
        known_files.extend(target.global_known_hosts.iter().cloned());
        let name = target
            .host_key_alias
            .clone()
            .unwrap_or_else(|| known_hosts::lookup_name(&target.address, target.port));
        let known: Vec<_> = known_files
            .iter()
            .flat_map(|file| known_hosts::known_algorithms(file, &name))
            .collect();
        let has_authority = known_files
            .iter()
            .any(|file| !known_hosts::cert_authorities(file, &name).0.is_empty());
        let mut config = session::client_config(&self.config, &known, has_authority);
        if let Some((interval, count)) = target.keepalive {
            config.keepalive_interval = Some(interval);
            config.keepalive_max = count as usize;
        }
        trace.say(trace::NEGOTIATION, || {
            format!(
                "SSH: host key looked up as `{name}` in {}{}; host key algorithms asked for: {}",
                known_files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                if has_authority {
                    " (a @cert-authority covers it)"
                } else {
                    ""
                },
                config
                    .preferred
                    .key
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        });
        let verdict = Arc::new(std::sync::Mutex::new(None));
        let policy = target
            .host_key_policy
            .unwrap_or(self.config.host_key_policy);
        let verifier = session::HostKeyVerifier {
            host: target.host.clone(),
            name,
            files: known_files,
            append_to: first_user_file.unwrap_or_else(|| self.config.known_hosts.clone()),
            policy,
            verdict: verdict.clone(),
            warnings: self.warnings.clone(),
            warned: self.warned.clone(),
            trace: trace.clone(),
        };

        // The deadline covers the handshake too: a port that accepts but never speaks SSH
        // must not hang the run.
        let handshake = russh::client::connect_stream(Arc::new(config), stream, verifier);
        let connected = tokio::time::timeout(limit, handshake).await;
        let refusal = || {
            verdict
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take()
        };
        let proxy_said = |child: &Option<proxy::Child>| {
            child
                .as_ref()
                .map(proxy::Child::stderr_tail)
                .filter(|t| !t.is_empty())
                .map(|t| format!(" (ProxyCommand said: {t})"))
                .unwrap_or_default()
        };
        let mut handle = match connected {
            Ok(Ok(handle)) => handle,
            Ok(Err(e)) => {
                return Err(refusal().unwrap_or_else(|| match e {
                    session::HandlerError::Ssh(e) => {
                        unreachable(format!("SSH handshake failed: {e}{}", proxy_said(&child)))
                    }
                    session::HandlerError::HostKey => unreachable("host key refused".into()),
                }));
            }
            Err(_) => {
                return Err(refusal().unwrap_or_else(|| {
                    unreachable(format!(
                        "SSH handshake timed out after {:.1}s{}",
                        limit.as_secs_f64(),
                        proxy_said(&child)
                    ))
                }));
            }
        };

        let agent = match &target.agent {
            Agent::Default => self.agent_socket.clone(),
            Agent::Off => None,
            Agent::Socket(path) => Some(path.clone()),
        };
        auth::authenticate(
            &mut handle,
            target,
            &self.keys,
            agent.as_deref(),
            limit,
            &trace,
        )
        .await?;

        Ok(Connection {
            link: Link::Ssh(Arc::new(Slot::new(Inner {
                host: target.host.clone(),
                handle,
                channels: tokio::sync::Semaphore::new(self.config.max_channels.max(1)),
                sftp: tokio::sync::OnceCell::new(),
                transfers: self.transfers.clone(),
                login_shell_is_sh: tokio::sync::OnceCell::new(),
                _proxy: child.map(proxy::Child::into_process),
            }))),
            run_as: Arc::default(),
            trace,
        })
    }

    fn note_cut_off(&self, hop: &Target, host: &str) {
        let name = format!("{} ({})", hop.host, hop.describe());
        let mut cut = self.cut_off.lock().unwrap_or_else(|p| p.into_inner());
        match cut.iter_mut().find(|(n, _)| *n == name) {
            Some((_, hosts)) => hosts.push(host.to_string()),
            None => cut.push((name, vec![host.to_string()])),
        }
    }

    /// One line per jump host that failed during the run, naming the hosts it cut off.
    pub fn cut_off_summary(&self) -> Vec<String> {
        let cut = self.cut_off.lock().unwrap_or_else(|p| p.into_inner());
        cut.iter()
            .map(|(bastion, hosts)| {
                format!(
                    "jump host {bastion} was unreachable; it cut off {} host(s): {}",
                    hosts.len(),
                    hosts.join(", ")
                )
            })
            .collect()
    }

    /// The shared connection to jump host `hop`, made once (a failure is kept and given to
    /// every host behind it, without retrying); a connection the server closed is remade.
    async fn bastion(&self, hop: &Target) -> Result<Arc<Bastion>, String> {
        let key = format!("{hop:?}");
        let slot = {
            let mut bastions = self
                .bastions
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let slot = bastions.entry(key.clone()).or_default();
            if let Some(Ok(bastion)) = slot.get()
                && bastion.conn.is_closed()
            {
                *slot = BastionSlot::default();
            }
            slot.clone()
        };
        slot.get_or_init(|| async {
            match self.connect(hop).await {
                Ok(conn) => Ok(Arc::new(Bastion {
                    conn,
                    opening: Arc::new(tokio::sync::Semaphore::new(self.config.max_channels.max(1))),
                })),
                Err(e) => {
                    let message = e.to_string();
                    self.warn(format!(
                        "jump host {} ({}) failed; every host behind it is unreachable: {message}",
                        hop.host,
                        hop.describe()
                    ));
                    Err(message)
                }
            }
        })
        .await
        .clone()
    }
}

impl Bastion {
    async fn opening_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.opening.clone().acquire_owned().await.ok()
    }
}

fn warn_once(sink: &Option<WarningSink>, warned: &Mutex<HashSet<String>>, message: String) {
    let Some(sink) = sink else {
        return;
    };
    let fresh = warned
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(message.clone());
    if fresh {
        sink(message);
    }
}

/// Prints `same` when the login shell (`$SHELL`, which sshd sets from the passwd entry) is
/// the same program as `/bin/sh`.
const LOGIN_SHELL_PROBE: &str = r#"/bin/sh -c 'a=$(readlink -f "$SHELL" 2>/dev/null) && [ -n "$a" ] && [ "$a" = "$(readlink -f /bin/sh 2>/dev/null)" ] && echo same'"#;

impl Connection {
    /// The control machine, named `host` in messages: commands run as child processes of
    /// drover, files are local files. Nothing to connect, so nothing can be unreachable.
    pub fn local(host: &str) -> Connection {
        Connection {
            link: Link::Local(Arc::new(local::Local {
                host: host.to_string(),
            })),
            run_as: Arc::default(),
            trace: Trace::default(),
        }
    }

    /// A `direct-tcpip` channel from this host to `address:port`, as a byte stream.
    async fn tunnel(
        &self,
        address: &str,
        port: u16,
        limit: Duration,
    ) -> Result<russh::ChannelStream<russh::client::Msg>, String> {
        let Link::Ssh(slot) = &self.link else {
            return Err("not an SSH connection".into());
        };
        let inner = slot.get();
        let open = inner
            .handle
            .channel_open_direct_tcpip(address, u32::from(port), "127.0.0.1", 0);
        match tokio::time::timeout(limit, open).await {
            Ok(Ok(channel)) => Ok(channel.into_stream()),
            Ok(Err(e)) => Err(format!("{e} (does its sshd allow TCP forwarding?)")),
            Err(_) => Err(format!("no answer within {:.1}s", limit.as_secs_f64())),
        }
    }

    /// Whether this is the control machine rather than an SSH connection.
    pub fn is_local(&self) -> bool {
        matches!(self.link, Link::Local(_))
    }

    /// The inventory name this connection is for.
    pub fn host(&self) -> &str {
        match &self.link {
            Link::Ssh(slot) => &slot.host,
            Link::Local(local) => &local.host,
        }
    }

    /// Whether the server or the network closed the connection.
    pub fn is_closed(&self) -> bool {
        match &self.link {
            Link::Ssh(slot) => slot.get().handle.is_closed(),
            Link::Local(_) => false,
        }
    }

    /// The same connection, its commands run as `escalation` (when given) with
    /// `environment` exported; files then move through those commands, not SFTP. A local
    /// connection refuses to run anything escalated.
    pub fn run_as(
        &self,
        escalation: Option<Escalation>,
        environment: Vec<(String, String)>,
    ) -> Connection {
        Connection {
            link: self.link.clone(),
            run_as: Arc::new(escalation::RunAs {
                escalation,
                environment,
            }),
            trace: self.trace.clone(),
        }
    }

    fn escalated(&self) -> bool {
        self.run_as.escalation.is_some()
    }

    /// How a file moves, as `-vvv` says it.
    fn transfer_route(&self) -> &'static str {
        match (&self.link, self.escalated()) {
            (Link::Local(_), _) => " (local file)",
            (_, true) => " (through the become command)",
            (_, false) => " (SFTP)",
        }
    }

    /// Runs `command` through the login shell (`/bin/sh` on the control machine), feeding
    /// `stdin` if given, and waits for it.
    pub async fn exec(
        &self,
        command: &str,
        stdin: Option<Vec<u8>>,
    ) -> Result<ExecOutput, TransportError> {
        self.trace.say(trace::COMMANDS, || {
            let mut line = String::from("EXEC ");
            if let Some(escalation) = &self.run_as.escalation {
                line.push_str(&format!("({}) ", escalation.describe()));
            }
            if !self.run_as.environment.is_empty() {
                let names: Vec<&str> = self
                    .run_as
                    .environment
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect();
                line.push_str(&format!("(environment: {}) ", names.join(", ")));
            }
            line.push_str(&trace::command_line(command));
            if let Some(input) = &stdin {
                line.push_str(&format!(" <<< {} bytes", input.len()));
            }
            line
        });
        let out = self.exec_untraced(command, stdin).await;
        self.trace.say(trace::COMMANDS, || match &out {
            Ok(out) => format!(
                "{} (stdout {} bytes, stderr {} bytes)",
                match (&out.exit_status, &out.exit_signal) {
                    (Some(rc), _) => format!("rc={rc}"),
                    (None, Some(signal)) => format!("killed by signal {signal}"),
                    (None, None) => "no exit status".into(),
                },
                out.stdout.len(),
                out.stderr.len()
            ),
            Err(e) => format!("EXEC failed: {e}"),
        });
        out
    }

    async fn exec_untraced(
        &self,
        command: &str,
        stdin: Option<Vec<u8>>,
    ) -> Result<ExecOutput, TransportError> {
        let inner = match &self.link {
            Link::Ssh(slot) => slot.get(),
            Link::Local(local) => return local.exec(&self.run_as, command, stdin).await,
        };
        if self.run_as.is_plain() {
            return session::exec(&inner.host, &inner.handle, &inner.channels, command, stdin)
                .await;
        }
        escalation::exec(
            &inner.host,
            &inner.handle,
            &inner.channels,
            &self.run_as,
            command,
            stdin,
        )
        .await
    }

    /// Runs a POSIX shell script with `/bin/sh`, whatever the login shell is. sshd always
    /// runs a command as `LOGIN_SHELL -c COMMAND`, so the usual `/bin/sh -c 'SCRIPT'` costs a
    /// second shell per command; when the login shell is `/bin/sh` itself (one probe per
    /// connection tells), the script goes to it directly, which is the same program with the
    /// same arguments.
    pub async fn sh(
        &self,
        script: &str,
        stdin: Option<Vec<u8>>,
    ) -> Result<ExecOutput, TransportError> {
        let inner = match &self.link {
            Link::Ssh(slot) => slot.get(),
            // Local commands already run under /bin/sh -c.
            Link::Local(_) => return self.exec(script, stdin).await,
        };
        if self.escalated() {
            // sudo/su already hand the command to /bin/sh -c.
            return self.exec(script, stdin).await;
        }
        let direct = *inner
            .login_shell_is_sh
            .get_or_try_init(|| async {
                // Run through /bin/sh: the login shell may be csh or fish.
                let probe = self.exec(LOGIN_SHELL_PROBE, None).await?;
                Ok::<bool, TransportError>(
                    probe.exit_status == Some(0) && probe.stdout.starts_with(b"same"),
                )
            })
            .await?;
        if direct {
            self.exec(script, stdin).await
        } else {
            let wrapped = format!("/bin/sh -c {}", crate::template::shell_quote(script));
            self.exec(&wrapped, stdin).await
        }
    }

    /// With `become`, a file is written by the become user: streamed through the escalated
    /// command's stdin into a temp file beside `path`, then renamed over it.
    async fn upload_escalated(
        &self,
        path: &str,
        data: Vec<u8>,
        mode: Option<u32>,
    ) -> Result<(), TransportError> {
        let dest = crate::template::shell_quote(path);
        let suffix: u64 = rand::random();
        let keep_mode = match mode {
            Some(mode) => format!("chmod {mode:o} \"$t\""),
            None => format!("if [ -e {dest} ]; then chmod \"$(stat -c %a {dest})\" \"$t\"; fi"),
        };
        let script = format!(
            "set -e; t=\"$(dirname {dest})/.drover-{suffix:016x}.tmp\"; trap 'rm -f \"$t\"' EXIT; \
             umask 077; cat > \"$t\"; {keep_mode}; mv -f \"$t\" {dest}"
        );
        let command = format!("/bin/sh -c {}", crate::template::shell_quote(&script));
        let out = self.exec(&command, Some(data)).await?;
        if out.exit_status == Some(0) {
            return Ok(());
        }
        Err(TransportError::Sftp {
            host: self.host().to_string(),
            path: path.to_string(),
            reason: format!(
                "writing as the become user failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }

    /// With `become`, a file is read by the become user (`cat`).
    async fn download_escalated(&self, path: &str) -> Result<Vec<u8>, TransportError> {
        let command = format!("cat -- {}", crate::template::shell_quote(path));
        let out = self.exec(&command, None).await?;
        if out.exit_status == Some(0) {
            return Ok(out.stdout);
        }
        Err(TransportError::Sftp {
            host: self.host().to_string(),
            path: path.to_string(),
            reason: format!(
                "reading as the become user failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        })
    }

    /// Writes `data` to `path` atomically (temp file in the same directory, then rename).
    /// `mode` None keeps the mode of the file being replaced.
    pub async fn upload(
        &self,
        path: &str,
        data: &[u8],
        mode: Option<u32>,
    ) -> Result<(), TransportError> {
        self.trace.say(trace::COMMANDS, || {
            format!(
                "PUT {} bytes TO {path}{}",
                data.len(),
                self.transfer_route()
            )
        });
        if self.escalated() {
            return self.upload_escalated(path, data.to_vec(), mode).await;
        }
        self.upload_from(path, data, mode).await
    }

    /// Streams `source` into `path` over SFTP, or on the control machine's filesystem.
    async fn upload_from<R: tokio::io::AsyncRead + Unpin>(
        &self,
        path: &str,
        source: R,
        mode: Option<u32>,
    ) -> Result<(), TransportError> {
        match &self.link {
            Link::Ssh(slot) => {
                let inner = slot.get();
                self.sftp(&inner)
                    .await?
                    .upload(&inner.host, path, source, mode)
                    .await
            }
            Link::Local(local) => local.upload(path, source, mode).await,
        }
    }

    /// Streams `path` into `sink` over SFTP, or from the control machine's filesystem.
    async fn download_into<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        path: &str,
        sink: W,
    ) -> Result<u64, TransportError> {
        match &self.link {
            Link::Ssh(slot) => {
                let inner = slot.get();
                self.sftp(&inner)
                    .await?
                    .download(&inner.host, path, sink)
                    .await
            }
            Link::Local(local) => local.download(path, sink).await,
        }
    }

    /// Like [`Connection::upload`], streaming from a local file without reading it whole.
    pub async fn upload_file(
        &self,
        local: &std::path::Path,
        remote: &str,
        mode: Option<u32>,
    ) -> Result<(), TransportError> {
        let local_error = |e: std::io::Error| TransportError::LocalFile {
            host: self.host().to_string(),
            path: local.to_path_buf(),
            reason: e.to_string(),
        };
        self.trace.say(trace::COMMANDS, || {
            format!(
                "PUT {} TO {remote}{}",
                local.display(),
                self.transfer_route()
            )
        });
        if self.escalated() {
            let data = tokio::fs::read(local).await.map_err(local_error)?;
            return self.upload_escalated(remote, data, mode).await;
        }
        let file = tokio::fs::File::open(local).await.map_err(local_error)?;
        self.upload_from(remote, file, mode).await
    }

    pub async fn download(&self, path: &str) -> Result<Vec<u8>, TransportError> {
        self.trace.say(trace::COMMANDS, || {
            format!("FETCH {path}{}", self.transfer_route())
        });
        if self.escalated() {
            return self.download_escalated(path).await;
        }
        let mut data = Vec::new();
        self.download_into(path, &mut data).await?;
        Ok(data)
    }

    /// Streams `remote` into the local file `local` (created or truncated); returns its size.
    pub async fn download_to_file(
        &self,
        remote: &str,
        local: &std::path::Path,
    ) -> Result<u64, TransportError> {
        let local_error = |e: std::io::Error| TransportError::LocalFile {
            host: self.host().to_string(),
            path: local.to_path_buf(),
            reason: e.to_string(),
        };
        self.trace.say(trace::COMMANDS, || {
            format!(
                "FETCH {remote} TO {}{}",
                local.display(),
                self.transfer_route()
            )
        });
        if self.escalated() {
            let data = self.download_escalated(remote).await?;
            tokio::fs::write(local, &data).await.map_err(local_error)?;
            return Ok(data.len() as u64);
        }
        let file = tokio::fs::File::create(local).await.map_err(local_error)?;
        self.download_into(remote, tokio::io::BufWriter::new(file))
            .await
    }

    async fn sftp<'a>(&self, inner: &'a Inner) -> Result<&'a sftp::Sftp, TransportError> {
        inner
            .sftp
            .get_or_try_init(|| {
                sftp::Sftp::open(&inner.host, &inner.handle, inner.transfers.clone())
            })
            .await
    }

    /// Makes this connection — every clone and `run_as` view of it — use `fresh` from now on
    /// (a reconnect after a reboot); the old SSH connection is closed. False when either is
    /// not an SSH connection.
    pub async fn adopt(&self, fresh: Connection) -> bool {
        let (Link::Ssh(slot), Link::Ssh(new)) = (&self.link, &fresh.link) else {
            return false;
        };
        let new = new.get();
        let old = {
            let mut current = slot
                .current
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            std::mem::replace(&mut *current, new)
        };
        let _ = old
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
        true
    }

    /// Says goodbye to the server; other clones of this connection stop working too.
    pub async fn close(&self) {
        if let Link::Ssh(slot) = &self.link {
            let inner = slot.get();
            let _ = inner
                .handle
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every connection holds a few tokio channel blocks of 32 russh messages each, so the
    /// message's size is paid per host: 550 bytes made 70 KB a connection. The vendored russh
    /// boxes its large payloads (vendor/README.md); this fails if an upgrade loses that.
    #[test]
    fn russh_client_messages_stay_small() {
        let size = std::mem::size_of::<russh::client::Msg>();
        assert!(
            size <= 160,
            "russh::client::Msg is {size} bytes; see vendor/README.md"
        );
    }
}

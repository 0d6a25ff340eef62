//! The SSH transport against a real OpenSSH sshd on loopback: exec, stdin, channel caps,
//! SFTP, host key refusals, accept-new, unreachable hosts and encrypted keys.
//!
//! Each test starts its own one-node lab (`drover::lab`, the same code as `drover lab up`) on
//! its own address and port, so tests run in parallel.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Fleet;
use drover::transport::{
    Connection, Connector, HostKeyPolicy, Target, TransportConfig, TransportError,
};
use indexmap::IndexMap;
use serde_json::{Value, json};

/// One lab node (the same code as `drover lab`), a client key and a known_hosts trusting it.
struct Sshd {
    fleet: Fleet,
    /// Local scratch space on the control side.
    dir: tempfile::TempDir,
    address: String,
    port: u16,
    host_key_line: String,
    client_key: PathBuf,
    known_hosts: PathBuf,
}

impl Sshd {
    /// A one-node lab; `passphrase` logs in with an encrypted key instead of the lab's own.
    fn start(passphrase: Option<&str>) -> Sshd {
        let fleet = Fleet::up(1);
        let dir = tempfile::tempdir().expect("temp dir");
        let node = &fleet.lab.nodes[0];
        let client_key = match passphrase {
            None => fleet.lab.key.clone(),
            Some(passphrase) => {
                let key = dir.path().join("client_ed25519");
                keygen(&key, passphrase);
                let authorized = fleet.lab.dir.join("authorized_keys");
                let mut keys = std::fs::read_to_string(&authorized).expect("authorized_keys");
                keys.push_str(&read_pub(&key));
                keys.push('\n');
                std::fs::write(&authorized, keys).expect("authorized_keys");
                key
            }
        };
        Sshd {
            address: node.address.to_string(),
            port: node.port,
            host_key_line: read_pub(&node.host_key),
            known_hosts: fleet.lab.known_hosts.clone(),
            client_key,
            dir,
            fleet,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.fleet.lab.nodes[0].log).unwrap_or_default()
    }

    fn vars(&self) -> IndexMap<String, Value> {
        [
            ("drover_host", json!(self.address)),
            ("drover_port", json!(self.port)),
            ("ansible_user", json!(self.fleet.lab.user)),
            (
                "ansible_ssh_private_key_file",
                json!(self.client_key.display().to_string()),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn target(&self) -> Target {
        Target::from_vars("node1", &self.vars()).expect("target")
    }

    fn config(&self) -> TransportConfig {
        let mut config = TransportConfig::new(self.known_hosts.clone());
        config.connect_timeout = Duration::from_secs(5);
        config
    }

    fn connector(&self) -> Connector {
        Connector::new(self.config()).with_agent_socket(None)
    }

    async fn connect(&self) -> Connection {
        match self.connector().connect(&self.target()).await {
            Ok(connection) => connection,
            Err(e) => panic!("connect failed: {e}\n{}", self.log()),
        }
    }

    /// A path on the node (its data directory, writable by the login user).
    fn path(&self, name: &str) -> String {
        self.fleet.lab.nodes[0]
            .root
            .join(name)
            .display()
            .to_string()
    }
}

fn keygen(path: &Path, passphrase: &str) {
    let status = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            passphrase,
            "-C",
            "drover-test",
            "-f",
        ])
        .arg(path)
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen {}", path.display());
}

/// `keytype base64` of a key's `.pub`, comment dropped.
fn read_pub(private: &Path) -> String {
    let line = std::fs::read_to_string(private.with_extension("pub")).expect("read .pub");
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic, incompressible-looking test data.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

async fn run(connection: &Connection, command: &str) -> String {
    let output = connection.exec(command, None).await.expect("exec");
    assert_eq!(output.exit_status, Some(0), "{command}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_captures_stdout_stderr_exit_status_and_signal() {
    let sshd = Sshd::start(None);
    let started = Instant::now();
    let connection = sshd.connect().await;
    let connect_time = started.elapsed();

    let out = connection.exec("echo hello", None).await.expect("echo");
    assert_eq!(out.stdout, b"hello\n");
    assert_eq!(out.exit_status, Some(0));

    let out = connection
        .exec("echo oops >&2; exit 3", None)
        .await
        .expect("stderr");
    assert_eq!(out.stderr, b"oops\n");
    assert!(out.stdout.is_empty());
    assert_eq!(out.exit_status, Some(3));

    let out = connection.exec("kill -TERM $$", None).await.expect("kill");
    assert_eq!(out.exit_signal.as_deref(), Some("TERM"), "{out:?}");
    assert_eq!(out.exit_status, None);

    let started = Instant::now();
    for _ in 0..20 {
        run(&connection, "true").await;
    }
    let exec_time = started.elapsed() / 20;
    // Visible with --nocapture; the report quotes these.
    let _ = std::io::Write::write_fmt(
        &mut std::io::stderr(),
        format_args!("latency: connect+auth {connect_time:?}, exec `true` {exec_time:?}\n"),
    );
    assert!(!connection.is_closed());
    connection.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mib_of_stdin_round_trips() {
    let sshd = Sshd::start(None);
    let connection = sshd.connect().await;
    let data = pattern(1 << 20);

    let out = connection
        .exec("sha256sum", Some(data.clone()))
        .await
        .expect("sha256sum");
    let remote = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        remote.split_whitespace().next(),
        Some(sha256_hex(&data).as_str())
    );

    // Echoing stdin back fills both directions at once: must not deadlock.
    let echoed = tokio::time::timeout(
        Duration::from_secs(30),
        connection.exec("cat", Some(data.clone())),
    )
    .await
    .expect("cat finished in time")
    .expect("cat");
    assert_eq!(echoed.stdout.len(), data.len());
    assert!(echoed.stdout == data);

    // A command that ignores its stdin must still finish.
    let out = connection
        .exec("exit 0", Some(pattern(4 << 20)))
        .await
        .expect("ignored stdin");
    assert_eq!(out.exit_status, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_execs_on_one_connection_all_succeed() {
    let sshd = Sshd::start(None);
    let connection = sshd.connect().await;
    let runs = (0..50).map(|i| {
        let connection = connection.clone();
        tokio::spawn(async move {
            connection
                .exec(&format!("sleep 0.05; echo {i}"), None)
                .await
        })
    });
    for (i, handle) in runs.collect::<Vec<_>>().into_iter().enumerate() {
        let out = handle.await.expect("join").expect("exec under the cap");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), i.to_string());
    }

    // Without an effective cap only the retry of refused channel opens saves us: sshd's
    // MaxSessions (10) refuses the other 40 at first.
    let mut config = sshd.config();
    config.max_channels = 64;
    let connection = Connector::new(config)
        .with_agent_socket(None)
        .connect(&sshd.target())
        .await
        .expect("connect");
    let runs: Vec<_> = (0..50)
        .map(|i| {
            let connection = connection.clone();
            tokio::spawn(async move { connection.exec(&format!("echo {i}"), None).await })
        })
        .collect();
    for (i, handle) in runs.into_iter().enumerate() {
        let out = handle.await.expect("join").expect("exec with retries");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), i.to_string());
    }
}

/// Several connections transferring at once through a budget of one chunk: each waits its
/// turn, none waits forever (a download holding room while asking for more would).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_transfers_share_a_small_budget_without_deadlock() {
    let sshd = Sshd::start(None);
    let connector = Arc::new(sshd.connector().with_transfer_budget(32 * 1024));
    let mut transfers = tokio::task::JoinSet::new();
    for i in 0..6usize {
        let connector = connector.clone();
        let target = sshd.target();
        let remote = sshd.path(&format!("budget-{i}.bin"));
        transfers.spawn(async move {
            let connection = connector.connect(&target).await.expect("connect");
            let data: Vec<u8> = pattern(300 * 1024)
                .into_iter()
                .map(|b| b ^ i as u8)
                .collect();
            connection
                .upload(&remote, &data, None)
                .await
                .expect("upload");
            let back = connection.download(&remote).await.expect("download");
            assert!(back == data, "connection {i}: downloaded bytes differ");
        });
    }
    let all = async {
        while let Some(done) = transfers.join_next().await {
            done.expect("transfer task");
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), all)
        .await
        .is_err()
    {
        panic!("transfers under a one-chunk budget did not finish in 60 s");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_round_trips_three_mib_with_mode() {
    let sshd = Sshd::start(None);
    let connection = sshd.connect().await;
    let data = pattern(3 << 20);
    let remote = sshd.path("big.bin");

    let started = Instant::now();
    connection
        .upload(&remote, &data, Some(0o640))
        .await
        .expect("upload");
    let upload_time = started.elapsed();
    assert_eq!(
        run(&connection, &format!("stat -c %a {remote}")).await,
        "640"
    );
    let remote_sum = run(&connection, &format!("sha256sum {remote}")).await;
    assert!(remote_sum.starts_with(&sha256_hex(&data)), "{remote_sum}");

    let started = Instant::now();
    let back = connection.download(&remote).await.expect("download");
    let download_time = started.elapsed();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "downloaded bytes differ");
    let _ = std::io::Write::write_fmt(
        &mut std::io::stderr(),
        format_args!("latency: sftp 3 MiB upload {upload_time:?}, download {download_time:?}\n"),
    );

    // Replacing without a mode keeps the existing one, as `copy` does.
    connection
        .upload(&remote, b"small", None)
        .await
        .expect("replace");
    assert_eq!(
        run(&connection, &format!("stat -c %a {remote}")).await,
        "640"
    );
    assert_eq!(connection.download(&remote).await.expect("small"), b"small");

    // Streaming both ways through local files.
    let local = sshd.dir.path().join("local-src.bin");
    std::fs::write(&local, &data).expect("write local");
    let streamed = sshd.path("streamed.bin");
    connection
        .upload_file(&local, &streamed, Some(0o600))
        .await
        .expect("upload_file");
    let copy = sshd.dir.path().join("local-copy.bin");
    let size = connection
        .download_to_file(&streamed, &copy)
        .await
        .expect("download_to_file");
    assert_eq!(size, data.len() as u64);
    assert!(std::fs::read(&copy).expect("read copy") == data);
    assert_eq!(
        run(&connection, &format!("stat -c %a {streamed}")).await,
        "600"
    );

    // An empty file and a file of exactly one request's size survive the pipeline's edges.
    for len in [0usize, 64 * 1024, 64 * 1024 + 1] {
        let body = pattern(len);
        let path = sshd.path(&format!("edge-{len}"));
        connection
            .upload(&path, &body, Some(0o644))
            .await
            .expect("edge upload");
        assert!(
            connection.download(&path).await.expect("edge download") == body,
            "{len}"
        );
    }

    match connection.download(&sshd.path("missing")).await {
        Err(e @ TransportError::Sftp { .. }) => {
            let message = e.to_string();
            assert!(message.starts_with("node1: "), "{message}");
            assert!(message.contains("missing"), "{message}");
        }
        other => panic!("expected an SFTP error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_upload_leaves_no_temp_files() {
    let sshd = Sshd::start(None);
    let connection = sshd.connect().await;
    let target_dir = sshd.path("etc-app");
    run(&connection, &format!("mkdir -p {target_dir}")).await;
    let target = format!("{target_dir}/config.yml");
    for round in 0..5 {
        let body = format!("round: {round}\n").repeat(1000);
        connection
            .upload(&target, body.as_bytes(), Some(0o644))
            .await
            .expect("upload");
    }
    assert_eq!(
        run(&connection, &format!("ls -A {target_dir}")).await,
        "config.yml"
    );
    assert!(
        run(&connection, &format!("cat {target}"))
            .await
            .starts_with("round: 4")
    );

    // A failed upload (no such directory) names host and path and leaves nothing behind.
    let bad = format!("{target_dir}/nope/config.yml");
    match connection.upload(&bad, b"x", None).await {
        Err(e @ TransportError::Sftp { .. }) => {
            let message = e.to_string();
            assert!(message.starts_with("node1: "), "{message}");
            assert!(message.contains(&bad), "{message}");
        }
        other => panic!("expected an SFTP error, got {other:?}"),
    }
    assert_eq!(
        run(&connection, &format!("ls -A {target_dir}")).await,
        "config.yml"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_host_key_is_refused_with_file_and_line() {
    let sshd = Sshd::start(None);
    let other = sshd.dir.path().join("other_host_key");
    keygen(&other, "");
    let name = format!("[{}]:{}", sshd.address, sshd.port);
    std::fs::write(
        &sshd.known_hosts,
        format!(
            "# fleet\n127.0.1.99 {}\n{name} {}\n",
            sshd.host_key_line,
            read_pub(&other)
        ),
    )
    .expect("rewrite known_hosts");
    match sshd.connector().connect(&sshd.target()).await {
        Err(e @ TransportError::HostKeyChanged { line: 3, .. }) => {
            assert!(e.is_unreachable());
            let message = e.to_string();
            let file_line = format!("{}:3", sshd.known_hosts.display());
            assert!(message.starts_with("node1: host key for "), "{message}");
            assert!(message.contains(&file_line), "{message}");
            assert!(message.contains("ED25519 SHA256:"), "{message}");
            assert!(
                message.contains(&format!("ssh-keygen -R '{name}'")),
                "{message}"
            );
        }
        Err(e) => panic!("expected HostKeyChanged at line 3, got {e}"),
        Ok(_) => panic!("connected despite a changed host key"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_is_refused_then_accept_new_records_it() {
    let sshd = Sshd::start(None);
    let fresh = sshd.dir.path().join("fresh/known_hosts");
    let mut vars = sshd.vars();
    vars.insert(
        "drover_known_hosts_file".into(),
        json!(fresh.display().to_string()),
    );
    let target = Target::from_vars("node1", &vars).expect("target");

    match sshd.connector().connect(&target).await {
        Err(e @ TransportError::HostKeyUnknown { .. }) => {
            assert!(e.is_unreachable());
            let message = e.to_string();
            assert!(message.contains("SHA256:"), "{message}");
            let help = miette::Diagnostic::help(&e).map(|h| h.to_string());
            assert!(
                help.is_some_and(|h| h.contains("--host-key-checking accept-new")),
                "{e:?}"
            );
        }
        Err(e) => panic!("expected HostKeyUnknown, got {e}"),
        Ok(_) => panic!("connected to an unknown host under strict checking"),
    }
    assert!(
        !fresh.exists(),
        "strict checking must not write known_hosts"
    );

    let mut config = sshd.config();
    config.host_key_policy = HostKeyPolicy::AcceptNew;
    let connection = Connector::new(config)
        .with_agent_socket(None)
        .connect(&target)
        .await
        .expect("accept-new connects");
    assert_eq!(run(&connection, "echo ok").await, "ok");
    let recorded = std::fs::read_to_string(&fresh).expect("known_hosts created");
    assert_eq!(
        recorded,
        format!("[{}]:{} {}\n", sshd.address, sshd.port, sshd.host_key_line)
    );

    // Now known: strict checking connects, and the file is not appended again.
    let again = sshd.connector().connect(&target).await.expect("known now");
    assert_eq!(run(&again, "echo ok").await, "ok");
    assert_eq!(std::fs::read_to_string(&fresh).expect("read"), recorded);
}

/// A known_hosts line that names the host but cannot be read (a key cut short by a bad
/// paste) is not skipped silently: strict checking and accept-new both refuse, naming the
/// file and line, and accept-new adds no second entry beside the damaged one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_known_hosts_line_for_the_host_is_refused_not_duplicated() {
    let sshd = Sshd::start(None);
    let file = sshd.dir.path().join("damaged_known_hosts");
    let name = format!("[{}]:{}", sshd.address, sshd.port);
    let key = sshd
        .host_key_line
        .split_whitespace()
        .nth(1)
        .expect("key data");
    let damaged = format!(
        "# team hosts\nother.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGarbage\n{name} ssh-ed25519 {}\n",
        &key[..key.len() / 2]
    );
    std::fs::write(&file, &damaged).expect("write known_hosts");
    let mut vars = sshd.vars();
    vars.insert(
        "drover_known_hosts_file".into(),
        json!(file.display().to_string()),
    );
    let target = Target::from_vars("node1", &vars).expect("target");
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        let mut config = sshd.config();
        config.host_key_policy = policy;
        match Connector::new(config)
            .with_agent_socket(None)
            .connect(&target)
            .await
        {
            Err(e @ TransportError::HostKeyDamaged { .. }) => {
                assert!(e.is_unreachable());
                let message = e.to_string();
                assert!(
                    message.contains(&format!("{}:3 names {name}", file.display())),
                    "{message}"
                );
                let help = miette::Diagnostic::help(&e).map(|h| h.to_string());
                assert!(help.is_some_and(|h| h.contains("ssh-keygen -R")), "{e:?}");
            }
            Err(e) => panic!("{policy:?}: expected HostKeyDamaged, got {e}"),
            Ok(_) => panic!("{policy:?}: connected past a damaged entry"),
        }
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            damaged,
            "{policy:?} changed known_hosts"
        );
    }
    // A damaged line for another host is skipped, as OpenSSH skips it.
    std::fs::write(
        &file,
        format!(
            "{}{name} {}\n",
            &damaged[..damaged.rfind('[').expect("line")],
            sshd.host_key_line
        ),
    )
    .expect("write");
    let connection = sshd
        .connector()
        .connect(&target)
        .await
        .expect("a good entry beside another host's damaged one connects");
    assert_eq!(run(&connection, "echo ok").await, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_port_is_unreachable_quickly() {
    // Nothing listens on 127.0.1.19:23019.
    let vars: IndexMap<String, Value> = [
        ("ansible_host", json!("127.0.1.19")),
        ("ansible_port", json!("23019")),
        ("ansible_user", json!("root")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let target = Target::from_vars("ghost", &vars).expect("target");
    let dir = tempfile::tempdir().expect("temp dir");
    let connector = Connector::new(TransportConfig::new(dir.path().join("known_hosts")))
        .with_agent_socket(None);
    let started = Instant::now();
    match connector.connect(&target).await {
        Err(e @ TransportError::Unreachable { .. }) => {
            assert!(e.is_unreachable());
            let message = e.to_string();
            assert!(message.starts_with("ghost: "), "{message}");
            assert!(message.contains("127.0.1.19:23019"), "{message}");
            assert!(message.contains("refused"), "{message}");
        }
        Err(e) => panic!("expected Unreachable, got {e}"),
        Ok(_) => panic!("connected to a closed port"),
    }
    // Refused is immediate; how fast is measured in bench/, not asserted here.
    let _ = started;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unaccepted_key_is_an_auth_error_listing_what_was_tried() {
    let sshd = Sshd::start(None);
    let stranger = sshd.dir.path().join("stranger");
    keygen(&stranger, "");
    let mut vars = sshd.vars();
    vars.insert(
        "ansible_ssh_private_key_file".into(),
        json!(stranger.display().to_string()),
    );
    let target = Target::from_vars("node1", &vars).expect("target");
    match sshd.connector().connect(&target).await {
        Err(e @ TransportError::Auth { .. }) => {
            assert!(e.is_unreachable());
            let message = e.to_string();
            let user = format!("user {}", sshd.fleet.lab.user);
            assert!(message.contains(&user), "{message}");
            assert!(
                message.contains(&stranger.display().to_string()),
                "{message}"
            );
        }
        Err(e) => panic!("expected Auth, got {e}"),
        Ok(_) => panic!("authenticated with a key the server does not know"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_key_is_decrypted_once_for_many_connects() {
    if std::env::var_os(drover::transport::PASSPHRASE_ENV).is_some() {
        // The env passphrase would bypass the prompt this test counts.
        return;
    }
    let sshd = Sshd::start(Some("s3cret words"));
    let asked = Arc::new(AtomicUsize::new(0));
    let mut config = sshd.config();
    let counter = asked.clone();
    config.passphrase = Some(Arc::new(move |_path: &Path| {
        counter.fetch_add(1, Ordering::SeqCst);
        Some("s3cret words".to_string())
    }));
    let connector = Arc::new(Connector::new(config).with_agent_socket(None));
    let target = sshd.target();
    let connects: Vec<_> = (0..6)
        .map(|_| {
            let (connector, target) = (connector.clone(), target.clone());
            tokio::spawn(async move { connector.connect(&target).await })
        })
        .collect();
    for connect in connects {
        let connection = connect.await.expect("join").expect("connect");
        assert_eq!(run(&connection, "echo ok").await, "ok");
    }
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "passphrase asked more than once"
    );

    // A wrong passphrase names the key file, and is not asked again for every host.
    let mut config = sshd.config();
    let wrong_asked = Arc::new(AtomicUsize::new(0));
    let counter = wrong_asked.clone();
    config.passphrase = Some(Arc::new(move |_path: &Path| {
        counter.fetch_add(1, Ordering::SeqCst);
        Some("wrong".to_string())
    }));
    let connector = Connector::new(config).with_agent_socket(None);
    for _ in 0..2 {
        match connector.connect(&target).await {
            Err(e @ TransportError::KeyFile { .. }) => {
                assert!(e.to_string().contains("client_ed25519"), "{e}");
            }
            Err(e) => panic!("expected KeyFile, got {e}"),
            Ok(_) => panic!("connected with a wrong passphrase"),
        }
    }
    assert_eq!(wrong_asked.load(Ordering::SeqCst), 1);
}

/// Sets `DROVER_SSH_PASSPHRASE` for a child copy of this test binary: changing the
/// environment of a multi-threaded test process is unsound.
#[test]
fn encrypted_key_with_passphrase_from_env() {
    if std::env::var_os("DROVER_TEST_ENV_CHILD").is_some() {
        return;
    }
    let child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["env_passphrase_child", "--exact", "--nocapture"])
        .env("DROVER_TEST_ENV_CHILD", "1")
        .env(drover::transport::PASSPHRASE_ENV, "env passphrase")
        .output()
        .expect("run child test");
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&child.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_passphrase_child() {
    if std::env::var_os("DROVER_TEST_ENV_CHILD").is_none() {
        return;
    }
    let sshd = Sshd::start(Some("env passphrase"));
    let mut config = sshd.config();
    config.passphrase = Some(Arc::new(|_path: &Path| None));
    let connection = Connector::new(config)
        .with_agent_socket(None)
        .connect(&sshd.target())
        .await
        .expect("connect with the env passphrase");
    assert_eq!(run(&connection, "echo ok").await, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connection_is_reported_as_disconnected() {
    let sshd = Sshd::start(None);
    let connection = sshd.connect().await;
    // The shell's parent is this connection's sshd session process.
    let killed = connection.exec("kill -KILL $PPID", None).await;
    match killed {
        Err(e @ TransportError::Disconnected { .. }) => assert!(e.is_unreachable()),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    match connection.exec("true", None).await {
        Err(TransportError::Disconnected { host }) => assert_eq!(host, "node1"),
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(connection.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_agent_keys_are_used_when_no_identity_file_works() {
    let sshd = Sshd::start(None);
    let socket = sshd.dir.path().join("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&socket)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn ssh-agent");
    for _ in 0..100 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let added = Command::new("ssh-add")
        .arg(&sshd.client_key)
        .env("SSH_AUTH_SOCK", &socket)
        .output()
        .expect("run ssh-add");
    assert!(added.status.success(), "{added:?}");

    let mut vars = sshd.vars();
    vars.shift_remove("ansible_ssh_private_key_file");
    let target = Target::from_vars("node1", &vars).expect("target");
    let result = Connector::new(sshd.config())
        .with_agent_socket(Some(socket.clone()))
        .connect(&target)
        .await;
    let _ = agent.kill();
    let _ = agent.wait();
    let connection = result.expect("agent authentication");
    assert_eq!(run(&connection, "echo agent").await, "agent");
}

//! The lab against real OpenSSH: each test starts its own sshd nodes (own temp dir, own
//! 127.0.2.x addresses, a free port) and logs in with the real `ssh` client.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use drover::lab::{self, Lab, LabConfig, Node, Services};

/// Each test gets its own block of ten addresses, so tests running in parallel never collide.
/// 127.2.P.x: P from the process id, so two test runs at once never share an address.
fn next_first_address() -> Ipv4Addr {
    static NEXT: AtomicU8 = AtomicU8::new(1);
    let process = (std::process::id() % 250) as u8;
    Ipv4Addr::new(127, 2, process, NEXT.fetch_add(10, Ordering::SeqCst))
}

/// A lab that is taken down when the test ends, pass or fail.
struct TestLab {
    lab: Lab,
    dir: tempfile::TempDir,
}

impl TestLab {
    fn up(nodes: usize) -> TestLab {
        TestLab::up_with(nodes, |_| {})
    }

    /// A lab of `nodes` with `tweak` applied to its config (nodes per sshd, heavy shell).
    fn up_with(nodes: usize, tweak: impl FnOnce(&mut LabConfig)) -> TestLab {
        let dir = tempfile::tempdir().expect("temp dir");
        let first_address = next_first_address();
        let mut cfg = LabConfig {
            nodes,
            port: lab::free_port(first_address).expect("free port"),
            first_address,
            ..LabConfig::new(dir.path())
        };
        tweak(&mut cfg);
        let lab = lab::up(&cfg).unwrap_or_else(|e| panic!("lab up: {e}"));
        TestLab { lab, dir }
    }

    fn config(&self) -> LabConfig {
        LabConfig {
            nodes: self.lab.nodes.len(),
            port: self.lab.nodes[0].port,
            first_address: self.lab.nodes[0].address,
            ..LabConfig::new(self.dir.path())
        }
    }

    fn ssh(&self, node: &Node, command: &str) -> Output {
        self.ssh_with_input(node, command, None)
    }

    fn ssh_with_input(&self, node: &Node, command: &str, input: Option<&[u8]>) -> Output {
        let argv = self.lab.ssh_command(node);
        let mut child = Command::new(&argv[0])
            .args(&argv[1..argv.len() - 1])
            // Bounded: a node that does not answer fails the test instead of hanging it.
            .args(["-o", "ConnectTimeout=5"])
            .arg(&argv[argv.len() - 1])
            .arg(command)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ssh");
        if let Some(input) = input {
            let mut stdin = child.stdin.take().expect("ssh stdin");
            stdin.write_all(input).expect("write to ssh");
        }
        child.wait_with_output().expect("wait for ssh")
    }

    /// Runs `command` on `node` and returns its stdout; panics with everything on failure.
    fn ssh_ok(&self, node: &Node, command: &str) -> String {
        let out = self.ssh(node, command);
        assert!(
            out.status.success(),
            "ssh {}@{}:{} {command:?} failed ({}):\nstdout: {}\nstderr: {}",
            self.lab.user,
            node.address,
            node.port,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn demo(&self, node: &Node, action: &str) -> String {
        self.ssh_ok(node, &format!("{} {action}", node.demo_service().display()))
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let _ = lab::down(self.dir.path());
    }
}

/// Alive and not a zombie.
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S …": the state follows the last ')'.
    let state = stat.rsplit(')').next().unwrap_or("").trim_start();
    !state.starts_with('Z') && !state.starts_with('X')
}

fn accepts_connections(node: &Node) -> bool {
    let address = SocketAddr::from((node.address, node.port));
    TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
}

fn demo_pid(node: &Node) -> u32 {
    let path = node.root.join("run/demo-service.pid");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .expect("pid")
}

#[test]
fn nodes_accept_the_lab_key_as_the_lab_user_and_up_is_idempotent() {
    let t = TestLab::up(2);
    assert_eq!(t.lab.nodes.len(), 2);
    let expected_user = if running_as_root() {
        "drover-lab".to_string()
    } else {
        String::from_utf8_lossy(&Command::new("id").arg("-un").output().expect("id").stdout)
            .trim()
            .to_string()
    };
    assert_eq!(t.lab.user, expected_user);

    for node in &t.lab.nodes {
        let out = t.ssh_ok(node, "echo ok; id -un");
        assert_eq!(out, format!("ok\n{}\n", t.lab.user), "{}", node.name);
    }

    // One line per node, bracketed because the port is not 22.
    let known_hosts = std::fs::read_to_string(&t.lab.known_hosts).expect("known_hosts");
    let lines: Vec<&str> = known_hosts.lines().collect();
    assert_eq!(lines.len(), 2);
    for (line, node) in lines.iter().zip(&t.lab.nodes) {
        let prefix = format!("[{}]:{} ssh-ed25519 AAAA", node.address, node.port);
        assert!(line.starts_with(&prefix), "{line}");
        assert_eq!(line.split(' ').count(), 3, "no comment: {line}");
    }

    let inventory = std::fs::read_to_string(&t.lab.inventory).expect("inventory");
    assert!(inventory.contains(&format!("    ansible_user: {}\n", t.lab.user)));
    assert!(inventory.contains(&format!("    ansible_port: {}\n", t.lab.nodes[0].port)));
    assert!(inventory.contains(&format!(
        "    ansible_ssh_private_key_file: {}\n",
        t.lab.key.display()
    )));
    assert!(inventory.contains(&format!(
        "    drover_known_hosts_file: {}\n",
        t.lab.known_hosts.display()
    )));
    let node1 = &t.lab.nodes[0];
    assert!(inventory.contains(&format!(
        "        node1: {{ ansible_host: {}, node_root: {}, role: primary, lab_bin: {} }}\n",
        node1.address,
        node1.root.display(),
        node1.lab_bin().display()
    )));

    let key_mode = std::fs::metadata(&t.lab.key)
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);

    // Time a full connect + auth + `true`: the login shell must not run slow rc files.
    let start = Instant::now();
    t.ssh_ok(node1, "true");
    eprintln!(
        "lab: one fresh `ssh … true` round trip took {:?}",
        start.elapsed()
    );

    let again = lab::up(&t.config()).expect("second up");
    let pids = |lab: &Lab| lab.nodes.iter().map(|n| n.pid).collect::<Vec<_>>();
    assert!(pids(&t.lab).iter().all(Option::is_some));
    assert_eq!(
        pids(&again),
        pids(&t.lab),
        "up again must reuse the running nodes"
    );
    assert_eq!(
        std::fs::read_to_string(&t.lab.known_hosts).expect("known_hosts"),
        known_hosts,
        "host keys must survive a second up"
    );

    let status = lab::status(t.dir.path()).expect("status").expect("a lab");
    assert_eq!(pids(&status), pids(&t.lab));
}

#[test]
fn a_stopped_node_refuses_connections_until_started_again() {
    let t = TestLab::up(2);
    let (node1, node2) = (&t.lab.nodes[0], &t.lab.nodes[1]);

    t.lab.stop_node("node1").expect("stop node1");
    assert!(
        !accepts_connections(node1),
        "node1 still accepts connections"
    );
    assert!(!alive(node1.pid.expect("node1 pid")));
    let out = t.ssh(node1, "true");
    assert_eq!(out.status.code(), Some(255), "ssh to a stopped node");
    t.ssh_ok(node2, "true");
    let status = lab::status(t.dir.path()).expect("status").expect("a lab");
    assert_eq!(status.nodes[0].pid, None);
    assert_eq!(status.nodes[1].pid, node2.pid);

    t.lab.stop_node("node1").expect("stopping twice is fine");
    t.lab.start_node("node1").expect("start node1");
    assert_eq!(t.ssh_ok(node1, "echo back"), "back\n");
    let status = lab::status(t.dir.path()).expect("status").expect("a lab");
    assert!(status.nodes[0].pid.is_some_and(alive));

    assert!(matches!(
        t.lab.stop_node("node9"),
        Err(lab::LabError::UnknownNode { .. })
    ));
}

#[test]
fn seeded_demo_service_upgrades_to_2_0_and_keeps_its_rows() {
    let t = TestLab::up(2);
    t.lab.seed_demo().expect("seed demo");
    // One connection per question set: a fresh OpenSSH login costs ~0.3 s on a loaded machine.
    for node in &t.lab.nodes {
        let path = node.demo_service().display().to_string();
        let out = t.ssh_ok(
            node,
            &format!("{path} version; {path} check; {path} status"),
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[..2], ["1.0", "rows=5 schema=1"], "{}", node.name);
        assert!(lines[2].starts_with("running (pid"), "{out}");
    }

    // The upgrade on node1, as a playbook would do it: stop, install 2.0, migrate, start.
    let node = &t.lab.nodes[0];
    let v1_pid = demo_pid(node);
    let v2 = lab::render_demo_service("2.0", &node.root).expect("render 2.0");
    let path = node.demo_service().display().to_string();
    let install = format!(
        "{path} stop >/dev/null && cat > {path}.new && chmod 755 {path}.new \
         && mv {path}.new {path} && {path} version"
    );
    let out = t.ssh_with_input(node, &install, Some(v2.as_bytes()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2.0\n");
    assert!(!alive(v1_pid), "1.0 daemon still running after stop");

    // 2.0 refuses the 1.0 database until it is migrated.
    let refused = t.ssh(node, &format!("{path} start"));
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("needs schema 2"), "{stderr}");

    let out = t.ssh_ok(
        node,
        &format!(
            "{path} migrate && {path} migrate && {path} start && {path} check && {path} status"
        ),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..2],
        ["migrated schema 1 -> 2", "already at schema 2"]
    );
    assert!(lines[2].starts_with("started (pid"), "{out}");
    assert_eq!(lines[3], "rows=5 schema=2");
    assert!(lines[4].ends_with("version 2.0)"), "{out}");

    // Seeding again leaves the upgraded node alone and reseeds nothing.
    t.lab.seed_demo().expect("seed demo again");
    let out = t.ssh_ok(node, &format!("{path} version; {path} check"));
    assert_eq!(out, "2.0\nrows=5 schema=2\n");
    assert_eq!(t.demo(&t.lab.nodes[1], "check"), "rows=5 schema=1\n");
}

#[test]
fn up_refuses_an_address_already_in_use_and_leaves_nothing_running() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first_address = next_first_address();
    let port = lab::free_port(first_address).expect("free port");
    // node2's address is taken by someone else.
    let second = Ipv4Addr::from(u32::from(first_address) + 1);
    let _squatter = std::net::TcpListener::bind((second, port)).expect("bind");
    let cfg = LabConfig {
        nodes: 2,
        port,
        first_address,
        ..LabConfig::new(dir.path())
    };
    match lab::up(&cfg) {
        Err(lab::LabError::AddressInUse { node, .. }) => assert_eq!(node, "node2"),
        other => panic!("expected AddressInUse, got {other:?}"),
    }
    assert!(lab::status(dir.path()).expect("status").is_none());
    assert_eq!(
        lab::down(dir.path()).expect("down"),
        0,
        "nothing was left running"
    );
}

#[test]
fn down_stops_what_the_lab_started_and_nothing_else() {
    let t = TestLab::up(2);
    t.lab.seed_demo().expect("seed demo");
    let sshd_pids: Vec<u32> = t.lab.nodes.iter().filter_map(|n| n.pid).collect();
    let demo_pids: Vec<u32> = t.lab.nodes.iter().map(demo_pid).collect();
    assert_eq!(sshd_pids.len(), 2);
    assert!(sshd_pids.iter().chain(&demo_pids).all(|&p| alive(p)));

    // An unrelated process whose pid a stale pid file names, as after pid reuse: never killed.
    let mut bystander = Command::new("sleep").arg("30").spawn().expect("sleep");
    let node2 = &t.lab.nodes[1];
    std::fs::write(&node2.pid_file, format!("{}\n", bystander.id())).expect("pid file");

    assert_eq!(lab::down(t.dir.path()).expect("down"), 2);
    for pid in sshd_pids.iter().chain(&demo_pids) {
        assert!(!alive(*pid), "pid {pid} survived lab down");
    }
    assert!(alive(bystander.id()), "down killed an unrelated process");
    assert!(lab::status(t.dir.path()).expect("status").is_none());
    assert_eq!(lab::down(t.dir.path()).expect("down again"), 0);
    assert!(!t.lab.dir.join("lab.json").exists());
    assert!(t.lab.key.exists(), "down keeps the lab directory");

    let _ = bystander.kill();
    let _ = bystander.wait();

    // The directory is reusable: the same host keys and demo data come back.
    let again = lab::up(&t.config()).expect("up after down");
    assert!(again.nodes.iter().all(|n| n.pid.is_some_and(alive)));
    t.ssh_ok(&again.nodes[0], "true");
    again.seed_demo().expect("seed demo after down");
    assert_eq!(t.demo(&again.nodes[0], "check"), "rows=5 schema=1\n");
}

#[test]
fn free_ports_differ_and_are_bindable() {
    let address = Ipv4Addr::new(127, 0, 2, 250);
    let port = lab::free_port(address).expect("free port");
    assert!(port > 1024);
    std::net::TcpListener::bind((address, port)).expect("bind the free port");
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // The owner of a file this process just created is its effective uid.
    let file = tempfile::NamedTempFile::new().expect("temp file");
    file.as_file().metadata().expect("metadata").uid() == 0
}

#[test]
fn nodes_can_share_an_sshd_and_still_answer_on_their_own_addresses() {
    // 5 nodes, 2 per sshd: sshds for node1-2, node3-4, node5.
    let t = TestLab::up_with(5, |cfg| cfg.per_sshd = 2);
    let pids: Vec<u32> = t.lab.nodes.iter().map(|n| n.pid.expect("pid")).collect();
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[2], pids[3]);
    assert_ne!(pids[1], pids[2]);
    assert_ne!(pids[3], pids[4]);
    assert!(pids.iter().all(|&p| alive(p)));
    for node in &t.lab.nodes {
        let out = t.ssh_ok(node, "echo ok");
        assert_eq!(out, "ok\n", "{}", node.name);
    }
    let config = std::fs::read_to_string(&t.lab.nodes[1].sshd_config).expect("config");
    for node in &t.lab.nodes[..2] {
        assert!(config.contains(&format!("ListenAddress {}:{}\n", node.address, node.port)));
    }

    // Idempotent: the same sshds stay.
    let again = lab::up(&LabConfig {
        per_sshd: 2,
        ..t.config()
    })
    .expect("second up");
    let again_pids: Vec<u32> = again.nodes.iter().map(|n| n.pid.expect("pid")).collect();
    assert_eq!(again_pids, pids);

    // Stopping node3 stops the sshd it shares with node4, and only that one.
    t.lab.stop_node("node3").expect("stop node3");
    assert!(!accepts_connections(&t.lab.nodes[3]));
    assert!(accepts_connections(&t.lab.nodes[4]));
    t.lab.start_node("node4").expect("start node4");
    assert!(accepts_connections(&t.lab.nodes[2]));

    let expected = 3;
    assert_eq!(lab::down(t.dir.path()).expect("down"), expected);
    assert!(t.lab.nodes.iter().all(|n| !accepts_connections(n)));
}

#[test]
fn per_sshd_outside_1_to_16_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    for per_sshd in [0, lab::MAX_PER_SSHD + 1] {
        let cfg = LabConfig {
            per_sshd,
            ..LabConfig::new(dir.path())
        };
        assert!(matches!(lab::up(&cfg), Err(lab::LabError::PerSshd { .. })));
    }
}

#[test]
fn heavy_shell_lab_logs_in_a_user_whose_shell_starts_slowly() {
    if !running_as_root() {
        eprintln!("skipped: the heavy-shell user needs root");
        return;
    }
    let t = TestLab::up_with(1, |cfg| cfg.heavy_shell = true);
    assert_eq!(t.lab.user, lab::HEAVY_USER);
    let node = &t.lab.nodes[0];
    // Warm up (first connection), then time one command: the rc file's sleep is in it.
    t.ssh_ok(node, "true");
    let start = Instant::now();
    let out = t.ssh_ok(node, "id -un; echo $0");
    assert!(
        start.elapsed() >= Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(out, format!("{}\nbash\n", lab::HEAVY_USER));
}

/// A lab of `nodes` running PostgreSQL and a Redis per node, each on a free port.
fn lab_with_services(nodes: usize) -> TestLab {
    TestLab::up_with(nodes, |cfg| {
        cfg.services = Services::ALL;
        let mut taken = vec![cfg.port];
        let mut free = |address: Ipv4Addr| {
            let port = (0..20)
                .map(|_| lab::free_port(address).expect("free port"))
                .find(|port| !taken.contains(port))
                .expect("a free port not taken yet");
            taken.push(port);
            port
        };
        cfg.postgresql_port = Some(free(cfg.first_address));
        cfg.redis_ports = (0..nodes as u32)
            .map(|i| free(Ipv4Addr::from(u32::from(cfg.first_address) + i)))
            .collect();
    })
}

/// The user a process runs as, from /proc.
fn process_uid(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .expect("Uid line")
}

fn uid_of(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().expect("id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("uid")
}

#[test]
fn services_run_as_the_lab_user_with_the_lab_and_stop_with_down() {
    let t = lab_with_services(2);
    let pg = t.lab.postgresql.clone().expect("the lab runs PostgreSQL");
    let pg_pid = pg.pid.expect("postgres runs");
    assert!(alive(pg_pid));
    assert_eq!(pg.host, t.lab.nodes[0].address);
    assert_eq!(pg.user, t.lab.user);
    assert_eq!(
        process_uid(pg_pid),
        uid_of(&t.lab.user),
        "postgres runs as the lab user"
    );
    for program in ["psql", "pg_dump", "pg_restore", "createdb", "dropdb"] {
        assert!(
            pg.bin.join(program).is_file(),
            "{program} in {}",
            pg.bin.display()
        );
    }
    // Trust auth over TCP on node1's address; the lab user is the superuser.
    let out = pg
        .command("psql")
        .args([
            "-d",
            "postgres",
            "-XAtc",
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user",
        ])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{}|t", t.lab.user)
    );

    let redis_pids: Vec<u32> = t
        .lab
        .nodes
        .iter()
        .map(|n| n.redis_pid().expect("redis runs"))
        .collect();
    for (node, pid) in t.lab.nodes.iter().zip(&redis_pids) {
        assert_eq!(process_uid(*pid), uid_of(&t.lab.user), "{}", node.name);
    }

    let inventory = std::fs::read_to_string(&t.lab.inventory).expect("inventory");
    for line in [
        format!("        lab_postgresql_host: {}\n", pg.host),
        format!("        lab_postgresql_port: {}\n", pg.port),
        format!("        lab_postgresql_user: {}\n", pg.user),
        format!("        lab_postgresql_bin: {}\n", pg.bin.display()),
    ] {
        assert!(
            inventory.contains(&line),
            "inventory lacks {line:?}:\n{inventory}"
        );
    }
    let cli = t.lab.redis_cli.clone().expect("redis-cli");
    for node in &t.lab.nodes {
        let vars = format!(
            "lab_bin: {}, lab_redis_port: {}, lab_redis_cli: {} }}",
            node.lab_bin().display(),
            node.redis_port.expect("redis port"),
            cli.display()
        );
        assert!(
            inventory.contains(&vars),
            "inventory lacks {vars:?}:\n{inventory}"
        );
    }

    // Redis through the node's systemctl stand-in, over SSH as the lab user: a stop flushes
    // the AOF, a start reads it back.
    let node = &t.lab.nodes[1];
    let systemctl = node.lab_bin().join("systemctl");
    let systemctl = systemctl.display();
    let redis = format!(
        "{} -h {} -p {}",
        cli.display(),
        node.address,
        node.redis_port.expect("port")
    );
    t.ssh_ok(node, &format!("{redis} set greeting hello"));
    let out = t.ssh_ok(
        node,
        &format!(
            "{systemctl} is-active redis; {systemctl} stop redis.service; \
             {systemctl} is-active redis; echo rc=$?; ls {}/appendonlydir; \
             {systemctl} start redis && {redis} get greeting",
            node.redis_data_dir().display()
        ),
    );
    assert!(
        out.starts_with("active\ninactive\nrc=3\n") && out.ends_with("hello\n"),
        "{out}"
    );
    assert!(out.contains("appendonly.aof.manifest"), "{out}");
    assert!(!alive(redis_pids[1]), "the old server stopped");
    let out = t.ssh(node, &format!("{systemctl} stop nakama"));
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Failed to stop nakama.service: Unit nakama.service not found."
    );

    // Idempotent: a second up (asking for no services) keeps them, on the same ports.
    let again = lab::up(&t.config()).expect("second up");
    assert_eq!(again.postgresql.as_ref().and_then(|p| p.pid), Some(pg_pid));
    assert_eq!(again.postgresql.as_ref().map(|p| p.port), Some(pg.port));
    assert_eq!(again.nodes[0].redis_pid(), Some(redis_pids[0]));
    assert_eq!(
        again.nodes.iter().map(|n| n.redis_port).collect::<Vec<_>>(),
        t.lab.nodes.iter().map(|n| n.redis_port).collect::<Vec<_>>()
    );
    let status = lab::status(t.dir.path()).expect("status").expect("a lab");
    assert_eq!(status.services, Services::ALL);
    assert_eq!(status.postgresql.and_then(|p| p.pid), Some(pg_pid));

    let restarted = again.nodes[1].redis_pid().expect("redis runs");
    lab::down(t.dir.path()).expect("down");
    for pid in [pg_pid, redis_pids[0], restarted] {
        assert!(!alive(pid), "pid {pid} survived lab down");
    }
}

//! Reaching hosts the way operators do: `~/.ssh/config`-style aliases, `Match`/`Include`,
//! bastions (`ProxyJump`, one and two hops, Ansible's `ansible_ssh_common_args` spelling),
//! `ProxyCommand`; and the refusals (loops, settings drover cannot honour). The bastion lab
//! puts the nodes in a network namespace the test creates, so only the bastion's TCP
//! forwarding reaches them (root only; skipped with a printed reason otherwise).

mod common;

use common::{Fleet, drover};
use drover::lab::netns::{self, Isolation};
use std::path::{Path, PathBuf};

const PLAYBOOK: &str = "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: say where\n      command: echo reached-{{ inventory_hostname }}\n";

/// `drover run -y --no-journal -F CONFIG PLAYBOOK -i INVENTORY`.
fn run_with(config: &Path, playbook: &Path, inventory: &Path) -> common::Drover {
    drover()
        .args(["run", "-y", "--no-journal", "-F"])
        .arg(config)
        .arg(playbook)
        .arg("-i")
        .arg(inventory)
}

/// A lab of three nodes: node1 is the bastion (reachable from here on a veth address),
/// node2 and node3 only from inside the namespace.
struct BastionLab {
    isolation: Isolation,
    fleet: Fleet,
}

impl BastionLab {
    fn up() -> Option<BastionLab> {
        if let Some(reason) = netns::unavailable() {
            eprintln!("skipped: the bastion lab needs network namespaces: {reason}");
            return None;
        }
        let fleet = Fleet::up(3);
        let isolation = fleet
            .lab
            .isolate("node1", &["node2", "node3"])
            .unwrap_or_else(|e| panic!("isolate: {e}"));
        Some(BastionLab { isolation, fleet })
    }

    fn node(&self, name: &str) -> &drover::lab::Node {
        self.fleet.lab.node(name).expect("node")
    }

    /// ssh_config lines every host needs: who to log in as, the key, the known_hosts file.
    fn common(&self) -> String {
        format!(
            "  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n",
            self.fleet.lab.user,
            self.fleet.lab.key.display(),
            self.fleet.lab.known_hosts.display()
        )
    }

    /// `Host bastion`: node1 on its veth address, its key looked up under its lab name.
    fn bastion_block(&self) -> String {
        let node1 = self.node("node1");
        format!(
            "Host bastion\n  HostName {}\n  Port {}\n  HostKeyAlias [{}]:{}\n{}",
            self.isolation.bastion_address,
            self.isolation.bastion_port,
            node1.address,
            node1.port,
            self.common()
        )
    }

    /// `Host nodeN` aliases for the hidden nodes, with `extra` lines each.
    fn node_blocks(&self, extra: &str) -> String {
        ["node2", "node3"]
            .iter()
            .map(|name| {
                let node = self.node(name);
                format!(
                    "Host {name}\n  HostName {}\n  Port {}\n{extra}",
                    node.address, node.port
                )
            })
            .collect()
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        self.fleet.write(name, text)
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(&self.node(name).log).unwrap_or_default()
    }

    /// How many times `name`'s sshd forwarded a connection to `target`.
    fn forwards(&self, name: &str, target: &str) -> usize {
        let node = self.node(target);
        let needle = format!("target {} port {}", node.address, node.port);
        self.log(name).matches(&needle).count()
    }

    fn logins(&self, name: &str) -> usize {
        self.log(name).matches("Accepted publickey").count()
    }
}

#[test]
fn hidden_nodes_are_reached_through_one_shared_bastion_connection_named_in_ssh_config() {
    let Some(lab) = BastionLab::up() else { return };
    let inventory = lab.write("inventory.ini", "[hidden]\nnode2\nnode3\n");
    let playbook = lab.write("site.yml", PLAYBOOK);

    // Without the bastion the nodes' addresses do not answer from here.
    let direct = lab.write(
        "direct.cfg",
        &format!("{}Host *\n{}", lab.node_blocks(""), lab.common()),
    );
    let run = run_with(&direct, &playbook, &inventory)
        .args(["--connect-timeout", "3"])
        .expect_code(3);
    assert!(
        run.recap("node2").contains("unreachable=1"),
        "{}",
        run.dump()
    );

    // Aliases resolve through HostName/Port; ProxyJump takes them through node1.
    let config = lab.write(
        "ssh.cfg",
        &format!(
            "{}{}Host *\n{}",
            lab.bastion_block(),
            lab.node_blocks("  ProxyJump bastion\n"),
            lab.common()
        ),
    );
    let before = lab.logins("node1");
    let run = run_with(&config, &playbook, &inventory).expect_code(0);
    for host in ["node2", "node3"] {
        assert!(run.recap(host).contains("ok=1"), "{}", run.dump());
        assert_eq!(lab.forwards("node1", host), 1, "{}", lab.log("node1"));
    }
    // One connection to the bastion carried both hosts.
    assert_eq!(lab.logins("node1") - before, 1, "{}", lab.log("node1"));

    // -vvvv tells the route: through the jump host, and the tunnel it opened.
    let run = run_with(&config, &playbook, &inventory)
        .arg("-vvvv")
        .expect_code(0);
    let node2 = lab.node("node2");
    run.stdout_has("<node2> SSH: connecting to ")
        .stdout_has(" through jump host bastion (")
        .stdout_has(&format!(
            "<node2> SSH: jump host bastion opened a direct-tcpip channel to {}:{}",
            node2.address, node2.port
        ))
        .stdout_has("<bastion> SSH: server host key ");
}

#[test]
fn ansible_spellings_and_a_two_hop_chain_and_proxy_command_reach_the_same_hosts() {
    let Some(lab) = BastionLab::up() else { return };
    let playbook = lab.write("site.yml", PLAYBOOK);
    // node2 is also a second hop, addressed inside the namespace.
    let node2 = lab.node("node2");
    let config = lab.write(
        "ssh.cfg",
        &format!(
            "{}Host hop2\n  HostName {}\n  Port {}\n{}Host *\n{}",
            lab.bastion_block(),
            node2.address,
            node2.port,
            lab.common(),
            lab.common()
        ),
    );
    let node3 = lab.node("node3");
    let kh = lab.fleet.lab.known_hosts.display().to_string();
    let key = lab.fleet.lab.key.display().to_string();
    let user = lab.fleet.lab.user.clone();
    let node1 = lab.node("node1");
    // `ansible_ssh_common_args: -o ProxyJump=…`, `-J a,b` (two hops), and a ProxyCommand
    // running the real OpenSSH client with -W.
    let proxy_command = format!(
        "ssh -F /dev/null -i {key} -o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes -o BatchMode=yes -o HostKeyAlias=[{}]:{} -p {} -W %h:%p {user}@{}",
        node1.address, node1.port, lab.isolation.bastion_port, lab.isolation.bastion_address
    );
    let inventory = lab.write(
        "inventory.yml",
        &format!(
            "all:\n  vars:\n    ansible_user: {user}\n    ansible_ssh_private_key_file: {key}\n    drover_known_hosts_file: {kh}\n  hosts:\n    \
             via_option: {{ ansible_host: {a2}, ansible_port: {p2}, ansible_ssh_common_args: '-o ProxyJump=bastion' }}\n    \
             via_chain: {{ ansible_host: {a3}, ansible_port: {p3}, ansible_ssh_extra_args: '-J bastion,hop2' }}\n    \
             via_command: {{ ansible_host: {a3}, ansible_port: {p3}, ansible_ssh_common_args: \"-o ProxyCommand='{proxy_command}'\" }}\n",
            a2 = node2.address,
            p2 = node2.port,
            a3 = node3.address,
            p3 = node3.port,
        ),
    );
    let run = run_with(&config, &playbook, &inventory).expect_code(0);
    for host in ["via_option", "via_chain", "via_command"] {
        assert!(run.recap(host).contains("ok=1"), "{}", run.dump());
    }
    // The chain's last hop is node2, which forwarded to node3.
    assert!(lab.forwards("node2", "node3") >= 1, "{}", lab.log("node2"));
    assert!(lab.forwards("node1", "node2") >= 2, "{}", lab.log("node1"));
}

#[test]
fn a_dead_bastion_is_reported_once_and_cuts_off_its_hosts() {
    let Some(lab) = BastionLab::up() else { return };
    let playbook = lab.write("site.yml", PLAYBOOK);
    let inventory = lab.write("inventory.ini", "[hidden]\nnode2\nnode3\n");
    // Nothing listens on port 1 of the bastion's address.
    let config = lab.write(
        "ssh.cfg",
        &format!(
            "Host bastion\n  HostName {}\n  Port 1\n{}{}Host *\n{}",
            lab.isolation.bastion_address,
            lab.common(),
            lab.node_blocks("  ProxyJump bastion\n"),
            lab.common()
        ),
    );
    let run = run_with(&config, &playbook, &inventory).expect_code(3);
    for host in ["node2", "node3"] {
        assert!(run.recap(host).contains("unreachable=1"), "{}", run.dump());
    }
    let all = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        all.matches("through jump host bastion").count() >= 2,
        "{}",
        run.dump()
    );
    assert_eq!(
        all.matches("every host behind it is unreachable").count(),
        1,
        "{}",
        run.dump()
    );
    // Before the recap, one line names the hosts it cut off.
    assert!(
        all.contains("it cut off 2 host(s): node2, node3")
            || all.contains("it cut off 2 host(s): node3, node2"),
        "{}",
        run.dump()
    );
}

#[test]
fn match_and_include_resolve_an_alias_on_loopback() {
    let fleet = Fleet::up(1);
    let node = fleet.lab.node("node1").expect("node1");
    let included = fleet.write(
        "conf.d/10-lab.conf",
        &format!(
            "Host web\n  HostName {}\nMatch originalhost web exec \"test %n = web\"\n  Port {}\n",
            node.address, node.port
        ),
    );
    let config = fleet.write(
        "ssh.cfg",
        &format!(
            "Include {}/*.conf\nMatch host {}\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}\n",
            included.parent().expect("dir").display(),
            node.address,
            fleet.lab.user,
            fleet.lab.key.display(),
            fleet.lab.known_hosts.display()
        ),
    );
    let inventory = fleet.write("inventory.ini", "web\n");
    let playbook = fleet.write("site.yml", PLAYBOOK);
    let run = run_with(&config, &playbook, &inventory).expect_code(0);
    assert!(run.recap("web").contains("ok=1"), "{}", run.dump());
}

#[test]
fn a_proxy_jump_loop_and_an_unhonourable_option_are_refused_naming_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    let config = write(
        "ssh.cfg",
        "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\nHost c\n  HostName 127.0.0.1\n  Port 1\n",
    );
    let inventory = write(
        "inventory.yml",
        "all:\n  hosts:\n    a:\n    c: { ansible_ssh_common_args: '-o RemoteCommand=uptime' }\n",
    );
    let playbook = write("site.yml", PLAYBOOK);
    let run = run_with(&config, &playbook, &inventory).expect_code(3);
    let out = format!("{}{}", run.stdout(), run.stderr());
    assert!(out.contains("ProxyJump loop: a → b → a"), "{}", run.dump());
    assert!(out.contains("-o RemoteCommand=uptime"), "{}", run.dump());
    assert!(out.contains("ansible_ssh_common_args"), "{}", run.dump());

    // `drover check` finds the same without connecting.
    let run = drover()
        .args(["check", "-F"])
        .arg(&config)
        .arg(&playbook)
        .arg("-i")
        .arg(&inventory)
        .expect_code(4);
    run.stdout_has("ProxyJump loop: a → b → a")
        .stdout_has("-o RemoteCommand=uptime");
}

#[test]
fn a_malformed_ssh_config_names_file_and_line_and_unknown_keywords_are_warned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("ssh.cfg");
    std::fs::write(&config, "Host *\n  Frobnicate yes\n  Port twenty-two\n").expect("write");
    let inventory = dir.path().join("inventory.ini");
    std::fs::write(&inventory, "h\n").expect("write");
    let playbook = dir.path().join("site.yml");
    std::fs::write(&playbook, PLAYBOOK).expect("write");
    let run = run_with(&config, &playbook, &inventory).expect_code(4);
    run.stderr_has("ssh.cfg:3")
        .stderr_has("bad port number `twenty-two`");

    // Without the bad line, the unknown keyword is a warning naming file:line.
    std::fs::write(
        &config,
        "Host *\n  Frobnicate yes\n  HostName 127.0.0.1\n  Port 1\n",
    )
    .expect("write");
    let run = run_with(&config, &playbook, &inventory)
        .args(["--connect-timeout", "2"])
        .expect_code(3);
    let out = format!("{}{}", run.stdout(), run.stderr());
    assert_eq!(
        out.matches("ssh_config Frobnicate").count(),
        1,
        "{}",
        run.dump()
    );
    assert!(out.contains("ssh.cfg:2"), "{}", run.dump());
    let run = drover()
        .args(["check", "-F"])
        .arg(&config)
        .arg(&playbook)
        .arg("-i")
        .arg(&inventory)
        .expect_code(0);
    run.stdout_has("[WARNING]: ssh_config Frobnicate (")
        .stdout_has("ssh.cfg:2) is not honoured by drover");
}

/// The real `ansible-playbook` of the compat venv (installed by tests/ansible_compat.rs).
fn ansible_playbook() -> Option<PathBuf> {
    let path = std::env::var_os("DROVER_ANSIBLE_PLAYBOOK")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ansible-venv/bin/ansible-playbook")
        });
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "skipped the ansible-playbook half: {} is missing (cargo test --test ansible_compat installs it)",
            path.display()
        );
        None
    }
}

#[test]
fn one_ansible_cfg_and_ssh_config_reach_the_hidden_hosts_under_ansible_and_drover() {
    let Some(lab) = BastionLab::up() else { return };
    let project = lab.fleet.path("project");
    std::fs::create_dir_all(&project).expect("mkdir");
    // The ssh_config names the bastion and the aliases; ansible.cfg names the inventory, the
    // user, the key and the ssh_config (through ssh_args), as an operator's project would.
    let config = lab.write(
        "project/ssh.cfg",
        &format!(
            "{}{}Host *\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n",
            lab.bastion_block(),
            lab.node_blocks("  ProxyJump bastion\n"),
            lab.fleet.lab.known_hosts.display()
        ),
    );
    lab.write("project/hosts.ini", "[hidden]\nnode2\nnode3\n");
    lab.write(
        "project/ansible.cfg",
        &format!(
            "[defaults]\ninventory = hosts.ini\nremote_user = {}\nprivate_key_file = {}\nhost_key_checking = True\nretry_files_enabled = False\n\n[ssh_connection]\nssh_args = -F {} -o ControlMaster=no -o ControlPath=none -o BatchMode=yes\n",
            lab.fleet.lab.user,
            lab.fleet.lab.key.display(),
            config.display()
        ),
    );
    lab.write("project/site.yml", PLAYBOOK);

    let before: Vec<usize> = ["node2", "node3"]
        .iter()
        .map(|h| lab.forwards("node1", h))
        .collect();
    let run = drover()
        .args(["run", "-y", "--no-journal", "site.yml"])
        .current_dir(&project)
        .expect_code(0);
    for (i, host) in ["node2", "node3"].iter().enumerate() {
        assert!(run.recap(host).contains("ok=1"), "{}", run.dump());
        assert_eq!(
            lab.forwards("node1", host),
            before[i] + 1,
            "{}",
            lab.log("node1")
        );
    }

    let Some(ansible) = ansible_playbook() else {
        return;
    };
    let remote_tmp = lab.fleet.path("ansible-remote-tmp");
    std::fs::create_dir_all(&remote_tmp).expect("mkdir");
    common::sh(&format!("chmod 1777 {}", remote_tmp.display()));
    let out = std::process::Command::new(ansible)
        .arg("site.yml")
        .current_dir(&project)
        .env_remove("ANSIBLE_CONFIG")
        .env("ANSIBLE_HOME", lab.fleet.path("ansible-home"))
        .env("ANSIBLE_LOCAL_TEMP", lab.fleet.path("ansible-tmp"))
        .env("ANSIBLE_REMOTE_TEMP", &remote_tmp)
        .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
        .env("ANSIBLE_NOCOLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run ansible-playbook");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ansible-playbook failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (i, host) in ["node2", "node3"].iter().enumerate() {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(host) && l.contains("ok="))
            .unwrap_or_else(|| panic!("no recap for {host}:\n{stdout}"));
        assert!(
            line.contains("ok=1") && line.contains("unreachable=0"),
            "{line}"
        );
        // Ansible went through the same bastion (one forward per ssh it ran).
        assert!(
            lab.forwards("node1", host) > before[i] + 1,
            "{}",
            lab.log("node1")
        );
    }
}

#[test]
fn twenty_hosts_behind_one_bastion_share_its_one_connection() {
    let Some(lab) = BastionLab::up() else { return };
    let node2 = lab.node("node2");
    // web01 … web20 are aliases of node2, all behind the bastion.
    let config = lab.write(
        "ssh.cfg",
        &format!(
            "{}Host web*\n  HostName {}\n  Port {}\n  HostKeyAlias [{}]:{}\n  ProxyJump bastion\n{}",
            lab.bastion_block(),
            node2.address,
            node2.port,
            node2.address,
            node2.port,
            lab.common()
        ),
    );
    let hosts: String = (1..=20).map(|i| format!("web{i:02}\n")).collect();
    let inventory = lab.write("inventory.ini", &format!("[web]\n{hosts}"));
    let playbook = lab.write("site.yml", PLAYBOOK);
    let before = (lab.logins("node1"), lab.forwards("node1", "node2"));
    let run = run_with(&config, &playbook, &inventory)
        .args(["-f", "20"])
        .expect_code(0);
    for i in 1..=20 {
        assert!(
            run.recap(&format!("web{i:02}")).contains("ok=1"),
            "{}",
            run.dump()
        );
    }
    assert_eq!(lab.logins("node1") - before.0, 1, "{}", lab.log("node1"));
    assert_eq!(lab.forwards("node1", "node2") - before.1, 20);
}

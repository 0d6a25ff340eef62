//! Logins as operators have them, on a real sshd configured for each: an OpenSSH user
//! certificate (`KEY-cert.pub` beside the key, the server trusting the CA, the key itself in
//! no authorized_keys), a password (`ansible_password`; root only: it needs a lab account
//! with a password), and a host known only through a `@cert-authority` line.

mod common;

use common::{Fleet, drover, sh};
use drover::lab::escalation::{BECOME_PASSWORD, BECOME_USER, enable_become};

const PLAYBOOK: &str = "- hosts: all\n  gather_facts: false\n  tasks:\n    - command: id -un\n      register: who\n    - debug:\n        var: who.stdout\n";

/// Restarts `node1` with its sshd_config passed through `edit`.
fn restart_with(fleet: &Fleet, edit: impl Fn(String) -> String) {
    let node = fleet.lab.node("node1").expect("node1").clone();
    fleet.lab.stop_node("node1").expect("stop");
    let config = std::fs::read_to_string(&node.sshd_config).expect("read sshd_config");
    std::fs::write(&node.sshd_config, edit(config)).expect("write sshd_config");
    fleet.lab.start_node("node1").expect("start");
}

fn inventory(fleet: &Fleet, vars: &str) -> std::path::PathBuf {
    inventory_trusting(fleet, &fleet.lab.known_hosts, vars)
}

fn inventory_trusting(
    fleet: &Fleet,
    known_hosts: &std::path::Path,
    vars: &str,
) -> std::path::PathBuf {
    let node = fleet.lab.node("node1").expect("node1");
    fleet.write(
        "hosts.yml",
        &format!(
            "all:\n  hosts:\n    node1:\n      ansible_host: {}\n      ansible_port: {}\n      drover_known_hosts_file: {}\n{vars}",
            node.address,
            node.port,
            known_hosts.display()
        ),
    )
}

#[test]
fn a_user_certificate_beside_the_key_logs_in_where_the_key_alone_cannot() {
    let fleet = Fleet::up(1);
    let ca = fleet.path("ca");
    let key = fleet.path("certified");
    sh(&format!(
        "ssh-keygen -q -t ed25519 -N '' -C ca -f {ca} && ssh-keygen -q -t ed25519 -N '' -C user -f {key}",
        ca = ca.display(),
        key = key.display()
    ));
    restart_with(&fleet, |config| {
        format!("{config}TrustedUserCAKeys \"{}.pub\"\n", ca.display())
    });
    let vars = format!(
        "      ansible_user: {}\n      ansible_ssh_private_key_file: {}\n",
        fleet.lab.user,
        key.display()
    );
    let hosts = inventory(&fleet, &vars);
    let playbook = fleet.write("site.yml", PLAYBOOK);
    let run = || {
        drover()
            .arg("run")
            .arg(&playbook)
            .arg("-i")
            .arg(&hosts)
            .args(["-F", "none", "-y", "--no-journal"])
    };
    // Not signed yet: the key is in no authorized_keys.
    let refused = run().expect_code(3);
    assert!(
        refused.recap("node1").contains("unreachable=1"),
        "{}",
        refused.dump()
    );

    sh(&format!(
        "ssh-keygen -q -s {} -I drover-test-cert -n {} -V -5m:+1h {}.pub",
        ca.display(),
        fleet.lab.user,
        key.display()
    ));
    let run = run().expect_code(0);
    run.stdout_has(&format!("\"who.stdout\": \"{}\"", fleet.lab.user));
    let log =
        std::fs::read_to_string(&fleet.lab.node("node1").expect("node1").log).unwrap_or_default();
    assert!(log.contains("ID drover-test-cert"), "{log}");
}

#[test]
fn ansible_password_logs_in_by_password_and_is_never_printed() {
    if sh("id -u") != "0" {
        eprintln!("skipped: a password login needs a lab account with a password (root only)");
        return;
    }
    enable_become().expect("lab accounts");
    let fleet = Fleet::up(1);
    restart_with(&fleet, |config| {
        config.replace("AllowUsers ", &format!("AllowUsers {BECOME_USER} "))
            + &format!(
                "Match User {BECOME_USER}\n  PasswordAuthentication yes\n  KbdInteractiveAuthentication yes\n"
            )
    });
    let playbook = fleet.write("site.yml", PLAYBOOK);
    let wrong = inventory(
        &fleet,
        &format!("      ansible_user: {BECOME_USER}\n      ansible_password: not-it\n"),
    );
    let run = drover()
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&wrong)
        .args(["-F", "none", "-y", "--no-journal"])
        .expect_code(3);
    run.stdout_has("password");
    let hosts = inventory(
        &fleet,
        &format!("      ansible_user: {BECOME_USER}\n      ansible_password: {BECOME_PASSWORD}\n"),
    );
    let run = drover()
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&hosts)
        .args(["-F", "none", "-y", "--no-journal"])
        .expect_code(0);
    run.stdout_has(&format!("\"who.stdout\": \"{BECOME_USER}\""));
    assert!(!run.stdout().contains(BECOME_PASSWORD));
    assert!(!run.stderr().contains(BECOME_PASSWORD));
}

#[test]
fn a_host_certificate_from_a_known_cert_authority_is_trusted_and_a_wrong_principal_is_not() {
    let fleet = Fleet::up(1);
    let node = fleet.lab.node("node1").expect("node1").clone();
    let ca = fleet.path("host-ca");
    sh(&format!(
        "ssh-keygen -q -t ed25519 -N '' -C host-ca -f {}",
        ca.display()
    ));
    let sign = |principal: &str| {
        sh(&format!(
            "ssh-keygen -q -s {} -h -I node1-host -n {principal} -V -5m:+1h {}.pub",
            ca.display(),
            node.host_key.display()
        ));
    };
    // Only the authority is known, for the node's address and port.
    let ca_pub = std::fs::read_to_string(format!("{}.pub", ca.display())).expect("ca.pub");
    let known = fleet.write(
        "known_hosts_ca",
        &format!("@cert-authority [{}]:{} {ca_pub}", node.address, node.port),
    );
    let vars = format!(
        "      ansible_user: {}\n      ansible_ssh_private_key_file: {}\n",
        fleet.lab.user,
        fleet.lab.key.display()
    );
    let hosts = inventory_trusting(&fleet, &known, &vars);
    let playbook = fleet.write("site.yml", PLAYBOOK);
    let run = || {
        drover()
            .arg("run")
            .arg(&playbook)
            .arg("-i")
            .arg(&hosts)
            .args(["-F", "none", "-y", "--no-journal"])
    };
    sign(&node.address.to_string());
    restart_with(&fleet, |config| {
        format!(
            "{config}HostCertificate \"{}-cert.pub\"\n",
            node.host_key.display()
        )
    });
    run().expect_code(0);

    sign("someone-else");
    restart_with(&fleet, |config| config);
    let refused = run().expect_code(3);
    refused
        .stdout_has("host certificate")
        .stdout_has("not valid for");
}

#[test]
fn host_key_checking_false_connects_records_the_key_and_says_so_loudly() {
    let fleet = Fleet::up(1);
    let empty = fleet.write("known_hosts_empty", "");
    let vars = format!(
        "      ansible_user: {}\n      ansible_ssh_private_key_file: {}\n      ansible_host_key_checking: false\n",
        fleet.lab.user,
        fleet.lab.key.display()
    );
    let hosts = inventory_trusting(&fleet, &empty, &vars);
    let playbook = fleet.write("site.yml", PLAYBOOK);
    let run = drover()
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&hosts)
        .args(["-F", "none", "-y", "--no-journal"])
        .expect_code(0);
    run.stdout_has("HOST KEY CHECKING IS OFF for node1");
    let node = fleet.lab.node("node1").expect("node1");
    let recorded = std::fs::read_to_string(&empty).expect("known_hosts");
    assert!(
        recorded.starts_with(&format!("[{}]:{} ssh-ed25519 ", node.address, node.port)),
        "{recorded}"
    );
}

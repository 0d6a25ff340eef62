//! `user`, `group`, `cron` and `sysctl` against the real accounts, crontabs and kernel of
//! the lab's machine, through real sudo (`become`): each changes once, is `ok` the second
//! time, changes nothing in check mode, shows a diff, and undoes cleanly. The accounts the
//! tests make have names unique to the test process and are removed at the end.

mod common;

use common::{Fleet, Run, sh};
use drover::lab::escalation::enable_become;

fn fleet_with_become() -> Fleet {
    assert!(
        sh("id -u") == "0",
        "these tests change accounts and need root"
    );
    enable_become().expect("lab become rules (is sudo installed?)");
    Fleet::up(1)
}

fn recap(run: &Run) -> String {
    run.recap("node1")
}

/// A free uid/gid (and name suffix) for this test process.
fn free_id(base: u32) -> u32 {
    let start = base + std::process::id() % 5000;
    (start..start + 200)
        .find(|id| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("getent passwd {id} || getent group {id}"))
                .output()
                .map(|o| !o.status.success())
                .unwrap_or(false)
        })
        .expect("a free id")
}

/// Removes the account and group at the end, whatever the test did.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for script in &self.0 {
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .status();
        }
    }
}

#[test]
fn user_and_group_are_created_changed_idempotently_and_removed() {
    let fleet = fleet_with_become();
    let id = free_id(42000);
    let user = format!("drvu{id}");
    let group = format!("drvg{id}");
    let extra = format!("drvx{id}");
    let home = fleet.node_root("node1").join(format!("home-{user}"));
    let _cleanup = Cleanup(vec![
        format!("userdel -r {user} 2>/dev/null"),
        format!("groupdel {group} 2>/dev/null; groupdel {extra} 2>/dev/null"),
    ]);
    // SHA-512 crypt of "pw", made here so the test needs no Python.
    let hash = sh("openssl passwd -6 -salt drovertest pw");
    let book = fleet.write(
        "accounts.yml",
        &format!(
            r#"- hosts: node1
  become: true
  tasks:
    - group: {{name: {group}, gid: {id}}}
    - group: {{name: {extra}}}
    - user:
        name: {user}
        uid: {id}
        group: {group}
        groups: [{extra}]
        shell: /bin/sh
        home: {home}
        comment: drover test
        password: "{hash}"
      register: made
    - assert:
        that:
          - made.uid == {id}
          - made.group == {id}
          - made.groups == '{extra}'
          - made.home == '{home}'
          - made.password == 'NOT_LOGGING_PASSWORD'
"#,
            home = home.display()
        ),
    );
    let first = fleet.run(&book).arg("--diff").expect_code(0);
    assert!(recap(&first).contains("changed=3"), "{}", first.dump());
    first
        .stdout_has(&format!("+user: {user}"))
        .stdout_has(&format!("+uid: {id}"));
    assert!(
        !first.stdout().contains(&hash),
        "the hash was shown\n{}",
        first.dump()
    );
    let passwd = sh(&format!("getent passwd {user}"));
    assert_eq!(
        passwd,
        format!("{user}:x:{id}:{id}:drover test:{}:/bin/sh", home.display())
    );
    assert!(home.is_dir(), "home not created");
    assert_eq!(sh(&format!("id -Gn {user}")), format!("{group} {extra}"));
    assert_eq!(
        sh(&format!("getent shadow {user} | cut -d: -f2")),
        hash,
        "password hash"
    );

    let again = fleet.run(&book).expect_code(0);
    assert!(recap(&again).contains("changed=0"), "{}", again.dump());

    // Changes: the shell, append a group, lock the password; first in check mode.
    let change = fleet.write(
        "change.yml",
        &format!(
            r#"- hosts: node1
  become: true
  tasks:
    - user: {{name: {user}, shell: /bin/bash, groups: [{group}], append: true}}
    - user: {{name: {user}, password_lock: true}}
    - group: {{name: {extra}, gid: {gid2}}}
"#,
            gid2 = id + 1
        ),
    );
    let checked = fleet.run(&change).arg("--check").expect_code(0);
    assert!(recap(&checked).contains("changed=2"), "{}", checked.dump());
    assert!(sh(&format!("getent passwd {user}")).ends_with(":/bin/sh"));
    let changed = fleet.run(&change).expect_code(0);
    assert!(recap(&changed).contains("changed=2"), "{}", changed.dump());
    assert!(sh(&format!("getent passwd {user}")).ends_with(":/bin/bash"));
    assert!(sh(&format!("getent shadow {user} | cut -d: -f2")).starts_with('!'));
    assert_eq!(sh(&format!("id -Gn {user}")), format!("{group} {extra}"));
    let _ = id + 1;

    // Without become the change is refused with the hint.
    let plain = fleet.write(
        "plain.yml",
        &format!("- hosts: node1\n  tasks:\n    - user: {{name: {user}, shell: /bin/sh}}\n"),
    );
    fleet
        .run(&plain)
        .expect_code(2)
        .stdout_has("changing accounts needs root: set `become: true`");

    let gone = fleet.write(
        "gone.yml",
        &format!(
            r#"- hosts: node1
  become: true
  tasks:
    - user: {{name: {user}, state: absent, remove: true}}
    - group: {{name: {group}, state: absent}}
    - group: {{name: {extra}, state: absent}}
    - user: {{name: {user}, state: absent}}
"#
        ),
    );
    let removed = fleet.run(&gone).expect_code(0);
    assert!(recap(&removed).contains("changed=3"), "{}", removed.dump());
    assert!(!home.exists(), "remove: true keeps the home");
    let lookup = std::process::Command::new("getent")
        .args(["passwd", &user])
        .output()
        .expect("getent");
    assert!(!lookup.status.success(), "the user is still there");
}

#[test]
fn cron_entries_in_a_user_crontab_and_in_cron_d_change_once() {
    let fleet = fleet_with_become();
    let id = free_id(43000);
    let cron_file = format!("drover-test-{id}");
    let _cleanup = Cleanup(vec![
        format!("rm -f /etc/cron.d/{cron_file}"),
        "crontab -r -u drover-lab 2>/dev/null".to_string(),
    ]);
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg("crontab -r -u drover-lab 2>/dev/null")
        .status();
    let book = fleet.write(
        "cron.yml",
        &format!(
            r#"- hosts: node1
  tasks:
    - name: the login user's own crontab, no become
      cron: {{name: nightly backup, minute: "5", hour: "2", job: "/usr/local/bin/backup >/dev/null"}}
    - cron: {{name: MAILTO, env: true, job: ops@example.com}}
    - cron: {{name: at boot, special_time: reboot, job: /usr/local/bin/warm, disabled: true}}
    - name: a file under cron.d, as root
      become: true
      cron: {{name: rotate, cron_file: {cron_file}, user: root, minute: "*/10", job: /usr/sbin/logrotate /etc/logrotate.conf}}
"#
        ),
    );
    let first = fleet.run(&book).arg("--diff").expect_code(0);
    assert!(recap(&first).contains("changed=4"), "{}", first.dump());
    first.stdout_has("+#Ansible: nightly backup");
    let crontab = sh("crontab -l -u drover-lab");
    assert_eq!(
        crontab,
        "MAILTO=ops@example.com\n#Ansible: nightly backup\n5 2 * * * /usr/local/bin/backup >/dev/null\n#Ansible: at boot\n#@reboot /usr/local/bin/warm"
    );
    let file = std::fs::read_to_string(format!("/etc/cron.d/{cron_file}")).expect("cron.d file");
    assert_eq!(
        file,
        "#Ansible: rotate\n*/10 * * * * root /usr/sbin/logrotate /etc/logrotate.conf\n"
    );
    let again = fleet.run(&book).expect_code(0);
    assert!(recap(&again).contains("changed=0"), "{}", again.dump());

    let change = fleet.write(
        "cron-change.yml",
        &format!(
            r#"- hosts: node1
  tasks:
    - cron: {{name: nightly backup, minute: "5", hour: "3", job: "/usr/local/bin/backup >/dev/null"}}
    - cron: {{name: at boot, state: absent}}
    - become: true
      cron: {{name: rotate, cron_file: {cron_file}, state: absent}}
"#
        ),
    );
    let checked = fleet.run(&change).arg("--check").expect_code(0);
    assert!(recap(&checked).contains("changed=3"), "{}", checked.dump());
    assert_eq!(sh("crontab -l -u drover-lab"), crontab, "check mode wrote");
    let changed = fleet.run(&change).expect_code(0);
    assert!(recap(&changed).contains("changed=3"), "{}", changed.dump());
    assert_eq!(
        sh("crontab -l -u drover-lab"),
        "MAILTO=ops@example.com\n#Ansible: nightly backup\n5 3 * * * /usr/local/bin/backup >/dev/null"
    );
    assert!(
        !std::path::Path::new(&format!("/etc/cron.d/{cron_file}")).exists(),
        "an emptied cron_file is removed"
    );
}

#[test]
fn sysctl_writes_the_file_sets_the_kernel_value_and_changes_once() {
    let fleet = fleet_with_become();
    // kernel.domainname is this container's own (UTS namespace): safe to change and restore.
    let original = sh("sysctl -n kernel.domainname");
    let _cleanup = Cleanup(vec![format!("sysctl -w kernel.domainname='{original}'")]);
    let file = fleet.node_root("node1").join("sysctl.d-test.conf");
    std::fs::write(&file, "# managed by a test\nkernel.domainname = before\n").expect("write");
    let book = fleet.write(
        "sysctl.yml",
        &format!(
            r#"- hosts: node1
  become: true
  tasks:
    - sysctl: {{name: kernel.domainname, value: drover-test, sysctl_file: "{f}", sysctl_set: true}}
"#,
            f = file.display()
        ),
    );
    let checked = fleet.run(&book).arg("--check").arg("--diff").expect_code(0);
    assert!(recap(&checked).contains("changed=1"), "{}", checked.dump());
    checked.stdout_has("+kernel.domainname=drover-test");
    assert_eq!(
        sh("sysctl -n kernel.domainname"),
        original,
        "check mode set it"
    );
    let first = fleet.run(&book).expect_code(0);
    assert!(recap(&first).contains("changed=1"), "{}", first.dump());
    assert_eq!(sh("sysctl -n kernel.domainname"), "drover-test");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "# managed by a test\nkernel.domainname=drover-test\n"
    );
    let again = fleet.run(&book).expect_code(0);
    assert!(recap(&again).contains("changed=0"), "{}", again.dump());

    let absent = fleet.write(
        "sysctl-absent.yml",
        &format!(
            "- hosts: node1\n  become: true\n  tasks:\n    - sysctl: {{name: kernel.domainname, state: absent, sysctl_file: \"{}\", reload: false}}\n",
            file.display()
        ),
    );
    let removed = fleet.run(&absent).expect_code(0);
    assert!(recap(&removed).contains("changed=1"), "{}", removed.dump());
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "# managed by a test\n"
    );
}

#[test]
fn package_runs_under_become_and_says_so_without_it() {
    let fleet = fleet_with_become();
    let book = fleet.write(
        "package.yml",
        r#"- hosts: node1
  tasks:
    - name: already installed, as root through sudo
      become: true
      apt: {name: sudo, state: present}
    - name: not installed, nothing to remove
      become: true
      package: {name: drover-no-such-package, state: absent}
    - name: as the login user
      apt: {name: sudo, state: present}
"#,
    );
    let run = fleet.run(&book).expect_code(2);
    run.stdout_has("TASK [as the login user]")
        .stdout_has("set `become: true`");
    assert!(
        run.recap("node1").starts_with("ok=2 changed=0"),
        "{}",
        run.dump()
    );
}

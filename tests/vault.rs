//! ansible-vault in drover, end to end: `drover vault` against the real `ansible-vault` both
//! ways, vault data refused without a password (never sent to a node as ciphertext), and a
//! leak test: a secret used every way a playbook uses one never reaches any output, the
//! journal, a plan or `drover runs show`.

mod common;

use common::ansible::{ansible_vault, dump, output_within};
use common::{Fleet, drover};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

/// The real ansible-vault with no ansible.cfg and a private home.
fn ansible_vault_cmd(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(ansible_vault());
    command
        .args(args)
        .current_dir(dir)
        .env("ANSIBLE_CONFIG", dir.join("no-ansible.cfg"))
        .env("ANSIBLE_HOME", dir.join("ansible-home"))
        .env("ANSIBLE_NOCOLOR", "1");
    output_within(command, LIMIT, "ansible-vault")
}

fn ok(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed\n{}", dump(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("drover-vault-")
        .tempdir_in("/tmp")
        .expect("temp dir")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(&path, text).expect("write");
    path
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn drover_writes_what_ansible_vault_reads_and_reads_what_it_writes() {
    let dir = scratch();
    let d = dir.path();
    write(d, "pw", "interop-pass\n");
    write(d, "pw2", "second-pass\n");
    let plain = "db_password: s3cret\nusers:\n  - alice\n";

    // drover encrypts, ansible-vault decrypts; in place, 0600, as ansible-vault leaves it.
    let ours = write(d, "ours.yml", plain);
    drover()
        .args([
            "vault",
            "encrypt",
            "--vault-password-file",
            "pw",
            "ours.yml",
        ])
        .current_dir(d)
        .expect_code(0);
    let sealed = fs::read_to_string(&ours).expect("read");
    assert!(
        sealed.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"),
        "{sealed}"
    );
    assert_eq!(mode(&ours), 0o600);
    let shown = ok(
        ansible_vault_cmd(d, &["view", "--vault-password-file", "pw", "ours.yml"]),
        "ansible-vault view",
    );
    assert_eq!(shown, plain);

    // A vault id gives format 1.2, which ansible-vault reads with that id's password.
    write(d, "ours12.txt", "with an id\n");
    drover()
        .args(["vault", "encrypt", "--vault-id", "prod@pw2", "ours12.txt"])
        .current_dir(d)
        .expect_code(0);
    let sealed = fs::read_to_string(d.join("ours12.txt")).expect("read");
    assert!(
        sealed.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"),
        "{sealed}"
    );
    let shown = ok(
        ansible_vault_cmd(
            d,
            &[
                "decrypt",
                "--vault-id",
                "prod@pw2",
                "--output",
                "-",
                "ours12.txt",
            ],
        ),
        "ansible-vault decrypt",
    );
    assert_eq!(shown, "with an id\n");

    // ansible-vault encrypts, drover views and decrypts.
    let theirs = write(d, "theirs.yml", plain);
    ok(
        ansible_vault_cmd(d, &["encrypt", "--vault-id", "dev@pw", "theirs.yml"]),
        "ansible-vault encrypt",
    );
    let view = drover()
        .args(["vault", "view", "--vault-id", "dev@pw", "theirs.yml"])
        .current_dir(d)
        .expect_code(0);
    assert_eq!(view.stdout(), plain);
    drover()
        .args([
            "vault",
            "decrypt",
            "--vault-password-file",
            "pw",
            "theirs.yml",
        ])
        .current_dir(d)
        .expect_code(0);
    assert_eq!(fs::read_to_string(&theirs).expect("read"), plain);

    // A wrong password: an error naming the file and the ids tried, nothing written.
    let before = fs::read(&ours).expect("read");
    let wrong = drover()
        .args([
            "vault",
            "decrypt",
            "--vault-password-file",
            "pw2",
            "ours.yml",
        ])
        .current_dir(d)
        .expect_code(1);
    wrong.stderr_has("cannot decrypt ours.yml (vault id 'default')");
    wrong.stderr_has("tried vault ids: default");
    assert_eq!(fs::read(&ours).expect("read"), before);

    // rekey both ways.
    drover()
        .args([
            "vault",
            "rekey",
            "--vault-password-file",
            "pw",
            "--new-vault-password-file",
            "pw2",
            "ours.yml",
        ])
        .current_dir(d)
        .expect_code(0);
    let shown = ok(
        ansible_vault_cmd(d, &["view", "--vault-password-file", "pw2", "ours.yml"]),
        "ansible-vault view after drover rekey",
    );
    assert_eq!(shown, plain);
    ok(
        ansible_vault_cmd(
            d,
            &[
                "rekey",
                "--vault-password-file",
                "pw2",
                "--new-vault-password-file",
                "pw",
                "ours.yml",
            ],
        ),
        "ansible-vault rekey",
    );
    let view = drover()
        .args(["vault", "view", "--vault-password-file", "pw", "ours.yml"])
        .current_dir(d)
        .expect_code(0);
    assert_eq!(view.stdout(), plain);
}

#[test]
fn the_same_salt_gives_the_same_bytes_as_ansible_vault() {
    let dir = scratch();
    let d = dir.path();
    write(d, "pw", "salted-pass\n");
    for (name, text) in [
        ("a", ""),
        ("b", "x"),
        ("c", "0123456789abcdef"),
        ("d", "ünïcode\n\n"),
    ] {
        let path = write(d, name, text);
        let mut command = Command::new(ansible_vault());
        command
            .args(["encrypt", "--vault-password-file", "pw", name])
            .current_dir(d)
            .env("ANSIBLE_CONFIG", d.join("no-ansible.cfg"))
            .env("ANSIBLE_HOME", d.join("ansible-home"))
            .env("ANSIBLE_VAULT_ENCRYPT_SALT", "fixed-salt-for-the-test");
        ok(output_within(command, LIMIT, "ansible-vault"), "encrypt");
        let theirs = fs::read_to_string(&path).expect("read");
        let ours = drover::vault::format::encrypt_with_salt(
            text.as_bytes(),
            b"salted-pass",
            None,
            b"fixed-salt-for-the-test",
        );
        assert_eq!(ours, theirs, "plaintext {text:?}");
    }
}

/// What ansible-vault decrypts an `encrypt_string` value to, once it is dedented (what its
/// YAML loader does).
fn ansible_opens_value(dir: &Path, yaml: &str) -> String {
    let block: String = yaml
        .lines()
        .skip(1)
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    write(dir, "block", &block);
    ok(
        ansible_vault_cmd(
            dir,
            &[
                "decrypt",
                "--vault-password-file",
                "pw",
                "--output",
                "-",
                "block",
            ],
        ),
        "ansible-vault decrypt of drover's encrypt_string",
    )
}

#[test]
fn encrypt_string_output_is_what_ansible_reads_and_the_reverse() {
    let dir = scratch();
    let d = dir.path();
    write(d, "pw", "string-pass\n");
    let out = drover()
        .args([
            "vault",
            "encrypt_string",
            "--vault-password-file",
            "pw",
            "--name",
            "api_key",
            "k3y-value",
        ])
        .current_dir(d)
        .expect_code(0);
    let yaml = out.stdout();
    assert!(
        yaml.starts_with("api_key: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n"),
        "{yaml}"
    );
    assert_eq!(ansible_opens_value(d, &yaml), "k3y-value");

    // From stdin with --stdin-name, as ansible-vault reads it (the input is taken whole).
    let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args([
            "vault",
            "encrypt_string",
            "--vault-password-file",
            "pw",
            "--stdin-name",
            "piped",
        ])
        .current_dir(d)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn drover");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"from-stdin").expect("write stdin");
    }
    let out = child.wait_with_output().expect("drover");
    assert!(out.status.success(), "{}", dump(&out));
    let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(yaml.starts_with("piped: !vault |\n"), "{yaml}");
    assert_eq!(ansible_opens_value(d, &yaml), "from-stdin");

    // ansible-vault's encrypt_string, read by drover as a variable (inventory host var).
    let theirs = ok(
        ansible_vault_cmd(
            d,
            &[
                "encrypt_string",
                "--vault-password-file",
                "pw",
                "--name",
                "token",
                "their-t0ken",
            ],
        ),
        "ansible-vault encrypt_string",
    );
    let indented: String = theirs.lines().map(|l| format!("      {l}\n")).collect();
    write(
        d,
        "inv.yml",
        &format!("all:\n  hosts:\n    h1:\n{indented}"),
    );
    // `drover inventory` masks it; the plan shows it is read (and the right length) without
    // showing it.
    let host = drover()
        .args([
            "inventory",
            "-i",
            "inv.yml",
            "--host",
            "h1",
            "--vault-password-file",
            "pw",
        ])
        .current_dir(d)
        .expect_code(0);
    assert_eq!(host.stdout().trim(), "{\n  \"token\": \"********\"\n}");
    // Without a password, ansible-inventory's sealed form.
    let sealed = drover()
        .args(["inventory", "-i", "inv.yml", "--host", "h1"])
        .current_dir(d)
        .expect_code(0);
    assert!(
        sealed
            .stdout()
            .contains("\"__ansible_vault\": \"$ANSIBLE_VAULT;1.1;AES256"),
        "{}",
        sealed.dump()
    );
}

#[test]
fn edit_and_create_use_a_private_temp_file_remove_it_and_keep_the_vault_id() {
    let dir = scratch();
    let d = dir.path();
    write(d, "pw", "edit-pass\n");
    let file = write(d, "secrets.yml", "token: old\n");
    ok(
        ansible_vault_cmd(d, &["encrypt", "--vault-id", "ops@pw", "secrets.yml"]),
        "ansible-vault encrypt",
    );
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).expect("chmod");
    // The editor records where it was asked to edit, and the modes it saw, then edits.
    let log = d.join("editor.log");
    let editor = write(
        d,
        "editor.sh",
        &format!(
            "#!/bin/sh\nstat -c '%a %n' \"$1\" \"$(dirname \"$1\")\" >> {log}\n\
             echo \"$1\" >> {log}\nsed -i s/old/new/ \"$1\"\n",
            log = log.display()
        ),
    );
    fs::set_permissions(&editor, fs::Permissions::from_mode(0o755)).expect("chmod");
    drover()
        .args([
            "vault",
            "edit",
            "--vault-password-file",
            "pw",
            "secrets.yml",
        ])
        .env("EDITOR", &editor)
        .current_dir(d)
        .expect_code(0);
    let seen = fs::read_to_string(&log).expect("editor log");
    let lines: Vec<&str> = seen.lines().collect();
    assert!(lines[0].starts_with("600 "), "temp file mode: {seen}");
    assert!(lines[1].starts_with("700 "), "temp dir mode: {seen}");
    let tmp = Path::new(lines[2]);
    assert!(
        !tmp.exists(),
        "the plaintext temp file is still there: {seen}"
    );
    assert!(
        !tmp.parent().expect("dir").exists(),
        "the private dir is still there"
    );
    let sealed = fs::read_to_string(&file).expect("read");
    assert!(
        sealed.starts_with("$ANSIBLE_VAULT;1.2;AES256;ops\n"),
        "{sealed}"
    );
    assert_eq!(mode(&file), 0o640, "edit keeps the file's mode");
    let shown = ok(
        ansible_vault_cmd(d, &["view", "--vault-password-file", "pw", "secrets.yml"]),
        "ansible-vault view",
    );
    assert_eq!(shown, "token: new\n");

    // create: a new file (and its directory) written in the editor, then encrypted.
    let create = [
        "vault",
        "create",
        "--skip-tty-check",
        "--vault-password-file",
        "pw",
    ];
    drover()
        .args(create)
        .arg("new/created.yml")
        .env("EDITOR", "sh -c 'echo created: yes > \"$0\"'")
        .current_dir(d)
        .expect_code(0);
    let shown = ok(
        ansible_vault_cmd(
            d,
            &["view", "--vault-password-file", "pw", "new/created.yml"],
        ),
        "ansible-vault view of a created file",
    );
    assert_eq!(shown, "created: yes\n");
    assert_eq!(mode(&d.join("new/created.yml")), 0o600);
    drover()
        .args(create)
        .arg("new/created.yml")
        .current_dir(d)
        .expect_code(1)
        .stderr_has("exists, please use 'edit' instead");

    // An edit that changes nothing leaves the file byte for byte.
    let before = fs::read(&file).expect("read");
    drover()
        .args([
            "vault",
            "edit",
            "--vault-password-file",
            "pw",
            "secrets.yml",
        ])
        .env("EDITOR", "true")
        .current_dir(d)
        .expect_code(0);
    assert_eq!(fs::read(&file).expect("read"), before);
}

const INLINE_SECRET: &str = "Zebra-Quartz-8842-inline";
const FILE_SECRET: &str = "Mango-Violet-3317-file";
const EXTRA_SECRET: &str = "Lotus-Cobalt-5521-extra";
const QUOTED_SECRET: &str = "O'Brien \"Quoted\" 4410";

fn b64(text: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("base64");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("base64");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `drover vault encrypt_string` of `value` as `name`, for a vars file.
fn encrypted_var(dir: &Path, name: &str, value: &str) -> String {
    drover()
        .args([
            "vault",
            "encrypt_string",
            "--vault-password-file",
            "pw",
            "--name",
            name,
            value,
        ])
        .current_dir(dir)
        .expect_code(0)
        .stdout()
}

#[test]
fn without_a_password_vault_data_is_refused_never_written_to_a_node() {
    let fleet = Fleet::up(1);
    let d = fleet.dir.path();
    write(d, "pw", "refuse-pass\n");
    write(d, "wrong", "not-the-pass\n");
    let var = encrypted_var(d, "db_pw", INLINE_SECRET);
    write(d, "group_vars/all.yml", &var);
    let playbook = write(
        d,
        "site.yml",
        "- hosts: node1\n  gather_facts: false\n  tasks:\n\
         \x20   - template: {src: app.j2, dest: \"{{ node_root }}/app.conf\"}\n",
    );
    write(d, "templates/app.j2", "pw={{ db_pw }}\n");
    let written = fleet.node_root("node1").join("app.conf");

    // The issue's reproduction: a template used to write `pw=$ANSIBLE_VAULT;1.1;AES256…`.
    let refused = fleet
        .run(&playbook)
        .current_dir(d)
        .current_dir(d)
        .arg("--no-journal")
        .expect_code(4);
    refused.stderr_has("no vault password was given");
    refused.stderr_has("group_vars/all.yml");
    refused.stderr_has("--vault-password-file");
    assert!(
        !written.exists(),
        "a file reached the node without a password"
    );

    let wrong = fleet
        .run(&playbook)
        .current_dir(d)
        .args(["--no-journal", "--vault-id", "ops@wrong"])
        .expect_code(4);
    wrong.stderr_has("no vault password given opens it (tried vault ids: ops)");
    assert!(!written.exists());

    // An encrypted vars file without a password: the error names the file.
    // (In its own directory: group_vars/all.yml above would fail first.)
    let secret_file = write(d, "other/secret-vars.yml", &format!("api: {FILE_SECRET}\n"));
    drover()
        .current_dir(d)
        .args(["vault", "encrypt", "--vault-password-file", "pw"])
        .arg(&secret_file)
        .expect_code(0);
    let with_vars = write(
        d,
        "other/vars-site.yml",
        "- hosts: node1\n  gather_facts: false\n  vars_files: [secret-vars.yml]\n  tasks:\n\
         \x20   - debug: {msg: \"{{ api }}\"}\n",
    );
    let refused = fleet
        .run(&with_vars)
        .current_dir(d)
        .args(["--no-journal", "--vault-password-file", "wrong"])
        .expect_code(4);
    refused.stderr_has("secret-vars.yml");
    assert!(
        !refused.stderr().contains("$ANSIBLE_VAULT"),
        "{}",
        refused.dump()
    );

    // With the password the value is the plaintext, on the node and nowhere in the output.
    let run = fleet
        .run(&playbook)
        .current_dir(d)
        .args(["--no-journal", "--vault-password-file", "pw", "--diff"])
        .expect_code(0);
    assert_eq!(
        fs::read_to_string(&written).expect("app.conf"),
        format!("pw={INLINE_SECRET}\n")
    );
    assert!(!run.stdout().contains(INLINE_SECRET), "{}", run.dump());
    run.stdout_has("diff not shown: the file holds a secret");
}

/// Every sink, after runs that use vault secrets every way: nothing holds a plaintext.
#[test]
fn no_secret_reaches_any_output_the_journal_a_plan_or_runs_show() {
    let fleet = Fleet::up(2);
    let d = fleet.dir.path();
    write(d, "pw", "leak-pass\n");
    // An encrypted group_vars file, an inline value, an encrypted -e @file, a vaulted template.
    let vault_file = write(
        d,
        "group_vars/all/vault.yml",
        &format!("vault_api_key: {FILE_SECRET}\n"),
    );
    // `extra_value`: a name the -e heuristic does not catch; the value is still a secret.
    let extra = write(d, "extra.yml", &format!("extra_value: {EXTRA_SECRET}\n"));
    let template = write(
        d,
        "templates/creds.j2",
        "key={{ vault_api_key }}\npw={{ db_pw }}\nnote=vaulted template\n",
    );
    for file in [&vault_file, &extra, &template] {
        drover()
            .current_dir(d)
            .args(["vault", "encrypt", "--vault-password-file", "pw"])
            .arg(file)
            .expect_code(0);
    }
    write(
        d,
        "group_vars/all/vars.yml",
        &format!(
            "{}{}",
            encrypted_var(d, "db_pw", INLINE_SECRET),
            encrypted_var(d, "quoted_pw", QUOTED_SECRET)
        ),
    );
    let playbook = write(
        d,
        "site.yml",
        r#"- name: Secrets used every way
  hosts: all
  gather_facts: false
  vars:
    dsn: "postgres://app:{{ db_pw }}@db/app"
  tasks:
    - debug: {var: db_pw}
    - debug: {msg: "key {{ vault_api_key }} b64 {{ db_pw | b64encode }} dsn {{ dsn }}"}
    - debug: {msg: "upper {{ db_pw | upper }} extra {{ extra_value }}"}
    - name: A command line with the secret
      command: "echo {{ db_pw }} {{ vault_api_key }}"
      register: echoed
    - debug: {var: echoed}
    - name: A secret the shell has to quote
      shell: "printf '%s\\n' {{ quoted_pw | quote }}"
      register: quoted
    - debug: {var: quoted}
    - name: The secret in the environment
      shell: printenv SECRET_PW
      environment:
        SECRET_PW: "{{ db_pw }}"
    - name: Files holding secrets (a diff is asked for)
      copy:
        content: "{{ dsn }}\n{{ extra_value }}\n"
        dest: "{{ node_root }}/dsn"
    - template: {src: creds.j2, dest: "{{ node_root }}/creds"}
    - name: A no_log result (made on the node, not in any source)
      shell: echo "Ruby-$((6000 + 1734))-nolog"
      register: generated
      no_log: true
    - debug: {msg: "later {{ generated.stdout }}"}
    - set_fact:
        derived: "{{ db_pw | reverse }}"
    - debug: {var: derived}
    - name: A failed command echoes its command line
      shell: "echo {{ db_pw }} >&2; exit 3"
      ignore_errors: true
    - name: A failed task with the secret in its message ends the run
      fail:
        msg: "giving up with {{ vault_api_key }}"
      when: inventory_hostname == 'node2'

- name: A rollout, whose registered facts the journal keeps
  hosts: all
  gather_facts: false
  rolling:
    batch: 1
  phases:
    precheck:
      - shell: "echo pre-{{ db_pw }}"
        register: pre
    backup:
      - shell: "echo backup-{{ vault_api_key }}"
        register: backup
    upgrade:
      - debug: {msg: "{{ backup.stdout }} {{ pre.stdout }}"}
    verify:
      - command: "true"
    rollback:
      - command: "true"
"#,
    );
    let state = d.join("state");
    let vault = ["--vault-password-file", "pw", "-e", "@extra.yml"];
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut keep = |what: &str, out: &common::Run| {
        outputs.push((format!("{what} stdout"), out.stdout()));
        outputs.push((format!("{what} stderr"), out.stderr()));
    };

    let human = fleet
        .run(&playbook)
        .current_dir(d)
        .args(vault)
        .args(["--diff", "--state-dir"])
        .arg(&state)
        .expect_code(2);
    human.stdout_has("diff not shown: the file holds a secret");
    human.stdout_has("********");
    human.stdout_has("later ********");
    keep("run --diff", &human);
    let json = fleet
        .run(&playbook)
        .current_dir(d)
        .args(vault)
        .args(["--output", "json", "--diff", "--state-dir"])
        .arg(&state)
        .expect_code(2);
    keep("run --output json", &json);
    let check = fleet
        .run(&playbook)
        .current_dir(d)
        .args(vault)
        .args(["--check", "--diff"])
        .expect_code(2);
    keep("run --check", &check);
    // -v shows every task's result, -vvv how each host is reached: both masked too.
    for verbosity in ["-v", "-vvv", "-vvvv"] {
        let verbose = fleet
            .run(&playbook)
            .current_dir(d)
            .args(vault)
            .args([verbosity, "--no-journal"])
            .expect_code(2);
        verbose.stdout_has("=> {");
        keep(&format!("run {verbosity}"), &verbose);
    }
    for format in ["text", "markdown", "json"] {
        let plan = drover()
            .current_dir(d)
            .arg("plan")
            .arg(&playbook)
            .arg("-i")
            .arg(&fleet.lab.inventory)
            .args(vault)
            .args(["--format", format])
            .expect_code(0);
        keep(&format!("plan --format {format}"), &plan);
    }
    let checked = drover()
        .current_dir(d)
        .arg("check")
        .arg(&playbook)
        .arg("-i")
        .arg(&fleet.lab.inventory)
        .args(vault)
        .expect_code(0);
    keep("check", &checked);
    let runs = drover()
        .arg("runs")
        .arg("--state-dir")
        .arg(&state)
        .expect_code(0);
    keep("runs", &runs);
    let mut journals = Vec::new();
    for entry in fs::read_dir(state.join("runs")).expect("journals") {
        let path = entry.expect("entry").path();
        let id = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let shown = drover()
            .args(["runs", "--state-dir"])
            .arg(&state)
            .args(["show", &id])
            .expect_code(0);
        keep(&format!("runs show {id}"), &shown);
        journals.push((
            format!("journal {}", path.display()),
            fs::read_to_string(&path).expect("journal"),
        ));
    }
    assert_eq!(journals.len(), 2, "two journaled runs");
    // An extra var holding a secret is journaled redacted, whatever its name (a resume asks
    // for it again).
    assert!(
        journals
            .iter()
            .all(|(_, t)| t.contains(r#""extra_value":"<redacted>""#)),
        "{journals:?}"
    );
    // Facts holding a secret are journaled by name only (a resume derives them again).
    assert!(
        journals
            .iter()
            .any(|(_, t)| t.contains(r#""pre","backup"]"#)),
        "the secret facts are not named in the journals: {journals:?}"
    );
    outputs.extend(journals);

    // The secrets were really used: the nodes have them.
    for node in ["node1", "node2"] {
        let root = fleet.node_root(node);
        let dsn = fs::read_to_string(root.join("dsn")).expect("dsn");
        assert_eq!(
            dsn,
            format!("postgres://app:{INLINE_SECRET}@db/app\n{EXTRA_SECRET}\n")
        );
        let creds = fs::read_to_string(root.join("creds")).expect("creds");
        assert!(
            creds.contains(FILE_SECRET) && creds.contains(INLINE_SECRET),
            "{creds}"
        );
    }
    // And the recap says what happened (the failure on node2 counted).
    assert!(
        human.recap("node2").contains("failed=1"),
        "{}",
        human.dump()
    );

    let reversed: String = INLINE_SECRET.chars().rev().collect();
    let forbidden = [
        INLINE_SECRET.to_string(),
        FILE_SECRET.to_string(),
        EXTRA_SECRET.to_string(),
        b64(INLINE_SECRET),
        INLINE_SECRET.to_uppercase(),
        reversed,
        "leak-pass".to_string(),
        "Ruby-7734-nolog".to_string(),
        QUOTED_SECRET.to_string(),
        "Brien".to_string(),
    ];
    let mut leaks = Vec::new();
    for (sink, text) in &outputs {
        for secret in &forbidden {
            if text.contains(secret.as_str()) {
                leaks.push(format!("{secret:?} in {sink}"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "secrets leaked:\n{}\n\n{}",
        leaks.join("\n"),
        outputs
            .iter()
            .map(|(s, t)| format!("=== {s} ===\n{t}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `drover resume` takes the vault options again (they are never journaled): without them the
/// resume is refused before touching anything, with them it finishes the run.
#[test]
fn resume_needs_the_vault_password_again_and_the_journal_never_had_it() {
    let fleet = Fleet::up(2);
    let d = fleet.dir.path();
    let pw = write(d, "pw", "resume-pass\n");
    write(
        d,
        "group_vars/all.yml",
        &encrypted_var(d, "db_pw", INLINE_SECRET),
    );
    let playbook = write(
        d,
        "rollout.yml",
        r#"- hosts: lab
  gather_facts: false
  rolling:
    batch: 1
  phases:
    precheck:
      - command: "echo pre-{{ db_pw }}"
        register: pre
    upgrade:
      - copy: {content: "{{ db_pw }}\n", dest: "{{ node_root }}/pw"}
        register: written
    verify:
      - shell: >-
          if [ {{ inventory_hostname }} = node2 ] && [ ! -f {{ node_root }}/slept ];
          then touch {{ node_root }}/slept; sleep 15; fi
      # After the resume, node2 needs its precheck fact, which held a secret: derived again.
      - copy: {content: "{{ pre.stdout }}\n", dest: "{{ node_root }}/pre"}
    rollback:
      - command: "true"
"#,
    );
    let state = d.join("state");
    let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
        .arg("run")
        .arg(&playbook)
        .arg("-i")
        .arg(&fleet.lab.inventory)
        .arg("--state-dir")
        .arg(&state)
        .arg("--vault-password-file")
        .arg(&pw)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn drover");
    // Wait (bounded) until node2 sleeps in verify, then kill -9.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !fleet.node_root("node2").join("slept").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "node2 never reached verify"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    let refused = drover()
        .args(["resume", "--yes", "--state-dir"])
        .arg(&state)
        .expect_code(4);
    refused.stderr_has("no vault password was given");
    let resumed = drover()
        .args(["resume", "--yes", "--state-dir"])
        .arg(&state)
        .arg("--vault-password-file")
        .arg(&pw)
        .expect_code(0);
    assert!(
        !resumed.stdout().contains(INLINE_SECRET),
        "{}",
        resumed.dump()
    );
    for node in ["node1", "node2"] {
        let got = fs::read_to_string(fleet.node_root(node).join("pw")).expect("pw");
        assert_eq!(got, format!("{INLINE_SECRET}\n"));
        let got = fs::read_to_string(fleet.node_root(node).join("pre")).expect("pre");
        assert_eq!(got, format!("pre-{INLINE_SECRET}\n"));
    }
    for entry in fs::read_dir(state.join("runs")).expect("runs") {
        let text = fs::read_to_string(entry.expect("entry").path()).expect("journal");
        assert!(
            !text.contains(INLINE_SECRET),
            "the journal holds the secret: {text}"
        );
        assert!(
            !text.contains("resume-pass"),
            "the journal holds the password: {text}"
        );
    }
}

/// Runs drover on a pseudo-terminal (util-linux `script`), typing `typed` line by line once
/// it started, as an operator answers the password prompts.
fn on_a_terminal(dir: &Path, args: &str, typed: &str) -> Output {
    let mut command = Command::new("sh");
    command.current_dir(dir).arg("-c").arg(format!(
        "(sleep 1; printf '{typed}') | timeout 30 script -qec '{} {args}' /dev/null",
        env!("CARGO_BIN_EXE_drover")
    ));
    output_within(command, LIMIT, "drover on a terminal (script)")
}

#[test]
fn passwords_are_asked_on_the_terminal() {
    let dir = scratch();
    let d = dir.path();
    write(d, "pw", "typed-pass\n");
    write(d, "notes.txt", "asked for\n");
    // `@prompt` to encrypt: asked twice, with the vault id, as ansible-vault asks.
    let out = on_a_terminal(
        d,
        "vault encrypt --vault-id dev@prompt notes.txt",
        "typed-pass\\ntyped-pass\\n",
    );
    let text = ok(out, "drover vault encrypt --vault-id dev@prompt");
    assert!(text.contains("New vault password (dev): "), "{text}");
    assert!(
        text.contains("Confirm new vault password (dev): "),
        "{text}"
    );
    let sealed = fs::read_to_string(d.join("notes.txt")).expect("read");
    assert!(
        sealed.starts_with("$ANSIBLE_VAULT;1.2;AES256;dev\n"),
        "{sealed}"
    );
    let shown = ok(
        ansible_vault_cmd(d, &["view", "--vault-password-file", "pw", "notes.txt"]),
        "ansible-vault view",
    );
    assert_eq!(shown, "asked for\n");
    // --ask-vault-pass to read; a wrong answer is refused naming the file.
    let text = ok(
        on_a_terminal(d, "vault view --ask-vault-pass notes.txt", "typed-pass\\n"),
        "drover vault view --ask-vault-pass",
    );
    assert!(
        text.contains("Vault password: ") && text.contains("asked for"),
        "{text}"
    );
    let out = on_a_terminal(d, "vault view --ask-vault-pass notes.txt", "nope\\n");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("cannot decrypt notes.txt (vault id 'dev')"),
        "{text}"
    );
}

#[test]
fn ansible_cfg_names_the_vault_password_file_as_for_ansible() {
    let dir = scratch();
    write(dir.path(), "pw", "from-ansible-cfg\n");
    let var = encrypted_var(dir.path(), "app_secret", "opened-by-cfg");
    write(dir.path(), "vars.yml", &var);
    write(
        dir.path(),
        "ansible.cfg",
        "[defaults]\nvault_password_file = pw\ninventory = hosts.yml\n",
    );
    write(
        dir.path(),
        "hosts.yml",
        "all:\n  hosts:\n    localhost: { ansible_connection: local }\n",
    );
    let out = dir.path().join("out.txt");
    write(
        dir.path(),
        "site.yml",
        &format!(
            "- hosts: all\n  gather_facts: false\n  vars_files: [vars.yml]\n  tasks:\n    - copy:\n        content: \"{{{{ app_secret }}}}\"\n        dest: {}\n",
            out.display()
        ),
    );
    // No vault flag, no -i: both come from ./ansible.cfg.
    drover()
        .args(["run", "site.yml", "--no-journal"])
        .current_dir(dir.path())
        .expect_code(0);
    assert_eq!(fs::read_to_string(&out).expect("out"), "opened-by-cfg");
}

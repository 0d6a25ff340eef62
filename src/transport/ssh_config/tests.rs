//! ssh_config(5)'s documented behaviour, case by case.

use super::*;

fn local() -> Local {
    Local {
        user: "alice".into(),
        home: PathBuf::from("/home/alice"),
        uid: 1000,
        hostname: "control.example.com".into(),
    }
}

fn config(text: &str) -> SshConfig {
    SshConfig::parse(Path::new("/home/alice/.ssh/config"), text, &local())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn resolve(text: &str, host: &str) -> HostConfig {
    config(text)
        .resolve(host, Options::default(), &local())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn error(text: &str) -> String {
    match SshConfig::parse(Path::new("/home/alice/.ssh/config"), text, &local()) {
        Ok(_) => panic!("expected an error for {text:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn first_obtained_value_wins_so_specific_blocks_go_first() {
    let text = "Host web1\n  User deploy\n  Port 2201\nHost *\n  User nobody\n  Port 22\n  HostName %h.example.com\n";
    let web1 = resolve(text, "web1");
    assert_eq!((web1.user.as_str(), web1.port), ("deploy", 2201));
    assert_eq!(web1.hostname, "web1.example.com");
    let other = resolve(text, "db");
    assert_eq!((other.user.as_str(), other.port), ("nobody", 22));
}

#[test]
fn defaults_are_the_name_port_22_and_the_local_user() {
    let c = resolve("", "Web1");
    assert_eq!(
        (c.hostname.as_str(), c.port, c.user.as_str()),
        ("web1", 22, "alice")
    );
    assert!(!c.identity_files_configured);
    assert_eq!(c.proxy_jump, None);
    assert_eq!(
        c.global_known_hosts,
        vec![
            PathBuf::from("/etc/ssh/ssh_known_hosts"),
            PathBuf::from("/etc/ssh/ssh_known_hosts2")
        ]
    );
}

#[test]
fn host_patterns_with_wildcards_and_negation() {
    let text = "Host *.prod !bastion.prod\n  ProxyJump bastion.prod\nHost web?\n  User w\n";
    assert_eq!(
        resolve(text, "db.prod")
            .proxy_jump
            .map(|h| h[0].host.clone()),
        Some("bastion.prod".into())
    );
    assert_eq!(resolve(text, "bastion.prod").proxy_jump, None);
    assert_eq!(resolve(text, "web1").user, "w");
    assert_eq!(resolve(text, "web10").user, "alice");
}

#[test]
fn keyword_equals_and_quotes_and_comments() {
    let c = resolve(
        "Host=a\n  HostName = \"10.0.0.1\" # the address\n  IdentityFile \"~/keys/my key\"\n  user=ops\n# comment\n\n",
        "a",
    );
    assert_eq!(c.hostname, "10.0.0.1");
    assert_eq!(c.user, "ops");
    assert_eq!(
        c.identity_files,
        vec![PathBuf::from("/home/alice/keys/my key")]
    );
}

#[test]
fn identity_files_accumulate_with_tokens() {
    let c = resolve(
        "Host db\n  User admin\n  IdentityFile ~/.ssh/%r@%h\nHost *\n  IdentityFile %d/.ssh/id_%u\n  IdentityFile /k/%n-%p-%%\n",
        "db",
    );
    assert_eq!(
        c.identity_files,
        vec![
            PathBuf::from("/home/alice/.ssh/admin@db"),
            PathBuf::from("/home/alice/.ssh/id_alice"),
            PathBuf::from("/k/db-22-%"),
        ]
    );
    assert!(c.identity_files_configured);
}

#[test]
fn unknown_token_is_an_error_naming_the_line() {
    let err = config("IdentityFile ~/.ssh/%z\n")
        .resolve("a", Options::default(), &local())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("config:1"), "{err}");
    assert!(err.contains("%z"), "{err}");
}

#[test]
fn hostname_token_is_the_original_name() {
    let c = resolve("Host *\n  HostName %h.internal\n", "web1");
    assert_eq!(c.hostname, "web1.internal");
    assert_eq!(c.original, "web1");
}

#[test]
fn match_host_sees_hostname_set_so_far() {
    // Match host tests the HostName given earlier; originalhost the name typed.
    let text = "Host alias\n  HostName 10.1.2.3\nMatch host 10.1.*\n  User tenant\nMatch originalhost alias\n  Port 2200\n";
    let c = resolve(text, "alias");
    assert_eq!((c.user.as_str(), c.port), ("tenant", 2200));
    let other = resolve(text, "10.1.9.9");
    assert_eq!((other.user.as_str(), other.port), ("tenant", 22));
}

#[test]
fn match_user_localuser_all_and_negation() {
    let text = "Host a\n  User root\nMatch user root\n  Port 2022\nMatch !localuser bob\n  ConnectTimeout 7\nMatch all\n  ServerAliveInterval 5\n";
    let c = resolve(text, "a");
    assert_eq!(c.port, 2022);
    assert_eq!(c.connect_timeout, Some(7));
    assert_eq!(c.server_alive_interval, Some(5));
    // Match user without User set tests the local user.
    let b = resolve(text, "b");
    assert_eq!(b.port, 22);
}

#[test]
fn match_exec_runs_with_tokens() {
    let text = "Match exec \"test %h = yes\"\n  Port 2001\n";
    assert_eq!(resolve(text, "yes").port, 2001);
    assert_eq!(resolve(text, "no").port, 22);
}

#[test]
fn match_final_applies_in_a_second_pass() {
    let text = "Match final host real.example\n  User late\nHost short\n  HostName real.example\n";
    assert_eq!(resolve(text, "short").user, "late");
}

#[test]
fn match_all_alone_and_bad_criteria() {
    assert!(error("Match all host x\n").contains("cannot be combined"));
    let e = error("Match hots x\n");
    assert!(e.contains("config:1") && e.contains("hots"), "{e}");
    assert!(error("Match host\n").contains("missing argument"));
}

#[test]
fn proxy_jump_chain_and_none_and_first_proxy_wins() {
    let text = "Host inner\n  ProxyJump ops@b1:2222,b2\nHost direct\n  ProxyJump none\nHost *\n  ProxyCommand ssh -W %h:%p gw\n";
    let inner = resolve(text, "inner");
    let hops = inner.proxy_jump.unwrap_or_default();
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[0].to_string(), "ops@b1:2222");
    assert_eq!(inner.proxy_command, None);
    let direct = resolve(text, "direct");
    assert_eq!((direct.proxy_jump, direct.proxy_command), (None, None));
    let other = resolve(text, "x");
    assert_eq!(other.proxy_command.as_deref(), Some("ssh -W x:22 gw"));
}

#[test]
fn proxy_command_is_the_raw_rest_of_the_line() {
    let c = resolve("ProxyCommand=nc -X connect -x 'proxy:8080' %h %p  \n", "h");
    assert_eq!(
        c.proxy_command.as_deref(),
        Some("nc -X connect -x 'proxy:8080' h 22")
    );
}

#[test]
fn known_hosts_files_and_host_key_alias() {
    let c = resolve(
        "Host a\n  UserKnownHostsFile ~/.ssh/kh1 /etc/kh2\n  GlobalKnownHostsFile none\n  HostKeyAlias shared-alias\n  StrictHostKeyChecking accept-new\n",
        "a",
    );
    assert_eq!(
        c.user_known_hosts,
        Some(vec![
            PathBuf::from("/home/alice/.ssh/kh1"),
            PathBuf::from("/etc/kh2")
        ])
    );
    assert!(c.global_known_hosts.is_empty());
    assert_eq!(c.host_key_alias.as_deref(), Some("shared-alias"));
    assert_eq!(c.strict_host_key_checking.as_deref(), Some("accept-new"));
}

#[test]
fn preset_values_beat_the_files() {
    let preset = Options {
        user: Some("inventory-user".into()),
        port: Some(2299),
        identity_files: vec!["/inv/key".into()],
        ..Options::default()
    };
    let c = config("User file-user\nPort 1\nIdentityFile /file/key\n")
        .resolve("h", preset, &local())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((c.user.as_str(), c.port), ("inventory-user", 2299));
    assert_eq!(
        c.identity_files,
        vec![PathBuf::from("/inv/key"), PathBuf::from("/file/key")]
    );
}

#[test]
fn malformed_values_name_file_and_line_even_in_unused_blocks() {
    let e = error("Host never\n  Port ssh\n");
    assert!(e.contains("config:2"), "{e}");
    assert!(e.contains("bad port number `ssh`"), "{e}");
    assert!(error("StrictHostKeyChecking maybe\n").contains("StrictHostKeyChecking"));
    assert!(error("ConnectTimeout soon\n").contains("seconds"));
    assert!(error("HostName \"unclosed\n").contains("invalid quotes"));
    assert!(error("ProxyJump ops@a:port\n").contains("ProxyJump"));
    assert!(error("Host\n").contains("pattern"));
}

#[test]
fn unknown_keywords_are_kept_for_a_warning_unless_ignore_unknown_lists_them() {
    let c = resolve(
        "IgnoreUnknown UseKeychain\nUseKeychain yes\nFrobnicate 3\n",
        "h",
    );
    let names: Vec<_> = c.unhonoured.iter().map(|u| u.keyword.as_str()).collect();
    assert_eq!(names, vec!["Frobnicate"]);
    assert_eq!(c.unhonoured[0].disposition, Disposition::Warn);
    assert_eq!(c.unhonoured[0].origin.line, 3);
}

#[test]
fn openssh_keywords_are_quiet_warned_or_refused() {
    let c = resolve(
        "LogLevel DEBUG\nSendEnv LANG\nForwardAgent yes\nCanonicalizeHostname yes\nRemoteCommand none\nControlMaster auto\n",
        "h",
    );
    let got: Vec<_> = c
        .unhonoured
        .iter()
        .map(|u| (u.keyword.as_str(), u.disposition))
        .collect();
    assert_eq!(
        got,
        vec![
            ("forwardagent", Disposition::Warn),
            ("canonicalizehostname", Disposition::Refuse),
        ]
    );
    // Lines in blocks that do not apply are not reported.
    let c = resolve("Host other\n  ForwardAgent yes\n", "h");
    assert!(c.unhonoured.is_empty());
}

#[test]
fn identity_agent_none_env_and_path() {
    assert_eq!(resolve("", "h").identity_agent, Some(None));
    assert_eq!(resolve("IdentityAgent none\n", "h").identity_agent, None);
    assert_eq!(
        resolve("IdentityAgent ~/agent.sock\n", "h").identity_agent,
        Some(Some(PathBuf::from("/home/alice/agent.sock")))
    );
}

#[test]
fn include_reads_globs_relative_to_dot_ssh_in_place() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let home = dir.path().to_path_buf();
    let ssh = home.join(".ssh");
    let write = |path: &Path, text: &str| {
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new("/")))
            .and_then(|_| std::fs::write(path, text))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    // conf.d/a sorts before conf.d/b; the include inside `Host web*` applies to web hosts only
    // and a `Host` line in an included file does not escape the includer's block.
    write(
        &ssh.join("conf.d/a.conf"),
        "User from-a\nHost *\n  Port 2001\n",
    );
    write(&ssh.join("conf.d/b.conf"), "User from-b\nHostName b-host\n");
    write(
        &ssh.join("config"),
        "Host web*\n  Include conf.d/*.conf\nHost *\n  User fallback\n",
    );
    let local = Local {
        home: home.clone(),
        ..local()
    };
    let config = SshConfig::load_from(None, &local, &home.join("no-system-config"))
        .unwrap_or_else(|e| panic!("{e}"));
    let web = config
        .resolve("web1", Options::default(), &local)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (web.user.as_str(), web.port, web.hostname.as_str()),
        ("from-a", 2001, "b-host")
    );
    let db = config
        .resolve("db", Options::default(), &local)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((db.user.as_str(), db.port), ("fallback", 22));
}

#[test]
fn a_named_file_must_exist_and_none_reads_nothing() {
    let l = local();
    assert!(SshConfig::load(Some(Path::new("/nonexistent/cfg")), &l).is_err());
    let none = SshConfig::load(Some(Path::new("none")), &l).unwrap_or_else(|e| panic!("{e}"));
    assert!(none.read.is_empty());
}

#[test]
fn error_points_at_the_value_with_a_caret() {
    let Err(err) = SshConfig::parse(Path::new("cfg"), "Host a\n  Port 99999\n", &local()) else {
        panic!("expected an error");
    };
    let mut out = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
    let _ = handler.render_report(&mut out, &err);
    assert!(out.contains("cfg:2"), "{out}");
    assert!(out.contains("Port 99999"), "{out}");
    assert!(out.contains("1 to 65535"), "{out}");
}

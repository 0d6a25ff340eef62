//! The ssh_config keywords drover knows: the ones it honours, with their value syntax checked
//! as OpenSSH checks it, and what happens to each OpenSSH keyword it does not honour — quietly
//! skipped (no effect on where or how drover connects), warned about once, or refused.

/// A keyword drover honours, or another one OpenSSH knows (lowercase name kept).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Keyword {
    Host,
    Match,
    Include,
    HostName,
    User,
    Port,
    IdentityFile,
    IdentitiesOnly,
    IdentityAgent,
    CertificateFile,
    ProxyJump,
    ProxyCommand,
    UserKnownHostsFile,
    GlobalKnownHostsFile,
    StrictHostKeyChecking,
    ConnectTimeout,
    ServerAliveInterval,
    ServerAliveCountMax,
    HostKeyAlias,
    PasswordAuthentication,
    PubkeyAuthentication,
    KbdInteractiveAuthentication,
    IgnoreUnknown,
    Tag,
    /// An OpenSSH keyword drover does not act on.
    Other(&'static str),
    /// A keyword OpenSSH does not know either (as written).
    Unknown(String),
}

/// What drover does with an OpenSSH keyword it does not act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Acted on.
    Honoured,
    /// Makes no difference to what drover does (logging, multiplexing, terminal settings).
    Quiet,
    /// Could matter; drover warns once per run, naming the file and line.
    Warn,
    /// Ignoring it would change where or how drover connects or trusts: refused.
    Refuse,
}

/// OpenSSH keywords with no effect on drover: drover multiplexes channels itself (Control*),
/// never opens a terminal or forwards anything, and logs on its own.
const QUIET: &[&str] = &[
    "addkeystoagent",
    "batchmode",
    "checkhostip",
    "clearallforwardings",
    "compression",
    "compressionlevel",
    "connectionattempts",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "enableescapecommandline",
    "enablesshkeysign",
    "escapechar",
    "exitonforwardfailure",
    "fingerprinthash",
    "forkafterauthentication",
    "forwardx11",
    "forwardx11timeout",
    "forwardx11trusted",
    "gatewayports",
    "gssapiauthentication",
    "gssapidelegatecredentials",
    "hashknownhosts",
    "hostbasedauthentication",
    "ipqos",
    "kbdinteractivedevices",
    "localcommand",
    "loglevel",
    "logverbose",
    "nohostauthenticationforlocalhost",
    "numberofpasswordprompts",
    "obscurekeystroketiming",
    "permitlocalcommand",
    "preferredauthentications",
    "protocol",
    "requesttty",
    "sendenv",
    "sessiontype",
    "stdinnull",
    "streamlocalbindmask",
    "streamlocalbindunlink",
    "syslogfacility",
    "tcpkeepalive",
    "keepalive",
    "updatehostkeys",
    "verifyhostkeydns",
    "versionaddendum",
    "visualhostkey",
    "warnweakcrypto",
    "xauthlocation",
    "challengeresponseauthentication",
    "skeyauthentication",
    "tisauthentication",
    "cipher",
    "fallbacktorsh",
    "globalknownhostsfile2",
    "userknownhostsfile2",
    "rhostsauthentication",
    "useroaming",
    "usersh",
    "useprivilegedport",
    "afstokenpassing",
    "kerberosauthentication",
    "kerberostgtpassing",
    "rsaauthentication",
    "rhostsrsaauthentication",
    "smartcarddevice",
    "dsaauthentication",
    "identityfile2",
    "channeltimeout",
];

/// OpenSSH keywords whose effect drover cannot give: where or how it connects, or which
/// host keys it trusts, would silently differ.
const REFUSED: &[&str] = &[
    "canonicalizehostname",
    "knownhostscommand",
    "pkcs11provider",
    "securitykeyprovider",
    "proxyusefdpass",
    "refuseconnection",
    "remotecommand",
    "revokedhostkeys",
];

/// OpenSSH keywords drover does not act on but that may matter to a run.
const WARNED: &[&str] = &[
    "addressfamily",
    "bindaddress",
    "bindinterface",
    "canonicaldomains",
    "canonicalizefallbacklocal",
    "canonicalizemaxdots",
    "canonicalizepermittedcnames",
    "casignaturealgorithms",
    "ciphers",
    "dynamicforward",
    "forwardagent",
    "hostbasedacceptedalgorithms",
    "hostbasedkeytypes",
    "hostkeyalgorithms",
    "kexalgorithms",
    "localforward",
    "macs",
    "permitremoteopen",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "rekeylimit",
    "remoteforward",
    "requiredrsasize",
    "setenv",
    "tunnel",
    "tunneldevice",
];

pub(crate) fn lookup(lower: &str) -> Option<Keyword> {
    Some(match lower {
        "host" => Keyword::Host,
        "match" => Keyword::Match,
        "include" => Keyword::Include,
        "hostname" => Keyword::HostName,
        "user" => Keyword::User,
        "port" => Keyword::Port,
        "identityfile" => Keyword::IdentityFile,
        "identitiesonly" => Keyword::IdentitiesOnly,
        "identityagent" => Keyword::IdentityAgent,
        "certificatefile" => Keyword::CertificateFile,
        "proxyjump" => Keyword::ProxyJump,
        "proxycommand" => Keyword::ProxyCommand,
        "userknownhostsfile" => Keyword::UserKnownHostsFile,
        "globalknownhostsfile" => Keyword::GlobalKnownHostsFile,
        "stricthostkeychecking" => Keyword::StrictHostKeyChecking,
        "connecttimeout" => Keyword::ConnectTimeout,
        "serveraliveinterval" => Keyword::ServerAliveInterval,
        "serveralivecountmax" => Keyword::ServerAliveCountMax,
        "hostkeyalias" => Keyword::HostKeyAlias,
        "passwordauthentication" => Keyword::PasswordAuthentication,
        "pubkeyauthentication" => Keyword::PubkeyAuthentication,
        "kbdinteractiveauthentication" => Keyword::KbdInteractiveAuthentication,
        "ignoreunknown" => Keyword::IgnoreUnknown,
        "tag" => Keyword::Tag,
        other => {
            let known = QUIET
                .iter()
                .chain(REFUSED)
                .chain(WARNED)
                .find(|k| **k == other)?;
            Keyword::Other(known)
        }
    })
}

impl Keyword {
    /// Keywords whose value is the raw rest of the line (a shell command).
    pub(crate) fn takes_raw_rest(&self) -> bool {
        matches!(
            self,
            Keyword::ProxyCommand
                | Keyword::Other("localcommand" | "remotecommand" | "knownhostscommand")
        )
    }

    pub fn disposition(&self, args: &[String]) -> Disposition {
        match self {
            Keyword::Other(name) => {
                let off = args.first().is_some_and(|a| {
                    matches!(a.to_ascii_lowercase().as_str(), "no" | "none" | "false")
                });
                if QUIET.contains(name) {
                    Disposition::Quiet
                } else if REFUSED.contains(name) && !off {
                    Disposition::Refuse
                } else if off {
                    Disposition::Quiet
                } else {
                    Disposition::Warn
                }
            }
            Keyword::Unknown(_) => Disposition::Warn,
            _ => Disposition::Honoured,
        }
    }

    /// The name as OpenSSH's manual spells it, for messages.
    pub fn name(&self) -> String {
        match self {
            Keyword::Other(name) => name.to_string(),
            Keyword::Unknown(name) => name.clone(),
            other => format!("{other:?}"),
        }
    }
}

pub(crate) struct Problem {
    pub message: String,
    pub help: Option<String>,
}

fn problem(message: impl Into<String>, help: &str) -> Problem {
    Problem {
        message: message.into(),
        help: Some(help.to_string()),
    }
}

/// Checks a value's syntax as OpenSSH does when it reads the line.
pub(crate) fn validate(keyword: &Keyword, args: &[String]) -> Result<(), Problem> {
    let name = keyword.name();
    let first = args.first().map(String::as_str);
    let Some(first) = first else {
        return Err(problem(
            format!("{name} needs a value"),
            "write `Keyword value`",
        ));
    };
    let yes_no = |v: &str| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "yes" | "no" | "true" | "false"
        )
    };
    let number = |v: &str| v.parse::<u64>().is_ok();
    match keyword {
        Keyword::Port => match first.parse::<u32>() {
            Ok(1..=65535) => Ok(()),
            _ => Err(problem(
                format!("bad port number `{first}`"),
                "Port takes a number from 1 to 65535",
            )),
        },
        Keyword::IdentitiesOnly
        | Keyword::PasswordAuthentication
        | Keyword::PubkeyAuthentication
        | Keyword::KbdInteractiveAuthentication
            if !yes_no(first) =>
        {
            Err(problem(
                format!("{name} must be yes or no, not `{first}`"),
                "write `yes` or `no`",
            ))
        }
        Keyword::StrictHostKeyChecking => match first.to_ascii_lowercase().as_str() {
            "yes" | "true" | "no" | "false" | "off" | "ask" | "accept-new" => Ok(()),
            _ => Err(problem(
                format!("StrictHostKeyChecking must be yes, accept-new, no or ask, not `{first}`"),
                "`yes` refuses unknown host keys, `accept-new` records them",
            )),
        },
        Keyword::ConnectTimeout | Keyword::ServerAliveInterval
            if !number(first) && !first.eq_ignore_ascii_case("none") =>
        {
            Err(problem(
                format!("{name} takes a number of seconds, not `{first}`"),
                "write a whole number of seconds",
            ))
        }
        Keyword::ServerAliveCountMax if !number(first) => Err(problem(
            format!("ServerAliveCountMax takes a number, not `{first}`"),
            "write a whole number",
        )),
        Keyword::ProxyJump if !first.eq_ignore_ascii_case("none") => {
            for hop in first.split(',') {
                super::jump::parse_hop(hop).map_err(|reason| {
                    problem(
                        format!("bad ProxyJump `{first}`: {reason}"),
                        "ProxyJump takes `[user@]host[:port]` items separated by commas, or `none`",
                    )
                })?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

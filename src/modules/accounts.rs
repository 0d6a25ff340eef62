//! Local accounts: `user` and `group`, by the shadow tools every Linux node has (`getent`,
//! `useradd`/`usermod`/`userdel`, `groupadd`/`groupmod`/`groupdel`, `chpasswd -e`). One
//! query reads the account; only the attributes that differ are changed, so a second run is
//! `ok`. Check mode stops after the query; diff mode shows the account before and after.
//! Changing accounts needs root: a failure as another user says to use `become`. A password
//! hash travels on stdin (`chpasswd -e`), never on a command line, and is never returned.

use super::{Args, Context, FileDiff, ModuleError, ModuleSpec, Outcome, SBIN_PATH};
use crate::template::shell_quote;
use serde_json::{Value, json};

pub struct User;
pub struct Group;

static USER: ModuleSpec = ModuleSpec {
    name: "user",
    args: &[
        "name",
        "uid",
        "group",
        "groups",
        "append",
        "shell",
        "home",
        "create_home",
        "createhome",
        "move_home",
        "system",
        "state",
        "password",
        "update_password",
        "remove",
        "force",
        "comment",
        "non_unique",
        "password_lock",
        "local",
    ],
    required: &["name"],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

static GROUP: ModuleSpec = ModuleSpec {
    name: "group",
    args: &[
        "name",
        "gid",
        "state",
        "system",
        "non_unique",
        "force",
        "local",
    ],
    required: &["name"],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

/// What the password field of results says, as Ansible's does.
const NOT_LOGGED: &str = "NOT_LOGGING_PASSWORD";

/// A name the shadow tools accept, checked before it reaches a command.
fn account_name(args: &Args) -> Result<String, ModuleError> {
    let name = args.required_str("name")?;
    let ok = !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-$".contains(c));
    if !ok {
        return Err(ModuleError::Args {
            message: format!("`{name}` is not a valid account name"),
        });
    }
    Ok(name)
}

/// Runs an account-changing command; a permission failure says what to do.
async fn change(ctx: &Context<'_>, script: &str, what: &str) -> Result<(), ModuleError> {
    let out = ctx.sh(&format!("{SBIN_PATH}{script}")).await?;
    if out.exit_status == Some(0) {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let denied = [
        "Permission denied",
        "permission denied",
        "cannot lock",
        "only root",
    ]
    .iter()
    .any(|needle| stderr.contains(needle));
    Err(ModuleError::Remote {
        message: if denied {
            format!("{what} failed: {stderr} (changing accounts needs root: set `become: true`)")
        } else if stderr.is_empty() {
            format!("{what} failed (exit status {:?})", out.exit_status)
        } else {
            format!("{what} failed: {stderr}")
        },
    })
}

/// The account as `key: value` lines, for diff mode.
fn describe(fields: &[(&str, String)]) -> String {
    fields.iter().map(|(k, v)| format!("{k}: {v}\n")).collect()
}

module!(Group, GROUP, group);

async fn group(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let name = account_name(&args)?;
    let state = args.choice("state", &["present", "absent"], "present")?;
    let gid = args.int("gid")?;
    let system = args.bool("system", false)?;
    let non_unique = args.bool("non_unique", false)?;
    let q = shell_quote(&name);
    let out = ctx.sh(&format!("getent group {q}")).await?;
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let current: Option<i64> = (out.exit_status == Some(0))
        .then(|| line.split(':').nth(2).and_then(|g| g.parse().ok()))
        .flatten();
    let mut outcome = Outcome::default();
    outcome.data.insert("name".into(), json!(name));
    outcome.data.insert("state".into(), json!(state));
    let command = match (state, current) {
        ("absent", Some(_)) => Some(format!("groupdel {q}")),
        ("absent", None) => None,
        (_, None) => {
            let mut c = "groupadd".to_string();
            if let Some(gid) = gid {
                c.push_str(&format!(" -g {gid}"));
            }
            if non_unique {
                c.push_str(" -o");
            }
            if system {
                c.push_str(" -r");
            }
            Some(format!("{c} {q}"))
        }
        (_, Some(have)) => match gid {
            Some(want) if want != have => Some(format!(
                "groupmod -g {want}{} {q}",
                if non_unique { " -o" } else { "" }
            )),
            _ => None,
        },
    };
    let shown = |gid: Option<i64>| match gid {
        Some(g) => describe(&[("group", name.clone()), ("gid", g.to_string())]),
        None => String::new(),
    };
    if let Some(command) = command {
        outcome.changed = true;
        if ctx.diff {
            let after = match state {
                "absent" => None,
                _ => Some(
                    gid.or(current)
                        .map_or_else(|| describe(&[("group", name.clone())]), |g| shown(Some(g))),
                ),
            };
            outcome.diffs.push(FileDiff {
                path: format!("group {name}"),
                before: current.map(|g| shown(Some(g))),
                after: after.unwrap_or_default(),
            });
        }
        if !ctx.check {
            change(ctx, &command, &format!("{} group {name}", verb(&command))).await?;
        }
    }
    if state == "present" {
        let gid = match (ctx.check, gid.or(current)) {
            (false, None) => {
                let out = ctx.sh(&format!("getent group {q} | cut -d: -f3")).await?;
                String::from_utf8_lossy(&out.stdout).trim().parse().ok()
            }
            (_, g) => g,
        };
        outcome.data.insert("gid".into(), json!(gid));
        outcome.data.insert("system".into(), json!(system));
    }
    Ok(outcome)
}

fn verb(command: &str) -> &'static str {
    match command.split_whitespace().next().unwrap_or("") {
        "groupadd" | "useradd" => "creating",
        "groupdel" | "userdel" => "removing",
        _ => "changing",
    }
}

/// An existing account, as the query reads it.
#[derive(Debug, Default)]
struct Account {
    uid: i64,
    gid: i64,
    /// The primary group's name.
    group: String,
    comment: String,
    home: String,
    shell: String,
    /// Supplementary groups (the primary one left out).
    groups: Vec<String>,
    /// The shadow password field, when it could be read (root).
    hash: Option<String>,
}

/// One round trip: passwd entry, primary group, supplementary groups, shadow hash.
const QUERY: &str = r#"p=$(getent passwd "$1") || exit 3
printf 'P:%s\n' "$p"
g=$(printf '%s' "$p" | cut -d: -f4)
printf 'G:%s\n' "$(getent group "$g" | cut -d: -f1)"
printf 'S:%s\n' "$(id -Gn "$1")"
if s=$(getent shadow "$1" 2>/dev/null); then printf 'H:%s\n' "$(printf '%s' "$s" | cut -d: -f2)"; fi"#;

fn parse_account(text: &str) -> Option<Account> {
    let mut account = Account::default();
    let mut seen = false;
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("P:") {
            let fields: Vec<&str> = p.split(':').collect();
            if fields.len() < 7 {
                return None;
            }
            account.uid = fields[2].parse().ok()?;
            account.gid = fields[3].parse().ok()?;
            account.comment = fields[4].to_string();
            account.home = fields[5].to_string();
            account.shell = fields[6].to_string();
            seen = true;
        } else if let Some(g) = line.strip_prefix("G:") {
            account.group = g.trim().to_string();
        } else if let Some(s) = line.strip_prefix("S:") {
            account.groups = s.split_whitespace().map(str::to_string).collect();
        } else if let Some(h) = line.strip_prefix("H:") {
            account.hash = Some(h.to_string());
        }
    }
    let primary = account.group.clone();
    account.groups.retain(|g| *g != primary);
    seen.then_some(account)
}

module!(User, USER, user);

async fn user(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let name = account_name(&args)?;
    let q = shell_quote(&name);
    let state = args.choice("state", &["present", "absent"], "present")?;
    let uid = args.int("uid")?;
    let group = args.str("group")?;
    let groups_given = args.0.get("groups").is_some_and(|v| !v.is_null());
    let groups = args.list("groups")?;
    let append = args.bool("append", false)?;
    let shell = args.str("shell")?;
    let home = args.str("home")?;
    let create_home = match args.0.get("create_home") {
        Some(_) => args.bool("create_home", true)?,
        None => args.bool("createhome", true)?,
    };
    let move_home = args.bool("move_home", false)?;
    let system = args.bool("system", false)?;
    let password = args.str("password")?;
    let update_password = args.choice("update_password", &["always", "on_create"], "always")?;
    let remove = args.bool("remove", false)?;
    let force = args.bool("force", false)?;
    let comment = args.str("comment")?;
    let non_unique = args.bool("non_unique", false)?;
    let password_lock = match args.0.get("password_lock") {
        None | Some(Value::Null) => None,
        Some(_) => Some(args.bool("password_lock", false)?),
    };
    if password.as_deref().is_some_and(|p| p.contains([':', '\n'])) {
        return Err(ModuleError::Args {
            message: "argument `password` must be a crypt(3) hash (no `:` or line break)".into(),
        });
    }

    let query = format!("set -- {q}\n{QUERY}");
    let out = ctx.sh(&query).await?;
    let current = match out.exit_status {
        Some(0) => parse_account(&String::from_utf8_lossy(&out.stdout)),
        Some(3) => None,
        _ => return Err(super::remote_failure(&format!("reading user {name}"), &out)),
    };

    let mut outcome = Outcome::default();
    let data = &mut outcome.data;
    data.insert("name".into(), json!(name));
    data.insert("state".into(), json!(state));
    let mut commands: Vec<String> = Vec::new();
    // The password goes to `chpasswd -e` on stdin, after the account exists.
    let mut set_hash: Option<String> = None;
    match (state, &current) {
        ("absent", None) => {}
        ("absent", Some(_)) => {
            let mut c = "userdel".to_string();
            if remove {
                c.push_str(" -r");
            }
            if force {
                c.push_str(" -f");
            }
            commands.push(format!("{c} {q}"));
            data.insert("remove".into(), json!(remove));
            data.insert("force".into(), json!(force));
        }
        (_, None) => {
            let mut c = "useradd".to_string();
            if let Some(uid) = uid {
                c.push_str(&format!(" -u {uid}"));
            }
            if non_unique {
                c.push_str(" -o");
            }
            if let Some(g) = &group {
                c.push_str(&format!(" -g {}", shell_quote(g)));
            }
            if !groups.is_empty() {
                c.push_str(&format!(" -G {}", shell_quote(&groups.join(","))));
            }
            if let Some(s) = &shell {
                c.push_str(&format!(" -s {}", shell_quote(s)));
            }
            if let Some(h) = &home {
                c.push_str(&format!(" -d {}", shell_quote(h)));
            }
            if let Some(cm) = &comment {
                c.push_str(&format!(" -c {}", shell_quote(cm)));
            }
            if system {
                c.push_str(" -r");
            }
            c.push_str(if create_home { " -m" } else { " -M" });
            commands.push(format!("{c} {q}"));
            set_hash = password.clone();
            if password_lock == Some(true) {
                commands.push(format!("usermod -L {q}"));
            }
        }
        (_, Some(have)) => {
            let mut c = String::new();
            if let Some(uid) = uid
                && uid != have.uid
            {
                c.push_str(&format!(" -u {uid}"));
                if non_unique {
                    c.push_str(" -o");
                }
            }
            if let Some(g) = &group
                && *g != have.group
                && g.parse::<i64>().ok() != Some(have.gid)
            {
                c.push_str(&format!(" -g {}", shell_quote(g)));
            }
            if groups_given {
                let missing: Vec<&String> = groups
                    .iter()
                    .filter(|g| !have.groups.contains(g) && **g != have.group)
                    .collect();
                if append {
                    if !missing.is_empty() {
                        c.push_str(&format!(" -a -G {}", shell_quote(&groups.join(","))));
                    }
                } else {
                    let extra = have.groups.iter().any(|g| !groups.contains(g));
                    if !missing.is_empty() || extra {
                        c.push_str(&format!(" -G {}", shell_quote(&groups.join(","))));
                    }
                }
            }
            if let Some(s) = &shell
                && *s != have.shell
            {
                c.push_str(&format!(" -s {}", shell_quote(s)));
            }
            if let Some(h) = &home
                && *h != have.home
            {
                c.push_str(&format!(" -d {}", shell_quote(h)));
                if move_home {
                    c.push_str(" -m");
                }
            }
            if let Some(cm) = &comment
                && *cm != have.comment
            {
                c.push_str(&format!(" -c {}", shell_quote(cm)));
            }
            if !c.is_empty() {
                commands.push(format!("usermod{c} {q}"));
            }
            if let Some(p) = &password
                && update_password == "always"
            {
                let locked_same = have
                    .hash
                    .as_deref()
                    .is_some_and(|h| h.strip_prefix('!') == Some(p.as_str()));
                match &have.hash {
                    None => {
                        return Err(ModuleError::Remote {
                            message: format!(
                                "cannot read the password hash of {name} to compare it \
                                 (reading /etc/shadow needs root: set `become: true`)"
                            ),
                        });
                    }
                    Some(h) if h == p || locked_same => {}
                    Some(_) => set_hash = Some(p.clone()),
                }
            }
            let locked = have.hash.as_deref().is_some_and(|h| h.starts_with('!'));
            match password_lock {
                Some(true) if !locked => commands.push(format!("usermod -L {q}")),
                Some(false) if locked => commands.push(format!("usermod -U {q}")),
                _ => {}
            }
        }
    }
    if password.is_some() {
        data.insert("password".into(), json!(NOT_LOGGED));
    }
    outcome.changed = !commands.is_empty() || set_hash.is_some();

    if outcome.changed && ctx.diff {
        let show = |a: &Account| {
            describe(&[
                ("user", name.clone()),
                ("uid", a.uid.to_string()),
                ("group", a.group.clone()),
                ("groups", a.groups.join(",")),
                ("home", a.home.clone()),
                ("shell", a.shell.clone()),
                ("comment", a.comment.clone()),
            ])
        };
        let after = match state {
            "absent" => String::new(),
            _ => {
                let mut a = current.as_ref().map_or_else(Account::default, |c| Account {
                    groups: c.groups.clone(),
                    group: c.group.clone(),
                    home: c.home.clone(),
                    shell: c.shell.clone(),
                    comment: c.comment.clone(),
                    uid: c.uid,
                    ..Account::default()
                });
                if let Some(u) = uid {
                    a.uid = u;
                }
                if let Some(g) = &group {
                    a.group = g.clone();
                }
                if groups_given {
                    if append {
                        for g in &groups {
                            if !a.groups.contains(g) {
                                a.groups.push(g.clone());
                            }
                        }
                    } else {
                        a.groups = groups.clone();
                    }
                }
                for (field, value) in [
                    (&mut a.home, &home),
                    (&mut a.shell, &shell),
                    (&mut a.comment, &comment),
                ] {
                    if let Some(v) = value {
                        *field = v.clone();
                    }
                }
                let mut text = show(&a);
                if set_hash.is_some() {
                    text.push_str("password: (changed)\n");
                }
                text
            }
        };
        outcome.diffs.push(FileDiff {
            path: format!("user {name}"),
            before: current.as_ref().map(show),
            after,
        });
    }

    if outcome.changed && !ctx.check {
        for command in &commands {
            change(ctx, command, &format!("{} user {name}", verb(command))).await?;
        }
        if let Some(hash) = &set_hash {
            let out = ctx
                .conn()?
                .sh(
                    &format!("{SBIN_PATH}chpasswd -e"),
                    Some(format!("{name}:{hash}\n").into_bytes()),
                )
                .await?;
            if out.exit_status != Some(0) {
                return Err(ModuleError::Remote {
                    message: format!(
                        "setting the password of {name} failed: {} (changing accounts needs \
                         root: set `become: true`)",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                });
            }
        }
    }

    if state == "present" {
        // What the account is now (or, in check mode, would be as far as drover knows).
        let now = if ctx.check || !outcome.changed {
            None
        } else {
            let out = ctx.sh(&query).await?;
            parse_account(&String::from_utf8_lossy(&out.stdout))
        };
        let account = now.as_ref().or(current.as_ref());
        let data = &mut outcome.data;
        if let Some(a) = account {
            data.insert("uid".into(), json!(a.uid));
            data.insert("group".into(), json!(a.gid));
            data.insert("groups".into(), json!(a.groups.join(",")));
            data.insert("home".into(), json!(a.home));
            data.insert("shell".into(), json!(a.shell));
            data.insert("comment".into(), json!(a.comment));
        }
        data.insert("system".into(), json!(system));
        data.insert("append".into(), json!(append));
        data.insert("move_home".into(), json!(move_home));
        data.insert("create_home".into(), json!(create_home));
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_reads_passwd_groups_and_the_hash() {
        let text = "P:app:x:1500:1501:App user:/srv/app:/bin/sh\nG:app\nS:app wheel docker\nH:$6$salt$hash\n";
        let a = parse_account(text);
        let a = a.as_ref();
        assert_eq!(a.map(|a| a.uid), Some(1500));
        assert_eq!(a.map(|a| a.group.as_str()), Some("app"));
        assert_eq!(
            a.map(|a| a.groups.clone()),
            Some(vec!["wheel".to_string(), "docker".to_string()])
        );
        assert_eq!(a.and_then(|a| a.hash.as_deref()), Some("$6$salt$hash"));
        assert!(parse_account("").is_none());
    }
}

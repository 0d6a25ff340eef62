//! System state that needs the init system or root: `service`/`systemd` (systemctl only; a
//! node without a running systemd gets a clear error, never a silent no-op; `masked`,
//! `daemon_reexec` and `scope` as Ansible's systemd) and `package`/`apt`/`dnf` (dpkg/apt-get
//! or rpm/dnf; refused up front, with the hint to use `become`, when the task's commands do
//! not run as root). Each queries first, acts only when needed, and stops after the query in
//! check mode.

use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use crate::template::shell_quote;
use serde_json::json;

pub struct Service;
pub struct Systemd;
pub struct Package;
pub struct Apt;
pub struct Dnf;

const SERVICE_ARGS: &[&str] = &[
    "name",
    "state",
    "enabled",
    "daemon_reload",
    "daemon_reexec",
    "masked",
    "scope",
    "no_block",
    "force",
    "pattern",
    "sleep",
    "runlevel",
    "arguments",
    "args",
    "use",
];

static SERVICE: ModuleSpec = ModuleSpec {
    name: "service",
    args: SERVICE_ARGS,
    required: &[],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

static SYSTEMD: ModuleSpec = ModuleSpec {
    name: "systemd",
    args: SERVICE_ARGS,
    required: &[],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

const PACKAGE_ARGS: &[&str] = &[
    "name",
    "pkg",
    "state",
    "update_cache",
    "cache_valid_time",
    "allow_downgrade",
    "install_recommends",
    "autoremove",
    "purge",
    "use",
];

static PACKAGE: ModuleSpec = ModuleSpec {
    name: "package",
    args: PACKAGE_ARGS,
    required: &[],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

static APT: ModuleSpec = ModuleSpec {
    name: "apt",
    args: PACKAGE_ARGS,
    required: &[],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

static DNF: ModuleSpec = ModuleSpec {
    name: "dnf",
    args: PACKAGE_ARGS,
    required: &[],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

module!(Service, SERVICE, service);
module!(Systemd, SYSTEMD, service);

async fn service(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let name = args.str("name")?;
    let state = match args.str("state")? {
        None => None,
        Some(_) => Some(args.choice(
            "state",
            &["started", "stopped", "restarted", "reloaded"],
            "started",
        )?),
    };
    let enabled = match args.0.get("enabled") {
        None | Some(serde_json::Value::Null) => None,
        Some(_) => Some(args.bool("enabled", false)?),
    };
    let daemon_reload = args.bool("daemon_reload", false)?;
    let daemon_reexec = args.bool("daemon_reexec", false)?;
    let masked = match args.0.get("masked") {
        None | Some(serde_json::Value::Null) => None,
        Some(_) => Some(args.bool("masked", false)?),
    };
    let scope = args.choice("scope", &["system", "user", "global"], "system")?;
    if name.is_none() && (state.is_some() || enabled.is_some() || masked.is_some()) {
        return Err(ModuleError::Args {
            message: "argument `name` is required with `state`, `enabled` or `masked`".to_string(),
        });
    }
    if name.is_none() && !daemon_reload && !daemon_reexec {
        return Err(ModuleError::Args {
            message: "give `name` with `state`/`enabled`/`masked`, or `daemon_reload: yes`"
                .to_string(),
        });
    }
    if scope == "global" && state.is_some() {
        return Err(ModuleError::Args {
            message: "`scope: global` manages unit files only (enabled, masked), not `state`"
                .to_string(),
        });
    }
    // `systemctl --user` / `--global`, as Ansible's scope.
    let systemctl = match scope {
        "user" => "systemctl --user",
        "global" => "systemctl --global",
        _ => "systemctl",
    };
    // sd_booted(): systemd runs when /run/systemd/system exists.
    let probe = ctx
        .sh("[ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1")
        .await?;
    if probe.exit_status != Some(0) {
        return Err(ModuleError::Remote {
            message: format!(
                "{} has no running systemd (no /run/systemd/system): `service`/`systemd` \
                 manage units with systemctl only; use `command` with the node's own init \
                 scripts instead",
                ctx.host
            ),
        });
    }
    let mut outcome = Outcome::default();
    let mut actions: Vec<String> = Vec::new();
    if daemon_reexec {
        // Like daemon_reload, always a change.
        actions.push(format!("{systemctl} daemon-reexec"));
    }
    if daemon_reload {
        // Ansible reports daemon_reload as a change.
        actions.push(format!("{systemctl} daemon-reload"));
    }
    if let Some(name) = &name {
        let q = shell_quote(name);
        outcome.data.insert("name".into(), json!(name));
        let show = ctx
            .sh_ok(
                &format!("{systemctl} show {q} -p ActiveState -p UnitFileState -p LoadState"),
                &format!("querying {name}"),
            )
            .await?;
        let text = String::from_utf8_lossy(&show.stdout).into_owned();
        let wanted = Wanted {
            state,
            enabled,
            masked,
        };
        let Some(unit_actions) = unit_actions(systemctl, &q, &text, &wanted) else {
            return Err(ModuleError::Remote {
                message: format!("Could not find the requested service {name}: host"),
            });
        };
        actions.extend(unit_actions);
        outcome.data.insert(
            "status".into(),
            json!({"ActiveState": prop(&text, "ActiveState"), "UnitFileState": prop(&text, "UnitFileState")}),
        );
        if let Some(m) = masked {
            outcome.data.insert("masked".into(), json!(m));
        }
        if let Some(s) = state {
            outcome.data.insert("state".into(), json!(s));
        }
        if let Some(e) = enabled {
            outcome.data.insert("enabled".into(), json!(e));
        }
    }
    outcome.changed = !actions.is_empty();
    if outcome.changed && !ctx.check {
        ctx.sh_ok(&actions.join(" && "), "systemctl").await?;
    }
    Ok(outcome)
}

/// What a `service`/`systemd` task asks of one unit.
struct Wanted<'a> {
    state: Option<&'a str>,
    enabled: Option<bool>,
    masked: Option<bool>,
}

/// A property of `systemctl show -p …` output.
fn prop(show: &str, key: &str) -> String {
    show.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or("")
        .to_string()
}

/// The systemctl commands that bring the unit (as `show` describes it) where `wanted` says,
/// in order; `None` when the unit does not exist (and is not being masked).
fn unit_actions(systemctl: &str, q: &str, show: &str, wanted: &Wanted<'_>) -> Option<Vec<String>> {
    let mut actions = Vec::new();
    let load = prop(show, "LoadState");
    let file_state = prop(show, "UnitFileState");
    let is_masked = load == "masked" || file_state == "masked";
    // Unmasking comes first, masking last: a masked unit can neither start nor be enabled.
    if wanted.masked == Some(false) && is_masked {
        actions.push(format!("{systemctl} unmask {q}"));
    }
    if load == "not-found" && wanted.masked != Some(true) {
        return None;
    }
    let active = matches!(
        prop(show, "ActiveState").as_str(),
        "active" | "activating" | "reloading"
    );
    let is_enabled = matches!(
        file_state.as_str(),
        "enabled" | "enabled-runtime" | "alias" | "static" | "indirect"
    );
    if let Some(e) = wanted.enabled
        && e != is_enabled
    {
        actions.push(format!(
            "{systemctl} {} {q}",
            if e { "enable" } else { "disable" }
        ));
    }
    match wanted.state {
        Some("started") if !active => actions.push(format!("{systemctl} start {q}")),
        Some("stopped") if active => actions.push(format!("{systemctl} stop {q}")),
        Some("restarted") => actions.push(format!("{systemctl} restart {q}")),
        Some("reloaded") if active => actions.push(format!("{systemctl} reload {q}")),
        Some("reloaded") => actions.push(format!("{systemctl} start {q}")),
        _ => {}
    }
    if wanted.masked == Some(true) && !is_masked {
        actions.push(format!("{systemctl} mask {q}"));
    }
    Some(actions)
}

module!(Package, PACKAGE, |ctx, args| package(ctx, args, None));
module!(Apt, APT, |ctx, args| package(ctx, args, Some(Manager::Apt)));
module!(Dnf, DNF, |ctx, args| package(ctx, args, Some(Manager::Dnf)));

#[derive(Debug, Clone, Copy, PartialEq)]
enum Manager {
    Apt,
    Dnf,
}

/// `nginx`, `nginx=1.24.0-1` (apt) or `nginx-1.24.0` (dnf, taken as name and version only
/// when the version part starts with a digit).
fn split_version(manager: Manager, spec: &str) -> (String, Option<String>) {
    match manager {
        Manager::Apt => match spec.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (spec.to_string(), None),
        },
        Manager::Dnf => match spec.rsplit_once('-') {
            Some((n, v)) if v.starts_with(|c: char| c.is_ascii_digit()) => {
                (n.to_string(), Some(v.to_string()))
            }
            _ => (spec.to_string(), None),
        },
    }
}

async fn package(
    ctx: &Context<'_>,
    args: Args,
    manager: Option<Manager>,
) -> Result<Outcome, ModuleError> {
    let mut names = args.list("name")?;
    names.extend(args.list("pkg")?);
    let state = args.choice(
        "state",
        &["present", "installed", "absent", "removed", "latest"],
        "present",
    )?;
    let update_cache = args.bool("update_cache", false)?;
    if names.is_empty() && !update_cache {
        return Err(ModuleError::Args {
            message: "argument `name` is required (or `update_cache: yes`)".to_string(),
        });
    }
    let who = ctx.sh_ok("id -u; id -un", "finding the login user").await?;
    let who = String::from_utf8_lossy(&who.stdout).into_owned();
    let mut who = who.lines();
    let uid = who.next().unwrap_or("").trim().to_string();
    let user = who.next().unwrap_or("").trim().to_string();
    if uid != "0" {
        return Err(ModuleError::Remote {
            message: format!(
                "installing or removing packages needs root, but the task's commands run on \
                 {} as `{user}` (uid {uid}); set `become: true` (or log in as root)",
                ctx.host
            ),
        });
    }
    let manager = match manager {
        Some(m) => m,
        None => {
            let out = ctx
                .sh("if command -v apt-get >/dev/null 2>&1; then echo apt; elif command -v dnf >/dev/null 2>&1; then echo dnf; fi")
                .await?;
            match String::from_utf8_lossy(&out.stdout).trim() {
                "apt" => Manager::Apt,
                "dnf" => Manager::Dnf,
                _ => {
                    return Err(ModuleError::Remote {
                        message: format!(
                            "{} has neither apt-get nor dnf; `package` supports only those",
                            ctx.host
                        ),
                    });
                }
            }
        }
    };
    let mut outcome = Outcome::default();
    let mut actions: Vec<String> = Vec::new();
    if update_cache {
        // Refreshing the index is a change, as in Ansible's apt with update_cache.
        actions.push(match manager {
            Manager::Apt => "apt-get update -q".into(),
            Manager::Dnf => "dnf makecache -q".into(),
        });
    }
    let mut to_install = Vec::new();
    let mut to_remove = Vec::new();
    for spec in &names {
        let (name, version) = split_version(manager, spec);
        let query = match manager {
            Manager::Apt => format!(
                "dpkg-query -W -f='${{Status}}|${{Version}}' {} 2>/dev/null",
                shell_quote(&name)
            ),
            Manager::Dnf => format!(
                "rpm -q --qf 'install ok installed|%{{VERSION}}-%{{RELEASE}}' {} 2>/dev/null",
                shell_quote(&name)
            ),
        };
        let out = ctx.sh(&query).await?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (status, installed) = text.split_once('|').unwrap_or(("", ""));
        let is_installed = out.exit_status == Some(0) && status.ends_with("installed");
        match state {
            "absent" | "removed" if is_installed => to_remove.push(name),
            "present" | "installed" => {
                let version_ok = version
                    .as_deref()
                    .is_none_or(|v| installed == v || installed.starts_with(v));
                if !is_installed || !version_ok {
                    to_install.push(spec.clone());
                }
            }
            // latest: ask the manager; it does nothing when already newest, and we compare
            // versions after to report truthfully.
            "latest" => to_install.push(spec.clone()),
            _ => {}
        }
    }
    let q = |v: &[String]| {
        v.iter()
            .map(|s| shell_quote(s))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if !to_install.is_empty() {
        actions.push(match manager {
            Manager::Apt => format!(
                "DEBIAN_FRONTEND=noninteractive apt-get install -y -q {}",
                q(&to_install)
            ),
            Manager::Dnf => format!("dnf install -y -q {}", q(&to_install)),
        });
    }
    if !to_remove.is_empty() {
        actions.push(match manager {
            Manager::Apt => format!(
                "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q {}",
                q(&to_remove)
            ),
            Manager::Dnf => format!("dnf remove -y -q {}", q(&to_remove)),
        });
    }
    outcome.changed = !actions.is_empty();
    if state == "latest" && ctx.check {
        // Without asking the repositories we cannot know; say so rather than guess.
        outcome.msg = Some("check mode cannot tell whether newer versions exist".into());
    }
    if outcome.changed && !ctx.check {
        let out = ctx.sh_ok(&actions.join(" && "), "package manager").await?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if state == "latest" && to_remove.is_empty() && !update_cache {
            // apt/dnf say when nothing was upgraded.
            outcome.changed = !(stdout.contains("0 upgraded, 0 newly installed")
                || stdout.contains("Nothing to do"));
        }
        outcome.data.insert("stdout".into(), json!(stdout));
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: &str = "ActiveState=active\nUnitFileState=enabled\nLoadState=loaded\n";
    const MASKED: &str = "ActiveState=inactive\nUnitFileState=masked\nLoadState=masked\n";

    fn wanted(state: Option<&str>, enabled: Option<bool>, masked: Option<bool>) -> Wanted<'_> {
        Wanted {
            state,
            enabled,
            masked,
        }
    }

    #[test]
    fn only_what_differs_is_done_and_masking_brackets_the_rest() {
        let run = |show: &str, w: &Wanted<'_>| unit_actions("systemctl", "app", show, w);
        assert_eq!(
            run(RUNNING, &wanted(Some("started"), Some(true), None)),
            Some(vec![])
        );
        assert_eq!(
            run(RUNNING, &wanted(Some("stopped"), None, Some(true))),
            Some(vec![
                "systemctl stop app".into(),
                "systemctl mask app".into()
            ])
        );
        assert_eq!(
            run(MASKED, &wanted(Some("started"), Some(true), Some(false))),
            Some(vec![
                "systemctl unmask app".into(),
                "systemctl enable app".into(),
                "systemctl start app".into()
            ])
        );
        assert_eq!(run(MASKED, &wanted(None, None, Some(true))), Some(vec![]));
        let gone = "ActiveState=inactive\nUnitFileState=\nLoadState=not-found\n";
        assert_eq!(run(gone, &wanted(Some("started"), None, None)), None);
        assert_eq!(
            run(gone, &wanted(None, None, Some(true))),
            Some(vec!["systemctl mask app".into()])
        );
        assert_eq!(
            unit_actions(
                "systemctl --user",
                "app",
                RUNNING,
                &wanted(Some("restarted"), None, None)
            ),
            Some(vec!["systemctl --user restart app".into()])
        );
    }
}

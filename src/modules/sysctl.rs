//! `sysctl`: a kernel parameter in a sysctl file (`/etc/sysctl.conf` by default) and,
//! with `sysctl_set`, in the running kernel (`sysctl -w`). The file is edited here (the
//! key's line replaced, else appended; removed with `state: absent`) and written only when
//! its text changes; then, as Ansible does with `reload: yes`, `sysctl -p FILE` applies it.
//! Values are compared as the kernel prints them (runs of whitespace as one space). Needs
//! root to change anything (`become`).

use super::{Args, Context, FileDiff, ModuleError, ModuleSpec, Outcome, SBIN_PATH};
use crate::template::shell_quote;
use serde_json::json;

pub struct Sysctl;

static SYSCTL: ModuleSpec = ModuleSpec {
    name: "sysctl",
    args: &[
        "name",
        "value",
        "state",
        "sysctl_file",
        "sysctl_set",
        "reload",
        "ignoreerrors",
    ],
    required: &["name"],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

fn normalise(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `net/ipv4/ip_forward` and `net.ipv4.ip_forward` name the same key.
fn key_of(line: &str) -> Option<String> {
    let line = line.trim_start();
    if line.starts_with('#') || line.starts_with(';') {
        return None;
    }
    let (key, _) = line.split_once('=')?;
    Some(key.trim().replace('/', "."))
}

module!(Sysctl, SYSCTL, sysctl);

async fn sysctl(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let name = args.required_str("name")?.trim().replace('/', ".");
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '=') {
        return Err(ModuleError::Args {
            message: format!("`{name}` is not a sysctl key"),
        });
    }
    let state = args.choice("state", &["present", "absent"], "present")?;
    let value = args.str("value")?.map(|v| normalise(&v));
    if state == "present" && value.is_none() {
        return Err(ModuleError::Args {
            message: "argument `value` is required with `state: present`".into(),
        });
    }
    let file = args
        .str("sysctl_file")?
        .unwrap_or_else(|| "/etc/sysctl.conf".into());
    let sysctl_set = args.bool("sysctl_set", false)?;
    let reload = args.bool("reload", true)?;
    let ignore = args.bool("ignoreerrors", false)?;
    let qf = shell_quote(&file);
    let qn = shell_quote(&name);

    let read = ctx
        .sh(&format!("if [ -e {qf} ]; then cat {qf}; else exit 3; fi"))
        .await?;
    let before = match read.exit_status {
        Some(0) => Some(String::from_utf8_lossy(&read.stdout).into_owned()),
        Some(3) => None,
        _ => return Err(super::remote_failure(&format!("reading {file}"), &read)),
    };
    let mut lines: Vec<String> = before
        .as_deref()
        .unwrap_or("")
        .lines()
        .map(str::to_string)
        .collect();
    let wanted = value.as_ref().map(|v| format!("{name}={v}"));
    let mut found = false;
    lines.retain_mut(|line| {
        if key_of(line).as_deref() != Some(name.as_str()) {
            return true;
        }
        match (&wanted, found) {
            (Some(w), false) => {
                // Kept in place; rewritten only if its value differs.
                let current = line.split_once('=').map(|(_, v)| normalise(v));
                if current.as_deref() != value.as_deref() {
                    *line = w.clone();
                }
                found = true;
                true
            }
            // A duplicate, or state absent.
            _ => false,
        }
    });
    if let (Some(w), false) = (&wanted, found) {
        lines.push(w.clone());
    }
    let after: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let file_changed =
        before.as_deref().unwrap_or("") != after && !(before.is_none() && after.is_empty());

    // The running value, when asked to set it.
    let mut running_changed = false;
    if sysctl_set && let Some(v) = &value {
        let out = ctx.sh(&format!("{SBIN_PATH}sysctl -n {qn}")).await?;
        if out.exit_status != Some(0) && !ignore {
            return Err(super::remote_failure(&format!("reading {name}"), &out));
        }
        running_changed = normalise(&String::from_utf8_lossy(&out.stdout)) != *v;
    }

    let mut outcome = Outcome {
        changed: file_changed || running_changed,
        ..Outcome::default()
    };
    outcome.data.insert("name".into(), json!(name));
    outcome.data.insert("state".into(), json!(state));
    if let Some(v) = &value {
        outcome.data.insert("value".into(), json!(v));
    }
    outcome.data.insert("sysctl_file".into(), json!(file));
    if file_changed && ctx.diff {
        outcome.diffs.push(FileDiff {
            path: file.clone(),
            before: before.clone(),
            after: after.clone(),
        });
    }
    if !outcome.changed || ctx.check {
        return Ok(outcome);
    }
    let e = if ignore { " -e" } else { "" };
    if running_changed && let Some(v) = &value {
        let out = ctx
            .sh(&format!(
                "{SBIN_PATH}sysctl{e} -w {}",
                shell_quote(&format!("{name}={v}"))
            ))
            .await?;
        if out.exit_status != Some(0) {
            return Err(denied(&format!("setting {name}"), &out));
        }
    }
    if file_changed {
        let mode = before.is_none().then_some(0o644);
        ctx.conn()?.upload(&file, after.as_bytes(), mode).await?;
        if reload {
            let out = ctx.sh(&format!("{SBIN_PATH}sysctl{e} -p {qf}")).await?;
            if out.exit_status != Some(0) {
                return Err(denied(&format!("reloading {file}"), &out));
            }
        }
    }
    Ok(outcome)
}

fn denied(what: &str, out: &crate::transport::ExecOutput) -> ModuleError {
    let err = super::remote_failure(what, out);
    let text = err.to_string();
    if text.contains("ermission denied") || text.contains("Read-only") {
        ModuleError::Remote {
            message: format!("{text} (changing kernel parameters needs root: set `become: true`)"),
        }
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_in_both_spellings_and_comments_skipped() {
        assert_eq!(
            key_of(" net/ipv4/ip_forward = 1").as_deref(),
            Some("net.ipv4.ip_forward")
        );
        assert_eq!(key_of("# vm.swappiness=1"), None);
        assert_eq!(normalise(" 4096\t87380   6291456\n"), "4096 87380 6291456");
    }
}

//! `reboot`: reboots the node and waits until it is back, as Ansible's does — the boot id
//! (`boot_time_command`, `/proc/sys/kernel/random/boot_id` by default) is read, the reboot
//! command started, then drover reconnects (the same target, host-key and bastion rules as
//! the first connection) until the node answers with another boot id, and `test_command`
//! succeeds. The fresh connection replaces the old one for the rest of the run, for every
//! holder (later tasks, the rollout lock's renewal).
//!
//! Before rebooting, the journal records the boot id under the task (play, host, location,
//! hop). A resume that reaches the same task and finds another boot id knows the reboot
//! happened before the control machine stopped, and does not reboot again. Check mode
//! reports `changed` and reboots nothing, as Ansible's does.

use super::wait::seconds;
use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use crate::template::shell_quote;
use serde_json::json;
use std::time::{Duration, Instant};

pub struct Reboot;

static REBOOT: ModuleSpec = ModuleSpec {
    name: "reboot",
    args: &[
        "reboot_timeout",
        "connect_timeout",
        "pre_reboot_delay",
        "post_reboot_delay",
        "test_command",
        "msg",
        "boot_time_command",
        "search_paths",
        "reboot_command",
    ],
    required: &[],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

const DEFAULT_BOOT_TIME: &str = "cat /proc/sys/kernel/random/boot_id";
const DEFAULT_MSG: &str = "Reboot initiated by Ansible";
const DEFAULT_SEARCH_PATHS: &[&str] =
    &["/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin"];

module!(Reboot, REBOOT, reboot);

async fn reboot(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let timeout = seconds(&args, "reboot_timeout", 600.0)?;
    let connect_timeout = seconds(&args, "connect_timeout", 10.0)?;
    let pre_delay = seconds(&args, "pre_reboot_delay", 0.0)?;
    let post_delay = seconds(&args, "post_reboot_delay", 0.0)?;
    let test_command = args.str("test_command")?.unwrap_or_else(|| "whoami".into());
    let boot_time = args
        .str("boot_time_command")?
        .unwrap_or_else(|| DEFAULT_BOOT_TIME.into());
    let msg = args.str("msg")?.unwrap_or_else(|| DEFAULT_MSG.into());
    let mut search = args.list("search_paths")?;
    if search.is_empty() {
        search = DEFAULT_SEARCH_PATHS.iter().map(|s| s.to_string()).collect();
    }
    let command = match args.str("reboot_command")? {
        Some(c) => c,
        None => {
            // Ansible's Linux command: `shutdown -r MINUTES "MSG"`, the delay in whole minutes.
            let minutes = pre_delay.as_secs() / 60;
            format!(
                "PATH={}:\"$PATH\" shutdown -r {minutes} {}",
                shell_quote(&search.join(":")),
                shell_quote(&msg)
            )
        }
    };
    if ctx.check {
        let mut outcome = Outcome {
            changed: true,
            ..Outcome::default()
        };
        outcome.data.insert("rebooted".into(), json!(true));
        outcome.data.insert("elapsed".into(), json!(0));
        return Ok(outcome);
    }
    let link = ctx.link.ok_or_else(|| ModuleError::Args {
        message: "`reboot` needs the host's own SSH connection (it cannot be delegated or run \
                  on the control machine)"
            .into(),
    })?;
    let started = Instant::now();
    let conn = ctx.conn()?;
    let before = boot_id(ctx, &boot_time).await?;

    let recorded = link.recorded_reboot();
    let already = recorded.as_deref().is_some_and(|b| b != before);
    if !already {
        link.record_reboot(&before);
        // A dropped connection is what a reboot looks like; only a command that ran and
        // failed on a node that stays up is an error.
        let ran = tokio::time::timeout(
            connect_timeout.max(Duration::from_secs(5)),
            conn.sh(&command, None),
        )
        .await;
        if let Ok(Ok(out)) = &ran
            && out.exit_status.is_some_and(|s| s != 0)
            && !conn.is_closed()
        {
            let mut outcome = Outcome::failed(format!(
                "Reboot command failed. Error was: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            outcome.data.insert("rebooted".into(), json!(false));
            return Ok(outcome);
        }
    }

    // Until the node answers with another boot id: on the old connection while it lasts,
    // then on fresh ones.
    let deadline = started + timeout;
    let mut pause = Duration::from_millis(250);
    let mut last_error = String::new();
    // The old connection may hang rather than close (no FIN from a host going down): one
    // that stopped answering is replaced.
    let mut stale = false;
    // Resumed after the reboot happened: the node is already on its new boot.
    if !already {
        loop {
            if Instant::now() >= deadline {
                let mut outcome = Outcome::failed(format!(
                    "Timed out waiting for {} to come back after the reboot ({}s){}",
                    ctx.host,
                    timeout.as_secs(),
                    if last_error.is_empty() {
                        String::new()
                    } else {
                        format!(": {last_error}")
                    }
                ));
                outcome.data.insert("rebooted".into(), json!(false));
                outcome
                    .data
                    .insert("elapsed".into(), json!(started.elapsed().as_secs()));
                return Ok(outcome);
            }
            if conn.is_closed() || stale {
                match tokio::time::timeout(connect_timeout, link.reconnect()).await {
                    Ok(Ok(())) => stale = false,
                    Ok(Err(e)) => last_error = e,
                    Err(_) => last_error = "connecting timed out".into(),
                }
            }
            if !conn.is_closed() && !stale {
                let read = tokio::time::timeout(connect_timeout, boot_id(ctx, &boot_time)).await;
                match read {
                    Ok(Ok(now)) if now != before => break,
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        stale = matches!(e, ModuleError::Transport(_));
                        last_error = e.to_string();
                    }
                    Err(_) => {
                        stale = true;
                        last_error = "reading the boot id timed out".into();
                    }
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }
    if !already {
        tokio::time::sleep(post_delay).await;
    }
    // The node is back; its services may not be: test_command until it succeeds.
    loop {
        let out = tokio::time::timeout(connect_timeout, conn.sh(&test_command, None)).await;
        match out {
            Ok(Ok(out)) if out.exit_status == Some(0) => break,
            Ok(Ok(out)) => {
                last_error = String::from_utf8_lossy(&out.stderr).trim().to_string();
            }
            Ok(Err(e)) => last_error = e.to_string(),
            Err(_) => last_error = "test_command timed out".into(),
        }
        if Instant::now() >= deadline {
            let mut outcome = Outcome::failed(format!(
                "Timed out waiting for test_command `{test_command}` to succeed after the \
                 reboot: {last_error}"
            ));
            outcome.data.insert("rebooted".into(), json!(true));
            return Ok(outcome);
        }
        if conn.is_closed() {
            let _ = tokio::time::timeout(connect_timeout, link.reconnect()).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut outcome = Outcome {
        changed: true,
        ..Outcome::default()
    };
    outcome.data.insert("rebooted".into(), json!(true));
    outcome
        .data
        .insert("elapsed".into(), json!(started.elapsed().as_secs()));
    if already {
        outcome.msg = Some(format!(
            "the journal shows this reboot began before the run stopped, and {} has booted \
             since: not rebooted again",
            ctx.host
        ));
    }
    Ok(outcome)
}

async fn boot_id(ctx: &Context<'_>, command: &str) -> Result<String, ModuleError> {
    let out = ctx.sh(command).await?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.exit_status != Some(0) || text.is_empty() {
        return Err(super::remote_failure(
            &format!("boot_time_command `{command}`"),
            &out,
        ));
    }
    Ok(text)
}

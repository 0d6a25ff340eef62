//! Health gates: `wait_for` (a port that opens or closes, a file that appears, disappears or
//! contains a pattern — probed from the node, polled from here until `timeout`) and
//! `wait_for_connection` (the host answers a command). They never change anything and run in
//! check mode too, since later steps rely on what they wait for.

use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use crate::template::shell_quote;
use serde_json::json;
use std::time::{Duration, Instant};

pub struct WaitFor;
pub struct WaitForConnection;

static WAIT_FOR: ModuleSpec = ModuleSpec {
    name: "wait_for",
    args: &[
        "host",
        "port",
        "path",
        "search_regex",
        "state",
        "timeout",
        "delay",
        "sleep",
        "connect_timeout",
        "msg",
        "exclude_hosts",
        "active_connection_states",
    ],
    required: &[],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

static WAIT_FOR_CONNECTION: ModuleSpec = ModuleSpec {
    name: "wait_for_connection",
    args: &["delay", "sleep", "timeout", "connect_timeout"],
    required: &[],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

/// A duration argument in seconds, between 0 and a week.
pub(super) fn seconds(args: &Args, name: &str, default: f64) -> Result<Duration, ModuleError> {
    let s = args.float(name)?.unwrap_or(default);
    if !(0.0..=7.0 * 86400.0).contains(&s) {
        return Err(ModuleError::Args {
            message: format!("argument `{name}` must be between 0 and a week, not {s}"),
        });
    }
    Ok(Duration::from_secs_f64(s))
}

module!(WaitFor, WAIT_FOR, wait_for);

async fn wait_for(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let host = args.str("host")?.unwrap_or_else(|| "127.0.0.1".into());
    let port = args.int("port")?;
    let path = args.str("path")?;
    let state = args.choice(
        "state",
        &["started", "present", "stopped", "absent", "drained"],
        "started",
    )?;
    let timeout = seconds(&args, "timeout", 300.0)?;
    let delay = seconds(&args, "delay", 0.0)?;
    let sleep = seconds(&args, "sleep", 1.0)?;
    let connect_timeout = seconds(&args, "connect_timeout", 5.0)?.as_secs().max(1);
    let search = match args.str("search_regex")? {
        Some(p) => Some(
            regex::Regex::new(&format!("(?m){p}")).map_err(|e| ModuleError::Args {
                message: format!("argument `search_regex`: {e}"),
            })?,
        ),
        None => None,
    };
    if state == "drained" {
        return Err(ModuleError::Args {
            message: "wait_for: `state: drained` is not supported yet".to_string(),
        });
    }
    if port.is_some() && path.is_some() {
        return Err(ModuleError::Args {
            message: "wait_for takes `port` or `path`, not both".to_string(),
        });
    }
    if port.is_some() && search.is_some() {
        return Err(ModuleError::Args {
            message: "wait_for: `search_regex` on a port is not supported yet (only on `path`)"
                .to_string(),
        });
    }
    if let Some(p) = port
        && !(1..=65535).contains(&p)
    {
        return Err(ModuleError::Args {
            message: format!("argument `port` must be 1-65535, not {p}"),
        });
    }
    let want_present = matches!(state, "started" | "present");
    let started = Instant::now();
    tokio::time::sleep(delay).await;

    // One probe: does the condition hold now?
    let probe = async || -> Result<(bool, Option<Vec<String>>), ModuleError> {
        if let Some(port) = port {
            // No python on the nodes: bash's /dev/tcp if there is a bash, else nc.
            let qh = shell_quote(&host);
            let script = format!(
                "if command -v bash >/dev/null 2>&1; then \
                   timeout {connect_timeout} bash -c 'exec 3<>/dev/tcp/'{qh}'/{port}' 2>/dev/null; \
                 elif command -v nc >/dev/null 2>&1; then nc -z -w {connect_timeout} {qh} {port}; \
                 else echo 'wait_for needs bash or nc on the node to probe ports' >&2; exit 127; fi"
            );
            let out = ctx.sh(&script).await?;
            if out.exit_status == Some(127) {
                return Err(ModuleError::Remote {
                    message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                });
            }
            return Ok((out.exit_status == Some(0), None));
        }
        if let Some(path) = &path {
            let exists = ctx
                .sh(&format!("[ -e {} ]", shell_quote(path)))
                .await?
                .exit_status
                == Some(0);
            let Some(re) = &search else {
                return Ok((exists, None));
            };
            if !exists {
                return Ok((false, None));
            }
            let text = match ctx.conn()?.download(path).await {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => return Ok((false, None)),
            };
            return Ok(match re.captures(&text) {
                Some(caps) => (
                    true,
                    Some(
                        caps.iter()
                            .skip(1)
                            .map(|m| m.map(|m| m.as_str().to_string()).unwrap_or_default())
                            .collect(),
                    ),
                ),
                None => (false, None),
            });
        }
        // Neither port nor path: just the delay (Ansible's "sleep for timeout" case).
        Ok((true, None))
    };

    if port.is_none() && path.is_none() {
        tokio::time::sleep(timeout).await;
    }
    loop {
        let (holds, groups) = probe().await?;
        if holds == want_present {
            let mut outcome = Outcome::default();
            outcome
                .data
                .insert("elapsed".into(), json!(started.elapsed().as_secs()));
            outcome.data.insert("state".into(), json!(state));
            if let Some(p) = port {
                outcome.data.insert("port".into(), json!(p));
            }
            if let Some(p) = &path {
                outcome.data.insert("path".into(), json!(p));
            }
            if let Some(groups) = groups {
                outcome.data.insert("match_groups".into(), json!(groups));
            }
            return Ok(outcome);
        }
        if started.elapsed() >= timeout {
            let what = match (port, &path) {
                (Some(p), _) => format!("port {host}:{p} to be {state}"),
                (None, Some(p)) if search.is_some() => {
                    format!("{p} to contain the search_regex")
                }
                (None, Some(p)) => format!("{p} to be {state}"),
                _ => "the condition".into(),
            };
            let mut outcome = Outcome::failed(args.str("msg")?.unwrap_or(format!(
                "Timeout when waiting for {what} ({}s)",
                timeout.as_secs()
            )));
            outcome
                .data
                .insert("elapsed".into(), json!(started.elapsed().as_secs()));
            return Ok(outcome);
        }
        let left = timeout.saturating_sub(started.elapsed());
        tokio::time::sleep(sleep.min(left)).await;
    }
}

module!(WaitForConnection, WAIT_FOR_CONNECTION, wait_for_connection);

/// Runs `true` until it works. A connection the server closed (a node that restarted its
/// sshd, or rebooted) is remade through the engine, with the same target and host-key
/// rules, until `timeout`; the fresh connection serves the rest of the run.
async fn wait_for_connection(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let timeout = seconds(&args, "timeout", 600.0)?;
    let delay = seconds(&args, "delay", 0.0)?;
    let sleep = seconds(&args, "sleep", 1.0)?;
    let connect_timeout = seconds(&args, "connect_timeout", 5.0)?;
    let started = Instant::now();
    tokio::time::sleep(delay).await;
    let conn = ctx.conn()?;
    let mut last_error = String::new();
    loop {
        if conn.is_closed() {
            match ctx.link {
                Some(link) => match tokio::time::timeout(connect_timeout, link.reconnect()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => last_error = e,
                    Err(_) => last_error = "connecting timed out".into(),
                },
                None => last_error = "the connection was closed".into(),
            }
        }
        if !conn.is_closed() {
            let attempt = tokio::time::timeout(connect_timeout, conn.exec("true", None)).await;
            match attempt {
                Ok(Ok(out)) if out.exit_status == Some(0) => {
                    let mut outcome = Outcome::default();
                    outcome
                        .data
                        .insert("elapsed".into(), json!(started.elapsed().as_secs()));
                    return Ok(outcome);
                }
                Ok(Ok(out)) => last_error = format!("`true` exited with {:?}", out.exit_status),
                Ok(Err(e)) => last_error = e.to_string(),
                Err(_) => last_error = "the node did not answer".into(),
            }
        }
        if started.elapsed() >= timeout {
            return Ok(Outcome::failed(format!(
                "timed out waiting for the connection to {} ({}s): {last_error}",
                ctx.host,
                timeout.as_secs(),
            )));
        }
        tokio::time::sleep(sleep.min(timeout.saturating_sub(started.elapsed()))).await;
    }
}

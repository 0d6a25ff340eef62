//! Small modules about the node itself: `ping` (is it there and can it run a command) and
//! `tempfile` (a fresh temporary file or directory, made by `mktemp` on the node).

use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use crate::template::shell_quote;
use serde_json::json;

pub struct Ping;
pub struct TempFile;

static PING: ModuleSpec = ModuleSpec {
    name: "ping",
    args: &["data"],
    required: &[],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

static TEMPFILE: ModuleSpec = ModuleSpec {
    name: "tempfile",
    args: &["state", "path", "prefix", "suffix"],
    required: &[],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

module!(Ping, PING, ping);

/// Ansible's `ping`: `ping: pong` (or `data`); `data: crash` fails, as Ansible's does.
async fn ping(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let data = args.str("data")?.unwrap_or_else(|| "pong".to_string());
    let out = ctx.conn()?.exec("true", None).await?;
    if out.exit_status != Some(0) {
        return Ok(Outcome::failed("the node cannot run a command"));
    }
    if data == "crash" {
        return Ok(Outcome::failed("boom"));
    }
    let mut outcome = Outcome::default();
    outcome.data.insert("ping".into(), json!(data));
    Ok(outcome)
}

module!(TempFile, TEMPFILE, tempfile);

/// `mktemp` in `path` (else the node's `$TMPDIR` or /tmp) named `prefix` + random +
/// `suffix`, as Python's tempfile names them (Ansible's default prefix is `ansible.`).
async fn tempfile(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let state = args.str("state")?.unwrap_or_else(|| "file".to_string());
    let directory = match state.as_str() {
        "file" => false,
        "directory" => true,
        other => {
            return Err(ModuleError::Args {
                message: format!("`state` must be file or directory, not `{other}`"),
            });
        }
    };
    let prefix = args
        .str("prefix")?
        .unwrap_or_else(|| "ansible.".to_string());
    let suffix = args.str("suffix")?.unwrap_or_default();
    if prefix.contains('/') || suffix.contains('/') {
        return Err(ModuleError::Args {
            message: "`prefix` and `suffix` cannot hold `/`".to_string(),
        });
    }
    let dir = match args.str("path")? {
        Some(p) => shell_quote(&p),
        None => "\"${TMPDIR:-/tmp}\"".to_string(),
    };
    if ctx.check {
        return Ok(Outcome {
            changed: true,
            ..Outcome::default()
        });
    }
    let template = shell_quote(&format!("{prefix}XXXXXXXX{suffix}"));
    let command = format!(
        "mktemp {}-p {dir} {template}",
        if directory { "-d " } else { "" }
    );
    let out = ctx.conn()?.exec(&command, None).await?;
    if out.exit_status != Some(0) {
        return Ok(Outcome::failed(format!(
            "cannot create a temporary {state}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mut outcome = Outcome {
        changed: true,
        ..Outcome::default()
    };
    outcome.data.insert("path".into(), json!(path));
    outcome.data.insert("state".into(), json!(state));
    Ok(outcome)
}

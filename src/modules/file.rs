//! `copy` and `template`: put a file on the host with the wanted content and mode. The node is
//! asked for the file's checksum, mode and owner first; the file is written only when they
//! differ, atomically (temp file and rename, by the transport), so a dropped connection never
//! leaves a half-written config file. A local `src` is hashed and uploaded in chunks (never
//! held whole), and not sent at all when the node's checksum already matches; `validate`
//! checks a temp copy beside `dest` before it is renamed into place.

use super::{Args, Context, FileDiff, ModuleError, ModuleSpec, Outcome};
use crate::template::{Origin, shell_quote};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use std::path::{Path, PathBuf};

pub struct Copy;
pub struct Template;

static COPY: ModuleSpec = ModuleSpec {
    name: "copy",
    args: &[
        "src",
        "content",
        "dest",
        "mode",
        "owner",
        "group",
        "force",
        "backup",
        "validate",
        "remote_src",
    ],
    required: &["dest"],
    one_of: &[&["src", "content"]],
    free_form: false,
    local: false,
    any_args: false,
};

static TEMPLATE: ModuleSpec = ModuleSpec {
    name: "template",
    args: &[
        "src", "dest", "mode", "owner", "group", "force", "backup", "validate",
    ],
    required: &["src", "dest"],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

/// Diffs of files larger than this are not shown (Ansible's `max_diff_size` is 100 KiB too).
const MAX_DIFF_BYTES: u64 = 100 * 1024;

module!(Copy, COPY, copy);

async fn copy(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let (payload, src) = match args.0.get("content") {
        Some(Value::String(s)) => (Payload::Bytes(s.clone().into_bytes()), None),
        Some(Value::Null) | None => {
            let src = args.required_str("src")?;
            if args.bool("remote_src", false)? {
                return Err(ModuleError::Args {
                    message: "copy: `remote_src: yes` is not supported yet".to_string(),
                });
            }
            let path = find_local(ctx.playbook_dir, "files", &src)?;
            // Hashed in chunks and later streamed: a large file is never held whole.
            let sha1 = super::transfer::local_sha1(&path)
                .await?
                .unwrap_or_default();
            let size = std::fs::metadata(&path)
                .map_err(|source| ModuleError::Local {
                    path: path.display().to_string(),
                    source,
                })?
                .len();
            (Payload::File { path, size, sha1 }, Some(src))
        }
        // Ansible writes non-string content as JSON.
        Some(other) => (Payload::Bytes(other.to_string().into_bytes()), None),
    };
    put_file(ctx, &args, payload, src.as_deref()).await
}

/// What `copy`/`template` write: rendered or given bytes, or a local file to stream.
enum Payload {
    Bytes(Vec<u8>),
    File {
        path: PathBuf,
        size: u64,
        sha1: String,
    },
}

impl Payload {
    fn sha1(&self) -> String {
        match self {
            Payload::Bytes(b) => hex(&Sha1::digest(b)),
            Payload::File { sha1, .. } => sha1.clone(),
        }
    }

    fn size(&self) -> u64 {
        match self {
            Payload::Bytes(b) => b.len() as u64,
            Payload::File { size, .. } => *size,
        }
    }

    /// The text for a diff (only called for small payloads).
    fn text(&self) -> Result<String, ModuleError> {
        match self {
            Payload::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
            Payload::File { path, .. } => std::fs::read(path)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|source| ModuleError::Local {
                    path: path.display().to_string(),
                    source,
                }),
        }
    }

    async fn upload(
        &self,
        conn: &crate::transport::Connection,
        dest: &str,
        mode: u32,
    ) -> Result<(), ModuleError> {
        match self {
            Payload::Bytes(b) => conn.upload(dest, b, Some(mode)).await?,
            Payload::File { path, .. } => conn.upload_file(path, dest, Some(mode)).await?,
        }
        Ok(())
    }
}

module!(Template, TEMPLATE, template);

async fn template(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let src = args.required_str("src")?;
    let path = find_local(ctx.playbook_dir, "templates", &src)?;
    let text = std::fs::read_to_string(&path).map_err(|source| ModuleError::Local {
        path: path.display().to_string(),
        source,
    })?;
    let name = path.display().to_string();
    let rendered = ctx
        .templates
        .render_str(&text, ctx.vars, Origin::File(&name))?;
    put_file(
        ctx,
        &args,
        Payload::Bytes(rendered.into_bytes()),
        Some(&src),
    )
    .await
}

/// Ansible's search path for a role-less playbook: `DIR/files/src` (or `templates/`), then
/// `DIR/src`.
pub(super) fn find_local(
    playbook_dir: &Path,
    kind: &str,
    src: &str,
) -> Result<PathBuf, ModuleError> {
    let given = Path::new(src);
    let candidates = if given.is_absolute() {
        vec![given.to_path_buf()]
    } else {
        vec![playbook_dir.join(kind).join(src), playbook_dir.join(src)]
    };
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| ModuleError::Args {
            message: format!(
                "could not find `{src}`; looked in: {}",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// What the node has at `dest` now.
#[derive(Debug, PartialEq)]
enum Remote {
    Absent,
    Directory,
    File {
        mode: u32,
        owner: String,
        group: String,
        size: u64,
        sha1: String,
    },
}

async fn query(ctx: &Context<'_>, dest: &str) -> Result<Remote, ModuleError> {
    let q = shell_quote(dest);
    let out = ctx
        .sh(&format!(
            "if [ -d {q} ]; then echo directory; elif [ -e {q} ]; then echo file; \
             stat -c '%a %U %G %s' {q} && sha1sum < {q}; else echo absent; fi"
        ))
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    match lines.next() {
        Some("absent") => Ok(Remote::Absent),
        Some("directory") => Ok(Remote::Directory),
        Some("file") => {
            let stat: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
            let sha1 = lines
                .next()
                .and_then(|l| l.split_whitespace().next())
                .unwrap_or_default();
            match (stat.as_slice(), sha1.len()) {
                ([mode, owner, group, size], 40) => Ok(Remote::File {
                    mode: u32::from_str_radix(mode, 8).unwrap_or(0),
                    owner: owner.to_string(),
                    group: group.to_string(),
                    size: size.parse().unwrap_or(0),
                    sha1: sha1.to_string(),
                }),
                _ => Err(ModuleError::Args {
                    message: format!(
                        "cannot read the state of {dest} on the host: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                }),
            }
        }
        _ => Err(ModuleError::Args {
            message: format!(
                "cannot read the state of {dest} on the host: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }),
    }
}

async fn put_file(
    ctx: &Context<'_>,
    args: &Args,
    content: Payload,
    src: Option<&str>,
) -> Result<Outcome, ModuleError> {
    let mut dest = args.required_str("dest")?;
    let wanted_mode = args.file_mode("mode")?;
    let validate = args.str("validate")?;
    let owner = args.str("owner")?;
    let group = args.str("group")?;
    let force = args.bool("force", true)?;
    let backup = args.bool("backup", false)?;
    let conn = ctx.conn()?;

    if let (true, Some(src)) = (dest.ends_with('/'), src) {
        dest.push_str(src.rsplit('/').next().unwrap_or(src));
    }
    let mut remote = query(ctx, &dest).await?;
    if remote == Remote::Directory {
        let Some(src) = src else {
            return Ok(Outcome::failed(format!(
                "{dest} is a directory; give a file path as dest"
            )));
        };
        dest = format!(
            "{}/{}",
            dest.trim_end_matches('/'),
            src.rsplit('/').next().unwrap_or(src)
        );
        remote = query(ctx, &dest).await?;
    }

    let sha1 = content.sha1();
    let mode = match (&wanted_mode, &remote) {
        (Some(m), Remote::File { mode, .. }) => Some(m.resolve(*mode, false)),
        (Some(m), _) => Some(m.resolve(0o644, false)),
        (None, _) => None,
    };
    let (content_same, mode_same, owner_same, existing_mode, before_size) = match &remote {
        Remote::File {
            mode: m,
            owner: o,
            group: g,
            size,
            sha1: s,
        } => (
            *s == sha1,
            mode.is_none_or(|want| want == *m),
            owner.as_ref().is_none_or(|w| w == o) && group.as_ref().is_none_or(|w| w == g),
            Some(*m),
            *size,
        ),
        _ => (false, false, false, None, 0),
    };
    let mut outcome = Outcome::default();
    let final_mode = mode.or(existing_mode).unwrap_or(0o644);
    outcome.data.insert("dest".into(), json!(dest));
    outcome.data.insert("checksum".into(), json!(sha1));
    outcome.data.insert("size".into(), json!(content.size()));
    outcome
        .data
        .insert("mode".into(), json!(format!("{final_mode:04o}")));

    let exists = existing_mode.is_some();
    if (content_same && mode_same && owner_same) || (exists && !force) {
        return Ok(outcome);
    }
    outcome.changed = true;
    if ctx.diff && !content_same && content.size() <= MAX_DIFF_BYTES {
        let before = if exists && before_size <= MAX_DIFF_BYTES {
            let bytes = conn.download(&dest).await?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            None
        };
        outcome.diff = Some(FileDiff {
            path: dest.clone(),
            before,
            after: content.text()?,
        });
    }
    if ctx.check {
        return Ok(outcome);
    }

    if !content_same {
        if backup && exists {
            let stamp = backup_stamp();
            let backup_file = format!("{dest}.{stamp}~");
            let cp = format!("cp -p {} {}", shell_quote(&dest), shell_quote(&backup_file));
            if let Err(failed) = step(ctx, &cp, "backup of", &dest).await? {
                return Ok(failed);
            }
            outcome
                .data
                .insert("backup_file".into(), json!(backup_file));
        }
        match validate.as_deref() {
            None => content.upload(conn, &dest, final_mode).await?,
            Some(validate) => {
                // Checked on a temp copy beside dest, then renamed: a config that fails
                // validation never replaces the good one.
                let temp = super::edit::validation_temp(&dest);
                content.upload(conn, &temp, final_mode).await?;
                super::edit::validate_and_move(ctx, &temp, &dest, validate).await?;
            }
        }
    } else if !mode_same {
        let chmod = format!("chmod {final_mode:o} {}", shell_quote(&dest));
        if let Err(failed) = step(ctx, &chmod, "chmod", &dest).await? {
            return Ok(failed);
        }
    }
    if owner.is_some() || group.is_some() {
        let spec = format!(
            "{}{}",
            owner.as_deref().unwrap_or(""),
            group
                .as_deref()
                .map(|g| format!(":{g}"))
                .unwrap_or_default()
        );
        let chown = format!("chown {} {}", shell_quote(&spec), shell_quote(&dest));
        if let Err(failed) = step(ctx, &chown, "chown", &dest).await? {
            return Ok(failed);
        }
    }
    Ok(outcome)
}

/// Runs one remote step of a change; a non-zero exit is the task's failure, with stderr.
async fn step(
    ctx: &Context<'_>,
    script: &str,
    what: &str,
    dest: &str,
) -> Result<Result<(), Outcome>, ModuleError> {
    let out = ctx.sh(script).await?;
    if out.exit_status == Some(0) {
        return Ok(Ok(()));
    }
    Ok(Err(Outcome::failed(format!(
        "{what} {dest} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    ))))
}

pub(super) fn backup_stamp() -> String {
    let now = time::OffsetDateTime::now_local().unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let format = time::macros::format_description!("[year]-[month]-[day]@[hour]:[minute]:[second]");
    now.format(&format)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

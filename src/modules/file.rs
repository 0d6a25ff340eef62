//! `copy` and `template`: put a file on the host with the wanted content and mode. The node is
//! asked for the file's checksum, mode and owner first; the file is written only when they
//! differ, atomically (temp file and rename), so a dropped connection never leaves a
//! half-written config file. A local `src` is hashed and uploaded in chunks (never held
//! whole), and not sent at all when the node's checksum already matches; `validate` checks a
//! temp copy beside `dest` before it is renamed into place. A directory `src` (local, or on
//! the node with `remote_src`) is handed to [`super::tree`], which sends each file back
//! through [`put_known`]; a single `remote_src` file is copied on the node with `cp`.

use super::filesystem::Attributes;
use super::sources::Source;
use super::{Args, Context, FileDiff, ModuleError, ModuleSpec, Outcome};
use crate::template::{Origin, shell_quote};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        "directory_mode",
        "decrypt",
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
    copy_task(ctx, &args).await.map_err(|e| ctx.at_task(e))
}

async fn copy_task(ctx: &Context<'_>, args: &Args) -> Result<Outcome, ModuleError> {
    let src = match args.0.get("content") {
        Some(Value::String(s)) => {
            let payload = Payload::Bytes(s.clone().into_bytes());
            return put_file(ctx, args, payload, None).await;
        }
        // Ansible writes non-string content as JSON.
        Some(other) if !other.is_null() => {
            let payload = Payload::Bytes(other.to_string().into_bytes());
            return put_file(ctx, args, payload, None).await;
        }
        _ => args.required_str("src")?,
    };
    if args.bool("remote_src", false)? {
        return copy_on_node(ctx, args, &src).await;
    }
    let path = find_source(ctx, &src)?;
    if path.is_dir() {
        let source = super::tree::Source::local(&path, ctx.sources).await?;
        let dest = tree_dest(args, &src)?;
        return super::tree::copy_tree(ctx, args, source, &dest).await;
    }
    // A vault-encrypted source is decrypted, as Ansible's `decrypt: yes` default.
    if args.bool("decrypt", true)?
        && let Some(plain) = super::sources::vault_plaintext(&path)?
    {
        return put_file(ctx, args, Payload::Bytes(plain), Some(&src)).await;
    }
    // Read and hashed once for all hosts; a large file is streamed, never held whole.
    let source = ctx.sources.get(&path).await?;
    put_file(ctx, args, Payload::File { path, source }, Some(&src)).await
}

/// `remote_src: yes`: `src` is a file or directory on the node, copied there.
async fn copy_on_node(ctx: &Context<'_>, args: &Args, src: &str) -> Result<Outcome, ModuleError> {
    match query(ctx, src).await? {
        Remote::Absent => Err(ModuleError::Args {
            message: format!("`src` {src} does not exist on the node (remote_src: yes)"),
        }),
        Remote::Directory => {
            let source = super::tree::Source::on_node(ctx, src).await?;
            let dest = tree_dest(args, src)?;
            super::tree::copy_tree(ctx, args, source, &dest).await
        }
        Remote::File(facts) => {
            let payload = Payload::Remote {
                path: src.to_string(),
                facts,
            };
            put_file(ctx, args, payload, Some(src)).await
        }
    }
}

/// Where a directory `src` lands, by rsync's and Ansible's rule: `dir/` puts the directory's
/// contents into `dest`, `dir` puts the directory itself there (`dest/dir`).
fn tree_dest(args: &Args, src: &str) -> Result<String, ModuleError> {
    let dest = args.required_str("dest")?;
    if src.ends_with('/') {
        return Ok(dest);
    }
    let name = src.rsplit('/').next().unwrap_or(src);
    Ok(match dest.trim_end_matches('/') {
        "" => format!("/{name}"),
        base => format!("{base}/{name}"),
    })
}

/// What `copy`/`template` write: rendered or given bytes, a local file to stream, or a file
/// already on the node (`remote_src`).
pub(super) enum Payload {
    Bytes(Vec<u8>),
    File { path: PathBuf, source: Arc<Source> },
    Remote { path: String, facts: FileFacts },
}

impl Payload {
    fn sha1(&self) -> String {
        match self {
            Payload::Bytes(b) => super::transfer::hex(&Sha1::digest(b)),
            Payload::File { source, .. } => source.sha1.clone(),
            Payload::Remote { facts, .. } => facts.sha1.clone(),
        }
    }

    fn size(&self) -> u64 {
        match self {
            Payload::Bytes(b) => b.len() as u64,
            Payload::File { source, .. } => source.size,
            Payload::Remote { facts, .. } => facts.size,
        }
    }

    /// The mode of a new file when `mode` is not given: a node-side copy keeps its source's
    /// (as `cp -p` and Ansible do), anything else gets the usual 0644.
    fn new_file_mode(&self) -> u32 {
        match self {
            Payload::Remote { facts, .. } => facts.mode,
            _ => 0o644,
        }
    }

    /// The text for a diff (only called for small payloads); `None` for binary content.
    async fn text(
        &self,
        conn: &crate::transport::Connection,
    ) -> Result<Option<String>, ModuleError> {
        let bytes = match self {
            Payload::Bytes(b) => b.clone(),
            Payload::File { path, source } => match &source.bytes {
                Some(bytes) => bytes.to_vec(),
                None => std::fs::read(path).map_err(|source| ModuleError::Local {
                    path: path.display().to_string(),
                    source,
                })?,
            },
            Payload::Remote { path, .. } => conn.download(path).await?,
        };
        Ok(text_of(&bytes))
    }

    async fn upload(&self, ctx: &Context<'_>, dest: &str, mode: u32) -> Result<(), ModuleError> {
        let conn = ctx.conn()?;
        match self {
            Payload::Bytes(b) => conn.upload(dest, b, Some(mode)).await?,
            Payload::File { path, source } => match &source.bytes {
                Some(bytes) => conn.upload(dest, bytes, Some(mode)).await?,
                None => conn.upload_file(path, dest, Some(mode)).await?,
            },
            Payload::Remote { path, .. } => {
                // Copied beside dest and renamed, as the transport does for uploads; `cp -p`
                // keeps the source's times, like `cp -a`.
                let (dir, name) = match dest.rsplit_once('/') {
                    Some(("", name)) => ("/", name),
                    Some(split) => split,
                    None => (".", dest),
                };
                let template = format!("{}/.{name}.drover-tmp-XXXXXXXX", dir.trim_end_matches('/'));
                let script = format!(
                    "set -e\ntmp=$(mktemp {})\ntrap 'rm -f \"$tmp\"' EXIT\n\
                     cp -p -- {} \"$tmp\"\nchmod {mode:04o} \"$tmp\"\n\
                     mv -f -- \"$tmp\" {}\ntrap - EXIT",
                    shell_quote(&template),
                    shell_quote(path),
                    shell_quote(dest)
                );
                ctx.sh_ok(&script, &format!("copying {path} to {dest} on the node"))
                    .await?;
            }
        }
        Ok(())
    }
}

/// Bytes as text for a diff, or `None` when they look binary (a NUL byte, as `diff` decides).
fn text_of(bytes: &[u8]) -> Option<String> {
    (!bytes.contains(&0)).then(|| String::from_utf8_lossy(bytes).into_owned())
}

module!(Template, TEMPLATE, template);

async fn template(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let src = args.required_str("src")?;
    let path = find_local(ctx, "templates", &src)?;
    let text = match super::sources::vault_plaintext(&path)? {
        Some(plain) => String::from_utf8(plain).map_err(|_| ModuleError::Args {
            message: format!("template {} is not UTF-8 text", path.display()),
        })?,
        None => std::fs::read_to_string(&path).map_err(|source| ModuleError::Local {
            path: path.display().to_string(),
            source,
        })?,
    };
    let name = path.display().to_string();
    let dest = args.str("dest")?.unwrap_or_default();
    let vars = template_vars(ctx, &path, &dest);
    let rendered = ctx
        .templates
        .render_str(&text, &vars, Origin::File(&name))?;
    put_file(
        ctx,
        &args,
        Payload::Bytes(rendered.into_bytes()),
        Some(&src),
    )
    .await
}

/// The task's variables plus those Ansible's `template` module adds: `ansible_managed`,
/// `template_path`, `template_fullpath`, `template_destpath`, `template_mtime`, `template_host`, `template_uid`
/// and `template_run_date`.
fn template_vars(ctx: &Context<'_>, path: &Path, dest: &str) -> minijinja::Value {
    use std::os::unix::fs::MetadataExt as _;
    let full = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let meta = std::fs::metadata(path).ok();
    let uid = meta.as_ref().map_or(0, |m| m.uid());
    // Python's `str(datetime.fromtimestamp(mtime))`, in local time.
    let mtime = meta
        .and_then(|m| m.modified().ok())
        .map(|t| {
            let t = time::OffsetDateTime::from(t);
            let offset = time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC);
            let t = t.to_offset(offset);
            let base = t
                .format(&time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second]"
                ))
                .unwrap_or_default();
            match t.microsecond() {
                0 => base,
                us => format!("{base}.{us:06}"),
            }
        })
        .unwrap_or_default();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let now = time::OffsetDateTime::now_local().unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    let run_date = now
        .format(&time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .unwrap_or_default();
    minijinja::context! {
        ansible_managed => "Ansible managed",
        template_path => path.display().to_string(),
        template_fullpath => full.display().to_string(),
        template_destpath => dest,
        template_mtime => mtime,
        template_host => host.trim(),
        template_uid => local_user_name(uid).unwrap_or_else(|| uid.to_string()),
        template_run_date => run_date,
        ..ctx.vars.clone()
    }
}

/// The control machine's name for `uid` (from /etc/passwd).
fn local_user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_string())
    })
}

/// Ansible's search path: in a role, `ROLE/files/src` (or `templates/`, `vars/`), then
/// `ROLE/src`, then `ROLE/tasks/src`; then the playbook's `DIR/files/src` and `DIR/src`.
pub(super) fn find_local(ctx: &Context<'_>, kind: &str, src: &str) -> Result<PathBuf, ModuleError> {
    search(ctx, kind, src, Path::is_file)
}

/// Like [`find_local`] in `files/`, also finding directories (a recursive `copy`).
fn find_source(ctx: &Context<'_>, src: &str) -> Result<PathBuf, ModuleError> {
    search(ctx, "files", src, |p| p.is_file() || p.is_dir())
}

fn search(
    ctx: &Context<'_>,
    kind: &str,
    src: &str,
    found: fn(&Path) -> bool,
) -> Result<PathBuf, ModuleError> {
    let given = Path::new(src);
    let candidates = if given.is_absolute() {
        vec![given.to_path_buf()]
    } else {
        let mut dirs = Vec::new();
        if let Some(role) = ctx.role_dir {
            dirs.extend([role.join(kind), role.to_path_buf(), role.join("tasks")]);
        }
        dirs.extend([ctx.playbook_dir.join(kind), ctx.playbook_dir.to_path_buf()]);
        dirs.into_iter().map(|dir| dir.join(src)).collect()
    };
    candidates
        .iter()
        .find(|p| found(p))
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

/// What the node has at a path.
#[derive(Debug, PartialEq)]
pub(super) enum Remote {
    Absent,
    Directory,
    File(FileFacts),
}

/// A regular file on the node, as `copy` compares it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FileFacts {
    pub mode: u32,
    pub owner: String,
    pub group: String,
    pub size: u64,
    pub sha1: String,
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
    let unreadable = || ModuleError::Remote {
        message: format!(
            "cannot read the state of {dest} on the host: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    };
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
                ([mode, owner, group, size], 40) => Ok(Remote::File(FileFacts {
                    mode: u32::from_str_radix(mode, 8).map_err(|_| unreadable())?,
                    owner: owner.to_string(),
                    group: group.to_string(),
                    size: size.parse().map_err(|_| unreadable())?,
                    sha1: sha1.to_string(),
                })),
                _ => Err(unreadable()),
            }
        }
        _ => Err(unreadable()),
    }
}

/// What `copy`/`template` want of every file they write, read once per task.
pub(super) struct FileWanted {
    attrs: Attributes,
    force: bool,
    backup: bool,
    validate: Option<String>,
}

impl FileWanted {
    pub(super) fn from_args(args: &Args) -> Result<FileWanted, ModuleError> {
        Ok(FileWanted {
            attrs: Attributes::from_args(args)?,
            force: args.bool("force", true)?,
            backup: args.bool("backup", false)?,
            validate: args.str("validate")?,
        })
    }

    /// `owner[:group]` for `chown`, when either is wanted.
    pub(super) fn chown_spec(&self) -> Option<String> {
        let Attributes { owner, group, .. } = &self.attrs;
        if owner.is_none() && group.is_none() {
            return None;
        }
        Some(format!(
            "{}{}",
            owner.as_deref().unwrap_or(""),
            group
                .as_deref()
                .map(|g| format!(":{g}"))
                .unwrap_or_default()
        ))
    }
}

/// One file: `dest` as given, or `dest/NAME` when it is (or names) a directory.
async fn put_file(
    ctx: &Context<'_>,
    args: &Args,
    content: Payload,
    src: Option<&str>,
) -> Result<Outcome, ModuleError> {
    let mut dest = args.required_str("dest")?;
    let want = FileWanted::from_args(args)?;
    if let (true, Some(src)) = (dest.ends_with('/'), src) {
        // Ansible creates a missing `dest/` directory (not in check mode).
        if !ctx.check {
            let dir = shell_quote(dest.trim_end_matches('/'));
            ctx.sh_ok(
                &format!("[ -d {dir} ] || mkdir -p -- {dir}"),
                &format!("creating {dest}"),
            )
            .await?;
        }
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
    put_known(ctx, &want, &dest, &remote, &content).await
}

/// Makes `dest`, whose state on the node is `remote`, hold `content` with the wanted mode
/// and owner: compares first, writes only what differs, stops there in check mode.
pub(super) async fn put_known(
    ctx: &Context<'_>,
    want: &FileWanted,
    dest: &str,
    remote: &Remote,
    content: &Payload,
) -> Result<Outcome, ModuleError> {
    let conn = ctx.conn()?;
    let existing = match remote {
        Remote::File(facts) => Some(facts),
        _ => None,
    };
    let sha1 = content.sha1();
    let base_mode = existing.map_or(content.new_file_mode(), |f| f.mode);
    let mode = want
        .attrs
        .mode
        .as_ref()
        .map(|m| m.resolve(base_mode, false));
    let content_same = existing.is_some_and(|f| f.sha1 == sha1);
    let mode_same = existing.is_some_and(|f| mode.is_none_or(|m| m == f.mode));
    let owner_same = existing.is_some_and(|f| {
        want.attrs.owner.as_ref().is_none_or(|w| *w == f.owner)
            && want.attrs.group.as_ref().is_none_or(|w| *w == f.group)
    });
    let mut outcome = Outcome::default();
    let final_mode = mode.unwrap_or(base_mode);
    outcome.data.insert("dest".into(), json!(dest));
    outcome.data.insert("checksum".into(), json!(sha1));
    outcome.data.insert("size".into(), json!(content.size()));
    outcome
        .data
        .insert("mode".into(), json!(format!("{final_mode:04o}")));
    // Ansible's copy reports the file's attributes as `file` does.
    outcome.data.insert("state".into(), json!("file"));

    if (content_same && mode_same && owner_same) || (existing.is_some() && !want.force) {
        return Ok(outcome);
    }
    outcome.changed = true;
    if ctx.diff && !content_same && content.size() <= MAX_DIFF_BYTES {
        let before = match existing {
            Some(f) if f.size <= MAX_DIFF_BYTES => Some(text_of(&conn.download(dest).await?)),
            _ => None,
        };
        // Binary on either side: no diff, where `diff` would only say the files differ.
        if let (Some(after), false) = (content.text(conn).await?, matches!(before, Some(None))) {
            outcome.diffs.push(FileDiff {
                path: dest.to_string(),
                before: before.flatten(),
                after,
            });
        }
    }
    if ctx.check {
        return Ok(outcome);
    }

    if !content_same {
        if want.backup && existing.is_some() {
            let stamp = backup_stamp();
            let backup_file = format!("{dest}.{stamp}~");
            let cp = format!("cp -p {} {}", shell_quote(dest), shell_quote(&backup_file));
            if let Err(failed) = step(ctx, &cp, "backup of", dest).await? {
                return Ok(failed);
            }
            outcome
                .data
                .insert("backup_file".into(), json!(backup_file));
        }
        match want.validate.as_deref() {
            None => content.upload(ctx, dest, final_mode).await?,
            Some(validate) => {
                // Checked on a temp copy beside dest, then renamed: a config that fails
                // validation never replaces the good one.
                let temp = super::edit::validation_temp(dest);
                content.upload(ctx, &temp, final_mode).await?;
                super::edit::validate_and_move(ctx, &temp, dest, validate).await?;
            }
        }
    } else if !mode_same {
        let chmod = format!("chmod {final_mode:o} {}", shell_quote(dest));
        if let Err(failed) = step(ctx, &chmod, "chmod", dest).await? {
            return Ok(failed);
        }
    }
    if let Some(spec) = want.chown_spec() {
        let chown = format!("chown {} {}", shell_quote(&spec), shell_quote(dest));
        if let Err(failed) = step(ctx, &chown, "chown", dest).await? {
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

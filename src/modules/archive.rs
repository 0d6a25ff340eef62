//! `archive` and `unarchive` with the node's GNU tar (tar, tar.gz; other formats are refused).
//! `archive` builds the archive reproducibly (sorted names, `gzip -n`) and compares its
//! checksum with the existing one before writing, so a second run is `ok`; check mode only
//! streams the would-be archive into `sha1sum`. `unarchive` asks `tar --compare` whether
//! `dest` already holds the archive's files and extracts only when it does not (no
//! `mode`/`owner`/`group` on extracted files yet).

use super::file::find_local;
use super::filesystem::{Kind, path_state};
use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use crate::template::shell_quote;
use serde_json::json;

pub struct Archive;
pub struct Unarchive;

static ARCHIVE: ModuleSpec = ModuleSpec {
    name: "archive",
    args: &[
        "path",
        "dest",
        "format",
        "mode",
        "owner",
        "group",
        "exclude_path",
        "remove",
        "force_archive",
    ],
    required: &["path", "dest"],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

static UNARCHIVE: ModuleSpec = ModuleSpec {
    name: "unarchive",
    args: &[
        "src",
        "dest",
        "remote_src",
        "copy",
        "creates",
        "list_files",
        "extra_opts",
        "exclude",
        "keep_newer",
    ],
    required: &["src", "dest"],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

module!(Archive, ARCHIVE, archive);

async fn archive(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let paths = args.list("path")?;
    let dest = args.required_str("dest")?;
    let format = args.choice("format", &["gz", "tar", "bz2", "xz", "zip"], "gz")?;
    if args.bool("remove", false)? {
        return Err(ModuleError::Args {
            message: "archive: `remove: yes` is not supported yet".to_string(),
        });
    }
    let compress = match format {
        "gz" => "gzip -n",
        "tar" => "cat",
        other => {
            return Err(ModuleError::Args {
                message: format!("archive: format `{other}` is not supported yet (gz or tar)"),
            });
        }
    };
    let excludes = args.list("exclude_path")?;
    if paths.is_empty() {
        return Err(ModuleError::Args {
            message: "argument `path` needs at least one path".to_string(),
        });
    }
    // Names in the archive are relative to the parent of each path (`app/...`), as
    // Ansible does for one directory.
    let mut members = String::new();
    for p in &paths {
        let p = p.trim_end_matches('/');
        let (dir, name) = match p.rsplit_once('/') {
            Some(("", n)) => ("/", n),
            Some((d, n)) => (d, n),
            None => (".", p),
        };
        members.push_str(&format!(" -C {} {}", shell_quote(dir), shell_quote(name)));
    }
    let mut exclude = String::new();
    for e in &excludes {
        exclude.push_str(&format!(" --exclude={}", shell_quote(e)));
    }
    let missing_check = paths
        .iter()
        .map(|p| format!("[ -e {} ]", shell_quote(p)))
        .collect::<Vec<_>>()
        .join(" && ");
    let build = format!("tar --sort=name --numeric-owner{exclude} -cf -{members} | {compress}");
    let missing = ctx.sh(&missing_check).await?;
    if missing.exit_status != Some(0) {
        return Err(ModuleError::Remote {
            message: format!("archive: some of {} do not exist", paths.join(", ")),
        });
    }
    let want = ctx
        .sh_ok(&format!("{build} | sha1sum"), "building the archive")
        .await?;
    let want = String::from_utf8_lossy(&want.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let state = path_state(ctx, &dest, true).await?;
    let have = if state.kind == Kind::File {
        Some(super::inspect::remote_checksum(ctx, &dest, "sha1").await?)
    } else {
        None
    };
    let mut outcome = Outcome::default();
    outcome.data.insert("dest".into(), json!(dest));
    outcome.data.insert("archived".into(), json!(paths));
    outcome.data.insert("state".into(), json!("archive"));
    outcome.data.insert("dest_state".into(), json!("archive"));
    if have.as_deref() != Some(want.as_str()) {
        outcome.changed = true;
        if !ctx.check {
            let qd = shell_quote(&dest);
            let dir = dest.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
            let dir = shell_quote(if dir.is_empty() { "/" } else { dir });
            // Into a temp file beside dest, then renamed: never a half-written archive.
            ctx.sh_ok(
                &format!(
                    "set -e\ntmp=$(mktemp {dir}/.drover-archive.XXXXXXXX)\n\
                     trap 'rm -f \"$tmp\"' EXIT\n{build} > \"$tmp\"\n\
                     chmod {:04o} \"$tmp\"\nmv -f \"$tmp\" {qd}\ntrap - EXIT",
                    if state.exists() { state.mode } else { 0o644 }
                ),
                &format!("writing {dest}"),
            )
            .await?;
        }
    }
    let attrs = super::filesystem::Attributes::from_args(&args)?;
    if !ctx.check || state.exists() {
        let now = path_state(ctx, &dest, true).await?;
        if now.exists() {
            let (fixes, _) = attrs.fix(&dest, &now);
            if !fixes.is_empty() {
                outcome.changed = true;
                if !ctx.check {
                    ctx.sh_ok(&fixes.join(" && "), "setting attributes").await?;
                }
            }
        }
    }
    Ok(outcome)
}

module!(Unarchive, UNARCHIVE, unarchive);

async fn unarchive(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let src = args.required_str("src")?;
    let dest = args.required_str("dest")?;
    // `copy: no` is the old spelling of `remote_src: yes`.
    let remote_src = args.bool("remote_src", false)? || !args.bool("copy", true)?;
    let extra: Vec<String> = args.list("extra_opts")?;
    let excludes = args.list("exclude")?;
    if src.ends_with(".zip") {
        return Err(ModuleError::Args {
            message: "unarchive: zip archives are not supported yet (tar, tar.gz, tar.bz2, \
                      tar.xz)"
                .to_string(),
        });
    }
    if src.contains("://") {
        return Err(ModuleError::Args {
            message: "unarchive: downloading `src` is not supported; use get_url first".to_string(),
        });
    }
    let mut outcome = Outcome::default();
    outcome.data.insert("dest".into(), json!(dest));
    outcome.data.insert("src".into(), json!(src));
    if let Some(creates) = args.str("creates")? {
        let exists = ctx.sh(&format!("[ -e {} ]", shell_quote(&creates))).await?;
        if exists.exit_status == Some(0) {
            outcome.msg = Some(format!("skipped, since {creates} exists"));
            return Ok(outcome);
        }
    }
    let dest_state = path_state(ctx, &dest, true).await?;
    if dest_state.kind != Kind::Directory {
        return Err(ModuleError::Remote {
            message: format!("dest '{dest}' must be an existing dir"),
        });
    }
    let conn = ctx.conn()?;
    // A local archive is streamed to a private temp file on the node first.
    let (archive, temp) = if remote_src {
        (src.clone(), None)
    } else {
        let local = find_local(ctx, "files", &src)?;
        let made = ctx
            .sh_ok(
                "umask 077 && mktemp \"${TMPDIR:-/tmp}/drover-unarchive.XXXXXXXX\"",
                "creating a temp file for the archive",
            )
            .await?;
        let remote = String::from_utf8_lossy(&made.stdout).trim().to_string();
        if let Err(e) = conn.upload_file(&local, &remote, Some(0o600)).await {
            let _ = ctx.sh(&format!("rm -f -- {}", shell_quote(&remote))).await;
            return Err(e.into());
        }
        (remote.clone(), Some(remote))
    };
    let result = extract(ctx, &archive, &dest, &extra, &excludes, &args, &mut outcome).await;
    if let Some(temp) = temp {
        let _ = ctx.sh(&format!("rm -f -- {}", shell_quote(&temp))).await;
    }
    result?;
    Ok(outcome)
}

async fn extract(
    ctx: &Context<'_>,
    archive: &str,
    dest: &str,
    extra: &[String],
    excludes: &[String],
    args: &Args,
    outcome: &mut Outcome,
) -> Result<(), ModuleError> {
    let qa = shell_quote(archive);
    let qd = shell_quote(dest);
    let mut opts = String::new();
    for e in excludes {
        opts.push_str(&format!(" --exclude={}", shell_quote(e)));
    }
    for o in extra {
        opts.push(' ');
        opts.push_str(&shell_quote(o));
    }
    let list = ctx
        .sh_ok(
            &format!("tar -tf {qa}{opts}"),
            &format!("reading {archive}"),
        )
        .await?;
    let files: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    if args.bool("list_files", false)? {
        outcome.data.insert("files".into(), json!(files));
    }
    // `tar --compare` (GNU) exits 0 when every member matches what is on disk (content,
    // mode, mtime, size) — Ansible's own test, without reading the files here.
    // Ownership differences are ignored: a non-root login cannot keep the archive's owners,
    // and would otherwise never be `ok`.
    let compare = ctx
        .sh(&format!("tar --compare -f {qa} -C {qd}{opts} 2>&1"))
        .await?;
    let same = String::from_utf8_lossy(&compare.stdout)
        .lines()
        .all(|l| l.ends_with("Uid differs") || l.ends_with("Gid differs"))
        && matches!(compare.exit_status, Some(0) | Some(1));
    if same {
        return Ok(());
    }
    outcome.changed = true;
    if ctx.check {
        return Ok(());
    }
    let keep = if args.bool("keep_newer", false)? {
        " --keep-newer-files"
    } else {
        ""
    };
    ctx.sh_ok(
        &format!("tar -xf {qa} -C {qd}{keep}{opts}"),
        &format!("extracting {archive} into {dest}"),
    )
    .await?;
    Ok(())
}

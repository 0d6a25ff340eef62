//! Modules that only read the node: `stat` (with checksum), `slurp` (a file, base64) and
//! `find` (files by name, age, size, type, content). They never change anything, so they run
//! the same in check mode and always report `ok`.

use super::filesystem::{Kind, PathState, path_state};
use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use crate::template::shell_quote;
use base64::Engine as _;
use serde_json::{Map, Value, json};

pub struct Stat;
pub struct Slurp;
pub struct Find;

static STAT: ModuleSpec = ModuleSpec {
    name: "stat",
    args: &[
        "path",
        "follow",
        "get_checksum",
        "checksum_algorithm",
        "get_mime",
        "get_attributes",
    ],
    required: &["path"],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

static SLURP: ModuleSpec = ModuleSpec {
    name: "slurp",
    args: &["src", "path"],
    required: &[],
    one_of: &[&["src", "path"]],
    free_form: false,
    local: false,
    any_args: false,
};

static FIND: ModuleSpec = ModuleSpec {
    name: "find",
    args: &[
        "paths",
        "path",
        "name",
        "patterns",
        "pattern",
        "excludes",
        "exclude",
        "contains",
        "file_type",
        "recurse",
        "hidden",
        "age",
        "age_stamp",
        "size",
        "use_regex",
        "depth",
        "follow",
        "get_checksum",
    ],
    required: &[],
    one_of: &[&["paths", "path", "name"]],
    free_form: false,
    local: false,
    any_args: false,
};

/// The command printing a file's checksum with Ansible's algorithm names.
pub(super) fn checksum_command(algorithm: &str) -> Result<&'static str, ModuleError> {
    Ok(match algorithm {
        "sha1" => "sha1sum",
        "sha224" => "sha224sum",
        "sha256" => "sha256sum",
        "sha384" => "sha384sum",
        "sha512" => "sha512sum",
        "md5" => "md5sum",
        other => {
            return Err(ModuleError::Args {
                message: format!(
                    "checksum algorithm `{other}` is not one of sha1, sha224, sha256, sha384, \
                     sha512, md5"
                ),
            });
        }
    })
}

/// The hex checksum of a remote file, streamed through the node's `*sum` tool.
pub(super) async fn remote_checksum(
    ctx: &Context<'_>,
    path: &str,
    algorithm: &str,
) -> Result<String, ModuleError> {
    let tool = checksum_command(algorithm)?;
    let out = ctx
        .sh_ok(
            &format!("{tool} < {}", shell_quote(path)),
            &format!("checksum of {path}"),
        )
        .await?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string())
}

fn stat_value(path: &str, s: &PathState) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("exists".into(), json!(true));
    m.insert("path".into(), json!(path));
    m.insert("mode".into(), json!(format!("{:04o}", s.mode)));
    m.insert("isdir".into(), json!(s.kind == Kind::Directory));
    m.insert("isreg".into(), json!(s.kind == Kind::File));
    m.insert("islnk".into(), json!(s.kind == Kind::Link));
    // The other file types and the special bits, from the whole st_mode (as Python's
    // stat.S_IS* and S_ISUID/S_ISGID).
    let file_type = s.raw_mode & 0o170_000;
    m.insert("isblk".into(), json!(file_type == 0o060_000));
    m.insert("ischr".into(), json!(file_type == 0o020_000));
    m.insert("isfifo".into(), json!(file_type == 0o010_000));
    m.insert("issock".into(), json!(file_type == 0o140_000));
    m.insert("isuid".into(), json!(s.raw_mode & 0o4000 != 0));
    m.insert("isgid".into(), json!(s.raw_mode & 0o2000 != 0));
    m.insert("uid".into(), json!(s.uid));
    m.insert("gid".into(), json!(s.gid));
    m.insert("pw_name".into(), json!(s.owner));
    m.insert("gr_name".into(), json!(s.group));
    m.insert("size".into(), json!(s.size));
    m.insert("mtime".into(), json!(s.mtime));
    m.insert("atime".into(), json!(s.atime));
    m.insert("ctime".into(), json!(s.ctime));
    m.insert("inode".into(), json!(s.inode));
    m.insert("nlink".into(), json!(s.nlink));
    m.insert("dev".into(), json!(s.dev));
    // Ansible's permission flags: rusr, wgrp, xoth…
    for (who, shift) in [("usr", 6), ("grp", 3), ("oth", 0)] {
        m.insert(format!("r{who}"), json!(s.mode >> shift & 0o4 != 0));
        m.insert(format!("w{who}"), json!(s.mode >> shift & 0o2 != 0));
        m.insert(format!("x{who}"), json!(s.mode >> shift & 0o1 != 0));
    }
    if let Some(target) = &s.target {
        m.insert("lnk_source".into(), json!(target));
        m.insert("lnk_target".into(), json!(target));
    }
    m
}

module!(Stat, STAT, stat);

async fn stat(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let path = args.required_str("path")?;
    let follow = args.bool("follow", false)?;
    let get_checksum = args.bool("get_checksum", true)?;
    let algorithm = args
        .str("checksum_algorithm")?
        .unwrap_or_else(|| "sha1".into());
    checksum_command(&algorithm)?;
    let state = path_state(ctx, &path, follow).await?;
    let mut outcome = Outcome::default();
    let value = if state.exists() {
        let mut m = stat_value(&path, &state);
        if get_checksum && state.kind == Kind::File {
            // An unreadable file has no checksum; stat itself still succeeds, as in Ansible.
            if let Ok(sum) = remote_checksum(ctx, &path, &algorithm).await {
                m.insert("checksum".into(), json!(sum));
            }
        }
        let get_mime = args.bool("get_mime", true)?;
        access_and_mime(ctx, &path, get_mime, &mut m).await?;
        Value::Object(m)
    } else {
        json!({"exists": false})
    };
    outcome.data.insert("stat".into(), value);
    Ok(outcome)
}

/// `readable`, `writeable`, `executable` for the user the task runs as, and (with
/// `get_mime`) `mimetype` and `charset` from `file -i`, as Ansible's stat reports them.
async fn access_and_mime(
    ctx: &Context<'_>,
    path: &str,
    get_mime: bool,
    m: &mut Map<String, Value>,
) -> Result<(), ModuleError> {
    let q = shell_quote(path);
    let mime = if get_mime {
        format!("file -i -b -- {q} 2>/dev/null || echo")
    } else {
        "echo".to_string()
    };
    let out = ctx
        .sh(&format!(
            "for t in r w x; do if [ -$t {q} ]; then echo 1; else echo 0; fi; done; {mime}"
        ))
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    for name in ["readable", "writeable", "executable"] {
        m.insert(name.into(), json!(lines.next() == Some("1")));
    }
    if get_mime && let Some(line) = lines.next().filter(|l| !l.trim().is_empty()) {
        let (mimetype, charset) = line.split_once(';').unwrap_or((line, ""));
        m.insert("mimetype".into(), json!(mimetype.trim()));
        let charset = charset
            .trim()
            .strip_prefix("charset=")
            .unwrap_or(charset.trim());
        m.insert("charset".into(), json!(charset));
    }
    Ok(())
}

module!(Slurp, SLURP, slurp);

async fn slurp(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let src = args.required_first(&["src", "path"])?;
    let bytes = ctx.conn()?.download(&src).await?;
    let mut outcome = Outcome::default();
    outcome.data.insert(
        "content".into(),
        json!(base64::engine::general_purpose::STANDARD.encode(&bytes)),
    );
    outcome.data.insert("encoding".into(), json!("base64"));
    outcome.data.insert("source".into(), json!(src));
    Ok(outcome)
}

/// `age`/`size` filters: `3d`, `-2h`, `10m` (a number with a unit; negative means "less").
fn with_unit(name: &str, text: &str, units: &[(char, f64)]) -> Result<f64, ModuleError> {
    let text = text.trim();
    let (number, unit) = match text.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => (&text[..text.len() - 1], c.to_ascii_lowercase()),
        _ => (text, units[0].0),
    };
    let factor = units
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, f)| *f)
        .ok_or_else(|| ModuleError::Args {
            message: format!("argument `{name}`: unknown unit `{unit}` in `{text}`"),
        })?;
    let n: f64 = number.parse().map_err(|_| ModuleError::Args {
        message: format!("argument `{name}`: `{text}` is not a number with a unit"),
    })?;
    Ok(n * factor)
}

module!(Find, FIND, find);

async fn find(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let mut paths = args.list("paths")?;
    for alias in ["path", "name"] {
        paths.extend(args.list(alias)?);
    }
    let mut patterns = args.list("patterns")?;
    patterns.extend(args.list("pattern")?);
    let mut excludes = args.list("excludes")?;
    excludes.extend(args.list("exclude")?);
    let use_regex = args.bool("use_regex", false)?;
    let file_type = args.choice("file_type", &["file", "directory", "link", "any"], "file")?;
    let recurse = args.bool("recurse", false)?;
    let hidden = args.bool("hidden", false)?;
    let follow = args.bool("follow", false)?;
    let depth = args.int("depth")?;
    let age_stamp = args.choice("age_stamp", &["mtime", "atime", "ctime"], "mtime")?;
    let age = match args.str("age")? {
        Some(a) => Some(with_unit(
            "age",
            &a,
            &[
                ('s', 1.0),
                ('m', 60.0),
                ('h', 3600.0),
                ('d', 86400.0),
                ('w', 604800.0),
            ],
        )?),
        None => None,
    };
    let size = match args.str("size")? {
        Some(s) => Some(with_unit(
            "size",
            &s,
            &[
                ('b', 1.0),
                ('k', 1024.0),
                ('m', 1048576.0),
                ('g', 1073741824.0),
                ('t', 1099511627776.0),
            ],
        )?),
        None => None,
    };
    let contains = match args.str("contains")? {
        Some(c) => Some(regex::Regex::new(&c).map_err(|e| ModuleError::Args {
            message: format!("argument `contains`: {e}"),
        })?),
        None => None,
    };
    let matcher = NameMatcher::new(&patterns, &excludes, use_regex)?;

    let max_depth = match (recurse, depth) {
        (false, _) => Some(1),
        (true, Some(d)) => Some(d),
        (true, None) => None,
    };
    let mut files = Vec::new();
    let mut examined = 0;
    for dir in &paths {
        let script = format!(
            "find {}{} -mindepth 1{} -printf '%y|%m|%s|%T@|%A@|%C@|%U|%G|%u|%g|%p\\0'",
            if follow { "-L " } else { "" },
            shell_quote(dir),
            max_depth
                .map(|d| format!(" -maxdepth {d}"))
                .unwrap_or_default(),
        );
        let out = ctx.sh(&script).await?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        for entry in out.stdout.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let text = String::from_utf8_lossy(entry);
            let f: Vec<&str> = text.splitn(11, '|').collect();
            let [
                kind,
                mode,
                bytes,
                mtime,
                atime,
                ctime,
                uid,
                gid,
                user,
                group,
                path,
            ] = f.as_slice()
            else {
                continue;
            };
            examined += 1;
            let name = path.rsplit('/').next().unwrap_or(path);
            let kind_ok = match file_type {
                "file" => *kind == "f",
                "directory" => *kind == "d",
                "link" => *kind == "l",
                _ => true,
            };
            // Hidden means the entry itself or a directory on the way down is a dotfile.
            let relative = path.strip_prefix(dir.as_str()).unwrap_or(path);
            let is_hidden = relative.split('/').any(|p| p.starts_with('.'));
            if !kind_ok || (is_hidden && !hidden) || !matcher.matches(name) {
                continue;
            }
            let bytes: f64 = bytes.parse().unwrap_or(0.0);
            if let Some(limit) = size
                && ((limit >= 0.0 && bytes < limit) || (limit < 0.0 && bytes > -limit))
            {
                continue;
            }
            let stamp: f64 = match age_stamp {
                "atime" => atime,
                "ctime" => ctime,
                _ => mtime,
            }
            .parse()
            .unwrap_or(0.0);
            if let Some(limit) = age {
                let seconds = now - stamp;
                if (limit >= 0.0 && seconds < limit) || (limit < 0.0 && seconds > -limit) {
                    continue;
                }
            }
            let mode = u32::from_str_radix(mode, 8).unwrap_or(0);
            files.push(json!({
                "path": path,
                "mode": format!("{mode:04o}"),
                "isdir": *kind == "d",
                "isreg": *kind == "f",
                "islnk": *kind == "l",
                "size": bytes as u64,
                "mtime": mtime.parse::<f64>().unwrap_or(0.0),
                "atime": atime.parse::<f64>().unwrap_or(0.0),
                "ctime": ctime.parse::<f64>().unwrap_or(0.0),
                "uid": uid.parse::<u64>().unwrap_or(0),
                "gid": gid.parse::<u64>().unwrap_or(0),
                "pw_name": user,
                "gr_name": group,
            }));
        }
    }
    if let Some(re) = contains {
        // Only regular files can contain text; read each candidate (they are usually few).
        let conn = ctx.conn()?;
        let mut kept = Vec::new();
        for file in files {
            let path = file["path"].as_str().unwrap_or_default().to_string();
            if file["isreg"] != json!(true) {
                continue;
            }
            if let Ok(bytes) = conn.download(&path).await
                && String::from_utf8_lossy(&bytes)
                    .lines()
                    .any(|l| re.is_match(l))
            {
                kept.push(file);
            }
        }
        files = kept;
    }
    let mut outcome = Outcome::default();
    outcome.data.insert("matched".into(), json!(files.len()));
    outcome.data.insert("examined".into(), json!(examined));
    outcome.data.insert("files".into(), Value::Array(files));
    Ok(outcome)
}

/// File-name patterns: shell globs (`*.log`), or regexes with `use_regex`; `excludes` win.
struct NameMatcher {
    include: Vec<Matcher>,
    exclude: Vec<Matcher>,
}

enum Matcher {
    Glob(glob::Pattern),
    Regex(regex::Regex),
}

impl Matcher {
    fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Glob(p) => p.matches(name),
            Matcher::Regex(r) => r.is_match(name),
        }
    }
}

impl NameMatcher {
    fn new(
        include: &[String],
        exclude: &[String],
        use_regex: bool,
    ) -> Result<NameMatcher, ModuleError> {
        let compile = |p: &String| -> Result<Matcher, ModuleError> {
            if use_regex {
                // Ansible matches the whole name (re.match on the basename, anchored).
                regex::Regex::new(&format!("^(?:{p})$"))
                    .map(Matcher::Regex)
                    .map_err(|e| ModuleError::Args {
                        message: format!("bad pattern `{p}`: {e}"),
                    })
            } else {
                glob::Pattern::new(p)
                    .map(Matcher::Glob)
                    .map_err(|e| ModuleError::Args {
                        message: format!("bad pattern `{p}`: {e}"),
                    })
            }
        };
        Ok(NameMatcher {
            include: include.iter().map(compile).collect::<Result<_, _>>()?,
            exclude: exclude.iter().map(compile).collect::<Result<_, _>>()?,
        })
    }

    fn matches(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|m| m.matches(name)))
            && !self.exclude.iter().any(|m| m.matches(name))
    }
}

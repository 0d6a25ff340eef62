//! `file`: make a path be a directory, a file, a symlink or a hard link, or be absent, with
//! the wanted mode and ownership. One shell round trip reads the path's state; the module
//! decides in Rust what must change (symbolic modes are resolved here, per path), runs only
//! those commands, and in check mode stops after the query. `state: directory` folds the
//! read and the creation of a missing directory into that one round trip. Also owns [`PathState`], the
//! node-side `stat` every file-shaped module starts from.

use super::mode::FileMode;
use super::{Args, Context, FileDiff, ModuleError, ModuleSpec, Outcome};
use crate::template::shell_quote;
use serde_json::{Map, json};

pub struct File;

static FILE: ModuleSpec = ModuleSpec {
    name: "file",
    args: &[
        "path",
        "dest",
        "name",
        "state",
        "mode",
        "owner",
        "group",
        "recurse",
        "src",
        "force",
        "follow",
        "modification_time",
        "access_time",
    ],
    required: &[],
    one_of: &[&["path", "dest", "name"]],
    free_form: false,
    local: false,
    any_args: false,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Absent,
    File,
    Directory,
    Link,
    /// A fifo, socket or device.
    Other,
}

impl Kind {
    pub(super) fn word(self) -> &'static str {
        match self {
            Kind::Absent => "absent",
            Kind::File => "file",
            Kind::Directory => "directory",
            Kind::Link => "link",
            Kind::Other => "other",
        }
    }
}

/// What the node has at a path, as `stat` reports it.
#[derive(Debug, Clone)]
pub(super) struct PathState {
    pub kind: Kind,
    pub mode: u32,
    pub owner: String,
    pub uid: u32,
    pub group: String,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    pub atime: i64,
    pub ctime: i64,
    pub inode: u64,
    pub nlink: u64,
    pub dev: u64,
    /// A symlink's target, as written.
    pub target: Option<String>,
    /// The whole `st_mode` (file type bits and setuid/setgid/sticky included).
    pub raw_mode: u32,
}

impl PathState {
    fn absent() -> PathState {
        PathState {
            kind: Kind::Absent,
            mode: 0,
            owner: String::new(),
            uid: 0,
            group: String::new(),
            gid: 0,
            size: 0,
            mtime: 0,
            atime: 0,
            ctime: 0,
            inode: 0,
            nlink: 0,
            dev: 0,
            target: None,
            raw_mode: 0,
        }
    }

    pub(super) fn exists(&self) -> bool {
        self.kind != Kind::Absent
    }

    /// Whether `want` (a user name or a numeric id) names this owner.
    fn owner_is(&self, want: &str) -> bool {
        want == self.owner || want == self.uid.to_string()
    }

    fn group_is(&self, want: &str) -> bool {
        want == self.group || want == self.gid.to_string()
    }
}

/// Reads the state of `path` in one round trip. With `follow`, a symlink is reported as what
/// it points to (a dangling one stays a link).
pub(super) async fn path_state(
    ctx: &Context<'_>,
    path: &str,
    follow: bool,
) -> Result<PathState, ModuleError> {
    let out = ctx.sh(&state_script(path, follow)).await?;
    parse_state(path, &out)
}

/// Runs `change`, then reads the state of `path` in the same round trip. Returns the state
/// and what `change` printed. A failing `change` is the task's failure, naming `what` and its
/// stderr.
async fn change_then_state(
    ctx: &Context<'_>,
    change: &str,
    what: &str,
    path: &str,
    follow: bool,
) -> Result<(PathState, String), ModuleError> {
    let script = format!(
        "{change} || exit $?\nprintf '\\n{STATE_MARK}\\n'\n{}",
        state_script(path, follow)
    );
    let mut out = ctx.sh(&script).await?;
    if out.exit_status != Some(0) {
        return Err(super::remote_failure(what, &out));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    split_state(path, &mut out, &text)
}

/// `text` (from `out`'s stdout) is what a change printed, [`STATE_MARK`], then the state of
/// `path`: returns that state and what was printed.
fn split_state(
    path: &str,
    out: &mut crate::transport::ExecOutput,
    text: &str,
) -> Result<(PathState, String), ModuleError> {
    let mark = format!("\n{STATE_MARK}\n");
    let (printed, state) = text.split_once(&mark).unwrap_or(("", text));
    out.stdout = state.as_bytes().to_vec();
    Ok((parse_state(path, out)?, printed.to_string()))
}

/// `state: directory` outside check mode in one round trip: creates `path` (and its missing
/// ancestors) only if nothing is there, then reads its state. Returns the state before and,
/// when it made the directory, the state after and what the creation printed.
async fn ensure_directory(
    ctx: &Context<'_>,
    path: &str,
    follow: bool,
) -> Result<(PathState, Option<(PathState, String)>), ModuleError> {
    let q = shell_quote(path);
    // Absent as `state_script` means it: neither a path nor a (dangling) link.
    let script = format!(
        "if [ ! -e {q} ] && [ ! -L {q} ]; then printf '%s\n' {CREATED_MARK}; {} || exit $?; \
         printf '\n{STATE_MARK}\n'; fi\n{}",
        mkdir_script(&q),
        state_script(path, follow)
    );
    let mut out = ctx.sh(&script).await?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let Some(made) = text.strip_prefix(&format!("{CREATED_MARK}\n")) else {
        return Ok((parse_state(path, &out)?, None));
    };
    if out.exit_status != Some(0) {
        return Err(super::remote_failure(&format!("directory {path}"), &out));
    }
    Ok((
        PathState::absent(),
        Some(split_state(path, &mut out, made)?),
    ))
}

/// Creates the directory `q` (shell-quoted) with `mkdir -p`, first printing it and each
/// missing ancestor (innermost first, NUL-terminated): Ansible gives every directory it
/// creates the task's mode, owner and group, not only the last one.
fn mkdir_script(q: &str) -> String {
    format!(
        "d={q}; while [ ! -e \"$d\" ] && [ ! -L \"$d\" ]; do \
         case $d in */*) ;; *) break ;; esac; \
         printf '%s\\0' \"$d\"; d=${{d%/*}}; [ -n \"$d\" ] || break; done; \
         mkdir -p -- {q}"
    )
}

/// The directories [`mkdir_script`] printed as missing, other than `path` itself.
fn ancestors(printed: &str, path: &str) -> Vec<String> {
    printed
        .split('\0')
        .filter(|d| !d.is_empty() && *d != path)
        .map(String::from)
        .collect()
}

/// Starts the output of a script that created the directory (see [`ensure_directory`]).
const CREATED_MARK: &str = "--drover-created--";

/// Separates what a change printed from the state read after it.
const STATE_MARK: &str = "--drover-state--";

/// The script [`parse_state`] reads: the kind of `path`, its `stat`, a link's target.
fn state_script(path: &str, follow: bool) -> String {
    let q = shell_quote(path);
    let (deref, follow_flag) = if follow { ("-L ", 1) } else { ("", 0) };
    format!(
        "p={q}\n\
         if [ -L \"$p\" ] && {{ [ {follow_flag} = 0 ] || [ ! -e \"$p\" ]; }}; then k=link; deref=\n\
         elif [ -d \"$p\" ]; then k=directory; deref='{deref}'\n\
         elif [ -f \"$p\" ]; then k=file; deref='{deref}'\n\
         elif [ -e \"$p\" ]; then k=other; deref='{deref}'\n\
         else echo absent; exit 0; fi\n\
         echo \"$k\"\n\
         stat $deref-c '%a|%U|%u|%G|%g|%s|%Y|%X|%Z|%i|%h|%d|%f' -- \"$p\" || exit 1\n\
         if [ \"$k\" = link ]; then readlink -- \"$p\"; fi\n"
    )
}

fn parse_state(path: &str, out: &crate::transport::ExecOutput) -> Result<PathState, ModuleError> {
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let unreadable = || ModuleError::Remote {
        message: format!(
            "cannot read the state of {path} on the host: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    };
    let kind = match lines.next() {
        Some("absent") => return Ok(PathState::absent()),
        Some("link") => Kind::Link,
        Some("directory") => Kind::Directory,
        Some("file") => Kind::File,
        Some("other") => Kind::Other,
        _ => return Err(unreadable()),
    };
    let fields: Vec<&str> = lines.next().unwrap_or_default().split('|').collect();
    let [
        mode,
        owner,
        uid,
        group,
        gid,
        size,
        mtime,
        atime,
        ctime,
        inode,
        nlink,
        dev,
        raw,
    ] = fields.as_slice()
    else {
        return Err(unreadable());
    };
    let num = |s: &str| s.parse::<u64>().map_err(|_| unreadable());
    Ok(PathState {
        kind,
        mode: u32::from_str_radix(mode, 8).map_err(|_| unreadable())?,
        owner: owner.to_string(),
        uid: num(uid)? as u32,
        group: group.to_string(),
        gid: num(gid)? as u32,
        size: num(size)?,
        mtime: mtime.parse().map_err(|_| unreadable())?,
        atime: atime.parse().map_err(|_| unreadable())?,
        ctime: ctime.parse().map_err(|_| unreadable())?,
        inode: num(inode)?,
        nlink: num(nlink)?,
        dev: num(dev)?,
        raw_mode: u32::from_str_radix(raw, 16).map_err(|_| unreadable())?,
        target: if kind == Kind::Link {
            lines.next().map(str::to_string)
        } else {
            None
        },
    })
}

/// The wanted mode and ownership of a path, from `mode`, `owner`, `group`.
pub(super) struct Attributes {
    pub mode: Option<FileMode>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl Attributes {
    pub(super) fn from_args(args: &Args) -> Result<Attributes, ModuleError> {
        Ok(Attributes {
            mode: args.file_mode("mode")?,
            owner: args.str("owner")?,
            group: args.str("group")?,
        })
    }

    /// The commands that give `state` these attributes (empty: nothing to do), and the mode
    /// it ends with.
    pub(super) fn fix(&self, path: &str, state: &PathState) -> (Vec<String>, u32) {
        let q = shell_quote(path);
        let mut commands = Vec::new();
        let is_link = state.kind == Kind::Link;
        let mode = match &self.mode {
            // A symlink's own mode means nothing on Linux; Ansible leaves it too.
            Some(want) if !is_link => want.resolve(state.mode, state.kind == Kind::Directory),
            _ => state.mode,
        };
        if mode != state.mode {
            commands.push(format!("chmod {mode:04o} -- {q}"));
        }
        let owner = self.owner.as_deref().filter(|o| !state.owner_is(o));
        let group = self.group.as_deref().filter(|g| !state.group_is(g));
        if owner.is_some() || group.is_some() {
            let spec = format!(
                "{}{}",
                owner.unwrap_or(""),
                group.map(|g| format!(":{g}")).unwrap_or_default()
            );
            let h = if is_link { "-h " } else { "" };
            commands.push(format!("chown {h}{} -- {q}", shell_quote(&spec)));
        }
        (commands, mode)
    }
}

module!(File, FILE, file);

const STATES: &[&str] = &["file", "directory", "absent", "touch", "link", "hard"];

async fn file(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let path = args.required_first(&["path", "dest", "name"])?;
    let path = path.trim_end_matches('/').to_string();
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    let attrs = Attributes::from_args(&args)?;
    let recurse = args.bool("recurse", false)?;
    let force = args.bool("force", false)?;
    let follow = args.bool("follow", true)?;
    let src = args.str("src")?;
    let preserve_times = |name: &str| -> Result<bool, ModuleError> {
        match args.str(name)?.as_deref() {
            None | Some("now") => Ok(false),
            Some("preserve") => Ok(true),
            Some(other) => Err(ModuleError::Args {
                message: format!(
                    "argument `{name}`: only `now` and `preserve` are supported, not `{other}`"
                ),
            }),
        }
    };
    let preserve = preserve_times("modification_time")? && preserve_times("access_time")?;

    let given_state = match args.str("state")? {
        None => None,
        Some(_) => Some(args.choice("state", STATES, "file")?),
    };
    let linkish = matches!(given_state, Some("link" | "hard" | "absent"));
    // `state: directory` reads, creates and reads again in one round trip.
    let (before, made) = if given_state == Some("directory") && !ctx.check {
        ensure_directory(ctx, &path, follow).await?
    } else {
        (path_state(ctx, &path, follow && !linkish).await?, None)
    };
    let state = given_state.unwrap_or(match before.kind {
        Kind::Directory => "directory",
        Kind::Link => "link",
        _ if recurse => "directory",
        _ => "file",
    });
    if recurse && state != "directory" {
        return Err(ModuleError::Args {
            message: "`recurse` needs `state: directory`".to_string(),
        });
    }
    if matches!(state, "link" | "hard") && src.is_none() {
        return Err(ModuleError::Args {
            message: format!("`state: {state}` needs `src`"),
        });
    }
    let q = shell_quote(&path);
    let fail = |message: String| Err(ModuleError::Remote { message });

    // First the path's existence and type; then its attributes.
    let mut create: Vec<String> = Vec::new();
    match state {
        "absent" if before.exists() => create.push(format!("rm -rf -- {q}")),
        "directory" => match before.kind {
            // Already made by `ensure_directory`, or to be made (check mode).
            Kind::Absent if made.is_none() => create.push(mkdir_script(&q)),
            Kind::Absent => {}
            Kind::Directory => {}
            other => {
                return fail(format!(
                    "{path} already exists as a {} (not a directory)",
                    other.word()
                ));
            }
        },
        "file" => match before.kind {
            Kind::Absent => {
                return fail(format!(
                    "file ({path}) is absent, cannot continue (use `state: touch` to create it)"
                ));
            }
            Kind::Directory => return fail(format!("{path} is a directory, not a file")),
            _ => {}
        },
        "touch" => {
            if before.kind == Kind::Directory && !preserve {
                create.push(format!("touch -c -- {q}"));
            } else if !before.exists() || !preserve {
                create.push(format!("touch -- {q}"));
            }
        }
        "link" => {
            let src = src.as_deref().unwrap_or_default();
            if before.kind != Kind::Link || before.target.as_deref() != Some(src) {
                match before.kind {
                    Kind::Absent | Kind::Link => {}
                    Kind::File | Kind::Other if force => create.push(format!("rm -f -- {q}")),
                    Kind::Directory if force => create.push(format!("rmdir -- {q}")),
                    other => {
                        return fail(format!(
                            "refusing to convert from {} to symlink for {path} (use `force: yes`)",
                            other.word()
                        ));
                    }
                }
                if !force {
                    // A relative target is relative to the link's directory.
                    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
                    let dir = if dir.is_empty() { "/" } else { dir };
                    let probe = ctx
                        .sh(&format!(
                            "cd {} && [ -e {} ]",
                            shell_quote(dir),
                            shell_quote(src)
                        ))
                        .await?;
                    if probe.exit_status != Some(0) {
                        return fail(format!(
                            "src file {src} does not exist (use `force: yes` to link anyway)"
                        ));
                    }
                }
                create.push(format!("ln -sfn -- {} {q}", shell_quote(src)));
            }
        }
        "hard" => {
            let src = src.as_deref().unwrap_or_default();
            let same = ctx
                .sh(&format!("[ {q} -ef {} ]", shell_quote(src)))
                .await?
                .exit_status
                == Some(0);
            if !same {
                if before.kind == Kind::Directory {
                    return fail(format!("{path} is a directory; cannot make it a hard link"));
                }
                create.push(format!("ln -f -- {} {q}", shell_quote(src)));
            }
        }
        _ => {}
    }

    let mut changed = !create.is_empty() || made.is_some();
    // The state after creation: re-read it, or in check mode assume what creation gives.
    let mut after = before.clone();
    let mut created_ancestors: Vec<String> = Vec::new();
    if let Some((state_after, printed)) = made {
        after = state_after;
        created_ancestors = ancestors(&printed, &path);
    } else if changed && !ctx.check {
        let (state_after, printed) = change_then_state(
            ctx,
            &create.join(" && "),
            &format!("{state} {path}"),
            &path,
            follow && !linkish,
        )
        .await?;
        after = state_after;
        if state == "directory" {
            created_ancestors = ancestors(&printed, &path);
        }
    } else if changed {
        after.kind = match state {
            "absent" => Kind::Absent,
            "directory" => Kind::Directory,
            "link" => Kind::Link,
            "touch" if before.exists() => before.kind,
            _ => Kind::File,
        };
        if !before.exists() {
            after.mode = if after.kind == Kind::Directory {
                0o755
            } else {
                0o644
            };
        }
        after.target = src.clone().filter(|_| state == "link");
    }

    let mut fixes = Vec::new();
    let mut final_mode = after.mode;
    if after.exists() || (ctx.check && state != "absent") {
        let (commands, mode) = attrs.fix(&path, &after);
        // A new ancestor was made as the leaf was (by the same mkdir): the same fix fits.
        for dir in &created_ancestors {
            fixes.extend(attrs.fix(dir, &after).0);
        }
        fixes.extend(commands);
        final_mode = mode;
        // In check mode a directory about to be created has nothing under it yet.
        if recurse && (before.exists() || !ctx.check) {
            fixes.extend(recurse_fixes(ctx, &path, &attrs).await?);
        }
    }
    if !fixes.is_empty() {
        changed = true;
        if !ctx.check {
            ctx.sh_ok(
                &fixes.join(" && "),
                &format!("setting attributes of {path}"),
            )
            .await?;
        }
    }

    let mut outcome = Outcome {
        changed,
        ..Outcome::default()
    };
    let data = &mut outcome.data;
    data.insert("path".into(), json!(path));
    data.insert("state".into(), json!(state));
    if state != "absent" {
        data.insert("mode".into(), json!(format!("{final_mode:04o}")));
        let owner = attrs.owner.clone().unwrap_or(after.owner.clone());
        let group = attrs.group.clone().unwrap_or(after.group.clone());
        data.insert("owner".into(), json!(owner));
        data.insert("group".into(), json!(group));
        data.insert("uid".into(), json!(after.uid));
        data.insert("gid".into(), json!(after.gid));
        data.insert("size".into(), json!(after.size));
    }
    if let Some(src) = &src {
        data.insert("src".into(), json!(src));
        data.insert("dest".into(), json!(path));
    }
    if changed && ctx.diff {
        let describe = |s: &PathState, mode: u32| -> String {
            let mut m = Map::new();
            m.insert("path".into(), json!(path));
            m.insert("state".into(), json!(s.kind.word()));
            if s.exists() && s.kind != Kind::Link {
                m.insert("mode".into(), json!(format!("{mode:04o}")));
            }
            if let Some(t) = &s.target {
                m.insert("src".into(), json!(t));
            }
            serde_json::to_string_pretty(&m).unwrap_or_default() + "\n"
        };
        outcome.diffs.push(FileDiff {
            path: path.clone(),
            before: Some(describe(&before, before.mode)),
            after: describe(&after, final_mode),
        });
    }
    Ok(outcome)
}

/// `recurse: yes`: the commands that give everything under `dir` the wanted attributes, or
/// none when every entry already has them (checked entry by entry, so the answer is truthful
/// for symbolic modes too).
async fn recurse_fixes(
    ctx: &Context<'_>,
    dir: &str,
    attrs: &Attributes,
) -> Result<Vec<String>, ModuleError> {
    if attrs.mode.is_none() && attrs.owner.is_none() && attrs.group.is_none() {
        return Ok(Vec::new());
    }
    let q = shell_quote(dir);
    let out = ctx
        .sh_ok(
            &format!("find {q} -mindepth 1 -printf '%m|%y|%u|%U|%g|%G\\0'"),
            &format!("listing {dir}"),
        )
        .await?;
    let mut mode_differs = false;
    let mut owner_differs = false;
    for entry in out.stdout.split(|b| *b == 0).filter(|e| !e.is_empty()) {
        let text = String::from_utf8_lossy(entry);
        let f: Vec<&str> = text.split('|').collect();
        let [mode, kind, owner, uid, group, gid] = f.as_slice() else {
            continue;
        };
        let current = u32::from_str_radix(mode, 8).unwrap_or(0);
        if let Some(want) = &attrs.mode
            && *kind != "l"
            && want.resolve(current, *kind == "d") != current
        {
            mode_differs = true;
        }
        if attrs
            .owner
            .as_deref()
            .is_some_and(|o| o != *owner && o != *uid)
            || attrs
                .group
                .as_deref()
                .is_some_and(|g| g != *group && g != *gid)
        {
            owner_differs = true;
        }
    }
    let mut commands = Vec::new();
    if mode_differs && let Some(mode) = &attrs.mode {
        let spec = match mode {
            FileMode::Octal(m) => format!("{m:04o}"),
            // chmod applies the umask to clauses without a class; Ansible does not.
            FileMode::Symbolic(s) => s
                .split(',')
                .map(|c| {
                    if c.starts_with(['+', '-', '=']) {
                        format!("a{c}")
                    } else {
                        c.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(","),
        };
        commands.push(format!("chmod -R {} -- {q}", shell_quote(&spec)));
    }
    if owner_differs {
        let spec = format!(
            "{}{}",
            attrs.owner.as_deref().unwrap_or(""),
            attrs
                .group
                .as_deref()
                .map(|g| format!(":{g}"))
                .unwrap_or_default()
        );
        commands.push(format!("chown -R {} -- {q}", shell_quote(&spec)));
    }
    Ok(commands)
}

//! Files between machines: `fetch` (node → control machine, streamed, skipped when the local
//! copy's checksum already matches, written atomically) and `get_url` (the node downloads
//! with its own `curl` or `wget`, into a temp file beside `dest`, checksum verified, renamed
//! into place only when the content differs).

use super::filesystem::{Attributes, Kind, path_state};
use super::inspect::remote_checksum;
use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use crate::template::shell_quote;
use serde_json::json;
use std::path::{Path, PathBuf};

pub struct Fetch;
pub struct GetUrl;

static FETCH: ModuleSpec = ModuleSpec {
    name: "fetch",
    args: &[
        "src",
        "dest",
        "flat",
        "fail_on_missing",
        "validate_checksum",
    ],
    required: &["src", "dest"],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

static GET_URL: ModuleSpec = ModuleSpec {
    name: "get_url",
    args: &[
        "url",
        "dest",
        "checksum",
        "force",
        "timeout",
        "headers",
        "mode",
        "owner",
        "group",
        "backup",
        "validate_certs",
        "url_username",
        "url_password",
        "tmp_dest",
        "ca_path",
        "client_cert",
        "client_key",
    ],
    required: &["url", "dest"],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

/// SHA-1 of a local file, read in chunks (never whole); None when it does not exist.
pub(super) async fn local_sha1(path: &Path) -> Result<Option<String>, ModuleError> {
    match super::sources::digest(path, false).await {
        Ok(digest) => Ok(Some(digest.sha1)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(super::tree::local_error(path, source)),
    }
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Ansible's layout: `dest/HOST/SRC` unless `flat` (then `dest`, or `dest/BASENAME` when
/// `dest` ends in `/`). A relative `dest` is relative to the playbook's directory.
fn fetch_dest(ctx: &Context<'_>, src: &str, dest: &str, flat: bool) -> PathBuf {
    let base = if Path::new(dest).is_absolute() {
        PathBuf::from(dest)
    } else {
        ctx.playbook_dir.join(dest)
    };
    if flat {
        if dest.ends_with('/') {
            base.join(src.rsplit('/').next().unwrap_or(src))
        } else {
            base
        }
    } else {
        base.join(ctx.host).join(src.trim_start_matches('/'))
    }
}

module!(Fetch, FETCH, fetch);

async fn fetch(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let src = args.required_str("src")?;
    let dest = args.required_str("dest")?;
    let flat = args.bool("flat", false)?;
    let fail_on_missing = args.bool("fail_on_missing", true)?;
    let validate = args.bool("validate_checksum", true)?;
    let local = fetch_dest(ctx, &src, &dest, flat);
    let mut outcome = Outcome::default();
    outcome
        .data
        .insert("dest".into(), json!(local.display().to_string()));
    outcome.data.insert("file".into(), json!(src));

    let state = path_state(ctx, &src, true).await?;
    match state.kind {
        Kind::File => {}
        Kind::Absent if !fail_on_missing => {
            outcome.msg = Some("the remote file does not exist, not transferring, ignored".into());
            return Ok(outcome);
        }
        Kind::Absent => {
            return Err(ModuleError::Remote {
                message: format!("the remote file {src} does not exist"),
            });
        }
        other => {
            return Err(ModuleError::Remote {
                message: format!("remote {src} is a {}, not a file", other.word()),
            });
        }
    }
    let remote_sum = remote_checksum(ctx, &src, "sha1").await?;
    outcome
        .data
        .insert("remote_checksum".into(), json!(remote_sum));
    let local_sum = local_sha1(&local).await?;
    outcome.data.insert("checksum".into(), json!(remote_sum));
    if local_sum.as_deref() == Some(remote_sum.as_str()) {
        return Ok(outcome);
    }
    outcome.changed = true;
    if ctx.check {
        return Ok(outcome);
    }
    let dir = local.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|source| ModuleError::Local {
            path: dir.display().to_string(),
            source,
        })?;
    // Into a temp file beside the destination, renamed only once complete and verified.
    let name = local
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fetched".into());
    let suffix: u64 = rand::random();
    let temp = dir.join(format!(".{name}.drover-tmp-{suffix:016x}"));
    let result = async {
        ctx.conn()?.download_to_file(&src, &temp).await?;
        if validate {
            let got = local_sha1(&temp).await?.unwrap_or_default();
            if got != remote_sum {
                return Err(ModuleError::Remote {
                    message: format!(
                        "checksum mismatch fetching {src}: the node has {remote_sum}, received \
                         {got}"
                    ),
                });
            }
        }
        tokio::fs::rename(&temp, &local)
            .await
            .map_err(|source| ModuleError::Local {
                path: local.display().to_string(),
                source,
            })
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&temp).await;
    }
    result?;
    Ok(outcome)
}

module!(GetUrl, GET_URL, get_url);

async fn get_url(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let url = args.required_str("url")?;
    let mut dest = args.required_str("dest")?;
    let force = args.bool("force", false)?;
    let timeout = args.float("timeout")?.unwrap_or(10.0);
    let attrs = Attributes::from_args(&args)?;
    let tls = Tls::from_args(&args)?;
    let checksum = match args.str("checksum")?.filter(|c| !c.is_empty()) {
        Some(c) => {
            let (algorithm, sum) = c.split_once(':').ok_or_else(|| ModuleError::Args {
                message: format!("checksum must be `algorithm:hex`, such as `sha256:…`, not {c}"),
            })?;
            super::inspect::checksum_command(algorithm)?;
            let sum = if sum.contains("://") {
                // `sha256:https://…/SHA256SUMS`: fetched by the node, as the file will be.
                let text = fetch_text(ctx, sum, &tls, timeout).await?;
                checksum_from_file(&text, &url).ok_or_else(|| ModuleError::Remote {
                    message: format!(
                        "the checksum file {sum} has no line for `{}`",
                        url_file_name(&url)
                    ),
                })?
            } else {
                sum.trim().to_ascii_lowercase()
            };
            Some((algorithm.to_string(), sum))
        }
        None => None,
    };

    let mut state = path_state(ctx, &dest, true).await?;
    if state.kind == Kind::Directory {
        let name = url
            .split(['?', '#'])
            .next()
            .unwrap_or(&url)
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .unwrap_or("index.html");
        dest = format!("{}/{name}", dest.trim_end_matches('/'));
        state = path_state(ctx, &dest, true).await?;
    }
    let mut outcome = Outcome::default();
    outcome.data.insert("url".into(), json!(url));
    outcome.data.insert("dest".into(), json!(dest));

    // Already there: with a checksum, when it matches; without one, unless `force`.
    let mut need = !state.exists();
    if state.exists() {
        if let Some((algorithm, sum)) = &checksum {
            need = remote_checksum(ctx, &dest, algorithm).await? != *sum;
        } else {
            need = force;
        }
    }
    if !need {
        outcome.msg = Some("file already exists".into());
        return finish_attrs(ctx, &dest, &attrs, &state, outcome).await;
    }
    if ctx.check {
        outcome.changed = true;
        return Ok(outcome);
    }

    let mut headers = String::new();
    if let Some(serde_json::Value::Object(map)) = args.0.get("headers") {
        for (k, v) in map {
            let v = v.as_str().map(str::to_string).unwrap_or(v.to_string());
            headers.push_str(&format!(" -H {}", shell_quote(&format!("{k}: {v}"))));
        }
    }
    let user = args.str("url_username")?;
    let password = args.str("url_password")?;
    let auth = match (&user, &password) {
        (Some(u), Some(p)) => format!(" -u {}", shell_quote(&format!("{u}:{p}"))),
        (Some(u), None) => format!(" -u {}", shell_quote(&format!("{u}:"))),
        _ => String::new(),
    };
    let dir = match dest.rsplit_once('/') {
        Some(("", _)) => "/".to_string(),
        Some((d, _)) => d.to_string(),
        None => ".".to_string(),
    };
    let qurl = shell_quote(&url);
    let t = timeout.ceil() as u64;
    // curl first (file:// and headers work), wget otherwise; the temp file sits beside
    // `dest` so the final mv is an atomic rename.
    let script = format!(
        "set -e\ntmp=$(mktemp {dir}/.drover-get_url.XXXXXXXX)\n\
         trap 'rm -f \"$tmp\"' EXIT\n\
         if command -v curl >/dev/null 2>&1; then curl -fsSL --max-time {t}{curl_tls}{headers}{auth} -o \"$tmp\" {qurl}\n\
         elif command -v wget >/dev/null 2>&1; then wget -q -T {t}{wget_tls} -O \"$tmp\" {qurl}\n\
         else echo 'neither curl nor wget is installed on the node' >&2; exit 127; fi\n\
         trap - EXIT\necho \"$tmp\"",
        dir = shell_quote(&dir),
        curl_tls = tls.curl(),
        wget_tls = tls.wget(),
    );
    let out = ctx
        .sh_ok(&script, &format!("downloading {url} on the node"))
        .await?;
    let temp = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let qtemp = shell_quote(&temp);
    let cleanup = format!("rm -f -- {qtemp}");
    let algorithm = checksum.as_ref().map(|(a, _)| a.as_str()).unwrap_or("sha1");
    let got = match remote_checksum(ctx, &temp, algorithm).await {
        Ok(sum) => sum,
        Err(e) => {
            let _ = ctx.sh(&cleanup).await;
            return Err(e);
        }
    };
    if let Some((_, want)) = &checksum
        && got != *want
    {
        let _ = ctx.sh(&cleanup).await;
        return Err(ModuleError::Remote {
            message: format!(
                "the checksum of {url} does not match: expected {algorithm}:{want}, got {got}"
            ),
        });
    }
    let same =
        state.exists() && remote_checksum(ctx, &dest, algorithm).await.ok() == Some(got.clone());
    outcome.data.insert("checksum_src".into(), json!(got));
    if same {
        let _ = ctx.sh(&cleanup).await;
        outcome.msg = Some("file already exists with the same content".into());
        return finish_attrs(ctx, &dest, &attrs, &state, outcome).await;
    }
    if args.bool("backup", false)? && state.exists() {
        let file = format!("{dest}.{}~", super::file::backup_stamp());
        ctx.sh_ok(
            &format!("cp -p {} {}", shell_quote(&dest), shell_quote(&file)),
            &format!("backup of {dest}"),
        )
        .await?;
        outcome.data.insert("backup_file".into(), json!(file));
    }
    // mktemp made it 0600; a new file gets the usual 0644 unless `mode` says otherwise.
    let mode = if state.exists() { state.mode } else { 0o644 };
    ctx.sh_ok(
        &format!(
            "chmod {mode:04o} -- {qtemp} && mv -f -- {qtemp} {}",
            shell_quote(&dest)
        ),
        &format!("moving the download to {dest}"),
    )
    .await?;
    outcome.changed = true;
    outcome.msg = Some("OK".into());
    let state = path_state(ctx, &dest, true).await?;
    finish_attrs(ctx, &dest, &attrs, &state, outcome).await
}

/// Applies `mode`/`owner`/`group` to `dest` (part of the same task's change).
async fn finish_attrs(
    ctx: &Context<'_>,
    dest: &str,
    attrs: &Attributes,
    state: &super::filesystem::PathState,
    mut outcome: Outcome,
) -> Result<Outcome, ModuleError> {
    if !state.exists() {
        return Ok(outcome);
    }
    let (fixes, mode) = attrs.fix(dest, state);
    outcome
        .data
        .insert("mode".into(), json!(format!("{mode:04o}")));
    if !fixes.is_empty() {
        outcome.changed = true;
        if !ctx.check {
            ctx.sh_ok(
                &fixes.join(" && "),
                &format!("setting attributes of {dest}"),
            )
            .await?;
        }
    }
    Ok(outcome)
}

/// `validate_certs`, `ca_path`, `client_cert`/`client_key`, as curl and wget options (paths
/// are the node's: it makes the request).
struct Tls {
    validate: bool,
    ca_path: Option<String>,
    client_cert: Option<String>,
    client_key: Option<String>,
}

impl Tls {
    fn from_args(args: &Args) -> Result<Tls, ModuleError> {
        Ok(Tls {
            validate: args.bool("validate_certs", true)?,
            ca_path: args.str("ca_path")?,
            client_cert: args.str("client_cert")?,
            client_key: args.str("client_key")?,
        })
    }

    fn curl(&self) -> String {
        let mut options = String::new();
        if !self.validate {
            options.push_str(" --insecure");
        }
        for (flag, value) in [
            ("--cacert", &self.ca_path),
            ("--cert", &self.client_cert),
            ("--key", &self.client_key),
        ] {
            if let Some(v) = value {
                options.push_str(&format!(" {flag} {}", shell_quote(v)));
            }
        }
        options
    }

    fn wget(&self) -> String {
        let mut options = String::new();
        if !self.validate {
            options.push_str(" --no-check-certificate");
        }
        for (flag, value) in [
            ("--ca-certificate", &self.ca_path),
            ("--certificate", &self.client_cert),
            ("--private-key", &self.client_key),
        ] {
            if let Some(v) = value {
                options.push_str(&format!(" {flag}={}", shell_quote(v)));
            }
        }
        options
    }
}

/// A small text file fetched by the node (a checksum list).
async fn fetch_text(
    ctx: &Context<'_>,
    url: &str,
    tls: &Tls,
    timeout: f64,
) -> Result<String, ModuleError> {
    let t = timeout.ceil() as u64;
    let q = shell_quote(url);
    let script = format!(
        "if command -v curl >/dev/null 2>&1; then curl -fsSL --max-time {t}{} {q}\n\
         elif command -v wget >/dev/null 2>&1; then wget -q -T {t}{} -O - {q}\n\
         else echo 'neither curl nor wget is installed on the node' >&2; exit 127; fi",
        tls.curl(),
        tls.wget()
    );
    let out = ctx
        .sh_ok(
            &script,
            &format!("fetching the checksum file {url} on the node"),
        )
        .await?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The last path segment of a URL (what checksum files name).
fn url_file_name(url: &str) -> &str {
    url.split(['?', '#'])
        .next()
        .unwrap_or(url)
        .rsplit('/')
        .next()
        .unwrap_or("")
}

/// The checksum for `url`'s file in a checksum list, as Ansible reads one: a lone hash, or
/// `HASH  NAME` lines (`*NAME` for binary mode, `./NAME`) matched by the URL's file name.
fn checksum_from_file(text: &str, url: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if let [only] = lines.as_slice()
        && only.split_whitespace().count() == 1
    {
        return Some(only.trim().to_ascii_lowercase());
    }
    let wanted = url_file_name(url);
    lines.iter().find_map(|line| {
        let mut parts = line.split_whitespace();
        let sum = parts.next()?;
        let name = parts.next()?;
        let name = name.trim_start_matches('*').trim_start_matches("./");
        (name == wanted).then(|| sum.to_ascii_lowercase())
    })
}

#[cfg(test)]
mod checksum_file_tests {
    use super::checksum_from_file;

    #[test]
    fn checksum_lists_are_matched_by_the_file_name() {
        let list = "aaa  other.tar.gz\nBBB *app-1.2.tar.gz\nccc  ./app-1.3.tar.gz\n";
        let sum = |url: &str| checksum_from_file(list, url);
        assert_eq!(sum("https://x/rel/app-1.2.tar.gz").as_deref(), Some("bbb"));
        assert_eq!(sum("https://x/app-1.3.tar.gz?dl=1").as_deref(), Some("ccc"));
        assert_eq!(sum("https://x/missing.tar.gz"), None);
        assert_eq!(
            checksum_from_file("deadbeef\n", "https://x/y").as_deref(),
            Some("deadbeef")
        );
    }
}

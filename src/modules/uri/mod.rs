//! `uri`: an HTTP(S) request — the health gate of verify phases. From the control machine by
//! default, through [`client`] (ureq with rustls, certificates validated unless
//! `validate_certs: false`); delegated to a node, through that node's curl ([`curl`]).
//! Reports `ok` (a request changes nothing drover can see); in check mode GET and HEAD still
//! run, other methods are skipped.

use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use base64::Engine as _;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct Uri;

static URI: ModuleSpec = ModuleSpec {
    name: "uri",
    args: &[
        "url",
        "method",
        "body",
        "body_format",
        "headers",
        "status_code",
        "return_content",
        "timeout",
        "follow_redirects",
        "validate_certs",
        "url_username",
        "url_password",
        "user",
        "password",
        "force_basic_auth",
        "ca_path",
        "client_cert",
        "client_key",
        "use_proxy",
    ],
    required: &["url"],
    one_of: &[],
    free_form: false,
    local: true,
    any_args: false,
};

mod client;
mod curl;

/// Which redirects are followed (Ansible's `follow_redirects`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Follow {
    None,
    /// Only for GET and HEAD (the default).
    Safe,
    All,
}

#[derive(Debug, Clone)]
struct Tls {
    validate: bool,
    ca_path: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
}

/// One request, as the task's arguments describe it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Duration,
    follow: Follow,
    tls: Tls,
    /// `use_proxy: false`: ignore `https_proxy` and the like.
    use_proxy: bool,
}

struct Response {
    status: u16,
    reason: String,
    /// Header names lower-cased, in order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The URL that answered (after redirects).
    url: String,
    redirects: u32,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `http://` and `https://` only; caught before anything is sent.
fn check_url(url: &str) -> Result<(), ModuleError> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(ModuleError::Args {
            message: format!("uri: the URL must start with http:// or https://: {url}"),
        });
    }
    Ok(())
}

/// `status_code`: one code or a list; default 200.
fn wanted_codes(args: &Args) -> Result<Vec<u16>, ModuleError> {
    let codes = args.list("status_code")?;
    if codes.is_empty() {
        return Ok(vec![200]);
    }
    codes
        .iter()
        .map(|c| {
            c.trim().parse().map_err(|_| ModuleError::Args {
                message: format!("argument `status_code`: `{c}` is not an HTTP status"),
            })
        })
        .collect()
}

module!(Uri, URI, uri, runs_on_delegate);

async fn uri(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let url = args.required_str("url")?;
    check_url(&url)?;
    let method = args
        .str("method")?
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    let codes = wanted_codes(&args)?;
    let return_content = args.bool("return_content", false)?;
    let timeout = Duration::from_secs_f64(args.float("timeout")?.unwrap_or(30.0).max(0.001));
    let follow = match args.0.get("follow_redirects") {
        None | Some(Value::Null) => Follow::Safe,
        Some(Value::Bool(true)) => Follow::All,
        Some(Value::Bool(false)) => Follow::None,
        Some(_) => match args.choice(
            "follow_redirects",
            &["all", "yes", "safe", "urllib2", "none", "no"],
            "safe",
        )? {
            "all" | "yes" => Follow::All,
            "none" | "no" => Follow::None,
            _ => Follow::Safe,
        },
    };
    let body_format = args.choice("body_format", &["raw", "json", "form-urlencoded"], "raw")?;
    let mut headers: Vec<(String, String)> = Vec::new();
    match args.0.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                headers.push((
                    k.clone(),
                    v.as_str().map(str::to_string).unwrap_or(v.to_string()),
                ));
            }
        }
        Some(other) => {
            return Err(ModuleError::Args {
                message: format!("argument `headers` must be a mapping, not {other}"),
            });
        }
    }
    let has_content_type = |headers: &[(String, String)]| {
        headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    };
    let body: Vec<u8> = match (args.0.get("body"), body_format) {
        (None | Some(Value::Null), _) => Vec::new(),
        (Some(v), "json") => {
            if !has_content_type(&headers) {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            match v {
                // A string is taken as JSON text already, as Ansible does.
                Value::String(s) => s.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            }
        }
        (Some(Value::Object(map)), "form-urlencoded") => {
            if !has_content_type(&headers) {
                headers.push((
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ));
            }
            map.iter()
                .map(|(k, v)| {
                    let v = v.as_str().map(str::to_string).unwrap_or(v.to_string());
                    format!("{}={}", form_encode(k), form_encode(&v))
                })
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes()
        }
        (Some(Value::String(s)), _) => s.clone().into_bytes(),
        (Some(other), _) => other.to_string().into_bytes(),
    };
    let user = args.first_str(&["url_username", "user"])?;
    let password = args.first_str(&["url_password", "password"])?;
    if let Some(user) = &user {
        // Sent up front, as Ansible does with force_basic_auth (drover never waits for a 401).
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.as_deref().unwrap_or("")));
        headers.push(("Authorization".into(), format!("Basic {token}")));
    }
    let path = |name: &str| -> Result<Option<PathBuf>, ModuleError> {
        Ok(args.str(name)?.map(PathBuf::from))
    };
    let tls = Tls {
        validate: args.bool("validate_certs", true)?,
        ca_path: path("ca_path")?,
        client_cert: path("client_cert")?,
        client_key: path("client_key")?,
    };
    if tls.client_key.is_some() && tls.client_cert.is_none() {
        return Err(ModuleError::Args {
            message: "argument `client_key` needs `client_cert`".into(),
        });
    }
    if ctx.check && !matches!(method.as_str(), "GET" | "HEAD") {
        return Ok(Outcome {
            skipped: true,
            msg: Some(format!("{method} skipped in check mode")),
            ..Outcome::default()
        });
    }
    let request = Request {
        method,
        url: url.clone(),
        headers,
        body,
        timeout,
        follow,
        tls,
        use_proxy: args.bool("use_proxy", true)?,
    };

    let started = Instant::now();
    // Delegated to a node: its curl makes the request; otherwise the control machine does.
    let sent = match ctx.conn {
        Some(conn) if !conn.is_local() => curl::send(conn, &request).await,
        _ => {
            let request = request.clone();
            // The deadline is ureq's; this one only guards against a stuck resolver.
            let limit = request.timeout + Duration::from_secs(5);
            let work = tokio::task::spawn_blocking(move || client::send(&request));
            match tokio::time::timeout(limit, work).await {
                Ok(Ok(result)) => result,
                Ok(Err(e)) => Err(format!("the request's thread failed: {e}")),
                Err(_) => Err(format!(
                    "timed out after {:.1}s",
                    request_timeout(limit).as_secs_f64()
                )),
            }
        }
    };
    let response = match sent {
        Ok(response) => response,
        Err(e) => {
            let mut outcome = Outcome::failed(format!(
                "Status code was -1 and not {codes:?}: Request failed: {e}"
            ));
            outcome.data.insert("status".into(), json!(-1));
            outcome.data.insert("url".into(), json!(url));
            outcome
                .data
                .insert("elapsed".into(), json!(started.elapsed().as_secs()));
            return Ok(outcome);
        }
    };

    let mut outcome = Outcome::default();
    let data = &mut outcome.data;
    data.insert("status".into(), json!(response.status));
    data.insert("url".into(), json!(response.url));
    data.insert("redirected".into(), json!(response.redirects > 0));
    data.insert("elapsed".into(), json!(started.elapsed().as_secs()));
    data.insert(
        "msg".into(),
        json!(format!("OK ({} bytes)", response.body.len())),
    );
    for (k, v) in &response.headers {
        // Ansible exposes headers lower-cased with `-` as `_` (content_type).
        data.entry(k.replace('-', "_")).or_insert(json!(v));
    }
    let text = String::from_utf8_lossy(&response.body).into_owned();
    let is_json = response
        .header("content-type")
        .is_some_and(|t| t.contains("json"));
    if is_json && let Ok(parsed) = serde_json::from_str::<Value>(&text) {
        data.insert("json".into(), parsed);
    }
    if return_content {
        data.insert("content".into(), json!(text));
    }
    if !codes.contains(&response.status) {
        outcome.failed = true;
        outcome.msg = Some(format!(
            "Status code was {} and not {codes:?}: HTTP Error {}: {}",
            response.status, response.status, response.reason
        ));
    }
    Ok(outcome)
}

fn request_timeout(limit: Duration) -> Duration {
    limit.saturating_sub(Duration::from_secs(5))
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_are_taken() {
        assert!(check_url("https://example.com/").is_ok());
        assert!(check_url("HTTP://example.com").is_ok());
        assert!(check_url("ftp://example.com/").is_err());
        assert!(check_url("example.com").is_err());
    }
}

//! `uri`: an HTTP request from the control machine — the health gate of verify phases. A small
//! HTTP/1.1 client over `tokio::net::TcpStream` (one request per connection, `Content-Length`
//! and chunked bodies, redirects for GET/HEAD): plain `http://` only; `https://` fails with a
//! clear message until drover grows TLS. Reports `ok` (a request changes nothing drover can
//! see); in check mode GET and HEAD still run, other methods are skipped.

use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    ],
    required: &["url"],
    one_of: &[],
    free_form: false,
    local: true,
    any_args: false,
};

/// Responses larger than this are refused: a health endpoint is small, and the body is kept.
const MAX_BODY: usize = 16 * 1024 * 1024;
const MAX_REDIRECTS: usize = 5;

struct Url {
    host: String,
    port: u16,
    /// Path and query, starting with `/`.
    target: String,
}

fn parse_url(url: &str) -> Result<Url, ModuleError> {
    let bad = |why: &str| ModuleError::Args {
        message: format!("uri: {why}: {url}"),
    };
    if url.starts_with("https://") {
        return Err(bad(
            "https is not supported yet (drover's HTTP client speaks plain http only)",
        ));
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("the URL must start with http://"))?;
    let (authority, target) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let target = target.split('#').next().unwrap_or("/").to_string();
    if authority.contains('@') {
        return Err(bad(
            "credentials in the URL are not supported; use url_username",
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, p) = v6.split_once(']').ok_or_else(|| bad("bad IPv6 address"))?;
        (h.to_string(), p.strip_prefix(':').unwrap_or(""))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p),
            None => (authority.to_string(), ""),
        }
    };
    let port = if port.is_empty() {
        80
    } else {
        port.parse().map_err(|_| bad("bad port"))?
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(Url { host, port, target })
}

struct Response {
    status: u16,
    reason: String,
    /// Header names lower-cased, in order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn request(
    url: &Url,
    method: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Response, String> {
    let mut stream = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("cannot connect to {}:{}: {e}", url.host, url.port))?;
    let host_header = if url.port == 80 {
        url.host.clone()
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\
         User-Agent: drover/{}\r\nAccept-Encoding: identity\r\n",
        url.target,
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    stream
        .write_all(body)
        .await
        .map_err(|e| format!("sending the body: {e}"))?;

    // Read the head, then the body by its framing.
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(i) = find(&buffer, b"\r\n\r\n") {
            break i;
        }
        if buffer.len() > 64 * 1024 {
            return Err("response headers too large".into());
        }
        let mut chunk = [0u8; 8192];
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the response: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection before answering".into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut rest = buffer[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1.x response: {status_line}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {status_line}"))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let no_body =
        method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status);
    let chunked =
        get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length: Option<usize> = get("content-length").and_then(|v| v.parse().ok());
    if !no_body {
        // Read to the end (Connection: close), bounded.
        loop {
            if let Some(n) = length
                && !chunked
                && rest.len() >= n
            {
                rest.truncate(n);
                break;
            }
            if rest.len() > MAX_BODY {
                return Err(format!("response body larger than {MAX_BODY} bytes"));
            }
            let mut chunk = [0u8; 16384];
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("reading the body: {e}"))?;
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
    }
    let body = if no_body {
        Vec::new()
    } else if chunked {
        dechunk(&rest)?
    } else {
        rest
    };
    Ok(Response {
        status,
        reason,
        headers,
        body,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n").ok_or("truncated chunked body")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
        let size = usize::from_str_radix(&size_text, 16)
            .map_err(|_| format!("bad chunk size `{size_text}`"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size {
            return Err("truncated chunked body".into());
        }
        out.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or(&[]);
    }
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

module!(Uri, URI, uri);

async fn uri(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let url_text = args.required_str("url")?;
    let method = args
        .str("method")?
        .unwrap_or_else(|| "GET".into())
        .to_ascii_uppercase();
    let mut url = parse_url(&url_text)?;
    let codes = wanted_codes(&args)?;
    let return_content = args.bool("return_content", false)?;
    let timeout = Duration::from_secs_f64(args.float("timeout")?.unwrap_or(30.0).max(0.001));
    let follow = match args.0.get("follow_redirects") {
        None | Some(Value::Null) => "safe".to_string(),
        Some(Value::Bool(true)) => "all".to_string(),
        Some(Value::Bool(false)) => "none".to_string(),
        Some(_) => args.str("follow_redirects")?.unwrap_or_default(),
    };
    let body_format = args.choice("body_format", &["raw", "json", "form-urlencoded"], "raw")?;
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(map)) = args.0.get("headers") {
        for (k, v) in map {
            headers.push((
                k.clone(),
                v.as_str().map(str::to_string).unwrap_or(v.to_string()),
            ));
        }
    }
    let body: Vec<u8> = match (args.0.get("body"), body_format) {
        (None | Some(Value::Null), _) => Vec::new(),
        (Some(v), "json") => {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            match v {
                Value::String(s) => s.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            }
        }
        (Some(Value::Object(map)), "form-urlencoded") => {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
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
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.as_deref().unwrap_or("")));
        headers.push(("Authorization".into(), format!("Basic {token}")));
    }
    if ctx.check && !matches!(method.as_str(), "GET" | "HEAD") {
        return Ok(Outcome {
            skipped: true,
            msg: Some(format!("{method} skipped in check mode")),
            ..Outcome::default()
        });
    }

    let started = Instant::now();
    let mut current = url_text.clone();
    let mut redirected = false;
    let mut redirects = 0;
    let response = loop {
        let attempt = tokio::time::timeout(timeout, request(&url, &method, &headers, &body)).await;
        let response = match attempt {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let mut outcome = Outcome::failed(format!(
                    "Status code was -1 and not {codes:?}: Request failed: {e}"
                ));
                outcome.data.insert("status".into(), json!(-1));
                outcome.data.insert("url".into(), json!(current));
                return Ok(outcome);
            }
            Err(_) => {
                let mut outcome = Outcome::failed(format!(
                    "Status code was -1 and not {codes:?}: Request failed: timed out after {:.1}s",
                    timeout.as_secs_f64()
                ));
                outcome.data.insert("status".into(), json!(-1));
                outcome.data.insert("url".into(), json!(current));
                return Ok(outcome);
            }
        };
        let may_follow = match follow.as_str() {
            "all" | "yes" => true,
            "safe" | "urllib2" => matches!(method.as_str(), "GET" | "HEAD"),
            _ => false,
        };
        if (300..400).contains(&response.status)
            && may_follow
            && let Some(location) = response.header("location")
        {
            let next = if location.starts_with("http://") || location.starts_with("https://") {
                location.to_string()
            } else if location.starts_with('/') {
                format!("http://{}:{}{location}", url.host, url.port)
            } else {
                break response;
            };
            redirects += 1;
            if redirects > MAX_REDIRECTS {
                break response;
            }
            redirected = true;
            url = parse_url(&next)?;
            current = next;
            continue;
        }
        break response;
    };

    let mut outcome = Outcome::default();
    let data = &mut outcome.data;
    data.insert("status".into(), json!(response.status));
    data.insert("url".into(), json!(current));
    data.insert("redirected".into(), json!(redirected));
    data.insert("elapsed".into(), json!(started.elapsed().as_secs()));
    data.insert(
        "msg".into(),
        json!(format!("OK ({} bytes)", response.body.len())),
    );
    let mut header_map = Map::new();
    for (k, v) in &response.headers {
        // Ansible exposes headers lower-cased with `-` as `_` (content_type).
        header_map.insert(k.replace('-', "_"), json!(v));
    }
    for (k, v) in header_map {
        data.entry(k).or_insert(v);
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
    fn urls_split_into_host_port_and_target() {
        let u = parse_url("http://127.0.0.1:8080/health?x=1").ok();
        let u = u.as_ref();
        assert_eq!(u.map(|u| u.host.as_str()), Some("127.0.0.1"));
        assert_eq!(u.map(|u| u.port), Some(8080));
        assert_eq!(u.map(|u| u.target.as_str()), Some("/health?x=1"));
        assert!(parse_url("https://example.com/").is_err());
        assert_eq!(
            parse_url("http://example.com").map(|u| u.port).ok(),
            Some(80)
        );
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n").ok(),
            Some(b"Wikipedia".to_vec())
        );
    }
}

//! `uri` delegated to a node (`delegate_to: web1`): the request is made there, by the node's
//! `curl`, so a health check sees what that node sees (an endpoint bound to its loopback, its
//! resolver, its firewall). Headers — which may carry credentials — and the body reach curl
//! through stdin and a private temp file, never the command line. Paths (`ca_path`,
//! `client_cert`, `client_key`) are the node's, as when Ansible runs the module there.

use super::{Follow, Request, Response, client::MAX_REDIRECTS};
use crate::template::shell_quote;
use crate::transport::Connection;

pub(super) async fn send(conn: &Connection, request: &Request) -> Result<Response, String> {
    let mut headers = String::new();
    for (name, value) in &request.headers {
        if name.contains(['\r', '\n']) || value.contains(['\r', '\n']) {
            return Err(format!("header `{name}` holds a line break"));
        }
        headers.push_str(&format!("{name}: {value}\n"));
    }
    let mut options = vec![
        "--silent".to_string(),
        "--show-error".into(),
        "--max-time".into(),
        format!("{:.3}", request.timeout.as_secs_f64()),
        "--dump-header".into(),
        "\"$d/h\"".into(),
        "--output".into(),
        "\"$d/b\"".into(),
        "--write-out".into(),
        "'%{http_code} %{num_redirects} %{url_effective}'".into(),
        "-H".into(),
        "@\"$d/q\"".into(),
    ];
    if request.method == "HEAD" {
        options.push("--head".into());
    } else {
        options.push("--request".into());
        options.push(shell_quote(&request.method));
    }
    if !request.body.is_empty() {
        options.push("--data-binary".into());
        options.push("@\"$d/in\"".into());
    }
    let follow = match request.follow {
        Follow::None => false,
        Follow::Safe => matches!(request.method.as_str(), "GET" | "HEAD"),
        Follow::All => true,
    };
    if follow {
        options.push("--location".into());
        options.push(format!("--max-redirs {MAX_REDIRECTS}"));
    }
    if !request.use_proxy {
        options.push("--noproxy '*'".into());
    }
    let tls = &request.tls;
    if !tls.validate {
        options.push("--insecure".into());
    }
    for (flag, path) in [
        ("--cacert", &tls.ca_path),
        ("--cert", &tls.client_cert),
        ("--key", &tls.client_key),
    ] {
        if let Some(path) = path {
            options.push(flag.into());
            options.push(shell_quote(&path.to_string_lossy()));
        }
    }
    // stdin: the header file (its length first), then the body.
    let mut stdin = format!("{}\n", headers.len()).into_bytes();
    stdin.extend_from_slice(headers.as_bytes());
    stdin.extend_from_slice(&request.body);
    let script = format!(
        "command -v curl >/dev/null 2>&1 || {{ echo 'the node has no curl' >&2; exit 127; }}\n\
         d=$(mktemp -d) || exit 1; trap 'rm -rf \"$d\"' EXIT; umask 077\n\
         read -r n; dd bs=1 count=\"$n\" of=\"$d/q\" 2>/dev/null; cat > \"$d/in\"\n\
         w=$(curl {} -- {}) || exit $?\n\
         printf '%s\\n' \"$w\"; wc -c < \"$d/h\"; cat \"$d/h\" \"$d/b\"\n",
        options.join(" "),
        shell_quote(&request.url),
    );
    let out = conn
        .sh(&script, Some(stdin))
        .await
        .map_err(|e| e.to_string())?;
    if out.exit_status != Some(0) {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(if stderr.is_empty() {
            format!("curl on {} exited with {:?}", conn.host(), out.exit_status)
        } else {
            format!("on {}: {stderr}", conn.host())
        });
    }
    parse(&out.stdout)
}

/// `CODE REDIRECTS URL\nHEADER_BYTES\n` + the header dump (every response's, when redirects
/// were followed) + the last response's body.
fn parse(stdout: &[u8]) -> Result<Response, String> {
    let bad = || "curl's output was not understood".to_string();
    let (first, rest) = split_line(stdout).ok_or_else(bad)?;
    let (length, rest) = split_line(rest).ok_or_else(bad)?;
    let first = String::from_utf8_lossy(first).into_owned();
    let mut words = first.splitn(3, ' ');
    let status: u16 = words.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let redirects: u32 = words.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let url = words.next().unwrap_or("").to_string();
    let length: usize = String::from_utf8_lossy(length)
        .trim()
        .parse()
        .map_err(|_| bad())?;
    if rest.len() < length {
        return Err(bad());
    }
    let dump = String::from_utf8_lossy(&rest[..length]).into_owned();
    let body = rest[length..].to_vec();
    // The last response's head: the last block that starts with a status line.
    let head = dump
        .split("\r\n\r\n")
        .filter(|block| block.trim_start().starts_with("HTTP/"))
        .last()
        .unwrap_or("");
    let mut lines = head.trim_start().lines();
    let reason = lines
        .next()
        .and_then(|l| l.splitn(3, ' ').nth(2))
        .unwrap_or("")
        .trim()
        .to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        reason,
        headers,
        body,
        url,
        redirects,
    })
}

fn split_line(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = data.iter().position(|b| *b == b'\n')?;
    Some((&data[..i], &data[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn the_last_response_of_a_redirect_chain_is_read() {
        let dump = "HTTP/1.1 302 Found\r\nLocation: /b\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n";
        let out = format!("200 1 https://x/b\n{}\n{dump}{{\"a\":1}}", dump.len());
        let response = parse(out.as_bytes()).ok();
        let response = response.as_ref();
        assert_eq!(response.map(|r| r.status), Some(200));
        assert_eq!(response.map(|r| r.redirects), Some(1));
        assert_eq!(response.map(|r| r.reason.as_str()), Some("OK"));
        assert_eq!(
            response.and_then(|r| r.header("content-type")),
            Some("application/json")
        );
        assert_eq!(response.map(|r| r.body.as_slice()), Some(&b"{\"a\":1}"[..]));
    }
}

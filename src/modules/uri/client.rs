//! `uri`'s HTTP client on the control machine: ureq 3 over rustls (ring). Certificates are
//! checked against the system's CA store by default (rustls-platform-verifier reads it, and
//! `SSL_CERT_FILE`/`SSL_CERT_DIR`), against `ca_path` alone when given (Python's
//! `create_default_context(cafile=…)`, which Ansible uses), or not at all with
//! `validate_certs: false`. Redirects are followed here rather than by ureq, so the `safe`
//! policy, the final `url` and `redirected` are Ansible's. Blocking: run it on tokio's
//! blocking pool.

use super::{Follow, Request, Response};
use std::time::Duration;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// Responses larger than this are refused: a health endpoint is small, and the body is kept.
const MAX_BODY: u64 = 16 * 1024 * 1024;
/// Python's urllib stops after 10 redirects; so does Ansible.
pub(super) const MAX_REDIRECTS: u32 = 10;

pub(super) fn send(request: &Request) -> Result<Response, String> {
    let agent = agent(request)?;
    let mut method = request.method.clone();
    let mut body = request.body.clone();
    let mut url = request.url.clone();
    let mut redirects = 0;
    loop {
        let response = once(&agent, request, &method, &url, &body)?;
        let location = response.header("location").map(str::to_string);
        let follow = match request.follow {
            Follow::None => false,
            Follow::Safe => matches!(method.as_str(), "GET" | "HEAD"),
            Follow::All => true,
        };
        let Some(location) = location.filter(|_| follow && (300..400).contains(&response.status))
        else {
            return Ok(Response {
                url,
                redirects,
                ..response
            });
        };
        if redirects >= MAX_REDIRECTS {
            return Ok(Response {
                url,
                redirects,
                ..response
            });
        }
        redirects += 1;
        // As urllib (and browsers): 303, and 301/302 after a POST, become a GET without body;
        // 307/308 repeat the request as it was.
        if response.status == 303
            || (matches!(response.status, 301 | 302) && method != "GET" && method != "HEAD")
        {
            method = "GET".into();
            body = Vec::new();
        }
        url = join(&url, &location);
    }
}

fn agent(request: &Request) -> Result<ureq::Agent, String> {
    let tls = &request.tls;
    let mut builder = TlsConfig::builder();
    if !tls.validate {
        builder = builder.disable_verification(true);
    } else if let Some(ca) = &tls.ca_path {
        let pem = std::fs::read(ca).map_err(|e| format!("ca_path {}: {e}", ca.display()))?;
        let certs = certificates(&pem);
        if certs.is_empty() {
            return Err(format!(
                "ca_path {}: no PEM certificate in the file",
                ca.display()
            ));
        }
        builder = builder.root_certs(RootCerts::new_with_certs(&certs));
    } else {
        builder = builder.root_certs(RootCerts::PlatformVerifier);
    }
    if let Some(cert) = &tls.client_cert {
        let pem =
            std::fs::read(cert).map_err(|e| format!("client_cert {}: {e}", cert.display()))?;
        let chain = certificates(&pem);
        if chain.is_empty() {
            return Err(format!(
                "client_cert {}: no PEM certificate in the file",
                cert.display()
            ));
        }
        // Ansible takes the key from the certificate file when `client_key` is not given.
        let (key_file, key_pem) = match &tls.client_key {
            Some(path) => (
                path,
                std::fs::read(path).map_err(|e| format!("client_key {}: {e}", path.display()))?,
            ),
            None => (cert, pem.clone()),
        };
        let key = private_key(&key_pem).ok_or_else(|| {
            format!(
                "client_key {}: no unencrypted PEM private key in the file",
                key_file.display()
            )
        })?;
        builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    let mut config = ureq::Agent::config_builder();
    if !request.use_proxy {
        config = config.proxy(None);
    }
    let config = config
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .allow_non_standard_methods(true)
        .timeout_global(Some(request.timeout.max(Duration::from_millis(1))))
        .user_agent(format!("drover/{}", env!("CARGO_PKG_VERSION")))
        .tls_config(builder.build())
        .build();
    Ok(ureq::Agent::new_with_config(config))
}

fn certificates(pem: &[u8]) -> Vec<Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(cert)) => Some(cert),
            _ => None,
        })
        .collect()
}

fn private_key(pem: &[u8]) -> Option<PrivateKey<'static>> {
    ureq::tls::parse_pem(pem).find_map(|item| match item {
        Ok(PemItem::PrivateKey(key)) => Some(key),
        _ => None,
    })
}

fn once(
    agent: &ureq::Agent,
    request: &Request,
    method: &str,
    url: &str,
    body: &[u8],
) -> Result<Response, String> {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let sent = if body.is_empty() {
        builder
            .body(())
            .map_err(|e| e.to_string())
            .and_then(|r| agent.run(r).map_err(|e| describe(e, request.timeout)))
    } else {
        builder
            .body(body.to_vec())
            .map_err(|e| e.to_string())
            .and_then(|r| agent.run(r).map_err(|e| describe(e, request.timeout)))
    };
    let mut response = sent?;
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = if method == "HEAD" {
        Vec::new()
    } else {
        response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| describe(e, request.timeout))?
    };
    Ok(Response {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("").to_string(),
        headers,
        body,
        url: url.to_string(),
        redirects: 0,
    })
}

/// ureq's error, with the hint an operator needs for certificate failures.
fn describe(err: ureq::Error, timeout: Duration) -> String {
    if let ureq::Error::Timeout(_) = err {
        return format!("timed out after {:.1}s", timeout.as_secs_f64());
    }
    let text = err.to_string();
    if text.contains("certificate") || text.contains("UnknownIssuer") {
        format!(
            "{text} (the server's certificate is not trusted: give its CA with `ca_path`, \
             or set `validate_certs: false`)"
        )
    } else {
        text
    }
}

/// `location` resolved against `base` (absolute, scheme-relative, absolute-path or relative).
pub(super) fn join(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    if let Some(authority_path) = location.strip_prefix("//") {
        return format!("{scheme}://{authority_path}");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = &rest[authority.len()..];
    let path = path.split(['?', '#']).next().unwrap_or("");
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    format!("{scheme}://{authority}{dir}{location}")
}

#[cfg(test)]
mod tests {
    use super::join;

    #[test]
    fn redirect_locations_resolve_against_the_current_url() {
        assert_eq!(join("https://a:1/x/y?q", "/z"), "https://a:1/z");
        assert_eq!(join("https://a:1/x/y?q", "z"), "https://a:1/x/z");
        assert_eq!(join("https://a:1", "z"), "https://a:1/z");
        assert_eq!(join("http://a/x", "//b/c"), "http://b/c");
        assert_eq!(join("http://a/x", "https://b/c"), "https://b/c");
    }
}

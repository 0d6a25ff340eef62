//! A throwaway certificate authority and a small HTTPS server on loopback, for `uri` and
//! `get_url` tests: real TLS (rustls), real certificates (rcgen), optionally requiring a
//! client certificate. Routes: `/health` (JSON, its `agent` the request's User-Agent),
//! `/redirect` (302 to `/health`), `/echo` (the request body back, as JSON), `/slow` (answers
//! after 3 s), `/status/N`, `/file.txt` and `/file.txt.sha256` (a checksum file); anything
//! else is 404. With a `down` directory, `/health?node=NAME` answers 503 while the file
//! `down/NAME` exists (a node whose service is not back yet), for verify gates.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const FILE_TEXT: &str = "the payload of file.txt\n";

/// A CA with a server certificate for 127.0.0.1 and a client certificate, written as PEM
/// files into a directory.
pub struct Pki {
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    server_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    server_key: rustls::pki_types::PrivateKeyDer<'static>,
    ca_der: rustls::pki_types::CertificateDer<'static>,
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair, KeyUsagePurpose,
        };
        std::fs::create_dir_all(dir).expect("pki dir");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "drover test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("ca key"))
            .expect("ca cert");

        let server_key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).expect("params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = params.signed_by(&server_key, &ca).expect("server cert");

        let client_key = KeyPair::generate().expect("client key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "drover test client");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client = params.signed_by(&client_key, &ca).expect("client cert");

        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write pem");
            path
        };
        let pki = Pki {
            ca: write("ca.pem", &ca.pem()),
            client_cert: write("client.pem", &client.pem()),
            client_key: write("client.key", &client_key.serialize_pem()),
            server_chain: vec![server.der().clone()],
            server_key: rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
            ca_der: ca.der().clone(),
        };
        // The lab's login user reads them on the node (delegated requests).
        for path in [&pki.ca, &pki.client_cert, &pki.client_key] {
            let _ = std::process::Command::new("chmod")
                .arg("644")
                .arg(path)
                .status();
        }
        let _ = std::process::Command::new("chmod")
            .arg("755")
            .arg(dir)
            .status();
        pki
    }

    /// Serves HTTPS on 127.0.0.1 (a free port) until the test process ends; with
    /// `client_auth`, only clients with a certificate from this CA are served.
    pub fn serve(&self, client_auth: bool, down: Option<PathBuf>) -> u16 {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("tls versions");
        let builder = if client_auth {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca_der.clone()).expect("ca root");
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let config = Arc::new(
            builder
                .with_single_cert(self.server_chain.clone(), self.server_key.clone_key())
                .expect("server config"),
        );
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let config = config.clone();
                let down = down.clone();
                std::thread::spawn(move || {
                    let _ = serve_one(config, stream, down.as_deref());
                });
            }
        });
        port
    }
}

fn serve_one(
    config: Arc<rustls::ServerConfig>,
    tcp: TcpStream,
    down: Option<&Path>,
) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if data.len() > 64 * 1024 {
            return Ok(());
        }
        let n = tls.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        data.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut body = data[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("").to_string();
    let target = request_line.next().unwrap_or("").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let path = path.to_string();
    let node = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("node="))
        .unwrap_or("")
        .to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    while body.len() < length.min(1 << 20) {
        let n = tls.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let json = |value: serde_json::Value| ("application/json", value.to_string().into_bytes());
    let (status, extra, (content_type, content)) = match path.as_str() {
        "/health" if !node.is_empty() && down.is_some_and(|d| d.join(&node).exists()) => (
            503,
            String::new(),
            json(serde_json::json!({"status": "starting"})),
        ),
        "/health" => (
            200,
            String::new(),
            json(serde_json::json!({
                "status": "green",
                "agent": header("user-agent"),
                "method": method,
                "authorization": header("authorization"),
                "node": node,
            })),
        ),
        "/redirect" => (
            302,
            "Location: /health\r\n".to_string(),
            ("text/plain", b"moved".to_vec()),
        ),
        "/echo" => {
            let parsed: serde_json::Value =
                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            (
                200,
                String::new(),
                json(serde_json::json!({
                    "method": method,
                    "content_type": header("content-type"),
                    "body": parsed,
                })),
            )
        }
        "/slow" => {
            std::thread::sleep(Duration::from_secs(3));
            (200, String::new(), ("text/plain", b"late".to_vec()))
        }
        "/file.txt" => (200, String::new(), ("text/plain", FILE_TEXT.into())),
        "/file.txt.sha256" => {
            use sha2::Digest as _;
            let digest = hex::encode(sha2::Sha256::digest(FILE_TEXT.as_bytes()));
            (
                200,
                String::new(),
                (
                    "text/plain",
                    format!("{digest}  file.txt\n0000  other.txt\n").into_bytes(),
                ),
            )
        }
        other => match other.strip_prefix("/status/").and_then(|s| s.parse().ok()) {
            Some(code) => (code, String::new(), ("text/plain", b"as asked".to_vec())),
            None => (404, String::new(), ("text/plain", b"not found".to_vec())),
        },
    };
    let reason = match status {
        200 => "OK",
        302 => "Found",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Whatever",
    };
    let mut response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        content.len()
    )
    .into_bytes();
    if method != "HEAD" {
        response.extend_from_slice(&content);
    }
    tls.write_all(&response)?;
    tls.conn.send_close_notify();
    tls.flush()?;
    Ok(())
}

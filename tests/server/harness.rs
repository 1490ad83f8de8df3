//! Running `stsguard serve` in-process on 127.0.0.1 and talking to it: a small HTTPS client
//! (tokio-rustls + hyper, one connection per request so that certificate rotation is seen),
//! a plain HTTP client for the health port, and a Prometheus text parser.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde_json::Value;
use stsguard::server::{ServeArgs, Server};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// An in-process server on 127.0.0.1 with a client that trusts it.
pub struct TestServer {
    pub server: Server,
    pub client: Https,
    pub dir: tempfile::TempDir,
}

/// Flags every test server uses: loopback only, ephemeral ports, short intervals.
pub fn base_flags(dir: &Path) -> Vec<String> {
    [
        "--listen",
        "127.0.0.1:0",
        "--health-listen",
        "127.0.0.1:0",
        "--reload-interval",
        "100ms",
        "--shutdown-delay",
        "0s",
        "--ephemeral-ca-file",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([dir.join("ephemeral-ca.crt").display().to_string()])
    .collect()
}

impl TestServer {
    /// Starts a server with the ephemeral certificate and `extra` flags.
    pub async fn start(extra: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        TestServer::start_in(dir, extra).await
    }

    /// Starts a server whose files live in `dir`.
    pub async fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> TestServer {
        let mut flags = base_flags(dir.path());
        flags.extend(extra.iter().map(|s| s.to_string()));
        let args = ServeArgs::from_flags(flags).unwrap();
        let server = Server::start(&args).await.unwrap();
        // With --tls-cert the test brings its own client (see `TestServer::client`).
        let client = match server.ephemeral_ca() {
            Some(path) => Https::trusting(&[&std::fs::read_to_string(path).unwrap()]),
            None => Https::trusting(&[]),
        };
        TestServer {
            server,
            client,
            dir,
        }
    }

    pub fn admission(&self) -> SocketAddr {
        self.server.admission_addr()
    }

    pub fn health(&self) -> SocketAddr {
        self.server.health_addr()
    }

    /// POSTs a body to the admission listener.
    pub async fn post(&self, path: &str, body: impl Into<Vec<u8>>) -> Reply {
        self.client
            .post(self.admission(), path, body.into())
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// POSTs an AdmissionReview and returns the answer's JSON (asserting a 200).
    pub async fn review(&self, path: &str, review: &Value) -> Value {
        let reply = self.post(path, serde_json::to_vec(review).unwrap()).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    }

    /// The metrics, parsed.
    pub async fn metrics(&self) -> Vec<Sample> {
        let (status, text) = http_get(self.health(), "/metrics").await.unwrap();
        assert_eq!(status, 200);
        parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }
}

/// An answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
    /// DER of the certificate the server presented.
    pub peer_certificate: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A TLS client for 127.0.0.1.
#[derive(Clone)]
pub struct Https {
    config: Arc<ClientConfig>,
}

fn roots(cas: &[&str]) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for ca in cas {
        for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    roots
}

fn client_builder() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(stsguard::server::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
}

/// Every connection does a full handshake: a resumed session presents no certificate, and
/// the rotation tests must see which one the server serves now.
fn without_resumption(mut config: ClientConfig) -> Arc<ClientConfig> {
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

impl Https {
    /// Trusts these CA certificates (PEM).
    pub fn trusting(cas: &[&str]) -> Https {
        let config = client_builder()
            .with_root_certificates(roots(cas))
            .with_no_client_auth();
        Https {
            config: without_resumption(config),
        }
    }

    /// Trusts `cas` and presents a client certificate.
    pub fn with_client_certificate(cas: &[&str], cert_pem: &str, key_pem: &str) -> Https {
        let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let config = client_builder()
            .with_root_certificates(roots(cas))
            .with_client_auth_cert(chain, key)
            .unwrap();
        Https {
            config: without_resumption(config),
        }
    }

    /// Opens a TLS connection to `addr` (verified as 127.0.0.1).
    pub async fn connect(
        &self,
        addr: SocketAddr,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::IpAddress(addr.ip().into());
        Ok(TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await?)
    }

    /// POSTs `body` to `path` over a new HTTP/1.1 connection.
    pub async fn post(&self, addr: SocketAddr, path: &str, body: Vec<u8>) -> Result<Reply, Error> {
        let tls = self.connect(addr).await?;
        let peer_certificate = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|c| c.to_vec())
            .unwrap_or_default();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        let request = Request::post(path)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes().to_vec();
        Ok(Reply {
            status,
            headers,
            body,
            peer_certificate,
        })
    }
}

/// GET over plain HTTP/1.1 (the health listener).
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), Error> {
    let tcp = TcpStream::connect(addr).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::new()))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Polls `check` every 20 ms until it holds or `limit` passes; returns the time it took.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Writes `contents` next to `path` and renames it over `path` (an atomic replace).
pub fn replace_file(path: &Path, contents: impl AsRef<[u8]>) {
    let tmp: PathBuf = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// An AdmissionReview fixture with its body changed by `edit`.
pub fn edited(number: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let (_, mut review) = crate::common::fixture(number);
    edit(&mut review);
    review
}

/// The DER of the first certificate of a PEM.
pub fn der_of(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

/// One sample of the metrics text.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The sum of the samples named `name` whose labels include every pair of `labels`.
pub fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// Parses Prometheus / OpenMetrics text strictly enough to catch a broken exposition:
/// metadata lines, `# EOF` last, every sample of a declared family, label syntax with
/// escapes, numeric values.
pub fn parse_prometheus(text: &str) -> Result<Vec<Sample>, String> {
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    let mut saw_eof = false;
    for (n, line) in text.lines().enumerate() {
        let at = |msg: &str| format!("line {}: {msg}: {line:?}", n + 1);
        if saw_eof {
            return Err(at("content after # EOF"));
        }
        if line == "# EOF" {
            saw_eof = true;
            continue;
        }
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if !valid_name(name) {
                return Err(at("bad metric name in metadata"));
            }
            match kind {
                "TYPE" => {
                    let ty = parts.next().unwrap_or("");
                    if ![
                        "counter",
                        "gauge",
                        "histogram",
                        "summary",
                        "unknown",
                        "info",
                        "stateset",
                        "gaugehistogram",
                    ]
                    .contains(&ty)
                    {
                        return Err(at("unknown metric type"));
                    }
                    families.insert(name.to_string(), ty.to_string());
                }
                "HELP" | "UNIT" => {}
                _ => return Err(at("unknown metadata line")),
            }
            continue;
        }
        if line.is_empty() {
            return Err(at("empty line"));
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value"))?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(at("bad metric name"));
        }
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(inner) = rest.strip_prefix('{') {
            rest = inner;
            loop {
                if let Some(after) = rest.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let eq = rest.find('=').ok_or_else(|| at("label without ="))?;
                let key = &rest[..eq];
                if !valid_name(key) || key.contains(':') {
                    return Err(at("bad label name"));
                }
                rest = rest[eq + 1..]
                    .strip_prefix('"')
                    .ok_or_else(|| at("label value not quoted"))?;
                let mut value = String::new();
                let mut chars = rest.char_indices();
                let end = loop {
                    match chars.next() {
                        Some((i, '"')) => break i,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, c @ ('\\' | '"'))) => value.push(c),
                            _ => return Err(at("bad escape in label value")),
                        },
                        Some((_, c)) => value.push(c),
                        None => return Err(at("unterminated label value")),
                    }
                };
                labels.insert(key.to_string(), value);
                rest = &rest[end + 1..];
                rest = rest.strip_prefix(',').unwrap_or(rest);
            }
        }
        let mut fields = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before value"))?
            .split(' ');
        let value = match fields.next().unwrap_or("") {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().map_err(|_| at("value is not a number"))?,
        };
        if let Some(timestamp) = fields.next() {
            timestamp
                .parse::<f64>()
                .map_err(|_| at("timestamp is not a number"))?;
        }
        let family = [
            "_total", "_bucket", "_sum", "_count", "_created", "_info", "",
        ]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find(|base| families.contains_key(*base));
        if family.is_none() {
            return Err(at("sample of an undeclared metric family"));
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    if !saw_eof {
        return Err("no # EOF line".into());
    }
    Ok(samples)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A request sent by hand over TLS, to control when its bytes arrive.
pub struct RawRequest {
    stream: tokio_rustls::client::TlsStream<TcpStream>,
    rest: Vec<u8>,
}

impl RawRequest {
    /// Sends the headers of `POST path` (with `Connection: close`) and the first `sent`
    /// bytes of `body`.
    pub async fn start(
        client: &Https,
        addr: SocketAddr,
        path: &str,
        body: &[u8],
        sent: usize,
    ) -> Result<RawRequest, Error> {
        use tokio::io::AsyncWriteExt;
        let mut stream = client.connect(addr).await?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body[..sent]).await?;
        stream.flush().await?;
        Ok(RawRequest {
            stream,
            rest: body[sent..].to_vec(),
        })
    }

    /// Sends the rest of the body and reads the answer: (status, body).
    pub async fn finish(mut self) -> Result<(u16, Vec<u8>), Error> {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(&self.rest).await?;
        self.stream.flush().await?;
        self.response().await
    }

    /// Reads the answer without sending more: (status, body).
    pub async fn response(mut self) -> Result<(u16, Vec<u8>), Error> {
        use tokio::io::AsyncReadExt;
        let mut raw = Vec::new();
        // The server may close without close_notify after `Connection: close`.
        if let Err(e) = self.stream.read_to_end(&mut raw).await
            && raw.is_empty()
        {
            return Err(e.into());
        }
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("no end of headers in the response")?;
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("no status in the response")?;
        Ok((status, raw[split + 4..].to_vec()))
    }
}

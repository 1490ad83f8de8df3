//! Running `stsguard serve` on 127.0.0.1, in-process or as the binary, and talking to it: a
//! small HTTPS client (tokio-rustls + hyper; HTTP/1.1 with one connection per request so
//! that certificate rotation is seen, or HTTP/2 by ALPN on one connection), a plain HTTP
//! client for the health port, and a Prometheus text parser.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
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
use tokio::io::{AsyncRead, AsyncReadExt};
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
        metrics_of(self.health()).await
    }

    /// One metric summed over the series whose labels include `labels`.
    pub async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        total(&self.metrics().await, name, labels)
    }

    /// Whether a metric reaches `at_least` within 5 s. A connection's counters move when
    /// its task ends, which can be just after the client saw the connection close.
    pub async fn metric_reaches(&self, name: &str, labels: &[(&str, &str)], at_least: f64) -> bool {
        eventually(Duration::from_secs(5), || async {
            self.metric(name, labels).await >= at_least
        })
        .await
        .is_some()
    }

    /// Asserts the server is still itself: `/healthz` answers and a review is answered
    /// promptly over a new connection.
    pub async fn assert_serving(&self) {
        assert_serving(&self.client, self.admission(), self.health()).await;
    }
}

/// The metrics of the health listener at `health`, parsed.
pub async fn metrics_of(health: SocketAddr) -> Vec<Sample> {
    let (status, text) = http_get(health, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    parse_prometheus(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// How long a normal review may take on a loaded 2-core machine; the point of the tests
/// that use it is that the server answers at all, and not only after a time limit fired.
pub const PROMPTLY: Duration = Duration::from_secs(3);

/// `/healthz` is 200 and fixture 044 gets its denial within [`PROMPTLY`].
pub async fn assert_serving(client: &Https, admission: SocketAddr, health: SocketAddr) {
    let (status, text) = tokio::time::timeout(PROMPTLY, http_get(health, "/healthz"))
        .await
        .expect("/healthz answered in time")
        .expect("/healthz answered");
    assert_eq!(status, 200, "{text}");
    let (_, review) = crate::common::fixture("044");
    let body = serde_json::to_vec(&review).unwrap();
    let started = Instant::now();
    let reply = tokio::time::timeout(PROMPTLY, client.post(admission, "/validate", body))
        .await
        .expect("a review answered in time")
        .expect("a review answered");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let answer = reply.json();
    assert_eq!(answer["response"]["uid"], review["request"]["uid"]);
    assert_eq!(answer["response"]["allowed"], false);
    assert!(started.elapsed() < PROMPTLY);
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

/// A request body the harness can send over HTTP/2: whole, or in pieces as a test feeds it.
pub type AnyBody = http_body_util::combinators::BoxBody<Bytes, Error>;

/// A whole body.
pub fn full(body: Vec<u8>) -> AnyBody {
    Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed()
}

/// A body sent in the pieces given to the returned sender, ending when it is dropped.
pub fn trickled() -> (tokio::sync::mpsc::UnboundedSender<Bytes>, AnyBody) {
    trickled_with(None)
}

/// [`trickled`] with its length declared: hyper sends it as `content-length`, so the
/// server knows the size before the first byte arrives.
pub fn trickled_declared(length: u64) -> (tokio::sync::mpsc::UnboundedSender<Bytes>, AnyBody) {
    trickled_with(Some(length))
}

fn trickled_with(declared: Option<u64>) -> (tokio::sync::mpsc::UnboundedSender<Bytes>, AnyBody) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (tx, Trickle(rx, declared).boxed())
}

struct Trickle(tokio::sync::mpsc::UnboundedReceiver<Bytes>, Option<u64>);

impl hyper::body::Body for Trickle {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Error>>> {
        self.0
            .poll_recv(cx)
            .map(|piece| piece.map(|bytes| Ok(hyper::body::Frame::data(bytes))))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.1.map_or_else(
            hyper::body::SizeHint::default,
            hyper::body::SizeHint::with_exact,
        )
    }
}

/// A body of `size` bytes sent in 64 KiB pieces, with a count of the bytes hyper took from
/// it: the client stops taking them when the server resets the stream. `declared`: hyper
/// sends its length as `content-length`; otherwise the length is known only at its end.
pub fn counted(size: usize, declared: bool) -> (Arc<std::sync::atomic::AtomicUsize>, AnyBody) {
    let taken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let body = Counted {
        left: size,
        declared,
        taken: taken.clone(),
    };
    (taken, body.boxed())
}

struct Counted {
    left: usize,
    declared: bool,
    taken: Arc<std::sync::atomic::AtomicUsize>,
}

impl hyper::body::Body for Counted {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Error>>> {
        let piece = self.left.min(64 << 10);
        if piece == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= piece;
        self.taken
            .fetch_add(piece, std::sync::atomic::Ordering::SeqCst);
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from(vec![
            b'x';
            piece
        ])))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        if self.declared {
            hyper::body::SizeHint::with_exact(self.left as u64)
        } else {
            hyper::body::SizeHint::default()
        }
    }
}

/// An HTTP/2 connection (negotiated by ALPN); clones share it, so requests can run on it at
/// once as streams.
#[derive(Clone)]
pub struct H2 {
    sender: hyper::client::conn::http2::SendRequest<AnyBody>,
    kill: Arc<KillSwitch>,
    closed: tokio::sync::watch::Receiver<bool>,
}

/// Makes a connection's reads and writes fail, so that hyper drops it; hyper runs the
/// connection in tasks of its own, which the test cannot abort.
#[derive(Default)]
pub struct KillSwitch {
    killed: std::sync::atomic::AtomicBool,
    waker: Mutex<Option<std::task::Waker>>,
}

impl KillSwitch {
    fn kill(&self) {
        self.killed.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(waker) = self.waker.lock().unwrap().take() {
            waker.wake();
        }
    }

    fn check(&self, cx: &mut std::task::Context<'_>) -> std::io::Result<()> {
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.killed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::ErrorKind::ConnectionAborted.into());
        }
        Ok(())
    }
}

/// An IO that a [`KillSwitch`] can break.
struct Killable<T> {
    inner: T,
    kill: Arc<KillSwitch>,
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Killable<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if let Err(e) = self.kill.check(cx) {
            return std::task::Poll::Ready(Err(e));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Killable<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if let Err(e) = self.kill.check(cx) {
            return std::task::Poll::Ready(Err(e));
        }
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl H2 {
    /// POSTs `body` to `path` as a new stream.
    pub async fn post(&self, path: &str, body: Vec<u8>) -> Result<Reply, Error> {
        self.post_body(path, full(body)).await
    }

    /// POSTs any body to `path` as a new stream.
    pub async fn post_body(&self, path: &str, body: AnyBody) -> Result<Reply, Error> {
        let request = Request::post(format!("https://127.0.0.1{path}"))
            .header("content-type", "application/json")
            .body(body)?;
        let response = self.sender.clone().send_request(request).await?;
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        reply_of(response, Vec::new()).await
    }

    /// Breaks the connection: hyper drops it (with SO_LINGER 0 set: a reset).
    pub fn abort(&self) {
        self.kill.kill();
    }

    /// Waits up to `limit` for the server to close the connection; how long it took.
    pub async fn closed_within(&self, limit: Duration) -> Option<Duration> {
        let started = Instant::now();
        let mut closed = self.closed.clone();
        tokio::time::timeout(limit, closed.wait_for(|closed| *closed))
            .await
            .ok()
            .map(|_| started.elapsed())
    }
}

async fn reply_of(
    response: hyper::Response<hyper::body::Incoming>,
    peer_certificate: Vec<u8>,
) -> Result<Reply, Error> {
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

    /// The same client, offering these ALPN protocols (`h2`, `http/1.1`).
    pub fn with_alpn(&self, protocols: &[&str]) -> Https {
        let mut config = (*self.config).clone();
        config.alpn_protocols = protocols.iter().map(|p| p.as_bytes().to_vec()).collect();
        Https {
            config: Arc::new(config),
        }
    }

    /// The same client, speaking only these TLS versions.
    pub fn with_versions(
        cas: &[&str],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Https {
        let config = ClientConfig::builder_with_provider(stsguard::server::tls::provider())
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots(cas))
            .with_no_client_auth();
        Https {
            config: without_resumption(config),
        }
    }

    /// Opens an HTTP/2 connection (ALPN `h2`) to `addr`.
    pub async fn h2(&self, addr: SocketAddr) -> Result<H2, Error> {
        self.h2_over(TcpStream::connect(addr).await?).await
    }

    /// [`Https::h2`] over a TCP connection the test opened (to set socket options).
    pub async fn h2_over(&self, tcp: TcpStream) -> Result<H2, Error> {
        let tls = self.with_alpn(&["h2"]).handshake(tcp).await?;
        assert_eq!(
            tls.get_ref().1.alpn_protocol(),
            Some(&b"h2"[..]),
            "the server chose HTTP/2"
        );
        let kill = Arc::new(KillSwitch::default());
        let io = Killable {
            inner: tls,
            kill: kill.clone(),
        };
        let (sender, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            TokioIo::new(io),
        )
        .await?;
        let (closed_tx, closed) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let _ = connection.await;
            let _ = closed_tx.send(true);
        });
        Ok(H2 {
            sender,
            kill,
            closed,
        })
    }

    /// Opens a TLS connection to `addr` (verified as 127.0.0.1).
    pub async fn connect(
        &self,
        addr: SocketAddr,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
        self.handshake(TcpStream::connect(addr).await?).await
    }

    /// TLS over a TCP connection the test opened.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
        let addr = tcp.peer_addr()?;
        let name = ServerName::IpAddress(addr.ip().into());
        Ok(TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await?)
    }

    /// POSTs `body` to `path` over a new HTTP/1.1 connection.
    pub async fn post(&self, addr: SocketAddr, path: &str, body: Vec<u8>) -> Result<Reply, Error> {
        self.post_with(addr, path, body, &[]).await
    }

    /// [`Https::post`] with extra request headers.
    pub async fn post_with(
        &self,
        addr: SocketAddr,
        path: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Result<Reply, Error> {
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
        let mut request = Request::post(path)
            .header("host", "127.0.0.1")
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = sender
            .send_request(request.body(Full::new(Bytes::from(body)))?)
            .await?;
        reply_of(response, peer_certificate).await
    }
}

/// Reads from `stream` until the server closes it (EOF or reset) or `limit` passes; returns
/// how long that took, or `None` if it was still open. Whatever the server sends is
/// discarded.
pub async fn closed_within<S: AsyncRead + Unpin>(
    stream: &mut S,
    limit: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    let read_until_closed = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_until_closed)
        .await
        .ok()
        .map(|()| started.elapsed())
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

/// A `stsguard serve` process, killed if the test ends before it exits.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// The binary serving on ephemeral loopback ports, with everything it logs.
pub struct ServerProcess {
    pub child: Running,
    pub admission: SocketAddr,
    pub health: SocketAddr,
    /// The ephemeral CA (PEM), if it served the ephemeral certificate.
    pub ca: String,
    /// Every stderr line so far.
    logs: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts `stsguard serve` with JSON logs, the ephemeral certificate (its CA in `dir`)
    /// and `extra` flags, and waits for its `listening` line.
    pub fn spawn(dir: &Path, extra: &[&str]) -> ServerProcess {
        let ca_file = dir.join("ca.crt");
        let mut child = Command::new(env!("CARGO_BIN_EXE_stsguard"))
            .arg("serve")
            .args([
                "--listen",
                "127.0.0.1:0",
                "--health-listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--ephemeral-ca-file",
            ])
            .arg(&ca_file)
            .args(extra)
            .env_remove("STSGUARD_POLICY")
            .env_remove("STSGUARD_LOG_LEVEL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let child = Running(child);
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn({
            let logs = logs.clone();
            // Read to the end, so that the child never blocks on a full pipe.
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    logs.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(wait).unwrap_or_else(|_| {
                panic!(
                    "no `listening` line; stderr so far: {:#?}",
                    logs.lock().unwrap()
                )
            });
            let entry: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            if entry["message"] == "listening" {
                return ServerProcess {
                    child,
                    admission: entry["admission"].as_str().unwrap().parse().unwrap(),
                    health: entry["health"].as_str().unwrap().parse().unwrap(),
                    // Empty when the test brought its own certificate.
                    ca: std::fs::read_to_string(&ca_file).unwrap_or_default(),
                    logs,
                };
            }
        }
    }

    /// A client that trusts the ephemeral CA.
    pub fn client(&self) -> Https {
        Https::trusting(&[&self.ca])
    }

    /// Every stderr line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The log lines whose message is `message`, parsed.
    pub fn logged(&self, message: &str) -> Vec<Value> {
        self.logs()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|entry| entry["message"] == message)
            .collect()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit; its exit code.
    pub async fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.0.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "still running {limit:?} later; logs: {:#?}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A CA for clients and a client certificate it signed.
pub fn client_pki() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "test client CA");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut client = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    client
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kube-apiserver");
    client.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = client.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

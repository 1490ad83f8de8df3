//! Connection-level limits: clients that never finish a TLS handshake, trickle headers or a
//! body, sit idle by the hundred, reset mid-body or open more connections than allowed. Each
//! is let go by its own limit, and the server keeps answering everyone else promptly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::common::fixture;
use crate::harness::{
    PROMPTLY, TestServer, closed_within, counted, eventually, http_get, total, trickled,
};

/// The first flight of a real TLS client: a ClientHello record.
fn client_hello() -> Vec<u8> {
    let config = rustls::ClientConfig::builder_with_provider(stsguard::server::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut hello = Vec::new();
    client.write_tls(&mut hello).unwrap();
    assert_eq!(hello[0], 0x16, "a handshake record");
    hello
}

fn body_of(number: &str) -> (Value, Vec<u8>) {
    let (_, review) = fixture(number);
    let body = serde_json::to_vec(&review).unwrap();
    (review, body)
}

/// Sends reviews one after another until stopped, asserting each is answered promptly;
/// returns how many were.
fn keep_reviewing(server: &TestServer) -> (Arc<tokio::sync::Notify>, JoinHandle<usize>) {
    let stop = Arc::new(tokio::sync::Notify::new());
    let client = server.client.clone();
    let addr = server.admission();
    let (_, body) = body_of("002");
    let task = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut answered = 0;
            loop {
                let started = Instant::now();
                let reply = tokio::select! {
                    _ = stop.notified() => return answered,
                    reply = client.post(addr, "/validate", body.clone()) => reply,
                };
                let reply = reply.unwrap_or_else(|e| panic!("a review failed: {e}"));
                assert_eq!(reply.status, 200, "{}", reply.text());
                assert!(started.elapsed() < PROMPTLY, "{:?}", started.elapsed());
                answered += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    (stop, task)
}

async fn stop_reviewing((stop, task): (Arc<tokio::sync::Notify>, JoinHandle<usize>)) -> usize {
    stop.notify_one();
    task.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_tls_handshakes_that_never_finish() {
    let server = TestServer::start(&["--tls-handshake-timeout", "600ms"]).await;
    let reviews = keep_reviewing(&server);
    let hello = client_hello();
    let opened = Instant::now();
    let mut silent = TcpStream::connect(server.admission()).await.unwrap();
    let mut partial = TcpStream::connect(server.admission()).await.unwrap();
    partial.write_all(&hello[..hello.len() / 2]).await.unwrap();
    let mut trickling = TcpStream::connect(server.admission()).await.unwrap();
    let trickle = tokio::spawn(async move {
        for byte in hello {
            if trickling.write_all(&[byte]).await.is_err() {
                return trickling;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        trickling
    });

    for (what, stream) in [
        ("silent", &mut silent),
        ("half a ClientHello", &mut partial),
    ] {
        closed_within(stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{what}: still open 5 s later"));
        let closed = opened.elapsed();
        assert!(closed >= Duration::from_millis(400), "{what}: {closed:?}");
    }
    // A ClientHello byte every 50 ms would take seconds: the limit is for the handshake,
    // not between bytes.
    let mut trickling = trickle.await.unwrap();
    assert!(
        closed_within(&mut trickling, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert!(stop_reviewing(reviews).await > 0);
    assert!(
        server
            .metric_reaches(
                "stsguard_connections_timed_out_total",
                &[("listener", "admission"), ("phase", "tls_handshake")],
                3.0
            )
            .await
    );

    // Not TLS at all: refused at once, not after the time limit.
    let mut plain = TcpStream::connect(server.admission()).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let closed = closed_within(&mut plain, Duration::from_secs(5)).await;
    assert!(
        closed.is_some_and(|t| t < Duration::from_millis(600)),
        "{closed:?}"
    );
    assert!(
        server
            .metric_reaches("stsguard_tls_handshake_errors_total", &[], 1.0)
            .await
    );
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_clients_that_trickle_headers() {
    let server = TestServer::start(&["--header-read-timeout", "1s"]).await;
    let reviews = keep_reviewing(&server);
    let head = "POST /validate HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";

    // HTTP/1.1 by ALPN, and without ALPN (the server then tells the protocol by the first
    // bytes, which must not take for ever either).
    for client in [
        server.client.with_alpn(&["http/1.1"]),
        server.client.clone(),
    ] {
        let tls = client.connect(server.admission()).await.unwrap();
        let (mut reader, mut writer) = tokio::io::split(tls);
        let started = Instant::now();
        let trickle = tokio::spawn(async move {
            for byte in head.bytes() {
                if writer.write_all(&[byte]).await.is_err() || writer.flush().await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let closed = closed_within(&mut reader, Duration::from_secs(8)).await;
        let closed = closed.expect("a client trickling its headers is dropped");
        // ~110 bytes at 50 ms each would take 5.5 s.
        assert!(
            closed >= Duration::from_millis(800) && closed < Duration::from_secs(4),
            "{closed:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        trickle.abort();
    }
    assert!(stop_reviewing(reviews).await > 0);
    assert!(
        server
            .metric_reaches(
                "stsguard_connections_timed_out_total",
                &[("listener", "admission")],
                2.0
            )
            .await
    );
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_503_to_clients_that_trickle_the_body() {
    let server = TestServer::start(&["--request-timeout", "1s"]).await;
    let reviews = keep_reviewing(&server);
    let (review, body) = body_of("002");

    // HTTP/1.1: headers at once, then the body a byte every 50 ms.
    let tls = server
        .client
        .with_alpn(&["http/1.1"])
        .connect(server.admission())
        .await
        .unwrap();
    let (mut reader, mut writer) = tokio::io::split(tls);
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    let trickle = tokio::spawn({
        let body = body.clone();
        async move {
            for byte in body {
                if writer.write_all(&[byte]).await.is_err() || writer.flush().await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let started = Instant::now();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(8), reader.read_to_end(&mut response)).await;
    let waited = started.elapsed();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    trickle.abort();

    // HTTP/2: one stream trickles; the connection and its other streams carry on.
    let h2 = server.client.h2(server.admission()).await.unwrap();
    let (pieces, trickling) = trickled();
    let slow = tokio::spawn({
        let h2 = h2.clone();
        async move { h2.post_body("/validate", trickling).await }
    });
    let feed = tokio::spawn(async move {
        for byte in body_of("002").1 {
            if pieces.send(Bytes::from(vec![byte])).is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let reply = h2.post("/validate", body_of("002").1).await.unwrap();
    assert_eq!(reply.status, 200);
    let started = Instant::now();
    let reply = tokio::time::timeout(Duration::from_secs(8), slow)
        .await
        .expect("the trickling stream was answered")
        .unwrap()
        .unwrap();
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(started.elapsed() < Duration::from_secs(4));
    feed.abort();
    let reply = h2.post("/validate", body_of("002").1).await.unwrap();
    assert_eq!(reply.json()["response"]["uid"], review["request"]["uid"]);

    assert!(stop_reviewing(reviews).await > 0);
    assert_eq!(
        server
            .metric(
                "stsguard_admission_requests_total",
                &[("result", "timeout")]
            )
            .await,
        2.0
    );
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_real_requests_beside_hundreds_of_idle_connections() {
    let server = TestServer::start(&[
        "--tls-handshake-timeout",
        "4s",
        "--header-read-timeout",
        "4s",
        "--idle-timeout",
        "5s",
    ])
    .await;
    let addr = server.admission();
    let (_, body) = body_of("002");
    let started = Instant::now();

    // 100 TCP connections that never start TLS, 100 TLS connections that never send a
    // request (half by ALPN http/1.1, half without ALPN) and 50 HTTP/2 connections idle
    // after one request.
    let mut tcp = Vec::new();
    for _ in 0..100 {
        tcp.push(TcpStream::connect(addr).await.unwrap());
    }
    let http1 = server.client.with_alpn(&["http/1.1"]);
    let mut tls = Vec::new();
    for i in 0..100 {
        let client = if i % 2 == 0 { &http1 } else { &server.client };
        tls.push(client.connect(addr).await.unwrap());
    }
    let mut h2 = Vec::new();
    for _ in 0..50 {
        let connection = server.client.h2(addr).await.unwrap();
        assert_eq!(
            connection
                .post("/validate", body.clone())
                .await
                .unwrap()
                .status,
            200
        );
        h2.push(connection);
    }
    assert!(
        eventually(Duration::from_secs(2), || async {
            server
                .metric("stsguard_connections_open", &[("listener", "admission")])
                .await
                == 250.0
        })
        .await
        .is_some()
    );
    eprintln!("250 idle connections opened in {:?}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the idle connections were opened before any limit could close them: {:?}",
        started.elapsed()
    );

    // Real requests, HTTP/1.1 and HTTP/2, are answered promptly meanwhile.
    for _ in 0..10 {
        let t = Instant::now();
        assert_eq!(server.post("/validate", body.clone()).await.status, 200);
        assert!(t.elapsed() < PROMPTLY);
    }
    let fresh = server.client.h2(addr).await.unwrap();
    let replies: Vec<_> = futures_join((0..20).map(|_| {
        let fresh = fresh.clone();
        let body = body.clone();
        async move { fresh.post("/validate", body).await }
    }))
    .await;
    for reply in replies {
        assert_eq!(reply.unwrap().status, 200);
    }
    assert_eq!(http_get(server.health(), "/healthz").await.unwrap().0, 200);

    // Every idle connection is closed by its limit; HTTP/2 ones by GOAWAY.
    for connection in &h2 {
        assert!(
            connection
                .closed_within(Duration::from_secs(15))
                .await
                .is_some(),
            "an idle HTTP/2 connection was closed"
        );
    }
    for stream in &mut tcp {
        assert!(
            closed_within(stream, Duration::from_secs(15))
                .await
                .is_some()
        );
    }
    for stream in &mut tls {
        assert!(
            closed_within(stream, Duration::from_secs(15))
                .await
                .is_some()
        );
    }
    drop(fresh);
    assert!(
        server
            .metric_reaches(
                "stsguard_connections_timed_out_total",
                &[("listener", "admission"), ("phase", "tls_handshake")],
                100.0
            )
            .await
    );
    // The rest before or after their first request: the sniffing of the protocol, hyper's
    // header timer or the idle limit, whichever fires first.
    assert!(
        server
            .metric_reaches(
                "stsguard_connections_timed_out_total",
                &[("listener", "admission")],
                250.0
            )
            .await
    );
    assert_eq!(
        server
            .metric(
                "stsguard_connections_timed_out_total",
                &[("listener", "admission"), ("phase", "tls_handshake")]
            )
            .await,
        100.0
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            server
                .metric("stsguard_connections_open", &[("listener", "admission")])
                .await
                <= 1.0
        })
        .await
        .is_some()
    );
    server.assert_serving().await;
}

/// Runs the futures at once and collects their outputs in order.
async fn futures_join<F: std::future::Future + Send + 'static>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for task in tasks {
        outputs.push(task.await.unwrap());
    }
    outputs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_connections_over_the_cap_at_once() {
    // The handshake limit is long, so that a prompt close can only be the cap's doing.
    let server = TestServer::start(&[
        "--max-connections",
        "8",
        "--health-max-connections",
        "4",
        "--tls-handshake-timeout",
        "20s",
        "--header-read-timeout",
        "20s",
    ])
    .await;
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(server.admission()).await.unwrap());
    }
    assert!(
        eventually(Duration::from_secs(5), || async {
            server
                .metric("stsguard_connections_open", &[("listener", "admission")])
                .await
                == 8.0
        })
        .await
        .is_some()
    );
    for _ in 0..3 {
        let mut excess = TcpStream::connect(server.admission()).await.unwrap();
        let closed = closed_within(&mut excess, Duration::from_secs(5)).await;
        assert!(
            closed.is_some_and(|t| t < Duration::from_secs(2)),
            "{closed:?}"
        );
    }
    assert!(
        server.post_failed().await,
        "a TLS client over the cap fails fast"
    );
    assert!(
        server
            .metric(
                "stsguard_connections_refused_total",
                &[("listener", "admission")]
            )
            .await
            >= 4.0
    );

    // The health listener has its own cap, so probes are not starved by admission traffic,
    // and the other way round.
    let mut health_held = Vec::new();
    for _ in 0..4 {
        health_held.push(TcpStream::connect(server.health()).await.unwrap());
    }
    assert!(
        eventually(Duration::from_secs(5), || async {
            let mut probe = TcpStream::connect(server.health()).await.unwrap();
            closed_within(&mut probe, Duration::from_millis(500))
                .await
                .is_some()
        })
        .await
        .is_some(),
        "a fifth health connection is closed"
    );
    drop(health_held);
    assert!(
        eventually(Duration::from_secs(5), || async {
            http_get(server.health(), "/healthz").await.is_ok()
        })
        .await
        .is_some()
    );

    // Slots come back as soon as connections close.
    drop(held);
    assert!(
        eventually(Duration::from_secs(5), || async {
            server
                .metric("stsguard_connections_open", &[("listener", "admission")])
                .await
                == 0.0
        })
        .await
        .is_some()
    );
    server.assert_serving().await;
}

impl TestServer {
    /// Whether a review over a new connection fails (rather than being answered) within
    /// [`PROMPTLY`].
    async fn post_failed(&self) -> bool {
        let (_, body) = body_of("002");
        matches!(
            tokio::time::timeout(
                PROMPTLY,
                self.client.post(self.admission(), "/validate", body)
            )
            .await,
            Ok(Err(_))
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_listener_drops_silent_connections() {
    let server = TestServer::start(&["--header-read-timeout", "600ms"]).await;
    let mut silent = TcpStream::connect(server.health()).await.unwrap();
    let mut trickling = TcpStream::connect(server.health()).await.unwrap();
    let writer = tokio::spawn(async move {
        for byte in b"GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n" {
            if trickling.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        trickling
    });
    let closed = closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(
        closed.is_some_and(|t| t >= Duration::from_millis(400)),
        "{closed:?}"
    );
    let mut trickling = writer.await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), trickling.read_to_end(&mut answer)).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "a request trickled over 4 s was answered"
    );
    assert!(
        server
            .metric_reaches(
                "stsguard_connections_timed_out_total",
                &[("listener", "health")],
                2.0
            )
            .await
    );
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_connections_reset_mid_body() {
    let server = TestServer::start(&[]).await;
    let (_, body) = body_of("029");
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    for _ in 0..20 {
        // HTTP/1.1: half the body, then a reset (SO_LINGER 0 turns close into RST).
        let tcp = TcpStream::connect(server.admission()).await.unwrap();
        tcp.set_zero_linger().unwrap();
        let mut tls = server
            .client
            .with_alpn(&["http/1.1"])
            .handshake(tcp)
            .await
            .unwrap();
        tls.write_all(head.as_bytes()).await.unwrap();
        tls.write_all(&body[..body.len() / 2]).await.unwrap();
        tls.flush().await.unwrap();
        drop(tls);

        // HTTP/2: the same, with other streams on the connection.
        let tcp = TcpStream::connect(server.admission()).await.unwrap();
        tcp.set_zero_linger().unwrap();
        let h2 = server.client.h2_over(tcp).await.unwrap();
        let (pieces, trickling) = trickled();
        let stream = tokio::spawn({
            let h2 = h2.clone();
            async move { h2.post_body("/validate", trickling).await }
        });
        pieces
            .send(Bytes::copy_from_slice(&body[..body.len() / 2]))
            .unwrap();
        let other = h2.post("/validate", body.clone()).await.unwrap();
        assert_eq!(other.status, 200);
        h2.abort();
        let result = stream.await.unwrap();
        assert!(result.is_err(), "{result:?}");
    }
    // Every handler ended and every connection was let go.
    assert!(
        eventually(Duration::from_secs(10), || async {
            let samples = server.metrics().await;
            total(&samples, "stsguard_admission_requests_in_flight", &[]) == 0.0
                && total(
                    &samples,
                    "stsguard_connections_open",
                    &[("listener", "admission")],
                ) == 0.0
        })
        .await
        .is_some()
    );
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advertises_http2_limits() {
    let server = TestServer::start(&[]).await;
    let mut tls = server
        .client
        .with_alpn(&["h2"])
        .connect(server.admission())
        .await
        .unwrap();
    // Client preface and an empty SETTINGS frame; the server's first frame is its SETTINGS.
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut header = [0u8; 9];
    tls.read_exact(&mut header).await.unwrap();
    assert_eq!(header[3], 0x4, "a SETTINGS frame");
    let length = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
    let mut payload = vec![0u8; length];
    tls.read_exact(&mut payload).await.unwrap();
    let settings: std::collections::BTreeMap<u16, u32> = payload
        .chunks(6)
        .map(|s| {
            (
                u16::from_be_bytes([s[0], s[1]]),
                u32::from_be_bytes([s[2], s[3], s[4], s[5]]),
            )
        })
        .collect();
    const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    assert_eq!(
        settings.get(&MAX_CONCURRENT_STREAMS),
        Some(&stsguard::server::conn::H2_MAX_CONCURRENT_STREAMS)
    );
    assert_eq!(
        settings.get(&MAX_HEADER_LIST_SIZE),
        Some(&stsguard::server::conn::H2_MAX_HEADER_LIST_SIZE)
    );
    assert_eq!(stsguard::server::conn::H2_MAX_CONCURRENT_STREAMS, 100);

    // More streams at once than allowed: the client queues them, and all are answered.
    let h2 = server.client.h2(server.admission()).await.unwrap();
    let (_, body) = body_of("002");
    let replies = futures_join((0..150).map(|_| {
        let h2 = h2.clone();
        let body = body.clone();
        async move { h2.post("/validate", body).await }
    }))
    .await;
    for reply in replies {
        assert_eq!(reply.unwrap().status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closes_connections_that_stay_idle() {
    let server = TestServer::start(&["--header-read-timeout", "1s", "--idle-timeout", "3s"]).await;
    let addr = server.admission();
    let (review, body) = body_of("002");

    // Before a first request the limit is the header read timeout, whatever the protocol:
    // TLS without ALPN and silent (the server waits to tell HTTP/2 from HTTP/1.1), and
    // HTTP/2 by ALPN stopping in the middle of its preface.
    let opened = Instant::now();
    let mut silent = server.client.connect(addr).await.unwrap();
    let mut half_preface = server
        .client
        .with_alpn(&["h2"])
        .connect(addr)
        .await
        .unwrap();
    half_preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    for stream in [&mut silent, &mut half_preface] {
        assert!(
            closed_within(stream, Duration::from_secs(8))
                .await
                .is_some()
        );
        let closed = opened.elapsed();
        assert!(
            closed >= Duration::from_millis(800) && closed < Duration::from_millis(2800),
            "closed after {closed:?}: not by the first-request limit"
        );
    }

    // After a request, the idle limit: the server sends GOAWAY and the connection ends.
    let h2 = server.client.h2(addr).await.unwrap();
    assert_eq!(
        h2.post("/validate", body.clone()).await.unwrap().status,
        200
    );
    let closed = h2.closed_within(Duration::from_secs(10)).await;
    assert!(
        closed.is_some_and(|t| t >= Duration::from_millis(2500)),
        "{closed:?}"
    );

    // A request in flight for longer than the idle limit keeps its connection.
    let h2 = server.client.h2(addr).await.unwrap();
    let (pieces, trickling) = trickled();
    let slow = tokio::spawn({
        let h2 = h2.clone();
        async move { h2.post_body("/validate", trickling).await }
    });
    let started = Instant::now();
    for piece in body.chunks(body.len().div_ceil(40)) {
        pieces.send(Bytes::copy_from_slice(piece)).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(pieces);
    let reply = slow.await.unwrap().unwrap();
    assert!(started.elapsed() > Duration::from_millis(3500));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["response"]["uid"], review["request"]["uid"]);
    assert!(h2.closed_within(Duration::from_secs(10)).await.is_some());
    server.assert_serving().await;
}

// Bodies over --max-body-size get a 413 that a client still sending can read: the server
// answers at once and reads the rest of the body to drop it, within the body budget.

const MIB: usize = 1 << 20;

/// How a test client frames an HTTP/1.1 request body.
#[derive(Clone, Copy, Debug)]
enum Framing {
    ContentLength,
    Chunked,
}

/// What a client that writes its whole request before reading saw.
struct Exchange {
    /// Whether it got to write the whole request, or why writing failed.
    written: std::io::Result<()>,
    /// Everything it read until the server closed the connection.
    read: Vec<u8>,
    /// `Ok` when the connection ended cleanly (TLS close_notify, then EOF), not by a reset.
    ended: std::io::Result<()>,
}

impl Exchange {
    fn head(&self) -> String {
        let end = self
            .read
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(self.read.len());
        String::from_utf8_lossy(&self.read[..end]).into_owned()
    }

    fn status(&self) -> Option<u16> {
        self.head().split(' ').nth(1)?.parse().ok()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head().lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_ascii_lowercase())
        })
    }

    fn body(&self) -> String {
        let head = self.head().len();
        String::from_utf8_lossy(self.read.get(head + 4..).unwrap_or_default()).into_owned()
    }
}

/// POSTs `size` bytes to `/validate` over HTTP/1.1 the way a simple client does: the
/// headers and the whole body first, then it reads the answer until the server closes.
async fn post_whole_then_read(server: &TestServer, size: usize, framing: Framing) -> Exchange {
    let mut tls = server
        .client
        .with_alpn(&["http/1.1"])
        .connect(server.admission())
        .await
        .unwrap();
    let length = match framing {
        Framing::ContentLength => format!("content-length: {size}"),
        Framing::Chunked => "transfer-encoding: chunked".to_string(),
    };
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n{length}\r\n\r\n"
    );
    let piece = vec![b'x'; 64 << 10];
    let exchange = async {
        let written = async {
            tls.write_all(head.as_bytes()).await?;
            let mut left = size;
            while left > 0 {
                let n = left.min(piece.len());
                match framing {
                    Framing::ContentLength => tls.write_all(&piece[..n]).await?,
                    Framing::Chunked => {
                        tls.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                        tls.write_all(&piece[..n]).await?;
                        tls.write_all(b"\r\n").await?;
                    }
                }
                left -= n;
            }
            if let Framing::Chunked = framing {
                tls.write_all(b"0\r\n\r\n").await?;
            }
            tls.flush().await
        }
        .await;
        let mut read = Vec::new();
        let ended = tls.read_to_end(&mut read).await.map(|_| ());
        Exchange {
            written,
            read,
            ended,
        }
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .expect("the exchange ended within 30 s")
}

/// A review of just under `size` bytes.
fn review_of_about(size: usize) -> Vec<u8> {
    let (_, mut review) = fixture("044");
    let base = serde_json::to_vec(&review).unwrap().len();
    review["request"]["object"]["metadata"]["annotations"]["padding"] =
        Value::String("x".repeat(size - base - 64));
    let body = serde_json::to_vec(&review).unwrap();
    assert!(body.len() < size && body.len() > size - 128);
    body
}

fn assert_413(what: &str, status: u16, content_type: &str, text: &str) {
    assert_eq!(status, 413, "{what}: {text}");
    assert!(
        content_type.starts_with("text/plain"),
        "{what}: {content_type}"
    );
    assert_eq!(
        text, "the request body is larger than 1048576 bytes\n",
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_413_over_http1_to_a_client_that_sends_its_whole_body_first() {
    let server = TestServer::start(&["--max-body-size", "1MiB"]).await;
    for (what, size, framing) in [
        ("20 MiB by length", 20 * MIB, Framing::ContentLength),
        ("1 MiB + 1 byte by length", MIB + 1, Framing::ContentLength),
        ("3 MiB chunked", 3 * MIB, Framing::Chunked),
        ("1 MiB + 1 byte chunked", MIB + 1, Framing::Chunked),
    ] {
        let started = Instant::now();
        let exchange = post_whole_then_read(&server, size, framing).await;
        // The server read the whole body (a server that stops reading makes these writes
        // fail once the kernel's buffers are full, with EPIPE or a reset) ...
        assert!(
            exchange.written.is_ok(),
            "{what}: the body could not be sent: {:?}",
            exchange.written
        );
        // ... answered, and closed the connection cleanly: a reset could have destroyed
        // the answer before the client read it.
        assert!(
            exchange.ended.is_ok(),
            "{what}: the connection ended with {:?} after {:?}",
            exchange.ended,
            String::from_utf8_lossy(&exchange.read)
        );
        assert_413(
            what,
            exchange.status().unwrap_or(0),
            &exchange.header("content-type").unwrap_or_default(),
            &exchange.body(),
        );
        assert_eq!(
            exchange.header("connection").as_deref(),
            Some("close"),
            "{what}"
        );
        eprintln!("{what}: answered and closed in {:?}", started.elapsed());
    }

    // A body under the limit is answered, on a connection that stays open.
    let reply = server.post("/validate", review_of_about(MIB)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.headers.get("connection").is_none());
    assert_eq!(
        server
            .metric(
                "stsguard_admission_requests_total",
                &[("webhook", "validate"), ("result", "bad_request")]
            )
            .await,
        4.0
    );
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_413_over_http1_without_inviting_a_body_that_waits_for_100_continue() {
    let server = TestServer::start(&["--max-body-size", "1MiB"]).await;
    let mut tls = server
        .client
        .with_alpn(&["http/1.1"])
        .connect(server.admission())
        .await
        .unwrap();
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
        20 * MIB
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.flush().await.unwrap();
    let mut read = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut read))
        .await
        .expect("the server answered and closed without waiting for the body");
    let answer = String::from_utf8_lossy(&read);
    assert!(ended.is_ok(), "{ended:?}: {answer}");
    // The final answer and nothing before it: a 100 (Continue) would ask for 20 MiB that
    // the server does not want.
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");
    assert!(
        answer.ends_with("the request body is larger than 1048576 bytes\n"),
        "{answer}"
    );
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_413_over_http2_and_lets_the_client_finish_sending() {
    let server = TestServer::start(&["--max-body-size", "1MiB"]).await;
    let h2 = server.client.h2(server.admission()).await.unwrap();
    for (what, size, declared) in [
        ("20 MiB by length", 20 * MIB, true),
        ("1 MiB + 1 byte by length", MIB + 1, true),
        ("3 MiB of unknown length", 3 * MIB, false),
    ] {
        let (taken, body) = counted(size, declared);
        let started = Instant::now();
        let reply = h2.post_body("/validate", body).await.unwrap();
        assert_413(what, reply.status, reply.content_type(), &reply.text());
        // The server reads the rest and drops it, so the stream ends without a reset: some
        // clients (curl 7.88) throw away an answer that arrives with its stream's reset.
        let sent = eventually(Duration::from_secs(20), || async {
            taken.load(std::sync::atomic::Ordering::SeqCst) == size
        })
        .await;
        assert!(
            sent.is_some(),
            "{what}: the client sent {} of {size} bytes",
            taken.load(std::sync::atomic::Ordering::SeqCst)
        );
        eprintln!("{what}: answered and sent in {:?}", started.elapsed());
    }

    // The connection carries on, and a body under the limit is answered on it.
    let reply = h2.post("/validate", review_of_about(MIB)).await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        server
            .metric(
                "stsguard_admission_requests_total",
                &[("webhook", "validate"), ("result", "bad_request")]
            )
            .await,
        3.0
    );
    server.assert_serving().await;
}

/// The rest of a refused body is read only as far as the shared body budget allows: past
/// it, HTTP/2 resets the stream right after the answer and HTTP/1.1 closes the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_the_rest_of_an_oversized_body_only_within_the_body_budget() {
    let server =
        TestServer::start(&["--max-body-size", "1MiB", "--max-buffered-bodies", "4MiB"]).await;
    let h2 = server.client.h2(server.admission()).await.unwrap();

    // 3 MiB fits the budget: read to its end, as above.
    let (taken, body) = counted(3 * MIB, true);
    let reply = h2.post_body("/validate", body).await.unwrap();
    assert_413("3 MiB", reply.status, reply.content_type(), &reply.text());
    assert!(
        eventually(Duration::from_secs(10), || async {
            taken.load(std::sync::atomic::Ordering::SeqCst) == 3 * MIB
        })
        .await
        .is_some()
    );

    // 20 MiB does not: the client still reads the 413, then the stream is reset (NO_ERROR,
    // RFC 9113 §8.1) and the client stops within its flow-control window (1 MiB).
    let (taken, body) = counted(20 * MIB, true);
    let reply = h2.post_body("/validate", body).await.unwrap();
    assert_413("20 MiB", reply.status, reply.content_type(), &reply.text());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = taken.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent <= 2 * MIB, "the client sent {sent} bytes");
    assert_eq!(
        h2.post("/validate", body_of("044").1).await.unwrap().status,
        200,
        "the connection carries on"
    );

    // HTTP/1.1: the server closes the connection after the answer without reading the
    // body, so a client that insists on sending it all cannot.
    let exchange = post_whole_then_read(&server, 20 * MIB, Framing::ContentLength).await;
    assert!(
        exchange.written.is_err(),
        "the server read 20 MiB past the budget"
    );

    // Nothing of the budget stays taken.
    server.assert_serving().await;
    let reply = server.post("/validate", review_of_about(MIB)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_and_logs_each_oversized_body_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::harness::ServerProcess::spawn(dir.path(), &["--max-body-size", "1MiB"]);
    let client = server.client();
    let reply = client
        .post(server.admission, "/validate", vec![b'x'; 2 * MIB])
        .await
        .unwrap();
    assert_eq!(reply.status, 413, "{}", reply.text());
    let h2 = client.h2(server.admission).await.unwrap();
    let reply = h2.post("/mutate", vec![b'x'; 2 * MIB]).await.unwrap();
    assert_eq!(reply.status, 413, "{}", reply.text());

    let samples = crate::harness::metrics_of(server.health).await;
    for webhook in ["validate", "mutate"] {
        assert_eq!(
            total(
                &samples,
                "stsguard_admission_requests_total",
                &[("webhook", webhook), ("result", "bad_request")]
            ),
            1.0,
            "{webhook}"
        );
    }
    // The log is written by a background writer: wait for both lines (a fixed wait that
    // passed on a quiet machine missed the second one under load), then check there are
    // no more than one per refusal.
    crate::harness::eventually(Duration::from_secs(10), || async {
        server.logged("refused a request body").len() >= 2
    })
    .await;
    let logged = server.logged("refused a request body");
    assert_eq!(logged.len(), 2, "{logged:#?}");
    for entry in &logged {
        assert_eq!(entry["status"], 413, "{entry}");
        assert_eq!(entry["reason"], "too_large", "{entry}");
    }
}

//! The `stsguard serve` process: start-up, SIGTERM with requests in flight, and the
//! client-certificate requirement.

use std::time::Duration;

use serde_json::Value;

use crate::common::{fixture, stsguard_command};
use crate::harness::{
    Https, RawRequest, ServerProcess, TestServer, client_pki, eventually, http_get,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::spawn(dir.path(), &["--shutdown-delay", "400ms"]);
    let (admission, health) = (server.admission, server.health);
    let client = server.client();
    let (_, review) = fixture("044");
    let body = serde_json::to_vec(&review).unwrap();
    assert_eq!(
        client
            .post(admission, "/validate", body.clone())
            .await
            .unwrap()
            .status,
        200
    );

    // Requests in flight: headers and half the body sent.
    let mut in_flight = Vec::new();
    for _ in 0..4 {
        in_flight.push(
            RawRequest::start(&client, admission, "/validate", &body, body.len() / 2)
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.terminate();

    // Readiness goes false first, while the admission port still answers.
    let not_ready = eventually(Duration::from_millis(350), || async {
        matches!(http_get(health, "/readyz").await, Ok((503, _)))
    })
    .await;
    assert!(not_ready.is_some(), "readiness did not turn false");
    assert_eq!(
        client
            .post(admission, "/validate", body.clone())
            .await
            .unwrap()
            .status,
        200
    );

    // After the delay the port is closed, and the requests in flight still complete.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        tokio::net::TcpStream::connect(admission).await.is_err(),
        "still accepting connections after the shutdown delay"
    );
    for request in in_flight {
        let (status, answer) = request.finish().await.unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["response"]["uid"], review["request"]["uid"]);
        assert_eq!(answer["response"]["allowed"], false);
    }

    assert_eq!(server.exit_code(Duration::from_secs(10)).await, Some(0));
}

#[test]
fn refuses_to_start_on_bad_flags() {
    let output = stsguard_command()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent/tls.crt",
        ])
        .env_remove("STSGUARD_TLS_KEY")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--tls-cert needs --tls-key"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ca_mode_requires_a_trusted_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = client_pki();
    let ca_file = dir.path().join("client-ca.crt");
    std::fs::write(&ca_file, &ca).unwrap();
    let ca_flag = ca_file.display().to_string();
    let server = TestServer::start_in(dir, &["--client-ca", &ca_flag]).await;
    let server_ca = std::fs::read_to_string(server.server.ephemeral_ca().unwrap()).unwrap();
    let (_, review) = fixture("002");
    let body = serde_json::to_vec(&review).unwrap();

    // Without a certificate: the handshake (or, in TLS 1.3, the first read) fails.
    let anonymous = Https::trusting(&[&server_ca]);
    assert!(
        anonymous
            .post(server.admission(), "/validate", body.clone())
            .await
            .is_err()
    );

    // With a certificate from another CA: refused too.
    let (_, stranger_cert, stranger_key) = client_pki();
    let stranger = Https::with_client_certificate(&[&server_ca], &stranger_cert, &stranger_key);
    assert!(
        stranger
            .post(server.admission(), "/validate", body.clone())
            .await
            .is_err()
    );

    let apiserver = Https::with_client_certificate(&[&server_ca], &cert, &key);
    let reply = apiserver
        .post(server.admission(), "/validate", body)
        .await
        .unwrap();
    assert_eq!(reply.status, 200);

    // The health port stays plain and open for the kubelet's probes.
    assert_eq!(http_get(server.health(), "/healthz").await.unwrap().0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_http2_and_http1() {
    let server = TestServer::start(&[]).await;
    let (_, review) = fixture("044");
    let body = serde_json::to_vec(&review).unwrap();
    let tls = server.client.connect(server.admission()).await.unwrap();
    // The client offered no ALPN: HTTP/1.1 (covered everywhere else). Now HTTP/2 with
    // prior knowledge over the same TLS listener.
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    for _ in 0..3 {
        let request = hyper::Request::post("https://127.0.0.1/validate")
            .body(http_body_util::Full::new(axum::body::Bytes::from(
                body.clone(),
            )))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let answer: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(answer["response"]["allowed"], false);
    }
}

/// What a load loop saw.
#[derive(Default)]
struct Load {
    answered: std::sync::atomic::AtomicUsize,
    failed: std::sync::Mutex<Vec<String>>,
}

/// Sends 044 until `routing` turns false, the way an API server does until the endpoints
/// drop the pod: over new HTTP/1.1 connections, or as streams of one HTTP/2 connection.
/// Every request started must be answered.
fn load(
    client: Https,
    admission: std::net::SocketAddr,
    http2: bool,
    routing: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (std::sync::Arc<Load>, tokio::task::JoinHandle<()>) {
    use std::sync::atomic::Ordering;
    let load = std::sync::Arc::new(Load::default());
    let (_, review) = fixture("044");
    let body = serde_json::to_vec(&review).unwrap();
    let task = tokio::spawn({
        let load = load.clone();
        async move {
            let h2 = if http2 {
                Some(client.h2(admission).await.unwrap())
            } else {
                None
            };
            while routing.load(Ordering::SeqCst) {
                let reply = match &h2 {
                    Some(h2) => h2.post("/validate", body.clone()).await,
                    None => client.post(admission, "/validate", body.clone()).await,
                };
                match reply {
                    Ok(reply)
                        if reply.status == 200
                            && reply.json()["response"]["uid"] == review["request"]["uid"] =>
                    {
                        load.answered.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(reply) => load.failed.lock().unwrap().push(format!(
                        "{}: {}",
                        reply.status,
                        reply.text()
                    )),
                    Err(e) => load.failed.lock().unwrap().push(e.to_string()),
                }
            }
        }
    });
    (load, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_continuous_load_loses_no_request() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::spawn(dir.path(), &["--shutdown-delay", "1500ms"]);
    let (admission, health) = (server.admission, server.health);
    let client = server.client();
    let (_, review) = fixture("044");
    let body = serde_json::to_vec(&review).unwrap();

    let routing = std::sync::Arc::new(AtomicBool::new(true));
    let loads = [
        load(client.clone(), admission, false, routing.clone()),
        load(client.clone(), admission, false, routing.clone()),
        load(client.clone(), admission, true, routing.clone()),
    ];
    let counters: Vec<_> = loads.iter().map(|(load, _)| load.clone()).collect();
    let answered = || {
        counters
            .iter()
            .map(|load| load.answered.load(Ordering::SeqCst))
            .sum::<usize>()
    };
    assert!(
        eventually(Duration::from_secs(10), || async { answered() >= 20 })
            .await
            .is_some(),
        "the load runs"
    );
    // And slow requests that span the whole shutdown: half their body sent now.
    let mut slow = Vec::new();
    for _ in 0..3 {
        slow.push(
            RawRequest::start(&client, admission, "/validate", &body, body.len() / 2)
                .await
                .unwrap(),
        );
    }

    server.terminate();
    let before = answered();
    // Readiness turns false first, while the load is still being answered.
    assert!(
        eventually(Duration::from_secs(1), || async {
            matches!(http_get(health, "/readyz").await, Ok((503, _)))
        })
        .await
        .is_some(),
        "readiness did not turn false"
    );
    // The endpoints controller takes a moment to drop the pod; until then the API server
    // still sends requests, and they are answered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    routing.store(false, Ordering::SeqCst);
    let mut failed = Vec::new();
    for (load, task) in loads {
        task.await.unwrap();
        failed.extend(load.failed.lock().unwrap().drain(..));
    }
    assert!(
        failed.is_empty(),
        "requests lost during shutdown: {failed:#?}"
    );
    assert!(
        answered() > before,
        "requests sent after SIGTERM were answered"
    );

    // After the delay the port closes; the slow requests still complete.
    assert!(
        eventually(Duration::from_secs(5), || async {
            tokio::net::TcpStream::connect(admission).await.is_err()
        })
        .await
        .is_some(),
        "the port closes after the shutdown delay"
    );
    for request in slow {
        let (status, answer) = request.finish().await.unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["response"]["uid"], review["request"]["uid"]);
    }
    assert_eq!(server.exit_code(Duration::from_secs(10)).await, Some(0));
    let stopped = server.logged("stopped");
    assert_eq!(stopped.len(), 1, "{:#?}", server.logs());
    assert_eq!(stopped[0]["drained"], true);
}

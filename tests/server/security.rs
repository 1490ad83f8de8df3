//! TLS versions, the client CA's reload, and what never reaches the logs.

use std::time::Duration;

use serde_json::{Value, json};
use stsguard::server::tls::generate_ephemeral;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::fixture;
use crate::harness::{
    Https, ServerProcess, TestServer, client_pki, closed_within, eventually, replace_file,
};

/// A ClientHello of a client that speaks at most `version` (0x0300 SSL 3.0, 0x0301 TLS
/// 1.0, 0x0302 TLS 1.1): no supported_versions extension, CBC suites of that era. rustls
/// cannot speak these versions, so the hello is written by hand.
fn legacy_client_hello(version: u16) -> Vec<u8> {
    let mut hello = Vec::new();
    hello.extend(version.to_be_bytes());
    hello.extend([0x42; 32]); // random
    hello.push(0); // no session id
    // ECDHE-ECDSA-AES128-SHA, ECDHE-RSA-AES128-SHA, AES128-SHA, AES256-SHA
    let suites: [u16; 4] = [0xc009, 0xc013, 0x002f, 0x0035];
    hello.extend(((suites.len() * 2) as u16).to_be_bytes());
    for suite in suites {
        hello.extend(suite.to_be_bytes());
    }
    hello.extend([1, 0]); // compression: null only
    let extensions = [
        // supported_groups: secp256r1, x25519
        &[0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x17, 0x00, 0x1d][..],
        // ec_point_formats: uncompressed
        &[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00][..],
    ]
    .concat();
    hello.extend((extensions.len() as u16).to_be_bytes());
    hello.extend(extensions);

    let mut handshake = vec![0x01]; // ClientHello
    handshake.extend(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01]; // handshake record, TLS 1.0 framing
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speaks_tls_1_2_and_1_3_only() {
    let server = TestServer::start(&[]).await;
    let ca = std::fs::read_to_string(server.server.ephemeral_ca().unwrap()).unwrap();
    let (_, review) = fixture("002");
    let body = serde_json::to_vec(&review).unwrap();
    for (version, expected) in [
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
    ] {
        let client = Https::with_versions(&[&ca], &[version]);
        let tls = client.connect(server.admission()).await.unwrap();
        assert_eq!(tls.get_ref().1.protocol_version(), Some(expected));
        let reply = client
            .post(server.admission(), "/validate", body.clone())
            .await
            .unwrap();
        assert_eq!(reply.status, 200);
    }

    for (name, version) in [
        ("SSL 3.0", 0x0300),
        ("TLS 1.0", 0x0301),
        ("TLS 1.1", 0x0302),
    ] {
        let mut tcp = TcpStream::connect(server.admission()).await.unwrap();
        tcp.write_all(&legacy_client_hello(version)).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
        // An alert record (21), fatal (2): protocol_version (70) or handshake_failure (40).
        // Never a ServerHello (a handshake record, 22).
        assert!(answer.len() >= 7, "{name}: {answer:?}");
        assert_eq!(answer[0], 21, "{name}: not an alert: {answer:?}");
        assert_eq!(answer[5], 2, "{name}: not fatal: {answer:?}");
        assert!([70, 40].contains(&answer[6]), "{name}: alert {}", answer[6]);
        assert!(
            closed_within(&mut tcp, Duration::from_secs(2))
                .await
                .is_some()
        );
    }
    assert!(
        server
            .metric_reaches("stsguard_tls_handshake_errors_total", &[], 3.0)
            .await
    );
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_the_client_ca_when_its_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (first_ca, first_cert, first_key) = client_pki();
    let (second_ca, second_cert, second_key) = client_pki();
    let ca_file = dir.path().join("client-ca.crt");
    std::fs::write(&ca_file, &first_ca).unwrap();
    let ca_flag = ca_file.display().to_string();
    let server = TestServer::start_in(dir, &["--client-ca", &ca_flag]).await;
    let server_ca = std::fs::read_to_string(server.server.ephemeral_ca().unwrap()).unwrap();
    let first = Https::with_client_certificate(&[&server_ca], &first_cert, &first_key);
    let second = Https::with_client_certificate(&[&server_ca], &second_cert, &second_key);
    let (_, review) = fixture("002");
    let body = serde_json::to_vec(&review).unwrap();
    let accepted = |client: &Https| {
        let client = client.clone();
        let body = body.clone();
        let addr = server.admission();
        async move {
            matches!(client.post(addr, "/validate", body).await, Ok(reply) if reply.status == 200)
        }
    };
    let reloads = |result: &'static str| {
        let server = &server;
        async move {
            server
                .metric("stsguard_client_ca_reloads_total", &[("result", result)])
                .await
        }
    };
    assert!(accepted(&first).await);
    assert!(!accepted(&second).await);

    // The API server's client certificate was reissued by a new CA.
    replace_file(&ca_file, &second_ca);
    assert!(
        eventually(Duration::from_secs(5), || accepted(&second))
            .await
            .is_some(),
        "the new client CA is required"
    );
    assert!(
        !accepted(&first).await,
        "the old client CA is no longer trusted"
    );
    assert_eq!(reloads("success").await, 1.0);

    // A broken file (garbage, or a CA file without certificates) never replaces the CA:
    // an empty trust list would lock the API server out.
    for broken in ["garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n"] {
        let failures = reloads("failure").await;
        replace_file(&ca_file, broken);
        assert!(
            eventually(Duration::from_secs(5), || async {
                reloads("failure").await > failures
            })
            .await
            .is_some()
        );
        assert!(accepted(&second).await);
        assert!(!accepted(&first).await);
    }
    assert_eq!(reloads("success").await, 1.0);
}

/// A value no log line may ever contain.
const SECRET: &str = "s3cr3t-4f1d2c9e-do-not-log";

/// Requests that carry [`SECRET`] in every place a careless server might log: the object's
/// annotations, labels, environment, command line and an unreadable field; a body that is
/// not JSON; a body over the size limit; an Authorization header.
async fn send_secrets(server: &ServerProcess, client: &Https) {
    let (_, mut review) = fixture("002");
    let object = &mut review["request"]["object"];
    object["metadata"]["annotations"] = json!({"example.com/token": SECRET});
    object["metadata"]["labels"]["token"] = json!(SECRET);
    let container = &mut object["spec"]["template"]["spec"]["containers"][0];
    container["env"] = json!([{"name": "API_TOKEN", "value": SECRET}]);
    container["args"] = json!([format!("--password={SECRET}")]);
    let mut unreadable = review.clone();
    unreadable["request"]["object"]["spec"]["replicas"] = json!(SECRET);
    let mut oversized = review.clone();
    oversized["request"]["object"]["metadata"]["annotations"]["padding"] =
        json!(format!("{SECRET}{}", "x".repeat(70_000)));
    let bearer = format!("Bearer {SECRET}");
    let headers = [("authorization", bearer.as_str())];

    for (path, body, status) in [
        ("/validate", serde_json::to_vec(&review).unwrap(), 200),
        ("/mutate", serde_json::to_vec(&review).unwrap(), 200),
        ("/validate", serde_json::to_vec(&unreadable).unwrap(), 200),
        ("/mutate", serde_json::to_vec(&unreadable).unwrap(), 200),
        (
            "/validate",
            format!("{{\"token\": \"{SECRET}\"").into_bytes(),
            400,
        ),
        ("/validate", serde_json::to_vec(&oversized).unwrap(), 413),
    ] {
        let reply = client
            .post_with(server.admission, path, body, &headers)
            .await
            .unwrap();
        assert_eq!(reply.status, status, "{path}: {}", reply.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_logs_object_content_tokens_or_keys() {
    for level in ["info", "debug", "trace"] {
        let dir = tempfile::tempdir().unwrap();
        let pki = generate_ephemeral(&["localhost", "127.0.0.1"], 30).unwrap();
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        std::fs::write(&cert, &pki.cert_pem).unwrap();
        std::fs::write(&key, &pki.key_pem).unwrap();
        let (cert_flag, key_flag) = (cert.display().to_string(), key.display().to_string());
        let mut flags = vec!["--tls-cert", &cert_flag, "--tls-key", &key_flag];
        flags.extend(["--reload-interval", "50ms", "--max-body-size", "64KiB"]);
        flags.extend(["--log-level", level]);
        let server = ServerProcess::spawn(dir.path(), &flags);
        send_secrets(&server, &Https::trusting(&[&pki.ca_pem])).await;

        // A key file replaced by a broken one: the error is logged, the key never.
        let key_body = pki
            .key_pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect::<String>();
        replace_file(
            &key,
            format!("-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n"),
        );
        assert!(
            eventually(Duration::from_secs(5), || async {
                !server
                    .logged("new certificate/key not loaded; still serving the previous pair")
                    .is_empty()
            })
            .await
            .is_some(),
            "{level}: the broken key is reported"
        );

        let logs = server.logs();
        let decisions = server.logged("admission decision");
        assert_eq!(decisions.len(), 4, "{level}: {logs:#?}");
        for line in &logs {
            assert!(!line.contains(SECRET), "{level}: {line}");
            assert!(
                !line.contains(&key_body[..40]),
                "{level}: key material: {line}"
            );
            let entry: Value = serde_json::from_str(line).unwrap();
            assert!(
                entry.get("object").is_none() && entry.get("body").is_none(),
                "{level}: {line}"
            );
        }
    }
}

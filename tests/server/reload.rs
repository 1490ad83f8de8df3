//! Certificate rotation and policy reload while serving: the new file takes effect within
//! the poll interval, a broken one never does, and no request fails meanwhile.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use stsguard::engine::policy::DEFAULT_POLICY_YAML;
use stsguard::server::tls::{EphemeralPki, generate_ephemeral};
use tokio::sync::Mutex;

use crate::common::fixture;
use crate::harness::{Https, TestServer, der_of, eventually, replace_file, total};

const NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// What a client loop saw.
#[derive(Default)]
struct Traffic {
    sent: AtomicUsize,
    failed: Mutex<Vec<String>>,
    last_certificate: Mutex<Vec<u8>>,
}

/// Sends 002 to /validate over new connections until `stop` is set.
fn keep_sending(
    client: Https,
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
) -> (Arc<Traffic>, tokio::task::JoinHandle<()>) {
    let traffic = Arc::new(Traffic::default());
    let (_, review) = fixture("002");
    let body = serde_json::to_vec(&review).unwrap();
    let task = tokio::spawn({
        let traffic = traffic.clone();
        async move {
            while !stop.load(Ordering::SeqCst) {
                match client.post(addr, "/validate", body.clone()).await {
                    Ok(reply) if reply.status == 200 => {
                        *traffic.last_certificate.lock().await = reply.peer_certificate;
                    }
                    Ok(reply) => traffic.failed.lock().await.push(format!(
                        "{}: {}",
                        reply.status,
                        reply.text()
                    )),
                    Err(e) => traffic.failed.lock().await.push(e.to_string()),
                }
                traffic.sent.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    (traffic, task)
}

fn write_pair(dir: &Path, pki: &EphemeralPki) {
    replace_file(&dir.join("tls.crt"), &pki.cert_pem);
    replace_file(&dir.join("tls.key"), &pki.key_pem);
}

async fn start_with_pair(pki: &EphemeralPki, extra: &[&str]) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), pki);
    let cert = dir.path().join("tls.crt").display().to_string();
    let key = dir.path().join("tls.key").display().to_string();
    let mut flags = vec!["--tls-cert", &cert, "--tls-key", &key];
    flags.extend(extra);
    TestServer::start_in(dir, &flags).await
}

async fn reloads(server: &TestServer, metric: &str, result: &str) -> f64 {
    total(&server.metrics().await, metric, &[("result", result)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotates_the_certificate_without_failing_a_request() {
    let first = generate_ephemeral(&NAMES, 30).unwrap();
    let second = generate_ephemeral(&NAMES, 60).unwrap();
    let mut server = start_with_pair(&first, &[]).await;
    server.client = Https::trusting(&[&first.ca_pem, &second.ca_pem]);
    let dir = server.dir.path().to_path_buf();
    let stop = Arc::new(AtomicBool::new(false));
    let (traffic, task) = keep_sending(server.client.clone(), server.admission(), stop.clone());

    let served = |expected: Vec<u8>| {
        let traffic = traffic.clone();
        move || {
            let traffic = traffic.clone();
            let expected = expected.clone();
            async move { *traffic.last_certificate.lock().await == expected }
        }
    };
    assert!(
        eventually(Duration::from_secs(2), served(der_of(&first.cert_pem)))
            .await
            .is_some()
    );

    // Certificate first, key second, as a careless rotation would: the moment in between
    // is a mismatched pair, which must not take effect.
    write_pair(&dir, &second);
    let took = eventually(Duration::from_secs(2), served(der_of(&second.cert_pem)))
        .await
        .expect("the new certificate is served");
    // Poll interval 100 ms; allow for a slow machine.
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert!(reloads(&server, "stsguard_certificate_reloads_total", "success").await >= 1.0);

    // Garbage: counted as a failure, the current pair keeps serving.
    let failures = reloads(&server, "stsguard_certificate_reloads_total", "failure").await;
    replace_file(
        &dir.join("tls.crt"),
        "-----BEGIN CERTIFICATE-----\ngarbage\n",
    );
    assert!(
        eventually(Duration::from_secs(2), || async {
            reloads(&server, "stsguard_certificate_reloads_total", "failure").await > failures
        })
        .await
        .is_some()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        *traffic.last_certificate.lock().await,
        der_of(&second.cert_pem)
    );

    stop.store(true, Ordering::SeqCst);
    task.await.unwrap();
    let failed = traffic.failed.lock().await;
    assert!(failed.is_empty(), "{failed:?}");
    assert!(traffic.sent.load(Ordering::SeqCst) > 10);

    let expiry = total(
        &server.metrics().await,
        "stsguard_certificate_expiry_timestamp_seconds",
        &[],
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let days = (expiry - now) / 86_400.0;
    assert!(
        (59.0..=60.0).contains(&days),
        "the second pair's expiry: {days}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_a_secret_volume_symlink_swap() {
    // The kubelet's AtomicWriter: files are symlinks through `..data`, which is swapped
    // to a new timestamped directory by a rename.
    let first = generate_ephemeral(&NAMES, 30).unwrap();
    let second = generate_ephemeral(&NAMES, 30).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write_version = |name: &str, pki: &EphemeralPki| {
        std::fs::create_dir(root.join(name)).unwrap();
        std::fs::write(root.join(name).join("tls.crt"), &pki.cert_pem).unwrap();
        std::fs::write(root.join(name).join("tls.key"), &pki.key_pem).unwrap();
    };
    write_version("..2024_01_01", &first);
    std::os::unix::fs::symlink("..2024_01_01", root.join("..data")).unwrap();
    for file in ["tls.crt", "tls.key"] {
        std::os::unix::fs::symlink(format!("..data/{file}"), root.join(file)).unwrap();
    }
    let cert = root.join("tls.crt").display().to_string();
    let key = root.join("tls.key").display().to_string();
    let mut server = TestServer::start_in(dir, &["--tls-cert", &cert, "--tls-key", &key]).await;
    server.client = Https::trusting(&[&first.ca_pem, &second.ca_pem]);
    let root = server.dir.path().to_path_buf();
    let (_, review) = fixture("002");
    let body = serde_json::to_vec(&review).unwrap();
    let reply = server.post("/validate", body.clone()).await;
    assert_eq!(reply.peer_certificate, der_of(&first.cert_pem));

    std::fs::create_dir(root.join("..2024_01_02")).unwrap();
    std::fs::write(root.join("..2024_01_02/tls.crt"), &second.cert_pem).unwrap();
    std::fs::write(root.join("..2024_01_02/tls.key"), &second.key_pem).unwrap();
    std::os::unix::fs::symlink("..2024_01_02", root.join("..data_tmp")).unwrap();
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();

    let expected = der_of(&second.cert_pem);
    let took = eventually(Duration::from_secs(2), || async {
        server
            .post("/validate", body.clone())
            .await
            .peer_certificate
            == expected
    })
    .await;
    assert!(took.is_some(), "the swapped certificate is served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_policy_never_replaces_the_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, DEFAULT_POLICY_YAML).unwrap();
    let policy_flag = policy.display().to_string();
    let server = TestServer::start_in(dir, &["--policy", &policy_flag]).await;
    let (_, review) = fixture("044");
    let denied = |answer: serde_json::Value| answer["response"]["allowed"] == false;
    assert!(denied(server.review("/validate", &review).await));

    let metric = "stsguard_policy_reloads_total";
    let broken: [&[u8]; 4] = [
        b"apiVersion: stsguard.dev/v1\nkind: StatefulSetPolicy\nspec:\n  mode: [not, a, mode]\n",
        b"",
        // Half-written: cut in the middle of a line.
        &DEFAULT_POLICY_YAML.as_bytes()[..DEFAULT_POLICY_YAML.len() / 2],
        b"\xff\xfe not text",
    ];
    for (i, contents) in broken.iter().enumerate() {
        replace_file(&policy, contents);
        let failures = (i + 1) as f64;
        assert!(
            eventually(Duration::from_secs(2), || async {
                reloads(&server, metric, "failure").await >= failures
            })
            .await
            .is_some(),
            "broken policy {i} counted"
        );
        assert!(
            denied(server.review("/validate", &review).await),
            "broken policy {i} took effect"
        );
    }
    assert_eq!(reloads(&server, metric, "failure").await, 4.0);
    assert_eq!(reloads(&server, metric, "success").await, 0.0);

    // A good new policy does take effect.
    replace_file(
        &policy,
        DEFAULT_POLICY_YAML.replace("mode: enforce", "mode: warn"),
    );
    assert!(
        eventually(Duration::from_secs(2), || async {
            reloads(&server, metric, "success").await >= 1.0
        })
        .await
        .is_some()
    );
    let answer = server.review("/validate", &review).await;
    assert_eq!(answer["response"]["allowed"], true);
    assert!(
        answer["response"]["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("would deny: ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_start_with_a_broken_policy_or_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "spec: {mode: sometimes}\n").unwrap();
    let mut flags = crate::harness::base_flags(dir.path());
    flags.extend(["--policy".to_string(), policy.display().to_string()]);
    let args = stsguard::server::ServeArgs::from_flags(&flags).unwrap();
    let error = stsguard::server::Server::start(&args).await.err().unwrap();
    assert!(error.to_string().contains("invalid policy"), "{error}");

    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::write(&cert, "not a certificate").unwrap();
    std::fs::write(&key, "not a key").unwrap();
    let mut flags = crate::harness::base_flags(dir.path());
    flags.extend([
        "--tls-cert".to_string(),
        cert.display().to_string(),
        "--tls-key".to_string(),
        key.display().to_string(),
    ]);
    let args = stsguard::server::ServeArgs::from_flags(&flags).unwrap();
    let error = stsguard::server::Server::start(&args).await.err().unwrap();
    assert!(error.to_string().contains("no PEM certificate"), "{error}");
}

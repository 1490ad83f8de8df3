//! Certificate rotation and policy reload while serving: the new file takes effect within
//! the poll interval, a broken one never does, and no request fails meanwhile.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use stsguard::engine::policy::DEFAULT_POLICY_YAML;
use stsguard::pki::Issued as EphemeralPki;
use stsguard::server::tls::generate_ephemeral;
use tokio::sync::Mutex;

use crate::common::fixture;
use crate::harness::{
    Https, ServerProcess, TestServer, der_of, eventually, metrics_of, replace_file, total,
};

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

/// Sends 002 to /validate as streams of one HTTP/2 connection until `stop` is set: a
/// connection made before a rotation keeps working after it.
fn keep_sending_h2(
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
            let h2 = client.h2(addr).await.unwrap();
            while !stop.load(Ordering::SeqCst) {
                match h2.post("/validate", body.clone()).await {
                    Ok(reply) if reply.status == 200 => {}
                    Ok(reply) => traffic.failed.lock().await.push(format!(
                        "HTTP/2 {}: {}",
                        reply.status,
                        reply.text()
                    )),
                    Err(e) => traffic.failed.lock().await.push(format!("HTTP/2: {e}")),
                }
                traffic.sent.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    (traffic, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotates_the_certificate_five_times_under_load_without_failing_a_request() {
    let pairs: Vec<EphemeralPki> = (0..6)
        .map(|i| generate_ephemeral(&NAMES, 30 + 10 * i).unwrap())
        .collect();
    let mut server = start_with_pair(&pairs[0], &[]).await;
    let cas: Vec<&str> = pairs.iter().map(|p| p.ca_pem.as_str()).collect();
    server.client = Https::trusting(&cas);
    let dir = server.dir.path().to_path_buf();
    let stop = Arc::new(AtomicBool::new(false));
    // Continuous load: two clients on new connections (they see each new certificate)
    // and one HTTP/2 connection that lives through every rotation.
    let loads = [
        keep_sending(server.client.clone(), server.admission(), stop.clone()),
        keep_sending(server.client.clone(), server.admission(), stop.clone()),
        keep_sending_h2(server.client.clone(), server.admission(), stop.clone()),
    ];
    let served = |expected: Vec<u8>| {
        let traffic = [loads[0].0.clone(), loads[1].0.clone()];
        move || {
            let traffic = traffic.clone();
            let expected = expected.clone();
            async move {
                for traffic in &traffic {
                    if *traffic.last_certificate.lock().await == expected {
                        return true;
                    }
                }
                false
            }
        }
    };
    assert!(
        eventually(Duration::from_secs(5), served(der_of(&pairs[0].cert_pem)))
            .await
            .is_some()
    );

    for (rotation, pair) in pairs.iter().enumerate().skip(1) {
        // Certificate first, key second, as a careless rotation would: the moment in
        // between is a mismatched pair, which must not take effect.
        write_pair(&dir, pair);
        let took = eventually(Duration::from_secs(5), served(der_of(&pair.cert_pem)))
            .await
            .unwrap_or_else(|| panic!("rotation {rotation}: the new certificate is served"));
        // Poll interval 100 ms; allow for a slow machine.
        assert!(
            took < Duration::from_secs(3),
            "rotation {rotation}: {took:?}"
        );
        assert!(
            reloads(&server, "stsguard_certificate_reloads_total", "success").await
                >= rotation as f64
        );
    }

    // Garbage: counted as a failure, the current pair keeps serving.
    let latest = der_of(&pairs[5].cert_pem);
    let failures = reloads(&server, "stsguard_certificate_reloads_total", "failure").await;
    replace_file(
        &dir.join("tls.crt"),
        "-----BEGIN CERTIFICATE-----\ngarbage\n",
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            reloads(&server, "stsguard_certificate_reloads_total", "failure").await > failures
        })
        .await
        .is_some()
    );
    // A few more handshakes after the failure still get the latest pair.
    let (_, review) = fixture("002");
    for _ in 0..3 {
        let reply = server
            .post("/validate", serde_json::to_vec(&review).unwrap())
            .await;
        assert_eq!(reply.peer_certificate, latest);
    }

    stop.store(true, Ordering::SeqCst);
    let mut sent = 0;
    for (traffic, task) in loads {
        task.await.unwrap();
        let failed = traffic.failed.lock().await;
        assert!(failed.is_empty(), "{failed:?}");
        sent += traffic.sent.load(Ordering::SeqCst);
    }
    assert!(sent > 50, "{sent} requests");

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
        (79.0..=80.0).contains(&days),
        "the last pair's expiry: {days}"
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_policy_is_logged_once_counted_and_never_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, DEFAULT_POLICY_YAML).unwrap();
    let policy_flag = policy.display().to_string();
    let interval = Duration::from_millis(50);
    let server = ServerProcess::spawn(
        dir.path(),
        &["--policy", &policy_flag, "--reload-interval", "50ms"],
    );
    let client = server.client();
    let (_, review) = fixture("044");
    let body = serde_json::to_vec(&review).unwrap();
    // 044 is denied in enforce mode and allowed with a warning in warn mode: the verdict
    // shows which policy is in force.
    let allowed = || async {
        let reply = client
            .post(server.admission, "/validate", body.clone())
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()["response"]["allowed"] == true
    };
    let failures = || async {
        total(
            &metrics_of(server.health).await,
            "stsguard_policy_reloads_total",
            &[("result", "failure")],
        )
    };
    assert!(!allowed().await);

    let truncated = &DEFAULT_POLICY_YAML.as_bytes()[..DEFAULT_POLICY_YAML.len() / 2];
    let broken: [(&str, &[u8]); 3] = [
        ("garbage", b"\x00\x01 {{{ not: [yaml"),
        ("empty", b""),
        ("half-written", truncated),
    ];
    for (i, (what, contents)) in broken.iter().enumerate() {
        if *what == "half-written" {
            // In place, not renamed: what a writer interrupted half-way leaves.
            std::fs::write(&policy, contents).unwrap();
        } else {
            replace_file(&policy, contents);
        }
        let counted = (i + 1) as f64;
        assert!(
            eventually(Duration::from_secs(5), || async {
                failures().await >= counted
            })
            .await
            .is_some(),
            "{what}: counted"
        );
        // The poller sees the same broken contents again and again; it must not log or
        // count them again. Nothing to wait on but time: ten more polls.
        tokio::time::sleep(interval * 10).await;
        assert_eq!(failures().await, counted, "{what}: counted once");
        assert!(!allowed().await, "{what}: the broken policy took effect");
    }
    let refused = server.logged("new policy refused; the last good policy stays in force");
    assert_eq!(
        refused.len(),
        3,
        "one line per broken content: {refused:#?}"
    );
    for entry in &refused {
        assert_eq!(entry["level"], "ERROR");
        assert!(
            entry["error"]
                .as_str()
                .is_some_and(|e| e.contains("policy")),
            "{entry}"
        );
    }
    assert!(server.logged("policy reloaded").is_empty());

    // A good policy again takes effect, and says so once.
    replace_file(
        &policy,
        DEFAULT_POLICY_YAML.replace("mode: enforce", "mode: warn"),
    );
    assert!(
        eventually(Duration::from_secs(5), || async { allowed().await })
            .await
            .is_some()
    );
    tokio::time::sleep(interval * 10).await;
    assert_eq!(server.logged("policy reloaded").len(), 1);
    assert_eq!(failures().await, 3.0);
}

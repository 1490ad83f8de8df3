//! When stsguard must not, or cannot, reach a cluster — no API server involved. A "cluster"
//! here is a TCP listener of the test's own on loopback, named as the server of a
//! kubeconfig: any connection stsguard makes arrives there and is counted.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster::eventually;
use crate::cluster_checks::{base_with, cluster_policy, run_stsguard, write_manifest};
use crate::webhook::{Serve, hermetic, make_certificates};

/// A listener standing in for an API server: a thread accepts every connection, counts it
/// and closes it at once (a client that waited for an answer would hang otherwise).
struct FakeCluster {
    port: u16,
    accepted: Arc<AtomicUsize>,
    kubeconfig: PathBuf,
}

impl FakeCluster {
    fn new(dir: &Path) -> FakeCluster {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        // Lives as long as the test process; it only ever accepts on loopback.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stream.is_ok() {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        let kubeconfig = write_kubeconfig(dir, "fake-cluster.kubeconfig", port);
        FakeCluster {
            port,
            accepted,
            kubeconfig,
        }
    }

    /// Connections accepted so far.
    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The environment that points every client at it: `KUBECONFIG`, and the in-cluster
    /// address a pod would have (without the pod's service-account token).
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KUBECONFIG", self.kubeconfig.display().to_string()),
            ("KUBERNETES_SERVICE_HOST", "127.0.0.1".to_string()),
            ("KUBERNETES_SERVICE_PORT", self.port.to_string()),
        ]
    }
}

/// A kubeconfig whose one context's server is `https://127.0.0.1:PORT`.
fn write_kubeconfig(dir: &Path, file: &str, port: u16) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(file);
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {
            "server": format!("https://127.0.0.1:{port}"),
            "insecure-skip-tls-verify": true,
        }}],
        "users": [{"name": "fake", "user": {"token": "fake-token"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        "current-context": "fake",
    });
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `validate` without `--cluster` never contacts a cluster, though `KUBECONFIG` and the
/// in-cluster address point at one; the same run with `--cluster` does (so the listener
/// would have seen it), and exits 2 saying why, as it does for a cluster nothing answers.
pub fn validate_without_cluster_never_contacts_a_cluster(dir: &Path) {
    let fake = FakeCluster::new(dir);
    let file = write_manifest(
        dir,
        "web.yaml",
        &[base_with(&[("/spec/serviceName", json!("absent"))])],
    );
    let file = file.to_str().unwrap();
    let env = fake.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let output = run_stsguard(&["validate", file], &env);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        fake.connections(),
        0,
        "validate without --cluster connected"
    );

    let output = run_stsguard(&["validate", "--cluster", file], &env);
    assert!(
        fake.connections() > 0,
        "validate --cluster did not use KUBECONFIG: {output:?}"
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(!output.stderr.is_empty(), "{output:?}");

    let unreachable = write_kubeconfig(dir, "closed.kubeconfig", closed_port());
    let output = run_stsguard(
        &[
            "validate",
            "--cluster",
            "--kubeconfig",
            unreachable.to_str().unwrap(),
            file,
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        stderr.to_lowercase().contains("connect") || stderr.contains("refused"),
        "no reason: {stderr}"
    );
}

/// `serve` with the default `--cluster auto`, outside a pod, leaves the cluster alone even
/// with `KUBECONFIG` set (a laptop stays hermetic); `--cluster on` with the same environment
/// does connect; `--cluster on` with no configuration anywhere exits 2 and says so.
pub fn serve_outside_a_pod_leaves_the_cluster_alone(dir: &Path) {
    let certs = dir.join("certs");
    make_certificates(&certs);
    let fake = FakeCluster::new(dir);
    let env = fake.env();
    // Outside a pod: the in-cluster address is not there, KUBECONFIG is.
    let env: Vec<(&str, &str)> = env
        .iter()
        .filter(|(name, _)| *name == "KUBECONFIG")
        .map(|(k, v)| (*k, v.as_str()))
        .collect();

    let serve = Serve::spawn(dir, "serve-auto", &certs, &cluster_policy(), &[], &env)
        .unwrap_or_else(|e| panic!("{e}"));
    serve
        .wait_until_ready(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("not ready:\n{}", serve.tail()));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        fake.connections(),
        0,
        "serve --cluster auto outside a pod connected"
    );
    serve.stop();

    let serve = Serve::spawn(
        dir,
        "serve-on",
        &certs,
        &cluster_policy(),
        &["--cluster", "on"],
        &env,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let connected = eventually(Duration::from_secs(10), || {
        (fake.connections() > 0).then_some(())
    });
    assert!(
        connected.is_some(),
        "serve --cluster on did not use KUBECONFIG:\n{}",
        serve.tail()
    );
    serve.stop();

    let mut command = crate::common::stsguard_command();
    command
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--health-listen", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(certs.join("tls.crt"))
        .arg("--tls-key")
        .arg(certs.join("tls.key"))
        .args(["--cluster", "on"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    hermetic(&mut command);
    let mut child = command.spawn().unwrap();
    let exited = eventually(Duration::from_secs(10), || child.try_wait().unwrap());
    if exited.is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "serve --cluster on without any kubeconfig: {output:?}"
    );
    assert!(
        stderr.to_lowercase().contains("kubeconfig"),
        "not a clear message: {stderr}"
    );
}

/// A cluster that never answers: `serve --cluster on` starts, `/readyz` says `not ready`
/// until `--cluster-sync-timeout` has passed and then 200, the failed attempts are counted,
/// and the rules of the kinds never listed say nothing.
pub fn serve_is_ready_after_the_sync_timeout_when_the_cluster_never_answers(dir: &Path) {
    let certs = dir.join("certs");
    make_certificates(&certs);
    let kubeconfig = write_kubeconfig(dir, "closed.kubeconfig", closed_port());
    let kubeconfig = kubeconfig.display().to_string();
    let started = Instant::now();
    let serve = Serve::spawn(
        dir,
        "serve-unreachable",
        &certs,
        &cluster_policy(),
        &[
            "--cluster",
            "on",
            "--kubeconfig",
            &kubeconfig,
            "--cluster-sync-timeout",
            "3s",
        ],
        &[],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = serve.readyz_answer().expect("an answer from /readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("not ready"), "{body}");
    serve
        .wait_until_ready(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("not ready after the sync timeout:\n{}", serve.tail()));
    let ready_after = started.elapsed();
    assert!(
        ready_after >= Duration::from_millis(2500),
        "ready after {ready_after:?}, before the 3 s sync timeout"
    );
    assert!(
        serve
            .cluster_metric("stsguard_cluster_watch_errors_total", "Service")
            .is_some_and(|errors| errors >= 1.0),
        "{}",
        serve.metrics()
    );
    assert_eq!(
        serve.cluster_metric("stsguard_cluster_synced", "Service"),
        Some(0.0)
    );
    let object = base_with(&[("/spec/serviceName", json!("absent"))]);
    assert_eq!(
        crate::cluster_checks::warned_directly(&serve, "default", &object),
        Vec::<String>::new()
    );
}

//! `stsguard serve` as a child process on 127.0.0.1, with a serving certificate from
//! `stsguard certs --san 127.0.0.1`, registered with an API server by `clientConfig.url`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use stsguard::cli::certs::{MUTATE_PATH, VALIDATE_PATH};

use crate::cluster::{Cluster, Run, eventually};
use crate::manifests::defaulted;

/// The webhooks' names: those of `deploy/base/webhooks.yaml`, so that the API server's
/// messages read as they do in a cluster.
pub const MUTATING_WEBHOOK: &str = "mutate.statefulsets.stsguard.dev";
pub const VALIDATING_WEBHOOK: &str = "validate.statefulsets.stsguard.dev";

/// The label that puts a namespace under the test webhooks (their namespaceSelector); its
/// value says which pair of configurations reviews it.
pub const WATCHED_LABEL: &str = "stsguard.dev/apiserver-test";

/// The AdmissionReview versions a pair of configurations lets the API server send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reviews {
    /// `[v1, v1beta1]`, as `deploy/` has it: the API server sends v1.
    V1,
    /// `[v1beta1]` only, as older webhooks register: stsguard must answer in v1beta1, or the
    /// API server rejects the answer.
    V1beta1,
}

impl Reviews {
    /// The value of [`WATCHED_LABEL`] that selects this pair.
    pub fn label(self) -> &'static str {
        match self {
            Reviews::V1 => "watched",
            Reviews::V1beta1 => "watched-v1beta1",
        }
    }

    fn versions(self) -> &'static [&'static str] {
        match self {
            Reviews::V1 => &["v1", "v1beta1"],
            Reviews::V1beta1 => &["v1beta1"],
        }
    }

    fn configuration_name(self) -> &'static str {
        match self {
            Reviews::V1 => "stsguard-apiserver-test",
            Reviews::V1beta1 => "stsguard-apiserver-test-v1beta1",
        }
    }
}

/// `stsguard certs --san 127.0.0.1` into `dir`: the API server calls the webhook by IP, so
/// the serving certificate must name it. Returns `ca.crt` base64-encoded, as `caBundle` wants it.
pub fn make_certificates(dir: &Path) -> String {
    let dir_arg = dir.display().to_string();
    let args = ["certs", "--out-dir", &dir_arg, "--san", "127.0.0.1"];
    let output = crate::common::stsguard(&args);
    assert!(
        output.status.success(),
        "stsguard {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    ca_bundle(dir)
}

/// `ca.crt` of certificates made by [`make_certificates`], as `caBundle` wants it.
pub fn ca_bundle(dir: &Path) -> String {
    let ca = std::fs::read(dir.join("ca.crt")).unwrap();
    base64::engine::general_purpose::STANDARD.encode(ca)
}

/// A running `stsguard serve`, killed on drop.
pub struct Serve {
    child: Mutex<Option<Child>>,
    pub log: PathBuf,
    pub admission: SocketAddr,
    /// The plain listener: `/healthz`, `/readyz`, `/metrics`.
    pub health: SocketAddr,
    /// The CA of the serving certificate, for calls that do not go through the API server.
    ca: PathBuf,
}

impl Serve {
    /// Starts `stsguard serve` on ephemeral loopback ports with the pair in `certs` and the
    /// policy `policy`, the cluster-aware checks off, and waits until it is ready.
    pub fn start(dir: &Path, certs: &Path, policy: &Path) -> Result<Serve, String> {
        Serve::launch(dir, "serve", certs, policy, &["--cluster", "off"])
    }

    /// Starts `stsguard serve` as [`Serve::start`] does, logging to `DIR/NAME.log`, with
    /// `args` added (the cluster flags), and waits until `/readyz` answers 200.
    pub fn launch(
        dir: &Path,
        name: &str,
        certs: &Path,
        policy: &Path,
        args: &[&str],
    ) -> Result<Serve, String> {
        let serve = Serve::spawn(dir, name, certs, policy, args, &[])?;
        serve
            .wait_until_ready(Duration::from_secs(30))
            .ok_or_else(|| format!("stsguard serve is not ready:\n{}", serve.tail()))?;
        Ok(serve)
    }

    /// Starts `stsguard serve` with `args` and, on top of a [`hermetic`] environment, `env`;
    /// waits until it listens, not until it is ready.
    pub fn spawn(
        dir: &Path,
        name: &str,
        certs: &Path,
        policy: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Serve, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let log = dir.join(format!("{name}.log"));
        let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut command = crate::common::stsguard_command();
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--health-listen", "127.0.0.1:0"])
            .arg("--tls-cert")
            .arg(certs.join("tls.crt"))
            .arg("--tls-key")
            .arg(certs.join("tls.key"))
            .arg("--policy")
            .arg(policy)
            .args(["--log-format", "json", "--shutdown-delay", "0s"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        hermetic(&mut command);
        command.envs(env.iter().copied());
        let child = command
            .spawn()
            .map_err(|e| format!("stsguard serve: {e}"))?;
        let mut serve = Serve {
            child: Mutex::new(Some(child)),
            log,
            admission: SocketAddr::from(([127, 0, 0, 1], 0)),
            health: SocketAddr::from(([127, 0, 0, 1], 0)),
            ca: certs.join("ca.crt"),
        };
        // Ports 0: the server logs the addresses it bound.
        let listening = eventually(Duration::from_secs(10), || {
            serve
                .log_lines()
                .into_iter()
                .find(|line| line["message"] == "listening")
        })
        .ok_or_else(|| format!("stsguard serve did not start:\n{}", serve.tail()))?;
        let address = |key: &str| -> Result<SocketAddr, String> {
            listening[key]
                .as_str()
                .and_then(|text| text.parse().ok())
                .ok_or_else(|| format!("no {key} address in {listening}"))
        };
        serve.admission = address("admission")?;
        serve.health = address("health")?;
        Ok(serve)
    }

    /// Polls `/readyz` until it answers 200.
    pub fn wait_until_ready(&self, limit: Duration) -> Option<()> {
        eventually(limit, || (self.readyz() == Some(200)).then_some(()))
    }

    /// The status `/readyz` answers, `None` when nothing answers.
    pub fn readyz(&self) -> Option<u16> {
        self.readyz_answer().map(|(status, _)| status)
    }

    /// The status and body `/readyz` answers.
    pub fn readyz_answer(&self) -> Option<(u16, String)> {
        http_get(self.health, "/readyz")
    }

    /// `/metrics`, in the Prometheus text format.
    #[track_caller]
    pub fn metrics(&self) -> String {
        match http_get(self.health, "/metrics") {
            Some((200, body)) => body,
            other => panic!("GET /metrics: {other:?}\n{}", self.tail()),
        }
    }

    /// The value of one series of `/metrics`: `name` with the label `kind="KIND"` (the
    /// cluster metrics' one label); `None` when there is no such series.
    pub fn cluster_metric(&self, name: &str, kind: &str) -> Option<f64> {
        metric(&self.metrics(), name, &format!("kind=\"{kind}\""))
    }

    /// The log's JSON lines.
    pub fn log_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// The log lines whose message starts with `message`.
    pub fn logged(&self, message: &str) -> Vec<Value> {
        self.log_lines()
            .into_iter()
            .filter(|line| {
                line["message"]
                    .as_str()
                    .is_some_and(|text| text.starts_with(message))
            })
            .collect()
    }

    /// The decisions logged for requests about objects in `namespace` (SPEC §6: one line per
    /// decision, with webhook, operation, dry_run and outcome).
    pub fn decisions(&self, namespace: &str) -> Vec<Value> {
        self.log_lines()
            .into_iter()
            .filter(|line| {
                line["message"] == "admission decision" && line["namespace"] == namespace
            })
            .collect()
    }

    /// Sends a StatefulSet CREATE of `object` in `namespace` to `/validate` directly (curl,
    /// trusting the test CA), not through an API server: how the webhook answers while the
    /// API server is away, or when none is registered. The AdmissionReview's `response`.
    #[track_caller]
    pub fn validate(&self, namespace: &str, object: &Value) -> Value {
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "00000000-0000-0000-0000-000000000020",
                "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
                "resource": {"group": "apps", "version": "v1", "resource": "statefulsets"},
                "requestKind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
                "requestResource": {"group": "apps", "version": "v1", "resource": "statefulsets"},
                "name": object["metadata"]["name"],
                "namespace": namespace,
                "operation": "CREATE",
                "userInfo": {"username": "admin", "groups": ["system:masters"]},
                "object": object,
                "oldObject": null,
                "dryRun": true,
                "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
            },
        });
        let mut curl = Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "10", "--cacert"])
            .arg(&self.ca)
            .args(["--header", "Content-Type: application/json"])
            .args(["--data-binary", "@-"])
            .arg(format!("https://{}{VALIDATE_PATH}", self.admission))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("curl");
        curl.stdin
            .take()
            .unwrap()
            .write_all(review.to_string().as_bytes())
            .unwrap();
        let output = curl.wait_with_output().unwrap();
        let answer: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "POST {VALIDATE_PATH}: no AdmissionReview ({e}): {}{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                self.tail()
            )
        });
        answer["response"].clone()
    }

    /// The last lines of the log.
    pub fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stops the server (once).
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Leaves stsguard nothing from the environment that could configure it or point it at a
/// cluster: no `STSGUARD_*` variable, no `KUBECONFIG`, no in-cluster address (CI may itself
/// run in a pod), and a home without `~/.kube`. Only the flags a test passes count.
pub fn hermetic(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("STSGUARD_") || name.starts_with("KUBERNETES_") {
            command.env_remove(&*name);
        }
    }
    command.env_remove("KUBECONFIG").env(
        "HOME",
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-home"),
    );
}

/// One series of a Prometheus text page: the value of the first line of metric `name` whose
/// labels include `label` (`key="value"`).
pub fn metric(page: &str, name: &str, label: &str) -> Option<f64> {
    page.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (labels, value) = rest.split_once("} ")?;
        let has_label = labels.split(',').any(|pair| pair == label);
        has_label.then(|| value.trim().parse().ok()).flatten()
    })
}

/// A plain HTTP/1.0 GET on the health listener (HTTP/1.0, so the body is never chunked):
/// status and body.
fn http_get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// The two webhook configurations for the shared server: everything as `deploy/` has it
/// (CREATE and UPDATE of apps/v1 statefulsets, `sideEffects: None`,
/// `reinvocationPolicy: IfNeeded`), except where a test needs otherwise:
/// - `clientConfig.url` on 127.0.0.1 and the test CA as `caBundle` (no Service here);
/// - a namespaceSelector on [`WATCHED_LABEL`], so each scenario opts its namespace in, and
///   the review versions of `reviews`;
/// - `statefulsets/scale` is sent too. `deploy/` leaves it out; sending it here makes a
///   `kubectl scale` prove that stsguard allows the Scale object untouched (SPEC §6), rather
///   than never seeing it;
/// - `failurePolicy: Fail` for the mutating webhook as well, so a mutation stsguard could not
///   answer fails the scenario with the API server's reason instead of silently storing an
///   object without defaults.
pub fn configurations(admission: SocketAddr, ca_bundle: &str, reviews: Reviews) -> Vec<Value> {
    configurations_for(
        admission,
        ca_bundle,
        reviews.configuration_name(),
        reviews.label(),
        reviews.versions(),
    )
}

/// The pair of [`configurations`], named `name`, for namespaces whose [`WATCHED_LABEL`] is
/// `label`, with these review versions: another stsguard beside the shared one.
pub fn configurations_for(
    admission: SocketAddr,
    ca_bundle: &str,
    name: &str,
    label: &str,
    versions: &[&str],
) -> Vec<Value> {
    let webhook = |name: &str, path: &str| {
        json!({
            "name": name,
            "clientConfig": {"url": format!("https://{admission}{path}"), "caBundle": ca_bundle},
            "rules": [{
                "apiGroups": ["apps"],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["statefulsets", "statefulsets/scale"],
                "scope": "Namespaced",
            }],
            "matchPolicy": "Equivalent",
            "namespaceSelector": {"matchLabels": {WATCHED_LABEL: label}},
            "sideEffects": "None",
            "admissionReviewVersions": versions,
            "failurePolicy": "Fail",
            "timeoutSeconds": 10,
        })
    };
    let mut mutating = webhook(MUTATING_WEBHOOK, MUTATE_PATH);
    mutating["reinvocationPolicy"] = json!("IfNeeded");
    vec![
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [mutating],
        }),
        json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [webhook(VALIDATING_WEBHOOK, VALIDATE_PATH)],
        }),
    ]
}

/// Waits until the API server sends `namespace`'s StatefulSets to both webhooks. It learns
/// of new webhook configurations and of namespace labels through informers (one per kind of
/// configuration), a moment after the write; until then requests pass unreviewed, which would
/// make a scenario's "allowed" prove nothing. Polls with dry runs while they pass as if
/// unreviewed (the bad object admitted, the good one without stsguard's annotation); the
/// first other answer decides.
#[track_caller]
pub fn wait_until_reviewed(cluster: &Cluster, namespace: &str, good: &Value, bad: &Value) {
    let namespace = cluster.existing_namespace(namespace);
    let answered = |object: &Value, unreviewed: fn(&Run) -> bool| {
        eventually(Duration::from_secs(20), || {
            let run = namespace.dry_run_create(object);
            (!unreviewed(&run)).then_some(run)
        })
    };
    let denied_by = format!("admission webhook \"{VALIDATING_WEBHOOK}\" denied the request");
    match answered(bad, |run| run.ok) {
        Some(run) if run.stderr.contains(&denied_by) => {}
        Some(run) => cluster.fail(
            &format!("stsguard did not deny a bad object in {}", namespace.name),
            &run,
        ),
        None => cluster.fail(
            &format!(
                "a bad object is still admitted in {} after 20 s: the validating webhook is \
                 not called, or stsguard allows it",
                namespace.name
            ),
            &namespace.dry_run_create(bad),
        ),
    }
    match answered(good, |run| run.ok && defaulted(&run.json()).is_none()) {
        Some(run) if run.ok => {}
        Some(run) => cluster.fail(
            &format!(
                "stsguard did not default a good object in {}",
                namespace.name
            ),
            &run,
        ),
        None => cluster.fail(
            &format!(
                "a good object still gets no defaults in {} after 20 s: the mutating webhook \
                 is not called, or stsguard does not default it",
                namespace.name
            ),
            &namespace.dry_run_create(good),
        ),
    }
}

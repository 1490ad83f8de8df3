//! Prometheus metrics, served as OpenMetrics text at `GET /metrics` on the health listener.
//!
//! Every label value comes from a fixed set (webhook, operation, result, rule ids, default
//! names), never from request content, so a hostile client cannot grow the series count.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::admission::{Decision, Outcome, Webhook};
use crate::cluster::Kind;
use crate::cluster::watch::Observer;

/// Latency buckets (seconds): a review takes tens of microseconds; the API server gives up
/// after the webhook's `timeoutSeconds` (≤ 10 s).
const LATENCY_BUCKETS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];

/// How one admission request ended, as the `result` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestResult {
    /// Answered `allowed: true` (with or without patch or warnings).
    Allowed,
    /// Answered `allowed: false`.
    Denied,
    /// 400: the body was not an AdmissionReview; 413: it was over `--max-body-size`.
    BadRequest,
    /// 503: over the concurrency cap.
    Overloaded,
    /// 503: not read and answered within the request timeout.
    Timeout,
    /// 500: stsguard could not write its own answer (a bug).
    Failed,
}

impl RequestResult {
    fn as_str(self) -> &'static str {
        match self {
            RequestResult::Allowed => "allowed",
            RequestResult::Denied => "denied",
            RequestResult::BadRequest => "bad_request",
            RequestResult::Overloaded => "overloaded",
            RequestResult::Timeout => "timeout",
            RequestResult::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    webhook: &'static str,
    operation: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    webhook: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    rule: &'static str,
    severity: &'static str,
    suppressed: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DefaultLabels {
    default: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TimeoutLabels {
    listener: &'static str,
    phase: &'static str,
}

/// Which listener a connection came in on, as the `listener` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// HTTPS, `/mutate` and `/validate`.
    Admission,
    /// Plain HTTP, `/healthz`, `/readyz` and `/metrics`.
    Health,
}

impl Listener {
    pub fn as_str(self) -> &'static str {
        match self {
            Listener::Admission => "admission",
            Listener::Health => "health",
        }
    }
}

/// Where a connection was when a time limit closed it, as the `phase` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// The TLS handshake did not finish within `--tls-handshake-timeout`.
    TlsHandshake,
    /// HTTP/1.1 request headers did not arrive within `--header-read-timeout`.
    Headers,
    /// No request started within the first-request or idle time limit.
    Idle,
}

impl TimeoutPhase {
    fn as_str(self) -> &'static str {
        match self {
            TimeoutPhase::TlsHandshake => "tls_handshake",
            TimeoutPhase::Headers => "headers",
            TimeoutPhase::Idle => "idle",
        }
    }
}

/// Whether a reload of the policy or the certificate took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadResult {
    Success,
    Failure,
}

impl ReloadResult {
    fn labels(self) -> ResultLabels {
        ResultLabels {
            result: match self {
                ReloadResult::Success => "success",
                ReloadResult::Failure => "failure",
            },
        }
    }
}

/// All of stsguard's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<WebhookLabels, Histogram, fn() -> Histogram>,
    findings: Family<FindingLabels, Counter>,
    defaults: Family<DefaultLabels, Counter>,
    policy_reloads: Family<ResultLabels, Counter>,
    certificate_reloads: Family<ResultLabels, Counter>,
    certificate_expiry: Gauge<i64, AtomicI64>,
    in_flight: Gauge<i64, AtomicI64>,
    client_ca_reloads: Family<ResultLabels, Counter>,
    connections_open: Family<ListenerLabels, Gauge<i64, AtomicI64>>,
    connections_refused: Family<ListenerLabels, Counter>,
    connections_timed_out: Family<TimeoutLabels, Counter>,
    tls_handshake_errors: Counter,
    cluster: ClusterMetrics,
}

/// The cluster watches' metrics (SPEC §8), shared with the watch tasks.
#[derive(Clone, Default)]
struct ClusterMetrics {
    objects: Family<KindLabels, Gauge<i64, AtomicI64>>,
    synced: Family<KindLabels, Gauge<i64, AtomicI64>>,
    watch_errors: Family<KindLabels, Counter>,
}

impl Observer for ClusterMetrics {
    fn objects(&self, kind: Kind, count: usize) {
        let labels = KindLabels {
            kind: kind.as_str(),
        };
        self.objects
            .get_or_create(&labels)
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    fn synced(&self, kind: Kind, synced: bool) {
        let labels = KindLabels {
            kind: kind.as_str(),
        };
        self.synced.get_or_create(&labels).set(i64::from(synced));
        // Zero series up front, as for the other failure counters.
        let _ = self.objects.get_or_create(&labels);
        let _ = self.watch_errors.get_or_create(&labels);
    }

    fn watch_error(&self, kind: Kind) {
        self.watch_errors
            .get_or_create(&KindLabels {
                kind: kind.as_str(),
            })
            .inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric under the `stsguard_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("stsguard");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission requests by webhook, operation and result",
            requests.clone(),
        );
        let duration: Family<WebhookLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        registry.register_with_unit(
            "admission_request_duration",
            "Time from the request's arrival to its answer, by webhook",
            prometheus_client::registry::Unit::Seconds,
            duration.clone(),
        );
        let findings = Family::<FindingLabels, Counter>::default();
        registry.register(
            "findings",
            "Findings reported by /validate, by rule, severity and whether the object's stsguard.dev/ignore annotation suppressed them",
            findings.clone(),
        );
        let defaults = Family::<DefaultLabels, Counter>::default();
        registry.register(
            "defaults_applied",
            "Defaults applied by /mutate, by default name",
            defaults.clone(),
        );
        let policy_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "policy_reloads",
            "Policy file reloads by result (a failed reload keeps the last good policy)",
            policy_reloads.clone(),
        );
        let certificate_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "certificate_reloads",
            "Serving certificate reloads by result (a failed reload keeps the current pair)",
            certificate_reloads.clone(),
        );
        let certificate_expiry = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "certificate_expiry_timestamp_seconds",
            "Expiry (notAfter) of the serving certificate, in Unix seconds",
            certificate_expiry.clone(),
        );
        let in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "admission_requests_in_flight",
            "Admission requests being handled now",
            in_flight.clone(),
        );
        let client_ca_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "client_ca_reloads",
            "Client CA file reloads by result (a failed reload keeps the current CA)",
            client_ca_reloads.clone(),
        );
        let connections_open = Family::<ListenerLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "connections_open",
            "Open connections by listener (TLS handshakes in progress included)",
            connections_open.clone(),
        );
        let connections_refused = Family::<ListenerLabels, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections closed at once because the listener's connection cap was reached",
            connections_refused.clone(),
        );
        let connections_timed_out = Family::<TimeoutLabels, Counter>::default();
        registry.register(
            "connections_timed_out",
            "Connections closed by a time limit, by listener and phase (tls_handshake, headers, idle)",
            connections_timed_out.clone(),
        );
        let tls_handshake_errors = Counter::default();
        registry.register(
            "tls_handshake_errors",
            "TLS handshakes that failed (not a TLS client, no common protocol version, untrusted client certificate)",
            tls_handshake_errors.clone(),
        );
        let cluster = ClusterMetrics::default();
        registry.register(
            "cluster_objects",
            "Objects of each watched kind in stsguard's view of the cluster",
            cluster.objects.clone(),
        );
        registry.register(
            "cluster_synced",
            "Whether each watched kind has completed its first list (its rules are on)",
            cluster.synced.clone(),
        );
        registry.register(
            "cluster_watch_errors",
            "Failed lists and watches of each kind (each is retried with backoff)",
            cluster.watch_errors.clone(),
        );
        // Zero series up front, so that a dashboard or alert sees a failure counter before
        // the first failure.
        for result in [ReloadResult::Success, ReloadResult::Failure] {
            let _ = policy_reloads.get_or_create(&result.labels());
            let _ = certificate_reloads.get_or_create(&result.labels());
            let _ = client_ca_reloads.get_or_create(&result.labels());
        }
        for listener in [Listener::Admission, Listener::Health] {
            let labels = ListenerLabels {
                listener: listener.as_str(),
            };
            let _ = connections_open.get_or_create(&labels);
            let _ = connections_refused.get_or_create(&labels);
        }
        Metrics {
            registry,
            requests,
            duration,
            findings,
            defaults,
            policy_reloads,
            certificate_reloads,
            certificate_expiry,
            in_flight,
            client_ca_reloads,
            connections_open,
            connections_refused,
            connections_timed_out,
            tls_handshake_errors,
            cluster,
        }
    }

    /// What the cluster watches report to.
    pub fn cluster_observer(&self) -> Arc<dyn Observer> {
        Arc::new(self.cluster.clone())
    }

    /// Counts one request and its latency.
    pub fn request(
        &self,
        webhook: Webhook,
        operation: Option<&'static str>,
        result: RequestResult,
        seconds: f64,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                webhook: webhook.as_str(),
                operation: operation.unwrap_or("unknown"),
                result: result.as_str(),
            })
            .inc();
        self.duration
            .get_or_create(&WebhookLabels {
                webhook: webhook.as_str(),
            })
            .observe(seconds);
    }

    /// Counts what a decision found or changed: findings at /validate, defaults at /mutate
    /// (each is counted once although both webhooks review the object).
    pub fn decision(&self, webhook: Webhook, decision: &Decision) {
        let Outcome::Reviewed { review, .. } = &decision.outcome else {
            return;
        };
        match webhook {
            Webhook::Validate => {
                let reported = review.findings.iter().map(|f| (f, "false"));
                let suppressed = review.suppressed.iter().map(|f| (f, "true"));
                for (finding, suppressed) in reported.chain(suppressed) {
                    self.findings
                        .get_or_create(&FindingLabels {
                            rule: finding.rule.id(),
                            severity: finding.severity.as_str(),
                            suppressed,
                        })
                        .inc();
                }
            }
            Webhook::Mutate => {
                for name in decision.defaulted() {
                    self.defaults
                        .get_or_create(&DefaultLabels { default: name })
                        .inc();
                }
            }
        }
    }

    /// Counts a policy reload.
    pub fn policy_reload(&self, result: ReloadResult) {
        self.policy_reloads.get_or_create(&result.labels()).inc();
    }

    /// Counts a certificate reload.
    pub fn certificate_reload(&self, result: ReloadResult) {
        self.certificate_reloads
            .get_or_create(&result.labels())
            .inc();
    }

    /// Counts a client CA reload.
    pub fn client_ca_reload(&self, result: ReloadResult) {
        self.client_ca_reloads.get_or_create(&result.labels()).inc();
    }

    /// The open-connections gauge of `listener`.
    pub fn connections_open(&self, listener: Listener) -> Gauge<i64, AtomicI64> {
        self.connections_open
            .get_or_create(&ListenerLabels {
                listener: listener.as_str(),
            })
            .clone()
    }

    /// Counts a connection closed at once for being over the cap.
    pub fn connection_refused(&self, listener: Listener) {
        self.connections_refused
            .get_or_create(&ListenerLabels {
                listener: listener.as_str(),
            })
            .inc();
    }

    /// Counts a connection closed by a time limit.
    pub fn connection_timed_out(&self, listener: Listener, phase: TimeoutPhase) {
        self.connections_timed_out
            .get_or_create(&TimeoutLabels {
                listener: listener.as_str(),
                phase: phase.as_str(),
            })
            .inc();
    }

    /// Counts a failed TLS handshake.
    pub fn tls_handshake_error(&self) {
        self.tls_handshake_errors.inc();
    }

    /// Records the serving certificate's notAfter (Unix seconds).
    pub fn certificate_expiry(&self, not_after: i64) {
        self.certificate_expiry.set(not_after);
    }

    /// The in-flight gauge, raised while a request is handled.
    pub fn in_flight(&self) -> &Gauge<i64, AtomicI64> {
        &self.in_flight
    }

    /// The metrics as OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_every_family_with_the_stsguard_prefix() {
        let metrics = Metrics::new();
        metrics.request(
            Webhook::Validate,
            Some("CREATE"),
            RequestResult::Denied,
            0.001,
        );
        metrics.certificate_expiry(1_900_000_000);
        let text = metrics.encode();
        for needle in [
            "stsguard_admission_requests_total{webhook=\"validate\",operation=\"CREATE\",result=\"denied\"} 1",
            "stsguard_admission_request_duration_seconds_count{webhook=\"validate\"} 1",
            "stsguard_policy_reloads_total{result=\"failure\"} 0",
            "stsguard_certificate_reloads_total{result=\"success\"} 0",
            "stsguard_client_ca_reloads_total{result=\"failure\"} 0",
            "stsguard_connections_open{listener=\"admission\"} 0",
            "stsguard_connections_refused_total{listener=\"health\"} 0",
            "stsguard_certificate_expiry_timestamp_seconds 1900000000",
            "# EOF",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }
}

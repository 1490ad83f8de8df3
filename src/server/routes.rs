//! HTTP: the admission router (`POST /mutate`, `POST /validate`) and the health router
//! (`/healthz`, `/readyz`, `/metrics`). Both are plain axum `Router`s, so tests drive them
//! in-process; TLS and connection handling live in [`super`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::admission::{self, Decision, InputError, Outcome, Webhook};
use super::metrics::{Metrics, RequestResult};
use crate::engine::{KubeVersion, Policy};

/// The path the MutatingWebhookConfiguration calls (`deploy/base/webhooks.yaml`).
pub const MUTATE_PATH: &str = "/mutate";
/// The path the ValidatingWebhookConfiguration calls.
pub const VALIDATE_PATH: &str = "/validate";

/// Limits applied to every admission request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest body accepted.
    pub max_body_size: usize,
    /// Time to read and answer one request.
    pub request_timeout: Duration,
    /// Requests handled at once; more are refused with 503.
    pub max_concurrent_requests: usize,
    /// Body bytes buffered at once over all requests; a request that would go over is
    /// refused with 503.
    pub max_buffered_bodies: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_size: 8 << 20,
            request_timeout: Duration::from_secs(8),
            max_concurrent_requests: 512,
            max_buffered_bodies: 64 << 20,
        }
    }
}

/// What the handlers share: the current policy, metrics, limits and readiness.
pub struct AppState {
    /// The policy in force; [`super::reload`] swaps it when the file changes.
    pub policy: ArcSwap<Policy>,
    pub metrics: Metrics,
    pub kube_version: KubeVersion,
    limits: Limits,
    permits: Arc<Semaphore>,
    /// The body budget in KiB: 512 requests × 8 MiB would be 4 GiB, far over a pod's
    /// memory limit, so bodies also draw from one shared budget while they are read and
    /// reviewed.
    body_budget: Arc<Semaphore>,
    ready: AtomicBool,
}

impl AppState {
    /// A state serving `policy`; ready from the start.
    pub fn new(
        policy: Policy,
        metrics: Metrics,
        kube_version: KubeVersion,
        limits: Limits,
    ) -> Self {
        AppState {
            policy: ArcSwap::from_pointee(policy),
            metrics,
            kube_version,
            permits: Arc::new(Semaphore::new(limits.max_concurrent_requests.max(1))),
            body_budget: Arc::new(Semaphore::new(kib(limits.max_buffered_bodies).max(1))),
            limits,
            ready: AtomicBool::new(true),
        }
    }

    /// Whether `/readyz` says ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Sets what `/readyz` says; false before shutdown, so that the Service stops routing
    /// here while requests already routed are still answered.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
}

/// `POST /mutate` and `POST /validate`; anything else is 404 or 405.
pub fn admission_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(MUTATE_PATH, post(mutate))
        .route(VALIDATE_PATH, post(validate))
        .fallback(not_found)
        .with_state(state)
}

/// `GET /healthz`, `GET /readyz`, `GET /metrics`.
pub fn health_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(state)
}

async fn mutate(State(state): State<Arc<AppState>>, request: Request) -> Response {
    admit(&state, Webhook::Mutate, request).await
}

async fn validate(State(state): State<Arc<AppState>>, request: Request) -> Response {
    admit(&state, Webhook::Validate, request).await
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "not found\n")
}

async fn healthz() -> Response {
    plain(StatusCode::OK, "ok\n")
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.is_ready() {
        plain(StatusCode::OK, "ready\n")
    } else {
        plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: shutting down\n",
        )
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        state.metrics.encode(),
    )
        .into_response()
}

fn plain(status: StatusCode, text: impl Into<Body>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        text.into(),
    )
        .into_response()
}

/// Keeps the in-flight gauge right however the handler ends (including a dropped future
/// when the client goes away).
struct InFlight<'a>(&'a Metrics);

impl<'a> InFlight<'a> {
    fn enter(metrics: &'a Metrics) -> Self {
        metrics.in_flight().inc();
        InFlight(metrics)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight().dec();
    }
}

async fn admit(state: &AppState, webhook: Webhook, request: Request) -> Response {
    let started = Instant::now();
    let elapsed = || started.elapsed().as_secs_f64();
    // Refuse at once rather than queue: an API server that waits on a queue hits its own
    // timeout, while a quick 503 lets it apply the failurePolicy (or retry) right away.
    let Ok(_permit) = state.permits.clone().try_acquire_owned() else {
        state
            .metrics
            .request(webhook, None, RequestResult::Overloaded, elapsed());
        let mut response = plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many concurrent admission requests; retry\n",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    let _in_flight = InFlight::enter(&state.metrics);
    let limits = state.limits;
    match tokio::time::timeout(limits.request_timeout, answer(state, webhook, request)).await {
        Ok(response) => response,
        Err(_) => {
            state
                .metrics
                .request(webhook, None, RequestResult::Timeout, elapsed());
            tracing::warn!(
                webhook = webhook.as_str(),
                timeout_ms = limits.request_timeout.as_millis() as u64,
                "request not read and answered in time"
            );
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the request was not received and answered within {:?}\n",
                    limits.request_timeout
                ),
            )
        }
    }
}

async fn answer(state: &AppState, webhook: Webhook, request: Request) -> Response {
    let started = Instant::now();
    let limit = state.limits.max_body_size;
    let (body, _budget) = match read_body(request, limit, &state.body_budget).await {
        Ok(body) => body,
        Err(Ok(BodyRefusal::OverBudget { drained })) => {
            state.metrics.request(
                webhook,
                None,
                RequestResult::Overloaded,
                started.elapsed().as_secs_f64(),
            );
            tracing::warn!(
                webhook = webhook.as_str(),
                budget_bytes = state.limits.max_buffered_bodies as u64,
                "refused a request: the buffered bodies of the requests in flight are at their limit"
            );
            let mut response = plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many request bytes in flight; retry\n",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            if !drained {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            return response;
        }
        Err(Ok(BodyRefusal::Oversize { drained })) => {
            let mut response =
                bad_request(state, webhook, started, &InputError::TooLarge { limit });
            if !drained {
                // Unread bytes are still on the way: this connection cannot be reused.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            return response;
        }
        Err(Err(reason)) => {
            return bad_request(state, webhook, started, &InputError::Unreadable(reason));
        }
    };
    let review = match admission::parse(&body, webhook) {
        Ok(review) => review,
        Err(error) => return bad_request(state, webhook, started, &error),
    };
    // `review` borrows its strings from `body`, which lives until the answer is sent.
    let policy = state.policy.load();
    let decision = admission::decide(&policy, webhook, &review.request, state.kube_version);
    let response_body = admission::encode(review.version, &decision.response);
    let seconds = started.elapsed().as_secs_f64();

    let result = if decision.response.allowed {
        RequestResult::Allowed
    } else {
        RequestResult::Denied
    };
    let operation = review.request.operation.as_str();
    state
        .metrics
        .request(webhook, Some(operation), result, seconds);
    state.metrics.decision(webhook, &decision);
    log_decision(webhook, &review.request, &decision, seconds);

    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        response_body,
    )
        .into_response()
}

/// Why a body was not read.
enum BodyRefusal {
    /// Larger than `--max-body-size`. `drained`: the rest was read and discarded, so the
    /// connection can carry the answer cleanly and be reused.
    Oversize { drained: bool },
    /// The shared body budget is spent. The rest of the body is read and discarded (it
    /// costs no memory) up to `--max-body-size`, so that the 503 arrives cleanly; `drained`
    /// as above.
    OverBudget { drained: bool },
}

/// Reads and drops the rest of a body of which `seen` bytes were read, up to `limit` in
/// all; whether it ended within that.
async fn drain(body: &mut Body, mut seen: usize, limit: usize) -> bool {
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return false;
        };
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen > limit {
                return false;
            }
        }
    }
    true
}

/// Bytes to whole KiB, rounded up (the budget's unit: a semaphore counts in `u32` steps).
fn kib(bytes: usize) -> usize {
    bytes.div_ceil(1024)
}

/// Reads the body up to `limit`, drawing its size from `budget` (KiB) as it arrives; the
/// returned permit gives it back when the request is answered (the parsed object lives
/// until then, and is a few times the body's size).
///
/// A body over the limit is read on and discarded, up to `limit` more bytes: closing a
/// connection with unread data makes the kernel send a reset, which can destroy the 400
/// before the client reads it. A body declared (or found) larger than that is refused
/// without reading it.
async fn read_body(
    request: Request,
    limit: usize,
    budget: &Arc<Semaphore>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), Result<BodyRefusal, String>> {
    let drain_limit = limit.saturating_mul(2);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > drain_limit as u64) {
        return Err(Ok(BodyRefusal::Oversize { drained: false }));
    }
    let mut body = request.into_body();
    let capacity = declared.map_or(16 * 1024, |len| len as usize).min(limit);
    let mut held: Option<OwnedSemaphorePermit> = None;
    let mut reserve = |bytes: usize| -> bool {
        let have = held.as_ref().map_or(0, |p| p.num_permits());
        let want = kib(bytes);
        if want <= have {
            return true;
        }
        let Ok(more) = u32::try_from(want - have) else {
            return false;
        };
        match budget.clone().try_acquire_many_owned(more) {
            Ok(permit) => {
                match held.as_mut() {
                    Some(existing) => existing.merge(permit),
                    None => held = Some(permit),
                }
                true
            }
            Err(_) => false,
        }
    };
    if !reserve(capacity) {
        return Err(Ok(BodyRefusal::OverBudget {
            drained: drain(&mut body, 0, limit).await,
        }));
    }
    let mut buffer = Vec::with_capacity(capacity);
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Err(format!("the body could not be read: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if seen > drain_limit {
            return Err(Ok(BodyRefusal::Oversize { drained: false }));
        }
        if seen <= limit {
            if !reserve(seen) {
                drop(buffer);
                return Err(Ok(BodyRefusal::OverBudget {
                    drained: drain(&mut body, seen, limit).await,
                }));
            }
            buffer.extend_from_slice(&data);
        }
    }
    if seen > limit {
        return Err(Ok(BodyRefusal::Oversize { drained: true }));
    }
    Ok((Bytes::from(buffer), held))
}

fn bad_request(
    state: &AppState,
    webhook: Webhook,
    started: Instant,
    error: &InputError,
) -> Response {
    state.metrics.request(
        webhook,
        None,
        RequestResult::BadRequest,
        started.elapsed().as_secs_f64(),
    );
    // The kind only: serde's message may quote the body.
    tracing::warn!(
        webhook = webhook.as_str(),
        reason = error.kind(),
        "refused a body that is not an AdmissionReview"
    );
    plain(StatusCode::BAD_REQUEST, format!("{error}\n"))
}

/// Shortens a request-supplied string for a log line.
fn clip(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One line per decision: who, what, the verdict, which rules, how long. Never the object.
fn log_decision(
    webhook: Webhook,
    request: &admission::AdmissionRequest,
    decision: &Decision,
    seconds: f64,
) {
    let rules = decision.rules_hit(webhook).join(",");
    let outcome = match &decision.outcome {
        Outcome::Skipped(reason) => reason,
        Outcome::Unreadable(_) => "unreadable object",
        Outcome::Reviewed { .. } => "reviewed",
    };
    tracing::info!(
        uid = clip(&request.uid, 64),
        namespace = clip(request.namespace.as_deref().unwrap_or(""), 63),
        name = clip(request.object_name().unwrap_or(""), 253),
        operation = request.operation.as_str(),
        webhook = webhook.as_str(),
        dry_run = request.dry_run.unwrap_or(false),
        allowed = decision.response.allowed,
        patched = decision.response.patch.is_some(),
        outcome,
        rules = rules.as_str(),
        defaulted = decision.defaulted().join(",").as_str(),
        duration_us = (seconds * 1e6) as u64,
        "admission decision"
    );
}

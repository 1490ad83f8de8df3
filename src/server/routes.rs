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
use axum::http::{HeaderMap, HeaderValue, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::admission::{self, AnswerError, Decision, InputError, Outcome, Webhook};
use super::metrics::{Metrics, RequestResult};
use crate::cluster::watch::Watches;
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
    /// refused with 503. The rest of a body refused for its size, read and dropped behind
    /// its 413, draws from it too.
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
    /// The cluster watches (`--cluster`), read by `/validate`.
    cluster: Option<Watches>,
    /// Whether the watches have settled, or `--cluster-sync-timeout` passed.
    cluster_ready: AtomicBool,
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
            cluster: None,
            cluster_ready: AtomicBool::new(true),
        }
    }

    /// This state, judging against the cluster the watches see; not ready until they have
    /// settled ([`AppState::set_cluster_ready`]).
    #[must_use]
    pub fn with_cluster(mut self, watches: Watches) -> Self {
        self.cluster = Some(watches);
        self.cluster_ready = AtomicBool::new(false);
        self
    }

    /// The cluster watches, when `--cluster` is on.
    pub fn cluster(&self) -> Option<&Watches> {
        self.cluster.as_ref()
    }

    /// Ends the wait for the cluster watches (they settled, or the sync timeout passed).
    pub fn set_cluster_ready(&self) {
        self.cluster_ready.store(true, Ordering::SeqCst);
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
    if !state.is_ready() {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: shutting down\n",
        );
    }
    if let Some(watches) = state.cluster()
        && !state.cluster_ready.load(Ordering::SeqCst)
    {
        let pending: Vec<&str> = watches.pending().iter().map(|k| k.as_str()).collect();
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: waiting for the cluster watches' first list ({})\n",
                pending.join(", ")
            ),
        );
    }
    plain(StatusCode::OK, "ready\n")
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
    let (head, body) = request.into_parts();
    let (body, _budget) = match read_body(&head.headers, body, limit, &state.body_budget).await {
        Ok(body) => body,
        Err(BodyRefusal::OverBudget { drained }) => {
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
        Err(BodyRefusal::Oversize(unread)) => {
            return too_large(state, webhook, started, &head, unread);
        }
        Err(BodyRefusal::Unreadable(error)) => {
            // admission::InputError takes the reason as text (it is also what the client
            // and the log are told), so it is worded here.
            let reason = format!("the body could not be read: {error}");
            return refuse(state, webhook, started, &InputError::Unreadable(reason));
        }
    };
    let review = match admission::parse(&body, webhook) {
        Ok(review) => review,
        Err(error) => return refuse(state, webhook, started, &error),
    };
    // `review` borrows its strings from `body`, which lives until the answer is sent.
    let policy = state.policy.load();
    // The rules read the cluster only at /validate; a snapshot costs a few atomic steps.
    let cluster = match webhook {
        Webhook::Validate => state.cluster().map(Watches::inventory),
        Webhook::Mutate => None,
    };
    let answered = admission::decide_in(
        &policy,
        webhook,
        &review.request,
        state.kube_version,
        cluster.as_deref().map(|inventory| &**inventory),
    )
    .and_then(|decision| {
        Ok((
            admission::encode(review.version, &decision.response)?,
            decision,
        ))
    });
    let operation = review.request.operation.as_str();
    let (response_body, decision) = match answered {
        Ok(answered) => answered,
        Err(error) => {
            state.metrics.request(
                webhook,
                Some(operation),
                RequestResult::Failed,
                started.elapsed().as_secs_f64(),
            );
            tracing::error!(
                webhook = webhook.as_str(),
                error = %error,
                "could not write the answer"
            );
            return failed(&error);
        }
    };
    let seconds = started.elapsed().as_secs_f64();

    let result = if decision.response.allowed {
        RequestResult::Allowed
    } else {
        RequestResult::Denied
    };
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
    /// Larger than `--max-body-size`, by its `Content-Length` or by the bytes read.
    Oversize(Unread),
    /// The shared body budget is spent. The rest of the body is read and discarded (it
    /// costs no memory) up to `--max-body-size`, so that the 503 arrives cleanly. `drained`:
    /// the rest was read and discarded, so the connection can carry the answer cleanly and
    /// be reused.
    OverBudget { drained: bool },
    /// The connection failed while the body was being read.
    Unreadable(axum::Error),
}

/// What is left of a body refused for its size.
struct Unread {
    body: Body,
    /// Bytes still to come by its `Content-Length`; `None` without one (chunked).
    declared_rest: Option<u64>,
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

/// A share of the body budget (KiB) that grows as a body's bytes arrive; given back when
/// dropped.
struct Draw {
    budget: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
}

impl Draw {
    fn new(budget: &Arc<Semaphore>) -> Self {
        Draw {
            budget: budget.clone(),
            held: None,
        }
    }

    /// Holds enough for `bytes` in all; false if the budget cannot give the difference now
    /// (waiting would hold the request while others finish; the caller refuses instead).
    fn cover(&mut self, bytes: usize) -> bool {
        let have = self.held.as_ref().map_or(0, |p| p.num_permits());
        let want = kib(bytes);
        if want <= have {
            return true;
        }
        let Ok(more) = u32::try_from(want - have) else {
            return false;
        };
        match self.budget.clone().try_acquire_many_owned(more) {
            Ok(permit) => {
                match self.held.as_mut() {
                    Some(existing) => existing.merge(permit),
                    None => self.held = Some(permit),
                }
                true
            }
            Err(_) => false,
        }
    }

    fn into_permit(self) -> Option<OwnedSemaphorePermit> {
        self.held
    }
}

/// The request's `Content-Length`, if it has a readable one.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads the body up to `limit`, drawing its size from `budget` (KiB) as it arrives; the
/// returned permit gives it back when the request is answered (the parsed object lives
/// until then, and is a few times the body's size).
///
/// A body declared larger than `limit` is refused before any of it is read, and one found
/// larger as soon as the bytes read pass `limit`: the 413 goes out at once and
/// [`too_large`] deals with the rest.
async fn read_body(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
    budget: &Arc<Semaphore>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), BodyRefusal> {
    let declared = content_length(headers);
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyRefusal::Oversize(Unread {
            body,
            declared_rest: declared,
        }));
    }
    let capacity = declared.map_or(16 * 1024, |len| len as usize).min(limit);
    let mut draw = Draw::new(budget);
    if !draw.cover(capacity) {
        return Err(BodyRefusal::OverBudget {
            drained: drain(&mut body, 0, limit).await,
        });
    }
    let mut buffer = Vec::with_capacity(capacity);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyRefusal::Unreadable)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let seen = buffer.len().saturating_add(data.len());
        if seen > limit {
            return Err(BodyRefusal::Oversize(Unread {
                body,
                declared_rest: declared.map(|len| len.saturating_sub(seen as u64)),
            }));
        }
        if !draw.cover(seen) {
            drop(buffer);
            return Err(BodyRefusal::OverBudget {
                drained: drain(&mut body, seen, limit).await,
            });
        }
        buffer.extend_from_slice(&data);
    }
    Ok((Bytes::from(buffer), draw.into_permit()))
}

/// Answers 413 to a body over `--max-body-size` at once, without reading it whole, and
/// reads and drops the rest of it behind the answer ([`discard`]), so that a client that
/// sends its whole body before it reads (HTTP/1.1 clients mostly do) can read the answer.
///
/// HTTP/1.1: the answer says `Connection: close`; hyper closes the connection once the
/// answer is written and the body has been read to its end or given up. HTTP/2: the
/// stream ends; if the body is given up before its end, h2 resets the stream with
/// NO_ERROR after the complete answer (RFC 9113 §8.1), and the connection carries on.
fn too_large(
    state: &AppState,
    webhook: Webhook,
    started: Instant,
    head: &axum::http::request::Parts,
    unread: Unread,
) -> Response {
    let limit = state.limits.max_body_size;
    let mut response = refuse(state, webhook, started, &InputError::TooLarge { limit });
    if head.version < Version::HTTP_2 {
        // Whatever happens to the rest of the body, the connection is not reused: the
        // answer is written before it is known whether the body can be read to its end.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if expects_continue(&head.headers) {
        // The client sends its body only after a 100 (Continue), which hyper sends only if
        // the body is read before the answer starts (RFC 9110 §10.1.1): not reading it
        // means it never comes, and the connection closes cleanly.
        return response;
    }
    let budget = state.body_budget.clone();
    let deadline = tokio::time::Instant::from_std(started) + state.limits.request_timeout;
    tokio::spawn(async move {
        let discarded = discard(unread, &budget, deadline).await;
        tracing::debug!(
            webhook = webhook.as_str(),
            discarded_bytes = discarded.bytes as u64,
            outcome = discarded.outcome,
            "stopped reading a refused body"
        );
    });
    response
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// How much of a refused body was read and dropped, and why the reading stopped.
struct Discarded {
    bytes: usize,
    outcome: &'static str,
}

/// Reads and drops the rest of a refused body until its end, the request's deadline, or
/// the shared body budget (`--max-buffered-bodies`) runs out.
///
/// Why read it at all: hyper closes an HTTP/1.1 connection whose request body is left
/// unread, and closing a socket with unread bytes in its receive buffer makes the kernel
/// send a reset, which can destroy the answer before the client reads it and fails the
/// writes of a client still sending (the "lingering close" of RFC 9112 §9.6). Over HTTP/2,
/// RFC 9113 §8.1 lets a server reset the stream right after a complete answer and forbids
/// clients to discard the answer for it, but some do (curl 7.88 reports a stream error and
/// no status when the reset arrives together with the answer); reading on lets the stream
/// end normally, and a client that stops sending on the answer ends it itself.
///
/// Why the budget: the discarded bytes cost no memory, but reading them costs time and
/// decryption; drawing them from the budget bounds how much all refused bodies together
/// make the server read, and a flood of them ends in resets instead of work. A body whose
/// declared rest the budget cannot cover now is not read at all: reading part of it would
/// end in the same reset.
async fn discard(
    unread: Unread,
    budget: &Arc<Semaphore>,
    deadline: tokio::time::Instant,
) -> Discarded {
    let Unread {
        mut body,
        declared_rest,
    } = unread;
    let mut discarded = Discarded {
        bytes: 0,
        outcome: "ended",
    };
    if declared_rest.is_some_and(|rest| {
        usize::try_from(rest).map_or(true, |rest| kib(rest) > budget.available_permits())
    }) {
        discarded.outcome = "over_budget";
        return discarded;
    }
    let mut draw = Draw::new(budget);
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                discarded.outcome = "timeout";
                return discarded;
            }
            // The end of the body; over HTTP/2 also a client that reset the stream (CANCEL,
            // NO_ERROR), which hyper reports as an end.
            Ok(None) => return discarded,
            Ok(Some(Err(_))) => {
                discarded.outcome = "client_error";
                return discarded;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            discarded.bytes = discarded.bytes.saturating_add(data.len());
            if !draw.cover(discarded.bytes) {
                discarded.outcome = "over_budget";
                return discarded;
            }
        }
    }
}

/// 400 for a body that is not an AdmissionReview, 413 for one over `--max-body-size`;
/// counted as `bad_request` and logged once, by kind.
fn refuse(state: &AppState, webhook: Webhook, started: Instant, error: &InputError) -> Response {
    let status = match error {
        InputError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    state.metrics.request(
        webhook,
        None,
        RequestResult::BadRequest,
        started.elapsed().as_secs_f64(),
    );
    // The kind only: serde's message may quote the body.
    tracing::warn!(
        webhook = webhook.as_str(),
        status = status.as_u16(),
        reason = error.kind(),
        "refused a request body"
    );
    plain(status, format!("{error}\n"))
}

/// 500 when stsguard cannot write its own answer (a bug, never the request's fault): the API
/// server applies the webhook's failurePolicy, where an empty or partial review under a 200
/// would be read as an answer.
fn failed(error: &AnswerError) -> Response {
    plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{error}\n"))
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

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::atomic::AtomicUsize;
    use std::task::{Context, Poll};

    use super::*;

    const MIB: usize = 1 << 20;

    /// `left` bytes in 64 KiB pieces, counted in `taken` as they are read; then the end, or
    /// (`stalls`) nothing more, ever.
    struct Pieces {
        left: usize,
        stalls: bool,
        taken: Arc<AtomicUsize>,
    }

    impl hyper::body::Body for Pieces {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
            let piece = self.left.min(64 << 10);
            if piece == 0 {
                return if self.stalls {
                    Poll::Pending
                } else {
                    Poll::Ready(None)
                };
            }
            self.left -= piece;
            self.taken.fetch_add(piece, Ordering::SeqCst);
            Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from(vec![
                b'x';
                piece
            ])))))
        }
    }

    fn pieces(size: usize, stalls: bool) -> (Body, Arc<AtomicUsize>) {
        let taken = Arc::new(AtomicUsize::new(0));
        let body = Body::new(Pieces {
            left: size,
            stalls,
            taken: taken.clone(),
        });
        (body, taken)
    }

    fn unread(size: usize, declared: bool) -> Unread {
        Unread {
            body: pieces(size, false).0,
            declared_rest: declared.then_some(size as u64),
        }
    }

    fn budget_of(bytes: usize) -> Arc<Semaphore> {
        Arc::new(Semaphore::new(kib(bytes)))
    }

    fn in_a_minute() -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_secs(60)
    }

    fn length(bytes: usize) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes));
        headers
    }

    #[tokio::test]
    async fn answers_500_when_stsguard_cannot_write_its_answer() {
        let error = AnswerError::from(<serde_json::Error as serde::ser::Error>::custom("boom"));
        let response = failed(&error);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "stsguard could not write its answer: boom\n");
    }

    #[tokio::test]
    async fn refuses_a_body_declared_too_large_before_reading_any_of_it() {
        let (body, taken) = pieces(20 * MIB, false);
        let budget = budget_of(64 * MIB);
        let refused = read_body(&length(20 * MIB), body, MIB, &budget).await;
        let Err(BodyRefusal::Oversize(unread)) = refused else {
            panic!("not refused for its size");
        };
        assert_eq!(unread.declared_rest, Some(20 * MIB as u64));
        assert_eq!(taken.load(Ordering::SeqCst), 0);
        assert_eq!(budget.available_permits(), kib(64 * MIB));
    }

    #[tokio::test]
    async fn refuses_a_body_of_unknown_length_as_soon_as_it_passes_the_limit() {
        let (body, taken) = pieces(20 * MIB, false);
        let budget = budget_of(64 * MIB);
        let refused = read_body(&HeaderMap::new(), body, MIB, &budget).await;
        let Err(BodyRefusal::Oversize(unread)) = refused else {
            panic!("not refused for its size");
        };
        assert_eq!(unread.declared_rest, None);
        assert_eq!(taken.load(Ordering::SeqCst), MIB + (64 << 10));
        // What was read of it is given back at once; the rest is the discard's business.
        assert_eq!(budget.available_permits(), kib(64 * MIB));
    }

    #[tokio::test]
    async fn discards_a_body_to_its_end_and_gives_its_share_of_the_budget_back() {
        let budget = budget_of(4 * MIB);
        let discarded = discard(unread(3 * MIB, true), &budget, in_a_minute()).await;
        assert_eq!((discarded.bytes, discarded.outcome), (3 * MIB, "ended"));
        assert_eq!(budget.available_permits(), kib(4 * MIB));
    }

    #[tokio::test]
    async fn does_not_read_a_declared_rest_the_budget_cannot_cover_now() {
        let budget = budget_of(4 * MIB);
        let held = budget
            .clone()
            .try_acquire_many_owned(kib(2 * MIB) as u32)
            .unwrap();
        let discarded = discard(unread(3 * MIB, true), &budget, in_a_minute()).await;
        assert_eq!((discarded.bytes, discarded.outcome), (0, "over_budget"));
        drop(held);
        let discarded = discard(unread(20 * MIB, true), &budget, in_a_minute()).await;
        assert_eq!((discarded.bytes, discarded.outcome), (0, "over_budget"));
    }

    #[tokio::test]
    async fn stops_a_body_of_unknown_length_where_the_budget_ends() {
        let budget = budget_of(4 * MIB);
        let discarded = discard(unread(20 * MIB, false), &budget, in_a_minute()).await;
        assert_eq!(discarded.outcome, "over_budget");
        assert_eq!(discarded.bytes, 4 * MIB + (64 << 10));
        assert_eq!(budget.available_permits(), kib(4 * MIB));
    }

    #[tokio::test]
    async fn stops_at_the_request_deadline() {
        let budget = budget_of(4 * MIB);
        let (body, _) = pieces(MIB, true);
        let unread = Unread {
            body,
            declared_rest: None,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_millis(50);
        let discarded = discard(unread, &budget, deadline).await;
        assert_eq!((discarded.bytes, discarded.outcome), (MIB, "timeout"));
        assert_eq!(budget.available_permits(), kib(4 * MIB));
    }
}

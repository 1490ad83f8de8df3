//! Connections: the accept loops of both listeners and the limits that keep a slow, idle or
//! hostile client from holding the server's file descriptors and tasks.
//!
//! - A cap on open connections per listener. A connection over the cap is closed as soon as
//!   it is accepted: the client learns at once, instead of waiting in the kernel's backlog
//!   until its own timeout, and the server never runs out of descriptors.
//! - A time limit for the TLS handshake (a TCP connection that never says hello).
//! - A time limit for the first request to start, whatever the protocol: hyper-util reads
//!   the first bytes to tell HTTP/2 from HTTP/1.1 without any limit of its own.
//! - HTTP/1.1: hyper's header read timeout, which also runs while a kept-alive connection
//!   waits for its next request.
//! - An idle limit: a connection with no request in flight for that long is closed (HTTP/2:
//!   GOAWAY), and one that does not finish closing in time is dropped.
//! - HTTP/2: stream and header-list limits, and PINGs to notice a peer that has gone away.
//!
//! The connection cap is also how shutdown knows when every connection has finished.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::metrics::{Listener, Metrics, TimeoutPhase};
use super::routes::AppState;

/// Resolves once the flag turns true (or its sender is gone): the accept loops' and the
/// reload polls' stop signal.
pub(crate) async fn stopped(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|stopped| *stopped).await;
}

/// Streams one HTTP/2 connection may have open at once. hyper's default (200) is not part
/// of its stable API; 100 is what RFC 9113 asks a server to allow at least.
pub const H2_MAX_CONCURRENT_STREAMS: u32 = 100;
/// Largest header list of an HTTP/2 request (hyper's default, stated). An AdmissionReview
/// request carries a handful of short headers.
pub const H2_MAX_HEADER_LIST_SIZE: u32 = 16 << 10;
/// A PING after this much silence on an HTTP/2 connection, so that a peer that vanished
/// (node gone, no FIN) is noticed while a request is still running on it.
pub const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
/// How long a PING may go unanswered before the connection is closed.
pub const H2_PING_TIMEOUT: Duration = Duration::from_secs(10);
/// Request headers an HTTP/1.1 request may have (hyper's default, stated).
pub const H1_MAX_HEADERS: usize = 100;

/// The connection limits of one listener.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Open connections, TLS handshakes included.
    pub max_connections: u32,
    /// TLS handshake time limit (admission listener only).
    pub tls_handshake_timeout: Duration,
    /// Time for the first request to start, and for each HTTP/1.1 request's headers.
    pub header_read_timeout: Duration,
    /// Time a connection may stay open with no request in flight.
    pub idle_timeout: Duration,
}

/// What a listener speaks.
#[derive(Clone)]
pub enum Transport {
    /// Plain HTTP/1.1 (the health listener: kubelet probes, Prometheus).
    Plain,
    /// TLS, then HTTP/2 or HTTP/1.1. The configuration is swapped when the client CA file
    /// changes; each handshake uses the one current when it starts.
    Tls(Arc<ArcSwap<ServerConfig>>),
}

/// One listener: where, what it speaks, what it serves, its limits.
pub struct Listening {
    pub listener: TcpListener,
    pub which: Listener,
    pub transport: Transport,
    pub router: Router,
    pub limits: ConnectionLimits,
}

/// Accepts connections until `stop` turns true, then closes the port, asks every open
/// connection to finish (HTTP/1.1: after the request in progress; HTTP/2: GOAWAY) and
/// waits for them. Returns whether they all finished within `drain_timeout`.
pub async fn serve(
    listening: Listening,
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
    drain_timeout: Duration,
) -> bool {
    let Listening {
        listener,
        which,
        transport,
        router,
        limits,
    } = listening;
    let shared = Arc::new(Shared {
        http: http_builder(&transport, &limits),
        which,
        transport,
        router,
        limits,
        state,
    });
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    loop {
        let (tcp, _peer) = tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(listener = which.as_str(), error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Dropping the stream closes it: the client sees the connection end at once and
            // can retry (the API server: another replica).
            shared.state.metrics.connection_refused(which);
            tracing::debug!(listener = which.as_str(), "connection cap reached");
            continue;
        };
        let open = OpenConnection::new(&shared.state.metrics, which, slot);
        tokio::spawn(connection(tcp, open, shared.clone(), stop.clone()));
    }
    // No new connections from here on: the port is closed.
    drop(listener);
    // Every open connection holds a slot: all slots back means all connections finished.
    tokio::time::timeout(drain_timeout, slots.acquire_many(limits.max_connections))
        .await
        .is_ok_and(|acquired| acquired.is_ok())
}

fn http_builder(transport: &Transport, limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(H1_MAX_HEADERS);
    http.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
        .max_header_list_size(H2_MAX_HEADER_LIST_SIZE)
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT);
    match transport {
        // Probes and scrapes speak HTTP/1.1; not guessing the protocol leaves nothing to
        // wait for before hyper's header timeout runs.
        Transport::Plain => http.http1_only(),
        Transport::Tls(_) => http,
    }
}

/// A connection's slot under the cap and its count in the open-connections gauge, both
/// given back however the connection ends.
struct OpenConnection {
    gauge: prometheus_client::metrics::gauge::Gauge<i64, std::sync::atomic::AtomicI64>,
    _slot: OwnedSemaphorePermit,
}

impl OpenConnection {
    fn new(metrics: &Metrics, which: Listener, slot: OwnedSemaphorePermit) -> Self {
        let gauge = metrics.connections_open(which);
        gauge.inc();
        OpenConnection { gauge, _slot: slot }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// What every connection of a listener shares.
struct Shared {
    http: auto::Builder<TokioExecutor>,
    which: Listener,
    transport: Transport,
    router: Router,
    limits: ConnectionLimits,
    state: Arc<AppState>,
}

async fn connection(
    tcp: TcpStream,
    open: OpenConnection,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let _open = open;
    let _ = tcp.set_nodelay(true);
    match &shared.transport {
        Transport::Plain => shared.serve_http(tcp, stop).await,
        Transport::Tls(config) => {
            let acceptor = TlsAcceptor::from(config.load_full());
            let handshake =
                tokio::time::timeout(shared.limits.tls_handshake_timeout, acceptor.accept(tcp));
            let tls = tokio::select! {
                // A handshake belongs to no request: shutdown does not wait for it.
                _ = stopped(&mut stop) => return,
                done = handshake => match done {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        shared.state.metrics.tls_handshake_error();
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        shared
                            .state
                            .metrics
                            .connection_timed_out(shared.which, TimeoutPhase::TlsHandshake);
                        tracing::debug!("TLS handshake timed out");
                        return;
                    }
                },
            };
            shared.serve_http(tls, stop).await;
        }
    }
}

impl Shared {
    /// Serves HTTP until the client closes, a limit closes the connection, or shutdown.
    async fn serve_http<IO>(&self, io: IO, mut stop: watch::Receiver<bool>)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(Activity::new(Instant::now()));
        let service = Tracked {
            inner: TowerToHyperService::new(self.router.clone()),
            activity: activity.clone(),
        };
        let connection = self.http.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        let limits = self.limits;
        let listener = self.which.as_str();
        // Set once the connection was asked to close; past it, the connection is dropped.
        let mut closing: Option<Instant> = None;
        let mut shutting_down = false;
        loop {
            let idle_at = activity.idle_deadline(limits.header_read_timeout, limits.idle_timeout);
            // Far enough never to fire; `select!` evaluates disabled branches too.
            let never = Instant::now() + Duration::from_secs(86_400);
            tokio::select! {
                ended = connection.as_mut() => {
                    if let Err(e) = ended {
                        self.ended_with(&*e);
                    }
                    return;
                }
                _ = stopped(&mut stop), if !shutting_down => {
                    // Shutdown's own drain timeout bounds this one.
                    shutting_down = true;
                    if closing.is_none() {
                        connection.as_mut().graceful_shutdown();
                    }
                }
                _ = activity.request_ended.notified() => {}
                _ = tokio::time::sleep_until(idle_at.unwrap_or(never)),
                    if closing.is_none() && !shutting_down && idle_at.is_some() =>
                {
                    if activity
                        .idle_deadline(limits.header_read_timeout, limits.idle_timeout)
                        .is_some_and(|at| at <= Instant::now())
                    {
                        self.state
                            .metrics
                            .connection_timed_out(self.which, TimeoutPhase::Idle);
                        tracing::debug!(listener, "closing an idle connection");
                        connection.as_mut().graceful_shutdown();
                        // A client that neither reads the GOAWAY nor closes gets as long as
                        // one that does not send its headers.
                        closing = Some(Instant::now() + limits.header_read_timeout);
                    }
                }
                _ = tokio::time::sleep_until(closing.unwrap_or(never)),
                    if closing.is_some() =>
                {
                    tracing::debug!(listener, "dropping a connection that did not close");
                    return;
                }
            }
        }
    }

    fn ended_with(&self, error: &(dyn std::error::Error + 'static)) {
        let listener = self.which.as_str();
        if error
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
        {
            self.state
                .metrics
                .connection_timed_out(self.which, TimeoutPhase::Headers);
            tracing::debug!(listener, "request headers not received in time");
        } else {
            tracing::debug!(listener, error = %error, "connection ended with an error");
        }
    }
}

/// What a connection is doing, for the idle limit: requests in flight, and when the last
/// one ended (or the connection opened).
struct Activity {
    state: Mutex<ActivityState>,
    /// Wakes the connection's loop when a request ends, to arm the idle timer.
    request_ended: Notify,
}

struct ActivityState {
    in_flight: usize,
    since: Instant,
    any_request: bool,
}

impl Activity {
    fn new(opened: Instant) -> Self {
        Activity {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                since: opened,
                any_request: false,
            }),
            request_ended: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        // The state stays consistent even if a holder panicked: plain counters.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When the connection counts as idle if nothing happens meanwhile; `None` while a
    /// request is in flight. Before the first request the limit is `first`: a connection
    /// that has said nothing useful gets no more time than a request's headers.
    fn idle_deadline(&self, first: Duration, idle: Duration) -> Option<Instant> {
        let state = self.lock();
        if state.in_flight > 0 {
            return None;
        }
        Some(state.since + if state.any_request { idle } else { first })
    }

    fn request_started(self: &Arc<Self>) -> RequestInFlight {
        let mut state = self.lock();
        state.in_flight += 1;
        state.any_request = true;
        RequestInFlight(self.clone())
    }
}

/// A request being handled on a connection; dropped when its handler finishes or is
/// dropped (the client went away).
struct RequestInFlight(Arc<Activity>);

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        {
            let mut state = self.0.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            state.since = Instant::now();
        }
        // notify_one keeps a permit if the loop is not waiting right now.
        self.0.request_ended.notify_one();
    }
}

/// The router, with each request counted in its connection's [`Activity`].
#[derive(Clone)]
struct Tracked {
    inner: TowerToHyperService<Router>,
    activity: Arc<Activity>,
}

impl Service<hyper::Request<Incoming>> for Tracked {
    type Response = <TowerToHyperService<Router> as Service<hyper::Request<Incoming>>>::Response;
    type Error = <TowerToHyperService<Router> as Service<hyper::Request<Incoming>>>::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let in_flight = self.activity.request_started();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(in_flight);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_idle_only_with_no_request_in_flight() {
        let opened = Instant::now();
        let first = Duration::from_secs(5);
        let idle = Duration::from_secs(60);
        let activity = Arc::new(Activity::new(opened));
        assert_eq!(activity.idle_deadline(first, idle), Some(opened + first));
        let a = activity.request_started();
        let b = activity.request_started();
        assert_eq!(activity.idle_deadline(first, idle), None);
        drop(a);
        assert_eq!(activity.idle_deadline(first, idle), None);
        drop(b);
        let deadline = activity.idle_deadline(first, idle).unwrap();
        assert!(
            deadline >= opened + idle,
            "after a request, the idle limit applies"
        );
    }
}

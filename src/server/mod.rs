//! The webhook server, `stsguard serve` (SPEC §6): a thin adapter between the API server's
//! AdmissionReviews and [`crate::engine::review`].
//!
//! - [`admission`]: AdmissionReview ⇄ engine, pure functions.
//! - [`routes`]: the axum routers (admission, health) and their shared [`routes::AppState`].
//! - [`tls`]: rustls configuration, the swappable certificate, the ephemeral certificate.
//! - [`conn`]: the accept loops, connection limits and draining.
//! - [`reload`]: polling certificate, key, client CA and policy files for new contents.
//! - [`metrics`]: Prometheus metrics.
//!
//! [`Server::start`] runs everything on the current tokio runtime and reports the bound
//! addresses, so tests run the real server in-process on `127.0.0.1:0`, and
//! [`Server::shutdown`] stops it as Kubernetes expects. The process around it (runtime,
//! logging, signals, exit code) is the CLI's `serve` command: the server knows nothing of
//! processes or the CLI.

pub mod admission;
pub mod config;
pub mod conn;
pub mod metrics;
pub mod read_model;
pub mod reload;
pub mod routes;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{LogFormat, ServeArgs};

use crate::cluster::watch::Watches;
use crate::engine::policy::PolicyBytesError;
use crate::engine::{KubeVersion, Policy};
use conn::{ConnectionLimits, Listening, Transport};
use metrics::{Listener, Metrics, ReloadResult};
use routes::{AppState, Limits};
use tls::CertResolver;

/// Names the ephemeral certificate is valid for.
const EPHEMERAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    TlsFlags(#[from] config::TlsFlagsError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Policy(#[from] PolicyBytesError),
    #[error("{what}: {source}")]
    Tls { what: String, source: tls::TlsError },
    #[error("cannot write the ephemeral CA to {path}: {source}")]
    WriteCa {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the StatefulSet schema does not compile: {0}")]
    Schema(String),
    #[error("--cluster: {0}")]
    Cluster(#[from] crate::cluster::ConnectError),
}

/// How a shutdown ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every in-flight request finished within the shutdown timeout.
    pub drained: bool,
}

/// A running server. Dropping it without [`Server::shutdown`] leaves its tasks running until
/// the runtime ends.
pub struct Server {
    state: Arc<AppState>,
    resolver: Arc<CertResolver>,
    admission_addr: SocketAddr,
    health_addr: SocketAddr,
    ephemeral_ca: Option<PathBuf>,
    shutdown_delay: Duration,
    stop_accepting: watch::Sender<bool>,
    stop_health: watch::Sender<bool>,
    stop_reload: watch::Sender<bool>,
    admission_task: JoinHandle<bool>,
    health_task: JoinHandle<bool>,
    reload_tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Loads the policy and certificate, binds both listeners and starts serving on the
    /// current tokio runtime.
    pub async fn start(args: &ServeArgs) -> Result<Server, StartError> {
        // Compile the StatefulSet schema now rather than in the first request.
        crate::engine::rules::schema::warm_up().map_err(StartError::Schema)?;
        let tls_files = args.tls_files()?;
        let policy_source = match &args.policy {
            Some(path) => {
                let text = read_file(path)?;
                let policy = Policy::from_bytes(&text, &path.display().to_string())?;
                Some((path.clone(), text, policy))
            }
            None => None,
        };
        let policy = match &policy_source {
            Some((_, _, policy)) => policy.clone(),
            None => Policy::builtin_default().map_err(PolicyBytesError::from)?,
        };
        let metrics = Metrics::new();

        let (serving, cert_snapshot, ephemeral_ca) = match &tls_files {
            Some((cert, key)) => {
                let contents = vec![read_file(cert)?, read_file(key)?];
                let serving = tls::load_pair(&contents[0], &contents[1]).map_err(|source| {
                    StartError::Tls {
                        what: format!("{} and {}", cert.display(), key.display()),
                        source,
                    }
                })?;
                (serving, Some(contents), None)
            }
            None => {
                let (serving, ca_path) = ephemeral_certificate(args.ephemeral_ca_file.clone())?;
                (serving, None, Some(ca_path))
            }
        };
        metrics.certificate_expiry(serving.not_after);
        warn_if_expired(serving.not_after);
        let resolver = Arc::new(CertResolver::new(serving.key));

        let client_ca = match &args.client_ca {
            Some(path) => Some((path.clone(), read_file(path)?)),
            None => None,
        };
        let tls_config = tls::server_config(
            resolver.clone(),
            client_ca.as_ref().map(|(_, pem)| &pem[..]),
        )
        .map_err(|source| StartError::Tls {
            what: args
                .client_ca
                .as_ref()
                .map_or_else(|| "TLS".into(), |p| p.display().to_string()),
            source,
        })?;
        let tls_config = Arc::new(ArcSwap::from_pointee(tls_config));

        let limits = Limits {
            max_body_size: args.max_body_size,
            request_timeout: args.request_timeout,
            max_concurrent_requests: args.max_concurrent_requests as usize,
            max_buffered_bodies: args.max_buffered_bodies,
        };
        let mut state = AppState::new(
            policy,
            metrics,
            args.kube_version.unwrap_or(KubeVersion::LATEST),
            limits,
        );
        if let Some(target) = args.cluster_target() {
            // Only the client is made here (a kubeconfig that cannot be read stops the start,
            // exit 2); the API server itself may be away: the watches retry until it answers.
            let client = target.client().await?;
            let watches = Watches::start(
                client,
                args.cluster_secrets,
                state.metrics.cluster_observer(),
            );
            tracing::info!(
                secrets = args.cluster_secrets,
                sync_timeout_ms = args.cluster_sync_timeout.as_millis() as u64,
                "watching the cluster for the cluster-aware checks"
            );
            state = state.with_cluster(watches);
        }
        let state = Arc::new(state);
        if state.cluster().is_some() {
            tokio::spawn(wait_for_cluster(state.clone(), args.cluster_sync_timeout));
        }

        let admission_listener = bind(args.listen).await?;
        let health_listener = bind(args.health_listen).await?;
        let admission_addr = local_addr(&admission_listener, args.listen)?;
        let health_addr = local_addr(&health_listener, args.health_listen)?;

        let (stop_accepting, accepting) = watch::channel(false);
        let (stop_health, health_stop) = watch::channel(false);
        let (stop_reload, reload_stop) = watch::channel(false);

        let connection_limits = ConnectionLimits {
            max_connections: args.max_connections,
            tls_handshake_timeout: args.tls_handshake_timeout,
            header_read_timeout: args.header_read_timeout,
            idle_timeout: args.idle_timeout,
        };
        let admission_task = tokio::spawn(conn::serve(
            Listening {
                listener: admission_listener,
                which: Listener::Admission,
                transport: Transport::Tls(tls_config.clone()),
                router: routes::admission_router(state.clone()),
                limits: connection_limits,
            },
            state.clone(),
            accepting,
            args.shutdown_timeout,
        ));
        let health_task = tokio::spawn(conn::serve(
            Listening {
                listener: health_listener,
                which: Listener::Health,
                transport: Transport::Plain,
                router: routes::health_router(state.clone()),
                limits: ConnectionLimits {
                    max_connections: args.health_max_connections,
                    ..connection_limits
                },
            },
            state.clone(),
            health_stop,
            // Probes and scrapes are quick; nothing waits on them.
            Duration::from_secs(1),
        ));

        let mut reload_tasks = Vec::new();
        if let (Some((cert, key)), Some(initial)) = (tls_files, cert_snapshot) {
            let state = state.clone();
            let resolver = resolver.clone();
            reload_tasks.push(tokio::spawn(reload::poll(
                vec![cert, key],
                args.reload_interval,
                Ok(initial),
                reload_stop.clone(),
                move |snapshot| reload_certificate(&state, &resolver, snapshot),
            )));
        }
        if let Some((path, initial)) = client_ca {
            let state = state.clone();
            let resolver = resolver.clone();
            let tls_config = tls_config.clone();
            reload_tasks.push(tokio::spawn(reload::poll(
                vec![path],
                args.reload_interval,
                Ok(vec![initial]),
                reload_stop.clone(),
                move |snapshot| reload_client_ca(&state, &resolver, &tls_config, snapshot),
            )));
        }
        if let Some((path, text, _)) = policy_source {
            let state = state.clone();
            reload_tasks.push(tokio::spawn(reload::poll(
                vec![path.clone()],
                args.reload_interval,
                Ok(vec![text]),
                reload_stop,
                move |snapshot| reload_policy(&state, &path, snapshot),
            )));
        }

        Ok(Server {
            state,
            resolver,
            admission_addr,
            health_addr,
            ephemeral_ca,
            shutdown_delay: args.shutdown_delay,
            stop_accepting,
            stop_health,
            stop_reload,
            admission_task,
            health_task,
            reload_tasks,
        })
    }

    /// Where the HTTPS admission listener is bound.
    pub fn admission_addr(&self) -> SocketAddr {
        self.admission_addr
    }

    /// Where the health and metrics listener is bound.
    pub fn health_addr(&self) -> SocketAddr {
        self.health_addr
    }

    /// The ephemeral CA file, when serving the ephemeral certificate.
    pub fn ephemeral_ca(&self) -> Option<&Path> {
        self.ephemeral_ca.as_deref()
    }

    /// The state the handlers share (policy, metrics, readiness).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The certificate resolver (to see which pair is being served).
    pub fn certificates(&self) -> &Arc<CertResolver> {
        &self.resolver
    }

    /// Stops the server the way Kubernetes expects: readiness off first and requests still
    /// served for the shutdown delay (endpoints take a moment to drop the pod), then no new
    /// connections, then in-flight requests finish (within the shutdown timeout).
    pub async fn shutdown(self) -> ShutdownReport {
        self.state.set_ready(false);
        tracing::info!(
            delay_ms = self.shutdown_delay.as_millis() as u64,
            "shutting down: readiness off, still serving during the delay"
        );
        tokio::time::sleep(self.shutdown_delay).await;
        let _ = self.stop_accepting.send(true);
        let _ = self.stop_reload.send(true);
        let drained = self.admission_task.await.unwrap_or(false);
        let _ = self.stop_health.send(true);
        let _ = self.health_task.await;
        for task in self.reload_tasks {
            let _ = task.await;
        }
        tracing::info!(drained, "stopped");
        ShutdownReport { drained }
    }
}

/// Holds readiness until every watched kind has listed once or is unavailable, for at most
/// `limit`; the kinds still waiting then stay off until they list (SPEC §8).
async fn wait_for_cluster(state: Arc<AppState>, limit: Duration) {
    let Some(watches) = state.cluster() else {
        return;
    };
    let pending = watches.wait_settled(limit).await;
    if !pending.is_empty() {
        let kinds: Vec<&str> = pending.iter().map(|kind| kind.as_str()).collect();
        let rules: Vec<&str> = pending
            .iter()
            .flat_map(|kind| kind.rules())
            .copied()
            .collect();
        tracing::warn!(
            kinds = kinds.join(","),
            rules = rules.join(","),
            "cluster watches not listed within --cluster-sync-timeout: ready anyway, their rules are off until they list"
        );
    }
    state.set_cluster_ready();
}

fn read_file(path: &Path) -> Result<Vec<u8>, StartError> {
    std::fs::read(path).map_err(|source| StartError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Generates the ephemeral certificate and writes its CA where the log says.
fn ephemeral_certificate(
    ca_file: Option<PathBuf>,
) -> Result<(tls::ServingCert, PathBuf), StartError> {
    let tls_error = |source| StartError::Tls {
        what: "ephemeral certificate".into(),
        source,
    };
    let pki = tls::generate_ephemeral(&EPHEMERAL_NAMES, 365).map_err(tls_error)?;
    let serving =
        tls::load_pair(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).map_err(tls_error)?;
    let path = ca_file.unwrap_or_else(|| std::env::temp_dir().join("stsguard-ephemeral-ca.crt"));
    std::fs::write(&path, &pki.ca_pem).map_err(|source| StartError::WriteCa {
        path: path.clone(),
        source,
    })?;
    tracing::warn!(
        ca_file = %path.display(),
        names = EPHEMERAL_NAMES.join(","),
        "no --tls-cert/--tls-key: serving an ephemeral self-signed certificate; clients must trust the CA in ca_file"
    );
    Ok((serving, path))
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

fn local_addr(listener: &TcpListener, addr: SocketAddr) -> Result<SocketAddr, StartError> {
    listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })
}

/// Why a reload left the previous certificate, client CA or policy in force.
#[derive(Debug, thiserror::Error)]
enum ReloadError {
    #[error(transparent)]
    Read(#[from] reload::ReadError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Policy(#[from] PolicyBytesError),
}

fn reload_certificate(state: &AppState, resolver: &CertResolver, snapshot: &reload::Snapshot) {
    let loaded = snapshot
        .as_ref()
        .map_err(|e| ReloadError::from(e.clone()))
        .and_then(|files| Ok(tls::load_pair(&files[0], &files[1])?));
    match loaded {
        Ok(serving) => {
            resolver.store(serving.key);
            state.metrics.certificate_expiry(serving.not_after);
            state.metrics.certificate_reload(ReloadResult::Success);
            tracing::info!(
                not_after = serving.not_after,
                "serving certificate reloaded"
            );
            warn_if_expired(serving.not_after);
        }
        Err(error) => {
            // Typical transient case: the certificate was replaced and the key not yet.
            state.metrics.certificate_reload(ReloadResult::Failure);
            tracing::error!(
                %error,
                "new certificate/key not loaded; still serving the previous pair"
            );
        }
    }
}

/// A new client CA takes effect from the next handshake on; one that does not parse leaves
/// the current one in force (an empty trust list would lock the API server out).
fn reload_client_ca(
    state: &AppState,
    resolver: &Arc<CertResolver>,
    tls_config: &ArcSwap<rustls::ServerConfig>,
    snapshot: &reload::Snapshot,
) {
    let loaded = snapshot
        .as_ref()
        .map_err(|e| ReloadError::from(e.clone()))
        .and_then(|files| Ok(tls::server_config(resolver.clone(), Some(&files[0]))?));
    match loaded {
        Ok(config) => {
            tls_config.store(Arc::new(config));
            state.metrics.client_ca_reload(ReloadResult::Success);
            tracing::info!("client CA reloaded");
        }
        Err(error) => {
            state.metrics.client_ca_reload(ReloadResult::Failure);
            tracing::error!(
                %error,
                "new client CA not loaded; still requiring the previous one"
            );
        }
    }
}

/// An expired certificate is still served (refusing it would not help the API server), but
/// said loudly: every call fails verification until it is renewed.
fn warn_if_expired(not_after: i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if not_after <= now {
        tracing::warn!(
            not_after,
            "the serving certificate has expired: the API server will refuse it"
        );
    }
}

fn reload_policy(state: &AppState, path: &Path, snapshot: &reload::Snapshot) {
    let loaded = snapshot
        .as_ref()
        .map_err(|e| ReloadError::from(e.clone()))
        .and_then(|files| Ok(Policy::from_bytes(&files[0], &path.display().to_string())?));
    match loaded {
        Ok(policy) => {
            state.policy.store(Arc::new(policy));
            state.metrics.policy_reload(ReloadResult::Success);
            tracing::info!(policy = %path.display(), "policy reloaded");
        }
        Err(error) => {
            state.metrics.policy_reload(ReloadResult::Failure);
            tracing::error!(%error, "new policy refused; the last good policy stays in force");
        }
    }
}

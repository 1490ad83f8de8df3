//! `stsguard serve`: the process around [`Server`]. The server offers start and shutdown on
//! whatever tokio runtime it is given; this command owns the rest of the process: the
//! multi-threaded runtime (`--workers`), the log subscriber, SIGTERM and SIGINT, and the exit
//! code.

use std::time::Duration;

use super::{EXIT_OK, EXIT_USAGE};
use crate::server::{LogFormat, ServeArgs, Server};

/// The multi-threaded runtime `serve` runs on, with `--workers` threads.
fn runtime(args: &ServeArgs) -> std::io::Result<tokio::runtime::Runtime> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    // Without a count, tokio starts one worker per CPU that `available_parallelism` reports
    // (affinity and cgroup quota included), or takes TOKIO_WORKER_THREADS.
    if let Some(workers) = args.workers {
        runtime.worker_threads(usize::from(workers));
    }
    runtime.enable_all().build()
}

/// Runs `stsguard serve` until SIGTERM or SIGINT; returns the exit code: 2 when the server
/// cannot start (its reason is logged), 0 after a shutdown.
pub fn run(args: &ServeArgs) -> u8 {
    init_logging(args.log_format, args.log_level);
    let runtime = match runtime(args) {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return EXIT_USAGE;
        }
    };
    let code = runtime.block_on(async {
        // Listen for signals before announcing the addresses: a SIGTERM right after start
        // must shut down gracefully, not kill the process.
        let signals = match Signals::new() {
            Ok(signals) => signals,
            Err(e) => {
                tracing::error!(error = %e, "cannot install signal handlers");
                return EXIT_USAGE;
            }
        };
        let server = match Server::start(args).await {
            Ok(server) => server,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                return EXIT_USAGE;
            }
        };
        tracing::info!(
            admission = %server.admission_addr(),
            health = %server.health_addr(),
            "listening"
        );
        let signal = signals.recv().await;
        tracing::info!(signal, "signal received");
        let report = server.shutdown().await;
        if !report.drained {
            tracing::warn!("some requests were still running at the shutdown timeout");
        }
        EXIT_OK
    });
    // Handshakes still pending belong to no request: do not wait for them.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

fn init_logging(format: LogFormat, level: tracing_subscriber::filter::LevelFilter) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    // kube logs each failed list, watch and connection on every retry (at warn and error);
    // stsguard says once what a failing watch means for its rules, with kube's error
    // (`cluster::watch`), so kube's own lines show only when debugging.
    let kube = if level >= LevelFilter::DEBUG {
        level
    } else {
        LevelFilter::OFF
    };
    let filter = Targets::new()
        .with_default(level)
        .with_target("kube_runtime", kube)
        .with_target("kube_client", kube);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let registry = tracing_subscriber::registry();
    // Already set (embedded use): keep the existing subscriber.
    let _ = match format {
        LogFormat::Json => registry
            .with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_filter(filter),
            )
            .try_init(),
        LogFormat::Text => registry.with(layer.with_filter(filter)).try_init(),
    };
}

/// SIGTERM (the kubelet stopping the pod) and SIGINT (Ctrl-C).
struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> std::io::Result<Self> {
        Ok(Signals {})
    }

    #[cfg(unix)]
    async fn recv(mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }

    #[cfg(not(unix))]
    async fn recv(self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_sets_the_runtime_threads() {
        let args = ServeArgs::from_flags(["--workers", "3"]).unwrap();
        assert_eq!(runtime(&args).unwrap().metrics().num_workers(), 3);
        // Unset, one per CPU this process may use.
        let args = ServeArgs::from_flags(Vec::<String>::new()).unwrap();
        assert_eq!(args.workers, None);
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert_eq!(runtime(&args).unwrap().metrics().num_workers(), cpus);
        assert!(ServeArgs::from_flags(["--workers", "0"]).is_err());
    }
}

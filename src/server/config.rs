//! `stsguard serve` flags. Every flag can also come from an `STSGUARD_*` environment variable,
//! which is how a Deployment usually sets them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, ValueEnum};

use crate::engine::KubeVersion;

/// Flags of `stsguard serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// HTTPS address for the admission webhooks (POST /mutate, POST /validate).
    #[arg(
        long,
        value_name = "ADDR",
        env = "STSGUARD_LISTEN",
        default_value = "0.0.0.0:8443"
    )]
    pub listen: SocketAddr,

    /// Plain-HTTP address for /healthz, /readyz and /metrics.
    #[arg(
        long,
        value_name = "ADDR",
        env = "STSGUARD_HEALTH_LISTEN",
        default_value = "0.0.0.0:8080"
    )]
    pub health_listen: SocketAddr,

    /// Serving certificate chain (PEM), re-read when its contents change. Without
    /// --tls-cert/--tls-key an ephemeral self-signed certificate for localhost is used.
    #[arg(long, value_name = "FILE", env = "STSGUARD_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// Private key of the serving certificate (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", env = "STSGUARD_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// Require a client certificate signed by one of these CAs (PEM): the API server's
    /// client certificate (its admission-control config `kubeConfigFile`).
    #[arg(long, value_name = "FILE", env = "STSGUARD_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,

    /// Policy file (default: the built-in policies/default.yaml), re-read when its contents
    /// change; a broken new policy is refused and the last good one stays.
    #[arg(long, value_name = "FILE", env = "STSGUARD_POLICY")]
    pub policy: Option<PathBuf>,

    /// How often the certificate, key and policy files are checked for changes.
    #[arg(
        long,
        value_name = "DURATION",
        env = "STSGUARD_RELOAD_INTERVAL",
        default_value = "10s",
        value_parser = parse_duration
    )]
    pub reload_interval: Duration,

    /// Largest request body accepted (bytes; suffixes KiB, MiB allowed).
    #[arg(
        long,
        value_name = "SIZE",
        env = "STSGUARD_MAX_BODY_SIZE",
        default_value = "8MiB",
        value_parser = parse_size
    )]
    pub max_body_size: usize,

    /// Time limit for reading and answering one request. Keep it below the webhook
    /// configurations' `timeoutSeconds` (at most 10 s) so the API server gets an answer
    /// rather than a timeout.
    #[arg(
        long,
        value_name = "DURATION",
        env = "STSGUARD_REQUEST_TIMEOUT",
        default_value = "8s",
        value_parser = parse_time_limit
    )]
    pub request_timeout: Duration,

    /// Time limit for the TLS handshake of an admission connection.
    #[arg(
        long,
        value_name = "DURATION",
        env = "STSGUARD_TLS_HANDSHAKE_TIMEOUT",
        default_value = "5s",
        value_parser = parse_time_limit
    )]
    pub tls_handshake_timeout: Duration,

    /// Time limit for a connection's first request to start, and for the headers of every
    /// HTTP/1.1 request (counted from the end of the previous one, so it is also how long an
    /// HTTP/1.1 keep-alive connection may sit idle). Both listeners.
    #[arg(
        long,
        value_name = "DURATION",
        env = "STSGUARD_HEADER_READ_TIMEOUT",
        default_value = "5s",
        value_parser = parse_time_limit
    )]
    pub header_read_timeout: Duration,

    /// How long a connection may stay open with no request in flight before it is closed
    /// (HTTP/2: GOAWAY, so the API server opens a new one when it needs it).
    #[arg(
        long,
        value_name = "DURATION",
        env = "STSGUARD_IDLE_TIMEOUT",
        default_value = "60s",
        value_parser = parse_time_limit
    )]
    pub idle_timeout: Duration,

    /// Threads that run TLS, HTTP and the reviews. Default: the CPUs this process may use
    /// (its affinity mask and cgroup CPU quota). When something else shares those CPUs (a
    /// load generator, a sidecar), fewer threads than CPUs keep the latency tail short:
    /// a busy thread descheduled mid-request is what the p99 measures (BENCHMARKS.md).
    #[arg(
        long,
        value_name = "N",
        env = "STSGUARD_WORKERS",
        value_parser = clap::value_parser!(u16).range(1..=1024)
    )]
    pub workers: Option<u16>,

    /// Admission requests handled at once; more get an immediate 503 with Retry-After.
    #[arg(
        long,
        value_name = "N",
        env = "STSGUARD_MAX_CONCURRENT_REQUESTS",
        default_value = "512",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_concurrent_requests: u32,

    /// Request body bytes held in memory at once, over all requests in flight; a request
    /// that would go over gets a 503 with Retry-After. Bounds memory against many large
    /// bodies sent at once (each may be up to --max-body-size).
    #[arg(
        long,
        value_name = "SIZE",
        env = "STSGUARD_MAX_BUFFERED_BODIES",
        default_value = "64MiB",
        value_parser = parse_size
    )]
    pub max_buffered_bodies: usize,

    /// Open connections on the admission listener (TLS handshakes included); a connection
    /// over the cap is closed as soon as it is accepted.
    #[arg(
        long,
        value_name = "N",
        env = "STSGUARD_MAX_CONNECTIONS",
        default_value = "512",
        value_parser = clap::value_parser!(u32).range(1..=65_536)
    )]
    pub max_connections: u32,

    /// Open connections on the health listener; the kubelet's probes and a Prometheus
    /// scrape need a handful.
    #[arg(
        long,
        value_name = "N",
        env = "STSGUARD_HEALTH_MAX_CONNECTIONS",
        default_value = "64",
        value_parser = clap::value_parser!(u32).range(1..=65_536)
    )]
    pub health_max_connections: u32,

    /// After SIGTERM, how long /readyz reports not ready while requests are still served,
    /// so that endpoints controllers stop routing to this pod before it stops listening.
    #[arg(
        long,
        value_name = "DURATION",
        env = "STSGUARD_SHUTDOWN_DELAY",
        default_value = "5s",
        value_parser = parse_duration
    )]
    pub shutdown_delay: Duration,

    /// After the delay, how long in-flight requests may take to finish.
    #[arg(
        long,
        value_name = "DURATION",
        env = "STSGUARD_SHUTDOWN_TIMEOUT",
        default_value = "20s",
        value_parser = parse_duration
    )]
    pub shutdown_timeout: Duration,

    /// Judge StatefulSets against the cluster they land in (Services, StorageClasses, Nodes,
    /// …; SPEC §8): `on` watches it through kube (in-cluster config, else $KUBECONFIG, else
    /// ~/.kube/config) and refuses to start without one; `off` never contacts a cluster;
    /// `auto` is on when running in a pod with a service-account token.
    #[arg(
        long,
        value_enum,
        env = "STSGUARD_CLUSTER",
        default_value_t = ClusterMode::Auto
    )]
    pub cluster: ClusterMode,

    /// Kubeconfig file for `--cluster` (instead of the in-cluster config or $KUBECONFIG).
    #[arg(long, value_name = "FILE", env = "STSGUARD_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context for `--cluster` (default: the current context).
    #[arg(long, value_name = "NAME", env = "STSGUARD_CONTEXT")]
    pub context: Option<String>,

    /// How long /readyz waits for every watched kind's first list; after it the server is
    /// ready anyway, and the rules of a kind not listed yet stay off until it is.
    #[arg(
        long,
        value_name = "DURATION",
        env = "STSGUARD_CLUSTER_SYNC_TIMEOUT",
        default_value = "30s",
        value_parser = parse_duration
    )]
    pub cluster_sync_timeout: Duration,

    /// Also watch Secrets (names only) for `secret-missing`. Needs `list` and `watch` on
    /// secrets, which is why it is off by default.
    #[arg(long, env = "STSGUARD_CLUSTER_SECRETS")]
    pub cluster_secrets: bool,

    /// Kubernetes version of the cluster, for the rules whose limits changed over time.
    #[arg(long, value_name = "X.Y", env = "STSGUARD_KUBE_VERSION")]
    pub kube_version: Option<KubeVersion>,

    /// Log format (one line per admission decision).
    #[arg(
        long,
        value_enum,
        env = "STSGUARD_LOG_FORMAT",
        default_value_t = LogFormat::Json
    )]
    pub log_format: LogFormat,

    /// Least severe log level written: error, warn, info, debug or trace.
    #[arg(
        long,
        value_name = "LEVEL",
        env = "STSGUARD_LOG_LEVEL",
        default_value = "info"
    )]
    pub log_level: tracing_subscriber::filter::LevelFilter,

    /// Where the CA of the ephemeral certificate is written (when no --tls-cert is given).
    /// Default: stsguard-ephemeral-ca.crt in the temporary directory.
    #[arg(long, value_name = "FILE", env = "STSGUARD_EPHEMERAL_CA_FILE")]
    pub ephemeral_ca_file: Option<PathBuf>,
}

/// Whether `serve` watches the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClusterMode {
    /// On when running in a pod (KUBERNETES_SERVICE_HOST and a service-account token),
    /// off elsewhere, so that `serve` on a laptop stays hermetic.
    Auto,
    On,
    Off,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log collectors).
    Json,
    /// `key=value` text (for people).
    Text,
}

impl ServeArgs {
    /// Parses `serve` flags (without the program and command names), for tests and
    /// embedding. Environment variables apply as on the command line.
    pub fn from_flags<I, T>(flags: I) -> Result<ServeArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(Parser)]
        #[command(no_binary_name = true)]
        struct Flags {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Flags::try_parse_from(flags).map(|flags| flags.serve)
    }

    /// The cluster to watch, or `None` when the cluster-aware checks are off.
    pub(crate) fn cluster_target(&self) -> Option<crate::cluster::Target> {
        let on = match self.cluster {
            ClusterMode::On => true,
            ClusterMode::Off => false,
            ClusterMode::Auto => crate::cluster::in_a_pod(),
        };
        on.then(|| crate::cluster::Target {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        })
    }

    /// The certificate and key files, when both are given.
    pub(crate) fn tls_files(&self) -> Result<Option<(PathBuf, PathBuf)>, TlsFlagsError> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some((cert.clone(), key.clone()))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(TlsFlagsError::CertWithoutKey),
            (None, Some(_)) => Err(TlsFlagsError::KeyWithoutCert),
        }
    }
}

/// Why a duration flag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{text:?} is not a duration like 250ms, 10s or 2m")]
    NotANumber { text: String },
    #[error("unknown unit {unit:?} in {text:?} (use ms, s, m or h)")]
    UnknownUnit { text: String, unit: String },
    #[error("{text:?}: {error}")]
    OutOfRange {
        text: String,
        error: std::time::TryFromFloatSecsError,
    },
    #[error("{text:?}: a time limit must be more than zero")]
    ZeroTimeLimit { text: String },
}

/// Why a size flag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("{text:?} is not a size like 8MiB or 1048576")]
    NotANumber { text: String },
    #[error("unknown unit {unit:?} in {text:?} (use KiB or MiB)")]
    UnknownUnit { text: String, unit: String },
    #[error("{text:?} is too large")]
    TooLarge { text: String },
    #[error("{text:?} is too small for an AdmissionReview (at least 1KiB)")]
    TooSmall { text: String },
}

/// `--tls-cert` and `--tls-key` come as a pair or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlsFlagsError {
    #[error("--tls-cert needs --tls-key")]
    CertWithoutKey,
    #[error("--tls-key needs --tls-cert")]
    KeyWithoutCert,
}

/// A duration like `250ms`, `10s`, `2m` or `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| DurationError::NotANumber {
        text: text.to_string(),
    })?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(DurationError::UnknownUnit {
                text: text.to_string(),
                unit: other.to_string(),
            });
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|error| DurationError::OutOfRange {
        text: text.to_string(),
        error,
    })
}

/// A [`parse_duration`] that is not zero: a time limit of zero would refuse everything.
pub fn parse_time_limit(text: &str) -> Result<Duration, DurationError> {
    let limit = parse_duration(text)?;
    if limit.is_zero() {
        return Err(DurationError::ZeroTimeLimit {
            text: text.to_string(),
        });
    }
    Ok(limit)
}

/// A size in bytes like `8MiB`, `512KiB` or `1048576`.
pub fn parse_size(text: &str) -> Result<usize, SizeError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: usize = number.parse().map_err(|_| SizeError::NotANumber {
        text: text.to_string(),
    })?;
    let factor = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" | "Ki" => 1 << 10,
        "M" | "MiB" | "Mi" => 1 << 20,
        "G" | "GiB" | "Gi" => 1 << 30,
        other => {
            return Err(SizeError::UnknownUnit {
                text: text.to_string(),
                unit: other.to_string(),
            });
        }
    };
    let bytes = value
        .checked_mul(factor)
        .ok_or_else(|| SizeError::TooLarge {
            text: text.to_string(),
        })?;
    if bytes < 1024 {
        return Err(SizeError::TooSmall {
            text: text.to_string(),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ten").is_err());
        assert_eq!(
            parse_duration("10 parsecs").unwrap_err().to_string(),
            r#"unknown unit "parsecs" in "10 parsecs" (use ms, s, m or h)"#
        );
    }

    #[test]
    fn refuses_a_time_limit_of_zero() {
        assert!(parse_time_limit("0s").is_err());
        assert!(parse_time_limit("0ms").is_err());
        assert_eq!(parse_time_limit("1ms"), Ok(Duration::from_millis(1)));
        assert!(ServeArgs::from_flags(["--idle-timeout", "0"]).is_err());
    }

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert!(parse_size("12").is_err());
        assert!(parse_size("8 bananas").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert_eq!(
            parse_size("12").unwrap_err().to_string(),
            r#""12" is too small for an AdmissionReview (at least 1KiB)"#
        );
    }

    #[test]
    fn defaults_match_the_spec() {
        let args = ServeArgs::from_flags(Vec::<String>::new()).unwrap();
        assert_eq!(args.listen.to_string(), "0.0.0.0:8443");
        assert_eq!(args.health_listen.to_string(), "0.0.0.0:8080");
        assert_eq!(args.max_body_size, 8 << 20);
        assert_eq!(args.max_buffered_bodies, 64 << 20);
        assert!(args.request_timeout < Duration::from_secs(10));
        assert_eq!(args.tls_files(), Ok(None));
        // A stalled connection must let go well within the API server's webhook timeout
        // (10 s by default, 30 s at most), and the caps must fit the 1024 descriptors a
        // container's soft RLIMIT_NOFILE may allow.
        assert!(args.tls_handshake_timeout < Duration::from_secs(10));
        assert!(args.header_read_timeout < Duration::from_secs(10));
        assert!(args.idle_timeout > args.header_read_timeout);
        assert!(args.max_connections + args.health_max_connections < 1000);
    }

    #[test]
    fn refuses_a_certificate_without_key() {
        let args = ServeArgs::from_flags(["--tls-cert", "tls.crt"]).unwrap();
        assert_eq!(args.tls_files(), Err(TlsFlagsError::CertWithoutKey));
        let args = ServeArgs::from_flags(["--tls-key", "tls.key"]).unwrap();
        assert_eq!(
            args.tls_files().unwrap_err().to_string(),
            "--tls-key needs --tls-cert"
        );
    }
}

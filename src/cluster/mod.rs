//! The cluster a StatefulSet lands in, seen through the `kube` crate (SPEC §8): the objects the
//! cluster rules read, kept as the engine's [`Inventory`].
//!
//! - [`watch`]: `stsguard serve`'s kube-runtime watches, one per kind, folded into an
//!   inventory that requests read without any call to the API server.
//! - [`list`]: `stsguard validate --cluster`'s one-time lists.
//! - [`kinds`]: what is read of each kind, shared by both.
//!
//! This is the only place that talks to the Kubernetes API; the engine only ever sees the
//! resulting data.

pub mod kinds;
pub mod list;
pub mod watch;

use std::path::{Path, PathBuf};

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

pub use kinds::Kind;

/// Where the service-account token of a pod is mounted: with `KUBERNETES_SERVICE_HOST`, the
/// sign of running in a pod.
const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Whether this process runs in a pod with a service-account token (`--cluster auto`).
pub fn in_a_pod() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|host| !host.is_empty())
        && Path::new(SERVICE_ACCOUNT_TOKEN).is_file()
}

/// Which cluster to talk to: a kubeconfig file and context, or kube's usual search.
#[derive(Clone, Debug, Default)]
pub struct Target {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot read the kubeconfig {path}: {source}")]
    Kubeconfig {
        path: String,
        source: kube::config::KubeconfigError,
    },
    #[error(
        "no cluster to talk to: not in a pod, and no kubeconfig ($KUBECONFIG or ~/.kube/config): {0}"
    )]
    NoConfig(kube::config::KubeconfigError),
    #[error("the in-cluster configuration is unusable: {0}")]
    InCluster(kube::config::InClusterError),
    #[error("cannot make a Kubernetes client: {0}")]
    Client(kube::Error),
}

impl Target {
    /// A client for the target: an explicit `--kubeconfig`/`--context` first; otherwise the
    /// pod's service account when running in a pod; otherwise `$KUBECONFIG`, then
    /// `~/.kube/config`, with its current context.
    pub async fn client(&self) -> Result<Client, ConnectError> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match &self.kubeconfig {
            Some(path) => {
                let kubeconfig =
                    Kubeconfig::read_from(path).map_err(|source| ConnectError::Kubeconfig {
                        path: path.display().to_string(),
                        source,
                    })?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|source| ConnectError::Kubeconfig {
                        path: path.display().to_string(),
                        source,
                    })?
            }
            None if self.context.is_none() && in_a_pod() => {
                kube::Config::incluster().map_err(ConnectError::InCluster)?
            }
            None => {
                let kubeconfig = Kubeconfig::read().map_err(ConnectError::NoConfig)?;
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(ConnectError::NoConfig)?
            }
        };
        Client::try_from(config).map_err(ConnectError::Client)
    }
}

/// A kind whose objects could not be read, and why: its rules are off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// RBAC does not let stsguard list or watch it.
    Forbidden,
    /// The cluster does not serve that API (an older cluster).
    NotServed,
}

impl Unavailable {
    /// From an API error: 403 and 404 mean the kind cannot be read at all; anything else is
    /// a passing fault.
    pub fn of(error: &kube::Error) -> Option<Unavailable> {
        match error {
            kube::Error::Api(status) if status.is_forbidden() => Some(Unavailable::Forbidden),
            kube::Error::Api(status) if status.is_not_found() => Some(Unavailable::NotServed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Unavailable::Forbidden => "forbidden",
            Unavailable::NotServed => "not served",
        }
    }
}

/// Which kinds to read: all but Secrets, unless asked (listing Secrets, even their names,
/// needs `list secrets`, which security reviews rightly question).
pub fn kinds(secrets: bool) -> impl Iterator<Item = Kind> {
    Kind::ALL
        .into_iter()
        .filter(move |kind| secrets || *kind != Kind::Secret)
}

//! stsguard as the admission webhooks of a real kube-apiserver (v1.19, `../shared/k8s`),
//! driven with kubectl: what users see (`Warning:` lines, denial messages) and what the API
//! server stores.
//!
//! One API server runs the scenarios that share a stsguard (each in its own namespace, in
//! parallel); the `deploy/` failure-mode scenario has its own, since its configurations select
//! almost every namespace and nothing answers them. Servers start only when a selected
//! scenario needs them, and stop when the run ends, whatever its outcome. Their state and logs
//! are under `target/tmp/apiserver-<pid>/`, removed after a run that passed and kept after one
//! that failed. A run killed before it ends (Ctrl-C) cannot stop them: `up` starts them in a
//! session of their own; `../shared/k8s/down target/tmp/apiserver-<pid>/cluster` (and
//! `…/deploy`) does.
//!
//! Without `../shared/k8s`, etcd or kubectl the run says which is missing in one line on
//! stderr and passes; under `STSGUARD_NO_SKIP` (CI) it fails instead.
//!
//! `cargo test --test apiserver` runs it; `-- NAME` selects scenarios, `-- --list` lists them.

mod common;

#[path = "apiserver/cluster.rs"]
mod cluster;
#[path = "apiserver/deploy.rs"]
mod deploy;
#[path = "apiserver/manifests.rs"]
mod manifests;
#[path = "apiserver/scenarios.rs"]
mod scenarios;
#[path = "apiserver/webhook.rs"]
mod webhook;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

use libtest_mimic::{Arguments, Trial};
use serde_json::json;

use cluster::{Cluster, Namespace, Tools};
use webhook::{Reviews, Serve, WATCHED_LABEL};

/// A scenario run against the shared API server, by name.
type Scenario = (&'static str, fn(&Shared));

/// The scenarios that share one API server and one stsguard.
const SHARED_SCENARIOS: &[Scenario] = &[
    (
        "create_fills_the_policy_defaults",
        scenarios::create_fills_the_policy_defaults,
    ),
    (
        "create_keeps_the_storage_class_the_user_chose",
        scenarios::create_keeps_the_storage_class_the_user_chose,
    ),
    (
        "replace_of_the_unchanged_object_keeps_the_generation",
        scenarios::replace_of_the_unchanged_object_keeps_the_generation,
    ),
    (
        "apply_of_the_unchanged_manifest_keeps_the_generation",
        scenarios::apply_of_the_unchanged_manifest_keeps_the_generation,
    ),
    (
        "replace_without_the_defaulted_storage_class_is_accepted",
        scenarios::replace_without_the_defaulted_storage_class_is_accepted,
    ),
    (
        "partition_the_user_moved_survives_later_updates",
        scenarios::partition_the_user_moved_survives_later_updates,
    ),
    (
        "statefulset_from_before_the_webhooks_is_ratcheted",
        scenarios::statefulset_from_before_the_webhooks_is_ratcheted,
    ),
    (
        "object_of_fixture_044_is_denied",
        scenarios::object_of_fixture_044_is_denied,
    ),
    (
        "dry_run_is_reviewed_like_any_other",
        scenarios::dry_run_is_reviewed_like_any_other,
    ),
    (
        "v1beta1_reviews_are_answered_in_v1beta1",
        scenarios::v1beta1_reviews_are_answered_in_v1beta1,
    ),
];

/// The policy the shared stsguard runs.
fn test_policy() -> PathBuf {
    common::data("apiserver/policy.yaml")
}

/// The shared API server with stsguard registered as both webhooks.
pub struct Shared {
    // Fields drop in order: stsguard stops, then the API server.
    pub serve: Serve,
    pub cluster: Cluster,
}

impl Shared {
    /// Starts the API server and stsguard, registers the webhooks, and waits until the API
    /// server calls them.
    fn start(tools: &Tools, dir: &Path) -> Result<Shared, String> {
        let cluster = Cluster::up(tools, &dir.join("cluster"))?;
        let certs = dir.join("certs");
        let ca_bundle = webhook::make_certificates(&certs);
        let serve = Serve::start(dir, &certs, &test_policy())?;
        cluster.show_log_on_failure(&serve.log);
        let mut configurations = Vec::new();
        for reviews in [Reviews::V1, Reviews::V1beta1] {
            configurations.extend(webhook::configurations(
                serve.admission,
                &ca_bundle,
                reviews,
            ));
        }
        cluster.apply(configurations);
        let shared = Shared { serve, cluster };
        // The v1beta1 pair is waited for by the scenario that uses it: if stsguard answered it
        // wrongly, only that scenario fails.
        let probe = shared.watched_namespace("probe");
        shared.wait_until_reviewed(&probe);
        Ok(shared)
    }

    /// A new namespace the webhooks review (with AdmissionReview v1).
    pub fn watched_namespace(&self, name: &str) -> Namespace<'_> {
        self.reviewed_namespace(name, Reviews::V1)
    }

    /// A new namespace the webhooks review with the review versions of `reviews`.
    pub fn reviewed_namespace(&self, name: &str, reviews: Reviews) -> Namespace<'_> {
        self.cluster
            .namespace(name, json!({WATCHED_LABEL: reviews.label()}))
    }

    /// A new namespace the webhooks do not review (yet).
    pub fn unwatched_namespace(&self, name: &str) -> Namespace<'_> {
        self.cluster.namespace(name, json!({}))
    }

    /// Puts a namespace under the webhooks, and waits until the API server applies them there.
    pub fn watch(&self, namespace: &Namespace<'_>) {
        namespace.label(WATCHED_LABEL, Reviews::V1.label());
        self.wait_until_reviewed(namespace);
    }

    /// Waits until the API server calls the webhooks for this namespace.
    #[track_caller]
    pub fn wait_until_reviewed(&self, namespace: &Namespace<'_>) {
        let (good, bad) = scenarios::probes();
        webhook::wait_until_reviewed(&self.cluster, &namespace.name, &good, &bad);
    }
}

/// What the trials share: the tools, found once something is selected, and the shared server,
/// started by the first scenario that needs it.
struct Servers {
    dir: PathBuf,
    tools: OnceLock<Tools>,
    shared: OnceLock<Result<Shared, String>>,
}

impl Servers {
    fn tools(&self) -> &Tools {
        self.tools
            .get()
            .expect("tools are found before the trials run")
    }

    /// The shared server; a setup that failed fails every scenario that needs it, with the
    /// same message, without starting another.
    fn shared(&self) -> &Shared {
        let started = self.shared.get_or_init(|| {
            let setup = std::panic::catch_unwind(|| Shared::start(self.tools(), &self.dir));
            setup.unwrap_or_else(|panic| {
                Err(panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "setup panicked".into()))
            })
        });
        match started {
            Ok(shared) => shared,
            Err(reason) => panic!("the shared API server did not start: {reason}"),
        }
    }
}

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("apiserver-{}", std::process::id()));
    let servers = Arc::new(Servers {
        dir: dir.clone(),
        tools: OnceLock::new(),
        shared: OnceLock::new(),
    });

    // The deploy/ scenario first: its own server starts while the shared one does.
    let mut trials = vec![{
        let servers = Arc::clone(&servers);
        Trial::test(
            "deploy_webhooks_keep_the_cluster_recoverable_while_stsguard_is_down",
            move || {
                deploy::deploy_webhooks_keep_the_cluster_recoverable_while_stsguard_is_down(
                    servers.tools(),
                    &servers.dir.join("deploy"),
                );
                Ok(())
            },
        )
    }];
    for &(name, scenario) in SHARED_SCENARIOS {
        let servers = Arc::clone(&servers);
        trials.push(Trial::test(name, move || {
            scenario(servers.shared());
            Ok(())
        }));
    }

    let selected = trials
        .iter()
        .any(|trial| !args.is_filtered_out(trial) && !args.is_ignored(trial));
    if selected && !args.list {
        match Tools::find() {
            Some(tools) => {
                let _ = servers.tools.set(tools);
            }
            None => return ExitCode::SUCCESS,
        }
    }
    // The scenarios mostly wait for the API server and kubectl; more of them at once than
    // there are cores keeps the run short. RUST_TEST_THREADS still counts, as for libtest.
    if args.test_threads.is_none() {
        let from_env = std::env::var("RUST_TEST_THREADS").ok();
        args.test_threads = Some(from_env.and_then(|n| n.parse().ok()).unwrap_or(4));
    }

    let conclusion = libtest_mimic::run(&args, trials);
    // The trials are gone with `run`: this is the last reference, and dropping it stops
    // stsguard and the shared API server.
    drop(servers);
    if dir.exists() {
        if conclusion.has_failed() {
            eprintln!(
                "the API servers' and stsguard's state and logs are kept in {}",
                dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    conclusion.exit_code()
}

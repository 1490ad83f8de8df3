//! stsguard as the admission webhooks of a real kube-apiserver (v1.19, `../shared/k8s`),
//! driven with kubectl: what users see (`Warning:` lines, denial messages) and what the API
//! server stores.
//!
//! One API server runs the scenarios that share a stsguard (each in its own namespace, in
//! parallel), and those of a second, cluster-aware stsguard (`serve --cluster on`, SPEC §8)
//! that watches it and reviews namespaces of their own. Scenarios that would disturb it have
//! a server each: `deploy/`'s failure modes (its configurations select almost every
//! namespace and nothing answers them), an API server outage, `deploy/`'s RBAC as a user with
//! no rights of its own, and an API the server does not serve. Servers start only when a
//! selected scenario needs them, and stop when the run ends, whatever its outcome. Their state
//! and logs are under `target/tmp/apiserver-<pid>/`, removed after a run that passed and kept
//! after one that failed. A run killed before it ends (Ctrl-C) cannot stop them: `up` starts
//! them in a session of their own; `../shared/k8s/down target/tmp/apiserver-<pid>/cluster`
//! (and `…/<scenario>` for each scenario with a server of its own) does.
//!
//! Without `../shared/k8s`, etcd or kubectl the run says which is missing in one line on
//! stderr and passes; under `STSGUARD_NO_SKIP` (CI) it fails instead.
//!
//! `cargo test --test apiserver` runs it; `-- NAME` selects scenarios, `-- --list` lists them.

mod common;

#[path = "apiserver/cluster.rs"]
mod cluster;
#[path = "apiserver/cluster_checks.rs"]
mod cluster_checks;
#[path = "apiserver/cluster_faults.rs"]
mod cluster_faults;
#[path = "apiserver/cluster_hermetic.rs"]
mod cluster_hermetic;
#[path = "apiserver/cluster_rbac.rs"]
mod cluster_rbac;
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
use cluster_checks::ClusterAware;
use webhook::{Reviews, Serve, WATCHED_LABEL};

/// A scenario run against the shared API server, by name.
type Scenario = (&'static str, fn(&Shared));

/// A scenario with an API server of its own, started in the directory it is given.
type OwnServer = (&'static str, fn(&Tools, &Path));

/// A scenario that needs no API server, only a directory.
type Hermetic = (&'static str, fn(&Path));

/// A scenario of the cluster-aware stsguard on the shared API server.
type ClusterScenario = (&'static str, fn(&Shared, &ClusterAware));

/// The scenarios with API servers of their own: they start first, while the shared one does.
const OWN_SERVER_SCENARIOS: &[OwnServer] = &[
    (
        "deploy_webhooks_keep_the_cluster_recoverable_while_stsguard_is_down",
        deploy::deploy_webhooks_keep_the_cluster_recoverable_while_stsguard_is_down,
    ),
    (
        "cluster_watches_survive_an_api_server_outage",
        cluster_faults::cluster_watches_survive_an_api_server_outage,
    ),
    (
        "deploy_rbac_lets_every_watch_work_and_no_more",
        cluster_rbac::deploy_rbac_lets_every_watch_work_and_no_more,
    ),
    (
        "api_not_served_turns_its_rules_off_and_the_server_stays_ready",
        cluster_faults::api_not_served_turns_its_rules_off_and_the_server_stays_ready,
    ),
];

/// The cluster-aware scenarios that need no API server.
const HERMETIC_SCENARIOS: &[Hermetic] = &[
    (
        "validate_without_cluster_never_contacts_a_cluster",
        cluster_hermetic::validate_without_cluster_never_contacts_a_cluster,
    ),
    (
        "serve_outside_a_pod_leaves_the_cluster_alone",
        cluster_hermetic::serve_outside_a_pod_leaves_the_cluster_alone,
    ),
    (
        "serve_is_ready_after_the_sync_timeout_when_the_cluster_never_answers",
        cluster_hermetic::serve_is_ready_after_the_sync_timeout_when_the_cluster_never_answers,
    ),
];

/// The scenarios of the cluster-aware stsguard (`serve --cluster on`) on the shared server,
/// each in its own namespace.
const CLUSTER_SCENARIOS: &[ClusterScenario] = &[
    (
        "cluster_watches_are_synced_and_counted",
        cluster_checks::watches_are_synced_and_counted,
    ),
    (
        "runtime_class_is_not_served_by_1_19_and_its_rule_is_off",
        |shared, _| cluster_checks::runtime_class_is_not_served_by_1_19_and_its_rule_is_off(shared),
    ),
    (
        "service_rules_trip_and_a_headless_selecting_service_is_quiet",
        |shared, _| {
            cluster_checks::service_rules_trip_and_a_headless_selecting_service_is_quiet(shared)
        },
    ),
    (
        "storage_class_rules_trip_and_an_existing_class_is_quiet",
        |shared, _| cluster_checks::storage_class_rules_trip_and_an_existing_class_is_quiet(shared),
    ),
    (
        "references_trip_and_optional_or_existing_ones_are_quiet",
        |shared, _| cluster_checks::references_trip_and_optional_or_existing_ones_are_quiet(shared),
    ),
    (
        "node_fit_names_the_best_offer_and_is_quiet_where_a_node_fits",
        |shared, _| {
            cluster_checks::node_fit_names_the_best_offer_and_is_quiet_where_a_node_fits(shared)
        },
    ),
    (
        "deleted_service_is_missing_within_seconds_and_back_when_created_again",
        |shared, _| {
            cluster_checks::deleted_service_is_missing_within_seconds_and_back_when_created_again(
                shared,
            )
        },
    ),
    ("cluster_rules_raised_to_error_deny", |shared, _| {
        cluster_checks::cluster_rules_raised_to_error_deny(shared)
    }),
];

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

/// What the trials share: the tools, found once something is selected, and the shared server
/// and its cluster-aware stsguard, started by the first scenario that needs them.
struct Servers {
    dir: PathBuf,
    tools: OnceLock<Tools>,
    // Fields drop in order: the cluster-aware stsguard stops before the shared API server.
    cluster_aware: OnceLock<Result<ClusterAware, String>>,
    shared: OnceLock<Result<Shared, String>>,
}

/// What a setup that panicked said.
fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "setup panicked".into())
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
            setup.unwrap_or_else(|panic| Err(panic_message(panic)))
        });
        match started {
            Ok(shared) => shared,
            Err(reason) => panic!("the shared API server did not start: {reason}"),
        }
    }

    /// The shared server and its cluster-aware stsguard, started (once) on first need.
    fn cluster_aware(&self) -> (&Shared, &ClusterAware) {
        let shared = self.shared();
        let started = self.cluster_aware.get_or_init(|| {
            let setup = std::panic::AssertUnwindSafe(|| ClusterAware::start(shared, &self.dir));
            std::panic::catch_unwind(setup).unwrap_or_else(|panic| Err(panic_message(panic)))
        });
        match started {
            Ok(aware) => (shared, aware),
            Err(reason) => panic!("the cluster-aware stsguard did not start: {reason}"),
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
        cluster_aware: OnceLock::new(),
        shared: OnceLock::new(),
    });

    // The scenarios with servers of their own first: they start while the shared one does.
    let mut trials = Vec::new();
    for &(name, scenario) in OWN_SERVER_SCENARIOS {
        let servers = Arc::clone(&servers);
        trials.push(Trial::test(name, move || {
            scenario(servers.tools(), &servers.dir.join(name));
            Ok(())
        }));
    }
    for &(name, scenario) in SHARED_SCENARIOS {
        let servers = Arc::clone(&servers);
        trials.push(Trial::test(name, move || {
            scenario(servers.shared());
            Ok(())
        }));
    }
    for &(name, scenario) in CLUSTER_SCENARIOS {
        let servers = Arc::clone(&servers);
        trials.push(Trial::test(name, move || {
            let (shared, aware) = servers.cluster_aware();
            scenario(shared, aware);
            Ok(())
        }));
    }
    {
        let servers = Arc::clone(&servers);
        trials.push(Trial::test(
            "validate_with_cluster_reports_what_the_cluster_lacks",
            move || {
                cluster_checks::validate_with_cluster_reports_what_the_cluster_lacks(
                    servers.shared(),
                    &servers.dir,
                );
                Ok(())
            },
        ));
    }
    for &(name, scenario) in HERMETIC_SCENARIOS {
        let servers = Arc::clone(&servers);
        trials.push(Trial::test(name, move || {
            scenario(&servers.dir.join(name));
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
    // there are cores keeps the run short. Six: the four with servers of their own start at
    // once, and the shared server's scenarios need not wait for one of them to end.
    // RUST_TEST_THREADS still counts, as for libtest.
    if args.test_threads.is_none() {
        let from_env = std::env::var("RUST_TEST_THREADS").ok();
        args.test_threads = Some(from_env.and_then(|n| n.parse().ok()).unwrap_or(6));
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

//! The cluster-aware checks (SPEC §8, issue 20) as users meet them: a second stsguard,
//! `serve --cluster on`, watches the shared API server and is registered as its webhooks for
//! namespaces labelled [`CLUSTER_LABEL`]. Each rule must trip through the API server —
//! kubectl's `Warning:` lines, or a denial where the policy raises it to `error` (namespaces
//! `strict-*`) — and stay quiet on its near miss. What a rule looks at is created with
//! kubectl: namespaced objects by each scenario, the cluster-scoped ones (Nodes with their
//! allocatable, StorageClasses, a PriorityClass: `tests/data/apiserver/cluster.yaml`) before
//! this stsguard starts.
//!
//! Objects a scenario creates reach stsguard through its watches a moment later, so each
//! expectation is polled for a few seconds until it holds, and fails with the last answer
//! when it never does.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Shared;
use crate::cluster::{Cluster, Namespace, Run, eventually};
use crate::manifests::{data, renamed, statefulset, web_with_unknown_mount};
use crate::webhook::{
    Serve, VALIDATING_WEBHOOK, WATCHED_LABEL, ca_bundle, configurations_for, hermetic,
};

/// The value of [`WATCHED_LABEL`] that puts a namespace under the cluster-aware stsguard.
pub const CLUSTER_LABEL: &str = "cluster";
/// Its webhook configurations' name.
const CONFIGURATION: &str = "stsguard-apiserver-test-cluster";

/// The rules of SPEC §8.
pub const CLUSTER_RULES: [&str; 11] = [
    "service-missing",
    "service-headless",
    "service-selector",
    "storage-class-missing",
    "storage-class-no-default",
    "node-fit",
    "priority-class-missing",
    "runtime-class-missing",
    "service-account-missing",
    "config-map-missing",
    "secret-missing",
];

/// The kinds stsguard watches, as its logs and metrics name them, and the rules each
/// feeds; Secret only with `--cluster-secrets`.
pub const WATCHED: [(&str, &[&str]); 8] = [
    (
        "Service",
        &["service-missing", "service-headless", "service-selector"],
    ),
    (
        "StorageClass",
        &["storage-class-missing", "storage-class-no-default"],
    ),
    ("Node", &["node-fit"]),
    ("PriorityClass", &["priority-class-missing"]),
    ("RuntimeClass", &["runtime-class-missing"]),
    ("ServiceAccount", &["service-account-missing"]),
    ("ConfigMap", &["config-map-missing"]),
    ("Secret", &["secret-missing"]),
];

/// The watched kind whose API (`node.k8s.io/v1`, Kubernetes 1.20) the 1.19 API servers here
/// do not serve: wherever stsguard may read it, it is "not served" and its rule is off — the
/// path of every older cluster, on every server of these tests.
pub const UNSERVED_ON_1_19: &str = "RuntimeClass";

/// The kinds that list on the 1.19 servers here (with Secrets when watched).
pub fn served_kinds(secrets: bool) -> Vec<&'static str> {
    WATCHED
        .iter()
        .map(|(kind, _)| *kind)
        .filter(|kind| *kind != UNSERVED_ON_1_19 && (secrets || *kind != "Secret"))
        .collect()
}

/// What `validate --cluster` said it could not list: `stsguard: cannot list KIND (REASON):
/// RULES off` lines, as (kind, reason), sorted; checks that each names its kind's rules.
#[track_caller]
pub fn cannot_list(stderr: &str) -> Vec<(String, String)> {
    let mut kinds: Vec<(String, String)> = stderr
        .lines()
        .filter_map(|line| line.split_once("cannot list "))
        .map(|(_, rest)| {
            let (kind, rest) = rest.split_once(" (").unwrap_or((rest, ""));
            let (reason, rules) = rest.split_once(')').unwrap_or((rest, ""));
            let kind_rules = WATCHED
                .iter()
                .find(|(watched, _)| *watched == kind)
                .map(|(_, rules)| *rules)
                .unwrap_or_else(|| panic!("not a watched kind: {stderr}"));
            for rule in kind_rules {
                assert!(
                    names_rule(&Value::from(rules), rule),
                    "does not say that {rule} is off: {stderr}"
                );
            }
            (kind.to_string(), reason.to_string())
        })
        .collect();
    kinds.sort();
    kinds
}

/// `(UNSERVED_ON_1_19, "not served")` and `more`, sorted: what a stsguard that may read
/// every kind reports unavailable on the servers here.
pub fn unavailable(more: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = more
        .iter()
        .chain([(UNSERVED_ON_1_19, "not served")].iter())
        .map(|(kind, reason)| (kind.to_string(), reason.to_string()))
        .collect();
    all.sort();
    all
}

/// The policy of every cluster-aware stsguard here: cluster rules at their default
/// severity (warning), raised to `error` in namespaces `strict-*`.
pub fn cluster_policy() -> PathBuf {
    crate::common::data("apiserver/cluster-policy.yaml")
}

/// `--cluster on` against `cluster`'s kubeconfig, in `context`.
pub fn cluster_flags<'a>(cluster: &'a Cluster, context: &'a str) -> Vec<String> {
    vec![
        "--cluster".into(),
        "on".into(),
        "--kubeconfig".into(),
        cluster.kubeconfig().display().to_string(),
        "--context".into(),
        context.into(),
    ]
}

/// The cluster-aware stsguard of the shared API server.
pub struct ClusterAware {
    pub serve: Serve,
    /// PriorityClasses the shared server had when stsguard started (its two system ones and
    /// ours).
    priority_classes: usize,
}

impl ClusterAware {
    /// Creates the cluster-scoped objects, starts `serve --cluster on --cluster-secrets`
    /// (admin), waits until it is ready, and registers it for namespaces labelled
    /// [`CLUSTER_LABEL`].
    pub fn start(shared: &Shared, dir: &Path) -> Result<ClusterAware, String> {
        let cluster = &shared.cluster;
        let (nodes, others): (Vec<Value>, Vec<Value>) = data("apiserver/cluster.yaml")
            .into_iter()
            .partition(|object| object["kind"] == "Node");
        cluster.create_nodes(&nodes);
        cluster.apply(others);
        let priority_classes = cluster
            .kubectl_ok(&["get", "priorityclasses", "-o", "name"], None)
            .stdout
            .lines()
            .count();

        // The certificates of the shared stsguard serve this one too.
        let certs = dir.join("certs");
        let mut flags = cluster_flags(cluster, "admin");
        flags.push("--cluster-secrets".into());
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let serve = Serve::launch(dir, "serve-cluster", &certs, &cluster_policy(), &flags)?;
        cluster.show_log_on_failure(&serve.log);
        cluster.apply(configurations_for(
            serve.admission,
            &ca_bundle(&certs),
            CONFIGURATION,
            CLUSTER_LABEL,
            &["v1", "v1beta1"],
        ));
        Ok(ClusterAware {
            serve,
            priority_classes,
        })
    }
}

/// A new namespace the cluster-aware stsguard reviews, with the governing Service `web` that
/// [`base`] names; returns once the API server sends its StatefulSets to stsguard.
#[track_caller]
pub fn reviewed_namespace<'c>(cluster: &'c Cluster, name: &str) -> Namespace<'c> {
    let namespace = cluster.namespace(name, json!({WATCHED_LABEL: CLUSTER_LABEL}));
    namespace.created(&[service("web", true, "nginx")]);
    wait_until_validated(&namespace);
    namespace
}

/// Waits until stsguard's validating webhook answers for this namespace: the API server
/// learns of configurations and namespace labels through informers, a moment after the
/// write. Only the denial of an object stsguard always denies is waited for (the other
/// scenarios' probes need the defaults, which `strict-*` namespaces would deny).
#[track_caller]
pub fn wait_until_validated(namespace: &Namespace<'_>) {
    let bad = web_with_unknown_mount("probe");
    let denied = eventually(Duration::from_secs(20), || {
        let run = namespace.dry_run_create(&bad);
        denied_by_stsguard(&run).then_some(())
    });
    if denied.is_none() {
        namespace.cluster.fail(
            &format!(
                "stsguard's validating webhook is not called for namespace {} after 20 s",
                namespace.name
            ),
            &namespace.dry_run_create(&bad),
        );
    }
}

fn denied_by_stsguard(run: &Run) -> bool {
    !run.ok
        && run.stderr.contains(&format!(
            "admission webhook \"{VALIDATING_WEBHOOK}\" denied the request"
        ))
}

/// A Service: headless or not, selecting `app: APP`.
pub fn service(name: &str, headless: bool, app: &str) -> Value {
    let mut service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": app}, "ports": [{"name": "web", "port": 80}]},
    });
    if headless {
        service["spec"]["clusterIP"] = json!("None");
    }
    service
}

/// web.yaml's StatefulSet as the cluster scenarios start from it: governed by Service `web`,
/// its claim template on StorageClass `fast`. In a namespace from [`reviewed_namespace`],
/// nothing it names is missing and it fits node `cpu-1`.
pub fn base() -> Value {
    let mut web = renamed(statefulset("web.yaml"), "web");
    set(&mut web, "/spec/serviceName", json!("web"));
    set(
        &mut web,
        "/spec/volumeClaimTemplates/0/spec/storageClassName",
        json!("fast"),
    );
    web
}

/// Sets the value at a JSON Pointer, creating the objects on the way; an array index one
/// past the end appends.
pub fn set(object: &mut Value, pointer: &str, value: Value) {
    let unescape = |token: &str| token.replace("~1", "/").replace("~0", "~");
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let mut at = object;
    for token in parent.split('/').skip(1) {
        let token = unescape(token);
        at = match at {
            Value::Array(items) => &mut items[token.parse::<usize>().unwrap()],
            Value::Object(map) => map.entry(token).or_insert_with(|| json!({})),
            other => panic!("{pointer}: {other} is not a container"),
        };
    }
    let key = unescape(key);
    match at {
        Value::Array(items) => {
            let index: usize = key.parse().unwrap();
            if index == items.len() {
                items.push(value);
            } else {
                items[index] = value;
            }
        }
        Value::Object(map) => {
            map.insert(key, value);
        }
        other => panic!("{pointer}: {other} is not a container"),
    }
}

/// [`base`] with changes at JSON Pointers.
pub fn base_with(changes: &[(&str, Value)]) -> Value {
    let mut object = base();
    for (pointer, value) in changes {
        set(&mut object, pointer, value.clone());
    }
    object
}

/// The container's `resources.limits` (requests follow limits).
fn limits(limits: Value) -> (&'static str, Value) {
    (
        "/spec/template/spec/containers/0/resources",
        json!({"limits": limits}),
    )
}

fn tolerations(tolerations: Value) -> (&'static str, Value) {
    ("/spec/template/spec/tolerations", tolerations)
}

/// Tolerates the GPU pool's taint.
fn tolerating_the_gpu_pool() -> (&'static str, Value) {
    tolerations(
        json!([{"key": "dedicated", "operator": "Equal", "value": "gpu",
                        "effect": "NoSchedule"}]),
    )
}

/// The cluster rules named by kubectl's `Warning:` lines (`rule: message [path]`), sorted.
pub fn cluster_warnings(warnings: &[&str]) -> Vec<String> {
    let mut rules: Vec<String> = warnings
        .iter()
        .filter_map(|warning| warning.split_once(':'))
        .map(|(rule, _)| rule.to_string())
        .filter(|rule| CLUSTER_RULES.contains(&rule.as_str()))
        .collect();
    rules.sort();
    rules
}

/// The cluster rules a denial lists (`- rule at /path: message`), sorted.
pub fn cluster_denials(stderr: &str) -> Vec<String> {
    let mut rules: Vec<String> = stderr
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("- "))
        .filter_map(|line| line.split_once(" at "))
        .map(|(rule, _)| rule.to_string())
        .filter(|rule| CLUSTER_RULES.contains(&rule.as_str()))
        .collect();
    rules.sort();
    rules
}

fn sorted(rules: &[&str]) -> Vec<String> {
    let mut rules: Vec<String> = rules.iter().map(|rule| rule.to_string()).collect();
    rules.sort();
    rules
}

/// How long a new object may take to reach stsguard's stores.
const WATCH_DELAY: Duration = Duration::from_secs(10);

/// Dry-runs `object` (create, through the API server and its webhooks) until it is admitted
/// and the cluster rules kubectl warns about are exactly `rules`; the last run. Fails with
/// it after [`WATCH_DELAY`].
#[track_caller]
pub fn expect_warnings(namespace: &Namespace<'_>, object: &Value, rules: &[&str]) -> Run {
    expect_warnings_within(namespace, object, rules, WATCH_DELAY)
}

/// [`expect_warnings`], waiting at most `limit`.
#[track_caller]
pub fn expect_warnings_within(
    namespace: &Namespace<'_>,
    object: &Value,
    rules: &[&str],
    limit: Duration,
) -> Run {
    let expected = sorted(rules);
    let mut last = None;
    let found = eventually(limit, || {
        let run = namespace.dry_run_create(object);
        let matched = run.ok && cluster_warnings(&run.warnings()) == expected;
        last = Some(run);
        matched.then_some(())
    });
    let run = last.unwrap();
    if let Some(long) = run.warnings().iter().find(|w| w.chars().count() > 120) {
        namespace
            .cluster
            .fail(&format!("a warning over 120 characters: {long:?}"), &run);
    }
    if found.is_none() {
        namespace.cluster.fail(
            &format!(
                "{}: expected the cluster warnings {expected:?}, kubectl printed {:?}",
                namespace.name,
                cluster_warnings(&run.warnings())
            ),
            &run,
        );
    }
    run
}

/// [`expect_warnings`] of one rule, whose `Warning:` line must also contain `text`.
#[track_caller]
pub fn expect_warning(namespace: &Namespace<'_>, object: &Value, rule: &str, text: &str) -> Run {
    let run = expect_warnings(namespace, object, &[rule]);
    let prefix = format!("{rule}:");
    if !run
        .warnings()
        .iter()
        .any(|warning| warning.starts_with(&prefix) && warning.contains(text))
    {
        namespace
            .cluster
            .fail(&format!("no {rule} warning says {text:?}"), &run);
    }
    run
}

/// Dry-runs `object` until stsguard denies it naming exactly these cluster rules; the run.
#[track_caller]
pub fn expect_denied(namespace: &Namespace<'_>, object: &Value, rules: &[&str]) -> Run {
    let expected = sorted(rules);
    let mut last = None;
    let found = eventually(WATCH_DELAY, || {
        let run = namespace.dry_run_create(object);
        let matched = denied_by_stsguard(&run) && cluster_denials(&run.stderr) == expected;
        last = Some(run);
        matched.then_some(())
    });
    let run = last.unwrap();
    if found.is_none() {
        namespace.cluster.fail(
            &format!(
                "{}: expected a denial for {expected:?}, got {:?}",
                namespace.name,
                cluster_denials(&run.stderr)
            ),
            &run,
        );
    }
    run
}

/// The watches have listed every kind once: `/metrics` says each is synced, and the log
/// says so once per kind with what it found — the cluster-scoped objects the setup created
/// among them.
pub fn watches_are_synced_and_counted(shared: &Shared, aware: &ClusterAware) {
    let serve = &aware.serve;
    let nodes = data("apiserver/cluster.yaml")
        .iter()
        .filter(|object| object["kind"] == "Node")
        .count();
    let storage_classes = data("apiserver/cluster.yaml")
        .iter()
        .filter(|object| object["kind"] == "StorageClass")
        .count();
    for kind in served_kinds(true) {
        assert_eq!(
            serve.cluster_metric("stsguard_cluster_synced", kind),
            Some(1.0),
            "stsguard_cluster_synced{{kind=\"{kind}\"}}\n{}",
            shared.cluster.context()
        );
        let synced: Vec<Value> = serve
            .logged("cluster watch synced")
            .into_iter()
            .filter(|line| line["kind"] == kind)
            .collect();
        assert_eq!(synced.len(), 1, "{kind}: {synced:#?}");
    }
    assert_eq!(synced_kinds(serve), kinds(&served_kinds(true)));
    let objects_at_sync = |kind: &str| -> Option<u64> {
        let line = serve
            .logged("cluster watch synced")
            .into_iter()
            .find(|line| line["kind"] == kind)?;
        let objects = &line["objects"];
        objects.as_u64().or_else(|| objects.as_str()?.parse().ok())
    };
    assert_eq!(objects_at_sync("Node"), Some(nodes as u64));
    assert_eq!(
        objects_at_sync("StorageClass"),
        Some(storage_classes as u64)
    );
    assert_eq!(
        objects_at_sync("PriorityClass"),
        Some(aware.priority_classes as u64)
    );
    // Nodes never change here: the gauge still counts them all.
    assert_eq!(
        serve.cluster_metric("stsguard_cluster_objects", "Node"),
        Some(nodes as f64)
    );
    assert_eq!(
        unavailable_kinds(serve),
        unavailable(&[]),
        "{}",
        serve.tail()
    );
    assert_eq!(
        serve.cluster_metric("stsguard_cluster_synced", UNSERVED_ON_1_19),
        Some(0.0)
    );
}

/// An API the cluster does not serve: RuntimeClass (`node.k8s.io/v1`) on this 1.19 server.
/// stsguard said so once at start-up ([`watches_are_synced_and_counted`]), and its rule is
/// off: a pod naming a RuntimeClass draws no `runtime-class-missing`, while the other kinds'
/// rules still speak.
pub fn runtime_class_is_not_served_by_1_19_and_its_rule_is_off(shared: &Shared) {
    let ns = reviewed_namespace(&shared.cluster, "cluster-runtime");
    let run = shared
        .cluster
        .kubectl(&["get", "--raw", "/apis/node.k8s.io/v1"], None);
    assert!(!run.ok && run.stderr.contains("NotFound"), "{run}");
    let with_runtime = base_with(&[("/spec/template/spec/runtimeClassName", json!("nvidia"))]);
    expect_warnings(&ns, &with_runtime, &[]);
    let mut elsewhere = with_runtime;
    set(&mut elsewhere, "/spec/serviceName", json!("absent"));
    expect_warnings(&ns, &elsewhere, &["service-missing"]);
}

/// `service-missing`, `service-headless`, `service-selector`: the governing Service must
/// exist, be headless and select the pods. A headless Service selecting them is quiet. The
/// last two are the rules of SPEC §3, errors by default (a Service found in the same input
/// offline, or in the cluster at admission), so they deny; a missing Service is a warning.
pub fn service_rules_trip_and_a_headless_selecting_service_is_quiet(shared: &Shared) {
    let ns = reviewed_namespace(&shared.cluster, "cluster-services");
    ns.created(&[
        service("web-clusterip", false, "nginx"),
        service("web-other", true, "other"),
    ]);
    expect_warnings(&ns, &base(), &[]);
    let governed_by = |name: &str| base_with(&[("/spec/serviceName", json!(name))]);
    let run = expect_denied(&ns, &governed_by("web-clusterip"), &["service-headless"]);
    assert!(
        run.stderr
            .contains("the governing Service \"web-clusterip\" is not headless"),
        "{run}"
    );
    let run = expect_denied(&ns, &governed_by("web-other"), &["service-selector"]);
    assert!(
        run.stderr
            .contains("it selects app=other but the pod template has app=nginx"),
        "{run}"
    );
    expect_warning(
        &ns,
        &governed_by("wbe"),
        "service-missing",
        "(did you mean \"web\"?)",
    );
}

/// `storage-class-missing` and `storage-class-no-default`. Near misses: a class the cluster
/// has, `""` (no class: a pre-made volume), and no class once a default class exists — the
/// watch of a cluster-scoped kind keeps up with a class created and deleted.
pub fn storage_class_rules_trip_and_an_existing_class_is_quiet(shared: &Shared) {
    let ns = reviewed_namespace(&shared.cluster, "cluster-storage");
    let class = |name: Option<&str>| {
        let mut object = base();
        let claim = &mut object["spec"]["volumeClaimTemplates"][0]["spec"];
        match name {
            Some(name) => claim["storageClassName"] = json!(name),
            None => {
                claim.as_object_mut().unwrap().remove("storageClassName");
            }
        }
        object
    };
    expect_warnings(&ns, &class(Some("fast")), &[]);
    expect_warnings(&ns, &class(Some("")), &[]);
    // The whole message is longer than a warning may be: the "did you mean" is cut (the
    // denial in cluster_rules_raised_to_error_deny shows it).
    expect_warning(
        &ns,
        &class(Some("fats")),
        "storage-class-missing",
        "names StorageClass \"fats\", which the cluster does not have",
    );
    expect_warning(
        &ns,
        &class(None),
        "storage-class-no-default",
        "the cluster has no default class",
    );

    let default_class = json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": "cluster-storage-default",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "example.com/default",
    });
    shared.cluster.apply(vec![default_class]);
    expect_warnings(&ns, &class(None), &[]);
    shared
        .cluster
        .kubectl_ok(&["delete", "storageclass", "cluster-storage-default"], None);
    expect_warnings(&ns, &class(None), &["storage-class-no-default"]);
}

/// A ServiceAccount, a ConfigMap and a Secret in a namespace, named as [`with_references`]
/// names them by default.
pub fn referenced_objects() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
               "data": {"mode": "test"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token"},
               "stringData": {"token": "not-a-secret"}}),
    ]
}

/// [`base`] whose pods name a PriorityClass, a ServiceAccount, a ConfigMap (volume and
/// envFrom) and a Secret (env), by these names.
pub fn with_references(priority: &str, account: &str, config_map: Value, secret: &str) -> Value {
    base_with(&[
        ("/spec/template/spec/priorityClassName", json!(priority)),
        ("/spec/template/spec/serviceAccountName", json!(account)),
        (
            "/spec/template/spec/volumes",
            json!([{"name": "settings", "configMap": config_map}]),
        ),
        (
            "/spec/template/spec/containers/0/env",
            json!([{"name": "TOKEN",
                    "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}}}]),
        ),
    ])
}

/// An object that trips every cluster rule but `service-headless` and `service-selector`
/// (its Service does not exist at all) in a namespace holding [`referenced_objects`]:
/// Service `wbe`, StorageClass `fats` and a second claim template with no class,
/// PriorityClass `high-priorty`, ServiceAccount `ap`, ConfigMap `setings`, Secret `tokn`, and
/// 4 GPUs per pod (with the GPU pool's taint tolerated; gpu-a1 has 2).
pub fn everything_wrong() -> Value {
    let mut object = with_references("high-priorty", "ap", json!({"name": "setings"}), "tokn");
    set(&mut object, "/spec/serviceName", json!("wbe"));
    let claims = &mut object["spec"]["volumeClaimTemplates"];
    claims[0]["spec"]["storageClassName"] = json!("fats");
    let mut unclassed = claims[0].clone();
    unclassed["metadata"]["name"] = json!("scratch");
    unclassed["spec"]
        .as_object_mut()
        .unwrap()
        .remove("storageClassName");
    claims.as_array_mut().unwrap().push(unclassed);
    set(
        &mut object,
        "/spec/template/spec/containers/0/volumeMounts/1",
        json!({"name": "scratch", "mountPath": "/scratch"}),
    );
    set(
        &mut object,
        "/spec/template/spec/containers/0/resources",
        json!({"limits": {"nvidia.com/gpu": 4}}),
    );
    set(
        &mut object,
        "/spec/template/spec/tolerations",
        json!([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]),
    );
    object
}

/// `priority-class-missing`, `service-account-missing`, `config-map-missing` and
/// `secret-missing` (this stsguard runs with `--cluster-secrets`). Near misses: the objects
/// exist; a ConfigMap that does not is `optional: true`; the ServiceAccount is `default`
/// (which the 1.19 server here never creates, without a controller-manager).
pub fn references_trip_and_optional_or_existing_ones_are_quiet(shared: &Shared) {
    let ns = reviewed_namespace(&shared.cluster, "cluster-references");
    ns.created(&referenced_objects());
    let settings = json!({"name": "settings"});
    expect_warnings(
        &ns,
        &with_references("high-priority", "app", settings.clone(), "token"),
        &[],
    );
    expect_warnings(
        &ns,
        &with_references(
            "high-priority",
            "default",
            json!({"name": "absent", "optional": true}),
            "token",
        ),
        &[],
    );
    expect_warning(
        &ns,
        &with_references("high-priorty", "app", settings.clone(), "token"),
        "priority-class-missing",
        "(did you mean \"high-priority\"?)",
    );
    expect_warning(
        &ns,
        &with_references("high-priority", "ap", settings.clone(), "token"),
        "service-account-missing",
        "ServiceAccount \"ap\" does not exist",
    );
    expect_warning(
        &ns,
        &with_references("high-priority", "app", json!({"name": "setings"}), "token"),
        "config-map-missing",
        "ConfigMap \"setings\"",
    );
    expect_warning(
        &ns,
        &with_references("high-priority", "app", settings, "tokn"),
        "secret-missing",
        "Secret \"tokn\"",
    );
}

/// `node-fit` against the Nodes of `tests/data/apiserver/cluster.yaml`: it names the best
/// offer, a resource no node advertises, a taint not tolerated, a selector no node matches;
/// it is quiet on a MIG profile a node advertises, a tolerated taint, a nodeSelector that
/// picks the GPU pool, a taint on a requested extended resource, and a tolerated cordon.
/// The pod's request is the sum over its containers, or its largest init container.
pub fn node_fit_names_the_best_offer_and_is_quiet_where_a_node_fits(shared: &Shared) {
    let ns = reviewed_namespace(&shared.cluster, "cluster-nodes");
    let gpu = tolerating_the_gpu_pool;
    let pod = |changes: &[(&str, Value)]| base_with(changes);

    expect_warnings(
        &ns,
        &pod(&[limits(json!({"nvidia.com/gpu": 2})), gpu()]),
        &[],
    );
    expect_warning(
        &ns,
        &pod(&[limits(json!({"nvidia.com/gpu": 4})), gpu()]),
        "node-fit",
        "the largest eligible node, gpu-a1, offers 2 nvidia.com/gpu; each pod asks 4",
    );

    expect_warnings(
        &ns,
        &pod(&[limits(json!({"nvidia.com/mig-1g.10gb": 1})), gpu()]),
        &[],
    );
    expect_warning(
        &ns,
        &pod(&[limits(json!({"nvidia.com/mig-3g.40gb": 1})), gpu()]),
        "node-fit",
        "advertises nvidia.com/mig-3g.40gb",
    );

    // The GPU pool's taint, not tolerated: the only GPUs are out of reach.
    expect_warning(
        &ns,
        &pod(&[limits(json!({"nvidia.com/gpu": 1}))]),
        "node-fit",
        "no eligible node offers nvidia.com/gpu",
    );

    let gpu_pool = ("/spec/template/spec/nodeSelector", json!({"pool": "gpu"}));
    expect_warnings(
        &ns,
        &pod(&[
            limits(json!({"cpu": "60", "memory": "400Gi"})),
            gpu_pool.clone(),
            gpu(),
        ]),
        &[],
    );
    expect_warning(
        &ns,
        &pod(&[limits(json!({"cpu": "64"})), gpu_pool, gpu()]),
        "node-fit",
        "the largest eligible node, gpu-a1, offers 63 cpu; each pod asks 64",
    );
    expect_warning(
        &ns,
        &pod(&[("/spec/template/spec/nodeSelector", json!({"pool": "arm"}))]),
        "node-fit",
        "ruled out by the nodeSelector",
    );

    // fpga-1's taint is the resource's name: asking for the resource tolerates it.
    expect_warnings(&ns, &pod(&[limits(json!({"example.com/fpga": 2}))]), &[]);
    expect_warning(
        &ns,
        &pod(&[limits(json!({"example.com/fpga": 3}))]),
        "node-fit",
        "the largest eligible node, fpga-1, offers 2 example.com/fpga; each pod asks 3",
    );

    // big-cordoned is out of reach unless the pod tolerates the cordon.
    expect_warning(
        &ns,
        &pod(&[limits(json!({"cpu": "100"}))]),
        "node-fit",
        "the largest eligible node, cpu-1, offers 8 cpu; each pod asks 100",
    );
    expect_warnings(
        &ns,
        &pod(&[
            limits(json!({"cpu": "100"})),
            tolerations(json!([{"key": "node.kubernetes.io/unschedulable",
                                "operator": "Exists", "effect": "NoSchedule"}])),
        ]),
        &[],
    );

    // Two containers of one GPU each ask for two; with an init container of three, three.
    let mut two_containers = pod(&[limits(json!({"nvidia.com/gpu": 1})), gpu()]);
    let mut second = two_containers["spec"]["template"]["spec"]["containers"][0].clone();
    second["name"] = json!("second");
    second.as_object_mut().unwrap().remove("ports");
    two_containers["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(second);
    expect_warnings(&ns, &two_containers, &[]);
    let mut with_init = two_containers.clone();
    set(
        &mut with_init,
        "/spec/template/spec/initContainers",
        json!([{"name": "warm-up", "image": "registry.k8s.io/busybox:1.36",
                "resources": {"limits": {"nvidia.com/gpu": 3}}}]),
    );
    expect_warning(
        &ns,
        &with_init,
        "node-fit",
        "offers 2 nvidia.com/gpu; each pod asks 3",
    );
}

/// The watch keeps up: a deleted Service is missing at the next review within seconds, and
/// back once it is created again.
pub fn deleted_service_is_missing_within_seconds_and_back_when_created_again(shared: &Shared) {
    let ns = reviewed_namespace(&shared.cluster, "cluster-watch");
    expect_warnings(&ns, &base(), &[]);
    let delete = Instant::now();
    ns.cluster
        .kubectl_ok(&["--namespace", &ns.name, "delete", "service", "web"], None);
    expect_warnings(&ns, &base(), &["service-missing"]);
    let gone_after = delete.elapsed();
    let create = Instant::now();
    ns.created(&[service("web", true, "nginx")]);
    expect_warnings(&ns, &base(), &[]);
    let back_after = create.elapsed();
    eprintln!(
        "deleted_service_is_missing_within_seconds_and_back_when_created_again: \
         gone after {gone_after:.1?}, back after {back_after:.1?}"
    );
    let limit = Duration::from_secs(5);
    assert!(
        gone_after < limit && back_after < limit,
        "gone after {gone_after:?}, back after {back_after:?}"
    );
}

/// Raised to `error` by the policy (namespaces `strict-*`), every cluster rule denies, and
/// the denial carries the whole message (warnings are cut at 120 characters). The object
/// that names only what exists is still admitted there.
pub fn cluster_rules_raised_to_error_deny(shared: &Shared) {
    let ns = reviewed_namespace(&shared.cluster, "strict-cluster");
    let mut objects = referenced_objects();
    objects.push(service("web-clusterip", false, "nginx"));
    objects.push(service("web-other", true, "other"));
    ns.created(&objects);
    let settings = json!({"name": "settings"});
    let fine = with_references("high-priority", "app", settings, "token");
    expect_warnings(&ns, &fine, &[]);

    let run = expect_denied(
        &ns,
        &everything_wrong(),
        &[
            "service-missing",
            "storage-class-missing",
            "storage-class-no-default",
            "node-fit",
            "priority-class-missing",
            "service-account-missing",
            "config-map-missing",
            "secret-missing",
        ],
    );
    for whole in [
        "- node-fit at /spec/template/spec/containers/0/resources/limits/nvidia.com~1gpu: \
         no node can hold a pod: the largest eligible node, gpu-a1, offers 2 nvidia.com/gpu; \
         each pod asks 4; the pods stay Pending",
        "StorageClass \"fats\", which the cluster does not have (did you mean \"fast\"?)",
        "- storage-class-no-default at /spec/volumeClaimTemplates/1/spec/storageClassName",
    ] {
        assert!(run.stderr.contains(whole), "no {whole:?} in:\n{run}");
    }

    let governed_by = |name: &str| {
        let mut object = fine.clone();
        set(&mut object, "/spec/serviceName", json!(name));
        object
    };
    expect_denied(&ns, &governed_by("web-clusterip"), &["service-headless"]);
    expect_denied(&ns, &governed_by("web-other"), &["service-selector"]);
}

/// Runs the built stsguard with `args`, hermetic as [`hermetic`] makes it, plus `env`.
pub fn run_stsguard(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = crate::common::stsguard_command();
    command.args(args);
    hermetic(&mut command);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

/// `stsguard validate -o json ARGS`: exit code, the rules of its findings (sorted), stderr.
pub fn validate_json(args: &[&str], env: &[(&str, &str)]) -> (i32, Vec<String>, String) {
    let mut all = vec!["validate", "--output", "json"];
    all.extend(args);
    let output = run_stsguard(&all, env);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stsguard {}: no JSON report ({e}):\n{}\n{stderr}",
            all.join(" "),
            String::from_utf8_lossy(&output.stdout)
        )
    });
    let mut rules: Vec<String> = report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|finding| finding["rule"].as_str().map(str::to_string))
        .collect();
    rules.sort();
    (output.status.code().unwrap_or(-1), rules, stderr)
}

/// Writes objects into `dir/FILE` as a YAML stream (each document in JSON, which is YAML).
pub fn write_manifest(dir: &Path, file: &str, objects: &[Value]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(file);
    let text: Vec<String> = objects.iter().map(Value::to_string).collect();
    std::fs::write(&path, text.join("\n---\n")).unwrap();
    path
}

/// `validate --cluster` against the shared API server judges files against it: the
/// governing Service and the StorageClass are missing there. A Service in the same input
/// counts as present; without `--cluster` neither rule can speak; a policy that raises them
/// fails the run.
pub fn validate_with_cluster_reports_what_the_cluster_lacks(shared: &Shared, dir: &Path) {
    let ns = shared.cluster.namespace("cluster-validate", json!({}));
    ns.created(&referenced_objects());
    let dir = dir.join("validate-cluster");
    let mut object = base_with(&[(
        "/spec/volumeClaimTemplates/0/spec/storageClassName",
        json!("fats"),
    )]);
    object["metadata"]["namespace"] = json!(ns.name);
    let file = write_manifest(&dir, "web.yaml", std::slice::from_ref(&object));
    let file = file.to_str().unwrap();
    let kubeconfig = shared.cluster.kubeconfig().display().to_string();
    let cluster = [
        "--cluster",
        "--kubeconfig",
        kubeconfig.as_str(),
        "--context",
        "admin",
    ];
    let with_cluster = |extra: &[&str]| {
        let mut args = cluster.to_vec();
        args.extend(extra);
        validate_json(&args, &[])
    };

    let (code, rules, stderr) = with_cluster(&[file]);
    let cluster_rules: Vec<&String> = rules
        .iter()
        .filter(|rule| CLUSTER_RULES.contains(&rule.as_str()))
        .collect();
    assert_eq!(
        cluster_rules,
        ["service-missing", "storage-class-missing"],
        "{stderr}"
    );
    assert_eq!(code, 0, "warnings do not fail the run: {stderr}");
    assert_eq!(cannot_list(&stderr), unavailable(&[]), "{stderr}");

    let (code, rules, stderr) = validate_json(&[file], &[]);
    assert!(
        !rules
            .iter()
            .any(|rule| CLUSTER_RULES.contains(&rule.as_str())),
        "offline: {rules:?} {stderr}"
    );
    assert_eq!(code, 0, "{stderr}");

    let mut governing = service("web", true, "nginx");
    governing["metadata"]["namespace"] = json!(ns.name);
    let service_file = write_manifest(&dir, "service.yaml", &[governing]);
    let (_, rules, stderr) = with_cluster(&[file, service_file.to_str().unwrap()]);
    assert!(
        rules.contains(&"storage-class-missing".to_string())
            && !rules.contains(&"service-missing".to_string()),
        "{rules:?} {stderr}"
    );

    let policy = cluster_policy().display().to_string();
    object["metadata"]["namespace"] = json!("strict-validate");
    let strict_file = write_manifest(&dir, "strict.yaml", &[object]);
    let (code, rules, stderr) = with_cluster(&["--policy", &policy, strict_file.to_str().unwrap()]);
    assert_eq!(code, 1, "raised to error: {rules:?} {stderr}");
    assert!(rules.contains(&"service-missing".to_string()), "{rules:?}");
}

/// The cluster rules among the warnings stsguard answers when `object` is sent to its
/// `/validate` directly (not through an API server), sorted.
#[track_caller]
pub fn warned_directly(serve: &Serve, namespace: &str, object: &Value) -> Vec<String> {
    let response = serve.validate(namespace, object);
    assert_eq!(response["allowed"], true, "{response:#}");
    let warnings: Vec<&str> = response["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    cluster_warnings(&warnings)
}

/// Whether a log field (a string, or a list of them) names `rule`.
pub fn names_rule(field: &Value, rule: &str) -> bool {
    match field {
        Value::String(text) => text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .any(|word| word == rule),
        Value::Array(items) => items.iter().any(|item| names_rule(item, rule)),
        _ => false,
    }
}

/// The kinds `serve` logged as unavailable, each with its reason; checks that each such
/// line names every rule of its kind.
#[track_caller]
pub fn unavailable_kinds(serve: &Serve) -> Vec<(String, String)> {
    let mut kinds: Vec<(String, String)> = serve
        .logged("cluster watch unavailable")
        .into_iter()
        .map(|line| {
            let kind = line["kind"].as_str().unwrap_or_default().to_string();
            let rules = WATCHED
                .iter()
                .find(|(watched, _)| *watched == kind)
                .map(|(_, rules)| *rules)
                .unwrap_or_else(|| panic!("not a watched kind: {line}"));
            for rule in rules {
                assert!(
                    names_rule(&line["rules"], rule),
                    "the line does not say that {rule} is off: {line}"
                );
            }
            (
                kind,
                line["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    kinds.sort();
    kinds
}

/// The kinds `serve` logged as synced, sorted.
pub fn synced_kinds(serve: &Serve) -> Vec<String> {
    let mut kinds: Vec<String> = serve
        .logged("cluster watch synced")
        .into_iter()
        .filter_map(|line| line["kind"].as_str().map(str::to_string))
        .collect();
    kinds.sort();
    kinds
}

/// `kinds`, sorted, as owned strings.
pub fn kinds(kinds: &[&str]) -> Vec<String> {
    let mut kinds: Vec<String> = kinds.iter().map(|kind| kind.to_string()).collect();
    kinds.sort();
    kinds
}

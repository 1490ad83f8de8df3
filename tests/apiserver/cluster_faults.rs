//! The cluster watches when the cluster misbehaves, each on an API server of its own (they
//! stop it, or start it with an API switched off): the webhook keeps answering from its
//! stores, stays ready, and says which rules are off.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster::{Cluster, Tools, eventually};
use crate::cluster_checks::{
    CLUSTER_LABEL, WATCHED, base_with, cannot_list, cluster_flags, cluster_policy, expect_warnings,
    expect_warnings_within, kinds, served_kinds, service, synced_kinds, unavailable,
    unavailable_kinds, validate_json, wait_until_validated, warned_directly, write_manifest,
};
use crate::webhook::{Serve, WATCHED_LABEL, configurations_for, make_certificates};

/// The sum of `stsguard_cluster_watch_errors_total` over the watched kinds.
fn watch_errors(serve: &Serve) -> f64 {
    WATCHED
        .iter()
        .filter_map(|(kind, _)| serve.cluster_metric("stsguard_cluster_watch_errors_total", kind))
        .sum()
}

/// `serve --cluster on` keeps working through an API server outage:
/// - while the API server is down, `/readyz` stays 200 and the webhook (called directly)
///   answers from its stores: the Service it saw is there, the one it never saw is missing;
///   the failing watches show in `stsguard_cluster_watch_errors_total`;
/// - once the API server is back on the same port (same arguments; etcd kept running), a
///   Service created then is seen, and so is a deletion: the watches resumed.
pub fn cluster_watches_survive_an_api_server_outage(tools: &Tools, dir: &Path) {
    let cluster = Cluster::up(tools, dir).unwrap_or_else(|e| panic!("{e}"));
    let certs = dir.join("certs");
    let ca_bundle = make_certificates(&certs);
    // The StorageClass the objects name (no Nodes: node-fit does not judge then).
    cluster.apply(
        crate::manifests::data("apiserver/cluster.yaml")
            .into_iter()
            .filter(|object| object["kind"] == "StorageClass")
            .collect(),
    );
    let shop = cluster.namespace("shop", json!({WATCHED_LABEL: CLUSTER_LABEL}));
    shop.created(&[service("present", true, "nginx")]);
    let flags = cluster_flags(&cluster, "admin");
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let serve = Serve::launch(dir, "serve", &certs, &cluster_policy(), &flags)
        .unwrap_or_else(|e| panic!("{e}"));
    cluster.show_log_on_failure(&serve.log);
    cluster.apply(configurations_for(
        serve.admission,
        &ca_bundle,
        "stsguard-apiserver-test-faults",
        CLUSTER_LABEL,
        &["v1", "v1beta1"],
    ));
    wait_until_validated(&shop);
    let governed_by = |name: &str| base_with(&[("/spec/serviceName", json!(name))]);
    expect_warnings(&shop, &governed_by("present"), &[]);
    expect_warnings(&shop, &governed_by("later"), &["service-missing"]);
    let no_rules: Vec<String> = Vec::new();
    let service_missing = vec!["service-missing".to_string()];

    let errors_before = watch_errors(&serve);
    let arguments = cluster.stop_apiserver();
    let down = Instant::now();
    assert!(
        !cluster.kubectl(&["get", "namespaces"], None).ok,
        "the API server still answers"
    );
    // At least 3 s down, and until the failing watches are counted (they retry with
    // backoff): every look at stsguard meanwhile finds it ready and answering.
    let mut looks = 0;
    let counted = eventually(Duration::from_secs(30), || {
        assert_eq!(
            serve.readyz(),
            Some(200),
            "not ready while the API server is down\n{}",
            serve.tail()
        );
        assert_eq!(
            warned_directly(&serve, "shop", &governed_by("present")),
            no_rules
        );
        assert_eq!(
            warned_directly(&serve, "shop", &governed_by("later")),
            service_missing
        );
        looks += 1;
        (down.elapsed() > Duration::from_secs(3) && watch_errors(&serve) > errors_before)
            .then_some(())
    });
    assert!(
        counted.is_some(),
        "no watch error counted in 30 s without an API server (before: {errors_before}, \
         now: {})\n{}",
        watch_errors(&serve),
        serve.tail()
    );
    assert!(looks >= 3, "{looks} looks");

    cluster.start_apiserver(&arguments, &[]);
    let back = Instant::now();
    eprintln!(
        "cluster_watches_survive_an_api_server_outage: the API server was down {:.1?}",
        back - down
    );
    assert_eq!(serve.readyz(), Some(200), "{}", serve.tail());
    shop.created(&[service("later", true, "nginx")]);
    // The watches retry with kube-runtime's backoff (up to 30 s between attempts).
    expect_warnings_within(&shop, &governed_by("later"), &[], Duration::from_secs(60));
    eprintln!(
        "cluster_watches_survive_an_api_server_outage: a Service created after the restart \
         was seen {:.1?} after it",
        back.elapsed()
    );
    cluster.kubectl_ok(
        &["--namespace", "shop", "delete", "service", "present"],
        None,
    );
    expect_warnings(&shop, &governed_by("present"), &["service-missing"]);
    assert_eq!(serve.readyz(), Some(200), "{}", serve.tail());
}

/// A kind whose API the cluster does not serve, beyond RuntimeClass (which no 1.19 server
/// serves): `storage.k8s.io/v1`, switched off with `--runtime-config`, so that rules users
/// rely on are the ones turned off. The server starts and becomes ready without waiting for
/// the sync timeout, logs that StorageClass is off ("not served") with its rules,
/// `stsguard_cluster_synced` says 0 for it and 1 for the others, the storage-class rules say
/// nothing while the other kinds' rules work; `validate --cluster` says the same on stderr.
pub fn api_not_served_turns_its_rules_off_and_the_server_stays_ready(tools: &Tools, dir: &Path) {
    let cluster = Cluster::up(tools, dir).unwrap_or_else(|e| panic!("{e}"));
    let arguments = cluster.stop_apiserver();
    // The API server's own StorageClass informers (two admission plugins) would keep it from
    // becoming ready without the API.
    cluster.start_apiserver(
        &arguments,
        &[
            "--runtime-config=storage.k8s.io/v1=false",
            "--disable-admission-plugins=DefaultStorageClass,PersistentVolumeClaimResize",
        ],
    );
    let probe = cluster.kubectl(&["get", "--raw", "/apis/storage.k8s.io/v1"], None);
    assert!(
        !probe.ok && probe.stderr.contains("NotFound"),
        "storage.k8s.io/v1 is still served:\n{probe}"
    );
    cluster.namespace("legacy", json!({}));

    let certs = dir.join("certs");
    make_certificates(&certs);
    let flags = cluster_flags(&cluster, "admin");
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    // Ready (launch waits for /readyz 200 for at most 30 s, the default sync timeout): the
    // kind that is not served does not hold readiness up.
    let started = Instant::now();
    let serve = Serve::launch(dir, "serve", &certs, &cluster_policy(), &flags)
        .unwrap_or_else(|e| panic!("{e}"));
    let ready_after = started.elapsed();
    cluster.show_log_on_failure(&serve.log);
    assert!(
        ready_after < Duration::from_secs(20),
        "ready only after {ready_after:?}: the sync timeout, not the answer 'not served'"
    );
    assert_eq!(
        unavailable_kinds(&serve),
        unavailable(&[("StorageClass", "not served")]),
        "{}",
        serve.tail()
    );
    let mut others = served_kinds(false);
    others.retain(|kind| *kind != "StorageClass");
    assert_eq!(synced_kinds(&serve), kinds(&others), "{}", serve.tail());
    assert_eq!(
        serve.cluster_metric("stsguard_cluster_synced", "StorageClass"),
        Some(0.0)
    );
    for kind in &others {
        assert_eq!(
            serve.cluster_metric("stsguard_cluster_synced", kind),
            Some(1.0),
            "{kind}"
        );
    }

    let mut object = base_with(&[
        ("/spec/serviceName", json!("absent")),
        (
            "/spec/volumeClaimTemplates/0/spec/storageClassName",
            json!("gold"),
        ),
    ]);
    assert_eq!(
        warned_directly(&serve, "legacy", &object),
        ["service-missing"],
        "the Service watch works, the StorageClass rules say nothing"
    );

    object["metadata"]["namespace"] = json!("legacy");
    let file = write_manifest(&dir.join("validate"), "web.yaml", &[object]);
    let kubeconfig = cluster.kubeconfig().display().to_string();
    let (code, rules, stderr) = validate_json(
        &[
            "--cluster",
            "--kubeconfig",
            &kubeconfig,
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        cannot_list(&stderr),
        unavailable(&[("StorageClass", "not served")]),
        "{stderr}"
    );
    assert!(
        rules.contains(&"service-missing".to_string())
            && !rules.iter().any(|rule| rule.starts_with("storage-class")),
        "{rules:?} {stderr}"
    );
    assert_eq!(code, 0, "{stderr}");
}

//! `deploy/`'s webhook configurations on a real API server while stsguard is down: what the
//! README's "Failure modes" promises. This scenario has an API server of its own, because its
//! configurations select almost every namespace and no stsguard answers them.

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cluster::{Cluster, Tools, eventually};
use crate::manifests::{at, defaulted, statefulset};
use crate::webhook::{MUTATING_WEBHOOK, VALIDATING_WEBHOOK, make_certificates};

/// The label the namespaceSelector of `deploy/` excludes by. The API server sets it on every
/// namespace from 1.21 on; the 1.19 server here does not, so the scenario sets it.
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// stsguard's own namespace in `deploy/base`.
const OWN_NAMESPACE: &str = "stsguard";

/// A loopback port nothing listens on: where stsguard would be, were it running.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `kubectl kustomize deploy/base`, every object as JSON.
pub fn render_base(cluster: &Cluster) -> Vec<Value> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/base");
    let run = cluster.kubectl_ok(&["kustomize", &base.display().to_string()], None);
    stsguard::yaml::parse_stream(&run.stdout)
        .into_iter()
        .filter_map(|document| document.expect("kustomize printed valid YAML").value)
        .collect()
}

/// What the 1.19 server needs changed in the rendered objects (the manifests say they need
/// 1.27); everything that decides admission stays as rendered.
fn adapt_to_1_19(mut object: Value, port: u16, ca_bundle: &str) -> Value {
    match object["kind"].as_str().unwrap_or_default() {
        // policy/v1 is served from 1.21; unhealthyPodEvictionPolicy came in 1.26.
        "PodDisruptionBudget" => {
            object["apiVersion"] = json!("policy/v1beta1");
            if let Some(spec) = object["spec"].as_object_mut() {
                spec.remove("unhealthyPodEvictionPolicy");
            }
        }
        // Topology-spread fields newer than 1.19: minDomains (1.24), matchLabelKeys,
        // nodeAffinityPolicy and nodeTaintsPolicy (1.25). kubectl validates against the
        // server's schema and refuses unknown fields.
        "Deployment" => {
            let constraints = object
                .pointer_mut("/spec/template/spec/topologySpreadConstraints")
                .and_then(Value::as_array_mut);
            for constraint in constraints.into_iter().flatten() {
                let constraint = constraint.as_object_mut().unwrap();
                for newer in [
                    "minDomains",
                    "matchLabelKeys",
                    "nodeAffinityPolicy",
                    "nodeTaintsPolicy",
                ] {
                    constraint.remove(newer);
                }
            }
        }
        // The Service is replaced by a URL on loopback where nothing listens, with a CA; the
        // rules, namespaceSelector, failurePolicy and timeouts stay as rendered.
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
            for webhook in object["webhooks"].as_array_mut().unwrap() {
                let path = at(webhook, "/clientConfig/service/path").clone();
                let path = path.as_str().unwrap();
                webhook["clientConfig"] = json!({
                    "url": format!("https://127.0.0.1:{port}{path}"),
                    "caBundle": ca_bundle,
                });
            }
        }
        _ => {}
    }
    object
}

/// How often the API server logged that the mutating webhook failed open.
fn failed_open(cluster: &Cluster) -> usize {
    let log = std::fs::read_to_string(cluster.apiserver_log()).unwrap_or_default();
    let marker = format!("failing open {MUTATING_WEBHOOK}");
    log.lines().filter(|line| line.contains(&marker)).count()
}

/// With stsguard down and `deploy/`'s configurations in place:
/// - a StatefulSet in `kube-system` and in stsguard's own namespace is admitted: the
///   namespaceSelector keeps them out of both webhooks, so the cluster can be repaired;
/// - one in any other namespace is refused by the validating webhook (`failurePolicy: Fail`),
///   naming it, and nothing is stored; the mutating one was called and failed open;
/// - with the validating configuration removed (the README's way out), it is admitted
///   unmutated: the mutating webhook fails open (`Ignore`).
pub fn deploy_webhooks_keep_the_cluster_recoverable_while_stsguard_is_down(
    tools: &Tools,
    dir: &Path,
) {
    let cluster = Cluster::up(tools, dir).unwrap_or_else(|e| panic!("{e}"));
    let ca_bundle = make_certificates(&dir.join("certs"));
    let port = closed_port();
    let rendered = render_base(&cluster);
    for kind in [
        "Namespace",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        assert!(
            rendered.iter().any(|object| object["kind"] == kind),
            "deploy/base renders no {kind}"
        );
    }
    cluster.apply(
        rendered
            .into_iter()
            .map(|object| adapt_to_1_19(object, port, &ca_bundle))
            .collect(),
    );
    let shop = cluster.namespace("shop", json!({NAMESPACE_NAME_LABEL: "shop"}));
    for name in ["kube-system", OWN_NAMESPACE] {
        cluster
            .existing_namespace(name)
            .label(NAMESPACE_NAME_LABEL, name);
    }

    let web = statefulset("web.yaml");
    let refused_by_validation = format!("failed calling webhook \"{VALIDATING_WEBHOOK}\"");
    // The API server picks up each configuration a moment after it is written, through an
    // informer per kind: wait until both webhooks are called for namespace shop (the
    // validating one refuses, the mutating one is logged failing open).
    let before_active = failed_open(&cluster);
    let active = eventually(Duration::from_secs(20), || {
        let run = shop.dry_run_create(&web);
        (run.stderr.contains(&refused_by_validation) && failed_open(&cluster) > before_active)
            .then_some(())
    });
    if active.is_none() {
        cluster.fail(
            "deploy/'s webhooks never both applied to namespace shop",
            &shop.dry_run_create(&web),
        );
    }

    let before_excluded = failed_open(&cluster);
    for name in ["kube-system", OWN_NAMESPACE] {
        let namespace = cluster.existing_namespace(name);
        namespace.created(std::slice::from_ref(&web));
        assert_eq!(defaulted(&namespace.stored("web")), None);
    }
    assert_eq!(
        failed_open(&cluster),
        before_excluded,
        "the mutating webhook was called for an excluded namespace; {}",
        cluster.context()
    );

    let run = shop.create(std::slice::from_ref(&web));
    assert!(
        !run.ok && run.stderr.contains(&refused_by_validation),
        "{run}\n{}",
        cluster.context()
    );
    shop.assert_absent("web");
    assert!(
        failed_open(&cluster) > before_excluded,
        "the API server did not call the mutating webhook for namespace shop; {}",
        cluster.context()
    );

    let before_removal = failed_open(&cluster);
    cluster.kubectl_ok(
        &["delete", "validatingwebhookconfiguration", "stsguard"],
        None,
    );
    let admitted = eventually(Duration::from_secs(20), || {
        shop.create(std::slice::from_ref(&web)).ok.then_some(())
    });
    if admitted.is_none() {
        cluster.fail(
            "without the validating webhook, namespace shop still refuses a StatefulSet",
            &shop.create(std::slice::from_ref(&web)),
        );
    }
    let stored = shop.stored("web");
    assert_eq!(defaulted(&stored), None, "{stored:#}");
    assert_eq!(at(&stored, "/spec/revisionHistoryLimit"), 10);
    assert!(
        stored.pointer("/spec/template/spec/affinity").is_none(),
        "{stored:#}"
    );
    assert!(
        failed_open(&cluster) > before_removal,
        "the mutating webhook was not called; {}",
        cluster.context()
    );
}

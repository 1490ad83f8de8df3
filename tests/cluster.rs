//! The cluster-aware rules (SPEC §8) give the same verdicts at both doors for the same
//! snapshot of the cluster: the webhook (`/validate` deciding a recorded AdmissionReview) and
//! the CLI (the file it was applied from, judged as `validate --cluster` judges it).
//! `tests/apiserver` shows the same against a real API server; this is the parity, without
//! one.

mod common;

use common::{RECORDED_CREATES, data, default_policy, fixture, statefulsets_in};
use stsguard::engine::cluster::{Inventory, Known};
use stsguard::engine::{self, Context, Finding, KubeVersion, Operation, Source};
use stsguard::server::admission::{self, Outcome, Webhook};

/// `tests/data/cluster/cluster.yaml` as the cluster's inventory.
fn cluster() -> Inventory {
    let text = std::fs::read_to_string(data("cluster/cluster.yaml")).unwrap();
    let objects: Vec<_> = stsguard::yaml::parse_stream(&text)
        .into_iter()
        .filter_map(|document| document.unwrap().value)
        .collect();
    Inventory::from_objects(&objects)
}

/// What `/validate` finds in a recorded review, knowing the cluster.
fn webhook_findings(number: &str, cluster: &Inventory) -> Vec<Finding> {
    let (_, review) = fixture(number);
    let body = serde_json::to_vec(&review).unwrap();
    let review = admission::parse(&body, Webhook::Validate).unwrap();
    let decision = admission::decide_in(
        &default_policy(),
        Webhook::Validate,
        &review.request,
        KubeVersion::LATEST,
        Some(cluster),
    )
    .unwrap();
    match decision.outcome {
        Outcome::Reviewed { review, .. } => review.findings,
        other => panic!("{number}: not reviewed: {other:?}"),
    }
}

/// What the CLI finds in the StatefulSet `name` of a file, knowing the cluster (and nothing
/// of the file's other documents, which the webhook does not see either).
fn file_findings(example: &str, name: &str, cluster: &Inventory) -> Vec<Finding> {
    let object = statefulsets_in(&data(example))
        .into_iter()
        .find(|o| o["metadata"]["name"] == name)
        .unwrap();
    let context = Context {
        source: Source::File,
        namespace: Some("default"),
        defaults: false,
        known: Known::new(None, Some(cluster)),
        ..Context::default()
    };
    engine::review(
        &default_policy(),
        Operation::Create,
        &object,
        None,
        &context,
    )
    .unwrap()
    .findings
}

/// Whether a rule reads the cluster.
fn cluster_rule(rule: &str) -> bool {
    stsguard::cluster::Kind::ALL
        .iter()
        .any(|kind| kind.rules().contains(&rule))
}

#[test]
fn webhook_and_cli_agree_against_the_same_cluster() {
    let cluster = cluster();
    let mut tripped = std::collections::BTreeSet::new();
    for &(number, example, name) in RECORDED_CREATES {
        let from_webhook = webhook_findings(number, &cluster);
        let from_file = file_findings(example, name, &cluster);
        assert_eq!(from_webhook, from_file, "{number} vs {example}");
        tripped.extend(from_webhook.iter().map(|f| f.rule.id()));
    }
    // The comparison means something only if the cluster rules had something to say.
    for rule in [
        "service-missing",
        "service-headless",
        "service-selector",
        "storage-class-missing",
        "node-fit",
    ] {
        assert!(tripped.contains(rule), "{rule} never tripped: {tripped:?}");
    }
}

#[test]
fn the_recorded_reviews_meet_the_cluster_as_expected() {
    let cluster = cluster();
    let rules = |number| -> Vec<(&'static str, String)> {
        webhook_findings(number, &cluster)
            .into_iter()
            .filter(|f| cluster_rule(f.rule.id()))
            .map(|f| (f.rule.id(), f.path))
            .collect()
    };
    // web: its headless Service exists and selects it; the class is the default one.
    assert_eq!(rules("001"), []);
    // cassandra: a Service with a cluster IP selecting other labels, a class that is missing.
    assert_eq!(
        rules("029"),
        [
            ("service-headless", "/spec/serviceName".to_string()),
            ("service-selector", "/spec/serviceName".to_string()),
            (
                "storage-class-missing",
                "/spec/volumeClaimTemplates/0/spec/storageClassName".to_string()
            ),
        ]
    );
    // llm: one GPU per pod, and the GPU node's taint is on the resource it asks for.
    assert_eq!(
        rules("035"),
        [("service-missing", "/spec/serviceName".to_string())]
    );
}

#[test]
fn without_the_cluster_the_cluster_rules_say_nothing() {
    let empty = Inventory::default();
    for number in ["001", "029", "035", "037", "039", "043"] {
        let findings = webhook_findings(number, &empty);
        assert!(
            findings.iter().all(|f| !cluster_rule(f.rule.id())),
            "{number}: {findings:?}"
        );
    }
}

//! The engine against the recorded AdmissionReviews and the seed examples.

mod common;

use common::*;
use stsguard::engine::Severity;

#[test]
fn every_recorded_statefulset_is_evaluated() {
    let policy = default_policy();
    for (name, review) in fixtures() {
        let request = &review["request"];
        if request["kind"]["kind"] != "StatefulSet" || request["object"].is_null() {
            continue;
        }
        let result = review_request_object(&policy, request);
        // Everything but 043/044 was written to be admitted.
        if !name.starts_with("043") && !name.starts_with("044") {
            let errors: Vec<_> = result
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .collect();
            assert!(errors.is_empty(), "{name}: {errors:#?}");
        }
    }
}

#[test]
fn the_unschedulable_warehouse_is_denied_for_all_three_reasons() {
    let policy = default_policy();
    for number in ["043", "044"] {
        let (name, review) = fixture(number);
        let result = review_request_object(&policy, &review["request"]);
        let errors: Vec<&str> = result
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.rule.id())
            .collect();
        for rule in [
            "name-length",
            "volume-mount-unknown",
            "extended-resource-limits",
        ] {
            assert!(
                errors.contains(&rule),
                "{name}: {rule} missing from {errors:?}"
            );
        }
    }
}

#[test]
fn seed_examples_have_no_errors() {
    let policy = default_policy();
    for example in [
        "examples/web.yaml",
        "examples/web-parallel.yaml",
        "examples/cassandra.yaml",
        "examples/mysql.yaml",
        "examples/mysql-as-exported.yaml",
        "examples/gpu-inference.yaml",
        "examples/gpu-mig-and-vgpu.yaml",
    ] {
        for object in statefulsets_in(&data(example)) {
            let review = review_file_object(&policy, &object);
            let errors: Vec<_> = review
                .findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .collect();
            assert!(errors.is_empty(), "{example}: {errors:#?}");
        }
    }
}

#[test]
fn mysql_example_warns_that_its_claim_template_shadows_a_volume() {
    let policy = default_policy();
    let objects = statefulsets_in(&data("examples/mysql.yaml"));
    let review = review_file_object(&policy, &objects[0]);
    assert_eq!(
        summary(&review.findings),
        [(
            "claim-template-shadows-volume".to_string(),
            "warning".to_string(),
            "/spec/template/spec/volumes/3/name".to_string()
        )]
    );
}

/// Parity (SPEC §1): a file, normalised offline, and the same object as the API server sent
/// it (defaulted) give the same findings.
#[test]
fn file_and_recorded_create_request_give_the_same_findings() {
    let policy = default_policy();
    // Every recorded CREATE, against the file it was applied from.
    for &(number, example, name) in RECORDED_CREATES {
        let (fixture_name, review) = fixture(number);
        let from_server = review_request_object(&policy, &review["request"]);
        let object = statefulsets_in(&data(example))
            .into_iter()
            .find(|o| o["metadata"]["name"] == name)
            .unwrap();
        let from_file = review_file_object(&policy, &object);
        assert_eq!(
            from_server.findings, from_file.findings,
            "{fixture_name} vs {example}"
        );
    }
}

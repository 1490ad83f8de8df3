//! Every recorded AdmissionReview through the real server over TLS: echoes, verdicts equal
//! to the engine's (parity), patches that apply, and metrics that count them.

use base64::Engine as _;
use serde_json::Value;
use stsguard::engine::{Finding, Severity};

use crate::common::{default_policy, fixture, fixtures, review_request_object};
use crate::harness::{TestServer, total};

/// Whether the server should hand this request to the engine: StatefulSet CREATE or
/// UPDATE, not a subresource (SPEC §6).
fn reviewed(request: &Value) -> bool {
    request["kind"]["group"] == "apps"
        && request["kind"]["kind"] == "StatefulSet"
        && request["subResource"].as_str().unwrap_or("").is_empty()
        && matches!(request["operation"].as_str(), Some("CREATE" | "UPDATE"))
}

fn endpoint(file: &str) -> &'static str {
    if file.contains("-mutate-") {
        "/mutate"
    } else {
        "/validate"
    }
}

/// `(rule, path)` of each finding listed in a denial message (`- rule at path: …`).
fn denied_findings(response: &Value) -> Vec<(String, String)> {
    let message = response["status"]["message"].as_str().unwrap_or("");
    message
        .lines()
        .filter_map(|line| line.strip_prefix("- "))
        .filter_map(|line| {
            let (rule, rest) = line.split_once(" at ")?;
            let (path, _) = rest.split_once(": ")?;
            Some((rule.to_string(), path.to_string()))
        })
        .collect()
}

fn errors(findings: &[Finding]) -> Vec<(String, String)> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| (f.rule.to_string(), f.path.clone()))
        .collect()
}

fn decoded_patch(response: &Value) -> Option<Value> {
    let patch = response.get("patch")?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(patch)
        .unwrap();
    Some(serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_every_recorded_review_as_the_engine_decides() {
    let server = TestServer::start(&[]).await;
    let policy = default_policy();
    let all = fixtures();
    assert_eq!(all.len(), 48);
    for (file, review) in &all {
        let path = endpoint(file);
        let answer = server.review(path, review).await;
        let request = &review["request"];
        let response = &answer["response"];
        assert_eq!(answer["apiVersion"], review["apiVersion"], "{file}");
        assert_eq!(answer["kind"], "AdmissionReview", "{file}");
        assert_eq!(response["uid"], request["uid"], "{file}");

        if path == "/validate" {
            // The API server fails a validating call that returns a patch.
            assert!(response.get("patch").is_none(), "{file}");
            assert!(response.get("patchType").is_none(), "{file}");
        }
        if !reviewed(request) {
            assert_eq!(
                response,
                &serde_json::json!({"uid": request["uid"], "allowed": true}),
                "{file}: scale, DELETE and other kinds pass untouched"
            );
            continue;
        }

        // Parity: the verdict is the engine's on the same object.
        let expected = review_request_object(&policy, request);
        match path {
            "/validate" => {
                assert_eq!(
                    response["allowed"],
                    !expected.has_errors(),
                    "{file}: {response}"
                );
                assert_eq!(
                    denied_findings(response),
                    errors(&expected.findings),
                    "{file}"
                );
                let warnings = expected
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Warning)
                    .count();
                let listed = response["warnings"].as_array().map_or(0, Vec::len);
                assert_eq!(listed, warnings, "{file}: {response}");
            }
            _ => {
                assert_eq!(response["allowed"], true, "{file}: /mutate never denies");
                assert!(response.get("status").is_none(), "{file}");
                match decoded_patch(response) {
                    Some(patch) => {
                        assert_eq!(response["patchType"], "JSONPatch", "{file}");
                        assert_eq!(patch, serde_json::to_value(&expected.patch).unwrap());
                        assert_eq!(
                            response["auditAnnotations"]["defaulted"],
                            expected.defaulted.join(","),
                            "{file}"
                        );
                    }
                    None => {
                        assert!(expected.patch.is_empty(), "{file}");
                        assert!(response.get("patchType").is_none(), "{file}");
                    }
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denies_the_object_the_api_server_accepted() {
    // 043/044: one object recorded at both webhooks; as a validation it is denied for all
    // three reasons its pods can never be created.
    let server = TestServer::start(&[]).await;
    for number in ["043", "044"] {
        let (_, review) = fixture(number);
        let answer = server.review("/validate", &review).await;
        let response = &answer["response"];
        assert_eq!(response["allowed"], false);
        assert_eq!(response["status"]["code"], 403);
        let rules: Vec<String> = denied_findings(response)
            .into_iter()
            .map(|(rule, _)| rule)
            .collect();
        for rule in [
            "name-length",
            "volume-mount-unknown",
            "extended-resource-limits",
        ] {
            assert!(rules.iter().any(|r| r == rule), "{number}: {rules:?}");
        }
    }
    let (_, review) = fixture("043");
    let answer = server.review("/mutate", &review).await;
    assert_eq!(answer["response"]["allowed"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutate_returns_a_patch_that_applies() {
    let server = TestServer::start(&[]).await;
    let (_, review) = fixture("001");
    let answer = server.review("/mutate", &review).await;
    let patch: json_patch::Patch =
        serde_json::from_value(decoded_patch(&answer["response"]).expect("a patch")).unwrap();
    let mut object = review["request"]["object"].clone();
    json_patch::patch(&mut object, &patch).unwrap();
    assert!(
        object["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"].is_object(),
        "{object}"
    );
    assert_eq!(
        object["metadata"]["annotations"]["stsguard.dev/defaulted"],
        answer["response"]["auditAnnotations"]["defaulted"]
    );

    // Reinvocation (`reinvocationPolicy: IfNeeded`) sends the patched object again: no
    // second patch.
    let mut again = review.clone();
    again["request"]["object"] = object;
    let answer = server.review("/mutate", &again).await;
    assert!(answer["response"].get("patch").is_none(), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_replayed_reviews() {
    let server = TestServer::start(&[]).await;
    let all = fixtures();
    let mut denied = 0.0;
    for (file, review) in &all {
        let answer = server.review(endpoint(file), review).await;
        if answer["response"]["allowed"] == false {
            denied += 1.0;
        }
    }
    let samples = server.metrics().await;
    let requests = "stsguard_admission_requests_total";
    assert_eq!(total(&samples, requests, &[]), all.len() as f64);
    assert_eq!(total(&samples, requests, &[("webhook", "validate")]), 24.0);
    assert_eq!(total(&samples, requests, &[("webhook", "mutate")]), 24.0);
    assert_eq!(total(&samples, requests, &[("result", "denied")]), denied);
    assert!(denied >= 1.0, "044 is denied");
    assert_eq!(total(&samples, requests, &[("operation", "DELETE")]), 6.0);
    assert_eq!(
        total(
            &samples,
            "stsguard_admission_request_duration_seconds_count",
            &[]
        ),
        all.len() as f64
    );
    let findings = "stsguard_findings_total";
    for rule in [
        "name-length",
        "volume-mount-unknown",
        "extended-resource-limits",
    ] {
        assert!(
            total(
                &samples,
                findings,
                &[
                    ("rule", rule),
                    ("severity", "error"),
                    ("suppressed", "false")
                ]
            ) >= 1.0,
            "{rule}"
        );
    }
    assert!(
        total(
            &samples,
            "stsguard_defaults_applied_total",
            &[("default", "podAntiAffinity")]
        ) >= 1.0
    );
    assert!(
        total(
            &samples,
            "stsguard_certificate_expiry_timestamp_seconds",
            &[]
        ) > 1.7e9
    );
    assert_eq!(
        total(&samples, "stsguard_admission_requests_in_flight", &[]),
        0.0
    );
}

//! The admission mapping, driven through the axum Router in-process.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use stsguard::engine::{KubeVersion, Policy};
use stsguard::server::admission::{MAX_WARNING_LEN, MAX_WARNINGS_TOTAL};
use stsguard::server::metrics::Metrics;
use stsguard::server::routes::{AppState, Limits, admission_router, health_router};
use tower::ServiceExt;

use crate::common::{default_policy, fixture, review_request_object};
use crate::harness::edited;

fn state_with(policy: Policy) -> Arc<AppState> {
    Arc::new(AppState::new(
        policy,
        Metrics::new(),
        KubeVersion::LATEST,
        Limits::default(),
    ))
}

fn policy(spec: &str) -> Policy {
    let yaml = format!(
        "apiVersion: stsguard.dev/v1\nkind: StatefulSetPolicy\nmetadata: {{name: test}}\nspec:\n{spec}"
    );
    Policy::from_yaml(&yaml, "test.yaml").unwrap()
}

async fn send(
    state: &Arc<AppState>,
    method: Method,
    path: &str,
    body: impl Into<Body>,
) -> (StatusCode, String, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap();
    let response = admission_router(state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, body.to_vec())
}

/// POSTs a review and returns `response`.
async fn answer(state: &Arc<AppState>, path: &str, review: &Value) -> Value {
    let (status, content_type, body) = send(
        state,
        Method::POST,
        path,
        serde_json::to_vec(review).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(content_type, "application/json");
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(answer["apiVersion"], review["apiVersion"]);
    assert_eq!(answer["response"]["uid"], review["request"]["uid"]);
    answer["response"].clone()
}

#[tokio::test]
async fn keeps_warnings_within_kubernetes_limits() {
    // Sixty claim templates that nothing mounts: sixty claim-template-unused warnings,
    // more than 4096 bytes of them.
    let review = edited("002", |review| {
        let templates = review["request"]["object"]["spec"]["volumeClaimTemplates"]
            .as_array_mut()
            .unwrap();
        let model = templates[0].clone();
        for i in 0..60 {
            let mut unused = model.clone();
            unused["metadata"]["name"] = json!(format!("unused-claim-template-number-{i}"));
            templates.push(unused);
        }
    });
    let expected = review_request_object(&default_policy(), &review["request"]);
    assert!(expected.findings.len() >= 60);
    let response = answer(&state_with(default_policy()), "/validate", &review).await;
    assert_eq!(response["allowed"], true);
    let warnings: Vec<&str> = response["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings
            .iter()
            .all(|w| w.chars().count() <= MAX_WARNING_LEN)
    );
    assert!(warnings.iter().map(|w| w.len()).sum::<usize>() <= MAX_WARNINGS_TOTAL);
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("claim-template-unused: ")),
        "{warnings:?}"
    );
    let last = warnings.last().unwrap();
    assert!(last.contains("more warnings"), "{last}");
}

#[tokio::test]
async fn warn_mode_turns_denials_into_warnings() {
    let (_, review) = fixture("044");
    let state = state_with(policy("  mode: warn\n"));
    let response = answer(&state, "/validate", &review).await;
    assert_eq!(response["allowed"], true);
    assert!(response.get("status").is_none());
    let warnings = response["warnings"].as_array().unwrap();
    for rule in [
        "name-length",
        "volume-mount-unknown",
        "extended-resource-limits",
    ] {
        let prefix = format!("would deny: {rule}: ");
        assert!(
            warnings
                .iter()
                .any(|w| w.as_str().unwrap().starts_with(&prefix)),
            "{rule}: {warnings:?}"
        );
    }

    // Per namespace: enforce elsewhere, warn where the policy says so.
    let state = state_with(policy(
        "  mode: enforce\n  namespaces:\n  - match: [\"default\"]\n    mode: warn\n",
    ));
    assert_eq!(answer(&state, "/validate", &review).await["allowed"], true);
    let elsewhere = edited("044", |review| {
        review["request"]["namespace"] = json!("prod");
        review["request"]["object"]["metadata"]["namespace"] = json!("prod");
    });
    assert_eq!(
        answer(&state, "/validate", &elsewhere).await["allowed"],
        false
    );
}

#[tokio::test]
async fn records_defaults_in_audit_annotations() {
    let (_, review) = fixture("001");
    let expected = review_request_object(&default_policy(), &review["request"]);
    assert!(!expected.defaulted.is_empty());
    let response = answer(&state_with(default_policy()), "/mutate", &review).await;
    assert_eq!(
        response["auditAnnotations"],
        json!({"defaulted": expected.defaulted.join(",")})
    );
    assert_eq!(response["patchType"], "JSONPatch");
    // /validate of the same object records no defaults and returns no patch.
    let response = answer(&state_with(default_policy()), "/validate", &review).await;
    assert!(response.get("auditAnnotations").is_none());
    assert!(response.get("patch").is_none());
}

#[tokio::test]
async fn answers_v1beta1_in_v1beta1() {
    let state = state_with(default_policy());
    for number in ["045", "046", "047", "048"] {
        let (_, review) = fixture(number);
        assert_eq!(review["apiVersion"], "admission.k8s.io/v1beta1");
        let response = answer(&state, "/validate", &review).await;
        assert_eq!(response["allowed"], true);
    }
    // A v1beta1 CREATE is judged like a v1 one.
    let review = edited("044", |review| {
        review["apiVersion"] = json!("admission.k8s.io/v1beta1");
    });
    let response = answer(&state, "/validate", &review).await;
    assert_eq!(response["allowed"], false);
}

#[tokio::test]
async fn allows_other_kinds_untouched() {
    let state = state_with(default_policy());
    let review = edited("044", |review| {
        review["request"]["kind"] = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
        review["request"]["resource"] =
            json!({"group": "apps", "version": "v1", "resource": "deployments"});
    });
    for path in ["/mutate", "/validate"] {
        let response = answer(&state, path, &review).await;
        assert_eq!(
            response,
            json!({"uid": review["request"]["uid"], "allowed": true})
        );
    }
    // The status subresource is the controller's: never judged.
    let review = edited("044", |review| {
        review["request"]["subResource"] = json!("status");
    });
    assert_eq!(answer(&state, "/validate", &review).await["allowed"], true);
}

#[tokio::test]
async fn answers_dry_run_like_any_other_request() {
    let state = state_with(default_policy());
    let (_, dry_mutate) = fixture("031");
    assert_eq!(dry_mutate["request"]["dryRun"], true);
    let expected = review_request_object(&default_policy(), &dry_mutate["request"]);
    assert!(!expected.patch.is_empty());
    let dry = answer(&state, "/mutate", &dry_mutate).await;
    let patch = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        dry["patch"].as_str().unwrap(),
    )
    .unwrap();
    let patch: Value = serde_json::from_slice(&patch).unwrap();
    assert_eq!(patch, serde_json::to_value(&expected.patch).unwrap());
    let review = edited("044", |review| review["request"]["dryRun"] = json!(true));
    assert_eq!(answer(&state, "/validate", &review).await["allowed"], false);
}

#[tokio::test]
async fn denies_an_object_it_cannot_read_but_does_not_block_mutation() {
    let state = state_with(default_policy());
    for object in [Value::Null, json!("a string"), json!([1, 2])] {
        let review = edited("002", |review| review["request"]["object"] = object.clone());
        let response = answer(&state, "/validate", &review).await;
        assert_eq!(response["allowed"], false);
        assert_eq!(response["status"]["code"], 400);
        let message = response["status"]["message"].as_str().unwrap();
        assert!(message.contains("not a JSON object"), "{message}");

        let review = edited("001", |review| review["request"]["object"] = object.clone());
        let response = answer(&state, "/mutate", &review).await;
        assert_eq!(response["allowed"], true);
        assert!(response.get("patch").is_none());
        assert!(
            response["warnings"][0]
                .as_str()
                .unwrap()
                .contains("not a JSON object")
        );
    }
    // No object at all.
    let review = edited("002", |review| {
        review["request"].as_object_mut().unwrap().remove("object");
    });
    assert_eq!(answer(&state, "/validate", &review).await["allowed"], false);
}

#[tokio::test]
async fn refuses_wrong_methods_and_paths() {
    let state = state_with(default_policy());
    let (status, _, _) = send(&state, Method::GET, "/validate", Body::empty()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, _) = send(&state, Method::PUT, "/mutate", Body::empty()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, content_type, _) = send(&state, Method::POST, "/admit", Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(content_type.starts_with("text/plain"));
}

#[tokio::test]
async fn readiness_follows_the_state() {
    let state = state_with(default_policy());
    let get = |path: &'static str| {
        let router = health_router(state.clone());
        async move {
            let request = Request::get(path).body(Body::empty()).unwrap();
            router.oneshot(request).await.unwrap().status()
        }
    };
    assert_eq!(get("/healthz").await, StatusCode::OK);
    assert_eq!(get("/readyz").await, StatusCode::OK);
    state.set_ready(false);
    assert_eq!(get("/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get("/healthz").await, StatusCode::OK);
    assert_eq!(get("/metrics").await, StatusCode::OK);
}

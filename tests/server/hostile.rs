//! Bodies that are not AdmissionReviews, slow bodies and too many requests: each is
//! refused cleanly with a plain-text status, and the server goes on answering.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::fixture;
use crate::harness::{RawRequest, TestServer, total};

fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let (_, review) = fixture("002");
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut review = review.clone();
        edit(&mut review);
        serde_json::to_vec(&review).unwrap()
    };
    let nine_mib = with(&|r| {
        r["request"]["object"]["metadata"]["annotations"] = json!({"padding": "x".repeat(9 << 20)});
    });
    let deep_object = {
        let mut text = serde_json::to_string(&review).unwrap();
        let at = text.find("\"object\":").unwrap() + "\"object\":".len();
        let nested = format!("{}1{},", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        text.insert_str(at, &nested);
        // The original object now follows as a second value of "object": invalid, but
        // the depth is what stops the parser first.
        text.into_bytes()
    };
    let mut invalid_utf8 = serde_json::to_vec(&review).unwrap();
    let name = invalid_utf8
        .windows(6)
        .position(|w| w == b"\"web\",")
        .unwrap();
    invalid_utf8[name + 2] = 0xff;

    let full = serde_json::to_vec(&review).unwrap();
    vec![
        ("empty", Vec::new()),
        ("not JSON", b"this is not JSON".to_vec()),
        ("a JSON array", b"[1, 2, 3]".to_vec()),
        ("an empty object", b"{}".to_vec()),
        ("a JSON string", b"\"AdmissionReview\"".to_vec()),
        (
            "wrong apiVersion",
            with(&|r| r["apiVersion"] = json!("admission.k8s.io/v2")),
        ),
        ("wrong kind", with(&|r| r["kind"] = json!("Pod"))),
        (
            "no request",
            with(&|r| {
                r.as_object_mut().unwrap().remove("request");
            }),
        ),
        ("null request", with(&|r| r["request"] = Value::Null)),
        (
            "no uid",
            with(&|r| {
                r["request"].as_object_mut().unwrap().remove("uid");
            }),
        ),
        (
            "unknown operation",
            with(&|r| r["request"]["operation"] = json!("EXPLODE")),
        ),
        ("truncated", full[..full.len() / 2].to_vec()),
        ("9 MiB", nine_mib),
        (
            "10,000-deep arrays",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
        ),
        ("10,000-deep object", deep_object),
        ("invalid UTF-8", invalid_utf8),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_hostile_bodies_with_a_plain_400_and_keeps_answering() {
    let server = TestServer::start(&[]).await;
    let bodies = hostile_bodies();
    for path in ["/mutate", "/validate"] {
        for (what, body) in &bodies {
            let reply = server.post(path, body.clone()).await;
            assert_eq!(reply.status, 400, "{path} {what}: {}", reply.text());
            assert!(
                reply.content_type().starts_with("text/plain"),
                "{path} {what}: {}",
                reply.content_type()
            );
            let text = reply.text();
            assert!(!text.trim().is_empty(), "{path} {what}: no explanation");
            assert!(
                serde_json::from_slice::<Value>(&reply.body).is_err(),
                "{path} {what}: {text}"
            );
        }
        // Still answering.
        let (_, review) = fixture("044");
        let answer = server.review(path, &review).await;
        assert_eq!(answer["response"]["uid"], review["request"]["uid"]);
    }
    let samples = server.metrics().await;
    assert_eq!(
        total(
            &samples,
            "stsguard_admission_requests_total",
            &[("result", "bad_request")]
        ),
        (2 * bodies.len()) as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explains_why_a_body_was_refused() {
    let server = TestServer::start(&["--max-body-size", "64KiB"]).await;
    let (_, review) = fixture("029"); // 15.6 KB
    let body = serde_json::to_vec(&review).unwrap();
    assert_eq!(server.post("/validate", body.clone()).await.status, 200);
    let mut padded = review.clone();
    padded["request"]["object"]["metadata"]["annotations"]["padding"] = json!("x".repeat(70_000));
    let reply = server
        .post("/validate", serde_json::to_vec(&padded).unwrap())
        .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.text().contains("larger than 65536 bytes"),
        "{}",
        reply.text()
    );
    for (body, words) in [
        (&b"{}"[..], "not an AdmissionReview"),
        (b"nope", "not valid JSON"),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
            "no request",
        ),
        (
            br#"{"apiVersion":"v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE"}}"#,
            "unsupported AdmissionReview apiVersion",
        ),
    ] {
        let reply = server.post("/mutate", body.to_vec()).await;
        assert!(reply.text().contains(words), "{words}: {}", reply.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_requests_over_the_concurrency_cap_at_once() {
    let server = TestServer::start(&["--max-concurrent-requests", "2"]).await;
    let (_, review) = fixture("002");
    let body = serde_json::to_vec(&review).unwrap();
    // Two requests whose bodies are still arriving hold both permits.
    let mut held = Vec::new();
    for _ in 0..2 {
        let request =
            RawRequest::start(&server.client, server.admission(), "/validate", &body, 100)
                .await
                .unwrap();
        held.push(request);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let reply = server.post("/validate", body.clone()).await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(reply.headers.get("retry-after").unwrap(), "1");
    assert!(started.elapsed() < Duration::from_secs(1));
    // The admitted requests still complete.
    for request in held {
        let (status, answer) = request.finish().await.unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["response"]["uid"], review["request"]["uid"]);
    }
    assert_eq!(server.post("/validate", body).await.status, 200);
    let samples = server.metrics().await;
    assert_eq!(
        total(
            &samples,
            "stsguard_admission_requests_total",
            &[("result", "overloaded")]
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gives_up_on_a_body_that_never_arrives() {
    let server = TestServer::start(&["--request-timeout", "300ms"]).await;
    let (_, review) = fixture("002");
    let body = serde_json::to_vec(&review).unwrap();
    let started = Instant::now();
    let request = RawRequest::start(&server.client, server.admission(), "/validate", &body, 10)
        .await
        .unwrap();
    let (status, text) = request.response().await.unwrap();
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&text));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(server.post("/validate", body).await.status, 200);
}

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
async fn refuses_hostile_bodies_with_a_plain_4xx_and_keeps_answering() {
    let server = TestServer::start(&[]).await;
    let bodies = hostile_bodies();
    for path in ["/mutate", "/validate"] {
        for (what, body) in &bodies {
            let reply = server.post(path, body.clone()).await;
            // Over --max-body-size (8 MiB): 413; every other bad body: 400.
            let status = if *what == "9 MiB" { 413 } else { 400 };
            assert_eq!(reply.status, status, "{path} {what}: {}", reply.text());
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
    assert_eq!(reply.status, 413);
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

/// 002 with `edit` applied to its object.
fn review_with(edit: impl FnOnce(&mut Value)) -> Value {
    let (_, mut review) = fixture("002");
    edit(&mut review["request"]["object"]);
    review
}

/// 001 (the /mutate twin of 002) with `edit` applied to its object.
fn mutate_review_with(edit: impl FnOnce(&mut Value)) -> Value {
    let (_, mut review) = fixture("001");
    edit(&mut review["request"]["object"]);
    review
}

/// Both webhooks answer `review`'s object with an AdmissionReview for its uid within the
/// request timeout; returns the /validate answer and the slower of the two times.
async fn answered_by_both(server: &TestServer, edit: impl Fn(&mut Value)) -> (Value, Duration) {
    let mut slowest = Duration::ZERO;
    let mut validated = Value::Null;
    for (path, review) in [
        ("/validate", review_with(&edit)),
        ("/mutate", mutate_review_with(&edit)),
    ] {
        let started = Instant::now();
        let reply = server
            .post(path, serde_json::to_vec(&review).unwrap())
            .await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        let answer = reply.json();
        assert_eq!(
            answer["response"]["uid"], review["request"]["uid"],
            "{path}"
        );
        if path == "/validate" {
            validated = answer;
        }
    }
    (validated, slowest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_quantities_out_of_any_range() {
    let server = TestServer::start(&[]).await;
    for quantity in [
        "1e999999",
        "-1e999999",
        "1e-999999",
        "9".repeat(10_000).as_str(),
        "1E308Ki",
    ] {
        let (answer, _) = answered_by_both(&server, |object| {
            let container = &mut object["spec"]["template"]["spec"]["containers"][0];
            container["resources"] = json!({
                "requests": {"cpu": quantity, "memory": quantity, "nvidia.com/gpu": quantity},
                "limits": {"cpu": quantity, "memory": quantity, "nvidia.com/gpu": quantity},
            });
            object["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] =
                json!(quantity);
        })
        .await;
        // Whatever the verdict, it is an answer with reasons, not a crash or a 500; a
        // negative quantity is never valid.
        if quantity.starts_with('-') {
            assert_eq!(answer["response"]["allowed"], false, "{quantity}");
        }
        if answer["response"]["allowed"] == false {
            assert!(
                answer["response"]["status"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{quantity}: {answer}"
            );
        }
    }
    // As bare JSON numbers they are out of f64's range: not JSON the server can read, a 400.
    for number in ["1e999999", "-1e999999"] {
        let review = review_with(|object| {
            object["spec"]["template"]["spec"]["containers"][0]["resources"] =
                json!({"requests": {"cpu": "NUMBER"}});
        });
        let text = serde_json::to_string(&review)
            .unwrap()
            .replace("\"NUMBER\"", number);
        let reply = server.post("/validate", text).await;
        assert_eq!(reply.status, 400, "{number}: {}", reply.text());
    }
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_10_mb_label_cleanly_and_answers_a_large_allowed_one() {
    let server = TestServer::start(&[]).await;
    // 10 MB: over the 8 MiB default, refused with a 413 and a reason on HTTP/1.1 and on
    // HTTP/2; the HTTP/2 connection carries on.
    let huge = review_with(|object| {
        object["metadata"]["labels"]["huge"] = json!("v".repeat(10_000_000));
    });
    let huge = serde_json::to_vec(&huge).unwrap();
    let reply = server.post("/validate", huge.clone()).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert!(
        reply.text().contains("larger than 8388608 bytes"),
        "{}",
        reply.text()
    );
    let h2 = server.client.h2(server.admission()).await.unwrap();
    let reply = h2.post("/mutate", huge).await.unwrap();
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_eq!(
        h2.post("/validate", serde_json::to_vec(&fixture("044").1).unwrap())
            .await
            .unwrap()
            .status,
        200
    );

    // 6 MB fits: an answer (a label value that long is not valid, so any verdict will do).
    let started = Instant::now();
    let (_, took) = answered_by_both(&server, |object| {
        object["metadata"]["labels"]["large"] = json!("v".repeat(6_000_000));
    })
    .await;
    eprintln!(
        "6 MB label: slowest answer {took:?}, both in {:?}",
        started.elapsed()
    );
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_10000_containers_within_the_request_timeout() {
    let server = TestServer::start(&[]).await;
    let (answer, took) = answered_by_both(&server, |object| {
        let template = object["spec"]["template"]["spec"]["containers"][0].clone();
        let containers: Vec<Value> = (0..10_000)
            .map(|i| {
                let mut container = template.clone();
                container["name"] = json!(format!("c{i}"));
                container["ports"][0]["containerPort"] = json!(10_000 + i);
                container["ports"][0]["name"] = json!(format!("p{i}"));
                container
            })
            .collect();
        object["spec"]["template"]["spec"]["containers"] = Value::Array(containers);
    })
    .await;
    eprintln!("10,000 containers: slowest of /validate and /mutate {took:?}");
    // The default request timeout is 8 s; a 503 would have failed `answered_by_both`.
    assert!(took < Duration::from_secs(8), "{took:?}");
    let warnings = answer["response"]["warnings"]
        .as_array()
        .map_or(0, Vec::len);
    assert!(
        answer["response"]["warnings"]
            .as_array()
            .map_or(0, |w| w.iter().map(|w| w.as_str().unwrap().len()).sum())
            <= 4096,
        "{warnings} warnings"
    );
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_oversized_headers() {
    let server = TestServer::start(&[]).await;
    let (_, review) = fixture("002");
    let body = serde_json::to_vec(&review).unwrap();
    let many: Vec<(String, String)> = (0..120)
        .map(|i| (format!("x-header-{i}"), "v".to_string()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let reply = server
        .client
        .post_with(server.admission(), "/validate", body.clone(), &many)
        .await;
    assert!(
        matches!(&reply, Ok(reply) if reply.status == 431) || reply.is_err(),
        "{reply:?}"
    );
    let long = "v".repeat(1 << 20);
    let reply = server
        .client
        .post_with(server.admission(), "/validate", body, &[("x-long", &long)])
        .await;
    assert!(
        matches!(&reply, Ok(reply) if reply.status == 431) || reply.is_err(),
        "{reply:?}"
    );
    server.assert_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_over_the_cap_gets_fast_503s_and_admitted_requests_finish() {
    let server = TestServer::start(&["--max-concurrent-requests", "4"]).await;
    let (review, body) = {
        let (_, review) = fixture("002");
        let body = serde_json::to_vec(&review).unwrap();
        (review, body)
    };
    // Four requests whose bodies are still arriving hold every permit.
    let started = Instant::now();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            RawRequest::start(&server.client, server.admission(), "/validate", &body, 100)
                .await
                .unwrap(),
        );
    }
    assert!(
        crate::harness::eventually(Duration::from_secs(5), || async {
            server
                .metric("stsguard_admission_requests_in_flight", &[])
                .await
                == 4.0
        })
        .await
        .is_some()
    );

    // 64 over HTTP/1.1 connections and 64 as streams of one HTTP/2 connection, at once.
    let h2 = server.client.h2(server.admission()).await.unwrap();
    let mut flood = Vec::new();
    for i in 0..128 {
        let (client, h2, body, addr) = (
            server.client.clone(),
            h2.clone(),
            body.clone(),
            server.admission(),
        );
        flood.push(tokio::spawn(async move {
            let sent = Instant::now();
            let reply = if i % 2 == 0 {
                client.post(addr, "/validate", body).await
            } else {
                h2.post("/validate", body).await
            };
            (reply, sent.elapsed())
        }));
    }
    for task in flood {
        let (reply, took) = task.await.unwrap();
        let reply = reply.expect("a refused request still gets an answer");
        assert_eq!(reply.status, 503, "{}", reply.text());
        assert_eq!(reply.headers.get("retry-after").unwrap(), "1");
        // Refused without waiting for a permit (a wait would last until the held requests'
        // 8 s deadline); the bound allows for 64 TLS handshakes at once on a loaded machine.
        assert!(took < crate::harness::PROMPTLY, "{took:?}");
    }

    // The admitted ones complete, within their deadline (a late one would be a 503).
    for request in held {
        let (status, answer) = request.finish().await.unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["response"]["uid"], review["request"]["uid"]);
    }
    assert!(started.elapsed() < Duration::from_secs(8));

    // A flood with nothing held: each request is answered or refused, none is lost.
    let mut flood = Vec::new();
    for i in 0..200 {
        let (client, h2, body, addr) = (
            server.client.clone(),
            h2.clone(),
            body.clone(),
            server.admission(),
        );
        flood.push(tokio::spawn(async move {
            if i % 2 == 0 {
                client.post(addr, "/validate", body).await
            } else {
                h2.post("/validate", body).await
            }
        }));
    }
    let mut answered = 0;
    for task in flood {
        let reply = task.await.unwrap().expect("every request gets an answer");
        match reply.status {
            200 => {
                assert_eq!(reply.json()["response"]["uid"], review["request"]["uid"]);
                answered += 1;
            }
            503 => assert_eq!(reply.headers.get("retry-after").unwrap(), "1"),
            other => panic!("{other}: {}", reply.text()),
        }
    }
    assert!(answered > 0);
    assert!(
        crate::harness::eventually(Duration::from_secs(5), || async {
            server
                .metric("stsguard_admission_requests_in_flight", &[])
                .await
                == 0.0
        })
        .await
        .is_some()
    );
    server.assert_serving().await;
}

/// Bodies draw from one shared budget (`--max-buffered-bodies`): a body bigger than the
/// whole budget, or one arriving while others hold it, gets a 503 with Retry-After (an
/// overload, not a bad request), and the budget comes back when a request is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_share_one_memory_budget() {
    let server =
        TestServer::start(&["--max-buffered-bodies", "96KiB", "--max-body-size", "1MiB"]).await;
    let (_, review) = fixture("029");
    let small = serde_json::to_vec_pretty(&review).unwrap(); // 15.6 KB: 16 KiB of budget
    let mut padded = review.clone();
    padded["request"]["object"]["metadata"]["annotations"]["padding"] = json!("x".repeat(80_000));
    let large = serde_json::to_vec(&padded).unwrap(); // 87.4 KB: fits the budget alone
    let mut huge = review.clone();
    huge["request"]["object"]["metadata"]["annotations"]["padding"] = json!("x".repeat(120_000));

    let reply = server
        .post("/validate", serde_json::to_vec(&huge).unwrap())
        .await;
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert_eq!(
        reply.headers.get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert!(
        reply.text().contains("request bytes in flight"),
        "{}",
        reply.text()
    );

    // A slow request declares 87.4 KB and so holds 86 KiB of the budget from its start
    // (declared, so that no probe can race its bytes and refuse it instead); meanwhile a
    // 15.6 KB review does not fit.
    let h2 = server.client.h2(server.admission()).await.unwrap();
    let (tx, body) = crate::harness::trickled_declared(large.len() as u64);
    let slow = tokio::spawn({
        let h2 = h2.clone();
        async move { h2.post_body("/validate", body).await }
    });
    let (head, tail) = large.split_at(85_000);
    tx.send(hyper::body::Bytes::copy_from_slice(head)).unwrap();
    let holding = crate::harness::eventually(Duration::from_secs(10), || async {
        server
            .metric("stsguard_admission_requests_in_flight", &[])
            .await
            == 1.0
    })
    .await;
    assert!(holding.is_some(), "the slow request never arrived");
    let refused = server.post("/validate", small.clone()).await;
    assert_eq!(
        refused.status,
        503,
        "the held budget did not refuse a second body: {}",
        refused.text()
    );

    // Once the slow request is answered its share comes back.
    tx.send(hyper::body::Bytes::copy_from_slice(tail)).unwrap();
    drop(tx);
    let slow = slow.await.unwrap().unwrap();
    assert_eq!(slow.status, 200, "{}", slow.text());
    assert_eq!(server.post("/validate", small.clone()).await.status, 200);
    let overloaded = server
        .metric(
            "stsguard_admission_requests_total",
            &[("webhook", "validate"), ("result", "overloaded")],
        )
        .await;
    assert!(
        overloaded >= 2.0,
        "{overloaded} overloaded requests counted"
    );
    server.assert_serving().await;
}

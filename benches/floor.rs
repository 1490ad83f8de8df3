//! Reference servers for the load test: how fast this machine answers the recorded review
//! without stsguard's work, so that the webhook's figures can be read against them.
//!
//! All use the same TLS configuration as `stsguard serve` (rustls, ring, ALPN h2 and
//! http/1.1) on axum + hyper and read the whole body:
//!
//! - `canned`: answers one fixed AdmissionReview — the floor set by TLS and HTTP;
//! - `value`: first parses the body into a generic `serde_json::Value` and drops it;
//! - `typed`: what a plain typed webhook does, as the kube-rs admission example does it:
//!   the body into kube's `AdmissionReview<DynamicObject>`, a response for its request, a
//!   JSON Patch adding one label when the object lacks it, the review serialised back.
//!
//! `benches/load.sh` runs them (`bash benches/load.sh 10 canned`); by hand:
//! `<binary> serve canned 127.0.0.1:18443`. Without `serve` (as `cargo bench` runs it) it
//! prints its usage and exits.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use json_patch::{AddOperation, Patch, PatchOperation, jsonptr};
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use kube::core::{DynamicObject, ResourceExt};
use stsguard::server::tls;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ANSWER: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"00000000-0000-0000-0000-000000000000","allowed":true}}"#;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (work, addr) = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve", "canned", addr] => (Work::Canned, addr),
        ["serve", "value", addr] => (Work::Value, addr),
        ["serve", "typed", addr] => (Work::Typed, addr),
        _ => {
            println!("usage: floor serve canned|value|typed ADDR   (used by benches/load.sh)");
            return Ok(());
        }
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(serve(work, addr))
}

/// What a reference server does with the body.
#[derive(Clone, Copy)]
enum Work {
    Canned,
    Value,
    Typed,
}

/// The label the typed server adds, as the kube-rs example's mutation does.
const LABEL: &str = "admission";

/// The typed webhook's answer; the fixed one when the body is not a review (a bad body is
/// not what this server measures).
fn typed_answer(body: &[u8]) -> Vec<u8> {
    let Ok(review) = serde_json::from_slice::<AdmissionReview<DynamicObject>>(body) else {
        return ANSWER.into();
    };
    let Ok(request): Result<AdmissionRequest<DynamicObject>, _> = review.try_into() else {
        return ANSWER.into();
    };
    let mut response = AdmissionResponse::from(&request);
    if let Some(object) = &request.object
        && !object.labels().contains_key(LABEL)
    {
        let mut operations = Vec::new();
        if object.metadata.labels.is_none() {
            operations.push(PatchOperation::Add(AddOperation {
                path: jsonptr::PointerBuf::parse("/metadata/labels").unwrap_or_default(),
                value: serde_json::json!({}),
            }));
        }
        operations.push(PatchOperation::Add(AddOperation {
            path: jsonptr::PointerBuf::from_tokens(["metadata", "labels", LABEL]),
            value: serde_json::Value::String("true".into()),
        }));
        response = match response.clone().with_patch(Patch(operations)) {
            Ok(patched) => patched,
            Err(_) => response,
        };
    }
    serde_json::to_vec(&response.into_review()).unwrap_or_else(|_| ANSWER.into())
}

async fn serve(work: Work, addr: SocketAddr) -> Result<(), String> {
    let pki = tls::generate_ephemeral(&["127.0.0.1"], 1).map_err(|e| e.to_string())?;
    let pair = tls::load_pair(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes())
        .map_err(|e| e.to_string())?;
    let resolver = Arc::new(tls::CertResolver::new(pair.key));
    let config = tls::server_config(resolver, None).map_err(|e| e.to_string())?;
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let answer = move |body: Bytes| async move {
        let answer: Vec<u8> = match work {
            Work::Canned => ANSWER.into(),
            Work::Value => {
                // A bad body is not this server's concern: it measures the parse.
                std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&body).ok());
                ANSWER.into()
            }
            Work::Typed => typed_answer(&body),
        };
        ([(CONTENT_TYPE, "application/json")], answer)
    };
    let app = Router::new()
        .route("/validate", post(answer))
        .route("/mutate", post(answer));
    let listener = TcpListener::bind(addr).await.map_err(|e| e.to_string())?;
    println!("listening on {addr}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            let service = TowerToHyperService::new(app);
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

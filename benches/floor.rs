//! Reference servers for the load test: how fast this machine answers the recorded review
//! without stsguard's work, so that the webhook's figures can be read against them.
//!
//! Both use the same TLS configuration as `stsguard serve` (rustls, ring, ALPN h2 and
//! http/1.1) on axum + hyper, read the whole body, and answer one fixed AdmissionReview:
//!
//! - `canned`: nothing else — the floor set by TLS and HTTP;
//! - `value`: first parses the body into a generic `serde_json::Value` and drops it.
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
use stsguard::server::tls;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ANSWER: &str = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"00000000-0000-0000-0000-000000000000","allowed":true}}"#;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (parse, addr) = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve", "canned", addr] => (false, addr),
        ["serve", "value", addr] => (true, addr),
        _ => {
            println!("usage: floor serve canned|value ADDR   (used by benches/load.sh)");
            return Ok(());
        }
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(serve(parse, addr))
}

async fn serve(parse: bool, addr: SocketAddr) -> Result<(), String> {
    let pki = tls::generate_ephemeral(&["127.0.0.1"], 1).map_err(|e| e.to_string())?;
    let pair = tls::load_pair(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes())
        .map_err(|e| e.to_string())?;
    let resolver = Arc::new(tls::CertResolver::new(pair.key));
    let config = tls::server_config(resolver, None).map_err(|e| e.to_string())?;
    let acceptor = TlsAcceptor::from(Arc::new(config));

    let answer = move |body: Bytes| async move {
        if parse {
            // A bad body is not this server's concern: it measures the parse.
            std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&body).ok());
        }
        ([(CONTENT_TYPE, "application/json")], ANSWER)
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

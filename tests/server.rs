//! `stsguard serve`: the webhook server over real TLS on 127.0.0.1, its routers in-process,
//! hostile input, certificate and policy reloads, shutdown and metrics.

mod common;

#[path = "server/harness.rs"]
mod harness;
#[path = "server/hostile.rs"]
mod hostile;
#[path = "server/lifecycle.rs"]
mod lifecycle;
#[path = "server/limits.rs"]
mod limits;
#[path = "server/reload.rs"]
mod reload;
#[path = "server/replay.rs"]
mod replay;
#[path = "server/router.rs"]
mod router;
#[path = "server/security.rs"]
mod security;

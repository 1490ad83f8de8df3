//! stsguard: an admission webhook and offline validator for Kubernetes StatefulSets.
//!
//! One pure policy engine ([`engine::review`]) behind three doors: the mutating and validating
//! webhooks (`server`) and the offline CLI ([`cli`]). The doors only translate input and output;
//! every verdict is the engine's.

pub mod cli;
pub mod cluster;
pub mod engine;
pub mod pki;
pub mod server;
pub mod yaml;

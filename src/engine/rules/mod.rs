//! The validation rules of SPEC §3, one file per family. Each family exposes
//! `check(sts, cx, out)`, which pushes findings at their catalog severity; the engine then
//! applies the policy's levels, suppression and ratcheting.

pub mod catalog;
pub mod gpu;
pub mod names;
pub mod schema;
pub mod services;
pub mod spec;
pub mod update;
pub mod volumes;

use serde_json::Value;

use super::finding::Finding;
use super::policy::{Policy, Settings};
use super::view::StatefulSet;
use super::KubeVersion;

/// What a rule may read besides the object itself.
pub struct Cx<'a> {
    pub policy: &'a Policy,
    /// The policy as resolved for the object's namespace.
    pub settings: &'a Settings,
    /// The namespace the object lives in (its own, the request's, or `--namespace`).
    pub namespace: &'a str,
    pub kube_version: KubeVersion,
    /// `--strict`: unknown fields are errors.
    pub strict: bool,
    /// Services from the same input (offline only), for the cross-document rules.
    pub services: &'a [Value],
    /// The previous version of the object, on UPDATE.
    pub old: Option<StatefulSet<'a>>,
}

/// Runs every rule family over one StatefulSet.
pub fn check_all(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    spec::check_api_version(sts, cx, out);
    schema::check(sts, cx, out);
    names::check(sts, cx, out);
    volumes::check(sts, cx, out);
    gpu::check(sts, cx, out);
    spec::check(sts, cx, out);
    services::check(sts, cx, out);
    update::check(sts, cx, out);
}

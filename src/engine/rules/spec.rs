//! Rules: spec sanity (SPEC §3).

use crate::engine::finding::Finding;
use crate::engine::rules::Cx;
use crate::engine::view::StatefulSet;

/// Runs this family's rules.
pub fn check(_sts: &StatefulSet<'_>, _cx: &Cx<'_>, _out: &mut Vec<Finding>) {}

/// `api-version`: apps/v1beta1 and apps/v1beta2 were removed in Kubernetes 1.16.
pub fn check_api_version(_sts: &StatefulSet<'_>, _cx: &Cx<'_>, _out: &mut Vec<Finding>) {}

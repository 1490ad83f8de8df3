//! Rules: volumes (SPEC §3).

use crate::engine::finding::Finding;
use crate::engine::rules::Cx;
use crate::engine::view::StatefulSet;

/// Runs this family's rules.
pub fn check(_sts: &StatefulSet<'_>, _cx: &Cx<'_>, _out: &mut Vec<Finding>) {}

//! Default `podAntiAffinity` (`/spec/template/spec/affinity/podAntiAffinity`): spread the
//! replicas of a StatefulSet over topology domains (nodes by default), so that one node
//! failure does not take down a quorum.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PodAffinityTerm, PodAntiAffinity, WeightedPodAffinityTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use super::{Cx, Set, replicas, restore};
use crate::engine::policy::AntiAffinityType;
use crate::engine::view::at;

pub const NAME: &str = "podAntiAffinity";
const PATH: &[&str] = &["spec", "template", "spec", "affinity", "podAntiAffinity"];

fn unset(value: Option<&Value>) -> bool {
    value.is_none_or(Value::is_null)
}

pub fn create(cx: &Cx<'_>) -> Vec<Set> {
    let Some(policy) = &cx.defaults.pod_anti_affinity else {
        return Vec::new();
    };
    if policy.kind == AntiAffinityType::None
        || cx.keeps(NAME)
        || !unset(at(cx.object, PATH))
        || (replicas(cx.object) <= 1 && !policy.single_replica)
    {
        return Vec::new();
    }
    // The term selects the StatefulSet's own pods through its selector's matchLabels.
    let match_labels: BTreeMap<String, String> =
        at(cx.object, &["spec", "selector", "matchLabels"])
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
    if match_labels.is_empty() {
        return Vec::new();
    }
    let term = PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_labels: Some(match_labels),
            match_expressions: None,
        }),
        topology_key: policy.topology_key.clone(),
        ..PodAffinityTerm::default()
    };
    let anti_affinity = match policy.kind {
        AntiAffinityType::Required => PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![term]),
            ..PodAntiAffinity::default()
        },
        _ => PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    pod_affinity_term: term,
                    weight: policy.weight,
                },
            ]),
            ..PodAntiAffinity::default()
        },
    };
    match serde_json::to_value(anti_affinity) {
        Ok(value) => vec![Set::new(NAME, PATH, value)],
        Err(_) => Vec::new(),
    }
}

/// A change under `spec.template` restarts every pod: only a term stsguard added before and a
/// replace dropped is put back, so that the replace does not trigger a rollout.
pub fn update(cx: &Cx<'_>) -> Vec<Set> {
    restore(cx, NAME, PATH, unset)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use serde_json::json;

    fn preferred() -> crate::engine::policy::Defaults {
        defaults(json!({"podAntiAffinity": {"type": "preferred"}}))
    }

    #[test]
    fn adds_a_preferred_term_on_the_selector_labels() {
        let mutation = create(&preferred(), &web());
        assert_eq!(
            ops(&mutation),
            json!([
                {"op": "add", "path": "/spec/template/spec/affinity", "value": {}},
                {"op": "add", "path": "/spec/template/spec/affinity/podAntiAffinity", "value": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {
                            "labelSelector": {"matchLabels": {"app": "nginx"}},
                            "topologyKey": "kubernetes.io/hostname"
                        }
                    }]
                }},
                {"op": "add", "path": "/metadata/annotations", "value": {}},
                {"op": "add", "path": "/metadata/annotations/stsguard.dev~1defaulted", "value": "podAntiAffinity"},
            ])
        );
    }

    #[test]
    fn adds_a_required_term_when_the_policy_says_so() {
        let defaults = defaults(
            json!({"podAntiAffinity": {"type": "required", "topologyKey": "topology.kubernetes.io/zone"}}),
        );
        let mutation = create(&defaults, &web());
        let term = &mutation.object["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            [0];
        assert_eq!(term["topologyKey"], "topology.kubernetes.io/zone");
    }

    #[test]
    fn keeps_an_existing_anti_affinity() {
        let mut object = web();
        object["spec"]["template"]["spec"]["affinity"] = json!({"podAntiAffinity": {}});
        assert!(create(&preferred(), &object).patch.0.is_empty());
    }

    #[test]
    fn skips_a_single_replica_unless_the_policy_says_otherwise() {
        let mut object = web();
        object["spec"]["replicas"] = json!(1);
        assert!(create(&preferred(), &object).patch.0.is_empty());
        let single =
            defaults(json!({"podAntiAffinity": {"type": "preferred", "singleReplica": true}}));
        assert_eq!(create(&single, &object).defaulted, ["podAntiAffinity"]);
    }

    #[test]
    fn update_of_a_legacy_object_leaves_the_template_alone() {
        let mut new = web();
        new["spec"]["replicas"] = json!(5);
        let mutation = update(&preferred(), &new, &web());
        assert!(mutation.patch.0.is_empty());
        assert_eq!(
            mutation.object["spec"]["template"],
            web()["spec"]["template"]
        );
    }

    #[test]
    fn update_restores_the_term_a_replace_dropped() {
        let old = create(&preferred(), &web()).object;
        let mutation = update(&preferred(), &web(), &old);
        assert_eq!(
            mutation.object["spec"]["template"], old["spec"]["template"],
            "no template change, so no rollout"
        );
        assert_eq!(mutation.defaulted, ["podAntiAffinity"]);
    }
}

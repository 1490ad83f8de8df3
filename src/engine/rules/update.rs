//! Rules for updates (webhook UPDATE, or `validate --old FILE`).
//!
//! The API server lets an update change only some of a StatefulSet's spec and refuses the
//! rest with one opaque message ("updates to statefulset spec for fields other than
//! 'replicas', 'ordinals', 'template', 'updateStrategy', ... are forbidden"). We name the
//! field and give the remedy that keeps the data.

use crate::engine::catalog::RuleId;
use crate::engine::doc::{Doc, Members};

use crate::engine::finding::Finding;
use crate::engine::rules::Cx;
use crate::engine::view::StatefulSet;

/// The spec fields an update may change.
const MUTABLE: &[&str] = &[
    "replicas",
    "template",
    "updateStrategy",
    "ordinals",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
    "revisionHistoryLimit",
];

/// Runs this family's rules.
pub fn check(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let Some(old) = cx.old else {
        return;
    };
    let (Some(new_spec), Some(old_spec)) = (sts.spec.as_object(), old.spec.as_object()) else {
        return;
    };
    let name = sts.name().unwrap_or("NAME");
    let mut fields: Vec<&str> = new_spec.keys().chain(old_spec.keys()).collect();
    fields.sort();
    fields.dedup();
    for field in fields {
        if MUTABLE.contains(&field) {
            continue;
        }
        let (new, old) = (new_spec.get(field), old_spec.get(field));
        let changed = if field == "volumeClaimTemplates" {
            claim_templates_differ(new, old)
        } else {
            pruned(new) != pruned(old)
        };
        if changed {
            out.push(Finding::new(
                RuleId::ImmutableField,
                changed_path(field, new, old),
                format!(
                    "spec.{field} cannot be changed after creation: the API server rejects this \
                     update (\"updates to statefulset spec for fields other than ... are forbidden\")"
                ),
                format!(
                    "keep spec.{field} as it was, or replace the StatefulSet without touching its \
                     pods and volumes: `kubectl delete statefulset {name} --cascade=orphan`, then \
                     apply the new manifest (pods and PVCs are kept and adopted)"
                ),
            ));
        }
    }
}

/// A value without its empty parts (`null`, `""`, `[]`, `{}`), which the API server's
/// semantic comparison (`apiequality.Semantic.DeepEqual`) treats like missing fields: a
/// manifest with `matchExpressions: []` does not change a selector without them.
fn pruned<'a>(value: Option<&Doc<'a>>) -> Option<Doc<'a>> {
    fn prune<'a>(value: &Doc<'a>) -> Option<Doc<'a>> {
        match value {
            Doc::Null => None,
            Doc::String(s) if s.is_empty() => None,
            Doc::Array(items) => {
                let items: Vec<Doc<'a>> = items
                    .iter()
                    .map(|v| prune(v).unwrap_or(Doc::Null))
                    .collect();
                (!items.is_empty()).then_some(Doc::Array(items))
            }
            Doc::Object(map) => {
                let map: Members<'a> = map
                    .entries()
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), prune(v)?)))
                    .collect();
                (!map.is_empty()).then_some(Doc::Object(map))
            }
            other => Some(other.clone()),
        }
    }
    value.and_then(prune)
}

/// Points at the first claim template that differs when the list kept its length.
fn changed_path(field: &str, new: Option<&Doc<'_>>, old: Option<&Doc<'_>>) -> String {
    if field == "volumeClaimTemplates"
        && let (Some(Doc::Array(new)), Some(Doc::Array(old))) = (new, old)
        && new.len() == old.len()
        && let Some(index) = (0..new.len()).find(|&i| comparable(&new[i]) != comparable(&old[i]))
    {
        return format!("/spec/volumeClaimTemplates/{index}");
    }
    format!("/spec/{field}")
}

fn claim_templates_differ(new: Option<&Doc<'_>>, old: Option<&Doc<'_>>) -> bool {
    fn list<'a>(v: Option<&Doc<'a>>) -> Option<Doc<'a>> {
        let claims = v
            .and_then(Doc::as_array)
            .map(|claims| claims.iter().map(comparable).collect())
            .unwrap_or_default();
        pruned(Some(&Doc::Array(claims)))
    }
    list(new) != list(old)
}

/// A claim template without what the API server adds or a `kubectl get -o yaml` export
/// carries (`status`, `kind`, `apiVersion`, `creationTimestamp`), so that comparing a
/// manifest with an exported object does not report changes nobody made.
fn comparable<'a>(claim: &Doc<'a>) -> Doc<'a> {
    let Some(map) = claim.as_object() else {
        return claim.clone();
    };
    let map: Members<'a> = map
        .entries()
        .iter()
        .filter(|(key, _)| !matches!(key.as_ref(), "status" | "kind" | "apiVersion"))
        .filter_map(|(key, value)| match value {
            Doc::Object(metadata) if key == "metadata" => {
                let metadata: Members<'a> = metadata
                    .entries()
                    .iter()
                    .filter(|(key, _)| key != "creationTimestamp")
                    .cloned()
                    .collect();
                (!metadata.is_empty()).then(|| (key.clone(), Doc::Object(metadata)))
            }
            _ => Some((key.clone(), value.clone())),
        })
        .collect();
    Doc::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::KubeVersion;
    use crate::engine::rules::testing::{self, hits};
    use serde_json::{Value, json};

    fn run(new: &Value, old: &Value) -> Vec<Finding> {
        testing::run_with(
            check,
            new,
            &testing::policy(json!({})),
            Some(old),
            KubeVersion::LATEST,
        )
    }

    #[test]
    fn accepts_changes_to_mutable_fields() {
        let old = testing::web();
        let mut new = testing::web();
        new["spec"]["replicas"] = json!(5);
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        new["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        new["spec"]["revisionHistoryLimit"] = json!(3);
        assert_eq!(run(&new, &old), []);
    }

    #[test]
    fn rejects_a_changed_claim_template_naming_it() {
        let old = testing::web();
        let mut new = testing::web();
        new["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] =
            json!("5Gi");
        let findings = run(&new, &old);
        assert_eq!(
            hits(&findings),
            [("immutable-field", "/spec/volumeClaimTemplates/0")]
        );
        assert!(findings[0].hint.contains("--cascade=orphan"));
    }

    #[test]
    fn rejects_changes_of_selector_service_name_and_pod_management_policy() {
        let old = testing::web();
        let mut new = testing::web();
        new["spec"]["serviceName"] = json!("other");
        new["spec"]["podManagementPolicy"] = json!("Parallel");
        new["spec"]["selector"]["matchLabels"]["tier"] = json!("db");
        assert_eq!(
            hits(&run(&new, &old)),
            [
                ("immutable-field", "/spec/podManagementPolicy"),
                ("immutable-field", "/spec/selector"),
                ("immutable-field", "/spec/serviceName"),
            ]
        );
    }

    #[test]
    fn ignores_what_an_export_adds_to_claim_templates() {
        let mut old = testing::web();
        old["spec"]["volumeClaimTemplates"][0]["status"] = json!({"phase": "Pending"});
        old["spec"]["volumeClaimTemplates"][0]["kind"] = json!("PersistentVolumeClaim");
        old["spec"]["volumeClaimTemplates"][0]["metadata"]["creationTimestamp"] = Value::Null;
        assert_eq!(run(&testing::web(), &old), []);
    }

    #[test]
    fn empty_lists_and_missing_fields_are_the_same() {
        let old = testing::web();
        let mut new = testing::web();
        new["spec"]["selector"]["matchExpressions"] = json!([]);
        new["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"] = json!({});
        assert_eq!(run(&new, &old), []);
    }

    #[test]
    fn says_nothing_without_an_old_object() {
        let mut new = testing::web();
        new["spec"]["serviceName"] = json!("other");
        assert_eq!(testing::run(check, &new), []);
    }
}

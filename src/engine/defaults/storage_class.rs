//! Default `storageClassName` (`/spec/volumeClaimTemplates/N/spec/storageClassName`).
//!
//! Pinning the class at creation matters: claim templates are immutable, and a claim without
//! a class gets the cluster's default class *when the PVC is created* — at scale-up, maybe
//! years later, after the default changed. Replicas of one database would then sit on
//! different storage classes.

use serde_json::{Value, json};

use super::{Cx, Set};
use crate::engine::view::{at, get, list, str_of};

pub const NAME: &str = "storageClassName";

fn claims(object: &Value) -> &[Value] {
    get(object, "spec").map_or(&[], |spec| list(spec, "volumeClaimTemplates"))
}

/// An explicit `""` is a choice (bind only to PVs without a class) and is kept.
fn class_unset(claim: &Value) -> bool {
    at(claim, &["spec", "storageClassName"]).is_none_or(Value::is_null)
}

pub fn create(cx: &Cx<'_>) -> Vec<Set> {
    let Some(class) = &cx.defaults.storage_class_name else {
        return Vec::new();
    };
    if cx.keeps(NAME) {
        return Vec::new();
    }
    claims_without_class(cx.object)
        .map(|(index, _)| set_class(index, class))
        .collect()
}

/// The claim templates (with their index) that name no class.
fn claims_without_class(object: &Value) -> impl Iterator<Item = (usize, &Value)> {
    claims(object)
        .iter()
        .enumerate()
        .filter(|(_, claim)| claim.is_object() && class_unset(claim))
}

fn set_class(index: usize, class: &str) -> Set {
    let index = index.to_string();
    Set::new(
        NAME,
        &[
            "spec",
            "volumeClaimTemplates",
            &index,
            "spec",
            "storageClassName",
        ],
        json!(class),
    )
}

/// Claim templates are immutable, so the only class an update can carry is the old one:
/// a replace that dropped it gets it back (matched by claim name), whoever set it.
pub fn update(cx: &Cx<'_>) -> Vec<Set> {
    let Some(old) = cx.old else {
        return Vec::new();
    };
    let old_claims = claims(old);
    claims_without_class(cx.object)
        .filter_map(|(index, claim)| {
            let name = at(claim, &["metadata", "name"])?.as_str()?;
            let old_claim = old_claims
                .iter()
                .find(|c| at(*c, &["metadata", "name"]).and_then(Value::as_str) == Some(name))?;
            let class = get(old_claim, "spec").and_then(|s| str_of(s, "storageClassName"))?;
            Some(set_class(index, class))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use serde_json::json;

    #[test]
    fn fills_claim_templates_without_a_class() {
        let mutation = create(&defaults(json!({"storageClassName": "standard"})), &web());
        assert_eq!(
            ops(&mutation)[0],
            json!({"op": "add", "path": "/spec/volumeClaimTemplates/0/spec/storageClassName", "value": "standard"})
        );
        assert_eq!(mutation.defaulted, ["storageClassName"]);
    }

    #[test]
    fn keeps_a_chosen_class_even_an_empty_one() {
        let defaults = defaults(json!({"storageClassName": "standard"}));
        for class in ["fast", ""] {
            let mut object = web();
            object["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] = json!(class);
            assert!(create(&defaults, &object).patch.0.is_empty(), "{class:?}");
        }
    }

    #[test]
    fn no_policy_class_means_no_change() {
        assert!(create(&defaults(json!({})), &web()).patch.0.is_empty());
    }

    #[test]
    fn update_restores_a_class_a_replace_dropped() {
        let defaults = defaults(json!({"storageClassName": "standard"}));
        let old = create(&defaults, &web()).object;
        let mutation = update(&defaults, &web(), &old);
        assert_eq!(
            mutation.object["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
            "standard"
        );
    }

    #[test]
    fn update_introduces_no_class_the_old_claim_lacked() {
        let defaults = defaults(json!({"storageClassName": "standard"}));
        let mut new = web();
        new["spec"]["replicas"] = json!(3);
        assert!(update(&defaults, &new, &web()).patch.0.is_empty());
    }
}

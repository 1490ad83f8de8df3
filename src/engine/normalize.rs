//! The apps/v1 API defaults (`SetDefaults_StatefulSet`) applied to offline input, so that a
//! file and the same object as the API server sends it give the same findings (SPEC §1).

use serde_json::{Map, Value, json};

/// Returns `object` with the defaults the API server would apply on create.
pub fn apply(object: &Value) -> Value {
    let mut object = object.clone();
    apply_in_place(&mut object);
    object
}

/// Applies the defaults in place. Only fields that are missing are filled; a field of the
/// wrong type is left for the `schema` rule to report.
pub fn apply_in_place(object: &mut Value) {
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    spec.entry("replicas").or_insert(json!(1));
    spec.entry("podManagementPolicy")
        .or_insert(json!("OrderedReady"));
    spec.entry("revisionHistoryLimit").or_insert(json!(10));
    if let Some(strategy) = spec
        .entry("updateStrategy")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
    {
        // The partition is only defaulted together with an empty type: a user who wrote
        // `type: RollingUpdate` without rollingUpdate gets no rollingUpdate from the API
        // server either.
        if strategy.get("type").is_none_or(|t| t.as_str() == Some("")) {
            strategy.insert("type".into(), json!("RollingUpdate"));
            strategy
                .entry("rollingUpdate")
                .or_insert_with(|| json!({"partition": 0}));
        }
        if strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
            && let Some(rolling) = strategy
                .get_mut("rollingUpdate")
                .and_then(Value::as_object_mut)
        {
            rolling.entry("partition").or_insert(json!(0));
        }
    }
    if let Some(claims) = spec
        .get_mut("volumeClaimTemplates")
        .and_then(Value::as_array_mut)
    {
        for claim in claims {
            if let Some(claim_spec) = claim.get_mut("spec").and_then(Value::as_object_mut) {
                claim_spec
                    .entry("volumeMode")
                    .or_insert(json!("Filesystem"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_the_api_server_defaults() {
        let object = json!({"spec": {"volumeClaimTemplates": [{"spec": {}}]}});
        assert_eq!(
            apply(&object),
            json!({"spec": {
                "replicas": 1,
                "podManagementPolicy": "OrderedReady",
                "revisionHistoryLimit": 10,
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                "volumeClaimTemplates": [{"spec": {"volumeMode": "Filesystem"}}]
            }})
        );
    }

    #[test]
    fn keeps_what_the_user_wrote() {
        let object = json!({"spec": {
            "replicas": 3,
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "OnDelete"},
            "volumeClaimTemplates": [{"spec": {"volumeMode": "Block"}}]
        }});
        let normalized = apply(&object);
        assert_eq!(normalized["spec"]["replicas"], 3);
        assert_eq!(
            normalized["spec"]["updateStrategy"],
            json!({"type": "OnDelete"})
        );
        assert_eq!(
            normalized["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Block"
        );
    }

    #[test]
    fn leaves_wrong_types_alone() {
        let object = json!({"spec": {"updateStrategy": "RollingUpdate"}});
        assert_eq!(apply(&object)["spec"]["updateStrategy"], "RollingUpdate");
        assert_eq!(apply(&json!({"spec": 5})), json!({"spec": 5}));
    }
}

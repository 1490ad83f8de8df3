//! The apps/v1 API defaults (`SetDefaults_StatefulSet`) applied to offline input, so that a
//! file and the same object as the API server sends it give the same findings (SPEC §1).

use std::borrow::Cow;

use serde_json::Value;

use super::doc::{Doc, Members};

/// Returns `object` with the defaults the API server would apply on create.
pub fn apply(object: &Value) -> Value {
    let mut doc = Doc::from(object);
    apply_doc(&mut doc);
    doc.to_value()
}

/// Applies the defaults to a [`Doc`] (the engine reviews files so, without copying the
/// `Value` first). Only fields that are missing are filled; a field of the wrong type is left
/// for the `schema` rule to report.
pub fn apply_doc(object: &mut Doc<'_>) {
    let Some(spec) = object.get_mut("spec").and_then(Doc::as_object_mut) else {
        return;
    };
    spec.or_insert("replicas", || Doc::Number(1.into()));
    spec.or_insert("podManagementPolicy", || text("OrderedReady"));
    spec.or_insert("revisionHistoryLimit", || Doc::Number(10.into()));
    if let Some(strategy) = spec
        .or_insert("updateStrategy", || Doc::Object(Members::default()))
        .as_object_mut()
    {
        // The partition is only defaulted together with an empty type: a user who wrote
        // `type: RollingUpdate` without rollingUpdate gets no rollingUpdate from the API
        // server either.
        if strategy.get("type").is_none_or(|t| t.as_str() == Some("")) {
            strategy.insert("type", text("RollingUpdate"));
            strategy.or_insert("rollingUpdate", || {
                let mut rolling = Members::default();
                rolling.insert("partition", Doc::Number(0.into()));
                Doc::Object(rolling)
            });
        }
        if strategy.get("type").and_then(Doc::as_str) == Some("RollingUpdate")
            && let Some(rolling) = strategy
                .get_mut("rollingUpdate")
                .and_then(Doc::as_object_mut)
        {
            rolling.or_insert("partition", || Doc::Number(0.into()));
        }
    }
    if let Some(claims) = spec
        .get_mut("volumeClaimTemplates")
        .and_then(Doc::as_array_mut)
    {
        for claim in claims {
            if let Some(claim_spec) = claim.get_mut("spec").and_then(Doc::as_object_mut) {
                claim_spec.or_insert("volumeMode", || text("Filesystem"));
            }
        }
    }
}

fn text(value: &'static str) -> Doc<'static> {
    Doc::String(Cow::Borrowed(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

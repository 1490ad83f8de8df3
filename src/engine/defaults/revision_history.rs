//! Default `revisionHistoryLimit` (`/spec/revisionHistoryLimit`): unset or the built-in 10
//! gets the policy's value. Each kept revision is a ControllerRevision holding a full copy
//! of the pod template.

use serde_json::{Value, json};

use super::{Cx, Set, restore};
use crate::engine::view::at;

pub const NAME: &str = "revisionHistoryLimit";
const PATH: &[&str] = &["spec", "revisionHistoryLimit"];
const BUILTIN: i64 = 10;

fn unset(value: Option<&Value>) -> bool {
    value.is_none_or(|v| v.is_null() || v.as_i64() == Some(BUILTIN))
}

pub fn create(cx: &Cx<'_>) -> Vec<Set> {
    match cx.defaults.revision_history_limit {
        Some(limit)
            if i64::from(limit) != BUILTIN && !cx.keeps(NAME) && unset(at(cx.object, PATH)) =>
        {
            vec![Set::new(NAME, PATH, json!(limit))]
        }
        _ => Vec::new(),
    }
}

pub fn update(cx: &Cx<'_>) -> Vec<Set> {
    restore(cx, NAME, PATH, unset)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use serde_json::json;

    #[test]
    fn sets_the_limit_when_unset_or_builtin() {
        let defaults = defaults(json!({"revisionHistoryLimit": 5}));
        assert_eq!(
            create(&defaults, &web()).object["spec"]["revisionHistoryLimit"],
            5
        );
        let mut builtin = web();
        builtin["spec"]["revisionHistoryLimit"] = json!(10);
        let mutation = create(&defaults, &builtin);
        assert_eq!(
            ops(&mutation)[0],
            json!({"op": "replace", "path": "/spec/revisionHistoryLimit", "value": 5})
        );
    }

    #[test]
    fn keeps_a_user_value_and_the_keep_annotation() {
        let defaults = defaults(json!({"revisionHistoryLimit": 5}));
        let mut object = web();
        object["spec"]["revisionHistoryLimit"] = json!(3);
        assert!(create(&defaults, &object).patch.0.is_empty());
        let kept = annotated(web(), "stsguard.dev/keep", "revisionHistoryLimit");
        assert!(create(&defaults, &kept).patch.0.is_empty());
    }

    #[test]
    fn update_restores_the_defaulted_limit_after_a_replace() {
        let defaults = defaults(json!({"revisionHistoryLimit": 5}));
        let old = create(&defaults, &web()).object;
        assert_eq!(
            update(&defaults, &web(), &old).object["spec"]["revisionHistoryLimit"],
            5
        );
    }

    #[test]
    fn update_of_a_legacy_object_changes_nothing() {
        let defaults = defaults(json!({"revisionHistoryLimit": 5}));
        let mut new = web();
        new["spec"]["replicas"] = json!(4);
        assert!(update(&defaults, &new, &web()).patch.0.is_empty());
    }
}

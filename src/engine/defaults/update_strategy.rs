//! Defaults `updateStrategy` (`/spec/updateStrategy/type`) and `partition`
//! (`/spec/updateStrategy/rollingUpdate/partition`).
//!
//! The partition is the canary control: pods with an ordinal at or above it take a template
//! change, the others stay. Users move it by hand during a rollout, so stsguard sets it only
//! where it holds the built-in 0, and never on UPDATE unless it restores its own value.

use serde_json::{Value, json};

use super::{Cx, Set, restore};
use crate::engine::policy::UpdateStrategyType;
use crate::engine::view::{at, get, member};

pub const UPDATE_STRATEGY: &str = "updateStrategy";
pub const PARTITION: &str = "partition";

const STRATEGY: &[&str] = &["spec", "updateStrategy"];
const PARTITION_PATH: &[&str] = &["spec", "updateStrategy", "rollingUpdate", "partition"];

/// Whether a strategy is the built-in one: RollingUpdate with nothing but partition 0.
fn is_builtin_strategy(strategy: Option<&Value>) -> bool {
    let Some(strategy) = strategy else {
        return true;
    };
    let Some(map) = strategy.as_object() else {
        return strategy.is_null();
    };
    let type_ok = member(map, "type").is_none_or(|t| {
        t.as_str()
            .is_some_and(|t| t.is_empty() || t == "RollingUpdate")
    });
    let rolling_ok = member(map, "rollingUpdate").is_none_or(|rolling| {
        rolling.is_null()
            || rolling.as_object().is_some_and(|r| {
                r.iter().all(|(key, value)| {
                    key == "partition" && (value.is_null() || value.as_i64() == Some(0))
                })
            })
    });
    type_ok && rolling_ok && map.keys().all(|k| k == "type" || k == "rollingUpdate")
}

fn partition_unset(partition: Option<&Value>) -> bool {
    partition.is_none_or(|p| p.is_null() || p.as_i64() == Some(0))
}

fn is_rolling_update(object: &Value) -> bool {
    get(object, "spec")
        .and_then(|s| get(s, "updateStrategy"))
        .and_then(|s| get(s, "type"))
        .and_then(Value::as_str)
        .is_none_or(|t| t.is_empty() || t == "RollingUpdate")
}

pub fn create(cx: &Cx<'_>) -> Vec<Set> {
    let mut sets = Vec::new();
    let mut on_delete = !is_rolling_update(cx.object);
    // Only OnDelete differs from the built-in: setting RollingUpdate over the built-in
    // RollingUpdate would change nothing.
    if cx.defaults.update_strategy == Some(UpdateStrategyType::OnDelete)
        && !cx.keeps(UPDATE_STRATEGY)
        && is_builtin_strategy(at(cx.object, STRATEGY))
    {
        // The whole strategy is replaced: OnDelete with a rollingUpdate block (which the API
        // server adds as {partition: 0}) is invalid, and a patch never removes.
        sets.push(Set::new(
            UPDATE_STRATEGY,
            STRATEGY,
            json!({"type": "OnDelete"}),
        ));
        on_delete = true;
    }
    if let Some(partition) = cx.defaults.partition
        && partition != 0
        && !on_delete
        && !cx.keeps(PARTITION)
        && partition_unset(at(cx.object, PARTITION_PATH))
    {
        sets.push(Set::new(PARTITION, PARTITION_PATH, json!(partition)));
    }
    sets
}

pub fn update(cx: &Cx<'_>) -> Vec<Set> {
    let mut sets = restore(cx, UPDATE_STRATEGY, STRATEGY, is_builtin_strategy);
    if sets.is_empty() && is_rolling_update(cx.object) {
        sets = restore(cx, PARTITION, PARTITION_PATH, partition_unset);
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use serde_json::json;

    #[test]
    fn sets_the_partition_over_the_builtin_zero_on_create() {
        let defaults = defaults(json!({"partition": 1}));
        let mutation = create(&defaults, &web());
        assert_eq!(
            mutation.object["spec"]["updateStrategy"]["rollingUpdate"]["partition"],
            1
        );
        assert_eq!(mutation.defaulted, ["partition"]);
        let mut builtin = web();
        builtin["spec"]["updateStrategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}});
        assert_eq!(create(&defaults, &builtin).defaulted, ["partition"]);
    }

    #[test]
    fn keeps_a_partition_the_user_chose() {
        let mut object = web();
        object["spec"]["updateStrategy"] = json!({"rollingUpdate": {"partition": 3}});
        let mutation = create(&defaults(json!({"partition": 1})), &object);
        assert!(mutation.patch.0.is_empty(), "{:?}", mutation.patch);
    }

    #[test]
    fn keep_annotation_opts_out_of_the_partition() {
        let object = annotated(
            web(),
            "stsguard.dev/keep",
            "revisionHistoryLimit, partition",
        );
        assert!(
            create(&defaults(json!({"partition": 1})), &object)
                .patch
                .0
                .is_empty()
        );
        let object = annotated(web(), "stsguard.dev/keep", "*");
        assert!(
            create(&defaults(json!({"partition": 1})), &object)
                .patch
                .0
                .is_empty()
        );
    }

    #[test]
    fn sets_on_delete_replacing_the_builtin_strategy() {
        let mutation = create(
            &defaults(json!({"updateStrategy": "OnDelete", "partition": 2})),
            &web(),
        );
        assert_eq!(
            mutation.object["spec"]["updateStrategy"],
            json!({"type": "OnDelete"})
        );
        assert_eq!(mutation.defaulted, ["updateStrategy"]);
        assert!(!ops(&mutation).to_string().contains("remove"));
    }

    #[test]
    fn never_changes_a_chosen_on_delete_or_rolling_update_details() {
        let mut object = web();
        object["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        let defaults_ = defaults(json!({"updateStrategy": "RollingUpdate", "partition": 2}));
        assert!(create(&defaults_, &object).patch.0.is_empty());
        object["spec"]["updateStrategy"] =
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}});
        let on_delete = defaults(json!({"updateStrategy": "OnDelete"}));
        assert!(create(&on_delete, &object).patch.0.is_empty());
    }

    #[test]
    fn rolling_update_policy_over_the_builtin_changes_nothing() {
        let mutation = create(
            &defaults(json!({"updateStrategy": "RollingUpdate", "partition": 0})),
            &web(),
        );
        assert!(mutation.patch.0.is_empty());
    }

    #[test]
    fn update_restores_a_partition_a_replace_dropped() {
        let defaults = defaults(json!({"partition": 1}));
        let old = create(&defaults, &web()).object;
        let mutation = update(&defaults, &web(), &old);
        assert_eq!(
            mutation.object["spec"]["updateStrategy"]["rollingUpdate"]["partition"],
            1
        );
        assert_eq!(mutation.defaulted, ["partition"]);
    }

    #[test]
    fn update_keeps_a_partition_the_user_moved_on_the_live_object() {
        let defaults = defaults(json!({"partition": 1}));
        let old = create(&defaults, &web()).object;
        let mut new = old.clone();
        new["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = json!(0);
        assert!(update(&defaults, &new, &old).patch.0.is_empty());
    }

    #[test]
    fn update_introduces_no_partition_the_old_object_lacked() {
        let defaults = defaults(json!({"partition": 1}));
        let mut new = web();
        new["spec"]["replicas"] = json!(5);
        assert!(update(&defaults, &new, &web()).patch.0.is_empty());
    }

    #[test]
    fn update_restores_on_delete() {
        let defaults = defaults(json!({"updateStrategy": "OnDelete"}));
        let old = create(&defaults, &web()).object;
        let mutation = update(&defaults, &web(), &old);
        assert_eq!(
            mutation.object["spec"]["updateStrategy"],
            json!({"type": "OnDelete"})
        );
    }
}

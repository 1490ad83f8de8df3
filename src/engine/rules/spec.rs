//! Rules: spec sanity (SPEC §3).
//!
//! The API server checks most of these itself (`ValidateStatefulSetSpec`); catching them
//! offline saves a round trip and says what to change, where the API server answers with
//! one terse line per field. `api-version` runs separately, before everything else.

use crate::engine::catalog::RuleId;
use crate::engine::doc::{Doc, Members};

use crate::engine::finding::Finding;
use crate::engine::rules::Cx;
use crate::engine::view::{StatefulSet, at, escape_token, get, int_of, list, str_of};

/// Runs this family's rules.
pub fn check(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    if !readable(sts.spec) {
        return; // `spec` of the wrong type: the `schema` rule reports it.
    }
    selector_selects_the_template(sts, out);
    update_strategy_is_valid(sts, out);
    partition_leaves_pods_to_update(sts, out);
    pod_management_policy_is_known(sts, out);
    counts_are_not_negative(sts, out);
    pods_restart_in_place(sts, out);
    termination_grace_within_bounds(sts, cx, out);
    dns_config_is_valid(sts, cx, out);
}

/// `api-version`: apps/v1beta1 and apps/v1beta2 were removed in Kubernetes 1.16.
pub fn check_api_version(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let Some(version @ ("apps/v1beta1" | "apps/v1beta2")) = str_of(sts.object, "apiVersion") else {
        return;
    };
    // v1beta1 is the one whose defaults differ from apps/v1: it filled spec.selector from
    // the template labels and defaulted updateStrategy to OnDelete, so a plain apiVersion
    // change both fails (no selector) and starts rolling updates the user never had.
    let differences = if version == "apps/v1beta1" {
        " apps/v1 requires spec.selector, which apps/v1beta1 defaulted from the template \
         labels, and defaults updateStrategy to RollingUpdate where apps/v1beta1 defaulted it \
         to OnDelete."
    } else {
        " apps/v1 has the same fields as apps/v1beta2."
    };
    let hint = if version == "apps/v1beta1" {
        "change apiVersion to apps/v1, add spec.selector.matchLabels equal to the template \
         labels, and set spec.updateStrategy.type: OnDelete if you relied on the old default"
    } else {
        "change apiVersion to apps/v1"
    };
    let finding = if cx.kube_version.at_least(1, 16) {
        Finding::new(
            RuleId::ApiVersion,
            "/apiVersion",
            format!(
                "apiVersion {version} was removed in Kubernetes 1.16: the API server no longer \
                 serves it and refuses the object.{differences}"
            ),
            hint,
        )
    } else {
        Finding::new(
            RuleId::ApiVersion,
            "/apiVersion",
            format!(
                "apiVersion {version} is deprecated and removed in Kubernetes 1.16 (this \
                 cluster is {}): the object stops applying after an upgrade.{differences}",
                cx.kube_version
            ),
            hint,
        )
        .warning()
    };
    out.push(finding);
}

/// A field that is an object or absent; anything else is the `schema` rule's business.
fn readable(value: &Doc<'_>) -> bool {
    value.is_object() || value.is_null()
}

// ---------------------------------------------------------------------------------------
// selector

/// `selector`: apps/v1 requires a non-empty selector that selects the template's own pods
/// ("selector does not match template labels"); an empty one would select every pod in the
/// namespace.
fn selector_selects_the_template(sts: &StatefulSet<'_>, out: &mut Vec<Finding>) {
    let selector = match get(sts.spec, "selector") {
        None | Some(Doc::Null) => {
            out.push(Finding::new(
                RuleId::Selector,
                "/spec/selector",
                "spec.selector is missing: apps/v1 requires it (apps/v1beta1 used to default it \
                 from the template labels), so the API server refuses the object",
                "add spec.selector.matchLabels with the labels of spec.template.metadata.labels \
                 that identify these pods (the selector cannot be changed later)",
            ));
            return;
        }
        Some(selector) if selector.is_object() => selector,
        Some(_) => return,
    };
    let match_labels = get(selector, "matchLabels").and_then(Doc::as_object);
    let expressions = list(selector, "matchExpressions");
    let well_typed = get(selector, "matchLabels").is_none_or(readable)
        && get(selector, "matchExpressions").is_none_or(|e| e.is_array() || e.is_null());
    if well_typed && match_labels.map_or(0, Members::len) + expressions.len() == 0 {
        out.push(Finding::new(
            RuleId::Selector,
            "/spec/selector",
            "spec.selector is empty: it would select every pod in the namespace, so the API \
             server refuses it (empty selector is invalid for statefulset)",
            "add spec.selector.matchLabels with the labels of spec.template.metadata.labels \
             that identify these pods",
        ));
        return;
    }
    // Missing labels are no labels; labels of the wrong type cannot be matched against.
    let empty = Members::default();
    let labels = match at(sts.template, &["metadata", "labels"]) {
        None | Some(Doc::Null) => Some(&empty),
        Some(labels) => labels.as_object(),
    };
    if let (Some(match_labels), Some(labels)) = (match_labels, labels) {
        match_labels_match(match_labels, labels, out);
    }
    for (index, expression) in expressions.iter().enumerate() {
        if expression.is_object() {
            expression_matches(expression, index, labels, out);
        }
    }
}

fn match_labels_match(match_labels: &Members<'_>, labels: &Members<'_>, out: &mut Vec<Finding>) {
    for (key, wanted) in match_labels.iter() {
        let Some(wanted) = wanted.as_str() else {
            continue;
        };
        let actual = labels.get(key).and_then(Doc::as_str);
        if actual == Some(wanted) {
            continue;
        }
        let found = match actual {
            Some(actual) => format!("the pod template has {key}={actual}"),
            None => format!("the pod template has no label {key:?}"),
        };
        out.push(Finding::new(
            RuleId::Selector,
            format!("/spec/selector/matchLabels/{}", escape_token(key)),
            format!(
                "spec.selector requires {key}={wanted}, but {found}: the selector does not \
                 select the StatefulSet's own pods, so the API server refuses the object \
                 (selector does not match template labels)"
            ),
            format!(
                "set `{key}: {wanted}` in spec.template.metadata.labels, or change the selector \
                 (it cannot be changed after creation)"
            ),
        ));
    }
}

/// One `matchExpressions` entry: a known operator, values as the operator needs them, and
/// a requirement the template's labels satisfy.
fn expression_matches(
    expression: &Doc<'_>,
    index: usize,
    labels: Option<&Members<'_>>,
    out: &mut Vec<Finding>,
) {
    let path = format!("/spec/selector/matchExpressions/{index}");
    let Some(key) = str_of(expression, "key") else {
        if get(expression, "key").is_none() {
            out.push(Finding::new(
                RuleId::Selector,
                format!("{path}/key"),
                format!(
                    "spec.selector.matchExpressions[{index}] has no key: the API server refuses \
                     the object"
                ),
                "set key to the label the expression tests",
            ));
        }
        return;
    };
    let Some(operator) = str_of(expression, "operator") else {
        if get(expression, "operator").is_none() {
            out.push(Finding::new(
                RuleId::Selector,
                format!("{path}/operator"),
                format!(
                    "spec.selector.matchExpressions[{index}] ({key}) has no operator: the API \
                     server refuses the object"
                ),
                "set operator to In, NotIn, Exists or DoesNotExist",
            ));
        }
        return;
    };
    if get(expression, "values").is_some_and(|v| !v.is_array() && !v.is_null()) {
        return;
    }
    let values: Vec<&str> = list(expression, "values")
        .iter()
        .filter_map(Doc::as_str)
        .collect();
    let wants_values = match operator {
        "In" | "NotIn" => true,
        "Exists" | "DoesNotExist" => false,
        _ => {
            out.push(Finding::new(
                RuleId::Selector,
                format!("{path}/operator"),
                format!(
                    "operator {operator:?} of spec.selector.matchExpressions[{index}] is not In, \
                     NotIn, Exists or DoesNotExist (case-sensitive): the API server refuses the \
                     object"
                ),
                "set operator to In, NotIn, Exists or DoesNotExist",
            ));
            return;
        }
    };
    let has_values = !list(expression, "values").is_empty();
    if wants_values != has_values {
        let problem = if wants_values {
            "needs at least one value"
        } else {
            "takes no values"
        };
        out.push(Finding::new(
            RuleId::Selector,
            format!("{path}/values"),
            format!(
                "spec.selector.matchExpressions[{index}] ({key} {operator}) {problem}: the API \
                 server refuses the object"
            ),
            if wants_values {
                "list the label values the expression accepts in values"
            } else {
                "remove values from the expression"
            },
        ));
        return;
    }
    let Some(labels) = labels else {
        return;
    };
    let actual = labels.get(key).and_then(Doc::as_str);
    let selected = match operator {
        "In" => actual.is_some_and(|a| values.contains(&a)),
        "NotIn" => actual.is_none_or(|a| !values.contains(&a)),
        "Exists" => actual.is_some(),
        _ => actual.is_none(),
    };
    if selected {
        return;
    }
    let found = match actual {
        Some(actual) => format!("the pod template has {key}={actual}"),
        None => format!("the pod template has no label {key:?}"),
    };
    let requirement = if wants_values {
        format!("{key} {operator} [{}]", values.join(", "))
    } else {
        format!("{key} {operator}")
    };
    out.push(Finding::new(
        RuleId::Selector,
        path,
        format!(
            "spec.selector requires {requirement}, but {found}: the selector does not select \
             the StatefulSet's own pods, so the API server refuses the object (selector does \
             not match template labels)"
        ),
        format!(
            "change spec.template.metadata.labels so that {requirement} holds, or change the \
             selector (it cannot be changed after creation)"
        ),
    ));
}

// ---------------------------------------------------------------------------------------
// update-strategy, partition-exceeds-replicas

/// `update-strategy`: what `ValidateStatefulSetUpdateStrategy` checks.
fn update_strategy_is_valid(sts: &StatefulSet<'_>, out: &mut Vec<Finding>) {
    let Some(strategy) = get(sts.spec, "updateStrategy").filter(|s| s.is_object()) else {
        return; // normalised when missing; wrong types are the `schema` rule's
    };
    let rolling = get(strategy, "rollingUpdate").filter(|r| !r.is_null());
    match str_of(strategy, "type") {
        None | Some("RollingUpdate") => {}
        Some("OnDelete") => {
            if rolling.is_some() {
                out.push(Finding::new(
                    RuleId::UpdateStrategy,
                    "/spec/updateStrategy/rollingUpdate",
                    "spec.updateStrategy.rollingUpdate is set with type OnDelete: the API server \
                     refuses it (only allowed for updateStrategy 'RollingUpdate'); with OnDelete \
                     pods change only when you delete them, so a partition means nothing",
                    "remove spec.updateStrategy.rollingUpdate, or set type: RollingUpdate",
                ));
            }
            return;
        }
        Some(other) => {
            out.push(Finding::new(
                RuleId::UpdateStrategy,
                "/spec/updateStrategy/type",
                format!(
                    "spec.updateStrategy.type {other:?} is neither RollingUpdate nor OnDelete \
                     (case-sensitive): the API server refuses the object"
                ),
                "set spec.updateStrategy.type to RollingUpdate or OnDelete",
            ));
            return;
        }
    }
    let Some(rolling) = rolling.filter(|r| r.is_object()) else {
        return;
    };
    if let Some(partition) = int_of(rolling, "partition").filter(|&p| p < 0) {
        out.push(Finding::new(
            RuleId::UpdateStrategy,
            "/spec/updateStrategy/rollingUpdate/partition",
            format!("partition {partition} is negative: the API server refuses the object"),
            "set partition to 0 to update every pod, or to the lowest ordinal to update",
        ));
    }
    if let Some(max_unavailable) = get(rolling, "maxUnavailable")
        && let Some(problem) = max_unavailable_problem(max_unavailable)
    {
        out.push(Finding::new(
            RuleId::UpdateStrategy,
            "/spec/updateStrategy/rollingUpdate/maxUnavailable",
            format!(
                "maxUnavailable {max_unavailable} {problem}: the API server refuses the object"
            ),
            "set maxUnavailable to a whole number of at least 1, or a percentage from 1% to \
             100% (e.g. \"25%\"), or remove it (1)",
        ));
    }
}

/// Why `maxUnavailable` (an int-or-string) is invalid, if it is. Other types are the
/// `schema` rule's.
fn max_unavailable_problem(value: &Doc<'_>) -> Option<&'static str> {
    match value {
        Doc::Number(n) => match n.as_i64() {
            Some(n) if n >= 1 => None,
            Some(_) => Some("is less than 1: no pod could ever be updated"),
            None => Some("is not a whole number"),
        },
        Doc::String(s) => {
            let Some(digits) = s
                .strip_suffix('%')
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            else {
                return Some("is not a number or a percentage like \"25%\"");
            };
            match digits.parse::<u64>() {
                Ok(1..=100) => None,
                Ok(0) => Some("is 0%: no pod could ever be updated"),
                _ => Some("is more than 100%"),
            }
        }
        _ => None,
    }
}

/// `partition-exceeds-replicas`: pods with an ordinal ≥ partition take a template change.
/// Partition = start + replicas (the usual way to pause a rollout) updates nothing yet and
/// is fine; anything higher is most likely a stale value from an earlier, larger scale.
fn partition_leaves_pods_to_update(sts: &StatefulSet<'_>, out: &mut Vec<Finding>) {
    let Some(strategy) = get(sts.spec, "updateStrategy") else {
        return;
    };
    if str_of(strategy, "type").is_some_and(|t| t != "RollingUpdate") {
        return;
    }
    let Some(partition) =
        get(strategy, "rollingUpdate").and_then(|rolling| int_of(rolling, "partition"))
    else {
        return;
    };
    let Some(replicas) = int_of(sts.spec, "replicas").filter(|&r| r >= 0) else {
        return;
    };
    let start = sts.ordinal_start().max(0);
    let end = i128::from(start) + i128::from(replicas);
    if i128::from(partition) <= end {
        return;
    }
    let ordinals = if start == 0 {
        format!("{replicas} replicas")
    } else {
        format!("ordinals.start {start} + {replicas} replicas = {end}")
    };
    out.push(Finding::new(
        RuleId::PartitionExceedsReplicas,
        "/spec/updateStrategy/rollingUpdate/partition",
        format!(
            "partition {partition} is greater than {ordinals}: only pods with an ordinal of at \
             least {partition} take a template change and there are none, so no pod will \
             receive one, including pods added by a later scale-up below that ordinal"
        ),
        format!(
            "lower partition to {end} to hold the rollout, then step it down to roll out; 0 \
             updates every pod"
        ),
    ));
}

// ---------------------------------------------------------------------------------------
// pod-management-policy, replicas

/// `pod-management-policy`: the API server knows only these two, case-sensitively.
fn pod_management_policy_is_known(sts: &StatefulSet<'_>, out: &mut Vec<Finding>) {
    let Some(policy) = str_of(sts.spec, "podManagementPolicy") else {
        return;
    };
    if matches!(policy, "OrderedReady" | "Parallel" | "") {
        return; // "" is defaulted to OrderedReady
    }
    let hint = match policy.to_ascii_lowercase().as_str() {
        "orderedready" => "write \"OrderedReady\"".to_string(),
        "parallel" => "write \"Parallel\"".to_string(),
        _ => "set podManagementPolicy to OrderedReady (one pod at a time, in order) or \
              Parallel (all at once)"
            .to_string(),
    };
    out.push(Finding::new(
        RuleId::PodManagementPolicy,
        "/spec/podManagementPolicy",
        format!(
            "podManagementPolicy {policy:?} is neither OrderedReady nor Parallel \
             (case-sensitive): the API server refuses the object"
        ),
        hint,
    ));
}

/// `replicas`: counts the API server requires to be non-negative.
fn counts_are_not_negative(sts: &StatefulSet<'_>, out: &mut Vec<Finding>) {
    let ordinals = get(sts.spec, "ordinals").unwrap_or(Doc::null());
    let counts = [
        (sts.spec, "replicas", "spec.replicas", "the number of pods"),
        (
            sts.spec,
            "revisionHistoryLimit",
            "spec.revisionHistoryLimit",
            "how many old ControllerRevisions to keep",
        ),
        (
            sts.spec,
            "minReadySeconds",
            "spec.minReadySeconds",
            "how long a pod must be ready before it counts as available",
        ),
        (
            ordinals,
            "start",
            "spec.ordinals.start",
            "the ordinal of the first pod",
        ),
    ];
    for (parent, field, dotted, meaning) in counts {
        if let Some(value) = int_of(parent, field).filter(|&v| v < 0) {
            out.push(Finding::new(
                RuleId::Replicas,
                format!("/{}", dotted.replace('.', "/")),
                format!(
                    "{dotted} is {value}, but it is {meaning} and cannot be negative: the API \
                     server refuses the object"
                ),
                format!("set {dotted} to 0 or more"),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// restart-policy, termination-grace, dns-config

/// `restart-policy`: the controller keeps every ordinal running, so its pods must restart
/// in place and must never be ended by a deadline; the API server refuses anything else.
fn pods_restart_in_place(sts: &StatefulSet<'_>, out: &mut Vec<Finding>) {
    if let Some(policy) =
        str_of(sts.pod, "restartPolicy").filter(|p| !p.is_empty() && *p != "Always")
    {
        out.push(Finding::new(
            RuleId::RestartPolicy,
            "/spec/template/spec/restartPolicy",
            format!(
                "restartPolicy {policy:?}: a StatefulSet keeps every pod running, so only Always \
                 is allowed and the API server refuses the object (Unsupported value)"
            ),
            "remove restartPolicy (it defaults to Always); a pod that should run to \
             completion belongs in a Job",
        ));
    }
    if let Some(deadline) = get(sts.pod, "activeDeadlineSeconds").filter(|d| !d.is_null()) {
        out.push(Finding::new(
            RuleId::RestartPolicy,
            "/spec/template/spec/activeDeadlineSeconds",
            format!(
                "activeDeadlineSeconds is {deadline}: it would end every pod after that time, \
                 so the API server refuses it for StatefulSets (activeDeadlineSeconds in \
                 StatefulSet is not Supported)"
            ),
            "remove activeDeadlineSeconds from the pod template",
        ));
    }
}

/// The API server defaults `terminationGracePeriodSeconds` to 30 in pod templates; judging
/// an unset field as 30 keeps files and admitted objects in agreement.
const DEFAULT_TERMINATION_GRACE: i64 = 30;

/// `termination-grace`: too short, and a database is killed before it flushes; too long,
/// and one hung pod holds an ordered rollout or scale-down for that long.
fn termination_grace_within_bounds(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let (grace, shown) = match get(sts.pod, "terminationGracePeriodSeconds") {
        None | Some(Doc::Null) => (
            DEFAULT_TERMINATION_GRACE,
            format!("is unset, which means the API default of {DEFAULT_TERMINATION_GRACE} s, and"),
        ),
        Some(value) => match value.as_i64() {
            Some(grace) => (grace, format!("{grace}")),
            None => return,
        },
    };
    let bounds = cx.settings.termination_grace;
    let problem = if grace < bounds.min {
        format!(
            "is below the policy's minimum of {} s: pods are killed {grace} s after SIGTERM, \
             possibly before they shut down cleanly",
            bounds.min
        )
    } else if grace > bounds.max {
        format!(
            "is above the policy's maximum of {} s: one pod that hangs on shutdown holds a \
             rollout, scale-down or node drain for that long",
            bounds.max
        )
    } else {
        return;
    };
    out.push(Finding::new(
        RuleId::TerminationGrace,
        "/spec/template/spec/terminationGracePeriodSeconds",
        format!("terminationGracePeriodSeconds {shown} {problem}"),
        format!(
            "set spec.template.spec.terminationGracePeriodSeconds between {} and {}",
            bounds.min, bounds.max
        ),
    ));
}

/// Nameservers a pod's resolv.conf may list (glibc's MAXNS).
const MAX_NAMESERVERS: usize = 3;

/// `dns-config`: the kubelet writes the pod's resolv.conf from these fields, and the API
/// server refuses configurations it cannot write.
fn dns_config_is_valid(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let config = get(sts.pod, "dnsConfig").filter(|c| !c.is_null());
    if config.is_some_and(|c| !c.is_object()) {
        return;
    }
    if config.is_some_and(|c| get(c, "nameservers").is_some_and(|n| !n.is_array() && !n.is_null()))
    {
        return;
    }
    let nameservers = config.map_or(&[][..], |c| list(c, "nameservers"));
    if str_of(sts.pod, "dnsPolicy") == Some("None") && nameservers.is_empty() {
        let path = if config.is_some() {
            "/spec/template/spec/dnsConfig/nameservers"
        } else {
            "/spec/template/spec/dnsConfig"
        };
        out.push(Finding::new(
            RuleId::DnsConfig,
            path,
            "dnsPolicy is None but dnsConfig lists no nameserver: the pod would have no DNS \
             server at all, so the API server refuses it",
            "add spec.template.spec.dnsConfig.nameservers, or use dnsPolicy ClusterFirst",
        ));
    }
    if nameservers.len() > MAX_NAMESERVERS {
        out.push(Finding::new(
            RuleId::DnsConfig,
            "/spec/template/spec/dnsConfig/nameservers",
            format!(
                "dnsConfig lists {} nameservers, more than the {MAX_NAMESERVERS} a resolv.conf \
                 can use: the API server refuses the pod",
                nameservers.len()
            ),
            format!("keep at most {MAX_NAMESERVERS} nameservers"),
        ));
    }
    let searches = config.map_or(0, |c| list(c, "searches").len());
    let limit = max_search_domains(cx);
    if searches > limit {
        out.push(Finding::new(
            RuleId::DnsConfig,
            "/spec/template/spec/dnsConfig/searches",
            format!(
                "dnsConfig lists {searches} search domains, more than {}: the pod is refused \
                 (Kubernetes allows 32 from 1.28, 6 before)",
                if cx.settings.dns_search_domains.is_some() {
                    format!("the policy's limit of {limit}")
                } else {
                    format!("the {limit} Kubernetes {} allows", cx.kube_version)
                }
            ),
            format!("keep at most {limit} search domains"),
        ));
    }
}

/// The policy's limit, else 32 from Kubernetes 1.28 (ExpandedDNSConfig GA) and 6 before.
fn max_search_domains(cx: &Cx<'_>) -> usize {
    let limit = match cx.settings.dns_search_domains {
        Some(limit) => limit,
        None if cx.kube_version.at_least(1, 28) => 32,
        None => 6,
    };
    usize::try_from(limit).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::engine::KubeVersion;
    use crate::engine::Severity;
    use crate::engine::rules::testing::{hits, policy, run, run_with, web};

    fn spec(object: &Value) -> Vec<Finding> {
        run(check, object)
    }

    fn with(pointer: &str, value: Value) -> Value {
        let mut object = web();
        set(&mut object, pointer, value);
        object
    }

    fn set(object: &mut Value, pointer: &str, value: Value) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        object
            .pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert(key.into(), value);
    }

    fn remove(object: &mut Value, pointer: &str) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        object
            .pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(key);
    }

    #[test]
    fn accepts_the_web_example() {
        assert_eq!(hits(&spec(&web())), []);
        assert_eq!(hits(&run(check_api_version, &web())), []);
    }

    // selector

    #[test]
    fn rejects_missing_selector() {
        let mut object = web();
        remove(&mut object, "/spec/selector");
        assert_eq!(hits(&spec(&object)), [("selector", "/spec/selector")]);
    }

    #[test]
    fn rejects_empty_selector() {
        let object = with("/spec/selector", json!({"matchLabels": {}}));
        assert_eq!(hits(&spec(&object)), [("selector", "/spec/selector")]);
    }

    #[test]
    fn rejects_selector_label_the_template_lacks() {
        let object = with(
            "/spec/selector/matchLabels",
            json!({"app": "nginx", "app.kubernetes.io/name": "web"}),
        );
        let findings = spec(&object);
        assert_eq!(
            hits(&findings),
            [(
                "selector",
                "/spec/selector/matchLabels/app.kubernetes.io~1name"
            )]
        );
        assert!(
            findings[0]
                .message
                .contains("no label \"app.kubernetes.io/name\"")
        );
    }

    #[test]
    fn rejects_selector_value_that_differs() {
        let object = with("/spec/selector/matchLabels/app", json!("web"));
        let findings = spec(&object);
        assert_eq!(
            hits(&findings),
            [("selector", "/spec/selector/matchLabels/app")]
        );
        assert!(findings[0].message.contains("app=nginx"));
    }

    #[test]
    fn accepts_selector_matching_via_match_expressions() {
        let object = with(
            "/spec/selector",
            json!({"matchExpressions": [
                {"key": "app", "operator": "In", "values": ["nginx", "web"]},
                {"key": "tier", "operator": "NotIn", "values": ["db"]},
                {"key": "app", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]}),
        );
        assert_eq!(hits(&spec(&object)), []);
    }

    #[test]
    fn rejects_match_expressions_the_template_fails() {
        let object = with(
            "/spec/selector",
            json!({"matchExpressions": [
                {"key": "app", "operator": "In", "values": ["web"]},
                {"key": "app", "operator": "NotIn", "values": ["nginx"]},
                {"key": "tier", "operator": "Exists"},
                {"key": "app", "operator": "DoesNotExist"}
            ]}),
        );
        assert_eq!(
            hits(&spec(&object)),
            [
                ("selector", "/spec/selector/matchExpressions/0"),
                ("selector", "/spec/selector/matchExpressions/1"),
                ("selector", "/spec/selector/matchExpressions/2"),
                ("selector", "/spec/selector/matchExpressions/3"),
            ]
        );
    }

    #[test]
    fn rejects_unknown_operator_and_misplaced_values() {
        let object = with(
            "/spec/selector",
            json!({"matchLabels": {"app": "nginx"}, "matchExpressions": [
                {"key": "app", "operator": "in", "values": ["nginx"]},
                {"key": "app", "operator": "In", "values": []},
                {"key": "app", "operator": "Exists", "values": ["nginx"]}
            ]}),
        );
        assert_eq!(
            hits(&spec(&object)),
            [
                ("selector", "/spec/selector/matchExpressions/0/operator"),
                ("selector", "/spec/selector/matchExpressions/1/values"),
                ("selector", "/spec/selector/matchExpressions/2/values"),
            ]
        );
    }

    #[test]
    fn rejects_selector_when_template_has_no_labels() {
        let mut object = web();
        remove(&mut object, "/spec/template/metadata");
        assert_eq!(
            hits(&spec(&object)),
            [("selector", "/spec/selector/matchLabels/app")]
        );
    }

    // update-strategy

    #[test]
    fn rejects_unknown_update_strategy_type() {
        let object = with("/spec/updateStrategy", json!({"type": "Recreate"}));
        assert_eq!(
            hits(&spec(&object)),
            [("update-strategy", "/spec/updateStrategy/type")]
        );
    }

    #[test]
    fn rejects_rolling_update_with_on_delete() {
        let object = with(
            "/spec/updateStrategy",
            json!({"type": "OnDelete", "rollingUpdate": {"partition": 0}}),
        );
        assert_eq!(
            hits(&spec(&object)),
            [("update-strategy", "/spec/updateStrategy/rollingUpdate")]
        );
    }

    #[test]
    fn accepts_on_delete_without_rolling_update() {
        let object = with("/spec/updateStrategy", json!({"type": "OnDelete"}));
        assert_eq!(hits(&spec(&object)), []);
    }

    #[test]
    fn rejects_negative_partition() {
        let object = with(
            "/spec/updateStrategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": -1}}),
        );
        assert_eq!(
            hits(&spec(&object)),
            [(
                "update-strategy",
                "/spec/updateStrategy/rollingUpdate/partition"
            )]
        );
    }

    #[test]
    fn rejects_zero_and_malformed_max_unavailable() {
        for bad in [
            json!(0),
            json!("0%"),
            json!("101%"),
            json!("2"),
            json!("5.5%"),
            json!(-1),
        ] {
            let object = with(
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": bad}}),
            );
            assert_eq!(
                hits(&spec(&object)),
                [(
                    "update-strategy",
                    "/spec/updateStrategy/rollingUpdate/maxUnavailable"
                )],
                "{bad}"
            );
        }
    }

    #[test]
    fn accepts_max_unavailable_of_one_or_a_percentage() {
        for good in [json!(1), json!(3), json!("1%"), json!("100%")] {
            let object = with(
                "/spec/updateStrategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": good}}),
            );
            assert_eq!(hits(&spec(&object)), [], "{good}");
        }
    }

    // partition-exceeds-replicas

    #[test]
    fn accepts_partition_equal_to_replicas() {
        let object = with(
            "/spec/updateStrategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
        );
        assert_eq!(hits(&spec(&object)), []);
    }

    #[test]
    fn warns_when_partition_exceeds_replicas() {
        let object = with(
            "/spec/updateStrategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 3}}),
        );
        let findings = spec(&object);
        assert_eq!(
            hits(&findings),
            [(
                "partition-exceeds-replicas",
                "/spec/updateStrategy/rollingUpdate/partition"
            )]
        );
        assert_eq!(findings[0].severity, Severity::Warning);
        assert!(findings[0].hint.contains("lower partition to 2"));
    }

    #[test]
    fn counts_ordinals_start_towards_the_partition() {
        let mut object = with(
            "/spec/updateStrategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 7}}),
        );
        set(&mut object, "/spec/ordinals", json!({"start": 5}));
        assert_eq!(hits(&spec(&object)), []);
        set(&mut object, "/spec/ordinals", json!({"start": 4}));
        assert_eq!(
            hits(&spec(&object)),
            [(
                "partition-exceeds-replicas",
                "/spec/updateStrategy/rollingUpdate/partition"
            )]
        );
    }

    #[test]
    fn survives_extreme_partition_and_replicas() {
        let mut object = with("/spec/replicas", json!(i64::MAX));
        set(&mut object, "/spec/ordinals", json!({"start": i64::MAX}));
        set(
            &mut object,
            "/spec/updateStrategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": i64::MAX}}),
        );
        assert_eq!(hits(&spec(&object)), []);
    }

    // pod-management-policy

    #[test]
    fn rejects_unknown_pod_management_policy() {
        let findings = spec(&with("/spec/podManagementPolicy", json!("parallel")));
        assert_eq!(
            hits(&findings),
            [("pod-management-policy", "/spec/podManagementPolicy")]
        );
        assert_eq!(findings[0].hint, "write \"Parallel\"");
    }

    #[test]
    fn accepts_parallel_pod_management() {
        assert_eq!(
            hits(&spec(&with("/spec/podManagementPolicy", json!("Parallel")))),
            []
        );
    }

    // replicas

    #[test]
    fn rejects_negative_counts_each_at_its_path() {
        let mut object = with("/spec/replicas", json!(-1));
        set(&mut object, "/spec/revisionHistoryLimit", json!(-1));
        set(&mut object, "/spec/minReadySeconds", json!(-5));
        set(&mut object, "/spec/ordinals", json!({"start": -1}));
        assert_eq!(
            hits(&spec(&object)),
            [
                ("replicas", "/spec/replicas"),
                ("replicas", "/spec/revisionHistoryLimit"),
                ("replicas", "/spec/minReadySeconds"),
                ("replicas", "/spec/ordinals/start"),
            ]
        );
    }

    #[test]
    fn accepts_zero_replicas() {
        let mut object = with("/spec/replicas", json!(0));
        set(&mut object, "/spec/revisionHistoryLimit", json!(0));
        set(&mut object, "/spec/minReadySeconds", json!(0));
        assert_eq!(hits(&spec(&object)), []);
    }

    // restart-policy

    #[test]
    fn rejects_restart_policy_on_failure() {
        let object = with("/spec/template/spec/restartPolicy", json!("OnFailure"));
        assert_eq!(
            hits(&spec(&object)),
            [("restart-policy", "/spec/template/spec/restartPolicy")]
        );
    }

    #[test]
    fn accepts_restart_policy_always() {
        let object = with("/spec/template/spec/restartPolicy", json!("Always"));
        assert_eq!(hits(&spec(&object)), []);
    }

    #[test]
    fn rejects_active_deadline_seconds() {
        let object = with("/spec/template/spec/activeDeadlineSeconds", json!(600));
        assert_eq!(
            hits(&spec(&object)),
            [(
                "restart-policy",
                "/spec/template/spec/activeDeadlineSeconds"
            )]
        );
    }

    // termination-grace

    #[test]
    fn warns_when_termination_grace_exceeds_the_default_bound() {
        let path = "/spec/template/spec/terminationGracePeriodSeconds";
        let findings = spec(&with(path, json!(10_000)));
        assert_eq!(hits(&findings), [("termination-grace", path)]);
        assert_eq!(findings[0].severity, Severity::Warning);
        assert_eq!(hits(&spec(&with(path, json!(9999)))), []);
        assert_eq!(hits(&spec(&with(path, json!(0)))), []);
    }

    #[test]
    fn uses_the_policy_bounds_for_termination_grace() {
        let path = "/spec/template/spec/terminationGracePeriodSeconds";
        let policy =
            policy(json!({"limits": {"terminationGracePeriodSeconds": {"min": 60, "max": 120}}}));
        let run = |object: &Value| run_with(check, object, &policy, None, KubeVersion::LATEST);
        assert_eq!(hits(&run(&with(path, json!(60)))), []);
        assert_eq!(
            hits(&run(&with(path, json!(121)))),
            [("termination-grace", path)]
        );
        // Unset counts as the API default of 30 s.
        assert_eq!(hits(&run(&web())), [("termination-grace", path)]);
    }

    // dns-config

    #[test]
    fn rejects_dns_policy_none_without_nameservers() {
        let object = with("/spec/template/spec/dnsPolicy", json!("None"));
        assert_eq!(
            hits(&spec(&object)),
            [("dns-config", "/spec/template/spec/dnsConfig")]
        );
        let mut object = object;
        set(
            &mut object,
            "/spec/template/spec/dnsConfig",
            json!({"searches": ["a.local"]}),
        );
        assert_eq!(
            hits(&spec(&object)),
            [("dns-config", "/spec/template/spec/dnsConfig/nameservers")]
        );
        set(
            &mut object,
            "/spec/template/spec/dnsConfig",
            json!({"nameservers": ["10.0.0.10"]}),
        );
        assert_eq!(hits(&spec(&object)), []);
    }

    #[test]
    fn rejects_four_nameservers() {
        let object = with(
            "/spec/template/spec/dnsConfig",
            json!({"nameservers": ["1.1.1.1", "8.8.8.8", "9.9.9.9", "1.0.0.1"]}),
        );
        assert_eq!(
            hits(&spec(&object)),
            [("dns-config", "/spec/template/spec/dnsConfig/nameservers")]
        );
    }

    #[test]
    fn limits_search_domains_by_kubernetes_version_and_policy() {
        let domains = |n: usize| {
            let searches: Vec<String> = (0..n).map(|i| format!("d{i}.local")).collect();
            with(
                "/spec/template/spec/dnsConfig",
                json!({"searches": searches}),
            )
        };
        let path = "/spec/template/spec/dnsConfig/searches";
        let empty = policy(json!({}));
        let on = |object: &Value, policy, version| {
            hits(&run_with(check, object, policy, None, version)).len()
        };
        assert_eq!(on(&domains(32), &empty, KubeVersion::new(1, 28)), 0);
        assert_eq!(on(&domains(33), &empty, KubeVersion::new(1, 28)), 1);
        assert_eq!(on(&domains(6), &empty, KubeVersion::new(1, 27)), 0);
        assert_eq!(
            hits(&run_with(
                check,
                &domains(7),
                &empty,
                None,
                KubeVersion::new(1, 27)
            )),
            [("dns-config", path)]
        );
        let strict = policy(json!({"limits": {"dnsSearchDomains": 3}}));
        assert_eq!(on(&domains(3), &strict, KubeVersion::LATEST), 0);
        assert_eq!(on(&domains(4), &strict, KubeVersion::LATEST), 1);
    }

    // api-version

    #[test]
    fn rejects_apps_v1beta1_on_current_clusters() {
        let findings = run(
            check_api_version,
            &with("/apiVersion", json!("apps/v1beta1")),
        );
        assert_eq!(hits(&findings), [("api-version", "/apiVersion")]);
        assert_eq!(findings[0].severity, Severity::Error);
        assert!(findings[0].message.contains("removed in Kubernetes 1.16"));
        assert!(findings[0].message.contains("spec.selector"));
        assert!(findings[0].message.contains("OnDelete"));
    }

    #[test]
    fn warns_about_apps_v1beta2_before_1_16() {
        let object = with("/apiVersion", json!("apps/v1beta2"));
        let findings = run_with(
            check_api_version,
            &object,
            &policy(json!({})),
            None,
            KubeVersion::new(1, 15),
        );
        assert_eq!(hits(&findings), [("api-version", "/apiVersion")]);
        assert_eq!(findings[0].severity, Severity::Warning);
    }

    #[test]
    fn ignores_other_api_versions() {
        for version in [json!("apps/v1"), json!("v1"), json!(3)] {
            assert_eq!(
                hits(&run(check_api_version, &with("/apiVersion", version))),
                []
            );
        }
    }

    // hostile input

    #[test]
    fn survives_wrong_types_everywhere() {
        let objects = [
            json!({"metadata": []}),
            json!({"apiVersion": [], "spec": []}),
            json!({"spec": {
                "replicas": "two",
                "selector": {"matchLabels": [], "matchExpressions": {}},
                "updateStrategy": {"type": 1, "rollingUpdate": []},
                "ordinals": [],
                "podManagementPolicy": {},
                "template": {"metadata": {"labels": []}, "spec": {
                    "containers": {},
                    "dnsConfig": [],
                    "restartPolicy": 1,
                    "terminationGracePeriodSeconds": "30"
                }}
            }}),
            json!({"spec": {
                "replicas": 3,
                "selector": {
                    "matchLabels": {"a": 1},
                    "matchExpressions": [1, {"key": 2}, {"key": "a", "operator": [], "values": "x"}]
                },
                "updateStrategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"partition": "1", "maxUnavailable": true}
                },
                "template": {"spec": {
                    "dnsPolicy": "None",
                    "dnsConfig": {"nameservers": {}, "searches": 3}
                }}
            }}),
            json!([]),
            json!("sts"),
        ];
        for object in &objects {
            let _ = spec(object);
            let _ = run(check_api_version, object);
        }
        assert_eq!(hits(&spec(&objects[2])), []);
        assert_eq!(hits(&spec(&objects[3])), []);
    }
}

//! Rules: names (SPEC §3).
//!
//! The API server checks `metadata.name`, but not the names the controller derives from it
//! (pod names, the `controller-revision-hash` label, PVC names), and up to Kubernetes 1.33 it
//! does not validate the pod template at all (`ValidatePodTemplateSpecForStatefulSet` has the
//! call commented out). A bad name is therefore admitted, and the controller then fails to
//! create pods forever (`FailedCreate` events). These rules catch it first.

use std::collections::HashMap;

use crate::engine::catalog::RuleId;
use crate::engine::doc::Doc;

use crate::engine::finding::Finding;
use crate::engine::rules::Cx;
use crate::engine::view::{Container, StatefulSet, get, list, str_of};

/// Runs this family's rules.
pub fn check(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let name = object_name(sts);
    name_is_a_dns_label(name, out);
    if let ObjectName::Named(name) = name {
        derived_names_fit_their_limits(sts, name, out);
        claim_names_are_subdomains(sts, name, out);
    }
    service_name_is_a_dns1035_label(sts, cx, out);
    container_names_are_unique_labels(sts, out);
    ports_are_valid(sts, out);
    volume_names_are_unique_labels(sts, out);
}

/// Label values, pod hostnames and DNS labels hold at most 63 characters.
const MAX_LABEL: usize = 63;

/// The controller names each ControllerRevision `<name>-<hash>` and copies that into every
/// pod's `controller-revision-hash` label; the hash takes up to 10 characters.
const REVISION_HASH: usize = 10;

/// Kubernetes object names of the subdomain kind (PVCs) hold at most 253 characters.
const MAX_SUBDOMAIN: usize = 253;

/// Port names (IANA service names) hold at most 15 characters.
const MAX_PORT_NAME: usize = 15;

// ---------------------------------------------------------------------------------------
// Name syntax: the shapes of Kubernetes' `apimachinery/pkg/util/validation`, returning why
// a value does not fit so that the message can say what to change.

/// Why `value` is not a DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, ≤ 63), if it is not.
pub(crate) fn dns1123_label_problem(value: &str) -> Option<String> {
    label_problem(value, false)
}

/// Why `value` is not a DNS-1035 label (`[a-z]([-a-z0-9]*[a-z0-9])?`, ≤ 63), if it is not.
pub(crate) fn dns1035_label_problem(value: &str) -> Option<String> {
    label_problem(value, true)
}

fn label_problem(value: &str, letter_first: bool) -> Option<String> {
    if value.is_empty() {
        return Some("it is empty".into());
    }
    if value.len() > MAX_LABEL {
        return Some(format!(
            "it is {} characters, more than {MAX_LABEL}",
            value.len()
        ));
    }
    if let Some(problem) = bad_character(value, false) {
        return Some(problem);
    }
    part_ends_problem(value, letter_first)
}

/// Why `value` is not a DNS-1123 subdomain (dot-separated DNS-1123 labels, ≤ 253), if it is not.
pub(crate) fn dns1123_subdomain_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("it is empty".into());
    }
    if value.len() > MAX_SUBDOMAIN {
        return Some(format!(
            "it is {} characters, more than {MAX_SUBDOMAIN}",
            value.len()
        ));
    }
    if let Some(problem) = bad_character(value, true) {
        return Some(problem);
    }
    value
        .split('.')
        .find_map(|part| part_ends_problem(part, false))
}

/// The first character outside `[a-z0-9-]` (and `.` when `dots`), described.
fn bad_character(value: &str, dots: bool) -> Option<String> {
    let bad = value.chars().find(|&c| {
        !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dots && c == '.'))
    })?;
    let allowed = if dots {
        "lowercase letters, digits, '-' and '.'"
    } else {
        "lowercase letters, digits and '-'"
    };
    Some(if bad.is_ascii_uppercase() {
        format!("it contains the uppercase letter '{bad}' (only {allowed} are allowed)")
    } else {
        format!("it contains {bad:?} (only {allowed} are allowed)")
    })
}

/// Why one label (already known to hold only allowed characters) starts or ends wrongly.
fn part_ends_problem(part: &str, letter_first: bool) -> Option<String> {
    let (Some(first), Some(last)) = (part.chars().next(), part.chars().last()) else {
        return Some("it has an empty part between dots".into());
    };
    if letter_first && !first.is_ascii_lowercase() {
        return Some(format!("it starts with '{first}', not a letter"));
    }
    if !first.is_ascii_alphanumeric() {
        return Some(format!("it starts with '{first}', not a letter or digit"));
    }
    if !last.is_ascii_alphanumeric() {
        return Some(format!("it ends with '{last}', not a letter or digit"));
    }
    None
}

/// Why `value` is not an IANA service name (`IsValidPortName`), if it is not.
pub(crate) fn port_name_problem(value: &str) -> Option<String> {
    if value.len() > MAX_PORT_NAME {
        return Some(format!(
            "it is {} characters, more than {MAX_PORT_NAME}",
            value.len()
        ));
    }
    if let Some(problem) = bad_character(value, false) {
        return Some(problem);
    }
    if !value.bytes().any(|b| b.is_ascii_lowercase()) {
        return Some("it has no letter".into());
    }
    if value.contains("--") {
        return Some("it contains \"--\"".into());
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Some("it starts or ends with '-'".into());
    }
    None
}

/// A valid DNS-1123 label close to `value`, for hints; `None` when nothing is left.
fn suggest_label(value: &str) -> Option<String> {
    let mapped: String = value
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    let mut suggestion = String::with_capacity(mapped.len());
    for c in mapped.chars() {
        if !(c == '-' && suggestion.ends_with('-')) {
            suggestion.push(c);
        }
    }
    suggestion.truncate(MAX_LABEL);
    let suggestion = suggestion.trim_matches('-');
    (!suggestion.is_empty()).then(|| suggestion.to_string())
}

/// `rename it, e.g. "my-db"` when a suggestion exists.
fn rename_hint(what: &str, value: &str) -> String {
    match suggest_label(value) {
        Some(suggestion) if suggestion != value => format!(
            "rename {what} to a DNS-1123 label (lowercase letters, digits and '-', at most 63 \
             characters), e.g. \"{suggestion}\""
        ),
        _ => format!(
            "rename {what} to a DNS-1123 label (lowercase letters, digits and '-', at most 63 \
             characters)"
        ),
    }
}

// ---------------------------------------------------------------------------------------
// name-format, name-length, pvc-name

/// What `metadata.name` holds, as far as the name rules care.
#[derive(Clone, Copy)]
enum ObjectName<'a> {
    Named(&'a str),
    /// No name but a `generateName`: the API server picks the name, nothing to check.
    Generated,
    /// No name at all (e.g. a kustomize patch fed to the CLI).
    Missing,
    /// `metadata` or `metadata.name` of the wrong type: the `schema` rule reports it.
    Unreadable,
}

fn object_name<'a>(sts: &StatefulSet<'a>) -> ObjectName<'a> {
    let metadata = match get(sts.object, "metadata") {
        None | Some(Doc::Null) => return ObjectName::Missing,
        Some(metadata) if metadata.is_object() => metadata,
        Some(_) => return ObjectName::Unreadable,
    };
    let generated = str_of(metadata, "generateName").is_some_and(|g| !g.is_empty());
    match get(metadata, "name") {
        Some(Doc::String(name)) if !name.is_empty() => ObjectName::Named(name),
        None | Some(Doc::Null) | Some(Doc::String(_)) if generated => ObjectName::Generated,
        None | Some(Doc::Null) | Some(Doc::String(_)) => ObjectName::Missing,
        Some(_) => ObjectName::Unreadable,
    }
}

/// `name-format`: pods take their hostname from the StatefulSet's name, so it must be a
/// DNS-1123 label. The API server only enforces this from Kubernetes 1.27; before that a
/// name such as `Web` or `web.v2` is admitted and no pod is ever created.
fn name_is_a_dns_label(name: ObjectName<'_>, out: &mut Vec<Finding>) {
    match name {
        ObjectName::Missing => out.push(Finding::new(
            RuleId::NameFormat,
            "/metadata/name",
            "the StatefulSet has no metadata.name (and no metadata.generateName): the API \
             server refuses it, and pod, PVC and revision names are all derived from it",
            "set metadata.name to a DNS-1123 label of at most 52 characters",
        )),
        ObjectName::Named(name) => {
            if let Some(problem) = dns1123_label_problem(name) {
                out.push(Finding::new(
                    RuleId::NameFormat,
                    "/metadata/name",
                    format!(
                        "metadata.name {name:?} is not a DNS-1123 label: {problem}. Pods take \
                         their hostname from it, so the controller can never create them"
                    ),
                    rename_hint("the StatefulSet", name),
                ));
            }
        }
        ObjectName::Generated | ObjectName::Unreadable => {}
    }
}

/// The largest ordinal a pod of this StatefulSet has: `ordinals.start + replicas - 1`, or
/// `None` when there are no pods (replicas ≤ 0) or the numbers are invalid (the `replicas`
/// rule reports those). `i128` holds any sum of two `i64`s.
fn last_ordinal(sts: &StatefulSet<'_>) -> Option<i128> {
    let replicas = i128::from(sts.replicas());
    let start = i128::from(sts.ordinal_start());
    (replicas > 0 && start >= 0).then(|| start + replicas - 1)
}

/// `name-length`: the `controller-revision-hash` label value `<name>-<hash>` must fit in 63
/// characters (kubernetes/kubernetes#64023: names over 52 characters make every pod fail
/// with `FailedCreate`), and so must each pod name `<name>-<ordinal>`, which is the pod's
/// hostname.
fn derived_names_fit_their_limits(sts: &StatefulSet<'_>, name: &str, out: &mut Vec<Finding>) {
    let revision_label_len = name.len() + 1 + REVISION_HASH;
    let last_ordinal = last_ordinal(sts);
    let ordinal_digits = last_ordinal.map_or(1, |ordinal| ordinal.to_string().len());
    let pod_name_len = name.len() + 1 + ordinal_digits;
    let label_too_long = revision_label_len > MAX_LABEL;
    let pod_too_long = last_ordinal.is_some() && pod_name_len > MAX_LABEL;
    if !label_too_long && !pod_too_long {
        return;
    }

    let mut problems = Vec::new();
    if label_too_long {
        problems.push(format!(
            "the controller labels every pod `controller-revision-hash: {name}-<hash>`, which \
             with the hash of up to {REVISION_HASH} characters is {revision_label_len} \
             characters, more than the {MAX_LABEL} a label value may hold, so pods fail with \
             FailedCreate (kubernetes/kubernetes#64023)"
        ));
    }
    if let (true, Some(ordinal)) = (pod_too_long, last_ordinal) {
        problems.push(format!(
            "the pod name \"{name}-{ordinal}\" (ordinal {ordinal}) is {pod_name_len} \
             characters, more than the {MAX_LABEL} a pod hostname may hold, so that pod is \
             never created"
        ));
    }
    let message = format!(
        "metadata.name {name:?} is {} characters: {}",
        name.len(),
        problems.join("; also, ")
    );
    let max_len = (MAX_LABEL - 1 - REVISION_HASH).min(MAX_LABEL.saturating_sub(1 + ordinal_digits));
    let hint = if label_too_long {
        format!("shorten metadata.name to at most {max_len} characters")
    } else {
        format!(
            "shorten metadata.name to at most {max_len} characters, or lower replicas or \
             ordinals.start"
        )
    };
    out.push(Finding::new(
        RuleId::NameLength,
        "/metadata/name",
        message,
        hint,
    ));
}

/// `pvc-name`: the controller names each replica's claim `<claim>-<name>-<ordinal>`, and a
/// PVC name must be a DNS-1123 subdomain; otherwise the PVC is never created and the pod
/// waits for it forever.
fn claim_names_are_subdomains(sts: &StatefulSet<'_>, name: &str, out: &mut Vec<Finding>) {
    // With no replicas yet, the first scale-up creates the claim of `ordinals.start`.
    let ordinal = last_ordinal(sts).unwrap_or_else(|| i128::from(sts.ordinal_start().max(0)));
    for (index, claim) in sts.claim_templates().iter().enumerate() {
        let Some(claim_name) = get(claim, "metadata")
            .and_then(|metadata| str_of(metadata, "name"))
            .filter(|claim_name| !claim_name.is_empty())
        else {
            continue; // `volume-name` reports a missing claim name.
        };
        let pvc = format!("{claim_name}-{name}-{ordinal}");
        if let Some(problem) = dns1123_subdomain_problem(&pvc) {
            out.push(Finding::new(
                RuleId::PvcName,
                format!("/spec/volumeClaimTemplates/{index}/metadata/name"),
                format!(
                    "claim template {claim_name:?} gives PVC names like {pvc:?}, which is not \
                     a DNS-1123 subdomain: {problem}. The controller cannot create the PVC, \
                     and the pod waits for it forever"
                ),
                format!(
                    "use only lowercase letters, digits, '-' and '.' in the claim template \
                     name and metadata.name, keeping <claim>-<name>-<ordinal> within \
                     {MAX_SUBDOMAIN} characters"
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// service-name

/// `service-name`: each pod gets the DNS name `<pod>.<serviceName>.<namespace>.svc...`
/// from its governing headless Service; `serviceName` becomes the pod's `subdomain`, so it
/// must be a valid Service name (DNS-1035 label).
fn service_name_is_a_dns1035_label(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    if !sts.spec.is_object() && !sts.spec.is_null() {
        return;
    }
    let path = "/spec/serviceName";
    match get(sts.spec, "serviceName") {
        None | Some(Doc::Null) => out.push(no_service_name(sts, cx)),
        Some(Doc::String(service)) if service.is_empty() => out.push(no_service_name(sts, cx)),
        Some(Doc::String(service)) => {
            if let Some(problem) = dns1035_label_problem(service) {
                out.push(Finding::new(
                    RuleId::ServiceName,
                    path,
                    format!(
                        "spec.serviceName {service:?} is not a valid Service name (DNS-1035 \
                         label): {problem}. It becomes each pod's DNS subdomain, so pods are \
                         rejected or get no stable DNS name"
                    ),
                    "name the governing headless Service with lowercase letters, digits and \
                     '-', starting with a letter, at most 63 characters, and set \
                     spec.serviceName to it",
                ));
            }
        }
        Some(_) => {}
    }
}

fn no_service_name(sts: &StatefulSet<'_>, cx: &Cx<'_>) -> Finding {
    let name = sts.name().unwrap_or("<name>");
    let namespace = cx.namespace;
    Finding::new(
        RuleId::ServiceName,
        "/spec/serviceName",
        format!(
            "spec.serviceName is not set: without a governing headless Service the pods have \
             no stable network identity (no DNS name like \
             {name}-0.<service>.{namespace}.svc.cluster.local)"
        ),
        "create a headless Service (clusterIP: None) selecting the pods and set \
         spec.serviceName to its name",
    )
    .warning()
}

// ---------------------------------------------------------------------------------------
// container-name

/// `container-name`: container names are DNS-1123 labels, unique across containers and
/// initContainers (pod validation; not run by the API server for StatefulSet templates).
fn container_names_are_unique_labels(sts: &StatefulSet<'_>, out: &mut Vec<Finding>) {
    let mut seen: HashMap<&str, Container<'_>> = HashMap::new();
    for container in sts.containers() {
        if !container.value.is_object() {
            continue;
        }
        // Paths and labels are only formatted for a finding: this runs on every request.
        let path = || format!("{}/name", container.path());
        let where_ = || format!("{}[{}]", container.kind.field(), container.index);
        match get(container.value, "name") {
            None | Some(Doc::Null) => out.push(Finding::new(
                RuleId::ContainerName,
                path(),
                format!(
                    "{} has no name: the pod is rejected (name: Required value)",
                    where_()
                ),
                "give the container a name: a DNS-1123 label unique in the pod",
            )),
            Some(Doc::String(name)) => {
                if let Some(problem) = dns1123_label_problem(name) {
                    out.push(Finding::new(
                        RuleId::ContainerName,
                        path(),
                        format!(
                            "{} is named {name:?}, which is not a DNS-1123 label: \
                             {problem}. The pod is rejected, so no replica is created",
                            where_()
                        ),
                        rename_hint("the container", name),
                    ));
                } else if let Some(first) = seen.get(name.as_ref()) {
                    let (kind, index) = (first.kind.field(), first.index);
                    out.push(Finding::new(
                        RuleId::ContainerName,
                        path(),
                        format!(
                            "{} is named {name:?}, like {kind}[{index}]: container names must \
                             be unique across containers and initContainers, so the pod is \
                             rejected (Duplicate value)",
                            where_()
                        ),
                        "give each container and init container its own name",
                    ));
                }
                seen.entry(name).or_insert(container);
            }
            Some(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// port-name

/// `port-name`: container ports as pod validation checks them — names are IANA service
/// names unique within the container (Services refer to ports by these names), port numbers
/// are in 1–65535, and the protocol is one Kubernetes knows.
fn ports_are_valid(sts: &StatefulSet<'_>, out: &mut Vec<Finding>) {
    for container in sts.containers() {
        let mut names: HashMap<&str, usize> = HashMap::new();
        for (index, port) in list(container.value, "ports").iter().enumerate() {
            if !port.is_object() {
                continue;
            }
            // Formatted only for a finding: this runs for every port of every request.
            let path = || format!("{}/ports/{index}", container.path());
            let label = || container.label();
            if let Some(name) = str_of(port, "name").filter(|n| !n.is_empty()) {
                if let Some(problem) = port_name_problem(name) {
                    out.push(Finding::new(
                        RuleId::PortName,
                        format!("{}/name", path()),
                        format!(
                            "port name {name:?} of {} is not an IANA service name: \
                             {problem}. The pod is rejected",
                            label()
                        ),
                        "use at most 15 lowercase letters, digits and single '-', with at \
                         least one letter (e.g. \"http\", \"grpc-metrics\"), or drop the name",
                    ));
                } else if let Some(first) = names.get(name) {
                    out.push(Finding::new(
                        RuleId::PortName,
                        format!("{}/name", path()),
                        format!(
                            "port name {name:?} of {} is already used by ports[{first}]: \
                             port names must be unique within a container, so the pod is \
                             rejected (Duplicate value)",
                            label()
                        ),
                        "give each port of the container its own name",
                    ));
                }
                names.entry(name).or_insert(index);
            }
            port_numbers_are_in_range(port, &path, &label, out);
            if let Some(protocol) = str_of(port, "protocol")
                .filter(|p| !p.is_empty() && !matches!(*p, "TCP" | "UDP" | "SCTP"))
            {
                out.push(Finding::new(
                    RuleId::PortName,
                    format!("{}/protocol", path()),
                    format!(
                        "protocol {protocol:?} of a port of {} is not TCP, UDP or SCTP \
                         (they are case-sensitive): the pod is rejected",
                        label()
                    ),
                    match protocol.to_ascii_uppercase().as_str() {
                        upper @ ("TCP" | "UDP" | "SCTP") => format!("write \"{upper}\""),
                        _ => "set protocol to TCP, UDP or SCTP, or drop it (TCP)".to_string(),
                    },
                ));
            }
        }
    }
}

/// `containerPort` is required; `hostPort` 0 means none, as in the API.
fn port_numbers_are_in_range(
    port: &Doc<'_>,
    path: &dyn Fn() -> String,
    label: &dyn Fn() -> String,
    out: &mut Vec<Finding>,
) {
    let in_range = |n: i64| (1..=65535).contains(&n);
    match get(port, "containerPort") {
        None | Some(Doc::Null) => out.push(Finding::new(
            RuleId::PortName,
            format!("{}/containerPort", path()),
            format!(
                "a port of {} has no containerPort: the pod is rejected (Required value)",
                label()
            ),
            "set containerPort to the port the process listens on (1-65535)",
        )),
        Some(number) => {
            if let Some(number) = number.as_i64().filter(|&n| !in_range(n)) {
                out.push(Finding::new(
                    RuleId::PortName,
                    format!("{}/containerPort", path()),
                    format!(
                        "containerPort {number} of {} is outside 1-65535: the pod is \
                         rejected",
                        label()
                    ),
                    "set containerPort to the port the process listens on (1-65535)",
                ));
            }
        }
    }
    if let Some(host_port) = get(port, "hostPort")
        .and_then(Doc::as_i64)
        .filter(|&n| n != 0 && !in_range(n))
    {
        out.push(Finding::new(
            RuleId::PortName,
            format!("{}/hostPort", path()),
            format!(
                "hostPort {host_port} of {} is outside 1-65535: the pod is rejected",
                label()
            ),
            "set hostPort to 1-65535, or drop it (most StatefulSets need no host port)",
        ));
    }
}

// ---------------------------------------------------------------------------------------
// volume-name

/// `volume-name`: pod volume names and claim template names are DNS-1123 labels, unique
/// within their list. Claim templates become pod volumes of the same name, so they obey the
/// same rule; a volume and a claim sharing a name is `claim-template-shadows-volume`.
fn volume_names_are_unique_labels(sts: &StatefulSet<'_>, out: &mut Vec<Finding>) {
    let volumes = sts
        .volumes()
        .iter()
        .enumerate()
        .filter(|(_, volume)| volume.is_object())
        .map(|(index, volume)| {
            (
                format!("/spec/template/spec/volumes/{index}/name"),
                format!("volumes[{index}]"),
                get(volume, "name"),
            )
        });
    unique_labels("volume", volumes, out);

    let claims = sts
        .claim_templates()
        .iter()
        .enumerate()
        .filter_map(|(index, claim)| {
            let metadata = match get(claim, "metadata") {
                None | Some(Doc::Null) => None,
                Some(metadata) if metadata.is_object() => Some(metadata),
                Some(_) => return None, // wrong type: the `schema` rule reports it
            };
            claim.is_object().then(|| {
                (
                    format!("/spec/volumeClaimTemplates/{index}/metadata/name"),
                    format!("volumeClaimTemplates[{index}]"),
                    metadata.and_then(|metadata| get(metadata, "name")),
                )
            })
        });
    unique_labels("claim template", claims, out);
}

/// Checks one list of `(path, where, name)`: each name present, a DNS-1123 label, and not
/// used before in the list.
fn unique_labels<'a>(
    what: &str,
    entries: impl Iterator<Item = (String, String, Option<&'a Doc<'a>>)>,
    out: &mut Vec<Finding>,
) {
    let mut seen: HashMap<&str, String> = HashMap::new();
    for (path, where_, name) in entries {
        match name {
            None | Some(Doc::Null) => out.push(Finding::new(
                RuleId::VolumeName,
                path,
                format!("{where_} has no name: the pod is rejected (Required value)"),
                format!("give the {what} a name: a DNS-1123 label"),
            )),
            Some(Doc::String(name)) => {
                if let Some(problem) = dns1123_label_problem(name) {
                    out.push(Finding::new(
                        RuleId::VolumeName,
                        path,
                        format!(
                            "{what} name {name:?} ({where_}) is not a DNS-1123 label: \
                             {problem}. The pod is rejected"
                        ),
                        rename_hint(&format!("the {what} (and the volumeMounts using it)"), name),
                    ));
                } else if let Some(first) = seen.get(name.as_ref()) {
                    out.push(Finding::new(
                        RuleId::VolumeName,
                        path,
                        format!(
                            "{what} name {name:?} ({where_}) is already used by {first}: names \
                             must be unique, so the pod is rejected (Duplicate value)"
                        ),
                        format!("give each {what} its own name"),
                    ));
                }
                seen.entry(name).or_insert(where_);
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::engine::rules::testing::{hits, run};

    fn names(object: &Value) -> Vec<Finding> {
        run(check, object)
    }

    fn with(pointer: &str, value: Value) -> Value {
        let mut object = crate::engine::rules::testing::web();
        set(&mut object, pointer, value);
        object
    }

    /// Sets `pointer` in `object`, creating the last key.
    fn set(object: &mut Value, pointer: &str, value: Value) {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = object.pointer_mut(parent).unwrap();
        match parent {
            Value::Array(items) => {
                let index = key.parse::<usize>().unwrap();
                if index == items.len() {
                    items.push(value);
                } else {
                    items[index] = value;
                }
            }
            _ => {
                parent.as_object_mut().unwrap().insert(key.into(), value);
            }
        }
    }

    fn has(findings: &[Finding], rule: &str, path: &str) -> bool {
        hits(findings).contains(&(rule, path))
    }

    #[test]
    fn accepts_the_web_example() {
        assert_eq!(hits(&names(&crate::engine::rules::testing::web())), []);
    }

    // name-format

    #[test]
    fn rejects_uppercase_name() {
        let findings = names(&with("/metadata/name", json!("Web")));
        // The claim "www-Web-1" is invalid too: pvc-name says what that breaks.
        assert_eq!(
            hits(&findings),
            [
                ("name-format", "/metadata/name"),
                ("pvc-name", "/spec/volumeClaimTemplates/0/metadata/name")
            ]
        );
        assert!(findings[0].message.contains("uppercase letter 'W'"));
        assert!(findings[0].hint.contains("\"web\""));
    }

    #[test]
    fn rejects_name_with_dot_or_trailing_dash() {
        for name in ["web.v2", "web-", "-web", "web_1"] {
            let findings = names(&with("/metadata/name", json!(name)));
            assert!(has(&findings, "name-format", "/metadata/name"), "{name}");
        }
    }

    #[test]
    fn rejects_missing_name() {
        let mut object = crate::engine::rules::testing::web();
        object["metadata"].as_object_mut().unwrap().remove("name");
        let findings = names(&object);
        assert_eq!(hits(&findings), [("name-format", "/metadata/name")]);
        assert!(findings[0].message.contains("no metadata.name"));
    }

    #[test]
    fn accepts_generate_name_without_name() {
        let mut object = crate::engine::rules::testing::web();
        object["metadata"] = json!({"generateName": "web-"});
        assert_eq!(hits(&names(&object)), []);
    }

    #[test]
    fn rejects_64_character_name_as_format_and_length() {
        let findings = names(&with("/metadata/name", json!("a".repeat(64))));
        assert!(has(&findings, "name-format", "/metadata/name"));
        assert!(has(&findings, "name-length", "/metadata/name"));
    }

    // name-length

    #[test]
    fn accepts_name_of_52_characters() {
        assert_eq!(
            hits(&names(&with("/metadata/name", json!("a".repeat(52))))),
            []
        );
    }

    #[test]
    fn rejects_name_of_53_characters() {
        let findings = names(&with("/metadata/name", json!("a".repeat(53))));
        assert_eq!(hits(&findings), [("name-length", "/metadata/name")]);
        assert!(
            findings[0].message.contains("64 characters"),
            "{}",
            findings[0].message
        );
        assert!(findings[0].message.contains("#64023"));
        assert_eq!(
            findings[0].hint,
            "shorten metadata.name to at most 52 characters"
        );
    }

    #[test]
    fn rejects_63_character_name_for_length_only() {
        let findings = names(&with("/metadata/name", json!("a".repeat(63))));
        assert_eq!(hits(&findings), [("name-length", "/metadata/name")]);
        assert!(
            findings[0].message.contains("pod name"),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn rejects_pod_names_longer_than_63_characters() {
        // 52 + "-" + 11 digits = 64: the revision label fits, the last pod name does not.
        let mut object = with("/metadata/name", json!("a".repeat(52)));
        set(
            &mut object,
            "/spec/ordinals",
            json!({"start": 10_000_000_000_i64}),
        );
        let findings = names(&object);
        assert_eq!(hits(&findings), [("name-length", "/metadata/name")]);
        assert!(
            findings[0].hint.contains("at most 51"),
            "{}",
            findings[0].hint
        );
    }

    #[test]
    fn accepts_long_ordinals_with_zero_replicas() {
        let mut object = with("/metadata/name", json!("a".repeat(52)));
        set(
            &mut object,
            "/spec/ordinals",
            json!({"start": 10_000_000_000_i64}),
        );
        set(&mut object, "/spec/replicas", json!(0));
        assert!(!has(&names(&object), "name-length", "/metadata/name"));
    }

    #[test]
    fn survives_huge_replicas_and_ordinals() {
        // The last ordinal, 2 * i64::MAX - 1, has 20 digits: "web-…" still fits in 63.
        let mut object = with("/spec/replicas", json!(i64::MAX));
        set(&mut object, "/spec/ordinals", json!({"start": i64::MAX}));
        assert_eq!(hits(&names(&object)), []);
        set(&mut object, "/metadata/name", json!("a".repeat(43)));
        assert!(has(&names(&object), "name-length", "/metadata/name"));
    }

    // pvc-name

    #[test]
    fn rejects_claim_name_that_makes_invalid_pvc_names() {
        let findings = names(&with(
            "/spec/volumeClaimTemplates/0/metadata/name",
            json!("WWW"),
        ));
        assert!(has(
            &findings,
            "pvc-name",
            "/spec/volumeClaimTemplates/0/metadata/name"
        ));
        let pvc = findings.iter().find(|f| f.rule == RuleId::PvcName).unwrap();
        assert!(pvc.message.contains("\"WWW-web-1\""), "{}", pvc.message);
    }

    #[test]
    fn accepts_dotted_pvc_names() {
        // "www-web.v2-1" is a valid subdomain; only name-format objects to "web.v2".
        let findings = names(&with("/metadata/name", json!("web.v2")));
        assert_eq!(hits(&findings), [("name-format", "/metadata/name")]);
    }

    // service-name

    #[test]
    fn warns_when_service_name_is_missing() {
        let mut object = crate::engine::rules::testing::web();
        object["spec"]
            .as_object_mut()
            .unwrap()
            .remove("serviceName");
        let findings = names(&object);
        assert_eq!(hits(&findings), [("service-name", "/spec/serviceName")]);
        assert_eq!(findings[0].severity, crate::engine::Severity::Warning);
        assert!(
            findings[0]
                .message
                .contains("web-0.<service>.default.svc.cluster.local")
        );
    }

    #[test]
    fn warns_when_service_name_is_empty() {
        let findings = names(&with("/spec/serviceName", json!("")));
        assert_eq!(hits(&findings), [("service-name", "/spec/serviceName")]);
        assert_eq!(findings[0].severity, crate::engine::Severity::Warning);
    }

    #[test]
    fn rejects_service_name_starting_with_digit() {
        let findings = names(&with("/spec/serviceName", json!("1nginx")));
        assert_eq!(hits(&findings), [("service-name", "/spec/serviceName")]);
        assert_eq!(findings[0].severity, crate::engine::Severity::Error);
    }

    #[test]
    fn accepts_service_name_with_digits_after_a_letter() {
        assert_eq!(
            hits(&names(&with("/spec/serviceName", json!("nginx-2")))),
            []
        );
    }

    // container-name

    #[test]
    fn rejects_container_name_with_underscore() {
        let findings = names(&with(
            "/spec/template/spec/containers/0/name",
            json!("my_app"),
        ));
        assert_eq!(
            hits(&findings),
            [("container-name", "/spec/template/spec/containers/0/name")]
        );
        assert!(findings[0].hint.contains("\"my-app\""));
    }

    #[test]
    fn rejects_app_container_named_like_an_init_container() {
        let object = with(
            "/spec/template/spec/initContainers",
            json!([{"name": "nginx", "image": "busybox"}]),
        );
        let findings = names(&object);
        assert_eq!(
            hits(&findings),
            [("container-name", "/spec/template/spec/containers/0/name")]
        );
        assert!(findings[0].message.contains("initContainers[0]"));
    }

    #[test]
    fn accepts_distinct_container_names() {
        let object = with(
            "/spec/template/spec/initContainers",
            json!([{"name": "init", "image": "busybox"}]),
        );
        assert_eq!(hits(&names(&object)), []);
    }

    #[test]
    fn rejects_container_without_name() {
        let object = with(
            "/spec/template/spec/containers/0",
            json!({"image": "nginx"}),
        );
        assert_eq!(
            hits(&names(&object)),
            [("container-name", "/spec/template/spec/containers/0/name")]
        );
    }

    // port-name

    #[test]
    fn rejects_invalid_port_names() {
        for name in ["web--x", "a-very-long-name", "8080", "-web", "Web"] {
            let object = with("/spec/template/spec/containers/0/ports/0/name", json!(name));
            assert_eq!(
                hits(&names(&object)),
                [("port-name", "/spec/template/spec/containers/0/ports/0/name")],
                "{name}"
            );
        }
    }

    #[test]
    fn accepts_port_name_of_15_characters_and_unnamed_ports() {
        let object = with(
            "/spec/template/spec/containers/0/ports",
            json!([
                {"containerPort": 80, "name": "web-metrics-123"},
                {"containerPort": 81},
                {"containerPort": 82, "name": "h2c", "protocol": "UDP", "hostPort": 0}
            ]),
        );
        assert_eq!(hits(&names(&object)), []);
    }

    #[test]
    fn rejects_duplicate_port_name_in_one_container() {
        let object = with(
            "/spec/template/spec/containers/0/ports",
            json!([{"containerPort": 80, "name": "web"}, {"containerPort": 81, "name": "web"}]),
        );
        assert_eq!(
            hits(&names(&object)),
            [("port-name", "/spec/template/spec/containers/0/ports/1/name")]
        );
    }

    #[test]
    fn accepts_same_port_name_in_two_containers() {
        let object = with(
            "/spec/template/spec/containers/1",
            json!({"name": "sidecar", "ports": [{"containerPort": 81, "name": "web"}]}),
        );
        assert_eq!(hits(&names(&object)), []);
    }

    #[test]
    fn rejects_port_numbers_out_of_range_and_unknown_protocol() {
        let object = with(
            "/spec/template/spec/containers/0/ports",
            json!([
                {"containerPort": 0},
                {"containerPort": 65536},
                {"name": "no-number"},
                {"containerPort": 80, "hostPort": 70000},
                {"containerPort": 80, "protocol": "tcp"}
            ]),
        );
        let findings = names(&object);
        let base = "/spec/template/spec/containers/0/ports";
        assert_eq!(
            hits(&findings),
            [
                ("port-name", format!("{base}/0/containerPort").as_str()),
                ("port-name", format!("{base}/1/containerPort").as_str()),
                ("port-name", format!("{base}/2/containerPort").as_str()),
                ("port-name", format!("{base}/3/hostPort").as_str()),
                ("port-name", format!("{base}/4/protocol").as_str()),
            ]
        );
        assert_eq!(findings[4].hint, "write \"TCP\"");
    }

    #[test]
    fn accepts_ports_65535_and_1() {
        let object = with(
            "/spec/template/spec/containers/0/ports",
            json!([{"containerPort": 65535, "hostPort": 1, "protocol": "SCTP"}]),
        );
        assert_eq!(hits(&names(&object)), []);
    }

    // volume-name

    #[test]
    fn rejects_invalid_and_duplicate_volume_names() {
        let object = with(
            "/spec/template/spec/volumes",
            json!([
                {"name": "config", "emptyDir": {}},
                {"name": "Config", "emptyDir": {}},
                {"name": "config", "emptyDir": {}},
                {"emptyDir": {}}
            ]),
        );
        assert_eq!(
            hits(&names(&object)),
            [
                ("volume-name", "/spec/template/spec/volumes/1/name"),
                ("volume-name", "/spec/template/spec/volumes/2/name"),
                ("volume-name", "/spec/template/spec/volumes/3/name"),
            ]
        );
    }

    #[test]
    fn rejects_duplicate_claim_template_names() {
        let mut object = crate::engine::rules::testing::web();
        let claim = object["spec"]["volumeClaimTemplates"][0].clone();
        object["spec"]["volumeClaimTemplates"]
            .as_array_mut()
            .unwrap()
            .push(claim);
        assert_eq!(
            hits(&names(&object)),
            [("volume-name", "/spec/volumeClaimTemplates/1/metadata/name")]
        );
    }

    #[test]
    fn accepts_volume_named_like_a_claim_template() {
        // Shadowing is `claim-template-shadows-volume`'s business, not a duplicate.
        let object = with(
            "/spec/template/spec/volumes",
            json!([{"name": "www", "emptyDir": {}}]),
        );
        assert_eq!(hits(&names(&object)), []);
    }

    #[test]
    fn rejects_claim_template_without_name() {
        let object = with("/spec/volumeClaimTemplates/0/metadata", json!({}));
        assert_eq!(
            hits(&names(&object)),
            [("volume-name", "/spec/volumeClaimTemplates/0/metadata/name")]
        );
    }

    // hostile input

    #[test]
    fn survives_wrong_types_everywhere() {
        let objects = [
            json!({"metadata": []}),
            json!({"metadata": {"name": 5}, "spec": []}),
            json!({"metadata": {"name": "web"}, "spec": {
                "replicas": "two",
                "serviceName": ["nginx"],
                "ordinals": {"start": "one"},
                "volumeClaimTemplates": [5, {"metadata": []}, {"metadata": {"name": 3}}],
                "template": {"spec": {
                    "containers": {},
                    "initContainers": [7, {"name": {}}, {"name": "x", "ports": {}}],
                    "volumes": "none"
                }}
            }}),
            json!({"metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": [
                {"name": "a", "ports": [1, {"name": 2, "containerPort": "80", "hostPort": [],
                    "protocol": 6}]}
            ]}}}}),
            json!([]),
            json!(null),
        ];
        for object in &objects {
            let _ = names(object);
        }
        assert!(!has(&names(&objects[0]), "name-format", "/metadata/name"));
    }

    #[test]
    fn describes_why_a_name_is_invalid() {
        assert_eq!(dns1123_label_problem("web-0"), None);
        assert_eq!(
            dns1035_label_problem("0web").as_deref(),
            Some("it starts with '0', not a letter")
        );
        assert_eq!(
            dns1123_subdomain_problem("a..b").as_deref(),
            Some("it has an empty part between dots")
        );
        assert_eq!(
            dns1123_subdomain_problem("a.-b"),
            Some("it starts with '-', not a letter or digit".into())
        );
        assert_eq!(
            dns1123_label_problem("wéb"),
            Some("it contains 'é' (only lowercase letters, digits and '-' are allowed)".into())
        );
        assert_eq!(suggest_label("My__DB!"), Some("my-db".into()));
        assert_eq!(suggest_label("__"), None);
    }
}

//! Rules against the cluster (SPEC §8): the objects a StatefulSet refers to must exist, and
//! its pods must fit a node.
//!
//! None of this is checked by the API server: a StatefulSet naming a StorageClass, a
//! PriorityClass, a ServiceAccount or a ConfigMap that does not exist is admitted, and then
//! its PVCs stay `Pending`, its pods are refused (`FailedCreate`) or stuck in
//! `CreateContainerConfigError`, or stay `Pending` because no node is large enough. Each rule
//! speaks only when the cluster's objects of its kind are known (`Known`); objects in the same
//! input count as present. The rules default to warnings: the missing object is often created
//! right after the StatefulSet (`kubectl apply -f dir/` goes in file order), and an
//! autoscaler may add a node that fits.
//!
//! The governing Service's rules (`service-missing`, `service-headless`, `service-selector`)
//! live in `services.rs`.

use crate::engine::catalog::RuleId;
use crate::engine::cluster::nodes::{Fit, Placement, Refused, Requirement, Term, Toleration};
use crate::engine::cluster::{Inventory, Lookup, NamespacedNames};
use crate::engine::doc::Doc;
use crate::engine::finding::Finding;
use crate::engine::quantity::Quantity;
use crate::engine::rules::Cx;
use crate::engine::suggest;
use crate::engine::view::{
    Container, ContainerKind, StatefulSet, at, escape_token, get, list, map_of, str_of,
};

/// Runs this family's rules.
pub fn check(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    claim_templates_name_existing_classes(sts, cx, out);
    pods_fit_a_node(sts, cx, out);
    priority_class_exists(sts, cx, out);
    runtime_class_exists(sts, cx, out);
    service_account_exists(sts, cx, out);
    referenced_objects_exist(sts, cx, out);
}

/// " (did you mean "x"?)" when a known name is a plausible typo of `name`.
fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    suggest::closest(name, candidates)
        .map(|found| format!(" (did you mean {found:?}?)"))
        .unwrap_or_default()
}

/// `storage-class-missing` and `storage-class-no-default`: a claim's StorageClass decides
/// which provisioner makes its volume. A class that does not exist, or no class and no
/// default class, leaves every PVC of the StatefulSet `Pending` and its pods unscheduled.
fn claim_templates_name_existing_classes(
    sts: &StatefulSet<'_>,
    cx: &Cx<'_>,
    out: &mut Vec<Finding>,
) {
    if sts.claim_templates().is_empty() {
        return;
    }
    let Some(has_default) = cx.known.has_default_storage_class() else {
        return;
    };
    // Written only for a finding: the names of every class, for the message.
    let names = || -> Vec<&str> {
        cx.known
            .storage_classes()
            .unwrap_or_default()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    };
    for (index, claim) in sts.claim_templates().iter().enumerate() {
        let spec = get(claim, "spec");
        let path = || format!("/spec/volumeClaimTemplates/{index}/spec/storageClassName");
        let claim_name = at(claim, &["metadata", "name"])
            .and_then(Doc::as_str)
            .unwrap_or("?");
        match spec.and_then(|spec| get(spec, "storageClassName")) {
            // `""` asks for no class at all: the claim binds to a pre-created PV.
            Some(Doc::String(name)) if name.is_empty() => {}
            Some(Doc::String(name)) => {
                if cx.known.storage_class(name) == Lookup::Missing {
                    let names = names();
                    out.push(Finding::new(
                        RuleId::StorageClassMissing,
                        path(),
                        format!(
                            "claim template {claim_name:?} names StorageClass {name:?}, which the \
                             cluster does not have{}: its PVCs stay Pending and the pods are \
                             never scheduled",
                            did_you_mean(name, names.iter().copied())
                        ),
                        format!(
                            "use one of the cluster's classes ({}), or create StorageClass \
                             {name:?} first; claim templates cannot change after creation",
                            list_or_none(&names)
                        ),
                    ));
                }
            }
            // A non-string class is the `schema` rule's business.
            Some(_) => {}
            None if cx.settings.defaults.storage_class_name.is_some() || has_default => {}
            None => out.push(Finding::new(
                RuleId::StorageClassNoDefault,
                path(),
                format!(
                    "claim template {claim_name:?} names no StorageClass and the cluster has \
                     no default class: nothing provisions its PVCs, which stay Pending"
                ),
                format!(
                    "set storageClassName to one of the cluster's classes ({}), or mark one \
                     as the default (annotation storageclass.kubernetes.io/is-default-class: \
                     \"true\")",
                    list_or_none(&names())
                ),
            )),
        }
    }
}

/// `a, b, c` (at most eight), or `none`.
fn list_or_none(names: &[&str]) -> String {
    match names.len() {
        0 => "it has none".to_string(),
        1..=8 => names.join(", "),
        more => format!("{}, and {} more", names[..8].join(", "), more - 8),
    }
}

/// `priority-class-missing`: the controller's pod creation is refused by the Priority
/// admission plugin (`no PriorityClass with name x was found`): `FailedCreate`, forever.
fn priority_class_exists(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let Some(name) = str_of(sts.pod, "priorityClassName").filter(|n| !n.is_empty()) else {
        return;
    };
    if cx.known.priority_class(name) != Lookup::Missing {
        return;
    }
    let candidates = cx
        .known
        .cluster
        .and_then(|c| c.priority_classes.as_deref())
        .into_iter()
        .flat_map(|names| names.iter());
    out.push(Finding::new(
        RuleId::PriorityClassMissing,
        "/spec/template/spec/priorityClassName",
        format!(
            "PriorityClass {name:?} does not exist{}: the API server refuses every pod of \
             this StatefulSet (FailedCreate)",
            did_you_mean(name, candidates)
        ),
        format!("create PriorityClass {name:?}, or name an existing one"),
    ));
}

/// `runtime-class-missing`: the RuntimeClass admission plugin refuses a pod naming a
/// RuntimeClass that does not exist (`pod rejected: RuntimeClass "nvidia" not found`), so every
/// pod creation fails. GPU pods commonly name one (`runtimeClassName: nvidia`), which exists
/// only where the GPU operator installed it.
fn runtime_class_exists(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let Some(name) = str_of(sts.pod, "runtimeClassName").filter(|n| !n.is_empty()) else {
        return;
    };
    if cx.known.runtime_class(name) != Lookup::Missing {
        return;
    }
    let candidates: Vec<&str> = cx
        .known
        .cluster
        .and_then(|c| c.runtime_classes.as_deref())
        .into_iter()
        .flat_map(|names| names.iter())
        .collect();
    out.push(Finding::new(
        RuleId::RuntimeClassMissing,
        "/spec/template/spec/runtimeClassName",
        format!(
            "RuntimeClass {name:?} does not exist{}: the API server refuses every pod of this \
             StatefulSet (FailedCreate)",
            did_you_mean(name, candidates.iter().copied())
        ),
        format!(
            "name one of the cluster's RuntimeClasses ({}), or install the runtime that \
             provides {name:?} (for nvidia, the GPU operator)",
            list_or_none(&candidates)
        ),
    ));
}

/// `service-account-missing`: pods naming a ServiceAccount that does not exist are refused
/// at creation (`FailedCreate: serviceaccount "x" not found`). Only an explicit name other
/// than `default` is checked: every namespace has `default`.
fn service_account_exists(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    // `serviceAccount` is the deprecated spelling, still honoured when the new one is unset.
    let (field, name) = match str_of(sts.pod, "serviceAccountName") {
        Some(name) if !name.is_empty() => ("serviceAccountName", name),
        _ => match str_of(sts.pod, "serviceAccount") {
            Some(name) if !name.is_empty() => ("serviceAccount", name),
            _ => return,
        },
    };
    if name == "default" || cx.known.service_account(cx.namespace, name) != Lookup::Missing {
        return;
    }
    let candidates = cx
        .known
        .names_in(|i| i.service_accounts.as_deref(), cx.namespace);
    out.push(Finding::new(
        RuleId::ServiceAccountMissing,
        format!("/spec/template/spec/{field}"),
        format!(
            "ServiceAccount {name:?} does not exist in namespace {}{}: the API server refuses \
             every pod of this StatefulSet (FailedCreate)",
            cx.namespace,
            did_you_mean(name, candidates)
        ),
        format!(
            "create ServiceAccount {name:?} in namespace {} before the StatefulSet",
            cx.namespace
        ),
    ));
}

/// A reference to a ConfigMap or a Secret, as pods make them. Its path and description are
/// written only for a finding: the webhook checks every reference of every StatefulSet.
struct Reference<'a> {
    kind: RefKind,
    name: &'a str,
    place: Place<'a>,
    /// The member under `place` holding the name (`name`, `secretName`).
    key: &'static str,
}

/// Where in the pod template a reference sits.
enum Place<'a> {
    /// `volumes[v].configMap` or `.secret`.
    Volume { volume: usize, name: &'a str },
    /// `volumes[v].projected.sources[s]`.
    Projected {
        volume: usize,
        name: &'a str,
        source: usize,
    },
    /// `envFrom[e]` of a container.
    EnvFrom(Container<'a>, usize),
    /// `env[e].valueFrom` of a container, for variable `variable`.
    Env(Container<'a>, usize, &'a str),
}

impl Reference<'_> {
    fn path(&self) -> String {
        let field = match self.kind {
            RefKind::ConfigMap => "configMap",
            RefKind::Secret => "secret",
        };
        let base = match &self.place {
            Place::Volume { volume, .. } => format!("/spec/template/spec/volumes/{volume}/{field}"),
            Place::Projected { volume, source, .. } => {
                format!("/spec/template/spec/volumes/{volume}/projected/sources/{source}/{field}")
            }
            Place::EnvFrom(container, e) => format!(
                "{}/envFrom/{e}/{}",
                container.path(),
                match self.kind {
                    RefKind::ConfigMap => "configMapRef",
                    RefKind::Secret => "secretRef",
                }
            ),
            Place::Env(container, e, _) => format!(
                "{}/env/{e}/valueFrom/{}",
                container.path(),
                match self.kind {
                    RefKind::ConfigMap => "configMapKeyRef",
                    RefKind::Secret => "secretKeyRef",
                }
            ),
        };
        format!("{base}/{}", self.key)
    }

    /// `volume "conf"`, `container "app"`, `container "app", variable PASSWORD`.
    fn what(&self) -> String {
        match &self.place {
            Place::Volume { name, .. } | Place::Projected { name, .. } => {
                format!("volume {name:?}")
            }
            Place::EnvFrom(container, _) => container_label(container),
            Place::Env(container, _, variable) => {
                format!("{}, variable {variable}", container_label(container))
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RefKind {
    ConfigMap,
    Secret,
}

impl RefKind {
    fn rule(self) -> RuleId {
        match self {
            RefKind::ConfigMap => RuleId::ConfigMapMissing,
            RefKind::Secret => RuleId::SecretMissing,
        }
    }

    fn title(self) -> &'static str {
        match self {
            RefKind::ConfigMap => "ConfigMap",
            RefKind::Secret => "Secret",
        }
    }

    fn names(self) -> fn(&Inventory) -> Option<&NamespacedNames> {
        match self {
            RefKind::ConfigMap => |i| i.config_maps.as_deref(),
            RefKind::Secret => |i| i.secrets.as_deref(),
        }
    }
}

/// Whether a reference is marked `optional: true` (then a missing object is fine).
fn is_optional(reference: &Doc<'_>) -> bool {
    get(reference, "optional").and_then(Doc::as_bool) == Some(true)
}

/// The non-optional ConfigMap and Secret references of the pod template: volumes, projected
/// sources, `envFrom` and `env[].valueFrom`.
fn references<'a>(sts: &StatefulSet<'a>) -> Vec<Reference<'a>> {
    let mut found = Vec::new();
    let mut push = |kind, source: &'a Doc<'a>, key, place| {
        if let Some(name) = str_of(source, key).filter(|n| !n.is_empty())
            && !is_optional(source)
        {
            found.push(Reference {
                kind,
                name,
                place,
                key,
            });
        }
    };
    for (volume, spec) in sts.volumes().iter().enumerate() {
        let name = str_of(spec, "name").unwrap_or("?");
        if let Some(source) = get(spec, "configMap") {
            push(
                RefKind::ConfigMap,
                source,
                "name",
                Place::Volume { volume, name },
            );
        }
        if let Some(source) = get(spec, "secret") {
            push(
                RefKind::Secret,
                source,
                "secretName",
                Place::Volume { volume, name },
            );
        }
        let sources = get(spec, "projected")
            .map(|p| list(p, "sources"))
            .unwrap_or_default();
        for (source, projection) in sources.iter().enumerate() {
            let place = || Place::Projected {
                volume,
                name,
                source,
            };
            if let Some(reference) = get(projection, "configMap") {
                push(RefKind::ConfigMap, reference, "name", place());
            }
            if let Some(reference) = get(projection, "secret") {
                push(RefKind::Secret, reference, "name", place());
            }
        }
    }
    for container in sts.containers() {
        for (e, source) in list(container.value, "envFrom").iter().enumerate() {
            if let Some(reference) = get(source, "configMapRef") {
                push(
                    RefKind::ConfigMap,
                    reference,
                    "name",
                    Place::EnvFrom(container, e),
                );
            }
            if let Some(reference) = get(source, "secretRef") {
                push(
                    RefKind::Secret,
                    reference,
                    "name",
                    Place::EnvFrom(container, e),
                );
            }
        }
        for (e, variable) in list(container.value, "env").iter().enumerate() {
            let Some(from) = get(variable, "valueFrom") else {
                continue;
            };
            let place = || Place::Env(container, e, str_of(variable, "name").unwrap_or("?"));
            if let Some(reference) = get(from, "configMapKeyRef") {
                push(RefKind::ConfigMap, reference, "name", place());
            }
            if let Some(reference) = get(from, "secretKeyRef") {
                push(RefKind::Secret, reference, "name", place());
            }
        }
    }
    found
}

/// `container "app"` or `init container "setup"`.
fn container_label(container: &Container<'_>) -> String {
    match container.kind {
        ContainerKind::Init => format!("init {}", container.label()),
        ContainerKind::App => container.label(),
    }
}

/// `config-map-missing` and `secret-missing`: a pod referring to a ConfigMap or a Secret that
/// does not exist never starts: `CreateContainerConfigError` (env) or a volume that never
/// mounts (`ContainerCreating`), unless the reference is `optional: true`.
fn referenced_objects_exist(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for reference in references(sts) {
        let kind = reference.kind;
        let lookup = match kind {
            RefKind::ConfigMap => cx.known.config_map(cx.namespace, reference.name),
            RefKind::Secret => cx.known.secret(cx.namespace, reference.name),
        };
        if lookup != Lookup::Missing {
            continue;
        }
        let name = reference.name;
        let candidates = cx.known.names_in(kind.names(), cx.namespace);
        out.push(Finding::new(
            kind.rule(),
            reference.path(),
            format!(
                "{} {name:?} ({}) does not exist in namespace {}{}: the pods never start \
                 (CreateContainerConfigError, or a volume that never mounts)",
                kind.title(),
                reference.what(),
                cx.namespace,
                did_you_mean(name, candidates)
            ),
            format!(
                "create {} {name:?} in namespace {} before the StatefulSet, or mark the \
                 reference optional: true if the pods can run without it",
                kind.title(),
                cx.namespace
            ),
        ));
    }
}

/// Amounts per resource, in the order first seen: a pod asks for a handful of resources, so
/// a list searched in place beats a map (this runs on every StatefulSet the webhook sees).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Amounts<'a>(Vec<(&'a str, Quantity)>);

impl<'a> Amounts<'a> {
    fn slot(&mut self, resource: &'a str) -> &mut Quantity {
        let index = match self.0.iter().position(|(r, _)| *r == resource) {
            Some(index) => index,
            None => {
                self.0.push((resource, Quantity::ZERO));
                self.0.len() - 1
            }
        };
        &mut self.0[index].1
    }

    fn add(&mut self, resource: &'a str, amount: Quantity) {
        let sum = self.slot(resource);
        *sum = sum.saturating_add(amount);
    }

    fn add_all(&mut self, more: &Amounts<'a>) {
        for &(resource, amount) in &more.0 {
            self.add(resource, amount);
        }
    }

    fn raise_all(&mut self, candidate: &Amounts<'a>) {
        for &(resource, amount) in &candidate.0 {
            let peak = self.slot(resource);
            *peak = (*peak).max(amount);
        }
    }
}

/// What one container asks of each resource: its request, else its limit (the API server
/// copies a limit into a missing request). Each amount is parsed once.
fn container_requests<'a>(container: &'a Doc<'a>, into: &mut Amounts<'a>) {
    let resources = get(container, "resources");
    let requests = resources.and_then(|r| map_of(r, "requests"));
    let limits = resources.and_then(|r| map_of(r, "limits"));
    let limited = limits
        .into_iter()
        .flat_map(|limits| limits.iter())
        .filter(|(resource, _)| requests.is_none_or(|requests| !requests.contains_key(resource)));
    for (resource, amount) in requests.into_iter().flat_map(|r| r.iter()).chain(limited) {
        // A malformed quantity is `schema`'s or `extended-resource-integer`'s business.
        if let Ok(quantity) = Quantity::from_json(amount) {
            into.add(resource, quantity);
        }
    }
}

/// The pod's requests as the scheduler sums them (`PodRequests`), per resource: the larger
/// of the app containers plus the sidecars, and of each init container plus the sidecars
/// started before it (KEP-753).
fn pod_requests<'a>(sts: &StatefulSet<'a>) -> Vec<(&'a str, Quantity)> {
    let mut sidecars = Amounts::default();
    let mut init_peak = Amounts::default();
    for init in list(sts.pod, ContainerKind::Init.field()) {
        let mut asked = Amounts::default();
        container_requests(init, &mut asked);
        let mut running = sidecars.clone();
        running.add_all(&asked);
        init_peak.raise_all(&running);
        if str_of(init, "restartPolicy") == Some("Always") {
            sidecars.add_all(&asked);
        }
    }
    let mut app = sidecars;
    for container in list(sts.pod, ContainerKind::App.field()) {
        container_requests(container, &mut app);
    }
    app.raise_all(&init_peak);
    app.0.retain(|(_, amount)| amount.is_positive());
    // By name, not in the order written: the API server sends resources sorted, a file
    // need not, and the message names them in this order (webhook/CLI parity).
    app.0.sort_unstable_by_key(|(resource, _)| *resource);
    app.0
}

/// The pod template's nodeSelector, required node affinity and tolerations.
fn placement<'a>(sts: &StatefulSet<'a>) -> Placement<'a> {
    let node_selector = map_of(sts.pod, "nodeSelector")
        .map(|selector| {
            selector
                .iter()
                .filter_map(|(key, value)| Some((key, value.as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let requirements = |term: &'a Doc<'a>, key: &str| -> Vec<Requirement<'a>> {
        list(term, key)
            .iter()
            .map(|r| Requirement {
                key: str_of(r, "key").unwrap_or_default(),
                operator: str_of(r, "operator").unwrap_or_default(),
                values: list(r, "values").iter().filter_map(Doc::as_str).collect(),
            })
            .collect()
    };
    let required_terms = at(
        sts.pod,
        &[
            "affinity",
            "nodeAffinity",
            "requiredDuringSchedulingIgnoredDuringExecution",
        ],
    )
    .map(|required| {
        list(required, "nodeSelectorTerms")
            .iter()
            .map(|term| Term {
                expressions: requirements(term, "matchExpressions"),
                fields: requirements(term, "matchFields"),
            })
            .collect()
    });
    let tolerations = list(sts.pod, "tolerations")
        .iter()
        .map(|t| Toleration {
            key: str_of(t, "key").unwrap_or_default(),
            operator: str_of(t, "operator").unwrap_or_default(),
            value: str_of(t, "value").unwrap_or_default(),
            effect: str_of(t, "effect").unwrap_or_default(),
        })
        .collect();
    Placement {
        node_selector,
        required_terms,
        tolerations,
    }
}

/// `3 ruled out by the nodeSelector or required node affinity, 1 by taints the pod does not
/// tolerate (such as gpu-a1: dedicated=gpu:NoSchedule)`
fn ruled_out(refused: &Refused<'_>) -> String {
    let mut reasons = Vec::new();
    if refused.by_selector > 0 {
        reasons.push(format!(
            "{} ruled out by the nodeSelector or required node affinity",
            refused.by_selector
        ));
    }
    if refused.by_taints > 0 {
        let example = refused
            .example_taint
            .map(|(node, taint)| format!(" (such as {node}: {taint})"))
            .unwrap_or_default();
        reasons.push(format!(
            "{} by taints the pod does not tolerate{example}",
            refused.by_taints
        ));
    }
    if reasons.is_empty() {
        reasons.push("none is ruled out".to_string());
    }
    reasons.join(", ")
}

/// Whether amounts of this resource are bytes (shown as `64Gi`).
fn is_bytes(resource: &str) -> bool {
    matches!(resource, "memory" | "ephemeral-storage") || resource.starts_with("hugepages-")
}

fn shown(resource: &str, amount: Quantity) -> String {
    amount.to_short_string(is_bytes(resource))
}

/// Where a resource is asked for: the container asking the most of it.
fn resource_path(sts: &StatefulSet<'_>, resource: &str) -> String {
    let mut best: Option<(Quantity, String)> = None;
    for container in sts.containers() {
        let resources = get(container.value, "resources");
        for section in ["requests", "limits"] {
            let Some(amount) = resources
                .and_then(|r| map_of(r, section))
                .and_then(|m| m.get(resource))
                .and_then(|a| Quantity::from_json(a).ok())
            else {
                continue;
            };
            if best.as_ref().is_none_or(|(most, _)| amount > *most) {
                best = Some((
                    amount,
                    format!(
                        "{}/resources/{section}/{}",
                        container.path(),
                        escape_token(resource)
                    ),
                ));
            }
            break;
        }
    }
    best.map_or_else(
        || "/spec/template/spec/containers".to_string(),
        |(_, path)| path,
    )
}

/// `node-fit`: a pod that no node can take stays Pending for as long as the nodes stay as they
/// are (`0/12 nodes are available: 12 Insufficient nvidia.com/gpu`). What other pods already
/// use is left out: that changes by the second; the question is whether the pod could ever
/// be scheduled on today's nodes.
fn pods_fit_a_node(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let Some(nodes) = cx.known.nodes() else {
        return;
    };
    let requests = pod_requests(sts);
    let placement = placement(sts);
    let (path, message, hint) = match nodes.fit(&requests, &placement) {
        Fit::Fits | Fit::NoNodes => return,
        Fit::NotAdvertised(resources) => (
            resource_path(sts, &resources[0]),
            format!(
                "no node of the cluster ({} nodes) advertises {}: the pods stay Pending",
                nodes.len(),
                resources.join(", ")
            ),
            "install the device plugin that advertises it, add nodes that have it, or ask for \
             a resource the nodes offer (for MIG, a profile the GPUs are partitioned into)"
                .to_string(),
        ),
        Fit::NoEligibleNode {
            nodes: total,
            refused,
        } => {
            let path = if refused.by_selector >= refused.by_taints {
                if get(sts.pod, "nodeSelector").is_some() {
                    "/spec/template/spec/nodeSelector"
                } else {
                    "/spec/template/spec/affinity/nodeAffinity"
                }
            } else {
                "/spec/template/spec/tolerations"
            };
            (
                path.to_string(),
                format!(
                    "no node may run these pods: of {total} nodes, {}; the pods stay Pending",
                    ruled_out(&refused)
                ),
                "match the labels of an existing node pool, or tolerate its taints".to_string(),
            )
        }
        Fit::TooSmall {
            shortfalls,
            refused,
        } => {
            let what: Vec<String> = shortfalls
                .iter()
                .map(|s| {
                    let asked = shown(&s.resource, s.asked);
                    if s.offered.is_positive() {
                        format!(
                            "the largest eligible node, {}, offers {} {}; each pod asks {asked}",
                            s.node,
                            shown(&s.resource, s.offered),
                            s.resource,
                        )
                    } else {
                        format!(
                            "no eligible node offers {} (each pod asks {asked}); of the other \
                             nodes, {}",
                            s.resource,
                            ruled_out(&refused)
                        )
                    }
                })
                .collect();
            (
                resource_path(sts, &shortfalls[0].resource),
                format!(
                    "no node can hold a pod: {}; the pods stay Pending",
                    what.join("; ")
                ),
                "ask for less per pod (more replicas, smaller pods), select and tolerate the \
                 node pool that has the resource, or add larger nodes"
                    .to_string(),
            )
        }
        Fit::NotTogether { eligible } => {
            let asked: Vec<String> = requests
                .iter()
                .map(|(resource, amount)| format!("{} {resource}", shown(resource, *amount)))
                .collect();
            (
                "/spec/template/spec/containers".to_string(),
                format!(
                    "none of the {eligible} eligible nodes offers {} at once, though each is \
                     offered by some node; the pods stay Pending",
                    asked.join(", ")
                ),
                "size the pods to one node type, or add nodes that have it all".to_string(),
            )
        }
    };
    out.push(Finding::new(RuleId::NodeFit, path, message, hint));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::*;
    use crate::engine::cluster::nodes::{HOSTNAME_LABEL, Taint};
    use crate::engine::cluster::{Known, Names, Node, Nodes, StorageClass, StorageClasses};
    use crate::engine::normalize;
    use crate::engine::rules::testing::{self, hits};

    /// A cluster with one default class `standard`, `fast`, PriorityClass `high`, in
    /// `default`: ServiceAccount `app`, ConfigMap `settings`, Secret `token`; a tainted GPU
    /// node and a general one.
    fn cluster() -> Inventory {
        let mut classes = StorageClasses::default();
        classes.insert("standard", StorageClass { is_default: true });
        classes.insert("fast", StorageClass { is_default: false });
        let mut priority = Names::default();
        priority.insert("high");
        let mut runtimes = Names::default();
        runtimes.insert("nvidia");
        let named = |name: &str| {
            let mut names = NamespacedNames::default();
            names.insert("default", name);
            Some(Arc::new(names))
        };
        let quantity = |text: &str| Quantity::parse(text).unwrap();
        let mut gpu = Node {
            name: "gpu-a1".into(),
            labels: [
                ("pool".into(), "gpu".into()),
                (HOSTNAME_LABEL.into(), "gpu-a1".into()),
            ]
            .into(),
            allocatable: [
                ("cpu".into(), quantity("63")),
                ("memory".into(), quantity("500Gi")),
                ("nvidia.com/gpu".into(), quantity("2")),
                ("nvidia.com/mig-1g.10gb".into(), quantity("7")),
            ]
            .into(),
            ..Node::default()
        };
        gpu.taints.push(Taint {
            key: "dedicated".into(),
            value: "gpu".into(),
            effect: "NoSchedule".into(),
        });
        let general = Node {
            name: "cpu-1".into(),
            labels: [("pool".into(), "cpu".into())].into(),
            allocatable: [
                ("cpu".into(), quantity("8")),
                ("memory".into(), quantity("32Gi")),
            ]
            .into(),
            ..Node::default()
        };
        Inventory {
            storage_classes: Some(Arc::new(classes)),
            priority_classes: Some(Arc::new(priority)),
            runtime_classes: Some(Arc::new(runtimes)),
            service_accounts: named("app"),
            config_maps: named("settings"),
            secrets: named("token"),
            nodes: Some(Arc::new(Nodes::new([gpu, general]))),
            services: None,
        }
    }

    fn run_in(object: &Value, cluster: &Inventory, policy: Value) -> Vec<Finding> {
        let known = Known::new(None, Some(cluster));
        testing::run_known(check, object, &testing::policy(policy), known)
    }

    fn run(object: &Value) -> Vec<Finding> {
        run_in(object, &cluster(), json!({}))
    }

    /// `web` with changes at a JSON Pointer.
    fn web_with(changes: &[(&str, Value)]) -> Value {
        let mut web = testing::web();
        for (pointer, value) in changes {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let parent = web.pointer_mut(parent).unwrap();
            match parent {
                Value::Array(items) => items[key.parse::<usize>().unwrap()] = value.clone(),
                _ => parent[key] = value.clone(),
            }
        }
        web
    }

    #[test]
    fn web_in_a_cluster_that_has_everything_says_nothing() {
        assert_eq!(run(&testing::web()), []);
    }

    #[test]
    fn says_nothing_about_kinds_the_cluster_does_not_know() {
        let web = web_with(&[
            (
                "/spec/volumeClaimTemplates/0/spec/storageClassName",
                json!("gold"),
            ),
            ("/spec/template/spec/priorityClassName", json!("urgent")),
        ]);
        assert_eq!(run_in(&web, &Inventory::default(), json!({})), []);
    }

    #[test]
    fn reports_a_storage_class_the_cluster_does_not_have() {
        let web = web_with(&[(
            "/spec/volumeClaimTemplates/0/spec/storageClassName",
            json!("fats"),
        )]);
        let findings = run(&web);
        assert_eq!(
            hits(&findings),
            [(
                "storage-class-missing",
                "/spec/volumeClaimTemplates/0/spec/storageClassName"
            )]
        );
        assert!(
            findings[0].message.contains("did you mean \"fast\"?"),
            "{}",
            findings[0].message
        );
        assert!(
            findings[0].hint.contains("fast, standard"),
            "{}",
            findings[0].hint
        );
    }

    #[test]
    fn accepts_an_existing_class_and_an_explicit_empty_one() {
        for class in ["fast", ""] {
            let web = web_with(&[(
                "/spec/volumeClaimTemplates/0/spec/storageClassName",
                json!(class),
            )]);
            assert_eq!(run(&web), [], "{class:?}");
        }
    }

    #[test]
    fn reports_a_claim_without_class_when_the_cluster_has_no_default() {
        let mut cluster = cluster();
        let mut classes = StorageClasses::default();
        classes.insert("fast", StorageClass { is_default: false });
        cluster.storage_classes = Some(Arc::new(classes));
        assert_eq!(
            hits(&run_in(&testing::web(), &cluster, json!({}))),
            [(
                "storage-class-no-default",
                "/spec/volumeClaimTemplates/0/spec/storageClassName"
            )]
        );
        // The policy fills a class: the mutating webhook pins it, nothing is left unset.
        let policy = json!({"defaults": {"storageClassName": "fast"}});
        assert_eq!(run_in(&testing::web(), &cluster, policy), []);
    }

    #[test]
    fn reports_a_missing_priority_class_service_account_config_map_and_secret() {
        let mut web = web_with(&[
            ("/spec/template/spec/priorityClassName", json!("hihg")),
            ("/spec/template/spec/serviceAccountName", json!("ap")),
            (
                "/spec/template/spec/volumes",
                json!([{"name": "conf", "configMap": {"name": "setings"}},
                       {"name": "creds", "projected": {"sources": [{"secret": {"name": "tokne"}}]}}]),
            ),
        ]);
        web["spec"]["template"]["spec"]["containers"][0]["env"] = json!([
            {"name": "A", "valueFrom": {"secretKeyRef": {"name": "other", "key": "k"}}},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "k"}}}
        ]);
        web["spec"]["template"]["spec"]["containers"][0]["envFrom"] =
            json!([{"configMapRef": {"name": "gone"}}]);
        let findings = run(&web);
        assert_eq!(
            hits(&findings),
            [
                (
                    "priority-class-missing",
                    "/spec/template/spec/priorityClassName"
                ),
                (
                    "service-account-missing",
                    "/spec/template/spec/serviceAccountName"
                ),
                (
                    "config-map-missing",
                    "/spec/template/spec/volumes/0/configMap/name"
                ),
                (
                    "secret-missing",
                    "/spec/template/spec/volumes/1/projected/sources/0/secret/name"
                ),
                (
                    "config-map-missing",
                    "/spec/template/spec/containers/0/envFrom/0/configMapRef/name"
                ),
                (
                    "secret-missing",
                    "/spec/template/spec/containers/0/env/0/valueFrom/secretKeyRef/name"
                ),
            ]
        );
        assert!(findings[0].message.contains("did you mean \"high\"?"));
        assert!(findings[1].message.contains("did you mean \"app\"?"));
        assert!(findings[2].message.contains("did you mean \"settings\"?"));
    }

    #[test]
    fn reports_a_runtime_class_the_cluster_does_not_have() {
        let findings = run(&web_with(&[(
            "/spec/template/spec/runtimeClassName",
            json!("nvidai"),
        )]));
        assert_eq!(
            hits(&findings),
            [(
                "runtime-class-missing",
                "/spec/template/spec/runtimeClassName"
            )]
        );
        assert!(findings[0].message.contains("did you mean \"nvidia\"?"));
        let existing = web_with(&[("/spec/template/spec/runtimeClassName", json!("nvidia"))]);
        assert_eq!(run(&existing), []);
    }

    #[test]
    fn existing_classes_and_accounts_are_fine() {
        let web = web_with(&[
            ("/spec/template/spec/priorityClassName", json!("high")),
            ("/spec/template/spec/serviceAccountName", json!("app")),
            (
                "/spec/template/spec/volumes",
                json!([{"name": "conf", "configMap": {"name": "settings"}},
                       {"name": "creds", "secret": {"secretName": "token"}}]),
            ),
        ]);
        assert_eq!(run(&web), []);
    }

    #[test]
    fn optional_references_and_the_default_service_account_are_fine() {
        let mut web = web_with(&[
            ("/spec/template/spec/serviceAccountName", json!("default")),
            (
                "/spec/template/spec/volumes",
                json!([{"name": "conf", "configMap": {"name": "gone", "optional": true}}]),
            ),
        ]);
        web["spec"]["template"]["spec"]["containers"][0]["envFrom"] =
            json!([{"secretRef": {"name": "gone", "optional": true}}]);
        assert_eq!(run(&web), []);
    }

    fn gpu_pod(limits: Value, extra: &[(&str, Value)]) -> Value {
        let mut web = web_with(extra);
        web["spec"]["template"]["spec"]["containers"][0]["resources"] = json!({"limits": limits});
        web
    }

    /// Tolerates the GPU node's taint.
    fn tolerating() -> [(&'static str, Value); 1] {
        [(
            "/spec/template/spec/tolerations",
            json!([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]),
        )]
    }

    #[test]
    fn node_fit_names_the_best_offer() {
        let findings = run(&gpu_pod(json!({"nvidia.com/gpu": 4}), &tolerating()));
        assert_eq!(
            hits(&findings),
            [(
                "node-fit",
                "/spec/template/spec/containers/0/resources/limits/nvidia.com~1gpu"
            )]
        );
        assert!(
            findings[0].message.contains(
                "the largest eligible node, gpu-a1, offers 2 nvidia.com/gpu; each pod asks 4"
            ),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn node_fit_accepts_what_a_node_offers() {
        // Two GPUs, or a MIG profile the node advertises, with its taint tolerated.
        assert_eq!(
            run(&gpu_pod(json!({"nvidia.com/gpu": 2}), &tolerating())),
            []
        );
        assert_eq!(
            run(&gpu_pod(
                json!({"nvidia.com/mig-1g.10gb": 1}),
                &tolerating()
            )),
            []
        );
        let [toleration] = tolerating();
        let selecting = [
            toleration,
            ("/spec/template/spec/nodeSelector", json!({"pool": "gpu"})),
        ];
        assert_eq!(
            run(&gpu_pod(
                json!({"cpu": "60", "memory": "400Gi"}),
                &selecting
            )),
            []
        );
    }

    #[test]
    fn node_fit_reports_a_profile_no_node_advertises_and_an_untolerated_taint() {
        let findings = run(&gpu_pod(json!({"nvidia.com/mig-3g.40gb": 1}), &[]));
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0]
                .message
                .contains("advertises nvidia.com/mig-3g.40gb"),
            "{}",
            findings[0].message
        );
        // The only GPU node is tainted: the eligible node has no GPU.
        let findings = run(&gpu_pod(json!({"nvidia.com/gpu": 1}), &[]));
        assert_eq!(
            hits(&findings),
            [(
                "node-fit",
                "/spec/template/spec/containers/0/resources/limits/nvidia.com~1gpu"
            )]
        );
        assert!(
            findings[0].message.contains(
                "no eligible node offers nvidia.com/gpu (each pod asks 1); of the other nodes, \
                 1 by taints the pod does not tolerate (such as gpu-a1: dedicated=gpu:NoSchedule)"
            ),
            "{}",
            findings[0].message
        );
        let findings = run(&gpu_pod(
            json!({"cpu": "1"}),
            &[("/spec/template/spec/nodeSelector", json!({"pool": "arm"}))],
        ));
        assert_eq!(
            hits(&findings),
            [("node-fit", "/spec/template/spec/nodeSelector")]
        );
        assert!(
            findings[0]
                .message
                .contains("of 2 nodes, 2 ruled out by the nodeSelector")
        );
    }

    #[test]
    fn pod_requests_follow_the_scheduler() {
        let mut web = testing::web();
        web["spec"]["template"]["spec"]["initContainers"] = json!([
            {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}},
            {"name": "setup", "resources": {"requests": {"cpu": "4", "memory": "1Gi"}}}
        ]);
        web["spec"]["template"]["spec"]["containers"][0]["resources"] =
            json!({"requests": {"cpu": "2"}, "limits": {"memory": "2Gi", "cpu": "3"}});
        let normalized = normalize::apply(&web);
        let doc = Doc::from(&normalized);
        let asked = pod_requests(&StatefulSet::new(&doc));
        let q = |t: &str| Quantity::parse(t).unwrap();
        // cpu: max(app 2 + sidecar 1, setup 4 + sidecar 1) = 5; memory: max(2Gi, 1Gi).
        assert_eq!(asked, [("cpu", q("5")), ("memory", q("2Gi"))]);
    }
}

//! Every rule stsguard knows, with its default severity: the rule table of SPEC §3 as data.
//!
//! The README's rule list, the policy schema's rule names and `stsguard explain` all come
//! from (or are checked against) this table.

use crate::engine::severity::Severity;

/// Rule families, one file each under `engine/rules/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Syntax,
    Names,
    Volumes,
    Gpu,
    Spec,
    Services,
    Cluster,
    Update,
}

impl Family {
    pub fn title(self) -> &'static str {
        match self {
            Family::Syntax => "Input",
            Family::Names => "Names",
            Family::Volumes => "Volumes and claim templates",
            Family::Gpu => "GPUs and other extended resources",
            Family::Spec => "Spec sanity",
            Family::Services => "The governing Service",
            Family::Cluster => "Against the cluster",
            Family::Update => "Updates",
        }
    }
}

/// One rule of the catalog.
#[derive(Debug)]
pub struct Rule {
    pub id: &'static str,
    pub family: Family,
    pub severity: Severity,
    /// One line: what the rule checks.
    pub summary: &'static str,
    /// What goes wrong in a cluster when the rule is ignored.
    pub breaks: &'static str,
}

use Family::*;
use Severity::{Error as E, Warning as W};

macro_rules! rules {
    ($($id:literal, $family:ident, $sev:ident, $summary:literal, $breaks:literal;)*) => {
        /// The catalog, in the order of SPEC §3.
        pub static RULES: &[Rule] = &[
            $(Rule { id: $id, family: $family, severity: $sev, summary: $summary, breaks: $breaks },)*
        ];
    };
}

rules! {
    "yaml-syntax", Syntax, E,
        "the input document is valid YAML (offline only)",
        "kubectl and the API server refuse the whole file";
    "name-format", Names, E,
        "metadata.name is a DNS-1123 label: lowercase alphanumerics and '-', alphanumeric at both ends, at most 63 characters",
        "the pod hostname is invalid and pods are never created";
    "name-length", Names, E,
        "metadata.name is at most 52 characters, and pod names (name-ordinal) at most 63",
        "the controller-revision-hash label exceeds 63 characters: FailedCreate on every pod";
    "pvc-name", Names, E,
        "every claim name <claim>-<name>-<ordinal> is a DNS-1123 subdomain of at most 253 characters",
        "PVC creation fails and the pod waits forever";
    "service-name", Names, E,
        "spec.serviceName is set and is a DNS-1035 label",
        "pods get an invalid subdomain, or no stable network identity";
    "container-name", Names, E,
        "container and init-container names are DNS-1123 labels, unique across both lists",
        "the pod is rejected";
    "port-name", Names, E,
        "port names are IANA service names unique per container; ports 1-65535; protocol TCP, UDP or SCTP",
        "the pod is rejected";
    "volume-name", Names, E,
        "pod volumes and claim templates have DNS-1123 label names, unique within each list",
        "the pod is rejected";
    "volume-mount-unknown", Volumes, E,
        "every volumeMount and volumeDevice names a pod volume or a claim template",
        "the pod is rejected: volumeMounts[0].name: Not found";
    "claim-template-unused", Volumes, W,
        "every claim template is mounted by some container",
        "a PVC per replica is created and billed for nothing";
    "claim-template-shadows-volume", Volumes, W,
        "no pod volume has the name of a claim template",
        "the controller silently replaces the pod volume with the claim";
    "mount-path-duplicate", Volumes, E,
        "no two mounts of one container share a mountPath",
        "the pod is rejected";
    "sub-path", Volumes, E,
        "subPath and subPathExpr are relative, without '..', and not both set",
        "the pod is rejected";
    "claim-template-access-modes", Volumes, E,
        "claim templates have valid access modes; ReadWriteOncePod stands alone",
        "the PVC is rejected";
    "claim-template-storage", Volumes, E,
        "claim templates request storage with a valid quantity greater than zero",
        "the PVC is rejected";
    "claim-template-volume-mode", Volumes, E,
        "a Block claim is used only in volumeDevices, a Filesystem claim only in volumeMounts",
        "the kubelet fails to start the pod";
    "claim-template-storage-class", Volumes, W,
        "claim templates name a storage class, or the policy fills one",
        "PVCs follow whatever the cluster default class is at scale-up time";
    "extended-resource-integer", Gpu, E,
        "extended resources (GPUs and other domain-qualified resources) are whole numbers",
        "the pod is rejected";
    "extended-resource-limits", Gpu, E,
        "extended resources are not requested without limits, and requests equal limits",
        "the pod is rejected: extended resources cannot be overcommitted";
    "gpu-count", Gpu, E,
        "whole GPUs per pod do not exceed the policy's gpu.maxPerNode",
        "no node can hold the pod: it stays Pending forever";
    "gpu-mig-profile", Gpu, E,
        "MIG resources name a profile of an allowed GPU model, within its instance count",
        "no node advertises the resource: the pod stays Pending forever";
    "gpu-mixed", Gpu, E,
        "a container does not mix whole GPUs with MIG devices, or two MIG profiles",
        "which device the container sees is undefined";
    "gpu-vgpu", Gpu, E,
        "HAMi vGPU resources are in range (gpucores and gpumem-percentage 0-100, gpumem positive MiB)",
        "the HAMi scheduler rejects or mis-sizes the pod";
    "gpu-annotations", Gpu, E,
        "HAMi and NVIDIA scheduling annotations hold known values",
        "the scheduler ignores or rejects the pod's GPU placement";
    "gpu-init-container", Gpu, W,
        "init containers do not request GPUs",
        "GPUs are held during init, then reused by app containers";
    "selector", Spec, E,
        "spec.selector is present, non-empty and matches the template labels",
        "the API server rejects the object";
    "update-strategy", Spec, E,
        "updateStrategy is RollingUpdate or OnDelete with valid partition and maxUnavailable",
        "the API server rejects the object";
    "partition-exceeds-replicas", Spec, W,
        "a RollingUpdate partition is not beyond the last ordinal",
        "no pod receives a template change";
    "pod-management-policy", Spec, E,
        "podManagementPolicy is OrderedReady or Parallel",
        "the API server rejects the object";
    "replicas", Spec, E,
        "replicas, revisionHistoryLimit, minReadySeconds and ordinals.start are not negative",
        "the API server rejects the object";
    "restart-policy", Spec, E,
        "the pod template's restartPolicy is Always and activeDeadlineSeconds is unset",
        "the API server rejects the object";
    "termination-grace", Spec, W,
        "terminationGracePeriodSeconds is within the policy's bounds",
        "pods are killed before they shut down cleanly, or block rollouts for hours";
    "dns-config", Spec, E,
        "dnsPolicy None comes with nameservers; at most 3 nameservers and the policy's search-domain limit",
        "the pod is rejected";
    "api-version", Spec, E,
        "StatefulSets use apps/v1 (apps/v1beta1 and v1beta2 were removed in Kubernetes 1.16)",
        "the API server does not know the version: the object is refused";
    "schema", Spec, E,
        "the object matches the StatefulSet OpenAPI schema: wrong types are errors, unknown fields warnings",
        "the API server refuses wrong types and silently drops unknown fields";
    "service-missing", Services, W,
        "the Service named by serviceName exists in the StatefulSet's namespace (cluster-aware)",
        "the pods get no DNS records: <pod>.<service> does not resolve";
    "service-headless", Services, E,
        "the Service named by serviceName is headless (clusterIP: None)",
        "pods get no per-pod DNS records";
    "service-selector", Services, E,
        "the governing Service's selector matches the pod template labels",
        "the Service selects no pods of the StatefulSet: no DNS records";
    "storage-class-missing", Cluster, W,
        "claim templates name a StorageClass the cluster has",
        "the PVCs stay Pending and the pods are never scheduled";
    "storage-class-no-default", Cluster, W,
        "a claim template without storageClassName has a default StorageClass to fall back on",
        "nothing provisions the PVCs: they stay Pending";
    "node-fit", Cluster, W,
        "some node the pod may run on (selector, affinity, taints) has the resources one pod requests",
        "the pods stay Pending: 0/N nodes are available, Insufficient nvidia.com/gpu";
    "priority-class-missing", Cluster, W,
        "the pod template's priorityClassName exists",
        "the API server refuses every pod: FailedCreate";
    "runtime-class-missing", Cluster, W,
        "the pod template's runtimeClassName exists",
        "the API server refuses every pod: FailedCreate";
    "service-account-missing", Cluster, W,
        "an explicit serviceAccountName other than default exists in the namespace",
        "the API server refuses every pod: FailedCreate";
    "config-map-missing", Cluster, W,
        "ConfigMaps the pods refer to without optional: true exist (volumes, projected, envFrom, env)",
        "the pods never start: CreateContainerConfigError or a volume that never mounts";
    "secret-missing", Cluster, W,
        "Secrets the pods refer to without optional: true exist (with --cluster-secrets)",
        "the pods never start: CreateContainerConfigError or a volume that never mounts";
    "immutable-field", Update, E,
        "an update changes only the fields the API server lets change",
        "the API server rejects the update with an opaque message";
}

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.id == id)
}

/// The catalog severity of a rule id; `Error` for ids not in the catalog (a programming
/// error caught by the catalog tests).
pub fn default_severity(id: &str) -> Severity {
    find(id).map_or(Severity::Error, |rule| rule.severity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for rule in RULES {
            assert!(seen.insert(rule.id), "duplicate rule id {}", rule.id);
            assert!(
                rule.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}",
                rule.id
            );
        }
    }
}

//! Rules: volumes and claim templates (SPEC §3).
//!
//! The API server validates neither a StatefulSet's pod template nor its claim templates
//! (up to 1.33 the call is commented out in `ValidatePodTemplateSpecForStatefulSet`), so
//! every mistake below is accepted with the StatefulSet and fails later, away from the user:
//! the controller's pod or PVC create is rejected (a `FailedCreate` event, retried forever),
//! or the kubelet cannot set the volume up and the pod hangs in `ContainerCreating`.
//!
//! Names resolve as the controller resolves them: a claim template wins over a pod volume of
//! the same name (`updateStorage` in `pkg/controller/statefulset/stateful_set_utils.go`
//! drops the pod volume and adds the claim).

use std::collections::{HashMap, HashSet};

use crate::engine::catalog::RuleId;
use crate::engine::doc::{Doc, Members};

use crate::engine::finding::Finding;
use crate::engine::quantity::Quantity;
use crate::engine::rules::Cx;
use crate::engine::view::{Container, StatefulSet, get, list, str_of};

/// Access modes a PersistentVolumeClaim may ask for (`core.PersistentVolumeAccessMode`).
const ACCESS_MODES: [&str; 4] = [
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];

/// Runs this family's rules.
pub fn check(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let claims = claim_templates(sts);
    let mounts = mounts(sts);
    mounts_name_known_volumes(sts, &claims, &mounts, out);
    claim_templates_are_mounted(sts, &claims, &mounts, out);
    claim_templates_do_not_shadow_volumes(sts, &claims, out);
    mount_paths_are_unique(sts, out);
    sub_paths_stay_inside_the_volume(&mounts, out);
    claim_access_modes_are_valid(&claims, out);
    claim_storage_is_requested(&claims, out);
    claim_volume_modes_match_their_use(&claims, &mounts, out);
    claim_storage_class_is_pinned(&claims, cx, out);
}

/// One entry of `spec.volumeClaimTemplates`.
struct ClaimTemplate<'a> {
    index: usize,
    name: Option<&'a str>,
    /// `spec`, when it is an object.
    spec: Option<&'a Members<'a>>,
}

impl ClaimTemplate<'_> {
    fn path(&self) -> String {
        format!("/spec/volumeClaimTemplates/{}", self.index)
    }

    fn label(&self) -> String {
        match self.name {
            Some(name) => format!("claim template \"{name}\""),
            None => format!("volumeClaimTemplates[{}]", self.index),
        }
    }

    /// `spec.volumeMode`: `Some("Filesystem")` when unset (the API default), `None` when it
    /// has the wrong type.
    fn volume_mode(&self) -> Option<&str> {
        match self.spec?.get("volumeMode") {
            None | Some(Doc::Null) => Some("Filesystem"),
            Some(mode) => mode.as_str(),
        }
    }
}

fn claim_templates<'a>(sts: &StatefulSet<'a>) -> Vec<ClaimTemplate<'a>> {
    sts.claim_templates()
        .iter()
        .enumerate()
        .map(|(index, claim)| ClaimTemplate {
            index,
            name: get(claim, "metadata").and_then(|m| str_of(m, "name")),
            spec: get(claim, "spec").and_then(Doc::as_object),
        })
        .collect()
}

/// Which list of a container a mount comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MountKind {
    /// `volumeMounts`: a filesystem mounted at `mountPath`.
    Filesystem,
    /// `volumeDevices`: a raw block device at `devicePath`.
    Device,
}

impl MountKind {
    fn field(self) -> &'static str {
        match self {
            MountKind::Filesystem => "volumeMounts",
            MountKind::Device => "volumeDevices",
        }
    }

    /// The member holding the mount's path in the container.
    fn path_key(self) -> &'static str {
        match self {
            MountKind::Filesystem => "mountPath",
            MountKind::Device => "devicePath",
        }
    }
}

/// One entry of a container's `volumeMounts` or `volumeDevices`.
struct Mount<'a> {
    container: Container<'a>,
    kind: MountKind,
    index: usize,
    value: &'a Doc<'a>,
}

impl<'a> Mount<'a> {
    /// `/spec/template/spec/containers/0/volumeMounts/1`
    fn path(&self) -> String {
        format!(
            "{}/{}/{}",
            self.container.path(),
            self.kind.field(),
            self.index
        )
    }

    /// `volumeMounts[1]`
    fn label(&self) -> String {
        format!("{}[{}]", self.kind.field(), self.index)
    }

    fn name(&self) -> Option<&'a str> {
        str_of(self.value, "name")
    }
}

/// Every mount and device of every container, init containers included.
fn mounts<'a>(sts: &StatefulSet<'a>) -> Vec<Mount<'a>> {
    sts.containers()
        .flat_map(|container| {
            [MountKind::Filesystem, MountKind::Device]
                .into_iter()
                .flat_map(move |kind| {
                    list(container.value, kind.field()).iter().enumerate().map(
                        move |(index, value)| Mount {
                            container,
                            kind,
                            index,
                            value,
                        },
                    )
                })
        })
        .collect()
}

/// `(index, name)` of each pod volume with a string name.
fn pod_volumes<'a>(sts: &StatefulSet<'a>) -> impl Iterator<Item = (usize, &'a str)> {
    sts.volumes()
        .iter()
        .enumerate()
        .filter_map(|(index, volume)| Some((index, str_of(volume, "name")?)))
}

/// `volume-mount-unknown`: a mount must name a pod volume or a claim template. The pod
/// validation the controller's create runs into says `volumeMounts[0].name: Not found`,
/// and the controller retries forever.
fn mounts_name_known_volumes(
    sts: &StatefulSet<'_>,
    claims: &[ClaimTemplate<'_>],
    mounts: &[Mount<'_>],
    out: &mut Vec<Finding>,
) {
    let known: Vec<&str> = pod_volumes(sts)
        .map(|(_, name)| name)
        .chain(claims.iter().filter_map(|claim| claim.name))
        .collect();
    for mount in mounts {
        // A missing or non-string name is the schema rule's to report.
        let Some(name) = mount.name() else { continue };
        if known.contains(&name) {
            continue;
        }
        let suggestion = crate::engine::suggest::closest(name, known.iter().copied())
            .map(|close| format!("did you mean \"{close}\"? "))
            .unwrap_or_default();
        let defined = if known.is_empty() {
            "none is defined".to_string()
        } else {
            format!("defined: {}", quoted_list(&known))
        };
        out.push(Finding::new(
            RuleId::VolumeMountUnknown,
            format!("{}/name", mount.path()),
            format!(
                "{} {} names volume \"{name}\", but the pod has no volume and the StatefulSet \
                 no claim template of that name; the controller's pod creation is rejected \
                 ({}.name: Not found) and no replica starts",
                mount.container.label(),
                mount.label(),
                mount.label(),
            ),
            format!(
                "{suggestion}correct the name ({defined}), or add a volume \"{name}\" to \
                 spec.template.spec.volumes or a claim template to spec.volumeClaimTemplates"
            ),
        ));
    }
}

/// `claim-template-unused`: the controller creates a PVC per claim template and replica
/// whether or not a container mounts it. A mount in an init container counts (restoring a
/// backup into the volume is a use).
fn claim_templates_are_mounted(
    sts: &StatefulSet<'_>,
    claims: &[ClaimTemplate<'_>],
    mounts: &[Mount<'_>],
    out: &mut Vec<Finding>,
) {
    let mounted: HashSet<&str> = mounts.iter().filter_map(Mount::name).collect();
    let sts_name = sts.name().unwrap_or("<name>");
    for claim in claims {
        let Some(name) = claim.name else { continue };
        if mounted.contains(name) {
            continue;
        }
        out.push(Finding::new(
            RuleId::ClaimTemplateUnused,
            format!("{}/metadata/name", claim.path()),
            format!(
                "claim template \"{name}\" is mounted by no container; the controller still \
                 creates a PersistentVolumeClaim ({name}-{sts_name}-0, {name}-{sts_name}-1, …) \
                 for every replica, provisioned and billed for nothing"
            ),
            format!(
                "mount it (volumeMounts or volumeDevices with name: {name}) or remove the claim \
                 template; claim templates cannot change on an existing StatefulSet, so that \
                 means `kubectl delete sts {sts_name} --cascade=orphan` and re-creating it"
            ),
        ));
    }
}

/// `claim-template-shadows-volume`: the controller replaces a pod volume that has a claim
/// template's name with the claim, silently (`updateStorage`). The seed example `mysql.yaml`
/// has a `data` volume pointing at a claim named `data` that is never used.
fn claim_templates_do_not_shadow_volumes(
    sts: &StatefulSet<'_>,
    claims: &[ClaimTemplate<'_>],
    out: &mut Vec<Finding>,
) {
    let sts_name = sts.name().unwrap_or("<name>");
    for (index, name) in pod_volumes(sts) {
        let Some(claim) = claims.iter().find(|claim| claim.name == Some(name)) else {
            continue;
        };
        out.push(Finding::new(
            RuleId::ClaimTemplateShadowsVolume,
            format!("/spec/template/spec/volumes/{index}/name"),
            format!(
                "pod volume \"{name}\" has the name of claim template \"{name}\" ({}); the \
                 controller replaces the volume with the replica's claim \
                 ({name}-{sts_name}-<ordinal>), so this volume definition is ignored",
                claim.path()
            ),
            format!(
                "remove volume \"{name}\" from spec.template.spec.volumes (mounts of \"{name}\" \
                 get the claim), or rename it if it was meant to be a different volume"
            ),
        ));
    }
}

/// `mount-path-duplicate`: pod validation requires unique `mountPath`s and `devicePath`s in
/// a container, and no path used as both (`validateVolumeMounts`, `validateVolumeDevices`).
/// Compared exactly, as the API server does.
fn mount_paths_are_unique(sts: &StatefulSet<'_>, out: &mut Vec<Finding>) {
    for container in sts.containers() {
        // path → (kind, index) of its first use; named only for a finding
        let mut seen: HashMap<&str, (MountKind, usize)> = HashMap::new();
        for kind in [MountKind::Filesystem, MountKind::Device] {
            let key = kind.path_key();
            for (index, mount) in list(container.value, kind.field()).iter().enumerate() {
                let Some(path) = str_of(mount, key) else {
                    continue;
                };
                let Some(&(first_kind, first_index)) = seen.get(path) else {
                    seen.insert(path, (kind, index));
                    continue;
                };
                let here = format!("{}[{index}].{key}", kind.field());
                let first = format!(
                    "{}[{first_index}].{}",
                    first_kind.field(),
                    first_kind.path_key()
                );
                let api_says = if first_kind == kind {
                    "must be unique"
                } else {
                    "can not be used in both volumeMounts and volumeDevices"
                };
                out.push(Finding::new(
                    RuleId::MountPathDuplicate,
                    format!("{}/{}/{index}/{key}", container.path(), kind.field()),
                    format!(
                        "{} uses path \"{path}\" twice ({first} and {here}); the pod is \
                         rejected ({key}: {api_says}) and no replica starts",
                        container.label()
                    ),
                    format!(
                        "give {here} its own path, or drop one of the two if they mount the \
                         same thing"
                    ),
                ));
            }
        }
    }
}

/// `sub-path`: `subPath`/`subPathExpr` must stay inside the volume — relative, with no `..`
/// element — and only one of them may be set (`validateLocalDescendingPath`,
/// `validatePathNoBacksteps`; a `..` escape was CVE-2017-1002101).
fn sub_paths_stay_inside_the_volume(mounts: &[Mount<'_>], out: &mut Vec<Finding>) {
    for mount in mounts.iter().filter(|m| m.kind == MountKind::Filesystem) {
        let sub_path = str_of(mount.value, "subPath").filter(|s| !s.is_empty());
        let sub_path_expr = str_of(mount.value, "subPathExpr").filter(|s| !s.is_empty());
        if let (Some(sub_path), Some(expr)) = (sub_path, sub_path_expr) {
            out.push(Finding::new(
                RuleId::SubPath,
                format!("{}/subPathExpr", mount.path()),
                format!(
                    "{} {} sets both subPath \"{sub_path}\" and subPathExpr \"{expr}\"; they are \
                     mutually exclusive and the pod is rejected",
                    mount.container.label(),
                    mount.label()
                ),
                "keep subPathExpr if the path uses $(VAR) expansion, otherwise keep subPath",
            ));
        }
        for (key, value) in [("subPath", sub_path), ("subPathExpr", sub_path_expr)] {
            let Some(value) = value else { continue };
            let problem = if value.starts_with('/') {
                "is an absolute path (it must be relative to the volume's root)"
            } else if value.split('/').any(|element| element == "..") {
                "contains '..' (it must not leave the volume)"
            } else {
                continue;
            };
            out.push(Finding::new(
                RuleId::SubPath,
                format!("{}/{key}", mount.path()),
                format!(
                    "{} {} {key} \"{value}\" {problem}; the pod is rejected and no replica starts",
                    mount.container.label(),
                    mount.label()
                ),
                format!(
                    "write {key} relative to the volume, without '..', e.g. \"{}\"",
                    suggest_relative(value)
                ),
            ));
        }
    }
}

/// `claim-template-access-modes`: PVC validation needs at least one known access mode, and
/// ReadWriteOncePod cannot be combined with another one.
fn claim_access_modes_are_valid(claims: &[ClaimTemplate<'_>], out: &mut Vec<Finding>) {
    for claim in claims {
        let Some(spec) = claim.spec else { continue };
        let path = || format!("{}/spec/accessModes", claim.path());
        let modes = match spec.get("accessModes") {
            None | Some(Doc::Null) => &[][..],
            Some(Doc::Array(modes)) => modes.as_slice(),
            Some(_) => continue,
        };
        if modes.is_empty() {
            out.push(Finding::new(
                RuleId::ClaimTemplateAccessModes,
                path(),
                format!(
                    "{} has no accessModes; the controller's PVC create is rejected (at least \
                     1 access mode is required) and the replica never starts",
                    claim.label()
                ),
                "add accessModes: [ReadWriteOnce] (one node mounts the volume read-write; the \
                 usual choice for a StatefulSet)",
            ));
            continue;
        }
        let names: Vec<(usize, &str)> = modes
            .iter()
            .enumerate()
            .filter_map(|(i, mode)| Some((i, mode.as_str()?)))
            .collect();
        for &(i, mode) in &names {
            if !ACCESS_MODES.contains(&mode) {
                out.push(Finding::new(
                    RuleId::ClaimTemplateAccessModes,
                    format!("{}/{i}", path()),
                    format!(
                        "{} asks for access mode \"{mode}\", which does not exist; the PVC is \
                         rejected and the replica never starts",
                        claim.label()
                    ),
                    format!("use one of {}", ACCESS_MODES.join(", ")),
                ));
            }
        }
        let distinct: HashSet<&str> = names.iter().map(|&(_, mode)| mode).collect();
        if let Some(&(i, _)) = names.iter().find(|&&(_, m)| m == "ReadWriteOncePod")
            && distinct.len() > 1
        {
            out.push(Finding::new(
                RuleId::ClaimTemplateAccessModes,
                format!("{}/{i}", path()),
                format!(
                    "{} combines ReadWriteOncePod with {}; ReadWriteOncePod may not be \
                     combined with other access modes, so the PVC is rejected",
                    claim.label(),
                    quoted_list(
                        &names
                            .iter()
                            .map(|&(_, m)| m)
                            .filter(|&m| m != "ReadWriteOncePod")
                            .collect::<Vec<_>>()
                    )
                ),
                "use accessModes: [ReadWriteOncePod] alone, or drop it",
            ));
        }
    }
}

/// `claim-template-storage`: PVC validation requires `resources.requests.storage`, a
/// quantity greater than zero.
fn claim_storage_is_requested(claims: &[ClaimTemplate<'_>], out: &mut Vec<Finding>) {
    for claim in claims {
        let Some(spec) = claim.spec else { continue };
        let path = format!("{}/spec/resources/requests/storage", claim.path());
        // Missing levels mean "not requested"; levels of the wrong type are the schema
        // rule's to report.
        let requests = match spec.get("resources") {
            None | Some(Doc::Null) => None,
            Some(Doc::Object(resources)) => match resources.get("requests") {
                None | Some(Doc::Null) => None,
                Some(Doc::Object(requests)) => Some(requests),
                Some(_) => continue,
            },
            Some(_) => continue,
        };
        let problem = match requests.and_then(|r| r.get("storage")) {
            None | Some(Doc::Null) => "requests no storage".to_string(),
            Some(storage) => match Quantity::from_json(storage) {
                Err(e) if e.is_wrong_type() => continue,
                Err(e) => format!("requests storage {storage}, which is not a quantity ({e})"),
                Ok(size) if !size.is_positive() => {
                    format!("requests storage {storage}; it must be greater than zero")
                }
                Ok(_) => continue,
            },
        };
        out.push(Finding::new(
            RuleId::ClaimTemplateStorage,
            path,
            format!(
                "{} {problem}; the controller's PVC create is rejected and the replica never \
                 starts",
                claim.label()
            ),
            "set spec.resources.requests.storage to the volume size, e.g. 10Gi",
        ));
    }
}

/// `claim-template-volume-mode`: the kubelet refuses a Block volume in `volumeMounts` and a
/// Filesystem volume in `volumeDevices` ("volume X has volumeMode Block, but is specified in
/// volumeMounts", `desired_state_of_world_populator.go`); the pod hangs in
/// `ContainerCreating` with `FailedMount`.
fn claim_volume_modes_match_their_use(
    claims: &[ClaimTemplate<'_>],
    mounts: &[Mount<'_>],
    out: &mut Vec<Finding>,
) {
    let mut modes: HashMap<&str, &str> = HashMap::new();
    for claim in claims {
        let Some(mode) = claim.volume_mode() else {
            continue;
        };
        if mode != "Filesystem" && mode != "Block" {
            out.push(Finding::new(
                RuleId::ClaimTemplateVolumeMode,
                format!("{}/spec/volumeMode", claim.path()),
                format!(
                    "{} has volumeMode \"{mode}\"; only Filesystem and Block exist, so the PVC \
                     is rejected and the replica never starts",
                    claim.label()
                ),
                "use volumeMode: Filesystem (mounted with volumeMounts) or Block (a raw device \
                 with volumeDevices)",
            ));
            continue;
        }
        if let Some(name) = claim.name {
            modes.entry(name).or_insert(mode);
        }
    }
    for mount in mounts {
        let Some(name) = mount.name() else { continue };
        let Some(&mode) = modes.get(name) else {
            continue;
        };
        let (wrong, fix) = match (mount.kind, mode) {
            (MountKind::Filesystem, "Block") => (
                "a Block claim (a raw device without a filesystem) in volumeMounts",
                format!(
                    "move it to volumeDevices with a devicePath, or give claim template \
                     \"{name}\" volumeMode: Filesystem"
                ),
            ),
            (MountKind::Device, "Filesystem") => (
                "a Filesystem claim in volumeDevices",
                format!(
                    "move it to volumeMounts with a mountPath, or give claim template \
                     \"{name}\" volumeMode: Block"
                ),
            ),
            _ => continue,
        };
        out.push(Finding::new(
            RuleId::ClaimTemplateVolumeMode,
            format!("{}/name", mount.path()),
            format!(
                "{} {} uses {wrong} (claim template \"{name}\"); the kubelet refuses it \
                 (volume {name} has volumeMode {mode}, but is specified in {}) and the pod \
                 stays in ContainerCreating",
                mount.container.label(),
                mount.label(),
                mount.kind.field(),
            ),
            fix,
        ));
    }
}

/// `claim-template-storage-class`: without a class, each PVC takes the cluster's default
/// class *at the time it is created*; replicas added after the default changes land on
/// another class. An explicit `""` (bind to pre-provisioned volumes only) is a choice and
/// passes. When the policy has a default, the mutating webhook fills it in.
fn claim_storage_class_is_pinned(
    claims: &[ClaimTemplate<'_>],
    cx: &Cx<'_>,
    out: &mut Vec<Finding>,
) {
    if cx.settings.defaults.storage_class_name.is_some() {
        return;
    }
    for claim in claims {
        let Some(spec) = claim.spec else { continue };
        if spec.get("storageClassName").is_some_and(|v| !v.is_null()) {
            continue;
        }
        out.push(Finding::new(
            RuleId::ClaimTemplateStorageClass,
            format!("{}/spec/storageClassName", claim.path()),
            format!(
                "{} names no storageClassName and the policy has no default to fill it; each \
                 PVC gets whatever the cluster's default StorageClass is when it is created, so \
                 replicas added after that default changes store their data on another class",
                claim.label()
            ),
            "set spec.storageClassName (claim templates cannot change later), or set \
             defaults.storageClassName in the stsguard policy",
        ));
    }
}

/// `"a", "b"`
fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| format!("\"{name}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A relative form of a bad sub path, for the hint.
fn suggest_relative(path: &str) -> String {
    let elements: Vec<&str> = path
        .split('/')
        .filter(|e| !e.is_empty() && *e != "." && *e != "..")
        .collect();
    if elements.is_empty() {
        "data".to_string()
    } else {
        elements.join("/")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::{Value, json};

    use super::check;
    use crate::engine::KubeVersion;
    use crate::engine::catalog::RuleId;
    use crate::engine::finding::Severity;
    use crate::engine::rules::testing::{self, hits, policy, web};

    fn run(object: &Value) -> Vec<crate::engine::finding::Finding> {
        testing::run(check, object)
    }

    /// Findings other than the storage-class warning that `web()` (no class) always has.
    fn run_ignoring_class(object: &Value) -> Vec<(&'static str, String)> {
        run(object)
            .into_iter()
            .filter(|f| f.rule != RuleId::ClaimTemplateStorageClass)
            .map(|f| (f.rule.id(), f.path))
            .collect()
    }

    fn owned(hits: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        hits.iter().map(|&(r, p)| (r, p.to_string())).collect()
    }

    const NGINX: &str = "/spec/template/spec/containers/0";

    #[test]
    fn web_example_has_only_the_storage_class_warning() {
        let findings = run(&web());
        assert_eq!(
            hits(&findings),
            [(
                "claim-template-storage-class",
                "/spec/volumeClaimTemplates/0/spec/storageClassName"
            )]
        );
        assert_eq!(findings[0].severity, Severity::Warning);
    }

    #[test]
    fn rejects_mount_of_unknown_volume() {
        let mut sts = web();
        sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["name"] = json!("wwww");
        let findings = run(&sts);
        let unknown: Vec<_> = findings
            .iter()
            .filter(|f| f.rule == RuleId::VolumeMountUnknown)
            .collect();
        assert_eq!(unknown.len(), 1);
        assert_eq!(unknown[0].path, format!("{NGINX}/volumeMounts/0/name"));
        assert_eq!(unknown[0].severity, Severity::Error);
        assert!(
            unknown[0].message.contains("\"wwww\""),
            "{}",
            unknown[0].message
        );
        assert!(
            unknown[0].hint.contains("did you mean \"www\""),
            "{}",
            unknown[0].hint
        );
    }

    #[test]
    fn accepts_mounts_of_pod_volumes_and_claim_templates() {
        let mut sts = web();
        sts["spec"]["template"]["spec"]["volumes"] = json!([{"name": "cache", "emptyDir": {}}]);
        sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "cache", "mountPath": "/cache"}));
        assert_eq!(run_ignoring_class(&sts), []);
    }

    #[test]
    fn rejects_device_and_init_container_mounts_of_unknown_volumes() {
        let mut sts = web();
        sts["spec"]["template"]["spec"]["initContainers"] = json!([{
            "name": "init",
            "volumeMounts": [{"name": "www", "mountPath": "/w"}, {"name": "seed", "mountPath": "/s"}],
            "volumeDevices": [{"name": "raw", "devicePath": "/dev/xvda"}]
        }]);
        assert_eq!(
            run_ignoring_class(&sts),
            owned(&[
                (
                    "volume-mount-unknown",
                    "/spec/template/spec/initContainers/0/volumeMounts/1/name"
                ),
                (
                    "volume-mount-unknown",
                    "/spec/template/spec/initContainers/0/volumeDevices/0/name"
                ),
            ])
        );
    }

    #[test]
    fn warns_about_a_claim_template_no_container_mounts() {
        let mut sts = web();
        sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = json!([]);
        let findings = run(&sts);
        let unused: Vec<_> = findings
            .iter()
            .filter(|f| f.rule == RuleId::ClaimTemplateUnused)
            .collect();
        assert_eq!(unused.len(), 1);
        assert_eq!(unused[0].path, "/spec/volumeClaimTemplates/0/metadata/name");
        assert_eq!(unused[0].severity, Severity::Warning);
        assert!(
            unused[0].message.contains("www-web-0"),
            "{}",
            unused[0].message
        );
    }

    #[test]
    fn claim_template_mounted_only_by_an_init_container_counts_as_used() {
        let mut sts = web();
        sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = json!([]);
        sts["spec"]["template"]["spec"]["initContainers"] = json!([{
            "name": "restore",
            "volumeMounts": [{"name": "www", "mountPath": "/restore"}]
        }]);
        assert_eq!(run_ignoring_class(&sts), []);
    }

    #[test]
    fn warns_when_a_pod_volume_is_shadowed_by_a_claim_template() {
        let mut sts = web();
        sts["spec"]["template"]["spec"]["volumes"] =
            json!([{"name": "cache", "emptyDir": {}}, {"name": "www", "emptyDir": {}}]);
        let findings = run(&sts);
        let shadow: Vec<_> = findings
            .iter()
            .filter(|f| f.rule == RuleId::ClaimTemplateShadowsVolume)
            .collect();
        assert_eq!(shadow.len(), 1);
        assert_eq!(shadow[0].path, "/spec/template/spec/volumes/1/name");
        assert_eq!(shadow[0].severity, Severity::Warning);
    }

    #[test]
    fn rejects_two_mounts_at_the_same_path_in_one_container() {
        let mut sts = web();
        sts["spec"]["template"]["spec"]["volumes"] = json!([{"name": "cache", "emptyDir": {}}]);
        sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "cache", "mountPath": "/usr/share/nginx/html"}));
        assert_eq!(
            run_ignoring_class(&sts),
            owned(&[(
                "mount-path-duplicate",
                "/spec/template/spec/containers/0/volumeMounts/1/mountPath"
            )])
        );
    }

    #[test]
    fn accepts_the_same_path_in_different_containers() {
        let mut sts = web();
        let nginx = sts["spec"]["template"]["spec"]["containers"][0].clone();
        let mut sidecar = nginx;
        sidecar["name"] = json!("sidecar");
        sts["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(sidecar);
        assert_eq!(run_ignoring_class(&sts), []);
    }

    #[test]
    fn rejects_a_device_path_that_is_also_a_mount_path() {
        let mut sts = web();
        sts["spec"]["template"]["spec"]["volumes"] = json!([{"name": "raw", "ephemeral": {}}]);
        sts["spec"]["template"]["spec"]["containers"][0]["volumeDevices"] =
            json!([{"name": "raw", "devicePath": "/usr/share/nginx/html"}]);
        assert_eq!(
            run_ignoring_class(&sts),
            owned(&[(
                "mount-path-duplicate",
                "/spec/template/spec/containers/0/volumeDevices/0/devicePath"
            )])
        );
        let finding = run(&sts)
            .into_iter()
            .find(|f| f.rule == RuleId::MountPathDuplicate)
            .unwrap();
        assert!(
            finding.message.contains(
                "(volumeMounts[0].mountPath and volumeDevices[0].devicePath); the pod is \
                 rejected (devicePath: can not be used in both volumeMounts and volumeDevices)"
            ),
            "{}",
            finding.message
        );
        assert!(
            finding
                .hint
                .starts_with("give volumeDevices[0].devicePath its own path")
        );
    }

    #[test]
    fn rejects_absolute_and_escaping_sub_paths() {
        let mut sts = web();
        sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = json!([
            {"name": "www", "mountPath": "/a", "subPath": "/etc"},
            {"name": "www", "mountPath": "/b", "subPath": "site/../../secrets"},
            {"name": "www", "mountPath": "/c", "subPathExpr": "$(POD_NAME)/.."},
            {"name": "www", "mountPath": "/d", "subPath": "a", "subPathExpr": "$(POD_NAME)"},
        ]);
        assert_eq!(
            run_ignoring_class(&sts),
            owned(&[
                ("sub-path", &format!("{NGINX}/volumeMounts/0/subPath")),
                ("sub-path", &format!("{NGINX}/volumeMounts/1/subPath")),
                ("sub-path", &format!("{NGINX}/volumeMounts/2/subPathExpr")),
                ("sub-path", &format!("{NGINX}/volumeMounts/3/subPathExpr")),
            ])
        );
    }

    #[test]
    fn accepts_relative_sub_paths_with_dots_in_names() {
        let mut sts = web();
        sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = json!([
            {"name": "www", "mountPath": "/a", "subPath": "site/..hidden/v1..2"},
            {"name": "www", "mountPath": "/b", "subPathExpr": "$(POD_NAME)/data"},
            {"name": "www", "mountPath": "/c", "subPath": "", "subPathExpr": "x"},
        ]);
        assert_eq!(run_ignoring_class(&sts), []);
    }

    #[test]
    fn rejects_missing_unknown_and_combined_access_modes() {
        let mut sts = web();
        let claim = json!({
            "metadata": {"name": "www"},
            "spec": {"resources": {"requests": {"storage": "1Gi"}}}
        });
        let mut claims = vec![claim.clone(), claim.clone(), claim.clone(), claim];
        for (i, claim) in claims.iter_mut().enumerate() {
            claim["metadata"]["name"] = json!(format!("c{i}"));
        }
        claims[1]["spec"]["accessModes"] = json!([]);
        claims[2]["spec"]["accessModes"] = json!(["ReadWriteOnce", "ReadWriteAll"]);
        claims[3]["spec"]["accessModes"] = json!(["ReadWriteOnce", "ReadWriteOncePod"]);
        sts["spec"]["volumeClaimTemplates"] = json!(claims);
        sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = json!([
            {"name": "c0", "mountPath": "/0"}, {"name": "c1", "mountPath": "/1"},
            {"name": "c2", "mountPath": "/2"}, {"name": "c3", "mountPath": "/3"},
        ]);
        assert_eq!(
            run_ignoring_class(&sts),
            owned(&[
                (
                    "claim-template-access-modes",
                    "/spec/volumeClaimTemplates/0/spec/accessModes"
                ),
                (
                    "claim-template-access-modes",
                    "/spec/volumeClaimTemplates/1/spec/accessModes"
                ),
                (
                    "claim-template-access-modes",
                    "/spec/volumeClaimTemplates/2/spec/accessModes/1"
                ),
                (
                    "claim-template-access-modes",
                    "/spec/volumeClaimTemplates/3/spec/accessModes/1"
                ),
            ])
        );
    }

    #[test]
    fn accepts_read_write_once_pod_alone_and_every_known_mode() {
        let mut sts = web();
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] = json!(["ReadWriteOncePod"]);
        assert_eq!(run_ignoring_class(&sts), []);
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] =
            json!(["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany"]);
        assert_eq!(run_ignoring_class(&sts), []);
    }

    #[test]
    fn rejects_missing_invalid_and_zero_storage_requests() {
        for storage in [
            None,
            Some(json!("1.2.3")),
            Some(json!("0")),
            Some(json!("-1Gi")),
        ] {
            let mut sts = web();
            let requests = &mut sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"];
            match &storage {
                None => requests["requests"] = json!({}),
                Some(value) => requests["requests"]["storage"] = value.clone(),
            }
            assert_eq!(
                run_ignoring_class(&sts),
                owned(&[(
                    "claim-template-storage",
                    "/spec/volumeClaimTemplates/0/spec/resources/requests/storage"
                )]),
                "{storage:?}"
            );
        }
        let mut sts = web();
        sts["spec"]["volumeClaimTemplates"][0]["spec"]
            .as_object_mut()
            .unwrap()
            .remove("resources");
        assert_eq!(
            hits(&run(&sts))[0],
            (
                "claim-template-storage",
                "/spec/volumeClaimTemplates/0/spec/resources/requests/storage"
            )
        );
    }

    #[test]
    fn accepts_storage_as_a_number_or_any_positive_quantity() {
        for storage in [json!(1), json!("1n"), json!("500Mi"), json!("1e9")] {
            let mut sts = web();
            sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] =
                storage;
            assert_eq!(run_ignoring_class(&sts), []);
        }
    }

    #[test]
    fn block_claim_in_volume_devices_is_fine() {
        let mut sts = web();
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"] = json!("Block");
        sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = json!([]);
        sts["spec"]["template"]["spec"]["containers"][0]["volumeDevices"] =
            json!([{"name": "www", "devicePath": "/dev/xvda"}]);
        assert_eq!(run_ignoring_class(&sts), []);
    }

    #[test]
    fn rejects_block_claim_in_volume_mounts() {
        let mut sts = web();
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"] = json!("Block");
        assert_eq!(
            run_ignoring_class(&sts),
            owned(&[(
                "claim-template-volume-mode",
                "/spec/template/spec/containers/0/volumeMounts/0/name"
            )])
        );
    }

    #[test]
    fn rejects_filesystem_claim_in_volume_devices() {
        let mut sts = web();
        sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = json!([]);
        sts["spec"]["template"]["spec"]["containers"][0]["volumeDevices"] =
            json!([{"name": "www", "devicePath": "/dev/xvda"}]);
        assert_eq!(
            run_ignoring_class(&sts),
            owned(&[(
                "claim-template-volume-mode",
                "/spec/template/spec/containers/0/volumeDevices/0/name"
            )])
        );
    }

    #[test]
    fn rejects_an_unknown_volume_mode() {
        let mut sts = web();
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"] = json!("block");
        assert_eq!(
            run_ignoring_class(&sts),
            owned(&[(
                "claim-template-volume-mode",
                "/spec/volumeClaimTemplates/0/spec/volumeMode"
            )])
        );
    }

    #[test]
    fn no_storage_class_warning_when_the_class_is_set_or_the_policy_fills_it() {
        let mut sts = web();
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] = json!("fast");
        assert_eq!(hits(&run(&sts)), []);
        // An explicit "" (static binding only) is a deliberate choice.
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] = json!("");
        assert_eq!(hits(&run(&sts)), []);
        let with_default = policy(json!({"defaults": {"storageClassName": "fast"}}));
        let findings = testing::run_with(check, &web(), &with_default, None, KubeVersion::LATEST);
        assert_eq!(hits(&findings), []);
    }

    #[test]
    fn wrong_types_do_not_panic() {
        let mut sts = web();
        let nginx = &mut sts["spec"]["template"]["spec"]["containers"][0];
        nginx["volumeMounts"] = json!({});
        nginx["volumeDevices"] = json!("raw");
        nginx["resources"] = json!("big");
        sts["spec"]["template"]["spec"]["volumes"] = json!([7, {"name": 3}, "x"]);
        sts["spec"]["template"]["spec"]["initContainers"] = json!({"a": 1});
        sts["spec"]["volumeClaimTemplates"] = json!([
            "x",
            {"metadata": "x", "spec": []},
            {"metadata": {"name": 1}, "spec": {"accessModes": "ReadWriteOnce",
                "resources": {"requests": []}, "volumeMode": 5, "storageClassName": 1}},
            {"metadata": {"name": "a"}, "spec": {"accessModes": [1, null],
                "resources": {"requests": {"storage": true}}}},
            {"metadata": {"name": "b"}, "spec": {"resources": "big"}},
        ]);
        let findings = run(&sts);
        // Only the judgeable claim "a" ("b" too) is reported as unused; nothing panics.
        assert!(
            findings
                .iter()
                .all(|f| f.rule != RuleId::VolumeMountUnknown)
        );
        let mut sts = web();
        sts["spec"] = json!("nope");
        assert_eq!(run(&sts), []);
        assert_eq!(run(&json!([1, 2])), []);
    }

    #[test]
    fn mysql_example_only_warns_about_the_shadowed_data_volume() {
        let findings = run(&testing::mysql());
        assert_eq!(
            hits(&findings),
            [(
                "claim-template-shadows-volume",
                "/spec/template/spec/volumes/3/name"
            )]
        );
        assert_eq!(findings[0].severity, Severity::Warning);
    }

    #[test]
    fn gpu_examples_raise_no_volume_errors() {
        for sts in testing::gpu_examples() {
            let findings = run(&sts);
            assert!(
                findings.iter().all(|f| f.severity == Severity::Warning),
                "{findings:?}"
            );
        }
    }
}

//! Rules: GPUs and other extended resources (SPEC §3).
//!
//! An *extended resource* is a resource name with a domain outside `kubernetes.io`
//! (`nvidia.com/gpu`, `amd.com/gpu`, `gpu.intel.com/i915`, `example.com/foo`), advertised by
//! a device plugin. The API server insists that such resources are whole numbers and are
//! never overcommitted, but it only checks that on the pod — for a StatefulSet the controller's
//! pod creation fails, forever. The rest (counts a node can hold, MIG profiles, HAMi vGPU
//! fields and annotations) is never checked by the API server at all: such pods stay Pending
//! or are placed wrongly.
//!
//! Which resources count as **whole GPUs** (`gpu-count`): `nvidia.com/gpu`, `amd.com/gpu`,
//! `gpu.intel.com/i915` and `gpu.intel.com/xe` — one unit is one physical card (with HAMi,
//! one vGPU, each on a distinct card). Not counted: MIG slices (`nvidia.com/mig-*`, checked
//! per profile by `gpu-mig-profile`), time-sliced replicas (`nvidia.com/gpu.shared`), Intel's
//! shared-device resources (`gpu.intel.com/millicores`, `memory.max`, `tiles`) and other
//! accelerators.

use crate::engine::catalog::RuleId;
use crate::engine::doc::{Doc, Members};

use crate::engine::finding::Finding;
use crate::engine::gpu_models::GpuModel;
use crate::engine::quantity::{Quantity, QuantityError};
use crate::engine::rules::Cx;
use crate::engine::view::{Container, ContainerKind, StatefulSet, at, escape_token, get, str_of};

/// Resources of which one unit is one physical GPU.
const WHOLE_GPUS: [&str; 4] = [
    "nvidia.com/gpu",
    "amd.com/gpu",
    "gpu.intel.com/i915",
    "gpu.intel.com/xe",
];

/// NVIDIA's whole-GPU resource, which HAMi also uses as the vGPU count.
const NVIDIA_GPU: &str = "nvidia.com/gpu";

/// MIG devices under the `mixed` strategy: `nvidia.com/mig-1g.10gb`.
const MIG_PREFIX: &str = "nvidia.com/mig-";

/// HAMi vGPU resources: share of the cores (percent), memory (MiB), memory (percent).
const VGPU_CORES: &str = "nvidia.com/gpucores";
const VGPU_MEMORY: &str = "nvidia.com/gpumem";
const VGPU_MEMORY_PERCENTAGE: &str = "nvidia.com/gpumem-percentage";
const VGPU_RESOURCES: [&str; 3] = [VGPU_MEMORY, VGPU_MEMORY_PERCENTAGE, VGPU_CORES];

/// Pod annotations HAMi and the NVIDIA device plugin read, with their allowed values.
const ANNOTATION_VALUES: [(&str, &[&str]); 3] = [
    (
        "hami.io/gpu-scheduler-policy",
        &["binpack", "spread", "topology-aware"],
    ),
    ("hami.io/node-scheduler-policy", &["binpack", "spread"]),
    ("nvidia.com/vgpu-mode", &["hami-core", "mig", "mps"]),
];

/// Pod annotations naming GPU types to use or avoid (comma-separated).
const GPU_TYPE_ANNOTATIONS: [&str; 2] = ["nvidia.com/use-gputype", "nvidia.com/nouse-gputype"];

/// Runs this family's rules.
pub fn check(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let containers: Vec<Resources<'_>> = sts.containers().map(Resources::of).collect();
    extended_resources_are_whole_numbers(&containers, out);
    extended_resource_requests_equal_limits(&containers, out);
    whole_gpus_fit_on_one_node(&containers, cx, out);
    mig_profiles_exist_on_allowed_models(&containers, cx, out);
    containers_do_not_mix_gpu_kinds(&containers, out);
    vgpu_resources_are_in_range(&containers, cx, out);
    gpu_annotations_hold_known_values(sts, cx, out);
    gpu_annotations_sit_on_the_pod_template(sts, out);
    init_containers_do_not_hold_gpus(&containers, out);
}

/// Whether `name` is an extended resource: `domain/name` with a domain outside
/// `kubernetes.io` (`IsExtendedResourceName`). `hugepages-2Mi`, `cpu`, `memory` and
/// `ephemeral-storage` have no domain and are native.
pub fn is_extended_resource(name: &str) -> bool {
    let Some((domain, rest)) = name.split_once('/') else {
        return false;
    };
    !domain.is_empty()
        && !rest.is_empty()
        && domain != "kubernetes.io"
        && !domain.ends_with(".kubernetes.io")
}

fn is_whole_gpu(name: &str) -> bool {
    WHOLE_GPUS.contains(&name)
}

fn is_mig(name: &str) -> bool {
    name.starts_with(MIG_PREFIX)
}

fn is_gpu(name: &str) -> bool {
    is_whole_gpu(name) || is_mig(name) || VGPU_RESOURCES.contains(&name)
}

/// `limits` or `requests` of a container, read leniently.
#[derive(Clone, Copy)]
enum Section<'a> {
    Missing,
    Map(&'a Members<'a>),
    /// Present but not an object: the schema rule reports it, this family skips it.
    WrongType,
}

impl<'a> Section<'a> {
    fn read(resources: Option<&'a Doc<'a>>, key: &str) -> Self {
        match resources {
            None | Some(Doc::Null) => Section::Missing,
            Some(Doc::Object(resources)) => match resources.get(key) {
                None | Some(Doc::Null) => Section::Missing,
                Some(Doc::Object(section)) => Section::Map(section),
                Some(_) => Section::WrongType,
            },
            Some(_) => Section::WrongType,
        }
    }

    /// The value of one resource; `null` counts as not set.
    fn get(self, name: &str) -> Option<&'a Doc<'a>> {
        match self {
            Section::Map(section) => section.get(name).filter(|v| !v.is_null()),
            Section::Missing | Section::WrongType => None,
        }
    }

    fn names(self) -> impl Iterator<Item = &'a str> {
        let section = match self {
            Section::Map(section) => Some(section),
            Section::Missing | Section::WrongType => None,
        };
        section.into_iter().flat_map(|s| s.keys())
    }
}

/// A quantity as the user wrote it, without JSON quotes: `2` whether it came as the YAML
/// number 2 or the string "2" the API server stores, so messages are the same either way.
struct Shown<'a>(&'a Doc<'a>);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Doc::String(text) => f.write_str(text),
            other => write!(f, "{other}"),
        }
    }
}

/// One resource amount as written, with where it sits.
struct Amount<'a> {
    path: String,
    value: &'a Doc<'a>,
    quantity: Result<Quantity, QuantityError>,
}

impl Amount<'_> {
    /// The amount as a whole number ≥ 0, if it is one (otherwise `extended-resource-integer`
    /// reports it).
    fn count(&self) -> Option<i64> {
        self.quantity
            .as_ref()
            .ok()
            .filter(|q| !q.is_negative())
            .and_then(Quantity::to_i64)
    }

    fn is_positive(&self) -> bool {
        self.quantity.as_ref().is_ok_and(Quantity::is_positive)
    }
}

/// A container's resources.
struct Resources<'a> {
    container: Container<'a>,
    limits: Section<'a>,
    requests: Section<'a>,
}

impl<'a> Resources<'a> {
    fn of(container: Container<'a>) -> Self {
        let resources = get(container.value, "resources");
        Resources {
            container,
            limits: Section::read(resources, "limits"),
            requests: Section::read(resources, "requests"),
        }
    }

    fn path(&self, section: &str, name: &str) -> String {
        format!(
            "{}/resources/{section}/{}",
            self.container.path(),
            escape_token(name)
        )
    }

    fn amount(&self, section: &str, name: &str) -> Option<Amount<'a>> {
        let value = match section {
            "limits" => self.limits.get(name),
            _ => self.requests.get(name),
        }?;
        Some(Amount {
            path: self.path(section, name),
            value,
            quantity: Quantity::from_json(value),
        })
    }

    /// What the scheduler and the device plugins act on: the limit, else the request (the
    /// API server copies limits into missing requests; HAMi reads limits first too).
    fn effective(&self, name: &str) -> Option<Amount<'a>> {
        self.amount("limits", name)
            .or_else(|| self.amount("requests", name))
    }

    /// The effective amount when it asks for something (> 0).
    fn asks_for(&self, name: &str) -> Option<Amount<'a>> {
        self.effective(name).filter(Amount::is_positive)
    }

    /// Resource names in limits or requests, each once, limits first.
    fn names(&self) -> Vec<&'a str> {
        let mut names: Vec<&str> = self.limits.names().collect();
        for name in self.requests.names() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// An init container that runs beside the app containers (`restartPolicy: Always`,
    /// KEP-753) rather than before them.
    fn is_sidecar(&self) -> bool {
        self.container.kind == ContainerKind::Init
            && str_of(self.container.value, "restartPolicy") == Some("Always")
    }

    /// `container "nginx"`, or `init container "setup"`.
    fn label(&self) -> String {
        match self.container.kind {
            ContainerKind::Init => format!("init {}", self.container.label()),
            ContainerKind::App => self.container.label(),
        }
    }
}

/// How many units of a resource a pod needs, and which containers make it up.
struct Demand<'r, 'a> {
    total: i64,
    parts: Vec<(&'r Resources<'a>, i64)>,
}

impl Demand<'_, '_> {
    /// `container "a": 4, container "b": 4`
    fn describe(&self) -> String {
        self.parts
            .iter()
            .map(|(r, n)| format!("{}: {n}", r.label()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The field of the container asking for the most, for the finding's path.
    fn path(&self, name: &str) -> Option<String> {
        let (largest, _) =
            self.parts
                .iter()
                .fold(None::<(&Resources<'_>, i64)>, |best, &(r, n)| match best {
                    Some((_, m)) if m >= n => best,
                    _ => Some((r, n)),
                })?;
        largest.effective(name).map(|amount| amount.path)
    }
}

/// The pod's need for `name` as the scheduler computes it (`PodRequests`): the larger of
/// the app containers plus sidecars, and of each init container plus the sidecars started
/// before it. Amounts that are not whole numbers count as 0 here.
fn pod_demand<'r, 'a>(containers: &'r [Resources<'a>], name: &str) -> Demand<'r, 'a> {
    let count = |r: &Resources<'_>| r.effective(name).and_then(|a| a.count()).unwrap_or(0);
    let total = |parts: &[(&Resources<'_>, i64)]| {
        parts
            .iter()
            .fold(0i64, |sum, (_, n)| sum.saturating_add(*n))
    };
    let mut sidecars: Vec<(&Resources<'a>, i64)> = Vec::new();
    let mut init_peak: Vec<(&Resources<'a>, i64)> = Vec::new();
    for r in containers
        .iter()
        .filter(|r| r.container.kind == ContainerKind::Init)
    {
        let n = count(r);
        let mut running = sidecars.clone();
        if n > 0 {
            running.push((r, n));
        }
        if r.is_sidecar() && n > 0 {
            sidecars.push((r, n));
        }
        if total(&running) > total(&init_peak) {
            init_peak = running;
        }
    }
    let mut app = sidecars;
    app.extend(
        containers
            .iter()
            .filter(|r| r.container.kind == ContainerKind::App)
            .map(|r| (r, count(r)))
            .filter(|&(_, n)| n > 0),
    );
    let parts = if total(&init_peak) > total(&app) {
        init_peak
    } else {
        app
    };
    Demand {
        total: total(&parts),
        parts,
    }
}

/// Every resource name in any container that satisfies `keep`, each once, in order.
fn resource_names<'a>(containers: &[Resources<'a>], keep: fn(&str) -> bool) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::new();
    for name in containers.iter().flat_map(Resources::names) {
        if keep(name) && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// `extended-resource-integer`: pod validation requires extended resources to be whole
/// numbers ≥ 0 (`MilliValue() % 1000 == 0`): a device is handed out whole. `1000m` is 1 and
/// passes.
fn extended_resources_are_whole_numbers(containers: &[Resources<'_>], out: &mut Vec<Finding>) {
    for r in containers {
        for section in ["limits", "requests"] {
            let names = match section {
                "limits" => r.limits.names().collect::<Vec<_>>(),
                _ => r.requests.names().collect(),
            };
            for name in names.into_iter().filter(|n| is_extended_resource(n)) {
                let Some(amount) = r.amount(section, name) else {
                    continue;
                };
                let problem = match &amount.quantity {
                    Err(e) if e.is_wrong_type() => continue,
                    Err(e) => format!("is not a quantity ({e})"),
                    Ok(q) if q.is_negative() => "is negative".to_string(),
                    Ok(q) if !q.is_integer() => "is not a whole number".to_string(),
                    Ok(_) => continue,
                };
                let share = if is_gpu(name) {
                    "; to share a GPU, use a MIG slice (nvidia.com/mig-1g.10gb) or a HAMi vGPU \
                     (nvidia.com/gpumem, nvidia.com/gpucores)"
                } else {
                    ""
                };
                out.push(Finding::new(
                    RuleId::ExtendedResourceInteger,
                    amount.path,
                    format!(
                        "{} {section} {name}: {} {problem}; extended resources are handed out \
                         as whole devices, so the pod is rejected (must be an integer ≥ 0) and \
                         no replica starts",
                        r.label(),
                        Shown(amount.value)
                    ),
                    format!("use a whole number such as {name}: 1{share}"),
                ));
            }
        }
    }
}

/// `extended-resource-limits`: extended resources cannot be overcommitted, so pod
/// validation requires a limit whenever there is a request, and both equal
/// ("Limit must be set for non overcommitable resources", "must be equal to … limit").
/// Limits alone are fine: the request defaults to the limit.
fn extended_resource_requests_equal_limits(containers: &[Resources<'_>], out: &mut Vec<Finding>) {
    for r in containers {
        if matches!(r.limits, Section::WrongType) {
            continue;
        }
        let requested: Vec<&str> = r
            .requests
            .names()
            .filter(|n| is_extended_resource(n))
            .collect();
        for name in requested {
            let Some(request) = r.amount("requests", name) else {
                continue;
            };
            if request
                .quantity
                .as_ref()
                .is_err_and(QuantityError::is_wrong_type)
            {
                continue;
            }
            match r.amount("limits", name) {
                None => out.push(Finding::new(
                    RuleId::ExtendedResourceLimits,
                    r.path("limits", name),
                    format!(
                        "{} requests {name}: {} without a limit; extended resources cannot be \
                         overcommitted, so the pod is rejected (Limit must be set for non \
                         overcommitable resources) and no replica starts",
                        r.label(),
                        Shown(request.value)
                    ),
                    format!(
                        "set resources.limits.{name}: {} (requests may then be left out: they \
                         default to the limits)",
                        Shown(request.value)
                    ),
                )),
                Some(limit) => {
                    let (Ok(requested), Ok(limited)) = (&request.quantity, &limit.quantity) else {
                        continue;
                    };
                    if requested != limited {
                        out.push(Finding::new(
                            RuleId::ExtendedResourceLimits,
                            request.path,
                            format!(
                                "{} requests {name}: {} but limits it to {}; extended resources \
                                 cannot be overcommitted, requests must equal limits, so the pod \
                                 is rejected and no replica starts",
                                r.label(),
                                Shown(request.value),
                                Shown(limit.value)
                            ),
                            format!(
                                "set requests and limits of {name} to the same value, or drop \
                                 the request (it defaults to the limit)"
                            ),
                        ));
                    }
                }
            }
        }
    }
}

/// `gpu-count`: a pod needing more whole GPUs than any node has is never scheduled
/// (`Insufficient nvidia.com/gpu`) and stays Pending; the policy's `gpu.maxPerNode` is the
/// largest node.
fn whole_gpus_fit_on_one_node(containers: &[Resources<'_>], cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let max = i64::from(cx.settings.gpu_max_per_node);
    for name in resource_names(containers, is_whole_gpu) {
        let demand = pod_demand(containers, name);
        if demand.total <= max {
            continue;
        }
        let Some(path) = demand.path(name) else {
            continue;
        };
        out.push(Finding::new(
            RuleId::GpuCount,
            path,
            format!(
                "each pod needs {} {name} ({}), more than the {max} GPUs the largest node has \
                 (policy gpu.maxPerNode); no node can hold it, so every replica stays Pending \
                 (Insufficient {name})",
                demand.total,
                demand.describe()
            ),
            format!(
                "ask for at most {max} {name} per pod (spread the work over more replicas), or \
                 raise gpu.maxPerNode in the policy if nodes have more cards"
            ),
        ));
    }
}

/// `gpu-mig-profile`: under the `mixed` strategy the device plugin advertises one resource
/// per MIG profile of the GPU (`nvidia.com/mig-1g.10gb`, `.me` for `+me` profiles). A
/// profile no allowed model has is advertised by no node, and more slices than a node can
/// cut (instances per GPU × GPUs per node) never fit: either way the pod stays Pending.
fn mig_profiles_exist_on_allowed_models(
    containers: &[Resources<'_>],
    cx: &Cx<'_>,
    out: &mut Vec<Finding>,
) {
    let models: Vec<&GpuModel> = cx.policy.allowed_gpu_models(cx.settings).collect();
    let model_names = models
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let gpus_per_node = i64::from(cx.settings.gpu_max_per_node);
    for name in resource_names(containers, is_mig) {
        let profile = name.strip_prefix(MIG_PREFIX).unwrap_or(name);
        let most_instances = models
            .iter()
            .flat_map(|m| &m.profiles)
            .filter(|p| p.resource_suffix() == profile)
            .map(|p| i64::from(p.max_instances))
            .max();
        let Some(most_instances) = most_instances else {
            for r in containers {
                let Some(amount) = r.asks_for(name) else {
                    continue;
                };
                out.push(unknown_mig_profile(
                    r,
                    name,
                    amount.path,
                    &models,
                    &model_names,
                ));
            }
            continue;
        };
        let max = most_instances.saturating_mul(gpus_per_node);
        let demand = pod_demand(containers, name);
        if demand.total <= max {
            continue;
        }
        let Some(path) = demand.path(name) else {
            continue;
        };
        out.push(Finding::new(
            RuleId::GpuMigProfile,
            path,
            format!(
                "each pod needs {} {name} ({}), but a node has at most {max} of them ({most_instances} \
                 per GPU × {gpus_per_node} GPUs, policy gpu.maxPerNode); no node can hold the \
                 pod, so every replica stays Pending",
                demand.total,
                demand.describe()
            ),
            format!(
                "ask for at most {max} {name} per pod, or for a larger profile (fewer, bigger \
                 slices)"
            ),
        ));
    }
}

fn unknown_mig_profile(
    r: &Resources<'_>,
    name: &str,
    path: String,
    models: &[&GpuModel],
    model_names: &str,
) -> Finding {
    /// Longer lists (every built-in model has 5-7 profiles) are abbreviated.
    const LISTED: usize = 12;
    let mut valid: Vec<String> = Vec::new();
    for profile in models.iter().flat_map(|m| &m.profiles) {
        let resource = format!("{MIG_PREFIX}{}", profile.resource_suffix());
        if !valid.contains(&resource) {
            valid.push(resource);
        }
    }
    let listed = if valid.len() > LISTED {
        format!(
            "{}, … ({} more)",
            valid
                .iter()
                .take(LISTED)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            valid.len() - LISTED
        )
    } else {
        valid.join(", ")
    };
    // The likeliest intent: a profile with the same number of compute slices ("3g.").
    let profile = name.strip_prefix(MIG_PREFIX).unwrap_or(name);
    let slices = profile
        .split_once("g.")
        .map(|(slices, _)| format!("{MIG_PREFIX}{slices}g."));
    let alike: Vec<&str> = valid
        .iter()
        .map(String::as_str)
        .filter(|v| slices.as_deref().is_some_and(|s| v.starts_with(s)))
        .collect();
    let (valid_part, hint) = if valid.is_empty() {
        (
            "they have no MIG profiles".to_string(),
            "ask for whole GPUs (nvidia.com/gpu), or add a MIG-capable model to the policy's \
             gpu.models"
                .to_string(),
        )
    } else {
        let suggestion = if alike.is_empty() {
            "one of the valid profiles".to_string()
        } else {
            alike.join(" or ")
        };
        (
            format!("valid: {listed}"),
            format!(
                "use {suggestion}; or, if the cluster has GPUs with this profile, add their \
                 model to the policy's gpu.models (or gpu.customModels)"
            ),
        )
    };
    let plus_me = if name.contains('+') {
        " (a +me profile is written with .me in the resource name)"
    } else {
        ""
    };
    Finding::new(
        RuleId::GpuMigProfile,
        path,
        format!(
            "{} asks for {name}, which is not a MIG profile of the allowed GPU models \
             ({model_names}){plus_me}; no node advertises it, so every replica stays Pending \
             ({valid_part})",
            r.label()
        ),
        hint,
    )
}

/// `gpu-mixed`: each device plugin answers with its own `NVIDIA_VISIBLE_DEVICES`; when a
/// container gets devices from two resources the kubelet keeps only one of the values
/// ("Environment variable has conflicting setting", device manager), chosen in map order —
/// which devices the container sees is undefined.
fn containers_do_not_mix_gpu_kinds(containers: &[Resources<'_>], out: &mut Vec<Finding>) {
    for r in containers {
        let names = r.names();
        let migs: Vec<(&str, Amount<'_>)> = names
            .iter()
            .filter(|n| is_mig(n))
            .filter_map(|&n| Some((n, r.asks_for(n)?)))
            .collect();
        let Some((first_mig, first_amount)) = migs.first() else {
            continue;
        };
        if r.asks_for(NVIDIA_GPU).is_some() {
            out.push(Finding::new(
                RuleId::GpuMixed,
                first_amount.path.clone(),
                format!(
                    "{} asks for whole GPUs ({NVIDIA_GPU}) and MIG slices ({first_mig}) at \
                     once; both device plugins set NVIDIA_VISIBLE_DEVICES and the kubelet keeps \
                     only one, so which devices the container sees is undefined",
                    r.label()
                ),
                "ask for either whole GPUs or one MIG profile per container; put the other \
                 workload in its own container or StatefulSet",
            ));
        }
        if let Some((second_mig, second_amount)) = migs.get(1) {
            out.push(Finding::new(
                RuleId::GpuMixed,
                second_amount.path.clone(),
                format!(
                    "{} asks for two MIG profiles ({first_mig} and {second_mig}); each device \
                     plugin resource sets NVIDIA_VISIBLE_DEVICES and the kubelet keeps only \
                     one, so which slices the container sees is undefined",
                    r.label()
                ),
                "ask for one MIG profile per container (several slices of the same profile \
                 are fine)",
            ));
        }
    }
}

/// `gpu-vgpu`: HAMi's vGPU fields. `gpucores` and `gpumem-percentage` are percentages of one
/// card, `gpumem` is MiB of one card's memory; out of range, HAMi's scheduler finds no card
/// and the pod stays Pending. The softer checks are warnings: `gpumem` silently wins over
/// `gpumem-percentage`, and vGPU fields without `nvidia.com/gpu` get one card implied by
/// HAMi's webhook (`defaultGPUNum: 1`).
fn vgpu_resources_are_in_range(containers: &[Resources<'_>], cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for r in containers {
        for name in [VGPU_CORES, VGPU_MEMORY_PERCENTAGE] {
            let Some(amount) = r.effective(name) else {
                continue;
            };
            let Some(percent) = amount.count() else {
                continue;
            };
            if percent > 100 {
                out.push(Finding::new(
                    RuleId::GpuVgpu,
                    amount.path,
                    format!(
                        "{} asks for {name}: {percent}, but it is a percentage of one GPU \
                         (0-100); HAMi finds no GPU with that much and the pod stays Pending",
                        r.label()
                    ),
                    format!(
                        "set {name} between 0 and 100; for more than one card, raise \
                         {NVIDIA_GPU} instead"
                    ),
                ));
            }
        }
        if let Some(amount) = r.effective(VGPU_MEMORY)
            && let Some(mib) = amount.count()
        {
            let max = cx.settings.gpu_max_memory_mib;
            let problem = if mib == 0 {
                Some("it must be a positive number of MiB".to_string())
            } else {
                max.filter(|&max| u64::try_from(mib).is_ok_and(|mib| mib > max))
                    .map(|max| {
                        format!(
                            "more than the {max} MiB a GPU has (policy gpu.maxMemoryMiB); HAMi \
                             finds no GPU with that much memory and the pod stays Pending"
                        )
                    })
            };
            if let Some(problem) = problem {
                out.push(Finding::new(
                    RuleId::GpuVgpu,
                    amount.path,
                    format!("{} asks for {VGPU_MEMORY}: {mib}; {problem}", r.label()),
                    format!(
                        "set {VGPU_MEMORY} to the MiB of GPU memory one vGPU needs{}",
                        max.map(|m| format!(", at most {m}")).unwrap_or_default()
                    ),
                ));
            }
        }
        if r.effective(VGPU_MEMORY).is_some()
            && let Some(percentage) = r.effective(VGPU_MEMORY_PERCENTAGE)
        {
            out.push(
                Finding::new(
                    RuleId::GpuVgpu,
                    percentage.path,
                    format!(
                        "{} sets both {VGPU_MEMORY} and {VGPU_MEMORY_PERCENTAGE}; HAMi uses \
                         {VGPU_MEMORY} and ignores the percentage",
                        r.label()
                    ),
                    format!("keep one of them: {VGPU_MEMORY} (MiB) or {VGPU_MEMORY_PERCENTAGE}"),
                )
                .warning(),
            );
        }
        if r.effective(NVIDIA_GPU).is_none()
            && let Some(first) = VGPU_RESOURCES.iter().find_map(|n| r.asks_for(n))
        {
            out.push(
                Finding::new(
                    RuleId::GpuVgpu,
                    first.path,
                    format!(
                        "{} sets HAMi vGPU resources without {NVIDIA_GPU}; HAMi implies one \
                         vGPU ({NVIDIA_GPU}: 1)",
                        r.label()
                    ),
                    format!("state the number of vGPUs: {NVIDIA_GPU}: 1"),
                )
                .warning(),
            );
        }
    }
}

/// `gpu-annotations`: HAMi reads these pod annotations and rejects or ignores unknown
/// values. `use-gputype`/`nouse-gputype` entries are matched against the card names
/// (case-insensitively, by substring in HAMi); an entry no allowed model starts with is
/// probably a typo, so it is a warning. Only checked when the policy lists its models: the
/// built-in table knows only MIG-capable GPUs, and a cluster of T4s or L4s is no mistake.
fn gpu_annotations_hold_known_values(sts: &StatefulSet<'_>, cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let Some(annotations) = at(sts.template, &["metadata", "annotations"]).and_then(Doc::as_object)
    else {
        return;
    };
    let path = |key: &str| format!("/spec/template/metadata/annotations/{}", escape_token(key));
    for (key, allowed) in ANNOTATION_VALUES {
        let Some(value) = annotations.get(key).and_then(Doc::as_str) else {
            continue;
        };
        if allowed.contains(&value) {
            continue;
        }
        out.push(Finding::new(
            RuleId::GpuAnnotations,
            path(key),
            format!(
                "pod annotation {key}: \"{value}\" is not a value HAMi knows ({}); the GPU \
                 placement it asks for does not happen",
                allowed.join(", ")
            ),
            format!("use one of {}", allowed.join(", ")),
        ));
    }
    if cx.settings.gpu_models.is_none() {
        return;
    }
    let models: Vec<String> = cx
        .policy
        .allowed_gpu_models(cx.settings)
        .map(|m| m.name.to_lowercase())
        .collect();
    for key in GPU_TYPE_ANNOTATIONS {
        let Some(value) = annotations.get(key).and_then(Doc::as_str) else {
            continue;
        };
        let unknown: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .filter(|entry| {
                let entry = entry.to_lowercase();
                !models.iter().any(|model| model.starts_with(&entry))
            })
            .collect();
        if unknown.is_empty() {
            continue;
        }
        out.push(
            Finding::new(
                RuleId::GpuAnnotations,
                path(key),
                format!(
                    "pod annotation {key} names {} that match no GPU model of the policy ({}); \
                     HAMi matches these against the cards' names, so the entry is probably a \
                     typo and {}",
                    unknown.join(", "),
                    models.join(", "),
                    if key == "nvidia.com/use-gputype" {
                        "the pod may fit no card and stay Pending"
                    } else {
                        "excludes nothing"
                    }
                ),
                "name models as the policy's gpu.models do (a prefix such as A100 matches \
                 A100-40GB and A100-80GB), or add the model to the policy",
            )
            .warning(),
        );
    }
}

/// `gpu-annotations` (warning): HAMi reads these annotations from the pod. On the
/// StatefulSet's own metadata they never reach a pod and do nothing — the seed example
/// `gpu-mig-and-vgpu.yaml` (`notebook`) puts `use-gputype` there.
fn gpu_annotations_sit_on_the_pod_template(sts: &StatefulSet<'_>, out: &mut Vec<Finding>) {
    let keys = ANNOTATION_VALUES
        .iter()
        .map(|(key, _)| *key)
        .chain(GPU_TYPE_ANNOTATIONS);
    for key in keys {
        if sts.annotation(key).is_none() {
            continue;
        }
        out.push(
            Finding::new(
                RuleId::GpuAnnotations,
                format!("/metadata/annotations/{}", escape_token(key)),
                format!(
                    "annotation {key} is on the StatefulSet, where it has no effect: HAMi reads \
                     it from each pod, and the StatefulSet's annotations are not copied to its \
                     pods"
                ),
                format!("move {key} to spec.template.metadata.annotations"),
            )
            .warning(),
        );
    }
}

/// `gpu-init-container` (warning): an init container's GPUs are allocated to the pod for its
/// whole life (the pod's request is the larger of init and app needs) although the init
/// container uses them only at start-up. Sidecars (`restartPolicy: Always`) run all along
/// and are not meant.
fn init_containers_do_not_hold_gpus(containers: &[Resources<'_>], out: &mut Vec<Finding>) {
    for r in containers {
        if r.container.kind != ContainerKind::Init || r.is_sidecar() {
            continue;
        }
        let Some((name, amount)) = r
            .names()
            .into_iter()
            .filter(|n| is_gpu(n))
            .find_map(|n| Some((n, r.asks_for(n)?)))
        else {
            continue;
        };
        out.push(Finding::new(
            RuleId::GpuInitContainer,
            amount.path,
            format!(
                "{} asks for {name}: {}; the pod is allocated the larger of its init and app \
                 GPU needs for its whole life, so GPUs used only during init sit idle \
                 afterwards unless an app container uses them",
                r.label(),
                Shown(amount.value)
            ),
            "do the GPU work in an app container, or make sure the app containers use at \
             least as many GPUs so none sit idle",
        ));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::{Value, json};

    use super::check;
    use crate::engine::KubeVersion;
    use crate::engine::catalog::RuleId;
    use crate::engine::finding::{Finding, Severity};
    use crate::engine::rules::testing::{self, hits, policy, web};

    const NGINX: &str = "/spec/template/spec/containers/0";

    fn run(object: &Value) -> Vec<Finding> {
        testing::run(check, object)
    }

    fn run_policy(object: &Value, spec: Value) -> Vec<Finding> {
        testing::run_with(check, object, &policy(spec), None, KubeVersion::LATEST)
    }

    /// Runs with the default policy, but nodes whose GPUs have `max_mib` of memory. Sets
    /// `Settings` directly so that the test does not depend on the policy file's spelling.
    fn run_with_gpu_memory(object: &Value, max_mib: u64) -> Vec<Finding> {
        let policy = policy(json!({}));
        let mut settings = policy.settings_for("default").into_owned();
        settings.gpu_max_memory_mib = Some(max_mib);
        let object = crate::engine::normalize::apply(object);
        let cx = crate::engine::rules::Cx {
            policy: &policy,
            settings: &settings,
            namespace: "default",
            kube_version: KubeVersion::LATEST,
            strict: false,
            known: crate::engine::cluster::Known::default(),
            old: None,
        };
        let mut out = Vec::new();
        check(
            &crate::engine::view::StatefulSet::new(&crate::engine::doc::Doc::from(&object)),
            &cx,
            &mut out,
        );
        out
    }

    /// `web()` with these resources on its container.
    fn with_resources(resources: Value) -> Value {
        let mut sts = web();
        sts["spec"]["template"]["spec"]["containers"][0]["resources"] = resources;
        sts
    }

    fn limit_path(name: &str) -> String {
        format!("{NGINX}/resources/limits/{}", name.replace('/', "~1"))
    }

    fn request_path(name: &str) -> String {
        format!("{NGINX}/resources/requests/{}", name.replace('/', "~1"))
    }

    fn owned(findings: &[Finding]) -> Vec<(&'static str, String, Severity)> {
        findings
            .iter()
            .map(|f| (f.rule.id(), f.path.clone(), f.severity))
            .collect()
    }

    fn errors(findings: &[Finding]) -> Vec<&Finding> {
        findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .collect()
    }

    #[test]
    fn seed_examples_and_web_raise_no_errors() {
        assert_eq!(hits(&run(&web())), []);
        assert_eq!(hits(&run(&testing::mysql())), []);
        for sts in testing::gpu_examples() {
            let findings = run(&sts);
            assert_eq!(errors(&findings).len(), 0, "{findings:?}");
        }
        let findings = run(&testing::gpu_examples()[1]);
        assert_eq!(hits(&findings), []);
        let findings = run_policy(
            &testing::gpu_examples()[1],
            json!({"gpu": {"models": ["A100-80GB"]}}),
        );
        assert_eq!(hits(&findings), []);
    }

    #[test]
    fn warns_that_gpu_annotations_on_the_statefulset_have_no_effect() {
        let findings = run(&testing::notebook());
        assert_eq!(
            owned(&findings),
            [(
                "gpu-annotations",
                "/metadata/annotations/nvidia.com~1use-gputype".to_string(),
                Severity::Warning
            )]
        );
        assert!(
            findings[0]
                .hint
                .contains("spec.template.metadata.annotations")
        );
    }

    #[test]
    fn recognises_extended_resource_names() {
        use super::is_extended_resource as ext;
        for name in [
            "nvidia.com/gpu",
            "amd.com/gpu",
            "gpu.intel.com/i915",
            "example.com/foo",
        ] {
            assert!(ext(name), "{name}");
        }
        for name in [
            "cpu",
            "memory",
            "ephemeral-storage",
            "hugepages-2Mi",
            "kubernetes.io/foo",
            "foo.kubernetes.io/bar",
            "/x",
            "x/",
        ] {
            assert!(!ext(name), "{name}");
        }
    }

    #[test]
    fn rejects_fractional_and_negative_extended_resources() {
        let sts = with_resources(json!({
            "limits": {"nvidia.com/gpu": "500m", "example.com/foo": 0.5, "amd.com/gpu": -1,
                       "example.com/bar": "lots", "cpu": "500m"}
        }));
        let mut got: Vec<_> = owned(&run(&sts))
            .into_iter()
            .filter(|(rule, ..)| *rule == "extended-resource-integer")
            .map(|(_, path, severity)| (path, severity))
            .collect();
        got.sort();
        let mut want: Vec<_> = [
            "amd.com/gpu",
            "example.com/bar",
            "example.com/foo",
            "nvidia.com/gpu",
        ]
        .iter()
        .map(|n| (limit_path(n), Severity::Error))
        .collect();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn accepts_whole_extended_resources_written_in_milli_units() {
        let sts = with_resources(json!({
            "limits": {"nvidia.com/gpu": "1000m", "example.com/foo": 0, "example.com/bar": "2"},
            "requests": {"cpu": "500m"}
        }));
        assert_eq!(hits(&run(&sts)), []);
    }

    #[test]
    fn rejects_gpu_requests_that_differ_from_limits() {
        let sts = with_resources(json!({
            "requests": {"nvidia.com/gpu": 2}, "limits": {"nvidia.com/gpu": 1}
        }));
        assert_eq!(
            owned(&run(&sts)),
            [(
                "extended-resource-limits",
                request_path("nvidia.com/gpu"),
                Severity::Error
            )]
        );
    }

    #[test]
    fn rejects_extended_resource_requests_without_limits() {
        let sts = with_resources(json!({"requests": {"example.com/foo": 1, "cpu": 1}}));
        assert_eq!(
            owned(&run(&sts)),
            [(
                "extended-resource-limits",
                limit_path("example.com/foo"),
                Severity::Error
            )]
        );
    }

    #[test]
    fn accepts_limits_alone_and_equal_requests() {
        let sts = with_resources(json!({"limits": {"nvidia.com/gpu": 2}}));
        assert_eq!(hits(&run(&sts)), []);
        let sts = with_resources(json!({
            "limits": {"nvidia.com/gpu": 1}, "requests": {"nvidia.com/gpu": "1000m"}
        }));
        assert_eq!(hits(&run(&sts)), []);
    }

    #[test]
    fn rejects_more_whole_gpus_per_pod_than_a_node_has() {
        let mut sts = with_resources(json!({"limits": {"nvidia.com/gpu": 4}}));
        let mut second = sts["spec"]["template"]["spec"]["containers"][0].clone();
        second["name"] = json!("second");
        second["resources"] = json!({"limits": {"nvidia.com/gpu": 6}});
        sts["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(second);
        let findings = run(&sts);
        assert_eq!(
            hits(&findings),
            [(
                "gpu-count",
                "/spec/template/spec/containers/1/resources/limits/nvidia.com~1gpu"
            )]
        );
        assert!(
            findings[0].message.contains("10 nvidia.com/gpu"),
            "{}",
            findings[0].message
        );
        // With nodes of 16 cards the pod fits.
        assert_eq!(
            hits(&run_policy(&sts, json!({"gpu": {"maxPerNode": 16}}))),
            []
        );
    }

    #[test]
    fn counts_the_largest_init_container_not_the_sum_with_app_containers() {
        let mut sts = with_resources(json!({"limits": {"amd.com/gpu": 8}}));
        sts["spec"]["template"]["spec"]["initContainers"] =
            json!([{"name": "warmup", "resources": {"limits": {"amd.com/gpu": 8}}}]);
        let findings = run(&sts);
        assert!(
            findings.iter().all(|f| f.rule != RuleId::GpuCount),
            "{findings:?}"
        );
        sts["spec"]["template"]["spec"]["initContainers"][0]["resources"]["limits"]["amd.com/gpu"] =
            json!(9);
        assert_eq!(
            hits(&run(&sts))
                .into_iter()
                .filter(|(rule, _)| *rule == "gpu-count")
                .collect::<Vec<_>>(),
            [(
                "gpu-count",
                "/spec/template/spec/initContainers/0/resources/limits/amd.com~1gpu"
            )]
        );
    }

    #[test]
    fn counts_sidecar_gpus_alongside_app_containers() {
        let mut sts = with_resources(json!({"limits": {"nvidia.com/gpu": 8}}));
        sts["spec"]["template"]["spec"]["initContainers"] = json!([{
            "name": "proxy", "restartPolicy": "Always",
            "resources": {"limits": {"nvidia.com/gpu": 1}}
        }]);
        let findings = run(&sts);
        assert_eq!(
            hits(&findings),
            [("gpu-count", limit_path("nvidia.com/gpu").as_str())]
        );
    }

    #[test]
    fn accepts_a_me_mig_profile_of_an_allowed_model() {
        let sts = with_resources(json!({"limits": {"nvidia.com/mig-1g.10gb.me": 1}}));
        let findings = run_policy(&sts, json!({"gpu": {"models": ["A100-80GB"]}}));
        assert_eq!(hits(&findings), []);
    }

    #[test]
    fn rejects_a_mig_profile_the_allowed_models_lack() {
        let sts = with_resources(json!({"limits": {"nvidia.com/mig-3g.20gb": 1}}));
        let findings = run_policy(&sts, json!({"gpu": {"models": ["A100-80GB"]}}));
        assert_eq!(
            owned(&findings),
            [(
                "gpu-mig-profile",
                limit_path("nvidia.com/mig-3g.20gb"),
                Severity::Error
            )]
        );
        assert!(
            findings[0].message.contains("A100-80GB"),
            "{}",
            findings[0].message
        );
        assert!(
            findings[0].hint.contains("nvidia.com/mig-3g.40gb"),
            "{}",
            findings[0].hint
        );
        // The A100-40GB has it.
        assert_eq!(hits(&run(&sts)), []);
    }

    #[test]
    fn rejects_more_mig_slices_than_a_node_can_cut() {
        // 1g.10gb+me: one per GPU, so two GPUs per node give at most two.
        let policy = json!({"gpu": {"models": ["A100-80GB"], "maxPerNode": 2}});
        let sts = with_resources(json!({"limits": {"nvidia.com/mig-1g.10gb.me": 3}}));
        assert_eq!(
            hits(&run_policy(&sts, policy.clone())),
            [(
                "gpu-mig-profile",
                limit_path("nvidia.com/mig-1g.10gb.me").as_str()
            )]
        );
        let sts = with_resources(json!({"limits": {"nvidia.com/mig-1g.10gb.me": 2}}));
        assert_eq!(hits(&run_policy(&sts, policy)), []);
    }

    #[test]
    fn rejects_whole_gpus_and_mig_slices_in_one_container() {
        let sts = with_resources(json!({
            "limits": {"nvidia.com/gpu": 1, "nvidia.com/mig-1g.10gb": 1}
        }));
        assert_eq!(
            owned(&run(&sts)),
            [(
                "gpu-mixed",
                limit_path("nvidia.com/mig-1g.10gb"),
                Severity::Error
            )]
        );
    }

    #[test]
    fn rejects_two_mig_profiles_in_one_container() {
        let sts = with_resources(json!({
            "limits": {"nvidia.com/mig-1g.10gb": 1, "nvidia.com/mig-2g.20gb": 1}
        }));
        let findings = run(&sts);
        assert_eq!(hits(&findings).len(), 1, "{findings:?}");
        assert_eq!(findings[0].rule, RuleId::GpuMixed);
        assert!(
            findings[0]
                .path
                .starts_with(&format!("{NGINX}/resources/limits/nvidia.com~1mig-"))
        );
    }

    #[test]
    fn accepts_different_gpu_kinds_in_different_containers() {
        let mut sts = with_resources(json!({"limits": {"nvidia.com/gpu": 1}}));
        let mut second = sts["spec"]["template"]["spec"]["containers"][0].clone();
        second["name"] = json!("second");
        second["resources"] = json!({"limits": {"nvidia.com/mig-1g.10gb": 2, "nvidia.com/gpu": 0}});
        sts["spec"]["template"]["spec"]["containers"]
            .as_array_mut()
            .unwrap()
            .push(second);
        assert_eq!(hits(&run(&sts)), []);
    }

    #[test]
    fn rejects_vgpu_values_out_of_range() {
        let sts = with_resources(json!({"limits": {
            "nvidia.com/gpu": 1, "nvidia.com/gpucores": 150, "nvidia.com/gpumem": 0
        }}));
        let mut got = owned(&run(&sts));
        got.sort();
        assert_eq!(
            got,
            [
                (
                    "gpu-vgpu",
                    limit_path("nvidia.com/gpucores"),
                    Severity::Error
                ),
                ("gpu-vgpu", limit_path("nvidia.com/gpumem"), Severity::Error),
            ]
        );
        let sts = with_resources(json!({"limits": {
            "nvidia.com/gpu": 1, "nvidia.com/gpumem-percentage": 101
        }}));
        assert_eq!(
            hits(&run(&sts)),
            [(
                "gpu-vgpu",
                limit_path("nvidia.com/gpumem-percentage").as_str()
            )]
        );
    }

    #[test]
    fn rejects_vgpu_memory_above_the_policy_maximum() {
        let sts =
            with_resources(json!({"limits": {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 20000}}));
        assert_eq!(
            owned(&run_with_gpu_memory(&sts, 16384)),
            [("gpu-vgpu", limit_path("nvidia.com/gpumem"), Severity::Error)]
        );
        let sts =
            with_resources(json!({"limits": {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 16384}}));
        assert_eq!(hits(&run_with_gpu_memory(&sts, 16384)), []);
        // Without a maximum in the policy any positive amount passes.
        let sts =
            with_resources(json!({"limits": {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 200000}}));
        assert_eq!(hits(&run(&sts)), []);
    }

    #[test]
    fn accepts_vgpu_values_at_the_edges() {
        let sts = with_resources(json!({"limits": {
            "nvidia.com/gpu": 2, "nvidia.com/gpucores": 100, "nvidia.com/gpumem-percentage": 0
        }}));
        assert_eq!(hits(&run(&sts)), []);
    }

    #[test]
    fn warns_when_gpumem_and_its_percentage_are_both_set() {
        let sts = with_resources(json!({"limits": {
            "nvidia.com/gpu": 1, "nvidia.com/gpumem": 4000, "nvidia.com/gpumem-percentage": 50
        }}));
        assert_eq!(
            owned(&run(&sts)),
            [(
                "gpu-vgpu",
                limit_path("nvidia.com/gpumem-percentage"),
                Severity::Warning
            )]
        );
    }

    #[test]
    fn warns_when_vgpu_resources_come_without_a_gpu_count() {
        let sts = with_resources(json!({"limits": {"nvidia.com/gpucores": 50}}));
        assert_eq!(
            owned(&run(&sts)),
            [(
                "gpu-vgpu",
                limit_path("nvidia.com/gpucores"),
                Severity::Warning
            )]
        );
    }

    #[test]
    fn rejects_unknown_hami_annotation_values() {
        let mut sts = web();
        sts["spec"]["template"]["metadata"]["annotations"] = json!({
            "hami.io/gpu-scheduler-policy": "pack",
            "hami.io/node-scheduler-policy": "topology-aware",
            "nvidia.com/vgpu-mode": "mps"
        });
        assert_eq!(
            owned(&run(&sts)),
            [
                (
                    "gpu-annotations",
                    "/spec/template/metadata/annotations/hami.io~1gpu-scheduler-policy".into(),
                    Severity::Error
                ),
                (
                    "gpu-annotations",
                    "/spec/template/metadata/annotations/hami.io~1node-scheduler-policy".into(),
                    Severity::Error
                ),
            ]
        );
    }

    #[test]
    fn warns_about_gpu_types_the_policy_does_not_have() {
        let mut sts = web();
        sts["spec"]["template"]["metadata"]["annotations"] = json!({"nvidia.com/use-gputype": "a100, V100", "nvidia.com/nouse-gputype": "H100-80GB"});
        let spec = json!({"gpu": {"models": ["A100-80GB", "H100-80GB"]}});
        assert_eq!(
            owned(&run_policy(&sts, spec.clone())),
            [(
                "gpu-annotations",
                "/spec/template/metadata/annotations/nvidia.com~1use-gputype".into(),
                Severity::Warning
            )]
        );
        sts["spec"]["template"]["metadata"]["annotations"]["nvidia.com/use-gputype"] =
            json!("A100,h100-80");
        assert_eq!(hits(&run_policy(&sts, spec)), []);
        // Without models in the policy, any GPU type may exist.
        sts["spec"]["template"]["metadata"]["annotations"]["nvidia.com/use-gputype"] = json!("T4");
        assert_eq!(hits(&run(&sts)), []);
    }

    #[test]
    fn warns_about_gpus_in_an_init_container() {
        let mut sts = web();
        sts["spec"]["template"]["spec"]["initContainers"] = json!([
            {"name": "convert", "resources": {"limits": {"nvidia.com/mig-1g.10gb": 1}}},
            {"name": "proxy", "restartPolicy": "Always", "resources": {"limits": {"nvidia.com/gpu": 1}}},
            {"name": "fetch", "resources": {"limits": {"nvidia.com/gpu": 0, "cpu": 1}}}
        ]);
        assert_eq!(
            owned(&run(&sts)),
            [(
                "gpu-init-container",
                "/spec/template/spec/initContainers/0/resources/limits/nvidia.com~1mig-1g.10gb"
                    .into(),
                Severity::Warning
            )]
        );
    }

    #[test]
    fn wrong_types_do_not_panic() {
        for resources in [
            json!("big"),
            json!({"limits": [1]}),
            json!({"limits": [1], "requests": {"nvidia.com/gpu": 1}}),
            json!({"requests": "x", "limits": {"nvidia.com/gpu": true, "nvidia.com/gpumem": []}}),
            json!({"requests": {"nvidia.com/gpu": true, "example.com/foo": {}}}),
            json!({"limits": {"nvidia.com/gpu": null, "nvidia.com/gpucores": {"a": 1}}}),
            json!(7),
        ] {
            let findings = run(&with_resources(resources.clone()));
            assert_eq!(hits(&findings), [], "{resources}");
        }
        let mut sts = web();
        sts["metadata"]["annotations"] = json!({"nvidia.com/use-gputype": 1});
        sts["spec"]["template"]["metadata"]["annotations"] =
            json!({"hami.io/gpu-scheduler-policy": ["binpack"], "nvidia.com/use-gputype": {}});
        sts["spec"]["template"]["spec"]["initContainers"] = json!("x");
        assert_eq!(
            hits(&run_policy(&sts, json!({"gpu": {"models": ["B200"]}}))),
            []
        );
        assert_eq!(
            run(&json!({"spec": {"template": {"spec": {"containers": [1, "x", null]}}}})),
            []
        );
        assert_eq!(run(&json!("not an object")), []);
    }

    #[test]
    fn hostile_quantities_are_judged_quickly() {
        let sts = with_resources(json!({"limits": {
            "nvidia.com/gpu": "1e999999",
            "example.com/foo": "9999999999999999999999999999999Ei",
            "example.com/bar": "1.2.3"
        }}));
        let findings = run(&sts);
        assert!(
            findings.iter().any(|f| f.rule == RuleId::GpuCount),
            "{findings:?}"
        );
        assert!(
            findings
                .iter()
                .any(|f| f.rule == RuleId::ExtendedResourceInteger
                    && f.path == limit_path("example.com/bar")),
            "{findings:?}"
        );
    }
}

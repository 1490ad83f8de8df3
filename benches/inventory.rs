//! What the cluster watches keep in memory, and what judging against them costs a review
//! (SPEC §8, BENCHMARKS.md "Cluster-aware checks").
//!
//! Builds the webhook's view of a cluster through the same folds `serve` runs on watch events
//! (`cluster::kinds::Folded`): 10,000 Services and 1,000 Nodes by default, in node pools of
//! identical machines, as a real cluster has them. Heap bytes are counted by a wrapping
//! allocator, so the figures are exact and do not drift with the machine. Then it times
//! `/validate`'s whole decision on the recorded review 029 (compact) without the cluster and
//! with it, in the same run, alternating, so that only the ratio is read.
//!
//! ```sh
//! cargo bench --bench inventory                 # 10,000 Services, 1,000 Nodes
//! cargo bench --bench inventory -- 50000 5000   # other sizes
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use k8s_openapi::api::core::v1::{Node, NodeSpec, NodeStatus, Service, ServiceSpec, Taint};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use stsguard::cluster::kinds::Folded;
use stsguard::engine::cluster::Inventory;
use stsguard::engine::{KubeVersion, Policy};
use stsguard::server::admission::{self, Webhook};

/// The system allocator, counting the bytes in use.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn in_use() -> usize {
    IN_USE.load(Ordering::Relaxed)
}

fn meta(namespace: Option<&str>, name: &str, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        namespace: namespace.map(str::to_string),
        name: Some(name.to_string()),
        labels: (!labels.is_empty()).then_some(labels),
        ..ObjectMeta::default()
    }
}

/// Service `i`: 100 namespaces of `count / 100` Services, headless one time in four, with a
/// two-label selector; among them the cassandra Service of review 029, headless and selecting
/// its pods, so that the review is judged, not reported on.
fn service(i: usize, count: usize) -> Service {
    let per_namespace = (count / 100).max(1);
    let (namespace, name) = if i == 0 {
        ("default".to_string(), "cassandra".to_string())
    } else {
        (
            format!("team-{:03}", i / per_namespace),
            format!("service-{i:05}"),
        )
    };
    Service {
        metadata: meta(Some(&namespace), &name, BTreeMap::new()),
        spec: Some(ServiceSpec {
            cluster_ip: Some(if i.is_multiple_of(4) {
                "None".into()
            } else {
                format!("10.96.{}.{}", i / 250 % 250, i % 250)
            }),
            selector: Some(if i == 0 {
                BTreeMap::from([("app".into(), "cassandra".into())])
            } else {
                BTreeMap::from([
                    ("app.kubernetes.io/name".into(), name.clone()),
                    ("app.kubernetes.io/instance".into(), format!("{name}-prod")),
                ])
            }),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// Node `i` of 10 pools (zones a–c): GPU pools tainted and advertising GPUs and MIG profiles.
fn node(i: usize) -> Node {
    let pool = i % 10;
    let name = format!("node-{pool}-{i:05}");
    let gpu = pool >= 7;
    let mut labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), name.clone()),
        ("kubernetes.io/os".into(), "linux".into()),
        ("kubernetes.io/arch".into(), "amd64".into()),
        (
            "node.kubernetes.io/instance-type".into(),
            format!("m{pool}.4xlarge"),
        ),
        ("topology.kubernetes.io/region".into(), "eu-west-1".into()),
        (
            "topology.kubernetes.io/zone".into(),
            format!("eu-west-1{}", ['a', 'b', 'c'][i % 3]),
        ),
        ("example.com/pool".into(), format!("pool-{pool}")),
    ]);
    let mut allocatable = BTreeMap::from([
        ("cpu".to_string(), Quantity("15890m".into())),
        ("memory".into(), Quantity("63458Mi".into())),
        ("ephemeral-storage".into(), Quantity("95551679124".into())),
        ("pods".into(), Quantity("110".into())),
        ("hugepages-2Mi".into(), Quantity("0".into())),
    ]);
    let mut taints = Vec::new();
    if gpu {
        labels.insert(
            "nvidia.com/gpu.product".into(),
            "NVIDIA-A100-SXM4-80GB".into(),
        );
        allocatable.insert("nvidia.com/gpu".into(), Quantity("8".into()));
        allocatable.insert("nvidia.com/mig-1g.10gb".into(), Quantity("14".into()));
        taints.push(Taint {
            key: "nvidia.com/gpu".into(),
            value: Some("present".into()),
            effect: "NoSchedule".into(),
            ..Taint::default()
        });
    }
    Node {
        metadata: meta(None, &name, labels),
        spec: Some(NodeSpec {
            taints: Some(taints),
            ..NodeSpec::default()
        }),
        status: Some(NodeStatus {
            allocatable: Some(allocatable),
            ..NodeStatus::default()
        }),
    }
}

/// Heap bytes the folded state and the published index of `objects` hold, per object.
fn folded<K: Folded>(objects: Vec<K>) -> (Inventory, usize) {
    let count = objects.len();
    let before = in_use();
    let mut state = K::State::default();
    for object in &objects {
        K::upsert(&mut state, object);
    }
    let mut inventory = Inventory::default();
    K::publish(&state, &mut inventory);
    let bytes = in_use().saturating_sub(before);
    drop(objects);
    // Kept alive with the inventory, as in `serve`.
    std::mem::forget(state);
    (inventory, bytes / count.max(1))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let services: usize = args.first().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let nodes: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1_000);

    let (with_services, per_service) =
        folded((0..services).map(|i| service(i, services)).collect());
    let (with_nodes, per_node) = folded((0..nodes).map(node).collect());
    // The class review 029's claim template names.
    let fast = StorageClass {
        metadata: meta(None, "fast", BTreeMap::new()),
        provisioner: "example.com/ssd".into(),
        ..StorageClass::default()
    };
    let (with_classes, _) = folded(vec![fast]);
    let cluster = Inventory {
        nodes: with_nodes.nodes,
        storage_classes: with_classes.storage_classes,
        ..with_services
    };
    println!("{services} Services: {per_service} heap bytes per Service");
    println!("{nodes} Nodes: {per_node} heap bytes per Node (kept state and grouped index)");

    let Ok(policy) = Policy::builtin_default() else {
        eprintln!("the built-in policy does not load");
        return ExitCode::FAILURE;
    };
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/admission-requests/029-mutate-create-cassandra.json"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!("cannot read {path}");
        return ExitCode::FAILURE;
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        eprintln!("{path} is not JSON");
        return ExitCode::FAILURE;
    };
    let body = value.to_string().into_bytes();
    let decide = |cluster: Option<&Inventory>| {
        let review = admission::parse(&body, Webhook::Validate).ok()?;
        let decision = admission::decide_in(
            &policy,
            Webhook::Validate,
            &review.request,
            KubeVersion::LATEST,
            cluster,
        )
        .ok()?;
        Some(black_box(decision).response.allowed)
    };
    let Some(_) = decide(Some(&cluster)) else {
        eprintln!("review 029 does not parse");
        return ExitCode::FAILURE;
    };
    // Judged, and nothing to report: the time is the checks', not the reporting's.
    if let Ok(review) = admission::parse(&body, Webhook::Validate) {
        let decision = admission::decide_in(
            &policy,
            Webhook::Validate,
            &review.request,
            KubeVersion::LATEST,
            Some(&cluster),
        )
        .expect("stsguard writes its answer");
        let warnings = decision.response.warnings.len();
        let without = admission::decide(
            &policy,
            Webhook::Validate,
            &review.request,
            KubeVersion::LATEST,
        )
        .expect("stsguard writes its answer");
        if warnings != without.response.warnings.len() {
            eprintln!(
                "the cluster adds findings to review 029: {:?}",
                decision.response.warnings
            );
            return ExitCode::FAILURE;
        }
    }
    const ROUNDS: usize = 9;
    const PER_ROUND: u32 = 2_000;
    let mut off = Vec::new();
    let mut on = Vec::new();
    // A warm-up round of each, not counted.
    for _ in 0..PER_ROUND {
        decide(None);
        decide(Some(&cluster));
    }
    for _ in 0..ROUNDS {
        for (times, known) in [(&mut off, None), (&mut on, Some(&cluster))] {
            let started = Instant::now();
            for _ in 0..PER_ROUND {
                decide(known);
            }
            times.push(started.elapsed() / PER_ROUND);
        }
    }
    off.sort();
    on.sort();
    let (off, on) = (off[ROUNDS / 2], on[ROUNDS / 2]);
    println!(
        "/validate decision on review 029 (median of {ROUNDS} alternating rounds): cluster off {:.1} µs, on {:.1} µs ({:+.1} %)",
        off.as_secs_f64() * 1e6,
        on.as_secs_f64() * 1e6,
        (on.as_secs_f64() / off.as_secs_f64() - 1.0) * 100.0
    );
    ExitCode::SUCCESS
}

//! Engine benchmarks: review (validation + defaults) of the seed examples, of the largest
//! real-world file and of the recorded 029 AdmissionReview object; YAML parsing with
//! positions; the JSON Schema check alone. Run with `cargo bench --bench engine`;
//! figures and method are in BENCHMARKS.md.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use stsguard::cli::input;
use stsguard::engine::{self, Context, Operation, Policy, Source};
use stsguard::server::admission::{self, Webhook};

/// The allocator of the `stsguard` binary, so that the figures match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn statefulsets(text: &str) -> Vec<Value> {
    input::parse_source("bench".into(), text.as_bytes())
        .documents
        .into_iter()
        .filter_map(|d| d.ok()?.value)
        .flat_map(|v| {
            input::objects_of(&v)
                .into_iter()
                .map(|found| found.value.clone())
                .collect::<Vec<_>>()
        })
        .filter(input::is_statefulset)
        .collect()
}

/// A policy that sets every default, so mutation work is measured too.
fn full_policy() -> Policy {
    Policy::from_yaml(
        "apiVersion: stsguard.dev/v1\nkind: StatefulSetPolicy\nmetadata: {name: bench}\nspec:\n  defaults:\n    partition: 1\n    revisionHistoryLimit: 5\n    storageClassName: standard\n    podAntiAffinity: {type: preferred}\n",
        "bench",
    )
    .expect("bench policy")
}

fn review_benches(c: &mut Criterion) {
    let policies = [
        (
            "default",
            Policy::builtin_default().expect("default policy"),
        ),
        ("full", full_policy()),
    ];
    let file = Context {
        source: Source::File,
        ..Context::default()
    };
    let examples = manifest_dir().join("tests/data/examples");
    let mut group = c.benchmark_group("review");
    for name in [
        "web",
        "web-parallel",
        "cassandra",
        "mysql",
        "gpu-inference",
        "gpu-mig-and-vgpu",
    ] {
        let objects = statefulsets(&read(&examples.join(format!("{name}.yaml"))));
        for (policy_name, policy) in &policies {
            group.bench_function(format!("{name}/{policy_name}"), |b| {
                b.iter(|| {
                    for object in &objects {
                        black_box(
                            engine::review(
                                policy,
                                Operation::Create,
                                black_box(object),
                                None,
                                &file,
                            )
                            .ok(),
                        );
                    }
                })
            });
        }
    }
    let largest =
        manifest_dir().join("../shared/corpus/manifests/argocd__ha-namespace-install.yaml");
    if largest.exists() {
        let objects = statefulsets(&read(&largest));
        group.bench_function("corpus-largest/default", |b| {
            b.iter(|| {
                for object in &objects {
                    black_box(
                        engine::review(
                            &policies[0].1,
                            Operation::Create,
                            black_box(object),
                            None,
                            &file,
                        )
                        .ok(),
                    );
                }
            })
        });
    }
    let review: Value = serde_json::from_str(&read(
        &manifest_dir().join("tests/data/admission-requests/029-mutate-create-cassandra.json"),
    ))
    .expect("029 is JSON");
    let object = &review["request"]["object"];
    for (policy_name, policy) in &policies {
        group.bench_function(format!("recorded-029/{policy_name}"), |b| {
            b.iter(|| {
                black_box(
                    engine::review(
                        policy,
                        Operation::Create,
                        black_box(object),
                        None,
                        &Context::default(),
                    )
                    .ok(),
                )
            })
        });
    }
    group.finish();
}

fn parse_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("yaml");
    let cassandra = read(&manifest_dir().join("tests/data/examples/cassandra.yaml"));
    group.throughput(Throughput::Bytes(cassandra.len() as u64));
    group.bench_function("cassandra", |b| {
        b.iter(|| black_box(stsguard::yaml::parse_stream(black_box(&cassandra))))
    });
    let largest =
        manifest_dir().join("../shared/corpus/manifests/argocd__ha-namespace-install.yaml");
    if largest.exists() {
        let text = read(&largest);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function("corpus-largest", |b| {
            b.iter(|| black_box(stsguard::yaml::parse_stream(black_box(&text))))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("json");
    let body = read(
        &manifest_dir().join("tests/data/admission-requests/029-mutate-create-cassandra.json"),
    );
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("029-into-value", |b| {
        b.iter(|| black_box(serde_json::from_str::<Value>(black_box(&body)).ok()))
    });
    // What the webhooks do: the AdmissionReview read once, the object without managedFields
    // and the last-applied annotation (/validate), or only what the defaults read (/mutate).
    for webhook in [Webhook::Validate, Webhook::Mutate] {
        group.bench_function(format!("029-admission-parse-{}", webhook.as_str()), |b| {
            b.iter(|| black_box(admission::parse(black_box(body.as_bytes()), webhook).ok()))
        });
    }
    group.finish();
}

fn schema_benches(c: &mut Criterion) {
    let validator = engine::rules::schema::validator().expect("schema compiles");
    let review: Value = serde_json::from_str(&read(
        &manifest_dir().join("tests/data/admission-requests/029-mutate-create-cassandra.json"),
    ))
    .expect("029 is JSON");
    // The rules and the schema check read the object as a `Doc`.
    let object = engine::doc::Doc::from(&review["request"]["object"]);
    let mut group = c.benchmark_group("schema");
    group.bench_function("029-is-valid", |b| {
        b.iter(|| black_box(validator.is_valid(black_box(&object))))
    });
    group.bench_function("029-errors", |b| {
        b.iter(|| black_box(validator.iter_errors(black_box(&object)).count()))
    });
    group.finish();
}

/// One webhook request without HTTP and TLS: parse the AdmissionReview, decide, encode.
fn webhook_benches(c: &mut Criterion) {
    let body = read(
        &manifest_dir().join("tests/data/admission-requests/029-mutate-create-cassandra.json"),
    );
    let policy = Policy::builtin_default().expect("default policy");
    let mut group = c.benchmark_group("webhook");
    for webhook in [Webhook::Validate, Webhook::Mutate] {
        group.bench_function(format!("029-{}", webhook.as_str()), |b| {
            b.iter(|| {
                let review =
                    admission::parse(black_box(body.as_bytes()), webhook).expect("029 parses");
                let decision = admission::decide(
                    &policy,
                    webhook,
                    &review.request,
                    engine::KubeVersion::LATEST,
                )
                .expect("stsguard writes its answer");
                black_box(admission::encode(review.version, &decision.response))
                    .expect("stsguard writes its answer")
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    review_benches,
    parse_benches,
    schema_benches,
    webhook_benches
);
criterion_main!(benches);

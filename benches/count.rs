//! Instruction counts for the webhook's and the CLI's per-object work, for callgrind.
//!
//! Wall-clock benchmarks on a shared 2-core machine move by 20–50 % from run to run;
//! `valgrind --tool=callgrind` counts instructions, which do not depend on what else the
//! machine is doing. This program runs one workload `N` times after its setup, so
//! `(count(N) - count(0)) / N` is the cost of one request or object (BENCHMARKS.md):
//!
//! ```sh
//! cargo bench --bench count --no-run   # prints the binary's path
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null <binary> validate 1000
//! ```
//!
//! Workloads: `parse` and `parse-mutate` (read the AdmissionReview 029 as `/validate` and
//! as `/mutate` read it), `validate` and `mutate` (the whole
//! request without HTTP and TLS: parse, decide, encode), `file` (review the seed cassandra
//! StatefulSet as `stsguard validate` does, normalisation included), `file-mutate` (the same
//! with the defaults, as `stsguard mutate` does). `compact-parse`,
//! `compact-validate` and `compact-mutate` use the same review without the recorded file's
//! indentation (7.4 KB instead of 15.6 KB), as the API server sends it.

use std::hint::black_box;
use std::path::Path;
use std::process::ExitCode;

use stsguard::cli::input;
use stsguard::engine::{self, Context, KubeVersion, Operation, Policy, Source};
use stsguard::server::admission::{self, Webhook};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn read(relative: &str) -> Result<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
}

fn run(workload: &str, iterations: usize) -> Result<(), String> {
    let policy = Policy::builtin_default().map_err(|e| format!("{e:?}"))?;
    engine::rules::schema::warm_up()?;
    let body = read("tests/data/admission-requests/029-mutate-create-cassandra.json")?;
    let (workload, body) = match workload.strip_prefix("compact-") {
        Some(workload) => {
            let value: serde_json::Value =
                serde_json::from_str(&body).map_err(|e| e.to_string())?;
            (workload, value.to_string())
        }
        None => (workload, body),
    };
    let webhook = |webhook: Webhook| -> Result<(), String> {
        for _ in 0..iterations {
            let review =
                admission::parse(black_box(body.as_bytes()), webhook).map_err(|e| e.to_string())?;
            let decision =
                admission::decide(&policy, webhook, &review.request, KubeVersion::LATEST)
                    .map_err(|e| e.to_string())?;
            black_box(admission::encode(review.version, &decision.response))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    match workload {
        "parse" | "parse-mutate" => {
            let webhook = if workload == "parse" {
                Webhook::Validate
            } else {
                Webhook::Mutate
            };
            for _ in 0..iterations {
                black_box(
                    admission::parse(black_box(body.as_bytes()), webhook)
                        .map_err(|e| e.to_string())?,
                );
            }
        }
        "validate" => webhook(Webhook::Validate)?,
        "mutate" => webhook(Webhook::Mutate)?,
        "file" | "file-mutate" => {
            let text = read("tests/data/examples/cassandra.yaml")?;
            let source = input::parse_source("cassandra.yaml".into(), text.as_bytes());
            let object = source
                .documents
                .into_iter()
                .filter_map(|d| d.ok()?.value)
                .find(input::is_statefulset)
                .ok_or("no StatefulSet in cassandra.yaml")?;
            // `stsguard validate` computes no patch, `stsguard mutate` both halves.
            let context = Context {
                source: Source::File,
                defaults: workload == "file-mutate",
                ..Context::default()
            };
            for _ in 0..iterations {
                let review = engine::review(
                    &policy,
                    Operation::Create,
                    black_box(&object),
                    None,
                    &context,
                );
                black_box(review.map_err(|e| e.to_string())?);
            }
        }
        other => {
            return Err(format!(
                "unknown workload {other:?}: [compact-]parse, [compact-]validate, \
                 [compact-]mutate, file or file-mutate"
            ));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(workload), Some(Ok(iterations))) = (args.first(), args.get(1).map(|n| n.parse()))
    else {
        eprintln!(
            "usage: count <[compact-]parse|[compact-]validate|[compact-]mutate|file|file-mutate> <iterations>"
        );
        return ExitCode::from(2);
    };
    match run(workload, iterations) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("count: {e}");
            ExitCode::FAILURE
        }
    }
}

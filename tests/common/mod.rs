//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use stsguard::cli::input;
use stsguard::engine::{self, Context, Finding, KubeVersion, Operation, Policy, Review, Source};

/// `tests/data/...`
pub fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

/// Set (to anything) by `.ci/run`: a test that needs something from outside the repository
/// (`../shared`, kubectl, etcd) and does not find it fails instead of skipping. CI never
/// skips; a user's clone, which has no `../shared` beside it, skips those tests and passes.
pub const NO_SKIP: &str = "STSGUARD_NO_SKIP";

/// Reports that a test cannot run here: one line on stderr (`skipped: …`), or a failure
/// when [`NO_SKIP`] is set. The line is written to stderr directly, past the test harness's
/// capture, so that `cargo test` shows it.
pub fn skip(reason: &str) {
    use std::io::Write;
    assert!(
        std::env::var_os(NO_SKIP).is_none(),
        "{reason}, and {NO_SKIP} is set: CI runs every test"
    );
    let _ = writeln!(std::io::stderr(), "skipped: {reason}");
}

/// `../shared/...` beside the checkout (CI puts it there), or `None` after [`skip`] when it
/// is missing.
pub fn shared(path: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(path);
    if dir.exists() {
        Some(dir)
    } else {
        skip(&format!("../shared/{path} not found"));
        None
    }
}

/// A program on `PATH` (or at the path in the environment variable `override_var`), or
/// `None` after [`skip`] when there is none.
pub fn program(name: &str, override_var: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(override_var) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "{override_var}={} is not a file",
            path.display()
        );
        return Some(path);
    }
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        skip(&format!(
            "{name} not found on PATH (nor in ${override_var})"
        ));
    }
    found
}

/// kubectl from `$KUBECTL` or `PATH` (1.27 or later; it includes kustomize).
pub fn kubectl() -> Option<PathBuf> {
    program("kubectl", "KUBECTL")
}

/// Every recorded CREATE, with the file it was applied from and the StatefulSet's name:
/// `(fixture number, file under tests/data, name)`.
pub const RECORDED_CREATES: &[(&str, &str, &str)] = &[
    ("001", "examples/web.yaml", "web"),
    ("023", "examples/web.yaml", "web"),
    ("031", "examples/web.yaml", "web"),
    (
        "043",
        "broken/warehouse.yaml",
        "analytics-warehouse-primary-replica-set-for-reporting-east",
    ),
    ("027", "examples/web-parallel.yaml", "web"),
    ("029", "examples/cassandra.yaml", "cassandra"),
    ("033", "examples/mysql.yaml", "test-mysql-123-mysql"),
    ("035", "examples/gpu-inference.yaml", "llm"),
    ("037", "examples/gpu-mig-and-vgpu.yaml", "embedder"),
    ("039", "examples/gpu-mig-and-vgpu.yaml", "notebook"),
];

/// A recorded AdmissionReview by its number (`"043"`).
pub fn fixture(number: &str) -> (String, Value) {
    let dir = data("admission-requests");
    let entry = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{number}-"))
        })
        .unwrap_or_else(|| panic!("no fixture {number}"));
    let name = entry.file_name().unwrap().to_string_lossy().into_owned();
    let body = std::fs::read_to_string(&entry).unwrap();
    (name, serde_json::from_str(&body).unwrap())
}

/// Every recorded AdmissionReview, by file name.
pub fn fixtures() -> Vec<(String, Value)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(data("admission-requests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let body = std::fs::read_to_string(&p).unwrap();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                serde_json::from_str(&body).unwrap(),
            )
        })
        .collect()
}

pub fn default_policy() -> Policy {
    Policy::builtin_default().unwrap()
}

/// The StatefulSets of a YAML file.
pub fn statefulsets_in(path: &Path) -> Vec<Value> {
    let source = input::read_source(path).unwrap();
    source
        .documents
        .into_iter()
        .filter_map(|d| d.unwrap().value)
        .filter(input::is_statefulset)
        .collect()
}

/// Reviews an object as the webhook does (already defaulted by the API server).
pub fn review_request_object(policy: &Policy, request: &Value) -> Review {
    let operation = match request["operation"].as_str().unwrap() {
        "CREATE" => Operation::Create,
        "UPDATE" => Operation::Update,
        "DELETE" => Operation::Delete,
        _ => Operation::Connect,
    };
    let old = request.get("oldObject").filter(|v| !v.is_null());
    let cx = Context {
        namespace: request["namespace"].as_str(),
        ..Context::default()
    };
    engine::review(policy, operation, &request["object"], old, &cx).unwrap()
}

/// Reviews an object read from a file (normalised first).
pub fn review_file_object(policy: &Policy, object: &Value) -> Review {
    let cx = Context {
        source: Source::File,
        namespace: Some("default"),
        kube_version: KubeVersion::LATEST,
        ..Context::default()
    };
    engine::review(policy, Operation::Create, object, None, &cx).unwrap()
}

/// `(rule, severity, path)` triples for compact assertions.
pub fn summary(findings: &[Finding]) -> Vec<(String, String, String)> {
    findings
        .iter()
        .map(|f| (f.rule.to_string(), f.severity.to_string(), f.path.clone()))
        .collect()
}

/// The built `stsguard` binary as the tests run it: in the crate root (relative paths are the
/// repository's), stdin closed, and no policy from the environment (`STSGUARD_POLICY` would
/// change every finding). Callers add arguments, and environment or stdio of their own.
pub fn stsguard_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stsguard"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("STSGUARD_POLICY")
        .stdin(Stdio::null());
    command
}

/// Runs `stsguard ARGS` ([`stsguard_command`]) to its end, its output captured.
pub fn stsguard(args: &[&str]) -> Output {
    stsguard_command().args(args).output().unwrap()
}

/// [`stsguard`] with `input` on stdin.
pub fn stsguard_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = stsguard_command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// The name [`many_documents`] replaces in its templates, one per document.
pub const NAME_PLACEHOLDER: &str = "sts-xxxx";

/// The documents of a long stream, for the commands that read their input a batch at a
/// time: a StatefulSet, a ConfigMap with comments (passed through as written), a `kind:
/// List` of one StatefulSet, and a document of nothing but a comment. Each is named
/// [`NAME_PLACEHOLDER`].
pub fn stream_templates() -> Vec<String> {
    let web = std::fs::read_to_string(data("examples/web.yaml")).unwrap();
    let sts = web
        .split("---\n")
        .find(|d| d.contains("kind: StatefulSet"))
        .unwrap()
        .replace(
            "name: web\nspec:",
            &format!("name: {NAME_PLACEHOLDER}\nspec:"),
        );
    assert!(sts.contains(NAME_PLACEHOLDER));
    let item: String = sts
        .lines()
        .enumerate()
        .map(|(i, line)| {
            if i == 0 {
                format!("- {line}\n")
            } else {
                format!("  {line}\n")
            }
        })
        .collect();
    vec![
        sts,
        format!(
            "# kept as written\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {NAME_PLACEHOLDER}   # odd spacing\ndata: {{a: \"1\"}}\n"
        ),
        format!("apiVersion: v1\nkind: List\nitems:\n{item}"),
        "# only a comment\n".to_string(),
    ]
}

/// `n` documents, each `---` and the template `i % templates.len()` named `sts-<i>`.
pub fn many_documents(templates: &[String], n: usize) -> String {
    (0..n)
        .map(|i| {
            let template = &templates[i % templates.len()];
            format!(
                "---\n{}",
                template.replace(NAME_PLACEHOLDER, &format!("sts-{i}"))
            )
        })
        .collect()
}

/// What a command printed for one document of [`many_documents`] (`per_template[t]`, run
/// on `---` and template `t` named [`NAME_PLACEHOLDER`]) renamed as document `i`.
pub fn renamed(per_template: &[String], i: usize) -> String {
    per_template[i % per_template.len()].replace(NAME_PLACEHOLDER, &format!("sts-{i}"))
}

/// Asserts that a command failed (exit 2) and printed nothing; returns its stderr.
pub fn assert_failed_silently(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        output.stdout.is_empty(),
        "printed {} bytes before failing: {stderr}",
        output.stdout.len()
    );
    stderr
}

/// The line of the first `---` of document `index` (from 0) of a stream of `---` documents.
pub fn line_of_document(text: &str, index: usize) -> usize {
    let mut seen = 0;
    for (n, line) in text.lines().enumerate() {
        if line == "---" {
            if seen == index {
                return n + 1;
            }
            seen += 1;
        }
    }
    panic!("no document {index}");
}

/// The stdout of a run that must succeed (exit 0; its stderr shown if not).
pub fn ok_stdout(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

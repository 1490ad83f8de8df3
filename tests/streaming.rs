//! `validate` streams its input (files and stdin are read, judged and dropped as it goes),
//! yet reports what a review of the whole input at once reports: a Service that comes after
//! its StatefulSet, in the same file, a later file or stdin, still counts, and a stdin that
//! turns out not to be UTF-8 contributes nothing. The memory bound is shown by
//! `benches/offline.sh`, not here.

mod common;

use std::path::{Path, PathBuf};

use common::{stsguard, stsguard_stdin};
use stsguard::cli::input;
use stsguard::cli::output::write_json;
use stsguard::cli::validate::{ReviewOptions, review_sources};
use stsguard::engine::KubeVersion;

/// The cassandra StatefulSet of the examples, named `name`.
fn statefulset(name: &str) -> String {
    let text = std::fs::read_to_string(common::data("examples/cassandra.yaml")).unwrap();
    let sts = text
        .split("---\n")
        .find(|doc| doc.contains("kind: StatefulSet"))
        .unwrap();
    sts.replacen("\n  name: cassandra\n", &format!("\n  name: {name}\n"), 1)
}

/// A Service `cassandra` that is neither headless nor selecting the pods.
const BAD_SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: cassandra\nspec:\n  clusterIP: 10.0.0.1\n  selector:\n    app: other\n";

/// `count` StatefulSets: more documents than one batch holds.
fn statefulsets(count: usize) -> String {
    (0..count)
        .map(|i| format!("---\n{}", statefulset(&format!("db-{i}"))))
        .collect()
}

/// `count` StatefulSets, then the Service.
fn late_service_stream(count: usize) -> String {
    format!("{}---\n{BAD_SERVICE}", statefulsets(count))
}

/// The JSON report of a review of the whole input at once (`review_sources`).
fn whole_input_json(paths: &[PathBuf], stdin: Option<&[u8]>) -> String {
    let policy = common::default_policy();
    let options = ReviewOptions {
        policy: &policy,
        namespace: "default",
        kube_version: KubeVersion::LATEST,
        strict: false,
        cluster: None,
    };
    let sources: Vec<input::SourceFile> = paths
        .iter()
        .map(|path| {
            if path.as_os_str() == "-" {
                input::parse_source(input::STDIN_NAME.into(), stdin.unwrap())
            } else {
                input::read_source(path).unwrap()
            }
        })
        .collect();
    let report = review_sources(&sources, &[], &options);
    let mut out = Vec::new();
    write_json(&mut out, &report).unwrap();
    String::from_utf8(out).unwrap()
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_service_after_its_statefulsets_counts_in_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("late.yaml");
    std::fs::write(&file, late_service_stream(600)).unwrap();
    let output = stsguard(&["validate", "--output", "json", arg(&file)]);
    let json = String::from_utf8(output.stdout).unwrap();
    assert_eq!(json, whole_input_json(&[file], None));
    assert_eq!(json.matches("\"rule\": \"service-headless\"").count(), 600);
    assert_eq!(json.matches("\"rule\": \"service-selector\"").count(), 600);
}

#[test]
fn a_service_in_a_later_file_or_on_stdin_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (first, last) = (dir.path().join("a.yaml"), dir.path().join("z.yaml"));
    // The later file's Service replaces the first file's (the last one wins, as for kubectl).
    let good = BAD_SERVICE
        .replace("10.0.0.1", "None")
        .replace("other", "cassandra");
    std::fs::write(&first, format!("{good}{}", statefulsets(300))).unwrap();
    std::fs::write(&last, BAD_SERVICE).unwrap();
    let output = stsguard(&["validate", "--output", "json", arg(&first), arg(&last)]);
    let json = String::from_utf8(output.stdout).unwrap();
    assert_eq!(json, whole_input_json(&[first.clone(), last.clone()], None));

    let text = std::fs::read(&first).unwrap();
    let output = stsguard_stdin(&["validate", "--output", "json", "-", arg(&last)], &text);
    let json = String::from_utf8(output.stdout).unwrap();
    let dash = PathBuf::from("-");
    assert_eq!(json, whole_input_json(&[dash, last], Some(&text)));
    assert!(json.contains("\"file\": \"<stdin>\""));
}

#[test]
fn a_stdin_that_is_not_utf8_contributes_no_service() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sts.yaml");
    std::fs::write(&file, statefulset("web")).unwrap();
    let mut text = late_service_stream(300).into_bytes();
    text.extend_from_slice(b"---\nname: caf\xc3\xa9 \xff\n");
    let output = stsguard_stdin(&["validate", "--output", "json", arg(&file), "-"], &text);
    let json = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        json,
        whole_input_json(&[file, PathBuf::from("-")], Some(&text))
    );
    assert!(json.contains("the file is not UTF-8 text"));
    assert!(!json.contains("service-headless"));
}

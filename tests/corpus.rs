//! Every real-world file of `../shared/corpus/manifests` gets a verdict: findings or a located
//! parse error, never a panic or a usage error. The per-file rule counts are snapshotted so
//! that a change in verdicts is reviewed, not silent.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use stsguard::cli::input;
use stsguard::cli::validate::{ReviewOptions, review_sources};
use stsguard::engine::KubeVersion;

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(common::shared("corpus/manifests"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 169, "the corpus changed");
    files
}

fn options(policy: &stsguard::engine::Policy) -> ReviewOptions<'_> {
    ReviewOptions {
        policy,
        namespace: "default",
        kube_version: KubeVersion::LATEST,
        strict: false,
    }
}

#[test]
fn every_corpus_file_gets_a_verdict() {
    let policy = common::default_policy();
    let options = options(&policy);
    let mut counts: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
    for path in corpus_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = input::read_source(&path).unwrap();
        let report = std::panic::catch_unwind(|| review_sources(&[source], &[], &options))
            .unwrap_or_else(|_| panic!("{name}: the review panicked"));
        let per_rule = counts.entry(name).or_default();
        for located in &report.findings {
            *per_rule.entry(located.finding.rule).or_default() += 1;
        }
        if report.objects.is_empty() && per_rule.is_empty() {
            per_rule.insert("(no StatefulSet of apps/*)", 0);
        }
    }
    insta::assert_yaml_snapshot!("corpus_rule_counts", counts);
}

#[test]
fn invalid_yaml_files_are_named_with_their_line() {
    let policy = common::default_policy();
    let options = options(&policy);
    let mut broken = Vec::new();
    for path in corpus_files() {
        let source = input::read_source(&path).unwrap();
        let report = review_sources(&[source], &[], &options);
        for located in report
            .findings
            .iter()
            .filter(|f| f.finding.rule == "yaml-syntax")
        {
            assert!(located.line >= 1 && located.column >= 1);
            broken.push(format!(
                "{}:{}",
                path.file_name().unwrap().to_string_lossy(),
                located.line
            ));
        }
    }
    insta::assert_yaml_snapshot!("corpus_yaml_errors", broken);
}

#[test]
fn the_binary_never_exits_2_on_the_corpus() {
    let output = Command::new(env!("CARGO_BIN_EXE_stsguard"))
        .args(["validate", "--output", "json"])
        .arg(common::shared("corpus/manifests"))
        .output()
        .unwrap();
    let code = output.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "exit {code:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["summary"]["files"], 169);
}

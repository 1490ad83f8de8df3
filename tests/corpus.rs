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
use stsguard::engine::catalog::RuleId;
use stsguard::yaml::parse_stream;

/// The corpus files in name order, or `None` (skipped) without `../shared`.
fn corpus_files() -> Option<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(common::shared("corpus/manifests")?)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 169, "the corpus changed");
    Some(files)
}

fn options(policy: &stsguard::engine::Policy) -> ReviewOptions<'_> {
    ReviewOptions {
        policy,
        namespace: "default",
        kube_version: KubeVersion::LATEST,
        strict: false,
        cluster: None,
    }
}

#[test]
fn every_corpus_file_gets_a_verdict() {
    let policy = common::default_policy();
    let options = options(&policy);
    let Some(files) = corpus_files() else {
        return;
    };
    let mut counts: BTreeMap<String, BTreeMap<&'static str, usize>> = BTreeMap::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = input::read_source(&path).unwrap();
        let report = std::panic::catch_unwind(|| review_sources(&[source], &[], &options))
            .unwrap_or_else(|_| panic!("{name}: the review panicked"));
        let per_rule = counts.entry(name).or_default();
        for located in &report.findings {
            *per_rule.entry(located.finding.rule.id()).or_default() += 1;
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
    let Some(files) = corpus_files() else {
        return;
    };
    let mut broken = Vec::new();
    for path in files {
        let source = input::read_source(&path).unwrap();
        let report = review_sources(&[source], &[], &options);
        for located in report
            .findings
            .iter()
            .filter(|f| f.finding.rule == RuleId::YamlSyntax)
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
    let Some(corpus) = common::shared("corpus/manifests") else {
        return;
    };
    let output = Command::new(env!("CARGO_BIN_EXE_stsguard"))
        .args(["validate", "--output", "json"])
        .arg(corpus)
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

#[test]
fn the_yaml_reader_refuses_exactly_the_invalid_files() {
    let Some(files) = corpus_files() else {
        return;
    };
    let mut rejected = Vec::new();
    let mut messages = Vec::new();
    let mut documents = 0;
    for path in &files {
        let Ok(text) = std::fs::read_to_string(path) else {
            panic!("unreadable corpus file {}", path.display());
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for doc in parse_stream(&text) {
            match doc {
                Ok(d) => documents += usize::from(d.value.is_some()),
                Err(e) => {
                    println!("{name}:{}:{}: {}", e.line, e.column, e.message);
                    rejected.push(name.clone());
                    messages.push((name.clone(), e.message));
                }
            }
        }
    }
    rejected.dedup();
    println!(
        "{} files, {documents} documents, {} rejected",
        files.len(),
        rejected.len()
    );
    // The five files the corpus notes as not valid YAML (syntax errors)...
    let invalid = [
        "jaeger-k8s__jaeger-es-template-emdash.yaml",
        "longhorn__scale-test-statefulset.yaml",
        "patroni__template_patroni_persistent-missing-colon.yaml",
        "pires-es__es-data-stateful-bad-indent.yaml",
        "sglang__k8s-sglang-distributed-sts.yaml",
    ];
    // ... and the files with duplicate keys, which PyYAML accepts (keeping the last) but
    // the YAML spec and kubectl's strict decoding refuse.
    let duplicates = [
        "bookkeeper__gke-bookkeeper-statefulset-dup-ports.yaml",
        "gkeaccel__nccl-test-a4x-max.yaml",
        "k8sexamples__minio-distributed-statefulset-dup-selector.yaml",
    ];
    let mut expected: Vec<String> = invalid
        .iter()
        .chain(&duplicates)
        .map(|s| s.to_string())
        .collect();
    expected.sort();
    assert_eq!(rejected, expected);
    for (name, message) in &messages {
        assert_eq!(
            message.starts_with("duplicate key"),
            duplicates.contains(&name.as_str()),
            "{name}: {message}"
        );
    }
}

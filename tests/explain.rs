//! `stsguard explain`: every rule is explained, every example is judged by the real engine
//! and trips its rule (and only the rules listed here), and the binary prints, lists and
//! suggests as documented.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use stsguard::cli::input::parse_source;
use stsguard::cli::validate::{ReviewOptions, review_sources};
use stsguard::engine::cluster::Inventory;
use stsguard::engine::rules::catalog::RULES;
use stsguard::engine::{KubeVersion, Policy};

/// Rules an example cannot avoid tripping besides its own, and why.
const COMPANIONS: &[(&str, &[&str])] = &[
    // A claim template name that makes an invalid PVC name is itself an invalid volume
    // name: pvc-name never fires alone (see its explanation).
    ("pvc-name", &["volume-name"]),
    // A claim without a class is also one the policy leaves without a class.
    (
        "storage-class-no-default",
        &["claim-template-storage-class"],
    ),
];

fn stsguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stsguard"))
        .args(args)
        .env_remove("STSGUARD_POLICY")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// The rule ids the built-in policy reports for an example (with its old version, and the
/// cluster it is judged in, if any).
fn rules_tripped(
    example: &str,
    old_example: Option<&str>,
    cluster: Option<&str>,
) -> BTreeSet<&'static str> {
    let policy = Policy::builtin_default().unwrap();
    let cluster = cluster.map(|yaml| {
        let objects: Vec<_> = stsguard::yaml::parse_stream(yaml)
            .into_iter()
            .filter_map(|document| document.unwrap().value)
            .collect();
        Inventory::from_objects(&objects)
    });
    let options = ReviewOptions {
        policy: &policy,
        namespace: "default",
        kube_version: KubeVersion::LATEST,
        strict: false,
        cluster: cluster.as_ref(),
    };
    let source = parse_source("example.yaml".into(), example.as_bytes());
    let old: Vec<_> = old_example
        .map(|old| parse_source("old.yaml".into(), old.as_bytes()))
        .into_iter()
        .collect();
    let report = review_sources(&[source], &old, &options);
    report
        .findings
        .iter()
        .map(|f| f.finding.rule.id())
        .collect()
}

#[test]
fn every_catalog_rule_has_one_record() {
    let ids: BTreeSet<&str> = RULES.iter().map(|rule| rule.id).collect();
    assert_eq!(ids.len(), RULES.len(), "an id has two records");
    assert_eq!(RULES.len(), 47);
}

#[test]
fn every_example_trips_its_rule_and_no_other() {
    let mut wrong = Vec::new();
    for entry in RULES {
        let tripped = rules_tripped(entry.example, entry.old_example, entry.cluster);
        let mut expected: BTreeSet<&str> = [entry.id].into();
        if let Some((_, companions)) = COMPANIONS.iter().find(|(id, _)| *id == entry.id) {
            expected.extend(companions.iter());
        }
        if tripped != expected {
            wrong.push(format!(
                "{}: expected {expected:?}, got {tripped:?}",
                entry.id
            ));
        }
    }
    assert!(wrong.is_empty(), "examples:\n{}", wrong.join("\n"));
}

#[test]
fn the_update_example_needs_its_old_version() {
    let entry = RULES
        .iter()
        .find(|entry| entry.id == "immutable-field")
        .unwrap();
    assert!(entry.old_example.is_some());
    assert!(!rules_tripped(entry.example, None, None).contains("immutable-field"));
}

#[test]
fn explain_name_length_cites_the_limit_and_the_issue() {
    let output = stsguard(&["explain", "name-length"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("52"), "{text}");
    assert!(text.contains("64023"), "{text}");
    for section in ["\nWhat\n", "\nWhy\n", "\nFix\n", "\nExample"] {
        assert!(text.contains(section), "{section:?} missing from\n{text}");
    }
}

#[test]
fn an_unknown_rule_exits_2_with_suggestions() {
    let output = stsguard(&["explain", "nope"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("unknown rule \"nope\""), "{message}");
    assert!(message.contains("did you mean "), "{message}");
    assert!(stdout(&output).is_empty());

    let output = stsguard(&["explain", "volume-mount-unknwon"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("did you mean volume-mount-unknown"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn explain_without_a_rule_lists_every_rule() {
    let output = stsguard(&["explain"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    for rule in RULES {
        let line = text
            .lines()
            .find(|line| line.split_whitespace().next() == Some(rule.id))
            .unwrap_or_else(|| panic!("{} is not listed:\n{text}", rule.id));
        assert!(line.contains(rule.severity.as_str()), "{line}");
        assert!(line.contains(rule.summary), "{line}");
    }
    assert!(text.contains("\nGPUs and other extended resources\n"));
}

#[test]
fn json_output_carries_the_same_content() {
    let output = stsguard(&["explain", "--output", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let list: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let ids: Vec<&str> = list["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, RULES.iter().map(|rule| rule.id).collect::<Vec<_>>());

    let output = stsguard(&["explain", "immutable-field", "-o", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rule: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(rule["id"], "immutable-field");
    assert_eq!(rule["family"], "Updates");
    assert_eq!(rule["severity"], "error");
    assert!(rule["why"].as_str().unwrap().contains("forbidden"));
    assert!(rule["old_example"].as_str().unwrap().contains("1Gi"));
    assert!(
        rule["policy"]
            .as_array()
            .unwrap()
            .iter()
            .any(|note| note.as_str().unwrap().contains("stsguard.dev/ignore"))
    );
}

#[test]
fn volume_mount_unknown_text() {
    let output = stsguard(&["explain", "volume-mount-unknown"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!("volume_mount_unknown_text", stdout(&output));
}

#[test]
fn cluster_examples_need_their_cluster() {
    // Offline without --cluster nothing is known of the cluster: the rules of SPEC §8 are
    // silent, so the same example trips nothing of its own.
    for entry in RULES.iter().filter(|entry| entry.cluster.is_some()) {
        let tripped = rules_tripped(entry.example, entry.old_example, None);
        assert!(!tripped.contains(entry.id), "{}: {tripped:?}", entry.id);
    }
}

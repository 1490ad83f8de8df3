//! The `stsguard` binary: exit codes, inputs, located output, output shapes.

mod common;

use std::process::Output;

use common::{data, stsguard, stsguard_stdin};

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn a_good_file_exits_0() {
    let output = stsguard(&["validate", "tests/data/examples/web.yaml"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "tests/data/examples/web.yaml:42:5: warning[claim-template-storage-class]: claim template \"www\" names no storageClassName and the policy has no default to fill it; each PVC gets whatever the cluster's default StorageClass is when it is created, so replicas added after that default changes store their data on another class\n  help: set spec.storageClassName (claim templates cannot change later), or set defaults.storageClassName in the stsguard policy\n0 errors, 1 warning in 1 file (1 StatefulSet)\n"
    );
}

#[test]
fn a_broken_statefulset_exits_1_with_located_findings() {
    let output = stsguard(&["validate", "tests/data/broken/warehouse.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!("warehouse_text", stdout(&output));
}

#[test]
fn json_output_has_the_documented_shape() {
    let output = stsguard(&[
        "validate",
        "--output",
        "json",
        "tests/data/broken/warehouse.yaml",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    insta::assert_json_snapshot!("warehouse_json", json);
}

#[test]
fn reads_stdin_and_names_it() {
    let body = std::fs::read(data("broken/warehouse.yaml")).unwrap();
    let output = stsguard_stdin(&["validate", "-"], &body);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("<stdin>:27:11: error[volume-mount-unknown]"),
        "{}",
        stdout(&output)
    );
    let good = std::fs::read(data("examples/web.yaml")).unwrap();
    assert_eq!(
        stsguard_stdin(&["validate", "-"], &good).status.code(),
        Some(0)
    );
}

#[test]
fn searches_directories_recursively() {
    let output = stsguard(&["validate", "--output", "json", "tests/data/examples"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["summary"]["files"], 7);
    assert_eq!(json["summary"]["objects"], 8);
    assert_eq!(json["summary"]["errors"], 0);
}

#[test]
fn invalid_yaml_is_located_and_the_run_goes_on() {
    let output = stsguard(&["validate", "tests/data/broken/middle-document.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.starts_with("tests/data/broken/middle-document.yaml:16:"),
        "{text}"
    );
    assert!(text.contains("error[yaml-syntax]"), "{text}");
    // The document after the broken one is still judged.
    assert!(text.ends_with("in 1 file (1 StatefulSet)\n"), "{text}");
}

#[test]
fn usage_problems_exit_2() {
    let missing = stsguard(&["validate", "tests/data/no-such-file.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("no-such-file.yaml"),
        "{}",
        stderr(&missing)
    );

    let version = stsguard(&[
        "validate",
        "--kube-version",
        "one",
        "tests/data/examples/web.yaml",
    ]);
    assert_eq!(version.status.code(), Some(2));

    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: stsguard.dev/v1\nkind: StatefulSetPolicy\nspec:\n  rules: {name-lenght: off}\n  mode: loud\n",
    )
    .unwrap();
    let output = stsguard(&[
        "validate",
        "--policy",
        policy.to_str().unwrap(),
        "tests/data/examples/web.yaml",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("/spec/rules"), "{message}");
    assert!(message.contains("/spec/mode"), "{message}");
}

#[test]
fn fail_on_warning_counts_warnings() {
    let file = "tests/data/examples/mysql.yaml";
    assert_eq!(stsguard(&["validate", file]).status.code(), Some(0));
    assert_eq!(
        stsguard(&["validate", "--fail-on", "warning", file])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn strict_turns_unknown_fields_into_errors() {
    let file = "tests/data/broken/typo.yaml";
    let lenient = stsguard(&["validate", file]);
    assert!(
        stdout(&lenient).contains("warning[schema]: unknown field \"volumeClaimTemplate\""),
        "{}",
        stdout(&lenient)
    );
    let strict = stsguard(&["validate", "--strict", file]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(
        stdout(&strict).contains("error[schema]"),
        "{}",
        stdout(&strict)
    );
}

#[test]
fn old_checks_the_update() {
    let output = stsguard(&[
        "validate",
        "--old",
        "tests/data/examples/web.yaml",
        "tests/data/update/web-bigger-disk.yaml",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("web-bigger-disk.yaml:27:5: error[immutable-field]"),
        "{text}"
    );
    assert!(text.contains("--cascade=orphan"), "{text}");
    // Without --old the same file is a fine CREATE.
    assert_eq!(
        stsguard(&["validate", "tests/data/update/web-bigger-disk.yaml"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn namespace_applies_to_documents_without_one() {
    let output = stsguard(&[
        "validate",
        "--output",
        "json",
        "--namespace",
        "team-a",
        "tests/data/broken/warehouse.yaml",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["findings"][0]["object"]["namespace"], "team-a");
}

const EXEMPT: &str = "tests/data/exempt/kube-system.yaml";
const MIXED: &str = "tests/data/exempt/mixed.yaml";

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn an_exempt_namespace_is_reported_as_not_judged() {
    // Broken (no selector, no labels), but in kube-system, which the default policy exempts:
    // not judged, as the webhook would not judge it, and said so; not a failure.
    let output = stsguard(&["validate", EXEMPT]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!("exempt_text", stdout(&output));
}

#[test]
fn json_lists_the_objects_not_judged() {
    let output = stsguard(&["validate", "--output", "json", EXEMPT]);
    assert_eq!(output.status.code(), Some(0));
    insta::assert_json_snapshot!("exempt_json", json(&output));
}

#[test]
fn include_exempt_judges_exempt_namespaces() {
    let output = stsguard(&["validate", "--include-exempt", EXEMPT]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("kube-system.yaml:9:1: error[selector]: spec.selector is missing"),
        "{text}"
    );
    assert!(!text.contains("not judged"), "{text}");
    assert!(
        text.ends_with("2 errors, 0 warnings in 1 file (1 StatefulSet)\n"),
        "{text}"
    );

    let report = json(&stsguard(&[
        "validate",
        "--include-exempt",
        "--output",
        "json",
        EXEMPT,
    ]));
    assert_eq!(report["notJudged"], serde_json::json!([]));
    assert_eq!(report["summary"]["notJudged"], 0);
    assert_eq!(report["summary"]["errors"], 2);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["object"]["namespace"] == "kube-system")
    );
}

#[test]
fn include_exempt_keeps_the_rest_of_the_policy() {
    // A per-namespace override still applies to the namespace it now judges.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: stsguard.dev/v1\nkind: StatefulSetPolicy\nspec:\n  exemptNamespaces: ['kube-*']\n  namespaces:\n  - match: [kube-system]\n    rules: {selector: warning, schema: off}\n",
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let exempt = stsguard(&["validate", "--policy", policy, EXEMPT]);
    assert_eq!(exempt.status.code(), Some(0));
    assert!(
        stdout(&exempt).contains(
            "not judged: namespace kube-system is exempt in the policy (exemptNamespaces: kube-*)"
        ),
        "{}",
        stdout(&exempt)
    );
    let judged = stsguard(&["validate", "--policy", policy, "--include-exempt", EXEMPT]);
    assert_eq!(judged.status.code(), Some(0), "{}", stdout(&judged));
    assert_eq!(
        stdout(&judged).lines().last(),
        Some("0 errors, 1 warning in 1 file (1 StatefulSet)")
    );
    assert!(
        stdout(&judged).contains("warning[selector]"),
        "{}",
        stdout(&judged)
    );
}

#[test]
fn objects_in_other_namespaces_are_not_listed_as_not_judged() {
    let mixed = json(&stsguard(&["validate", "--output", "json", MIXED]));
    let not_judged = mixed["notJudged"].as_array().unwrap();
    assert_eq!(not_judged.len(), 1, "{mixed}");
    assert_eq!(not_judged[0]["object"]["name"], "metrics");
    assert_eq!(mixed["summary"]["objects"], 2);
    assert_eq!(mixed["summary"]["notJudged"], 1);

    // Nothing exempt: the list and the count are still there, empty and 0, and the text
    // summary says nothing about them.
    let examples = json(&stsguard(&[
        "validate",
        "--output",
        "json",
        "tests/data/examples",
    ]));
    assert_eq!(examples["notJudged"], serde_json::json!([]));
    assert_eq!(examples["summary"]["notJudged"], 0);
    let text = stdout(&stsguard(&["validate", "tests/data/examples"]));
    assert!(
        !text.contains("not judged") && !text.contains("note:"),
        "{text}"
    );
}

#[test]
fn namespace_flag_decides_exemption_for_documents_without_one() {
    // The warehouse names no namespace: with --namespace kube-system it is exempt, and the
    // note points at `metadata:`, the nearest parent of the missing namespace.
    let output = stsguard(&[
        "validate",
        "--namespace",
        "kube-system",
        "tests/data/broken/warehouse.yaml",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert!(
        text.starts_with("tests/data/broken/warehouse.yaml:5:1: note: StatefulSet kube-system/analytics-warehouse-primary-replica-set-for-reporting-east not judged: namespace kube-system is exempt"),
        "{text}"
    );
}

#[test]
fn help_documents_include_exempt() {
    let output = stsguard(&["validate", "--help"]);
    assert!(
        stdout(&output).contains("--include-exempt"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn policy_schema_is_json_schema() {
    let output = stsguard(&["policy", "schema"]);
    assert_eq!(output.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(jsonschema::meta::is_valid(&schema));
}

/// Why a policy or a version was refused, word for word, for each command that loads them.
#[test]
fn policy_and_version_refusals_are_worded_exactly() {
    let missing = "tests/data/no-such-policy.yaml";
    let reason = std::fs::read_to_string(missing).unwrap_err();
    let expected = format!("stsguard: cannot read policy {missing}: {reason}\n");
    for args in [
        &["policy", "check", missing][..],
        &[
            "validate",
            "--policy",
            missing,
            "tests/data/examples/web.yaml",
        ],
        &[
            "mutate",
            "--policy",
            missing,
            "tests/data/examples/web.yaml",
        ],
    ] {
        let output = stsguard(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&output), expected, "{args:?}");
    }
    let output = stsguard(&[
        "validate",
        "--kube-version",
        "1.x",
        "tests/data/examples/web.yaml",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with(
            "error: invalid value '1.x' for '--kube-version <X.Y>': \"1.x\" is not a Kubernetes \
             version like 1.29\n"
        ),
        "{}",
        stderr(&output)
    );
}

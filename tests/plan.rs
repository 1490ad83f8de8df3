//! `stsguard plan` on the seed examples: what the controller creates, matching the tutorial
//! the product was conceived from.

mod common;

use std::process::Output;

use serde_json::Value;

fn plan(args: &[&str], stdin: Option<&str>) -> Output {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    match stdin {
        Some(input) => common::stsguard_stdin(&all, input.as_bytes()),
        None => common::stsguard(&all),
    }
}

fn plan_json(args: &[&str], stdin: Option<&str>) -> Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let output = plan(&all, stdin);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    json["statefulsets"][0].clone()
}

#[test]
fn web_creates_web_0_then_web_1_with_their_claims() {
    let plan = plan_json(&["tests/data/examples/web.yaml"], None);
    assert_eq!(plan["creation"], "sequential");
    assert_eq!(plan["creationOrder"], serde_json::json!(["web-0", "web-1"]));
    assert_eq!(
        plan["scaleDownOrder"],
        serde_json::json!(["web-1", "web-0"])
    );
    assert_eq!(
        plan["pods"][0]["fqdn"],
        "web-0.nginx.default.svc.cluster.local"
    );
    assert_eq!(plan["pods"][0]["pvcs"], serde_json::json!(["www-web-0"]));
    assert_eq!(plan["pods"][1]["pvcs"], serde_json::json!(["www-web-1"]));
}

#[test]
fn web_parallel_creates_all_at_once() {
    let plan = plan_json(&["tests/data/examples/web-parallel.yaml"], None);
    assert_eq!(plan["creation"], "parallel");
    assert_eq!(plan["scaleDown"], "parallel");
}

#[test]
fn cassandra_pods_and_claims() {
    let plan = plan_json(
        &[
            "--cluster-domain",
            "example.internal",
            "tests/data/examples/cassandra.yaml",
        ],
        None,
    );
    assert_eq!(plan["replicas"], 3);
    assert_eq!(plan["pods"][2]["name"], "cassandra-2");
    assert_eq!(
        plan["pods"][2]["fqdn"],
        "cassandra-2.cassandra.default.svc.example.internal"
    );
    assert_eq!(
        plan["pods"][2]["pvcs"],
        serde_json::json!(["cassandra-data-cassandra-2"])
    );
}

#[test]
fn partition_2_of_3_updates_only_web_2() {
    let web = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/examples/web.yaml"))
        .unwrap()
        .replace("replicas: 2", "replicas: 3\n  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate:\n      partition: 2");
    let plan = plan_json(&["-"], Some(&web));
    assert_eq!(plan["update"]["updated"], serde_json::json!(["web-2"]));
    assert_eq!(
        plan["update"]["unchanged"],
        serde_json::json!(["web-0", "web-1"])
    );
}

#[test]
fn text_output() {
    let output = plan(&["tests/data/examples/web.yaml"], None);
    insta::assert_snapshot!("plan_web_text", String::from_utf8(output.stdout).unwrap());
}

#[test]
fn invalid_yaml_is_a_usage_error() {
    let output = plan(&["tests/data/broken/middle-document.yaml"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("middle-document.yaml:16:"));
}

/// Documents in the streams below: several batches of the reader (256 documents).
const STREAM_DOCUMENTS: usize = 1_200;

/// `plan` reads its input a batch at a time: on stdin as from a file, the plans are those
/// of each document on its own, in order.
#[test]
fn plans_a_long_stdin_as_the_file_and_as_each_document_alone() {
    let dir = tempfile::tempdir().unwrap();
    let templates = common::stream_templates();
    let text = common::many_documents(&templates, STREAM_DOCUMENTS);
    let path = dir.path().join("many.yaml");
    std::fs::write(&path, &text).unwrap();
    let path = path.to_str().unwrap();
    let one = dir.path().join("one.yaml");
    let one = one.to_str().unwrap();
    for format in ["text", "json"] {
        let from_file = common::ok_stdout(&plan(&["--output", format, path], None));
        let from_stdin = common::ok_stdout(&plan(&["--output", format, "-"], Some(&text)));
        assert!(
            from_stdin == from_file,
            "-o {format}: stdin and the file differ"
        );
        let per_template: Vec<String> = templates
            .iter()
            .map(|template| {
                std::fs::write(one, format!("---\n{template}")).unwrap();
                common::ok_stdout(&plan(&["--output", format, one], None))
            })
            .collect();
        if format == "text" {
            let expected: String = (0..STREAM_DOCUMENTS)
                .map(|i| common::renamed(&per_template, i))
                .collect();
            assert!(
                from_file == expected,
                "-o text is not the documents' own plans"
            );
        } else {
            let plans: Value = serde_json::from_str(&from_file).unwrap();
            let expected: Vec<Value> = (0..STREAM_DOCUMENTS)
                .flat_map(|i| {
                    let plans: Value =
                        serde_json::from_str(&common::renamed(&per_template, i)).unwrap();
                    plans["statefulsets"].as_array().unwrap().clone()
                })
                .collect();
            assert_eq!(expected.len(), STREAM_DOCUMENTS / 2);
            assert!(
                plans["statefulsets"] == Value::from(expected),
                "-o json is not the documents' own plans"
            );
            let pretty = serde_json::to_string_pretty(&plans).unwrap() + "\n";
            assert!(from_file == pretty, "-o json is not one pretty object");
        }
    }
    // Nothing to plan: an empty list, as before.
    let empty = common::ok_stdout(&plan(&["--output", "json", "-"], Some("")));
    assert_eq!(empty, "{\n  \"statefulsets\": []\n}\n");
}

/// A broken document late in a long input: no plan is printed, not even those of the
/// documents before it.
#[test]
fn a_late_broken_document_prints_no_plan() {
    let templates = common::stream_templates();
    let text = common::many_documents(&templates, STREAM_DOCUMENTS);
    let broken = STREAM_DOCUMENTS - 3;
    let line = common::line_of_document(&text, broken);
    // The document's first line after its `---`, made an unclosed flow sequence.
    let mut lines: Vec<&str> = text.lines().collect();
    lines[line] = "bad: [unclosed";
    let text = lines.join("\n") + "\n";
    for format in ["text", "json"] {
        let output = plan(&["--output", format, "-"], Some(&text));
        let stderr = common::assert_failed_silently(&output);
        assert!(stderr.starts_with("stsguard: <stdin>:"), "{stderr}");
        assert!(stderr.contains("not valid YAML"), "{stderr}");
    }
}

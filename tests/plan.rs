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

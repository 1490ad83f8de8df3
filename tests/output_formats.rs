//! `stsguard validate --output sarif|junit|github`: each format checked against what its
//! consumer requires (SARIF 2.1.0's structure, an XML parser, GitHub's workflow-command
//! syntax), snapshots of each for one broken file and for one StatefulSet that is not judged
//! (an exempt namespace), and exit codes that do not depend on the format.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::Output;

use serde_json::Value;
use stsguard::cli::output::{self, OutputFormat};
use stsguard::cli::report::{LocatedFinding, NotJudgedNote, ObjectRef, Report, ReviewedObject};
use stsguard::engine::rules::catalog::{RULES, RuleId};
use stsguard::engine::{Finding, NotJudged};

const WAREHOUSE: &str = "tests/data/broken/warehouse.yaml";
const MIDDLE_DOCUMENT: &str = "tests/data/broken/middle-document.yaml";
const EXAMPLES: &str = "tests/data/examples";
/// A broken StatefulSet in kube-system (exempt in the default policy), and a file with an
/// exempt StatefulSet and a judged one.
const EXEMPT: &str = "tests/data/exempt";

/// The inputs every format is checked on, alone and together.
const INPUTS: &[&[&str]] = &[
    &[WAREHOUSE],
    &[MIDDLE_DOCUMENT],
    &[EXAMPLES],
    &[EXEMPT],
    &[WAREHOUSE, MIDDLE_DOCUMENT, EXAMPLES, EXEMPT],
];

fn validate(format: &str, paths: &[&str]) -> Output {
    let mut args = vec!["validate", "--output", format];
    args.extend_from_slice(paths);
    common::stsguard(&args)
}

fn validate_stdin(format: &str, input: &[u8]) -> Output {
    common::stsguard_stdin(&["validate", "--output", format, "-"], input)
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The JSON format's report: the reference the other formats are compared with.
fn json_report(paths: &[&str]) -> Value {
    serde_json::from_slice(&validate("json", paths).stdout).unwrap()
}

fn render(format: OutputFormat, report: &Report) -> String {
    let mut out = Vec::new();
    output::write(&mut out, format, report).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn exit_codes_do_not_depend_on_the_format() {
    for format in ["text", "json", "sarif", "junit", "github"] {
        for (paths, code) in [
            (&[WAREHOUSE][..], 1),
            (&[MIDDLE_DOCUMENT][..], 1),
            (&[EXAMPLES][..], 0),
            // Not judged is not a failure.
            (&[EXEMPT][..], 0),
        ] {
            let output = validate(format, paths);
            assert_eq!(
                output.status.code(),
                Some(code),
                "--output {format} {paths:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

// SARIF

/// Checks `log` against the structure SARIF 2.1.0 (OASIS) requires of the objects stsguard
/// writes, including that no object has a property the specification does not define (the
/// standard schema closes its objects the same way; extensions belong in `properties`).
fn assert_sarif_2_1_0(log: &Value) {
    assert_keys(
        log,
        "sarifLog",
        &[
            "$schema",
            "version",
            "runs",
            "inlineExternalProperties",
            "properties",
        ],
    );
    assert_eq!(log["version"], "2.1.0");
    let schema = log["$schema"].as_str().expect("$schema is a string");
    assert!(schema.starts_with("https://"), "$schema {schema} is a URI");
    assert!(schema.contains("2.1.0"), "$schema {schema} names 2.1.0");
    let runs = log["runs"].as_array().expect("runs is an array");
    assert!(!runs.is_empty());
    for run in runs {
        assert_sarif_run(run);
    }
}

fn assert_sarif_run(run: &Value) {
    assert_keys(
        run,
        "run",
        &[
            "tool",
            "invocations",
            "conversion",
            "language",
            "versionControlProvenance",
            "originalUriBaseIds",
            "artifacts",
            "logicalLocations",
            "graphs",
            "results",
            "automationDetails",
            "runAggregates",
            "baselineGuid",
            "redactionTokens",
            "defaultEncoding",
            "defaultSourceLanguage",
            "newlineSequences",
            "columnKind",
            "externalPropertyFileReferences",
            "threadFlowLocations",
            "taxonomies",
            "addresses",
            "translations",
            "policies",
            "webRequests",
            "webResponses",
            "specialLocations",
            "properties",
        ],
    );
    if let Some(kind) = run.get("columnKind") {
        assert!(
            kind == "utf16CodeUnits" || kind == "unicodeCodePoints",
            "columnKind {kind}"
        );
    }
    assert_keys(
        &run["tool"],
        "tool",
        &["driver", "extensions", "properties"],
    );
    let driver = &run["tool"]["driver"];
    assert_keys(
        driver,
        "toolComponent",
        &[
            "guid",
            "name",
            "organization",
            "product",
            "productSuite",
            "shortDescription",
            "fullDescription",
            "fullName",
            "version",
            "semanticVersion",
            "dottedQuadFileVersion",
            "releaseDateUtc",
            "downloadUri",
            "informationUri",
            "globalMessageStrings",
            "notifications",
            "rules",
            "taxa",
            "locations",
            "language",
            "contents",
            "isComprehensive",
            "localizedDataSemanticVersion",
            "minimumRequiredLocalizedDataSemanticVersion",
            "associatedComponent",
            "translationMetadata",
            "supportedTaxonomies",
            "properties",
        ],
    );
    assert!(
        driver["name"].as_str().is_some_and(|n| !n.is_empty()),
        "tool.driver.name is a non-empty string"
    );
    let rules = driver["rules"]
        .as_array()
        .expect("driver.rules is an array");
    let mut ids = HashSet::new();
    for rule in rules {
        assert_keys(
            rule,
            "reportingDescriptor",
            &[
                "id",
                "deprecatedIds",
                "guid",
                "deprecatedGuids",
                "name",
                "deprecatedNames",
                "shortDescription",
                "fullDescription",
                "messageStrings",
                "defaultConfiguration",
                "helpUri",
                "help",
                "relationships",
                "properties",
            ],
        );
        let id = rule["id"]
            .as_str()
            .expect("reportingDescriptor.id is a string");
        assert!(ids.insert(id), "rule {id} described twice");
        for key in ["shortDescription", "fullDescription", "help"] {
            if let Some(text) = rule.get(key) {
                assert_keys(
                    text,
                    "multiformatMessageString",
                    &["text", "markdown", "properties"],
                );
                assert!(text["text"].is_string(), "{id}: {key}.text is required");
            }
        }
        if let Some(configuration) = rule.get("defaultConfiguration") {
            assert_keys(
                configuration,
                "reportingConfiguration",
                &["enabled", "level", "rank", "parameters", "properties"],
            );
            assert_level(&configuration["level"]);
        }
        if let Some(properties) = rule.get("properties") {
            assert_property_bag(properties);
        }
    }
    let results = run["results"].as_array().expect("run.results is an array");
    for result in results {
        assert_sarif_result(result, rules);
    }
    let descriptors = driver
        .get("notifications")
        .map(|n| {
            n.as_array()
                .expect("driver.notifications is an array")
                .clone()
        })
        .unwrap_or_default();
    for descriptor in &descriptors {
        assert_keys(
            descriptor,
            "reportingDescriptor",
            &[
                "id",
                "name",
                "shortDescription",
                "fullDescription",
                "defaultConfiguration",
                "help",
                "properties",
            ],
        );
        assert!(descriptor["id"].is_string());
        assert_level(&descriptor["defaultConfiguration"]["level"]);
    }
    for invocation in run["invocations"].as_array().into_iter().flatten() {
        assert_keys(
            invocation,
            "invocation",
            &[
                "commandLine",
                "arguments",
                "responseFiles",
                "startTimeUtc",
                "endTimeUtc",
                "exitCode",
                "ruleConfigurationOverrides",
                "notificationConfigurationOverrides",
                "toolExecutionNotifications",
                "toolConfigurationNotifications",
                "exitCodeDescription",
                "exitSignalName",
                "exitSignalNumber",
                "processStartFailureMessage",
                "executionSuccessful",
                "machine",
                "account",
                "processId",
                "executableLocation",
                "workingDirectory",
                "environmentVariables",
                "stdin",
                "stdout",
                "stderr",
                "stdoutStderr",
                "properties",
            ],
        );
        assert!(
            invocation["executionSuccessful"].is_boolean(),
            "invocation.executionSuccessful is required"
        );
        for notification in invocation["toolExecutionNotifications"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_sarif_notification(notification, &descriptors);
        }
    }
}

fn assert_sarif_notification(notification: &Value, descriptors: &[Value]) {
    assert_keys(
        notification,
        "notification",
        &[
            "locations",
            "message",
            "level",
            "threadId",
            "timeUtc",
            "exception",
            "descriptor",
            "associatedRule",
            "properties",
        ],
    );
    assert_level(&notification["level"]);
    assert!(
        notification["message"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "notification.message.text is non-empty"
    );
    if let Some(descriptor) = notification.get("descriptor") {
        assert_keys(
            descriptor,
            "reportingDescriptorReference",
            &["id", "index", "guid", "toolComponent", "properties"],
        );
        let index = descriptor["index"].as_u64().expect("descriptor.index") as usize;
        assert!(
            index < descriptors.len(),
            "descriptor index {index} out of range"
        );
        assert_eq!(descriptors[index]["id"], descriptor["id"]);
    }
    for location in notification["locations"].as_array().into_iter().flatten() {
        assert_sarif_location(location);
    }
}

fn assert_sarif_result(result: &Value, rules: &[Value]) {
    assert_keys(
        result,
        "result",
        &[
            "ruleId",
            "ruleIndex",
            "rule",
            "kind",
            "level",
            "message",
            "analysisTarget",
            "locations",
            "guid",
            "correlationGuid",
            "occurrenceCount",
            "partialFingerprints",
            "fingerprints",
            "stacks",
            "codeFlows",
            "graphs",
            "graphTraversals",
            "relatedLocations",
            "suppressions",
            "baselineState",
            "rank",
            "attachments",
            "hostedViewerUri",
            "workItemUris",
            "provenance",
            "fixes",
            "taxa",
            "webRequest",
            "webResponse",
            "properties",
        ],
    );
    let rule_id = result["ruleId"]
        .as_str()
        .expect("result.ruleId is a string");
    let index = result["ruleIndex"]
        .as_u64()
        .expect("result.ruleIndex is an integer >= 0") as usize;
    assert!(index < rules.len(), "ruleIndex {index} out of range");
    assert_eq!(rules[index]["id"], rule_id, "ruleIndex points at ruleId");
    assert_level(&result["level"]);
    assert_keys(
        &result["message"],
        "message",
        &["text", "markdown", "id", "arguments", "properties"],
    );
    assert!(
        result["message"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "message.text is non-empty"
    );
    let locations = result["locations"].as_array().expect("locations");
    assert!(!locations.is_empty());
    for location in locations {
        assert_sarif_location(location);
    }
    if let Some(fingerprints) = result.get("partialFingerprints") {
        let fingerprints = fingerprints
            .as_object()
            .expect("partialFingerprints object");
        assert!(fingerprints.values().all(Value::is_string));
    }
    if let Some(properties) = result.get("properties") {
        assert_property_bag(properties);
    }
}

fn assert_sarif_location(location: &Value) {
    assert_keys(
        location,
        "location",
        &[
            "id",
            "physicalLocation",
            "logicalLocations",
            "message",
            "annotations",
            "relationships",
            "properties",
        ],
    );
    let physical = &location["physicalLocation"];
    assert_keys(
        physical,
        "physicalLocation",
        &[
            "address",
            "artifactLocation",
            "region",
            "contextRegion",
            "properties",
        ],
    );
    let artifact = &physical["artifactLocation"];
    assert_keys(
        artifact,
        "artifactLocation",
        &["uri", "uriBaseId", "index", "description", "properties"],
    );
    let uri = artifact["uri"].as_str().expect("artifactLocation.uri");
    assert_uri_reference(uri);
    let region = &physical["region"];
    assert_keys(
        region,
        "region",
        &[
            "startLine",
            "startColumn",
            "endLine",
            "endColumn",
            "charOffset",
            "charLength",
            "byteOffset",
            "byteLength",
            "snippet",
            "message",
            "sourceLanguage",
            "properties",
        ],
    );
    assert!(
        region["startLine"].as_u64().is_some_and(|l| l >= 1),
        "{region}"
    );
    assert!(
        region["startColumn"].as_u64().is_some_and(|c| c >= 1),
        "{region}"
    );
    for logical in location["logicalLocations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        assert_keys(
            logical,
            "logicalLocation",
            &[
                "name",
                "index",
                "fullyQualifiedName",
                "decoratedName",
                "parentIndex",
                "kind",
                "properties",
            ],
        );
        assert!(logical["fullyQualifiedName"].is_string());
    }
}

fn assert_keys(object: &Value, what: &str, allowed: &[&str]) {
    let object = object
        .as_object()
        .unwrap_or_else(|| panic!("{what} is an object: {object}"));
    for key in object.keys() {
        assert!(
            allowed.contains(&key.as_str()),
            "{what} has no property {key:?}"
        );
    }
}

fn assert_level(level: &Value) {
    let level = level.as_str().expect("level is a string");
    assert!(
        ["none", "note", "warning", "error"].contains(&level),
        "level {level}"
    );
}

fn assert_property_bag(properties: &Value) {
    let properties = properties.as_object().expect("a property bag is an object");
    if let Some(tags) = properties.get("tags") {
        let tags = tags.as_array().expect("tags is an array");
        assert!(tags.iter().all(Value::is_string));
        let unique: HashSet<_> = tags.iter().map(Value::to_string).collect();
        assert_eq!(unique.len(), tags.len(), "tags are unique");
    }
}

/// An RFC 3986 URI reference as artifactLocation.uri needs it: no spaces, backslashes or
/// characters outside ASCII, `%` only in escapes, no scheme-like first segment unless it is
/// meant as one.
fn assert_uri_reference(uri: &str) {
    assert!(!uri.is_empty());
    assert!(uri.is_ascii(), "{uri}");
    assert!(!uri.contains([' ', '\\', '"', '<', '>']), "{uri}");
    let bytes = uri.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%' {
            assert!(
                bytes
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)),
                "{uri}"
            );
        }
    }
    if let Some((scheme, _)) = uri.split_once(':')
        && !scheme.contains('/')
    {
        assert_eq!(scheme, "file", "{uri}");
    }
}

#[test]
fn sarif_has_the_structure_sarif_2_1_0_requires() {
    for paths in INPUTS {
        let output = validate("sarif", paths);
        let log: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{paths:?}: not JSON: {e}"));
        assert_sarif_2_1_0(&log);
    }
}

#[test]
fn sarif_describes_every_catalog_rule() {
    let log: Value = serde_json::from_slice(&validate("sarif", &[WAREHOUSE]).stdout).unwrap();
    let driver = &log["runs"][0]["tool"]["driver"];
    assert_eq!(driver["name"], "stsguard");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(rules.len(), RULES.len());
    for (descriptor, rule) in rules.iter().zip(RULES) {
        assert_eq!(descriptor["id"], rule.id);
        assert_eq!(
            descriptor["defaultConfiguration"]["level"],
            rule.severity.as_str()
        );
        let full = descriptor["fullDescription"]["text"].as_str().unwrap();
        assert!(
            full.contains(rule.summary) && full.contains(rule.breaks),
            "{full}"
        );
    }
}

#[test]
fn sarif_results_are_the_findings() {
    for paths in INPUTS {
        let log: Value = serde_json::from_slice(&validate("sarif", paths).stdout).unwrap();
        let run = &log["runs"][0];
        assert_eq!(run["columnKind"], "unicodeCodePoints");
        let results = run["results"].as_array().unwrap();
        let json = json_report(paths);
        let findings = json["findings"].as_array().unwrap();
        assert_eq!(results.len(), findings.len(), "{paths:?}");
        let mut fingerprints = HashSet::new();
        for (result, finding) in results.iter().zip(findings) {
            assert_eq!(result["ruleId"], finding["rule"]);
            assert_eq!(result["level"], finding["severity"]);
            let message = result["message"]["text"].as_str().unwrap();
            assert!(message.starts_with(finding["message"].as_str().unwrap()));
            assert!(message.ends_with(finding["hint"].as_str().unwrap()));
            let location = &result["locations"][0];
            let physical = &location["physicalLocation"];
            assert_eq!(physical["artifactLocation"]["uri"], finding["file"]);
            assert_eq!(physical["region"]["startLine"], finding["line"]);
            assert_eq!(physical["region"]["startColumn"], finding["column"]);
            match finding["object"].as_object() {
                Some(object) => assert_eq!(
                    location["logicalLocations"][0]["fullyQualifiedName"],
                    format!(
                        "StatefulSet/{}/{}",
                        object["namespace"].as_str().unwrap(),
                        object["name"].as_str().unwrap()
                    )
                ),
                None => assert!(location.get("logicalLocations").is_none()),
            }
            let fingerprint = result["partialFingerprints"]["stsguard/v1"].to_string();
            assert!(fingerprints.insert(fingerprint), "fingerprints are unique");
        }
    }
}

#[test]
fn sarif_fingerprints_survive_moved_lines() {
    let body = std::fs::read_to_string(WAREHOUSE).unwrap();
    let fingerprints = |body: &str| -> Vec<Value> {
        let log: Value =
            serde_json::from_slice(&validate_stdin("sarif", body.as_bytes()).stdout).unwrap();
        let results = log["runs"][0]["results"].as_array().unwrap().clone();
        results
            .iter()
            .map(|r| r["partialFingerprints"].clone())
            .collect()
    };
    let moved = format!("# a comment that moves every line\n\n{body}");
    assert_eq!(fingerprints(&body), fingerprints(&moved));
}

#[test]
fn sarif_names_stdin() {
    let body = std::fs::read(WAREHOUSE).unwrap();
    let log: Value = serde_json::from_slice(&validate_stdin("sarif", &body).stdout).unwrap();
    assert_sarif_2_1_0(&log);
    let artifact =
        &log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert_eq!(artifact["uri"], "stdin");
    assert_eq!(artifact["description"]["text"], "standard input");
}

/// The SARIF output as written (property order included), with the crate version redacted and
/// the catalog's rule descriptors (checked by `sarif_describes_every_catalog_rule`) collapsed,
/// so that a new rule does not change a snapshot.
fn redacted_sarif(paths: &[&str]) -> String {
    let sarif = stdout(&validate("sarif", paths));
    let version = env!("CARGO_PKG_VERSION");
    let mut redacted = Vec::new();
    let mut in_rules = false;
    for line in sarif.lines() {
        match line.trim() {
            "\"rules\": [" => {
                in_rules = true;
                redacted.push(line.replace('[', "[\"[the catalog]\"],"));
            }
            "]," | "]" if in_rules && line.len() - line.trim_start().len() == 10 => {
                in_rules = false;
            }
            _ if in_rules => {}
            _ => redacted.push(line.replace(&format!(": \"{version}\""), ": \"[version]\"")),
        }
    }
    let redacted = redacted.join("\n");
    assert!(
        redacted.contains("\"semanticVersion\": \"[version]\""),
        "{redacted}"
    );
    redacted
}

#[test]
fn sarif_snapshot_of_the_warehouse() {
    insta::assert_snapshot!("warehouse_sarif", redacted_sarif(&[WAREHOUSE]));
}

#[test]
fn sarif_snapshot_of_a_statefulset_not_judged() {
    insta::assert_snapshot!(
        "exempt_sarif",
        redacted_sarif(&["tests/data/exempt/kube-system.yaml"])
    );
}

#[test]
fn sarif_notes_each_statefulset_not_judged_and_raises_no_alert() {
    for paths in INPUTS {
        let log: Value = serde_json::from_slice(&validate("sarif", paths).stdout).unwrap();
        let run = &log["runs"][0];
        let json = json_report(paths);
        let not_judged = json["notJudged"].as_array().unwrap();
        let notifications = run["invocations"][0]["toolExecutionNotifications"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(notifications.len(), not_judged.len(), "{paths:?}");
        if not_judged.is_empty() {
            // Nothing to say: the run looks as it did before notifications existed.
            assert!(run.get("invocations").is_none(), "{paths:?}");
            assert!(run["tool"]["driver"].get("notifications").is_none());
            continue;
        }
        assert_eq!(run["invocations"][0]["executionSuccessful"], true);
        for (notification, object) in notifications.iter().zip(not_judged) {
            assert_eq!(notification["level"], "note");
            assert_eq!(notification["descriptor"]["id"], object["reason"]);
            let message = notification["message"]["text"].as_str().unwrap();
            assert!(
                message.contains(object["message"].as_str().unwrap()),
                "{message}"
            );
            assert!(
                message.ends_with(object["hint"].as_str().unwrap()),
                "{message}"
            );
            let location = &notification["locations"][0];
            let physical = &location["physicalLocation"];
            assert_eq!(physical["artifactLocation"]["uri"], object["file"]);
            assert_eq!(physical["region"]["startLine"], object["line"]);
            assert_eq!(physical["region"]["startColumn"], object["column"]);
            assert_eq!(
                location["logicalLocations"][0]["fullyQualifiedName"],
                format!(
                    "StatefulSet/{}/{}",
                    object["object"]["namespace"].as_str().unwrap(),
                    object["object"]["name"].as_str().unwrap()
                )
            );
        }
        // Results are the findings only (`sarif_results_are_the_findings`): an object that
        // was not judged opens no code-scanning alert.
        let results = run["results"].as_array().unwrap();
        assert!(results.iter().all(|r| r["level"] != "note"));
    }
}

// JUnit XML

/// `(tests, failures, skipped)` a JUnit report of `paths` must count: one test case per
/// StatefulSet and one per file with YAML syntax errors; failing are those with an error
/// finding, skipped those not judged.
fn expected_junit_counts(paths: &[&str]) -> (usize, usize, usize) {
    let json = json_report(paths);
    let findings = json["findings"].as_array().unwrap();
    let syntax_files: BTreeSet<&str> = findings
        .iter()
        .filter(|f| f["object"].is_null())
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    let failing_objects: BTreeSet<String> = findings
        .iter()
        .filter(|f| !f["object"].is_null() && f["severity"] == "error")
        .map(|f| format!("{} {}", f["file"], f["object"]))
        .collect();
    let objects = json["summary"]["objects"].as_u64().unwrap() as usize;
    let not_judged = json["summary"]["notJudged"].as_u64().unwrap() as usize;
    (
        objects + syntax_files.len(),
        failing_objects.len() + syntax_files.len(),
        not_judged,
    )
}

fn count(node: roxmltree::Node<'_, '_>, attribute: &str) -> usize {
    node.attribute(attribute)
        .unwrap_or_else(|| panic!("<{}> has no {attribute}", node.tag_name().name()))
        .parse()
        .unwrap()
}

#[test]
fn junit_counts_statefulsets_and_failures() {
    for paths in INPUTS {
        let xml = stdout(&validate("junit", paths));
        let document = roxmltree::Document::parse(&xml)
            .unwrap_or_else(|e| panic!("{paths:?}: not well-formed XML: {e}\n{xml}"));
        let root = document.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        let (tests, failures, skipped) = expected_junit_counts(paths);
        assert_eq!(count(root, "tests"), tests, "{paths:?}");
        assert_eq!(count(root, "failures"), failures, "{paths:?}");
        assert_eq!(count(root, "errors"), 0);
        assert_eq!(count(root, "skipped"), skipped, "{paths:?}");

        let suites: Vec<_> = root.children().filter(|n| n.is_element()).collect();
        let (mut suite_tests, mut suite_failures, mut suite_skipped) = (0, 0, 0);
        for suite in &suites {
            assert_eq!(suite.tag_name().name(), "testsuite");
            let cases: Vec<_> = suite.children().filter(|n| n.is_element()).collect();
            assert!(cases.iter().all(|c| c.tag_name().name() == "testcase"));
            let failing = cases
                .iter()
                .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
                .count();
            let skipping = cases
                .iter()
                .filter(|c| c.children().any(|n| n.has_tag_name("skipped")))
                .count();
            assert_eq!(count(*suite, "tests"), cases.len());
            assert_eq!(count(*suite, "failures"), failing);
            assert_eq!(count(*suite, "errors"), 0);
            assert_eq!(count(*suite, "skipped"), skipping);
            for case in &cases {
                assert_eq!(case.attribute("classname"), suite.attribute("name"));
            }
            suite_tests += cases.len();
            suite_failures += failing;
            suite_skipped += skipping;
        }
        assert_eq!(
            (suite_tests, suite_failures, suite_skipped),
            (tests, failures, skipped),
            "{paths:?}"
        );
    }
}

#[test]
fn junit_skips_statefulsets_not_judged() {
    let xml = stdout(&validate("junit", &[EXEMPT]));
    let document = roxmltree::Document::parse(&xml).unwrap();
    let case = |name: &str| {
        document
            .descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no test case {name} in {xml}"))
    };
    let exempt = case("StatefulSet kube-system/metrics");
    let skipped = exempt
        .children()
        .find(|n| n.has_tag_name("skipped"))
        .unwrap();
    assert_eq!(
        skipped.attribute("message"),
        Some(
            "not judged: namespace kube-system is exempt in the policy (exemptNamespaces: kube-system); \
             pass --include-exempt to judge it anyway (the webhook admits it without review)"
        )
    );
    assert!(!exempt.children().any(|n| n.has_tag_name("failure")));
    // The judged StatefulSet beside it is neither skipped nor failing.
    assert!(!case("StatefulSet team-a/queue").has_children());
}

#[test]
fn junit_has_a_suite_per_file_and_a_case_per_statefulset() {
    let xml = stdout(&validate("junit", &[WAREHOUSE, MIDDLE_DOCUMENT, EXAMPLES]));
    let document = roxmltree::Document::parse(&xml).unwrap();
    let cases: BTreeMap<(&str, &str), roxmltree::Node<'_, '_>> = document
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|n| {
            (
                (
                    n.attribute("classname").unwrap(),
                    n.attribute("name").unwrap(),
                ),
                n,
            )
        })
        .collect();
    let suites = document
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .count();
    assert_eq!(suites, 2 + 7);
    assert_eq!(cases.len(), 1 + 2 + 8);

    // Errors fail the case, listed one per finding with their hint.
    let warehouse = cases[&(
        WAREHOUSE,
        "StatefulSet default/analytics-warehouse-primary-replica-set-for-reporting-east",
    )];
    let failure = warehouse
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(
        failure.attribute("message"),
        Some("3 errors: name-length, extended-resource-limits, volume-mount-unknown")
    );
    let text = failure.text().unwrap();
    for start in [
        "tests/data/broken/warehouse.yaml:6:3: error[name-length]: ",
        "tests/data/broken/warehouse.yaml:23:13: error[extended-resource-limits]: ",
        "tests/data/broken/warehouse.yaml:27:11: error[volume-mount-unknown]: container \"db\"",
    ] {
        assert!(text.contains(start), "{start} in {text}");
    }
    assert!(text.contains("  help: did you mean \"pgdata\"?"), "{text}");
    assert!(!text.contains("warning["), "{text}");
    let system_out = warehouse
        .children()
        .find(|n| n.has_tag_name("system-out"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        system_out.contains(":31:7: warning[claim-template-unused]"),
        "{system_out}"
    );

    // The broken document is a failing case of its own; the document after it passes.
    let syntax = cases[&(MIDDLE_DOCUMENT, "yaml-syntax")];
    assert!(
        syntax
            .children()
            .find(|n| n.has_tag_name("failure"))
            .unwrap()
            .text()
            .unwrap()
            .starts_with("tests/data/broken/middle-document.yaml:16:13: error[yaml-syntax]: ")
    );
    let queue = cases[&(MIDDLE_DOCUMENT, "StatefulSet default/queue")];
    assert!(!queue.has_children());

    // Warnings alone pass, and are listed.
    let web = cases[&("tests/data/examples/web.yaml", "StatefulSet default/web")];
    assert!(!web.children().any(|n| n.has_tag_name("failure")));
    assert!(
        web.children()
            .find(|n| n.has_tag_name("system-out"))
            .unwrap()
            .text()
            .unwrap()
            .contains("warning[claim-template-storage-class]")
    );
    assert_eq!(web.attribute("file"), Some("tests/data/examples/web.yaml"));
}

/// A one-object report whose strings hold everything XML and workflow commands must escape.
fn nasty_report() -> Report {
    let file = "specs/a&b <\"q\"> 50%, c:d.yaml".to_string();
    let object = ObjectRef {
        kind: "StatefulSet".into(),
        namespace: "default".into(),
        name: "web<&>\"'".into(),
    };
    let finding = Finding::new(
        RuleId::VolumeMountUnknown,
        "/spec/template/spec/containers/0/volumeMounts/0/name",
        "volume \"a<b\" & 'c' \u{1}bell\u{b}\r\n100% done, next: x",
        "use <volume> & retry",
    );
    Report {
        files: 1,
        objects: vec![ReviewedObject {
            file: file.clone(),
            line: 1,
            column: 1,
            object: object.clone(),
            errors: 1,
            warnings: 0,
            not_judged: None,
        }],
        unlisted: 0,
        findings: vec![LocatedFinding {
            file,
            line: 27,
            column: 11,
            object: Some(object),
            finding,
        }],
    }
}

#[test]
fn junit_escapes_markup_and_drops_what_xml_forbids() {
    let xml = render(OutputFormat::Junit, &nasty_report());
    let document = roxmltree::Document::parse(&xml)
        .unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{xml}"));
    let case = document
        .descendants()
        .find(|n| n.has_tag_name("testcase"))
        .unwrap();
    assert_eq!(
        case.attribute("name"),
        Some("StatefulSet default/web<&>\"'")
    );
    assert_eq!(
        case.attribute("classname"),
        Some("specs/a&b <\"q\"> 50%, c:d.yaml")
    );
    let failure = case.children().find(|n| n.has_tag_name("failure")).unwrap();
    assert_eq!(
        failure.text(),
        Some(
            "specs/a&b <\"q\"> 50%, c:d.yaml:27:11: error[volume-mount-unknown]: \
             volume \"a<b\" & 'c' \u{fffd}bell\u{fffd}\r\n100% done, next: x\n  \
             help: use <volume> & retry\n"
        )
    );
}

/// [`nasty_report`] with one more StatefulSet, not judged, in a namespace whose name holds
/// what XML and workflow commands must escape (no real namespace can: escaping must not
/// depend on that).
fn nasty_report_with_one_not_judged() -> Report {
    let mut report = nasty_report();
    let file = report.objects[0].file.clone();
    let namespace = "kube-<&>\"%,:";
    report.objects.push(ReviewedObject {
        file,
        line: 40,
        column: 1,
        object: ObjectRef {
            kind: "StatefulSet".into(),
            namespace: namespace.into(),
            name: "cache".into(),
        },
        errors: 0,
        warnings: 0,
        not_judged: Some(NotJudgedNote {
            line: 43,
            column: 14,
            reason: NotJudged::ExemptNamespace {
                namespace: namespace.into(),
                pattern: "kube-*".into(),
            },
        }),
    });
    report
}

#[test]
fn junit_escapes_the_skipped_message() {
    let xml = render(OutputFormat::Junit, &nasty_report_with_one_not_judged());
    let document = roxmltree::Document::parse(&xml)
        .unwrap_or_else(|e| panic!("not well-formed XML: {e}\n{xml}"));
    let skipped = document
        .descendants()
        .find(|n| n.has_tag_name("skipped"))
        .unwrap();
    assert!(
        skipped.attribute("message").unwrap().starts_with(
            "not judged: namespace kube-<&>\"%,: is exempt in the policy (exemptNamespaces: kube-*)"
        ),
        "{xml}"
    );
    let root = document.root_element();
    assert_eq!(
        (
            count(root, "tests"),
            count(root, "failures"),
            count(root, "skipped")
        ),
        (2, 1, 1)
    );
}

// GitHub workflow commands

#[test]
fn github_lines_for_the_warehouse() {
    let output = validate("github", &[WAREHOUSE]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    let at = |line, col, title| {
        format!("file=tests/data/broken/warehouse.yaml,line={line},col={col},title={title}::")
    };
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(
        lines[0],
        format!(
            "::error {}metadata.name \"analytics-warehouse-primary-replica-set-for-reporting-east\" is 58 characters: the controller labels every pod `controller-revision-hash: analytics-warehouse-primary-replica-set-for-reporting-east-<hash>`, which with the hash of up to 10 characters is 69 characters, more than the 63 a label value may hold, so pods fail with FailedCreate (kubernetes/kubernetes#64023)%0Ahelp: shorten metadata.name to at most 52 characters",
            at(6, 3, "name-length")
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "::error {}container \"db\" requests nvidia.com/gpu: 2 but limits it to 1; extended resources cannot be overcommitted, requests must equal limits, so the pod is rejected and no replica starts%0Ahelp: set requests and limits of nvidia.com/gpu to the same value, or drop the request (it defaults to the limit)",
            at(23, 13, "extended-resource-limits")
        )
    );
    assert_eq!(
        lines[2],
        format!(
            "::error {}container \"db\" volumeMounts[0] names volume \"data\", but the pod has no volume and the StatefulSet no claim template of that name; the controller's pod creation is rejected (volumeMounts[0].name: Not found) and no replica starts%0Ahelp: did you mean \"pgdata\"? correct the name (defined: \"pgdata\"), or add a volume \"data\" to spec.template.spec.volumes or a claim template to spec.volumeClaimTemplates",
            at(27, 11, "volume-mount-unknown")
        )
    );
    assert!(
        lines[3].starts_with(&format!(
            "::warning {}claim template \"pgdata\" is mounted by no container;",
            at(31, 7, "claim-template-unused")
        )),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].starts_with(&format!(
            "::warning {}claim template \"pgdata\" names no storageClassName",
            at(32, 5, "claim-template-storage-class")
        )),
        "{}",
        lines[4]
    );
    assert_eq!(lines[5], "3 errors, 2 warnings in 1 file (1 StatefulSet)");
}

#[test]
fn github_escapes_data_and_properties() {
    let text = render(OutputFormat::Github, &nasty_report());
    assert_eq!(
        text,
        "::error file=specs/a&b <\"q\"> 50%25%2C c%3Ad.yaml,line=27,col=11,title=volume-mount-unknown::\
         volume \"a<b\" & 'c' \u{1}bell\u{b}%0D%0A100%25 done, next: x%0Ahelp: use <volume> & retry\n\
         1 error, 0 warnings in 1 file (1 StatefulSet)\n"
    );
    // One finding is one line, whatever its message holds.
    assert_eq!(text.lines().count(), 2);
}

#[test]
fn github_notices_each_statefulset_not_judged() {
    let text = render(OutputFormat::Github, &nasty_report_with_one_not_judged());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[1],
        "::notice file=specs/a&b <\"q\"> 50%25%2C c%3Ad.yaml,line=43,col=14,title=exempt-namespace::\
         StatefulSet kube-<&>\"%25,:/cache not judged: namespace kube-<&>\"%25,: is exempt in the policy \
         (exemptNamespaces: kube-*)%0Ahelp: pass --include-exempt to judge it anyway (the webhook \
         admits it without review)"
    );
    assert_eq!(
        lines[2],
        "1 error, 0 warnings in 1 file (2 StatefulSets); 1 StatefulSet not judged: \
         namespace kube-<&>\"%,: is exempt in the policy (--include-exempt judges it)"
    );

    // On stdin the place goes into the message, as for findings.
    let body = std::fs::read("tests/data/exempt/kube-system.yaml").unwrap();
    let output = validate_stdin("github", &body);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stdout(&output).starts_with(
            "::notice title=exempt-namespace::<stdin>:8:3: StatefulSet kube-system/node-cache not judged: "
        ),
        "{}",
        stdout(&output)
    );
}

#[test]
fn github_findings_on_stdin_carry_their_place_in_the_message() {
    let body = std::fs::read(WAREHOUSE).unwrap();
    let output = validate_stdin("github", &body);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.lines().any(|line| line
            .starts_with("::error title=volume-mount-unknown::<stdin>:27:11: container \"db\"")),
        "{text}"
    );
}

// Snapshots

#[test]
fn junit_snapshot_of_the_warehouse() {
    insta::assert_snapshot!("warehouse_junit", stdout(&validate("junit", &[WAREHOUSE])));
}

#[test]
fn github_snapshot_of_the_warehouse() {
    insta::assert_snapshot!(
        "warehouse_github",
        stdout(&validate("github", &[WAREHOUSE]))
    );
}

#[test]
fn junit_snapshot_of_statefulsets_not_judged() {
    insta::assert_snapshot!("exempt_junit", stdout(&validate("junit", &[EXEMPT])));
}

#[test]
fn github_snapshot_of_statefulsets_not_judged() {
    insta::assert_snapshot!("exempt_github", stdout(&validate("github", &[EXEMPT])));
}

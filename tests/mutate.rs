//! Defaults (SPEC §2) on the recorded AdmissionReviews and through `stsguard mutate`, plus
//! the properties every patch must have.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};
use stsguard::engine::{self, Context, Operation, Policy, Source};

/// A policy that sets every default, so that every code path produces patches.
const FULL_POLICY: &str = "apiVersion: stsguard.dev/v1
kind: StatefulSetPolicy
metadata: {name: full}
spec:
  defaults:
    partition: 1
    revisionHistoryLimit: 5
    storageClassName: standard
    podAntiAffinity: {type: preferred}
";

fn full_policy() -> Policy {
    Policy::from_yaml(FULL_POLICY, "full").unwrap()
}

fn operation(request: &Value) -> Operation {
    match request["operation"].as_str() {
        Some("CREATE") => Operation::Create,
        Some("UPDATE") => Operation::Update,
        Some("DELETE") => Operation::Delete,
        _ => Operation::Connect,
    }
}

fn ops(patch: &json_patch::Patch) -> Value {
    serde_json::to_value(patch).unwrap()
}

#[test]
fn recorded_patches_apply_and_a_second_review_is_empty() {
    for policy in [default_policy(), full_policy()] {
        for (name, review) in fixtures() {
            let request = &review["request"];
            if !name.contains("mutate") || request["kind"]["kind"] != "StatefulSet" {
                continue;
            }
            let op = operation(request);
            let object = &request["object"];
            let old = request.get("oldObject").filter(|o| !o.is_null());
            let cx = Context {
                namespace: request["namespace"].as_str(),
                ..Context::default()
            };
            let Ok(first) = engine::review(&policy, op, object, old, &cx) else {
                assert!(object.is_null(), "{name}");
                continue;
            };
            assert!(
                !ops(&first.patch).to_string().contains("\"remove\""),
                "{name}"
            );
            let mut patched = object.clone();
            json_patch::patch(&mut patched, &first.patch).unwrap_or_else(|e| panic!("{name}: {e}"));
            let second = engine::review(&policy, op, &patched, old, &cx).unwrap();
            assert!(second.patch.0.is_empty(), "{name}: {:?}", second.patch);
        }
    }
}

#[test]
fn create_requests_get_every_default_of_the_policy() {
    let (_, review) = fixture("029");
    let request = &review["request"];
    let result = engine::review(
        &full_policy(),
        Operation::Create,
        &request["object"],
        None,
        &Context::default(),
    )
    .unwrap();
    // cassandra chose its storage class ("fast") and 3 replicas: the class stays.
    assert_eq!(
        result.defaulted,
        ["partition", "revisionHistoryLimit", "podAntiAffinity"]
    );
    let mut patched = request["object"].clone();
    json_patch::patch(&mut patched, &result.patch).unwrap();
    assert_eq!(
        patched["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
        "fast"
    );
    assert_eq!(patched["spec"]["revisionHistoryLimit"], 5);
    assert_eq!(
        patched["spec"]["updateStrategy"]["rollingUpdate"]["partition"],
        1
    );
    assert_eq!(
        patched["metadata"]["annotations"]["stsguard.dev/defaulted"],
        "partition,revisionHistoryLimit,podAntiAffinity"
    );
}

/// A StatefulSet created before stsguard, scaled: nothing may change (no rollout, no
/// rejected update because of an immutable field).
#[test]
fn a_legacy_object_updated_for_replicas_gets_an_empty_patch() {
    for number in ["005", "003", "011", "041"] {
        let (name, review) = fixture(number);
        let result = review_request_object(&full_policy(), &review["request"]);
        assert!(result.patch.0.is_empty(), "{name}: {:?}", result.patch);
    }
}

/// `kubectl replace` of a manifest that never had the defaulted fields: the old values
/// come back, so the template (and its hash) and the claim templates do not change.
#[test]
fn a_replace_that_drops_defaulted_fields_gets_the_old_values_back() {
    let policy = full_policy();
    let (_, created) = fixture("035");
    let create = engine::review(
        &policy,
        Operation::Create,
        &created["request"]["object"],
        None,
        &Context::default(),
    )
    .unwrap();
    let mut live = created["request"]["object"].clone();
    json_patch::patch(&mut live, &create.patch).unwrap();

    let (_, replaced) = fixture("041");
    let new = &replaced["request"]["object"];
    let update = engine::review(
        &policy,
        Operation::Update,
        new,
        Some(&live),
        &Context::default(),
    )
    .unwrap();
    let mut result = new.clone();
    json_patch::patch(&mut result, &update.patch).unwrap();
    assert_eq!(
        result["spec"]["template"], live["spec"]["template"],
        "no template change"
    );
    assert_eq!(
        result["spec"]["volumeClaimTemplates"],
        live["spec"]["volumeClaimTemplates"]
    );
    assert_eq!(result["spec"]["revisionHistoryLimit"], 5);
    assert_eq!(result["spec"]["replicas"], 4, "the user's change stands");
    assert!(update.defaulted.contains(&"storageClassName"));
    assert!(update.defaulted.contains(&"podAntiAffinity"));
}

#[test]
fn delete_and_scale_are_never_mutated() {
    for number in ["017", "025", "047", "003", "045"] {
        let (name, review) = fixture(number);
        let request = &review["request"];
        if request["kind"]["kind"] != "StatefulSet" {
            continue; // the scale subresource: the server allows it untouched
        }
        let object = request
            .get("object")
            .filter(|o| !o.is_null())
            .unwrap_or(&request["oldObject"]);
        let result = engine::review(
            &full_policy(),
            operation(request),
            object,
            None,
            &Context::default(),
        )
        .unwrap();
        assert!(result.patch.0.is_empty(), "{name}");
    }
}

fn write_full_policy(dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, FULL_POLICY).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn mutate_prints_the_defaulted_yaml_and_passes_other_documents_through() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_full_policy(&dir);
    let output = stsguard(&[
        "mutate",
        "--policy",
        &policy,
        "tests/data/examples/web.yaml",
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let original = std::fs::read_to_string(data("examples/web.yaml")).unwrap();
    let service = original.split("---").next().unwrap();
    assert!(
        text.starts_with(service),
        "the Service is passed through verbatim:\n{text}"
    );
    insta::assert_snapshot!("mutate_web_yaml", text);
}

/// The printed YAML is exactly the input with the printed patch applied.
#[test]
fn mutate_yaml_equals_the_json_patch_applied_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_full_policy(&dir);
    for example in [
        "web.yaml",
        "cassandra.yaml",
        "gpu-mig-and-vgpu.yaml",
        "mysql.yaml",
    ] {
        let path = format!("tests/data/examples/{example}");
        let yaml = stsguard(&["mutate", "--policy", &policy, &path]);
        let patches = stsguard(&[
            "mutate",
            "--policy",
            &policy,
            "--output",
            "json-patch",
            &path,
        ]);
        let records: Vec<Value> = serde_json::from_slice(&patches.stdout).unwrap();
        let printed = stsguard::cli::input::parse_source("out".into(), &yaml.stdout);
        let printed: Vec<Value> = printed
            .documents
            .into_iter()
            .filter_map(|d| d.unwrap().value)
            .collect();
        let mut expected: Vec<Value> = statefulsets_in(&data(&format!("examples/{example}")));
        for (object, record) in expected.iter_mut().zip(&records) {
            let patch: json_patch::Patch = serde_json::from_value(record["patch"].clone()).unwrap();
            json_patch::patch(object, &patch).unwrap();
        }
        let printed_sts: Vec<Value> = printed
            .into_iter()
            .filter(|d| d["kind"] == "StatefulSet")
            .collect();
        assert_eq!(printed_sts, expected, "{example}");
    }
}

#[test]
fn mutate_diff_shows_only_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_full_policy(&dir);
    let output = stsguard(&[
        "mutate",
        "--policy",
        &policy,
        "--output",
        "diff",
        "tests/data/examples/web.yaml",
    ]);
    let diff = String::from_utf8(output.stdout).unwrap();
    let added: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    assert!(added.contains(&"+  revisionHistoryLimit: 5"), "{diff}");
    assert!(
        added.contains(&"+      storageClassName: standard"),
        "{diff}"
    );
    assert!(
        !diff
            .lines()
            .any(|l| l.starts_with('-') && !l.starts_with("---")),
        "{diff}"
    );
}

#[test]
fn mutate_with_old_applies_update_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_full_policy(&dir);
    // The old version carries what stsguard defaulted; the new manifest dropped it all.
    let created = stsguard(&[
        "mutate",
        "--policy",
        &policy,
        "tests/data/examples/web.yaml",
    ]);
    let old = dir.path().join("old.yaml");
    std::fs::write(&old, &created.stdout).unwrap();
    let output = stsguard(&[
        "mutate",
        "--policy",
        &policy,
        "--old",
        old.to_str().unwrap(),
        "--output",
        "json-patch",
        "tests/data/update/web-bigger-disk.yaml",
    ]);
    let records: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        records[0]["defaulted"],
        json!([
            "partition",
            "revisionHistoryLimit",
            "storageClassName",
            "podAntiAffinity"
        ])
    );
    // Without --old the same file is a CREATE: the same defaults, as new values.
    let fresh = stsguard(&[
        "mutate",
        "--policy",
        &policy,
        "--output",
        "json-patch",
        "tests/data/update/web-bigger-disk.yaml",
    ]);
    let fresh: Vec<Value> = serde_json::from_slice(&fresh.stdout).unwrap();
    assert_eq!(fresh[0]["defaulted"], records[0]["defaulted"]);
    // A legacy old version (never defaulted): nothing is introduced on UPDATE.
    let legacy = stsguard(&[
        "mutate",
        "--policy",
        &policy,
        "--old",
        "tests/data/examples/web.yaml",
        "--output",
        "json-patch",
        "tests/data/update/web-bigger-disk.yaml",
    ]);
    assert_eq!(String::from_utf8(legacy.stdout).unwrap().trim(), "[]");
}

/// Documents in the streams below: several batches of the reader (256 documents) and several
/// of its reads (256 KiB) on stdin.
const STREAM_DOCUMENTS: usize = 1_200;

/// `mutate` reads its input a batch at a time: on stdin as from a file, the output is what
/// each document gives on its own, in order, as if the input were read whole.
#[test]
fn mutate_streams_stdin_as_the_file_and_as_each_document_alone() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write_full_policy(&dir);
    let templates = stream_templates();
    let text = many_documents(&templates, STREAM_DOCUMENTS);
    assert!(
        text.len() > 256 * 1024,
        "more than one read: {} bytes",
        text.len()
    );
    let path = dir.path().join("many.yaml");
    std::fs::write(&path, &text).unwrap();
    let path = path.to_str().unwrap();
    let one = dir.path().join("one.yaml");
    let one = one.to_str().unwrap();
    for format in ["yaml", "json-patch", "diff"] {
        let args = ["mutate", "--policy", &policy, "--output", format];
        let from_file = common::ok_stdout(&stsguard(&[&args[..], &[path]].concat()));
        let from_stdin = common::ok_stdout(&stsguard_stdin(
            &[&args[..], &["-"]].concat(),
            text.as_bytes(),
        ));
        assert_eq!(
            from_stdin.replace("<stdin>", path),
            from_file,
            "-o {format}: stdin and the file differ"
        );
        if format == "diff" {
            // Numbered by document: compared with the file above only.
            // Two header lines per changed document: the StatefulSets and the Lists, half.
            assert_eq!(from_file.matches("(document ").count(), STREAM_DOCUMENTS);
            continue;
        }
        let per_template: Vec<String> = templates
            .iter()
            .map(|template| {
                std::fs::write(one, format!("---\n{template}")).unwrap();
                common::ok_stdout(&stsguard(&[&args[..], &[one]].concat())).replace(one, path)
            })
            .collect();
        if format == "yaml" {
            let expected: Vec<String> = (0..STREAM_DOCUMENTS)
                .map(|i| renamed(&per_template, i))
                .collect();
            assert!(
                from_file == expected.join("---\n"),
                "-o yaml is not the documents' own output"
            );
        } else {
            let records: Vec<Value> = serde_json::from_str(&from_file).unwrap();
            let expected: Vec<Value> = (0..STREAM_DOCUMENTS)
                .flat_map(|i| {
                    serde_json::from_str::<Vec<Value>>(&renamed(&per_template, i)).unwrap()
                })
                .collect();
            assert_eq!(records.len(), STREAM_DOCUMENTS / 2);
            assert!(
                records == expected,
                "-o json-patch is not the documents' own records"
            );
            // And printed as one array: what serde_json prints for it.
            let pretty = serde_json::to_string_pretty(&records).unwrap() + "\n";
            assert!(from_file == pretty, "-o json-patch is not one pretty array");
        }
    }
}

/// A broken document late in a long input: nothing is printed, even though the documents
/// before it were handled long before it was read (a `mutate - | kubectl apply -f -` must
/// not apply half an input).
#[test]
fn mutate_prints_nothing_when_a_late_document_is_broken() {
    let templates = stream_templates();
    let mut documents: Vec<String> = many_documents(&templates, STREAM_DOCUMENTS)
        .split_inclusive("---\n")
        .map(str::to_string)
        .collect();
    // `split_inclusive` ends each piece with the next `---`: document i is in piece i + 1.
    let broken = STREAM_DOCUMENTS - 100;
    documents[broken + 1] = "kind: ConfigMap\nmetadata: {name: [broken\n---\n".to_string();
    let text: String = documents.concat();
    let line = line_of_document(&text, broken);
    for format in ["yaml", "json-patch", "diff"] {
        let output = stsguard_stdin(&["mutate", "--output", format, "-"], text.as_bytes());
        let stderr = assert_failed_silently(&output);
        let at: usize = stderr
            .strip_prefix("stsguard: <stdin>:")
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{stderr}"));
        // The unclosed sequence is found where the next document starts, at the latest.
        assert!(
            (line..=line + 3).contains(&at),
            "line {at}, the document starts at {line}: {stderr}"
        );
        assert!(stderr.contains("not valid YAML"), "{stderr}");
    }
    // A bad byte late in the input: the same, nothing printed; the error names its document.
    let mut bytes = many_documents(&templates, STREAM_DOCUMENTS).into_bytes();
    let last_line = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    bytes.insert(last_line, 0xff);
    let lines = bytes.iter().filter(|&&b| b == b'\n').count();
    let output = stsguard_stdin(&["mutate", "-"], &bytes);
    let stderr = assert_failed_silently(&output);
    assert_eq!(
        stderr,
        format!("stsguard: <stdin>:{lines}:1: not valid YAML: the document is not UTF-8 text\n")
    );
}

#[test]
fn pod_management_policy_is_never_touched() {
    for policy in ["Parallel", "OrderedReady"] {
        let mut object = statefulsets_in(&data("examples/web.yaml")).remove(0);
        object["spec"]["podManagementPolicy"] = json!(policy);
        let result = engine::review(
            &full_policy(),
            Operation::Create,
            &object,
            None,
            &file_context(),
        )
        .unwrap();
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &result.patch).unwrap();
        assert_eq!(patched["spec"]["podManagementPolicy"], policy);
        assert!(
            !ops(&result.patch)
                .to_string()
                .contains("podManagementPolicy")
        );
    }
}

// ---------------------------------------------------------------------------------------
// Properties

fn arb_object() -> impl Strategy<Value = Value> {
    let strategy = prop_oneof![
        Just(None),
        Just(Some(
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        )),
        Just(Some(json!({"type": "RollingUpdate"}))),
        Just(Some(json!({"type": "OnDelete"}))),
        (0i64..5).prop_map(|p| Some(json!({"rollingUpdate": {"partition": p}}))),
        Just(Some(
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}})
        )),
    ];
    let history = prop_oneof![Just(None), (0i64..12).prop_map(Some)];
    let class = prop_oneof![Just(None), Just(Some("fast")), Just(Some(""))];
    let affinity = prop_oneof![
        Just(None),
        Just(Some(json!({"podAntiAffinity": {}}))),
        Just(Some(json!({"nodeAffinity": {}})))
    ];
    let keep = prop_oneof![
        Just(None),
        Just(Some("partition")),
        Just(Some("*")),
        Just(Some("storageClassName,podAntiAffinity"))
    ];
    (0i64..4, strategy, history, proptest::collection::vec(class, 0..3), affinity, keep, any::<bool>()).prop_map(
        |(replicas, strategy, history, classes, affinity, keep, key_with_slash)| {
            let mut object = json!({
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {"name": "db"},
                "spec": {
                    "replicas": replicas,
                    "serviceName": "db",
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "db"}]}},
                }
            });
            if key_with_slash {
                object["spec"]["selector"]["matchLabels"]["example.com/role"] = json!("primary");
                object["spec"]["template"]["metadata"]["labels"]["example.com/role"] = json!("primary");
            }
            if let Some(strategy) = strategy {
                object["spec"]["updateStrategy"] = strategy;
            }
            if let Some(history) = history {
                object["spec"]["revisionHistoryLimit"] = json!(history);
            }
            if !classes.is_empty() {
                object["spec"]["volumeClaimTemplates"] = Value::Array(
                    classes
                        .iter()
                        .enumerate()
                        .map(|(i, class)| {
                            let mut claim = json!({"metadata": {"name": format!("d{i}")}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
                            if let Some(class) = class {
                                claim["spec"]["storageClassName"] = json!(class);
                            }
                            claim
                        })
                        .collect(),
                );
            }
            if let Some(affinity) = affinity {
                object["spec"]["template"]["spec"]["affinity"] = affinity;
            }
            if let Some(keep) = keep {
                object["metadata"]["annotations"] = json!({"stsguard.dev/keep": keep});
            }
            object
        },
    )
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    (
        prop_oneof![
            Just(None),
            Just(Some("RollingUpdate")),
            Just(Some("OnDelete"))
        ],
        prop_oneof![Just(None), (0i32..4).prop_map(Some)],
        prop_oneof![Just(None), (0i32..12).prop_map(Some)],
        prop_oneof![Just(None), Just(Some("standard"))],
        prop_oneof![
            Just(None),
            Just(Some("preferred")),
            Just(Some("required")),
            Just(Some("none"))
        ],
    )
        .prop_map(|(strategy, partition, history, class, affinity)| {
            let mut defaults = serde_json::Map::new();
            if let Some(s) = strategy {
                defaults.insert("updateStrategy".into(), json!(s));
            }
            if let Some(p) = partition {
                defaults.insert("partition".into(), json!(p));
            }
            if let Some(h) = history {
                defaults.insert("revisionHistoryLimit".into(), json!(h));
            }
            if let Some(c) = class {
                defaults.insert("storageClassName".into(), json!(c));
            }
            if let Some(a) = affinity {
                defaults.insert("podAntiAffinity".into(), json!({"type": a}));
            }
            Policy::from_value(json!({
                "apiVersion": "stsguard.dev/v1", "kind": "StatefulSetPolicy",
                "metadata": {"name": "p"}, "spec": {"defaults": defaults}
            }))
            .unwrap()
        })
}

fn file_context() -> Context<'static> {
    Context {
        source: Source::File,
        ..Context::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// mutate(mutate(x)) is empty, no patch removes, and the patch applies to the input.
    #[test]
    fn create_patches_are_idempotent_and_never_remove(object in arb_object(), policy in arb_policy()) {
        let cx = file_context();
        let first = engine::review(&policy, Operation::Create, &object, None, &cx).unwrap();
        prop_assert!(!ops(&first.patch).to_string().contains("\"remove\""));
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &first.patch).unwrap();
        let second = engine::review(&policy, Operation::Create, &patched, None, &cx).unwrap();
        prop_assert!(second.patch.0.is_empty(), "second patch {:?}", second.patch);
        prop_assert_eq!(first.defaulted.is_empty(), first.patch.0.is_empty());
    }

    /// What `mutate` prints as YAML is exactly the input with the engine's patch applied.
    #[test]
    fn printed_yaml_is_the_patched_input(object in arb_object(), policy in arb_policy()) {
        let text = stsguard::cli::mutate::to_yaml(&object).unwrap();
        let source = stsguard::cli::input::parse_source("p.yaml".into(), text.as_bytes());
        let (documents, records) =
            stsguard::cli::mutate::mutate_source(&source, &text, &Default::default(), &policy, "default").unwrap();
        let review = engine::review(&policy, Operation::Create, &object, None, &file_context()).unwrap();
        let mut expected = object.clone();
        json_patch::patch(&mut expected, &review.patch).unwrap();
        prop_assert_eq!(documents[0].after.as_ref(), Some(&expected));
        prop_assert_eq!(records.len(), usize::from(!review.patch.0.is_empty()));
        // And the printed text reads back as that object.
        let printed = stsguard::cli::mutate::to_yaml(&expected).unwrap();
        let reread = stsguard::cli::input::parse_source("q.yaml".into(), printed.as_bytes());
        prop_assert_eq!(reread.documents[0].as_ref().unwrap().value.as_ref(), Some(&expected));
    }

    /// On UPDATE nothing is introduced that the old object lacked, and a second pass is empty.
    #[test]
    fn update_patches_only_restore_old_values(old in arb_object(), new in arb_object(), policy in arb_policy()) {
        let cx = file_context();
        // The old object as it was stored: created through the webhook.
        let created = engine::review(&policy, Operation::Create, &old, None, &cx).unwrap();
        let mut stored = old.clone();
        json_patch::patch(&mut stored, &created.patch).unwrap();

        let update = engine::review(&policy, Operation::Update, &new, Some(&stored), &cx).unwrap();
        prop_assert!(!ops(&update.patch).to_string().contains("\"remove\""));
        let mut patched = new.clone();
        json_patch::patch(&mut patched, &update.patch).unwrap();
        for op in &update.patch.0 {
            if let json_patch::PatchOperation::Add(json_patch::AddOperation { path, value })
                | json_patch::PatchOperation::Replace(json_patch::ReplaceOperation { path, value }) = op
            {
                if value.is_object() && value.as_object().is_some_and(|m| m.is_empty()) {
                    continue; // a parent created on the way
                }
                if path.as_str().starts_with("/metadata/annotations") {
                    continue;
                }
                let normalized_old = stsguard::engine::normalize::apply(&stored);
                prop_assert_eq!(normalized_old.pointer(path.as_str()), Some(value), "{} is not the old value", path);
            }
        }
        let second = engine::review(&policy, Operation::Update, &patched, Some(&stored), &cx).unwrap();
        prop_assert!(second.patch.0.is_empty(), "second patch {:?}", second.patch);
    }
}

// ---------------------------------------------------------------------------------------
// The mutating webhook builds only what the defaults read (`engine::defaults::READS`): it
// must answer exactly as it would on the whole object.

/// An AdmissionReview body for a StatefulSet as the API server sends it (defaulted).
fn review_body(operation: &str, object: &Value, old: Option<&Value>) -> Vec<u8> {
    let normalized = |o: &Value| stsguard::engine::normalize::apply(o);
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u",
            "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
            "resource": {"group": "apps", "version": "v1", "resource": "statefulsets"},
            "namespace": "default",
            "operation": operation,
            "object": normalized(object),
            "oldObject": old.map(normalized),
        }
    }))
    .unwrap()
}

/// `/mutate`'s answer on the body read whole and read as `/mutate` reads it.
fn mutate_both_ways(policy: &Policy, body: &[u8]) -> [String; 2] {
    use stsguard::server::admission::{self, Webhook};
    [Webhook::Validate, Webhook::Mutate].map(|reading| {
        let review = admission::parse(body, reading).unwrap();
        let decision = admission::decide(
            policy,
            Webhook::Mutate,
            &review.request,
            engine::KubeVersion::LATEST,
        )
        .unwrap();
        String::from_utf8(admission::encode(review.version, &decision.response).unwrap()).unwrap()
    })
}

/// A CREATE of `object`, and an UPDATE to `object` from `old` as its CREATE stored it (with
/// the defaults it recorded, so that the restoring rules have something to restore).
fn create_and_update_bodies(policy: &Policy, object: &Value, old: &Value) -> [Vec<u8>; 2] {
    let created = engine::review(policy, Operation::Create, old, None, &file_context()).unwrap();
    let mut stored = old.clone();
    json_patch::patch(&mut stored, &created.patch).unwrap();
    [
        review_body("CREATE", object, None),
        review_body("UPDATE", object, Some(&stored)),
    ]
}

#[test]
fn mutate_reads_enough_of_every_corpus_statefulset() {
    let policies = [default_policy(), full_policy()];
    let mut reviewed = 0;
    let mut patched = 0;
    let Some(corpus) = shared("corpus/manifests") else {
        return;
    };
    for entry in std::fs::read_dir(corpus).unwrap() {
        let path = entry.unwrap().path();
        let source = stsguard::cli::input::read_source(&path).unwrap();
        let objects = source
            .documents
            .into_iter()
            .filter_map(|d| d.ok()?.value)
            .filter(stsguard::cli::input::is_statefulset);
        for object in objects {
            for policy in &policies {
                for body in create_and_update_bodies(policy, &object, &object) {
                    let [whole, for_defaults] = mutate_both_ways(policy, &body);
                    assert_eq!(whole, for_defaults, "{}", path.display());
                    reviewed += 1;
                    patched += usize::from(whole.contains("\"patch\""));
                }
            }
        }
    }
    // The comparison means something only if the defaults had work to do.
    assert!(reviewed > 600, "only {reviewed} reviews");
    assert!(
        patched > reviewed / 4,
        "only {patched} of {reviewed} answers patch"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutate_reads_enough_of_generated_statefulsets(object in arb_object(), old in arb_object(), policy in arb_policy()) {
        for body in create_and_update_bodies(&policy, &object, &old) {
            let [whole, for_defaults] = mutate_both_ways(&policy, &body);
            prop_assert_eq!(whole, for_defaults);
        }
    }
}

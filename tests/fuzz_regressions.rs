//! The fuzz targets' invariants (`fuzz/`, `tests/fuzz_invariants/`) on stable, without
//! libFuzzer: over every reproducer kept in `tests/data/fuzz/<target>/`, and over hand-made
//! hostile inputs (deep nesting, huge numbers, invalid UTF-8, byte order marks, duplicate
//! keys, alias bombs) that the doors of stsguard must survive.

mod fuzz_invariants;

use std::path::PathBuf;

use fuzz_invariants::*;
use serde_json::{Value, json};
use stsguard::server::admission::{self, InputError, Webhook};
use stsguard::yaml;

/// The files kept for one target (none yet is fine: the hand-made cases below still run).
fn reproducers(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

fn holds(what: &str, result: Result<(), String>) {
    if let Err(violation) = result {
        panic!("{what}: {violation}");
    }
}

/// An AdmissionReview around `object`.
fn review_body(operation: &str, object: &str, old: &str) -> Vec<u8> {
    format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u-1","kind":{{"group":"apps","version":"v1","kind":"StatefulSet"}},"resource":{{"group":"apps","version":"v1","resource":"statefulsets"}},"namespace":"default","operation":"{operation}","object":{object},"oldObject":{old}}}}}"#
    )
    .into_bytes()
}

fn sample() -> String {
    sample_statefulset().to_string()
}

/// `[[[…]]]` (JSON flow sequences, also YAML) nested `depth` levels.
fn nested_lists(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// A YAML document whose alias levels multiply: `levels` levels of ten aliases each.
fn alias_bomb(levels: usize) -> String {
    let mut text = String::from("a0: &a0 [lol]\n");
    for level in 1..=levels {
        let prev = format!("*a{}", level - 1);
        let items = [prev.as_str(); 10].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
    }
    text
}

#[test]
fn admission_reproducers() {
    for (name, body) in reproducers("admission") {
        holds(&name, check_admission(&body));
    }
}

#[test]
fn yaml_reproducers() {
    for (name, bytes) in reproducers("yaml") {
        holds(&name, check_yaml(&bytes));
    }
}

#[test]
fn policy_reproducers() {
    for (name, bytes) in reproducers("policy") {
        holds(&name, check_policy(&bytes));
    }
}

/// The `patch` target's reproducers are kept as the JSON its structured input built:
/// `{"object": …, "old": … or null}`.
#[test]
fn patch_reproducers() {
    for (name, bytes) in reproducers("patch") {
        let case: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let old = Some(&case["old"]).filter(|o| !o.is_null());
        holds(&name, check_object(&case["object"], old));
    }
}

#[test]
fn the_recorded_admission_requests_hold() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/admission-requests");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        holds(
            &path.display().to_string(),
            check_admission(&std::fs::read(&path).unwrap()),
        );
        count += 1;
    }
    assert!(count >= 40, "only {count} recorded requests");
}

#[test]
fn admission_survives_hostile_bodies() {
    let deep = review_body(
        "CREATE",
        &format!(r#"{{"spec":{}}}"#, nested_lists(10_000)),
        "null",
    );
    for webhook in [Webhook::Validate, Webhook::Mutate] {
        assert_eq!(
            admission::parse(&deep, webhook).err(),
            Some(InputError::TooDeep)
        );
    }
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    // Members an AdmissionReview does not have are read too: too deep is too deep anywhere.
    for webhook in [Webhook::Validate, Webhook::Mutate] {
        assert_eq!(
            admission::parse(deep_objects.as_bytes(), webhook).err(),
            Some(InputError::TooDeep)
        );
    }

    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("deep nesting", deep),
        ("deep objects", deep_objects.into_bytes()),
        ("1e999999 replicas", review_body("CREATE", r#"{"spec":{"replicas":1e999999}}"#, "null")),
        ("huge integer", review_body("CREATE", r#"{"spec":{"replicas":123456789012345678901234567890}}"#, "null")),
        ("negative zero and floats", review_body("CREATE", r#"{"spec":{"replicas":-0.0,"revisionHistoryLimit":1e308,"updateStrategy":{"rollingUpdate":{"partition":0.5}}}}"#, "null")),
        ("invalid UTF-8", {
            let mut body = review_body("CREATE", r#"{"metadata":{"name":"XX"}}"#, "null");
            let at = body.windows(2).position(|w| w == b"XX").unwrap();
            body[at] = 0xff;
            body[at + 1] = 0xfe;
            body
        }),
        ("a byte order mark", [b"\xef\xbb\xbf".as_slice(), &review_body("CREATE", &sample(), "null")].concat()),
        ("a lone surrogate in the last-applied annotation", review_body("UPDATE", r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"a\":\"\udc00\"}"}}}"#, "{}")),
        ("a last-applied annotation that is no string, deep", review_body("CREATE", &format!(r#"{{"metadata":{{"annotations":{{"kubectl.kubernetes.io/last-applied-configuration":{}}}}}}}"#, nested_lists(125)), "null")),
        ("deep and out of range userInfo", {
            let body = review_body("CREATE", &sample(), "null");
            let text = String::from_utf8(body).unwrap().replacen(
                r#""request":{"#,
                &format!(r#""request":{{"userInfo":{{"extra":{},"uid":1e999999}},"#, nested_lists(200)),
                1,
            );
            text.into_bytes()
        }),
        ("serde_json's raw-value token as a key", review_body("UPDATE", r#"{"metadata":{"labels":{"$serde_json::private::RawValue":1}},"spec":{"selector":{"$serde_json::private::RawValue":"[1]"},"template":{"spec":{"containers":[{"env":{"$serde_json::private::RawValue":{}}}]}}}}"#, r#"{"$serde_json::private::RawValue":null}"#)),
        ("duplicate keys", review_body("CREATE", r#"{"spec":{"replicas":3,"replicas":"three"},"spec":{"replicas":2}}"#, "null")),
        ("duplicate request", br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"a","operation":"CREATE"},"request":{"uid":"b","operation":"CREATE"}}"#.to_vec()),
        ("a sample", review_body("CREATE", &sample(), "null")),
        ("an update of a sample", review_body("UPDATE", &sample(), &sample())),
        ("an object that is a list", review_body("CREATE", "[]", "null")),
        ("an object that is a string", review_body("UPDATE", r#""sts""#, "7")),
        ("nulls everywhere", review_body("CREATE", r#"{"metadata":null,"spec":{"template":null,"updateStrategy":null,"volumeClaimTemplates":[null,{"spec":null}],"selector":null}}"#, "null")),
        ("escaped keys", review_body("CREATE", r#"{"metadata":{"annotations":{"stsguard.dev/keep":"~1,/","a~b/c":"x"}},"spec":{"replicas":3,"selector":{"matchLabels":{"a/b~c":"d"}},"volumeClaimTemplates":[{}]}}"#, "null")),
    ];
    // A quantity too large for any number type, in a GPU request and a claim's size.
    let mut object = sample_statefulset();
    object["spec"]["template"]["spec"]["containers"][0]["resources"] = json!({
        "requests": {"nvidia.com/gpu": "1e999999", "memory": "99999999999999999999999Ei"},
        "limits": {"nvidia.com/gpu": "1e999999", "cpu": "-1e-999999"},
    });
    object["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] =
        json!("1e999999");
    cases.push((
        "1e999999 quantities",
        review_body("CREATE", &object.to_string(), "null"),
    ));
    for (name, body) in cases {
        holds(name, check_admission(&body));
    }
}

#[test]
fn yaml_survives_hostile_text() {
    let deep_flow = format!("kind: StatefulSet\nspec: {}\n", nested_lists(10_000));
    let deep_block: String = (0..10_000)
        .map(|i| format!("{}- \n", " ".repeat(i % 200)))
        .collect();
    let bomb = alias_bomb(9);
    for (name, text) in [("deep flow", &deep_flow), ("alias bomb", &bomb)] {
        let documents = yaml::parse_stream(text);
        assert!(
            documents.iter().any(Result::is_err),
            "{name}: refused, with a located error"
        );
    }
    // As deep as the reader allows, inside a StatefulSet the engine then reviews (on a
    // test thread's small stack).
    let deepest = format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: web}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    spec:\n      extra:\n        {}x\n",
        "- ".repeat(yaml::MAX_DEPTH - 5)
    );
    assert!(yaml::parse_stream(&deepest).iter().all(Result::is_ok));

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("deep flow", deep_flow.into_bytes()),
        ("deep block", deep_block.into_bytes()),
        ("deepest allowed", deepest.into_bytes()),
        ("alias bomb", bomb.into_bytes()),
        ("recursive alias", b"a: &a [*a]\n".to_vec()),
        ("invalid UTF-8", b"kind: StatefulSet\nmetadata:\n  name: \xff\xfe\n".to_vec()),
        ("truncated UTF-8", b"kind: \xe2\x82".to_vec()),
        ("accented text before a bad byte", "name: caf\u{e9} \u{1f600}\r\n  x: \u{e9}\u{e9}".bytes().chain([0xff]).collect()),
        ("a byte order mark", b"\xef\xbb\xbfkind: StatefulSet\n---\n\xef\xbb\xbfa: 1\n".to_vec()),
        ("duplicate keys", b"kind: StatefulSet\nkind: Service\n".to_vec()),
        ("duplicate keys through a merge", b"a: &a {x: 1}\nb:\n  <<: *a\n  x: 2\n  x: 3\n".to_vec()),
        ("1e999999", b"apiVersion: apps/v1\nkind: StatefulSet\nspec:\n  replicas: 1e999999\n  revisionHistoryLimit: 123456789012345678901234567890\n  updateStrategy: {rollingUpdate: {partition: -.inf}}\n".to_vec()),
        ("lone carriage returns", b"a: 1\r---\rb: [\r".to_vec()),
        ("markers only", b"---\n...\n---\n...\n--- \n".to_vec()),
        ("tab after colon", b"kind:\tStatefulSet\nspec:\t{replicas:\t3}\n".to_vec()),
        ("an error on the last line", b"a: 1\nb: 'unterminated".to_vec()),
        ("a List of StatefulSets", b"kind: List\nitems:\n- {apiVersion: apps/v1, kind: StatefulSet, spec: null}\n- 7\n- {apiVersion: apps/v1, kind: StatefulSet, spec: {template: []}}\n".to_vec()),
        ("empty", Vec::new()),
    ];
    for (name, bytes) in cases {
        holds(name, check_yaml(&bytes));
    }
    // Lines and columns of a UTF-8 error count like YAML's: characters, any line break.
    let source = stsguard::cli::input::parse_source(
        "t".into(),
        "a: \u{e9}\r\u{e9}\u{e9}\u{ff}"
            .as_bytes()
            .iter()
            .copied()
            .chain([0xff])
            .collect::<Vec<u8>>()
            .as_slice(),
    );
    let error = source.documents[0].as_ref().unwrap_err();
    assert_eq!((error.line, error.column), (2, 4));
}

#[test]
fn policy_survives_hostile_text() {
    let header = "apiVersion: stsguard.dev/v1\nkind: StatefulSetPolicy\nmetadata: {name: t}\n";
    let cases: Vec<(&str, String)> = vec![
        ("full", FULL_POLICY.to_string()),
        (
            "deep nesting",
            format!("{header}spec: {}\n", nested_lists(10_000)),
        ),
        (
            "deep mappings",
            format!("{header}spec: {}1{}\n", "{a: ".repeat(400), "}".repeat(400)),
        ),
        ("alias bomb", format!("{header}{}", alias_bomb(9))),
        (
            "huge numbers",
            format!(
                "{header}spec:\n  defaults: {{partition: 1e999999, revisionHistoryLimit: 123456789012345678901234567890}}\n"
            ),
        ),
        (
            "duplicate keys",
            format!("{header}spec: {{mode: warn, mode: enforce}}\n"),
        ),
        ("a byte order mark", format!("\u{feff}{header}spec: {{}}\n")),
        ("two documents", format!("{header}---\n{header}")),
        (
            "globs",
            format!(
                "{header}spec:\n  exemptNamespaces: ['*', '**?*', '']\n  namespaces:\n  - match: ['*a*a*a*a*a*a*a*a*b', '?']\n    defaults: {{storageClassName: x}}\n"
            ),
        ),
        ("empty", String::new()),
    ];
    for (name, text) in cases {
        holds(name, check_policy(text.as_bytes()));
    }
    holds("invalid UTF-8", check_policy(b"apiVersion: \xff\n"));
    assert!(
        stsguard::engine::Policy::from_yaml(
            &format!("{header}spec: {}\n", nested_lists(10_000)),
            "t"
        )
        .is_err()
    );
}

#[test]
fn patch_invariants_hold_on_odd_objects() {
    let mut defaulted = sample_statefulset();
    defaulted["metadata"]["annotations"] = json!({"stsguard.dev/defaulted": "partition,revisionHistoryLimit,storageClassName,podAntiAffinity,updateStrategy"});
    let cases: Vec<(&str, Value, Option<Value>)> = vec![
        ("empty", json!({}), None),
        (
            "nulls",
            json!({"metadata": null, "spec": {"updateStrategy": null, "template": {"spec": {"affinity": null}}, "volumeClaimTemplates": [null, {"spec": null}, {}]}}),
            None,
        ),
        (
            "a strategy that is a string",
            json!({"metadata": {}, "spec": {"updateStrategy": "OnDelete", "volumeClaimTemplates": [{"spec": "x"}]}}),
            None,
        ),
        (
            "wrong types",
            json!({"metadata": [], "spec": {"replicas": "3", "updateStrategy": "OnDelete", "revisionHistoryLimit": true, "template": 7, "volumeClaimTemplates": {"a": 1}}}),
            None,
        ),
        (
            "huge numbers",
            json!({"spec": {"replicas": 1e308, "revisionHistoryLimit": u64::MAX, "updateStrategy": {"rollingUpdate": {"partition": -1}}}}),
            None,
        ),
        ("a sample", sample_statefulset(), None),
        (
            "a replace that dropped the defaults",
            sample_statefulset(),
            Some(defaulted.clone()),
        ),
        (
            "a defaulted object updated",
            defaulted.clone(),
            Some(sample_statefulset()),
        ),
        (
            "an old object that is not an object",
            sample_statefulset(),
            Some(json!("old")),
        ),
        (
            "keep everything",
            json!({"metadata": {"annotations": {"stsguard.dev/keep": "*"}}, "spec": {"replicas": 5}}),
            None,
        ),
        (
            "escaped keys",
            json!({"metadata": {"namespace": "ml-train", "annotations": {"a/b": "~"}}, "spec": {"replicas": 2, "selector": {"matchLabels": {"x/y~z": "1"}}, "volumeClaimTemplates": [{"metadata": {"name": "a/b"}}]}}),
            None,
        ),
    ];
    for (name, object, old) in cases {
        holds(name, check_object(&object, old.as_ref()));
    }
}

/// The checks are not vacuous: patches that break the rules are caught.
#[test]
fn the_invariants_catch_bad_patches() {
    let object = sample_statefulset();
    let caught = |ops: Value| check_patch(&object, ops.as_array().unwrap()).is_err();
    assert!(caught(json!([{"op": "remove", "path": "/spec/replicas"}])));
    assert!(caught(
        json!([{"op": "replace", "path": "/spec/replicas", "value": 1}])
    ));
    assert!(caught(
        json!([{"op": "add", "path": "/spec/template/spec/affinity/podAntiAffinity/x/y", "value": 1}])
    ));
    assert!(caught(
        json!([{"op": "replace", "path": "/spec/template", "value": {}}])
    ));
    assert!(caught(json!([{"op": "add", "path": "/spec", "value": {}}])));
    assert!(caught(
        json!([{"op": "add", "path": "/spec/volumeClaimTemplates/0/spec/storageClassName/x", "value": 1}])
    ));
    assert!(!caught(
        json!([{"op": "add", "path": "/spec/revisionHistoryLimit", "value": 5}])
    ));
    assert!(!caught(json!([
        {"op": "add", "path": "/spec/volumeClaimTemplates/0/spec/storageClassName", "value": "standard"},
        {"op": "add", "path": "/metadata/annotations", "value": {}},
        {"op": "add", "path": "/metadata/annotations/stsguard.dev~1defaulted", "value": "storageClassName"},
    ])));
}

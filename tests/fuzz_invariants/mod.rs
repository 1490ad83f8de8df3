//! The invariants the fuzz targets (`fuzz/`) check, shared with `tests/fuzz_regressions.rs`
//! so that every reproducer keeps being checked on stable, without libFuzzer.
//!
//! Each check takes one input and returns `Err` with a description when an invariant does
//! not hold; a panic inside stsguard is a failure too (libFuzzer aborts on it, a test fails).
//! The fuzz crate includes this file with `#[path]`, so it only uses what stsguard itself
//! depends on (and the fuzz crate names too).
#![allow(dead_code)]

use std::sync::LazyLock;

use base64::Engine as _;
use serde_json::Value;
use stsguard::cli::input;
use stsguard::engine::catalog::RuleId;
use stsguard::engine::{self, Context, Operation, Policy, Source, normalize};
use stsguard::server::admission::{self, MAX_MESSAGE_LEN, MAX_WARNING_LEN, MAX_WARNINGS_TOTAL};
use stsguard::server::admission::{AdmissionRequest, Webhook};
use stsguard::yaml::{self, Document, YamlError};

/// Every default on, with a namespace override that switches each one to its other form,
/// so that every default's code path can produce operations.
pub const FULL_POLICY: &str = "apiVersion: stsguard.dev/v1
kind: StatefulSetPolicy
metadata: {name: full}
spec:
  defaults:
    updateStrategy: RollingUpdate
    partition: 1
    revisionHistoryLimit: 5
    storageClassName: standard
    podAntiAffinity: {type: preferred, weight: 50, singleReplica: true}
  namespaces:
  - match: [\"ml-*\"]
    defaults:
      updateStrategy: OnDelete
      storageClassName: fast-ssd
      podAntiAffinity: {type: required, topologyKey: topology.kubernetes.io/zone}
";

/// The built-in policy and [`FULL_POLICY`], loaded once.
pub static POLICIES: LazyLock<Vec<Policy>> = LazyLock::new(|| {
    let full = Policy::from_yaml(FULL_POLICY, "full");
    match (Policy::builtin_default(), full) {
        (Ok(default), Ok(full)) => vec![default, full],
        (Err(e), _) | (_, Err(e)) => panic!("the fuzz policies do not load: {e}"),
    }
});

/// Where a patch may write (SPEC §2), as JSON Pointers with `*` for an array index. An
/// operation's path must be one of these or a parent of one (parents are created first).
const PATCHABLE: [&str; 6] = [
    "/spec/updateStrategy/type",
    "/spec/updateStrategy/rollingUpdate/partition",
    "/spec/revisionHistoryLimit",
    "/spec/volumeClaimTemplates/*/spec/storageClassName",
    "/spec/template/spec/affinity/podAntiAffinity",
    "/metadata/annotations/stsguard.dev~1defaulted",
];

/// Nodes of an object compared one by one for "no field lost"; past this, a huge object is
/// only checked in part (the fuzzer's time is better spent elsewhere).
const MAX_COMPARED_NODES: usize = 20_000;

/// Pointers looked up with [`Document::locate`] per document.
const MAX_LOCATED_POINTERS: usize = 5_000;

fn tokens(pointer: &str) -> Vec<&str> {
    pointer.split('/').skip(1).collect()
}

/// Whether `path` is one of [`PATCHABLE`] or a parent of one.
fn patchable(path: &str) -> bool {
    let path = tokens(path);
    PATCHABLE.iter().any(|allowed| {
        let allowed = tokens(allowed);
        path.len() <= allowed.len()
            && path.iter().zip(&allowed).all(|(token, allowed)| {
                *allowed == *token
                    || (*allowed == "*"
                        && !token.is_empty()
                        && token.bytes().all(|b| b.is_ascii_digit()))
            })
    })
}

/// Whether the pointer `prefix` is `pointer` or one of its parents.
fn is_prefix(prefix: &str, pointer: &str) -> bool {
    pointer == prefix
        || (pointer.starts_with(prefix) && pointer.as_bytes().get(prefix.len()) == Some(&b'/'))
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Every node of `value` with its pointer, parents first, at most `limit` of them.
fn nodes(value: &Value, limit: usize) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    // An explicit stack: the value may be deeper than a test thread's stack allows to walk
    // recursively.
    let mut stack = vec![(String::new(), value)];
    while let Some((pointer, node)) = stack.pop() {
        if out.len() >= limit {
            break;
        }
        match node {
            Value::Object(map) => {
                for (key, child) in map.iter().rev() {
                    stack.push((format!("{pointer}/{}", escape(key)), child));
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate().rev() {
                    stack.push((format!("{pointer}/{i}"), child));
                }
            }
            _ => {}
        }
        out.push((pointer, node));
    }
    out
}

/// Whether an update strategy holds only what the API server defaults (SPEC §2): type
/// RollingUpdate (or empty) and at most a partition of 0.
fn builtin_strategy(strategy: &Value) -> bool {
    let Some(map) = strategy.as_object() else {
        return strategy.is_null();
    };
    map.iter().all(|(key, value)| match key.as_str() {
        "type" => value.is_null() || value == "" || value == "RollingUpdate",
        "rollingUpdate" => {
            value.is_null()
                || value.as_object().is_some_and(|rolling| {
                    rolling
                        .iter()
                        .all(|(key, p)| key == "partition" && (p.is_null() || p == 0))
                })
        }
        _ => false,
    })
}

/// The operations of a patch as JSON (`[{op, path, value}]`).
fn operations(patch: &json_patch::Patch) -> Result<Vec<Value>, String> {
    match serde_json::to_value(patch) {
        Ok(Value::Array(ops)) => Ok(ops),
        Ok(other) => Err(format!("a patch serialises to {other}, not an array")),
        Err(e) => Err(format!("a patch does not serialise: {e}")),
    }
}

/// The invariants of one patch against the object it is for: only `add` and `replace`, only
/// on the paths of SPEC §2, it applies, and every field of the object not under a path the
/// patch writes is still there with its value. Returns the patched object.
pub fn check_patch(object: &Value, ops: &[Value]) -> Result<Value, String> {
    let mut written = Vec::new();
    for op in ops {
        let kind = op["op"].as_str().unwrap_or("");
        let path = op["path"].as_str().unwrap_or("");
        if kind != "add" && kind != "replace" {
            return Err(format!(
                "the patch has a {kind:?} operation on {path:?}: {op}"
            ));
        }
        if !patchable(path) {
            return Err(format!(
                "the patch writes {path:?}, outside the paths of SPEC §2"
            ));
        }
        // An operation may fill a missing or null member, or set a scalar; replacing a
        // non-empty object or list would drop what the user wrote in it.
        // The one exception is the OnDelete default, which replaces a strategy that holds
        // nothing but the API server's own defaults.
        let overwrites = match object.pointer(path) {
            Some(strategy) if path == "/spec/updateStrategy" => !builtin_strategy(strategy),
            Some(Value::Object(map)) => !map.is_empty(),
            Some(Value::Array(items)) => !items.is_empty(),
            _ => false,
        };
        if overwrites {
            return Err(format!("the patch overwrites the non-empty {path:?}: {op}"));
        }
        written.push(path);
    }
    let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops.to_vec()))
        .map_err(|e| format!("the patch is not RFC 6902: {e}"))?;
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch).map_err(|e| {
        format!(
            "the patch does not apply: {e}\npatch: {}\nobject: {object}",
            Value::Array(ops.to_vec())
        )
    })?;
    for (pointer, before) in nodes(object, MAX_COMPARED_NODES) {
        if written.iter().any(|w| is_prefix(w, &pointer)) {
            continue;
        }
        let after = patched.pointer(&pointer);
        let same = match (before, after) {
            // Containers may gain members below them (a written path is inside); their
            // own members are compared one by one.
            (Value::Object(_), Some(Value::Object(_))) => true,
            (Value::Array(a), Some(Value::Array(b))) => a.len() == b.len(),
            (before, Some(after)) => before == after,
            (_, None) => false,
        };
        if !same {
            return Err(format!(
                "the patch changed {pointer:?} though no operation writes it: {before} became {after:?}"
            ));
        }
    }
    Ok(patched)
}

/// The engine's invariants for one object under one policy: the review succeeds on any
/// JSON object; its patch passes [`check_patch`]; a second review of the patched object has
/// nothing left to do (idempotence, SPEC §2); on UPDATE every value the patch brings in
/// (other than new empty parents and the `defaulted` annotation) is the old object's.
pub fn check_review(
    policy: &Policy,
    operation: Operation,
    object: &Value,
    old: Option<&Value>,
    source: Source,
    namespace: Option<&str>,
) -> Result<(), String> {
    let context = Context {
        source,
        namespace,
        ..Context::default()
    };
    let review = match engine::review(policy, operation, object, old, &context) {
        Ok(review) => review,
        Err(_) if !object.is_object() => return Ok(()),
        Err(e) => return Err(format!("the engine refused an object: {e}")),
    };
    let ops = operations(&review.patch)?;
    if matches!(operation, Operation::Delete | Operation::Connect) && !ops.is_empty() {
        return Err(format!("{operation:?} was patched"));
    }
    if ops.is_empty() != review.defaulted.is_empty() {
        return Err(format!(
            "the patch and the defaulted list disagree: {} operations, defaulted {:?}",
            ops.len(),
            review.defaulted
        ));
    }
    let record = "/metadata/annotations/stsguard.dev~1defaulted";
    let writes_a_default = ops
        .iter()
        .any(|op| op["path"] != record && !op["value"].as_object().is_some_and(|m| m.is_empty()));
    if !ops.is_empty() && !writes_a_default {
        return Err(format!(
            "the patch records defaults {:?} but writes none: {}",
            review.defaulted,
            Value::Array(ops)
        ));
    }
    let patched = check_patch(object, &ops)?;
    if let Some(listed) = patched.pointer(record).and_then(Value::as_str)
        && !ops.is_empty()
    {
        let listed: Vec<&str> = listed.split(',').map(str::trim).collect();
        if let Some(missing) = review.defaulted.iter().find(|d| !listed.contains(d)) {
            return Err(format!(
                "{missing} was applied but {record:?} says {listed:?}"
            ));
        }
    }
    if operation == Operation::Update
        && let Some(old) = old.filter(|o| o.is_object())
    {
        let old = match source {
            Source::ApiServer => old.clone(),
            Source::File => normalize::apply(old),
        };
        for op in &ops {
            let path = op["path"].as_str().unwrap_or("");
            let value = &op["value"];
            let parent = value.as_object().is_some_and(|m| m.is_empty());
            if parent || path == "/metadata/annotations/stsguard.dev~1defaulted" {
                continue;
            }
            // A claim template's class comes back by the claim's name, whatever its index.
            let class = tokens(path).len() == 5 && path.ends_with("/spec/storageClassName");
            let held = if class {
                old.pointer("/spec/volumeClaimTemplates")
                    .and_then(Value::as_array)
                    .is_some_and(|claims| {
                        claims
                            .iter()
                            .any(|c| c.pointer("/spec/storageClassName") == Some(value))
                    })
            } else {
                old.pointer(path) == Some(value)
            };
            if !held {
                return Err(format!(
                    "UPDATE introduced {value} at {path:?}, which the old object does not hold ({:?})",
                    old.pointer(path)
                ));
            }
        }
    }
    let again = engine::review(policy, operation, &patched, old, &context)
        .map_err(|e| format!("the patched object cannot be reviewed: {e}"))?;
    if !again.patch.0.is_empty() {
        return Err(format!(
            "a second review of the patched object patches again (not idempotent): {}\nfirst patch: {}\nobject: {object}",
            Value::Array(operations(&again.patch)?),
            Value::Array(ops),
        ));
    }
    Ok(())
}

/// [`check_review`] under both fuzz policies, both sources, CREATE and UPDATE (against
/// `old`, or the object itself when there is none).
pub fn check_object(object: &Value, old: Option<&Value>) -> Result<(), String> {
    for policy in POLICIES.iter() {
        for source in [Source::ApiServer, Source::File] {
            check_review(policy, Operation::Create, object, None, source, None)?;
            let old = old.unwrap_or(object);
            check_review(policy, Operation::Update, object, Some(old), source, None)?;
        }
    }
    Ok(())
}

/// The webhook's invariants for one request body: parsing never panics; for a body that
/// parses, both webhooks under both policies answer an AdmissionReview that is valid JSON
/// with the request's uid; /mutate always allows and its patch decodes, passes
/// [`check_patch`] against the request's object, and a second /mutate of the patched
/// object returns no patch; /validate never patches; warnings and messages keep to the
/// API server's limits. /mutate reads only what the defaults read: it refuses exactly the
/// bodies /validate refuses, and its answer is the one it would give on the object read
/// whole. Neither answers a body that serde_json cannot read whole (too deep, a number out
/// of range, a lone surrogate), wherever in the body the fault is.
pub fn check_admission(body: &[u8]) -> Result<(), String> {
    let readable = read_whole(body);
    let review = match (
        admission::parse(body, Webhook::Validate),
        admission::parse(body, Webhook::Mutate),
    ) {
        (Ok(_), Ok(_)) if readable.is_err() => {
            return Err(format!(
                "both webhooks read a body serde_json cannot read whole: {readable:?}"
            ));
        }
        (Ok(whole), Ok(for_defaults)) => {
            same_mutation(&whole, &for_defaults)?;
            whole
        }
        (Ok(_), Err(error)) => {
            return Err(format!(
                "/validate reads the body, /mutate refuses it: {error}"
            ));
        }
        (Err(error), Ok(_)) => {
            // Skipped members are checked for depth and numbers as read ones are.
            return Err(format!(
                "/mutate reads the body, /validate refuses it: {error}"
            ));
        }
        (Err(_), Err(_)) => return Ok(()),
    };
    for policy in POLICIES.iter() {
        for webhook in [Webhook::Mutate, Webhook::Validate] {
            let patched = check_answer(policy, webhook, review.version, &review.request)?;
            if let Some(object) = patched {
                let request = AdmissionRequest {
                    object: Some(admission::ObjectIn::Value(object)),
                    ..review.request.clone()
                };
                let decision =
                    admission::decide(policy, webhook, &request, engine::KubeVersion::LATEST)
                        .map_err(|e| e.to_string())?;
                if let Some(patch) = decision.response.patch {
                    return Err(format!(
                        "a second /mutate of the patched object patches again: {patch}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Reads `body` whole as serde_json reads any JSON value, with its nesting limit and its
/// checks of numbers and strings. Not as a `serde_json::Value`: that takes an object whose
/// first key is serde_json's private raw-value token for a raw value and refuses it unless
/// the member is a string, where stsguard reads the object it is. serde's own buffer of a
/// value (what `untagged` reads first) keeps every key a key.
pub fn read_whole(body: &[u8]) -> serde_json::Result<()> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum AnyValue {
        Any(serde::de::IgnoredAny),
    }
    serde_json::from_slice::<AnyValue>(body).map(drop)
}

/// /mutate answers the same whether it reads the objects whole or only as the defaults do.
fn same_mutation(
    whole: &admission::AdmissionReview,
    for_defaults: &admission::AdmissionReview,
) -> Result<(), String> {
    for policy in POLICIES.iter() {
        let [a, b] = [whole, for_defaults].map(|review| {
            admission::decide(
                policy,
                Webhook::Mutate,
                &review.request,
                engine::KubeVersion::LATEST,
            )
            .and_then(|decision| admission::encode(review.version, &decision.response))
            .map_err(|e| e.to_string())
        });
        let (a, b) = (a?, b?);
        if a != b {
            return Err(format!(
                "/mutate answers differently on the object read only as the defaults read it \
                 (a field they read is missing from engine::defaults::READS):\n whole: {}\n read for defaults: {}",
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b)
            ));
        }
    }
    Ok(())
}

/// Checks one answer; returns the patched object when /mutate patched.
fn check_answer(
    policy: &Policy,
    webhook: Webhook,
    version: admission::ReviewVersion,
    request: &AdmissionRequest,
) -> Result<Option<Value>, String> {
    let decision = admission::decide(policy, webhook, request, engine::KubeVersion::LATEST)
        .map_err(|e| e.to_string())?;
    let bytes = admission::encode(version, &decision.response).map_err(|e| e.to_string())?;
    let out: Value = serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "the answer is not JSON: {e}: {}",
            String::from_utf8_lossy(&bytes)
        )
    })?;
    if out["apiVersion"] != version.api_version() || out["kind"] != "AdmissionReview" {
        return Err(format!("the answer is not an AdmissionReview: {out}"));
    }
    let response = &out["response"];
    if response["uid"].as_str() != Some(request.uid.as_str()) {
        return Err(format!("the answer has another uid: {response}"));
    }
    let allowed = response["allowed"]
        .as_bool()
        .ok_or_else(|| format!("the answer has no allowed: {response}"))?;
    let warnings = decision.response.warnings;
    if warnings.iter().any(|w| w.len() > MAX_WARNING_LEN)
        || warnings.iter().map(String::len).sum::<usize>() > MAX_WARNINGS_TOTAL
    {
        return Err(format!(
            "warnings beyond the API server's limits: {warnings:?}"
        ));
    }
    if let Some(status) = &decision.response.status
        && status.message.len() > MAX_MESSAGE_LEN + 256
    {
        return Err(format!(
            "a denial message of {} bytes",
            status.message.len()
        ));
    }
    let Some(patch) = decision.response.patch else {
        return Ok(None);
    };
    if webhook == Webhook::Validate {
        return Err("/validate returned a patch".into());
    }
    if !allowed {
        return Err("/mutate denied".into());
    }
    if decision.response.patch_type != Some("JSONPatch") {
        return Err(format!("patchType is {:?}", decision.response.patch_type));
    }
    let json = base64::engine::general_purpose::STANDARD
        .decode(&patch)
        .map_err(|e| format!("the patch is not base64: {e}"))?;
    let ops: Vec<Value> =
        serde_json::from_slice(&json).map_err(|e| format!("the patch is not a JSON array: {e}"))?;
    if ops.is_empty() {
        return Err("/mutate returned an empty patch".into());
    }
    let object = request
        .object
        .as_ref()
        .map_or(Value::Null, admission::ObjectIn::to_value);
    check_patch(&object, &ops).map(Some)
}

/// Upper bounds of line and column numbers in `text`: lines counted as every `\n` and `\r`
/// (so `\r\n` twice: a bound, not a count), columns as the longest line in characters.
fn bounds(text: &str) -> (usize, usize) {
    let lines = text.bytes().filter(|b| *b == b'\n' || *b == b'\r').count() + 1;
    let longest = text
        .split(['\n', '\r'])
        .map(|line| line.chars().count())
        .max()
        .unwrap_or(0);
    (lines, longest + 1)
}

fn check_location(
    what: &str,
    line: usize,
    column: usize,
    max: (usize, usize),
) -> Result<(), String> {
    if line == 0 || column == 0 || line > max.0 || column > max.1 {
        return Err(format!(
            "{what} at line {line}, column {column}, outside the input ({} lines, {} columns at most)",
            max.0, max.1
        ));
    }
    Ok(())
}

/// Checks the documents parsed from `text`: errors name a line of the input; documents
/// start inside it, their spans are ranges of it, and every node [`Document::locate`] finds
/// is inside it.
fn check_documents(text: &str, documents: &[Result<Document, YamlError>]) -> Result<(), String> {
    let max = bounds(text);
    let mut end = 0;
    for document in documents {
        let document = match document {
            Ok(document) => document,
            Err(e) => {
                check_location(&format!("the error {:?}", e.message), e.line, e.column, max)?;
                continue;
            }
        };
        check_location(
            "a document start",
            document.start.line,
            document.start.column,
            max,
        )?;
        let span = &document.span;
        if span.start > span.end
            || span.end > text.len()
            || !text.is_char_boundary(span.start)
            || !text.is_char_boundary(span.end)
            || span.start < end
        {
            return Err(format!(
                "the span {span:?} is not a range of the input ({} bytes) after the previous one ending at {end}",
                text.len()
            ));
        }
        end = span.end;
        let Some(value) = &document.value else {
            continue;
        };
        for (pointer, _) in nodes(value, MAX_LOCATED_POINTERS) {
            let at = document.locate(&pointer);
            check_location(&format!("the node {pointer:?}"), at.line, at.column, max)?;
        }
    }
    Ok(())
}

/// The YAML reader's invariants for some bytes, read as the CLI reads a file (bytes) and,
/// when they are UTF-8, as text: no panic, every error and position inside the input; and
/// every StatefulSet found in it can be reviewed as a file under both policies, patch
/// invariants included.
pub fn check_yaml(bytes: &[u8]) -> Result<(), String> {
    let source = input::parse_source("fuzz.yaml".into(), bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => {
            // Not UTF-8: the documents with a bad byte are located errors, the others are
            // read as usual; every position is inside the input.
            let max = bounds(&String::from_utf8_lossy(bytes));
            let mut utf8_errors = 0;
            for document in &source.documents {
                match document {
                    Err(e) => {
                        utf8_errors += usize::from(e.message.contains("not UTF-8"));
                        check_location("an error", e.line, e.column, max)?;
                    }
                    Ok(document) => {
                        check_location("a document", document.start.line, 1, max)?;
                    }
                }
            }
            return if utf8_errors == 0 {
                Err("bytes that are not UTF-8 gave no UTF-8 error".into())
            } else {
                Ok(())
            };
        }
    };
    check_documents(text, &source.documents)?;
    let direct = yaml::parse_stream(text);
    if direct.len() != source.documents.len() {
        return Err("parse_stream and parse_source disagree".into());
    }
    for document in source.documents.iter().flatten() {
        let Some(value) = &document.value else {
            continue;
        };
        for found in input::objects_of(value) {
            if found.value.is_object() {
                for policy in POLICIES.iter() {
                    check_review(
                        policy,
                        Operation::Create,
                        found.value,
                        None,
                        Source::File,
                        None,
                    )?;
                }
            }
        }
    }
    Ok(())
}

/// The policy loader's invariants for some text: no panic; a refusal names at least one
/// problem; a policy that loads answers for any namespace and reviews a StatefulSet with
/// the patch invariants holding.
pub fn check_policy(bytes: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(bytes);
    let policy = match Policy::from_yaml(&text, "fuzz.yaml") {
        Ok(policy) => policy,
        Err(e) if e.problems.is_empty() => return Err("a policy refused without a problem".into()),
        Err(e) => {
            let _ = e.to_string();
            return Ok(());
        }
    };
    for namespace in ["default", "kube-system", "ml-train", "", "*", "a?b"] {
        let settings = policy.settings_for(namespace);
        let _ = policy.is_exempt(namespace);
        let _ = policy.allowed_gpu_models(&settings).count();
        let _ = settings.severity(RuleId::NameLength, engine::Severity::Error);
    }
    let object = sample_statefulset();
    for source in [Source::ApiServer, Source::File] {
        check_review(&policy, Operation::Create, &object, None, source, None)?;
        check_review(
            &policy,
            Operation::Create,
            &object,
            None,
            source,
            Some("ml-train"),
        )?;
        check_review(
            &policy,
            Operation::Update,
            &object,
            Some(&object),
            source,
            None,
        )?;
    }
    Ok(())
}

/// A small StatefulSet with a claim template, three replicas and no defaults chosen, so
/// that every default of a policy has something to do.
pub fn sample_statefulset() -> Value {
    serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web",
                    "image": "nginx:1.27",
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]
                }]}
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}}
                }
            }]
        }
    })
}

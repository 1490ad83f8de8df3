//! Building RFC 6902 patches on the raw JSON.
//!
//! Defaults are expressed as "set this path to this value"; the builder turns each into
//! `add` operations for missing parents (`{}`), then `add` or `replace` for the leaf. Later
//! operations must see earlier ones (a second default under a parent the first one created
//! must not create it again), so the builder reads the object *as patched so far*: the
//! original object overlaid with what its operations wrote. It keeps that overlay instead of
//! a patched copy: copying a whole StatefulSet cost the mutating webhook about a tenth of
//! its work per request (BENCHMARKS.md), while a patch writes a handful of small values.
//! It never emits `remove`: a patch from stsguard cannot delete user data (SPEC §1).

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, ReplaceOperation};
use serde_json::{Map, Value};

use crate::engine::view::member;

/// Accumulates operations against an object it never copies.
pub struct PatchBuilder<'a> {
    object: &'a Value,
    /// What the operations write, in order: each write is one operation, made in
    /// [`Self::finish`] (the values move into the patch instead of being copied into it).
    writes: Vec<Write>,
}

/// One `add` or `replace`.
struct Write {
    /// Unescaped path tokens.
    tokens: Vec<String>,
    path: PointerBuf,
    replace: bool,
    value: Value,
}

/// The member or item `token` of `value` (an object key, or an index into an array).
fn child<'v>(value: &'v Value, token: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => member(map, token),
        Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

/// Writes `value` at `tokens` inside `target`, through existing members and items.
fn write_into(target: &mut Value, tokens: &[String], value: Value) {
    let Some((leaf, parents)) = tokens.split_last() else {
        *target = value;
        return;
    };
    let mut node = target;
    for token in parents {
        let next = match node {
            Value::Object(map) => map.get_mut(token),
            Value::Array(items) => token.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        };
        let Some(next) = next else { return };
        node = next;
    }
    if let Value::Object(map) = node {
        map.insert(leaf.clone(), value);
    }
}

impl<'a> PatchBuilder<'a> {
    pub fn new(object: &'a Value) -> Self {
        PatchBuilder {
            object,
            writes: Vec::new(),
        }
    }

    /// The values at `tokens[..0]`, `tokens[..1]`, … `tokens` of the object as patched so
    /// far (`None` where missing), and the index of the last write at or above `tokens`.
    ///
    /// Each level is the last write at exactly that path when it came after the one that
    /// gave the level above, else the member of the level above: the builder creates every
    /// member it writes into with a write of its own, so no member appears otherwise.
    fn walk(&self, tokens: &[&str]) -> (Vec<Option<&Value>>, Option<usize>) {
        let mut levels = Vec::with_capacity(tokens.len() + 1);
        let mut node = Some(self.object);
        let mut last: Option<usize> = None;
        levels.push(node);
        for depth in 0..tokens.len() {
            let prefix = &tokens[..=depth];
            let exact = self.writes.iter().enumerate().rev().find(|(_, write)| {
                write.tokens.len() == prefix.len()
                    && write.tokens.iter().zip(prefix).all(|(a, b)| a == b)
            });
            node = match exact {
                Some((index, write)) if last.is_none_or(|last| index > last) => {
                    last = Some(index);
                    Some(&write.value)
                }
                _ => node.and_then(|value| child(value, tokens[depth])),
            };
            levels.push(node);
        }
        (levels, last)
    }

    /// The whole value at `tokens` as patched so far: `base` (from [`Self::walk`]) with the
    /// writes made below it since `last`. Only a default aimed at the parent of an earlier
    /// one finds such writes; then the value is rebuilt.
    fn patched<'v>(
        &self,
        tokens: &[&str],
        base: &'v Value,
        last: Option<usize>,
    ) -> std::borrow::Cow<'v, Value> {
        let since = last.map_or(0, |last| last + 1);
        let below = |write: &&Write| {
            write.tokens.len() > tokens.len()
                && write.tokens.iter().zip(tokens).all(|(a, b)| a == b)
        };
        if !self.writes[since..].iter().any(|write| below(&write)) {
            return std::borrow::Cow::Borrowed(base);
        }
        let mut rebuilt = base.clone();
        for write in self.writes[since..].iter().filter(below) {
            write_into(
                &mut rebuilt,
                &write.tokens[tokens.len()..],
                write.value.clone(),
            );
        }
        std::borrow::Cow::Owned(rebuilt)
    }

    /// Sets the value at `tokens` (unescaped object keys or array indices), creating
    /// missing parent objects. Does nothing if the value is already there, or if a parent
    /// is not an object (the `schema` rule reports such objects; patching through them
    /// would fail at the API server).
    ///
    /// Returns whether an operation writes the value: a default that could not be written
    /// must not be listed as applied (the `stsguard.dev/defaulted` annotation would claim
    /// it, and a later UPDATE would treat it as stsguard's).
    #[must_use]
    pub fn set(&mut self, tokens: &[&str], value: Value) -> bool {
        let Some((leaf, parents)) = tokens.split_last() else {
            return false;
        };
        let (levels, last) = self.walk(tokens);
        // The first parent to create (`{}`): missing or null in an object. Every parent
        // below it is then missing too.
        let mut create_from = None;
        for depth in 0..parents.len() {
            match (levels[depth], levels[depth + 1]) {
                (Some(Value::Object(_)), None | Some(Value::Null)) => {
                    create_from = Some(depth);
                    break;
                }
                (Some(Value::Object(_)), Some(_)) | (Some(Value::Array(_)), Some(_)) => {}
                // Not an object, nor an array holding this index.
                _ => return false,
            }
        }
        let existing = match create_from {
            Some(_) => None,
            None => {
                if !matches!(levels[parents.len()], Some(Value::Object(_))) {
                    return false;
                }
                levels[tokens.len()]
            }
        };
        if let Some(existing) = existing
            && *self.patched(tokens, existing, last) == value
        {
            return false;
        }
        let replace = existing.is_some();

        let mut path = PointerBuf::root();
        for (depth, token) in parents.iter().enumerate() {
            path.push_back(*token);
            if create_from.is_some_and(|from| depth >= from) {
                self.record(
                    &tokens[..=depth],
                    path.clone(),
                    false,
                    Value::Object(Map::new()),
                );
            }
        }
        path.push_back(*leaf);
        self.record(tokens, path, replace, value);
        true
    }

    fn record(&mut self, tokens: &[&str], path: PointerBuf, replace: bool, value: Value) {
        self.writes.push(Write {
            tokens: tokens.iter().map(|token| (*token).to_owned()).collect(),
            path,
            replace,
            value,
        });
    }

    /// The operations.
    pub fn finish(self) -> Patch {
        Patch(
            self.writes
                .into_iter()
                .map(
                    |Write {
                         path,
                         replace,
                         value,
                         ..
                     }| {
                        if replace {
                            PatchOperation::Replace(ReplaceOperation { path, value })
                        } else {
                            PatchOperation::Add(AddOperation { path, value })
                        }
                    },
                )
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ops(patch: &Patch) -> Value {
        serde_json::to_value(patch).unwrap()
    }

    /// `input` with `patch` applied (which must apply).
    fn applied(input: &Value, patch: &Patch) -> Value {
        let mut object = input.clone();
        json_patch::patch(&mut object, patch).unwrap();
        object
    }

    #[test]
    fn creates_missing_parents_first() {
        let input = json!({"spec": {}});
        let mut builder = PatchBuilder::new(&input);
        assert!(builder.set(
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
            json!(2),
        ));
        let patch = builder.finish();
        let object = applied(&input, &patch);
        assert_eq!(
            ops(&patch),
            json!([
                {"op": "add", "path": "/spec/updateStrategy", "value": {}},
                {"op": "add", "path": "/spec/updateStrategy/rollingUpdate", "value": {}},
                {"op": "add", "path": "/spec/updateStrategy/rollingUpdate/partition", "value": 2},
            ])
        );
        assert_eq!(
            object["spec"]["updateStrategy"]["rollingUpdate"]["partition"],
            2
        );
    }

    #[test]
    fn escapes_keys_per_rfc_6901() {
        let input = json!({"metadata": {}});
        let mut builder = PatchBuilder::new(&input);
        assert!(builder.set(
            &["metadata", "annotations", "stsguard.dev/defaulted"],
            json!("partition"),
        ));
        let patch = builder.finish();
        assert_eq!(
            ops(&patch)[1]["path"],
            "/metadata/annotations/stsguard.dev~1defaulted"
        );
    }

    #[test]
    fn replaces_a_different_value_and_skips_an_equal_one() {
        let input = json!({"spec": {"revisionHistoryLimit": 10}});
        let mut builder = PatchBuilder::new(&input);
        assert!(!builder.set(&["spec", "revisionHistoryLimit"], json!(10)));
        assert!(builder.writes.is_empty());
        assert!(builder.set(&["spec", "revisionHistoryLimit"], json!(5)));
        let patch = builder.finish();
        assert_eq!(
            ops(&patch),
            json!([{"op": "replace", "path": "/spec/revisionHistoryLimit", "value": 5}])
        );
    }

    #[test]
    fn leaves_paths_through_non_objects_alone() {
        let input = json!({"spec": "oops"});
        let mut builder = PatchBuilder::new(&input);
        assert!(!builder.set(&["spec", "revisionHistoryLimit"], json!(5)));
        let patch = builder.finish();
        assert!(patch.0.is_empty());
    }

    #[test]
    fn walks_into_array_items() {
        let input = json!({"spec": {"volumeClaimTemplates": [{"spec": {}}]}});
        let mut builder = PatchBuilder::new(&input);
        assert!(builder.set(
            &[
                "spec",
                "volumeClaimTemplates",
                "0",
                "spec",
                "storageClassName",
            ],
            json!("fast"),
        ));
        assert!(!builder.set(
            &[
                "spec",
                "volumeClaimTemplates",
                "7",
                "spec",
                "storageClassName",
            ],
            json!("fast"),
        ));
        let patch = builder.finish();
        assert_eq!(
            ops(&patch),
            json!([{"op": "add", "path": "/spec/volumeClaimTemplates/0/spec/storageClassName", "value": "fast"}])
        );
    }

    #[test]
    fn later_sets_see_earlier_ones() {
        let input = json!({"spec": {}});
        let mut builder = PatchBuilder::new(&input);
        assert!(builder.set(&["spec", "updateStrategy", "type"], json!("RollingUpdate")));
        // Under the parent the first set created: not created again.
        assert!(builder.set(
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
            json!(0),
        ));
        // Aimed at the parent of earlier writes: equal to what they built, so nothing.
        assert!(!builder.set(
            &["spec", "updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
        ));
        assert!(!builder.set(&["spec", "updateStrategy", "type"], json!("RollingUpdate")));
        assert!(builder.set(&["spec", "updateStrategy"], json!({"type": "OnDelete"})));
        // The replace above wiped what was under it.
        assert!(builder.set(
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
            json!(1),
        ));
        let patch = builder.finish();
        assert_eq!(
            ops(&patch),
            json!([
                {"op": "add", "path": "/spec/updateStrategy", "value": {}},
                {"op": "add", "path": "/spec/updateStrategy/type", "value": "RollingUpdate"},
                {"op": "add", "path": "/spec/updateStrategy/rollingUpdate", "value": {}},
                {"op": "add", "path": "/spec/updateStrategy/rollingUpdate/partition", "value": 0},
                {"op": "replace", "path": "/spec/updateStrategy", "value": {"type": "OnDelete"}},
                {"op": "add", "path": "/spec/updateStrategy/rollingUpdate", "value": {}},
                {"op": "add", "path": "/spec/updateStrategy/rollingUpdate/partition", "value": 1},
            ])
        );
        assert_eq!(
            applied(&input, &patch),
            json!({"spec": {"updateStrategy": {"type": "OnDelete", "rollingUpdate": {"partition": 1}}}})
        );
    }

    /// The builder as it was before the overlay: it patched a copy of the whole object as
    /// it went. The overlay must give the same operations for any sequence of sets.
    fn reference(object: &Value, sets: &[(Vec<&str>, Value)]) -> (Vec<bool>, Patch) {
        let mut object = object.clone();
        let mut operations = Vec::new();
        let mut written = Vec::new();
        for (tokens, value) in sets {
            written.push(reference_set(
                &mut object,
                &mut operations,
                tokens,
                value.clone(),
            ));
        }
        (written, Patch(operations))
    }

    fn reference_set(
        object: &mut Value,
        operations: &mut Vec<PatchOperation>,
        tokens: &[&str],
        value: Value,
    ) -> bool {
        let Some((leaf, parents)) = tokens.split_last() else {
            return false;
        };
        let mut node = object;
        let mut path = PointerBuf::root();
        for token in parents {
            path.push_back(*token);
            node = match node {
                Value::Object(map) => {
                    if map.get(*token).is_none_or(Value::is_null) {
                        operations.push(PatchOperation::Add(AddOperation {
                            path: path.clone(),
                            value: json!({}),
                        }));
                        map.insert((*token).to_string(), json!({}));
                    }
                    match map.get_mut(*token) {
                        Some(child) => child,
                        None => return false,
                    }
                }
                Value::Array(items) => {
                    match token.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                        Some(child) => child,
                        None => return false,
                    }
                }
                _ => return false,
            };
        }
        path.push_back(*leaf);
        let Value::Object(map) = node else {
            return false;
        };
        let operation = match map.get(*leaf) {
            Some(existing) if *existing == value => return false,
            Some(_) => PatchOperation::Replace(ReplaceOperation {
                path,
                value: value.clone(),
            }),
            None => PatchOperation::Add(AddOperation {
                path,
                value: value.clone(),
            }),
        };
        operations.push(operation);
        map.insert((*leaf).to_string(), value);
        true
    }

    mod same_as_copying {
        use super::*;
        use proptest::prelude::*;

        const TOKENS: [&str; 6] = ["spec", "a", "b", "0", "1", "x/y"];

        fn small_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                (0i64..3).prop_map(Value::from),
                "[ab]".prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 12, 3, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                    prop::collection::vec((prop::sample::select(TOKENS.to_vec()), inner), 0..3)
                        .prop_map(|members| {
                            Value::Object(
                                members
                                    .into_iter()
                                    .map(|(k, v)| (k.to_string(), v))
                                    .collect(),
                            )
                        }),
                ]
            })
        }

        fn sets() -> impl Strategy<Value = Vec<(Vec<&'static str>, Value)>> {
            prop::collection::vec(
                (
                    prop::collection::vec(prop::sample::select(TOKENS.to_vec()), 1..4),
                    small_value(),
                ),
                1..6,
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn gives_the_operations_of_the_copying_builder(
                object in small_value().prop_map(|v| json!({"spec": v, "a": {"b": [{}, {"a": 1}]}})),
                sets in sets(),
            ) {
                let (expected_written, expected) = reference(&object, &sets);
                let mut builder = PatchBuilder::new(&object);
                let written: Vec<bool> = sets
                    .iter()
                    .map(|(tokens, value)| builder.set(tokens, value.clone()))
                    .collect();
                let patch = builder.finish();
                prop_assert_eq!(written, expected_written);
                prop_assert_eq!(ops(&patch), ops(&expected));
            }
        }
    }
}

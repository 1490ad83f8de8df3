//! Building RFC 6902 patches on the raw JSON.
//!
//! Defaults are expressed as "set this path to this value"; the builder turns each into
//! `add` operations for missing parents (`{}`), then `add` or `replace` for the leaf, and
//! applies them to its own copy so that later operations see earlier ones. It never emits
//! `remove`: a patch from stsguard cannot delete user data (SPEC §1).

use std::borrow::Cow;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, ReplaceOperation};
use serde_json::{Map, Value};

/// Accumulates operations against a working copy of the object (copied on the first
/// change: most reviews set nothing).
pub struct PatchBuilder<'a> {
    object: Cow<'a, Value>,
    operations: Vec<PatchOperation>,
}

impl<'a> PatchBuilder<'a> {
    pub fn new(object: &'a Value) -> Self {
        PatchBuilder {
            object: Cow::Borrowed(object),
            operations: Vec::new(),
        }
    }

    /// The object as patched so far.
    pub fn object(&self) -> &Value {
        &self.object
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
        if super::super::view::at(&self.object, tokens) == Some(&value) {
            return false;
        }
        let mut node = self.object.to_mut();
        let mut path = PointerBuf::root();
        for token in parents {
            path.push_back(*token);
            node = match node {
                Value::Object(map) => {
                    if !map.contains_key(*token) || map.get(*token).is_some_and(Value::is_null) {
                        self.operations.push(PatchOperation::Add(AddOperation {
                            path: path.clone(),
                            value: Value::Object(Map::new()),
                        }));
                        map.insert((*token).to_string(), Value::Object(Map::new()));
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
        match map.get(*leaf) {
            Some(existing) if *existing == value => false,
            Some(_) => {
                self.operations
                    .push(PatchOperation::Replace(ReplaceOperation {
                        path,
                        value: value.clone(),
                    }));
                map.insert((*leaf).to_string(), value);
                true
            }
            None => {
                self.operations.push(PatchOperation::Add(AddOperation {
                    path,
                    value: value.clone(),
                }));
                map.insert((*leaf).to_string(), value);
                true
            }
        }
    }

    /// The operations and the patched object.
    pub fn finish(self) -> (Patch, Cow<'a, Value>) {
        (Patch(self.operations), self.object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ops(patch: &Patch) -> Value {
        serde_json::to_value(patch).unwrap()
    }

    #[test]
    fn creates_missing_parents_first() {
        let input = json!({"spec": {}});
        let mut builder = PatchBuilder::new(&input);
        assert!(builder.set(
            &["spec", "updateStrategy", "rollingUpdate", "partition"],
            json!(2),
        ));
        let (patch, object) = builder.finish();
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
        let (patch, _) = builder.finish();
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
        assert!(builder.operations.is_empty());
        assert!(builder.set(&["spec", "revisionHistoryLimit"], json!(5)));
        let (patch, _) = builder.finish();
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
        let (patch, object) = builder.finish();
        assert!(patch.0.is_empty());
        assert_eq!(*object, json!({"spec": "oops"}));
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
        let (patch, _) = builder.finish();
        assert_eq!(
            ops(&patch),
            json!([{"op": "add", "path": "/spec/volumeClaimTemplates/0/spec/storageClassName", "value": "fast"}])
        );
    }
}

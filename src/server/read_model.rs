//! The object of an AdmissionReview, read without what no rule reads.
//!
//! A StatefulSet from the API server carries `metadata.managedFields` and usually the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation (the whole previous manifest
//! as one string): together often more than half of the body. No rule and no default reads
//! them, so they are skipped while parsing instead of being built into a
//! [`serde_json::Value`] tree (SPEC §1, cost of reading). Both are members of JSON objects,
//! so leaving them out shifts no array index: every path of a finding or of the patch means
//! the same in the real object. The `annotations` object itself is kept even when the
//! skipped annotation was its only member, so the patch adds to it as it would have.

use std::fmt;

use serde::Deserialize;
use serde::de::value::SeqAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// The annotation `kubectl apply` keeps the previous manifest in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// `deserialize_with` for `request.object` and `request.oldObject` (`null` is `None`, as
/// for `Option<Value>`). Only for serde_json reading from memory (`from_str`/`from_slice`):
/// the skipped annotation is borrowed from the input as raw JSON.
pub fn object<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Ok(match Node(Level::Root).deserialize(deserializer)? {
        Value::Null => None,
        value => Some(value),
    })
}

/// Where a value sits, as far as skipping goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The object itself.
    Root,
    /// `metadata`.
    Metadata,
    /// `metadata.annotations`.
    Annotations,
}

/// A value at `Level`, read like `serde_json::Value` except for the skipped members.
struct Node(Level);

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        // Only objects hold what is skipped: an array is read whole.
        Value::deserialize(SeqAccessDeserializer::new(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = match (self.0, key.as_str()) {
                (Level::Root, "metadata") => map.next_value_seed(Node(Level::Metadata))?,
                (Level::Metadata, "annotations") => {
                    map.next_value_seed(Node(Level::Annotations))?
                }
                (Level::Metadata, "managedFields") => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                (Level::Annotations, LAST_APPLIED) => {
                    // Skipped as raw text: reading it as a string would unescape the whole
                    // previous manifest (usually the largest string of the body) only to
                    // drop it. Anything but a string is kept for the `schema` rule to
                    // report, as it would be without skipping.
                    let raw = map.next_value::<&'de RawValue>()?;
                    if raw.get().starts_with('"') {
                        continue;
                    }
                    serde_json::from_str(raw.get()).map_err(de::Error::custom)?
                }
                _ => map.next_value::<Value>()?,
            };
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::{Value, json};

    #[derive(Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "super::object")]
        object: Option<Value>,
    }

    fn read(object: &Value) -> Option<Value> {
        let body = json!({ "object": object }).to_string();
        serde_json::from_str::<Holder>(&body).unwrap().object
    }

    #[test]
    fn skips_managed_fields_and_the_last_applied_annotation() {
        let object = json!({
            "metadata": {
                "name": "web",
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                "annotations": {super::LAST_APPLIED: "{\"kind\":\"StatefulSet\"}", "a": "b"},
            },
            "spec": {"template": {"metadata": {"annotations": {super::LAST_APPLIED: "kept"}}}},
        });
        assert_eq!(
            read(&object),
            Some(json!({
                "metadata": {"name": "web", "annotations": {"a": "b"}},
                "spec": {"template": {"metadata": {"annotations": {super::LAST_APPLIED: "kept"}}}},
            }))
        );
    }

    #[test]
    fn keeps_an_emptied_annotations_map_and_odd_values() {
        let only = json!({"metadata": {"annotations": {super::LAST_APPLIED: "{}"}}});
        assert_eq!(read(&only), Some(json!({"metadata": {"annotations": {}}})));
        let odd = json!({"metadata": {"annotations": {super::LAST_APPLIED: 1}}});
        assert_eq!(read(&odd), Some(odd.clone()));
    }

    #[test]
    fn reads_null_as_none_and_other_values_whole() {
        assert_eq!(read(&Value::Null), None);
        let list = json!([1, "two", {"metadata": {"managedFields": []}}]);
        assert_eq!(read(&list), Some(list.clone()));
    }
}

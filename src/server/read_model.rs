//! The objects of an AdmissionReview, read without what the webhook does not read.
//!
//! Building a [`serde_json::Value`] tree — a map per JSON object, an allocation per key and
//! string, all freed again — is most of what a request costs; skipping a member while
//! parsing only scans it. Two readings:
//!
//! - [`Whole`], for `/validate`: every member except `metadata.managedFields` and the
//!   `kubectl.kubernetes.io/last-applied-configuration` annotation (the whole previous
//!   manifest as one string). The API server sends both, together often more than half of
//!   the body, and no rule reads them. The `annotations` object itself is kept even when the
//!   skipped annotation was its only member, as it would be without skipping. The rules
//!   read the object as a [`Doc`] borrowing the body's strings, which costs about half of a
//!   `serde_json::Value` (`engine::doc`).
//! - [`ForDefaults`], for `/mutate`: only the members the defaults read
//!   ([`engine::defaults::READS`]); a pod template's containers, env, probes and the rest
//!   are skipped.
//!
//! Both leave out members of JSON objects only, never array items, so every path of a
//! finding or of the patch means the same in the real object.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use crate::engine;
use crate::engine::doc::{self, Doc};
use crate::engine::view::Reads;

/// The annotation `kubectl apply` keeps the previous manifest in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// How `request.object` and `request.oldObject` are read.
pub(crate) trait Reading {
    /// The object as this reading builds it, borrowing from the body (`'de`).
    type Object<'de>;

    /// Reads the object; `null` is `None`, as for `Option<Value>`.
    fn read<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Self::Object<'de>>, D::Error>;
}

/// Everything a rule may read (`/validate`), as a [`Doc`].
pub(crate) enum Whole {}

impl Reading for Whole {
    type Object<'de> = Doc<'de>;

    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Doc<'de>>, D::Error> {
        Ok(match WholeNode(Level::Root).deserialize(deserializer)? {
            Doc::Null => None,
            doc => Some(doc),
        })
    }
}

/// Only what the defaults read (`/mutate`), as a `Value`: the defaults patch one.
pub(crate) enum ForDefaults {}

impl Reading for ForDefaults {
    type Object<'de> = Value;

    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
        Ok(
            match Only(&engine::defaults::READS, OBJECT_DEPTH).deserialize(deserializer)? {
                Value::Null => None,
                value => Some(value),
            },
        )
    }
}

/// `request.object` or `request.oldObject` as a [`Reading`] reads it. Only for serde_json
/// reading from memory (`from_str`/`from_slice`): the skipped annotation is borrowed from the
/// input as raw JSON.
pub(crate) struct Object<'de, R: Reading>(pub Option<R::Object<'de>>, PhantomData<R>);

impl<'de, R: Reading> Deserialize<'de> for Object<'de, R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Object(R::read(deserializer)?, PhantomData))
    }
}

/// Where a value sits, as far as the [`Whole`] reading goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// The object itself.
    Root,
    /// `metadata`.
    Metadata,
    /// `metadata.annotations`.
    Annotations,
}

/// A value under the [`ForDefaults`] reading, built as a `serde_json::Value` except for the
/// members it skips.
/// Holds what to read of the value, and how many arrays and objects enclose it.
#[derive(Clone, Copy)]
pub(crate) struct Only(&'static Reads, usize);

/// How many objects enclose `request.object` and `request.oldObject` in an AdmissionReview:
/// the review and its request. serde_json's nesting limit counts from the body's root.
const OBJECT_DEPTH: usize = 2;

impl<'de> DeserializeSeed<'de> for Only {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self {
            Only(Reads::All, _) => Build.deserialize(deserializer),
            _ => deserializer.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Only {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Build.visit_bool(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Build.visit_i64(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Build.visit_u64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Build.visit_f64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Build.visit_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Build.visit_string(v)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Build.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Build.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Only(Reads::Items(item), depth) = self else {
            // Members are skipped, never items: any other array is read whole.
            return Build.visit_seq(seq);
        };
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(value) = seq.next_element_seed(Only(item, depth + 1))? {
            items.push(value);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        match self {
            Only(Reads::Members(members), depth) => only_members(members, depth + 1, map),
            Only(..) => Build.visit_map(map),
        }
    }
}

/// Builds a whole value as `serde_json::Value`'s own `Deserialize` does, with one
/// difference: every key is a plain key. serde_json takes an object whose first key is its
/// private `$serde_json::private::RawValue` token for a raw value, and refuses it unless that
/// member is a string. Such an object is JSON like any other (SPEC §6 refuses only bodies
/// that are not), and reading it so everywhere keeps `/validate`, which builds it, and
/// `/mutate`, which skips it, refusing the same bodies.
struct Build;

impl<'de> DeserializeSeed<'de> for Build {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Build {
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

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(value) = seq.next_element_seed(Build)? {
            items.push(value);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Build)?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

/// A value under the [`Whole`] reading: as [`Doc`] reads it, except for the members skipped
/// at its `level`.
#[derive(Clone, Copy)]
struct WholeNode(Level);

impl<'de> DeserializeSeed<'de> for WholeNode {
    type Value = Doc<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Doc<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for WholeNode {
    type Value = Doc<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Doc<'de>, E> {
        doc::Read.visit_bool(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Doc<'de>, E> {
        doc::Read.visit_i64(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Doc<'de>, E> {
        doc::Read.visit_u64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Doc<'de>, E> {
        doc::Read.visit_f64(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Doc<'de>, E> {
        doc::Read.visit_borrowed_str(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Doc<'de>, E> {
        doc::Read.visit_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Doc<'de>, E> {
        doc::Read.visit_string(v)
    }

    fn visit_none<E: de::Error>(self) -> Result<Doc<'de>, E> {
        doc::Read.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Doc<'de>, E> {
        doc::Read.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Doc<'de>, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Doc<'de>, A::Error> {
        // Members are skipped, never items: an array is read whole.
        doc::Read.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc<'de>, A::Error> {
        let level = self.0;
        let mut members = Vec::new();
        while let Some(key) = map.next_key_seed(doc::Key)? {
            let value = match (level, key.as_ref()) {
                (Level::Root, "metadata") => map.next_value_seed(WholeNode(Level::Metadata))?,
                (Level::Metadata, "annotations") => {
                    map.next_value_seed(WholeNode(Level::Annotations))?
                }
                (Level::Metadata, "managedFields") => {
                    map.next_value_seed(Skip)?;
                    continue;
                }
                (Level::Annotations, LAST_APPLIED) => {
                    // Anything but a string is kept for the `schema` rule to report, as it
                    // would be without skipping.
                    match last_applied(&mut map, ANNOTATIONS_DEPTH)? {
                        Some(value) => Doc::from(value),
                        None => continue,
                    }
                }
                _ => map.next_value_seed(doc::Read)?,
            };
            members.push((key, value));
        }
        Ok(Doc::Object(members.into_iter().collect()))
    }
}

/// An object's listed members; the others are read, not built (their keys included).
/// `depth` counts the arrays and objects that enclose the members, this one included.
fn only_members<'de, A: MapAccess<'de>>(
    reads: &'static [(&'static str, Reads)],
    depth: usize,
    mut map: A,
) -> Result<Value, A::Error> {
    let mut members = Map::new();
    while let Some(Key(key)) = map.next_key()? {
        match reads.iter().find(|(name, _)| *name == key) {
            Some((_, read)) => {
                let value = map.next_value_seed(Only(read, depth))?;
                members.insert(key.into_owned(), value);
            }
            // The previous manifest, skipped as raw text (checked the same way wherever a
            // member has that name).
            None if key == LAST_APPLIED => {
                last_applied(&mut map, depth)?;
            }
            None => {
                map.next_value_seed(Skip)?;
            }
        }
    }
    Ok(Value::Object(members))
}

/// Reads the value of a last-applied annotation, `depth` arrays and objects deep: `None` for
/// a string, which is skipped, anything else built whole (for the `schema` rule to report,
/// as without skipping).
///
/// The string is the whole previous manifest, usually the largest of the body and full of
/// `\"`: reading it as a string would unescape all of it only to drop it, so it is skipped
/// as raw text. serde_json's raw skip checks escapes and control characters but not what
/// reading finds: a lone UTF-16 surrogate (`\udc00`), or a number out of range or nesting
/// past the limit in a value that is not a string. Text that may hold one (a string with a
/// surrogate escape, or anything but a string) is read again as serde_json reads it in place,
/// so the body is refused exactly when reading it whole refuses it (SPEC §6).
fn last_applied<'de, A: MapAccess<'de>>(
    map: &mut A,
    depth: usize,
) -> Result<Option<Value>, A::Error> {
    let raw = map.next_value::<&'de RawValue>()?.get();
    if raw.starts_with('"') && !may_hold_a_surrogate(raw) {
        return Ok(None);
    }
    match read_in_place(raw, depth) {
        Ok(Value::String(_)) => Ok(None),
        Ok(value) => Ok(Some(value)),
        // Raised again as a custom error, the only kind a visitor can raise: marked when
        // the text is not JSON, so that the body gets the answer the same fault gets
        // anywhere else (the body's reader looks for the mark).
        Err(error) if error.is_data() => Err(de::Error::custom(without_position(&error))),
        Err(error) => Err(de::Error::custom(format_args!(
            "{NOT_JSON}{}",
            without_position(&error)
        ))),
    }
}

/// Starts the message of an error [`last_applied`] raises again for text that is not JSON.
pub(crate) const NOT_JSON: &str = "not JSON: ";

/// Whether JSON string text may hold an escaped UTF-16 surrogate (`\uD800` to `\uDFFF`):
/// each starts `\ud` or `\uD` (an escaped backslash followed by `ud` matches too, which
/// only costs a second read). Other `\u` escapes, such as the `\u0026` Go writes for `&`,
/// need none. std searches a short needle with SIMD: cheap next to the skip.
fn may_hold_a_surrogate(raw: &str) -> bool {
    raw.contains("\\ud") || raw.contains("\\uD")
}

/// How many objects enclose the members of `metadata.annotations`: those around the object,
/// the object, its metadata and the annotations.
const ANNOTATIONS_DEPTH: usize = OBJECT_DEPTH + 3;

/// Reads `raw` as serde_json reads a value `depth` arrays and objects deep: inside as many
/// brackets, so that its nesting limit counts the same levels.
fn read_in_place(raw: &str, depth: usize) -> serde_json::Result<Value> {
    let text = format!("{}{raw}{}", "[".repeat(depth), "]".repeat(depth));
    let mut reader = serde_json::Deserializer::from_str(&text);
    let mut value = Build.deserialize(&mut reader)?;
    reader.end()?;
    for _ in 0..depth {
        if let Value::Array(items) = &mut value {
            value = items.pop().unwrap_or(Value::Null);
        }
    }
    Ok(value)
}

/// A serde_json error's message without its ` at line L column C`: raised again inside the
/// body, it gets the body's position instead.
fn without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rsplit_once(" at line ") {
        Some((text, _)) if error.line() != 0 => text.to_owned(),
        _ => message,
    }
}

/// Reads a value without building it. Unlike serde's `IgnoredAny` (which serde_json skips in
/// one flat loop), every array and object goes through `deserialize_any`, so serde_json's
/// nesting limit and number checks apply to skipped members as to read ones: a body too deep
/// or with a number out of range is refused by both webhooks alike (SPEC §6), wherever it is.
pub(crate) struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
}

/// An object key, borrowed from the input unless it holds escapes.
pub(crate) struct Key<'de>(pub Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{ForDefaults, Reading, Whole};

    fn read_text<R: Reading>(text: &str) -> Option<Value>
    where
        for<'de> R::Object<'de>: serde::Serialize,
    {
        let mut reader = serde_json::Deserializer::from_str(text);
        let read = R::read(&mut reader).unwrap();
        reader.end().unwrap();
        read.map(|object| serde_json::to_value(object).unwrap())
    }

    fn read_as<R: Reading>(object: &Value) -> Option<Value>
    where
        for<'de> R::Object<'de>: serde::Serialize,
    {
        read_text::<R>(&object.to_string())
    }

    fn read(object: &Value) -> Option<Value> {
        read_as::<Whole>(object)
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

    #[test]
    fn for_defaults_builds_only_what_the_defaults_read() {
        let object = json!({
            "apiVersion": "apps/v1",
            "metadata": {
                "name": "web",
                "labels": {"app": "web"},
                "managedFields": [{"manager": "kubectl"}],
                "annotations": {super::LAST_APPLIED: "{}", "stsguard.dev/keep": "*"},
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{"name": "nginx", "env": [{"name": "A", "value": "1"}]}],
                        "affinity": {"nodeAffinity": {}, "podAntiAffinity": {"x": [1]}},
                    },
                },
                "volumeClaimTemplates": [
                    {"metadata": {"name": "www", "labels": {}}, "spec": {"accessModes": ["ReadWriteOnce"]}},
                    "not a claim",
                ],
            },
            "status": {"replicas": 3},
        });
        assert_eq!(
            read_as::<ForDefaults>(&object),
            Some(json!({
                "metadata": {"name": "web", "annotations": {"stsguard.dev/keep": "*"}},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"spec": {"affinity": {"podAntiAffinity": {"x": [1]}}}},
                    "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {}}, "not a claim"],
                },
            }))
        );
    }

    #[test]
    fn for_defaults_reads_values_of_the_wrong_type_whole() {
        // A default that looks at `spec` must see a `spec` that is an array as it is, and
        // an object where an array is expected likewise.
        for object in [
            json!({"spec": [{"replicas": 1}], "metadata": "web"}),
            json!({"spec": {"volumeClaimTemplates": {"a": {"b": 1}}, "template": 7}}),
            json!(["not", {"an": "object"}]),
            json!("text"),
        ] {
            assert_eq!(read_as::<ForDefaults>(&object), Some(object.clone()));
        }
        assert_eq!(read_as::<ForDefaults>(&Value::Null), None);
    }

    #[test]
    fn for_defaults_unescapes_keys_it_keeps() {
        let text = r#"{"spec": {"r\u0065plicas": 2, "t\u0065mplate": {"x": 1}}}"#;
        let read = read_text::<ForDefaults>(text);
        assert_eq!(read, Some(json!({"spec": {"replicas": 2, "template": {}}})));
    }
}

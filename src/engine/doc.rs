//! The object as the rules read it: a JSON tree that borrows its strings.
//!
//! `serde_json::Value` keeps each object's members in an `IndexMap` (the `preserve_order`
//! feature the CLI's outputs need): every member costs a SipHash of its key and every key
//! and string an allocation, all freed again after one request. Most of a `/validate`
//! request went into building and dropping that tree (BENCHMARKS.md, "Choices"). A
//! [`Doc`] keeps members in a `Vec`, in order, and borrows keys and strings from the text
//! it was read from (from a `Value`, when the CLI has one), so reading an object costs about
//! half, and lookups compare keys instead of hashing them: a Kubernetes object has a handful
//! of members per level.
//!
//! It reads and compares exactly as `Value` does — numbers are `serde_json::Number`s, a
//! repeated key keeps its first position and its last value, maps compare regardless of
//! order — so that the webhook, which reads the body into a `Doc`, and the CLI, which turns
//! its `Value` into one, reach the same verdicts.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

/// A JSON value whose strings borrow from `'a` where they can.
#[derive(Clone, Debug, Default)]
pub enum Doc<'a> {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Doc<'a>>),
    Object(Members<'a>),
}

/// An object's members, in order, each key once.
#[derive(Clone, Debug, Default)]
pub struct Members<'a>(Vec<(Cow<'a, str>, Doc<'a>)>);

static NULL: Doc<'static> = Doc::Null;

impl<'a> Doc<'a> {
    /// The value every missing member reads as.
    pub fn null() -> &'static Doc<'static> {
        &NULL
    }

    /// `self[key]` when `self` is an object holding `key`.
    pub fn get(&self, key: &str) -> Option<&Doc<'a>> {
        self.as_object()?.get(key)
    }

    pub fn as_object(&self) -> Option<&Members<'a>> {
        match self {
            Doc::Object(members) => Some(members),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Members<'a>> {
        match self {
            Doc::Object(members) => Some(members),
            _ => None,
        }
    }

    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Doc<'a>>> {
        match self {
            Doc::Array(items) => Some(items),
            _ => None,
        }
    }

    /// `self[key]`, to change, when `self` is an object holding `key`.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Doc<'a>> {
        self.as_object_mut()?.get_mut(key)
    }

    pub fn as_array(&self) -> Option<&Vec<Doc<'a>>> {
        match self {
            Doc::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Doc::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Doc::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Doc::Number(n) => Some(n),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.as_number()?.as_i64()
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.as_number()?.as_u64()
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.as_number()?.as_f64()
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Doc::Null)
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Doc::Object(_))
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Doc::Array(_))
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Doc::String(_))
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Doc::Number(_))
    }

    /// The same value as a `serde_json::Value` (for messages and the cold paths).
    pub fn to_value(&self) -> Value {
        match self {
            Doc::Null => Value::Null,
            Doc::Bool(b) => Value::Bool(*b),
            Doc::Number(n) => Value::Number(n.clone()),
            Doc::String(s) => Value::String(s.as_ref().to_owned()),
            Doc::Array(items) => Value::Array(items.iter().map(Doc::to_value).collect()),
            Doc::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// The same value, owning its strings.
    pub fn into_owned(self) -> Doc<'static> {
        match self {
            Doc::Null => Doc::Null,
            Doc::Bool(b) => Doc::Bool(b),
            Doc::Number(n) => Doc::Number(n),
            Doc::String(s) => Doc::String(Cow::Owned(s.into_owned())),
            Doc::Array(items) => Doc::Array(items.into_iter().map(Doc::into_owned).collect()),
            Doc::Object(Members(members)) => Doc::Object(Members(
                members
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            )),
        }
    }
}

impl<'a> From<&'a Value> for Doc<'a> {
    /// Borrows every key and string of `value`.
    fn from(value: &'a Value) -> Self {
        match value {
            Value::Null => Doc::Null,
            Value::Bool(b) => Doc::Bool(*b),
            Value::Number(n) => Doc::Number(n.clone()),
            Value::String(s) => Doc::String(Cow::Borrowed(s)),
            Value::Array(items) => Doc::Array(items.iter().map(Doc::from).collect()),
            // A `Value`'s keys are unique already.
            Value::Object(map) => Doc::Object(Members(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Doc::from(v)))
                    .collect(),
            )),
        }
    }
}

impl From<Value> for Doc<'static> {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => Doc::Null,
            Value::Bool(b) => Doc::Bool(b),
            Value::Number(n) => Doc::Number(n),
            Value::String(s) => Doc::String(Cow::Owned(s)),
            Value::Array(items) => Doc::Array(items.into_iter().map(Doc::from).collect()),
            Value::Object(map) => Doc::Object(Members(
                map.into_iter()
                    .map(|(k, v)| (Cow::Owned(k), Doc::from(v)))
                    .collect(),
            )),
        }
    }
}

impl<'a> Members<'a> {
    /// `self[key]`. Compares keys one by one: cheaper than hashing at the sizes of a
    /// Kubernetes object, and no object of one reaches the sizes where it is not.
    pub fn get(&self, key: &str) -> Option<&Doc<'a>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Doc<'a>> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` to `value`: in its place when present (as `serde_json::Map::insert`),
    /// last otherwise.
    pub fn insert(&mut self, key: &'static str, value: Doc<'a>) {
        match self.get_mut(key) {
            Some(slot) => *slot = value,
            None => self.0.push((Cow::Borrowed(key), value)),
        }
    }

    /// `self[key]`, set to `default()` first when missing (as the map's `entry().or_insert`).
    pub fn or_insert(
        &mut self,
        key: &'static str,
        default: impl FnOnce() -> Doc<'a>,
    ) -> &mut Doc<'a> {
        let index = match self.0.iter().position(|(k, _)| k == key) {
            Some(index) => index,
            None => {
                self.0.push((Cow::Borrowed(key), default()));
                self.0.len() - 1
            }
        };
        &mut self.0[index].1
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The members in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Doc<'a>)> + Clone {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }

    pub fn values(&self) -> impl Iterator<Item = &Doc<'a>> {
        self.0.iter().map(|(_, v)| v)
    }

    /// The members with their keys as stored, to build another object from.
    pub fn entries(&self) -> &[(Cow<'a, str>, Doc<'a>)] {
        &self.0
    }

    /// Members as read, in order, a repeated key possibly more than once: made unique as
    /// `serde_json::Map` makes them (the first position, the last value).
    fn from_read(mut members: Vec<(Cow<'a, str>, Doc<'a>)>) -> Self {
        if has_repeated_keys(&members) {
            let mut unique: Vec<(Cow<'a, str>, Doc<'a>)> = Vec::with_capacity(members.len());
            let mut index: std::collections::HashMap<Cow<'a, str>, usize> =
                std::collections::HashMap::with_capacity(members.len());
            for (key, value) in members.drain(..) {
                match index.get(key.as_ref()) {
                    Some(&at) => unique[at].1 = value,
                    None => {
                        index.insert(key.clone(), unique.len());
                        unique.push((key, value));
                    }
                }
            }
            members = unique;
        }
        Members(members)
    }
}

impl<'a> FromIterator<(Cow<'a, str>, Doc<'a>)> for Members<'a> {
    /// Members in the order given, a repeated key made unique as [`Members::from_read`] does.
    fn from_iter<I: IntoIterator<Item = (Cow<'a, str>, Doc<'a>)>>(members: I) -> Self {
        Members::from_read(members.into_iter().collect())
    }
}

/// Whether a key occurs twice. Objects of a handful of members compare every pair; larger
/// ones (a hostile body may hold millions of members) sort their keys first.
fn has_repeated_keys(members: &[(Cow<'_, str>, Doc<'_>)]) -> bool {
    const PAIRWISE_UP_TO: usize = 16;
    if members.len() <= PAIRWISE_UP_TO {
        return members
            .iter()
            .enumerate()
            .any(|(i, (key, _))| members[..i].iter().any(|(k, _)| k == key));
    }
    let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_ref()).collect();
    keys.sort_unstable();
    keys.windows(2).any(|pair| pair[0] == pair[1])
}

impl PartialEq for Doc<'_> {
    /// As `Value` compares: numbers as `serde_json::Number`s, maps regardless of order.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Doc::Null, Doc::Null) => true,
            (Doc::Bool(a), Doc::Bool(b)) => a == b,
            (Doc::Number(a), Doc::Number(b)) => a == b,
            (Doc::String(a), Doc::String(b)) => a == b,
            (Doc::Array(a), Doc::Array(b)) => a == b,
            (Doc::Object(a), Doc::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl PartialEq for Members<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl PartialEq<Value> for Doc<'_> {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Doc::Null, Value::Null) => true,
            (Doc::Bool(a), Value::Bool(b)) => a == b,
            (Doc::Number(a), Value::Number(b)) => a == b,
            (Doc::String(a), Value::String(b)) => a == b,
            (Doc::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
            }
            (Doc::Object(a), Value::Object(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v == w))
            }
            _ => false,
        }
    }
}

impl Serialize for Doc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Doc::Null => serializer.serialize_unit(),
            Doc::Bool(b) => serializer.serialize_bool(*b),
            Doc::Number(n) => n.serialize(serializer),
            Doc::String(s) => serializer.serialize_str(s),
            Doc::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Doc::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members.iter() {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl fmt::Display for Doc<'_> {
    /// Compact JSON, as `Value`'s `Display` writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl<'de> Deserialize<'de> for Doc<'de> {
    /// Reads any JSON value, borrowing every string and key without escapes. Every key is a
    /// plain key (serde_json's own `Value` reads a private token key as a raw value).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Read)
    }
}

/// The visitor that builds a [`Doc`].
pub struct Read;

impl<'de> DeserializeSeed<'de> for Read {
    type Value = Doc<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Doc<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Read {
    type Value = Doc<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Doc<'de>, E> {
        Ok(Doc::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Doc<'de>, E> {
        Ok(Doc::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Doc<'de>, E> {
        Ok(Doc::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Doc<'de>, E> {
        // As `Value` reads it: a float that is no JSON number (never from JSON text) is null.
        Ok(Number::from_f64(v).map_or(Doc::Null, Doc::Number))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Doc<'de>, E> {
        Ok(Doc::String(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Doc<'de>, E> {
        Ok(Doc::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Doc<'de>, E> {
        Ok(Doc::String(Cow::Owned(v)))
    }

    fn visit_none<E: de::Error>(self) -> Result<Doc<'de>, E> {
        Ok(Doc::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Doc<'de>, E> {
        Ok(Doc::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Doc<'de>, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc<'de>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Read)? {
            items.push(item);
        }
        Ok(Doc::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc<'de>, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key_seed(Key)? {
            members.push((key, map.next_value_seed(Read)?));
        }
        Ok(Doc::Object(Members::from_read(members)))
    }
}

/// Reads an object key, borrowed unless it holds escapes.
pub struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// [`Doc`] as a representation jsonschema validates: the `schema` rule checks the tree the
/// other rules read.
pub enum DocJson {}

impl jsonschema::json::Json for DocJson {
    type Node<'a> = &'a Doc<'a>;
    type PreparedKey = String;
    type StringBuffer = Doc<'static>;

    // A lookup compares keys one by one, so one pass over the members is never dearer than
    // the lookups it replaces (the factor only decides how `required` checks an object).
    const KEYS_PER_LOOKUP: usize = 64;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>(
        buffer: &mut Doc<'static>,
        string: &str,
        f: impl FnOnce(Self::Node<'_>) -> T,
    ) -> T {
        *buffer = Doc::String(Cow::Owned(string.to_owned()));
        f(buffer)
    }
}

impl<'a> jsonschema::json::Node<'a, DocJson> for &'a Doc<'a> {
    type Object = &'a Members<'a>;
    type Array = &'a [Doc<'a>];
    type Number = &'a Number;

    fn as_object(&self) -> Option<&'a Members<'a>> {
        match self {
            Doc::Object(members) => Some(members),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&'a [Doc<'a>]> {
        match self {
            Doc::Array(items) => Some(items),
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match self {
            Doc::String(s) => Some(Cow::Borrowed(s.as_ref())),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<&'a Number> {
        match self {
            Doc::Number(n) => Some(n),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        Doc::as_bool(self)
    }

    fn is_null(&self) -> bool {
        Doc::is_null(self)
    }

    fn json_type(&self) -> jsonschema::types::JsonType {
        use jsonschema::types::JsonType;
        match self {
            Doc::Null => JsonType::Null,
            Doc::Bool(_) => JsonType::Boolean,
            Doc::Number(_) => JsonType::Number,
            Doc::String(_) => JsonType::String,
            Doc::Array(_) => JsonType::Array,
            Doc::Object(_) => JsonType::Object,
        }
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(Doc::to_value(self))
    }

    fn identity(&self) -> Option<jsonschema::json::NodeIdentity> {
        Some(jsonschema::json::NodeIdentity::new(
            std::ptr::from_ref::<Doc<'a>>(self) as usize,
        ))
    }
}

/// The members of a [`Members`] as jsonschema iterates them.
pub struct MembersIter<'a>(std::slice::Iter<'a, (Cow<'a, str>, Doc<'a>)>);

impl<'a> Iterator for MembersIter<'a> {
    type Item = (&'a str, &'a Doc<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k.as_ref(), v))
    }
}

impl<'a> jsonschema::json::Object<'a, DocJson> for &'a Members<'a> {
    type Node = &'a Doc<'a>;
    type MemberName = &'a str;
    type MembersIter = MembersIter<'a>;

    fn len(&self) -> usize {
        self.0.len()
    }

    fn get(&self, key: &String) -> Option<&'a Doc<'a>> {
        Members::get(self, key)
    }

    fn members(&self) -> MembersIter<'a> {
        MembersIter(self.0.iter())
    }
}

impl<'a> jsonschema::json::Array<'a, DocJson> for &'a [Doc<'a>] {
    type Node = &'a Doc<'a>;
    type ElementsIter = std::slice::Iter<'a, Doc<'a>>;

    fn len(&self) -> usize {
        <[Doc<'a>]>::len(self)
    }

    fn elements(&self) -> std::slice::Iter<'a, Doc<'a>> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> Doc<'_> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn reads_what_value_reads() {
        let texts = [
            r#"{"a": 1, "b": [true, null, -2, 3.5, 1e300, "x\"y"], "c": {"d": {}}}"#,
            r#"{"k": 1, "j": 2, "k": 3}"#,
            r#"[18446744073709551615, -9223372036854775808, 0.1]"#,
            r#""\u00e9\ud83d\ude00""#,
        ];
        for text in texts {
            let value: Value = serde_json::from_str(text)
                .or_else(|_| serde_json::from_str::<Doc<'_>>(text).map(|d| d.to_value()))
                .unwrap();
            let doc = read(text);
            assert_eq!(doc.to_value(), value, "{text}");
            assert!(doc == value, "{text}");
            assert_eq!(doc.to_string(), value.to_string(), "{text}");
            assert_eq!(Doc::from(&value), doc, "{text}");
            assert_eq!(Doc::from(value.clone()), doc, "{text}");
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_last_value() {
        for size in [3, 40] {
            let mut text = String::from("{");
            for i in 0..size {
                text.push_str(&format!("\"k{i}\": {i}, "));
            }
            text.push_str("\"k1\": \"last\"}");
            let doc = read(&text);
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(doc.to_string(), value.to_string());
            let members = doc.as_object().unwrap();
            assert_eq!(members.len(), size);
            assert_eq!(members.keys().nth(1), Some("k1"));
            assert_eq!(members.get("k1").and_then(Doc::as_str), Some("last"));
        }
    }

    #[test]
    fn borrows_strings_without_escapes() {
        let doc = read(r#"{"plain": "text", "esc\u0061ped": "a\nb"}"#);
        let Doc::Object(Members(members)) = &doc else {
            panic!("not an object")
        };
        assert!(matches!(members[0].0, Cow::Borrowed("plain")));
        assert!(matches!(members[0].1, Doc::String(Cow::Borrowed("text"))));
        assert!(matches!(members[1].0, Cow::Owned(_)));
        assert!(matches!(members[1].1, Doc::String(Cow::Owned(_))));
    }

    #[test]
    fn compares_as_value_compares() {
        let a = json!({"x": 1, "y": [1, {"z": null}]});
        let b = json!({"y": [1, {"z": null}], "x": 1});
        let (doc_a, doc_b) = (Doc::from(&a), Doc::from(&b));
        assert_eq!(doc_a, doc_b);
        assert!(doc_a == b && doc_b == a);
        assert_ne!(Doc::from(&json!(1)), Doc::from(&json!(1.0)));
        assert_ne!(
            Doc::from(&json!({"x": 1})),
            Doc::from(&json!({"x": 1, "y": 2}))
        );
        assert_ne!(Doc::from(&json!([1, 2])), Doc::from(&json!([2, 1])));
    }

    #[test]
    fn reads_wrong_types_as_missing() {
        let value = json!({"a": "s", "n": 5});
        let doc = Doc::from(&value);
        assert_eq!(doc.get("a").and_then(Doc::as_i64), None);
        assert_eq!(doc.get("n").and_then(Doc::as_i64), Some(5));
        assert_eq!(doc.get("n").and_then(|n| n.get("x")), None);
        assert!(Doc::null().is_null());
        assert_eq!(Doc::from(json!({"a": ["b"]})).into_owned(), doc_owned());
    }

    fn doc_owned() -> Doc<'static> {
        Doc::from(json!({"a": ["b"]}))
    }
}

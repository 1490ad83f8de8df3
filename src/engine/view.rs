//! Lenient, borrowed reads of a StatefulSet's raw JSON.
//!
//! Rules read the object through these helpers instead of a full typed deserialisation:
//! a linter must keep judging the rest of an object when one field has the wrong type (the
//! `schema` rule reports that field), and reading only what the rules need keeps the
//! webhook's hot path cheap (SPEC §1). Field names follow `k8s_openapi::api::apps::v1`.
//!
//! The rules read a [`Doc`]; the defaults, which patch the object, and `stsguard plan` read
//! the `serde_json::Value` they have. The helpers read either ([`Tree`]).

use serde_json::{Map, Value};

use super::doc::{Doc, Members};

/// A JSON tree the helpers read: [`Doc`] or `serde_json::Value`.
pub trait Tree: Sized {
    /// An object's members.
    type Map;
    fn map(&self) -> Option<&Self::Map>;
    fn member<'m>(map: &'m Self::Map, key: &str) -> Option<&'m Self>;
    fn items(&self) -> Option<&[Self]>;
    fn text(&self) -> Option<&str>;
    fn int(&self) -> Option<i64>;
    /// The value a missing member reads as.
    fn null<'x>() -> &'x Self
    where
        Self: 'x;
}

impl Tree for Value {
    type Map = Map<String, Value>;

    fn map(&self) -> Option<&Self::Map> {
        self.as_object()
    }

    fn member<'m>(map: &'m Self::Map, key: &str) -> Option<&'m Self> {
        member(map, key)
    }

    fn items(&self) -> Option<&[Self]> {
        self.as_array().map(Vec::as_slice)
    }

    fn text(&self) -> Option<&str> {
        self.as_str()
    }

    fn int(&self) -> Option<i64> {
        self.as_i64()
    }

    fn null<'x>() -> &'x Self {
        static NULL: Value = Value::Null;
        &NULL
    }
}

impl<'a> Tree for Doc<'a> {
    type Map = Members<'a>;

    fn map(&self) -> Option<&Self::Map> {
        self.as_object()
    }

    fn member<'m>(map: &'m Self::Map, key: &str) -> Option<&'m Self> {
        map.get(key)
    }

    fn items(&self) -> Option<&[Self]> {
        self.as_array().map(Vec::as_slice)
    }

    fn text(&self) -> Option<&str> {
        self.as_str()
    }

    fn int(&self) -> Option<i64> {
        self.as_i64()
    }

    fn null<'x>() -> &'x Self
    where
        Self: 'x,
    {
        Doc::null()
    }
}

/// `value[key]` when `value` is an object holding `key`.
pub fn get<'v, T: Tree>(value: &'v T, key: &str) -> Option<&'v T> {
    T::member(value.map()?, key)
}

/// `map[key]`, as `Map::get` finds it.
///
/// A Kubernetes object has a handful of members per level, and the map's own lookup hashes
/// the key with SipHash first, which costs more than comparing it with every key of a small
/// map; the defaults look keys up dozens of times per object. Keys are unique, so both ways
/// find the same member.
pub fn member<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= SCAN_UP_TO {
        map.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

/// The size up to which [`member`] compares keys instead of hashing: measured with callgrind
/// (`benches/count.rs`), 16 and 32 do the same, 8 a little worse, 4 much worse.
const SCAN_UP_TO: usize = 16;

/// Follows a chain of object keys.
pub fn at<'v, T: Tree>(value: &'v T, keys: &[&str]) -> Option<&'v T> {
    keys.iter().try_fold(value, |v, k| get(v, k))
}

/// A string field; `None` when missing or not a string.
pub fn str_of<'v, T: Tree>(value: &'v T, key: &str) -> Option<&'v str> {
    get(value, key)?.text()
}

/// An integer field; `None` when missing or not an integer.
pub fn int_of<T: Tree>(value: &T, key: &str) -> Option<i64> {
    get(value, key)?.int()
}

/// An array field; empty when missing or not an array.
pub fn list<'v, T: Tree>(value: &'v T, key: &str) -> &'v [T] {
    get(value, key).and_then(T::items).unwrap_or(&[])
}

/// An object field; `None` when missing or not an object.
pub fn map_of<'v, T: Tree>(value: &'v T, key: &str) -> Option<&'v T::Map> {
    get(value, key)?.map()
}

/// Which parts of a JSON value a computation reads; a reader may leave the rest unbuilt.
///
/// Only objects and arrays are narrowed: a value of any other type where `Members` or
/// `Items` expects a container is read whole, so that a computation that inspects a field
/// of the wrong type sees it exactly as it is.
#[derive(Debug)]
pub enum Reads {
    /// The whole value.
    All,
    /// Of an object, only these members, each read as given.
    Members(&'static [(&'static str, Reads)]),
    /// Of an array, every item, each read as given.
    Items(&'static Reads),
}

/// Escapes one reference token for a JSON Pointer (RFC 6901: `~` → `~0`, `/` → `~1`).
pub fn escape_token(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains(['~', '/']) {
        token.replace('~', "~0").replace('/', "~1").into()
    } else {
        token.into()
    }
}

/// Which list of the pod spec a container comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    Init,
    App,
}

impl ContainerKind {
    pub fn field(self) -> &'static str {
        match self {
            ContainerKind::Init => "initContainers",
            ContainerKind::App => "containers",
        }
    }
}

/// One container of the pod template, with where it sits.
#[derive(Debug)]
pub struct Container<'a, T = Doc<'a>> {
    pub kind: ContainerKind,
    pub index: usize,
    pub value: &'a T,
}

// Derived, these would ask `T: Clone`; a container only holds a reference.
impl<T> Clone for Container<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Container<'_, T> {}

impl<'a, T: Tree> Container<'a, T> {
    /// `/spec/template/spec/containers/3`
    pub fn path(&self) -> String {
        format!("/spec/template/spec/{}/{}", self.kind.field(), self.index)
    }

    pub fn name(&self) -> Option<&'a str> {
        str_of(self.value, "name")
    }

    /// The name for messages: `container "nginx"` or `containers[3]`.
    pub fn label(&self) -> String {
        match self.name() {
            Some(name) => format!("container \"{name}\""),
            None => format!("{}[{}]", self.kind.field(), self.index),
        }
    }
}

/// A StatefulSet as the rules see it: the raw object plus shortcuts to the parts every
/// rule family reads.
#[derive(Debug)]
pub struct StatefulSet<'a, T = Doc<'a>> {
    pub object: &'a T,
    pub spec: &'a T,
    /// `spec.template`
    pub template: &'a T,
    /// `spec.template.spec`
    pub pod: &'a T,
}

impl<T> Clone for StatefulSet<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for StatefulSet<'_, T> {}

impl<'a, T: Tree> StatefulSet<'a, T> {
    pub fn new(object: &'a T) -> Self {
        let spec = get(object, "spec").unwrap_or(T::null());
        let template = get(spec, "template").unwrap_or(T::null());
        let pod = get(template, "spec").unwrap_or(T::null());
        StatefulSet {
            object,
            spec,
            template,
            pod,
        }
    }

    pub fn name(&self) -> Option<&'a str> {
        at(self.object, &["metadata", "name"])?.text()
    }

    pub fn namespace(&self) -> Option<&'a str> {
        at(self.object, &["metadata", "namespace"])?.text()
    }

    pub fn annotation(&self, key: &str) -> Option<&'a str> {
        at(self.object, &["metadata", "annotations", key])?.text()
    }

    /// `spec.replicas`, 1 when unset (the apps/v1 default).
    pub fn replicas(&self) -> i64 {
        int_of(self.spec, "replicas").unwrap_or(1)
    }

    /// `spec.ordinals.start`, 0 when unset.
    pub fn ordinal_start(&self) -> i64 {
        get(self.spec, "ordinals")
            .and_then(|o| int_of(o, "start"))
            .unwrap_or(0)
    }

    /// The template's labels (empty when missing).
    pub fn template_labels(&self) -> Option<&'a T::Map> {
        at(self.template, &["metadata", "labels"])?.map()
    }

    /// `spec.volumeClaimTemplates`
    pub fn claim_templates(&self) -> &'a [T] {
        list(self.spec, "volumeClaimTemplates")
    }

    /// `spec.template.spec.volumes`
    pub fn volumes(&self) -> &'a [T] {
        list(self.pod, "volumes")
    }

    /// Init containers first, then app containers, each with its index and list.
    pub fn containers(&self) -> impl Iterator<Item = Container<'a, T>> + 'a {
        let pod = self.pod;
        [ContainerKind::Init, ContainerKind::App]
            .into_iter()
            .flat_map(move |kind| {
                list(pod, kind.field())
                    .iter()
                    .enumerate()
                    .map(move |(index, value)| Container { kind, index, value })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_through_wrong_types_without_panicking() {
        let object = json!({"spec": {"replicas": "three", "template": []}});
        let sts = StatefulSet::new(&object);
        assert_eq!(sts.replicas(), 1);
        assert!(sts.pod.is_null());
        assert_eq!(sts.containers().count(), 0);
    }

    #[test]
    fn lists_init_containers_before_app_containers() {
        let object = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "app"}],
            "initContainers": [{"name": "init"}]
        }}}});
        let sts = StatefulSet::new(&object);
        let paths: Vec<_> = sts.containers().map(|c| c.path()).collect();
        assert_eq!(
            paths,
            [
                "/spec/template/spec/initContainers/0",
                "/spec/template/spec/containers/0"
            ]
        );
    }

    #[test]
    fn member_finds_what_the_map_finds_at_every_size() {
        let odd = ["", "a", "ab", "a/b", "ä", "k1 ", "K1"];
        for size in 0..=(2 * SCAN_UP_TO + 1) {
            let mut map = Map::new();
            for i in (0..size).rev() {
                map.insert(format!("k{i}"), json!(i));
            }
            for (i, key) in odd.iter().enumerate().take(size % odd.len()) {
                map.insert((*key).to_owned(), json!(format!("odd {i}")));
            }
            let probes = (0..=size + 1)
                .map(|i| format!("k{i}"))
                .chain(odd.iter().map(|k| (*k).to_owned()))
                .chain(["k".into(), "k10x".into()]);
            for key in probes {
                assert_eq!(member(&map, &key), map.get(&key), "{key:?} in {size}");
                let value = Value::Object(map.clone());
                assert_eq!(get(&value, &key), map.get(&key));
            }
        }
        assert_eq!(get(&json!(["k0"]), "k0"), None);
    }

    #[test]
    fn escapes_pointer_tokens() {
        assert_eq!(escape_token("nvidia.com/gpu"), "nvidia.com~1gpu");
        assert_eq!(escape_token("a~b"), "a~0b");
    }
}

//! StatefulSet-shaped JSON built from fuzzer bytes.
//!
//! Random bytes almost never make an object that reaches the defaults, so the `patch` target
//! builds one from a structure that decides which fields exist and what they hold: mostly
//! the right type with values the defaults care about (the built-in ones, 0, 10,
//! `RollingUpdate`, names of defaults in the annotations), sometimes null, a wrong type or
//! an unknown member.

use arbitrary::{Arbitrary, Unstructured};
use serde_json::{Map, Value, json};

use crate::invariants::POLICIES;

/// Strings the engine compares against, chosen by index, or any string.
const WORDS: &[&str] = &[
    "",
    "RollingUpdate",
    "OnDelete",
    "OrderedReady",
    "Parallel",
    "web",
    "data",
    "default",
    "ml-train",
    "kube-system",
    "standard",
    "fast-ssd",
    "kubernetes.io/hostname",
    "updateStrategy",
    "partition",
    "revisionHistoryLimit",
    "storageClassName",
    "podAntiAffinity",
    "updateStrategy,partition,revisionHistoryLimit,storageClassName,podAntiAffinity",
    "*",
    " partition , *",
    "name-length,schema",
    "1Gi",
    "1e999999",
    "99999999999999999999Ei",
    "-1",
    "0.5",
    "nvidia.com/gpu",
    "a/b~c",
];

fn word(index: u8) -> &'static str {
    WORDS[usize::from(index) % WORDS.len()]
}

/// A string: mostly a known word.
#[derive(Arbitrary, Debug, Clone)]
pub enum Text {
    Word(u8),
    Any(String),
}

impl Text {
    fn json(&self) -> Value {
        match self {
            Text::Word(i) => json!(word(*i)),
            Text::Any(s) => json!(s),
        }
    }
}

/// A number, or a string where a number belongs.
#[derive(Arbitrary, Debug, Clone)]
pub enum Number {
    Small(i8),
    Int(i64),
    Unsigned(u64),
    Float(f64),
    Text(Text),
}

impl Number {
    fn json(&self) -> Value {
        match self {
            Number::Small(n) => json!(n),
            Number::Int(n) => json!(n),
            Number::Unsigned(n) => json!(n),
            // NaN and infinities are not JSON: they become null, as serde_json does.
            Number::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Number::Text(t) => t.json(),
        }
    }
}

/// What a member holds: absent, null, a value of the wrong type, or the value.
#[derive(Debug, Clone)]
pub enum Field<T> {
    Absent,
    Null,
    Wrong(Wrong),
    Present(T),
}

impl<'a, T: Arbitrary<'a>> Arbitrary<'a> for Field<T> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        // Mostly present: the defaults act deep inside the object (a claim template's
        // class, the template's affinity), which a fair choice at every level rarely
        // reaches. With the bytes used up, fields are present and lists empty.
        Ok(match u.arbitrary::<u8>()? {
            0..=175 => Field::Present(u.arbitrary()?),
            176..=207 => Field::Absent,
            208..=231 => Field::Null,
            _ => Field::Wrong(u.arbitrary()?),
        })
    }
}

/// A value of some type no field here expects everywhere.
#[derive(Arbitrary, Debug, Clone)]
pub enum Wrong {
    Bool(bool),
    Number(i64),
    Text(Text),
    EmptyList,
    EmptyObject,
}

impl Wrong {
    fn json(&self) -> Value {
        match self {
            Wrong::Bool(b) => json!(b),
            Wrong::Number(n) => json!(n),
            Wrong::Text(t) => t.json(),
            Wrong::EmptyList => json!([]),
            Wrong::EmptyObject => json!({}),
        }
    }
}

/// Conversion to JSON of the parts of the shape.
pub trait Json {
    fn json(&self) -> Value;
}

impl Json for Text {
    fn json(&self) -> Value {
        Text::json(self)
    }
}

impl Json for Number {
    fn json(&self) -> Value {
        Number::json(self)
    }
}

impl<T: Json> Json for Vec<T> {
    fn json(&self) -> Value {
        Value::Array(self.iter().map(Json::json).collect())
    }
}

impl<T: Json> Json for Field<T> {
    fn json(&self) -> Value {
        match self {
            Field::Absent | Field::Null => Value::Null,
            Field::Wrong(w) => w.json(),
            Field::Present(t) => t.json(),
        }
    }
}

/// Inserts `key` unless the field is absent.
fn put<T: Json>(map: &mut Map<String, Value>, key: &str, field: &Field<T>) {
    if !matches!(field, Field::Absent) {
        map.insert(key.to_string(), field.json());
    }
}

/// A string-to-string map (labels, annotations, requests), keys mostly known words.
#[derive(Arbitrary, Debug, Clone)]
pub struct Pairs(Vec<(Key, Field<Text>)>);

#[derive(Arbitrary, Debug, Clone)]
pub enum Key {
    Defaulted,
    Keep,
    Ignore,
    LastApplied,
    App,
    Word(u8),
    Any(String),
}

impl Key {
    fn as_str(&self) -> &str {
        match self {
            Key::Defaulted => "stsguard.dev/defaulted",
            Key::Keep => "stsguard.dev/keep",
            Key::Ignore => "stsguard.dev/ignore",
            Key::LastApplied => "kubectl.kubernetes.io/last-applied-configuration",
            Key::App => "app",
            Key::Word(i) => word(*i),
            Key::Any(s) => s,
        }
    }
}

impl Json for Pairs {
    fn json(&self) -> Value {
        let mut map = Map::new();
        for (key, value) in &self.0 {
            put(&mut map, key.as_str(), value);
        }
        Value::Object(map)
    }
}

/// A struct of fields that may be absent, null, of the wrong type or present, and its JSON:
/// each field under its key (the Kubernetes field name), absent ones left out.
macro_rules! object {
    ($name:ident { $($field:ident: $ty:ty => $key:literal),* $(,)? }) => {
        #[derive(Arbitrary, Debug, Clone)]
        pub struct $name {
            $($field: $ty),*
        }

        impl Json for $name {
            fn json(&self) -> Value {
                let mut map = Map::new();
                $(put(&mut map, $key, &self.$field);)*
                Value::Object(map)
            }
        }
    };
}

object! {
    Metadata {
        name: Field<Text> => "name",
        namespace: Field<Text> => "namespace",
        labels: Field<Pairs> => "labels",
        annotations: Field<Pairs> => "annotations",
    }
}

object! {
    RollingUpdate {
        partition: Field<Number> => "partition",
        max_unavailable: Field<Number> => "maxUnavailable",
    }
}

object! {
    UpdateStrategy {
        kind: Field<Text> => "type",
        rolling_update: Field<RollingUpdate> => "rollingUpdate",
    }
}

object! {
    Selector {
        match_labels: Field<Pairs> => "matchLabels",
    }
}

object! {
    Mount {
        name: Field<Text> => "name",
        mount_path: Field<Text> => "mountPath",
    }
}

object! {
    Resources {
        requests: Field<Pairs> => "requests",
        limits: Field<Pairs> => "limits",
    }
}

object! {
    Container {
        name: Field<Text> => "name",
        image: Field<Text> => "image",
        volume_mounts: Field<Vec<Field<Mount>>> => "volumeMounts",
        resources: Field<Resources> => "resources",
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Volume {
    name: Field<Text>,
    claim_name: Field<Text>,
}

impl Json for Volume {
    fn json(&self) -> Value {
        let mut map = Map::new();
        put(&mut map, "name", &self.name);
        if !matches!(self.claim_name, Field::Absent) {
            map.insert(
                "persistentVolumeClaim".into(),
                json!({"claimName": self.claim_name.json()}),
            );
        }
        Value::Object(map)
    }
}

/// `podAntiAffinity` as a user might have written it.
#[derive(Arbitrary, Debug, Clone)]
pub struct AntiAffinity {
    preferred: Field<Vec<Field<Text>>>,
    required: Field<Vec<Field<Text>>>,
}

impl Json for AntiAffinity {
    fn json(&self) -> Value {
        let mut map = Map::new();
        put(
            &mut map,
            "preferredDuringSchedulingIgnoredDuringExecution",
            &self.preferred,
        );
        put(
            &mut map,
            "requiredDuringSchedulingIgnoredDuringExecution",
            &self.required,
        );
        Value::Object(map)
    }
}

object! {
    Affinity {
        pod_anti_affinity: Field<AntiAffinity> => "podAntiAffinity",
        node_affinity: Field<Pairs> => "nodeAffinity",
    }
}

object! {
    PodSpec {
        containers: Field<Vec<Field<Container>>> => "containers",
        init_containers: Field<Vec<Field<Container>>> => "initContainers",
        volumes: Field<Vec<Field<Volume>>> => "volumes",
        affinity: Field<Affinity> => "affinity",
    }
}

object! {
    Template {
        metadata: Field<Metadata> => "metadata",
        spec: Field<PodSpec> => "spec",
    }
}

object! {
    ClaimSpec {
        storage_class_name: Field<Text> => "storageClassName",
        access_modes: Field<Vec<Field<Text>>> => "accessModes",
        resources: Field<Resources> => "resources",
        volume_mode: Field<Text> => "volumeMode",
    }
}

object! {
    Claim {
        metadata: Field<Metadata> => "metadata",
        spec: Field<ClaimSpec> => "spec",
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Spec {
    replicas: Field<Number>,
    service_name: Field<Text>,
    pod_management_policy: Field<Text>,
    revision_history_limit: Field<Number>,
    update_strategy: Field<UpdateStrategy>,
    selector: Field<Selector>,
    template: Field<Template>,
    volume_claim_templates: Field<Vec<Field<Claim>>>,
    /// Members stsguard does not know (a newer API, a typo).
    unknown: Vec<(Text, Wrong)>,
}

impl Json for Spec {
    fn json(&self) -> Value {
        let mut map = Map::new();
        for (key, value) in &self.unknown {
            if let Value::String(key) = key.json() {
                map.insert(key, value.json());
            }
        }
        put(&mut map, "replicas", &self.replicas);
        put(&mut map, "serviceName", &self.service_name);
        put(&mut map, "podManagementPolicy", &self.pod_management_policy);
        put(
            &mut map,
            "revisionHistoryLimit",
            &self.revision_history_limit,
        );
        put(&mut map, "updateStrategy", &self.update_strategy);
        put(&mut map, "selector", &self.selector);
        put(&mut map, "template", &self.template);
        put(
            &mut map,
            "volumeClaimTemplates",
            &self.volume_claim_templates,
        );
        Value::Object(map)
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct StatefulSet {
    api_version: Field<Text>,
    metadata: Field<Metadata>,
    spec: Field<Spec>,
}

impl Json for StatefulSet {
    fn json(&self) -> Value {
        let mut map = Map::new();
        map.insert("kind".into(), json!("StatefulSet"));
        if matches!(self.api_version, Field::Absent) {
            map.insert("apiVersion".into(), json!("apps/v1"));
        } else {
            put(&mut map, "apiVersion", &self.api_version);
        }
        put(&mut map, "metadata", &self.metadata);
        put(&mut map, "spec", &self.spec);
        Value::Object(map)
    }
}

/// The old object of an UPDATE.
#[derive(Arbitrary, Debug, Clone)]
pub enum Old {
    /// The new object itself (an update that changes nothing).
    Same,
    /// Another object.
    Other(StatefulSet),
    /// Another object as stsguard created it: CREATE defaults of one of the policies
    /// applied, `stsguard.dev/defaulted` included (a live object a replace may drop them
    /// from).
    Defaulted(StatefulSet, bool),
}

/// One input of the `patch` target.
#[derive(Clone)]
pub struct Input {
    pub object: StatefulSet,
    pub old: Old,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Input {
            object: u.arbitrary()?,
            old: u.arbitrary()?,
        })
    }
}

impl Input {
    /// The new object and, when it is not the new one itself, the old one.
    pub fn objects(&self) -> (Value, Option<Value>) {
        let object = self.object.json();
        let old = match &self.old {
            Old::Same => None,
            Old::Other(old) => Some(old.json()),
            Old::Defaulted(old, full) => {
                let mut old = old.json();
                let policy = &POLICIES[usize::from(*full)];
                let context = stsguard::engine::Context::default();
                if let Ok(review) = stsguard::engine::review(
                    policy,
                    stsguard::engine::Operation::Create,
                    &old,
                    None,
                    &context,
                ) {
                    // A patch that does not apply is the invariants' business, checked on
                    // the new object; here the old object just stays as it was.
                    let _ = json_patch::patch(&mut old, &review.patch);
                }
                Some(old)
            }
        };
        (object, old)
    }
}

/// The JSON that `tests/data/fuzz/patch/` keeps: `cargo fuzz fmt patch <file>` prints it.
impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (object, old) = self.objects();
        let case = json!({"object": object, "old": old});
        match serde_json::to_string_pretty(&case) {
            Ok(text) => f.write_str(&text),
            Err(_) => f.write_str("(not printable)"),
        }
    }
}

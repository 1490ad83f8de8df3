//! The organisation defaults of SPEC §2, one file per default.
//!
//! A default only fills a value the user did not choose. Objects from the API server arrive
//! defaulted, so a field holding the Kubernetes built-in value counts as unset. Decisions are
//! taken on the normalised object (what the API server stores); the patch is built on the raw
//! JSON the caller gave, so it is relative to the user's file offline and to the request's
//! object in the webhook.
//!
//! Defaults are for CREATE. On UPDATE nothing new is introduced: a value stsguard defaulted
//! earlier (listed in the old object's `stsguard.dev/defaulted`) that a full replace dropped
//! is copied back from the old object, because a change under `spec.template` restarts every
//! pod and claim templates cannot change at all.

mod anti_affinity;
pub mod patch;
mod revision_history;
mod storage_class;
mod update_strategy;

use serde_json::Value;

use super::Operation;
use super::policy::Defaults;
use super::view::{Reads, at, get};
use patch::PatchBuilder;

/// Annotation listing the defaults a user keeps at the built-in value (`*` for all).
pub const KEEP_ANNOTATION: &str = "stsguard.dev/keep";
/// Annotation recording which defaults stsguard applied.
pub const DEFAULTED_ANNOTATION: &str = "stsguard.dev/defaulted";

/// Every default, in the order they are applied and listed.
pub const NAMES: [&str; 5] = [
    update_strategy::UPDATE_STRATEGY,
    update_strategy::PARTITION,
    revision_history::NAME,
    storage_class::NAME,
    anti_affinity::NAME,
];

/// Every member of the object that the defaults, the patch builder and [`mutate`]'s caller
/// (`engine::review` with `checks` off) read. The mutating webhook builds only these parts
/// of the request's objects (`server::read_model`): everything else is skipped while parsing,
/// which is most of the cost of a `/mutate` request. A default that starts reading another
/// field must be listed here: `tests/mutate.rs` (`mutate_reads_enough_*`, on the corpus and
/// on generated objects) and the fuzz invariants (on every recorded review) compare
/// `/mutate`'s answers on the objects read both ways, and fail when a read is missing.
pub const READS: Reads = Reads::Members(&[
    (
        "metadata",
        Reads::Members(&[
            // Not for the patch: the server's log line names the object.
            ("name", Reads::All),
            ("namespace", Reads::All),
            (
                "annotations",
                Reads::Members(&[
                    (KEEP_ANNOTATION, Reads::All),
                    (DEFAULTED_ANNOTATION, Reads::All),
                ]),
            ),
        ]),
    ),
    (
        "spec",
        Reads::Members(&[
            ("replicas", Reads::All),
            ("selector", Reads::All),
            ("updateStrategy", Reads::All),
            ("revisionHistoryLimit", Reads::All),
            (
                "volumeClaimTemplates",
                Reads::Items(&Reads::Members(&[
                    ("metadata", Reads::Members(&[("name", Reads::All)])),
                    ("spec", Reads::Members(&[("storageClassName", Reads::All)])),
                ])),
            ),
            (
                "template",
                Reads::Members(&[(
                    "spec",
                    Reads::Members(&[(
                        "affinity",
                        Reads::Members(&[("podAntiAffinity", Reads::All)]),
                    )]),
                )]),
            ),
        ]),
    ),
]);

/// One value to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Set {
    /// Which default this serves.
    pub name: &'static str,
    /// Unescaped path tokens.
    pub tokens: Vec<String>,
    pub value: Value,
}

impl Set {
    fn new(name: &'static str, tokens: &[&str], value: Value) -> Self {
        Set {
            name,
            tokens: tokens.iter().map(|t| (*t).to_string()).collect(),
            value,
        }
    }
}

/// What the defaults read.
pub struct Cx<'a> {
    pub defaults: &'a Defaults,
    /// The normalised new object.
    pub object: &'a Value,
    /// The normalised old object, on UPDATE.
    pub old: Option<&'a Value>,
    keep: Vec<&'a str>,
    old_defaulted: Vec<&'a str>,
    new_defaulted: Vec<&'a str>,
}

impl Cx<'_> {
    /// Whether the user keeps this default at the built-in value.
    pub fn keeps(&self, name: &str) -> bool {
        self.keep
            .iter()
            .any(|k| *k == "*" || k.eq_ignore_ascii_case(name))
    }

    /// Whether a value of this default may be copied back from the old object: stsguard
    /// put it there (the old object lists it), and the new object no longer lists it (a
    /// full replace dropped it — a user who edits the live object keeps the annotation, and
    /// their change stands).
    pub fn restorable(&self, name: &str) -> bool {
        self.old_defaulted.contains(&name) && !self.new_defaulted.contains(&name)
    }
}

/// The result of applying defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    pub patch: json_patch::Patch,
    /// Names of the defaults applied (or restored), in [`NAMES`] order.
    pub defaulted: Vec<&'static str>,
}

/// Computes the defaults for one object. `raw` is what the caller holds; `normalized` and
/// `old` are as the API server sees them.
pub fn mutate(
    defaults: &Defaults,
    operation: Operation,
    raw: &Value,
    normalized: &Value,
    old: Option<&Value>,
) -> Mutation {
    let cx = Cx {
        defaults,
        object: normalized,
        old,
        keep: annotation_list(normalized, KEEP_ANNOTATION),
        old_defaulted: old
            .map(|o| annotation_list(o, DEFAULTED_ANNOTATION))
            .unwrap_or_default(),
        new_defaulted: annotation_list(normalized, DEFAULTED_ANNOTATION),
    };
    // Flattened by moving: `concat` would clone every value (an anti-affinity term is a
    // dozen allocations).
    let sets: Vec<Set> = match operation {
        Operation::Create => [
            update_strategy::create(&cx),
            revision_history::create(&cx),
            storage_class::create(&cx),
            anti_affinity::create(&cx),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Operation::Update if old.is_some() => [
            update_strategy::update(&cx),
            revision_history::update(&cx),
            storage_class::update(&cx),
            anti_affinity::update(&cx),
        ]
        .into_iter()
        .flatten()
        .collect(),
        _ => Vec::new(),
    };
    let mut builder = PatchBuilder::new(raw);
    // Only what the patch writes counts as applied: a set through a member of the wrong
    // type (`updateStrategy: "OnDelete"`, a claim whose `spec` is a string) writes nothing.
    let mut applied: Vec<&'static str> = Vec::new();
    for set in sets {
        let tokens: Vec<&str> = set.tokens.iter().map(String::as_str).collect();
        if builder.set(&tokens, set.value) {
            applied.push(set.name);
        }
    }
    let defaulted: Vec<&'static str> = NAMES
        .into_iter()
        .filter(|name| applied.contains(name))
        .collect();
    if !defaulted.is_empty() {
        let mut listed: Vec<&str> = cx.new_defaulted.clone();
        if operation == Operation::Update {
            listed.extend(&cx.old_defaulted);
        }
        listed.extend(&defaulted);
        let value: Vec<&str> = NAMES
            .into_iter()
            .filter(|name| listed.contains(name))
            .collect();
        // Through a `metadata` or `annotations` of the wrong type the record cannot be
        // written; the defaults still apply (the `schema` rule reports the object).
        let _recorded = builder.set(
            &["metadata", "annotations", DEFAULTED_ANNOTATION],
            Value::String(value.join(",")),
        );
    }
    Mutation {
        patch: builder.finish(),
        defaulted,
    }
}

/// A comma-separated annotation as a list of trimmed, non-empty entries.
fn annotation_list<'a>(object: &'a Value, key: &str) -> Vec<&'a str> {
    at(object, &["metadata", "annotations", key])
        .and_then(Value::as_str)
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// `spec.replicas` of the normalised object.
fn replicas(object: &Value) -> i64 {
    get(object, "spec")
        .and_then(|s| get(s, "replicas"))
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// The generic UPDATE rule for a default living at one path: when the new value counts as
/// unset and the old object holds a value stsguard put there, copy it back.
fn restore(
    cx: &Cx<'_>,
    name: &'static str,
    tokens: &[&str],
    unset: fn(Option<&Value>) -> bool,
) -> Vec<Set> {
    let Some(old) = cx.old else {
        return Vec::new();
    };
    if cx.keeps(name) || !cx.restorable(name) {
        return Vec::new();
    }
    let old_value = at(old, tokens);
    match old_value {
        Some(value) if !unset(old_value) && unset(at(cx.object, tokens)) => {
            vec![Set::new(name, tokens, value.clone())]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use serde_json::{Value, json};

    use super::{Mutation, mutate};
    use crate::engine::Operation;
    use crate::engine::normalize;
    use crate::engine::policy::Defaults;

    /// Defaults from a JSON `spec.defaults`.
    pub fn defaults(value: Value) -> Defaults {
        serde_json::from_value(value).unwrap()
    }

    /// A mutation and the object its patch gives (the patch must apply).
    #[derive(Debug)]
    pub struct Applied {
        pub patch: json_patch::Patch,
        pub defaulted: Vec<&'static str>,
        pub object: Value,
    }

    fn applied(mutation: Mutation, raw: &Value) -> Applied {
        let mut object = raw.clone();
        json_patch::patch(&mut object, &mutation.patch).unwrap();
        Applied {
            patch: mutation.patch,
            defaulted: mutation.defaulted,
            object,
        }
    }

    /// Mutates a file-like object on CREATE.
    pub fn create(defaults: &Defaults, raw: &Value) -> Applied {
        let m = mutate(
            defaults,
            Operation::Create,
            raw,
            &normalize::apply(raw),
            None,
        );
        applied(m, raw)
    }

    /// Mutates on UPDATE; both objects as the API server sends them (defaulted).
    pub fn update(defaults: &Defaults, new: &Value, old: &Value) -> Applied {
        let (new, old) = (normalize::apply(new), normalize::apply(old));
        let m = mutate(defaults, Operation::Update, &new, &new, Some(&old));
        applied(m, &new)
    }

    /// The patch as JSON, for assertions.
    pub fn ops(mutation: &Applied) -> Value {
        serde_json::to_value(&mutation.patch).unwrap()
    }

    /// The seed `web` StatefulSet.
    pub fn web() -> Value {
        crate::engine::rules::testing::web()
    }

    pub fn annotated(mut object: Value, key: &str, value: &str) -> Value {
        object["metadata"]["annotations"] = json!({key: value});
        object
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::testing::*;

    /// Found while writing the fuzz invariants: a partition set through an
    /// `updateStrategy` that is a string writes nothing, and must not be recorded as
    /// applied (nor may the record be the patch's only operation).
    #[test]
    fn a_default_that_cannot_be_written_is_not_recorded() {
        let defaults = defaults(json!({"partition": 1, "storageClassName": "standard"}));
        let object = json!({
            "metadata": {},
            "spec": {"updateStrategy": "OnDelete", "volumeClaimTemplates": [{"spec": "x"}]},
        });
        let mutation = create(&defaults, &object);
        assert!(mutation.defaulted.is_empty(), "{:?}", mutation.defaulted);
        assert!(mutation.patch.0.is_empty(), "{}", ops(&mutation));
    }
}

//! AdmissionReview in, AdmissionReview out: the translation between the API server's wire
//! format and [`engine::review`]. Pure functions, testable without HTTP.
//!
//! The body is parsed once, into the few fields stsguard reads: everything else —
//! `userInfo`, `options`, `requestKind`, and the parts of the objects the webhook does not
//! read (see [`super::read_model`]) — is read without building values, held to the same
//! limits (nesting depth, numbers, escapes) as what is built, so a body is refused exactly
//! when reading it whole as JSON would refuse it, whichever webhook reads it.
//! Every verdict comes from the engine; this module only decides which requests reach it
//! (StatefulSet CREATE and UPDATE) and how its answer is written back.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::marker::PhantomData;

use base64::Engine as _;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::read_model::{ForDefaults, Key, NOT_JSON, Object, Reading, Skip, Whole};
use crate::engine::cluster::{Inventory, Known};
use crate::engine::doc::Doc;
use crate::engine::view::StatefulSet;
use crate::engine::{
    self, Context, Finding, KubeVersion, Operation, Policy, Review, Severity, Verdict,
};

/// Kubernetes documents warnings of at most 120 characters; longer ones may be cut.
pub const MAX_WARNING_LEN: usize = 120;
/// Total size of all warnings of one response, beyond which the API server truncates them.
pub const MAX_WARNINGS_TOTAL: usize = 4096;
/// A denial message that lists thousands of findings helps nobody and costs the API server
/// memory; past this size the message says how many more there are.
pub const MAX_MESSAGE_LEN: usize = 32 * 1024;

/// The audit annotation listing the defaults `/mutate` applied (the API server prefixes
/// it with the webhook's name).
pub const AUDIT_DEFAULTED: &str = "defaulted";

/// Which webhook answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Webhook {
    /// `POST /mutate`: applies defaults, never denies because of findings.
    Mutate,
    /// `POST /validate`: denies on error findings, never patches.
    Validate,
}

impl Webhook {
    pub fn as_str(self) -> &'static str {
        match self {
            Webhook::Mutate => "mutate",
            Webhook::Validate => "validate",
        }
    }
}

/// The AdmissionReview versions stsguard speaks; the answer uses the version of the question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewVersion {
    V1,
    V1beta1,
}

impl ReviewVersion {
    pub fn api_version(self) -> &'static str {
        match self {
            ReviewVersion::V1 => "admission.k8s.io/v1",
            ReviewVersion::V1beta1 => "admission.k8s.io/v1beta1",
        }
    }
}

/// `request.operation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RequestOperation {
    Create,
    Update,
    Delete,
    Connect,
}

impl RequestOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestOperation::Create => "CREATE",
            RequestOperation::Update => "UPDATE",
            RequestOperation::Delete => "DELETE",
            RequestOperation::Connect => "CONNECT",
        }
    }

    fn engine(self) -> Operation {
        match self {
            RequestOperation::Create => Operation::Create,
            RequestOperation::Update => Operation::Update,
            RequestOperation::Delete => Operation::Delete,
            RequestOperation::Connect => Operation::Connect,
        }
    }
}

/// `request.kind`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct GroupVersionKind {
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// `request.resource`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct GroupVersionResource {
    pub group: String,
    pub version: String,
    pub resource: String,
}

/// `request.object` or `request.oldObject` as the webhook read it.
#[derive(Clone, Debug, PartialEq)]
pub enum ObjectIn<'a> {
    /// `/validate`: everything the rules read, borrowing the body's strings.
    Doc(Doc<'a>),
    /// `/mutate`: what the defaults read, as the `Value` they patch.
    Value(Value),
}

impl ObjectIn<'_> {
    /// The object as a `serde_json::Value`.
    pub fn to_value(&self) -> Value {
        self.as_value().into_owned()
    }

    fn as_value(&self) -> Cow<'_, Value> {
        match self {
            ObjectIn::Doc(doc) => Cow::Owned(doc.to_value()),
            ObjectIn::Value(value) => Cow::Borrowed(value),
        }
    }

    /// The object as the rules read it; one read for `/mutate` (tests, the fuzz invariants
    /// hand either webhook either reading) is borrowed into a `Doc`.
    fn to_doc(&self) -> Cow<'_, Doc<'_>> {
        match self {
            ObjectIn::Doc(doc) => Cow::Borrowed(doc),
            ObjectIn::Value(value) => Cow::Owned(Doc::from(value)),
        }
    }

    fn name(&self) -> Option<&str> {
        match self {
            ObjectIn::Doc(doc) => StatefulSet::new(doc).name(),
            ObjectIn::Value(value) => StatefulSet::new(value).name(),
        }
    }

    fn is_null(&self) -> bool {
        match self {
            ObjectIn::Doc(doc) => doc.is_null(),
            ObjectIn::Value(value) => value.is_null(),
        }
    }
}

/// The part of `request` stsguard reads; its objects may borrow from the body (`'a`).
#[derive(Clone, Debug)]
pub struct AdmissionRequest<'a> {
    pub uid: String,
    pub kind: GroupVersionKind,
    pub resource: GroupVersionResource,
    pub sub_resource: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub operation: RequestOperation,
    pub dry_run: Option<bool>,
    /// Read as the webhook needs it ([`super::read_model`]): without
    /// `metadata.managedFields` and the last-applied annotation for `/validate`, only what
    /// the defaults read for `/mutate`.
    pub object: Option<ObjectIn<'a>>,
    pub old_object: Option<ObjectIn<'a>>,
}

/// `request` on the wire, its objects read as `R` says.
struct RequestIn<'a, R>(AdmissionRequest<'a>, PhantomData<R>);

/// Sets a member read once, refusing a second one as serde's derive does.
fn once<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    field: &'static str,
    map: &mut A,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(field));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

// Written out rather than derived: serde's derive skips members it has no field for
// (`userInfo`, `options`, `requestKind`, …) in serde_json's flat loop, which checks neither
// nesting depth nor numbers; `Skip` reads them as everything else is read, so a body is
// refused wherever its nesting is too deep (SPEC §6).
impl<'de, R: Reading> Deserialize<'de> for RequestIn<'de, R> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RequestVisitor<R>(PhantomData<R>);

        impl<'de, R: Reading> Visitor<'de> for RequestVisitor<R> {
            type Value = RequestIn<'de, R>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AdmissionReview request")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RequestIn<'de, R>, A::Error> {
                let (mut uid, mut kind, mut resource, mut sub_resource) = (None, None, None, None);
                let (mut name, mut namespace, mut operation, mut dry_run) =
                    (None, None, None, None);
                let (mut object, mut old_object) = (None, None);
                while let Some(Key(key)) = map.next_key()? {
                    match &*key {
                        "uid" => once(&mut uid, "uid", &mut map)?,
                        "kind" => once(&mut kind, "kind", &mut map)?,
                        "resource" => once(&mut resource, "resource", &mut map)?,
                        "subResource" => once(&mut sub_resource, "subResource", &mut map)?,
                        "name" => once(&mut name, "name", &mut map)?,
                        "namespace" => once(&mut namespace, "namespace", &mut map)?,
                        "operation" => once(&mut operation, "operation", &mut map)?,
                        "dryRun" => once(&mut dry_run, "dryRun", &mut map)?,
                        "object" => once(&mut object, "object", &mut map)?,
                        "oldObject" => once(&mut old_object, "oldObject", &mut map)?,
                        _ => map.next_value_seed(Skip)?,
                    }
                }
                let request = AdmissionRequest {
                    uid: uid.ok_or_else(|| de::Error::missing_field("uid"))?,
                    kind: kind.unwrap_or_default(),
                    resource: resource.unwrap_or_default(),
                    sub_resource: sub_resource.flatten(),
                    name: name.flatten(),
                    namespace: namespace.flatten(),
                    operation: operation.ok_or_else(|| de::Error::missing_field("operation"))?,
                    dry_run: dry_run.flatten(),
                    object: object.and_then(|o: Object<'de, R>| o.0),
                    old_object: old_object.and_then(|o: Object<'de, R>| o.0),
                };
                Ok(RequestIn(request, PhantomData))
            }
        }

        deserializer.deserialize_map(RequestVisitor(PhantomData))
    }
}

impl AdmissionRequest<'_> {
    /// Whether the request is about a StatefulSet itself (any `apps` version: with
    /// `matchPolicy: Equivalent` the API server converts to the registered version) and
    /// not one of its subresources: `statefulsets/scale` carries an autoscaling/v1 Scale,
    /// and `statefulsets/status` is written by the controller.
    pub fn is_statefulset(&self) -> bool {
        self.kind.group == "apps"
            && self.kind.kind == "StatefulSet"
            && self.sub_resource.as_deref().unwrap_or("").is_empty()
    }

    /// The object's name, for logs: `request.name`, or the object's own (empty on CREATE
    /// with `generateName`).
    pub fn object_name(&self) -> Option<&str> {
        self.name.as_deref().filter(|n| !n.is_empty()).or_else(|| {
            self.object
                .as_ref()
                .or(self.old_object.as_ref())
                .and_then(ObjectIn::name)
        })
    }
}

/// The review on the wire; `Q` is its request.
struct ReviewIn<Q> {
    api_version: Option<String>,
    kind: Option<String>,
    request: Option<Q>,
}

// Written out for the same reason as `RequestIn`'s: members other than these are read by `Skip`.
impl<'de, Q: Deserialize<'de>> Deserialize<'de> for ReviewIn<Q> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ReviewVisitor<Q>(PhantomData<Q>);

        impl<'de, Q: Deserialize<'de>> Visitor<'de> for ReviewVisitor<Q> {
            type Value = ReviewIn<Q>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AdmissionReview")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ReviewIn<Q>, A::Error> {
                let (mut api_version, mut kind, mut request) = (None, None, None);
                while let Some(Key(key)) = map.next_key()? {
                    match &*key {
                        "apiVersion" => once(&mut api_version, "apiVersion", &mut map)?,
                        "kind" => once(&mut kind, "kind", &mut map)?,
                        "request" => once(&mut request, "request", &mut map)?,
                        _ => map.next_value_seed(Skip)?,
                    }
                }
                Ok(ReviewIn {
                    api_version: api_version.flatten(),
                    kind: kind.flatten(),
                    request: request.flatten(),
                })
            }
        }

        deserializer.deserialize_map(ReviewVisitor(PhantomData))
    }
}

/// A parsed AdmissionReview request, borrowing from the body.
#[derive(Clone, Debug)]
pub struct AdmissionReview<'a> {
    pub version: ReviewVersion,
    pub request: AdmissionRequest<'a>,
}

/// Why a body is not an AdmissionReview stsguard can answer: the server replies 400 (413 for
/// [`InputError::TooLarge`]) with the message as plain text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the request body is empty; expected an AdmissionReview")]
    Empty,
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("{0}")]
    Unreadable(String),
    #[error("the request body is nested too deeply (more than 128 levels)")]
    TooDeep,
    #[error("the request body is not valid JSON: {0}")]
    NotJson(String),
    #[error("the request body is not an AdmissionReview: {0}")]
    NotAReview(String),
    #[error(
        "unsupported AdmissionReview apiVersion {0:?}; stsguard answers admission.k8s.io/v1 and admission.k8s.io/v1beta1"
    )]
    UnsupportedVersion(String),
    #[error("the AdmissionReview has no request")]
    NoRequest,
}

impl InputError {
    /// A short fixed label for logs and metrics: never any part of the body.
    pub fn kind(&self) -> &'static str {
        match self {
            InputError::Empty => "empty",
            InputError::TooLarge { .. } => "too_large",
            InputError::Unreadable(_) => "unreadable",
            InputError::TooDeep => "too_deep",
            InputError::NotJson(_) => "not_json",
            InputError::NotAReview(_) => "not_a_review",
            InputError::UnsupportedVersion(_) => "unsupported_version",
            InputError::NoRequest => "no_request",
        }
    }
}

/// Parses a request body into an [`AdmissionReview`], reading its objects as far as
/// `webhook` needs them ([`super::read_model`]).
pub fn parse(body: &[u8], webhook: Webhook) -> Result<AdmissionReview<'_>, InputError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(InputError::Empty);
    }
    // serde_json stops at 128 levels of nesting, so a hostile body cannot exhaust the
    // stack; it also rejects invalid UTF-8 inside strings.
    // A fault the last-applied annotation's second read finds comes back as a data error
    // marked `NOT_JSON` (`read_model::last_applied`).
    let classify = |e: serde_json::Error| {
        let message = e.to_string();
        let marked = message.strip_prefix(NOT_JSON);
        let text = marked.unwrap_or(&message);
        if text.starts_with("recursion limit exceeded") {
            InputError::TooDeep
        } else if e.is_data() && marked.is_none() {
            InputError::NotAReview(message)
        } else {
            InputError::NotJson(text.to_owned())
        }
    };
    // serde would read a struct from a JSON array too; an AdmissionReview is an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(classify)?;
        return Err(InputError::NotAReview(
            "expected a JSON object with apiVersion, kind and request".into(),
        ));
    }
    // UTF-8 is checked once for the whole body (std's check is vectorised); reading from a
    // `str` then spares serde_json a check per string, a tenth of the parsing cost.
    let text = std::str::from_utf8(body)
        .map_err(|e| InputError::NotJson(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    match webhook {
        Webhook::Validate => read::<Whole>(text),
        Webhook::Mutate => read::<ForDefaults>(text),
    }
    .map_err(classify)
    .and_then(check_review)
}

fn read<R: Reading>(text: &str) -> serde_json::Result<ReviewIn<AdmissionRequest<'_>>> {
    let review: ReviewIn<RequestIn<'_, R>> = serde_json::from_str(text)?;
    Ok(ReviewIn {
        api_version: review.api_version,
        kind: review.kind,
        request: review.request.map(|request| request.0),
    })
}

fn check_review(review: ReviewIn<AdmissionRequest<'_>>) -> Result<AdmissionReview<'_>, InputError> {
    if review.kind.as_deref() != Some("AdmissionReview") {
        return Err(InputError::NotAReview(match review.kind {
            Some(kind) => format!("kind is {kind:?}, expected \"AdmissionReview\""),
            None => "kind is missing, expected \"AdmissionReview\"".into(),
        }));
    }
    let version = match review.api_version.as_deref() {
        Some("admission.k8s.io/v1") => ReviewVersion::V1,
        Some("admission.k8s.io/v1beta1") => ReviewVersion::V1beta1,
        other => return Err(InputError::UnsupportedVersion(other.unwrap_or("").into())),
    };
    let request = review.request.ok_or(InputError::NoRequest)?;
    Ok(AdmissionReview { version, request })
}

/// A Kubernetes `Status` (the `status` of a response that denies).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    pub status: &'static str,
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

/// `response` of an AdmissionReview.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
    /// Base64 of the JSON Patch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
}

impl AdmissionResponse {
    fn allow(uid: &str) -> Self {
        AdmissionResponse {
            uid: uid.to_string(),
            allowed: true,
            status: None,
            patch_type: None,
            patch: None,
            warnings: Vec::new(),
            audit_annotations: BTreeMap::new(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewOut<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: &'a AdmissionResponse,
}

/// The AdmissionReview answering `review`, as JSON bytes.
pub fn encode(version: ReviewVersion, response: &AdmissionResponse) -> Vec<u8> {
    let out = ReviewOut {
        api_version: version.api_version(),
        kind: "AdmissionReview",
        response,
    };
    // Serialising plain strings, bools and maps of strings cannot fail.
    serde_json::to_vec(&out).unwrap_or_default()
}

/// What happened to one request, beyond the response itself: for logs and metrics.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Allowed without review, and why (not a StatefulSet, a subresource, DELETE…).
    Skipped(&'static str),
    /// The object could not be reviewed at all (not a JSON object).
    Unreadable(String),
    /// The engine reviewed the object.
    Reviewed { review: Review },
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub response: AdmissionResponse,
    pub outcome: Outcome,
}

impl Decision {
    /// Rule ids of the findings /validate reported (first occurrence order), for logs.
    pub fn rules_hit(&self, webhook: Webhook) -> Vec<&'static str> {
        let mut rules: Vec<&'static str> = Vec::new();
        if let (Outcome::Reviewed { review, .. }, Webhook::Validate) = (&self.outcome, webhook) {
            for finding in &review.findings {
                if !rules.contains(&finding.rule) {
                    rules.push(finding.rule);
                }
            }
        }
        rules
    }

    /// Names of the defaults the returned patch applies (only /mutate returns one).
    pub fn defaulted(&self) -> &[&'static str] {
        match &self.outcome {
            Outcome::Reviewed { review, .. } if self.response.patch.is_some() => &review.defaulted,
            _ => &[],
        }
    }
}

/// Answers one admission request with the engine's verdict, knowing nothing of the cluster.
pub fn decide(
    policy: &Policy,
    webhook: Webhook,
    request: &AdmissionRequest<'_>,
    kube_version: KubeVersion,
) -> Decision {
    decide_in(policy, webhook, request, kube_version, None)
}

/// Answers one admission request with the engine's verdict, the cluster's objects (a
/// snapshot of the watches, SPEC §8) included when known; only `/validate`'s rules read them.
pub fn decide_in(
    policy: &Policy,
    webhook: Webhook,
    request: &AdmissionRequest<'_>,
    kube_version: KubeVersion,
    cluster: Option<&Inventory>,
) -> Decision {
    let operation = match admissible(request) {
        Ok(operation) => operation,
        Err(reason) => {
            return Decision {
                response: AdmissionResponse::allow(&request.uid),
                outcome: Outcome::Skipped(reason),
            };
        }
    };
    let context = Context {
        namespace: request.namespace.as_deref().filter(|n| !n.is_empty()),
        kube_version,
        ..Context::default()
    };
    match webhook {
        Webhook::Validate => validate(policy, request, operation, context, cluster),
        Webhook::Mutate => mutate(policy, request, operation, context),
    }
}

/// The operation the engine reviews, or why the request is allowed untouched. Both webhooks
/// ask this first, so they let exactly the same requests through unreviewed.
fn admissible(request: &AdmissionRequest<'_>) -> Result<Operation, &'static str> {
    if !(request.kind.group == "apps" && request.kind.kind == "StatefulSet") {
        return Err("not a StatefulSet");
    }
    if !request.is_statefulset() {
        // statefulsets/scale changes replicas only: nothing stsguard checks or defaults
        // can change, and the object is an autoscaling/v1 Scale anyway.
        return Err("subresource");
    }
    match request.operation.engine() {
        // Deleting must always work: a webhook that blocks DELETE keeps broken
        // StatefulSets in the cluster for good.
        Operation::Delete | Operation::Connect => Err("not CREATE or UPDATE"),
        operation => Ok(operation),
    }
}

/// `/validate`: the rules, on the objects read as [`Doc`]s; denies what the engine's verdict
/// denies, and never patches.
fn validate(
    policy: &Policy,
    request: &AdmissionRequest<'_>,
    operation: Operation,
    context: Context<'_>,
    cluster: Option<&Inventory>,
) -> Decision {
    let context = Context {
        checks: true,
        defaults: false,
        known: Known {
            input: None,
            cluster,
        },
        ..context
    };
    let mut response = AdmissionResponse::allow(&request.uid);
    let object = request
        .object
        .as_ref()
        .map_or(Cow::Owned(Doc::Null), ObjectIn::to_doc);
    let old_object = request
        .old_object
        .as_ref()
        .filter(|o| !o.is_null())
        .map(ObjectIn::to_doc);
    let review =
        match engine::review_doc(policy, operation, &object, old_object.as_deref(), &context) {
            Ok(review) => review,
            Err(error) => {
                // A validating webhook that lets through what it cannot read would let
                // anything through.
                let reason = unreviewable(&error);
                response.allowed = false;
                response.status = Some(Status {
                    status: "Failure",
                    code: 400,
                    reason: "BadRequest",
                    message: reason.clone(),
                });
                return Decision {
                    response,
                    outcome: Outcome::Unreadable(reason),
                };
            }
        };
    let (errors, warnings): (Vec<&Finding>, Vec<&Finding>) = review
        .findings
        .iter()
        .partition(|f| f.severity == Severity::Error);
    let mut lines = Vec::new();
    match review.verdict() {
        Verdict::Allow => {}
        Verdict::Deny => {
            let name = StatefulSet::new(&*object)
                .name()
                .or(request.name.as_deref())
                .unwrap_or("");
            // The request's namespace as it came, an empty one included (the engine judges
            // an object in `""` in `default`): the message has always named it so.
            let namespace = engine::namespace(&*object, request.namespace.as_deref());
            response.allowed = false;
            response.status = Some(Status {
                status: "Failure",
                code: 403,
                reason: "Forbidden",
                message: denial_message(name, namespace, &errors),
            });
        }
        Verdict::WouldDeny => lines.extend(
            errors
                .iter()
                .map(|f| format!("would deny: {}", warning_text(f))),
        ),
    }
    lines.extend(warnings.iter().map(|f| warning_text(f)));
    response.warnings = limit_warnings(lines);
    Decision {
        response,
        outcome: Outcome::Reviewed { review },
    }
}

/// `/mutate`: the defaults, on the objects read as `Value`s (the patch is computed on one);
/// always allows. Validation is `/validate`'s job: findings are reported once, on the
/// object as it will be stored.
fn mutate(
    policy: &Policy,
    request: &AdmissionRequest<'_>,
    operation: Operation,
    context: Context<'_>,
) -> Decision {
    let context = Context {
        checks: false,
        defaults: true,
        ..context
    };
    let mut response = AdmissionResponse::allow(&request.uid);
    let null = Value::Null;
    let object = request
        .object
        .as_ref()
        .map_or(Cow::Borrowed(&null), ObjectIn::as_value);
    let old_object = request
        .old_object
        .as_ref()
        .filter(|o| !o.is_null())
        .map(ObjectIn::as_value);
    let review = match engine::review(policy, operation, &object, old_object.as_deref(), &context) {
        Ok(review) => review,
        Err(error) => {
            // The mutating webhook must not block a write it has no default for.
            let reason = unreviewable(&error);
            response.warnings = limit_warnings([reason.clone()]);
            return Decision {
                response,
                outcome: Outcome::Unreadable(reason),
            };
        }
    };
    if !review.patch.is_empty() {
        let patch = serde_json::to_vec(&review.patch).unwrap_or_default();
        response.patch_type = Some("JSONPatch");
        response.patch = Some(base64::engine::general_purpose::STANDARD.encode(patch));
        response
            .audit_annotations
            .insert(AUDIT_DEFAULTED.into(), review.defaulted.join(","));
    }
    Decision {
        response,
        outcome: Outcome::Reviewed { review },
    }
}

/// Why the engine could not review the object, as both webhooks say it.
fn unreviewable(error: &engine::EngineError) -> String {
    format!("stsguard cannot review this StatefulSet: {error}")
}

/// `status.message` of a denial: every error finding with rule, path, message and fix.
fn denial_message(name: &str, namespace: &str, errors: &[&Finding]) -> String {
    let count = match errors.len() {
        1 => "1 error".to_string(),
        n => format!("{n} errors"),
    };
    let mut message = format!("StatefulSet {namespace}/{name} has {count}:");
    for (shown, finding) in errors.iter().enumerate() {
        let mut line = format!(
            "\n- {} at {}: {}",
            finding.rule,
            if finding.path.is_empty() {
                "/"
            } else {
                &finding.path
            },
            finding.message
        );
        if !finding.hint.is_empty() {
            let stop = if finding.message.ends_with(['.', '!', '?']) {
                ""
            } else {
                "."
            };
            let _ = write!(line, "{stop} Fix: {}", finding.hint);
        }
        if message.len() + line.len() > MAX_MESSAGE_LEN {
            let _ = write!(
                message,
                "\n- … and {} more (run `stsguard validate` on the manifest for all of them)",
                errors.len() - shown
            );
            break;
        }
        message.push_str(&line);
    }
    message
}

/// One warning line for a finding: rule and message first (they survive truncation), path
/// last.
fn warning_text(finding: &Finding) -> String {
    format!("{}: {} [{}]", finding.rule, finding.message, finding.path)
}

/// Fits warnings to what the API server passes on: each at most [`MAX_WARNING_LEN`] bytes
/// (so also characters) of printable text, all together at most [`MAX_WARNINGS_TOTAL`];
/// what does not fit is summarised in a last line.
pub fn limit_warnings(lines: impl IntoIterator<Item = String>) -> Vec<String> {
    // Room for the closing "… and N more" line.
    const RESERVE: usize = 80;
    let lines: Vec<String> = lines.into_iter().map(|l| truncate_warning(&l)).collect();
    let mut kept = Vec::new();
    let mut total = 0;
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        let budget = if last {
            MAX_WARNINGS_TOTAL
        } else {
            MAX_WARNINGS_TOTAL - RESERVE
        };
        if total + line.len() > budget {
            kept.push(format!(
                "and {} more warnings (run `stsguard validate` for all of them)",
                lines.len() - i
            ));
            return kept;
        }
        total += line.len();
        kept.push(line.clone());
    }
    kept
}

fn truncate_warning(line: &str) -> String {
    // Warnings travel as HTTP Warning headers: no control characters.
    let clean: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.len() <= MAX_WARNING_LEN {
        return clean;
    }
    let mut end = MAX_WARNING_LEN - 3;
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &clean[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::read_model::LAST_APPLIED;
    use serde_json::json;

    fn review_body(request: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": request,
        }))
        .unwrap()
    }

    #[test]
    fn refuses_bodies_that_are_not_reviews() {
        // Both webhooks refuse the same bodies the same way.
        let parse = |body: &[u8]| {
            let error = parse(body, Webhook::Validate).unwrap_err();
            assert_eq!(parse(body, Webhook::Mutate).unwrap_err(), error);
            error
        };
        assert_eq!(parse(b""), InputError::Empty);
        assert_eq!(parse(b"not json").kind(), "not_json");
        assert_eq!(parse(b"[1,2]").kind(), "not_a_review");
        assert_eq!(parse(b"{}").kind(), "not_a_review");
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse(deep.as_bytes()).kind(), "not_a_review");
        let as_array =
            br#"["admission.k8s.io/v1","AdmissionReview",{"uid":"u","operation":"DELETE"}]"#;
        assert_eq!(parse(as_array).kind(), "not_a_review");
        assert_eq!(
            parse(br#"{"apiVersion":"admission.k8s.io/v2","kind":"AdmissionReview"}"#).kind(),
            "unsupported_version"
        );
        assert_eq!(
            parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#),
            InputError::NoRequest
        );
        let bad_utf8 = b"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"Admission\xff\"}";
        assert_eq!(parse(bad_utf8).kind(), "not_json");
    }

    #[test]
    fn refuses_deep_nesting_whether_it_is_read_or_skipped() {
        let review = |object: &str| {
            format!(
                r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","operation":"CREATE","object":{object}}}}}"#
            )
        };
        // `spec.replicas` is read by both webhooks; `a` by neither (/mutate skips it,
        // /validate keeps it for the schema check); `managedFields` is skipped by both.
        let bodies = [
            format!(
                r#"{{"spec":{{"replicas":{}1{}}}}}"#,
                "[".repeat(10_000),
                "]".repeat(10_000)
            ),
            format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000)),
            format!(
                r#"{{"metadata":{{"managedFields":{}1{}}}}}"#,
                "[".repeat(10_000),
                "]".repeat(10_000)
            ),
        ];
        for object in &bodies {
            let body = review(object);
            for webhook in [Webhook::Validate, Webhook::Mutate] {
                assert_eq!(
                    parse(body.as_bytes(), webhook).unwrap_err(),
                    InputError::TooDeep
                );
            }
        }
    }

    /// Every member of the body, read or skipped, at every level, is held to what reading
    /// the whole body as a `serde_json::Value` would find: both webhooks refuse a body
    /// exactly when that refuses it, up to the exact nesting limit.
    #[test]
    fn refuses_what_reading_the_body_whole_refuses_wherever_it_is() {
        let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        let with = |place: &str, value: &str| match place {
            "userInfo" | "options" => format!(
                r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","operation":"CREATE","{place}":{value},"object":{{}}}}}}"#
            ),
            "response" => format!(
                r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","{place}":{value},"request":{{"uid":"u","operation":"CREATE"}}}}"#
            ),
            "last-applied" | "container" => {
                let object = if place == "container" {
                    format!(
                        r#"{{"spec":{{"template":{{"spec":{{"containers":[{{"env":{value}}}]}}}}}}}}"#
                    )
                } else {
                    format!(r#"{{"metadata":{{"annotations":{{"{LAST_APPLIED}":{value}}}}}}}"#)
                };
                format!(
                    r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","operation":"UPDATE","object":{object},"oldObject":{object}}}}}"#
                )
            }
            _ => unreachable!(),
        };
        let mut values: Vec<String> = (118..=126).map(nested).collect();
        values.extend(
            [
                r#""\udc00""#,
                r#""\ud800 and more""#,
                r#""\ud83d\ude00 \u0026 \\ud""#,
                r#""\\udc00""#,
                "1e999999",
                "-1e999999",
                "[1e-999999]",
                r#"{"a":"\u0000"}"#,
                r#""tab	inside""#,
            ]
            .map(String::from),
        );
        let mut answered = 0;
        for value in &values {
            // The same fault gets the same answer wherever it is refused.
            let mut kinds = std::collections::BTreeSet::new();
            for place in [
                "userInfo",
                "options",
                "response",
                "last-applied",
                "container",
            ] {
                let body = with(place, value);
                let whole = serde_json::from_str::<Value>(&body);
                for webhook in [Webhook::Validate, Webhook::Mutate] {
                    let parsed = parse(body.as_bytes(), webhook);
                    assert_eq!(
                        parsed.is_ok(),
                        whole.is_ok(),
                        "{place} = {value:.40} on {webhook:?}: {parsed:?} / {whole:?}"
                    );
                    answered += usize::from(parsed.is_ok());
                    kinds.extend(parsed.err().map(|e| e.kind()));
                }
            }
            assert!(kinds.len() <= 1, "{value:.40}: {kinds:?}");
        }
        // Both sides of the limit were reached in every place.
        assert!(
            answered > 20 && answered < 5 * 2 * values.len() - 20,
            "{answered}"
        );
    }

    #[test]
    fn keeps_a_last_applied_value_that_is_no_string_as_it_is() {
        let object = json!({"metadata": {"annotations": {LAST_APPLIED: {"a": [1, "\u{dc}"]}}}});
        let body = review_body(json!({"uid": "u", "operation": "CREATE", "object": object}));
        let review = parse(&body, Webhook::Validate).unwrap();
        assert_eq!(review.request.object.map(|o| o.to_value()), Some(object));
        let text = r#"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"\u0026\ud83d\ude00"}}}"#;
        let body = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","operation":"CREATE","object":{text}}}}}"#
        );
        let review = parse(body.as_bytes(), Webhook::Validate).unwrap();
        assert_eq!(
            review.request.object.map(|o| o.to_value()),
            Some(json!({"metadata": {"annotations": {}}}))
        );
    }

    /// serde_json's `Value` takes an object whose first key is its private raw-value token
    /// for a raw value, and refuses it unless that member is a string; both webhooks read it
    /// as the JSON object it is, wherever it is, read or skipped.
    #[test]
    fn reads_every_key_as_a_plain_key() {
        const TOKEN: &str = "$serde_json::private::RawValue";
        for value in [json!(1), json!("[1]"), json!({"a": [1]}), json!(null)] {
            let member = json!({ TOKEN: value });
            let object = json!({
                "metadata": {"name": "web", "labels": member, "annotations": member},
                "spec": {
                    "replicas": 1,
                    "selector": member,
                    "template": {"spec": {"containers": [{"name": "c", "env": [member]}]}},
                },
                "status": member,
            });
            let body = review_body(json!({
                "uid": "u", "operation": "UPDATE", "userInfo": member,
                "object": object, "oldObject": member,
            }));
            let review = parse(&body, Webhook::Validate).unwrap();
            assert!(
                matches!(&review.request.object, Some(ObjectIn::Doc(doc)) if *doc == object),
                "{value}"
            );
            assert!(
                matches!(&review.request.old_object, Some(ObjectIn::Doc(doc)) if *doc == member),
                "{value}"
            );
            let review = parse(&body, Webhook::Mutate).unwrap();
            assert_eq!(
                review.request.object.unwrap().to_value()["spec"]["selector"],
                member,
                "{value}"
            );
        }
    }

    #[test]
    fn refuses_unknown_operations() {
        let body = review_body(json!({"uid": "u", "operation": "PATCH"}));
        for webhook in [Webhook::Mutate, Webhook::Validate] {
            assert_eq!(parse(&body, webhook).unwrap_err().kind(), "not_a_review");
        }
    }

    #[test]
    fn allows_other_kinds_untouched() {
        let body = review_body(json!({
            "uid": "u1", "operation": "CREATE",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "object": {"metadata": {"name": "Bad_Name"}},
        }));
        let policy = Policy::builtin_default().unwrap();
        for webhook in [Webhook::Mutate, Webhook::Validate] {
            let review = parse(&body, webhook).unwrap();
            let decision = decide(&policy, webhook, &review.request, KubeVersion::LATEST);
            assert_eq!(decision.outcome, Outcome::Skipped("not a StatefulSet"));
            assert_eq!(decision.response, AdmissionResponse::allow("u1"));
        }
    }

    #[test]
    fn denies_unreadable_objects_at_validate_only() {
        let body = review_body(json!({
            "uid": "u2", "operation": "CREATE",
            "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
            "object": "not an object",
        }));
        let policy = Policy::builtin_default().unwrap();
        let validate = decide(
            &policy,
            Webhook::Validate,
            &parse(&body, Webhook::Validate).unwrap().request,
            KubeVersion::LATEST,
        );
        assert!(!validate.response.allowed);
        let status = validate.response.status.unwrap();
        assert_eq!(status.code, 400);
        assert!(
            status.message.contains("not a JSON object"),
            "{}",
            status.message
        );
        let mutate = decide(
            &policy,
            Webhook::Mutate,
            &parse(&body, Webhook::Mutate).unwrap().request,
            KubeVersion::LATEST,
        );
        assert!(mutate.response.allowed);
        assert!(mutate.response.patch.is_none());
        assert!(mutate.response.warnings[0].contains("cannot review"));
    }

    #[test]
    fn keeps_warnings_within_kubernetes_limits() {
        let long = "x".repeat(500);
        let limited = limit_warnings((0..100).map(|i| format!("w{i}: {long}")));
        assert!(limited.iter().all(|w| w.len() <= MAX_WARNING_LEN));
        assert!(limited.iter().map(String::len).sum::<usize>() <= MAX_WARNINGS_TOTAL);
        let last = limited.last().unwrap();
        assert!(
            last.starts_with("and ") && last.contains("more warnings"),
            "{last}"
        );

        let few = limit_warnings(["short".to_string(), "ünïcödé ".repeat(40)]);
        assert_eq!(few.len(), 2);
        assert!(few[1].ends_with("...") && few[1].len() <= MAX_WARNING_LEN);
        assert_eq!(limit_warnings(["a\nb".to_string()]), ["a b"]);
    }
}

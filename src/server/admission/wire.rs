//! The AdmissionReview as stsguard reads and writes it: the review, its request (only the
//! fields stsguard reads), the objects as the webhook read them, the response, and the
//! answer's bytes. Reading a body into these is [`super::body`]'s.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::Operation;
use crate::engine::doc::Doc;
use crate::engine::view::StatefulSet;

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

    pub(crate) fn engine(self) -> Operation {
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

/// `request.object` or `request.oldObject` as the webhook read it
/// ([`read_model`](crate::server::read_model) builds one or the other).
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

    pub(crate) fn as_value(&self) -> Cow<'_, Value> {
        match self {
            ObjectIn::Doc(doc) => Cow::Owned(doc.to_value()),
            ObjectIn::Value(value) => Cow::Borrowed(value),
        }
    }

    /// The object as the rules read it; one read for `/mutate` (tests, the fuzz invariants
    /// hand either webhook either reading) is borrowed into a `Doc`.
    pub(crate) fn to_doc(&self) -> Cow<'_, Doc<'_>> {
        match self {
            ObjectIn::Doc(doc) => Cow::Borrowed(doc),
            ObjectIn::Value(value) => Cow::Owned(Doc::from(value)),
        }
    }

    pub(crate) fn name(&self) -> Option<&str> {
        match self {
            ObjectIn::Doc(doc) => StatefulSet::new(doc).name(),
            ObjectIn::Value(value) => StatefulSet::new(value).name(),
        }
    }

    pub(crate) fn is_null(&self) -> bool {
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
    /// Read as the webhook needs it ([`read_model`](crate::server::read_model)): without
    /// `metadata.managedFields` and the last-applied annotation for `/validate`, only what
    /// the defaults read for `/mutate`.
    pub object: Option<ObjectIn<'a>>,
    pub old_object: Option<ObjectIn<'a>>,
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

/// A parsed AdmissionReview request, borrowing from the body.
#[derive(Clone, Debug)]
pub struct AdmissionReview<'a> {
    pub version: ReviewVersion,
    pub request: AdmissionRequest<'a>,
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
    pub(crate) fn allow(uid: &str) -> Self {
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

/// stsguard could not write its own answer: a bug, never the request's fault. The server
/// answers 500 rather than an empty or partial review under a 200.
#[derive(Debug, thiserror::Error)]
#[error("stsguard could not write its answer: {0}")]
pub struct AnswerError(#[from] serde_json::Error);

/// The AdmissionReview answering `review`, as JSON bytes.
pub fn encode(
    version: ReviewVersion,
    response: &AdmissionResponse,
) -> Result<Vec<u8>, AnswerError> {
    let out = ReviewOut {
        api_version: version.api_version(),
        kind: "AdmissionReview",
        response,
    };
    Ok(serde_json::to_vec(&out)?)
}

impl<'a> From<Doc<'a>> for ObjectIn<'a> {
    fn from(doc: Doc<'a>) -> Self {
        ObjectIn::Doc(doc)
    }
}

impl From<Value> for ObjectIn<'_> {
    fn from(value: Value) -> Self {
        ObjectIn::Value(value)
    }
}

//! AdmissionReview in, AdmissionReview out: the translation between the API server's wire
//! format and [`engine::review`](crate::engine::review). Pure functions, testable without
//! HTTP.
//!
//! The body is parsed once, into the few fields stsguard reads: everything else —
//! `userInfo`, `options`, `requestKind`, and the parts of the objects the webhook does not
//! read (see [`read_model`](crate::server::read_model)) — is read without building values, held to the same
//! limits (nesting depth, numbers, escapes) as what is built, so a body is refused exactly
//! when reading it whole as JSON would refuse it, whichever webhook reads it.
//! Every verdict comes from the engine; this module only decides which requests reach it
//! (StatefulSet CREATE and UPDATE) and how its answer is written back.
//!
//! The parts, each importing only those listed before it:
//!
//! - [`wire`]: the AdmissionReview's types as stsguard reads and writes them (review,
//!   request, the objects as the webhook read them, response) and writing the answer;
//! - [`body`]: reading a request body into those types, its objects read as
//!   [`read_model`](crate::server::read_model) says;
//! - [`messages`]: what a denial and the warnings say, within the API server's limits;
//! - [`decide`](mod@decide): the answer to one request.

pub mod body;
pub mod decide;
pub mod messages;
pub mod wire;

pub use body::{InputError, parse};
pub use decide::{Decision, Outcome, decide, decide_in};
pub use messages::{
    AUDIT_DEFAULTED, MAX_MESSAGE_LEN, MAX_WARNING_LEN, MAX_WARNINGS_TOTAL, limit_warnings,
};
pub use wire::{
    AdmissionRequest, AdmissionResponse, AdmissionReview, AnswerError, GroupVersionKind,
    GroupVersionResource, ObjectIn, RequestOperation, ReviewVersion, Status, Webhook, encode,
};

/// Helpers for the admission modules' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use serde_json::{Value, json};

    /// An `admission.k8s.io/v1` AdmissionReview body around `request`.
    pub fn review_body(request: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": request,
        }))
        .unwrap()
    }
}

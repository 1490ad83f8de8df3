//! Reading a request body into an [`AdmissionReview`]: once, into the fields stsguard
//! reads, its objects read as [`read_model`](crate::server::read_model) says for the webhook that answers.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::wire::{AdmissionRequest, AdmissionReview, ObjectIn, ReviewVersion, Webhook};
use crate::server::read_model::{ForDefaults, Key, NOT_JSON, Object, Reading, Skip, Whole};

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
impl<'de, R> Deserialize<'de> for RequestIn<'de, R>
where
    R: Reading,
    R::Object<'de>: Into<ObjectIn<'de>>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RequestVisitor<R>(PhantomData<R>);

        impl<'de, R> Visitor<'de> for RequestVisitor<R>
        where
            R: Reading,
            R::Object<'de>: Into<ObjectIn<'de>>,
        {
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
                    object: object.and_then(|o: Object<'de, R>| o.0.map(Into::into)),
                    old_object: old_object.and_then(|o: Object<'de, R>| o.0.map(Into::into)),
                };
                Ok(RequestIn(request, PhantomData))
            }
        }

        deserializer.deserialize_map(RequestVisitor(PhantomData))
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
/// `webhook` needs them ([`read_model`](crate::server::read_model)).
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

fn read<'a, R>(text: &'a str) -> serde_json::Result<ReviewIn<AdmissionRequest<'a>>>
where
    R: Reading,
    R::Object<'a>: Into<ObjectIn<'a>>,
{
    let review: ReviewIn<RequestIn<'a, R>> = serde_json::from_str(text)?;
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::server::admission::testing::review_body;
    use crate::server::read_model::LAST_APPLIED;

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
}

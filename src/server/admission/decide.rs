//! The answer to one admission request: which requests the engine reviews (one step both
//! webhooks share), then one path per webhook writing the engine's review down. The verdict
//! — the policy's enforce or warn mode included — is the engine's.

use std::borrow::Cow;

use base64::Engine as _;
use serde_json::Value;

use super::messages::{AUDIT_DEFAULTED, denial_message, limit_warnings, warning_text};
use super::wire::{AdmissionRequest, AdmissionResponse, AnswerError, ObjectIn, Status, Webhook};
use crate::engine::cluster::{Inventory, Known};
use crate::engine::doc::Doc;
use crate::engine::view::StatefulSet;
use crate::engine::{
    self, Context, Finding, KubeVersion, Operation, Policy, Review, Severity, Verdict,
};

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
                if !rules.contains(&finding.rule.id()) {
                    rules.push(finding.rule.id());
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
) -> Result<Decision, AnswerError> {
    decide_in(policy, webhook, request, kube_version, None)
}

/// Answers one admission request with the engine's verdict, the cluster's objects (a
/// snapshot of the watches, SPEC §8) included when known; only `/validate`'s rules read them.
/// An error is stsguard's own (it could not write the patch), never the request's.
pub fn decide_in(
    policy: &Policy,
    webhook: Webhook,
    request: &AdmissionRequest<'_>,
    kube_version: KubeVersion,
    cluster: Option<&Inventory>,
) -> Result<Decision, AnswerError> {
    let operation = match admissible(request) {
        Ok(operation) => operation,
        Err(reason) => {
            return Ok(Decision {
                response: AdmissionResponse::allow(&request.uid),
                outcome: Outcome::Skipped(reason),
            });
        }
    };
    let context = Context {
        namespace: request.namespace.as_deref().filter(|n| !n.is_empty()),
        kube_version,
        ..Context::default()
    };
    match webhook {
        Webhook::Validate => Ok(validate(policy, request, operation, context, cluster)),
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
        known: Known::new(None, cluster),
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
) -> Result<Decision, AnswerError> {
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
            return Ok(Decision {
                response,
                outcome: Outcome::Unreadable(reason),
            });
        }
    };
    if !review.patch.is_empty() {
        let patch = serde_json::to_vec(&review.patch)?;
        response.patch_type = Some("JSONPatch");
        response.patch = Some(base64::engine::general_purpose::STANDARD.encode(patch));
        response
            .audit_annotations
            .insert(AUDIT_DEFAULTED.into(), review.defaulted.join(","));
    }
    Ok(Decision {
        response,
        outcome: Outcome::Reviewed { review },
    })
}

/// Why the engine could not review the object, as both webhooks say it.
fn unreviewable(error: &engine::EngineError) -> String {
    format!("stsguard cannot review this StatefulSet: {error}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::server::admission::body::parse;
    use crate::server::admission::testing::review_body;

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
            let decision = decide(&policy, webhook, &review.request, KubeVersion::LATEST).unwrap();
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
        )
        .unwrap();
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
        )
        .unwrap();
        assert!(mutate.response.allowed);
        assert!(mutate.response.patch.is_none());
        assert!(mutate.response.warnings[0].contains("cannot review"));
    }

    /// /validate writes down the engine's verdict: the mode of the namespace the object is
    /// judged in, the request's when the object names none.
    #[test]
    fn denies_or_warns_as_the_engine_judges_the_namespace() {
        let policy = Policy::from_yaml(
            "apiVersion: stsguard.dev/v1\nkind: StatefulSetPolicy\nmetadata: {name: t}\nspec:\n  mode: enforce\n  namespaces:\n  - match: [ml-*]\n    mode: warn\n",
            "t.yaml",
        )
        .unwrap();
        let answer = |namespace: &str| {
            let body = review_body(json!({
                "uid": "u3", "operation": "CREATE", "namespace": namespace,
                "kind": {"group": "apps", "version": "v1", "kind": "StatefulSet"},
                "object": {
                    "apiVersion": "apps/v1", "kind": "StatefulSet",
                    "metadata": {"name": "Bad_Name"},
                    "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
                },
            }));
            let review = parse(&body, Webhook::Validate).unwrap();
            decide(
                &policy,
                Webhook::Validate,
                &review.request,
                KubeVersion::LATEST,
            )
            .unwrap()
        };
        let denied = answer("web");
        assert!(!denied.response.allowed);
        let Outcome::Reviewed { review } = &denied.outcome else {
            panic!("{:?}", denied.outcome);
        };
        assert_eq!(review.verdict(), Verdict::Deny);
        let message = denied.response.status.unwrap().message;
        assert!(
            message.starts_with("StatefulSet web/Bad_Name has "),
            "{message}"
        );

        let warned = answer("ml-train");
        assert!(warned.response.allowed && warned.response.status.is_none());
        assert!(
            warned
                .response
                .warnings
                .iter()
                .any(|w| w.starts_with("would deny: ")),
            "{:?}",
            warned.response.warnings
        );
    }
}

//! The policy engine: pure and synchronous, no I/O. The webhook and the CLI both call
//! [`review`] (or [`review_doc`], the same review of an object read into a [`Doc`]); nothing
//! else decides a verdict.

pub mod catalog;
pub mod cluster;
pub mod defaults;
pub mod doc;
pub mod finding;
pub mod gpu_models;
pub mod normalize;
pub mod policy;
pub mod quantity;
pub mod rules;
pub mod severity;
pub mod suggest;
pub mod view;

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::Value;

pub use finding::{Finding, Severity};
pub use policy::{Mode, Policy};

use catalog::RuleId;
use doc::Doc;
use view::StatefulSet;

/// The admission operation under review.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

/// A Kubernetes minor version, for the rules whose limits changed over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
}

impl KubeVersion {
    /// The newest version stsguard models (the k8s-openapi feature it is built with).
    pub const LATEST: KubeVersion = KubeVersion {
        major: 1,
        minor: 37,
    };

    pub const fn new(major: u32, minor: u32) -> Self {
        KubeVersion { major, minor }
    }

    /// Whether this version is `major.minor` or later.
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= KubeVersion::new(major, minor)
    }
}

/// A `--kube-version` that is not a Kubernetes version.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a Kubernetes version like 1.29")]
pub struct KubeVersionError {
    pub text: String,
}

impl std::str::FromStr for KubeVersion {
    type Err = KubeVersionError;

    /// `1.29`, `v1.29` or `1.29.3` (the patch level is ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || KubeVersionError {
            text: s.to_string(),
        };
        let mut parts = s.strip_prefix('v').unwrap_or(s).split('.');
        let major = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let minor = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        if parts.next().is_some_and(|p| p.parse::<u32>().is_err()) {
            return Err(bad());
        }
        Ok(KubeVersion { major, minor })
    }
}

impl std::fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Where the object comes from, which decides whether API defaults still need applying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// From an AdmissionReview: the API server has already defaulted it.
    ApiServer,
    /// From a file: apply the apps/v1 defaults first ([`normalize`]), so that a file and
    /// the same object as the API server sends it give the same findings.
    File,
}

/// Everything about a review that is not the object itself.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub source: Source,
    /// The request's namespace, or `--namespace`; used when the object names none.
    pub namespace: Option<&'a str>,
    pub kube_version: KubeVersion,
    /// Unknown fields are errors rather than warnings.
    pub strict: bool,
    /// Objects the StatefulSet refers to, from the same input (offline) and from the
    /// cluster (SPEC §8): read-only data the caller took from its stores or lists.
    pub known: cluster::Known<'a>,
    /// Run the validation rules. The mutating webhook reports no findings (that is the
    /// validating webhook's job) and turns them off: they are most of a review's cost.
    pub checks: bool,
    /// Compute the policy's defaults (the patch). The validating webhook never returns a
    /// patch and turns this off: it saves a copy of the object per request.
    pub defaults: bool,
}

impl Default for Context<'_> {
    fn default() -> Self {
        Context {
            source: Source::ApiServer,
            namespace: None,
            kube_version: KubeVersion::LATEST,
            strict: false,
            known: cluster::Known::default(),
            checks: true,
            defaults: true,
        }
    }
}

/// The engine's answer for one object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Review {
    /// What is wrong, after the policy's levels, suppression and ratcheting.
    pub findings: Vec<Finding>,
    /// Findings turned off by the object's `stsguard.dev/ignore` annotation (for metrics).
    pub suppressed: Vec<Finding>,
    /// RFC 6902 operations that apply the policy's defaults (never `remove`).
    pub patch: json_patch::Patch,
    /// Names of the defaults the patch applies (SPEC §2), for `stsguard.dev/defaulted`.
    pub defaulted: Vec<&'static str>,
    /// Set when the engine judged nothing (no rule ran, no default was computed), and why.
    /// Without it, "not judged" and "judged, nothing wrong" would look the same: the CLI
    /// reports these objects instead of counting them as clean (issue #19).
    pub not_judged: Option<NotJudged>,
    /// The policy's `mode` in the object's namespace: whether error findings deny
    /// ([`Review::verdict`]). `enforce` for a DELETE or CONNECT, which has no namespace to
    /// read.
    pub mode: Mode,
    /// What the rules' lookups learnt from the input's objects ([`Known::input`]): whether an
    /// object of the input not read yet could change the findings.
    ///
    /// [`Known::input`]: cluster::Known::input
    pub input_reads: cluster::InputReads,
}

/// What a [`Review`] means for admission, given the policy's mode in the object's namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No error finding.
    Allow,
    /// Error findings, and the policy enforces in this namespace.
    Deny,
    /// Error findings, but the policy only warns in this namespace (`mode: warn`, for
    /// rolling stsguard out): allowed, with what would have been denied.
    WouldDeny,
}

/// Why [`review`] judged nothing about an object. Not an error: these objects are admitted
/// untouched by design.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotJudged {
    /// DELETE and CONNECT: deleting must always work, and CONNECT carries no StatefulSet.
    Operation(Operation),
    /// The object's namespace matches an entry of the policy's `exemptNamespaces`.
    ExemptNamespace {
        /// The namespace the object is in (its own, or the context's).
        namespace: String,
        /// The `exemptNamespaces` entry (a glob) that matched it.
        pattern: String,
    },
}

impl NotJudged {
    /// A stable identifier of the reason, for machine-readable reports.
    pub fn id(&self) -> &'static str {
        match self {
            NotJudged::Operation(_) => "operation",
            NotJudged::ExemptNamespace { .. } => "exempt-namespace",
        }
    }
}

impl std::fmt::Display for NotJudged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotJudged::Operation(operation) => {
                let name = match operation {
                    Operation::Create => "CREATE",
                    Operation::Update => "UPDATE",
                    Operation::Delete => "DELETE",
                    Operation::Connect => "CONNECT",
                };
                write!(f, "a {name} is never judged")
            }
            NotJudged::ExemptNamespace { namespace, pattern } => write!(
                f,
                "namespace {namespace} is exempt in the policy (exemptNamespaces: {pattern})"
            ),
        }
    }
}

impl Review {
    /// The review of an object the engine did not judge: nothing found, nothing to patch;
    /// the mode is still the policy's in an exempt namespace.
    fn not_judged(policy: &Policy, reason: NotJudged) -> Review {
        let mode = match &reason {
            NotJudged::ExemptNamespace { namespace, .. } => policy.settings_for(namespace).mode,
            NotJudged::Operation(_) => Mode::default(),
        };
        Review {
            not_judged: Some(reason),
            mode,
            ..Review::default()
        }
    }

    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// Whether the object is admitted: the webhook only writes this down, so that the
    /// policy's mode is read in one place.
    pub fn verdict(&self) -> Verdict {
        match (self.has_errors(), self.mode) {
            (false, _) => Verdict::Allow,
            (true, Mode::Enforce) => Verdict::Deny,
            (true, Mode::Warn) => Verdict::WouldDeny,
        }
    }
}

/// Why an object could not be evaluated at all (a denial is a [`Finding`], not this).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    #[error("the object is not a JSON object (found {0})")]
    NotAnObject(&'static str),
}

/// The annotation listing rules to ignore for one object.
pub const IGNORE_ANNOTATION: &str = "stsguard.dev/ignore";

/// Reviews one StatefulSet: the one entry point of stsguard.
///
/// `object` is the raw JSON (from an AdmissionReview or from YAML); `old_object` the
/// previous version on UPDATE. DELETE and CONNECT are never judged. The rules read the
/// object as a [`Doc`] (borrowing this `Value`'s strings); [`review_doc`] is the same review
/// for a caller that has read the object into one already.
pub fn review(
    policy: &Policy,
    operation: Operation,
    object: &Value,
    old_object: Option<&Value>,
    context: &Context<'_>,
) -> Result<Review, EngineError> {
    if !object.is_object() {
        return Err(EngineError::NotAnObject(json_type(object)));
    }
    let (namespace, settings) = match scope(policy, operation, object, context) {
        Ok(scope) => scope,
        Err(reason) => return Ok(Review::not_judged(policy, reason)),
    };

    let old_object = match operation {
        Operation::Update => old_object.filter(|old| old.is_object()),
        _ => None,
    };
    // The rules read a `Doc` borrowing `object`; a file gets the apps/v1 defaults first.
    let file = context.source == Source::File;
    let read = |value| {
        let mut doc = Doc::from(value);
        if file {
            normalize::apply_doc(&mut doc);
        }
        doc
    };
    let docs = (context.checks || (context.defaults && file))
        .then(|| (read(object), old_object.map(read)));
    let mut review = Review {
        mode: settings.mode,
        ..Review::default()
    };
    if context.checks
        && let Some((doc, old_doc)) = &docs
    {
        judge(
            policy,
            &settings,
            namespace,
            doc,
            old_doc.as_ref(),
            context,
            &mut review,
        );
    }
    if context.defaults {
        // The defaults patch `object`, judging it as the API server would store it.
        let (normalized, old_normalized) = match &docs {
            Some((doc, old_doc)) if file => (
                Cow::Owned(doc.to_value()),
                old_doc.as_ref().map(|old| Cow::Owned(old.to_value())),
            ),
            _ => (Cow::Borrowed(object), old_object.map(Cow::Borrowed)),
        };
        let mutation = defaults::mutate(
            &settings.defaults,
            operation,
            object,
            &normalized,
            old_normalized.as_deref(),
        );
        review.patch = mutation.patch;
        review.defaulted = mutation.defaulted;
    }
    Ok(review)
}

/// [`review`] of an object read into a [`Doc`] (the validating webhook reads the body so):
/// the same findings, and never a patch — the defaults patch a `serde_json::Value`, so
/// `context.defaults` is not read. An object from a file (`Source::File`) goes through
/// `review`, which normalises it.
pub fn review_doc(
    policy: &Policy,
    operation: Operation,
    object: &Doc<'_>,
    old_object: Option<&Doc<'_>>,
    context: &Context<'_>,
) -> Result<Review, EngineError> {
    let context = &Context {
        defaults: false,
        ..*context
    };
    if context.source == Source::File {
        let old_object = old_object.map(Doc::to_value);
        return review(
            policy,
            operation,
            &object.to_value(),
            old_object.as_ref(),
            context,
        );
    }
    if !object.is_object() {
        return Err(EngineError::NotAnObject(json_type(&object.to_value())));
    }
    let (namespace, settings) = match scope(policy, operation, object, context) {
        Ok(scope) => scope,
        Err(reason) => return Ok(Review::not_judged(policy, reason)),
    };
    let old = match operation {
        Operation::Update => old_object.filter(|old| old.is_object()),
        _ => None,
    };
    let mut review = Review {
        mode: settings.mode,
        ..Review::default()
    };
    if context.checks {
        judge(
            policy,
            &settings,
            namespace,
            object,
            old,
            context,
            &mut review,
        );
    }
    Ok(review)
}

/// The namespace an object is judged in and the policy's settings for it, or why nothing
/// is judged (DELETE, CONNECT, an exempt namespace). Both webhooks and the CLI go through
/// here, so they skip exactly the same objects.
fn scope<'p, 'o, T: view::Tree>(
    policy: &'p Policy,
    operation: Operation,
    object: &'o T,
    context: &Context<'o>,
) -> Result<(&'o str, Cow<'p, policy::Settings>), NotJudged> {
    if matches!(operation, Operation::Delete | Operation::Connect) {
        return Err(NotJudged::Operation(operation));
    }
    let namespace = namespace(object, context.namespace);
    if let Some(pattern) = policy.exemption(namespace) {
        return Err(NotJudged::ExemptNamespace {
            namespace: namespace.to_string(),
            pattern: pattern.to_string(),
        });
    }
    Ok((namespace, policy.settings_for(namespace)))
}

/// The namespace an object is judged in: its own `metadata.namespace`, else the one its
/// caller knows it by (the request's, or `--namespace`), else `default`, where the API server
/// puts an object that names none. Messages that name the object use it too, so that they
/// name the namespace whose policy judged it.
pub fn namespace<'o, T: view::Tree>(object: &'o T, known: Option<&'o str>) -> &'o str {
    StatefulSet::new(object)
        .namespace()
        .or(known)
        .unwrap_or("default")
}

/// Runs the rules and applies the policy's levels, the ignore annotation and ratcheting.
fn judge(
    policy: &Policy,
    settings: &policy::Settings,
    namespace: &str,
    object: &Doc<'_>,
    old: Option<&Doc<'_>>,
    context: &Context<'_>,
    review: &mut Review,
) {
    let sts = StatefulSet::new(object);
    let reads = cluster::ReadNotes::default();
    let cx = rules::Cx {
        policy,
        settings,
        namespace,
        kube_version: context.kube_version,
        strict: context.strict,
        known: cluster::Known {
            reads: Some(&reads),
            ..context.known
        },
        old: old.map(StatefulSet::new),
    };
    let mut raw = Vec::new();
    rules::check_all(&sts, &cx, &mut raw);

    // Ratcheting (SPEC §3): what the old object already had warns, never denies, so that
    // introducing stsguard does not block scaling or deleting existing StatefulSets.
    let preexisting: HashSet<(RuleId, String)> = match old {
        Some(old) => {
            let old_cx = rules::Cx { old: None, ..cx };
            let mut old_findings = Vec::new();
            rules::check_all(&StatefulSet::new(old), &old_cx, &mut old_findings);
            old_findings.into_iter().map(|f| (f.rule, f.path)).collect()
        }
        None => HashSet::new(),
    };

    let ignored: Vec<&str> = sts
        .annotation(IGNORE_ANNOTATION)
        .map(|list| list.split(',').map(str::trim).collect())
        .unwrap_or_default();
    for mut finding in raw {
        let Some(severity) = settings.severity(finding.rule, finding.severity) else {
            continue;
        };
        finding.severity = severity;
        if ignored.contains(&finding.rule.id()) {
            review.suppressed.push(finding);
            continue;
        }
        if finding.severity == Severity::Error
            && preexisting.contains(&(finding.rule, finding.path.clone()))
        {
            finding.severity = Severity::Warning;
            finding
                .message
                .push_str(" (already present before this update: not denied)");
        }
        review.findings.push(finding);
    }
    review.input_reads = reads.get();
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kube_versions() {
        assert_eq!("1.29".parse(), Ok(KubeVersion::new(1, 29)));
        assert_eq!("v1.16.3".parse(), Ok(KubeVersion::new(1, 16)));
        assert!("1".parse::<KubeVersion>().is_err());
        assert!("1.x".parse::<KubeVersion>().is_err());
        assert_eq!(
            "1.29.x".parse::<KubeVersion>().unwrap_err().to_string(),
            r#""1.29.x" is not a Kubernetes version like 1.29"#
        );
        assert!(KubeVersion::new(1, 28).at_least(1, 16));
    }

    #[test]
    fn refuses_non_objects_and_skips_delete() {
        let policy = Policy::builtin_default().unwrap();
        let cx = Context::default();
        assert_eq!(
            review(&policy, Operation::Create, &Value::Null, None, &cx),
            Err(EngineError::NotAnObject("null"))
        );
        let bad = serde_json::json!({"metadata": {"name": "Bad_Name"}});
        assert_eq!(
            review(&policy, Operation::Delete, &bad, None, &cx).unwrap(),
            Review::not_judged(&policy, NotJudged::Operation(Operation::Delete))
        );
    }

    #[test]
    fn says_why_an_exempt_namespace_is_not_judged() {
        let policy = Policy::builtin_default().unwrap();
        // No selector, no labels, a bad name: an error everywhere else.
        let broken = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "Bad_Name", "namespace": "kube-system"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}
        });
        let cx = Context::default();
        let exempt = review(&policy, Operation::Create, &broken, None, &cx).unwrap();
        let reason = NotJudged::ExemptNamespace {
            namespace: "kube-system".into(),
            pattern: "kube-system".into(),
        };
        assert_eq!(exempt, Review::not_judged(&policy, reason.clone()));
        assert_eq!(
            reason.to_string(),
            "namespace kube-system is exempt in the policy (exemptNamespaces: kube-system)"
        );
        // The validating webhook's entry skips it for the same reason.
        let doc = Doc::from(&broken);
        let validate = Context {
            defaults: false,
            ..cx
        };
        assert_eq!(
            review_doc(&policy, Operation::Create, &doc, None, &validate).unwrap(),
            Review::not_judged(&policy, reason)
        );
        // The namespace of the context counts when the object names none.
        let mut unnamespaced = broken.clone();
        if let Some(metadata) = unnamespaced["metadata"].as_object_mut() {
            metadata.remove("namespace");
        }
        let in_kube_system = Context {
            namespace: Some("kube-system"),
            ..cx
        };
        let review = review(
            &policy,
            Operation::Create,
            &unnamespaced,
            None,
            &in_kube_system,
        );
        assert!(review.unwrap().not_judged.is_some());
    }

    #[test]
    fn judges_the_same_object_without_the_exemption() {
        let policy = Policy::builtin_default().unwrap().without_exemptions();
        let broken = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "kube-system"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}
        });
        let review = review(
            &policy,
            Operation::Create,
            &broken,
            None,
            &Context::default(),
        );
        let review = review.unwrap();
        assert_eq!(review.not_judged, None);
        assert!(
            review.findings.iter().any(|f| f.rule == RuleId::Selector),
            "{review:?}"
        );
    }

    #[test]
    fn the_verdict_follows_the_mode_in_the_namespace_the_object_is_judged_in() {
        let policy = Policy::from_yaml(
            "apiVersion: stsguard.dev/v1\nkind: StatefulSetPolicy\nmetadata: {name: t}\nspec:\n  mode: enforce\n  namespaces:\n  - match: [ml-*]\n    mode: warn\n",
            "t.yaml",
        )
        .unwrap();
        let broken = |namespace: Option<&str>| {
            let mut object = serde_json::json!({
                "apiVersion": "apps/v1", "kind": "StatefulSet",
                "metadata": {"name": "Bad_Name"},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}
            });
            if let Some(namespace) = namespace {
                object["metadata"]["namespace"] = namespace.into();
            }
            object
        };
        let verdict = |object: &Value, known: Option<&str>| {
            let cx = Context {
                namespace: known,
                ..Context::default()
            };
            let review = review(&policy, Operation::Create, object, None, &cx).unwrap();
            assert!(review.has_errors());
            review.verdict()
        };
        assert_eq!(verdict(&broken(Some("web")), None), Verdict::Deny);
        assert_eq!(verdict(&broken(Some("ml-train")), None), Verdict::WouldDeny);
        // The object's own namespace first, then the caller's, then `default`.
        assert_eq!(
            verdict(&broken(Some("web")), Some("ml-train")),
            Verdict::Deny
        );
        assert_eq!(verdict(&broken(None), Some("ml-train")), Verdict::WouldDeny);
        assert_eq!(verdict(&broken(None), None), Verdict::Deny);
        assert_eq!(namespace(&broken(None), None), "default");
        assert_eq!(namespace(&broken(None), Some("ml-train")), "ml-train");
        assert_eq!(namespace(&broken(Some("web")), Some("ml-train")), "web");
        // Nothing judged, nothing denied.
        let delete = review(
            &policy,
            Operation::Delete,
            &broken(None),
            None,
            &Context::default(),
        );
        assert_eq!(delete.unwrap().verdict(), Verdict::Allow);
    }
}

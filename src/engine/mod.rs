//! The policy engine: pure and synchronous, no I/O. The webhook and the CLI both call
//! [`review`]; nothing else decides a verdict.

pub mod defaults;
pub mod finding;
pub mod gpu_models;
pub mod normalize;
pub mod policy;
pub mod quantity;
pub mod rules;
pub mod suggest;
pub mod view;

use std::collections::HashSet;

use serde_json::Value;

pub use finding::{Finding, Severity};
pub use policy::Policy;

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

impl std::str::FromStr for KubeVersion {
    type Err = String;

    /// `1.29`, `v1.29` or `1.29.3` (the patch level is ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a Kubernetes version like 1.29");
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
    /// Services from the same input, for the cross-document rules (offline only).
    pub services: &'a [Value],
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
            services: &[],
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
}

impl Review {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
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
/// previous version on UPDATE. DELETE and CONNECT are never judged.
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
    if matches!(operation, Operation::Delete | Operation::Connect) {
        return Ok(Review::default());
    }
    let namespace = StatefulSet::new(object)
        .namespace()
        .or(context.namespace)
        .unwrap_or("default");
    if policy.is_exempt(namespace) {
        return Ok(Review::default());
    }
    let settings = policy.settings_for(namespace);

    let input = object;
    let (object, old_object) = match context.source {
        Source::ApiServer => (
            std::borrow::Cow::Borrowed(object),
            old_object.map(std::borrow::Cow::Borrowed),
        ),
        Source::File => (
            std::borrow::Cow::Owned(normalize::apply(object)),
            old_object.map(|old| std::borrow::Cow::Owned(normalize::apply(old))),
        ),
    };
    let old = match operation {
        Operation::Update => old_object.as_deref().filter(|old| old.is_object()),
        _ => None,
    };
    let sts = StatefulSet::new(&object);
    let cx = rules::Cx {
        policy,
        settings: &settings,
        namespace,
        kube_version: context.kube_version,
        strict: context.strict,
        services: context.services,
        old: old.map(StatefulSet::new),
    };
    let mut raw = Vec::new();
    if context.checks {
        rules::check_all(&sts, &cx, &mut raw);
    }

    // Ratcheting (SPEC §3): what the old object already had warns, never denies, so that
    // introducing stsguard does not block scaling or deleting existing StatefulSets.
    let preexisting: HashSet<(&'static str, String)> = match old {
        Some(old) if context.checks => {
            let old_cx = rules::Cx { old: None, ..cx };
            let mut old_findings = Vec::new();
            rules::check_all(&StatefulSet::new(old), &old_cx, &mut old_findings);
            old_findings.into_iter().map(|f| (f.rule, f.path)).collect()
        }
        _ => HashSet::new(),
    };

    let ignored: Vec<&str> = sts
        .annotation(IGNORE_ANNOTATION)
        .map(|list| list.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let mut review = Review::default();
    for mut finding in raw {
        let Some(severity) = settings.severity(finding.rule, finding.severity) else {
            continue;
        };
        finding.severity = severity;
        if ignored.contains(&finding.rule) {
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

    if context.defaults {
        let mutation = defaults::mutate(&settings.defaults, operation, input, &object, old);
        review.patch = mutation.patch;
        review.defaulted = mutation.defaulted;
    }
    Ok(review)
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
            Review::default()
        );
    }
}

//! What the engine reports: findings are data, never errors.

use serde::Serialize;

// Re-exported: `Severity` is part of what a finding is, and most callers name it from here.
use super::catalog::RuleId;
pub use super::severity::Severity;

/// One problem found in one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule, from the catalog (`engine::catalog`); serialised as its id.
    pub rule: RuleId,
    pub severity: Severity,
    /// JSON Pointer (RFC 6901) into the object; the field may be missing, in which case
    /// locating tools fall back to its nearest existing parent.
    pub path: String,
    /// What is wrong and what breaks in a cluster.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl Finding {
    /// A finding at the rule's default severity from its record.
    pub fn new(
        rule: RuleId,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Finding {
            rule,
            severity: rule.severity(),
            path: path.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The same finding as a warning (for the softer checks inside an error-level rule).
    #[must_use]
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }
}

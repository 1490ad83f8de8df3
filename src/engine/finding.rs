//! What the engine reports: findings are data, never errors.

use serde::{Deserialize, Serialize};

/// How serious a finding is. Ordered so that `Error > Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Rule id from the catalog (`engine::rules::catalog`).
    pub rule: &'static str,
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
    /// A finding at the rule's default severity from the catalog.
    pub fn new(
        rule: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Finding {
            rule,
            severity: super::rules::catalog::default_severity(rule),
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

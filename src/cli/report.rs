//! What one `stsguard validate` run found, located in its input: the types `validate`
//! produces and every output format reads. Kept apart from both so that neither side
//! imports the other.

use std::io;

use serde::Serialize;
use serde_json::Value;

use crate::engine::{self, Finding, NotJudged, Severity};

/// Which object a finding belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    /// Kind, namespace and name of a StatefulSet, with `default_namespace` when it names none.
    pub fn statefulset(value: &Value, default_namespace: &str) -> Self {
        let meta = value.get("metadata");
        let field = |key: &str| meta.and_then(|m| m.get(key)).and_then(Value::as_str);
        ObjectRef {
            kind: "StatefulSet".into(),
            namespace: engine::namespace(value, Some(default_namespace)).to_string(),
            name: field("name").unwrap_or("<unnamed>").to_string(),
        }
    }
}

/// A finding with its place in the input.
#[derive(Debug, Clone, Serialize)]
pub struct LocatedFinding {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// `None` for findings about the input itself (`yaml-syntax`).
    pub object: Option<ObjectRef>,
    #[serde(flatten)]
    pub finding: Finding,
}

/// A StatefulSet of the input, with where it starts and what the engine made of it.
#[derive(Debug, Clone)]
pub struct ReviewedObject {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub object: ObjectRef,
    pub errors: usize,
    pub warnings: usize,
    /// Why the engine did not judge it (an exempt namespace); `None` when it was judged.
    pub not_judged: Option<NotJudgedNote>,
}

/// The engine's reason for not judging an object, located where the file decides it.
#[derive(Debug, Clone)]
pub struct NotJudgedNote {
    /// For an exempt namespace, `metadata.namespace` (its nearest parent when the namespace
    /// comes from `--namespace`); otherwise the start of the object.
    pub line: usize,
    pub column: usize,
    pub reason: NotJudged,
}

impl NotJudgedNote {
    /// What to do about it, for every output format.
    pub fn hint(&self) -> &'static str {
        match self.reason {
            NotJudged::ExemptNamespace { .. } => {
                "pass --include-exempt to judge it anyway (the webhook admits it without review)"
            }
            // `validate` reviews CREATE and UPDATE only.
            NotJudged::Operation(_) => "",
        }
    }
}

/// Everything one run found.
#[derive(Debug, Default)]
pub struct Report {
    pub files: usize,
    /// Every StatefulSet of the input, judged or not, in input order.
    pub objects: Vec<ReviewedObject>,
    /// StatefulSets judged but not listed in `objects`: the formats other than JUnit read only
    /// the ones not judged, so that a run over 200,000 objects does not keep 200,000 entries.
    pub unlisted: usize,
    pub findings: Vec<LocatedFinding>,
}

impl Report {
    /// The StatefulSets the engine did not judge, each with the engine's reason.
    pub fn not_judged(&self) -> impl Iterator<Item = (&ReviewedObject, &NotJudgedNote)> {
        self.objects
            .iter()
            .filter_map(|object| Some((object, object.not_judged.as_ref()?)))
    }

    /// How many StatefulSets the input holds, judged or not, listed or not.
    pub fn object_count(&self) -> usize {
        self.objects.len() + self.unlisted
    }

    /// The errors and warnings of the report.
    pub fn tally(&self) -> Tally {
        Tally::of(&self.findings)
    }
}

/// How many errors and warnings.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub errors: usize,
    pub warnings: usize,
}

impl Tally {
    pub fn of(findings: &[LocatedFinding]) -> Tally {
        let mut tally = Tally::default();
        tally.add(findings);
        tally
    }

    pub fn add(&mut self, findings: &[LocatedFinding]) {
        for located in findings {
            match located.finding.severity {
                Severity::Error => self.errors += 1,
                Severity::Warning => self.warnings += 1,
            }
        }
    }

    /// Takes back what [`Tally::add`] added (a StatefulSet judged again).
    pub fn remove(&mut self, other: Tally) {
        self.errors = self.errors.saturating_sub(other.errors);
        self.warnings = self.warnings.saturating_sub(other.warnings);
    }

    pub fn at_or_above(&self, threshold: Severity) -> bool {
        match threshold {
            Severity::Error => self.errors > 0,
            Severity::Warning => self.errors + self.warnings > 0,
        }
    }
}

/// Where `validate` hands what it found as it reads, for an output format to print as it goes
/// (text, GitHub) or to gather (JSON, SARIF, JUnit). Calls come in the order to print:
/// findings of the input as each batch of documents is judged; StatefulSets whose verdict
/// waited for the rest of the input (an object they refer to was not read yet) at the end.
pub trait Emit {
    /// A finding about the input itself (`yaml-syntax`), at its place in the input.
    fn syntax(&mut self, finding: LocatedFinding) -> io::Result<()>;
    /// A StatefulSet's final verdict. `seq` is its place among the input's StatefulSets
    /// (for formats that keep input order); `object` is `None` when the format does not list
    /// it (only JUnit lists every StatefulSet; the others, those not judged).
    fn object(
        &mut self,
        seq: usize,
        file: &str,
        object: Option<ReviewedObject>,
        findings: Vec<LocatedFinding>,
    ) -> io::Result<()>;
    /// A StatefulSet given to [`Emit::object`] before and judged again at the end, because a
    /// later object of the input replaced one its verdict read (a second Service of the same
    /// name). `findings` replace the ones it had.
    fn again(
        &mut self,
        seq: usize,
        object: ReviewedObject,
        findings: Vec<LocatedFinding>,
    ) -> io::Result<()>;
    /// The end of a batch: a format that prints as it goes makes it visible now.
    fn flush(&mut self) -> io::Result<()>;
    /// The end of the input (`files` were read, `tally` is what the run found in all, final
    /// verdicts only): what was gathered, and the summary.
    fn finish(&mut self, files: usize, tally: Tally) -> io::Result<()>;
}

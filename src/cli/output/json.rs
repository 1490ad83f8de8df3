//! The JSON format: one document, the stable shape of SPEC §5 (see the README), with the
//! StatefulSets that were not judged.

use std::io::{self, Write};

use serde::Serialize;

use crate::cli::report::{LocatedFinding, ObjectRef, Report};
use crate::engine::Severity;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    findings: &'a [LocatedFinding],
    /// Always present (empty when every StatefulSet was judged): a stable shape.
    not_judged: Vec<JsonNotJudged<'a>>,
    summary: Summary,
}

/// A StatefulSet the engine did not judge.
#[derive(Serialize)]
struct JsonNotJudged<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    object: &'a ObjectRef,
    /// A stable identifier: `exempt-namespace`.
    reason: &'static str,
    message: String,
    hint: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    files: usize,
    /// Every StatefulSet of the input, judged or not.
    objects: usize,
    errors: usize,
    warnings: usize,
    /// How many of `objects` were not judged (the length of `notJudged`).
    not_judged: usize,
}

/// The stable JSON shape (SPEC §5), with the StatefulSets that were not judged.
pub fn write_json(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let not_judged: Vec<JsonNotJudged<'_>> = report
        .not_judged()
        .map(|(object, note)| JsonNotJudged {
            file: &object.file,
            line: note.line,
            column: note.column,
            object: &object.object,
            reason: note.reason.id(),
            message: note.reason.to_string(),
            hint: note.hint(),
        })
        .collect();
    let json = JsonReport {
        findings: &report.findings,
        summary: Summary {
            files: report.files,
            objects: report.object_count(),
            errors: report.count(Severity::Error),
            warnings: report.count(Severity::Warning),
            not_judged: not_judged.len(),
        },
        not_judged,
    };
    serde_json::to_writer_pretty(&mut *out, &json)?;
    writeln!(out)
}

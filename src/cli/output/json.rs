//! The JSON format: one document, the stable shape of SPEC §5 (see the README), with the
//! StatefulSets that were not judged.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use super::{Listed, Spool, Spooled};
use crate::cli::report::{Emit, LocatedFinding, ObjectRef, Report, ReviewedObject, Tally};

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
    write_head(out)?;
    for (i, located) in report.findings.iter().enumerate() {
        out.write_all(&finding_item(located, i == 0)?)?;
    }
    write_tail(out, report, report.findings.len(), report.tally())
}

/// `{ "findings": [` as the pretty printer writes it.
fn write_head(out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"{\n  \"findings\": [")
}

/// One finding as an item of the `findings` array, pretty printed at its depth, with the
/// separator before it.
fn finding_item(located: &LocatedFinding, first: bool) -> io::Result<Vec<u8>> {
    let mut item = Vec::from(if first { &b"\n"[..] } else { &b",\n"[..] });
    indent(&mut item, &serde_json::to_vec_pretty(located)?, 4);
    Ok(item)
}

/// The end of the `findings` array (`findings` items were written), the StatefulSets not
/// judged and the summary.
fn write_tail(
    out: &mut dyn Write,
    report: &Report,
    findings: usize,
    tally: Tally,
) -> io::Result<()> {
    out.write_all(if findings == 0 { b"]" } else { b"\n  ]" })?;
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
    let summary = Summary {
        files: report.files,
        objects: report.object_count(),
        errors: tally.errors,
        warnings: tally.warnings,
        not_judged: not_judged.len(),
    };
    let mut rest = Vec::new();
    rest.extend_from_slice(b",\n  \"notJudged\": ");
    indent_after_first(&mut rest, &serde_json::to_vec_pretty(&not_judged)?, 2);
    rest.extend_from_slice(b",\n  \"summary\": ");
    indent_after_first(&mut rest, &serde_json::to_vec_pretty(&summary)?, 2);
    rest.extend_from_slice(b"\n}\n");
    out.write_all(&rest)
}

/// `json` (pretty, at depth 0) with every line moved `by` spaces right. Strings in JSON hold
/// no raw line break, so lines are the printer's.
fn indent(out: &mut Vec<u8>, json: &[u8], by: usize) {
    for (i, line) in json.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        out.extend(std::iter::repeat_n(b' ', by));
        out.extend_from_slice(line);
    }
}

/// As [`indent`], but the first line stays where it is (it follows a key).
fn indent_after_first(out: &mut Vec<u8>, json: &[u8], by: usize) {
    for (i, line) in json.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
            out.extend(std::iter::repeat_n(b' ', by));
        }
        out.extend_from_slice(line);
    }
}

/// JSON as `validate` reads its input: each StatefulSet's findings are printed into a
/// temporary file as it is judged, and the document is put together at the end, in input
/// order (the `yaml-syntax` findings first, then each StatefulSet's). Memory holds where each
/// StatefulSet's findings are in that file, not the findings: the document is the one
/// [`write_json`] writes for the same report.
pub struct JsonEmit<'w> {
    out: &'w mut dyn Write,
    spool: Spool,
    syntax: Vec<LocatedFinding>,
    /// Where each StatefulSet's findings are in the spool (items with their separator
    /// written as for a later item), by place in the input.
    objects: BTreeMap<usize, Spooled>,
    listed: Listed,
}

impl<'w> JsonEmit<'w> {
    pub fn new(out: &'w mut dyn Write) -> Self {
        JsonEmit {
            out,
            spool: Spool::default(),
            syntax: Vec::new(),
            objects: BTreeMap::new(),
            listed: Listed::default(),
        }
    }

    fn spool_findings(&mut self, seq: usize, findings: &[LocatedFinding]) -> io::Result<()> {
        let mut bytes = Vec::new();
        for located in findings {
            bytes.extend_from_slice(&finding_item(located, false)?);
        }
        if bytes.is_empty() {
            self.objects.remove(&seq);
            return Ok(());
        }
        let spooled = self.spool.append(&bytes)?;
        self.objects.insert(seq, spooled);
        Ok(())
    }
}

impl Emit for JsonEmit<'_> {
    fn syntax(&mut self, finding: LocatedFinding) -> io::Result<()> {
        self.syntax.push(finding);
        Ok(())
    }

    fn object(
        &mut self,
        seq: usize,
        _file: &str,
        object: Option<ReviewedObject>,
        findings: Vec<LocatedFinding>,
    ) -> io::Result<()> {
        self.listed.add(seq, object);
        self.spool_findings(seq, &findings)
    }

    fn again(
        &mut self,
        seq: usize,
        _object: ReviewedObject,
        findings: Vec<LocatedFinding>,
    ) -> io::Result<()> {
        self.spool_findings(seq, &findings)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, files: usize, tally: Tally) -> io::Result<()> {
        let listed = self.listed.take_report(files);
        write_head(self.out)?;
        let mut written = 0;
        for located in &self.syntax {
            self.out.write_all(&finding_item(located, written == 0)?)?;
            written += 1;
        }
        let mut spool = std::mem::take(&mut self.spool).into_reader()?;
        for &piece in self.objects.values() {
            let bytes = spool.read(piece)?;
            // Spooled as later items (`,\n` first): the very first item has no comma.
            let item = if written == 0 { &bytes[1..] } else { bytes };
            self.out.write_all(item)?;
            written += 1;
        }
        write_tail(self.out, &listed, written, tally)?;
        self.out.flush()
    }
}

//! Compiles the rule records (`src/engine/catalog/*.md`, one Markdown file per family) into
//! Rust: the `RuleId` enum and one `Rule` per id, included by `engine/catalog/mod.rs`.
//!
//! The records are compiled-in data, so a malformed one fails the build here, with its file
//! and line, rather than anything at run time.
//!
//! A file is `# Family title`, a paragraph, then one `## rule-id` section per rule:
//!
//! ```text
//! ## rule-id
//!
//! - severity: error | warning
//! - summary: one line (continued on lines indented by two spaces)
//! - breaks: what goes wrong in a cluster
//!
//! ### What      (one paragraph, wrapped freely: its lines are joined with one space)
//! ### Why
//! ### Fix
//! ### Knobs     (optional: a list of `- ` items, continued on lines indented by two spaces)
//! ### Cluster   (optional: a ```yaml block, the cluster's objects the example is judged in)
//! ### Old example  (optional: a ```yaml block, the previous version of the object)
//! ### Example   (a ```yaml block, kept verbatim)
//! ```

use std::fmt::Write as _;
use std::path::Path;

/// The record files in catalog order, with the `Family` variant of their rules.
const FILES: &[(&str, &str)] = &[
    ("syntax", "Syntax"),
    ("names", "Names"),
    ("volumes", "Volumes"),
    ("gpu", "Gpu"),
    ("spec", "Spec"),
    ("services", "Services"),
    ("cluster", "Cluster"),
    ("update", "Update"),
];

#[derive(Default)]
pub struct Record {
    pub id: String,
    pub family: &'static str,
    pub title: String,
    pub severity: Option<String>,
    pub summary: Option<String>,
    pub breaks: Option<String>,
    pub what: Option<String>,
    pub why: Option<String>,
    pub fix: Option<String>,
    pub knobs: Option<Vec<String>>,
    pub cluster: Option<String>,
    pub old_example: Option<String>,
    pub example: Option<String>,
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let dir = Path::new(&root).join("src/engine/catalog");
    let mut records = Vec::new();
    for (file, family) in FILES {
        let path = dir.join(format!("{file}.md"));
        println!("cargo:rerun-if-changed={}", path.display());
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match parse_file(&text, family) {
            Ok(mut parsed) => records.append(&mut parsed),
            Err((line, message)) => panic!("{}:{line}: {message}", path.display()),
        }
    }
    let mut seen = std::collections::HashSet::new();
    for record in &records {
        assert!(
            seen.insert(record.id.clone()),
            "rule {} has two records",
            record.id
        );
    }
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("catalog.rs");
    std::fs::write(out, generate(&records)).unwrap();
}

pub type ParseResult<T> = Result<T, (usize, String)>;

pub fn parse_file(text: &str, family: &'static str) -> ParseResult<Vec<Record>> {
    let lines: Vec<&str> = text.lines().collect();
    let title = lines
        .first()
        .and_then(|line| line.strip_prefix("# "))
        .ok_or((1, "a record file starts with `# Family title`".to_string()))?
        .to_string();
    let mut records: Vec<Record> = Vec::new();
    let mut i = 1;
    while i < lines.len() && !lines[i].starts_with("## ") {
        if lines[i].starts_with('#') {
            return Err((i + 1, "a heading before the first `## rule-id`".into()));
        }
        i += 1;
    }
    while i < lines.len() {
        let id = lines[i].strip_prefix("## ").unwrap().trim();
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err((i + 1, format!("{id:?} is not a kebab-case rule id")));
        }
        let start = i + 1;
        let mut record = Record {
            id: id.to_string(),
            family,
            title: title.clone(),
            ..Record::default()
        };
        i += 1;
        let end = (i..lines.len())
            .find(|&j| lines[j].starts_with("## "))
            .unwrap_or(lines.len());
        parse_record(&lines, i, end, &mut record)?;
        check_complete(&record).map_err(|message| (start, message))?;
        records.push(record);
        i = end;
    }
    Ok(records)
}

/// Parses lines `from..to` of one `## rule-id` section.
fn parse_record(lines: &[&str], from: usize, to: usize, record: &mut Record) -> ParseResult<()> {
    let first_section = (from..to)
        .find(|&j| lines[j].starts_with('#'))
        .unwrap_or(to);
    for (key, line) in list(lines, from, first_section)? {
        let slot = match key.split_once(": ") {
            Some(("severity", v)) if v == "error" || v == "warning" => {
                (&mut record.severity, v.to_string())
            }
            Some(("severity", v)) => {
                return Err((line, format!("severity {v:?} is neither error nor warning")));
            }
            Some(("summary", v)) => (&mut record.summary, v.to_string()),
            Some(("breaks", v)) => (&mut record.breaks, v.to_string()),
            _ => return Err((line, format!("unknown field {key:?}"))),
        };
        if slot.0.replace(slot.1).is_some() {
            return Err((line, "the field is given twice".into()));
        }
    }
    let mut j = first_section;
    while j < to {
        let heading = lines[j].strip_prefix("### ").ok_or((
            j + 1,
            format!("expected a `### ` section, got {:?}", lines[j]),
        ))?;
        let end = (j + 1..to)
            .find(|&k| lines[k].starts_with('#'))
            .unwrap_or(to);
        let line = j + 1;
        let twice = || (line, format!("section {heading:?} is given twice"));
        match heading {
            "What" => set(&mut record.what, paragraph(lines, j + 1, end)?).map_err(|()| twice())?,
            "Why" => set(&mut record.why, paragraph(lines, j + 1, end)?).map_err(|()| twice())?,
            "Fix" => set(&mut record.fix, paragraph(lines, j + 1, end)?).map_err(|()| twice())?,
            "Knobs" => {
                let items = list(lines, j + 1, end)?
                    .into_iter()
                    .map(|(item, _)| item)
                    .collect();
                set(&mut record.knobs, items).map_err(|()| twice())?;
            }
            "Cluster" => {
                set(&mut record.cluster, yaml(lines, j + 1, end)?).map_err(|()| twice())?
            }
            "Old example" => {
                set(&mut record.old_example, yaml(lines, j + 1, end)?).map_err(|()| twice())?;
            }
            "Example" => {
                set(&mut record.example, yaml(lines, j + 1, end)?).map_err(|()| twice())?
            }
            other => return Err((line, format!("unknown section {other:?}"))),
        }
        j = end;
    }
    Ok(())
}

fn set<T>(slot: &mut Option<T>, value: T) -> Result<(), ()> {
    match slot.replace(value) {
        None => Ok(()),
        Some(_) => Err(()),
    }
}

/// The non-blank lines `from..to` as one paragraph: trimmed and joined with one space.
fn paragraph(lines: &[&str], from: usize, to: usize) -> ParseResult<String> {
    let body = trim_blank(lines, from, to);
    if body.is_empty() {
        return Err((from, "an empty section".into()));
    }
    if let Some(k) = body.clone().find(|&k| lines[k].trim().is_empty()) {
        return Err((
            k + 1,
            "a section is one paragraph: no blank line inside".into(),
        ));
    }
    Ok(body.map(|k| lines[k].trim()).collect::<Vec<_>>().join(" "))
}

/// A list of `- item` lines, each continued on lines indented by two spaces (its lines
/// joined with one space), with the line number of each item.
fn list(lines: &[&str], from: usize, to: usize) -> ParseResult<Vec<(String, usize)>> {
    let mut items: Vec<(String, usize)> = Vec::new();
    for k in trim_blank(lines, from, to) {
        let line = lines[k];
        if let Some(item) = line.strip_prefix("- ") {
            items.push((item.trim().to_string(), k + 1));
        } else if let (Some(rest), Some(last)) = (line.strip_prefix("  "), items.last_mut()) {
            if rest.trim().is_empty() {
                return Err((k + 1, "a blank continuation line".into()));
            }
            last.0.push(' ');
            last.0.push_str(rest.trim());
        } else {
            return Err((
                k + 1,
                "expected `- item` or a continuation indented by two spaces".into(),
            ));
        }
    }
    Ok(items)
}

/// One ```yaml block, verbatim, ending with a newline.
fn yaml(lines: &[&str], from: usize, to: usize) -> ParseResult<String> {
    let mut body = trim_blank(lines, from, to);
    match body.next() {
        Some(k) if lines[k] == "```yaml" => {}
        _ => return Err((from + 1, "expected a ```yaml block".into())),
    }
    let mut text = String::new();
    for k in body.by_ref() {
        if lines[k] == "```" {
            if let Some(extra) = body.next() {
                return Err((extra + 1, "text after the ```yaml block".into()));
            }
            if text.is_empty() {
                return Err((k + 1, "an empty ```yaml block".into()));
            }
            return Ok(text);
        }
        text.push_str(lines[k]);
        text.push('\n');
    }
    Err((from + 1, "the ```yaml block is not closed".into()))
}

/// The line numbers `from..to` without leading and trailing blank lines.
fn trim_blank(lines: &[&str], from: usize, to: usize) -> std::ops::Range<usize> {
    let mut start = from;
    let mut end = to;
    while start < end && lines[start].trim().is_empty() {
        start += 1;
    }
    while end > start && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    start..end
}

fn check_complete(record: &Record) -> Result<(), String> {
    let missing: Vec<&str> = [
        ("severity", record.severity.is_none()),
        ("summary", record.summary.is_none()),
        ("breaks", record.breaks.is_none()),
        ("What", record.what.is_none()),
        ("Why", record.why.is_none()),
        ("Fix", record.fix.is_none()),
        ("Example", record.example.is_none()),
    ]
    .into_iter()
    .filter_map(|(name, missing)| missing.then_some(name))
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("rule {} lacks {}", record.id, missing.join(", ")))
    }
}

/// `claim-template-unused` → `ClaimTemplateUnused`.
fn variant(id: &str) -> String {
    id.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

fn generate(records: &[Record]) -> String {
    let mut out = String::new();
    out.push_str("// Generated by build.rs from src/engine/catalog/*.md: edit those.\n\n");
    out.push_str(
        "/// A rule of the catalog, by id: what every finding names. Its record is \
         [`RuleId::rule`].\n",
    );
    out.push_str(
        "#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]\npub enum RuleId {\n",
    );
    for record in records {
        let _ = writeln!(out, "    /// `{}`", record.id);
        let _ = writeln!(out, "    {},", variant(&record.id));
    }
    out.push_str("}\n\nimpl RuleId {\n");
    let _ = writeln!(out, "    /// How many rules there are.");
    let _ = writeln!(out, "    pub const COUNT: usize = {};", records.len());
    let _ = writeln!(out, "    /// Every rule, in catalog order.");
    out.push_str("    pub const ALL: [RuleId; RuleId::COUNT] = [\n");
    for record in records {
        let _ = writeln!(out, "        RuleId::{},", variant(&record.id));
    }
    out.push_str("    ];\n}\n\n");
    out.push_str("/// The record of every rule, in catalog (and [`RuleId`]) order.\n");
    out.push_str("static RECORDS: [Rule; RuleId::COUNT] = [\n");
    for r in records {
        let severity = match r.severity.as_deref() {
            Some("warning") => "Warning",
            _ => "Error",
        };
        let opt = |value: &Option<String>| {
            value
                .as_ref()
                .map_or("None".to_string(), |text| format!("Some({text:?})"))
        };
        let knobs: Vec<String> = r
            .knobs
            .iter()
            .flatten()
            .map(|knob| format!("{knob:?}"))
            .collect();
        let _ = write!(
            out,
            "    Rule {{\n        id: {id:?},\n        family: Family::{family},\n        \
             family_heading: {title:?},\n        severity: Severity::{severity},\n        \
             summary: {summary:?},\n        breaks: {breaks:?},\n        what: {what:?},\n        \
             why: {why:?},\n        fix: {fix:?},\n        knobs: &[{knobs}],\n        \
             example: {example:?},\n        old_example: {old},\n        cluster: {cluster},\n    \
             }},\n",
            id = r.id,
            family = r.family,
            title = r.title,
            summary = r.summary.as_deref().unwrap_or_default(),
            breaks = r.breaks.as_deref().unwrap_or_default(),
            what = r.what.as_deref().unwrap_or_default(),
            why = r.why.as_deref().unwrap_or_default(),
            fix = r.fix.as_deref().unwrap_or_default(),
            knobs = knobs.join(", "),
            example = r.example.as_deref().unwrap_or_default(),
            old = r
                .old_example
                .as_ref()
                .map_or("None".to_string(), |text| format!("Some({text:?})")),
            cluster = opt(&r.cluster),
        );
    }
    out.push_str("];\n");
    out
}

//! JUnit XML, for CI test reports: a test suite per input file, a test case per
//! StatefulSet.

use std::collections::HashMap;
use std::io::{self, Write};

use super::text::{self, Colors};
use super::wording::plural;
use super::{Spool, Spooled};
use crate::cli::report::{Emit, LocatedFinding, ObjectRef, Report, ReviewedObject, Tally};
use crate::engine::Severity;

/// One `<testcase>`: a StatefulSet, or the YAML syntax of one file.
struct JunitCase<'a> {
    name: String,
    line: usize,
    findings: Vec<&'a LocatedFinding>,
    /// The `<skipped>` message of a StatefulSet the engine did not judge.
    skipped: Option<String>,
}

impl JunitCase<'_> {
    fn fails(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.finding.severity == Severity::Error)
    }
}

/// One `<testsuite>`: the test cases of one input file.
struct JunitSuite<'a> {
    file: &'a str,
    /// The `yaml-syntax` case, first when present.
    syntax: Option<JunitCase<'a>>,
    objects: Vec<JunitCase<'a>>,
}

impl<'a> JunitSuite<'a> {
    fn cases(&self) -> impl Iterator<Item = &JunitCase<'a>> {
        self.syntax.iter().chain(&self.objects)
    }
}

/// JUnit XML, laid out for CI test reports:
///
/// - `<testsuites>` holds one `<testsuite>` per input file that has a StatefulSet or a YAML
///   syntax error, named by the file. Files with neither (only Services, say) have no suite:
///   nothing in them was tested. Suites follow the order of the StatefulSets in the input;
///   files with only syntax errors come last.
/// - Each judged StatefulSet is a `<testcase name="StatefulSet namespace/name">` whose
///   `classname` (and `file`) is the file and `line` the line the object starts on.
/// - A test case with error findings fails: its `<failure>` lists them
///   (`file:line:column: error[rule]: message` and a `help:` line). Warnings never fail a test
///   case; they are listed in its `<system-out>`.
/// - The `yaml-syntax` errors of a file are one more failing test case, `yaml-syntax`, first
///   in its suite.
/// - A StatefulSet the engine did not judge (an exempt namespace) is a skipped test case:
///   `<skipped message="not judged: …"/>`, counted in `skipped`.
/// - `errors` is always 0: a finding is a test failure, not a test error.
pub fn write_junit(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let suites = junit_suites(report);
    let counts = |suite: &JunitSuite<'_>| {
        suite.cases().fold(Counts::default(), |mut counts, case| {
            counts.add(case);
            counts
        })
    };
    let total = suites
        .iter()
        .map(counts)
        .fold(Counts::default(), Counts::sum);
    let mut xml = String::new();
    write_root_start(&mut xml, total);
    for suite in &suites {
        let file = xml_attribute(suite.file);
        write_suite_start(&mut xml, &file, counts(suite));
        for case in suite.cases() {
            write_case(&mut xml, &file, case);
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    out.write_all(xml.as_bytes())
}

/// Test cases, failing ones and skipped ones.
#[derive(Clone, Copy, Default)]
struct Counts {
    tests: usize,
    failures: usize,
    skipped: usize,
}

impl Counts {
    fn add(&mut self, case: &JunitCase<'_>) {
        self.tests += 1;
        self.failures += usize::from(case.fails());
        self.skipped += usize::from(case.skipped.is_some());
    }

    fn sum(self, other: Counts) -> Counts {
        Counts {
            tests: self.tests + other.tests,
            failures: self.failures + other.failures,
            skipped: self.skipped + other.skipped,
        }
    }
}

fn write_root_start(xml: &mut String, total: Counts) {
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.push_str(&format!(
        "<testsuites name=\"stsguard validate\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">\n",
        total.tests, total.failures, total.skipped
    ));
}

fn write_suite_start(xml: &mut String, file: &str, counts: Counts) {
    xml.push_str(&format!(
        "  <testsuite name=\"{file}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">\n",
        counts.tests, counts.failures, counts.skipped,
    ));
}

/// One `<testcase>`; `file` is the suite's file, escaped for an attribute.
fn write_case(xml: &mut String, file: &str, case: &JunitCase<'_>) {
    xml.push_str(&format!(
        "    <testcase name=\"{}\" classname=\"{file}\" file=\"{file}\" line=\"{}\"",
        xml_attribute(&case.name),
        case.line
    ));
    if case.findings.is_empty() && case.skipped.is_none() {
        xml.push_str("/>\n");
        return;
    }
    xml.push_str(">\n");
    if let Some(message) = &case.skipped {
        xml.push_str(&format!(
            "      <skipped message=\"{}\"/>\n",
            xml_attribute(message)
        ));
    }
    let (errors, warnings): (Vec<&LocatedFinding>, Vec<&LocatedFinding>) = case
        .findings
        .iter()
        .partition(|f| f.finding.severity == Severity::Error);
    if !errors.is_empty() {
        let mut rules: Vec<&str> = Vec::new();
        for located in &errors {
            if !rules.contains(&located.finding.rule.id()) {
                rules.push(located.finding.rule.id());
            }
        }
        let message = format!(
            "{} {}: {}",
            errors.len(),
            plural(errors.len(), "error", "errors"),
            rules.join(", ")
        );
        xml.push_str(&format!(
            "      <failure message=\"{}\">{}</failure>\n",
            xml_attribute(&message),
            xml_text(&finding_lines(&errors))
        ));
    }
    if !warnings.is_empty() {
        xml.push_str(&format!(
            "      <system-out>{}</system-out>\n",
            xml_text(&finding_lines(&warnings))
        ));
    }
    xml.push_str("    </testcase>\n");
}

/// The test case of a StatefulSet.
fn object_case<'a>(object: &ReviewedObject, findings: Vec<&'a LocatedFinding>) -> JunitCase<'a> {
    JunitCase {
        name: format!(
            "{} {}/{}",
            object.object.kind, object.object.namespace, object.object.name
        ),
        line: object.line,
        findings,
        skipped: object.not_judged.as_ref().map(|note| {
            let mut message = format!("not judged: {}", note.reason);
            if !note.hint().is_empty() {
                message.push_str(&format!("; {}", note.hint()));
            }
            message
        }),
    }
}

/// JUnit as `validate` reads its input: each StatefulSet's test case is written to a
/// temporary file as soon as it is judged, and the report is put together at the end, when
/// the counts its root and suites carry are known. Memory holds a few numbers per
/// StatefulSet and the `yaml-syntax` findings, not the cases; the document is the one
/// [`write_junit`] writes for the same findings.
pub struct JunitEmit<'w> {
    out: &'w mut dyn Write,
    spool: Spool,
    /// The suites, in the order their files were first met.
    suites: Vec<SpooledSuite>,
    suite_of_file: HashMap<String, usize>,
    /// Where the case of each StatefulSet is: suite and index, by place in the input.
    case_of_seq: HashMap<usize, (usize, usize)>,
}

struct SpooledSuite {
    file: String,
    syntax: Vec<LocatedFinding>,
    cases: Vec<SpooledCase>,
}

/// The `yaml-syntax` case of a suite, when its file has syntax errors.
fn syntax_case(suite: &SpooledSuite) -> Option<JunitCase<'_>> {
    let first = suite.syntax.first()?;
    Some(JunitCase {
        name: "yaml-syntax".to_string(),
        line: first.line,
        findings: suite.syntax.iter().collect(),
        skipped: None,
    })
}

#[derive(Clone, Copy)]
struct SpooledCase {
    seq: usize,
    at: Spooled,
    fails: bool,
    skipped: bool,
}

impl<'w> JunitEmit<'w> {
    pub fn new(out: &'w mut dyn Write) -> Self {
        JunitEmit {
            out,
            spool: Spool::default(),
            suites: Vec::new(),
            suite_of_file: HashMap::new(),
            case_of_seq: HashMap::new(),
        }
    }

    fn suite(&mut self, file: &str) -> usize {
        if let Some(&suite) = self.suite_of_file.get(file) {
            return suite;
        }
        self.suites.push(SpooledSuite {
            file: file.to_string(),
            syntax: Vec::new(),
            cases: Vec::new(),
        });
        self.suite_of_file
            .insert(file.to_string(), self.suites.len() - 1);
        self.suites.len() - 1
    }

    /// Writes one StatefulSet's case to the spool.
    fn spool_case(
        &mut self,
        seq: usize,
        file: &str,
        object: Option<&ReviewedObject>,
        findings: &[LocatedFinding],
    ) -> io::Result<SpooledCase> {
        let findings: Vec<&LocatedFinding> = findings.iter().collect();
        let case = match object {
            Some(object) => object_case(object, findings),
            // Every StatefulSet is listed for JUnit; should one not be, its findings still are.
            None => JunitCase {
                name: findings
                    .first()
                    .and_then(|f| f.object.as_ref())
                    .map(|o| format!("{} {}/{}", o.kind, o.namespace, o.name))
                    .unwrap_or_else(|| "StatefulSet".to_string()),
                line: findings.first().map_or(1, |f| f.line),
                findings,
                skipped: None,
            },
        };
        let mut xml = String::new();
        write_case(&mut xml, &xml_attribute(file), &case);
        Ok(SpooledCase {
            seq,
            at: self.spool.append(xml.as_bytes())?,
            fails: case.fails(),
            skipped: case.skipped.is_some(),
        })
    }
}

impl Emit for JunitEmit<'_> {
    fn syntax(&mut self, finding: LocatedFinding) -> io::Result<()> {
        let suite = self.suite(&finding.file);
        self.suites[suite].syntax.push(finding);
        Ok(())
    }

    fn object(
        &mut self,
        seq: usize,
        file: &str,
        object: Option<ReviewedObject>,
        findings: Vec<LocatedFinding>,
    ) -> io::Result<()> {
        let case = self.spool_case(seq, file, object.as_ref(), &findings)?;
        let suite = self.suite(file);
        self.suites[suite].cases.push(case);
        self.case_of_seq
            .insert(seq, (suite, self.suites[suite].cases.len() - 1));
        Ok(())
    }

    fn again(
        &mut self,
        seq: usize,
        object: ReviewedObject,
        findings: Vec<LocatedFinding>,
    ) -> io::Result<()> {
        let file = object.file.clone();
        let case = self.spool_case(seq, &file, Some(&object), &findings)?;
        match self.case_of_seq.get(&seq) {
            Some(&(suite, index)) => self.suites[suite].cases[index] = case,
            None => {
                let suite = self.suite(&file);
                self.suites[suite].cases.push(case);
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, _files: usize, _tally: Tally) -> io::Result<()> {
        // Suites in the order of their first StatefulSet in the input; files with only
        // syntax errors last, in the order they were read (as `junit_suites`).
        let mut order: Vec<usize> = (0..self.suites.len()).collect();
        for suite in &mut self.suites {
            suite.cases.sort_by_key(|case| case.seq);
        }
        order.sort_by_key(|&i| {
            self.suites[i]
                .cases
                .first()
                .map_or((1, i), |case| (0, case.seq))
        });
        let mut total = Counts::default();
        let mut suite_counts = Vec::with_capacity(self.suites.len());
        for suite in &self.suites {
            let mut counts = Counts::default();
            if let Some(case) = syntax_case(suite) {
                counts.add(&case);
            }
            for case in &suite.cases {
                counts.tests += 1;
                counts.failures += usize::from(case.fails);
                counts.skipped += usize::from(case.skipped);
            }
            total = total.sum(counts);
            suite_counts.push(counts);
        }
        let mut spool = std::mem::take(&mut self.spool).into_reader()?;
        let mut xml = String::new();
        write_root_start(&mut xml, total);
        self.out.write_all(xml.as_bytes())?;
        for i in order {
            let suite = &self.suites[i];
            let file = xml_attribute(&suite.file);
            xml.clear();
            write_suite_start(&mut xml, &file, suite_counts[i]);
            if let Some(case) = syntax_case(suite) {
                write_case(&mut xml, &file, &case);
            }
            self.out.write_all(xml.as_bytes())?;
            for case in &suite.cases {
                self.out.write_all(spool.read(case.at)?)?;
            }
            self.out.write_all(b"  </testsuite>\n")?;
        }
        self.out.write_all(b"</testsuites>\n")?;
        self.out.flush()
    }
}

/// Groups the report into suites (per file) and test cases (per StatefulSet, plus one for
/// the file's syntax errors).
fn junit_suites<'a>(report: &'a Report) -> Vec<JunitSuite<'a>> {
    let mut suites: Vec<JunitSuite<'a>> = Vec::new();
    let mut suite_of_file: HashMap<&str, usize> = HashMap::new();
    let mut suite_index = |suites: &mut Vec<JunitSuite<'a>>, file: &'a str| {
        *suite_of_file.entry(file).or_insert_with(|| {
            suites.push(JunitSuite {
                file,
                syntax: None,
                objects: Vec::new(),
            });
            suites.len() - 1
        })
    };
    // (file, object) → (suite, case) of each StatefulSet, in input order. A file may
    // hold two objects of the same name (a mistake, but one to report on, not to crash on).
    let mut cases_of_object: HashMap<(&str, &ObjectRef), Vec<(usize, usize)>> = HashMap::new();
    for reviewed in &report.objects {
        let suite = suite_index(&mut suites, reviewed.file.as_str());
        let cases = &mut suites[suite].objects;
        cases.push(object_case(reviewed, Vec::new()));
        cases_of_object
            .entry((reviewed.file.as_str(), &reviewed.object))
            .or_default()
            .push((suite, cases.len() - 1));
    }
    for located in &report.findings {
        let suite = suite_index(&mut suites, located.file.as_str());
        let candidates = located
            .object
            .as_ref()
            .and_then(|object| cases_of_object.get(&(located.file.as_str(), object)));
        match candidates {
            Some(candidates) => {
                // The object of that name that starts last at or before the finding.
                let (suite, case) = candidates
                    .iter()
                    .rev()
                    .find(|(s, c)| suites[*s].objects[*c].line <= located.line)
                    .unwrap_or(&candidates[0]);
                suites[*suite].objects[*case].findings.push(located);
            }
            None => {
                // Findings about the input itself (yaml-syntax), or, should the report ever be
                // inconsistent, about an object that was not judged: never dropped.
                let name = match &located.object {
                    None => "yaml-syntax".to_string(),
                    Some(object) => format!("{} {}/{}", object.kind, object.namespace, object.name),
                };
                let suite = &mut suites[suite];
                let case = if located.object.is_none() {
                    suite.syntax.get_or_insert_with(|| JunitCase {
                        name,
                        line: located.line,
                        findings: Vec::new(),
                        skipped: None,
                    })
                } else {
                    suite.objects.push(JunitCase {
                        name,
                        line: located.line,
                        findings: Vec::new(),
                        skipped: None,
                    });
                    let last = suite.objects.len() - 1;
                    &mut suite.objects[last]
                };
                case.findings.push(located);
            }
        }
    }
    suites
}

/// The findings as the text format prints them, without colours.
fn finding_lines(findings: &[&LocatedFinding]) -> String {
    findings
        .iter()
        .map(|located| text::finding(located, Colors::plain()))
        .collect()
}

/// Character data for XML 1.0.
fn xml_text(text: &str) -> String {
    xml_escape(text, false)
}

/// An attribute value (in double quotes) for XML 1.0.
fn xml_attribute(text: &str) -> String {
    xml_escape(text, true)
}

fn xml_escape(text: &str, attribute: bool) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // Parsers turn a literal CR (and CR LF) into LF; a reference survives.
            '\r' => escaped.push_str("&#13;"),
            // Attribute-value normalisation turns literal newlines and tabs into spaces.
            '\n' if attribute => escaped.push_str("&#10;"),
            '\t' if attribute => escaped.push_str("&#9;"),
            // XML 1.0 forbids the other C0 controls and U+FFFE/U+FFFF even as references.
            c if !is_xml_char(c) => escaped.push(char::REPLACEMENT_CHARACTER),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The `Char` production of XML 1.0 (surrogates cannot occur in a `char`).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_quotes_and_forbidden_controls() {
        assert_eq!(
            xml_text("a < b && \"c\" > 'd'\u{1}\u{b}\u{fffe}\te\n"),
            "a &lt; b &amp;&amp; &quot;c&quot; &gt; &apos;d&apos;\u{fffd}\u{fffd}\u{fffd}\te\n"
        );
    }

    #[test]
    fn xml_attributes_keep_newlines_tabs_and_carriage_returns() {
        assert_eq!(xml_attribute("a\tb\r\nc"), "a&#9;b&#13;&#10;c");
        assert_eq!(xml_text("a\r\nb"), "a&#13;\nb");
    }

    #[test]
    fn xml_keeps_text_outside_ascii() {
        assert_eq!(xml_text("灰度发布 … \u{1F680}"), "灰度发布 … \u{1F680}");
    }
}

//! JUnit XML, for CI test reports: a test suite per input file, a test case per
//! StatefulSet.

use std::collections::HashMap;
use std::io::{self, Write};

use super::text::{self, Colors};
use super::wording::plural;
use crate::cli::report::{LocatedFinding, ObjectRef, Report};
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
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let tests: usize = suites.iter().map(|s| s.cases().count()).sum();
    let failures: usize = suites
        .iter()
        .map(|s| s.cases().filter(|c| c.fails()).count())
        .sum();
    let skipped: usize = suites
        .iter()
        .map(|s| s.cases().filter(|c| c.skipped.is_some()).count())
        .sum();
    xml.push_str(&format!(
        "<testsuites name=\"stsguard validate\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">\n"
    ));
    for suite in &suites {
        let file = xml_attribute(suite.file);
        xml.push_str(&format!(
            "  <testsuite name=\"{file}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\">\n",
            suite.cases().count(),
            suite.cases().filter(|c| c.fails()).count(),
            suite.cases().filter(|c| c.skipped.is_some()).count(),
        ));
        for case in suite.cases() {
            xml.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"{file}\" file=\"{file}\" line=\"{}\"",
                xml_attribute(&case.name),
                case.line
            ));
            if case.findings.is_empty() && case.skipped.is_none() {
                xml.push_str("/>\n");
                continue;
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
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    out.write_all(xml.as_bytes())
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
        cases.push(JunitCase {
            name: format!(
                "{} {}/{}",
                reviewed.object.kind, reviewed.object.namespace, reviewed.object.name
            ),
            line: reviewed.line,
            findings: Vec::new(),
            skipped: reviewed.not_judged.as_ref().map(|note| {
                let mut message = format!("not judged: {}", note.reason);
                if !note.hint().is_empty() {
                    message.push_str(&format!("; {}", note.hint()));
                }
                message
            }),
        });
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

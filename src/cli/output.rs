//! Output formats of `stsguard validate`: compiler-style text, the stable JSON report, SARIF
//! 2.1.0 for code-scanning upload, JUnit XML for CI test reports, and GitHub Actions workflow
//! commands (annotations).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use clap::ValueEnum;
use serde::Serialize;

use super::input::STDIN_NAME;
use super::validate::{LocatedFinding, ObjectRef, Report};
use crate::engine::Severity;
use crate::engine::rules::catalog::{self, Family};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Compiler style: `file:line:column: severity[rule]: message` and a `help:` line.
    Text,
    /// One JSON document (see the README for its shape).
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other static-analysis viewers.
    Sarif,
    /// JUnit XML: one test suite per input file, one test case per StatefulSet.
    Junit,
    /// GitHub Actions workflow commands (`::error file=…,line=…::`), one per finding.
    Github,
}

/// Writes the report in the chosen format.
pub fn write(out: &mut dyn Write, format: OutputFormat, report: &Report) -> io::Result<()> {
    match format {
        OutputFormat::Text => write_text(out, report, Colors::detect()),
        OutputFormat::Json => write_json(out, report),
        OutputFormat::Sarif => write_sarif(out, report),
        OutputFormat::Junit => write_junit(out, report),
        OutputFormat::Github => write_github(out, report),
    }
}

/// Terminal styles, or none (not a terminal, or `NO_COLOR` set).
#[derive(Clone, Copy)]
pub struct Colors {
    enabled: bool,
}

impl Colors {
    pub fn detect() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Colors {
            enabled: !no_color && io::stdout().is_terminal(),
        }
    }

    pub fn plain() -> Self {
        Colors { enabled: false }
    }

    fn paint(self, style: Style, text: &str) -> String {
        if self.enabled {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }
}

/// Compiler-style text.
pub fn write_text(out: &mut dyn Write, report: &Report, colors: Colors) -> io::Result<()> {
    let bold = Style::new().bold();
    for located in &report.findings {
        let finding = &located.finding;
        let severity_style = match finding.severity {
            Severity::Error => AnsiColor::Red.on_default().bold(),
            Severity::Warning => AnsiColor::Yellow.on_default().bold(),
        };
        writeln!(
            out,
            "{}: {}: {}",
            colors.paint(
                bold,
                &format!("{}:{}:{}", located.file, located.line, located.column)
            ),
            colors.paint(
                severity_style,
                &format!("{}[{}]", finding.severity, finding.rule)
            ),
            finding.message
        )?;
        if !finding.hint.is_empty() {
            writeln!(
                out,
                "  {} {}",
                colors.paint(AnsiColor::Cyan.on_default().bold(), "help:"),
                finding.hint
            )?;
        }
    }
    writeln!(out, "{}", summary_line(report))
}

/// The last line of the text and GitHub formats: `3 errors, 1 warning in 1 file (1 StatefulSet)`.
pub fn summary_line(report: &Report) -> String {
    let (errors, warnings) = (
        report.count(Severity::Error),
        report.count(Severity::Warning),
    );
    let objects = report.objects.len();
    format!(
        "{} {}, {} {} in {} {} ({} {})",
        errors,
        plural(errors, "error", "errors"),
        warnings,
        plural(warnings, "warning", "warnings"),
        report.files,
        plural(report.files, "file", "files"),
        objects,
        plural(objects, "StatefulSet", "StatefulSets"),
    )
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    findings: &'a [LocatedFinding],
    summary: Summary,
}

#[derive(Serialize)]
struct Summary {
    files: usize,
    objects: usize,
    errors: usize,
    warnings: usize,
}

/// The stable JSON shape (SPEC §5).
pub fn write_json(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let json = JsonReport {
        findings: &report.findings,
        summary: Summary {
            files: report.files,
            objects: report.objects.len(),
            errors: report.count(Severity::Error),
            warnings: report.count(Severity::Warning),
        },
    };
    serde_json::to_writer_pretty(&mut *out, &json)?;
    writeln!(out)
}

// SARIF 2.1.0 (OASIS), as GitHub code scanning reads it.

const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
const SARIF_VERSION: &str = "2.1.0";

/// The key of stsguard's partial fingerprint. Versioned, as SARIF advises for fingerprint
/// keys, so that a change of what is hashed takes a new key instead of silently
/// re-identifying every open alert.
const FINGERPRINT_KEY: &str = "stsguard/v1";

#[derive(Serialize)]
struct SarifLog {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [SarifRun; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifRun {
    tool: SarifTool,
    results: Vec<SarifResult>,
    /// Our columns count characters (`yaml::Location`), not SARIF's default UTF-16 code units.
    column_kind: &'static str,
}

#[derive(Serialize)]
struct SarifTool {
    driver: SarifDriver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifDriver {
    name: &'static str,
    version: &'static str,
    semantic_version: &'static str,
    rules: Vec<SarifRule>,
}

/// A `reportingDescriptor`: one per catalog rule.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifRule {
    id: &'static str,
    name: String,
    short_description: SarifText,
    full_description: SarifText,
    default_configuration: SarifConfiguration,
    help: SarifText,
    properties: SarifRuleProperties,
}

#[derive(Serialize)]
struct SarifText {
    text: String,
}

#[derive(Serialize)]
struct SarifConfiguration {
    level: &'static str,
}

#[derive(Serialize)]
struct SarifRuleProperties {
    tags: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    family: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: SarifText,
    locations: [SarifLocation; 1],
    partial_fingerprints: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Option<SarifResultProperties>,
}

#[derive(Serialize)]
struct SarifResultProperties {
    /// The finding's JSON Pointer into the object, as in the JSON format.
    path: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation {
    physical_location: SarifPhysicalLocation,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logical_locations: Vec<SarifLogicalLocation>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifPhysicalLocation {
    artifact_location: SarifArtifactLocation,
    region: SarifRegion,
}

#[derive(Serialize)]
struct SarifArtifactLocation {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<SarifText>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifRegion {
    start_line: usize,
    start_column: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLogicalLocation {
    name: String,
    fully_qualified_name: String,
    kind: &'static str,
}

/// SARIF 2.1.0: one run, every catalog rule as a `reportingDescriptor`, one result per
/// finding. Results carry a partial fingerprint over rule, file, object and JSON Pointer (not
/// the line), so code scanning keeps tracking an alert when lines above it move.
pub fn write_sarif(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let mut rules: Vec<SarifRule> = catalog::RULES.iter().map(sarif_rule).collect();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut results = Vec::with_capacity(report.findings.len());
    for located in &report.findings {
        let finding = &located.finding;
        let rule_index = match rules.iter().position(|rule| rule.id == finding.rule) {
            Some(index) => index,
            None => {
                // Not in the catalog (the catalog tests forbid it); still give it a descriptor,
                // since a result's ruleIndex must point at one.
                rules.push(sarif_unknown_rule(finding.rule, finding.severity));
                rules.len() - 1
            }
        };
        let uri = artifact_uri(&located.file);
        let qualified_name = located.object.as_ref().map(qualified_name);
        let identity = [
            finding.rule,
            uri.as_str(),
            // Without an object (yaml-syntax) the message is what tells findings apart.
            qualified_name.as_deref().unwrap_or(&finding.message),
            finding.path.as_str(),
        ]
        .join("\0");
        let occurrence = seen.entry(identity.clone()).or_insert(0);
        *occurrence += 1;
        let fingerprint = format!("{:016x}:{}", fnv1a_64(identity.as_bytes()), occurrence);
        results.push(SarifResult {
            rule_id: finding.rule,
            rule_index,
            level: finding.severity.as_str(),
            message: SarifText {
                text: message_with_hint(located),
            },
            locations: [SarifLocation {
                physical_location: SarifPhysicalLocation {
                    artifact_location: SarifArtifactLocation {
                        description: (located.file == STDIN_NAME).then(|| SarifText {
                            text: "standard input".into(),
                        }),
                        uri,
                    },
                    region: SarifRegion {
                        start_line: located.line.max(1),
                        start_column: located.column.max(1),
                    },
                },
                logical_locations: located
                    .object
                    .iter()
                    .zip(qualified_name)
                    .map(|(object, fully_qualified_name)| SarifLogicalLocation {
                        name: object.name.clone(),
                        fully_qualified_name,
                        kind: "object",
                    })
                    .collect(),
            }],
            partial_fingerprints: BTreeMap::from([(FINGERPRINT_KEY, fingerprint)]),
            properties: (!finding.path.is_empty()).then(|| SarifResultProperties {
                path: finding.path.clone(),
            }),
        });
    }
    let log = SarifLog {
        schema: SARIF_SCHEMA,
        version: SARIF_VERSION,
        runs: [SarifRun {
            tool: SarifTool {
                driver: SarifDriver {
                    name: "stsguard",
                    version: env!("CARGO_PKG_VERSION"),
                    semantic_version: env!("CARGO_PKG_VERSION"),
                    rules,
                },
            },
            results,
            column_kind: "unicodeCodePoints",
        }],
    };
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

fn sarif_rule(rule: &'static catalog::Rule) -> SarifRule {
    SarifRule {
        id: rule.id,
        name: pascal_case(rule.id),
        short_description: SarifText {
            text: rule.summary.to_string(),
        },
        full_description: SarifText {
            text: format!("Checks that {}. Otherwise {}.", rule.summary, rule.breaks),
        },
        default_configuration: SarifConfiguration {
            level: rule.severity.as_str(),
        },
        help: SarifText {
            text: explain_help(rule.id),
        },
        properties: SarifRuleProperties {
            tags: vec!["kubernetes", "statefulset", family_tag(rule.family)],
            family: Some(rule.family.title()),
        },
    }
}

fn sarif_unknown_rule(id: &'static str, severity: Severity) -> SarifRule {
    SarifRule {
        id,
        name: pascal_case(id),
        short_description: SarifText {
            text: format!("stsguard rule {id}"),
        },
        full_description: SarifText {
            text: format!("stsguard rule {id}."),
        },
        default_configuration: SarifConfiguration {
            level: severity.as_str(),
        },
        help: SarifText {
            text: explain_help(id),
        },
        properties: SarifRuleProperties {
            tags: vec!["kubernetes", "statefulset"],
            family: None,
        },
    }
}

fn explain_help(id: &str) -> String {
    format!("`stsguard explain {id}` tells what the rule checks, why, and how to fix it.")
}

fn family_tag(family: Family) -> &'static str {
    match family {
        Family::Syntax => "syntax",
        Family::Names => "names",
        Family::Volumes => "volumes",
        Family::Gpu => "gpu",
        Family::Spec => "spec",
        Family::Services => "services",
        Family::Update => "update",
    }
}

/// `volume-mount-unknown` → `VolumeMountUnknown`: SARIF wants a rule name that reads as an
/// identifier, and the id is taken by `id`.
fn pascal_case(id: &str) -> String {
    id.split('-')
        .flat_map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
        })
        .collect()
}

/// `StatefulSet/namespace/name`.
fn qualified_name(object: &ObjectRef) -> String {
    format!("{}/{}/{}", object.kind, object.namespace, object.name)
}

/// The finding's message, and on a line of its own the hint (`help: …`), as in the text format.
fn message_with_hint(located: &LocatedFinding) -> String {
    let finding = &located.finding;
    if finding.hint.is_empty() {
        finding.message.clone()
    } else {
        format!("{}\nhelp: {}", finding.message, finding.hint)
    }
}

/// The SARIF `artifactLocation.uri` of a reported file name: a relative reference for a
/// relative path (code scanning resolves it against the repository root), a `file:` URI for
/// an absolute one, and `stdin` for standard input, which has no URI of its own.
fn artifact_uri(file: &str) -> String {
    if file == STDIN_NAME {
        return "stdin".into();
    }
    path_to_uri(file, cfg!(windows))
}

fn path_to_uri(path: &str, windows: bool) -> String {
    let path = if windows {
        path.replace('\\', "/")
    } else {
        path.to_string()
    };
    let bytes = path.as_bytes();
    let has_drive =
        windows && bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if has_drive {
        // `C:/x` → `file:///C:/x`; the drive's colon stays as it is.
        format!("file:///{}{}", &path[..2], percent_encode_path(&path[2..]))
    } else if path.starts_with("//") {
        // A UNC path `//server/share/x` → `file://server/share/x`.
        format!("file:{}", percent_encode_path(&path))
    } else if path.starts_with('/') {
        format!("file://{}", percent_encode_path(&path))
    } else {
        percent_encode_path(&path)
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `/`. (`:` is encoded
/// too: in the first segment of a relative reference it would read as a scheme.)
fn percent_encode_path(path: &str) -> String {
    let mut encoded = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// FNV-1a, 64 bits: tiny, and unlike `std`'s hashers stable across Rust releases, which a
/// fingerprint stored by code scanning needs.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

// JUnit XML.

/// One `<testcase>`: a judged StatefulSet, or the YAML syntax of one file.
struct JunitCase<'a> {
    name: String,
    line: usize,
    findings: Vec<&'a LocatedFinding>,
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
/// - `errors` and `skipped` are always 0: a finding is a test failure, not a test error.
pub fn write_junit(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let suites = junit_suites(report);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let tests: usize = suites.iter().map(|s| s.cases().count()).sum();
    let failures: usize = suites
        .iter()
        .map(|s| s.cases().filter(|c| c.fails()).count())
        .sum();
    xml.push_str(&format!(
        "<testsuites name=\"stsguard validate\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n"
    ));
    for suite in &suites {
        let file = xml_attribute(suite.file);
        xml.push_str(&format!(
            "  <testsuite name=\"{file}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\">\n",
            suite.cases().count(),
            suite.cases().filter(|c| c.fails()).count(),
        ));
        for case in suite.cases() {
            xml.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"{file}\" file=\"{file}\" line=\"{}\"",
                xml_attribute(&case.name),
                case.line
            ));
            if case.findings.is_empty() {
                xml.push_str("/>\n");
                continue;
            }
            xml.push_str(">\n");
            let (errors, warnings): (Vec<&LocatedFinding>, Vec<&LocatedFinding>) = case
                .findings
                .iter()
                .partition(|f| f.finding.severity == Severity::Error);
            if !errors.is_empty() {
                let mut rules: Vec<&str> = Vec::new();
                for located in &errors {
                    if !rules.contains(&located.finding.rule) {
                        rules.push(located.finding.rule);
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
    // (file, object) → (suite, case) of each judged StatefulSet, in input order. A file may
    // hold two objects of the same name (a mistake, but one to report on, not to crash on).
    let mut cases_of_object: HashMap<(&str, &ObjectRef), Vec<(usize, usize)>> = HashMap::new();
    for judged in &report.objects {
        let suite = suite_index(&mut suites, judged.file.as_str());
        let cases = &mut suites[suite].objects;
        cases.push(JunitCase {
            name: format!(
                "{} {}/{}",
                judged.object.kind, judged.object.namespace, judged.object.name
            ),
            line: judged.line,
            findings: Vec::new(),
        });
        cases_of_object
            .entry((judged.file.as_str(), &judged.object))
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
                    })
                } else {
                    suite.objects.push(JunitCase {
                        name,
                        line: located.line,
                        findings: Vec::new(),
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

/// Findings in the text format's style, one `help:` line under each.
fn finding_lines(findings: &[&LocatedFinding]) -> String {
    let mut text = String::new();
    for located in findings {
        let finding = &located.finding;
        text.push_str(&format!(
            "{}:{}:{}: {}[{}]: {}\n",
            located.file,
            located.line,
            located.column,
            finding.severity,
            finding.rule,
            finding.message
        ));
        if !finding.hint.is_empty() {
            text.push_str(&format!("  help: {}\n", finding.hint));
        }
    }
    text
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

// GitHub Actions workflow commands.

/// One workflow command per finding, which GitHub shows as an annotation on the file and line
/// (`::error file=web.yaml,line=27,col=11,title=volume-mount-unknown::message%0Ahelp: hint`),
/// then the text format's summary line. Findings on stdin have no file to point at: their
/// annotation carries no location, and the message starts with `<stdin>:line:column:`.
pub fn write_github(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    for located in &report.findings {
        let finding = &located.finding;
        let command = match finding.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let message = message_with_hint(located);
        if located.file == STDIN_NAME {
            writeln!(
                out,
                "::{command} title={}::{}",
                github_property(finding.rule),
                github_data(&format!(
                    "{}:{}:{}: {message}",
                    located.file, located.line, located.column
                ))
            )?;
        } else {
            writeln!(
                out,
                "::{command} file={},line={},col={},title={}::{}",
                github_property(&located.file),
                located.line,
                located.column,
                github_property(finding.rule),
                github_data(&message)
            )?;
        }
    }
    writeln!(out, "{}", summary_line(report))
}

/// The message of a workflow command: `%`, CR and LF are escaped (as GitHub's
/// `@actions/core` does), so a multi-line message stays one command.
fn github_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value of a workflow command: additionally `:` and `,`, which end the value.
fn github_property(text: &str) -> String {
    github_data(text).replace(':', "%3A").replace(',', "%2C")
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

    #[test]
    fn github_escapes_message_data() {
        assert_eq!(github_data("100% a: b, c\r\nd"), "100%25 a: b, c%0D%0Ad");
    }

    #[test]
    fn github_escapes_property_values() {
        assert_eq!(github_property("C:\\x,y%\nz"), "C%3A\\x%2Cy%25%0Az");
    }

    #[test]
    fn relative_paths_become_relative_references() {
        assert_eq!(
            path_to_uri("tests/data/web.yaml", false),
            "tests/data/web.yaml"
        );
        assert_eq!(
            path_to_uri("my dir/a:b#1?.yaml", false),
            "my%20dir/a%3Ab%231%3F.yaml"
        );
        assert_eq!(path_to_uri("灰度.yaml", false), "%E7%81%B0%E5%BA%A6.yaml");
    }

    #[test]
    fn absolute_paths_become_file_uris() {
        assert_eq!(
            path_to_uri("/srv/k8s/web.yaml", false),
            "file:///srv/k8s/web.yaml"
        );
        assert_eq!(
            path_to_uri("C:\\k8s\\web app.yaml", true),
            "file:///C:/k8s/web%20app.yaml"
        );
        assert_eq!(
            path_to_uri("\\\\server\\share\\web.yaml", true),
            "file://server/share/web.yaml"
        );
        assert_eq!(path_to_uri("k8s\\web.yaml", true), "k8s/web.yaml");
        // On Unix a backslash is part of the name.
        assert_eq!(path_to_uri("k8s\\web.yaml", false), "k8s%5Cweb.yaml");
    }

    #[test]
    fn stdin_has_its_own_uri() {
        assert_eq!(artifact_uri(STDIN_NAME), "stdin");
    }

    #[test]
    fn rule_names_are_pascal_case() {
        assert_eq!(pascal_case("volume-mount-unknown"), "VolumeMountUnknown");
        assert_eq!(pascal_case("gpu-vgpu"), "GpuVgpu");
    }

    #[test]
    fn fingerprint_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors: a stored fingerprint must never change meaning.
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}

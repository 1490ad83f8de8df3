//! Output formats of `stsguard validate`: compiler-style text, the stable JSON report, SARIF
//! 2.1.0 for code-scanning upload, JUnit XML for CI test reports, and GitHub Actions workflow
//! commands (annotations).

use std::collections::{BTreeMap, HashMap};
use std::io::{self, IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use clap::ValueEnum;
use serde::Serialize;

use super::input::STDIN_NAME;
use super::validate::{LocatedFinding, NotJudgedNote, ObjectRef, Report, ReviewedObject};
use crate::engine::rules::catalog::{self, Family};
use crate::engine::{NotJudged, Severity};

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
    // After the findings, next to the summary that counts them: a note is not a finding.
    for (object, note) in report.not_judged() {
        writeln!(
            out,
            "{}: {}: {}",
            colors.paint(
                bold,
                &format!("{}:{}:{}", object.file, note.line, note.column)
            ),
            colors.paint(AnsiColor::Green.on_default().bold(), "note"),
            not_judged_message(object, note)
        )?;
        if !note.hint().is_empty() {
            writeln!(
                out,
                "  {} {}",
                colors.paint(AnsiColor::Cyan.on_default().bold(), "help:"),
                note.hint()
            )?;
        }
    }
    writeln!(out, "{}", summary_line(report))
}

/// The last line of the text and GitHub formats: `3 errors, 1 warning in 1 file (1 StatefulSet)`,
/// followed, when StatefulSets were not judged, by how many and why (`; 1 StatefulSet not
/// judged: namespace kube-system is exempt in the policy (--include-exempt judges it)`).
pub fn summary_line(report: &Report) -> String {
    let (errors, warnings) = (
        report.count(Severity::Error),
        report.count(Severity::Warning),
    );
    let objects = report.objects.len();
    let mut line = format!(
        "{} {}, {} {} in {} {} ({} {})",
        errors,
        plural(errors, "error", "errors"),
        warnings,
        plural(warnings, "warning", "warnings"),
        report.files,
        plural(report.files, "file", "files"),
        objects,
        plural(objects, "StatefulSet", "StatefulSets"),
    );
    if let Some(not_judged) = not_judged_summary(report) {
        line.push_str("; ");
        line.push_str(&not_judged);
    }
    line
}

/// `2 StatefulSets not judged: namespaces kube-system, kube-public are exempt in the policy
/// (--include-exempt judges them)`, or `None` when every StatefulSet was judged.
fn not_judged_summary(report: &Report) -> Option<String> {
    // More names than this make the summary a paragraph; the notes above list every object.
    const NAMESPACES_SHOWN: usize = 5;
    let mut count = 0;
    let mut exempt = 0;
    let mut namespaces: Vec<&str> = Vec::new();
    let mut other_reasons: Vec<String> = Vec::new();
    for (_, note) in report.not_judged() {
        count += 1;
        match &note.reason {
            NotJudged::ExemptNamespace { namespace, .. } => {
                exempt += 1;
                if !namespaces.contains(&namespace.as_str()) {
                    namespaces.push(namespace);
                }
            }
            reason => {
                let reason = reason.to_string();
                if !other_reasons.contains(&reason) {
                    other_reasons.push(reason);
                }
            }
        }
    }
    if count == 0 {
        return None;
    }
    let mut reasons = Vec::new();
    if !namespaces.is_empty() {
        let mut names = namespaces
            .iter()
            .take(NAMESPACES_SHOWN)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if namespaces.len() > NAMESPACES_SHOWN {
            names.push_str(&format!(
                " and {} more",
                namespaces.len() - NAMESPACES_SHOWN
            ));
        }
        reasons.push(format!(
            "{} {names} {} exempt in the policy (--include-exempt judges {})",
            plural(namespaces.len(), "namespace", "namespaces"),
            plural(namespaces.len(), "is", "are"),
            plural(exempt, "it", "them"),
        ));
    }
    reasons.extend(other_reasons);
    Some(format!(
        "{count} {} not judged: {}",
        plural(count, "StatefulSet", "StatefulSets"),
        reasons.join("; ")
    ))
}

/// `StatefulSet kube-system/web not judged: namespace kube-system is exempt in the policy
/// (exemptNamespaces: kube-system)`: the text note, and the SARIF and GitHub message.
fn not_judged_message(object: &ReviewedObject, note: &NotJudgedNote) -> String {
    format!(
        "{} {}/{} not judged: {}",
        object.object.kind, object.object.namespace, object.object.name, note.reason
    )
}

/// [`not_judged_message`] and on a line of its own the hint, as in the text format.
fn not_judged_message_with_hint(object: &ReviewedObject, note: &NotJudgedNote) -> String {
    let message = not_judged_message(object, note);
    if note.hint().is_empty() {
        message
    } else {
        format!("{message}\nhelp: {}", note.hint())
    }
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

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
            objects: report.objects.len(),
            errors: report.count(Severity::Error),
            warnings: report.count(Severity::Warning),
            not_judged: not_judged.len(),
        },
        not_judged,
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
    /// Written only when there is something to say (StatefulSets not judged).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    invocations: Vec<SarifInvocation>,
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
    /// The descriptors of the notifications in `invocations`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notifications: Vec<SarifNotificationDescriptor>,
}

/// A `reportingDescriptor` for a kind of notification (not a rule: nothing is wrong).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifNotificationDescriptor {
    id: &'static str,
    name: String,
    short_description: SarifText,
    default_configuration: SarifConfiguration,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifInvocation {
    execution_successful: bool,
    tool_execution_notifications: Vec<SarifNotification>,
}

#[derive(Serialize)]
struct SarifNotification {
    descriptor: SarifDescriptorReference,
    level: &'static str,
    message: SarifText,
    locations: [SarifLocation; 1],
}

#[derive(Serialize)]
struct SarifDescriptorReference {
    id: &'static str,
    index: usize,
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
            locations: [sarif_location(
                &located.file,
                located.line,
                located.column,
                located.object.as_ref(),
            )],
            partial_fingerprints: BTreeMap::from([(FINGERPRINT_KEY, fingerprint)]),
            properties: (!finding.path.is_empty()).then(|| SarifResultProperties {
                path: finding.path.clone(),
            }),
        });
    }
    let (notifications, notification_descriptors) = sarif_not_judged(report);
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
                    notifications: notification_descriptors,
                },
            },
            invocations: if notifications.is_empty() {
                Vec::new()
            } else {
                vec![SarifInvocation {
                    execution_successful: true,
                    tool_execution_notifications: notifications,
                }]
            },
            results,
            column_kind: "unicodeCodePoints",
        }],
    };
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

/// A location in a file, with the object as a logical location when there is one.
fn sarif_location(
    file: &str,
    line: usize,
    column: usize,
    object: Option<&ObjectRef>,
) -> SarifLocation {
    SarifLocation {
        physical_location: SarifPhysicalLocation {
            artifact_location: SarifArtifactLocation {
                description: (file == STDIN_NAME).then(|| SarifText {
                    text: "standard input".into(),
                }),
                uri: artifact_uri(file),
            },
            region: SarifRegion {
                start_line: line.max(1),
                start_column: column.max(1),
            },
        },
        logical_locations: object
            .map(|object| SarifLogicalLocation {
                name: object.name.clone(),
                fully_qualified_name: qualified_name(object),
                kind: "object",
            })
            .into_iter()
            .collect(),
    }
}

/// The StatefulSets that were not judged, as `toolExecutionNotifications` of level `note`
/// (one per object, located like a result), and the descriptors they refer to.
///
/// Not results: GitHub code scanning ignores a result's `kind` and opens an alert for every
/// result, so a `notApplicable` result would become an alert about nothing wrong; and
/// `notApplicable` says that one rule does not apply, whereas here no rule ran at all.
/// A notification describes the run itself, which is what "this object was skipped" is, and
/// viewers that show a run's notifications show these without raising alerts.
fn sarif_not_judged(report: &Report) -> (Vec<SarifNotification>, Vec<SarifNotificationDescriptor>) {
    let mut descriptors: Vec<SarifNotificationDescriptor> = Vec::new();
    let mut notifications = Vec::new();
    for (object, note) in report.not_judged() {
        let id = note.reason.id();
        let index = match descriptors.iter().position(|d| d.id == id) {
            Some(index) => index,
            None => {
                descriptors.push(SarifNotificationDescriptor {
                    id,
                    name: pascal_case(id),
                    short_description: SarifText {
                        text: not_judged_description(&note.reason).into(),
                    },
                    default_configuration: SarifConfiguration { level: "note" },
                });
                descriptors.len() - 1
            }
        };
        notifications.push(SarifNotification {
            descriptor: SarifDescriptorReference { id, index },
            // A notification's level defaults to `warning`: say `note`, since nothing is wrong.
            level: "note",
            message: SarifText {
                text: not_judged_message_with_hint(object, note),
            },
            locations: [sarif_location(
                &object.file,
                note.line,
                note.column,
                Some(&object.object),
            )],
        });
    }
    (notifications, descriptors)
}

fn not_judged_description(reason: &NotJudged) -> &'static str {
    match reason {
        NotJudged::ExemptNamespace { .. } => {
            "A StatefulSet in a namespace the policy exempts (exemptNamespaces) was not judged."
        }
        NotJudged::Operation(_) => "A DELETE or CONNECT is never judged.",
    }
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
        Family::Cluster => "cluster",
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
/// then one `::notice` per StatefulSet that was not judged (titled with the reason, such as
/// `exempt-namespace`), then the text format's summary line. Annotations on stdin have no
/// file to point at: they carry no location, and the message starts with
/// `<stdin>:line:column:`.
pub fn write_github(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    for located in &report.findings {
        let finding = &located.finding;
        let command = match finding.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let at = (located.file.as_str(), located.line, located.column);
        github_command(out, command, at, finding.rule, &message_with_hint(located))?;
    }
    for (object, note) in report.not_judged() {
        let at = (object.file.as_str(), note.line, note.column);
        let message = not_judged_message_with_hint(object, note);
        github_command(out, "notice", at, note.reason.id(), &message)?;
    }
    writeln!(out, "{}", summary_line(report))
}

/// One workflow command (`error`, `warning`, `notice`) at `(file, line, column)`.
fn github_command(
    out: &mut dyn Write,
    command: &str,
    (file, line, column): (&str, usize, usize),
    title: &str,
    message: &str,
) -> io::Result<()> {
    if file == STDIN_NAME {
        writeln!(
            out,
            "::{command} title={}::{}",
            github_property(title),
            github_data(&format!("{file}:{line}:{column}: {message}"))
        )
    } else {
        writeln!(
            out,
            "::{command} file={},line={line},col={column},title={}::{}",
            github_property(file),
            github_property(title),
            github_data(message)
        )
    }
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

    /// A report of StatefulSets in these namespaces, `None` for one that was judged.
    fn report_of(namespaces: &[Option<&str>]) -> Report {
        let objects = namespaces
            .iter()
            .enumerate()
            .map(|(i, exempt)| ReviewedObject {
                file: "a.yaml".into(),
                line: i + 1,
                column: 1,
                object: ObjectRef {
                    kind: "StatefulSet".into(),
                    namespace: exempt.unwrap_or("default").into(),
                    name: format!("s{i}"),
                },
                errors: 0,
                warnings: 0,
                not_judged: exempt.map(|namespace| NotJudgedNote {
                    line: i + 1,
                    column: 1,
                    reason: NotJudged::ExemptNamespace {
                        namespace: namespace.into(),
                        pattern: "*".into(),
                    },
                }),
            })
            .collect();
        Report {
            files: 1,
            objects,
            findings: Vec::new(),
        }
    }

    #[test]
    fn summary_says_nothing_of_exemptions_when_all_were_judged() {
        assert_eq!(
            summary_line(&report_of(&[None, None])),
            "0 errors, 0 warnings in 1 file (2 StatefulSets)"
        );
    }

    #[test]
    fn summary_names_each_exempt_namespace_once() {
        assert_eq!(
            summary_line(&report_of(&[
                Some("kube-system"),
                None,
                Some("kube-system")
            ])),
            "0 errors, 0 warnings in 1 file (3 StatefulSets); 2 StatefulSets not judged: \
             namespace kube-system is exempt in the policy (--include-exempt judges them)"
        );
        assert_eq!(
            summary_line(&report_of(&[Some("kube-system"), Some("kube-public")])),
            "0 errors, 0 warnings in 1 file (2 StatefulSets); 2 StatefulSets not judged: \
             namespaces kube-system, kube-public are exempt in the policy (--include-exempt judges them)"
        );
    }

    #[test]
    fn summary_keeps_long_namespace_lists_short() {
        let namespaces = ["a", "b", "c", "d", "e", "f", "g"].map(Some);
        assert!(
            summary_line(&report_of(&namespaces))
                .ends_with("namespaces a, b, c, d, e and 2 more are exempt in the policy (--include-exempt judges them)")
        );
    }

    #[test]
    fn fingerprint_hash_is_fnv1a() {
        // Published FNV-1a 64 test vectors: a stored fingerprint must never change meaning.
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}

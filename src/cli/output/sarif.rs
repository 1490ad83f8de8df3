//! SARIF 2.1.0 (OASIS), as GitHub code scanning reads it: one run, every catalog rule as a
//! `reportingDescriptor`, one result per finding, and the StatefulSets that were not judged
//! as notifications of the run.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use serde::Serialize;

use super::wording::{message_with_hint, not_judged_message_with_hint};
use super::{Listed, Spool, Spooled};
use crate::cli::input::STDIN_NAME;
use crate::cli::report::{Emit, LocatedFinding, ObjectRef, Report, ReviewedObject, Tally};
use crate::engine::NotJudged;
use crate::engine::rules::catalog::{self, Family};

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
    let mut results = Occurrences::default();
    let mut items = Vec::new();
    for located in &report.findings {
        let (item, identity) = result_item(located)?;
        let parts = [(identity, item.len())];
        items.extend_from_slice(&results.fill(&item, &parts, items.is_empty()));
    }
    write_log(out, report, &items)
}

/// The log around its results (`items`, the array's items as [`Occurrences::fill`] gives
/// them): the runs's tool, its notifications on the StatefulSets not judged, and so on.
fn write_log(out: &mut dyn Write, report: &Report, items: &[u8]) -> io::Result<()> {
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
                    rules: catalog::RULES.iter().map(sarif_rule).collect(),
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
            results: Vec::new(),
            column_kind: "unicodeCodePoints",
        }],
    };
    // The log is printed with no result, and the results go where its empty array is: a
    // key in raw quotes is nowhere else (quotes inside strings are escaped).
    let log = serde_json::to_vec_pretty(&log)?;
    const EMPTY: &[u8] = b"\"results\": []";
    let at = log
        .windows(EMPTY.len())
        .position(|window| window == EMPTY)
        .ok_or_else(|| io::Error::other("the SARIF log has no results array"))?;
    out.write_all(&log[..at + EMPTY.len() - 1])?;
    if !items.is_empty() {
        out.write_all(items)?;
        out.write_all(b"\n      ")?;
    }
    out.write_all(&log[at + EMPTY.len() - 1..])?;
    writeln!(out)
}

/// What stands for a result's fingerprint until its occurrence is known: the results are
/// numbered in report order, which for `validate` is known only at the end.
const FINGERPRINT_PLACEHOLDER: &str = "\u{1}fingerprint\u{1}";

/// One finding as an item of the `results` array (pretty printed at its depth, without
/// separator), its fingerprint a placeholder; and the hash of what identifies it.
fn result_item(located: &LocatedFinding) -> io::Result<(Vec<u8>, u64)> {
    let finding = &located.finding;
    let uri = artifact_uri(&located.file);
    let qualified_name = located.object.as_ref().map(qualified_name);
    let identity = [
        finding.rule.id(),
        uri.as_str(),
        // Without an object (yaml-syntax) the message is what tells findings apart.
        qualified_name.as_deref().unwrap_or(&finding.message),
        finding.path.as_str(),
    ]
    .join("\0");
    let result = SarifResult {
        rule_id: finding.rule.id(),
        // `rules` holds every record in catalog order, the order of `RuleId`.
        rule_index: finding.rule as usize,
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
        partial_fingerprints: BTreeMap::from([(
            FINGERPRINT_KEY,
            FINGERPRINT_PLACEHOLDER.to_string(),
        )]),
        properties: (!finding.path.is_empty()).then(|| SarifResultProperties {
            path: finding.path.clone(),
        }),
    };
    let mut item = Vec::new();
    for (i, line) in serde_json::to_vec_pretty(&result)?
        .split(|&b| b == b'\n')
        .enumerate()
    {
        if i > 0 {
            item.push(b'\n');
        }
        item.extend_from_slice(b"        ");
        item.extend_from_slice(line);
    }
    Ok((item, fnv1a_64(identity.as_bytes())))
}

/// How many results of each identity were numbered so far: the `n` of a fingerprint
/// `hash:n`, which tells apart findings that are the same but for their place.
#[derive(Default)]
struct Occurrences(HashMap<u64, usize>);

impl Occurrences {
    /// Results from [`result_item`], concatenated (`parts`: each one's identity and length),
    /// with their fingerprints filled in, in order, each after its separator (none before the
    /// first result of the log).
    fn fill(&mut self, items: &[u8], parts: &[(u64, usize)], first: bool) -> Vec<u8> {
        let placeholder = [
            b"\"",
            FINGERPRINT_KEY.as_bytes(),
            b"\": ",
            &serde_json::to_vec(FINGERPRINT_PLACEHOLDER).unwrap_or_default(),
        ]
        .concat();
        let mut out = Vec::with_capacity(items.len() + parts.len() * 24);
        let mut rest = items;
        for (i, &(identity, len)) in parts.iter().enumerate() {
            let (item, after) = rest.split_at(len.min(rest.len()));
            rest = after;
            out.extend_from_slice(if first && i == 0 { b"\n" } else { b",\n" });
            let Some(at) = item
                .windows(placeholder.len())
                .position(|window| window == placeholder.as_slice())
            else {
                out.extend_from_slice(item);
                continue;
            };
            let occurrence = self.0.entry(identity).or_insert(0);
            *occurrence += 1;
            out.extend_from_slice(&item[..at]);
            out.extend_from_slice(
                format!("\"{FINGERPRINT_KEY}\": \"{identity:016x}:{occurrence}\"").as_bytes(),
            );
            out.extend_from_slice(&item[at + placeholder.len()..]);
        }
        out
    }
}

/// SARIF as `validate` reads its input: each StatefulSet's results are printed into a
/// temporary file as it is judged (fingerprints left open), and the log is put together at
/// the end, in input order (the `yaml-syntax` findings first), when the results can be
/// numbered and the StatefulSets not judged are known. Memory holds where each StatefulSet's
/// results are and what identifies them, not the findings: the log is the one
/// [`write_sarif`] writes for the same report.
pub struct SarifEmit<'w> {
    out: &'w mut dyn Write,
    spool: Spool,
    syntax: Vec<LocatedFinding>,
    /// Each StatefulSet's results in the spool, and the identity and length of each, by
    /// place in the input.
    objects: BTreeMap<usize, (Spooled, Vec<(u64, usize)>)>,
    listed: Listed,
}

impl<'w> SarifEmit<'w> {
    pub fn new(out: &'w mut dyn Write) -> Self {
        SarifEmit {
            out,
            spool: Spool::default(),
            syntax: Vec::new(),
            objects: BTreeMap::new(),
            listed: Listed::default(),
        }
    }

    fn spool_results(&mut self, seq: usize, findings: &[LocatedFinding]) -> io::Result<()> {
        if findings.is_empty() {
            self.objects.remove(&seq);
            return Ok(());
        }
        let mut items = Vec::new();
        let mut parts = Vec::with_capacity(findings.len());
        for located in findings {
            let (item, identity) = result_item(located)?;
            items.extend_from_slice(&item);
            parts.push((identity, item.len()));
        }
        let spooled = self.spool.append(&items)?;
        self.objects.insert(seq, (spooled, parts));
        Ok(())
    }
}

impl Emit for SarifEmit<'_> {
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
        self.spool_results(seq, &findings)
    }

    fn again(
        &mut self,
        seq: usize,
        _object: ReviewedObject,
        findings: Vec<LocatedFinding>,
    ) -> io::Result<()> {
        self.spool_results(seq, &findings)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, files: usize, _tally: Tally) -> io::Result<()> {
        let listed = self.listed.take_report(files);
        if self.syntax.is_empty() && self.objects.is_empty() {
            write_log(self.out, &listed, &[])?;
            return self.out.flush();
        }
        // The log's head (its notifications on the StatefulSets not judged, known now), then
        // the results in input order, numbered as they go, then the rest of the log.
        let mut log = Vec::new();
        write_log(&mut log, &listed, b"\x00")?;
        // A raw NUL is nowhere else in JSON text: it marks where the items go.
        let at = log
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| io::Error::other("the SARIF log has no results array"))?;
        self.out.write_all(&log[..at])?;
        let mut occurrences = Occurrences::default();
        let mut first = true;
        for located in &self.syntax {
            let (item, identity) = result_item(located)?;
            let parts = [(identity, item.len())];
            self.out
                .write_all(&occurrences.fill(&item, &parts, first))?;
            first = false;
        }
        let mut spool = std::mem::take(&mut self.spool).into_reader()?;
        for (piece, parts) in self.objects.values() {
            let items = spool.read(*piece)?;
            self.out.write_all(&occurrences.fill(items, parts, first))?;
            first = false;
        }
        self.out.write_all(&log[at + 1..])?;
        self.out.flush()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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

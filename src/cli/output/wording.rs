//! The wording several output formats share: the summary line, the note on a StatefulSet
//! that was not judged, a message with its hint. Written once, so that the formats cannot
//! drift apart.

use crate::cli::report::{LocatedFinding, NotJudgedNote, Report, ReviewedObject, Tally};
use crate::engine::NotJudged;

/// The last line of the text and GitHub formats: `3 errors, 1 warning in 1 file (1 StatefulSet)`,
/// followed, when StatefulSets were not judged, by how many and why (`; 1 StatefulSet not
/// judged: namespace kube-system is exempt in the policy (--include-exempt judges it)`).
pub(super) fn summary_line(report: &Report, tally: Tally) -> String {
    let Tally { errors, warnings } = tally;
    let objects = report.object_count();
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
pub(super) fn not_judged_message(object: &ReviewedObject, note: &NotJudgedNote) -> String {
    format!(
        "{} {}/{} not judged: {}",
        object.object.kind, object.object.namespace, object.object.name, note.reason
    )
}

/// [`not_judged_message`] and on a line of its own the hint, as in the text format.
pub(super) fn not_judged_message_with_hint(
    object: &ReviewedObject,
    note: &NotJudgedNote,
) -> String {
    let message = not_judged_message(object, note);
    if note.hint().is_empty() {
        message
    } else {
        format!("{message}\nhelp: {}", note.hint())
    }
}

pub(super) fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// The finding's message, and on a line of its own the hint (`help: …`), as in the text format.
pub(super) fn message_with_hint(located: &LocatedFinding) -> String {
    let finding = &located.finding;
    if finding.hint.is_empty() {
        finding.message.clone()
    } else {
        format!("{}\nhelp: {}", finding.message, finding.hint)
    }
}

/// The note before the findings of a StatefulSet judged again at the end of the input.
pub(super) fn judged_again_message(object: &ReviewedObject) -> String {
    format!(
        "{} {}/{} judged again at the end of the input: a later document redefines the Service \
         it was judged with; the findings below replace the ones printed for it before",
        object.object.kind, object.object.namespace, object.object.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::report::ObjectRef;

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
            ..Report::default()
        }
    }

    #[test]
    fn summary_says_nothing_of_exemptions_when_all_were_judged() {
        assert_eq!(
            summary_line(&report_of(&[None, None]), Tally::default()),
            "0 errors, 0 warnings in 1 file (2 StatefulSets)"
        );
    }

    #[test]
    fn summary_names_each_exempt_namespace_once() {
        assert_eq!(
            summary_line(
                &report_of(&[Some("kube-system"), None, Some("kube-system")]),
                Tally::default()
            ),
            "0 errors, 0 warnings in 1 file (3 StatefulSets); 2 StatefulSets not judged: \
             namespace kube-system is exempt in the policy (--include-exempt judges them)"
        );
        assert_eq!(
            summary_line(
                &report_of(&[Some("kube-system"), Some("kube-public")]),
                Tally::default()
            ),
            "0 errors, 0 warnings in 1 file (2 StatefulSets); 2 StatefulSets not judged: \
             namespaces kube-system, kube-public are exempt in the policy (--include-exempt judges them)"
        );
    }

    #[test]
    fn summary_keeps_long_namespace_lists_short() {
        let namespaces = ["a", "b", "c", "d", "e", "f", "g"].map(Some);
        assert!(
            summary_line(&report_of(&namespaces), Tally::default())
                .ends_with("namespaces a, b, c, d, e and 2 more are exempt in the policy (--include-exempt judges them)")
        );
    }
}

//! What stsguard says: the message of a denial and the warnings, within what the API
//! server passes on.

use std::fmt::Write as _;

use crate::engine::Finding;

/// Kubernetes documents warnings of at most 120 characters; longer ones may be cut.
pub const MAX_WARNING_LEN: usize = 120;
/// Total size of all warnings of one response, beyond which the API server truncates them.
pub const MAX_WARNINGS_TOTAL: usize = 4096;
/// A denial message that lists thousands of findings helps nobody and costs the API server
/// memory; past this size the message says how many more there are.
pub const MAX_MESSAGE_LEN: usize = 32 * 1024;

/// The audit annotation listing the defaults `/mutate` applied (the API server prefixes
/// it with the webhook's name).
pub const AUDIT_DEFAULTED: &str = "defaulted";

/// `status.message` of a denial: every error finding with rule, path, message and fix.
pub(crate) fn denial_message(name: &str, namespace: &str, errors: &[&Finding]) -> String {
    let count = match errors.len() {
        1 => "1 error".to_string(),
        n => format!("{n} errors"),
    };
    let mut message = format!("StatefulSet {namespace}/{name} has {count}:");
    for (shown, finding) in errors.iter().enumerate() {
        let mut line = format!(
            "\n- {} at {}: {}",
            finding.rule,
            if finding.path.is_empty() {
                "/"
            } else {
                &finding.path
            },
            finding.message
        );
        if !finding.hint.is_empty() {
            let stop = if finding.message.ends_with(['.', '!', '?']) {
                ""
            } else {
                "."
            };
            let _ = write!(line, "{stop} Fix: {}", finding.hint);
        }
        if message.len() + line.len() > MAX_MESSAGE_LEN {
            let _ = write!(
                message,
                "\n- … and {} more (run `stsguard validate` on the manifest for all of them)",
                errors.len() - shown
            );
            break;
        }
        message.push_str(&line);
    }
    message
}

/// One warning line for a finding: rule and message first (they survive truncation), path
/// last.
pub(crate) fn warning_text(finding: &Finding) -> String {
    format!("{}: {} [{}]", finding.rule, finding.message, finding.path)
}

/// Fits warnings to what the API server passes on: each at most [`MAX_WARNING_LEN`] bytes
/// (so also characters) of printable text, all together at most [`MAX_WARNINGS_TOTAL`];
/// what does not fit is summarised in a last line.
pub fn limit_warnings(lines: impl IntoIterator<Item = String>) -> Vec<String> {
    // Room for the closing "… and N more" line.
    const RESERVE: usize = 80;
    let lines: Vec<String> = lines.into_iter().map(|l| truncate_warning(&l)).collect();
    let mut kept = Vec::new();
    let mut total = 0;
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        let budget = if last {
            MAX_WARNINGS_TOTAL
        } else {
            MAX_WARNINGS_TOTAL - RESERVE
        };
        if total + line.len() > budget {
            kept.push(format!(
                "and {} more warnings (run `stsguard validate` for all of them)",
                lines.len() - i
            ));
            return kept;
        }
        total += line.len();
        kept.push(line.clone());
    }
    kept
}

fn truncate_warning(line: &str) -> String {
    // Warnings travel as HTTP Warning headers: no control characters.
    let clean: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.len() <= MAX_WARNING_LEN {
        return clean;
    }
    let mut end = MAX_WARNING_LEN - 3;
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &clean[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_warnings_within_kubernetes_limits() {
        let long = "x".repeat(500);
        let limited = limit_warnings((0..100).map(|i| format!("w{i}: {long}")));
        assert!(limited.iter().all(|w| w.len() <= MAX_WARNING_LEN));
        assert!(limited.iter().map(String::len).sum::<usize>() <= MAX_WARNINGS_TOTAL);
        let last = limited.last().unwrap();
        assert!(
            last.starts_with("and ") && last.contains("more warnings"),
            "{last}"
        );

        let few = limit_warnings(["short".to_string(), "ünïcödé ".repeat(40)]);
        assert_eq!(few.len(), 2);
        assert!(few[1].ends_with("...") && few[1].len() <= MAX_WARNING_LEN);
        assert_eq!(limit_warnings(["a\nb".to_string()]), ["a b"]);
    }
}

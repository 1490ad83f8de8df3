//! GitHub Actions workflow commands, which GitHub shows as annotations on the files.

use std::io::{self, Write};

use super::wording::{
    judged_again_message, message_with_hint, not_judged_message_with_hint, summary_line,
};
use crate::cli::input::STDIN_NAME;
use crate::cli::report::{LocatedFinding, Report, ReviewedObject, Tally};
use crate::engine::Severity;

/// One workflow command per finding, which GitHub shows as an annotation on the file and line
/// (`::error file=web.yaml,line=27,col=11,title=volume-mount-unknown::message%0Ahelp: hint`),
/// then one `::notice` per StatefulSet that was not judged (titled with the reason, such as
/// `exempt-namespace`), then the text format's summary line. Annotations on stdin have no
/// file to point at: they carry no location, and the message starts with
/// `<stdin>:line:column:`.
pub fn write_github(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    for located in &report.findings {
        write_finding(out, located)?;
    }
    write_end(out, report, report.tally())
}

/// One finding's annotation.
pub(super) fn write_finding(out: &mut dyn Write, located: &LocatedFinding) -> io::Result<()> {
    let finding = &located.finding;
    let command = match finding.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let at = (located.file.as_str(), located.line, located.column);
    github_command(
        out,
        command,
        at,
        finding.rule.id(),
        &message_with_hint(located),
    )
}

/// The notices on the StatefulSets not judged, and the summary line.
pub(super) fn write_end(out: &mut dyn Write, report: &Report, tally: Tally) -> io::Result<()> {
    for (object, note) in report.not_judged() {
        let at = (object.file.as_str(), note.line, note.column);
        let message = not_judged_message_with_hint(object, note);
        github_command(out, "notice", at, note.reason.id(), &message)?;
    }
    writeln!(out, "{}", summary_line(report, tally))
}

/// The notice before the annotations of a StatefulSet judged again at the end of the input.
pub(super) fn write_judged_again(out: &mut dyn Write, object: &ReviewedObject) -> io::Result<()> {
    let at = (object.file.as_str(), object.line, object.column);
    github_command(
        out,
        "notice",
        at,
        "judged-again",
        &judged_again_message(object),
    )
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
    fn github_escapes_message_data() {
        assert_eq!(github_data("100% a: b, c\r\nd"), "100%25 a: b, c%0D%0Ad");
    }

    #[test]
    fn github_escapes_property_values() {
        assert_eq!(github_property("C:\\x,y%\nz"), "C%3A\\x%2Cy%25%0Az");
    }
}

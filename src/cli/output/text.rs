//! The compiler-style text format: `file:line:column: severity[rule]: message` and a
//! `help:` line under it, then the notes on StatefulSets that were not judged, then the
//! summary line.

use std::io::{self, IsTerminal, Write};

use anstyle::{AnsiColor, Style};

use super::wording::{judged_again_message, not_judged_message, summary_line};
use crate::cli::report::{LocatedFinding, Report, ReviewedObject, Tally};
use crate::engine::Severity;

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
    for located in &report.findings {
        out.write_all(finding(located, colors).as_bytes())?;
    }
    write_end(out, report, report.tally(), colors)
}

/// After the findings, next to the summary that counts them (a note is not a finding): the
/// notes on the StatefulSets not judged, and the summary line.
pub(super) fn write_end(
    out: &mut dyn Write,
    report: &Report,
    tally: Tally,
    colors: Colors,
) -> io::Result<()> {
    for (object, note) in report.not_judged() {
        let at = (object.file.as_str(), note.line, note.column);
        let message = not_judged_message(object, note);
        out.write_all(diagnostic(colors, at, note_label(), &message, note.hint()).as_bytes())?;
    }
    writeln!(out, "{}", summary_line(report, tally))
}

/// The note before the findings of a StatefulSet judged again at the end of the input.
pub(super) fn judged_again(object: &ReviewedObject, colors: Colors) -> String {
    let at = (object.file.as_str(), object.line, object.column);
    diagnostic(colors, at, note_label(), &judged_again_message(object), "")
}

fn note_label() -> (Style, &'static str) {
    (AnsiColor::Green.on_default().bold(), "note")
}

/// One finding as this format prints it, also the body of a JUnit `<failure>`.
pub(super) fn finding(located: &LocatedFinding, colors: Colors) -> String {
    let finding = &located.finding;
    let style = match finding.severity {
        Severity::Error => AnsiColor::Red.on_default().bold(),
        Severity::Warning => AnsiColor::Yellow.on_default().bold(),
    };
    let at = (located.file.as_str(), located.line, located.column);
    let label = format!("{}[{}]", finding.severity, finding.rule);
    diagnostic(colors, at, (style, &label), &finding.message, &finding.hint)
}

/// `file:line:column: label: message`, and `  help: hint` on a line of its own unless the
/// hint is empty.
fn diagnostic(
    colors: Colors,
    (file, line, column): (&str, usize, usize),
    (style, label): (Style, &str),
    message: &str,
    hint: &str,
) -> String {
    let mut text = format!(
        "{}: {}: {message}\n",
        colors.paint(Style::new().bold(), &format!("{file}:{line}:{column}")),
        colors.paint(style, label),
    );
    if !hint.is_empty() {
        text.push_str(&format!(
            "  {} {hint}\n",
            colors.paint(AnsiColor::Cyan.on_default().bold(), "help:")
        ));
    }
    text
}

//! Output formats of `stsguard validate`.

use std::io::{self, IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use clap::ValueEnum;
use serde::Serialize;

use super::validate::{LocatedFinding, Report};
use crate::engine::Severity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Compiler style: `file:line:column: severity[rule]: message` and a `help:` line.
    Text,
    /// One JSON document (see the README for its shape).
    Json,
}

/// Writes the report in the chosen format.
pub fn write(out: &mut dyn Write, format: OutputFormat, report: &Report) -> io::Result<()> {
    match format {
        OutputFormat::Text => write_text(out, report, Colors::detect()),
        OutputFormat::Json => write_json(out, report),
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
    let (errors, warnings) = (
        report.count(Severity::Error),
        report.count(Severity::Warning),
    );
    let objects = report.objects.len();
    writeln!(
        out,
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

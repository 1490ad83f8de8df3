//! Output formats of `stsguard validate`: compiler-style text, the stable JSON report, SARIF
//! 2.1.0 for code-scanning upload, JUnit XML for CI test reports, and GitHub Actions workflow
//! commands (annotations). Each format, one file each, reads the [`Report`] and knows
//! nothing of how it was made; the wording several formats share is in `wording.rs`.

mod github;
mod json;
mod junit;
mod sarif;
mod text;
mod wording;

use std::io::{self, Write};

use clap::ValueEnum;

use super::report::Report;

pub use github::write_github;
pub use json::write_json;
pub use junit::write_junit;
pub use sarif::write_sarif;
pub use text::{Colors, write_text};

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

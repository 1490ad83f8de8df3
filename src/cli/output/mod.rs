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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use clap::ValueEnum;

use super::report::{Emit, LocatedFinding, Report, ReviewedObject, Tally};

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

/// The chosen format as an [`Emit`]: text and GitHub print each finding as it comes; JSON,
/// SARIF and JUnit write each StatefulSet's part (findings, results, test case) to a
/// temporary file and print their document at the end, in input order, once what it counts
/// or numbers is known.
pub fn emitter<'w>(format: OutputFormat, out: &'w mut dyn Write) -> Box<dyn Emit + 'w> {
    match format {
        OutputFormat::Text => Box::new(Printer::new(out, Lines::Text(Colors::detect()))),
        OutputFormat::Github => Box::new(Printer::new(out, Lines::Github)),
        OutputFormat::Json => Box::new(json::JsonEmit::new(out)),
        OutputFormat::Sarif => Box::new(sarif::SarifEmit::new(out)),
        OutputFormat::Junit => Box::new(junit::JunitEmit::new(out)),
    }
}

/// How [`Printer`] writes: the text format's lines or GitHub's workflow commands.
enum Lines {
    Text(Colors),
    Github,
}

/// Text and GitHub as the input is read: each finding at once, then the notes on the
/// StatefulSets not judged and the summary.
struct Printer<'w> {
    out: &'w mut dyn Write,
    lines: Lines,
    /// The StatefulSets not judged (for the notes) and how many were judged.
    listed: Listed,
}

impl<'w> Printer<'w> {
    fn new(out: &'w mut dyn Write, lines: Lines) -> Self {
        Printer {
            out,
            lines,
            listed: Listed::default(),
        }
    }

    fn finding(&mut self, located: &LocatedFinding) -> io::Result<()> {
        match self.lines {
            Lines::Text(colors) => self
                .out
                .write_all(text::finding(located, colors).as_bytes()),
            Lines::Github => github::write_finding(self.out, located),
        }
    }
}

impl Emit for Printer<'_> {
    fn syntax(&mut self, finding: LocatedFinding) -> io::Result<()> {
        self.finding(&finding)
    }

    fn object(
        &mut self,
        seq: usize,
        _file: &str,
        object: Option<ReviewedObject>,
        findings: Vec<LocatedFinding>,
    ) -> io::Result<()> {
        self.listed.add(seq, object);
        findings.iter().try_for_each(|f| self.finding(f))
    }

    fn again(
        &mut self,
        _seq: usize,
        object: ReviewedObject,
        findings: Vec<LocatedFinding>,
    ) -> io::Result<()> {
        match self.lines {
            Lines::Text(colors) => self
                .out
                .write_all(text::judged_again(&object, colors).as_bytes())?,
            Lines::Github => github::write_judged_again(self.out, &object)?,
        }
        findings.iter().try_for_each(|f| self.finding(f))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, files: usize, tally: Tally) -> io::Result<()> {
        let listed = self.listed.take_report(files);
        match self.lines {
            Lines::Text(colors) => text::write_end(self.out, &listed, tally, colors)?,
            Lines::Github => github::write_end(self.out, &listed, tally)?,
        }
        self.out.flush()
    }
}

/// The StatefulSets a format lists (those not judged), by place in the input, and how many
/// others there were: what the end of a document says of them.
#[derive(Default)]
struct Listed {
    objects: BTreeMap<usize, ReviewedObject>,
    unlisted: usize,
}

impl Listed {
    fn add(&mut self, seq: usize, object: Option<ReviewedObject>) {
        match object {
            Some(object) => {
                self.objects.insert(seq, object);
            }
            None => self.unlisted += 1,
        }
    }

    /// A report of `files` with these StatefulSets, in input order (and no finding).
    fn take_report(&mut self, files: usize) -> Report {
        Report {
            files,
            objects: std::mem::take(&mut self.objects).into_values().collect(),
            unlisted: self.unlisted,
            ..Report::default()
        }
    }
}

/// Pieces of output written to an anonymous temporary file as they come, and read back in
/// another order at the end (JSON's findings and JUnit's test cases, in input order).
#[derive(Default)]
struct Spool {
    file: Option<BufWriter<File>>,
    len: u64,
}

/// Where a piece is in a [`Spool`].
#[derive(Clone, Copy, Debug)]
struct Spooled {
    offset: u64,
    len: usize,
}

impl Spool {
    fn append(&mut self, bytes: &[u8]) -> io::Result<Spooled> {
        if self.file.is_none() {
            self.file = Some(BufWriter::new(tempfile::tempfile()?));
        }
        if let Some(file) = &mut self.file {
            file.write_all(bytes)?;
        }
        let spooled = Spooled {
            offset: self.len,
            len: bytes.len(),
        };
        self.len += bytes.len() as u64;
        Ok(spooled)
    }

    /// Done writing: a reader of the pieces.
    fn into_reader(self) -> io::Result<SpoolReader> {
        let file = match self.file {
            Some(file) => {
                let mut file = file.into_inner().map_err(|e| e.into_error())?;
                file.seek(SeekFrom::Start(0))?;
                Some(BufReader::new(file))
            }
            None => None,
        };
        Ok(SpoolReader {
            file,
            position: 0,
            buf: Vec::new(),
        })
    }
}

struct SpoolReader {
    file: Option<BufReader<File>>,
    position: u64,
    buf: Vec<u8>,
}

impl SpoolReader {
    /// The bytes of one piece (read in order, they come without a seek).
    fn read(&mut self, piece: Spooled) -> io::Result<&[u8]> {
        let Some(file) = &mut self.file else {
            return Err(io::Error::other("nothing was spooled"));
        };
        if piece.offset != self.position {
            file.seek(SeekFrom::Start(piece.offset))?;
        }
        self.buf.resize(piece.len, 0);
        file.read_exact(&mut self.buf)?;
        self.position = piece.offset + piece.len as u64;
        Ok(&self.buf)
    }
}

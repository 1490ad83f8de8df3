//! How a command ends: its result on stdout, or on stderr why there is none (exit 2).

use std::fmt::Display;
use std::io::{self, Seek, Write};

use super::{EXIT_OK, EXIT_USAGE};

/// The result could not be written to stdout.
#[derive(Debug, thiserror::Error)]
#[error("cannot write output: {source}")]
pub struct WriteError {
    source: io::Error,
}

impl From<io::Error> for WriteError {
    fn from(source: io::Error) -> WriteError {
        WriteError { source }
    }
}

/// Output held back until the command has read all of its input, in an anonymous temporary
/// file (memory stays flat however large the output): a command that reads its input as it
/// goes and finds it broken halfway prints nothing, so that `stsguard mutate - | kubectl
/// apply -f -` never applies half an input.
pub struct Spool {
    file: io::BufWriter<std::fs::File>,
}

impl Spool {
    pub fn new() -> Result<Spool, WriteError> {
        Ok(Spool {
            file: io::BufWriter::new(tempfile::tempfile()?),
        })
    }

    /// Where the output goes meanwhile.
    pub fn out(&mut self) -> &mut impl Write {
        &mut self.file
    }

    /// Copies the output to stdout (see [`stdout`]).
    pub fn to_stdout(self) -> Result<(), WriteError> {
        let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
        file.seek(io::SeekFrom::Start(0))?;
        stdout(|out| {
            io::copy(&mut file, out)?;
            out.flush()
        })
    }
}

/// Writes a command's result to stdout. A closed pipe (`| head`) is not a failure: the reader
/// has what it wanted.
pub fn stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), WriteError> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match write(&mut out) {
        Err(source) if source.kind() != io::ErrorKind::BrokenPipe => Err(WriteError { source }),
        _ => Ok(()),
    }
}

/// Says why a command could not do its work, and returns its exit code.
pub fn failure(error: &dyn Display) -> u8 {
    eprintln!("stsguard: {error}");
    EXIT_USAGE
}

/// Prints what a command computed with `write`, or why it could not compute it; returns the
/// exit code.
pub fn result<T, E: Display>(
    result: Result<T, E>,
    write: impl FnOnce(&mut dyn Write, &T) -> io::Result<()>,
) -> u8 {
    let written = match result {
        Ok(value) => stdout(|out| write(out, &value)),
        Err(error) => return failure(&error),
    };
    match written {
        Ok(()) => EXIT_OK,
        Err(error) => failure(&error),
    }
}

/// Prints the output a command held back ([`Spool`]), or why it has none; returns the exit
/// code.
pub fn spooled<E: Display>(result: Result<Spool, E>) -> u8 {
    match result.map(Spool::to_stdout) {
        Ok(Ok(())) => EXIT_OK,
        Ok(Err(error)) => failure(&error),
        Err(error) => failure(&error),
    }
}

/// Stdout for output given as it goes (`validate`'s text and GitHub formats): writes are held
/// until `flush` (or until a few MiB are), so that a batch's lines go out in one write, while
/// the progress bar on the terminal has stepped aside, rather than whenever a buffer fills.
pub struct HeldStdout {
    held: Vec<u8>,
    out: io::StdoutLock<'static>,
}

impl HeldStdout {
    /// Held bytes past which they go out without waiting for `flush`: only a document printed
    /// at the end (JSON, SARIF, JUnit) grows this large, when no bar is shown any more.
    const LIMIT: usize = 4 * 1024 * 1024;

    pub fn new() -> Self {
        HeldStdout {
            held: Vec::new(),
            out: io::stdout().lock(),
        }
    }
}

impl Default for HeldStdout {
    fn default() -> Self {
        HeldStdout::new()
    }
}

impl Write for HeldStdout {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.held.extend_from_slice(bytes);
        if self.held.len() >= Self::LIMIT {
            self.out.write_all(&self.held)?;
            self.held.clear();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.write_all(&self.held)?;
        self.held.clear();
        self.out.flush()
    }
}

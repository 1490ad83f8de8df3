//! How a command ends: its result on stdout, or on stderr why there is none (exit 2).

use std::fmt::Display;
use std::io::{self, Write};

use super::{EXIT_OK, EXIT_USAGE};

/// The result could not be written to stdout.
#[derive(Debug, thiserror::Error)]
#[error("cannot write output: {source}")]
pub struct WriteError {
    source: io::Error,
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

//! One input (a file, or `-` for stdin) read as batches of parsed documents, in flat memory:
//! the bytes are read a block at a time, cut into documents ([`DocumentSplitter`]), checked
//! to be UTF-8 and parsed in parallel a batch at a time. A caller handles a batch and drops
//! it before asking for the next, so what it holds is one batch, whatever the input's size.
//!
//! What a batch gives is what [`yaml::parse_stream`] gives for the whole input at once: the
//! same documents with the same positions and spans. A piece that is not UTF-8 is one error
//! located at its first bad byte (`text` is then empty), and reading goes on: whether
//! the other documents count is the caller's rule (validate: they do; mutate and plan
//! stop at the first error of any kind).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::input::{self, InputError, STDIN_NAME};
use crate::yaml::{self, Document, DocumentSplitter, Piece, YamlError};

/// Bytes read at a time.
pub const READ_SIZE: usize = 256 * 1024;
/// Documents parsed together. A parsed document weighs ~20 times its text, so a batch is
/// kept small: a few hundred documents keep both cores busy and memory flat.
pub const BATCH_DOCUMENTS: usize = 256;
/// A batch ends sooner when its documents are large.
pub const BATCH_BYTES: usize = 2 * 1024 * 1024;

/// One piece of the input (one document but for unusual streams), parsed.
#[derive(Debug)]
pub struct ParsedPiece {
    /// The piece's text, from its `---` line (if any) to the next piece: the bytes every
    /// document of it spans ([`Document::span`]), for passing a document through unchanged.
    pub text: String,
    /// Its first line in the input (1-based).
    pub first_line: usize,
    /// Its first byte in the input (a leading byte order mark counted).
    pub offset: usize,
    /// Its documents, as [`yaml::parse_stream`] gives them for the whole input; for a piece
    /// that is not UTF-8, its one error.
    pub documents: Vec<Result<Document, YamlError>>,
}

/// Reads one input as batches of [`ParsedPiece`]s, in input order (pieces of nothing but
/// white space left out, as [`yaml::parse_stream`] leaves them out): an iterator that ends
/// after the last batch and after a read error.
pub struct BatchReader {
    /// As given on the command line (`-` for stdin), for read errors.
    path: PathBuf,
    /// The name the input is reported under (`<stdin>` for stdin).
    name: String,
    reader: Box<dyn Read + Send>,
    splitter: DocumentSplitter,
    buf: Vec<u8>,
    /// Bytes read so far.
    read: u64,
    done: bool,
}

impl BatchReader {
    /// Opens `path`, or stdin for `-`. Nothing is read yet: a path that cannot be read (a
    /// directory) fails on the first batch, with the same error.
    pub fn open(path: &Path) -> Result<BatchReader, InputError> {
        let (name, reader): (String, Box<dyn Read + Send>) = if path.as_os_str() == "-" {
            (STDIN_NAME.to_string(), Box::new(io::stdin()))
        } else {
            let file = std::fs::File::open(path).map_err(|source| InputError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            (path.display().to_string(), Box::new(file))
        };
        Ok(BatchReader::new(path.to_path_buf(), name, reader))
    }

    /// Reads from any reader; `path` (`-` for stdin) and `name` are for messages.
    pub fn new(path: PathBuf, name: String, reader: Box<dyn Read + Send>) -> BatchReader {
        BatchReader {
            path,
            name,
            reader,
            splitter: DocumentSplitter::new(),
            buf: vec![0; READ_SIZE],
            read: 0,
            done: false,
        }
    }

    /// The name the input is reported under: the path as given, or `<stdin>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes read so far (for a progress bar).
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// The next batch of pieces as cut, not yet checked nor parsed; `None` at the end.
    fn next_pieces(&mut self) -> Result<Option<Vec<Piece>>, InputError> {
        if self.done {
            return Ok(None);
        }
        let mut pieces = Vec::new();
        let mut pending_bytes = 0;
        loop {
            let n = match self.reader.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    self.done = true;
                    return Err(if self.path.as_os_str() == "-" {
                        InputError::Stdin { source }
                    } else {
                        InputError::Read {
                            path: self.path.clone(),
                            source,
                        }
                    });
                }
            };
            self.read += n as u64;
            let before = pieces.len();
            if n == 0 {
                self.splitter.finish(&mut pieces);
                self.done = true;
            } else {
                self.splitter.push(&self.buf[..n], &mut pieces);
            }
            pending_bytes += pieces[before..]
                .iter()
                .map(|p| p.bytes.len())
                .sum::<usize>();
            if n == 0 || pieces.len() >= BATCH_DOCUMENTS || pending_bytes >= BATCH_BYTES {
                return Ok(Some(pieces));
            }
        }
    }
}

impl Iterator for BatchReader {
    type Item = Result<Vec<ParsedPiece>, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        let pieces = match self.next_pieces() {
            Ok(Some(pieces)) => pieces,
            Ok(None) => return None,
            Err(error) => return Some(Err(error)),
        };
        // Checked before the blank test: a bad byte among white space is still one.
        let pieces: Vec<Piece> = pieces
            .into_iter()
            .filter(|piece| {
                std::str::from_utf8(&piece.bytes).map_or(true, |text| !Piece::is_blank(text))
            })
            .collect();
        // One piece (the common file) is not worth a hand-off to the thread pool.
        Some(Ok(if pieces.len() < 2 {
            pieces.into_iter().map(parse).collect()
        } else {
            pieces.into_par_iter().map(parse).collect()
        }))
    }
}

/// Checks and parses one piece.
fn parse(piece: Piece) -> ParsedPiece {
    let (first_line, offset) = (piece.first_line, piece.offset);
    match String::from_utf8(piece.bytes) {
        Ok(text) => ParsedPiece {
            documents: yaml::parse_piece_text(&text, first_line, offset),
            text,
            first_line,
            offset,
        },
        Err(e) => ParsedPiece {
            documents: input::parse_piece(Piece {
                bytes: e.into_bytes(),
                first_line,
                offset,
            }),
            text: String::new(),
            first_line,
            offset,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per read: pieces cut across reads.
    struct Trickle {
        bytes: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn reader(bytes: &[u8], step: usize) -> BatchReader {
        BatchReader::new(
            PathBuf::from("-"),
            STDIN_NAME.to_string(),
            Box::new(Trickle {
                bytes: bytes.to_vec(),
                at: 0,
                step,
            }),
        )
    }

    /// Every document of every batch, with its piece's text, in order.
    fn documents(reader: BatchReader) -> Vec<(Document, String)> {
        let mut all = Vec::new();
        for batch in reader {
            for piece in batch.unwrap() {
                for document in piece.documents {
                    all.push((document.unwrap(), piece.text.clone()));
                }
            }
        }
        all
    }

    fn stream(n: usize) -> String {
        let mut text = String::from("\u{feff}# leading comment\r\n");
        for i in 0..n {
            text.push_str(&format!(
                "---\r\nkind: ConfigMap\r\nmetadata:\r\n  name: c{i}\r\n"
            ));
            if i % 7 == 0 {
                text.push_str("# between\r\n...\r\n");
            }
        }
        text
    }

    #[test]
    fn batches_give_the_documents_and_spans_of_the_whole_input() {
        let text = stream(1_000);
        let whole = input::parse_source("x".into(), text.as_bytes());
        for step in [1, 7, 4096, READ_SIZE] {
            let read = documents(reader(text.as_bytes(), step));
            assert_eq!(read.len(), whole.documents.len(), "step {step}");
            for ((document, piece), expected) in read.iter().zip(&whole.documents) {
                let expected = expected.as_ref().unwrap();
                assert_eq!(document.value, expected.value);
                assert_eq!(document.start, expected.start);
                assert_eq!(document.span, expected.span);
                assert_eq!(piece.as_str(), &text[expected.span.clone()]);
            }
        }
    }

    #[test]
    fn more_documents_than_a_batch_come_in_several_batches() {
        let text = stream(BATCH_DOCUMENTS * 3);
        // Small reads: a read of the whole stream would give its pieces at once.
        let batches = reader(text.as_bytes(), 1_000).count();
        assert!(batches >= 3, "{batches} batches");
    }

    #[test]
    fn a_bad_byte_in_a_later_batch_is_located_as_in_the_whole_input() {
        let mut bytes = stream(BATCH_DOCUMENTS * 2).into_bytes();
        // In a document of the second batch, after accented text on its line.
        let at = bytes.len() * 3 / 4;
        let line_start = bytes[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        bytes.splice(line_start..line_start, "  é: ".bytes());
        bytes.insert(line_start + 6, 0xff);
        let whole = input::parse_source("x".into(), &bytes);
        let expected = whole
            .documents
            .iter()
            .find_map(|d| d.as_ref().err())
            .expect("an error for the bad byte");
        // After `  é: `: characters, not bytes, are counted.
        assert_eq!(expected.column, 6);
        for step in [3, 1_000] {
            let mut before = 0;
            let mut errors = Vec::new();
            let mut after = 0;
            for batch in reader(&bytes, step) {
                for piece in batch.unwrap() {
                    // The input is valid YAML but for its bad byte.
                    match piece.documents.iter().find_map(|d| d.as_ref().err()) {
                        Some(error) => errors.push(error.clone()),
                        None if errors.is_empty() => before += 1,
                        None => after += 1,
                    }
                }
            }
            assert!(
                before >= BATCH_DOCUMENTS,
                "the bad byte came in the first batch"
            );
            assert_eq!(errors, std::slice::from_ref(expected), "step {step}");
            // Reading went on past it.
            assert!(after > 0, "step {step}");
        }
    }
}

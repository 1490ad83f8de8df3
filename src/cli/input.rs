//! Reading the CLI's input: files, directories (recursive) and stdin, split into YAML
//! documents with positions. Kubernetes objects are found in each document, including the
//! items of a `kind: List` (what `kubectl get -o yaml` prints for several objects).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::yaml::{self, Document, Location, YamlError};

/// The name stdin is reported under.
pub const STDIN_NAME: &str = "<stdin>";

/// One input file, read and split into documents.
#[derive(Debug)]
pub struct SourceFile {
    /// As given on the command line (or found under a directory), for messages.
    pub name: String,
    pub documents: Vec<Result<Document, YamlError>>,
}

/// Why the input could not be read or, for a command that needs every document, used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot read directory {}: {source}", path.display())]
    ReadDirectory { path: PathBuf, source: io::Error },
    #[error("cannot read stdin: {source}")]
    Stdin { source: io::Error },
    /// A document that is not valid YAML, where it cannot be reported as a finding.
    #[error("{file}:{}:{}: not valid YAML: {}", source.line, source.column, source.message)]
    Syntax { file: String, source: YamlError },
}

impl SourceFile {
    /// The documents in order, a document that is not valid YAML as its located error: for
    /// the commands that cannot skip one (`mutate` prints every document back; a `plan` that
    /// left a StatefulSet out would mislead).
    pub fn documents_or_error(&self) -> impl Iterator<Item = Result<&Document, InputError>> {
        self.documents.iter().map(|document| {
            document.as_ref().map_err(|error| InputError::Syntax {
                file: self.name.clone(),
                source: error.clone(),
            })
        })
    }
}

/// A Kubernetes object found in a document.
#[derive(Debug, Clone)]
pub struct FoundObject<'a> {
    pub value: &'a Value,
    /// JSON Pointer of the object inside its document (`""`, or `/items/3` in a List).
    pub prefix: String,
}

/// Lists the files named by the arguments: files as given, directories searched recursively
/// for `*.yaml`, `*.yml` and `*.json` (sorted, so output order is stable), `-` for stdin.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            files.push(path.clone());
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|source| InputError::Read {
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(path, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| InputError::ReadDirectory {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, files)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// Reads one file (or stdin for `-`). Text that is not UTF-8 becomes a located error in
/// the file's single document rather than a failure of the run.
pub fn read_source(path: &Path) -> Result<SourceFile, InputError> {
    let (name, bytes) = read_bytes(path)?;
    Ok(parse_source(name, &bytes))
}

fn read_bytes(path: &Path) -> Result<(String, Vec<u8>), InputError> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|source| InputError::Stdin { source })?;
        Ok((STDIN_NAME.to_string(), bytes))
    } else {
        let bytes = std::fs::read(path).map_err(|source| InputError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok((path.display().to_string(), bytes))
    }
}

/// Splits already-read bytes into documents. A document that is not UTF-8 is an error of its
/// own, located at its first bad byte; the others are read as usual, as `validate` reads a
/// stream it cannot take back (stdin, piece by piece).
pub fn parse_source(name: String, bytes: &[u8]) -> SourceFile {
    let documents = match std::str::from_utf8(bytes) {
        Ok(text) => yaml::parse_stream(text),
        Err(_) => {
            let mut splitter = yaml::DocumentSplitter::new();
            let mut pieces = Vec::new();
            splitter.push(bytes, &mut pieces);
            splitter.finish(&mut pieces);
            pieces.into_iter().flat_map(parse_piece).collect()
        }
    };
    SourceFile { name, documents }
}

/// The documents of one piece of a stream ([`yaml::DocumentSplitter`]), or the error of a
/// piece that is not UTF-8. Blank pieces hold none.
pub fn parse_piece(piece: yaml::Piece) -> Vec<Result<Document, YamlError>> {
    match String::from_utf8(piece.bytes) {
        Ok(text) if yaml::Piece::is_blank(&text) => Vec::new(),
        Ok(text) => yaml::parse_piece_text(&text, piece.first_line, piece.offset),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let before = std::str::from_utf8(&e.as_bytes()[..valid]).unwrap_or_default();
            vec![Err(not_utf8(before, piece.first_line))]
        }
    }
}

/// The error of a document that is not UTF-8, `before` being its text up to the first bad byte
/// from line `first_line` on (a leading byte order mark left out).
pub fn not_utf8(before: &str, first_line: usize) -> YamlError {
    // Counted as for YAML errors (`yaml::Location`): lines end at `\n`, `\r\n` or a
    // lone `\r`, columns count characters, not bytes, and a leading byte order mark
    // is not counted. Counting bytes named a column past the end of a line with
    // accented text before the bad byte (found by the `yaml` fuzz target).
    let line = before.replace("\r\n", "\n").matches(['\n', '\r']).count() + first_line;
    let column = before
        .rsplit(['\n', '\r'])
        .next()
        .map_or(0, |last| last.chars().count())
        + 1;
    YamlError {
        line,
        column,
        message: "the document is not UTF-8 text".into(),
    }
}

/// The objects of a document: the document itself, or the items of a `kind: List`.
pub fn objects_of(value: &Value) -> Vec<FoundObject<'_>> {
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind.ends_with("List"));
    match value.get("items").and_then(Value::as_array) {
        Some(items) if is_list => items
            .iter()
            .enumerate()
            .map(|(i, value)| FoundObject {
                value,
                prefix: format!("/items/{i}"),
            })
            .collect(),
        _ => vec![FoundObject {
            value,
            prefix: String::new(),
        }],
    }
}

/// Whether an object is a StatefulSet of the `apps` group (any version: the engine reports
/// the removed ones). OpenKruise's `apps.kruise.io` StatefulSet is another API and skipped.
pub fn is_statefulset(value: &Value) -> bool {
    value.get("kind").and_then(Value::as_str) == Some("StatefulSet")
        && value
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("apps/"))
}

/// Where a pointer into an object lands in its file.
pub fn locate(document: &Document, prefix: &str, pointer: &str) -> Location {
    if prefix.is_empty() {
        document.locate(pointer)
    } else {
        document.locate(&format!("{prefix}{pointer}"))
    }
}

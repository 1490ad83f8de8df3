//! `stsguard mutate`: the defaults the mutating webhook would apply, offline.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::Value;

use rayon::prelude::*;

use super::batches::{BatchReader, ParsedPiece};
use super::input::{self, InputError, SourceFile};
use super::report::ObjectRef;
use super::{LoadPolicyError, PolicyArgs, print};
use crate::engine::{self, Context, EngineError, KubeVersion, Operation, Policy, Source};
use crate::yaml::{Document, YamlError};

#[derive(Debug, Args)]
pub struct MutateArgs {
    /// A file, or - for stdin.
    #[arg(value_name = "PATH", default_value = "-")]
    pub path: PathBuf,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = MutateFormat::Yaml)]
    pub output: MutateFormat,
    /// The previous version of the objects: apply UPDATE semantics (nothing new is
    /// introduced; values stsguard defaulted and a replace dropped come back).
    #[arg(long, value_name = "FILE")]
    pub old: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MutateFormat {
    /// The documents with defaults applied; other documents unchanged.
    Yaml,
    /// RFC 6902 patches, one record per StatefulSet.
    JsonPatch,
    /// A unified diff per changed document.
    Diff,
}

/// The defaults for one StatefulSet.
#[derive(Debug, Clone, Serialize)]
pub struct MutationRecord {
    pub file: String,
    pub object: ObjectRef,
    pub defaulted: Vec<&'static str>,
    pub patch: json_patch::Patch,
}

/// One document after mutation.
pub struct MutatedDocument {
    /// The document as read (`None` for empty documents).
    pub before: Option<Value>,
    /// The document with every patch applied; equal to `before` when nothing changed.
    pub after: Option<Value>,
    /// The document's own text, for passing it through unchanged.
    pub text: String,
}

/// Why `mutate` printed nothing: a usage problem (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum MutateError {
    /// `--policy` (or the built-in policy) could not be loaded; the message names every problem.
    #[error(transparent)]
    Policy(#[from] LoadPolicyError),
    /// Unreadable, or a document that is not valid YAML: `mutate` prints every document back,
    /// so it cannot skip one.
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{file}: {source}")]
    Review { file: String, source: EngineError },
    #[error("{file}: internal error, the patch does not apply: {source}")]
    Patch {
        file: String,
        source: json_patch::PatchError,
    },
    /// The output could not be rendered or held back.
    #[error(transparent)]
    Output(#[from] print::WriteError),
}

/// The context `mutate` reviews in: a file, defaults on.
fn context(namespace: &str) -> Context<'_> {
    Context {
        source: Source::File,
        namespace: Some(namespace),
        kube_version: KubeVersion::LATEST,
        strict: false,
        known: Default::default(),
        checks: true,
        defaults: true,
    }
}

/// Applies the policy's defaults to every StatefulSet of a source.
pub fn mutate_source(
    source: &SourceFile,
    text: &str,
    old: &HashMap<(String, String), Value>,
    policy: &Policy,
    namespace: &str,
) -> Result<(Vec<MutatedDocument>, Vec<MutationRecord>), MutateError> {
    let context = context(namespace);
    let mut documents = Vec::new();
    let mut records = Vec::new();
    for document in source.documents_or_error() {
        let document = document?;
        let text = text.get(document.span.clone()).unwrap_or_default();
        let (mutated, found) = mutate_document(
            &source.name,
            document,
            text,
            &Mutator {
                old,
                policy,
                namespace,
                context: &context,
            },
        )?;
        documents.push(mutated);
        records.extend(found);
    }
    Ok((documents, records))
}

/// What every document is mutated with.
struct Mutator<'a> {
    old: &'a HashMap<(String, String), Value>,
    policy: &'a Policy,
    namespace: &'a str,
    context: &'a Context<'a>,
}

/// Applies the policy's defaults to the StatefulSets of one document (`text` its text).
fn mutate_document(
    file: &str,
    document: &Document,
    text: &str,
    with: &Mutator<'_>,
) -> Result<(MutatedDocument, Vec<MutationRecord>), MutateError> {
    let mut records = Vec::new();
    let mut after = document.value.clone();
    if let Some(value) = &document.value {
        for found in input::objects_of(value) {
            if !input::is_statefulset(found.value) {
                continue;
            }
            let object = ObjectRef::statefulset(found.value, with.namespace);
            let previous = with
                .old
                .get(&(object.namespace.clone(), object.name.clone()));
            let operation = if previous.is_some() {
                Operation::Update
            } else {
                Operation::Create
            };
            let review =
                engine::review(with.policy, operation, found.value, previous, with.context)
                    .map_err(|error| MutateError::Review {
                        file: file.to_string(),
                        source: error,
                    })?;
            if review.patch.0.is_empty() {
                continue;
            }
            if let Some(target) = after.as_mut().and_then(|a| a.pointer_mut(&found.prefix)) {
                json_patch::patch(target, &review.patch).map_err(|error| MutateError::Patch {
                    file: file.to_string(),
                    source: error,
                })?;
            }
            records.push(MutationRecord {
                file: file.to_string(),
                object,
                defaulted: review.defaulted,
                patch: review.patch,
            });
        }
    }
    let mutated = MutatedDocument {
        before: document.value.clone(),
        after,
        text: text.to_string(),
    };
    Ok((mutated, records))
}

/// Runs `stsguard mutate`.
pub fn run(args: &MutateArgs) -> u8 {
    print::spooled(execute(args))
}

/// Reads the input a batch at a time and writes what it gives to a [`print::Spool`]: all
/// of it when every document is valid YAML, or an error and nothing.
fn execute(args: &MutateArgs) -> Result<print::Spool, MutateError> {
    let policy = args.policy.load()?;
    let mut reader = BatchReader::open(&args.path)?;
    let file = reader.name().to_string();
    // The first batch is read before `--old`: an input that cannot be read at all (a
    // directory) is reported before an `--old` that cannot, as when the input was read
    // whole before `--old`.
    let mut next = reader.next().transpose()?;
    let old = old_objects(args)?;
    let context = context(&args.policy.namespace);
    let with = Mutator {
        old: &old,
        policy: &policy,
        namespace: &args.policy.namespace,
        context: &context,
    };
    let mut spool = print::Spool::new()?;
    let mut writer = Writer {
        format: args.output,
        file: &file,
        documents: 0,
        records: 0,
    };
    while let Some(pieces) = next {
        // The first document that is not valid YAML (or not UTF-8) ends the run.
        writer.write_batch(spool.out(), &pieces, &with)?;
        next = reader.next().transpose()?;
    }
    writer
        .finish(spool.out())
        .map_err(print::WriteError::from)?;
    Ok(spool)
}

fn syntax(file: &str, source: YamlError) -> MutateError {
    InputError::Syntax {
        file: file.to_string(),
        source,
    }
    .into()
}

/// The StatefulSets of `--old`, by namespace and name.
fn old_objects(args: &MutateArgs) -> Result<HashMap<(String, String), Value>, MutateError> {
    let mut old = HashMap::new();
    let Some(path) = &args.old else {
        return Ok(old);
    };
    // `--old -` with the input on stdin too: the input is all of stdin, and `--old` was
    // what was left after it, nothing. It is not read now, or it would take the input.
    if path.as_os_str() == "-" && args.path.as_os_str() == "-" {
        return Ok(old);
    }
    let old_source = input::read_source(path)?;
    for document in old_source.documents.iter().filter_map(|d| d.as_ref().ok()) {
        let Some(value) = &document.value else {
            continue;
        };
        for found in input::objects_of(value) {
            if input::is_statefulset(found.value) {
                let key = ObjectRef::statefulset(found.value, &args.policy.namespace);
                old.insert((key.namespace, key.name), found.value.clone());
            }
        }
    }
    Ok(old)
}

/// Writes the output of the batches in turn, as if the whole input had been one.
struct Writer<'a> {
    format: MutateFormat,
    /// The input's name, for records and diff headers.
    file: &'a str,
    /// Documents so far (numbering diffs, separating YAML documents).
    documents: usize,
    /// JSON Patch records written so far.
    records: usize,
}

impl Writer<'_> {
    /// Mutates and renders a batch's pieces in parallel, and writes them in order; the first
    /// broken document (in input order) is the error, and nothing of its batch is written.
    fn write_batch(
        &mut self,
        out: &mut impl Write,
        pieces: &[ParsedPiece],
        with: &Mutator<'_>,
    ) -> Result<(), MutateError> {
        // The number of the first document of each piece.
        let mut firsts = Vec::with_capacity(pieces.len());
        for piece in pieces {
            firsts.push(self.documents);
            self.documents += piece.documents.len();
        }
        let rendered: Vec<Result<Vec<String>, MutateError>> = pieces
            .par_iter()
            .zip(firsts)
            .map(|(piece, first)| self.render(piece, first, with))
            .collect();
        let write = |error: std::io::Error| MutateError::Output(error.into());
        for items in rendered {
            for item in items? {
                if self.format == MutateFormat::JsonPatch {
                    out.write_all(if self.records == 0 { b"[\n" } else { b",\n" })
                        .map_err(write)?;
                    self.records += 1;
                }
                out.write_all(item.as_bytes()).map_err(write)?;
            }
        }
        Ok(())
    }

    /// The output of one piece, its first document being number `first` (from 0): one
    /// string per document (YAML, diff), or per record (JSON Patch, indented as an item).
    fn render(
        &self,
        piece: &ParsedPiece,
        first: usize,
        with: &Mutator<'_>,
    ) -> Result<Vec<String>, MutateError> {
        let mut items = Vec::new();
        for (i, document) in piece.documents.iter().enumerate() {
            let document = document
                .as_ref()
                .map_err(|error| syntax(self.file, error.clone()))?;
            let (mutated, records) = mutate_document(self.file, document, &piece.text, with)?;
            let output = |error: std::io::Error| MutateError::Output(error.into());
            match self.format {
                MutateFormat::Yaml => {
                    let mut text = String::new();
                    if first + i > 0 {
                        text.push_str("---\n");
                    }
                    write_yaml_document(&mut text, &mutated).map_err(output)?;
                    items.push(text);
                }
                MutateFormat::Diff => {
                    items.push(diff_document(self.file, first + i, &mutated).map_err(output)?)
                }
                MutateFormat::JsonPatch => {
                    for record in &records {
                        let json = serde_json::to_string_pretty(record)
                            .map_err(|error| output(error.into()))?;
                        // Indented one level: an item of the array `finish` closes.
                        let mut item = String::with_capacity(json.len() + json.len() / 8);
                        for (n, line) in json.lines().enumerate() {
                            if n > 0 {
                                item.push('\n');
                            }
                            item.push_str("  ");
                            item.push_str(line);
                        }
                        items.push(item);
                    }
                }
            }
        }
        Ok(items)
    }

    /// What follows the last batch: the end of the JSON Patch array.
    fn finish(&self, out: &mut impl Write) -> std::io::Result<()> {
        match self.format {
            MutateFormat::JsonPatch if self.records == 0 => out.write_all(b"[]\n"),
            MutateFormat::JsonPatch => out.write_all(b"\n]\n"),
            MutateFormat::Yaml | MutateFormat::Diff => Ok(()),
        }
    }
}

/// Renders a value as YAML.
pub fn to_yaml(value: &Value) -> std::io::Result<String> {
    serde_saphyr::to_string(value).map_err(|e| std::io::Error::other(e.to_string()))
}

/// One document as `-o yaml` prints it: with the defaults applied when it changed, else its
/// own text, byte for byte.
fn write_yaml_document(out: &mut String, document: &MutatedDocument) -> std::io::Result<()> {
    match &document.after {
        Some(after) if document.before.as_ref() != Some(after) => out.push_str(&to_yaml(after)?),
        _ => {
            out.push_str(&document.text);
            if !document.text.is_empty() && !document.text.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    Ok(())
}

/// The unified diff of document number `index` (from 0), empty when it did not change.
fn diff_document(file: &str, index: usize, document: &MutatedDocument) -> std::io::Result<String> {
    let (Some(before), Some(after)) = (&document.before, &document.after) else {
        return Ok(String::new());
    };
    if before == after {
        return Ok(String::new());
    }
    let (old_text, new_text) = (to_yaml(before)?, to_yaml(after)?);
    let diff = similar::TextDiff::from_lines(&old_text, &new_text);
    Ok(diff
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{file} (document {})", index + 1),
            &format!("{file} (document {}, defaulted)", index + 1),
        )
        .to_string())
}

//! `stsguard mutate`: the defaults the mutating webhook would apply, offline.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;
use serde_json::Value;

use super::input::{self, InputError, SourceFile};
use super::report::ObjectRef;
use super::{PolicyArgs, print};
use crate::engine::{self, Context, EngineError, KubeVersion, Operation, Policy, Source};

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
    #[error("{0}")]
    Policy(String),
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
}

/// Applies the policy's defaults to every StatefulSet of a source.
pub fn mutate_source(
    source: &SourceFile,
    text: &str,
    old: &HashMap<(String, String), Value>,
    policy: &Policy,
    namespace: &str,
) -> Result<(Vec<MutatedDocument>, Vec<MutationRecord>), MutateError> {
    let context = Context {
        source: Source::File,
        namespace: Some(namespace),
        kube_version: KubeVersion::LATEST,
        strict: false,
        known: Default::default(),
        checks: true,
        defaults: true,
    };
    let mut documents = Vec::new();
    let mut records = Vec::new();
    for document in source.documents_or_error() {
        let document = document?;
        let mut after = document.value.clone();
        if let Some(value) = &document.value {
            for found in input::objects_of(value) {
                if !input::is_statefulset(found.value) {
                    continue;
                }
                let object = ObjectRef::statefulset(found.value, namespace);
                let previous = old.get(&(object.namespace.clone(), object.name.clone()));
                let operation = if previous.is_some() {
                    Operation::Update
                } else {
                    Operation::Create
                };
                let review = engine::review(policy, operation, found.value, previous, &context)
                    .map_err(|error| MutateError::Review {
                        file: source.name.clone(),
                        source: error,
                    })?;
                if review.patch.0.is_empty() {
                    continue;
                }
                if let Some(target) = after.as_mut().and_then(|a| a.pointer_mut(&found.prefix)) {
                    json_patch::patch(target, &review.patch).map_err(|error| {
                        MutateError::Patch {
                            file: source.name.clone(),
                            source: error,
                        }
                    })?;
                }
                records.push(MutationRecord {
                    file: source.name.clone(),
                    object,
                    defaulted: review.defaulted,
                    patch: review.patch,
                });
            }
        }
        documents.push(MutatedDocument {
            before: document.value.clone(),
            after,
            text: text
                .get(document.span.clone())
                .unwrap_or_default()
                .to_string(),
        });
    }
    Ok((documents, records))
}

/// Runs `stsguard mutate`.
pub fn run(args: &MutateArgs) -> u8 {
    print::result(execute(args), |out, mutation| {
        write_mutation(out, args.output, mutation)
    })
}

/// One file with the defaults applied.
struct Mutation {
    file: String,
    documents: Vec<MutatedDocument>,
    records: Vec<MutationRecord>,
}

fn execute(args: &MutateArgs) -> Result<Mutation, MutateError> {
    let policy = args.policy.load().map_err(MutateError::Policy)?;
    let (source, text) = input::read_source_text(&args.path)?;
    let mut old = HashMap::new();
    if let Some(path) = &args.old {
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
    }
    let (documents, records) =
        mutate_source(&source, &text, &old, &policy, &args.policy.namespace)?;
    Ok(Mutation {
        file: source.name,
        documents,
        records,
    })
}

fn write_mutation(
    out: &mut dyn Write,
    format: MutateFormat,
    mutation: &Mutation,
) -> std::io::Result<()> {
    match format {
        MutateFormat::JsonPatch => serde_json::to_writer_pretty(&mut *out, &mutation.records)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        MutateFormat::Yaml => write_yaml(out, &mutation.documents),
        MutateFormat::Diff => write_diff(out, &mutation.file, &mutation.documents),
    }
}

/// Renders a value as YAML.
pub fn to_yaml(value: &Value) -> std::io::Result<String> {
    serde_saphyr::to_string(value).map_err(|e| std::io::Error::other(e.to_string()))
}

fn write_yaml(out: &mut dyn Write, documents: &[MutatedDocument]) -> std::io::Result<()> {
    for (i, document) in documents.iter().enumerate() {
        if i > 0 {
            writeln!(out, "---")?;
        }
        match &document.after {
            Some(after) if document.before.as_ref() != Some(after) => {
                out.write_all(to_yaml(after)?.as_bytes())?
            }
            _ => {
                out.write_all(document.text.as_bytes())?;
                if !document.text.is_empty() && !document.text.ends_with('\n') {
                    writeln!(out)?;
                }
            }
        }
    }
    Ok(())
}

fn write_diff(
    out: &mut dyn Write,
    file: &str,
    documents: &[MutatedDocument],
) -> std::io::Result<()> {
    for (i, document) in documents.iter().enumerate() {
        let (Some(before), Some(after)) = (&document.before, &document.after) else {
            continue;
        };
        if before == after {
            continue;
        }
        let (old_text, new_text) = (to_yaml(before)?, to_yaml(after)?);
        let diff = similar::TextDiff::from_lines(&old_text, &new_text);
        write!(
            out,
            "{}",
            diff.unified_diff().context_radius(3).header(
                &format!("{file} (document {})", i + 1),
                &format!("{file} (document {}, defaulted)", i + 1)
            )
        )?;
    }
    Ok(())
}

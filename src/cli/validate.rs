//! `stsguard validate`: the engine's verdicts on files, located to file:line:column.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;
use rayon::prelude::*;
use serde_json::Value;

use super::input::{self, FoundObject, InputError, SourceFile};

mod stream;
use super::output::{self, OutputFormat};
use super::report::{
    Emit, LocatedFinding, NotJudgedNote, ObjectRef, Report, ReviewedObject, Tally,
};
use super::{EXIT_FINDINGS, EXIT_OK, FailOn, LoadPolicyError, PolicyArgs, print};
use crate::engine::catalog::RuleId;
use crate::engine::cluster::{InputReads, Inventory, Known};
use crate::engine::{
    self, Context, Finding, KubeVersion, NotJudged, Operation, Policy, Severity, Source,
};
use crate::yaml::Document;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Files, directories (searched recursively for *.yaml, *.yml, *.json) or - for stdin.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Treat unknown fields as errors.
    #[arg(long)]
    pub strict: bool,
    /// Kubernetes version to check against (X.Y).
    #[arg(long, value_name = "X.Y", default_value_t = KubeVersion::LATEST)]
    pub kube_version: KubeVersion,
    /// Exit 1 when a finding at or above this severity is found.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// The previous version of the objects: check them as an UPDATE (immutable fields,
    /// ratcheting). StatefulSets are matched by namespace and name.
    #[arg(long, value_name = "FILE")]
    pub old: Option<PathBuf>,
    /// Also judge StatefulSets in the policy's exemptNamespaces, as if no namespace were
    /// exempt (the rest of the policy applies unchanged). Without it they are listed as not
    /// judged: the webhook admits them without review.
    #[arg(long)]
    pub include_exempt: bool,
    /// Also judge the files against a cluster (SPEC §8): each kind the cluster rules read
    /// (Services, StorageClasses, Nodes, …) is listed once from the current kubeconfig
    /// context. Without it, validate never contacts a cluster.
    #[arg(long)]
    pub cluster: bool,
    /// Kubeconfig file for --cluster (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE", requires = "cluster")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context for --cluster (default: the current context).
    #[arg(long, value_name = "NAME", requires = "cluster")]
    pub context: Option<String>,
    /// With --cluster, also list Secrets (names only) for secret-missing.
    #[arg(long, requires = "cluster")]
    pub cluster_secrets: bool,
}

/// Why a run could not review its input: a usage problem (exit 2), never a finding.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// `--policy` (or the built-in policy) could not be loaded; the message names every problem.
    #[error(transparent)]
    Policy(#[from] LoadPolicyError),
    #[error("no input: name files or directories, or - to read stdin")]
    NoInput,
    #[error("stdin (-) can be read only once")]
    StdinTwice,
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("--cluster: cannot start the runtime: {source}")]
    ClusterRuntime { source: std::io::Error },
    #[error("--cluster: {source}")]
    ClusterConnect {
        source: crate::cluster::ConnectError,
    },
    #[error("--cluster: cannot list the cluster's objects: {source}")]
    ClusterList { source: kube::Error },
}

/// Runs `stsguard validate` and returns the exit code.
pub fn run(args: &ValidateArgs) -> u8 {
    let mut out = print::HeldStdout::new();
    let mut emit = output::emitter(args.output, &mut out);
    let (tally, write_error) = match execute(args, &mut *emit) {
        Ok(done) => done,
        Err(error) => {
            drop(emit);
            // Whatever was given out before the input failed goes out before the reason.
            let _ = out.flush();
            return print::failure(&error);
        }
    };
    drop(emit);
    let write_error = write_error.or_else(|| out.flush().err());
    // A closed pipe (`| head`) is not a failure: the reader has what it wanted.
    if let Some(error) = write_error.filter(|e| e.kind() != std::io::ErrorKind::BrokenPipe) {
        // Said, but the findings still decide the exit code.
        eprintln!("stsguard: cannot write output: {error}");
    }
    exit_code(tally, args.fail_on)
}

/// The exit code for `--fail-on`.
fn exit_code(tally: Tally, fail_on: FailOn) -> u8 {
    let threshold = match fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
    };
    if tally.at_or_above(threshold) {
        EXIT_FINDINGS
    } else {
        EXIT_OK
    }
}

/// Reads the input, reviews every StatefulSet and hands what it finds to `emit` as it goes.
/// Returns the errors and warnings found, and the first error writing the output; `Err` is a
/// usage problem (exit 2).
pub fn execute(
    args: &ValidateArgs,
    emit: &mut dyn Emit,
) -> Result<(Tally, Option<std::io::Error>), ValidateError> {
    let mut policy = args.policy.load()?;
    if args.include_exempt {
        // Judged as if the policy exempted nothing: the engine's own decision, with one input
        // changed, rather than a second notion of "exempt" in the CLI.
        policy = policy.without_exemptions();
    }
    let paths = if args.paths.is_empty() {
        if std::io::stdin().is_terminal() {
            return Err(ValidateError::NoInput);
        }
        vec![PathBuf::from("-")]
    } else {
        args.paths.clone()
    };
    if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err(ValidateError::StdinTwice);
    }
    let files = input::expand_paths(&paths)?;
    let old_sources = match &args.old {
        Some(path) => vec![input::read_source(path)?],
        None => Vec::new(),
    };
    let cluster = if args.cluster {
        Some(list_cluster(args)?)
    } else {
        None
    };
    let options = ReviewOptions {
        policy: &policy,
        namespace: &args.policy.namespace,
        kube_version: args.kube_version,
        strict: args.strict,
        cluster: cluster.as_ref(),
    };
    // JUnit lists every StatefulSet; the other formats only the ones not judged.
    let list_all = args.output == OutputFormat::Junit;
    let mut run = stream::Run::new(&options, &old_sources, files, list_all, emit);
    run.read_all()?;
    run.finish()
}

/// `--cluster`: lists what the cluster rules read, once. A kind that may not be listed is
/// reported on stderr and its rules are off; a cluster that cannot be reached at all is a
/// usage error (exit 2): the run was asked to judge against it.
fn list_cluster(args: &ValidateArgs) -> Result<Inventory, ValidateError> {
    let target = crate::cluster::Target {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ValidateError::ClusterRuntime { source })?;
    let listed = runtime.block_on(async {
        let client = target
            .client()
            .await
            .map_err(|source| ValidateError::ClusterConnect { source })?;
        crate::cluster::list::list(client, args.cluster_secrets)
            .await
            .map_err(|source| ValidateError::ClusterList { source })
    })?;
    for (kind, why) in &listed.unavailable {
        eprintln!(
            "stsguard: cannot list {kind} ({}): {} off",
            why.as_str(),
            kind.rules().join(", ")
        );
    }
    Ok(listed.inventory)
}

/// What every review of one run shares.
pub struct ReviewOptions<'a> {
    pub policy: &'a Policy,
    pub namespace: &'a str,
    pub kube_version: KubeVersion,
    pub strict: bool,
    /// The cluster's objects (`--cluster`), for the rules of SPEC §8.
    pub cluster: Option<&'a Inventory>,
}

/// One StatefulSet to review, and where it came from.
struct Work<'a> {
    file: &'a str,
    document: &'a Document,
    found: FoundObject<'a>,
}

/// Reviews every StatefulSet of `sources`, already in memory; `old_sources` holds previous
/// versions for UPDATE checks. Documents are reviewed in parallel; the report keeps input
/// order. `validate` itself streams (`validate/stream.rs`); this is the whole-input review
/// for callers that hold their sources (explain's examples) and the reference the streaming
/// run is tested against.
pub fn review_sources(
    sources: &[SourceFile],
    old_sources: &[SourceFile],
    options: &ReviewOptions<'_>,
) -> Report {
    let mut report = Report {
        files: sources.len(),
        ..Report::default()
    };
    let mut work = Vec::new();
    let mut others = Vec::new();
    for source in sources {
        for document in &source.documents {
            match document {
                Err(error) => report
                    .findings
                    .extend(syntax_finding(&source.name, error, options)),
                Ok(document) => {
                    let Some(value) = &document.value else {
                        continue;
                    };
                    for found in input::objects_of(value) {
                        if input::is_statefulset(found.value) {
                            work.push(Work {
                                file: &source.name,
                                document,
                                found,
                            });
                        } else {
                            others.push(found.value);
                        }
                    }
                }
            }
        }
    }
    let old_objects = old_objects(old_sources, options.namespace);

    // What the StatefulSets may refer to: Services, StorageClasses, ConfigMaps… of the input.
    let input = Inventory::from_input(others);
    let context = Context {
        source: Source::File,
        namespace: Some(options.namespace),
        kube_version: options.kube_version,
        strict: options.strict,
        known: Known::new(Some(&input), options.cluster),
        checks: true,
        // `validate` reports findings only: no patch to compute.
        defaults: false,
    };
    let reviewed: Vec<Judged> = work
        .par_iter()
        .map(|item| review_one(item, &old_objects, options, &context))
        .collect();
    for judged in reviewed {
        report.objects.push(judged.object);
        report.findings.extend(judged.findings);
    }
    report
}

/// One StatefulSet's review, located in its file.
struct Judged {
    object: ReviewedObject,
    findings: Vec<LocatedFinding>,
    /// Whether objects of the input read later could change it.
    reads: InputReads,
}

/// The previous versions (`--old`) of the StatefulSets, by namespace and name.
fn old_objects<'s>(
    old_sources: &'s [SourceFile],
    namespace: &str,
) -> HashMap<ObjectRef, &'s Value> {
    old_sources
        .iter()
        .flat_map(|source| source.documents.iter().filter_map(|d| d.as_ref().ok()))
        .filter_map(|document| document.value.as_ref())
        .flat_map(input::objects_of)
        .filter(|found| input::is_statefulset(found.value))
        .map(|found| (ObjectRef::statefulset(found.value, namespace), found.value))
        .collect()
}

/// A document that is not valid YAML, as a finding (`None` when the policy turns
/// `yaml-syntax` off).
fn syntax_finding(
    file: &str,
    error: &crate::yaml::YamlError,
    options: &ReviewOptions<'_>,
) -> Option<LocatedFinding> {
    // The document has no namespace to read: the base policy decides.
    let settings = options.policy.settings_for(options.namespace);
    let severity = settings.severity(RuleId::YamlSyntax, Severity::Error)?;
    Some(LocatedFinding {
        file: file.to_string(),
        line: error.line,
        column: error.column,
        object: None,
        finding: Finding {
            severity,
            ..Finding::new(
                RuleId::YamlSyntax,
                "",
                format!("not valid YAML: {}", error.message),
                "fix the syntax at this line; kubectl would refuse the whole file",
            )
        },
    })
}

fn review_one(
    item: &Work<'_>,
    old_objects: &HashMap<ObjectRef, &Value>,
    options: &ReviewOptions<'_>,
    context: &Context<'_>,
) -> Judged {
    let value = item.found.value;
    let object = ObjectRef::statefulset(value, options.namespace);
    let old = old_objects.get(&object).copied();
    let operation = if old.is_some() {
        Operation::Update
    } else {
        Operation::Create
    };
    let (findings, not_judged, reads) =
        match engine::review(options.policy, operation, value, old, context) {
            Ok(review) => (review.findings, review.not_judged, review.input_reads),
            Err(error) => (
                vec![Finding::new(
                    RuleId::Schema,
                    "",
                    format!("cannot evaluate the object: {error}"),
                    "write the StatefulSet as a YAML mapping",
                )],
                None,
                InputReads::default(),
            ),
        };
    let start = input::locate(item.document, &item.found.prefix, "");
    let not_judged = not_judged.map(|reason| {
        let at = match reason {
            NotJudged::ExemptNamespace { .. } => {
                input::locate(item.document, &item.found.prefix, "/metadata/namespace")
            }
            NotJudged::Operation(_) => start,
        };
        NotJudgedNote {
            line: at.line,
            column: at.column,
            reason,
        }
    });
    let mut located: Vec<LocatedFinding> = findings
        .into_iter()
        .map(|finding| {
            let at = input::locate(item.document, &item.found.prefix, &finding.path);
            LocatedFinding {
                file: item.file.to_string(),
                line: at.line,
                column: at.column,
                object: Some(object.clone()),
                finding,
            }
        })
        .collect();
    // Compiler order: by place in the file (stable, so one node's findings keep rule order).
    located.sort_by_key(|f| (f.line, f.column));
    let reviewed = ReviewedObject {
        file: item.file.to_string(),
        line: start.line,
        column: start.column,
        errors: located
            .iter()
            .filter(|f| f.finding.severity == Severity::Error)
            .count(),
        warnings: located
            .iter()
            .filter(|f| f.finding.severity == Severity::Warning)
            .count(),
        object,
        not_judged,
    };
    Judged {
        object: reviewed,
        findings: located,
        reads,
    }
}

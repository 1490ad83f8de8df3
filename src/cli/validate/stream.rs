//! `validate` over inputs of any size, in flat memory: the files (and stdin) are read piece by
//! piece, cut into documents ([`DocumentSplitter`]), parsed and reviewed in parallel batches,
//! and dropped; what stays is the findings, one small entry per StatefulSet, and the index of
//! the objects the rules look up (Services, StorageClasses, ConfigMaps…: [`Inventory`]).
//!
//! A StatefulSet is reviewed against the objects of the input read so far. An object that
//! comes later (a Service after its StatefulSet, in the same file or a later one) can change
//! the verdict, so every change to the index is dated by batch ([`Changes`]); at the end the
//! StatefulSets reviewed before a change that could concern them (their namespace, or every
//! namespace) are read again and reviewed against the whole index: the report is the one a
//! review of the whole input at once gives (`review_sources`). Files are read again where the
//! StatefulSet is; stdin cannot be, so its StatefulSet documents go to a temporary file.

use std::collections::HashMap;
use std::io::{self, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::Value;

use super::{ReviewOptions, ValidateError, Work, old_objects, review_one, syntax_finding};
use crate::cli::input::{self, InputError, STDIN_NAME, SourceFile};
use crate::cli::report::{LocatedFinding, ObjectRef, Report, ReviewedObject};
use crate::engine::cluster::{Inventory, Known};
use crate::engine::{Context, Source};
use crate::yaml::{self, Document, DocumentSplitter, Piece, YamlError};

/// Bytes read at a time.
const READ_SIZE: usize = 256 * 1024;
/// Documents parsed and reviewed together. A parsed document weighs ~20 times its text, so a
/// batch is kept small: a few hundred documents keep both cores busy and memory flat.
const BATCH_DOCUMENTS: usize = 256;
/// A batch ends sooner when its documents are large.
const BATCH_BYTES: usize = 2 * 1024 * 1024;

/// Where a StatefulSet's document can be read again.
struct Reread {
    /// Index in `Run::files`, or [`SPOOL`].
    source: usize,
    offset: u64,
    len: usize,
    first_line: usize,
    /// Which document of the piece (a piece is one document but for unusual streams).
    document: usize,
    /// JSON Pointer of the object in its document (`/items/3` in a List).
    prefix: Box<str>,
}

/// `Reread::source` of stdin's StatefulSets, kept in the spool file.
const SPOOL: usize = usize::MAX;

/// One StatefulSet's review, kept until the end of the run.
struct Kept {
    findings: Vec<LocatedFinding>,
    /// Listed in the report (every one for JUnit, else only those not judged).
    object: Option<Box<ReviewedObject>>,
    /// The batch it was reviewed in.
    batch: u64,
    /// Its namespace, as an index in `Run::namespaces`.
    namespace: usize,
    reread: Reread,
}

/// When the index last changed in a way that could change a review, by namespace.
#[derive(Default)]
struct Changes {
    namespaced: HashMap<Box<str>, u64>,
    /// Objects that name no namespace (they match every one) and cluster-scoped kinds.
    everywhere: u64,
}

impl Changes {
    fn record(&mut self, namespace: Option<&str>, batch: u64) {
        match namespace {
            Some(namespace) if !namespace.is_empty() => {
                self.namespaced.insert(namespace.into(), batch);
            }
            _ => self.everywhere = batch,
        }
    }

    /// Whether the index changed for `namespace` after `batch`.
    fn since(&self, namespace: &str, batch: u64) -> bool {
        self.everywhere > batch || self.namespaced.get(namespace).is_some_and(|&b| b > batch)
    }
}

/// One run of `validate` over its files.
pub struct Run<'a> {
    options: &'a ReviewOptions<'a>,
    old_objects: HashMap<ObjectRef, &'a Value>,
    files: Vec<PathBuf>,
    list_all: bool,
    index: Inventory,
    changes: Changes,
    /// Batches so far: the clock of `changes`.
    batch: u64,
    /// `yaml-syntax` findings, in input order: the report lists them first.
    syntax: Vec<LocatedFinding>,
    kept: Vec<Kept>,
    namespaces: Vec<Box<str>>,
    namespace_ids: HashMap<Box<str>, usize>,
    spool: Option<Mutex<std::fs::File>>,
    spool_len: u64,
    /// Set when stdin turned out not to be UTF-8 after objects of it were indexed: the index is
    /// rebuilt without them at the end, and everything reviewed since is reviewed again.
    rebuild_from: Option<u64>,
    progress: Progress,
}

impl<'a> Run<'a> {
    pub fn new(
        options: &'a ReviewOptions<'a>,
        old_sources: &'a [SourceFile],
        files: Vec<PathBuf>,
        list_all: bool,
    ) -> Run<'a> {
        let total = files
            .iter()
            .map(|path| {
                (path.as_os_str() != "-")
                    .then(|| std::fs::metadata(path).ok().map(|m| m.len()))
                    .flatten()
            })
            .sum::<Option<u64>>();
        Run {
            options,
            old_objects: old_objects(old_sources, options.namespace),
            files,
            list_all,
            index: Inventory::empty_input(),
            changes: Changes::default(),
            batch: 0,
            syntax: Vec::new(),
            kept: Vec::new(),
            namespaces: Vec::new(),
            namespace_ids: HashMap::new(),
            spool: None,
            spool_len: 0,
            rebuild_from: None,
            progress: Progress::new(total),
        }
    }

    /// Reads and reviews every file, in order.
    pub fn read_all(&mut self) -> Result<(), ValidateError> {
        for file in 0..self.files.len() {
            self.read_file(file)?;
        }
        Ok(())
    }

    fn read_file(&mut self, file: usize) -> Result<(), ValidateError> {
        let path = self.files[file].clone();
        let stdin = path.as_os_str() == "-";
        let name = if stdin {
            STDIN_NAME.to_string()
        } else {
            path.display().to_string()
        };
        let read_error = |source| InputError::Read {
            path: path.clone(),
            source,
        };
        let mut reader: Box<dyn Read> = if stdin {
            Box::new(io::stdin().lock())
        } else {
            // A file that is not UTF-8 is one error and nothing else (`input::parse_source`):
            // known before any of its objects enters the index.
            if !input::is_utf8_file(&path)? {
                let source = input::read_source(&path)?;
                for error in source.documents.iter().filter_map(|d| d.as_ref().err()) {
                    self.syntax
                        .extend(syntax_finding(&name, error, self.options));
                }
                return Ok(());
            }
            Box::new(std::fs::File::open(&path).map_err(read_error)?)
        };
        let start = (self.syntax.len(), self.kept.len(), self.batch);
        let mut indexed = false;
        let mut splitter = DocumentSplitter::new();
        let mut pieces = Vec::new();
        let mut pending_bytes = 0;
        let mut buf = vec![0; READ_SIZE];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) if stdin => return Err(InputError::Stdin { source }.into()),
                Err(source) => return Err(read_error(source).into()),
            };
            self.progress.read(n);
            let before = pieces.len();
            if n == 0 {
                splitter.finish(&mut pieces);
            } else {
                splitter.push(&buf[..n], &mut pieces);
            }
            pending_bytes += pieces[before..]
                .iter()
                .map(|p| p.bytes.len())
                .sum::<usize>();
            if n == 0 || pieces.len() >= BATCH_DOCUMENTS || pending_bytes >= BATCH_BYTES {
                pending_bytes = 0;
                let batch = std::mem::take(&mut pieces);
                match self.review_pieces(file, &name, stdin, batch)? {
                    Ok(changed) => indexed |= changed,
                    Err(error) if stdin => {
                        // As `input::parse_source`: the file is that error and nothing else.
                        self.syntax.truncate(start.0);
                        self.kept.truncate(start.1);
                        self.syntax
                            .extend(syntax_finding(&name, &error, self.options));
                        if indexed {
                            self.rebuild_from = Some(self.rebuild_from.unwrap_or(start.2));
                        }
                        // The rest of stdin is not read: the file is judged.
                        return Ok(());
                    }
                    Err(_) => {
                        return Err(read_error(io::Error::other(
                            "the file changed while it was read",
                        ))
                        .into());
                    }
                }
            }
            if n == 0 {
                return Ok(());
            }
        }
    }

    /// Parses and reviews one batch of pieces of `name`. `Ok(Err(_))`: a piece is not
    /// UTF-8 (the error to report); `Ok(Ok(changed))`: whether the index changed.
    fn review_pieces(
        &mut self,
        file: usize,
        name: &str,
        spooled: bool,
        pieces: Vec<Piece>,
    ) -> Result<Result<bool, YamlError>, ValidateError> {
        let mut texts = Vec::with_capacity(pieces.len());
        for piece in pieces {
            match String::from_utf8(piece.bytes) {
                Ok(text) if Piece::is_blank(&text) => {}
                Ok(text) => texts.push((text, piece.first_line, piece.offset)),
                Err(e) => {
                    let valid = e.utf8_error().valid_up_to();
                    let before = std::str::from_utf8(&e.as_bytes()[..valid]).unwrap_or_default();
                    return Ok(Err(input::not_utf8(before, piece.first_line)));
                }
            }
        }
        self.batch += 1;
        let batch = self.batch;
        let parsed: Vec<Vec<Result<Document, YamlError>>> = texts
            .par_iter()
            .map(|(text, first_line, offset)| yaml::parse_piece_text(text, *first_line, *offset))
            .collect();
        let cluster = self.options.cluster.is_some();
        let mut changed = false;
        let mut work = Vec::new();
        for (piece, documents) in parsed.iter().enumerate() {
            for (index, document) in documents.iter().enumerate() {
                let document = match document {
                    Err(error) => {
                        self.syntax
                            .extend(syntax_finding(name, error, self.options));
                        continue;
                    }
                    Ok(document) => document,
                };
                let Some(value) = &document.value else {
                    continue;
                };
                for found in input::objects_of(value) {
                    if input::is_statefulset(found.value) {
                        work.push((
                            piece,
                            index,
                            Work {
                                file: name,
                                document,
                                found,
                            },
                        ));
                    } else if let Some((kind, namespace)) = self.index.add_input(found.value)
                        && kind.matters(cluster)
                    {
                        changed = true;
                        self.changes
                            .record(kind.is_namespaced().then_some(namespace), batch);
                    }
                }
            }
        }
        // Where each piece with a StatefulSet can be read again.
        let mut places: Vec<Option<(usize, u64)>> = vec![None; texts.len()];
        for (piece, _, _) in &work {
            if places[*piece].is_some() {
                continue;
            }
            let (text, _, offset) = &texts[*piece];
            places[*piece] = Some(if spooled {
                (SPOOL, self.spool(text.as_bytes())?)
            } else {
                (file, *offset as u64)
            });
        }
        let context = self.context();
        let reviewed: Vec<_> = work
            .par_iter()
            .map(|(_, _, item)| review_one(item, &self.old_objects, self.options, &context))
            .collect();
        self.progress.reviewed(work.len());
        for ((piece, document, item), (object, findings)) in work.iter().zip(reviewed) {
            let (text, first_line, _) = &texts[*piece];
            let Some((source, offset)) = places[*piece] else {
                continue;
            };
            let namespace = self.namespace_id(&object.object.namespace);
            let listed = self.list_all || object.not_judged.is_some();
            self.kept.push(Kept {
                findings,
                object: listed.then(|| Box::new(object)),
                batch,
                namespace,
                reread: Reread {
                    source,
                    offset,
                    len: text.len(),
                    first_line: *first_line,
                    document: *document,
                    prefix: item.found.prefix.as_str().into(),
                },
            });
        }
        Ok(Ok(changed))
    }

    fn context(&self) -> Context<'_> {
        Context {
            source: Source::File,
            namespace: Some(self.options.namespace),
            kube_version: self.options.kube_version,
            strict: self.options.strict,
            known: Known {
                input: Some(&self.index),
                cluster: self.options.cluster,
            },
            checks: true,
            // `validate` reports findings only: no patch to compute.
            defaults: false,
        }
    }

    fn namespace_id(&mut self, namespace: &str) -> usize {
        if let Some(&id) = self.namespace_ids.get(namespace) {
            return id;
        }
        self.namespaces.push(namespace.into());
        self.namespace_ids
            .insert(namespace.into(), self.namespaces.len() - 1);
        self.namespaces.len() - 1
    }

    /// Writes a document of stdin to the spool file; returns its offset there.
    fn spool(&mut self, bytes: &[u8]) -> Result<u64, ValidateError> {
        let spool_error = |source| InputError::Stdin { source };
        if self.spool.is_none() {
            self.spool = Some(Mutex::new(tempfile::tempfile().map_err(spool_error)?));
        }
        let offset = self.spool_len;
        if let Some(spool) = &self.spool {
            let mut file = spool
                .lock()
                .map_err(|_| spool_error(io::Error::other("poisoned")))?;
            file.write_all(bytes).map_err(spool_error)?;
        }
        self.spool_len += bytes.len() as u64;
        Ok(offset)
    }

    /// Settles the reviews that a later object could change, and makes the report.
    pub fn finish(mut self) -> Result<Report, ValidateError> {
        self.progress.finish();
        if self.rebuild_from.is_some() {
            self.rebuild_index()?;
        }
        let stale: Vec<usize> = (0..self.kept.len())
            .filter(|&i| {
                let kept = &self.kept[i];
                self.rebuild_from.is_some_and(|from| kept.batch >= from)
                    || self
                        .changes
                        .since(&self.namespaces[kept.namespace], kept.batch)
            })
            .collect();
        if !stale.is_empty() {
            let context = self.context();
            let redone: Vec<(ReviewedObject, Vec<LocatedFinding>)> = stale
                .par_iter()
                .map(|&i| self.review_again(&self.kept[i].reread, &context))
                .collect::<Result<_, _>>()?;
            for (i, (object, findings)) in stale.into_iter().zip(redone) {
                let kept = &mut self.kept[i];
                kept.findings = findings;
                let listed = self.list_all || object.not_judged.is_some();
                kept.object = listed.then(|| Box::new(object));
            }
        }
        let mut report = Report {
            files: self.files.len(),
            findings: self.syntax,
            ..Report::default()
        };
        for kept in self.kept {
            report.findings.extend(kept.findings);
            match kept.object {
                Some(object) => report.objects.push(*object),
                None => report.unlisted += 1,
            }
        }
        Ok(report)
    }

    /// Reads a StatefulSet's document again and reviews it.
    fn review_again(
        &self,
        reread: &Reread,
        context: &Context<'_>,
    ) -> Result<(ReviewedObject, Vec<LocatedFinding>), ValidateError> {
        let (path, name) = match self.files.get(reread.source) {
            Some(path) => (path.clone(), path.display().to_string()),
            None => (PathBuf::from("-"), STDIN_NAME.to_string()),
        };
        let changed = || -> ValidateError {
            InputError::Read {
                path: path.clone(),
                source: io::Error::other("the file changed while it was read"),
            }
            .into()
        };
        let read_error = |source| -> ValidateError {
            InputError::Read {
                path: path.clone(),
                source,
            }
            .into()
        };
        let mut bytes = vec![0; reread.len];
        match &self.spool {
            Some(spool) if reread.source == SPOOL => {
                let mut file = spool
                    .lock()
                    .map_err(|_| read_error(io::Error::other("poisoned")))?;
                file.seek(SeekFrom::Start(reread.offset))
                    .and_then(|_| file.read_exact(&mut bytes))
                    .map_err(read_error)?;
            }
            _ => {
                let mut file = std::fs::File::open(&path).map_err(read_error)?;
                file.seek(SeekFrom::Start(reread.offset))
                    .and_then(|_| file.read_exact(&mut bytes))
                    .map_err(read_error)?;
            }
        }
        let text = String::from_utf8(bytes).map_err(|_| changed())?;
        let documents = yaml::parse_piece_text(&text, reread.first_line, reread.offset as usize);
        let Some(Ok(document)) = documents.get(reread.document) else {
            return Err(changed());
        };
        let value = document.value.as_ref().ok_or_else(changed)?;
        let found = input::objects_of(value)
            .into_iter()
            .find(|found| *found.prefix == *reread.prefix)
            .ok_or_else(changed)?;
        let item = Work {
            file: &name,
            document,
            found,
        };
        Ok(review_one(&item, &self.old_objects, self.options, context))
    }

    /// The index without the objects of stdin, which turned out not to be UTF-8: the other
    /// files read again (stdin, the only input that cannot be, is the one left out).
    fn rebuild_index(&mut self) -> Result<(), ValidateError> {
        let mut index = Inventory::empty_input();
        for path in &self.files {
            if path.as_os_str() == "-" || !input::is_utf8_file(path)? {
                continue;
            }
            let source = input::read_source(path)?;
            add_to_index(&mut index, &source);
        }
        self.index = index;
        Ok(())
    }
}

/// Adds the objects of one file that are not StatefulSets to an index.
fn add_to_index(index: &mut Inventory, source: &SourceFile) {
    for document in source.documents.iter().filter_map(|d| d.as_ref().ok()) {
        let Some(value) = &document.value else {
            continue;
        };
        for found in input::objects_of(value) {
            if !input::is_statefulset(found.value) {
                index.add_input(found.value);
            }
        }
    }
}

/// A progress bar on stderr, only on a terminal and only once a run has taken a second:
/// bytes read (of the total when every input is a file) and StatefulSets per second.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    shown: bool,
    objects: u64,
}

impl Progress {
    fn new(total: Option<u64>) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let (bar, template) = match total {
                Some(total) => (
                    indicatif::ProgressBar::with_draw_target(
                        Some(total),
                        indicatif::ProgressDrawTarget::hidden(),
                    ),
                    "{bar:40} {bytes}/{total_bytes} {msg}",
                ),
                None => (
                    indicatif::ProgressBar::with_draw_target(
                        None,
                        indicatif::ProgressDrawTarget::hidden(),
                    ),
                    "{spinner} {bytes} read, {msg}",
                ),
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            shown: false,
            objects: 0,
        }
    }

    fn read(&mut self, bytes: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes as u64);
        }
    }

    fn reviewed(&mut self, objects: usize) {
        let Some(bar) = &self.bar else {
            return;
        };
        self.objects += objects as u64;
        let elapsed = self.started.elapsed();
        if !self.shown && elapsed.as_secs() >= 1 {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            self.shown = true;
        }
        let rate = self.objects as f64 / elapsed.as_secs_f64().max(0.001);
        bar.set_message(format!("{} StatefulSets ({rate:.0}/s)", self.objects));
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_in_no_namespace_concern_every_namespace() {
        let mut changes = Changes::default();
        changes.record(Some("a"), 2);
        assert!(changes.since("a", 1));
        assert!(!changes.since("a", 2));
        assert!(!changes.since("b", 1));
        changes.record(None, 3);
        assert!(changes.since("b", 2));
        changes.record(Some(""), 4);
        assert!(changes.since("b", 3));
    }
}

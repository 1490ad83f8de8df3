//! `validate` over inputs of any size, in flat memory: the files (and stdin) are read a batch
//! of documents at a time ([`BatchReader`], parsed in parallel), reviewed in parallel,
//! handed to the output format ([`Emit`]) and dropped. What stays is a small index of the
//! objects the rules look up (Services, StorageClasses, ConfigMaps…: [`Inventory`]) and a few
//! numbers per StatefulSet whose verdict a later object could still change.
//!
//! A StatefulSet is reviewed against the objects of the input read so far, and the engine
//! says what its lookups learnt ([`InputReads`]):
//! - nothing that a later object could change: its verdict is final and goes out at once, so
//!   that a long pipe (`helm template … | stsguard validate -`) shows findings as it goes;
//! - it looked for an object the input has not shown yet (a Service that comes after its
//!   StatefulSet, in the same file or a later one): it waits for the end of the input and is
//!   reviewed again if the index changed where it looks ([`Changes`]);
//! - it read a Service of the input, which a later Service of the same name would replace
//!   (a mistake, but one `kubectl apply` would act on): it goes out at once, and should that
//!   happen it is reviewed again at the end and, if its findings changed, given again.
//!
//! The findings are those of a review of the whole input at once (`review_sources`); only
//! their order differs for the formats that print as they go. The held StatefulSets are read
//! again where they are: files by offset, stdin from a temporary file its documents with
//! StatefulSets are copied to.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::{self, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use serde_json::Value;

use super::{Judged, ReviewOptions, ValidateError, Work, old_objects, review_one, syntax_finding};
use crate::cli::batches::{BatchReader, ParsedPiece};
use crate::cli::input::{self, InputError, STDIN_NAME, SourceFile};
use crate::cli::report::{Emit, LocatedFinding, ObjectRef, ReviewedObject, Tally};
use crate::engine::cluster::{Inventory, Known};
use crate::engine::{Context, Source};
use crate::yaml;

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

/// Where a StatefulSet is, and when and in which namespace it was reviewed.
struct Place {
    /// Its place among the input's StatefulSets.
    seq: usize,
    /// The batch it was reviewed in.
    batch: u64,
    /// Its namespace, as an index in `Run::namespaces`.
    namespace: usize,
    reread: Reread,
}

/// A StatefulSet that waits for the end of the input, with its review so far.
struct Held {
    place: Place,
    findings: Vec<LocatedFinding>,
    /// Its entry, when the output lists it.
    object: Option<Box<ReviewedObject>>,
}

/// A StatefulSet given out that read a Service of the input: what it was given with.
struct Given {
    place: Place,
    tally: Tally,
    fingerprint: u64,
}

/// When the index last changed for a namespace, by batch.
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

/// What a batch holds, in input order: `yaml-syntax` findings and StatefulSets (an index in
/// the batch's work).
enum Slot {
    Syntax(LocatedFinding),
    Object(usize),
}

/// One run of `validate` over its files.
pub struct Run<'a, 'e> {
    options: &'a ReviewOptions<'a>,
    old_objects: HashMap<ObjectRef, &'a Value>,
    files: Vec<PathBuf>,
    emit: &'e mut dyn Emit,
    /// The first error writing the output: nothing more is written, the run goes on to its
    /// exit code.
    emit_error: Option<io::Error>,
    list_all: bool,
    index: Inventory,
    /// Changes of the objects a lookup could find (for the held StatefulSets).
    changes: Changes,
    /// Services that replace one a lookup may have found (for the given ones).
    redefinitions: Changes,
    /// Batches so far: the clock of `changes` and `redefinitions`.
    batch: u64,
    /// StatefulSets so far.
    seq: usize,
    tally: Tally,
    held: Vec<Held>,
    given: Vec<Given>,
    namespaces: Vec<Box<str>>,
    namespace_ids: HashMap<Box<str>, usize>,
    spool: Option<Mutex<std::fs::File>>,
    spool_len: u64,
    progress: Progress,
}

impl<'a, 'e> Run<'a, 'e> {
    /// `list_all`: every StatefulSet goes to `emit` with its entry (JUnit), not only those
    /// not judged.
    pub fn new(
        options: &'a ReviewOptions<'a>,
        old_sources: &'a [SourceFile],
        files: Vec<PathBuf>,
        list_all: bool,
        emit: &'e mut dyn Emit,
    ) -> Run<'a, 'e> {
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
            emit,
            emit_error: None,
            list_all,
            index: Inventory::empty_input(),
            changes: Changes::default(),
            redefinitions: Changes::default(),
            batch: 0,
            seq: 0,
            tally: Tally::default(),
            held: Vec::new(),
            given: Vec::new(),
            namespaces: Vec::new(),
            namespace_ids: HashMap::new(),
            spool: None,
            spool_len: 0,
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

    /// Hands something to the output format, unless writing already failed.
    fn emit(&mut self, write: impl FnOnce(&mut dyn Emit) -> io::Result<()>) {
        if self.emit_error.is_none()
            && let Err(error) = write(&mut *self.emit)
        {
            self.emit_error = Some(error);
        }
    }

    fn read_file(&mut self, file: usize) -> Result<(), ValidateError> {
        let path = &self.files[file];
        let stdin = path.as_os_str() == "-";
        let mut reader = BatchReader::open(path)?;
        let name = reader.name().to_string();
        let mut read = 0;
        while let Some(pieces) = reader.next() {
            let pieces = pieces?;
            self.progress.read(reader.bytes_read() - read);
            read = reader.bytes_read();
            self.review_pieces(file, &name, stdin, pieces)?;
        }
        Ok(())
    }

    /// Reviews one batch of pieces of `name`, and hands out what is final. `spooled`: the
    /// input is stdin, which cannot be read again.
    fn review_pieces(
        &mut self,
        file: usize,
        name: &str,
        spooled: bool,
        pieces: Vec<ParsedPiece>,
    ) -> Result<(), ValidateError> {
        self.batch += 1;
        let batch = self.batch;
        let cluster = self.options.cluster.is_some();
        let mut slots = Vec::new();
        let mut work = Vec::new();
        for (piece, parsed) in pieces.iter().enumerate() {
            for (index, document) in parsed.documents.iter().enumerate() {
                let document = match document {
                    Err(error) => {
                        slots.extend(syntax_finding(name, error, self.options).map(Slot::Syntax));
                        continue;
                    }
                    Ok(document) => document,
                };
                let Some(value) = &document.value else {
                    continue;
                };
                for found in input::objects_of(value) {
                    if input::is_statefulset(found.value) {
                        slots.push(Slot::Object(work.len()));
                        work.push((
                            piece,
                            index,
                            Work {
                                file: name,
                                document,
                                found,
                            },
                        ));
                    } else if let Some(added) = self.index.add_input(found.value) {
                        let namespace = added.kind.is_namespaced().then_some(added.namespace);
                        if added.kind.matters(cluster) {
                            self.changes.record(namespace, batch);
                        }
                        if added.redefines {
                            self.redefinitions.record(namespace, batch);
                        }
                    }
                }
            }
        }
        let context = self.context();
        let mut reviewed: Vec<Option<Judged>> = work
            .par_iter()
            .map(|(_, _, item)| Some(review_one(item, &self.old_objects, self.options, &context)))
            .collect();
        self.progress.reviewed(work.len());
        let mut spooled_at: Option<(usize, u64)> = None;
        for slot in slots {
            let i = match slot {
                Slot::Syntax(finding) => {
                    self.tally.add(std::slice::from_ref(&finding));
                    self.emit(|emit| emit.syntax(finding));
                    continue;
                }
                Slot::Object(i) => i,
            };
            let Some(judged) = reviewed[i].take() else {
                continue;
            };
            let (piece, document, item) = &work[i];
            let parsed = &pieces[*piece];
            let seq = self.seq;
            self.seq += 1;
            let reads = judged.reads;
            let place = if reads.missed || reads.found {
                let (source, offset) = if spooled {
                    // Once per piece, however many StatefulSets it holds (a List).
                    let offset = match spooled_at {
                        Some((at, offset)) if at == *piece => offset,
                        _ => self.spool(parsed.text.as_bytes())?,
                    };
                    spooled_at = Some((*piece, offset));
                    (SPOOL, offset)
                } else {
                    (file, parsed.offset as u64)
                };
                Some(Place {
                    seq,
                    batch,
                    namespace: self.namespace_id(&judged.object.object.namespace),
                    reread: Reread {
                        source,
                        offset,
                        len: parsed.text.len(),
                        first_line: parsed.first_line,
                        document: *document,
                        prefix: item.found.prefix.as_str().into(),
                    },
                })
            } else {
                None
            };
            match place {
                Some(place) if reads.missed => {
                    let object = self.listed(&judged.object).then(|| Box::new(judged.object));
                    self.held.push(Held {
                        place,
                        findings: judged.findings,
                        object,
                    });
                }
                place => {
                    if let Some(place) = place {
                        self.given.push(Given {
                            place,
                            tally: Tally::of(&judged.findings),
                            fingerprint: fingerprint(&judged.findings),
                        });
                    }
                    self.give(seq, judged);
                }
            }
        }
        // What this batch gave out shows now; the progress bar steps aside for it.
        if self.emit_error.is_none() {
            let emit = &mut *self.emit;
            if let Err(error) = self.progress.suspend(|| emit.flush()) {
                self.emit_error = Some(error);
            }
        }
        Ok(())
    }

    /// Whether the output lists this StatefulSet (every one for JUnit, else only those not
    /// judged).
    fn listed(&self, object: &ReviewedObject) -> bool {
        self.list_all || object.not_judged.is_some()
    }

    /// Hands out a StatefulSet's final verdict.
    fn give(&mut self, seq: usize, judged: Judged) {
        let file = judged.object.file.clone();
        let object = self.listed(&judged.object).then_some(judged.object);
        self.give_parts(seq, &file, object, judged.findings);
    }

    fn give_parts(
        &mut self,
        seq: usize,
        file: &str,
        object: Option<ReviewedObject>,
        findings: Vec<LocatedFinding>,
    ) {
        self.tally.add(&findings);
        self.emit(|emit| emit.object(seq, file, object, findings));
    }

    fn context(&self) -> Context<'_> {
        Context {
            source: Source::File,
            namespace: Some(self.options.namespace),
            kube_version: self.options.kube_version,
            strict: self.options.strict,
            known: Known::new(Some(&self.index), self.options.cluster),
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

    /// Settles the StatefulSets that waited for the end of the input and those a later
    /// Service may have changed, and ends the output. Returns the errors and warnings of the
    /// whole run, and the first error writing the output.
    pub fn finish(mut self) -> Result<(Tally, Option<io::Error>), ValidateError> {
        self.progress.finish();
        // In chunks, each given out before the next is judged: a late Service can make every
        // held StatefulSet's findings change, and they are not all kept at once.
        let held = std::mem::take(&mut self.held);
        for chunk in chunks(held) {
            let judged: Vec<Option<Judged>> = {
                let (context, reader) = (self.context(), self.again_reader());
                chunk
                    .par_iter()
                    .map(|held| {
                        let place = &held.place;
                        self.changes
                            .since(&self.namespaces[place.namespace], place.batch)
                            .then(|| reader.review_again(&place.reread, &context))
                            .transpose()
                    })
                    .collect::<Result<_, ValidateError>>()?
            };
            for (held, judged) in chunk.into_iter().zip(judged) {
                match judged {
                    Some(judged) => self.give(held.place.seq, judged),
                    None => {
                        let file = self.file_name(held.place.reread.source);
                        let object = held.object.map(|object| *object);
                        self.give_parts(held.place.seq, &file, object, held.findings);
                    }
                }
            }
        }
        let given = std::mem::take(&mut self.given);
        for chunk in chunks(given) {
            let again: Vec<(usize, Tally, Judged)> = {
                let (context, reader) = (self.context(), self.again_reader());
                chunk
                    .par_iter()
                    .filter(|given| {
                        let place = &given.place;
                        self.redefinitions
                            .since(&self.namespaces[place.namespace], place.batch)
                    })
                    .map(|given| {
                        let judged = reader.review_again(&given.place.reread, &context)?;
                        let changed = fingerprint(&judged.findings) != given.fingerprint;
                        Ok(changed.then_some((given.place.seq, given.tally, judged)))
                    })
                    .filter_map(Result::transpose)
                    .collect::<Result<_, ValidateError>>()?
            };
            for (seq, before, judged) in again {
                self.tally.remove(before);
                self.tally.add(&judged.findings);
                self.emit(|emit| emit.again(seq, judged.object, judged.findings));
            }
        }
        let (files, tally) = (self.files.len(), self.tally);
        self.emit(|emit| emit.finish(files, tally));
        Ok((self.tally, self.emit_error))
    }

    /// The name a file is reported under.
    fn file_name(&self, source: usize) -> String {
        match self.files.get(source) {
            Some(path) => path.display().to_string(),
            None => STDIN_NAME.to_string(),
        }
    }

    /// What reading a StatefulSet again needs (and no more: it is shared between threads).
    fn again_reader(&self) -> AgainReader<'_> {
        AgainReader {
            files: &self.files,
            spool: self.spool.as_ref(),
            old_objects: &self.old_objects,
            options: self.options,
        }
    }
}

/// Reads StatefulSets again, to review them at the end of the input.
struct AgainReader<'r> {
    files: &'r [PathBuf],
    spool: Option<&'r Mutex<std::fs::File>>,
    old_objects: &'r HashMap<ObjectRef, &'r Value>,
    options: &'r ReviewOptions<'r>,
}

impl AgainReader<'_> {
    /// Reads a StatefulSet's document again and reviews it.
    fn review_again(
        &self,
        reread: &Reread,
        context: &Context<'_>,
    ) -> Result<Judged, ValidateError> {
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
        match self.spool {
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
        Ok(review_one(&item, self.old_objects, self.options, context))
    }
}

/// StatefulSets settled at the end of the input at a time.
const SETTLE_CHUNK: usize = 1024;

/// `items` in chunks of [`SETTLE_CHUNK`], each its own vector (given out, then dropped).
fn chunks<T>(items: Vec<T>) -> impl Iterator<Item = Vec<T>> {
    let mut items = items.into_iter();
    std::iter::from_fn(move || {
        let chunk: Vec<T> = items.by_ref().take(SETTLE_CHUNK).collect();
        (!chunk.is_empty()).then_some(chunk)
    })
}

/// A digest of a StatefulSet's findings, to tell whether a second review changed them.
fn fingerprint(findings: &[LocatedFinding]) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    for located in findings {
        let finding = &located.finding;
        (located.line, located.column, finding.rule.id()).hash(&mut hasher);
        (finding.severity as u8, &finding.message, &finding.hint).hash(&mut hasher);
    }
    hasher.finish()
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

    fn read(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
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

    /// Runs `f` (which writes to the terminal) with the bar cleared while it runs.
    fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.bar {
            Some(bar) if self.shown => bar.suspend(f),
            _ => f(),
        }
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

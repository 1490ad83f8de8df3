//! YAML with positions.
//!
//! [`parse_stream`] cuts a YAML stream into documents at the lines that are document markers
//! (`---` or `...` at column 0), parses each piece on its own with the `saphyr-parser` event
//! parser, and converts the events to [`serde_json::Value`] the way Kubernetes' YAML decoder
//! (sigs.k8s.io/yaml) does. A broken document becomes a [`YamlError`] carrying the absolute line
//! and column in the whole text; the documents after it are still parsed.
//!
//! Next to each value a [`Document`] keeps a small tree of source positions that mirrors the
//! value (sorted member keys per mapping, one entry per sequence item), so
//! [`Document::locate`] walks a JSON Pointer without building strings per node.
//!
//! Conversion rules:
//! - mappings become objects; keys that are numbers or booleans become their string form; null,
//!   list and mapping keys are refused, and so are duplicate keys (as kubectl does);
//! - plain scalars are resolved with the YAML 1.2 core schema (`yes` stays a string), with one
//!   Kubernetes compatibility rule: an integer written with a leading zero (`0644`) is octal, as
//!   in the YAML 1.1 decoder behind kubectl (`defaultMode: 0644` means 420);
//! - floats with an integral value (`1.0`, `1e3`) become integers, as Go's JSON encoding of the
//!   decoded float64 does; `.inf`, `.nan` and floats too large for an f64 stay strings; integers
//!   beyond the 64-bit range become f64 numbers;
//! - `!!str`, `!!int`, `!!float`, `!!bool`, `!!null` are honoured, other tags are ignored;
//! - anchors and aliases are resolved by copying; merge keys (`<<`) are applied;
//! - a document may not expand to more than [`MAX_NODES`] nodes (alias bombs) nor nest deeper
//!   than [`MAX_DEPTH`] levels.
//!
//! Two places where `saphyr-parser` is stricter than the libyaml-based decoder of kubectl are
//! smoothed over by repairing the text and parsing again (at most [`MAX_REPAIRS`] times per
//! document), without changing any value and with positions mapped back to the original text:
//! a tab right after the `:` of a `key:<TAB>value` pair, and continuation lines of a multi-line
//! quoted scalar that are indented less than YAML 1.2 requires (common in old Kubernetes
//! examples that keep JSON in annotations).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError, Tag};
use serde_json::{Map, Number, Value};

/// Most nodes one document may expand to, aliases and stored anchors included.
pub const MAX_NODES: usize = 1_000_000;
/// Deepest nesting of sequences and mappings in one document.
pub const MAX_DEPTH: usize = 512;
/// Most repairs (see the module documentation) tried on one document.
pub const MAX_REPAIRS: usize = 256;

/// 1-based line and column in the input text. Columns count characters, not bytes; a leading
/// byte order mark is not counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// One document of a YAML stream.
#[derive(Clone, Debug)]
pub struct Document {
    /// `None` for an empty document (only comments, or nothing between two `---`).
    pub value: Option<Value>,
    /// Where the document starts: its `---` line, or its first node.
    pub start: Location,
    /// The document's bytes in the input text (from its `---` line, if any, to the next
    /// document), for passing a document through unchanged.
    pub span: std::ops::Range<usize>,
    /// Positions of the nodes of `value`, `None` when there are none to give.
    positions: Option<PosTree>,
}

impl Document {
    /// A document without position information: [`Document::locate`] answers `start`.
    pub fn new(value: Option<Value>, start: Location) -> Document {
        Document {
            value,
            start,
            span: 0..0,
            positions: None,
        }
    }

    /// Where the node at `pointer` (a JSON Pointer, RFC 6901) starts, or its nearest existing
    /// parent. For a mapping member this is the position of its key (`replicas:`), for a
    /// sequence item the position of the item, for `""` the start of the document.
    pub fn locate(&self, pointer: &str) -> Location {
        let (Some(mut node), Some(rest)) = (self.positions.as_ref(), pointer.strip_prefix('/'))
        else {
            return self.start;
        };
        let mut best = self.start;
        for raw in rest.split('/') {
            let token = unescape_pointer_token(raw);
            match &node.kids {
                Kids::Map(members) => {
                    match members.binary_search_by(|m| (*m.key).cmp(token.as_ref())) {
                        Ok(i) => {
                            let member = &members[i];
                            best = member.key_at.location();
                            node = &member.node;
                        }
                        Err(_) => return best,
                    }
                }
                Kids::Seq(items) => match parse_index(&token).and_then(|i| items.get(i)) {
                    Some(item) => {
                        best = item.at.location();
                        node = item;
                    }
                    None => return best,
                },
                Kids::Leaf => return best,
            }
        }
        best
    }
}

/// A document that is not valid YAML. The message is text: it comes from the YAML parser's
/// own errors and from ours alike, and is only ever shown.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Splits a YAML stream into documents, each parsed on its own: a broken document does not
/// stop the others. The documents of a long stream are parsed in parallel (rayon); the
/// result keeps their order.
pub fn parse_stream(input: &str) -> Vec<Result<Document, YamlError>> {
    use rayon::prelude::*;

    let text = input.strip_prefix('\u{feff}').unwrap_or(input);
    let bom = input.len() - text.len();
    let chunks: Vec<Chunk<'_>> = split_documents(text)
        .into_iter()
        .filter(|chunk| !chunk.text.trim().is_empty())
        .collect();
    let parse = |chunk: &Chunk<'_>| -> Vec<Result<Document, YamlError>> {
        // `chunk.text` is a slice of `text`: its offset gives the document's span.
        let start = bom + (chunk.text.as_ptr() as usize - text.as_ptr() as usize);
        parse_piece(chunk, start)
    };
    // One document (the common file) is not worth a hand-off to the thread pool.
    let parsed: Vec<Vec<Result<Document, YamlError>>> = if chunks.len() < 2 {
        chunks.iter().map(parse).collect()
    } else {
        chunks.par_iter().map(parse).collect()
    };
    parsed.into_iter().flatten().collect()
}

/// Parses one piece of a stream that [`DocumentSplitter`] cut: the documents it holds, as
/// [`parse_stream`] gives them for the same text in the whole stream. `first_line` is the
/// piece's first line in the stream, `offset` its first byte (for [`Document::span`]).
pub fn parse_piece_text(
    text: &str,
    first_line: usize,
    offset: usize,
) -> Vec<Result<Document, YamlError>> {
    parse_piece(&Chunk { text, first_line }, offset)
}

fn parse_piece(chunk: &Chunk<'_>, offset: usize) -> Vec<Result<Document, YamlError>> {
    let span = offset..offset + chunk.text.len();
    // The parser is not ours: should it ever panic, report the document instead of
    // taking the whole run down.
    match catch_unwind(AssertUnwindSafe(|| parse_chunk(chunk))) {
        Ok(docs) => docs
            .into_iter()
            .map(|doc| {
                doc.map(|mut doc| {
                    doc.span = span.clone();
                    doc
                })
            })
            .collect(),
        Err(_) => vec![Err(YamlError {
            line: chunk.first_line,
            column: 1,
            message: "internal error: the YAML parser failed on this document".to_string(),
        })],
    }
}

// ---------------------------------------------------------------------------------------------
// Splitting a stream as it is read

/// One document's worth of bytes of a stream read piece by piece: what [`parse_stream`]
/// would parse on its own, cut at the same lines.
#[derive(Debug)]
pub struct Piece {
    /// The bytes, not yet known to be UTF-8.
    pub bytes: Vec<u8>,
    /// Its first line in the stream (1-based).
    pub first_line: usize,
    /// Its first byte in the stream (a leading byte order mark counted).
    pub offset: usize,
}

/// Cuts a stream into pieces as its bytes arrive, at the lines where [`parse_stream`] cuts
/// the whole text (before each `---` line, after each `...` line), so that a reader holds one
/// document at a time instead of the stream. Lines end at `\n`, `\r\n` or a lone `\r`; a
/// leading byte order mark is skipped. Pieces that are only white space are dropped, as
/// [`parse_stream`] drops them (checked on the text once it is known to be UTF-8: see
/// [`Piece::is_blank`]).
#[derive(Debug, Default)]
pub struct DocumentSplitter {
    /// Bytes read and not yet handed out: the current piece from `begin`, then bytes not yet
    /// cut into lines.
    buf: Vec<u8>,
    /// Where in `buf` the current piece starts.
    begin: usize,
    /// Where in `buf` the next line starts.
    scan: usize,
    /// Stream offset of `buf[begin]`.
    offset: usize,
    /// Line number of the last line scanned.
    line_no: usize,
    start_line: usize,
    has_marker: bool,
    has_content: bool,
    /// Whether the start of the stream (and a byte order mark there) was looked at.
    started: bool,
}

impl Piece {
    /// Whether the piece holds nothing but white space (and is skipped).
    pub fn is_blank(text: &str) -> bool {
        text.trim().is_empty()
    }
}

impl DocumentSplitter {
    pub fn new() -> DocumentSplitter {
        DocumentSplitter {
            start_line: 1,
            ..DocumentSplitter::default()
        }
    }

    /// Takes the next bytes of the stream; the pieces they complete go to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Piece>) {
        // What was handed out goes, once per push rather than once per piece.
        self.buf.drain(..self.begin);
        self.scan -= self.begin;
        self.begin = 0;
        self.buf.extend_from_slice(bytes);
        self.cut(false, out);
    }

    /// The end of the stream: the last piece goes to `out`.
    pub fn finish(&mut self, out: &mut Vec<Piece>) {
        self.cut(true, out);
        if self.begin < self.buf.len() {
            self.emit(self.buf.len(), out);
        }
    }

    /// Hands out `buf[begin..end]`, copied: a piece holds its own bytes and no more.
    fn emit(&mut self, end: usize, out: &mut Vec<Piece>) {
        let bytes = self.buf[self.begin..end].to_vec();
        let len = bytes.len();
        out.push(Piece {
            bytes,
            first_line: self.start_line,
            offset: self.offset,
        });
        self.offset += len;
        self.begin = end;
    }

    fn cut(&mut self, eof: bool, out: &mut Vec<Piece>) {
        if !self.started {
            const BOM: &[u8] = "\u{feff}".as_bytes();
            if self.buf.len() < BOM.len() && !eof && BOM.starts_with(&self.buf) {
                return;
            }
            self.started = true;
            if self.buf.starts_with(BOM) {
                self.begin = BOM.len();
                self.scan = BOM.len();
                self.offset = BOM.len();
            }
        }
        loop {
            let start = self.scan;
            let Some(found) = self.buf[start..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
            else {
                if eof && start < self.buf.len() {
                    // The last line, without a break.
                    let end = self.buf.len();
                    self.line(start, end, end, out);
                }
                return;
            };
            let end = start + found;
            let next = if self.buf[end] == b'\r' {
                match self.buf.get(end + 1) {
                    Some(b'\n') => end + 2,
                    Some(_) => end + 1,
                    // A `\r` last in the buffer may be the first half of `\r\n`.
                    None if eof => end + 1,
                    None => return,
                }
            } else {
                end + 1
            };
            self.line(start, end, next, out);
        }
    }

    /// One line, `buf[start..end]`, its break ending at `next`: the state machine of
    /// [`split_documents`].
    fn line(&mut self, start: usize, end: usize, next: usize, out: &mut Vec<Piece>) {
        self.line_no += 1;
        self.scan = next;
        let line = &self.buf[start..end];
        if is_marker_bytes(line, b"---") {
            if self.has_marker || self.has_content {
                self.emit(start, out);
                self.start_line = self.line_no;
                self.has_content = false;
            }
            self.has_marker = true;
        } else if is_marker_bytes(line, b"...") {
            self.emit(next, out);
            self.start_line = self.line_no + 1;
            self.has_marker = false;
            self.has_content = false;
        } else if !self.has_content {
            let first = line.iter().position(|&b| b != b' ' && b != b'\t');
            let directive = !self.has_marker && line.first() == Some(&b'%');
            if let Some(first) = first
                && line[first] != b'#'
                && !directive
            {
                self.has_content = true;
            }
        }
    }
}

/// [`is_marker`] on bytes.
fn is_marker_bytes(line: &[u8], marker: &[u8]) -> bool {
    match line.strip_prefix(marker) {
        Some(rest) => rest.is_empty() || rest.starts_with(b" ") || rest.starts_with(b"\t"),
        None => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Positions

/// An absolute position, 1-based, kept small.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Pos {
    line: u32,
    col: u32,
}

impl Pos {
    fn new(line: usize, col: usize) -> Pos {
        Pos {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
        }
    }

    fn location(self) -> Location {
        Location {
            line: self.line as usize,
            column: self.col as usize,
        }
    }
}

/// Positions of a node and its children, mirroring the value.
#[derive(Clone, Debug)]
struct PosTree {
    at: Pos,
    kids: Kids,
}

#[derive(Clone, Debug)]
enum Kids {
    Leaf,
    Seq(Box<[PosTree]>),
    /// Sorted by key.
    Map(Box<[Member]>),
}

#[derive(Clone, Debug)]
struct Member {
    key: Box<str>,
    key_at: Pos,
    node: PosTree,
}

impl PosTree {
    fn leaf(at: Pos) -> PosTree {
        PosTree {
            at,
            kids: Kids::Leaf,
        }
    }
}

fn unescape_pointer_token(raw: &str) -> Cow<'_, str> {
    if raw.contains('~') {
        Cow::Owned(raw.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(raw)
    }
}

fn parse_index(token: &str) -> Option<usize> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Splitting the stream

/// One document's worth of text, starting at the beginning of line `first_line`.
struct Chunk<'a> {
    text: &'a str,
    first_line: usize,
}

/// The lines of `text` as (start byte, line without its break, start byte of the next line).
/// Breaks are `\n`, `\r\n` and a lone `\r`, as for the parser.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str, usize)> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let start = pos;
        let mut end = start;
        while end < bytes.len() && bytes[end] != b'\n' && bytes[end] != b'\r' {
            end += 1;
        }
        let mut next = end;
        if next < bytes.len() {
            next += if bytes[next] == b'\r' && bytes.get(next + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
        }
        pos = next;
        Some((start, text.get(start..end).unwrap_or_default(), next))
    })
}

/// `---` or `...` alone on a line, or followed by white space.
fn is_marker(line: &str, marker: &str) -> bool {
    match line.strip_prefix(marker) {
        Some(rest) => rest.is_empty() || rest.starts_with([' ', '\t']),
        None => false,
    }
}

/// Cuts the stream before each `---` line and after each `...` line. Comments, blank lines
/// and directives before a `---` stay with the document that `---` opens.
fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut has_marker = false;
    let mut has_content = false;
    let mut line_no = 0;
    for (line_start, line, next) in lines(text) {
        line_no += 1;
        if is_marker(line, "---") {
            if has_marker || has_content {
                chunks.push(Chunk {
                    text: text.get(start..line_start).unwrap_or_default(),
                    first_line: start_line,
                });
                start = line_start;
                start_line = line_no;
                has_content = false;
            }
            has_marker = true;
        } else if is_marker(line, "...") {
            chunks.push(Chunk {
                text: text.get(start..next).unwrap_or_default(),
                first_line: start_line,
            });
            start = next;
            start_line = line_no + 1;
            has_marker = false;
            has_content = false;
        } else if !has_content {
            let trimmed = line.trim_start_matches([' ', '\t']);
            let directive = !has_marker && line.starts_with('%');
            if !(trimmed.is_empty() || trimmed.starts_with('#') || directive) {
                has_content = true;
            }
        }
    }
    if start < text.len() {
        chunks.push(Chunk {
            text: text.get(start..).unwrap_or_default(),
            first_line: start_line,
        });
    }
    chunks
}

// ---------------------------------------------------------------------------------------------
// Parsing one chunk

/// Maps parser markers (chunk-relative line, 0-based column in the possibly repaired text) to
/// absolute positions in the original text.
struct Mapper<'a> {
    first_line: usize,
    /// Spaces inserted at the start of a chunk line by repairs.
    shifts: &'a BTreeMap<usize, usize>,
}

impl Mapper<'_> {
    fn pos(&self, m: &Marker) -> Pos {
        let shift = if self.shifts.is_empty() {
            0
        } else {
            self.shifts.get(&m.line()).copied().unwrap_or(0)
        };
        Pos::new(
            self.first_line.saturating_add(m.line().saturating_sub(1)),
            m.col().saturating_sub(shift).saturating_add(1),
        )
    }
}

enum Failure {
    /// The parser refused the text.
    Scan(ScanError, YamlError),
    /// The text is YAML, but not something we accept (duplicate keys, limits, ...).
    Yaml(YamlError),
}

fn error_at(at: Pos, message: impl Into<String>) -> YamlError {
    YamlError {
        line: at.line as usize,
        column: at.col as usize,
        message: message.into(),
    }
}

fn parse_chunk(chunk: &Chunk<'_>) -> Vec<Result<Document, YamlError>> {
    let mut text: Cow<'_, str> = Cow::Borrowed(chunk.text);
    let mut shifts: BTreeMap<usize, usize> = BTreeMap::new();
    let mut repairs = 0;
    loop {
        let mut out = Vec::new();
        let result = {
            let mapper = Mapper {
                first_line: chunk.first_line,
                shifts: &shifts,
            };
            run_parser(&text, &mapper, &mut out)
        };
        match result {
            Ok(()) => {
                if out.is_empty() {
                    out.push(Ok(Document::new(
                        None,
                        Location {
                            line: chunk.first_line,
                            column: 1,
                        },
                    )));
                }
                return out;
            }
            Err(Failure::Scan(scan, error)) => {
                if repairs < MAX_REPAIRS
                    && let Some(fixed) = repair(&text, &scan, &mut shifts)
                {
                    text = Cow::Owned(fixed);
                    repairs += 1;
                    continue;
                }
                out.push(Err(within(chunk, error)));
                return out;
            }
            Err(Failure::Yaml(error)) => {
                out.push(Err(within(chunk, error)));
                return out;
            }
        }
    }
}

/// Moves an error that the parser places past the end of the chunk to its end. At the end
/// of a text without a final line break (`%YAML 1.2`, a lone directive) saphyr reports the
/// line after the last one, which `file:line:column` would then name though the file does
/// not have it (found by the `yaml` fuzz target).
fn within(chunk: &Chunk<'_>, mut error: YamlError) -> YamlError {
    let mut last_line = chunk.first_line;
    let mut last_column = 1;
    for (n, (_, line, next)) in lines(chunk.text).enumerate() {
        let ends_with_break =
            next > 0 && matches!(chunk.text.as_bytes().get(next - 1), Some(b'\n' | b'\r'));
        (last_line, last_column) = if ends_with_break {
            (chunk.first_line + n + 1, 1)
        } else {
            (chunk.first_line + n, line.chars().count() + 1)
        };
    }
    if (error.line, error.column) > (last_line, last_column) {
        error.line = last_line;
        error.column = last_column;
    }
    error
}

fn run_parser(
    text: &str,
    mapper: &Mapper<'_>,
    out: &mut Vec<Result<Document, YamlError>>,
) -> Result<(), Failure> {
    let mut parser = Parser::new_from_str(text);
    let mut builder: Option<Builder> = None;
    let mut doc_start = Pos::default();
    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(ok) => ok,
            Err(e) => {
                let error = scan_error(&e, mapper, text);
                return Err(Failure::Scan(e, error));
            }
        };
        let at = mapper.pos(&span.start);
        match event {
            Event::Nothing | Event::StreamStart => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                builder = Some(Builder::default());
                doc_start = at;
            }
            Event::DocumentEnd => {
                if let Some(b) = builder.take() {
                    out.push(Ok(b.finish(doc_start)));
                }
            }
            other => {
                if let Some(b) = builder.as_mut() {
                    b.event(other, at).map_err(Failure::Yaml)?;
                }
            }
        }
    }
    if let Some(b) = builder.take() {
        out.push(Ok(b.finish(doc_start)));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Building values

/// A finished node.
#[derive(Clone)]
struct Node {
    value: Value,
    pos: PosTree,
    /// Nodes in this subtree.
    nodes: usize,
    /// Levels of sequences and mappings in this subtree (0 for a scalar).
    height: usize,
}

enum PendingKey {
    Key(String, Pos),
    Merge,
}

enum Frame {
    Seq {
        at: Pos,
        anchor: usize,
        items: Vec<Value>,
        pos: Vec<PosTree>,
        nodes: usize,
        height: usize,
    },
    Map {
        at: Pos,
        anchor: usize,
        map: Map<String, Value>,
        members: Vec<Member>,
        key: Option<PendingKey>,
        merges: Vec<Node>,
        nodes: usize,
        height: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    /// Nodes produced or copied so far.
    used: usize,
    root: Option<Node>,
    /// The root is an empty plain scalar: the document is empty.
    empty: bool,
}

impl Builder {
    fn charge(&mut self, n: usize, at: Pos) -> Result<(), YamlError> {
        self.used = self.used.saturating_add(n);
        if self.used > MAX_NODES {
            return Err(error_at(
                at,
                format!(
                    "the document expands to more than {MAX_NODES} nodes; refusing it \
                     (aliases that multiply, a \"billion laughs\" alias bomb?)"
                ),
            ));
        }
        Ok(())
    }

    fn check_depth(&self, extra: usize, at: Pos) -> Result<(), YamlError> {
        if self.stack.len().saturating_add(extra) > MAX_DEPTH {
            return Err(error_at(
                at,
                format!("the document nests deeper than {MAX_DEPTH} levels; refusing it"),
            ));
        }
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, at: Pos) -> Result<(), YamlError> {
        match event {
            Event::Scalar(raw, style, anchor, tag) => {
                self.charge(1, at)?;
                let merge_key = style == ScalarStyle::Plain && tag.is_none() && raw == "<<";
                if self.stack.is_empty()
                    && style == ScalarStyle::Plain
                    && tag.is_none()
                    && anchor == 0
                    && raw.is_empty()
                {
                    self.empty = true;
                }
                let value = resolve_scalar(raw, style, tag.as_deref())
                    .map_err(|e| error_at(at, e.to_string()))?;
                let node = Node {
                    value,
                    pos: PosTree::leaf(at),
                    nodes: 1,
                    height: 0,
                };
                self.push(node, anchor, merge_key)
            }
            Event::Alias(id) => {
                let Some((nodes, height)) = self.anchors.get(&id).map(|a| (a.nodes, a.height))
                else {
                    return Err(error_at(
                        at,
                        "this alias refers to a node that is not complete yet (a recursive alias)",
                    ));
                };
                self.check_depth(height, at)?;
                self.charge(nodes, at)?;
                let Some(mut node) = self.anchors.get(&id).cloned() else {
                    return Err(error_at(at, "this alias refers to an unknown anchor"));
                };
                node.pos.at = at;
                self.push(node, 0, false)
            }
            Event::SequenceStart(anchor, _tag) => {
                self.check_depth(1, at)?;
                self.charge(1, at)?;
                self.stack.push(Frame::Seq {
                    at,
                    anchor,
                    items: Vec::new(),
                    pos: Vec::new(),
                    nodes: 1,
                    height: 1,
                });
                Ok(())
            }
            Event::MappingStart(anchor, _tag) => {
                self.check_depth(1, at)?;
                self.charge(1, at)?;
                self.stack.push(Frame::Map {
                    at,
                    anchor,
                    map: Map::new(),
                    members: Vec::new(),
                    key: None,
                    merges: Vec::new(),
                    nodes: 1,
                    height: 1,
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Ok(());
                };
                let (node, anchor) = close_frame(frame);
                self.push(node, anchor, false)
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => Ok(()),
        }
    }

    /// Attaches a finished node to the open collection, or makes it the root.
    fn push(&mut self, node: Node, anchor: usize, merge_key: bool) -> Result<(), YamlError> {
        if anchor != 0 {
            self.charge(node.nodes, node.pos.at)?;
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Frame::Seq {
                items,
                pos,
                nodes,
                height,
                ..
            }) => {
                *nodes = nodes.saturating_add(node.nodes);
                *height = (*height).max(node.height + 1);
                items.push(node.value);
                pos.push(node.pos);
                Ok(())
            }
            Some(Frame::Map {
                map,
                members,
                key,
                merges,
                nodes,
                height,
                ..
            }) => {
                *nodes = nodes.saturating_add(node.nodes);
                let key_at = node.pos.at;
                match key.take() {
                    None if merge_key => {
                        *key = Some(PendingKey::Merge);
                        Ok(())
                    }
                    None => {
                        let name =
                            key_string(node.value).map_err(|e| error_at(key_at, e.to_string()))?;
                        *key = Some(PendingKey::Key(name, key_at));
                        Ok(())
                    }
                    Some(PendingKey::Key(name, name_at)) => {
                        if map.contains_key(&name) {
                            let first = members
                                .iter()
                                .find(|m| *m.key == *name)
                                .map(|m| m.key_at.line)
                                .unwrap_or_default();
                            return Err(error_at(
                                name_at,
                                format!(
                                    "duplicate key \"{name}\" (first at line {first}); \
                                     Kubernetes refuses duplicate keys"
                                ),
                            ));
                        }
                        *height = (*height).max(node.height + 1);
                        map.insert(name.clone(), node.value);
                        members.push(Member {
                            key: name.into_boxed_str(),
                            key_at: name_at,
                            node: node.pos,
                        });
                        Ok(())
                    }
                    Some(PendingKey::Merge) => {
                        let ok = match &node.value {
                            Value::Object(_) => true,
                            Value::Array(items) => items.iter().all(Value::is_object),
                            _ => false,
                        };
                        if !ok {
                            return Err(error_at(
                                key_at,
                                "the value of a merge key `<<` must be a mapping or a list of \
                                 mappings",
                            ));
                        }
                        *height = (*height).max(node.height);
                        merges.push(node);
                        Ok(())
                    }
                }
            }
        }
    }

    fn finish(self, start: Pos) -> Document {
        let start = start.location();
        match self.root {
            Some(root) if !self.empty => Document {
                value: Some(root.value),
                start,
                span: 0..0,
                positions: Some(root.pos),
            },
            _ => Document::new(None, start),
        }
    }
}

/// Turns a finished collection into a node; returns its anchor too.
fn close_frame(frame: Frame) -> (Node, usize) {
    match frame {
        Frame::Seq {
            at,
            anchor,
            items,
            pos,
            nodes,
            height,
        } => (
            Node {
                value: Value::Array(items),
                pos: PosTree {
                    at,
                    kids: Kids::Seq(pos.into_boxed_slice()),
                },
                nodes,
                height,
            },
            anchor,
        ),
        Frame::Map {
            at,
            anchor,
            mut map,
            mut members,
            key: _,
            merges,
            nodes,
            height,
        } => {
            // Explicit keys win over merged ones; among merged mappings the earlier wins.
            for merge in merges {
                match (merge.value, merge.pos.kids) {
                    (Value::Object(source), kids) => {
                        merge_into(&mut map, &mut members, source, &kids, merge.pos.at);
                    }
                    (Value::Array(sources), Kids::Seq(positions)) => {
                        for (source, pos) in sources.into_iter().zip(positions.into_vec()) {
                            if let Value::Object(source) = source {
                                merge_into(&mut map, &mut members, source, &pos.kids, pos.at);
                            }
                        }
                    }
                    _ => {}
                }
            }
            members.sort_unstable_by(|a, b| a.key.cmp(&b.key));
            (
                Node {
                    value: Value::Object(map),
                    pos: PosTree {
                        at,
                        kids: Kids::Map(members.into_boxed_slice()),
                    },
                    nodes,
                    height,
                },
                anchor,
            )
        }
    }
}

fn merge_into(
    map: &mut Map<String, Value>,
    members: &mut Vec<Member>,
    source: Map<String, Value>,
    source_kids: &Kids,
    source_at: Pos,
) {
    for (name, value) in source {
        if map.contains_key(&name) {
            continue;
        }
        let found = match source_kids {
            Kids::Map(ms) => ms
                .binary_search_by(|m| (*m.key).cmp(name.as_str()))
                .ok()
                .and_then(|i| ms.get(i)),
            _ => None,
        };
        let (key_at, node) = match found {
            Some(m) => (m.key_at, m.node.clone()),
            None => (source_at, PosTree::leaf(source_at)),
        };
        members.push(Member {
            key: name.clone().into_boxed_str(),
            key_at,
            node,
        });
        map.insert(name, value);
    }
}

/// A mapping key that sigs.k8s.io/yaml would not turn into a string.
#[derive(Debug, thiserror::Error)]
enum KeyError {
    #[error("a mapping key is null; only string, number and boolean keys are accepted")]
    Null,
    #[error(
        "a mapping key is a list or a mapping; only string, number and boolean keys are accepted"
    )]
    Collection,
}

/// The string form of a mapping key, as sigs.k8s.io/yaml makes it.
fn key_string(value: Value) -> Result<String, KeyError> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err(KeyError::Null),
        Value::Array(_) | Value::Object(_) => Err(KeyError::Collection),
    }
}

// ---------------------------------------------------------------------------------------------
// Scalars

/// A scalar whose core-schema tag (`!!bool`, `!!int`, `!!float`) its text does not fit.
#[derive(Debug, thiserror::Error)]
#[error("`{raw}` is tagged !!{tag} but is not {expected}")]
struct TagMismatch {
    raw: String,
    tag: &'static str,
    expected: &'static str,
}

fn resolve_scalar(
    raw: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Tag>,
) -> Result<Value, TagMismatch> {
    let mismatch = |raw: &str, tag, expected| TagMismatch {
        raw: raw.to_string(),
        tag,
        expected,
    };
    if let Some(tag) = tag {
        if tag.is_yaml_core_schema() {
            match tag.suffix.as_str() {
                "str" | "binary" | "timestamp" => return Ok(Value::String(raw.into_owned())),
                "null" => return Ok(Value::Null),
                "bool" => {
                    return bool_value(&raw)
                        .map(Value::Bool)
                        .ok_or_else(|| mismatch(&raw, "bool", "a boolean"));
                }
                "int" => {
                    return int_value(&raw).ok_or_else(|| mismatch(&raw, "int", "an integer"));
                }
                "float" => {
                    return int_value(&raw)
                        .or_else(|| float_value(&raw))
                        .or_else(|| special_float(&raw).then(|| Value::String(raw.to_string())))
                        .ok_or_else(|| mismatch(&raw, "float", "a number"));
                }
                _ => {}
            }
        } else if tag.handle.is_empty() && tag.suffix == "!" {
            // The non-specific tag `!`: a string.
            return Ok(Value::String(raw.into_owned()));
        }
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::String(raw.into_owned()));
    }
    Ok(resolve_plain(raw))
}

/// YAML 1.2 core schema, plus leading-zero octal integers (Kubernetes).
fn resolve_plain(raw: Cow<'_, str>) -> Value {
    match raw.as_ref() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        _ => {}
    }
    if let Some(b) = bool_value(&raw) {
        return Value::Bool(b);
    }
    if let Some(v) = int_value(&raw).or_else(|| float_value(&raw)) {
        return v;
    }
    Value::String(raw.into_owned())
}

fn bool_value(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// `.inf`, `-.inf`, `.nan` and their case variants.
fn special_float(s: &str) -> bool {
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(s, ".nan" | ".NaN" | ".NAN")
}

/// `[-+]?[0-9]+` (leading zero: octal), `0x[0-9a-fA-F]+`, `0o[0-7]+`.
fn int_value(s: &str) -> Option<Value> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(hex) = s.strip_prefix("0x") {
        (16, hex)
    } else if let Some(oct) = s.strip_prefix("0o") {
        (8, oct)
    } else if body.len() > 1
        && body.starts_with('0')
        && body.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        (8, body.get(1..)?)
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = match u128::from_str_radix(digits, radix) {
        Ok(m) => m,
        Err(_) => {
            // Too long even for u128: an approximate float, as Go's decoder would give.
            let f = if radix == 10 {
                digits.parse().unwrap_or(f64::INFINITY)
            } else {
                digits.chars().fold(0f64, |acc, c| {
                    acc * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0))
                })
            };
            return Some(float_number(if negative { -f } else { f }, s));
        }
    };
    Some(if negative {
        // -2^63 ..= 0 fits an i64.
        match u64::try_from(magnitude) {
            Ok(m) if m <= 1u64 << 63 => Value::Number((0i64.wrapping_sub_unsigned(m)).into()),
            _ => float_number(-(magnitude as f64), s),
        }
    } else {
        match u64::try_from(magnitude) {
            Ok(u) => Value::Number(u.into()),
            Err(_) => float_number(magnitude as f64, s),
        }
    })
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn float_value(s: &str) -> Option<Value> {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let int_digits = digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_digits = digits(&mut i);
        if int_digits == 0 && frac_digits == 0 {
            return None;
        }
    } else if int_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    Some(float_number(f, s))
}

/// A float as JSON: integral values as integers (Go's encoder writes float64 1 as `1`),
/// non-finite values as the original text.
fn float_number(f: f64, text: &str) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if f.is_finite() && f.fract() == 0.0 && f.abs() < EXACT {
        return Value::Number(Number::from(f as i64));
    }
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None => Value::String(text.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors and repairs

fn scan_error(e: &ScanError, mapper: &Mapper<'_>, text: &str) -> YamlError {
    let at = mapper.pos(e.marker());
    let info = e.info();
    let mut message = match info {
        "recursion limit exceeded" => "flow collections (`[...]`, `{...}`) nest deeper than 255 \
                                       levels; refusing the document"
            .to_string(),
        "simple key expect ':'" => {
            "could not find the ':' of a `key: value` pair here (a missing ':' or a line \
             indented wrongly?)"
                .to_string()
        }
        _ => match unexpected_char(info) {
            Some(c @ ('@' | '`')) => format!(
                "unexpected character '{c}': '@' and '`' are reserved in YAML and cannot start \
                 an unquoted value; put the value in quotes"
            ),
            _ => info.to_string(),
        },
    };
    if info.contains("did not find expected key")
        || info.contains("mapping values are not allowed in this context")
    {
        message.push_str(" (check the indentation of this line and the lines above)");
    }
    // Lines that start with a dash look-alike followed by a space: meant as list items.
    if let Some((n, dash)) = lines(text).enumerate().find_map(|(n, (_, l, _))| {
        let mut chars = l.trim_start_matches([' ', '\t']).chars();
        let first = chars.next()?;
        let dash = matches!(first, '\u{2010}'..='\u{2015}' | '\u{2212}');
        (dash && chars.next() == Some(' ')).then_some((n, first))
    }) {
        message.push_str(&format!(
            "; line {} starts with '{dash}' (U+{:04X}), which is not a YAML list marker: use '-'",
            mapper.first_line + n,
            dash as u32
        ));
    }
    if let Some((n, marker)) = lines(text).enumerate().find_map(|(n, (_, l, _))| {
        let conflict = l.starts_with("<<<<<<<") || l == "=======" || l.starts_with(">>>>>>>");
        conflict.then_some((n, l))
    }) {
        message.push_str(&format!(
            "; line {} holds a git merge-conflict marker `{}`",
            mapper.first_line + n,
            marker.chars().take(40).collect::<String>()
        ));
    }
    error_at(at, message)
}

/// The character in saphyr's "unexpected character: `c'" message.
fn unexpected_char(info: &str) -> Option<char> {
    let rest = info.strip_prefix("unexpected character: `")?;
    let mut chars = rest.chars();
    let c = chars.next()?;
    (chars.as_str() == "'").then_some(c)
}

/// Byte offset of a parser marker (chunk-relative line, character column) in `text`.
fn byte_offset(text: &str, m: &Marker) -> Option<usize> {
    let (start, line, _) = lines(text).nth(m.line().checked_sub(1)?)?;
    match line.char_indices().nth(m.col()) {
        Some((i, _)) => Some(start + i),
        None if line.chars().count() == m.col() => Some(start + line.len()),
        None => None,
    }
}

/// A repaired text that parses further, or `None`.
fn repair(text: &str, e: &ScanError, shifts: &mut BTreeMap<usize, usize>) -> Option<String> {
    match e.info() {
        "':' must be followed by a valid YAML whitespace" => {
            repair_tab_after_colon(text, e.marker())
        }
        "invalid indentation in quoted scalar" => repair_quoted_indent(text, e.marker(), shifts),
        _ => None,
    }
}

/// `key:<TAB>value`: libyaml accepts the tab, saphyr does not. The tab becomes a space, which
/// changes neither the value nor any column.
fn repair_tab_after_colon(text: &str, m: &Marker) -> Option<String> {
    let offset = byte_offset(text, m)?;
    let before = text.get(..offset)?;
    let kept = before.trim_end_matches([' ', '\t']);
    let blanks = before.get(kept.len()..)?;
    if !kept.ends_with(':') || !blanks.contains('\t') {
        return None;
    }
    let mut fixed = String::with_capacity(text.len());
    fixed.push_str(kept);
    fixed.push_str(&blanks.replace('\t', " "));
    fixed.push_str(text.get(offset..)?);
    Some(fixed)
}

/// A multi-line quoted scalar whose continuation lines are indented less than YAML 1.2
/// requires (libyaml does not check). Leading white space of continuation lines is not part
/// of the value, so indenting them up to the opening quote's column changes nothing but
/// columns, which `shifts` maps back.
fn repair_quoted_indent(
    text: &str,
    m: &Marker,
    shifts: &mut BTreeMap<usize, usize>,
) -> Option<String> {
    let open = byte_offset(text, m)?;
    let bytes = text.as_bytes();
    let single = match bytes.get(open) {
        Some(b'\'') => true,
        Some(b'"') => false,
        _ => return None,
    };
    let target = m.col();
    // Continuation lines: (start byte, chunk line).
    let mut continuation = Vec::new();
    let mut line = m.line();
    let mut i = open + 1;
    let mut closed = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' if single => {
                if bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                } else {
                    closed = true;
                    break;
                }
            }
            b'"' if !single => {
                closed = true;
                break;
            }
            b'\\' if !single => {
                i += if matches!(bytes.get(i + 1), Some(b'\r' | b'\n')) {
                    1
                } else {
                    2
                };
            }
            b'\r' | b'\n' => {
                i += if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                line += 1;
                continuation.push((i, line));
            }
            _ => i += 1,
        }
    }
    if !closed {
        return None;
    }
    let mut fixed = String::with_capacity(text.len() + 64);
    let mut copied = 0;
    let mut changed = false;
    for (start, line) in continuation {
        let spaces = bytes
            .get(start..)?
            .iter()
            .take_while(|&&b| b == b' ')
            .count();
        let blank_line = matches!(bytes.get(start + spaces), None | Some(b'\r' | b'\n'));
        if blank_line || spaces >= target {
            continue;
        }
        let missing = target - spaces;
        fixed.push_str(text.get(copied..start)?);
        fixed.extend(std::iter::repeat_n(' ', missing));
        copied = start;
        changed = true;
        *shifts.entry(line).or_insert(0) += missing;
    }
    if !changed {
        return None;
    }
    fixed.push_str(text.get(copied..)?);
    Some(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pieces of `text` fed to a [`DocumentSplitter`] `step` bytes at a time, as
    /// (text, first line, offset), blank ones left out.
    fn split_streamed(text: &[u8], step: usize) -> Vec<(String, usize, usize)> {
        let mut splitter = DocumentSplitter::new();
        let mut pieces = Vec::new();
        for part in text.chunks(step) {
            splitter.push(part, &mut pieces);
        }
        splitter.finish(&mut pieces);
        pieces
            .into_iter()
            .map(|p| (String::from_utf8(p.bytes).unwrap(), p.first_line, p.offset))
            .filter(|(text, _, _)| !Piece::is_blank(text))
            .collect()
    }

    #[test]
    fn streamed_pieces_are_the_documents_of_the_whole_text() {
        let texts = [
            "a: 1\n---\nb: 2\n",
            "\u{feff}# c\n%YAML 1.2\n---\na: 1\r\n---\r\nb: 2\r\n...\r\n# after\r\n---\n",
            "a: 1\rb: 2\r--- \rc: 3\r\n...\n\n\n---\n---\n  \u{3000}\n---\nd: |\n  ---\n",
            "---\n---\n---",
            "key: caf\u{e9}\n--- # doc\nx: [1,\n ---\n2]\n...",
            "",
            "\u{feff}",
        ];
        for text in texts {
            let stripped = text.strip_prefix('\u{feff}').unwrap_or(text);
            let bom = text.len() - stripped.len();
            let whole: Vec<(String, usize, usize)> = split_documents(stripped)
                .into_iter()
                .filter(|c| !c.text.trim().is_empty())
                .map(|c| {
                    let offset = bom + (c.text.as_ptr() as usize - stripped.as_ptr() as usize);
                    (c.text.to_string(), c.first_line, offset)
                })
                .collect();
            for step in [1, 2, 3, 7, text.len().max(1)] {
                assert_eq!(
                    split_streamed(text.as_bytes(), step),
                    whole,
                    "{text:?} by {step}"
                );
            }
        }
    }
    use serde_json::json;

    fn loc(line: usize, column: usize) -> Location {
        Location { line, column }
    }

    fn one(text: &str) -> Document {
        let mut docs = parse_stream(text);
        assert_eq!(docs.len(), 1, "{docs:?}");
        docs.remove(0).expect("valid YAML")
    }

    fn value(text: &str) -> Value {
        one(text).value.expect("a value")
    }

    fn error(text: &str) -> YamlError {
        let docs = parse_stream(text);
        let errors: Vec<_> = docs.into_iter().filter_map(Result::err).collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap_or_else(|| unreachable!())
    }

    const STS: &str = "\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
        - name: config
          mountPath: /etc/nginx
";

    #[test]
    fn single_document() {
        let doc = one(STS);
        assert_eq!(doc.start, loc(1, 1));
        let v = doc.value.as_ref().expect("value");
        assert_eq!(v["spec"]["replicas"], json!(3));
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][1]["name"],
            json!("config")
        );
        assert_eq!(doc.locate(""), loc(1, 1));
        assert_eq!(doc.locate("/spec/replicas"), loc(6, 3));
        assert_eq!(doc.locate("/spec/template/spec/containers/0"), loc(10, 9));
        assert_eq!(
            doc.locate("/spec/template/spec/containers/0/volumeMounts/1/name"),
            loc(15, 11)
        );
        assert_eq!(
            doc.locate("/spec/template/spec/containers/0/volumeMounts/1/mountPath"),
            loc(16, 11)
        );
    }

    #[test]
    fn multi_document_positions_are_absolute() {
        let text =
            format!("# leading comment\n---\napiVersion: v1\nkind: Service\n---\n{STS}---\n");
        let docs = parse_stream(&text);
        assert_eq!(docs.len(), 3, "{docs:?}");
        let service = docs[0].as_ref().expect("service");
        assert_eq!(service.start, loc(2, 1));
        assert_eq!(service.locate("/kind"), loc(4, 1));
        let sts = docs[1].as_ref().expect("statefulset");
        assert_eq!(sts.start, loc(5, 1));
        // STS line n is line n + 5 of the stream.
        assert_eq!(
            sts.locate("/spec/template/spec/containers/0/volumeMounts/1/name"),
            loc(20, 11)
        );
        assert_eq!(sts.locate("/metadata/name"), loc(9, 3));
        // The trailing `---` opens an empty document.
        let last = docs[2].as_ref().expect("empty document");
        assert!(last.value.is_none());
    }

    #[test]
    fn missing_pointer_falls_back_to_nearest_parent() {
        let doc = one(STS);
        assert_eq!(
            doc.locate("/spec/template/spec/containers/0/resources/limits"),
            loc(10, 9)
        );
        assert_eq!(doc.locate("/spec/serviceName"), loc(5, 1));
        assert_eq!(
            doc.locate("/spec/template/spec/containers/7/image"),
            loc(9, 7)
        );
        assert_eq!(doc.locate("/spec/template/spec/containers/x"), loc(9, 7));
        assert_eq!(doc.locate("/spec/replicas/deeper"), loc(6, 3));
        assert_eq!(doc.locate("/status"), loc(1, 1));
        assert_eq!(doc.locate("not-a-pointer"), loc(1, 1));
    }

    #[test]
    fn pointer_tokens_are_unescaped() {
        let doc = one("metadata:\n  annotations:\n    example.com/a~b: x\n    plain: y\n");
        assert_eq!(
            doc.locate("/metadata/annotations/example.com~1a~0b"),
            loc(3, 5)
        );
        assert_eq!(doc.locate("/metadata/annotations/plain"), loc(4, 5));
    }

    fn broken_between_good(broken: &str, broken_line: usize) {
        let text = format!("a: 1\nb:\n  c: 2\n---\n{broken}---\nkind: Last\nspec:\n  x: 1\n");
        let docs = parse_stream(&text);
        assert_eq!(docs.len(), 3, "{docs:?}");
        let first = docs[0].as_ref().expect("first document is fine");
        assert_eq!(first.value, Some(json!({"a": 1, "b": {"c": 2}})));
        let err = docs[1].as_ref().expect_err("middle document is broken");
        assert_eq!(err.line, broken_line, "{err:?}");
        let last = docs[2].as_ref().expect("last document is fine");
        assert_eq!(last.value, Some(json!({"kind": "Last", "spec": {"x": 1}})));
        let lines_before = 5 + broken.lines().count();
        assert_eq!(last.locate("/spec/x"), loc(lines_before + 3, 3));
    }

    #[test]
    fn broken_document_bad_indentation() {
        broken_between_good(
            "spec:\n  template:\n     metadata: {}\n    spec:\n      containers: []\n",
            8,
        );
        let err = error("spec:\n  template:\n     metadata: {}\n    spec: {}\n");
        assert!(err.message.contains("indentation"), "{err:?}");
    }

    #[test]
    fn broken_document_merge_conflict_marker() {
        broken_between_good(
            "spec:\n  containers:\n  - name: a\n<<<<<<< HEAD\n    image: a:1\n=======\n    image: a:2\n>>>>>>> main\n",
            9,
        );
        let err = error(
            "spec:\n  containers:\n  - name: a\n<<<<<<< HEAD\n    image: a:1\n=======\n    image: a:2\n>>>>>>> main\n",
        );
        assert!(err.message.contains("merge-conflict marker"), "{err:?}");
        assert!(err.message.contains("line 4"), "{err:?}");
    }

    #[test]
    fn broken_document_unquoted_at_sign() {
        broken_between_good("metadata:\n  name: @NAME@\n", 6);
        let err = error("metadata:\n  name: @NAME@\n");
        assert_eq!((err.line, err.column), (2, 9));
        assert!(err.message.contains("quotes"), "{err:?}");
    }

    #[test]
    fn em_dash_bullet_is_explained() {
        let err = error("spec:\n  args:\n  - \"a\"\n  \u{2014} \"b\"\n  other: 1\n");
        assert_eq!(err.line, 5);
        assert!(err.message.contains("line 4"), "{err:?}");
        assert!(err.message.contains("U+2014"), "{err:?}");
    }

    #[test]
    fn crlf_line_endings() {
        let doc = one("a: 1\r\nb:\r\n  c: two\r\n");
        assert_eq!(doc.value, Some(json!({"a": 1, "b": {"c": "two"}})));
        assert_eq!(doc.locate("/b/c"), loc(3, 3));
        let docs = parse_stream("a: 1\r\n---\r\nb: 2\r\n");
        assert_eq!(docs.len(), 2);
        let second = docs[1].as_ref().expect("second");
        assert_eq!(second.locate("/b"), loc(3, 1));
        // Old Mac line endings.
        let docs = parse_stream("a: 1\r---\rb: 2\r");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].as_ref().expect("second").locate("/b"), loc(3, 1));
    }

    #[test]
    fn byte_order_mark() {
        let doc = one("\u{feff}a: 1\nb: 2\n");
        assert_eq!(doc.value, Some(json!({"a": 1, "b": 2})));
        assert_eq!(doc.locate("/a"), loc(1, 1));
        assert_eq!(doc.locate("/b"), loc(2, 1));
        let docs = parse_stream("\u{feff}---\na: 1\n---\nb: 2\n");
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn tabs() {
        // A tab after `key:` is fine for kubectl's decoder.
        let doc = one("a:\tvalue\nb:\t\tx\t\nc: 'tab\there'\nd:\t-1\n");
        assert_eq!(
            doc.value,
            Some(json!({"a": "value", "b": "x", "c": "tab\there", "d": -1}))
        );
        assert_eq!(doc.locate("/b"), loc(2, 1));
        // Tabs cannot indent.
        let err = error("a:\n\tb: 1\n");
        assert_eq!(err.line, 2);
        assert!(err.message.contains("tab"), "{err:?}");
    }

    #[test]
    fn quoted_scalar_continuation_lines_indented_like_libyaml_accepts() {
        let text =
            "metadata:\n  annotations:\n    init: '[\n      {\"a\": 1}\n    ]'\n    next: x\n";
        let doc = one(text);
        assert_eq!(
            doc.value.as_ref().expect("value")["metadata"]["annotations"]["init"],
            json!("[ {\"a\": 1} ]")
        );
        assert_eq!(doc.locate("/metadata/annotations/next"), loc(6, 5));
        let text = "a: [ 'x\ny', z ]\n";
        let doc = one(text);
        assert_eq!(doc.value, Some(json!({"a": ["x y", "z"]})));
        assert_eq!(doc.locate("/a/1"), loc(2, 5));
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = error("spec:\n  selector: {}\n  replicas: 1\n  selector: {}\n");
        assert_eq!((err.line, err.column), (4, 3));
        assert!(
            err.message.contains("duplicate key \"selector\""),
            "{err:?}"
        );
        assert!(err.message.contains("line 2"), "{err:?}");
        // The same key in different mappings is fine.
        assert_eq!(
            value("a: {x: 1}\nb: {x: 2}\n"),
            json!({"a": {"x": 1}, "b": {"x": 2}})
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let text = "\
base: &base
  image: app:1
  env: &env
  - name: A
    value: a
one:
  <<: *base
  image: app:2
two:
  env: *env
three:
  <<: [{x: 1}, {x: 2, y: 2}]
  z: 3
name: &n web
ref: *n
";
        let doc = one(text);
        assert_eq!(
            doc.value,
            Some(json!({
                "base": {"image": "app:1", "env": [{"name": "A", "value": "a"}]},
                "one": {"image": "app:2", "env": [{"name": "A", "value": "a"}]},
                "two": {"env": [{"name": "A", "value": "a"}]},
                "three": {"x": 1, "y": 2, "z": 3},
                "name": "web",
                "ref": "web",
            }))
        );
        // Explicit keys sit where they are written; merged ones where they were defined.
        assert_eq!(doc.locate("/one/image"), loc(8, 3));
        assert_eq!(doc.locate("/one/env"), loc(3, 3));
        assert_eq!(doc.locate("/two/env"), loc(10, 3));
        assert_eq!(doc.locate("/two/env/0/name"), loc(4, 5));
        // A quoted `<<` is an ordinary key.
        assert_eq!(value("'<<': {a: 1}\n"), json!({"<<": {"a": 1}}));
        let err = error("a: &a 1\nb:\n  <<: *a\n");
        assert!(err.message.contains("merge key"), "{err:?}");
    }

    #[test]
    fn recursive_alias_is_refused() {
        let err = error("a: &a [1, *a]\n");
        assert!(err.message.contains("recursive"), "{err:?}");
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let docs = parse_stream(&format!("{text}---\nok: 1\n"));
        assert_eq!(docs.len(), 2);
        let err = docs[0].as_ref().expect_err("refused");
        assert!(err.message.contains("billion laughs"), "{err:?}");
        assert!(docs[1].is_ok());
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing() {
        // saphyr-parser itself stops flow collections at 255 levels.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let err = error(&deep);
        assert!(err.message.contains("deeper than 255"), "{err:?}");
        let deep = format!("{}1{}", "{a: ".repeat(300), "}".repeat(300));
        let err = error(&deep);
        assert!(err.message.contains("deeper than 255"), "{err:?}");
        // Block collections are ours to stop.
        let mut block = String::new();
        for i in 0..600 {
            block.push_str(&" ".repeat(i));
            block.push_str("k:\n");
        }
        let err = error(&block);
        assert!(err.message.contains("deeper than 512"), "{err:?}");
        assert_eq!(err.line, 513);
        let err = error(&format!("{}x\n", "- ".repeat(100_000)));
        assert!(err.message.contains("deeper than 512"), "{err:?}");
        // 500 levels are fine.
        assert!(one(&format!("{}x\n", "- ".repeat(500))).value.is_some());
        // Aliases cannot nest beyond the limit either.
        let text = format!(
            "a: &a\n  {}x\nb:\n  {}*a\n",
            "- ".repeat(300),
            "- ".repeat(250)
        );
        let err = error(&text);
        assert!(err.message.contains("deeper than 512"), "{err:?}");
        assert_eq!(err.line, 4);
    }

    #[test]
    fn content_after_document_marker() {
        let docs =
            parse_stream("--- {a: 1}\n--- !tagged\nb: 2\n--- |\n  text\n--- # comment\nc: 3\n");
        let values: Vec<_> = docs.into_iter().map(|d| d.expect("valid").value).collect();
        assert_eq!(
            values,
            vec![
                Some(json!({"a": 1})),
                Some(json!({"b": 2})),
                Some(json!("text\n")),
                Some(json!({"c": 3}))
            ]
        );
        let doc = one("--- {a: 1, b: [x, y]}\n");
        assert_eq!(doc.locate("/b/1"), loc(1, 19));
    }

    #[test]
    fn errors_at_the_end_stay_inside_the_text() {
        // saphyr places these on the line after the last one.
        for (text, line, column) in [("%d", 1, 3), ("%YAML 1.2", 1, 10), ("%d\n", 2, 1)] {
            let err = error(text);
            assert_eq!((err.line, err.column), (line, column), "{text:?}: {err:?}");
        }
    }

    #[test]
    fn wrongly_tagged_scalars_and_unusable_keys_are_named() {
        for (text, message) in [
            ("a: !!int x\n", "`x` is tagged !!int but is not an integer"),
            ("a: !!bool 1\n", "`1` is tagged !!bool but is not a boolean"),
            (
                "a: !!float x\n",
                "`x` is tagged !!float but is not a number",
            ),
            (
                "null: 1\n",
                "a mapping key is null; only string, number and boolean keys are accepted",
            ),
            (
                "? [a]\n: 1\n",
                "a mapping key is a list or a mapping; only string, number and boolean keys \
                 are accepted",
            ),
        ] {
            assert_eq!(error(text).message, message, "{text:?}");
        }
    }

    #[test]
    fn empty_documents_and_directives() {
        let docs = parse_stream("# only a comment\n");
        assert_eq!(docs.len(), 1);
        assert!(docs[0].as_ref().expect("ok").value.is_none());
        assert!(parse_stream("").is_empty());
        assert!(parse_stream("\n\n  \n").is_empty());
        let docs = parse_stream("---\n---\n# nothing\n---\na: 1\n...\n%YAML 1.2\n---\nb: 2\n...\n");
        let values: Vec<_> = docs.into_iter().map(|d| d.expect("valid").value).collect();
        assert_eq!(
            values,
            vec![None, None, Some(json!({"a": 1})), Some(json!({"b": 2}))]
        );
        let docs = parse_stream("%YAML 1.2\n%TAG !e! tag:example.com,2000:\n--- !e!thing\na: 1\n");
        assert_eq!(docs.len(), 1);
        let doc = docs[0].as_ref().expect("ok");
        assert_eq!(doc.value, Some(json!({"a": 1})));
        assert_eq!(doc.start, loc(3, 1));
        // `---` inside a line or without a following space is not a marker.
        assert_eq!(value("a: ---\nb: ---x\n"), json!({"a": "---", "b": "---x"}));
        // An explicit null is a value, an empty document is not.
        assert_eq!(one("--- ~\n").value, Some(Value::Null));
        assert_eq!(one("--- ''\n").value, Some(json!("")));
    }

    #[test]
    fn scalar_resolution() {
        let nines = "9".repeat(400);
        let cases: &[(&str, Value)] = &[
            ("yes", json!("yes")),
            ("no", json!("no")),
            ("on", json!("on")),
            ("\"1\"", json!("1")),
            ("'true'", json!("true")),
            ("1", json!(1)),
            ("-7", json!(-7)),
            ("+7", json!(7)),
            ("1.5", json!(1.5)),
            ("-.5", json!(-0.5)),
            ("1e3", json!(1000)),
            ("1.0", json!(1)),
            ("~", Value::Null),
            ("null", Value::Null),
            ("NULL", Value::Null),
            ("", Value::Null),
            ("true", json!(true)),
            ("True", json!(true)),
            ("TRUE", json!(true)),
            ("false", json!(false)),
            ("0x1F", json!(31)),
            ("0o17", json!(15)),
            ("0644", json!(420)),
            ("09", json!(9)),
            ("0", json!(0)),
            (".inf", json!(".inf")),
            ("-.Inf", json!("-.Inf")),
            (".nan", json!(".nan")),
            ("1e999", json!("1e999")),
            ("18446744073709551615", json!(u64::MAX)),
            ("-9223372036854775808", json!(i64::MIN)),
            ("-9223372036854775809", json!(-9223372036854775809.0)),
            (
                "-170141183460469231731687303715884105728",
                json!(-1.7014118346046923e38),
            ),
            (
                "-340282366920938463463374607431768211455",
                json!(-3.402823669209385e38),
            ),
            (
                "-3402823669209384634633746074317682114550",
                json!(-3.4028236692093846e39),
            ),
            ("0x10000000000000000", json!(18446744073709551616.0)),
            (&nines, json!(nines)),
            ("18446744073709551616", json!(18446744073709551616.0)),
            ("1_000", json!("1_000")),
            ("0b101", json!("0b101")),
            ("1.2.3", json!("1.2.3")),
            ("12Gi", json!("12Gi")),
            ("!!str 1", json!("1")),
            ("!!str true", json!("true")),
            ("!!int \"42\"", json!(42)),
            ("!!float 1", json!(1)),
            ("!!float .inf", json!(".inf")),
            ("!!bool 'true'", json!(true)),
            ("!!null ''", Value::Null),
            ("! 12", json!("12")),
            ("!custom 12", json!(12)),
            ("|\n  line\n", json!("line\n")),
        ];
        for (text, expected) in cases {
            let got = parse_stream(&format!("v: {text}\n"));
            let got = got
                .first()
                .and_then(|d| d.as_ref().ok())
                .and_then(|d| d.value.clone());
            assert_eq!(got, Some(json!({ "v": expected })), "for `{text}`");
        }
        let err = error("v: !!int abc\n");
        assert!(err.message.contains("!!int"), "{err:?}");
    }

    #[test]
    fn non_string_keys() {
        assert_eq!(
            value("1: a\ntrue: b\n1.5: c\n0x10: d\n"),
            json!({"1": "a", "true": "b", "1.5": "c", "16": "d"})
        );
        assert!(error("~: a\n").message.contains("null"));
        assert!(error("? [a]\n: b\n").message.contains("list or a mapping"));
        assert!(error("1: a\n\"1\": b\n").message.contains("duplicate"));
    }

    #[test]
    fn never_panics_on_prefixes_and_mutations() {
        let text = format!(
            "{STS}---\nx: &x {{a: [1, 2, \"q\\\"\", 'it''s']}}\ny: *x\nz:\n  <<: *x\n  s: |\n    block\n...\n"
        );
        let chars: Vec<char> = text.chars().collect();
        for cut in 0..chars.len() {
            let prefix: String = chars[..cut].iter().collect();
            let _ = parse_stream(&prefix);
            let mut mutated = chars.clone();
            for (i, c) in [
                ':', '-', '\'', '"', '\t', '\n', '[', '{', '&', '*', '!', '|', '#', '%',
            ]
            .into_iter()
            .enumerate()
            {
                if let Some(slot) = mutated.get_mut((cut + i * 7) % chars.len()) {
                    *slot = c;
                }
            }
            let _ = parse_stream(&mutated.into_iter().collect::<String>());
        }
    }

    #[test]
    fn many_documents_stay_fast() {
        let text = STS.replace("apiVersion", "---\napiVersion").repeat(5_000);
        let started = std::time::Instant::now();
        let docs = parse_stream(&text);
        assert_eq!(docs.len(), 5_000);
        assert!(docs.iter().all(Result::is_ok));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn spans_cover_each_document_text() {
        let text = "\u{feff}a: 1\n---\nb: 2\n---\n# only a comment\n---\nc: [3\n---\nd: 4\n";
        let docs = parse_stream(text);
        let spans: Vec<&str> = docs
            .iter()
            .filter_map(|d| d.as_ref().ok())
            .map(|d| &text[d.span.clone()])
            .collect();
        assert_eq!(
            spans,
            [
                "a: 1\n",
                "---\nb: 2\n",
                "---\n# only a comment\n",
                "---\nd: 4\n"
            ]
        );
    }
}

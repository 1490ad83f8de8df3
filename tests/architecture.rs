//! The crate's modules import in one direction: among the children of any module, no two
//! reach each other, directly or around a circle (`cli` → `server` → `cli`, or
//! `engine::finding` → `engine::rules` → `engine::finding`). A circle is where a change on
//! one side forces a change on the other and where layers stop meaning anything, so this
//! test reads every `crate::`, `super::` and `self::` path in `src/` and fails on one.
//!
//! Granularity: a path is charged to the deepest module it names that exists as a file;
//! items of a parent module (`engine::Context` in `engine/mod.rs`) belong to the parent, which
//! its children may use freely — the parent is the layer above its children.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path below the crate root: `["engine", "rules", "names"]`.
type Module = Vec<String>;

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/engine/rules/mod.rs` → `engine::rules`; `src/lib.rs` and `src/main.rs` → the root.
fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and string literals (a path in a doc comment or a
/// message is no import).
fn code_of(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'"' => {
                // Raw strings (r"…", r#"…"#) are ended by the quote and their hashes.
                let hashes = text[..i].bytes().rev().take_while(|&b| b == b'#').count();
                let raw = i > hashes && bytes[i - hashes - 1] == b'r';
                i += 1;
                while i < bytes.len() {
                    if !raw && bytes[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == b'"'
                        && (!raw || bytes[i + 1..].iter().take(hashes).all(|&b| b == b'#'))
                    {
                        i += 1 + if raw { hashes } else { 0 };
                        break;
                    }
                    i += 1;
                }
                out.push_str("\"\"");
            }
            // A char literal such as '{' or '"' (not a lifetime: those have no closing quote).
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 3,
            b'\'' if bytes.get(i + 1) == Some(&b'\\') => {
                i += 2;
                while i < bytes.len() && bytes[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            _ => {
                let c = text[i..].chars().next().unwrap();
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// Expands a use tree (`crate::{a, b::{c, d}}`) into its paths (`crate::a`, `crate::b::c`, …).
fn expand(tree: &str) -> Vec<String> {
    // `a as b` keeps its name before the `as`: cut there, after whitespace is gone.
    let tree = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let tree: String = tree.replace(" as ", "@").replace(' ', "");
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let close = tree.rfind('}').unwrap_or(tree.len());
    let prefix = &tree[..open];
    let inner = &tree[open + 1..close];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// Every path the code names from `crate`, `super` or `self`, resolved to an absolute module
/// path (items included: `engine::Context`). `inline_from`: the byte offset where an inline
/// module (`mod tests { … }`) starts, inside which `super` is the file's own module.
fn named_paths(code: &str, module: &Module) -> Vec<Module> {
    let inline_from = code
        .match_indices("mod ")
        .find(|&(i, _)| {
            let line = &code[code[..i].rfind('\n').map_or(0, |n| n + 1)..];
            let line = line.lines().next().unwrap_or("");
            line.trim_end().ends_with('{')
        })
        .map_or(usize::MAX, |(i, _)| i);
    let mut found = Vec::new();
    let mut resolve = |path: &str, at: usize| {
        let mut segments = path.split("::").map(str::trim).filter(|s| !s.is_empty());
        let mut base: Module = match segments.next() {
            Some("crate") => Vec::new(),
            Some("self") => module.clone(),
            Some("super") if at > inline_from => module.clone(),
            Some("super") => module[..module.len().saturating_sub(1)].to_vec(),
            _ => return,
        };
        for segment in segments {
            match segment {
                "super" => {
                    base.pop();
                }
                "self" | "*" => {}
                s if s.starts_with(|c: char| c.is_alphabetic() || c == '_') => {
                    let name: String = s
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    base.push(name);
                    if name_ends_path(s) {
                        break;
                    }
                }
                _ => break,
            }
        }
        found.push(base);
    };
    // `use` statements, with their trees.
    for (at, _) in code.match_indices("use ") {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(end) = code[at..].find(';') else {
            continue;
        };
        for path in expand(&code[at + 4..at + end]) {
            resolve(path.split('@').next().unwrap_or(&path), at);
        }
    }
    // Paths written out in code: `crate::cli::EXIT_OK`, `super::read_model::Doc`.
    for start in ["crate::", "super::", "self::"] {
        for (at, _) in code.match_indices(start) {
            let before = code[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ':') {
                continue;
            }
            let path: String = code[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            resolve(&path, at);
        }
    }
    found
}

/// Whether a segment ends the path (a generic, a call or a macro after the name).
fn name_ends_path(segment: &str) -> bool {
    segment.chars().any(|c| !(c.is_alphanumeric() || c == '_'))
}

/// The circles among the children of each module: strongly connected components of more
/// than one child, each written `a → b → a`.
fn circles(edges: &BTreeSet<(Module, Module)>) -> Vec<String> {
    // Edges projected on siblings: from the child of P holding the importer to the child
    // of P holding the imported module, for every common ancestor P.
    let mut by_parent: BTreeMap<Module, BTreeSet<(String, String)>> = BTreeMap::new();
    for (from, to) in edges {
        let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
        if common < from.len() && common < to.len() {
            by_parent
                .entry(from[..common].to_vec())
                .or_default()
                .insert((from[common].clone(), to[common].clone()));
        }
    }
    let mut found = Vec::new();
    for (parent, pairs) in by_parent {
        let nodes: BTreeSet<&String> = pairs.iter().flat_map(|(a, b)| [a, b]).collect();
        let reaches = |from: &String| {
            let mut seen = BTreeSet::new();
            let mut stack = vec![from];
            while let Some(node) = stack.pop() {
                for (a, b) in &pairs {
                    if a == node && seen.insert(b) {
                        stack.push(b);
                    }
                }
            }
            seen
        };
        let mut reported = BTreeSet::new();
        for &a in &nodes {
            if reported.contains(a) {
                continue;
            }
            let from_a = reaches(a);
            let component: BTreeSet<&String> = from_a
                .iter()
                .copied()
                .filter(|b| reaches(b).contains(a))
                .collect();
            if component.len() > 1 {
                reported.extend(component.iter().copied());
                let prefix = if parent.is_empty() {
                    String::new()
                } else {
                    format!("{}::", parent.join("::"))
                };
                let names: Vec<String> = component.iter().map(|m| format!("{prefix}{m}")).collect();
                found.push(names.join(" ↔ "));
            }
        }
    }
    found
}

#[test]
fn modules_import_in_one_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(&src, f)).collect();
    // The deepest existing module a path names: `engine::Context` → `engine`.
    let owner = |path: &Module| -> Module {
        (0..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|prefix| modules.contains(prefix))
            .unwrap_or_default()
    };
    let mut edges = BTreeSet::new();
    let mut importers: BTreeMap<(Module, Module), BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        // `main.rs` is the binary, a crate of its own beside the library.
        if file == &src.join("main.rs") {
            continue;
        }
        let module = module_of(&src, file);
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for path in named_paths(&code, &module) {
            let to = owner(&path);
            if to != module {
                importers
                    .entry((module.clone(), to.clone()))
                    .or_default()
                    .insert(file.strip_prefix(&src).unwrap().display().to_string());
                edges.insert((module.clone(), to));
            }
        }
    }
    assert!(
        edges.len() > 50,
        "only {} imports found in src/: the reader is broken",
        edges.len()
    );
    let found = circles(&edges);
    // Which files import across each circle, to say where to cut.
    let mut across = Vec::new();
    for ((from, to), files) in &importers {
        let (from, to) = (from.join("::"), to.join("::"));
        // The member of a circle a module lies in: `cli::certs` in `cli`.
        let member = |m: &str, circle: &str| -> Option<String> {
            circle
                .split(" ↔ ")
                .find(|c| m == *c || m.starts_with(&format!("{c}::")))
                .map(String::from)
        };
        for circle in &found {
            if let (Some(a), Some(b)) = (member(&from, circle), member(&to, circle))
                && a != b
            {
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                across.push(format!("{from} → {to} ({})", files.join(", ")));
            }
        }
    }
    assert!(
        found.is_empty(),
        "import circles among sibling modules (each must import in one direction):\n  {}\nimports \
         across them:\n  {}",
        found.join("\n  "),
        across.join("\n  ")
    );
}

#[test]
fn finds_a_circle_and_reads_use_trees() {
    assert_eq!(
        expand("crate::{a, b::{c, d as e}, f::*}"),
        ["crate::a", "crate::b::c", "crate::b::d@e", "crate::f::*"]
    );
    let module = |s: &str| -> Module { s.split("::").map(String::from).collect() };
    let edges: BTreeSet<(Module, Module)> = [
        (module("cli"), module("server")),
        (module("server::conn"), module("cli")),
        (module("server"), module("engine")),
    ]
    .into_iter()
    .collect();
    assert_eq!(circles(&edges), ["cli ↔ server"]);
    let code = code_of(
        "use super::{a, b};\n// use crate::cli;\nfn f() { crate::x::y(\"crate::z\") }\nmod tests {\n use super::*;\n}\n",
    );
    let found: BTreeSet<Module> = named_paths(&code, &module("engine::rules"))
        .into_iter()
        .collect();
    let expected: BTreeSet<Module> = ["engine", "engine::a", "engine::b", "engine::rules", "x::y"]
        .iter()
        .map(|s| module(s))
        .collect();
    assert_eq!(found, expected);
}

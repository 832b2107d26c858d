//! The library's shape, checked on its sources: no import runs up the layers, no source file
//! is over ~450 lines (tests apart), no function over ~80 lines.
//!
//! The layers are [`LAYERS`]; tests count too.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The layers, from the bottom. A module may import the modules of the layers below its own;
/// modules of one layer know nothing of each other.
const LAYERS: &[&[&str]] = &[
    &["error", "lib"],
    &["fsutil", "device", "dist"],
    &["datasets"],
    &["data"],
    &["models"],
    &["optim"],
    &["record"],
    &["eval", "algorithms"],
    &["config"],
    &["presets", "checkpoint"],
    &["run", "cuda_graph"],
    &["infer"],
    &["classify"],
    &["augment"],
    &["train", "serve"],
];

/// What `module` may import (beside itself).
fn allowed(module: &str) -> Vec<&'static str> {
    let layer = LAYERS
        .iter()
        .position(|l| l.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` has no layer: add it to tests/layers.rs"));
    LAYERS[..layer]
        .iter()
        .flat_map(|l| l.iter().copied())
        .collect()
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().unwrap() != "bin" {
                sources(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a file belongs to.
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(root()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// Top-level modules a source names through `crate::`, including `use crate::{a, b}` lists.
fn imports(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + 7..];
        if let Some(list) = rest.strip_prefix('{') {
            let end = list.find('}').unwrap_or(list.len());
            for item in list[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name.chars().next().unwrap().is_lowercase() {
                    out.insert(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.chars().next().is_some_and(|c| c.is_lowercase()) {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn no_import_runs_up_the_layers() {
    let mut files = Vec::new();
    sources(&root(), &mut files);
    let mut breaches = Vec::new();
    for f in &files {
        let module = module_of(f);
        let text = std::fs::read_to_string(f).unwrap();
        for m in imports(&text) {
            if m != module && !allowed(&module).contains(&m.as_str()) && m != "Result" {
                breaches.push(format!("{} imports crate::{m}", f.display()));
            }
        }
    }
    assert!(breaches.is_empty(), "{}", breaches.join("\n"));
    // Serving loads networks, not training algorithms.
    for f in files.iter().filter(|f| module_of(f) == "serve") {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            !imports(&text).contains("algorithms"),
            "{} imports crate::algorithms",
            f.display()
        );
    }
    // The check sees real imports (a breach would be caught).
    assert!(imports("use crate::{data::Batch, train::X};").contains("train"));
}

/// Non-test lines of a source (up to its `#[cfg(test)]` module).
fn code_lines(text: &str) -> usize {
    text.lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .count()
}

/// What follows `fn ` on a line that declares a function, whatever its visibility
/// (`pub`, `pub(crate)`, `pub(super)`, `pub(in ...)`) and qualifiers (`const`, `async`,
/// `unsafe`, `extern "C"`).
fn fn_signature(line: &str) -> Option<&str> {
    let mut l = line.trim_start();
    if let Some(rest) = l.strip_prefix("pub") {
        l = match rest.strip_prefix('(') {
            Some(r) => r.split_once(')')?.1.trim_start(),
            None => rest.strip_prefix(' ')?,
        };
    }
    loop {
        let before = l;
        for q in ["const ", "async ", "unsafe ", "extern \"C\" "] {
            l = l.strip_prefix(q).unwrap_or(l);
        }
        if l == before {
            break;
        }
    }
    l.strip_prefix("fn ")
}

/// Functions longer than `max` lines: (name, lines). Nested functions count on their own
/// (and within the function around them).
fn long_functions(text: &str, max: usize) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(sig) = fn_signature(lines[i]) else {
            i += 1;
            continue;
        };
        let name: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut started, mut j) = (0i32, false, i);
        'scan: while j < lines.len() {
            for c in lines[j].chars() {
                match c {
                    '{' => (depth, started) = (depth + 1, true),
                    '}' => depth -= 1,
                    ';' if !started => break 'scan,
                    _ => {}
                }
                if started && depth == 0 {
                    break 'scan;
                }
            }
            j += 1;
        }
        if started && j - i + 1 > max {
            out.push((name, j - i + 1));
        }
        // The next line, not the end of the body: functions nested in this one are seen too.
        i += 1;
    }
    out
}

#[test]
fn files_and_functions_stay_short() {
    let mut files = Vec::new();
    sources(&root(), &mut files);
    sources(&root().join("bin"), &mut files);
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let n = code_lines(&text);
        if n > 460 {
            long.push(format!("{}: {n} lines", f.display()));
        }
        let code: String = text
            .lines()
            .take_while(|l| !l.starts_with("#[cfg(test)]"))
            .collect::<Vec<_>>()
            .join("\n");
        for (name, n) in long_functions(&code, 85) {
            long.push(format!("{}: fn {name} has {n} lines", f.display()));
        }
    }
    assert!(long.is_empty(), "{}", long.join("\n"));
    assert_eq!(
        long_functions("fn a() {\n1\n2\n3\n}\n", 3),
        vec![("a".to_string(), 5)]
    );
    // Every visibility and qualifier, and a function nested in a short-enough one.
    for head in [
        "pub(super) fn",
        "pub(in crate::x) fn",
        "pub const fn",
        "async fn",
        "pub(crate) unsafe fn",
    ] {
        assert_eq!(
            long_functions(&format!("{head} b() {{\n1\n2\n3\n}}\n"), 3),
            vec![("b".to_string(), 5)],
            "{head}"
        );
    }
    let nested = "fn outer() {\n    fn inner() {\n1\n2\n3\n    }\n}\n";
    assert_eq!(
        long_functions(nested, 5),
        vec![("outer".to_string(), 7)],
        "the outer one counts its nested function"
    );
    let long_inner = "fn outer() {\n    fn inner() {\n1\n2\n3\n4\n5\n    }\n}\n";
    assert_eq!(
        long_functions(long_inner, 6),
        vec![("outer".to_string(), 9), ("inner".to_string(), 7)],
        "a nested function is checked on its own"
    );
}

/// A source file's module path below the crate: `src/train/mle.rs` is `train::mle`,
/// `src/train/mod.rs` is `train`.
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root()).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The module paths a source of module `from` names through `super::` (any number), `self::`
/// and `crate::`, including `{a, b}` lists one level deep: lowercase segments only.
fn references(text: &str, from: &[String]) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices("::") {
        // The start of the path this `::` belongs to.
        let mut s = i;
        while s > 0
            && (bytes[s - 1].is_ascii_alphanumeric()
                || bytes[s - 1] == b'_'
                || bytes[s - 1] == b':')
        {
            s -= 1;
        }
        // Only the first `::` of a path starts it.
        if s == i || text[s..i].contains("::") {
            continue;
        }
        let head = &text[s..i];
        let mut base = match head {
            "crate" => Vec::new(),
            "self" => from.to_vec(),
            "super" => from[..from.len().saturating_sub(1)].to_vec(),
            _ => continue,
        };
        let mut rest = &text[i + 2..];
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        expand(base, rest, &mut out);
    }
    out
}

/// The module paths of the path `rest` (after `base`): `a::b::C` names `a::b`, `a::{b, c::D}`
/// names `a::b` and `a::c`.
fn expand(mut base: Vec<String>, rest: &str, out: &mut BTreeSet<Vec<String>>) {
    let rest = rest.trim_start();
    if let Some(list) = rest.strip_prefix('{') {
        let (mut depth, mut from) = (0, 0);
        for (i, c) in list.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    expand(base.clone(), &list[from..i], out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(base.clone(), &list[from..i], out);
                    from = i + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if name.is_empty() || !name.chars().next().unwrap().is_lowercase() || name == "self" {
        out.insert(base);
        return;
    }
    base.push(name.clone());
    match rest[name.len()..].strip_prefix("::") {
        Some(more) => expand(base, more, out),
        None => {
            out.insert(base);
        }
    }
}

/// Circles among the files and subfolders of one folder: each as `a -> b -> a`.
fn circles(edges: &BTreeSet<(Vec<String>, String, String)>) -> Vec<String> {
    let mut found = Vec::new();
    let folders: BTreeSet<&Vec<String>> = edges.iter().map(|(f, _, _)| f).collect();
    for folder in folders {
        let next = |a: &str| -> Vec<String> {
            edges
                .iter()
                .filter(|(f, x, _)| f == folder && x == a)
                .map(|(_, _, b)| b.clone())
                .collect()
        };
        let nodes: BTreeSet<String> = edges
            .iter()
            .filter(|(f, _, _)| f == folder)
            .map(|(_, a, _)| a.clone())
            .collect();
        for start in &nodes {
            // A path from `start` back to itself, by breadth-first search.
            let mut seen: BTreeSet<String> = BTreeSet::new();
            let mut queue = vec![vec![start.clone()]];
            while let Some(path) = (!queue.is_empty()).then(|| queue.remove(0)) {
                for b in next(path.last().unwrap()) {
                    if &b == start {
                        let mut p = path.clone();
                        p.push(b);
                        found.push(format!("{}: {}", folder.join("::"), p.join(" -> ")));
                        queue.clear();
                        break;
                    }
                    if seen.insert(b.clone()) {
                        let mut p = path.clone();
                        p.push(b);
                        queue.push(p);
                    }
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The edges between siblings that a set of (file, text) sources make: (folder, from, to).
fn sibling_edges(files: &[(PathBuf, String)]) -> BTreeSet<(Vec<String>, String, String)> {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(f, _)| module_path(f)).collect();
    let mut edges = BTreeSet::new();
    for (f, text) in files {
        let from = module_path(f);
        let code: String = text
            .lines()
            .take_while(|l| !l.starts_with("#[cfg(test)]"))
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for to in references(&code, &from) {
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common >= from.len() || common >= to.len() {
                continue; // a folder's own module, or one of its children
            }
            let target = to[..=common].to_vec();
            if modules.contains(&target) {
                let folder = from[..common].to_vec();
                edges.insert((folder, from[common].clone(), to[common].clone()));
            }
        }
    }
    edges
}

#[test]
fn no_circle_inside_a_folder() {
    let mut paths = Vec::new();
    sources(&root(), &mut paths);
    let files: Vec<(PathBuf, String)> = paths
        .into_iter()
        .map(|p| {
            let t = std::fs::read_to_string(&p).unwrap();
            (p, t)
        })
        .collect();
    let found = circles(&sibling_edges(&files));
    assert!(
        found.is_empty(),
        "imports in a circle:\n{}",
        found.join("\n")
    );
    // The check sees a circle when there is one.
    let r = root();
    let toy = vec![
        (r.join("x/a.rs"), "use super::b::B;".to_string()),
        (r.join("x/b.rs"), "use crate::x::{c::C};".to_string()),
        (r.join("x/c.rs"), "fn f() { super::a::f() }".to_string()),
        (r.join("x/mod.rs"), "use self::a::A;".to_string()),
    ];
    assert_eq!(
        circles(&sibling_edges(&toy)),
        vec![
            "x: a -> b -> c -> a".to_string(),
            "x: b -> c -> a -> b".to_string(),
            "x: c -> a -> b -> c".to_string()
        ]
    );
}

#[test]
fn library_code_returns_errors_and_the_binary_exits() {
    let mut files = Vec::new();
    sources(&root(), &mut files);
    let exits: Vec<String> = files
        .iter()
        .filter(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .contains("process::exit")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(exits.is_empty(), "library code ends the process: {exits:?}");
}

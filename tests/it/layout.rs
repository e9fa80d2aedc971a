//! The shape of the source tree, checked on every run so that it cannot
//! rot: no import cycle between the top-level modules of `src/`, SQL and
//! database rows only in `src/store/`, no oversized file or function.
//!
//! It reads the sources as text (`use crate::x`, `crate::x::` paths), which
//! is exact enough for a tree that names its imports the way this one does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lines of code (not blank, not comments, not the test module at the end)
/// a file may hold; the cohesive time-math files of `schedule/` may hold
/// more.
const MAX_FILE_LINES: usize = 700;
/// Lines a function may span.
const MAX_FUNCTION_LINES: usize = 100;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` -> `a`; `src/a.rs` -> `a`; lib.rs and main.rs -> None.
fn top_module(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

/// The file's code: without its trailing `#[cfg(test)]` module and
/// without comment lines (a doc link is no import).
fn code_of(text: &str) -> String {
    let code = match text.find("\n#[cfg(test)]") {
        Some(at) => &text[..at],
        None => text,
    };
    // Comment lines become blank, so line numbers stay those of the file.
    code.lines()
        .map(|l| {
            if l.trim_start().starts_with("//") {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A file that holds only a test module (`cron_tests.rs`).
fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with("_tests.rs") || n == "tests.rs")
}

fn sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// Which top-level modules a file names (`crate::x`), itself excluded.
fn imports(text: &str, own: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name != own && modules.contains(&name) {
            found.insert(name);
        }
        rest = after;
    }
    // `use crate::{a, b::c}` groups.
    let mut rest = text;
    while let Some(at) = rest.find("use crate::{") {
        let after = &rest[at + "use crate::{".len()..];
        let group = &after[..after.find("};").unwrap_or(after.len())];
        for part in group.split(',') {
            let name: String = part
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name != own && modules.contains(&name) {
                found.insert(name);
            }
        }
        rest = after;
    }
    found
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let files = sources();
    let modules: BTreeSet<String> = files.iter().filter_map(|(p, _)| top_module(p)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in &files {
        let Some(own) = top_module(path) else {
            continue;
        };
        graph
            .entry(own.clone())
            .or_default()
            .extend(imports(&code_of(text), &own, &modules));
    }
    // Depth-first search for a back edge; report the cycle it closes.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut Vec::new(), &mut done) {
            panic!(
                "import cycle between top-level modules: {} (imports: {graph:?})",
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn sql_and_rows_stay_in_the_store() {
    for (path, text) in sources() {
        let rel = path.strip_prefix(src()).unwrap().to_path_buf();
        if rel.starts_with("store") {
            continue;
        }
        for needle in ["entity::", "sea_orm", "sqlx"] {
            assert!(
                !text.contains(needle),
                "src/{} names `{needle}`: rows and SQL belong in src/store/",
                rel.display()
            );
        }
    }
}

#[test]
fn files_and_functions_stay_small() {
    let mut problems = Vec::new();
    for (path, text) in sources() {
        let rel = path.strip_prefix(src()).unwrap().to_path_buf();
        if is_test_file(&path) {
            continue;
        }
        let code = code_of(&text);
        let lines = code.lines().filter(|l| !l.trim().is_empty()).count();
        if lines > MAX_FILE_LINES && !rel.starts_with("schedule") {
            problems.push(format!(
                "src/{}: {lines} lines of code (at most {MAX_FILE_LINES})",
                rel.display()
            ));
        }
        // A function runs from its `fn` line to the line that closes the
        // brace its body opened.
        let all: Vec<&str> = code.lines().collect();
        let mut i = 0;
        while i < all.len() {
            let line = all[i].trim_start();
            let is_fn = line.starts_with("fn ")
                || line.starts_with("pub fn ")
                || line.starts_with("pub(crate) fn ")
                || line.starts_with("pub(super) fn ")
                || line.starts_with("async fn ")
                || line.starts_with("pub async fn ")
                || line.starts_with("pub(crate) async fn ")
                || line.starts_with("pub(super) async fn ");
            if !is_fn {
                i += 1;
                continue;
            }
            let mut depth = 0i32;
            let mut opened = false;
            let mut end = i;
            'body: for (j, l) in all.iter().enumerate().skip(i) {
                for c in l.chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        ';' if !opened && depth == 0 => {
                            // A declaration without a body (a trait item).
                            end = j;
                            break 'body;
                        }
                        _ => {}
                    }
                }
                if opened && depth == 0 {
                    end = j;
                    break;
                }
            }
            let span = end - i + 1;
            if span > MAX_FUNCTION_LINES {
                problems.push(format!(
                    "src/{}:{}: a function of {span} lines (at most {MAX_FUNCTION_LINES}): {}",
                    rel.display(),
                    i + 1,
                    line
                ));
            }
            i += 1;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

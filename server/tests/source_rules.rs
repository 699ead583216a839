//! Rules about the shape of `server/src` that review would otherwise have to check by eye:
//!
//! - **No import cycle among modules.** Every file is a module; an edge A → B is any path in A
//!   (`use` declarations and paths in code: `crate::…`, `super::…`, `self::…`, and names `use`
//!   brought in) that resolves to an item of B, following `pub use` re-exports to the module
//!   that defines the item (so `super::Db` from `store::groups` is an edge to `store::connect`,
//!   not to `store`). A module naming its own descendants is containment (it declares and
//!   assembles them), not a dependency, and is left out. Test modules (`#[cfg(test)] mod …` at
//!   the end of a file) are left out: they are not part of the build.
//! - **No function over [`MAX_FN_LINES`] lines** outside tests, signature to closing brace.
//!
//! Hand-written rather than `cargo-modules`: that tool builds rust-analyzer (minutes of compile
//! on this machine, for every fresh checkout), and this needs only `use` paths and braces. The
//! lexer drops comments, strings and character literals first, so text in them never counts.
//! The checker's own tests show it finds a cycle, also one hidden behind a re-export, and a long
//! function.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// The longest a function outside tests may be, in lines.
const MAX_FN_LINES: usize = 80;

/// A module: its path (`store::keys`; the crate root is ``), its code without comments, strings
/// and test modules.
struct Module {
    code: String,
}

type Modules = BTreeMap<String, Module>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every module of the library under `src` (`main.rs` is the binary, a crate of its own).
fn load(src: &Path) -> Modules {
    let mut modules = Modules::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path == src.join("main.rs") {
                continue;
            }
            let relative = path.strip_prefix(src).expect("under src").with_extension("");
            let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
                parts.pop();
            }
            let text = fs::read_to_string(&path).expect("read module");
            modules.insert(parts.join("::"), Module { code: without_tests(&strip(&text)) });
        }
    }
    modules
}

/// `text` with comments, string and character literals blanked out; newlines kept, so line
/// numbers stay.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_char(chars.get(i.wrapping_sub(1))) {
            // A raw string: r"…", r#"…"#.
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            i += 2 + hashes;
            while i < chars.len() {
                if chars[i] == '"' && chars[i + 1..].iter().take(hashes).filter(|&&h| h == '#').count() == hashes {
                    i += 1 + hashes;
                    break;
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&c) = chars.get(i) {
                    blank(&mut out, c);
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && next == Some('\\') {
            // An escaped character literal: '\n', '\\', '\u{…}'.
            i += 2;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            i += 3;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// `code` up to its test module (by convention the last item of a file).
fn without_tests(code: &str) -> String {
    let mut from = 0;
    while let Some(found) = code[from..].find("#[cfg(test)]") {
        let at = from + found;
        if code[at..].trim_start_matches("#[cfg(test)]").trim_start().starts_with("mod ") {
            return code[..at].to_owned();
        }
        from = at + 1;
    }
    code.to_owned()
}

/// The paths a `use` tree names, each as its segments, with the name it brings into scope.
fn expand_use(tree: &str) -> Vec<(Vec<String>, Option<String>)> {
    fn walk(prefix: &[String], tree: &str, out: &mut Vec<(Vec<String>, Option<String>)>) {
        let tree = tree.trim();
        if let Some(open) = tree.find('{') {
            let base: Vec<String> =
                tree[..open].split("::").map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
            let prefix: Vec<String> = prefix.iter().cloned().chain(base).collect();
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            for part in split_top(inner) {
                walk(&prefix, part, out);
            }
            return;
        }
        let (path, alias) = match tree.split_once(" as ") {
            Some((path, alias)) => (path, Some(alias.trim().to_owned())),
            None => (tree, None),
        };
        let mut segments: Vec<String> = prefix.to_vec();
        for segment in path.split("::").map(str::trim).filter(|s| !s.is_empty()) {
            if segment != "self" || segments.is_empty() {
                segments.push(segment.to_owned());
            }
        }
        if segments.is_empty() || segments.last().is_some_and(|s| s == "*") {
            if segments.last().is_some_and(|s| s == "*") {
                segments.pop();
                out.push((segments, None));
            }
            return;
        }
        let name = alias.or_else(|| segments.last().cloned()).filter(|n| n != "_");
        out.push((segments, name));
    }
    let mut out = Vec::new();
    walk(&[], tree, &mut out);
    out
}

/// `text` split at the commas outside braces.
fn split_top(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// Every `use` declaration of `code`: (is it a re-export, its tree).
fn use_declarations(code: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = find_word(rest, "use") {
        let before = rest[..at].trim_end();
        let public = before.ends_with("pub") || before.ends_with("pub(crate)") || before.ends_with("pub(super)");
        let after = &rest[at + 3..];
        let end = after.find(';').unwrap_or(after.len());
        out.push((public, after[..end].to_owned()));
        rest = &after[end..];
    }
    out
}

/// The byte offset of `word` standing alone in `text`.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(found) = text[from..].find(word) {
        let at = from + found;
        let before = at.checked_sub(1).map(|i| bytes[i] as char);
        let after = bytes.get(at + word.len()).map(|b| *b as char);
        if !ident_char(before.as_ref()) && !ident_char(after.as_ref()) && before != Some(':') {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The module graph: module → the modules it depends on.
struct Graph {
    modules: BTreeSet<String>,
    /// (module, name) → the absolute path a `pub use` in the module re-exports under that name.
    reexports: BTreeMap<(String, String), Vec<String>>,
}

impl Graph {
    fn new(modules: &Modules) -> Self {
        let mut reexports = BTreeMap::new();
        for (module, m) in modules {
            for (public, tree) in use_declarations(&m.code) {
                if !public {
                    continue;
                }
                for (path, name) in expand_use(&tree) {
                    if let (Some(name), Some(absolute)) = (name, absolute(module, &path, modules)) {
                        reexports.insert((module.clone(), name), absolute);
                    }
                }
            }
        }
        Self { modules: modules.keys().cloned().collect(), reexports }
    }

    /// The module defining what the absolute `path` names, through re-exports.
    fn resolve(&self, path: &[String], depth: usize) -> Option<String> {
        let mut module = String::new();
        let mut rest = path;
        while let Some((first, tail)) = rest.split_first() {
            let deeper = if module.is_empty() { first.clone() } else { format!("{module}::{first}") };
            if !self.modules.contains(&deeper) {
                break;
            }
            module = deeper;
            rest = tail;
        }
        if let (Some(first), true) = (rest.first(), depth < 8)
            && let Some(target) = self.reexports.get(&(module.clone(), first.clone()))
        {
            let followed: Vec<String> = target.iter().chain(&rest[1..]).cloned().collect();
            return self.resolve(&followed, depth + 1);
        }
        Some(module)
    }
}

/// `path` as written in `module`, made absolute; `None` for another crate's path.
fn absolute(module: &str, path: &[String], modules: &Modules) -> Option<Vec<String>> {
    let mut here: Vec<String> =
        if module.is_empty() { Vec::new() } else { module.split("::").map(String::from).collect() };
    let (first, rest) = path.split_first()?;
    match first.as_str() {
        "crate" => Some(rest.to_vec()),
        "self" => Some(here.into_iter().chain(rest.iter().cloned()).collect()),
        "super" => {
            here.pop()?;
            let mut rest = rest;
            while rest.first().is_some_and(|s| s == "super") {
                here.pop()?;
                rest = &rest[1..];
            }
            Some(here.into_iter().chain(rest.iter().cloned()).collect())
        }
        child => {
            let candidate = if module.is_empty() { child.to_owned() } else { format!("{module}::{child}") };
            modules.contains_key(&candidate).then(|| here.into_iter().chain(path.iter().cloned()).collect())
        }
    }
}

/// Paths written in code (`crate::a::b`, `super::x`, `child::y`), as segments.
fn code_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !(chars[i].is_alphabetic() || chars[i] == '_') || ident_char(i.checked_sub(1).and_then(|j| chars.get(j))) {
            i += 1;
            continue;
        }
        let mut segments = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            segments.push(chars[start..j].iter().collect::<String>());
            if chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':') && ident_char(chars.get(j + 2)) {
                j += 2;
            } else {
                break;
            }
        }
        let preceded_by_path = i >= 2 && chars[i - 1] == ':' && chars[i - 2] == ':';
        // `a::b::{…}` and `a::*` are `use` trees, which `use_declarations` reads.
        let a_tree = chars.get(j) == Some(&':') && chars.get(j + 1) == Some(&':');
        if segments.len() > 1 && !preceded_by_path && !a_tree {
            out.push(segments);
        }
        i = j.max(i + 1);
    }
    out
}

/// module → the modules it depends on (descendants and itself left out).
fn dependencies(modules: &Modules) -> BTreeMap<String, BTreeSet<String>> {
    let graph = Graph::new(modules);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, m) in modules {
        let mut paths: Vec<Vec<String>> = Vec::new();
        // Names `use` brought in: a path starting with one continues the imported path.
        let mut imported: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (_, tree) in use_declarations(&m.code) {
            for (path, name) in expand_use(&tree) {
                if let Some(absolute) = absolute(module, &path, modules) {
                    if let Some(name) = name {
                        imported.insert(name, absolute.clone());
                    }
                    paths.push(absolute);
                }
            }
        }
        for path in code_paths(&m.code) {
            if let Some(absolute) = absolute(module, &path, modules) {
                paths.push(absolute);
            } else if let Some(base) = imported.get(&path[0]) {
                paths.push(base.iter().chain(&path[1..]).cloned().collect());
            }
        }
        let targets = edges.entry(module.clone()).or_default();
        for path in paths {
            let Some(target) = graph.resolve(&path, 0) else { continue };
            let inside = module.is_empty() || target.starts_with(&format!("{module}::"));
            if target != *module && !inside {
                targets.insert(target);
            }
        }
    }
    edges
}

/// A cycle of the graph, if there is one, as the modules along it.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = path.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = path[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(cycle) = visit(next, edges, state, path) {
                        return Some(cycle);
                    }
                }
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if !state.contains_key(node)
            && let Some(cycle) = visit(node, edges, &mut state, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

/// Functions longer than `max` lines: (module, name, lines).
fn long_functions(modules: &Modules, max: usize) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    for (module, m) in modules {
        let code = &m.code;
        let mut from = 0;
        while let Some(found) = find_word(&code[from..], "fn") {
            let at = from + found;
            from = at + 2;
            let name: String =
                code[at + 2..].trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if name.is_empty() {
                continue; // a `fn(…)` type
            }
            // The body: the first `{` before any `;` (a declaration without a body has none).
            let Some(open) = code[at..].find(['{', ';']).map(|i| at + i).filter(|&i| code.as_bytes()[i] == b'{') else {
                continue;
            };
            let mut depth = 0usize;
            let mut close = open;
            for (i, c) in code[open..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            close = open + i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let lines = code[at..=close].lines().count();
            if lines > max {
                out.push((module.clone(), name, lines));
            }
        }
    }
    out
}

#[test]
fn no_import_cycle_among_modules() {
    let modules = load(&src_dir());
    assert!(modules.len() > 40, "read {} modules from {}", modules.len(), src_dir().display());
    let edges = dependencies(&modules);
    if let Some(cycle) = find_cycle(&edges) {
        panic!("import cycle among server/src modules: {}", cycle.join(" → "));
    }
}

#[test]
fn no_function_over_the_limit() {
    let long = long_functions(&load(&src_dir()), MAX_FN_LINES);
    assert!(long.is_empty(), "functions over {MAX_FN_LINES} lines outside tests: {long:?}");
}

/// The checker itself: a tree with a cycle, one behind a re-export, and a long function.
#[test]
fn the_checks_find_what_they_look_for() {
    let dir = tempfile::tempdir().expect("dir");
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    };
    write("lib.rs", "pub mod a;\npub mod b;\npub mod s;\n");
    write("a.rs", "//! A.\nuse crate::b::B;\npub struct A;\n");
    write("b.rs", "//! B, naming A in a comment only: crate::a::A.\nlet s = \"crate::a::A\";\npub struct B;\n");
    write("s/mod.rs", "mod x;\nmod y;\npub use x::X;\npub use self::y::Y;\n");
    write("s/x.rs", "use super::Y;\npub struct X;\n");
    write("s/y.rs", "pub struct Y;\n#[cfg(test)]\nmod tests { use crate::s::X; }\n");
    let edges = |dir: &Path| dependencies(&load(dir));
    assert_eq!(find_cycle(&edges(dir.path())), None, "comments, strings and tests do not count");

    write("b.rs", "//! B.\npub struct B(crate::a::A);\n");
    let cycle = find_cycle(&edges(dir.path())).expect("a ↔ b");
    assert!(cycle.contains(&"a".to_owned()) && cycle.contains(&"b".to_owned()), "{cycle:?}");

    write("b.rs", "pub struct B;\n");
    write("s/y.rs", "fn f() -> super::X { todo!() }\npub struct Y;\n");
    let cycle = find_cycle(&edges(dir.path())).expect("x ↔ y behind the re-exports of s");
    assert!(cycle.contains(&"s::x".to_owned()) && cycle.contains(&"s::y".to_owned()), "{cycle:?}");

    let body = "    let x = 1;\n".repeat(MAX_FN_LINES);
    write("b.rs", &format!("pub fn long() {{\n{body}}}\npub fn short() {{}}\n"));
    let long = long_functions(&load(dir.path()), MAX_FN_LINES);
    assert_eq!(long, vec![("b".to_owned(), "long".to_owned(), MAX_FN_LINES + 2)]);
}

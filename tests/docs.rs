//! The documentation rule: every public item of the crate has a doc
//! comment with an example that compiles (a doc test).
//!
//! `#![deny(missing_docs)]` makes every public item documented; this test
//! makes every one of them carry a code example too. It scans `src/` for
//! items declared `pub` (`fn`, `struct`, `enum`, `trait`, `type`, `const`,
//! `static`, `mod`) and checks the doc comment above each (for a `mod`,
//! the `//!` comment of its file) for a fenced block that rustdoc compiles:
//! plain, `rust`, `no_run` or `should_panic`; `ignore` and `text` do not
//! count. Struct fields, enum variants and trait methods are covered by
//! `missing_docs` and by the example of their type.
//!
//! `cargo test --doc` then compiles and runs every one of those examples.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Items for which an example would be decoration, with the reason.
/// Each entry must match an item: a stale entry fails the test.
const NO_EXAMPLE: &[(&str, &str, &str)] = &[
    (
        "src/future.rs",
        "ResponseFuture",
        "a future type named only in `Service::Future`; nobody builds or names it",
    ),
    (
        "src/encoding.rs",
        "ResponseFuture",
        "a future type named only in `Service::Future`; nobody builds or names it",
    ),
    (
        "src/client/service.rs",
        "ResponseFuture",
        "a future type named only in `Service::Future`; nobody builds or names it",
    ),
];

/// Directories not checked, with the reason: for a module being written,
/// until its items have examples. Empty: all of `src/` is checked.
const NOT_CHECKED: &[(&str, &str)] = &[];

#[derive(Debug, PartialEq, Eq)]
struct Missing {
    file: String,
    line: usize,
    kind: &'static str,
    name: String,
}

/// The public items of one file's source that lack an example. `module_doc`
/// answers, for `pub mod name;`, whether that module's file has an example
/// in its `//!` comment.
fn missing_examples(file: &str, source: &str, module_doc: &dyn Fn(&str) -> bool) -> Vec<Missing> {
    let lines: Vec<&str> = source.lines().collect();
    let mut missing = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        // Test modules end the scan: they hold no public API.
        if trimmed.starts_with("mod tests")
            && index > 0
            && lines[index - 1].trim() == "#[cfg(test)]"
        {
            break;
        }
        let Some((kind, name)) = public_item(trimmed) else {
            continue;
        };
        let has_example = if kind == "mod" && trimmed.ends_with(';') {
            module_doc(&name)
        } else {
            has_example(&doc_above(&lines, index))
        };
        if !has_example {
            missing.push(Missing {
                file: file.to_owned(),
                line: index + 1,
                kind,
                name,
            });
        }
    }
    missing
}

/// `pub fn name`, `pub(crate) ...` excluded; returns the kind and the name.
fn public_item(line: &str) -> Option<(&'static str, String)> {
    let mut rest = line.strip_prefix("pub ")?;
    for qualifier in ["const fn ", "async fn ", "unsafe fn "] {
        if let Some(tail) = rest.strip_prefix(qualifier) {
            rest = tail;
            return Some(("fn", ident(rest)));
        }
    }
    for kind in [
        "fn", "struct", "enum", "trait", "type", "const", "static", "mod",
    ] {
        if let Some(tail) = rest.strip_prefix(kind).and_then(|t| t.strip_prefix(' ')) {
            return Some((kind, ident(tail)));
        }
    }
    None
}

fn ident(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The `///` lines above line `index`, past attributes.
fn doc_above(lines: &[&str], index: usize) -> Vec<String> {
    let mut doc = Vec::new();
    let mut at = index;
    while at > 0 {
        at -= 1;
        let line = lines[at].trim();
        if let Some(text) = line.strip_prefix("///") {
            doc.push(text.strip_prefix(' ').unwrap_or(text).to_owned());
        } else if line.starts_with("#[") || line.starts_with("//") && !line.starts_with("///") {
            continue; // attributes and plain comments between doc and item
        } else {
            break;
        }
    }
    doc.reverse();
    doc
}

/// The `//!` lines of a file.
fn inner_doc(source: &str) -> Vec<String> {
    source
        .lines()
        .map(str::trim)
        .filter_map(|line| line.strip_prefix("//!"))
        .map(|text| text.strip_prefix(' ').unwrap_or(text).to_owned())
        .collect()
}

/// `true` when the doc has a fenced block that rustdoc compiles.
fn has_example(doc: &[String]) -> bool {
    let mut inside = false;
    for line in doc {
        let line = line.trim_start();
        let Some(tag) = line.strip_prefix("```") else {
            continue;
        };
        if inside {
            inside = false;
            continue;
        }
        inside = true;
        let compiled = tag.split(',').map(str::trim).all(|word| {
            matches!(word, "" | "rust" | "no_run" | "should_panic") || word.starts_with("edition")
        });
        if compiled {
            return true;
        }
    }
    false
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_public_item_has_a_compiled_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);

    let mut missing = Vec::new();
    let mut checked = 0;
    for path in &files {
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if NOT_CHECKED
            .iter()
            .any(|(dir, _)| relative.starts_with(&format!("{dir}/")))
            || relative.ends_with("/tests.rs")
        {
            continue;
        }
        checked += 1;
        let source = std::fs::read_to_string(path).unwrap();
        let dir = path.parent().unwrap().to_owned();
        // `pub mod x;` in `src/lib.rs` or `src/y/mod.rs` is `x.rs` or
        // `x/mod.rs` beside it; in `src/y.rs` it is `src/y/x.rs`.
        let module_dir = if path.ends_with("lib.rs") || path.ends_with("mod.rs") {
            dir
        } else {
            dir.join(path.file_stem().unwrap())
        };
        let module_doc = |name: &str| {
            let module = module_dir.join(name);
            let module = module.strip_prefix(root).unwrap().to_string_lossy();
            if NOT_CHECKED
                .iter()
                .any(|(dir, _)| module.replace('\\', "/") == *dir)
            {
                return true;
            }
            [
                module_dir.join(format!("{name}.rs")),
                module_dir.join(name).join("mod.rs"),
            ]
            .iter()
            .find_map(|file| std::fs::read_to_string(file).ok())
            .is_some_and(|module| has_example(&inner_doc(&module)))
        };
        missing.extend(missing_examples(&relative, &source, &module_doc));
        if relative == "src/lib.rs" && !has_example(&inner_doc(&source)) {
            missing.push(Missing {
                file: relative.clone(),
                line: 1,
                kind: "crate",
                name: "tower_range".into(),
            });
        }
    }
    assert!(checked > 10, "only {checked} files scanned: is src/ there?");

    let mut unused: Vec<_> = NO_EXAMPLE.to_vec();
    missing.retain(|item| {
        let allowed = NO_EXAMPLE
            .iter()
            .any(|(file, name, _)| *file == item.file && *name == item.name);
        unused.retain(|(file, name, _)| !(*file == item.file && *name == item.name));
        !allowed
    });
    let mut report = String::new();
    for item in &missing {
        let _ = writeln!(
            report,
            "{}:{}: pub {} {} has no example (a ``` block in its doc comment)",
            item.file, item.line, item.kind, item.name
        );
    }
    for (file, name, _) in &unused {
        let _ = writeln!(
            report,
            "NO_EXAMPLE lists {file}: {name}, which has an example or no longer exists: remove the entry"
        );
    }
    assert!(report.is_empty(), "\n{report}");
}

/// The check itself can fail: an item without an example, an `ignore`d or
/// `text` block, and a module without one are reported; examples behind
/// attributes and in `//!` comments are found.
#[test]
fn the_check_reports_what_it_should() {
    let source = r#"
/// Documented, with an example.
///
/// ```
/// assert_eq!(1 + 1, 2);
/// ```
#[must_use]
pub fn good() {}

/// Documented, no example.
pub fn no_example() {}

/// An example that is not compiled.
///
/// ```ignore
/// good();
/// ```
pub struct Ignored;

/// Not code.
///
/// ```text
/// GET / HTTP/1.1
/// ```
pub const fn text_only() {}

/// Runs nothing, compiles: fine.
///
/// ```no_run
/// loop {}
/// ```
pub async fn never_runs() {}

pub(crate) fn internal() {}
fn private() {}

pub mod documented;
pub mod undocumented;

#[cfg(test)]
mod tests {
    pub fn helper() {}
}
"#;
    let module_doc = |name: &str| name == "documented";
    let missing = missing_examples("src/x.rs", source, &module_doc);
    let names: Vec<_> = missing.iter().map(|m| (m.kind, m.name.as_str())).collect();
    assert_eq!(
        names,
        [
            ("fn", "no_example"),
            ("struct", "Ignored"),
            ("fn", "text_only"),
            ("mod", "undocumented"),
        ]
    );
    assert_eq!(missing[0].line, 11);
    assert!(has_example(&inner_doc(
        "//! Text.\n//!\n//! ```\n//! let x = 1;\n//! ```\n"
    )));
    assert!(!has_example(&inner_doc("//! Text only.\n")));
}

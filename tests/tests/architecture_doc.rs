//! docs/architecture.md names real modules: every path it quotes exists, every
//! `Type::method` it quotes is a function in the host, and every top-level module of
//! the host library appears on the page, so the map cannot silently rot.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn page() -> String {
    std::fs::read_to_string(root().join("docs/architecture.md")).unwrap()
}

/// Every `inline code` span of the page.
fn code_spans(page: &str) -> Vec<String> {
    page.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, span)| span.to_owned())
        .collect()
}

const ROOTS: [&str; 6] = [
    "host/",
    "driver-api/",
    "drivers/",
    "tests/",
    "bench/",
    "docs/",
];

#[test]
fn every_path_named_exists() {
    let paths: Vec<String> = code_spans(&page())
        .into_iter()
        .filter(|span| ROOTS.iter().any(|root| span.starts_with(root)))
        .collect();
    assert!(paths.len() > 40, "too few paths found: {paths:?}");
    let missing: Vec<&String> = paths.iter().filter(|p| !root().join(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md names missing paths: {missing:?}"
    );
}

/// The text of every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
}

#[test]
fn every_method_named_is_a_function_in_the_host() {
    let mut code = String::new();
    sources(&root().join("host/src"), &mut code);
    let methods: Vec<(String, String)> = code_spans(&page())
        .into_iter()
        .filter_map(|span| {
            let (ty, method) = span.split_once("::")?;
            let is_path = ty.starts_with(|c: char| c.is_ascii_uppercase())
                && method.chars().all(|c| c.is_ascii_lowercase() || c == '_');
            is_path.then(|| (ty.to_owned(), method.to_owned()))
        })
        .collect();
    assert!(methods.len() > 5, "too few methods found: {methods:?}");
    let missing: Vec<_> = methods
        .iter()
        .filter(|(_, method)| {
            !code.contains(&format!("fn {method}(")) && !code.contains(&format!("fn {method}<"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md names missing functions: {missing:?}"
    );
    for ty in ["Store", "Replica", "Loader"] {
        assert!(code.contains(&format!("pub struct {ty}")), "{ty} is gone");
    }
}

#[test]
fn every_host_module_is_on_the_map() {
    let page = page();
    let lib = std::fs::read_to_string(root().join("host/src/lib.rs")).unwrap();
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|line| line.strip_prefix("pub mod ")?.strip_suffix(';'))
        .collect();
    assert!(modules.len() > 10, "{modules:?}");
    let absent: Vec<&&str> = modules
        .iter()
        .filter(|m| {
            !page.contains(&format!("host/src/{m}.rs")) && !page.contains(&format!("host/src/{m}/"))
        })
        .collect();
    assert!(
        absent.is_empty(),
        "host modules missing from docs/architecture.md: {absent:?}"
    );
}

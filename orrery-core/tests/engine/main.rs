//! Integration tests of the graph engine, through its public API.

mod diff;
mod fuzz_regressions;
mod nesting;
mod properties;
mod validate;

use orrery_core::{Diagnostic, Graph, MemoryResolver};

/// Renders diagnostics one per line, with the help text indented below.
fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| format!("{d}\n  help: {}\n", d.help))
        .collect()
}

/// Parses a test document, failing the test with the parse error.
#[track_caller]
fn graph(json: &str) -> Graph {
    match Graph::from_json(json) {
        Ok(g) => g,
        Err(e) => panic!("test document does not parse: {e}"),
    }
}

/// A resolver holding the given agents (id, document).
#[track_caller]
fn agents(list: &[(&str, &str)]) -> MemoryResolver {
    let mut r = MemoryResolver::default();
    for (id, json) in list {
        r.insert(id, graph(json)).unwrap();
    }
    r
}

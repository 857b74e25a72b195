//! What the `parse_validate` fuzz target checks of one input: arbitrary bytes through the whole
//! engine (parse, validate with the document as its own agent so nesting is exercised, digest,
//! canonical round trip, flatten, diff), where nothing may panic. Shared with the regression
//! test (`orrery-core/tests/engine/fuzz_regressions.rs`), so a kept crash replays exactly.

use orrery_core::{
    FlattenOptions, Graph, MemoryResolver, ParseOptions, diff, flatten_with, validate,
};

/// Runs every check on `data`; panics on the first that fails.
pub fn check(data: &[u8]) {
    let Ok(graph) = Graph::from_slice_with(data, &ParseOptions { max_bytes: 1 << 20 }) else {
        return;
    };
    let mut agents = MemoryResolver::default();
    let _ = agents.insert("self", graph.clone());
    let _ = validate(&graph, &agents);
    let canonical = graph.canonical_json();
    let again = Graph::from_json(&canonical).expect("canonical JSON parses");
    assert_eq!(again.canonical_json(), canonical);
    assert_eq!(again.digest(), graph.digest());
    let _ = flatten_with(
        &graph,
        &agents,
        &FlattenOptions {
            max_nodes: 10_000,
            max_depth: 4,
        },
    );
    assert!(
        diff(&graph, &again, &agents).is_empty(),
        "visual data is all canonical form drops"
    );
}

//! The graph engine on a generated workflow of 100,000 nodes and 150,000 edges nesting agents
//! three levels deep: parse, validate, digest, and the whole pipeline, against serde_json
//! parsing the same bytes into a `Value`.
//!
//! Run with: cargo bench -p orrery-benches --bench core

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use orrery_benches::{Shape, workflow};
use orrery_core::{Graph, MemoryResolver, validate};

// The `orrery` binary's allocator, so the figures are what the CLI and the server see; the
// `serde_json::Value` peer runs on it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn engine(c: &mut Criterion) {
    let generated = workflow(&Shape {
        nodes: 100_000,
        edges_per_node: 1.5,
        nesting: 3,
        ..Shape::default()
    });
    let bytes = generated.root.as_bytes();
    let mut agents = MemoryResolver::default();
    for (id, doc) in &generated.agents {
        agents
            .insert(id, Graph::from_json(doc).expect("agent parses"))
            .expect("agent id");
    }
    let graph = Graph::from_slice(bytes).expect("graph parses");
    assert_eq!(
        (graph.nodes.len(), graph.edges.len() / 1000),
        (100_000, 149)
    );
    assert!(
        validate(&graph, &agents).is_empty(),
        "the generated graph is clean"
    );

    let mut group = c.benchmark_group("engine_100k");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("serde_json_value", |b| {
        b.iter(|| black_box(serde_json::from_slice::<serde_json::Value>(black_box(bytes)).unwrap()))
    });
    group.bench_function("parse", |b| {
        b.iter(|| black_box(Graph::from_slice(black_box(bytes)).unwrap()))
    });
    group.bench_function("validate", |b| {
        b.iter(|| black_box(validate(black_box(&graph), &agents)))
    });
    group.bench_function("digest", |b| b.iter(|| black_box(graph.digest())));
    group.bench_function("parse_validate", |b| {
        b.iter(|| {
            let g = Graph::from_slice(black_box(bytes)).unwrap();
            black_box(validate(&g, &agents))
        })
    });
    group.bench_function("pipeline", |b| {
        b.iter(|| {
            let g = Graph::from_slice(black_box(bytes)).unwrap();
            let diagnostics = validate(&g, &agents);
            black_box((diagnostics, g.digest()))
        })
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);

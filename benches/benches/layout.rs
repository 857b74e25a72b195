//! Layout speed: cold layouts of scale-free (Barabási–Albert, m = 2) graphs of 1,000 and 10,000
//! nodes, and a warm start of the 10,000-node one after adding a node. Quality against the peers
//! is measured by `benches/layout/compare`, not here.
//!
//! Run with: cargo bench -p orrery-benches --bench layout

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use orrery_render::layout::{LayoutGraph, LayoutOptions, force_directed};

/// Preferential attachment from a triangle: each new node joins two distinct earlier nodes
/// chosen in proportion to their degree (deterministic, xorshift).
fn barabasi_albert(n: usize) -> Vec<(usize, usize)> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut below = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let mut edges = vec![(0, 1), (1, 2), (0, 2)];
    let mut ends = vec![0, 1, 1, 2, 0, 2];
    for v in 3..n {
        let a = ends[below(ends.len())];
        let mut b = ends[below(ends.len())];
        while b == a {
            b = ends[below(ends.len())];
        }
        for t in [a, b] {
            edges.push((v, t));
            ends.extend([v, t]);
        }
    }
    edges
}

fn layout(c: &mut Criterion) {
    let mut group = c.benchmark_group("layout");
    group.sample_size(10);
    for n in [1_000, 10_000] {
        let graph = LayoutGraph::new(n, &barabasi_albert(n)).expect("a valid graph");
        group.bench_with_input(BenchmarkId::new("ba_cold", n), &graph, |b, graph| {
            b.iter(|| force_directed(black_box(graph), &LayoutOptions::default()))
        });
    }
    let n = 10_000;
    let mut edges = barabasi_albert(n);
    let before = force_directed(
        &LayoutGraph::new(n, &edges).expect("a valid graph"),
        &LayoutOptions::default(),
    )
    .expect("a layout");
    edges.extend([(n, 17), (n, 4242)]);
    let edited = LayoutGraph::new(n + 1, &edges).expect("a valid graph");
    let options = LayoutOptions {
        initial: before.into_iter().map(Some).collect(),
        ..LayoutOptions::default()
    };
    group.bench_function(BenchmarkId::new("ba_warm_add_node", n), |b| {
        b.iter(|| force_directed(black_box(&edited), &options))
    });
    group.finish();
}

criterion_group!(benches, layout);
criterion_main!(benches);

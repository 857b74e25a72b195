//! The same graph, options and seed give the same bits, whatever the number of threads.

use orrery_render::layout::{ClusterTree, LayoutOptions, force_directed};

use crate::support::{bits, grid, scale_free};

fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn the_same_seed_gives_identical_bits() {
    let graph = scale_free(600);
    let options = LayoutOptions {
        seed: 7,
        ..LayoutOptions::default()
    };
    let first = force_directed(&graph, &options).unwrap();
    let second = force_directed(&graph, &options).unwrap();
    assert_eq!(bits(&first), bits(&second));
}

#[test]
fn one_thread_and_four_threads_give_identical_bits() {
    // Large enough for every parallel path (levels of 2,048 nodes and more).
    let graph = scale_free(5000);
    let options = LayoutOptions::default();
    let one = on_threads(1, || force_directed(&graph, &options).unwrap());
    let four = on_threads(4, || force_directed(&graph, &options).unwrap());
    assert_eq!(bits(&one), bits(&four));
}

#[test]
fn a_different_seed_gives_a_different_layout() {
    let graph = scale_free(300);
    let a = force_directed(&graph, &LayoutOptions::default()).unwrap();
    let b = force_directed(
        &graph,
        &LayoutOptions {
            seed: 1,
            ..LayoutOptions::default()
        },
    )
    .unwrap();
    assert_ne!(bits(&a), bits(&b));
}

#[test]
fn clustered_and_warm_layouts_are_deterministic_too() {
    let ids: Vec<String> = (0..2744)
        .map(|i| format!("c{}/d{}/n{i}", i / 686, i / 98))
        .collect();
    let graph = grid(14, 14, 14)
        .with_clusters(ClusterTree::from_paths(&ids))
        .unwrap();
    let cold = force_directed(&graph, &LayoutOptions::default()).unwrap();
    let mut initial: Vec<_> = cold.iter().copied().map(Some).collect();
    initial[5] = None;
    let options = LayoutOptions {
        initial,
        ..LayoutOptions::default()
    };
    let one = on_threads(1, || force_directed(&graph, &options).unwrap());
    let three = on_threads(3, || force_directed(&graph, &options).unwrap());
    assert_eq!(bits(&one), bits(&three));
}

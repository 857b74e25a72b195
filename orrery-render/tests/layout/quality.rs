//! Easy graphs get good layouts: low stress on paths and grids, every position finite,
//! components kept apart, progress reported to the end.

use std::cell::RefCell;
use std::sync::Mutex;

use orrery_render::layout::{
    LayoutGraph, LayoutOptions, Progress, force_directed, force_directed_with_progress,
};

use crate::support::{dist, grid, mean_edge, path, scale_free, stress};

fn layout(graph: &LayoutGraph) -> Vec<[f32; 3]> {
    force_directed(graph, &LayoutOptions::default()).unwrap()
}

#[test]
fn a_path_gets_low_stress() {
    let graph = path(60);
    let pos = layout(&graph);
    let s = stress(&graph, &pos);
    assert!(s < 0.04, "stress {s}");
}

#[test]
fn a_square_grid_keeps_its_shape() {
    let graph = grid(12, 12, 1);
    let pos = layout(&graph);
    let s = stress(&graph, &pos);
    assert!(s < 0.04, "stress {s}");
}

#[test]
fn a_cube_grid_keeps_its_shape() {
    let graph = grid(8, 8, 8);
    let pos = layout(&graph);
    let s = stress(&graph, &pos);
    assert!(s < 0.04, "stress {s}");
}

#[test]
fn a_scale_free_graph_gets_finite_untangled_positions() {
    let graph = scale_free(1000);
    let pos = layout(&graph);
    assert!(pos.iter().flatten().all(|v| v.is_finite()));
    let s = stress(&graph, &pos);
    assert!(s < 0.15, "stress {s}");
}

#[test]
fn components_and_isolated_nodes_do_not_overlap() {
    // Two paths and three isolated nodes.
    let mut edges: Vec<_> = (1..20).map(|i| (i - 1, i)).collect();
    edges.extend((21..40).map(|i| (i - 1, i)));
    let graph = LayoutGraph::new(43, &edges).unwrap();
    let pos = layout(&graph);
    let edge = mean_edge(&graph, &pos);
    let nearest_across = (0..20)
        .flat_map(|a| (20..43).map(move |b| (a, b)))
        .map(|(a, b)| dist(pos[a], pos[b]))
        .fold(f64::INFINITY, f64::min);
    assert!(nearest_across > edge, "{nearest_across} vs edge {edge}");
    for a in 40..43 {
        for b in a + 1..43 {
            assert!(dist(pos[a], pos[b]) > 0.5 * edge);
        }
    }
}

#[test]
fn one_node_and_two_nodes_are_fine() {
    assert_eq!(layout(&LayoutGraph::new(1, &[]).unwrap()), vec![[0.0; 3]]);
    let two = layout(&LayoutGraph::new(2, &[(0, 1)]).unwrap());
    assert!(dist(two[0], two[1]) > 0.1, "{two:?}");
}

#[test]
fn progress_rises_to_its_total() {
    let graph = grid(10, 10, 3);
    let seen = Mutex::new(Vec::<Progress>::new());
    force_directed_with_progress(&graph, &LayoutOptions::default(), &|p| {
        seen.lock().unwrap().push(p)
    })
    .unwrap();
    let seen = RefCell::new(seen.into_inner().unwrap());
    let seen = seen.borrow();
    assert!(seen.len() > 10);
    assert!(
        seen.windows(2)
            .all(|w| w[0].done <= w[1].done && w[0].total == w[1].total)
    );
    let last = seen.last().unwrap();
    assert_eq!(last.done, last.total);
}

#[test]
fn a_fixed_iteration_count_is_honoured_and_still_sensible() {
    let graph = grid(6, 6, 6);
    let options = LayoutOptions {
        iterations: Some(5),
        ..LayoutOptions::default()
    };
    let pos = force_directed(&graph, &options).unwrap();
    let s = stress(&graph, &pos);
    assert!(s < 0.1, "stress {s}");
}

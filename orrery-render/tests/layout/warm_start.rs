//! Warm starts: after an edit, what changed moves and the rest stays close to where it was.

use orrery_render::layout::{
    ClusterTree, LayoutError, LayoutGraph, LayoutOptions, force_directed, parse_positions,
    write_txt,
};

use crate::support::{dist, grid, mean_edge, scale_free};

fn cold(graph: &LayoutGraph) -> Vec<[f32; 3]> {
    force_directed(graph, &LayoutOptions::default()).unwrap()
}

fn warm(graph: &LayoutGraph, initial: Vec<Option<[f32; 3]>>) -> Vec<[f32; 3]> {
    let options = LayoutOptions {
        initial,
        ..LayoutOptions::default()
    };
    force_directed(graph, &options).unwrap()
}

/// Mean and largest distance moved by the nodes in `nodes`, in mean edge lengths.
fn moved(
    before: &[[f32; 3]],
    after: &[[f32; 3]],
    edge: f64,
    nodes: impl Iterator<Item = usize>,
) -> (f64, f64) {
    let d: Vec<f64> = nodes.map(|v| dist(before[v], after[v]) / edge).collect();
    (
        d.iter().sum::<f64>() / d.len() as f64,
        d.iter().copied().fold(0.0, f64::max),
    )
}

#[test]
fn an_unchanged_graph_barely_moves() {
    let graph = scale_free(800);
    let before = cold(&graph);
    let after = warm(&graph, before.iter().copied().map(Some).collect());
    let edge = mean_edge(&graph, &before);
    let (mean, max) = moved(&before, &after, edge, 0..800);
    assert!(mean < 0.3 && max < 1.0, "mean {mean}, max {max}");
}

#[test]
fn moving_a_few_nodes_keeps_the_rest_in_place() {
    let graph = grid(8, 8, 8);
    let before = cold(&graph);
    let edge = mean_edge(&graph, &before);
    let mut initial: Vec<_> = before.iter().copied().map(Some).collect();
    let shifted = [3, 100, 300];
    for &v in &shifted {
        initial[v] = initial[v].map(|p| [p[0] + 10.0 * edge as f32, p[1], p[2]]);
    }
    let after = warm(&graph, initial);
    let (mean, max) = moved(
        &before,
        &after,
        edge,
        (0..512).filter(|v| !shifted.contains(v)),
    );
    assert!(mean < 0.3 && max < 2.0, "mean {mean}, max {max}");
}

#[test]
fn a_new_node_lands_beside_its_neighbours_and_the_rest_stays() {
    let grid = grid(8, 8, 8);
    let before = cold(&grid);
    let edge = mean_edge(&grid, &before);
    // Node 512 joins a node and two of its neighbours.
    let mut edges: Vec<(usize, usize)> = grid
        .edges()
        .iter()
        .map(|&[a, b]| (a as usize, b as usize))
        .collect();
    let anchor = 200;
    let friends: Vec<usize> = grid
        .neighbours(anchor)
        .iter()
        .take(2)
        .map(|&u| u as usize)
        .collect();
    for &u in [anchor].iter().chain(&friends) {
        edges.push((512, u));
    }
    let graph = LayoutGraph::new(513, &edges).unwrap();
    // Positions for the first 512 nodes only: node 512 is new.
    let after = warm(&graph, before.iter().copied().map(Some).collect());
    let (mean, max) = moved(&before, &after, edge, 0..512);
    assert!(mean < 0.3 && max < 2.0, "mean {mean}, max {max}");
    for &u in [anchor].iter().chain(&friends) {
        let d = dist(after[512], after[u]) / edge;
        assert!(d < 3.0, "new node {d} edges from {u}");
    }
}

#[test]
fn a_few_new_nodes_in_a_large_graph_move_only_their_surroundings() {
    // Large enough (over 2,048 nodes, 1% new) for the refinement to stay around the new nodes.
    let n = 4000;
    let old = scale_free(n);
    let before = cold(&old);
    let edge = mean_edge(&old, &before);
    let mut edges: Vec<(usize, usize)> = old
        .edges()
        .iter()
        .map(|&[a, b]| (a as usize, b as usize))
        .collect();
    // Each new node joins an old node and one of its neighbours.
    let joined: Vec<[usize; 2]> = (0..40)
        .map(|i| {
            let a = (i * 97 + 13) % n;
            [a, old.neighbours(a)[0] as usize]
        })
        .collect();
    for (i, pair) in joined.iter().enumerate() {
        for &u in pair {
            edges.push((n + i, u));
        }
    }
    let graph = LayoutGraph::new(n + joined.len(), &edges).unwrap();
    let after = warm(&graph, before.iter().copied().map(Some).collect());
    let near: Vec<usize> = joined.iter().flatten().copied().collect();
    let (mean, max) = moved(&before, &after, edge, (0..n).filter(|v| !near.contains(v)));
    assert!(mean < 0.05 && max < 1.0, "mean {mean}, max {max}");
    for (i, pair) in joined.iter().enumerate() {
        for &u in pair {
            let d = dist(after[n + i], after[u]) / edge;
            assert!(d < 3.0, "new node {} is {d} edges from {u}", n + i);
        }
    }
}

#[test]
fn a_new_component_is_placed_beside_the_old_layout() {
    let old = grid(5, 5, 5);
    let before = cold(&old);
    let mut edges: Vec<(usize, usize)> = old
        .edges()
        .iter()
        .map(|&[a, b]| (a as usize, b as usize))
        .collect();
    edges.extend((126..135).map(|v| (v - 1, v)));
    let graph = LayoutGraph::new(135, &edges).unwrap();
    let after = warm(&graph, before.iter().copied().map(Some).collect());
    let edge = mean_edge(&old, &before);
    let (mean, _) = moved(&before, &after, edge, 0..125);
    assert!(mean < 0.3, "mean {mean}");
    let nearest = (0..125)
        .flat_map(|a| (125..135).map(move |b| (a, b)))
        .map(|(a, b)| dist(after[a], after[b]))
        .fold(f64::INFINITY, f64::min);
    assert!(
        nearest > edge,
        "new component {nearest} from the old one, edge {edge}"
    );
}

#[test]
fn positions_come_back_in_the_callers_scale() {
    let graph = grid(6, 6, 6);
    let before = cold(&graph);
    let big: Vec<_> = before.iter().map(|p| Some(p.map(|v| v * 100.0))).collect();
    let after = warm(&graph, big.clone());
    let edge = mean_edge(&graph, &before) * 100.0;
    let big: Vec<[f32; 3]> = big.into_iter().flatten().collect();
    let (mean, _) = moved(&big, &after, edge, 0..216);
    assert!(mean < 0.3, "mean {mean}");
}

#[test]
fn more_initial_positions_than_nodes_is_an_error() {
    let graph = grid(2, 2, 1);
    let options = LayoutOptions {
        initial: vec![Some([0.0; 3]); 5],
        ..LayoutOptions::default()
    };
    let err = force_directed(&graph, &options).unwrap_err();
    assert!(matches!(err, LayoutError::InitialLength { .. }));
    assert_eq!(
        err.to_string(),
        "5 initial positions given for a graph of 4 nodes"
    );
}

#[test]
fn a_non_finite_initial_position_is_an_error() {
    let graph = grid(2, 2, 1);
    let options = LayoutOptions {
        initial: vec![Some([0.0; 3]), Some([f32::NAN, 0.0, 0.0])],
        ..LayoutOptions::default()
    };
    let err = force_directed(&graph, &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the initial position of node 1 is not finite"
    );
}

#[test]
fn positions_written_as_text_read_back_the_same() {
    let pos = cold(&grid(3, 3, 3));
    let mut text = Vec::new();
    write_txt(&mut text, &pos).unwrap();
    let back = parse_positions(std::str::from_utf8(&text).unwrap()).unwrap();
    assert_eq!(back, pos);
}

#[test]
fn a_malformed_positions_line_is_an_error_with_its_number() {
    let err = parse_positions("0 0 0\n# comment\n1 two 3\n").unwrap_err();
    assert_eq!(err.to_string(), "line 3: expected `x y z`, found `1 two 3`");
}

/// A chain `0 - 1 - agent - 2 - 3` whose agent is then expanded into a ring of `size` nodes
/// (`agent/0` joined to 1, `agent/{size / 2}` to 2).
fn collapsed_and_expanded(size: usize) -> (LayoutGraph, LayoutGraph) {
    let collapsed = LayoutGraph::new(5, &[(0, 1), (1, 4), (4, 2), (2, 3)]).unwrap();
    let mut edges = vec![(0, 1), (2, 3), (1, 4), (4 + size / 2, 2)];
    edges.extend((0..size).map(|i| (4 + i, 4 + (i + 1) % size)));
    let ids: Vec<String> = ["a", "b", "c", "d"]
        .into_iter()
        .map(str::to_owned)
        .chain((0..size).map(|i| format!("agent/{i}")))
        .collect();
    let expanded = LayoutGraph::new(4 + size, &edges)
        .unwrap()
        .with_clusters(ClusterTree::from_paths(&ids))
        .unwrap();
    (collapsed, expanded)
}

#[test]
fn an_expanded_agent_unfolds_where_its_node_was() {
    let size = 12;
    let (collapsed, expanded) = collapsed_and_expanded(size);
    let before = cold(&collapsed);
    let edge = mean_edge(&collapsed, &before);
    // Every member starts where the agent was: the caller's simplest choice.
    let mut initial: Vec<_> = before[..4].iter().copied().map(Some).collect();
    initial.extend(std::iter::repeat_n(Some(before[4]), size));
    let after = warm(&expanded, initial);
    let members = || 4..4 + size;
    let centre = members().fold([0.0f64; 3], |c, v| {
        [0, 1, 2].map(|k| c[k] + after[v][k] as f64 / size as f64)
    });
    let centre = centre.map(|c| c as f32);
    assert!(
        dist(centre, before[4]) < 2.0 * edge,
        "agent moved {}",
        dist(centre, before[4]) / edge
    );
    for a in members() {
        for b in members() {
            assert!(
                a == b || dist(after[a], after[b]) > 0.05 * edge,
                "{a} and {b} coincide"
            );
        }
    }
}

#[test]
fn an_expanded_agent_with_new_members_lands_between_its_neighbours() {
    let size = 12;
    let (collapsed, expanded) = collapsed_and_expanded(size);
    let before = cold(&collapsed);
    let edge = mean_edge(&collapsed, &before);
    // Only the outer nodes have positions; the members are new.
    let after = warm(&expanded, before[..4].iter().copied().map(Some).collect());
    let (mean, _) = moved(&before, &after, edge, 0..4);
    assert!(mean < 0.5, "outer nodes moved {mean}");
    for (v, &p) in after.iter().enumerate().skip(4) {
        assert!(dist(p, before[4]) < 4.0 * edge, "member {v} strayed");
    }
}

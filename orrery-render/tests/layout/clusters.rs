//! Nodes of a cluster (a flattened custom agent) stay together, nested clusters too.

use orrery_render::layout::{ClusterTree, LayoutGraph, LayoutOptions, force_directed};

use crate::support::dist;

/// `clusters` rings of `size` nodes, each ring's node 0 joined to the next ring's node
/// `size / 2`, and a chord across every ring; ids `c<k>/n<i>`.
fn rings(clusters: usize, size: usize) -> (LayoutGraph, Vec<String>) {
    let mut edges = Vec::new();
    for c in 0..clusters {
        let base = c * size;
        for i in 0..size {
            edges.push((base + i, base + (i + 1) % size));
        }
        edges.push((base, base + size / 3));
        if c + 1 < clusters {
            edges.push((base, base + size + size / 2));
        }
    }
    let ids = (0..clusters * size)
        .map(|v| format!("c{}/n{v}", v / size))
        .collect();
    (LayoutGraph::new(clusters * size, &edges).unwrap(), ids)
}

fn centroid(pos: &[[f32; 3]], members: impl Iterator<Item = usize>) -> [f32; 3] {
    let mut sum = [0.0f64; 3];
    let mut count = 0.0;
    for v in members {
        for k in 0..3 {
            sum[k] += pos[v][k] as f64;
        }
        count += 1.0;
    }
    sum.map(|s| (s / count) as f32)
}

/// Mean distance of nodes to their own cluster's centroid and to the other clusters'.
fn spread(pos: &[[f32; 3]], cluster_of: &[usize], clusters: usize) -> (f64, f64) {
    let centroids: Vec<[f32; 3]> = (0..clusters)
        .map(|c| centroid(pos, (0..pos.len()).filter(|&v| cluster_of[v] == c)))
        .collect();
    let (mut own, mut other, mut others) = (0.0, 0.0, 0.0);
    for (v, &c) in cluster_of.iter().enumerate() {
        own += dist(pos[v], centroids[c]);
        for (d, centre) in centroids.iter().enumerate() {
            if d != c {
                other += dist(pos[v], *centre);
                others += 1.0;
            }
        }
    }
    (own / pos.len() as f64, other / others)
}

#[test]
fn each_cluster_stays_compact_and_apart_from_the_others() {
    let (graph, ids) = rings(6, 30);
    let graph = graph.with_clusters(ClusterTree::from_paths(&ids)).unwrap();
    let pos = force_directed(&graph, &LayoutOptions::default()).unwrap();
    let cluster_of: Vec<usize> = (0..180).map(|v| v / 30).collect();
    let (own, other) = spread(&pos, &cluster_of, 6);
    assert!(own * 3.0 < other, "own {own}, other {other}");
}

#[test]
fn clusters_are_tighter_with_the_hierarchy_than_without() {
    let (graph, ids) = rings(6, 30);
    let cluster_of: Vec<usize> = (0..180).map(|v| v / 30).collect();
    let plain = force_directed(&graph, &LayoutOptions::default()).unwrap();
    let graph = graph.with_clusters(ClusterTree::from_paths(&ids)).unwrap();
    let clustered = force_directed(&graph, &LayoutOptions::default()).unwrap();
    let ratio = |pos: &[[f32; 3]]| {
        let (own, other) = spread(pos, &cluster_of, 6);
        own / other
    };
    assert!(
        ratio(&clustered) < ratio(&plain),
        "{} vs {}",
        ratio(&clustered),
        ratio(&plain)
    );
}

#[test]
fn nested_clusters_stay_inside_their_parent() {
    // Two top-level agents, each made of three nested ones; every leaf cluster a ring.
    let (graph, _) = rings(6, 20);
    let ids: Vec<String> = (0..120)
        .map(|v| format!("top{}/inner{}/n{v}", v / 60, v / 20))
        .collect();
    let graph = graph.with_clusters(ClusterTree::from_paths(&ids)).unwrap();
    let pos = force_directed(&graph, &LayoutOptions::default()).unwrap();
    let top: Vec<usize> = (0..120).map(|v| v / 60).collect();
    let inner: Vec<usize> = (0..120).map(|v| v / 20).collect();
    let (own_top, other_top) = spread(&pos, &top, 2);
    let (own_inner, other_inner) = spread(&pos, &inner, 6);
    assert!(
        own_top * 1.5 < other_top,
        "top: own {own_top}, other {other_top}"
    );
    assert!(
        own_inner * 3.0 < other_inner,
        "inner: own {own_inner}, other {other_inner}"
    );
}

#[test]
fn a_cluster_tree_must_cover_the_graph() {
    let (graph, _) = rings(2, 5);
    let err = graph
        .with_clusters(ClusterTree::from_paths(&["a/x", "a/y"]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the cluster tree covers 2 nodes, but the graph has 10"
    );
}

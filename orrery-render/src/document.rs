//! From graph documents to the plain inputs of layout and scene: node `i` is the document's
//! `nodes[i]`, edges are the document's edges whose nodes exist (self-loops and repeats
//! dropped), and clusters come from flattened ids (`billing/classify` is in cluster `billing`).

use orrery_core::{Graph, NodeKind};
use rustc_hash::FxHashMap;

use crate::layout::{ClusterTree, LayoutError, LayoutGraph};
use crate::scene::{NodeStyleKind, SceneInput, SceneNode};

/// The node index pairs of `graph`'s edges whose nodes both exist, without repeats or loops.
pub fn edge_pairs(graph: &Graph) -> Vec<(usize, usize)> {
    let index: FxHashMap<&str, usize> = graph
        .nodes
        .iter()
        .enumerate()
        .rev() // the first node with an id wins, as in validation
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let mut pairs: Vec<(usize, usize)> = graph
        .edges
        .iter()
        .filter_map(|e| Some((*index.get(e.from.node()?)?, *index.get(e.to.node()?)?)))
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (a.min(b), a.max(b)))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// The layout input of `graph`, with a cluster per group of inlined nodes.
pub fn layout_graph(graph: &Graph) -> Result<LayoutGraph, LayoutError> {
    let ids: Vec<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
    let layout = LayoutGraph::new(graph.nodes.len(), &edge_pairs(graph))?;
    if ids.iter().any(|id| id.contains('/')) {
        return layout.with_clusters(ClusterTree::from_paths(&ids));
    }
    Ok(layout)
}

/// The scene input of `graph` at `positions` (one per node). Notes are comments, not part of the
/// flow: they are left out of the picture (and of the camera's framing).
pub fn scene_input(graph: &Graph, positions: Vec<[f32; 3]>) -> SceneInput {
    let keep: Vec<usize> = (0..graph.nodes.len())
        .filter(|&i| graph.nodes[i].kind != NodeKind::Note)
        .collect();
    if keep.len() == graph.nodes.len() || keep.is_empty() || positions.len() != graph.nodes.len() {
        return scene_input_all(graph, positions);
    }
    let shown = Graph {
        groups: graph.groups.clone(),
        nodes: keep.iter().map(|&i| graph.nodes[i].clone()).collect(),
        edges: graph.edges.clone(),
        ui: None,
    };
    scene_input_all(&shown, keep.iter().map(|&i| positions[i]).collect())
}

fn scene_input_all(graph: &Graph, positions: Vec<[f32; 3]>) -> SceneInput {
    let pairs = edge_pairs(graph);
    let ids: Vec<&str> = graph.nodes.iter().map(|n| n.id.as_str()).collect();
    let clusters = ClusterTree::from_paths(&ids);
    let mut degree = vec![0u32; graph.nodes.len()];
    for &(a, b) in &pairs {
        degree[a] += 1;
        degree[b] += 1;
    }
    let nodes = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| SceneNode {
            kind: style(&n.kind),
            degree: degree[i],
            cluster: clusters.cluster_of(i).map(|c| c as u32),
            label: Some(n.label.clone().unwrap_or_else(|| n.id.clone())),
        })
        .collect();
    SceneInput {
        positions,
        nodes,
        edges: pairs
            .into_iter()
            .map(|(a, b)| [a as u32, b as u32])
            .collect(),
    }
}

fn style(kind: &NodeKind) -> NodeStyleKind {
    NodeStyleKind::from_name(kind.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_become_layout_and_scene_inputs() {
        let g = Graph::from_json(
            r#"{"schema":1,"groups":[{"id":"b","agent":{"id":"bot"}}],"nodes":[
            {"id":"a","kind":"input","outputs":[{"name":"v"}]},
            {"id":"b/x","kind":"agent","inputs":[{"name":"i"}],"outputs":[{"name":"o"}]},
            {"id":"c","kind":"output","inputs":[{"name":"v"}]}],
            "edges":[{"from":"a.v","to":"b/x.i"},{"from":"a.v","to":"b/x.i"},{"from":"b/x.o","to":"c.v"},{"from":"ghost.o","to":"c.v"}]}"#,
        )
        .unwrap();
        assert_eq!(edge_pairs(&g), [(0, 1), (1, 2)]);
        let layout = layout_graph(&g).unwrap();
        assert_eq!((layout.node_count(), layout.edge_count()), (3, 2));
        assert_eq!(layout.clusters().unwrap().cluster_of(1), Some(0));
        let scene = scene_input(&g, vec![[0.0; 3]; 3]);
        assert_eq!(scene.nodes[1].degree, 2);
        assert_eq!(scene.nodes[1].cluster, Some(0));
        assert_eq!(scene.nodes[0].kind, NodeStyleKind::Input);
    }
}

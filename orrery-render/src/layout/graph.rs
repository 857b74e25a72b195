//! The graph the layout works on: `n` nodes numbered `0..n`, undirected simple edges stored as
//! compressed adjacency lists, and an optional [`ClusterTree`] of nested clusters.

use std::collections::BTreeMap;

use crate::layout::LayoutError;

/// The most nodes a layout graph may have; far beyond what fits in memory on purpose, so that a
/// typo such as `0 999999999999` is an error rather than an allocation failure.
pub const MAX_NODES: usize = 100_000_000;

/// An undirected simple graph for layout: nodes `0..n`, edges as index pairs and, optionally, a
/// hierarchy of nested clusters (the flattened custom agents of a workflow).
///
/// Invariants: at least one node; no self-loops and no duplicate edges (both are dropped on
/// construction); every edge index below `n`; the cluster tree, when present, covers `n` nodes.
#[derive(Clone, Debug)]
pub struct LayoutGraph {
    /// Each edge once, `(a, b)` with `a < b`, sorted.
    edges: Vec<[u32; 2]>,
    /// Compressed adjacency: the neighbours of `v` are `neighbours[offsets[v]..offsets[v + 1]]`,
    /// sorted ascending.
    offsets: Vec<u32>,
    neighbours: Vec<u32>,
    clusters: Option<ClusterTree>,
}

/// A forest of nested clusters over the nodes of a graph: each node may belong to one innermost
/// cluster, and each cluster may have a parent cluster.
///
/// Invariant: cluster parents form a forest (no cycles), and every index is in range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterTree {
    node_cluster: Vec<Option<u32>>,
    parent: Vec<Option<u32>>,
    names: Vec<String>,
}

impl LayoutGraph {
    /// Builds a graph of `n` nodes from edges given as node index pairs. Self-loops and repeated
    /// edges (in either direction) are dropped.
    pub fn new(n: usize, edges: &[(usize, usize)]) -> Result<LayoutGraph, LayoutError> {
        if n == 0 {
            return Err(LayoutError::EmptyGraph);
        }
        if n > MAX_NODES {
            return Err(LayoutError::TooManyNodes {
                nodes: n,
                max: MAX_NODES,
            });
        }
        let mut canonical = Vec::with_capacity(edges.len());
        for (index, &(a, b)) in edges.iter().enumerate() {
            for id in [a, b] {
                if id >= n {
                    return Err(LayoutError::EdgeOutOfRange {
                        edge: index,
                        id,
                        nodes: n,
                    });
                }
            }
            if a != b {
                canonical.push([a.min(b) as u32, a.max(b) as u32]);
            }
        }
        Ok(LayoutGraph::from_canonical(n, canonical))
    }

    /// Builds a graph from edges already range-checked; sorts and deduplicates them.
    pub(crate) fn from_canonical(n: usize, mut edges: Vec<[u32; 2]>) -> LayoutGraph {
        edges.sort_unstable();
        edges.dedup();
        let mut degree = vec![0u32; n + 1];
        for &[a, b] in &edges {
            degree[a as usize] += 1;
            degree[b as usize] += 1;
        }
        let mut offsets = Vec::with_capacity(n + 1);
        let mut total = 0u32;
        for &d in &degree[..n] {
            offsets.push(total);
            total += d;
        }
        offsets.push(total);
        let mut fill = offsets.clone();
        let mut neighbours = vec![0u32; total as usize];
        // Edges are sorted by (a, b), so each list fills in ascending order: for `a` the
        // neighbours `b` come sorted, and for `b` the smaller ends `a` also arrive ascending.
        // The two streams interleave, so sort each list once at the end.
        for &[a, b] in &edges {
            neighbours[fill[a as usize] as usize] = b;
            fill[a as usize] += 1;
            neighbours[fill[b as usize] as usize] = a;
            fill[b as usize] += 1;
        }
        for v in 0..n {
            neighbours[offsets[v] as usize..offsets[v + 1] as usize].sort_unstable();
        }
        LayoutGraph {
            edges,
            offsets,
            neighbours,
            clusters: None,
        }
    }

    /// Attaches a cluster tree; it must cover exactly this graph's nodes.
    pub fn with_clusters(mut self, clusters: ClusterTree) -> Result<LayoutGraph, LayoutError> {
        if clusters.node_cluster.len() != self.node_count() {
            return Err(LayoutError::ClusterNodeCount {
                expected: self.node_count(),
                found: clusters.node_cluster.len(),
            });
        }
        self.clusters = Some(clusters);
        Ok(self)
    }

    /// The number of nodes.
    pub fn node_count(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The number of distinct undirected edges.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Each edge once as `[a, b]` with `a < b`, in ascending order.
    pub fn edges(&self) -> &[[u32; 2]] {
        &self.edges
    }

    /// The neighbours of `v`, ascending.
    pub fn neighbours(&self, v: usize) -> &[u32] {
        &self.neighbours[self.offsets[v] as usize..self.offsets[v + 1] as usize]
    }

    /// The number of neighbours of `v`.
    pub fn degree(&self, v: usize) -> usize {
        (self.offsets[v + 1] - self.offsets[v]) as usize
    }

    /// The cluster tree, if one was attached.
    pub fn clusters(&self) -> Option<&ClusterTree> {
        self.clusters.as_ref()
    }
}

impl ClusterTree {
    /// Builds a cluster tree from each node's innermost cluster (or `None`) and each cluster's
    /// parent (or `None` for a top-level cluster).
    pub fn new(
        node_cluster: &[Option<usize>],
        parent: &[Option<usize>],
    ) -> Result<ClusterTree, LayoutError> {
        let clusters = parent.len();
        let in_range = |c: usize| -> Result<u32, LayoutError> {
            if c < clusters {
                Ok(c as u32)
            } else {
                Err(LayoutError::ClusterOutOfRange {
                    cluster: c,
                    clusters,
                })
            }
        };
        let node_cluster = node_cluster
            .iter()
            .map(|c| c.map(in_range).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        let parent = parent
            .iter()
            .map(|c| c.map(in_range).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        // A parent chain longer than the number of clusters must revisit one: a cycle.
        for start in 0..clusters {
            let mut at = start;
            let mut steps = 0;
            while let Some(p) = parent[at] {
                at = p as usize;
                steps += 1;
                if steps > clusters {
                    return Err(LayoutError::ClusterCycle { cluster: start });
                }
            }
        }
        Ok(ClusterTree {
            node_cluster,
            parent,
            names: (0..clusters).map(|c| c.to_string()).collect(),
        })
    }

    /// Derives clusters from hierarchical node ids separated by `/`, as flattened custom agents
    /// produce them: `billing/classify` belongs to cluster `billing`, `billing/tax/rate` to
    /// `billing/tax`, whose parent is `billing`. Ids without `/` belong to no cluster. Clusters
    /// are numbered in order of first appearance.
    pub fn from_paths<S: AsRef<str>>(ids: &[S]) -> ClusterTree {
        let mut index: BTreeMap<String, u32> = BTreeMap::new();
        let mut names = Vec::new();
        let mut parent = Vec::new();
        let mut node_cluster = Vec::with_capacity(ids.len());
        for id in ids {
            let id = id.as_ref();
            let Some(cut) = id.rfind('/') else {
                node_cluster.push(None);
                continue;
            };
            node_cluster.push(Some(cluster_index(
                &id[..cut],
                &mut index,
                &mut names,
                &mut parent,
            )));
        }
        ClusterTree {
            node_cluster,
            parent,
            names,
        }
    }

    /// The number of clusters.
    pub fn cluster_count(&self) -> usize {
        self.parent.len()
    }

    /// The number of nodes the tree covers.
    pub fn node_count(&self) -> usize {
        self.node_cluster.len()
    }

    /// The innermost cluster of `node`, if any.
    pub fn cluster_of(&self, node: usize) -> Option<usize> {
        self.node_cluster[node].map(|c| c as usize)
    }

    /// The parent of `cluster`, if it is nested in another.
    pub fn parent(&self, cluster: usize) -> Option<usize> {
        self.parent[cluster].map(|c| c as usize)
    }

    /// The name of `cluster`: its path for trees built [`from_paths`](Self::from_paths), its
    /// index otherwise.
    pub fn name(&self, cluster: usize) -> &str {
        &self.names[cluster]
    }

    pub(crate) fn node_clusters(&self) -> &[Option<u32>] {
        &self.node_cluster
    }

    pub(crate) fn parents(&self) -> &[Option<u32>] {
        &self.parent
    }
}

/// The index of the cluster at `path`, creating it and its ancestors on first sight.
fn cluster_index(
    path: &str,
    index: &mut BTreeMap<String, u32>,
    names: &mut Vec<String>,
    parent: &mut Vec<Option<u32>>,
) -> u32 {
    if let Some(&c) = index.get(path) {
        return c;
    }
    let up = path
        .rfind('/')
        .map(|cut| cluster_index(&path[..cut], index, names, parent));
    let c = names.len() as u32;
    names.push(path.to_owned());
    parent.push(up);
    index.insert(path.to_owned(), c);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_loops_and_repeated_edges_are_dropped() {
        let g = LayoutGraph::new(3, &[(0, 1), (1, 0), (1, 1), (2, 1)]).unwrap();
        assert_eq!(g.edges(), &[[0, 1], [1, 2]]);
        assert_eq!(g.neighbours(1), &[0, 2]);
        assert_eq!(g.degree(0), 1);
    }

    #[test]
    fn clusters_from_paths_nest_by_slash() {
        let t = ClusterTree::from_paths(&["a", "b/x", "b/c/y", "b/z", "d/e/f"]);
        assert_eq!(t.cluster_count(), 4);
        let c = t.cluster_of(2).unwrap();
        assert_eq!(t.name(c), "b/c");
        assert_eq!(t.parent(c).map(|p| t.name(p)), Some("b"));
        assert_eq!(t.cluster_of(0), None);
        assert_eq!(t.cluster_of(1), t.cluster_of(3));
        let f = t.cluster_of(4).unwrap();
        assert_eq!(t.name(f), "d/e");
        assert_eq!(t.parent(f).map(|p| t.name(p)), Some("d"));
    }

    #[test]
    fn a_cluster_cycle_is_an_error() {
        let err = ClusterTree::new(&[Some(0)], &[Some(1), Some(0)]).unwrap_err();
        assert!(matches!(err, LayoutError::ClusterCycle { .. }), "{err}");
    }
}

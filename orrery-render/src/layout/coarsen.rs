//! Multilevel coarsening: merge nodes in pairs (and small groups) level after level until the
//! graph is small, so the layout can be found on the small graph and refined on the way back.
//!
//! A level is a weighted graph: a coarse node's mass is the number of original nodes it stands
//! for, and a coarse edge's weight the number of original edges it stands for. Nodes merge only
//! with nodes of the same cluster label, so a cluster collapses into a node of its own before it
//! merges with its surroundings: the coarse layouts place whole clusters, and the finer ones only
//! arrange their insides.

use crate::layout::rng;

/// The label of a node outside every cluster.
pub(crate) const NO_LABEL: u32 = u32::MAX;

/// One level of the hierarchy: a weighted graph in compressed adjacency form.
#[derive(Clone, Debug, Default)]
pub(crate) struct Level {
    pub(crate) offsets: Vec<u32>,
    pub(crate) adj: Vec<u32>,
    /// Edge weight, parallel to `adj`.
    pub(crate) weight: Vec<f32>,
    pub(crate) mass: Vec<f32>,
    /// Innermost cluster still open at this level, or [`NO_LABEL`].
    pub(crate) label: Vec<u32>,
}

/// The hierarchy: `levels[0]` is the input, each `maps[l][v]` the node of `levels[l + 1]` that
/// node `v` of `levels[l]` merged into.
#[derive(Debug)]
pub(crate) struct Hierarchy {
    pub(crate) levels: Vec<Level>,
    pub(crate) maps: Vec<Vec<u32>>,
}

impl Level {
    /// Builds a level from each edge once, `(a, b, weight)`, sorted by `(a, b)` without repeats.
    pub(crate) fn from_edges(
        n: usize,
        edges: &[(u32, u32, f32)],
        mass: Vec<f32>,
        label: Vec<u32>,
    ) -> Level {
        let mut offsets = vec![0u32; n + 1];
        for &(a, b, _) in edges {
            offsets[a as usize + 1] += 1;
            offsets[b as usize + 1] += 1;
        }
        for v in 0..n {
            offsets[v + 1] += offsets[v];
        }
        let mut fill = offsets.clone();
        let mut adj = vec![0u32; offsets[n] as usize];
        let mut weight = vec![0f32; offsets[n] as usize];
        // Sorted input fills each list in ascending order: the smaller ends `a` reach `b`'s
        // list in order before any larger neighbour `b' > b` does, since those edges
        // `(b, b')` sort after every `(a, b)` with `a < b`.
        for &(a, b, w) in edges {
            for (from, to) in [(a, b), (b, a)] {
                let slot = fill[from as usize] as usize;
                adj[slot] = to;
                weight[slot] = w;
                fill[from as usize] += 1;
            }
        }
        Level {
            offsets,
            adj,
            weight,
            mass,
            label,
        }
    }

    pub(crate) fn node_count(&self) -> usize {
        self.mass.len()
    }

    /// The neighbours of `v` with the weights of the edges to them.
    pub(crate) fn neighbours(&self, v: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        let range = self.offsets[v] as usize..self.offsets[v + 1] as usize;
        self.adj[range.clone()]
            .iter()
            .zip(&self.weight[range])
            .map(|(&u, &w)| (u as usize, w))
    }

    fn degree(&self, v: usize) -> usize {
        (self.offsets[v + 1] - self.offsets[v]) as usize
    }
}

/// Coarsens `fine` until it has at most `target` nodes or stops shrinking. `cluster_parent`
/// gives each cluster label's parent label (or [`NO_LABEL`]); labels are lifted to their parents,
/// deepest first, whenever merging within labels stops paying.
pub(crate) fn coarsen(fine: Level, cluster_parent: &[u32], target: usize, seed: u64) -> Hierarchy {
    let depth = label_depths(cluster_parent);
    let mut levels = vec![fine];
    let mut maps = Vec::new();
    loop {
        let level = levels.last().expect("the input level is always present");
        let n = level.node_count();
        if n <= target {
            break;
        }
        let (map, groups) = group_nodes(level, seed, levels.len() as u64);
        if groups as f64 > 0.8 * n as f64 {
            // Merging within clusters has stalled: open the deepest clusters to their parents.
            let deepest = level
                .label
                .iter()
                .filter(|&&l| l != NO_LABEL)
                .map(|&l| depth[l as usize])
                .max();
            if let Some(deepest) = deepest {
                let lifted = level
                    .label
                    .iter()
                    .map(|&l| {
                        if l != NO_LABEL && depth[l as usize] == deepest {
                            cluster_parent[l as usize]
                        } else {
                            l
                        }
                    })
                    .collect();
                let last = levels
                    .last_mut()
                    .expect("the input level is always present");
                last.label = lifted;
                continue;
            }
            if groups == n {
                break;
            }
        }
        let coarse = contract(level, &map, groups);
        let stalled = groups as f64 > 0.95 * n as f64;
        maps.push(map);
        levels.push(coarse);
        if stalled {
            break;
        }
    }
    Hierarchy { levels, maps }
}

/// Assigns each node a group: heavy-edge matching first, then nodes left over pair up through a
/// shared neighbour (the leaves of a star), then join a small neighbouring group.
fn group_nodes(level: &Level, seed: u64, stream: u64) -> (Vec<u32>, usize) {
    const NONE: u32 = u32::MAX;
    let n = level.node_count();
    let mut order: Vec<(usize, u64, u32)> = (0..n)
        .map(|v| (level.degree(v), rng::hash(seed, stream, v as u64), v as u32))
        .collect();
    order.sort_unstable();
    let order: Vec<usize> = order.into_iter().map(|(_, _, v)| v as usize).collect();
    let mut group = vec![NONE; n];
    let mut size: Vec<u32> = Vec::new();
    for &u in &order {
        if group[u] != NONE {
            continue;
        }
        let mut best: Option<(f32, usize)> = None;
        for (v, w) in level.neighbours(u) {
            if v == u || group[v] != NONE || level.label[v] != level.label[u] {
                continue;
            }
            let score = w / (level.mass[u] * level.mass[v]);
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, v));
            }
        }
        if let Some((_, v)) = best {
            group[u] = size.len() as u32;
            group[v] = size.len() as u32;
            size.push(2);
        }
    }
    // Leftovers sharing a neighbour pair up: `pending[h]` waits for a partner through `h`.
    let mut pending = vec![NONE; n];
    for &u in &order {
        if group[u] != NONE {
            continue;
        }
        for (h, _) in level.neighbours(u) {
            let w = pending[h];
            if w != NONE && group[w as usize] == NONE && level.label[w as usize] == level.label[u] {
                group[u] = size.len() as u32;
                group[w as usize] = size.len() as u32;
                size.push(2);
                pending[h] = NONE;
                break;
            }
        }
        if group[u] == NONE
            && let Some((h, _)) = level.neighbours(u).next()
        {
            pending[h] = u as u32;
        }
    }
    for &u in &order {
        if group[u] != NONE {
            continue;
        }
        let mut best: Option<(f32, u32)> = None;
        for (v, _) in level.neighbours(u) {
            let g = group[v];
            if g == NONE || size[g as usize] >= 3 || level.label[v] != level.label[u] {
                continue;
            }
            let s = size[g as usize] as f32;
            if best.is_none_or(|(b, _)| s < b) {
                best = Some((s, g));
            }
        }
        match best {
            Some((_, g)) => {
                group[u] = g;
                size[g as usize] += 1;
            }
            None => {
                group[u] = size.len() as u32;
                size.push(1);
            }
        }
    }
    // Number groups in order of their smallest member, so coarse node order follows fine order.
    let mut renumber = vec![NONE; size.len()];
    let mut next = 0u32;
    for g in group.iter_mut() {
        if renumber[*g as usize] == NONE {
            renumber[*g as usize] = next;
            next += 1;
        }
        *g = renumber[*g as usize];
    }
    (group, next as usize)
}

/// Builds the coarse level that `map` merges `level` into.
fn contract(level: &Level, map: &[u32], groups: usize) -> Level {
    let mut mass = vec![0f32; groups];
    let mut label = vec![NO_LABEL; groups];
    for (v, &g) in map.iter().enumerate() {
        mass[g as usize] += level.mass[v];
        label[g as usize] = level.label[v];
    }
    let mut edges: Vec<(u32, u32, f32)> = Vec::new();
    for u in 0..level.node_count() {
        for (v, w) in level.neighbours(u) {
            let (a, b) = (map[u], map[v]);
            if u < v && a != b {
                edges.push((a.min(b), a.max(b), w));
            }
        }
    }
    // A stable sort keeps the order in which repeated edges' weights are added fixed.
    edges.sort_by_key(|&(a, b, _)| (a, b));
    let mut merged: Vec<(u32, u32, f32)> = Vec::with_capacity(edges.len());
    for (a, b, w) in edges {
        match merged.last_mut() {
            Some(last) if last.0 == a && last.1 == b => last.2 += w,
            _ => merged.push((a, b, w)),
        }
    }
    Level::from_edges(groups, &merged, mass, label)
}

fn label_depths(parent: &[u32]) -> Vec<u32> {
    (0..parent.len())
        .map(|mut c| {
            let mut depth = 0;
            while parent[c] != NO_LABEL {
                c = parent[c] as usize;
                depth += 1;
            }
            depth
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(n: usize, labels: Vec<u32>) -> Level {
        let edges: Vec<_> = (0..n as u32 - 1).map(|i| (i, i + 1, 1.0)).collect();
        Level::from_edges(n, &edges, vec![1.0; n], labels)
    }

    #[test]
    fn a_path_halves_each_level_and_keeps_mass() {
        let h = coarsen(path(1000, vec![NO_LABEL; 1000]), &[], 10, 1);
        for pair in h.levels.windows(2) {
            let (fine, coarse) = (pair[0].node_count(), pair[1].node_count());
            assert!(coarse * 10 <= fine * 6, "{fine} -> {coarse}");
        }
        let last = h.levels.last().unwrap();
        assert!(last.node_count() <= 10);
        assert_eq!(last.mass.iter().sum::<f32>(), 1000.0);
    }

    #[test]
    fn nodes_merge_only_within_their_label_and_clusters_open_when_stuck() {
        // Runs of 10 nodes alternate between clusters 0 and 1, both children of cluster 2.
        let labels: Vec<u32> = (0..100).map(|i| ((i / 10) % 2) as u32).collect();
        let h = coarsen(path(100, labels.clone()), &[2, 2, NO_LABEL], 1, 1);
        for (l, map) in h.maps.iter().enumerate() {
            let level = &h.levels[l];
            for u in 0..level.node_count() {
                for v in 0..level.node_count() {
                    if map[u] == map[v] {
                        assert_eq!(level.label[u], level.label[v], "level {l}: {u} and {v}");
                    }
                }
            }
        }
        // The first merge happens inside the original clusters.
        for u in 0..100 {
            for v in 0..100 {
                if h.maps[0][u] == h.maps[0][v] {
                    assert_eq!(labels[u], labels[v]);
                }
            }
        }
        assert_eq!(h.levels.last().unwrap().node_count(), 1);
    }
}

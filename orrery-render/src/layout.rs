//! 3D force-directed layout: multilevel coarsening, Barnes-Hut repulsion, warm starts and
//! clusters. Start with [`force_directed`] on a [`LayoutGraph`] (built with
//! [`LayoutGraph::new`] or [`parse_edge_list`], clusters from [`ClusterTree::from_paths`]);
//! write the result with [`write_txt`] or [`write_json`].
//!
//! ```
//! use orrery_render::layout::{LayoutOptions, force_directed, parse_edge_list, write_txt};
//!
//! let graph = parse_edge_list("# nodes 4\n0 1\n1 2\n2 3\n")?;
//! let options = LayoutOptions { seed: 7, ..LayoutOptions::default() };
//! let positions = force_directed(&graph, &options)?;
//! let mut text = Vec::new();
//! write_txt(&mut text, &positions)?; // `x y z` per node, in id order
//! assert_eq!(String::from_utf8(text)?.lines().count(), 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! How it works, per connected component:
//! 1. `coarsen`: heavy-edge matching (plus pairing of a hub's leftover leaves) merges nodes
//!    level by level, only within a cluster until the cluster is one node, down to ~50 nodes.
//! 2. `pivot_mds`: breadth-first distances from 50 pivots give a global 3D embedding (Pivot
//!    MDS) of the finest level of at most 100,000 nodes, carried up to the coarsest level and
//!    scaled to the force model's equilibrium.
//! 3. `force`: from the coarsest level down, each level starts from the coarser positions and
//!    runs the spring-electrical model with inverse-square repulsion (the `octree`'s
//!    Barnes-Hut sums) and Hu's adaptive step, 30 iterations on the finest level by default
//!    (fewer, from a shorter step, on levels of over 100,000 nodes).
//!
//! Components are then packed side by side. A warm start (`warm`) skips the coarsening: nodes
//! with an initial position are held near it, new ones start beside their placed neighbours,
//! and only the finest level is refined (after a small edit of a large graph, only the nodes
//! around the new ones).
//!
//! Invariants: CPU only; the same graph, options and seed give the same bits on every run and any
//! number of threads (parallel work writes per-node slots; sums run in a fixed order).

mod coarsen;
mod edge_list;
mod force;
mod graph;
mod octree;
mod output;
mod pivot_mds;
mod rng;
mod warm;

use std::collections::VecDeque;

pub use edge_list::parse_edge_list;
pub use graph::{ClusterTree, LayoutGraph, MAX_NODES};
pub use output::{write_json, write_txt};

use crate::layout::coarsen::{Hierarchy, Level, NO_LABEL};
use crate::layout::force::{ClusterPull, Params, Workspace};

/// Everything building or laying out a graph can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// The graph has no nodes.
    #[error("the graph is empty: it has no nodes")]
    EmptyGraph,
    /// More nodes than [`MAX_NODES`].
    #[error("the graph has {nodes} nodes, more than the {max} a layout supports")]
    TooManyNodes {
        /// Nodes asked for.
        nodes: usize,
        /// The limit.
        max: usize,
    },
    /// An edge given to [`LayoutGraph::new`] names a node that does not exist.
    #[error("edge {edge} names node {id}, but the graph has only {nodes} nodes (ids 0 to {})", nodes - 1)]
    EdgeOutOfRange {
        /// Index of the edge in the input.
        edge: usize,
        /// The offending node id.
        id: usize,
        /// The number of nodes.
        nodes: usize,
    },
    /// A field of an edge list is not a node id.
    #[error("line {line}: `{field}` is not a node id (expected an integer from 0)")]
    InvalidId {
        /// 1-based line number.
        line: usize,
        /// The offending text.
        field: String,
    },
    /// An edge-list line has a source but no target.
    #[error("line {line}: expected `src dst`, found only one node id")]
    MissingTarget {
        /// 1-based line number.
        line: usize,
    },
    /// An edge-list line has more than two fields.
    #[error("line {line}: unexpected `{field}` after `src dst`")]
    ExtraField {
        /// 1-based line number.
        line: usize,
        /// The first extra field.
        field: String,
    },
    /// The `# nodes N` header does not give a count.
    #[error("line {line}: `# nodes` needs a node count, found `{field}`")]
    InvalidNodeCount {
        /// 1-based line number.
        line: usize,
        /// The offending text.
        field: String,
    },
    /// An edge-list id is not below the count declared by `# nodes N`.
    #[error(
        "line {line}: node id {id} is out of range: `# nodes {nodes}` allows ids below {nodes}"
    )]
    NodeOutOfRange {
        /// 1-based line number.
        line: usize,
        /// The offending id.
        id: usize,
        /// The declared node count.
        nodes: usize,
    },
    /// An edge-list id is too large for any graph the layout supports.
    #[error("line {line}: node id {id} is too large (a graph has at most {max} nodes)")]
    IdTooLarge {
        /// 1-based line number.
        line: usize,
        /// The offending id.
        id: usize,
        /// [`MAX_NODES`].
        max: usize,
    },
    /// A cluster index is out of range.
    #[error("cluster {cluster} does not exist: there are {clusters} clusters")]
    ClusterOutOfRange {
        /// The offending index.
        cluster: usize,
        /// The number of clusters.
        clusters: usize,
    },
    /// The cluster parents form a cycle.
    #[error("cluster {cluster} is its own ancestor")]
    ClusterCycle {
        /// A cluster on the cycle.
        cluster: usize,
    },
    /// A cluster tree was attached to a graph with a different number of nodes.
    #[error("the cluster tree covers {found} nodes, but the graph has {expected}")]
    ClusterNodeCount {
        /// Nodes in the graph.
        expected: usize,
        /// Nodes in the tree.
        found: usize,
    },
    /// More initial positions than nodes.
    #[error("{found} initial positions given for a graph of {nodes} nodes")]
    InitialLength {
        /// Nodes in the graph.
        nodes: usize,
        /// Positions given.
        found: usize,
    },
    /// An initial position is not finite.
    #[error("the initial position of node {node} is not finite")]
    InitialNotFinite {
        /// The node.
        node: usize,
    },
    /// A line of a positions file is not three numbers.
    #[error("line {line}: expected `x y z`, found `{text}`")]
    InvalidPosition {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
}

/// Options of [`force_directed`]. `Default` gives a cold start with seed 0.
#[derive(Clone, Debug, Default)]
pub struct LayoutOptions {
    /// Seeds every random choice; the same seed gives the same layout.
    pub seed: u64,
    /// Iterations on the finest level (coarser levels scale from it); `None` picks a number
    /// that converges for the graph's size.
    pub iterations: Option<usize>,
    /// Warm start: earlier positions of the first `initial.len()` nodes, `None` for a node
    /// without one (a new node). Empty for a cold start.
    pub initial: Vec<Option<[f32; 3]>>,
}

/// How far a layout has got, for a progress bar: `done` out of `total` units of work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Work done so far (node-iterations).
    pub done: u64,
    /// All the work planned; `done == total` once the layout is finished.
    pub total: u64,
}

/// Lays out `graph` in 3D; returns one position per node, in id order.
pub fn force_directed(
    graph: &LayoutGraph,
    options: &LayoutOptions,
) -> Result<Vec<[f32; 3]>, LayoutError> {
    force_directed_with_progress(graph, options, &|_| {})
}

/// [`force_directed`], reporting progress after every iteration on the calling thread.
pub fn force_directed_with_progress(
    graph: &LayoutGraph,
    options: &LayoutOptions,
    progress: &dyn Fn(Progress),
) -> Result<Vec<[f32; 3]>, LayoutError> {
    let n = graph.node_count();
    if options.initial.len() > n {
        return Err(LayoutError::InitialLength {
            nodes: n,
            found: options.initial.len(),
        });
    }
    for (node, p) in options.initial.iter().enumerate() {
        if p.is_some_and(|p| !p.iter().all(|v| v.is_finite())) {
            return Err(LayoutError::InitialNotFinite { node });
        }
    }
    let mut initial = options.initial.clone();
    initial.resize(n, None);
    let labels = Labels::of(graph);
    let components = components(graph);
    let warm = initial.iter().any(Option::is_some);
    let mut tracker = Tracker {
        done: 0,
        total: 0,
        report: progress,
    };
    let positions = if warm {
        warm::layout(graph, &labels, &components, &initial, options, &mut tracker)
    } else {
        cold_layout(graph, &labels, components, options, &mut tracker)
    };
    tracker.total = tracker.total.max(tracker.done);
    tracker.done = tracker.total;
    tracker.report();
    Ok(positions)
}

/// Reads positions written by [`write_txt`]: `x y z` per line; blank lines and `#` comments are
/// skipped.
pub fn parse_positions(text: &str) -> Result<Vec<[f32; 3]>, LayoutError> {
    let mut out = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let content = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
        if content.is_empty() {
            continue;
        }
        let invalid = || LayoutError::InvalidPosition {
            line: index + 1,
            text: content.to_owned(),
        };
        let mut p = [0.0f32; 3];
        let mut fields = content.split_whitespace();
        for v in &mut p {
            *v = fields
                .next()
                .and_then(|f| f.parse::<f32>().ok())
                .filter(|v| v.is_finite())
                .ok_or_else(invalid)?;
        }
        if fields.next().is_some() {
            return Err(invalid());
        }
        out.push(p);
    }
    Ok(out)
}

/// Natural edge length: the unit of every layout.
const K: f32 = 1.0;
/// Coarsening stops at this many nodes.
const COARSEST: usize = 50;
/// Default iterations on the finest level.
const FINE_ITERATIONS: usize = 30;
/// Barnes-Hut opening criterion: a cell counts as one mass when its radius is below `THETA`
/// times its distance from the leaf being computed. Generous: the layout needs the forces'
/// direction more than their last digits, and the benchmark metrics do not change up to 1.5.
const THETA: f32 = 1.5;
/// Initial step length on the coarsest level, which starts from a good global shape.
const COARSEST_STEP: f32 = 0.1;
/// A level stops once the step length falls below this fraction of `K`.
const TOLERANCE: f32 = 0.01;
/// How far apart (in `K`) the members of a group start on the finer level.
const JITTER: f32 = 0.1;
/// Work on fewer nodes than this stays on the calling thread: handing it to the thread pool
/// costs more than it saves.
const PARALLEL_FROM: usize = 2048;
/// How strongly a node is drawn to its cluster's centroid, relative to an edge.
const CLUSTER_PULL: f32 = 0.3;
/// Pivot MDS embeds the finest level with at most this many nodes. On a million nodes its
/// breadth-first searches and its n × 50 matrices took 2 to 6 s and 400 MB on level 0, and a
/// coarse level gives the same global shape, which is all the coarsest level takes from it.
const MDS_NODES: usize = 100_000;
/// Levels of more nodes than this run fewer iterations, by the square root of how much
/// larger they are, from a shorter first step: a million-node graph would otherwise spend
/// two thirds of its time on its two finest levels, which mostly polish what the coarser
/// levels placed. The short step lets those few iterations settle neighbourhoods rather than
/// shake them (at step `K`, neighbourhood preservation on the million-node workflow graph fell
/// from 0.57 to 0.49).
const LARGE_LEVEL: usize = 100_000;
/// First step length on levels over [`LARGE_LEVEL`] nodes.
const LARGE_STEP: f32 = 0.5;

/// Cluster labels for the force model and the coarsening.
struct Labels {
    /// Innermost cluster of each node, or [`NO_LABEL`].
    node: Vec<u32>,
    /// Parent of each cluster, or [`NO_LABEL`].
    parent: Vec<u32>,
}

impl Labels {
    fn of(graph: &LayoutGraph) -> Labels {
        let none = |c: &Option<u32>| c.unwrap_or(NO_LABEL);
        match graph.clusters() {
            Some(tree) => Labels {
                node: tree.node_clusters().iter().map(none).collect(),
                parent: tree.parents().iter().map(none).collect(),
            },
            None => Labels {
                node: vec![NO_LABEL; graph.node_count()],
                parent: Vec::new(),
            },
        }
    }

    fn any(&self) -> bool {
        self.node.iter().any(|&l| l != NO_LABEL)
    }
}

struct Tracker<'a> {
    done: u64,
    total: u64,
    report: &'a dyn Fn(Progress),
}

impl Tracker<'_> {
    fn report(&self) {
        (self.report)(Progress {
            done: self.done.min(self.total),
            total: self.total,
        });
    }
}

/// A connected component: its nodes ascending, and its level-0 graph in local indices.
struct Component {
    nodes: Vec<u32>,
    level: Level,
}

/// Splits the graph into connected components, largest first (ties: smallest node first).
fn components(graph: &LayoutGraph) -> Vec<Component> {
    let n = graph.node_count();
    const UNSEEN: u32 = u32::MAX;
    let mut comp = vec![UNSEEN; n];
    let mut lists: Vec<Vec<u32>> = Vec::new();
    let mut queue = VecDeque::new();
    for s in 0..n {
        if comp[s] != UNSEEN {
            continue;
        }
        let c = lists.len() as u32;
        comp[s] = c;
        queue.push_back(s as u32);
        let mut members = Vec::new();
        while let Some(v) = queue.pop_front() {
            members.push(v);
            for &u in graph.neighbours(v as usize) {
                if comp[u as usize] == UNSEEN {
                    comp[u as usize] = c;
                    queue.push_back(u);
                }
            }
        }
        members.sort_unstable();
        lists.push(members);
    }
    lists.sort_by_key(|m| std::cmp::Reverse(m.len()));
    let mut local = vec![0u32; n];
    lists
        .into_iter()
        .map(|nodes| {
            for (i, &v) in nodes.iter().enumerate() {
                local[v as usize] = i as u32;
            }
            let mut edges = Vec::new();
            for &v in &nodes {
                for &u in graph.neighbours(v as usize) {
                    if v < u {
                        edges.push((local[v as usize], local[u as usize], 1.0));
                    }
                }
            }
            // Nodes ascend, so local ids keep the global order and the edges come sorted.
            let m = nodes.len();
            let level = Level::from_edges(m, &edges, vec![1.0; m], Vec::new());
            Component { nodes, level }
        })
        .collect()
}

fn cold_layout(
    graph: &LayoutGraph,
    labels: &Labels,
    mut components: Vec<Component>,
    options: &LayoutOptions,
    tracker: &mut Tracker<'_>,
) -> Vec<[f32; 3]> {
    let fine_iterations = options.iterations.unwrap_or(FINE_ITERATIONS);
    let clustered = labels.any();
    // Each component's graph moves into its hierarchy as level 0: at a million nodes a copy
    // held beside it is about 40 MB of the peak.
    let mut hierarchies: Vec<Hierarchy> = components
        .iter_mut()
        .map(|c| {
            let mut level = std::mem::take(&mut c.level);
            level.label = c.nodes.iter().map(|&v| labels.node[v as usize]).collect();
            coarsen::coarsen(level, &labels.parent, COARSEST, options.seed)
        })
        .collect();
    let schedules: Vec<Vec<usize>> = hierarchies
        .iter()
        .map(|h| iteration_schedule(h, fine_iterations))
        .collect();
    tracker.total = hierarchies
        .iter()
        .zip(&schedules)
        .flat_map(|(h, s)| {
            h.levels
                .iter()
                .zip(s)
                .map(|(l, &it)| (l.node_count() * it) as u64)
        })
        .sum();
    tracker.report();
    let mut work = Workspace::default();
    let mut placed: Vec<Vec<[f32; 3]>> = Vec::with_capacity(components.len());
    for (index, (hierarchy, schedule)) in hierarchies.iter_mut().zip(&schedules).enumerate() {
        let fine_labels: Vec<u32> = components[index]
            .nodes
            .iter()
            .map(|&v| labels.node[v as usize])
            .collect();
        let pos = multilevel(
            hierarchy,
            schedule,
            clustered.then_some((fine_labels.as_slice(), labels.parent.as_slice())),
            options.seed ^ (index as u64).wrapping_mul(0x2545_f491_4f6c_dd1d),
            &mut work,
            tracker,
        );
        placed.push(pos);
    }
    let offsets = pack(&placed);
    let mut out = vec![[0.0f32; 3]; graph.node_count()];
    for ((component, pos), offset) in components.iter().zip(&placed).zip(&offsets) {
        for (&v, p) in component.nodes.iter().zip(pos) {
            out[v as usize] = [p[0] + offset[0], p[1] + offset[1], p[2] + offset[2]];
        }
    }
    out
}

/// The maximum iterations of each level: the finest gets `fine`, coarser (cheaper) levels more,
/// by the fourth root of how much smaller they are, up to twice as many; the coarsest (tiny)
/// up to 300. Levels over [`LARGE_LEVEL`] nodes get fewer, by the square root of how much
/// larger they are. (Roots, not `powf`: square roots round the same on every platform.)
fn iteration_schedule(h: &Hierarchy, fine: usize) -> Vec<usize> {
    let n0 = h.levels[0].node_count() as f64;
    let last = h.levels.len() - 1;
    h.levels
        .iter()
        .enumerate()
        .map(|(l, level)| {
            if l == last {
                return 300;
            }
            let n = level.node_count() as f64;
            let ratio = (n0 / n).sqrt().sqrt().min(2.0);
            let large = (LARGE_LEVEL as f64 / n).sqrt().min(1.0);
            (fine as f64 * ratio * large).round().max(1.0) as usize
        })
        .collect()
}

/// Lays out one connected component through its hierarchy; positions centred at the origin.
fn multilevel(
    hierarchy: &mut Hierarchy,
    schedule: &[usize],
    clusters: Option<(&[u32], &[u32])>,
    seed: u64,
    work: &mut Workspace,
    tracker: &mut Tracker<'_>,
) -> Vec<[f32; 3]> {
    let top = hierarchy.levels.len() - 1;
    let n0 = hierarchy.levels[0].node_count();
    if n0 == 1 {
        return vec![[0.0; 3]];
    }
    let mut pos = coarsest_start(hierarchy, seed, work);
    for l in (0..=top).rev() {
        // The finest level pulls hardest on the edges that are a node's only ties. Its weights
        // are replaced in place, the last use of the level: a weighted copy would hold the
        // whole graph twice at the peak.
        if l == 0 {
            hierarchy.levels[0].weight = force::tie_weights(&hierarchy.levels[0]);
        }
        let level = &hierarchy.levels[l];
        if l < top {
            // Each node starts where its group was, a little apart from its group mates.
            let coarse = &pos;
            pos = hierarchy.maps[l]
                .iter()
                .enumerate()
                .map(|(v, &g)| {
                    let c = coarse[g as usize];
                    let j = rng::cube_point(seed, l as u64, v as u64);
                    let r = JITTER * K;
                    [c[0] + j[0] * r, c[1] + j[1] * r, c[2] + j[2] * r]
                })
                .collect();
        }
        // Coarse nodes carry the innermost cluster still open at their level.
        let clusters = clusters.map(|(fine, parent)| ClusterPull {
            labels: if l == 0 { fine } else { level.label.as_slice() },
            parent,
            strength: CLUSTER_PULL,
        });
        let params = Params {
            k: K,
            theta: THETA,
            step: if l == top {
                COARSEST_STEP * K
            } else if level.node_count() > LARGE_LEVEL {
                LARGE_STEP * K
            } else {
                K
            },
            max_iterations: schedule[l],
            tolerance: TOLERANCE,
            clusters,
            anchors: None,
            force_floor: 0.0,
        };
        let before = tracker.done;
        force::refine(level, &mut pos, &params, work, &mut || {
            tracker.done += level.node_count() as u64;
            tracker.report();
        });
        tracker.done = before + (level.node_count() * schedule[l]) as u64;
    }
    centre(&mut pos);
    pos
}

/// Start positions for the coarsest level: the pivot MDS embedding of the finest level of at
/// most [`MDS_NODES`] nodes, carried up the hierarchy and scaled to the force model's
/// equilibrium size.
fn coarsest_start(hierarchy: &Hierarchy, seed: u64, work: &mut Workspace) -> Vec<[f32; 3]> {
    let levels = &hierarchy.levels;
    let top = levels.len() - 1;
    let from = levels
        .iter()
        .position(|l| l.node_count() <= MDS_NODES)
        .unwrap_or(top);
    let n0 = levels[from].node_count();
    let first = (rng::hash(seed, 99, 0) % n0 as u64) as usize;
    let mut pos = pivot_mds::embed(&levels[from], first);
    // Break the ties of nodes the pivots cannot tell apart (leaves of one parent).
    for (v, p) in pos.iter_mut().enumerate() {
        let j = rng::cube_point(seed, 98, v as u64);
        for k in 0..3 {
            p[k] += j[k] * 0.25;
        }
    }
    for (l, map) in hierarchy.maps.iter().enumerate().skip(from) {
        pos = restrict(&pos, map, &levels[l].mass, levels[l + 1].node_count());
    }
    let s = force::equilibrium_scale(&levels[top], &pos, K, THETA, work);
    for p in pos.iter_mut() {
        for v in p.iter_mut() {
            *v *= s;
        }
    }
    pos
}

/// Offsets that place each component's (centred) layout beside the others: shelves of rows
/// on the x-y plane, largest first.
fn pack(layouts: &[Vec<[f32; 3]>]) -> Vec<[f32; 3]> {
    let gap = 2.0 * K;
    let boxes: Vec<([f32; 3], [f32; 3])> = layouts.iter().map(|p| bounding_box(p)).collect();
    let total_area: f32 = boxes
        .iter()
        .map(|(lo, hi)| (hi[0] - lo[0] + gap) * (hi[1] - lo[1] + gap))
        .sum();
    let row_width = total_area
        .sqrt()
        .max(boxes.first().map_or(0.0, |(lo, hi)| hi[0] - lo[0]));
    let mut offsets = Vec::with_capacity(layouts.len());
    let (mut x, mut y, mut row_height) = (0.0f32, 0.0f32, 0.0f32);
    for (lo, hi) in &boxes {
        let (w, h) = (hi[0] - lo[0], hi[1] - lo[1]);
        if x > 0.0 && x + w > row_width {
            x = 0.0;
            y += row_height + gap;
            row_height = 0.0;
        }
        offsets.push([x - lo[0], y - lo[1], -(lo[2] + hi[2]) / 2.0]);
        x += w + gap;
        row_height = row_height.max(h);
    }
    offsets
}

fn bounding_box(pos: &[[f32; 3]]) -> ([f32; 3], [f32; 3]) {
    if pos.is_empty() {
        return ([0.0; 3], [0.0; 3]);
    }
    let mut lo = [f32::INFINITY; 3];
    let mut hi = [f32::NEG_INFINITY; 3];
    for p in pos {
        for k in 0..3 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    (lo, hi)
}

fn centre(pos: &mut [[f32; 3]]) {
    let mut sum = [0.0f64; 3];
    for p in pos.iter() {
        for k in 0..3 {
            sum[k] += p[k] as f64;
        }
    }
    let n = pos.len().max(1) as f64;
    let c = [
        (sum[0] / n) as f32,
        (sum[1] / n) as f32,
        (sum[2] / n) as f32,
    ];
    for p in pos.iter_mut() {
        for k in 0..3 {
            p[k] -= c[k];
        }
    }
}

/// Positions of a coarser level: the mass-weighted centroid of each group's members.
fn restrict(pos: &[[f32; 3]], map: &[u32], mass: &[f32], groups: usize) -> Vec<[f32; 3]> {
    let mut sum = vec![[0.0f64; 4]; groups];
    for ((p, &g), &m) in pos.iter().zip(map).zip(mass) {
        let s = &mut sum[g as usize];
        let m = m as f64;
        for k in 0..3 {
            s[k] += m * p[k] as f64;
        }
        s[3] += m;
    }
    sum.iter()
        .map(|s| {
            let m = s[3].max(f64::MIN_POSITIVE);
            [(s[0] / m) as f32, (s[1] / m) as f32, (s[2] / m) as f32]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hierarchy(sizes: &[usize]) -> Hierarchy {
        let levels = sizes
            .iter()
            .map(|&n| Level::from_edges(n, &[], vec![1.0; n], Vec::new()))
            .collect();
        Hierarchy {
            levels,
            maps: Vec::new(),
        }
    }

    #[test]
    fn levels_over_a_hundred_thousand_nodes_run_fewer_iterations() {
        let small = iteration_schedule(&hierarchy(&[100_000, 50_000, 50]), 30);
        assert_eq!(small, [30, 36, 300]);
        let large = iteration_schedule(&hierarchy(&[1_000_000, 400_000, 100_000, 50]), 30);
        assert_eq!(large, [9, 19, 53, 300]);
    }
}

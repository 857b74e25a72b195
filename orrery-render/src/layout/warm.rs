//! Warm start: lay a graph out again after an edit, so that what changed moves and the rest
//! stays where the reader last saw it.
//!
//! Nodes with an initial position are held near it by an anchor spring, weaker within a few hops
//! of a new node so the neighbourhood can make room. New nodes start at the mean of their placed
//! neighbours (a breadth-first front at a time); components with no placed node are laid out
//! from scratch and set beside the rest. Only the finest level is refined, with short steps;
//! when the new nodes and the rings around them are a small part of a large graph, only they
//! are (`refine_locally`), and the rest stays exactly where it was.
//! Positions come back in the caller's scale: the refinement runs on a copy scaled to the force
//! model's equilibrium and is scaled back.

use rayon::prelude::*;

use crate::layout::coarsen::{self, Level};
use crate::layout::force::{self, ClusterPull, Params, Workspace};
use crate::layout::octree::{Kernel, Octree};
use crate::layout::{
    CLUSTER_PULL, COARSEST, Component, FINE_ITERATIONS, K, Labels, LayoutGraph, LayoutOptions,
    PARALLEL_FROM, THETA, TOLERANCE, Tracker, bounding_box, iteration_schedule, multilevel, pack,
    rng,
};

/// Strength of the anchor spring of a node far from any new node.
const ANCHOR: f32 = 2.0;
/// Nodes within this many hops of a new node have weaker anchors (`hops / REACH` of it).
const REACH: u32 = 3;
/// Initial step length, in `K`: short, since the layout is already there.
const STEP: f32 = 0.1;
/// Net forces below this size move a node less than the full step, so that a settled layout
/// stays settled.
const FORCE_FLOOR: f32 = force::REPULSION * K;
/// Graphs of at least this many nodes are refined only around what changed, when that is at
/// most `1 / LOCAL_SHARE` of them; smaller ones are refined whole, which costs little.
const LOCAL_FROM: usize = 2048;
/// See [`LOCAL_FROM`].
const LOCAL_SHARE: usize = 8;

/// Lays out `graph` from `initial` positions (`None` for new nodes; at least one is `Some`).
pub(crate) fn layout(
    graph: &LayoutGraph,
    labels: &Labels,
    components: &[Component],
    initial: &[Option<[f32; 3]>],
    options: &LayoutOptions,
    tracker: &mut Tracker<'_>,
) -> Vec<[f32; 3]> {
    let n = graph.node_count();
    let level = force::with_tie_weights(&Level::from_edges(
        n,
        &graph
            .edges()
            .iter()
            .map(|&[a, b]| (a, b, 1.0))
            .collect::<Vec<_>>(),
        vec![1.0; n],
        labels.node.clone(),
    ));
    let mut work = Workspace::default();
    let mut pos = place_new_nodes(graph, initial, options.seed);
    // The scale at which the placed part is in balance; `1` for a layout of ours.
    let placed: Vec<usize> = (0..n).filter(|&v| pos[v].is_some()).collect();
    let scale = {
        let mut local = vec![u32::MAX; n];
        for (i, &v) in placed.iter().enumerate() {
            local[v] = i as u32;
        }
        let mut edges = Vec::new();
        for (i, &v) in placed.iter().enumerate() {
            for (u, w) in level.neighbours(v) {
                let j = local[u];
                if j != u32::MAX && (i as u32) < j {
                    edges.push((i as u32, j, w));
                }
            }
        }
        let sub = Level::from_edges(placed.len(), &edges, vec![1.0; placed.len()], Vec::new());
        let sub_pos: Vec<[f32; 3]> = placed.iter().map(|&v| pos[v].unwrap_or_default()).collect();
        force::equilibrium_scale(&sub, &sub_pos, K, THETA, &mut work)
    };
    place_orphans(labels, components, &mut pos, scale, options, tracker);
    // A thousandth of an edge of jitter: nodes given the same position (the members of an
    // expanded agent, all where the agent was) would otherwise never push each other apart.
    let mut pos: Vec<[f32; 3]> = pos
        .into_iter()
        .enumerate()
        .map(|(v, p)| {
            let j = rng::cube_point(options.seed, 8, v as u64);
            let p = p.unwrap_or_default();
            [0, 1, 2].map(|k| p[k] * scale + j[k] * 1e-3 * K)
        })
        .collect();
    let hops = hops_to_new(graph, initial);
    let anchors: Vec<([f32; 3], f32)> = initial
        .iter()
        .zip(&hops)
        .map(|(p, &h)| match p {
            Some(p) => (
                p.map(|v| v * scale),
                ANCHOR * h.min(REACH) as f32 / REACH as f32,
            ),
            None => ([0.0; 3], 0.0),
        })
        .collect();
    if let Some(active) = local_region(&hops) {
        let iterations = options.iterations.unwrap_or(FINE_ITERATIONS);
        refine_locally(&level, &mut pos, &active, &anchors, iterations, tracker);
        for p in pos.iter_mut() {
            for v in p.iter_mut() {
                *v /= scale;
            }
        }
        return pos;
    }
    let iterations = options.iterations.unwrap_or(FINE_ITERATIONS / 2);
    tracker.total = tracker.done + (n * iterations) as u64;
    let clusters = labels.any().then_some(ClusterPull {
        labels: &labels.node,
        parent: &labels.parent,
        strength: CLUSTER_PULL,
    });
    let params = Params {
        k: K,
        theta: THETA,
        step: STEP * K,
        max_iterations: iterations,
        tolerance: 0.01,
        clusters,
        anchors: Some(&anchors),
        force_floor: FORCE_FLOOR,
    };
    force::refine(&level, &mut pos, &params, &mut work, &mut || {
        tracker.done += n as u64;
        tracker.report();
    });
    for p in pos.iter_mut() {
        for v in p.iter_mut() {
            *v /= scale;
        }
    }
    pos
}

/// Gives each new node reachable from a placed one the mean of its placed neighbours plus a
/// little jitter, one breadth-first front at a time (each front sees only earlier ones).
fn place_new_nodes(
    graph: &LayoutGraph,
    initial: &[Option<[f32; 3]>],
    seed: u64,
) -> Vec<Option<[f32; 3]>> {
    let n = graph.node_count();
    let mut pos = initial.to_vec();
    let mut queued = vec![false; n];
    let mut front: Vec<usize> = Vec::new();
    for v in 0..n {
        if pos[v].is_none()
            && graph
                .neighbours(v)
                .iter()
                .any(|&u| pos[u as usize].is_some())
        {
            queued[v] = true;
            front.push(v);
        }
    }
    // The spread of the jitter: a tenth of the typical placed edge, in the caller's scale.
    let lengths: Vec<f32> = graph
        .edges()
        .iter()
        .filter_map(|&[a, b]| {
            Some(crate::layout::octree::dist(
                pos[a as usize]?,
                pos[b as usize]?,
            ))
        })
        .collect();
    let spread = if lengths.is_empty() {
        K
    } else {
        lengths.iter().sum::<f32>() / lengths.len() as f32
    };
    while !front.is_empty() {
        let placed: Vec<(usize, [f32; 3])> = front
            .iter()
            .map(|&v| {
                let mut sum = [0.0f64; 3];
                let mut count = 0.0;
                for &u in graph.neighbours(v) {
                    if let Some(p) = pos[u as usize] {
                        for k in 0..3 {
                            sum[k] += p[k] as f64;
                        }
                        count += 1.0;
                    }
                }
                let j = rng::cube_point(seed, 7, v as u64);
                let r = 0.3 * spread;
                (
                    v,
                    [
                        (sum[0] / count) as f32 + j[0] * r,
                        (sum[1] / count) as f32 + j[1] * r,
                        (sum[2] / count) as f32 + j[2] * r,
                    ],
                )
            })
            .collect();
        for &(v, p) in &placed {
            pos[v] = Some(p);
        }
        let mut next = Vec::new();
        for &(v, _) in &placed {
            for &u in graph.neighbours(v) {
                if pos[u as usize].is_none() && !queued[u as usize] {
                    queued[u as usize] = true;
                    next.push(u as usize);
                }
            }
        }
        next.sort_unstable();
        front = next;
    }
    pos
}

/// Lays out the components that have no placed node from scratch and sets them beside the
/// placed part (on its +x side), in the caller's scale.
fn place_orphans(
    labels: &Labels,
    components: &[Component],
    pos: &mut [Option<[f32; 3]>],
    scale: f32,
    options: &LayoutOptions,
    tracker: &mut Tracker<'_>,
) {
    let orphans: Vec<&Component> = components
        .iter()
        .filter(|c| pos[c.nodes[0] as usize].is_none())
        .collect();
    if orphans.is_empty() {
        return;
    }
    let mut work = Workspace::default();
    let fresh: Vec<Vec<[f32; 3]>> = orphans
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let mut level = c.level.clone();
            level.label = c.nodes.iter().map(|&v| labels.node[v as usize]).collect();
            let fine_labels = level.label.clone();
            let mut h = coarsen::coarsen(level, &labels.parent, COARSEST, options.seed);
            let schedule = iteration_schedule(&h, FINE_ITERATIONS);
            let laid = multilevel(
                &mut h,
                &schedule,
                labels
                    .any()
                    .then_some((fine_labels.as_slice(), labels.parent.as_slice())),
                options.seed ^ (index as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d),
                &mut work,
                tracker,
            );
            laid.into_iter().map(|p| p.map(|v| v / scale)).collect()
        })
        .collect();
    let placed: Vec<[f32; 3]> = pos.iter().flatten().copied().collect();
    let (lo, hi) = bounding_box(&placed);
    let offsets = pack(&fresh);
    let packed: Vec<[f32; 3]> = fresh
        .iter()
        .zip(&offsets)
        .flat_map(|(p, o)| {
            p.iter()
                .map(move |q| [q[0] + o[0], q[1] + o[1], q[2] + o[2]])
        })
        .collect();
    let (flo, fhi) = bounding_box(&packed);
    let gap = 2.0 * K / scale;
    let shift = [
        hi[0] + gap - flo[0],
        (lo[1] + hi[1] - flo[1] - fhi[1]) / 2.0,
        (lo[2] + hi[2] - flo[2] - fhi[2]) / 2.0,
    ];
    let mut at = 0;
    for c in &orphans {
        for &v in &c.nodes {
            let q = packed[at];
            pos[v as usize] = Some([q[0] + shift[0], q[1] + shift[1], q[2] + shift[2]]);
            at += 1;
        }
    }
    debug_assert_eq!(at, packed.len());
}

/// Hops from each node to the nearest node without an initial position (`u32::MAX` if none).
fn hops_to_new(graph: &LayoutGraph, initial: &[Option<[f32; 3]>]) -> Vec<u32> {
    let n = graph.node_count();
    let mut hops = vec![u32::MAX; n];
    let mut front: Vec<usize> = (0..n).filter(|&v| initial[v].is_none()).collect();
    for &v in &front {
        hops[v] = 0;
    }
    let mut depth = 0;
    while !front.is_empty() && depth < REACH {
        depth += 1;
        let mut next = Vec::new();
        for &v in &front {
            for &u in graph.neighbours(v) {
                if hops[u as usize] == u32::MAX {
                    hops[u as usize] = depth;
                    next.push(u as usize);
                }
            }
        }
        front = next;
    }
    hops
}

/// The nodes to refine when an edit is small next to the graph: the new nodes and the rings of
/// nodes around them up to the farthest ring (at most [`REACH`] hops) that keeps the region
/// within `1 / LOCAL_SHARE` of the graph. `None` when the graph should be refined whole.
fn local_region(hops: &[u32]) -> Option<Vec<usize>> {
    let n = hops.len();
    if n < LOCAL_FROM {
        return None;
    }
    let mut rings = [0usize; REACH as usize + 1];
    for &h in hops {
        if h <= REACH {
            rings[h as usize] += 1;
        }
    }
    let budget = n / LOCAL_SHARE;
    let mut reach = None;
    let mut count = 0;
    for (h, &size) in rings.iter().enumerate() {
        count += size;
        if count > budget {
            break;
        }
        reach = Some(h as u32);
    }
    let reach = reach?;
    Some((0..n).filter(|&v| hops[v] <= reach).collect())
}

/// Refines only the `active` nodes (ascending), the rest held where they are: the force model
/// of `force::refine` (springs, inverse-square repulsion, anchors; no cluster pull) with Hu's
/// adaptive step. The repulsion of the held nodes on an active one is taken once, at the start,
/// from a Barnes-Hut pass over all nodes; the active nodes' repulsion on each other is summed
/// afresh every iteration over a tree of their own. A step then costs in proportion to the
/// active nodes, not the graph.
fn refine_locally(
    level: &Level,
    pos: &mut [[f32; 3]],
    active: &[usize],
    anchors: &[([f32; 3], f32)],
    iterations: usize,
    tracker: &mut Tracker<'_>,
) {
    let n = pos.len();
    let m = active.len();
    tracker.total = tracker.done + (m * iterations) as u64 + n as u64;
    if m == 0 {
        return;
    }
    let kernel = Kernel {
        theta: THETA,
        softening: 1e-12 * K * K,
    };
    let rep = force::REPULSION * K * K * K;
    let mut tree = Octree::default();
    let mut sorted = Vec::new();
    // The repulsion of everything on each active node, less that of the active nodes.
    tree.build(pos, &level.mass);
    tree.repulsion(kernel, &mut sorted);
    let mut held = vec![[0.0f32; 3]; n];
    for (f, &i) in sorted.iter().zip(tree.order()) {
        held[i as usize] = *f;
    }
    tracker.done += n as u64;
    tracker.report();
    let mut slot = vec![u32::MAX; n];
    for (i, &v) in active.iter().enumerate() {
        slot[v] = i as u32;
    }
    let mut sub: Vec<[f32; 3]> = active.iter().map(|&v| pos[v]).collect();
    let ones = vec![1.0f32; m];
    let mut own = vec![[0.0f32; 3]; m];
    let mut repulse = |sub: &[[f32; 3]], own: &mut [[f32; 3]]| {
        tree.build(sub, &ones);
        tree.repulsion(kernel, &mut sorted);
        for (f, &i) in sorted.iter().zip(tree.order()) {
            own[i as usize] = *f;
        }
    };
    repulse(&sub, &mut own);
    let frozen: Vec<[f32; 3]> = active
        .iter()
        .zip(&own)
        .map(|(&v, o)| [0, 1, 2].map(|k| held[v][k] - o[k]))
        .collect();
    drop(held);
    let fixed: &[[f32; 3]] = pos;
    let mut force = vec![[0.0f32; 3]; m];
    let mut step = STEP * K;
    let mut energy_before = f64::INFINITY;
    let mut progress = 0;
    for _ in 0..iterations {
        repulse(&sub, &mut own);
        let now: &[[f32; 3]] = &sub;
        let node_force = |(i, f): (usize, &mut [f32; 3])| {
            let v = active[i];
            let p = now[i];
            let mut total = [0, 1, 2].map(|k| (frozen[i][k] + own[i][k]) * rep);
            for (u, w) in level.neighbours(v) {
                let q = match slot[u] {
                    u32::MAX => fixed[u],
                    j => now[j as usize],
                };
                let d = [q[0] - p[0], q[1] - p[1], q[2] - p[2]];
                let s = w * (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() / K;
                total = [0, 1, 2].map(|k| total[k] + d[k] * s);
            }
            let (a, strength) = anchors[v];
            if strength > 0.0 {
                let d = [a[0] - p[0], a[1] - p[1], a[2] - p[2]];
                let len = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                let s = strength * (1.0 + len / K);
                total = [0, 1, 2].map(|k| total[k] + d[k] * s);
            }
            *f = total;
        };
        let r#move = |(p, f): (&mut [f32; 3], &[f32; 3])| {
            let size = (f[0] * f[0] + f[1] * f[1] + f[2] * f[2]).sqrt();
            let scale = step / size.max(FORCE_FLOOR).max(f32::MIN_POSITIVE);
            for (x, v) in p.iter_mut().zip(f) {
                *x += v * scale;
            }
        };
        if m >= PARALLEL_FROM {
            force
                .par_iter_mut()
                .enumerate()
                .with_min_len(256)
                .for_each(node_force);
            sub.par_iter_mut()
                .zip(force.par_iter())
                .with_min_len(256)
                .for_each(r#move);
        } else {
            force.iter_mut().enumerate().for_each(node_force);
            sub.iter_mut().zip(force.iter()).for_each(r#move);
        }
        let energy: f64 = force
            .iter()
            .map(|f| (f[0] * f[0] + f[1] * f[1] + f[2] * f[2]) as f64)
            .sum();
        force::adapt_step(energy, &mut energy_before, &mut step, &mut progress);
        tracker.done += m as u64;
        tracker.report();
        if step < TOLERANCE * K {
            break;
        }
    }
    for (&v, p) in active.iter().zip(&sub) {
        pos[v] = *p;
    }
}

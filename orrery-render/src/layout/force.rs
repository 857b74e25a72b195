//! The force model and its iteration on one level: the spring-electrical model of Hu (2005) in
//! 3D, with Barnes-Hut repulsion and Hu's adaptive step length.
//!
//! Node `i` feels `w_ij d² / K` towards each neighbour `j` and `C K³ m_i m_j / d²` away from
//! every other node, where `m` are the masses of coarse nodes (1 on the finest level) and `w`
//! the weights of coarse edges. The repulsion is the inverse-square law of charges in 3D (Hu's
//! exponent `p = 2`): sfdp's 2D default `p = 1` crowds the middle of a 3D layout, which on
//! workflow graphs halves neighbourhood preservation. Optionally a node is also drawn towards
//! the centroid of its cluster and, in a warm start, towards where it was.
//!
//! Forces are computed for all nodes in parallel into per-node slots; every reduction runs
//! sequentially in node order, so the result is the same bits on any number of threads.

use rayon::prelude::*;

use crate::layout::PARALLEL_FROM;
use crate::layout::coarsen::{Level, NO_LABEL};
use crate::layout::octree::{Kernel, Octree};

/// Repulsion strength relative to attraction (Hu's `C`).
pub(crate) const REPULSION: f32 = 0.2;

/// Levels of at most this many nodes sum their repulsion pair by pair, without a tree.
const DIRECT_BELOW: usize = 64;

/// Enclosing clusters pull nodes farther than this many times their root-mean-square radius.
const STRAGGLER: f32 = 1.5;

/// Everything one level's refinement needs besides the positions.
#[derive(Debug)]
pub(crate) struct Params<'a> {
    pub(crate) k: f32,
    pub(crate) theta: f32,
    /// Initial step length.
    pub(crate) step: f32,
    pub(crate) max_iterations: usize,
    /// Stop once the step length falls below `tolerance * k`.
    pub(crate) tolerance: f32,
    pub(crate) clusters: Option<ClusterPull<'a>>,
    /// Warm start: where each node was, and how strongly it is held there (0: free).
    pub(crate) anchors: Option<&'a [([f32; 3], f32)]>,
    /// Forces below this size move a node proportionally less than the step length.
    pub(crate) force_floor: f32,
}

/// Each node's pull towards the centroid of its innermost cluster, like an edge to it
/// (`strength d² / K`), and towards the centroids of the clusters enclosing that one once it
/// strays beyond `STRAGGLER` times their root-mean-square radius (`strength (d - r)² / K`), so
/// that enclosing clusters keep their shape and only stragglers are pulled in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClusterPull<'a> {
    /// Innermost cluster of each node, or [`NO_LABEL`].
    pub(crate) labels: &'a [u32],
    /// Parent of each cluster, or [`NO_LABEL`].
    pub(crate) parent: &'a [u32],
    pub(crate) strength: f32,
}

/// Reusable buffers for [`refine`].
#[derive(Debug, Default)]
pub(crate) struct Workspace {
    tree: Octree,
    sorted: Vec<[f32; 3]>,
    force: Vec<[f32; 3]>,
}

/// Iterates the force model on `level` from `pos`, calling `tick` after each iteration; returns
/// the number of iterations run.
pub(crate) fn refine(
    level: &Level,
    pos: &mut [[f32; 3]],
    params: &Params<'_>,
    work: &mut Workspace,
    tick: &mut dyn FnMut(),
) -> usize {
    let n = level.node_count();
    if n <= 1 {
        return 0;
    }
    let k = params.k;
    let rep = REPULSION * k * k * k;
    let mut step = params.step;
    let mut energy_before = f64::INFINITY;
    let mut progress = 0;
    let mut centroids: Vec<([f32; 3], f32)> = Vec::new();
    for iteration in 0..params.max_iterations {
        work.force.resize(n, [0.0; 3]);
        if n <= DIRECT_BELOW {
            // A tree costs more than it saves on a handful of nodes (think of thousands of
            // two-node components).
            direct_repulsion(pos, &level.mass, 1e-12 * k * k, &mut work.force);
        } else {
            work.tree.build(pos, &level.mass);
            work.tree.repulsion(
                Kernel {
                    theta: params.theta,
                    softening: 1e-12 * k * k,
                },
                &mut work.sorted,
            );
            for (f, &i) in work.sorted.iter().zip(work.tree.order()) {
                work.force[i as usize] = *f;
            }
        }
        if let Some(clusters) = params.clusters {
            cluster_centroids(&clusters, &level.mass, pos, &mut centroids);
        }
        let pos_now: &[[f32; 3]] = pos;
        let centroids = &centroids;
        let node_force = |(i, f): (usize, &mut [f32; 3])| {
            let p = pos_now[i];
            let m = level.mass[i];
            let mut total = [f[0] * rep * m, f[1] * rep * m, f[2] * rep * m];
            for (j, w) in level.neighbours(i) {
                let q = pos_now[j];
                let d = [q[0] - p[0], q[1] - p[1], q[2] - p[2]];
                let len = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                let s = w * len / k;
                total = [
                    total[0] + d[0] * s,
                    total[1] + d[1] * s,
                    total[2] + d[2] * s,
                ];
            }
            if let Some(clusters) = params.clusters {
                let mut label = clusters.labels[i];
                // The innermost cluster pulls from its centre, enclosing ones only beyond
                // their usual spread.
                let mut inner = true;
                while label != NO_LABEL {
                    let (c, spread) = centroids[label as usize];
                    let d = [c[0] - p[0], c[1] - p[1], c[2] - p[2]];
                    let len = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                    let excess = if inner { len } else { len - STRAGGLER * spread };
                    if excess > 0.0 {
                        let s = clusters.strength * m * excess * excess / (k * len);
                        total = [
                            total[0] + d[0] * s,
                            total[1] + d[1] * s,
                            total[2] + d[2] * s,
                        ];
                    }
                    label = clusters.parent[label as usize];
                    inner = false;
                }
            }
            if let Some(anchors) = params.anchors {
                let (a, strength) = anchors[i];
                if strength > 0.0 {
                    let d = [a[0] - p[0], a[1] - p[1], a[2] - p[2]];
                    let len = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                    let s = strength * m * (1.0 + len / k);
                    total = [
                        total[0] + d[0] * s,
                        total[1] + d[1] * s,
                        total[2] + d[2] * s,
                    ];
                }
            }
            *f = total;
        };
        let floor = params.force_floor;
        let r#move = |(p, f): (&mut [f32; 3], &[f32; 3])| {
            let size = (f[0] * f[0] + f[1] * f[1] + f[2] * f[2]).sqrt();
            let scale = step / size.max(floor).max(f32::MIN_POSITIVE);
            for (x, v) in p.iter_mut().zip(f) {
                *x += v * scale;
            }
        };
        // Small levels stay on this thread: handing them out costs more than it saves.
        if n >= PARALLEL_FROM {
            work.force
                .par_iter_mut()
                .enumerate()
                .with_min_len(256)
                .for_each(node_force);
            pos.par_iter_mut()
                .zip(work.force.par_iter())
                .with_min_len(256)
                .for_each(r#move);
        } else {
            work.force.iter_mut().enumerate().for_each(node_force);
            pos.iter_mut().zip(work.force.iter()).for_each(r#move);
        }
        let forces = &work.force;
        let energy: f64 = forces
            .iter()
            .map(|f| (f[0] * f[0] + f[1] * f[1] + f[2] * f[2]) as f64)
            .sum();
        adapt_step(energy, &mut energy_before, &mut step, &mut progress);
        tick();
        if step < params.tolerance * k {
            return iteration + 1;
        }
    }
    params.max_iterations
}

/// A copy of a finest level whose edges weigh `(2 / min(deg u, deg v))^¾`. An edge is pulled
/// the harder the fewer ties its less connected end has: a leaf sits close to its hub, while
/// hubs, tied to each other by one edge among hundreds, keep their distance. This raises
/// neighbourhood preservation on every benchmark family (most on scale-free graphs, where it
/// is otherwise near random) for a few percent of stress on small ones. The weights are left
/// below one rather than normalised: the finest level then settles a little wider than the
/// coarser ones, which measured better on lattices.
pub(crate) fn with_tie_weights(level: &Level) -> Level {
    Level {
        weight: tie_weights(level),
        ..level.clone()
    }
}

/// The edge weights of [`with_tie_weights`], parallel to `level.adj`.
pub(crate) fn tie_weights(level: &Level) -> Vec<f32> {
    let degree = |v: usize| (level.offsets[v + 1] - level.offsets[v]).max(1) as f32;
    let mut weight = Vec::with_capacity(level.adj.len());
    for v in 0..level.node_count() {
        for (u, _) in level.neighbours(v) {
            // x^(3/4) from square roots, which round the same on every platform.
            let x = 2.0 / degree(v).min(degree(u));
            weight.push(x.sqrt() * x.sqrt().sqrt());
        }
    }
    weight
}

/// Hu's adaptive step: shrink when the energy rises, grow after five falls in a row.
pub(crate) fn adapt_step(energy: f64, energy_before: &mut f64, step: &mut f32, progress: &mut u32) {
    if energy < *energy_before {
        *progress += 1;
        if *progress >= 5 {
            *progress = 0;
            *step /= 0.9;
        }
    } else {
        *progress = 0;
        *step *= 0.9;
    }
    *energy_before = energy;
}

/// The exact repulsion sums `Σ_j m_j (p_i - p_j) / |p_i - p_j|³`, pair by pair.
fn direct_repulsion(pos: &[[f32; 3]], mass: &[f32], softening: f32, out: &mut [[f32; 3]]) {
    for (p, f) in pos.iter().zip(out.iter_mut()) {
        let mut sum = [0.0f32; 3];
        for (q, &m) in pos.iter().zip(mass) {
            let d = [p[0] - q[0], p[1] - q[1], p[2] - q[2]];
            let d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] + softening;
            let w = m / (d2 * d2.sqrt());
            for (s, v) in sum.iter_mut().zip(d) {
                *s += v * w;
            }
        }
        *f = sum;
    }
}

/// The mass-weighted centroid of each cluster, over its nodes and those of nested clusters, and
/// the root-mean-square distance of those nodes from it.
fn cluster_centroids(
    clusters: &ClusterPull<'_>,
    mass: &[f32],
    pos: &[[f32; 3]],
    out: &mut Vec<([f32; 3], f32)>,
) {
    let mut sum = vec![[0.0f64; 5]; clusters.parent.len()];
    for ((&label, &m), p) in clusters.labels.iter().zip(mass).zip(pos) {
        let mut label = label;
        let m = m as f64;
        let p = [p[0] as f64, p[1] as f64, p[2] as f64];
        while label != NO_LABEL {
            let s = &mut sum[label as usize];
            s[0] += m * p[0];
            s[1] += m * p[1];
            s[2] += m * p[2];
            s[3] += m * (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
            s[4] += m;
            label = clusters.parent[label as usize];
        }
    }
    out.clear();
    out.extend(sum.iter().map(|s| {
        if s[4] > 0.0 {
            let c = [s[0] / s[4], s[1] / s[4], s[2] / s[4]];
            let spread = (s[3] / s[4] - (c[0] * c[0] + c[1] * c[1] + c[2] * c[2])).max(0.0);
            (
                [c[0] as f32, c[1] as f32, c[2] as f32],
                spread.sqrt() as f32,
            )
        } else {
            ([0.0; 3], 0.0)
        }
    }));
}

/// The factor that scales `pos` to where the attraction and repulsion of `level` balance (the
/// virial theorem: scaled by `s`, the attraction's virial `Σ w d³ / K` grows as `s³` and the
/// repulsion's `Σ C K³ m m / d` shrinks as `1 / s`), with the repulsion from the octree.
/// Edges over four times the median length are left out, so that a few nodes moved far away do
/// not shrink everything else.
pub(crate) fn equilibrium_scale(
    level: &Level,
    pos: &[[f32; 3]],
    k: f32,
    theta: f32,
    work: &mut Workspace,
) -> f32 {
    // Edges much longer than usual (a node the caller moved far) would dominate the cubes:
    // those beyond four times the median length are left out.
    let mut lengths: Vec<(f32, f32)> = Vec::new();
    for i in 0..level.node_count() {
        for (j, w) in level.neighbours(i) {
            if i < j {
                lengths.push((crate::layout::octree::dist(pos[i], pos[j]), w));
            }
        }
    }
    let cap = if lengths.is_empty() {
        0.0
    } else {
        let mid = lengths.len() / 2;
        let mut sorted: Vec<f32> = lengths.iter().map(|&(d, _)| d).collect();
        sorted.select_nth_unstable_by(mid, f32::total_cmp);
        4.0 * sorted[mid] as f64
    };
    let attraction: f64 = lengths
        .iter()
        .filter(|&&(d, _)| d as f64 <= cap)
        .map(|&(d, w)| w as f64 * (d * d * d) as f64 / k as f64)
        .sum();
    work.tree.build(pos, &level.mass);
    work.tree.repulsion(
        Kernel {
            theta,
            softening: 1e-12 * k * k,
        },
        &mut work.sorted,
    );
    // Σ_i m_i p_i · Σ_j m_j (p_i - p_j) / d³ counts each pair once as m_i m_j / d.
    let mut repulsion = 0.0f64;
    for (f, &i) in work.sorted.iter().zip(work.tree.order()) {
        let p = pos[i as usize];
        let m = level.mass[i as usize] as f64;
        repulsion +=
            m * (p[0] as f64 * f[0] as f64 + p[1] as f64 * f[1] as f64 + p[2] as f64 * f[2] as f64);
    }
    repulsion *= REPULSION as f64 * (k * k * k) as f64;
    if !(attraction > 0.0 && repulsion > 0.0) {
        return 1.0;
    }
    (repulsion / attraction).sqrt().sqrt() as f32
}

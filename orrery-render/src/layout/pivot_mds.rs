//! Pivot MDS (Brandes and Pich, 2006): a global 3D embedding from breadth-first distances to a
//! few pivot nodes, in O(k (n + m)) time for k pivots.
//!
//! It gets the large-scale shape right (long chains stretched, lattices square), which is what
//! stress measures and what a force model, whose forces fade with distance, is slow to find. The
//! multilevel layout starts its coarsest level from it and lets the forces settle the details.

use std::collections::VecDeque;

use rayon::prelude::*;

use crate::layout::PARALLEL_FROM;
use crate::layout::coarsen::Level;

/// At most this many pivots.
const PIVOTS: usize = 50;
/// Rows per block of the parallel matrix product; fixed, so sums run in the same order on any
/// number of threads.
const BLOCK: usize = 4096;

/// Embeds a connected level in 3D; coordinates are roughly in hops (one unit per edge).
/// `first` is the first pivot; the rest are chosen farthest-first.
pub(crate) fn embed(level: &Level, first: usize) -> Vec<[f32; 3]> {
    let n = level.node_count();
    let k = PIVOTS.min(n);
    // Squared distances to each pivot, a column per pivot.
    let mut columns: Vec<Vec<f32>> = Vec::with_capacity(k);
    let mut nearest = vec![u32::MAX; n];
    let mut pivot = first;
    let mut dist = vec![u32::MAX; n];
    let mut queue = VecDeque::new();
    for _ in 0..k {
        bfs(level, pivot, &mut dist, &mut queue);
        for (d, &e) in nearest.iter_mut().zip(&dist) {
            *d = (*d).min(e);
        }
        columns.push(dist.iter().map(|&d| (d as f32) * (d as f32)).collect());
        // The next pivot is the node farthest from all pivots so far (lowest index on ties).
        let (far, &reach) = nearest
            .iter()
            .enumerate()
            .max_by_key(|&(i, &d)| (d, std::cmp::Reverse(i)))
            .expect("a level has nodes");
        if reach == 0 {
            break;
        }
        pivot = far;
    }
    let k = columns.len();
    // Double centring: c_ij = -1/2 (d²_ij - mean of row i - mean of column j + mean of all).
    let col_mean: Vec<f64> = columns
        .iter()
        .map(|c| c.iter().map(|&v| v as f64).sum::<f64>() / n as f64)
        .collect();
    let all_mean = col_mean.iter().sum::<f64>() / k as f64;
    let parallel = n >= PARALLEL_FROM;
    let mut c = vec![0f32; n * k];
    let centre = |(i, row): (usize, &mut [f32])| {
        let row_mean = columns.iter().map(|col| col[i] as f64).sum::<f64>() / k as f64;
        for (j, v) in row.iter_mut().enumerate() {
            *v = (-0.5 * (columns[j][i] as f64 - row_mean - col_mean[j] + all_mean)) as f32;
        }
    };
    if parallel {
        c.par_chunks_mut(k).enumerate().for_each(centre);
    } else {
        c.chunks_mut(k).enumerate().for_each(centre);
    }
    drop(columns);
    // The k×k matrix CᵀC, by blocks of rows summed in block order.
    let block_product = |block: &[f32]| {
        let mut m = vec![0f64; k * k];
        for row in block.chunks_exact(k) {
            for a in 0..k {
                let ra = row[a] as f64;
                for b in a..k {
                    m[a * k + b] += ra * row[b] as f64;
                }
            }
        }
        m
    };
    let partial: Vec<Vec<f64>> = if parallel {
        c.par_chunks(BLOCK * k).map(block_product).collect()
    } else {
        c.chunks(BLOCK * k).map(block_product).collect()
    };
    let mut ctc = vec![0f64; k * k];
    for m in &partial {
        for a in 0..k {
            for b in a..k {
                ctc[a * k + b] += m[a * k + b];
            }
        }
    }
    for a in 0..k {
        for b in 0..a {
            ctc[a * k + b] = ctc[b * k + a];
        }
    }
    let axes = top_eigenvectors(&ctc, k, 3);
    // With σ_i² the eigenvalues of CᵀC, x_i = C v_i (n / k)^¼ / √σ_i: the left singular
    // vectors of C, scaled as if the pivots were a uniform sample of the nodes (so distances
    // come out in hops).
    let spread = (n as f64 / k as f64).sqrt().sqrt();
    let mut pos = vec![[0f32; 3]; n];
    let project = |(i, p): (usize, &mut [f32; 3])| {
        let row = &c[i * k..(i + 1) * k];
        for (axis, (vector, value)) in axes.iter().enumerate() {
            let dot: f64 = row.iter().zip(vector).map(|(&r, &v)| r as f64 * v).sum();
            p[axis] = (dot * spread / value.sqrt().sqrt().max(1e-12)) as f32;
        }
    };
    if parallel {
        pos.par_iter_mut().enumerate().for_each(project);
    } else {
        pos.iter_mut().enumerate().for_each(project);
    }
    pos
}

/// Hop distances from `source` (unreachable: `u32::MAX`).
fn bfs(level: &Level, source: usize, dist: &mut [u32], queue: &mut VecDeque<u32>) {
    dist.fill(u32::MAX);
    dist[source] = 0;
    queue.clear();
    queue.push_back(source as u32);
    while let Some(v) = queue.pop_front() {
        let next = dist[v as usize] + 1;
        for (u, _) in level.neighbours(v as usize) {
            if dist[u] == u32::MAX {
                dist[u] = next;
                queue.push_back(u as u32);
            }
        }
    }
}

/// The `count` largest eigenpairs of the symmetric `k×k` matrix `m` (row-major), by power
/// iteration with deflation; eigenvalues are clamped at zero.
fn top_eigenvectors(m: &[f64], k: usize, count: usize) -> Vec<(Vec<f64>, f64)> {
    let mut found: Vec<(Vec<f64>, f64)> = Vec::with_capacity(count);
    for axis in 0..count {
        // A fixed, generic start vector.
        let mut v: Vec<f64> = (0..k)
            .map(|i| 1.0 + ((i * 7 + axis * 13) % 11) as f64 / 11.0)
            .collect();
        let mut value = 0.0;
        for _ in 0..300 {
            for (u, _) in &found {
                let dot: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
                for (x, y) in v.iter_mut().zip(u) {
                    *x -= dot * y;
                }
            }
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            for x in v.iter_mut() {
                *x /= norm;
            }
            let w: Vec<f64> = (0..k)
                .map(|a| (0..k).map(|b| m[a * k + b] * v[b]).sum())
                .collect();
            let next = w.iter().zip(&v).map(|(a, b)| a * b).sum::<f64>();
            v = w;
            if (next - value).abs() <= 1e-12 * next.abs() {
                value = next;
                break;
            }
            value = next;
        }
        for (u, _) in &found {
            let dot: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            for (x, y) in v.iter_mut().zip(u) {
                *x -= dot * y;
            }
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            for x in v.iter_mut() {
                *x /= norm;
            }
        }
        found.push((v, value.max(0.0)));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_embedded_along_a_line_in_order() {
        let n = 40;
        let edges: Vec<_> = (0..n as u32 - 1).map(|i| (i, i + 1, 1.0)).collect();
        let level = Level::from_edges(n, &edges, vec![1.0; n], vec![]);
        let pos = embed(&level, 0);
        // Consecutive nodes step the same way along the first axis, about one unit a hop.
        let sign = (pos[1][0] - pos[0][0]).signum();
        for w in pos.windows(2) {
            assert!((w[1][0] - w[0][0]) * sign > 0.0, "{pos:?}");
        }
        let length = (pos[n - 1][0] - pos[0][0]).abs();
        assert!((20.0..80.0).contains(&length), "{length}");
    }
}

//! Barnes-Hut octree for the repulsive forces: O(n log n) a step instead of O(n²).
//!
//! Points are sorted along a Morton (Z-order) curve, so every cell of the tree is a contiguous
//! range of the sorted points and the tree is stored in pre-order with skip links. Forces are
//! computed a leaf at a time: one walk of the tree per leaf gathers the cells far enough from the
//! whole leaf to be taken as one mass, and the points near enough to count one by one; then each
//! point of the leaf sums that list. Leaves run in parallel and write disjoint slots, and every
//! sum runs in a fixed order, so the result does not depend on the number of threads.

use rayon::prelude::*;

use crate::layout::PARALLEL_FROM;

/// At most this many points share a leaf.
const LEAF_SIZE: usize = 16;
/// Morton bits per axis; the tree is at most this deep.
const DEPTH: u32 = 21;

/// An octree over weighted points, rebuilt for every step.
#[derive(Debug, Default)]
pub(crate) struct Octree {
    /// Point indices in Morton order.
    order: Vec<u32>,
    /// Positions and masses in Morton order, as separate arrays so the inner loops vectorise.
    x: Vec<f32>,
    y: Vec<f32>,
    z: Vec<f32>,
    m: Vec<f32>,
    cells: Vec<Cell>,
    /// Leaf cells, in pre-order, which is also the order of their point ranges.
    leaves: Vec<u32>,
    keys: Vec<(u64, u32)>,
}

/// How [`Octree::repulsion`] trades accuracy for speed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Kernel {
    /// Barnes-Hut opening criterion: a cell counts as one mass when its radius is below
    /// `theta` times its distance from the leaf being computed (less the leaf's radius).
    pub(crate) theta: f32,
    /// Added to every squared distance (softening), so that coincident points do not push
    /// each other (their difference is zero) and near-coincident ones push finitely.
    pub(crate) softening: f32,
}

#[derive(Clone, Copy, Debug)]
struct Cell {
    /// Centre of mass.
    c: [f32; 3],
    mass: f32,
    /// Largest distance from the centre of mass to a point of the cell.
    radius: f32,
    /// The cell's points are `begin..end` in Morton order.
    begin: u32,
    end: u32,
    /// Index of the first cell after this one's subtree.
    skip: u32,
    leaf: bool,
}

/// SIMD width of the force sums.
const LANES: usize = 8;

/// The masses one leaf's points interact with (far cells and near points), gathered by one
/// walk of the tree; one per thread, reused.
#[derive(Default)]
struct Scratch {
    x: Vec<f32>,
    y: Vec<f32>,
    z: Vec<f32>,
    m: Vec<f32>,
}

impl Scratch {
    fn clear(&mut self) {
        self.x.clear();
        self.y.clear();
        self.z.clear();
        self.m.clear();
    }

    fn push(&mut self, c: [f32; 3], m: f32) {
        self.x.push(c[0]);
        self.y.push(c[1]);
        self.z.push(c[2]);
        self.m.push(m);
    }

    fn push_points(&mut self, tree: &Octree, cell: &Cell) {
        let range = cell.begin as usize..cell.end as usize;
        self.x.extend_from_slice(&tree.x[range.clone()]);
        self.y.extend_from_slice(&tree.y[range.clone()]);
        self.z.extend_from_slice(&tree.z[range.clone()]);
        self.m.extend_from_slice(&tree.m[range]);
    }
}

impl Octree {
    /// Rebuilds the tree over `pos` with masses `mass` (reusing allocations).
    pub(crate) fn build(&mut self, pos: &[[f32; 3]], mass: &[f32]) {
        let n = pos.len();
        let (lo, hi) = bounds(pos);
        let extent = (0..3).map(|k| hi[k] - lo[k]).fold(0.0f32, f32::max);
        let scale = if extent > 0.0 {
            ((1u32 << DEPTH) - 1) as f32 / extent
        } else {
            0.0
        };
        let key = |(i, p): (usize, &[f32; 3])| {
            let q = |k: usize| ((p[k] - lo[k]) * scale) as u64;
            (
                spread(q(0)) << 2 | spread(q(1)) << 1 | spread(q(2)),
                i as u32,
            )
        };
        self.keys.clear();
        // Keys are distinct (the index breaks ties), so the sorted order is unique.
        if n >= PARALLEL_FROM {
            self.keys.par_extend(pos.par_iter().enumerate().map(key));
            self.keys.par_sort_unstable();
        } else {
            self.keys.extend(pos.iter().enumerate().map(key));
            self.keys.sort_unstable();
        }
        self.order.clear();
        self.order.extend(self.keys.iter().map(|&(_, i)| i));
        self.x.clear();
        self.y.clear();
        self.z.clear();
        self.m.clear();
        for &i in &self.order {
            let p = pos[i as usize];
            self.x.push(p[0]);
            self.y.push(p[1]);
            self.z.push(p[2]);
            self.m.push(mass[i as usize]);
        }
        self.cells.clear();
        self.leaves.clear();
        if n > 0 {
            self.build_cell(0, n, 0);
        }
    }

    /// Point indices in the order [`repulsion`](Self::repulsion) reports their forces.
    pub(crate) fn order(&self) -> &[u32] {
        &self.order
    }

    /// The repulsion on every point in Morton order: the sum over other points `j` of
    /// `m_j (p - p_j) / |p - p_j|³` (an inverse-square force of size `m_j / d²`), with far
    /// cells taken as one mass.
    pub(crate) fn repulsion(&self, kernel: Kernel, out: &mut Vec<[f32; 3]>) {
        out.clear();
        out.resize(self.order.len(), [0.0; 3]);
        let mut slices = Vec::with_capacity(self.leaves.len());
        let mut rest: &mut [[f32; 3]] = out;
        for &leaf in &self.leaves {
            let cell = &self.cells[leaf as usize];
            let (head, tail) = rest.split_at_mut((cell.end - cell.begin) as usize);
            slices.push((leaf, head));
            rest = tail;
        }
        let leaf = |scratch: &mut Scratch, (leaf, forces): (u32, &mut [[f32; 3]])| {
            self.leaf_repulsion(leaf as usize, kernel, scratch, forces);
        };
        if self.order.len() >= PARALLEL_FROM {
            slices
                .into_par_iter()
                .with_min_len(8)
                .for_each_init(Scratch::default, leaf);
        } else {
            let mut scratch = Scratch::default();
            for item in slices {
                leaf(&mut scratch, item);
            }
        }
    }

    fn leaf_repulsion(
        &self,
        leaf: usize,
        kernel: Kernel,
        s: &mut Scratch,
        forces: &mut [[f32; 3]],
    ) {
        let me = self.cells[leaf];
        s.clear();
        let mut at = 0;
        while at < self.cells.len() {
            let cell = &self.cells[at];
            if cell.begin <= me.begin && me.end <= cell.end {
                // An ancestor of this leaf (or the leaf itself) contains its points: open it.
                if cell.leaf {
                    s.push_points(self, cell);
                    at = cell.skip as usize;
                } else {
                    at += 1;
                }
                continue;
            }
            let d = dist(cell.c, me.c);
            if (d - me.radius) * kernel.theta > cell.radius {
                s.push(cell.c, cell.mass);
                at = cell.skip as usize;
            } else if cell.leaf {
                s.push_points(self, cell);
                at = cell.skip as usize;
            } else {
                at += 1;
            }
        }
        // Pad to whole SIMD lanes with massless points, which add exact zeros.
        while !s.x.len().is_multiple_of(LANES) {
            s.push([0.0; 3], 0.0);
        }
        for (k, force) in forces.iter_mut().enumerate() {
            let i = me.begin as usize + k;
            let p = [self.x[i], self.y[i], self.z[i]];
            *force = sum(kernel.softening, p, s);
        }
    }

    /// Builds the cell for the sorted points `lo..hi`, whose Morton codes agree above `depth`.
    fn build_cell(&mut self, lo: usize, hi: usize, mut depth: u32) -> usize {
        let index = self.cells.len();
        self.cells.push(Cell {
            c: [0.0; 3],
            mass: 0.0,
            radius: 0.0,
            begin: lo as u32,
            end: hi as u32,
            skip: 0,
            leaf: true,
        });
        // Descend while every point falls in the same octant: such cells add nothing.
        while depth < DEPTH && hi - lo > LEAF_SIZE {
            let shift = 3 * (DEPTH - 1 - depth);
            if (self.keys[lo].0 >> shift) & 7 != (self.keys[hi - 1].0 >> shift) & 7 {
                break;
            }
            depth += 1;
        }
        if depth == DEPTH || hi - lo <= LEAF_SIZE {
            self.finish_leaf(index);
            return index;
        }
        let shift = 3 * (DEPTH - 1 - depth);
        let mut children = [0usize; 8];
        let mut count = 0;
        let mut start = lo;
        while start < hi {
            let octant = (self.keys[start].0 >> shift) & 7;
            let end =
                start + self.keys[start..hi].partition_point(|&(k, _)| (k >> shift) & 7 <= octant);
            children[count] = self.build_cell(start, end, depth + 1);
            count += 1;
            start = end;
        }
        let mut mass = 0.0f64;
        let mut c = [0.0f64; 3];
        for &child in &children[..count] {
            let cell = &self.cells[child];
            let m = cell.mass as f64;
            mass += m;
            for (sum, &v) in c.iter_mut().zip(&cell.c) {
                *sum += m * v as f64;
            }
        }
        let c = centre(c, mass);
        let radius = children[..count]
            .iter()
            .map(|&child| dist(c, self.cells[child].c) + self.cells[child].radius)
            .fold(0.0f32, f32::max);
        let skip = self.cells.len() as u32;
        let cell = &mut self.cells[index];
        cell.c = c;
        cell.mass = mass as f32;
        cell.radius = radius;
        cell.leaf = false;
        cell.skip = skip;
        index
    }

    fn finish_leaf(&mut self, index: usize) {
        let (lo, hi) = (
            self.cells[index].begin as usize,
            self.cells[index].end as usize,
        );
        let mut mass = 0.0f64;
        let mut c = [0.0f64; 3];
        for i in lo..hi {
            let m = self.m[i] as f64;
            mass += m;
            c[0] += m * self.x[i] as f64;
            c[1] += m * self.y[i] as f64;
            c[2] += m * self.z[i] as f64;
        }
        let c = centre(c, mass);
        let radius = (lo..hi)
            .map(|i| dist(c, [self.x[i], self.y[i], self.z[i]]))
            .fold(0.0f32, f32::max);
        let skip = self.cells.len() as u32;
        let cell = &mut self.cells[index];
        cell.c = c;
        cell.mass = mass as f32;
        cell.radius = radius;
        cell.skip = skip;
        self.leaves.push(index as u32);
    }
}

/// The sum of `m (p - q) / |p - q|³` over the gathered masses `m` at points `q`.
fn sum(softening: f32, p: [f32; 3], s: &Scratch) -> [f32; 3] {
    // Independent lanes, added up in a fixed order at the end: the compiler turns the lane
    // loop into SIMD instructions, which it may not do for one running sum of floats.
    let mut f = [[0.0f32; LANES]; 3];
    for (((x, y), z), m) in
        s.x.chunks_exact(LANES)
            .zip(s.y.chunks_exact(LANES))
            .zip(s.z.chunks_exact(LANES))
            .zip(s.m.chunks_exact(LANES))
    {
        for l in 0..LANES {
            let dx = p[0] - x[l];
            let dy = p[1] - y[l];
            let dz = p[2] - z[l];
            let d2 = dx * dx + dy * dy + dz * dz + softening;
            let w = m[l] / (d2 * d2.sqrt());
            f[0][l] += dx * w;
            f[1][l] += dy * w;
            f[2][l] += dz * w;
        }
    }
    f.map(|axis| axis.iter().sum())
}

fn bounds(pos: &[[f32; 3]]) -> ([f32; 3], [f32; 3]) {
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

fn centre(c: [f64; 3], mass: f64) -> [f32; 3] {
    if mass > 0.0 {
        [
            (c[0] / mass) as f32,
            (c[1] / mass) as f32,
            (c[2] / mass) as f32,
        ]
    } else {
        [0.0; 3]
    }
}

pub(crate) fn dist(a: [f32; 3], b: [f32; 3]) -> f32 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

/// Spreads the low 21 bits of `x` so that two zero bits follow each.
fn spread(x: u64) -> u64 {
    let mut x = x & 0x1f_ffff;
    x = (x | x << 32) & 0x1f_0000_0000_ffff;
    x = (x | x << 16) & 0x1f_0000_ff00_00ff;
    x = (x | x << 8) & 0x100f_00f0_0f00_f00f;
    x = (x | x << 4) & 0x10c3_0c30_c30c_30c3;
    x = (x | x << 2) & 0x1249_2492_4924_9249;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(pos: &[[f32; 3]], mass: &[f32]) -> Vec<[f32; 3]> {
        pos.iter()
            .map(|p| {
                let mut f = [0.0f64; 3];
                for (q, &m) in pos.iter().zip(mass) {
                    let d = [p[0] - q[0], p[1] - q[1], p[2] - q[2]];
                    let d2 = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) as f64;
                    if d2 > 0.0 {
                        for k in 0..3 {
                            f[k] += m as f64 * d[k] as f64 / (d2 * d2.sqrt());
                        }
                    }
                }
                [f[0] as f32, f[1] as f32, f[2] as f32]
            })
            .collect()
    }

    fn points(n: usize) -> Vec<[f32; 3]> {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        (0..n).map(|_| [next(), next(), next() * 0.3]).collect()
    }

    #[test]
    fn theta_zero_is_exact_and_small_theta_is_close() {
        let pos = points(500);
        let mass: Vec<f32> = (0..500).map(|i| 1.0 + (i % 3) as f32).collect();
        let want = exact(&pos, &mass);
        let mut tree = Octree::default();
        tree.build(&pos, &mass);
        for (theta, tolerance) in [(0.0, 1e-3), (0.5, 0.05)] {
            let mut sorted = Vec::new();
            tree.repulsion(
                Kernel {
                    theta,
                    softening: 1e-12,
                },
                &mut sorted,
            );
            let mut err = 0.0f64;
            let mut norm = 0.0f64;
            for (k, &i) in tree.order().iter().enumerate() {
                let (g, w) = (sorted[k], want[i as usize]);
                for j in 0..3 {
                    err += ((g[j] - w[j]) as f64).powi(2);
                    norm += (w[j] as f64).powi(2);
                }
            }
            let rel = (err / norm).sqrt();
            assert!(rel < tolerance, "theta {theta}: relative error {rel}");
        }
    }

    #[test]
    fn coincident_points_build_and_give_finite_forces() {
        let pos = vec![[1.0, 2.0, 3.0]; 40];
        let mut tree = Octree::default();
        tree.build(&pos, &[1000.0; 40]);
        let mut out = Vec::new();
        tree.repulsion(
            Kernel {
                theta: 0.8,
                softening: 1e-12,
            },
            &mut out,
        );
        assert!(out.iter().all(|f| f.iter().all(|v| v.is_finite())));
    }
}

//! Graph generators and layout measurements shared by the layout tests.

use orrery_render::layout::LayoutGraph;

/// A path `0 - 1 - ... - n-1`.
pub fn path(n: usize) -> LayoutGraph {
    let edges: Vec<_> = (1..n).map(|i| (i - 1, i)).collect();
    LayoutGraph::new(n, &edges).unwrap()
}

/// An `a × b × c` grid; node `(x, y, z)` is `x + a (y + b z)`.
pub fn grid(a: usize, b: usize, c: usize) -> LayoutGraph {
    let id = |x: usize, y: usize, z: usize| x + a * (y + b * z);
    let mut edges = Vec::new();
    for z in 0..c {
        for y in 0..b {
            for x in 0..a {
                if x + 1 < a {
                    edges.push((id(x, y, z), id(x + 1, y, z)));
                }
                if y + 1 < b {
                    edges.push((id(x, y, z), id(x, y + 1, z)));
                }
                if z + 1 < c {
                    edges.push((id(x, y, z), id(x, y, z + 1)));
                }
            }
        }
    }
    LayoutGraph::new(a * b * c, &edges).unwrap()
}

/// A preferential-attachment (Barabási–Albert, m = 2) graph from a fixed seed.
pub fn scale_free(n: usize) -> LayoutGraph {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let mut edges = vec![(0, 1), (1, 2), (0, 2)];
    let mut ends = vec![0, 1, 1, 2, 0, 2];
    for v in 3..n {
        let a = ends[next(ends.len())];
        let mut b = ends[next(ends.len())];
        while b == a {
            b = ends[next(ends.len())];
        }
        for t in [a, b] {
            edges.push((v, t));
            ends.extend([v, t]);
        }
    }
    LayoutGraph::new(n, &edges).unwrap()
}

/// Hop distances from `source` (`usize::MAX` where unreachable).
pub fn hops(graph: &LayoutGraph, source: usize) -> Vec<usize> {
    let mut dist = vec![usize::MAX; graph.node_count()];
    dist[source] = 0;
    let mut queue = std::collections::VecDeque::from([source]);
    while let Some(v) = queue.pop_front() {
        for &u in graph.neighbours(v) {
            if dist[u as usize] == usize::MAX {
                dist[u as usize] = dist[v] + 1;
                queue.push_back(u as usize);
            }
        }
    }
    dist
}

pub fn dist(a: [f32; 3], b: [f32; 3]) -> f64 {
    (0..3)
        .map(|k| ((a[k] - b[k]) as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Normalised stress over all connected pairs, with the layout optimally scaled: the mean of
/// `(α e / d - 1)²` for Euclidean distance `e` and hop distance `d` (the benchmark's metric).
pub fn stress(graph: &LayoutGraph, pos: &[[f32; 3]]) -> f64 {
    let (mut sum_r, mut sum_r2, mut count) = (0.0, 0.0, 0.0);
    for s in 0..graph.node_count() {
        for (v, &d) in hops(graph, s).iter().enumerate() {
            if v > s && d != usize::MAX {
                let r = dist(pos[s], pos[v]) / d as f64;
                sum_r += r;
                sum_r2 += r * r;
                count += 1.0;
            }
        }
    }
    1.0 - sum_r * sum_r / (count * sum_r2)
}

/// The mean length of the graph's edges.
pub fn mean_edge(graph: &LayoutGraph, pos: &[[f32; 3]]) -> f64 {
    let edges = graph.edges();
    edges
        .iter()
        .map(|&[a, b]| dist(pos[a as usize], pos[b as usize]))
        .sum::<f64>()
        / edges.len() as f64
}

pub fn bits(pos: &[[f32; 3]]) -> Vec<[u32; 3]> {
    pos.iter().map(|p| p.map(f32::to_bits)).collect()
}

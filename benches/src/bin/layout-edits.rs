//! The edit scenario of a warm-started layout: lay out a graph cold, then add 1% new nodes
//! (attached the way the graph's generator attaches nodes) or remove 1% of the nodes, and lay
//! the edited graph out again from the cold positions. Prints, per family and edit, the warm
//! time over the cold time and how far the untouched nodes moved, as a fraction of the cold
//! layout's diameter. `--out DIR` also writes each graph and layout for
//! `benches/layout/metrics.py`.
//!
//! Run with: cargo run --release -p orrery-benches --bin layout-edits -- --nodes 100000 --repeat 3

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use orrery_render::layout::{LayoutGraph, LayoutOptions, force_directed, write_txt};

/// Time warm-started layouts after adding or removing a few nodes.
#[derive(Debug, Parser)]
struct Args {
    /// Nodes in each generated graph.
    #[arg(long, default_value_t = 100_000)]
    nodes: usize,
    /// Share of the nodes added, then removed.
    #[arg(long, default_value_t = 0.01)]
    fraction: f64,
    /// Graph families (default: all).
    #[arg(long, value_enum)]
    family: Vec<Family>,
    /// Timed runs of each layout; the table shows the fastest.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Seed of the generators, the edits and the layouts.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also lay out each edited graph cold, and write every graph (edge lists) and layout
    /// (`x y z` lines) into this folder for `benches/layout/metrics.py`.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// The graph families of `benches/layout/graphs.py`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Family {
    /// Barabási–Albert preferential attachment, m = 2; new nodes attach the same way.
    Ba,
    /// Layered DAGs of nested clusters; a new node is a step beside an existing one (joined
    /// to it and to one of its neighbours).
    Workflow,
}

/// One edited graph, with where its nodes came from.
struct Edit {
    name: &'static str,
    nodes: usize,
    edges: Vec<(usize, usize)>,
    /// The node of the original graph each node is, or `None` for a new node.
    old: Vec<Option<usize>>,
    /// Original nodes not adjacent (before or after) to an added or removed node.
    untouched: Vec<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let families = if args.family.is_empty() {
        vec![Family::Ba, Family::Workflow]
    } else {
        args.family.clone()
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let changed = ((args.nodes as f64 * args.fraction).round() as usize).max(1);
    println!(
        "{} nodes, {changed} added or removed, fastest of {} runs",
        args.nodes, args.repeat
    );
    println!(
        "| family | edit | cold | warm | warm / cold | untouched moved / diameter | all moved / diameter |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for family in families {
        let n = args.nodes;
        let edges = match family {
            Family::Ba => barabasi_albert(n, args.seed),
            Family::Workflow => workflow(n, args.seed),
        };
        let graph = LayoutGraph::new(n, &edges)?;
        let cold_options = LayoutOptions {
            seed: args.seed,
            ..LayoutOptions::default()
        };
        let (cold_s, cold) = fastest(args.repeat, || force_directed(&graph, &cold_options))?;
        let diameter = diameter(&cold);
        let label = format!("{family:?}").to_lowercase();
        if let Some(dir) = &args.out {
            write_graph(&dir.join(format!("{label}.edges")), n, &edges)?;
            write_positions(&dir.join(format!("{label}-cold.txt")), &cold)?;
        }
        let edits = [
            add_nodes(family, n, &edges, changed, args.seed),
            remove_nodes(n, &edges, changed, args.seed),
        ];
        for edit in edits {
            let graph = LayoutGraph::new(edit.nodes, &edit.edges)?;
            let options = LayoutOptions {
                seed: args.seed,
                initial: edit.old.iter().map(|o| o.map(|v| cold[v])).collect(),
                ..LayoutOptions::default()
            };
            let (warm_s, warm) = fastest(args.repeat, || force_directed(&graph, &options))?;
            let mut at = vec![usize::MAX; n];
            for (v, o) in edit.old.iter().enumerate() {
                if let Some(o) = o {
                    at[*o] = v;
                }
            }
            let moved = |nodes: &mut dyn Iterator<Item = usize>| {
                let (sum, count) = nodes.fold((0.0f64, 0usize), |(s, c), v| {
                    (s + dist(cold[v], warm[at[v]]), c + 1)
                });
                sum / count.max(1) as f64 / diameter
            };
            let untouched = moved(&mut edit.untouched.iter().copied());
            let all = moved(&mut (0..n).filter(|&v| at[v] != usize::MAX));
            println!(
                "| {label} | {} | {:.3} s | {:.3} s | {:.3} | {:.2}% | {:.2}% |",
                edit.name,
                cold_s,
                warm_s,
                warm_s / cold_s,
                100.0 * untouched,
                100.0 * all
            );
            if let Some(dir) = &args.out {
                let verb = edit.name.split(' ').next().unwrap_or(edit.name);
                let base = format!("{label}-{verb}");
                write_graph(&dir.join(format!("{base}.edges")), edit.nodes, &edit.edges)?;
                write_positions(&dir.join(format!("{base}-warm.txt")), &warm)?;
                let fresh = force_directed(&graph, &cold_options)?;
                write_positions(&dir.join(format!("{base}-cold.txt")), &fresh)?;
            }
        }
    }
    Ok(())
}

/// Runs `f` `repeat` times; the fastest time in seconds and the first result.
fn fastest<T, E>(repeat: usize, mut f: impl FnMut() -> Result<T, E>) -> Result<(f64, T), E> {
    let mut best = f64::INFINITY;
    let mut first = None;
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        let out = f()?;
        best = best.min(started.elapsed().as_secs_f64());
        first.get_or_insert(out);
    }
    Ok((best, first.expect("at least one run")))
}

/// Adds `count` nodes after the last one, each joined to two existing nodes.
fn add_nodes(family: Family, n: usize, edges: &[(usize, usize)], count: usize, seed: u64) -> Edit {
    let mut rng = Rng(seed ^ 0xadd);
    let mut edges = edges.to_vec();
    let adjacency = adjacency(n + count, &edges);
    // Every endpoint once: a uniform pick from it is a pick by degree.
    let mut ends: Vec<usize> = edges.iter().flat_map(|&(a, b)| [a, b]).collect();
    let mut touched = vec![false; n + count];
    for v in n..n + count {
        let targets = match family {
            Family::Ba => {
                let a = ends[rng.below(ends.len())];
                let mut b = ends[rng.below(ends.len())];
                while b == a {
                    b = ends[rng.below(ends.len())];
                }
                [a, b]
            }
            Family::Workflow => {
                let a = rng.below(n);
                let around = &adjacency[a];
                if around.is_empty() {
                    [a, a]
                } else {
                    [a, around[rng.below(around.len())]]
                }
            }
        };
        for t in targets {
            if edges.last() != Some(&(t, v)) {
                edges.push((t, v));
                ends.extend([t, v]);
            }
            touched[t] = true;
        }
    }
    Edit {
        name: "add 1%",
        nodes: n + count,
        edges,
        old: (0..n).map(Some).chain((0..count).map(|_| None)).collect(),
        untouched: (0..n).filter(|&v| !touched[v]).collect(),
    }
}

/// Removes `count` nodes picked at random, with their edges; the rest keep their order.
fn remove_nodes(n: usize, edges: &[(usize, usize)], count: usize, seed: u64) -> Edit {
    let mut rng = Rng(seed ^ 0xde1);
    let mut removed = vec![false; n];
    let mut left = count.min(n - 1);
    while left > 0 {
        let v = rng.below(n);
        if !removed[v] {
            removed[v] = true;
            left -= 1;
        }
    }
    let mut index = vec![usize::MAX; n];
    let mut old = Vec::with_capacity(n);
    for v in (0..n).filter(|&v| !removed[v]) {
        index[v] = old.len();
        old.push(Some(v));
    }
    let mut touched = removed.clone();
    let mut kept = Vec::with_capacity(edges.len());
    for &(a, b) in edges {
        if removed[a] || removed[b] {
            touched[a] = true;
            touched[b] = true;
        } else {
            kept.push((index[a], index[b]));
        }
    }
    Edit {
        name: "remove 1%",
        nodes: old.len(),
        edges: kept,
        old,
        untouched: (0..n).filter(|&v| !touched[v]).collect(),
    }
}

/// Preferential attachment from a triangle: each new node joins two distinct earlier nodes
/// chosen in proportion to their degree.
fn barabasi_albert(n: usize, seed: u64) -> Vec<(usize, usize)> {
    let mut rng = Rng(seed);
    let mut edges = vec![(1, 0), (2, 0), (2, 1)];
    let mut ends = vec![1, 0, 2, 0, 2, 1];
    for v in 3..n {
        let a = ends[rng.below(ends.len())];
        let mut b = ends[rng.below(ends.len())];
        while b == a {
            b = ends[rng.below(ends.len())];
        }
        for t in [a, b] {
            edges.push((v, t));
            ends.extend([v, t]);
        }
    }
    edges
}

/// `graphs.py workflow` (edges only, another random stream): leaf clusters of 10–50 nodes,
/// each a layered DAG, grouped 3–8 at a time over three levels, siblings themselves arranged as
/// a layered DAG from one cluster's output to the next one's input, with sparse cross edges.
fn workflow(n: usize, seed: u64) -> Vec<(usize, usize)> {
    /// A cluster: its node range and its input and output nodes.
    #[derive(Clone, Copy)]
    struct Cluster {
        first: usize,
        last: usize,
        inp: usize,
        out: usize,
    }
    let mut rng = Rng(seed);
    let mut edges = Vec::new();
    let mut sizes = Vec::new();
    let mut left = n;
    while left > 0 {
        let mut s = rng.between(10, 50);
        if left <= 50 {
            s = left;
        } else if left - s < 10 {
            s = left - 10;
        }
        sizes.push(s);
        left -= s;
    }
    let mut level = Vec::new();
    let mut start = 0;
    for s in sizes {
        let ids: Vec<usize> = (start..start + s).collect();
        layered_dag(&mut rng, &ids, &mut |a, b| edges.push((a, b)), 6, 0.08);
        level.push(Cluster {
            first: start,
            last: start + s - 1,
            inp: start,
            out: start + s - 1,
        });
        start += s;
    }
    const LEVELS: usize = 3;
    for lv in 1..=LEVELS {
        let top = lv == LEVELS;
        let mut groups: Vec<Vec<Cluster>> = Vec::new();
        if top {
            groups.push(level.clone());
        } else {
            let mut i = 0;
            while i < level.len() {
                let g = rng.between(3, 8);
                groups.push(level[i..(i + g).min(level.len())].to_vec());
                i += g;
            }
        }
        let mut parents = Vec::new();
        for g in &groups {
            if g.len() > 1 {
                let width = if top { 6 } else { 3 };
                layered_dag(
                    &mut rng,
                    g,
                    &mut |a: Cluster, b: Cluster| edges.push((a.out, b.inp)),
                    width,
                    0.0,
                );
                for _ in 0..g.len() / 4 {
                    if rng.unit() < 0.5 {
                        let a = rng.below(g.len());
                        let mut b = rng.below(g.len() - 1);
                        if b >= a {
                            b += 1;
                        }
                        let (a, b) = (a.min(b), a.max(b));
                        let src = rng.between(g[a].first, g[a].last);
                        let dst = rng.between(g[b].first, g[b].last);
                        edges.push((src, dst));
                    }
                }
            }
            parents.push(Cluster {
                first: g[0].first,
                last: g[g.len() - 1].last,
                inp: g[0].inp,
                out: g[g.len() - 1].out,
            });
        }
        level = parents;
    }
    edges
}

/// Arranges `items` as a layered DAG (first and last layers of one item): each item after the
/// first layer gets one or two parents in the layer before (sometimes one further back), and
/// each item before the last layer at least one child.
fn layered_dag<T: Copy>(
    rng: &mut Rng,
    items: &[T],
    edge: &mut dyn FnMut(T, T),
    max_width: usize,
    skip: f64,
) {
    let mut sizes = Vec::new();
    if items.len() <= 2 {
        sizes.resize(items.len(), 1);
    } else {
        sizes.push(1);
        let mut left = items.len() - 2;
        while left > 0 {
            let w = left.min(rng.between(1, max_width));
            sizes.push(w);
            left -= w;
        }
        sizes.push(1);
    }
    let mut layers: Vec<&[T]> = Vec::new();
    let mut i = 0;
    for s in sizes {
        layers.push(&items[i..i + s]);
        i += s;
    }
    for li in 1..layers.len() {
        let prev = layers[li - 1];
        let mut has_child = vec![false; prev.len()];
        for &it in layers[li] {
            let mut parents = vec![rng.below(prev.len())];
            if prev.len() > 1 && rng.unit() < 0.35 {
                let p = rng.below(prev.len());
                if p != parents[0] {
                    parents.push(p);
                }
            }
            parents.sort_unstable();
            for p in parents {
                edge(prev[p], it);
                has_child[p] = true;
            }
            if li >= 2 && rng.unit() < skip {
                let back = layers[rng.below(li - 1)];
                edge(back[rng.below(back.len())], it);
            }
        }
        for (p, &has) in has_child.iter().enumerate() {
            if !has {
                let next = layers[li];
                edge(prev[p], next[rng.below(next.len())]);
            }
        }
    }
}

fn adjacency(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let mut adj = vec![Vec::new(); n];
    for &(a, b) in edges {
        adj[a].push(b);
        adj[b].push(a);
    }
    adj
}

/// The largest extent of `pos` over 1,000 directions spread on the sphere: within 0.5% of the
/// distance between the farthest two points.
fn diameter(pos: &[[f32; 3]]) -> f64 {
    const DIRECTIONS: usize = 1000;
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    (0..DIRECTIONS)
        .map(|i| {
            let z = 1.0 - (i as f64 + 0.5) / DIRECTIONS as f64;
            let r = (1.0 - z * z).sqrt();
            let a = golden * i as f64;
            let d = [r * a.cos(), r * a.sin(), z];
            let (lo, hi) = pos
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                    let x = d[0] * p[0] as f64 + d[1] * p[1] as f64 + d[2] * p[2] as f64;
                    (lo.min(x), hi.max(x))
                });
            hi - lo
        })
        .fold(0.0, f64::max)
}

fn dist(a: [f32; 3], b: [f32; 3]) -> f64 {
    (0..3)
        .map(|k| (a[k] as f64 - b[k] as f64).powi(2))
        .sum::<f64>()
        .sqrt()
}

fn write_graph(path: &Path, n: usize, edges: &[(usize, usize)]) -> anyhow::Result<()> {
    let mut text = format!("# nodes {n}\n");
    for (a, b) in edges {
        text.push_str(&format!("{a} {b}\n"));
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn write_positions(path: &Path, pos: &[[f32; 3]]) -> anyhow::Result<()> {
    let mut text = Vec::new();
    write_txt(&mut text, pos)?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Small, fast, deterministic (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

//! Frame time of the renderer at 1,000, 10,000 and 100,000 nodes, 1280x720, against a plain
//! instanced UV-sphere-mesh renderer (`NodeGeometry::Mesh`: same scene, camera, lighting, edges
//! and antialiasing) measured in the same run. A frame is `render_rgba`: uploading the scene,
//! drawing it and reading the pixels back.
//!
//! Run with: cargo bench -p orrery-benches --bench render
//! (`WGPU_BACKEND=vulkan` or `gl` picks the driver; without a GPU that is Mesa's lavapipe or
//! llvmpipe.)

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use orrery_render::{
    NodeGeometry, NodeStyleKind, RenderOptions, Renderer, Scene, SceneInput, SceneNode, Theme,
};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;
const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

fn frame_time(c: &mut Criterion) {
    let open = |geometry| {
        let options = RenderOptions {
            geometry,
            ..RenderOptions::default()
        };
        Renderer::headless_with(WIDTH, HEIGHT, options)
            .unwrap_or_else(|e| panic!("the render benchmark needs an adapter: {e}"))
    };
    let impostor = open(NodeGeometry::Impostor);
    let mesh = open(NodeGeometry::Mesh);
    eprintln!("rendering on {}", impostor.adapter());

    let mut group = c.benchmark_group("render_1280x720");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for n in SIZES {
        let scene = Scene::build(&graph(n), &Theme::dark()).expect("scene");
        group.bench_with_input(BenchmarkId::new("impostor", n), &scene, |b, scene| {
            b.iter(|| black_box(impostor.render_rgba(scene).expect("render")))
        });
        group.bench_with_input(BenchmarkId::new("sphere_mesh", n), &scene, |b, scene| {
            b.iter(|| black_box(mesh.render_rgba(scene).expect("render")))
        });
    }
    group.finish();
}

/// A workflow-like graph of `n` nodes laid out the way a force layout leaves it: nodes fill a
/// ball about one unit apart; each joins the node before it along a snake through a grid, and
/// every third one also the node below it. Clusters of about 500 nodes are compact blocks of the
/// grid, and kinds cycle through the usual mix.
fn graph(n: usize) -> SceneInput {
    let side = ((n as f64 * 6.0 / std::f64::consts::PI).cbrt().ceil() as i64) + 1;
    let centre = side as f32 / 2.0;
    let radius2 = centre * centre;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut jitter = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let block = 8; // 8x8x8 grid cells, about 500 nodes, make a cluster.
    let blocks = (side + block - 1) / block;
    let mut positions = Vec::with_capacity(n);
    let mut clusters = Vec::with_capacity(n);
    let mut index = std::collections::HashMap::new();
    'fill: for z in 0..side {
        for y in 0..side {
            for x in 0..side {
                // A snake order keeps consecutive nodes next to each other.
                let x = if (y + z * side) % 2 == 0 {
                    x
                } else {
                    side - 1 - x
                };
                let p = [x as f32, y as f32, z as f32].map(|c| c - centre);
                if p.iter().map(|c| c * c).sum::<f32>() > radius2 {
                    continue;
                }
                index.insert((x, y, z), positions.len() as u32);
                positions.push(p.map(|c| c + jitter() * 0.6));
                let cluster = (x / block) + blocks * ((y / block) + blocks * (z / block));
                clusters.push(cluster as u32);
                if positions.len() == n {
                    break 'fill;
                }
            }
        }
    }
    let mut edges = Vec::with_capacity(2 * positions.len());
    for (&(x, y, z), &i) in &index {
        if i > 0 {
            edges.push([i - 1, i]);
        }
        if i % 3 == 0
            && let Some(&below) = index.get(&(x, y - 1, z))
        {
            edges.push([below, i]);
        }
    }
    edges.sort_unstable();
    let kinds = [
        NodeStyleKind::Agent,
        NodeStyleKind::Tool,
        NodeStyleKind::Tool,
        NodeStyleKind::Prompt,
        NodeStyleKind::Relay,
        NodeStyleKind::Tool,
        NodeStyleKind::Router,
    ];
    let mut nodes: Vec<SceneNode> = (0..positions.len())
        .map(|i| SceneNode {
            kind: kinds[i % kinds.len()],
            degree: 0,
            cluster: Some(clusters[i]),
            label: (i % 997 == 0).then(|| format!("agent {i}")),
        })
        .collect();
    for &[a, b] in &edges {
        nodes[a as usize].degree += 1;
        nodes[b as usize].degree += 1;
    }
    SceneInput {
        positions,
        nodes,
        edges,
    }
}

criterion_group!(benches, frame_time);
criterion_main!(benches);

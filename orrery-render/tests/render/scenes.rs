//! Test scenes with fixed positions, so that reference images depend on the renderer alone and
//! not on the layout engine.

use orrery_render::{NodeStyleKind, SceneInput, SceneNode};

/// A small nested workflow: input, a router, two agents expanded into clusters, one collapsed
/// custom agent (a ringed node), a merging agent with tools, an output and a note.
pub fn workflow() -> SceneInput {
    let mut b = Builder::default();
    let input = b.node(
        NodeStyleKind::Input,
        [-7.0, 0.0, 0.0],
        None,
        Some("request"),
    );
    let note = b.node(
        NodeStyleKind::Note,
        [-7.0, 2.2, -0.5],
        None,
        Some("retries: todo"),
    );
    let triage = b.node(
        NodeStyleKind::Router,
        [-4.5, 0.0, 0.3],
        None,
        Some("triage"),
    );
    b.edge(input, triage);
    let _ = note;

    let compose = b.node(NodeStyleKind::Agent, [3.5, 0.0, 0.0], None, Some("compose"));
    let mut rng = SplitMix(7);
    for (cluster, centre, name) in [
        (0u32, [-0.5f32, 3.0, 0.8], "billing_bot"),
        (1, [-0.5, -3.0, -0.8], "support_bot"),
    ] {
        let entry = b.node(
            NodeStyleKind::Relay,
            offset(centre, [-1.6, 0.0, 0.0]),
            Some(cluster),
            None,
        );
        let prompt = b.node(
            NodeStyleKind::Prompt,
            offset(centre, [-0.8, 0.6, 0.4]),
            Some(cluster),
            None,
        );
        let agent = b.node(NodeStyleKind::Agent, centre, Some(cluster), Some(name));
        let exit = b.node(
            NodeStyleKind::Relay,
            offset(centre, [1.6, 0.0, 0.0]),
            Some(cluster),
            None,
        );
        b.edge(triage, entry);
        b.edge(entry, prompt);
        b.edge(prompt, agent);
        b.edge(agent, exit);
        b.edge(exit, compose);
        for k in 0..6 {
            let angle = k as f32 / 6.0 * std::f32::consts::TAU;
            let jitter = rng.unit() * 0.25;
            let tool = b.node(
                NodeStyleKind::Tool,
                offset(centre, [0.3 + jitter, 1.3 * angle.cos(), 1.3 * angle.sin()]),
                Some(cluster),
                None,
            );
            b.edge(agent, tool);
        }
    }
    let refunds = b.node(
        NodeStyleKind::Subgraph,
        [-0.5, 0.0, 0.0],
        None,
        Some("refunds"),
    );
    b.edge(triage, refunds);
    b.edge(refunds, compose);
    for k in 0..3 {
        let tool = b.node(
            NodeStyleKind::Tool,
            [4.3 + 0.4 * k as f32, 1.4, -0.6 + 0.6 * k as f32],
            None,
            None,
        );
        b.edge(compose, tool);
    }
    let output = b.node(NodeStyleKind::Output, [7.0, 0.0, 0.0], None, Some("reply"));
    b.edge(compose, output);
    b.finish()
}

/// A plain scale-free-like graph of `n` nodes (kind `Other`, coloured by degree), placed the way
/// a force layout would: each node joins an earlier one, preferring well-connected ones, sits about
/// one unit from it, and often also joins the nearest of a few other earlier nodes.
pub fn plain(n: usize, seed: u64) -> SceneInput {
    let mut rng = SplitMix(seed);
    let mut positions: Vec<[f32; 3]> = Vec::with_capacity(n);
    let mut edges: Vec<[u32; 2]> = Vec::new();
    let mut ends: Vec<u32> = Vec::new();
    for i in 0..n as u32 {
        if i == 0 {
            positions.push([0.0; 3]);
            continue;
        }
        let anchor = if ends.is_empty() || rng.unit() < 0.3 {
            (rng.next() % u64::from(i)) as u32
        } else {
            ends[(rng.next() % ends.len() as u64) as usize]
        };
        let direction = rng.direction();
        let reach = 0.9 + rng.unit() * 0.4;
        let at = offset(positions[anchor as usize], direction.map(|d| d * reach));
        positions.push(at);
        edges.push([anchor, i]);
        ends.extend([anchor, i]);
        if i > 2 && rng.unit() < 0.5 {
            let nearest = (0..12)
                .map(|_| (rng.next() % u64::from(i)) as u32)
                .filter(|&c| c != anchor)
                .min_by(|&a, &b| {
                    distance(positions[a as usize], at)
                        .total_cmp(&distance(positions[b as usize], at))
                });
            if let Some(other) = nearest {
                edges.push([other, i]);
                ends.extend([other, i]);
            }
        }
    }
    SceneInput::from_edges(positions, edges)
}

/// Nodes on a line along `x`, `spacing` apart, without edges.
pub fn row(n: usize, spacing: f32) -> SceneInput {
    let positions = (0..n).map(|i| [i as f32 * spacing, 0.0, 0.0]).collect();
    SceneInput::from_edges(positions, Vec::new())
}

/// `n` nodes scattered in a box with the given extents, plus a chain of edges.
pub fn scattered(n: usize, extents: [f32; 3], seed: u64) -> SceneInput {
    let mut rng = SplitMix(seed);
    let positions: Vec<[f32; 3]> = (0..n)
        .map(|_| extents.map(|e| (rng.unit() - 0.5) * e))
        .collect();
    let edges = (1..n as u32).map(|i| [i - 1, i]).collect();
    SceneInput::from_edges(positions, edges)
}

#[derive(Default)]
struct Builder {
    positions: Vec<[f32; 3]>,
    nodes: Vec<SceneNode>,
    edges: Vec<[u32; 2]>,
}

impl Builder {
    fn node(
        &mut self,
        kind: NodeStyleKind,
        position: [f32; 3],
        cluster: Option<u32>,
        label: Option<&str>,
    ) -> u32 {
        self.positions.push(position);
        self.nodes.push(SceneNode {
            kind,
            degree: 0,
            cluster,
            label: label.map(str::to_owned),
        });
        self.positions.len() as u32 - 1
    }

    fn edge(&mut self, a: u32, b: u32) {
        self.edges.push([a, b]);
        self.nodes[a as usize].degree += 1;
        self.nodes[b as usize].degree += 1;
    }

    fn finish(self) -> SceneInput {
        SceneInput {
            positions: self.positions,
            nodes: self.nodes,
            edges: self.edges,
        }
    }
}

fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

fn offset(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// A small deterministic random number generator (SplitMix64).
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// A uniformly random unit vector.
    pub fn direction(&mut self) -> [f32; 3] {
        let z = self.unit() * 2.0 - 1.0;
        let angle = self.unit() * std::f32::consts::TAU;
        let r = (1.0 - z * z).sqrt();
        [r * angle.cos(), r * angle.sin(), z]
    }
}

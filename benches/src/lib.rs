//! Generators shared by the benchmarks in `benches/benches/` and the `gen-graph` tool: realistic
//! workflow documents of any size, optionally nesting custom agents several levels deep.

use serde_json::{Value, json};

/// A generated workflow: the top-level document and the agents it nests, as JSON text.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The top-level graph document.
    pub root: String,
    /// `(agent id, document)`, innermost agents first.
    pub agents: Vec<(String, String)>,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Nodes in the top-level graph.
    pub nodes: usize,
    /// Edges per node on average (1.5 gives 150,000 edges for 100,000 nodes).
    pub edges_per_node: f64,
    /// Levels of custom agents below the top level (0: no `subgraph` nodes).
    pub nesting: usize,
    /// One node in this many is a `subgraph` node using the first-level agent.
    pub subgraph_every: usize,
    /// Seed of the deterministic generator.
    pub seed: u64,
}

impl Default for Shape {
    fn default() -> Shape {
        Shape {
            nodes: 1_000,
            edges_per_node: 1.5,
            nesting: 0,
            subgraph_every: 100,
            seed: 1,
        }
    }
}

/// A workflow of `shape`: inputs, a layered body of agents, tools, prompts and routers with
/// local fan-in, `subgraph` nodes using nested agents, and outputs. It validates without errors.
pub fn workflow(shape: &Shape) -> Generated {
    let mut agents = Vec::new();
    // Innermost first: level `nesting` has no subgraph nodes, each level above uses the one below.
    let mut inner: Option<String> = None;
    for level in (1..=shape.nesting).rev() {
        let id = format!("level{level}_agent");
        let doc = body(
            &Shape {
                nodes: 40,
                edges_per_node: 1.5,
                subgraph_every: 8,
                seed: shape.seed + level as u64,
                ..shape.clone()
            },
            inner.as_deref(),
            true,
        );
        agents.push((id.clone(), doc.to_string()));
        inner = Some(id);
    }
    Generated {
        root: body(shape, inner.as_deref(), false).to_string(),
        agents,
    }
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

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const MODELS: [&str; 4] = ["gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama-3-70b"];
const TOOLS: [&str; 5] = [
    "web.search",
    "docs.search",
    "crm.lookup",
    "sql.query",
    "email.send",
];

fn body(shape: &Shape, agent: Option<&str>, is_agent: bool) -> Value {
    let mut rng = Rng(shape.seed);
    let n = shape.nodes.max(3);
    let inputs = if is_agent { 1 } else { (n / 1000).clamp(1, 20) };
    let outputs = if is_agent { 1 } else { (n / 2000).clamp(1, 10) };
    let mut nodes = Vec::with_capacity(n);
    let mut edges = Vec::with_capacity((n as f64 * shape.edges_per_node) as usize);
    let endpoint = |i: usize, subgraph: bool| {
        if subgraph {
            format!("n{i}.answer")
        } else if i < inputs {
            format!("n{i}.value")
        } else {
            format!("n{i}.out")
        }
    };
    let mut is_subgraph = vec![false; n];
    for i in 0..n {
        let id = if is_agent && i == 0 {
            "question".to_owned()
        } else if is_agent && i == n - 1 {
            "answer".to_owned()
        } else {
            format!("n{i}")
        };
        if i < inputs {
            nodes.push(
                json!({"id": id, "kind": "input", "label": format!("Input {i}"),
                "outputs": [{"name": "value", "type": "text"}], "position": [0, i * 40]}),
            );
            continue;
        }
        // Sources come from a window of earlier nodes, so the graph is layered and local.
        // Output nodes are last and are never sources.
        let pick = |rng: &mut Rng| {
            let end = i.min(n - outputs);
            let window = end.min(60);
            end - 1 - rng.below(window)
        };
        let src_name = |j: usize, is_subgraph: &[bool]| {
            if is_agent && j == 0 {
                "question.value".to_owned()
            } else {
                endpoint(j, is_subgraph[j])
            }
        };
        if i >= n - outputs {
            let j = pick(&mut rng);
            edges.push(json!({"from": src_name(j, &is_subgraph), "to": format!("{id}.value")}));
            nodes.push(
                json!({"id": id, "kind": "output", "label": format!("Result {i}"),
                "inputs": [{"name": "value", "type": "text"}]}),
            );
            continue;
        }
        if let Some(agent) = agent
            && i % shape.subgraph_every == shape.subgraph_every / 2
        {
            is_subgraph[i] = true;
            let j = pick(&mut rng);
            edges.push(json!({"from": src_name(j, &is_subgraph), "to": format!("{id}.question")}));
            nodes.push(json!({"id": id, "kind": "subgraph", "label": format!("Delegate {i}"),
                "agent": {"id": agent, "version": "latest"},
                "inputs": [{"name": "question", "type": "text"}], "outputs": [{"name": "answer", "type": "text"}]}));
            continue;
        }
        // 1 + Bernoulli edges in, so the mean comes out at `edges_per_node`.
        let extra = if rng.unit() < shape.edges_per_node - 1.0 {
            2
        } else {
            1
        };
        // The first body nodes each take one input, so that every input is used.
        let first = if i - inputs < inputs {
            i - inputs
        } else {
            pick(&mut rng)
        };
        edges.push(json!({"from": src_name(first, &is_subgraph), "to": format!("{id}.in")}));
        if extra == 2 && i > 1 {
            let mut second = pick(&mut rng);
            if second == first {
                second = if first == 0 { 1 } else { first - 1 };
            }
            edges.push(json!({"from": src_name(second, &is_subgraph), "to": format!("{id}.in")}));
        }
        let (kind, config) = match i % 7 {
            0 | 3 => (
                "tool",
                json!({"tool": TOOLS[rng.below(TOOLS.len())], "timeout_ms": 1000 + rng.below(9000)}),
            ),
            1 => (
                "prompt",
                json!({"template": format!("Step {i}: summarise {{{{ in }}}} for the user.")}),
            ),
            2 => (
                "router",
                json!({"routes": {"yes": "score > 0.5"}, "default": "out"}),
            ),
            _ => (
                "agent",
                json!({"model": MODELS[rng.below(MODELS.len())], "temperature": (rng.below(10) as f64) / 10.0,
                                 "system": "You are a careful assistant."}),
            ),
        };
        nodes.push(json!({"id": id, "kind": kind, "label": format!("Step {i}"),
            "inputs": [{"name": "in", "type": "text", "multiple": true}],
            "outputs": [{"name": "out", "type": "text"}],
            "config": config, "position": [i / 50 * 200, i % 50 * 40]}));
    }
    json!({"schema": 1, "nodes": nodes, "edges": edges})
}

#[cfg(test)]
mod tests {
    use orrery_core::{MemoryResolver, validate};

    use super::*;

    #[test]
    fn generated_workflows_are_valid_at_every_level() {
        let g = workflow(&Shape {
            nodes: 3_000,
            nesting: 3,
            ..Shape::default()
        });
        let mut agents = MemoryResolver::default();
        for (id, doc) in &g.agents {
            agents
                .insert(id, orrery_core::Graph::from_json(doc).unwrap())
                .unwrap();
        }
        let root = orrery_core::Graph::from_json(&g.root).unwrap();
        let diagnostics: Vec<String> = validate(&root, &agents)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(diagnostics, Vec::<String>::new());
        assert_eq!(root.nodes.len(), 3_000);
        let ratio = root.edges.len() as f64 / root.nodes.len() as f64;
        assert!((1.35..1.6).contains(&ratio), "{ratio}");
    }
}

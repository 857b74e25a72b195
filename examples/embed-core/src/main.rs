//! Run with: cargo run -p example-embed-core
//!
//! The graph engine from Rust: load agents, validate a workflow that nests them, flatten it, and
//! diff two versions.

use std::path::Path;

use orrery_core::{Graph, MemoryResolver, diff, flatten, validate};

fn main() -> anyhow::Result<()> {
    let graphs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../graphs");
    let read = |name: &str| -> anyhow::Result<Graph> {
        Ok(Graph::from_json(&std::fs::read_to_string(
            graphs.join(name),
        )?)?)
    };

    let mut agents = MemoryResolver::default();
    for id in ["researcher", "writer"] {
        let digest = agents.insert(id, read(&format!("agents/{id}.json"))?)?;
        println!("agent {id} {digest}");
    }

    let planner = read("planner.json")?;
    let diagnostics = validate(&planner, &agents);
    println!(
        "planner.json: {} diagnostics, version {}",
        diagnostics.len(),
        planner.digest()
    );

    let flat = flatten(&planner, &agents)?;
    println!(
        "flattened: {} nodes in {} groups",
        flat.nodes.len(),
        flat.groups.len()
    );
    for node in flat.nodes.iter().filter(|n| flat.group_of(&n.id).is_some()) {
        let group = flat
            .group_of(&node.id)
            .map(|g| g.agent.id.as_str())
            .unwrap_or_default();
        println!("  {:<22} {:<8} from agent {group}", node.id, node.kind);
    }

    // Edit a copy and see what changed.
    let mut edited = planner.clone();
    if let Some(plan) = edited.nodes.iter_mut().find(|n| n.id == "plan") {
        plan.config.insert("temperature".into(), 0.9.into());
    }
    print!("{}", diff(&planner, &edited, &agents));

    let broken = read("broken/graph.json")?;
    for d in validate(&broken, &agents) {
        println!("{d}");
    }
    Ok(())
}

//! Writes a generated workflow document (and the agents it nests) for benchmarks and examples.
//!
//! Run with: cargo run -p orrery-benches --bin gen-graph -- --nodes 100000 --nesting 3 --out DIR

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use orrery_benches::{Shape, workflow};

/// Generate a realistic workflow graph of any size.
#[derive(Debug, Parser)]
struct Args {
    /// Nodes in the top-level graph.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Average edges per node.
    #[arg(long, default_value_t = 1.5)]
    edges_per_node: f64,
    /// Levels of nested custom agents (0 for none).
    #[arg(long, default_value_t = 0)]
    nesting: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Directory to write `graph.json` and `agents/<id>.json` into; stdout when absent
    /// (only without nesting).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let generated = workflow(&Shape {
        nodes: args.nodes,
        edges_per_node: args.edges_per_node,
        nesting: args.nesting,
        seed: args.seed,
        ..Shape::default()
    });
    let Some(out) = args.out else {
        anyhow::ensure!(
            generated.agents.is_empty(),
            "--nesting needs --out DIR to write the agents"
        );
        println!("{}", generated.root);
        return Ok(());
    };
    std::fs::create_dir_all(out.join("agents"))
        .with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(out.join("graph.json"), &generated.root)?;
    for (id, doc) in &generated.agents {
        std::fs::write(out.join("agents").join(format!("{id}.json")), doc)?;
    }
    Ok(())
}

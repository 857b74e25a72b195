//! Times the in-process work of `orrery layout` on a graph document: parsing, then
//! `document::layout_graph` and `layout::force_directed` (the calls the CLI and the Python
//! binding make), without process start-up or output. `benches/python/bench.py` compares these
//! times with the same calls made from Python, which is the binding's overhead.
//!
//! Run with: cargo run --release -p orrery-benches --bin layout-inproc -- GRAPH.json --seed 1 --repeat 5

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use orrery_core::Graph;
use orrery_render::layout::{LayoutOptions, force_directed};

/// Time parsing and laying out a graph document in-process.
#[derive(Debug, Parser)]
struct Args {
    /// The graph document (JSON).
    graph: PathBuf,
    /// Seed of the layout.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How many times to parse and lay out.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.graph)
        .with_context(|| format!("cannot read {}", args.graph.display()))?;
    let mut parse_s = Vec::new();
    let mut layout_s = Vec::new();
    let mut first = None;
    for _ in 0..args.repeat.max(1) {
        let started = Instant::now();
        let graph = Graph::from_json(&text)?;
        parse_s.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let input = orrery_render::document::layout_graph(&graph)?;
        let positions = force_directed(
            &input,
            &LayoutOptions {
                seed: args.seed,
                ..LayoutOptions::default()
            },
        )?;
        layout_s.push(started.elapsed().as_secs_f64());
        first.get_or_insert(positions);
    }
    let checksum: f64 = first
        .iter()
        .flatten()
        .flat_map(|p| p.iter().map(|v| f64::from(*v)))
        .sum();
    println!(
        "{}",
        serde_json::json!({
            "nodes": first.as_ref().map_or(0, Vec::len),
            "parse_s": parse_s,
            "layout_s": layout_s,
            "checksum": checksum,
        })
    );
    Ok(())
}

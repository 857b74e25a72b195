//! `orrery layout` and `orrery render`: 3D positions and pictures of graph documents or plain
//! edge lists.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use orrery_core::{DirResolver, Graph, ParseOptions, flatten};
use orrery_render::layout::{self, LayoutGraph, LayoutOptions};

/// What was read: a graph document (flattened when agents were given) or an edge list.
pub enum Input {
    /// A graph document.
    Document(Graph),
    /// `src dst` lines.
    EdgeList(LayoutGraph),
}

impl Input {
    fn layout_graph(&self) -> anyhow::Result<LayoutGraph> {
        match self {
            Input::Document(g) => Ok(orrery_render::document::layout_graph(g)?),
            Input::EdgeList(g) => Ok(g.clone()),
        }
    }
}

/// Reads INPUT: a JSON graph document (flattened with the agents in `agents`, if given) when it
/// starts with `{`, an edge list otherwise.
pub fn read_input(
    path: &Path,
    agents: Option<&Path>,
    max_bytes: usize,
) -> anyhow::Result<Result<Input, String>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .len();
    if size > max_bytes as u64 {
        return Ok(Err(format!(
            "{} is {size} bytes, over the limit of {max_bytes} (raise --max-bytes)",
            path.display()
        )));
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !text.trim_start().starts_with('{') {
        return Ok(layout::parse_edge_list(&text)
            .map(Input::EdgeList)
            .map_err(|e| format!("{}: {e}", path.display())));
    }
    let graph = match Graph::from_json_with(&text, &ParseOptions { max_bytes }) {
        Ok(g) => g,
        Err(e) => return Ok(Err(format!("{}: {e}", path.display()))),
    };
    let Some(dir) = agents else {
        return Ok(Ok(Input::Document(graph)));
    };
    let resolver = DirResolver::open(dir, &ParseOptions { max_bytes })
        .with_context(|| format!("cannot read the agents directory {}", dir.display()))?;
    Ok(flatten(&graph, &resolver)
        .map(Input::Document)
        .map_err(|e| format!("cannot flatten {}: {e}", path.display())))
}

/// `orrery layout`.
pub fn layout(
    input: &Path,
    output: &Path,
    agents: Option<&Path>,
    seed: u64,
    iterations: Option<usize>,
    json: bool,
    max_bytes: usize,
) -> anyhow::Result<ExitCode> {
    let read = match read_input(input, agents, max_bytes)? {
        Ok(read) => read,
        Err(message) => return Ok(failure(&message)),
    };
    let graph = match read.layout_graph() {
        Ok(g) => g,
        Err(e) => return Ok(failure(&format!("{}: {e}", input.display()))),
    };
    if graph.node_count() == 0 {
        return Ok(failure(&format!(
            "{}: the graph has no nodes to lay out",
            input.display()
        )));
    }
    let positions = run_layout(&graph, seed, iterations)?;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(output)
            .with_context(|| format!("cannot write {}", output.display()))?,
    );
    match (&read, json) {
        (Input::Document(g), true) => {
            let ids: Vec<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
            serde_json::to_writer(
                &mut out,
                &serde_json::json!({"nodes": ids, "positions": positions}),
            )?;
            writeln!(out)?;
        }
        (_, true) => layout::write_json(&mut out, &positions)?,
        (_, false) => layout::write_txt(&mut out, &positions)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `orrery render`.
#[allow(clippy::too_many_arguments)] // One per command-line option.
pub fn render(
    input: &Path,
    output: &Path,
    agents: Option<&Path>,
    positions: Option<&Path>,
    width: u32,
    height: u32,
    seed: u64,
    theme: &str,
    max_bytes: usize,
) -> anyhow::Result<ExitCode> {
    let theme = match theme {
        "dark" => orrery_render::Theme::dark(),
        "light" => orrery_render::Theme::light(),
        other => return Ok(failure(&format!("unknown theme `{other}` (dark or light)"))),
    };
    let read = match read_input(input, agents, max_bytes)? {
        Ok(read) => read,
        Err(message) => return Ok(failure(&message)),
    };
    let graph = match read.layout_graph() {
        Ok(g) => g,
        Err(e) => return Ok(failure(&format!("{}: {e}", input.display()))),
    };
    let points = match positions {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            match layout::parse_positions(&text) {
                Ok(p) if p.len() == graph.node_count() => p,
                Ok(p) => {
                    return Ok(failure(&format!(
                        "{} has {} positions for {} nodes",
                        path.display(),
                        p.len(),
                        graph.node_count()
                    )));
                }
                Err(e) => return Ok(failure(&format!("{}: {e}", path.display()))),
            }
        }
        None => run_layout(&graph, seed, None)?,
    };
    let input_scene = match &read {
        Input::Document(g) => orrery_render::document::scene_input(g, points),
        Input::EdgeList(g) => orrery_render::SceneInput::from_edges(points, g.edges().to_vec()),
    };
    let scene = match orrery_render::Scene::build(&input_scene, &theme) {
        Ok(s) => s,
        Err(e) => return Ok(failure(&e.to_string())),
    };
    let renderer = match orrery_render::Renderer::headless(width, height) {
        Ok(r) => r,
        Err(e) => anyhow::bail!("{e}"),
    };
    let png = renderer.render_png(&scene)?;
    std::fs::write(output, png).with_context(|| format!("cannot write {}", output.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn run_layout(
    graph: &LayoutGraph,
    seed: u64,
    iterations: Option<usize>,
) -> anyhow::Result<Vec<[f32; 3]>> {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(1);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} laying out {msg} [{bar:30}] {percent}% {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(format!("{} nodes", graph.node_count()));
        bar
    } else {
        ProgressBar::hidden()
    };
    let positions = layout::force_directed_with_progress(
        graph,
        &LayoutOptions {
            seed,
            iterations,
            ..Default::default()
        },
        &|p| {
            bar.set_length(p.total.max(1));
            bar.set_position(p.done);
        },
    )?;
    bar.finish_and_clear();
    Ok(positions)
}

fn failure(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(1)
}

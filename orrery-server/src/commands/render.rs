//! `orrery layout` and `orrery render`: 3D positions and pictures of graph documents or plain
//! edge lists.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use orrery_core::{DirResolver, Graph, ParseOptions, flatten};
use orrery_render::layout::{self, LayoutGraph, LayoutOptions};

use crate::commands::LimitsArg;

// `orrery layout`'s options.
#[derive(Debug, clap::Args)]
pub struct LayoutArgs {
    /// Graph document or edge list.
    pub input: PathBuf,
    /// Where to write the positions.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Iterations on the finest level (default: enough to converge).
    #[arg(long, value_name = "N")]
    pub iterations: Option<usize>,
    /// Seed of the layout.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// How the positions are written.
    #[arg(long, value_enum, default_value_t = PositionsFormat::Txt)]
    pub format: PositionsFormat,
    /// Flatten custom agents from DIR first, so each agent's nodes form a cluster.
    #[arg(long, value_name = "DIR")]
    pub agents: Option<PathBuf>,
    /// Start from an earlier run's output (either format) and move what changed: nodes are
    /// matched by id when POSITIONS has ids (JSON of a graph document), by index otherwise; nodes
    /// missing from it are new and start beside their neighbours; its extra ids are ignored.
    #[arg(long, value_name = "POSITIONS")]
    pub initial: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitsArg,
}

/// How positions are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PositionsFormat {
    /// `x y z` lines in node order.
    Txt,
    /// JSON: `{"nodes": [ids], "positions": [[x, y, z]]}` for documents, an array of
    /// positions for edge lists.
    Json,
}

// `orrery render`'s options.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Graph document or edge list.
    pub input: PathBuf,
    /// The PNG to write.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1280)]
    pub width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 720)]
    pub height: u32,
    /// Positions from `orrery layout` (default: lay out now).
    #[arg(long, value_name = "FILE")]
    pub positions: Option<PathBuf>,
    /// Seed of the layout when there are no positions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The colours.
    #[arg(long, value_enum, default_value_t = ThemeArg::Dark)]
    pub theme: ThemeArg,
    /// Flatten custom agents from DIR first.
    #[arg(long, value_name = "DIR")]
    pub agents: Option<PathBuf>,
    #[command(flatten)]
    pub limits: LimitsArg,
}

/// The renderer's themes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ThemeArg {
    /// Light nodes on a dark background.
    Dark,
    /// Dark nodes on a light background.
    Light,
}

impl ThemeArg {
    fn theme(self) -> orrery_render::Theme {
        match self {
            ThemeArg::Dark => orrery_render::Theme::dark(),
            ThemeArg::Light => orrery_render::Theme::light(),
        }
    }
}

/// What was read: a graph document (flattened when agents were given) or an edge list.
pub enum Input {
    /// A graph document.
    Document(Graph),
    /// `src dst` lines.
    EdgeList(LayoutGraph),
}

impl Input {
    /// The graph to lay out; an edge list is one already, and is not copied (at a million nodes
    /// a copy is tens of megabytes of the peak).
    fn layout_graph(&self) -> anyhow::Result<std::borrow::Cow<'_, LayoutGraph>> {
        match self {
            Input::Document(g) => Ok(std::borrow::Cow::Owned(
                orrery_render::document::layout_graph(g)?,
            )),
            Input::EdgeList(g) => Ok(std::borrow::Cow::Borrowed(g)),
        }
    }
}

/// The text of `path`, or a message when it is over `max_bytes` (checked before reading).
fn read_capped(path: &Path, max_bytes: usize) -> anyhow::Result<Result<String, String>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .len();
    if size > max_bytes as u64 {
        return Ok(Err(format!(
            "{} is {size} bytes, over the limit of {max_bytes} (raise --max-bytes)",
            path.display()
        )));
    }
    Ok(Ok(std::fs::read_to_string(path).with_context(|| {
        format!("cannot read {}", path.display())
    })?))
}

/// Reads INPUT: a JSON graph document (flattened with the agents in `agents`, if given) when it
/// starts with `{`, an edge list otherwise.
pub fn read_input(
    path: &Path,
    agents: Option<&Path>,
    max_bytes: usize,
) -> anyhow::Result<Result<Input, String>> {
    let text = match read_capped(path, max_bytes)? {
        Ok(text) => text,
        Err(message) => return Ok(Err(message)),
    };
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
pub fn layout(args: &LayoutArgs) -> anyhow::Result<ExitCode> {
    let (input, output) = (args.input.as_path(), args.output.as_path());
    let (agents, max_bytes) = (args.agents.as_deref(), args.limits.max_bytes);
    let (seed, iterations) = (args.seed, args.iterations);
    let json = args.format == PositionsFormat::Json;
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
    let initial = match &args.initial {
        Some(path) => match read_initial(path, &read, graph.node_count(), max_bytes)? {
            Ok(initial) => initial,
            Err(message) => return Ok(failure(&message)),
        },
        None => Vec::new(),
    };
    let positions = run_layout(&graph, seed, iterations, initial)?;
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
pub fn render(args: &RenderArgs) -> anyhow::Result<ExitCode> {
    let (input, output) = (args.input.as_path(), args.output.as_path());
    let (agents, max_bytes) = (args.agents.as_deref(), args.limits.max_bytes);
    let (width, height, seed) = (args.width, args.height, args.seed);
    let positions = args.positions.as_deref();
    let theme = args.theme.theme();
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
        None => run_layout(&graph, seed, None, Vec::new())?,
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

/// Reads the `--initial` positions of `graph`'s `nodes` nodes from `path`: an outer `Err` when
/// the file cannot be read, an inner one (a message) when its content is wrong.
fn read_initial(
    path: &Path,
    graph: &Input,
    nodes: usize,
    max_bytes: usize,
) -> anyhow::Result<Result<Vec<Option<[f32; 3]>>, String>> {
    let text = match read_capped(path, max_bytes)? {
        Ok(text) => text,
        Err(message) => return Ok(Err(message)),
    };
    Ok(match_initial(&text, graph, nodes).map_err(|e| format!("{}: {e}", path.display())))
}

/// Positions as `orrery layout` writes them: `x y z` lines, or JSON with node ids (a graph
/// document's) or without (an edge list's).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PositionsFile {
    nodes: Option<Vec<String>>,
    positions: Vec<[f64; 3]>,
}

/// One initial position per node of `graph` (`None` for new nodes), from the text of a positions
/// file; the error is a message for people.
fn match_initial(text: &str, graph: &Input, nodes: usize) -> Result<Vec<Option<[f32; 3]>>, String> {
    let (ids, positions) = if text.trim_start().starts_with('{') {
        let file: PositionsFile =
            serde_json::from_str(text).map_err(|e| format!("not a positions file: {e}"))?;
        let mut positions = Vec::with_capacity(file.positions.len());
        for (i, p) in file.positions.iter().enumerate() {
            let p = p.map(|v| v as f32);
            if !p.iter().all(|v| v.is_finite()) {
                return Err(format!("position {i} is not a finite `f32` triple"));
            }
            positions.push(p);
        }
        (file.nodes, positions)
    } else {
        (
            None,
            layout::parse_positions(text).map_err(|e| e.to_string())?,
        )
    };
    let Some(ids) = ids else {
        if positions.len() > nodes {
            return Err(format!(
                "{} positions for a graph of {nodes} nodes: without node ids (`--format json` \
                 of a graph document writes them) positions are matched by index",
                positions.len()
            ));
        }
        return Ok(positions.into_iter().map(Some).collect());
    };
    if ids.len() != positions.len() {
        return Err(format!(
            "{} node ids for {} positions",
            ids.len(),
            positions.len()
        ));
    }
    let Input::Document(document) = graph else {
        return Err(
            "its positions carry node ids, but an edge list's nodes are matched by \
                    index: use the positions of an edge list"
                .to_owned(),
        );
    };
    let mut given = std::collections::HashMap::with_capacity(ids.len());
    for (id, p) in ids.iter().zip(positions) {
        if given.insert(id.as_str(), p).is_some() {
            return Err(format!("node `{id}` has two positions"));
        }
    }
    Ok(document
        .nodes
        .iter()
        .map(|n| given.get(n.id.as_str()).copied())
        .collect())
}

fn run_layout(
    graph: &LayoutGraph,
    seed: u64,
    iterations: Option<usize>,
    initial: Vec<Option<[f32; 3]>>,
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
            initial,
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

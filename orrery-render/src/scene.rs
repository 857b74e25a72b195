//! The scene: what a picture shows, as plain data. [`Scene::build`] turns a neutral
//! [`SceneInput`] (positions from a layout, node kinds and degrees, edges, clusters) and a
//! [`Theme`] into sized, coloured nodes, edges, cluster halos and the few labels that matter.
//!
//! Invariants: no wgpu types here (the `gpu` module reads a `Scene`, never the reverse); a built
//! [`Scene`] has finite positions, positive radii and edges whose ends are nodes of the scene.

mod theme;

use std::collections::{BTreeMap, HashMap};

use crate::scene::theme::hsl;
pub(crate) use crate::scene::theme::mix;
pub use crate::scene::theme::{Palette, Srgba, Theme};

/// Everything building a scene or rendering one can fail with. It lives with the scene, the first
/// stage of drawing, so that the scene needn't know about the GPU: GPU causes are boxed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The layout gave a different number of positions than the graph has nodes.
    #[error("the scene has {positions} positions for {nodes} nodes")]
    PositionsMismatch {
        /// Number of positions given.
        positions: usize,
        /// Number of nodes given.
        nodes: usize,
    },
    /// A position is NaN or infinite.
    #[error("the position of node {node} is not finite")]
    NonFinitePosition {
        /// Index of the node.
        node: usize,
    },
    /// A coordinate is so large that distances between nodes would overflow.
    #[error("the position of node {node} is too far out: coordinates must lie within ±{max:e}")]
    PositionTooLarge {
        /// Index of the node.
        node: usize,
        /// The largest coordinate allowed.
        max: f32,
    },
    /// An edge names a node the scene does not have.
    #[error("edge {edge} refers to node {node}, but the scene has {nodes} nodes")]
    EdgeOutOfRange {
        /// Index of the edge.
        edge: usize,
        /// The node it names.
        node: u32,
        /// Number of nodes in the scene.
        nodes: usize,
    },
    /// More nodes than node ids can address.
    #[error("the scene has {nodes} nodes, more than the {max} a scene can hold")]
    TooManyNodes {
        /// Number of nodes given.
        nodes: usize,
        /// The most a scene can hold.
        max: usize,
    },
    /// An image side is zero or larger than the device can draw.
    #[error("an image of {width}x{height} pixels cannot be rendered: each side must be 1 to {max}")]
    InvalidSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
        /// Largest side the device supports.
        max: u32,
    },
    /// The multisample count is not one the device supports.
    #[error("{samples} samples per pixel are not supported (supported: {supported})")]
    InvalidSamples {
        /// Requested samples per pixel.
        samples: u32,
        /// The counts the device supports.
        supported: String,
    },
    /// The scene needs larger buffers than the device allows.
    #[error("the scene needs a {bytes}-byte buffer, more than the {max} bytes the device allows")]
    SceneTooLarge {
        /// Size of the largest buffer the scene needs.
        bytes: u64,
        /// The device's largest buffer.
        max: u64,
    },
    /// A pixel asked for lies outside the image.
    #[error("pixel ({x}, {y}) is outside the {width}x{height} image")]
    PixelOutOfRange {
        /// Column asked for.
        x: u32,
        /// Row asked for.
        y: u32,
        /// Image width.
        width: u32,
        /// Image height.
        height: u32,
    },
    /// No graphics adapter (GPU or software rasteriser) could be opened.
    #[error(
        "no graphics adapter found (backends tried: {backends}; adapters seen: {seen}); \
         without a GPU install Mesa's software drivers (mesa-vulkan-drivers, libegl-mesa0) \
         or set WGPU_BACKEND=gl"
    )]
    NoAdapter {
        /// The backends asked for (from `WGPU_BACKEND`, or all).
        backends: String,
        /// Every adapter that was found, usable or not, or `none`.
        seen: String,
    },
    /// An adapter was found, but opening a device on it failed.
    #[error("opening a device on adapter {adapter} failed")]
    RequestDevice {
        /// Name and backend of the adapter.
        adapter: String,
        /// What the driver said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The device rejected a command or ran out of memory while drawing.
    #[error("the graphics device failed while {doing}")]
    Gpu {
        /// What the renderer was doing.
        doing: &'static str,
        /// What the driver said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Encoding the image as PNG failed.
    #[error("encoding the image as png failed")]
    Png(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Nodes sampled to estimate the spacing of a layout.
const SPACING_SAMPLES: usize = 2000;

/// How a node is drawn, by what it is in the workflow. Unknown kinds are [`NodeStyleKind::Other`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum NodeStyleKind {
    /// A workflow input.
    Input,
    /// A workflow output.
    Output,
    /// An agent.
    Agent,
    /// A tool an agent calls.
    Tool,
    /// A prompt template.
    Prompt,
    /// A router that picks a branch.
    Router,
    /// A collapsed custom agent: drawn with a ring, like a planet.
    Subgraph,
    /// A note: small and quiet.
    Note,
    /// A relay that only passes data on: small.
    Relay,
    /// Anything else, such as the nodes of a plain edge list: coloured by degree.
    #[default]
    Other,
}

/// One node of the input: what it is, not where it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SceneNode {
    /// Its kind, which picks colour, size and shape.
    pub kind: NodeStyleKind,
    /// Number of edges at the node; larger nodes for larger degrees.
    pub degree: u32,
    /// The cluster (nested agent) it belongs to: any number, the same for nodes of one cluster.
    pub cluster: Option<u32>,
    /// Text to show beside the node if it is one of the few that get a label.
    pub label: Option<String>,
}

/// Everything a scene is built from, with no ties to graph documents.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SceneInput {
    /// One position a node, in node order (a layout's output).
    pub positions: Vec<[f32; 3]>,
    /// One entry a node.
    pub nodes: Vec<SceneNode>,
    /// Edges as pairs of node indices; direction does not matter to the picture.
    pub edges: Vec<[u32; 2]>,
}

/// A picture's content: sized and coloured nodes, edges, cluster halos and labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    nodes: Vec<Node>,
    edges: Vec<[u32; 2]>,
    clusters: Vec<Cluster>,
    labels: Vec<Label>,
    style: Style,
}

/// A node as drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Node {
    /// Centre, in layout units.
    pub position: [f32; 3],
    /// Radius, in layout units; always positive.
    pub radius: f32,
    /// Colour.
    pub colour: Srgba,
    /// Shape.
    pub shape: NodeShape,
}

/// The shape a node is drawn with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeShape {
    /// A shaded ball.
    #[default]
    Sphere,
    /// A ball with a tilted ring around it (collapsed custom agents).
    RingedSphere,
}

/// A group of nodes (a nested agent), drawn as a soft halo behind them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cluster {
    /// The cluster number the nodes carried in [`SceneNode::cluster`].
    pub id: u32,
    /// Centre of the halo.
    pub centre: [f32; 3],
    /// Radius of the halo.
    pub radius: f32,
    /// Colour of the halo; its alpha is the halo's opacity at the centre.
    pub colour: Srgba,
    /// Number of nodes in it.
    pub members: u32,
}

/// Text shown beside a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Index of the node.
    pub node: u32,
    /// The text.
    pub text: String,
}

/// Colours that apply to the whole picture, taken from the [`Theme`] and the scene's size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Style {
    /// Background at the centre.
    pub background: Srgba,
    /// Background at the corners.
    pub background_edge: Srgba,
    /// Edge colour; its alpha is already thinned for the number of edges.
    pub edge: Srgba,
    /// Share of the end nodes' colours in an edge's colour.
    pub edge_tint: f32,
    /// Label text colour.
    pub label: Srgba,
    /// Label outline colour.
    pub label_outline: Srgba,
    /// Fading of distant nodes into the background, 0 to 1.
    pub fog: f32,
    /// Ambient light, 0 to 1.
    pub ambient: f32,
    /// Highlight strength, 0 to 1.
    pub specular: f32,
}

impl NodeStyleKind {
    /// The kind named `name` as in graph documents (`agent`, `tool`, …); others are `Other`.
    pub fn from_name(name: &str) -> NodeStyleKind {
        match name {
            "input" => NodeStyleKind::Input,
            "output" => NodeStyleKind::Output,
            "agent" => NodeStyleKind::Agent,
            "tool" => NodeStyleKind::Tool,
            "prompt" => NodeStyleKind::Prompt,
            "router" => NodeStyleKind::Router,
            "subgraph" => NodeStyleKind::Subgraph,
            "note" => NodeStyleKind::Note,
            "relay" => NodeStyleKind::Relay,
            _ => NodeStyleKind::Other,
        }
    }

    /// Size of this kind's nodes relative to a plain node of the same degree.
    fn size_factor(self) -> f32 {
        match self {
            NodeStyleKind::Input | NodeStyleKind::Output => 1.3,
            NodeStyleKind::Subgraph => 1.2,
            NodeStyleKind::Agent => 1.15,
            NodeStyleKind::Note => 0.7,
            NodeStyleKind::Relay => 0.6,
            _ => 1.0,
        }
    }
}

impl SceneInput {
    /// A plain graph: every node [`NodeStyleKind::Other`], unlabelled, with its degree counted
    /// from `edges`. Edges that name missing nodes are kept, so that [`Scene::build`] reports them.
    pub fn from_edges(positions: Vec<[f32; 3]>, edges: Vec<[u32; 2]>) -> SceneInput {
        let mut nodes = vec![SceneNode::default(); positions.len()];
        for &[a, b] in &edges {
            for end in [a, b] {
                if let Some(node) = nodes.get_mut(end as usize) {
                    node.degree = node.degree.saturating_add(1);
                }
            }
        }
        SceneInput {
            positions,
            nodes,
            edges,
        }
    }
}

impl Scene {
    /// The most nodes a scene holds: node ids must fit in a `u32` with one value to spare.
    pub const MAX_NODES: usize = (u32::MAX - 1) as usize;

    /// The largest coordinate a position may have: squared distances must stay finite in `f32`.
    pub const MAX_COORDINATE: f32 = 1e18;

    /// Sizes, colours and labels the nodes of `input` with `theme`.
    ///
    /// Node radii scale with the typical distance between neighbouring nodes, so any layout scale
    /// gives the same picture, and shrink slowly as the graph grows.
    /// Fails on a positions/nodes count mismatch, a non-finite or huge position, or an edge to a
    /// missing node.
    pub fn build(input: &SceneInput, theme: &Theme) -> Result<Scene, RenderError> {
        validate(input)?;
        let positions = &input.positions;
        let scale = typical_spacing(positions);
        let max_degree = input.nodes.iter().map(|n| n.degree).max().unwrap_or(0);
        let degree_norm = (1.0 + max_degree as f32).ln().max(f32::MIN_POSITIVE);
        // Seen in projection, a 3D layout stacks about n^(1/3) nodes deep, so nodes shrink
        // slowly as the graph grows to keep its structure visible through them.
        let crowding = (30.0 / input.nodes.len().max(1) as f32)
            .powf(1.0 / 6.0)
            .min(1.0);

        let nodes: Vec<Node> = input
            .nodes
            .iter()
            .zip(positions)
            .map(|(node, &position)| {
                let weight = (1.0 + node.degree as f32).ln();
                let growth = (0.85 + 0.42 * weight).min(3.2);
                let radius = theme.node_size * scale * crowding * node.kind.size_factor() * growth;
                let emphasis = weight / degree_norm;
                let colour = match node.kind {
                    NodeStyleKind::Other => ramp(&theme.degree_ramp, emphasis),
                    kind => mix(theme.palette.colour(kind), theme.label, 0.2 * emphasis),
                };
                let shape = match node.kind {
                    NodeStyleKind::Subgraph => NodeShape::RingedSphere,
                    _ => NodeShape::Sphere,
                };
                Node {
                    position,
                    radius,
                    colour,
                    shape,
                }
            })
            .collect();

        let clusters = clusters(input, &nodes, theme);
        let labels = labels(input, theme.max_labels);
        // Many overlapping edges turn into a haze; thin them as the graph grows.
        let density = (1500.0 / input.edges.len().max(1) as f32)
            .sqrt()
            .clamp(0.12, 1.0);
        let mut edge = theme.edge;
        edge[3] = (f32::from(edge[3]) * density).round() as u8;
        let style = Style {
            background: theme.background,
            background_edge: theme.background_edge,
            edge,
            edge_tint: theme.edge_tint.clamp(0.0, 1.0),
            label: theme.label,
            label_outline: theme.label_outline,
            fog: theme.fog.clamp(0.0, 1.0),
            ambient: theme.ambient.clamp(0.0, 1.0),
            specular: theme.specular.clamp(0.0, 1.0),
        };
        Ok(Scene {
            nodes,
            edges: input.edges.clone(),
            clusters,
            labels,
            style,
        })
    }

    /// The nodes, in input order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The edges, as pairs of node indices.
    pub fn edges(&self) -> &[[u32; 2]] {
        &self.edges
    }

    /// Cluster halos, ordered by cluster id.
    pub fn clusters(&self) -> &[Cluster] {
        &self.clusters
    }

    /// The labels to show, most important first.
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// Picture-wide colours.
    pub fn style(&self) -> &Style {
        &self.style
    }

    /// Smallest and largest corner of the box around every node (radii included), or `None` for
    /// an empty scene.
    pub fn bounds(&self) -> Option<([f32; 3], [f32; 3])> {
        let first = self.nodes.first()?;
        let mut lo = first.position;
        let mut hi = first.position;
        for node in &self.nodes {
            for axis in 0..3 {
                lo[axis] = lo[axis].min(node.position[axis] - node.radius);
                hi[axis] = hi[axis].max(node.position[axis] + node.radius);
            }
        }
        Some((lo, hi))
    }
}

fn validate(input: &SceneInput) -> Result<(), RenderError> {
    let nodes = input.nodes.len();
    if input.positions.len() != nodes {
        return Err(RenderError::PositionsMismatch {
            positions: input.positions.len(),
            nodes,
        });
    }
    if nodes > Scene::MAX_NODES {
        return Err(RenderError::TooManyNodes {
            nodes,
            max: Scene::MAX_NODES,
        });
    }
    for (node, p) in input.positions.iter().enumerate() {
        if p.iter().any(|c| !c.is_finite()) {
            return Err(RenderError::NonFinitePosition { node });
        }
        if p.iter().any(|c| c.abs() > Scene::MAX_COORDINATE) {
            return Err(RenderError::PositionTooLarge {
                node,
                max: Scene::MAX_COORDINATE,
            });
        }
    }
    for (edge, &[a, b]) in input.edges.iter().enumerate() {
        if let Some(node) = [a, b].into_iter().find(|&end| end as usize >= nodes) {
            return Err(RenderError::EdgeOutOfRange { edge, node, nodes });
        }
    }
    Ok(())
}

/// The typical distance from a node to its nearest neighbour: the median over up to
/// [`SPACING_SAMPLES`] nodes, found with a grid. Edge lengths would be a worse guide: force
/// layouts stretch some edges far beyond the spacing of the crowd.
fn typical_spacing(positions: &[[f32; 3]]) -> f32 {
    let cell = box_spacing(positions);
    if positions.len() < 2 {
        return cell;
    }
    let key = |p: &[f32; 3]| p.map(|c| (c / cell).floor() as i64);
    let mut grid: HashMap<[i64; 3], Vec<u32>> = HashMap::new();
    for (i, p) in positions.iter().enumerate() {
        grid.entry(key(p)).or_default().push(i as u32);
    }
    let step = positions.len().div_ceil(SPACING_SAMPLES);
    let mut nearest: Vec<f32> = Vec::new();
    for i in (0..positions.len()).step_by(step) {
        let p = positions[i];
        let centre = key(&p);
        for reach in 1..=2i64 {
            let mut best = f32::INFINITY;
            for dx in -reach..=reach {
                for dy in -reach..=reach {
                    for dz in -reach..=reach {
                        let cell_key = [centre[0] + dx, centre[1] + dy, centre[2] + dz];
                        for &j in grid.get(&cell_key).map_or(&[][..], Vec::as_slice) {
                            let d = distance(p, positions[j as usize]);
                            if d > 0.0 && d < best {
                                best = d;
                            }
                        }
                    }
                }
            }
            if best.is_finite() {
                nearest.push(best);
                break;
            }
        }
    }
    if nearest.is_empty() {
        return cell;
    }
    let middle = nearest.len() / 2;
    let (_, median, _) = nearest.select_nth_unstable_by(middle, f32::total_cmp);
    *median
}

/// The side of the box each node would have if the nodes filled their bounds evenly; 1 when the
/// nodes have no extent.
fn box_spacing(positions: &[[f32; 3]]) -> f32 {
    let Some(first) = positions.first() else {
        return 1.0;
    };
    let (mut lo, mut hi) = (*first, *first);
    for p in positions {
        for axis in 0..3 {
            lo[axis] = lo[axis].min(p[axis]);
            hi[axis] = hi[axis].max(p[axis]);
        }
    }
    // Flat layouts have a zero-thick axis: spread the nodes over the axes that have extent.
    let extents: Vec<f64> = (0..3)
        .map(|a| f64::from(hi[a]) - f64::from(lo[a]))
        .filter(|&e| e > 0.0)
        .collect();
    if extents.is_empty() {
        return 1.0;
    }
    let volume: f64 = extents.iter().product();
    let spacing = (volume / positions.len() as f64).powf(1.0 / extents.len() as f64) as f32;
    if spacing.is_finite() && spacing > 0.0 {
        spacing
    } else {
        1.0
    }
}

/// One halo per cluster id, around the cluster's members.
fn clusters(input: &SceneInput, nodes: &[Node], theme: &Theme) -> Vec<Cluster> {
    let mut members: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (index, node) in input.nodes.iter().enumerate() {
        if let Some(cluster) = node.cluster {
            members.entry(cluster).or_default().push(index);
        }
    }
    members
        .into_iter()
        .enumerate()
        .map(|(order, (id, indices))| {
            let count = indices.len() as f32;
            let mut centre = [0.0f32; 3];
            let mut mean_radius = 0.0;
            for &i in &indices {
                for (c, p) in centre.iter_mut().zip(nodes[i].position) {
                    *c += p / count;
                }
                mean_radius += nodes[i].radius / count;
            }
            let distances: Vec<f32> = indices
                .iter()
                .map(|&i| distance(nodes[i].position, centre))
                .collect();
            let rms = (distances.iter().map(|d| d * d).sum::<f32>() / count).sqrt();
            let far = distances.iter().copied().fold(0.0, f32::max);
            // The halo hugs the bulk of the cluster: stray members should not blow it up over
            // its neighbours.
            let radius = far.min(1.4 * rms) + 2.0 * mean_radius;
            // Golden-ratio hues keep neighbouring cluster numbers apart in colour.
            let hue = 0.58 + order as f32 * 0.618_034;
            let mut colour = hsl(hue, theme.cluster_saturation, theme.cluster_lightness);
            colour[3] = (theme.cluster_alpha.clamp(0.0, 1.0) * 255.0).round() as u8;
            Cluster {
                id,
                centre,
                radius,
                colour,
                members: indices.len() as u32,
            }
        })
        .collect()
}

/// The labels worth showing: inputs and outputs first, then the best-connected nodes.
fn labels(input: &SceneInput, max: usize) -> Vec<Label> {
    let mut candidates: Vec<(u8, u32, usize)> = input
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.label.as_deref().is_some_and(|t| !t.trim().is_empty()))
        .map(|(i, n)| {
            let rank = match n.kind {
                NodeStyleKind::Input | NodeStyleKind::Output => 0,
                NodeStyleKind::Note => 2,
                _ => 1,
            };
            (rank, n.degree, i)
        })
        .collect();
    candidates.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    candidates
        .into_iter()
        .take(max)
        .map(|(_, _, i)| Label {
            node: i as u32,
            text: input.nodes[i]
                .label
                .as_deref()
                .unwrap_or_default()
                .trim()
                .to_owned(),
        })
        .collect()
}

/// A colour along a three-stop ramp, `t` from 0 to 1.
fn ramp(stops: &[Srgba; 3], t: f32) -> Srgba {
    if t < 0.5 {
        mix(stops[0], stops[1], t * 2.0)
    } else {
        mix(stops[1], stops[2], t * 2.0 - 1.0)
    }
}

fn distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: NodeStyleKind, degree: u32, label: Option<&str>) -> SceneNode {
        SceneNode {
            kind,
            degree,
            cluster: None,
            label: label.map(str::to_owned),
        }
    }

    #[test]
    fn node_sizes_do_not_depend_on_the_layout_scale() {
        let input = SceneInput::from_edges(
            vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]],
            vec![[0, 1], [0, 2]],
        );
        let mut scaled = input.clone();
        for p in &mut scaled.positions {
            *p = p.map(|c| c * 100.0);
        }
        let small = Scene::build(&input, &Theme::dark()).unwrap();
        let large = Scene::build(&scaled, &Theme::dark()).unwrap();
        for (a, b) in small.nodes().iter().zip(large.nodes()) {
            assert!((b.radius / a.radius - 100.0).abs() < 1e-3, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn better_connected_nodes_are_larger() {
        let input = SceneInput::from_edges(
            vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            vec![[0, 1], [0, 2], [0, 3]],
        );
        let scene = Scene::build(&input, &Theme::dark()).unwrap();
        assert!(scene.nodes()[0].radius > scene.nodes()[1].radius);
        assert!(scene.nodes().iter().all(|n| n.radius > 0.0));
    }

    #[test]
    fn labels_go_to_inputs_and_outputs_first_then_to_hubs() {
        let input = SceneInput {
            positions: vec![[0.0; 3]; 5],
            nodes: vec![
                node(NodeStyleKind::Agent, 1, Some("leaf")),
                node(NodeStyleKind::Agent, 9, Some("hub")),
                node(NodeStyleKind::Output, 1, Some("out")),
                node(NodeStyleKind::Tool, 5, None),
                node(NodeStyleKind::Input, 1, Some("  in  ")),
            ],
            edges: vec![],
        };
        let theme = Theme {
            max_labels: 3,
            ..Theme::dark()
        };
        let scene = Scene::build(&input, &theme).unwrap();
        let texts: Vec<&str> = scene.labels().iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["out", "in", "hub"]);
    }

    #[test]
    fn each_cluster_gets_one_halo_around_its_members() {
        let mut input = SceneInput::from_edges(
            vec![
                [0.0; 3],
                [2.0, 0.0, 0.0],
                [10.0, 0.0, 0.0],
                [12.0, 0.0, 0.0],
                [5.0, 5.0, 5.0],
            ],
            vec![[0, 1], [2, 3]],
        );
        for (node, cluster) in
            input
                .nodes
                .iter_mut()
                .zip([Some(7), Some(7), Some(3), Some(3), None])
        {
            node.cluster = cluster;
        }
        let scene = Scene::build(&input, &Theme::dark()).unwrap();
        let clusters = scene.clusters();
        assert_eq!(
            clusters
                .iter()
                .map(|c| (c.id, c.members))
                .collect::<Vec<_>>(),
            [(3, 2), (7, 2)]
        );
        assert_eq!(clusters[0].centre, [11.0, 0.0, 0.0]);
        assert!(clusters[0].radius > 1.0);
        assert_ne!(clusters[0].colour, clusters[1].colour);
    }

    #[test]
    fn subgraph_nodes_are_ringed() {
        let input = SceneInput {
            positions: vec![[0.0; 3], [1.0, 0.0, 0.0]],
            nodes: vec![
                node(NodeStyleKind::Subgraph, 1, None),
                node(NodeStyleKind::from_name("what"), 1, None),
            ],
            edges: vec![[0, 1]],
        };
        let scene = Scene::build(&input, &Theme::light()).unwrap();
        assert_eq!(scene.nodes()[0].shape, NodeShape::RingedSphere);
        assert_eq!(scene.nodes()[1].shape, NodeShape::Sphere);
    }

    #[test]
    fn many_edges_are_drawn_fainter() {
        let few = SceneInput::from_edges(vec![[0.0; 3], [1.0, 0.0, 0.0]], vec![[0, 1]]);
        let many = SceneInput::from_edges(vec![[0.0; 3], [1.0, 0.0, 0.0]], vec![[0, 1]; 20_000]);
        let alpha =
            |input: &SceneInput| Scene::build(input, &Theme::dark()).unwrap().style().edge[3];
        assert!(alpha(&many) < alpha(&few) / 2);
    }
}

//! Colour themes: the dark default and a light one. A [`Theme`] is plain data; every field may be
//! changed, and [`Scene::build`](crate::scene::Scene::build) reads it once.

use crate::scene::NodeStyleKind;

/// An sRGB colour with straight (not premultiplied) alpha, one byte a channel.
pub type Srgba = [u8; 4];

/// Colours and proportions of a picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    /// A short name (`dark`, `light`), for messages and file names.
    pub name: &'static str,
    /// Background at the centre of the picture.
    pub background: Srgba,
    /// Background at the corners: a soft vignette towards this colour.
    pub background_edge: Srgba,
    /// Node colour for each kind.
    pub palette: Palette,
    /// Colours of nodes of kind [`NodeStyleKind::Other`] (plain graphs), from the lowest degree
    /// through the middle to the highest.
    pub degree_ramp: [Srgba; 3],
    /// Edge colour; its alpha is the opacity of an edge in a small graph (large graphs thin it).
    pub edge: Srgba,
    /// How much of its end nodes' colours an edge takes on, from 0 (plain [`Theme::edge`]) to 1.
    pub edge_tint: f32,
    /// Label text colour.
    pub label: Srgba,
    /// Outline drawn around label text so it reads over nodes and edges.
    pub label_outline: Srgba,
    /// Opacity of the halo behind a cluster (nested agent) at its densest.
    pub cluster_alpha: f32,
    /// Saturation of cluster halos, 0 (grey) to 1.
    pub cluster_saturation: f32,
    /// Lightness of cluster halos, 0 (black) to 1 (white).
    pub cluster_lightness: f32,
    /// Node radius as a share of the typical distance between neighbouring nodes (in a graph of
    /// up to 30 nodes; larger graphs get smaller nodes).
    pub node_size: f32,
    /// How many labels a picture shows at most.
    pub max_labels: usize,
    /// How far distant nodes fade into the background, 0 (not at all) to 1 (completely).
    pub fog: f32,
    /// Light that reaches every side of a node, 0 to 1.
    pub ambient: f32,
    /// Strength of the highlight on nodes, 0 to 1.
    pub specular: f32,
}

/// A node colour for each [`NodeStyleKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // One field a kind, named like it.
pub struct Palette {
    pub input: Srgba,
    pub output: Srgba,
    pub agent: Srgba,
    pub tool: Srgba,
    pub prompt: Srgba,
    pub router: Srgba,
    pub subgraph: Srgba,
    pub note: Srgba,
    pub relay: Srgba,
    pub other: Srgba,
}

impl Theme {
    /// Deep navy background, saturated nodes: the default.
    pub fn dark() -> Theme {
        Theme {
            name: "dark",
            background: rgb(0x1a1f2e),
            background_edge: rgb(0x07090f),
            palette: Palette {
                input: rgb(0x4ade80),
                output: rgb(0xfb7185),
                agent: rgb(0x60a5fa),
                tool: rgb(0xfbbf24),
                prompt: rgb(0xc084fc),
                router: rgb(0x22d3ee),
                subgraph: rgb(0xf472b6),
                note: rgb(0x94a3b8),
                relay: rgb(0x2dd4bf),
                other: rgb(0x93c5fd),
            },
            degree_ramp: [rgb(0x3b82c4), rgb(0x8b7cf6), rgb(0xffb454)],
            edge: [0x9a, 0xa8, 0xc8, 0x8c],
            edge_tint: 0.45,
            label: rgb(0xf1f5f9),
            label_outline: rgb(0x05070c),
            cluster_alpha: 0.14,
            cluster_saturation: 0.55,
            cluster_lightness: 0.62,
            node_size: 0.2,
            max_labels: 12,
            fog: 0.3,
            ambient: 0.38,
            specular: 0.35,
        }
    }

    /// Paper-white background, deeper node colours.
    pub fn light() -> Theme {
        Theme {
            name: "light",
            background: rgb(0xfbfcfe),
            background_edge: rgb(0xdde3ec),
            palette: Palette {
                input: rgb(0x16a34a),
                output: rgb(0xe11d48),
                agent: rgb(0x2563eb),
                tool: rgb(0xd97706),
                prompt: rgb(0x9333ea),
                router: rgb(0x0891b2),
                subgraph: rgb(0xdb2777),
                note: rgb(0x64748b),
                relay: rgb(0x0d9488),
                other: rgb(0x3b82f6),
            },
            degree_ramp: [rgb(0x2f6db5), rgb(0x7c3aed), rgb(0xea580c)],
            edge: [0x47, 0x55, 0x69, 0x80],
            edge_tint: 0.35,
            label: rgb(0x0f172a),
            label_outline: rgb(0xffffff),
            cluster_alpha: 0.22,
            cluster_saturation: 0.6,
            cluster_lightness: 0.5,
            node_size: 0.2,
            max_labels: 12,
            fog: 0.3,
            ambient: 0.5,
            specular: 0.3,
        }
    }

    /// The theme called `name` (`dark` or `light`), if there is one.
    pub fn by_name(name: &str) -> Option<Theme> {
        match name {
            "dark" => Some(Theme::dark()),
            "light" => Some(Theme::light()),
            _ => None,
        }
    }
}

impl Default for Theme {
    fn default() -> Theme {
        Theme::dark()
    }
}

impl Palette {
    /// The colour of nodes of `kind`.
    pub fn colour(&self, kind: NodeStyleKind) -> Srgba {
        match kind {
            NodeStyleKind::Input => self.input,
            NodeStyleKind::Output => self.output,
            NodeStyleKind::Agent => self.agent,
            NodeStyleKind::Tool => self.tool,
            NodeStyleKind::Prompt => self.prompt,
            NodeStyleKind::Router => self.router,
            NodeStyleKind::Subgraph => self.subgraph,
            NodeStyleKind::Note => self.note,
            NodeStyleKind::Relay => self.relay,
            NodeStyleKind::Other => self.other,
        }
    }
}

/// Blends two colours in sRGB space: `t = 0` gives `a`, `t = 1` gives `b`.
pub(crate) fn mix(a: Srgba, b: Srgba, t: f32) -> Srgba {
    let t = t.clamp(0.0, 1.0);
    std::array::from_fn(|i| {
        (f32::from(a[i]) + (f32::from(b[i]) - f32::from(a[i])) * t).round() as u8
    })
}

/// A colour from its hue (0 to 1), saturation and lightness (HSL), opaque.
pub(crate) fn hsl(hue: f32, saturation: f32, lightness: f32) -> Srgba {
    let c = (1.0 - (2.0 * lightness - 1.0).abs()) * saturation;
    let h = hue.rem_euclid(1.0) * 6.0;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = lightness - c / 2.0;
    let byte = |v: f32| ((v + m).clamp(0.0, 1.0) * 255.0).round() as u8;
    [byte(r), byte(g), byte(b), 255]
}

const fn rgb(hex: u32) -> Srgba {
    [(hex >> 16) as u8, (hex >> 8) as u8, hex as u8, 255]
}

//! Labels: where each label goes, and the glyph quads that draw it with the [`Font`] atlas. A
//! label tries a few places around its node (right, left, above, below, then the diagonals) and
//! takes the first that stays in the frame and covers neither a drawn node nor a label placed
//! before it; a label with no such place is left out. Labels come most important first.

use bytemuck::{Pod, Zeroable};
use glam::{Mat4, Vec3, Vec4Swizzles};

use crate::gpu::camera::Camera;
use crate::gpu::font::{Font, Line};
use crate::scene::{NodeShape, Scene};

/// Longest label, in characters; longer ones end in an ellipsis.
const MAX_CHARS: usize = 28;
/// Pixels between a node's disc and its label.
const GAP: f32 = 3.0;
/// Pixels kept clear around a label, towards other labels and the image border.
const LABEL_PAD: f32 = 2.0;
/// Pixels kept clear between a label and any node's disc.
const NODE_PAD: f32 = 1.0;
/// Side of a cell of the grid that finds the node discs near a label, in pixels.
const CELL: f32 = 16.0;
/// Nodes never shrink below this radius in pixels (as in `nodes.wgsl`).
const MIN_PIXELS: f32 = 0.9;
/// How far the ring of a ringed node reaches, in radii (as in `nodes.wgsl`).
const RING_REACH: f32 = 1.85 * 1.05;

/// One glyph quad, as the labels shader reads it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct GlyphInstance {
    /// Top-left corner, then width and height, in whole pixels.
    place: [f32; 4],
    /// Top-left texel in the atlas, pass (0 outline, 1 letter), unused.
    glyph: [u32; 4],
}

/// A label that found a place.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Placed {
    /// Index of the labelled node.
    pub(crate) node: u32,
    /// The pixels the label covers, outline included: left, top, right, bottom.
    pub(crate) rect: [f32; 4],
    /// The line's top-left corner, in whole pixels.
    origin: [f32; 2],
    line: Line,
}

/// A node as the image shows it: a disc, in pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Disc {
    pub(crate) centre: [f32; 2],
    pub(crate) radius: f32,
}

/// Places the scene's labels (see the module documentation).
pub(crate) fn place(scene: &Scene, camera: &Camera, font: &Font) -> Vec<Placed> {
    if scene.labels().is_empty() {
        return Vec::new();
    }
    let (width, height) = camera.size();
    let (width, height) = (width as f32, height as f32);
    let discs = discs(scene, camera);
    let grid = Grid::new(&discs, width, height);
    let mut placed: Vec<Placed> = Vec::new();
    for label in scene.labels() {
        let Some(anchor) = discs.get(label.node as usize).copied().flatten() else {
            continue;
        };
        let [px, py] = anchor.centre;
        if px < 0.0 || py < 0.0 || px > width || py > height {
            continue;
        }
        let line = font.set(&clip(&label.text));
        let bounds = bounds(&line, font);
        let (w, h) = (bounds[2] - bounds[0], bounds[3] - bounds[1]);
        let r = anchor.radius + GAP;
        let d = anchor.radius * std::f32::consts::FRAC_1_SQRT_2 + GAP;
        // Top-left corners of the label's box, in order of preference.
        let candidates = [
            [px + r, py - h / 2.0],
            [px - r - w, py - h / 2.0],
            [px - w / 2.0, py - r - h],
            [px - w / 2.0, py + r],
            [px + d, py - d - h],
            [px + d, py + d],
            [px - d - w, py - d - h],
            [px - d - w, py + d],
        ];
        let fits = |rect: &[f32; 4]| {
            rect[0] >= LABEL_PAD
                && rect[1] >= LABEL_PAD
                && rect[2] <= width - LABEL_PAD
                && rect[3] <= height - LABEL_PAD
                && !placed.iter().any(|p| overlaps(&p.rect, rect, LABEL_PAD))
                && !grid.any_disc_touches(&discs, rect, NODE_PAD)
        };
        let found = candidates.into_iter().find_map(|[x, y]| {
            let (x, y) = (x.round(), y.round());
            let rect = [x, y, x + w, y + h];
            fits(&rect).then_some(rect)
        });
        let Some(rect) = found else {
            continue;
        };
        placed.push(Placed {
            node: label.node,
            rect,
            origin: [rect[0] - bounds[0], rect[1] - bounds[1]],
            line,
        });
    }
    placed
}

/// Glyph quads for placed labels: every outline first, then every letter, so that no outline
/// covers a neighbouring letter.
pub(crate) fn glyphs(placed: &[Placed]) -> Vec<GlyphInstance> {
    let quads = |pass: u32| {
        placed.iter().flat_map(move |p| {
            p.line.glyphs.iter().map(move |g| GlyphInstance {
                place: [
                    p.origin[0] + g.at[0] as f32,
                    p.origin[1] + g.at[1] as f32,
                    g.glyph.size[0] as f32,
                    g.glyph.size[1] as f32,
                ],
                glyph: [g.glyph.atlas[0], g.glyph.atlas[1], pass, 0],
            })
        })
    };
    quads(0).chain(quads(1)).collect()
}

/// The disc each node covers in the image, or `None` behind the camera, in node order.
pub(crate) fn discs(scene: &Scene, camera: &Camera) -> Vec<Option<Disc>> {
    let (width, height) = camera.size();
    let view_proj: Mat4 = camera.proj() * camera.view();
    let view = camera.view();
    // Pixels a unit of length spans at unit depth.
    let focal = camera.proj().y_axis.y * height as f32 / 2.0;
    scene
        .nodes()
        .iter()
        .map(|node| {
            let p = Vec3::from(node.position).extend(1.0);
            let clip = view_proj * p;
            let depth = -(view * p).z;
            if clip.w <= 0.0 || depth <= 0.0 {
                return None;
            }
            let ndc = clip.xy() / clip.w;
            let mut radius = (node.radius * focal / depth).max(MIN_PIXELS);
            if node.shape == NodeShape::RingedSphere {
                radius *= RING_REACH;
            }
            Some(Disc {
                centre: [
                    (ndc.x + 1.0) / 2.0 * width as f32,
                    (1.0 - ndc.y) / 2.0 * height as f32,
                ],
                radius,
            })
        })
        .collect()
}

/// Node discs by the grid cells they touch, so that a label checks only the nodes near it.
struct Grid {
    columns: usize,
    rows: usize,
    /// Disc indices of each cell, row by row.
    cells: Vec<Vec<u32>>,
}

impl Grid {
    fn new(discs: &[Option<Disc>], width: f32, height: f32) -> Grid {
        let columns = (width / CELL).ceil().max(1.0) as usize;
        let rows = (height / CELL).ceil().max(1.0) as usize;
        let mut cells = vec![Vec::new(); columns * rows];
        for (i, disc) in discs.iter().enumerate() {
            let Some(disc) = disc else { continue };
            let Some([x0, y0, x1, y1]) = Grid::span(disc, columns, rows, NODE_PAD) else {
                continue;
            };
            for row in y0..=y1 {
                for column in x0..=x1 {
                    cells[row * columns + column].push(i as u32);
                }
            }
        }
        Grid {
            columns,
            rows,
            cells,
        }
    }

    /// Whether any disc comes within `pad` pixels of `rect`.
    fn any_disc_touches(&self, discs: &[Option<Disc>], rect: &[f32; 4], pad: f32) -> bool {
        let cell = |v: f32, cells: usize| ((v / CELL).floor().max(0.0) as usize).min(cells - 1);
        let (x0, x1) = (cell(rect[0], self.columns), cell(rect[2], self.columns));
        let (y0, y1) = (cell(rect[1], self.rows), cell(rect[3], self.rows));
        (y0..=y1).any(|row| {
            (x0..=x1).any(|column| {
                self.cells[row * self.columns + column]
                    .iter()
                    .filter_map(|&i| discs[i as usize])
                    .any(|disc| disc_touches(&disc, rect, pad))
            })
        })
    }

    /// The cells a disc grown by `pad` touches, or `None` if it is outside the image.
    fn span(disc: &Disc, columns: usize, rows: usize, pad: f32) -> Option<[usize; 4]> {
        let r = disc.radius + pad;
        let [cx, cy] = disc.centre;
        let (right, bottom) = (columns as f32 * CELL, rows as f32 * CELL);
        if cx + r < 0.0 || cy + r < 0.0 || cx - r > right || cy - r > bottom {
            return None;
        }
        let cell = |v: f32, cells: usize| ((v / CELL).floor().max(0.0) as usize).min(cells - 1);
        Some([
            cell(cx - r, columns),
            cell(cy - r, rows),
            cell(cx + r, columns),
            cell(cy + r, rows),
        ])
    }
}

/// Whether `disc` grown by `pad` pixels overlaps `rect` (left, top, right, bottom).
pub(crate) fn disc_touches(disc: &Disc, rect: &[f32; 4], pad: f32) -> bool {
    let [cx, cy] = disc.centre;
    let dx = cx - cx.clamp(rect[0], rect[2]);
    let dy = cy - cy.clamp(rect[1], rect[3]);
    let r = disc.radius + pad;
    dx * dx + dy * dy < r * r
}

/// Whether two rectangles come within `pad` pixels of each other.
pub(crate) fn overlaps(a: &[f32; 4], b: &[f32; 4], pad: f32) -> bool {
    a[0] < b[2] + pad && b[0] < a[2] + pad && a[1] < b[3] + pad && b[1] < a[3] + pad
}

/// What a set line covers relative to its top-left corner, outline included: left, top, right,
/// bottom. Spaces-only text covers the line box.
fn bounds(line: &Line, font: &Font) -> [f32; 4] {
    let mut b = [0.0, 0.0, line.width, font.line_height()];
    for g in &line.glyphs {
        b[0] = b[0].min(g.at[0] as f32);
        b[1] = b[1].min(g.at[1] as f32);
        b[2] = b[2].max((g.at[0] + g.glyph.size[0] as i32) as f32);
        b[3] = b[3].max((g.at[1] + g.glyph.size[1] as i32) as f32);
    }
    b
}

fn clip(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_CHARS {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_CHARS - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::{NodeStyleKind, SceneInput, SceneNode, Theme};

    /// A ball of `n` labelled nodes, every one asking for a label.
    fn crowded(n: usize) -> Scene {
        let mut state = 12345u32;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as f32 / u32::MAX as f32 - 0.5
        };
        let positions: Vec<[f32; 3]> = (0..n)
            .map(|_| [random() * 20.0, random() * 12.0, random() * 8.0])
            .collect();
        let nodes = (0..n)
            .map(|i| SceneNode {
                kind: if i % 5 == 0 {
                    NodeStyleKind::Subgraph
                } else {
                    NodeStyleKind::Agent
                },
                degree: (i % 4) as u32,
                cluster: None,
                label: Some(format!("node {i} AVAToyo")),
            })
            .collect();
        let theme = Theme {
            max_labels: n,
            ..Theme::dark()
        };
        Scene::build(
            &SceneInput {
                positions,
                nodes,
                edges: Vec::new(),
            },
            &theme,
        )
        .expect("scene")
    }

    #[test]
    fn labels_never_cover_a_node_or_another_label() {
        let scene = crowded(150);
        for (width, height) in [(480, 320), (1280, 720)] {
            let camera = Camera::fit(&scene, width, height);
            let font = Font::new(14.0);
            let placed = place(&scene, &camera, &font);
            assert!(
                placed.len() >= 5,
                "only {} labels at {width}x{height}",
                placed.len()
            );
            assert!(
                placed.len() < 150,
                "every label fitted: the scene is not crowded"
            );
            let discs = discs(&scene, &camera);
            for (i, p) in placed.iter().enumerate() {
                for disc in discs.iter().flatten() {
                    assert!(!disc_touches(disc, &p.rect, 0.0), "{p:?} covers {disc:?}");
                }
                for q in &placed[..i] {
                    assert!(!overlaps(&p.rect, &q.rect, 0.0), "{p:?} overlaps {q:?}");
                }
                assert!(p.rect[0] >= 0.0 && p.rect[2] <= width as f32);
                assert!(p.rect[1] >= 0.0 && p.rect[3] <= height as f32);
            }
        }
    }

    #[test]
    fn a_label_beside_a_lone_node_goes_to_its_right_and_its_glyphs_inside_its_box() {
        let scene = Scene::build(
            &SceneInput {
                positions: vec![[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]],
                nodes: vec![
                    SceneNode {
                        label: Some("Tool".to_owned()),
                        ..SceneNode::default()
                    },
                    SceneNode::default(),
                ],
                edges: Vec::new(),
            },
            &Theme::dark(),
        )
        .unwrap();
        let camera = Camera::fit(&scene, 480, 320);
        let font = Font::new(14.0);
        let placed = place(&scene, &camera, &font);
        assert_eq!(placed.len(), 1);
        let disc = discs(&scene, &camera)[0].unwrap();
        let rect = placed[0].rect;
        assert!(rect[0] > disc.centre[0] + disc.radius, "{rect:?} {disc:?}");
        assert!(rect[1] < disc.centre[1] && rect[3] > disc.centre[1]);
        let quads = glyphs(&placed);
        assert_eq!(quads.len(), 2 * 4, "an outline and a letter a glyph");
        for q in &quads {
            let [x, y, w, h] = q.place;
            assert_eq!(
                [x.fract(), y.fract()],
                [0.0, 0.0],
                "glyphs sit on whole pixels"
            );
            assert!(x >= rect[0] && y >= rect[1] && x + w <= rect[2] && y + h <= rect[3]);
        }
    }

    #[test]
    fn long_labels_end_in_an_ellipsis() {
        assert_eq!(clip("  short  "), "short");
        let long = clip(&"x".repeat(40));
        assert_eq!(long.chars().count(), MAX_CHARS);
        assert!(long.ends_with('…'));
    }
}

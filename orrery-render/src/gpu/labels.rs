//! Labels: the glyph atlas of the built-in 8x8 bitmap font (ASCII and Latin-1, from `font8x8`)
//! and the placement of label text beside its node, skipping labels that would overlap.

use bytemuck::{Pod, Zeroable};
use font8x8::legacy::{BASIC_LEGACY, LATIN_LEGACY};

use crate::gpu::camera::Camera;
use crate::scene::Scene;

/// Texels a glyph cell has on a side: the 8x8 letter and a 1-texel border for its outline.
const CELL: u32 = 10;
/// Glyph cells in a row of the atlas.
const COLUMNS: u32 = 16;
/// Glyphs in the atlas: 128 ASCII, then U+00A0 to U+00FF.
const GLYPHS: u32 = 128 + 96;
/// Atlas size in texels.
pub(crate) const ATLAS_WIDTH: u32 = COLUMNS * CELL;
pub(crate) const ATLAS_HEIGHT: u32 = GLYPHS.div_ceil(COLUMNS) * CELL;
/// Longest label, in characters; longer ones end in `..`.
const MAX_CHARS: usize = 28;

/// One glyph quad, as the labels shader reads it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct GlyphInstance {
    /// Top-left corner in pixels, pixels per font texel, unused.
    place: [f32; 4],
    /// Atlas column, atlas row, pass (0 outline, 1 letter), unused.
    glyph: [u32; 4],
}

/// The atlas as two-channel texels: letter coverage and outline coverage.
pub(crate) fn atlas() -> Vec<u8> {
    let (width, height) = (ATLAS_WIDTH as usize, ATLAS_HEIGHT as usize);
    let mut letters = vec![false; width * height];
    for glyph in 0..GLYPHS as usize {
        let rows = if glyph < 128 {
            BASIC_LEGACY[glyph]
        } else {
            LATIN_LEGACY[glyph - 128]
        };
        let (cx, cy) = cell_origin(glyph as u32);
        for (y, row) in rows.iter().enumerate() {
            for x in 0..8 {
                // font8x8 keeps the leftmost pixel in the lowest bit.
                if row >> x & 1 == 1 {
                    letters[(cy as usize + 1 + y) * width + cx as usize + 1 + x] = true;
                }
            }
        }
    }
    let mut texels = vec![0u8; width * height * 2];
    for y in 0..height {
        for x in 0..width {
            let letter = letters[y * width + x];
            let near = (y.saturating_sub(1)..=(y + 1).min(height - 1)).any(|ny| {
                (x.saturating_sub(1)..=(x + 1).min(width - 1)).any(|nx| letters[ny * width + nx])
            });
            texels[(y * width + x) * 2] = if letter { 255 } else { 0 };
            texels[(y * width + x) * 2 + 1] = if near { 255 } else { 0 };
        }
    }
    texels
}

/// Glyph quads for the scene's labels, outlines first: each label sits to the right of its node
/// (to the left near the right border), and a label that would overlap one placed before it, or
/// whose node is out of the frame, is left out.
pub(crate) fn place(scene: &Scene, camera: &Camera) -> Vec<GlyphInstance> {
    let (width, height) = camera.size();
    let scale = match height {
        0..400 => 1.0,
        400..1400 => 2.0,
        _ => 3.0,
    };
    let advance = 8.0 * scale;
    let mut placed: Vec<[f32; 4]> = Vec::new();
    let mut outlines = Vec::new();
    let mut letters = Vec::new();
    for label in scene.labels() {
        let Some(node) = scene.nodes().get(label.node as usize) else {
            continue;
        };
        let Some([px, py]) = camera.project(node.position) else {
            continue;
        };
        if px < 0.0 || py < 0.0 || px > width as f32 || py > height as f32 {
            continue;
        }
        let text = clip(&label.text);
        let chars = text.chars().count() as f32;
        let text_width = chars * advance;
        let gap = camera.pixel_radius(node.position, node.radius) + 3.0 * scale;
        let mut x = px + gap;
        if x + text_width > width as f32 - 2.0 {
            x = px - gap - text_width;
        }
        let x = x
            .clamp(2.0, (width as f32 - text_width - 2.0).max(2.0))
            .round();
        let y = (py - 4.0 * scale)
            .clamp(2.0, (height as f32 - advance - 2.0).max(2.0))
            .round();
        let rect = [
            x - scale,
            y - scale,
            x + text_width + scale,
            y + advance + scale,
        ];
        if placed.iter().any(|r| overlaps(r, &rect)) {
            continue;
        }
        placed.push(rect);
        for (i, c) in text.chars().enumerate() {
            let (column, row) = cell_origin(glyph_index(c));
            let place = [x + i as f32 * advance - scale, y - scale, scale, 0.0];
            let glyph = [column / CELL, row / CELL, 0, 0];
            outlines.push(GlyphInstance { place, glyph });
            letters.push(GlyphInstance {
                place,
                glyph: [glyph[0], glyph[1], 1, 0],
            });
        }
    }
    outlines.extend(letters);
    outlines
}

/// The atlas glyph for `c`: ASCII and Latin-1 as themselves, anything else as `?`.
fn glyph_index(c: char) -> u32 {
    match c as u32 {
        code @ 0x20..0x7f => code,
        code @ 0xa0..=0xff => 128 + code - 0xa0,
        _ => u32::from(b'?'),
    }
}

/// Top-left texel of a glyph's cell in the atlas.
fn cell_origin(glyph: u32) -> (u32, u32) {
    ((glyph % COLUMNS) * CELL, (glyph / COLUMNS) * CELL)
}

fn clip(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_CHARS {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_CHARS - 2).collect();
    short.push_str("..");
    short
}

fn overlaps(a: &[f32; 4], b: &[f32; 4]) -> bool {
    const PAD: f32 = 2.0;
    a[0] < b[2] + PAD && b[0] < a[2] + PAD && a[1] < b[3] + PAD && b[1] < a[3] + PAD
}

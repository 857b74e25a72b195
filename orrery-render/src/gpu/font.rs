//! The label font: DejaVu Sans (a Latin-1 subset embedded from `fonts/`, licence beside it),
//! rasterised once a renderer into a glyph atlas at the one pixel size its labels use, so that a
//! glyph is copied texel for texel to whole pixels and stays crisp. Pen positions follow the
//! font's advances and kerning pairs.

use ab_glyph::{Font as _, FontRef, GlyphId, PxScale, ScaleFont as _, point};

/// DejaVu Sans, printable ASCII, U+00A0 to U+00FF and the ellipsis; see `fonts/README.md`.
const FONT_DATA: &[u8] = include_bytes!("../../fonts/DejaVuSans-Latin1.ttf");
/// Atlas width in texels; the height follows from the glyphs.
const ATLAS_WIDTH: u32 = 256;
/// Texels of room around each glyph for its outline, which reaches this far.
const PAD: u32 = 2;
/// Outline radius in pixels: full strength up to it, fading out over the next pixel.
const OUTLINE: f32 = 1.2;

/// A glyph atlas and the metrics to set text with it, for one pixel size.
pub(crate) struct Font {
    face: FontRef<'static>,
    scale: PxScale,
    width: u32,
    height: u32,
    /// Two channels a texel: letter coverage, then outline coverage.
    texels: Vec<u8>,
    /// Atlas entries, by `char` for U+0000 to U+00FF, then the ellipsis.
    glyphs: Vec<Option<AtlasGlyph>>,
    fallback: AtlasGlyph,
}

/// Where a glyph's image lies in the atlas and how it sits on the pen position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct AtlasGlyph {
    id: GlyphId,
    /// Top-left texel of the padded image in the atlas.
    pub(crate) atlas: [u32; 2],
    /// Size of the padded image in texels (and pixels: the atlas is drawn 1:1).
    pub(crate) size: [u32; 2],
    /// Offset from the pen position (on the top of the line) to the image's top-left, in whole
    /// pixels.
    pub(crate) offset: [i32; 2],
}

/// One glyph of a set line: its image and where its top-left goes, relative to the line's
/// top-left, in whole pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct SetGlyph {
    pub(crate) glyph: AtlasGlyph,
    pub(crate) at: [i32; 2],
}

/// A line of text set with a [`Font`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Line {
    pub(crate) glyphs: Vec<SetGlyph>,
    /// Width of the ink and outline, from the line's left edge, in pixels.
    pub(crate) width: f32,
}

impl Font {
    /// The atlas for text `pixels` high (ascent to descent).
    pub(crate) fn new(pixels: f32) -> Font {
        // The font is part of the crate and checked by the tests: it always parses.
        let face = FontRef::try_from_slice(FONT_DATA).expect("the embedded font parses");
        let scale = PxScale::from(pixels);
        let scaled = face.as_scaled(scale);
        let ascent = scaled.ascent().round();
        let chars: Vec<char> = (0u32..=0xff)
            .filter_map(char::from_u32)
            .chain(['\u{2026}'])
            .collect();

        // Rasterise each glyph on its own, then pack them into shelves.
        struct Raster {
            c: char,
            id: GlyphId,
            size: [u32; 2],
            offset: [i32; 2],
            coverage: Vec<f32>,
        }
        let mut rasters = Vec::new();
        for &c in &chars {
            let id = face.glyph_id(c);
            if id.0 == 0 {
                continue;
            }
            let glyph = id.with_scale_and_position(scale, point(0.0, ascent));
            let (size, offset, coverage) = match face.outline_glyph(glyph) {
                Some(outlined) => {
                    let bounds = outlined.px_bounds();
                    let w = bounds.width() as u32;
                    let h = bounds.height() as u32;
                    let mut coverage = vec![0.0; (w * h) as usize];
                    outlined.draw(|x, y, c| coverage[(y * w + x) as usize] = c.min(1.0));
                    ([w, h], [bounds.min.x as i32, bounds.min.y as i32], coverage)
                }
                // A space: nothing to draw.
                None => ([0, 0], [0, 0], Vec::new()),
            };
            rasters.push(Raster {
                c,
                id,
                size,
                offset,
                coverage,
            });
        }

        let mut placed = Vec::with_capacity(rasters.len());
        let (mut x, mut y, mut shelf) = (0u32, 0u32, 0u32);
        for r in &rasters {
            let [w, h] = [r.size[0] + 2 * PAD, r.size[1] + 2 * PAD];
            if x + w > ATLAS_WIDTH {
                (x, y, shelf) = (0, y + shelf, 0);
            }
            placed.push([x, y]);
            x += w;
            shelf = shelf.max(h);
        }
        let width = ATLAS_WIDTH;
        let height = (y + shelf).max(1);

        let mut letters = vec![0.0f32; (width * height) as usize];
        let mut glyphs = vec![None; 257];
        for (r, &[ax, ay]) in rasters.iter().zip(&placed) {
            for gy in 0..r.size[1] {
                for gx in 0..r.size[0] {
                    let texel = (ay + PAD + gy) * width + ax + PAD + gx;
                    letters[texel as usize] = r.coverage[(gy * r.size[0] + gx) as usize];
                }
            }
            let entry = AtlasGlyph {
                id: r.id,
                atlas: [ax, ay],
                size: [r.size[0] + 2 * PAD, r.size[1] + 2 * PAD],
                offset: [r.offset[0] - PAD as i32, r.offset[1] - PAD as i32],
            };
            glyphs[slot(r.c).unwrap_or(256)] = Some(entry);
        }
        let texels = with_outline(&letters, width, height);
        let fallback = glyphs[usize::from(b'?')].expect("the font has a question mark");
        Font {
            face,
            scale,
            width,
            height,
            texels,
            glyphs,
            fallback,
        }
    }

    /// Atlas size in texels, width then height.
    pub(crate) fn atlas_size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// The atlas texels: two bytes each, letter coverage then outline coverage, rows from the top.
    pub(crate) fn atlas(&self) -> &[u8] {
        &self.texels
    }

    /// Height of a line (ascent to descent), in whole pixels.
    pub(crate) fn line_height(&self) -> f32 {
        let scaled = self.face.as_scaled(self.scale);
        (scaled.ascent() - scaled.descent()).ceil()
    }

    /// The atlas glyph for `c`; characters the font lacks become `?`.
    pub(crate) fn glyph(&self, c: char) -> AtlasGlyph {
        slot(c)
            .and_then(|i| self.glyphs[i])
            .unwrap_or(self.fallback)
    }

    /// Extra advance between `a` and `b` from the font's kerning pairs, in pixels (negative
    /// pulls them together). [`Font::set`] applies it.
    #[cfg(test)]
    fn kern(&self, a: char, b: char) -> f32 {
        let scaled = self.face.as_scaled(self.scale);
        scaled.kern(self.glyph(a).id, self.glyph(b).id)
    }

    /// Sets `text` on one line: advances plus kerning, each glyph on a whole pixel.
    pub(crate) fn set(&self, text: &str) -> Line {
        let scaled = self.face.as_scaled(self.scale);
        let mut pen = 0.0f32;
        let mut previous: Option<AtlasGlyph> = None;
        let mut glyphs = Vec::with_capacity(text.len());
        let mut width = 0.0f32;
        for c in text.chars() {
            let glyph = self.glyph(c);
            if let Some(p) = previous {
                pen += scaled.kern(p.id, glyph.id);
            }
            let at = [pen.round() as i32 + glyph.offset[0], glyph.offset[1]];
            if glyph.size[0] > 2 * PAD {
                width = width.max((at[0] + glyph.size[0] as i32) as f32);
                glyphs.push(SetGlyph { glyph, at });
            }
            pen += scaled.h_advance(glyph.id);
            previous = Some(glyph);
        }
        Line {
            glyphs,
            width: width.max(pen.ceil()),
        }
    }
}

impl std::fmt::Debug for Font {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Font")
            .field("pixels", &self.scale.y)
            .field("atlas", &(self.width, self.height))
            .finish_non_exhaustive()
    }
}

/// The index of `c` in [`Font::glyphs`].
fn slot(c: char) -> Option<usize> {
    match c {
        '\0'..='\u{ff}' => Some(c as usize),
        '\u{2026}' => Some(256),
        _ => None,
    }
}

/// Interleaves letter coverage with an outline channel: the letters grown by [`OUTLINE`] pixels,
/// so that labels stay readable over bright nodes and dark backgrounds alike.
fn with_outline(letters: &[f32], width: u32, height: u32) -> Vec<u8> {
    let reach = PAD as i32;
    let (w, h) = (width as i32, height as i32);
    let mut texels = vec![0u8; letters.len() * 2];
    for y in 0..h {
        for x in 0..w {
            let mut outline = 0.0f32;
            for dy in -reach..=reach {
                for dx in -reach..=reach {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w || ny >= h {
                        continue;
                    }
                    let distance = ((dx * dx + dy * dy) as f32).sqrt();
                    let falloff = (OUTLINE + 1.0 - distance).clamp(0.0, 1.0);
                    outline = outline.max(letters[(ny * w + nx) as usize] * falloff);
                }
            }
            let i = (y * w + x) as usize;
            texels[2 * i] = to_byte(letters[i]);
            texels[2 * i + 1] = to_byte(outline);
        }
    }
    texels
}

fn to_byte(coverage: f32) -> u8 {
    (coverage.clamp(0.0, 1.0) * 255.0).round() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_atlas_has_every_printable_latin1_glyph_and_ink_for_letters() {
        let font = Font::new(16.0);
        let (width, height) = font.atlas_size();
        assert_eq!(font.atlas().len(), (width * height * 2) as usize);
        for c in (' '..='~').chain('\u{a1}'..='\u{ff}').chain(['…']) {
            let glyph = font.glyph(c);
            assert!(
                c == '?' || glyph != font.fallback,
                "{c:?} falls back to the question mark"
            );
            if c.is_alphanumeric() {
                let [ax, ay] = glyph.atlas;
                let ink: u32 = (ay..ay + glyph.size[1])
                    .flat_map(|y| (ax..ax + glyph.size[0]).map(move |x| (x, y)))
                    .map(|(x, y)| u32::from(font.atlas()[((y * width + x) * 2) as usize]))
                    .sum();
                assert!(ink > 255 * 4, "{c:?} has almost no ink ({ink})");
            }
        }
        // Beyond Latin-1 there is only the fallback.
        assert_eq!(font.glyph('漢'), font.glyph('?'));
    }

    #[test]
    fn kerning_pairs_pull_letters_together() {
        let font = Font::new(16.0);
        assert!(
            font.kern('A', 'V') < -0.5,
            "AV kerns by {}",
            font.kern('A', 'V')
        );
        assert!(
            font.kern('T', 'o') < -0.5,
            "To kerns by {}",
            font.kern('T', 'o')
        );
        assert_eq!(font.kern('A', 'B'), 0.0);
        // Setting text applies them: "AV" is narrower than "AB" though V and B are about as
        // wide on their own.
        let av = font.set("AV");
        let ab = font.set("AB");
        assert!(av.glyphs[1].at[0] < ab.glyphs[1].at[0]);
    }

    #[test]
    fn glyphs_land_on_whole_pixels_and_the_line_is_as_wide_as_its_ink() {
        let font = Font::new(16.0);
        let line = font.set("Wave to Tokyo");
        assert_eq!(line.glyphs.len(), 11, "spaces draw nothing");
        let right = line
            .glyphs
            .iter()
            .map(|g| g.at[0] + g.glyph.size[0] as i32)
            .max()
            .unwrap();
        assert!(line.width >= right as f32);
        assert!(line.glyphs.windows(2).all(|w| w[0].at[0] < w[1].at[0]));
    }

    #[test]
    fn the_outline_surrounds_the_letters() {
        let font = Font::new(16.0);
        let texels = font.atlas();
        let letter = texels.chunks_exact(2).filter(|t| t[0] > 128).count();
        let outline = texels.chunks_exact(2).filter(|t| t[1] > 128).count();
        assert!(
            outline > letter * 2,
            "{outline} outline texels, {letter} letter texels"
        );
        assert!(texels.chunks_exact(2).all(|t| t[1] >= t[0]));
    }
}

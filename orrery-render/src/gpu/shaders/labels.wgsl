// Labels: one quad a glyph, in pixels, reading the built-in 8x8 font from a small atlas. Outlines
// are drawn in a first pass and letters in a second, so no outline covers a neighbour's letter.

@group(0) @binding(1) var atlas: texture_2d<f32>;

struct GlyphInstance {
    // x, y: top-left corner in pixels; z: pixels per font texel; w: unused.
    @location(0) place: vec4<f32>,
    // x: glyph cell column, y: row, z: 0 for the outline pass, 1 for letters.
    @location(1) glyph: vec4<u32>,
}

struct GlyphOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) @interpolate(flat) place: vec4<f32>,
    @location(1) @interpolate(flat) glyph: vec4<u32>,
}

// A glyph cell is the 8x8 letter with a 1-texel border for its outline.
const CELL: f32 = 10.0;

@vertex
fn vs_glyph(@builtin(vertex_index) vertex: u32, g: GlyphInstance) -> GlyphOut {
    let corner = vec2<f32>(f32(vertex & 1u), f32(vertex >> 1u));
    let pixel = g.place.xy + corner * CELL * g.place.z;
    let ndc = vec2<f32>(pixel.x / globals.viewport.x * 2.0 - 1.0, 1.0 - pixel.y / globals.viewport.y * 2.0);
    var out: GlyphOut;
    out.clip = vec4<f32>(ndc, 0.0, 1.0);
    out.place = g.place;
    out.glyph = g.glyph;
    return out;
}

@fragment
fn fs_glyph(in: GlyphOut) -> @location(0) vec4<f32> {
    let local = clamp(floor((in.clip.xy - in.place.xy) / in.place.z), vec2<f32>(0.0), vec2<f32>(CELL - 1.0));
    let texel = vec2<i32>(in.glyph.xy) * i32(CELL) + vec2<i32>(local);
    let sample = textureLoad(atlas, texel, 0);
    if in.glyph.z == 0u {
        let a = sample.g * globals.label_outline.a;
        return vec4<f32>(globals.label_outline.rgb * a, a);
    }
    let a = sample.r * globals.label.a;
    return vec4<f32>(globals.label.rgb * a, a);
}

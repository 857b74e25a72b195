// Labels: one quad a glyph, on whole pixels, copying its image texel for texel from the glyph
// atlas (letter coverage in red, outline coverage in green; see `gpu/font.rs`), so text stays as
// crisp as it was rasterised. Outlines are drawn in a first pass and letters in a second, so no
// outline covers a neighbour's letter.

@group(0) @binding(1) var atlas: texture_2d<f32>;

struct GlyphInstance {
    // x, y: top-left corner in pixels; z, w: width and height in pixels (and atlas texels).
    @location(0) place: vec4<f32>,
    // x, y: top-left texel in the atlas; z: 0 for the outline pass, 1 for letters.
    @location(1) glyph: vec4<u32>,
}

struct GlyphOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) @interpolate(flat) place: vec4<f32>,
    @location(1) @interpolate(flat) glyph: vec4<u32>,
}

@vertex
fn vs_glyph(@builtin(vertex_index) vertex: u32, g: GlyphInstance) -> GlyphOut {
    let corner = vec2<f32>(f32(vertex & 1u), f32(vertex >> 1u));
    let pixel = g.place.xy + corner * g.place.zw;
    let ndc = vec2<f32>(pixel.x / globals.viewport.x * 2.0 - 1.0, 1.0 - pixel.y / globals.viewport.y * 2.0);
    var out: GlyphOut;
    out.clip = vec4<f32>(ndc, 0.0, 1.0);
    out.place = g.place;
    out.glyph = g.glyph;
    return out;
}

@fragment
fn fs_glyph(in: GlyphOut) -> @location(0) vec4<f32> {
    let local = clamp(floor(in.clip.xy - in.place.xy), vec2<f32>(0.0), in.place.zw - vec2<f32>(1.0));
    let texel = vec2<i32>(in.glyph.xy) + vec2<i32>(local);
    let sample = textureLoad(atlas, texel, 0);
    if in.glyph.z == 0u {
        let a = sample.g * globals.label_outline.a;
        return vec4<f32>(globals.label_outline.rgb * a, a);
    }
    let a = sample.r * globals.label.a;
    return vec4<f32>(globals.label.rgb * a, a);
}

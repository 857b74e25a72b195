// The background: a soft radial gradient from the centre colour to the corner colour, dithered so
// that dark gradients do not band in 8 bits.

struct BackgroundOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) ndc: vec2<f32>,
}

@vertex
fn vs_background(@builtin(vertex_index) vertex: u32) -> BackgroundOut {
    // One triangle that covers the whole screen.
    let uv = vec2<f32>(f32((vertex << 1u) & 2u), f32(vertex & 2u));
    var out: BackgroundOut;
    out.ndc = uv * 2.0 - 1.0;
    out.clip = vec4<f32>(out.ndc, 0.0, 1.0);
    return out;
}

@fragment
fn fs_background(in: BackgroundOut) -> @location(0) vec4<f32> {
    let aspect = globals.viewport.x / globals.viewport.y;
    let p = in.ndc * vec2<f32>(aspect, 1.0) / length(vec2<f32>(aspect, 1.0));
    let t = smoothstep(0.0, 1.0, length(p) * 1.1);
    let colour = mix(globals.background.rgb, globals.background_edge.rgb, t);
    // Ordered dither of half a step in the 8-bit sRGB output.
    var bayer = array<f32, 16>(0.0, 8.0, 2.0, 10.0, 12.0, 4.0, 14.0, 6.0, 3.0, 11.0, 1.0, 9.0, 15.0, 7.0, 13.0, 5.0);
    let cell = vec2<u32>(in.clip.xy) & vec2<u32>(3u);
    let offset = ((bayer[cell.y * 4u + cell.x] + 0.5) / 16.0 - 0.5) / 255.0;
    let dithered = srgb_to_linear(clamp(linear_to_srgb(colour) + vec3<f32>(offset), vec3<f32>(0.0), vec3<f32>(1.0)));
    return vec4<f32>(dithered, 1.0);
}

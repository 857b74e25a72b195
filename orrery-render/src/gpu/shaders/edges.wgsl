// Edges: one line list, each vertex carrying its end's colour, blended thin over the picture and
// hidden behind nodes by the depth test.

struct EdgeVertex {
    @location(0) position: vec3<f32>,
    @location(1) colour: vec4<f32>,
}

struct EdgeOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) colour: vec4<f32>,
    @location(1) depth: f32,
}

@vertex
fn vs_edge(v: EdgeVertex) -> EdgeOut {
    var out: EdgeOut;
    let view_pos = globals.view * vec4<f32>(v.position, 1.0);
    out.clip = globals.proj * view_pos;
    out.colour = vec4<f32>(srgb_to_linear(v.colour.rgb), v.colour.a);
    out.depth = length(view_pos.xyz);
    return out;
}

@fragment
fn fs_edge(in: EdgeOut) -> @location(0) vec4<f32> {
    let colour = mix(in.colour.rgb, globals.background.rgb, fog_amount(in.depth));
    let alpha = in.colour.a * (1.0 - 0.5 * fog_amount(in.depth));
    return vec4<f32>(colour * alpha, alpha);
}

// Cluster halos: a soft glowing ball of colour behind the members of each nested agent, densest
// in the middle with a faint rim, drawn before the nodes without depth.

struct HaloInstance {
    @location(0) centre: vec3<f32>,
    @location(1) radius: f32,
    @location(2) colour: vec4<f32>,
}

struct HaloOut {
    @builtin(position) clip: vec4<f32>,
    // Where the pixel lies on the halo's disc: 1 at its rim, in the plane through its centre.
    @location(0) disc: vec2<f32>,
    @location(1) @interpolate(flat) colour: vec4<f32>,
}

@vertex
fn vs_halo(@builtin(vertex_index) vertex: u32, halo: HaloInstance) -> HaloOut {
    var out: HaloOut;
    let corner = vec2<f32>(f32(vertex & 1u), f32(vertex >> 1u)) * 2.0 - 1.0;
    let c = (globals.view * vec4<f32>(halo.centre, 1.0)).xyz;
    let d = length(c);
    out.colour = vec4<f32>(srgb_to_linear(halo.colour.rgb), halo.colour.a);
    out.disc = corner;
    if d <= halo.radius * 1.01 {
        out.clip = vec4<f32>(0.0, 0.0, 2.0, 1.0);
        return out;
    }
    let axis = c / d;
    var helper = vec3<f32>(0.0, 1.0, 0.0);
    if abs(axis.y) > 0.99 {
        helper = vec3<f32>(1.0, 0.0, 0.0);
    }
    let right = normalize(cross(axis, helper));
    let up = cross(right, axis);
    // The quad just holds the ball's silhouette, whose edge is where `disc` reaches 1. Measured
    // in that plane rather than along each pixel's ray, the distance from the centre differs by
    // r²/2d² at most (under one per cent for any halo that fits the frame), and the fragment
    // shader is left with a few multiplications.
    let extent = halo.radius * d / sqrt(d * d - halo.radius * halo.radius);
    let p = c + (right * corner.x + up * corner.y) * extent;
    // Halos sit behind everything: the far plane keeps them inside the clip volume.
    let clip = globals.proj * vec4<f32>(p, 1.0);
    out.clip = vec4<f32>(clip.xy, clip.w * 0.5, clip.w);
    return out;
}

@fragment
fn fs_halo(in: HaloOut) -> @location(0) vec4<f32> {
    let rho2 = dot(in.disc, in.disc);
    if rho2 >= 1.0 {
        discard;
    }
    let rho = sqrt(rho2);
    let inside = 1.0 - rho2;
    // (1 - rho²)^1.5, without a pow.
    let body = inside * sqrt(inside);
    let rim = smoothstep(0.78, 0.97, rho) * (1.0 - smoothstep(0.97, 1.0, rho));
    let alpha = in.colour.a * (0.8 * body + 0.45 * rim);
    return vec4<f32>(in.colour.rgb * alpha, alpha);
}

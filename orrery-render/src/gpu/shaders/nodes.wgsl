// Nodes as impostor spheres: one camera-facing triangle a node (three vertices with the node's
// data, drawn as one triangle list rather than instanced, which software rasterisers handle far
// better), shaded round in the fragment shader by intersecting the eye ray with the sphere,
// writing the true depth of the hit.

struct NodeInstance {
    @location(0) position: vec3<f32>,
    @location(1) radius: f32,
    @location(2) colour: vec4<f32>,
    @location(3) shape: u32,
    @location(4) id: u32,
}

struct NodeOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) view_pos: vec3<f32>,
    @location(1) @interpolate(flat) centre: vec3<f32>,
    @location(2) @interpolate(flat) radius: f32,
    @location(3) @interpolate(flat) colour: vec4<f32>,
    @location(4) @interpolate(flat) shape: u32,
    @location(5) @interpolate(flat) id: u32,
}

const SHAPE_RINGED: u32 = 1u;
// Nodes never shrink below this radius in pixels, so that huge graphs stay visible as dots.
const MIN_PIXELS: f32 = 0.9;
// The ring of a ringed node spans these multiples of its radius.
const RING_INNER: f32 = 1.45;
const RING_OUTER: f32 = 1.85;

@vertex
fn vs_node(
    @builtin(vertex_index) vertex: u32,
    node: NodeInstance,
) -> NodeOut {
    var out: NodeOut;
    // One triangle around the silhouette circle: corners twice the radius out, at 90, 210 and
    // 330 degrees. Fewer, larger primitives than a quad: software rasterisers pay per primitive.
    var corners = array<vec2<f32>, 3>(
        vec2<f32>(0.0, 2.0),
        vec2<f32>(-1.7320508, -1.0),
        vec2<f32>(1.7320508, -1.0),
    );
    let corner = corners[vertex % 3u];
    let c = (globals.view * vec4<f32>(node.position, 1.0)).xyz;
    let d = length(c);
    let radius = max(node.radius, MIN_PIXELS * d * globals.viewport.z);
    // What the quad must cover: the sphere, or its ring.
    var reach = radius;
    if node.shape == SHAPE_RINGED {
        reach = radius * RING_OUTER * 1.05;
    }
    out.centre = c;
    out.radius = radius;
    out.colour = vec4<f32>(srgb_to_linear(node.colour.rgb), node.colour.a);
    out.shape = node.shape;
    out.id = node.id;
    if d <= reach * 1.01 {
        // The eye is inside the node: draw nothing rather than a broken quad.
        out.clip = vec4<f32>(0.0, 0.0, 2.0, 1.0);
        out.view_pos = c;
        return out;
    }
    // A quad through the centre, square to the eye ray, just covering the silhouette cone.
    let axis = c / d;
    var helper = vec3<f32>(0.0, 1.0, 0.0);
    if abs(axis.y) > 0.99 {
        helper = vec3<f32>(1.0, 0.0, 0.0);
    }
    let right = normalize(cross(axis, helper));
    let up = cross(right, axis);
    let extent = reach * d / sqrt(d * d - reach * reach);
    let p = c + (right * corner.x + up * corner.y) * extent;
    out.view_pos = p;
    out.clip = globals.proj * vec4<f32>(p, 1.0);
    return out;
}

struct Surface {
    // Share of the pixel covered, for antialiasing.
    coverage: f32,
    // Distance from the eye along the ray.
    t: f32,
    normal: vec3<f32>,
    // Whether the ring (not the ball) of a ringed node was hit.
    ring: bool,
}

fn surface(in: NodeOut) -> Surface {
    let dir = normalize(in.view_pos);
    let c = in.centre;
    let r = in.radius;
    let b = dot(dir, c);
    let miss2 = max(dot(c, c) - b * b, 0.0);
    let miss = sqrt(miss2);
    let pixel = b * globals.viewport.z;
    var s: Surface;
    s.coverage = clamp((r - miss) / pixel + 0.5, 0.0, 1.0);
    s.t = b - sqrt(max(r * r - miss2, 0.0));
    s.normal = normalize(dir * s.t - c);
    s.ring = false;
    if in.shape != SHAPE_RINGED {
        return s;
    }
    let n = globals.shading.yzw;
    let facing = dot(dir, n);
    if abs(facing) < 1e-4 {
        return s;
    }
    let tr = dot(c, n) / facing;
    let rho = length(dir * tr - c) / r;
    let soft = tr * globals.viewport.z / r;
    let band = smoothstep(RING_INNER - soft, RING_INNER + soft, rho)
        * (1.0 - smoothstep(RING_OUTER - soft, RING_OUTER + soft, rho));
    // A darker groove splits the ring in two, as on Saturn.
    let groove = 1.0 - 0.45 * (1.0 - smoothstep(0.0, 0.06 + soft, abs(rho - 1.62)));
    if band > 0.0 && (s.coverage < 0.5 || tr < s.t) {
        s.coverage = band * groove;
        s.t = tr;
        s.normal = select(n, -n, facing > 0.0);
        s.ring = true;
    }
    return s;
}

fn depth_of(in: NodeOut, t: f32) -> f32 {
    let hit = normalize(in.view_pos) * t;
    let clip = globals.proj * vec4<f32>(hit, 1.0);
    return clip.z / clip.w;
}

struct ColourOut {
    @location(0) colour: vec4<f32>,
    @builtin(frag_depth) depth: f32,
}

@fragment
fn fs_node(in: NodeOut) -> ColourOut {
    let s = surface(in);
    let multisampled = globals.viewport.w > 0.5;
    if s.coverage <= 0.0 {
        discard;
    }
    let dir = normalize(in.view_pos);
    var base = in.colour.rgb;
    if s.ring {
        base = mix(base, vec3<f32>(1.0), 0.35);
    }
    var out: ColourOut;
    let colour = shade(base, s.normal, dir, s.t);
    if multisampled {
        // Alpha to coverage turns the coverage into samples.
        out.colour = vec4<f32>(colour, s.coverage);
    } else {
        // Nodes come back to front and blend their soft edge over what is behind.
        out.colour = vec4<f32>(colour * s.coverage, s.coverage);
    }
    out.depth = depth_of(in, s.t);
    return out;
}

struct IdOut {
    @location(0) id: u32,
    @builtin(frag_depth) depth: f32,
}

@fragment
fn fs_node_id(in: NodeOut) -> IdOut {
    let s = surface(in);
    if s.coverage < 0.5 {
        discard;
    }
    var out: IdOut;
    out.id = in.id + 1u;
    out.depth = depth_of(in, s.t);
    return out;
}

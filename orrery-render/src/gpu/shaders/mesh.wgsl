// Nodes as instanced UV-sphere meshes: the plain renderer that impostors are measured against
// (`NodeGeometry::Mesh`). Same instances, same lighting, real triangles.

struct MeshInstance {
    @location(1) position: vec3<f32>,
    @location(2) radius: f32,
    @location(3) colour: vec4<f32>,
    @location(4) shape: u32,
    @location(5) id: u32,
}

struct MeshOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) view_pos: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) @interpolate(flat) colour: vec4<f32>,
    @location(3) @interpolate(flat) id: u32,
}

@vertex
fn vs_mesh(
    @location(0) unit: vec3<f32>,
    node: MeshInstance,
) -> MeshOut {
    var out: MeshOut;
    // Nodes never shrink below 0.9 pixels in radius, as impostors do.
    let centre = (globals.view * vec4<f32>(node.position, 1.0)).xyz;
    let radius = max(node.radius, 0.9 * length(centre) * globals.viewport.z);
    let world = node.position + unit * radius;
    let view_pos = (globals.view * vec4<f32>(world, 1.0)).xyz;
    out.view_pos = view_pos;
    out.normal = (globals.view * vec4<f32>(unit, 0.0)).xyz;
    out.clip = globals.proj * vec4<f32>(view_pos, 1.0);
    out.colour = vec4<f32>(srgb_to_linear(node.colour.rgb), node.colour.a);
    out.id = node.id;
    return out;
}

@fragment
fn fs_mesh(in: MeshOut) -> @location(0) vec4<f32> {
    let dir = normalize(in.view_pos);
    let colour = shade(in.colour.rgb, normalize(in.normal), dir, length(in.view_pos));
    return vec4<f32>(colour, 1.0);
}

@fragment
fn fs_mesh_id(in: MeshOut) -> @location(0) u32 {
    return in.id + 1u;
}

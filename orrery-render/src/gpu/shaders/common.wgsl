// Shared by every Orrery shader: the per-frame uniforms and colour helpers. Each shader module is
// this file followed by its own (see `gpu/pipelines.rs`).

struct Globals {
    view: mat4x4<f32>,
    proj: mat4x4<f32>,
    // x, y: image size in pixels; z: size of one pixel at unit distance from the eye;
    // w: 1 when multisampled (alpha to coverage antialiases silhouettes), else 0.
    viewport: vec4<f32>,
    // xyz: direction towards the key light, in view space.
    light: vec4<f32>,
    // x, y: eye distances where fog starts and is full; z: fog strength; w: ambient light.
    fog: vec4<f32>,
    // Linear colours.
    background: vec4<f32>,
    background_edge: vec4<f32>,
    // x: specular strength; yzw: the ring plane's normal for ringed nodes, in view space.
    shading: vec4<f32>,
    label: vec4<f32>,
    label_outline: vec4<f32>,
}

@group(0) @binding(0) var<uniform> globals: Globals;

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + vec3<f32>(0.055)) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

fn linear_to_srgb(c: vec3<f32>) -> vec3<f32> {
    let low = c * 12.92;
    let high = 1.055 * pow(max(c, vec3<f32>(0.0)), vec3<f32>(1.0 / 2.4)) - vec3<f32>(0.055);
    return select(high, low, c <= vec3<f32>(0.0031308));
}

// How much of the background shows through at `depth` (distance from the eye), 0 to fog strength.
fn fog_amount(depth: f32) -> f32 {
    let span = max(globals.fog.y - globals.fog.x, 1e-6);
    let t = clamp((depth - globals.fog.x) / span, 0.0, 1.0);
    return t * t * globals.fog.z;
}

// Soft lighting of a surface with normal `n` (view space) seen along `dir` (eye to surface).
fn shade(base: vec3<f32>, n: vec3<f32>, dir: vec3<f32>, depth: f32) -> vec3<f32> {
    let l = globals.light.xyz;
    let wrap = 0.35;
    let diffuse = max((dot(n, l) + wrap) / (1.0 + wrap), 0.0);
    let sky = 0.5 + 0.5 * n.y;
    let ambient = globals.fog.w * mix(0.6, 1.0, sky);
    let h = normalize(l - dir);
    let specular = pow(max(dot(n, h), 0.0), 40.0) * globals.shading.x;
    let facing = max(dot(n, -dir), 0.0);
    let rim = pow(1.0 - facing, 3.0) * 0.25;
    let lit = base * (ambient + (1.0 - ambient) * diffuse) + vec3<f32>(specular) + base * rim;
    return mix(lit, globals.background.rgb, fog_amount(depth));
}

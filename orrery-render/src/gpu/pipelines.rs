//! The render pipelines and the data layouts they read: one pipeline a layer of the picture
//! (background, cluster halos, nodes, edges, labels), plus the node-id pipeline for picking and
//! the sphere-mesh pipelines of the baseline renderer.

use bytemuck::{Pod, Zeroable};

/// Colour target: 8-bit sRGB, so shaders work in linear light and the image comes out encoded.
pub(crate) const COLOUR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8UnormSrgb;
pub(crate) const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// Picking target: the node index plus one under each pixel, 0 for none.
pub(crate) const ID_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::R32Uint;
pub(crate) const ATLAS_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rg8Unorm;

const COMMON: &str = include_str!("shaders/common.wgsl");
const BACKGROUND: &str = include_str!("shaders/background.wgsl");
const HALOS: &str = include_str!("shaders/halos.wgsl");
const NODES: &str = include_str!("shaders/nodes.wgsl");
const EDGES: &str = include_str!("shaders/edges.wgsl");
const LABELS: &str = include_str!("shaders/labels.wgsl");
const MESH: &str = include_str!("shaders/mesh.wgsl");

/// Uniforms of a frame, as `common.wgsl` declares them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct Globals {
    pub(crate) view: [[f32; 4]; 4],
    pub(crate) proj: [[f32; 4]; 4],
    pub(crate) viewport: [f32; 4],
    pub(crate) light: [f32; 4],
    pub(crate) fog: [f32; 4],
    pub(crate) background: [f32; 4],
    pub(crate) background_edge: [f32; 4],
    pub(crate) shading: [f32; 4],
    pub(crate) label: [f32; 4],
    pub(crate) label_outline: [f32; 4],
}

/// One node, as the node shader reads it (four times, once a quad corner) and the mesh shader
/// (once, as an instance).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct NodeInstance {
    pub(crate) position: [f32; 3],
    pub(crate) radius: f32,
    pub(crate) colour: [u8; 4],
    pub(crate) shape: u32,
    /// Index of the node in the scene, for picking.
    pub(crate) id: u32,
}

/// One cluster halo.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct HaloInstance {
    pub(crate) centre: [f32; 3],
    pub(crate) radius: f32,
    pub(crate) colour: [u8; 4],
}

/// One end of an edge.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(crate) struct EdgeVertex {
    pub(crate) position: [f32; 3],
    pub(crate) colour: [u8; 4],
}

/// Every pipeline a renderer draws with.
#[derive(Debug)]
pub(crate) struct Pipelines {
    pub(crate) layout: wgpu::BindGroupLayout,
    pub(crate) background: wgpu::RenderPipeline,
    pub(crate) halos: wgpu::RenderPipeline,
    pub(crate) nodes: wgpu::RenderPipeline,
    pub(crate) node_ids: wgpu::RenderPipeline,
    pub(crate) edges: wgpu::RenderPipeline,
    pub(crate) labels: wgpu::RenderPipeline,
    pub(crate) mesh: wgpu::RenderPipeline,
    pub(crate) mesh_ids: wgpu::RenderPipeline,
}

const NODE_ATTRIBUTES: [wgpu::VertexAttribute; 5] = wgpu::vertex_attr_array![
    0 => Float32x3, 1 => Float32, 2 => Unorm8x4, 3 => Uint32, 4 => Uint32
];
const MESH_INSTANCE_ATTRIBUTES: [wgpu::VertexAttribute; 5] = wgpu::vertex_attr_array![
    1 => Float32x3, 2 => Float32, 3 => Unorm8x4, 4 => Uint32, 5 => Uint32
];
const MESH_VERTEX_ATTRIBUTES: [wgpu::VertexAttribute; 1] = wgpu::vertex_attr_array![0 => Float32x3];
const HALO_ATTRIBUTES: [wgpu::VertexAttribute; 3] =
    wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32, 2 => Unorm8x4];
const EDGE_ATTRIBUTES: [wgpu::VertexAttribute; 2] =
    wgpu::vertex_attr_array![0 => Float32x3, 1 => Unorm8x4];
const GLYPH_ATTRIBUTES: [wgpu::VertexAttribute; 2] =
    wgpu::vertex_attr_array![0 => Float32x4, 1 => Uint32x4];

/// What a pipeline draws into.
#[derive(Clone, Copy)]
enum Target {
    /// The picture: sRGB colour, multisampled `samples` times.
    Colour,
    /// The picking buffer: node ids, one sample.
    Ids,
}

/// How a colour pipeline treats depth and blending.
#[derive(Clone, Copy)]
enum Layer {
    /// Drawn over everything before it, no depth: background, halos, labels.
    Overlay { blend: bool },
    /// Solid, depth-tested and depth-writing: nodes (blended at their edge when single-sampled).
    Solid,
    /// Blended and depth-tested, but not depth-writing: edges.
    Translucent,
}

impl Pipelines {
    pub(crate) fn new(device: &wgpu::Device, samples: u32) -> Pipelines {
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("orrery globals"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: wgpu::BufferSize::new(size_of::<Globals>() as u64),
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: false },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("orrery"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let builder = Builder {
            device,
            layout: &pipeline_layout,
            samples,
        };

        let background = builder.module("orrery background", BACKGROUND);
        let halos = builder.module("orrery halos", HALOS);
        let nodes = builder.module("orrery nodes", NODES);
        let edges = builder.module("orrery edges", EDGES);
        let labels = builder.module("orrery labels", LABELS);
        let mesh = builder.module("orrery mesh", MESH);

        let strip = wgpu::PrimitiveTopology::TriangleStrip;
        let node_buffers = [wgpu::VertexBufferLayout {
            array_stride: size_of::<NodeInstance>() as u64,
            step_mode: wgpu::VertexStepMode::Vertex,
            attributes: &NODE_ATTRIBUTES,
        }];
        let list = wgpu::PrimitiveTopology::TriangleList;
        let mesh_buffers = [
            wgpu::VertexBufferLayout {
                array_stride: size_of::<[f32; 3]>() as u64,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: &MESH_VERTEX_ATTRIBUTES,
            },
            instances::<NodeInstance>(&MESH_INSTANCE_ATTRIBUTES),
        ];
        let mesh_primitive = wgpu::PrimitiveState {
            cull_mode: Some(wgpu::Face::Back),
            ..Default::default()
        };
        Pipelines {
            background: builder.pipeline(
                (&background, "vs_background", "fs_background"),
                &[],
                primitive(wgpu::PrimitiveTopology::TriangleList),
                Target::Colour,
                Layer::Overlay { blend: false },
            ),
            halos: builder.pipeline(
                (&halos, "vs_halo", "fs_halo"),
                &[instances::<HaloInstance>(&HALO_ATTRIBUTES)],
                primitive(strip),
                Target::Colour,
                Layer::Overlay { blend: true },
            ),
            nodes: builder.pipeline(
                (&nodes, "vs_node", "fs_node"),
                &node_buffers,
                primitive(list),
                Target::Colour,
                Layer::Solid,
            ),
            node_ids: builder.pipeline(
                (&nodes, "vs_node", "fs_node_id"),
                &node_buffers,
                primitive(list),
                Target::Ids,
                Layer::Solid,
            ),
            edges: builder.pipeline(
                (&edges, "vs_edge", "fs_edge"),
                &[wgpu::VertexBufferLayout {
                    array_stride: size_of::<EdgeVertex>() as u64,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &EDGE_ATTRIBUTES,
                }],
                primitive(wgpu::PrimitiveTopology::LineList),
                Target::Colour,
                Layer::Translucent,
            ),
            labels: builder.pipeline(
                (&labels, "vs_glyph", "fs_glyph"),
                &[instances::<crate::gpu::labels::GlyphInstance>(
                    &GLYPH_ATTRIBUTES,
                )],
                primitive(strip),
                Target::Colour,
                Layer::Overlay { blend: true },
            ),
            mesh: builder.pipeline(
                (&mesh, "vs_mesh", "fs_mesh"),
                &mesh_buffers,
                mesh_primitive,
                Target::Colour,
                Layer::Solid,
            ),
            mesh_ids: builder.pipeline(
                (&mesh, "vs_mesh", "fs_mesh_id"),
                &mesh_buffers,
                mesh_primitive,
                Target::Ids,
                Layer::Solid,
            ),
            layout,
        }
    }
}

struct Builder<'a> {
    device: &'a wgpu::Device,
    layout: &'a wgpu::PipelineLayout,
    samples: u32,
}

impl Builder<'_> {
    fn module(&self, label: &str, source: &str) -> wgpu::ShaderModule {
        let source = format!("{COMMON}\n{source}");
        self.device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            })
    }

    fn pipeline(
        &self,
        (module, vertex, fragment): (&wgpu::ShaderModule, &str, &str),
        buffers: &[wgpu::VertexBufferLayout<'_>],
        primitive: wgpu::PrimitiveState,
        target: Target,
        layer: Layer,
    ) -> wgpu::RenderPipeline {
        let buffers: Vec<Option<wgpu::VertexBufferLayout<'_>>> =
            buffers.iter().cloned().map(Some).collect();
        let (format, samples) = match target {
            Target::Colour => (COLOUR_FORMAT, self.samples),
            Target::Ids => (ID_FORMAT, 1),
        };
        let blend = match (layer, target) {
            (Layer::Overlay { blend: true } | Layer::Translucent, _) => {
                Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING)
            }
            // Without multisampling, nodes antialias by blending their edge over what is behind
            // them (they are drawn back to front).
            (Layer::Solid, Target::Colour) if samples == 1 => {
                Some(wgpu::BlendState::PREMULTIPLIED_ALPHA_BLENDING)
            }
            _ => None,
        };
        let (depth_write_enabled, depth_compare) = match layer {
            Layer::Overlay { .. } => (false, wgpu::CompareFunction::Always),
            Layer::Solid => (true, wgpu::CompareFunction::Less),
            Layer::Translucent => (false, wgpu::CompareFunction::Less),
        };
        // The picture stays opaque: nodes put their coverage in alpha for alpha to coverage, and
        // that must not reach the image.
        let write_mask = match target {
            Target::Colour => wgpu::ColorWrites::COLOR,
            Target::Ids => wgpu::ColorWrites::ALL,
        };
        let alpha_to_coverage =
            matches!(target, Target::Colour) && matches!(layer, Layer::Solid) && samples > 1;
        self.device
            .create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(fragment),
                layout: Some(self.layout),
                vertex: wgpu::VertexState {
                    module,
                    entry_point: Some(vertex),
                    compilation_options: Default::default(),
                    buffers: &buffers,
                },
                primitive,
                depth_stencil: Some(wgpu::DepthStencilState {
                    format: DEPTH_FORMAT,
                    depth_write_enabled: Some(depth_write_enabled),
                    depth_compare: Some(depth_compare),
                    stencil: Default::default(),
                    bias: Default::default(),
                }),
                multisample: wgpu::MultisampleState {
                    count: samples,
                    mask: !0,
                    alpha_to_coverage_enabled: alpha_to_coverage,
                },
                fragment: Some(wgpu::FragmentState {
                    module,
                    entry_point: Some(fragment),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format,
                        blend,
                        write_mask,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            })
    }
}

fn instances<T>(attributes: &[wgpu::VertexAttribute]) -> wgpu::VertexBufferLayout<'_> {
    wgpu::VertexBufferLayout {
        array_stride: size_of::<T>() as u64,
        step_mode: wgpu::VertexStepMode::Instance,
        attributes,
    }
}

fn primitive(topology: wgpu::PrimitiveTopology) -> wgpu::PrimitiveState {
    wgpu::PrimitiveState {
        topology,
        ..Default::default()
    }
}

/// A unit UV sphere for the mesh baseline: vertex positions (which are also the normals) and
/// counter-clockwise triangles seen from outside.
pub(crate) fn uv_sphere(longitudes: u32, latitudes: u32) -> (Vec<[f32; 3]>, Vec<u32>) {
    let mut vertices = Vec::new();
    for i in 0..=latitudes {
        let theta = std::f32::consts::PI * i as f32 / latitudes as f32;
        for j in 0..=longitudes {
            let phi = std::f32::consts::TAU * j as f32 / longitudes as f32;
            vertices.push([
                theta.sin() * phi.cos(),
                theta.cos(),
                theta.sin() * phi.sin(),
            ]);
        }
    }
    let mut indices = Vec::new();
    let row = longitudes + 1;
    for i in 0..latitudes {
        for j in 0..longitudes {
            let a = i * row + j;
            let b = a + row;
            if i > 0 {
                indices.extend([a, a + 1, b]);
            }
            if i + 1 < latitudes {
                indices.extend([a + 1, b + 1, b]);
            }
        }
    }
    (vertices, indices)
}

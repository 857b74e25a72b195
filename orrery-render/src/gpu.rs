//! The wgpu renderer: draws a [`Scene`] offscreen and reads it back as RGBA or PNG, and finds the
//! node under a pixel. Start with [`Renderer::headless`], then [`Renderer::render_png`].
//!
//! A frame is drawn in layers into one render pass: a gradient background, cluster halos, nodes as
//! impostor spheres (one camera-facing triangle a node, shaded round per pixel with its true
//! depth, back to front so that their rims blend), edges as one blended line list, then labels in
//! the built-in bitmap font. It is multisampled on GPUs; software rasterisers, which pay for every
//! sample, draw one sample a pixel by default. Picking draws the same nodes into a node-id target.
//! Works on a GPU and on Mesa's software rasterisers (see the `adapter` module for how one is
//! chosen).
//!
//! Invariants: this is the only module that touches wgpu; a missing adapter is an error, never a
//! blank image; nothing here panics on user input.

mod adapter;
mod camera;
mod labels;
mod pipelines;

use std::sync::Arc;
use std::sync::mpsc;

use glam::Vec3;
use wgpu::util::DeviceExt;

pub use crate::gpu::camera::Camera;
use crate::gpu::pipelines::{
    ATLAS_FORMAT, COLOUR_FORMAT, DEPTH_FORMAT, EdgeVertex, Globals, HaloInstance, ID_FORMAT,
    NodeInstance, Pipelines,
};
use crate::scene::{NodeShape, RenderError, Scene, Srgba};

/// Largest image side we draw, whatever the device allows: beyond it a multisampled frame no
/// longer fits comfortably in memory.
pub const MAX_SIDE: u32 = 8192;

/// Longitudes and latitudes of the baseline's UV sphere.
const MESH_LONGITUDES: u32 = 24;
const MESH_LATITUDES: u32 = 16;

/// How to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// Samples per pixel for multisample antialiasing, or `None` to choose by adapter: 4 on a GPU,
    /// 1 on a software rasteriser, where multisampling doubles the frame time. With 1 sample,
    /// nodes still get smooth edges (they are drawn back to front and blend their rim); only edges
    /// and ring borders are then aliased.
    pub samples: Option<u32>,
    /// How nodes become triangles.
    pub geometry: NodeGeometry,
}

/// How nodes become triangles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeGeometry {
    /// One triangle a node, shaded as a sphere per pixel: the fast way, and the default.
    #[default]
    Impostor,
    /// A 24x16 UV-sphere mesh a node (720 triangles), instanced: the plain renderer that the
    /// impostors are measured against. No rings on ringed nodes.
    Mesh,
}

/// An offscreen renderer for images of one size.
#[derive(Debug)]
pub struct Renderer {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: String,
    width: u32,
    height: u32,
    samples: u32,
    geometry: NodeGeometry,
    pipelines: Pipelines,
    atlas: wgpu::TextureView,
    targets: Targets,
    sphere: SphereMesh,
}

#[derive(Debug)]
struct Targets {
    /// The multisampled picture, when antialiasing.
    multisampled: Option<wgpu::TextureView>,
    /// The single-sampled picture that is read back.
    colour: wgpu::Texture,
    colour_view: wgpu::TextureView,
    depth: wgpu::TextureView,
    ids: wgpu::Texture,
    ids_view: wgpu::TextureView,
    ids_depth: wgpu::TextureView,
}

#[derive(Debug)]
struct SphereMesh {
    vertices: wgpu::Buffer,
    indices: wgpu::Buffer,
    index_count: u32,
}

/// Per-frame buffers and the camera they were made for.
struct Frame {
    camera: Camera,
    bind_group: wgpu::BindGroup,
    /// Impostors: three corners a node, back to front. Meshes: one instance a node.
    nodes: Option<wgpu::Buffer>,
    node_count: u32,
}

impl Default for RenderOptions {
    fn default() -> RenderOptions {
        RenderOptions {
            samples: None,
            geometry: NodeGeometry::Impostor,
        }
    }
}

impl Renderer {
    /// A renderer for `width` x `height` images on the best adapter available, with the default
    /// options. Fails on a zero or too large size, or when no adapter opens.
    pub fn headless(width: u32, height: u32) -> Result<Renderer, RenderError> {
        Renderer::headless_with(width, height, RenderOptions::default())
    }

    /// A renderer for `width` x `height` images with `options`.
    pub fn headless_with(
        width: u32,
        height: u32,
        options: RenderOptions,
    ) -> Result<Renderer, RenderError> {
        check_size(width, height, MAX_SIDE)?;
        let opened = adapter::open()?;
        let adapter_info = opened.adapter.get_info();
        let device = opened.device;
        device.on_uncaptured_error(Arc::new(|error: wgpu::Error| {
            // Every call is wrapped in error scopes, so this only sees bugs of ours; say so
            // rather than panic inside the driver thread.
            eprintln!("orrery-render: uncaptured graphics error: {error}");
        }));
        check_size(
            width,
            height,
            MAX_SIDE.min(device.limits().max_texture_dimension_2d),
        )?;
        let samples = options.samples.unwrap_or(match adapter_info.device_type {
            wgpu::DeviceType::Cpu => 1,
            _ => 4,
        });
        check_samples(&opened.adapter, samples)?;

        let renderer = scoped(&device, "creating the pipelines and targets", || {
            let pipelines = Pipelines::new(&device, samples);
            let atlas = device.create_texture_with_data(
                &opened.queue,
                &wgpu::TextureDescriptor {
                    label: Some("orrery font atlas"),
                    size: wgpu::Extent3d {
                        width: labels::ATLAS_WIDTH,
                        height: labels::ATLAS_HEIGHT,
                        depth_or_array_layers: 1,
                    },
                    mip_level_count: 1,
                    sample_count: 1,
                    dimension: wgpu::TextureDimension::D2,
                    format: ATLAS_FORMAT,
                    usage: wgpu::TextureUsages::TEXTURE_BINDING,
                    view_formats: &[],
                },
                wgpu::util::TextureDataOrder::LayerMajor,
                &labels::atlas(),
            );
            let targets = Targets::new(&device, width, height, samples);
            let (vertices, indices) = pipelines::uv_sphere(MESH_LONGITUDES, MESH_LATITUDES);
            let sphere = SphereMesh {
                vertices: device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("orrery sphere vertices"),
                    contents: bytemuck::cast_slice(&vertices),
                    usage: wgpu::BufferUsages::VERTEX,
                }),
                indices: device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("orrery sphere indices"),
                    contents: bytemuck::cast_slice(&indices),
                    usage: wgpu::BufferUsages::INDEX,
                }),
                index_count: indices.len() as u32,
            };
            (
                pipelines,
                atlas.create_view(&Default::default()),
                targets,
                sphere,
            )
        })?;
        let (pipelines, atlas, targets, sphere) = renderer;
        Ok(Renderer {
            adapter: adapter::describe(&adapter_info),
            device,
            queue: opened.queue,
            width,
            height,
            samples,
            geometry: options.geometry,
            pipelines,
            atlas,
            targets,
            sphere,
        })
    }

    /// The adapter drawing the images: `name (backend, type)`, e.g. `llvmpipe (LLVM 15.0.6,
    /// 256 bits) (vulkan, Cpu)`.
    pub fn adapter(&self) -> &str {
        &self.adapter
    }

    /// Image size, width then height.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Samples per pixel the renderer draws with.
    pub fn samples(&self) -> u32 {
        self.samples
    }

    /// How the renderer draws nodes.
    pub fn geometry(&self) -> NodeGeometry {
        self.geometry
    }

    /// The camera a picture of `scene` is taken with.
    pub fn camera(&self, scene: &Scene) -> Camera {
        Camera::fit(scene, self.width, self.height)
    }

    /// Draws `scene` and returns its pixels: RGBA, 8 bits a channel, sRGB, opaque, rows from the
    /// top.
    pub fn render_rgba(&self, scene: &Scene) -> Result<Vec<u8>, RenderError> {
        self.check_fits(scene)?;
        let padded_row = padded_row_bytes(self.width, 4);
        let readback = scoped(&self.device, "drawing the scene", || {
            let frame = self.frame(scene);
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("orrery frame"),
                });
            self.draw(&mut encoder, scene, &frame);
            let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("orrery readback"),
                size: u64::from(padded_row) * u64::from(self.height),
                usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
                mapped_at_creation: false,
            });
            encoder.copy_texture_to_buffer(
                self.targets.colour.as_image_copy(),
                wgpu::TexelCopyBufferInfo {
                    buffer: &readback,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(padded_row),
                        rows_per_image: None,
                    },
                },
                self.extent(),
            );
            self.queue.submit([encoder.finish()]);
            readback
        })?;
        let padded = self.read(&readback)?;
        let row = self.width as usize * 4;
        let mut pixels = Vec::with_capacity(row * self.height as usize);
        for line in padded.chunks_exact(padded_row as usize) {
            pixels.extend_from_slice(&line[..row]);
        }
        Ok(pixels)
    }

    /// Draws `scene` and encodes it as a PNG (8-bit RGB).
    pub fn render_png(&self, scene: &Scene) -> Result<Vec<u8>, RenderError> {
        let rgba = self.render_rgba(scene)?;
        let rgb: Vec<u8> = rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        encode_png(&rgb, self.width, self.height)
    }

    /// The node drawn at pixel (`x`, `y`) of the picture of `scene` (from the top-left corner), or
    /// `None` where the background shows. Labels and halos are not hit.
    pub fn pick(&self, scene: &Scene, x: u32, y: u32) -> Result<Option<u32>, RenderError> {
        if x >= self.width || y >= self.height {
            return Err(RenderError::PixelOutOfRange {
                x,
                y,
                width: self.width,
                height: self.height,
            });
        }
        self.check_fits(scene)?;
        let readback = scoped(&self.device, "drawing node ids", || {
            let frame = self.frame(scene);
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("orrery pick"),
                });
            self.draw_ids(&mut encoder, &frame);
            let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("orrery pick readback"),
                size: 4,
                usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
                mapped_at_creation: false,
            });
            encoder.copy_texture_to_buffer(
                wgpu::TexelCopyTextureInfo {
                    texture: &self.targets.ids,
                    mip_level: 0,
                    origin: wgpu::Origin3d { x, y, z: 0 },
                    aspect: wgpu::TextureAspect::All,
                },
                wgpu::TexelCopyBufferInfo {
                    buffer: &readback,
                    layout: wgpu::TexelCopyBufferLayout::default(),
                },
                wgpu::Extent3d {
                    width: 1,
                    height: 1,
                    depth_or_array_layers: 1,
                },
            );
            self.queue.submit([encoder.finish()]);
            readback
        })?;
        let bytes = self.read(&readback)?;
        let id = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        Ok(id.checked_sub(1))
    }

    /// Fails if a buffer the scene needs would exceed the device's limit (wgpu would reject it).
    fn check_fits(&self, scene: &Scene) -> Result<(), RenderError> {
        let corners = match self.geometry {
            NodeGeometry::Impostor => 3,
            NodeGeometry::Mesh => 1,
        };
        let nodes = scene.nodes().len() as u64 * corners * size_of::<NodeInstance>() as u64;
        let edges = scene.edges().len() as u64 * 2 * size_of::<EdgeVertex>() as u64;
        let bytes = nodes.max(edges);
        let max = self.device.limits().max_buffer_size;
        if bytes > max {
            return Err(RenderError::SceneTooLarge { bytes, max });
        }
        Ok(())
    }

    fn extent(&self) -> wgpu::Extent3d {
        wgpu::Extent3d {
            width: self.width,
            height: self.height,
            depth_or_array_layers: 1,
        }
    }

    /// Camera, uniforms and node geometry: what both the picture and the picking pass need.
    fn frame(&self, scene: &Scene) -> Frame {
        let camera = Camera::fit(scene, self.width, self.height);
        let globals = globals(scene, &camera, self.samples);
        let uniforms = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("orrery globals"),
                contents: bytemuck::bytes_of(&globals),
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("orrery globals"),
            layout: &self.pipelines.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniforms.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&self.atlas),
                },
            ],
        });
        let instance = |id: u32| {
            let n = &scene.nodes()[id as usize];
            NodeInstance {
                position: n.position,
                radius: n.radius,
                colour: n.colour,
                shape: match n.shape {
                    NodeShape::RingedSphere => 1,
                    _ => 0,
                },
                id,
            }
        };
        let count = scene.nodes().len() as u32;
        let nodes = match self.geometry {
            NodeGeometry::Impostor => {
                let order = back_to_front(scene, camera.eye());
                let vertices: Vec<NodeInstance> =
                    order.iter().flat_map(|&id| [instance(id); 3]).collect();
                self.buffer("orrery node corners", &vertices)
            }
            NodeGeometry::Mesh => {
                let instances: Vec<NodeInstance> = (0..count).map(instance).collect();
                self.buffer("orrery node instances", &instances)
            }
        };
        Frame {
            camera,
            bind_group,
            nodes,
            node_count: count,
        }
    }

    /// A vertex buffer holding `data`, or `None` when it is empty.
    fn buffer<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Option<wgpu::Buffer> {
        self.buffer_with(label, data, wgpu::BufferUsages::VERTEX)
    }

    fn buffer_with<T: bytemuck::Pod>(
        &self,
        label: &str,
        data: &[T],
        usage: wgpu::BufferUsages,
    ) -> Option<wgpu::Buffer> {
        if data.is_empty() {
            return None;
        }
        Some(
            self.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytemuck::cast_slice(data),
                    usage,
                }),
        )
    }

    fn draw(&self, encoder: &mut wgpu::CommandEncoder, scene: &Scene, frame: &Frame) {
        let halos: Vec<HaloInstance> = scene
            .clusters()
            .iter()
            .map(|c| HaloInstance {
                centre: c.centre,
                radius: c.radius,
                colour: c.colour,
            })
            .collect();
        let halos_buffer = self.buffer("orrery halos", &halos);
        let edges = edge_vertices(scene);
        let edges_buffer = self.buffer("orrery edges", &edges);
        let glyphs = labels::place(scene, &frame.camera);
        let glyphs_buffer = self.buffer("orrery glyphs", &glyphs);

        let (view, resolve_target) = match &self.targets.multisampled {
            Some(msaa) => (msaa, Some(&self.targets.colour_view)),
            None => (&self.targets.colour_view, None),
        };
        let background = linear(scene.style().background);
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("orrery picture"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view,
                depth_slice: None,
                resolve_target,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color {
                        r: f64::from(background[0]),
                        g: f64::from(background[1]),
                        b: f64::from(background[2]),
                        a: 1.0,
                    }),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: Some(depth_attachment(&self.targets.depth)),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_bind_group(0, &frame.bind_group, &[]);

        pass.set_pipeline(&self.pipelines.background);
        pass.draw(0..3, 0..1);

        if let Some(buffer) = &halos_buffer {
            pass.set_pipeline(&self.pipelines.halos);
            pass.set_vertex_buffer(0, buffer.slice(..));
            pass.draw(0..4, 0..halos.len() as u32);
        }
        self.draw_nodes(&mut pass, frame, false);
        if let Some(buffer) = &edges_buffer {
            pass.set_pipeline(&self.pipelines.edges);
            pass.set_vertex_buffer(0, buffer.slice(..));
            pass.draw(0..edges.len() as u32, 0..1);
        }
        if let Some(buffer) = &glyphs_buffer {
            pass.set_pipeline(&self.pipelines.labels);
            pass.set_vertex_buffer(0, buffer.slice(..));
            pass.draw(0..4, 0..glyphs.len() as u32);
        }
    }

    fn draw_ids(&self, encoder: &mut wgpu::CommandEncoder, frame: &Frame) {
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("orrery node ids"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &self.targets.ids_view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: Some(depth_attachment(&self.targets.ids_depth)),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_bind_group(0, &frame.bind_group, &[]);
        self.draw_nodes(&mut pass, frame, true);
    }

    fn draw_nodes(&self, pass: &mut wgpu::RenderPass<'_>, frame: &Frame, ids: bool) {
        let Some(nodes) = &frame.nodes else {
            return;
        };
        match self.geometry {
            NodeGeometry::Impostor => {
                let pipeline = if ids {
                    &self.pipelines.node_ids
                } else {
                    &self.pipelines.nodes
                };
                pass.set_pipeline(pipeline);
                pass.set_vertex_buffer(0, nodes.slice(..));
                pass.draw(0..3 * frame.node_count, 0..1);
            }
            NodeGeometry::Mesh => {
                let pipeline = if ids {
                    &self.pipelines.mesh_ids
                } else {
                    &self.pipelines.mesh
                };
                pass.set_pipeline(pipeline);
                pass.set_vertex_buffer(0, self.sphere.vertices.slice(..));
                pass.set_vertex_buffer(1, nodes.slice(..));
                pass.set_index_buffer(self.sphere.indices.slice(..), wgpu::IndexFormat::Uint32);
                pass.draw_indexed(0..self.sphere.index_count, 0, 0..frame.node_count);
            }
        }
    }

    /// Waits for `buffer` to be filled and copies it out.
    fn read(&self, buffer: &wgpu::Buffer) -> Result<Vec<u8>, RenderError> {
        let (sender, receiver) = mpsc::channel();
        buffer.map_async(wgpu::MapMode::Read, .., move |result| {
            // The receiver outlives the wait below; a send can only fail if it is gone.
            let _ = sender.send(result);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| gpu_error("waiting for the frame", e))?;
        receiver
            .recv()
            .map_err(|e| gpu_error("reading the image back", e))?
            .map_err(|e| gpu_error("reading the image back", e))?;
        let bytes = buffer
            .get_mapped_range(..)
            .map_err(|e| gpu_error("reading the image back", e))?
            .to_vec();
        buffer.unmap();
        Ok(bytes)
    }
}

impl Targets {
    fn new(device: &wgpu::Device, width: u32, height: u32, samples: u32) -> Targets {
        let texture = |label, format, samples, usage| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: samples,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage,
                view_formats: &[],
            })
        };
        let attachment = wgpu::TextureUsages::RENDER_ATTACHMENT;
        let readable = attachment | wgpu::TextureUsages::COPY_SRC;
        let multisampled = (samples > 1).then(|| {
            texture(
                "orrery picture (multisampled)",
                COLOUR_FORMAT,
                samples,
                attachment,
            )
            .create_view(&Default::default())
        });
        let colour = texture("orrery picture", COLOUR_FORMAT, 1, readable);
        let depth = texture("orrery depth", DEPTH_FORMAT, samples, attachment);
        let ids = texture("orrery node ids", ID_FORMAT, 1, readable);
        let ids_depth = texture("orrery node id depth", DEPTH_FORMAT, 1, attachment);
        Targets {
            multisampled,
            colour_view: colour.create_view(&Default::default()),
            colour,
            depth: depth.create_view(&Default::default()),
            ids_view: ids.create_view(&Default::default()),
            ids,
            ids_depth: ids_depth.create_view(&Default::default()),
        }
    }
}

/// Encodes 8-bit RGB pixels, rows from the top, as a PNG.
pub fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, RenderError> {
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder
        .write_header()
        .map_err(|e| RenderError::Png(Box::new(e)))?;
    writer
        .write_image_data(rgb)
        .map_err(|e| RenderError::Png(Box::new(e)))?;
    writer.finish().map_err(|e| RenderError::Png(Box::new(e)))?;
    Ok(png)
}

/// Runs `f` with the device's validation and out-of-memory errors caught, as a [`RenderError`].
fn scoped<T>(
    device: &wgpu::Device,
    doing: &'static str,
    f: impl FnOnce() -> T,
) -> Result<T, RenderError> {
    let out_of_memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let value = f();
    let invalid = pollster::block_on(validation.pop());
    let exhausted = pollster::block_on(out_of_memory.pop());
    match invalid.or(exhausted) {
        Some(error) => Err(gpu_error(doing, error)),
        None => Ok(value),
    }
}

fn gpu_error(
    doing: &'static str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> RenderError {
    RenderError::Gpu {
        doing,
        source: Box::new(error),
    }
}

fn check_size(width: u32, height: u32, max: u32) -> Result<(), RenderError> {
    if width == 0 || height == 0 || width > max || height > max {
        return Err(RenderError::InvalidSize { width, height, max });
    }
    Ok(())
}

fn check_samples(adapter: &wgpu::Adapter, samples: u32) -> Result<(), RenderError> {
    let colour = adapter.get_texture_format_features(COLOUR_FORMAT).flags;
    let depth = adapter.get_texture_format_features(DEPTH_FORMAT).flags;
    let supported: Vec<u32> = [1, 2, 4, 8, 16]
        .into_iter()
        .filter(|&n| {
            n == 1 || (colour.sample_count_supported(n) && depth.sample_count_supported(n))
        })
        .collect();
    if supported.contains(&samples) {
        return Ok(());
    }
    Err(RenderError::InvalidSamples {
        samples,
        supported: supported
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

fn depth_attachment(view: &wgpu::TextureView) -> wgpu::RenderPassDepthStencilAttachment<'_> {
    wgpu::RenderPassDepthStencilAttachment {
        view,
        depth_ops: Some(wgpu::Operations {
            load: wgpu::LoadOp::Clear(1.0),
            store: wgpu::StoreOp::Discard,
        }),
        stencil_ops: None,
    }
}

/// Bytes a row of a texture copy takes in a buffer: rows start at multiples of 256 bytes.
fn padded_row_bytes(width: u32, texel: u32) -> u32 {
    (width * texel).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
        * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT
}

fn globals(scene: &Scene, camera: &Camera, samples: u32) -> Globals {
    let style = scene.style();
    let (width, height) = camera.size();
    let view = camera.view();
    let proj = camera.proj();
    let (near, far) = camera.depth_range();
    // The ring plane of ringed nodes: tilted towards the viewer like Saturn's, fixed in the world
    // so that every ring agrees.
    let ring = (view * Vec3::new(0.0, 0.9, 0.42).normalize().extend(0.0)).truncate();
    let light = Vec3::new(-0.45, 0.7, 0.55).normalize();
    let alpha = |c: Srgba| f32::from(c[3]) / 255.0;
    let with_alpha = |c: Srgba| {
        let [r, g, b] = linear(c);
        [r, g, b, alpha(c)]
    };
    Globals {
        view: view.to_cols_array_2d(),
        proj: proj.to_cols_array_2d(),
        viewport: [
            width as f32,
            height as f32,
            2.0 / (height as f32 * proj.y_axis.y),
            if samples > 1 { 1.0 } else { 0.0 },
        ],
        light: light.extend(0.0).into(),
        // Fog starts a little behind the nearest node, so the front of the scene stays crisp.
        fog: [near + (far - near) * 0.15, far, style.fog, style.ambient],
        background: with_alpha(style.background),
        background_edge: with_alpha(style.background_edge),
        shading: [style.specular, ring.x, ring.y, ring.z],
        label: with_alpha(style.label),
        label_outline: with_alpha(style.label_outline),
    }
}

/// Node indices ordered from the farthest from `eye` to the nearest (ties by index), so that
/// blended node rims lie over what is behind them.
fn back_to_front(scene: &Scene, eye: [f32; 3]) -> Vec<u32> {
    let eye = Vec3::from(eye);
    let mut keyed: Vec<(f32, u32)> = scene
        .nodes()
        .iter()
        .enumerate()
        .map(|(i, n)| (Vec3::from(n.position).distance_squared(eye), i as u32))
        .collect();
    keyed.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Two vertices an edge, each coloured between the edge colour and its node's colour.
fn edge_vertices(scene: &Scene) -> Vec<EdgeVertex> {
    let style = scene.style();
    let nodes = scene.nodes();
    let tint = style.edge_tint;
    let vertex = |index: u32| {
        let node = &nodes[index as usize];
        let mut colour = crate::scene::mix(style.edge, node.colour, tint);
        colour[3] = style.edge[3];
        EdgeVertex {
            position: node.position,
            colour,
        }
    };
    scene
        .edges()
        .iter()
        .flat_map(|&[a, b]| [vertex(a), vertex(b)])
        .collect()
}

/// An sRGB colour in linear light.
fn linear(c: Srgba) -> [f32; 3] {
    let channel = |v: u8| {
        let v = f32::from(v) / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    [channel(c[0]), channel(c[1]), channel(c[2])]
}

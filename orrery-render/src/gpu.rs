//! The wgpu renderer: draws a [`Scene`] offscreen and reads it back as RGBA or PNG, and finds the
//! node under a pixel. Start with [`Renderer::headless`], then [`Renderer::render_png`].
//!
//! A frame is drawn in layers into one render pass: a gradient background (with one sample, drawn
//! once and copied in), cluster halos, nodes as impostor spheres (one camera-facing triangle a
//! node, shaded round per pixel with its true depth, back to front so that their rims blend), edges
//! as one blended line list, then labels, set in DejaVu Sans from a glyph atlas and placed clear of
//! nodes and of each other. Buffers are kept and refilled from frame to frame. It is multisampled
//! on GPUs; software rasterisers, which pay for every sample, draw one sample a pixel by default.
//! Picking draws the same nodes into a node-id target. Works on a GPU and on Mesa's software
//! rasterisers (see the `adapter` module for how one is chosen).
//!
//! Invariants: this is the only module that touches wgpu; a missing adapter is an error, never a
//! blank image; nothing here panics on user input.

mod adapter;
mod camera;
mod font;
mod labels;
mod pipelines;

use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

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
    font: font::Font,
    atlas: wgpu::TextureView,
    targets: Targets,
    sphere: SphereMesh,
    /// Buffers of earlier frames, locked by a frame from its first upload to its readback.
    reused: Mutex<Reused>,
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

/// Buffers kept from one frame to the next, one a label, grown when a scene needs more: a frame
/// then writes into memory it already has instead of allocating (and faulting in) megabytes.
#[derive(Debug, Default)]
struct Reused {
    buffers: Vec<(&'static str, wgpu::Buffer)>,
    /// The background drawn for these centre and corner colours.
    background: Option<([Srgba; 2], wgpu::Texture)>,
    /// Where node corners and edge ends are gathered before their upload: megabytes for large
    /// graphs, which fresh allocations would fault in page by page every frame.
    corners: Vec<NodeInstance>,
    edge_ends: Vec<EdgeVertex>,
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

        let font = font::Font::new(label_pixels(height));
        let renderer = scoped(&device, "creating the pipelines and targets", || {
            let pipelines = Pipelines::new(&device, samples);
            let (atlas_width, atlas_height) = font.atlas_size();
            let atlas = device.create_texture_with_data(
                &opened.queue,
                &wgpu::TextureDescriptor {
                    label: Some("orrery font atlas"),
                    size: wgpu::Extent3d {
                        width: atlas_width,
                        height: atlas_height,
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
                font.atlas(),
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
            font,
            atlas,
            targets,
            sphere,
            reused: Mutex::default(),
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
        // A poisoned lock only means another frame panicked; the buffers are still whole.
        let mut reused = self.reused.lock().unwrap_or_else(PoisonError::into_inner);
        let drawn = scoped(&self.device, "drawing the scene", || {
            let frame = self.frame(scene, &mut reused);
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("orrery frame"),
                });
            self.draw(&mut encoder, scene, &frame, &mut reused);
            let readback = reused.readback(
                &self.device,
                "orrery readback",
                u64::from(padded_row) * u64::from(self.height),
            );
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
        });
        if drawn.is_err() {
            // The background may not have been drawn: draw it again next time.
            reused.background = None;
        }
        let readback = drawn?;
        let row = self.width as usize * 4;
        let size = u64::from(padded_row) * u64::from(self.height);
        self.read(&readback, size, |padded| {
            if padded_row as usize == row {
                return padded.to_vec();
            }
            let mut pixels = Vec::with_capacity(row * self.height as usize);
            for line in padded.chunks_exact(padded_row as usize) {
                pixels.extend_from_slice(&line[..row]);
            }
            pixels
        })
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
        let mut reused = self.reused.lock().unwrap_or_else(PoisonError::into_inner);
        let readback = scoped(&self.device, "drawing node ids", || {
            let frame = self.frame(scene, &mut reused);
            let mut encoder = self
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("orrery pick"),
                });
            self.draw_ids(&mut encoder, &frame);
            let readback = reused.readback(&self.device, "orrery pick readback", 4);
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
        let id = self.read(&readback, 4, |bytes| {
            u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
        })?;
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
    fn frame(&self, scene: &Scene, reused: &mut Reused) -> Frame {
        let camera = Camera::fit(scene, self.width, self.height);
        let globals = globals(scene, &camera, self.samples);
        let uniforms = reused
            .upload(
                &self.device,
                &self.queue,
                "orrery globals",
                &[globals],
                wgpu::BufferUsages::UNIFORM,
            )
            .expect("the globals are not empty");
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
                let mut corners = std::mem::take(&mut reused.corners);
                corners.clear();
                corners.extend(order.iter().flat_map(|&id| [instance(id); 3]));
                let buffer =
                    reused.vertices(&self.device, &self.queue, "orrery node corners", &corners);
                reused.corners = corners;
                buffer
            }
            NodeGeometry::Mesh => {
                let instances: Vec<NodeInstance> = (0..count).map(instance).collect();
                reused.vertices(
                    &self.device,
                    &self.queue,
                    "orrery node instances",
                    &instances,
                )
            }
        };
        Frame {
            camera,
            bind_group,
            nodes,
            node_count: count,
        }
    }

    fn draw(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        scene: &Scene,
        frame: &Frame,
        reused: &mut Reused,
    ) {
        let halos: Vec<HaloInstance> = scene
            .clusters()
            .iter()
            .map(|c| HaloInstance {
                centre: c.centre,
                radius: c.radius,
                colour: c.colour,
            })
            .collect();
        let halos_buffer = reused.vertices(&self.device, &self.queue, "orrery halos", &halos);
        let mut edges = std::mem::take(&mut reused.edge_ends);
        edge_vertices(scene, &mut edges);
        let edges_buffer = reused.vertices(&self.device, &self.queue, "orrery edges", &edges);
        let edge_count = edges.len() as u32;
        reused.edge_ends = edges;
        let glyphs = labels::glyphs(&labels::place(scene, &frame.camera, &self.font));
        let glyphs_buffer = reused.vertices(&self.device, &self.queue, "orrery glyphs", &glyphs);

        let (view, resolve_target) = match &self.targets.multisampled {
            Some(msaa) => (msaa, Some(&self.targets.colour_view)),
            None => (&self.targets.colour_view, None),
        };
        // With one sample the background is drawn once and copied in every frame: its dithered
        // gradient costs a software rasteriser more per pixel than anything else in the picture.
        let copied = self.samples == 1;
        if copied {
            let style = scene.style();
            let (texture, fresh) = reused.background(
                &self.device,
                [style.background, style.background_edge],
                self.extent(),
            );
            if fresh {
                let view = texture.create_view(&Default::default());
                let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("orrery background"),
                    color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                        view: &view,
                        depth_slice: None,
                        resolve_target: None,
                        ops: wgpu::Operations {
                            load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
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
            }
            encoder.copy_texture_to_texture(
                texture.as_image_copy(),
                self.targets.colour.as_image_copy(),
                self.extent(),
            );
        }
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("orrery picture"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view,
                depth_slice: None,
                resolve_target,
                ops: wgpu::Operations {
                    load: if copied {
                        wgpu::LoadOp::Load
                    } else {
                        wgpu::LoadOp::Clear(wgpu::Color::BLACK)
                    },
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: Some(depth_attachment(&self.targets.depth)),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_bind_group(0, &frame.bind_group, &[]);
        if !copied {
            pass.set_pipeline(&self.pipelines.background);
            pass.draw(0..3, 0..1);
        }

        if let Some(buffer) = &halos_buffer {
            pass.set_pipeline(&self.pipelines.halos);
            pass.set_vertex_buffer(0, buffer.slice(..));
            pass.draw(0..4, 0..halos.len() as u32);
        }
        self.draw_nodes(&mut pass, frame, false);
        if let Some(buffer) = &edges_buffer {
            pass.set_pipeline(&self.pipelines.edges);
            pass.set_vertex_buffer(0, buffer.slice(..));
            pass.draw(0..edge_count, 0..1);
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

    /// Waits for `buffer` to be filled and hands its bytes to `take`, which copies out what it
    /// needs (once: the mapped bytes are not copied beforehand).
    fn read<T>(
        &self,
        buffer: &wgpu::Buffer,
        size: u64,
        take: impl FnOnce(&[u8]) -> T,
    ) -> Result<T, RenderError> {
        let (sender, receiver) = mpsc::channel();
        buffer.map_async(wgpu::MapMode::Read, ..size, move |result| {
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
        let mapped = buffer
            .get_mapped_range(..size)
            .map_err(|e| gpu_error("reading the image back", e))?;
        let value = take(&mapped);
        drop(mapped);
        buffer.unmap();
        Ok(value)
    }
}

impl Reused {
    /// A vertex buffer holding `data`, or `None` when it is empty.
    fn vertices<T: bytemuck::Pod>(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        label: &'static str,
        data: &[T],
    ) -> Option<wgpu::Buffer> {
        self.upload(device, queue, label, data, wgpu::BufferUsages::VERTEX)
    }

    /// The buffer `label` holding `data` at its start, or `None` when `data` is empty. The write
    /// lands before the next submission, so the frame must submit before another uploads.
    fn upload<T: bytemuck::Pod>(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        label: &'static str,
        data: &[T],
        usage: wgpu::BufferUsages,
    ) -> Option<wgpu::Buffer> {
        let bytes: &[u8] = bytemuck::cast_slice(data);
        if bytes.is_empty() {
            return None;
        }
        let size = bytes.len() as u64;
        if let Some(buffer) = self.find(label, size) {
            queue.write_buffer(&buffer, 0, bytes);
            return Some(buffer);
        }
        let buffer = self.create(
            device,
            label,
            size,
            usage | wgpu::BufferUsages::COPY_DST,
            true,
        );
        buffer
            .get_mapped_range_mut(..size)
            .expect("a buffer mapped at creation")
            .copy_from_slice(bytes);
        buffer.unmap();
        Some(buffer)
    }

    /// A buffer of at least `size` bytes to copy a result into and map for reading.
    fn readback(&mut self, device: &wgpu::Device, label: &'static str, size: u64) -> wgpu::Buffer {
        if let Some(buffer) = self.find(label, size) {
            return buffer;
        }
        let usage = wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ;
        self.create(device, label, size, usage, false)
    }

    /// The background texture for `colours`, and whether it is new (and so still to be drawn).
    fn background(
        &mut self,
        device: &wgpu::Device,
        colours: [Srgba; 2],
        size: wgpu::Extent3d,
    ) -> (wgpu::Texture, bool) {
        if let Some((kept, texture)) = &self.background
            && *kept == colours
        {
            return (texture.clone(), false);
        }
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("orrery background"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: COLOUR_FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        self.background = Some((colours, texture.clone()));
        (texture, true)
    }

    fn find(&self, label: &str, size: u64) -> Option<wgpu::Buffer> {
        self.buffers
            .iter()
            .find(|(l, b)| *l == label && b.size() >= size)
            .map(|(_, b)| b.clone())
    }

    /// A new buffer for `label`, with a quarter to spare so that a slightly larger scene does
    /// not allocate again; it replaces the one it outgrew.
    fn create(
        &mut self,
        device: &wgpu::Device,
        label: &'static str,
        size: u64,
        usage: wgpu::BufferUsages,
        mapped_at_creation: bool,
    ) -> wgpu::Buffer {
        let size = size.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        let spare = (size / 4).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (size + spare)
                .min(device.limits().max_buffer_size)
                .max(size),
            usage,
            mapped_at_creation,
        });
        self.buffers.retain(|(l, _)| *l != label);
        self.buffers.push((label, buffer.clone()));
        buffer
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
        let colour = texture(
            "orrery picture",
            COLOUR_FORMAT,
            1,
            readable | wgpu::TextureUsages::COPY_DST,
        );
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

/// Label text height in pixels for images `height` pixels high.
fn label_pixels(height: u32) -> f32 {
    match height {
        0..400 => 12.0,
        400..1400 => 16.0,
        _ => 22.0,
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
    // Squared distances are never negative, so their bits order like the numbers; inverted, the
    // farthest comes first. A stable radix sort by those keys keeps ties in index order, and
    // takes a tenth of the time of a comparison sort at 100,000 nodes.
    let keys: Vec<u32> = scene
        .nodes()
        .iter()
        .map(|n| !Vec3::from(n.position).distance_squared(eye).to_bits())
        .collect();
    radix_sort_indices(&keys)
}

/// The indices of `keys` in ascending order of key, ties in index order: a least significant
/// digit first radix sort, 11 bits a pass.
fn radix_sort_indices(keys: &[u32]) -> Vec<u32> {
    const BITS: u32 = 11;
    const BUCKETS: usize = 1 << BITS;
    let mut order: Vec<u32> = (0..keys.len() as u32).collect();
    let mut next = vec![0u32; keys.len()];
    for shift in (0..32).step_by(BITS as usize) {
        let digit = |i: u32| ((keys[i as usize] >> shift) as usize) & (BUCKETS - 1);
        let mut starts = vec![0usize; BUCKETS];
        for &i in &order {
            starts[digit(i)] += 1;
        }
        if starts.contains(&keys.len()) {
            // Every key has the same digit here: this pass would not move anything.
            continue;
        }
        let mut sum = 0;
        for start in &mut starts {
            (*start, sum) = (sum, sum + *start);
        }
        for &i in &order {
            let d = digit(i);
            next[starts[d]] = i;
            starts[d] += 1;
        }
        std::mem::swap(&mut order, &mut next);
    }
    order
}

/// Two vertices an edge, each coloured between the edge colour and its node's colour, in place of
/// what `out` held.
fn edge_vertices(scene: &Scene, out: &mut Vec<EdgeVertex>) {
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
    out.clear();
    out.extend(
        scene
            .edges()
            .iter()
            .flat_map(|&[a, b]| [vertex(a), vertex(b)]),
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_radix_sort_orders_like_a_stable_comparison_sort() {
        let mut state = 0x2545_f491u32;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for n in [0, 1, 2, 100, 5000] {
            // Few distinct keys, to have ties, and keys that differ in every digit.
            let keys: Vec<u32> = (0..n)
                .map(|i| if i % 3 == 0 { random() % 7 } else { random() })
                .collect();
            let mut expected: Vec<u32> = (0..n as u32).collect();
            expected.sort_by_key(|&i| keys[i as usize]);
            assert_eq!(radix_sort_indices(&keys), expected, "{n} keys");
        }
    }

    #[test]
    fn nodes_come_farthest_first_with_ties_in_index_order() {
        let input = crate::SceneInput::from_edges(
            vec![
                [0.0, 0.0, 1.0],
                [0.0, 0.0, 3.0],
                [0.0, 1.0, 0.0],
                [0.0, 0.0, 2.0],
            ],
            Vec::new(),
        );
        let scene = Scene::build(&input, &crate::Theme::dark()).unwrap();
        // From (0, 0, 5): distances 4, 2, sqrt(26), 3.
        assert_eq!(back_to_front(&scene, [0.0, 0.0, 5.0]), [2, 0, 3, 1]);
        // From the origin, nodes 0 and 2 tie at distance 1.
        assert_eq!(back_to_front(&scene, [0.0, 0.0, 0.0]), [1, 3, 0, 2]);
    }
}

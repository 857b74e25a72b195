//! 3D layout and rendering of Orrery graphs, in three stages that each ignore the next: [`layout`]
//! gives positions, [`scene`] turns them into plain drawing data ([`Scene::build`] from a
//! [`SceneInput`] and a [`Theme`]), and [`gpu`] draws a scene offscreen with wgpu
//! ([`Renderer::headless`], then [`Renderer::render_png`] or [`Renderer::pick`]).
//!
//! Invariants: layout is CPU-only and deterministic for a seed; only the `gpu` module touches
//! wgpu; rendering needs an adapter (a GPU, or Mesa's lavapipe or llvmpipe without one) and fails
//! with [`RenderError::NoAdapter`] rather than drawing nothing.

#![warn(missing_docs)]

pub mod document;
pub mod gpu;
pub mod layout;
pub mod scene;

pub use crate::gpu::{Camera, NodeGeometry, RenderOptions, Renderer};
pub use crate::scene::{NodeStyleKind, RenderError, Scene, SceneInput, SceneNode, Theme};

//! Integration tests of the scene and the renderer: reference images, picking, camera fit and bad
//! input. They render on whatever adapter opens (Mesa's software drivers without a GPU); a missing
//! adapter fails them.

mod camera;
mod errors;
mod harness;
mod images;
mod picking;
mod scenes;

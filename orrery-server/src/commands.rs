//! The commands of the `orrery` binary, one module per area.

pub mod engine;
pub mod render;
pub mod serve;

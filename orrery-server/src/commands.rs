//! The commands of the `orrery` binary, one module per area.

pub mod engine;

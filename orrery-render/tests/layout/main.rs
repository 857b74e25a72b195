//! Integration tests of the layout engine, through its public API only.

mod clusters;
mod determinism;
mod edge_list;
mod quality;
mod support;
mod warm_start;

//! The commands of the `orrery` binary, one module per area. Each command's options are one
//! struct (clap's `Args`) that `main.rs` parses and hands to the command whole; options several
//! commands share are here.

use std::path::PathBuf;

use clap::ValueEnum;

pub mod backup;
pub mod engine;
pub mod prune;
pub mod render;
pub mod serve;

// Where custom agents come from (optional).
#[derive(Debug, clap::Args)]
pub struct AgentsArg {
    /// Directory of custom agents: DIR/ID.json is the latest version of agent ID, and
    /// DIR/ID/*.json are older versions, addressed by digest.
    #[arg(long = "agents", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

// Input size limits.
#[derive(Debug, clap::Args)]
pub struct LimitsArg {
    /// Refuse documents larger than this many bytes, before reading them.
    #[arg(long, value_name = "BYTES", default_value_t = orrery_core::document::DEFAULT_MAX_BYTES)]
    pub max_bytes: usize,
}

/// How a report is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For tools.
    Json,
}

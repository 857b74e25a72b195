//! The `orrery` command line: the graph engine's commands and (later) the server. This file only
//! parses arguments; each command lives in `commands/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod commands;

/// Design, validate, version and lay out AI-agent workflows.
///
/// A workflow is a JSON graph document (see docs/graph-format.md): nodes with typed ports, edges
/// between them, and `subgraph` nodes that nest custom agents. Start with
/// `orrery validate examples/graphs/support-triage.json`.
#[derive(Debug, Parser)]
#[command(name = "orrery", version, about, long_about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check graphs and report every problem, like a compiler.
    ///
    /// Exit status: 0 when no file has errors (warnings are fine), 1 when one has, 2 when a file
    /// cannot be read or the arguments are wrong.
    Validate {
        /// Graph documents to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        agents: AgentsArg,
        /// Output format: text for people, json for tools (an array of diagnostics).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        limits: LimitsArg,
    },
    /// Print a graph's content digest: its version id.
    ///
    /// Positions and other visual data do not count, nor do key order and spacing. With
    /// --agents, `latest` agent references are first pinned to the versions in DIR, giving
    /// the digest of exactly what would run.
    Digest {
        /// The graph document.
        file: PathBuf,
        #[command(flatten)]
        agents: AgentsArg,
        #[command(flatten)]
        limits: LimitsArg,
    },
    /// Show what changed between two versions of a graph.
    ///
    /// Lists nodes, ports, edges and config fields added (+), removed (-) and changed (~). With
    /// --agents, changed agent versions are followed and their interface changes classified
    /// as breaking or compatible. Exit status: 0 when the graphs are the same, 1 when they
    /// differ, 2 on errors.
    Diff {
        /// The older version.
        old: PathBuf,
        /// The newer version.
        new: PathBuf,
        #[command(flatten)]
        agents: AgentsArg,
        /// Output format: text for people, json for tools.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        limits: LimitsArg,
    },
    /// Inline every custom agent a graph uses into one level; JSON on stdout.
    ///
    /// Inlined nodes get ids prefixed with the subgraph node's id (`billing/classify`) and the
    /// output lists each inlined agent version under `groups`, so the hierarchy stays known.
    Flatten {
        /// The graph document.
        file: PathBuf,
        /// Directory of agents (DIR/<id>.json, older versions in DIR/<id>/*.json).
        #[arg(long, value_name = "DIR")]
        agents: PathBuf,
        #[command(flatten)]
        limits: LimitsArg,
    },
}

/// Where custom agents come from.
#[derive(Debug, clap::Args)]
struct AgentsArg {
    /// Directory of custom agents: DIR/<id>.json is the latest version of agent <id>, and
    /// DIR/<id>/*.json are older versions, addressed by digest.
    #[arg(long = "agents", value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Input size limits.
#[derive(Debug, clap::Args)]
struct LimitsArg {
    /// Refuse documents larger than this many bytes, before reading them.
    #[arg(long, value_name = "BYTES", default_value_t = orrery_core::document::DEFAULT_MAX_BYTES)]
    max_bytes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Validate {
            files,
            agents,
            format,
            limits,
        } => commands::engine::validate(
            &files,
            agents.dir.as_deref(),
            format == Format::Json,
            limits.max_bytes,
        ),
        Command::Digest {
            file,
            agents,
            limits,
        } => commands::engine::digest(&file, agents.dir.as_deref(), limits.max_bytes),
        Command::Diff {
            old,
            new,
            agents,
            format,
            limits,
        } => commands::engine::diff(
            &old,
            &new,
            agents.dir.as_deref(),
            format == Format::Json,
            limits.max_bytes,
        ),
        Command::Flatten {
            file,
            agents,
            limits,
        } => commands::engine::flatten(&file, &agents, limits.max_bytes),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

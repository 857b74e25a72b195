//! The `orrery` command line: the graph engine's commands, layout and rendering, and the server.
//! This file only parses arguments; each command lives in `commands/`, with its options as one
//! struct it receives whole.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

/// Documents are trees of many small strings and maps: parsing and dropping one is mostly
/// allocator work, which mimalloc does in about half glibc's time (BENCHMARKS.md, engine).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use commands::backup::BackupArgs;
use commands::engine::{DiffArgs, DigestArgs, FlattenArgs, ValidateArgs};
use commands::prune::PruneArgs;
use commands::render::{LayoutArgs, RenderArgs};
use commands::serve::{CreateUserArgs, ServeArgs};

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
    Validate(ValidateArgs),
    /// Print a graph's content digest: its version id.
    ///
    /// Positions and other visual data do not count, nor do key order and spacing. With
    /// --agents, `latest` agent references are first pinned to the versions in DIR, giving
    /// the digest of exactly what would run.
    Digest(DigestArgs),
    /// Show what changed between two versions of a graph.
    ///
    /// Lists nodes, ports, edges and config fields added (+), removed (-) and changed (~). With
    /// --agents, changed agent versions are followed and their interface changes classified
    /// as breaking or compatible. Exit status: 0 when the graphs are the same, 1 when they
    /// differ, 2 on errors.
    Diff(DiffArgs),
    /// Run the Orrery server (API, docs at /docs, health at /healthz and /readyz).
    ///
    /// With no configuration it listens on 127.0.0.1:8080 and keeps its data in an SQLite file
    /// in .orrery/. Settings come from defaults, then --config (or ./orrery.toml), then
    /// ORRERY_* environment variables (ORRERY_DATABASE_URL, ORRERY_REDIS_URL, …), then these
    /// options. Stops gracefully on SIGTERM or Ctrl-C.
    Serve(ServeArgs),
    /// Administer the server: accounts, backups and retention.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Lay a graph out in 3D: one `x y z` line per node (or JSON).
    ///
    /// INPUT is a graph document (JSON) or an edge list: `src dst` per line, 0-based integer ids,
    /// an optional first line `# nodes N`, and `#` comments. The same graph and seed always give
    /// the same positions.
    Layout(LayoutArgs),
    /// Render a graph to a PNG, headless (on a GPU, or on the CPU with Mesa's drivers).
    Render(RenderArgs),
    /// Inline every custom agent a graph uses into one level; JSON on stdout.
    ///
    /// Inlined nodes get ids prefixed with the subgraph node's id (`billing/classify`) and the
    /// output lists each inlined agent version under `groups`, so the hierarchy stays known.
    Flatten(FlattenArgs),
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an account, typically the first admin. The password is read from stdin with
    /// --password-stdin, or generated and printed once.
    CreateUser(CreateUserArgs),
    /// Copy the SQLite database to a new file while the server runs (a consistent snapshot,
    /// `VACUUM INTO`). PostgreSQL is backed up with pg_dump instead.
    Backup(BackupArgs),
    /// Prune what has been kept long enough, now (the server does it hourly): old API call
    /// records (rolled up into daily totals first), events, finished mail, spent tokens and
    /// webhook receipts, as the retention_* settings say.
    Prune(PruneArgs),
}

fn main() -> ExitCode {
    return_large_blocks_to_the_system();
    let outcome = match Cli::parse().command {
        Command::Validate(args) => commands::engine::validate(&args),
        Command::Digest(args) => commands::engine::digest(&args),
        Command::Diff(args) => commands::engine::diff(&args),
        Command::Flatten(args) => commands::engine::flatten(&args),
        Command::Serve(args) => commands::serve::serve(&args),
        Command::Admin {
            command: AdminCommand::CreateUser(args),
        } => commands::serve::create_user(&args),
        Command::Admin {
            command: AdminCommand::Backup(args),
        } => commands::backup::backup(&args),
        Command::Admin {
            command: AdminCommand::Prune(args),
        } => commands::prune::prune(&args),
        Command::Layout(args) => commands::render::layout(&args),
        Command::Render(args) => commands::render::render(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Makes glibc's malloc give large blocks back to the system when they are freed. By default
/// it raises its mmap threshold to the largest block freed so far (up to 32 MiB), so after the
/// first sign-in each Argon2 buffer (19 MiB) comes from a heap arena and stays in the process
/// once freed: 27 MiB when ready, 335 MiB after 16 sign-ups in the fault campaign
/// (BENCHMARKS.md). A fixed threshold of 128 KiB (glibc's starting value) keeps every block
/// that large in its own mapping, unmapped when freed. Set here, in the binary, and not in the
/// library crates, so that an embedder's allocator choices stay theirs; a
/// `MALLOC_MMAP_THRESHOLD_` in the environment still wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn return_large_blocks_to_the_system() {
    /// `M_MMAP_THRESHOLD` in glibc's `malloc.h`.
    const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
    unsafe extern "C" {
        fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
    }
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_some() {
        return;
    }
    // SAFETY: `mallopt` is glibc's, with the signature declared above; it is called before
    // any other thread exists, and only changes a tuning parameter.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_blocks_to_the_system() {}

//! The `orrery` command line: the graph engine's commands, layout and rendering, and the server.
//! This file only parses arguments; each command lives in `commands/`.

use std::net::SocketAddr;
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
    /// Run the Orrery server (API, docs at /docs, health at /healthz and /readyz).
    ///
    /// With no configuration it listens on 127.0.0.1:8080 and keeps its data in an SQLite file
    /// in .orrery/. Settings come from defaults, then --config (or ./orrery.toml), then
    /// ORRERY_* environment variables (ORRERY_DATABASE_URL, ORRERY_REDIS_URL, …), then these
    /// options. Stops gracefully on SIGTERM or Ctrl-C.
    Serve {
        #[command(flatten)]
        server: ServerArgs,
        /// Address to listen on (overrides the configuration).
        #[arg(long, value_name = "ADDR")]
        bind: Option<SocketAddr>,
    },
    /// Administer the server's accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Lay a graph out in 3D: one `x y z` line per node (or JSON).
    ///
    /// INPUT is a graph document (JSON) or an edge list: `src dst` per line, 0-based integer ids,
    /// an optional first line `# nodes N`, and `#` comments. The same graph and seed always give
    /// the same positions.
    Layout {
        /// Graph document or edge list.
        input: PathBuf,
        /// Where to write the positions.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
        /// Iterations on the finest level (default: enough to converge).
        #[arg(long, value_name = "N")]
        iterations: Option<usize>,
        /// Seed of the layout.
        #[arg(long, value_name = "S", default_value_t = 0)]
        seed: u64,
        /// txt (`x y z` lines in node order) or json.
        #[arg(long, value_enum, default_value_t = PositionsFormat::Txt)]
        format: PositionsFormat,
        /// Flatten custom agents from DIR first, so each agent's nodes form a cluster.
        #[arg(long, value_name = "DIR")]
        agents: Option<PathBuf>,
        #[command(flatten)]
        limits: LimitsArg,
    },
    /// Render a graph to a PNG, headless (on a GPU, or on the CPU with Mesa's drivers).
    Render {
        /// Graph document or edge list.
        input: PathBuf,
        /// The PNG to write.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
        /// Image width in pixels.
        #[arg(long, default_value_t = 1280)]
        width: u32,
        /// Image height in pixels.
        #[arg(long, default_value_t = 720)]
        height: u32,
        /// Positions from `orrery layout` (default: lay out now).
        #[arg(long, value_name = "FILE")]
        positions: Option<PathBuf>,
        /// Seed of the layout when there are no positions.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// dark or light.
        #[arg(long, default_value = "dark")]
        theme: String,
        /// Flatten custom agents from DIR first.
        #[arg(long, value_name = "DIR")]
        agents: Option<PathBuf>,
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
        /// Directory of agents (DIR/ID.json, older versions in DIR/ID/*.json).
        #[arg(long, value_name = "DIR")]
        agents: PathBuf,
        #[command(flatten)]
        limits: LimitsArg,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an account, typically the first admin. The password is read from stdin with
    /// --password-stdin, or generated and printed once.
    CreateUser {
        /// The account's email.
        #[arg(long)]
        email: String,
        /// Display name (default: the email).
        #[arg(long)]
        name: Option<String>,
        /// user or admin.
        #[arg(long, value_enum, default_value_t = RoleArg::User)]
        role: RoleArg,
        /// Read the password from stdin instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Where the server's configuration comes from.
#[derive(Debug, clap::Args)]
struct ServerArgs {
    /// TOML configuration file (default: ./orrery.toml when it exists).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// sqlite://… or postgres://… (overrides ORRERY_DATABASE_URL and the file).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum RoleArg {
    User,
    Admin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PositionsFormat {
    Txt,
    Json,
}

/// Where custom agents come from.
#[derive(Debug, clap::Args)]
struct AgentsArg {
    /// Directory of custom agents: DIR/ID.json is the latest version of agent ID, and
    /// DIR/ID/*.json are older versions, addressed by digest.
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
        Command::Serve { server, bind } => {
            let config = server.config.or_else(commands::serve::default_config);
            commands::serve::settings(config.as_deref(), bind, server.database_url)
                .and_then(commands::serve::serve)
        }
        Command::Admin {
            command:
                AdminCommand::CreateUser {
                    email,
                    name,
                    role,
                    password_stdin,
                    server,
                },
        } => {
            let config = server.config.or_else(commands::serve::default_config);
            let role = match role {
                RoleArg::User => orrery_core::store::Role::User,
                RoleArg::Admin => orrery_core::store::Role::Admin,
            };
            commands::serve::settings(config.as_deref(), None, server.database_url).and_then(|s| {
                commands::serve::create_user(s, &email, name.as_deref(), role, password_stdin)
            })
        }
        Command::Layout {
            input,
            output,
            iterations,
            seed,
            format,
            agents,
            limits,
        } => commands::render::layout(
            &input,
            &output,
            agents.as_deref(),
            seed,
            iterations,
            format == PositionsFormat::Json,
            limits.max_bytes,
        ),
        Command::Render {
            input,
            output,
            width,
            height,
            positions,
            seed,
            theme,
            agents,
            limits,
        } => commands::render::render(
            &input,
            &output,
            agents.as_deref(),
            positions.as_deref(),
            width,
            height,
            seed,
            &theme,
            limits.max_bytes,
        ),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

//! The graph engine's commands: validate, digest, diff, flatten.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use orrery_core::{
    AgentVersion, Diagnostic, DirResolver, FlattenOptions, Graph, NoAgents, ParseError,
    ParseOptions, Resolver, ValidateOptions,
};
use serde_json::{Value, json};

use crate::commands::{AgentsArg, Format, LimitsArg};

// `orrery validate`'s options.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Graph documents to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub agents: AgentsArg,
    /// Output format: text for people, json for tools (an array of diagnostics).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub limits: LimitsArg,
}

// `orrery digest`'s options.
#[derive(Debug, clap::Args)]
pub struct DigestArgs {
    /// The graph document.
    pub file: PathBuf,
    #[command(flatten)]
    pub agents: AgentsArg,
    #[command(flatten)]
    pub limits: LimitsArg,
}

// `orrery diff`'s options.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The older version.
    pub old: PathBuf,
    /// The newer version.
    pub new: PathBuf,
    #[command(flatten)]
    pub agents: AgentsArg,
    /// Output format: text for people, json for tools.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub limits: LimitsArg,
}

// `orrery flatten`'s options.
#[derive(Debug, clap::Args)]
pub struct FlattenArgs {
    /// The graph document.
    pub file: PathBuf,
    /// Directory of agents (DIR/ID.json, older versions in DIR/ID/*.json).
    #[arg(long, value_name = "DIR")]
    pub agents: PathBuf,
    #[command(flatten)]
    pub limits: LimitsArg,
}

/// Reads a graph document, refusing files over `max_bytes` before reading them.
///
/// The outer error is an I/O problem (exit status 2); the inner one is a bad document.
pub fn read_graph(path: &Path, max_bytes: usize) -> anyhow::Result<Result<Graph, ParseError>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    if size > max_bytes as u64 {
        return Ok(Err(ParseError::TooLarge {
            size: usize::try_from(size).unwrap_or(usize::MAX),
            limit: max_bytes,
        }));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // The file may grow between the check and the read: read at most one byte past the limit.
    file.take(max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Graph::from_slice_with(&bytes, &ParseOptions { max_bytes }))
}

fn open_agents(dir: Option<&Path>, max_bytes: usize) -> anyhow::Result<Option<DirResolver>> {
    dir.map(|dir| {
        DirResolver::open(dir, &ParseOptions { max_bytes })
            .with_context(|| format!("cannot read the agents directory {}", dir.display()))
    })
    .transpose()
}

/// When `file` is itself one of the agents in `dir`, its agent id: a graph that uses itself is
/// then reported as a nesting cycle at the top.
fn agent_id_of(file: &Path, dir: Option<&Path>) -> Option<String> {
    let dir = std::fs::canonicalize(dir?).ok()?;
    let file = std::fs::canonicalize(file).ok()?;
    if file.parent()? != dir {
        return None;
    }
    Some(file.file_stem()?.to_str()?.to_owned())
}

/// `orrery validate`.
pub fn validate(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let (files, agents) = (&args.files, args.agents.dir.as_deref());
    let (json, max_bytes) = (args.format == Format::Json, args.limits.max_bytes);
    let resolver = open_agents(agents, max_bytes)?;
    let resolver: &dyn Resolver = match &resolver {
        Some(r) => r,
        None => &NoAgents,
    };
    let mut io_failed = false;
    let mut any_errors = false;
    let mut report = Vec::new();
    let mut text = String::new();
    for file in files {
        let name = file.display().to_string();
        let graph = match read_graph(file, max_bytes) {
            Ok(graph) => graph,
            Err(error) => {
                eprintln!("error: {error:#}");
                io_failed = true;
                continue;
            }
        };
        let graph = match graph {
            Ok(graph) => graph,
            Err(error) => {
                any_errors = true;
                if json {
                    report.push(parse_error_json(&name, &error));
                } else {
                    let at = match &error {
                        ParseError::Json { line, column, .. } if *line > 0 => {
                            format!("{name}:{line}:{column}")
                        }
                        _ => name.clone(),
                    };
                    text.push_str(&format!(
                        "error[E0000]: {error}\n  --> {at}\n   = help: {}\n\n",
                        parse_help(&error)
                    ));
                    text.push_str(&format!("{name}: 1 error, 0 warnings\n"));
                }
                continue;
            }
        };
        let options = ValidateOptions {
            agent_id: agent_id_of(file, agents),
            ..Default::default()
        };
        let diagnostics = orrery_core::validate_with(&graph, resolver, &options);
        any_errors |= diagnostics.iter().any(Diagnostic::is_error);
        if json {
            for d in &diagnostics {
                let mut value = serde_json::to_value(d)?;
                value["file"] = Value::from(name.clone());
                report.push(value);
            }
        } else {
            text.push_str(&orrery_core::render_report(&diagnostics, &name));
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        out.write_all(text.as_bytes())?;
    }
    Ok(exit(io_failed, any_errors))
}

/// `orrery digest`.
pub fn digest(args: &DigestArgs) -> anyhow::Result<ExitCode> {
    let (file, agents) = (args.file.as_path(), args.agents.dir.as_deref());
    let max_bytes = args.limits.max_bytes;
    let resolver = open_agents(agents, max_bytes)?;
    let mut graph = match read_graph(file, max_bytes)? {
        Ok(graph) => graph,
        Err(error) => return parse_failure(file, &error),
    };
    if let Some(resolver) = &resolver {
        for node in &mut graph.nodes {
            let Some(agent) = &mut node.agent else {
                continue;
            };
            if agent.version != AgentVersion::Latest {
                continue;
            }
            match resolver.resolve(agent) {
                Ok(Some(found)) => agent.version = AgentVersion::Pinned(found.digest),
                Ok(None) => anyhow::bail!("node `{}` uses unknown agent `{}`", node.id, agent.id),
                Err(e) => anyhow::bail!("node `{}`: {e}", node.id),
            }
        }
    }
    println!("{}  {}", graph.digest(), file.display());
    Ok(ExitCode::SUCCESS)
}

/// `orrery diff`.
pub fn diff(args: &DiffArgs) -> anyhow::Result<ExitCode> {
    let (old, new) = (args.old.as_path(), args.new.as_path());
    let (agents, max_bytes) = (args.agents.dir.as_deref(), args.limits.max_bytes);
    let json = args.format == Format::Json;
    let resolver = open_agents(agents, max_bytes)?;
    let resolver: &dyn Resolver = match &resolver {
        Some(r) => r,
        None => &NoAgents,
    };
    let old_graph = match read_graph(old, max_bytes)? {
        Ok(graph) => graph,
        Err(error) => return parse_failure(old, &error),
    };
    let new_graph = match read_graph(new, max_bytes)? {
        Ok(graph) => graph,
        Err(error) => return parse_failure(new, &error),
    };
    let d = orrery_core::diff(&old_graph, &new_graph, resolver);
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &d)?;
        writeln!(out)?;
    } else if d.is_empty() {
        writeln!(out, "no differences ({})", new_graph.digest().short())?;
    } else {
        write!(out, "{d}")?;
    }
    Ok(if d.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `orrery flatten`.
pub fn flatten(args: &FlattenArgs) -> anyhow::Result<ExitCode> {
    let (file, agents) = (args.file.as_path(), args.agents.as_path());
    let max_bytes = args.limits.max_bytes;
    let resolver =
        open_agents(Some(agents), max_bytes)?.context("an agents directory is required")?;
    let graph = match read_graph(file, max_bytes)? {
        Ok(graph) => graph,
        Err(error) => return parse_failure(file, &error),
    };
    let flat = orrery_core::flatten_with(&graph, &resolver, &FlattenOptions::default())
        .with_context(|| format!("cannot flatten {}", file.display()))?;
    let mut out = std::io::stdout().lock();
    out.write_all(flat.to_json_pretty().as_bytes())?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

fn parse_failure(file: &Path, error: &ParseError) -> anyhow::Result<ExitCode> {
    eprintln!("error: {}: {error}", file.display());
    eprintln!("  help: {}", parse_help(error));
    Ok(ExitCode::from(1))
}

fn parse_help(error: &ParseError) -> &'static str {
    match error {
        ParseError::TooLarge { .. } => "split the graph into custom agents, or raise --max-bytes",
        ParseError::UnsupportedSchema { .. } => "this orrery reads schema 1 documents",
        _ => "fix the document at that position (the format is in docs/graph-format.md)",
    }
}

fn parse_error_json(file: &str, error: &ParseError) -> Value {
    let mut location = json!({});
    if let ParseError::Json { line, column, .. } = error {
        location = json!({"line": line, "column": column});
    }
    json!({
        "file": file,
        "code": "E0000",
        "severity": "error",
        "message": error.to_string(),
        "location": location,
        "help": parse_help(error),
    })
}

fn exit(io_failed: bool, any_errors: bool) -> ExitCode {
    if io_failed {
        ExitCode::from(2)
    } else if any_errors {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

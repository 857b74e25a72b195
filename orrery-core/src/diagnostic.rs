//! Diagnostics: what validation says about a graph, each with a stable code, a severity, a
//! location (down through nested agents), a message and a help text.

use std::fmt;

use serde::Serialize;

use crate::digest::Digest;

/// How bad a diagnostic is. Only errors stop a graph from being saved or run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The graph is broken.
    Error,
    /// The graph works but probably not as meant.
    Warning,
}

/// Which side of a node a port is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// An input port.
    Input,
    /// An output port.
    Output,
}

/// One step down the nesting: the `subgraph` node and the agent version it resolved to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Step {
    /// The `subgraph` node's id in the graph above.
    pub node: String,
    /// The agent id.
    pub agent: String,
    /// The agent version that was checked.
    pub version: Digest,
}

/// Where a diagnostic points: a nesting path, then a node, port, edge or group (or the graph).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Location {
    /// The `subgraph` nodes leading to the graph the diagnostic is in; empty for the top level.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<Step>,
    /// The node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The port of `node`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Whether `port` is an input or an output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// The edge's index in the document's `edges` array.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge: Option<usize>,
    /// The group's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// Stable diagnostic codes. The full list, with examples, is in `docs/diagnostics.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
#[allow(missing_docs)] // Each code is described by `Code::title` and docs/diagnostics.md.
pub enum Code {
    InvalidNodeId,
    InvalidPortName,
    DuplicateNodeId,
    UnknownNode,
    UnknownPort,
    InvalidEndpoint,
    IncompatibleTypes,
    UnconnectedInput,
    FanIn,
    Cycle,
    UnknownKind,
    UnknownType,
    DuplicatePort,
    AgentReference,
    UnknownAgent,
    UnknownAgentVersion,
    InterfaceMismatch,
    NestingCycle,
    NestingTooDeep,
    TooLarge,
    NodeShape,
    InvalidGroup,
    AgentUnavailable,
    UnreachableOutput,
    IsolatedNode,
    DuplicateEdge,
    NoOutput,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: &'static [Code] = &[
        Code::InvalidNodeId,
        Code::InvalidPortName,
        Code::DuplicateNodeId,
        Code::UnknownNode,
        Code::UnknownPort,
        Code::InvalidEndpoint,
        Code::IncompatibleTypes,
        Code::UnconnectedInput,
        Code::FanIn,
        Code::Cycle,
        Code::UnknownKind,
        Code::UnknownType,
        Code::DuplicatePort,
        Code::AgentReference,
        Code::UnknownAgent,
        Code::UnknownAgentVersion,
        Code::InterfaceMismatch,
        Code::NestingCycle,
        Code::NestingTooDeep,
        Code::TooLarge,
        Code::NodeShape,
        Code::InvalidGroup,
        Code::AgentUnavailable,
        Code::UnreachableOutput,
        Code::IsolatedNode,
        Code::DuplicateEdge,
        Code::NoOutput,
    ];

    /// The code as written: `E0004`, `W0101`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidNodeId => "E0001",
            Code::InvalidPortName => "E0002",
            Code::DuplicateNodeId => "E0003",
            Code::UnknownNode => "E0004",
            Code::UnknownPort => "E0005",
            Code::InvalidEndpoint => "E0006",
            Code::IncompatibleTypes => "E0007",
            Code::UnconnectedInput => "E0008",
            Code::FanIn => "E0009",
            Code::Cycle => "E0010",
            Code::UnknownKind => "E0011",
            Code::UnknownType => "E0012",
            Code::DuplicatePort => "E0013",
            Code::AgentReference => "E0014",
            Code::UnknownAgent => "E0015",
            Code::UnknownAgentVersion => "E0016",
            Code::InterfaceMismatch => "E0017",
            Code::NestingCycle => "E0018",
            Code::NestingTooDeep => "E0019",
            Code::TooLarge => "E0020",
            Code::NodeShape => "E0021",
            Code::InvalidGroup => "E0022",
            Code::AgentUnavailable => "E0023",
            Code::UnreachableOutput => "W0101",
            Code::IsolatedNode => "W0102",
            Code::DuplicateEdge => "W0103",
            Code::NoOutput => "W0104",
        }
    }

    /// The severity every diagnostic with this code has.
    pub fn severity(self) -> Severity {
        if self.as_str().starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }

    /// A short name for the problem (`dangling edge`).
    pub fn title(self) -> &'static str {
        match self {
            Code::InvalidNodeId => "invalid node id",
            Code::InvalidPortName => "invalid port name",
            Code::DuplicateNodeId => "duplicate node id",
            Code::UnknownNode => "dangling edge",
            Code::UnknownPort => "unknown port",
            Code::InvalidEndpoint => "invalid edge endpoint",
            Code::IncompatibleTypes => "incompatible port types",
            Code::UnconnectedInput => "unconnected required input",
            Code::FanIn => "too many edges into one port",
            Code::Cycle => "cycle outside a loop",
            Code::UnknownKind => "unknown node kind",
            Code::UnknownType => "unknown port type",
            Code::DuplicatePort => "duplicate port name",
            Code::AgentReference => "invalid agent reference",
            Code::UnknownAgent => "unknown agent",
            Code::UnknownAgentVersion => "unknown agent version",
            Code::InterfaceMismatch => "ports do not match the agent",
            Code::NestingCycle => "nesting cycle",
            Code::NestingTooDeep => "nesting too deep",
            Code::TooLarge => "graph too large",
            Code::NodeShape => "wrong ports for the node kind",
            Code::InvalidGroup => "invalid group",
            Code::AgentUnavailable => "agent could not be loaded",
            Code::UnreachableOutput => "output unreachable from inputs",
            Code::IsolatedNode => "isolated node",
            Code::DuplicateEdge => "duplicate edge",
            Code::NoOutput => "graph has no output",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One problem found in a graph.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Diagnostic {
    /// The stable code.
    pub code: Code,
    /// Error or warning (always `code.severity()`).
    pub severity: Severity,
    /// What is wrong, naming the ids involved.
    pub message: String,
    /// Where it is.
    pub location: Location,
    /// How to fix it.
    pub help: String,
}

impl Diagnostic {
    /// A diagnostic with `code`'s severity.
    pub fn new(code: Code, location: Location, message: String, help: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.severity(),
            message,
            location,
            help: help.into(),
        }
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl Location {
    /// The graph itself.
    pub fn graph() -> Location {
        Location::default()
    }

    /// A node.
    pub fn node(node: &str) -> Location {
        Location {
            node: Some(node.to_owned()),
            ..Location::default()
        }
    }

    /// A port of a node.
    pub fn port(node: &str, direction: Direction, port: &str) -> Location {
        Location {
            node: Some(node.to_owned()),
            port: Some(port.to_owned()),
            direction: Some(direction),
            ..Location::default()
        }
    }

    /// An edge, by its index in the document.
    pub fn edge(index: usize) -> Location {
        Location {
            edge: Some(index),
            ..Location::default()
        }
    }

    /// A group of a flattened graph.
    pub fn group(id: &str) -> Location {
        Location {
            group: Some(id.to_owned()),
            ..Location::default()
        }
    }
}

impl fmt::Display for Location {
    /// `classify`, `classify.text`, `edges[3]`, `groups[billing]` or `graph`, prefixed with the
    /// nesting path the way flattened ids are (`billing/classify.text`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.path {
            write!(f, "{}/", step.node)?;
        }
        match (&self.node, &self.port, self.edge, &self.group) {
            (Some(node), Some(port), _, _) => write!(f, "{node}.{port}"),
            (Some(node), None, _, _) => f.write_str(node),
            (None, _, Some(edge), _) => write!(f, "edges[{edge}]"),
            (None, _, None, Some(group)) => write!(f, "groups[{group}]"),
            (None, _, None, None) => f.write_str("graph"),
        }
    }
}

impl fmt::Display for Diagnostic {
    /// One line: `error[E0004] edges[0]: edge points at unknown node `b``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{severity}[{}] {}: {}",
            self.code, self.location, self.message
        )
    }
}

/// Renders diagnostics the way a compiler does: one block per diagnostic with its location, the
/// agents it is nested in, and its help, then a summary line.
pub fn render_report(diagnostics: &[Diagnostic], source: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for d in diagnostics {
        let severity = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{severity}[{}]: {}", d.code, d.message);
        let _ = writeln!(out, "  --> {source}: {}", d.location);
        for step in &d.location.path {
            let _ = writeln!(
                out,
                "   = in `{}`, agent {} {}",
                step.node,
                step.agent,
                step.version.short()
            );
        }
        let _ = writeln!(out, "   = help: {}", d.help);
        out.push('\n');
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let _ = writeln!(
        out,
        "{source}: {errors} error{}, {warnings} warning{}",
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_ordered() {
        let names: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
    }

    #[test]
    fn locations_read_like_flattened_ids() {
        let mut loc = Location::port("classify", Direction::Input, "text");
        assert_eq!(loc.to_string(), "classify.text");
        loc.path.push(Step {
            node: "billing".into(),
            agent: "billing_bot".into(),
            version: Digest::from_bytes([0; 32]),
        });
        assert_eq!(loc.to_string(), "billing/classify.text");
        assert_eq!(Location::edge(3).to_string(), "edges[3]");
        assert_eq!(Location::graph().to_string(), "graph");
    }
}

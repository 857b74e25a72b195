//! The graph document, schema version 1: nodes with typed ports, edges between ports, and the
//! groups that record where the nodes of a flattened graph came from.
//!
//! Parsing checks the shape of the JSON (types, required fields, unknown fields, the schema
//! version) and nothing else: a graph that parses may still be broken, and
//! [`validate`](crate::validate()) reports every way in which it is.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::types::{NodeKind, PortType};

/// The schema version this crate reads and writes.
pub const CURRENT_SCHEMA: u32 = 1;

/// The default limit on the size of a document, in bytes (64 MiB).
pub const DEFAULT_MAX_BYTES: usize = 64 << 20;

/// A workflow graph: the document every other part of Orrery reads.
///
/// Fields are public because any value is a graph; whether it is a *good* graph is what
/// [`validate`](crate::validate()) says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    /// Where inlined nodes came from; only flattened graphs have groups.
    pub groups: Vec<Group>,
    /// The nodes, in document order.
    pub nodes: Vec<Node>,
    /// The edges, in document order.
    pub edges: Vec<Edge>,
    /// Free visual data for editors (camera, theme); outside the digest.
    pub ui: Option<Value>,
}

/// One node of a graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Unique within the graph; see [`crate::id`] for the grammar.
    pub id: String,
    /// What the node is.
    pub kind: NodeKind,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Input ports, each named uniquely among the node's inputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputPort>,
    /// Output ports, each named uniquely among the node's outputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<OutputPort>,
    /// The custom agent a `subgraph` node stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentRef>,
    /// Free configuration (model, prompt, tool name…); part of the digest.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub config: Map<String, Value>,
    /// Where an editor drew the node; outside the digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// Free visual data (colour, collapsed…); outside the digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<Value>,
}

/// An input port: where edges arrive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputPort {
    /// Unique among the node's inputs.
    pub name: String,
    /// What the port accepts (`any` when absent).
    #[serde(rename = "type", default)]
    pub ty: PortType,
    /// Whether an edge must arrive here (default `true`).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub required: bool,
    /// Whether several edges may arrive here (default `false`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub multiple: bool,
}

/// An output port: where edges leave. Any number of edges may leave one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputPort {
    /// Unique among the node's outputs.
    pub name: String,
    /// What the port produces (`any` when absent).
    #[serde(rename = "type", default)]
    pub ty: PortType,
}

/// An edge from an output port to an input port, each written `node.port`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// The output port the value leaves, `node.port`.
    pub from: Endpoint,
    /// The input port the value arrives at, `node.port`.
    pub to: Endpoint,
    /// Free visual data (bend points, colour); outside the digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<Value>,
}

/// One end of an edge, `node.port`, split once when it is read.
///
/// Any string is an endpoint, as any value is a graph: one without exactly one `.` is kept as
/// written, [`parts`](Endpoint::parts) is `None`, and [`validate`](crate::validate()) reports it
/// with the graph's other problems. It reads and writes as the string, so the wire format and the
/// digest are those of the text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    text: Box<str>,
    // Invariant: the byte offset of the only `.` in `text`, or `NO_DOT` when there is not exactly
    // one. A sentinel rather than an `Option` keeps an endpoint as small as a `String`.
    dot: usize,
}

/// Which custom agent a `subgraph` node stands for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRef {
    /// The agent's id (a single-segment name).
    pub id: String,
    /// A pinned digest, or `latest` (the default).
    #[serde(default)]
    pub version: AgentVersion,
}

/// A pinned agent version or the latest one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AgentVersion {
    /// Whatever the resolver holds as the newest version. Not reproducible: pin for that.
    #[default]
    Latest,
    /// Exactly this version; its digest becomes part of the caller's digest.
    Pinned(Digest),
}

/// A group of a flattened graph: the nodes whose ids start with `id/` were inlined from `agent`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The path of the `subgraph` node that was inlined (`billing`, `billing/inner`).
    pub id: String,
    /// The agent it stood for, pinned to the version that was inlined.
    pub agent: AgentRef,
    /// The label of the `subgraph` node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Where the `subgraph` node was drawn; outside the digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
}

/// A position in 3D; documents may write `[x, y]`, read as `z = 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Position(pub [f64; 3]);

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The document is larger than the configured limit; it was not parsed.
    #[error("the graph document is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the document in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The JSON is malformed or does not have the shape of a graph document.
    #[error("{message} at line {line}, column {column}")]
    Json {
        /// What was wrong, without the position.
        message: String,
        /// 1-based line (0 when the error has no position).
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The document declares a schema version this crate cannot read.
    #[error(
        "schema version {found} is not supported: this version of orrery reads schema {CURRENT_SCHEMA}{}",
        if *.found > u64::from(CURRENT_SCHEMA) { " (upgrade orrery to read newer documents)" } else { "" }
    )]
    UnsupportedSchema {
        /// The version found in the document.
        found: u64,
    },
    /// A migration from an older schema failed.
    #[error("migrating the document from schema {from} failed: {message}")]
    Migration {
        /// The schema the failing step started from.
        from: u32,
        /// What went wrong.
        message: String,
    },
}

/// Options for reading a document.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Documents larger than this many bytes are refused before parsing.
    pub max_bytes: usize,
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions {
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// One step of the schema migration chain: rewrites a schema `from` document (as JSON) into a
/// schema `from + 1` document.
#[derive(Clone, Copy)]
pub struct Migration {
    /// The schema version this step reads.
    pub from: u32,
    /// The rewrite; the error text says what could not be migrated.
    pub migrate: fn(Value) -> Result<Value, String>,
}

impl fmt::Debug for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Migration({} -> {})", self.from, self.from + 1)
    }
}

/// The migrations from older schemas to [`CURRENT_SCHEMA`]. Schema 1 is the first, so none yet:
/// when schema 2 arrives, its step from 1 goes here and old documents keep loading.
pub const MIGRATIONS: &[Migration] = &[];

impl Graph {
    /// Reads a document from JSON text with the default [`ParseOptions`].
    pub fn from_json(json: &str) -> Result<Graph, ParseError> {
        Graph::from_json_with(json, &ParseOptions::default())
    }

    /// Reads a document from JSON text.
    pub fn from_json_with(json: &str, options: &ParseOptions) -> Result<Graph, ParseError> {
        Graph::from_str_migrating(json, options, MIGRATIONS)
    }

    /// Reads a document from JSON bytes with the default [`ParseOptions`].
    pub fn from_slice(json: &[u8]) -> Result<Graph, ParseError> {
        Graph::from_slice_with(json, &ParseOptions::default())
    }

    /// Reads a document from JSON bytes.
    pub fn from_slice_with(json: &[u8], options: &ParseOptions) -> Result<Graph, ParseError> {
        Graph::from_slice_migrating(json, options, MIGRATIONS)
    }

    /// Reads a document that is already a JSON value (a field of a larger request, a Python
    /// dict), migrating it when it has an older schema.
    pub fn from_value(value: Value) -> Result<Graph, ParseError> {
        from_value_migrating(value, MIGRATIONS)
    }

    /// Reads a document, applying `migrations` to older schemas. [`Graph::from_slice_with`]
    /// uses [`MIGRATIONS`]; this entry point exists so the hook itself can be tested.
    pub fn from_slice_migrating(
        json: &[u8],
        options: &ParseOptions,
        migrations: &[Migration],
    ) -> Result<Graph, ParseError> {
        check_size(json.len(), options)?;
        // Checking the UTF-8 of the whole input at once is far cheaper than string by string.
        let text = std::str::from_utf8(json).map_err(|e| {
            let (line, column) = line_column(json, e.valid_up_to());
            ParseError::Json {
                message: "invalid UTF-8".to_owned(),
                line,
                column,
            }
        })?;
        Graph::from_str_migrating(text, options, migrations)
    }

    fn from_str_migrating(
        json: &str,
        options: &ParseOptions,
        migrations: &[Migration],
    ) -> Result<Graph, ParseError> {
        check_size(json.len(), options)?;
        // RFC 8259 lets readers ignore a byte-order mark, and some editors still write one.
        let json = json.strip_prefix('\u{feff}').unwrap_or(json);
        let bytes = json.as_bytes();
        if let Some(at) = bytes.iter().position(|b| !b.is_ascii_whitespace())
            && bytes[at] != b'{'
        {
            return Err(not_an_object(bytes, at));
        }
        // The fast path reads straight into the typed structs. Only when that fails do we look
        // at the schema field, to tell "old or new schema" apart from "broken document".
        match serde_json::from_str::<Graph>(json) {
            Ok(graph) => Ok(graph),
            Err(error) => match probe_schema(json) {
                Some(found) if found != u64::from(CURRENT_SCHEMA) => {
                    let value: Value = serde_json::from_str(json).map_err(json_error)?;
                    from_value_migrating(value, migrations)
                }
                _ => Err(json_error(error)),
            },
        }
    }

    /// The document as compact JSON, in document order, visual data included.
    pub fn to_json(&self) -> String {
        // Serializing plain structs and JSON values cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The document as indented JSON, in document order, visual data included.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The first node with this id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

impl Node {
    /// A node with no ports, config or visual data.
    pub fn new(id: impl Into<String>, kind: NodeKind) -> Node {
        Node {
            id: id.into(),
            kind,
            label: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            agent: None,
            config: Map::new(),
            position: None,
            ui: None,
        }
    }

    /// The input port with this name.
    pub fn input(&self, name: &str) -> Option<&InputPort> {
        self.inputs.iter().find(|p| p.name == name)
    }

    /// The output port with this name.
    pub fn output(&self, name: &str) -> Option<&OutputPort> {
        self.outputs.iter().find(|p| p.name == name)
    }
}

impl InputPort {
    /// A required, single-edge input port.
    pub fn new(name: impl Into<String>, ty: PortType) -> InputPort {
        InputPort {
            name: name.into(),
            ty,
            required: true,
            multiple: false,
        }
    }
}

impl OutputPort {
    /// An output port.
    pub fn new(name: impl Into<String>, ty: PortType) -> OutputPort {
        OutputPort {
            name: name.into(),
            ty,
        }
    }
}

impl Edge {
    /// An edge between two `node.port` endpoints.
    pub fn new(from: impl Into<Endpoint>, to: impl Into<Endpoint>) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
            ui: None,
        }
    }
}

impl Endpoint {
    /// The endpoint as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The node id and the port name; `None` when the endpoint is not `node.port`.
    pub fn parts(&self) -> Option<(&str, &str)> {
        if self.dot == NO_DOT {
            return None;
        }
        Some((&self.text[..self.dot], &self.text[self.dot + 1..]))
    }

    /// The node id; `None` when the endpoint is not `node.port`.
    pub fn node(&self) -> Option<&str> {
        self.parts().map(|(node, _)| node)
    }

    /// The port name; `None` when the endpoint is not `node.port`.
    pub fn port(&self) -> Option<&str> {
        self.parts().map(|(_, port)| port)
    }
}

impl From<Box<str>> for Endpoint {
    fn from(text: Box<str>) -> Endpoint {
        let dot = only_dot(&text);
        Endpoint { text, dot }
    }
}

impl From<String> for Endpoint {
    fn from(text: String) -> Endpoint {
        Endpoint::from(text.into_boxed_str())
    }
}

impl From<&str> for Endpoint {
    fn from(text: &str) -> Endpoint {
        Endpoint::from(Box::<str>::from(text))
    }
}

impl PartialEq<str> for Endpoint {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Endpoint {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Endpoints order as their text, byte by byte: the canonical form's order when both are ASCII.
impl Ord for Endpoint {
    fn cmp(&self, other: &Endpoint) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Endpoint {
    fn partial_cmp(&self, other: &Endpoint) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for AgentVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentVersion::Latest => f.write_str("latest"),
            AgentVersion::Pinned(d) => d.fmt(f),
        }
    }
}

impl fmt::Display for AgentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            AgentVersion::Latest => write!(f, "{}@latest", self.id),
            AgentVersion::Pinned(d) => write!(f, "{}@{}", self.id, d.short()),
        }
    }
}

impl Serialize for AgentVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AgentVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AgentVersion, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s == "latest" {
            return Ok(AgentVersion::Latest);
        }
        s.parse().map(AgentVersion::Pinned).map_err(|_| {
            de::Error::custom(format!(
                "invalid agent version {s:?}: expected \"latest\" or \"sha256:\" followed by 64 lowercase hex digits"
            ))
        })
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Endpoint, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Endpoint;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // What serde says of a `String` field, as before endpoints had a type.
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Endpoint, E> {
                Ok(Endpoint::from(s))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Endpoint, E> {
                Ok(Endpoint::from(s))
            }
        }
        d.deserialize_string(V)
    }
}

impl Serialize for Position {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Position, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Position;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of 2 or 3 numbers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Position, A::Error> {
                let mut xyz = [0.0; 3];
                let mut n = 0;
                while let Some(v) = seq.next_element::<f64>()? {
                    if n == 3 {
                        return Err(de::Error::invalid_length(4, &self));
                    }
                    xyz[n] = v;
                    n += 1;
                }
                if n < 2 {
                    return Err(de::Error::invalid_length(n, &self));
                }
                Ok(Position(xyz))
            }
        }
        d.deserialize_seq(V)
    }
}

/// The wire form of [`Graph`]: the same fields plus the schema version.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    schema: u64,
    #[serde(default)]
    groups: Vec<Group>,
    nodes: Vec<Node>,
    #[serde(default)]
    edges: Vec<Edge>,
    #[serde(default)]
    ui: Option<Value>,
}

#[derive(Serialize)]
struct DocumentRef<'a> {
    schema: u32,
    #[serde(skip_serializing_if = "<[Group]>::is_empty")]
    groups: &'a [Group],
    nodes: &'a [Node],
    edges: &'a [Edge],
    #[serde(skip_serializing_if = "Option::is_none")]
    ui: &'a Option<Value>,
}

impl Serialize for Graph {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        DocumentRef {
            schema: CURRENT_SCHEMA,
            groups: &self.groups,
            nodes: &self.nodes,
            edges: &self.edges,
            ui: &self.ui,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Graph {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Graph, D::Error> {
        let doc = Document::deserialize(d)?;
        if doc.schema != u64::from(CURRENT_SCHEMA) {
            return Err(de::Error::custom(format!(
                "schema version {} is not supported",
                doc.schema
            )));
        }
        Ok(Graph {
            groups: doc.groups,
            nodes: doc.nodes,
            edges: doc.edges,
            ui: doc.ui,
        })
    }
}

fn from_value_migrating(mut value: Value, migrations: &[Migration]) -> Result<Graph, ParseError> {
    if !value.is_object() {
        return Err(ParseError::Json {
            message: "a graph document must be a JSON object".to_owned(),
            line: 0,
            column: 0,
        });
    }
    let schema = value.get("schema").and_then(Value::as_u64);
    if let Some(mut found) = schema {
        if found > u64::from(CURRENT_SCHEMA) {
            return Err(ParseError::UnsupportedSchema { found });
        }
        while found < u64::from(CURRENT_SCHEMA) {
            let Some(step) = migrations.iter().find(|m| u64::from(m.from) == found) else {
                return Err(ParseError::UnsupportedSchema { found });
            };
            value = (step.migrate)(value).map_err(|message| ParseError::Migration {
                from: step.from,
                message,
            })?;
            found += 1;
            if let Some(obj) = value.as_object_mut() {
                obj.insert("schema".into(), Value::from(found));
            }
        }
    }
    serde_json::from_value(value).map_err(json_error)
}

/// Reads only the `schema` field of a document, when it has a numeric one.
fn probe_schema(json: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Probe {
        schema: Option<u64>,
    }
    serde_json::from_str::<Probe>(json).ok()?.schema
}

fn check_size(size: usize, options: &ParseOptions) -> Result<(), ParseError> {
    if size > options.max_bytes {
        return Err(ParseError::TooLarge {
            size,
            limit: options.max_bytes,
        });
    }
    Ok(())
}

/// 1-based line and column of byte offset `at`.
fn line_column(json: &[u8], at: usize) -> (usize, usize) {
    let line = 1 + json[..at].iter().filter(|b| **b == b'\n').count();
    let line_start = json[..at]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    (line, 1 + at - line_start)
}

/// Serde would read a struct from an array of its fields; a document must be an object.
fn not_an_object(json: &[u8], at: usize) -> ParseError {
    let (line, column) = line_column(json, at);
    let what = match json[at] {
        b'[' => "an array",
        b'"' => "a string",
        b'-' | b'0'..=b'9' => "a number",
        _ => "something else",
    };
    ParseError::Json {
        message: format!("a graph document must be a JSON object, found {what}"),
        line,
        column,
    }
}

fn json_error(error: serde_json::Error) -> ParseError {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_owned();
    ParseError::Json {
        message,
        line: error.line(),
        column: error.column(),
    }
}

/// The `dot` of an endpoint without exactly one `.`.
const NO_DOT: usize = usize::MAX;

/// The byte offset of the only `.` in `text`, or [`NO_DOT`].
fn only_dot(text: &str) -> usize {
    // One pass over a short string beats two memchr calls.
    let mut dot = NO_DOT;
    for (i, b) in text.bytes().enumerate() {
        if b == b'.' {
            if dot != NO_DOT {
                return NO_DOT;
            }
            dot = i;
        }
    }
    dot
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{
        "schema": 1,
        "nodes": [
            {"id": "q", "kind": "input", "outputs": [{"name": "value", "type": "text"}], "position": [1, 2]},
            {"id": "a", "kind": "output", "inputs": [{"name": "value", "type": "text"}]}
        ],
        "edges": [{"from": "q.value", "to": "a.value"}]
    }"#;

    #[test]
    fn a_document_parses_with_defaults() {
        let g = Graph::from_json(SMALL).unwrap();
        assert_eq!(g.nodes.len(), 2);
        assert_eq!(g.nodes[0].position, Some(Position([1.0, 2.0, 0.0])));
        let port = &g.nodes[1].inputs[0];
        assert!(port.required && !port.multiple);
        assert_eq!(port.ty, PortType::Text);
        assert_eq!(Graph::from_json(&g.to_json()).unwrap(), g);
    }

    #[test]
    fn malformed_json_reports_line_and_column() {
        let err = Graph::from_json("{\n  \"schema\": 1,\n  \"nodes\": [,]\n}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected value at line 3, column 13",
            "{err:?}"
        );
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let err =
            Graph::from_json(r#"{"schema":1,"nodes":[{"id":"a","kind":"agent","lable":"x"}]}"#)
                .unwrap_err();
        assert!(
            err.to_string().starts_with("unknown field `lable`"),
            "{err}"
        );
    }

    #[test]
    fn newer_and_unknown_schemas_are_refused_clearly() {
        let err = Graph::from_json(r#"{"schema":7,"nodes":[],"future":true}"#).unwrap_err();
        assert_eq!(err, ParseError::UnsupportedSchema { found: 7 });
        assert!(err.to_string().contains("upgrade orrery"), "{err}");
        let err = Graph::from_json(r#"{"nodes":[]}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("missing field `schema`"),
            "{err}"
        );
    }

    #[test]
    fn older_schemas_go_through_the_migration_chain() {
        fn rename_steps(mut v: Value) -> Result<Value, String> {
            let obj = v.as_object_mut().ok_or("not an object")?;
            let steps = obj.remove("steps").ok_or("schema 0 has `steps`")?;
            obj.insert("nodes".into(), steps);
            Ok(v)
        }
        let chain = [Migration {
            from: 0,
            migrate: rename_steps,
        }];
        let old = br#"{"schema":0,"steps":[{"id":"a","kind":"note"}]}"#;
        let g = Graph::from_slice_migrating(old, &ParseOptions::default(), &chain).unwrap();
        assert_eq!(g.nodes[0].id, "a");

        let broken = br#"{"schema":0,"nodes":[]}"#;
        let err =
            Graph::from_slice_migrating(broken, &ParseOptions::default(), &chain).unwrap_err();
        assert_eq!(
            err.to_string(),
            "migrating the document from schema 0 failed: schema 0 has `steps`"
        );
        // Without a step for it, an old schema is as unsupported as a new one.
        let err = Graph::from_slice(old).unwrap_err();
        assert_eq!(err, ParseError::UnsupportedSchema { found: 0 });
    }

    #[test]
    fn oversized_documents_are_refused_before_parsing() {
        let opts = ParseOptions { max_bytes: 10 };
        let err = Graph::from_slice_with(b"{ this is not even json }", &opts).unwrap_err();
        assert_eq!(
            err,
            ParseError::TooLarge {
                size: 25,
                limit: 10
            }
        );
    }

    #[test]
    fn bad_field_values_are_parse_errors() {
        for (doc, needle) in [
            (
                r#"{"schema":1,"nodes":[{"id":"a","kind":"agent","position":[1]}]}"#,
                "invalid length 1",
            ),
            (
                r#"{"schema":1,"nodes":[{"id":"a","kind":"subgraph","agent":{"id":"x","version":"v2"}}]}"#,
                "invalid agent version",
            ),
            (
                r#"{"schema":1,"nodes":[{"id":3,"kind":"agent"}]}"#,
                "invalid type: integer `3`",
            ),
            (r#"{"schema":1,"nodes":{}}"#, "invalid type: map"),
            (
                " \n [1]",
                "a graph document must be a JSON object, found an array at line 2, column 2",
            ),
        ] {
            let err = Graph::from_json(doc).unwrap_err().to_string();
            assert!(err.contains(needle), "{doc}: {err}");
        }
    }

    #[test]
    fn invalid_utf8_is_located() {
        let err = Graph::from_slice(b"{\n \"schema\": 1, \"nodes\": [\xff]}").unwrap_err();
        assert_eq!(err.to_string(), "invalid UTF-8 at line 2, column 25");
    }

    #[test]
    fn endpoints_split_at_their_only_dot() {
        let parts = |s: &str| {
            Endpoint::from(s)
                .parts()
                .map(|(n, p)| (n.to_owned(), p.to_owned()))
        };
        assert_eq!(parts("a.b"), Some(("a".into(), "b".into())));
        assert_eq!(parts("a/b.c"), Some(("a/b".into(), "c".into())));
        assert_eq!(parts(".c"), Some(("".into(), "c".into())));
        assert_eq!(parts("a"), None);
        assert_eq!(parts("a.b.c"), None);
    }

    #[test]
    fn endpoints_read_and_write_as_they_were_written() {
        let json = r#"{"schema":1,"nodes":[],"edges":[{"from":"a.b","to":"c"},{"from":"x.\u0079","to":"a.b.c"}]}"#;
        let g = Graph::from_json(json).unwrap();
        assert_eq!(g.edges[0].from.parts(), Some(("a", "b")));
        assert_eq!((g.edges[0].to.parts(), g.edges[1].to.parts()), (None, None));
        assert_eq!(g.edges[1].from.parts(), Some(("x", "y")));
        let again = Graph::from_value(serde_json::to_value(&g).unwrap()).unwrap();
        assert_eq!(again, g);
        assert_eq!(
            g.to_json(),
            r#"{"schema":1,"nodes":[],"edges":[{"from":"a.b","to":"c"},{"from":"x.y","to":"a.b.c"}]}"#
        );
        let err = Graph::from_json(r#"{"schema":1,"nodes":[],"edges":[{"from":1,"to":"a.b"}]}"#)
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid type: integer `1`, expected a string at"),
            "{err}"
        );
    }
}

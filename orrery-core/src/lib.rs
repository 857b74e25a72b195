//! The Orrery graph engine: workflow documents, validation, nesting, diff, plans. Start with
//! [`Graph`] and [`validate()`]; custom agents nest through a [`Resolver`], inline with
//! [`flatten()`], and compare with [`diff()`]. The format is specified in `docs/graph-format.md`.
//!
//! ```
//! use orrery_core::{Graph, NoAgents, validate};
//!
//! let graph = Graph::from_json(r#"{"schema": 1,
//!     "nodes": [{"id": "q", "kind": "input", "outputs": [{"name": "value", "type": "text"}]},
//!               {"id": "a", "kind": "output", "inputs": [{"name": "value", "type": "text"}]}],
//!     "edges": [{"from": "q.value", "to": "a.value"}]}"#)?;
//! assert!(validate(&graph, &NoAgents).is_empty());
//! println!("version {}", graph.digest());
//! # Ok::<(), orrery_core::ParseError>(())
//! ```
//!
//! Invariants: no async runtime, no database (storage is traits here, implemented in
//! `orrery-store`), and no I/O except [`DirResolver`], which reads agents from a directory
//! (feature `fs`, on by default); a [`ValidGraph`] has no error diagnostics; the digest depends
//! only on the canonical form, never on key order, spacing or visual data.

#![warn(missing_docs)]

pub mod agents;
pub mod billing;
mod canonical;
pub mod diagnostic;
pub mod diff;
mod digest;
pub mod document;
mod flatten;
pub mod id;
pub mod plan;
pub mod store;
mod types;
mod validate;

#[cfg(feature = "fs")]
pub use agents::DirResolver;
pub use agents::{Interface, MemoryResolver, NoAgents, ResolveError, ResolvedAgent, Resolver};
pub use canonical::{jcs_cmp, write_canonical_value};
pub use diagnostic::{Code, Diagnostic, Direction, Location, Severity, render_report};
pub use diff::{GraphDiff, broken_callers, classify_interface, diff};
pub use digest::{Digest, DigestParseError};
pub use document::{
    AgentRef, AgentVersion, Edge, Endpoint, Graph, Group, InputPort, Node, OutputPort, ParseError,
    ParseOptions, Position,
};
pub use flatten::{FlattenError, FlattenOptions, flatten, flatten_with};
pub use plan::{Limits, Plan, TrialRules};
pub use types::{NodeKind, PortType};
pub use validate::{GraphLimits, ValidGraph, ValidateOptions, validate, validate_with};

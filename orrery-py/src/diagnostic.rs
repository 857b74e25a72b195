//! `orrery.Diagnostic`, `orrery.Location` and `orrery.Step`: what validation says about a graph,
//! as read-only Python objects over the core's [`Diagnostic`].

use orrery_core::diagnostic::Step;
use orrery_core::{Diagnostic, Direction, Location, Severity};
use pyo3::prelude::*;

use crate::json::serialize_to_py;
use crate::repr::quote;

/// One problem found in a graph: a stable code, a severity, a message, a help text and where.
#[pyclass(name = "Diagnostic", module = "orrery", frozen, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct PyDiagnostic {
    inner: Diagnostic,
}

/// Where a diagnostic points: the nesting path, then a node (and port), an edge or a group.
#[pyclass(name = "Location", module = "orrery", frozen, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct PyLocation {
    inner: Location,
}

/// One step down the nesting: the `subgraph` node and the agent version it resolved to.
#[pyclass(name = "Step", module = "orrery", frozen, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct PyStep {
    inner: Step,
}

impl From<Diagnostic> for PyDiagnostic {
    fn from(inner: Diagnostic) -> PyDiagnostic {
        PyDiagnostic { inner }
    }
}

impl PyDiagnostic {
    /// The core's diagnostic.
    pub fn inner(&self) -> &Diagnostic {
        &self.inner
    }
}

#[pymethods]
impl PyDiagnostic {
    /// The stable code, `E0004` or `W0101` (docs/diagnostics.md lists them).
    #[getter]
    fn code(&self) -> &'static str {
        self.inner.code.as_str()
    }

    /// `"error"` or `"warning"`.
    #[getter]
    fn severity(&self) -> &'static str {
        severity(self.inner.severity)
    }

    /// Whether this is an error (errors stop a graph from being saved or run).
    #[getter]
    fn is_error(&self) -> bool {
        self.inner.is_error()
    }

    /// What is wrong, naming the ids involved.
    #[getter]
    fn message(&self) -> &str {
        &self.inner.message
    }

    /// How to fix it.
    #[getter]
    fn help(&self) -> &str {
        &self.inner.help
    }

    /// Where it is.
    #[getter]
    fn location(&self) -> PyLocation {
        PyLocation {
            inner: self.inner.location.clone(),
        }
    }

    /// The diagnostic as the CLI's `--format json` and the API write it.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialize_to_py(py, &self.inner)
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!("<Diagnostic {}; help: {}>", self.inner, self.inner.help)
    }
}

#[pymethods]
impl PyLocation {
    /// The nesting path: one step per `subgraph` node from the top level down; empty at the
    /// top level.
    #[getter]
    fn path(&self) -> Vec<PyStep> {
        self.inner
            .path
            .iter()
            .map(|s| PyStep { inner: s.clone() })
            .collect()
    }

    /// The node's id.
    #[getter]
    fn node(&self) -> Option<&str> {
        self.inner.node.as_deref()
    }

    /// The port's name (of `node`).
    #[getter]
    fn port(&self) -> Option<&str> {
        self.inner.port.as_deref()
    }

    /// `"input"` or `"output"`: which side of `node` `port` is on.
    #[getter]
    fn direction(&self) -> Option<&'static str> {
        self.inner.direction.map(|d| match d {
            Direction::Input => "input",
            Direction::Output => "output",
        })
    }

    /// The edge's index in the document's `edges`.
    #[getter]
    fn edge(&self) -> Option<usize> {
        self.inner.edge
    }

    /// The group's id (flattened graphs).
    #[getter]
    fn group(&self) -> Option<&str> {
        self.inner.group.as_deref()
    }

    /// The location as JSON fields (those that are set).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialize_to_py(py, &self.inner)
    }

    /// `classify.text`, `edges[3]`, `groups[billing]` or `graph`, after the nesting path
    /// (`research/summarize.text`).
    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!("<Location {}>", self.inner)
    }
}

#[pymethods]
impl PyStep {
    /// The `subgraph` node's id in the graph above.
    #[getter]
    fn node(&self) -> &str {
        &self.inner.node
    }

    /// The agent's id.
    #[getter]
    fn agent(&self) -> &str {
        &self.inner.agent
    }

    /// The agent version that was checked (`sha256:…`).
    #[getter]
    fn version(&self) -> String {
        self.inner.version.to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "Step(node={}, agent={}, version={})",
            quote(&self.inner.node),
            quote(&self.inner.agent),
            quote(&self.inner.version.to_string())
        )
    }
}

fn severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

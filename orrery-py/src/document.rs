//! The parts of a graph document as read-only Python objects: `Node`, `InputPort`,
//! `OutputPort`, `Edge`, `AgentRef` and `Group`. Each wraps the core's struct, compares equal
//! when that does, writes a dataclass-like `repr`, and gives its JSON form with `to_dict()`.

use orrery_core::{AgentRef, Edge, Group, InputPort, Node, OutputPort, Position};
use pyo3::prelude::*;

use crate::json::{object_to_py, serialize_to_py, to_py};
use crate::repr::{list, quote, quote_opt};

/// One node of a graph.
#[pyclass(name = "Node", module = "orrery", frozen, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct PyNode {
    inner: Node,
}

/// An input port: where edges arrive.
#[pyclass(name = "InputPort", module = "orrery", frozen, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct PyInputPort {
    inner: InputPort,
}

/// An output port: where edges leave.
#[pyclass(name = "OutputPort", module = "orrery", frozen, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct PyOutputPort {
    inner: OutputPort,
}

/// An edge from an output port to an input port, each written `node.port`.
#[pyclass(name = "Edge", module = "orrery", frozen, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct PyEdge {
    inner: Edge,
}

/// Which custom agent a `subgraph` node (or a group) stands for.
#[pyclass(name = "AgentRef", module = "orrery", frozen, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct PyAgentRef {
    inner: AgentRef,
}

/// A group of a flattened graph: the nodes `id/…` were inlined from `agent`.
#[pyclass(name = "Group", module = "orrery", frozen, eq)]
#[derive(Clone, Debug, PartialEq)]
pub struct PyGroup {
    inner: Group,
}

impl From<&Node> for PyNode {
    fn from(node: &Node) -> PyNode {
        PyNode {
            inner: node.clone(),
        }
    }
}

impl From<&Edge> for PyEdge {
    fn from(edge: &Edge) -> PyEdge {
        PyEdge {
            inner: edge.clone(),
        }
    }
}

impl From<&Group> for PyGroup {
    fn from(group: &Group) -> PyGroup {
        PyGroup {
            inner: group.clone(),
        }
    }
}

#[pymethods]
impl PyNode {
    /// Unique within the graph (`classify`; `billing/classify` once flattened).
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }

    /// `input`, `output`, `agent`, `tool`, `prompt`, `router`, `subgraph`, `loop`, `relay`,
    /// `note`, or an unknown kind as written (validation reports it).
    #[getter]
    fn kind(&self) -> &str {
        self.inner.kind.as_str()
    }

    /// A name for people.
    #[getter]
    fn label(&self) -> Option<&str> {
        self.inner.label.as_deref()
    }

    /// The input ports.
    #[getter]
    fn inputs(&self) -> Vec<PyInputPort> {
        let ports = &self.inner.inputs;
        ports
            .iter()
            .map(|p| PyInputPort { inner: p.clone() })
            .collect()
    }

    /// The output ports.
    #[getter]
    fn outputs(&self) -> Vec<PyOutputPort> {
        let ports = &self.inner.outputs;
        ports
            .iter()
            .map(|p| PyOutputPort { inner: p.clone() })
            .collect()
    }

    /// The custom agent a `subgraph` node uses.
    #[getter]
    fn agent(&self) -> Option<PyAgentRef> {
        let agent = self.inner.agent.as_ref();
        agent.map(|a| PyAgentRef { inner: a.clone() })
    }

    /// Free configuration (model, prompt, tool…), a new dict on each access.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(object_to_py(py, &self.inner.config)?.into_any())
    }

    /// Where an editor drew the node, `(x, y, z)`.
    #[getter]
    fn position(&self) -> Option<(f64, f64, f64)> {
        self.inner.position.map(xyz)
    }

    /// Free visual data.
    #[getter]
    fn ui<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner.ui.as_ref().map(|ui| to_py(py, ui)).transpose()
    }

    /// The node as in the document (defaults left out).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialize_to_py(py, &self.inner)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let n = &self.inner;
        let mut fields = vec![
            format!("id={}", quote(&n.id)),
            format!("kind={}", quote(n.kind.as_str())),
        ];
        if let Some(label) = &n.label {
            fields.push(format!("label={}", quote(label)));
        }
        fields.push(format!(
            "inputs={}",
            list(self.inputs().iter().map(|p| p.__repr__()))
        ));
        fields.push(format!(
            "outputs={}",
            list(self.outputs().iter().map(|p| p.__repr__()))
        ));
        if let Some(agent) = self.agent() {
            fields.push(format!("agent={}", agent.__repr__()));
        }
        if !n.config.is_empty() {
            fields.push(format!("config={}", self.config(py)?.repr()?));
        }
        if let Some(p) = n.position {
            fields.push(format!("position={:?}", xyz(p)));
        }
        Ok(format!("Node({})", fields.join(", ")))
    }
}

#[pymethods]
impl PyInputPort {
    /// Unique among the node's inputs.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }

    /// What the port accepts (`any`, `text`, `number`, …).
    #[getter]
    fn r#type(&self) -> &str {
        self.inner.ty.as_str()
    }

    /// Whether an edge must arrive here.
    #[getter]
    fn required(&self) -> bool {
        self.inner.required
    }

    /// Whether several edges may arrive here.
    #[getter]
    fn multiple(&self) -> bool {
        self.inner.multiple
    }

    /// The port as in the document (defaults left out).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialize_to_py(py, &self.inner)
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        let mut out = format!(
            "InputPort(name={}, type={}",
            quote(&p.name),
            quote(p.ty.as_str())
        );
        if !p.required {
            out.push_str(", required=False");
        }
        if p.multiple {
            out.push_str(", multiple=True");
        }
        out.push(')');
        out
    }
}

#[pymethods]
impl PyOutputPort {
    /// Unique among the node's outputs.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }

    /// What the port produces (`any`, `text`, `number`, …).
    #[getter]
    fn r#type(&self) -> &str {
        self.inner.ty.as_str()
    }

    /// The port as in the document (defaults left out).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialize_to_py(py, &self.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "OutputPort(name={}, type={})",
            quote(&self.inner.name),
            quote(self.inner.ty.as_str())
        )
    }
}

#[pymethods]
impl PyEdge {
    /// The output port the value leaves, `node.port` (`from` in the document).
    #[getter]
    fn from_(&self) -> &str {
        self.inner.from.as_str()
    }

    /// The input port the value arrives at, `node.port`.
    #[getter]
    fn to(&self) -> &str {
        self.inner.to.as_str()
    }

    /// The node of `from_`; `None` when `from_` is not `node.port`.
    #[getter(from_node)]
    fn source_node(&self) -> Option<&str> {
        self.inner.from.node()
    }

    /// The port of `from_`.
    #[getter(from_port)]
    fn source_port(&self) -> Option<&str> {
        self.inner.from.port()
    }

    /// The node of `to`; `None` when `to` is not `node.port`.
    #[getter]
    fn to_node(&self) -> Option<&str> {
        self.inner.to.node()
    }

    /// The port of `to`.
    #[getter]
    fn to_port(&self) -> Option<&str> {
        self.inner.to.port()
    }

    /// Free visual data.
    #[getter]
    fn ui<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner.ui.as_ref().map(|ui| to_py(py, ui)).transpose()
    }

    /// The edge as in the document (`{"from": …, "to": …}`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialize_to_py(py, &self.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "Edge(from_={}, to={})",
            quote(self.inner.from.as_str()),
            quote(self.inner.to.as_str())
        )
    }
}

#[pymethods]
impl PyAgentRef {
    /// The agent's id.
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }

    /// `"latest"` or a pinned digest `"sha256:…"`.
    #[getter]
    fn version(&self) -> String {
        self.inner.version.to_string()
    }

    /// The reference as in the document.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialize_to_py(py, &self.inner)
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "AgentRef(id={}, version={})",
            quote(&self.inner.id),
            quote(&self.inner.version.to_string())
        )
    }
}

#[pymethods]
impl PyGroup {
    /// The path of the `subgraph` node that was inlined (`billing`, `billing/inner`).
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }

    /// The agent it stood for, pinned to the version inlined.
    #[getter]
    fn agent(&self) -> PyAgentRef {
        PyAgentRef {
            inner: self.inner.agent.clone(),
        }
    }

    /// The label of the `subgraph` node.
    #[getter]
    fn label(&self) -> Option<&str> {
        self.inner.label.as_deref()
    }

    /// Where the `subgraph` node was drawn.
    #[getter]
    fn position(&self) -> Option<(f64, f64, f64)> {
        self.inner.position.map(xyz)
    }

    /// The group as in the document.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialize_to_py(py, &self.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "Group(id={}, agent={}, label={})",
            quote(&self.inner.id),
            self.agent().__repr__(),
            quote_opt(self.inner.label.as_deref())
        )
    }
}

fn xyz(p: Position) -> (f64, f64, f64) {
    (p.0[0], p.0[1], p.0[2])
}

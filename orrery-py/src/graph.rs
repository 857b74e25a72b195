//! `orrery.Graph` over the core's [`Graph`], and `orrery.Diff` over [`GraphDiff`]: parsing,
//! the digest, validation, flattening and diff through `orrery-core`; layout and pictures
//! through `orrery-render`, with the GIL released while they run.

use std::path::PathBuf;

use numpy::ndarray::Array2;
use numpy::{AllowTypeChange, PyArray2, PyArrayLike2};
use orrery_core::{
    Graph, GraphDiff, ParseOptions, ValidGraph, ValidateOptions, diff, flatten, validate,
};
use orrery_render::layout::{self, LayoutOptions};
use orrery_render::{Renderer, Scene, Theme};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString};

use crate::agents::Agents;
use crate::diagnostic::PyDiagnostic;
use crate::document::{PyEdge, PyGroup, PyNode};
use crate::errors::Error;
use crate::json::{from_py, serialize_to_py, to_py};

/// The size `_repr_png_` draws at.
const NOTEBOOK_SIZE: (u32, u32) = (800, 450);

/// A workflow graph: nodes with typed ports joined by edges. Immutable; every method that
/// changes a graph returns a new one.
#[pyclass(name = "Graph", module = "orrery", frozen)]
#[derive(Clone, Debug)]
pub struct PyGraph {
    inner: Graph,
}

/// The structural differences between two graphs, following the agents they pin.
#[pyclass(name = "Diff", module = "orrery", frozen)]
#[derive(Clone, Debug)]
pub struct PyDiff {
    inner: GraphDiff,
}

impl From<Graph> for PyGraph {
    fn from(inner: Graph) -> PyGraph {
        PyGraph { inner }
    }
}

/// A graph from a `Graph`, JSON text (`str`, `bytes`, `bytearray`) or a dict.
pub fn graph_from_object(object: &Bound<'_, PyAny>) -> PyResult<Graph> {
    let parse = |result: Result<Graph, orrery_core::ParseError>| -> PyResult<Graph> {
        Ok(result.map_err(parse_error)?)
    };
    if let Ok(graph) = object.cast::<PyGraph>() {
        return Ok(graph.get().inner.clone());
    }
    if let Ok(text) = object.cast::<PyString>() {
        let text = text.to_cow()?;
        return parse(object.py().detach(|| Graph::from_json(&text)));
    }
    if let Ok(bytes) = object.cast::<PyBytes>() {
        let bytes = bytes.as_bytes();
        return parse(object.py().detach(|| Graph::from_slice(bytes)));
    }
    if let Ok(bytes) = object.cast::<PyByteArray>() {
        return parse(Graph::from_slice(&bytes.to_vec()));
    }
    if object.is_instance_of::<PyDict>() {
        return parse(Graph::from_value(from_py(object)?));
    }
    Err(PyTypeError::new_err(format!(
        "a graph document is a str, bytes or dict (or a Graph), not {}",
        object.get_type().name()?
    )))
}

#[pymethods]
impl PyGraph {
    /// Reads a graph document: JSON text (`str` or `bytes`) or a dict as `json.load` gives it.
    #[staticmethod]
    fn from_json(data: &Bound<'_, PyAny>) -> PyResult<PyGraph> {
        if data.is_instance_of::<PyGraph>() {
            return Err(PyTypeError::new_err(
                "from_json takes JSON text or a dict; this is already a Graph",
            ));
        }
        Ok(graph_from_object(data)?.into())
    }

    /// Reads a graph document from a file (at most 64 MiB).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<PyGraph> {
        Ok(py.detach(|| read_document(&path))?.into())
    }

    /// The document as JSON, in document order, visual data included; indented when `pretty`.
    #[pyo3(signature = (pretty=false))]
    fn to_json(&self, pretty: bool) -> String {
        if pretty {
            self.inner.to_json_pretty()
        } else {
            self.inner.to_json()
        }
    }

    /// The document as a dict (what `json.loads(graph.to_json())` gives).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialize_to_py(py, &self.inner)
    }

    /// The canonical form (RFC 8785) whose SHA-256 is the digest; see docs/graph-format.md.
    fn canonical_json(&self) -> String {
        self.inner.canonical_json()
    }

    /// The content digest, `sha256:…`: the graph's version id. Positions and `ui` data do not
    /// count.
    #[getter]
    fn digest(&self) -> String {
        self.inner.digest().to_string()
    }

    /// The nodes, in document order (a new list of read-only `Node`s on each access).
    #[getter]
    fn nodes(&self) -> Vec<PyNode> {
        self.inner.nodes.iter().map(PyNode::from).collect()
    }

    /// The edges, in document order.
    #[getter]
    fn edges(&self) -> Vec<PyEdge> {
        self.inner.edges.iter().map(PyEdge::from).collect()
    }

    /// Where the nodes of a flattened graph came from; empty for other graphs.
    #[getter]
    fn groups(&self) -> Vec<PyGroup> {
        self.inner.groups.iter().map(PyGroup::from).collect()
    }

    /// Free visual data of the document.
    #[getter]
    fn ui<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner.ui.as_ref().map(|ui| to_py(py, ui)).transpose()
    }

    /// The node ids, in document order: the rows of `layout()`.
    #[getter]
    fn node_ids(&self) -> Vec<&str> {
        self.inner.nodes.iter().map(|n| n.id.as_str()).collect()
    }

    /// The first node with this id, or `None`.
    fn node(&self, id: &str) -> Option<PyNode> {
        self.inner.node(id).map(PyNode::from)
    }

    /// Every problem in the graph and the agents it nests, in a stable order. `agents` is an
    /// `AgentRegistry`, a dict `{id: graph}` or a directory.
    #[pyo3(signature = (agents=None))]
    fn validate(
        &self,
        py: Python<'_>,
        agents: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<PyDiagnostic>> {
        let agents = Agents::extract(agents)?;
        let diagnostics = py.detach(|| validate(&self.inner, agents.resolver()));
        Ok(diagnostics.into_iter().map(PyDiagnostic::from).collect())
    }

    /// Like `validate`, but raises `ValidationError` (with every diagnostic) when there are
    /// errors; returns the warnings otherwise.
    #[pyo3(signature = (agents=None))]
    fn check(
        &self,
        py: Python<'_>,
        agents: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<PyDiagnostic>> {
        let agents = Agents::extract(agents)?;
        let checked = py.detach(|| {
            let options = ValidateOptions::default();
            ValidGraph::new(self.inner.clone(), agents.resolver(), &options)
        });
        let valid = checked.map_err(Error::Invalid)?;
        let warnings = valid.warnings().iter().cloned();
        Ok(warnings.map(PyDiagnostic::from).collect())
    }

    /// The graph with every custom agent inlined, at every depth: ids like
    /// `research/summarize`, one group per inlined agent. Raises `NestingError`.
    #[pyo3(signature = (agents=None))]
    fn flatten(&self, py: Python<'_>, agents: Option<&Bound<'_, PyAny>>) -> PyResult<PyGraph> {
        let agents = Agents::extract(agents)?;
        let flat = py.detach(|| flatten(&self.inner, agents.resolver()));
        Ok(flat.map_err(Error::from)?.into())
    }

    /// What changed from this graph to `other`, following changed agent versions through
    /// `agents`.
    #[pyo3(signature = (other, agents=None))]
    fn diff(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        agents: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyDiff> {
        let other = graph_from_object(other)?;
        let agents = Agents::extract(agents)?;
        let inner = py.detach(|| diff(&self.inner, &other, agents.resolver()));
        Ok(PyDiff { inner })
    }

    /// 3D positions, one row per node in document order: a float32 array of shape `(n, 3)`,
    /// the same as `orrery layout --seed SEED` gives. `initial` (shape `(m, 3)`, `m <= n`)
    /// warm-starts from earlier positions; a row of NaNs marks a node without one. The GIL is
    /// released while it runs.
    #[pyo3(signature = (seed=0, iterations=None, initial=None))]
    fn layout<'py>(
        &self,
        py: Python<'py>,
        seed: i128,
        iterations: Option<i128>,
        initial: Option<PyArrayLike2<'py, f32, AllowTypeChange>>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let options = LayoutOptions {
            seed: int_arg("seed", seed, u64::MAX)?,
            iterations: iterations
                .map(|i| int_arg("iterations", i, u64::from(u32::MAX)))
                .transpose()?
                .map(|i| i as usize),
            initial: initial
                .map(|a| initial_positions(&a))
                .transpose()?
                .unwrap_or_default(),
        };
        let positions = py.detach(|| run_layout(&self.inner, &options))?;
        Ok(positions_array(py, positions))
    }

    /// A PNG picture of the graph, drawn headless (on a GPU, or on the CPU with Mesa's
    /// lavapipe): at `positions` (shape `(n, 3)`), or laid out with `seed`. `theme` is `"dark"`
    /// or `"light"`.
    #[pyo3(signature = (width=1280, height=720, positions=None, theme="dark", seed=0))]
    fn render_png<'py>(
        &self,
        py: Python<'py>,
        width: i128,
        height: i128,
        positions: Option<PyArrayLike2<'py, f32, AllowTypeChange>>,
        theme: &str,
        seed: i128,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let width = int_arg("width", width, u64::from(u32::MAX))? as u32;
        let height = int_arg("height", height, u64::from(u32::MAX))? as u32;
        let theme = match theme {
            "dark" => Theme::dark(),
            "light" => Theme::light(),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown theme {other:?}: use \"dark\" or \"light\""
                )));
            }
        };
        let positions = match positions {
            Some(p) => Some(given_positions(&p, self.inner.nodes.len())?),
            None => None,
        };
        let seed = int_arg("seed", seed, u64::MAX)?;
        let png = py.detach(|| render(&self.inner, width, height, positions, &theme, seed))?;
        Ok(PyBytes::new(py, &png))
    }

    /// The picture Jupyter shows for a graph; `None` when it cannot be drawn here (no renderer,
    /// no nodes), so that the notebook falls back to the text form.
    fn _repr_png_<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        let (width, height) = NOTEBOOK_SIZE;
        let png = py.detach(|| render(&self.inner, width, height, None, &Theme::dark(), 0));
        png.ok().map(|png| PyBytes::new(py, &png))
    }

    /// A `networkx.MultiDiGraph` with the nodes' fields as node attributes and one edge per
    /// document edge (`from_port`, `to_port`). Needs networkx.
    fn to_networkx<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let helpers = slf.py().import("orrery._networkx")?;
        helpers.call_method1("to_networkx", (slf,))
    }

    /// A graph from a networkx graph: node attributes as node fields (`kind` defaults to
    /// `agent`), edges between ports `from_port`/`to_port` (default `out` and `in`, declared on
    /// the nodes when they declare none). Needs networkx.
    #[staticmethod]
    fn from_networkx<'py>(graph: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let helpers = graph.py().import("orrery._networkx")?;
        helpers.call_method1("from_networkx", (graph,))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyGraph>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __hash__(&self) -> u64 {
        let digest = self.inner.digest();
        let bytes = digest.as_bytes();
        u64::from_le_bytes([
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
        ])
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let from_json = slf.get_type().getattr("from_json")?;
        Ok((from_json, (slf.get().inner.to_json(),)))
    }

    fn __repr__(&self) -> String {
        let g = &self.inner;
        let groups = if g.groups.is_empty() {
            String::new()
        } else {
            format!(", {} groups", g.groups.len())
        };
        format!(
            "<Graph {} nodes, {} edges{groups}, {}>",
            g.nodes.len(),
            g.edges.len(),
            g.digest().short()
        )
    }
}

#[pymethods]
impl PyDiff {
    /// One dict per change, in a stable order: `{"change": "node_added" | "node_removed" |
    /// "field_changed" | "port_added" | "port_removed" | "port_changed" | "edge_added" |
    /// "edge_removed" | "agent_changed" | "group_added" | "group_removed", …}`, with `path`
    /// when the change is inside a nested agent.
    #[getter]
    fn changes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serialize_to_py(py, &self.inner.changes)
    }

    fn __len__(&self) -> usize {
        self.inner.changes.len()
    }

    fn __bool__(&self) -> bool {
        !self.inner.is_empty()
    }

    /// One line per change: `+` added, `-` removed, `~` changed.
    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        let mut lines = self.inner.changes.iter().map(ToString::to_string);
        match self.inner.changes.len() {
            0 => "<Diff: no changes>".to_owned(),
            1 => format!("<Diff: {}>", lines.next().unwrap_or_default()),
            n => format!(
                "<Diff: {n} changes, first {}>",
                lines.next().unwrap_or_default()
            ),
        }
    }
}

/// Reads and parses a document file, checking its size before reading it.
fn read_document(path: &PathBuf) -> Result<Graph, Error> {
    let options = ParseOptions::default();
    let io = |doing, source| Error::Io {
        doing,
        path: path.clone(),
        source,
    };
    let size = std::fs::metadata(path).map_err(|e| io("read", e))?.len();
    if size > options.max_bytes as u64 {
        return Err(Error::Parse {
            error: orrery_core::ParseError::TooLarge {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                limit: options.max_bytes,
            },
            path: Some(path.clone()),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| io("read", e))?;
    Graph::from_slice_with(&bytes, &options).map_err(|error| Error::Parse {
        error,
        path: Some(path.clone()),
    })
}

fn parse_error(error: orrery_core::ParseError) -> Error {
    Error::Parse { error, path: None }
}

fn run_layout(graph: &Graph, options: &LayoutOptions) -> Result<Vec<[f32; 3]>, Error> {
    let input = orrery_render::document::layout_graph(graph)?;
    Ok(layout::force_directed(&input, options)?)
}

fn render(
    graph: &Graph,
    width: u32,
    height: u32,
    positions: Option<Vec<[f32; 3]>>,
    theme: &Theme,
    seed: u64,
) -> Result<Vec<u8>, Error> {
    let positions = match positions {
        Some(p) => p,
        None => run_layout(
            graph,
            &LayoutOptions {
                seed,
                ..LayoutOptions::default()
            },
        )?,
    };
    let input = orrery_render::document::scene_input(graph, positions);
    let scene = Scene::build(&input, theme)?;
    Ok(Renderer::headless(width, height)?.render_png(&scene)?)
}

/// The positions as an `(n, 3)` array that owns the Rust buffer: no copy.
fn positions_array(py: Python<'_>, positions: Vec<[f32; 3]>) -> Bound<'_, PyArray2<f32>> {
    let n = positions.len();
    let flat: Vec<f32> = positions.into_flattened();
    // `flat` has exactly 3n elements, so the shape always fits.
    let array = Array2::from_shape_vec((n, 3), flat).unwrap_or_else(|_| Array2::zeros((0, 3)));
    PyArray2::from_owned_array(py, array)
}

/// Warm-start positions: rows of NaNs are nodes without one.
fn initial_positions(
    array: &PyArrayLike2<'_, f32, AllowTypeChange>,
) -> PyResult<Vec<Option<[f32; 3]>>> {
    let view = array.as_array();
    if view.ncols() != 3 {
        return Err(PyValueError::new_err(format!(
            "initial positions must have shape (m, 3), not {:?}",
            view.shape()
        )));
    }
    Ok(view
        .rows()
        .into_iter()
        .map(|r| {
            let p = [r[0], r[1], r[2]];
            (!p.iter().all(|v| v.is_nan())).then_some(p)
        })
        .collect())
}

/// Positions to draw at: exactly one finite row per node.
fn given_positions(
    array: &PyArrayLike2<'_, f32, AllowTypeChange>,
    nodes: usize,
) -> PyResult<Vec<[f32; 3]>> {
    let view = array.as_array();
    if view.shape() != [nodes, 3] {
        return Err(PyValueError::new_err(format!(
            "positions must have shape ({nodes}, 3) for this graph, not {:?}",
            view.shape()
        )));
    }
    Ok(view
        .rows()
        .into_iter()
        .map(|r| [r[0], r[1], r[2]])
        .collect())
}

/// A non-negative integer argument up to `max`, or a `ValueError` naming it.
fn int_arg(name: &str, value: i128, max: u64) -> PyResult<u64> {
    u64::try_from(value)
        .ok()
        .filter(|v| *v <= max)
        .ok_or_else(|| {
            PyValueError::new_err(format!("{name} must be from 0 to {max}, not {value}"))
        })
}

//! `orrery.AgentRegistry`: the custom agents that `subgraph` nodes resolve to, from a dict of
//! graphs or a directory of documents; and [`Agents`], the `agents=` argument of `validate`,
//! `flatten` and `diff`, which takes a registry, a dict or a directory.

use std::path::PathBuf;

use orrery_core::{DirResolver, MemoryResolver, NoAgents, ParseOptions, Resolver};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::errors::Error;
use crate::graph::{PyGraph, graph_from_object};
use crate::repr::{list, quote};

/// Custom agents by id, each with its versions; the last one added is the latest.
#[pyclass(name = "AgentRegistry", module = "orrery")]
#[derive(Clone, Debug, Default)]
pub struct PyAgentRegistry {
    inner: MemoryResolver,
}

/// The `agents=` argument: nothing, a registry, a dict of agents or a directory.
#[derive(Debug)]
pub enum Agents {
    /// No agents given.
    None,
    /// Agents held by the caller or built for this call.
    Registry(MemoryResolver),
}

impl Agents {
    /// Reads `agents=`: `None`, an `AgentRegistry`, a dict `{id: graph}` or a directory path.
    pub fn extract(object: Option<&Bound<'_, PyAny>>) -> PyResult<Agents> {
        let Some(object) = object.filter(|o| !o.is_none()) else {
            return Ok(Agents::None);
        };
        if let Ok(registry) = object.cast::<PyAgentRegistry>() {
            return Ok(Agents::Registry(registry.borrow().inner.clone()));
        }
        Ok(Agents::Registry(PyAgentRegistry::new(Some(object))?.inner))
    }

    /// The resolver to hand the core.
    pub fn resolver(&self) -> &dyn Resolver {
        match self {
            Agents::None => &NoAgents,
            Agents::Registry(r) => r,
        }
    }
}

#[pymethods]
impl PyAgentRegistry {
    /// An empty registry; a dict `{id: Graph | str | bytes | dict}`; or a directory, where
    /// `DIR/<id>.json` is the latest version of agent `<id>` and `DIR/<id>/*.json` are older
    /// versions, addressed by digest.
    #[new]
    #[pyo3(signature = (agents=None))]
    fn new(agents: Option<&Bound<'_, PyAny>>) -> PyResult<PyAgentRegistry> {
        let Some(agents) = agents.filter(|a| !a.is_none()) else {
            return Ok(PyAgentRegistry::default());
        };
        if let Ok(dict) = agents.cast::<PyDict>() {
            let mut registry = PyAgentRegistry::default();
            for (id, graph) in dict.iter() {
                let Ok(id) = id.cast::<PyString>() else {
                    return Err(PyTypeError::new_err(format!(
                        "agent ids must be strings, found {}",
                        id.get_type().name()?
                    )));
                };
                registry.insert(&id.to_cow()?, &graph, false)?;
            }
            return Ok(registry);
        }
        if let Ok(path) = agents.extract::<PathBuf>() {
            return PyAgentRegistry::from_dir(agents.py(), path);
        }
        Err(PyTypeError::new_err(format!(
            "agents must be an AgentRegistry, a dict {{id: graph}} or a directory path, not {}",
            agents.get_type().name()?
        )))
    }

    /// The agents of a directory: `DIR/<id>.json` is the latest version of agent `<id>`,
    /// `DIR/<id>/*.json` are older versions. A file that does not parse does not stop the others;
    /// using that agent reports the error.
    #[staticmethod]
    fn from_dir(py: Python<'_>, path: PathBuf) -> PyResult<PyAgentRegistry> {
        let opened = py.detach(|| DirResolver::open(&path, &ParseOptions::default()));
        let resolver = opened.map_err(|source| Error::Io {
            doing: "open the agents directory",
            path,
            source,
        })?;
        Ok(PyAgentRegistry {
            inner: resolver.agents().clone(),
        })
    }

    /// Adds `graph` (a `Graph`, or JSON as `from_json` takes it) as agent `id`'s latest
    /// version, or as an older one with `pinned=True`; returns its digest.
    #[pyo3(signature = (id, graph, pinned=false))]
    fn insert(&mut self, id: &str, graph: &Bound<'_, PyAny>, pinned: bool) -> PyResult<String> {
        let graph = graph_from_object(graph)?;
        let inserted = if pinned {
            self.inner.insert_pinned(id, graph)
        } else {
            self.inner.insert(id, graph)
        };
        let digest = inserted.map_err(|e| Error::Value(format!("agent id {}: {e}", quote(id))))?;
        Ok(digest.to_string())
    }

    /// The latest version of agent `id`, or `None`.
    fn get(&self, id: &str) -> Option<PyGraph> {
        self.inner
            .latest()
            .find(|a| a.id == id)
            .map(|a| PyGraph::from((*a.graph).clone()))
    }

    /// The agent ids, sorted.
    #[getter]
    fn ids(&self) -> Vec<String> {
        self.inner.ids().map(str::to_owned).collect()
    }

    fn __len__(&self) -> usize {
        self.inner.ids().count()
    }

    fn __contains__(&self, id: &str) -> bool {
        self.inner.ids().any(|i| i == id)
    }

    fn __repr__(&self) -> String {
        format!("AgentRegistry({})", list(self.inner.ids().map(quote)))
    }
}

//! The Python exceptions, declared once, and the one place where every Rust error becomes one
//! of them: [`Error`] collects the core's and the renderer's errors, and `From<Error> for PyErr`
//! maps each to its class with the Rust message and, where there is one, its location.

use std::path::PathBuf;

use orrery_core::{Diagnostic, FlattenError};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::diagnostic::PyDiagnostic;

create_exception!(
    orrery,
    OrreryError,
    PyException,
    "Base class of every error Orrery raises."
);
create_exception!(
    orrery,
    ParseError,
    OrreryError,
    "A document that is not a graph document: malformed JSON, a wrong shape, an unsupported \
     schema. `line` and `column` (1-based) say where, when the text is known; `path` names the \
     file."
);
create_exception!(
    orrery,
    ValidationError,
    OrreryError,
    "A graph with error diagnostics where a valid one is needed; `diagnostics` holds all of them."
);
create_exception!(
    orrery,
    NestingError,
    OrreryError,
    "Custom agents could not be inlined: an unknown or unreadable agent, a nesting cycle, \
     nesting too deep. `node` names the `subgraph` node, when there is one."
);
create_exception!(
    orrery,
    OrreryIOError,
    OrreryError,
    "A file or directory could not be read or written; `path` names it."
);
create_exception!(
    orrery,
    LayoutError,
    OrreryError,
    "A graph that cannot be laid out (no nodes), or initial positions that do not fit it."
);
create_exception!(
    orrery,
    RenderError,
    OrreryError,
    "A picture could not be drawn: no GPU or software renderer, a bad size or bad positions."
);

/// Everything the bindings can fail with, before it becomes a Python exception.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A document did not parse; `path` is the file it came from.
    #[error("{}{error}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Parse {
        /// The core's error.
        error: orrery_core::ParseError,
        /// The file, when the document was read from one.
        path: Option<PathBuf>,
    },
    /// A file or directory could not be read.
    #[error("cannot {doing} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `open the agents directory`).
        doing: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A graph has error diagnostics.
    #[error("the graph has {} error(s); the first: {}", .0.iter().filter(|d| d.is_error()).count(),
        .0.iter().find(|d| d.is_error()).map(ToString::to_string).unwrap_or_default())]
    Invalid(Vec<Diagnostic>),
    /// Flattening failed.
    #[error(transparent)]
    Flatten(#[from] FlattenError),
    /// Laying out failed.
    #[error(transparent)]
    Layout(#[from] orrery_render::layout::LayoutError),
    /// Drawing failed.
    #[error(transparent)]
    Render(#[from] orrery_render::RenderError),
    /// An argument has a value the engine refuses (an agent id outside the id grammar).
    #[error("{0}")]
    Value(String),
}

impl From<Error> for PyErr {
    fn from(error: Error) -> PyErr {
        let message = error.to_string();
        Python::attach(|py| {
            let (err, attributes): (PyErr, Vec<(&str, Py<PyAny>)>) = match error {
                Error::Parse { error, path } => {
                    let (line, column) = match error {
                        orrery_core::ParseError::Json { line, column, .. } if line > 0 => {
                            (Some(line), Some(column))
                        }
                        _ => (None, None),
                    };
                    (
                        ParseError::new_err(message),
                        vec![
                            ("line", line.into_pyobject(py)?.into_any().unbind()),
                            ("column", column.into_pyobject(py)?.into_any().unbind()),
                            ("path", path_object(py, path.as_ref())?),
                        ],
                    )
                }
                Error::Io { path, .. } => (
                    OrreryIOError::new_err(message),
                    vec![("path", path_object(py, Some(&path))?)],
                ),
                Error::Invalid(diagnostics) => {
                    let list = PyList::empty(py);
                    for d in diagnostics {
                        list.append(PyDiagnostic::from(d))?;
                    }
                    (
                        ValidationError::new_err(message),
                        vec![("diagnostics", list.into_any().unbind())],
                    )
                }
                Error::Flatten(error) => {
                    let node = match &error {
                        FlattenError::MissingAgent { node }
                        | FlattenError::UnknownAgent { node, .. }
                        | FlattenError::AgentUnavailable { node, .. }
                        | FlattenError::TooDeep { node, .. } => Some(node.clone()),
                        _ => None,
                    };
                    (
                        NestingError::new_err(message),
                        vec![("node", node.into_pyobject(py)?.into_any().unbind())],
                    )
                }
                Error::Layout(_) => (LayoutError::new_err(message), vec![]),
                Error::Render(_) => (RenderError::new_err(message), vec![]),
                Error::Value(_) => (PyValueError::new_err(message), vec![]),
            };
            let value = err.value(py);
            for (name, attribute) in attributes {
                value.setattr(name, attribute)?;
            }
            Ok::<PyErr, PyErr>(err)
        })
        .unwrap_or_else(|e| e)
    }
}

/// Gives the exception classes their attributes at class level (`None`), so that every instance
/// has them, and registers the classes in `module`.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("OrreryError", py.get_type::<OrreryError>())?;
    for (class, attributes) in [
        (py.get_type::<ParseError>(), &["line", "column", "path"][..]),
        (py.get_type::<ValidationError>(), &["diagnostics"][..]),
        (py.get_type::<NestingError>(), &["node"][..]),
        (py.get_type::<OrreryIOError>(), &["path"][..]),
        (py.get_type::<LayoutError>(), &[][..]),
        (py.get_type::<RenderError>(), &[][..]),
    ] {
        for attribute in attributes {
            class.setattr(*attribute, py.None())?;
        }
        module.add(class.name()?, class)?;
    }
    Ok(())
}

fn path_object(py: Python<'_>, path: Option<&PathBuf>) -> PyResult<Py<PyAny>> {
    Ok(path
        .map(|p| p.display().to_string())
        .into_pyobject(py)?
        .into_any()
        .unbind())
}

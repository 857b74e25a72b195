//! Python bindings for the Orrery engine: the extension module `orrery._orrery` of the Python
//! package `orrery` (`orrery-py/python/orrery/`, built with maturin). Start with
//! [`graph::PyGraph`] (`orrery.Graph`); agents come from [`agents::PyAgentRegistry`], and every
//! Rust error becomes a Python exception in [`errors`].
//!
//! Invariants: classes wrap core types and add no logic (the engine is `orrery-core` and
//! `orrery-render`); no panic reaches Python for any input, bad inputs raise `OrreryError`
//! subclasses or `TypeError`/`ValueError`; long work (parsing, validation, layout, rendering)
//! runs with the GIL released.

#![warn(missing_docs)]

pub mod agents;
pub mod diagnostic;
pub mod document;
pub mod errors;
pub mod graph;
mod json;
mod repr;

use pyo3::prelude::*;

use crate::diagnostic::PyDiagnostic;

/// The compiler-style report of `diagnostics`, as `orrery validate` prints it: one block per
/// diagnostic with its location, nesting and help, then a summary naming `source`.
#[pyfunction]
#[pyo3(signature = (diagnostics, source="graph"))]
fn report(diagnostics: Vec<PyRef<'_, PyDiagnostic>>, source: &str) -> String {
    let diagnostics: Vec<_> = diagnostics.iter().map(|d| d.inner().clone()).collect();
    orrery_core::render_report(&diagnostics, source)
}

/// The module `orrery._orrery`.
#[pymodule]
fn _orrery(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<graph::PyGraph>()?;
    m.add_class::<graph::PyDiff>()?;
    m.add_class::<document::PyNode>()?;
    m.add_class::<document::PyInputPort>()?;
    m.add_class::<document::PyOutputPort>()?;
    m.add_class::<document::PyEdge>()?;
    m.add_class::<document::PyAgentRef>()?;
    m.add_class::<document::PyGroup>()?;
    m.add_class::<diagnostic::PyDiagnostic>()?;
    m.add_class::<diagnostic::PyLocation>()?;
    m.add_class::<diagnostic::PyStep>()?;
    m.add_class::<agents::PyAgentRegistry>()?;
    m.add_function(wrap_pyfunction!(report, m)?)?;
    errors::register(m)
}

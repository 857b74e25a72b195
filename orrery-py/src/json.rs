//! JSON values to Python objects and back: `config`, `ui` and diff changes become plain dicts,
//! lists, strings, numbers, booleans and `None`; a dict handed to `Graph.from_json` becomes a
//! `serde_json::Value` the core parses.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// How deep a Python object may nest: the limit serde_json puts on JSON text, so that a dict
/// and the same document as text are refused alike (and the recursion stays bounded).
const MAX_DEPTH: usize = 128;

/// `value` as Python objects.
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(fields) => object_to_py(py, fields)?.into_any(),
    })
}

/// A JSON object as a dict.
pub fn object_to_py<'py>(
    py: Python<'py>,
    fields: &Map<String, Value>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, item) in fields {
        dict.set_item(key, to_py(py, item)?)?;
    }
    Ok(dict)
}

/// Anything serde can serialize, as Python objects.
pub fn serialize_to_py<'py, T: serde::Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(value).map_err(|e| PyValueError::new_err(e.to_string()))?;
    to_py(py, &value)
}

/// A Python object made of dicts (string keys), lists, tuples, strings, ints, floats, booleans
/// and `None` as a JSON value. Anything else is a `TypeError`, a non-finite float or an integer
/// beyond 64 bits a `ValueError`; both name where in the object it was (`nodes[0].config`).
pub fn from_py(object: &Bound<'_, PyAny>) -> PyResult<Value> {
    let mut path = Vec::new();
    convert(object, &mut path)
}

enum Segment {
    Key(String),
    Index(usize),
}

fn convert(object: &Bound<'_, PyAny>, path: &mut Vec<Segment>) -> PyResult<Value> {
    if path.len() > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "{}: the object nests deeper than {MAX_DEPTH} levels",
            where_(path)
        )));
    }
    if object.is_none() {
        return Ok(Value::Null);
    }
    // `bool` before `int`: in Python, True is an int.
    if let Ok(b) = object.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = object.cast::<PyInt>() {
        if let Ok(v) = i.extract::<i64>() {
            return Ok(Value::from(v));
        }
        if let Ok(v) = i.extract::<u64>() {
            return Ok(Value::from(v));
        }
        return Err(PyValueError::new_err(format!(
            "{}: the integer {i} does not fit in 64 bits",
            where_(path)
        )));
    }
    if let Ok(f) = object.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| {
                PyValueError::new_err(format!(
                    "{}: {} is not a JSON number (JSON has no NaN or infinity)",
                    where_(path),
                    f.value()
                ))
            });
    }
    if let Ok(s) = object.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(dict) = object.cast::<PyDict>() {
        let mut fields = Map::with_capacity(dict.len());
        for (key, item) in dict.iter() {
            let Ok(key) = key.cast::<PyString>() else {
                return Err(PyTypeError::new_err(format!(
                    "{}: keys must be strings, found {}",
                    where_(path),
                    type_name(&key)
                )));
            };
            let key = key.to_cow()?.into_owned();
            path.push(Segment::Key(key.clone()));
            let value = convert(&item, path)?;
            path.pop();
            fields.insert(key, value);
        }
        return Ok(Value::Object(fields));
    }
    if object.is_instance_of::<PyList>() || object.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (index, item) in object.try_iter()?.enumerate() {
            path.push(Segment::Index(index));
            items.push(convert(&item?, path)?);
            path.pop();
        }
        return Ok(Value::Array(items));
    }
    Err(PyTypeError::new_err(format!(
        "{}: {} is not JSON (use dicts, lists, strings, numbers, booleans and None)",
        where_(path),
        type_name(object)
    )))
}

fn where_(path: &[Segment]) -> String {
    let mut out = String::from("document");
    for segment in path {
        match segment {
            Segment::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Segment::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

fn type_name(object: &Bound<'_, PyAny>) -> String {
    object
        .get_type()
        .name()
        .map(|n| format!("an object of type `{n}`"))
        .unwrap_or_else(|_| "an object".to_owned())
}

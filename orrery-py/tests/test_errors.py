"""Bad inputs raise clean Python exceptions, one class per kind of failure, with the Rust
message and location; no input makes a Rust panic cross into Python."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from conftest import GRAPHS, WORKED_EXAMPLE

import orrery


def test_the_exception_classes_form_one_hierarchy() -> None:
    for cls in (
        orrery.ParseError,
        orrery.ValidationError,
        orrery.NestingError,
        orrery.OrreryIOError,
        orrery.LayoutError,
        orrery.RenderError,
        orrery.ApiError,
    ):
        assert issubclass(cls, orrery.OrreryError)
    assert issubclass(orrery.OrreryError, Exception)
    assert orrery.ParseError.__module__ == "orrery"


def test_malformed_json_raises_parse_error_with_line_and_column() -> None:
    with pytest.raises(orrery.ParseError) as raised:
        orrery.Graph.from_json('{"schema": 1,\n "nodes": [}')
    error = raised.value
    assert (error.line, error.column) == (2, 12)
    assert error.path is None
    assert "line 2, column 12" in str(error)


def test_a_document_of_the_wrong_shape_raises_parse_error() -> None:
    cases: dict[str, str | None] = {
        "[]": "JSON object",
        '{"schema": 1}': "nodes",
        '{"schema": 1, "nodes": [], "extra": 1}': "extra",
        '{"schema": 99, "nodes": []}': "schema version 99",
        '{"schema": 1, "nodes": [{"id": "a"}]}': "kind",
        '{"schema": 1, "nodes": [{"id": "a", "kind": "note", "position": [1]}]}': "2 or 3 numbers",
        "": None,
        "\xff": None,
    }
    for text, words in cases.items():
        with pytest.raises(orrery.ParseError, match=words):
            orrery.Graph.from_json(text)
    with pytest.raises(orrery.ParseError, match="invalid UTF-8"):
        orrery.Graph.from_json(b'{"schema": 1, "nodes": [], "ui": "\xff"}')
    with pytest.raises(orrery.ParseError, match="schema"):
        orrery.Graph.from_json({"nodes": []})


def test_a_file_that_does_not_parse_names_its_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"schema": 1, "nodes": 3}')
    with pytest.raises(orrery.ParseError) as raised:
        orrery.Graph.load(path)
    assert raised.value.path == str(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert raised.value.line == 1


def test_nonexistent_and_unreadable_paths_raise_orrery_io_error(tmp_path: Path) -> None:
    with pytest.raises(orrery.OrreryIOError, match="cannot read") as raised:
        orrery.Graph.load(tmp_path / "missing.json")
    assert raised.value.path == str(tmp_path / "missing.json")
    with pytest.raises(orrery.OrreryIOError):
        orrery.Graph.load(tmp_path)  # a directory


def test_wrong_types_raise_type_error() -> None:
    for value in (42, None, 1.5, ["schema"], object()):
        with pytest.raises(TypeError, match="str, bytes or dict"):
            orrery.Graph.from_json(value)  # type: ignore[arg-type]
    graph = orrery.Graph.from_json(WORKED_EXAMPLE)
    with pytest.raises(TypeError, match="already a Graph"):
        orrery.Graph.from_json(graph)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        orrery.Graph.load(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        graph.diff(42)  # type: ignore[arg-type]


def test_dicts_that_are_not_json_raise_with_where() -> None:
    base = json.loads(WORKED_EXAMPLE)
    base["nodes"][0]["config"] = {"when": object()}
    with pytest.raises(TypeError, match=r"document\.nodes\[0\]\.config\.when: an object of type"):
        orrery.Graph.from_json(base)
    with pytest.raises(TypeError, match="keys must be strings"):
        orrery.Graph.from_json({"schema": 1, "nodes": [], 1: 2})
    with pytest.raises(ValueError, match="NaN or infinity"):
        orrery.Graph.from_json({"schema": 1, "nodes": [], "ui": float("nan")})
    with pytest.raises(ValueError, match="does not fit in 64 bits"):
        orrery.Graph.from_json({"schema": 1, "nodes": [], "ui": 2**80})
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(200):
        inner["x"] = {}
        inner = inner["x"]  # type: ignore[assignment]
    with pytest.raises(ValueError, match="deeper than 128"):
        orrery.Graph.from_json({"schema": 1, "nodes": [], "ui": deep})


def test_deeply_nested_text_is_refused_not_overflowed() -> None:
    text = '{"schema": 1, "nodes": [], "ui": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(orrery.ParseError, match="recursion"):
        orrery.Graph.from_json(text)


def test_no_input_makes_a_panic_cross_into_python() -> None:
    # Mutated documents through every entry point: each either works or raises one of our
    # exceptions (a pyo3 PanicException derives from BaseException, so it would escape this).
    rng = random.Random(7)
    sources = [p.read_bytes() for p in sorted(GRAPHS.glob("*.json")) if p.stat().st_size < 20_000]
    tokens = [b"{", b"}", b"[", b"]", b",", b":", b'"', b"0", b"-1", b"1e999", b"null", b"/", b"."]
    outcomes = {"ok": 0, "error": 0}
    for _ in range(400):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[at : at + rng.randint(1, 8)] = rng.choice(tokens)
            else:
                data[at] = rng.randrange(256)
        try:
            graph = orrery.Graph.from_json(bytes(data))
            graph.validate()
            graph.digest
            graph.flatten(orrery.AgentRegistry())
            graph.layout(seed=1, iterations=2)
            outcomes["ok"] += 1
        except (orrery.OrreryError, TypeError, ValueError):
            outcomes["error"] += 1
    assert outcomes["ok"] > 0 and outcomes["error"] > 0


def test_odd_but_valid_documents_lay_out_and_validate() -> None:
    # Duplicate ids, self-loops, dangling edges and unknown kinds are validation data, not errors.
    graph = orrery.Graph.from_json(
        {
            "schema": 1,
            "nodes": [
                {"id": "a", "kind": "wizard", "outputs": [{"name": "o", "type": "mystery"}]},
                {"id": "a", "kind": "tool"},
                {"id": "b", "kind": "tool", "inputs": [{"name": "i"}]},
            ],
            "edges": [
                {"from": "a.o", "to": "a.o"},
                {"from": "a.o", "to": "ghost.i"},
                {"from": "nodot", "to": "b.i"},
            ],
        }
    )
    codes = {d.code for d in graph.validate()}
    assert {"E0003", "E0004", "E0006", "E0011", "E0012"} <= codes
    assert graph.layout(seed=1).shape == (3, 3)
    assert np.isfinite(graph.layout(seed=1)).all()

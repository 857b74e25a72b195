"""Layout and pictures: NumPy positions equal to the CLI's for the same seed, warm starts, the
GIL released while the engine runs, PNGs from the headless renderer."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import AGENTS, GRAPHS, run_cli

import orrery


def cli_positions(orrery_bin: Path, tmp_path: Path, *args: str | Path) -> np.ndarray:
    out = tmp_path / "positions.txt"
    run_cli(orrery_bin, "layout", *args, "-o", out)
    return np.loadtxt(out, dtype=np.float32, ndmin=2)


@pytest.mark.parametrize(
    ("name", "seed"),
    [("rag-pipeline", 0), ("support-triage", 7), ("generated-1000", 3), ("planner", 11)],
)
def test_positions_equal_the_cli_for_the_same_seed(
    orrery_bin: Path, tmp_path: Path, name: str, seed: int
) -> None:
    path = GRAPHS / f"{name}.json"
    expected = cli_positions(orrery_bin, tmp_path, path, "--seed", str(seed))
    positions = orrery.Graph.load(path).layout(seed=seed)
    assert positions.dtype == np.float32 and positions.shape == expected.shape
    np.testing.assert_array_equal(positions, expected)


def test_flattened_positions_equal_the_cli_with_agents(orrery_bin: Path, tmp_path: Path) -> None:
    path = GRAPHS / "planner.json"
    expected = cli_positions(orrery_bin, tmp_path, path, "--agents", AGENTS, "--seed", "5")
    flat = orrery.Graph.load(path).flatten(AGENTS)
    np.testing.assert_array_equal(flat.layout(seed=5), expected)


def test_iterations_equal_the_cli_too(orrery_bin: Path, tmp_path: Path) -> None:
    path = GRAPHS / "support-triage.json"
    expected = cli_positions(orrery_bin, tmp_path, path, "--seed", "2", "--iterations", "5")
    np.testing.assert_array_equal(orrery.Graph.load(path).layout(seed=2, iterations=5), expected)


def test_positions_are_one_row_per_node_and_deterministic(rag: orrery.Graph) -> None:
    a = rag.layout(seed=42)
    assert a.shape == (len(rag.nodes), 3) and a.dtype == np.float32
    assert a.flags.c_contiguous and a.flags.writeable
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, rag.layout(seed=42))
    assert not np.array_equal(a, rag.layout(seed=43))
    assert rag.layout().shape == a.shape  # seed 0


def test_the_array_owns_the_engines_buffer_without_a_copy(rag: orrery.Graph) -> None:
    positions = rag.layout(seed=1)
    assert not positions.flags.owndata, "a view of the Rust buffer, handed over to NumPy"
    assert positions.base is not None


def test_a_warm_start_keeps_placed_nodes_near_their_positions(rag: orrery.Graph) -> None:
    first = rag.layout(seed=1)
    initial = first.copy()
    initial[-1] = np.nan  # the last node is new: it has no position
    warm = rag.layout(seed=1, initial=initial)
    assert warm.shape == first.shape and np.isfinite(warm).all()
    moved = np.linalg.norm(warm[:-1] - first[:-1], axis=1).max()
    spread = np.linalg.norm(first - first.mean(axis=0), axis=1).max()
    assert moved < spread
    # Fewer rows than nodes, lists and float64 are accepted too.
    assert rag.layout(seed=1, initial=first[:3].astype(np.float64).tolist()).shape == first.shape


def test_bad_layout_arguments_raise_clean_errors(rag: orrery.Graph) -> None:
    with pytest.raises(ValueError, match="seed must be from 0"):
        rag.layout(seed=-1)
    with pytest.raises(ValueError, match="seed must be from 0"):
        rag.layout(seed=2**64)
    with pytest.raises(TypeError):
        rag.layout(seed="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        rag.layout(seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="iterations must be from 0"):
        rag.layout(iterations=-5)
    with pytest.raises(ValueError, match=r"shape \(m, 3\)"):
        rag.layout(initial=np.zeros((2, 2)))
    with pytest.raises(orrery.LayoutError, match="initial positions given for a graph of"):
        rag.layout(initial=np.zeros((len(rag.nodes) + 1, 3)))
    with pytest.raises(orrery.LayoutError, match="not finite"):
        rag.layout(initial=[[0.0, np.inf, 0.0]])
    with pytest.raises((TypeError, ValueError)):
        rag.layout(initial=np.zeros(3))
    with pytest.raises((TypeError, ValueError)):
        rag.layout(initial="nope")  # type: ignore[arg-type]


def test_an_empty_graph_cannot_be_laid_out() -> None:
    empty = orrery.Graph.from_json('{"schema": 1, "nodes": []}')
    with pytest.raises(orrery.LayoutError, match="no nodes"):
        empty.layout()
    assert empty._repr_png_() is None


def test_layout_releases_the_gil() -> None:
    # A long layout in a thread: while it runs, this thread keeps executing Python. Were the GIL
    # held, the loop below would stall for the whole layout.
    graph = orrery.Graph.load(GRAPHS / "generated-1000.json")
    started = time.perf_counter()
    graph.layout(seed=1, iterations=300)
    duration = time.perf_counter() - started

    done = threading.Event()
    thread = threading.Thread(target=lambda: (graph.layout(seed=1, iterations=300), done.set()))
    thread.start()
    ticks, longest, last = 0, 0.0, time.perf_counter()
    while not done.is_set():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
        ticks += 1
    thread.join()
    assert ticks > 1000
    assert longest < duration / 2, f"Python stalled {longest:.3f} s of a {duration:.3f} s layout"


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "a PNG"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_render_png_draws_a_picture_of_the_asked_size(rag: orrery.Graph) -> None:
    png = rag.render_png(width=320, height=200)
    assert png_size(png) == (320, 200)
    light = rag.render_png(width=320, height=200, theme="light", seed=3)
    assert png_size(light) == (320, 200) and light != png


def test_render_png_draws_at_given_positions(rag: orrery.Graph) -> None:
    positions = rag.layout(seed=9)
    assert rag.render_png(width=160, height=90, positions=positions) == rag.render_png(
        width=160, height=90, seed=9
    )
    assert png_size(rag.render_png(width=64, height=64, positions=positions.tolist())) == (64, 64)


def test_repr_png_shows_a_graph_in_jupyter(rag: orrery.Graph) -> None:
    png = rag._repr_png_()
    assert png is not None and png_size(png) == (800, 450)


def test_bad_render_arguments_raise_clean_errors(rag: orrery.Graph) -> None:
    with pytest.raises(ValueError, match="width must be from 0"):
        rag.render_png(width=-1)
    with pytest.raises(ValueError, match="height must be from 0"):
        rag.render_png(height=-100)
    with pytest.raises(orrery.RenderError, match="each side must be 1 to"):
        rag.render_png(width=0, height=10)
    with pytest.raises(orrery.RenderError, match="each side must be 1 to"):
        rag.render_png(width=10**6, height=10)
    with pytest.raises(ValueError, match="unknown theme"):
        rag.render_png(theme="sepia")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"positions must have shape \(9, 3\)"):
        rag.render_png(positions=np.zeros((2, 3)))
    with pytest.raises(orrery.RenderError, match="not finite"):
        rag.render_png(width=16, height=16, positions=np.full((9, 3), np.nan))
    with pytest.raises(TypeError):
        rag.render_png(width="wide")  # type: ignore[arg-type]

"""The package itself: the type stubs match the built module, the package type-checks
strictly, and the notebook-style tour runs from start to end."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

import orrery


def test_the_stub_matches_the_built_module(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "orrery._orrery"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # where mypy leaves its cache
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_package_type_checks_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "-p", "orrery"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_package_exports_what_it_documents() -> None:
    assert orrery.__version__
    for name in orrery.__all__:
        assert hasattr(orrery, name), name
    assert (Path(orrery.__file__).parent / "py.typed").exists()


def test_the_tour_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORRERY_EXAMPLES", str(ROOT / "examples" / "graphs"))
    runpy.run_path(str(ROOT / "examples" / "python" / "tour.py"), run_name="__main__")
    assert (tmp_path / "planner.png").stat().st_size > 1000
    assert os.path.exists(tmp_path / "planner-positions.npy")

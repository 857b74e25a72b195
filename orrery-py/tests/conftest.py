"""Fixtures shared by the suite: the example graphs, the `orrery` binary, and a real
`orrery serve` (embedded SQLite in a temporary directory) with a signed-up user and an API key.

The binary is `$ORRERY_BIN`, or the newer of `target/debug/orrery` and `target/release/orrery`
(`$CARGO_TARGET_DIR` instead of `target/` when set); build it with
`cargo build -p orrery-server --bin orrery`.
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import orrery

ROOT = Path(__file__).resolve().parents[2]
GRAPHS = ROOT / "examples" / "graphs"
AGENTS = GRAPHS / "agents"

#: A valid graph of two nodes: the worked example of docs/graph-format.md.
WORKED_EXAMPLE = (
    '{"schema":1,"nodes":['
    '{"id":"question","kind":"input","outputs":[{"name":"value","type":"text"}],"position":[0,0]},'
    '{"id":"answer","kind":"output","label":"Answer","inputs":[{"name":"value","type":"text"}]}],'
    '"edges":[{"from":"question.value","to":"answer.value"}]}'
)
WORKED_EXAMPLE_DIGEST = "sha256:d8f1b87ea81f70ce3ca5eb1e904ed077a9ff696b4ebe6e550b4be7b29040ee8d"


@pytest.fixture
def rag() -> orrery.Graph:
    return orrery.Graph.load(GRAPHS / "rag-pipeline.json")


@pytest.fixture
def planner() -> orrery.Graph:
    return orrery.Graph.load(GRAPHS / "planner.json")


@pytest.fixture(scope="session")
def orrery_bin() -> Path:
    if os.environ.get("ORRERY_BIN"):
        path = Path(os.environ["ORRERY_BIN"])
        if not path.is_file():
            pytest.fail(f"ORRERY_BIN={path} does not exist")
        return path
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    found = [p for p in (target / "debug" / "orrery", target / "release" / "orrery") if p.is_file()]
    if not found:
        pytest.fail(
            f"no orrery binary in {target}/debug or {target}/release: build it with "
            "`cargo build -p orrery-server --bin orrery`, or set ORRERY_BIN"
        )
    return max(found, key=lambda p: p.stat().st_mtime)


def run_cli(orrery_bin: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Runs the binary from the repository root; fails the test when it exits non-zero."""
    done = subprocess.run(
        [str(orrery_bin), *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"orrery {' '.join(map(str, args))}: {done.stderr}"
    return done


@dataclass
class Server:
    """A running `orrery serve` and a user of it."""

    url: str
    token: str
    api_key: str

    def client(self, api_key: str | None = None) -> orrery.Client:
        return orrery.Client(self.url, api_key=api_key if api_key is not None else self.api_key)


@pytest.fixture(scope="session")
def server(orrery_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import httpx

    data = tmp_path_factory.mktemp("orrery-serve")
    # Only our settings: an ORRERY_* variable of the caller's (a database URL, Redis) must not
    # leak into the test server. Cheap Argon2 parameters keep sign-up fast.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORRERY_")}
    env.update(
        ORRERY_DATA_DIR=str(data / "data"),
        ORRERY_ARGON2_MEMORY_KIB="64",
        ORRERY_ARGON2_ITERATIONS="1",
    )
    process = subprocess.Popen(
        [str(orrery_bin), "serve", "--bind", "127.0.0.1:0"],
        cwd=data,
        env=env,
        stdout=subprocess.PIPE,
        stderr=open(data / "stderr.log", "wb"),  # noqa: SIM115 - lives as long as the server
        text=True,
    )
    try:
        url = _listening_url(process, data / "stderr.log")
        _wait_healthy(url)
        with httpx.Client(base_url=url, timeout=30) as http:
            signup = http.post(
                "/api/auth/signup",
                json={"email": "py@example.com", "password": "correct horse battery", "name": "Py"},
            )
            assert signup.status_code in (200, 201), signup.text
            token = signup.json()["token"]
            key = http.post(
                "/api/keys", json={"name": "pytest"}, headers={"authorization": f"Bearer {token}"}
            )
            assert key.status_code == 201, key.text
            yield Server(url=url, token=token, api_key=key.json()["secret"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _listening_url(process: subprocess.Popen[str], log: Path) -> str:
    """The `http://…` address `orrery serve` prints on its first line of stdout."""
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=60)
    except queue.Empty:
        pytest.fail(f"orrery serve printed no address within 60 s: {log.read_text()}")
    if "http://" not in line:
        pytest.fail(f"orrery serve did not start: {line!r} {log.read_text()}")
    return "http://" + line.split("http://", 1)[1].split()[0]


def _wait_healthy(url: str) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url}/healthz did not answer 200 within 30 s")
        time.sleep(0.1)

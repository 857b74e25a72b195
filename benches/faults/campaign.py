#!/usr/bin/env python3
"""The fault and load campaign: two `orrery serve` instances on one PostgreSQL and one Redis,
under a mixed load, while their dependencies fail one after another.

    benches/faults/run [--duration 60] [--workers 16] [--seed 1] [--out DIR] [--no-billing]

(`run` makes the virtual environment from requirements.txt and builds the release binary once;
then it calls this script with the same arguments.)

What runs, all on loopback ports picked at start:

* a throwaway PostgreSQL (scripts/lib/postgres.sh), one Redis without persistence, aiosmtpd
  writing a Maildir (the SMTP sink), and stripe_fake.py (the few Stripe calls the load makes);
* instances A and B of `target/release/orrery serve` sharing all of them (and one JWT secret);
* N workers, each signed up as its own account with an API key and a graph, sending a weighted
  mix for --duration seconds (bounded in time and in count): graph reads by token and by API
  key, lists, `/api/auth/me`, graph creates and updates (new versions), API-key creates,
  sign-ins, password-reset requests (each queues a mail) and checkout starts (two Stripe calls).
  Each request goes to A or B at random, as a load balancer without health checks would send
  it; a refused connection is counted (never retried) and the worker pauses 50 ms.

The faults, at fixed fractions of the duration (at 60 s: seconds 6, 16, 22, 37 and 47):

1. Redis stopped (SIGTERM) for 10% of the run, then started again, empty;
2. PostgreSQL restarted: `pg_ctl stop -m fast`, 2 s down, started again;
3. the SMTP sink stopped for 20% of the run, then started again on the same port;
4. the Stripe fake answering every call with a 500 for 11% of the run;
5. instance B killed with SIGKILL, started again 3 s later on the same port.

Afterwards it waits for the outbox to drain (every mail sent or given up, at most
--drain-timeout s), stops everything and checks, straight in the database and the Maildir:

* acknowledged writes lost: every 2xx graph create (its row), graph update (its version; and
  the head is that of the last acknowledged update or of a later unacknowledged one), API-key
  create (its row) and sign-in/sign-up (its refresh token's hash) must be found;
* mail lost: every outbox row must have reached the sink exactly once (duplicates counted
  apart), and every acknowledged password-reset request must have queued a row;
* 5xx and transport errors by cause (status and problem type, or the client error) and by
  window (before, during and after each fault, with durations), and the server's own ERROR
  and WARN log lines by message and window;
* time to recover after each fault: for each instance, the first 2xx of a request sent after
  the fault ended (for SMTP: the first delivery; for Stripe: the first checkout; for the kill:
  the restarted instance), and when `/readyz` answered 200 again;
* the memory high-water mark of each instance process (VmHWM from /proc, and the largest
  VmRSS sampled every 250 ms).

It prints summary tables (markdown) and writes everything to OUT/results.json, with the
servers' logs beside it. Faults never overlap, so each window has one cause. Mail retries are
made fast for a run this short (ORRERY_MAIL_RETRY_BASE_MS=1000 and a 1 s poll; the defaults
are 30 s and 5 s), and plan limits are scaled up (ORRERY_LIMITS_SCALE) so that the limiter
still runs on every request but the load is not refused.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import email
import email.policy
import hashlib
import json
import os
import random
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

# Weighted operations: (name, weight).
OPS = [
    ("read", 26),
    ("key_read", 14),
    ("list", 8),
    ("me", 5),
    ("create", 14),
    ("update", 14),
    ("key_create", 2),
    ("signin", 6),
    ("reset", 6),
    ("checkout", 5),
]
# Operations that need the database to answer 2xx (all but none: even reads load the graph).
WRITES = {"create", "update", "key_create", "signin"}
MAX_KEYS_PER_USER = 15  # the pro plan (the trial's) allows 20
MAX_REQUESTS_PER_WORKER = 100_000
REQUEST_TIMEOUT_S = 10.0
PASSWORD = "campaign password that is long"


# ---------------------------------------------------------------------------------------------
# The run's state


@dataclass
class User:
    """One worker's account and what it has written."""

    index: int
    email: str
    token: str = ""
    key: str = ""
    graphs: list[str] = field(default_factory=list)
    keys_made: int = 1


@dataclass
class Fault:
    """One fault: when it began and when the service was back."""

    name: str
    what: str
    start: float = 0.0
    end: float = 0.0
    detail: dict = field(default_factory=dict)


class Run:
    """Everything the load, the faults and the report share."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        # (start, end, instance, op, status, kind): status 0 is a transport error.
        self.records: list[tuple[float, float, str, str, int, str]] = []
        self.acked_creates: list[dict] = []
        self.unacked_creates: list[str] = []
        self.acked_updates: list[dict] = []
        # graph id -> [(rev, acknowledged)] in the order sent (one worker writes each graph).
        self.update_attempts: dict[str, list[tuple[int, bool]]] = defaultdict(list)
        self.acked_keys: list[str] = []
        self.refresh_hashes: list[str] = []
        self.resets: Counter = Counter()  # email -> acknowledged (202) requests
        self.resets_unacked: Counter = Counter()
        self.faults: list[Fault] = []
        self.ready: list[tuple[float, str, int, dict]] = []
        self.memory: dict[str, dict] = {}
        self.rss: list[tuple[float, str, int]] = []  # (time, instance, VmRSS KiB) samples
        self.deliveries: dict[str, float] = {}  # Maildir file -> first seen
        self.procs: dict[str, subprocess.Popen] = {}
        self.instance_urls: dict[str, str] = {}
        self.instance_pids: dict[str, list[tuple[str, int]]] = defaultdict(list)

    def now(self) -> float:
        return time.monotonic() - self.t0


# ---------------------------------------------------------------------------------------------
# Services


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until(check, timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return False


def bash_lib(lib: str, script: str, *args: str) -> str:
    """Runs `script` with scripts/lib/`lib` sourced; returns its stdout."""
    out = subprocess.run(
        ["bash", "-c", f'source "{ROOT}/scripts/lib/{lib}"; {script}', "_", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


class Postgres:
    """The throwaway cluster of scripts/lib/postgres.sh, restartable with its own options."""

    def __init__(self) -> None:
        # Under /tmp: every folder above the cluster must let the postgres user through.
        self.dir = Path(tempfile.mkdtemp(prefix="orrery-faults-pg."))
        self.url = bash_lib("postgres.sh", 'postgres_start "$1"', str(self.dir))
        self.bindir = bash_lib("postgres.sh", "postgres_bindir")
        # The options it was started with, to start it again the same way after a stop.
        argv = shlex.split((self.dir / "data" / "postmaster.opts").read_text())[1:]
        i = argv.index("-D")
        self.options = shlex.join(argv[:i] + argv[i + 2 :])

    def pg_ctl(self, *args: str) -> None:
        cmd = [f"{self.bindir}/pg_ctl", "-D", str(self.dir / "data"), *args]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "-t", "60", "stop")

    def start(self) -> None:
        log = str(self.dir / "postgres.log")
        self.pg_ctl("-l", log, "-w", "-t", "60", "-o", self.options, "start")

    def psql(self, sql: str, database: str = "campaign") -> list[list[str]]:
        url = self.url.rsplit("/", 1)[0] + "/" + database
        out = subprocess.run(
            ["psql", url, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def destroy(self) -> None:
        bash_lib("postgres.sh", 'postgres_stop "$1"', str(self.dir))


class Child:
    """A service we run as a child process and can stop and start again on the same port."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path) -> None:
        self.name, self.argv, self.port, self.log = name, argv, port, log
        self.proc: subprocess.Popen | None = None

    def start(self, ready=None) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=log, start_new_session=True)
        if not wait_until(ready or (lambda: port_open(self.port)), 30):
            raise RuntimeError(f"{self.name} did not start (log: {self.log})")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_clients(port: int) -> int:
    """Connections Redis has, this one not counted (-1 when it does not answer)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"CLIENT LIST\r\n")
            data = b""
            while b"\r\n" not in data:
                data += s.recv(65536)
            header, _, rest = data.partition(b"\r\n")
            length = int(header[1:])  # a bulk string: $<length>
            while len(rest) < length:
                chunk = s.recv(65536)
                if not chunk:
                    break
                rest += chunk
            return max(0, rest.count(b"id=") - 1)
    except (OSError, ValueError):
        return -1


# ---------------------------------------------------------------------------------------------
# The instances


class Instances:
    """Instances A and B of `orrery serve`, sharing every dependency."""

    def __init__(self, run: Run, binary: Path, env: dict[str, str]) -> None:
        self.run, self.binary, self.env = run, binary, env
        self.ports = {"A": free_port(), "B": free_port()}
        self.procs: dict[str, subprocess.Popen] = {}
        self.starts: Counter = Counter()
        for name, port in self.ports.items():
            run.instance_urls[name] = f"http://127.0.0.1:{port}"

    def start(self, name: str, wait: bool = True) -> None:
        self.starts[name] += 1
        label = f"{name}{self.starts[name]}"
        data_dir = self.run.work / f"instance-{name}"
        data_dir.mkdir(exist_ok=True)
        env = {**os.environ, **self.env, "ORRERY_DATA_DIR": str(data_dir)}
        with open(self.run.work / f"{label}.log", "ab") as log:
            proc = subprocess.Popen(
                [str(self.binary), "serve", "--bind", f"127.0.0.1:{self.ports[name]}"],
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.procs[name] = proc
        self.run.instance_pids[name].append((label, proc.pid))
        self.run.memory[label] = {"pid": proc.pid, "hwm_kib": 0, "rss_max_kib": 0}
        if wait and not wait_until(lambda: self.ready(name), 60, 0.1):
            raise RuntimeError(f"instance {label} did not become ready")

    def ready(self, name: str) -> bool:
        try:
            return httpx.get(f"{self.run.instance_urls[name]}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill9(self, name: str) -> None:
        sample_memory(self.run, self)  # the last figures before it dies
        proc = self.procs.pop(name)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        sample_memory(self.run, self)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def live(self) -> list[tuple[str, int]]:
        labels = {name: f"{name}{self.starts[name]}" for name in self.procs}
        return [(labels[n], p.pid) for n, p in self.procs.items() if p.poll() is None]


def sample_memory(run: Run, instances: Instances, tag: str = "") -> None:
    for label, pid in instances.live():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(
            (k, v.split()[0]) for k, _, v in (line.partition(":") for line in status.splitlines()) if v.strip()
        )
        mem = run.memory[label]
        rss = int(fields.get("VmRSS", 0))
        mem["hwm_kib"] = max(mem["hwm_kib"], int(fields.get("VmHWM", 0)))
        mem["rss_max_kib"] = max(mem["rss_max_kib"], rss)
        run.rss.append((run.now(), label, rss))
        if tag:
            mem[f"rss_{tag}_kib"] = rss


# ---------------------------------------------------------------------------------------------
# The load


def document(rev: int) -> dict:
    """A small valid graph whose digest changes with `rev`."""
    return {
        "schema": 1,
        "nodes": [
            {"id": "ticket", "kind": "input", "outputs": [{"name": "value", "type": "text"}]},
            {
                "id": "classify",
                "kind": "agent",
                "config": {"model": "gpt-4o-mini", "revision": rev},
                "inputs": [{"name": "text", "type": "text"}],
                "outputs": [{"name": "category", "type": "text"}],
            },
            {"id": "answer", "kind": "output", "inputs": [{"name": "value", "type": "text"}]},
        ],
        "edges": [
            {"from": "ticket.value", "to": "classify.text"},
            {"from": "classify.category", "to": "answer.value"},
        ],
    }


class Load:
    def __init__(self, run: Run) -> None:
        self.run = run
        limits = httpx.Limits(max_connections=run.args.workers + 4, max_keepalive_connections=run.args.workers)
        self.clients = {
            name: httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S, limits=limits)
            for name, url in run.instance_urls.items()
        }
        self.rev = 0

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    async def call(self, inst: str, op: str, method: str, path: str, **kw) -> httpx.Response | None:
        run = self.run
        start = run.now()
        try:
            response = await self.clients[inst].request(method, path, **kw)
        except httpx.HTTPError as e:
            kind = {
                httpx.ConnectError: "connect refused",
                httpx.ConnectTimeout: "connect timeout",
                httpx.ReadTimeout: "read timeout",
                httpx.RemoteProtocolError: "connection closed",
                httpx.ReadError: "connection reset",
            }.get(type(e), type(e).__name__)
            run.records.append((start, run.now(), inst, op, 0, kind))
            await asyncio.sleep(0.05)
            return None
        kind = ""
        if response.status_code >= 400:
            try:
                kind = response.json().get("type", "")
            except ValueError:
                kind = "(no problem document)"
        run.records.append((start, run.now(), inst, op, response.status_code, kind))
        return response

    def next_rev(self) -> int:
        self.rev += 1
        return self.rev

    async def worker(self, user: User, rng: random.Random) -> None:
        run = self.run
        names, weights = zip(*OPS)
        for n in range(MAX_REQUESTS_PER_WORKER):
            if run.now() >= run.args.duration:
                return
            op = rng.choices(names, weights)[0]
            if op == "checkout" and run.args.no_billing:
                op = "read"
            if op == "key_create" and user.keys_made >= MAX_KEYS_PER_USER:
                op = "key_read"
            inst = rng.choice(("A", "B"))
            await getattr(self, f"op_{op}")(user, inst, rng, n)

    def bearer(self, user: User) -> dict[str, str]:
        return {"authorization": f"Bearer {user.token}"}

    async def op_read(self, user: User, inst: str, rng: random.Random, n: int) -> None:
        await self.call(inst, "read", "GET", f"/api/graphs/{rng.choice(user.graphs)}", headers=self.bearer(user))

    async def op_key_read(self, user: User, inst: str, rng: random.Random, n: int) -> None:
        gid = rng.choice(user.graphs)
        await self.call(inst, "key_read", "GET", f"/api/graphs/{gid}", headers={"x-api-key": user.key})

    async def op_list(self, user: User, inst: str, rng: random.Random, n: int) -> None:
        await self.call(inst, "list", "GET", "/api/graphs?limit=20", headers=self.bearer(user))

    async def op_me(self, user: User, inst: str, rng: random.Random, n: int) -> None:
        await self.call(inst, "me", "GET", "/api/auth/me", headers={"x-api-key": user.key})

    async def op_create(self, user: User, inst: str, rng: random.Random, n: int) -> None:
        rev = self.next_rev()
        name = f"campaign {user.index}-{rev}"
        body = {"name": name, "description": f"rev {rev}", "graph_data": document(rev)}
        r = await self.call(inst, "create", "POST", "/api/graphs", json=body, headers=self.bearer(user))
        if r is not None and r.status_code == 201:
            graph = r.json()["graph"]
            self.run.acked_creates.append(
                {"id": graph["id"], "name": name, "owner": user.email, "version": graph["version"]}
            )
            user.graphs.append(graph["id"])
        else:
            self.run.unacked_creates.append(name)

    async def op_update(self, user: User, inst: str, rng: random.Random, n: int) -> None:
        gid = rng.choice(user.graphs)
        rev = self.next_rev()
        body = {"description": f"rev {rev}", "graph_data": document(rev)}
        r = await self.call(inst, "update", "PUT", f"/api/graphs/{gid}", json=body, headers=self.bearer(user))
        acked = r is not None and r.status_code == 200
        self.run.update_attempts[gid].append((rev, acked))
        if acked:
            self.run.acked_updates.append({"id": gid, "rev": rev, "version": r.json()["graph"]["version"]})

    async def op_key_create(self, user: User, inst: str, rng: random.Random, n: int) -> None:
        body = {"name": f"campaign key {n}"}
        r = await self.call(inst, "key_create", "POST", "/api/keys", json=body, headers=self.bearer(user))
        if r is not None and r.status_code == 201:
            self.run.acked_keys.append(r.json()["key"]["id"])
            user.keys_made += 1

    async def op_signin(self, user: User, inst: str, rng: random.Random, n: int) -> None:
        body = {"email": user.email, "password": PASSWORD}
        r = await self.call(inst, "signin", "POST", "/api/auth/signin", json=body)
        if r is not None and r.status_code == 200:
            session = r.json()
            user.token = session["token"]
            self.run.refresh_hashes.append(hashlib.sha256(session["refresh_token"].encode()).hexdigest())

    async def op_reset(self, user: User, inst: str, rng: random.Random, n: int) -> None:
        r = await self.call(inst, "reset", "POST", "/api/auth/password-reset", json={"email": user.email})
        if r is not None and r.status_code == 202:
            self.run.resets[user.email] += 1
        else:
            self.run.resets_unacked[user.email] += 1

    async def op_checkout(self, user: User, inst: str, rng: random.Random, n: int) -> None:
        body = {"plan": "pro", "return_url": f"{self.run.instance_urls['A']}/billing"}
        await self.call(inst, "checkout", "POST", "/api/billing/create-checkout", json=body, headers=self.bearer(user))


async def sign_up(run: Run, load: Load, index: int) -> User:
    """An account with an API key and one graph, made through instance A before the faults."""
    user = User(index=index, email=f"campaign-{index}@example.com")
    client = load.clients["A"]
    r = await client.post("/api/auth/signup", json={"email": user.email, "password": PASSWORD, "name": f"Worker {index}"})
    r.raise_for_status()
    session = r.json()
    user.token = session["token"]
    run.refresh_hashes.append(hashlib.sha256(session["refresh_token"].encode()).hexdigest())
    r = await client.post("/api/keys", json={"name": "campaign"}, headers=load.bearer(user))
    r.raise_for_status()
    user.key = r.json()["secret"]
    run.acked_keys.append(r.json()["key"]["id"])
    rev = load.next_rev()
    name = f"campaign {index}-{rev}"
    r = await client.post(
        "/api/graphs", json={"name": name, "graph_data": document(rev), "description": f"rev {rev}"},
        headers=load.bearer(user),
    )
    r.raise_for_status()
    graph = r.json()["graph"]
    run.acked_creates.append({"id": graph["id"], "name": name, "owner": user.email, "version": graph["version"]})
    user.graphs.append(graph["id"])
    return user


# ---------------------------------------------------------------------------------------------
# Watchers: readiness, memory, deliveries


async def watch_ready(run: Run, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=1.0) as client:
        while not stop.is_set():
            for name, url in run.instance_urls.items():
                t = run.now()
                try:
                    r = await client.get(f"{url}/readyz")
                    run.ready.append((t, name, r.status_code, r.json()))
                except (httpx.HTTPError, ValueError):
                    run.ready.append((t, name, 0, {}))
            await asyncio.sleep(0.25)


async def watch_memory(run: Run, instances: Instances, stop: asyncio.Event) -> None:
    while not stop.is_set():
        sample_memory(run, instances)
        await asyncio.sleep(0.25)


async def watch_maildir(run: Run, maildir: Path, stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = run.now()
        for entry in os.scandir(maildir / "new"):
            run.deliveries.setdefault(entry.name, t)
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# The faults


async def fault_driver(run: Run, redis: Child, pg: Postgres, smtp: Child, stripe_url: str,
                       instances: Instances) -> None:
    d = run.args.duration

    async def at(fraction: float) -> None:
        await asyncio.sleep(max(0.0, fraction * d - run.now()))

    async def stripe(mode: str) -> None:
        async with httpx.AsyncClient() as client:
            (await client.post(f"{stripe_url}/_fault/{mode}")).raise_for_status()

    async def measured(name: str, what: str, down, up, hold: float) -> Fault:
        fault = Fault(name, what)
        fault.start = run.now()
        await asyncio.to_thread(down)
        await asyncio.sleep(max(0.0, fault.start + hold - run.now()))
        fault.detail["up_command_at"] = run.now()
        await asyncio.to_thread(up)
        fault.end = run.now()
        run.faults.append(fault)
        return fault

    await at(0.10)
    fault = await measured(
        "redis", "Redis stopped (SIGTERM), started again empty", redis.stop,
        lambda: redis.start(lambda: redis_ping(redis.port)), 0.10 * d,
    )
    # When both instances have connected again (Redis counts their connections).
    t_end = time.monotonic() + 10
    while time.monotonic() < t_end:
        if redis_clients(redis.port) >= 2:
            fault.detail["both_instances_reconnected_after_s"] = round(run.now() - fault.end, 3)
            break
        await asyncio.sleep(0.05)

    await at(0.27)
    await measured("postgres", "PostgreSQL restarted (pg_ctl stop -m fast, 2 s down, start)",
                   pg.stop, pg.start, 2.0)

    await at(0.37)
    await measured("smtp", "SMTP sink stopped, started again on the same port", smtp.stop, smtp.start, 0.20 * d)

    await at(0.62)
    fault = Fault("stripe", "Stripe fake answering 500 to every call")
    fault.start = run.now()
    await stripe("500")
    await asyncio.sleep(0.11 * d)
    await stripe("off")
    fault.end = run.now()
    run.faults.append(fault)

    await at(0.78)
    fault = Fault("kill", "instance B killed (SIGKILL), started again 3 s later")
    fault.start = run.now()
    await asyncio.to_thread(instances.kill9, "B")
    await asyncio.sleep(3.0)
    fault.end = run.now()  # the restart is issued here; its start-up counts in the recovery
    await asyncio.to_thread(instances.start, "B", False)
    fault.detail["restart_issued_at"] = fault.end
    run.faults.append(fault)


# ---------------------------------------------------------------------------------------------
# Checks after the run


def verify_writes(run: Run, pg: Postgres) -> dict:
    graphs = {r[0]: r for r in pg.psql("select id, name, coalesce(description, ''), encode(head, 'hex') from graphs")}
    names = {r[1] for r in graphs.values()}
    versions = {(r[0], r[1]) for r in pg.psql("select graph_id, encode(digest, 'hex') from graph_versions")}
    keys = {r[0] for r in pg.psql("select id from api_keys")}
    tokens = {r[0] for r in pg.psql("select encode(token_hash, 'hex') from refresh_tokens")}

    def hexdigest(version: str) -> str:
        return version.split(":", 1)[1]

    lost_creates = [c for c in run.acked_creates if c["id"] not in graphs or graphs[c["id"]][1] != c["name"]]
    lost_create_versions = [c for c in run.acked_creates if (c["id"], hexdigest(c["version"])) not in versions]
    lost_updates = [u for u in run.acked_updates if (u["id"], hexdigest(u["version"])) not in versions]
    # The head must come from the last acknowledged update or from one sent after it.
    stale_heads = []
    for gid, attempts in run.update_attempts.items():
        last_acked = max((i for i, (_, acked) in enumerate(attempts) if acked), default=None)
        if last_acked is None or gid not in graphs:
            continue
        allowed = {f"rev {rev}" for rev, _ in attempts[last_acked:]}
        if graphs[gid][2] not in allowed:
            stale_heads.append({"graph": gid, "description": graphs[gid][2], "allowed": sorted(allowed)})
    lost_keys = [k for k in run.acked_keys if k not in keys]
    lost_sessions = [h for h in run.refresh_hashes if h not in tokens]
    phantom = [n for n in run.unacked_creates if n in names]
    return {
        "acknowledged": {
            "graph_creates": len(run.acked_creates),
            "graph_updates": len(run.acked_updates),
            "key_creates": len(run.acked_keys),
            "sessions": len(run.refresh_hashes),
        },
        "lost": {
            "graph_creates": len(lost_creates),
            "graph_create_versions": len(lost_create_versions),
            "graph_updates": len(lost_updates),
            "graph_heads_older_than_last_ack": len(stale_heads),
            "key_creates": len(lost_keys),
            "sessions": len(lost_sessions),
        },
        "lost_total": len(lost_creates) + len(lost_create_versions) + len(lost_updates) + len(stale_heads)
        + len(lost_keys) + len(lost_sessions),
        "examples": {
            "graph_creates": lost_creates[:5],
            "graph_updates": lost_updates[:5],
            "heads": stale_heads[:5],
            "keys": lost_keys[:5],
        },
        "unacknowledged_creates": len(run.unacked_creates),
        "unacknowledged_creates_committed": len(phantom),
    }


def read_maildir(maildir: Path) -> list[dict]:
    mails = []
    for path in sorted((maildir / "new").iterdir()):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = msg.get_body(("plain",))
        mails.append(
            {
                "file": path.name,
                "to": str(msg.get("X-RcptTo") or msg.get("To") or "").strip().lower(),
                "template": str(msg.get("X-Orrery-Template") or ""),
                "text": body.get_content() if body else "",
            }
        )
    return mails


def verify_mail(run: Run, pg: Postgres, maildir: Path) -> dict:
    rows = pg.psql(
        "select id, recipient, template, status, attempts, coalesce(variables->>'reset_url', ''), "
        "coalesce(last_error, ''), extract(epoch from created_at), coalesce(extract(epoch from sent_at), 0) "
        "from email_outbox"
    )
    mails = read_maildir(maildir)
    by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for mail in mails:
        by_key[(mail["to"], mail["template"])].append(mail)
    groups: dict[tuple[str, str, str], list[list[str]]] = defaultdict(list)
    for row in rows:
        groups[(row[1].lower(), row[2], row[5])].append(row)
    lost, duplicates, lost_rows = 0, 0, []
    matched_files: set[str] = set()
    for (to, template, url), members in groups.items():
        candidates = [m for m in by_key[(to, template)] if not url or url in m["text"]]
        if not url:
            # Without a unique variable, rows of one recipient and template share their mails.
            candidates = [m for m in candidates if m["file"] not in matched_files]
        matched_files.update(m["file"] for m in candidates)
        lost += max(0, len(members) - len(candidates))
        duplicates += max(0, len(candidates) - len(members))
        if len(candidates) < len(members):
            lost_rows += [dict(zip(("id", "to", "template", "status", "attempts", "url", "error"), r[:7]))
                          for r in members]
    statuses = Counter(r[3] for r in rows)
    templates = Counter(r[2] for r in rows)
    unmatched = [m["file"] for m in mails if m["file"] not in matched_files]
    # Every acknowledged reset request must have queued a mail.
    resets_queued = Counter(r[1].lower() for r in rows if r[2] == "password_reset")
    not_queued = sum(max(0, n - resets_queued[e]) for e, n in run.resets.items())
    queued_unacked = sum(max(0, resets_queued[e] - run.resets[e]) for e in resets_queued)
    attempts = Counter(int(r[4]) for r in rows)
    return {
        "outbox_rows": len(rows),
        "outbox_by_status": dict(statuses),
        "outbox_by_template": dict(templates),
        "outbox_attempts": {str(k): v for k, v in sorted(attempts.items())},
        "delivered_to_sink": len(mails),
        "lost_after_queueing": lost,
        "duplicates": duplicates,
        "sink_mails_without_row": len(unmatched),
        "reset_requests_acknowledged": sum(run.resets.values()),
        "reset_requests_unacknowledged": sum(run.resets_unacked.values()),
        "reset_requests_acknowledged_but_not_queued": not_queued,
        "reset_rows_beyond_acknowledged": queued_unacked,
        "lost_total": lost + not_queued,
        "lost_examples": lost_rows[:5],
    }


def windows(run: Run, end: float) -> list[tuple[str, float, float]]:
    """Back-to-back windows: before, during and after each fault."""
    out, t = [], 0.0
    faults = sorted(run.faults, key=lambda f: f.start)
    for i, f in enumerate(faults):
        out.append(("baseline" if i == 0 else f"after {faults[i - 1].name}", t, f.start))
        out.append((f"during {f.name}", f.start, f.end))
        t = f.end
    out.append((f"after {faults[-1].name}" if faults else "baseline", t, end))
    return out


def window_of(wins: list[tuple[str, float, float]], t: float) -> str:
    for name, a, b in wins:
        if a <= t < b:
            return name
    return wins[-1][0] if t >= wins[-1][2] else wins[0][0]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summarize_requests(run: Run, wins: list[tuple[str, float, float]]) -> dict:
    per_window: dict[str, dict] = {}
    for name, a, b in wins:
        per_window[name] = {"from_s": round(a, 2), "to_s": round(b, 2), "duration_s": round(b - a, 2),
                            "requests": 0, "ok": 0, "4xx": 0, "5xx": 0, "transport_errors": 0,
                            "causes": Counter(), "causes_short": Counter(), "latencies": [],
                            "rss_max_mib": {}}
    by_op: dict[str, Counter] = defaultdict(Counter)
    for start, end, inst, op, status, kind in run.records:
        # Counted where the answer came (a failure happens when it is answered); latencies of
        # 2xx where the request was sent (a stall shows in the window that caused it).
        w = per_window[window_of(wins, end)]
        w["requests"] += 1
        cls = "transport" if status == 0 else f"{status // 100}xx"
        by_op[op][cls] += 1
        by_op[op]["total"] += 1
        if 200 <= status < 300:
            w["ok"] += 1
            per_window[window_of(wins, start)]["latencies"].append(end - start)
        elif status >= 500:
            w["5xx"] += 1
            w["causes"][f"{status} {kind} ({op} on {inst})"] += 1
            w["causes_short"][f"{status} {kind.removeprefix('/problems/')} on {inst}"] += 1
        elif status == 0:
            w["transport_errors"] += 1
            w["causes"][f"{kind} ({op} on {inst})"] += 1
            w["causes_short"][f"{kind} on {inst}"] += 1
        else:
            w["4xx"] += 1
            w["causes"][f"{status} {kind} ({op})"] += 1
    for t, label, rss in run.rss:
        w = per_window[window_of(wins, t)]["rss_max_mib"]
        w[label] = max(w.get(label, 0), round(rss / 1024))
    for w in per_window.values():
        w["ok_per_s"] = round(w["ok"] / w["duration_s"], 1) if w["duration_s"] > 0 else 0.0
        lat = w.pop("latencies")
        w["p50_ms"] = round(percentile(lat, 50) * 1000, 1)
        w["p99_ms"] = round(percentile(lat, 99) * 1000, 1)
        w["causes"] = dict(w["causes"].most_common())
        w["causes_short"] = dict(w["causes_short"].most_common())
    totals = Counter()
    for counts in by_op.values():
        totals.update(counts)
    return {"windows": per_window, "by_op": {k: dict(v) for k, v in sorted(by_op.items())}, "totals": dict(totals)}


def recovery(run: Run) -> list[dict]:
    """Per fault: first success after it ended, per instance, and /readyz back to 200."""
    out = []
    starts = sorted(f.start for f in run.faults)
    for f in run.faults:
        # Errors after the fault ended: until the next fault begins, 10 s at most.
        quiet_until = min([t for t in starts if t > f.start] + [f.end + 10.0])
        entry = {"fault": f.name, "what": f.what, "start_s": round(f.start, 2), "end_s": round(f.end, 2),
                 "duration_s": round(f.end - f.start, 2), **{k: v for k, v in f.detail.items()}}
        ops = {"stripe": {"checkout"}}.get(f.name)
        insts = ["B"] if f.name == "kill" else ["A", "B"]
        firsts = {}
        for inst in insts:
            times = [end for start, end, i, op, status, _ in run.records
                     if i == inst and start >= f.end and 200 <= status < 300 and (ops is None or op in ops)]
            firsts[inst] = round(min(times) - f.end, 3) if times else None
        entry["first_2xx_after_s"] = firsts
        readies = {}
        for inst in insts:
            times = [t for t, i, status, _ in run.ready if i == inst and t >= f.end and status == 200]
            readies[inst] = round(min(times) - f.end, 3) if times else None
        entry["readyz_200_after_s"] = readies
        if f.name == "smtp":
            after = sorted(t for t in run.deliveries.values() if t >= f.end)
            entry["first_delivery_after_s"] = round(after[0] - f.end, 3) if after else None
        known = [v for v in firsts.values() if v is not None]
        entry["recovered_after_s"] = (entry.get("first_delivery_after_s") if f.name == "smtp"
                                      else (max(known) if len(known) == len(firsts) else None))
        # 5xx and transport errors of requests sent after the fault ended (slow recovery).
        entry["errors_after_end"] = sum(
            1 for start, _, i, op, status, _ in run.records
            if f.end <= start < quiet_until and (status == 0 or status >= 500) and i in insts
            and (ops is None or op in ops))
        entry["errors_after_end_window_s"] = round(quiet_until - f.end, 2)
        out.append(entry)
    return out


def server_log_causes(run: Run, wins: list[tuple[str, float, float]]) -> dict:
    """ERROR and WARN lines of the instances' JSON logs, by window and message."""
    out: dict[str, Counter] = defaultdict(Counter)
    for path in sorted(run.work.glob("[AB][0-9].log")):
        label = path.stem
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if "panicked" in line:
                    out["(panics)"][f"{label}: {line[:200]}"] += 1
                continue
            level = entry.get("level", "")
            if level not in ("ERROR", "WARN"):
                continue
            fields = entry.get("fields", {})
            # `#[instrument(err)]` lines have no message: name the span that failed instead.
            message = fields.get("message") or f"{entry.get('span', {}).get('name', '?')} returned"
            cause = str(fields.get("error.message") or fields.get("error") or "")
            try:
                at = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
            except (KeyError, ValueError):
                at = run.wall0
            window = window_of(wins, at - run.wall0)
            out[window][f"{level} {message}: {cause[:160]}".rstrip(": ")] += 1
    return {w: dict(c.most_common(12)) for w, c in out.items()}


# ---------------------------------------------------------------------------------------------
# Printing


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt_s(value) -> str:
    return "–" if value is None else f"{value:.2f} s"


def print_summary(results: dict) -> None:
    req = results["requests"]
    t = req["totals"]
    print(f"\nrequests: {t.get('total', 0)} sent, {t.get('2xx', 0)} served (2xx), {t.get('4xx', 0)} 4xx, "
          f"{t.get('5xx', 0)} 5xx, {t.get('transport', 0)} transport errors "
          f"({results['load_seconds']:.1f} s, {results['workers']} workers)\n")
    print(table(["op", "sent", "2xx", "4xx", "5xx", "transport"],
                [[op, c.get("total", 0), c.get("2xx", 0), c.get("4xx", 0), c.get("5xx", 0), c.get("transport", 0)]
                 for op, c in req["by_op"].items()]))
    print()
    print(table(["window", "from–to", "length", "answered", "2xx", "2xx/s", "5xx", "transport", "p50 / p99 of 2xx sent",
                 "causes (5xx, transport)", "max RSS MiB"],
                [[name, f"{w['from_s']:.1f}–{w['to_s']:.1f} s", f"{w['duration_s']:.1f} s", w["requests"], w["ok"],
                  w["ok_per_s"], w["5xx"], w["transport_errors"], f"{w['p50_ms']} / {w['p99_ms']} ms",
                  "; ".join(f"{k}: {v}" for k, v in w["causes_short"].items() if not k[:1] == "4") or "–",
                  " ".join(f"{k} {v}" for k, v in sorted(w["rss_max_mib"].items()))]
                 for name, w in req["windows"].items()]))
    print()
    print(table(["fault", "down", "first 2xx after (A / B)", "/readyz 200 after (A / B)", "recovered after", "5xx/transport after (window)"],
                [[f["fault"], fmt_s(f["duration_s"]),
                  " / ".join(fmt_s(f["first_2xx_after_s"].get(i)) for i in ("A", "B") if i in f["first_2xx_after_s"]),
                  " / ".join(fmt_s(f["readyz_200_after_s"].get(i)) for i in ("A", "B") if i in f["readyz_200_after_s"]),
                  fmt_s(f["recovered_after_s"]),
                  f"{f['errors_after_end']} ({f['errors_after_end_window_s']:.1f} s)"]
                 for f in results["recovery"]]))
    w = results["writes"]
    print(f"\nacknowledged writes: {w['acknowledged']}; lost: {w['lost_total']} {w['lost']}; "
          f"unacknowledged creates {w['unacknowledged_creates']}, of which committed "
          f"{w['unacknowledged_creates_committed']}")
    m = results["mail"]
    print(f"mail: {m['outbox_rows']} queued {m['outbox_by_status']}, {m['delivered_to_sink']} delivered, "
          f"lost after queueing {m['lost_after_queueing']}, duplicates {m['duplicates']}; reset requests "
          f"acknowledged {m['reset_requests_acknowledged']}, of which not queued "
          f"{m['reset_requests_acknowledged_but_not_queued']}; outbox drained after {fmt_s(results['drain_seconds'])}")
    def memory(v: dict) -> str:
        text = f"VmHWM {v['hwm_kib'] / 1024:.0f} MiB"
        if "rss_at_ready_kib" in v:
            text += (f" (RSS {v['rss_at_ready_kib'] / 1024:.0f} MiB when ready, "
                     f"{v['rss_after_signups_kib'] / 1024:.0f} MiB after the sign-ups)")
        return text

    print("memory: " + ", ".join(f"{k} {memory(v)}" for k, v in results["memory"].items()))
    crashes = results["crashes"]
    print(f"unexpected exits: {crashes or 'none'}; panics in logs: {results['panics']}")


# ---------------------------------------------------------------------------------------------
# Main


async def campaign(args: argparse.Namespace, work: Path) -> dict:
    run = Run(args, work)
    venv_python = sys.executable
    binary = Path(args.binary)
    children: list[Child] = []
    pg = None
    instances = None
    try:
        print(f"work directory: {work}", flush=True)
        pg = Postgres()
        pg.psql("create database campaign", database="postgres")
        redis_port = free_port()
        redis = Child("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--daemonize", "no", "--dir", str(work)],
                      redis_port, work / "redis.log")
        redis.start(lambda: redis_ping(redis_port))
        children.append(redis)
        maildir = work / "maildir"
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        smtp_port = free_port()
        smtp = Child("smtp", [venv_python, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}",
                              "-c", "aiosmtpd.handlers.Mailbox", str(maildir)], smtp_port, work / "smtp.log")
        smtp.start()
        children.append(smtp)
        stripe_port = free_port()
        stripe = Child("stripe", [venv_python, str(HERE / "stripe_fake.py"), str(stripe_port)], stripe_port,
                       work / "stripe.log")
        stripe.start()
        children.append(stripe)
        stripe_url = f"http://127.0.0.1:{stripe_port}"

        env = {
            "ORRERY_DATABASE_URL": pg.url.rsplit("/", 1)[0] + "/campaign",
            "ORRERY_REDIS_URL": f"redis://127.0.0.1:{redis_port}/",
            "ORRERY_JWT_SECRET": "campaign-" + secrets.token_hex(24),
            "ORRERY_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "ORRERY_MAIL_RETRY_BASE_MS": "1000",
            "ORRERY_MAIL_POLL_INTERVAL_MS": "1000",
            "ORRERY_LIMITS_SCALE": "1000",
            "ORRERY_AUTH_REQUESTS_PER_MINUTE": "1000000",
            "ORRERY_ANONYMOUS_REQUESTS_PER_MINUTE": "1000000",
            "ORRERY_SHUTDOWN_GRACE_SECS": "5",
            "ORRERY_LOG_FORMAT": "json",
            "RUST_LOG": "info",
        }
        if not args.no_billing:
            env |= {
                "ORRERY_STRIPE_SECRET_KEY": "sk_test_campaign",
                "ORRERY_STRIPE_WEBHOOK_SECRET": "whsec_campaign",
                "ORRERY_STRIPE_API_BASE": stripe_url + "/",
                "ORRERY_STRIPE_PRICE_PRO": "price_campaign_pro",
            }
        instances = Instances(run, binary, env)
        instances.env["ORRERY_PUBLIC_URL"] = run.instance_urls["A"]  # where mail links point
        instances.start("A")  # first alone: it runs the migrations
        instances.start("B")
        print(f"instances ready: A {run.instance_urls['A']}, B {run.instance_urls['B']}", flush=True)

        sample_memory(run, instances, "at_ready")
        load = Load(run)
        users = await asyncio.gather(*(sign_up(run, load, i) for i in range(args.workers)))
        sample_memory(run, instances, "after_signups")
        print(f"{len(users)} accounts signed up; load for {args.duration} s", flush=True)

        stop = asyncio.Event()
        run.t0 = time.monotonic()
        run.wall0 = time.time()
        watchers = [asyncio.create_task(watch_ready(run, stop)),
                    asyncio.create_task(watch_memory(run, instances, stop)),
                    asyncio.create_task(watch_maildir(run, maildir, stop))]
        driver = asyncio.create_task(fault_driver(run, redis, pg, smtp, stripe_url, instances))
        rng = random.Random(args.seed)
        await asyncio.gather(*(load.worker(u, random.Random(rng.random())) for u in users))
        load_seconds = run.now()
        await driver
        await load.close()
        print(f"load done after {load_seconds:.1f} s; {len(run.records)} requests; draining the outbox", flush=True)

        # Drain: every mail sent or given up. B's start-up after the kill is awaited first.
        wait_until(lambda: instances.ready("B"), 60, 0.1)
        drain_start = run.now()
        drained = None
        while run.now() - drain_start < args.drain_timeout:
            pending = pg.psql("select count(*) from email_outbox where status = 'pending'")[0][0]
            if pending == "0":
                drained = run.now() - drain_start
                break
            await asyncio.sleep(1)
        await asyncio.sleep(1.0)  # the sink writes the file after the last SMTP reply
        stop.set()
        await asyncio.gather(*watchers)
        crashes = {name: proc.returncode for name, proc in instances.procs.items() if proc.poll() is not None}
        instances.stop_all()

        wins = windows(run, load_seconds)
        logs = server_log_causes(run, wins)
        panics = sum(logs.get("(panics)", {}).values())
        stripe_stats = httpx.get(f"{stripe_url}/_stats").json()
        results = {
            "command": " ".join(["benches/faults/run", *sys.argv[1:]]),
            "date": datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()},
            "duration": args.duration,
            "load_seconds": round(load_seconds, 2),
            "workers": args.workers,
            "billing": not args.no_billing,
            "requests": summarize_requests(run, wins),
            "recovery": recovery(run),
            "writes": verify_writes(run, pg),
            "mail": verify_mail(run, pg, maildir),
            "drain_seconds": None if drained is None else round(drained, 2),
            "memory": run.memory,
            "rss_samples": [(round(t, 2), label, kib) for t, label, kib in run.rss[::4]],
            "crashes": crashes,
            "panics": panics,
            "server_log": logs,
            "stripe_fake": stripe_stats,
            "work_dir": str(work),
        }
        return results
    finally:
        if instances:
            instances.stop_all()
        for child in reversed(children):
            child.stop()
        if pg:
            pg.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (faults scale with it)")
    parser.add_argument("--workers", type=int, default=16, help="concurrent clients, one account each")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--drain-timeout", type=float, default=150.0, help="seconds to wait for the outbox")
    parser.add_argument("--no-billing", action="store_true", help="no Stripe: billing off, no checkouts")
    parser.add_argument("--binary", default=str(ROOT / "target" / "release" / "orrery"))
    parser.add_argument("--out", default=None, help="folder for results.json and logs (default target/faults/<time>)")
    args = parser.parse_args()
    if not 10 <= args.duration <= 600:
        parser.error("--duration must be between 10 and 600 seconds")
    if not 1 <= args.workers <= 256:
        parser.error("--workers must be between 1 and 256")
    out = Path(args.out or ROOT / "target" / "faults" / datetime.now().strftime("%Y%m%d-%H%M%S")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o755)  # the postgres user starts its cluster in here
    results = asyncio.run(campaign(args, out))
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print_summary(results)
    print(f"\nresults: {out / 'results.json'}")
    failed = results["writes"]["lost_total"] or results["mail"]["lost_total"] or results["crashes"]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

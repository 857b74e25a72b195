#!/usr/bin/env python3
"""Layout quality/speed comparison: Orrery and its peers on the same graphs,
scored by the same metrics. Usually started through `benches/layout/compare`,
which installs the peers first; see README.md.

Every tool runs as a child process; wall time is measured around it and CPU
time (user + sys) is the child's own, from os.wait4's rusage. The tool's time
includes reading its input and writing its output. Scoring happens afterwards,
untimed, with metrics.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import graphs  # noqa: E402
import metrics  # noqa: E402

ALL_TOOLS = ("orrery", "sfdp", "d3", "igraph")

# Targets from issue 4, checked on Orrery's rows (n >= 10,000).
SPEEDUP_TARGET = {10_000: 5.0, 100_000: 10.0}
WALL_TARGET_100K = 10.0
STRESS_RATIO_MAX = 1.10
NP_RATIO_MIN = 0.90


# ------------------------------------------------------------------- running

def run_child(argv: list[str], timeout: float, stdout_path: Path, stderr_path: Path, cwd: Path | None = None) -> dict:
    """Run argv; return wall and CPU seconds of the child (and what it reaps),
    its sampled peak RSS and exit status; kill its process group after `timeout` seconds."""
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=cwd, start_new_session=True)
        result: dict = {}
        done = threading.Event()

        def reap() -> None:
            _, status, ru = os.wait4(proc.pid, 0)
            result["wall"] = time.perf_counter() - t0
            result["status"] = status
            result["ru"] = ru
            done.set()

        threading.Thread(target=reap, daemon=True).start()
        # Peak RSS: sample the child's VmHWM. (ru_maxrss is no use here: it keeps the
        # high-water mark of the forked copy of this Python process from before exec.)
        status_file = f"/proc/{proc.pid}/status"
        peak_kb = 0
        deadline = t0 + timeout
        interval = 0.005
        timed_out = False
        while not done.is_set():
            peak_kb = max(peak_kb, _vm_hwm_kb(status_file))
            left = deadline - time.perf_counter()
            if left <= 0:
                timed_out = True
                break
            done.wait(min(interval, left))
            interval = min(interval * 1.5, 0.1)
        if timed_out:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the group we started for this child
            except ProcessLookupError:
                pass
            done.wait()
    proc.returncode = os.waitstatus_to_exitcode(result["status"])  # already reaped by wait4
    ru = result["ru"]
    return {
        "timed_out": timed_out,
        "rc": proc.returncode,
        "wall_s": result["wall"],
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "maxrss_mb": peak_kb / 1024.0,
    }


def _vm_hwm_kb(status_file: str) -> int:
    try:
        with open(status_file) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def version_of(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (p.stdout + p.stderr).strip().splitlines()[0] if (p.stdout + p.stderr).strip() else "?"


# --------------------------------------------------------------------- tools

class Tool:
    name = ""

    def __init__(self, args: argparse.Namespace):
        self.args = args

    def check(self) -> str | None:
        """None when usable, else why not."""
        return None

    def version(self) -> str:
        return "?"

    def command(self, graph: Path, n: int, edges, workdir: Path, seed: int) -> tuple[list[str], Path]:
        raise NotImplementedError

    def positions(self, out: Path, n: int):
        return metrics.read_positions(out, n)


class Orrery(Tool):
    name = "orrery"

    def bin(self) -> str:
        b = self.args.orrery_bin
        return str(ROOT / b) if not os.path.isabs(b) and not os.path.exists(b) else b

    def check(self):
        b = self.bin()
        if not (os.path.isfile(b) and os.access(b, os.X_OK)):
            return (f"binary {b} not found; build it with "
                    f"`cargo build --release -p orrery-server --bin orrery` or pass --orrery-bin")
        try:
            p = subprocess.run([b, "layout", "--help"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"{b} layout --help failed: {e}"
        if p.returncode != 0:
            return f"{b} has no working `layout` subcommand (`layout --help` exited {p.returncode})"
        return None

    def version(self):
        return version_of([self.bin(), "--version"])

    def command(self, graph, n, edges, workdir, seed):
        out = workdir / "orrery.txt"
        argv = [self.bin(), "layout", str(graph), "-o", str(out), "--seed", str(seed), "--format", "txt"]
        argv += self.args.orrery_args.split() if self.args.orrery_args else []
        return argv, out


class Sfdp(Tool):
    name = "sfdp"

    def check(self):
        if not shutil.which(self.args.sfdp_bin):
            return f"{self.args.sfdp_bin} not on PATH (apt-get install graphviz)"
        return None

    def version(self):
        return version_of([self.args.sfdp_bin, "-V"])

    def command(self, graph, n, edges, workdir, seed):
        dot = workdir / "input.dot"
        with open(dot, "w") as f:
            f.write("graph G {\n")
            # Declare every node in id order (isolated ones too).
            f.write(";\n".join(str(i) for i in range(n)))
            f.write(";\n")
            f.write("\n".join(f"{a} -- {b};" for a, b in edges.tolist() if a != b))
            f.write("\n}\n")
        out = workdir / "sfdp.dot"
        # -Gdim=3 lays out in 3D; -Gdimen=3 is needed as well, or `pos` in the output holds only x,y.
        argv = [self.args.sfdp_bin, "-Gdim=3", "-Gdimen=3", f"-Gstart={seed + 1}", "-Tdot", str(dot), "-o", str(out)]
        return argv, out

    NODE_RE = re.compile(r'^\s*"?(\d+)"?\s+\[([^\]]*)\]', re.M)
    POS_RE = re.compile(r'\bpos="([^"]*)"')

    def positions(self, out, n):
        import numpy as np
        pos = np.full((n, 3), np.nan)
        seen = 0
        for m in self.NODE_RE.finditer(out.read_text()):
            pm = self.POS_RE.search(m.group(2))
            if not pm:
                continue
            coords = [float(c) for c in pm.group(1).rstrip("!").split(",")]
            if len(coords) == 2:
                coords.append(0.0)
            pos[int(m.group(1))] = coords[:3]
            seen += 1
        if seen != n:
            raise metrics.InputError(f"{out}: positions for {seen} of {n} nodes")
        return pos


class D3(Tool):
    name = "d3"

    def script(self) -> Path:
        return HERE / "node" / "d3_layout.mjs"

    def check(self):
        if not shutil.which(self.args.node_bin):
            return f"{self.args.node_bin} not on PATH"
        if not (HERE / "node" / "node_modules" / "d3-force-3d").is_dir():
            return "d3-force-3d not installed: run `npm ci` in benches/layout/node (the compare wrapper does)"
        return None

    def version(self):
        try:
            v = json.loads((HERE / "node" / "node_modules" / "d3-force-3d" / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            v = "?"
        return f"d3-force-3d {v}, node {version_of([self.args.node_bin, '--version'])}"

    def command(self, graph, n, edges, workdir, seed):
        out = workdir / "d3.txt"
        return [self.args.node_bin, str(self.script()), str(graph), str(out), "--seed", str(seed)], out


class Igraph(Tool):
    name = "igraph"

    def check(self):
        try:
            import igraph  # noqa: F401
        except ImportError:
            return "Python package igraph not installed in this interpreter (pip install -r benches/layout/requirements.txt)"
        return None

    def version(self):
        import igraph
        return f"python-igraph {igraph.__version__}"

    def command(self, graph, n, edges, workdir, seed):
        out = workdir / "igraph.txt"
        return [sys.executable, str(HERE / "igraph_layout.py"), str(graph), str(out), "--seed", str(seed)], out


TOOL_CLASSES = {c.name: c for c in (Orrery, Sfdp, D3, Igraph)}


# ----------------------------------------------------------------- reporting

def fmt(x, digits=3):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, float):
        if abs(x) >= 100:
            return f"{x:.0f}"
        if abs(x) >= 10:
            return f"{x:.1f}"
        return f"{x:.{digits}f}" if abs(x) < 1 else f"{x:.2f}"
    return str(x)


def summarise(records: list[dict]) -> list[dict]:
    """One row per (family, n, tool): medians over the repeats that finished."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["family"], r["n"], r["tool"]), []).append(r)
    rows = []
    for (family, n, tool), rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        row = {"family": family, "n": n, "tool": tool, "runs": len(rs), "ok": len(ok)}
        if ok:
            for k in ("wall_s", "cpu_s", "maxrss_mb", "stress", "neighbourhood_preservation", "edge_length_cv"):
                vals = [r[k] for r in ok if r.get(k) is not None]
                row[k] = statistics.median(vals) if vals else None
            row["status"] = "ok" if len(ok) == len(rs) else f"ok {len(ok)}/{len(rs)}"
        else:
            row["status"] = rs[0]["status"]
            row["note"] = rs[0].get("note", "")
            if rs[0]["status"] == "timeout":
                row["wall_s"] = rs[0].get("wall_s")
                row["cpu_s"] = rs[0].get("cpu_s")
        rows.append(row)
    # ratios against sfdp on the same graph
    sfdp = {(r["family"], r["n"]): r for r in rows if r["tool"] == "sfdp" and r.get("stress") is not None}
    for r in rows:
        base = sfdp.get((r["family"], r["n"]))
        if base is None or r.get("stress") is None:
            continue
        r["wall_speedup"] = base["wall_s"] / r["wall_s"] if r["wall_s"] else None
        r["cpu_speedup"] = base["cpu_s"] / r["cpu_s"] if r["cpu_s"] else None
        r["stress_ratio"] = r["stress"] / base["stress"] if base["stress"] else None
        npb = base["neighbourhood_preservation"]
        r["np_ratio"] = r["neighbourhood_preservation"] / npb if npb else None
        if r["tool"] == "orrery":
            r["targets"] = check_targets(r)
    order = {t: i for i, t in enumerate(ALL_TOOLS)}
    fam_order = {f: i for i, f in enumerate(graphs.FAMILIES)}
    rows.sort(key=lambda r: (fam_order.get(r["family"], 99), r["n"], order.get(r["tool"], 99)))
    return rows


def check_targets(r: dict) -> str:
    misses = []
    need = SPEEDUP_TARGET.get(r["n"])
    if need is not None and (r.get("wall_speedup") or 0) < need:
        misses.append(f"speed {r['wall_speedup']:.1f}x<{need:.0f}x")
    if r["n"] >= 100_000 and r["wall_s"] > WALL_TARGET_100K:
        misses.append(f"wall>{WALL_TARGET_100K:.0f}s")
    if r.get("stress_ratio") is not None and r["stress_ratio"] > STRESS_RATIO_MAX:
        misses.append(f"stress {r['stress_ratio']:.2f}>{STRESS_RATIO_MAX:.2f}")
    if r.get("np_ratio") is not None and r["np_ratio"] < NP_RATIO_MIN:
        misses.append(f"NP {r['np_ratio']:.2f}<{NP_RATIO_MIN:.2f}")
    return "met" if not misses else "missed: " + ", ".join(misses)


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Layout comparison",
        "",
        f"Run {meta['started']} on {meta['machine']}; timeout {meta['timeout']} s a run, "
        f"{meta['repeat']} repeat(s) (medians), layout seed {meta['seed']}, "
        f"stress over {meta['sources']} sampled sources.",
        "",
        "Tools: " + "; ".join(f"{k}: {v}" for k, v in meta["versions"].items()),
        "",
    ]
    if meta.get("previous_runs"):
        lines += ["Merged with the cells of earlier runs started " + ", ".join(str(x) for x in meta["previous_runs"])
                  + " (results.json has each run's start time and load average).", ""]
    for k, v in meta.get("skipped", {}).items():
        lines += [f"Skipped {k}: {v}", ""]
    lines += [
        "Wall and CPU seconds are the tool's whole process (read input, lay out, write output); CPU = user + sys. "
        "stress: normalised stress, lower is better; NP: neighbourhood preservation, higher is better; "
        "edge CV: edge-length coefficient of variation, lower is more uniform. "
        "Speedups are sfdp's seconds / the tool's; ratios are the tool's metric / sfdp's.",
        "",
        "| family | n | tool | wall s | CPU s | peak MB | stress | NP | edge CV | wall speedup vs sfdp | CPU speedup vs sfdp | stress / sfdp | NP / sfdp | notes |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        st = r["status"]
        if st == "timeout":
            wall = f"DNF (>{meta['timeout']:g})"
            cpu = fmt(r.get("cpu_s"))
        elif st in ("skipped", "error"):
            wall, cpu = st, ""
        else:
            wall, cpu = fmt(r.get("wall_s")), fmt(r.get("cpu_s"))
        notes = r.get("targets") or ""
        if st == "skipped":
            notes = "skipped (see above)" if r["tool"] in meta.get("skipped", {}) else f"skipped: {r.get('note', '')}"
        elif st != "ok" and r.get("note"):
            notes = (notes + " " + r["note"]).strip()
        if st.startswith("ok ") :
            notes = (notes + f" ({st} runs finished)").strip()
        notes = notes.replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {r['family']} | {r['n']:,} | {r['tool']} | {wall} | {cpu} | {fmt(r.get('maxrss_mb'))} | "
            f"{fmt(r.get('stress'))} | {fmt(r.get('neighbourhood_preservation'))} | {fmt(r.get('edge_length_cv'))} | "
            f"{ratio(r.get('wall_speedup'), 'x')} | {ratio(r.get('cpu_speedup'), 'x')} | "
            f"{ratio(r.get('stress_ratio'))} | {ratio(r.get('np_ratio'))} | {notes} |")
    lines.append("")
    return "\n".join(lines)


def ratio(x, suffix=""):
    if x is None:
        return "—"
    return f"{x:.2f}{suffix}" if x < 10 else f"{x:.1f}{suffix}"


# ---------------------------------------------------------------------- main

def parse_list(s: str, allowed=None, conv=str) -> list:
    items = [conv(x.strip().replace("_", "")) for x in s.split(",") if x.strip()]
    if allowed is not None:
        bad = [x for x in items if x not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(str, bad))} (choose from {', '.join(allowed)})")
    return items


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs ({cpu}), load average at start {load}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run Orrery and its peers on generated graphs and score every layout.")
    ap.add_argument("--sizes", default="1000,10000,100000", help="comma-separated node counts")
    ap.add_argument("--families", default=",".join(graphs.FAMILIES), help="ba,lattice,workflow")
    ap.add_argument("--tools", default=",".join(ALL_TOOLS), help="orrery,sfdp,d3,igraph")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per run before it is killed and reported DNF (default 300)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool and graph; medians reported (default 1)")
    ap.add_argument("--seed", type=int, default=1, help="seed for the graph generators and the layouts (default 1)")
    ap.add_argument("--sources", type=int, default=100, help="sampled source nodes for stress (default 100)")
    ap.add_argument("--out", default=str(HERE / "out"), help="output folder (default benches/layout/out)")
    ap.add_argument("--append", action="store_true",
                    help="merge into the existing results.json, replacing only the (family, n, tool) cells run now")
    ap.add_argument("--orrery-bin", default=os.environ.get("ORRERY_BIN", "target/release/orrery"),
                    help="orrery binary (default $ORRERY_BIN or target/release/orrery, relative to the repo root)")
    ap.add_argument("--orrery-args", default=os.environ.get("ORRERY_ARGS", ""),
                    help="extra arguments for `orrery layout`, e.g. '--iterations 200'")
    ap.add_argument("--sfdp-bin", default="sfdp")
    ap.add_argument("--node-bin", default="node")
    args = ap.parse_args(argv)
    try:
        sizes = parse_list(args.sizes, conv=int)
        families = parse_list(args.families, graphs.FAMILIES)
        tools = parse_list(args.tools, ALL_TOOLS)
    except (argparse.ArgumentTypeError, ValueError) as e:
        ap.error(str(e))

    out_dir = Path(args.out)
    (out_dir / "graphs").mkdir(parents=True, exist_ok=True)
    (out_dir / "runs").mkdir(parents=True, exist_ok=True)
    results_json = out_dir / "results.json"

    active: dict[str, Tool] = {}
    skipped: dict[str, str] = {}
    versions: dict[str, str] = {}
    for name in tools:
        tool = TOOL_CLASSES[name](args)
        why = tool.check()
        if why:
            skipped[name] = why
            print(f"[skip] {name}: {why}", flush=True)
        else:
            active[name] = tool
            versions[name] = tool.version()

    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    meta = {"started": started, "machine": machine_description(), "timeout": args.timeout,
            "repeat": args.repeat, "seed": args.seed, "sources": args.sources, "versions": versions,
            "python": sys.version.split()[0], "skipped": skipped}
    records: list[dict] = []
    keep: list[dict] = []
    if args.append and results_json.exists():
        old = json.loads(results_json.read_text())
        keep = old.get("records", [])
        meta["versions"] = {**old.get("meta", {}).get("versions", {}), **versions}
        prev_skipped = old.get("meta", {}).get("skipped", {})
        meta["skipped"] = {k: v for k, v in {**prev_skipped, **skipped}.items() if k not in active}
        meta["previous_runs"] = old.get("meta", {}).get("previous_runs", []) + [old.get("meta", {}).get("started")]

    def flush() -> list[dict]:
        now = {(r["family"], r["n"], r["tool"]) for r in records}
        merged = [r for r in keep if (r["family"], r["n"], r["tool"]) not in now] + records
        rows = summarise(merged)
        results_json.write_text(json.dumps({"meta": meta, "records": merged, "summary": rows}, indent=1))
        (out_dir / "results.md").write_text(markdown(rows, meta))
        return rows

    print(f"# {meta['machine']}", flush=True)
    for family in families:
        for n in sizes:
            gpath = out_dir / "graphs" / f"{family}-{n}-s{args.seed}.txt"
            t0 = time.perf_counter()
            edges = graphs.generate(family, n, args.seed)
            metrics.write_edgelist(gpath, n, edges, graphs.describe(family, n, args.seed))
            print(f"== {family} n={n:,}: {len(edges):,} edges ({time.perf_counter() - t0:.1f} s to generate) -> {gpath}", flush=True)
            for name in tools:
                base = {"family": family, "n": n, "edges": int(len(edges)), "tool": name, "graph": str(gpath)}
                if name in skipped:
                    records.append({**base, "repeat": 0, "status": "skipped", "note": skipped[name]})
                    continue
                tool = active[name]
                for rep in range(args.repeat):
                    workdir = out_dir / "runs" / f"{family}-{n}-{name}-r{rep}"
                    if workdir.exists():
                        shutil.rmtree(workdir)
                    workdir.mkdir(parents=True)
                    argv_, out_path = tool.command(gpath, n, edges, workdir, args.seed)
                    rec = {**base, "repeat": rep, "cmd": " ".join(argv_),
                           "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                           "load1_at_start": round(os.getloadavg()[0], 2)}
                    print(f"   {name:7s} r{rep}: {' '.join(argv_)}", flush=True)
                    res = run_child(argv_, args.timeout, workdir / "stdout.txt", workdir / "stderr.txt", cwd=ROOT)
                    rec.update({k: (round(v, 4) if isinstance(v, float) else v) for k, v in res.items() if k != "timed_out"})
                    if res["timed_out"]:
                        rec["status"] = "timeout"
                        rec["note"] = f"DNF: killed after {args.timeout:g} s"
                    elif res["rc"] != 0:
                        rec["status"] = "error"
                        rec["note"] = f"exit {res['rc']}: {tail(workdir / 'stderr.txt', 3)}"
                    else:
                        try:
                            pos = tool.positions(out_path, n)
                            posfile = workdir / "positions.txt"
                            if out_path != posfile:
                                metrics.write_positions(posfile, pos)
                            rec["positions"] = str(posfile)
                            m = metrics.score(n, edges, pos, sources=args.sources, seed=0)
                            rec.update({k: m[k] for k in ("stress", "neighbourhood_preservation", "edge_length_cv")})
                            rec["score_seconds"] = m["score_seconds"]
                            if m.get("error"):
                                rec["status"] = "error"
                                rec["note"] = m["error"]
                            else:
                                rec["status"] = "ok"
                        except (metrics.InputError, OSError, ValueError) as e:
                            rec["status"] = "error"
                            rec["note"] = f"unreadable output: {e}"
                    if out_path.suffix == ".dot" and out_path.exists():
                        out_path.unlink()  # large, and positions.txt has what we need
                    dot_in = workdir / "input.dot"
                    if dot_in.exists():
                        dot_in.unlink()
                    records.append(rec)
                    print(f"   {name:7s} r{rep}: {rec['status']}  wall {res['wall_s']:.2f} s  CPU {res['cpu_s']:.2f} s  "
                          f"peak {res['maxrss_mb']:.0f} MB  stress {fmt(rec.get('stress'))}  "
                          f"NP {fmt(rec.get('neighbourhood_preservation'))}  edge CV {fmt(rec.get('edge_length_cv'))}"
                          + (f"  ({rec['note']})" if rec.get("note") else ""), flush=True)
                    flush()
    rows = flush()
    print()
    print(markdown(rows, meta))
    print(f"written: {out_dir / 'results.md'} and {results_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Layout quality metrics: the one scorer every tool in the comparison is judged by.

Usage (needs only numpy and scipy):

    python benches/layout/metrics.py EDGELIST POSITIONS [--sources 100] [--seed 0]

EDGELIST is `src dst` per line (0-based integer ids), an optional first line
`# nodes N`, and `#` comments. POSITIONS has one `x y z` line per node in id
order (`#` comments and blank lines ignored), or JSON: a list of [x, y, z], a
flat list of 3n numbers, or an object whose "positions" key holds either.
Prints one JSON object with the metrics.

Metrics (all invariant to the scale of the layout; see README.md):

* stress: normalised stress over the pairs (s, v) for `--sources` sampled
  source nodes s and every node v reachable from s. With d = graph (hop)
  distance, e = Euclidean distance and weights w = 1/d^2, the layout is scaled
  by the optimal factor alpha = argmin sum w (alpha e - d)^2 = sum(e/d) / sum(e^2/d^2),
  and stress = sum w (alpha e - d)^2 / sum w d^2 = mean((alpha e/d - 1)^2).
  0 is perfect; lower is better.
* neighbourhood_preservation: for every node i with degree k_i > 0, the share
  of its graph neighbours among its k_i nearest other points, averaged over
  nodes. 1 is perfect; higher is better.
* edge_length_cv: coefficient of variation (std / mean) of the Euclidean
  lengths of the edges. Lower means more uniform edge lengths.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path
from scipy.spatial import cKDTree


class InputError(ValueError):
    """A malformed edge list or positions file."""


# --------------------------------------------------------------------------- I/O

def read_edgelist(path: str | Path) -> tuple[int, np.ndarray]:
    """Read an edge list. Returns (n, edges) with edges an int64 array (m, 2)."""
    declared = None
    flat: list[str] = []
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line:
                continue
            if line.startswith("#"):
                parts = line[1:].split()
                if declared is None and len(parts) == 2 and parts[0] == "nodes":
                    try:
                        declared = int(parts[1])
                    except ValueError:
                        raise InputError(f"{path}:{lineno}: bad node count {parts[1]!r}") from None
                continue
            parts = line.split("#", 1)[0].split()
            if len(parts) != 2:
                raise InputError(f"{path}:{lineno}: expected 'src dst', got {line!r}")
            flat.extend(parts)
    try:
        edges = np.array(flat, dtype=np.int64).reshape(-1, 2)
    except ValueError as e:
        raise InputError(f"{path}: non-integer node id ({e})") from None
    if edges.size and edges.min() < 0:
        raise InputError(f"{path}: negative node id")
    n = int(edges.max()) + 1 if edges.size else 0
    if declared is not None:
        if declared < n:
            raise InputError(f"{path}: '# nodes {declared}' but id {n - 1} appears")
        n = declared
    return n, edges


def write_edgelist(path: str | Path, n: int, edges: np.ndarray, comment: str | None = None) -> None:
    edges = np.asarray(edges, dtype=np.int64)
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# nodes {n}\n")
        if comment:
            for line in comment.splitlines():
                f.write(f"# {line}\n")
        if len(edges):
            f.write("\n".join(f"{a} {b}" for a, b in edges.tolist()))
            f.write("\n")


def read_positions(path: str | Path, n: int | None = None) -> np.ndarray:
    """Read positions as a float64 array (n, 3). 2D input gets z = 0."""
    text = Path(path).read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("[") or stripped.startswith("{"):
        data = json.loads(stripped)
        if isinstance(data, dict):
            for key in ("positions", "pos", "coords"):
                if key in data:
                    data = data[key]
                    break
            else:
                raise InputError(f"{path}: JSON object without a 'positions' key")
        arr = np.asarray(data, dtype=np.float64)
        if arr.ndim == 1:
            if arr.size % 3:
                raise InputError(f"{path}: flat JSON list of {arr.size} numbers is not 3n")
            arr = arr.reshape(-1, 3)
    else:
        rows = []
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.replace(",", " ").split()
            if len(parts) not in (2, 3):
                raise InputError(f"{path}:{lineno}: expected 'x y z', got {raw.strip()!r}")
            rows.append(parts if len(parts) == 3 else parts + ["0"])
        try:
            arr = np.array(rows, dtype=np.float64).reshape(-1, 3)
        except ValueError as e:
            raise InputError(f"{path}: non-numeric coordinate ({e})") from None
    if arr.ndim != 2 or arr.shape[1] not in (2, 3):
        raise InputError(f"{path}: positions must be n x 3, got shape {arr.shape}")
    if arr.shape[1] == 2:
        arr = np.hstack([arr, np.zeros((len(arr), 1))])
    if n is not None and len(arr) != n:
        raise InputError(f"{path}: {len(arr)} positions for {n} nodes")
    return arr


def write_positions(path: str | Path, pos: np.ndarray) -> None:
    np.savetxt(path, np.asarray(pos, dtype=np.float64), fmt="%.9g")


# ----------------------------------------------------------------------- metrics

def simple_edges(n: int, edges: np.ndarray) -> np.ndarray:
    """Undirected simple edges (u < v), self-loops and duplicates removed."""
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    e = e[e[:, 0] != e[:, 1]]
    e = np.sort(e, axis=1)
    if len(e) == 0:
        return e
    key = np.unique(e[:, 0] * n + e[:, 1])
    return np.stack([key // n, key % n], axis=1)


def adjacency(n: int, und: np.ndarray) -> csr_matrix:
    rows = np.concatenate([und[:, 0], und[:, 1]])
    cols = np.concatenate([und[:, 1], und[:, 0]])
    data = np.ones(len(rows), dtype=np.float64)
    return csr_matrix((data, (rows, cols)), shape=(n, n))


def stress(n: int, adj: csr_matrix, pos: np.ndarray, sources: int = 100, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    k = min(sources, n)
    src = np.sort(rng.choice(n, size=k, replace=False))
    dist = shortest_path(adj, method="D", directed=False, unweighted=True, indices=src)
    num_r = 0.0   # sum r       with r = e / d
    num_r2 = 0.0  # sum r^2
    count = 0
    for row, s in enumerate(src):
        d = dist[row]
        ok = np.isfinite(d) & (d > 0)
        if not ok.any():
            continue
        e = np.sqrt(((pos[ok] - pos[s]) ** 2).sum(axis=1))
        r = e / d[ok]
        num_r += float(r.sum())
        num_r2 += float((r * r).sum())
        count += int(ok.sum())
    if count == 0 or num_r2 == 0.0:
        return float("nan")
    # alpha = sum r / sum r^2; stress = mean((alpha r - 1)^2) = 1 - (sum r)^2 / (count * sum r^2)
    return max(0.0, 1.0 - num_r * num_r / (count * num_r2))


def neighbourhood_preservation(n: int, und: np.ndarray, pos: np.ndarray) -> float:
    deg = np.bincount(und.ravel(), minlength=n)
    # Sorted keys of directed adjacency (i * n + j) for membership tests.
    keys = np.unique(np.concatenate([und[:, 0] * n + und[:, 1], und[:, 1] * n + und[:, 0]]))
    tree = cKDTree(pos)
    nodes = np.nonzero(deg > 0)[0]
    if len(nodes) == 0:
        return float("nan")
    shares = np.empty(len(nodes), dtype=np.float64)
    # Bucket nodes by degree (powers of two) so one kNN query serves a bucket.
    bucket = np.ceil(np.log2(deg[nodes])).astype(np.int64)
    for b in np.unique(bucket):
        sel = np.nonzero(bucket == b)[0]
        ids = nodes[sel]
        kmax = int(deg[ids].max())
        kq = min(kmax + 1, n)
        _, idx = tree.query(pos[ids], k=kq)
        idx = np.asarray(idx).reshape(len(ids), kq)
        k_i = deg[ids][:, None]
        col = np.arange(kq)[None, :]
        valid = (col <= k_i) & (idx != ids[:, None]) & (idx < n)
        # If the node itself was not among its k+1 nearest (coincident points), keep only k.
        extra = valid.sum(axis=1) > k_i[:, 0]
        valid[extra, :] &= col[0] < k_i[extra]
        # Membership of (i, idx) among the graph edges.
        cand = ids[:, None] * n + np.where(idx < n, idx, 0)
        pos_in = np.searchsorted(keys, cand)
        pos_in = np.minimum(pos_in, len(keys) - 1)
        hit = (keys[pos_in] == cand) & valid
        shares[sel] = hit.sum(axis=1) / deg[ids]
    return float(shares.mean())


def edge_length_cv(und: np.ndarray, pos: np.ndarray) -> float:
    if len(und) == 0:
        return float("nan")
    lengths = np.sqrt(((pos[und[:, 0]] - pos[und[:, 1]]) ** 2).sum(axis=1))
    mean = lengths.mean()
    if mean == 0:
        return float("nan")
    return float(lengths.std() / mean)


def score(n: int, edges: np.ndarray, pos: np.ndarray, sources: int = 100, seed: int = 0) -> dict:
    """All metrics for one layout. `pos` must be (n, 3)."""
    t0 = time.perf_counter()
    pos = np.asarray(pos, dtype=np.float64)
    if pos.shape != (n, 3):
        raise InputError(f"positions have shape {pos.shape}, expected ({n}, 3)")
    result = {"n": n}
    finite = bool(np.isfinite(pos).all())
    und = simple_edges(n, edges)
    result["edges"] = int(len(und))
    if not finite:
        result.update(stress=None, neighbourhood_preservation=None, edge_length_cv=None,
                      error="non-finite coordinates")
    else:
        adj = adjacency(n, und)
        result["stress"] = stress(n, adj, pos, sources=sources, seed=seed)
        result["neighbourhood_preservation"] = neighbourhood_preservation(n, und, pos)
        result["edge_length_cv"] = edge_length_cv(und, pos)
    result["score_seconds"] = round(time.perf_counter() - t0, 3)
    return result


def _json_safe(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Score a 3D layout: stress, neighbourhood preservation, edge-length CV.")
    ap.add_argument("edgelist")
    ap.add_argument("positions")
    ap.add_argument("--sources", type=int, default=100, help="sampled source nodes for stress (default 100)")
    ap.add_argument("--seed", type=int, default=0, help="seed for the source sample (default 0)")
    args = ap.parse_args(argv)
    try:
        n, edges = read_edgelist(args.edgelist)
        pos = read_positions(args.positions, n)
        result = score(n, edges, pos, sources=args.sources, seed=args.seed)
    except (InputError, OSError) as e:
        print(f"metrics.py: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: _json_safe(v) for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

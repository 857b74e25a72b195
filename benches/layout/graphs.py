#!/usr/bin/env python3
"""Deterministic graph generators for the layout comparison (numpy only).

    python benches/layout/graphs.py FAMILY N [--seed S] -o FILE

Families:
  ba        Barabasi-Albert preferential attachment, m = 2 (scale-free).
  lattice   3D grid, as close to a cube as N allows (exact a*b*c = N when such a
            near-cubic factorisation exists, otherwise a cube with a partial
            last layer).
  workflow  layered DAGs of nested clusters, like flattened agent workflows:
            leaf clusters of 10-50 nodes, each a layered DAG from one input node
            to one output node; clusters grouped 3-8 at a time into parent
            clusters (3 levels of nesting below the root), where siblings are
            themselves arranged as a layered DAG (output of one cluster -> input
            of the next) plus a few sparse cross edges. Edges are directed
            src -> dst in the file; layouts treat them as undirected.

Every family is connected. The same (family, N, seed) gives the same file.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics import write_edgelist  # noqa: E402

FAMILIES = ("ba", "lattice", "workflow")


def barabasi_albert(n: int, m: int = 2, seed: int = 0) -> np.ndarray:
    """Preferential attachment: each new node joins m distinct earlier nodes,
    chosen with probability proportional to their degree. Starts from a
    complete graph on m + 1 nodes."""
    if n < m + 1:
        raise ValueError(f"ba needs at least {m + 1} nodes")
    rng = random.Random(seed)
    edges: list[tuple[int, int]] = []
    ends: list[int] = []  # every edge endpoint once: sampling from it is degree-proportional
    for a in range(m + 1):
        for b in range(a):
            edges.append((a, b))
            ends += (a, b)
    for v in range(m + 1, n):
        targets: set[int] = set()
        while len(targets) < m:
            targets.add(ends[int(rng.random() * len(ends))])
        for t in sorted(targets):
            edges.append((v, t))
            ends += (v, t)
    return np.array(edges, dtype=np.int64)


def lattice_dims(n: int) -> tuple[int, int, int]:
    """Dimensions a <= b <= c of a near-cubic box for n nodes."""
    best = None
    for a in range(1, int(round(n ** (1 / 3))) + 2):
        if n % a:
            continue
        rest = n // a
        for b in range(a, int(math.isqrt(rest)) + 1):
            if rest % b:
                continue
            c = rest // b
            if c < b:
                continue
            ratio = c / a
            if best is None or ratio < best[0]:
                best = (ratio, (a, b, c))
    if best is not None and best[0] <= 2.0:
        return best[1]
    a = max(1, round(n ** (1 / 3)))
    c = math.ceil(n / (a * a))
    return (a, a, c)  # last layer partial


def lattice_3d(n: int) -> np.ndarray:
    a, b, c = lattice_dims(n)
    # node id = (z * b + y) * a + x for the first n cells in that order
    ids = np.arange(n)
    x = ids % a
    y = (ids // a) % b
    edges = []
    # +x neighbour
    m = (x + 1 < a) & (ids + 1 < n)
    edges.append(np.stack([ids[m], ids[m] + 1], axis=1))
    # +y neighbour
    m = (y + 1 < b) & (ids + a < n)
    edges.append(np.stack([ids[m], ids[m] + a], axis=1))
    # +z neighbour
    m = ids + a * b < n
    edges.append(np.stack([ids[m], ids[m] + a * b], axis=1))
    return np.concatenate(edges).astype(np.int64)


class _Cluster:
    __slots__ = ("first", "last", "inp", "out", "children")

    def __init__(self, first: int, last: int, inp: int, out: int, children=None):
        self.first, self.last, self.inp, self.out = first, last, inp, out
        self.children = children or []


def _layer_sizes(rng: random.Random, total: int, max_width: int) -> list[int]:
    """Split `total` items into layers; first and last layer of width 1."""
    if total <= 2:
        return [1] * total
    sizes = [1]
    left = total - 2
    while left > 0:
        w = min(left, rng.randint(1, max_width))
        sizes.append(w)
        left -= w
    sizes.append(1)
    return sizes


def _layered_dag(rng: random.Random, items: list, edge, max_width: int, skip_p: float) -> None:
    """Arrange `items` as a layered DAG: every item after the first layer gets
    1-2 parents in the previous layer (sometimes one from further back), every
    item before the last layer gets at least one child. `edge(a, b)` adds a->b."""
    sizes = _layer_sizes(rng, len(items), max_width)
    layers, i = [], 0
    for s in sizes:
        layers.append(items[i:i + s])
        i += s
    for li in range(1, len(layers)):
        prev = layers[li - 1]
        has_child = set()
        for it in layers[li]:
            parents = {rng.randrange(len(prev))}
            if len(prev) > 1 and rng.random() < 0.35:
                parents.add(rng.randrange(len(prev)))
            for p in sorted(parents):
                edge(prev[p], it)
                has_child.add(p)
            if li >= 2 and rng.random() < skip_p:
                back = layers[rng.randrange(li - 1)]
                edge(back[rng.randrange(len(back))], it)
        for p in range(len(prev)):
            if p not in has_child:
                edge(prev[p], layers[li][rng.randrange(len(layers[li]))])


def workflow(n: int, seed: int = 0, levels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Nested clusters of layered DAGs. Returns (edges, cluster path per node as
    an (n, levels + 1) int array: leaf cluster, its parent, ..., up to level `levels`)."""
    if n < 2:
        raise ValueError("workflow needs at least 2 nodes")
    rng = random.Random(seed)
    edges: list[tuple[int, int]] = []

    def node_edge(a: int, b: int) -> None:
        edges.append((a, b))

    # Leaf cluster sizes 10..50 summing to n.
    sizes = []
    left = n
    while left > 0:
        s = rng.randint(10, 50)
        if left <= 50:
            s = left
        elif left - s < 10:
            s = left - 10
        sizes.append(s)
        left -= s
    clusters: list[_Cluster] = []
    start = 0
    for s in sizes:
        ids = list(range(start, start + s))
        _layered_dag(rng, ids, node_edge, max_width=6, skip_p=0.08)
        clusters.append(_Cluster(start, start + s - 1, ids[0], ids[-1]))
        start += s

    def cluster_edge(a: _Cluster, b: _Cluster) -> None:
        edges.append((a.out, b.inp))

    membership = np.zeros((n, levels + 1), dtype=np.int64)
    for ci, c in enumerate(clusters):
        membership[c.first:c.last + 1, 0] = ci

    level = clusters
    for lv in range(1, levels + 1):
        top = lv == levels
        groups: list[list[_Cluster]] = []
        if top:
            groups = [level]
        else:
            i = 0
            while i < len(level):
                g = rng.randint(3, 8)
                groups.append(level[i:i + g])
                i += g
        parents = []
        for gi, g in enumerate(groups):
            if len(g) > 1:
                _layered_dag(rng, g, cluster_edge, max_width=3 if not top else 6, skip_p=0.0)
                # sparse cross edges between sibling clusters (earlier -> later)
                for _ in range(max(0, len(g) // 4)):
                    if rng.random() < 0.5:
                        a, b = sorted(rng.sample(range(len(g)), 2))
                        src = rng.randint(g[a].first, g[a].last)
                        dst = rng.randint(g[b].first, g[b].last)
                        edges.append((src, dst))
            p = _Cluster(g[0].first, g[-1].last, g[0].inp, g[-1].out, g)
            parents.append(p)
            membership[p.first:p.last + 1, lv] = gi
        level = parents
    return np.array(edges, dtype=np.int64), membership


def generate(family: str, n: int, seed: int = 0) -> np.ndarray:
    if family == "ba":
        return barabasi_albert(n, 2, seed)
    if family == "lattice":
        return lattice_3d(n)
    if family == "workflow":
        return workflow(n, seed)[0]
    raise ValueError(f"unknown family {family!r} (expected one of {', '.join(FAMILIES)})")


def describe(family: str, n: int, seed: int) -> str:
    if family == "ba":
        return f"Barabasi-Albert m=2, n={n}, seed={seed}"
    if family == "lattice":
        a, b, c = lattice_dims(n)
        return f"3D lattice {a}x{b}x{c} (first {n} cells), n={n}"
    return f"workflow: layered DAGs of nested clusters (10-50 nodes, 3 levels), n={n}, seed={seed}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("family", choices=FAMILIES)
    ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    edges = generate(args.family, args.n, args.seed)
    write_edgelist(args.output, args.n, edges, describe(args.family, args.n, args.seed))
    print(f"{args.output}: {args.n} nodes, {len(edges)} edges")
    return 0


if __name__ == "__main__":
    sys.exit(main())

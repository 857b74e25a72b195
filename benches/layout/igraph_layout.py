#!/usr/bin/env python3
"""igraph peer for the layout comparison: Fruchterman-Reingold in 3D.

    python igraph_layout.py EDGELIST OUT [--seed S] [--niter N]

Runs `Graph.layout_fruchterman_reingold_3d` with igraph's defaults (500
iterations; the 3D variant has no grid approximation, so each iteration is
O(n^2)) and writes one `x y z` line per node. Timing is done by the caller.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import igraph
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics import read_edgelist, write_positions  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("edgelist")
    ap.add_argument("output")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--niter", type=int, default=None, help="iterations (igraph default 500)")
    args = ap.parse_args(argv)
    n, edges = read_edgelist(args.edgelist)
    g = igraph.Graph(n=n, edges=edges.tolist(), directed=False)
    random.seed(args.seed)  # igraph's Python interface draws from `random`
    kwargs = {} if args.niter is None else {"niter": args.niter}
    layout = g.layout_fruchterman_reingold_3d(**kwargs)
    write_positions(args.output, np.asarray(layout.coords, dtype=np.float64))
    print(f"igraph_layout: {n} nodes, {g.ecount()} edges, igraph {igraph.__version__}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

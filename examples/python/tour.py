# Run with: python examples/python/tour.py  (after `pip install ./orrery-py`)
#
# A tour of the Orrery engine from Python, written as notebook cells: open it in Jupyter or VS
# Code (`# %%` marks a cell), or run it as a script. It loads a workflow, validates it, nests two
# custom agents, lays the result out in 3D and saves a picture (planner.png, in the current
# directory).

# %% Load a workflow and look at it.
import os
from pathlib import Path

import numpy as np

import orrery

EXAMPLES = Path(os.environ.get("ORRERY_EXAMPLES", Path(__file__).resolve().parents[1] / "graphs"))

planner = orrery.Graph.load(EXAMPLES / "planner.json")
print(planner)  # <Graph 5 nodes, 5 edges, sha256:…>
for node in planner.nodes:
    print(" ", node.id, node.kind, node.agent or "")
planner  # in a notebook, the last expression of a cell shows the graph as a picture

# %% Validate it: every problem at once. Without its custom agents, the planner cannot resolve
# the two `subgraph` nodes.
for diagnostic in planner.validate():
    print(diagnostic)

# %% Nest the agents: a registry from the directory (or a dict {"researcher": graph, …}).
agents = orrery.AgentRegistry.from_dir(EXAMPLES / "agents")
print(agents)
assert planner.validate(agents) == []

# A broken workflow reports every problem, like a compiler.
broken = orrery.Graph.load(EXAMPLES / "broken" / "graph.json")
print(orrery.report(broken.validate(EXAMPLES / "broken" / "agents"), "broken/graph.json"))

# %% Flatten: each agent's nodes inlined with ids like `research/summarize`, and a group per
# agent so that the hierarchy stays recoverable.
flat = planner.flatten(agents)
print(flat, [group.id for group in flat.groups])
print(planner.diff(flat, agents=agents))

# %% Lay it out in 3D: a float32 NumPy array, one row per node (the same positions as
# `orrery layout planner.json --agents agents --seed 7`). Nodes of one agent stay together.
positions = flat.layout(seed=7)
print(positions.shape, positions.dtype)
for group in flat.groups:
    rows = [i for i, node_id in enumerate(flat.node_ids) if node_id.startswith(group.id + "/")]
    print(f"  {group.id}: centre {positions[rows].mean(axis=0).round(1)}")
np.save("planner-positions.npy", positions)

# %% Save a picture (drawn headless: on a GPU, or on the CPU with Mesa's lavapipe).
png = flat.render_png(width=1280, height=720, positions=positions, theme="dark")
Path("planner.png").write_bytes(png)
print(f"planner.png: {len(png)} bytes")

# %% networkx, when it is installed: analyse the workflow with the usual tools.
try:
    import networkx as nx
except ImportError:
    print("networkx is not installed; skipping")
else:
    g = flat.to_networkx()
    print("longest path:", nx.dag_longest_path(nx.DiGraph(g)) if nx.is_directed_acyclic_graph(g) else "(has loops)")
    print("round trip:", orrery.Graph.from_networkx(g) == flat)

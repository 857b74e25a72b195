"""Conversions between :class:`orrery.Graph` and networkx graphs, behind
``Graph.to_networkx()`` and ``Graph.from_networkx()``. networkx is imported only here, and only
when a conversion is asked for: it is not a dependency of orrery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._orrery import Graph

#: Node attributes that are fields of a node; any other attribute goes into its ``config``.
NODE_FIELDS = ("kind", "label", "inputs", "outputs", "agent", "config", "position", "ui")
#: Edge attributes that ``to_networkx`` writes and ``from_networkx`` reads back.
EDGE_FIELDS = ("from_port", "to_port", "index", "ui")


def _networkx() -> Any:
    try:
        import networkx  # type: ignore[import-untyped, unused-ignore]
    except ImportError as e:  # pragma: no cover - exercised only without networkx
        raise ImportError(
            "this conversion needs networkx: pip install networkx (or 'orrery[networkx]')"
        ) from e
    return networkx


def to_networkx(graph: Graph) -> Any:
    """A ``MultiDiGraph``: one node per node (keyed by id, its fields as attributes), one edge
    per document edge (``from_port``, ``to_port``, ``index`` in the document). Edges whose
    endpoints are not ``node.port`` of an existing node cannot be networkx edges; they are kept
    in ``G.graph["dangling_edges"]`` so that ``from_networkx`` gives the same graph back."""
    nx = _networkx()
    doc = graph.to_dict()
    g = nx.MultiDiGraph()
    for key in ("groups", "ui"):
        if key in doc:
            g.graph[key] = doc[key]
    for node in doc["nodes"]:
        attrs = dict(node)
        node_id = attrs.pop("id")
        if node_id not in g:  # the first node with an id wins, as in validation
            g.add_node(node_id, **attrs)
    dangling = []
    # The typed edges carry their endpoints already split; the dicts carry the rest.
    for index, (typed, edge) in enumerate(zip(graph.edges, doc.get("edges", []))):
        source, target = typed.from_node, typed.to_node
        if source is None or target is None or source not in g or target not in g:
            dangling.append({"index": index, **edge})
            continue
        attrs = {"from_port": typed.from_port, "to_port": typed.to_port, "index": index}
        if "ui" in edge:
            attrs["ui"] = edge["ui"]
        g.add_edge(source, target, **attrs)
    if dangling:
        g.graph["dangling_edges"] = dangling
    return g


def from_networkx(g: Any) -> Graph:
    """A graph from any networkx graph. Node keys become ids (``str(key)``); the attributes
    named like node fields become those fields and the others go into ``config``; ``kind``
    defaults to ``agent``. Edges join ``from_port`` and ``to_port`` (default ``out`` and
    ``in``); a node without ``inputs``/``outputs`` attributes gets the ports its edges use."""
    from ._orrery import Graph

    nodes: dict[str, dict[str, Any]] = {}
    for key, attrs in g.nodes(data=True):
        node: dict[str, Any] = {"id": str(key), "kind": attrs.get("kind", "agent")}
        extra = {k: v for k, v in attrs.items() if k not in NODE_FIELDS}
        for field in NODE_FIELDS[1:]:
            if field in attrs:
                node[field] = attrs[field]
        if extra:
            node["config"] = {**extra, **node.get("config", {})}
        nodes[str(key)] = node

    edges: list[tuple[int, dict[str, Any]]] = []
    declared_in = {k for k, n in nodes.items() if "inputs" in n}
    declared_out = {k for k, n in nodes.items() if "outputs" in n}
    added_in: dict[str, dict[str, dict[str, Any]]] = {}
    added_out: dict[str, dict[str, dict[str, Any]]] = {}
    for position, (u, v, attrs) in enumerate(g.edges(data=True)):
        source, target = str(u), str(v)
        from_port = str(attrs.get("from_port", "out"))
        to_port = str(attrs.get("to_port", "in"))
        edge: dict[str, Any] = {"from": f"{source}.{from_port}", "to": f"{target}.{to_port}"}
        if "ui" in attrs:
            edge["ui"] = attrs["ui"]
        index = attrs.get("index")
        edges.append((index if isinstance(index, int) else position, edge))
        if source not in declared_out:
            added_out.setdefault(source, {}).setdefault(from_port, {"name": from_port})
        if target not in declared_in:
            port = added_in.setdefault(target, {})
            if to_port in port:
                port[to_port]["multiple"] = True
            else:
                port[to_port] = {"name": to_port}
    for node_id, ports in added_out.items():
        nodes[node_id]["outputs"] = list(ports.values())
    for node_id, ports in added_in.items():
        nodes[node_id]["inputs"] = list(ports.values())

    for edge in g.graph.get("dangling_edges", []):
        edge = dict(edge)
        edges.append((edge.pop("index", len(edges)), edge))
    edges.sort(key=lambda item: item[0])

    doc: dict[str, Any] = {"schema": 1, "nodes": list(nodes.values())}
    doc["edges"] = [edge for _, edge in edges]
    for key in ("groups", "ui"):
        if key in g.graph:
            doc[key] = g.graph[key]
    return Graph.from_json(doc)

"""networkx conversions: a graph survives the round trip, and any networkx graph becomes a
graph the engine lays out."""

from __future__ import annotations

import pytest
from conftest import AGENTS, GRAPHS

import orrery

nx = pytest.importorskip("networkx")


@pytest.mark.parametrize("name", ["rag-pipeline", "planner", "support-triage", "generated-1000"])
def test_a_graph_survives_the_round_trip(name: str) -> None:
    graph = orrery.Graph.load(GRAPHS / f"{name}.json")
    assert orrery.Graph.from_networkx(graph.to_networkx()) == graph


def test_flattened_graphs_keep_their_groups() -> None:
    flat = orrery.Graph.load(GRAPHS / "planner.json").flatten(AGENTS)
    g = flat.to_networkx()
    assert [group["id"] for group in g.graph["groups"]] == ["research", "write"]
    assert orrery.Graph.from_networkx(g) == flat


def test_nodes_and_edges_carry_their_fields(rag: orrery.Graph) -> None:
    g = rag.to_networkx()
    assert isinstance(g, nx.MultiDiGraph)
    assert list(g.nodes) == rag.node_ids
    assert g.number_of_edges() == len(rag.edges)
    question = g.nodes["question"]
    assert question["kind"] == "input" and question["outputs"][0]["name"] == "value"
    edge = rag.edges[0]
    data = g.get_edge_data(edge.from_node, edge.to_node)
    assert {"from_port": edge.from_port, "to_port": edge.to_port, "index": 0} in data.values()


def test_dangling_edges_are_kept_aside() -> None:
    doc = {
        "schema": 1,
        "nodes": [{"id": "a", "kind": "tool", "outputs": [{"name": "o"}]}],
        "edges": [{"from": "a.o", "to": "ghost.i"}, {"from": "bad", "to": "a.x"}],
    }
    graph = orrery.Graph.from_json(doc)
    g = graph.to_networkx()
    assert list(g.nodes) == ["a"] and g.number_of_edges() == 0
    assert len(g.graph["dangling_edges"]) == 2
    assert orrery.Graph.from_networkx(g) == graph


def test_any_networkx_graph_becomes_a_graph_with_ports() -> None:
    g = nx.karate_club_graph()
    graph = orrery.Graph.from_networkx(g)
    assert graph.node_ids == [str(n) for n in g.nodes]
    assert len(graph.edges) == g.number_of_edges()
    zero = graph.node("0")
    assert zero is not None and zero.kind == "agent"
    assert zero.config == {"club": "Mr. Hi"}, "unknown attributes go into config"
    assert [p.name for p in zero.outputs] == ["out"]
    assert graph.layout(seed=1).shape == (34, 3)
    codes = {d.code for d in graph.validate()}
    assert not codes & {"E0004", "E0005"}, "every edge joins declared ports"


def test_fan_in_ports_are_multiple() -> None:
    g = nx.DiGraph([("a", "c"), ("b", "c")])
    graph = orrery.Graph.from_networkx(g)
    c = graph.node("c")
    assert c is not None and [(p.name, p.multiple) for p in c.inputs] == [("in", True)]
    a = graph.node("a")
    assert a is not None and a.inputs == []

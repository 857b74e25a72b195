"""Graph documents: reading from text, bytes, dicts and files; writing JSON; the digest; nodes,
edges and groups as plain objects; equality, hashing and pickling."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import pytest
from conftest import GRAPHS, WORKED_EXAMPLE, WORKED_EXAMPLE_DIGEST, run_cli

import orrery


def test_the_worked_example_of_the_spec_has_its_digest_and_canonical_form() -> None:
    graph = orrery.Graph.from_json(WORKED_EXAMPLE)
    assert graph.digest == WORKED_EXAMPLE_DIGEST
    assert graph.canonical_json().startswith('{"edges":[{"from":"question.value"')


def test_text_bytes_bytearray_and_dict_read_the_same_graph() -> None:
    graphs = [
        orrery.Graph.from_json(WORKED_EXAMPLE),
        orrery.Graph.from_json(WORKED_EXAMPLE.encode()),
        orrery.Graph.from_json(bytearray(WORKED_EXAMPLE.encode())),
        orrery.Graph.from_json(json.loads(WORKED_EXAMPLE)),
        orrery.from_json(WORKED_EXAMPLE),
    ]
    assert all(g == graphs[0] for g in graphs)
    assert {g.digest for g in graphs} == {WORKED_EXAMPLE_DIGEST}


def test_load_reads_a_file_from_str_or_path() -> None:
    path = GRAPHS / "rag-pipeline.json"
    assert orrery.Graph.load(path) == orrery.Graph.load(str(path)) == orrery.load(path)


@pytest.mark.parametrize("name", ["rag-pipeline", "planner", "support-triage", "generated-1000"])
def test_digest_equals_the_cli_digest(orrery_bin: Path, name: str) -> None:
    path = GRAPHS / f"{name}.json"
    cli = run_cli(orrery_bin, "digest", path).stdout.split()[0]
    assert orrery.Graph.load(path).digest == cli


def test_to_json_round_trips_and_pretty_indents(rag: orrery.Graph) -> None:
    assert orrery.Graph.from_json(rag.to_json()) == rag
    assert orrery.Graph.from_json(rag.to_json(pretty=True)) == rag
    assert "\n  " in rag.to_json(pretty=True) and "\n" not in rag.to_json()
    assert json.loads(rag.to_json()) == rag.to_dict()
    assert rag.to_dict()["schema"] == 1


def test_positions_and_ui_do_not_change_the_digest() -> None:
    doc = json.loads(WORKED_EXAMPLE)
    doc["nodes"][0]["position"] = [10, 20, 30]
    doc["ui"] = {"camera": [1, 2, 3]}
    moved = orrery.Graph.from_json(doc)
    assert moved.digest == WORKED_EXAMPLE_DIGEST
    assert moved != orrery.Graph.from_json(WORKED_EXAMPLE)
    assert moved.ui == {"camera": [1, 2, 3]}


def test_nodes_are_plain_objects_with_every_field(planner: orrery.Graph) -> None:
    plan = planner.node("plan")
    assert plan is not None
    assert (plan.id, plan.kind, plan.label) == ("plan", "agent", "Plan the report")
    assert plan.config == {"model": "gpt-4o", "temperature": 0.4}
    assert plan.position == (220.0, 120.0, 0.0)
    assert [(p.name, p.type, p.required, p.multiple) for p in plan.inputs] == [
        ("goal", "text", True, False)
    ]
    assert [(p.name, p.type) for p in plan.outputs] == [("brief", "text"), ("topic", "text")]
    assert plan.agent is None and plan.ui is None
    research = planner.node("research")
    assert research is not None and research.agent is not None
    assert research.agent.id == "researcher"
    assert research.agent.version.startswith("sha256:")
    assert planner.node("nowhere") is None
    assert planner.node_ids == [n.id for n in planner.nodes]


def test_reprs_read_like_dataclasses(planner: orrery.Graph) -> None:
    plan = planner.node("plan")
    assert repr(plan) == (
        "Node(id='plan', kind='agent', label='Plan the report', "
        "inputs=[InputPort(name='goal', type='text')], "
        "outputs=[OutputPort(name='brief', type='text'), OutputPort(name='topic', type='text')], "
        "config={'model': 'gpt-4o', 'temperature': 0.4}, position=(220.0, 120.0, 0.0))"
    )
    assert repr(planner.edges[0]) == "Edge(from_='goal.value', to='plan.goal')"
    assert repr(planner).startswith("<Graph 5 nodes, 5 edges, sha256:")
    research = planner.node("research")
    assert research is not None and research.agent is not None
    assert repr(research.agent).startswith("AgentRef(id='researcher', version='sha256:")
    assert str(research.agent).startswith("researcher@sha256:")


def test_edges_split_their_endpoints(planner: orrery.Graph) -> None:
    edge = planner.edges[0]
    assert (edge.from_, edge.to) == ("goal.value", "plan.goal")
    assert (edge.from_node, edge.from_port, edge.to_node, edge.to_port) == (
        "goal",
        "value",
        "plan",
        "goal",
    )
    assert edge.to_dict() == {"from": "goal.value", "to": "plan.goal"}
    odd = orrery.Graph.from_json(
        {"schema": 1, "nodes": [], "edges": [{"from": "a.b.c", "to": "x", "ui": {"bend": 1}}]}
    ).edges[0]
    assert (odd.from_node, odd.to_port, odd.ui) == (None, None, {"bend": 1})


def test_objects_compare_by_value_and_give_their_json(planner: orrery.Graph) -> None:
    again = orrery.Graph.load(GRAPHS / "planner.json")
    assert planner.nodes == again.nodes and planner.edges == again.edges
    assert planner.nodes[0] != planner.nodes[1]
    assert planner.nodes[1].to_dict() == json.loads(planner.to_json())["nodes"][1]
    assert planner.nodes[1].inputs[0].to_dict() == {"name": "goal", "type": "text"}
    assert planner.nodes[1].outputs[0].to_dict() == {"name": "brief", "type": "text"}


def test_graphs_hash_by_content_and_pickle(rag: orrery.Graph) -> None:
    again = orrery.Graph.from_json(rag.to_json())
    assert hash(again) == hash(rag) and len({rag, again}) == 1
    assert pickle.loads(pickle.dumps(rag)) == rag
    assert copy.deepcopy(rag) == rag
    assert rag != "not a graph"


def test_config_is_a_fresh_dict_each_time(planner: orrery.Graph) -> None:
    plan = planner.node("plan")
    assert plan is not None
    config = plan.config
    config["model"] = "changed"
    assert plan.config["model"] == "gpt-4o"


def test_json_values_of_every_kind_survive_a_dict_round_trip() -> None:
    config = {
        "s": "é\n\"'",
        "i": -(2**63),
        "u": 2**64 - 1,
        "f": 0.1,
        "b": True,
        "n": None,
        "l": [1, [2, {"x": []}]],
        "t": (1, 2),
    }
    graph = orrery.Graph.from_json(
        {"schema": 1, "nodes": [{"id": "a", "kind": "note", "config": config}]}
    )
    node = graph.node("a")
    assert node is not None
    assert node.config == {**config, "t": [1, 2]}


def test_flattened_graphs_have_groups(planner: orrery.Graph) -> None:
    flat = planner.flatten(GRAPHS / "agents")
    assert [g.id for g in flat.groups] == ["research", "write"]
    group = flat.groups[0]
    assert group.agent.id == "researcher" and group.label == "Research (pinned)"
    assert group.position is None or len(group.position) == 3
    assert repr(group).startswith("Group(id='research', agent=AgentRef(id='researcher'")
    assert group.to_dict()["id"] == "research"
    assert planner.groups == []

"""Validation, custom agents, flatten and diff: the same answers as the CLI, as Python objects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import AGENTS, GRAPHS, run_cli

import orrery

BROKEN = GRAPHS / "broken" / "graph.json"
BROKEN_AGENTS = GRAPHS / "broken" / "agents"


def test_a_valid_graph_has_no_diagnostics(rag: orrery.Graph) -> None:
    assert rag.validate() == []
    assert rag.check() == []


def test_every_problem_comes_back_with_code_severity_message_help_and_location() -> None:
    diagnostics = orrery.Graph.load(BROKEN).validate(BROKEN_AGENTS)
    assert [(d.code, d.severity, str(d.location)) for d in diagnostics] == [
        ("E0007", "error", "edges[0]"),
        ("E0004", "error", "edges[3]"),
        ("E0018", "error", "ask/ask/ask"),
    ]
    first = diagnostics[0]
    assert first.is_error
    assert first.message == "`question.value` (text) cannot feed `count.n` (number)"
    assert first.help.startswith("number accepts any, number")
    assert first.location.edge == 0 and first.location.node is None
    assert str(first) == (
        "error[E0007] edges[0]: `question.value` (text) cannot feed `count.n` (number)"
    )
    assert repr(first) == (
        "<Diagnostic error[E0007] edges[0]: `question.value` (text) cannot feed `count.n` "
        "(number); help: number accepts any, number; convert the value in a step between, or "
        "change a port type>"
    )
    cycle = diagnostics[2].location
    assert [(s.node, s.agent) for s in cycle.path] == [("ask", "ping"), ("ask", "pong")]
    assert cycle.path[0].version.startswith("sha256:")
    assert repr(cycle.path[0]).startswith("Step(node='ask', agent='ping', version='sha256:")
    assert repr(cycle) == "<Location ask/ask/ask>"


def test_diagnostics_as_dicts_equal_the_cli_json(orrery_bin: Path) -> None:
    cli = subprocess_json(orrery_bin, "validate", BROKEN, "--agents", BROKEN_AGENTS)
    assert isinstance(cli, list)
    ours = [d.to_dict() for d in orrery.Graph.load(BROKEN).validate(BROKEN_AGENTS)]
    assert ours == [{k: v for k, v in d.items() if k != "file"} for d in cli]


def subprocess_json(orrery_bin: Path, *args: str | Path) -> object:
    import subprocess

    done = subprocess.run(
        [str(orrery_bin), *map(str, args), "--format", "json"], capture_output=True, text=True
    )
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def test_port_locations_name_node_port_and_direction() -> None:
    graph = orrery.Graph.from_json(
        {
            "schema": 1,
            "nodes": [
                {"id": "q", "kind": "input", "outputs": [{"name": "value", "type": "text"}]},
                {"id": "a", "kind": "output", "inputs": [{"name": "value", "type": "text"}]},
            ],
        }
    )
    unconnected = [d for d in graph.validate() if d.code == "E0008"]
    assert len(unconnected) == 1
    location = unconnected[0].location
    assert (location.node, location.port, location.direction) == ("a", "value", "input")
    assert location.to_dict() == {"node": "a", "port": "value", "direction": "input"}
    assert location.group is None and location.path == []


def test_warnings_are_diagnostics_too() -> None:
    graph = orrery.Graph.from_json(
        {
            "schema": 1,
            "nodes": [
                {"id": "q", "kind": "input", "outputs": [{"name": "value"}]},
                {"id": "a", "kind": "output", "inputs": [{"name": "value"}]},
                {"id": "lonely", "kind": "tool"},
            ],
            "edges": [{"from": "q.value", "to": "a.value"}],
        }
    )
    warnings = graph.check()
    assert [(d.code, d.severity, d.is_error) for d in warnings] == [("W0102", "warning", False)]


def test_check_raises_validation_error_with_every_diagnostic() -> None:
    graph = orrery.Graph.load(BROKEN)
    with pytest.raises(orrery.ValidationError) as raised:
        graph.check(BROKEN_AGENTS)
    assert isinstance(raised.value, orrery.OrreryError)
    assert [d.code for d in raised.value.diagnostics] == ["E0007", "E0004", "E0018"]
    assert "3 error(s)" in str(raised.value) and "E0007" in str(raised.value)


def test_report_reads_like_the_cli(orrery_bin: Path) -> None:
    import subprocess

    diagnostics = orrery.Graph.load(BROKEN).validate(BROKEN_AGENTS)
    text = orrery.report(diagnostics, "examples/graphs/broken/graph.json")
    cli = subprocess.run(
        [str(orrery_bin), "validate", str(BROKEN.relative_to(GRAPHS.parent.parent)),
         "--agents", str(BROKEN_AGENTS)],
        cwd=GRAPHS.parent.parent, capture_output=True, text=True,
    )
    assert text.strip() in cli.stdout + cli.stderr
    assert text.endswith("3 errors, 0 warnings\n")


def test_agents_come_from_a_registry_a_dict_or_a_directory(planner: orrery.Graph) -> None:
    unknown = planner.validate()
    assert {d.code for d in unknown} == {"E0015"}
    registry = orrery.AgentRegistry.from_dir(AGENTS)
    as_dict = {
        "researcher": orrery.Graph.load(AGENTS / "researcher.json"),
        "writer": (AGENTS / "writer.json").read_text(),
    }
    for agents in (registry, as_dict, AGENTS, str(AGENTS), orrery.AgentRegistry(AGENTS)):
        assert planner.validate(agents) == [], agents


def test_the_registry_holds_versions_by_id() -> None:
    researcher = orrery.Graph.load(AGENTS / "researcher.json")
    registry = orrery.AgentRegistry()
    assert len(registry) == 0 and registry.ids == [] and repr(registry) == "AgentRegistry([])"
    digest = registry.insert("researcher", researcher)
    assert digest == researcher.digest
    registry.insert("writer", (AGENTS / "writer.json").read_bytes())
    assert registry.ids == ["researcher", "writer"] and len(registry) == 2
    assert "writer" in registry and "nobody" not in registry
    assert registry.get("researcher") == researcher and registry.get("nobody") is None
    assert repr(registry) == "AgentRegistry(['researcher', 'writer'])"
    older = json.loads(researcher.to_json())
    older["nodes"][0]["label"] = "Older"
    old_digest = registry.insert("researcher", older, pinned=True)
    assert old_digest != digest
    assert registry.get("researcher") == researcher, "a pinned insert keeps the latest"


def test_a_pinned_version_that_is_missing_is_reported(planner: orrery.Graph) -> None:
    registry = orrery.AgentRegistry({"writer": orrery.Graph.load(AGENTS / "writer.json")})
    other = json.loads(orrery.Graph.load(AGENTS / "researcher.json").to_json())
    other["nodes"][0]["label"] = "Not the pinned one"
    registry.insert("researcher", other)
    codes = {d.code for d in planner.validate(registry)}
    assert "E0016" in codes


def test_bad_agent_arguments_raise_type_and_value_errors(planner: orrery.Graph) -> None:
    with pytest.raises(TypeError, match="agents must be"):
        planner.validate(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="agent ids must be strings"):
        orrery.AgentRegistry({1: "{}"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="agent id 'not/an/id'"):
        orrery.AgentRegistry().insert("not/an/id", planner)
    with pytest.raises(orrery.ParseError):
        orrery.AgentRegistry({"bad": "{not json"})
    with pytest.raises(orrery.OrreryIOError) as raised:
        orrery.AgentRegistry.from_dir("/nonexistent/agents")
    assert raised.value.path == "/nonexistent/agents"
    with pytest.raises(orrery.OrreryIOError):
        planner.validate("/nonexistent/agents")


def test_flatten_inlines_agents_like_the_cli(orrery_bin: Path, planner: orrery.Graph) -> None:
    flat = planner.flatten(AGENTS)
    cli = run_cli(orrery_bin, "flatten", GRAPHS / "planner.json", "--agents", AGENTS).stdout
    assert flat == orrery.Graph.from_json(cli)
    assert "research/summarize" in flat.node_ids
    assert flat.validate() == []
    assert planner.flatten(AGENTS) == planner.flatten(orrery.AgentRegistry.from_dir(AGENTS))


def test_flatten_without_the_agents_raises_nesting_error(planner: orrery.Graph) -> None:
    with pytest.raises(orrery.NestingError, match="unknown agent") as raised:
        planner.flatten()
    assert raised.value.node == "research"
    graph = orrery.Graph.load(BROKEN)
    with pytest.raises(orrery.NestingError, match="nesting cycle: ping → pong → ping") as cycle:
        graph.flatten(BROKEN_AGENTS)
    assert cycle.value.node is None


def test_diff_lists_changes_as_dicts_and_lines(rag: orrery.Graph) -> None:
    doc = json.loads(rag.to_json())
    doc["nodes"][1]["config"]["top_k"] = 50
    doc["nodes"].append({"id": "extra", "kind": "note"})
    changed = orrery.Graph.from_json(doc)
    diff = rag.diff(changed)
    assert len(diff) == 2 and bool(diff)
    assert {c["change"] for c in diff.changes} == {"field_changed", "node_added"}
    field = next(c for c in diff.changes if c["change"] == "field_changed")
    assert field["field"] == "config.top_k" and field["new"] == 50
    assert "+ node extra (note)" in str(diff)
    assert repr(diff).startswith("<Diff: 2 changes, first ")
    same = rag.diff(rag.to_json())
    assert len(same) == 0 and not same and repr(same) == "<Diff: no changes>"


def test_diff_follows_changed_agents(orrery_bin: Path, planner: orrery.Graph, tmp_path: Path) -> None:
    flat = planner.flatten(AGENTS)
    diff = planner.diff(flat, agents=AGENTS)
    cli = subprocess_json(
        orrery_bin, "diff", GRAPHS / "planner.json", _write(tmp_path, flat), "--agents", AGENTS
    )
    assert diff.changes == (cli["changes"] if isinstance(cli, dict) else cli)


def _write(tmp_path: Path, graph: orrery.Graph) -> Path:
    path = tmp_path / "graph.json"
    path.write_text(graph.to_json())
    return path

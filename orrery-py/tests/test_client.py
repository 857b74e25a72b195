"""`orrery.Client` against the real server: `orrery serve` on a free port with its own SQLite
database (the `server` fixture), a signed-up user and an API key."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from conftest import GRAPHS, Server

import orrery


def test_create_get_and_list_a_graph(server: Server, rag: orrery.Graph) -> None:
    with server.client() as client:
        saved = client.create_graph("RAG", rag, description="retrieval")
        assert saved.version == rag.digest
        assert saved.node_count == len(rag.nodes)
        assert saved.graph is not None and saved.graph.digest == rag.digest
        assert saved.description == "retrieval" and not saved.is_public
        assert saved.warnings == []

        got = client.get_graph(saved.id)
        assert (got.id, got.name, got.version, got.version_count) == (
            saved.id,
            "RAG",
            rag.digest,
            1,
        )
        assert got.graph == rag

        page = client.list_graphs(search="RAG")
        assert page.total >= 1 and page.page == 1
        assert saved.id in [g.id for g in page.graphs]
        assert all(g.graph is None for g in page.graphs), "lists carry no documents"


def test_documents_may_be_text_bytes_or_dicts(server: Server) -> None:
    text = (GRAPHS / "support-triage.json").read_text()
    with server.client() as client:
        for i, doc in enumerate([text, text.encode(), json.loads(text)]):
            saved = client.create_graph(f"triage {i}", doc)
            assert saved.version == orrery.Graph.from_json(text).digest


def test_update_makes_a_new_version_and_refuses_a_stale_base(
    server: Server, rag: orrery.Graph
) -> None:
    with server.client() as client:
        saved = client.create_graph("to update", rag)
        doc = json.loads(rag.to_json())
        doc["nodes"][1]["config"]["top_k"] = 5
        changed = orrery.Graph.from_json(doc)
        updated = client.update_graph(saved.id, changed, base_version=saved.version)
        assert updated.version == changed.digest and updated.version_count == 2
        renamed = client.update_graph(saved.id, name="renamed", is_public=True)
        assert (renamed.name, renamed.is_public, renamed.version) == (
            "renamed",
            True,
            changed.digest,
        )
        with pytest.raises(orrery.ApiError) as raised:
            client.update_graph(saved.id, rag, base_version=saved.version)
        error = raised.value
        assert (error.status, error.type) == (409, "/problems/version-conflict")
        assert error.problem["current_version"] == changed.digest


def test_validate_remotely_gives_the_local_diagnostics(server: Server) -> None:
    broken = orrery.Graph.load(GRAPHS / "broken" / "graph.json")
    with server.client() as client:
        result = client.validate(broken)
        assert not result.valid and result.digest == broken.digest
        local = [d for d in broken.validate() if d.code != "E0015"]
        remote = [d for d in result.diagnostics if d.code != "E0015"]
        assert [(d.code, d.message, d.help) for d in remote] == [
            (d.code, d.message, d.help) for d in local
        ]
        assert str(remote[0]) == str(local[0])
        assert remote[0].is_error and remote[0].location == {"edge": 0}
        good = client.validate(GRAPHS.joinpath("rag-pipeline.json").read_text())
        assert good.valid and good.diagnostics == []


def test_an_invalid_graph_is_refused_with_every_diagnostic(server: Server) -> None:
    broken = orrery.Graph.load(GRAPHS / "broken" / "graph.json")
    with server.client() as client, pytest.raises(orrery.ApiError) as raised:
        client.create_graph("broken", broken)
    error = raised.value
    assert isinstance(error, orrery.OrreryError)
    assert (error.status, error.type, error.title) == (422, "/problems/invalid-graph", "Invalid graph")
    assert "error" in error.detail
    assert "E0007" in [d.code for d in error.diagnostics]
    assert "422 Invalid graph" in str(error)


def test_a_document_that_does_not_parse_is_refused_locally(server: Server) -> None:
    with server.client() as client, pytest.raises(orrery.ParseError) as raised:
        client.validate('{"schema": 1, "nodes": [')
    assert raised.value.line == 1


def test_the_server_layout_equals_the_local_layout(server: Server) -> None:
    graph = orrery.Graph.load(GRAPHS / "support-triage.json")
    with server.client() as client:
        saved = client.create_graph("layout", graph)
        remote = client.layout(saved.id, seed=7)
        assert remote.nodes == graph.node_ids and remote.seed == 7
        assert remote.version == graph.digest
        assert remote.positions.dtype == np.float32
        np.testing.assert_array_equal(remote.positions, graph.layout(seed=7))
        again = client.layout(saved.id, seed=7, version=saved.version)
        np.testing.assert_array_equal(again.positions, remote.positions)


def test_delete_then_get_is_not_found(server: Server, rag: orrery.Graph) -> None:
    with server.client() as client:
        saved = client.create_graph("short-lived", rag)
        client.delete_graph(saved.id)
        with pytest.raises(orrery.ApiError) as raised:
            client.get_graph(saved.id)
        assert (raised.value.status, raised.value.type) == (404, "/problems/not-found")
        with pytest.raises(orrery.ApiError) as missing:
            client.get_graph(str(uuid.uuid4()))
        assert missing.value.status == 404


def test_bad_credentials_and_bad_arguments_are_api_errors(server: Server) -> None:
    with server.client(api_key="ork_not_a_real_key") as client, pytest.raises(orrery.ApiError) as raised:
        client.list_graphs()
    assert raised.value.status == 401 and raised.value.type.startswith("/problems/")
    with server.client() as client:
        with pytest.raises(orrery.ApiError) as bad_page:
            client.list_graphs(limit=1000)
        assert bad_page.value.status == 422 and bad_page.value.problem.get("field") == "limit"
        with pytest.raises(orrery.ApiError) as bad_id:
            client.get_graph("not-a-uuid")
        assert bad_id.value.status in (400, 404, 422)


def test_an_access_token_works_like_an_api_key(server: Server) -> None:
    with server.client(api_key=server.token) as client:
        assert client.list_graphs().page == 1
        assert repr(client) == f"Client({server.url!r})"


def test_the_api_key_defaults_to_the_environment(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORRERY_API_KEY", server.api_key)
    client = orrery.Client(server.url)
    try:
        assert client.list_graphs().page == 1
    finally:
        client.close()

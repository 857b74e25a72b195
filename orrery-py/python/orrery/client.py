"""A small client for the hosted Orrery API: graphs (list, get, create, update, delete),
validation on the server, and server-side layouts.

It speaks HTTP with httpx, an optional dependency (``pip install 'orrery[client]'``). Every
error response is an ``application/problem+json`` document; it is raised as :class:`ApiError`
with its fields (``type``, ``title``, ``status``, ``detail`` and, for invalid graphs, every
``diagnostic``). Network failures raise httpx's own exceptions (``httpx.TransportError``).

>>> client = orrery.Client("http://127.0.0.1:8080", api_key="ork_…")
>>> saved = client.create_graph("RAG", orrery.Graph.load("examples/graphs/rag-pipeline.json"))
>>> client.layout(saved.id, seed=7).positions.shape
(9, 3)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from ._orrery import Graph, OrreryError

if TYPE_CHECKING:
    import httpx
    from numpy.typing import NDArray

#: What the methods accept as a graph document: a Graph, JSON text or bytes, or a dict.
GraphLike = Union[Graph, str, bytes, "dict[str, Any]"]


@dataclass(frozen=True)
class RemoteDiagnostic:
    """A diagnostic as the server reports it (the fields of :class:`orrery.Diagnostic`)."""

    code: str
    severity: str
    message: str
    help: str
    location: dict[str, Any] = field(default_factory=dict)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        return f"{self.severity}[{self.code}] {_where(self.location)}: {self.message}"

    @classmethod
    def _from(cls, d: dict[str, Any]) -> RemoteDiagnostic:
        return cls(
            code=d.get("code", ""),
            severity=d.get("severity", ""),
            message=d.get("message", ""),
            help=d.get("help", ""),
            location=d.get("location") or {},
        )


class ApiError(OrreryError):
    """An error response of the API, with the fields of its problem document (RFC 9457)."""

    #: A URI reference naming the kind of problem (``/problems/invalid-graph``).
    type: str
    #: A short summary of the kind of problem.
    title: str
    #: The HTTP status.
    status: int
    #: What went wrong with this request.
    detail: str
    #: Every diagnostic, for ``/problems/invalid-graph``; empty otherwise.
    diagnostics: list[RemoteDiagnostic]
    #: The whole problem document (extensions such as ``limit`` or ``retry_after`` included).
    problem: dict[str, Any]

    def __init__(self, problem: dict[str, Any]) -> None:
        self.problem = problem
        self.type = str(problem.get("type", "about:blank"))
        self.title = str(problem.get("title", ""))
        self.status = int(problem.get("status", 0))
        self.detail = str(problem.get("detail", ""))
        self.diagnostics = [RemoteDiagnostic._from(d) for d in problem.get("diagnostics", [])]
        super().__init__(f"{self.status} {self.title}: {self.detail} ({self.type})")


@dataclass(frozen=True)
class RemoteGraph:
    """A saved graph: its metadata and, from ``get_graph``/``create_graph``/``update_graph``,
    its document."""

    id: str
    name: str
    version: str
    node_count: int
    owner_id: str
    description: str | None = None
    is_public: bool = False
    is_custom_agent: bool = False
    agent_id: str | None = None
    created_at: str = ""
    updated_at: str = ""
    version_count: int | None = None
    graph: Graph | None = None
    warnings: list[RemoteDiagnostic] = field(default_factory=list)

    @classmethod
    def _from(cls, d: dict[str, Any]) -> RemoteGraph:
        data = d.get("graph_data")
        return cls(
            id=d["id"],
            name=d["name"],
            version=d["version"],
            node_count=d.get("node_count", 0),
            owner_id=d.get("owner_id", ""),
            description=d.get("description"),
            is_public=d.get("is_public", False),
            is_custom_agent=d.get("is_custom_agent", False),
            agent_id=d.get("agent_id"),
            created_at=d.get("created_at", ""),
            updated_at=d.get("updated_at", ""),
            version_count=d.get("version_count"),
            graph=Graph.from_json(data) if data is not None else None,
            warnings=[RemoteDiagnostic._from(w) for w in d.get("warnings") or []],
        )


@dataclass(frozen=True)
class GraphPage:
    """One page of ``list_graphs``."""

    graphs: list[RemoteGraph]
    total: int
    page: int


@dataclass(frozen=True)
class Validation:
    """What the server's validation says about a document."""

    valid: bool
    digest: str
    diagnostics: list[RemoteDiagnostic]


@dataclass(frozen=True)
class RemoteLayout:
    """Server-side 3D positions: one row of ``positions`` (float32, ``(n, 3)``) per id in
    ``nodes``."""

    version: str
    seed: int
    nodes: list[str]
    positions: NDArray[np.float32]


class Client:
    """A client of the Orrery API at ``base_url``, authenticated with an API key (``ork_…``) or
    an access token; ``api_key`` defaults to ``$ORRERY_API_KEY``. Use it as a context manager,
    or call :meth:`close`."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        try:
            import httpx
        except ImportError as e:  # pragma: no cover - exercised only without httpx
            raise ImportError(
                "orrery.Client needs httpx: pip install 'orrery[client]' (or httpx)"
            ) from e
        key = api_key if api_key is not None else os.environ.get("ORRERY_API_KEY")
        headers = {"accept": "application/json"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        """Closes the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({str(self._http.base_url)!r})"

    # Graphs.

    def list_graphs(
        self,
        *,
        page: int = 1,
        limit: int = 20,
        search: str | None = None,
        include_public: bool = False,
    ) -> GraphPage:
        """One page of your graphs (and others' public ones with ``include_public``)."""
        params: dict[str, Any] = {"page": page, "limit": limit}
        if search is not None:
            params["search"] = search
        if include_public:
            params["include_public"] = "true"
        body = self._request("GET", "/api/graphs", params=params)
        return GraphPage(
            graphs=[RemoteGraph._from(g) for g in body["graphs"]],
            total=body["total"],
            page=body["page"],
        )

    def get_graph(self, graph_id: str) -> RemoteGraph:
        """A graph with its current document."""
        return RemoteGraph._from(self._request("GET", f"/api/graphs/{graph_id}")["graph"])

    def create_graph(
        self,
        name: str,
        graph: GraphLike,
        *,
        description: str | None = None,
        is_public: bool = False,
        is_custom_agent: bool = False,
        agent_id: str | None = None,
    ) -> RemoteGraph:
        """Saves a new graph. A graph with error diagnostics is refused: :class:`ApiError` 422
        with every diagnostic."""
        body: dict[str, Any] = {
            "name": name,
            "graph_data": _document(graph),
            "is_public": is_public,
            "is_custom_agent": is_custom_agent,
        }
        if description is not None:
            body["description"] = description
        if agent_id is not None:
            body["agent_id"] = agent_id
        return RemoteGraph._from(self._request("POST", "/api/graphs", json=body)["graph"])

    def update_graph(
        self,
        graph_id: str,
        graph: GraphLike | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        is_public: bool | None = None,
        base_version: str | None = None,
        force: bool = False,
    ) -> RemoteGraph:
        """Changes a graph you own: a new document is a new version. With ``base_version`` (the
        version you edited) a concurrent change is an :class:`ApiError` 409 instead of being
        overwritten; ``force`` publishes an agent interface that breaks its callers."""
        body: dict[str, Any] = {}
        if graph is not None:
            body["graph_data"] = _document(graph)
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        if is_public is not None:
            body["is_public"] = is_public
        if base_version is not None:
            body["base_version"] = base_version
        params = {"force": "true"} if force else None
        answer = self._request("PUT", f"/api/graphs/{graph_id}", json=body, params=params)
        return RemoteGraph._from(answer["graph"])

    def delete_graph(self, graph_id: str) -> None:
        """Deletes a graph you own, with its versions."""
        self._request("DELETE", f"/api/graphs/{graph_id}")

    def validate(self, graph: GraphLike) -> Validation:
        """Validates a document on the server without saving it (custom agents resolve as
        your account sees them)."""
        body = self._request("POST", "/api/graphs/validate", json={"graph_data": _document(graph)})
        return Validation(
            valid=body["valid"],
            digest=body["digest"],
            diagnostics=[RemoteDiagnostic._from(d) for d in body["diagnostics"]],
        )

    def layout(self, graph_id: str, *, seed: int = 0, version: str | None = None) -> RemoteLayout:
        """3D positions of a saved graph's nodes, computed by the server (the same engine and
        positions as ``Graph.layout(seed)``)."""
        params: dict[str, Any] = {"seed": seed}
        if version is not None:
            params["version"] = version
        body = self._request("GET", f"/api/graphs/{graph_id}/layout", params=params)
        positions = np.asarray(body["positions"], dtype=np.float32).reshape(-1, 3)
        return RemoteLayout(
            version=body["version"], seed=body["seed"], nodes=body["nodes"], positions=positions
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_success:
            return response.json() if response.content else None
        try:
            problem = response.json()
        except ValueError:
            problem = None
        if not isinstance(problem, dict):
            problem = {
                "type": "about:blank",
                "title": response.reason_phrase,
                "status": response.status_code,
                "detail": response.text[:500],
            }
        problem.setdefault("status", response.status_code)
        raise ApiError(problem)


def _document(graph: GraphLike) -> Any:
    """The document as JSON for a request body, checked locally first (a document that does not
    parse raises :class:`orrery.ParseError` here, with its line and column)."""
    if isinstance(graph, Graph):
        return graph.to_dict()
    if isinstance(graph, dict):
        return graph
    return json.loads(Graph.from_json(graph).to_json())


def _where(location: dict[str, Any]) -> str:
    prefix = "".join(f"{step['node']}/" for step in location.get("path", []))
    if "node" in location:
        port = f".{location['port']}" if "port" in location else ""
        return f"{prefix}{location['node']}{port}"
    if "edge" in location:
        return f"{prefix}edges[{location['edge']}]"
    if "group" in location:
        return f"{prefix}groups[{location['group']}]"
    return f"{prefix}graph"

"""Type stubs of the extension module ``orrery._orrery`` (checked against the built module by
``python -m mypy.stubtest orrery._orrery``)."""

import os
from typing import Any, Literal, Union, final

import numpy as np
from numpy.typing import ArrayLike, NDArray

__version__: str
__all__ = [
    "__version__",
    "AgentRef",
    "AgentRegistry",
    "Diagnostic",
    "Diff",
    "Edge",
    "Graph",
    "Group",
    "InputPort",
    "LayoutError",
    "Location",
    "NestingError",
    "Node",
    "OrreryError",
    "OrreryIOError",
    "OutputPort",
    "ParseError",
    "RenderError",
    "Step",
    "ValidationError",
    "report",
]

_Agents = Union[AgentRegistry, dict[str, Union[Graph, str, bytes, dict[str, Any]]], str, os.PathLike[str]]
_Int = int

@final
class Graph:
    """A workflow graph: nodes with typed ports joined by edges. Immutable."""

    @staticmethod
    def from_json(data: Union[str, bytes, bytearray, dict[str, Any]]) -> Graph: ...
    @staticmethod
    def load(path: Union[str, os.PathLike[str]]) -> Graph: ...
    def to_json(self, pretty: bool = False) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...
    def canonical_json(self) -> str: ...
    @property
    def digest(self) -> str: ...
    @property
    def nodes(self) -> list[Node]: ...
    @property
    def edges(self) -> list[Edge]: ...
    @property
    def groups(self) -> list[Group]: ...
    @property
    def ui(self) -> Any: ...
    @property
    def node_ids(self) -> list[str]: ...
    def node(self, id: str) -> Node | None: ...
    def validate(self, agents: _Agents | None = None) -> list[Diagnostic]: ...
    def check(self, agents: _Agents | None = None) -> list[Diagnostic]: ...
    def flatten(self, agents: _Agents | None = None) -> Graph: ...
    def diff(
        self,
        other: Union[Graph, str, bytes, dict[str, Any]],
        agents: _Agents | None = None,
    ) -> Diff: ...
    def layout(
        self,
        seed: int = 0,
        iterations: int | None = None,
        initial: ArrayLike | None = None,
    ) -> NDArray[np.float32]: ...
    def render_png(
        self,
        width: int = 1280,
        height: int = 720,
        positions: ArrayLike | None = None,
        theme: Literal["dark", "light"] = "dark",
        seed: int = 0,
    ) -> bytes: ...
    def _repr_png_(self) -> bytes | None: ...
    def to_networkx(self) -> Any: ...
    @staticmethod
    def from_networkx(graph: Any) -> Graph: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Any, tuple[str]]: ...

@final
class Diff:
    """The structural differences between two graphs."""

    @property
    def changes(self) -> list[dict[str, Any]]: ...
    def __len__(self) -> int: ...
    def __bool__(self) -> bool: ...

@final
class Node:
    """One node of a graph (read-only)."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def label(self) -> str | None: ...
    @property
    def inputs(self) -> list[InputPort]: ...
    @property
    def outputs(self) -> list[OutputPort]: ...
    @property
    def agent(self) -> AgentRef | None: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def position(self) -> tuple[float, float, float] | None: ...
    @property
    def ui(self) -> Any: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class InputPort:
    """An input port: where edges arrive."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def required(self) -> bool: ...
    @property
    def multiple(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class OutputPort:
    """An output port: where edges leave."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Edge:
    """An edge from an output port (``from_``) to an input port (``to``), each ``node.port``."""

    @property
    def from_(self) -> str: ...
    @property
    def to(self) -> str: ...
    @property
    def from_node(self) -> str | None: ...
    @property
    def from_port(self) -> str | None: ...
    @property
    def to_node(self) -> str | None: ...
    @property
    def to_port(self) -> str | None: ...
    @property
    def ui(self) -> Any: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class AgentRef:
    """Which custom agent a ``subgraph`` node or a group stands for."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Group:
    """A group of a flattened graph: the nodes ``id/…`` were inlined from ``agent``."""

    @property
    def id(self) -> str: ...
    @property
    def agent(self) -> AgentRef: ...
    @property
    def label(self) -> str | None: ...
    @property
    def position(self) -> tuple[float, float, float] | None: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Diagnostic:
    """One problem found in a graph."""

    @property
    def code(self) -> str: ...
    @property
    def severity(self) -> Literal["error", "warning"]: ...
    @property
    def is_error(self) -> bool: ...
    @property
    def message(self) -> str: ...
    @property
    def help(self) -> str: ...
    @property
    def location(self) -> Location: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Location:
    """Where a diagnostic points."""

    @property
    def path(self) -> list[Step]: ...
    @property
    def node(self) -> str | None: ...
    @property
    def port(self) -> str | None: ...
    @property
    def direction(self) -> Literal["input", "output"] | None: ...
    @property
    def edge(self) -> int | None: ...
    @property
    def group(self) -> str | None: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Step:
    """One step down the nesting: the ``subgraph`` node and the agent version it resolved to."""

    @property
    def node(self) -> str: ...
    @property
    def agent(self) -> str: ...
    @property
    def version(self) -> str: ...

@final
class AgentRegistry:
    """Custom agents by id, each with its versions."""

    def __new__(
        cls,
        agents: Union[dict[str, Union[Graph, str, bytes, dict[str, Any]]], str, os.PathLike[str], None] = None,
    ) -> AgentRegistry: ...
    @staticmethod
    def from_dir(path: Union[str, os.PathLike[str]]) -> AgentRegistry: ...
    def insert(
        self, id: str, graph: Union[Graph, str, bytes, dict[str, Any]], pinned: bool = False
    ) -> str: ...
    def get(self, id: str) -> Graph | None: ...
    @property
    def ids(self) -> list[str]: ...
    def __len__(self) -> int: ...
    def __contains__(self, id: str, /) -> bool: ...

def report(diagnostics: list[Diagnostic], source: str = "graph") -> str: ...

class OrreryError(Exception):
    """Base class of every error Orrery raises."""

class ParseError(OrreryError):
    """A document that is not a graph document."""

    line: int | None
    column: int | None
    path: str | None

class ValidationError(OrreryError):
    """A graph with error diagnostics where a valid one is needed."""

    diagnostics: list[Diagnostic] | None

class NestingError(OrreryError):
    """Custom agents could not be inlined."""

    node: str | None

class OrreryIOError(OrreryError):
    """A file or directory could not be read."""

    path: str | None

class LayoutError(OrreryError):
    """A graph that cannot be laid out, or initial positions that do not fit it."""

class RenderError(OrreryError):
    """A picture could not be drawn."""

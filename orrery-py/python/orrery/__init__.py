"""Orrery: design, nest, validate, lay out and render AI-agent workflow graphs.

The engine is Rust (``orrery._orrery``, built from ``orrery-py/`` with maturin); this package
re-exports it and adds the client of the hosted API.

>>> import orrery
>>> graph = orrery.Graph.load("examples/graphs/rag-pipeline.json")
>>> graph.validate()
[]
>>> graph.layout(seed=7).shape
(9, 3)

Start with :class:`Graph`; custom agents come from an :class:`AgentRegistry`; every error is an
:class:`OrreryError`. ``Client`` needs ``httpx`` (``pip install 'orrery[client]'``), and
``Graph.to_networkx``/``from_networkx`` need ``networkx``.
"""

from ._orrery import (
    AgentRef,
    AgentRegistry,
    Diagnostic,
    Diff,
    Edge,
    Graph,
    Group,
    InputPort,
    LayoutError,
    Location,
    NestingError,
    Node,
    OrreryError,
    OrreryIOError,
    OutputPort,
    ParseError,
    RenderError,
    Step,
    ValidationError,
    __version__,
    report,
)
from .client import ApiError, Client

#: Reads a graph document from a file: ``orrery.load(path)`` is ``Graph.load(path)``.
load = Graph.load
#: Reads a graph document from JSON text or a dict: ``Graph.from_json``.
from_json = Graph.from_json

__all__ = [
    "AgentRef",
    "AgentRegistry",
    "ApiError",
    "Client",
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
    "__version__",
    "from_json",
    "load",
    "report",
]

"""Diagram stage: a definition dict in, a Mermaid flowchart or a Graphviz DOT graph out.

Works on the raw definition (as ``loader.load_source`` returns it) and never imports the
runtime, so it stays fast and draws even definitions that do not validate as far as it can:
fields that are missing or of the wrong type are skipped instead of failing (``sm graph``
validates first and refuses to draw an invalid one). Parallel branches and Map item processors
are drawn as nested clusters (Mermaid ``subgraph``, DOT ``cluster_*``), entered from their
state by a dashed edge, and their end states lead on to that state's successor (its Next, or
the enclosing scope's exit when it ends), where the branches join again. Edges into a cluster
carry no label (the cluster's title names it); in DOT they end at the cluster's border (a
rank below their state, so they have a visible length), and
the edges that leave it start there (``compound``), so no edge crosses a title; one font.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from typing import Final, Literal

from statemachine.values import JSON

Format = Literal["mermaid", "dot"]

START: Final = "__start"
END: Final = "__end"
_LABEL_LIMIT: Final = 48
#: The one font of DOT diagrams (fontconfig picks the nearest installed sans-serif).
FONT: Final = "Helvetica"


@dataclasses.dataclass(frozen=True, slots=True)
class Node:
    id: str
    name: str
    type: str


@dataclasses.dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    label: str = ""
    dashed: bool = False
    head_cluster: str = ""  # DOT: clip the edge at this cluster's border (it enters it)
    tail_cluster: str = ""  # DOT: the edge starts at this cluster's border (it leaves it)


@dataclasses.dataclass(frozen=True, slots=True)
class Exit:
    """Where the end states of a scope lead: a node, leaving the cluster ``cluster`` (the
    outermost one the edge leaves; "" for the machine's own End)."""

    node: str
    cluster: str = ""


@dataclasses.dataclass(slots=True)
class Cluster:
    """A nested scope: a Parallel branch or a Map item processor (or the machine itself)."""

    id: str
    label: str
    nodes: list[Node] = dataclasses.field(default_factory=list)
    clusters: list[Cluster] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True)
class Graph:
    root: Cluster
    edges: list[Edge] = dataclasses.field(default_factory=list)
    _count: int = 0

    def new_id(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"


def build_graph(definition: Mapping[str, JSON]) -> Graph:
    """The states of ``definition`` as nodes, edges and nested clusters (no rendering yet)."""
    graph = Graph(root=Cluster(id="root", label=""))
    start = _add_scope(graph, graph.root, definition, Exit(END))
    if start is not None:
        graph.edges.insert(0, Edge(START, start))
    return graph


def _add_scope(graph: Graph, cluster: Cluster, scope: Mapping[str, JSON], exit: Exit | None) -> str | None:
    """Add the states of one scope (machine, branch, processor); returns the StartAt node id.
    ``exit``: where its end states lead (None when the owner's successor is unknown)."""
    states = scope.get("States")
    if not isinstance(states, Mapping):
        return None
    ids = {name: graph.new_id("s") for name in states}
    for name, state in states.items():
        if isinstance(state, Mapping):
            _add_state(graph, cluster, ids, str(name), state, exit)
    return ids.get(scope.get("StartAt"))


def _add_state(graph: Graph, cluster: Cluster, ids: Mapping[str, str], name: str,
               state: Mapping[str, JSON], exit: Exit | None) -> None:
    kind = state.get("Type")
    node = Node(ids[name], name, kind if isinstance(kind, str) else "?")
    cluster.nodes.append(node)
    joined = _add_children(graph, cluster, node, state, exit, ids)
    for target, label, dashed in _transitions(state):
        if isinstance(target, str) and target in ids and not (joined and target == state.get("Next") and not label):
            graph.edges.append(Edge(node.id, ids[target], label, dashed))
    if exit is None or joined:
        return
    if node.type == "Fail" and exit == Exit(END):  # the machine's own Fail states only
        graph.edges.append(Edge(node.id, END, "fail"))
    elif state.get("End") is True or node.type == "Succeed":
        graph.edges.append(Edge(node.id, exit.node, tail_cluster=exit.cluster))


def _add_children(graph: Graph, cluster: Cluster, node: Node, state: Mapping[str, JSON],
                  exit: Exit | None, ids: Mapping[str, str]) -> bool:
    """Draw a Parallel's branches or a Map's item processor as clusters entered from ``node``
    and joining again at the state's successor; True when some end state was joined to it."""
    joined = False
    for label, scope in _children(state):
        child = Cluster(id=graph.new_id("c"), label=f"{node.name}: {label}")
        cluster.clusters.append(child)
        successor = _successor(state, ids, exit, child.id)
        before = len(graph.edges)
        start = _add_scope(graph, child, scope, successor)
        joined = joined or (successor is not None and any(e.target == successor.node for e in graph.edges[before:]))
        if start is not None:
            graph.edges.append(Edge(node.id, start, dashed=True, head_cluster=child.id))
    return joined


def _successor(state: Mapping[str, JSON], ids: Mapping[str, str], exit: Exit | None, cluster: str) -> Exit | None:
    """Where a branch of ``state`` leads when it ends: the state's Next, or (the state ends
    its scope) the scope's own exit, leaving the outermost cluster on the way."""
    target = state.get("Next")
    if isinstance(target, str):
        return Exit(ids[target], cluster) if target in ids else None
    if state.get("End") is True and exit is not None:
        return Exit(exit.node, exit.cluster or cluster)
    return None


def _transitions(state: Mapping[str, JSON]) -> list[tuple[JSON, str, bool]]:
    """(target, label, dashed) for Next, Choice rules, Default and Catch."""
    found: list[tuple[JSON, str, bool]] = []
    choices = state.get("Choices")
    if isinstance(choices, list):
        for rule in choices:
            if isinstance(rule, Mapping):
                found.append((rule.get("Next"), rule_label(rule), False))
    if "Default" in state:
        found.append((state.get("Default"), "default", False))
    if "Next" in state:
        found.append((state.get("Next"), "", False))
    catchers = state.get("Catch")
    if isinstance(catchers, list):
        for catcher in catchers:
            if isinstance(catcher, Mapping):
                errors = catcher.get("ErrorEquals")
                names = ", ".join(map(str, errors)) if isinstance(errors, list) else "?"
                found.append((catcher.get("Next"), _shorten(f"catch {names}"), True))
    return found


def _children(state: Mapping[str, JSON]) -> list[tuple[str, Mapping[str, JSON]]]:
    """Nested scopes: Parallel branches, or a Map's ItemProcessor (legacy: Iterator)."""
    branches = state.get("Branches")
    if isinstance(branches, list):
        return [
            (f"branch {i}", branch)
            for i, branch in enumerate(branches, start=1)
            if isinstance(branch, Mapping)
        ]
    processor = state.get("ItemProcessor", state.get("Iterator"))
    if isinstance(processor, Mapping):
        return [("each item", processor)]
    return []


def rule_label(rule: Mapping[str, JSON]) -> str:
    """A short text for a Choice rule: ``$.n > 3``, ``And(2)``, or the JSONata Condition."""
    condition = rule.get("Condition")
    if isinstance(condition, str):
        return _shorten(condition.removeprefix("{%").removesuffix("%}").strip())
    for combinator in ("And", "Or"):
        if isinstance(rule.get(combinator), list):
            return f"{combinator}({len(rule[combinator])})"
    if isinstance(rule.get("Not"), Mapping):
        return _shorten(f"Not {rule_label(rule['Not'])}")
    skip = {"Variable", "Next", "Comment", "Assign", "Output"}
    operator = next((key for key in rule if key not in skip), "?")
    value = json.dumps(rule.get(operator), ensure_ascii=False)
    return _shorten(f"{rule.get('Variable', '?')} {operator} {value}")


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _LABEL_LIMIT else text[: _LABEL_LIMIT - 1] + "…"


# -- Mermaid -----------------------------------------------------------------------------

_MERMAID_SHAPES: Final[Mapping[str, tuple[str, str]]] = {
    "Choice": ("{", "}"),
    "Task": ("(", ")"),
    "Wait": ("[/", "/]"),
    "Succeed": ("([", "])"),
    "Fail": ("[[", "]]"),
    "Parallel": ("[[", "]]"),
    "Map": ("[[", "]]"),
}


def _mermaid_text(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def _mermaid_node(node: Node) -> str:
    left, right = _MERMAID_SHAPES.get(node.type, ("[", "]"))
    return f"{node.id}{left}{_mermaid_text(f'{node.name}<br/><i>{node.type}</i>')}{right}"


def _mermaid_cluster(cluster: Cluster, indent: str, lines: list[str]) -> None:
    for node in cluster.nodes:
        lines.append(indent + _mermaid_node(node))
        if node.type == "Fail":
            lines.append(f"{indent}class {node.id} fail")
    for child in cluster.clusters:
        lines.append(f"{indent}subgraph {child.id}[{_mermaid_text(child.label)}]")
        _mermaid_cluster(child, indent + "  ", lines)
        lines.append(f"{indent}end")


def _mermaid_edge(edge: Edge) -> str:
    arrow = "-.->" if edge.dashed else "-->"
    label = f"|{_mermaid_text(edge.label)}|" if edge.label else ""
    return f"  {edge.source} {arrow}{label} {edge.target}"


def to_mermaid(definition: Mapping[str, JSON]) -> str:
    """A Mermaid ``flowchart`` of the definition (paste into Markdown or mermaid.live)."""
    graph = build_graph(definition)
    lines = ["flowchart TD", f"  {START}(((Start)))", f"  {END}(((End)))"]
    _mermaid_cluster(graph.root, "  ", lines)
    lines.extend(_mermaid_edge(edge) for edge in graph.edges)
    lines.append("  classDef fail stroke:#c00,color:#c00")
    return "\n".join(lines) + "\n"


# -- Graphviz DOT ------------------------------------------------------------------------

_DOT_SHAPES: Final[Mapping[str, str]] = {
    "Choice": "diamond",
    "Wait": "parallelogram",
    "Succeed": "doublecircle",
    "Fail": "doubleoctagon",
    "Parallel": "box3d",
    "Map": "box3d",
}


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dot_cluster(cluster: Cluster, indent: str, lines: list[str]) -> None:
    for node in cluster.nodes:
        shape = _DOT_SHAPES.get(node.type, "box")
        label = _dot_text(f"{node.name}\n{node.type}")
        lines.append(f"{indent}{node.id} [label={label}, shape={shape}];")
    for child in cluster.clusters:
        lines.append(f"{indent}subgraph cluster_{child.id} {{")
        lines.append(f"{indent}  label={_dot_text(child.label)}; style=rounded;")
        _dot_cluster(child, indent + "  ", lines)
        lines.append(f"{indent}}}")


def _dot_edge(edge: Edge) -> str:
    attributes = [f"label={_dot_text(edge.label)}"] if edge.label else []
    if edge.dashed:
        attributes.append("style=dashed")
    if edge.head_cluster:
        # minlen=2: one rank between the state and its cluster's first node holds the title;
        # with the default 1 the border touches the state and the edge has no length at all
        # (its arrowhead drawn over the state's label)
        attributes.extend((f"lhead=cluster_{edge.head_cluster}", "minlen=2"))
    if edge.tail_cluster:
        attributes.append(f"ltail=cluster_{edge.tail_cluster}")
    suffix = f" [{', '.join(attributes)}]" if attributes else ""
    return f"  {edge.source} -> {edge.target}{suffix};"


def to_dot(definition: Mapping[str, JSON]) -> str:
    """A Graphviz ``digraph`` of the definition (render with ``dot -Tsvg``)."""
    graph = build_graph(definition)
    lines = [
        "digraph statemachine {",
        "  rankdir=TB;",
        "  compound=true;",  # edges may end at a cluster's border (lhead/ltail)
        # One font for everything: Graphviz's default for cluster titles and edge labels is
        # Times, beside the nodes' sans-serif.
        f"  graph [fontname={_dot_text(FONT)}, labeljust=l];",
        f"  node [fontname={_dot_text(FONT)}, style=rounded];",
        f"  edge [fontname={_dot_text(FONT)}, fontsize=11];",
        f'  {START} [label="Start", shape=circle];',
        f'  {END} [label="End", shape=doublecircle];',
    ]
    _dot_cluster(graph.root, "  ", lines)
    lines.extend(_dot_edge(edge) for edge in graph.edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


RENDERERS: Final[Mapping[str, Callable[[Mapping[str, JSON]], str]]] = {
    "mermaid": to_mermaid,
    "dot": to_dot,
}


def render(definition: Mapping[str, JSON], format: Format = "mermaid") -> str:
    """Render ``definition`` in ``format`` ("mermaid" or "dot"); raises ValueError otherwise."""
    try:
        renderer = RENDERERS[format]
    except KeyError:
        raise ValueError(
            f"unknown graph format {format!r}; use one of {sorted(RENDERERS)}"
        ) from None
    return renderer(definition)

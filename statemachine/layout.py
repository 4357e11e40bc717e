"""Diagram stage for the web console: a definition dict in, a positioned drawing out.

``layout(definition)`` takes the graph of ``statemachine.graph.build_graph`` (the model ``sm
graph`` draws) and computes a layered top-to-bottom layout (Sugiyama style: loops turned
into back edges, longest-path layers, dummy nodes on long edges, barycentric ordering to
reduce crossings, coordinates by least-squares placement under the layers' order). A Parallel
or Map state is drawn as a box holding its branches (item processor) side by side, each
branch laid out the same way and ending in a join point at its bottom; the box leads on to
the state's successor. The result is plain JSON (pixels, origin top left) for the console's
SVG renderer::

    {"width", "height",
     "nodes": [{"id", "name", "type", "kind", "x", "y", "width", "height"}],
     "lanes": [{"id", "label", "owner", "x", "y", "width", "height"}],
     "edges": [{"source", "target", "label", "dashed", "back", "points": [[x, y], ...]}]}

``kind`` is "state", "compound" (a Parallel/Map box), "start", "end" or "join"; ``x``/``y``
are a node's top-left corner. Forward edges run from a bottom port to a top port through
``points`` (draw smooth vertical curves between them); back edges (``back``: a loop) leave
the source's right side and enter the target's right side (draw orthogonal segments).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from statemachine.graph import END, START, Cluster, Graph, build_graph
from statemachine.values import JSON

__all__ = ["layout"]

_CHAR: Final = 7.4          # average width of a 13px sans-serif character
_GAP_X: Final = 28.0        # between neighbours in a layer
_GAP_Y: Final = 46.0        # between layers (edge labels sit there)
_STATE_H: Final = 46.0
_HEADER: Final = 32.0       # a compound box's title
_PAD: Final = 12.0
_LANE_TITLE: Final = 20.0
_SWEEPS: Final = 8
_LABEL_H: Final = 18.0


@dataclasses.dataclass(slots=True)
class _Node:
    id: str
    name: str
    type: str
    kind: str
    width: float
    height: float
    x: float = 0.0              # centre, relative to the scope until placed
    y: float = 0.0              # top
    lanes: list[_Scope] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True)
class _Edge:
    source: str
    target: str
    label: str = ""
    dashed: bool = False
    back: bool = False
    points: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    label_at: tuple[float, float] | None = None   # the centre of its label


@dataclasses.dataclass(slots=True)
class _Scope:
    id: str
    label: str
    nodes: dict[str, _Node] = dataclasses.field(default_factory=dict)
    edges: list[_Edge] = dataclasses.field(default_factory=list)
    width: float = 0.0
    height: float = 0.0
    x: float = 0.0              # top-left, set when placed
    y: float = 0.0


def layout(definition: Mapping[str, JSON]) -> dict[str, Any]:
    """The positioned drawing of ``definition`` (see the module docstring). Works on raw
    definitions like ``graph.build_graph``: what cannot be drawn is left out, never raised."""
    graph = build_graph(definition)
    root = _scopes(graph)
    _measure(root)
    _place(root, 0.0, 0.0)
    out: dict[str, Any] = {"width": round(root.width), "height": round(root.height),
                           "nodes": [], "lanes": [], "edges": []}
    _emit(root, out, owner="")
    return out


# -- the model: scopes with their own nodes and edges ----------------------------------------

def _scopes(graph: Graph) -> _Scope:
    """Scopes (root and one per branch) holding their nodes, with every edge moved into one
    scope: an edge leaving a branch becomes an edge to the branch's join point plus an edge
    from the Parallel/Map box to the target."""
    root = _Scope("root", "")
    scope_of: dict[str, _Scope] = {}
    owner: dict[str, str] = {e.head_cluster: e.source for e in graph.edges if e.head_cluster}
    _collect(graph.root, root, scope_of, owner)
    for node_id, name, kind in ((START, "Start", "start"), (END, "End", "end")):
        root.nodes[node_id] = _Node(node_id, name, "", kind, 64.0, 28.0)
        scope_of[node_id] = root
    seen: set[tuple[str, str, str, str]] = set()
    for edge in graph.edges:
        if edge.head_cluster or edge.source not in scope_of or edge.target not in scope_of:
            continue
        _route_edge(edge.source, edge.target, edge.label, edge.dashed, scope_of, owner, seen)
    return root


def _collect(cluster: Cluster, scope: _Scope, scope_of: dict[str, _Scope],
             owner: Mapping[str, str]) -> None:
    for node in cluster.nodes:
        width = min(max(len(node.name) * _CHAR + 36, 120.0), 260.0)
        scope.nodes[node.id] = _Node(node.id, node.name, node.type, "state", width, _STATE_H)
        scope_of[node.id] = scope
    for child in cluster.clusters:
        parent = scope.nodes.get(owner.get(child.id, ""))
        if parent is None:
            continue  # a branch without StartAt: nothing enters it, nothing to draw
        lane = _Scope(child.id, child.label.partition(": ")[2] or child.label)
        parent.kind = "compound"
        parent.lanes.append(lane)
        _collect(child, lane, scope_of, owner)


def _route_edge(source: str, target: str, label: str, dashed: bool,
                scope_of: Mapping[str, _Scope], owner: Mapping[str, str],
                seen: set[tuple[str, str, str, str]]) -> None:
    goal = scope_of[target]
    scope = scope_of[source]
    while scope is not goal:
        if scope.id not in owner or owner[scope.id] not in scope_of:
            return  # the target is not in an enclosing scope: not drawable
        join = f"{scope.id}__join"
        scope.nodes.setdefault(join, _Node(join, "", "", "join", 10.0, 10.0))
        _add_edge(scope, _Edge(source, join), seen)
        source = owner[scope.id]
        scope = scope_of[source]
    _add_edge(scope, _Edge(source, target, label, dashed), seen)


def _add_edge(scope: _Scope, edge: _Edge, seen: set[tuple[str, str, str, str]]) -> None:
    key = (scope.id, edge.source, edge.target, edge.label)
    if key not in seen:
        seen.add(key)
        scope.edges.append(edge)


# -- measuring: lay out each scope, innermost first ------------------------------------------

def _measure(scope: _Scope) -> None:
    for node in scope.nodes.values():
        if node.lanes:
            for lane in node.lanes:
                _measure(lane)
                lane.width += 2 * _PAD
                lane.height += _LANE_TITLE + _PAD
            lanes_width = sum(lane.width for lane in node.lanes) + _PAD * (len(node.lanes) + 1)
            node.width = max(lanes_width, len(node.name) * _CHAR + 90)
            node.height = _HEADER + max(lane.height for lane in node.lanes) + _PAD
    _Layered(scope).run()


class _Layered:
    """The layered layout of one scope's nodes (sizes known) and edges."""

    def __init__(self, scope: _Scope) -> None:
        self.scope = scope
        self.nodes = scope.nodes
        self.order: list[str] = list(scope.nodes)
        self.rank: dict[str, int] = {}
        self.layers: list[list[str]] = []
        self.dummies: dict[str, tuple[float, float]] = {}   # id -> (width, height)
        self.chains: list[tuple[_Edge, list[str]]] = []       # forward edge -> its node path
        self.weights: dict[str, float] = {}                   # dummies of catch edges pull less
        self.dashed: dict[tuple[str, str], float] = {}        # so do the catch edges themselves

    def run(self) -> None:
        if not self.nodes:
            return
        self._break_cycles()
        self._rank()
        self._split_long_edges()
        self._order_layers()
        xs = self._x_positions()
        tops, heights = self._layer_tops()
        self._finish(xs, tops, heights)

    # cycles: a depth-first search from the entry marks edges back to an open node
    def _break_cycles(self) -> None:
        out: dict[str, list[_Edge]] = {n: [] for n in self.nodes}
        for edge in self.scope.edges:
            out[edge.source].append(edge)
        indegree = {n: 0 for n in self.nodes}
        for edge in self.scope.edges:
            indegree[edge.target] += 1
        roots = [n for n in self.order if indegree[n] == 0] + self.order
        state: dict[str, int] = {}
        visit: list[str] = []
        for root in roots:
            if root not in state:
                self._dfs(root, out, state, visit)
        self.order = visit

    def _dfs(self, start: str, out: Mapping[str, list[_Edge]], state: dict[str, int],
             visit: list[str]) -> None:
        stack: list[tuple[str, int]] = [(start, 0)]
        state[start] = 1
        visit.append(start)
        while stack:
            node, index = stack.pop()
            if index < len(out[node]):
                stack.append((node, index + 1))
                edge = out[node][index]
                if state.get(edge.target) == 1:
                    edge.back = True
                elif edge.target not in state:
                    state[edge.target] = 1
                    visit.append(edge.target)
                    stack.append((edge.target, 0))
            else:
                state[node] = 2

    def _forward(self) -> list[_Edge]:
        return [e for e in self.scope.edges if not e.back and e.source != e.target]

    def _rank(self) -> None:
        # a labelled edge spans two layers at least: its label sits in the one between
        preds: dict[str, list[tuple[str, int]]] = {n: [] for n in self.nodes}
        for edge in self._forward():
            preds[edge.target].append((edge.source, 2 if edge.label else 1))
        rank: dict[str, int] = {}

        def depth(node: str) -> int:
            if node not in rank:
                rank[node] = 0  # guards against a cycle the search missed
                rank[node] = max((depth(p) + span for p, span in preds[node]), default=0)
            return rank[node]

        for node in self.order:
            depth(node)
        bottom = max(rank.values())
        for item in self.nodes.values():
            if item.kind in ("end", "join"):
                rank[item.id] = max(bottom, rank[item.id])
        self.rank = rank

    def _split_long_edges(self) -> None:
        count = 1 + max(self.rank.values())
        self.layers = [[] for _ in range(count)]
        for node in self.order:
            self.layers[self.rank[node]].append(node)
        for index, edge in enumerate(self._forward()):
            path = [edge.source]
            for layer in range(self.rank[edge.source] + 1, self.rank[edge.target]):
                dummy = f"__d{index}_{layer}"
                labelled = bool(edge.label) and not path[1:]
                self.dummies[dummy] = (label_width(edge.label) + 8, _LABEL_H) if labelled else (12.0, 0.0)
                self.weights[dummy] = 0.2 if edge.dashed else 0.6
                self.layers[layer].append(dummy)
                path.append(dummy)
            path.append(edge.target)
            self.chains.append((edge, path))

    # ordering: barycentre sweeps, keeping the order with the fewest crossings
    def _links(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        up: dict[str, list[str]] = {}
        down: dict[str, list[str]] = {}
        for edge, path in self.chains:
            for a, b in itertools.pairwise(path):
                if edge.dashed:
                    self.dashed[(a, b)] = self.dashed[(b, a)] = 0.3
                down.setdefault(a, []).append(b)
                up.setdefault(b, []).append(a)
        return up, down

    def _order_layers(self) -> None:
        up, down = self._links()
        best = [list(layer) for layer in self.layers]
        best_crossings = self._crossings(best, down)
        for sweep in range(_SWEEPS):
            downward = sweep % 2 == 0
            indices = range(1, len(self.layers)) if downward else range(len(self.layers) - 2, -1, -1)
            for i in indices:
                fixed = self.layers[i - 1] if downward else self.layers[i + 1]
                self.layers[i] = _by_barycentre(self.layers[i], fixed, up if downward else down)
            crossings = self._crossings(self.layers, down)
            if crossings < best_crossings:
                best, best_crossings = [list(layer) for layer in self.layers], crossings
        self.layers = best

    @staticmethod
    def _crossings(layers: list[list[str]], down: Mapping[str, list[str]]) -> int:
        total = 0
        for upper, lower in itertools.pairwise(layers):
            where = {n: i for i, n in enumerate(lower)}
            pairs = [(i, where[t]) for i, s in enumerate(upper) for t in down.get(s, ()) if t in where]
            total += sum(1 for a in pairs for b in pairs if a[0] < b[0] and a[1] > b[1])
        return total

    # coordinates: each layer placed as near its neighbours' mean as its order allows
    def _width(self, node: str) -> float:
        return self.dummies[node][0] if node in self.dummies else self.nodes[node].width

    def _x_positions(self) -> dict[str, float]:
        xs: dict[str, float] = {}
        for layer in self.layers:
            xs.update(_packed(layer, [self._width(n) for n in layer], 0.0))
        up, down = self._links()
        for sweep in range(2 * _SWEEPS):
            neighbours = (up, down) if sweep >= _SWEEPS else ((up,) if sweep % 2 == 0 else (down,))
            layers = self.layers if sweep % 2 == 0 else self.layers[::-1]
            for layer in layers:
                wanted = [self._wanted(n, xs, neighbours) for n in layer]
                weights = [self.weights.get(n, 1.0) for n in layer]
                xs.update(_packed(layer, [self._width(n) for n in layer], 0.0, wanted, weights))
        return xs

    def _wanted(self, node: str, xs: Mapping[str, float],
                neighbours: tuple[Mapping[str, list[str]], ...]) -> float:
        """The weighted mean x of a node's neighbours (catch edges pull less)."""
        total = weight = 0.0
        for links in neighbours:
            for other in links.get(node, ()):
                w = min(self.weights.get(node, 1.0), self.weights.get(other, 1.0),
                        self.dashed.get((node, other), 1.0))
                total += w * xs[other]
                weight += w
        return total / weight if weight else xs[node]

    def _layer_tops(self) -> tuple[list[float], list[float]]:
        """Each layer's top and height; layers of edges only (labels) sit closer."""
        heights = [max((self.dummies[n][1] if n in self.dummies else self.nodes[n].height
                        for n in layer), default=0.0) for layer in self.layers]
        edges_only = [all(n in self.dummies for n in layer) for layer in self.layers]
        tops, y = [], 0.0
        for i, height in enumerate(heights):
            tops.append(y)
            near = edges_only[i] or (i + 1 < len(heights) and edges_only[i + 1])
            y += height + (_GAP_Y * 0.4 if near else _GAP_Y)
        return tops, heights

    def _finish(self, xs: dict[str, float], tops: list[float], heights: list[float]) -> None:
        left = min(xs[n] - self._width(n) / 2 for layer in self.layers for n in layer)
        right = max(xs[n] + self._width(n) / 2 for layer in self.layers for n in layer)
        loops = sum(1 for e in self.scope.edges if e.back or e.source == e.target)
        right += 22 + 12 * loops if loops else 0
        for node in self.nodes.values():
            layer = self.rank[node.id]
            node.x = xs[node.id] - left
            node.y = tops[layer] + (heights[layer] - node.height) / 2
        for edge, path in self.chains:
            edge.points = []
            for dummy in path[1:-1]:
                layer = self.rank[edge.source] + len(edge.points) // 2 + 1
                edge.points += [(xs[dummy] - left, tops[layer]),
                                (xs[dummy] - left, tops[layer] + heights[layer])]
                if edge.label and len(edge.points) == 2:
                    edge.label_at = (xs[dummy] - left, tops[layer] + heights[layer] / 2)
        self.scope.width = right - left
        self.scope.height = tops[-1] + heights[-1]


def _by_barycentre(layer: list[str], fixed: list[str], links: Mapping[str, list[str]]) -> list[str]:
    where = {n: i for i, n in enumerate(fixed)}
    keys: dict[str, float] = {}
    for i, node in enumerate(layer):
        linked = [where[m] for m in links.get(node, ()) if m in where]
        keys[node] = sum(linked) / len(linked) if linked else float(i)
    return sorted(layer, key=lambda n: keys[n])


def label_width(label: str) -> float:
    """Pixels an edge label takes (11px text, padded)."""
    return len(label) * 6.2 + 12 if label else 0.0


def _packed(layer: list[str], widths: list[float], start: float,
            wanted: list[float] | None = None, weights: list[float] | None = None) -> dict[str, float]:
    """Centres for ``layer`` in its order, each at least a gap from the last, as near to
    ``wanted`` as possible in least squares (isotonic regression by pooling adjacent
    violators on the positions less their minimal offsets); packed from ``start`` without."""
    offsets, total = [], 0.0
    for i, width in enumerate(widths):
        if i:
            total += widths[i - 1] / 2 + _GAP_X + width / 2
        offsets.append(total)
    if wanted is None:
        return {n: start + off - total / 2 for n, off in zip(layer, offsets, strict=True)}
    blocks: list[tuple[float, float, int]] = []   # (weighted mean, weight, members)
    for want, off, weight in zip(wanted, offsets, weights or [1.0] * len(layer), strict=True):
        blocks.append((want - off, weight, 1))
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean2, w2, n2 = blocks.pop()
            mean1, w1, n1 = blocks.pop()
            blocks.append(((mean1 * w1 + mean2 * w2) / (w1 + w2), w1 + w2, n1 + n2))
    zs = [mean for mean, _, count in blocks for _ in range(count)]
    return {n: z + off for n, z, off in zip(layer, zs, offsets, strict=True)}


# -- placing: absolute coordinates, ports and back-edge routes -------------------------------

def _place(scope: _Scope, left: float, top: float) -> None:
    scope.x, scope.y = left, top
    for node in scope.nodes.values():
        node.x, node.y = left + node.x - node.width / 2, top + node.y
        lane_x = node.x + _PAD
        for lane in node.lanes:
            _place_lane(lane, node, lane_x)
            lane_x += lane.width + _PAD
        if node.lanes:  # centre the lanes in a box widened by its title
            shift = (node.x + node.width - lane_x) / 2
            for lane in node.lanes:
                _shift(lane, shift)
    for edge in scope.edges:
        edge.points = [(left + x, top + y) for x, y in edge.points]
        if edge.label_at is not None:
            edge.label_at = (left + edge.label_at[0], top + edge.label_at[1])
    _route(scope)


def _place_lane(lane: _Scope, owner: _Node, lane_x: float) -> None:
    """Place a branch's box in its Parallel/Map box; all branches as tall as the tallest,
    their join points on their bottom line."""
    _place(lane, lane_x + _PAD, owner.y + _HEADER + _LANE_TITLE)
    lane.x, lane.y = lane_x, owner.y + _HEADER
    lane.height = owner.height - _HEADER - _PAD
    join = lane.nodes.get(f"{lane.id}__join")
    if join is not None:
        join.y = lane.y + lane.height - join.height - 6
        for edge in lane.edges:
            if edge.target == join.id and edge.points:
                edge.points[-1] = (edge.points[-1][0], join.y)


def _shift(scope: _Scope, dx: float) -> None:
    scope.x += dx
    for node in scope.nodes.values():
        node.x += dx
        for lane in node.lanes:
            _shift(lane, dx)
    for edge in scope.edges:
        edge.points = [(x + dx, y) for x, y in edge.points]
        if edge.label_at is not None:
            edge.label_at = (edge.label_at[0] + dx, edge.label_at[1])


def _route(scope: _Scope) -> None:
    """Ports: a node's outgoing edges leave its bottom (incoming enter its top) spread in
    the order of the other ends; loops go round the right of everything they pass."""
    nodes = scope.nodes
    forward = [e for e in scope.edges if not e.back and e.source != e.target]
    outs = _grouped(forward, lambda e: e.source, lambda e: (e.points or [_centre(nodes[e.target])])[0][0])
    ins = _grouped(forward, lambda e: e.target, lambda e: (e.points or [_centre(nodes[e.source])])[-1][0])
    for edge in forward:
        source, target = nodes[edge.source], nodes[edge.target]
        start = (_port(source, outs[edge.source].index(edge), len(outs[edge.source])), source.y + source.height)
        end = (_port(target, ins[edge.target].index(edge), len(ins[edge.target])), target.y)
        edge.points = [start, *edge.points, end]
    loops = [e for e in scope.edges if e.back or e.source == e.target]
    for lane_index, edge in enumerate(loops):
        source, target = nodes[edge.source], nodes[edge.target]
        low = min(source.y, target.y)
        high = max(source.y + source.height, target.y + target.height)
        passed = [n.x + n.width for n in nodes.values() if n.y < high and n.y + n.height > low]
        x = max(passed) + 18 + 12 * lane_index
        sy, ty = source.y + source.height / 2, target.y + target.height / 2 - (6 if edge.source == edge.target else 0)
        edge.points = [(source.x + source.width, sy + (6 if edge.source == edge.target else 0)),
                       (x, sy + (6 if edge.source == edge.target else 0)), (x, ty),
                       (target.x + target.width, ty)]


def _centre(node: _Node) -> tuple[float, float]:
    return (node.x + node.width / 2, node.y + node.height / 2)


def _grouped(edges: Iterable[_Edge], key: Callable[[_Edge], str],
             position: Callable[[_Edge], float]) -> dict[str, list[_Edge]]:
    groups: dict[str, list[_Edge]] = {}
    for edge in edges:
        groups.setdefault(key(edge), []).append(edge)
    for group in groups.values():
        group.sort(key=position)
    return groups


def _port(node: _Node, index: int, count: int) -> float:
    if count == 1 or node.kind in ("start", "end", "join"):
        return node.x + node.width / 2
    span = min(node.width * 0.7, 22.0 * (count - 1))
    return node.x + node.width / 2 - span / 2 + span * index / (count - 1)


# -- output ----------------------------------------------------------------------------------

def _label_at(edge: _Edge) -> list[float] | None:
    if not edge.label or len(edge.points) < 2:
        return None
    if edge.label_at is not None:
        x, y = edge.label_at
    elif edge.back:
        x, y = edge.points[1][0], (edge.points[1][1] + edge.points[2][1]) / 2
    else:
        (x0, y0), (x1, y1) = edge.points[0], edge.points[1]
        x, y = (x0 + x1) / 2, (y0 + y1) / 2
    return [round(x, 1), round(y, 1)]


def _emit(scope: _Scope, out: dict[str, Any], owner: str) -> None:
    if owner:
        out["lanes"].append({"id": scope.id, "label": scope.label, "owner": owner,
                             "x": round(scope.x, 1),
                             "y": round(scope.y, 1), "width": round(scope.width, 1),
                             "height": round(scope.height, 1)})
    for node in scope.nodes.values():
        out["nodes"].append({"id": node.id, "name": node.name, "type": node.type,
                             "kind": node.kind, "x": round(node.x, 1), "y": round(node.y, 1),
                             "width": round(node.width, 1), "height": round(node.height, 1)})
        for lane in node.lanes:
            _emit(lane, out, node.id)
    for edge in scope.edges:
        out["edges"].append({"source": edge.source, "target": edge.target, "label": edge.label,
                             "dashed": edge.dashed, "back": edge.back,
                             "labelAt": _label_at(edge),
                             "points": [[round(x, 1), round(y, 1)] for x, y in edge.points]})

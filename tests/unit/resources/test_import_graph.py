"""The resources package imports one way (base -> handler modules -> registry; the package's
names load lazily from them):
no module of it imports, directly or through others, a module that imports it back, not even
inside a function (a lazy import is still a circle)."""

from __future__ import annotations

import ast
from pathlib import Path

import statemachine.resources as package

PACKAGE = "statemachine.resources"
FOLDER = Path(package.__file__).parent


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _imports(module: str, path: Path, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if sub in modules:
                    found.add(sub)
                elif node.module in modules:
                    found.add(node.module)
    found.discard(module)
    return found


def _graph() -> dict[str, set[str]]:
    files = {f"{PACKAGE}.{p.stem}" if p.stem != "__init__" else PACKAGE: p
             for p in FOLDER.glob("*.py")}
    return {name: _imports(name, path, set(files)) for name, path in files.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_resources_package_has_no_import_cycle() -> None:
    graph = _graph()
    assert f"{PACKAGE}.base" in graph[f"{PACKAGE}.registry"]  # the graph is really read
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_base_imports_no_other_module_of_the_package() -> None:
    assert _graph()[f"{PACKAGE}.base"] == set()


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_a_submodule_alone_loads_no_handler() -> None:
    """``statemachine.resources.threads`` (every run imports it) does not load the registry
    and the built-in handlers with it; the package's names still resolve when asked for."""
    import subprocess
    import sys

    code = ("import sys, statemachine.resources.threads; "
            "print(sorted(m for m in sys.modules if m.startswith('statemachine.resources.'))); "
            "from statemachine.resources import ResourceRegistry, TaskRequest, MockError; "
            "print('statemachine.resources.registry' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.splitlines()
    assert "statemachine.resources.registry" not in out[0], out[0]
    assert "statemachine.resources.aws_lambda" not in out[0], out[0]
    assert out[1] == "True"

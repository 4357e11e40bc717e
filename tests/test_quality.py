"""The quality gate (STYLE.md 6 and 10): ``ruff check`` over the repository and strict
``mypy`` over the package and the CLI, both with the settings in pyproject.toml.

Both tools run as subprocesses of this interpreter (``python -m ruff`` / ``python -m mypy``), so
they are the versions pinned by the ``test`` extra. A failure shows the tools' own report.
mypy keeps its incremental cache in the repository's ``.mypy_cache`` (git-ignored): the first
run takes a few seconds, later ones well under one.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: ``# type: ignore[code]`` followed by ``# why`` (mypy itself insists on the code).
_JUSTIFIED_IGNORE = re.compile(r"# type: ignore\[[a-z-]+(,\s*[a-z-]+)*\]\s+#\s*\S")


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m <args>`` in the repository root, where pyproject.toml configures it."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_ruff_reports_nothing() -> None:
    result = _tool("ruff", "check", "--no-fix", "--output-format", "concise", ".")
    assert result.returncode == 0, f"ruff check found problems:\n{result.stdout}{result.stderr}"


def test_mypy_strict_reports_nothing() -> None:
    # No paths on the command line: [tool.mypy] names the files and turns strict on.
    result = _tool("mypy", "--no-color-output", "--show-error-codes")
    assert result.returncode == 0, f"mypy found problems:\n{result.stdout}{result.stderr}"
    assert "Success: no issues found" in result.stdout, result.stdout


def test_mypy_configuration_is_strict_and_covers_the_cli() -> None:
    # The gate is only as good as its settings: strict mode on, and cli/ (installed as
    # statemachine.cli) among the checked files, not silently skipped.
    settings = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert settings.get("strict") is True
    assert {"statemachine", "cli"} <= set(settings.get("files", []))
    assert "ignore_missing_imports" not in settings, "ignore untyped libraries per module only"


def test_every_type_ignore_says_why() -> None:
    unexplained = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for folder in ("statemachine", "cli")
        for path in sorted((REPO / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "# type: ignore" in line and not _JUSTIFIED_IGNORE.search(line)
    ]
    assert not unexplained, "a `# type: ignore[code]` needs a reason beside it:\n" + "\n".join(
        unexplained
    )


def _sleeps(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, (ast.Attribute, ast.Name))
               and (n.func.attr if isinstance(n.func, ast.Attribute) else n.func.id) == "sleep"
               for n in ast.walk(node))


def _bounded(loop: ast.While) -> bool:
    """Does the loop end when the waited-for thing never happens: a clock in its condition, or
    an assert/raise/break/return in its body (a deadline checked there)?"""
    words = {n.id for n in ast.walk(loop.test) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(loop.test) if isinstance(n, ast.Attribute)}
    if words & {"deadline", "monotonic", "time", "perf_counter", "poll", "is_alive"}:
        return True
    return any(isinstance(n, (ast.Assert, ast.Raise, ast.Break, ast.Return))
               for statement in loop.body for n in ast.walk(statement))


def test_no_test_waits_without_a_bound() -> None:
    """A test that polls (``while ...: sleep``) gives up at a deadline: a behaviour that breaks
    fails the test instead of hanging the suite (issue 10)."""
    unbounded = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        unbounded += [f"{path.relative_to(REPO)}:{node.lineno}" for node in ast.walk(tree)
                      if isinstance(node, ast.While) and _sleeps(node) and not _bounded(node)]
    assert unbounded == [], f"polling loops without a deadline: {unbounded}"

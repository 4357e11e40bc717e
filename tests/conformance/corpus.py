"""Reads ../shared/conformance (or $SM_CONFORMANCE_DIR) and compares results with the recorded
ones, honouring the corpus's ``<...>`` wildcards (see the corpus README)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def corpus_dir() -> Path | None:
    env = os.environ.get("SM_CONFORMANCE_DIR")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "conformance", REPO / ".." / "shared" / "conformance"]
    for c in candidates:
        if (c / "INDEX.tsv").is_file():
            return c.resolve()
    return None


@dataclasses.dataclass(frozen=True)
class Case:
    path: str  # relative to the corpus root, e.g. cases/base.test_base/x.json
    group: str
    status: str
    query_language: str
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return self.path.removesuffix(".json")

    @property
    def definition(self) -> Any:
        return self.data["definition"]

    @property
    def expected(self) -> dict[str, Any]:
        return self.data["expected"]

    @property
    def history(self) -> list[str]:
        return self.data.get("history") or []


@cache
def all_cases() -> tuple[Case, ...]:
    root = corpus_dir()
    if root is None:
        return ()
    cases = []
    for line in (root / "INDEX.tsv").read_text().splitlines()[1:]:
        path, group, status, _states, ql = line.split("\t")
        data = json.loads((root / path).read_text())
        cases.append(Case(path, group, status, ql, data))
    return tuple(cases)


def select(*, status: set[str] | None = None, top: str | None = None) -> Iterator[Case]:
    """Cases by expected status and top folder (``cases`` or ``cases_services``)."""
    for c in all_cases():
        if status is not None and c.status not in status:
            continue
        if top is not None and not c.path.startswith(top + "/"):
            continue
        yield c


_TOKEN = re.compile(r"<[^<>\"]*>")


@cache
def _pattern(expected: str) -> re.Pattern[str]:
    parts = _TOKEN.split(expected)
    return re.compile("(?s)" + ".*".join(re.escape(p) for p in parts) + r"\Z")


def is_wildcard(value: Any) -> bool:
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def match(expected: Any, actual: Any, where: str = "$") -> str | None:
    """None when ``actual`` matches ``expected``; otherwise a description of the first mismatch."""
    if is_wildcard(expected):
        return None
    if isinstance(expected, str):
        if not isinstance(actual, str):
            return f"{where}: expected string {expected!r}, got {actual!r}"
        if "<" in expected and _TOKEN.search(expected):
            return None if _pattern(expected).match(actual) else f"{where}: {actual!r} !~ {expected!r}"
        return None if expected == actual else f"{where}: expected {expected!r}, got {actual!r}"
    if isinstance(expected, bool) or expected is None:
        return None if actual is expected or (type(actual) is bool and actual == expected) else f"{where}: expected {expected!r}, got {actual!r}"
    if isinstance(expected, (int, float)):
        ok = isinstance(actual, (int, float)) and not isinstance(actual, bool) and actual == expected
        return None if ok else f"{where}: expected {expected!r}, got {actual!r}"
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{where}: expected list {expected!r}, got {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            if (m := match(e, a, f"{where}[{i}]")) is not None:
                return m
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected object, got {actual!r}"
        return _match_object(expected, actual, where)
    return f"{where}: unsupported expected value {expected!r}"


def _match_object(expected: dict[str, Any], actual: dict[str, Any], where: str) -> str | None:
    remaining = dict(actual)
    for key, e in expected.items():
        if key in remaining:
            found = key
        else:  # a key that is itself masked, e.g. "<uuid:1>"
            found = next((k for k in remaining if isinstance(k, str) and _TOKEN.search(key) and _pattern(key).match(k)), None)
            if found is None:
                return f"{where}: missing key {key!r} (actual keys {sorted(actual)})"
        if (m := match(e, remaining.pop(found), f"{where}.{key}")) is not None:
            return m
    if remaining:
        return f"{where}: unexpected keys {sorted(remaining)}"
    return None


def match_text_or_json(expected: Any, actual: str | None, parsed: bool, where: str) -> str | None:
    """Compare an error or cause; when the corpus stored it parsed, parse ``actual`` too."""
    if parsed and isinstance(actual, str):
        try:
            return match(expected, json.loads(actual), where)
        except ValueError:
            return f"{where}: expected JSON text, got {actual!r}"
    return match(expected, actual, where)

"""The README's "Observability" section starts with an example: it runs as printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_readme_observability_example_runs(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Observability"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("```\n", 10)]
    monkeypatch.chdir(ROOT)  # the example names definitions/etl.yaml
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)
    execution = scope["execution"]
    assert execution.status == "SUCCEEDED", execution.cause
    printed = capsys.readouterr().out  # ConsoleSpanExporter: one JSON object per span
    spans = json.loads("[" + printed.replace("}\n{", "},\n{") + "]")
    names = {span["name"] for span in spans}
    assert {"etl", "Extract", "Transform"} <= names

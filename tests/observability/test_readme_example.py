"""The README's "Observability" section starts with an example: it runs as printed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_readme_observability_example_runs(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Observability"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("```\n", 10)]
    monkeypatch.chdir(ROOT)  # the example names definitions/etl.yaml
    from opentelemetry.sdk.trace import export

    class Console(export.ConsoleSpanExporter):
        # its default ``out`` is the sys.stdout of the module's first import: under pytest,
        # the capture of whichever test imported it first
        def __init__(self, **options: Any) -> None:
            super().__init__(out=sys.stdout, **options)

    monkeypatch.setattr(export, "ConsoleSpanExporter", Console)
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)
    execution = scope["execution"]
    assert execution.status == "SUCCEEDED", execution.cause
    printed = capsys.readouterr().out  # ConsoleSpanExporter: one JSON object per span
    spans = json.loads("[" + printed.replace("}\n{", "},\n{") + "]")
    names = {span["name"] for span in spans}
    assert {"etl", "Extract", "Transform"} <= names

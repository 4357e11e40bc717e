"""The README's "Use it from boto3 and the AWS CLI" example runs as written against a real
server (only the endpoint's port differs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.server.conftest import RunningServer

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_boto3_example(sm_server: RunningServer, capsys: pytest.CaptureFixture[str]) -> None:
    text = README.read_text()
    section = text[text.index("## Use it from boto3 and the AWS CLI"):]
    example = re.search(r"```python\n(.*?)```", section, re.S)
    assert example is not None
    code = example.group(1).replace("http://127.0.0.1:8083", sm_server.url)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == '{"greeting":"hello world"}'

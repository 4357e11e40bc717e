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


def test_readme_lists_every_supported_operation() -> None:
    from statemachine.server.api import OPERATIONS

    text = README.read_text()
    section = text[text.index("## Use it from boto3 and the AWS CLI"):]
    section = section[:section.index("\n## ")]
    table = section[section.index("| area | operations |"):section.index("Other operations")]
    listed = set(re.findall(r"\b([A-Z][a-zA-Z]+(?:StateMachine|Execution|Activity|Activities|"
                            r"Task\w*|MapRuns?|Resource|Definition|Versions|Machines|"
                            r"Executions|History|ForExecution))\b", table))
    assert listed == set(OPERATIONS)

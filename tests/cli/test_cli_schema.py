"""`sm schema`: one self-contained JSON Schema that editors (and any validator) can use alone."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "statemachine.cli", "schema"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_schema_is_draft_2020_12(schema) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_alone_accepts_the_examples(schema, definitions: Path) -> None:
    validator = jsonschema.Draft202012Validator(schema)  # no registry: refs resolve inside it
    for path in sorted(definitions.glob("*.yaml")):
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], path.name


def test_schema_alone_rejects_structural_mistakes(schema) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    assert not validator.is_valid({"States": {"A": {"Type": "Pass", "End": True}}})  # no StartAt
    assert not validator.is_valid({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": "yes"}}})
    assert not validator.is_valid(
        {"StartAt": "A", "States": {"A": {"Type": "Teleport", "End": True}}}
    )

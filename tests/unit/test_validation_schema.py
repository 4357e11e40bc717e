"""The JSON Schemas: valid draft 2020-12, usable alone by editors (the bundle), and turned
into one readable diagnostic per problem by the validation stage."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from statemachine.loader import load_source
from statemachine.validation import bundled_schema, check
from statemachine.validation.choice import OPERATORS

DEFINITIONS = sorted((Path(__file__).parents[2] / "definitions").glob("*.yaml"))


@functools.cache
def _editor_validator() -> Draft202012Validator:
    """What an editor does: the bundle alone, no registry, no files next to it."""
    schema = bundled_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_bundle_is_a_valid_self_contained_schema() -> None:
    schema = bundled_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["$defs"]) == {"common", "states", "choice"}
    errors = list(_editor_validator().iter_errors({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}))
    assert errors == []


def test_bundle_is_a_fresh_copy() -> None:
    bundled_schema()["title"] = "changed"
    assert bundled_schema()["title"] == "Amazon States Language state machine"


@pytest.mark.parametrize("path", DEFINITIONS, ids=[p.stem for p in DEFINITIONS])
def test_example_definitions_pass_the_bundle_alone(path: Path) -> None:
    assert list(_editor_validator().iter_errors(load_source(path).data)) == []


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"Type": "Pass", "End": False}, "'End' must be true, not false"),
        ({"Type": "Wait", "Seconds": -1, "End": True}, "'Seconds' must be an integer from 0 to 99999999 or a JSONata expression"),
        ({"Type": "Map", "Items": {"a": 1}, "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}, "End": True},
         "'Items' must be an array or a JSONata expression"),
        ({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Credentials": {}, "End": True},
         "the field 'RoleArn' is required but missing in 'Credentials'"),
        ({"Type": "Task", "Resource": "x", "Retry": [{"ErrorEquals": [], "JitterStrategy": "SOME"}], "End": True},
         "'JitterStrategy' must be one of \"FULL\", \"NONE\", not \"SOME\""),
    ],
)
def test_schema_problems_read_well(state: dict[str, object], message: str) -> None:
    found = [d for d in check({"StartAt": "S", "States": {"S": state}}) if d.state == "S"]
    assert any(d.message.startswith(message) for d in found), [d.message for d in found]


def test_an_anyof_failure_is_one_diagnostic_not_one_per_branch() -> None:
    definition = {"StartAt": "S", "States": {"S": {"Type": "Wait", "Seconds": "soon", "End": True}}}
    found = check(definition)
    assert [d.code for d in found] == ["wrong-type"]


def test_choice_schema_knows_every_operator() -> None:
    choice = bundled_schema()["$defs"]["choice"]["$defs"]
    assert set(choice["operators"]["enum"]) == OPERATORS
    assert set(choice["rule"]["properties"]) >= OPERATORS
    assert len(OPERATORS) == 39  # 3 kinds x 5 comparisons x (value, Path) + 2 Boolean + StringMatches + 6 Is*


def test_schema_knows_every_state_type_and_top_level_field() -> None:
    schema = bundled_schema()
    types = schema["$defs"]["states"]["$defs"]["state"]["properties"]["Type"]["enum"]
    assert sorted(types) == ["Choice", "Fail", "Map", "Parallel", "Pass", "Succeed", "Task", "Wait"]
    assert set(schema["properties"]) == {"Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage"}

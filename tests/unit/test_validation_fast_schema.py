"""The fast schema pass (jsonschema-rs first, jsonschema only where it rejects) gives exactly
the diagnostics of one jsonschema pass over the whole document: same codes, messages,
pointers (the order of diagnostics at one position too, once
``validate`` sorts them by position). Checked on every definition the repository and the conformance corpus
hold, and on random mutations of them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statemachine.loader import load_source
from statemachine.validation import check, schema
from statemachine.validation.schema import full_schema_diagnostics, schema_diagnostics
from tests.conformance.corpus import all_cases

REPO = Path(__file__).resolve().parents[2]
FILES = sorted([*(REPO / "definitions").glob("*.yaml"), *(REPO / "tests" / "unit" / "invalid").glob("*.yaml")])
BASE: dict[str, Any] = {
    "Comment": "mutated",
    "StartAt": "P",
    "States": {
        "P": {"Type": "Pass", "Parameters": {"a.$": "$.x"}, "ResultPath": "$.r", "Next": "T"},
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 5,
              "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}], "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "M"}],
              "Default": "W"},
        "W": {"Type": "Wait", "Seconds": 1, "Next": "M"},
        "M": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {
            "StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}, "Next": "L"},
        "L": {"Type": "Parallel", "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}],
              "End": True},
        "F": {"Type": "Fail", "Error": "E", "Cause": "c"},
    },
}


def _same(data: Any) -> None:
    # jsonschema visits the entries of an object's additionalProperties (the states) in set
    # order, which varies with the string hash seed: compare as sorted lists.
    fast, full = schema_diagnostics(data), full_schema_diagnostics(data)
    assert sorted(fast, key=repr) == sorted(full, key=repr)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_repository_definitions(path: Path) -> None:
    _same(load_source(path).data)


def test_conformance_definitions() -> None:
    cases = all_cases()
    if not cases:
        pytest.skip("conformance corpus not found (set SM_CONFORMANCE_DIR)")
    invalid = 0
    for case in cases:
        definition = case.definition
        if isinstance(definition, str):
            try:
                definition = json.loads(definition)
            except ValueError:
                continue
        full = full_schema_diagnostics(definition)
        invalid += bool(full)
        assert sorted(schema_diagnostics(definition), key=repr) == sorted(full, key=repr), case.id
    assert invalid >= 5  # the corpus exercises the slow path too, not only valid definitions


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, width=16),
    st.sampled_from(["", "$", "$.x", "Pass", "Paralel", "{% 1 %}", "x" * 90, "States.ALL"]),
    st.lists(st.integers(0, 2), max_size=2), st.dictionaries(st.sampled_from(["a", "Next", "b.$"]), st.integers(), max_size=2),
)
_KEYS = st.sampled_from(["Type", "Next", "End", "Parameters", "ResultPath", "Retry", "Catch", "Seconds",
                         "Choices", "Default", "Branches", "ItemProcessor", "Resource", "Typo", "Comment",
                         "TimeoutSeconds", "Error", "QueryLanguage", "Output", "Assign", "IntervalSecond"])


def _containers(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            found += _containers(item)
    elif isinstance(value, list):
        for item in value:
            found += _containers(item)
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(["set", "delete"]), _KEYS, _VALUES),
                min_size=1, max_size=4))
def test_random_mutations(edits: list[tuple[int, str, str, Any]]) -> None:
    data = copy.deepcopy(BASE)
    for where, action, key, value in edits:
        targets = _containers(data)
        target = targets[where % len(targets)]
        if action == "set":
            target[key] = value
        else:
            target.pop(key, None)
    _same(data)


def test_without_the_compiled_validator_the_reference_pass_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "_compiled_validators", lambda: None)
    found = check({"StartAt": "A", "States": {"A": {"Type": "Pass", "Typo": 1, "End": True}}})
    assert [d.code for d in found] == ["unknown-field"]

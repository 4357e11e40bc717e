"""Choice rules through the public API: a definition is loaded and run, and the branch taken
shows in the output (each target is a Pass state with its own Result)."""

from __future__ import annotations

from typing import Any

import pytest

import statemachine


def machine(*rules: dict[str, Any], default: bool = True) -> statemachine.StateMachine:
    """A Choice state ``Check`` whose rules go to ``R0``, ``R1``...; ``Default`` goes to ``D``."""
    states: dict[str, Any] = {
        f"R{i}": {"Type": "Pass", "Result": f"R{i}", "End": True} for i in range(len(rules))
    }
    states["D"] = {"Type": "Pass", "Result": "D", "End": True}
    check: dict[str, Any] = {
        "Type": "Choice",
        "Choices": [{**rule, "Next": f"R{i}"} for i, rule in enumerate(rules)],
    }
    if default:
        check["Default"] = "D"
    states["Check"] = check
    return statemachine.load({"StartAt": "Check", "States": states})


def branch(sm: statemachine.StateMachine, data: Any) -> Any:
    execution = sm.run(data)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    return execution.output


def test_first_matching_rule_wins_else_default() -> None:
    sm = machine(
        {"Variable": "$.n", "NumericGreaterThan": 10},
        {"Variable": "$.n", "NumericGreaterThanEquals": 1.0},
        {"Variable": "$.n", "IsNumeric": True},
    )
    assert [branch(sm, {"n": n}) for n in (11, 1, 0, "11")] == ["R0", "R1", "R2", "D"]


def test_a_missing_variable_fails_the_execution_with_states_runtime() -> None:
    execution = machine({"Variable": "$.missing", "NumericEquals": 1}).run({"v": 1})
    assert execution.status == "FAILED"
    assert execution.error == "States.Runtime"
    assert execution.cause == (
        "An error occurred while executing the state 'Check' (entered at the event id #2). "
        "Invalid path '$.missing': The choice state's condition path references an invalid value."
    )


def test_is_present_on_a_missing_variable_does_not_fail() -> None:
    sm = machine({"Variable": "$.missing", "IsPresent": True})
    assert branch(sm, {"v": 1}) == "D"
    assert branch(sm, {"missing": None}) == "R0"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2016-03-14T01:59:00Z", "R0"),
        ("2016-03-14T02:59:00+01:00", "R0"),
        ("2016-03-14T01:59:00.001Z", "R1"),
        ("2016-03-14 01:59:00Z", "D"),
        (1457920740, "D"),
    ],
)
def test_timestamps_compare_as_instants(value: Any, expected: str) -> None:
    sm = machine(
        {"Variable": "$.t", "TimestampEquals": "2016-03-14T01:59:00Z"},
        {"Variable": "$.t", "TimestampGreaterThanPath": "$.since"},
    )
    assert branch(sm, {"t": value, "since": "2016-03-14T01:59:00Z"}) == expected


def test_string_matches_and_combinators() -> None:
    sm = machine(
        {
            "And": [
                {"Variable": "$.file", "StringMatches": "log-*.txt"},
                {"Not": {"Variable": "$.file", "StringMatches": "*\\**"}},  # a literal star
            ]
        },
        {"Or": [{"Variable": "$.file", "IsNull": True}, {"Variable": "$.file", "IsBoolean": True}]},
    )
    outputs = [branch(sm, {"file": f}) for f in ("log-1.txt", "log-*.txt", None, False, "x.txt")]
    assert outputs == ["R0", "D", "R1", "R1", "D"]


def test_context_object_and_workflow_variables() -> None:
    definition = {
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Assign": {"limit": 3}, "Next": "Check"},
            "Check": {
                "Type": "Choice",
                "Choices": [
                    {
                        "And": [
                            {
                                "Variable": "$$.Execution.Input.n",
                                "NumericGreaterThanPath": "$limit",
                            },
                            {"Variable": "$limit", "NumericEquals": 3},
                        ],
                        "Next": "Big",
                    }
                ],
                "Default": "Small",
            },
            "Big": {"Type": "Pass", "Result": "big", "End": True},
            "Small": {"Type": "Pass", "Result": "small", "End": True},
        },
    }
    sm = statemachine.load(definition)
    assert [branch(sm, {"n": n}) for n in (4, 3)] == ["big", "small"]

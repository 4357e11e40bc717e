"""JSONata through the public API: workflow variables, $states, randomness from the run's rng,
and AWS's QueryEvaluationError causes with the interpreter's prefix."""

from __future__ import annotations

import random
import re

import statemachine


def machine(states: dict, start: str = "A") -> statemachine.StateMachine:
    return statemachine.load({"QueryLanguage": "JSONata", "StartAt": start, "States": states})


def run(m: statemachine.StateMachine, value=None, seed: int = 0):
    return m.run(value, virtual_time=True, rng=random.Random(seed))


RANDOM_STATES = {
    "A": {
        "Type": "Pass",
        "Assign": {"id": "{% $uuid() %}", "r": "{% $random() %}"},
        "Next": "B",
    },
    "B": {"Type": "Pass", "Output": {"id": "{% $id %}", "r": "{% $r %}"}, "End": True},
}


def test_uuid_and_random_follow_the_runs_random_source():
    m = machine(RANDOM_STATES)
    first, same, other = run(m, seed=3), run(m, seed=3), run(m, seed=4)
    assert first.status == "SUCCEEDED"
    assert re.fullmatch(r"[0-9a-f-]{36}", first.output["id"])
    assert 0 <= first.output["r"] < 1
    assert same.output == first.output
    assert other.output != first.output


def test_variables_and_states_fields_reach_later_states():
    m = machine(
        {
            "A": {
                "Type": "Pass",
                "Assign": {"n": None, "total": "{% $sum($states.input.xs) %}"},
                "Next": "B",
            },
            "B": {
                "Type": "Pass",
                "Output": {
                    "n": "{% $n %}",
                    "total": "{% $total %}",
                    "state": "{% $states.context.State.Name %}",
                    "input": "{% $states.context.Execution.Input %}",
                },
                "End": True,
            },
        }
    )
    execution = run(m, {"xs": [1, 2.5, 0.5]})
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"n": None, "total": 4, "state": "B", "input": {"xs": [1, 2.5, 0.5]}}
    assert type(execution.output["total"]) is int


def test_undefined_output_fails_with_the_prefixed_cause():
    m = machine(
        {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Pass", "Next": "C"},
            "C": {"Type": "Pass", "Output": {"result": "{% $states.input.nope %}"}, "End": True},
        }
    )
    execution = run(m, {})
    assert execution.status == "FAILED"
    assert execution.error == "States.QueryEvaluationError"
    assert execution.cause == (
        "An error occurred while executing the state 'C' (entered at the event id #6). "
        "The JSONata expression '$states.input.nope' specified for the field 'Output/result' "
        "returned nothing (undefined)."
    )


def test_evaluation_error_can_be_caught():
    failing = {
        "StartAt": "P",
        "States": {
            "P": {"Type": "Pass", "Output": "{% $partition($states.input, 0) %}", "End": True}
        },
    }
    m = machine(
        {
            "A": {
                "Type": "Parallel",
                "Branches": [failing],
                "Catch": [
                    {
                        "ErrorEquals": ["States.QueryEvaluationError"],
                        "Next": "Handled",
                        "Output": "{% $states.errorOutput.Error %}",
                    }
                ],
                "End": True,
            },
            "Handled": {"Type": "Succeed"},
        }
    )
    execution = run(m, [1, 2])
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output == "States.QueryEvaluationError"


def test_now_and_millis_keep_virtual_time() -> None:
    # An hour-long Wait under virtual time: $millis()/$now() must see the hour pass, as the
    # history's timestamps do, not the few real milliseconds the run took.
    definition = {"QueryLanguage": "JSONata", "StartAt": "Start", "States": {
        "Start": {"Type": "Pass", "Output": {"t0": "{% $millis() %}"}, "Next": "Hour"},
        "Hour": {"Type": "Wait", "Seconds": 3600, "Next": "After"},
        "After": {"Type": "Pass", "Output": {"t0": "{% $states.input.t0 %}", "t1": "{% $millis() %}",
                                             "now": "{% $now() %}"}, "End": True}}}
    execution = statemachine.load(definition).run({}, virtual_time=True)
    out = execution.output
    assert 3_600_000 <= out["t1"] - out["t0"] < 3_601_000
    entered = execution.history[-3]["timestamp"]  # the After state's PassStateEntered
    assert abs(entered.timestamp() * 1000 - out["t1"]) < 1000
    assert out["now"].startswith(entered.strftime("%Y-%m-%dT%H:%M"))

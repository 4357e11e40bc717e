"""JSONata states (QueryLanguage) and variables through the interpreter: every field that
takes an expression, $states where AWS provides it, Catch Output/Assign, variable scoping."""

from __future__ import annotations

from typing import Any

from tests.unit.interpreter.helpers import run, times, types


def jsonata(states: dict[str, Any], start: str = "S") -> dict[str, Any]:
    return {"QueryLanguage": "JSONata", "StartAt": start, "States": states}


class Boom(Exception):
    pass


def test_task_arguments_output_and_result() -> None:
    seen: list[Any] = []

    def handler(event: Any) -> Any:
        seen.append(event)
        return {"doubled": event["n"] * 2}

    execution = run(jsonata({"S": {"Type": "Task", "Resource": "work", "End": True,
                                   "Arguments": {"n": "{% $states.input.value %}"},
                                   "Output": {"in": "{% $states.input.value %}",
                                              "out": "{% $states.result.doubled %}"}}}),
                    {"value": 4}, resources={"work": handler})
    assert seen == [{"n": 4}]
    assert execution.output == {"in": 4, "out": 8}


def test_task_without_output_returns_the_result() -> None:
    execution = run(jsonata({"S": {"Type": "Task", "Resource": "work", "End": True}}),
                    {"a": 1}, resources={"work": lambda event: [event]})
    assert execution.output == [{"a": 1}]


def test_catch_output_and_assign_see_error_output() -> None:
    def failing(event: Any) -> Any:
        raise Boom("bad")

    definition = jsonata({
        "S": {"Type": "Task", "Resource": "work", "End": True, "Catch": [{
            "ErrorEquals": ["Boom"], "Next": "After",
            "Assign": {"err": "{% $states.errorOutput.Error %}"},
            "Output": {"kept": "{% $states.input.keep %}", "error": "{% $states.errorOutput.Error %}"}}]},
        "After": {"Type": "Pass", "Output": {"from_var": "{% $err %}", "input": "{% $states.input %}"},
                  "End": True}})
    execution = run(definition, {"keep": 1}, resources={"work": failing})
    assert execution.output == {"from_var": "Boom", "input": {"kept": 1, "error": "Boom"}}


def test_choice_condition_with_output_and_assign() -> None:
    definition = jsonata({
        "C": {"Type": "Choice", "Default": "No", "Choices": [
            {"Condition": "{% $states.input.n > 3 %}", "Next": "Yes",
             "Assign": {"picked": "yes"}, "Output": {"n": "{% $states.input.n %}"}}]},
        "Yes": {"Type": "Pass", "Output": {"picked": "{% $picked %}", "n": "{% $states.input.n %}"}, "End": True},
        "No": {"Type": "Pass", "End": True}}, start="C")
    assert run(definition, {"n": 5}).output == {"picked": "yes", "n": 5}
    assert run(definition, {"n": 1}).output == {"n": 1}


def test_choice_condition_must_be_boolean() -> None:
    definition = jsonata({"C": {"Type": "Choice", "Default": "D", "Choices": [
        {"Condition": "{% $states.input.n %}", "Next": "D"}]},
        "D": {"Type": "Succeed"}}, start="C")
    execution = run(definition, {"n": 5})
    assert execution.error == "States.QueryEvaluationError"
    assert "EvaluationFailed" in types(execution)


def test_wait_seconds_and_timestamp_expressions() -> None:
    waited = run(jsonata({"S": {"Type": "Wait", "Seconds": "{% $states.input.s * 2 %}", "End": True}}),
                 {"s": 30})
    entered, = times(waited, "WaitStateEntered")
    exited, = times(waited, "WaitStateExited")
    assert 60 <= exited - entered < 61
    bad = run(jsonata({"S": {"Type": "Wait", "Timestamp": "{% $states.input.t %}", "End": True}}),
              {"t": "2016-12-05T21:29:29"})
    assert bad.error == "States.QueryEvaluationError"
    assert bad.cause.endswith("The Timestamp field cannot be parsed as an ISO-8601 extended offset "
                              "date-time format string: 2016-12-05T21:29:29")


def test_fail_error_and_cause_expressions() -> None:
    execution = run(jsonata({"S": {"Type": "Fail", "Error": "{% $states.input.e %}",
                                   "Cause": "{% 'because ' & $states.input.c %}"}}), {"e": "E", "c": "x"})
    assert (execution.error, execution.cause) == ("E", "because x")


def test_map_items_selector_and_iteration_variables() -> None:
    definition = jsonata({
        "Set": {"Type": "Pass", "Assign": {"factor": 10}, "Next": "M"},
        "M": {"Type": "Map", "Items": "{% $states.input.xs %}", "End": True,
              "ItemSelector": {"v": "{% $states.context.Map.Item.Value * $factor %}",
                               "i": "{% $states.context.Map.Item.Index %}"},
              "ItemProcessor": {"StartAt": "P", "States": {"P": {
                  "Type": "Pass", "Assign": {"factor": 0}, "Output": "{% $states.input.v + $states.input.i %}",
                  "End": True}}}}}, start="Set")
    assert run(definition, {"xs": [1, 2, 3]}).output == [10, 21, 32]


def test_assign_is_recorded_in_the_exit_event_as_json_text() -> None:
    execution = run(jsonata({"S": {"Type": "Pass", "Assign": {"x": "{% 1 + 1 %}", "s": "text"}, "End": True}}))
    exited = next(e for e in execution.history if e["type"] == "PassStateExited")
    details = exited["stateExitedEventDetails"]
    assert details["assignedVariables"] == {"x": "2", "s": '"text"'}
    assert details["assignedVariablesDetails"] == {"truncated": False}


def test_jsonpath_machine_with_a_jsonata_state_shares_variables() -> None:
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"x.$": "$.v"}, "Next": "B"},
        "B": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $x + 1 %}", "End": True}}}
    assert run(definition, {"v": 41}).output == 42

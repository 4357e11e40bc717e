"""Each state type through the public API, with AWS's documented semantics."""

from __future__ import annotations

from typing import Any

from tests.unit.interpreter.helpers import run, types


def one(state: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": "S", "States": {"S": {**state, **({} if state["Type"] in ("Succeed", "Fail", "Choice") else {"End": True})}}}


def test_pass_data_flow_in_aws_order() -> None:
    # InputPath -> Parameters -> ResultPath -> OutputPath (AWS "input and output processing")
    execution = run(one({"Type": "Pass", "InputPath": "$.in", "Parameters": {"x.$": "$.v"},
                         "ResultPath": "$.res", "OutputPath": "$.res"}), {"in": {"v": 5}})
    assert execution.output == {"x": 5}


def test_pass_result_null_result_path_keeps_input_and_falsy_results_are_values() -> None:
    assert run(one({"Type": "Pass", "Result": 0}), {"a": 1}).output == 0
    assert run(one({"Type": "Pass", "Result": False, "ResultPath": "$.r"}), {}).output == {"r": False}
    assert run(one({"Type": "Pass", "Result": 1, "ResultPath": None}), {"a": 1}).output == {"a": 1}
    assert run(one({"Type": "Pass", "InputPath": None}), {"a": 1}).output == {}
    assert run(one({"Type": "Pass", "OutputPath": None}), {"a": 1}).output == {}


def test_missing_input_path_fails_with_states_runtime_and_prefix() -> None:
    execution = run(one({"Type": "Pass", "InputPath": "$.nope"}), {"a": 1})
    assert execution.status == "FAILED"
    assert execution.error == "States.Runtime"
    assert execution.cause == ("An error occurred while executing the state 'S' (entered at the "
                               "event id #2). Invalid path '$.nope' : No results for path: $['nope']")


def test_succeed_and_fail() -> None:
    assert run(one({"Type": "Succeed", "OutputPath": "$.a"}), {"a": [1]}).output == [1]
    failed = run(one({"Type": "Fail", "Error": "Oops", "Cause": "because"}))
    assert (failed.status, failed.error, failed.cause) == ("FAILED", "Oops", "because")
    assert types(failed) == ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]
    by_path = run(one({"Type": "Fail", "ErrorPath": "$.e", "CausePath": "$.c"}), {"e": "E", "c": "C"})
    assert (by_path.error, by_path.cause) == ("E", "C")
    empty = run(one({"Type": "Fail"}))
    assert (empty.status, empty.error, empty.cause) == ("FAILED", None, None)


def test_choice_routes_and_no_match_fails() -> None:
    definition = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
            {"And": [{"Variable": "$.n", "IsPresent": True}, {"Variable": "$.n", "NumericEquals": 0}],
             "Next": "Zero"}]},
        "Big": {"Type": "Pass", "Result": "big", "End": True},
        "Zero": {"Type": "Pass", "Result": "zero", "End": True}}}
    assert run(definition, {"n": 11}).output == "big"
    assert run(definition, {"n": 0}).output == "zero"
    none = run(definition, {"n": 5})
    assert (none.status, none.error) == ("FAILED", "States.NoChoiceMatched")
    with_default = {**definition, "States": {**definition["States"], "C": {
        **definition["States"]["C"], "Default": "Zero"}}}
    assert run(with_default, {"n": 5}).output == "zero"


def test_wait_seconds_advances_virtual_time() -> None:
    execution = run(one({"Type": "Wait", "Seconds": 3600}), {"k": 1})
    assert execution.output == {"k": 1}
    entered = next(e for e in execution.events if e.type == "WaitStateEntered")
    exited = next(e for e in execution.events if e.type == "WaitStateExited")
    assert 3600 <= exited.timestamp - entered.timestamp < 3601


def test_wait_seconds_path_and_timestamp_errors() -> None:
    negative = run(one({"Type": "Wait", "SecondsPath": "$.s"}), {"s": -1})
    assert negative.error == "States.Runtime"
    assert negative.cause.endswith("The SecondsPath parameter references a negative value: $.s == -1")
    past = run(one({"Type": "Wait", "Timestamp": "2016-03-14T01:59:00Z"}))
    assert past.status == "SUCCEEDED"
    bad = run(one({"Type": "Wait", "TimestampPath": "$.t"}), {"t": "yesterday"})
    assert bad.error == "States.Runtime"


def test_context_object_in_parameters() -> None:
    execution = run(one({"Type": "Pass", "Parameters": {"name.$": "$$.State.Name",
                                                          "input.$": "$$.Execution.Input"}}), {"a": 1})
    assert execution.output == {"name": "S", "input": {"a": 1}}


def test_data_limit_exceeded_for_large_results() -> None:
    execution = run(one({"Type": "Pass", "Result": "x" * (256 * 1024 + 1)}))
    assert execution.error == "States.DataLimitExceeded"
    assert execution.cause == ("The state/task 'S' returned a result with a size exceeding the "
                               "maximum number of bytes service limit.")


def test_task_calls_handler_with_effective_input_and_applies_result_selector() -> None:
    seen: list[Any] = []

    def handler(event: Any) -> Any:
        seen.append(event)
        return {"body": {"n": event["n"] * 2}, "noise": True}

    execution = run(one({"Type": "Task", "Resource": "double", "Parameters": {"n.$": "$.v"},
                         "ResultSelector": {"n.$": "$.body.n"}, "ResultPath": "$.out"}),
                    {"v": 21}, resources={"double": handler})
    assert seen == [{"n": 21}]
    assert execution.output == {"v": 21, "out": {"n": 42}}
    assert types(execution) == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted",
                                "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"]


def test_assign_sees_values_from_before_the_state() -> None:
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"x": 1, "y": 2}, "Next": "B"},
        "B": {"Type": "Pass", "Assign": {"x.$": "$y", "y.$": "$x"}, "Next": "C"},
        "C": {"Type": "Pass", "Parameters": {"x.$": "$x", "y.$": "$y"}, "End": True}}}
    assert run(definition).output == {"x": 2, "y": 1}


def test_jsonata_state_output_and_assign() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"total": "{% $states.input.a + $states.input.b %}"},
              "Output": {"sum": "{% $states.input.a + $states.input.b %}"}, "Next": "B"},
        "B": {"Type": "Pass", "Output": "{% $total * 10 %}", "End": True}}}
    assert run(definition, {"a": 1, "b": 2}).output == 30

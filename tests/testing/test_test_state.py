"""TestState offline, against the shapes of AWS's TestState API reference: the response
(output, error, cause, nextState, status) and inspectionData (input, afterInputPath,
afterParameters / afterArguments, result, afterResultSelector, afterResultPath, variables,
errorDetails) for each state type; RETRIABLE and CAUGHT_ERROR; which states need a mock."""

from __future__ import annotations

import json
from typing import Any

import pytest

import statemachine
from statemachine.testing.teststate import TestStateError

TASK = {
    "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
    "InputPath": "$.order", "Parameters": {"FunctionName": "charge", "Payload.$": "$"},
    "ResultSelector": {"paid.$": "$.Payload.paid"}, "ResultPath": "$.charge", "OutputPath": "$.charge",
    "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 3, "BackoffRate": 2, "MaxAttempts": 2}],
    "Catch": [{"ErrorEquals": ["NoMoney"], "Next": "Declined"},
              {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Broken"}],
    "Next": "Done",
}
TESTED = ["Charge", "Pick", "Strict", "Hold", "Label", "Callback", "Job", "Activity", "Each", "Both"]
# A Router reaches every state (the validator refuses unreachable states); the tests never run it.
ROUTER = {"Type": "Choice", "Default": "Charge",
          "Choices": [{"Variable": "$.go", "StringEquals": name, "Next": name} for name in TESTED]}
DEFINITION = {"StartAt": "Router", "States": {
    "Router": ROUTER,
    "Charge": TASK,
    "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Done"}],
             "Default": "Declined"},
    "Strict": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 0, "Next": "Done"}]},
    "Hold": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
    "Label": {"Type": "Pass", "InputPath": "$.order", "Parameters": {"id.$": "$.id"},
              "Result": {"label": "L"}, "ResultPath": "$.out", "Next": "Done"},
    "Callback": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": True},
    "Job": {"Type": "Task", "Resource": "arn:aws:states:::batch:submitJob.sync", "End": True},
    "Activity": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:approve", "End": True},
    "Each": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {"StartAt": "One", "States": {
        "One": {"Type": "Pass", "End": True}}}, "ResultPath": "$.mapped", "End": True},
    "Both": {"Type": "Parallel", "Branches": [{"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}}],
             "ResultSelector": {"first.$": "$[0]"}, "End": True},
    "Declined": {"Type": "Fail", "Error": "Declined", "Cause": "no money"},
    "Broken": {"Type": "Fail", "ErrorPath": "$.error.Error"},
    "Done": {"Type": "Succeed"},
}}
INPUT = {"order": {"id": "o-1", "amount": 5}, "n": 2, "items": [1, 2]}


@pytest.fixture(scope="module")
def machine() -> Any:
    from statemachine.testing.mocks import load_for_test

    return load_for_test(DEFINITION)


def wire(result: Any) -> dict[str, Any]:
    """The response as AWS sends it, with its JSON-text fields parsed for comparison."""
    body = result.to_dict()
    for key in ("output",):
        if key in body:
            assert isinstance(body[key], str)
            body[key] = json.loads(body[key])
    for key, value in body.get("inspectionData", {}).items():
        if key != "errorDetails":
            assert isinstance(value, str), key  # AWS: inspectionData values are JSON strings
            body["inspectionData"][key] = json.loads(value)
    return body


def test_info_level_has_no_inspection_data(machine: Any) -> None:
    body = wire(machine.test_state("Charge", INPUT, mock={"result": '{"Payload": {"paid": true}}'}))
    assert body == {"output": {"paid": True}, "nextState": "Done", "status": "SUCCEEDED"}


def test_task_debug_shows_every_data_flow_step(machine: Any) -> None:
    body = wire(machine.test_state("Charge", INPUT, inspection_level="DEBUG",
                                   mock={"result": '{"Payload": {"paid": true}, "StatusCode": 200}'}))
    assert body["inspectionData"] == {
        "input": INPUT,
        "afterInputPath": {"id": "o-1", "amount": 5},
        "afterParameters": {"FunctionName": "charge", "Payload": {"id": "o-1", "amount": 5}},
        "result": {"Payload": {"paid": True}, "StatusCode": 200},
        "afterResultSelector": {"paid": True},
        "afterResultPath": {**INPUT, "charge": {"paid": True}},
    }
    assert body["output"] == {"paid": True}
    assert (body["status"], body["nextState"]) == ("SUCCEEDED", "Done")


def test_a_retried_error_is_retriable_with_the_backoff_of_the_next_retry(machine: Any) -> None:
    mock = {"errorOutput": {"error": "Busy", "cause": "try again"}}
    body = wire(machine.test_state("Charge", INPUT, inspection_level="DEBUG", mock=mock,
                                   state_configuration={"retrierRetryCount": 1}))
    assert (body["status"], body["error"], body["cause"]) == ("RETRIABLE", "Busy", "try again")
    assert body["nextState"] == "Charge"
    # IntervalSeconds 3 * BackoffRate 2 ** retries made (1)
    assert body["inspectionData"]["errorDetails"] == {"retryIndex": 0, "retryBackoffIntervalSeconds": 6}
    assert "output" not in body


def test_retries_used_up_fall_through_to_the_catch(machine: Any) -> None:
    mock = {"errorOutput": {"error": "Busy", "cause": "still busy"}}
    body = wire(machine.test_state("Charge", INPUT, inspection_level="DEBUG", mock=mock,
                                   state_configuration={"retrierRetryCount": 2}))
    assert (body["status"], body["nextState"]) == ("CAUGHT_ERROR", "Broken")
    assert body["inspectionData"]["errorDetails"] == {"catchIndex": 1}
    assert body["output"] == {**INPUT, "error": {"Error": "Busy", "Cause": "still busy"}}


def test_a_caught_error_reports_the_catcher_and_its_output(machine: Any) -> None:
    body = wire(machine.test_state("Charge", INPUT, mock={"errorOutput": {"error": "NoMoney"}}))
    assert body == {"output": {"Error": "NoMoney"}, "error": "NoMoney", "nextState": "Declined",
                    "status": "CAUGHT_ERROR"}


def test_an_unhandled_error_fails() -> None:
    machine = statemachine.load({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}}})
    body = wire(machine.test_state("T", {}, mock={"errorOutput": {"error": "Boom", "cause": "c"}}))
    assert body == {"error": "Boom", "cause": "c", "status": "FAILED"}


def test_a_task_without_a_mock_runs_its_real_resource() -> None:
    machine = statemachine.load({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "local:double", "End": True}}}, resources={"local:double": lambda x: x * 2})
    body = wire(machine.test_state("T", 21, inspection_level="DEBUG"))
    assert body["output"] == 42 and body["inspectionData"]["result"] == 42 and body["status"] == "SUCCEEDED"


def test_pass_state(machine: Any) -> None:
    body = wire(machine.test_state("Label", INPUT, inspection_level="DEBUG"))
    assert body["inspectionData"] == {
        "input": INPUT, "afterInputPath": {"id": "o-1", "amount": 5}, "afterParameters": {"id": "o-1"},
        "result": {"label": "L"}, "afterResultSelector": {"label": "L"},
        "afterResultPath": {**INPUT, "out": {"label": "L"}}}
    assert (body["output"], body["nextState"]) == ({**INPUT, "out": {"label": "L"}}, "Done")


def test_choice_state_names_the_chosen_next_state(machine: Any) -> None:
    assert wire(machine.test_state("Pick", INPUT))["nextState"] == "Done"
    assert wire(machine.test_state("Pick", {"n": 0}))["nextState"] == "Declined"
    body = wire(machine.test_state("Strict", {"n": 5}))
    assert (body["status"], body["error"]) == ("FAILED", "States.NoChoiceMatched")


def test_wait_returns_at_once_with_its_next_state(machine: Any) -> None:
    body = wire(machine.test_state("Hold", INPUT, inspection_level="DEBUG"))
    assert body["status"] == "SUCCEEDED" and body["nextState"] == "Done" and body["output"] == INPUT
    assert body["inspectionData"] == {"input": INPUT, "afterInputPath": INPUT}


def test_succeed_and_fail_states(machine: Any) -> None:
    assert wire(machine.test_state("Done", INPUT)) == {"output": INPUT, "status": "SUCCEEDED"}
    assert wire(machine.test_state("Declined", INPUT)) == {"error": "Declined", "cause": "no money", "status": "FAILED"}


@pytest.mark.parametrize("state", ["Callback", "Job", "Activity", "Each", "Both"])
def test_states_aws_tests_only_with_a_mock_need_one(machine: Any, state: str) -> None:
    with pytest.raises(TestStateError, match="only be tested with a mock"):
        machine.test_state(state, INPUT)


def test_a_mocked_callback_task_answers_at_once(machine: Any) -> None:
    body = wire(machine.test_state("Callback", INPUT, mock={"result": '{"approved": true}'}))
    assert body == {"output": {"approved": True}, "status": "SUCCEEDED"}


def test_map_and_parallel_with_a_mock(machine: Any) -> None:
    body = wire(machine.test_state("Each", INPUT, mock={"result": "[10, 20]"}, inspection_level="DEBUG"))
    assert body["output"] == {**INPUT, "mapped": [10, 20]}
    assert body["inspectionData"]["result"] == [10, 20]
    with pytest.raises(TestStateError, match="JSON array"):
        machine.test_state("Each", INPUT, mock={"result": '{"not": "a list"}'})
    assert wire(machine.test_state("Both", INPUT, mock={"result": '[{"x": 1}]'}))["output"] == {"first": {"x": 1}}


def test_jsonata_states_report_after_arguments_and_variables() -> None:
    machine = statemachine.load({"QueryLanguage": "JSONata", "StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Arguments": {"Payload": "{% $states.input.a + $base %}"},
        "Assign": {"seen": "{% $states.result.Payload %}"},
        "Output": "{% $states.result.Payload * 2 %}", "End": True}}})
    body = wire(machine.test_state("T", {"a": 1}, inspection_level="DEBUG", variables={"base": 10},
                                   mock={"result": '{"Payload": 11}'}))
    assert body["output"] == 22
    data = body["inspectionData"]
    assert data["afterArguments"] == {"Payload": 11}
    assert "afterInputPath" not in data and "afterParameters" not in data
    assert data["variables"] == {"base": 10, "seen": 11}


def test_bad_requests_are_refused(machine: Any) -> None:
    with pytest.raises(TestStateError, match="no state named"):
        machine.test_state("Nope", {})
    with pytest.raises(TestStateError, match="exactly one of result or errorOutput"):
        machine.test_state("Charge", {}, mock={})
    with pytest.raises(TestStateError, match="not to Pass"):
        machine.test_state("Label", {}, mock={"result": "1"})
    with pytest.raises(TestStateError, match="inspection_level"):
        machine.test_state("Label", {}, inspection_level="VERBOSE")
    # AWS: mock.result is JSON text; text that is not JSON is a bad request (a
    # ValidationException), not a failure of the tested state
    with pytest.raises(TestStateError, match=r"mock\.result is not JSON text"):
        machine.test_state("Charge", INPUT, mock={"result": "{not json"})
    # AWS: errorOutput's error and cause are strings; variables and context are JSON objects
    with pytest.raises(TestStateError, match="may have cause"):
        machine.test_state("Charge", INPUT, mock={"errorOutput": {"error": "E", "cause": 5}})
    with pytest.raises(TestStateError, match="variables must be a JSON object"):
        machine.test_state("Label", INPUT, variables=[1])  # type: ignore[arg-type]
    with pytest.raises(TestStateError, match="context must be a JSON object"):
        machine.test_state("Label", INPUT, context=5)  # type: ignore[arg-type]


def test_sm_test_state_prints_the_response(sm: Any, tmp_path: Any) -> None:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(DEFINITION), encoding="utf-8")
    result = sm("test-state", path, "--state", "Charge", "--input", json.dumps(INPUT),
                "--mock", '{"errorOutput": {"error": "Busy"}}', "--inspection-level", "DEBUG")
    assert result.returncode == 1  # RETRIABLE
    body = json.loads(result.stdout)
    assert body["status"] == "RETRIABLE" and body["inspectionData"]["errorDetails"]["retryIndex"] == 0
    result = sm("test-state", path, "--state", "Label", "--input", json.dumps(INPUT))
    assert result.returncode == 0 and json.loads(result.stdout)["nextState"] == "Done"
    result = sm("test-state", path, "--state", "Each", "--input", "{}")
    assert result.returncode == 2 and "mock" in result.stderr


def test_error_caused_by_state_must_be_inside_the_map(machine: Any) -> None:
    mock = {"errorOutput": {"error": "States.TaskFailed", "cause": "item failed"}}
    body = wire(machine.test_state("Each", INPUT, mock=mock, state_configuration={"errorCausedByState": "One"}))
    assert (body["status"], body["error"]) == ("FAILED", "States.TaskFailed")
    with pytest.raises(TestStateError, match="errorCausedByState"):
        machine.test_state("Each", INPUT, mock=mock, state_configuration={"errorCausedByState": "Charge"})


def test_test_state_works_from_async_code(machine: Any) -> None:
    import asyncio

    async def inside_a_loop() -> Any:
        return machine.test_state("Label", INPUT)

    assert asyncio.run(inside_a_loop()).next_state == "Done"


def test_context_fields_reach_the_state() -> None:
    machine = statemachine.load({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemProcessor": {"StartAt": "Item", "States": {"Item": {
            "Type": "Pass", "Parameters": {"index.$": "$$.Map.Item.Index", "value.$": "$$.Map.Item.Value",
                                           "execution.$": "$$.Execution.Name"}, "End": True}}},
        "End": True}}})
    context = {"Map": {"Item": {"Index": 3, "Value": "x"}}, "Execution": {"Name": "run-7"}}
    body = wire(machine.test_state("Item", {}, context=context))
    assert body["output"] == {"index": 3, "value": "x", "execution": "run-7"}


def test_map_debug_shows_the_items_path(machine: Any) -> None:
    data = wire(machine.test_state("Each", INPUT, mock={"result": "[]"}, inspection_level="DEBUG"))["inspectionData"]
    assert data["afterInputPath"] == INPUT and data["afterItemsPath"] == [1, 2]


def test_map_debug_shows_each_iteration_input_after_the_item_selector() -> None:
    # AWS InspectionData.afterItemSelector: "An array containing the inputs for each Map
    # iteration, transformed by the ItemSelector specified in a Map state." The ItemSelector
    # sees the Map's input (after InputPath) as $ and the item as $$.Map.Item.
    machine = statemachine.load({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "InputPath": "$.order", "ItemsPath": "$.lines",
        "ItemSelector": {"sku.$": "$$.Map.Item.Value", "position.$": "$$.Map.Item.Index", "order.$": "$.id"},
        "ItemProcessor": {"StartAt": "One", "States": {"One": {"Type": "Pass", "End": True}}},
        "End": True}}})
    data = wire(machine.test_state("Each", {"order": {"id": "o-1", "lines": ["a", "b"]}},
                                   mock={"result": "[]"}, inspection_level="DEBUG"))["inspectionData"]
    assert data["afterItemsPath"] == ["a", "b"]
    assert data["afterItemSelector"] == [{"sku": "a", "position": 0, "order": "o-1"},
                                         {"sku": "b", "position": 1, "order": "o-1"}]


def test_sm_test_state_reads_piped_stdin_like_sm_run(sm: Any, tmp_path: Any) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("StartAt: P\nStates:\n  P:\n    Type: Pass\n    Parameters:\n      got.$: $.v\n"
                    "    End: true\n")
    piped = sm("test-state", path, "--state", "P", stdin='{"v": 7}')
    assert piped.returncode == 0, piped.stderr
    assert json.loads(json.loads(piped.stdout)["output"]) == {"got": 7}
    nothing = sm("test-state", path, "--state", "P", "--input", '{"v": 1}')
    assert json.loads(json.loads(nothing.stdout)["output"]) == {"got": 1}

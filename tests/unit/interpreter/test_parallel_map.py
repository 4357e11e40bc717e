"""Parallel and Map: results, failure propagation, concurrency limits, tolerated failures."""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Any

import pytest

import statemachine
from tests.unit.interpreter.helpers import run, types


def test_parallel_output_is_the_array_of_branch_outputs() -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": 1, "End": True}}},
        {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 5, "Next": "C"},
                                    "C": {"Type": "Pass", "InputPath": "$.x", "End": True}}}]}}}
    assert run(definition, {"x": 2}).output == [1, 2]


def test_one_failing_branch_fails_the_state_and_aborts_the_others() -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 100, "End": True}}},
        {"StartAt": "Bad", "States": {"Bad": {"Type": "Fail", "Error": "BranchError", "Cause": "x"}}}]}}}
    execution = run(definition)
    assert (execution.status, execution.error, execution.cause) == ("FAILED", "BranchError", "x")
    assert "WaitStateAborted" in types(execution)
    assert "WaitStateExited" not in types(execution)


def test_parallel_catch_and_branch_variables_stay_inside() -> None:
    definition = {"StartAt": "Set", "States": {
        "Set": {"Type": "Pass", "Assign": {"v": "outer"}, "Next": "P"},
        "P": {"Type": "Parallel", "Next": "Read", "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": {"v": "inner"},
                                              "Parameters": {"seen.$": "$v"}, "End": True}}}]},
        "Read": {"Type": "Pass", "Parameters": {"v.$": "$v", "branch.$": "$[0].seen"}, "End": True}}}
    assert run(definition).output == {"v": "outer", "branch": "outer"}


def map_state(**extra: Any) -> dict[str, Any]:
    return {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemProcessor": {"StartAt": "Check", "States": {
            "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericGreaterThan": 7, "Next": "Bad"}],
                      "Default": "Ok"},
            "Bad": {"Type": "Fail", "Error": "TooBig", "Cause": "item over 7"},
            "Ok": {"Type": "Pass", "End": True}}}, **extra}}}


def test_inline_map_item_selector_and_context() -> None:
    definition = map_state(ItemSelector={"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value",
                                         "k.$": "$.k"})
    definition["States"]["M"]["ItemProcessor"] = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    assert run(definition, {"items": ["a", "b"], "k": 0}).output == [
        {"i": 0, "v": "a", "k": 0}, {"i": 1, "v": "b", "k": 0}]


def test_inline_map_failure_fails_the_state() -> None:
    execution = run(map_state(MaxConcurrency=1), {"items": [1, 8, 2]})
    assert (execution.status, execution.error) == ("FAILED", "TooBig")
    assert types(execution)[-3:] == ["MapIterationFailed", "MapStateFailed", "ExecutionFailed"]
    assert types(execution).count("MapIterationStarted") == 2  # item 2 never starts


def distributed(**extra: Any) -> dict[str, Any]:
    definition = map_state(**extra)
    definition["States"]["M"]["ItemProcessor"]["ProcessorConfig"] = {"Mode": "DISTRIBUTED",
                                                                      "ExecutionType": "STANDARD"}
    return definition


def test_distributed_map_tolerates_failures_up_to_the_count() -> None:
    items = {"items": list(range(1, 11))}  # 8, 9, 10 fail
    ok = run(distributed(ToleratedFailureCount=3), items)
    assert ok.status == "SUCCEEDED"
    assert ok.output[:7] == list(range(1, 8))
    assert ok.output[7] == {"Error": "TooBig", "Cause": "item over 7"}
    assert "MapRunSucceeded" in types(ok)
    over = run(distributed(ToleratedFailureCount=2), items)
    assert (over.status, over.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert "MapRunFailed" in types(over)
    by_percent = run(distributed(ToleratedFailurePercentage=30), items)
    assert by_percent.status == "SUCCEEDED"
    strict = run(distributed(), items)
    assert (strict.status, strict.error) == ("FAILED", "TooBig")


def test_max_concurrency_bounds_running_iterations() -> None:
    lock = threading.Lock()
    running = [0]
    peak = [0]

    def handler(event: Any) -> Any:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.03)
        with lock:
            running[0] -= 1
        return event

    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "MaxConcurrency": 2, "End": True,
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "work", "End": True}}}}}}
    execution = run(definition, [1, 2, 3, 4, 5, 6], resources={"work": handler})
    assert execution.output == [1, 2, 3, 4, 5, 6]
    assert peak[0] == 2


def test_item_batcher_groups_items() -> None:
    definition = distributed(ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"tag": "t"}})
    definition["States"]["M"]["ItemProcessor"]["States"] = {"P": {"Type": "Pass", "End": True}}
    definition["States"]["M"]["ItemProcessor"]["StartAt"] = "P"
    execution = run(definition, {"items": [1, 2, 3]})
    assert execution.output == [{"BatchInput": {"tag": "t"}, "Items": [1, 2]},
                                {"BatchInput": {"tag": "t"}, "Items": [3]}]


def test_tolerance_fails_when_either_threshold_is_exceeded() -> None:
    items = {"items": list(range(1, 11))}  # 3 of 10 fail
    assert run(distributed(ToleratedFailureCount=5, ToleratedFailurePercentage=20), items).error == (
        "States.ExceedToleratedFailureThreshold")
    assert run(distributed(ToleratedFailureCount=3, ToleratedFailurePercentage=50), items).status == "SUCCEEDED"


def test_inline_map_honours_tolerated_failures_too() -> None:
    execution = run(map_state(ToleratedFailureCount=1), {"items": [1, 9, 2]})
    assert execution.output == [1, {"Error": "TooBig", "Cause": "item over 7"}, 2]
    assert types(execution).count("MapIterationFailed") == 1


def test_a_map_failing_inside_a_parallel_branch_records_map_state_failed_once() -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "M", "States": {"M": {
            "Type": "Map", "End": True, "ItemProcessor": {"StartAt": "F", "States": {
                "F": {"Type": "Fail", "Error": "Inner"}}}}}}]}}}
    execution = run(definition, [1])
    assert execution.error == "Inner"
    assert types(execution).count("MapStateFailed") == 1
    assert types(execution)[-4:] == ["MapIterationFailed", "MapStateFailed", "MapStateAborted",
                                     "ExecutionFailed"]


def test_several_iterations_failing_at_once_fail_the_map_without_stray_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every item lacks the field ItemSelector reads, so all iterations fail in the same turn.
    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "ItemSelector": {"w.$": "$.missing"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
        "End": True}}}
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        execution = statemachine.load(definition).run({"items": [1, 2, 3]})
        gc.collect()  # an unread task exception is reported when the task is collected
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")
    assert "'$.missing'" in (execution.cause or "")
    assert [r.getMessage() for r in caplog.records] == []

"""Retry timing under the virtual clock (the waits AWS documents) and Catch routing."""

from __future__ import annotations

from typing import Any

from tests.unit.interpreter.helpers import retry_waits, run, types


class Boom(Exception):
    pass


class Other(Exception):
    pass


def failing(*errors: type[Exception]) -> Any:
    calls: list[int] = []

    def handler(event: Any) -> Any:
        calls.append(1)
        error = errors[min(len(calls), len(errors)) - 1]
        raise error("failed")

    handler.calls = calls  # type: ignore[attr-defined]
    return handler


def task(**extra: Any) -> dict[str, Any]:
    return {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "work", "End": True, **extra}}}


def test_backoff_waits_interval_times_rate_power_attempt() -> None:
    handler = failing(Boom)
    execution = run(task(Retry=[{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "BackoffRate": 3,
                                 "MaxAttempts": 3}]), resources={"work": handler})
    assert execution.error == "Boom"
    assert len(handler.calls) == 4
    assert retry_waits(execution) == [2.0, 6.0, 18.0]


def test_max_delay_caps_the_wait_and_defaults_apply() -> None:
    execution = run(task(Retry=[{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "BackoffRate": 10,
                                 "MaxDelaySeconds": 5, "MaxAttempts": 3}]), resources={"work": failing(Boom)})
    assert retry_waits(execution) == [1.0, 5.0, 5.0]
    defaults = run(task(Retry=[{"ErrorEquals": ["States.ALL"]}]), resources={"work": failing(Boom)})
    # defaults: IntervalSeconds 1, BackoffRate 2.0, MaxAttempts 3
    assert retry_waits(defaults) == [1.0, 2.0, 4.0]


def test_max_attempts_zero_never_retries() -> None:
    handler = failing(Boom)
    execution = run(task(Retry=[{"ErrorEquals": ["Boom"], "MaxAttempts": 0}]), resources={"work": handler})
    assert len(handler.calls) == 1
    assert execution.error == "Boom"


def test_first_matching_retrier_counts_its_own_attempts() -> None:
    handler = failing(Boom, Other, Other, Other)
    execution = run(task(Retry=[{"ErrorEquals": ["Boom"], "MaxAttempts": 1, "IntervalSeconds": 1},
                                {"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 10,
                                 "BackoffRate": 1}]), resources={"work": handler})
    assert len(handler.calls) == 4
    assert execution.error == "Other"
    assert retry_waits(execution) == [1.0, 10.0, 10.0]


def test_full_jitter_waits_at_most_the_backoff() -> None:
    execution = run(task(Retry=[{"ErrorEquals": ["Boom"], "IntervalSeconds": 10, "MaxAttempts": 4,
                                 "JitterStrategy": "FULL"}]), resources={"work": failing(Boom)})
    waits = retry_waits(execution)
    assert len(waits) == 4
    assert all(0 <= w <= cap + 0.1 for w, cap in zip(waits, [10, 20, 40, 80], strict=True))
    assert waits != [10.0, 20.0, 40.0, 80.0]


def test_retry_count_in_context_object() -> None:
    seen: list[Any] = []

    def handler(event: Any) -> Any:
        seen.append(event["retry"])
        if len(seen) < 3:
            raise Boom("again")
        return "ok"

    execution = run(task(Parameters={"retry.$": "$$.State.RetryCount"},
                         Retry=[{"ErrorEquals": ["Boom"], "MaxAttempts": 5}]), resources={"work": handler})
    assert execution.output == "ok"
    assert seen == [0, 1, 2]


def test_catch_routes_to_first_matching_catcher_with_result_path() -> None:
    definition = {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "work", "Catch": [
            {"ErrorEquals": ["Nope"], "Next": "Wrong"},
            {"ErrorEquals": ["Boom", "Other"], "ResultPath": "$.error", "Next": "Handled"}], "End": True},
        "Wrong": {"Type": "Fail", "Error": "Wrong"},
        "Handled": {"Type": "Pass", "End": True}}}
    execution = run(definition, {"keep": 1}, resources={"work": failing(Boom)})
    assert execution.status == "SUCCEEDED"
    assert execution.output["keep"] == 1
    assert execution.output["error"]["Error"] == "Boom"
    assert types(execution)[-4:] == ["TaskStateExited", "PassStateEntered", "PassStateExited",
                                     "ExecutionSucceeded"]


def test_retry_then_catch_and_states_all_does_not_catch_runtime() -> None:
    definition = {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "work", "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handled"}], "End": True},
        "Handled": {"Type": "Pass", "Result": "caught", "End": True}}}
    handler = failing(Boom)
    assert run(definition, resources={"work": handler}).output == "caught"
    assert len(handler.calls) == 2
    runtime = {"StartAt": "P", "States": {
        "P": {"Type": "Pass", "OutputPath": "$.missing", "End": True}}}
    assert run(runtime).error == "States.Runtime"
    caught_runtime = {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "work", "OutputPath": "$.missing",
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handled"}], "End": True},
        "Handled": {"Type": "Pass", "End": True}}}
    execution = run(caught_runtime, resources={"work": lambda event: {}})
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")


def test_task_timeout_is_states_timeout_and_retriable() -> None:
    import threading

    release = threading.Event()

    def slow(event: Any) -> Any:
        release.wait(30)
        return "late"

    try:
        execution = run(task(TimeoutSeconds=1, Catch=[{"ErrorEquals": ["States.Timeout"], "Next": "Late"}]) | {
            "States": {"T": {"Type": "Task", "Resource": "work", "TimeoutSeconds": 1, "End": True,
                             "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Late"}]},
                       "Late": {"Type": "Pass", "Result": "timed out", "End": True}}},
            resources={"work": slow})
    finally:
        release.set()
    assert execution.output == "timed out"
    assert "TaskTimedOut" in types(execution)

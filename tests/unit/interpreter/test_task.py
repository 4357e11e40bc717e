"""Task state: handler calling conventions, history event shapes, heartbeats, async handlers."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from statemachine.errors import StatesError
from tests.fixtures.clock import ManualClock
from tests.unit.interpreter.helpers import run, types


def task(resource: str, **extra: Any) -> dict[str, Any]:
    return {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "End": True, **extra}}}


def test_service_integration_events_carry_resource_type_and_parameters() -> None:
    execution = run(task("arn:aws:states:::lambda:invoke", TimeoutSeconds=30,
                         Parameters={"FunctionName": "f", "Payload.$": "$"}), {"a": 1},
                    resources={"arn:aws:states:::lambda:invoke": lambda event: {"Payload": event}})
    scheduled = next(e for e in execution.history if e["type"] == "TaskScheduled")
    assert scheduled["taskScheduledEventDetails"] == {
        "resourceType": "lambda", "resource": "invoke", "region": "us-east-1",
        "parameters": '{"FunctionName":"f","Payload":{"a":1}}', "timeoutInSeconds": 30}
    succeeded = next(e for e in execution.history if e["type"] == "TaskSucceeded")
    assert succeeded["taskSucceededEventDetails"]["output"] == '{"Payload":{"FunctionName":"f","Payload":{"a":1}}}'


def test_bare_lambda_arn_records_lambda_function_events() -> None:
    arn = "arn:aws:lambda:us-east-1:111111111111:function:f"

    def fail(event: Any) -> Any:
        raise StatesError("Custom", "went wrong")

    execution = run(task(arn), resources={arn: fail})
    assert types(execution) == ["ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled",
                                "LambdaFunctionStarted", "LambdaFunctionFailed", "ExecutionFailed"]
    failed = execution.history[4]["lambdaFunctionFailedEventDetails"]
    assert failed["error"] == "Custom"


def test_failing_task_in_a_parallel_branch_is_recorded_as_aborted() -> None:
    def fail(event: Any) -> Any:
        raise StatesError("Custom", "x")

    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "work", "End": True}}}]}}}
    execution = run(definition, resources={"work": fail})
    assert types(execution)[-3:] == ["TaskFailed", "TaskStateAborted", "ExecutionFailed"]
    assert (execution.error, execution.cause) == ("Custom", "x")


def test_async_handler_is_awaited_on_the_loop() -> None:
    class AsyncHandler:
        async def __call__(self, request: Any) -> Any:
            await asyncio.sleep(0)
            return {"echo": request.input, "state": request.state_name}

    execution = run(task("async"), {"k": 1}, resources={"async": AsyncHandler()})
    assert execution.output == {"echo": {"k": 1}, "state": "T"}


def test_heartbeat_timeout_when_handler_stays_silent() -> None:
    release = threading.Event()

    def silent(event: Any, context: Any) -> Any:
        release.wait(30)
        return "late"

    try:
        execution = run(task("work", HeartbeatSeconds=1, TimeoutSeconds=30), resources={"work": silent})
    finally:
        release.set()
    assert (execution.status, execution.error) == ("FAILED", "States.HeartbeatTimeout")
    assert "TaskTimedOut" in types(execution)


def test_heartbeats_keep_a_task_alive() -> None:
    clock = ManualClock()  # each beat 0.9 s after the last, however slow the machine

    def chatty(event: Any, context: Any) -> Any:
        clock.wait_for_sleeper(within=1)  # the HeartbeatSeconds watchdog
        for _ in range(4):  # 3.6 s in all, longer than HeartbeatSeconds
            clock.advance(0.9)
            context.heartbeat()
        return "done"

    execution = run(task("work", HeartbeatSeconds=1), resources={"work": chatty}, clock=clock)
    assert (execution.status, execution.output) == ("SUCCEEDED", "done")

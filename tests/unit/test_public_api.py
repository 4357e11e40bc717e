"""The public API: what ``import statemachine`` offers, pinned, and how it behaves."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from pathlib import Path

import pytest

import statemachine
from tests.fixtures.clock import ManualClock

HELLO = {"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "Result": "world", "End": True}}}


PUBLIC = [
    "Clock", "DefinitionError", "Diagnostic", "Execution", "ExecutionError", "ExecutionStatus",
    "ExecutionStore", "HandlerThreads", "InvalidJsonError", "JSONInput", "JSONValue", "LoggingConfiguration", "MachineType", "MemoryStore",
    "MockError", "MockResource", "ResourceHandler", "ResourceNotFoundError", "ResourceRegistry",
    "RunOptions", "SqliteStore", "StateMachine", "StateMachineError", "StatesError", "SystemClock",
    "TaskContext", "TaskRequest", "Telemetry", "VirtualClock", "__version__", "load",
]


def test_public_names_are_pinned() -> None:
    assert statemachine.__all__ == PUBLIC  # sorted, and a change here is a decision


def test_all_is_exactly_what_the_module_exports() -> None:
    """As httpx pins it: every public name the module offers is in ``__all__`` and nothing
    else is (submodules that importing loads are attributes, not exports)."""
    import types

    offered = {
        name for name in dir(statemachine)
        if (not name.startswith("_") or name == "__version__")
        and not isinstance(getattr(statemachine, name), types.ModuleType)
    }
    assert offered == set(statemachine.__all__)
    for name in statemachine.__all__:
        value = getattr(statemachine, name)
        if isinstance(value, (type, types.FunctionType)):
            # defined where the docs say, re-exported here (not a copy or a stand-in)
            home = getattr(value, "__module__", "")
            assert home.startswith("statemachine."), (name, home)


def test_exported_doubles_and_stores_are_the_real_ones() -> None:
    from statemachine.clock import VirtualClock
    from statemachine.resources.base import TaskRequest
    from statemachine.resources.mock import MockResource
    from statemachine.resources.registry import ResourceRegistry
    from statemachine.store import MemoryStore, SqliteStore

    assert statemachine.VirtualClock is VirtualClock and statemachine.MockResource is MockResource
    assert statemachine.MemoryStore is MemoryStore and statemachine.SqliteStore is SqliteStore
    assert statemachine.ResourceRegistry is ResourceRegistry and statemachine.TaskRequest is TaskRequest
    store = statemachine.MemoryStore()
    mock = statemachine.MockResource.returning({"ok": True})
    execution = statemachine.load(
        {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "x:y", "End": True}}},
        resources={"x:y": mock},
    ).run({}, clock=statemachine.VirtualClock(), store=store)
    assert execution.output == {"ok": True}
    assert [call.input for call in mock.calls] == [{}]
    assert store.execution(execution.execution_arn) is not None


def test_load_dict_yaml_text_and_path(tmp_path: Path) -> None:
    path = tmp_path / "hello.yaml"
    path.write_text("StartAt: Hello\nStates:\n  Hello:\n    Type: Pass\n    Result: world\n    End: true\n")
    for source in (HELLO, json.dumps(HELLO), path):
        execution = statemachine.load(source).run()
        assert (execution.status, execution.output) == ("SUCCEEDED", "world")
    assert statemachine.load(path).name == "hello"


def test_invalid_definition_raises_definition_error_with_diagnostics() -> None:
    bad = {"StartAt": "Nowhere", "States": {"A": {"Type": "Pass", "Next": "Missing"}}}
    with pytest.raises(statemachine.DefinitionError) as info:
        statemachine.load(bad)
    assert len(info.value.diagnostics) >= 2


def test_unknown_resource_is_reported_at_load() -> None:
    definition = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "nothing:here", "End": True}}}
    with pytest.raises(statemachine.ResourceNotFoundError):
        statemachine.load(definition, resources={})


def test_execution_fields_and_history_shape() -> None:
    execution = statemachine.load(HELLO, name="hello").run({"a": 1}, name="run-1")
    assert execution.execution_arn.endswith(":execution:hello:run-1")
    assert execution.name == "run-1"
    assert execution.error is None and execution.cause is None
    assert execution.stop_date is not None and execution.stop_date >= execution.start_date
    history = execution.history
    assert [e["type"] for e in history] == [
        "ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    assert [e["id"] for e in history] == [1, 2, 3, 4]
    assert [e["previousEventId"] for e in history] == [0, 1, 2, 3]
    assert history[1]["stateEnteredEventDetails"] == {
        "name": "Hello", "input": '{"a":1}', "inputDetails": {"truncated": False}}
    assert history[3]["executionSucceededEventDetails"]["output"] == '"world"'
    result = execution.to_dict()
    assert {"status", "output", "error", "cause", "executionArn", "name", "startDate", "stopDate"} <= set(result)
    assert result["status"] == "SUCCEEDED"


def test_machine_is_reusable_and_runs_do_not_share_state() -> None:
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"seen.$": "$.v"}, "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"v.$": "$seen"}, "End": True}}}
    machine = statemachine.load(definition)
    first, second = machine.run({"v": 1}), machine.run({"v": 2})
    assert first.output == {"v": 1} and second.output == {"v": 2}
    assert first.execution_arn != second.execution_arn


def test_run_async_and_on_event() -> None:
    seen: list[str] = []
    machine = statemachine.load(HELLO)
    execution = asyncio.run(machine.run_async({}, on_event=lambda e: seen.append(e["type"])))
    assert execution.status == "SUCCEEDED"
    assert seen == [e["type"] for e in execution.history]


def test_run_inside_a_running_loop_still_works() -> None:
    async def main() -> statemachine.Execution:
        return statemachine.load(HELLO).run()

    assert asyncio.run(main()).output == "world"


def test_abort_stops_a_waiting_execution() -> None:
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
    waiting = threading.Event()
    execution = statemachine.load(definition).start(
        {}, on_event=lambda event: event["type"] == "WaitStateEntered" and waiting.set())
    assert waiting.wait(30), "the Wait state was never entered"
    execution.abort(error="Stop", cause="by test")
    execution.wait(30)
    assert execution.status == "ABORTED"
    assert (execution.error, execution.cause) == ("Stop", "by test")
    # like ExecutionTimedOut (issue 9 item 12): the stop is the service's, one event, linked to
    # nothing; the running Wait records no WaitStateAborted
    assert [e["type"] for e in execution.history][-2:] == ["WaitStateEntered", "ExecutionAborted"]
    assert execution.history[-1]["previousEventId"] == 0
    assert execution.history[-1]["executionAbortedEventDetails"] == {"error": "Stop", "cause": "by test"}


def test_wait_for_task_token_completes_through_send_task_success() -> None:
    tokens: list[str] = []
    got_token = threading.Event()

    def handler(event: object, context: object) -> None:
        tokens.append(context.task_token)  # type: ignore[attr-defined]
        got_token.set()

    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"token.$": "$$.Task.Token"}, "End": True}}}
    machine = statemachine.load(definition, resources={
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken": handler})
    execution = machine.start({})
    assert got_token.wait(30)
    assert execution.wait_for_task_token(timeout=30) == tokens[0]  # bounded, unlike a polling loop
    execution.send_task_success(tokens[0], {"done": True})
    execution.wait(30)
    assert (execution.status, execution.output) == ("SUCCEEDED", {"done": True})


def test_wait_for_task_token_failure() -> None:
    got = threading.Event()
    tokens: list[str] = []

    def handler(event: object, context: object) -> None:
        tokens.append(context.task_token)  # type: ignore[attr-defined]
        got.set()

    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": True}}}
    execution = statemachine.load(definition, resources={
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken": handler}).start({})
    assert got.wait(30)
    assert execution.wait_for_task_token(timeout=30) == tokens[0]
    execution.send_task_failure(tokens[0], "Rejected", "no thanks")
    execution.wait(30)
    assert (execution.status, execution.error, execution.cause) == ("FAILED", "Rejected", "no thanks")
    with pytest.raises(statemachine.ExecutionError):
        execution.send_task_success(tokens[0], {})


def test_runs_never_reparse(monkeypatch: pytest.MonkeyPatch) -> None:
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($.v, 1)"}, "ResultPath": "$.r",
              "Next": "C"},
        "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.r.v", "NumericEqualsPath": "$.v", "Next": "D"},
            {"Variable": "$.r.v", "NumericEquals": 2, "Next": "J"}]},
        "D": {"Type": "Fail"},
        "J": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $states.input.r.v * 10 %}",
              "End": True}}}
    machine = statemachine.load(definition)

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed at run time")

    # A module that did `from jsonpath import compile_path` holds its own name for it, which
    # patching jsonpath.compile_path leaves alone: patch every name bound to a parser.
    from statemachine import compiler, loader
    from statemachine.expressions import intrinsics, jsonata, jsonpath, payload
    parsers = {id(getattr(module, name)): f"{module.__name__}.{name}" for module, name in (
        (loader, "load_source"), (compiler, "compile_machine"), (jsonpath, "compile_path"),
        (jsonpath, "compile_reference_path"), (payload, "compile_payload"),
        (intrinsics, "parse_intrinsic"), (jsonata, "compile_jsonata"), (jsonata, "compile_jsonata_template"))}
    patched = []
    for module in [m for name, m in sys.modules.items() if name.startswith("statemachine") and m is not None]:
        for attribute, value in list(vars(module).items()):
            if id(value) in parsers:
                monkeypatch.setattr(module, attribute, forbidden)
                patched.append(f"{module.__name__}.{attribute}")
    assert set(patched) > set(parsers.values())  # the aliases too, not only the definitions
    for _ in range(2):
        assert machine.run({"v": 1}).output == 20


def test_one_machine_runs_in_many_threads_at_once() -> None:
    definition = {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 1, "Next": "P"},
        "P": {"Type": "Pass", "Parameters": {"n.$": "$.n"}, "End": True}}}
    machine = statemachine.load(definition)
    results: dict[int, object] = {}

    def worker(n: int) -> None:
        results[n] = machine.run({"n": n}, virtual_time=True).output

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {n: {"n": n} for n in range(8)}


def test_run_timeout_aborts_a_run_that_takes_too_long() -> None:
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}
    execution = statemachine.load(definition).run({}, timeout=0.2)
    assert execution.status == "ABORTED"
    assert execution.events[-1].type == "ExecutionAborted"


def test_seeded_runs_are_reproducible() -> None:
    import random

    definition = {"StartAt": "U", "States": {"U": {"Type": "Pass", "Parameters": {"id.$": "States.UUID()"},
                                                   "End": True}}}
    machine = statemachine.load(definition)
    first = machine.run({}, rng=random.Random(1))
    second = machine.run({}, rng=random.Random(1))
    assert first.output == second.output
    assert first.name == second.name


def test_callback_may_arrive_while_the_handler_still_runs() -> None:
    holder: dict[str, statemachine.Execution] = {}
    ready = threading.Event()

    def handler(event: object, context: object) -> None:
        ready.wait(30)
        holder["execution"].send_task_success(context.task_token, "approved")  # type: ignore[attr-defined]

    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": True}}}
    machine = statemachine.load(definition, resources={
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken": handler})
    holder["execution"] = machine.start({})
    ready.set()
    execution = holder["execution"].wait(30)
    assert (execution.status, execution.output) == ("SUCCEEDED", "approved")
    assert "TaskSubmitted" in [e["type"] for e in execution.history]


def test_send_task_heartbeat_keeps_a_callback_task_alive() -> None:
    tokens: list[str] = []
    got = threading.Event()

    def handler(event: object, context: object) -> None:
        tokens.append(context.task_token)  # type: ignore[attr-defined]
        got.set()

    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "HeartbeatSeconds": 1, "End": True}}}
    clock = ManualClock()  # each beat 0.9 s after the last, however slow the machine
    execution = statemachine.load(definition, resources={
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken": handler}).start({}, clock=clock)
    assert got.wait(30)
    clock.wait_for_sleeper(within=1)  # the HeartbeatSeconds watchdog
    for _ in range(4):  # 3.6 s in all, longer than HeartbeatSeconds
        clock.advance(0.9)
        execution.send_task_heartbeat(tokens[0])
    execution.send_task_success(tokens[0], "alive")
    execution.wait(30)
    assert (execution.status, execution.output) == ("SUCCEEDED", "alive")


def test_wait_for_task_token_returns_the_token_the_handler_received() -> None:
    received: list[str] = []
    called = threading.Event()

    def handler(event: object, context: object) -> None:
        received.append(context.task_token)  # type: ignore[attr-defined]
        called.set()

    definition = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": True}}}
    execution = statemachine.load(definition, resources={
        "arn:aws:states:::sqs:sendMessage.waitForTaskToken": handler}).start({})
    token = execution.wait_for_task_token(timeout=30)
    # the token waits from before the handler runs (a callback may come from inside it), so
    # the handler may not have been called yet when wait_for_task_token returns
    assert called.wait(30)
    assert token == received[0]
    execution.send_task_success(token, {"ok": 1})
    assert execution.wait(30).output == {"ok": 1}


def test_wait_for_task_token_raises_when_the_execution_never_waits() -> None:
    execution = statemachine.load({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}).start({})
    with pytest.raises(statemachine.ExecutionError, match="without waiting for a task token"):
        execution.wait_for_task_token(timeout=5)


def test_load_reports_every_unresolved_resource_with_its_position() -> None:
    text = ("StartAt: A\nStates:\n  A:\n    Type: Task\n    Resource: nope:first\n    Next: B\n"
            "  B:\n    Type: Task\n    Resource: nope:second\n    End: true\n")
    with pytest.raises(statemachine.ResourceNotFoundError) as caught:
        statemachine.load(text)
    found = [(d.code, d.state, d.line, d.column) for d in caught.value.diagnostics]
    assert found == [("unresolved-resource", "A", 5, 5), ("unresolved-resource", "B", 9, 5)]
    assert "nope:first" in str(caught.value) and "nope:second" in str(caught.value)


def test_a_machine_loaded_from_an_asl_file_is_named_without_the_asl_suffix(tmp_path: Path) -> None:
    path = tmp_path / "LambdaSQSIntegration.asl.json"
    path.write_text('{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}')
    machine = statemachine.load(path)
    assert machine.name == "LambdaSQSIntegration"
    assert machine.run({}).execution_arn.split(":")[-2] == "LambdaSQSIntegration"

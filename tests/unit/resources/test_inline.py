"""Blocking handlers under ``run``/``start`` (statemachine/resources/inline.py): the loop moves to
the pool worker that runs them, and comes home when one runs long -- so a hung handler still
never blocks other branches, TimeoutSeconds, abort() or run(timeout=...), and the pool's bound
holds. Every wait here is bounded (a broken hand-over fails the test, it does not hang it)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import statemachine
from statemachine.resources.threads import HandlerThreads

WAIT = 30.0  # upper bound of every wait on another thread


def _task(resource: str, **extra: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, **extra}


def test_a_hung_handler_times_out_and_run_returns_while_it_still_runs() -> None:
    release = threading.Event()
    entered = threading.Event()

    def hang(value: Any) -> Any:
        entered.set()
        release.wait(WAIT)
        return value

    definition = {"StartAt": "Slow", "States": {"Slow": _task("python:hang", TimeoutSeconds=1, End=True)}}
    machine = statemachine.load(definition, resources={"python:hang": hang})
    try:
        execution = machine.run({})
        assert entered.is_set()
        assert not release.is_set()  # run() returned while the handler was still blocked
        assert (execution.status, execution.error) == ("FAILED", "States.Timeout")
        types = [e.type for e in execution.events]
        assert "TaskTimedOut" in types and "TaskSucceeded" not in types
    finally:
        release.set()


def test_run_timeout_aborts_while_a_handler_blocks() -> None:
    release = threading.Event()
    definition = {"StartAt": "Slow", "States": {"Slow": _task("python:hang", End=True)}}
    machine = statemachine.load(definition, resources={"python:hang": lambda v: release.wait(WAIT)})
    try:
        execution = machine.run({}, timeout=0.3)
        assert not release.is_set()
        assert execution.status == "ABORTED"
        assert execution.events[-1].type == "ExecutionAborted"
    finally:
        release.set()


def test_abort_reaches_an_execution_whose_handler_blocks() -> None:
    release = threading.Event()
    entered = threading.Event()

    def hang(value: Any) -> Any:
        entered.set()
        release.wait(WAIT)
        return value

    definition = {"StartAt": "Slow", "States": {"Slow": _task("python:hang", End=True)}}
    execution = statemachine.load(definition, resources={"python:hang": hang}).start({})
    try:
        assert entered.wait(WAIT)
        execution.abort("Stop", "by test")
        execution.wait(WAIT)
        assert not release.is_set()
        assert execution.status == "ABORTED"
    finally:
        release.set()


def test_a_blocked_branch_does_not_stop_its_sibling() -> None:
    """Branch A's handler waits for branch B's handler: it only returns if B runs meanwhile."""
    b_ran = threading.Event()

    def wait_for_b(value: Any) -> Any:
        assert b_ran.wait(WAIT), "branch B never ran while branch A's handler blocked"
        return "a"

    def mark_b(value: Any) -> Any:
        b_ran.set()
        return "b"

    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "A", "States": {"A": _task("python:a", End=True)}},
        {"StartAt": "B", "States": {"B": _task("python:b", End=True)}},
    ]}}}
    machine = statemachine.load(definition, resources={"python:a": wait_for_b, "python:b": mark_b})
    execution = machine.run({})
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output == ["a", "b"]


def test_handlers_run_on_a_pool_worker_without_a_running_loop() -> None:
    seen: list[tuple[int, str, bool]] = []

    def probe(value: Any) -> Any:
        try:
            asyncio.get_running_loop()
            running = True
        except RuntimeError:
            running = False
        thread = threading.current_thread()
        seen.append((thread.ident or 0, thread.name, running))
        return asyncio.run(_double(value))  # a handler may run its own loop, as on any thread

    definition = {"StartAt": "A", "States": {
        "A": _task("python:probe", Next="B"), "B": _task("python:probe", End=True)}}
    pool = HandlerThreads(4)
    machine = statemachine.load(definition, resources={"python:probe": probe}, handler_threads=pool)
    execution = machine.run(3)
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output == 12
    assert [running for _, _, running in seen] == [False, False]
    assert all(ident != threading.get_ident() for ident, _, _ in seen)  # never the caller's thread
    assert all(name.startswith("task:") for _, name, _ in seen)
    assert pool.peak == 1


async def _double(value: int) -> int:
    await asyncio.sleep(0)
    return value * 2


def test_the_pool_bound_holds_when_handlers_block() -> None:
    """Three blocking calls at once on a pool of one: one runs, two queue, none runs beside it."""
    lock = threading.Lock()
    running = [0, 0]  # now, peak
    first = threading.Event()
    release = threading.Event()

    def block(value: Any) -> Any:
        with lock:
            running[0] += 1
            running[1] = max(running)
        first.set()
        release.wait(WAIT)
        with lock:
            running[0] -= 1
        return value

    pool = HandlerThreads(1)
    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "End": True, "MaxConcurrency": 0,
        "ItemProcessor": {"StartAt": "T", "States": {"T": _task("python:block", End=True)}}}}}
    machine = statemachine.load(definition, resources={"python:block": block}, handler_threads=pool)
    execution = machine.start([1, 2, 3])
    assert first.wait(WAIT)
    while pool.queued < 2 and not execution._done.is_set():
        execution._done.wait(0.01)  # the two others reach the pool's queue (bounded below)
    release.set()
    execution.wait(WAIT)
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output == [1, 2, 3]
    assert running[1] == 1
    assert pool.peak == 1


def test_a_handler_error_reaches_retry_and_catch() -> None:
    calls: list[int] = []

    def flaky(value: Any) -> Any:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("try again")
        raise KeyError("gone")

    definition = {"StartAt": "T", "States": {
        "T": _task("python:flaky", End=True,
                   Retry=[{"ErrorEquals": ["ConnectionError"], "IntervalSeconds": 1, "BackoffRate": 1,
                           "MaxAttempts": 5}],
                   Catch=[{"ErrorEquals": ["KeyError"], "Next": "Caught"}]),
        "Caught": {"Type": "Pass", "End": True}}}
    machine = statemachine.load(definition, resources={"python:flaky": flaky})
    execution = machine.run({}, virtual_time=True)
    assert execution.status == "SUCCEEDED", execution.cause
    assert len(calls) == 3
    assert execution.output["Error"] == "KeyError"

"""Worker threads for blocking handlers (statemachine/resources/threads.py), issue 9 item 19:
a bounded pool, the rest queued; queued calls do not spend their TimeoutSeconds."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import statemachine
from statemachine.errors import StatesError
from statemachine.resources import threads
from statemachine.resources.python import to_json_value
from statemachine.resources.threads import HandlerThreads

BLOCKING = {
    "StartAt": "Block",
    "States": {"Block": {"Type": "Task", "Resource": "python:block", "End": True}},
}


class Gate:
    """A blocking task function: counts calls running at once, blocks until released."""

    def __init__(self, full_at: int) -> None:
        self.lock = threading.Lock()
        self.running = self.peak = 0
        self.threads: set[int] = set()  # the threads calls ran on
        self.full_at = full_at
        self.full = threading.Event()
        self.release = threading.Event()

    def __call__(self, value: Any) -> Any:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.threads.add(threading.get_ident())
            if self.running >= self.full_at:
                self.full.set()
        try:
            assert self.release.wait(30), "never released"
            return value
        finally:
            with self.lock:
                self.running -= 1


def test_thousand_concurrent_executions_stay_within_the_bound() -> None:
    bound = 8
    gate = Gate(full_at=bound)
    pool = HandlerThreads(bound)
    machine = statemachine.load(BLOCKING, resources={"python:block": gate.__call__}, handler_threads=pool)

    before = threading.active_count()

    async def main() -> list[Any]:
        runs = [asyncio.ensure_future(machine.run_async({"i": i})) for i in range(1000)]
        assert await asyncio.to_thread(gate.full.wait, 30)
        # every worker is busy: the other 992 calls wait in the queue, no thread for them
        deadline = time.monotonic() + 30  # a pool that starts a thread per call never queues: fail, not spin
        while pool.queued < 1000 - bound:
            assert time.monotonic() < deadline, f"{pool.queued} calls queued, {pool.threads} threads"
            await asyncio.sleep(0)
        assert pool.threads == bound
        # the pool's 8, plus at most asyncio.to_thread's helper threads: never one per call
        assert threading.active_count() - before <= bound + 8
        gate.release.set()
        return list(await asyncio.gather(*runs))

    executions = asyncio.run(main())
    assert [e.status for e in executions] == ["SUCCEEDED"] * 1000
    assert sorted(e.output["i"] for e in executions) == list(range(1000))
    assert gate.peak == bound
    assert pool.peak == bound
    assert len(gate.threads) <= bound


def test_workers_are_reused_not_started_per_call() -> None:
    calls: list[str] = []

    def echo(value: Any) -> Any:
        calls.append(threading.current_thread().name)
        return value

    loop_def = {
        "StartAt": "Call",
        "States": {
            "Call": {"Type": "Task", "Resource": "python:echo", "ResultPath": "$.r", "Next": "More"},
            "More": {"Type": "Choice", "Choices": [
                {"Variable": "$.n", "NumericGreaterThan": 0, "Next": "Dec"}], "Default": "Done"},
            "Dec": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, -1)"}, "Next": "Call"},
            "Done": {"Type": "Succeed"},
        },
    }
    pool = HandlerThreads(4)
    machine = statemachine.load(loop_def, resources={"python:echo": echo}, handler_threads=pool)
    execution = machine.run({"n": 200})
    assert execution.status == "SUCCEEDED", execution.cause
    assert len(calls) == 201
    assert pool.peak == 1  # one call at a time: the same worker every time
    assert len(set(calls)) == 1 and calls[0].startswith("task:")  # named after the function


class ManualClock:
    """A clock that only moves when the test says so."""

    def __init__(self) -> None:
        self.time = 1_700_000_000.0
        self.sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.time + seconds, future))
        await future

    @contextmanager
    def busy(self) -> Iterator[None]:
        yield

    def advance(self, seconds: float) -> None:
        self.time += seconds
        for deadline, future in self.sleepers:
            if deadline <= self.time and not future.done():
                future.set_result(None)


def test_time_queued_for_a_thread_does_not_count_against_timeout_seconds() -> None:
    """The rule (threads.py): TimeoutSeconds counts from the handler's start on a worker."""
    gate = Gate(full_at=1)
    timed = {"StartAt": "Quick", "States": {"Quick": {
        "Type": "Task", "Resource": "python:quick", "TimeoutSeconds": 2, "End": True}}}
    pool = HandlerThreads(1)
    holder = statemachine.load(BLOCKING, resources={"python:block": gate.__call__}, handler_threads=pool)
    quick = statemachine.load(timed, resources={"python:quick": lambda v: {"ran": True}},
                              handler_threads=pool)
    clock = ManualClock()

    async def main() -> tuple[Any, Any]:
        first = asyncio.ensure_future(holder.run_async({}, clock=clock))
        assert await asyncio.to_thread(gate.full.wait, 30)  # the only thread is busy
        second = asyncio.ensure_future(quick.run_async({}, clock=clock))
        deadline = time.monotonic() + 30
        while pool.queued < 1:
            assert time.monotonic() < deadline, "the second call never queued behind the first"
            await asyncio.sleep(0)
        clock.advance(10)  # far past Quick's 2 s, all of it spent in the queue
        for _ in range(20):
            await asyncio.sleep(0)
        gate.release.set()
        return await first, await second

    first, second = asyncio.run(main())
    assert first.status == "SUCCEEDED"
    assert second.status == "SUCCEEDED", (second.error, second.cause)
    assert second.output == {"ran": True}


def test_timeout_still_fires_for_a_call_that_started() -> None:
    gate = Gate(full_at=1)
    timed = {"StartAt": "Slow", "States": {"Slow": {
        "Type": "Task", "Resource": "python:block", "TimeoutSeconds": 2, "End": True}}}
    machine = statemachine.load(timed, resources={"python:block": gate.__call__},
                                handler_threads=HandlerThreads(1))
    clock = ManualClock()

    async def main() -> Any:
        run = asyncio.ensure_future(machine.run_async({}, clock=clock))
        assert await asyncio.to_thread(gate.full.wait, 30)
        for _ in range(20):
            await asyncio.sleep(0)
        clock.advance(3)
        execution = await run
        gate.release.set()
        return execution

    execution = asyncio.run(main())
    assert (execution.status, execution.error) == ("FAILED", "States.Timeout")


def test_run_option_gives_the_execution_its_own_pool() -> None:
    names: list[str] = []
    machine = statemachine.load(BLOCKING, resources={
        "python:block": lambda v: names.append(threading.current_thread().name) or v})
    pool = HandlerThreads(2, name="own")
    assert machine.run({}, handler_threads=pool).status == "SUCCEEDED"
    assert pool.peak == 1


def test_environment_variable_sizes_the_default_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "_DEFAULT", None)
    monkeypatch.setenv("SM_HANDLER_THREADS", "3")
    assert threads.default_threads().max_workers == 3
    monkeypatch.setattr(threads, "_DEFAULT", None)
    monkeypatch.setenv("SM_HANDLER_THREADS", "0")
    with pytest.raises(ValueError, match="SM_HANDLER_THREADS must be a positive integer"):
        threads.default_threads()
    monkeypatch.setattr(threads, "_DEFAULT", None)
    monkeypatch.delenv("SM_HANDLER_THREADS")
    assert threads.default_threads().max_workers == threads.DEFAULT_MAX_WORKERS
    with pytest.raises(ValueError):
        HandlerThreads(0)


# -- the result copy every Python task pays for (python.to_json_value) --------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=6) | st.tuples(inner, inner)
    | st.dictionaries(st.text() | st.integers(), inner, max_size=6),
    max_leaves=40,
)


@given(json_values)
@settings(max_examples=300, deadline=None)
def test_result_copy_matches_a_json_round_trip(value: Any) -> None:
    """The fast copy of a task result gives exactly what json gives, or the same error."""
    try:
        expected = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        with pytest.raises(StatesError) as info:
            to_json_value(value)
        assert info.value.name == "Runtime.MarshalError"
        return
    copy = to_json_value(value)
    assert copy == expected
    assert json.dumps(copy) == json.dumps(expected)  # same types too (lists, str keys)


def test_result_copy_shares_nothing_with_the_function() -> None:
    result = {"a": [1, {"b": 2}]}
    copy = to_json_value(result)
    result["a"][1]["b"] = 3  # type: ignore[index]
    assert copy == {"a": [1, {"b": 2}]}


def test_a_pool_made_for_one_run_ends_its_threads_with_the_run() -> None:
    seen: list[threading.Thread] = []

    def record(value: Any) -> Any:
        seen.append(threading.current_thread())
        return value

    machine = statemachine.load(BLOCKING, resources={"python:block": record})
    assert machine.run({}, handler_threads=2).status == "SUCCEEDED"
    (worker,) = seen
    worker.join(30)  # ends now, not after the 30 s idle time
    assert not worker.is_alive()


def test_shutdown_ends_idle_workers_and_later_calls_still_run() -> None:
    pool = HandlerThreads(3, idle_seconds=3600)

    async def calls(n: int) -> list[int]:
        return list(await asyncio.gather(*(pool.call(lambda x: x, i) for i in range(n))))

    assert asyncio.run(calls(3)) == [0, 1, 2]
    assert pool.threads >= 1
    pool.shutdown(wait=True)
    assert pool.threads == 0
    assert asyncio.run(calls(2)) == [0, 1]  # a closed pool still serves, then lets go
    pool.shutdown(wait=True)
    assert pool.threads == 0


@pytest.mark.parametrize("size", [True, 1.5, "2"])
def test_a_pool_size_that_is_not_a_whole_number_is_refused(size: Any) -> None:
    machine = statemachine.load(BLOCKING, resources={"python:block": lambda v: v})
    with pytest.raises(ValueError, match="handler threads must be a whole number"):
        machine.run({}, handler_threads=size)
    with pytest.raises(ValueError, match="handler threads must be a whole number"):
        statemachine.load(BLOCKING, resources={"python:block": lambda v: v}, handler_threads=size)

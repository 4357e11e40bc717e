"""Virtual time: waits finish at once but timestamps advance; real work is never skipped."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from statemachine.clock import SystemClock, VirtualClock, format_timestamp
from tests.unit.interpreter.helpers import run


def test_virtual_sleep_jumps_when_everything_waits() -> None:
    clock = VirtualClock(start=1_000.0)

    async def main() -> float:
        await asyncio.gather(clock.sleep(50), clock.sleep(3600))
        return clock.now()

    # a bound, not a measurement: sleeping for real would take an hour
    now = asyncio.run(asyncio.wait_for(main(), 30))
    assert 4600 <= now < 4601


def test_virtual_clock_does_not_jump_while_real_work_runs() -> None:
    clock = VirtualClock(start=0.0)
    order: list[str] = []

    async def worker() -> None:
        with clock.busy():
            await asyncio.to_thread(time.sleep, 0.2)
        order.append(f"work done at {clock.now():.1f}")

    async def sleeper() -> None:
        await clock.sleep(0.1)
        order.append("sleeper woke")

    async def main() -> None:
        await asyncio.gather(worker(), sleeper())

    asyncio.run(main())
    assert order[0] == "sleeper woke"  # 0.1 s of real time passed while the thread worked


def test_task_timeout_measured_while_handler_runs_in_a_thread() -> None:
    release = threading.Event()

    returned = threading.Event()

    def slow(event: Any) -> Any:
        release.wait(60)
        returned.set()
        return "late"

    definition = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "work",
                                                   "TimeoutSeconds": 1, "End": True}}}
    started = time.monotonic()
    try:
        execution = run(definition, resources={"work": slow})
        assert not returned.is_set()  # timed out while the handler still ran, not after it
    finally:
        release.set()
    assert time.monotonic() - started >= 0.9  # real seconds: the clock did not jump
    assert (execution.status, execution.error) == ("FAILED", "States.Timeout")


def test_machine_timeout_seconds_times_out() -> None:
    definition = {"TimeoutSeconds": 10, "StartAt": "W",
                  "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}
    execution = run(definition)
    # AWS (issue 9 item 12): TIMED_OUT without error or cause; no WaitStateAborted; the
    # ExecutionTimedOut event is linked to nothing (previousEventId 0) and has no details
    assert (execution.status, execution.error, execution.cause) == ("TIMED_OUT", None, None)
    assert [e["type"] for e in execution.history] == ["ExecutionStarted", "WaitStateEntered", "ExecutionTimedOut"]
    assert execution.history[-1] == {"id": 3, "previousEventId": 0, "type": "ExecutionTimedOut",
                                     "timestamp": execution.history[-1]["timestamp"]}
    assert 10 <= execution.events[-1].timestamp - execution.events[0].timestamp < 11


def test_system_clock_and_timestamp_format() -> None:
    assert abs(SystemClock().now() - time.time()) < 1
    assert format_timestamp(0.5) == "1970-01-01T00:00:00.500Z"


def test_virtual_runs_without_handlers_have_identical_timestamps() -> None:
    import random

    import statemachine

    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 90, "Next": "P"},
                                             "P": {"Type": "Pass", "End": True}}}
    machine = statemachine.load(definition)
    runs = [machine.run({}, clock=VirtualClock(start=1_700_000_000.0), rng=random.Random(3))
            for _ in range(2)]
    assert runs[0].history == runs[1].history
    assert runs[0].events[-1].timestamp == 1_700_000_090.0

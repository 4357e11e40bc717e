"""Interpreter stage: one whole execution, from ExecutionStarted to its terminal event.

In: a Runtime, a CompiledMachine and the input. Out: an ``Outcome`` (status, output or
error/cause) and the history in ``Runtime.events``. The execution times out after
TimeoutSeconds capped by its maximum life (``Runtime.max_duration``); under real time a loop
timer cancels the work (and JSONata reads the same deadline from the Interrupt), under a
virtual clock a watchdog sleeps on the clock. Terminal shapes are AWS's: ExecutionTimedOut
and ExecutionAborted are one event linked to nothing (previousEventId 0), the states still
running record nothing; reaching the history limit fails the execution with States.Runtime.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from statemachine import errors
from statemachine.clock import SystemClock
from statemachine.errors import StatesError
from statemachine.interpreter.execution import Frame, Runtime, run_machine
from statemachine.model import CompiledMachine
from statemachine.values import JSON, MISSING, ExecutionStatus, depth_problem

__all__ = ["Outcome", "execute"]


class Outcome:
    """How an execution ended: status, output or error/cause."""

    __slots__ = ("cause", "error", "output", "status")

    def __init__(self, status: ExecutionStatus, output: JSON = None, error: str | None = None,
                 cause: str | None = None) -> None:
        self.status = status
        self.output = output
        self.error = error
        self.cause = cause


async def execute(rt: Runtime, machine: CompiledMachine, value: JSON, role_arn: str,
                  started: float | None = None) -> Outcome:
    """Run a whole execution: ExecutionStarted ... ExecutionSucceeded/Failed/TimedOut/Aborted.

    ``started`` is the execution's start time (``$$.Execution.StartTime``), used as the
    ExecutionStarted timestamp. Never raises but CancelledError (the caller's own)."""
    try:
        return await _execute(rt, machine, value, role_arn, started)
    finally:
        rt.close()


async def _execute(rt: Runtime, machine: CompiledMachine, value: JSON, role_arn: str,
                   started: float | None) -> Outcome:
    frame = Frame({}, 0)
    event = rt.emit(frame, "ExecutionStarted", {"input": value, "roleArn": role_arn}, started)
    rt.started = event.timestamp
    work = asyncio.ensure_future(run_machine(rt, machine, frame, value))
    timeout = _timeout(rt, machine)
    try:
        output = await work if timeout is None else await _with_timeout(rt, work, timeout)
    except StatesError as failure:
        return _failed(rt, frame, rt.limit_error or failure)
    except _TimedOut:
        # AWS: one ExecutionTimedOut, linked to nothing (previousEventId 0), without error or
        # cause; the states still running record no ...Aborted events.
        rt.emit_final(frame, "ExecutionTimedOut", previous=0)
        return Outcome("TIMED_OUT")
    except asyncio.CancelledError:
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
        if rt.suspended:  # a durable execution parks: it records nothing, a worker resumes it
            raise
        if rt.limit_error is not None:
            return _failed(rt, frame, rt.limit_error)
        abort = rt.abort_reason or StatesError(None, None)
        details = _error_details(abort)
        rt.emit_final(frame, "ExecutionAborted", details or None, previous=0)
        return Outcome("ABORTED", None, abort.name or None, abort.cause or None)
    if rt.limit_error is not None:  # the limit was reached where nothing could fail the run
        return _failed(rt, frame, rt.limit_error)
    problem = depth_problem(output)
    if problem is not None:
        # Our rule (AWS documents no depth limit): data may grow deeper while it runs (one
        # {"x.$": "$"} per transition); an output nested past values.MAX_DEPTH could not be
        # read back by JSON parsers (stores, `sm run --json` readers), so the run fails here.
        return _failed(rt, frame, StatesError(
            errors.RUNTIME, f"The execution's output is not valid JSON: {problem}."))
    try:
        rt.emit(frame, "ExecutionSucceeded", {"output": output})
    except StatesError as failure:  # the last slot of the history is the failure's
        return _failed(rt, frame, failure)
    return Outcome("SUCCEEDED", output)


def _timeout(rt: Runtime, machine: CompiledMachine) -> float | None:
    """Seconds from ExecutionStarted until the execution times out: TimeoutSeconds (counted
    from ``rt.timeout_origin`` when later, a redrive), capped by its maximum life."""
    shift = max(0.0, rt.timeout_origin - rt.started) if rt.timeout_origin is not None else 0.0
    limits = [float(machine.timeout_seconds) + shift] if machine.timeout_seconds is not MISSING else []
    if rt.max_duration is not None:
        limits.append(rt.max_duration)
    return min(limits) if limits else None


class _TimedOut(Exception):
    pass


async def _with_timeout(rt: Runtime, work: asyncio.Future[JSON], timeout: float) -> JSON:
    if isinstance(rt.clock, SystemClock):
        return await _with_real_timeout(rt, work, timeout)
    dog = asyncio.ensure_future(rt.clock.sleep(timeout))
    try:
        done, _ = await asyncio.wait({work, dog}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        dog.cancel()
        raise
    if work in done:
        dog.cancel()
        return work.result()
    work.cancel()
    await asyncio.gather(work, return_exceptions=True)
    raise _TimedOut


async def _with_real_timeout(rt: Runtime, work: asyncio.Future[JSON], timeout: float) -> JSON:
    """Real time: a loop timer cancels the work (cheap: no watchdog task), and work that never
    awaits (JSONata) reads the same deadline from the Interrupt."""
    rt.interrupt.timeout_at = time.monotonic() + timeout
    fired = False

    def fire() -> None:
        nonlocal fired
        fired = True
        work.cancel()

    timer = asyncio.get_running_loop().call_later(timeout, fire)
    try:
        return await work
    except asyncio.CancelledError:
        if work.cancelled() and (fired or rt.interrupt.timed_out):
            raise _TimedOut from None
        raise
    finally:
        timer.cancel()


def _error_details(failure: StatesError) -> dict[str, Any]:
    # AWS leaves empty fields out of the event (a timeout's error output has "Cause": "",
    # its ExecutionFailed event no cause at all)
    details: dict[str, Any] = {}
    if failure.name:
        details["error"] = failure.name
    if failure.cause:
        details["cause"] = failure.cause
    return details


def _failed(rt: Runtime, frame: Frame, failure: StatesError) -> Outcome:
    rt.emit_final(frame, "ExecutionFailed", _error_details(failure))
    return Outcome("FAILED", None, failure.name or None, failure.cause or None)

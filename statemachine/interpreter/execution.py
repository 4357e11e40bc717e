"""Interpreter stage: runs a ``CompiledMachine`` on an input, appending history events.

One coroutine loops over the states of a (nested) machine (``run_machine``); no asyncio task
is created per state. ``run_state`` is the single place where a state is entered, its handler
called, Retry and Catch applied (in one loop, never recursion) and the state exited. Only
Parallel branches, Map iterations and task handler calls create tasks.

Errors inside the engine travel as ``Failure`` (final error name and cause). A ``StatesError``
raised by a data-flow step is turned into a Failure with AWS's prefix "An error occurred while
executing the state 'X' (entered at the event id #N). "; task errors and Fail states raise
Failure directly and carry no prefix.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from statemachine import errors
from statemachine.clock import Clock
from statemachine.errors import StatesError
from statemachine.expressions.jsonpath import PathNotFound
from statemachine.history import Event
from statemachine.interpreter import dataflow
from statemachine.interpreter.retry import retry_delay
from statemachine.model import CompiledMachine, State
from statemachine.values import JSON, MISSING, ExecutionStatus

if TYPE_CHECKING:
    from statemachine.resources.threads import HandlerThreads

__all__ = ["Failure", "Frame", "Outcome", "Runtime", "StateRun", "execute", "run_machine", "run_state"]

QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"


class Failure(Exception):
    """A state or branch failed with ``error``/``cause`` as they will be recorded."""

    def __init__(self, error: str | None, cause: str | None) -> None:
        super().__init__(error, cause)
        self.error = error
        self.cause = cause
        #: event the failing state records when it is not retried (Map: "MapStateFailed")
        self.final_event: str | None = None

    def output(self) -> dict[str, JSON]:
        """The error output Catch passes on: ``{"Error": ..., "Cause": ...}``."""
        out: dict[str, JSON] = {}
        if self.error is not None:
            out["Error"] = self.error
        if self.cause is not None:
            out["Cause"] = self.cause
        return out


class Frame:
    """The mutable per-branch part of a run: workflow variables and the last event id."""

    __slots__ = ("in_parallel", "last_id", "variables")

    def __init__(self, variables: dict[str, JSON], last_id: int, in_parallel: bool = False) -> None:
        self.variables = variables
        self.last_id = last_id
        #: AWS records a Parallel branch's failing state as ``<Type>StateAborted``
        self.in_parallel = in_parallel


class StateRun:
    """One state's visit: entered event id and time, retry count (what ``$$.State`` shows)."""

    __slots__ = ("entered_id", "entered_time", "retry_count", "state")

    def __init__(self, state: State, entered_id: int, entered_time: float) -> None:
        self.state = state
        self.entered_id = entered_id
        self.entered_time = entered_time
        self.retry_count = 0


class Runtime:
    """Everything one execution shares: clock, randomness, resources, history, tokens."""

    def __init__(self, *, clock: Clock, rng: random.Random, resolve: Callable[[str], Any],
                 execution_ctx: Mapping[str, JSON], machine_ctx: Mapping[str, JSON],
                 on_event: Callable[[Event], None] | None = None,
                 data_limit: int | None = 256 * 1024, arn: str = "",
                 threads: HandlerThreads | None = None) -> None:
        self.clock = clock
        self.rng = rng
        self.resolve = resolve
        self.execution_ctx = execution_ctx
        self.machine_ctx = machine_ctx
        self.on_event = on_event
        self.data_limit = data_limit
        self.events: list[Event] = []
        self.tokens: dict[str, asyncio.Future[JSON]] = {}
        self.heartbeats: dict[str, Callable[[], None]] = {}
        self.arn = arn
        self.abort_reason: Failure | None = None
        self._threads = threads
        #: the pool is this execution's own (``run(handler_threads=N)``): close() ends it
        self.own_threads = False

    @property
    def threads(self) -> HandlerThreads:
        """The bounded daemon threads synchronous handlers run on (resources/threads.py)."""
        if self._threads is None:
            from statemachine.resources.threads import default_threads

            self._threads = default_threads()
        return self._threads

    def executor(self) -> HandlerThreads:
        """``threads`` as a ``concurrent.futures.Executor`` (for ``run_in_executor``)."""
        return self.threads

    def close(self) -> None:
        """End the execution's own handler threads (shared pools end idle threads by
        themselves); a handler still running keeps its thread until it returns."""
        if self.own_threads and self._threads is not None:
            self._threads.shutdown(wait=False)

    def emit(self, frame: Frame, type: str, details: Mapping[str, Any] | None = None,
             timestamp: float | None = None) -> Event:
        when = self.clock.now() if timestamp is None else timestamp
        event = Event(len(self.events) + 1, frame.last_id, when, type, details)
        self.events.append(event)
        frame.last_id = event.id
        if self.on_event is not None:
            self.on_event(event)
        return event

    def child(self) -> Runtime:
        """A runtime for child executions (Distributed Map): same clock and resources, its own
        history (AWS records child executions apart from the parent's history)."""
        clone = Runtime(clock=self.clock, rng=self.rng, resolve=self.resolve,
                        execution_ctx=self.execution_ctx, machine_ctx=self.machine_ctx,
                        data_limit=self.data_limit, arn=self.arn)
        clone.tokens = self.tokens
        clone.heartbeats = self.heartbeats
        clone._threads = self.threads
        return clone

    def context(self, run: StateRun, token: str | None = None, retry: bool = False) -> JSON:
        return dataflow.build_context(self.execution_ctx, self.machine_ctx, run.state.name,
                                      run.entered_time, run.retry_count if retry else None, token)


Handler = Callable[[Runtime, Any, JSON, Frame, StateRun], Any]
#: state class -> handler coroutine ``(rt, state, raw_input, frame, run) -> (output, trigger, assigned)``
HANDLERS: dict[type, Handler] = {}


async def run_machine(rt: Runtime, machine: CompiledMachine, frame: Frame, value: JSON) -> JSON:
    """Run states from StartAt until one ends the machine; returns the last output."""
    states = machine.states
    table = machine.table
    name = machine.start_at
    while True:
        state = states[name]
        value, trigger = await run_state(rt, state, value, frame)
        if trigger == "end":
            return value
        name = table[name][trigger]


async def run_state(rt: Runtime, state: State, raw: JSON, frame: Frame) -> tuple[JSON, str]:
    """Enter ``state``, run its handler under Retry/Catch, exit; returns (output, trigger)."""
    entered = rt.emit(frame, state.type + "StateEntered", {"name": state.name, "input": raw})
    run = StateRun(state, entered.id, entered.timestamp)
    handler = HANDLERS[state.__class__]
    counts: list[int] | None = None
    while True:
        try:
            output, trigger, assigned = await handler(rt, state, raw, frame, run)
            break
        except asyncio.CancelledError:
            rt.emit(frame, state.type + "StateAborted")
            raise
        except Exception as exc:
            failure = as_failure(rt, frame, run, exc)
        if state.retriers:
            counts = counts or [0] * len(state.retriers)
            delay = retry_delay(state.retriers, counts, failure.error, rt.rng)
            if delay is not None:
                run.retry_count += 1
                try:
                    await rt.clock.sleep(delay)
                except asyncio.CancelledError:
                    rt.emit(frame, state.type + "StateAborted")
                    raise
                continue
        if failure.final_event is not None:  # once: the same Failure travels further up
            rt.emit(frame, failure.final_event)
            failure.final_event = None
        try:
            caught = _catch(rt, state, raw, frame, run, failure)
        except Exception as exc:  # Catch's own Output/Assign/ResultPath failed
            raise as_failure(rt, frame, run, exc) from None
        if caught is None:
            if frame.in_parallel and state.type != "Fail":
                rt.emit(frame, state.type + "StateAborted")
            raise failure
        output, trigger, assigned = caught
        break
    _commit(rt, frame, state, output, assigned)
    return output, trigger


def _commit(rt: Runtime, frame: Frame, state: State, output: JSON, assigned: Any) -> None:
    details: dict[str, Any] = {"name": state.name, "output": output}
    if assigned is not None:
        frame.variables = {**frame.variables, **assigned}
        details["assignedVariables"] = assigned
    rt.emit(frame, state.type + "StateExited", details)


def as_failure(rt: Runtime, frame: Frame, run: StateRun, exc: Exception) -> Failure:
    """Any exception out of a state as a Failure: Failures as they are, data-flow errors
    prefixed (see ``evaluation_failure``), anything else (an engine or expression bug) as
    States.Runtime, the way AWS reports its own internal errors."""
    if isinstance(exc, Failure):
        return exc
    if not isinstance(exc, (StatesError, PathNotFound)):
        exc = StatesError(errors.RUNTIME, f"{type(exc).__name__}: {exc}")
    return evaluation_failure(rt, frame, run, exc)


def evaluation_failure(rt: Runtime, frame: Frame, run: StateRun, exc: Exception) -> Failure:
    """A data-flow StatesError as the Failure AWS records: cause prefixed with the state and
    its entered event id; a JSONata evaluation error also records ``EvaluationFailed``."""
    if isinstance(exc, PathNotFound):
        exc = StatesError(errors.RUNTIME, exc.invalid_path_message())
    assert isinstance(exc, StatesError)
    prefix = (f"An error occurred while executing the state '{run.state.name}' "
              f"(entered at the event id #{run.entered_id}). ")
    failure = Failure(exc.name, prefix + (exc.cause or ""))
    if failure.error == QUERY_EVALUATION_ERROR:
        rt.emit(frame, "EvaluationFailed", _evaluation_details(failure, run.state))
    return failure


_FIELD = re.compile(r"for the field '([^']+)'")


def _evaluation_details(failure: Failure, state: State) -> dict[str, Any]:
    """EvaluationFailedEventDetails: error, cause, location (the field, when the cause names
    one, e.g. ``Output/result``), state."""
    details: dict[str, Any] = {"error": failure.error, "cause": failure.cause}
    found = _FIELD.search(failure.cause or "")
    if found is not None:
        details["location"] = found.group(1)
    details["state"] = state.name
    return details


def _catch(rt: Runtime, state: State, raw: JSON, frame: Frame, run: StateRun,
           failure: Failure) -> tuple[JSON, str, Any] | None:
    for catcher in state.catchers:
        if not errors.matches(failure.error, catcher.error_equals):
            continue
        error_output = failure.output()
        ctx = rt.context(run) if state.flow.needs_context else None
        variables = frame.variables
        assigned = None
        if catcher.assign is not MISSING:
            assigned = dataflow.assignments(catcher.assign, catcher.assign_on_result, raw,
                                            error_output, ctx, variables, rt.rng, error_output)
        if catcher.output is not MISSING:
            from statemachine.expressions.scope import Scope

            output = catcher.output.evaluate(Scope(raw, ctx, variables, MISSING, error_output), rt.rng)
        else:
            output = dataflow.apply_result_path(catcher.result_path, raw, error_output)
        return output, catcher.trigger, assigned
    return None


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
    ExecutionStarted timestamp."""
    try:
        return await _execute(rt, machine, value, role_arn, started)
    finally:
        rt.close()


async def _execute(rt: Runtime, machine: CompiledMachine, value: JSON, role_arn: str,
                   started: float | None) -> Outcome:
    frame = Frame({}, 0)
    rt.emit(frame, "ExecutionStarted", {"input": value, "roleArn": role_arn}, started)
    work = asyncio.ensure_future(_checked_run(rt, machine, frame, value))
    timeout = machine.timeout_seconds
    try:
        if timeout is MISSING:
            output = await work
        else:
            output = await _with_timeout(rt, work, float(timeout))
    except Failure as failure:
        return _failed(rt, frame, "ExecutionFailed", "FAILED", failure)
    except _TimedOut:
        return _failed(rt, frame, "ExecutionTimedOut", "TIMED_OUT", Failure(errors.TIMEOUT, None))
    except asyncio.CancelledError:
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
        abort = rt.abort_reason or Failure(None, None)
        return _failed(rt, frame, "ExecutionAborted", "ABORTED", abort)
    rt.emit(frame, "ExecutionSucceeded", {"output": output})
    return Outcome("SUCCEEDED", output)


class _TimedOut(Exception):
    pass


async def _checked_run(rt: Runtime, machine: CompiledMachine, frame: Frame, value: JSON) -> JSON:
    return await run_machine(rt, machine, frame, value)


async def _with_timeout(rt: Runtime, work: asyncio.Future[JSON], timeout: float) -> JSON:
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


def _failed(rt: Runtime, frame: Frame, event: str, status: ExecutionStatus, failure: Failure) -> Outcome:
    # AWS leaves empty fields out of the event (a timeout's error output has "Cause": "",
    # its ExecutionFailed event no cause at all)
    error = failure.error or None
    cause = failure.cause or None
    details: dict[str, Any] = {}
    if error is not None:
        details["error"] = error
    if cause is not None:
        details["cause"] = cause
    rt.emit(frame, event, details)
    return Outcome(status, None, error, cause)

"""Interpreter stage: runs a ``CompiledMachine`` on an input, appending history events.

One coroutine loops over the states of a (nested) machine (``run_machine``); no asyncio task
is created per state. ``run_state`` is the single place where a state is entered, its handler
called, Retry and Catch applied (in one loop, never recursion) and the state exited. Only
Parallel branches, Map iterations and task handler calls create tasks.

Errors travel as ``StatesError`` (errors.py). One raised by a data-flow step is recorded when
it leaves its state, with AWS's prefix "An error occurred while executing the state 'X'
(entered at the event id #N). "; task errors and Fail states are made ``recorded=True``.

Executions that do not stop: every ``YIELD_EVERY`` transitions of a machine (and every
``YIELD_EVERY`` items of a Map) the interpreter yields to the event loop, so abort, Ctrl-C
and timeouts reach a loop of states that never awaits; the history is bounded
(``Runtime.history_limit``, AWS: 25,000 events) and so is the execution's life
(``Runtime.max_duration``, AWS: one year for STANDARD), so no deadline is out of reach.

The handler table (state class -> coroutine) is built explicitly in ``handlers.py`` and
passed to the Runtime; nothing registers itself on import. A whole execution (start, timeout,
terminal event) is ``lifecycle.execute``.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from statemachine import errors
from statemachine.clock import Clock, Interrupt
from statemachine.errors import StatesError
from statemachine.expressions.jsonpath import PathNotFound
from statemachine.history import Event
from statemachine.interpreter import dataflow
from statemachine.interpreter.retry import retry_delay
from statemachine.model import CompiledMachine, State
from statemachine.observe import chain
from statemachine.values import JSON, MISSING, json_problem

if TYPE_CHECKING:
    from statemachine.interpreter.remote import RemoteExecutor
    from statemachine.observe import Observer
    from statemachine.resources.threads import HandlerThreads

__all__ = [
    "DEFAULT_HISTORY_LIMIT",
    "STANDARD_MAX_DURATION",
    "YIELD_EVERY",
    "ChildRuns",
    "Frame",
    "Runtime",
    "SiblingFailed",
    "StateRun",
    "check_size",
    "compact_size",
    "run_machine",
    "run_state",
    "sibling_failed",
]

#: AWS: a STANDARD execution fails when its history reaches 25,000 events.
DEFAULT_HISTORY_LIMIT = 25_000
#: AWS: a STANDARD execution lives at most one year (then it times out).
STANDARD_MAX_DURATION = 365 * 24 * 3600.0
#: Transitions between two yields to the event loop (a power of two: a mask test).
YIELD_EVERY = 1024
QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"


class Frame:
    """The mutable per-branch part of a run: workflow variables and the last event id.

    ``path`` says which Parallel branch / Map iteration the frame runs, outermost first:
    one ``(started_event_id, index)`` pair per level (the id of the ParallelStateStarted /
    MapStateStarted / MapRunStarted event of that attempt of the state, and the branch or
    iteration index). Every event the frame emits carries
    it (``Event.path``; our own field, never in AWS's event dicts)."""

    __slots__ = ("in_parallel", "last_id", "measured", "path", "sized", "variables")

    def __init__(self, variables: dict[str, JSON], last_id: int, in_parallel: bool = False,
                 path: tuple[tuple[int, int], ...] = ()) -> None:
        self.variables = variables
        self.last_id = last_id
        #: AWS records a Parallel branch's failing state as ``<Type>StateAborted``
        self.in_parallel = in_parallel
        self.path = path
        #: (value, its serialised size) of the last state output checked against the payload
        #: limit, so the next output built from it is measured by what changed (output_size)
        self.sized: tuple[JSON, int] | None = None
        #: (value, size) a state's handler already checked (a task result, a Map's output):
        #: when it is the state's output, run_state does not measure it again
        self.measured: tuple[JSON, int] | None = None


class SiblingFailed:
    """Cancel message of branches/iterations stopped because a sibling failed: they record
    ``...Aborted`` events linked to the failure's event (``source``). Any other
    cancellation (abort, timeout, Ctrl-C) records nothing: AWS ends the execution with one
    ExecutionAborted / ExecutionTimedOut event."""

    __slots__ = ("source",)

    def __init__(self, source: int) -> None:
        self.source = source


def sibling_failed(exc: BaseException) -> SiblingFailed | None:
    """The SiblingFailed a CancelledError carries, if any."""
    msg = exc.args[0] if exc.args else None
    return msg if isinstance(msg, SiblingFailed) else None


class StateRun:
    """One state's visit: entered event id and time, retry count (what ``$$.State`` shows).
    ``run_state`` builds it field by field: keep the two in step."""

    __slots__ = ("entered_id", "entered_time", "retry_count", "state")

    def __init__(self, state: State, entered_id: int, entered_time: float) -> None:
        self.state = state
        self.entered_id = entered_id
        self.entered_time = entered_time
        self.retry_count = 0


class Runtime:
    """Everything one execution shares: clock, randomness, resources, history, tokens.

    ``history_limit``: events the history may hold (the last one is the ExecutionFailed that
    reaching it records); None = unbounded. ``max_duration``: seconds the execution may live
    (None = unbounded); waits that would end later fail the state (States.Runtime).
    ``interrupt``: the stop flag/deadline that long synchronous work checks.
    ``hold_callbacks``: under a virtual clock, whether a callback waiting for send_task_*
    holds time still (someone in this process may answer it) or lets it jump to the next
    deadline. ``handlers``: the state-handler table (default: handlers.HANDLERS).
    ``observer``: logs, traces and metrics (observe.py); it sees every event through
    ``on_event`` and the retry/catch/failure hooks of ``run_state``. None: nothing observes.
    """

    def __init__(self, *, clock: Clock, rng: random.Random, resolve: Callable[[str], Any],
                 execution_ctx: Mapping[str, JSON], machine_ctx: Mapping[str, JSON],
                 on_event: Callable[[Event], None] | None = None,
                 data_limit: int | None = 256 * 1024, arn: str = "",
                 handlers: Mapping[type, Handler] | None = None,
                 history_limit: int | None = None, max_duration: float | None = None,
                 interrupt: Interrupt | None = None, hold_callbacks: bool = True,
                 threads: HandlerThreads | None = None, observer: Observer | None = None) -> None:
        self.clock = clock
        self.rng = rng
        self.resolve = resolve
        self.execution_ctx = execution_ctx
        self.machine_ctx = machine_ctx
        self.observer = observer
        self.on_event = on_event if observer is None else chain(on_event, observer.event)
        self.data_limit = data_limit
        self.events: list[Event] = []
        self.tokens: dict[str, asyncio.Future[JSON]] = {}
        self.heartbeats: dict[str, Callable[[], None]] = {}
        self.arn = arn
        self.abort_reason: StatesError | None = None
        self.history_limit = history_limit
        #: events ``emit`` may append (the last slot is the ExecutionFailed of emit_final)
        self._room = history_limit - 1 if history_limit is not None else sys.maxsize
        self.max_duration = max_duration
        self.interrupt = interrupt or Interrupt()
        self.hold_callbacks = hold_callbacks
        self.started = 0.0  # clock time of ExecutionStarted
        #: clock time TimeoutSeconds counts from when not ExecutionStarted's: a durable
        #: execution's last RedriveExecution (AWS resets the execution timeout on redrive)
        self.timeout_origin: float | None = None
        #: set when the history reached its limit (the error the execution fails with)
        self.limit_error: StatesError | None = None
        self.handlers: Mapping[type, Handler] = handlers if handlers is not None else _default_handlers()
        self._threads = threads
        #: the pool is this execution's own (``run(handler_threads=N)``): close() ends it
        self.own_threads = False
        #: set by a durable runner that parks the execution: a cancellation then records
        #: nothing (no ExecutionAborted); the execution resumes from its stored history
        self.suspended = False
        #: where Map iterations and Parallel branches run: None = here, as coroutines; else a
        #: remote.RemoteExecutor, with the Task handlers it may call packed for its workers
        #: (``(pickled handlers, import folders)``, remote.pack_handlers)
        self.remote: RemoteExecutor | None = None
        #: the id of the first event (work run for another process's history numbers its
        #: events apart from that history's, workunit.LOCAL_IDS, for the parent to renumber)
        self.first_id = 1
        self.remote_handlers: tuple[bytes, tuple[str, ...]] = (b"", ())

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
             timestamp: float | None = None, previous: int | None = None) -> Event:
        """Append an event (previousEventId: the frame's last event, or ``previous``).

        Raises StatesError(States.Runtime) instead once the history is full: the slot left
        is the ExecutionFailed that ``emit_final`` records."""
        events = self.events
        count = len(events)
        if count >= self._room:
            raise self._history_full()
        # Event(...) field by field: the same object without a Python __init__ call (7 events
        # per Task state)
        event = _new_event(Event)
        event.id = count = count + self.first_id
        event.previous_id = frame.last_id if previous is None else previous
        event.timestamp = self.clock.now() if timestamp is None else timestamp
        event.type = type
        event.details = details
        event.path = frame.path
        events.append(event)
        frame.last_id = count
        if self.on_event is not None:
            self.on_event(event)
        return event

    def emit_final(self, frame: Frame, type: str, details: Mapping[str, Any] | None = None,
                   timestamp: float | None = None, previous: int | None = None) -> Event:
        """``emit`` without the history limit (the execution's last event)."""
        when = self.clock.now() if timestamp is None else timestamp
        event = Event(len(self.events) + self.first_id, frame.last_id if previous is None else previous,
                      when, type, details, frame.path)
        self.events.append(event)
        frame.last_id = event.id
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _history_full(self) -> StatesError:
        limit = self.history_limit
        if self.limit_error is None:
            self.limit_error = StatesError(
                errors.RUNTIME, f"The execution reached the maximum number of history events ({limit}).",
                recorded=True)
        return self.limit_error

    def callback_hold(self) -> AbstractContextManager[None]:
        """Wrap a callback wait: holds a virtual clock still when ``hold_callbacks``."""
        return self.clock.busy() if self.hold_callbacks else nullcontext()

    def check_delay(self, seconds: float, what: str) -> float:
        """``seconds`` if a wait that long ends within the execution's life; otherwise
        StatesError(States.Runtime) naming ``what`` (a wait can never end after it)."""
        limit = self.max_duration
        if not math.isfinite(seconds) or (limit is not None
                                          and self.clock.now() + seconds > self.started + limit):
            life = f" ({limit:.0f} seconds from its start)" if limit is not None else ""
            raise StatesError(errors.RUNTIME, f"{what} ends past the execution's maximum duration{life}.")
        return seconds

    def child(self) -> Runtime:
        """A runtime for child executions (Distributed Map): same clock and resources, its own
        history (AWS records child executions apart from the parent's history; each child's
        own history is short, so no limit applies to this shared list)."""
        clone = Runtime(clock=self.clock, rng=self.rng, resolve=self.resolve,
                        execution_ctx=self.execution_ctx, machine_ctx=self.machine_ctx,
                        data_limit=self.data_limit, arn=self.arn, handlers=self.handlers,
                        max_duration=self.max_duration, interrupt=self.interrupt,
                        hold_callbacks=self.hold_callbacks,
                        observer=self.observer.child() if self.observer is not None else None)
        clone.started = self.started
        clone.tokens = self.tokens
        clone.heartbeats = self.heartbeats
        clone._threads = self.threads
        clone.remote = self.remote
        clone.remote_handlers = self.remote_handlers
        return clone

    def rng_for(self, path: tuple[tuple[int, int], ...]) -> random.Random:
        """The random source of code that runs for the branch / iteration ``path`` before it
        emits its first event (a Map's ItemSelector). In memory: the execution's one
        generator; a durable runtime gives each path its own, so replay draws the same."""
        return self.rng

    def map_run(self, state: Any, run_arn: str) -> ChildRuns:
        """The child executions of one Distributed Map run (``state`` is its MapState)."""
        return ChildRuns(self, run_arn)

    def task_token(self) -> str:
        """A new ``.waitForTaskToken`` task token (a UUID drawn from the run's random
        source, so a replayed run draws the same one)."""
        import uuid

        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def context(self, run: StateRun, token: str | None = None, retry: bool = False) -> JSON:
        return dataflow.build_context(self.execution_ctx, self.machine_ctx, run.state.name,
                                      run.entered_time, run.retry_count if retry else None, token)


class ChildRuns:
    """The child executions of one Distributed Map run. In memory they run on one child
    runtime whose history is kept apart from the parent's (``Runtime.child``); a durable
    runtime (durable/children.py) stores each as an execution record of its own.

    The interpreter calls ``started_event()`` (the event type and details that open the
    run), ``begin`` once the items are known, ``run`` per child execution, and ``end`` with
    the run's final status (not called when the execution is cancelled)."""

    def __init__(self, rt: Runtime, run_arn: str) -> None:
        self.runtime = rt.child()
        #: the Map Run's ARN (a durable runtime makes it unique to its execution)
        self.run_arn = run_arn

    def started_event(self, run_arn: str) -> tuple[str, dict[str, Any]]:
        return "MapRunStarted", {"mapRunArn": run_arn}

    def begin(self, *, items: int, executions: int, max_concurrency: int,
              tolerated_count: int | None, tolerated_percentage: float | None) -> None:
        """The run's size and configuration (as DescribeMapRun reports them)."""

    async def run(self, machine: CompiledMachine, frame: Frame, value: JSON, index: int,
                  items: int) -> JSON:
        """Run child execution ``index`` (``items``: how many items its input holds)."""
        return await run_machine(self.runtime, machine, frame, value)

    def end(self, status: str, *, results_written: int = 0) -> None:
        """The run ended SUCCEEDED or FAILED."""

    #: whether ``ran`` wants each remote child's own events (a store that records children)
    records_children = False

    def ran(self, index: int, value: JSON, items: int, result: Any) -> None:
        """Child execution ``index`` (input ``value``, ``items`` items) ran on a remote
        executor; ``result`` is its ``workunit.UnitResult`` (its events from id 2 to its
        ExecutionSucceeded / ExecutionFailed when ``records_children``). In memory: nothing."""


_new_event = object.__new__

_HANDLERS: list[Mapping[type, Any]] = []


def _default_handlers() -> Mapping[type, Any]:
    """handlers.TABLE (the dict behind HANDLERS: a faster lookup), imported once
    (handlers.py imports this module)."""
    if not _HANDLERS:
        from statemachine.interpreter.handlers import TABLE

        _HANDLERS.append(TABLE)
    return _HANDLERS[0]


#: A state handler: coroutine ``(rt, state, raw_input, frame, run) -> (output, trigger, assigned)``
Handler = Callable[..., Any]


async def run_machine(rt: Runtime, machine: CompiledMachine, frame: Frame, value: JSON) -> JSON:
    """Run states from StartAt until one ends the machine; returns the last output."""
    states = machine.states
    table = machine.table
    name = machine.start_at
    steps = 0
    while True:
        state = states[name]
        value, trigger = await run_state(rt, state, value, frame)
        if trigger == "end":
            return value
        name = table[name][trigger]
        steps += 1
        if steps == YIELD_EVERY:  # states that never await must not starve the loop
            steps = 0
            await asyncio.sleep(0)


def check_size(rt: Runtime, value: JSON, name: str) -> int:
    """States.DataLimitExceeded when ``value`` serialises to more than the payload limit.

    AWS limits every state's output (and a task's result) to 256 KiB. It runs on task results,
    Pass ``Result``, Map and Parallel outputs, and on every state output that is not its input
    passed through (``run_state``): ~2.3 us for a small payload, ~0.7 ms for 200 KiB. Checking
    each output also stops payloads that double per state (``{"a.$": "$", "b.$": "$"}`` in a
    loop) at 256 KiB instead of letting them grow until history rendering never ends."""
    limit = rt.data_limit
    if limit is None:
        return 0
    try:
        size = compact_size(value)
    except (ValueError, TypeError, RecursionError) as exc:  # NaN, a non-JSON type, too deep
        problem = json_problem(value) or str(exc)
        raise StatesError(errors.RUNTIME, f"The state/task '{name}' returned a result that is not "
                                         f"valid JSON: {problem}.", recorded=True) from None
    if size > limit:
        raise StatesError(errors.DATA_LIMIT_EXCEEDED,
                          f"The state/task '{name}' returned a result with a size exceeding the "
                          "maximum number of bytes service limit.", recorded=True)
    return size



def output_size(rt: Runtime, name: str, raw: JSON, output: JSON, sized: tuple[JSON, int] | None) -> int:
    """The serialised size of a state's ``output``, checked against the payload limit.

    When ``raw`` (the state's input) is the last output measured (``sized``) and both are
    objects, only the top-level members that changed are serialised -- a ResultPath that
    replaces ``$.last`` in a 200 KiB input costs the size of ``last``, not of the input.
    Compact JSON: ``{`` + members joined by ``,`` + ``}``, a member is ``"key":value``."""
    if sized is None or sized[0] is not raw or sized[1] < _MEASURE_CHANGES_FROM \
            or type(raw) is not dict or type(output) is not dict or not raw or not output:
        return check_size(rt, output, name)  # small: one json.dumps is the cheapest
    size = sized[1]
    try:
        for key, value in output.items():
            old = raw.get(key, _ABSENT)
            if value is old:
                continue
            size += _member(key, value)
            if old is not _ABSENT:
                size -= _member(key, old)
        for key in raw.keys() - output.keys():  # members the state removed
            size -= _member(key, raw[key])
    except (ValueError, TypeError, RecursionError):  # not JSON: check_size names the problem
        return check_size(rt, output, name)
    if size > (rt.data_limit or 0):
        return check_size(rt, output, name)  # exact, and the error if it is over
    return size


_ABSENT: Any = object()
#: Below this size (bytes) serialising the whole output beats measuring what changed.
_MEASURE_CHANGES_FROM = 4096


def _member(key: str, value: JSON) -> int:
    """Bytes of ``"key":value,`` in compact JSON (the comma counted with each member)."""
    return len(json.dumps(key)) + compact_size(value) + 2


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_C_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)
if _C_ENCODER is not None:  # json's own C encoder, made once (json.dumps makes one per call)
    _COMPACT = _C_ENCODER(None, _not_json, json.encoder.encode_basestring_ascii, None, ":", ",",
                          False, False, False)

    def compact_size(value: Any) -> int:
        """``len(json.dumps(value, separators=(",", ":"), allow_nan=False))``: ASCII text (non-
        ASCII escaped), so also its size in bytes; ValueError/TypeError/RecursionError as
        json.dumps raises them (a cycle is a RecursionError here). ~1 us for a small value,
        several times less than json.dumps, which builds an encoder per call."""
        return len("".join(_COMPACT(value, 0)))
else:  # pragma: no cover - Pythons without json's C accelerator
    def compact_size(value: Any) -> int:
        return len(json.dumps(value, separators=(",", ":"), allow_nan=False))


async def run_state(rt: Runtime, state: State, raw: JSON, frame: Frame) -> tuple[JSON, str]:
    """Enter ``state``, run its handler under Retry/Catch, exit; returns (output, trigger)."""
    entered = rt.emit(frame, state.type + "StateEntered", {"name": state.name, "input": raw})
    run = _new_event(StateRun)  # StateRun(state, entered.id, entered.timestamp), field by field
    run.state = state
    run.entered_id = entered.id
    run.entered_time = entered.timestamp
    run.retry_count = 0
    handler = rt.handlers[state.__class__]
    counts: list[int] | None = None
    while True:
        try:
            output, trigger, assigned = await handler(rt, state, raw, frame, run)
            if output is not raw and rt.data_limit is not None:  # AWS: every state's output is limited
                measured, frame.measured = frame.measured, None
                if measured is not None and measured[0] is output:
                    frame.sized = measured  # the handler checked this very value
                else:
                    frame.sized = (output, output_size(rt, state.name, raw, output, frame.sized))
            break
        except asyncio.CancelledError as exc:
            _aborted(rt, frame, state, exc)
            raise
        except Exception as exc:
            failure = as_failure(rt, frame, run, exc)
        if state.retriers:
            counts = counts or [0] * len(state.retriers)
            if await _retry(rt, frame, run, failure, counts):
                continue
        if failure.final_event is not None:  # once: what travels further up has none
            rt.emit(frame, failure.final_event, previous=failure.source_event or None)
            failure = failure.replace(final_event=None, source_event=frame.last_id)
        try:
            caught = _catch(rt, state, raw, frame, run, failure)
        except Exception as exc:  # Catch's own Output/Assign/ResultPath failed
            raise as_failure(rt, frame, run, exc) from None
        if rt.observer is not None:
            if caught is None:
                rt.observer.failed(frame.path, state, failure)
            else:
                rt.observer.caught(frame.path, state, failure, int(caught[1][5:]))  # "catch<i>"
        if caught is None:
            if not failure.source_event:  # where it failed: what aborted siblings link to
                failure = failure.replace(source_event=frame.last_id)
            if frame.in_parallel and state.type != "Fail":
                rt.emit(frame, state.type + "StateAborted")
            raise failure
        output, trigger, assigned = caught
        break
    details: dict[str, Any] = {"name": state.name, "output": output}  # commit the state
    if assigned is not None:
        frame.variables = {**frame.variables, **assigned}
        details["assignedVariables"] = assigned
    rt.emit(frame, state.type + "StateExited", details)
    return output, trigger


async def _retry(rt: Runtime, frame: Frame, run: StateRun, failure: StatesError, counts: list[int]) -> bool:
    """Wait before the next attempt when a retrier allows one; False when none does. A wait
    that would outlive the execution fails the state instead (States.Runtime)."""
    state = run.state
    delay = retry_delay(state.retriers, counts, failure.name, rt.rng)
    if delay is None:
        return False
    run.retry_count += 1
    if rt.observer is not None:
        rt.observer.retrying(frame.path, state, failure, run.retry_count, delay)
    try:
        await rt.clock.sleep(rt.check_delay(delay, f"The retry of state '{state.name}'"))
    except asyncio.CancelledError as exc:
        _aborted(rt, frame, state, exc)
        raise
    except StatesError as exc:
        raise as_failure(rt, frame, run, exc) from None
    return True


def _aborted(rt: Runtime, frame: Frame, state: State, exc: BaseException) -> None:
    """A cancelled state records ``<Type>StateAborted`` only when a sibling branch or
    iteration failed (linked to that failure's event); abort and timeouts record nothing."""
    sibling = sibling_failed(exc)
    if sibling is not None:
        rt.emit(frame, state.type + "StateAborted", previous=sibling.source or None)


def as_failure(rt: Runtime, frame: Frame, run: StateRun, exc: Exception) -> StatesError:
    """Any exception out of a state as a recorded StatesError: recorded ones as they are,
    data-flow errors prefixed (see ``evaluation_failure``), anything else (an engine or
    expression bug) as States.Runtime, the way AWS reports its own internal errors."""
    if isinstance(exc, StatesError) and exc.recorded:
        return exc
    if not isinstance(exc, (StatesError, PathNotFound)):
        exc = StatesError(errors.RUNTIME, f"{type(exc).__name__}: {exc}")
    return evaluation_failure(rt, frame, run, exc)


def evaluation_failure(rt: Runtime, frame: Frame, run: StateRun, exc: Exception) -> StatesError:
    """A data-flow StatesError as AWS records it: cause prefixed with the state and its
    entered event id; a JSONata evaluation error also records ``EvaluationFailed``."""
    if isinstance(exc, PathNotFound):
        exc = StatesError(errors.RUNTIME, exc.invalid_path_message())
    assert isinstance(exc, StatesError)
    if exc.recorded:
        return exc
    prefix = (f"An error occurred while executing the state '{run.state.name}' "
              f"(entered at the event id #{run.entered_id}). ")
    failure = StatesError(exc.name, prefix + (exc.cause or ""), recorded=True)
    if failure.name == QUERY_EVALUATION_ERROR:
        rt.emit(frame, "EvaluationFailed", _evaluation_details(failure, run.state))
    return failure


_FIELD = re.compile(r"for the field '([^']+)'")


def _evaluation_details(failure: StatesError, state: State) -> dict[str, Any]:
    """EvaluationFailedEventDetails: error, cause, location (the field, when the cause names
    one, e.g. ``Output/result``), state."""
    details: dict[str, Any] = {"error": failure.name, "cause": failure.cause}
    found = _FIELD.search(failure.cause or "")
    if found is not None:
        details["location"] = found.group(1)
    details["state"] = state.name
    return details


def _catch(rt: Runtime, state: State, raw: JSON, frame: Frame, run: StateRun,
           failure: StatesError) -> tuple[JSON, str, Any] | None:
    for catcher in state.catchers:
        if not errors.matches(failure.name, catcher.error_equals):
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

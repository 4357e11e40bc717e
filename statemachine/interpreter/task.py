"""Interpreter stage: the Task state. Calls the resolved resource handler (sync handlers in a
worker thread, async ones on the loop) under TimeoutSeconds / HeartbeatSeconds, waits for
``.waitForTaskToken`` callbacks, and records the Task* (or LambdaFunction*) history events.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
from types import MappingProxyType
from typing import Any

from statemachine import errors
from statemachine.errors import StatesError
from statemachine.interpreter import dataflow
from statemachine.interpreter.execution import Frame, Runtime, StateRun
from statemachine.interpreter.states import check_size, resolve_field
from statemachine.model import TaskState
from statemachine.values import JSON, MISSING

__all__ = ["run_task"]

_LAMBDA_ARN = "arn:aws:lambda:"


class _Beat:
    """Liveness of one task attempt; ``beat`` may be called from any thread."""

    __slots__ = ("clock", "last")

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.last = clock.now()

    def beat(self) -> None:
        self.last = self.clock.now()


@functools.lru_cache(maxsize=1024)
def _no_beat() -> None:
    """``TaskRequest.heartbeat`` of a task without HeartbeatSeconds or a token: nothing watches."""


_REQUEST: Any = None
_NO_TRACE: Any = MappingProxyType({})


def _request_type() -> Any:
    """``base.task_request`` (a TaskRequest), imported on the first Task (not at import: `sm
    run` cold start)."""
    global _REQUEST
    if _REQUEST is None:
        from statemachine.resources.base import task_request

        _REQUEST = task_request
    return _REQUEST


_EVENTS: dict[str, tuple[str, dict[str, Any], str, str, str]] = {}


def _events(resource: str) -> tuple[str, dict[str, Any], str, str, str]:
    """Event-name prefix, the resource fields Task* events carry (cached: never mutate the
    dict, copy it), and the Scheduled, Started and Succeeded event types."""
    found = _EVENTS.get(resource)
    if found is None:
        if len(_EVENTS) > 4096:
            _EVENTS.clear()
        prefix, ident = _event_fields(resource)
        found = _EVENTS[resource] = (prefix, ident, prefix + "Scheduled", prefix + "Started",
                                     prefix + "Succeeded")
    return found


def _event_fields(resource: str) -> tuple[str, dict[str, Any]]:
    if resource.startswith(_LAMBDA_ARN) or ":function:" in resource.split(":::")[-1]:
        return "LambdaFunction", {"resource": resource}
    if resource.startswith("arn:") and ":::" not in resource and ":activity:" in resource:
        return "Activity", {"resource": resource}  # AWS: Activity* events
    if resource.startswith("arn:") and ":::" in resource:
        service, _, action = resource.split(":::", 1)[1].partition(":")
        if service == "aws-sdk":  # arn:aws:states:::aws-sdk:s3:listBuckets
            sdk, _, action = action.partition(":")
            service = f"aws-sdk:{sdk}"
        return "Task", {"resourceType": service, "resource": action}
    kind, _, rest = resource.partition(":")
    return "Task", {"resourceType": kind, "resource": rest or resource}


def _queues(rt: Runtime, resource: str) -> bool:
    """True for an activity whose handler queues the work for an activity worker (``sm
    serve``): the Task gets a task token and waits for SendTaskSuccess/Failure, as on AWS.
    A handler declares it with ``activity_queue = True``; other handlers of activity ARNs
    (a resource map's stand-in, a mock) answer directly."""
    if ":activity:" not in resource:
        return False
    return bool(getattr(rt.resolve(resource), "activity_queue", False))


async def run_task(rt: Runtime, state: TaskState, raw: JSON, frame: Frame, run: StateRun) -> Any:
    flow = state.flow
    token = None
    plain = None
    if state.integration == "wait-for-task-token" or _queues(rt, state.resource):
        token = rt.task_token()
    elif state.timeout is MISSING and state.heartbeat is MISSING and not flow.needs_context:
        plain = _input_only(rt, state.resource)
    # the context object: for the state's fields and the handler's request (none for a plain
    # function that takes the input only: it never sees a request)
    ctx = rt.context(run, token, retry=True) if plain is None else None
    variables = frame.variables
    value = dataflow.effective_input(flow, raw, ctx, variables, rt.rng)
    timeout = None if state.timeout is MISSING else _seconds(state.timeout, raw, ctx, variables, rt)
    heartbeat = None if state.heartbeat is MISSING else _seconds(state.heartbeat, raw, ctx,
                                                                  variables, rt)
    credentials = None
    if state.credentials is not MISSING:
        from statemachine.expressions.scope import Scope

        credentials = state.credentials.evaluate(Scope(raw, ctx, variables), rt.rng)
    result = await _attempt(rt, state, frame, value, ctx, timeout, heartbeat, token, credentials,
                            plain)
    result = dataflow.select_result(flow, result, ctx, variables, rt.rng)
    assigned = None
    if flow.assign is not MISSING:
        assigned = dataflow.assignments(flow.assign, flow.assign_on_result, raw, result, ctx,
                                        variables, rt.rng)
    output = dataflow.state_output(flow, raw, result, ctx, variables, rt.rng)
    return output, state.trigger, assigned


def _seconds(field: Any, raw: JSON, ctx: JSON, variables: Any, rt: Runtime) -> float | None:
    if field is MISSING:
        return None
    value = resolve_field(field, raw, ctx, variables, rt.rng)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < math.inf:
        raise StatesError(errors.RUNTIME, f"The {field.field} field must be a positive integer: {value!r}")
    return float(value)


def _input_only(rt: Runtime, resource: str) -> Any:
    """The handler of ``resource`` when it is a plain Python function that takes the effective
    input only (``PythonHandler.input_body``), else None."""
    try:
        handler = rt.resolve(resource)
    except Exception:  # the full path resolves it again, and fails where it always did
        return None
    return handler if getattr(handler, "input_body", None) is not None else None


async def _attempt(rt: Runtime, state: TaskState, frame: Frame, value: JSON, ctx: JSON,
                   timeout: float | None, heartbeat: float | None, token: str | None,
                   credentials: JSON, plain: Any = None) -> JSON:
    prefix, ident, scheduled_type, started_type, succeeded_type = _events(state.resource)
    short = prefix == "LambdaFunction" or prefix == "Activity"  # input, no Started details
    scheduled: dict[str, Any] = dict(ident)
    if short:
        scheduled["input"] = value
    else:
        scheduled["region"] = "us-east-1"
        scheduled["parameters"] = value
    if timeout is not None:
        scheduled["timeoutInSeconds"] = int(timeout)
    if heartbeat is not None and prefix in ("Task", "Activity"):
        scheduled["heartbeatInSeconds"] = int(heartbeat)
    rt.emit(frame, scheduled_type, scheduled)
    rt.emit(frame, started_type, None if short else dict(ident))
    beat = _Beat(rt.clock) if heartbeat is not None or token is not None else None
    request = None if plain is not None else _request_type()(
        state.resource, state.integration, value, ctx, state.name, timeout, heartbeat, token,
        credentials, _no_beat if beat is None else beat.beat, False,
        _NO_TRACE if rt.observer is None else rt.observer.trace_context(frame.path))
    try:
        if plain is not None:  # a function of the input: no request, no watchdog, no callback
            with rt.clock.busy():
                result = await _invoke_plain(rt, plain, value)
        elif beat is None and timeout is None:  # no watchdog, no callback: just the call
            with rt.clock.busy():
                result = await _invoke(rt, rt.resolve(state.resource), request, None)
        else:
            result = await _guarded(rt, state, request, token, beat, timeout, heartbeat, frame,
                                    prefix, ident)
    except StatesError as failure:
        kind = "TimedOut" if failure.name in (errors.TIMEOUT, errors.HEARTBEAT_TIMEOUT) else "Failed"
        details = dict(ident)
        if failure.name is not None:
            details["error"] = failure.name
        if failure.cause is not None:
            details["cause"] = failure.cause
        rt.emit(frame, prefix + kind, details)
        raise
    frame.measured = (result, check_size(rt, result, state.name))  # run_state: not measured again
    rt.emit(frame, succeeded_type, {**ident, "output": result})
    return result


async def _guarded(rt: Runtime, state: TaskState, request: Any, token: str | None, beat: _Beat | None,
                   timeout: float | None, heartbeat: float | None, frame: Frame, prefix: str,
                   ident: dict[str, Any]) -> JSON:
    if timeout is None and heartbeat is None:  # no watchdog: no task of its own either
        return await _call(rt, state, request, token, None, frame, prefix, ident)
    started = asyncio.Event()  # set when the handler leaves the worker queue (see threads.py)
    work = asyncio.ensure_future(_call(rt, state, request, token, started, frame, prefix, ident))
    dog = asyncio.ensure_future(_watchdog(rt, beat, timeout, heartbeat, started))
    try:
        done, _ = await asyncio.wait({work, dog}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        work.cancel()
        dog.cancel()
        await asyncio.gather(work, return_exceptions=True)  # handler cleanup (kill processes)
        raise
    if work in done:
        dog.cancel()
        return work.result()
    work.cancel()
    await asyncio.gather(work, return_exceptions=True)  # the handler stops before the state fails
    raise StatesError(dog.result(), "", recorded=True)


async def _watchdog(rt: Runtime, beat: _Beat | None, timeout: float | None,
                    heartbeat: float | None, started: asyncio.Event) -> str:
    """The error that ends the attempt: TimeoutSeconds / HeartbeatSeconds, both counted from
    the handler's start (a call queued for a worker thread has not started: threads.py)."""
    await started.wait()
    start = rt.clock.now()
    if beat is None:
        beat = _Beat(rt.clock)  # no HeartbeatSeconds: never read below
    # counted from the handler's start, or from a later heartbeat already restored (a durable
    # execution resumed after a SendTaskHeartbeat: durable/runner.py _Heartbeats)
    beat.last = max(beat.last, start)
    while True:
        now = rt.clock.now()
        if timeout is not None and now >= start + timeout - 1e-9:
            return errors.TIMEOUT
        if heartbeat is not None and now >= beat.last + heartbeat - 1e-9:
            return errors.HEARTBEAT_TIMEOUT
        deadlines = [d for d in (timeout and start + timeout, heartbeat and beat.last + heartbeat) if d]
        await rt.clock.sleep(max(0.0, min(deadlines) - now))


async def _call(rt: Runtime, state: TaskState, request: Any, token: str | None,
                started: asyncio.Event | None, frame: Frame, prefix: str, ident: dict[str, Any]) -> JSON:
    handler = rt.resolve(state.resource)
    if token is None:
        with rt.clock.busy():
            return await _invoke(rt, handler, request, started)
    # registered before the handler runs: a callback may arrive while it is still running
    future: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
    rt.tokens[token] = future
    rt.heartbeats[token] = request.heartbeat
    try:
        with rt.clock.busy():
            submitted = await _invoke(rt, handler, request, started)
        if prefix != "Activity":  # AWS: an activity has no Submitted event
            rt.emit(frame, prefix + "Submitted", {**ident, "output": submitted})
        with rt.callback_hold():  # virtual time: see Runtime.hold_callbacks
            return await future
    finally:
        rt.tokens.pop(token, None)
        rt.heartbeats.pop(token, None)


async def _invoke(rt: Runtime, handler: Any, request: Any, started: asyncio.Event | None) -> JSON:
    """Call a handler (async on the loop; blocking ones on the runtime's bounded worker threads,
    ``started`` set when the call leaves their queue); errors become Failures (StatesError
    keeps its name; any other exception is named after its class)."""
    try:
        blocking = _blocking(handler)
        if blocking is None:
            if started is not None:
                started.set()
            from statemachine.resources.threads import current_threads

            reset = current_threads.set(rt.threads)
            try:
                return await handler(request)
            finally:
                current_threads.reset(reset)
        loop: Any = asyncio.get_running_loop()
        if type(loop) is _inline_loop():  # run/start: no thread switch per call (inline.py)
            result = await loop.call_inline(rt.threads, blocking, request, _thread_name(handler),
                                            started.set if started is not None else None)
        else:
            result = await rt.threads.call(blocking, request, name=_thread_name(handler),
                                           started=started.set if started is not None else None)
        if inspect.isawaitable(result):
            result = await result
        return result
    except Exception as exc:  # (asyncio.CancelledError is not one: it goes through)
        raise _recorded(exc) from None


async def _invoke_plain(rt: Runtime, handler: Any, value: JSON) -> JSON:
    """``_invoke`` of a ``PythonHandler.input_body``: the function called with the effective
    input on a worker thread, no TaskRequest built (same errors)."""
    try:
        loop: Any = asyncio.get_running_loop()
        if type(loop) is _inline_loop():  # run/start: no thread switch per call (inline.py)
            return await loop.call_inline(rt.threads, handler.input_body, value, handler.thread_name)
        return await rt.threads.call(handler.input_body, value, name=handler.thread_name)
    except Exception as exc:
        raise _recorded(exc) from None


def _recorded(exc: Exception) -> StatesError:
    """A handler's error as the Task's recorded failure: a StatesError keeps its name and
    cause, any other exception is named by its type with its message as the cause."""
    if isinstance(exc, StatesError):
        return StatesError(exc.name, exc.cause, recorded=True)
    return StatesError(type(exc).__name__, str(exc), recorded=True)


_INLINE: list[Any] = []


def _inline_loop() -> Any:
    """``InlineLoop``, imported on the first blocking call (not at import: cold start)."""
    if not _INLINE:
        from statemachine.resources.inline import InlineLoop

        _INLINE.append(InlineLoop)
    return _INLINE[0]


def _blocking(handler: Any) -> Any:
    """The blocking callable to run on a worker thread for ``handler``, or None when the
    handler is a coroutine function to await on the loop. A Python task function's sync body is
    called directly (``PythonHandler.sync_body``), skipping its async wrapper."""
    if hasattr(handler, "sync_body"):  # PythonHandler: its plain function, without the wrapper
        return handler.sync_body
    call = type(handler).__call__ if not inspect.isfunction(handler) else None
    if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call):
        return None
    return handler


def _thread_name(handler: Any) -> str:
    name = getattr(handler, "name", None)
    return f"task:{name}" if isinstance(name, str) else "sm-task"


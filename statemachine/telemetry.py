"""Observability: OpenTelemetry traces and metrics of executions (the ``otel`` extra).

In: an execution's history events and the retry/catch/failure hooks (``observe.Observer``).
Out: spans and metric points through the OpenTelemetry API, to the tracer and meter providers
given (or the global ones). This module is imported only when ``Telemetry`` is used; without
it nothing of OpenTelemetry is loaded and the interpreter runs unobserved.

Spans (times are the history events' timestamps, so a virtual-time run shows virtual time)::

    <state machine name>            one per execution; joins the trace current where the
      <state name>                  execution was created (run/start), else a new trace
        <task resource>             one per task attempt (TaskScheduled .. its outcome)
      <Map or Parallel state>
        <state name>                states of an iteration/branch under their Map/Parallel

Attributes use AWS's names under ``statemachine.``: ``statemachine.execution.arn``,
``.execution.name``, ``.state_machine.name``, ``.state_machine.arn``, ``.state.name``,
``.state.type``, ``.iteration`` (Map item / Parallel branch index), ``.task.resource``,
``.task.resource_type``, ``.task.attempt`` (1-based), ``.error`` and ``error.type`` (the ASL
error name), ``.execution.status``. A failure sets the span's status to ERROR with the error
name as description (causes are not copied into spans: they may carry data). Span events:
``retry`` (error, attempt, delay in seconds), ``catch`` (error, catcher index), ``callback``
(a ``.waitForTaskToken`` task submitted, waiting for its answer).

Durable executions (``sm worker``, ``sm serve``, ``sm run --db``) resume by replaying their
history, possibly in another process, which cannot end a span begun before a park. Their span
tree is therefore built from the history (replayed and new events alike) and emitted whole,
with the events' times as start and end, by the run that records the terminal event. Its ids
are derived from the history, so every run agrees on them: the trace id from the execution
ARN, each span's id from the ARN and the id (and path) of the event that opens it
(ExecutionStarted, StateEntered, TaskScheduled). So the ``traceparent`` an HTTP task received
mid-run names the task span emitted later (explicit ids need the OpenTelemetry SDK's tracer;
another tracer gives its own). An execution started (``Service.start``) inside a span joins
that trace instead: its context is stored in the ExecutionStarted event (not shown in the
history) and the root span is that span's child.
If a worker loses its lease after recording the terminal event but before committing it, the
run that commits emits the tree again with the same ids. Metrics are counted once,
from the new events; an execution counts as started when its first run begins.

Each task attempt's span is the W3C trace context (``traceparent``) given to its handler
(``TaskRequest.trace_context``, ``TaskContext.trace_context``); the HTTP Task sends it.

Metrics (instrument names; Prometheus adds ``_total`` to counters and the unit):
``statemachine.executions.started|succeeded|failed|timed_out|aborted`` (counters),
``statemachine.state.duration`` and ``statemachine.task.duration`` (histograms, seconds),
``statemachine.retries`` (counter), ``statemachine.callbacks.open`` (up-down counter). Every
point carries ``state_machine`` (its name); state and task points ``state`` and ``type`` /
``resource``, and ``outcome``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError as missing:  # say which extra, not just which module
    raise ImportError(f"statemachine.Telemetry needs the otel extra: pip install "
                      f"'statemachine-asl[otel]' ({missing})", name=missing.name) from missing

from statemachine.observe import BaseObserver, ExecutionInfo, Observer, Path

if TYPE_CHECKING:
    from statemachine.errors import StatesError
    from statemachine.history import Event
    from statemachine.model import State

__all__ = ["INSTRUMENTATION", "SECONDS_BUCKETS", "Telemetry"]

INSTRUMENTATION = "statemachine-asl"
_PROPAGATOR = TraceContextTextMapPropagator()
#: Histogram buckets in seconds, from a quick Pass to a day-long Wait (the SDK's default
#: buckets are made for milliseconds).
SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                   60.0, 300.0, 900.0, 3600.0, 86400.0)
_TERMINAL = {"ExecutionSucceeded": "SUCCEEDED", "ExecutionFailed": "FAILED",
             "ExecutionTimedOut": "TIMED_OUT", "ExecutionAborted": "ABORTED"}
_TASK_PREFIXES = ("Task", "LambdaFunction")
_TASK_ENDS = ("Succeeded", "Failed", "TimedOut", "StartFailed", "ScheduleFailed", "SubmitFailed")


@dataclasses.dataclass(frozen=True, slots=True)
class Telemetry:
    """OpenTelemetry for executions: ``run(..., telemetry=Telemetry())``.

    ``tracer_provider`` / ``meter_provider``: OpenTelemetry SDK providers (None: the global
    ones, ``trace.set_tracer_provider``); ``traces`` / ``metrics``: turn either off.
    """

    tracer_provider: trace.TracerProvider | None = None
    meter_provider: metrics.MeterProvider | None = None
    traces: bool = True
    metrics: bool = True

    def observer(self, execution: ExecutionInfo) -> Observer:
        tracer = None
        if self.traces:
            tracer = trace.get_tracer(INSTRUMENTATION, tracer_provider=self.tracer_provider)
        instruments = _instruments(self.meter_provider) if self.metrics else None
        if execution.durable and tracer is not None:  # see "Durable executions" above
            return _DurableObserver(execution, tracer, instruments, otel_context.get_current())
        return _OtelObserver(execution, tracer, instruments, otel_context.get_current())


class _Instruments:
    def __init__(self, meter: metrics.Meter) -> None:
        def counter(name: str, what: str) -> metrics.Counter:
            return meter.create_counter(f"statemachine.executions.{name}", unit="{execution}",
                                        description=f"Executions {what}")

        self.status = {"STARTED": counter("started", "started"),
                       "SUCCEEDED": counter("succeeded", "that succeeded"),
                       "FAILED": counter("failed", "that failed"),
                       "TIMED_OUT": counter("timed_out", "that timed out"),
                       "ABORTED": counter("aborted", "that were aborted")}
        self.state_duration = meter.create_histogram(
            "statemachine.state.duration", unit="s", description="Time from a state's entry to its exit",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS)
        self.task_duration = meter.create_histogram(
            "statemachine.task.duration", unit="s", description="Time of one task attempt",
            explicit_bucket_boundaries_advisory=SECONDS_BUCKETS)
        self.retries = meter.create_counter(
            "statemachine.retries", unit="{retry}", description="Retries of failed states")
        self.callbacks = meter.create_up_down_counter(
            "statemachine.callbacks.open", unit="{callback}",
            description="Callback tasks (.waitForTaskToken) waiting for their answer")
        #: the attribute sets of points, made once per distinct set (a state's points repeat
        #: the same few): (kind, *values) -> attributes; read-only once made
        self.attributes: dict[tuple[str, ...], dict[str, str]] = {}

    def bound(self, key: tuple[str, ...], make: Callable[[], dict[str, str]]) -> dict[str, str]:
        """The attributes ``make()`` gives for ``key``, made once (dropped all at 10,000)."""
        found = self.attributes.get(key)
        if found is None:
            if len(self.attributes) >= 10_000:
                self.attributes.clear()
            found = self.attributes[key] = make()
        return found


_INSTRUMENTS: dict[int, tuple[Any, _Instruments]] = {}
_INSTRUMENTS_LOCK = threading.Lock()


def _instruments(provider: Any) -> _Instruments:
    """The instruments of a meter provider (created once per provider)."""
    provider = provider if provider is not None else metrics.get_meter_provider()
    with _INSTRUMENTS_LOCK:
        found = _INSTRUMENTS.get(id(provider))
        if found is None or found[0] is not provider:
            meter = metrics.get_meter(INSTRUMENTATION, meter_provider=provider)
            found = _INSTRUMENTS[id(provider)] = (provider, _Instruments(meter))
        return found[1]


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class _OpenState:
    __slots__ = ("attempts", "entered", "error", "name", "span", "type")

    def __init__(self, span: Any, name: str, type: str, entered: float) -> None:
        self.span = span
        self.name = name
        self.type = type
        self.entered = entered
        self.attempts = 0
        self.error: str | None = None


class _OpenTask:
    __slots__ = ("callback", "resource", "span", "started")

    def __init__(self, span: Any, resource: str, started: float) -> None:
        self.span = span
        self.resource = resource
        self.started = started
        self.callback = False


class _OtelObserver(BaseObserver):
    """Spans and metrics of one execution, built from its events (see the module docstring).
    A Distributed Map's child executions share it: their events carry distinct paths."""

    def __init__(self, execution: ExecutionInfo, tracer: Any, instruments: _Instruments | None,
                 parent: otel_context.Context) -> None:
        super().__init__()
        self.execution = execution
        self.tracer = tracer
        self.instruments = instruments
        self.parent = parent
        self.root: Any = None
        self.states: dict[Path, _OpenState] = {}
        self.tasks: dict[Path, _OpenTask] = {}
        self.base = {"state_machine": execution.state_machine_name}
        self.last = 0.0  # timestamp of the latest event
        self.silent = False  # replaying stored events: rebuild the open states, record nothing
        self.replays = 0  # stored events replayed before the first new one (durable)
        self.fresh = True  # no new event seen yet

    @property
    def meters(self) -> _Instruments | None:
        """The instruments, unless a replayed event is being passed again."""
        return None if self.silent else self.instruments

    def child(self) -> Observer:
        return self

    # -- events -------------------------------------------------------------------------------
    def replayed(self, event: Event) -> None:
        super().replayed(event)
        self.replays += 1
        self.silent = True
        try:
            self._dispatch(event)
        finally:
            self.silent = False

    def event(self, event: Event) -> None:
        if self._replaying:
            self._replaying.pop(event.path, None)
        if self.fresh:
            self.fresh = False
            if self.replays == 1 and self.instruments is not None:  # only ExecutionStarted was stored
                self.instruments.status["STARTED"].add(1, self.base)
        self._dispatch(event)

    def _dispatch(self, event: Event) -> None:
        self.last = event.timestamp
        kind = event.type
        if kind.endswith("StateEntered"):
            self._enter(event)
        elif kind.endswith("StateExited"):
            self._exit(event, None)
        elif kind.endswith("StateAborted"):
            self._exit(event, "aborted")
        elif kind.startswith(_TASK_PREFIXES):
            self._task(event)
        elif kind == "ExecutionStarted":
            self._started(event)
        elif kind in _TERMINAL:
            self._finished(event, _TERMINAL[kind])

    def _span(self, name: str, parent: Any, when: float, attributes: dict[str, Any]) -> Any:
        if self.tracer is None:
            return None
        ctx = trace.set_span_in_context(parent) if parent is not None else self.parent
        return self.tracer.start_span(name, context=ctx, kind=SpanKind.INTERNAL,
                                      start_time=_ns(when), attributes=attributes)

    def _started(self, event: Event) -> None:
        info = self.execution
        self.root = self._span(info.state_machine_name, None, event.timestamp, {
            "statemachine.execution.arn": info.execution_arn,
            "statemachine.execution.name": info.name,
            "statemachine.state_machine.arn": info.state_machine_arn,
            "statemachine.state_machine.name": info.state_machine_name,
            "statemachine.state_machine.type": info.type,
            "statemachine.execution.redrive_count": info.redrive_count})
        if self.meters is not None:
            self.meters.status["STARTED"].add(1, self.base)

    def _enter(self, event: Event) -> None:
        details = event.details or {}
        name = str(details.get("name", ""))
        kind = event.type[: -len("StateEntered")]
        path = event.path
        span = None
        if self.tracer is not None:
            attributes: dict[str, Any] = {"statemachine.state.name": name, "statemachine.state.type": kind}
            parent = self.root
            if path:
                attributes["statemachine.iteration"] = path[-1][1]
                outer = self.states.get(path[:-1])
                parent = outer.span if outer is not None else self.root
            span = self._span(name, parent, event.timestamp, attributes)
        self.states[path] = _OpenState(span, name, kind, event.timestamp)

    def _exit(self, event: Event, aborted: str | None) -> None:
        state = self.states.pop(event.path, None)
        if state is None:
            return
        task = self.tasks.pop(event.path, None)  # cancelled in flight (a sibling failed)
        if task is not None:
            self._end_task(task, event.timestamp, "aborted", "States.Aborted")
        if aborted is not None and state.error is None:
            state.error = "States.Aborted"  # our name: a sibling failed, or the run stopped
        self._end_state(state, event.timestamp, "succeeded" if aborted is None else "aborted")

    def _end_state(self, state: _OpenState, when: float, outcome: str) -> None:
        if state.span is not None:
            if outcome != "succeeded" and state.error is not None:
                state.span.set_status(Status(StatusCode.ERROR, state.error))
            state.span.end(end_time=_ns(when))
        meters = self.meters
        if meters is not None:
            machine = self.base["state_machine"]
            meters.state_duration.record(max(0.0, when - state.entered), meters.bound(
                ("state", machine, state.name, state.type, outcome),
                lambda: {"state_machine": machine, "state": state.name, "type": state.type,
                         "outcome": outcome}))

    def _task(self, event: Event) -> None:
        kind = event.type
        prefix = "Task" if kind.startswith("Task") else "LambdaFunction"
        step = kind[len(prefix):]
        path = event.path
        if step == "Scheduled":
            self._schedule(event, prefix)
        elif step == "Submitted":
            task = self.tasks.get(path)
            if task is not None:
                task.callback = True
                if task.span is not None:
                    task.span.add_event("callback", timestamp=_ns(event.timestamp))
                if self.meters is not None:
                    self.meters.callbacks.add(1, self.base)
        elif step == "Started":
            task = self.tasks.get(path)
            if task is not None:
                task.started = event.timestamp
        elif step in _TASK_ENDS:
            task = self.tasks.pop(path, None)
            if task is None:
                return
            details = event.details or {}
            error = details.get("error") if step != "Succeeded" else None
            if error is not None or step != "Succeeded":
                name = str(error) if error is not None else f"{prefix}{step}"
                state = self.states.get(path)
                if state is not None:
                    state.error = name
                self._end_task(task, event.timestamp, "failed" if step != "TimedOut" else "timed_out", name)
            else:
                self._end_task(task, event.timestamp, "succeeded", None)

    def _schedule(self, event: Event, prefix: str) -> None:
        details = event.details or {}
        state = self.states.get(event.path)
        resource = str(details.get("resource", ""))
        resource_type = str(details.get("resourceType", "lambda" if prefix == "LambdaFunction" else ""))
        attributes: dict[str, Any] = {"statemachine.task.resource": resource,
                                      "statemachine.task.resource_type": resource_type}
        if state is not None:
            state.attempts += 1
            attributes["statemachine.task.attempt"] = state.attempts
            attributes["statemachine.state.name"] = state.name
        name = f"{resource_type}:{resource}" if resource_type and prefix == "Task" else resource
        span = self._span(name, state.span if state is not None else self.root,
                          event.timestamp, attributes)
        self.tasks[event.path] = _OpenTask(span, name, event.timestamp)

    def _end_task(self, task: _OpenTask, when: float, outcome: str, error: str | None) -> None:
        if task.span is not None:
            if error is not None:
                task.span.set_attributes({"statemachine.error": error, "error.type": error})
                task.span.set_status(Status(StatusCode.ERROR, error))
            task.span.end(end_time=_ns(when))
        meters = self.meters
        if meters is not None:
            machine = self.base["state_machine"]
            meters.task_duration.record(max(0.0, when - task.started), meters.bound(
                ("task", machine, task.resource, outcome),
                lambda: {"state_machine": machine, "resource": task.resource, "outcome": outcome}))
            if task.callback:
                meters.callbacks.add(-1, self.base)

    def _finished(self, event: Event, status: str) -> None:
        details = event.details or {}
        error = details.get("error")
        if status == "TIMED_OUT":
            error = error or "States.Timeout"
        for path in sorted(self.tasks, key=len, reverse=True):  # innermost first
            self._end_task(self.tasks.pop(path), event.timestamp, "aborted", error or "States.Aborted")
        for path in sorted(self.states, key=len, reverse=True):
            state = self.states.pop(path)
            state.error = state.error or (str(error) if error else "States.Aborted")
            self._end_state(state, event.timestamp, status.lower())
        if self.root is not None:
            self.root.set_attribute("statemachine.execution.status", status)
            if status != "SUCCEEDED":
                name = str(error) if error else status
                self.root.set_attributes({"statemachine.error": name, "error.type": name})
                self.root.set_status(Status(StatusCode.ERROR, name))
            self.root.end(end_time=_ns(event.timestamp))
        if self.meters is not None:
            self.meters.status[status].add(1, self.base)

    # -- hooks --------------------------------------------------------------------------------
    def retrying(self, path: Path, state: State, error: StatesError, attempt: int,
                 delay: float) -> None:
        if self.replaying(path):
            return
        name = error.name or "States.Runtime"
        found = self.states.get(path)
        if found is not None and found.span is not None:
            found.span.add_event("retry", {"statemachine.error": name, "statemachine.retry.attempt": attempt,
                                           "statemachine.retry.delay": delay})
        if self.meters is not None:
            self.meters.retries.add(1, {**self.base, "state": state.name, "error": name})

    def caught(self, path: Path, state: State, error: StatesError, catcher: int) -> None:
        found = self.states.get(path)
        if found is None or found.span is None or self.replaying(path):
            return
        name = error.name or "States.Runtime"
        found.span.add_event("catch", {"statemachine.error": name, "statemachine.catch.index": catcher})
        found.span.set_attribute("statemachine.caught_error", name)

    def failed(self, path: Path, state: State, error: StatesError) -> None:
        """The state leaves with ``error``: its span ends now (at the last event's time)."""
        found = self.states.pop(path, None)
        if found is None:
            return
        name = error.name or "States.Runtime"
        found.error = name
        if found.span is not None:
            found.span.set_attributes({"statemachine.error": name, "error.type": name})
        silent, self.silent = self.silent, self.silent or self.replaying(path)  # measured before
        try:
            self._end_state(found, self.last, "failed")
        finally:
            self.silent = silent

    def trace_context(self, path: Path) -> Mapping[str, str]:
        task = self.tasks.get(path)
        if task is None or task.span is None:
            return {}
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(task.span))
        return carrier


def _us(seconds: float) -> int:
    """Nanoseconds, rounded to the microsecond as the store keeps times: a time read back
    from the history and one taken live agree."""
    return round(seconds * 1e6) * 1000


def _id(bits: int, *parts: object) -> int:
    """A non-zero ``bits``-bit id derived from ``parts`` (the same in every process)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[: bits // 8], "big") or 1


class _Record:
    """A span of a durable execution, kept until the whole tree is emitted (``_emit``); it
    takes the calls ``_OtelObserver`` makes on a live span."""

    __slots__ = ("attributes", "emitted", "end_time", "events", "name", "now", "parent", "span_id",
                 "start", "status")

    def __init__(self, name: str, span_id: int, parent: _Record | None, start: float,
                 attributes: dict[str, Any], now: Any) -> None:
        self.name = name
        self.span_id = span_id
        self.parent = parent
        self.start = start
        self.attributes = dict(attributes)
        self.now = now  # () -> the latest event's time: a span event's time when none is given
        self.events: list[tuple[str, dict[str, Any], float]] = []
        self.status: Status | None = None
        self.end_time: float | None = None
        self.emitted = False

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.attributes.update(attributes)

    def set_status(self, status: Status) -> None:
        self.status = status

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None,
                  timestamp: int | None = None) -> None:
        self.events.append((name, dict(attributes or {}),
                            timestamp / 1e9 if timestamp is not None else self.now()))

    def end(self, end_time: int | None = None) -> None:
        if self.end_time is None:
            self.end_time = end_time / 1e9 if end_time is not None else self.now()


class _PresetIds:
    """The SDK tracer's id generator, wrapped: ids preset for the current thread (a durable
    execution's spans, see ``_DurableObserver._emit``), else the wrapped generator's."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped
        self.preset = threading.local()

    def generate_span_id(self) -> int:
        found = getattr(self.preset, "span_id", None)
        return int(found) if found is not None else int(self.wrapped.generate_span_id())

    def generate_trace_id(self) -> int:
        found = getattr(self.preset, "trace_id", None)
        return int(found) if found is not None else int(self.wrapped.generate_trace_id())

    def is_trace_id_random(self) -> bool:
        if getattr(self.preset, "trace_id", None) is not None:
            return False
        return bool(getattr(self.wrapped, "is_trace_id_random", lambda: False)())


_PRESET_LOCK = threading.Lock()


def _preset_ids(tracer: Any) -> _PresetIds | None:
    """The tracer's id generator as a ``_PresetIds`` (installed once: the tracer is this
    module's own, one per provider); None when the tracer is not the SDK's."""
    with _PRESET_LOCK:
        current = getattr(tracer, "id_generator", None)
        if current is None:
            return None
        if not isinstance(current, _PresetIds):
            current = tracer.id_generator = _PresetIds(current)
        return current


class _DurableObserver(_OtelObserver):
    """A durable execution's spans: records built from its whole history (every run replays
    it), emitted when the execution ends (see "Durable executions" in the module docstring)."""

    def __init__(self, execution: ExecutionInfo, tracer: Any, instruments: _Instruments | None,
                 parent: otel_context.Context) -> None:
        super().__init__(execution, tracer, instruments, parent)
        self.caller: Any = None  # the span context of the trace the execution was started in
        if execution.trace_context:
            self.caller = trace.get_current_span(_PROPAGATOR.extract(execution.trace_context)).get_span_context()
        self.trace_id = self.caller.trace_id if self.caller is not None and self.caller.is_valid \
            else _id(128, "trace", execution.execution_arn)
        self.records: list[_Record] = []
        self.opening: tuple[int, Path] = (0, ())  # the id and path of the event being dispatched

    def _dispatch(self, event: Event) -> None:
        self.opening = (event.id, event.path)
        super()._dispatch(event)

    def _span(self, name: str, parent: Any, when: float, attributes: dict[str, Any]) -> Any:
        event_id, path = self.opening
        record = _Record(name, _id(64, "span", self.execution.execution_arn, path, event_id),
                         parent if isinstance(parent, _Record) else None, when, attributes,
                         lambda: self.last)
        self.records.append(record)
        return record

    def _finished(self, event: Event, status: str) -> None:
        super()._finished(event, status)
        if not self.silent:  # the run that records the terminal event emits the tree
            self._emit(event.timestamp)

    def retrying(self, path: Path, state: State, error: StatesError, attempt: int,
                 delay: float) -> None:
        if not self.replaying(path):
            super().retrying(path, state, error, attempt, delay)
            return
        found = self.states.get(path)  # a decision of an earlier run: rebuild its span event
        if found is not None and found.span is not None:
            found.span.add_event("retry", {"statemachine.error": error.name or "States.Runtime",
                                           "statemachine.retry.attempt": attempt,
                                           "statemachine.retry.delay": delay})

    def caught(self, path: Path, state: State, error: StatesError, catcher: int) -> None:
        found = self.states.get(path)
        if found is None or found.span is None:
            return
        name = error.name or "States.Runtime"
        found.span.add_event("catch", {"statemachine.error": name, "statemachine.catch.index": catcher})
        found.span.set_attribute("statemachine.caught_error", name)

    def trace_context(self, path: Path) -> Mapping[str, str]:
        task = self.tasks.get(path)
        if task is None or not isinstance(task.span, _Record):
            return {}
        return {"traceparent": f"00-{self.trace_id:032x}-{task.span.span_id:016x}-01"}

    def _emit(self, when: float) -> None:
        """Start and end every record not emitted yet as a span, parents first, with its
        own ids (through ``_PresetIds``) and times."""
        ids = _preset_ids(self.tracer)
        for record in self.records:
            if record.emitted:
                continue
            record.emitted = True
            if record.parent is None:
                context = otel_context.Context()  # the root: in the caller's trace, else its own
                if self.caller is not None and self.caller.is_valid:
                    context = trace.set_span_in_context(trace.NonRecordingSpan(self.caller))
            else:
                context = trace.set_span_in_context(trace.NonRecordingSpan(trace.SpanContext(
                    self.trace_id, record.parent.span_id, is_remote=False,
                    trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))))
            if ids is not None:
                ids.preset.trace_id, ids.preset.span_id = self.trace_id, record.span_id
            start = _us(record.start)
            try:
                span = self.tracer.start_span(record.name, context=context, kind=SpanKind.INTERNAL,
                                              start_time=start, attributes=record.attributes)
            finally:
                if ids is not None:
                    ids.preset.trace_id = ids.preset.span_id = None
            for name, attributes, at in record.events:
                span.add_event(name, attributes, timestamp=max(start, _us(at)))
            if record.status is not None:
                span.set_status(record.status)
            span.end(end_time=max(start, _us(record.end_time if record.end_time is not None else when)))

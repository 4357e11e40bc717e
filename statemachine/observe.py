"""Interpreter output, second channel: what an execution does, for logs, traces and metrics.

In: the history events an execution appends (``Event``), plus the three decisions the history
does not spell out -- a retry (which retrier, after what delay), a catch (to which state) and
a state failing uncaught. Out: whatever an ``Observer`` makes of them (structured log lines in
``logs.py``, OpenTelemetry spans and metrics in ``telemetry.py``).

One interface, hung off the history: the Runtime passes every event it appends to
``Observer.event`` (composed with ``on_event``, so the hot path gains no test), and calls the
three hooks only on the rare retry/catch/failure paths. With no observer configured nothing of
this is imported or called. A durable execution replays its stored history on every resume:
the events it passes again go to ``Observer.replayed`` (to rebuild durations and nesting), only
new ones to ``Observer.event``; ``Observer.replaying(path)`` tells a hook that it fires for a
decision already observed by an earlier run.

Configurations (``LoggingConfiguration``, ``Telemetry``) are ``Observability`` objects: each
execution asks them for its own Observer, given an ``ExecutionInfo``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from statemachine.errors import StatesError
    from statemachine.history import Event
    from statemachine.model import State

__all__ = ["BaseObserver", "ExecutionInfo", "Observability", "Observer", "Observers", "Path", "chain", "install",
           "observer_for", "process_observability"]

#: Which Parallel branch / Map iteration (or Distributed Map child) an event belongs to
#: (``Event.path``): ``((started_event_id, index), ...)``, outermost first; ``()`` at the top.
Path = tuple[tuple[int, int], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class ExecutionInfo:
    """What an observer knows of its execution before the first event (AWS names)."""

    execution_arn: str
    name: str
    state_machine_arn: str
    state_machine_name: str
    type: str = "STANDARD"  # "STANDARD" | "EXPRESS"
    redrive_count: int = 0
    #: a durable execution (worker, server): it resumes by replay, possibly in another
    #: process, so observers see its events across several runs (see ``Observer.replayed``)
    durable: bool = False
    #: a durable execution started inside a trace: that trace's W3C context (``traceparent``,
    #: ``tracestate``), stored with the execution (``Service.start``); None otherwise
    trace_context: Mapping[str, str] | None = None


@runtime_checkable
class Observer(Protocol):
    """Receives one execution's lifecycle. Every method is called on the execution's event
    loop, synchronously, and must not block (write to a buffer or a file, never a network)."""

    def event(self, event: Event) -> None:
        """A new history event, as it is appended (``Runtime.emit``)."""

    def replayed(self, event: Event) -> None:
        """A stored event a durable execution passes again on resume (not new)."""

    def retrying(self, path: Path, state: State, error: StatesError, attempt: int,
                 delay: float) -> None:
        """``state`` failed with ``error`` and a retrier matched: retry number ``attempt``
        (1-based) starts after ``delay`` seconds."""

    def caught(self, path: Path, state: State, error: StatesError, catcher: int) -> None:
        """Catcher number ``catcher`` (0-based) of ``state`` matched ``error``; the next
        StateEntered event on ``path`` is its ``Next``."""

    def failed(self, path: Path, state: State, error: StatesError) -> None:
        """``state`` fails with ``error`` and nothing catches it (it leaves the state)."""

    def trace_context(self, path: Path) -> Mapping[str, str]:
        """W3C trace-context headers (``traceparent``, ``tracestate``) of the task attempt
        running at ``path`` (empty when there is none or nothing is traced)."""

    def child(self) -> Observer:
        """The observer of a Distributed Map's child executions (their own histories)."""


class Observability(Protocol):
    """A configuration that observes executions (``LoggingConfiguration``, ``Telemetry``)."""

    def observer(self, execution: ExecutionInfo) -> Observer:
        """A fresh observer for one execution."""


class BaseObserver:
    """An Observer that does nothing: subclasses override what they need. It remembers, per
    path, whether the last event there was a replayed one (``replaying``), so a hook that a
    durable resume fires again for an old decision can be told from a new one."""

    def __init__(self) -> None:
        self._replaying: dict[Path, bool] = {}

    def event(self, event: Event) -> None:
        if self._replaying:
            self._replaying.pop(event.path, None)

    def replayed(self, event: Event) -> None:
        self._replaying[event.path] = True

    def replaying(self, path: Path) -> bool:
        """True when the last event on ``path`` was replayed (a hook repeats an old decision)."""
        return self._replaying.get(path, False)

    def retrying(self, path: Path, state: State, error: StatesError, attempt: int,
                 delay: float) -> None:
        return None

    def caught(self, path: Path, state: State, error: StatesError, catcher: int) -> None:
        return None

    def failed(self, path: Path, state: State, error: StatesError) -> None:
        return None

    def trace_context(self, path: Path) -> Mapping[str, str]:
        return {}

    def child(self) -> Observer:
        return BaseObserver()


class Observers:
    """Several observers as one (``run(logging=..., telemetry=...)``); each call goes to
    every observer in order. ``trace_context`` is the first non-empty answer."""

    __slots__ = ("members",)

    def __init__(self, members: Sequence[Observer]) -> None:
        self.members = tuple(members)

    def event(self, event: Event) -> None:
        for member in self.members:
            member.event(event)

    def replayed(self, event: Event) -> None:
        for member in self.members:
            member.replayed(event)

    def retrying(self, path: Path, state: State, error: StatesError, attempt: int,
                 delay: float) -> None:
        for member in self.members:
            member.retrying(path, state, error, attempt, delay)

    def caught(self, path: Path, state: State, error: StatesError, catcher: int) -> None:
        for member in self.members:
            member.caught(path, state, error, catcher)

    def failed(self, path: Path, state: State, error: StatesError) -> None:
        for member in self.members:
            member.failed(path, state, error)

    def trace_context(self, path: Path) -> Mapping[str, str]:
        for member in self.members:
            found = member.trace_context(path)
            if found:
                return found
        return {}

    def child(self) -> Observer:
        return Observers([member.child() for member in self.members])


_PROCESS: dict[str, Observability] = {}


def install(key: str, config: Observability | None) -> None:
    """Set (None: remove) one process-wide observability, under ``key``, that durable
    executions of this process apply (``sm worker``, ``sm serve``: e.g. the server's
    ``/metrics`` installs its Telemetry); installing the same key again replaces it."""
    if config is None:
        _PROCESS.pop(key, None)
    else:
        _PROCESS[key] = config


def process_observability() -> list[Observability]:
    """What ``install`` set, plus the logging configuration of the environment
    (``SM_LOG_LEVEL``, ``SM_LOG_INCLUDE_DATA``, ``SM_LOG_FILE``: logs.py) when set. The
    environment is read once, then again at each ``read_environment()`` (a ``Worker``
    calls it when made: ``sm worker`` / ``sm serve`` start)."""
    configs = list(_PROCESS.values())
    if not _FROM_ENV:
        read_environment()
    from_env = _FROM_ENV[0] if _FROM_ENV else _logging_from_environment()
    if from_env is not None and "logging" not in _PROCESS:
        configs.append(from_env)
    return configs


_FROM_ENV: list[Any] = []  # [the environment's LoggingConfiguration or None] once read


def read_environment() -> None:
    """Read the ``$SM_LOG_*`` logging configuration that ``process_observability`` adds
    (every durable advance asks for it: the environment is not read each time). Raises
    the ValueError naming the variable for an invalid one, which is not kept (then each
    ``process_observability`` call raises it too)."""
    try:
        _FROM_ENV[:] = [_logging_from_environment()]
    except ValueError:
        _FROM_ENV.clear()
        raise


def _logging_from_environment() -> Any:
    from statemachine.logs import LoggingConfiguration

    return LoggingConfiguration.from_environment()


def observer_for(configs: Sequence[Observability | None], execution: ExecutionInfo) -> Observer | None:
    """The one observer of an execution for the configurations given (None entries ignored);
    None when there is none, so the interpreter runs exactly as without observability."""
    members = [config.observer(execution) for config in configs if config is not None]
    if not members:
        return None
    return members[0] if len(members) == 1 else Observers(members)


def chain(first: Callable[[Event], None] | None,
          second: Callable[[Event], None]) -> Callable[[Event], None]:
    """One per-event callback calling ``first`` (when set) then ``second``."""
    if first is None:
        return second

    def both(event: Event) -> None:
        first(event)
        second(event)

    return both

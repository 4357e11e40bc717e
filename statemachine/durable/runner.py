"""Durable executions, runner: advances one stored execution by replaying its history.

In: a ``DurableStore``, the execution's record and machine, and a ``Lease`` on it. Out: the
execution advanced until it ends (final status committed) or parks (a Wait, a retry delay
or a callback to wait for: timers and task tokens committed, lease released, no coroutine
or thread kept), and the events it produced appended to the store with ids N+1, N+2, ...

How (Temporal-style replay; docs/ARCHITECTURE.md "Durable executions"): the interpreter
runs the execution from its start with the execution's seed, on a ``DurableRuntime``:

- every event it emits is matched against the stored history by identity -- (branch path,
  previous event id, type, occurrence) -- and a stored one is not appended again: it keeps
  its id and timestamp (so paths, which hold event ids, come out the same too);
- the clock reads the stored timestamp of the last matched event of the running branch
  (``DurableClock``), so a Wait of a day that started yesterday ends now, and a task's
  TimeoutSeconds counts from its stored TaskStarted;
- a Task whose outcome is stored returns it without calling the handler; a Task whose
  TaskStarted is stored but not its outcome was in flight when the last worker stopped:
  it runs again (at least once) with the same ``$$.Task.Token`` and ``redelivered=True`` in
  its ``TaskRequest``;
- every random draw comes from a generator of its own per branch / Map iteration, seeded
  from the execution's seed and the branch path, so sibling scheduling cannot change it;
- past the stored frontier new events get the next ids; they are committed (one ``append``
  under the lease) before each task dispatch, when the execution parks and when it ends.

Parking: when nothing runs (no handler busy, the loop idle) and everything waits on the
clock (further than ``park_after`` seconds away) or on a task token, the runner commits the
earliest wake-up as a timer, releases the lease and drops the coroutine. Store failures are
never workflow failures: ``advance`` raises ``StoreError`` and the worker retries later; the
execution resumes from what was committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import itertools
import json
import random
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from time import time_ns as _time_ns
from typing import Any, Final, cast

from statemachine.clock import (
    Clock,
    SystemClock,
    current_clock,
    current_interrupt,
    format_timestamp,
)
from statemachine.durable._events import (
    DETAILS_KEY,
    PATH_KEY,
    Entry,
    EventValues,
    compact,
    event_body,
    record_values,
)
from statemachine.durable._rows import from_us, to_us
from statemachine.durable._sql import SqlStore
from statemachine.durable.contract import (
    DurableStore,
    EventRecord,
    ExecutionRecord,
    ExecutionUpdate,
    Lease,
    TaskTokenRecord,
    TimerRecord,
)
from statemachine.durable.errors import EventConflict, LeaseLost, StoreError
from statemachine.errors import StatesError
from statemachine.history import Event, details_key
from statemachine.interpreter.execution import Frame, Runtime
from statemachine.interpreter.task import _blocking, _inline_loop, _thread_name
from statemachine.model import CompiledMachine, MapState, ParallelState, TaskState
from statemachine.values import JSON, MISSING

__all__ = ["DETAILS_KEY", "PATH_KEY", "TRACE_KEY", "Advance", "DurableClock", "DurableRuntime", "advance", "event_record"]

#: The key of the ExecutionStarted body that holds the W3C trace context (``traceparent``,
#: ``tracestate``) the execution was started in (ours; telemetry.py joins that trace).
TRACE_KEY: Final = "smTrace"
_TASK_PREFIXES: Final = ("Task", "LambdaFunction", "Activity")
_OUTCOMES: Final = ("Succeeded", "Failed", "TimedOut")
#: the TaskStarted-like events (what a dispatch reads from ``_started``)
_TASK_STARTED: Final = frozenset(f"{prefix}Started" for prefix in _TASK_PREFIXES)
#: ``object.__new__``: an Event built field by field (see ``DurableRuntime._emit``)
_new_event = object.__new__

Path = tuple[tuple[int, int], ...]

#: Stored time of the running branch's last replayed event (None: live, read the clock).
_logical: ContextVar[float | None] = ContextVar("sm_durable_logical", default=None)
#: Branch path of the running code (chooses its random generator).
_branch: ContextVar[Path] = ContextVar("sm_durable_branch", default=())
#: The TaskStarted of the task being dispatched: (path, started id, scheduled id, stored?).
_started: ContextVar[tuple[Path, int, int, bool] | None] = ContextVar("sm_durable_task",
                                                                      default=None)


def event_record(event: Event) -> EventRecord:
    """An interpreter ``Event`` as the store keeps it. The body holds ``previousEventId``,
    the details as JSON values under ``DETAILS_KEY`` (payloads not yet turned into JSON
    text: one encoding per event; ``aws_event`` renders AWS's shape when read) and the branch
    path under ``PATH_KEY`` when it has one."""
    return EventRecord(event.id, event.type, datetime.fromtimestamp(event.timestamp, UTC),
                       event_body(event.previous_id, event.details, event.path))


def micros(timestamp: float) -> int:
    """``to_us(datetime.fromtimestamp(timestamp, UTC))`` without the datetime: the whole
    seconds, then the fraction's microseconds, half to even (``int`` then an exact
    subtraction, as ``math.modf``), so a stored time reads back as the one a replay or an
    observer saw in memory."""
    whole = int(timestamp)
    return whole * 1_000_000 + round((timestamp - whole) * 1_000_000)


def row_record(event_id: int, row: Entry) -> EventRecord:
    """An engine event's segment entry ``(type, microseconds, previous id, details, path)``
    (event ``event_id``; what ``SqlStore.append_rows`` takes) as the ``EventRecord`` a store
    that takes records (``DurableStore.append``) keeps: ``event_record``'s."""
    type, us, previous, details, path = row
    return EventRecord(event_id, type, from_us(us), event_body(previous, details, path))


def aws_event(record: EventRecord | EventValues) -> dict[str, Any]:
    """A stored event (an ``EventRecord``, or ``EventValues`` from
    ``SqlStore.history_values``) as GetExecutionHistory shows it: id, previousEventId,
    timestamp, type, ``<x>EventDetails`` (payloads as JSON text, as AWS gives them)."""
    if isinstance(record, EventRecord):
        record = record_values(record.id, record.type, to_us(record.timestamp), record.body)
    id, type, micros, previous, details = record[:5]
    out: dict[str, Any] = {"id": id, "previousEventId": previous,
                           "timestamp": from_us(micros), "type": type}
    if details is not None:
        key = details_key(type)
        out[key] = Event(id, 0, 0.0, type, details).to_dict()[key]
    return out


def load_history(store: DurableStore, execution_arn: str) -> list[EventValues]:
    """An execution's stored events as ``EventValues`` (straight from the segments on the
    SQL stores; parsed from each ``EventRecord.body`` on another store)."""
    if isinstance(store, SqlStore):
        return store.history_values(execution_arn)
    return [record_values(r.id, r.type, to_us(r.timestamp), r.body)
            for r in store.history(execution_arn)]


class _Stored:
    """One event of the stored history, as replay needs it (from an ``EventRecord`` or
    ``EventValues``)."""

    __slots__ = ("details", "id", "path", "previous", "timestamp", "type")

    def __init__(self, record: EventRecord | EventValues) -> None:
        if isinstance(record, EventRecord):
            record = record_values(record.id, record.type, to_us(record.timestamp), record.body)
        self.id, self.type, micros, self.previous, details, path = record[:6]
        self.timestamp = micros / 1_000_000  # from_us(micros).timestamp(), exactly
        self.path: Path = tuple((a, b) for a, b in path)
        self.details: dict[str, Any] = details or {}


_CONTAINERS: Final = ("MapStateEntered", "ParallelStateEntered")
_TERMINAL: Final = ("ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut")


def _redriven_away(events: Sequence[_Stored]) -> set[int]:
    """Ids of the events a redrive replaces (they are not replayed): at each redrive, in
    every branch path, the state that had not exited -- from its Entered event on, or, for
    a Map or Parallel, from after its Started event on (its successful iterations and
    branches stay) -- and the execution's terminal event. Those states run again."""
    dead: set[int] = set()
    open_state: dict[Path, _Stored] = {}
    later: dict[Path, list[_Stored]] = {}
    for event in events:
        if event.type == "ExecutionRedriven":
            for path, entered in open_state.items():
                tail = later.get(path, [])
                if entered.type in _CONTAINERS:
                    started = next((e.id for e in tail if e.type in (
                        "MapStateStarted", "ParallelStateStarted")), entered.id)
                    dead.update(e.id for e in tail if e.id > started)
                else:
                    dead.add(entered.id)
                    dead.update(e.id for e in tail)
            open_state.clear()
            later.clear()
            continue
        if event.id in dead:
            continue
        if event.type in _TERMINAL:
            dead.add(event.id)
            continue
        if event.type.endswith("StateEntered"):
            open_state[event.path] = event
            later[event.path] = []
        elif event.type.endswith("StateExited"):
            open_state.pop(event.path, None)
            later.pop(event.path, None)
        elif event.path in later:
            later[event.path].append(event)
    return dead


class _Changed:
    """``asyncio.Event``'s ``set``/``clear`` for the runner's ``drive`` loop, which waits
    on it through one plain future per wake (no Task, no ``asyncio.wait`` per handler call)."""

    __slots__ = ("_flag", "_waiter")

    def __init__(self) -> None:
        self._flag = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        self._flag = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._flag = False

    def is_set(self) -> bool:
        return self._flag

    def future(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """A future done once ``set`` is called (at once when it was set already)."""
        waiter = self._waiter = loop.create_future()
        if self._flag:
            waiter.set_result(None)
        return waiter


class DurableClock:
    """A clock that replays: ``now()`` is the stored time of the running branch's last
    replayed event (live branches read ``base``); ``sleep`` counts from it. It tracks what
    the runner needs to decide when to park: handlers busy, sleepers and their due times."""

    def __init__(self, base: Clock | None = None) -> None:
        self.base = base or SystemClock()
        self.busy_count = 0
        self.ticks = 0  # progress of the execution: events, sleeps, handler calls
        self.sleepers: dict[int, float] = {}
        self.changed = _Changed()
        self._seq = itertools.count()

    def now(self) -> float:
        logical = _logical.get()
        return logical if logical is not None else self.base.now()

    async def sleep(self, seconds: float) -> None:
        logical = _logical.get()
        due = self.now() + max(0.0, seconds)
        key = next(self._seq)
        self.sleepers[key] = due
        self.ticks += 1
        self.changed.set()
        try:
            remaining = due - self.base.now()
            if remaining > 0:
                await self.base.sleep(remaining)
            else:
                await asyncio.sleep(0)
        finally:
            del self.sleepers[key]
            self.ticks += 1
            self.changed.set()
        if logical is not None:  # replaying: time moved on by exactly the sleep
            _logical.set(due)

    @contextlib.contextmanager
    def not_busy(self) -> Iterator[None]:
        """Inside ``busy``: a handler call that does not run after all (it waits for the
        execution to park), so the runner may find the execution idle."""
        self.busy_count -= 1
        self.ticks += 1
        self.changed.set()
        try:
            yield
        finally:
            self.busy_count += 1
            self.ticks += 1

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        self.busy_count += 1
        self.ticks += 1
        try:
            with self.base.busy():  # a virtual base clock does not jump while a handler runs
                yield
        finally:
            self.busy_count -= 1
            self.ticks += 1
            self.changed.set()


class _Suspend(Exception):
    """Raised to the runner when the execution must stop advancing in this process."""


class _BranchRandom:
    """``DurableRuntime.rng`` (``path`` None) and ``rng_for(path)``: a stand-in for a
    ``random.Random`` that picks the generator of the branch when a value is drawn --
    ``path``'s, or the running branch's (``_branch``) at that moment. Draws are synchronous
    in the code that fetched ``rt.rng`` (nothing emits in between), so this is the
    generator the fetch would have picked; fetching ``rt.rng`` (several times per state,
    passed along whether or not anything draws) costs no lookup, and a branch that draws
    nothing gets no generator (seeding a Mersenne Twister per Map iteration would cost
    more than the iteration)."""

    __slots__ = ("_path", "_rt")

    def __init__(self, rt: DurableRuntime, path: Path | None = None) -> None:
        self._rt = rt
        self._path = path

    def __getattr__(self, name: str) -> Any:
        path = self._path
        return getattr(self._rt.generator(_branch.get() if path is None else path), name)


class DurableRuntime(Runtime):
    """A Runtime whose history is the stored one: see the module docstring."""

    def __init__(self, *, store: DurableStore, record: ExecutionRecord, lease: Lease | None,
                 history: Sequence[EventRecord | EventValues],
                 handlers_by_resource: Mapping[str, Any],
                 parent: DurableRuntime | None = None, **kwargs: Any) -> None:
        self._root_rng = random.Random()
        self._rngs: dict[Path, random.Random] = {}  # a branch's, made at its first draw
        super().__init__(resolve=self._resolve, **kwargs)
        #: the execution this one is a Distributed Map child of (None: a top-level one)
        self.parent = parent
        #: child executions running (or parked) under this one (durable/children.py)
        self.children: set[DurableRuntime] = set()
        self.store = store
        self.record = record
        self.lease = lease
        self.seed = record.seed
        #: the callbacks waited on (answers from the store) and their heartbeats: typed
        #: views of ``tokens`` and ``heartbeats``
        self.callbacks = self.tokens = _Tokens(self)
        self.beats = self.heartbeats = _Heartbeats(self)
        self._real = handlers_by_resource
        self._dispatchers: dict[str, _Dispatch] = {}
        self._by_key: dict[tuple[Path, int, str], list[_Stored]] = {}
        self._by_prev: dict[tuple[Path, int], list[_Stored]] = {}
        self._seen: dict[tuple[Path, int, str], int] = {}
        every = [_Stored(record) for record in history]
        dead = _redriven_away(every)
        for stored in every:
            if stored.id in dead:
                continue
            self._by_key.setdefault((stored.path, stored.previous, stored.type), []).append(stored)
            self._by_prev.setdefault((stored.path, stored.previous), []).append(stored)
        #: stored events not matched yet by ``_emit`` (0: the run is past the stored history)
        self._unmatched = sum(len(found) for found in self._by_key.values())
        self.committed = every[-1].id if every else 0
        self.next_id = self.committed + 1
        #: the events recorded since the last commit, as segment entries ``(type,
        #: microseconds, previous id, details, path)`` (``SqlStore.append_rows``'s; their
        #: microseconds taken once, when recorded: ``micros``)
        self.pending: list[Entry] = []
        self.consumed: list[str] = []  # keys of the timers that woke this run
        self.frozen = False
        self.store_error: BaseException | None = None
        #: true once the worker running this execution stops (advance's ``stopping``)
        self.stopping: Callable[[], bool] = lambda: False
        self.lost = False
        self.main: asyncio.Future[Any] | None = None
        #: a Distributed Map child not stored yet: its ExecutionStarted, stored with the
        #: child's first commit (a child of pure states costs one commit, not two)
        self.unsaved: EventRecord | None = None
        self.dispatches = 0
        #: the stored ExecutionStarted (its details decoded with the history), if any
        self._started_event = every[0] if every and every[0].type == "ExecutionStarted" else None
        #: ``rng``: the running branch's generator, chosen at each draw (_BranchRandom)
        self._any_branch = cast(random.Random, _BranchRandom(self))
        #: the clock as a DurableClock (its ``ticks`` count progress), None for another clock
        self._ticker = self.clock if isinstance(self.clock, DurableClock) else None
        #: new events read the system's time: whole microseconds (``time_ns``), so that the
        #: float an observer sees is the one the store gives back (no rounding per event)
        self._system_time = type(self._ticker.base if self._ticker is not None
                                 else self.clock) is SystemClock

    def stored_input(self) -> JSON:
        """The execution's input: its stored ExecutionStarted's, decoded with the history
        (so not decoded a second time), else the record's."""
        started = self._started_event
        if started is not None and "input" in started.details:
            return started.details["input"]
        return json.loads(self.record.input)

    # -- randomness: one generator per branch path ------------------------------------------
    @property
    def root(self) -> DurableRuntime:
        """The top-level execution (the one the worker holds a lease on)."""
        rt = self
        while rt.parent is not None:
            rt = rt.parent
        return rt

    def descendants(self) -> list[DurableRuntime]:
        """Every child execution under this one, children before their own children."""
        found: list[DurableRuntime] = []
        for child in list(self.children):
            found.append(child)
            found.extend(child.descendants())
        return found

    def map_run(self, state: Any, run_arn: str) -> Any:
        from statemachine.durable.children import DurableChildRuns

        return DurableChildRuns(self, state, run_arn)

    @property
    def rng(self) -> random.Random:
        return self._any_branch

    @rng.setter
    def rng(self, value: random.Random) -> None:
        self._root_rng = value

    def rng_for(self, path: Path) -> random.Random:
        if not path:
            return self._root_rng
        return cast(random.Random, _BranchRandom(self, path))

    def generator(self, path: Path) -> random.Random:
        """The generator of branch ``path``: ``Random(f"{seed}:{list(path)}")``, made at its
        first draw; the top level's is ``Random(seed)``."""
        if not path:
            return self._root_rng
        found = self._rngs.get(path)
        if found is None:
            found = self._rngs[path] = random.Random(f"{self.seed}:{list(path)}")
        return found

    # -- events -----------------------------------------------------------------------------
    def _emit(self, frame: Frame, type: str, details: Mapping[str, Any] | None = None,
              timestamp: float | None = None, previous: int | None = None,
              final: bool = False) -> Event:
        """``Runtime.emit`` against the stored history (see the module docstring): a stored
        event keeps its id and time, a new one is pending until the next commit. ``final``:
        ``emit_final``'s (no history limit). It is ``emit`` itself (one call per event)."""
        prev = frame.last_id if previous is None else previous
        path = frame.path
        if _branch.get() is not path:  # the running branch (its generator: _BranchRandom)
            _branch.set(path)
        ticker = self._ticker
        if ticker is not None:
            ticker.ticks += 1
        found = self._match(path, prev, type) if self._unmatched else None
        if found is not None:
            event = Event(found.id, prev, found.timestamp, type, details, path)
            _logical.set(found.timestamp)
        else:
            if self.frozen:  # parking or stopped: nothing more is recorded
                raise asyncio.CancelledError("durable execution suspended")
            event_id = self.next_id
            if not final and event_id > self._room:
                raise self._history_full()
            if timestamp is None:
                if self._system_time:  # whole microseconds: stored and seen alike
                    us = _time_ns() // 1000
                    timestamp = us / 1_000_000
                else:
                    timestamp = ticker.base.now() if ticker is not None else self.clock.now()
                    us = micros(timestamp)
            else:
                us = micros(timestamp)
            # Event(...) field by field, as Runtime.emit builds it (no __init__ call)
            event = _new_event(Event)
            event.id = event_id
            event.previous_id = prev
            event.timestamp = timestamp
            event.type = type
            event.details = details
            event.path = path
            self.next_id = event_id + 1
            self.pending.append((type, us, prev, details, path))
            if _logical.get() is not None:
                _logical.set(None)
        self.events.append(event)
        frame.last_id = event.id
        if type in _TASK_STARTED:
            _started.set((path, event.id, prev, found is not None))
        observer = self.observer
        if observer is not None:  # observe.py: a replayed event was observed before
            if found is not None:
                observer.replayed(event)
            else:
                observer.event(event)
        elif self.on_event is not None:
            self.on_event(event)
        return event

    emit = _emit

    def emit_final(self, frame: Frame, type: str, details: Mapping[str, Any] | None = None,
                   timestamp: float | None = None, previous: int | None = None) -> Event:
        return self._emit(frame, type, details, timestamp, previous, final=True)

    def _match(self, path: Path, prev: int, type: str) -> _Stored | None:
        """The stored event this emit replays, by (path, previous id, type, occurrence), or
        None (a new event)."""
        key = (path, prev, type)
        count = self._seen.get(key, 0)
        self._seen[key] = count + 1
        stored = self._by_key.get(key)
        if stored is None or count >= len(stored):
            return None
        self._unmatched -= 1
        return stored[count]

    def _clock_ticks(self) -> None:
        if self._ticker is not None:
            self._ticker.ticks += 1

    def outcome_of(self, path: Path, started: int) -> _Stored | None:
        """The stored Submitted/Succeeded/Failed/TimedOut after a TaskStarted (the last
        one of that chain), or None."""
        current, found = started, None
        while True:
            nexts = self._by_prev.get((path, current))
            if not nexts:
                return found
            step = nexts[0]
            suffix = step.type.removeprefix("Task").removeprefix("LambdaFunction").removeprefix("Activity")
            if suffix not in ("Submitted", *_OUTCOMES):
                return found
            found = step
            if suffix != "Submitted":
                return found
            current = step.id

    # -- committing ------------------------------------------------------------------------
    def flush(self, *, tokens: Sequence[TaskTokenRecord] = (), timers: Sequence[TimerRecord] = (),
              update: ExecutionUpdate | None = None, cancel_all: bool = False,
              release: bool = False) -> None:
        """Append the pending events (and tokens, timers, update) in one transaction."""
        if not (self.pending or tokens or timers or update or release or cancel_all
                or self.consumed):
            return
        store = self.store
        if self.unsaved is not None:  # a new child: create its row with everything so far
            record = dataclasses.replace(self.record, **(update.fields() if update else {}))
            first = self.unsaved
            if isinstance(store, SqlStore):
                store.create_execution_rows(record, [
                    (first.type, to_us(first.timestamp), first.body), *self.pending],
                    ready=False)
            else:
                store.create_execution(record, events=[first, *(
                    row_record(first.id + 1 + i, row) for i, row in enumerate(self.pending))],
                    ready=False)
            self.committed = first.id + len(self.pending)
            self.unsaved = None
            self.pending.clear()
            return
        cancel: Sequence[str] | str = "all" if cancel_all else tuple(self.consumed)
        if isinstance(store, SqlStore):  # rows straight to SQL (not a wrapper's append)
            self.committed = store.append_rows(
                self.record.arn, self.pending,
                after=self.committed, lease=self.lease, update=update, tokens=tokens,
                timers=timers, cancel_timers=cancel, release=release)
        else:
            self.committed = store.append(
                self.record.arn, [row_record(self.committed + 1 + i, row)
                                  for i, row in enumerate(self.pending)],
                after=self.committed, lease=self.lease, update=update, tokens=tokens,
                timers=timers, cancel_timers=cancel, release=release)
        self.pending.clear()
        self.consumed = []

    def release(self) -> None:
        """Drop what this run recorded and matched (its events, the stored history's
        indexes), here and in its child executions, once ``advance`` is done with it. The
        runtime sits in reference cycles (its token and heartbeat views, its branch random,
        its resolver point back at it), so without this a finished execution's whole history
        -- 8,000 events for a 2,000-item Map -- waits for the collector's next full pass, and
        makes that pass walk it (~12 ms on bench workload 4)."""
        for rt in (self, *self.descendants()):
            rt.events.clear()
            rt.pending.clear()
            rt._by_key.clear()
            rt._by_prev.clear()
            rt._seen.clear()
            rt._started_event = None

    def suspend(self, error: BaseException | None = None, lost: bool = False) -> None:
        """Stop advancing here (a store failure, a lost lease, a stop): cancel the run
        without recording anything. A child execution suspends its whole tree."""
        if self.parent is not None:
            self.root.suspend(error, lost)
            return
        if error is not None and self.store_error is None:
            self.store_error = error
        self.lost = self.lost or lost
        self.freeze()
        if self.main is not None and not self.main.done():
            self.main.cancel()

    def freeze(self) -> None:
        """Record nothing more, here and in every child execution (parking, stopping)."""
        for rt in (self, *self.descendants()):
            rt.frozen = rt.suspended = True

    # -- tasks -----------------------------------------------------------------------------
    def task_token(self) -> str:
        """As ``Runtime.task_token``, told apart per redrive: a state that runs again after
        RedriveExecution draws the same random bits as its first run, whose token is
        closed (answered, timed out or cancelled by the stop), so the redrive count is
        mixed in."""
        token = super().task_token()
        redrives = self.record.redrive_count
        if not redrives:
            return token
        import uuid

        mixed = random.Random(f"{token}:{redrives}").getrandbits(128)
        return str(uuid.UUID(int=mixed, version=4))

    def _resolve(self, resource: str) -> Any:
        found = self._dispatchers.get(resource)
        if found is None:
            found = self._dispatchers[resource] = _Dispatch(self, self._real[resource])
        return found


class _Dispatch:
    """The handler the interpreter calls: replays a stored outcome, or commits and then
    calls the real handler (sync ones in the execution's threads)."""

    #: a coroutine handler to the interpreter (interpreter/task.py ``_blocking`` reads this
    #: first, without inspecting the class each call)
    sync_body = None

    def __init__(self, rt: DurableRuntime, handler: Any) -> None:
        self.rt = rt
        self.handler = handler
        self.activity_queue = getattr(handler, "activity_queue", False)  # see interpreter.task
        #: the blocking callable to run on a worker thread (a Python task function's body,
        #: without its async wrapper), None for a coroutine handler awaited on the loop
        self.blocking = _blocking(handler)
        self.name = _thread_name(handler)

    async def __call__(self, request: Any) -> JSON:
        rt = self.rt
        info = _started.get()
        redelivered = False
        if info is not None and info[3]:
            path, started, _, _ = info
            found = rt.outcome_of(path, started)
            if found is not None:
                suffix = found.type.removeprefix("Task").removeprefix("LambdaFunction").removeprefix("Activity")
                if suffix in ("Succeeded", "Submitted"):
                    return found.details.get("output")
                raise StatesError(found.details.get("error"), found.details.get("cause"),
                                  recorded=True)
            redelivered = True
        if rt.root.stopping() and isinstance(rt.clock, DurableClock):
            # the worker stops: start nothing new here; the execution parks once the tasks
            # running now have ended (drive), and the next worker dispatches this one
            with rt.clock.not_busy():
                await asyncio.get_running_loop().create_future()  # cancelled when it parks
        tokens: list[TaskTokenRecord] = []
        token = getattr(request, "task_token", None)
        if token is not None and info is not None:
            try:
                exists = redelivered and rt.store.task_token(token) is not None
            except StoreError as error:
                rt.suspend(error)
                raise asyncio.CancelledError("store failure") from None
            if not exists:
                tokens.append(_token_record(rt, request, info))
        try:
            root = rt.root
            if root is not rt:  # a Distributed Map child: its events, then the parent's
                rt.flush()
            root.flush(tokens=tokens)  # commit before the side effect
        except (EventConflict, LeaseLost):
            rt.suspend(lost=True)
            raise asyncio.CancelledError("lease lost") from None
        except StoreError as error:
            rt.suspend(error)
            raise asyncio.CancelledError("store failure") from None
        rt.dispatches += 1
        if redelivered:
            with contextlib.suppress(TypeError):  # a request type without the field
                request = dataclasses.replace(request, redelivered=True)
        blocking = self.blocking
        if blocking is None:
            return await self.handler(request)
        # a blocking body: as the interpreter calls one (interpreter/task.py ``_invoke``), on
        # the execution's worker threads -- and, when the worker's loop is an InlineLoop
        # (``sm worker``), with the loop lent to that thread: no thread switch per call
        loop: Any = asyncio.get_running_loop()
        if type(loop) is _inline_loop():
            result = await loop.call_inline(rt.threads, blocking, request, self.name)
        else:
            result = await rt.threads.call(blocking, request, name=self.name)
        if inspect.isawaitable(result):
            result = await result
        return result


def _token_record(rt: DurableRuntime, request: Any, info: tuple[Path, int, int, bool]
                  ) -> TaskTokenRecord:
    started_at = _logical.get()
    start = started_at if started_at is not None else rt.clock.now()
    timeout = request.timeout_seconds
    heartbeat = request.heartbeat_seconds
    return TaskTokenRecord(  # the top-level execution's: an answer wakes its worker
        token=request.task_token, execution_arn=rt.root.record.arn, state_name=request.state_name,
        event_id=info[2], created=datetime.fromtimestamp(start, UTC),
        timeout_at=datetime.fromtimestamp(start + timeout, UTC) if timeout else None,
        heartbeat_seconds=int(heartbeat) if heartbeat else None,
        heartbeat_at=datetime.fromtimestamp(start + heartbeat, UTC) if heartbeat else None)


class _Tokens(dict[str, "asyncio.Future[JSON]"]):
    """``Runtime.tokens`` that settles a callback answered while the execution was parked."""

    def __init__(self, rt: DurableRuntime) -> None:
        super().__init__()
        self.rt = rt

    def __setitem__(self, token: str, future: asyncio.Future[JSON]) -> None:
        super().__setitem__(token, future)
        self.rt._clock_ticks()
        try:
            found = self.rt.store.task_token(token)
        except StoreError as error:
            self.rt.suspend(error)
            return
        if found is None or future.done():
            return
        _settle(future, found)

    def look(self) -> None:
        """While the execution runs here (not parked): settle the callbacks answered, and
        restore the heartbeats sent, by any process since the last look."""
        for token, future in list(self.items()):
            if future.done():
                continue
            try:
                found = self.rt.store.task_token(token)
            except StoreError as error:
                self.rt.suspend(error)
                return
            if found is None:
                continue
            if found.status == "WAITING":
                self.rt.beats.restore(token, found)
            else:
                _settle(future, found)


def _settle(future: asyncio.Future[JSON], found: TaskTokenRecord) -> None:
    """Give a callback's future the answer stored for its token (if answered)."""
    if found.status == "SUCCEEDED":
        future.set_result(json.loads(found.output) if found.output is not None else None)
    elif found.status == "FAILED":
        future.set_exception(StatesError(found.error, found.cause, recorded=True))


class _Heartbeats(dict[str, Callable[[], None]]):
    """``Runtime.heartbeats`` that restores the last heartbeat stored for a token."""

    def __init__(self, rt: DurableRuntime) -> None:
        super().__init__()
        self.rt = rt
        self._restored: dict[str, datetime] = {}  # the stored heartbeat last restored

    def __setitem__(self, token: str, beat: Callable[[], None]) -> None:
        super().__setitem__(token, beat)
        self._restored.pop(token, None)
        try:
            found = self.rt.store.task_token(token)
        except StoreError:
            return
        if found is not None:
            self.restore(token, found)

    def pop(self, token: str, default: Any = None) -> Any:
        self._restored.pop(token, None)
        return super().pop(token, default)

    def restore(self, token: str, found: TaskTokenRecord) -> None:
        """Beat ``token``'s task at the time of its last stored heartbeat, once per stored
        heartbeat (a SendTaskHeartbeat from any process)."""
        beat = self.get(token)
        if beat is None or found.heartbeat_at is None or found.heartbeat_seconds is None:
            return
        if self._restored.get(token) == found.heartbeat_at:
            return
        self._restored[token] = found.heartbeat_at
        last = found.heartbeat_at.timestamp() - found.heartbeat_seconds
        if last > found.created.timestamp():
            reset = _logical.set(last)
            try:
                beat()
            finally:
                _logical.reset(reset)


@dataclasses.dataclass(frozen=True, slots=True)
class Advance:
    """What ``advance`` did: ``status`` of the execution afterwards ("RUNNING" when parked),
    ``parked_until`` (its wake-up timer, None: waits for a callback), ``lost`` (another
    writer took over: a stop, or a worker that claimed the lapsed lease), ``dispatches``
    (task handler calls made)."""

    status: str
    parked_until: datetime | None = None
    lost: bool = False
    dispatches: int = 0


async def _quiet(clock: DurableClock, rounds: int = 20) -> bool:
    """True when the execution made no progress (no event, no sleep begun or ended, no
    handler started or finished) while the loop went round ``rounds`` times and no handler
    is busy: then every branch is blocked on the clock or on a callback. Per execution, so
    hundreds of executions on one loop do not keep each other from parking."""
    start = clock.ticks
    for _ in range(rounds):
        await asyncio.sleep(0)
        if clock.ticks != start or clock.busy_count:
            return False
    return True


#: seconds between looks in the store for answers to (and heartbeats of) the callbacks an
#: execution waits on while a worker holds it in memory (parked ones are woken by a timer)
LOOK_EVERY: Final = 0.25


async def drive(rt: DurableRuntime, main: asyncio.Future[Any], clock: DurableClock, *,
                park_after: float, renew: Callable[[], None], renew_every: float,
                stopping: Callable[[], bool]) -> float | None:
    """Wait for ``main`` to finish; return None then, else the earliest sleeper's due time
    (``inf`` when none) once the run is idle and should park."""
    next_renew = time.monotonic() + renew_every
    next_look = time.monotonic() + LOOK_EVERY
    loop = asyncio.get_running_loop()
    changed = clock.changed
    main.add_done_callback(lambda _: changed.set())
    while not main.done():
        waiter = changed.future(loop)
        due = min(clock.sleepers.values(), default=None)
        timeout = renew_every if due is None else max(0.0, min(renew_every, due - clock.base.now()) + 0.001)
        waiting = [each.callbacks for each in (rt, *rt.descendants()) if each.callbacks]
        if waiting:  # callbacks held here: look for answers from other processes
            timeout = min(timeout, max(0.0, next_look - time.monotonic()))
        timer = loop.call_later(timeout, changed.set)
        try:
            await waiter
        finally:
            timer.cancel()
        changed.clear()
        if main.done():
            break
        if waiting and time.monotonic() >= next_look:
            for tokens in waiting:
                tokens.look()
            next_look = time.monotonic() + LOOK_EVERY
            await asyncio.sleep(0)  # let a settled callback run before deciding to park
        if time.monotonic() >= next_renew:
            renew()
            next_renew = time.monotonic() + renew_every
        if rt.frozen:
            continue
        if clock.busy_count or not await _quiet(clock) or main.done() or rt.frozen:
            continue
        due = min(clock.sleepers.values(), default=None)
        if stopping():  # the worker stops: any worker resumes the execution at once
            return clock.base.now()
        if due is not None and due - clock.base.now() <= park_after:
            continue
        # idle: every branch waits on the clock far away or on a callback
        return due if due is not None else float("inf")
    return None


def _observer(record: ExecutionRecord, machine: Any, observability: Sequence[Any] | None,
              history: Sequence[EventRecord | EventValues] = ()) -> Any:
    """The observer of one advance of a durable execution (None when nothing observes)."""
    from statemachine.observe import ExecutionInfo, observer_for, process_observability

    if observability is None:
        observability = [getattr(machine, "logging", None), getattr(machine, "telemetry", None),
                         *process_observability()]
    if not any(config is not None for config in observability):
        return None
    trace_context = None
    first = history[0] if history else None
    if isinstance(first, EventRecord):
        first = record_values(first.id, first.type, 0, first.body) if TRACE_KEY in first.body else None
    if first is not None and first[1] == "ExecutionStarted" and first[6] is not None:
        found = first[6].get(TRACE_KEY)
        trace_context = dict(found) if isinstance(found, dict) else None
    info = ExecutionInfo(record.arn, record.name, machine.arn, machine.name, machine.type,
                         record.redrive_count, durable=True, trace_context=trace_context)
    return observer_for(observability, info)


def run_options(record: ExecutionRecord, machine: Any, input: JSON = MISSING) -> dict[str, Any]:
    """The contexts ``$$.Execution`` and ``$$.StateMachine`` show for a stored execution;
    ``input``: the value ``$$.Execution.Input`` holds (default: decoded from the record)."""
    from statemachine.api import ROLE_ARN

    if input is MISSING:
        input = json.loads(record.input)
    ctx: dict[str, JSON] = {"Id": record.arn, "Input": input,
                            "StartTime": format_timestamp(record.start_date.timestamp()),
                            "Name": record.name, "RoleArn": ROLE_ARN}
    if machine.type != "EXPRESS":
        ctx["RedriveCount"] = record.redrive_count
    return {"execution_ctx": ctx, "machine_ctx": {"Id": machine.arn, "Name": machine.name}}


async def advance(store: DurableStore, record: ExecutionRecord, machine: Any, lease: Lease, *,
                  due_keys: Sequence[str] = (), lease_seconds: float = 30.0,
                  park_after: float = 2.0, base_clock: Clock | None = None,
                  stopping: Callable[[], bool] = lambda: False,
                  history: Sequence[EventRecord | EventValues] | None = None,
                  history_limit: int | bool | None = True,
                  observability: Sequence[Any] | None = None, executor: Any = None) -> Advance:
    """Advance one execution under ``lease`` until it ends or parks; see the module
    docstring. ``machine`` is the loaded ``StateMachine``; ``due_keys`` the timers that
    woke it (deleted with the first commit); ``history_limit``: True for AWS's (25,000
    events, STANDARD), None for none, or a number. Raises StoreError when the store fails (nothing
    is lost: the execution resumes from its last commit)."""
    from statemachine.api import EXPRESS_MAX_DURATION, ROLE_ARN
    from statemachine.interpreter import execute
    from statemachine.interpreter.execution import DEFAULT_HISTORY_LIMIT, STANDARD_MAX_DURATION

    if history is None:
        history = load_history(store, record.arn)
    clock = DurableClock(base_clock)
    express = machine.type == "EXPRESS"
    options = run_options(record, machine, None)  # $$.Execution.Input: set below
    rt = DurableRuntime(
        store=store, record=record, lease=lease, history=history,
        handlers_by_resource=machine._handlers, clock=clock,
        rng=random.Random(record.seed), on_event=None, data_limit=256 * 1024, arn=record.arn,
        history_limit=(None if express else DEFAULT_HISTORY_LIMIT) if history_limit is True
        else history_limit or None,
        max_duration=EXPRESS_MAX_DURATION if express else STANDARD_MAX_DURATION,
        hold_callbacks=False, observer=_observer(record, machine, observability, history),
        **options)
    try:
        # the input decoded once: the run's value and $$.Execution.Input (one object, as run())
        value = options["execution_ctx"]["Input"] = rt.stored_input()
        rt.consumed = list(due_keys)
        rt.stopping = stopping
        if record.redrive_date is not None:  # AWS: a redrive resets the execution timeout
            rt.timeout_origin = record.redrive_date.timestamp()
        if executor is not None:  # Map iterations / Parallel branches on a cluster (executors.py)
            rt.remote = executor
            rt.remote_handlers = machine.remote_payload()
        started = record.start_date.timestamp()
        clock_token = current_clock.set(clock)
        interrupt_token = current_interrupt.set(rt.interrupt)
        try:
            main = asyncio.ensure_future(execute(rt, machine.compiled, value, ROLE_ARN, started))
        finally:
            current_interrupt.reset(interrupt_token)
            current_clock.reset(clock_token)
        rt.main = main
        holder = [lease]

        def renew() -> None:
            try:
                holder[0] = rt.lease = store.renew_lease(holder[0], now=_now(clock.base),
                                                         lease_seconds=lease_seconds)
                current = store.execution(record.arn)
            except LeaseLost:
                rt.suspend(lost=True)
                return
            except StoreError as error:
                rt.suspend(error)
                return
            if current is None or current.status != "RUNNING" or current.last_event_id != rt.committed:
                rt.suspend(lost=True)  # stopped (or redriven) by another process

        try:
            due = await drive(rt, main, clock, park_after=park_after, renew=renew,
                              renew_every=max(0.05, lease_seconds / 3), stopping=stopping)
        except BaseException:
            rt.suspend()
            await asyncio.gather(main, return_exceptions=True)
            raise
        if due is not None:  # park
            rt.freeze()
            main.cancel()
        results = await asyncio.gather(main, return_exceptions=True)
        if rt.store_error is not None:  # keep the lease: when it lapses, a worker claims the
            raise rt.store_error          # execution again (the store may not hold a timer for it)
        if rt.lost:
            _release_quietly(store, holder[0])
            return Advance("RUNNING", lost=True, dispatches=rt.dispatches)
        outcome = results[0]
        if due is not None:
            timers = []
            wake = None
            if due != float("inf"):
                wake = datetime.fromtimestamp(due, UTC)
                timers.append(TimerRecord(record.arn, "wake", "wait", wake))
            try:
                for child in rt.descendants():  # Distributed Map children: their progress too
                    child.flush()
                rt.flush(timers=timers, release=True)
            except (EventConflict, LeaseLost):
                return Advance("RUNNING", lost=True, dispatches=rt.dispatches)
            return Advance("RUNNING", parked_until=wake, dispatches=rt.dispatches)
        if isinstance(outcome, BaseException):
            _release_quietly(store, holder[0])
            raise outcome
        status = outcome.status
        last = rt.events[-1].timestamp if rt.events else clock.base.now()
        update = ExecutionUpdate(
            status=status, stop_date=datetime.fromtimestamp(last, UTC),
            output=compact(outcome.output) if status == "SUCCEEDED" else None,
            error=outcome.error, cause=outcome.cause,
            redrive_status="NOT_REDRIVABLE" if status == "SUCCEEDED" or express else "REDRIVABLE")
        try:
            rt.flush(update=update, cancel_all=True, release=True)
        except (EventConflict, LeaseLost):
            return Advance("RUNNING", lost=True, dispatches=rt.dispatches)
        if may_wait_for_tokens(machine):  # else no token of it can exist: no lookup
            cancel_waiting_tokens(store, record.arn, _now(clock.base))
        return Advance(status, dispatches=rt.dispatches)
    finally:  # its events die now, by reference count, not at the next full collection
        rt.release()


_TOKEN_USERS: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def may_wait_for_tokens(machine: Any) -> bool:
    """Whether an execution of ``machine`` (a loaded ``StateMachine``) can hold task tokens:
    it has a Task -- at any depth, in Parallel branches and Map processors (inline or
    distributed: children's tokens are the parent's rows) -- that waits for one
    (``.waitForTaskToken``) or may (an activity, when its handler queues the work for an
    activity worker). Cached per machine."""
    try:
        found = _TOKEN_USERS.get(machine)
    except TypeError:  # a machine object that cannot be weakly referenced: not cached
        return _has_token_task(machine.compiled)
    if found is None:
        found = _TOKEN_USERS[machine] = _has_token_task(machine.compiled)
    return found


def _has_token_task(compiled: CompiledMachine) -> bool:
    for state in compiled.states.values():
        if isinstance(state, TaskState):
            found = state.integration == "wait-for-task-token" or ":activity:" in state.resource
        elif isinstance(state, ParallelState):
            found = any(_has_token_task(branch) for branch in state.branches)
        elif isinstance(state, MapState):
            found = state.processor is not None and _has_token_task(state.processor)
        else:
            found = False
        if found:
            return True
    return False


def cancel_waiting_tokens(store: DurableStore, execution_arn: str,
                          now: datetime | None = None) -> None:
    """Close the tokens an ended execution still had WAITING (answers then fail): TIMED_OUT
    when a deadline of the token has passed (AWS answers those with TaskTimedOut), else
    CANCELLED (TaskDoesNotExist)."""
    now = now or _now()
    for token in store.task_tokens(execution_arn, status="WAITING"):
        late = any(deadline is not None and deadline <= now
                   for deadline in (token.timeout_at, token.heartbeat_at))
        with contextlib.suppress(StoreError):
            store.close_task_token(token.token, "TIMED_OUT" if late else "CANCELLED", now=now,
                                   wake=False)


def _release_quietly(store: DurableStore, lease: Lease) -> None:
    with contextlib.suppress(StoreError):
        store.release_lease(lease)


def _now(clock: Clock | None = None) -> datetime:
    return datetime.fromtimestamp(clock.now(), UTC) if clock is not None else datetime.now(UTC)

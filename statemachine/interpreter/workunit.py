"""Interpreter stage, the remote side: run Map iterations, Parallel branches and Distributed Map
child executions that a parent execution handed to another process (interpreter/remote.py).

In: a ``Job`` (plain data: the nested compiled machine, variables, context object, limits, the
Task handlers pickled by reference) and ``Unit`` tuples ``(index, value, seed)``. Out: one
``UnitResult`` per unit -- the output or the error, and the events the unit recorded, numbered
locally (see below), for the parent to splice into its history.

Local numbering: the unit's first event links to ``-1`` (the parent's ParallelStateStarted /
MapStateStarted, whose id the parent knows); every other previousEventId and every path entry
past the parent's own prefix is a local id the parent renumbers. Each event also carries its
*order key*: the seconds the unit's virtual clock had jumped when it was recorded (under a
virtual clock), or its timestamp (under real time); the parent merges units by
``(key, index, sequence)``, which is the order the in-process pool records them in.

This module is what a Dask worker imports: it needs only the interpreter, not dask.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import os
import pickle
import random
import sys
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from statemachine.clock import SystemClock, VirtualClock, current_clock
from statemachine.errors import StatesError
from statemachine.history import Event
from statemachine.interpreter.execution import Frame, Runtime, run_machine
from statemachine.model import CompiledMachine, MapState
from statemachine.resources.threads import HandlerThreads
from statemachine.values import JSON

__all__ = ["Job", "UnitResult", "run_chunk", "run_packed"]

#: Local event ids start here (no history holds 10**12 events): the parent renumbers every id
#: at or above it, including in the error texts that quote one ("entered at the event id #N").
LOCAL_IDS = 10**12
#: Event types whose details may quote a local id (an error's cause)
QUOTING = ("Failed", "TimedOut", "Aborted")

#: ``(index, value, seed)``: which branch / item, its input, the seed of its random draws
Unit = tuple[int, JSON, int]
#: ``(id, previous_id, timestamp, type, details, path, key)`` -- see the module docstring
EventRecord = tuple[int, int, float, str, Any, tuple[tuple[int, int], ...], float]
#: ``(name, cause, recorded, source_event, final_event)`` of a StatesError
ErrorRecord = tuple[str | None, str | None, bool, int, str | None]


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    """What every unit of one Map / Parallel attempt shares (pickled once, cached per worker).

    ``kind``: "branch" (Parallel), "iteration" (inline Map) or "child" (Distributed Map child
    execution: its own history from event 2 -- the parent records its ExecutionStarted --
    to its ExecutionSucceeded / ExecutionFailed, returned only when ``events``). ``machines``: the branches, or
    the Map's processor; ``state`` the Map state (iterations record its name). ``prefix``: the
    parent frame's path; ``start_id`` the id of the parent's Started event. ``handlers``: the
    Task handlers the units may call, pickled by reference (``remote.pack_handlers``), with
    ``sys_path`` the folders their modules import from. ``now``: the parent's clock time at
    dispatch (a virtual clock on the worker starts there when ``virtual``).
    ``handler_threads``: see ``handler_pool``."""

    kind: str
    machines: tuple[CompiledMachine, ...]
    state: MapState | None
    variables: Mapping[str, JSON]
    prefix: tuple[tuple[int, int], ...]
    start_id: int
    execution_ctx: Mapping[str, JSON]
    machine_ctx: Mapping[str, JSON]
    data_limit: int | None
    arn: str
    max_duration: float | None
    started: float
    virtual: bool
    now: float
    handlers: bytes
    sys_path: tuple[str, ...] = ()
    events: bool = True
    #: blocking Task handlers a worker process runs at once (None: its default pool)
    handler_threads: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class UnitResult:
    """One unit's outcome: ``output`` when ``error`` is None; events as ``EventRecord``s;
    ``start``/``stop`` its clock times; ``jumped`` how far its virtual clock jumped."""

    index: int
    output: JSON
    error: ErrorRecord | None
    events: list[EventRecord]
    start: float
    stop: float
    jumped: float
    #: whether an error text may quote a local event id (the parent then rewrites them)
    quotes: bool = False

    def failure(self) -> StatesError:
        """The error as the StatesError the in-process run would raise (local ids)."""
        assert self.error is not None
        name, cause, recorded, source, final = self.error
        return StatesError(name, cause, recorded=recorded, source_event=source, final_event=final)


# Blocking handlers on a worker: one pool per process and size, shared by the chunks it runs.
_POOLS: dict[int, HandlerThreads] = {}
_POOLS_LOCK = threading.Lock()


def handler_pool(job: Job) -> HandlerThreads | None:
    """The threads a chunk's blocking Task handlers (``python:`` functions, sync handlers)
    run on in this process: ``job.handler_threads`` of them, shared by every chunk of that
    size the process runs; None (the process-wide default pool, ``SM_HANDLER_THREADS``) when
    no size is given. ``DaskExecutor(handler_threads=1)`` runs CPU-bound handlers back to
    back in each worker process (as many as its Dask threads: give ``dask worker --nthreads``
    to match); the units still interleave as in process, so histories are unchanged. A
    handler's TimeoutSeconds counts from its start, not its time queued (resources/threads.py).
    Measured on a loaded 2-core box it did not beat the default pool (bench.dask_map
    ``--handler-threads``), so it is an option, not the default."""
    size = job.handler_threads
    if size is None:
        return None
    with _POOLS_LOCK:
        pool = _POOLS.get(size)
        if pool is None:
            pool = _POOLS[size] = HandlerThreads(size, name="sm-worker-task")
        return pool


# A worker process keeps the last jobs it unpickled: each chunk of a Map names its job by a
# digest, so a Map of 10,000 items unpickles its machine once per worker, not per chunk. With
# each job: the task modules it imported from its ``sys_path`` folders (checked per chunk).
_JOBS: OrderedDict[str, tuple[Job, Mapping[str, Any], tuple[str, ...]]] = OrderedDict()
_JOBS_KEPT = 16
_JOBS_LOCK = threading.Lock()
#: Task module name -> its file's (mtime_ns, size) when this worker imported or reloaded it
_SEEN: dict[str, tuple[int, int] | None] = {}


def run_chunk(key: str, blob: bytes, units: list[Unit], offset: float = 0.0,
              limit: int = 0) -> list[UnitResult]:
    """Run ``units`` of the job ``blob`` (pickled ``Job``, named ``key``) concurrently, as the
    in-process pool would, on one clock (their blocking handlers on ``handler_pool``); the
    function a Dask worker calls. ``offset``: under a virtual clock, the logical time (seconds
    after the parent's dispatch) the chunk starts at. ``limit``: at most that many units
    running at once, in index order (the chunk's share of MaxConcurrency); 0: all at once."""
    job, handlers = _job(key, blob)
    return asyncio.run(_run(job, handlers, units, offset, limit))


def run_packed(key: str, blob: bytes, units: bytes, offset: float = 0.0,
               limit: int = 0) -> list[UnitResult]:
    """``run_chunk`` with the units pickled: an engine that walks task arguments (Dask looks
    for its own futures inside them) then sees one bytes object, not thousands of items."""
    return run_chunk(key, blob, pickle.loads(units), offset, limit)


def _job(key: str, blob: bytes) -> tuple[Job, Mapping[str, Any]]:
    with _JOBS_LOCK:
        found = _JOBS.get(key)
        if found is not None and _reload_edited(found[2]):
            _JOBS.clear()  # every kept job may hold a handler of the old module
            found = None
        if found is None:
            job: Job = pickle.loads(blob)
            for folder in reversed(job.sys_path):  # where python: handlers' modules import from
                if folder not in sys.path:
                    sys.path.insert(0, folder)
            if _reload_edited(_modules_under(job.sys_path)):  # imported for an earlier job
                _JOBS.clear()
            handlers = pickle.loads(job.handlers)
            modules = _modules_under(job.sys_path)
            _reload_edited(modules)  # notes the files of the modules this job imported
            found = _JOBS[key] = (job, handlers, modules)
            while len(_JOBS) > _JOBS_KEPT:
                _JOBS.popitem(last=False)
        _JOBS.move_to_end(key)
        return found[0], found[1]


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


_ENV_PREFIXES = tuple(os.path.join(p, "") for p in {sys.prefix, sys.base_prefix, sys.exec_prefix})


def _modules_under(folders: tuple[str, ...]) -> tuple[str, ...]:
    """The loaded modules whose file lies in ``folders`` (the task modules of a job)."""
    if not folders:
        return ()
    roots = tuple(os.path.join(folder, "") for folder in folders)
    names = []
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None)
        if not isinstance(where, str) or where.startswith(_ENV_PREFIXES):
            continue  # the interpreter's and the environment's own (most of sys.modules)
        if where.startswith(roots) or os.path.realpath(where).startswith(roots):
            names.append(name)
    return tuple(sorted(names))


def _reload_edited(names: tuple[str, ...]) -> bool:
    """Reload the modules of ``names`` whose file changed since this worker imported them: a
    long-lived worker runs a task module as it is on disk now, as a new ``sm run`` would."""
    edited = []
    for name in names:
        module = sys.modules.get(name)
        where = getattr(module, "__file__", None)
        if module is None or not isinstance(where, str):
            continue
        stamp = _stamp(where)
        if _SEEN.setdefault(name, stamp) != stamp:
            _SEEN[name] = stamp
            edited.append(module)
    for module in edited:
        importlib.reload(module)
    return bool(edited)


async def _run(job: Job, handlers: Mapping[str, Any], units: list[Unit],
               offset: float, limit: int = 0) -> list[UnitResult]:
    clock: VirtualClock | SystemClock = SystemClock()
    if job.virtual:
        clock = VirtualClock(job.now + offset)
        clock.jumped = offset
    token = current_clock.set(clock)
    pool = handler_pool(job)
    try:
        if not limit or limit >= len(units):
            return list(await asyncio.gather(*(_unit(job, handlers, clock, pool, u) for u in units)))
        # ``limit`` runners pull the units in order, as the in-process Map pool's workers do
        queue = iter(units)
        results: list[UnitResult] = []

        async def runner() -> None:
            for unit in queue:
                results.append(await _unit(job, handlers, clock, pool, unit))

        await asyncio.gather(*(runner() for _ in range(limit)))
        return sorted(results, key=lambda r: r.index)
    finally:
        current_clock.reset(token)


async def _unit(job: Job, handlers: Mapping[str, Any], clock: VirtualClock | SystemClock,
                pool: HandlerThreads | None, unit: Unit) -> UnitResult:
    index, value, seed = unit
    events: list[EventRecord] = []

    def record(event: Event) -> None:
        key = clock.jumped if isinstance(clock, VirtualClock) else event.timestamp
        events.append((event.id, event.previous_id, event.timestamp, event.type, event.details,
                       event.path, key))

    rt = Runtime(clock=clock, rng=random.Random(seed), resolve=handlers.__getitem__,
                 execution_ctx=job.execution_ctx, machine_ctx=job.machine_ctx,
                 on_event=record if job.events else None,
                 data_limit=job.data_limit, arn=job.arn, max_duration=job.max_duration,
                 hold_callbacks=False, threads=pool)
    rt.started = job.started
    # a child execution has its own history: ExecutionStarted is its event 1 (the parent's
    # store records it), its states' events follow from 2 at the top level, as in process
    rt.first_id = 2 if job.kind == "child" else LOCAL_IDS
    top = Frame(dict(job.variables), 1, False, ())
    start = clock.now()
    try:
        output = await _body(job, rt, index, value, top)
        error: ErrorRecord | None = None
        if job.kind == "child":
            rt.emit_final(top, "ExecutionSucceeded", {"output": output})
    except StatesError as exc:
        output, error = None, (exc.name, exc.cause, exc.recorded, exc.source_event, exc.final_event)
        if job.kind == "child":
            details = {k: v for k, v in (("error", exc.name), ("cause", exc.cause)) if v}
            rt.emit_final(top, "ExecutionFailed", details or None)
    finally:
        rt.close()
    jumped = clock.jumped if isinstance(clock, VirtualClock) else 0.0  # with the chunk's offset
    quotes = error is not None or any(e[3].endswith(QUOTING) for e in events)
    return UnitResult(index, output, error, events, start, clock.now(), jumped, quotes)


async def _body(job: Job, rt: Runtime, index: int, value: JSON, top: Frame) -> JSON:
    path = (*job.prefix, (job.start_id, index))
    variables = dict(job.variables)
    if job.kind == "branch":
        return await run_machine(rt, job.machines[index], Frame(variables, -1, True, path), value)
    if job.kind == "iteration":
        from statemachine.interpreter.parallel import _iteration

        assert job.state is not None
        return await _iteration(rt, job.state, Frame(variables, -1), -1, path, value)
    return await run_machine(rt, job.machines[0], top, value)

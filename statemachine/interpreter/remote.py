"""Interpreter stage: where Map iterations and Parallel branches run -- the executor interface.

The default executor is the process itself (``Runtime.remote`` is None and parallel.py runs
branches and iterations as coroutines). A *remote* executor (``RemoteExecutor``; the Dask one is
statemachine/executors.py) runs them in other processes: parallel.py hands this module a
``workunit.Job`` (plain data: the nested machine, variables, context object, limits, Task
handlers pickled by reference) and the units (branch / item index, input, a seed drawn from the
execution's random source), in chunks; each chunk comes back as ``UnitResult``s carrying the
unit's output or error AND the events it recorded. The parent then splices those events into
its history in the order the in-process pool records them -- merged by ``(time, index,
sequence)``, where time is how far the unit's virtual clock had jumped (virtual time) or the
event's timestamp (real time) -- renumbering their ids and paths. A failing unit stops the
others as in-process: events after the failure are dropped and the states still open at that
point record ``...StateAborted`` / ``MapIterationAborted`` linked to the failure's event.

At least once: a unit whose worker dies is run again by the cluster, and a unit that finished
after a sibling failed has still run; so a remote unit's side effects (Task calls) happen at
least once, never "at most once". Results and history are unaffected (the parent records what
the surviving run returned).

Distributed Map child executions return no events (they have their own histories); a store
that records child runs can ask for them (``Job.events``) and record each as its own run.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import pickle
import re
import types
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from statemachine import errors
from statemachine.clock import VirtualClock
from statemachine.errors import StateMachineError, StatesError
from statemachine.interpreter.execution import Frame, Runtime
from statemachine.interpreter.workunit import EventRecord, Job, Unit, UnitResult

if TYPE_CHECKING:
    from statemachine.model import CompiledMachine

__all__ = ["RemoteExecutor", "RemoteHandlerError", "job_for", "pack_handlers", "run_units"]


@runtime_checkable
class RemoteExecutor(Protocol):
    """Runs chunks of work units in other processes (Dask workers, ...).

    ``submit(key, blob, units, offset, limit=N)`` runs ``workunit.run_chunk(key, blob, units,
    offset, limit)`` somewhere and returns an awaitable of its result on the calling event
    loop; cancelling the awaitable cancels the remote work (as far as the engine can).
    ``limit`` (passed only when not 0): how many of the chunk's units may run at once.
    ``slots``: how many chunks it is worth running at once (about the number of worker
    processes). ``describe()``: one line for messages. ``close()``: release what the executor
    started (a local cluster)."""

    slots: int

    def submit(self, key: str, blob: bytes, units: list[Unit], offset: float,
               limit: int = 0) -> Awaitable[list[UnitResult]]: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


class RemoteHandlerError(StateMachineError):
    """A Task handler that a remote worker cannot have: a live object of this process (a
    lambda, a closure, an instance of a class defined in ``__main__``) rather than something a
    worker imports by name (``python:module:function``, a resource map, a built-in)."""


# --- what crosses to a worker ------------------------------------------------------------------

class _ByReference(pickle.Pickler):
    """pickle that refuses what a worker could not import: ``__main__`` and local objects;
    ``modules`` collects the modules the pickle refers to."""

    def __init__(self, file: Any, protocol: int) -> None:
        super().__init__(file, protocol=protocol)
        self.modules: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (types.FunctionType, type, types.BuiltinFunctionType)):
            module = getattr(obj, "__module__", None) or ""
            name = getattr(obj, "__qualname__", "")
            if module == "__main__" or "<locals>" in name or "<lambda>" in name:
                raise pickle.PicklingError(f"{module}.{name} exists only in this process")
            self.modules.add(module)
        return NotImplemented


def import_folders(modules: Iterable[str]) -> list[str]:
    """The folders a worker must have on sys.path to import ``modules`` as this process did
    (a definition's own ``tasks.py`` beside it, a project package), leaving out the
    interpreter's and the environment's own (a worker has its own)."""
    import sys
    from pathlib import Path

    prefixes = {str(Path(p).resolve()) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    folders: list[str] = []
    for name in sorted(modules):
        top = sys.modules.get(name.split(".")[0])
        where = getattr(top, "__file__", None)
        if not where:
            continue
        path = Path(where).resolve()
        folder = str(path.parent.parent if path.name == "__init__.py" else path.parent)
        if folder not in folders and not any(folder.startswith(p) for p in prefixes):
            folders.append(folder)
    return folders


def pack_handlers(handlers: Mapping[str, Any], resources: Iterable[str]) -> tuple[bytes, list[str]]:
    """The handlers of ``resources``, pickled by reference for a worker to import, and the
    folders their modules import from (``import_folders``).

    Raises RemoteHandlerError naming the first resource whose handler is a live object of this
    process (checked when a remote executor is chosen: ``load``/``run`` with ``executor=``)."""
    import io

    chosen = {r: handlers[r] for r in sorted(resources) if r in handlers}
    modules: set[str] = set()
    for resource, handler in chosen.items():
        try:
            pickler = _ByReference(io.BytesIO(), protocol=pickle.HIGHEST_PROTOCOL)
            pickler.dump(handler)
            modules |= pickler.modules
        except Exception as exc:
            raise RemoteHandlerError(
                f"The handler of resource {resource!r} ({handler!r}) is a live object of this "
                f"process that a remote worker cannot import ({type(exc).__name__}: {exc}). "
                "Name it so a worker can load it -- a python:module:function resource, a "
                "resource map entry, or a module-level function -- or run with the in-process "
                "executor.") from None
    return pickle.dumps(chosen, protocol=pickle.HIGHEST_PROTOCOL), import_folders(modules)


def job_for(rt: Runtime, kind: str, machines: tuple[CompiledMachine, ...], state: Any,
            frame: Frame, start_id: int, *, events: bool = True) -> tuple[str, bytes, Job]:
    """The Job of one Map / Parallel attempt, pickled, with its digest (the worker's cache key)."""
    packed = rt.remote_handlers
    job = Job(kind=kind, machines=machines, state=state, variables=frame.variables,
              prefix=frame.path, start_id=start_id, execution_ctx=rt.execution_ctx,
              machine_ctx=rt.machine_ctx, data_limit=rt.data_limit, arn=rt.arn,
              max_duration=rt.max_duration, started=rt.started,
              virtual=_virtual(rt.clock), now=rt.clock.now(),
              handlers=packed[0], sys_path=packed[1], events=events,
              handler_threads=getattr(rt.remote, "handler_threads", None))
    blob = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    return hashlib.blake2b(blob, digest_size=16).hexdigest(), blob, job


# --- running units -----------------------------------------------------------------------------

#: Chunks of units per worker slot a Map is cut into (more: better balance, more overhead).
CHUNKS_PER_SLOT = 4
#: Chunks kept in flight per worker slot: one running, one queued behind it on its worker, so
#: a worker never idles while its next chunk crosses the network.
IN_FLIGHT_PER_SLOT = 2
MAX_CHUNK = 256


#: Items a chunk carries at most when its units are batches (ItemBatcher): what one chunk in
#: flight costs the parent's memory.
MAX_CHUNK_ITEMS = 4096


def chunk_size(total: int, slots: int, weight: int = 1) -> int:
    """Units per chunk: about CHUNKS_PER_SLOT chunks per slot, at most MAX_CHUNK (and
    MAX_CHUNK_ITEMS items of ``weight`` items each)."""
    return max(1, min(MAX_CHUNK, -(-total // max(1, slots * CHUNKS_PER_SLOT)),
                      MAX_CHUNK_ITEMS // max(1, weight)))


def in_flight(slots: int, concurrency: int = 0) -> int:
    """Chunks in flight at once: IN_FLIGHT_PER_SLOT per slot, at most MaxConcurrency
    (``concurrency``, 0 = no limit)."""
    window = max(1, slots * IN_FLIGHT_PER_SLOT)
    return min(window, concurrency) if concurrency else window


async def run_units(rt: Runtime, key: str, blob: bytes, units: Iterator[Unit], total: int, *,
                    concurrency: int, tolerated: int | None,
                    on_result: Callable[[UnitResult], None] | None = None,
                    weight: int = 1, keep_exceeded: bool = False) -> list[UnitResult]:
    """``_run_units`` with the parent's clock held: virtual time must not jump (to a timeout)
    while the workers work. ``weight``: items per unit (a batch), for the chunk size."""
    with rt.clock.busy():
        return await _run_units(rt, key, blob, units, total, concurrency=concurrency,
                                tolerated=tolerated, on_result=on_result, weight=weight,
                                keep_exceeded=keep_exceeded)


async def _run_units(rt: Runtime, key: str, blob: bytes, units: Iterator[Unit], total: int, *,
                     concurrency: int, tolerated: int | None,
                     on_result: Callable[[UnitResult], None] | None,
                     weight: int, keep_exceeded: bool = False) -> list[UnitResult]:
    """Run ``total`` units on ``rt.remote``, at most MaxConcurrency (``concurrency``, 0 = no
    limit) at a time; returns the finished ones (all of them unless one failed).

    A unit's failure stops dispatching and cancels what is in flight (under a virtual clock the
    units already in flight finish first, so the splice sees what the in-process pool would
    have run), unless ``tolerated`` is set: then failures are counted and exceeding the count
    raises States.ExceedToleratedFailureThreshold (``keep_exceeded``: stops as a failure does
    and returns what finished, for the caller to splice and raise). ``on_result`` sees each result as it
    arrives (Distributed Map children: nothing is kept then)."""
    remote = rt.remote
    assert remote is not None
    size = chunk_size(total, remote.slots, weight)
    window = in_flight(remote.slots, concurrency)
    # Real time: MaxConcurrency (an inline Map's 0 is AWS's 40) shared out over the chunks in
    # flight (``budget``: what the running chunks do not hold): each runs at most its share
    # of its units at once, as that many pool workers would pull them (40 over 2 workers: 4
    # chunks running 10 units each; one chunk of 40 at a time left the other worker idle).
    # Under a virtual clock without waits (all units start at 0) the chunks run all their
    # units at once: no unit may start at a later logical time.
    budget = concurrency if concurrency and not _virtual(rt.clock) else 0
    shares: dict[asyncio.Future[list[UnitResult]], int] = {}
    # Virtual time with more units than MaxConcurrency: a unit starts when a pool slot frees,
    # at the logical time the slot's previous unit ended (``free``: a heap of those times).
    # Such a time is known once that unit ended, and may be used while no unit still running
    # started later (it cannot end earlier than it started): units that never wait all start
    # at 0 and go out in parallel; waits hold back only what they must. Otherwise all start at 0.
    slotted = _virtual(rt.clock) and bool(concurrency) and total > concurrency
    if slotted:
        size = 1
    chunks = _chunks(units, size)
    pending: set[asyncio.Future[list[UnitResult]]] = set()
    starts: dict[asyncio.Future[list[UnitResult]], float] = {}
    finished: list[UnitResult] = []
    failures = 0
    stop = False
    free = [0.0] * (concurrency if slotted else 0)
    try:
        while True:
            while not stop and len(pending) < window:
                if slotted and (not free or (pending and free[0] > min(starts[f] for f in pending))):
                    break
                chunk = next(chunks, None)
                if chunk is None:
                    break
                offset = heapq.heappop(free) if slotted else 0.0
                share = budget // (window - len(pending)) if budget else 0  # >= 1 when sharing
                budget -= share
                sent: asyncio.Future[list[UnitResult]] = asyncio.ensure_future(
                    remote.submit(key, blob, chunk, offset, **({"limit": share} if share else {})))
                pending.add(sent)
                starts[sent] = offset
                shares[sent] = share
            if not pending:
                break
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                budget += shares.pop(future, 0)
                chunk_results = future.result()
                starts.pop(future, None)
                if slotted:
                    heapq.heappush(free, max((r.jumped for r in chunk_results), default=0.0))
                for result in chunk_results:
                    if result.error is not None:
                        if tolerated is None:
                            stop = True
                        else:
                            failures += 1
                    if on_result is not None:
                        on_result(result)
                    else:
                        finished.append(result)
            if tolerated is not None and failures > tolerated and keep_exceeded:
                stop = True  # the caller splices what ran up to the exceeding failure
            elif tolerated is not None and failures > tolerated:
                raise StatesError(errors.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                                  "The specified tolerated failure threshold was exceeded",
                                  recorded=True)
            if stop and not _virtual(rt.clock):
                break  # real time: what is still running is cancelled, as in-process
    finally:
        for future in pending:
            future.cancel()
    return finished


def _chunks(units: Iterator[Unit], size: int) -> Iterator[list[Unit]]:
    while True:
        chunk = [u for _, u in zip(range(size), units, strict=False)]
        if not chunk:
            return
        yield chunk


def _virtual(clock: Any) -> bool:
    """Is the execution's time virtual: a VirtualClock, or a clock wrapping one in ``base``
    (the durable runner's DurableClock over ``sm worker --virtual-time``'s clock)?"""
    while clock is not None:
        if isinstance(clock, VirtualClock):
            return True
        clock = getattr(clock, "base", None)
    return False


# --- splicing the units' events into the parent's history ---------------------------------------

async def splice(rt: Runtime, job: Job, results: list[UnitResult], stop_at_failure: bool = True,
                 workers: int = 0, cut_at: int = 0) -> tuple[StatesError | None, dict[int, dict[int, int]]]:
    """Append the units' events to ``rt``'s history in the in-process order; returns the
    failure that stops the state (renumbered), if a unit failed and ``stop_at_failure``, and
    each unit's renumbering (local id -> id in ``rt``'s history).

    Where a failure cuts, as in process: a failure at time t stops the others at the end of
    that instant (what runs in the same turn of the loop is recorded), and each of the
    ``workers`` tasks of the pool (Parallel: one per branch; Map: MaxConcurrency, 40 at most)
    stops at its first failure, so the ``workers``-th failure cuts at once. The error raised
    is the first failed branch / iteration (by index) of that instant. ``cut_at``: a Map whose
    tolerance that many failures exceeded cuts at the end of that failure's instant instead
    (no failure returned: the caller raises States.ExceedToleratedFailureThreshold)."""
    order = sorted(results, key=lambda r: r.index)
    merged = list(heapq.merge(*([(e[6], r.index, n, r.index, e) for n, e in enumerate(r.events)]
                                for r in order)))
    failed = [r for r in order if r.error is not None] if stop_at_failure or cut_at else []
    cutoff: tuple[float, float, float] | None = None
    ends = sorted((r.events[-1][6], r.index, len(r.events) - 1) for r in failed if r.events)
    if cut_at and len(ends) >= cut_at:  # the failure that exceeded the tolerance: its instant
        cutoff = (ends[cut_at - 1][0], float("inf"), float("inf"))
        failed = []
    elif ends and not cut_at:
        inf = float("inf")
        cutoff = (ends[0][0], inf, inf)
        if workers and len(ends) >= workers:
            cutoff = min(cutoff, (float(ends[workers - 1][0]), float(ends[workers - 1][1]),
                                  float(ends[workers - 1][2])))
        chosen = min(e[1] for e in ends if e <= cutoff and e[0] == ends[0][0])
    renumber: dict[int, dict[int, int]] = {r.index: {} for r in order}
    quoting = {r.index: r.quotes for r in order}
    depth = len(job.prefix) + 1
    kept: dict[int, list[EventRecord]] = {}
    for k0, k1, k2, index, record in merged:
        if cutoff is not None and (k0, k1, k2) > cutoff:
            continue
        _append(rt, job, record, renumber[index], depth, quoting[index])
        kept.setdefault(index, []).append(record)
    failure = None
    if cutoff is not None and not failed:  # cut by the tolerance: no unit's error is raised
        for r in order:
            if r.index in kept and len(kept[r.index]) < len(r.events):
                _abort_open(rt, kept[r.index], renumber[r.index], depth, None)
    elif cutoff is not None:
        first = next(r for r in failed if r.index == chosen)
        failure = first.failure()
        source = _local(failure.source_event, renumber[first.index], job.start_id)
        failure = StatesError(failure.name, requote(failure.cause, renumber[first.index]),
                              recorded=failure.recorded, source_event=source,
                              final_event=failure.final_event)
        for r in order:
            if r.index in kept and len(kept[r.index]) < len(r.events):
                _abort_open(rt, kept[r.index], renumber[r.index], depth, source)
    elif failed:  # a failure with no events (cannot happen for recorded units): no cutoff
        failure = failed[0].failure()
    await _advance(rt, results)
    return failure, renumber


def _local(local_id: int, numbers: Mapping[int, int], start_id: int) -> int:
    if local_id == -1:
        return start_id
    return numbers.get(local_id, local_id)


_QUOTED = re.compile(r"event id #(\d{13,})")


def requote(value: Any, numbers: Mapping[int, int]) -> Any:
    """``value`` with every local event id quoted in its texts ("entered at the event id #N")
    replaced by the id it got in the parent's history (copies only what changes)."""
    if isinstance(value, str):
        if "event id #" not in value:
            return value
        return _QUOTED.sub(lambda m: f"event id #{numbers.get(int(m.group(1)), int(m.group(1)))}", value)
    if isinstance(value, dict):
        return {k: requote(v, numbers) for k, v in value.items()}
    if isinstance(value, list):
        return [requote(v, numbers) for v in value]
    return value


def outputs(results: list[UnitResult], numbers: Mapping[int, Mapping[int, int]]) -> dict[int, Any]:
    """Each unit's output (a failed one: its error output), local ids requoted."""
    out: dict[int, Any] = {}
    for r in results:
        value = r.output if r.error is None else r.failure().output()
        out[r.index] = requote(value, numbers.get(r.index, {})) if r.quotes else value
    return out


def _append(rt: Runtime, job: Job, record: EventRecord, numbers: dict[int, int], depth: int,
            quotes: bool) -> None:
    local_id, previous, timestamp, type_, details, path, _ = record
    if quotes and details is not None:
        details = requote(details, numbers)
    if len(path) > depth:
        path = path[:depth] + tuple((numbers.get(s, s), i) for s, i in path[depth:])
    frame = Frame({}, 0, False, path)
    event = rt.emit(frame, type_, details, timestamp, _local(previous, numbers, job.start_id))
    numbers[local_id] = event.id


def _abort_open(rt: Runtime, kept: list[EventRecord], numbers: dict[int, int], depth: int,
                source: int | None) -> None:
    """Record what the in-process pool records for a sibling cancelled by a failure: each
    state still open ``<Type>StateAborted`` (innermost first), each iteration still open
    ``MapIterationAborted``, all linked to the failure's event ``source`` (None: the tolerance
    exceeded, each linked to the event before it, as in process)."""
    chain = numbers.get(kept[-1][0], kept[-1][0]) if kept else 0
    open_states: dict[tuple[tuple[int, int], ...], list[str]] = {}
    open_iterations: dict[tuple[tuple[int, int], ...], Any] = {}
    for _, _, _, type_, details, path, _ in kept:
        if type_.endswith("StateEntered"):
            open_states.setdefault(path, []).append(type_[:-len("StateEntered")])
        elif type_.endswith(("StateExited", "StateAborted")) and open_states.get(path):
            open_states[path].pop()
        elif type_ == "MapIterationStarted":
            open_iterations[path] = details
        elif type_ in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            open_iterations.pop(path, None)
    # in-process cancellation order: depth first, siblings in index order, a branch's inner
    # states before the branch's own (a path sorts after every path it is a prefix of)
    last = (float("inf"), float("inf"))
    paths = sorted(set(open_states) | set(open_iterations), key=lambda p: (*p, last))
    for path in paths:
        renumbered = path[:depth] + tuple((numbers.get(s, s), i) for s, i in path[depth:])
        frame = Frame({}, chain if source is None else source, False, renumbered)
        for state_type in reversed(open_states.get(path, [])):
            rt.emit(frame, state_type + "StateAborted", previous=source)
        if path in open_iterations:
            rt.emit(frame, "MapIterationAborted", open_iterations[path], previous=source)
        chain = frame.last_id


async def _advance(rt: Runtime, results: list[UnitResult]) -> None:
    """Under a virtual clock, the parent's time moves on as far as the units' did."""
    if _virtual(rt.clock) and results:
        jump = max(r.jumped for r in results)
        if jump > 0:
            await rt.clock.sleep(jump)

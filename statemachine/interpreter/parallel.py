"""Interpreter stage: Parallel and Map, the states that run nested machines concurrently.

Each branch / iteration is a child run of a nested ``CompiledMachine`` with its own ``Frame``:
it reads a copy of the outer variables and cannot assign outer ones. Map runs its iterations
on a pool of worker coroutines (MaxConcurrency; 0 = unbounded, which AWS caps at 40 for inline
Maps; Distributed Maps here at 256, the handler thread pool's size) so a 100,000-item Map
holds at most that many tasks. The first failing branch/iteration
cancels the others (their running states record ``...StateAborted``, linked like AWS's to the
failure's event) and fails the state with its error, unless a Distributed Map tolerates it
(ToleratedFailureCount/Percentage). An abort or timeout of the whole execution records none
of these (see execution.SiblingFailed).

Identity: each branch / iteration frame extends its parent's ``path`` with
``(started_event_id, index)`` -- the id of this attempt's ParallelStateStarted /
MapStateStarted / MapRunStarted event and the branch or item index -- so every event says
which branch or iteration, of which attempt of its state, it belongs to.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import Iterator
from typing import Any

from statemachine import errors
from statemachine.errors import StatesError
from statemachine.expressions.scope import Scope
from statemachine.interpreter import dataflow
from statemachine.interpreter.execution import (
    YIELD_EVERY,
    ChildRuns,
    Frame,
    Runtime,
    SiblingFailed,
    StateRun,
    evaluation_failure,
    run_machine,
    sibling_failed,
)
from statemachine.interpreter.states import check_size, resolve_field
from statemachine.model import CompiledMachine, MapState, ParallelState
from statemachine.values import JSON, MISSING

__all__ = ["run_map", "run_parallel"]

INLINE_CONCURRENCY_CAP = 40
DISTRIBUTED_CONCURRENCY_CAP = 256  # AWS allows 10,000 child executions; one process cannot


async def run_parallel(rt: Runtime, state: ParallelState, raw: JSON, frame: Frame, run: StateRun) -> Any:
    flow = state.flow
    ctx = rt.context(run, retry=True) if flow.needs_context else None
    value = dataflow.effective_input(flow, raw, ctx, frame.variables, rt.rng)
    rt.emit(frame, "ParallelStateStarted")
    start_id = frame.last_id
    if rt.remote is not None:
        result = await _remote_parallel(rt, state, value, frame, start_id)
        return _finish(rt, state, raw, result, ctx, frame)
    coros = [_branch(rt, b, value, Frame(dict(frame.variables), start_id, True,
                                         (*frame.path, (start_id, i))))
             for i, b in enumerate(state.branches)]
    result = await _all_or_first_failure(coros)
    return _finish(rt, state, raw, result, ctx, frame)


async def _remote_parallel(rt: Runtime, state: ParallelState, value: JSON, frame: Frame,
                           start_id: int) -> list[JSON]:
    """The branches on the remote executor (interpreter/remote.py), their events spliced."""
    from statemachine.interpreter import remote

    key, blob, job = remote.job_for(rt, "branch", state.branches, None, frame, start_id)
    units = [(i, value, rt.rng.getrandbits(64)) for i in range(len(state.branches))]
    results = await remote.run_units(rt, key, blob, iter(units), len(units), concurrency=0,
                                     tolerated=None)
    failure, numbers = await remote.splice(rt, job, results, workers=len(units))
    if failure is not None:
        raise failure
    outputs = remote.outputs(results, numbers)
    return [outputs[i] for i in range(len(units))]


async def _branch(rt: Runtime, machine: CompiledMachine, value: JSON, frame: Frame) -> JSON:
    return await run_machine(rt, machine, frame, value)


async def _all_or_first_failure(coros: list[Any]) -> list[JSON]:
    tasks = [asyncio.ensure_future(c) for c in coros]
    if not tasks:
        return []
    try:
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError as exc:
        await _cancel(tasks, sibling_failed(exc))  # a sibling of ours failed: pass it down
        raise
    # Read every finished task's exception, not only the first: several iterations can fail in
    # the same turn of the loop, and an unread one is logged as "never retrieved" at exit.
    raised = [t.exception() for t in tasks if t.done() and not t.cancelled()]
    failed = next((exc for exc in raised if exc is not None), None)
    if failed is not None:
        source = failed.source_event if isinstance(failed, StatesError) else 0
        await _cancel([t for t in tasks if t in pending], SiblingFailed(source))  # in order
        raise failed
    return [t.result() for t in tasks]


async def _cancel(tasks: list[asyncio.Future[Any]], why: SiblingFailed | None = None) -> None:
    for t in tasks:
        t.cancel(why)
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def _finish(rt: Runtime, state: Any, raw: JSON, result: JSON, ctx: JSON, frame: Frame) -> Any:
    flow = state.flow
    result = dataflow.select_result(flow, result, ctx, frame.variables, rt.rng)
    assigned = None
    if flow.assign is not MISSING:
        assigned = dataflow.assignments(flow.assign, flow.assign_on_result, raw, result, ctx,
                                        frame.variables, rt.rng)
    output = dataflow.state_output(flow, raw, result, ctx, frame.variables, rt.rng)
    frame.measured = (output, check_size(rt, output, state.name))  # run_state: not measured again
    return output, state.trigger, assigned


# --- Map ---------------------------------------------------------------------------------------

async def run_map(rt: Runtime, state: MapState, raw: JSON, frame: Frame, run: StateRun) -> Any:
    flow = state.flow
    ctx = rt.context(run, retry=True)
    variables = frame.variables
    try:
        value = dataflow.effective_input(flow, raw, ctx, variables, rt.rng)
        items = _items(rt, state, raw, value, ctx, variables) if state.item_reader is MISSING else []
        concurrency = _concurrency(rt, state, value, ctx, variables)
    except StatesError as exc:
        failure = evaluation_failure(rt, frame, run, exc)
        if failure.name == errors.QUERY_EVALUATION_ERROR:
            rt.emit(frame, "MapStateFailed")
        raise failure from None
    rt.emit(frame, "MapStateStarted", {"length": len(items)})
    tolerance = _tolerance(rt, state, value, ctx, variables)  # AWS: checked after MapStateStarted
    limits = concurrency, _threshold(tolerance, len(items))
    if state.distributed or state.item_reader is not MISSING or state.result_writer is not MISSING:
        result = await _distributed(rt, state, frame, value, ctx, items, limits, tolerance)
    else:
        result = await _inline(rt, state, frame, value, ctx, items, limits)
    rt.emit(frame, "MapStateSucceeded")
    return _finish(rt, state, raw, result, ctx, frame)


def _items(rt: Runtime, state: MapState, raw: JSON, value: JSON, ctx: JSON, variables: Any) -> list[JSON]:
    if state.items is not MISSING:
        items = state.items.evaluate_as(Scope(raw, ctx, variables), "array", rt.rng)
    elif state.items_path is not MISSING:
        items = dataflow.select_path(state.items_path, Scope(value, ctx, variables))
    else:
        items = value
    if not isinstance(items, list):
        text = json.dumps(items, separators=(",", ":"))
        raise StatesError(state.items_error, f"Map state input must be an array but was: {text}")
    return items


def _concurrency(rt: Runtime, state: MapState, value: JSON, ctx: JSON, variables: Any) -> int:
    if state.max_concurrency is MISSING:
        return 0
    return _integer(rt, state.max_concurrency, value, ctx, variables)


Tolerance = tuple[int | None, float | None]  # ToleratedFailureCount, ...Percentage (None: unset)


def _tolerance(rt: Runtime, state: MapState, value: JSON, ctx: JSON, variables: Any) -> Tolerance:
    """The Map's ToleratedFailureCount and ToleratedFailurePercentage (None where unset)."""
    count: int | None = None
    pct: float | None = None
    if state.tolerated_count is not MISSING:
        count = _integer(rt, state.tolerated_count, value, ctx, variables)
        if count < 0:
            raise StatesError(errors.RUNTIME, "ToleratedFailureCount cannot be negative.")
    if state.tolerated_percentage is not MISSING:
        pct = _float(rt, state.tolerated_percentage, value, ctx, variables)
        if not 0 <= pct <= 100:
            raise StatesError(errors.RUNTIME, "ToleratedFailurePercentage must be between 0 and 100.")
    return count, pct


def _threshold(tolerance: Tolerance, total: int) -> int | None:
    """How many of ``total`` failed items the Map tolerates; None when any failure fails it."""
    count, pct = tolerance
    if pct is None:
        return count
    by_pct = math.floor(total * pct / 100)
    # the Map fails as soon as either threshold is exceeded
    return by_pct if count is None else min(count, by_pct)


def _integer(rt: Runtime, field: Any, value: JSON, ctx: JSON, variables: Any) -> int:
    number = resolve_field(field, value, ctx, variables, rt.rng)
    if isinstance(number, bool) or not isinstance(number, (int, float)) or number != int(number):
        if isinstance(number, str) and number.lstrip("-").isdigit():
            return int(number)
        raise StatesError(errors.RUNTIME, _not_number(field, number, "integer"))
    return int(number)


def _float(rt: Runtime, field: Any, value: JSON, ctx: JSON, variables: Any) -> float:
    number = resolve_field(field, value, ctx, variables, rt.rng)
    if isinstance(number, str):
        try:
            return float(number)
        except ValueError:
            pass
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise StatesError(errors.RUNTIME, _not_number(field, number, "float"))
    return float(number)


def _not_number(field: Any, value: JSON, kind: str) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    where = f": {field.path.text}" if field.path is not MISSING else ""
    return f"The {field.field} field refers to value \"{text}\" which is not a valid {kind}{where}"


def _selector(rt: Runtime, state: MapState, value: JSON, ctx: Any, variables: Any,
              index: int, item: JSON, rng: Any = None) -> JSON:
    if state.item_selector is MISSING:
        return item
    item_ctx = {**ctx, "Map": {"Item": {"Index": index, "Value": item}}}
    return state.item_selector.evaluate(Scope(value, item_ctx, variables), rng or rt.rng)


async def _inline(rt: Runtime, state: MapState, frame: Frame, value: JSON, ctx: Any,
                  items: list[JSON], limits: tuple[int, int | None]) -> list[JSON]:
    start_id = frame.last_id
    variables = frame.variables
    if rt.remote is not None:
        return await _remote_inline(rt, state, frame, value, ctx, items, limits)

    async def iteration(index: int) -> JSON:
        path = (*frame.path, (start_id, index))
        # the iteration's own random source: which pool worker runs it must not matter
        item = _selector(rt, state, value, ctx, variables, index, items[index], rt.rng_for(path))
        return await _iteration(rt, state, frame, start_id, path, item)

    try:
        return await _pool(len(items), limits, INLINE_CONCURRENCY_CAP, iteration)
    except StatesError as failure:
        raise failure.replace(final_event="MapStateFailed") from None


async def _remote_inline(rt: Runtime, state: MapState, frame: Frame, value: JSON, ctx: Any,
                         items: list[JSON], limits: tuple[int, int | None]) -> list[JSON]:
    """The iterations on the remote executor (interpreter/remote.py), their events spliced."""
    from statemachine.interpreter import remote

    start_id = frame.last_id
    concurrency, tolerated = limits
    processor = state.processor
    assert processor is not None  # the compiler always sets a Map's processor
    key, blob, job = remote.job_for(rt, "iteration", (processor,), state, frame, start_id)
    units = ((i, _selector(rt, state, value, ctx, frame.variables, i, item), rt.rng.getrandbits(64))
             for i, item in enumerate(items))
    try:
        results = await remote.run_units(rt, key, blob, units, len(items),
                                         concurrency=min(concurrency or INLINE_CONCURRENCY_CAP,
                                                         INLINE_CONCURRENCY_CAP),
                                         tolerated=tolerated, keep_exceeded=True)
    except StatesError as error:  # an ItemSelector's error
        raise error.replace(final_event="MapStateFailed") from None
    workers = min(len(items), concurrency or INLINE_CONCURRENCY_CAP) or 1
    # the tolerance exceeded: what ran up to that failure is recorded, as in process
    exceeded = tolerated is not None and sum(r.error is not None for r in results) > tolerated
    failure, numbers = await remote.splice(rt, job, results, stop_at_failure=tolerated is None,
                                           workers=workers,
                                           cut_at=tolerated + 1 if exceeded and tolerated is not None else 0)
    if exceeded:
        raise StatesError(errors.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                          "The specified tolerated failure threshold was exceeded",
                          recorded=True, final_event="MapStateFailed")
    if failure is not None:
        raise failure.replace(final_event="MapStateFailed") from None
    outputs = remote.outputs(results, numbers)
    return [outputs.get(i) for i in range(len(items))]


async def _iteration(rt: Runtime, state: MapState, outer: Frame, start_id: int,
                     path: tuple[tuple[int, int], ...], item: JSON) -> JSON:
    index = path[-1][1]
    frame = Frame(dict(outer.variables), start_id, False, path)
    details = {"name": state.name, "index": index}
    rt.emit(frame, "MapIterationStarted", details)
    try:
        output = await run_machine(rt, state.processor, frame, item)  # type: ignore[arg-type]  # the compiler always sets a Map's processor; None is only the dataclass default
    except StatesError as failure:
        rt.emit(frame, "MapIterationFailed", details)
        raise failure.replace(source_event=failure.source_event or frame.last_id) from None
    except asyncio.CancelledError as exc:
        sibling = sibling_failed(exc)
        if sibling is not None:
            rt.emit(frame, "MapIterationAborted", details, previous=sibling.source or None)
        raise
    rt.emit(frame, "MapIterationSucceeded", details)
    return output


async def _pool(total: int, limits: tuple[int, int | None], cap: int, run: Any) -> list[JSON]:
    """Run ``run(index)`` for every index on at most MaxConcurrency workers (0 = ``cap``).

    A failure fails the whole pool at once, unless ``tolerated`` (the number of failures the
    Map tolerates) is set: then a failed item's result is its error output, and exceeding the
    tolerance fails with States.ExceedToleratedFailureThreshold.
    """
    concurrency, tolerated = limits
    results: list[JSON] = [None] * total
    failures = 0
    queue = iter(range(total))

    async def worker() -> None:
        nonlocal failures
        for index in queue:
            if not index % YIELD_EVERY and index:  # iterations that never await must not starve the loop
                await asyncio.sleep(0)
            try:
                results[index] = await run(index)
            except StatesError as failure:
                if tolerated is None:
                    raise
                failures += 1
                results[index] = failure.output()
                if failures > tolerated:
                    raise StatesError(errors.EXCEED_TOLERATED_FAILURE_THRESHOLD,
                                      "The specified tolerated failure threshold was exceeded",
                                      recorded=True) from None

    workers = min(total, concurrency or cap) or 1
    await _all_or_first_failure([worker() for _ in range(workers)])
    return results


async def _distributed(rt: Runtime, state: MapState, frame: Frame, value: JSON, ctx: Any,
                       items: list[JSON], limits: tuple[int, int | None],
                       tolerance: Tolerance) -> JSON:
    label = state.label if state.label is not MISSING else state.name
    machine_arn = str(rt.machine_ctx.get("Id", ""))
    run_id = uuid.UUID(int=rt.rng.getrandbits(128), version=4)
    run_arn = f"{machine_arn.replace(':stateMachine:', ':mapRun:')}/{label}:{run_id}"
    runs = rt.map_run(state, run_arn)  # child executions keep their own histories
    run_arn = runs.run_arn
    rt.emit(frame, *runs.started_event(run_arn))
    started = frame.last_id
    io = None  # ItemReader / ResultWriter (interpreter/itemio.py), imported only when present
    if state.item_reader is not MISSING or state.result_writer is not MISSING:
        from statemachine.interpreter.itemio import MapRunIO

        io = MapRunIO(rt, state, value, ctx, frame.variables, run_arn)
    try:
        if rt.remote is not None:
            remote_results = await _remote_children(rt, state, frame, started, value, ctx, items,
                                                    limits, tolerance, io, runs)
            children = len(remote_results)
            results: JSON = remote_results
            if io is not None and state.result_writer is not MISSING:
                results = await io.write(results)
            runs.end("SUCCEEDED", results_written=children if state.result_writer is not MISSING else 0)
            rt.emit(frame, "MapRunSucceeded")
            return results
        if io is not None and state.item_reader is not MISSING:
            items = await io.read()
            limits = limits[0], _threshold(tolerance, len(items))
        batches = _batches(rt, state, value, ctx, frame.variables, items)
        sizes = [len(b["Items"]) if state.batcher is not MISSING and isinstance(b, dict) else 1
                 for b in batches]
        runs.begin(items=len(items), executions=len(batches), max_concurrency=limits[0],
                   tolerated_count=tolerance[0], tolerated_percentage=tolerance[1])

        async def execution(index: int) -> JSON:
            child_frame = Frame(dict(frame.variables), 0, False, (*frame.path, (started, index)))
            return await runs.run(state.processor, child_frame, batches[index], index, sizes[index])  # type: ignore[arg-type]  # as in _iteration: the processor is set

        run = execution if io is None or state.result_writer is MISSING else io.recorded(execution, batches)
        results = await _pool(len(batches), limits, DISTRIBUTED_CONCURRENCY_CAP, run)
        if io is not None and state.result_writer is not MISSING:
            results = await io.write(results)
    except StatesError as failure:
        runs.end("FAILED")
        rt.emit(frame, "MapRunFailed", {key.lower(): v for key, v in failure.output().items()})
        raise failure.replace(final_event="MapStateFailed", source_event=0) from None
    runs.end("SUCCEEDED", results_written=len(batches) if state.result_writer is not MISSING else 0)
    rt.emit(frame, "MapRunSucceeded")
    return results


async def _remote_children(rt: Runtime, state: MapState, frame: Frame, started: int, value: JSON,
                           ctx: Any, items: list[JSON], limits: tuple[int, int | None],
                           tolerance: Tolerance, io: Any, runs: ChildRuns) -> list[JSON]:
    """The child executions on the remote executor: results by index, failures tolerated as
    in ``_pool``, a record per child for the ResultWriter; the map run begun on ``runs`` and
    each child handed to ``runs.ran`` (a store records it as an execution of its own). A
    CSV / JSON Lines ItemReader is streamed (itemio.read_stream): items are read, selected
    and batched as chunks are sent, so the parent holds the chunks in flight, not the whole
    file as objects."""
    from statemachine.interpreter import remote

    count, stream = len(items), iter(items)
    if io is not None and state.item_reader is not MISSING:
        count, stream = await io.read_stream()
        limits = limits[0], _threshold(tolerance, count)
    per_batch = _per_batch(rt, state, value, ctx, frame.variables)
    total = -(-count // per_batch) if per_batch else count
    processor = state.processor
    assert processor is not None  # the compiler always sets a Map's processor
    runs.begin(items=count, executions=total, max_concurrency=limits[0],
               tolerated_count=tolerance[0], tolerated_percentage=tolerance[1])
    # a child's own history is kept only by a store that records child executions as runs of
    # their own (in memory, in process neither): it asks for the events (UnitResult.events)
    recording = runs.records_children
    key, blob, _ = remote.job_for(rt, "child", (processor,), state, frame, started, events=recording)
    results: list[JSON] = []
    failed: list[Any] = []
    writing = io is not None and state.result_writer is not MISSING
    inputs: dict[int, JSON] = {}  # inputs in flight, for the ResultWriter's and the store's records
    if writing:
        io.inputs, io.records = [], []

    def collect(result: Any) -> None:
        index = result.index
        if recording:
            batch = inputs[index] if writing else inputs.pop(index, None)
            size = len(batch["Items"]) if state.batcher is not MISSING and isinstance(batch, dict) else 1
            runs.ran(index, batch, size, result)
        if len(results) <= index:
            results.extend([None] * (index + 1 - len(results)))
        if result.error is None:
            results[index] = result.output
        else:
            failed.append(result)
            results[index] = result.failure().output()
        if writing:
            outcome = result.output if result.error is None else result.failure()
            status = "SUCCEEDED" if result.error is None else "FAILED"
            if len(io.records) <= index:
                io.records.extend([None] * (index + 1 - len(io.records)))
                io.inputs.extend([None] * (index + 1 - len(io.inputs)))
            io.inputs[index] = inputs.pop(index, None)
            io.records[index] = io._record(index, result.start, status, outcome, result.stop)
            io.inputs[index] = None  # the record holds its text: not kept twice

    def units() -> Iterator[tuple[int, JSON, int]]:
        batches = _batch_stream(rt, state, value, ctx, frame.variables, stream)
        for i, batch in enumerate(batches):
            if writing or recording:
                inputs[i] = batch
            yield i, batch, rt.rng.getrandbits(64)

    await remote.run_units(rt, key, blob, units(), total, tolerated=limits[1],
                           concurrency=min(limits[0], DISTRIBUTED_CONCURRENCY_CAP),
                           on_result=collect, weight=per_batch or 1)
    if failed and limits[1] is None:
        raise min(failed, key=lambda r: r.index).failure()
    return results


def _per_batch(rt: Runtime, state: MapState, value: JSON, ctx: Any, variables: Any) -> int:
    """Items per batch when only MaxItemsPerBatch bounds batches (0: no batcher or by bytes)."""
    batcher = state.batcher
    if batcher is MISSING or batcher.max_items is MISSING or batcher.max_bytes is not MISSING:
        return 0
    number = resolve_field(batcher.max_items, value, ctx, variables, rt.rng)
    return int(number) if isinstance(number, int | float) and not isinstance(number, bool) and number >= 1 else 0


def _batches(rt: Runtime, state: MapState, value: JSON, ctx: Any, variables: Any,
             items: list[JSON]) -> list[JSON]:
    return list(_batch_stream(rt, state, value, ctx, variables, iter(items)))


def _batch_stream(rt: Runtime, state: MapState, value: JSON, ctx: Any, variables: Any,
                  items: Iterator[JSON]) -> Iterator[JSON]:
    """The child executions' inputs: items through the ItemSelector, grouped per ItemBatcher."""
    selected = (_selector(rt, state, value, ctx, variables, i, item) for i, item in enumerate(items))
    batcher = state.batcher
    if batcher is MISSING:
        yield from selected
        return
    max_items = resolve_field(batcher.max_items, value, ctx, variables, rt.rng) if batcher.max_items is not MISSING else None
    max_bytes = resolve_field(batcher.max_bytes, value, ctx, variables, rt.rng) if batcher.max_bytes is not MISSING else None
    batch_input: Any = MISSING
    if batcher.batch_input is not MISSING:
        spec = batcher.batch_input
        batch_input = spec.evaluate(Scope(value, ctx, variables), rt.rng) if hasattr(spec, "evaluate") else spec
    current: list[JSON] = []
    size = 0
    for item in selected:
        item_size = len(json.dumps(item, separators=(",", ":"))) if max_bytes is not None else 0
        full = (max_items is not None and len(current) >= max_items) or (
            max_bytes is not None and current and size + item_size > max_bytes)
        if full:
            yield _batch(current, batch_input)
            current, size = [], 0
        current.append(item)
        size += item_size
    if current:
        yield _batch(current, batch_input)


def _batch(items: list[JSON], batch_input: Any) -> JSON:
    batch: dict[str, JSON] = {}
    if batch_input is not MISSING:
        batch["BatchInput"] = batch_input
    batch["Items"] = items
    return batch

"""Durable executions, Distributed Map children: each child execution is a record of its own.

In: a ``DurableRuntime`` advancing a parent execution that reaches a Distributed Map
(``ProcessorConfig.Mode: DISTRIBUTED``, or an ItemReader/ResultWriter). Out: a map run record
(``map_runs``: DescribeMapRun's configuration and sizes) and one execution record per child
execution, with its own history (ExecutionStarted .. ExecutionSucceeded/Failed/Aborted), its
``parent_arn`` and ``map_run_arn``; the parent's history keeps exactly the events AWS records
there (MapRunStarted/MapRunSucceeded/MapRunFailed, MapRunRedriven after a redrive).

Names, as AWS spells them: map run ``arn:aws:states:R:A:mapRun:MACHINE/LABEL:UUID`` (drawn by
the interpreter, then mixed with the execution's ARN so that two executions started with one
seed never share a map run), child ``arn:aws:states:R:A:execution:MACHINE/LABEL:NAME`` with
NAME a UUID derived from the map run ARN and the child's index -- the same on every replay, so
a replay finds the child it created before a crash -- and child state machine
``...:stateMachine:MACHINE/LABEL``.

Children run inside the parent's worker, on the parent's clock and lease: a child's row is
created by its first commit (so a child of pure states costs one), and its events are
committed before each of its task dispatches (then the parent's pending events), when the
parent parks, and when the child ends. On replay a child that ended is not run
again: SUCCEEDED returns its stored output, FAILED/TIMED_OUT/ABORTED raise its stored error;
a RUNNING one replays its own history (finished states and tasks are not repeated), and a
PENDING_REDRIVE one (its parent was redriven) is redriven first (ExecutionRedriven, as
``Service.redrive`` does for a parent). Task tokens of children belong to the parent's
execution row, so an answer wakes the parent, which resumes the child.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import random
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from statemachine.durable.contract import (
    EventRecord,
    ExecutionRecord,
    ExecutionUpdate,
    MapRunRecord,
    MapRunUpdate,
)
from statemachine.durable.errors import EventConflict, LeaseLost, StoreError
from statemachine.errors import StatesError
from statemachine.interpreter.execution import ChildRuns, Frame, run_machine
from statemachine.model import CompiledMachine
from statemachine.values import JSON, MISSING

if TYPE_CHECKING:
    from statemachine.durable.runner import DurableRuntime

__all__ = ["DurableChildRuns", "child_arn_prefix"]

_ENDED = ("FAILED", "TIMED_OUT", "ABORTED")


def child_arn_prefix(machine_arn: str, label: str) -> str:
    """``arn:aws:states:R:A:execution:MACHINE/LABEL:`` for a machine ARN and a Map label."""
    return machine_arn.replace(":stateMachine:", ":execution:", 1) + f"/{label}:"


def child_name(run_arn: str, index: int) -> str:
    """The name of child execution ``index`` of a map run: a UUID fixed by both."""
    return _uuid(f"{run_arn}#{index}")


def _uuid(text: str) -> str:
    """A version-4-shaped UUID fixed by ``text`` (the same on every replay)."""
    return str(uuid.UUID(bytes=hashlib.sha256(text.encode()).digest()[:16], version=4))


class DurableChildRuns(ChildRuns):
    """The child executions of one Distributed Map run of a durable execution."""

    def __init__(self, rt: DurableRuntime, state: Any, run_arn: str) -> None:
        self.rt = rt
        # the drawn UUID mixed with the execution's ARN: executions started with the same
        # seed draw the same UUID, but their map runs (and children) must not be shared
        head, _, drawn = run_arn.rpartition(":")
        self.drawn = drawn
        self.run_arn = f"{head}:{_uuid(rt.record.arn + '#' + drawn)}"
        label = state.label if state.label is not MISSING else state.name
        parent_machine = str(rt.machine_ctx.get("Id", ""))
        self.machine_arn = f"{parent_machine}/{label}"
        self.prefix = child_arn_prefix(parent_machine, label)
        self.existing = self._store_call(rt.store.map_run, self.run_arn)
        #: not begun before (no crash, no redrive): no child can exist yet, skip the lookups
        self.fresh = self.existing is None

    def _store_call(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except StoreError as error:
            self.rt.suspend(error)
            raise asyncio.CancelledError("store failure") from None

    def started_event(self, run_arn: str) -> tuple[str, dict[str, Any]]:
        found = self.existing
        if found is not None and found.redrive_count > 0:  # the parent was redriven
            return "MapRunRedriven", {"mapRunArn": run_arn, "redriveCount": found.redrive_count}
        return "MapRunStarted", {"mapRunArn": run_arn}

    def begin(self, *, items: int, executions: int, max_concurrency: int,
              tolerated_count: int | None, tolerated_percentage: float | None) -> None:
        rt = self.rt
        record = MapRunRecord(
            arn=self.run_arn, execution_arn=rt.record.arn, machine_arn=rt.record.machine_arn,
            start_date=datetime.fromtimestamp(rt.clock.now(), UTC),
            max_concurrency=max_concurrency,
            tolerated_failure_percentage=float(tolerated_percentage or 0.0),
            tolerated_failure_count=tolerated_count or 0, item_total=items,
            execution_total=executions)
        self.existing = self._store_call(rt.store.put_map_run, record)

    def end(self, status: str, *, results_written: int = 0) -> None:
        if self.rt.frozen:
            return
        update = MapRunUpdate(status=status, stop_date=datetime.fromtimestamp(
            self.rt.clock.now(), UTC), results_written=results_written)
        if self.existing is None:  # failed before its items were known (an ItemReader)
            self.begin(items=0, executions=0, max_concurrency=0, tolerated_count=None,
                       tolerated_percentage=None)
        self._store_call(self.rt.store.update_map_run, self.run_arn, update)

    async def run(self, machine: CompiledMachine, frame: Frame, value: JSON, index: int,
                  items: int) -> JSON:
        rt = self.rt
        name = child_name(self.run_arn, index)
        record = None if self.fresh else self._store_call(rt.store.execution, self.prefix + name)
        history = None
        if record is None:
            record, history = self._create(name, value, items, index)  # not stored yet
        if record.status == "SUCCEEDED":
            return json.loads(record.output) if record.output is not None else None
        if record.status in _ENDED:
            raise StatesError(record.error, record.cause, recorded=True)
        if record.status == "PENDING_REDRIVE":
            record = self._redrive(record)
        return await self._replay(record, machine, frame, value, history)

    records_children = True

    def ran(self, index: int, value: JSON, items: int, result: Any) -> None:
        """Store child execution ``index`` that ran on a remote executor: its record
        (SUCCEEDED with its output, or FAILED with its error; started and stopped when the
        worker ran it) and its whole history -- ExecutionStarted, then the events the worker
        returned (``result.events``: ids from 2, ending with ExecutionSucceeded /
        ExecutionFailed) -- in one commit. A child stored before (the parent replayed after a
        crash ran it again: at least once) keeps its first record."""
        from statemachine.durable.errors import ExecutionExists
        from statemachine.durable.runner import event_record
        from statemachine.history import Event

        rt = self.rt
        if rt.frozen:
            return
        record, history = self._create(child_name(self.run_arn, index), value, items, index,
                                       now=result.start)
        for local_id, previous, timestamp, type_, details, path, _ in result.events:
            history.append(event_record(Event(local_id, previous, timestamp, type_, details, path)))
        if result.error is None:
            update = ExecutionUpdate(status="SUCCEEDED", output=json.dumps(
                result.output, separators=(",", ":"), ensure_ascii=False),
                redrive_status="NOT_REDRIVABLE")
        else:
            name, cause = result.error[0], result.error[1]
            update = ExecutionUpdate(status="FAILED", error=name or None, cause=cause or None,
                                     redrive_status="REDRIVABLE_BY_MAP_RUN")
        stop = datetime.fromtimestamp(result.events[-1][2] if result.events else result.stop, UTC)
        update = dataclasses.replace(update, stop_date=stop)
        record = dataclasses.replace(record, **update.fields(), last_event_id=history[-1].id)
        try:
            rt.store.create_execution(record, events=history, ready=False)
        except ExecutionExists:
            pass
        except StoreError as error:
            rt.suspend(error)
            raise asyncio.CancelledError("store failure") from None

    def _create(self, name: str, value: JSON, items: int, index: int, now: float | None = None
                ) -> tuple[ExecutionRecord, list[EventRecord]]:
        """The child's record and its ExecutionStarted (at ``now``, default the clock's
        time), stored by the child's first commit (its first task dispatch, the parent
        parking, or its end)."""
        from statemachine.api import ROLE_ARN
        from statemachine.durable.runner import event_record
        from statemachine.history import Event

        rt = self.rt
        now = rt.clock.now() if now is None else now
        # the child's seed: the parent's, the drawn run id and the index (same seed, same values)
        digest = hashlib.sha256(f"{rt.record.seed}:{self.drawn}:{index}".encode()).digest()
        record = ExecutionRecord(
            arn=self.prefix + name, name=name, machine_arn=self.machine_arn,
            machine_version=rt.record.machine_version,
            input=json.dumps(value, separators=(",", ":"), ensure_ascii=False),
            start_date=datetime.fromtimestamp(now, UTC),
            seed=int.from_bytes(digest[:8], "big") >> 1, parent_arn=rt.record.arn,
            map_run_arn=self.run_arn, item_count=items)
        started = Event(1, 0, now, "ExecutionStarted", {"input": value, "roleArn": ROLE_ARN})
        return dataclasses.replace(record, last_event_id=1), [event_record(started)]

    def _redrive(self, record: ExecutionRecord) -> ExecutionRecord:
        from statemachine.durable.runner import event_record
        from statemachine.history import Event

        rt = self.rt
        now = rt.clock.now()
        count = record.redrive_count + 1
        event = Event(record.last_event_id + 1, record.last_event_id, now, "ExecutionRedriven",
                      {"redriveCount": count})
        when = datetime.fromtimestamp(now, UTC)
        update = ExecutionUpdate(status="RUNNING", stop_date=None, output=None, error=None,
                                 cause=None, redrive_count=count, redrive_status=None,
                                 redrive_date=when)
        self._store_call(lambda: rt.store.append(record.arn, [event_record(event)],
                                                 after=record.last_event_id, update=update))
        return dataclasses.replace(record, status="RUNNING", stop_date=None, error=None,
                                   cause=None, redrive_count=count, redrive_status=None,
                                   redrive_date=when, last_event_id=record.last_event_id + 1)

    async def _replay(self, record: ExecutionRecord, machine: CompiledMachine, frame: Frame,
                      value: JSON, history: list[EventRecord] | None) -> JSON:
        from statemachine.durable.runner import DurableRuntime

        rt = self.rt
        unsaved = history[0] if history is not None else None
        if history is None:
            history = self._store_call(rt.store.history, record.arn)
        child = DurableRuntime(
            store=rt.store, record=record, lease=None, history=history,
            handlers_by_resource=rt._real, clock=rt.clock, rng=random.Random(record.seed),
            on_event=None, data_limit=rt.data_limit, arn=record.arn,
            history_limit=rt.history_limit, max_duration=rt.max_duration,
            hold_callbacks=False, execution_ctx=rt.execution_ctx, machine_ctx=rt.machine_ctx,
            parent=rt)
        child.started = rt.started
        child._threads = rt._threads
        child.unsaved = unsaved
        top = Frame(dict(frame.variables), 1, False, ())  # ExecutionStarted is event 1
        rt.children.add(child)  # parked or suspended, it stays: the parent commits it
        try:
            output = await run_machine(child, machine, top, value)
        except StatesError as failure:
            details = {k: v for k, v in (("error", failure.name), ("cause", failure.cause)) if v}
            self._finish(child, top, "ExecutionFailed", details or None, ExecutionUpdate(
                status="FAILED", error=failure.name or None, cause=failure.cause or None,
                redrive_status="REDRIVABLE_BY_MAP_RUN"))
            raise
        except asyncio.CancelledError:
            if not (rt.frozen or child.frozen):  # a sibling failed, or the parent ended
                self._finish(child, top, "ExecutionAborted", None, ExecutionUpdate(
                    status="ABORTED", redrive_status="REDRIVABLE_BY_MAP_RUN"), previous=0)
            raise
        self._finish(child, top, "ExecutionSucceeded",
                     {"output": output}, ExecutionUpdate(
                         status="SUCCEEDED", output=json.dumps(
                             output, separators=(",", ":"), ensure_ascii=False),
                         redrive_status="NOT_REDRIVABLE"))
        return output

    def _finish(self, child: DurableRuntime, top: Frame, type: str,
                details: dict[str, Any] | None, update: ExecutionUpdate,
                previous: int | None = None) -> None:
        """Record the child's terminal event and status (one commit)."""
        event = child.emit_final(top, type, details, previous=previous)
        update = dataclasses.replace(update, stop_date=datetime.fromtimestamp(
            event.timestamp, UTC))
        try:
            child.flush(update=update)
            self.rt.children.discard(child)
        except (EventConflict, LeaseLost):  # stopped (its parent's StopExecution) meanwhile
            self.rt.suspend(lost=True)
            raise asyncio.CancelledError("lost to another writer") from None
        except StoreError as error:
            self.rt.suspend(error)
            raise asyncio.CancelledError("store failure") from None


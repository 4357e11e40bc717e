"""Durable store, contract: the records a store keeps and the ``DurableStore`` protocol.

In: frozen records (``MachineRecord``, ``ExecutionRecord``, ``EventRecord``,
``TaskTokenRecord``, ``TimerRecord``) and the caller's clock (``now``). Out: the same records,
read back exactly, and ``Lease``/``Claim`` objects for the worker that holds an execution.

Conventions every backend keeps (tests/durable/test_store_contract.py checks them):

- **Times** are timezone-aware ``datetime`` objects (UTC on the way out), kept to the
  microsecond. A naive datetime raises ``ValueError``. The store never reads a clock: every
  call that depends on time takes ``now`` from the caller, so virtual time works and tests
  need no waiting. Workers on several hosts need clocks kept in step (NTP); choose lease
  durations far above the skew.
- **Payloads are JSON text** (execution input and output, event bodies, task outputs): the
  store never parses them, and gives back the very string it was given.
- **One transaction per call.** Each method either does all it says or nothing.
- **The event log is append-only**, numbered 1..N per execution with no gap. ``append``
  names the last id the writer saw (``after``); if another writer got there first the call
  raises ``EventConflict`` and writes nothing, so two writers never interleave.
- **Leases** say which worker advances an execution until when. A worker gets one from
  ``claim_due`` (due timers, or a lease whose holder died) or ``acquire_lease``; it renews
  it while working and releases it when it parks. Each new lease bumps ``epoch``; a write
  that names an older lease raises ``LeaseLost`` (fencing).
- **Timers** wake a parked execution: an execution with no live lease and a timer whose
  ``due`` has come is claimable. Answering a task token (``close_task_token``) adds a
  ``callback`` timer due at once, in the same transaction. The worker deletes the timers it
  handled in its next ``append`` (``cancel_timers``).
- **Failures**: ``StoreUnavailable`` (transient, retry) and the other errors of
  ``statemachine.durable.errors``; never a workflow error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal, Protocol, TypeAlias

from statemachine.values import MISSING, Missing

__all__ = [
    "EXECUTION_STATUSES",
    "TOKEN_STATUSES",
    "Claim",
    "DurableStore",
    "EventRecord",
    "ExecutionRecord",
    "ExecutionUpdate",
    "Lease",
    "MachineRecord",
    "MapRunRecord",
    "MapRunUpdate",
    "ScheduleRecord",
    "TaskTokenRecord",
    "TimerKind",
    "TimerRecord",
    "version_hash",
]

#: Execution statuses, as AWS DescribeExecution spells them.
EXECUTION_STATUSES: Final = (
    "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE",
)
#: Task token statuses: WAITING until answered (SUCCEEDED/FAILED), timed out or cancelled.
TOKEN_STATUSES: Final = ("WAITING", "SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED")

#: Why a timer wakes its execution: ``start`` (a new or redriven execution is ready),
#: ``wait`` (a Wait state ends), ``retry`` (a retry backoff ends), ``timeout`` (a state's,
#: a heartbeat's or the execution's deadline), ``callback`` (a task token was answered).
TimerKind: TypeAlias = Literal["start", "wait", "retry", "timeout", "callback"]

MachineType: TypeAlias = Literal["STANDARD", "EXPRESS"]


def version_hash(definition: str) -> str:
    """The version of a definition text: its SHA-256, 64 lowercase hex digits."""
    return hashlib.sha256(definition.encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class MachineRecord:
    """One version of a state machine. ``(arn, version)`` is unique; ``revision`` counts the
    versions of one ARN from 1 in the order they were stored (the newest is the current one).
    """

    arn: str
    name: str
    definition: str           # the definition text as loaded (JSON or YAML)
    version: str              # version_hash(definition)
    type: MachineType
    created: datetime
    revision: int = 1
    source: str | None = None  # the file it was loaded from (relative resources resolve there)


@dataclasses.dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """One execution's row (its history is in the event log).

    ``input``/``output`` are JSON text. ``seed`` seeds the execution's random source, so
    values drawn at random come back the same when it resumes. ``last_event_id`` is the id of
    its newest event (0 before the first); the store maintains it. A Distributed Map's child
    execution names the execution that ran the Map (``parent_arn``), its Map Run
    (``map_run_arn``) and how many items it processed (``item_count``, a batch's size).
    """

    arn: str
    name: str
    machine_arn: str
    machine_version: str
    input: str
    start_date: datetime
    status: str = "RUNNING"
    stop_date: datetime | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    redrive_count: int = 0
    redrive_status: str | None = None      # AWS: REDRIVABLE, NOT_REDRIVABLE, ...
    redrive_date: datetime | None = None
    seed: int = 0                          # 0 <= seed < 2**63 (a BIGINT column)
    parent_arn: str | None = None
    last_event_id: int = 0
    map_run_arn: str | None = None
    item_count: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ExecutionUpdate:
    """Fields of an execution row to change in an ``append``: MISSING leaves a field as it
    is, ``None`` clears it."""

    status: str | Missing = MISSING
    stop_date: datetime | Missing | None = MISSING
    output: str | Missing | None = MISSING
    error: str | Missing | None = MISSING
    cause: str | Missing | None = MISSING
    redrive_count: int | Missing = MISSING
    redrive_status: str | Missing | None = MISSING
    redrive_date: datetime | Missing | None = MISSING

    def fields(self) -> dict[str, Any]:
        """The fields that are set, by name."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if getattr(self, field.name) is not MISSING
        }


@dataclasses.dataclass(frozen=True, slots=True)
class MapRunRecord:
    """A Distributed Map run (AWS's Map Run): started by ``execution_arn`` (whose state
    machine is ``machine_arn``), its configuration as DescribeMapRun reports it (0 where the
    state sets none) and the number of items and child executions it has to run. Its
    children are executions whose ``map_run_arn`` is ``arn``; ``redrive_count`` counts the
    redrives of the parent execution that ran it again."""

    arn: str
    execution_arn: str
    machine_arn: str
    start_date: datetime
    status: str = "RUNNING"                # RUNNING, SUCCEEDED, FAILED, ABORTED
    stop_date: datetime | None = None
    max_concurrency: int = 0
    tolerated_failure_percentage: float = 0.0
    tolerated_failure_count: int = 0
    item_total: int = 0
    execution_total: int = 0
    results_written: int = 0
    redrive_count: int = 0
    redrive_date: datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class MapRunUpdate:
    """Fields of a map run to change (``update_map_run``): MISSING leaves a field as it is."""

    status: str | Missing = MISSING
    stop_date: datetime | Missing | None = MISSING
    item_total: int | Missing = MISSING
    execution_total: int | Missing = MISSING
    results_written: int | Missing = MISSING
    redrive_count: int | Missing = MISSING
    redrive_date: datetime | Missing | None = MISSING

    def fields(self) -> dict[str, Any]:
        """The fields that are set, by name."""
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if getattr(self, field.name) is not MISSING
        }


@dataclasses.dataclass(frozen=True, slots=True)
class EventRecord:
    """One history event. ``id`` runs 1..N within its execution; ``type`` is AWS's event
    type ("TaskStateEntered"); ``body`` is the JSON text of an object holding everything else
    (``previousEventId``, the ``<x>EventDetails``, and engine keys such as the branch path).
    """

    id: int
    type: str
    timestamp: datetime
    body: str = "{}"

    def to_aws(self) -> dict[str, Any]:
        """The event as GetExecutionHistory shows it: id, type, timestamp, then the body."""
        return {"id": self.id, "type": self.type, "timestamp": self.timestamp,
                **json.loads(self.body)}


@dataclasses.dataclass(frozen=True, slots=True)
class TaskTokenRecord:
    """A task token a ``.waitForTaskToken`` task waits on.

    ``event_id`` is the TaskScheduled event that issued it. ``timeout_at`` and
    ``heartbeat_at`` are deadlines (None: none); a heartbeat moves ``heartbeat_at`` to
    ``now + heartbeat_seconds``. ``output`` (JSON text) or ``error``/``cause`` hold the
    answer; ``closed_at`` says when it stopped waiting.
    """

    token: str
    execution_arn: str
    state_name: str
    event_id: int
    created: datetime
    status: str = "WAITING"
    timeout_at: datetime | None = None
    heartbeat_seconds: int | None = None
    heartbeat_at: datetime | None = None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    closed_at: datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class TimerRecord:
    """A wake-up of one execution at ``due``. ``key`` is the caller's name for it, unique
    per execution (storing the same key again moves the timer)."""

    execution_arn: str
    key: str
    kind: TimerKind
    due: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """An EventBridge Scheduler-style schedule that starts ``target_arn`` (a stored state
    machine) with ``input`` (JSON text). ``(group_name, name)`` is unique. ``expression`` and
    ``timezone`` are AWS's ScheduleExpression and ScheduleExpressionTimezone; ``window_minutes``
    is FlexibleTimeWindow's MaximumWindowInMinutes (None: Mode OFF). ``next_fire`` is the next
    instant it is due (None: it will not fire again), ``last_fire`` the last instant fired;
    both move together through ``advance_schedule``.
    """

    name: str
    group_name: str
    expression: str
    timezone: str
    target_arn: str
    input: str
    created: datetime
    modified: datetime
    state: str = "ENABLED"                 # ENABLED | DISABLED
    window_minutes: int | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    description: str | None = None
    next_fire: datetime | None = None
    last_fire: datetime | None = None
    action_after_completion: str = "NONE"  # DELETE: removed once it will fire no more


@dataclasses.dataclass(frozen=True, slots=True)
class Lease:
    """Worker ``owner`` advances ``execution_arn`` until ``until``. ``epoch`` grows by one
    with every new lease of the execution, so a stale holder is told apart (fencing)."""

    execution_arn: str
    owner: str
    epoch: int
    until: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Claim:
    """Work handed to a worker by ``claim_due``: the lease, the timers that were due
    (oldest first), and ``recovered`` (True when the previous holder's lease lapsed:
    it died or stalled mid-work, so whatever it had in flight may have to run again)."""

    lease: Lease
    due: tuple[TimerRecord, ...]
    recovered: bool


class DurableStore(Protocol):
    """The source of truth for durable executions. Every backend (SQLite, PostgreSQL) keeps
    this contract; each method is one transaction and may raise ``StoreUnavailable``.
    Instances are safe to share between threads; processes each open their own.
    """

    @property
    def schema_version(self) -> int:
        """The schema version of the open database (after migrations)."""
        ...

    def close(self) -> None:
        """Release the connection; the store is unusable afterwards."""
        ...

    # -- state machines ---------------------------------------------------------------
    def put_machine(self, arn: str, name: str, definition: str, *, type: MachineType,
                    now: datetime, source: str | None = None) -> MachineRecord:
        """Store a version of a machine and return it. A text already stored for this ARN
        returns the existing record (same version, revision and ``created``). ``source``:
        the path of the file the text came from (kept with the first store of a version)."""
        ...

    def machine(self, arn: str, version: str | None = None) -> MachineRecord | None:
        """A version of a machine (the newest revision when ``version`` is None), or None."""
        ...

    def machines(self) -> list[MachineRecord]:
        """The newest revision of every machine, by ARN."""
        ...

    # -- executions -------------------------------------------------------------------
    def create_execution(self, record: ExecutionRecord, *, events: Sequence[EventRecord] = (),
                         ready: bool = True) -> ExecutionRecord:
        """Insert an execution, with its first events (ids 1..n). ``ready`` adds a ``start``
        timer due at ``record.start_date`` so a worker picks it up. Returns the stored record.
        Raises ExecutionExists (with ``.existing``) when the ARN is taken; ValueError when
        event ids do not run 1..n."""
        ...

    def execution(self, execution_arn: str) -> ExecutionRecord | None:
        """The execution's record, or None."""
        ...

    def executions(self, *, status: str | None = None, machine_arn: str | None = None,
                   parent_arn: str | None = None, map_run_arn: str | None = None,
                   redriven: bool | None = None, top_level: bool = False,
                   limit: int | None = None, payloads: bool = True) -> list[ExecutionRecord]:
        """Executions matching every filter given, newest start first, at most ``limit``.
        ``redriven``: True for those redriven at least once, False for the others;
        ``top_level``: leave out Distributed Map child executions. ``payloads=False``: the
        records come without their payloads, ``input`` ``""`` and ``output`` None (a
        listing that shows neither, such as ListExecutions, reads no payload)."""
        ...

    # -- Distributed Map runs ---------------------------------------------------------
    def put_map_run(self, record: MapRunRecord) -> MapRunRecord:
        """Store a map run unless its ARN is stored already; returns the stored record
        (the existing one, unchanged, when there was one)."""
        ...

    def update_map_run(self, map_run_arn: str, update: MapRunUpdate) -> None:
        """Change a map run's fields. Raises ExecutionNotFound when it is not stored."""
        ...

    def map_run(self, map_run_arn: str) -> MapRunRecord | None:
        """The map run's record, or None."""
        ...

    def map_runs(self, execution_arn: str) -> list[MapRunRecord]:
        """The map runs an execution started, oldest first."""
        ...

    def map_run_counts(self, map_run_arn: str) -> dict[str, tuple[int, int]]:
        """The map run's child executions by status: ``{status: (executions, items)}``
        (a child without ``item_count`` counts one item)."""
        ...

    # -- the event log ----------------------------------------------------------------
    def append(self, execution_arn: str, events: Sequence[EventRecord], *, after: int,
               lease: Lease | None = None, update: ExecutionUpdate | None = None,
               tokens: Sequence[TaskTokenRecord] = (), timers: Sequence[TimerRecord] = (),
               cancel_timers: Sequence[str] | Literal["all"] = (),
               release: bool = False) -> int:
        """Commit an execution's progress atomically and return its new last event id.

        ``events`` must carry ids ``after+1, after+2, ...``; ``after`` is the last id the
        writer saw. With ``lease``, the write requires that lease still to be the
        execution's (same owner and epoch; a lapsed lease still writes until another worker
        claims the execution), and ``release`` lets it go in the same transaction. Without
        a lease (a stop request from another process), only ``after`` guards the write. ``update`` changes the execution row; ``tokens`` are new WAITING task
        tokens; ``timers`` are stored (replacing same-key timers), ``cancel_timers`` deleted
        by key (``"all"``: every timer of the execution; applied before ``timers``).

        Raises EventConflict (``after`` is stale), LeaseLost, ExecutionNotFound, ValueError
        (ids not consecutive from ``after+1``; a record of another execution).
        """
        ...

    def history(self, execution_arn: str, *, after: int = 0, limit: int | None = None
                ) -> list[EventRecord]:
        """Events with id > ``after``, in id order, at most ``limit``."""
        ...

    # -- task tokens ------------------------------------------------------------------
    def task_token(self, token: str) -> TaskTokenRecord | None:
        """The token's record, or None."""
        ...

    def task_tokens(self, execution_arn: str, *, status: str | None = None
                    ) -> list[TaskTokenRecord]:
        """The tokens of one execution (optionally of one status), in event order."""
        ...

    def close_task_token(self, token: str, status: str, *, now: datetime,
                         output: str | None = None, error: str | None = None,
                         cause: str | None = None, wake: bool = True) -> TaskTokenRecord:
        """Stop a WAITING token: answer it (SUCCEEDED with ``output``, FAILED with
        ``error``/``cause``) or end it (TIMED_OUT, CANCELLED). ``wake`` adds a ``callback``
        timer (key ``callback:<token>``) due at ``now``. Returns the updated record.

        Raises TaskTokenNotFound; TaskTokenClosed when it no longer waits, or when it is
        answered (SUCCEEDED/FAILED) at or after one of its deadlines (``.status`` TIMED_OUT);
        ValueError for a status not in TOKEN_STATUSES or WAITING.
        """
        ...

    def heartbeat_task_token(self, token: str, *, now: datetime) -> TaskTokenRecord:
        """Record a heartbeat: ``heartbeat_at = now + heartbeat_seconds``. Raises like
        ``close_task_token``."""
        ...

    # -- timers -----------------------------------------------------------------------
    def timers(self, execution_arn: str) -> list[TimerRecord]:
        """The execution's timers, earliest due first."""
        ...

    def next_wakeup(self) -> datetime | None:
        """When ``claim_due`` will next find work, as the store stands: the earliest due
        timer of an unleased execution or the earliest lease end (maybe in the past: claim
        now). None: nothing will ever fall due without a new write. A worker sleeps until
        then, bounded by its polling interval (writes by other processes wake no one)."""
        ...

    # -- leases -----------------------------------------------------------------------
    def claim_due(self, owner: str, *, now: datetime, lease_seconds: float,
                  limit: int = 1, exclude: Sequence[str] = ()) -> list[Claim]:
        """Atomically lease up to ``limit`` executions that need a worker: those with a
        timer due at ``now`` and no lease, and those whose lease lapsed. Concurrent
        claimers never get the same execution. No order is promised among them. ``owner``
        names one worker process and must be unique to it (host, pid, a random part), since
        a lease is matched by owner and epoch. The status
        is not looked at: a stray timer may hand over a finished execution, which the
        worker cleans up (``cancel_timers="all"``, ``release``). ``exclude``: executions
        the caller is advancing right now (a worker whose loop stalled past its lease must
        not claim its own execution a second time: it renews the lapsed lease instead)."""
        ...

    def acquire_lease(self, execution_arn: str, owner: str, *, now: datetime,
                      lease_seconds: float) -> Lease:
        """Lease one execution (the process that started it runs it at once). Raises
        LeaseHeld if another live lease exists, ExecutionNotFound."""
        ...

    def renew_lease(self, lease: Lease, *, now: datetime, lease_seconds: float) -> Lease:
        """Extend a lease to ``now + lease_seconds``. Works after it lapsed as long as no one
        took it over; raises LeaseLost otherwise."""
        ...

    def renew_leases(self, owner: str, execution_arns: Sequence[str], *, now: datetime,
                     lease_seconds: float) -> set[str]:
        """``renew_lease`` for many executions in one statement (a worker's lease keeper):
        extend to ``now + lease_seconds`` the leases ``owner`` still holds on
        ``execution_arns`` (lapsed ones too, if no one took them over). Returns the ARNs
        renewed; the others were released or taken over."""
        ...

    def release_lease(self, lease: Lease) -> bool:
        """Let the execution go (it stays claimable through its timers). False if the lease
        was no longer held (nothing changed)."""
        ...

    def lease(self, execution_arn: str) -> Lease | None:
        """The execution's current lease (live or lapsed), or None."""
        ...

    # -- schedules --------------------------------------------------------------------
    def create_schedule(self, record: ScheduleRecord) -> ScheduleRecord:
        """Insert a schedule. Raises ScheduleExists when its group already holds the name."""
        ...

    def put_schedule(self, record: ScheduleRecord) -> ScheduleRecord:
        """Replace an existing schedule's row (UpdateSchedule). Raises ScheduleNotFound."""
        ...

    def schedule(self, group_name: str, name: str) -> ScheduleRecord | None:
        """One schedule, or None."""
        ...

    def schedules(self, *, group_name: str | None = None) -> list[ScheduleRecord]:
        """Every schedule (of one group), by group and name."""
        ...

    def delete_schedule(self, group_name: str, name: str) -> bool:
        """Delete a schedule; False when there was none."""
        ...

    def advance_schedule(self, group_name: str, name: str, *, expected: datetime | None,
                         next_fire: datetime | None, last_fire: datetime | None) -> bool:
        """Compare-and-set the schedule's fire times: only when its ``next_fire`` still is
        ``expected`` (so of two schedulers that fired the same instant one moves it on).
        False when it had moved (or the schedule is gone)."""
        ...

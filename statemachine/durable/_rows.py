"""Durable store, rows: how records become SQL parameters and rows become records.

In: the contract's records (contract.py) and rows fetched by ``Tx.run``. Out: parameter
tuples in column order, and records. Also the two driver-neutral protocols the shared SQL
code (``_sql.py``) runs on, ``Tx`` and ``Rows``, and the time encoding of every table:
BIGINT microseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from statemachine.durable.contract import (
    EventRecord,
    ExecutionRecord,
    Lease,
    MachineRecord,
    MapRunRecord,
    ScheduleRecord,
    TaskTokenRecord,
    TimerKind,
    TimerRecord,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
Row = tuple[Any, ...]


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch. Raises ValueError for a naive datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"the durable store needs timezone-aware datetimes, got {moment!r}")
    return (moment - _EPOCH) // _US


def from_us(micros: int) -> datetime:
    """The aware UTC datetime of ``micros`` microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def opt_us(moment: datetime | None) -> int | None:
    """``to_us`` that passes None through."""
    return None if moment is None else to_us(moment)


def opt_dt(micros: int | None) -> datetime | None:
    """``from_us`` that passes None through."""
    return None if micros is None else from_us(micros)


class Rows(Protocol):
    """What a statement returns: DB-API cursor methods both drivers have."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Row | None: ...

    def fetchall(self) -> list[Row]: ...


class Tx(Protocol):
    """One open transaction (or, for reads, an autocommit connection)."""

    def run(self, sql: str, params: Sequence[object] = ()) -> Rows: ...

    def many(self, sql: str, rows: Sequence[Sequence[object]]) -> None: ...


#: Column lists, in the order of the *_params tuples and the *_from_row readers.
#: ``EXEC_COLS`` is read from ``EXEC_FROM`` (input and output live in execution_payloads,
#: written once each, so the row the leases and appends update stays small);
#: ``EXEC_ROW_COLS`` are the executions table's own, in the order of ``execution_params``.
EXEC_COLS = ("arn, name, machine_arn, machine_version, input, start_us, status, stop_us, "
             "output, error, cause, redrive_count, redrive_status, redrive_us, seed, "
             "parent_arn, last_event_id, map_run_arn, item_count")
EXEC_FROM = "executions JOIN execution_payloads ON execution_arn = arn"
#: ``EXEC_COLS`` read from executions alone: input ``''``, output NULL
EXEC_COLS_NO_PAYLOADS = EXEC_COLS.replace("input,", "'' AS input,").replace(
    "output,", "NULL AS output,")
EXEC_ROW_COLS = ("arn, name, machine_arn, machine_version, start_us, status, stop_us, "
                 "error, cause, redrive_count, redrive_status, redrive_us, seed, "
                 "parent_arn, last_event_id, map_run_arn, item_count, wake_us")
MAP_RUN_COLS = ("arn, execution_arn, machine_arn, start_us, status, stop_us, max_concurrency, "
                "tolerated_failure_percentage, tolerated_failure_count, item_total, "
                "execution_total, results_written, redrive_count, redrive_us")
#: MapRunUpdate field -> (column, is a datetime)
MAP_RUN_UPDATE_COLUMNS: dict[str, tuple[str, bool]] = {
    "status": ("status", False), "stop_date": ("stop_us", True),
    "item_total": ("item_total", False), "execution_total": ("execution_total", False),
    "results_written": ("results_written", False), "redrive_count": ("redrive_count", False),
    "redrive_date": ("redrive_us", True),
}
TOKEN_COLS = ("token, execution_arn, state_name, event_id, created_us, status, timeout_us, "
              "heartbeat_seconds, heartbeat_us, output, error, cause, closed_us")
MACHINE_COLS = "arn, name, definition, version, type, created_us, revision, source"
SCHEDULE_COLS = ("group_name, name, expression, timezone, target_arn, input, state, "
                 "window_minutes, start_us, end_us, description, created_us, modified_us, "
                 "next_fire_us, last_fire_us, action_after_completion")
#: ExecutionUpdate field -> (column of executions, is a datetime); ``output`` is
#: execution_payloads.output
UPDATE_COLUMNS: dict[str, tuple[str, bool]] = {
    "status": ("status", False), "stop_date": ("stop_us", True),
    "error": ("error", False), "cause": ("cause", False),
    "redrive_count": ("redrive_count", False), "redrive_status": ("redrive_status", False),
    "redrive_date": ("redrive_us", True),
}


def machine_from_row(row: Row) -> MachineRecord:
    return MachineRecord(arn=row[0], name=row[1], definition=row[2], version=row[3],
                         type=row[4], created=from_us(row[5]), revision=row[6],
                         source=row[7])


def execution_from_row(row: Row) -> ExecutionRecord:
    return ExecutionRecord(
        arn=row[0], name=row[1], machine_arn=row[2], machine_version=row[3], input=row[4],
        start_date=from_us(row[5]), status=row[6], stop_date=opt_dt(row[7]), output=row[8],
        error=row[9], cause=row[10], redrive_count=row[11], redrive_status=row[12],
        redrive_date=opt_dt(row[13]), seed=row[14], parent_arn=row[15],
        last_event_id=row[16], map_run_arn=row[17], item_count=row[18])


def map_run_from_row(row: Row) -> MapRunRecord:
    return MapRunRecord(
        arn=row[0], execution_arn=row[1], machine_arn=row[2], start_date=from_us(row[3]),
        status=row[4], stop_date=opt_dt(row[5]), max_concurrency=row[6],
        tolerated_failure_percentage=float(row[7]), tolerated_failure_count=row[8],
        item_total=row[9], execution_total=row[10], results_written=row[11],
        redrive_count=row[12], redrive_date=opt_dt(row[13]))


def map_run_params(r: MapRunRecord) -> tuple[object, ...]:
    return (r.arn, r.execution_arn, r.machine_arn, to_us(r.start_date), r.status,
            opt_us(r.stop_date), r.max_concurrency, r.tolerated_failure_percentage,
            r.tolerated_failure_count, r.item_total, r.execution_total, r.results_written,
            r.redrive_count, opt_us(r.redrive_date))


def token_from_row(row: Row) -> TaskTokenRecord:
    return TaskTokenRecord(
        token=row[0], execution_arn=row[1], state_name=row[2], event_id=row[3],
        created=from_us(row[4]), status=row[5], timeout_at=opt_dt(row[6]),
        heartbeat_seconds=row[7], heartbeat_at=opt_dt(row[8]), output=row[9], error=row[10],
        cause=row[11], closed_at=opt_dt(row[12]))


def timer_from_row(row: Row) -> TimerRecord:
    kind: TimerKind = row[2]
    return TimerRecord(execution_arn=row[0], key=row[1], kind=kind, due=from_us(row[3]))


def check_ids(events: Sequence[EventRecord], after: int) -> None:
    """ValueError unless the events are numbered ``after+1, after+2, ...``."""
    for offset, event in enumerate(events, 1):
        if event.id != after + offset:
            raise ValueError(f"event ids must run on from {after + 1} without a gap; "
                             f"event {offset} has id {event.id}")


def replace_last(record: ExecutionRecord, last_event_id: int) -> ExecutionRecord:
    """The record as stored: its last event id set to the number of first events."""
    return dataclasses.replace(record, last_event_id=last_event_id)


def execution_params(r: ExecutionRecord, wake_us: int | None) -> tuple[object, ...]:
    """The executions row of ``r`` (``EXEC_ROW_COLS``; its payloads are not in it) with
    ``wake_us``, its earliest timer's due time (None: none)."""
    return (r.arn, r.name, r.machine_arn, r.machine_version, to_us(r.start_date),
            r.status, opt_us(r.stop_date), r.error, r.cause, r.redrive_count,
            r.redrive_status, opt_us(r.redrive_date), r.seed, r.parent_arn, r.last_event_id,
            r.map_run_arn, r.item_count, wake_us)


def token_params(t: TaskTokenRecord) -> tuple[object, ...]:
    return (t.token, t.execution_arn, t.state_name, t.event_id, to_us(t.created), t.status,
            opt_us(t.timeout_at), t.heartbeat_seconds, opt_us(t.heartbeat_at), t.output,
            t.error, t.cause, opt_us(t.closed_at))


def check_owned(execution_arn: str, lease: Lease | None, tokens: Sequence[TaskTokenRecord],
                timers: Sequence[TimerRecord]) -> None:
    """ValueError unless every record of an append belongs to its execution."""
    owners = [record.execution_arn for record in tokens]
    owners += [record.execution_arn for record in timers]
    if lease is not None:
        owners.append(lease.execution_arn)
    for owner in owners:
        if owner != execution_arn:
            raise ValueError(f"a record of '{owner}' in an append to '{execution_arn}'")


def schedule_params(r: ScheduleRecord) -> tuple[object, ...]:
    return (r.group_name, r.name, r.expression, r.timezone, r.target_arn, r.input, r.state,
            r.window_minutes, opt_us(r.start_date), opt_us(r.end_date), r.description,
            to_us(r.created), to_us(r.modified), opt_us(r.next_fire), opt_us(r.last_fire),
            r.action_after_completion)


def schedule_from_row(row: Row) -> ScheduleRecord:
    return ScheduleRecord(
        group_name=row[0], name=row[1], expression=row[2], timezone=row[3], target_arn=row[4],
        input=row[5], state=row[6], window_minutes=row[7], start_date=opt_dt(row[8]),
        end_date=opt_dt(row[9]), description=row[10], created=from_us(row[11]),
        modified=from_us(row[12]), next_fire=opt_dt(row[13]), last_fire=opt_dt(row[14]),
        action_after_completion=row[15])

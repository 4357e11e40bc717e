"""Durable store, shared SQL: the ``DurableStore`` contract written once over a small
transaction interface that each backend (sqlite.py, postgres.py) provides.

In: contract calls. Out: SQL statements through ``Tx`` (_rows.py) and records built from rows.
Statements use ``?`` placeholders; a backend rewrites them for its driver (``_q``). The two
dialect differences that matter are hooks: how a write transaction begins and locks
(``_transaction``), and the locking clause of the claim query (``_CLAIM_LOCK``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import ClassVar, Literal

from statemachine.durable import _events, migrations
from statemachine.durable._events import Entry, EventValues, storable
from statemachine.durable._rows import (
    EXEC_COLS,
    EXEC_COLS_NO_PAYLOADS,
    EXEC_FROM,
    EXEC_ROW_COLS,
    MACHINE_COLS,
    MAP_RUN_COLS,
    MAP_RUN_UPDATE_COLUMNS,
    SCHEDULE_COLS,
    TOKEN_COLS,
    UPDATE_COLUMNS,
    Row,
    Tx,
    check_ids,
    check_owned,
    execution_from_row,
    execution_params,
    from_us,
    machine_from_row,
    map_run_from_row,
    map_run_params,
    opt_us,
    replace_last,
    schedule_from_row,
    schedule_params,
    timer_from_row,
    to_us,
    token_from_row,
    token_params,
)
from statemachine.durable.catalog import CatalogSql
from statemachine.durable.contract import (
    TOKEN_STATUSES,
    Claim,
    EventRecord,
    ExecutionRecord,
    ExecutionUpdate,
    Lease,
    MachineRecord,
    MachineType,
    MapRunRecord,
    MapRunUpdate,
    ScheduleRecord,
    TaskTokenRecord,
    TimerRecord,
    version_hash,
)
from statemachine.durable.errors import (
    EventConflict,
    ExecutionExists,
    ExecutionNotFound,
    LeaseHeld,
    LeaseLost,
    ScheduleExists,
    ScheduleNotFound,
    StoreError,
    TaskTokenClosed,
    TaskTokenNotFound,
)
from statemachine.durable.migrations import Dialect
from statemachine.values import MISSING

# Executions needing a worker: no lease and a due timer (wake_us caches the earliest timer of
# each execution), or a lapsed lease. Each half has its partial index (executions_by_wake,
# executions_by_lease), so a claim costs the same with a million parked executions.
_CLAIM = ("SELECT arn, lease_until_us, lease_epoch FROM executions "
          "WHERE ((lease_until_us IS NULL AND wake_us <= ?) OR lease_until_us <= ?){} LIMIT ?")
_REFRESH_WAKE = ("UPDATE executions SET wake_us = (SELECT MIN(due_us) FROM timers "
                 "WHERE execution_arn = ?) WHERE arn = ?")
_NOT_EXPIRED = ("(timeout_us IS NULL OR timeout_us > ?) "
                "AND (heartbeat_us IS NULL OR heartbeat_us > ?)")


class SqlStore(CatalogSql):
    """The contract over SQL. Subclasses provide ``_transaction`` and the driver hooks."""

    #: Appended to the claim query (PostgreSQL: FOR UPDATE SKIP LOCKED).
    _CLAIM_LOCK: ClassVar[str] = ""
    #: Appended to a read of one execution row that a write follows (PostgreSQL: FOR UPDATE).
    _ROW_LOCK: ClassVar[str] = ""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._version = 0
        self._closed = False

    def _check_open(self) -> None:
        """StoreError once ``close()`` was called (a bug in the caller)."""
        if self._closed:
            raise StoreError(f"{self!r} is closed")

    # -- backend hooks ----------------------------------------------------------------
    def _transaction(self, write: bool) -> AbstractContextManager[Tx]:
        """An open transaction (``write``: serialised against other writers), translating
        driver errors into StoreError."""
        raise NotImplementedError

    def _is_unique_violation(self, error: BaseException) -> bool:
        raise NotImplementedError

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return self._version

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError

    def _read_version(self) -> int | None:
        """The version recorded in ``schema_version``; None when the table is missing."""
        raise NotImplementedError

    def _migrate(self, where: str, dialect: Dialect, prologue: Sequence[str] = ()) -> None:
        """Bring the database to ``migrations.latest()``: a write-free check when it is
        there; otherwise one write transaction that runs ``prologue`` (locks), re-reads the
        version and applies the pending steps. Raises SchemaTooNew (``where`` names the
        database) before writing anything."""
        found = self._read_version()
        if found is not None:
            migrations.pending(found, where)
        if found == migrations.latest():
            self._version = found
            return
        with self._transaction(write=True) as tx:
            for statement in prologue:
                tx.run(statement)
            tx.run("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = tx.run("SELECT version FROM schema_version").fetchone()
            found = 0 if row is None else int(row[0])
            steps = migrations.pending(found, where)
            for step in steps:
                for statement in step.for_dialect(dialect):
                    tx.run(statement)
            target = steps[-1].version if steps else found
            if row is None:
                tx.run("INSERT INTO schema_version (version) VALUES (?)", (target,))
            else:
                tx.run("UPDATE schema_version SET version = ?", (target,))
        self._version = target

    # -- state machines ---------------------------------------------------------------
    def put_machine(self, arn: str, name: str, definition: str, *, type: MachineType,
                    now: datetime, source: str | None = None) -> MachineRecord:
        """See DurableStore.put_machine."""
        version = version_hash(definition)
        for attempt in range(3):  # PostgreSQL: a concurrent put of the same ARN wins a race
            try:
                return self._put_machine(arn, name, definition, version, type, to_us(now),
                                         source)
            except Exception as error:
                if attempt == 2 or not self._is_unique_violation(error):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _put_machine(self, arn: str, name: str, definition: str, version: str,
                     type: MachineType, created_us: int, source: str | None) -> MachineRecord:
        with self._transaction(write=True) as tx:
            found = tx.run(f"SELECT {MACHINE_COLS} FROM machines WHERE arn = ? AND version = ?",
                           (arn, version)).fetchone()
            if found is not None:
                return machine_from_row(found)
            top = tx.run("SELECT MAX(revision) FROM machines WHERE arn = ?", (arn,)).fetchone()
            revision = (top[0] if top is not None and top[0] is not None else 0) + 1
            tx.run("INSERT INTO machines (arn, version, revision, name, type, definition, "
                   "created_us, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (arn, version, revision, name, type, definition, created_us, source))
        return MachineRecord(arn=arn, name=name, definition=definition, version=version,
                             type=type, created=from_us(created_us), revision=revision,
                             source=source)

    def machine(self, arn: str, version: str | None = None) -> MachineRecord | None:
        """See DurableStore.machine."""
        with self._transaction(write=False) as tx:
            if version is None:
                row = tx.run(f"SELECT {MACHINE_COLS} FROM machines WHERE arn = ? "
                             "ORDER BY revision DESC LIMIT 1", (arn,)).fetchone()
            else:
                row = tx.run(f"SELECT {MACHINE_COLS} FROM machines WHERE arn = ? "
                             "AND version = ?", (arn, version)).fetchone()
        return None if row is None else machine_from_row(row)

    def machines(self) -> list[MachineRecord]:
        """See DurableStore.machines."""
        with self._transaction(write=False) as tx:
            rows = tx.run(f"SELECT {MACHINE_COLS} FROM machines m WHERE revision = "
                          "(SELECT MAX(revision) FROM machines n WHERE n.arn = m.arn) "
                          "ORDER BY arn").fetchall()
        return [machine_from_row(row) for row in rows]

    # -- executions -------------------------------------------------------------------
    def create_execution(self, record: ExecutionRecord, *, events: Sequence[EventRecord] = (),
                         ready: bool = True) -> ExecutionRecord:
        """See DurableStore.create_execution."""
        check_ids(events, 0)
        return self.create_execution_rows(
            record, [(e.type, to_us(e.timestamp), e.body) for e in events], ready=ready)

    def create_execution_rows(self, record: ExecutionRecord, rows: Sequence[Entry], *,
                              ready: bool = True) -> ExecutionRecord:
        """``create_execution`` with its first events given as segment entries (ids 1..n;
        see ``append_rows``). Not part of the contract: the SQL backends only."""
        stored = replace_last(record, len(rows))
        # wake_us caches the earliest timer: a new execution's only one is its start
        wake_us = to_us(record.start_date) if ready else None
        with self._transaction(write=True) as tx:
            inserted = tx.run(
                f"INSERT INTO executions ({EXEC_ROW_COLS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (arn) DO NOTHING", execution_params(stored, wake_us)).rowcount
            if inserted == 0:
                existing = tx.run(f"SELECT {EXEC_COLS} FROM {EXEC_FROM} WHERE arn = ?",
                                  (record.arn,)).fetchone()
                raise ExecutionExists(execution_from_row(existing) if existing else stored)
            tx.run("INSERT INTO execution_payloads (execution_arn, input, output) "
                   "VALUES (?, ?, ?)", (record.arn, storable(record.input),
                                        None if record.output is None else storable(record.output)))
            self._insert_events(tx, record.arn, rows, 0)
            if ready:
                self._put_timers(tx, [TimerRecord(record.arn, "start", "start",
                                                  record.start_date)])
        return stored

    def execution(self, execution_arn: str) -> ExecutionRecord | None:
        """See DurableStore.execution."""
        with self._transaction(write=False) as tx:
            row = tx.run(f"SELECT {EXEC_COLS} FROM {EXEC_FROM} WHERE arn = ?",
                         (execution_arn,)).fetchone()
        return None if row is None else execution_from_row(row)

    def executions(self, *, status: str | None = None, machine_arn: str | None = None,
                   parent_arn: str | None = None, map_run_arn: str | None = None,
                   redriven: bool | None = None, top_level: bool = False,
                   limit: int | None = None, payloads: bool = True) -> list[ExecutionRecord]:
        """See DurableStore.executions."""
        where: list[str] = []
        params: list[object] = []
        for column, value in (("status", status), ("machine_arn", machine_arn),
                              ("parent_arn", parent_arn), ("map_run_arn", map_run_arn)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if redriven is not None:
            where.append("redrive_count > 0" if redriven else "redrive_count = 0")
        if top_level:
            where.append("map_run_arn IS NULL")
        sql = (f"SELECT {EXEC_COLS} FROM {EXEC_FROM}" if payloads else
               f"SELECT {EXEC_COLS_NO_PAYLOADS} FROM executions")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY start_us DESC, arn"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self._transaction(write=False) as tx:
            rows = tx.run(sql, params).fetchall()
        return [execution_from_row(row) for row in rows]

    # -- Distributed Map runs ---------------------------------------------------------
    def put_map_run(self, record: MapRunRecord) -> MapRunRecord:
        """See DurableStore.put_map_run."""
        with self._transaction(write=True) as tx:
            tx.run(f"INSERT INTO map_runs ({MAP_RUN_COLS}) VALUES "
                   "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (arn) DO NOTHING",
                   map_run_params(record))
            row = tx.run(f"SELECT {MAP_RUN_COLS} FROM map_runs WHERE arn = ?",
                         (record.arn,)).fetchone()
        return record if row is None else map_run_from_row(row)

    def update_map_run(self, map_run_arn: str, update: MapRunUpdate) -> None:
        """See DurableStore.update_map_run."""
        sets: list[str] = []
        params: list[object] = []
        for name, value in update.fields().items():
            column, is_time = MAP_RUN_UPDATE_COLUMNS[name]
            sets.append(f"{column} = ?")
            params.append(opt_us(value) if is_time else value)
        if not sets:
            return
        with self._transaction(write=True) as tx:
            changed = tx.run(f"UPDATE map_runs SET {', '.join(sets)} WHERE arn = ?",
                             [*params, map_run_arn]).rowcount
        if changed == 0:
            raise ExecutionNotFound(map_run_arn)

    def map_run(self, map_run_arn: str) -> MapRunRecord | None:
        """See DurableStore.map_run."""
        with self._transaction(write=False) as tx:
            row = tx.run(f"SELECT {MAP_RUN_COLS} FROM map_runs WHERE arn = ?",
                         (map_run_arn,)).fetchone()
        return None if row is None else map_run_from_row(row)

    def map_runs(self, execution_arn: str) -> list[MapRunRecord]:
        """See DurableStore.map_runs."""
        with self._transaction(write=False) as tx:
            rows = tx.run(f"SELECT {MAP_RUN_COLS} FROM map_runs WHERE execution_arn = ? "
                          "ORDER BY start_us, arn", (execution_arn,)).fetchall()
        return [map_run_from_row(row) for row in rows]

    def map_run_counts(self, map_run_arn: str) -> dict[str, tuple[int, int]]:
        """See DurableStore.map_run_counts."""
        with self._transaction(write=False) as tx:
            rows = tx.run("SELECT status, COUNT(*), SUM(COALESCE(item_count, 1)) "
                          "FROM executions WHERE map_run_arn = ? GROUP BY status",
                          (map_run_arn,)).fetchall()
        return {row[0]: (int(row[1]), int(row[2] or 0)) for row in rows}

    # -- the event log ----------------------------------------------------------------
    def append(self, execution_arn: str, events: Sequence[EventRecord], *, after: int,
               lease: Lease | None = None, update: ExecutionUpdate | None = None,
               tokens: Sequence[TaskTokenRecord] = (), timers: Sequence[TimerRecord] = (),
               cancel_timers: Sequence[str] | Literal["all"] = (),
               release: bool = False) -> int:
        """See DurableStore.append."""
        check_ids(events, after)
        return self.append_rows(
            execution_arn, [(e.type, to_us(e.timestamp), e.body) for e in events],
            after=after, lease=lease, update=update, tokens=tokens, timers=timers,
            cancel_timers=cancel_timers, release=release)

    def append_rows(self, execution_arn: str, rows: Sequence[Entry], *, after: int,
                    lease: Lease | None = None, update: ExecutionUpdate | None = None,
                    tokens: Sequence[TaskTokenRecord] = (), timers: Sequence[TimerRecord] = (),
                    cancel_timers: Sequence[str] | Literal["all"] = (),
                    release: bool = False) -> int:
        """``append`` of events given as segment entries (_events.py): ``(type, ts_us,
        previous id, details, path)`` for an engine event (the runner's commits: no
        EventRecord, no datetime and no JSON text per event), ``(type, ts_us, body text)``
        otherwise; their ids are ``after+1, after+2, ...``. Not part of the contract: the
        SQL backends only."""
        if tokens or timers or lease is not None:
            check_owned(execution_arn, lease, tokens, timers)
        if release and lease is None:
            raise ValueError("release=True needs the lease to release")
        last = after + len(rows)
        sets = "last_event_id = ?"
        params: list[object] = [last]
        output: object = MISSING  # execution_payloads.output, written at the end
        if update is not None:
            fields = update.fields()
            output = fields.pop("output", MISSING)
            for name, value in fields.items():
                column, is_time = UPDATE_COLUMNS[name]
                sets += f", {column} = ?"
                params.append(opt_us(value) if is_time else value)
        if release:
            sets += ", lease_owner = NULL, lease_until_us = NULL"
        if cancel_timers == "all":  # the timers left are those put: wake_us needs no query
            sets += ", wake_us = ?"
            due = {t.key: to_us(t.due) for t in timers}  # a key put twice: its last due
            params.append(min(due.values(), default=None))
        where = "arn = ? AND last_event_id = ?"
        params += [execution_arn, after]
        if lease is not None:
            where += " AND lease_owner = ? AND lease_epoch = ?"
            params += [lease.owner, lease.epoch]
        if rows and not (tokens or timers or cancel_timers) and output is MISSING:
            done = self._append_statement(execution_arn, rows, after, sets, where, params,
                                          update is None and not release)
            if done is not None:  # one statement did it all (PostgreSQL)
                if not done:
                    with self._transaction(write=True) as tx:
                        self._refuse_append(tx, execution_arn, after, lease)
                return last
        with self._transaction(write=True) as tx:
            changed = tx.run(f"UPDATE executions SET {sets} WHERE {where}", params).rowcount
            if changed == 0:
                self._refuse_append(tx, execution_arn, after, lease)
            self._insert_events(tx, execution_arn, rows, after)
            if output is not MISSING:
                tx.run("UPDATE execution_payloads SET output = ? WHERE execution_arn = ?",
                       (storable(output) if isinstance(output, str) else output, execution_arn))
            if tokens:
                tx.many(f"INSERT INTO task_tokens ({TOKEN_COLS}) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [token_params(token) for token in tokens])
            if cancel_timers == "all":
                tx.run("DELETE FROM timers WHERE execution_arn = ?", (execution_arn,))
            elif cancel_timers:
                tx.many("DELETE FROM timers WHERE execution_arn = ? AND key = ?",
                        [(execution_arn, key) for key in cancel_timers])
            self._put_timers(tx, timers)
            if (timers or cancel_timers) and cancel_timers != "all":
                tx.run(_REFRESH_WAKE, (execution_arn, execution_arn))
        return last

    def _append_statement(self, execution_arn: str, rows: Sequence[Entry], after: int,
                          sets: str, where: str, params: Sequence[object], progress: bool
                          ) -> bool | None:
        """Backend hook: an append of events (no tokens, no timers) as one statement, in a
        transaction of its own -- the compare-and-set ``UPDATE executions SET {sets} WHERE
        {where}`` (``params``) and the inserts of the segments of ``rows`` (ids from
        ``after+1``) when it matched; ``progress``:
        nothing but events (no status change, no release). True: done; False: the
        compare-and-set matched no row (nothing written); None: not done here (the caller
        opens a transaction)."""
        return None

    def _refuse_append(self, tx: Tx, execution_arn: str, after: int,
                       lease: Lease | None) -> None:
        """Raise why the compare-and-set of an append matched no row."""
        row = tx.run("SELECT last_event_id, lease_owner, lease_epoch FROM executions "
                     "WHERE arn = ?", (execution_arn,)).fetchone()
        if row is None:
            raise ExecutionNotFound(execution_arn)
        if lease is not None and (row[1], row[2]) != (lease.owner, lease.epoch):
            raise LeaseLost(execution_arn, lease.owner)
        raise EventConflict(execution_arn, after, row[0])

    def _insert_events(self, tx: Tx, execution_arn: str, rows: Sequence[Entry],
                       after: int) -> None:
        if not rows:
            return
        try:
            tx.many("INSERT INTO event_segments (execution_arn, first_id, last_id, events) "
                    "VALUES (?, ?, ?, ?)", [(execution_arn, *segment) for segment
                                            in _events.segments(rows, after)])
        except Exception as error:  # the primary key is the last line of defence
            if self._is_unique_violation(error):
                raise EventConflict(execution_arn, after, -1) from error
            raise

    def history(self, execution_arn: str, *, after: int = 0, limit: int | None = None
                ) -> list[EventRecord]:
        """See DurableStore.history."""
        return [_events.record(id, entry) for id, entry
                in _events.decode(self._segments(execution_arn, after, limit), after, limit)]

    def history_values(self, execution_arn: str, *, after: int = 0, limit: int | None = None
                       ) -> list[EventValues]:
        """``history`` as ``EventValues`` (_events.py): each engine event's values as stored,
        without making its body's JSON text (the runner's replay, AWS's history shape). Not
        part of the contract: the SQL backends only."""
        return [_events.values(id, entry) for id, entry
                in _events.decode(self._segments(execution_arn, after, limit), after, limit)]

    def _segments(self, execution_arn: str, after: int, limit: int | None) -> list[Row]:
        """``(first_id, events)`` of the segments holding events ``after+1`` on (up to
        ``after+limit``), in order: from the segment that holds ``after+1`` (ids run on
        without a gap, so it is the last one starting at or before it)."""
        sql = ("SELECT first_id, events FROM event_segments WHERE execution_arn = ? AND "
               "first_id >= COALESCE((SELECT MAX(first_id) FROM event_segments WHERE "
               "execution_arn = ? AND first_id <= ?), 0)")
        params: list[object] = [execution_arn, execution_arn, after + 1]
        if limit is not None:
            sql += " AND first_id <= ?"
            params.append(after + limit)
        with self._transaction(write=False) as tx:
            return tx.run(sql + " ORDER BY first_id", params).fetchall()

    # -- task tokens ------------------------------------------------------------------
    def task_token(self, token: str) -> TaskTokenRecord | None:
        """See DurableStore.task_token."""
        with self._transaction(write=False) as tx:
            row = tx.run(f"SELECT {TOKEN_COLS} FROM task_tokens WHERE token = ?",
                         (token,)).fetchone()
        return None if row is None else token_from_row(row)

    def task_tokens(self, execution_arn: str, *, status: str | None = None
                    ) -> list[TaskTokenRecord]:
        """See DurableStore.task_tokens."""
        sql = f"SELECT {TOKEN_COLS} FROM task_tokens WHERE execution_arn = ?"
        params = [execution_arn]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        with self._transaction(write=False) as tx:
            rows = tx.run(sql + " ORDER BY event_id, token", params).fetchall()
        return [token_from_row(row) for row in rows]

    def close_task_token(self, token: str, status: str, *, now: datetime,
                         output: str | None = None, error: str | None = None,
                         cause: str | None = None, wake: bool = True) -> TaskTokenRecord:
        """See DurableStore.close_task_token."""
        if status not in TOKEN_STATUSES or status == "WAITING":
            raise ValueError(f"a task token closes as one of {TOKEN_STATUSES[1:]}, not {status!r}")
        at = to_us(now)
        sql = ("UPDATE task_tokens SET status = ?, output = ?, error = ?, cause = ?, "
               "closed_us = ? WHERE token = ? AND status = 'WAITING'")
        params: list[object] = [status, output, error, cause, at, token]
        if status in ("SUCCEEDED", "FAILED"):  # an answer after a deadline is too late
            sql += " AND " + _NOT_EXPIRED
            params += [at, at]
        with self._transaction(write=True) as tx:
            if tx.run(sql, params).rowcount == 0:
                self._refuse_token(tx, token)
            record = self._read_token(tx, token)
            if wake:
                self._put_timers(tx, [TimerRecord(record.execution_arn, f"callback:{token}",
                                                  "callback", now)])
                tx.run(_REFRESH_WAKE, (record.execution_arn, record.execution_arn))
        return record

    def heartbeat_task_token(self, token: str, *, now: datetime) -> TaskTokenRecord:
        """See DurableStore.heartbeat_task_token."""
        at = to_us(now)
        with self._transaction(write=True) as tx:
            changed = tx.run(
                "UPDATE task_tokens SET heartbeat_us = CASE WHEN heartbeat_seconds IS NULL "
                "THEN heartbeat_us ELSE ? + heartbeat_seconds * CAST(1000000 AS BIGINT) END "
                f"WHERE token = ? AND status = 'WAITING' AND {_NOT_EXPIRED}",
                (at, token, at, at)).rowcount
            if changed == 0:
                self._refuse_token(tx, token)
            return self._read_token(tx, token)

    def _read_token(self, tx: Tx, token: str) -> TaskTokenRecord:
        row = tx.run(f"SELECT {TOKEN_COLS} FROM task_tokens WHERE token = ?",
                     (token,)).fetchone()
        if row is None:
            raise TaskTokenNotFound(token)
        return token_from_row(row)

    def _refuse_token(self, tx: Tx, token: str) -> None:
        """Raise why a WAITING-token update matched no row."""
        record = self._read_token(tx, token)
        raise TaskTokenClosed(token, "TIMED_OUT" if record.status == "WAITING" else record.status)

    # -- timers -----------------------------------------------------------------------
    def timers(self, execution_arn: str) -> list[TimerRecord]:
        """See DurableStore.timers."""
        with self._transaction(write=False) as tx:
            rows = tx.run("SELECT execution_arn, key, kind, due_us FROM timers "
                          "WHERE execution_arn = ? ORDER BY due_us, key",
                          (execution_arn,)).fetchall()
        return [timer_from_row(row) for row in rows]

    def next_wakeup(self) -> datetime | None:
        """See DurableStore.next_wakeup."""
        with self._transaction(write=False) as tx:
            # the same two halves as _CLAIM: timers of unleased executions, and lease ends
            row = tx.run("SELECT (SELECT MIN(wake_us) FROM executions "
                         "WHERE lease_until_us IS NULL AND wake_us IS NOT NULL), "
                         "(SELECT MIN(lease_until_us) FROM executions "
                         "WHERE lease_until_us IS NOT NULL)").fetchone()
        found = [value for value in (row or ()) if value is not None]
        return from_us(min(found)) if found else None

    def _put_timers(self, tx: Tx, timers: Sequence[TimerRecord]) -> None:
        if timers:
            tx.many("INSERT INTO timers (execution_arn, key, kind, due_us) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (execution_arn, key) DO UPDATE SET kind = excluded.kind, "
                    "due_us = excluded.due_us",
                    [(t.execution_arn, t.key, t.kind, to_us(t.due)) for t in timers])

    # -- leases -----------------------------------------------------------------------
    def claim_due(self, owner: str, *, now: datetime, lease_seconds: float,
                  limit: int = 1, exclude: Sequence[str] = ()) -> list[Claim]:
        """See DurableStore.claim_due."""
        at, until = to_us(now), to_us(now + timedelta(seconds=lease_seconds))
        claims = []
        skip = f" AND arn NOT IN ({', '.join('?' * len(exclude))})" if exclude else ""
        params = (at, at, *exclude, limit)
        # a read without the write lock first: an idle worker's poll (nothing due) is one
        # statement, and SQLite's writers are not queued behind it
        with self._transaction(write=False) as tx:
            seen = tx.run(_CLAIM.format(skip), params).fetchall()
        if not seen:
            return []
        with self._transaction(write=True) as tx:
            if self._CLAIM_LOCK:  # PostgreSQL: take the rows no other worker is claiming
                rows = tx.run(_CLAIM.format(skip) + self._CLAIM_LOCK, params).fetchall()
                if rows:
                    tx.many("UPDATE executions SET lease_owner = ?, lease_until_us = ?, "
                            "lease_epoch = ? WHERE arn = ?",
                            [(owner, until, row[2] + 1, row[0]) for row in rows])
            else:  # SQLite, under the file's write lock: each row still as seen, still due
                rows = [row for row in seen if tx.run(
                    "UPDATE executions SET lease_owner = ?, lease_until_us = ?, "
                    "lease_epoch = ? WHERE arn = ? AND lease_epoch = ? AND lease_until_us IS ? "
                    "AND ((lease_until_us IS NULL AND wake_us <= ?) OR lease_until_us <= ?)",
                    (owner, until, row[2] + 1, row[0], row[2], row[1], at, at)).rowcount]
            for arn, previous_until, epoch in rows:
                due = tx.run("SELECT execution_arn, key, kind, due_us FROM timers "
                             "WHERE execution_arn = ? AND due_us <= ? ORDER BY due_us, key",
                             (arn, at)).fetchall()
                claims.append(Claim(Lease(arn, owner, epoch + 1, from_us(until)),
                                    tuple(timer_from_row(row) for row in due),
                                    recovered=previous_until is not None))
        return claims

    def acquire_lease(self, execution_arn: str, owner: str, *, now: datetime,
                      lease_seconds: float) -> Lease:
        """See DurableStore.acquire_lease."""
        at, until = to_us(now), to_us(now + timedelta(seconds=lease_seconds))
        with self._transaction(write=True) as tx:
            row = tx.run("SELECT lease_owner, lease_until_us, lease_epoch FROM executions "
                         "WHERE arn = ?" + self._ROW_LOCK,
                         (execution_arn,)).fetchone()
            if row is None:
                raise ExecutionNotFound(execution_arn)
            if row[1] is not None and row[1] > at and row[0] != owner:
                raise LeaseHeld(execution_arn, row[0])
            tx.run("UPDATE executions SET lease_owner = ?, lease_until_us = ?, lease_epoch = ? "
                   "WHERE arn = ?", (owner, until, row[2] + 1, execution_arn))
        return Lease(execution_arn, owner, row[2] + 1, from_us(until))

    def renew_lease(self, lease: Lease, *, now: datetime, lease_seconds: float) -> Lease:
        """See DurableStore.renew_lease."""
        until = to_us(now + timedelta(seconds=lease_seconds))
        with self._transaction(write=True) as tx:
            changed = tx.run("UPDATE executions SET lease_until_us = ? WHERE arn = ? "
                             "AND lease_owner = ? AND lease_epoch = ?",
                             (until, lease.execution_arn, lease.owner, lease.epoch)).rowcount
        if changed == 0:
            raise LeaseLost(lease.execution_arn, lease.owner)
        return Lease(lease.execution_arn, lease.owner, lease.epoch, from_us(until))

    def renew_leases(self, owner: str, execution_arns: Sequence[str], *, now: datetime,
                     lease_seconds: float) -> set[str]:
        """See DurableStore.renew_leases."""
        if not execution_arns:
            return set()
        until = to_us(now + timedelta(seconds=lease_seconds))
        marks = ", ".join("?" * len(execution_arns))
        with self._transaction(write=True) as tx:
            rows = tx.run(f"UPDATE executions SET lease_until_us = ? WHERE lease_owner = ? "
                          f"AND arn IN ({marks}) RETURNING arn",
                          (until, owner, *execution_arns)).fetchall()
        return {row[0] for row in rows}

    def release_lease(self, lease: Lease) -> bool:
        """See DurableStore.release_lease."""
        with self._transaction(write=True) as tx:
            changed = tx.run("UPDATE executions SET lease_owner = NULL, lease_until_us = NULL "
                             "WHERE arn = ? AND lease_owner = ? AND lease_epoch = ?",
                             (lease.execution_arn, lease.owner, lease.epoch)).rowcount
        return changed > 0

    def lease(self, execution_arn: str) -> Lease | None:
        """See DurableStore.lease."""
        with self._transaction(write=False) as tx:
            row = tx.run("SELECT lease_owner, lease_epoch, lease_until_us FROM executions "
                         "WHERE arn = ?", (execution_arn,)).fetchone()
        if row is None or row[0] is None:
            return None
        return Lease(execution_arn, row[0], row[1], from_us(row[2]))

    # -- schedules --------------------------------------------------------------------
    def create_schedule(self, record: ScheduleRecord) -> ScheduleRecord:
        """See DurableStore.create_schedule."""
        with self._transaction(write=True) as tx:
            inserted = tx.run(f"INSERT INTO schedules ({SCHEDULE_COLS}) VALUES "
                              "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                              "ON CONFLICT (group_name, name) DO NOTHING",
                              schedule_params(record)).rowcount
        if inserted == 0:
            raise ScheduleExists(record.group_name, record.name)
        return record

    def put_schedule(self, record: ScheduleRecord) -> ScheduleRecord:
        """See DurableStore.put_schedule."""
        params = schedule_params(record)
        columns = [c.strip() for c in SCHEDULE_COLS.split(",")]
        sets = ", ".join(f"{c} = ?" for c in columns[2:])
        with self._transaction(write=True) as tx:
            changed = tx.run(f"UPDATE schedules SET {sets} WHERE group_name = ? AND name = ?",
                             (*params[2:], record.group_name, record.name)).rowcount
        if changed == 0:
            raise ScheduleNotFound(record.group_name, record.name)
        return record

    def schedule(self, group_name: str, name: str) -> ScheduleRecord | None:
        """See DurableStore.schedule."""
        with self._transaction(write=False) as tx:
            row = tx.run(f"SELECT {SCHEDULE_COLS} FROM schedules WHERE group_name = ? "
                         "AND name = ?", (group_name, name)).fetchone()
        return None if row is None else schedule_from_row(row)

    def schedules(self, *, group_name: str | None = None) -> list[ScheduleRecord]:
        """See DurableStore.schedules."""
        sql = f"SELECT {SCHEDULE_COLS} FROM schedules"
        params: list[object] = []
        if group_name is not None:
            sql += " WHERE group_name = ?"
            params.append(group_name)
        with self._transaction(write=False) as tx:
            rows = tx.run(sql + " ORDER BY group_name, name", params).fetchall()
        return [schedule_from_row(row) for row in rows]

    def delete_schedule(self, group_name: str, name: str) -> bool:
        """See DurableStore.delete_schedule."""
        with self._transaction(write=True) as tx:
            return tx.run("DELETE FROM schedules WHERE group_name = ? AND name = ?",
                          (group_name, name)).rowcount > 0

    def advance_schedule(self, group_name: str, name: str, *, expected: datetime | None,
                         next_fire: datetime | None, last_fire: datetime | None) -> bool:
        """See DurableStore.advance_schedule."""
        where = "next_fire_us IS NULL" if expected is None else "next_fire_us = ?"
        params: list[object] = [opt_us(next_fire), opt_us(last_fire), group_name, name]
        if expected is not None:
            params.append(to_us(expected))
        with self._transaction(write=True) as tx:
            return tx.run("UPDATE schedules SET next_fire_us = ?, last_fire_us = ? "
                          f"WHERE group_name = ? AND name = ? AND {where}",
                          params).rowcount > 0

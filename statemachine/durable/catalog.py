"""Durable store, catalog: what the AWS API (``sm serve``) keeps beside executions --
state machine metadata and published versions, tags, activities and their queued tasks.

In: calls from statemachine.server (frozen records below, the caller's ``now``). Out: the
same records read back. Schema version 4 (migrations.py) holds the tables; ``CatalogSql``
is written once over the shared SQL layer's ``Tx`` (both SQLite and PostgreSQL), mixed into
``SqlStore``. Same conventions as contract.py: aware datetimes, JSON kept as text, one
transaction per call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import ClassVar, Protocol

from statemachine.durable._rows import Row, Tx, from_us, opt_dt, opt_us, to_us

__all__ = ["ActivityRecord", "ActivityTask", "ApiMachine", "Catalog", "CatalogSql",
           "VersionRecord"]


@dataclasses.dataclass(frozen=True, slots=True)
class ApiMachine:
    """What CreateStateMachine/UpdateStateMachine say about a machine beyond its definition
    (kept in ``machines``): ``current`` is the definition version (``version_hash``) the
    machine runs now; ``logging``/``tracing`` are JSON text as given; ``deleted`` is set by
    DeleteStateMachine (its executions stay readable)."""

    arn: str
    role_arn: str
    current: str
    created: datetime
    updated: datetime | None = None
    description: str | None = None
    logging: str | None = None
    tracing: str | None = None
    deleted: datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class VersionRecord:
    """A published version (``publish=true``): ``<machine arn>:<number>``, numbered from 1."""

    machine_arn: str
    number: int
    version: str              # the definition's version_hash
    created: datetime
    role_arn: str
    description: str | None = None

    @property
    def arn(self) -> str:
        return f"{self.machine_arn}:{self.number}"


@dataclasses.dataclass(frozen=True, slots=True)
class ActivityRecord:
    """An activity (CreateActivity): Task states whose Resource is its ARN queue work for
    GetActivityTask callers."""

    arn: str
    name: str
    created: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class ActivityTask:
    """Work queued on an activity: the task token (answered with SendTask*), the execution
    that waits, the input (JSON text); ``worker``/``taken`` once GetActivityTask handed it out."""

    token: str
    activity_arn: str
    execution_arn: str
    input: str
    created: datetime
    worker: str | None = None
    taken: datetime | None = None


class Catalog(Protocol):
    """The catalog calls a store offers (SqliteStore and PostgresStore both do)."""

    def api_machine(self, arn: str) -> ApiMachine | None: ...
    def put_api_machine(self, record: ApiMachine) -> None: ...
    def publish_version(self, machine_arn: str, version: str, *, now: datetime,
                        role_arn: str, description: str | None) -> VersionRecord: ...
    def machine_versions(self, machine_arn: str) -> list[VersionRecord]: ...
    def delete_versions(self, machine_arn: str) -> None: ...
    def note_version(self, execution_arn: str, version_arn: str) -> None: ...
    def version_of(self, execution_arn: str) -> str | None: ...
    def executions_of_version(self, version_arn: str) -> set[str]: ...
    def tags(self, resource_arn: str) -> dict[str, str]: ...
    def tag(self, resource_arn: str, tags: Mapping[str, str]) -> None: ...
    def untag(self, resource_arn: str, keys: Sequence[str]) -> None: ...
    def create_activity(self, arn: str, name: str, *, now: datetime) -> ActivityRecord: ...
    def activity(self, arn: str) -> ActivityRecord | None: ...
    def activities(self) -> list[ActivityRecord]: ...
    def delete_activity(self, arn: str) -> None: ...
    def queue_activity_task(self, task: ActivityTask) -> None: ...
    def take_activity_task(self, activity_arn: str, worker: str, *, now: datetime
                           ) -> ActivityTask | None: ...


_API_COLS = "arn, role_arn, current_version, created_us, updated_us, description, logging, " \
            "tracing, deleted_us"
_VERSION_COLS = "machine_arn, number, version, created_us, role_arn, description"
_TASK_COLS = "token, activity_arn, execution_arn, input, created_us, worker, taken_us"


def _api_from_row(row: Row) -> ApiMachine:
    return ApiMachine(arn=row[0], role_arn=row[1], current=row[2], created=from_us(row[3]),
                      updated=opt_dt(row[4]), description=row[5], logging=row[6],
                      tracing=row[7], deleted=opt_dt(row[8]))


def _version_from_row(row: Row) -> VersionRecord:
    return VersionRecord(machine_arn=row[0], number=row[1], version=row[2],
                         created=from_us(row[3]), role_arn=row[4], description=row[5])


def _task_from_row(row: Row) -> ActivityTask:
    return ActivityTask(token=row[0], activity_arn=row[1], execution_arn=row[2], input=row[3],
                        created=from_us(row[4]), worker=row[5], taken=opt_dt(row[6]))


class CatalogSql:
    """``Catalog`` over the shared SQL layer (mixed into SqlStore)."""

    #: PostgreSQL: FOR UPDATE OF a SKIP LOCKED (two pollers never take the same task).
    _TAKE_LOCK: ClassVar[str] = ""

    def _transaction(self, write: bool) -> AbstractContextManager[Tx]:
        raise NotImplementedError

    # -- machines -----------------------------------------------------------------------
    def api_machine(self, arn: str) -> ApiMachine | None:
        with self._transaction(write=False) as tx:
            row = tx.run(f"SELECT {_API_COLS} FROM api_machines WHERE arn = ?", (arn,)).fetchone()
        return None if row is None else _api_from_row(row)

    def put_api_machine(self, record: ApiMachine) -> None:
        """Insert or replace the machine's row."""
        params = (record.arn, record.role_arn, record.current, to_us(record.created),
                  opt_us(record.updated), record.description, record.logging, record.tracing,
                  opt_us(record.deleted))
        with self._transaction(write=True) as tx:
            tx.run(f"INSERT INTO api_machines ({_API_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (arn) DO UPDATE SET role_arn = excluded.role_arn, "
                   "current_version = excluded.current_version, "
                   "created_us = excluded.created_us, updated_us = excluded.updated_us, "
                   "description = excluded.description, logging = excluded.logging, "
                   "tracing = excluded.tracing, deleted_us = excluded.deleted_us", params)

    def publish_version(self, machine_arn: str, version: str, *, now: datetime,
                        role_arn: str, description: str | None) -> VersionRecord:
        """A new version numbered one above the highest ever published for the machine
        (numbers are never reused, as on AWS)."""
        with self._transaction(write=True) as tx:
            top = tx.run("SELECT MAX(number) FROM machine_versions WHERE machine_arn = ?",
                         (machine_arn,)).fetchone()
            number = (top[0] if top is not None and top[0] is not None else 0) + 1
            record = VersionRecord(machine_arn, number, version, now, role_arn, description)
            tx.run(f"INSERT INTO machine_versions ({_VERSION_COLS}, deleted) "
                   "VALUES (?, ?, ?, ?, ?, ?, 0)",
                   (machine_arn, number, version, to_us(now), role_arn, description))
        return record

    def machine_versions(self, machine_arn: str) -> list[VersionRecord]:
        """The machine's live versions, newest first."""
        with self._transaction(write=False) as tx:
            rows = tx.run(f"SELECT {_VERSION_COLS} FROM machine_versions WHERE machine_arn = ? "
                          "AND deleted = 0 ORDER BY number DESC", (machine_arn,)).fetchall()
        return [_version_from_row(row) for row in rows]

    def delete_versions(self, machine_arn: str) -> None:
        """Retire every version of the machine (their numbers stay used)."""
        with self._transaction(write=True) as tx:
            tx.run("UPDATE machine_versions SET deleted = 1 WHERE machine_arn = ?",
                   (machine_arn,))

    def note_version(self, execution_arn: str, version_arn: str) -> None:
        """Remember that the execution was started from a published version's ARN."""
        with self._transaction(write=True) as tx:
            tx.run("INSERT INTO execution_versions (execution_arn, version_arn) VALUES (?, ?) "
                   "ON CONFLICT (execution_arn) DO NOTHING", (execution_arn, version_arn))

    def version_of(self, execution_arn: str) -> str | None:
        """The version ARN the execution was started from, or None."""
        with self._transaction(write=False) as tx:
            row = tx.run("SELECT version_arn FROM execution_versions WHERE execution_arn = ?",
                         (execution_arn,)).fetchone()
        return None if row is None else str(row[0])

    def executions_of_version(self, version_arn: str) -> set[str]:
        """The ARNs of the executions started from ``version_arn``."""
        with self._transaction(write=False) as tx:
            rows = tx.run("SELECT execution_arn FROM execution_versions WHERE version_arn = ?",
                          (version_arn,)).fetchall()
        return {str(row[0]) for row in rows}

    # -- tags ---------------------------------------------------------------------------
    def tags(self, resource_arn: str) -> dict[str, str]:
        with self._transaction(write=False) as tx:
            rows = tx.run("SELECT key, value FROM tags WHERE resource_arn = ? ORDER BY key",
                          (resource_arn,)).fetchall()
        return {row[0]: row[1] for row in rows}

    def tag(self, resource_arn: str, tags: Mapping[str, str]) -> None:
        """Add or overwrite tags."""
        if not tags:
            return
        with self._transaction(write=True) as tx:
            tx.many("INSERT INTO tags (resource_arn, key, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value",
                    [(resource_arn, key, value) for key, value in tags.items()])

    def untag(self, resource_arn: str, keys: Sequence[str]) -> None:
        """Remove tags by key (unknown keys are ignored); ``keys`` empty: nothing."""
        if not keys:
            return
        with self._transaction(write=True) as tx:
            tx.many("DELETE FROM tags WHERE resource_arn = ? AND key = ?",
                    [(resource_arn, key) for key in keys])

    # -- activities ---------------------------------------------------------------------
    def create_activity(self, arn: str, name: str, *, now: datetime) -> ActivityRecord:
        """Create the activity, or return it when it exists (CreateActivity is idempotent)."""
        with self._transaction(write=True) as tx:
            tx.run("INSERT INTO activities (arn, name, created_us) VALUES (?, ?, ?) "
                   "ON CONFLICT (arn) DO NOTHING", (arn, name, to_us(now)))
            row = tx.run("SELECT arn, name, created_us FROM activities WHERE arn = ?",
                         (arn,)).fetchone()
        assert row is not None
        return ActivityRecord(row[0], row[1], from_us(row[2]))

    def activity(self, arn: str) -> ActivityRecord | None:
        with self._transaction(write=False) as tx:
            row = tx.run("SELECT arn, name, created_us FROM activities WHERE arn = ?",
                         (arn,)).fetchone()
        return None if row is None else ActivityRecord(row[0], row[1], from_us(row[2]))

    def activities(self) -> list[ActivityRecord]:
        """Every activity, by name."""
        with self._transaction(write=False) as tx:
            rows = tx.run("SELECT arn, name, created_us FROM activities ORDER BY name").fetchall()
        return [ActivityRecord(row[0], row[1], from_us(row[2])) for row in rows]

    def delete_activity(self, arn: str) -> None:
        """Delete the activity and the tasks no worker took yet (their executions keep
        waiting until their Task times out, as on AWS)."""
        with self._transaction(write=True) as tx:
            tx.run("DELETE FROM activities WHERE arn = ?", (arn,))
            tx.run("DELETE FROM activity_tasks WHERE activity_arn = ? AND taken_us IS NULL",
                   (arn,))
            tx.run("DELETE FROM tags WHERE resource_arn = ?", (arn,))

    def queue_activity_task(self, task: ActivityTask) -> None:
        """Queue work for the activity (a token already queued is left as it is: a task
        dispatched again after a worker crash)."""
        with self._transaction(write=True) as tx:
            tx.run(f"INSERT INTO activity_tasks ({_TASK_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (token) DO NOTHING",
                   (task.token, task.activity_arn, task.execution_arn, task.input,
                    to_us(task.created), None, None))

    def take_activity_task(self, activity_arn: str, worker: str, *, now: datetime
                           ) -> ActivityTask | None:
        """Hand the oldest untaken task whose token still waits to ``worker`` (at most one
        caller gets each), or None."""
        with self._transaction(write=True) as tx:
            row = tx.run(
                f"SELECT {', '.join('a.' + c.strip() for c in _TASK_COLS.split(','))} "
                "FROM activity_tasks a JOIN task_tokens t ON t.token = a.token "
                "WHERE a.activity_arn = ? AND a.taken_us IS NULL AND t.status = 'WAITING' "
                "ORDER BY a.created_us, a.token LIMIT 1" + self._TAKE_LOCK,
                (activity_arn,)).fetchone()
            if row is None:
                return None
            tx.run("UPDATE activity_tasks SET worker = ?, taken_us = ? WHERE token = ?",
                   (worker, to_us(now), row[0]))
        return dataclasses.replace(_task_from_row(row), worker=worker, taken=now)


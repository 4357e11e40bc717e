"""Storage edge: keeps executions and their history events (in memory, or in SQLite).

A store receives every event as it is appended (``record_event``) and the execution's
summary when it starts and ends (``save_execution``), in the shapes the API returns
(``Execution.to_dict()`` and AWS history-event dicts), so a later reader -- a CLI listing, a
local Step Functions endpoint -- needs nothing but the store. Pass one to
``StateMachine.run(..., store=...)``. Stores are safe to share between threads.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

__all__ = ["ExecutionStore", "MemoryStore", "SqliteStore"]


class ExecutionStore(Protocol):
    """Where executions and their events go (``run(..., store=...)``).

    Called from the execution's thread, in order: ``save_execution`` when the run starts
    and again when it ends, ``record_event`` for every history event in between. Shapes are
    AWS's: a summary is ``Execution.to_dict()`` (``executionArn``, ``name``, ``status`` --
    RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED --, ``output``, ``error``, ``cause``,
    ``startDate``/``stopDate`` as ISO-8601 UTC text); an event is one GetExecutionHistory
    entry (``id``, ``previousEventId``, ``timestamp``, ``type``, ``<type>EventDetails``).
    What a method raises propagates to the caller of ``run``; a store must not block long
    (the execution waits for it).
    """

    def save_execution(self, summary: Mapping[str, Any]) -> None:
        """Insert or replace the summary of ``summary["executionArn"]``."""

    def record_event(self, execution_arn: str, event: Mapping[str, Any]) -> None:
        """Append one history event (ids grow by one from 1)."""

    def execution(self, execution_arn: str) -> dict[str, Any] | None:
        """The last saved summary, or None for an unknown ARN."""

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """The events recorded so far, in id order ([] for an unknown ARN)."""

    def executions(self) -> list[dict[str, Any]]:
        """Every saved summary, oldest first."""


class MemoryStore:
    """Everything in dicts; for tests and short-lived processes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executions: dict[str, dict[str, Any]] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}

    def save_execution(self, summary: Mapping[str, Any]) -> None:
        with self._lock:
            self._executions[summary["executionArn"]] = dict(summary)

    def record_event(self, execution_arn: str, event: Mapping[str, Any]) -> None:
        with self._lock:
            self._events.setdefault(execution_arn, []).append(dict(event))

    def execution(self, execution_arn: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._executions.get(execution_arn)
            return dict(found) if found is not None else None

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events.get(execution_arn, ()))

    def executions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._executions.values()]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (arn TEXT PRIMARY KEY, summary TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    arn TEXT NOT NULL, id INTEGER NOT NULL, event TEXT NOT NULL, PRIMARY KEY (arn, id));
"""


class SqliteStore:
    """Executions and events in a SQLite file (``":memory:"`` for a private database)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)

    def save_execution(self, summary: Mapping[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO executions VALUES (?, ?)",
                             (summary["executionArn"], _dump(summary)))

    def record_event(self, execution_arn: str, event: Mapping[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO events VALUES (?, ?, ?)",
                             (execution_arn, event["id"], _dump(event)))

    def execution(self, execution_arn: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT summary FROM executions WHERE arn = ?",
                                   (execution_arn,)).fetchone()
        return json.loads(row[0]) if row is not None else None

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT event FROM events WHERE arn = ? ORDER BY id",
                                    (execution_arn,)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def executions(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT summary FROM executions ORDER BY rowid").fetchall()
        return [json.loads(row[0]) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _dump(value: Mapping[str, Any]) -> str:
    """JSON text; timestamps (datetime) as ISO-8601 strings."""
    return json.dumps(value, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))

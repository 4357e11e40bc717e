"""Durable store: the database that is the source of truth for durable executions.

In: a database target (a SQLite file path, or a PostgreSQL URL). Out: a ``DurableStore``
holding state machines (definition text + version hash), executions, their append-only
event logs, task tokens, timers and leases. Workers, the service and the CLI build on it;
nothing here runs a workflow.

    store = open_store()                      # $SM_DB, else the default SQLite file
    store = open_store("/srv/sm/executions.db")
    store = open_store("postgresql://sm@db.internal/sm")

Modules: ``contract`` (records and the ``DurableStore`` protocol, with the rules every
backend keeps), ``errors`` (the exception tree), ``migrations`` (the versioned schema),
``sqlite`` (embedded default), ``postgres`` (psycopg 3; imported only when used).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

from statemachine.durable.contract import (
    EXECUTION_STATUSES,
    TOKEN_STATUSES,
    Claim,
    DurableStore,
    EventRecord,
    ExecutionRecord,
    ExecutionUpdate,
    Lease,
    MachineRecord,
    MapRunRecord,
    MapRunUpdate,
    TaskTokenRecord,
    TimerKind,
    TimerRecord,
    version_hash,
)
from statemachine.durable.errors import (
    EventConflict,
    ExecutionExists,
    ExecutionNotFound,
    LeaseHeld,
    LeaseLost,
    SchemaTooNew,
    StoreError,
    StoreLocked,
    StoreUnavailable,
    StoreUnreadable,
    TaskTokenClosed,
    TaskTokenNotFound,
)
from statemachine.durable.migrations import SCHEMA_VERSION
from statemachine.durable.sqlite import SqliteStore

if TYPE_CHECKING:
    from statemachine.durable.postgres import PostgresStore

__all__ = [
    "ENV_VAR",
    "EXECUTION_STATUSES",
    "SCHEMA_VERSION",
    "TOKEN_STATUSES",
    "Claim",
    "DurableStore",
    "EventConflict",
    "EventRecord",
    "ExecutionExists",
    "ExecutionNotFound",
    "ExecutionRecord",
    "ExecutionUpdate",
    "Lease",
    "LeaseHeld",
    "LeaseLost",
    "MachineRecord",
    "MapRunRecord",
    "MapRunUpdate",
    "SchemaTooNew",
    "SqliteStore",
    "StoreError",
    "StoreLocked",
    "StoreUnavailable",
    "StoreUnreadable",
    "TaskTokenClosed",
    "TaskTokenNotFound",
    "TaskTokenRecord",
    "TimerKind",
    "TimerRecord",
    "default_target",
    "open_postgres",
    "open_store",
    "version_hash",
]

#: The environment variable naming the database (a path or a PostgreSQL URL).
ENV_VAR: Final = "SM_DB"
_APP: Final = "statemachine-asl"
_FILE: Final = "executions.db"
_PG_SCHEMES: Final = ("postgresql://", "postgres://")


def default_target() -> str:
    """The database ``open_store()`` opens: ``$SM_DB`` when set, else the SQLite file
    ``executions.db`` in the user's data folder for statemachine-asl:
    ``$XDG_DATA_HOME/statemachine-asl`` (default ``~/.local/share/statemachine-asl``) on Linux
    and other Unixes, ``~/Library/Application Support/statemachine-asl`` on macOS,
    ``%LOCALAPPDATA%\\statemachine-asl`` on Windows."""
    explicit = os.environ.get(ENV_VAR, "")
    if explicit:
        return explicit
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return str(base / _APP / _FILE)


def open_store(target: str | os.PathLike[str] | None = None) -> DurableStore:
    """Open (creating and migrating as needed) the store at ``target``: a PostgreSQL URL
    (``postgresql://...``; ``?schema=NAME`` picks the schema, default ``statemachine``),
    else a SQLite file path; None means ``default_target()``.

    Raises StoreUnreadable, SchemaTooNew, StoreLocked, StoreUnavailable; ImportError with an
    install hint when a PostgreSQL URL is given without the ``postgres`` extra.
    """
    text = os.fspath(target) if target is not None else default_target()
    if text.startswith(_PG_SCHEMES):
        conninfo, schema = _schema_of(text)
        return open_postgres(conninfo, schema=schema)
    return SqliteStore(text)


def _schema_of(url: str) -> tuple[str, str]:
    """Split our own ``schema=NAME`` query parameter (default ``statemachine``) off a
    PostgreSQL URL: ``postgresql://host/db?schema=tenant_a``."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for key, value in query if key == "schema"), "statemachine")
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def open_postgres(conninfo: str, *, schema: str = "statemachine") -> PostgresStore:
    """A ``PostgresStore`` (see statemachine.durable.postgres); ImportError with an install
    hint when psycopg is missing."""
    try:
        from statemachine.durable.postgres import PostgresStore
    except ImportError as error:  # psycopg is an optional dependency
        raise ImportError("PostgreSQL needs the postgres extra: "
                          "pip install 'statemachine-asl[postgres]'") from error
    return PostgresStore(conninfo, schema=schema)

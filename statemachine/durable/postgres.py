"""Durable store, PostgreSQL backend (psycopg 3): for services with several workers or hosts.

In: a libpq connection string or URL (``postgresql://user@host:5432/db``) and a schema name
(tables live in their own schema, ``statemachine`` by default, created on first open).
Out: a ``DurableStore``. Needs the ``postgres`` extra (``pip install
'statemachine-asl[postgres]'``); the package imports this module only when asked for it.

Concurrency: the connection runs in autocommit mode and each contract call is one explicit
transaction at READ COMMITTED. Claims read their candidates first without a lock (an idle
poll is one statement, no transaction), then lock the candidate execution rows with ``FOR
UPDATE SKIP LOCKED``, so concurrent workers take disjoint sets without waiting on each other; an append
is a compare-and-set ``UPDATE`` of the execution row (``last_event_id``), which serialises
racing writers on the row lock, and the loser sees zero rows and raises EventConflict.
Migrations run under a transaction-scoped advisory lock keyed by the schema name.
``lock_timeout`` is the busy timeout: a lock wait beyond it raises StoreLocked.

An append of events alone (a Task dispatch's commit: no token, no timer) is one statement,
so one round trip: the compare-and-set ``UPDATE`` of the execution row in a CTE whose
``RETURNING`` feeds the ``INSERT`` of the event segments (a multi-row ``VALUES``; one row
holds up to 256 events, see durable/_events.py), run in autocommit
mode as its own transaction; a stale ``after`` or a lost lease inserts nothing. Other
appends (tokens, timers, the end) are one explicit transaction.

Durability: by default every commit waits for the server's WAL flush (an fsync: 1-3 ms on a
quiet machine, 5-9 ms on the loaded development box, which bounds one execution's sequential
Task loop to one dispatch per flush). ``synchronous_commit=False`` sets the session's
``synchronous_commit = off``: commits return before the flush, and a crash of the *server*
(not of a worker) may lose the last moments of acknowledged commits (up to three
``wal_writer_delay``, 0.6 s by default), never corrupting the database. The SQLite analogue
is its default ``synchronous=NORMAL``. ``synchronous_commit="progress"`` skips the flush only
for appends that just add events (Task dispatches, Distributed Map children's progress):
starts, ends, stops, redrives, task tokens, timers, leases and claims still flush. What a
server crash may then lose is progress only, which replay redoes: the events since the last
flushed commit are recorded again and the tasks dispatched since then run again (at least
once, as after a worker crash; but such a task may see ``redelivered`` False, its
TaskStarted having been lost with the crash). A worker crash loses nothing in any mode.

Errors: a failed connection, a lost server, disk full, a serialization failure or deadlock
(psycopg ``OperationalError``/``InterfaceError``) -> StoreUnavailable, and the next call
reconnects; ``lock_not_available`` -> StoreLocked. Other errors are bugs and propagate.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import ClassVar, Literal

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.types.string import StrBinaryDumper, StrDumperUnknown

from statemachine.durable import _events
from statemachine.durable._events import Entry
from statemachine.durable._rows import Rows, Tx
from statemachine.durable._sql import SqlStore
from statemachine.durable.errors import EventConflict, StoreLocked, StoreUnavailable

__all__ = ["PostgresStore"]

#: ``VALUES`` lists of an append statement by row count (one text, so one prepared
#: statement, per count)
_VALUES: dict[int, str] = {}
#: the most segments one such statement inserts (3 parameters each; up to
#: ``_events.SEGMENT_EVENTS`` events in a segment)
_MAX_ROWS = 64


class _NulFreeText(StrDumperUnknown):
    """PostgreSQL's text cannot hold NUL ("text fields cannot contain NUL"): a string
    parameter holding one (an Error or Cause a Fail state, StopExecution or
    SendTaskFailure gave) is stored with U+FFFD in its place instead of failing the
    commit -- which would leave the execution RUNNING for ever. Event segments are JSON
    text, where NUL is already the escape ``\\u0000``: histories keep it exactly."""

    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace("\x00", "\ufffd") if "\x00" in obj else obj)


class _NulFreeBinaryText(StrBinaryDumper):
    """``_NulFreeText`` for the binary format."""

    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace("\x00", "\ufffd") if "\x00" in obj else obj)


class _PgTx:
    """``Tx`` over one psycopg connection; rewrites ``?`` placeholders as ``%s``."""

    __slots__ = ("_conn", "_queries")

    def __init__(self, conn: psycopg.Connection[tuple[object, ...]],
                 queries: dict[str, str]) -> None:
        self._conn = conn
        self._queries = queries

    def _q(self, text: str) -> str:
        query = self._queries.get(text)
        if query is None:
            query = self._queries[text] = text.replace("?", "%s")
        return query

    def run(self, sql: str, params: Sequence[object] = ()) -> Rows:
        return self._conn.execute(self._q(sql), params or None)

    def many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(self._q(sql), rows)


class PostgresStore(SqlStore):
    """The durable store in a PostgreSQL schema.

    ``conninfo``: a libpq connection string or URL (empty: libpq's PG* environment).
    ``schema``: where the tables live. ``connect_timeout`` and ``busy_timeout``: seconds.
    ``synchronous_commit``: False trades the last commits before a server crash for speed;
    ``"progress"`` does so only for the commits that just add events (a Task dispatch's),
    every other commit waiting for the flush (see the module docstring). Raises
    StoreUnavailable (cannot connect), SchemaTooNew, StoreLocked.
    """

    _CLAIM_LOCK: ClassVar[str] = " FOR UPDATE SKIP LOCKED"
    _ROW_LOCK: ClassVar[str] = " FOR UPDATE"
    _TAKE_LOCK: ClassVar[str] = " FOR UPDATE OF a SKIP LOCKED"

    def __init__(self, conninfo: str = "", *, schema: str = "statemachine",
                 connect_timeout: float = 5.0, busy_timeout: float = 5.0,
                 synchronous_commit: bool | Literal["progress"] = True) -> None:
        if synchronous_commit not in (True, False, "progress"):
            raise ValueError("synchronous_commit is True, False or 'progress', "
                             f"not {synchronous_commit!r}")
        super().__init__()
        self.conninfo = conninfo
        self.schema = schema
        self._connect_timeout = connect_timeout
        self._busy_timeout = busy_timeout
        self._synchronous_commit = synchronous_commit
        self._queries: dict[str, str] = {}
        self._conn = self._connect()
        try:
            self._migrate(f"PostgreSQL schema '{schema}'", "postgres", (
                sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(
                    sql.Literal("statemachine:" + schema)).as_string(self._conn),
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                    sql.Identifier(schema)).as_string(self._conn)))
        except BaseException:
            self._conn.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        try:
            conn = psycopg.connect(self.conninfo, autocommit=True,
                                   connect_timeout=max(1, round(self._connect_timeout)))
            conn.adapters.register_dumper(str, _NulFreeBinaryText)
            conn.adapters.register_dumper(str, _NulFreeText)
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
            conn.execute(sql.SQL("SET lock_timeout = {}").format(
                sql.Literal(f"{round(self._busy_timeout * 1000)}ms")))
            if self._synchronous_commit is not True:  # "progress": write transactions flush
                conn.execute("SET synchronous_commit = off")
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {error}".strip()) from error
        return conn

    def _read_version(self) -> int | None:
        """The recorded version, None when the table is missing."""
        with self._transaction(write=False) as tx:
            exists = tx.run("SELECT to_regclass('schema_version')").fetchone()
            if exists is None or exists[0] is None:
                return None
            row = tx.run("SELECT version FROM schema_version").fetchone()
        return None if row is None else int(str(row[0]))

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Tx]:
        with self._lock:
            self._check_open()
            if self._conn.closed or self._conn.broken:
                self._conn = self._connect()
            try:
                if write:
                    with self._conn.transaction():
                        if self._synchronous_commit == "progress":
                            self._conn.execute("SET LOCAL synchronous_commit = on")
                        yield _PgTx(self._conn, self._queries)
                else:
                    yield _PgTx(self._conn, self._queries)
            except pg_errors.LockNotAvailable as error:
                raise StoreLocked(f"PostgreSQL lock wait exceeded {self._busy_timeout:g} s: "
                                  f"{error}") from error
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                raise StoreUnavailable(f"PostgreSQL: {error}".strip()) from error

    def _append_statement(self, execution_arn: str, rows: Sequence[Entry], after: int,
                          sets: str, where: str, params: Sequence[object], progress: bool
                          ) -> bool | None:
        """The append as one statement (one round trip, its own transaction in autocommit
        mode): the compare-and-set UPDATE in a CTE, the event segments inserted only for the
        row it returned, so a stale ``after`` or a lost lease inserts nothing."""
        if self._synchronous_commit == "progress" and not progress:
            return None  # a status change or a release: a write transaction, flushed
        segments = _events.segments(rows, after)
        if len(segments) > _MAX_ROWS:  # a very long run of pure states: executemany
            return None
        values = _VALUES.get(len(segments))
        if values is None:
            values = _VALUES[len(segments)] = ", ".join(
                ["(?::integer, ?::integer, ?)"] + ["(?, ?, ?)"] * (len(segments) - 1))
        query = ("WITH cas AS (UPDATE executions SET " + sets + " WHERE " + where +
                 " RETURNING arn) INSERT INTO event_segments (execution_arn, first_id, "
                 "last_id, events) SELECT cas.arn, e.first_id, e.last_id, e.events FROM cas, "
                 "(VALUES " + values + ") AS e(first_id, last_id, events)")
        try:
            with self._transaction(write=False) as tx:
                inserted = tx.run(query, [*params, *itertools.chain.from_iterable(segments)]
                                  ).rowcount
        except pg_errors.UniqueViolation as error:  # the primary key: the last defence
            raise EventConflict(execution_arn, after, -1) from error
        return inserted == len(segments)

    def _is_unique_violation(self, error: BaseException) -> bool:
        return isinstance(error, pg_errors.UniqueViolation)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._closed = True
            self._conn.close()

"""Durable store, SQLite backend: the embedded default, one database file per store.

In: a file path (created with its folder when missing). Out: a ``DurableStore``.

Several processes on one host may open the same file. The file is in WAL mode, so readers
never block the writer; every write transaction starts with ``BEGIN IMMEDIATE``, which takes
the file's single write lock up front (writers queue for it for up to ``busy_timeout``
seconds, then ``StoreLocked``), so an append reads and writes under one lock and two
processes never interleave events. A claim reads its candidates first without the lock (an
idle poll writes nothing and queues no writer), then, under it, takes each one with a
compare-and-set ``UPDATE`` (its lease epoch and lease end as read, still due), so two
processes never claim the same execution. ``synchronous=NORMAL``
(the default) keeps every committed transaction through a process crash; a power cut may
drop the last few (``synchronous="FULL"`` keeps them, at the cost of an fsync per commit).
Do not share one open store across ``fork()``: open one per process.

Checkpoints (copying the write-ahead log into the database file, with an fsync of each) run
in a thread of the store's own, on a connection of its own, at most every
``CHECKPOINT_INTERVAL`` seconds after a commit: a commit never waits for one (SQLite's own,
run by the commit that crosses 1,000 log pages, made every fourth 2,000-item Map run pay
~10 ms of copying and syncing). A ``PASSIVE`` checkpoint takes no lock writers wait for; the
connection's automatic checkpoint stays as the bound of the log (``AUTOCHECKPOINT_PAGES``)
should the thread fall behind.

sqlite3 errors are translated by their result code: BUSY/LOCKED -> StoreLocked;
FULL, IOERR, CANTOPEN, READONLY, PROTOCOL -> StoreUnavailable; NOTADB, CORRUPT ->
StoreUnreadable. Other errors are bugs and propagate as they are.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Final, Literal

from statemachine.durable._rows import Rows, Tx
from statemachine.durable._sql import SqlStore
from statemachine.durable.errors import (
    StoreLocked,
    StoreUnavailable,
    StoreUnreadable,
)

__all__ = ["SqliteStore"]

# Primary result codes (https://www.sqlite.org/rescode.html).
_LOCKED: Final = {5, 6}                  # SQLITE_BUSY, SQLITE_LOCKED
_UNAVAILABLE: Final = {8, 10, 13, 14, 15}  # READONLY, IOERR, FULL, CANTOPEN, PROTOCOL
_UNREADABLE: Final = {11, 26}            # CORRUPT, NOTADB
_UNIQUE: Final = {1555, 2067}            # CONSTRAINT_PRIMARYKEY, CONSTRAINT_UNIQUE


class _SqliteTx:
    """``Tx`` over one sqlite3 connection."""

    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def run(self, sql: str, params: Sequence[object] = ()) -> Rows:
        return self._db.execute(sql, params)

    def many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self._db.executemany(sql, rows)


#: Seconds between two background checkpoints, at most (one runs this long after a commit).
CHECKPOINT_INTERVAL: Final = 0.2
#: The log's bound, in pages (4 KiB): a commit that crosses it checkpoints itself (SQLite's
#: automatic checkpoint, 1,000 pages by default), should the background thread fall behind.
AUTOCHECKPOINT_PAGES: Final = 10_000


class _Checkpointer:
    """The store's checkpoint thread: after a commit (``dirty``) it waits up to
    ``CHECKPOINT_INTERVAL`` and runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own
    connection. Started at the first commit; ``stop`` ends it (the store's close, or the
    store's collection). ``path``: the database's file as SQLite opened it (absolute: the
    process may change its directory later), None for a database in memory (no thread). A
    failed checkpoint, or a thread that cannot start (the process's thread limit, an
    interpreter shutting down), is left to the next commit and to the writers' automatic
    checkpoint: the committed data is in the log either way, and the commit stands."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._wake = threading.Event()  # a commit since the last checkpoint
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def dirty(self) -> None:
        if self._thread is None:
            if self.path is None:
                return
            with self._start_lock:
                if self._thread is None and not self._stop.is_set():
                    thread = threading.Thread(target=self._run, daemon=True,
                                              name=f"sm-sqlite-checkpoint {self.path.name}")
                    try:
                        thread.start()
                    except RuntimeError:  # no thread now: maybe at the next commit
                        return
                    self._thread = thread
        self._wake.set()

    def stop(self) -> None:
        with self._start_lock:
            self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self) -> None:
        assert self.path is not None  # dirty starts no thread without a file
        try:
            db = sqlite3.connect(self.path, timeout=1.0, isolation_level=None,
                                 check_same_thread=False)
        except sqlite3.Error:
            return  # the writers' automatic checkpoint remains
        try:
            while True:
                self._wake.wait()
                if self._stop.is_set():
                    return
                self._wake.clear()
                with contextlib.suppress(sqlite3.Error):
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                # at most one per interval: the commits of that time go in the next one
                if self._stop.wait(CHECKPOINT_INTERVAL):
                    return
        finally:
            db.close()


#: The oldest SQLite the store runs on: JSON functions built in (3.38: migration 6),
#: ``RETURNING`` and ``ALTER TABLE ... DROP COLUMN`` (3.35: claims, migration 7).
MIN_SQLITE: Final = (3, 38, 0)


class SqliteStore(SqlStore):
    """The durable store in one SQLite file.

    ``path``: the database file (its folder is created). ``busy_timeout``: seconds a write
    waits for another process's lock before StoreLocked. ``synchronous``: "NORMAL" or
    "FULL" (see the module docstring). Raises StoreUnreadable (not a database),
    SchemaTooNew (a newer release's schema), StoreLocked, StoreUnavailable.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0,
                 synchronous: Literal["NORMAL", "FULL"] = "NORMAL") -> None:
        super().__init__()
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise StoreUnavailable(
                f"the SQLite store needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer; this "
                f"Python has {sqlite3.sqlite_version} (use a newer Python build, or PostgreSQL)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailable(f"cannot create the folder of {self.path}: {error}") from error
        try:
            self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                       check_same_thread=False)
        except sqlite3.Error as error:
            raise self._translate(error, opening=True) from error
        self._checkpoints = _Checkpointer(self._file())
        weakref.finalize(self, self._checkpoints.stop)
        try:
            with self._lock:
                self._setup(synchronous)
            self._migrate(str(self.path), "sqlite")
        except BaseException:
            self._db.close()
            self._checkpoints.stop()
            raise

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    def _file(self) -> Path | None:
        """The main database's file as the connection opened it (an absolute path; None for
        a database in memory); ``path`` when SQLite cannot say."""
        try:
            row = self._db.execute("PRAGMA database_list").fetchone()
        except sqlite3.Error:
            return self.path
        return Path(row[2]) if row is not None and row[2] else None

    def _setup(self, synchronous: str) -> None:
        try:
            self._db.execute("PRAGMA journal_mode=WAL").fetchone()
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        except sqlite3.Error as error:
            raise self._translate(error, opening=True) from error

    def _read_version(self) -> int | None:
        """The recorded version, None when the table is missing."""
        with self._transaction(write=False) as tx:
            exists = tx.run("SELECT 1 FROM sqlite_master WHERE type = 'table' "
                            "AND name = 'schema_version'").fetchone()
            row = tx.run("SELECT version FROM schema_version").fetchone() if exists else None
            others = [] if exists else [name for (name,) in tx.run(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name LIMIT 4").fetchall()]
        if others:  # another application's database: not ours to add tables to
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise StoreUnreadable(
                f"{self.path} is an SQLite database of something else (tables: {shown}; no "
                f"statemachine schema_version): not a statemachine database, left as it is")
        return None if row is None else int(row[0])

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Tx]:
        with self._lock:
            self._check_open()
            try:
                if write:
                    self._db.execute("BEGIN IMMEDIATE")
                yield _SqliteTx(self._db)
                if write:
                    self._db.execute("COMMIT")
                    self._checkpoints.dirty()
            except BaseException as error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                translated = self._translate(error) if isinstance(error, sqlite3.Error) else error
                if translated is error:
                    raise
                raise translated from error

    def data_version(self) -> int:
        """A number that changes when another connection (another process) has committed
        since this one last asked (``PRAGMA data_version``): one pragma tells an idle worker
        that another process may have made work due. Raises StoreError."""
        with self._transaction(write=False) as tx:
            row = tx.run("PRAGMA data_version").fetchone()
        return int(row[0]) if row is not None else 0

    def _translate(self, error: sqlite3.Error, *, opening: bool = False) -> BaseException:
        """The StoreError for a driver error: the error itself when it is a bug, except while
        opening, where anything unforeseen means the file is not usable (StoreUnreadable)."""
        code = getattr(error, "sqlite_errorcode", None)
        primary = code & 0xFF if isinstance(code, int) else None
        where = str(getattr(self, "path", "the database"))
        if primary in _LOCKED:
            return StoreLocked(f"{where} is locked by another process "
                               f"(waited {self._busy_timeout:g} s): {error}")
        if primary in _UNREADABLE:
            return StoreUnreadable(f"{where} is not a readable statemachine database: {error}")
        if primary in _UNAVAILABLE:
            return StoreUnavailable(f"{where}: {error}")
        if opening:
            return StoreUnreadable(f"cannot open {where}: {error}")
        return error

    def _is_unique_violation(self, error: BaseException) -> bool:
        return (isinstance(error, sqlite3.IntegrityError)
                and getattr(error, "sqlite_errorcode", None) in _UNIQUE)

    def close(self) -> None:
        """Close the connection (and end the checkpoint thread, after its last checkpoint)."""
        with self._lock:
            self._closed = True
            self._db.close()
        self._checkpoints.stop()

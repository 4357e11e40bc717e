"""What each backend adds to the contract: where the database lives, how it fails.

SQLite: WAL mode, the default location (``$SM_DB``, the user's data folder), a garbage file,
a lock held by another process, a full disk. PostgreSQL: a server that is not there, a
connection cut mid-session, a lock held too long. Every failure is a named StoreError, and
the transient ones are StoreUnavailable, never a workflow error.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from durable_backends import postgres_conninfo, postgres_unavailable

from statemachine.durable import (
    ENV_VAR,
    EventRecord,
    ExecutionRecord,
    SqliteStore,
    StoreError,
    StoreLocked,
    StoreUnavailable,
    StoreUnreadable,
    default_target,
    open_store,
)
from statemachine.errors import StatesError

T0 = datetime(2026, 3, 1, tzinfo=UTC)
RUN = "arn:aws:states:us-east-1:123456789012:execution:Flow:run"


def test_store_errors_are_not_workflow_errors() -> None:
    assert issubclass(StoreLocked, StoreUnavailable)
    assert issubclass(StoreUnavailable, StoreError)
    assert not issubclass(StoreError, StatesError)


# -- where the SQLite database lives ------------------------------------------------------------

def test_sm_db_names_the_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "deep" / "sm.db"))
    assert default_target() == str(tmp_path / "deep" / "sm.db")
    store = open_store()
    store.close()
    assert (tmp_path / "deep" / "sm.db").is_file()  # its folder was created


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG layout is for Linux/Unix")
def test_the_default_database_is_in_the_users_data_folder(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_target() == str(tmp_path / "statemachine-asl" / "executions.db")
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_target() == str(
        tmp_path / "home" / ".local" / "share" / "statemachine-asl" / "executions.db")


def test_psycopg_is_imported_only_for_postgresql() -> None:
    probe = "import sys, statemachine.durable; print('psycopg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_a_postgres_url_without_the_extra_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "statemachine.durable.postgres", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'statemachine-asl\[postgres\]'"):
        open_store("postgresql://sm@127.0.0.1/test")


def test_a_sqlite_store_is_in_wal_mode(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "sm.db").close()
    with sqlite3.connect(tmp_path / "sm.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# -- how SQLite fails ---------------------------------------------------------------------------

def test_a_file_that_is_not_a_database_is_unreadable(tmp_path: Path) -> None:
    garbage = tmp_path / "notes.db"
    garbage.write_bytes(b"this is not an SQLite database, just some text\n" * 100)
    with pytest.raises(StoreUnreadable, match="not a readable statemachine database"):
        open_store(garbage)


def test_a_write_lock_held_past_the_busy_timeout_is_store_locked(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "sm.db", busy_timeout=0.05)
    other = sqlite3.connect(tmp_path / "sm.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is writing and does not let go
    try:
        with pytest.raises(StoreLocked, match="locked by another process"):
            store.put_machine("arn:m", "m", "{}", type="STANDARD", now=T0)
        assert store.machines() == []  # readers are not blocked (WAL)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.put_machine("arn:m", "m", "{}", type="STANDARD", now=T0).revision == 1
    store.close()


def test_opening_a_database_another_process_is_writing_is_store_locked(tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "sm.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # holds the brand-new file before it is migrated
    try:
        with pytest.raises(StoreLocked):
            SqliteStore(tmp_path / "sm.db", busy_timeout=0.05)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with SqliteStore(tmp_path / "sm.db") as store:
        assert store.schema_version >= 1


def test_the_wheel_ships_the_package() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "statemachine.durable" in pyproject["tool"]["setuptools"]["packages"]
    extras = pyproject["project"]["optional-dependencies"]
    assert any(dep.startswith("psycopg") for dep in extras["postgres"])
    assert any(dep.startswith("psycopg") for dep in extras["test"])


def test_a_full_disk_is_store_unavailable_and_writes_nothing(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "sm.db")
    store.create_execution(ExecutionRecord(RUN, "run", "arn:m", "v", "{}", T0))
    # Simulate a full disk: cap the file at its current size (private handle, test only).
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    big = EventRecord(1, "ExecutionStarted", T0, '"' + "x" * 100_000 + '"')
    with pytest.raises(StoreUnavailable, match="full"):
        store.append(RUN, [big], after=0)
    assert [e.id for e in store.history(RUN)] == []
    record = store.execution(RUN)
    assert record is not None and record.last_event_id == 0
    store._db.execute("PRAGMA max_page_count = 1000000")  # room again: the same call succeeds
    assert store.append(RUN, [big], after=0) == 1
    store.close()


# -- how PostgreSQL fails -----------------------------------------------------------------------

def _needs_postgres() -> None:
    reason = postgres_unavailable()
    if reason is not None:
        pytest.skip(f"PostgreSQL backend not tested: {reason}")


def test_a_postgres_url_with_no_server_is_store_unavailable() -> None:
    pytest.importorskip("psycopg", reason="psycopg is not installed (the postgres extra)")
    with pytest.raises(StoreUnavailable, match="cannot connect to PostgreSQL"):
        open_store("postgresql://nobody@127.0.0.1:1/test?connect_timeout=2")


@pytest.fixture
def pg_schema() -> object:
    _needs_postgres()
    import uuid

    import psycopg

    schema = f"sm_test_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(postgres_conninfo(), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")  # type: ignore[arg-type]  # generated name


def test_a_lost_connection_is_unavailable_then_reconnects(pg_schema: str) -> None:
    import psycopg

    from statemachine.durable.postgres import PostgresStore

    store = PostgresStore(postgres_conninfo(), schema=pg_schema)
    store.create_execution(ExecutionRecord(RUN, "run", "arn:m", "v", "{}", T0))
    pid = store._conn.info.backend_pid  # private handle, test only: the session to cut
    with psycopg.connect(postgres_conninfo(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StoreUnavailable):
        store.execution(RUN)
    record = store.execution(RUN)  # the next call reconnects
    assert record is not None and record.name == "run"
    store.close()


def test_a_row_lock_held_past_the_busy_timeout_is_store_locked(pg_schema: str) -> None:
    import psycopg

    from statemachine.durable.postgres import PostgresStore

    store = PostgresStore(postgres_conninfo(), schema=pg_schema, busy_timeout=0.1)
    store.create_execution(ExecutionRecord(RUN, "run", "arn:m", "v", "{}", T0))
    with psycopg.connect(postgres_conninfo()) as other:  # a transaction that holds the row
        other.execute(f"SELECT 1 FROM {pg_schema}.executions FOR UPDATE")  # type: ignore[arg-type]  # generated name
        with pytest.raises(StoreLocked):
            store.append(RUN, [EventRecord(1, "ExecutionStarted", T0)], after=0)
        other.rollback()
    assert store.append(RUN, [EventRecord(1, "ExecutionStarted", T0)], after=0) == 1
    store.close()


def test_progress_only_async_commits_keep_the_append_rules(pg_schema: str) -> None:
    """``synchronous_commit="progress"``: event-only appends skip the WAL flush, the rest
    flush; either way an append is one compare-and-set (stale ``after``, lost lease)."""
    from statemachine.durable import EventConflict, ExecutionUpdate, LeaseLost
    from statemachine.durable.postgres import PostgresStore

    with pytest.raises(ValueError, match="synchronous_commit"):
        PostgresStore(postgres_conninfo(), schema=pg_schema, synchronous_commit="off")  # type: ignore[arg-type]  # the error under test
    store = PostgresStore(postgres_conninfo(), schema=pg_schema, synchronous_commit="progress")
    store.create_execution(ExecutionRecord(RUN, "run", "arn:m", "v", "{}", T0),
                           events=[EventRecord(1, "ExecutionStarted", T0)])
    lease = store.acquire_lease(RUN, "w1", now=T0, lease_seconds=30)
    events = [EventRecord(i, "PassStateEntered", T0, f'{{"n":{i}}}') for i in (2, 3)]
    assert store.append(RUN, events, after=1, lease=lease) == 3
    with pytest.raises(EventConflict):
        store.append(RUN, [EventRecord(3, "PassStateExited", T0)], after=2, lease=lease)
    store.acquire_lease(RUN, "w2", now=datetime(2026, 3, 2, tzinfo=UTC), lease_seconds=30)
    with pytest.raises(LeaseLost):
        store.append(RUN, [EventRecord(4, "PassStateExited", T0)], after=3, lease=lease)
    assert [e.body for e in store.history(RUN)][1:] == ['{"n":2}', '{"n":3}']
    store.append(RUN, [EventRecord(4, "ExecutionSucceeded", T0)], after=3,
                 update=ExecutionUpdate(status="SUCCEEDED", stop_date=T0))
    record = store.execution(RUN)
    assert record is not None and (record.status, record.last_event_id) == ("SUCCEEDED", 4)
    store.close()

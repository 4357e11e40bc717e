"""Fixtures of the durable-store tests: one ``backend`` per store implementation.

Every contract test runs twice: on SQLite (a file in tmp_path) and on PostgreSQL
(127.0.0.1:5432, database ``test``, user ``$PGUSER`` or ``postgres``; ``$SM_TEST_POSTGRES``
overrides the whole connection string). Each PostgreSQL test gets a schema of its own,
dropped afterwards. Where no server answers, the PostgreSQL tests skip and say why.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from durable_backends import Backend, postgres_conninfo, postgres_unavailable

from statemachine.durable import DurableStore, SqliteStore


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    opened: list[DurableStore] = []

    def track(factory: Callable[[], DurableStore]) -> Callable[[], DurableStore]:
        def open_one() -> DurableStore:
            store = factory()
            opened.append(store)
            return store
        return open_one

    if request.param == "sqlite":
        path = tmp_path / "store.db"

        def sqlite_sql(text: str) -> None:
            import sqlite3

            with sqlite3.connect(path) as db:
                db.execute(text)

        yield Backend("sqlite", track(lambda: SqliteStore(path)), ["sqlite", str(path)],
                      sqlite_sql)
    else:
        reason = postgres_unavailable()
        if reason is not None:
            pytest.skip(f"PostgreSQL backend not tested: {reason}")
        import psycopg

        from statemachine.durable.postgres import PostgresStore

        schema = f"sm_test_{uuid.uuid4().hex[:12]}"
        conninfo = postgres_conninfo()

        def pg_sql(text: str) -> None:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f"SET search_path TO {schema}")
                conn.execute(text)  # type: ignore[arg-type]  # test-built SQL text

        try:
            yield Backend("postgres", track(lambda: PostgresStore(conninfo, schema=schema)),
                          ["postgres", conninfo, schema], pg_sql)
        finally:
            for store in opened:
                store.close()
            opened.clear()
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")  # type: ignore[arg-type]  # generated name
    for store in opened:
        store.close()


@pytest.fixture
def store(backend: Backend) -> DurableStore:
    """A fresh, migrated store of the backend under test."""
    return backend.open()


@pytest.fixture(params=["stdlib", "orjson"])
def encoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The JSON encoder of the event segments and payload texts (durable/_events.py): json's,
    or orjson's when installed (the ``fast`` extra; skipped when not)."""
    from statemachine.durable import _events as events_module

    if request.param == "orjson":
        pytest.importorskip("orjson", reason="the fast extra (orjson) is not installed")
        monkeypatch.setattr(events_module, "_fast", None)  # looked up again
    else:
        monkeypatch.setattr(events_module, "_fast", False)
    return str(request.param)

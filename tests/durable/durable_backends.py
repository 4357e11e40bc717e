"""Backends of the durable-store tests (imported by conftest.py and the tests).

``postgres_conninfo()``: 127.0.0.1:5432, database ``test``, user ``$PGUSER`` or ``postgres``;
``$SM_TEST_POSTGRES`` overrides the whole connection string.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable

from statemachine.durable import DurableStore


def postgres_conninfo() -> str:
    """The test server's connection string."""
    explicit = os.environ.get("SM_TEST_POSTGRES")
    if explicit:
        return explicit
    user = os.environ.get("PGUSER", "postgres")
    return f"host=127.0.0.1 port=5432 dbname=test user={user} connect_timeout=3"


@functools.cache
def postgres_unavailable() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    try:
        with psycopg.connect(postgres_conninfo()) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        return f"no PostgreSQL server at {postgres_conninfo()!r}: {' '.join(str(error).split())}"
    return None


@dataclasses.dataclass
class Backend:
    """One database of one backend. ``open()`` opens another connection to it (as another
    worker or process would); ``argv`` names it for a subprocess (tests/durable/worker.py)."""

    kind: str
    open: Callable[[], DurableStore]
    argv: list[str]
    raw_sql: Callable[[str], None]

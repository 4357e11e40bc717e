"""An SQLite too old for the store (JSON functions, RETURNING, DROP COLUMN) is a named
error at open, naming the version needed and the one found, and nothing is created."""

from __future__ import annotations

from pathlib import Path

import pytest

from statemachine.durable import SqliteStore, StoreUnavailable
from statemachine.durable import sqlite as sqlite_store


def test_an_old_sqlite_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_store.sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite_store.sqlite3, "sqlite_version", "3.34.1")
    target = tmp_path / "data" / "x.db"
    with pytest.raises(StoreUnavailable, match=r"needs SQLite 3\.38\.0 or newer.*3\.34\.1"):
        SqliteStore(target)
    assert not target.exists()

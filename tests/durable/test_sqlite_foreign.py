"""An SQLite database of another application given as the store (``--db app.db``) is a named
error, StoreUnreadable, one line and exit 2 from the CLI, and the file is left as it was:
no traceback from a migration meeting a table of the same name, no tables of ours added."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from statemachine.durable import SqliteStore, StoreUnreadable

ROOT = Path(__file__).resolve().parents[2]


def _foreign(path: Path, table: str) -> list[str]:
    db = sqlite3.connect(path)
    db.execute(f"CREATE TABLE {table} (x)")
    db.execute(f"INSERT INTO {table} VALUES (1)")
    db.commit()
    db.close()
    return _tables(path)


def _tables(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [name for (name,) in db.execute("SELECT name FROM sqlite_master ORDER BY name")]
    finally:
        db.close()


@pytest.mark.parametrize("table", ["executions", "customers"])
def test_another_applications_database_is_refused_and_left_as_it_was(tmp_path: Path,
                                                                     table: str) -> None:
    path = tmp_path / "app.db"
    before = _foreign(path, table)
    with pytest.raises(StoreUnreadable, match=rf"something else \(tables: {table};"):
        SqliteStore(path)
    assert _tables(path) == before


@pytest.mark.parametrize("args", [
    ["executions", "list"],
    ["run", str(ROOT / "definitions" / "hello.yaml"), "--input", '{"name": "a"}'],
])
def test_the_cli_says_so_in_one_line(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "app.db"
    before = _foreign(path, "executions")
    result = subprocess.run([sys.executable, "-m", "statemachine.cli", *args, "--db", str(path)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "is an SQLite database of something else" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert _tables(path) == before


def test_an_empty_file_still_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    path.touch()
    SqliteStore(path).close()
    assert "schema_version" in _tables(path)

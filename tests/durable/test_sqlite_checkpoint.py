"""The SQLite store checkpoints its write-ahead log in a thread of its own (a commit never
pays the copy and the fsyncs), and ends that thread when it closes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from statemachine.durable import SqliteStore
from statemachine.service import Service

ROOT = Path(__file__).resolve().parents[2]


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sm-sqlite-checkpoint")]


def test_commits_are_checkpointed_by_the_stores_own_thread(tmp_path: Path) -> None:
    path = tmp_path / "executions.db"
    store = SqliteStore(path)
    try:
        size_after_setup = path.stat().st_size
        service = Service(store)
        for _ in range(20):  # ~20 commits of a few KiB: far below the writers' own bound
            service.start(ROOT / "definitions" / "hello.yaml", {"name": "x" * 2000})
        assert _checkpoint_threads(), "no checkpoint thread after commits"
        deadline = time.monotonic() + 30
        # the database file grows only by a checkpoint: the writer's automatic one waits for
        # AUTOCHECKPOINT_PAGES pages, so this growth is the thread's
        while path.stat().st_size <= size_after_setup:
            assert time.monotonic() < deadline, "the log was never copied into the database"
            time.sleep(0.05)
    finally:
        store.close()
    assert not _checkpoint_threads(), "the checkpoint thread outlived the store's close"


def test_a_store_that_only_reads_starts_no_thread(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "a.db").close()
    store = SqliteStore(tmp_path / "a.db")  # the schema exists: opening writes nothing
    try:
        store.executions()
        assert not _checkpoint_threads()
    finally:
        store.close()

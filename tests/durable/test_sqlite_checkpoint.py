"""The SQLite store checkpoints its write-ahead log in a thread of its own (a commit never
pays the copy and the fsyncs), and ends that thread when it closes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

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


def test_the_thread_checkpoints_the_stores_file_after_a_change_of_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    SqliteStore("executions.db").close()  # an existing database: opening it commits nothing
    store = SqliteStore("executions.db")  # a relative path
    try:
        size_before = (tmp_path / "a" / "executions.db").stat().st_size
        monkeypatch.chdir(tmp_path / "b")  # the program (or a task's handler) moves on
        service = Service(store)
        for _ in range(20):
            service.start(ROOT / "definitions" / "hello.yaml", {"name": "x" * 2000})
        deadline = time.monotonic() + 10
        # as above: only the thread's checkpoint grows the database file
        while (tmp_path / "a" / "executions.db").stat().st_size <= size_before:
            assert time.monotonic() < deadline, "the thread never checkpointed the store's file"
            time.sleep(0.05)
    finally:
        store.close()
    assert list((tmp_path / "b").iterdir()) == [], "a database was made in the new directory"


def test_a_commit_stands_when_the_checkpoint_thread_cannot_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start = threading.Thread.start

    def refuse(thread: threading.Thread) -> None:  # as at a process's thread limit
        if thread.name.startswith("sm-sqlite-checkpoint"):
            raise RuntimeError("can't start new thread")
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", refuse)
    store = SqliteStore(tmp_path / "executions.db")  # migrating commits: no error
    try:
        service = Service(store)
        arn = service.start(ROOT / "definitions" / "hello.yaml", {"name": "x"})["executionArn"]
        assert service.describe(arn)["status"] == "RUNNING"
    finally:
        store.close()  # nothing to join: no error either

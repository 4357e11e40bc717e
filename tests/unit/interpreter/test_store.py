"""Stores receive every event as it happens and the execution summary at start and end."""

from __future__ import annotations

from pathlib import Path

import pytest

import statemachine
from statemachine.store import MemoryStore, SqliteStore

DEFINITION = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": 1, "Next": "B"},
                                         "B": {"Type": "Fail", "Error": "E", "Cause": "C"}}}


@pytest.mark.parametrize("make", [MemoryStore, lambda: SqliteStore(":memory:")])
def test_store_keeps_summary_and_history(make: object) -> None:
    store = make()  # type: ignore[operator]
    execution = statemachine.load(DEFINITION).run({"x": 1}, store=store)
    saved = store.execution(execution.execution_arn)
    assert saved is not None
    assert (saved["status"], saved["error"], saved["cause"]) == ("FAILED", "E", "C")
    history = store.history(execution.execution_arn)
    assert [e["type"] for e in history] == [e["type"] for e in execution.history]
    assert history[1]["stateEnteredEventDetails"]["input"] == '{"x":1}'
    assert [e["executionArn"] for e in store.executions()] == [execution.execution_arn]


def test_sqlite_store_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    first = SqliteStore(path)
    execution = statemachine.load(DEFINITION).run({}, store=first)
    first.close()
    again = SqliteStore(path)
    assert again.execution(execution.execution_arn)["status"] == "FAILED"  # type: ignore[index]
    assert len(again.history(execution.execution_arn)) == len(execution.history)

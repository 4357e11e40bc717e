"""An inline Map on the Dask executor under real time: its iterations run on every worker at
once, never more of them at one instant than MaxConcurrency allows (0: AWS's 40 for inline
Maps), and the output is the in-process one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import statemachine

HOLD = '''
import os, time

def hold(value):
    start = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process of the machine
    time.sleep(0.2)
    return {"i": value["i"], "pid": os.getpid(), "start": start, "end": time.monotonic()}
'''


def _map(concurrency: int) -> dict[str, Any]:
    return {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": concurrency, "End": True,
        "ItemProcessor": {"StartAt": "H", "States": {"H": {
            "Type": "Task", "Resource": "python:sm_spread_tasks:hold", "End": True}}}}}}


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = most = 0
    for _, step in edges:  # an end before a start at the same instant
        running += step
        most = max(most, running)
    return most


@pytest.mark.parametrize(("concurrency", "items", "cap"), [(0, 120, 40), (5, 30, 5)])
def test_inline_map_runs_on_every_worker_within_max_concurrency(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dask_cluster: Any,
        concurrency: int, items: int, cap: int) -> None:
    (tmp_path / "sm_spread_tasks.py").write_text(HOLD)
    monkeypatch.syspath_prepend(str(tmp_path))
    machine = statemachine.load(_map(concurrency))
    execution = machine.run({"items": [{"i": i} for i in range(items)]}, executor=dask_cluster)
    assert execution.status == "SUCCEEDED", execution.cause
    out: Any = execution.output
    assert [o["i"] for o in out] == list(range(items))
    workers = set(dask_cluster.client.run(os.getpid).values())
    by_worker: dict[int, list[tuple[float, float]]] = {}
    for o in out:
        by_worker.setdefault(o["pid"], []).append((o["start"], o["end"]))
    assert set(by_worker) == workers  # every worker took a share
    spans = [span for spans in by_worker.values() for span in spans]
    assert _most_at_once(spans) <= cap
    # the workers ran at the same time (not one chunk after the other)
    a, b = (sorted(s) for s in by_worker.values())
    assert any(s1 < e2 and s2 < e1 for s1, e1 in a for s2, e2 in b)

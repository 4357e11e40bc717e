"""Durable executions (``sm worker``) with Map iterations and Parallel branches on Dask: the
stored history equals the in-memory one (what the workers return is recorded by the parent).
Under real time, concurrent iterations interleave by when they ran, here as in process: the
Map runs one iteration at a time so that both orders are one."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import statemachine
from statemachine.durable import open_store
from statemachine.durable.worker import Worker
from statemachine.service import Service

TASKS = "def double(value):\n    return value * 2\n"
FLOW = {"StartAt": "P", "States": {
    "P": {"Type": "Parallel", "Next": "M", "ResultPath": "$.p", "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": True}}},
        {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 0, "End": True}}}]},
    "M": {"Type": "Map", "ItemsPath": "$.items", "End": True, "MaxConcurrency": 1, "ItemProcessor": {
        "StartAt": "D", "States": {"D": {"Type": "Task", "Resource": "python:sm_durable_tasks:double",
                                         "End": True}}}}}}


def _shape(history: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["id"], e["previousEventId"], e["type"],
             {k: v for k, v in e.items() if k not in ("id", "previousEventId", "type", "timestamp")})
            for e in history]


def test_durable_worker_with_dask_records_the_in_memory_history(tmp_path: Path, dask_cluster: Any) -> None:
    (tmp_path / "sm_durable_tasks.py").write_text(TASKS)
    flow = tmp_path / "flow.asl.json"
    flow.write_text(json.dumps(FLOW))
    service = Service(open_store(str(tmp_path / "sm.db")))
    arn = service.start(flow, {"items": [1, 2, 3]})["executionArn"]
    worker = Worker(service.store, poll=0.05, lease_seconds=30, executor=dask_cluster,
                    log=lambda _: None)
    asyncio.run(worker.run(until=lambda: arn in worker.finished))
    described = service.describe(arn)
    expected = statemachine.load(flow).run({"items": [1, 2, 3]})
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == expected.output == [2, 4, 6]
    assert _shape(service.history(arn)) == _shape(expected.history)


def test_sm_worker_executor_flag_reports_an_unreachable_scheduler(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "statemachine.cli", "worker", "--db",
                           str(tmp_path / "sm.db"), "--executor", "dask://127.0.0.1:9",
                           "--until-idle"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SM_EXECUTOR_TIMEOUT": "1"})
    assert proc.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in proc.stderr

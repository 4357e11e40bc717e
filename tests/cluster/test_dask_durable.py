"""Durable executions (``sm worker``) with Map iterations and Parallel branches on Dask: the
stored history equals the in-memory one (what the workers return is recorded by the parent).
Under virtual time exactly; under real time, concurrent branches interleave by when they ran
(the Map runs one iteration at a time, so that only the Parallel's two branches can)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import statemachine
from statemachine.clock import VirtualClock
from statemachine.durable import open_store
from statemachine.durable.worker import Worker
from statemachine.service import Service

TASKS = "def double(value):\n    return value * 2\n"
FLOW = {"StartAt": "P", "States": {
    "P": {"Type": "Parallel", "Next": "M", "ResultPath": "$.p", "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": True}}},
        {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "b", "End": True}}}]},
    "M": {"Type": "Map", "ItemsPath": "$.items", "End": True, "MaxConcurrency": 1, "ItemProcessor": {
        "StartAt": "D", "States": {"D": {"Type": "Task", "Resource": "python:sm_durable_tasks:double",
                                         "End": True}}}}}}


def _shape(history: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["id"], e["previousEventId"], e["type"],
             {k: v for k, v in e.items() if k not in ("id", "previousEventId", "type", "timestamp")})
            for e in history]


def _run_durably(tmp_path: Path, executor: Any, clock: Any = None) -> tuple[Service, str]:
    (tmp_path / "sm_durable_tasks.py").write_text(TASKS)
    flow = tmp_path / "flow.asl.json"
    flow.write_text(json.dumps(FLOW))
    service = Service(open_store(str(tmp_path / "sm.db")))
    arn = service.start(flow, {"items": [1, 2, 3]})["executionArn"]
    worker = Worker(service.store, poll=0.05, lease_seconds=30, executor=executor, clock=clock,
                    log=lambda _: None)
    asyncio.run(worker.run(until=lambda: arn in worker.finished))
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [2, 4, 6]
    return service, arn


def test_durable_worker_with_dask_under_virtual_time_records_the_in_memory_history(
        tmp_path: Path, dask_cluster: Any) -> None:
    """Virtual time orders concurrent branches by (logical time, branch index): the same
    history as run(), every time (the durable runner's clock wraps the worker's VirtualClock:
    it once counted as real time, and branches came back in the order the workers finished)."""
    for attempt in range(3):
        folder = tmp_path / str(attempt)
        folder.mkdir()
        service, arn = _run_durably(folder, dask_cluster, VirtualClock())
        expected = statemachine.load(folder / "flow.asl.json").run({"items": [1, 2, 3]},
                                                                  virtual_time=True)
        assert _shape(service.history(arn)) == _shape(expected.history)


def test_durable_worker_with_dask_under_real_time_interleaves_branches_by_time(
        tmp_path: Path, dask_cluster: Any) -> None:
    """Real time: the Parallel's branches ran at once on two workers, so their events may
    interleave either way (as on AWS), ordered by timestamp; each branch's own events, and
    everything outside the Parallel, are the in-memory run's."""
    service, arn = _run_durably(tmp_path, dask_cluster)
    history = service.history(arn)
    expected = statemachine.load(tmp_path / "flow.asl.json").run({"items": [1, 2, 3]}).history

    def split(events: list[dict[str, Any]]) -> tuple[list[Any], dict[str, list[Any]]]:
        outside: list[Any] = []
        branches: dict[str, list[Any]] = {}
        inside = False
        for event in events:
            kind = event["type"]
            if kind == "ParallelStateExited":
                inside = False
            if inside:
                details = next(v for k, v in event.items() if k.endswith("EventDetails"))
                branches.setdefault(details["name"], []).append((kind, details))
            else:
                outside.append((kind, {k: v for k, v in event.items()
                                       if k not in ("id", "previousEventId", "timestamp")}))
            if kind == "ParallelStateStarted":
                inside = True
        return outside, branches

    assert split(history) == split(expected)
    stamps = [event["timestamp"] for event in history]
    assert stamps == sorted(stamps)


def test_sm_worker_executor_flag_reports_an_unreachable_scheduler(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "statemachine.cli", "worker", "--db",
                           str(tmp_path / "sm.db"), "--executor", "dask://127.0.0.1:9",
                           "--until-idle"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SM_EXECUTOR_TIMEOUT": "1"})
    assert proc.returncode == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in proc.stderr


TASKS_DISTRIBUTED = ("def check(value):\n"
                     "    if value['n'] < 0:\n"
                     "        raise ValueError('negative ' + str(value['n']))\n"
                     "    return value['n'] * 10\n")
DISTRIBUTED = {"StartAt": "M", "States": {"M": {
    "Type": "Map", "ItemsPath": "$.items", "End": True, "ToleratedFailureCount": 1,
    "ItemSelector": {"n.$": "$$.Map.Item.Value"},
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                      "StartAt": "C", "States": {"C": {
                          "Type": "Task", "Resource": "python:sm_distributed_tasks:check",
                          "End": True}}}}}}


def _no_request_id(value: Any) -> Any:
    """``value`` with the Lambda-style requestId of a Python Task's error cause blanked (a
    random UUID per call, in process as on a worker)."""
    return json.loads(re.sub(r'requestId\\*": \\*"[0-9a-f-]+', "requestId", json.dumps(value)))


def _map_run(tmp_path: Path, name: str, executor: Any) -> tuple[Service, dict[str, Any], list[Any]]:
    """One durable execution of DISTRIBUTED in its own SQLite store: its description, and
    per child (by input) its ListExecutions item and history."""
    flow = tmp_path / "flow.asl.json"
    service = Service(open_store(str(tmp_path / f"{name}.db")))
    arn = service.start(flow, {"items": [1, -2, 3, 4]})["executionArn"]
    worker = Worker(service.store, poll=0.05, lease_seconds=30, executor=executor,
                    log=lambda _: None)
    asyncio.run(worker.run(until=lambda: arn in worker.finished))
    runs = service.list_map_runs(arn)["mapRuns"]
    assert len(runs) == 1, runs
    described = service.describe_map_run(runs[0]["mapRunArn"])
    children = service.list(map_run_arn=runs[0]["mapRunArn"])
    by_input = sorted((json.loads(service.describe(c["executionArn"])["input"])["n"], c,
                       service.describe(c["executionArn"]), service.history(c["executionArn"]))
                      for c in children)
    return service, {"parent": service.describe(arn), "run": described}, by_input


def test_distributed_map_children_on_dask_are_recorded_as_in_process(tmp_path: Path,
                                                                     dask_cluster: Any) -> None:
    (tmp_path / "sm_distributed_tasks.py").write_text(TASKS_DISTRIBUTED)
    (tmp_path / "flow.asl.json").write_text(json.dumps(DISTRIBUTED))
    sys.path.insert(0, str(tmp_path))  # the in-process worker imports the tasks too
    try:
        _, local, local_children = _map_run(tmp_path, "local", None)
        _, remote, remote_children = _map_run(tmp_path, "dask", dask_cluster)
    finally:
        sys.path.remove(str(tmp_path))
    for found in (local, remote):
        assert found["parent"]["status"] == "SUCCEEDED", found["parent"]
        output = json.loads(found["parent"]["output"])
        assert [output[0], output[2], output[3]] == [10, 30, 40]
        assert output[1]["Error"] == "ValueError" and "negative -2" in output[1]["Cause"]
        run = found["run"]
        assert run["status"] == "SUCCEEDED"
        assert run["itemCounts"]["total"] == run["executionCounts"]["total"] == 4
        assert run["executionCounts"]["succeeded"] == 3 and run["executionCounts"]["failed"] == 1
        assert run["toleratedFailureCount"] == 1 and run["stopDate"] is not None
    assert [n for n, *_ in remote_children] == [-2, 1, 3, 4]
    for (n, item, described, history), (_, local_item, local_described, local_history) in zip(
            remote_children, local_children, strict=True):
        assert item["status"] == local_item["status"] == ("FAILED" if n < 0 else "SUCCEEDED")
        assert item["mapRunArn"] == remote["run"]["mapRunArn"] and item["itemCount"] == 1
        assert described["stopDate"] >= described["startDate"]
        for key in ("status", "output", "error", "cause", "redriveStatus"):
            assert _no_request_id(described.get(key)) == _no_request_id(local_described.get(key)), key
        assert _no_request_id(_shape(history)) == _no_request_id(_shape(local_history))
        assert history[-1]["type"] == ("ExecutionFailed" if n < 0 else "ExecutionSucceeded")

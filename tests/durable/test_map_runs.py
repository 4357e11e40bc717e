"""Distributed Map runs of durable executions, on SQLite and PostgreSQL: the parent's history
is the in-memory one, each child execution is a record with its own history, ListMapRuns /
DescribeMapRun / ListExecutions(mapRunArn) answer in AWS's shapes, children that completed
are not run again when the parent resumes or is redriven, stop aborts them, a callback in a
child wakes the parent; redriveStatus and the redriveFilter as AWS documents them."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from durable_backends import Backend

import statemachine
from statemachine.durable import DurableStore
from statemachine.durable.worker import Worker
from statemachine.service import (
    ExecutionDoesNotExist,
    ExecutionNotRedrivable,
    ResourceNotFound,
    Service,
    ValidationException,
)

FLOWS = Path(__file__).parent / "flows"
COUNT_KEYS = {"pending", "running", "succeeded", "failed", "timedOut", "aborted", "total",
              "resultsWritten", "failuresNotRedrivable", "pendingRedrive"}
MAP_RUN_ARN = re.compile(r"^arn:aws:states:[a-z0-9-]+:\d{12}:mapRun:dmap/Fanout:"
                         r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
CHILD_ARN = re.compile(r"^arn:aws:states:[a-z0-9-]+:\d{12}:execution:dmap/Fanout:[0-9a-f-]{36}$")


@pytest.fixture
def service(backend: Backend) -> Iterator[Service]:
    yield Service(backend.open())


@pytest.fixture(autouse=True)
def crash_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "calls.log"
    monkeypatch.setenv("SM_CRASH_LOG", str(log))
    monkeypatch.setenv("SM_CRASH_SLEEP", "0")
    monkeypatch.setenv("SM_REDRIVE_FLAG", str(tmp_path / "flag"))
    return log


def calls(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def work(store: DurableStore, *, park_after: float = 2.0) -> Worker:
    """Run a worker until nothing runs and nothing falls due within ``park_after``."""
    worker = Worker(store, poll=0.05, park_after=park_after, lease_seconds=5, log=lambda _: None)

    def idle() -> bool:
        if worker._active:
            return False
        wake = store.next_wakeup()
        return wake is None or (wake - datetime.now(UTC)).total_seconds() > park_after

    asyncio.run(worker.run(until=idle))
    return worker


def dmap_input(n: int, *, pause: float = 0, fail: list[int] | None = None,
               tolerate: int = 0) -> dict[str, Any]:
    return {"items": list(range(n)), "pause": pause, "fail": fail or [], "tolerate": tolerate}


def only_run(service: Service, arn: str) -> str:
    [run] = service.list_map_runs(arn)["mapRuns"]
    return str(run["mapRunArn"])


def test_parent_history_is_the_in_memory_one_and_children_are_records(service: Service) -> None:
    value = dmap_input(5)
    arn = service.start(FLOWS / "dmap.yaml", value)["executionArn"]
    work(service.store)
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED"
    expected = statemachine.load(FLOWS / "dmap.yaml").run(value)
    assert json.loads(described["output"]) == expected.output
    history = service.history(arn)
    # the parent keeps exactly what AWS records there (no child event)
    assert [(e["id"], e["previousEventId"], e["type"]) for e in history] == \
        [(e["id"], e["previousEventId"], e["type"]) for e in expected.history]
    assert [e["type"] for e in history] == [
        "ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapRunStarted",
        "MapRunSucceeded", "MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"]
    run_arn = history[3]["mapRunStartedEventDetails"]["mapRunArn"]
    assert MAP_RUN_ARN.match(run_arn)
    listed = service.list_map_runs(arn)
    assert listed == {"mapRuns": [{
        "executionArn": arn, "mapRunArn": run_arn, "stateMachineArn": described["stateMachineArn"],
        "startDate": listed["mapRuns"][0]["startDate"], "stopDate": listed["mapRuns"][0]["stopDate"]}]}
    children = service.list(map_run_arn=run_arn)
    assert len(children) == 5
    for child in children:
        assert CHILD_ARN.match(child["executionArn"])
        assert set(child) == {"executionArn", "stateMachineArn", "name", "status", "startDate",
                              "stopDate", "mapRunArn", "itemCount", "redriveCount"}
        assert child["stateMachineArn"] == described["stateMachineArn"] + "/Fanout"
        assert (child["status"], child["mapRunArn"], child["itemCount"]) == ("SUCCEEDED", run_arn, 1)
        assert child["executionArn"].endswith(":" + child["name"])
        events = service.history(child["executionArn"])
        assert [e["type"] for e in events] == [
            "ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted",
            "TaskSucceeded", "TaskStateExited", "WaitStateEntered", "WaitStateExited",
            "ChoiceStateEntered", "ChoiceStateExited", "PassStateEntered", "PassStateExited",
            "ExecutionSucceeded"]
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        one = service.describe(child["executionArn"])
        assert one["mapRunArn"] == run_arn
        assert (one["redriveStatus"], one["redriveStatusReason"]) == (
            "NOT_REDRIVABLE", "Execution is SUCCEEDED and cannot be redriven")
    outputs = sorted((json.loads(service.describe(c["executionArn"])["output"]) for c in children),
                     key=lambda o: o["index"])
    assert outputs == expected.output
    assert [c["executionArn"] for c in service.list()] == [arn]  # children are listed by map run


def test_describe_map_run_counts_and_tolerated_failures(service: Service) -> None:
    arn = service.start(FLOWS / "dmap.yaml", dmap_input(6, fail=[1, 4], tolerate=2))["executionArn"]
    work(service.store)
    assert service.describe(arn)["status"] == "SUCCEEDED"
    run_arn = only_run(service, arn)
    found = service.describe_map_run(run_arn)
    assert set(found) == {"mapRunArn", "executionArn", "status", "startDate", "stopDate",
                          "maxConcurrency", "toleratedFailurePercentage",
                          "toleratedFailureCount", "itemCounts", "executionCounts",
                          "redriveCount"}
    assert (found["mapRunArn"], found["executionArn"], found["status"]) == (run_arn, arn, "SUCCEEDED")
    assert (found["maxConcurrency"], found["toleratedFailureCount"],
            found["toleratedFailurePercentage"], found["redriveCount"]) == (4, 2, 0.0, 0)
    for counts in (found["itemCounts"], found["executionCounts"]):
        assert set(counts) == COUNT_KEYS
        assert (counts["total"], counts["succeeded"], counts["failed"], counts["pending"],
                counts["running"], counts["aborted"]) == (6, 4, 2, 0, 0, 0)
    failed = service.list(map_run_arn=run_arn, status="FAILED")
    assert len(failed) == 2
    child = service.describe(failed[0]["executionArn"])
    assert (child["status"], child["error"], child["cause"]) == ("FAILED", "Item.Broken", "this item fails")
    assert child["redriveStatus"] == "REDRIVABLE_BY_MAP_RUN" and "redriveStatusReason" not in child
    assert service.history(failed[0]["executionArn"])[-1]["type"] == "ExecutionFailed"
    with pytest.raises(ExecutionNotRedrivable):  # a child is redriven through its parent
        service.redrive(failed[0]["executionArn"])


def test_map_run_errors(service: Service) -> None:
    arn = service.start(FLOWS / "dmap.yaml", dmap_input(1))["executionArn"]
    with pytest.raises(ResourceNotFound):
        service.describe_map_run(arn.replace(":execution:", ":mapRun:") + "/Fanout:x")
    with pytest.raises(ResourceNotFound):
        service.list(map_run_arn="arn:aws:states:us-east-1:123456789012:mapRun:dmap/Fanout:x")
    with pytest.raises(ExecutionDoesNotExist):
        service.list_map_runs(arn + "-nope")
    with pytest.raises(ValidationException):
        service.list(status="PENDING_REDRIVE")
    with pytest.raises(ValidationException):
        service.list(machine="dmap", map_run_arn="arn:x")
    with pytest.raises(ValidationException):
        service.list(redrive_filter="SOMETIMES")
    assert service.list_map_runs(arn) == {"mapRuns": []}  # not yet run


def test_children_park_and_resume_without_running_their_tasks_again(service: Service,
                                                                      crash_log: Path) -> None:
    arn = service.start(FLOWS / "dmap.yaml", dmap_input(3, pause=2))["executionArn"]
    work(service.store, park_after=0.3)  # every child parks on its Wait; so does the parent
    assert service.describe(arn)["status"] == "RUNNING"
    assert sorted(calls(crash_log)) == ["item-0", "item-1", "item-2"]
    run_arn = only_run(service, arn)
    for child in service.list(map_run_arn=run_arn):
        assert child["status"] == "RUNNING"
        types = [e["type"] for e in service.history(child["executionArn"])]
        assert types[-1] == "WaitStateEntered"  # committed when the parent parked
    assert service.store.timers(arn) and service.store.lease(arn) is None
    work(service.store, park_after=3)  # wakes at the Wait's end and finishes
    assert service.describe(arn)["status"] == "SUCCEEDED"
    assert sorted(calls(crash_log)) == ["item-0", "item-1", "item-2"]
    for child in service.list(map_run_arn=run_arn):
        events = service.history(child["executionArn"])
        entered = next(e for e in events if e["type"] == "WaitStateEntered")
        exited = next(e for e in events if e["type"] == "WaitStateExited")
        assert exited["timestamp"] - entered["timestamp"] >= timedelta(seconds=2)
        assert [e["type"] for e in events].count("TaskStarted") == 1


def test_stop_aborts_the_map_run_and_its_children(service: Service) -> None:
    arn = service.start(FLOWS / "dmap.yaml", dmap_input(2, pause=3600))["executionArn"]
    work(service.store, park_after=0.3)
    run_arn = only_run(service, arn)
    service.stop(arn, "Stop", "by test")
    assert service.describe(arn)["status"] == "ABORTED"
    assert service.describe_map_run(run_arn)["status"] == "ABORTED"
    for child in service.list(map_run_arn=run_arn):
        assert child["status"] == "ABORTED"
        assert service.history(child["executionArn"])[-1]["type"] == "ExecutionAborted"
    assert service.describe_map_run(run_arn)["executionCounts"]["aborted"] == 2


def test_redrive_reruns_only_the_failed_child(service: Service, crash_log: Path,
                                              tmp_path: Path) -> None:
    arn = service.start(FLOWS / "dmap_redrive.yaml", {"items": [0, 1, 2, 3, 4]})["executionArn"]
    work(service.store)
    described = service.describe(arn)
    assert described["status"] == "FAILED"
    assert (described["redriveStatus"], "redriveStatusReason" in described) == ("REDRIVABLE", False)
    run_arn = only_run(service, arn)
    before = service.describe_map_run(run_arn)
    assert before["status"] == "FAILED"
    assert (before["executionCounts"]["succeeded"], before["executionCounts"]["failed"],
            before["executionCounts"]["pending"]) == (3, 1, 1)
    (tmp_path / "flag").touch()
    service.redrive(arn)
    [pending] = service.list(map_run_arn=run_arn, status="PENDING_REDRIVE")
    assert service.describe_map_run(run_arn)["executionCounts"]["pendingRedrive"] == 1
    work(service.store)
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"items": [0, 10, 20, 30, 40], "redriveCount": 1}
    assert sorted(calls(crash_log)) == sorted(
        ["item-0", "item-1", "item-2", "item-3", "item-3", "item-4"])
    types = [e["type"] for e in service.history(arn)]
    assert types[types.index("ExecutionRedriven") + 1] == "MapRunRedriven"
    redriven = next(e for e in service.history(arn) if e["type"] == "MapRunRedriven")
    assert redriven["mapRunRedrivenEventDetails"] == {"mapRunArn": run_arn, "redriveCount": 1}
    after = service.describe_map_run(run_arn)
    assert (after["status"], after["redriveCount"], "redriveDate" in after) == ("SUCCEEDED", 1, True)
    assert after["executionCounts"]["succeeded"] == 5
    again = service.list(map_run_arn=run_arn, redrive_filter="REDRIVEN")
    assert [c["executionArn"] for c in again] == [pending["executionArn"]]
    assert again[0]["redriveCount"] == 1 and again[0]["status"] == "SUCCEEDED"
    assert len(service.list(map_run_arn=run_arn, redrive_filter="NOT_REDRIVEN")) == 4
    child_types = [e["type"] for e in service.history(pending["executionArn"])]
    assert "ExecutionRedriven" in child_types and child_types[-1] == "ExecutionSucceeded"
    assert [c["executionArn"] for c in service.list(redrive_filter="REDRIVEN")] == [arn]


def test_callback_in_a_child_wakes_the_parent(service: Service) -> None:
    arn = service.start(FLOWS / "dmap_callback.yaml", {"items": [1, 2]})["executionArn"]
    work(service.store)
    tokens = service.task_tokens(arn)  # the parent's: answering wakes its worker
    assert len(tokens) == 2
    for n, token in enumerate(tokens):
        service.send_task_success(token, {"answer": n})
    work(service.store)
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED"
    assert sorted(json.loads(described["output"]), key=lambda o: o["answer"]) == [
        {"answer": 0}, {"answer": 1}]


def test_redrive_status_of_executions(service: Service) -> None:
    arn = service.start(FLOWS / "dmap.yaml", dmap_input(1, pause=3600))["executionArn"]
    running = service.describe(arn)
    assert (running["redriveStatus"], running["redriveStatusReason"]) == (
        "NOT_REDRIVABLE", "Execution is RUNNING and cannot be redriven")
    with pytest.raises(ExecutionNotRedrivable, match="Execution is RUNNING"):
        service.redrive(arn)
    service.stop(arn)
    stopped = service.describe(arn)
    assert stopped["redriveStatus"] == "REDRIVABLE" and "redriveStatusReason" not in stopped
    assert [c["executionArn"] for c in service.list(redrive_filter="NOT_REDRIVEN")] == [arn]
    assert service.list(redrive_filter="REDRIVEN") == []
    # 14 days after it stopped, AWS no longer redrives it
    from statemachine.service import redrive_status

    record = service.store.execution(arn)
    assert record is not None and record.stop_date is not None
    assert redrive_status(record, record.stop_date + timedelta(days=15)) == (
        "NOT_REDRIVABLE", "Execution redrivable period exceeded")
    assert redrive_status(record, record.stop_date + timedelta(days=13))[0] == "REDRIVABLE"


def test_stopping_the_parent_mid_run_is_no_store_failure(service: Service, crash_log: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # StopExecution of a Distributed Map's parent aborts its running children; the worker
    # that ran them loses them to the stop: that is no "store failure" to report
    monkeypatch.setenv("SM_CRASH_SLEEP", "1")
    arn = service.start(FLOWS / "dmap.yaml", dmap_input(2))["executionArn"]
    logs: list[str] = []
    worker = Worker(service.store, poll=0.05, park_after=2, lease_seconds=30, log=logs.append)

    async def stop_while_children_run() -> None:
        running = asyncio.ensure_future(worker.run())
        for _ in range(3000):  # a bound, not a measurement
            if calls(crash_log):
                break
            await asyncio.sleep(0.01)
        service.stop(arn)
        for _ in range(3000):
            if not worker._active:
                break
            await asyncio.sleep(0.01)
        worker.stop()
        await asyncio.wait_for(running, 60)

    asyncio.run(stop_while_children_run())
    assert service.describe(arn)["status"] == "ABORTED"
    assert not [line for line in logs if "store failure" in line], logs

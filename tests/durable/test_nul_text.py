"""A NUL character in an Error or Cause (a Fail state's, StopExecution's) never fails a
commit. PostgreSQL's text cannot hold NUL ("text fields cannot contain NUL"): the execution's
error/cause columns keep U+FFFD in its place there, while the history (JSON text, where NUL is
the escape \\u0000) keeps it exactly; SQLite keeps it everywhere."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from durable_backends import Backend

from statemachine.durable.worker import Worker
from statemachine.service import Service

CAUSE = "before\x00after"


def _finish(service: Service, arn: str) -> None:
    """Run the execution until it ends; a commit that keeps failing fails the test after
    30 s (the worker retries a store error for ever: the execution stays RUNNING)."""
    worker = Worker(service.store, poll=0.01, lease_seconds=5, log=lambda _: None)
    done = lambda: service.describe(arn)["status"] != "RUNNING"  # noqa: E731
    asyncio.run(asyncio.wait_for(worker.run(until=done), timeout=30))


def test_a_fail_state_cause_with_nul_fails_the_execution(backend: Backend, tmp_path: Path) -> None:
    flow = tmp_path / "fail.json"
    flow.write_text(json.dumps({"StartAt": "F", "States": {
        "F": {"Type": "Fail", "Error": "Bad\x00Error", "Cause": CAUSE}}}))
    service = Service(backend.open())
    try:
        arn = service.start(flow, {})["executionArn"]
        _finish(service, arn)
        described = service.describe(arn)
        assert described["status"] == "FAILED"
        kept = "\x00" if backend.kind == "sqlite" else "\ufffd"
        assert described["cause"] == CAUSE.replace("\x00", kept)
        failed = [e for e in service.history(arn) if e["type"] == "ExecutionFailed"]
        assert failed[0]["executionFailedEventDetails"]["cause"] == CAUSE  # the history: exact
    finally:
        service.close()


def test_stop_with_nul_in_its_cause_aborts_the_execution(backend: Backend, tmp_path: Path) -> None:
    flow = tmp_path / "wait.json"
    flow.write_text(json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": True}}}))
    service = Service(backend.open())
    try:
        arn = service.start(flow, {})["executionArn"]
        service.stop(arn, error="Stop\x00ped", cause=CAUSE)
        assert service.describe(arn)["status"] == "ABORTED"
    finally:
        service.close()

"""``Worker.resume``: an execution whose task token was answered in the worker's own process
(``sm serve``'s SendTaskSuccess) is claimed ahead of the executions due before it, and a
name with nothing due (or no execution) is let go without running anything."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from durable_backends import Backend

from statemachine.durable.worker import Worker
from statemachine.service import Service

DEFINITIONS = Path(__file__).parents[2] / "definitions"


@pytest.fixture
def service(backend: Backend) -> Iterator[Service]:
    yield Service(backend.open())


def parked_on_a_callback(service: Service, outbox: Path) -> tuple[str, str]:
    """A human_approval execution run until it waits for its token: (ARN, token)."""
    arn = service.start(DEFINITIONS / "human_approval.yaml",
                        {"expenseId": "e-1", "amount": 12, "reviewer": "ana"})["executionArn"]
    worker = Worker(service.store, poll=0.05, lease_seconds=5, log=lambda _: None)
    asyncio.run(worker.run(until=lambda: not worker._active and bool(service.task_tokens(arn))))
    [token] = service.task_tokens(arn)
    assert service.describe(arn)["status"] == "RUNNING"
    return arn, token


def passes(service: Service, tmp_path: Path, count: int) -> list[str]:
    flow = tmp_path / "pass.json"
    flow.write_text(json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))
    return [service.start(flow, {"n": n})["executionArn"] for n in range(count)]


def test_an_answered_execution_is_claimed_before_those_due_earlier(
        service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVAL_OUTBOX", str(tmp_path))
    answered, token = parked_on_a_callback(service, tmp_path)
    earlier = passes(service, tmp_path, 3)  # due now, before the answer below
    assert service.send_task_success(token, {"approvedBy": "ana"}) == answered

    worker = Worker(service.store, concurrency=1, poll=0.05, lease_seconds=5,
                    log=lambda _: None)
    worker.resume(answered)
    asyncio.run(worker.run(until=lambda: bool(worker.finished)))
    assert list(worker.finished) == [answered]
    assert json.loads(service.describe(answered)["output"])["approvedBy"] == "ana"

    rest = Worker(service.store, poll=0.05, lease_seconds=5, log=lambda _: None)
    asyncio.run(rest.run(until=lambda: len(rest.finished) == len(earlier)))
    assert [service.describe(arn)["status"] for arn in earlier] == ["SUCCEEDED"] * 3


def test_a_resume_with_nothing_due_runs_nothing(service: Service, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVAL_OUTBOX", str(tmp_path))
    waiting, _ = parked_on_a_callback(service, tmp_path)  # its token is not answered
    [due] = passes(service, tmp_path, 1)
    worker = Worker(service.store, concurrency=1, poll=0.05, lease_seconds=5,
                    log=lambda _: None)
    worker.resume(waiting)
    worker.resume(f"{waiting}-gone")  # no such execution
    asyncio.run(worker.run(until=lambda: bool(worker.finished)))
    assert list(worker.finished) == [due]
    assert service.describe(waiting)["status"] == "RUNNING"
    lease = service.store.lease(waiting)  # let go at once, not held until it lapses
    assert lease is None or lease.until <= datetime.now(UTC)
    assert service.task_tokens(waiting)  # still waiting for its answer


def test_an_idle_worker_notices_a_token_answered_by_another_process(
        backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite: the idle worker looks at the store's data_version between polls, so a token
    answered through another connection (``sm task success``, another server) is claimed
    long before its hour-long poll would have come."""
    if backend.kind != "sqlite":
        pytest.skip("data_version is SQLite's (PostgreSQL workers see answers at their poll)")
    monkeypatch.setenv("APPROVAL_OUTBOX", str(tmp_path))
    here = Service(backend.open())
    arn, token = parked_on_a_callback(here, tmp_path)
    elsewhere = Service(backend.open())  # another process's connection
    worker = Worker(here.store, poll=3600, lease_seconds=5, log=lambda _: None)

    async def answer_while_idle() -> None:
        running = asyncio.ensure_future(worker.run())
        await asyncio.sleep(0.2)  # claimed nothing, sleeping its poll
        assert not worker.finished
        elsewhere.send_task_success(token, {"approvedBy": "ana"})
        for _ in range(3000):  # a bound (60 s), not a measurement: the poll is an hour
            if worker.finished:
                break
            await asyncio.sleep(0.02)
        worker.stop()
        await asyncio.wait_for(running, 60)

    asyncio.run(answer_while_idle())
    assert worker.finished == {arn: "SUCCEEDED"}

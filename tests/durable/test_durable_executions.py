"""Durable executions through the public Service and Worker, on SQLite and PostgreSQL:
replayed histories equal in-memory ones, callbacks from the store, AWS's token errors,
named starts, stop, redrive, parking, and store failures that never fail a workflow."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from durable_backends import Backend

import statemachine
from statemachine.durable import DurableStore, StoreUnavailable
from statemachine.durable.runner import aws_event, event_record
from statemachine.durable.worker import Worker
from statemachine.service import (
    ExecutionAlreadyExists,
    ExecutionDoesNotExist,
    ExecutionNotRedrivable,
    InvalidToken,
    Service,
    TaskDoesNotExist,
    TaskTimedOut,
)

FLOWS = Path(__file__).parent / "flows"
DEFINITIONS = Path(__file__).parents[2] / "definitions"


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


def work(store: DurableStore, *, park_after: float = 2.0, logs: list[str] | None = None) -> Worker:
    """Run a worker until nothing is due or running (parked executions stay parked)."""
    worker = Worker(store, poll=0.05, park_after=park_after, lease_seconds=5,
                    log=(logs.append if logs is not None else lambda _: None))

    asyncio.run(worker.run(until=lambda: worker_idle(worker, store, park_after)))
    return worker


def worker_idle(worker: Worker, store: Any, within: float) -> bool:
    """Nothing runs and nothing falls due within ``within`` seconds."""
    if worker._active:
        return False
    wake = store.next_wakeup()
    return wake is None or (wake - datetime.now(UTC)).total_seconds() > within


def shape(history: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["id"], e["previousEventId"], e["type"],
             {k: v for k, v in e.items() if k not in ("id", "previousEventId", "type", "timestamp")})
            for e in history]


def test_durable_history_equals_the_in_memory_one(service: Service, tmp_path: Path) -> None:
    # a sequential machine: same events, ids, links and details as run() records
    flow = tmp_path / "seq.yaml"
    flow.write_text(json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.a", "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 0, "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.a.x", "NumericEquals": 1, "Next": "P"}],
              "Default": "F"},
        "P": {"Type": "Parallel", "Branches": [
            {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "End": True}}}], "Next": "E"},
        "F": {"Type": "Fail", "Error": "X"},
        "E": {"Type": "Succeed"}}}))
    arn = service.start(flow, {"k": "v"})["executionArn"]
    work(service.store)
    expected = statemachine.load(flow).run({"k": "v"})
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == expected.output
    assert shape(service.history(arn)) == shape(expected.history)
    # the store's records: each body is the text the in-memory event is stored as, and
    # renders as GetExecutionHistory does
    records = service.store.history(arn)
    assert [r.body for r in records] == [event_record(e).body for e in expected.events]
    assert [aws_event(r) for r in records] == service.history(arn)


def test_a_lone_surrogate_in_a_value_is_stored_and_read_back_as_run_gives_it(
        service: Service, tmp_path: Path) -> None:
    # a JSON definition may spell a lone UTF-16 surrogate ("\\ud800"); run() carries it to
    # the output, so a durable run must too: no UTF-8 text holds one, and the store used to
    # fail every append (UnicodeEncodeError), leaving the execution RUNNING for ever
    flow = tmp_path / "surrogate.json"
    flow.write_text(json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": {"s": "a\ud800b", "\udfff": ["\ud83d"]}, "End": True}}}))
    arn = service.start(flow, {"k": "caf\u00e9"})["executionArn"]
    work(service.store)
    expected = statemachine.load(flow).run({"k": "caf\u00e9"})
    assert expected.output == {"s": "a\ud800b", "\udfff": ["\ud83d"]}
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == expected.output
    assert shape(service.history(arn)) == shape(expected.history)


def test_crash_flow_runs_every_task_once_and_ids_have_no_gap(service: Service, crash_log: Path) -> None:
    arn = service.start(FLOWS / "crash.yaml", {"n": 3, "items": list(range(50))}, seed=7)["executionArn"]
    work(service.store)
    assert service.describe(arn)["status"] == "SUCCEEDED"
    names = calls(crash_log)
    assert sorted(names) == sorted(["first", "branch-a", "branch-b", "last",
                                    *(f"item-{i}" for i in range(50))])
    ids = [e["id"] for e in service.history(arn)]
    assert ids == list(range(1, len(ids) + 1))


def test_same_seed_same_random_values(backend: Backend) -> None:
    outputs = []
    for _ in range(2):
        service = Service(backend.open())
        service.store.close  # noqa: B018 - (kept open for the fixture to close)
        arn = service.start(FLOWS / "crash.yaml", {"n": 1, "items": [1, 2]}, seed=99)["executionArn"]
        work(service.store)
        outputs.append(json.loads(service.describe(arn)["output"]))
        service.stop(arn)  # ended: no-op
    assert outputs[0] == outputs[1]
    assert outputs[0]["items"][0]["tag"] != outputs[0]["items"][1]["tag"]


def test_callback_answered_from_the_store(service: Service, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVAL_OUTBOX", str(tmp_path))
    arn = service.start(DEFINITIONS / "human_approval.yaml",
                        {"expenseId": "e-1", "amount": 12, "reviewer": "ana"})["executionArn"]
    work(service.store)  # runs RequestApproval, parks on the callback
    assert service.describe(arn)["status"] == "RUNNING"
    assert service.store.lease(arn) is None or service.store.lease(arn).until < datetime.now(UTC)  # type: ignore[union-attr]
    [token] = service.task_tokens(arn)
    sent = json.loads((tmp_path / "approval-requests.jsonl").read_text())
    assert sent["taskToken"] == token
    service.send_task_heartbeat(token)
    service.send_task_success(token, {"approvedBy": "ana"})
    with pytest.raises(TaskDoesNotExist):  # answered already
        service.send_task_success(token, {"approvedBy": "bob"})
    work(service.store)
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"expenseId": "e-1", "status": "APPROVED",
                                               "approvedBy": "ana"}
    types = [e["type"] for e in service.history(arn)]
    assert types.count("TaskSubmitted") == 1 and types.count("TaskSucceeded") == 1


def test_a_parked_execution_of_a_version_5_database_resumes_after_the_migration(
        backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # version 5 kept one row per event: rebuild that table from the stored records, as a
    # database of the previous release holds it, and let the next open migrate it
    monkeypatch.setenv("APPROVAL_OUTBOX", str(tmp_path))
    service = Service(backend.open())
    arn = service.start(DEFINITIONS / "human_approval.yaml",
                        {"expenseId": "e-2", "amount": 12, "reviewer": "ana"})["executionArn"]
    work(service.store)  # runs RequestApproval, parks on the callback
    before = service.history(arn)
    records = service.store.history(arn)
    backend.raw_sql("CREATE TABLE events (execution_arn TEXT NOT NULL, id INTEGER NOT NULL, "
                    "type TEXT NOT NULL, ts_us BIGINT NOT NULL, body TEXT NOT NULL, "
                    "PRIMARY KEY (execution_arn, id))")
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for r in records:
        backend.raw_sql("INSERT INTO events VALUES ('{}', {}, '{}', {}, '{}')".format(
            arn, r.id, r.type, (r.timestamp - epoch) // timedelta(microseconds=1),
            r.body.replace("'", "''")))
    backend.raw_sql("DROP TABLE event_segments")
    as_version_6_executions(backend)
    backend.raw_sql("UPDATE schema_version SET version = 5")

    migrated = Service(backend.open())
    assert migrated.history(arn) == before
    [token] = migrated.task_tokens(arn)
    migrated.send_task_success(token, {"approvedBy": "ana"})
    work(migrated.store)
    assert migrated.describe(arn)["status"] == "SUCCEEDED"
    after = migrated.history(arn)
    assert after[:len(before)] == before  # replayed from the migrated rows, not recorded again
    assert [e["id"] for e in after] == list(range(1, len(after) + 1))
    assert len((tmp_path / "approval-requests.jsonl").read_text().splitlines()) == 1


def as_version_6_executions(backend: Backend) -> None:
    """The executions table as releases before version 7 kept it: input and output in the
    execution's row."""
    backend.raw_sql("ALTER TABLE executions ADD COLUMN input TEXT NOT NULL DEFAULT ''")
    backend.raw_sql("ALTER TABLE executions ADD COLUMN output TEXT")
    backend.raw_sql("UPDATE executions SET "
                    "input = (SELECT input FROM execution_payloads WHERE execution_arn = arn), "
                    "output = (SELECT output FROM execution_payloads WHERE execution_arn = arn)")
    backend.raw_sql("DROP TABLE execution_payloads")


def test_a_parked_execution_of_a_version_6_database_resumes_after_the_migration(
        backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # version 6 kept input and output in the executions row: rebuild that shape, as a
    # database of the previous release holds it, and let the next open migrate it
    monkeypatch.setenv("APPROVAL_OUTBOX", str(tmp_path))
    service = Service(backend.open())
    given = {"expenseId": "e-3", "amount": 12, "reviewer": "ana"}
    arn = service.start(DEFINITIONS / "human_approval.yaml", given)["executionArn"]
    work(service.store)  # runs RequestApproval, parks on the callback
    before = service.describe(arn)
    as_version_6_executions(backend)
    backend.raw_sql("UPDATE schema_version SET version = 6")

    migrated = Service(backend.open())
    assert migrated.describe(arn) == before
    assert json.loads(migrated.describe(arn)["input"]) == given
    [token] = migrated.task_tokens(arn)
    migrated.send_task_success(token, {"approvedBy": "ana"})
    work(migrated.store)
    described = migrated.describe(arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["input"]) == given
    assert json.loads(described["output"]) == {"expenseId": "e-3", "status": "APPROVED",
                                               "approvedBy": "ana"}
    [listed] = migrated.list()
    assert (listed["executionArn"], listed["status"]) == (arn, "SUCCEEDED")


def test_callback_failure_is_caught(service: Service, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPROVAL_OUTBOX", str(tmp_path))
    arn = service.start(DEFINITIONS / "human_approval.yaml",
                        {"expenseId": "e-2", "amount": 1, "reviewer": "bo"})["executionArn"]
    work(service.store)
    [token] = service.task_tokens(arn)
    service.send_task_failure(token, "Rejected", "too expensive")
    work(service.store)
    assert json.loads(service.describe(arn)["output"]) == {
        "expenseId": "e-2", "status": "REJECTED", "reason": "too expensive"}


def test_token_errors(service: Service) -> None:
    with pytest.raises(InvalidToken):
        service.send_task_success("not a token", {})
    with pytest.raises(TaskDoesNotExist):
        service.send_task_success("0b7c3a3e-1111-4222-8333-944455556666", {})
    with pytest.raises(TaskDoesNotExist):
        service.send_task_heartbeat("0b7c3a3e-1111-4222-8333-944455556666")


def test_timed_out_token(service: Service) -> None:
    arn = service.start(FLOWS / "callback.yaml", {})["executionArn"]
    work(service.store, park_after=0)  # parks until the 1 s timeout
    [token] = service.task_tokens(arn)
    import time

    time.sleep(1.05)
    with pytest.raises(TaskTimedOut):
        service.send_task_success(token, {})
    work(service.store, park_after=0)
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == "timed out"
    assert "TaskTimedOut" in [e["type"] for e in service.history(arn)]


def test_a_nested_callback_left_waiting_is_cancelled_when_the_execution_ends(
        service: Service) -> None:
    # the .waitForTaskToken Task sits in a Map in a Parallel branch: ending the execution
    # closes its token all the same, so an answer afterwards is TaskDoesNotExist
    arn = service.start(FLOWS / "nested_callback.yaml", {"items": [1]})["executionArn"]
    work(service.store)
    described = service.describe(arn)
    assert (described["status"], described["error"]) == ("FAILED", "Stopped")
    [token] = [t.token for t in service.store.task_tokens(arn)]
    with pytest.raises(TaskDoesNotExist):
        service.send_task_success(token, {})


def test_named_start_is_idempotent_while_running(service: Service) -> None:
    first = service.start(FLOWS / "waits.yaml", {"seconds": 1000}, name="order-17")
    again = service.start(FLOWS / "waits.yaml", {"seconds": 1000}, name="order-17")
    assert again["executionArn"] == first["executionArn"]
    assert first["executionArn"].endswith(":execution:waits:order-17")
    with pytest.raises(ExecutionAlreadyExists):
        service.start(FLOWS / "waits.yaml", {"seconds": 5}, name="order-17")
    service.stop(first["executionArn"])
    with pytest.raises(ExecutionAlreadyExists):  # ended: the name stays taken
        service.start(FLOWS / "waits.yaml", {"seconds": 1000}, name="order-17")
    assert len(service.list()) == 1


def test_wait_parks_without_lease_and_stop_aborts(service: Service) -> None:
    arn = service.start(FLOWS / "waits.yaml", {"seconds": 3600})["executionArn"]
    worker = Worker(service.store, poll=0.05, park_after=1, log=lambda _: None)

    async def until_parked() -> None:
        await worker.run(until=lambda: not worker._active and bool(service.store.timers(arn))
                         and service.store.timers(arn)[0].key == "wake")

    asyncio.run(until_parked())
    [timer] = service.store.timers(arn)
    assert 3590 < (timer.due - datetime.now(UTC)).total_seconds() <= 3600
    assert service.describe(arn)["status"] == "RUNNING"
    service.stop(arn, "Cancelled", "by the test")
    described = service.describe(arn)
    assert (described["status"], described["error"], described["cause"]) == (
        "ABORTED", "Cancelled", "by the test")
    history = service.history(arn)
    assert history[-1]["type"] == "ExecutionAborted"
    assert history[-1]["executionAbortedEventDetails"] == {"error": "Cancelled", "cause": "by the test"}
    assert service.store.timers(arn) == []
    assert [e["type"] for e in history] == ["ExecutionStarted", "WaitStateEntered", "ExecutionAborted"]


def test_redrive_reruns_only_the_failed_iteration(service: Service, crash_log: Path,
                                                  tmp_path: Path) -> None:
    arn = service.start(FLOWS / "redrive.yaml", {"items": [0, 1, 2, 3, 4]})["executionArn"]
    work(service.store)
    failed = service.describe(arn)
    assert (failed["status"], failed["error"], failed["redriveStatus"]) == (
        "FAILED", "RuntimeError", "REDRIVABLE")
    with pytest.raises(ExecutionNotRedrivable):
        service.redrive(FLOWS.as_posix()) if False else service.redrive(
            service.start(FLOWS / "waits.yaml", {"seconds": 0})["executionArn"])
    (tmp_path / "flag").write_text("ok")
    service.redrive(arn)
    work(service.store)
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED", described
    assert described["redriveCount"] == 1 and "redriveDate" in described
    assert json.loads(described["output"]) == {"items": [0, 10, 20, 30, 40], "redriveCount": 1}
    counts = {name: calls(crash_log).count(name) for name in set(calls(crash_log))}
    assert counts == {"item-0": 1, "item-1": 1, "item-2": 1, "item-3": 2, "item-4": 1}
    history = service.history(arn)
    redriven = [e for e in history if e["type"] == "ExecutionRedriven"]
    assert [e["executionRedrivenEventDetails"] for e in redriven] == [{"redriveCount": 1}]
    ids = [e["id"] for e in history]
    assert ids == list(range(1, len(ids) + 1))
    with pytest.raises(ExecutionNotRedrivable):
        service.redrive(arn)


def test_unknown_execution(service: Service) -> None:
    with pytest.raises(ExecutionDoesNotExist):
        service.describe("arn:aws:states:us-east-1:123456789012:execution:x:nope")
    with pytest.raises(ExecutionDoesNotExist):
        service.stop("arn:aws:states:us-east-1:123456789012:execution:x:nope")


class _Flaky:
    """A store whose appends fail (StoreUnavailable) ``failures`` times from the ``after``-th."""

    def __init__(self, inner: DurableStore, after: int, failures: int) -> None:
        self.inner = inner
        self.count = 0
        self.after = after
        self.failures = failures

    def append(self, *args: Any, **kwargs: Any) -> int:
        self.count += 1
        if self.after <= self.count < self.after + self.failures:
            raise StoreUnavailable("disk full (simulated)")
        return self.inner.append(*args, **kwargs)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return getattr(self.inner, name)  # type: ignore[no-any-return]


def test_store_failure_never_fails_the_workflow(service: Service, crash_log: Path) -> None:
    arn = service.start(FLOWS / "crash.yaml", {"n": 1, "items": list(range(5))})["executionArn"]
    flaky = _Flaky(service.store, after=2, failures=2)
    logs: list[str] = []
    worker = Worker(flaky, poll=0.05, lease_seconds=0.5, max_backoff=0.1, log=logs.append)  # type: ignore[arg-type]

    asyncio.run(worker.run(until=lambda: worker_idle(worker, service.store, 2.0)))
    assert service.describe(arn)["status"] == "SUCCEEDED"
    assert any("disk full (simulated)" in line for line in logs)
    ids = [e["id"] for e in service.history(arn)]
    assert ids == list(range(1, len(ids) + 1))


def test_a_worker_that_stops_mid_run_leaves_the_execution_resumable(service: Service,
                                                                    crash_log: Path) -> None:
    # two task loops run at once; the worker stops as soon as one finishes: the other must
    # park due now (not at its one-year watchdog) and the next worker finish it
    first = service.start(FLOWS / "three.yaml", {"id": "a"})["executionArn"]
    second = service.start(FLOWS / "three.yaml", {"id": "b"})["executionArn"]
    worker = Worker(service.store, poll=0.01, log=lambda _: None)
    asyncio.run(worker.run(until=lambda: bool(worker.finished)))
    running = [arn for arn in (first, second) if service.describe(arn)["status"] == "RUNNING"]
    for arn in running:
        assert all(t.due <= datetime.now(UTC) for t in service.store.timers(arn))
    work(service.store)
    assert {service.describe(arn)["status"] for arn in (first, second)} == {"SUCCEEDED"}
    assert sorted(calls(crash_log)) == sorted(f"{i}-{n}" for i in "ab" for n in (1, 2, 3))


def test_virtual_time_worker_ends_a_wait_of_days_at_once(service: Service, crash_log: Path) -> None:
    # issue 12 item 4: a Wait three days away parks, and a worker on a VirtualClock moves
    # its clock to the timer instead of waiting: the history says three days passed
    from statemachine.clock import VirtualClock

    clock = VirtualClock()
    service = Service(service.store, clock=clock)
    days = 3 * 24 * 3600
    arn = service.start(FLOWS / "waits.yaml", {"seconds": days})["executionArn"]
    worker = Worker(service.store, poll=0.05, park_after=2, clock=clock, log=lambda _: None)

    def parked() -> bool:
        return not worker._active and any(t.kind == "wait" for t in service.store.timers(arn))

    async def until(done: Callable[[], bool]) -> None:
        await asyncio.wait_for(worker.run(until=done), 60)  # a bound, not a measurement

    asyncio.run(until(parked))  # parked: a timer three days ahead, no lease, no coroutine
    [timer] = service.store.timers(arn)
    assert (timer.due - datetime.now(UTC)).total_seconds() > days - 60
    assert service.store.lease(arn) is None
    asyncio.run(until(lambda: arn in worker.finished))
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED"
    events = {e["type"]: e for e in service.history(arn)}
    waited = events["WaitStateExited"]["timestamp"] - events["WaitStateEntered"]["timestamp"]
    assert waited.total_seconds() >= days
    assert clock.now() - datetime.now(UTC).timestamp() >= days - 60  # virtual, not real, days


def _parked_on_heartbeat_callback(service: Service) -> tuple[str, str, Worker, Any]:
    """Start flows/heartbeat.yaml on a virtual clock; return (arn, token, worker, clock) once
    the execution is parked on its callback."""
    from statemachine.clock import VirtualClock

    clock = VirtualClock()
    service.clock = clock
    arn = service.start(FLOWS / "heartbeat.yaml", {})["executionArn"]
    worker = Worker(service.store, poll=0.05, park_after=2, clock=clock, log=lambda _: None)

    def parked() -> bool:
        return not worker._active and bool(service.task_tokens(arn)) and bool(service.store.timers(arn))

    asyncio.run(asyncio.wait_for(worker.run(until=parked), 60))  # a bound, not a measurement
    [token] = service.task_tokens(arn)
    return arn, token, worker, clock


def test_a_heartbeat_sent_while_parked_moves_the_heartbeat_deadline(service: Service) -> None:
    # AWS SendTaskHeartbeat: HeartbeatSeconds count again from the heartbeat. Sent 30 s
    # after the task started, the task may not time out before 30 + 60 s.
    arn, token, worker, clock = _parked_on_heartbeat_callback(service)
    clock.advance_to(clock.now() + 30)
    service.send_task_heartbeat(token)
    asyncio.run(asyncio.wait_for(worker.run(until=lambda: arn in worker.finished), 60))
    events = {e["type"]: e for e in service.history(arn)}
    assert events["TaskTimedOut"]["taskTimedOutEventDetails"]["error"] == "States.HeartbeatTimeout"
    waited = events["TaskTimedOut"]["timestamp"] - events["TaskSubmitted"]["timestamp"]
    assert waited.total_seconds() >= 30 + 60 - 1


def test_answering_a_token_whose_task_timed_out_is_task_timed_out(service: Service) -> None:
    # AWS: SendTaskSuccess/Failure/Heartbeat on a task that timed out fail with TaskTimedOut,
    # also once its execution has ended because of the timeout
    arn, token, worker, _ = _parked_on_heartbeat_callback(service)
    asyncio.run(asyncio.wait_for(worker.run(until=lambda: arn in worker.finished), 60))
    assert service.describe(arn)["status"] == "FAILED"
    with pytest.raises(TaskTimedOut):
        service.send_task_success(token, {})
    with pytest.raises(TaskTimedOut):
        service.send_task_failure(token, "Late")
    with pytest.raises(TaskTimedOut):
        service.send_task_heartbeat(token)


def _answer_while_held(service: Service, act: Callable[[Service, str], None]) -> str:
    """Run flows/short_callback.yaml in a worker that keeps it in memory (park_after 5 s,
    above its HeartbeatSeconds 2); ``act(other, token)`` runs on another thread with a
    Service of its own once the token exists. Returns the ARN once the execution ended."""
    import threading
    import time

    arn = service.start(FLOWS / "short_callback.yaml", {})["executionArn"]
    worker = Worker(service.store, poll=0.05, park_after=5, lease_seconds=30, log=lambda _: None)
    failures: list[BaseException] = []

    def other_process() -> None:
        other = Service(service.store)
        try:
            deadline = time.monotonic() + 30  # a bound, not a measurement
            while not other.task_tokens(arn) and time.monotonic() < deadline:
                time.sleep(0.02)
            [token] = other.task_tokens(arn)
            act(other, token)
        except BaseException as error:  # reported by the test thread
            failures.append(error)

    thread = threading.Thread(target=other_process)
    thread.start()
    asyncio.run(asyncio.wait_for(worker.run(until=lambda: arn in worker.finished), 60))
    thread.join(30)
    assert not failures, failures
    return arn


def test_an_answer_reaches_a_callback_the_worker_holds_in_memory(service: Service) -> None:
    # issue 12 item 5: answered from anywhere, within its deadlines, the task succeeds
    arn = _answer_while_held(service, lambda other, token: other.send_task_success(token, {"ok": 1}))
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"ok": 1}


def test_heartbeats_reach_a_callback_the_worker_holds_in_memory(service: Service) -> None:
    # AWS SendTaskHeartbeat: each heartbeat restarts HeartbeatSeconds (2 s here); beating
    # every 0.5 s for 4 s keeps the task alive past its first heartbeat deadline
    import time

    def beat_then_answer(other: Service, token: str) -> None:
        for _ in range(8):
            time.sleep(0.5)
            other.send_task_heartbeat(token)
        other.send_task_success(token, {"alive": True})

    arn = _answer_while_held(service, beat_then_answer)
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"alive": True}


def test_a_stopping_worker_dispatches_no_new_task(service: Service, crash_log: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # sm worker on SIGTERM: "stops claiming work, lets running tasks finish ... and leaves
    # every execution resumable" -- the task running then ends, no further task starts here
    monkeypatch.setenv("SM_CRASH_SLEEP", "0.5")
    arn = service.start(FLOWS / "three.yaml", {"id": "s"})["executionArn"]
    worker = Worker(service.store, poll=0.05, park_after=2, lease_seconds=30, log=lambda _: None)

    async def stop_during_the_first_task() -> None:
        running = asyncio.ensure_future(worker.run())
        for _ in range(3000):  # a bound, not a measurement
            if calls(crash_log):
                break
            await asyncio.sleep(0.01)
        worker.stop()
        await asyncio.wait_for(running, 60)

    asyncio.run(stop_during_the_first_task())
    assert calls(crash_log) == ["s-1"]
    assert service.describe(arn)["status"] == "RUNNING"
    assert service.store.lease(arn) is None or service.store.lease(arn).until <= datetime.now(UTC)  # type: ignore[union-attr]
    work(service.store)  # the next worker finishes it; s-1 completed and does not run again
    assert service.describe(arn)["status"] == "SUCCEEDED"
    assert calls(crash_log) == ["s-1", "s-2", "s-3"]


def test_redrive_restarts_the_execution_timeout(service: Service) -> None:
    # AWS (Redriving executions): "When you redrive an execution, the state machine level
    # timeout, if defined, is reset to 0." The run times out in Second (40 + 20 s of 60);
    # redriven, Second runs again (40 s) within a fresh 60 s and the execution succeeds.
    from statemachine.clock import VirtualClock

    clock = VirtualClock()
    service.clock = clock
    arn = service.start(FLOWS / "timeout_redrive.yaml", {})["executionArn"]

    def run_until_ended() -> None:
        worker = Worker(service.store, poll=0.05, park_after=2, clock=clock, log=lambda _: None)
        asyncio.run(asyncio.wait_for(worker.run(until=lambda: arn in worker.finished), 60))

    run_until_ended()
    assert service.describe(arn)["status"] == "TIMED_OUT"
    clock.advance_to(clock.now() + 3600)
    service.redrive(arn)
    run_until_ended()
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == {"redriveCount": 1}
    types = [e["type"] for e in service.history(arn)]
    assert types.count("WaitStateExited") == 2 and types.count("ExecutionTimedOut") == 1
def test_a_live_worker_keeps_its_lease_while_its_event_loop_is_blocked(
        backend: Backend, crash_log: Path) -> None:
    # Under load (or with one busy executor) a worker's event loop can stall longer than a
    # lease; the lease must not lapse then, or another worker takes the execution over and
    # runs its in-flight tasks again (seen as "completed tasks ran again" in the crash tests).
    service = Service(backend.open())
    intruder = backend.open()
    arn = service.start(FLOWS / "three.yaml", {"id": "x"})["executionArn"]
    worker = Worker(service.store, poll=0.05, lease_seconds=1.0, log=lambda _: None)
    taken: list[Any] = []

    async def main() -> None:
        running = asyncio.ensure_future(worker.run(until=lambda: arn in worker.finished))
        deadline = time.monotonic() + 60
        while "x-1" not in calls(crash_log):  # the worker holds the lease, a task in flight
            assert time.monotonic() < deadline, "the worker never started the first task"
            await asyncio.sleep(0.01)
        time.sleep(2.5)  # block the event loop: no coroutine of the worker runs meanwhile
        taken.extend(intruder.claim_due("intruder", now=datetime.now(UTC), lease_seconds=30))
        await running

    asyncio.run(main())
    assert taken == []  # the lease stayed live: nobody could take the execution over
    assert service.describe(arn)["status"] == "SUCCEEDED"
    assert calls(crash_log) == ["x-1", "x-2", "x-3"]  # each task ran once
    intruder.close()

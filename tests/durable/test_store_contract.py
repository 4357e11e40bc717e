"""The DurableStore contract, run on every backend (SQLite file, PostgreSQL schema).

Each test states one rule of statemachine/durable/contract.py. Time is always passed in
(``now``), so leases lapse and timers fall due without any waiting.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from durable_backends import Backend

from statemachine.durable import (
    SCHEMA_VERSION,
    DurableStore,
    EventConflict,
    EventRecord,
    ExecutionExists,
    ExecutionNotFound,
    ExecutionRecord,
    ExecutionUpdate,
    LeaseHeld,
    LeaseLost,
    SchemaTooNew,
    StoreError,
    TaskTokenClosed,
    TaskTokenNotFound,
    TaskTokenRecord,
    TimerRecord,
    migrations,
    version_hash,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:Flow"
WORKER = Path(__file__).with_name("worker.py")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def arn(name: str) -> str:
    return f"arn:aws:states:us-east-1:123456789012:execution:Flow:{name}"


def new_execution(store: DurableStore, name: str = "run-1", *, ready: bool = True,
                  start: datetime = T0, **fields: object) -> ExecutionRecord:
    record = ExecutionRecord(arn(name), name, MACHINE, "v1", '{"x": 1}', start)
    record = dataclasses.replace(record, **fields)  # type: ignore[arg-type]
    started = EventRecord(1, "ExecutionStarted", start, '{"previousEventId": 0}')
    return store.create_execution(record, events=[started], ready=ready)


def event(number: int, kind: str = "PassStateEntered", moment: datetime = T0) -> EventRecord:
    return EventRecord(number, kind, moment, json.dumps({"previousEventId": number - 1}))


def token(execution: str, value: str = "tok-1", **fields: object) -> TaskTokenRecord:
    record = TaskTokenRecord(value, execution, "Approve", 2, T0)
    return dataclasses.replace(record, **fields)  # type: ignore[arg-type]


# -- schema -------------------------------------------------------------------------------------

def test_a_new_database_is_migrated_to_the_current_schema(backend: Backend) -> None:
    assert backend.open().schema_version == SCHEMA_VERSION
    assert backend.open().schema_version == SCHEMA_VERSION  # reopening migrates nothing


def test_a_database_of_a_newer_release_is_refused_by_name(backend: Backend) -> None:
    backend.open().close()
    backend.raw_sql(f"UPDATE schema_version SET version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNew) as raised:
        backend.open()
    assert (raised.value.found, raised.value.supported) == (SCHEMA_VERSION + 1, SCHEMA_VERSION)
    assert f"schema version {SCHEMA_VERSION + 1}" in str(raised.value)
    assert "upgrade statemachine-asl" in str(raised.value)


def test_an_older_database_is_migrated_step_by_step(backend: Backend,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    old = backend.open()
    new_execution(old)
    old.close()
    step = migrations.Migration(SCHEMA_VERSION + 1, "a later release's table", (
        "CREATE TABLE later_things (name TEXT PRIMARY KEY, cron TEXT NOT NULL)",
        "INSERT INTO later_things (name, cron) VALUES ('nightly', '0 3 * * *')"))
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, step))
    upgraded = backend.open()
    assert upgraded.schema_version == SCHEMA_VERSION + 1
    assert [e.id for e in upgraded.history(arn("run-1"))] == [1]  # the data survived
    assert backend.open().schema_version == SCHEMA_VERSION + 1  # applied once
    monkeypatch.undo()
    with pytest.raises(SchemaTooNew):  # and this release now refuses it
        backend.open()


def test_a_version_5_event_log_migrates_to_segments_and_reads_back_the_same(
        backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:5])
    backend.open().close()  # schema version 5: one row per event in ``events``
    run = ExecutionRecord(arn("run-1"), "run-1", MACHINE, "v1", "{}", T0)
    old_execution(backend, run)
    bodies = ['{"previousEventId": 0, "x": "caf\u00e9"}', '{"previousEventId":1,"s":"a\\"b\\\\"}',
              '{ "previousEventId" : 2 ,"n":1.50}']
    for number, body in enumerate(bodies, 1):
        sql_body = body.replace("'", "''")
        backend.raw_sql("INSERT INTO events (execution_arn, id, type, ts_us, body) VALUES "
                        f"('{run.arn}', {number}, 'PassStateEntered', "
                        f"{1_772_366_400_123_456 + number}, '{sql_body}')")
    backend.raw_sql(f"UPDATE executions SET last_event_id = 3 WHERE arn = '{run.arn}'")
    monkeypatch.undo()
    store = backend.open()
    assert store.schema_version == SCHEMA_VERSION
    expected = [EventRecord(n, "PassStateEntered", T0 + timedelta(microseconds=n), body)
                for n, body in enumerate(bodies, 1)]
    assert store.history(run.arn) == expected  # bodies verbatim, times to the microsecond
    assert store.history(run.arn, after=1, limit=1) == expected[1:2]
    assert store.append(run.arn, [event(4)], after=3) == 4
    assert [e.id for e in store.history(run.arn)] == [1, 2, 3, 4]


def old_execution(backend: Backend, run: ExecutionRecord, *, status: str = "RUNNING",
                  output: str | None = None, last_event_id: int = 0) -> None:
    """``run``'s row as a release before version 7 stored it: input and output inline."""
    def text(value: str | None) -> str:
        return "NULL" if value is None else "'" + value.replace("'", "''") + "'"

    backend.raw_sql("INSERT INTO executions (arn, name, machine_arn, machine_version, input, "
                    "status, start_us, output, last_event_id) VALUES ("
                    f"'{run.arn}', '{run.name}', '{run.machine_arn}', '{run.machine_version}', "
                    f"{text(run.input)}, '{status}', 1772366400123456, {text(output)}, "
                    f"{last_event_id})")


def test_version_6_payloads_move_out_of_the_execution_row_and_read_back_the_same(
        backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:6])
    backend.open().close()  # schema version 6: input and output in the executions row
    big = json.dumps({"items": ["caf\u00e9 it's"] * 5000})  # past SQLite's overflow page
    running = ExecutionRecord(arn("running"), "running", MACHINE, "v1", big, T0)
    ended = ExecutionRecord(arn("ended"), "ended", MACHINE, "v1", '{"x": 1}', T0)
    old_execution(backend, running, last_event_id=0)
    old_execution(backend, ended, status="SUCCEEDED", output='{"y": "it\'s"}')
    monkeypatch.undo()
    store = backend.open()
    assert store.schema_version == SCHEMA_VERSION
    found = store.execution(running.arn)
    assert found is not None and (found.input, found.output, found.status) == (big, None,
                                                                                 "RUNNING")
    found = store.execution(ended.arn)
    assert found is not None and (found.input, found.output) == ('{"x": 1}', '{"y": "it\'s"}')
    listed = {r.arn: (r.input, r.output) for r in store.executions()}
    assert listed == {running.arn: (big, None), ended.arn: ('{"x": 1}', '{"y": "it\'s"}')}
    # the migrated execution keeps working: its end writes the output beside its input
    store.append(running.arn, [event(1, "ExecutionSucceeded")], after=0,
                 update=ExecutionUpdate(status="SUCCEEDED", output='{"done": true}'))
    found = store.execution(running.arn)
    assert found is not None and (found.input, found.output, found.last_event_id) == (
        big, '{"done": true}', 1)


def test_the_migration_steps_are_numbered_from_one() -> None:
    assert [step.version for step in migrations.MIGRATIONS] == list(
        range(1, len(migrations.MIGRATIONS) + 1))
    assert migrations.latest() == SCHEMA_VERSION
    assert migrations.pending(0, "x") == migrations.MIGRATIONS
    assert migrations.pending(SCHEMA_VERSION, "x") == ()


def test_a_closed_store_refuses_calls(backend: Backend) -> None:
    store = backend.open()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.execution(arn("x"))


# -- state machines -----------------------------------------------------------------------------

def test_machines_are_versioned_by_the_hash_of_their_text(store: DurableStore) -> None:
    first = store.put_machine(MACHINE, "Flow", '{"StartAt": "A"}', type="STANDARD", now=T0)
    assert first.version == version_hash('{"StartAt": "A"}')
    assert len(first.version) == 64 and first.revision == 1
    assert store.put_machine(MACHINE, "Flow", '{"StartAt": "A"}', type="STANDARD",
                             now=at(5)) == first
    second = store.put_machine(MACHINE, "Flow", '{"StartAt": "B"}', type="STANDARD", now=at(9))
    assert (second.revision, second.created) == (2, at(9))
    assert store.machine(MACHINE) == second
    assert store.machine(MACHINE, first.version) == first
    assert store.machines() == [second]
    assert store.machine("arn:unknown") is None


# -- executions ---------------------------------------------------------------------------------

def test_an_execution_record_round_trips_exactly(store: DurableStore) -> None:
    paris = timezone(timedelta(hours=1))
    record = ExecutionRecord(
        arn("full"), "full", MACHINE, "v7", '{"keys": [1, 2.50, "é"]}',
        T0.astimezone(paris), status="FAILED", stop_date=at(3.000001), output=None,
        error="States.TaskFailed", cause="boom", redrive_count=2,
        redrive_status="REDRIVABLE", redrive_date=at(2), seed=2**62 + 3,
        parent_arn=arn("parent"))
    store.create_execution(record, ready=False)
    stored = store.execution(record.arn)
    assert stored == record
    assert stored is not None and stored.start_date.utcoffset() == timedelta(0)
    assert store.execution(arn("nothing")) is None


def test_creating_an_existing_execution_raises_with_the_existing_record(
        store: DurableStore) -> None:
    first = new_execution(store)
    with pytest.raises(ExecutionExists) as raised:
        new_execution(store, start=at(60))
    assert raised.value.existing == first
    assert [e.id for e in store.history(first.arn)] == [1]


def test_first_events_must_be_numbered_from_one(store: DurableStore) -> None:
    record = ExecutionRecord(arn("bad"), "bad", MACHINE, "v1", "{}", T0)
    with pytest.raises(ValueError, match="without a gap"):
        store.create_execution(record, events=[event(2)])
    assert store.execution(record.arn) is None


def test_naive_datetimes_are_refused(store: DurableStore) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.put_machine(MACHINE, "Flow", "{}", type="STANDARD", now=datetime(2026, 1, 1))


def test_executions_are_listed_newest_first_with_filters(store: DurableStore) -> None:
    new_execution(store, "a", start=at(1))
    new_execution(store, "b", start=at(2), status="SUCCEEDED")
    new_execution(store, "c", start=at(3), machine_arn=MACHINE + "2", parent_arn=arn("b"))
    assert [e.name for e in store.executions()] == ["c", "b", "a"]
    assert [e.name for e in store.executions(status="RUNNING")] == ["c", "a"]
    assert [e.name for e in store.executions(machine_arn=MACHINE)] == ["b", "a"]
    assert [e.name for e in store.executions(parent_arn=arn("b"))] == ["c"]
    assert [e.name for e in store.executions(limit=2)] == ["c", "b"]


def test_executions_are_listed_with_their_payloads_unless_asked_without(
        store: DurableStore) -> None:
    new_execution(store, "a", start=at(1), input='{"in": "a"}')
    new_execution(store, "b", start=at(2), input='{"in": "b"}', status="SUCCEEDED",
                  output='{"out": "b"}')
    full = store.executions()
    assert [(e.input, e.output) for e in full] == [('{"in": "b"}', '{"out": "b"}'),
                                                   ('{"in": "a"}', None)]
    assert full == [store.execution(arn("b")), store.execution(arn("a"))]
    bare = store.executions(payloads=False)
    assert bare == [dataclasses.replace(e, input="", output=None) for e in full]


# -- the event log ------------------------------------------------------------------------------

def test_append_adds_numbered_events_and_updates_the_row(store: DurableStore) -> None:
    run = new_execution(store)
    last = store.append(run.arn, [event(2), event(3, "PassStateExited", at(1))], after=1,
                        update=ExecutionUpdate(status="SUCCEEDED", stop_date=at(1),
                                               output='{"done": true}'))
    assert last == 3
    history = store.history(run.arn)
    assert [(e.id, e.type) for e in history] == [
        (1, "ExecutionStarted"), (2, "PassStateEntered"), (3, "PassStateExited")]
    assert history[2].to_aws() == {"id": 3, "type": "PassStateExited", "timestamp": at(1),
                                   "previousEventId": 2}
    assert [e.id for e in store.history(run.arn, after=1, limit=1)] == [2]
    stored = store.execution(run.arn)
    assert stored == dataclasses.replace(run, status="SUCCEEDED", stop_date=at(1),
                                         output='{"done": true}', last_event_id=3)


def test_history_pages_through_long_appends_with_bodies_verbatim(store: DurableStore) -> None:
    run = new_execution(store)
    bodies = {n: json.dumps({"previousEventId": n - 1, "text": "é\"\\ \u2028" * (n % 3)},
                            ensure_ascii=n % 2 == 0, indent=n % 4 or None)
              for n in range(2, 702)}  # several hundred events in one append, then smaller ones
    stamps = {n: T0 + timedelta(microseconds=7 * n) for n in bodies}
    records = [EventRecord(n, "PassStateEntered", stamps[n], bodies[n]) for n in bodies]
    assert store.append(run.arn, records[:600], after=1) == 601
    assert store.append(run.arn, records[600:601], after=601) == 602
    assert store.append(run.arn, records[601:], after=602) == 701
    everything = store.history(run.arn)
    assert everything[1:] == records
    for after, limit in ((0, None), (0, 1), (1, 255), (255, 3), (256, 1), (300, 600),
                         (600, 2), (601, 1), (650, None), (700, 5), (701, None), (701, 1)):
        stop = None if limit is None else after + limit
        assert store.history(run.arn, after=after, limit=limit) == everything[after:stop]


def test_an_update_leaves_missing_fields_and_clears_none(store: DurableStore) -> None:
    run = new_execution(store, status="FAILED", error="E", cause="C", stop_date=at(1))
    store.append(run.arn, [], after=1, update=ExecutionUpdate(
        status="RUNNING", stop_date=None, redrive_count=1, redrive_date=at(5)))
    assert store.execution(run.arn) == dataclasses.replace(
        run, status="RUNNING", stop_date=None, redrive_count=1, redrive_date=at(5))


def test_a_stale_append_raises_event_conflict_and_writes_nothing(backend: Backend) -> None:
    one, two = backend.open(), backend.open()  # two writers, as two workers would be
    run = new_execution(one)
    assert one.append(run.arn, [event(2)], after=1) == 2
    with pytest.raises(EventConflict) as raised:
        two.append(run.arn, [event(2, "TaskStateEntered")], after=1,
                   update=ExecutionUpdate(status="ABORTED"),
                   tokens=[token(run.arn)],
                   timers=[TimerRecord(run.arn, "w", "wait", at(9))])
    assert (raised.value.expected, raised.value.actual) == (1, 2)
    assert [(e.id, e.type) for e in two.history(run.arn)] == [
        (1, "ExecutionStarted"), (2, "PassStateEntered")]
    stored = two.execution(run.arn)
    assert stored is not None and stored.status == "RUNNING"
    assert two.task_token("tok-1") is None
    assert [t.key for t in two.timers(run.arn)] == ["start"]


def test_an_append_from_the_future_is_a_conflict_too(store: DurableStore) -> None:
    run = new_execution(store)
    with pytest.raises(EventConflict):
        store.append(run.arn, [event(4)], after=3)
    assert [e.id for e in store.history(run.arn)] == [1]


def test_event_ids_of_an_append_must_follow_after(store: DurableStore) -> None:
    run = new_execution(store)
    with pytest.raises(ValueError, match="id 4"):
        store.append(run.arn, [event(2), event(4)], after=1)
    with pytest.raises(ExecutionNotFound):
        store.append(arn("ghost"), [event(1)], after=0)


def test_records_of_another_execution_are_refused(store: DurableStore) -> None:
    run = new_execution(store)
    with pytest.raises(ValueError, match="a record of"):
        store.append(run.arn, [], after=1, timers=[TimerRecord(arn("x"), "w", "wait", T0)])


def test_two_processes_racing_on_one_log_never_interleave(backend: Backend,
                                                          tmp_path: Path) -> None:
    run = new_execution(backend.open())
    batches, size = 25, 3
    ready = [tmp_path / "ready-a", tmp_path / "ready-b"]
    go = tmp_path / "go"
    procs = [subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(backend.argv), "append", run.arn, writer,
         str(batches), str(size), str(flag), str(go)], stdout=subprocess.PIPE, text=True)
        for writer, flag in zip("ab", ready, strict=True)]
    _release_when_ready(ready, go, procs)
    results = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)

    history = backend.open().history(run.arn)
    total = 1 + 2 * batches * size
    assert [e.id for e in history] == list(range(1, total + 1))
    owner_of = {e.id: json.loads(e.body) for e in history[1:]}
    won = {}
    for writer, result in zip("ab", results, strict=True):
        assert [batch for _, _, batch in result["won"]] == list(range(batches))
        for first, last, batch in result["won"]:
            # each batch landed whole, contiguous, and under the ids its writer was told
            assert [owner_of[i] for i in range(first, last + 1)] == [
                {"writer": writer, "batch": batch, "part": part} for part in range(1, size + 1)]
            for i in range(first, last + 1):
                assert i not in won
                won[i] = writer
    assert sorted(won) == list(range(2, total + 1))


def test_threads_sharing_one_store_append_in_turn(store: DurableStore) -> None:
    import threading

    run = new_execution(store)
    done: list[int] = []

    def writer() -> None:
        for _ in range(15):
            while True:
                record = store.execution(run.arn)
                assert record is not None
                try:
                    done.append(store.append(run.arn, [event(record.last_event_id + 1)],
                                             after=record.last_event_id))
                    break
                except EventConflict:
                    continue

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(done) == list(range(2, 62))
    assert [e.id for e in store.history(run.arn)] == list(range(1, 62))


def _release_when_ready(ready: list[Path], go: Path,
                        procs: list[subprocess.Popen[str]]) -> None:
    """Create ``go`` once every process has written its ready file (or one has exited)."""
    import time

    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in procs):
            break
        time.sleep(0.01)
    go.touch()


# -- task tokens --------------------------------------------------------------------------------

def test_task_tokens_are_stored_with_the_append_that_issues_them(store: DurableStore) -> None:
    run = new_execution(store)
    issued = token(run.arn, timeout_at=at(300), heartbeat_seconds=60, heartbeat_at=at(60))
    store.append(run.arn, [event(2, "TaskScheduled")], after=1, tokens=[issued])
    assert store.task_token("tok-1") == issued
    assert store.task_tokens(run.arn) == [issued]
    assert store.task_tokens(run.arn, status="SUCCEEDED") == []
    assert store.task_token("nope") is None


def test_answering_a_token_closes_it_and_wakes_its_execution(store: DurableStore) -> None:
    run = new_execution(store, ready=False)
    store.append(run.arn, [], after=1, tokens=[token(run.arn)])
    answered = store.close_task_token("tok-1", "SUCCEEDED", now=at(10), output='{"ok": 1}')
    assert (answered.status, answered.output, answered.closed_at) == (
        "SUCCEEDED", '{"ok": 1}', at(10))
    assert store.timers(run.arn) == [TimerRecord(run.arn, "callback:tok-1", "callback", at(10))]
    [claim] = store.claim_due("w1", now=at(10), lease_seconds=30)
    assert claim.lease.execution_arn == run.arn
    assert [t.kind for t in claim.due] == ["callback"]
    with pytest.raises(TaskTokenClosed) as raised:
        store.close_task_token("tok-1", "FAILED", now=at(11), error="E")
    assert raised.value.status == "SUCCEEDED"
    with pytest.raises(TaskTokenNotFound):
        store.close_task_token("tok-404", "SUCCEEDED", now=at(11), output="1")


def test_a_failure_answer_keeps_error_and_cause(store: DurableStore) -> None:
    run = new_execution(store)
    store.append(run.arn, [], after=1, tokens=[token(run.arn)])
    failed = store.close_task_token("tok-1", "FAILED", now=at(1), error="Denied",
                                    cause="no", wake=False)
    assert (failed.status, failed.error, failed.cause, failed.output) == (
        "FAILED", "Denied", "no", None)
    assert [t.key for t in store.timers(run.arn)] == ["start"]


def test_an_answer_at_or_after_a_deadline_is_too_late(store: DurableStore) -> None:
    run = new_execution(store)
    store.append(run.arn, [], after=1, tokens=[
        token(run.arn, "late", timeout_at=at(100)),
        token(run.arn, "silent", heartbeat_seconds=10, heartbeat_at=at(10))])
    for value, moment in (("late", at(100)), ("silent", at(10.5))):
        with pytest.raises(TaskTokenClosed) as raised:
            store.close_task_token(value, "SUCCEEDED", now=moment, output="1")
        assert raised.value.status == "TIMED_OUT"
        record = store.task_token(value)
        assert record is not None and record.status == "WAITING"
    # the worker that owns the execution times it out, deadline or not
    assert store.close_task_token("late", "TIMED_OUT", now=at(101)).status == "TIMED_OUT"


def test_a_heartbeat_moves_the_heartbeat_deadline(store: DurableStore) -> None:
    run = new_execution(store)
    store.append(run.arn, [], after=1, tokens=[
        token(run.arn, heartbeat_seconds=3000, heartbeat_at=at(3000))])
    beaten = store.heartbeat_task_token("tok-1", now=at(2000))
    assert beaten.heartbeat_at == at(5000)
    assert store.close_task_token("tok-1", "SUCCEEDED", now=at(4000), output="1").status == (
        "SUCCEEDED")
    with pytest.raises(TaskTokenClosed):
        store.heartbeat_task_token("tok-1", now=at(4001))
    with pytest.raises(TaskTokenNotFound):
        store.heartbeat_task_token("tok-404", now=at(1))
    with pytest.raises(ValueError, match="closes as one of"):
        store.close_task_token("tok-1", "WAITING", now=at(1))


# -- timers and claims --------------------------------------------------------------------------

def test_a_parked_execution_is_claimed_only_when_its_timer_is_due(store: DurableStore) -> None:
    run = new_execution(store, ready=False)
    assert store.next_wakeup() is None
    store.append(run.arn, [event(2, "WaitStateEntered")], after=1,
                 timers=[TimerRecord(run.arn, "wait:2", "wait", at(60))])
    assert store.next_wakeup() == at(60)
    assert store.claim_due("w1", now=at(59.999999), lease_seconds=30) == []
    [claim] = store.claim_due("w1", now=at(60), lease_seconds=30)
    assert claim.due == (TimerRecord(run.arn, "wait:2", "wait", at(60)),)
    assert not claim.recovered
    assert (claim.lease.owner, claim.lease.epoch, claim.lease.until) == ("w1", 1, at(90))


def test_timers_are_replaced_by_key_and_cancelled(store: DurableStore) -> None:
    run = new_execution(store, ready=False)
    store.append(run.arn, [], after=1, timers=[TimerRecord(run.arn, "t", "retry", at(5)),
                                               TimerRecord(run.arn, "u", "timeout", at(9))])
    store.append(run.arn, [], after=1, timers=[TimerRecord(run.arn, "t", "retry", at(7))])
    assert [(t.key, t.due) for t in store.timers(run.arn)] == [("t", at(7)), ("u", at(9))]
    store.append(run.arn, [], after=1, cancel_timers=["t"])
    assert [t.key for t in store.timers(run.arn)] == ["u"]
    store.append(run.arn, [], after=1, cancel_timers="all",
                 timers=[TimerRecord(run.arn, "v", "wait", at(1))])
    assert [t.key for t in store.timers(run.arn)] == ["v"]


def test_a_leased_execution_is_not_claimed_until_released(backend: Backend) -> None:
    one, two = backend.open(), backend.open()
    run = new_execution(one)
    [claim] = one.claim_due("w1", now=T0, lease_seconds=30)
    store_wakeup = TimerRecord(run.arn, "callback:x", "callback", at(1))
    one.append(run.arn, [], after=1, cancel_timers=["start"], timers=[store_wakeup])
    assert two.claim_due("w2", now=at(2), lease_seconds=30) == []
    assert two.next_wakeup() == at(30)  # the lease's end, not the timer it hides
    assert one.release_lease(claim.lease)
    assert two.next_wakeup() == at(1)
    assert one.lease(run.arn) is None
    [again] = two.claim_due("w2", now=at(2), lease_seconds=30)
    assert (again.lease.owner, again.lease.epoch, again.due) == ("w2", 2, (store_wakeup,))


def test_claims_take_at_most_limit_and_never_the_same_execution(backend: Backend) -> None:
    one, two = backend.open(), backend.open()
    for i in range(5):
        new_execution(one, f"r{i}")
    first = one.claim_due("w1", now=T0, lease_seconds=30, limit=3)
    second = two.claim_due("w2", now=T0, lease_seconds=30, limit=3)
    assert (len(first), len(second)) == (3, 2)
    names = {c.lease.execution_arn for c in first} | {c.lease.execution_arn for c in second}
    assert names == {arn(f"r{i}") for i in range(5)}
    assert one.claim_due("w1", now=T0, lease_seconds=30) == []


def test_claims_skip_the_executions_the_caller_excludes(store: DurableStore) -> None:
    # a worker passes the executions it is advancing: it never claims its own lapsed lease
    for name in ("a", "b"):
        new_execution(store, name)
    [claim_a] = store.claim_due("w1", now=T0, lease_seconds=1,
                                exclude=[arn("b")])
    assert claim_a.lease.execution_arn == arn("a")
    lapsed = at(5)  # a's lease lapsed; b is still due
    assert store.claim_due("w1", now=lapsed, lease_seconds=1, limit=5,
                           exclude=[arn("a"), arn("b")]) == []
    [claim_b] = store.claim_due("w1", now=lapsed, lease_seconds=1, limit=5, exclude=[arn("a")])
    assert claim_b.lease.execution_arn == arn("b")
    [again] = store.claim_due("w2", now=lapsed, lease_seconds=1, limit=5)
    assert (again.lease.execution_arn, again.recovered) == (arn("a"), True)


def test_two_processes_claiming_at_once_share_the_work(backend: Backend,
                                                       tmp_path: Path) -> None:
    store = backend.open()
    for i in range(40):
        new_execution(store, f"r{i}")
    ready = [tmp_path / "ready-a", tmp_path / "ready-b"]
    go = tmp_path / "go"
    now_us = (T0 - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    procs = [subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(backend.argv), "claim", owner, str(now_us),
         str(flag), str(go)], stdout=subprocess.PIPE, text=True)
        for owner, flag in zip(("w1", "w2"), ready, strict=True)]
    _release_when_ready(ready, go, procs)
    claimed = [json.loads(proc.communicate(timeout=120)[0])["claimed"] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    every = claimed[0] + claimed[1]
    assert sorted(every) == sorted(arn(f"r{i}") for i in range(40))  # each exactly once
    for owner, names in zip(("w1", "w2"), claimed, strict=True):
        leases = [store.lease(name) for name in names]
        assert all(lease is not None and lease.owner == owner for lease in leases)


# -- leases -------------------------------------------------------------------------------------

def test_a_lapsed_lease_is_taken_over_and_fences_the_old_holder(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    run = new_execution(a)
    [claim] = a.claim_due("worker-a", now=T0, lease_seconds=30)
    a.append(run.arn, [event(2)], after=1, lease=claim.lease, cancel_timers=["start"])
    assert b.claim_due("worker-b", now=at(29), lease_seconds=30) == []  # still live

    [taken] = b.claim_due("worker-b", now=at(30), lease_seconds=30)  # worker-a went silent
    assert taken.recovered and taken.due == ()
    assert (taken.lease.owner, taken.lease.epoch) == ("worker-b", claim.lease.epoch + 1)
    with pytest.raises(LeaseLost):
        a.append(run.arn, [event(3)], after=2, lease=claim.lease)
    with pytest.raises(LeaseLost):
        a.renew_lease(claim.lease, now=at(31), lease_seconds=30)
    assert not a.release_lease(claim.lease)

    assert b.append(run.arn, [event(3)], after=2, lease=taken.lease, release=True) == 3
    assert b.lease(run.arn) is None
    assert b.claim_due("worker-b", now=at(1000), lease_seconds=30) == []  # parked, no timer


def test_a_renewed_lease_stays_live(store: DurableStore) -> None:
    new_execution(store)
    [claim] = store.claim_due("w1", now=T0, lease_seconds=30)
    renewed = store.renew_lease(claim.lease, now=at(25), lease_seconds=30)
    assert (renewed.until, renewed.epoch) == (at(55), claim.lease.epoch)
    assert store.claim_due("w2", now=at(40), lease_seconds=30) == []
    assert store.lease(claim.lease.execution_arn) == renewed


def test_renew_leases_renews_only_what_the_owner_still_holds(backend: Backend) -> None:
    a, b = backend.open(), backend.open()
    kept, taken, released = (new_execution(a, name) for name in ("kept", "taken", "released"))
    claims = {c.lease.execution_arn: c for c in a.claim_due("w1", now=T0, lease_seconds=30,
                                                             limit=3)}
    assert set(claims) == {kept.arn, taken.arn, released.arn}
    b.claim_due("w2", now=at(30), lease_seconds=30, limit=1, exclude=(kept.arn, released.arn))
    a.release_lease(claims[released.arn].lease)
    renewed = a.renew_leases("w1", [kept.arn, taken.arn, released.arn], now=at(31),
                             lease_seconds=30)
    assert renewed == {kept.arn}  # lapsed but not taken over: still w1's
    assert a.lease(kept.arn) == dataclasses.replace(claims[kept.arn].lease, until=at(61))
    assert b.lease(taken.arn) is not None and b.lease(taken.arn).owner == "w2"  # type: ignore[union-attr]
    assert b.lease(released.arn) is None
    assert a.renew_leases("w1", [], now=at(31), lease_seconds=30) == set()


def test_acquire_lease_refuses_a_live_lease_of_another_worker(store: DurableStore) -> None:
    run = new_execution(store)
    lease = store.acquire_lease(run.arn, "starter", now=T0, lease_seconds=30)
    assert (lease.owner, lease.epoch, lease.until) == ("starter", 1, at(30))
    with pytest.raises(LeaseHeld) as raised:
        store.acquire_lease(run.arn, "other", now=at(10), lease_seconds=30)
    assert raised.value.owner == "starter"
    assert store.acquire_lease(run.arn, "other", now=at(30), lease_seconds=30).epoch == 2
    with pytest.raises(ExecutionNotFound):
        store.acquire_lease(arn("ghost"), "other", now=T0, lease_seconds=30)
    with pytest.raises(ValueError, match="release"):
        store.append(run.arn, [], after=1, release=True)

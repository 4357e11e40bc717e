"""The catalog of ``sm serve`` (statemachine.durable.catalog, schema 4) on SQLite and
PostgreSQL: machine metadata, published versions, tags, activities and their task queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from durable_backends import Backend

from statemachine.durable import ExecutionRecord, TaskTokenRecord
from statemachine.durable.catalog import ActivityTask, ApiMachine

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:m"
ACTIVITY = "arn:aws:states:us-east-1:123456789012:activity:a"


def catalog(backend: Backend) -> Any:
    return backend.open()


def test_machine_metadata_round_trips(backend: Backend) -> None:
    store = catalog(backend)
    assert store.api_machine(MACHINE) is None
    record = ApiMachine(MACHINE, "arn:aws:iam::1:role/r", "v1", T0, logging='{"level":"OFF"}')
    store.put_api_machine(record)
    assert store.api_machine(MACHINE) == record
    changed = ApiMachine(MACHINE, "arn:aws:iam::1:role/s", "v2", T0, updated=T0 + timedelta(1),
                         deleted=T0 + timedelta(2))
    store.put_api_machine(changed)
    assert backend.open().api_machine(MACHINE) == changed


def test_versions_are_numbered_and_never_reused(backend: Backend) -> None:
    store = catalog(backend)
    first = store.publish_version(MACHINE, "v1", now=T0, role_arn="r", description="one")
    second = store.publish_version(MACHINE, "v2", now=T0, role_arn="r", description=None)
    assert (first.arn, second.arn) == (MACHINE + ":1", MACHINE + ":2")
    assert [v.number for v in store.machine_versions(MACHINE)] == [2, 1]
    store.delete_versions(MACHINE)
    assert store.machine_versions(MACHINE) == []
    assert store.publish_version(MACHINE, "v3", now=T0, role_arn="r", description=None).number == 3


def test_tags(backend: Backend) -> None:
    store = catalog(backend)
    store.tag(MACHINE, {"b": "2", "a": "1"})
    store.tag(MACHINE, {"a": "3"})
    assert store.tags(MACHINE) == {"a": "3", "b": "2"}
    store.untag(MACHINE, ["a", "zz"])
    assert store.tags(MACHINE) == {"b": "2"}
    assert store.tags(ACTIVITY) == {}


def _waiting(store: Any, name: str, token: str) -> None:
    arn = f"arn:aws:states:us-east-1:123456789012:execution:m:{name}"
    store.create_execution(ExecutionRecord(arn, name, MACHINE, "v1", "{}", T0), ready=False)
    store.append(arn, [], after=0, tokens=[TaskTokenRecord(token, arn, "Review", 1, T0)])


def test_activity_queue_hands_each_task_out_once(backend: Backend) -> None:
    store = catalog(backend)
    created = store.create_activity(ACTIVITY, "a", now=T0)
    assert store.create_activity(ACTIVITY, "a", now=T0 + timedelta(1)) == created  # idempotent
    assert [a.name for a in store.activities()] == ["a"]
    for index, token in enumerate(("t1", "t2", "t3")):
        _waiting(store, f"e{index}", token)
        task = ActivityTask(token, ACTIVITY, f"e{index}", f'{{"n": {index}}}',
                            T0 + timedelta(seconds=index))
        store.queue_activity_task(task)
        store.queue_activity_task(task)  # queued again after a crash: still once
    store.close_task_token("t2", "CANCELLED", now=T0, wake=False)  # its execution stopped
    other = backend.open()
    first = store.take_activity_task(ACTIVITY, "w1", now=T0)
    second = other.take_activity_task(ACTIVITY, "w2", now=T0)
    assert (first.token, first.input, first.worker) == ("t1", '{"n": 0}', "w1")
    assert (second.token, second.worker) == ("t3", "w2")
    assert store.take_activity_task(ACTIVITY, "w3", now=T0) is None
    store.delete_activity(ACTIVITY)
    assert store.activity(ACTIVITY) is None and store.activities() == []

"""A finished durable execution leaves nothing of its history behind in the worker: its
events are freed when ``advance`` is done with it, by reference count, not at the collector's
next full pass (a long-lived worker would otherwise carry every finished execution's events
until then)."""

from __future__ import annotations

import asyncio
import gc
import json
from pathlib import Path

from statemachine.durable import SqliteStore
from statemachine.durable.worker import Worker
from statemachine.history import Event
from statemachine.service import Service

MAP = {"StartAt": "M", "States": {"M": {
    "Type": "Map", "ItemsPath": "$.items",
    "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
    "End": True}}}


def _events_alive() -> int:
    return sum(1 for thing in gc.get_objects() if isinstance(thing, Event))


def test_a_finished_execution_leaves_no_event_alive(tmp_path: Path) -> None:
    flow = tmp_path / "map.json"
    flow.write_text(json.dumps(MAP))
    service = Service(SqliteStore(tmp_path / "x.db"))
    arn = service.start(flow, {"items": list(range(50))})["executionArn"]
    worker = Worker(service.store, poll=0.01, lease_seconds=5, log=lambda _: None)
    gc.collect()
    before = _events_alive()
    gc.disable()  # only reference counts may free what the run made
    try:
        asyncio.run(worker.run(until=lambda: arn in worker.finished))
        assert service.describe(arn)["status"] == "SUCCEEDED"
        assert _events_alive() == before  # 204 events were recorded, none is left
    finally:
        gc.enable()
        service.close()

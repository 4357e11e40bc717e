"""``StateMachine.start``: an execution whose run raises (an ``on_event`` callback, a store)
never leaves its caller waiting forever: ``start`` or ``wait`` raises what was raised, as
``run`` does (issue 12: nothing hangs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

import statemachine
from statemachine.store import MemoryStore

FLOW = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"},
                                   "B": {"Type": "Pass", "End": True}}}


class Boom(RuntimeError):
    pass


def test_wait_raises_what_an_on_event_callback_raised() -> None:
    def on_event(event: dict[str, Any]) -> None:
        if event["type"] == "PassStateEntered":
            raise Boom("listener failed")

    machine = statemachine.load(FLOW)
    with pytest.raises(Boom, match="listener failed"):
        machine.run({}, on_event=on_event)  # the reference: run raises it
    execution = machine.start({}, on_event=on_event)
    with pytest.raises(Boom, match="listener failed"):
        execution.wait(30)  # before the fix: returned after 30 s, still RUNNING


class FailingStore(MemoryStore):
    def save_execution(self, summary: Mapping[str, Any]) -> None:
        raise Boom("store is down")


def test_start_raises_what_the_store_raised_before_the_run_began() -> None:
    machine = statemachine.load(FLOW)
    with pytest.raises(Boom, match="store is down"):
        machine.run({}, store=FailingStore())
    with pytest.raises(Boom, match="store is down"):
        machine.start({}, store=FailingStore())  # before the fix: waited forever

"""Shared helpers for the interpreter tests: run a definition through the public API."""

from __future__ import annotations

import itertools
import random
from typing import Any

import statemachine


def run(definition: dict[str, Any], input: Any = None, *, resources: Any = None,
        **options: Any) -> statemachine.Execution:
    machine = statemachine.load(definition, resources=resources or {})
    options.setdefault("virtual_time", True)
    options.setdefault("rng", random.Random(7))
    return machine.run({} if input is None else input, **options)


def types(execution: statemachine.Execution) -> list[str]:
    return [event.type for event in execution.events]


def times(execution: statemachine.Execution, event_type: str) -> list[float]:
    return [event.timestamp for event in execution.events if event.type == event_type]


def gaps(values: list[float]) -> list[float]:
    return [round(b - a, 1) for a, b in itertools.pairwise(values)]


def retry_waits(execution: statemachine.Execution, failed: str = "TaskFailed",
                scheduled: str = "TaskScheduled") -> list[float]:
    """Virtual seconds between each failure and the next attempt (the Retry wait alone; the
    handler's own real running time is not part of it)."""
    ends = times(execution, failed)
    starts = times(execution, scheduled)[1:]
    return [round(s - e, 1) for e, s in zip(ends, starts, strict=False)]

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
    return [round(b - a, 2) for a, b in itertools.pairwise(values)]

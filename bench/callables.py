"""Benchmark fixture: the Python callable workload 9's Task state calls (returns at once)."""

from __future__ import annotations

from typing import Any


def echo(event: Any) -> Any:
    """Return the Task's effective input unchanged."""
    return event

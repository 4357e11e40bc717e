"""Benchmark fixture: the Python callable workload 9's Task state calls (returns at once)."""

from __future__ import annotations

from typing import Any


def echo(event: Any) -> Any:
    """Return the Task's effective input unchanged."""
    return event


def burn(event: Any) -> Any:
    """CPU-bound pure Python (bench/dask_map.py): ``event["spins"]`` rounds of integer
    arithmetic (~20 ms at the spins the bench calibrates); returns ``{"i", "sum"}``."""
    total = 0
    for k in range(event["spins"]):
        total = (total + k * k) % 1_000_003
    return {"i": event["i"], "sum": total}


def sum_values(event: Any) -> Any:
    """The sum of the ``value`` column of an ItemBatcher batch (bench/dask_map.py --rows)."""
    return sum(int(row["value"]) for row in event["Items"])

"""Task handlers of the console tests' state machines (``python:console_flows:<name>``)."""

from __future__ import annotations

import os
from typing import Any


def work(event: Any) -> dict[str, Any]:
    """Succeeds with its input wrapped."""
    return {"worked": True, "input": event}


def boom(event: Any) -> None:
    """Always fails (ValueError)."""
    raise ValueError("the payment service said no")


def notify(event: Any) -> None:
    """The request of a .waitForTaskToken task: the answer comes from the console."""


def flaky(event: dict[str, Any]) -> dict[str, str]:
    """Fails until the file named by ``marker`` exists (then a redrive succeeds)."""
    if not os.path.exists(event["marker"]):
        raise RuntimeError("the marker file is not there yet")
    return {"flaky": "recovered"}

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


def fail_once(event: dict[str, Any]) -> dict[str, bool]:
    """Fails the first time (it leaves the file named by ``marker``), then succeeds."""
    if not os.path.exists(event["marker"]):
        with open(event["marker"], "w") as marker:
            marker.write("failed once")
        raise RuntimeError("first attempt fails")
    return {"second": True}

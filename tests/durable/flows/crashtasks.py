"""Task handlers of the durable crash tests: each call appends its name to $SM_CRASH_LOG
(so re-runs are counted), sleeps $SM_CRASH_SLEEP seconds (kills land mid-task; plus up to
$SM_CRASH_JITTER seconds at random) and returns."""

from __future__ import annotations

import os
import random
import time
from typing import Any


def step(event: dict[str, Any]) -> dict[str, Any]:
    name = str(event["name"])
    with open(os.environ["SM_CRASH_LOG"], "a", encoding="utf-8") as log:
        log.write(name + "\n")
    # $SM_CRASH_JITTER: up to that many seconds more, at random, so calls end out of order
    time.sleep(float(os.environ.get("SM_CRASH_SLEEP", "0.01"))
               + random.uniform(0, float(os.environ.get("SM_CRASH_JITTER", "0"))))
    return {"name": name, "value": event.get("value")}


def flaky(event: Any) -> Any:
    """Logs ``item-<n>``; item 3 raises Flaky until the file $SM_REDRIVE_FLAG exists."""
    with open(os.environ["SM_CRASH_LOG"], "a", encoding="utf-8") as log:
        log.write(f"item-{event}\n")
    if event == 3 and not os.path.exists(os.environ["SM_REDRIVE_FLAG"]):
        raise RuntimeError("not yet")
    return event * 10


def submit(event: Any) -> Any:
    """Accepts a callback task (the token is answered by the test)."""
    return {"submitted": True}

"""Handlers of the server tests' resource map (resources.yaml beside this file)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def send(event: Any, context: Any) -> dict[str, Any]:
    """A .waitForTaskToken stand-in: writes the task token where the test reads it.

    The file appears whole (written aside, then renamed): a test polling for it never reads
    it empty or half-written, however the threads are scheduled."""
    folder = Path(os.environ["SM_TEST_TOKENS"])
    partial = folder / f".{context.state_name}.json.partial"
    partial.write_text(json.dumps({"token": context.task_token, "input": event}))
    partial.replace(folder / f"{context.state_name}.json")
    return {"sent": True}


def double(event: Any) -> Any:
    return {"value": event["value"] * 2}

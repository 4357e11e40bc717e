"""Handlers of the server tests' resource map (resources.yaml beside this file)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def send(event: Any, context: Any) -> dict[str, Any]:
    """A .waitForTaskToken stand-in: writes the task token where the test reads it."""
    folder = Path(os.environ["SM_TEST_TOKENS"])
    (folder / f"{context.state_name}.json").write_text(
        json.dumps({"token": context.task_token, "input": event}))
    return {"sent": True}


def double(event: Any) -> Any:
    return {"value": event["value"] * 2}

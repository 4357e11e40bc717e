"""Human approval example handler: send the approval request that carries the task token.

A real deployment would e-mail the reviewer a link that calls SendTaskSuccess or
SendTaskFailure with the token. Here the request is appended to ``approval-requests.jsonl``
in the directory named by ``$APPROVAL_OUTBOX`` (when set); an embedding program answers with
``execution.send_task_success(token, {...})`` or ``send_task_failure(token, "Rejected", ...)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def request_approval(event: dict[str, Any]) -> dict[str, Any]:
    """Record the approval request; the state then waits for the callback."""
    outbox = os.environ.get("APPROVAL_OUTBOX")
    if outbox:
        with (Path(outbox) / "approval-requests.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")
    return {"sent": True}

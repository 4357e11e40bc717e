"""Server stage, activities: the Task handler that queues work on an activity, and the
in-process notice that wakes GetActivityTask long polls.

In: a Task state whose Resource is an activity ARN
(``arn:aws:states:<region>:<account>:activity:<name>``). Out: an ``ActivityTask`` row in the
catalog (its task token, input and execution) for a GetActivityTask caller to take; the Task
waits for SendTaskSuccess/SendTaskFailure on that token (parked: no coroutine while it
waits), its HeartbeatSeconds and TimeoutSeconds watched as for ``.waitForTaskToken``.
History: ActivityScheduled, ActivityStarted (at scheduling: the worker's pickup is not
recorded), then ActivitySucceeded, ActivityFailed or ActivityTimedOut.
"""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from statemachine.durable.catalog import ActivityTask
from statemachine.errors import ResourceNotFoundError, StatesError

if TYPE_CHECKING:
    from statemachine.durable.catalog import Catalog
    from statemachine.resources.base import ResourceHandler, TaskRequest

__all__ = ["ActivityQueue"]


class ActivityQueue:
    """The activity Task handler (``activity_queue = True``: the interpreter gives it a
    task token) and the notices long polls wait on."""

    activity_queue = True

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def resolve(self, resource: str) -> ResourceHandler:
        """The registry's resolver for ``arn:aws:states:`` resources: activity ARNs only."""
        parts = resource.split(":")
        if len(parts) == 7 and parts[5] == "activity" and parts[6]:
            return self
        raise ResourceNotFoundError(f"no handler for Resource {resource!r}")

    async def __call__(self, request: TaskRequest) -> Any:
        arn = request.resource
        token = request.task_token
        if token is None:  # not run by an interpreter that knows activity_queue
            raise StatesError("States.Runtime", f"activity {arn} needs a task token")
        catalog = self.catalog
        if catalog.activity(arn) is None:
            raise StatesError("States.Runtime", f"Activity Does Not Exist: '{arn}'")
        execution = request.context.get("Execution")
        execution_arn = execution.get("Id", "") if isinstance(execution, dict) else ""
        catalog.queue_activity_task(ActivityTask(
            token=token, activity_arn=arn, execution_arn=str(execution_arn),
            input=json.dumps(request.input, separators=(",", ":"), ensure_ascii=False),
            created=datetime.now(UTC)))
        self.notify(arn)
        return None

    # -- long polls ----------------------------------------------------------------------
    def notify(self, activity_arn: str) -> None:
        """Work was queued on the activity: wake its pollers in this process (any thread)."""
        with self._lock:
            waiters = list(self._waiters.get(activity_arn, ()))
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop has closed
                continue

    async def wait(self, activity_arn: str, seconds: float) -> None:
        """Return after a notice for the activity, or after ``seconds``."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters.setdefault(activity_arn, []).append(entry)
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                found = self._waiters.get(activity_arn, [])
                if entry in found:
                    found.remove(entry)
                if not found:
                    self._waiters.pop(activity_arn, None)

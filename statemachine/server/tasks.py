"""Server stage, callback and activity operations: SendTaskSuccess, SendTaskFailure,
SendTaskHeartbeat, CreateActivity, DescribeActivity, DeleteActivity, ListActivities,
GetActivityTask.

In: ``Backend`` and the request's ``Params``. Out: AWS's response objects; AwsError with
AWS's codes (InvalidToken, TaskDoesNotExist, TaskTimedOut, InvalidOutput,
ActivityDoesNotExist, InvalidArn, InvalidName, TooManyTags). GetActivityTask is a long
poll: it answers as soon as work is queued (a notice from this process, or a look at the
store every half second for work queued by ``sm worker`` processes), else after
``config.long_poll`` seconds (AWS: 60) with no ``taskToken``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Final

from statemachine.server.backend import MAX_PAYLOAD, Backend, epoch, parse_arn
from statemachine.server.executions import service_call
from statemachine.server.machines import tag_list
from statemachine.server.paging import page
from statemachine.server.params import Params, check_name
from statemachine.server.protocol import AwsError
from statemachine.values import parse_json

__all__ = ["OPERATIONS", "activity_arn"]

_TOKEN_MAX: Final = 2048
#: Between looks at the store during a long poll (work queued by other processes).
_POLL: Final = 0.5


def activity_arn(name: str) -> str:
    from statemachine.api import ACCOUNT, REGION

    return f"arn:aws:states:{REGION}:{ACCOUNT}:activity:{name}"


def _token(p: Params) -> str:
    return p.required_text("taskToken", max_len=_TOKEN_MAX)


def send_task_success(backend: Backend, p: Params) -> dict[str, Any]:
    token = _token(p)
    output = p.required_text("output", max_len=MAX_PAYLOAD, min_len=0)
    if len(output.encode("utf-8")) > MAX_PAYLOAD:
        raise AwsError("InvalidOutput", "Invalid Output: larger than 262144 bytes")
    try:
        parse_json(output, "output")
    except ValueError as error:
        raise AwsError("InvalidOutput", f"Invalid Output: {error}") from None
    backend.callback_answered(service_call(backend.service.send_task_success, token, output))
    return {}


def send_task_failure(backend: Backend, p: Params) -> dict[str, Any]:
    token = _token(p)
    error = p.text("error", max_len=256)
    cause = p.text("cause", max_len=32768)
    backend.callback_answered(
        service_call(backend.service.send_task_failure, token, error, cause))
    return {}


def send_task_heartbeat(backend: Backend, p: Params) -> dict[str, Any]:
    service_call(backend.service.send_task_heartbeat, _token(p))
    return {}


def _activity(backend: Backend, p: Params) -> Any:
    arn = p.required_text("activityArn", max_len=2048)
    if len(parse_arn(arn, "activity")) != 1:
        raise AwsError("InvalidArn", f"Invalid Arn: '{arn}'")
    found = backend.catalog.activity(arn)
    if found is None:
        raise AwsError("ActivityDoesNotExist", f"Activity Does Not Exist: '{arn}'")
    return found


def create_activity(backend: Backend, p: Params) -> dict[str, Any]:
    name = check_name(p.required_text("name", max_len=80))
    tags = tag_list(p)
    record = backend.catalog.create_activity(activity_arn(name), name, now=datetime.now(UTC))
    backend.catalog.tag(record.arn, tags)
    return {"activityArn": record.arn, "creationDate": epoch(record.created)}


def describe_activity(backend: Backend, p: Params) -> dict[str, Any]:
    found = _activity(backend, p)
    return {"activityArn": found.arn, "name": found.name, "creationDate": epoch(found.created)}


def delete_activity(backend: Backend, p: Params) -> dict[str, Any]:
    arn = p.required_text("activityArn", max_len=2048)
    parse_arn(arn, "activity")
    backend.catalog.delete_activity(arn)
    return {}


def list_activities(backend: Backend, p: Params) -> dict[str, Any]:
    items = [{"activityArn": a.arn, "name": a.name, "creationDate": epoch(a.created)}
             for a in backend.catalog.activities()]
    return page(items, p, "activities", "ListActivities")


async def get_activity_task(backend: Backend, p: Params) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    found = await run_in_threadpool(_activity, backend, p)
    worker = p.text("workerName", max_len=80) or ""
    deadline = time.monotonic() + backend.config.long_poll
    while True:
        task = await run_in_threadpool(backend.catalog.take_activity_task, found.arn, worker,
                                       now=datetime.now(UTC))
        if task is not None:
            return {"taskToken": task.token, "input": task.input}
        left = deadline - time.monotonic()
        if left <= 0:
            return {}
        await backend.activities.wait(found.arn, min(_POLL, left))


OPERATIONS = {
    "SendTaskSuccess": send_task_success,
    "SendTaskFailure": send_task_failure,
    "SendTaskHeartbeat": send_task_heartbeat,
    "CreateActivity": create_activity,
    "DescribeActivity": describe_activity,
    "DeleteActivity": delete_activity,
    "ListActivities": list_activities,
    "GetActivityTask": get_activity_task,
}

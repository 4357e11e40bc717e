"""Server stage, EventBridge Scheduler's API: the schedule operations of ``sm serve`` in AWS's
REST-JSON protocol, so ``boto3.client("scheduler", endpoint_url=...)`` and
``aws scheduler ... --endpoint-url`` manage the server's schedules (and the console reads
them: ``GET /schedules``).

In: ``POST|GET|PUT|DELETE /schedules/{Name}`` (CreateSchedule, GetSchedule, UpdateSchedule,
DeleteSchedule; ``groupName`` in the query for GET and DELETE) and ``GET /schedules``
(ListSchedules: ``ScheduleGroup``, ``NamePrefix``, ``State`` in the query). Out: AWS's
response bodies (dates as epoch seconds), and errors as REST-JSON sends them: the status
(400 ValidationException, 404 ResourceNotFoundException, 409 ConflictException), the
``x-amzn-ErrorType`` header and ``{"Message": ...}``. Every operation is a
``Service`` schedule verb (statemachine/schedules/service.py); a Target's Arn must be a
state machine the server knows.

Access: these paths check their own proof when the server has a token (``Authorization:
Bearer``, the console's cookie, or a SigV4 signature made with the token as the secret key),
so they are among ``ServerConfig.public_paths`` for the token gate.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from statemachine.server.auth import bearer_ok, check_sigv4
from statemachine.server.protocol import AwsError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from statemachine.server.config import ServerConfig

__all__ = ["routes"]

_STATUS: Final = {"ValidationException": 400, "ConflictException": 409,
                  "ResourceNotFoundException": 404}
_DATES: Final = ("CreationDate", "LastModificationDate", "StartDate", "EndDate",
                 "NextFireTime", "LastFireTime")


def routes(config: ServerConfig) -> list[BaseRoute]:
    """``/schedules`` and ``/schedules/{name}``."""
    from starlette.routing import Route

    return [Route("/schedules", _list, methods=["GET"], name="scheduler-list"),
            Route("/schedules/{name}", _one, methods=["GET", "POST", "PUT", "DELETE"],
                  name="scheduler-one")]


def _respond(status: int, body: Any, code: str | None = None) -> Response:
    from starlette.responses import Response

    headers = {"x-amzn-RequestId": str(uuid.uuid4())}
    if code is not None:
        headers["x-amzn-ErrorType"] = code
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status,
                    media_type="application/json", headers=headers)


def _epochs(item: dict[str, Any]) -> dict[str, Any]:
    """ISO dates of the Service's answer as REST-JSON's epoch seconds."""
    return {key: datetime.fromisoformat(value).timestamp() if key in _DATES else value
            for key, value in item.items()}


async def _call(request: Request, verb: str, **fields: Any) -> Response:
    """Check access, run ``Service.<verb>(**fields)`` on a thread, answer in AWS's shape."""
    from starlette.concurrency import run_in_threadpool

    from statemachine.durable import StoreError
    from statemachine.service import ServiceError

    config = request.app.state.config
    try:
        body = await request.body()
        if config.token is not None and not bearer_ok(request.headers, config.token):
            check_sigv4(request.method, request.url.path, request.url.query, request.headers,
                        body, config.token)
        if body.strip():
            try:
                fields = {**json.loads(body), **fields}
            except ValueError as error:
                raise AwsError("ValidationException", f"the request body is not JSON: {error}"
                               ) from None
        result = await run_in_threadpool(getattr(request.app.state.service, verb), **fields)
    except AwsError as error:
        return _respond(error.status, {"Message": error.message}, error.code)
    except ServiceError as error:
        return _respond(_STATUS.get(error.code, 400), {"Message": str(error)}, error.code)
    except TypeError as error:  # a required field is missing
        return _respond(400, {"Message": str(error)}, "ValidationException")
    except StoreError as error:
        return _respond(500, {"Message": f"the store did not answer: {error}"},
                        "InternalServerException")
    scheduler = getattr(request.app.state, "scheduler", None)
    if scheduler is not None and verb in ("create_schedule", "update_schedule"):
        scheduler.wake()  # a schedule due now fires now, not at the next poll
    return _respond(200, result)


async def _one(request: Request) -> Response:
    name = request.path_params["name"]
    group = request.query_params.get("groupName", "default")
    if request.method == "GET":
        response = await _call(request, "get_schedule", Name=name, GroupName=group)
    elif request.method == "DELETE":
        response = await _call(request, "delete_schedule", Name=name, GroupName=group)
    else:
        verb = "create_schedule" if request.method == "POST" else "update_schedule"
        response = await _call(request, verb, Name=name)
    if response.status_code == 200 and request.method == "GET":
        response = _respond(200, _epochs(json.loads(bytes(response.body))))
    return response


async def _list(request: Request) -> Response:
    query = request.query_params
    response = await _call(request, "list_schedules", GroupName=query.get("ScheduleGroup"),
                           State=query.get("State"), NamePrefix=query.get("NamePrefix"))
    if response.status_code == 200:
        listed = json.loads(bytes(response.body))
        response = _respond(200, {"Schedules": [_epochs(item) for item in listed["Schedules"]]})
    return response

"""Server stage, the web console: ``GET /`` serves a single page (static files under
``statemachine/server/static``, shipped in the wheel: no CDN, no build step) that works on the
server's own AWS API from the browser, plus the three things that API lacks:

- ``POST /console/api/layout`` ``{"definition": "<JSON or YAML text>"}`` -> the state graph
  laid out for drawing (``statemachine.layout.layout``: nodes, branch lanes, edges with
  points, in pixels).
- ``GET /console/api/approvals[?executionArn=ARN]`` -> ``{"approvals": [{"taskToken",
  "executionArn", "stateName", "input", "parameters", "created", "timeoutAt"}]}``: the task
  tokens RUNNING executions wait on (``.waitForTaskToken``), with the input of the state
  that issued each (JSON text) and dates as epoch seconds; newest executions first, at most
  ``APPROVALS_LIMIT`` executions looked at.
- ``GET /console/api/schedules`` -> ``{"schedules": [{"Name", "GroupName", "State",
  "ScheduleExpression", "ScheduleExpressionTimezone", "Target": {"Arn", "Exists"}, "Description",
  "LastFireTime", "NextFireTimes": [...]}]}``: the store's schedules (GetSchedule's fields)
  with their next ``SCHEDULE_FIRES`` fire times (``Service.schedule_fire_times``: UTC,
  flexible-window offsets included; empty when DISABLED or done), dates as epoch seconds;
  ``Target.Exists`` is false when the target state machine was deleted (its fires are dropped).

Errors come in AWS's shape (``{"__type", "message"}``, 4xx). With an access token set the
console's requests pass the server's token gate like any other: open the console once as
``/?token=TOKEN`` (the server keeps it in a cookie), or enter it when the page asks (it is
then sent as ``Authorization: Bearer``, kept in the tab's sessionStorage).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from statemachine.durable.runner import aws_event, load_history
from statemachine.layout import layout

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from statemachine.durable import DurableStore
    from statemachine.server.config import ServerConfig

__all__ = ["APPROVALS_LIMIT", "SCHEDULE_FIRES", "STATIC", "pending_approvals", "routes",
           "schedules_with_fire_times"]

#: The page's files (index.html, console.js, graph.js, console.css).
STATIC: Final = Path(__file__).with_name("static")
#: How many RUNNING executions the approvals list looks at (newest first).
APPROVALS_LIMIT: Final = 500
#: How many next fire times the schedules list gives per schedule.
SCHEDULE_FIRES: Final = 3
_MAX_DEFINITION: Final = 1024 * 1024


def routes(config: ServerConfig) -> list[BaseRoute]:
    """The console's routes: the page at ``GET /``, its files, its JSON endpoints."""
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    return [
        Route("/", index, methods=["GET", "HEAD"], name="console"),
        Mount("/console/static", StaticFiles(directory=STATIC), name="console-static"),
        Route("/console/api/layout", layout_endpoint, methods=["POST"]),
        Route("/console/api/approvals", approvals_endpoint, methods=["GET"]),
        Route("/console/api/schedules", schedules_endpoint, methods=["GET"]),
    ]


def _error(status: int, code: str, message: str) -> Response:
    from starlette.responses import JSONResponse

    return JSONResponse({"__type": code, "message": message}, status)


async def index(request: Request) -> Response:
    from starlette.responses import FileResponse

    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})


async def layout_endpoint(request: Request) -> Response:
    """The graph of a definition, laid out (see the module docstring)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    raw = await request.body()
    if len(raw) > 2 * _MAX_DEFINITION:
        return _error(413, "RequestEntityTooLarge", "the definition is larger than 1 MiB")
    try:
        body = json.loads(raw)
        text = body["definition"]
        if not isinstance(text, str):
            raise TypeError("definition must be a string")
        definition = _parse_definition(text)
    except RecursionError:
        return _error(400, "ValidationException", "the definition is nested too deep")
    except (ValueError, KeyError, TypeError) as error:
        return _error(400, "ValidationException", f"expected {{\"definition\": \"<JSON or YAML text>\"}}: {error}")
    return JSONResponse(await run_in_threadpool(layout, definition))


def _parse_definition(text: str) -> dict[str, Any]:
    """A definition's text (JSON, or YAML as ``sm`` stores files) as a dict; ValueError else."""
    from statemachine.errors import DefinitionError
    from statemachine.loader import yaml_value

    try:
        value: Any = json.loads(text)
    except ValueError:
        try:
            value = yaml_value(text, "<definition>")
        except DefinitionError as error:
            raise ValueError(str(error)) from None
    if not isinstance(value, dict):
        raise ValueError("the definition is not an object")
    return value


async def approvals_endpoint(request: Request) -> Response:
    """The task tokens waiting for an answer (see the module docstring)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    arn = request.query_params.get("executionArn") or None
    store: DurableStore = request.app.state.store
    if arn is not None and await run_in_threadpool(store.execution, arn) is None:
        return _error(400, "ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
    found = await run_in_threadpool(pending_approvals, store, arn)
    return JSONResponse({"approvals": found})


async def schedules_endpoint(request: Request) -> Response:
    """The schedules with their next fire times (see the module docstring)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    found = await run_in_threadpool(schedules_with_fire_times, request.app.state.service)
    return JSONResponse({"schedules": found})


def schedules_with_fire_times(service: Any, count: int = SCHEDULE_FIRES) -> list[dict[str, Any]]:
    """Every schedule (by group and name) with GetSchedule's fields and ``NextFireTimes``,
    dates as epoch seconds. A schedule deleted while it is read is left out."""
    from datetime import datetime

    from statemachine.schedules.scheduler import target_machine
    from statemachine.service import ResourceNotFoundException

    out = []
    for summary in service.list_schedules()["Schedules"]:
        where = {"Name": summary["Name"], "GroupName": summary["GroupName"]}
        try:
            found = service.get_schedule(**where)
            fires = service.schedule_fire_times(**where, count=count)
        except ResourceNotFoundException:
            continue
        item = {key: found.get(key) for key in (
            "Name", "GroupName", "State", "ScheduleExpression", "ScheduleExpressionTimezone",
            "Description")}
        item["Target"] = {"Arn": found["Target"]["Arn"],
                          "Exists": target_machine(service.store, found["Target"]["Arn"])
                          is not None}
        last = found.get("LastFireTime")
        item["LastFireTime"] = datetime.fromisoformat(last).timestamp() if last else None
        item["NextFireTimes"] = [moment.timestamp() for moment in fires]
        out.append(item)
    return out


def pending_approvals(store: DurableStore, execution_arn: str | None = None,
                      limit: int = APPROVALS_LIMIT) -> list[dict[str, Any]]:
    """The WAITING task tokens of one execution (or of the newest ``limit`` RUNNING ones),
    each with its state's name and input (see the module docstring)."""
    if execution_arn is not None:
        arns = [execution_arn]
    else:
        arns = [record.arn for record in store.executions(status="RUNNING", limit=limit)]
    found: list[dict[str, Any]] = []
    for arn in arns:
        tokens = store.task_tokens(arn, status="WAITING")
        if not tokens:
            continue
        events = {event["id"]: event for event in map(aws_event, load_history(store, arn))}
        for token in tokens:
            scheduled = events.get(token.event_id, {})
            details: dict[str, Any] = next(
                (v for k, v in scheduled.items() if k.endswith("EventDetails")), {})
            found.append({
                "taskToken": token.token, "executionArn": arn, "stateName": token.state_name,
                "input": _state_input(events, token.event_id),
                "parameters": details.get("parameters"),
                "created": token.created.timestamp(),
                "timeoutAt": token.timeout_at.timestamp() if token.timeout_at else None,
            })
    return found


def _state_input(events: dict[int, dict[str, Any]], event_id: int) -> str | None:
    """The input of the state whose TaskScheduled event is ``event_id``: its StateEntered
    event's, found by following ``previousEventId``."""
    current = events.get(event_id)
    for _ in range(len(events)):
        if current is None:
            return None
        entered = current.get("stateEnteredEventDetails")
        if entered is not None:
            value = entered.get("input")
            return value if isinstance(value, str) else None
        current = events.get(current.get("previousEventId", 0))
    return None

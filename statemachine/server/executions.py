"""Server stage, execution operations: StartExecution, StartSyncExecution, DescribeExecution,
ListExecutions, GetExecutionHistory, StopExecution, RedriveExecution, ListMapRuns,
DescribeMapRun.

In: ``Backend`` and the request's ``Params``. Out: AWS's response objects (dates as epoch
seconds); AwsError with AWS's codes (StateMachineDoesNotExist, ExecutionDoesNotExist,
ExecutionAlreadyExists, ExecutionNotRedrivable, InvalidExecutionInput, InvalidArn,
InvalidName, InvalidToken, ResourceNotFound, StateMachineTypeNotSupported,
ValidationException). Executions are durable records the in-process worker (or any
``sm worker`` on the same store) runs; StartSyncExecution runs an EXPRESS machine in the
request and keeps nothing, as AWS keeps no history of synchronous Express executions.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from statemachine.server.backend import MAX_PAYLOAD, Backend, parse_arn
from statemachine.server.machines import resolve_machine
from statemachine.server.paging import offset_of, page, page_size, token_for
from statemachine.server.params import Params, check_name
from statemachine.server.protocol import AwsError
from statemachine.service import ServiceError
from statemachine.values import parse_json

__all__ = ["OPERATIONS", "aws_dates", "service_call"]

_STATUSES: Final = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
_DATE_KEYS: Final = frozenset({"startDate", "stopDate", "redriveDate", "creationDate",
                               "updateDate", "timestamp"})
#: AWS: an EXPRESS execution lasts at most five minutes.
_EXPRESS_SECONDS: Final = 300.0


def aws_dates(value: Any) -> Any:
    """``value`` with the Service's dates (ISO text or datetimes) as epoch seconds."""
    if isinstance(value, dict):
        return {k: _epoch_of(v) if k in _DATE_KEYS else aws_dates(v) if isinstance(v, _NESTED)
                else v for k, v in value.items()}
    if isinstance(value, list):
        return [aws_dates(item) if isinstance(item, _NESTED) else item for item in value]
    return value


_NESTED: Final = (dict, list)  # what aws_dates looks inside (a leaf is returned as it is)


def _epoch_of(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return value


def service_call(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A Service call with its ServiceError as AWS's error (same code and message)."""
    try:
        return call(*args, **kwargs)
    except ServiceError as error:
        raise AwsError(error.code, str(error)) from None


def _input(p: Params) -> Any:
    text = p.text("input", max_len=MAX_PAYLOAD)
    if text is None:
        return {}
    if len(text.encode("utf-8")) > MAX_PAYLOAD:
        raise AwsError("InvalidExecutionInput", "Invalid Execution Input: larger than 262144 bytes")
    try:
        return parse_json(text, "execution input")
    except ValueError as error:  # InvalidJsonError too: lone surrogates, nesting too deep
        raise AwsError("InvalidExecutionInput", f"Invalid Execution Input: {error}") from None


def _execution_arn(p: Params) -> str:
    arn = p.required_text("executionArn", max_len=2048)
    parse_arn(arn, "execution", "express")
    return arn


def start_execution(backend: Backend, p: Params) -> dict[str, Any]:
    machine = p.required_text("stateMachineArn", max_len=2048)
    name = p.text("name", max_len=80)
    if name is not None:
        check_name(name, "Name")
    p.text("traceHeader", max_len=256)
    value = _input(p)
    found = resolve_machine(backend, machine)
    try:
        started = service_call(backend.service.start_stored, found.record, value, name=name,
                               role_arn=found.role_arn, checked=True)  # by _input's parse_json
    except ValueError as error:  # InvalidJsonError: NaN, nesting too deep...
        raise AwsError("InvalidExecutionInput", f"Invalid Execution Input: {error}") from None
    if found.version is not None:
        backend.catalog.note_version(started["executionArn"], found.version.arn)
    backend.executions_started()
    return {"executionArn": started["executionArn"],
            "startDate": _epoch_of(started["startDate"])}


async def start_sync_execution(backend: Backend, p: Params) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    found = await run_in_threadpool(resolve_machine, backend,
                                    p.required_text("stateMachineArn", max_len=2048))
    if found.record.type != "EXPRESS":
        raise AwsError("StateMachineTypeNotSupported",
                       "This operation is not supported by this type of state machine")
    name = p.text("name", max_len=80)
    if name is not None:
        check_name(name, "Name")
    value = _input(p)
    machine = await run_in_threadpool(backend.loader, found.record)
    name = name or str(uuid.uuid4())
    start = datetime.now(UTC)
    execution = await machine.run_async(value, name=name, timeout=_EXPRESS_SECONDS)
    stop = datetime.now(UTC)
    status = "TIMED_OUT" if execution.status == "ABORTED" else execution.status
    out: dict[str, Any] = {
        "executionArn": execution.execution_arn, "stateMachineArn": found.arn,
        "name": name, "startDate": start.timestamp(), "stopDate": stop.timestamp(),
        "status": status, "input": json.dumps(value, separators=(",", ":"), ensure_ascii=False),
        "inputDetails": {"included": True},
        "billingDetails": {"billedMemoryUsedInMB": 64,
                           "billedDurationInMilliseconds": max(100, -(-int((stop - start).total_seconds() * 1000) // 100) * 100)}}
    if execution.status == "SUCCEEDED":
        out["output"] = json.dumps(execution.output, separators=(",", ":"), ensure_ascii=False)
        out["outputDetails"] = {"included": True}
    elif status == "TIMED_OUT":
        out["error"], out["cause"] = "States.Timeout", "The execution ran longer than 5 minutes"
    else:
        if execution.error is not None:
            out["error"] = execution.error
        if execution.cause is not None:
            out["cause"] = execution.cause
    return out


def describe_execution(backend: Backend, p: Params) -> dict[str, Any]:
    arn = _execution_arn(p)
    included = p.choice("includedData", ("ALL_DATA", "METADATA_ONLY"), default="ALL_DATA")
    out: dict[str, Any] = aws_dates(service_call(backend.service.describe, arn))
    version = backend.catalog.version_of(arn)
    if version is not None:
        out["stateMachineVersionArn"] = version
    if included == "METADATA_ONLY":
        for key in ("input", "output"):
            if key in out:
                del out[key]
                out[f"{key}Details"] = {"included": False}
    return out


def list_executions(backend: Backend, p: Params) -> dict[str, Any]:
    machine = p.text("stateMachineArn", max_len=2048)
    map_run = p.text("mapRunArn", max_len=2048)
    status = p.choice("statusFilter", _STATUSES)
    redrive = p.choice("redriveFilter", ("REDRIVEN", "NOT_REDRIVEN"))
    if machine is None and map_run is None:
        raise AwsError("ValidationException", "Must specify either a stateMachineArn or a mapRunArn")
    version: str | None = None
    if machine is not None:
        found = resolve_machine(backend, machine)
        version = found.version.arn if found.version is not None else None
        machine = found.arn
    if map_run is not None:
        parse_arn(map_run, "mapRun")
    listing = f"ListExecutions:{machine}:{version}:{map_run}:{status}:{redrive}"
    start, size = offset_of(p, listing), page_size(p)
    if version is None:
        rows = service_call(backend.service.list, status=status, machine=machine,
                            map_run_arn=map_run, redrive_filter=redrive, limit=start + size + 1)
    else:  # a version ARN: the executions started from it
        of_version = backend.catalog.executions_of_version(version)
        rows = [row for row in service_call(backend.service.list, status=status,
                                            machine=machine, redrive_filter=redrive)
                if row["executionArn"] in of_version]
        for row in rows:
            row["stateMachineVersionArn"] = version
    out: dict[str, Any] = {"executions": aws_dates(rows[start:start + size])}
    if len(rows) > start + size:
        out["nextToken"] = token_for(listing, start + size)
    return out


_DATA_KEYS: Final = ("input", "output", "parameters")


def get_execution_history(backend: Backend, p: Params) -> dict[str, Any]:
    arn = _execution_arn(p)
    reverse = bool(p.flag("reverseOrder"))
    include = p.flag("includeExecutionData")
    events = service_call(backend.service.history, arn)
    if reverse:
        events.reverse()
    if include is False:
        for event in events:
            for key, details in event.items():
                if key.endswith("EventDetails") and isinstance(details, dict):
                    for field in _DATA_KEYS:
                        details.pop(field, None)
                        details.pop(f"{field}Details", None)
    out = page(events, p, "events", f"GetExecutionHistory:{arn}:{reverse}:{include}")
    out["events"] = aws_dates(out["events"])  # the page's dates only
    return out


def stop_execution(backend: Backend, p: Params) -> dict[str, Any]:
    arn = _execution_arn(p)
    error = p.text("error", max_len=256)
    cause = p.text("cause", max_len=32768)
    out: dict[str, Any] = aws_dates(service_call(backend.service.stop, arn, error, cause))
    backend.wake_worker()
    return out


def redrive_execution(backend: Backend, p: Params) -> dict[str, Any]:
    arn = _execution_arn(p)
    p.text("clientToken", max_len=64)
    machine = service_call(backend.service.describe, arn)["stateMachineArn"]
    meta = backend.catalog.api_machine(machine)
    if meta is not None and meta.deleted is not None:  # AWS: "State machine is in DELETING status"
        raise AwsError("ExecutionNotRedrivable", f"State machine is deleted: '{machine}'")
    out: dict[str, Any] = aws_dates(service_call(backend.service.redrive, arn))
    backend.executions_started()
    return out


def list_map_runs(backend: Backend, p: Params) -> dict[str, Any]:
    arn = _execution_arn(p)
    runs = aws_dates(service_call(backend.service.list_map_runs, arn))["mapRuns"]
    return page(runs, p, "mapRuns", f"ListMapRuns:{arn}")


def describe_map_run(backend: Backend, p: Params) -> dict[str, Any]:
    arn = p.required_text("mapRunArn", max_len=2048)
    parse_arn(arn, "mapRun")
    out: dict[str, Any] = aws_dates(service_call(backend.service.describe_map_run, arn))
    return out


OPERATIONS = {
    "StartExecution": start_execution,
    "StartSyncExecution": start_sync_execution,
    "DescribeExecution": describe_execution,
    "ListExecutions": list_executions,
    "GetExecutionHistory": get_execution_history,
    "StopExecution": stop_execution,
    "RedriveExecution": redrive_execution,
    "ListMapRuns": list_map_runs,
    "DescribeMapRun": describe_map_run,
}

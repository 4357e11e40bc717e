"""Server stage, execution operations: StartExecution, DescribeExecution (more in later steps).

In: ``Backend`` and the request's ``Params``. Out: AWS's response objects (dates as epoch
seconds); AwsError with AWS's codes (StateMachineDoesNotExist, ExecutionDoesNotExist,
ExecutionAlreadyExists, InvalidExecutionInput, InvalidArn, InvalidName).
"""

from __future__ import annotations

import json
from typing import Any

from statemachine.durable import ExecutionRecord
from statemachine.server.backend import MAX_PAYLOAD, Backend, epoch, parse_arn
from statemachine.server.params import Params, check_name
from statemachine.server.protocol import AwsError
from statemachine.service import ServiceError

__all__ = ["OPERATIONS", "describe_record"]


def _input(p: Params) -> Any:
    text = p.text("input", max_len=MAX_PAYLOAD)
    if text is None:
        return {}
    if len(text.encode("utf-8")) > MAX_PAYLOAD:
        raise AwsError("InvalidExecutionInput", "Invalid Execution Input: larger than 262144 bytes")
    try:
        return json.loads(text)
    except ValueError as error:
        raise AwsError("InvalidExecutionInput", f"Invalid Execution Input: {error}") from None


def start_execution(backend: Backend, p: Params) -> dict[str, Any]:
    arn = p.required_text("stateMachineArn", max_len=2048)
    parse_arn(arn, "stateMachine")
    name = p.text("name", max_len=80)
    if name is not None:
        check_name(name, "Name")
    value = _input(p)
    record = backend.store.machine(arn)
    if record is None:
        raise AwsError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
    try:
        started = backend.service.start_stored(record, value, name=name)
    except ServiceError as error:
        raise AwsError(error.code, str(error)) from None
    found = backend.store.execution(started["executionArn"])
    assert found is not None
    return {"executionArn": found.arn, "startDate": epoch(found.start_date)}


def describe_record(record: ExecutionRecord) -> dict[str, Any]:
    """DescribeExecution's response for a stored execution."""
    out: dict[str, Any] = {
        "executionArn": record.arn, "stateMachineArn": record.machine_arn, "name": record.name,
        "status": record.status, "startDate": epoch(record.start_date),
        "stopDate": epoch(record.stop_date), "input": record.input,
        "inputDetails": {"included": True}, "output": record.output,
        "error": record.error, "cause": record.cause, "redriveCount": record.redrive_count,
        "redriveDate": epoch(record.redrive_date), "redriveStatus": record.redrive_status,
        "mapRunArn": record.parent_arn,
    }
    if record.output is not None:
        out["outputDetails"] = {"included": True}
    return {key: value for key, value in out.items() if value is not None}


def describe_execution(backend: Backend, p: Params) -> dict[str, Any]:
    arn = p.required_text("executionArn", max_len=2048)
    parse_arn(arn, "execution", "express")
    record = backend.store.execution(arn)
    if record is None:
        raise AwsError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
    return describe_record(record)


OPERATIONS = {
    "StartExecution": start_execution,
    "DescribeExecution": describe_execution,
}

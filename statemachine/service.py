"""Service layer: durable executions through one object that opens the store.

In: a database (``Service(db)``: a SQLite path, a PostgreSQL URL, an open ``DurableStore``,
or None for ``$SM_DB`` / the default file). Out: AWS-shaped dicts (StartExecution,
DescribeExecution, ListExecutions, GetExecutionHistory, StopExecution, RedriveExecution
field names) and AWS's errors as named exceptions. Any process that reaches the database
can call it; ``sm worker`` processes (statemachine.durable.worker) do the running.

    service = Service("/srv/sm/executions.db")
    arn = service.start("flow.yaml", {"x": 1}, name="order-17")["executionArn"]
    service.send_task_success(token, {"approved": True})
    service.describe(arn)["status"]

Errors (all ``ServiceError``, a StateMachineError): ExecutionAlreadyExists,
ExecutionDoesNotExist, ExecutionNotRedrivable, TaskDoesNotExist, TaskTimedOut,
InvalidToken, InvalidOutput; for schedules (EventBridge Scheduler's verbs, see
statemachine.schedules.service) ValidationException, ConflictException,
ResourceNotFoundException; store failures raise statemachine.durable's StoreError.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from statemachine.durable import (
    DurableStore,
    EventConflict,
    ExecutionExists,
    ExecutionRecord,
    ExecutionUpdate,
    TaskTokenClosed,
    TaskTokenNotFound,
    open_store,
)
from statemachine.durable.runner import aws_event, cancel_waiting_tokens, event_record
from statemachine.errors import StateMachineError
from statemachine.schedules.service import ScheduleMethods
from statemachine.values import JSON, check_json

_List = list  # ``Service.list`` shadows the builtin inside the class

__all__ = [
    "ConflictException",
    "ExecutionAlreadyExists",
    "ExecutionDoesNotExist",
    "ExecutionNotRedrivable",
    "InvalidOutput",
    "InvalidToken",
    "ResourceNotFoundException",
    "Service",
    "ServiceError",
    "TaskDoesNotExist",
    "TaskTimedOut",
    "ValidationException",
]

_PAYLOAD_LIMIT = 256 * 1024
_TOKEN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TERMINAL_EVENTS = ("ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut",
                    "ExecutionSucceeded")


class ServiceError(StateMachineError):
    """An AWS API error; ``code`` is AWS's name for it."""

    code = "ServiceError"


class ExecutionAlreadyExists(ServiceError):
    """A start named an execution that exists with another input, or that has ended."""

    code = "ExecutionAlreadyExists"


class ExecutionDoesNotExist(ServiceError):
    """No execution with that ARN."""

    code = "ExecutionDoesNotExist"


class ExecutionNotRedrivable(ServiceError):
    """Redrive of an execution that did not fail, abort or time out (or is EXPRESS)."""

    code = "ExecutionNotRedrivable"


class TaskDoesNotExist(ServiceError):
    """The task token is unknown, already answered, or its execution ended."""

    code = "TaskDoesNotExist"


class TaskTimedOut(ServiceError):
    """The task token's state timed out (TimeoutSeconds or HeartbeatSeconds passed)."""

    code = "TaskTimedOut"


class InvalidToken(ServiceError):
    """The text is not a task token (malformed)."""

    code = "InvalidToken"


class InvalidOutput(ServiceError):
    """The output of send_task_success is not JSON, or larger than 256 KiB."""

    code = "InvalidOutput"


class ValidationException(ServiceError):
    """EventBridge Scheduler: a request field is invalid (an expression, a time zone, ...)."""

    code = "ValidationException"


class ConflictException(ServiceError):
    """EventBridge Scheduler: a schedule of that name exists in the group."""

    code = "ConflictException"


class ResourceNotFoundException(ServiceError):
    """EventBridge Scheduler: no such schedule (or no such state machine as its target)."""

    code = "ResourceNotFoundException"


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class Service(ScheduleMethods):
    """Durable executions and schedules of one store (see the module docstring)."""

    def __init__(self, db: str | os.PathLike[str] | DurableStore | None = None) -> None:
        if db is None or isinstance(db, (str, os.PathLike)):
            self.store: DurableStore = open_store(db)
        else:
            self.store = db
        self._loaded: dict[tuple[str, str | None, str], tuple[Any, Any]] = {}  # definitions started

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- starting ---------------------------------------------------------------------------
    def start(self, definition: str | os.PathLike[str], input: JSON = None, *,
              name: str | None = None, machine_name: str | None = None,
              seed: int | None = None) -> dict[str, Any]:
        """StartExecution: store the machine (``definition`` is a file path) and a new
        RUNNING execution that a worker will pick up; returns ``{"executionArn",
        "startDate"}``. A ``name`` that exists: the same input while it runs returns that
        execution (idempotent); otherwise ExecutionAlreadyExists. Raises DefinitionError,
        ResourceNotFoundError (checked now, not in the worker), InvalidJsonError."""
        from statemachine.api import ACCOUNT, REGION, ROLE_ARN, load
        from statemachine.history import Event
        from statemachine.randomness import new_seed

        path = Path(definition)
        text = path.read_text(encoding="utf-8")
        key = (str(path.resolve()), machine_name, text)
        found = self._loaded.get(key)
        if found is None:
            machine = load(path, name=machine_name)
            stored = self.store.put_machine(machine.arn, machine.name, text, type=machine.type,
                                            now=_now(), source=str(path.resolve()))
            found = self._loaded[key] = (machine, stored)
        machine, stored = found
        input = {} if input is None else input
        check_json(input, "execution input")
        input_text = json.dumps(input, separators=(",", ":"), ensure_ascii=False)
        now = _now()
        name = name or str(uuid.uuid4())
        kind = "express" if machine.type == "EXPRESS" else "execution"
        arn = f"arn:aws:states:{REGION}:{ACCOUNT}:{kind}:{machine.name}:{name}"
        started = Event(1, 0, now.timestamp(), "ExecutionStarted",
                        {"input": input, "roleArn": ROLE_ARN})
        record = ExecutionRecord(arn=arn, name=name, machine_arn=machine.arn,
                                 machine_version=stored.version, input=input_text,
                                 start_date=now, seed=new_seed() if seed is None else seed)
        try:
            created = self.store.create_execution(record, events=[event_record(started)])
        except ExecutionExists as error:
            existing = error.existing
            if existing.status == "RUNNING" and json.loads(existing.input) == input:
                return {"executionArn": existing.arn, "startDate": _iso(existing.start_date)}
            raise ExecutionAlreadyExists(f"Execution Already Exists: '{arn}'") from None
        return {"executionArn": created.arn, "startDate": _iso(created.start_date)}

    # -- reading ----------------------------------------------------------------------------
    def _record(self, arn: str) -> ExecutionRecord:
        found = self.store.execution(arn)
        if found is None:
            raise ExecutionDoesNotExist(f"Execution Does Not Exist: '{arn}'")
        return found

    def describe(self, arn: str) -> dict[str, Any]:
        """DescribeExecution (AWS field names; dates as ISO text)."""
        record = self._record(arn)
        out: dict[str, Any] = {
            "executionArn": record.arn, "stateMachineArn": record.machine_arn,
            "name": record.name, "status": record.status,
            "startDate": _iso(record.start_date), "stopDate": _iso(record.stop_date),
            "input": record.input, "inputDetails": {"included": True},
        }
        if record.output is not None:
            out["output"] = record.output
            out["outputDetails"] = {"included": True}
        if record.error is not None:
            out["error"] = record.error
        if record.cause is not None:
            out["cause"] = record.cause
        out["redriveCount"] = record.redrive_count
        if record.redrive_date is not None:
            out["redriveDate"] = _iso(record.redrive_date)
        if record.redrive_status is not None:
            out["redriveStatus"] = record.redrive_status
            if record.redrive_status == "NOT_REDRIVABLE":
                out["redriveStatusReason"] = f"Execution is {record.status} and cannot be redriven"
        if record.parent_arn is not None:
            out["mapRunArn"] = record.parent_arn
        return {key: value for key, value in out.items() if value is not None}

    def list(self, *, status: str | None = None, machine: str | None = None,
             limit: int | None = None) -> _List[dict[str, Any]]:
        """ListExecutions: newest first. ``machine`` is a state machine ARN or name."""
        machine_arn = None
        if machine is not None:
            machine_arn = machine if machine.startswith("arn:") else next(
                (m.arn for m in self.store.machines() if m.name == machine), "arn:none")
        out = []
        for record in self.store.executions(status=status, machine_arn=machine_arn, limit=limit):
            item: dict[str, Any] = {
                "executionArn": record.arn, "stateMachineArn": record.machine_arn,
                "name": record.name, "status": record.status,
                "startDate": _iso(record.start_date), "stopDate": _iso(record.stop_date),
                "redriveCount": record.redrive_count, "redriveDate": _iso(record.redrive_date)}
            out.append({key: value for key, value in item.items() if value is not None})
        return out

    def history(self, arn: str) -> _List[dict[str, Any]]:
        """GetExecutionHistory: every event, oldest first (timestamps as datetimes)."""
        self._record(arn)
        return [aws_event(record) for record in self.store.history(arn)]

    # -- control ----------------------------------------------------------------------------
    def stop(self, arn: str, error: str | None = None, cause: str | None = None) -> dict[str, Any]:
        """StopExecution: the execution ends ABORTED (one ExecutionAborted event); a worker
        running it stops at once (its tasks are cancelled), its task tokens are closed.
        Stopping an execution that has ended changes nothing. Returns ``{"stopDate"}``."""
        from statemachine.history import Event

        for _ in range(20):
            record = self._record(arn)
            if record.status != "RUNNING":
                return {"stopDate": _iso(record.stop_date)}
            now = _now()
            details: dict[str, Any] = {}
            if error:
                details["error"] = error
            if cause:
                details["cause"] = cause
            event = Event(record.last_event_id + 1, 0, now.timestamp(), "ExecutionAborted",
                          details or None)
            update = ExecutionUpdate(status="ABORTED", stop_date=now, error=error, cause=cause,
                                     redrive_status="REDRIVABLE")
            try:
                self.store.append(arn, [event_record(event)], after=record.last_event_id,
                                  update=update, cancel_timers="all")
            except EventConflict:
                continue  # a worker appended meanwhile: read again
            cancel_waiting_tokens(self.store, arn)
            return {"stopDate": _iso(now)}
        raise ServiceError(f"could not stop {arn}: its history keeps changing")

    def redrive(self, arn: str) -> dict[str, Any]:
        """RedriveExecution: a FAILED, ABORTED or TIMED_OUT STANDARD execution continues from
        the states that did not succeed (see docs/ARCHITECTURE.md): same ARN and input,
        ``redriveCount`` + 1, an ExecutionRedriven event. Returns ``{"redriveDate"}``."""
        from statemachine.history import Event

        record = self._record(arn)
        if record.status not in ("FAILED", "ABORTED", "TIMED_OUT") or ":express:" in arn:
            raise ExecutionNotRedrivable(
                f"Execution is {record.status} and cannot be redriven: '{arn}'")
        now = _now()
        count = record.redrive_count + 1
        event = Event(record.last_event_id + 1, record.last_event_id, now.timestamp(),
                      "ExecutionRedriven", {"redriveCount": count})
        update = ExecutionUpdate(status="RUNNING", stop_date=None, output=None, error=None,
                                 cause=None, redrive_count=count, redrive_status=None,
                                 redrive_date=now)
        from statemachine.durable import TimerRecord

        try:
            self.store.append(arn, [event_record(event)], after=record.last_event_id,
                              update=update, timers=[TimerRecord(arn, "start", "start", now)],
                              cancel_timers="all")
        except EventConflict:
            raise ExecutionNotRedrivable(f"Execution changed while redriving: '{arn}'") from None
        return {"redriveDate": _iso(now)}

    # -- callbacks --------------------------------------------------------------------------
    def _check_token(self, token: str) -> None:
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise InvalidToken(f"Invalid Token: '{token}'" if isinstance(token, str) and len(token) < 200
                               else "Invalid Token")

    def _close(self, token: str, status: str, **answer: Any) -> None:
        self._check_token(token)
        try:
            self.store.close_task_token(token, status, now=_now(), **answer)
        except TaskTokenNotFound:
            raise TaskDoesNotExist("Task does not exist anymore") from None
        except TaskTokenClosed as error:
            if error.status == "TIMED_OUT":
                raise TaskTimedOut("Task Timed Out") from None
            raise TaskDoesNotExist("Task does not exist anymore") from None

    def send_task_success(self, token: str, output: JSON) -> None:
        """SendTaskSuccess: the waiting task succeeds with ``output`` (JSON; a str is JSON
        text). Raises InvalidToken, TaskDoesNotExist, TaskTimedOut, InvalidOutput."""
        self._check_token(token)
        if isinstance(output, str):
            try:
                output = json.loads(output)
            except ValueError as error:
                raise InvalidOutput(f"Invalid Output: {error}") from None
        try:
            check_json(output, "task output")
        except ValueError as error:
            raise InvalidOutput(f"Invalid Output: {error}") from None
        text = json.dumps(output, separators=(",", ":"), ensure_ascii=False)
        if len(text.encode()) > _PAYLOAD_LIMIT:
            raise InvalidOutput("Invalid Output: larger than 262144 bytes")
        self._close(token, "SUCCEEDED", output=text)

    def send_task_failure(self, token: str, error: str | None = None,
                          cause: str | None = None) -> None:
        """SendTaskFailure: the waiting task fails with ``error``/``cause`` (Retry/Catch
        see them). Raises InvalidToken, TaskDoesNotExist, TaskTimedOut."""
        self._close(token, "FAILED", error=error, cause=cause)

    def send_task_heartbeat(self, token: str) -> None:
        """SendTaskHeartbeat: the task's HeartbeatSeconds start again. Raises InvalidToken,
        TaskDoesNotExist, TaskTimedOut."""
        self._check_token(token)
        try:
            self.store.heartbeat_task_token(token, now=_now())
        except TaskTokenNotFound:
            raise TaskDoesNotExist("Task does not exist anymore") from None
        except TaskTokenClosed as error:
            if error.status == "TIMED_OUT":
                raise TaskTimedOut("Task Timed Out") from None
            raise TaskDoesNotExist("Task does not exist anymore") from None

    def task_tokens(self, arn: str) -> _List[str]:
        """The task tokens an execution waits on now."""
        return [t.token for t in self.store.task_tokens(arn, status="WAITING")]

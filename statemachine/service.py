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
ExecutionDoesNotExist, ExecutionNotRedrivable, ResourceNotFound, TaskDoesNotExist,
TaskTimedOut, InvalidToken, InvalidOutput, InvalidArn, InvalidName, ValidationException,
StateMachineDoesNotExist; for schedules
(EventBridge Scheduler's verbs, see statemachine.schedules.service) also ConflictException
and ResourceNotFoundException; store failures raise statemachine.durable's StoreError.

Distributed Map runs (durable/children.py): ``list_map_runs(execution_arn)`` (ListMapRuns),
``describe_map_run(map_run_arn)`` (DescribeMapRun), ``list(map_run_arn=...)`` (the child
executions); a child's ``history`` is read like any execution's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from statemachine.clock import Clock
from statemachine.durable import (
    DurableStore,
    EventConflict,
    EventRecord,
    ExecutionExists,
    ExecutionRecord,
    ExecutionUpdate,
    MachineRecord,
    TaskTokenClosed,
    TaskTokenNotFound,
    open_store,
)
from statemachine.durable._events import compact, started_body
from statemachine.durable.runner import (
    TRACE_KEY,
    aws_event,
    cancel_waiting_tokens,
    event_record,
    load_history,
)
from statemachine.errors import StateMachineError
from statemachine.schedules.service import ScheduleMethods
from statemachine.values import JSON, check_json

_List = list  # ``Service.list`` shadows the builtin inside the class

__all__ = [
    "ConflictException",
    "ExecutionAlreadyExists",
    "ExecutionDoesNotExist",
    "ExecutionNotRedrivable",
    "InvalidArn",
    "InvalidName",
    "InvalidOutput",
    "InvalidToken",
    "ResourceNotFound",
    "ResourceNotFoundException",
    "Service",
    "ServiceError",
    "StateMachineDoesNotExist",
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


class ResourceNotFound(ServiceError):
    """No map run with that ARN (DescribeMapRun)."""

    code = "ResourceNotFound"


class ValidationException(ServiceError):
    """Arguments AWS refuses together (a map run and a state machine; PENDING_REDRIVE
    without a map run; an unknown redriveFilter); for schedules, a request field EventBridge
    Scheduler refuses (an expression, a time zone, a window, dates)."""

    code = "ValidationException"


class TaskDoesNotExist(ServiceError):
    """The task token is unknown, already answered, or its execution ended."""

    code = "TaskDoesNotExist"


class TaskTimedOut(ServiceError):
    """The task token's state timed out (TimeoutSeconds or HeartbeatSeconds passed)."""

    code = "TaskTimedOut"


class InvalidToken(ServiceError):
    """The text is not a task token (malformed)."""

    code = "InvalidToken"


class InvalidArn(ServiceError):
    """The ARN given is not one of the kind the call takes (AWS InvalidArn)."""

    code = "InvalidArn"


def check_arn(arn: str, *kinds: str) -> None:
    """Raise InvalidArn (AWS's wording) unless ``arn`` is a Step Functions ARN of one of
    ``kinds`` (``execution``, ``express``, ``mapRun``) with a non-empty name."""
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) < 7 or parts[0] != "arn" or not parts[1].startswith("aws") or parts[2] != "states":
        raise InvalidArn(f"Invalid Arn: 'Invalid ARN prefix: {arn}'")
    if parts[5] not in kinds:
        raise InvalidArn(f"Invalid Arn: 'Resource type not valid in this context: {parts[5]}'")
    if len(parts) < 8 or not all(parts[6:]):
        raise InvalidArn(f"Invalid Arn: '{arn}'")


class StateMachineDoesNotExist(ServiceError):
    """No state machine of that name or ARN is in the store (AWS StateMachineDoesNotExist)."""

    code = "StateMachineDoesNotExist"


class InvalidName(ServiceError):
    """An execution name AWS would refuse (AWS InvalidName): see NAME_RULE."""

    code = "InvalidName"


#: AWS execution names: 1-80 characters without whitespace, brackets, wildcards, the
#: characters " # % \ ^ | ~ ` $ & , ; : / or control characters.
NAME_RULE: Final = re.compile(r'^[^\s<>{}\[\]?*"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]{1,80}$')


class InvalidOutput(ServiceError):
    """The output of send_task_success is not JSON, or larger than 256 KiB."""

    code = "InvalidOutput"


class ConflictException(ServiceError):
    """EventBridge Scheduler: a schedule of that name exists in the group."""

    code = "ConflictException"


class ResourceNotFoundException(ServiceError):
    """EventBridge Scheduler: no such schedule (or no such state machine as its target)."""

    code = "ResourceNotFoundException"


def _trace_context() -> dict[str, str]:
    """The W3C trace context current in this thread (``traceparent``, ``tracestate``) when
    OpenTelemetry is loaded and a span is current, else empty (nothing is imported)."""
    if "opentelemetry.trace" not in sys.modules:
        return {}
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


#: AWS: an execution can be redriven for 14 days after it stopped.
REDRIVABLE_PERIOD = timedelta(days=14)
_YEAR = timedelta(days=365)


def redrive_status(record: ExecutionRecord, now: datetime) -> tuple[str, str | None]:
    """DescribeExecution's ``redriveStatus`` and ``redriveStatusReason`` (None: no reason).

    AWS: REDRIVABLE for a FAILED, ABORTED or TIMED_OUT STANDARD execution; a Distributed
    Map's child is REDRIVABLE_BY_MAP_RUN instead (redriving its parent redrives it);
    otherwise NOT_REDRIVABLE, with the reason: "Execution is RUNNING and cannot be
    redriven", "Execution is SUCCEEDED and cannot be redriven", "Execution history event
    limit exceeded", "Execution has exceeded the max execution time", "Execution redrivable
    period exceeded" (14 days after it stopped)."""
    if record.status not in ("FAILED", "ABORTED", "TIMED_OUT"):
        return "NOT_REDRIVABLE", f"Execution is {record.status} and cannot be redriven"
    if ":express:" in record.arn:
        return "NOT_REDRIVABLE", "Execution is EXPRESS and cannot be redriven"
    if record.error == "States.Runtime" and "maximum number of history events" in (
            record.cause or ""):
        return "NOT_REDRIVABLE", "Execution history event limit exceeded"
    if record.status == "TIMED_OUT" and record.stop_date is not None and \
            record.stop_date - record.start_date >= _YEAR:
        return "NOT_REDRIVABLE", "Execution has exceeded the max execution time"
    if record.map_run_arn is not None:
        return "REDRIVABLE_BY_MAP_RUN", None
    if record.stop_date is not None and now - record.stop_date > REDRIVABLE_PERIOD:
        return "NOT_REDRIVABLE", "Execution redrivable period exceeded"
    return "REDRIVABLE", None


_COUNT_KEYS = (("pending", None), ("running", "RUNNING"), ("succeeded", "SUCCEEDED"),
               ("failed", "FAILED"), ("timedOut", "TIMED_OUT"), ("aborted", "ABORTED"))


def _counts(by_status: dict[str, tuple[int, int]], which: int, total: int,
            written: int, executions: int) -> dict[str, int]:
    """MapRunItemCounts / MapRunExecutionCounts from the children by status
    (``which``: 0 counts executions, 1 items)."""
    out: dict[str, int] = {}
    started = 0
    for key, status in _COUNT_KEYS:
        if status is not None:
            out[key] = by_status.get(status, (0, 0))[which]
            started += out[key]
    pending_redrive = by_status.get("PENDING_REDRIVE", (0, 0))[which]
    out["pending"] = max(0, total - started - pending_redrive)
    out["total"] = total
    out["resultsWritten"] = written if which == 0 or not executions else (
        total if written >= executions else written)
    out["failuresNotRedrivable"] = 0
    out["pendingRedrive"] = pending_redrive
    return out


class Service(ScheduleMethods):
    """Durable executions and schedules of one store (see the module docstring)."""

    def __init__(self, db: str | os.PathLike[str] | DurableStore | None = None, *,
                 clock: Clock | None = None) -> None:
        """``db``: see the module docstring. ``clock``: the time recorded by starts, stops,
        redrives and callback answers (default: the system's; a test driving a
        virtual-time worker passes the worker's clock)."""
        self.clock = clock
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
        from statemachine.api import load

        path = Path(definition)
        text = path.read_text(encoding="utf-8")
        key = (str(path.resolve()), machine_name, text)
        found = self._loaded.get(key)
        if found is None:
            machine = load(path, name=machine_name)
            stored = self.store.put_machine(machine.arn, machine.name, text, type=machine.type,
                                            now=self._now(), source=str(path.resolve()))
            found = self._loaded[key] = (machine, stored)
        machine, stored = found
        return self.start_stored(stored, input, name=name, seed=seed)

    def start_stored(self, stored: MachineRecord, input: JSON = None, *,
                     name: str | None = None, seed: int | None = None,
                     role_arn: str | None = None, checked: bool = False) -> dict[str, Any]:
        """StartExecution of a machine version already in the store (``sm serve``): as
        ``start`` without reading a file; ``role_arn`` (the machine's role, for the
        ExecutionStarted event; default ``statemachine.api.ROLE_ARN``); ``checked``: the
        input came from ``values.parse_json``, so it is JSON already (not walked again).
        Raises ExecutionAlreadyExists, InvalidJsonError."""
        from statemachine.api import ACCOUNT, REGION, ROLE_ARN
        from statemachine.randomness import new_seed

        input = {} if input is None else input
        if not checked:
            check_json(input, "execution input")
        input_text = compact(input)
        if name is not None and not NAME_RULE.match(name):
            raise InvalidName(f"Invalid Name: '{name}'")
        now = self._now()
        name = name or str(uuid.uuid4())
        kind = "express" if stored.type == "EXPRESS" else "execution"
        arn = f"arn:aws:states:{REGION}:{ACCOUNT}:{kind}:{stored.name}:{name}"
        record = ExecutionRecord(arn=arn, name=name, machine_arn=stored.arn,
                                 machine_version=stored.version, input=input_text,
                                 start_date=now, seed=new_seed() if seed is None else seed)
        first = EventRecord(1, "ExecutionStarted", now,
                            started_body(input_text, role_arn or ROLE_ARN))
        caller = _trace_context()
        if caller:  # started inside a trace: its spans join it (telemetry.py)
            body = json.loads(first.body)
            body[TRACE_KEY] = caller
            first = dataclasses.replace(first, body=json.dumps(body, separators=(",", ":")))
        try:
            created = self.store.create_execution(record, events=[first])
        except ExecutionExists as error:
            existing = error.existing
            if existing.status == "RUNNING" and json.loads(existing.input) == input:
                return {"executionArn": existing.arn, "startDate": _iso(existing.start_date)}
            raise ExecutionAlreadyExists(f"Execution Already Exists: '{arn}'") from None
        return {"executionArn": created.arn, "startDate": _iso(created.start_date)}

    # -- reading ----------------------------------------------------------------------------
    def _record(self, arn: str) -> ExecutionRecord:
        check_arn(arn, "execution", "express")
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
        status, reason = redrive_status(record, self._now())
        out["redriveStatus"] = status
        if reason is not None:
            out["redriveStatusReason"] = reason
        if record.map_run_arn is not None:
            out["mapRunArn"] = record.map_run_arn
        return {key: value for key, value in out.items() if value is not None}

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC) if self.clock is not None else _now()

    def list(self, *, status: str | None = None, machine: str | None = None,
             map_run_arn: str | None = None, redrive_filter: str | None = None,
             limit: int | None = None) -> _List[dict[str, Any]]:
        """ListExecutions: newest first (AWS's ExecutionListItem shape). ``machine`` is a
        state machine ARN or name; ``map_run_arn`` lists the child executions of a
        Distributed Map run instead (with ``mapRunArn`` and ``itemCount``); without it, child
        executions are not listed. ``redrive_filter``: REDRIVEN or NOT_REDRIVEN. Raises
        ValidationException (both ``machine`` and ``map_run_arn``; PENDING_REDRIVE without a
        map run; another filter value), ResourceNotFound (an unknown map run),
        StateMachineDoesNotExist (an unknown ``machine``)."""
        if machine is not None and map_run_arn is not None:
            raise ValidationException("Specify either a mapRunArn or a stateMachineArn, not both")
        if status == "PENDING_REDRIVE" and map_run_arn is None:
            raise ValidationException("The PENDING_REDRIVE statusFilter needs a mapRunArn")
        if redrive_filter not in (None, "REDRIVEN", "NOT_REDRIVEN"):
            raise ValidationException(f"redriveFilter must be REDRIVEN or NOT_REDRIVEN, "
                                      f"not {redrive_filter!r}")
        if map_run_arn is not None:
            check_arn(map_run_arn, "mapRun")
        if map_run_arn is not None and self.store.map_run(map_run_arn) is None:
            raise ResourceNotFound(f"Map Run Does Not Exist: '{map_run_arn}'")
        machine_arn = None
        if machine is not None:
            machine_arn = next((m.arn for m in self.store.machines()
                                if machine in (m.arn, m.name)), None)
            if machine_arn is None:
                raise StateMachineDoesNotExist(f"State Machine Does Not Exist: '{machine}'")
        redriven = None if redrive_filter is None else redrive_filter == "REDRIVEN"
        records = self.store.executions(status=status, machine_arn=machine_arn,
                                        map_run_arn=map_run_arn, redriven=redriven,
                                        top_level=map_run_arn is None, limit=limit,
                                        payloads=False)
        out = []
        for record in records:
            item: dict[str, Any] = {
                "executionArn": record.arn, "stateMachineArn": record.machine_arn,
                "name": record.name, "status": record.status,
                "startDate": _iso(record.start_date), "stopDate": _iso(record.stop_date)}
            if map_run_arn is not None:
                item["mapRunArn"] = record.map_run_arn
                item["itemCount"] = record.item_count if record.item_count is not None else 1
            item["redriveCount"] = record.redrive_count
            item["redriveDate"] = _iso(record.redrive_date)
            out.append({key: value for key, value in item.items() if value is not None})
        return out

    # -- Distributed Map runs ---------------------------------------------------------------
    def list_map_runs(self, execution_arn: str) -> dict[str, Any]:
        """ListMapRuns: ``{"mapRuns": [{executionArn, mapRunArn, stateMachineArn, startDate,
        stopDate}]}``, oldest first. Raises ExecutionDoesNotExist."""
        self._record(execution_arn)
        runs = []
        for run in self.store.map_runs(execution_arn):
            item = {"executionArn": run.execution_arn, "mapRunArn": run.arn,
                    "stateMachineArn": run.machine_arn, "startDate": _iso(run.start_date),
                    "stopDate": _iso(run.stop_date)}
            runs.append({key: value for key, value in item.items() if value is not None})
        return {"mapRuns": runs}

    def describe_map_run(self, map_run_arn: str) -> dict[str, Any]:
        """DescribeMapRun: mapRunArn, executionArn, status (RUNNING, SUCCEEDED, FAILED,
        ABORTED), startDate, stopDate, maxConcurrency, toleratedFailurePercentage,
        toleratedFailureCount, itemCounts and executionCounts (pending, running, succeeded,
        failed, timedOut, aborted, total, resultsWritten, failuresNotRedrivable,
        pendingRedrive: counted from the child executions now), redriveCount, redriveDate.
        Raises ResourceNotFound."""
        check_arn(map_run_arn, "mapRun")
        run = self.store.map_run(map_run_arn)
        if run is None:
            raise ResourceNotFound(f"Map Run Does Not Exist: '{map_run_arn}'")
        by_status = self.store.map_run_counts(map_run_arn)
        out: dict[str, Any] = {
            "mapRunArn": run.arn, "executionArn": run.execution_arn, "status": run.status,
            "startDate": _iso(run.start_date), "stopDate": _iso(run.stop_date),
            "maxConcurrency": run.max_concurrency,
            "toleratedFailurePercentage": run.tolerated_failure_percentage,
            "toleratedFailureCount": run.tolerated_failure_count,
            "itemCounts": _counts(by_status, 1, run.item_total, run.results_written,
                                  run.execution_total),
            "executionCounts": _counts(by_status, 0, run.execution_total, run.results_written,
                                       run.execution_total),
            "redriveCount": run.redrive_count, "redriveDate": _iso(run.redrive_date)}
        return {key: value for key, value in out.items() if value is not None}

    def history(self, arn: str) -> _List[dict[str, Any]]:
        """GetExecutionHistory: every event, oldest first (timestamps as datetimes)."""
        self._record(arn)
        return [aws_event(values) for values in load_history(self.store, arn)]

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
            now = self._now()
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
            cancel_waiting_tokens(self.store, arn, now)
            self._abort_map_runs(arn, now)
            return {"stopDate": _iso(now)}
        raise ServiceError(f"could not stop {arn}: its history keeps changing")

    def _abort_map_runs(self, arn: str, now: datetime) -> None:
        """A stopped execution's running map runs end ABORTED, and so do their running
        child executions (AWS: "stopped ... because the Map Run failed" or was stopped)."""
        from statemachine.durable import MapRunUpdate
        from statemachine.history import Event

        for run in self.store.map_runs(arn):
            if run.status != "RUNNING":
                continue
            for child in self.store.executions(map_run_arn=run.arn, payloads=False):
                if child.status not in ("RUNNING", "PENDING_REDRIVE"):
                    continue
                event = Event(child.last_event_id + 1, 0, now.timestamp(), "ExecutionAborted", None)
                update = ExecutionUpdate(status="ABORTED", stop_date=now,
                                         redrive_status="REDRIVABLE_BY_MAP_RUN")
                with contextlib.suppress(EventConflict):
                    self.store.append(child.arn, [event_record(event)],
                                      after=child.last_event_id, update=update)
                self._abort_map_runs(child.arn, now)
            self.store.update_map_run(run.arn, MapRunUpdate(status="ABORTED", stop_date=now))

    def redrive(self, arn: str) -> dict[str, Any]:
        """RedriveExecution: a FAILED, ABORTED or TIMED_OUT STANDARD execution continues from
        the states that did not succeed (see docs/ARCHITECTURE.md): same ARN and input,
        ``redriveCount`` + 1, an ExecutionRedriven event. Returns ``{"redriveDate"}``."""
        from statemachine.history import Event

        record = self._record(arn)
        status, reason = redrive_status(record, self._now())
        if status != "REDRIVABLE":
            why = reason or "its Map Run redrives it: redrive the parent execution"
            raise ExecutionNotRedrivable(f"{why}: '{arn}'")
        now = self._now()
        self._prepare_map_runs(arn, now)
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

    def _prepare_map_runs(self, arn: str, now: datetime) -> None:
        """Before a redrive: each map run that did not succeed is redriven (redriveCount + 1)
        and its unsuccessful child executions wait to be redriven (PENDING_REDRIVE); the
        replay redrives them (durable/children.py) and keeps the ones that succeeded."""
        from statemachine.durable import MapRunUpdate

        for run in self.store.map_runs(arn):
            if run.status == "SUCCEEDED":
                continue
            for child in self.store.executions(map_run_arn=run.arn, payloads=False):
                if child.status in ("FAILED", "ABORTED", "TIMED_OUT"):
                    self.store.append(child.arn, [], after=child.last_event_id,
                                      update=ExecutionUpdate(status="PENDING_REDRIVE"))
                    self._prepare_map_runs(child.arn, now)
            self.store.update_map_run(run.arn, MapRunUpdate(
                status="RUNNING", stop_date=None, redrive_count=run.redrive_count + 1,
                redrive_date=now))

    # -- callbacks --------------------------------------------------------------------------
    def _check_token(self, token: str) -> None:
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise InvalidToken(f"Invalid Token: '{token}'" if isinstance(token, str) and len(token) < 200
                               else "Invalid Token")

    def _close(self, token: str, status: str, **answer: Any) -> str:
        self._check_token(token)
        try:
            return self.store.close_task_token(token, status, now=self._now(),
                                               **answer).execution_arn
        except TaskTokenNotFound:
            raise TaskDoesNotExist("Task does not exist anymore") from None
        except TaskTokenClosed as error:
            if error.status == "TIMED_OUT":
                raise TaskTimedOut("Task Timed Out") from None
            raise TaskDoesNotExist("Task does not exist anymore") from None

    def send_task_success(self, token: str, output: JSON) -> str:
        """SendTaskSuccess: the waiting task succeeds with ``output`` (JSON; a str is JSON
        text). Returns the ARN of the execution that waited on it (now due to resume).
        Raises InvalidToken, TaskDoesNotExist, TaskTimedOut, InvalidOutput."""
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
        return self._close(token, "SUCCEEDED", output=text)

    def send_task_failure(self, token: str, error: str | None = None,
                          cause: str | None = None) -> str:
        """SendTaskFailure: the waiting task fails with ``error``/``cause`` (Retry/Catch
        see them). Returns the ARN of the execution that waited on it. Raises InvalidToken,
        TaskDoesNotExist, TaskTimedOut."""
        return self._close(token, "FAILED", error=error, cause=cause)

    def send_task_heartbeat(self, token: str) -> None:
        """SendTaskHeartbeat: the task's HeartbeatSeconds start again. Raises InvalidToken,
        TaskDoesNotExist, TaskTimedOut."""
        self._check_token(token)
        try:
            self.store.heartbeat_task_token(token, now=self._now())
        except TaskTokenNotFound:
            raise TaskDoesNotExist("Task does not exist anymore") from None
        except TaskTokenClosed as error:
            if error.status == "TIMED_OUT":
                raise TaskTimedOut("Task Timed Out") from None
            raise TaskDoesNotExist("Task does not exist anymore") from None

    def task_tokens(self, arn: str) -> _List[str]:
        """The task tokens an execution waits on now."""
        return [t.token for t in self.store.task_tokens(arn, status="WAITING")]

"""Schedules, service verbs: EventBridge Scheduler's CreateSchedule, GetSchedule,
ListSchedules, UpdateSchedule and DeleteSchedule over the durable store.

In: AWS's request fields as keyword arguments (``Name``, ``GroupName``, ``ScheduleExpression``,
``ScheduleExpressionTimezone``, ``FlexibleTimeWindow``, ``Target`` {``Arn``, ``Input``},
``State``, ``StartDate``, ``EndDate``, ``Description``), so a server passes a request body
through unchanged. Out: AWS's response shapes (dates as ISO 8601 text), plus two fields of
ours in GetSchedule and ListSchedules items: ``NextFireTime`` and ``LastFireTime``.
Errors (``statemachine.service.ServiceError`` subclasses): ValidationException (bad
expression, zone, window, dates, input, name), ConflictException (the name is taken),
ResourceNotFoundException (no such schedule, or no such state machine as target).

``ScheduleMethods`` is mixed into ``statemachine.service.Service``; its ``store`` is the
Service's. ``schedule_clock`` (default None: real time) is the clock the verbs read "now"
from (creation dates, a rate's first fire, StartDate checks): tests set a ``VirtualClock``.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from statemachine.clock import Clock
from statemachine.durable.contract import DurableStore, ScheduleRecord
from statemachine.durable.errors import ScheduleExists
from statemachine.schedules.expressions import (
    At,
    InvalidScheduleExpression,
    InvalidTimezone,
    parse,
    zone,
)
from statemachine.schedules.scheduler import fire_offset, next_fire, target_machine

__all__ = ["ScheduleMethods"]

_NAME: Final = re.compile(r"[0-9a-zA-Z_.-]{1,64}")
_PAYLOAD_LIMIT: Final = 256 * 1024


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _now() -> datetime:
    return datetime.now(UTC)


def _date(value: object, field: str) -> datetime | None:
    """A StartDate/EndDate: an aware datetime, a number of epoch seconds or ISO 8601 text."""
    from statemachine.service import ValidationException

    if value is None:
        return None
    if isinstance(value, bool):
        raise ValidationException(f"{field} must be a date, not {value!r}")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationException(f"{field} is not an ISO 8601 date: {value!r}") from None
    if not isinstance(value, datetime):
        raise ValidationException(f"{field} must be a date, not {type(value).__name__}")
    if value.tzinfo is None:  # AWS: dates are UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class ScheduleMethods:
    """The schedule verbs of ``Service`` (see the module docstring)."""

    store: DurableStore
    schedule_clock: Clock | None = None

    def _schedule_now(self) -> datetime:
        if self.schedule_clock is None:
            return _now().replace(microsecond=0)  # EventBridge: 60-second precision anyway
        return datetime.fromtimestamp(round(self.schedule_clock.now(), 3), UTC)

    def store_machine(self, definition: str | os.PathLike[str]) -> str:
        """Validate and store the state machine of a definition file (as ``start`` does)
        and return its ARN, for a schedule's ``Target.Arn``. A machine's name is its file's
        name, so another file of that name with another definition would change what the
        schedules of the stored one run: that is a ConflictException naming them (a new
        definition in the same file is a new version, as UpdateStateMachine). Raises
        DefinitionError, ResourceNotFoundError, OSError, ConflictException."""
        from statemachine.api import load
        from statemachine.durable.contract import version_hash
        from statemachine.service import ConflictException

        path = Path(definition)
        text = path.read_text(encoding="utf-8")
        machine = load(path)
        source = str(path.resolve())
        stored = self.store.machine(machine.arn)
        if stored is not None and stored.source not in (None, source) \
                and stored.version != version_hash(text):
            targeting = sorted(f"{r.name}" if r.group_name == "default" else
                               f"{r.group_name}/{r.name}" for r in self.store.schedules()
                               if r.target_arn == machine.arn)
            if targeting:
                raise ConflictException(
                    f"State machine {machine.name} is stored from {stored.source}, the target "
                    f"of schedule(s) {', '.join(targeting)}; {source} has the same name and "
                    "another definition: rename one of the files, or target the stored "
                    f"machine by its ARN ({machine.arn})")
        self.store.put_machine(machine.arn, machine.name, text, type=machine.type,
                               now=self._schedule_now(), source=source)
        meta = getattr(self.store, "api_machine", lambda arn: None)(machine.arn)
        if meta is not None and meta.deleted is not None:  # deleted through sm serve: back
            import dataclasses

            self.store.put_api_machine(  # type: ignore[attr-defined]  # a catalog store (api_machine found above)
                dataclasses.replace(meta, deleted=None, current=version_hash(text)))
        return str(machine.arn)

    # -- verbs ------------------------------------------------------------------------------
    def create_schedule(self, *, Name: str, ScheduleExpression: str, Target: dict[str, Any],
                        FlexibleTimeWindow: dict[str, Any] | None = None,
                        ScheduleExpressionTimezone: str = "UTC", GroupName: str = "default",
                        State: str = "ENABLED", StartDate: object = None,
                        EndDate: object = None, Description: str | None = None,
                        ActionAfterCompletion: str = "NONE", **ignored: Any) -> dict[str, Any]:
        """CreateSchedule: returns ``{"ScheduleArn"}``. ``Target.Input`` is the execution's
        input as JSON text (default ``{}``); ``FlexibleTimeWindow`` defaults to Mode OFF.
        ``ActionAfterCompletion`` DELETE removes the schedule once it will fire no more (after
        an ``at`` fires, or past its EndDate). Other AWS fields (RoleArn, ClientToken,
        KmsKeyArn, ...) are accepted and ignored."""
        from statemachine.service import ConflictException

        now = self._schedule_now()
        record = self._new_record(Name, GroupName, ScheduleExpression, ScheduleExpressionTimezone,
                              FlexibleTimeWindow, Target, State, StartDate, EndDate,
                              Description, ActionAfterCompletion, created=now, now=now)
        try:
            self.store.create_schedule(record)
        except ScheduleExists:
            raise ConflictException(f"Schedule {Name} already exists.") from None
        return {"ScheduleArn": _arn(GroupName, Name)}

    def update_schedule(self, *, Name: str, ScheduleExpression: str, Target: dict[str, Any],
                        FlexibleTimeWindow: dict[str, Any] | None = None,
                        ScheduleExpressionTimezone: str = "UTC", GroupName: str = "default",
                        State: str = "ENABLED", StartDate: object = None,
                        EndDate: object = None, Description: str | None = None,
                        ActionAfterCompletion: str = "NONE", **ignored: Any) -> dict[str, Any]:
        """UpdateSchedule: replaces every field, as AWS does (fields left out take their
        defaults). The next fire is computed afresh from now: instants passed while a
        schedule was DISABLED do not fire, and a rate without StartDate starts again now.
        Returns ``{"ScheduleArn"}``."""
        old = self._existing(GroupName, Name)
        now = self._schedule_now()
        record = self._new_record(Name, GroupName, ScheduleExpression, ScheduleExpressionTimezone,
                              FlexibleTimeWindow, Target, State, StartDate, EndDate,
                              Description, ActionAfterCompletion, created=old.created, now=now)
        record = _replace(record, last_fire=old.last_fire)
        self.store.put_schedule(record)
        return {"ScheduleArn": _arn(GroupName, Name)}

    def get_schedule(self, *, Name: str, GroupName: str = "default") -> dict[str, Any]:
        """GetSchedule, plus ``NextFireTime``/``LastFireTime`` (ours)."""
        return _describe(self._existing(GroupName, Name))

    def list_schedules(self, *, GroupName: str | None = None, State: str | None = None,
                       NamePrefix: str | None = None, **ignored: Any) -> dict[str, Any]:
        """ListSchedules: ``{"Schedules": [summary, ...]}`` by group and name; each summary
        has AWS's fields and ``NextFireTime``/``LastFireTime``."""
        out = []
        for record in self.store.schedules(group_name=GroupName):
            if State is not None and record.state != State:
                continue
            if NamePrefix is not None and not record.name.startswith(NamePrefix):
                continue
            summary = {key: value for key, value in _describe(record).items() if key in (
                "Arn", "Name", "GroupName", "State", "CreationDate", "LastModificationDate",
                "NextFireTime", "LastFireTime")}
            summary["Target"] = {"Arn": record.target_arn}
            out.append(summary)
        return {"Schedules": out}

    def delete_schedule(self, *, Name: str, GroupName: str = "default",
                        **ignored: Any) -> dict[str, Any]:
        """DeleteSchedule. Raises ResourceNotFoundException."""
        from statemachine.service import ResourceNotFoundException

        if not self.store.delete_schedule(GroupName, Name):
            raise ResourceNotFoundException(f"Schedule {Name} does not exist.")
        return {}

    def schedule_fire_times(self, *, Name: str, GroupName: str = "default", count: int = 5,
                            after: datetime | None = None) -> list[datetime]:
        """The next ``count`` times the schedule will fire (UTC; flexible-window offsets
        included), from its stored next fire on, or from ``after`` when given. Empty for a
        DISABLED schedule or one that will not fire again. For consoles and ``sm schedules``."""
        record = self._existing(GroupName, Name)
        if record.state != "ENABLED":
            return []
        instant = record.next_fire if after is None else next_fire(record, after)
        out: list[datetime] = []
        while instant is not None and len(out) < count:
            out.append(instant + fire_offset(record, instant))
            instant = next_fire(record, instant)
        return out

    # -- helpers ----------------------------------------------------------------------------
    def _existing(self, group: str, name: str) -> ScheduleRecord:
        from statemachine.service import ResourceNotFoundException

        found = self.store.schedule(group, name)
        if found is None:
            raise ResourceNotFoundException(f"Schedule {name} does not exist.")
        return found

    def _new_record(self, name: str, group: str, expression: str, timezone: str,
                window: dict[str, Any] | None, target: dict[str, Any], state: str,
                start: object, end: object, description: str | None, after: str, *,
                created: datetime, now: datetime) -> ScheduleRecord:
        """A validated record with its first next fire. Raises ValidationException,
        ResourceNotFoundException (no such state machine)."""
        from statemachine.service import ResourceNotFoundException, ValidationException

        for value, field in ((name, "Name"), (group, "GroupName")):
            if not isinstance(value, str) or not _NAME.fullmatch(value):
                raise ValidationException(f"{field} must be 1-64 letters, digits, '.', '-' "
                                          f"or '_', not {value!r}")
        try:
            parsed = parse(expression)
            zone(timezone)
        except (InvalidScheduleExpression, InvalidTimezone) as error:
            raise ValidationException(str(error)) from error  # .reason on the cause
        if state not in ("ENABLED", "DISABLED"):
            raise ValidationException(f"State must be ENABLED or DISABLED, not {state!r}")
        if after not in ("NONE", "DELETE"):
            raise ValidationException(f"ActionAfterCompletion must be NONE or DELETE, not {after!r}")
        start_date, end_date = _date(start, "StartDate"), _date(end, "EndDate")
        if not isinstance(parsed, At):
            if start_date is not None and start_date < now - timedelta(minutes=5):
                raise ValidationException(
                    "The StartDate you specify cannot be earlier than 5 minutes ago.")
            if start_date is not None and end_date is not None and end_date <= start_date:
                raise ValidationException("The EndDate you specify must be after the StartDate.")
        arn, input_text = _target(target)
        if target_machine(self.store, arn) is None:
            raise ResourceNotFoundException(f"State Machine Does Not Exist: '{arn}'")
        record = ScheduleRecord(
            name=name, group_name=group, expression=expression, timezone=timezone,
            target_arn=arn, input=input_text, created=created, modified=now, state=state,
            window_minutes=_window(window), start_date=start_date, end_date=end_date,
            description=description, action_after_completion=after)
        # a rate with no StartDate starts at once (AWS): its first fire is now
        return _replace(record, next_fire=next_fire(record, now - timedelta(microseconds=1)))


def _target(target: dict[str, Any]) -> tuple[str, str]:
    """(state machine ARN, input JSON text) of a Target. Raises ValidationException."""
    from statemachine.service import ValidationException

    if not isinstance(target, dict) or not isinstance(target.get("Arn"), str):
        raise ValidationException("Target must be an object with Arn (a state machine ARN)")
    text = target.get("Input", "{}")
    if not isinstance(text, str):  # a JSON value given directly (Python callers)
        text = json.dumps(text, separators=(",", ":"), ensure_ascii=False)
    try:
        from statemachine.values import check_json

        check_json(json.loads(text), "Target.Input")
    except ValueError as error:
        raise ValidationException(f"Target.Input is not JSON text: {error}") from None
    if len(text.encode()) > _PAYLOAD_LIMIT:
        raise ValidationException("Target.Input is larger than 262144 bytes")
    return target["Arn"], text


def _window(window: dict[str, Any] | None) -> int | None:
    """MaximumWindowInMinutes of a FlexibleTimeWindow (None: Mode OFF)."""
    from statemachine.service import ValidationException

    if window is None:
        return None
    mode = window.get("Mode") if isinstance(window, dict) else None
    if mode == "OFF":
        return None
    minutes = window.get("MaximumWindowInMinutes") if isinstance(window, dict) else None
    if mode != "FLEXIBLE":
        raise ValidationException("FlexibleTimeWindow.Mode must be OFF or FLEXIBLE")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 1440:
        raise ValidationException("FlexibleTimeWindow Mode FLEXIBLE needs "
                                  "MaximumWindowInMinutes, a whole number from 1 to 1440")
    return minutes


def _arn(group: str, name: str) -> str:
    from statemachine.api import ACCOUNT, REGION

    return f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{group}/{name}"


def _replace(record: ScheduleRecord, **changes: Any) -> ScheduleRecord:
    import dataclasses

    return dataclasses.replace(record, **changes)


def _describe(record: ScheduleRecord) -> dict[str, Any]:
    window: dict[str, Any] = {"Mode": "OFF"}
    if record.window_minutes is not None:
        window = {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": record.window_minutes}
    out: dict[str, Any] = {
        "Arn": _arn(record.group_name, record.name), "Name": record.name,
        "GroupName": record.group_name, "ScheduleExpression": record.expression,
        "ScheduleExpressionTimezone": record.timezone, "FlexibleTimeWindow": window,
        "Target": {"Arn": record.target_arn, "Input": record.input}, "State": record.state,
        "StartDate": _iso(record.start_date), "EndDate": _iso(record.end_date),
        "Description": record.description, "ActionAfterCompletion": record.action_after_completion,
        "CreationDate": _iso(record.created), "LastModificationDate": _iso(record.modified),
        "NextFireTime": _iso(record.next_fire + fire_offset(record, record.next_fire)
                             if record.next_fire is not None and record.state == "ENABLED"
                             else None),
        "LastFireTime": _iso(record.last_fire),
    }
    return {key: value for key, value in out.items() if value is not None}

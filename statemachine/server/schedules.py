"""Server stage, schedules: the scheduler loop ``sm serve`` runs, and the schedules section of
its configuration (``sm serve --schedules schedules.yaml``).

In: ``ServerConfig.schedules`` (a YAML or JSON file), ``fire_schedules`` and ``catchup``.
Out: the file's schedules created (or updated when they changed) in the store at start-up,
and a ``Scheduler`` (statemachine.schedules.scheduler) firing every stored schedule on the
server's event loop until shutdown. Schedules created with ``sm schedules`` fire too; the
file never deletes any. Several servers or ``sm worker`` processes may fire the same store:
each instant starts one execution (its name is the schedule's and the instant's).

The file::

    schedules:
      - Name: nightly-report
        ScheduleExpression: cron(30 2 * * ? *)
        ScheduleExpressionTimezone: Europe/Berlin
        FlexibleTimeWindow: {Mode: FLEXIBLE, MaximumWindowInMinutes: 10}
        Target:
          Definition: flows/report.yaml     # stored at start-up; or Arn: <a stored machine>
          Input: {day: yesterday}           # a JSON value, or JSON text

Every field is EventBridge Scheduler's (CreateSchedule), with ``Target.Definition`` (a path,
relative to the file) as the local way to name the state machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from statemachine.service import Service

__all__ = ["apply_schedules", "read_schedules", "run_schedules"]

_FIELDS = ("Name", "GroupName", "ScheduleExpression", "ScheduleExpressionTimezone",
           "FlexibleTimeWindow", "Target", "State", "StartDate", "EndDate", "Description",
           "ActionAfterCompletion")


def read_schedules(path: Path) -> list[dict[str, Any]]:
    """The schedules of a schedules file, checked (expression, time zone, fields,
    definition files). The file is read as definitions are (YAML 1.2 scalars: ``Mode: OFF``
    is the word OFF, a date is text). Raises ValueError naming the file and the schedule."""
    from statemachine.errors import DefinitionError
    from statemachine.loader import yaml_value
    from statemachine.schedules.expressions import (
        InvalidScheduleExpression,
        InvalidTimezone,
        parse,
        zone,
    )

    try:
        document = yaml_value(path.read_text(encoding="utf-8"), str(path))
    except OSError as error:
        raise ValueError(f"schedules file {path}: {' '.join(str(error).split())}") from None
    except DefinitionError as error:
        first = error.diagnostics[0] if error.diagnostics else None
        detail = f"line {first.line}: {first.message}" if first is not None else str(error)
        raise ValueError(f"schedules file {path}: {detail}") from None
    items = document.get("schedules") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"schedules file {path}: expected 'schedules:' with a list of schedules")
    out = []
    for index, item in enumerate(items):
        where = f"schedules file {path}: schedule {index + 1}"
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise ValueError(f"{where}: each schedule is a mapping with a Name")
        where = f"schedules file {path}: schedule '{item['Name']}'"
        unknown = sorted(set(item) - set(_FIELDS))
        if unknown:
            raise ValueError(f"{where}: unknown field {unknown[0]} (fields: {', '.join(_FIELDS)})")
        try:
            parse(item.get("ScheduleExpression", ""))
            zone(item.get("ScheduleExpressionTimezone", "UTC"))
        except (InvalidScheduleExpression, InvalidTimezone) as error:
            reason = getattr(error, "reason", None)
            raise ValueError(f"{where}: {error}" + (f" ({reason})" if reason else "")) from None
        target = item.get("Target")
        if not isinstance(target, dict) or ("Arn" in target) == ("Definition" in target):
            raise ValueError(f"{where}: Target needs Arn (a stored state machine) or "
                             "Definition (a definition file), not both")
        target = dict(target)
        if "Definition" in target:
            definition = path.parent / str(target["Definition"])
            if not definition.is_file():
                raise ValueError(f"{where}: definition file not found: {definition}")
            target["Definition"] = str(definition)
        if "Input" in target and not isinstance(target["Input"], str):
            target["Input"] = json.dumps(target["Input"], ensure_ascii=False)
        out.append({**item, "Target": target})
    return out


def apply_schedules(service: Service, schedules: list[dict[str, Any]],
                    log: Callable[[str], None] | None = None) -> int:
    """Create each schedule, or update it when a field changed (an unchanged schedule keeps
    its next fire, so a fire missed while the server was down still runs once). A schedule
    refused (ServiceError, a definition that does not load) is one ``log`` line and the
    others still apply. Returns how many were refused."""
    from statemachine.errors import DefinitionError, ResourceNotFoundError
    from statemachine.service import ServiceError

    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    refused = 0
    for item in schedules:
        try:
            _apply(service, item)
        except DefinitionError as error:
            refused += 1
            first = error.diagnostics[0].message if error.diagnostics else str(error)
            say(f"sm serve: schedule '{item['Name']}' not applied: its definition is "
                f"invalid: {first}")
        except (ServiceError, ResourceNotFoundError, OSError) as error:
            refused += 1
            code = getattr(error, "code", type(error).__name__)
            say(f"sm serve: schedule '{item['Name']}' not applied: {code}: {error}")
    return refused


def _apply(service: Service, item: dict[str, Any]) -> None:
    """Create or update one schedule of the file."""
    request = dict(item)
    target = dict(request["Target"])
    if "Definition" in target:
        target["Arn"] = service.store_machine(target.pop("Definition"))
    request["Target"] = target
    group = request.get("GroupName", "default")
    found = service.store.schedule(group, request["Name"])
    if found is None:
        service.create_schedule(**request)
        return
    current = service.get_schedule(Name=request["Name"], GroupName=group)
    wanted = {**current, **{k: v for k, v in request.items() if k != "Target"},
              "Target": {"Arn": target["Arn"], "Input": target.get("Input", "{}")}}
    if any(wanted.get(key) != current.get(key) for key in _FIELDS):
        service.update_schedule(**request)


@contextlib.asynccontextmanager
async def run_schedules(app: Starlette) -> AsyncIterator[None]:
    """HOOKS entry: apply the schedules file, then fire schedules until shutdown."""
    from statemachine.schedules.scheduler import Scheduler

    config = app.state.config
    if config.schedules is not None:
        apply_schedules(app.state.service, read_schedules(config.schedules))
    app.state.scheduler = None
    if not config.fire_schedules:
        yield
        return
    worker = getattr(app.state, "worker", None)
    scheduler = Scheduler(app.state.store, catchup=config.catchup,
                          log=lambda line: print(line, file=sys.stderr, flush=True),
                          on_fire=None if worker is None else worker.wake)
    scheduler.fire_due()  # due and missed fires start before the server answers
    app.state.scheduler = scheduler  # the scheduler API wakes it when a schedule changes
    task = asyncio.ensure_future(scheduler.run())
    try:
        yield
    finally:
        scheduler.stop()
        await task

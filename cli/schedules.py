"""CLI stage, schedules: ``sm schedules create|update|list|get|delete``.

EventBridge Scheduler-style schedules stored with the durable executions (``--db``, else
``$SM_DB``, else the default SQLite file); ``sm worker`` fires them. Output: AWS field names
with ``--json``; a rich table on a terminal; tab-separated lines in pipes. Errors: one line
``sm: error: ...`` on stderr, exit 1 (AWS errors: a bad expression, a taken name, ...) or 2
(usage, unreadable database, a definition that does not load).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, Final

from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error, is_terminal

SCHEDULES_HELP: Final = """\
examples:
  sm schedules create nightly --expression 'cron(30 2 * * ? *)' --timezone Europe/Berlin \\
      --machine definitions/hello.yaml --input '{"name": "night"}'
  sm schedules create every-5 --expression 'rate(5 minutes)' --machine ARN --flexible-window 3
  sm schedules create once --expression 'at(2026-12-24T18:00:00)' --timezone America/New_York \\
      --machine flow.yaml
  sm schedules list                           next fire times (--json: ListSchedules' shape)
  sm schedules get nightly --json
  sm schedules delete nightly

Expressions are EventBridge Scheduler's: cron(minutes hours day-of-month month day-of-week
year) with ? in one of the day fields, rate(N minutes|hours|days), at(yyyy-mm-ddThh:mm:ss).
`sm worker` fires them (a fire missed while no worker ran runs once when one starts;
`sm worker --catchup skip` drops such fires).

exit codes:
  0  done
  1  refused (ValidationException, ConflictException, ResourceNotFoundException)
  2  bad arguments, unreadable database, a definition that does not validate
"""


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                 make: Callable[..., argparse.ArgumentParser]) -> None:
    """Register ``sm schedules`` on the ``sm`` parser (argparse only)."""
    schedules = make(commands, "schedules", "Create, list and delete schedules that start "
                     "state machines (EventBridge Scheduler expressions).", SCHEDULES_HELP)
    actions = schedules.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, summary in (("create", "create a schedule"),
                            ("update", "replace a schedule's settings (as UpdateSchedule)")):
        one = actions.add_parser(action, help=summary, epilog=SCHEDULES_HELP,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        one.add_argument("name", metavar="NAME", help="schedule name (1-64 letters, digits, "
                                                      "'.', '-', '_'), unique in its group")
        one.add_argument("--expression", required=True, metavar="EXPR",
                         help="cron(...), rate(...) or at(...)")
        one.add_argument("--machine", required=True, metavar="FILE|ARN",
                         help="a definition file (stored now) or a stored state machine's ARN")
        one.add_argument("--input", default="{}", metavar="JSON|@FILE",
                         help="the executions' input (default {})")
        one.add_argument("--timezone", default="UTC", metavar="ZONE",
                         help="IANA time zone of the expression (default UTC)")
        one.add_argument("--flexible-window", type=int, metavar="MIN",
                         help="fire within MIN minutes after each time (1-1440)")
        one.add_argument("--start-date", metavar="ISO", help="no fire before (UTC unless given)")
        one.add_argument("--end-date", metavar="ISO", help="no fire from this date on")
        one.add_argument("--disabled", action="store_true", help="State DISABLED")
        one.add_argument("--delete-after-completion", action="store_true",
                         help="ActionAfterCompletion DELETE: remove it once it will fire no "
                              "more (an at(...) after its fire)")
        one.add_argument("--description")
        _common(one)
    listing = actions.add_parser("list", help="schedules and their next fire times")
    listing.add_argument("--state", choices=("ENABLED", "DISABLED"))
    listing.add_argument("--prefix", metavar="TEXT", help="names starting with TEXT")
    _common(listing, group_default=None)
    for action, summary in (("get", "one schedule, with its next fire times"),
                            ("delete", "delete a schedule")):
        one = actions.add_parser(action, help=summary)
        one.add_argument("name", metavar="NAME", help="schedule name")
        _common(one)


def _common(parser: argparse.ArgumentParser, group_default: str | None = "default") -> None:
    from .durable import DB_HELP

    parser.add_argument("--group", default=group_default, metavar="GROUP",
                        help="schedule group (default: " + (group_default or "all") + ")")
    parser.add_argument("--db", metavar="PATH|URL", help=DB_HELP)
    parser.add_argument("--json", action="store_true", help="print AWS-shaped JSON")


def command(args: argparse.Namespace) -> int:
    """Run ``sm schedules ACTION``; returns the exit code."""
    from statemachine.durable import SchemaTooNew, StoreError, StoreUnavailable, StoreUnreadable
    from statemachine.errors import DefinitionError, ResourceNotFoundError
    from statemachine.service import Service, ServiceError

    try:
        with Service(args.db) as service:
            return _run(service, args)
    except ServiceError as failure:
        reason = getattr(failure.__cause__, "reason", None)
        return error(f"{failure.code}: {failure}" + (f" ({reason})" if reason else ""),
                     code=EXIT_FAILED)
    except (StoreUnreadable, SchemaTooNew, StoreUnavailable) as failure:
        return error(f"database: {failure}", code=EXIT_USAGE)
    except StoreError as failure:
        return error(str(failure), code=EXIT_FAILED)
    except DefinitionError as failure:
        from .common import print_diagnostics

        print_diagnostics(failure.diagnostics, sys.stderr)
        return EXIT_USAGE
    except (ResourceNotFoundError, OSError, ValueError, ImportError) as failure:
        return error(str(failure), code=EXIT_USAGE)


def _run(service: Any, args: argparse.Namespace) -> int:
    if args.action in ("create", "update"):
        from .run import read_input

        machine = args.machine if args.machine.startswith("arn:") else service.store_machine(
            args.machine)
        window: dict[str, Any] = {"Mode": "OFF"}
        if args.flexible_window is not None:
            window = {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": args.flexible_window}
        request = {
            "Name": args.name, "GroupName": args.group, "ScheduleExpression": args.expression,
            "ScheduleExpressionTimezone": args.timezone, "FlexibleTimeWindow": window,
            "Target": {"Arn": machine, "Input": json.dumps(read_input(args.input))},
            "State": "DISABLED" if args.disabled else "ENABLED",
            "StartDate": args.start_date, "EndDate": args.end_date,
            "Description": args.description,
            "ActionAfterCompletion": "DELETE" if args.delete_after_completion else "NONE",
        }
        verb = service.create_schedule if args.action == "create" else service.update_schedule
        result = verb(**request)
        found = service.get_schedule(Name=args.name, GroupName=args.group)
        return _print(args, result, lambda: print(
            f"{args.action}d {result['ScheduleArn']}; next fire: "
            f"{found.get('NextFireTime', 'none')}"))
    if args.action == "list":
        listed = service.list_schedules(GroupName=args.group, State=args.state,
                                        NamePrefix=args.prefix)
        rows = [{**item, **_details(service, item)} for item in listed["Schedules"]]
        return _print(args, listed, lambda: _table(rows))
    if args.action == "get":
        found = service.get_schedule(Name=args.name, GroupName=args.group)
        found["NextFireTimes"] = [t.isoformat() for t in service.schedule_fire_times(
            Name=args.name, GroupName=args.group, count=5)]
        return _print(args, found, lambda: _fields(found))
    service.delete_schedule(Name=args.name, GroupName=args.group)
    return _print(args, {}, lambda: print(f"deleted {args.group}/{args.name}"))


def _details(service: Any, item: dict[str, Any]) -> dict[str, Any]:
    """Expression and zone of a ListSchedules item (the table shows them)."""
    found = service.get_schedule(Name=item["Name"], GroupName=item["GroupName"])
    return {"ScheduleExpression": found["ScheduleExpression"],
            "ScheduleExpressionTimezone": found["ScheduleExpressionTimezone"]}


def _print(args: argparse.Namespace, value: Any, human: Callable[[], None]) -> int:
    if args.json:
        print(json.dumps(value, ensure_ascii=False))
    else:
        human()
    return EXIT_OK


_COLUMNS: Final = ("Name", "GroupName", "State", "ScheduleExpression",
                   "ScheduleExpressionTimezone", "NextFireTime", "LastFireTime")


def _table(rows: list[dict[str, Any]]) -> None:
    if is_terminal(sys.stdout):
        from rich.table import Table

        from .common import make_console

        groups = any(row["GroupName"] != "default" for row in rows)
        table = Table(*(["Group"] if groups else []), "Name", "State", "Expression",
                      "Next fire", "Last fire", "State machine")
        for column in table.columns[-4:-2]:  # expression and next fire on one line each
            column.no_wrap = True
        for row in rows:
            zone = row["ScheduleExpressionTimezone"]
            table.add_row(*([row["GroupName"]] if groups else []), row["Name"], row["State"],
                          row["ScheduleExpression"], _local(row.get("NextFireTime"), zone),
                          _local(row.get("LastFireTime"), zone),
                          row["Target"]["Arn"].rsplit(":", 1)[-1])
        make_console(sys.stdout).print(table)
        return
    for row in rows:
        print("\t".join([*(str(row.get(c, "-")) for c in _COLUMNS), row["Target"]["Arn"]]))


def _local(moment: str | None, zone: str) -> str:
    """An ISO instant as wall-clock time in the schedule's zone: ``2026-12-02 02:30 CET``."""
    if moment is None:
        return "-"
    from datetime import datetime

    from statemachine.schedules.expressions import zone as tz

    local = datetime.fromisoformat(moment).astimezone(tz(zone))
    return local.strftime("%Y-%m-%d %H:%M %Z")


def _fields(found: dict[str, Any]) -> None:
    for key, value in found.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        print(f"{key}: {shown}")

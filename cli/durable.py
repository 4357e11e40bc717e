"""CLI stage, durable executions: ``sm start``, ``sm worker``, ``sm executions list|describe|
history``, ``sm stop``, ``sm redrive``, ``sm task success|failure|heartbeat`` and
``sm run --db``.

Every command opens the store named by ``--db`` (else ``$SM_DB``, else the default SQLite
file, see statemachine.durable.default_target) through ``statemachine.service.Service``.
Output: AWS field names with ``--json``; a rich table/panel on a terminal; plain
``key: value`` lines in pipes. Errors: one line ``sm: error: ...`` on stderr, exit 1 (AWS
errors: unknown ARN or token, ...) or 2 (usage, unreadable/locked database, schema too new).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error, is_terminal

COMMANDS: Final = ("start", "worker", "executions", "stop", "redrive", "task")

DB_HELP: Final = "database: a SQLite file or a postgresql:// URL (default: $SM_DB, else the " \
                 "user data folder's statemachine-asl/executions.db)"

WORKER_HELP: Final = """\
examples:
  sm worker                                  run, resume and wake executions until Ctrl-C
  sm worker --db postgresql://sm@db/sm --concurrency 200
  sm worker --virtual-time --until-idle      tests: finish everything, skipping the waits
  sm worker --db executions.db --resources resources.yaml --allow-python handlers
                                             help sm serve: machines created through its API
                                             run under these policy flags (give sm serve's)
  sm worker --catchup skip                   fire schedules, dropping fires missed while down
  sm worker --executor dask://10.0.0.5:8786     Map iterations and Parallel branches on Dask

Several workers may share one database (SQLite: one host; PostgreSQL: many). SIGTERM or
Ctrl-C stops claiming work, lets running tasks finish (up to --grace seconds) and leaves
every execution resumable by the next worker.
"""


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                 make: Callable[..., argparse.ArgumentParser]) -> None:
    """Register the durable subcommands on the ``sm`` parser."""
    start = make(commands, "start", "Store a new execution for a worker to run; print its ARN.",
                 "example:\n  sm start flow.yaml --input '{\"x\": 1}' --name order-17\n")
    start.add_argument("file", metavar="FILE", help="definition file (YAML or JSON)")
    start.add_argument("--input", default="{}", metavar="JSON|@FILE|-")
    start.add_argument("--name", help="execution name (idempotent while it runs with the same input)")
    start.add_argument("--seed", type=int, metavar="N", help="seed of the run's random values")
    _common(start)

    worker = make(commands, "worker", "Run, resume and wake durable executions.", WORKER_HELP)
    worker.add_argument("--concurrency", type=int, default=64, metavar="N",
                        help="executions advanced at once (default 64)")
    worker.add_argument("--lease", type=float, default=30.0, metavar="S",
                        help="seconds a claim lasts without renewal (default 30)")
    worker.add_argument("--poll", type=float, default=0.5, metavar="S",
                        help="longest pause between looks for due work (default 0.5)")
    worker.add_argument("--park-after", type=float, default=2.0, metavar="S",
                        help="waits longer than S seconds park the execution (default 2)")
    worker.add_argument("--grace", type=float, default=30.0, metavar="S",
                        help="on stop, how long running tasks may finish (default 30)")
    from .observability import add_arguments as add_log_arguments  # argparse only at import
    from .observability import add_telemetry_argument

    add_log_arguments(worker)
    add_telemetry_argument(worker)
    worker.add_argument("--catchup", choices=("once", "skip"), default="once",
                        help="schedules: a fire missed while no worker ran runs once on start "
                             "(once, the default) or not at all (skip)")
    worker.add_argument("--no-schedules", action="store_true",
                        help="do not fire schedules (sm schedules) in this worker")
    worker.add_argument("--executor", metavar="WHERE",
                        help="where Map iterations and Parallel branches run: local (default), "
                             "dask (a local Dask cluster) or dask://HOST:PORT (a running scheduler)")
    worker.add_argument("--until-idle", action="store_true",
                        help="exit once nothing runs and nothing falls due within --park-after "
                             "seconds (parked executions stay parked); with --virtual-time, "
                             "once nothing will ever fall due (all ended or wait for callbacks)")
    worker.add_argument("--virtual-time", action="store_true",
                        help="tests: time jumps over waits instead of passing (a Wait of days "
                             "ends at once; its history says days passed); one such worker "
                             "per database")
    from .serve import add_policy_arguments  # machines created through sm serve's API

    add_policy_arguments(worker)
    _common(worker)

    executions = make(commands, "executions", "List and inspect durable executions.",
                      "examples:\n  sm executions list --status FAILED\n"
                      "  sm executions describe ARN --json\n  sm executions history ARN\n"
                      "  sm executions map-runs ARN            Distributed Map runs of ARN\n"
                      "  sm executions map-run MAP_RUN_ARN     one map run, with its counts\n"
                      "  sm executions list --map-run MAP_RUN_ARN --status FAILED\n"
                      "  sm executions history CHILD_ARN       a child execution's events\n")
    sub = executions.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="executions, newest first")
    listing.add_argument("--status", choices=("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT",
                                              "ABORTED", "PENDING_REDRIVE"))
    listing.add_argument("--machine", metavar="NAME|ARN")
    listing.add_argument("--map-run", metavar="MAP_RUN_ARN",
                         help="the child executions of a Distributed Map run")
    listing.add_argument("--redrive-filter", choices=("REDRIVEN", "NOT_REDRIVEN"))
    listing.add_argument("--limit", type=int, metavar="N")
    _common(listing)
    for action in ("describe", "history"):
        one = sub.add_parser(action, help=f"{action} one execution (a map run's child too)")
        one.add_argument("arn", metavar="ARN")
        _common(one)
    runs = sub.add_parser("map-runs", help="the Distributed Map runs an execution started "
                          "(ListMapRuns)")
    runs.add_argument("arn", metavar="ARN")
    _common(runs)
    run = sub.add_parser("map-run", help="one Distributed Map run (DescribeMapRun)")
    run.add_argument("arn", metavar="MAP_RUN_ARN")
    _common(run)

    stop = make(commands, "stop", "Abort a running execution.", "example:\n  sm stop ARN --error Cancelled\n")
    stop.add_argument("arn", metavar="ARN")
    stop.add_argument("--error")
    stop.add_argument("--cause")
    _common(stop)

    redrive = make(commands, "redrive", "Continue a failed, aborted or timed-out execution "
                   "from the states that did not succeed.", "example:\n  sm redrive ARN\n")
    redrive.add_argument("arn", metavar="ARN")
    _common(redrive)

    task = make(commands, "task", "Answer a .waitForTaskToken callback.",
                "examples:\n  sm task success TOKEN --output '{\"approved\": true}'\n"
                "  sm task failure TOKEN --error Rejected --cause 'over budget'\n"
                "  sm task heartbeat TOKEN\n")
    answers = task.add_subparsers(dest="action", metavar="ACTION", required=True)
    success = answers.add_parser("success", help="the task succeeds with OUTPUT")
    success.add_argument("token", metavar="TOKEN")
    success.add_argument("--output", default="{}", metavar="JSON|@FILE|-")
    _common(success)
    failure = answers.add_parser("failure", help="the task fails with ERROR/CAUSE")
    failure.add_argument("token", metavar="TOKEN")
    failure.add_argument("--error")
    failure.add_argument("--cause")
    _common(failure)
    beat = answers.add_parser("heartbeat", help="the task is alive")
    beat.add_argument("token", metavar="TOKEN")
    _common(beat)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH|URL", help=DB_HELP)
    parser.add_argument("--json", action="store_true", help="print AWS-shaped JSON")


# -- running ------------------------------------------------------------------------------------

def command(args: argparse.Namespace) -> int:
    """Dispatch a durable subcommand; returns the exit code."""
    from statemachine.durable import SchemaTooNew, StoreError, StoreUnavailable, StoreUnreadable
    from statemachine.errors import DefinitionError, ResourceNotFoundError
    from statemachine.service import ServiceError

    from .run import InputError

    try:
        return _run(args)
    except InputError as failure:  # --input / --output: not JSON, too large, unreadable
        text = str(failure)
        if args.command == "task":
            text = text.replace("--input", "--output", 1)
        return error(text, code=EXIT_USAGE)
    except ServiceError as failure:
        return error(f"{failure.code}: {failure}", code=EXIT_FAILED)
    except (StoreUnreadable, SchemaTooNew, StoreUnavailable) as failure:
        return error(f"database: {failure}", code=EXIT_USAGE)
    except StoreError as failure:
        return error(str(failure), code=EXIT_FAILED)
    except DefinitionError as failure:
        from .common import print_diagnostics

        print_diagnostics(failure.diagnostics, sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        raise
    except (ResourceNotFoundError, OSError, ValueError) as failure:
        return error(str(failure), code=EXIT_USAGE)


def _service(args: argparse.Namespace) -> Any:
    from statemachine.service import Service

    if args.command not in ("start", "run"):  # reading or answering: a database must exist
        from pathlib import Path

        from statemachine.durable import StoreUnavailable

        target = _where(args.db)
        if not target.startswith(("postgresql:", "postgres:")) and not Path(target).exists():
            raise StoreUnavailable(f"no database at {target} (sm start FILE --db PATH or "
                                   "sm run FILE --db PATH creates one)")
    return Service(args.db)


def _run(args: argparse.Namespace) -> int:
    name = args.command
    if name == "worker":
        return _worker(args)
    if name == "run":
        return run_persistent(args)
    with _service(args) as service:
        if name == "start":
            from .run import input_spec, read_input

            started = service.start(args.file, read_input(input_spec(args)), name=args.name, seed=args.seed)
            return _print(args, started, lambda: print(started["executionArn"]))
        if name == "executions":
            if args.action == "list":
                rows = service.list(status=args.status, machine=args.machine,
                                    map_run_arn=args.map_run,
                                    redrive_filter=args.redrive_filter, limit=args.limit)
                return _print(args, {"executions": rows}, lambda: _table(rows))
            if args.action == "map-runs":
                listed = service.list_map_runs(args.arn)
                return _print(args, listed, lambda: _table(
                    listed["mapRuns"], ("mapRunArn", "startDate", "stopDate")))
            if args.action == "map-run":
                found = service.describe_map_run(args.arn)
                return _print(args, found, lambda: _fields(found))
            if args.action == "describe":
                found = service.describe(args.arn)
                return _print(args, found, lambda: _fields(found))
            events = service.history(args.arn)
            return _print(args, {"events": events}, lambda: _history(events))
        if name == "stop":
            before = service.describe(args.arn)["status"]
            stopped = service.stop(args.arn, args.error, args.cause)
            said = f"stopped {args.arn}" if before == "RUNNING" else \
                f"{args.arn} had already ended ({before}): nothing to stop"
            return _print(args, stopped, lambda: print(said))
        if name == "redrive":
            redriven = service.redrive(args.arn)
            return _print(args, redriven, lambda: print(f"redriven {args.arn}"))
        # task
        if args.action == "success":
            from .run import input_spec, read_input

            service.send_task_success(args.token, read_input(args.output))
        elif args.action == "failure":
            service.send_task_failure(args.token, args.error, args.cause)
        else:
            service.send_task_heartbeat(args.token)
        return _print(args, {}, lambda: None)


def _worker(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from statemachine.durable import open_store
    from statemachine.durable.worker import Worker
    from statemachine.observe import install
    from statemachine.resources.inline import run_owned

    from .observability import install_telemetry, logging_config

    try:
        install("logging", logging_config(args))  # None: $SM_LOG_LEVEL (observe.process_observability)
        install_telemetry(args)
    except ValueError as exc:  # SM_LOG_LEVEL=LOUD, --telemetry without the otel extra
        return error(str(exc))
    clock = None
    if args.virtual_time:
        from statemachine.clock import VirtualClock

        clock = VirtualClock()
    executor = None
    if args.executor not in (None, "local"):
        from statemachine.executors import ExecutorError, executor_from

        try:
            executor = executor_from(args.executor)
        except (ExecutorError, ValueError) as exc:
            return error(str(exc))
    store = open_store(args.db)
    loader = None
    from statemachine.durable.catalog import CatalogSql

    if isinstance(store, CatalogSql):  # machines created through sm serve: its policy
        from pathlib import Path

        from statemachine.server.builder import MachineBuilder

        from .serve import policy_of

        loader = MachineBuilder(store, policy_of(args),
                                Path(args.resources) if args.resources else None).loader
    worker = Worker(store, concurrency=args.concurrency, lease_seconds=args.lease,
                    poll=args.poll, park_after=args.park_after, grace=args.grace, clock=clock,
                    loader=loader, schedules=not args.no_schedules, catchup=args.catchup,
                    executor=executor)

    def idle() -> bool:
        if worker._active:
            return False
        try:
            wake = store.next_wakeup()
        except Exception:
            return False
        if clock is not None:  # virtual time reaches every timer: idle when none is left
            return wake is None
        return wake is None or (wake - datetime.now(UTC)).total_seconds() > args.park_after

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run(until=idle if args.until_idle else None)

    print(f"sm worker {worker.owner}: serving {_where(args.db)}", file=sys.stderr, flush=True)
    try:
        run_owned(main())  # an InlineLoop: blocking task handlers run with no thread switch
    finally:
        store.close()
        if executor is not None:
            executor.close()
    print(f"sm worker: stopped ({len(worker.finished)} executions finished here)",
          file=sys.stderr, flush=True)
    return EXIT_OK


def _give_up_claim(store: Any, arn: str, owner: str) -> None:
    """End ``owner``'s lease on execution ``arn`` now, if it still holds it: an interrupted
    ``sm run --db`` leaves the execution to any worker at once, from its last commit, as a
    crash does once the lease lapses (a lapsed lease is what makes it due: released, it would
    wait for a timer it may not have). A store error leaves the lease to lapse by itself."""
    from datetime import UTC, datetime

    from statemachine.durable import StoreError

    try:
        lease = store.lease(arn)
        if lease is not None and lease.owner == owner:
            store.renew_lease(lease, now=datetime.now(UTC), lease_seconds=0)
    except StoreError:
        pass


def _where(db: str | None) -> str:
    from statemachine.durable import default_target

    return db or default_target()


def run_persistent(args: argparse.Namespace) -> int:
    """``sm run FILE --db PATH``: store the execution, run it here to its end (waiting for
    timers and callbacks), print its output; the ARN goes to stderr."""
    import asyncio
    import signal

    from statemachine.durable.worker import run_one, worker_id
    from statemachine.observe import install
    from statemachine.resources.inline import run_owned

    from .observability import in_traceparent, install_telemetry, logging_config
    from .run import input_spec, read_input

    try:
        install("logging", logging_config(args))
        traced = install_telemetry(args)
    except ValueError as exc:
        return error(str(exc))
    with _service(args) as service, in_traceparent(traced):  # $TRACEPARENT: stored with it
        started = service.start(args.file, read_input(input_spec(args)), name=args.name, seed=args.seed)
        arn = started["executionArn"]
        print(f"execution: {arn}", file=sys.stderr, flush=True)
        stop = [False]
        owner = worker_id()

        async def main() -> Any:
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGTERM, lambda: stop.__setitem__(0, True))
            announcing = asyncio.ensure_future(_announce_callbacks(service, arn))
            try:
                return await run_one(service.store, arn, stopping=lambda: stop[0], owner=owner)
            finally:
                announcing.cancel()

        try:
            record = run_owned(main())
        except KeyboardInterrupt:
            _give_up_claim(service.store, arn, owner)
            print(f"sm: interrupted; the execution stays resumable: sm worker --db ...  ({arn})",
                  file=sys.stderr)
            return 130
        described = service.describe(arn)
    if args.json:
        print(_json(described))
    elif record.status == "SUCCEEDED":
        print(_json(json.loads(record.output or "null"), indent=2))
    elif record.status != "RUNNING":
        print(f"{record.status}: {record.error or ''}: {record.cause or ''}", file=sys.stderr)
    return EXIT_OK if record.status == "SUCCEEDED" else EXIT_FAILED


#: How a token ``sm run --db`` waits on is answered (the database is not repeated: it may
#: hold a password).
DURABLE_ANSWER_HELP = ("answer it from any shell with the same --db (or $SM_DB): sm task success {token} "
                       "--output JSON, or sm task failure {token} --error ERROR --cause CAUSE")


async def _announce_callbacks(service: Any, arn: str, poll: float = 0.2) -> None:
    """``sm run --db``: one stderr line for each task token the execution comes to wait on
    (its state, the token, how to answer it), so a run never waits in silence."""
    import asyncio

    announced: set[str] = set()
    while True:
        for token in service.store.task_tokens(arn, status="WAITING"):
            if token.token not in announced:
                announced.add(token.token)
                print(f"sm: {token.state_name} waits for a callback, task token {token.token}\n  "
                      + DURABLE_ANSWER_HELP.format(token=token.token), file=sys.stderr, flush=True)
        await asyncio.sleep(poll)


# -- output -------------------------------------------------------------------------------------

def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _json(value: Any, indent: int | None = None) -> str:
    """JSON text of ``value``, UTF-8 as is; when stdout cannot encode it (a lone UTF-16
    surrogate: no UTF-8 text holds one), every non-ASCII character escaped (``\\ud800``),
    as ``sm run`` prints such a value."""
    text = json.dumps(value, default=_default, ensure_ascii=False, indent=indent)
    try:
        text.encode(getattr(sys.stdout, "encoding", None) or "utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, default=_default, indent=indent)
    return text


def _print(args: argparse.Namespace, value: Any, human: Callable[[], None]) -> int:
    if args.json:
        print(_json(value))
    else:
        human()
    return EXIT_OK


_COLUMNS: Final = ("name", "status", "startDate", "stopDate", "redriveCount", "executionArn")


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str] = _COLUMNS) -> None:
    if is_terminal(sys.stdout):
        from rich.table import Table

        from .common import make_console

        table = Table()
        for column in columns:  # folded, never cut: ARNs and names are copied from here
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(str(row.get(c, "")) for c in columns))
        make_console(sys.stdout).print(table)
        return
    for row in rows:
        print("\t".join(str(row.get(c, "")) for c in columns))


def _fields(found: dict[str, Any]) -> None:
    if is_terminal(sys.stdout):
        from rich.table import Table

        from .common import make_console

        table = Table(show_header=False)
        for key, value in found.items():
            table.add_row(key, _text(value))
        make_console(sys.stdout).print(table)
        return
    for key, value in found.items():
        print(f"{key}: {_text(value)}")


def _text(value: Any) -> str:
    """A field as one line: counts objects as compact JSON."""
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), default=_default)
    return str(value)


def _history(events: Sequence[dict[str, Any]]) -> None:
    for event in events:
        details = {k: v for k, v in event.items()
                   if k not in ("id", "type", "timestamp", "previousEventId")}
        stamp = event["timestamp"].isoformat(timespec="milliseconds")
        extra = json.dumps(details, default=_default, ensure_ascii=False) if details else ""
        print(f"{event['id']:>5} {stamp} {event['type']:<28} {extra}")

"""Benchmark of durable executions (issue 12): the SQLite/PostgreSQL store beside in-memory.

    .venv/bin/python -m bench.durable_runs              # default sizes (~1 min)
    .venv/bin/python -m bench.durable_runs --quick      # tiny sizes
    .venv/bin/python -m bench.durable_runs --json bench/results/durable_runs.json

Not part of ``python -m bench``. In one process, median of ``--runs`` (after one warm-up);
for workloads 2, 4 and 9 also the sustained rate, ``*_sustained``: the mean run on both
sides, which counts the runs that pay a full garbage collection or a SQLite WAL checkpoint
(the median skips them, and they fall unevenly on the two sides):

- workloads 2 (pass_chain, 1,000 Pass states) and 4 (inline Map of 2,000 items):
  transitions/s in memory (``machine.run``) and durable on SQLite, timed per execution from
  ``Service.start`` until the worker has committed it SUCCEEDED (the start, the wake-up,
  the claim, the replay runtime and every commit included); target: SQLite >= 50% of
  in-memory. Two ways: ``sqlite`` -- one long-lived ``Worker`` in the same process, on the
  InlineLoop ``sm worker`` runs, advances every execution, as one ``sm worker`` (or ``sm
  serve``'s worker) serves many (each start is followed by ``Worker.wake()``, what ``sm
  serve`` calls after a StartExecution; the worker's construction, its lease-keeper thread
  and its loop are paid once); ``sqlite_worker_per_run`` -- a new ``Worker`` and event loop
  per execution, their start and stop inside the span (as a worker process started for
  each execution would pay them; what ``sqlite`` measured before branch h12r);
- workload 9 (a Task calling a Python callable, in a Choice loop): Task calls/s in memory,
  durable on SQLite (target >= 2,000/s) and on PostgreSQL (>= 1,000/s), also with
  ``synchronous_commit=False`` (a PostgreSQL server crash may then lose the last commits:
  their tasks run again, at least once) and with ``synchronous_commit="progress"`` (only
  the commits that just add events skip the flush: a Task dispatch's). Durable, each task
  dispatch commits first (one transaction per task, so this sequential loop is bounded by
  the commit latency: on PostgreSQL one round trip, plus the WAL flush when synchronous);
- workload 4 as a Distributed Map (1,000 items): item transitions/s in memory and durable
  on SQLite, where each item is a child execution stored with its own history (no target;
  it prices item 8's records);
- parked: ``--parked`` executions (10,000) started on a ``.waitForTaskToken`` machine and
  advanced by one worker in a child process until every one waits for its callback; the
  child's peak RSS and its thread count afterwards (target < 100 MB, no thread each).

Every durable figure but ``sqlite_worker_per_run`` is the long-lived worker's (PostgreSQL's
too). The durable runs use ``history_limit=None`` like the in-memory driver (workload 9 passes
AWS's 25,000 events). PostgreSQL: ``--postgres`` (default 127.0.0.1:5432 database test);
one that does not answer is reported as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

from bench import generate
from bench.ours import ECHO_RESOURCE

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parents[1]
PARK_FLOW = """\
StartAt: Ask
States:
  Ask:
    Type: Task
    Resource: python:bench.callables:echo.waitForTaskToken
    Parameters:
      token.$: $$.Task.Token
    End: true
"""


def _definition_file(job: generate.Job, folder: Path) -> Path:
    definition = json.loads(json.dumps(job.definition))
    for name in job.echo_states:
        definition["States"][name]["Resource"] = ECHO_RESOURCE
    path = folder / f"{job.name}.json"
    path.write_text(json.dumps(definition))
    return path


def _distributed(job: generate.Job) -> generate.Job:
    """Workload 4 as a Distributed Map: durable, each item is a child execution with a
    record and a history of its own (one create and one end commit per child)."""
    import dataclasses

    definition = json.loads(json.dumps(job.definition))
    for state in definition["States"].values():
        if state.get("Type") == "Map":
            processor = state.pop("Iterator", None) or state.pop("ItemProcessor")
            processor["ProcessorConfig"] = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
            state["ItemProcessor"] = processor
    return dataclasses.replace(job, name="map_distributed", definition=definition)


class Timing(NamedTuple):
    """Seconds per execution over the timed runs (the first, a warm-up, is not counted):
    ``median`` -- the typical run; ``mean`` -- the sustained rate (every run's cost, the
    runs that happen to pay a full garbage collection or a SQLite WAL checkpoint included),
    what transitions/s over a stream of executions is."""

    median: float
    mean: float


def _timing(times: list[float]) -> Timing:
    return Timing(statistics.median(times[1:]), statistics.fmean(times[1:]))


def in_memory(job: generate.Job, path: Path, runs: int) -> Timing:
    import statemachine

    machine = statemachine.load(path)
    times = []
    for _ in range(runs + 1):
        began = time.perf_counter()
        execution = machine.run(job.input, history_limit=None)
        times.append(time.perf_counter() - began)
        job.check(execution.output)
    return _timing(times)


def durable(job: generate.Job, path: Path, runs: int, open_db: Callable[[], Any], *,
            worker_per_run: bool = False) -> Timing:
    """Median seconds per durable execution, from ``Service.start`` until the worker has
    committed it SUCCEEDED. One long-lived ``Worker`` on one InlineLoop advances every
    execution, as ``sm worker`` does (each run: the start, then ``Worker.wake()`` -- what
    ``sm serve`` calls after a StartExecution -- and the claim, the replay runtime and every
    commit); ``worker_per_run``: a new ``Worker`` and event loop per execution instead (its
    construction, its lease-keeper thread and the loop's start and close inside the span,
    as a worker process started for each execution would pay them)."""
    from statemachine.durable.worker import Worker
    from statemachine.resources.inline import run_owned
    from statemachine.service import Service

    times: list[float] = []
    service = Service(open_db())
    service.start(path, job.input)  # the machine is loaded and stored once, as in memory

    def new_worker() -> Worker:
        return Worker(service.store, poll=0.01, history_limit=None, log=lambda _: None)

    if worker_per_run:
        for _ in range(runs + 1):
            began = time.perf_counter()
            arn = service.start(path, job.input)["executionArn"]
            worker = new_worker()
            # mypy cannot infer the lambda's defaults (they bind this run's worker and ARN)
            run_owned(worker.run(until=lambda w=worker, a=arn: a in w.finished))  # type: ignore[misc]
            times.append(time.perf_counter() - began)
            _check(service, job, arn)
    else:
        worker = new_worker()
        finished = worker.finished = _Finished()

        async def each() -> None:
            working = asyncio.ensure_future(worker.run())
            try:
                for _ in range(runs + 1):
                    began = time.perf_counter()
                    arn = service.start(path, job.input)["executionArn"]
                    ended = finished.waiter(arn)
                    worker.wake()
                    # on the worker's loop (no thread switch), woken when the worker records
                    # the execution's end (no polling task run between the worker's steps)
                    await asyncio.wait((ended, working), return_when=asyncio.FIRST_COMPLETED)
                    if not ended.done():
                        working.result()  # the worker's own error, if it failed
                        raise RuntimeError("the worker stopped before the execution ended")
                    times.append(time.perf_counter() - began)
                    _check(service, job, arn)
            finally:
                worker.stop()
                await working

        run_owned(each())
    service.close()
    return _timing(times)


class _Finished(dict[str, str]):
    """``Worker.finished`` (execution ARN -> final status) that also resolves a future per
    ARN when the worker records it."""

    def __init__(self) -> None:
        super().__init__()
        self._waiters: dict[str, asyncio.Future[str]] = {}

    def waiter(self, arn: str) -> asyncio.Future[str]:
        future = self._waiters[arn] = asyncio.get_running_loop().create_future()
        return future

    def __setitem__(self, arn: str, status: str) -> None:
        super().__setitem__(arn, status)
        future = self._waiters.pop(arn, None)
        if future is not None and not future.done():
            future.set_result(status)


def _check(service: Any, job: generate.Job, arn: str) -> None:
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED", described
    job.check(json.loads(described["output"]))


def parked_child(db: str, count: int) -> None:
    """Child process: start ``count`` callback executions, advance them until all park."""
    from statemachine.durable.worker import Worker
    from statemachine.service import Service

    folder = Path(tempfile.mkdtemp())
    flow = folder / "park.yaml"
    flow.write_text(PARK_FLOW)
    service = Service(db)
    for _ in range(count):
        service.start(flow, {})
    store = service.store
    worker = Worker(store, poll=0.01, concurrency=500, log=lambda _: None)

    def parked() -> bool:  # nothing runs, nothing due within a minute
        if worker._active:
            return False
        wake = store.next_wakeup()
        return wake is None or (wake - datetime.now(UTC)).total_seconds() > 60

    began = time.perf_counter()
    asyncio.run(worker.run(until=parked))
    elapsed = time.perf_counter() - began
    waiting = sum(1 for e in service.list(status="RUNNING") if service.task_tokens(e["executionArn"]))
    print(json.dumps({"parked": waiting, "seconds": elapsed, "threads": threading.active_count(),
                      "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def parked(count: int, folder: Path) -> dict[str, Any]:
    db = str(folder / "parked.db")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "bench.durable_runs", "--parked-child", db,
                           str(count)], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _postgres(conninfo: str, *, synchronous_commit: bool | Literal["progress"] = True
              ) -> tuple[Callable[[], Any] | None, str | None]:
    try:
        import psycopg

        with psycopg.connect(conninfo, connect_timeout=3):
            pass
    except Exception as error:  # reported, not hidden
        return None, f"skipped: {type(error).__name__}: {error}".splitlines()[0]
    from statemachine.durable.postgres import PostgresStore

    schema = f"bench_{uuid.uuid4().hex[:10]}"

    def open_pg() -> Any:
        return PostgresStore(conninfo, schema=schema, synchronous_commit=synchronous_commit)

    return open_pg, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.durable_runs")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parked", type=int, default=10_000)
    parser.add_argument("--postgres", default=os.environ.get("SM_TEST_POSTGRES", DEFAULT_PG))
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--only", metavar="LABEL", action="append",
                        help="run only this workload (2, 4, 9, 4d, parked; repeatable)")
    parser.add_argument("--parked-child", nargs=2, metavar=("DB", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.parked_child:
        parked_child(args.parked_child[0], int(args.parked_child[1]))
        return 0
    from statemachine.durable import SqliteStore

    quick = args.quick
    jobs = {
        "2 pass_chain": generate.pass_chain(100 if quick else 1000),
        "4 map": generate.map_items("map", 200 if quick else 2000),
        "9 task_loop": generate.task_loop(100 if quick else 2000),
        "4d distributed map": _distributed(generate.map_items("map", 100 if quick else 1000)),
    }
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        counter = iter(range(1_000_000))

        def open_sqlite() -> Any:
            return SqliteStore(folder / f"run{next(counter)}.db")

        open_pg, pg_skip = _postgres(args.postgres)
        for label, job in jobs.items():
            if args.only and label.split()[0] not in args.only:
                continue
            path = _definition_file(job, folder)
            unit = job.transitions if not label.startswith("9") else job.input["limit"]
            mem = in_memory(job, path, args.runs)
            sql = durable(job, path, args.runs, open_sqlite)
            per = durable(job, path, args.runs, open_sqlite, worker_per_run=True)
            memory, sqlite, per_run = unit / mem.median, unit / sql.median, unit / per.median
            row: dict[str, Any] = {"unit": "task calls/s" if label.startswith("9") else "transitions/s",
                                   "in_memory": round(memory), "sqlite": round(sqlite),
                                   "sqlite_vs_memory": round(sqlite / memory, 3),
                                   "sqlite_worker_per_run": round(per_run),
                                   "sqlite_worker_per_run_vs_memory": round(per_run / memory, 3),
                                   # sustained: the mean run, on both sides
                                   "in_memory_sustained": round(unit / mem.mean),
                                   "sqlite_sustained": round(unit / sql.mean),
                                   "sqlite_vs_memory_sustained": round(mem.mean / sql.mean, 3)}
            if label.startswith("9"):
                row["postgres"] = (round(unit / durable(job, path, args.runs, open_pg).median)
                                   if open_pg is not None else pg_skip)
                open_async, _ = _postgres(args.postgres, synchronous_commit=False)
                if open_async is not None:  # a server crash may lose the last commits
                    row["postgres_async_commit"] = round(unit / durable(job, path, args.runs,
                                                                        open_async).median)
                open_progress, _ = _postgres(args.postgres, synchronous_commit="progress")
                if open_progress is not None:  # ... only those that just add events
                    row["postgres_progress_async"] = round(unit / durable(
                        job, path, args.runs, open_progress).median)
            results[label] = row
            print(f"{label:<14} {row}", flush=True)
        if not args.only or "parked" in args.only:
            count = 200 if quick else args.parked
            results["parked"] = {"executions": count, **parked(count, folder)}
            print(f"parked         {results['parked']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of the durable store (statemachine.durable): commits and claims per second.

    .venv/bin/python -m bench.durable                      # SQLite and PostgreSQL, default sizes
    .venv/bin/python -m bench.durable --backend sqlite --appends 5000 --claims 2000
    .venv/bin/python -m bench.durable --json bench/results/durable.json

Not part of ``python -m bench``. What it measures, each on a fresh database (a file in a
temporary folder; a throw-away schema in the PostgreSQL at ``--postgres``, default
127.0.0.1:5432 database ``test``), one process, one connection, median of ``--runs``:

- ``append 1``: appends of one event each to one execution (``after`` = the last id), i.e.
  one transaction per event: the cost of a commit before a side effect;
- ``append 10``: appends of ten events each, reported as events/s (a batch of pure states);
- ``turn``: an append of two events that also stores a task token and a timer: what a worker
  commits when it dispatches a callback task and parks;
- ``claim``: ``claim_due(limit=1)`` over executions that each have a due start timer, one
  claim per call (lease taken, timers read); ``claim x10``: the same with ``limit=10``;
- ``append 1, N processes``: ``--processes`` processes (default 4) each appending one event
  at a time to an execution of its own in the same database, events/s all together.

SQLite runs with its defaults (WAL, ``synchronous=NORMAL``). A PostgreSQL that does not
answer is reported as skipped, with the reason.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from statemachine.durable import (
    DurableStore,
    EventRecord,
    ExecutionRecord,
    SqliteStore,
    TaskTokenRecord,
    TimerRecord,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_PG = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"
BODY = json.dumps({"previousEventId": 0, "stateEnteredEventDetails": {
    "name": "Step", "input": json.dumps({"order": 1234, "items": [1, 2, 3]})}})


@contextmanager
def sqlite_store() -> Iterator[DurableStore]:
    with tempfile.TemporaryDirectory(prefix="sm-bench-") as folder:
        store = SqliteStore(Path(folder) / "bench.db")
        try:
            yield store
        finally:
            store.close()


def postgres_opener(conninfo: str, *, synchronous_commit: bool = True) -> Callable[[], Any]:
    @contextmanager
    def open_pg() -> Iterator[DurableStore]:
        import psycopg

        from statemachine.durable.postgres import PostgresStore

        schema = f"sm_bench_{uuid.uuid4().hex[:10]}"
        store = PostgresStore(conninfo, schema=schema, synchronous_commit=synchronous_commit)
        try:
            yield store
        finally:
            store.close()
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]  # generated name
    return open_pg


def execution(name: str) -> ExecutionRecord:
    return ExecutionRecord(f"arn:aws:states:us-east-1:1:execution:Bench:{name}", name,
                           "arn:aws:states:us-east-1:1:stateMachine:Bench", "v1", "{}", T0)


def appends(store: DurableStore, count: int, batch: int) -> float:
    """Events per second, appended ``batch`` at a time to one execution."""
    run = store.create_execution(execution(f"appends-{batch}"), ready=False)
    last = run.last_event_id
    start = time.perf_counter()
    for _ in range(count // batch):
        events = [EventRecord(last + i, "PassStateEntered", T0, BODY) for i in range(1, batch + 1)]
        last = store.append(run.arn, events, after=last)
    return (count // batch) * batch / (time.perf_counter() - start)


def turns(store: DurableStore, count: int) -> float:
    """Commits per second of 'dispatch a callback task and park' (2 events, token, timer)."""
    run = store.create_execution(execution("turns"), ready=False)
    last = run.last_event_id
    start = time.perf_counter()
    for n in range(count):
        events = [EventRecord(last + 1, "TaskStateEntered", T0, BODY),
                  EventRecord(last + 2, "TaskScheduled", T0, BODY)]
        token = TaskTokenRecord(f"tok-{n}", run.arn, "Approve", last + 2, T0,
                                timeout_at=T0 + timedelta(days=3))
        timer = TimerRecord(run.arn, f"timeout:{last + 2}", "timeout", T0 + timedelta(days=3))
        last = store.append(run.arn, events, after=last, tokens=[token], timers=[timer])
    return count / (time.perf_counter() - start)


def _spec(store: DurableStore) -> tuple[str, ...]:
    """How another process opens the same database."""
    if isinstance(store, SqliteStore):
        return ("sqlite", str(store.path))
    from statemachine.durable.postgres import PostgresStore

    assert isinstance(store, PostgresStore)
    return ("postgres", store.conninfo, store.schema, str(store._synchronous_commit))


def _open_spec(spec: tuple[str, ...]) -> DurableStore:
    if spec[0] == "sqlite":
        return SqliteStore(spec[1], busy_timeout=60)
    from statemachine.durable.postgres import PostgresStore

    return PostgresStore(spec[1], schema=spec[2], synchronous_commit=spec[3] == "True",
                         busy_timeout=60)


def _append_process(spec: tuple[str, ...], name: str, count: int, barrier: Any,
                    results: Any) -> None:
    store = _open_spec(spec)
    run = store.create_execution(execution(name), ready=False)
    barrier.wait()
    start = time.perf_counter()
    last = run.last_event_id
    for _ in range(count):
        last = store.append(run.arn, [EventRecord(last + 1, "PassStateEntered", T0, BODY)],
                            after=last)
    results.put(time.perf_counter() - start)
    store.close()


def parallel_appends(store: DurableStore, count: int, processes: int) -> float:
    """Events per second of ``processes`` processes, each appending one event at a time to
    its own execution in the same database (what several workers do; PostgreSQL can group
    their commits into one WAL flush, SQLite serialises them on its one write lock)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    tag = uuid.uuid4().hex[:6]
    workers = [context.Process(target=_append_process,
                               args=(_spec(store), f"p{tag}-{n}", count, barrier, results))
               for n in range(processes)]
    for worker in workers:
        worker.start()
    elapsed = max(results.get(timeout=600) for _ in workers)
    for worker in workers:
        worker.join()
    return processes * count / elapsed


def claims(store: DurableStore, count: int, limit: int) -> float:
    """Executions claimed per second, ``limit`` at most per claim_due call."""
    for n in range(count):
        store.create_execution(execution(f"c{limit}-{n}"))
    start = time.perf_counter()
    got = 0
    while batch := store.claim_due("bench", now=T0, lease_seconds=60, limit=limit):
        got += len(batch)
    elapsed = time.perf_counter() - start
    if got != count:
        raise AssertionError(f"claimed {got} of {count} executions")
    return count / elapsed


def measure(opener: Callable[[], Any], args: argparse.Namespace) -> dict[str, float]:
    figures: dict[str, list[float]] = {"append 1 (events/s)": [], "append 10 (events/s)": [],
                                       "turn (commits/s)": [], "claim (claims/s)": [],
                                       "claim x10 (claims/s)": [],
                                       f"append 1, {args.processes} processes (events/s)": []}
    for _ in range(args.runs):
        with opener() as store:
            figures["append 1 (events/s)"].append(appends(store, args.appends, 1))
            figures["append 10 (events/s)"].append(appends(store, args.appends * 10, 10))
            figures["turn (commits/s)"].append(turns(store, args.appends))
            figures["claim (claims/s)"].append(claims(store, args.claims, 1))
            figures["claim x10 (claims/s)"].append(claims(store, args.claims, 10))
            figures[f"append 1, {args.processes} processes (events/s)"].append(
                parallel_appends(store, args.appends, args.processes))
    return {name: statistics.median(values) for name, values in figures.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.durable", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--appends", type=int, default=2000, help="appends per figure")
    parser.add_argument("--claims", type=int, default=1000, help="executions to claim")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--processes", type=int, default=4,
                        help="appending processes of the parallel figure")
    parser.add_argument("--postgres", default=DEFAULT_PG, help="libpq connection string")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    results: dict[str, dict[str, float] | str] = {}
    if args.backend in ("sqlite", "all"):
        results["sqlite"] = measure(sqlite_store, args)
    if args.backend in ("postgres", "all"):
        for label, durable in (("postgres", True), ("postgres, synchronous_commit=off", False)):
            try:
                opener = postgres_opener(args.postgres, synchronous_commit=durable)
                results[label] = measure(opener, args)
            except Exception as error:  # report, do not hide, a missing server
                results[label] = f"skipped: {' '.join(str(error).split())}"
    print(f"Durable store, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, median of {args.runs} "
          f"run(s); {args.appends} appends, {args.claims} claims; Python "
          f"{sys.version.split()[0]}\n")
    columns = next((list(r) for r in results.values() if isinstance(r, dict)), [])
    print("| backend | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, figures in results.items():
        if isinstance(figures, str):
            print(f"| {name} | {figures} |")
        else:
            print(f"| {name} | " + " | ".join(f"{v:,.0f}" for v in figures.values()) + " |")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

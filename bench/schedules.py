"""Benchmark of schedules (statemachine.schedules): next-fire arithmetic and scheduler passes.

    .venv/bin/python -m bench.schedules                  # default sizes
    .venv/bin/python -m bench.schedules --schedules 5000 --fires 5000

Not part of ``python -m bench``. What it measures (one process, SQLite in a temporary folder,
median of ``--runs``):

- ``next fire``: microseconds per ``next_fire`` of a few expressions in Europe/Berlin, each
  call starting where the previous fire was (croniter behind the cron ones);
- ``idle pass``: one ``Scheduler.fire_due`` over ``--schedules`` schedules none of which is
  due (what a worker or server does every poll);
- ``firing pass``: one pass in which all of them are due: an execution stored and the
  schedule advanced for each, reported as fires/s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from statemachine.schedules.expressions import Cron, Rate, parse, zone
from statemachine.schedules.scheduler import Scheduler
from statemachine.service import Service

EXPRESSIONS = ("cron(30 2 * * ? *)", "cron(0/5 8-17 ? * MON-FRI *)", "cron(0 9 ? * 2#1 *)",
               "cron(0 12 15W * ? *)", "rate(5 minutes)")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
FLOW = '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}'


def next_fire_us(text: str, fires: int) -> float:
    """Microseconds per next fire of ``text``, ``fires`` in a row."""
    expression = parse(text)
    tz = zone("Europe/Berlin")
    moment: datetime | None = T0
    began = time.perf_counter()
    for _ in range(fires):
        assert moment is not None
        if isinstance(expression, Cron):
            moment = expression.next_fire(moment, tz=tz)
        else:
            assert isinstance(expression, Rate)
            moment = expression.next_fire(moment, anchor=T0)
    return (time.perf_counter() - began) / fires * 1e6


def passes(count: int) -> tuple[float, float]:
    """(ms of an idle pass, fires/s of a firing pass) over ``count`` daily schedules."""
    with tempfile.TemporaryDirectory(prefix="sm-bench-") as folder:
        flow = Path(folder) / "flow.json"
        flow.write_text(FLOW)
        with Service(Path(folder) / "bench.db") as service:
            arn = service.store_machine(flow)
            for index in range(count):
                service.create_schedule(Name=f"s{index}", ScheduleExpression="cron(0 3 * * ? *)",
                                        ScheduleExpressionTimezone="Europe/Berlin",
                                        Target={"Arn": arn})
            scheduler = Scheduler(service.store, log=lambda _: None)
            now = datetime.now(UTC)
            began = time.perf_counter()
            scheduler.fire_due(now)
            idle = (time.perf_counter() - began) * 1e3
            began = time.perf_counter()
            fired = scheduler.fire_due(now + timedelta(days=1, minutes=1))
            rate = len(fired) / (time.perf_counter() - began)
    return idle, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fires", type=int, default=2000)
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for text in EXPRESSIONS:
        figure = statistics.median(next_fire_us(text, args.fires) for _ in range(args.runs))
        print(f"next fire  {text:<32} {figure:8.0f} us")
    results = [passes(args.schedules) for _ in range(args.runs)]
    print(f"idle pass over {args.schedules} schedules: "
          f"{statistics.median(r[0] for r in results):.1f} ms")
    print(f"firing pass: {statistics.median(r[1] for r in results):,.0f} fires/s "
          f"({args.schedules} executions stored, schedules advanced)")


if __name__ == "__main__":
    main()

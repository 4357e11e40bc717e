"""Benchmark of the Dask executor (issue 15): Map iterations in process vs on a LocalCluster.

    .venv/bin/python -m bench.dask_map                 # 2,000 x ~20 ms items, 2 workers (~2 min)
    .venv/bin/python -m bench.dask_map --quick         # 200 items
    .venv/bin/python -m bench.dask_map --json bench/results/dask_map.json

Not part of ``python -m bench``. One process; the cluster (``DaskExecutor(workers=N)``, worker
processes with one thread each) is started once, outside the timings (its start time is
reported as ``cluster_start_s``), and each mode does one warm-up run before ``--runs`` timed
ones (median reported):

- cpu: in-process and Dask runs alternate (``--runs`` pairs; each pair's figures and load
  are reported) so that a shared machine's load weighs on both alike. An inline Map (MaxConcurrency 0) of ``--items`` items, each a Task calling
  ``python:bench.callables:burn``, pure-Python integer arithmetic calibrated on this machine
  to ``--ms`` milliseconds of CPU per call. In process the handler threads share one GIL, so the
  Map takes about items x ms; on N worker processes about 1/N of it (``--handler-threads 1``:
  each worker process runs its blocking handlers one at a time). Target (issue 15):
  >= 1.7x faster with 2 workers on a 2-core machine.
- trivial: an inline Map of ``--items`` Pass items; the per-iteration overhead of the cluster
  is ``(dask time - in-process time) / items`` (shipping the chunk, running it on a fresh
  clock, returning and splicing 4 events per iteration).

- large (``--rows N``, e.g. 1,000,000): a Distributed Map whose ItemReader reads an N-row CSV
  from a local S3 folder, batched 1,000 rows per child execution (a Python Task sums its rows), run by
  a separate parent process connected to the cluster; that process's peak RSS (target
  < 300 MB for a million rows) and the time.

The machine's load average is recorded beside the figures: on a shared box they move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import statemachine
from bench.callables import burn

CPU_MAP = {
    "StartAt": "Work",
    "States": {"Work": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0, "End": True,
        "ItemProcessor": {"StartAt": "Burn", "States": {"Burn": {
            "Type": "Task", "Resource": "python:bench.callables:burn", "End": True}}}}},
}
TRIVIAL_MAP = {
    "StartAt": "Work",
    "States": {"Work": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 0, "End": True,
        "ItemProcessor": {"StartAt": "Step", "States": {"Step": {
            "Type": "Pass", "Parameters": {"i.$": "$.i", "tag": "t"}, "End": True}}}}},
}


def calibrate(ms: float) -> int:
    """Spins of ``burn`` that take about ``ms`` milliseconds of CPU here (best of 5). CPU time,
    not wall time: on a loaded box a wall clock also counts the time the thread waits for a
    CPU, and the items come out lighter. (Loaded, a spin still costs more CPU than on a quiet
    box: the spins vary with the load, record them with the figures.)"""
    spins = 20_000
    best = min(_cpu_timed(lambda: burn({"i": 0, "spins": spins})) for _ in range(5))
    return max(1, int(spins * (ms / 1000) / best))


def _cpu_timed(call: Any) -> float:
    start = time.thread_time()
    call()
    return time.thread_time() - start


def _timed(call: Any) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(machine: Any, payload: Any, runs: int, check: Any, **options: Any) -> list[float]:
    """Warm-up, then ``runs`` timed executions (seconds); each output is checked."""
    times = []
    for n in range(runs + 1):
        elapsed = _one(machine, payload, check, **options)
        if n:
            times.append(elapsed)
    return times


def _one(machine: Any, payload: Any, check: Any, **options: Any) -> float:
    start = time.perf_counter()
    execution = machine.run(payload, history_limit=None, **options)
    elapsed = time.perf_counter() - start
    if execution.status != "SUCCEEDED" or not check(execution.output):
        raise SystemExit(f"wrong result: {execution.status} {execution.error} {execution.cause}")
    return elapsed


def interleaved(machine: Any, payload: Any, warm: Any, runs: int, check: Any,
                executor: Any) -> tuple[list[float], list[float], list[float], list[dict[str, float]]]:
    """In-process and Dask runs alternated (in process, Dask, in process, ...), so that the
    load of a shared machine weighs on both halves alike, after one warm-up of each on the
    small payload ``warm``; the times (seconds) of each, the load average (1 min) at each
    pair's end, and each pair's CPU seconds (``cpu_seconds``: less distorted by load than
    the wall time)."""
    _one(machine, warm, lambda _: True)
    _one(machine, warm, lambda _: True, executor=executor)
    local, remote, loads, cpus = [], [], [], []
    for _ in range(runs):
        before = cpu_seconds(executor)
        local.append(_one(machine, payload, check))
        middle = cpu_seconds(executor)
        remote.append(_one(machine, payload, check, executor=executor))
        after = cpu_seconds(executor)
        loads.append(os.getloadavg()[0])
        cpus.append({"in_process_parent": middle["parent"] - before["parent"],
                     "in_process_idle_workers": middle["workers"] - before["workers"],
                     "dask_parent": after["parent"] - middle["parent"],
                     "dask_workers": after["workers"] - middle["workers"]})
    return local, remote, loads, cpus


def cpu_seconds(executor: Any) -> dict[str, float]:
    """CPU seconds (user + system) used so far by this process and by the worker processes
    together (their ``time.process_time``)."""
    return {"parent": time.process_time(),
            "workers": sum(executor.client.run(time.process_time).values())}


LARGE_MAP = {
    "StartAt": "Rows",
    "States": {"Rows": {
        "Type": "Map", "End": True,
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "CSV"},
                       "Parameters": {"Bucket": "data", "Key": "rows.csv"}},
        "ItemBatcher": {"MaxItemsPerBatch": 1000},
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": "Sum", "States": {"Sum": {
                "Type": "Task", "Resource": "python:bench.callables:sum_values", "End": True}}}}},
}


def large_parent(folder: str, address: str) -> None:
    """The parent of the large run (its own process, so its peak RSS is its own)."""
    import resource

    from statemachine.executors import DaskExecutor

    machine = statemachine.load(Path(folder) / "flow.json", resource_map=Path(folder) / "map.yaml")
    with DaskExecutor(address, client=None) as executor:
        start = time.perf_counter()
        execution = machine.run({}, executor=executor, data_limit=None)
        elapsed = time.perf_counter() - start
    out = execution.output if isinstance(execution.output, list) else []
    print(json.dumps({"status": execution.status, "cause": execution.cause, "batches": len(out),
                      "total": sum(out), "seconds": elapsed,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def large(rows: int, executor: Any) -> dict[str, Any]:
    """``rows``-row CSV through a Distributed Map run by a child process on ``executor``'s cluster."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="sm-bench-dask-") as folder:
        data = Path(folder) / "s3" / "data"
        data.mkdir(parents=True)
        with (data / "rows.csv").open("w") as f:
            f.write("id,value,label\n")
            for n in range(rows):
                f.write(f"{n},{n % 1000},row-{n}\n")
        (Path(folder) / "flow.json").write_text(json.dumps(LARGE_MAP))
        (Path(folder) / "map.yaml").write_text("local_s3: true\n")
        address = "dask://" + executor.client.scheduler.address.removeprefix("tcp://")
        code = f"from bench.dask_map import large_parent; large_parent({folder!r}, {address!r})"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=False, cwd=Path(__file__).resolve().parents[1])
        if proc.returncode:
            raise SystemExit(f"large run failed: {proc.stderr[-2000:]}")
        figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = sum(n % 1000 for n in range(rows))
    if figures["status"] != "SUCCEEDED" or figures["total"] != expected:
        raise SystemExit(f"wrong large result: {figures}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dask_map", description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--ms", type=float, default=20.0, help="CPU milliseconds per cpu item")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="200 items")
    parser.add_argument("--handler-threads", type=int, default=None, metavar="N",
                        help="blocking handlers each worker process runs at once "
                             "(default: the worker's default pool)")
    parser.add_argument("--json", metavar="PATH", help="write the figures here too")
    parser.add_argument("--rows", type=int, default=0,
                        help="also run the large Distributed Map over an N-row CSV")
    parser.add_argument("--only-large", action="store_true", help="only the large run")
    args = parser.parse_args(argv)
    items = 200 if args.quick else args.items
    from statemachine.executors import DaskExecutor

    spins = calibrate(args.ms)
    cpu_items = [{"i": i, "spins": spins} for i in range(items)]
    expected = [burn(cpu_items[0])["sum"]]
    cpu = statemachine.load(CPU_MAP)
    trivial = statemachine.load(TRIVIAL_MAP)
    trivial_items = {"items": [{"i": i} for i in range(items)]}

    def cpu_ok(out: Any) -> bool:
        return len(out) == items and out[0]["sum"] == expected[0] and out[-1]["i"] == items - 1

    def trivial_ok(out: Any) -> bool:
        return out == [{"i": i, "tag": "t"} for i in range(items)]

    load_before = os.getloadavg()
    started = time.perf_counter()
    with DaskExecutor(workers=args.workers, handler_threads=args.handler_threads) as executor:
        cluster_start = time.perf_counter() - started
        if args.rows:
            big = large(args.rows, executor)
            print(f"large: {args.rows:,} CSV rows in batches of 1,000: {big['seconds']:.1f} s, "
                  f"parent peak RSS {big['peak_rss_mb']:.0f} MB (target < 300 MB)")
            if args.only_large:
                return 0
        local_cpu, dask_cpu, cpu_loads, cpu_seconds_ = interleaved(
            cpu, {"items": cpu_items}, {"items": cpu_items[:20]}, args.runs, cpu_ok, executor)
        local_trivial = measure(trivial, trivial_items, max(3, args.runs), trivial_ok)
        dask_trivial = measure(trivial, trivial_items, max(3, args.runs), trivial_ok, executor=executor)
    local_c, dask_c = statistics.median(local_cpu), statistics.median(dask_cpu)
    local_t, dask_t = statistics.median(local_trivial), statistics.median(dask_trivial)
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
        "items": items, "ms_per_item": args.ms, "spins": spins, "workers": args.workers,
        "cluster_start_s": round(cluster_start, 2),
        "cpu_in_process_s": round(local_c, 3), "cpu_dask_s": round(dask_c, 3),
        "cpu_speedup": round(local_c / dask_c, 2),
        "cpu_runs": [{"in_process_s": round(a, 2), "dask_s": round(b, 2), "speedup": round(a / b, 2),
                      "loadavg_1m": round(c, 2), "cpu_s": {k: round(v, 2) for k, v in d.items()}}
                     for a, b, c, d in zip(local_cpu, dask_cpu, cpu_loads, cpu_seconds_, strict=True)],
        "trivial_in_process_s": round(local_t, 3), "trivial_dask_s": round(dask_t, 3),
        "trivial_in_process_us_per_item": round(local_t / items * 1e6, 1),
        "trivial_dask_us_per_item": round(dask_t / items * 1e6, 1),
        "overhead_us_per_item": round((dask_t - local_t) / items * 1e6, 1),
    }
    if args.rows:
        result["large"] = {"rows": args.rows, **big}
    print(f"cpu Map, {items} items x {args.ms:g} ms: in process {local_c:.2f} s, "
          f"Dask {args.workers} workers {dask_c:.2f} s -> {local_c / dask_c:.2f}x "
          f"(target >= 1.7x)")
    for n, pair in enumerate(result["cpu_runs"], 1):
        print(f"  pair {n}: in process {pair['in_process_s']:.2f} s, Dask {pair['dask_s']:.2f} s "
              f"-> {pair['speedup']:.2f}x (load {pair['loadavg_1m']:.2f}); CPU s: in process "
              f"{pair['cpu_s']['in_process_parent']:.1f} (+{pair['cpu_s']['in_process_idle_workers']:.1f} "
              f"idle workers), Dask parent {pair['cpu_s']['dask_parent']:.1f} + workers "
              f"{pair['cpu_s']['dask_workers']:.1f}")
    print(f"trivial Map, {items} items: in process {local_t * 1e6 / items:.0f} us/item, "
          f"Dask {dask_t * 1e6 / items:.0f} us/item (overhead {result['overhead_us_per_item']:.0f} us/item)")
    print(f"cluster start {cluster_start:.1f} s; load average {load_before[0]:.2f} -> "
          f"{result['loadavg_after'][0]:.2f} on {os.cpu_count()} CPUs")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

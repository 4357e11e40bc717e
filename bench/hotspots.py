"""Benchmark tool: where the interpreter's time goes, by cProfile, on the throughput workloads.

In: workload names (default pass_chain, choice_loop, map). Out: for each, the top functions by
own time and by cumulative time, printed as pstats tables. Process start and
``statemachine.load`` are outside the profile: only ``StateMachine.run`` is measured, after a
warm-up run, the same window the benchmark times.
``--py-spy`` samples instead (bench/sampling.py: no per-call overhead); ``--imports`` lists
what `sm run` imports at start, slowest first (cold start).
Usage: python -m bench.hotspots [--only NAME] [--top N] [--runs N] [--quick] [--py-spy] [--imports]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess

from bench import generate
from bench.engines import REPO, sm_command
from bench.ours import load

DEFAULT = ("pass_chain", "choice_loop", "map")


def profile_workload(name: str, *, quick: bool, runs: int, top: int) -> str:
    job = generate.BY_NAME[name].build(quick)
    machine = load({"definition": job.definition, "echo_states": list(job.echo_states)})
    machine.run(job.input, history_limit=None)  # warm-up: lazy imports and caches out of the picture
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        execution = machine.run(job.input, history_limit=None)
    profiler.disable()
    job.check(execution.output)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    out.write(f"=== {name}: {runs} run(s) of {job.transitions:,} transitions, by own time\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write(f"=== {name}: by cumulative time\n")
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def import_times(top: int) -> str:
    """The slowest imports (cumulative) of `sm run trivial.yaml`, from -X importtime."""
    job = generate.trivial()
    argv = [*sm_command(), "run", str(job.path), "--input", json.dumps(job.input)]
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    rows = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            _self, cumulative, name = line.removeprefix("import time:").split("|")
            rows.append((int(cumulative), name.rstrip()[1:]))
    total = sum(c for c, name in rows if not name.startswith(" "))
    lines = [f"=== `sm run` imports: {total / 1000:.0f} ms in top-level imports; slowest:"]
    lines += [f"{c / 1000:8.1f} ms  {name}" for c, name in sorted(rows, reverse=True)[:top]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotspots")
    parser.add_argument("--only", action="append", choices=list(generate.BY_NAME))
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--imports", action="store_true", help="import times of `sm run` instead")
    parser.add_argument("--py-spy", action="store_true", help="sample with py-spy instead")
    parser.add_argument("--seconds", type=float, default=5.0, help="py-spy: sampling time")
    args = parser.parse_args(argv)
    if args.imports:
        print(import_times(args.top))
        return 0
    if args.py_spy:
        from bench import sampling

        for name in args.only or DEFAULT:
            print(sampling.sample(name, seconds=args.seconds, top=args.top))
        return 0
    for name in args.only or DEFAULT:
        print(profile_workload(name, quick=args.quick, runs=args.runs, top=args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

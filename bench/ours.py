"""Benchmark driver for this engine (statemachine-asl), run in a child process.

In: a job file (JSON: definition, input, runs, warmup, echo_states). Out: one JSON object on
stdout, the same shape the peer drivers print: per-run wall times of ``StateMachine.run``
(excluding process start and ``statemachine.load``, which is reported as ``setup``), the last
run's status/output/error/cause, and how many ``*StateEntered`` events its history holds.

``--memory N`` instead runs the compiled machine N times and reports RSS before and after.
Usage: python -m bench.ours JOB.json [--memory N]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from typing import Any

from bench.measure import current_rss_mb

ECHO_RESOURCE = "python:bench.callables:echo"


#: The workloads go past AWS's 25,000-event history limit on purpose (a 100,000-item inline
#: Map, 10,000 transitions): AWS would fail them, the peers have no limit, and the point here
#: is the engine's speed, so the limit is off (statemachine.run(history_limit=None)).
RUN_OPTIONS: dict[str, Any] = {"history_limit": None}

def with_echo_resource(definition: dict[str, Any], states: list[str]) -> dict[str, Any]:
    """The definition with the named Task states calling the bench's Python echo callable."""
    if not states:
        return definition
    copy: dict[str, Any] = json.loads(json.dumps(definition))
    for name in states:
        copy["States"][name]["Resource"] = ECHO_RESOURCE
    return copy


def load(job: dict[str, Any]) -> Any:
    import statemachine

    definition = with_echo_resource(job["definition"], job.get("echo_states") or [])
    return statemachine.load(definition)  # type: ignore[attr-defined, unused-ignore]


def outcome(execution: Any, count_history: bool) -> dict[str, Any]:
    """Status and output; with ``count_history`` also the *StateEntered events in the history
    (off for full-size runs: building 400,000 event dicts would inflate the RSS we measure)."""
    result = {
        "status": execution.status,
        "output": execution.output,
        "error": execution.error,
        "cause": execution.cause,
    }
    if count_history:
        types = (str(e.get("type", "")) for e in execution.history)
        result["history_transitions"] = sum(1 for t in types if t.endswith("StateEntered"))
    return result


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    import statemachine

    result: dict[str, Any] = {
        "engine": "statemachine-asl",
        "version": statemachine.__version__,
        "times": [],
    }
    t0 = time.perf_counter()
    machine = load(job)
    result["setup"] = time.perf_counter() - t0
    for _ in range(int(job.get("warmup", 0))):
        machine.run(job["input"], **RUN_OPTIONS)
    budget_end = time.perf_counter() + float(job.get("budget", 1e9))
    for i in range(int(job["runs"])):
        if i and time.perf_counter() > budget_end:
            break  # at least one run; more only while the time budget lasts
        start = time.perf_counter()
        execution = machine.run(job["input"], **RUN_OPTIONS)
        result["times"].append(time.perf_counter() - start)
        result.update(outcome(execution, bool(job.get("count_history"))))
        if execution.status != "SUCCEEDED":
            break
    return result


def memory_job(job: dict[str, Any], count: int) -> dict[str, Any]:
    """RSS before and after ``count`` runs of one compiled machine (after a warm-up)."""
    machine = load(job)
    for _ in range(min(200, count)):
        machine.run(job["input"], **RUN_OPTIONS)
    gc.collect()
    before = current_rss_mb()
    statuses: dict[str, int] = {}
    for _ in range(count):
        status = machine.run(job["input"], **RUN_OPTIONS).status
        statuses[status] = statuses.get(status, 0) + 1
    gc.collect()
    after = current_rss_mb()
    return {
        "engine": "statemachine-asl",
        "runs": count,
        "rss_before_mb": before,
        "rss_after_mb": after,
        "growth_mb": after - before,
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ours")
    parser.add_argument("job")
    parser.add_argument("--memory", type=int, metavar="N")
    args = parser.parse_args()
    with open(args.job) as handle:
        job = json.load(handle)
    result = memory_job(job, args.memory) if args.memory else run_job(job)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

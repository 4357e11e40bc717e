"""Benchmark: validating one large definition (issue 10: "validate a 20,000-state file").

In: a state count (default 20,000) and a number of runs. Out: the median wall time of one
`sm validate FILE` process (process start, loading with the source map, schema and semantic
passes, the report), for a valid file and for the same file with three broken states (so the
slow, error-describing path is timed too), plus an in-process split of the valid run into
loading and validating. ``python -m bench.validate_large [--states N] [--runs R]`` prints it as
JSON; ``python -m bench`` records it among its extras. The files are written to
bench/workloads/generated/ (gitignored).

The definition mixes what real machines hold, one state kind after another: Pass with a
Parameters template, Task with Retry/Catch/ResultSelector, Choice with an And rule, Wait,
Parallel with two branches, Map with an ItemProcessor, and a JSONata Pass; 20,000 top-level
states (34,000 with the nested ones).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.engines import REPO, sm_command
from bench.generate import GENERATED_DIR
from bench.measure import median, run_process

JSON = Any
STATES = 20_000
#: the target of issue 10 for `sm validate` on a 20,000-state file
TARGET_S = 3.0
_KINDS = ("pass", "task", "choice", "wait", "parallel", "map", "jsonata")


def _state(kind: str, index: int, follow: str) -> dict[str, JSON]:
    if kind == "pass":
        return {"Type": "Pass", "Parameters": {"from.$": "$.last.step", "step": index}, "ResultPath": "$.last"}
    if kind == "task":
        return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": f"fn-{index}", "Payload.$": "$"},
                "ResultSelector": {"body.$": "$.Payload"}, "TimeoutSeconds": 30,
                "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 3,
                           "BackoffRate": 2.0}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": follow}]}
    if kind == "choice":
        return {"Type": "Choice", "Default": follow, "Choices": [
            {"Variable": "$.n", "NumericGreaterThan": index, "Next": follow},
            {"And": [{"Variable": "$.s", "StringEquals": f"v{index}"},
                     {"Variable": "$.b", "BooleanEquals": True}], "Next": follow}]}
    if kind == "wait":
        return {"Type": "Wait", "Seconds": 1 + index % 5}
    if kind == "parallel":
        return {"Type": "Parallel", "Branches": [
            {"StartAt": f"A{index}", "States": {f"A{index}": {"Type": "Pass", "End": True}}},
            {"StartAt": f"B{index}", "States": {f"B{index}": {"Type": "Wait", "Seconds": 1, "End": True}}}]}
    if kind == "map":
        return {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 4,
                "ItemSelector": {"value.$": "$$.Map.Item.Value"},
                "ItemProcessor": {"StartAt": f"I{index}", "States": {f"I{index}": {"Type": "Pass", "End": True}}}}
    return {"Type": "Pass", "QueryLanguage": "JSONata", "Output": {"x": f"{{% $states.input.x + {index} %}}"}}


def large_definition(count: int = STATES) -> dict[str, JSON]:
    """A valid definition with ``count`` top-level states in one chain (the last a Succeed)."""
    names = [f"S{i}" for i in range(count)]
    states: dict[str, JSON] = {}
    for i, name in enumerate(names[:-1]):
        kind = _KINDS[i % len(_KINDS)]
        state = _state(kind, i, names[i + 1])
        if kind != "choice":
            state["Next"] = names[i + 1]
        states[name] = state
    states[names[-1]] = {"Type": "Succeed"}
    return {"Comment": f"bench: {count} states", "StartAt": names[0], "States": states}


def broken(definition: dict[str, JSON]) -> dict[str, JSON]:
    """The same definition with three mistakes: a misspelt Type, a misspelt field, a bad Next."""
    states = json.loads(json.dumps(definition["States"]))
    names = list(states)
    states[names[len(names) // 4]]["Type"] = "Paralel"
    states[names[len(names) // 2]]["IntervalSecond"] = 3
    last_with_next = next(name for name in reversed(names) if "Next" in states[name])
    states[last_with_next]["Next"] = "Nowhere"  # the states after it become unreachable
    return {**definition, "States": states}


def write(count: int = STATES) -> tuple[Path, Path]:
    """(valid file, broken file) under bench/workloads/generated/."""
    GENERATED_DIR.mkdir(parents=True, exist_ok=True)
    definition = large_definition(count)
    paths = GENERATED_DIR / f"validate_{count}.json", GENERATED_DIR / f"validate_{count}_broken.json"
    for path, data in zip(paths, (definition, broken(definition)), strict=True):
        path.write_text(json.dumps(data, indent=1))
    return paths


def _in_process(path: Path) -> dict[str, float]:
    """Load and validate times of one run in a fresh interpreter (imports excluded)."""
    code = (
        "import json, sys, time\n"
        "from statemachine.loader import load_source\n"
        "from statemachine.validation import validate\n"
        "t0 = time.perf_counter(); doc = load_source(sys.argv[1]); t1 = time.perf_counter()\n"
        "found = validate(doc); t2 = time.perf_counter()\n"
        "print(json.dumps({'load_s': t1 - t0, 'validate_s': t2 - t1, 'diagnostics': len(found)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True, cwd=REPO)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def measure(count: int = STATES, runs: int = 3) -> dict[str, JSON]:
    """Median `sm validate` wall time on the valid and the broken file, and the in-process split."""
    valid, bad = write(count)
    result: dict[str, JSON] = {"states": count, "runs": runs, "ok": True, "reason": ""}
    for key, path, expected_exit in (("valid", valid, 0), ("broken", bad, 1)):
        walls, rss = [], 0.0
        for _ in range(runs):
            proc = run_process([*sm_command(), "validate", str(path)], cwd=REPO, timeout=600)
            walls.append(proc.wall)
            rss = max(rss, proc.max_rss_mb or 0.0)
            if proc.returncode != expected_exit:
                result["ok"] = False
                result["reason"] = f"{key}: exit {proc.returncode}: {(proc.stdout + proc.stderr)[-300:]}"
        result[f"{key}_wall_s"] = median(walls)
        result[f"{key}_max_rss_mb"] = rss
    result["split"] = _in_process(valid)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.validate_large", description=__doc__.split("\n\n")[0])
    parser.add_argument("--states", type=int, default=STATES, help=f"top-level states (default {STATES:,})")
    parser.add_argument("--runs", type=int, default=3, help="`sm validate` runs per file (median)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = measure(args.states, args.runs)
    result["total_s"] = time.perf_counter() - started
    print(json.dumps(result, indent=1))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

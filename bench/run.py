"""Benchmark runner: every workload on every engine, medians, ratios, targets, report.

In: command-line options (``python -m bench --help``). Out: a table on stdout (markdown), the
full results as JSON (``--json``, default bench/results/latest.json), and exit status 0 when
every workload ran on this engine with the right output, 1 otherwise. Each engine runs each
workload in its own child process (bench/measure.py), so peak RSS is that run's own.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import generate, report, validate_large
from bench.engines import ENGINES, PEERS, REPO, Engine, ensure, sm_command
from bench.generate import Job, Workload, WrongOutput
from bench.measure import ProcessResult, median, run_process

#: ours counts *StateEntered history events (checked against Job.transitions) up to this size
COUNT_HISTORY_UP_TO = 2_500
#: drivers stop repeating a workload once this many seconds are spent (always one run at least)
RUN_BUDGET_S = 20.0
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"
README = Path(__file__).resolve().parent / "README.md"


@dataclass(frozen=True, slots=True)
class EngineResult:
    engine: str
    status: str  # ok | missing | unsupported | failed | wrong-output | error
    reason: str = ""
    wall_s: float | None = None  # median execution time (cold start: whole process)
    transitions_per_s: float | None = None
    max_rss_mb: float | None = None  # peak RSS of the child process that ran it
    setup_s: float | None = None  # load/compile (ours), constructor, create_state_machine
    runs: int = 0
    version: str | None = None
    history_transitions: int | None = None  # *StateEntered events in the last run (ours only)


def _job_file(job: Job, directory: Path, runs: int, warmup: int) -> Path:
    """The job as the drivers read it; small jobs also ask ours to count history events."""
    path = directory / f"{job.name}.job.json"
    path.write_text(
        json.dumps(
            {
                "definition": job.definition,
                "input": job.input,
                "runs": runs,
                "warmup": warmup,
                "echo_states": list(job.echo_states),
                "count_history": job.transitions <= COUNT_HISTORY_UP_TO,
                "budget": RUN_BUDGET_S,
            }
        )
    )
    return path


def _judge(engine: Engine, job: Job, proc: ProcessResult) -> EngineResult | dict[str, Any]:
    """The driver's JSON when the run succeeded with the right output, else a failed result."""
    if proc.timed_out:
        return EngineResult(engine.key, "failed", f"timed out after {proc.wall:.0f} s")
    try:
        data = proc.json()
    except ValueError as exc:
        return EngineResult(engine.key, "error", f"exit {proc.returncode}: {str(exc)[-400:]}")
    if data.get("status") != "SUCCEEDED":
        why = f"{data.get('status')}: {data.get('error')}: {str(data.get('cause'))[:200]}"
        return EngineResult(engine.key, "failed", why, version=data.get("version"))
    try:
        job.check(data.get("output"))
    except WrongOutput as exc:
        return EngineResult(engine.key, "wrong-output", str(exc)[:300], version=data.get("version"))
    return data


def measure_throughput(
    engine: Engine, job: Job, runs: int, warmup: int, workdir: Path
) -> EngineResult:
    """Run ``job`` ``runs`` times in one child process of ``engine``; median of the runs."""
    path = _job_file(job, workdir, runs, warmup)
    proc = run_process(engine.argv(path), cwd=REPO, timeout=900)
    judged = _judge(engine, job, proc)
    if isinstance(judged, EngineResult):
        return judged
    wall = median(judged["times"])
    tps = job.transitions / wall if wall else None
    return EngineResult(
        engine.key,
        "ok",
        wall_s=wall,
        transitions_per_s=tps,
        max_rss_mb=proc.max_rss_mb,
        setup_s=judged.get("setup"),
        runs=len(judged["times"]),
        version=judged.get("version"),
        history_transitions=judged.get("history_transitions"),
    )


def _sm_run_argv(job: Job) -> list[str]:
    return [*sm_command(), "run", str(job.path), "--input", json.dumps(job.input)]


def measure_cold_start(engine: Engine, job: Job, runs: int, workdir: Path) -> EngineResult:
    """Whole-process wall and peak RSS: `sm run` for us, the driver doing one run for peers.

    Ours is measured as an installed user sees it: bytecode compiled (pip compiles a wheel's
    modules at install; an editable checkout under PYTHONDONTWRITEBYTECODE=1, as here, never
    would) and after one untimed run, which stores the definition's clean validation verdict
    (statemachine.validation_cache) the way any second `sm run` of a file finds it.
    """
    walls: list[float] = []
    rss: list[float] = []
    version: str | None = None
    if engine.key == "ours":
        _compile_bytecode()
        run_process(_sm_run_argv(job), cwd=REPO, timeout=120)
    for _ in range(runs):
        if engine.key == "ours":
            proc = run_process(_sm_run_argv(job), cwd=REPO, timeout=120)
            problem = _check_sm_run(job, proc)
        else:
            proc = run_process(engine.argv(_job_file(job, workdir, 1, 0)), cwd=REPO, timeout=120)
            judged = _judge(engine, job, proc)
            if isinstance(judged, EngineResult):
                return judged
            problem, version = None, judged.get("version")
        if problem is not None:
            return problem
        walls.append(proc.wall)
        rss.append(proc.max_rss_mb)
    wall = median(walls)
    return EngineResult(engine.key, "ok", "", wall, None, max(rss), None, runs, version)


def _compile_bytecode() -> None:
    """Write __pycache__ for the package (and its cli/ and schemas/ folders) like pip does."""
    import compileall

    for folder in ("statemachine", "cli", "schemas"):
        compileall.compile_dir(REPO / folder, quiet=1)


def _check_sm_run(job: Job, proc: ProcessResult) -> EngineResult | None:
    if proc.returncode != 0:
        return EngineResult(
            "ours", "failed", f"sm run exited {proc.returncode}: {proc.stderr[-300:]}"
        )
    try:
        job.check(json.loads(proc.stdout))
    except ValueError:
        return EngineResult("ours", "error", f"sm run printed no JSON: {proc.stdout[:200]!r}")
    except WrongOutput as exc:
        return EngineResult("ours", "wrong-output", str(exc)[:300])
    return None


def measure_workload(
    workload: Workload, engines: dict[str, str | None], args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    """One workload on every engine: {"workload", "transitions", "results": {key: EngineResult}}."""
    job = workload.build(args.quick)
    results: dict[str, EngineResult] = {}
    for key, missing in engines.items():
        engine = ENGINES[key]
        if missing is not None:
            results[key] = EngineResult(key, "missing", missing)
        elif (why := engine.unsupported(job, workload.kind)) is not None:
            results[key] = EngineResult(key, why.split(":")[0], why)
        elif workload.kind == "cold-start":
            results[key] = measure_cold_start(engine, job, min(args.runs, engine.max_runs), workdir)
        else:
            runs = 1 if workload.kind == "memory" else min(args.runs, engine.max_runs)
            warmup = 0 if workload.kind == "memory" or key == "moto" else 1
            results[key] = measure_throughput(engine, job, runs, warmup, workdir)
        _progress(workload, results[key])
    return {
        "number": workload.number,
        "workload": workload.name,
        "title": workload.title,
        "kind": workload.kind,
        "transitions": job.transitions,
        "results": {k: asdict(v) for k, v in results.items()},
    }


def _progress(workload: Workload, result: EngineResult) -> None:
    figure = f"{result.wall_s:.4f} s" if result.wall_s is not None else result.reason[:120]
    print(
        f"  [{workload.number}] {workload.name:<14} {result.engine:<5} {result.status:<12} "
        f"{figure}",
        file=sys.stderr,
        flush=True,
    )


# --- measurements beyond the workload table ---------------------------------------------------


def memory_growth(quick: bool, workdir: Path) -> dict[str, Any]:
    """RSS before/after running one compiled machine 10,000 times (a short choice loop)."""
    count = 300 if quick else 10_000
    job = generate.choice_loop(3)
    proc = run_process(
        [*ENGINES["ours"].argv(_job_file(job, workdir, 1, 0)), "--memory", str(count)],
        cwd=REPO,
        timeout=900,
    )
    try:
        return {"ok": proc.returncode == 0, **proc.json()}
    except ValueError as exc:
        return {"ok": False, "reason": str(exc)[-400:]}


def validate_many(quick: bool, workdir: Path) -> dict[str, Any]:
    """Wall time of one `sm validate` call on 200 generated definitions."""
    count = 10 if quick else 200
    paths = generate.validate_corpus(workdir / "validate", count)
    proc = run_process([*sm_command(), "validate", *map(str, paths)], cwd=REPO, timeout=300)
    return {
        "ok": proc.returncode == 0,
        "definitions": count,
        "wall_s": proc.wall,
        "max_rss_mb": proc.max_rss_mb,
        "reason": ""
        if proc.returncode == 0
        else f"exit {proc.returncode}: {(proc.stdout + proc.stderr)[-300:]}",
    }


def environment(engines: dict[str, str | None], table: list[dict[str, Any]]) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for row in table:
        for key, result in row["results"].items():
            versions[key] = versions.get(key) or result.get("version")
    node = shutil.which("node")
    node_version = (
        subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
        if node
        else None
    )
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "python": platform.python_version(),
        "node": node_version,
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        "cpus": _cpu_count(),
        "versions": versions,
        "missing": {k: v for k, v in engines.items() if v is not None},
    }


def _cpu_count() -> int | None:
    import os

    return os.cpu_count()


# --- command line -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"workload(s) to run: {', '.join(generate.BY_NAME)} (repeatable)",
    )
    parser.add_argument(
        "--runs", type=int, help="runs per workload and engine (default 5, quick 1)"
    )
    parser.add_argument(
        "--peers",
        default=",".join(PEERS),
        help="comma-separated peers to compare (als, moto) or 'none'",
    )
    parser.add_argument("--no-install", action="store_true", help="do not install missing peers")
    parser.add_argument(
        "--no-extras",
        action="store_true",
        help="skip the memory-growth and `sm validate` measurements (200 files, one 20,000-state file)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help=f"results file (default {DEFAULT_JSON})"
    )
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    parser.add_argument(
        "--readme", action="store_true", help="put the report into bench/README.md's Results"
    )
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 5)
    unknown = [n for n in args.only or [] if n not in generate.BY_NAME]
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; known: {', '.join(generate.BY_NAME)}")
    peers = [] if args.peers == "none" else [p.strip() for p in args.peers.split(",") if p.strip()]
    if any(p not in PEERS for p in peers):
        parser.error(f"--peers takes {', '.join(PEERS)} or none")
    args.engine_keys = ["ours", *peers]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    engines = {
        k: ensure(ENGINES[k], install=not args.no_install and k != "ours") for k in args.engine_keys
    }
    selected = [w for w in generate.WORKLOADS if not args.only or w.name in args.only]
    with tempfile.TemporaryDirectory(prefix="sm-bench-") as tmp:
        workdir = Path(tmp)
        table = [measure_workload(w, engines, args, workdir) for w in selected]
        extras = (
            {}
            if args.no_extras or engines["ours"] is not None
            else {
                "memory_growth": memory_growth(args.quick, workdir),
                "validate": validate_many(args.quick, workdir),
                "validate_large": validate_large.measure(500 if args.quick else validate_large.STATES, 1 if args.quick else 3),
            }
        )
    command = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
    results = {
        "command": command,
        "quick": args.quick,
        "runs": args.runs,
        "environment": environment(engines, table),
        "workloads": table,
        "extras": extras,
    }
    results["targets"] = report.targets(results)
    text = report.render(results)
    print(text)
    out = args.json or DEFAULT_JSON
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.readme:
        report.update_readme(README, text)
    ours_ok = all(row["results"]["ours"]["status"] == "ok" for row in table)
    return 0 if ours_ok and all(e.get("ok", True) for e in extras.values()) else 1

"""Benchmark stage: the engines compared -- this one and the peers -- as a table.

In: an engine key ("ours", "als", "moto"). Out: how to install it (peers only, into
bench/.peers/, which is gitignored: never vendored, never committed), whether it is there
("missing" with the reason otherwise), which workloads it cannot run, and the argv of its
driver for a job file. Every driver prints the same JSON shape (see bench/ours.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.generate import Job

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / ".peers"
MOTO_VENV = PEERS_DIR / "moto"
MOTO_PYTHON = MOTO_VENV / "bin" / "python"
NODE_DIR = PEERS_DIR / "node"
ALS_PACKAGE = NODE_DIR / "node_modules" / "aws-local-stepfunctions" / "package.json"
# Pinned to the versions the reference figures were measured with.
MOTO_REQUIREMENT = "moto[stepfunctions]==5.2.5"
ALS_REQUIREMENT = "aws-local-stepfunctions@3.0.0"


@dataclass(frozen=True, slots=True)
class Engine:
    key: str
    label: str
    missing: Callable[[], str | None]  # None when installed, else why not
    install: Callable[[], str | None]  # None on success, else the error
    argv: Callable[[Path], list[str]]  # driver command for a job file
    unsupported: Callable[[Job, str], str | None]  # (job, workload kind) -> reason or None
    max_runs: int = 1_000


def _run(argv: list[str], cwd: Path | None = None) -> str | None:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(argv[:3])}: {exc}"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return f"{' '.join(argv[:4])} exited {done.returncode}: {' / '.join(tail)}"
    return None


# --- ours ----------------------------------------------------------------------------------


def _ours_missing() -> str | None:
    try:
        import statemachine
    except ImportError as exc:
        return f"statemachine not importable: {exc}"
    return None if hasattr(statemachine, "load") else "statemachine.load() not available yet"


OURS = Engine(
    "ours",
    "statemachine-asl",
    _ours_missing,
    lambda: None,
    lambda job: [sys.executable, "-m", "bench.ours", str(job)],
    lambda job, kind: None,
)


# --- moto ----------------------------------------------------------------------------------


def _moto_missing() -> str | None:
    if not MOTO_PYTHON.is_file():
        return f"no venv at {MOTO_VENV.relative_to(REPO)}"
    probe = _run([str(MOTO_PYTHON), "-c", "import moto, boto3"])
    return None if probe is None else f"moto not importable: {probe}"


def _moto_install() -> str | None:
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    return _run([base, "-m", "venv", str(MOTO_VENV)]) or _run(
        [str(MOTO_PYTHON), "-m", "pip", "install", "-q", MOTO_REQUIREMENT, "boto3"]
    )


def _moto_unsupported(job: Job, kind: str) -> str | None:
    if "python-task" in job.features:
        return "unsupported: Task resources are Lambda functions run in Docker"
    if kind == "memory" and job.transitions > 20_000:
        return (
            "skipped: moto runs inline Maps at a few hundred transitions/s (workload 4), "
            f"so {job.transitions:,} transitions would take minutes"
        )
    return None


MOTO = Engine(
    "moto",
    "moto",
    _moto_missing,
    _moto_install,
    lambda job: [str(MOTO_PYTHON), str(BENCH_DIR / "peers" / "moto_driver.py"), str(job)],
    _moto_unsupported,
    max_runs=3,
)


# --- aws-local-stepfunctions ---------------------------------------------------------------


def _als_missing() -> str | None:
    if shutil.which("node") is None:
        return "node not found on PATH"
    return None if ALS_PACKAGE.is_file() else f"not installed in {NODE_DIR.relative_to(REPO)}"


def _als_install() -> str | None:
    npm = shutil.which("npm")
    if npm is None:
        return "npm not found on PATH"
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    if not (NODE_DIR / "package.json").is_file():
        (NODE_DIR / "package.json").write_text('{"name": "bench-peers", "private": true}\n')
    return _run([npm, "install", "--no-audit", "--no-fund", ALS_REQUIREMENT], cwd=NODE_DIR)


ALS = Engine(
    "als",
    "aws-local-stepfunctions",
    _als_missing,
    _als_install,
    lambda job: ["node", str(BENCH_DIR / "peers" / "als_driver.mjs"), str(NODE_DIR), str(job)],
    lambda job, kind: None,
)

ENGINES: dict[str, Engine] = {e.key: e for e in (OURS, ALS, MOTO)}
PEERS: tuple[str, ...] = ("als", "moto")


def ensure(engine: Engine, *, install: bool) -> str | None:
    """None when the engine can run; else the reason it is missing (after trying to install)."""
    reason = engine.missing()
    if reason is None or not install:
        return reason
    error = engine.install()
    if error is not None:
        return f"install failed: {error}"
    return engine.missing()


def sm_command() -> list[str]:
    """The `sm` console script of this interpreter's environment (or its module form)."""
    script = Path(sys.executable).parent / "sm"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "statemachine.cli"]

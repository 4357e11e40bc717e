"""Benchmark tool: a sampling profile (py-spy) of ``StateMachine.run`` on one workload.

cProfile's per-call overhead inflates small functions, and this interpreter's hot path is
made of small functions; py-spy samples the unmodified process instead. In: a workload name.
Out: the functions where samples landed (own) and the frames they passed through (inclusive),
as a share of the samples taken inside ``StateMachine.run`` (loading/compiling is excluded).
py-spy is installed on first use from PyPI into bench/.peers/pyspy (gitignored).
Usage: python -m bench.hotspots --py-spy [--only NAME] [--seconds S]
"""

from __future__ import annotations

import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import generate
from bench.engines import PEERS_DIR, REPO
from bench.ours import load

PYSPY_DIR = PEERS_DIR / "pyspy"
PYSPY = PYSPY_DIR / "bin" / "py-spy"
WINDOW = "StateMachine.run"


def ensure_pyspy() -> Path:
    if not PYSPY.is_file():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", str(PYSPY_DIR), "py-spy"],
            check=True,
        )
    return PYSPY


def loop(name: str, seconds: float) -> None:
    """Run one compiled workload repeatedly for ``seconds`` (the process py-spy samples)."""
    job = generate.BY_NAME[name].build(False)
    machine = load({"definition": job.definition, "echo_states": list(job.echo_states)})
    end = time.perf_counter() + seconds
    execution = machine.run(job.input, history_limit=None)
    while time.perf_counter() < end:
        execution = machine.run(job.input, history_limit=None)
    job.check(execution.output)


def _short(frame: str) -> str:
    function, _, location = frame.partition(" (")
    path = location.rstrip(")").rsplit(":", 1)[0]
    return f"{function} ({'/'.join(Path(path).parts[-2:])})"


def summarise(raw: Path, top: int) -> str:
    """Own and inclusive shares of the samples under StateMachine.run, from py-spy's raw output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_short(f) for f in stack.split(";")]
        start = next((i for i, f in enumerate(frames) if WINDOW in f), None)
        if start is None:
            continue
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames[start:]):
            inclusive[frame] += int(count)
    lines = [f"{total} samples in {WINDOW}; own time:"]
    lines += [f"{100 * c / total:5.1f}%  {f}" for f, c in own.most_common(top)]
    lines += ["inclusive:"]
    lines += [f"{100 * c / total:5.1f}%  {f}" for f, c in inclusive.most_common(top)]
    return "\n".join(lines)


def sample(name: str, *, seconds: float, top: int) -> str:
    pyspy = ensure_pyspy()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.txt"
        child = [sys.executable, "-m", "bench.sampling", name, str(seconds)]
        argv = [str(pyspy), "record", "--format", "raw", "-r", "1000", "-o", str(raw), "--", *child]
        subprocess.run(argv, cwd=REPO, check=True, capture_output=True)
        return f"=== {name} (py-spy, {seconds:g} s)\n" + summarise(raw, top)


if __name__ == "__main__":
    loop(sys.argv[1], float(sys.argv[2]))

"""Benchmark stage 2: run one measured child process and collect what it cost.

In: an argv (an engine driver plus a job file, or `sm run ...`). Out: a `ProcessResult` with
stdout, stderr, exit status, wall time of the whole process and its own peak RSS. The RSS is
taken from ``os.wait4`` on that one child, so it is the child's (and its waited-for children's)
peak, not the runner's and not an earlier child's -- which ``getrusage(RUSAGE_CHILDREN)`` would
mix in.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RSS_UNIT_BYTES = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux


@dataclass(frozen=True, slots=True)
class ProcessResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    wall: float  # seconds, whole process
    max_rss_mb: float  # peak resident set size of the child, MiB
    timed_out: bool = False

    def json(self) -> dict[str, Any]:
        """The last line of stdout parsed as JSON (drivers print one object)."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        if not lines:
            raise ValueError(f"no output from {' '.join(self.argv)}: {self.stderr[-2000:]}")
        value = json.loads(lines[-1])
        if not isinstance(value, dict):
            raise ValueError(f"driver printed {type(value).__name__}, not an object")
        return value


def run_process(
    argv: list[str],
    *,
    cwd: Path | None = None,
    timeout: float = 600.0,
    env: dict[str, str] | None = None,
) -> ProcessResult:
    """Run ``argv`` to completion; measure its wall time and its own peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        killed: list[bool] = []
        timer = threading.Timer(timeout, _kill_group, args=(proc.pid, killed))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        return ProcessResult(
            tuple(argv),
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            wall,
            usage.ru_maxrss * RSS_UNIT_BYTES / 2**20,
            timed_out=bool(killed),
        )


def _kill_group(pid: int, killed: list[bool]) -> None:
    killed.append(True)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def current_rss_mb() -> float:
    """This process's resident set size now (Linux /proc; ru_maxrss elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * RSS_UNIT_BYTES / 2**20

"""Fixtures for the CLI tests: run the real ``sm`` (``python -m statemachine.cli``) in a
subprocess, with pipes (so output is plain text), and check it never shows a traceback."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fixtures.sm import Runner
from tests.fixtures.sm import run_sm as _run_sm

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sm() -> Runner:
    """``sm(*args, stdin=None, cwd=None)`` -> CompletedProcess (text, pipes)."""
    return _run_sm


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def definitions() -> Path:
    return REPO / "definitions"


def _run_sm_on_terminal(
    *args: str | os.PathLike[str], cwd: Path | None = None
) -> tuple[int, str, str]:
    """``sm ARGS`` with stderr (and stdout unless ``--json``) on a pseudo-terminal; returns
    (exit code, what the terminal showed, what went to the stdout pipe)."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "statemachine.cli", *map(str, args)],
        cwd=cwd or REPO,
        stdin=slave,
        stdout=subprocess.PIPE if "run" in map(str, args) else slave,
        stderr=slave,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "120"},
    )
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 120  # a hung child fails the test instead of hanging it
    while True:
        if time.monotonic() > deadline:
            process.kill()
            os.close(master)
            process.communicate(timeout=10)
            pytest.fail(f"sm {' '.join(map(str, args))} did not finish within 120 s; screen so far:\n"
                        + screen.decode(errors="replace"))
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            screen += chunk
        elif process.poll() is not None:
            break
    os.close(master)
    stdout = process.communicate(timeout=60)[0]
    text = screen.decode(errors="replace")
    assert "Traceback" not in text
    return process.returncode, text, (stdout or b"").decode()


@pytest.fixture
def sm_tty() -> Callable[..., tuple[int, str, str]]:
    """``sm_tty(*args)`` -> (exit code, terminal text, stdout): ``sm`` as a person sees it."""
    try:
        for fd in os.openpty():
            os.close(fd)
    except (AttributeError, OSError) as exc:  # no pseudo-terminals here (Windows, locked-down CI)
        pytest.skip(f"needs a POSIX pseudo-terminal: {exc}")
    return _run_sm_on_terminal

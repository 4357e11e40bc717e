"""Fixtures for the CLI tests: run the real ``sm`` (``python -m statemachine.cli``) in a
subprocess, with pipes (so output is plain text), and check it never shows a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

Runner = Callable[..., subprocess.CompletedProcess[str]]


def _run_sm(
    *args: str | os.PathLike[str],
    stdin: str | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **(env or {})}
    environment.pop("FORCE_COLOR", None)
    result = subprocess.run(
        [sys.executable, "-m", "statemachine.cli", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        errors="replace",
        cwd=cwd or REPO,
        timeout=timeout,
        env=environment,
        check=False,
    )
    # Whatever the input, a user never sees a Python traceback.
    assert "Traceback (most recent call last)" not in result.stdout + result.stderr, result.stderr
    return result


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

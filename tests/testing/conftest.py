"""Fixtures for the offline-testing tests: the repo paths and a subprocess ``sm`` runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

Runner = Callable[..., subprocess.CompletedProcess[str]]


def _run_sm(*args: str | os.PathLike[str], cwd: Path | None = None,
            env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment.pop("SFN_MOCK_CONFIG", None)  # only a test that sets it sees it
    environment.update(env or {})
    result = subprocess.run([sys.executable, "-m", "statemachine.cli", *map(str, args)],
                            capture_output=True, text=True, cwd=cwd or REPO, env=environment,
                            input=stdin, stdin=subprocess.DEVNULL if stdin is None else None,
                            timeout=120, check=False)
    assert "Traceback (most recent call last)" not in result.stdout + result.stderr, result.stderr
    return result


@pytest.fixture
def sm() -> Runner:
    return _run_sm


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES

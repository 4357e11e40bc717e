"""Fixtures for the offline-testing tests: the repo paths and a subprocess ``sm`` runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.sm import Runner
from tests.fixtures.sm import run_sm as _run_sm

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def sm() -> Runner:
    return _run_sm


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES

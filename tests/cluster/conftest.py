"""Fixtures of the Dask executor tests: one LocalCluster of two worker processes for the
whole session (starting one takes seconds); the tests skip with a message without dask."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def dask_or_skip() -> None:
    pytest.importorskip("distributed", reason="dask.distributed is not installed "
                        "(pip install 'statemachine-asl[dask]')")


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[Any]:
    """A DaskExecutor on a LocalCluster with 2 worker processes, shared by the session."""
    dask_or_skip()
    from statemachine.executors import DaskExecutor

    executor = DaskExecutor(workers=2, connect_timeout=120)  # a loaded shared box starts slowly
    try:
        yield executor
    finally:
        executor.close()

"""The conformance cases that use Map or Parallel, run through the Dask executor: same status,
output, error/cause and history event types as AWS recorded (and as the in-process run)."""

from __future__ import annotations

import json
import pickle
import random
import re
from typing import Any

import pytest

import statemachine
from tests.conformance import corpus
from tests.conformance.known_failures import KNOWN_FAILURES
from tests.conformance.test_execution_cases import check_execution
from tests.conformance.test_services_cases import resource_map


def _uses_map_or_parallel(value: Any) -> bool:
    if isinstance(value, dict):
        if value.get("Type") in ("Map", "Parallel"):
            return True
        return any(_uses_map_or_parallel(v) for v in value.values())
    if isinstance(value, list):
        return any(_uses_map_or_parallel(v) for v in value)
    return False


def _params(known_failures: bool = True) -> list[Any]:
    params = []
    for case in corpus.select(status={"SUCCEEDED", "FAILED"}):
        if not _uses_map_or_parallel(case.definition):
            continue
        marks = []
        if known_failures and case.id in KNOWN_FAILURES:  # fails in process too: not this executor's to fix
            marks.append(pytest.mark.xfail(reason=KNOWN_FAILURES[case.id], strict=False))
        params.append(pytest.param(case, id=case.id, marks=marks))
    if not params:
        params.append(pytest.param(None, marks=pytest.mark.skip(
            reason="conformance corpus not found: set SM_CONFORMANCE_DIR")))
    return params


@pytest.mark.parametrize("case", _params())
def test_case_on_dask(case: corpus.Case, dask_cluster: Any) -> None:
    options: dict[str, Any] = {}
    if case.path.startswith("cases_services/"):
        options["resource_map"] = resource_map(case)
    machine_type = case.data.get("state_machine_type", "STANDARD")
    machine = statemachine.load(case.definition, machine_type=machine_type, **options)
    machine.compiled = pickle.loads(pickle.dumps(machine.compiled))
    execution = machine.run(case.data.get("input"), virtual_time=True, rng=random.Random(0),
                            executor=dask_cluster)
    problems = check_execution(case, execution)
    assert not problems, "\n".join(problems)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _masked(value: Any) -> Any:
    """Random draws (UUIDs: map run ids, request ids) masked: a remote unit draws from its own
    seed, so they differ from the in-process run's (README, "Running on a cluster")."""
    return json.loads(_UUID.sub("<uuid>", json.dumps(value, default=str)))


def _events(execution: Any) -> list[tuple[Any, ...]]:
    return [(e["id"], e["previousEventId"], e["type"],
             _masked({k: v for k, v in e.items() if k.endswith("EventDetails")}), ev.path)
            for e, ev in zip(execution.history, execution.events, strict=True)]


@pytest.mark.parametrize("case", _params(known_failures=False))
def test_same_history_as_in_process(case: corpus.Case, dask_cluster: Any) -> None:
    """Timestamps aside, the Dask run records the in-process run's events: same ids, links,
    details (inputs, outputs, error texts quoting event ids) and branch/iteration paths."""
    options: dict[str, Any] = {}
    if case.path.startswith("cases_services/"):
        options["resource_map"] = resource_map(case)
    machine = statemachine.load(case.definition, machine_type=case.data.get(
        "state_machine_type", "STANDARD"), **options)
    here = machine.run(case.data.get("input"), virtual_time=True, seed=7)
    there = machine.run(case.data.get("input"), virtual_time=True, seed=7, executor=dask_cluster)
    assert (there.status, there.error) == (here.status, here.error)
    assert _masked(there.cause) == _masked(here.cause)
    assert _masked(there.output) == _masked(here.output)
    assert _events(there) == _events(here)

"""Conformance: every case under cases/ that AWS ran to SUCCEEDED or FAILED, run through the
public API with virtual time and compared with what AWS recorded (status, output, error,
cause, and the history event types when recorded).

``check_execution`` and ``run_case`` are the reusable core (the services runner imports them).
"""

from __future__ import annotations

import collections
import pickle
import random
from collections.abc import Callable, Iterable
from typing import Any

import pytest

import statemachine
from tests.conformance import corpus
from tests.conformance.known_failures import KNOWN_FAILURES

SORTED_NOTE = "re-sorted by the test's snapshot transformer"


def group_of(case: corpus.Case) -> str:
    """Pass-rate group: jsonpath, jsonata or mixed (from the case's query language)."""
    ql = case.query_language
    if ql == "JSONPath":
        return "jsonpath"
    if ql == "JSONata":
        return "jsonata"
    return "mixed"


def check_execution(case: corpus.Case, execution: Any) -> list[str]:
    """Every difference between ``execution`` and what AWS recorded for ``case`` (empty = pass)."""
    expected = case.expected
    problems: list[str] = []
    if execution.status != expected["status"]:
        problems.append(f"status: expected {expected['status']}, got {execution.status} "
                        f"({execution.error}: {execution.cause})")
        return problems
    if expected["status"] == "SUCCEEDED":
        if (m := corpus.match(expected.get("output"), execution.output, "output")) is not None:
            problems.append(m)
    else:
        for key, actual in (("error", execution.error), ("cause", execution.cause)):
            parsed = bool(case.data.get(f"expected_{key}_parsed"))
            m = corpus.match_text_or_json(expected.get(key), actual, parsed, key)
            if m is not None:
                problems.append(m)
    problems.extend(_history_problems(case, [e.type for e in execution.events]))
    return problems


def _history_problems(case: corpus.Case, actual: list[str]) -> Iterable[str]:
    recorded = case.history
    if not recorded or case.data.get("state_machine_type") == "EXPRESS":
        return []
    if SORTED_NOTE in (case.data.get("notes") or ""):
        return _sorted_history_problems(recorded, actual)
    if recorded != actual:
        return [f"history: expected {recorded}, got {actual}"]
    return []


def _sorted_history_problems(recorded: list[str], actual: list[str]) -> list[str]:
    """The snapshot transformer re-sorted events inside Parallel branches: everything before
    the first ParallelStateStarted and after the last ParallelStateExited must match in order,
    the part in between as a multiset."""
    def split(events: list[str]) -> tuple[list[str], list[str], list[str]]:
        if "ParallelStateStarted" not in events or "ParallelStateExited" not in events:
            return events, [], []
        first = events.index("ParallelStateStarted") + 1
        last = len(events) - events[::-1].index("ParallelStateExited") - 1
        return events[:first], events[first:last], events[last:]

    (rec_head, rec_mid, rec_tail), (act_head, act_mid, act_tail) = split(recorded), split(actual)
    if rec_head != act_head or rec_tail != act_tail:
        return [f"history outside Parallel branches: expected {recorded}, got {actual}"]
    if collections.Counter(rec_mid) != collections.Counter(act_mid):
        return [f"history inside Parallel branches (as multiset): expected {sorted(rec_mid)}, "
                f"got {sorted(act_mid)}"]
    return []


def run_case(case: corpus.Case, **load_options: Any) -> Any:
    """Load the case's definition and run it with virtual time and a seeded random source.

    The compiled machine that runs has been through a pickle round trip (issue 10: compiled
    machines are data that can be shipped to another process)."""
    machine_type = case.data.get("state_machine_type", "STANDARD")
    machine = statemachine.load(case.definition, machine_type=machine_type, **load_options)
    machine.compiled = pickle.loads(pickle.dumps(machine.compiled))
    return machine.run(case.data.get("input"), virtual_time=True, rng=random.Random(0))


def case_params(top: str, group: Callable[[corpus.Case], str]) -> list[Any]:
    """The executed cases under ``top`` as pytest params, known failures marked xfail(strict)."""
    params = []
    for case in corpus.select(status={"SUCCEEDED", "FAILED"}, top=top):
        marks = [pytest.mark.conformance(group(case))]
        if case.id in KNOWN_FAILURES:
            marks.append(pytest.mark.xfail(reason=KNOWN_FAILURES[case.id], strict=True))
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


@pytest.mark.parametrize("case", case_params("cases", group_of))
def test_case(case: corpus.Case) -> None:
    execution = run_case(case)
    problems = check_execution(case, execution)
    assert not problems, "\n".join(problems)

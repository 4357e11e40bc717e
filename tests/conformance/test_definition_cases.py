"""Conformance of validation: every definition AWS rejected (INVALID_DEFINITION) is rejected
by ``check``, and every definition AWS ran (cases and cases_services) is accepted without
error diagnostics. Express cases are checked as Express machines.

A disagreement that cannot be fixed yet goes into KNOWN_FAILURES under ``definition:<case id>``
(the plain case id is the execution runner's key: a case can fail there and pass here)."""

from __future__ import annotations

import json

import pytest

from statemachine.validation import check
from tests.conformance.corpus import Case, select
from tests.conformance.known_failures import KNOWN_FAILURES

INVALID = list(select(status={"INVALID_DEFINITION"}))
VALID = list(select(status={"SUCCEEDED", "FAILED"}))


def _marks(case: Case, group: str) -> list[pytest.MarkDecorator]:
    marks = [pytest.mark.conformance(group)]
    reason = KNOWN_FAILURES.get(f"definition:{case.id}")
    if reason is not None:
        marks.append(pytest.mark.xfail(reason=reason, strict=True))
    return marks


def _check(case: Case) -> list[str]:
    definition = case.definition
    machine_type = case.data.get("state_machine_type", "STANDARD")
    source = definition if isinstance(definition, (dict, str)) else json.dumps(definition)
    return [d.format() for d in check(source, machine_type=machine_type) if d.severity == "error"]


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id, marks=_marks(c, "definitions-invalid")) for c in INVALID]
)
def test_invalid_definition_is_rejected(case: Case) -> None:
    assert _check(case), f"accepted, but AWS said: {case.expected.get('message')}"


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id, marks=_marks(c, "definitions-valid")) for c in VALID]
)
def test_valid_definition_is_accepted(case: Case) -> None:
    assert _check(case) == []

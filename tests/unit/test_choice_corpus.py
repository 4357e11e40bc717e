"""Replays the corpus's Choice-operator cases (choice_operators.*, recorded against AWS) directly
on the rule compiler, without the interpreter.

Each of those definitions is one Choice state whose rules lead to Pass states with a literal
``Result``; AWS's recorded output is the ``Result`` of the state it went to. So the branch AWS
took is the state whose ``Result`` equals the expected output, and the compiled rules must pick
the same one (the full runs are covered by tests/conformance).
"""

from __future__ import annotations

from typing import Any

import pytest

from statemachine.expressions.choice import compile_choices
from statemachine.expressions.scope import Scope
from tests.conformance.corpus import Case, all_cases, corpus_dir

CASES = [c for c in all_cases() if c.group.startswith("cases:choice_operators.")]


def _target(case: Case) -> str | None:
    states: dict[str, Any] = case.definition["States"]
    choice = states[case.definition["StartAt"]]
    index = compile_choices(choice["Choices"]).first_match(
        Scope(input=case.data["input"], context={})
    )
    target = choice["Choices"][index]["Next"] if index is not None else choice.get("Default")
    assert target is None or isinstance(target, str)
    return target


def _expected_target(case: Case) -> str:
    states: dict[str, Any] = case.definition["States"]
    output = case.expected["output"]
    (name,) = [
        n for n, s in states.items() if s.get("Type") == "Pass" and s.get("Result") == output
    ]
    return name


@pytest.mark.skipif(corpus_dir() is None, reason="conformance corpus not found")
def test_the_corpus_has_the_choice_operator_cases() -> None:
    assert len(CASES) == 491


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_choice_operator_case(case: Case) -> None:
    assert _target(case) == _expected_target(case)

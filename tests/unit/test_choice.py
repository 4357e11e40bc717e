"""Choice rules (JSONPath mode): every operator, type mismatches, missing paths, combinators.

Expected values come from the AWS Step Functions docs (Choice state, "Choice Rules") and the
conformance corpus (choice_operators.*); the corpus itself is replayed in test_choice_corpus.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from statemachine.expressions.choice import (
    compile_choice_rule,
)
from statemachine.expressions.scope import Scope


def holds(rule: dict[str, Any], value: Any = None, **inputs: Any) -> bool:
    """Evaluate ``rule`` with ``$.v`` = value (plus other input fields)."""
    return compile_choice_rule(rule)(Scope(input={"v": value, **inputs}, context={}))


# --- String ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "operand", "value", "expected"),
    [
        ("StringEquals", "Hello", "Hello", True),
        ("StringEquals", "Hello", "hello", False),
        ("StringEquals", "\t\r\n", "\t\n", False),
        ("StringEquals", "     ", " ", False),
        ("StringLessThan", "AB", "A", True),
        ("StringLessThan", "A", "AB", False),
        ("StringLessThan", "", "", False),
        ("StringGreaterThan", "A", "AB", True),
        ("StringGreaterThan", "A ", "A", False),
        ("StringGreaterThan", "ABC", "AB", False),
        ("StringLessThanEquals", "", "", True),
        ("StringLessThanEquals", "A", "AB", False),
        ("StringGreaterThanEquals", "A", "AB", True),
        ("StringGreaterThanEquals", "AB", "A", False),
    ],
)
def test_string_comparisons(operator: str, operand: str, value: str, expected: bool) -> None:
    assert holds({"Variable": "$.v", operator: operand}, value) is expected
    assert holds({"Variable": "$.v", operator + "Path": "$.o"}, value, o=operand) is expected


@pytest.mark.parametrize("value", [None, 0, 1.5, True, [], ["Hello"], {}, {"A": "Hello"}])
def test_string_operators_are_false_for_non_strings(value: Any) -> None:
    for operator in ("StringEquals", "StringLessThanEquals", "StringGreaterThanEquals"):
        assert holds({"Variable": "$.v", operator: "Hello"}, value) is False
        assert holds({"Variable": "$.v", operator + "Path": "$.o"}, value, o="Hello") is False


def test_string_path_operand_of_another_type_is_false() -> None:
    assert holds({"Variable": "$.v", "StringEqualsPath": "$.o"}, "1", o=1) is False


def test_strings_order_by_utf16_code_units_like_java() -> None:
    # U+1F600 is the surrogate pair D83D DE00, which sorts before U+FFFF in UTF-16.
    assert holds({"Variable": "$.v", "StringLessThan": "\uffff"}, "\U0001f600") is True
    assert holds({"Variable": "$.v", "StringGreaterThan": "\ue000"}, "\U0001f600") is False


# --- StringMatches ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("log-*.txt", "log-2024-01-01.txt", True),
        ("log-*.txt", "log-.txt", True),
        ("log-*.txt", "log-1.txt.gz", False),
        ("foo*.log", "foo23.log", True),
        ("*.log", "zebra.log", True),
        ("foo*.*", "foobar.zebra", True),
        ("*", "", True),
        ("*", "anything at all", True),
        ("", "", True),
        ("", "x", False),
        ("exact", "exact", True),
        ("exact", "exactly", False),
        ("a*b*c", "abc", True),
        ("a*b*c", "aXbYc", True),
        ("a*b*c", "acb", False),
        ("ab*ba", "aba", False),  # the prefix and the suffix may not overlap
        ("*a*a*a*a*a*b", "a" * 2000, False),  # no backtracking blow-up
        ("a?c", "abc", False),  # only * is special
        ("a.c", "abc", False),
        ("[ab]", "a", False),
    ],
)
def test_string_matches(pattern: str, value: str, expected: bool) -> None:
    assert holds({"Variable": "$.v", "StringMatches": pattern}, value) is expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        (r"log-\*.txt", "log-*.txt", True),
        (r"log-\*.txt", "log-1.txt", False),
        (r"a\\b", "a\\b", True),
        (r"a\\*", "a\\anything", True),  # escaped backslash, then a real wildcard
        (r"a\\*", "a", False),
        (r"a\b", "a\\b", True),  # a backslash before another character is literal
        ("a\\", "a\\", True),
        (r"\*", "*", True),
        (r"\*", "x", False),
    ],
)
def test_string_matches_escapes(pattern: str, value: str, expected: bool) -> None:
    assert holds({"Variable": "$.v", "StringMatches": pattern}, value) is expected


@pytest.mark.parametrize("value", [None, 1, True, ["a"], {"a": 1}])
def test_string_matches_non_string_is_false(value: Any) -> None:
    assert holds({"Variable": "$.v", "StringMatches": "*"}, value) is False


# --- Numeric ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "operand", "value", "expected"),
    [
        ("NumericEquals", 1, 1.0, True),
        ("NumericEquals", 1.0, 1, True),
        ("NumericEquals", 0, 0.0, True),
        ("NumericEquals", 2.22, 2.22, True),
        ("NumericEquals", 1, 1.1, False),
        ("NumericLessThan", 1, 0, True),
        ("NumericLessThan", 1, 1.0, False),
        ("NumericLessThan", 0, 0.5, False),
        ("NumericGreaterThan", 0, 1, True),
        ("NumericGreaterThan", 0, 0.0, False),
        ("NumericGreaterThan", -1.5, -1, True),
        ("NumericLessThanEquals", 1, 1.0, True),
        ("NumericLessThanEquals", 0, 1, False),
        ("NumericGreaterThanEquals", 0, 0, True),
        ("NumericGreaterThanEquals", 1, 0.999, False),
        ("NumericEquals", 10**20, 10**20, True),
    ],
)
def test_numeric_comparisons(operator: str, operand: float, value: float, expected: bool) -> None:
    assert holds({"Variable": "$.v", operator: operand}, value) is expected
    assert holds({"Variable": "$.v", operator + "Path": "$.o"}, value, o=operand) is expected


@pytest.mark.parametrize("value", [None, "1", "", " ", [], [1], {}, {"A": 0}, True, False])
def test_numeric_operators_are_false_for_non_numbers(value: Any) -> None:
    operand = 1 if value is True else 0
    for operator in ("NumericEquals", "NumericLessThanEquals", "NumericGreaterThanEquals"):
        assert holds({"Variable": "$.v", operator: operand}, value) is False
        assert holds({"Variable": "$.v", operator + "Path": "$.o"}, value, o=operand) is False


def test_numeric_path_operand_must_be_a_number() -> None:
    assert holds({"Variable": "$.v", "NumericEqualsPath": "$.o"}, 1, o=True) is False
    assert holds({"Variable": "$.v", "NumericEqualsPath": "$.o"}, 1, o="1") is False


# --- Boolean ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operand", "value", "expected"),
    [(True, True, True), (False, False, True), (True, False, False), (False, True, False)],
)
def test_boolean_equals(operand: bool, value: bool, expected: bool) -> None:
    assert holds({"Variable": "$.v", "BooleanEquals": operand}, value) is expected
    assert holds({"Variable": "$.v", "BooleanEqualsPath": "$.o"}, value, o=operand) is expected


@pytest.mark.parametrize("value", [None, 0, 1, 0.0, 1.0, "", "true", "false", [], [True], {}])
def test_boolean_equals_is_false_for_non_booleans(value: Any) -> None:
    assert holds({"Variable": "$.v", "BooleanEquals": True}, value) is False
    assert holds({"Variable": "$.v", "BooleanEquals": False}, value) is False
    assert holds({"Variable": "$.v", "BooleanEqualsPath": "$.o"}, True, o=value) is False

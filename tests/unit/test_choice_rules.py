"""Choice rules (JSONPath mode): timestamps, type tests, missing paths, And/Or/Not, rule tables
and malformed rules.

Timestamp rules from the AWS docs: "Timestamps must conform to the RFC3339 profile of ISO 8601,
with the further restrictions that an uppercase T must separate the date and the time, and an
uppercase Z must denote that a numeric time zone offset is not present".
"""

from __future__ import annotations

from typing import Any

import pytest

from statemachine import errors
from statemachine.errors import StatesError
from statemachine.expressions.choice import (
    ChoiceRuleError,
    compile_choice_rule,
    compile_choices,
    evaluate_choices,
)
from statemachine.expressions.scope import Scope

INVALID_PATH = "Invalid path '{}': The choice state's condition path references an invalid value."


def holds(rule: dict[str, Any], value: Any = None, **inputs: Any) -> bool:
    return compile_choice_rule(rule)(Scope(input={"v": value, **inputs}, context={}))


def runtime_error(rule: dict[str, Any], scope: Scope) -> StatesError:
    predicate = compile_choice_rule(rule)
    with pytest.raises(StatesError) as info:
        predicate(scope)
    assert info.value.name == errors.RUNTIME
    return info.value


# --- Timestamps ------------------------------------------------------------------------------

T = "2012-10-09T19:00:55Z"


@pytest.mark.parametrize(
    ("operator", "operand", "value", "expected"),
    [
        ("TimestampEquals", T, T, True),
        ("TimestampEquals", T, "2012-10-09T19:00:56Z", False),
        ("TimestampEquals", T, "2012-10-09T20:00:55+01:00", True),  # the same instant
        ("TimestampEquals", T, "2012-10-09T14:30:55-04:30", True),
        ("TimestampEquals", T, "2012-10-09T19:00:55.000Z", True),
        ("TimestampEquals", "2012-10-09T19:00:55.1Z", "2012-10-09T19:00:55.100000Z", True),
        ("TimestampEquals", "2012-10-09T19:00:55.000000001Z", T, False),
        ("TimestampLessThan", "2012-10-09T19:00:56Z", T, True),
        ("TimestampLessThan", T, "2012-10-09T19:00:55.999Z", False),
        ("TimestampLessThan", T, "2012-10-09T19:30:55+01:00", True),
        ("TimestampGreaterThan", T, "2012-10-09T19:00:55.5Z", True),
        ("TimestampGreaterThan", T, T, False),
        ("TimestampGreaterThan", T, "2012-10-10T00:00:00+05:00", False),  # 19:00 UTC
        ("TimestampLessThanEquals", T, T, True),
        ("TimestampLessThanEquals", T, "2012-10-09T19:00:56Z", False),
        ("TimestampGreaterThanEquals", T, "2012-10-09T19:00:55+00:00", True),
        ("TimestampGreaterThanEquals", "2012-10-09T19:00:56Z", T, False),
        ("TimestampGreaterThan", "2012-12-31T23:59:59Z", "2013-01-01T00:00:00Z", True),
    ],
)
def test_timestamp_comparisons(operator: str, operand: str, value: str, expected: bool) -> None:
    assert holds({"Variable": "$.v", operator: operand}, value) is expected
    assert holds({"Variable": "$.v", operator + "Path": "$.o"}, value, o=operand) is expected


NOT_TIMESTAMPS = [
    "2023-02-24 12:15:56.832957",  # corpus: a space instead of T
    # the strings the corpus's Wait cases show AWS rejecting (test_wait_timestamp_path[...])
    "2016-13-05T21:29:29Z",
    "05-12-2016T21:29:29Z",
    "2016-12-05T25:29:29Z",
    "2016-12-05 21:29:29Z",
    "2016-12-05T21:29:29",
    "2012-10-09t19:00:55Z",  # lower-case t
    "2012-10-09T19:00:55z",  # lower-case z
    "2012-10-09T19:00:55",  # no zone
    "2023-02-24",  # date only
    "2012-10-09T19:00Z",  # no seconds
    "2012-10-09T19:00:55+0100",  # offset without colon
    "2012-02-30T19:00:55Z",  # no such day
    "2012-10-09T24:00:00Z",
    "2012-10-09T23:59:60Z",  # no leap second
    "2012-10-09T19:00:55+18:01",  # beyond java.time's offset range
    "2012-10-09T19:00:55.1234567890Z",  # more than nanoseconds
    "2012-10-09T19:00:55.Z",  # empty fraction
    " 2012-10-09T19:00:55Z",
    "",
    "HelloWorld",
]


@pytest.mark.parametrize("value", [*NOT_TIMESTAMPS, None, 0, 1.1, True, [], [T], {}, {"A": T}])
def test_timestamp_operators_are_false_for_non_timestamps(value: Any) -> None:
    for operator in ("TimestampEquals", "TimestampLessThanEquals", "TimestampGreaterThanEquals"):
        assert holds({"Variable": "$.v", operator: T}, value) is False
        assert holds({"Variable": "$.v", operator + "Path": "$.o"}, T, o=value) is False


@pytest.mark.parametrize(
    "value",
    [
        T,
        "2012-10-09T19:00:55+01:00",
        "2012-10-09T19:00:55-00:00",
        "2012-10-09T19:00:55.123Z",
        "2016-02-29T23:59:59.123456789+14:00",
        "2016-03-14T01:59:00Z",
        "2016-03-05T21:29:29.243167252Z",  # corpus: nanoseconds (test_wait_timestamp_path)
        "2016-03-05T21:29:29-18:00",
    ],
)
def test_is_timestamp_accepts_rfc3339(value: str) -> None:
    assert holds({"Variable": "$.v", "IsTimestamp": True}, value) is True
    assert holds({"Variable": "$.v", "IsTimestamp": False}, value) is False


@pytest.mark.parametrize("value", [*NOT_TIMESTAMPS, None, 1349809255, True, [T], {}])
def test_is_timestamp_rejects_everything_else(value: Any) -> None:
    assert holds({"Variable": "$.v", "IsTimestamp": True}, value) is False
    assert holds({"Variable": "$.v", "IsTimestamp": False}, value) is True


# --- Type tests and presence (corpus: choice_operators.test_is_operators) ---------------------

VALUES = [
    None,
    0,
    0.0,
    1,
    1.1,
    "",
    " ",
    "HelloWorld",
    "2012-10-09T19:00:55Z",
    [],
    [""],
    {},
    {"A": 0},
    True,
    False,
]


@pytest.mark.parametrize("value", VALUES)
def test_type_tests(value: Any) -> None:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    expected = {
        "IsNull": value is None,
        "IsNumeric": is_number,
        "IsString": isinstance(value, str),
        "IsBoolean": isinstance(value, bool),
        "IsPresent": True,
    }
    for operator, result in expected.items():
        assert holds({"Variable": "$.v", operator: True}, value) is result, operator
        assert holds({"Variable": "$.v", operator: False}, value) is (not result), operator


def test_is_present_on_a_missing_path() -> None:
    scope = Scope(input={"a": {"b": None}}, context={})
    assert compile_choice_rule({"Variable": "$.a.c", "IsPresent": True})(scope) is False
    assert compile_choice_rule({"Variable": "$.a.c", "IsPresent": False})(scope) is True
    assert compile_choice_rule({"Variable": "$.x.y.z", "IsPresent": False})(scope) is True
    assert compile_choice_rule({"Variable": "$.a.b", "IsPresent": True})(scope) is True  # null


# --- Missing paths fail the state with States.Runtime ----------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        {"Variable": "$.missing", "NumericEquals": 1},
        {"Variable": "$.missing", "StringEquals": "x"},
        {"Variable": "$.missing", "BooleanEquals": True},
        {"Variable": "$.missing", "TimestampEquals": T},
        {"Variable": "$.missing", "StringMatches": "*"},
        {"Variable": "$.missing", "IsNull": False},
        {"Variable": "$.missing", "IsString": False},
        {"Variable": "$.missing", "IsTimestamp": False},
        {"Variable": "$.missing", "NumericEqualsPath": "$.v"},
    ],
)
def test_missing_variable_is_a_runtime_error(rule: dict[str, Any]) -> None:
    error = runtime_error(rule, Scope(input={"v": 1}, context={}))
    assert error.cause == INVALID_PATH.format("$.missing")


def test_missing_operand_path_is_a_runtime_error() -> None:
    error = runtime_error({"Variable": "$.v", "NumericEqualsPath": "$.nope"}, Scope({"v": 1}, {}))
    assert error.cause == INVALID_PATH.format("$.nope")


def test_missing_path_inside_not_fails_too() -> None:
    error = runtime_error({"Not": {"Variable": "$.x", "StringEquals": "a"}}, Scope({}, {}))
    assert error.cause == INVALID_PATH.format("$.x")


# --- Roots: context object and workflow variables ---------------------------------------------


def test_context_object_variable() -> None:
    scope = Scope(input={}, context={"Execution": {"Input": {"input-value": 0}}})
    rule = {"Variable": "$$.Execution.Input.input-value", "NumericLessThanEquals": 0}
    assert compile_choice_rule(rule)(scope) is True


def test_workflow_variables() -> None:
    scope = Scope(input={"limit": 3}, context={}, variables={"count": 5, "cfg": {"on": True}})
    assert compile_choice_rule({"Variable": "$count", "NumericGreaterThanPath": "$.limit"})(scope)
    assert compile_choice_rule({"Variable": "$cfg.on", "BooleanEquals": True})(scope)
    assert not compile_choice_rule({"Variable": "$.limit", "NumericGreaterThanPath": "$count"})(
        scope
    )
    assert compile_choice_rule({"Variable": "$unset", "IsPresent": False})(scope)
    with pytest.raises(StatesError):
        compile_choice_rule({"Variable": "$unset", "IsNull": True})(scope)


# --- And / Or / Not (AWS docs example, corpus test_choice_aws_docs_scenario) -----------------

DOCS_RULES: list[dict[str, Any]] = [
    {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
    {"Variable": "$.value", "NumericEquals": 0, "Next": "ValueIsZero"},
    {
        "And": [
            {"Variable": "$.value", "NumericGreaterThanEquals": 20},
            {"Variable": "$.value", "NumericLessThan": 30},
        ],
        "Next": "ValueInTwenties",
    },
]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "Public", "value": 22}, 0),
        ({"type": "Private", "value": 0}, 1),
        ({"type": "Private", "value": 22}, 2),
        ({"type": "Private", "value": 30}, None),
        ({"type": "Private", "value": 19.5}, None),
    ],
)
def test_aws_docs_example(data: dict[str, Any], expected: int | None) -> None:
    table = compile_choices(DOCS_RULES)
    assert table.first_match(Scope(input=data, context={})) == expected
    assert evaluate_choices(table.predicates, Scope(input=data, context={})) == expected


def test_or_and_single_operand_combinators() -> None:
    rule = {
        "Or": [{"Variable": "$.v", "StringEquals": "a"}, {"Variable": "$.v", "StringEquals": "b"}]
    }
    assert holds(rule, "a") and holds(rule, "b") and not holds(rule, "c")
    assert holds({"And": [{"Variable": "$.v", "IsString": True}]}, "x")
    assert not holds({"Or": [{"Variable": "$.v", "IsString": True}]}, 1)
    nested = {
        "Not": {
            "And": [
                {"Variable": "$.v", "IsNumeric": True},
                {"Not": {"Variable": "$.v", "NumericEquals": 0}},
            ]
        }
    }
    assert holds(nested, 0) and holds(nested, "x") and not holds(nested, 2)


def test_and_or_stop_at_the_deciding_operand() -> None:
    missing = {"Variable": "$.missing", "StringEquals": "x"}
    false, true = {"Variable": "$.v", "IsNull": False}, {"Variable": "$.v", "IsNull": True}
    assert holds({"And": [false, missing]}) is False
    assert holds({"Or": [true, missing]}) is True
    with pytest.raises(StatesError):
        holds({"And": [true, missing]})


def test_rules_are_tried_in_order_and_the_first_match_wins() -> None:
    rules = [
        {"Variable": "$.v", "NumericGreaterThan": 10, "Next": "A"},
        {"Variable": "$.v", "NumericGreaterThan": 0, "Next": "B"},
        {"Variable": "$.v", "NumericGreaterThan": -10, "Next": "C"},
    ]
    table = compile_choices(rules)
    assert [table.first_match(Scope({"v": v}, {})) for v in (11, 5, -5, -50)] == [0, 1, 2, None]


def test_a_rule_after_the_match_is_not_evaluated() -> None:
    table = compile_choices(
        [
            {"Variable": "$.v", "IsNull": True, "Next": "A"},
            {"Variable": "$.missing", "IsNull": True, "Next": "B"},
        ]
    )
    assert table.first_match(Scope({"v": None}, {})) == 0
    with pytest.raises(StatesError):
        table.first_match(Scope({"v": 1}, {}))


def test_compiled_rule_is_reusable_and_ignores_transition_fields() -> None:
    rule = {"Variable": "$.v", "StringEquals": "x", "Next": "S", "Comment": "c", "Assign": {"a": 1}}
    predicate = compile_choice_rule(rule)
    results = [predicate(Scope({"v": v}, {})) for v in ("x", "y", "x")]
    assert results == [True, False, True]


# --- Malformed rules are rejected at compile time --------------------------------------------


@pytest.mark.parametrize(
    ("rule", "pointer"),
    [
        ({"Variable": "$.v", "Next": "X"}, ""),
        ({"Variable": "$.v", "StringEquals": "a", "NumericEquals": 1}, ""),
        ({"StringEquals": "a"}, ""),
        ({"Variable": "$.v", "NumericEquals": "1"}, "/NumericEquals"),
        ({"Variable": "$.v", "NumericEquals": True}, "/NumericEquals"),
        ({"Variable": "$.v", "StringEquals": 1}, "/StringEquals"),
        ({"Variable": "$.v", "BooleanEquals": "true"}, "/BooleanEquals"),
        ({"Variable": "$.v", "TimestampEquals": "2012-10-09"}, "/TimestampEquals"),
        ({"Variable": "$.v", "IsNull": "yes"}, "/IsNull"),
        ({"Variable": "$.v", "StringMatches": 1}, "/StringMatches"),
        ({"Variable": "$.v", "StringMatchesPath": "$.p"}, "/StringMatchesPath"),
        ({"Variable": "$.v", "NumericEqualz": 1}, "/NumericEqualz"),
        ({"Variable": "$.v", "NumericEqualsPath": 3}, "/NumericEqualsPath"),
        ({"Variable": "not a path", "IsNull": True}, "/Variable"),
        ({"And": []}, "/And"),
        ({"Or": {"Variable": "$.v", "IsNull": True}}, "/Or"),
        ({"And": [{"Variable": "$.v", "IsNull": True}, {"Variable": "$.v"}]}, "/And/1"),
        ({"Not": {"Not": {"Variable": "$.v", "IsNull": 1}}}, "/Not/Not/IsNull"),
        ({"Not": {"Variable": "$.v", "IsNull": True}, "Variable": "$.v"}, "/Variable"),
        ({"Condition": "{% true %}"}, "/Condition"),
    ],
)
def test_malformed_rules(rule: dict[str, Any], pointer: str) -> None:
    with pytest.raises(ChoiceRuleError) as info:
        compile_choice_rule(rule)
    assert info.value.pointer == pointer
    assert info.value.message


def test_compile_choices_reports_the_rule_index() -> None:
    with pytest.raises(ChoiceRuleError) as info:
        compile_choices(
            [
                {"Variable": "$.v", "IsNull": True, "Next": "A"},
                {"Variable": "$.v", "NumericEquals": "x", "Next": "B"},
            ]
        )
    assert info.value.pointer == "/1/NumericEquals"

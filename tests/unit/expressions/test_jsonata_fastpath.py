"""JSONata fast path: simple expressions evaluated without jsonata-python, same results.

The reference is always the full jsonata-python evaluation of the same expression (the fast
path is an optimisation and must never change a result); the expected values of the unit
tests follow JSONata's documented path semantics (a path over an array maps and flattens, a
missing field is undefined) and AWS's number printing (``1.0`` is the number ``1``).
"""

from __future__ import annotations

import dataclasses
import json
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statemachine.errors import StatesError
from statemachine.expressions.jsonata import (
    JsonataEvaluationError,
    JsonataExpression,
    UnsupportedResultError,
    compile_jsonata,
    compile_jsonata_template,
    states_bindings,
)
from statemachine.expressions.jsonata.fastpath import FALLBACK
from statemachine.expressions.scope import Scope
from statemachine.values import MISSING

# jsonata-python raises the recursion limit when it is first imported; import it now, since
# Hypothesis warns (an error here) when the limit changes during one of its tests.
compile_jsonata("$x")

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def full(expression: JsonataExpression) -> JsonataExpression:
    """The same expression without its fast path: jsonata-python evaluates it."""
    return dataclasses.replace(expression, fast=None)


def same(a: Any, b: Any) -> bool:
    """Equal values of the same JSON types all the way down (1 != 1.0 != True here)."""
    if a is MISSING or b is MISSING:
        return a is b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def containers(*roots: Any) -> list[Any]:
    """Every dict and list inside ``roots`` (to check what a result shares, by identity)."""
    found: list[Any] = []
    stack = list(roots)
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            found.append(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            found.append(value)
            stack.extend(value)
    return found


def shares(value: Any, roots: list[Any]) -> bool:
    return any(value is root for root in roots)


def expect_same_as_full(text: str, the_scope: Scope) -> None:
    """Fast path (from the Scope and from bindings) == full evaluation, or FALLBACK."""
    expression = compile_jsonata(text)
    assert expression.fast is not None, text
    bindings = states_bindings(the_scope)
    fast_results = (expression.fast.evaluate_scope(the_scope), expression.fast.evaluate(bindings))
    try:
        reference = full(expression).evaluate(bindings)
    except (JsonataEvaluationError, UnsupportedResultError) as exc:  # e.g. $sum: a function
        assert fast_results == (FALLBACK, FALLBACK), text
        with pytest.raises(type(exc)):
            expression.evaluate(bindings)
        return
    inputs = containers(
        the_scope.input, the_scope.context, the_scope.result, dict(the_scope.variables)
    )
    for fast in fast_results:
        if fast is FALLBACK:
            continue
        assert same(fast, reference), (text, fast, reference)
        assert shares(fast, inputs) == shares(reference, inputs), text
    assert same(expression.evaluate(bindings), reference)


# --- the subset ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "$states.input.last.step",
        "$x",
        "$myVar.a.b",
        "$states",
        "$states.context",
        "42",
        "-1",
        "1.5",
        '"text"',
        "true",
        "false",
        "null",
        "$states.input.`a b`",
        "$x > 5",
        "$states.input.n <= -1.5",
        '$x.a = "s"',
        "$x != $y.b",
        "1 < 2",
    ],
)
def test_simple_expressions_get_a_fast_path(text):
    assert compile_jsonata(text).fast is not None


@pytest.mark.parametrize(
    "text",
    [
        "$",
        "$$",
        "a.b",
        "$x[0]",
        "$x.a[]",
        "$x.a[0]",
        "$x.*",
        "$x.**",
        "$x.$y",
        "$x.(a)",
        "$x.a^(b)",
        "$x@$y.a",
        "$x#$i.a",
        "$x.a{'k': 1}",
        "$sum($x)",
        "$x + 1",
        "($x)",
        "$random()",
        "$uuid()",
        "[1]",
        "{}",
        "$x.a.%.b",
        "/ab/",
        "$x > true",
        "$x = null",
        "$x = [1]",
        "$x + 1",
        "$x & $y",
        "$x in $y",
        "$x and $y",
        "$x.a[0] > 1",
        "$count($x) > 1",
    ],
)
def test_anything_else_is_left_to_jsonata_python(text):
    assert compile_jsonata(text).fast is None


def test_simple_expressions_do_not_reach_jsonata_python(monkeypatch):
    template = compile_jsonata_template(
        {
            "last": {"from": "{% $states.input.last.step %}", "tag": "{% 'chain' %}"},
            "seen": "{% $seen %}",
            "ok": "{% true %}",
        },
        field="Output",
    )

    def refuse(*args, **kwargs):
        raise AssertionError("jsonata-python was called")

    monkeypatch.setattr(JsonataExpression, "evaluate_raw", refuse)
    out = template.evaluate(Scope({"last": {"step": 7}}, None, {"seen": 6}))
    assert out == {"last": {"from": 7, "tag": "chain"}, "seen": 6, "ok": True}


# --- fallbacks: the full evaluation decides ---------------------------------------------------


def evaluate(text: str, input: Any, variables: dict[str, Any] | None = None) -> Any:
    template = compile_jsonata_template("{% " + text + " %}", field="Output")
    return template.evaluate(Scope(input, {"Execution": {"Id": "arn:x"}}, variables or {}))


def test_array_in_the_path_maps_and_flattens():
    data = {"a": [{"b": 1}, {"b": [2, 3]}, {"c": 4}]}
    assert evaluate("$states.input.a.b", data) == [1, 2, 3]
    assert evaluate("$v.a.b", {}, {"v": data}) == [1, 2, 3]


def test_nested_arrays_are_flattened_along_the_path():
    data = {"a": [[{"b": 1}], [{"b": 2}, {"b": 3}]]}
    assert evaluate("$states.input.a.b", data) == [1, 2, 3]


def test_an_array_result_is_returned_as_the_array():
    assert same(evaluate("$states.input.a", {"a": [1, 2.0, [3]]}), [1, 2, [3]])
    assert same(evaluate("$states.input.a", {"a": [5]}), [5])
    assert evaluate("$states.input.a", {"a": []}) == []


def test_missing_key_is_undefined():
    with pytest.raises(StatesError) as info:
        evaluate("$states.input.no.such", {"yes": 1})
    assert info.value.cause == (
        "The JSONata expression '$states.input.no.such' specified for the field 'Output' "
        "returned nothing (undefined)."
    )
    assert compile_jsonata("$states.input.no").evaluate({"states": {"input": {}}}) is MISSING


def test_unbound_variable_is_undefined():
    assert compile_jsonata("$nothing.a").evaluate({"states": {}}) is MISSING


def test_a_field_of_a_scalar_is_undefined():
    assert compile_jsonata("$states.input.a.b").evaluate({"states": {"input": {"a": 3}}}) is MISSING


def test_null_value_is_null_and_a_field_of_null_is_undefined():
    assert evaluate("$states.input.a", {"a": None}) is None
    assert evaluate("$v", {}, {"v": None}) is None
    assert compile_jsonata("$states.input.a").fast.evaluate_scope(Scope({"a": None}, None)) is None
    assert (
        compile_jsonata("$states.input.a.b").evaluate({"states": {"input": {"a": None}}}) is MISSING
    )


def test_numbers_print_the_javascript_way():
    one = evaluate("$states.input.a", {"a": 1.0})
    assert one == 1 and type(one) is int
    assert type(evaluate("$states.input.a", {"a": 1})) is int
    assert evaluate("$states.input.a", {"a": 1.5}) == 1.5
    assert type(evaluate("$states.input.a", {"a": 1e20})) is float  # beyond 2**53
    assert evaluate("$states.input.a", {"a": True}) is True
    assert type(evaluate("1.0", {})) is int


def test_a_nested_object_is_normalised_unless_it_is_a_binding():
    inner = {"q": 1.0}
    nested = evaluate("$states.input.a", {"a": inner})
    assert nested == {"q": 1} and type(nested["q"]) is int
    # The same object bound as a variable is shared as it is, by the full evaluation too.
    bound = evaluate("$states.input.a", {"a": inner}, {"v": inner})
    assert bound is inner
    whole = {"q": 2.0}
    assert evaluate("$states.input", whole) is whole


def test_a_variable_named_states_is_hidden_by_the_states_object():
    inner = {"q": 1.0}
    result = evaluate("$states.input.a", {"a": inner}, {"states": inner})
    assert result is not inner
    assert same(result, {"q": 1})


def test_states_without_a_known_field_falls_back():
    assert evaluate("$states.input", {"a": 1}) == {"a": 1}
    with pytest.raises(StatesError):
        evaluate("$states.result.a", {"a": 1})  # no result here: undefined


def test_a_function_name_is_not_a_value():
    with pytest.raises(StatesError) as info:
        evaluate("$sum", {})
    assert info.value.cause.endswith("returned an unsupported result type.")


def test_a_variable_named_like_a_function_shadows_it():
    assert evaluate("$sum.a", {}, {"sum": {"a": 5}}) == 5


def test_fast_path_is_thread_safe():
    template = compile_jsonata_template({"v": "{% $states.input.n.v %}"}, field="Output")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(200):
                assert template.evaluate(Scope({"n": {"v": n}}, None, {})) == {"v": n}
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_comparisons_of_numbers_and_strings():
    assert evaluate("$states.input.n > 5", {"n": 7}) is True
    assert evaluate("$states.input.n = 2", {"n": 2.0}) is True
    assert evaluate("$states.input.n < $limit", {"n": 2.5}, {"limit": 2}) is False
    assert evaluate('$states.input.s = "go"', {"s": "go"}) is True
    assert evaluate('$states.input.s < "b"', {"s": "a"}) is True


@pytest.mark.parametrize("operator", ["=", "!=", "<", "<=", ">", ">="])
@pytest.mark.parametrize(
    ("x", "y"), [(2**60, 2**60 + 1), (2**53, 2**53 + 1), (2**60, float(2**60)), (2**53 + 1, 1e16)]
)
def test_comparisons_of_integers_beyond_float_precision_agree(operator, x, y):
    expect_same_as_full(f"$x {operator} $states.input.y", Scope({"y": y}, None, {"x": x}))
    expect_same_as_full(f"$x {operator} {y!r}", Scope({}, None, {"x": x}))


def test_comparisons_jsonata_decides_fall_back():
    with pytest.raises(StatesError) as info:  # undefined > 5 is undefined
        evaluate("$states.input.n > 5", {})
    assert info.value.cause.endswith("returned nothing (undefined).")
    assert evaluate("$states.input.n = 5", {}) is False  # undefined = 5 is false
    assert evaluate("$states.input.a = $states.input.b", {"a": [1], "b": [1.0]}) is True
    assert evaluate("$states.input.a = 1", {"a": True}) is False
    with pytest.raises(StatesError) as info:  # a string and a number do not compare
        evaluate('$states.input.n < "5"', {"n": 4})
    assert "T2009" in info.value.cause


# --- property: the fast path and jsonata-python agree ----------------------------------------

KEYS = st.sampled_from(["a", "b", "step", "input", "x", "a b"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, 1.0, -2.0, 2.0**53, 2.0**54, 1e20])
    | st.text(max_size=3)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=12,
)
VARIABLES = st.dictionaries(st.sampled_from(["x", "y", "sum", "states"]), JSON_VALUES, max_size=3)
ROOTS = st.sampled_from(
    [
        "$states.input",
        "$states.context",
        "$states.result",
        "$states.errorOutput",
        "$states",
        "$x",
        "$y",
        "$sum",
        "$nothing",
    ]
)


def quoted(key: str) -> str:
    return f"`{key}`" if " " in key else key


@SETTINGS
@given(
    input=JSON_VALUES,
    context=JSON_VALUES,
    result=st.just(MISSING) | JSON_VALUES,
    variables=VARIABLES,
    root=ROOTS,
    steps=st.lists(KEYS, max_size=4),
)
def test_fast_path_agrees_with_jsonata_python(input, context, result, variables, root, steps):
    text = ".".join([root, *map(quoted, steps)])
    expect_same_as_full(text, Scope(input, context, variables, result))


def existing_path(data: st.DataObject, value: Any) -> list[str]:
    """Keys that lead into ``value`` (so the walk gets somewhere), maybe one more at the end."""
    steps: list[str] = []
    while isinstance(value, dict) and value and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(value)))
        steps.append(key)
        value = value[key]
    if data.draw(st.booleans()):
        steps.append(data.draw(KEYS))
    return steps


DICTS = st.dictionaries(KEYS, JSON_VALUES, max_size=4)


@SETTINGS
@given(data=st.data(), input=DICTS, variables=VARIABLES, root=st.sampled_from(["input", "x"]))
def test_fast_path_agrees_along_existing_paths(data, input, variables, root):
    if root == "x":
        variables = {**variables, "x": input}
    steps = existing_path(data, input)
    text = ".".join(["$states.input" if root == "input" else "$x", *map(quoted, steps)])
    expect_same_as_full(text, Scope(input, None, variables))


@SETTINGS
@given(data=st.data(), input=JSON_VALUES)
def test_fast_path_agrees_when_the_result_is_a_shared_object(data, input):
    # Variables that hold parts of the input: the adapter shares such values as they are.
    parts = containers(input)
    name = data.draw(st.sampled_from(["x", "states"]))
    variables = {name: data.draw(st.sampled_from(parts))} if parts else {}
    steps = existing_path(data, input)
    text = ".".join(["$states.input", *map(quoted, steps)])
    expect_same_as_full(text, Scope(input, None, variables))


COMPARED = (
    st.just(MISSING)
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.integers(min_value=-5, max_value=5)
    | st.sampled_from([2**53, 2**53 + 1, 2**60, 2**60 + 1])  # beyond what a float holds
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, 1.0, -2.0, 2.0**53, 2.0**53 + 2, 1e20, 0.5])
    | st.text(alphabet="ab\u00e9\U0001f600", max_size=2)
    | st.none()
    | st.booleans()
    | st.lists(st.integers(0, 2), max_size=2)
    | st.dictionaries(KEYS, st.integers(0, 2), max_size=1)
)
LITERALS = (
    st.integers(min_value=-(2**60), max_value=2**60)
    | st.sampled_from([0, 1, -2, 0.5, 1.0, 2.0])
    | st.text(alphabet="ab\u00e9", max_size=2)
)


@SETTINGS
@given(
    x=COMPARED,
    y=COMPARED,
    operator=st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
    literal=st.none() | LITERALS,
    swap=st.booleans(),
)
def test_comparisons_agree_with_jsonata_python(x, y, operator, literal, swap):
    variables = {name: value for name, value in (("x", x), ("y", y)) if value is not MISSING}
    right = "$states.input.y" if literal is None else json.dumps(literal)
    sides = ("$x", right) if not swap else (right, "$x")
    text = f"{sides[0]} {operator} {sides[1]}"
    expect_same_as_full(text, Scope({"y": y} if y is not MISSING else {}, None, variables))


@SETTINGS
@given(
    value=st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
def test_literals_agree_with_jsonata_python(value):
    text = json.dumps(value)
    expression = compile_jsonata(text)
    if expression.fast is None:
        return  # e.g. exponent notation the parser reads as something else
    reference = full(expression).evaluate({})
    assert same(expression.fast.evaluate({}), reference), text
    assert same(expression.fast.evaluate_scope(Scope(None, None, {})), reference), text

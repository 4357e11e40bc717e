"""Payload templates: ``.$`` keys with paths and intrinsic calls, nesting, constants shared,
and AWS's error texts."""

from __future__ import annotations

import random
from typing import Any

import pytest

from statemachine.errors import StatesError
from statemachine.expressions.payload import (
    PayloadSyntaxError,
    compile_payload,
    path_not_found_cause,
)
from statemachine.expressions.scope import Scope

SCOPE = Scope({"int-literal": 0, "x": {"y": [1, 2]}}, {"Execution": {"Input": {"int-literal": 0}}}, {"var": "v"})


def test_dollar_keys_take_paths_and_calls() -> None:
    template = compile_payload(
        {
            "Arg1": "argument1",
            "FromInput.$": "$",
            "ctx.$": "$$.Execution.Input",
            "var.$": "$var",
            "first.$": "$.x.y[0]",
            "all.$": "$.x.y[*]",
            "call.$": "States.Format('{}-{}', $var, $.int-literal)",
        },
        field="Parameters",
    )
    assert template.evaluate(SCOPE) == {
        "Arg1": "argument1",
        "FromInput": SCOPE.input,
        "ctx": {"int-literal": 0},
        "var": "v",
        "first": 1,
        "all": [1, 2],
        "call": "v-0",
    }


def test_nested_objects_and_arrays_are_evaluated() -> None:
    template = compile_payload({"a": [{"b.$": "$.x.y"}, 3, [{"c.$": "$var"}]], "d": {"e": {"f.$": "$.int-literal"}}},
                               field="ItemSelector")
    assert template.evaluate(SCOPE) == {"a": [{"b": [1, 2]}, 3, [{"c": "v"}]], "d": {"e": {"f": 0}}}


def test_literal_values_are_not_evaluated() -> None:
    # Only keys ending in ".$" are dynamic; a "$..." string under a plain key is text.
    template = compile_payload({"path": "$.x", "call": "States.UUID()", "n": None, "t": False}, field="Parameters")
    assert template.evaluate(SCOPE) == {"path": "$.x", "call": "States.UUID()", "n": None, "t": False}
    assert template.is_constant


def test_constant_subtrees_are_shared_and_copied_from_the_definition() -> None:
    definition: dict[str, Any] = {"const": {"deep": [1, {"k": "v"}]}, "dyn.$": "$.int-literal"}
    template = compile_payload(definition, field="Parameters")
    first, second = template.evaluate(SCOPE), template.evaluate(SCOPE)
    assert first["const"] is second["const"]  # one shared constant, no per-run copy
    definition["const"]["deep"].append("changed later")
    assert template.evaluate(SCOPE)["const"] == {"deep": [1, {"k": "v"}]}


def test_non_object_templates() -> None:
    assert compile_payload([1, {"a.$": "$var"}], field="Parameters").evaluate(SCOPE) == [1, {"a": "v"}]
    assert compile_payload("text", field="Parameters").evaluate(SCOPE) == "text"


def test_missing_path_cause_matches_aws() -> None:
    # corpus: test_invalid_jsonpath[INVALID_JSONPATH_IN_STRING_EXPR_JSONPATH]; the input is
    # printed as compact JSON (AWS: '{"other":1}').
    template = compile_payload({"value.$": "$.no_such_jsonpath"}, field="Parameters")
    with pytest.raises(StatesError) as info:
        template.evaluate(SCOPE)
    assert info.value.name == "States.Runtime"
    assert info.value.cause == (
        "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be found in the input "
        '\'{"int-literal":0,"x":{"y":[1,2]}}\''
    )


def test_missing_context_path_and_nested_key() -> None:
    template = compile_payload({"outer": {"value.$": "$$.Execution.Input.no_such_jsonpath"}}, field="Parameters")
    with pytest.raises(StatesError) as info:
        template.evaluate(SCOPE)
    assert info.value.cause is not None
    assert info.value.cause.startswith("The JSONPath '$$.Execution.Input.no_such_jsonpath' specified for the field 'value.$'")


def test_missing_path_inside_an_intrinsic_call() -> None:
    template = compile_payload({"v.$": "States.Array($.nothing)"}, field="Parameters")
    with pytest.raises(StatesError) as info:
        template.evaluate(SCOPE)
    assert info.value.name == "States.Runtime"
    assert info.value.cause is not None and "'$.nothing' specified for the field 'v.$'" in info.value.cause


def test_intrinsic_failures_pass_through() -> None:
    template = compile_payload({"v.$": "States.ArrayGetItem($.x.y, 9)"}, field="Parameters")
    with pytest.raises(StatesError) as info:
        template.evaluate(SCOPE)
    assert info.value.name == "States.IntrinsicFailure"


def test_randomness_comes_from_the_rng() -> None:
    template = compile_payload({"id.$": "States.UUID()"}, field="Parameters")
    assert template.evaluate(SCOPE, random.Random(3)) == template.evaluate(SCOPE, random.Random(3))


@pytest.mark.parametrize(
    ("template", "pointer"),
    [
        ({"parsed.$": "States.StringToJson('{\"text\":\"An \\\"escaped\\\" quote\"}')"}, "/parsed.$"),
        ({"a": {"b.$": "ConditionTrue"}}, "/a/b.$"),
        ({"a": [{"b.$": 3}]}, "/a/0/b.$"),
        ({"x/y.$": "$.["}, "/x~1y.$"),
        ({"n.$": "States.Nope()"}, "/n.$"),
    ],
)
def test_syntax_errors_carry_the_pointer(template: dict[str, object], pointer: str) -> None:
    with pytest.raises(PayloadSyntaxError) as info:
        compile_payload(template, field="Parameters")
    assert info.value.pointer == pointer
    key = pointer.rsplit("/", 1)[1].replace("~1", "/")
    # corpus: test_illegal_escapes (AWS's SCHEMA_VALIDATION_FAILED text)
    assert info.value.message.startswith(
        f"The value for the field '{key}' must be a valid JSONPath or a valid intrinsic function call")


def test_path_not_found_cause_helper() -> None:
    assert path_not_found_cause("$.ErrorX", "ErrorPath", {"a": "é"}) == (
        "The JSONPath '$.ErrorX' specified for the field 'ErrorPath' could not be found in the input '{\"a\":\"é\"}'")

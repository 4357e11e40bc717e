"""JSONPath with AWS (Jayway) semantics: roots, definite/indefinite paths, error texts,
filters, functions, and the ResultPath writer."""

from __future__ import annotations

from typing import Any

import pytest

from statemachine.errors import StatesError
from statemachine.expressions.jsonpath import (
    PathNotFound,
    PathSyntaxError,
    compile_path,
    compile_reference_path,
)
from statemachine.expressions.scope import Scope
from statemachine.values import MISSING

DOC: dict[str, Any] = {
    "users": [{"year": 1997, "status": 0, "name": "ann"}, {"year": 1998, "status": 1, "name": "bob"}],
    "last": {"step": 3, "none": None},
    "items": [{"itemValue": i} for i in range(6)],
    "delivery-partner": "dp",
}


def test_roots_pick_input_context_and_variables() -> None:
    scope = Scope({"a": 1}, {"Execution": {"Name": "e"}}, {"answer": {"value": 42}})
    assert compile_path("$.a").evaluate(scope) == 1
    assert compile_path("$$.Execution.Name").evaluate(scope) == "e"
    assert compile_path("$answer.value").evaluate(scope) == 42
    assert compile_path("$answer").evaluate(scope) == {"value": 42}
    assert compile_path("$").evaluate(scope) == {"a": 1}
    assert compile_path("$$").evaluate(scope) == {"Execution": {"Name": "e"}}


def test_compiled_attributes() -> None:
    path = compile_path("$answer.value")
    assert (path.root, path.variable, path.definite) == ("variable", "answer", True)
    assert compile_path("$$.State").root == "context"
    assert compile_path("$.items[*]").definite is False
    assert compile_path("$.a").root == "input" and compile_path("$.a").variable is None


def test_undefined_variable_is_not_found() -> None:
    with pytest.raises(PathNotFound):
        compile_path("$nope").evaluate(Scope({}, {}, {}))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$.last.step", 3),
        ("$['last']['step']", 3),
        ('$["last"].step', 3),
        ("$.last.none", None),
        ("$.items[0]", {"itemValue": 0}),
        ("$.items[-1].itemValue", 5),
        ("$.delivery-partner", "dp"),
        ("$.users.length()", 2),
    ],
)
def test_definite_paths_return_the_value(text: str, expected: object) -> None:
    assert compile_path(text).select(DOC) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$.users[?(@.status == 0)]", [DOC["users"][0]]),  # corpus: test_state_pass_regex_json_path_base
        ("$.users[*].year", [1997, 1998]),
        ("$.items[1:3].itemValue", [1, 2]),
        ("$.items[:1]", [{"itemValue": 0}]),
        ("$.items[4:]", [{"itemValue": 4}, {"itemValue": 5}]),
        ("$.items[::2].itemValue", [0, 2, 4]),
        ("$.items[0,2].itemValue", [0, 2]),
        ("$..year", [1997, 1998]),
        ("$.users[?(@.year > 1997)].name", ["bob"]),
        ("$.users[?(@.year >= 1997 && @.status != 0)].name", ["bob"]),
        ("$.users[?(@.status == 1 || @.name == 'ann')].name", ["ann", "bob"]),
        ("$.users[?(@.name =~ /b.*/)].name", ["bob"]),
        ("$.users[?(@.name in ['ann', 'x'])].year", [1997]),
        ("$.users[?(!(@.status == 0))].name", ["bob"]),
        ("$.users[?(@.missing)]", []),
        ("$.items[*].length()", 6),
        ("$.nothing[*]", []),
        ("$[*]", list(DOC.values())),
    ],
)
def test_indefinite_paths_return_lists(text: str, expected: object) -> None:
    assert compile_path(text).select(DOC) == expected


@pytest.mark.parametrize(
    "text", ["$.item.items[*]", "$.items[1:5].itemValue", "$.items[:1]", "$[*]", "$.items[*].itemValue"]
)
def test_indefinite_paths_on_empty_input_are_empty_lists(text: str) -> None:
    # corpus: test_json_path_array_wildcard_or_slice_with_no_input[...]
    assert compile_path(text).select({}) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # corpus: test_invalid_jsonpath[ST.INVALID_JSONPATH_IN_INPUTPATH]
        ("$.NoSuchInputPath", "Invalid path '$.NoSuchInputPath' : No results for path: $['NoSuchInputPath']"),
        # corpus: test_catch_states_runtime (OutputPath)
        ("$.no.such.result.path", "Invalid path '$.no.such.result.path' : Missing property in path $['no']"),
        ("$.items[10]", "Invalid path '$.items[10]' : No results for path: $['items'][10]"),
        ("$.last.nope", "Invalid path '$.last.nope' : No results for path: $['last']['nope']"),
    ],
)
def test_not_found_texts(text: str, message: str) -> None:
    with pytest.raises(PathNotFound) as info:
        compile_path(text).select(DOC)
    assert info.value.invalid_path_message() == message
    assert info.value.path == text


def test_property_of_a_non_object_is_not_found() -> None:
    with pytest.raises(PathNotFound) as info:
        compile_path("$.last.step.x").select(DOC)
    assert info.value.detail.startswith("Expected to find an object with property ['x'] in path $['last']['step']")


def test_find_returns_missing_instead_of_raising() -> None:
    assert compile_path("$.nope").find(DOC) is MISSING
    assert compile_path("$.last.none").find(DOC) is None


def test_escaped_quotes_in_bracket_names() -> None:
    # corpus: test_escape_sequence_parsing[ESCAPE_SEQUENCES_JSONPATH]
    doc = {'Test\\""Name"': 'Value"\\'}
    assert compile_path("$['Test\\\"\"Name\"']").select(doc) == 'Value"\\'
    assert compile_path("$['it\\'s']").select({"it's": 1}) == 1


def test_context_and_variables_can_be_refused() -> None:
    with pytest.raises(PathSyntaxError):
        compile_path("$$.Execution", allow_context=False)
    with pytest.raises(PathSyntaxError):
        compile_path("$var", allow_variables=False)


@pytest.mark.parametrize(
    "text", ["", "a.b", "$.", "$..", "$[", "$.a[", "$.a[x]", "$.a[1:2:3:4]", "$.a[?(@.x ==)]", "$.a b",
             "$.a.nofunction()", "$['open"]
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(PathSyntaxError) as info:
        compile_path(text)
    assert info.value.message and info.value.position >= 0


def test_equal_texts_share_one_compiled_path() -> None:
    assert compile_path("$.shared.path") is compile_path("$.shared.path")


# --- ResultPath writer ----------------------------------------------------------------------


def test_reference_path_dollar_replaces_everything() -> None:
    assert compile_reference_path("$").apply({"a": 1}, [1, 2]) == [1, 2]


def test_reference_path_creates_missing_objects() -> None:
    target = {"keep": {"deep": [1]}}
    result = compile_reference_path("$.a.b.c").apply(target, 5)
    assert result == {"keep": {"deep": [1]}, "a": {"b": {"c": 5}}}
    assert target == {"keep": {"deep": [1]}}  # the input is not changed


def test_reference_path_copies_only_along_the_path() -> None:
    untouched = {"deep": [1, 2]}
    target: dict[str, Any] = {"other": untouched, "x": {"y": 1, "z": {"big": True}}}
    result = compile_reference_path("$.x.y").apply(target, 2)
    assert result["other"] is untouched
    assert result["x"]["z"] is target["x"]["z"]
    assert result["x"] is not target["x"] and target["x"]["y"] == 1


def test_reference_path_writes_array_items() -> None:
    assert compile_reference_path("$.list[1]").apply({"list": [0, 0, 0]}, 9) == {"list": [0, 9, 0]}
    assert compile_reference_path("$['a b']").apply({}, 1) == {"a b": 1}


@pytest.mark.parametrize(
    ("text", "target"),
    [("$.a.b", {"a": "text"}), ("$.a", [1]), ("$.list[5]", {"list": [0]}), ("$.a", "plain")],
)
def test_reference_path_mismatch_fails(text: str, target: object) -> None:
    with pytest.raises(StatesError) as info:
        compile_reference_path(text).apply(target, 1)
    assert info.value.name == "States.ResultPathMatchFailure"
    assert info.value.cause


@pytest.mark.parametrize("text", ["$$.Execution", "$var.x", "$.a[*]", "$..a", "$.a[1:2]", "$.a.length()", "x"])
def test_reference_path_must_be_definite_under_input(text: str) -> None:
    with pytest.raises(PathSyntaxError):
        compile_reference_path(text)


def test_filter_existence_counts_null_and_empty_values() -> None:
    doc = [{"tags": []}, {"tags": None}, {"other": 1}]
    assert compile_path("$[?(@.tags)]").select(doc) == [{"tags": []}, {"tags": None}]
    assert compile_path("$[?(@.tags empty true)]").select(doc) == [{"tags": []}]
    assert compile_path("$[?(@.tags size 0)]").select(doc) == [{"tags": []}]


def test_selection_shares_values_instead_of_copying() -> None:
    assert compile_path("$").select(DOC) is DOC
    assert compile_path("$.last").select(DOC) is DOC["last"]
    assert compile_path("$.users[*]").select(DOC)[1] is DOC["users"][1]


@pytest.mark.parametrize("text", ["$.a", "$.a.b", "$.x.y.z", "$.list[0].k", "$['odd key'].v"])
def test_reference_path_agrees_with_a_copy_and_assign(text: str) -> None:
    import copy

    target: dict[str, Any] = {"a": {"b": 1, "c": [1]}, "list": [{"k": 0}, {"k": 1}], "keep": {"big": list(range(5))}}
    expected = copy.deepcopy(target)
    node: Any = expected
    keys = compile_reference_path(text).keys
    for key in keys[:-1]:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[keys[-1]] = "new"
    assert compile_reference_path(text).apply(target, "new") == expected
    assert target["a"] == {"b": 1, "c": [1]}

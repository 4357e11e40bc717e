"""Intrinsic-call parsing: tokens, string escapes, nesting, paths as arguments, and the errors
raised at compile time (syntax, unknown names, argument counts)."""

from __future__ import annotations

import pytest

from statemachine.expressions.functions import FUNCTIONS
from statemachine.expressions.intrinsics import IntrinsicSyntaxError, is_intrinsic, parse_intrinsic
from statemachine.expressions.jsonpath import PathNotFound
from statemachine.expressions.scope import Scope

SCOPE = Scope(
    {"name": "Ann", "place": "Paris", "n": 2, "list": [1, 2, 3], "s": "a-b-c"},
    {"StateMachine": {"Id": "arn:aws:states:us-east-1:1:stateMachine:sm-x", "Name": "sm-x"}},
    {"who": "Bob", "obj": {"k": "v"}},
)


def run(text: str) -> object:
    return parse_intrinsic(text).evaluate(SCOPE)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("States.Array()", []),
        ("States.Array(1, -2, 3.5, 'x', true, false, null)", [1, -2, 3.5, "x", True, False, None]),
        ("States.Array($.n, $$.StateMachine.Name, $who, $obj.k)", [2, "sm-x", "Bob", "v"]),
        ("States.Format('Hello {}, welcome to {}!', $.name, $.place)", "Hello Ann, welcome to Paris!"),
        ("States.Format('Hello {}, welcome to {}!', $who, $.place)", "Hello Bob, welcome to Paris!"),
        ("  States.ArrayLength( $.list )  ", 3),
        # corpus: test_nested_calls_2
        ("States.ArrayGetItem(States.StringSplit($.s, '-'), States.MathAdd(States.ArrayLength(States.StringSplit($.s, '-')), -1))", "c"),
        ("States.JsonMerge(States.StringToJson('{\"a\": \"false\"}'), $obj, false)", {"a": "false", "k": "v"}),
    ],
)
def test_calls(text: str, expected: object) -> None:
    assert run(text) == expected


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r"'it\'s'", "it's"),
        (r"'\{\}'", "{}"),
        (r"'back\\slash'", "back\\slash"),
        ("'Hello\nWorld'", "Hello\nWorld"),  # a real newline is plain text (corpus: test_escape_sequence)
        ("'a, b) c'", "a, b) c"),
        ("'$.not.a.path'", "$.not.a.path"),
    ],
)
def test_string_literals_and_escapes(literal: str, value: str) -> None:
    assert run(f"States.Array({literal})") == [value]


def test_escaped_braces_are_not_placeholders() -> None:
    assert run(r"States.Format('\{\} {} \{x\}', 1)") == "{} 1 {x}"
    assert run(r"States.Format('\\{}', 'a')") == "\\a"


@pytest.mark.parametrize(
    "text",
    [
        # corpus: test_illegal_escapes[ESCAPE_SEQUENCES_ILLEGAL_INTRINSIC_FUNCTION(_2)]
        "States.StringToJson('{\"text\":\"An \\\"escaped double quote\\\" here\"}')",
        "States.Format('He said, \\\"Hello, {}!\\\"', 'Test \\\"Name\\\" Here')",
        "States.Format('\\n')",
    ],
)
def test_other_escapes_are_rejected(text: str) -> None:
    with pytest.raises(IntrinsicSyntaxError, match="escape"):
        parse_intrinsic(text)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("States.Nope()", "Unknown intrinsic function"),
        ("States.Array(", "end of the expression"),
        ("States.Array(1,)", "Expected an argument"),
        ("States.Array(1 2)", "Expected ')'"),
        ("States.Array('open)", "Unterminated"),
        ("States.UUID() extra", "after the end"),
        ("States.Array($.a[)", "JSONPath"),
        ("Array(1)", "Unknown intrinsic function"),
        ("States.Array(#)", "Unexpected character"),
    ],
)
def test_syntax_errors(text: str, fragment: str) -> None:
    with pytest.raises(IntrinsicSyntaxError, match=fragment.replace("(", r"\(").replace(")", r"\)")) as info:
        parse_intrinsic(text)
    assert 0 <= info.value.position <= len(text)


@pytest.mark.parametrize(
    "text",
    [
        "States.Format()",
        "States.UUID(1)",
        "States.ArrayLength()",
        "States.ArrayLength($.a, $.b)",
        "States.MathRandom(1)",
        "States.MathRandom(1, 2, 3, 4)",
        "States.JsonMerge($.a, $.b)",
        "States.ArrayRange(1, 2)",
        "States.Array(States.Hash('x'))",
    ],
)
def test_argument_counts_are_checked_at_compile_time(text: str) -> None:
    with pytest.raises(IntrinsicSyntaxError, match="argument"):
        parse_intrinsic(text)


def test_every_documented_function_is_in_the_table() -> None:
    documented = {
        "Format", "StringToJson", "JsonToString", "Array", "ArrayPartition", "ArrayContains", "ArrayRange",
        "ArrayGetItem", "ArrayLength", "ArrayUnique", "Base64Encode", "Base64Decode", "Hash", "JsonMerge",
        "MathRandom", "MathAdd", "StringSplit", "UUID",
    }
    assert set(FUNCTIONS) == {f"States.{name}" for name in documented}


def test_missing_path_argument_raises_path_not_found() -> None:
    with pytest.raises(PathNotFound) as info:
        run("States.Format('{}', $.nothing)")
    assert info.value.path == "$.nothing"


def test_paths_lists_nested_path_arguments() -> None:
    call = parse_intrinsic("States.Format('{}{}', $.a, States.Array($$.b, $v.c))")
    assert [p.text for p in call.paths()] == ["$.a", "$$.b", "$v.c"]
    assert call.name == "States.Format"


def test_is_intrinsic() -> None:
    assert is_intrinsic("States.UUID()")
    assert not is_intrinsic("$.States")
    assert not is_intrinsic(3)


def test_path_arguments_may_hold_filters_brackets_and_functions() -> None:
    scope = Scope({"a": [{"x": "a,b"}, {"x": "c"}]}, {})
    call = parse_intrinsic("States.Array($.a[?(@.x == 'a,b')], $.a.length(), $.a[*].x, $['a'][1] )")
    assert call.evaluate(scope) == [[{"x": "a,b"}], 2, ["a,b", "c"], {"x": "c"}]

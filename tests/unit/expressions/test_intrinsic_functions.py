"""Each intrinsic function: results as AWS gives them (corpus cases / AWS docs) and the
States.IntrinsicFailure raised at run time for arguments of the wrong type or value."""

from __future__ import annotations

import random
import uuid

import pytest

from statemachine.errors import StatesError
from statemachine.expressions.intrinsics import parse_intrinsic
from statemachine.expressions.scope import Scope


def call(text: str, value: object = None, rng: random.Random | None = None) -> object:
    """Evaluate ``text`` with ``$.v`` bound to ``value``."""
    return parse_intrinsic(text).evaluate(Scope({"v": value}, {}), rng)


def fails(text: str, value: object = None) -> StatesError:
    with pytest.raises(StatesError) as info:
        call(text, value)
    assert info.value.name == "States.IntrinsicFailure"
    assert info.value.cause
    return info.value


# --- States.Format / JsonToString / StringToJson (corpus: test_generic, test_json_manipulation)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("", "Formatting argument ."),
        ("HelloWorld", "Formatting argument HelloWorld."),
        (None, "Formatting argument null."),
        (1, "Formatting argument 1."),
        (1.1, "Formatting argument 1.1."),
        (True, "Formatting argument true."),
        ({"Arg1": 1, "Arg2": []}, "Formatting argument {Arg1=1, Arg2=[]}."),
        ([1, "a", None], "Formatting argument [1, a, null]."),
    ],
)
def test_format_renders_values_like_aws(value: object, text: str) -> None:
    assert call("States.Format('Formatting argument {}.', $.v)", value) == text


def test_format_with_a_template_from_the_input() -> None:
    assert call("States.Format($.v, 'x', 2)", "{} and {}") == "x and 2"


def test_format_placeholder_count_must_match() -> None:
    fails("States.Format('{} {}', 1)")
    fails("States.Format('{}', 1, 2)")
    fails("States.Format($.v, 1)", "no placeholder")


def test_format_template_must_be_a_string() -> None:
    fails("States.Format($.v, 1)", 5)


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "null"), (0, "0"), (1.1, "1.1"), (True, "true"), ("HelloWorld", '"HelloWorld"'),
     ([1, 2, "HelloWorld"], '[1,2,"HelloWorld"]'), ({"Arg1": 1, "Arg2": []}, '{"Arg1":1,"Arg2":[]}')],
)
def test_json_to_string_is_compact(value: object, text: str) -> None:
    assert call("States.JsonToString($.v)", value) == text


@pytest.mark.parametrize(
    ("text", "value"),
    [("", None), (" ", None), ("null", None), ("-0", 0), ("1.1", 1.1), ("true", True),
     ('"HelloWorld"', "HelloWorld"), ('[1, 2, "HelloWorld"]', [1, 2, "HelloWorld"]),
     ('{"Arg1": 1, "Arg2": []}', {"Arg1": 1, "Arg2": []})],
)
def test_string_to_json(text: str, value: object) -> None:
    assert call("States.StringToJson($.v)", text) == value


def test_string_to_json_errors() -> None:
    fails("States.StringToJson($.v)", "{not json")
    fails("States.StringToJson($.v)", 5)
    fails("States.StringToJson($.v)", "NaN")


# --- arrays (corpus: test_array) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "size", "parts"),
    [([], 1, []), ([0], 5, [[0]]), ([0, 1, 2], 2, [[0, 1], [2]]), ([0, 1, 2, 3], 4, [[0, 1, 2, 3]])],
)
def test_array_partition(items: list[int], size: int, parts: list[list[int]]) -> None:
    assert call(f"States.ArrayPartition($.v, {size})", items) == parts


def test_array_partition_errors() -> None:
    fails("States.ArrayPartition($.v, 0)", [1])
    fails("States.ArrayPartition($.v, 1.5)", [1])
    fails("States.ArrayPartition($.v, 1)", "not an array")


@pytest.mark.parametrize(
    ("items", "needle", "found"),
    [([], None, False), ([[1, 2, 3], 2], [1, 2, 3], True), ([{"1": 2, "2": []}], {"1": 2, "2": []}, True),
     ([{"1": 2, "2": []}], [], False), ([True, False], False, True), ([1], True, False), ([1.0], 1, True)],
)
def test_array_contains(items: list[object], needle: object, found: bool) -> None:
    scope = Scope({"a": items, "b": needle}, {})
    assert parse_intrinsic("States.ArrayContains($.a, $.b)").evaluate(scope) is found


@pytest.mark.parametrize(
    ("args", "items"),
    [("0, 9, 3", [0, 3, 6, 9]), ("0, 10, 3", [0, 3, 6, 9]), ("1, 9, 9", [1]), ("1, 9, 2", [1, 3, 5, 7, 9]),
     ("5, 1, -2", [5, 3, 1])],
)
def test_array_range(args: str, items: list[int]) -> None:
    assert call(f"States.ArrayRange({args})") == items


def test_array_range_errors() -> None:
    fails("States.ArrayRange(0, 10, 0)")
    fails("States.ArrayRange(0, 1000, 1)")  # 1,001 items: AWS allows at most 1,000
    fails("States.ArrayRange(0, 'x', 1)")
    assert len(call("States.ArrayRange(1, 1000, 1)")) == 1000  # type: ignore[arg-type]


def test_array_get_item_and_length() -> None:
    assert call("States.ArrayGetItem($.v, 5)", [1, 2, 3, 4, 5, 6, 7, 8, 9]) == 6
    assert call("States.ArrayLength($.v)", [None, None, 1]) == 3
    fails("States.ArrayGetItem($.v, 3)", [1, 2, 3])
    fails("States.ArrayGetItem($.v, -1)", [1, 2, 3])
    fails("States.ArrayLength($.v)", {"not": "array"})


def test_array_unique_keeps_first_occurrences() -> None:
    items: list[object] = [None, None, True, True, 1, 1, 1.1, 0, "a", "a", [], [], {"a": 1}, {"a": 1}, {"a": 2}]
    assert call("States.ArrayUnique($.v)", items) == [None, True, 1, 1.1, 0, "a", [], {"a": 1}, {"a": 2}]


# --- encoding, hashing, JSON merge ------------------------------------------------------------


def test_base64() -> None:
    assert call("States.Base64Encode($.v)", "Data to encode") == "RGF0YSB0byBlbmNvZGU="
    assert call("States.Base64Decode($.v)", "RGF0YSB0byBlbmNvZGU=") == "Data to encode"
    assert call("States.Base64Encode($.v)", "") == ""
    fails("States.Base64Decode($.v)", "***")
    fails("States.Base64Encode($.v)", "x" * 10_001)


@pytest.mark.parametrize(
    ("algorithm", "digest"),
    [("MD5", "812f45842bc6d66ee14572ce20db8e86"),
     ("SHA-1", "aaff4a450a104cd177d28d18d74485e8cae074b7"),
     ("SHA-256", "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3")],
)
def test_hash(algorithm: str, digest: str) -> None:
    assert call(f"States.Hash($.v, '{algorithm}')", "input data") == digest


def test_hash_rejects_unknown_algorithms() -> None:
    assert "SHA-512" in str(fails("States.Hash($.v, 'SHA-3')", "x").cause)


def test_json_merge_is_shallow() -> None:
    scope = Scope({"a": {"a": {"a1": 1}, "b": 2, "d": 3}, "b": {"a": {"a3": 1}, "c": 3, "d": 4}}, {})
    merged = parse_intrinsic("States.JsonMerge($.a, $.b, false)").evaluate(scope)
    assert merged == {"a": {"a3": 1}, "b": 2, "c": 3, "d": 4}
    with pytest.raises(StatesError, match="IntrinsicFailure"):
        parse_intrinsic("States.JsonMerge($.a, $.b, true)").evaluate(scope)
    with pytest.raises(StatesError, match="IntrinsicFailure"):
        parse_intrinsic("States.JsonMerge($.a, 'text', false)").evaluate(scope)


# --- math, strings, randomness ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "total"),
    [(-9, 3, -6), (1.49, 1.5, 3), (1.5, 1.51, 4), (-1.49, -1.5, -2), (-1.5, 0, -1), (-0.5, 0, 0),
     (2.5, 0, 3), (-2.5, 0, -2), (-0.5, 0.5, 1)],
)
def test_math_add_rounds_half_up_first(a: float, b: float, total: int) -> None:
    assert call(f"States.MathAdd({a}, {b})") == total


def test_math_add_errors() -> None:
    fails("States.MathAdd($.v, 1)", "1")
    fails("States.MathAdd($.v, 1)", 2**31)


def test_math_random_uses_the_injected_rng() -> None:
    first = call("States.MathRandom(1, 1000)", rng=random.Random(7))
    assert first == call("States.MathRandom(1, 1000)", rng=random.Random(7))
    assert isinstance(first, int) and 1 <= first < 1000
    seeded = {call("States.MathRandom(0, 999, 3)", rng=random.Random(n)) for n in range(5)}
    assert len(seeded) == 1  # the seed argument decides, not the execution's rng
    fails("States.MathRandom(5, 5)")


def test_uuid_is_v4_and_reproducible_with_a_seed() -> None:
    text = call("States.UUID()", rng=random.Random(1))
    assert isinstance(text, str) and uuid.UUID(text).version == 4
    assert text == call("States.UUID()", rng=random.Random(1))
    assert text != call("States.UUID()", rng=random.Random(2))
    assert uuid.UUID(str(call("States.UUID()"))).version == 4


@pytest.mark.parametrize(
    ("text", "delimiter", "parts"),
    [(" ", ",", [" "]), (" , ", ",", [" ", " "]), (", , ,", ",", [" ", " "]), (",,,,", ",", []),
     ("This.is+a,test=string", ".+,=", ["This", "is", "a", "test", "string"]),
     ("split on T and \nnew line", "T\n", ["split on ", " and ", "new line"])],
)
def test_string_split_on_any_delimiter_character(text: str, delimiter: str, parts: list[str]) -> None:
    scope = Scope({"s": text, "d": delimiter}, {})
    assert parse_intrinsic("States.StringSplit($.s, $.d)").evaluate(scope) == parts


def test_type_errors_name_the_argument() -> None:
    error = fails("States.StringSplit($.v, ',')", 12)
    assert error.cause is not None and "argument 1 must be a string" in error.cause

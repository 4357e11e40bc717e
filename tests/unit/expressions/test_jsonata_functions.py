"""The functions AWS adds to JSONata: $partition, $range, $hash, $random, $uuid, $parse.

Expected values come from the conformance corpus (intrinsic_functions.test_*_jsonata) and
the AWS docs (States.Hash's documented example, which $hash mirrors).
"""

from __future__ import annotations

import random
import re

import pytest

from statemachine.errors import StatesError
from statemachine.expressions.jsonata import compile_jsonata_template
from statemachine.expressions.scope import Scope


def run(expression: str, value_input=None, rng: random.Random | None = None):
    template = compile_jsonata_template("{% " + expression + " %}", field="Output")
    return template.evaluate(Scope(input=value_input, context={}), rng or random.Random(0))


def fails(expression: str, value_input=None) -> str:
    with pytest.raises(StatesError) as info:
        run(expression, value_input)
    assert info.value.name == "States.QueryEvaluationError"
    return info.value.cause


@pytest.mark.parametrize(
    ("array", "size", "expected"),
    [
        ([0], 1, [[0]]),
        ([0], 5, [[0]]),
        ([0, 1], 1, [[0], [1]]),
        ([0, 1, 2], 2, [[0, 1], [2]]),
        ([0, 1, 2, 3], 3, [[0, 1, 2], [3]]),
        ([0, 1, 2, 3], 4, [[0, 1, 2, 3]]),
    ],
)
def test_partition(array, size, expected):
    # intrinsic_functions.test_array_jsonata/test_array_partition__*
    value_input = {"FunctionInput": {"fst": array, "snd": size}}
    expression = "$partition($states.input.FunctionInput.fst, $states.input.FunctionInput.snd)"
    assert run(expression, value_input) == expected


@pytest.mark.parametrize(
    ("start", "end", "step", "expected"),
    [
        (0, 9, 3, [0, 3, 6, 9]),
        (0, 10, 3, [0, 3, 6, 9]),
        (1, 9, 2, [1, 3, 5, 7, 9]),
        (1, 9, 9, 1),  # a one-item sequence reads as its item (AWS output: 1)
    ],
)
def test_range(start, end, step, expected):
    # intrinsic_functions.test_array_jsonata/test_array_range__*
    assert run(f"$range({start}, {end}, {step})") == expected


def test_range_counts_down_with_a_negative_step():
    assert run("$range(5, 1, -2)") == [5, 3, 1]


def test_range_rejects_a_zero_step():
    assert "threw an error during evaluation" in fails("$range(1, 5, 0)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-0", 0),
        ("1", 1),
        ("1.1", 1.1),
        ("true", True),
        ('"HelloWorld"', "HelloWorld"),
        ('[1, 2, "HelloWorld"]', [1, 2, "HelloWorld"]),
        ('{"Arg1": 1, "Arg2": []}', {"Arg1": 1, "Arg2": []}),
    ],
)
def test_parse(text, expected):
    # intrinsic_functions.test_json_manipulation_jsonata/test_parse__*
    assert run("$parse($states.input.FunctionInput)", {"FunctionInput": text}) == expected


def test_parse_null_is_null_not_undefined():
    assert run("$parse('null')") is None


def test_parse_of_invalid_json_fails():
    assert "threw an error during evaluation" in fails("$parse('{nope')")


def test_hash_matches_the_documented_example():
    # AWS docs, States.Hash: "input data" with SHA-1
    assert run("$hash('input data', 'SHA-1')") == "aaff4a450a104cd177d28d18d74485e8cae074b7"


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512"])
def test_hash_algorithms(algorithm):
    digest = run(f"$hash('x', '{algorithm}')")
    lengths = {"MD5": 32, "SHA-1": 40, "SHA-256": 64, "SHA-384": 96, "SHA-512": 128}
    assert re.fullmatch(r"[0-9a-f]+", digest)
    assert len(digest) == lengths[algorithm]


def test_hash_rejects_unknown_algorithms():
    assert "threw an error during evaluation" in fails("$hash('x', 'SHA-3')")


def test_random_comes_from_the_injected_source():
    first = run("[$random(), $random()]", rng=random.Random(42))
    again = run("[$random(), $random()]", rng=random.Random(42))
    assert first == again
    assert first[0] != first[1]
    assert all(0 <= v < 1 for v in first)


def test_random_with_a_seed_is_reproducible_whatever_the_source():
    a = run("$random(7)", rng=random.Random(1))
    b = run("$random(7)", rng=random.Random(2))
    assert a == b
    assert 0 <= a < 1
    assert run("$random(8)") != a


def test_uuid_is_a_version_4_uuid_from_the_injected_source():
    value = run("$uuid()", rng=random.Random(5))
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", value
    )
    assert run("$uuid()", rng=random.Random(5)) == value
    assert run("$uuid()", rng=random.Random(6)) != value


def test_standard_functions_still_work():
    # evaluate_jsonata cases use $sum, $contains, $number, $merge, $exists, $not
    assert run("$sum($states.input.n)", {"n": [1, 2, 3]}) == 6
    assert run("$merge([{'a': 1}, {'b': 2}])") == {"a": 1, "b": 2}
    assert run("$not($exists($states.input.nope))", {}) is True


def test_eval_is_not_available():
    # AWS docs: "$eval is not available - use $parse instead"
    assert fails("$eval('1 + 1')").endswith(
        "threw an error during evaluation. T1006: Attempted to invoke a non-function"
    )

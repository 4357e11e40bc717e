"""JSONata error codes as JavaScript JSONata raises them (AWS quotes them in causes), and the
evaluation limits.

Expected codes: issue 9 item 11 (``$formatNumber(1, "x")`` is D3086 on AWS, as jsonata-js 2.x
raises it); the others are what jsonata-js 2.x's source raises for the same failure
(src/functions.js, src/jsonata.js: formatNumber checks every F&O 4.7.3 rule and reports the
last that fails; $number -> D3030; $power -> D3061; $toMillis -> D3110; date pictures ->
D3132/D3135; $formatInteger -> D3130; $replace -> D3010/D3011; decodeURI failures -> D3140).
"""

from __future__ import annotations

import pytest

import statemachine


def _run(expression: str, value: object = None) -> statemachine.Execution:
    machine = statemachine.load({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Output": "{% " + expression + " %}", "End": True}}})
    return machine.run({"v": value})


def _cause(expression: str, value: object = None) -> str:
    execution = _run(expression, value)
    assert execution.status == "FAILED"
    assert execution.error == "States.QueryEvaluationError"
    assert execution.cause is not None
    return execution.cause


def test_format_number_x_is_d3086_as_on_aws() -> None:
    assert _cause("$formatNumber(1, 'x')").endswith(
        "threw an error during evaluation. D3086: The sub-picture must not contain a passive "
        "character that is preceded by an active character and that is followed by another "
        "active character")


@pytest.mark.parametrize(("expression", "code"), [
    ("$formatNumber(1, '#,,#')", "D3089"),
    ("$formatNumber(1, '#e')", "D3093"),
    ("$formatNumber(1, '#%e0')", "D3092"),
    ("$formatNumber(1, '#.#.#')", "D3081"),
    ("$formatNumber(1, '#;#;#')", "D3080"),
    ("$formatNumber(1, '#,.#')", "D3087"),
    ("$number('abc')", "D3030"),
    ("$power(10, 1000)", "D3061"),
    ("$toMillis('x')", "D3110"),
    ("$fromMillis(0, '[Q]')", "D3132"),
    ("$fromMillis(0, '[Y')", "D3135"),
    ("$formatInteger(1, 'x')", "D3130"),
    ("$replace('abc', '', 'x')", "D3010"),
    ("$replace('abc', 'a', 'x', -1)", "D3011"),
    ("$decodeUrl('%')", "D3140"),
    ("$decodeUrlComponent('%E0%A4%A')", "D3140"),
    ("1 / 0", "D1001"),
])
def test_error_codes_match_javascript_jsonata(expression: str, code: str) -> None:
    assert f"threw an error during evaluation. {code}: " in _cause(expression)


def test_decode_url_message_names_the_function() -> None:
    assert _cause("$decodeUrl('%')").endswith('D3140: Malformed URL passed to $decodeUrl(): "%"')


@pytest.mark.parametrize(("expression", "expected"), [
    ("$formatNumber(1234.5, '#,##0.00')", "1,234.50"),
    ("$number('12')", 12),
    ("$map(['1', '2'], $number)", [1, 2]),
    ("$decodeUrl('%20a')", " a"),
    ("$power(2, 10)", 1024),
    ("$pad('a', 3)", "a  "),
    ("$join(['a', 'b'], '-')", "a-b"),
    ("$replace('abc', 'b', 'x')", "axc"),
])
def test_fixed_functions_still_work(expression: str, expected: object) -> None:
    execution = _run(expression)
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output == expected


@pytest.mark.parametrize(("expression", "message"), [
    ("[1..2000000].($)", "D2015: The maximum sequence length of 1000000 was exceeded."),
    ("$pad('', 100000000)", "The maximum string length of 10000000 characters was exceeded."),
    ("$pad('', -100000000)", "The maximum string length of 10000000 characters was exceeded."),
    ("$join($map([1..2000], function($v){$pad('', 10000)}))",
     "The maximum string length of 10000000 characters was exceeded."),
    ("$replace($pad('', 100000, 'a'), 'a', $pad('', 1000, 'b'))",
     "The maximum string length of 10000000 characters was exceeded."),
    ("($s := function($x){ $x & $x }; $reduce([1..40], function($a, $i){ $s($a) }, 'ab'))",
     "The maximum string length of 10000000 characters was exceeded."),
    ("($f := function($n){ $n = 0 ? 0 : 1 + $f($n - 1) }; $f(100000))",
     "D1011: Stack overflow. Check for non-terminating recursive function.  "
     "Consider rewriting as tail-recursive"),
])
def test_unbounded_allocation_fails_the_state(expression: str, message: str) -> None:
    assert _cause(expression).endswith("threw an error during evaluation. " + message)


def test_the_error_is_catchable_like_any_query_evaluation_error() -> None:
    machine = statemachine.load({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Parallel", "End": True, "Branches": [{"StartAt": "P", "States": {
            "P": {"Type": "Pass", "Output": "{% $pad('', 100000000) %}", "End": True}}}],
              "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "B"}]},
        "B": {"Type": "Pass", "Output": "{% $states.input.Error %}", "End": True}}})
    execution = machine.run({})
    assert execution.status == "SUCCEEDED"
    assert execution.output == "States.QueryEvaluationError"


@pytest.mark.parametrize(("expression", "code"), [
    ("$power(-1, 1.5)", "D3061"),
    ("$sort([1, 'a'])", "D3070"),
    ("$split('a', function($x){$x})", "T1010"),
    ("$match('a', function($x){$x})", "T1010"),
    ("$replace('a', function($x){$x}, 'b')", "T1010"),
    ("$replace('a', 'a', function($m){$m})", "D3012"),
    ("$abs(null)", "T0410"),
    ("$sqrt(null)", "T0410"),
    ("$join('a', null)", "T0410"),
    ("$random(null)", "T0410"),
    ("$parseInteger('a', '')", "D3130"),
])
def test_python_exceptions_become_javascript_codes(expression: str, code: str) -> None:
    assert f"threw an error during evaluation. {code}: " in _cause(expression)


def test_null_message_names_argument_and_function() -> None:
    assert _cause("$abs(null)").endswith(
        'T0410: Argument 1 of function "abs" does not match function signature')

"""JSONata adapter: recognising ``{% %}`` strings, templates, bindings, AWS's error causes.

Expected causes are copied from the conformance corpus (recorded against AWS) without the
interpreter's "An error occurred while executing the state ..." prefix.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading

import pytest

from statemachine.errors import StatesError
from statemachine.expressions.jsonata import (
    JsonataEvaluationError,
    JsonataSyntaxError,
    compile_jsonata,
    compile_jsonata_template,
    is_jsonata_expression,
    states_bindings,
)
from statemachine.expressions.scope import Scope
from statemachine.values import MISSING


def scope(input=None, variables=None, **extra) -> Scope:
    return Scope(
        input=input, context={"Execution": {"Id": "arn:x"}}, variables=variables or {}, **extra
    )


def cause_of(template, the_scope: Scope, *, as_type: str | None = None) -> str:
    with pytest.raises(StatesError) as info:
        if as_type is None:
            template.evaluate(the_scope, random.Random(0))
        else:
            template.evaluate_as(the_scope, as_type, random.Random(0))
    assert info.value.name == "States.QueryEvaluationError"
    return info.value.cause


# --- what is an expression -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{% $x %}", True),
        ("{%$x%}", True),
        (" {% $x %}", False),  # AWS: no whitespace before {% ...
        ("{% $x %} ", False),  # ... nor after %}
        ("{% $x", False),
        ("$x %}", False),
        ("{%}", False),
        ("plain", False),
        (3, False),
        (None, False),
        ({"a": "{% $x %}"}, False),
    ],
)
def test_is_jsonata_expression(value, expected):
    assert is_jsonata_expression(value) is expected


# --- compile ---------------------------------------------------------------------------------


def test_syntax_error_carries_code_and_position():
    with pytest.raises(JsonataSyntaxError) as info:
        compile_jsonata("$states.input.")
    assert info.value.code == "S0207"
    assert info.value.position == 14
    assert info.value.message == "Unexpected end of expression"


def test_syntax_error_inside_a_template_is_reported_at_compile_time():
    with pytest.raises(JsonataSyntaxError) as info:
        compile_jsonata_template({"a": ["{% 1 + %}"]}, field="Output")
    assert info.value.code == "S0207"


def test_expression_text_is_kept_for_messages():
    assert compile_jsonata("$states.input.a").text == "$states.input.a"
    template = compile_jsonata_template("{%   $x   %}", field="Output")
    assert template.expression is not None
    assert template.expression.text == "$x"


# --- templates -------------------------------------------------------------------------------


def test_literal_template_is_shared_not_copied():
    value = {"a": [1, {"b": "not {% an expression"}], "c": None}
    template = compile_jsonata_template(value, field="Output")
    assert template.is_literal
    assert template.evaluate(scope()) is value


def test_template_evaluates_nested_expressions_and_keeps_literals():
    value = {
        "static": "Hello",
        "title": "{% $states.input.title %}",
        "list": [1, "{% $name %}", {"deep": "{% $states.input.n * 2 %}"}],
        "not-evaluated": "$name",
    }
    template = compile_jsonata_template(value, field="Arguments")
    out = template.evaluate(scope({"title": "Doctor", "n": 21}, {"name": "María"}))
    assert out == {
        "static": "Hello",
        "title": "Doctor",
        "list": [1, "María", {"deep": 42}],
        "not-evaluated": "$name",
    }
    assert value["title"] == "{% $states.input.title %}"  # the definition is untouched


def test_states_bindings_hold_result_and_error_output_only_when_present():
    plain = states_bindings(scope({"a": 1}, {"v": 2}))
    assert plain["states"] == {"input": {"a": 1}, "context": {"Execution": {"Id": "arn:x"}}}
    assert plain["v"] == 2
    full = states_bindings(scope({}, result={"r": 1}, error_output={"Error": "E"}))
    assert full["states"]["result"] == {"r": 1}
    assert full["states"]["errorOutput"] == {"Error": "E"}


def test_states_fields():
    the_scope = scope({"x": 1}, result={"r": 2}, error_output={"Error": "E"})
    template = compile_jsonata_template(
        [
            "{% $states.input.x %}",
            "{% $states.result.r %}",
            "{% $states.errorOutput.Error %}",
            "{% $states.context.Execution.Id %}",
        ],
        field="Output",
    )
    assert template.evaluate(the_scope) == [1, 2, "E", "arn:x"]


def test_result_is_undefined_outside_task_like_states():
    template = compile_jsonata_template("{% $states.result %}", field="Output")
    assert cause_of(template, scope()) == (
        "The JSONata expression '$states.result' specified for the field 'Output' "
        "returned nothing (undefined)."
    )


def test_null_values_stay_null():
    template = compile_jsonata_template(
        {
            "var": "{% $v %}",
            "field": "{% $states.input.a %}",
            "lit": "{% null %}",
            "in_array": "{% [1, null] %}",
        },
        field="Output",
    )
    out = template.evaluate(scope({"a": None}, {"v": None}))
    assert out == {"var": None, "field": None, "lit": None, "in_array": [1, None]}


def test_integral_numbers_come_back_as_int():
    template = compile_jsonata_template(
        ["{% 1.5 + 1.5 %}", "{% $sum([1, 2]) %}", "{% $states.input.f %}", "{% 1 / 4 %}"],
        field="Output",
    )
    out = template.evaluate(scope({"f": 2.0}))
    assert out == [3, 3, 2, 0.25]
    assert [type(v) for v in out] == [int, int, int, float]


def test_whole_input_is_returned_without_copy():
    payload = {"items": [{"a": 1}]}
    template = compile_jsonata_template("{% $states.input %}", field="Output")
    assert template.evaluate(scope(payload)) is payload


def test_expression_evaluate_returns_missing_for_undefined():
    expression = compile_jsonata("$states.input.nothing")
    assert expression.evaluate({"states": {"input": {}}}) is MISSING
    assert expression.evaluate({"states": {"input": {"nothing": False}}}) is False


def test_expression_errors_carry_the_jsonata_code():
    with pytest.raises(JsonataEvaluationError) as info:
        compile_jsonata("$nope(1)").evaluate({})
    assert info.value.code == "T1006"


# --- AWS causes (conformance corpus) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "field", "cause"),
    [
        # assign.test_assign_reference_variables/test_undefined_reference[BASE_UNDEFINED_ASSIGN]
        (
            "{% $doesNotExist %}",
            "Assign/result",
            "The JSONata expression '$doesNotExist' specified for the field 'Assign/result' "
            "returned nothing (undefined).",
        ),
        # ...[BASE_UNDEFINED_OUTPUT]
        (
            "{% $doesNotExist %}",
            "Output",
            "The JSONata expression '$doesNotExist' specified for the field 'Output' "
            "returned nothing (undefined).",
        ),
    ],
)
def test_undefined_cause(value, field, cause):
    assert cause_of(compile_jsonata_template(value, field=field), scope()) == cause


def test_undefined_cause_names_the_nested_field():
    # ...[BASE_UNDEFINED_OUTPUT_FIELD]: Output {"result": "{% $doesNotExist %}"}
    template = compile_jsonata_template({"result": "{% $doesNotExist %}"}, field="Output")
    assert cause_of(template, scope()) == (
        "The JSONata expression '$doesNotExist' specified for the field 'Output/result' "
        "returned nothing (undefined)."
    )


def test_assign_nested_field_name():
    template = compile_jsonata_template({"result": "{% $doesNotExist %}"}, field="Assign")
    assert "specified for the field 'Assign/result' returned nothing" in cause_of(template, scope())


def test_evaluation_error_cause():
    # intrinsic_functions.test_math_operations_jsonata/test_math_random_seeded
    template = compile_jsonata_template(
        {"FunctionResult": "{% $randomSeeded($states.input.FunctionInput.fst) %}"}, field="Output"
    )
    assert cause_of(template, scope({"FunctionInput": {"fst": "input"}})) == (
        "The JSONata expression '$randomSeeded($states.input.FunctionInput.fst)' specified for "
        "the field 'Output/FunctionResult' threw an error during evaluation. "
        "T1006: Attempted to invoke a non-function"
    )


@pytest.mark.parametrize(
    ("expression", "value_input", "cause_tail"),
    [
        # scenarios.test_base_scenarios/test_map_state_items_eval_jsonata_fail[*]
        ("true", None, "Expected 'array', but was 'boolean' for value: true"),
        ("null", None, "Expected 'array', but was 'null' for value: null"),
        ("1", None, "Expected 'array', but was 'number' for value: 1"),
        ("{'foo': 'bar'}", None, "Expected 'array', but was 'object' for value: {\"foo\":\"bar\"}"),
        ("'string'", None, "Expected 'array', but was 'string' for value: \"string\""),
    ],
)
def test_items_type_cause(expression, value_input, cause_tail):
    template = compile_jsonata_template("{% " + expression + " %}", field="Items")
    assert cause_of(template, scope(value_input), as_type="array") == (
        f"The JSONata expression '{expression}' specified for the field 'Items' returned an "
        f"unexpected result type. {cause_tail}"
    )


def test_items_type_cause_from_a_variable():
    # ...test_map_state_items_variable_sampling[object]
    template = compile_jsonata_template("{% $ItemsVar %}", field="Items")
    assert cause_of(template, scope(variables={"ItemsVar": {"foo": "bar"}}), as_type="array") == (
        "The JSONata expression '$ItemsVar' specified for the field 'Items' returned an "
        "unexpected result type. Expected 'array', but was 'object' for value: {\"foo\":\"bar\"}"
    )


def test_function_result_is_unsupported():
    # ...test_map_state_items_eval_jsonata_fail[function]
    template = compile_jsonata_template("{% $fn := function($x){$x} %}", field="Items")
    assert cause_of(template, scope(), as_type="array") == (
        "The JSONata expression '$fn := function($x){$x}' specified for the field 'Items' "
        "returned an unsupported result type."
    )


def test_evaluate_as_accepts_the_right_type():
    template = compile_jsonata_template("{% $states.input.items %}", field="Items")
    assert template.evaluate_as(scope({"items": [1, 2]}), "array") == [1, 2]
    seconds = compile_jsonata_template("{% $states.input.s %}", field="TimeoutSeconds")
    assert seconds.evaluate_as(scope({"s": 5}), "integer") == 5
    assert "Expected 'integer', but was 'number' for value: 1.5" in cause_of(
        seconds, scope({"s": 1.5}), as_type="integer"
    )


def test_error_messages_use_javascript_jsonata_words():
    template = compile_jsonata_template('{% "a" - 1 %}', field="Output")
    assert cause_of(template, scope()).endswith(
        "threw an error during evaluation. "
        'T2001: The left side of the "-" operator must evaluate to a number'
    )


# --- runtime properties ----------------------------------------------------------------------


def test_expressions_evaluate_concurrently_from_threads():
    template = compile_jsonata_template(
        "{% $map($states.input, function($x){$x * $k}) %}", field="Output"
    )
    results: dict[int, object] = {}

    def work(k: int) -> None:
        for _ in range(50):
            results[k] = template.evaluate(scope([1, 2, 3], {"k": k}))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {k: [k, 2 * k, 3 * k] for k in range(1, 5)}


def test_compiling_while_another_expression_is_evaluated():
    inner = compile_jsonata("$x + 1")
    outer = compile_jsonata("$map([1, 2], function($v){$v + $f()})")

    def f() -> int:
        compile_jsonata("1 + 1")  # a compile in the middle of an evaluation
        return inner.evaluate({"x": 9})

    lib_function = __import__("jsonata").Jsonata.JLambda(f)
    assert outer.evaluate({"f": lib_function}) == [11, 12]


def test_jsonata_library_is_imported_lazily():
    code = (
        "import sys, statemachine.expressions.jsonata as j; "
        "print('jsonata' in sys.modules); j.compile_jsonata('1'); print('jsonata' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_runaway_expression_times_out(monkeypatch):
    from statemachine.expressions.jsonata import adapter

    monkeypatch.setattr(adapter, "EVALUATION_TIMEOUT_SECONDS", 0.05)
    template = compile_jsonata_template(
        "{% ($f := function($n){ $f($n + 1) }; $f(0)) %}", field="Output"
    )
    assert cause_of(template, scope()).endswith(
        "threw an error during evaluation. "
        "D1012: Evaluation timeout after 50 milliseconds. Check for infinite loop"
    )


def test_whole_nested_input_value_is_shared():
    payload = {"items": [{"a": [1, 2]}, {"b": None}]}
    template = compile_jsonata_template("{% $states.input.items %}", field="Output")
    assert template.evaluate(scope(payload)) is payload["items"]


def test_bindings_built_once_serve_several_templates():
    bindings = states_bindings(scope({"a": 2}, {"v": 3}))
    output = compile_jsonata_template({"x": "{% $states.input.a * $v %}"}, field="Output")
    assign = compile_jsonata_template({"y": "{% $v - 1 %}"}, field="Assign")
    assert output.evaluate_bindings(bindings) == {"x": 6}
    assert assign.evaluate_bindings(bindings) == {"y": 2}

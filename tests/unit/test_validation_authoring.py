"""Kind validation for authors (issue 10): a warning for a template key that lost its ``.$``,
did-you-mean hints for misspelt fields, operators and types, and messages that read well."""

from __future__ import annotations

from typing import Any

import pytest

from statemachine.validation import check


def _pass(parameters: Any, **extra: Any) -> dict[str, Any]:
    return {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": parameters, "End": True, **extra}}}


def _warnings(definition: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d.pointer, d.message) for d in check(definition) if d.code == "missing-path-suffix"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("$.orderId", "a JSONPath"),
        ("$", None),
        ("$$", None),
        ("$5.00", None),
        ("$HOME/bin", None),
        ("$USD", None),  # no variable USD is assigned anywhere
        ("$.items[0].id", "a JSONPath"),
        ("$..id", "a JSONPath"),
        ("$$.Execution.Id", "a JSONPath"),
        ("States.Format('order {}', $.id)", "an intrinsic function call"),
        ("States.ALL", None),
        ("States.Format(", None),
        ("pay $.amount now", None),
        ("plain text", None),
    ],
)
def test_a_literal_that_reads_as_an_expression_is_flagged(text: str, kind: str | None) -> None:
    found = _warnings(_pass({"value": text}))
    if kind is None:
        assert found == []
    else:
        assert found == [("/States/P/Parameters/value",
                          f"'value' holds \"{text}\", {kind}, but its key does not end in '.$', so the text "
                          "itself is passed on; name the key \"value.$\" to evaluate it")]


def test_the_warning_is_a_warning_with_a_position() -> None:
    [found] = check("StartAt: P\nStates:\n  P:\n    Type: Pass\n    Parameters:\n      orderId: $.orderId\n    End: true\n")
    assert (found.code, found.severity, found.line, found.column, found.state) == ("missing-path-suffix", "warning", 6, 7, "P")


def test_keys_with_the_suffix_and_literal_fields_are_left_alone() -> None:
    assert _warnings(_pass({"orderId.$": "$.orderId", "nested": {"ok.$": "$.a"}}, Result="$.x")) == []


def test_variables_count_only_when_assigned() -> None:
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"total": 1}, "Next": "B"},
        "B": {"Type": "Pass", "Parameters": {"sum": "$total", "usd": "$USD"}, "End": True}}}
    assert [pointer for pointer, _ in _warnings(definition)] == ["/States/B/Parameters/sum"]


def test_every_payload_template_field_is_checked() -> None:
    processor = {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}
    definition = {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"Payload": {"deep": [{"id": "$.id"}, "$.skipped-in-array"]}},
              "ResultSelector": {"body": "$.Payload"},
              "Credentials": {"RoleArn": "$.role"},
              "Assign": {"kept": "$.x"},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Assign": {"err": "$.Cause"}, "Next": "C"}],
              "Next": "C"},
        "C": {"Type": "Choice", "Default": "M",
              "Choices": [{"Variable": "$.n", "IsPresent": True, "Assign": {"n": "$.n"}, "Next": "M"}]},
        "M": {"Type": "Map", "ItemSelector": {"v": "$$.Map.Item.Value"}, "ItemProcessor": processor,
              "Next": "L"},
        "L": {"Type": "Parallel", "Parameters": {"p": "States.UUID()"}, "End": True,
              "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "Parameters": {"b": "$.b"},
                                                              "End": True}}}]}}}
    assert sorted(pointer for pointer, _ in _warnings(definition)) == sorted([
        "/States/T/Parameters/Payload/deep/0/id", "/States/T/ResultSelector/body",
        "/States/T/Credentials/RoleArn", "/States/T/Assign/kept", "/States/T/Catch/0/Assign/err",
        "/States/C/Choices/0/Assign/n", "/States/M/ItemSelector/v", "/States/L/Parameters/p",
        "/States/L/Branches/0/States/B/Parameters/b"])


def test_jsonata_states_are_not_checked() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Output": {"a": "$.x"}, "Assign": {"b": "$.y"}, "End": True}}}
    assert _warnings(definition) == []


# -- did you mean ------------------------------------------------------------------------------


def _messages(state: dict[str, Any], code: str) -> list[str]:
    definition = {"StartAt": "S", "States": {"S": state, "Done": {"Type": "Succeed"}}}
    return [d.message for d in check(definition) if d.code == code]


def test_a_misspelt_field_gets_a_hint_and_points_at_the_key() -> None:
    definition = {"StartAt": "S", "States": {"S": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSecond": 3}]}}}
    [found] = [d for d in check(definition) if d.code == "unknown-field"]
    assert found.message == "field 'IntervalSecond' is not supported in 'Retry' (did you mean 'IntervalSeconds'?)"
    assert found.pointer == "/States/S/Retry/0/IntervalSecond"


def test_several_misspelt_fields_read_as_a_plural() -> None:
    state = {"Type": "Pass", "Reslt": 1, "ResultPth": "$.x", "Zzz": 2, "End": True}
    assert _messages(state, "unknown-field") == [
        "fields 'Reslt', 'ResultPth', 'Zzz' are not supported in a Pass state "
        "(did you mean 'Result' for 'Reslt', 'ResultPath' for 'ResultPth'?)"]


def test_an_unrelated_field_gets_no_hint() -> None:
    assert _messages({"Type": "Pass", "Zzz": 2, "End": True}, "unknown-field") == [
        "field 'Zzz' is not supported in a Pass state"]


def test_a_misspelt_operator_gets_a_hint() -> None:
    state = {"Type": "Choice", "Default": "Done", "Choices": [{"Variable": "$.x", "StringEqual": "a", "Next": "Done"}]}
    assert _messages(state, "unknown-field") == [
        "field 'StringEqual' is not supported in 'Choices' (did you mean 'StringEquals'?)"]


def test_a_misspelt_type_gets_a_hint() -> None:
    [message] = _messages({"Type": "Paralel", "End": True}, "invalid-value")
    assert message.endswith('not "Paralel" (did you mean "Parallel"?)')
    [message] = _messages({"Type": "Banana", "End": True}, "invalid-value")
    assert message.endswith('not "Banana"')


# -- unresolved resources ------------------------------------------------------------------------


def test_unresolved_resources_are_all_reported_with_positions() -> None:
    from statemachine.errors import ResourceNotFoundError
    from statemachine.loader import load_source
    from statemachine.validation.resolution import unresolved_resources

    class Known:
        def resolve(self, resource: str) -> object:
            if resource != "python:ok:f":
                raise ResourceNotFoundError(f"no handler for Resource {resource!r}")
            return object()

    doc = load_source(
        "StartAt: A\nStates:\n  A:\n    Type: Task\n    Resource: python:ok:f\n    Next: B\n"
        "  B:\n    Type: Task\n    Resource: nope:1\n    Next: M\n"
        "  M:\n    Type: Map\n    End: true\n"
        "    ItemReader:\n      Resource: arn:aws:states:::s3:getObject\n"
        "    ItemProcessor:\n      ProcessorConfig: {Mode: DISTRIBUTED, ExecutionType: STANDARD}\n"
        "      StartAt: I\n      States:\n        I: {Type: Task, Resource: nope:2, End: true}\n",
        name="flow.yaml")
    found = [(d.code, d.state, d.line, d.column, d.file) for d in unresolved_resources(doc, Known())]
    assert found == [("unresolved-resource", "B", 9, 5, "flow.yaml"), ("unresolved-resource", "M", 15, 7, "flow.yaml"),
                     ("unresolved-resource", "I", 20, 25, "flow.yaml")]


def test_a_field_already_present_is_no_hint() -> None:
    [message] = _messages({"Type": "Pass", "Result": 1, "Reslt": 2, "End": True}, "unknown-field")
    assert message.startswith("field 'Reslt' is not supported in a Pass state")
    assert "'Result'?" not in message  # the next closest may be offered, never the one already there


def test_a_misspelt_operator_is_reported_once() -> None:
    """One typo, one line: the unknown field with its hint, not also 'unknown comparison
    operator' at the same place."""
    state = {"Type": "Choice", "Default": "Done", "Choices": [{"Variable": "$.x", "StringEqual": "a", "Next": "Done"}]}
    definition = {"StartAt": "S", "States": {"S": state, "Done": {"Type": "Succeed"}}}
    found = [(d.code, d.pointer) for d in check(definition) if d.severity == "error"]
    assert found == [("unknown-field", "/States/S/Choices/0/StringEqual")]


def test_a_stray_copy_of_a_present_field_gets_no_wrong_hint() -> None:
    processor = {"StartAt": "D", "States": {"D": {"Type": "Pass", "End": True}}}
    state = {"Type": "Map", "ItemProcessor": processor, "ItemProcesor": processor, "End": True}
    assert _messages(state, "unknown-field") == ["field 'ItemProcesor' is not supported in a Map state"]
    del state["ItemProcessor"]
    assert _messages(state, "unknown-field") == [
        "field 'ItemProcesor' is not supported in a Map state (did you mean 'ItemProcessor'?)"]


@pytest.mark.parametrize(("definition", "hint"), [
    ({"StartAt": "S", "States": {"S": {"Type": "SUCCEED"}}}, 'not "SUCCEED" (did you mean "Succeed"?)'),
    ({"StartAt": "S", "States": {"S": {"Type": "choise"}}}, 'not "choise" (did you mean "Choice"?)'),
    ({"QueryLanguage": "jsonata", "StartAt": "S", "States": {"S": {"Type": "Succeed"}}},
     'not "jsonata" (did you mean "JSONata"?)'),
    ({"QueryLanguage": "JSONATA", "StartAt": "S", "States": {"S": {"Type": "Succeed"}}},
     'not "JSONATA" (did you mean "JSONata"?)'),
    ({"StartAt": "M", "States": {"M": {"Type": "Map", "End": True, "ItemProcessor": {
        "ProcessorConfig": {"Mode": "Distribted", "ExecutionType": "standard"},
        "StartAt": "D", "States": {"D": {"Type": "Succeed"}}}}}},
     'not "Distribted" (did you mean "DISTRIBUTED"?)'),
    ({"StartAt": "M", "States": {"M": {"Type": "Map", "End": True, "ItemProcessor": {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "standard"},
        "StartAt": "D", "States": {"D": {"Type": "Succeed"}}}}}},
     'not "standard" (did you mean "STANDARD"?)'),
])
def test_a_value_in_the_wrong_case_gets_a_hint(definition: dict[str, Any], hint: str) -> None:
    """AWS's enums mix cases ("Succeed", "JSONata", "DISTRIBUTED", "FULL"): a value typed in
    another case is the commonest slip, so the hint compares without case."""
    messages = [d.message for d in check(definition) if d.code == "invalid-value"]
    assert any(m.endswith(hint) for m in messages), messages


def test_a_field_name_in_the_wrong_case_gets_a_hint() -> None:
    assert _messages({"Type": "Pass", "RESULTPATH": "$.x", "End": True}, "unknown-field") == [
        "field 'RESULTPATH' is not supported in a Pass state (did you mean 'ResultPath'?)"]


# -- a forgotten {% %} in a JSONata state ---------------------------------------------------------


def _braces(definition: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d.pointer, d.severity) for d in check(definition) if d.code == "missing-jsonata-delimiters"]


def test_a_jsonata_expression_outside_its_delimiters_is_flagged_in_every_template() -> None:
    """`Output: {total: $states.input.total}` in a JSONata state is the text "$states.input.total":
    only a string between {% and %} is evaluated. The JSONata twin of the forgotten '.$'."""
    definition = {"QueryLanguage": "JSONata", "StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Arguments": {"FunctionName": "f", "Payload": {"sum": "$sum($states.input.prices)"}},
              "Assign": {"total": "$states.result.Payload.total"},
              "Output": {"total": "$total", "list": ["$states.input.items", "plain"]},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Output": {"why": "$states.errorOutput.Cause"},
                         "Next": "F"}],
              "Next": "M"},
        "M": {"Type": "Map", "Items": "{% $states.input.items %}", "ItemSelector": {"v": "$states.context.Map.Item.Value"},
              "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}, "Next": "F"},
        "F": {"Type": "Fail", "Error": "Failed", "Cause": "$states.input.reason"}}}
    assert sorted(_braces(definition)) == sorted([
        ("/States/T/Arguments/Payload/sum", "warning"), ("/States/T/Assign/total", "warning"),
        ("/States/T/Output/total", "warning"), ("/States/T/Output/list/0", "warning"),
        ("/States/T/Catch/0/Output/why", "warning"), ("/States/M/ItemSelector/v", "warning"),
        ("/States/F/Cause", "warning")])
    [message] = [d.message for d in check(definition) if d.pointer == "/States/T/Output/total"
                 and d.code == "missing-jsonata-delimiters"]
    assert message == ('"$total" reads as a variable reference, but only a string between {% and %} is '
                       'evaluated, so the text itself is passed on; write "{% $total %}" to evaluate it')


@pytest.mark.parametrize("text", [
    "$5.00", "$HOME/bin", "$", "$USD", "$sum", "$states is here (", "costs $states.input",
    "{% $states.input.x %}", "$unassigned.x", "$nosuchfunction(1)",
])
def test_text_that_only_looks_like_jsonata_stays_quiet(text: str) -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Output": {"a": text}, "End": True}}}
    assert _braces(definition) == []


def test_jsonpath_states_are_not_checked_for_jsonata_delimiters() -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"a": "$states.input"}, "End": True}}}
    assert _braces(definition) == []


# -- a misspelt predefined error name ----------------------------------------------------------


def _error_names(retry: list[str], catch: list[str]) -> list[tuple[str, str, str]]:
    definition = {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Arguments": {"FunctionName": "f"},
              "QueryLanguage": "JSONata", "Retry": [{"ErrorEquals": retry}],
              "Catch": [{"ErrorEquals": catch, "Next": "D"}], "End": True},
        "D": {"Type": "Succeed"}}}
    return [(d.pointer, d.severity, d.message) for d in check(definition) if d.code == "unknown-error-name"]


def test_a_misspelt_predefined_error_name_gets_a_hint() -> None:
    """ErrorEquals: [States.Timout] is valid and never matches: the Retry or Catch silently does
    nothing. The States. prefix is reserved for the errors Step Functions raises."""
    assert _error_names(["States.Timout", "Lambda.ServiceException"], ["States.all"]) == [
        ("/States/T/Retry/0/ErrorEquals/0", "warning",
         "'States.Timout' is not an error Step Functions raises, so it never matches (did you mean 'States.Timeout'?)"),
        ("/States/T/Catch/0/ErrorEquals/0", "warning",
         "'States.all' is not an error Step Functions raises, so it never matches (did you mean 'States.ALL'?)")]


def test_predefined_and_custom_error_names_stay_quiet() -> None:
    known = ["States.Timeout", "States.HeartbeatTimeout", "States.TaskFailed", "States.Permissions",
             "States.ResultPathMatchFailure", "States.ParameterPathFailure", "States.QueryEvaluationError",
             "States.BranchFailed", "States.NoChoiceMatched", "States.IntrinsicFailure",
             "States.ExceedToleratedFailureThreshold", "States.ItemReaderFailed", "States.ResultWriterFailed",
             "States.DataLimitExceeded", "States.Runtime", "States.Http.Socket", "States.Http.StatusCode.503",
             "Rejected", "Lambda.TooManyRequestsException", "MyStates.Thing"]
    assert _error_names(known, ["States.ALL"]) == []


@pytest.mark.parametrize(("rule", "expected"), [
    ({"Variable": "$.x", "NumericEquals": "1"}, ("wrong-type", "/States/S/Choices/0/NumericEquals")),
    ({"Variable": "$.x", "IsNull": "true"}, ("wrong-type", "/States/S/Choices/0/IsNull")),
    ({"And": []}, ("out-of-range", "/States/S/Choices/0/And")),
    ({"Or": [{"Variable": "$.x", "StringEquals": 1}]}, ("wrong-type", "/States/S/Choices/0/Or/0/StringEquals")),
])
def test_a_wrong_choice_operand_is_reported_once(rule: dict[str, Any], expected: tuple[str, str]) -> None:
    """One mistake, one line: the schema's message, not also the Choice grammar's at the same place."""
    state = {"Type": "Choice", "Default": "Done", "Choices": [{**rule, "Next": "Done"}]}
    definition = {"StartAt": "S", "States": {"S": state, "Done": {"Type": "Succeed"}}}
    assert [(d.code, d.pointer) for d in check(definition) if d.severity == "error"] == [expected]


@pytest.mark.parametrize(("definition", "expected"), [
    ({"Startat": "A", "States": {"A": {"Type": "Succeed"}}},
     [("unknown-field", "/Startat", "field 'Startat' is not supported in 'definition' (did you mean 'StartAt'?)")]),
    ({"StartAt": "A", "Stats": {"A": {"Type": "Succeed"}}},
     [("unknown-field", "/Stats", "field 'Stats' is not supported in 'definition' (did you mean 'States'?)")]),
    ({"StartAt": "C", "States": {"C": {"Type": "Choice", "Default": "D", "Choices": [
        {"Variable": "$.x", "StringEquals": "a", "Nxt": "D"}]}, "D": {"Type": "Succeed"}}},
     [("unknown-field", "/States/C/Choices/0/Nxt", "field 'Nxt' is not supported in 'Choices' (did you mean 'Next'?)")]),
])
def test_a_misspelt_required_field_is_one_line_not_also_missing(definition: dict[str, Any],
                                                                expected: list[tuple[str, str, str]]) -> None:
    """'Nxt' for 'Next' is one mistake: the unknown field with its hint says it all."""
    assert [(d.code, d.pointer, d.message) for d in check(definition) if d.severity == "error"] == expected


def test_a_misspelt_condition_is_one_line() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "C", "States": {"C": {
        "Type": "Choice", "Default": "D", "Choices": [{"Conditon": "{% true %}", "Next": "D"}]}, "D": {"Type": "Succeed"}}}
    assert [(d.code, d.pointer) for d in check(definition) if d.severity == "error"] == [
        ("unknown-field", "/States/C/Choices/0/Conditon")]


def test_a_required_field_missing_beside_an_unrelated_unknown_one_is_still_reported() -> None:
    found = [(d.code, d.message) for d in check({"StartAt": "A", "Zzz": 1}) if d.severity == "error"]
    assert ("missing-field", "the field 'States' is required but missing") in found
    assert ("unknown-field", "field 'Zzz' is not supported in 'definition'") in found

"""Validation: one invalid definition per rule (tests/unit/invalid/*.yaml), each asserting
the diagnostic's code, message, line and state. The first line of each fixture says what
is expected: ``# rule: R; code: C; line: N; state: S; message: fragment``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from statemachine.loader import load_source
from statemachine.validation import RULES, check, validate

FIXTURES = Path(__file__).parent / "invalid"


@dataclasses.dataclass(frozen=True)
class Expected:
    rule: str
    code: str
    line: int
    state: str | None
    message: str
    severity: str


def _expected(path: Path) -> Expected:
    header = path.read_text(encoding="utf-8").splitlines()[0].removeprefix("# ")
    fields = dict(part.split(": ", 1) for part in header.split("; "))
    state = None if fields["state"] == "-" else fields["state"]
    return Expected(fields["rule"], fields["code"], int(fields["line"]), state, fields["message"],
                    fields.get("severity", "error"))


CASES = sorted(FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_invalid_fixture_reports_its_problem(path: Path) -> None:
    expected = _expected(path)
    diagnostics = check(path)
    matching = [d for d in diagnostics if d.code == expected.code]
    assert matching, f"no {expected.code} in {[d.format() for d in diagnostics]}"
    found = matching[0]
    assert expected.message in found.message
    assert (found.line, found.state, found.severity) == (expected.line, expected.state, expected.severity)
    assert found.file == str(path)
    assert found.column > 0


def test_every_rule_has_a_fixture() -> None:
    covered = {_expected(path).rule for path in CASES}
    covered.add("express-unsupported")  # needs machine_type="EXPRESS": tested further down
    assert set(RULES) <= covered, f"rules without a fixture: {sorted(set(RULES) - covered)}"


def test_fixture_problems_make_errors_but_warnings_do_not() -> None:
    for path in CASES:
        expected = _expected(path)
        errors = [d for d in check(path) if d.severity == "error"]
        assert bool(errors) == (expected.severity == "error"), path.name


def test_all_problems_are_reported_at_once() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "Missing"},
            "B": {"Type": "Wait", "End": True},
        },
    }
    codes = {d.code for d in check(definition)}
    assert {"unknown-next-target", "unreachable-state", "missing-wait-time"} <= codes


def test_valid_definition_has_no_diagnostics() -> None:
    text = """
StartAt: Greet
States:
  Greet:
    Type: Pass
    Result: {greeting: hello}
    ResultPath: $.out
    Next: Route
  Route:
    Type: Choice
    Choices:
      - Variable: $.out.greeting
        StringEquals: hello
        Next: Done
    Default: Fail
  Fail: {Type: Fail, Error: Oops, Cause: no greeting}
  Done: {Type: Succeed}
"""
    assert check(text) == []


@pytest.mark.parametrize(
    ("resource", "fragment"),
    [
        ("arn:aws:states:us-east-1:123456789012:activity:work", "Activity ARNs"),
        ("arn:aws:states:::states:startExecution.sync:2", "'.sync'"),
        ("arn:aws:states:::sqs:sendMessage.waitForTaskToken", "'.waitForTaskToken'"),
    ],
)
def test_express_machines_reject_activities_and_callbacks(resource: str, fragment: str) -> None:
    definition = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "End": True}}}
    assert check(definition) == []
    found = check(definition, machine_type="EXPRESS")
    assert [(d.code, d.state, d.pointer) for d in found] == [("express-unsupported", "T", "/States/T/Resource")]
    assert fragment in found[0].message


def test_validate_takes_a_loaded_document_and_fills_positions() -> None:
    doc = load_source("StartAt: A\nStates:\n  A:\n    Type: Pass\n    Next: B\n", name="flow.yaml")
    diagnostic = next(d for d in validate(doc) if d.code == "unknown-next-target")
    assert (diagnostic.code, diagnostic.file, diagnostic.line, diagnostic.column) == ("unknown-next-target", "flow.yaml", 5, 5)


def test_json_text_gets_positions_too() -> None:
    text = '{\n  "StartAt": "A",\n  "States": {\n    "A": {"Type": "Pass", "Nxt": "B", "End": true}\n  }\n}\n'
    [diagnostic] = check(text)
    assert diagnostic.code == "unknown-field"
    assert (diagnostic.line, diagnostic.state) == (4, "A")


def test_choice_rules_accept_nesting_and_every_operator() -> None:
    rule = {
        "And": [
            {"Variable": "$.a", "NumericGreaterThanEqualsPath": "$.b"},
            {"Not": {"Variable": "$.c", "StringMatches": "log-*.txt"}},
            {"Or": [{"Variable": "$.d", "IsNull": True}, {"Variable": "$.e", "TimestampLessThan": "2016-03-14T01:59:00Z"}]},
        ],
        "Next": "Done",
    }
    definition = {"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [rule], "Default": "Done"}, "Done": {"Type": "Succeed"}}}
    assert check(definition) == []


def test_nested_choice_rule_cannot_have_next() -> None:
    rule = {"Not": {"Variable": "$.c", "IsPresent": True, "Next": "Done"}, "Next": "Done"}
    definition = {"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [rule]}, "Done": {"Type": "Succeed"}}}
    [diagnostic] = check(definition)
    assert (diagnostic.code, diagnostic.pointer) == ("unknown-field", "/States/C/Choices/0/Not/Next")
    assert diagnostic.message == "field 'Next' is not supported in 'Not'"


def test_states_all_must_be_in_the_last_catcher() -> None:
    catch = [{"ErrorEquals": ["States.ALL"], "Next": "Done"}, {"ErrorEquals": ["Custom"], "Next": "Done"}]
    definition = {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Catch": catch, "End": True},
        "Done": {"Type": "Succeed"}}}
    [diagnostic] = check(definition)
    assert diagnostic.code == "states-all-not-alone"
    assert "must be the last one in Catch" in diagnostic.message


def test_unknown_intrinsic_argument_count_is_reported() -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "States.ArrayLength()"}, "End": True}}}
    [diagnostic] = check(definition)
    assert (diagnostic.code, diagnostic.pointer) == ("invalid-payload", "/States/P/Parameters/x.$")


def test_variables_assigned_anywhere_are_not_warned_about() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"total": 1}, "Next": "B"},
        "B": {"Type": "Pass", "Output": "{% $total + $count([1, 2]) + ($x := 2; $x) %}", "End": True}}}
    assert check(definition) == []


@pytest.mark.parametrize(
    "definition",
    [
        {"StartAt": 1, "States": []},
        {"StartAt": "A", "States": {"A": {"Type": {"nested": True}}}},
        {"StartAt": "A", "States": {"A": None}},
        {"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": {"not": "a list"}}}},
        {"StartAt": "A", "States": {"A": {"Type": "Parallel", "Branches": [None, {"States": 5}], "End": True}}},
        {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": 7, "Retry": [{"ErrorEquals": "States.ALL"}], "End": True}}},
        {"StartAt": "A", "States": {"A": {"Type": "Map", "ItemProcessor": [], "Assign": [], "End": True}}},
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"x.$": 5}, "ResultPath": 3, "Next": 9}}},
    ],
)
def test_wrong_types_give_diagnostics_not_exceptions(definition: dict[str, object]) -> None:
    errors = [d for d in check(definition) if d.severity == "error"]
    assert errors
    assert all(d.code and d.message for d in errors)


def test_a_variable_assigned_only_after_it_is_read_is_warned_about() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "Read", "States": {
        "Read": {"Type": "Pass", "Output": "{% $later %}", "Next": "Set"},
        "Set": {"Type": "Pass", "Assign": {"later": 1}, "End": True}}}
    [warning] = check(definition)
    assert (warning.code, warning.state, warning.pointer) == ("variable-never-assigned", "Read", "/States/Read/Output")


def test_variables_assigned_before_a_map_are_visible_inside_it() -> None:
    processor = {"StartAt": "Use", "States": {"Use": {"Type": "Pass", "Output": "{% $limit %}", "End": True}}}
    definition = {"QueryLanguage": "JSONata", "StartAt": "Set", "States": {
        "Set": {"Type": "Pass", "Assign": {"limit": 3}, "Next": "Each"},
        "Each": {"Type": "Map", "Items": [1, 2], "ItemProcessor": processor, "End": True}}}
    assert check(definition) == []


def test_jsonpath_variable_reads_are_checked_too() -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"x.$": "$missing.a"}, "End": True}}}
    [warning] = check(definition)
    assert (warning.code, warning.pointer) == ("variable-never-assigned", "/States/P/Parameters/x.$")

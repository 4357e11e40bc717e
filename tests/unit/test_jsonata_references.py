"""Issue 9 item 9: the JSONata checks AWS makes when a definition is created, each with AWS's
code (UNSUPPORTED_JSONATA_EXPRESSION -> ``unsupported-jsonata-expression``), AWS's message and
the pointer of the field holding the expression (AWS: "... at /States/E/Output/v").

Messages: AWS's CreateStateMachine / ValidateStateMachineDefinition answers ("Reference to
'phone' at the top level is not supported.", "Reference to '$$' is not supported.", "Field
'$states.errorOutput' does not exist."); where each ``$states`` field exists: AWS's
"Transforming data with JSONata" page (result: Task/Parallel/Map Output and Assign;
errorOutput: a Catcher's Output and Assign)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from statemachine import DefinitionError, load
from statemachine.validation import check

CODE = "unsupported-jsonata-expression"
REPO = Path(__file__).resolve().parents[2]


def _pass(output: Any) -> dict[str, Any]:
    return {"QueryLanguage": "JSONata", "StartAt": "E",
            "States": {"E": {"Type": "Pass", "Output": output, "End": True}}}


def _found(definition: Any) -> list[tuple[str, str]]:
    return [(d.message, d.pointer) for d in check(definition) if d.code == CODE]


def _top(name: str) -> str:
    return f"Reference to '{name}' at the top level is not supported."


def test_the_issue_sample_is_refused_with_aws_message_line_and_state() -> None:
    text = ('QueryLanguage: JSONata\nStartAt: E\nStates:\n  E:\n    Type: Pass\n'
            '    Output: {"v": "{% phone %}"}\n    End: true\n')
    [diagnostic] = [d for d in check(text) if d.severity == "error"]
    assert (diagnostic.code, diagnostic.message) == (CODE, _top("phone"))
    assert (diagnostic.pointer, diagnostic.state, diagnostic.line) == ("/States/E/Output/v", "E", 6)
    with pytest.raises(DefinitionError):
        load(text)


@pytest.mark.parametrize("output, expected", [
    ({"a": {"b": ["{% phone %}"]}}, [(_top("phone"), "/States/E/Output/a/b/0")]),
    ("{% $.phone %}", [(_top("$"), "/States/E/Output")]),
    ("{% aaa + bbb %}", [(_top("aaa"), "/States/E/Output"), (_top("bbb"), "/States/E/Output")]),
    ("{% {aaa: 1} %}", [(_top("aaa"), "/States/E/Output")]),
    ("{% $map($states.input.a, function($x){ b }) %}", [(_top("b"), "/States/E/Output")]),
    ("{% phone[0] %}", [(_top("phone"), "/States/E/Output")]),
    ("{% $$ %}", [("Reference to '$$' is not supported.", "/States/E/Output")]),
    ("{% $states.errorOutput %}", [("Field '$states.errorOutput' does not exist.", "/States/E/Output")]),
    ("{% $states.result %}", [("Field '$states.result' does not exist.", "/States/E/Output")]),
    ("{% $states.input.x[$states.result > 1] %}", [("Field '$states.result' does not exist.", "/States/E/Output")]),
])
def test_refused_references(output: Any, expected: list[tuple[str, str]]) -> None:
    assert _found(_pass(output)) == expected


@pytest.mark.parametrize("output", [
    "{% $states.input.phone %}", "{% $states.input.items[phone > 3] %}",
    "{% $map($states.input.a, function($x){ $x.phone }) %}", "{% $phone %}",
    "{% $states.context.Execution.Input %}", "{% $states.input.a{b: c} %}",
])
def test_accepted_references(output: str) -> None:
    assert _found(_pass(output)) == []


def test_fields_aws_keeps_as_text_are_not_parsed() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "E", "States": {"E": {
        "Type": "Pass", "Comment": "{% phone %}", "End": True}}}
    assert _found(definition) == []


def test_result_exists_in_task_output_and_assign_error_output_in_catchers_only() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "E", "States": {
        "E": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Arguments": {"x": "{% $states.result %}"}, "Output": "{% $states.result.Payload %}",
              "Assign": {"r": "{% $states.result %}"},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Output": "{% $states.errorOutput %}",
                         "Assign": {"e": "{% $states.errorOutput.Cause %}", "r": "{% $states.result %}"},
                         "Next": "F"}], "End": True},
        "F": {"Type": "Pass", "End": True}}}
    assert _found(definition) == [("Field '$states.result' does not exist.", "/States/E/Arguments/x"),
                                  ("Field '$states.result' does not exist.", "/States/E/Catch/0/Assign/r")]


def test_every_expression_field_is_checked_in_nested_machines_and_choices() -> None:
    definition = {"QueryLanguage": "JSONata", "StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Condition": "{% phone = 1 %}", "Next": "M"}], "Default": "M"},
        "M": {"Type": "Map", "Items": "{% items %}", "ItemProcessor": {"StartAt": "I", "States": {
            "I": {"Type": "Wait", "Seconds": "{% secs %}", "End": True}}}, "Next": "P"},
        "P": {"Type": "Parallel", "Branches": [{"StartAt": "B", "States": {
            "B": {"Type": "Fail", "Cause": "{% why %}"}}}], "End": True}}}
    assert _found(definition) == [
        (_top("phone"), "/States/C/Choices/0/Condition"), (_top("items"), "/States/M/Items"),
        (_top("secs"), "/States/M/ItemProcessor/States/I/Seconds"),
        (_top("why"), "/States/P/Branches/0/States/B/Cause")]


def test_an_unknown_context_field_is_a_warning() -> None:
    [diagnostic] = [d for d in check(_pass("{% $states.context.Execution.Nmae %}"))
                    if d.code == "unknown-context-field"]
    assert diagnostic.severity == "warning"
    assert "Execution has Id, Input, Name" in diagnostic.message


def test_sm_validate_reports_it_with_file_line_and_state(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text('QueryLanguage: JSONata\nStartAt: E\nStates:\n  E:\n    Type: Pass\n'
                    '    Output: {"v": "{% phone %}"}\n    End: true\n')
    result = subprocess.run([sys.executable, "-m", "statemachine.cli", "validate", str(path)],
                            capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if CODE in x)
    assert line.startswith(f"{path}:6:") and "state 'E'" in line and _top("phone") in line

"""Template placeholders (issue 11): ``${Name}`` filled textually before parsing, as SAM's
DefinitionSubstitutions (CloudFormation's StepFunctions resource provider replaces each
``${key}`` in the definition text), Fn::Sub and Terraform's templatefile do; left without a
value, accepted with a ``template-placeholder`` warning where a value could stand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import statemachine
from statemachine import templates
from statemachine.errors import DefinitionError
from statemachine.loader import load_source
from statemachine.validation import check


def _codes(diagnostics: list[Any], severity: str) -> list[str]:
    return [d.code for d in diagnostics if d.severity == severity]


# --- the text pass -----------------------------------------------------------------------


def test_substitute_fills_named_placeholders_and_leaves_the_rest() -> None:
    text = '"Resource": "arn:${partition}:states:::lambda:invoke", "x": "${Other}"'
    assert templates.substitute(text, {"partition": "aws"}) == (
        '"Resource": "arn:aws:states:::lambda:invoke", "x": "${Other}"')


def test_names_with_colons_dots_and_spaces_are_placeholders() -> None:
    text = "${AWS::Region} ${Func.Arn} ${self:custom.table} ${ name }"
    assert templates.names(text) == ["AWS::Region", "Func.Arn", "self:custom.table", "name"]
    assert templates.substitute(text, {"AWS::Region": "eu-west-1", "name": "n"}).startswith("eu-west-1 ")


def test_escapes_are_literal_text_and_never_filled() -> None:
    # Terraform: "$${" is a literal "${"; Fn::Sub: "${!Literal}" is a literal "${Literal}".
    text = "echo $${HOME} ${!Stage} ${Stage}"
    assert templates.substitute(text, {"HOME": "/root", "Stage": "prod"}) == "echo ${HOME} ${Stage} prod"
    assert templates.names(text) == ["Stage"]


@pytest.mark.parametrize(
    "text",
    ["$.detail.orderId", "$$.Task.Token", "$.Labels[?(@.Name==Receipt)]", "States.Format('{}-{}', $.a, $.b)",
     "{% $states.input.total * 2 %}", "$var.field", "${!Literal}", "$${literal}"],
)
def test_jsonpath_intrinsics_and_jsonata_are_not_placeholders(text: str) -> None:
    assert templates.has_placeholder(text) is False


def test_unquoted_placeholders_are_quoted_so_the_json_parses() -> None:
    text = '{"Seconds": ${Timeout}, "Comment": "wait \\" ${Timeout} here", "Max": ${Max}}'
    quoted, bare = templates.quote_bare(text)
    assert json.loads(quoted) == {"Seconds": "${Timeout}", "Comment": 'wait " ${Timeout} here', "Max": "${Max}"}
    assert [(p.name, p.line, p.column) for p in bare] == [("Timeout", 1, 13), ("Max", 1, 70)]


def test_assignments_and_substitution_files(tmp_path: Path) -> None:
    assert templates.parse_assignment("Url=https://x?a=b") == ("Url", "https://x?a=b")
    with pytest.raises(templates.SubstitutionsError):
        templates.parse_assignment("NoEquals")
    (tmp_path / "v.yaml").write_text("Timeout: 30\nStage: prod\nDebug: false\n", encoding="utf-8")
    assert templates.read_substitutions(str(tmp_path / "v.yaml")) == {"Timeout": "30", "Stage": "prod",
                                                                       "Debug": "false"}
    (tmp_path / "v.json").write_text('{"Table": "orders"}', encoding="utf-8")
    assert templates.read_substitutions(str(tmp_path / "v.json")) == {"Table": "orders"}
    (tmp_path / "bad.yaml").write_text("- a list\n", encoding="utf-8")
    for bad in ("bad.yaml", "missing.json"):
        with pytest.raises(templates.SubstitutionsError):
            templates.read_substitutions(str(tmp_path / bad))


def test_intrinsic_functions_render_to_the_strings_they_produce() -> None:
    value = {"Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":states:::lambda:invoke"]]},
             "Parameters": {"FunctionName": {"Fn::GetAtt": ["Worker", "Arn"]}, "Url": {"Fn::Sub": "https://${Api}/x"},
                            "Pick": {"Fn::Select": [0, ["a"]]}}}
    assert templates.render_intrinsics(value) == {
        "Resource": "arn:${AWS::Partition}:states:::lambda:invoke",
        "Parameters": {"FunctionName": "${Worker.Arn}", "Url": "https://${Api}/x", "Pick": "${Fn::Select}"}}


# --- loading and validating ----------------------------------------------------------------

WAIT_UNQUOTED = '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": ${Timeout}, "End": true}}}'
WAIT_QUOTED = '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": "${ReminderTimeout}", "End": true}}}'
LAMBDA = ('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:${partition}:states:::lambda:invoke",'
          ' "Parameters": {"FunctionName": "${FunctionArn}", "Payload.$": "$"}, "End": true}}}')


@pytest.mark.parametrize(("text", "names"), [(WAIT_UNQUOTED, ["${Timeout}"]), (WAIT_QUOTED, ["${ReminderTimeout}"]),
                                             (LAMBDA, ["${partition}", "${FunctionArn}"])])
def test_placeholders_without_values_are_accepted_with_a_warning(text: str, names: list[str]) -> None:
    found = check(text)
    assert _codes(found, "error") == []  # neither syntax-error nor wrong-type nor unknown-integration
    warnings = [d for d in found if d.code == "template-placeholder"]
    assert all(d.severity == "warning" for d in warnings)
    assert sorted(n for n in names if any(n in d.message for d in warnings)) == sorted(names)


def test_an_unquoted_placeholder_is_named_as_such() -> None:
    (warning,) = check(WAIT_UNQUOTED)
    assert warning.pointer == "/States/W/Seconds" and "unquoted" in warning.message


def test_filled_values_are_checked_as_aws_checks_them() -> None:
    assert check(WAIT_UNQUOTED, substitutions={"Timeout": "30"}) == []
    assert check(LAMBDA, substitutions={"partition": "aws", "FunctionArn": "arn:aws:lambda:us-east-1:1:function:f"}) == []
    # Filled inside quotes the value stays a string: AWS refuses it ("SCHEMA_VALIDATION_FAILED:
    # Expected value of type Integer at /States/WaitTill/Seconds", serverless-step-functions#188).
    assert _codes(check(WAIT_QUOTED, substitutions={"ReminderTimeout": "30"}), "error") == ["wrong-type"]
    # A filled value that is not JSON: CloudFormation's provider then reads the text as YAML
    # (JSON first, then YAML), where `soon` is a string: not an integer.
    assert _codes(check(WAIT_UNQUOTED, substitutions={"Timeout": "soon"}), "error") == ["wrong-type"]


def test_other_errors_are_still_reported_next_to_placeholders() -> None:
    text = LAMBDA.replace('"End": true', '"Next": "Nowhere"')
    assert set(_codes(check(text), "error")) == {"unknown-next-target", "no-terminal-state"}


def test_a_wrong_filled_integration_is_an_error() -> None:
    found = check(LAMBDA, substitutions={"partition": "aws"})
    assert _codes(found, "error") == [] and _codes(found, "warning") == ["template-placeholder"]
    assert _codes(check(LAMBDA.replace("lambda:invoke", "lambda:invok")), "error") == []  # unknowable unfilled
    assert _codes(check(LAMBDA.replace("lambda:invoke", "lambda:invok"), substitutions={"partition": "aws"}),
                  "error") == ["unknown-integration"]


def test_yaml_placeholders_and_cloudformation_tags() -> None:
    text = """\
StartAt: Send
States:
  Send:
    Type: Task
    Resource: !Sub arn:${AWS::Partition}:states:::sqs:sendMessage
    Parameters:
      QueueUrl: !Ref OrdersQueue
      MessageBody.$: $
    Next: Wait
  Wait:
    Type: Wait
    Seconds: ${Delay}
    Next: Notify
  Notify:
    Type: Task
    Resource: !GetAtt NotifyFunction.Arn
    End: true
"""
    found = check(text)
    assert _codes(found, "error") == []
    assert len([d for d in found if d.code == "template-placeholder"]) == 4
    values = {"AWS::Partition": "aws", "OrdersQueue": "https://sqs/q", "Delay": "5",
              "NotifyFunction.Arn": "arn:aws:lambda:us-east-1:123456789012:function:notify"}
    assert check(text, substitutions=values) == []


def test_escaped_placeholders_filled_are_literal_text_without_a_warning() -> None:
    text = '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"cmd": "echo $${HOME}"}, "End": true}}}'
    assert check(text) == []
    assert check(text, substitutions={}) == []
    assert load_source(text, substitutions={}).data["States"]["P"]["Result"] == {"cmd": "echo ${HOME}"}


def test_running_needs_the_values_the_definition_needs() -> None:
    with pytest.raises(DefinitionError) as info:
        statemachine.load(WAIT_UNQUOTED)
    assert [d.code for d in info.value.diagnostics] == ["template-placeholder"]
    assert "--substitute Timeout=VALUE" in info.value.diagnostics[0].message
    execution = statemachine.load(WAIT_UNQUOTED, substitutions={"Timeout": "0"}).run({"a": 1})
    assert (execution.status, execution.output) == ("SUCCEEDED", {"a": 1})


def test_placeholders_in_free_text_run_as_the_literal_text() -> None:
    text = '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"stage": "${Stage}"}, "End": true}}}'
    assert statemachine.load(text).run({}).output == {"stage": "${Stage}"}
    assert statemachine.load(text, substitutions={"Stage": "prod"}).run({}).output == {"stage": "prod"}


def test_a_cdk_definition_string_with_an_unquoted_reference() -> None:
    # CDK joins text and a Ref where a number stands: "MaxConcurrency":<Ref>, unquoted once rendered.
    pieces = ['{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":', {"Ref": "Concurrency"},
              ',"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}']
    text = json.dumps({"Fn::Join": ["", pieces]})
    (warning,) = check(text)
    assert warning.code == "template-placeholder" and "unquoted" in warning.message
    assert warning.pointer == "/States/M/MaxConcurrency"
    assert check(text, substitutions={"Concurrency": "5"}) == []
    assert load_source(text, substitutions={"Concurrency": "5"}).data["States"]["M"]["MaxConcurrency"] == 5


def test_serverless_hash_pseudo_parameters_are_placeholders() -> None:
    # serverless-step-functions: "arn:aws:lambda:#{AWS::Region}:#{AWS::AccountId}:function:f"
    # becomes an Fn::Sub "${AWS::Region}" before AWS sees it.
    text = ("StartAt: Pub\nStates:\n  Pub:\n    Type: Task\n"
            "    Resource: arn:#{AWS::Partition}:states:::sns:publish\n"
            "    Parameters:\n      TopicArn: arn:aws:sns:#{AWS::Region}:#{AWS::AccountId}:alerts\n"
            "      Message: hi\n    End: true\n")
    assert templates.names(text) == ["AWS::Partition", "AWS::Region", "AWS::AccountId"]
    found = check(text, name="flow.yml")
    assert _codes(found, "error") == []
    assert _codes(found, "warning") == ["template-placeholder"] * 3
    filled = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}
    assert check(text, name="flow.yml", substitutions=filled) == []
    wrong = check(text.replace(":sns:publish", ":sns:publsh"), name="flow.yml", substitutions=filled)
    assert _codes(wrong, "error") == ["unknown-integration"]


def test_a_cdk_definition_string_without_tokens_is_one_json_string() -> None:
    # CDK writes DefinitionString as a plain string when the definition holds no token (no
    # Ref/GetAtt to join); the definition AWS sees is that string's text.
    inner = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": True}, "End": True}}}
    text = json.dumps(json.dumps(inner, separators=(",", ":")))
    assert check(text, name="definition-string.json") == []
    assert statemachine.load(text).run({}).output == {"ok": True}
    broken = json.dumps(json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Q"}}}))
    assert "unknown-next-target" in _codes(check(broken, name="definition-string.json"), "error")
    assert _codes(check('"just text"', name="x.json"), "error") == ["not-an-object"]


# Terraform's templatefile directives: %{ if c }...%{ else }...%{ endif } and %{ for }...%{ endfor }
# are rendered by Terraform before AWS sees the definition.
TERRAFORM_IF = """{
  "StartAt": "Start",
  "States": {
    "Start": {"Type": "Pass", "Next": %{ if audit }"Audit"%{ else }"Done"%{ endif }},
%{ if audit ~}
    "Audit": {"Type": "Pass", "Next": "Done"},
%{ endif ~}
    "Done": {"Type": "Succeed"}
  }
}"""


def test_terraform_if_without_a_value_reads_the_first_branch_with_a_warning() -> None:
    found = check(TERRAFORM_IF, name="flow.asl.json")
    assert _codes(found, "error") == []
    assert [(d.code, d.line, d.column) for d in found] == [("template-placeholder", 4, 39), ("template-placeholder", 5, 1)]
    assert "--substitute audit=false" in found[0].message
    doc = load_source(TERRAFORM_IF, name="flow.asl.json")
    assert doc.data["States"]["Start"]["Next"] == "Audit"
    assert doc.position("/States/Done") == (8, 5)  # blanked out, not removed: positions are the file's


@pytest.mark.parametrize(("value", "states"), [("true", ["Start", "Audit", "Done"]), ("false", ["Start", "Done"])])
def test_terraform_if_reads_the_branch_its_value_selects(value: str, states: list[str]) -> None:
    assert check(TERRAFORM_IF, name="flow.asl.json", substitutions={"audit": value}) == []
    assert list(load_source(TERRAFORM_IF, substitutions={"audit": value}).data["States"]) == states


def test_terraform_directives_must_be_decided_to_run() -> None:
    with pytest.raises(DefinitionError) as info:
        statemachine.load(TERRAFORM_IF)
    assert {d.code for d in info.value.diagnostics} == {"template-placeholder"}
    assert "--substitute audit=true" in info.value.diagnostics[0].message
    execution = statemachine.load(TERRAFORM_IF, substitutions={"audit": "false"}).run({})
    assert execution.status == "SUCCEEDED"


def test_a_terraform_for_loop_with_a_separator_is_read_once() -> None:
    text = """{"StartAt": "Fan out", "States": {"Fan out": {"Type": "Parallel", "End": true, "Branches": [
%{ for i, region in regions ~}
  {"StartAt": "Deploy", "States": {"Deploy": {"Type": "Pass", "Result": "${region}", "End": true}}}%{ if i < length(regions) - 1 },%{ endif }
%{ endfor ~}
]}}}"""
    found = check(text, name="flow.asl.json")
    assert _codes(found, "error") == []
    assert sum("Terraform template directive" in d.message for d in found) == 2
    assert len(load_source(text).data["States"]["Fan out"]["Branches"]) == 1


def test_unbalanced_terraform_directives_are_a_syntax_error() -> None:
    assert _codes(check(TERRAFORM_IF.replace("%{ endif ~}", ""), name="flow.asl.json"), "error") == ["syntax-error"]


def test_nested_serverless_variables_are_filled_from_the_inside_out() -> None:
    text = "${self:custom.tables.${sls:stage}} ${self:custom.${other}} ${x}"
    values = {"sls:stage": "prod", "self:custom.tables.prod": "orders-prod", "x": "${sls:stage}"}
    # a filled value is not searched again (x stays "${sls:stage}"), an unknown outer name stays
    assert templates.substitute(text, values) == "orders-prod ${self:custom.${other}} ${sls:stage}"


@pytest.mark.parametrize(
    "routing",
    ['"Next": "${AfterA}"',                                    # the target itself is a placeholder
     '"Next": "B", "Catch": ${catchers}',                      # Terraform: "Catch": ${jsonencode(...)}
     '"Next": "B", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "${on_error}"}]'],
)
def test_a_placeholder_that_routes_leaves_reachability_to_the_values(routing: str) -> None:
    # Which states are reached depends on the value: AWS judges the filled definition, which may
    # reach C (unreachable states are an error there, so they are one here once filled).
    text = ('{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", '
            '"Parameters": {"FunctionName": "f"}, ' + routing + '}, "B": {"Type": "Succeed"}, "C": {"Type": "Succeed"}}}')
    assert _codes(check(text, name="flow.asl.json"), "error") == []
    filled = {"AfterA": "B", "on_error": "B", "catchers": "[]"}
    assert _codes(check(text, name="flow.asl.json", substitutions=filled), "error") == ["unreachable-state"]


def test_a_placeholder_elsewhere_does_not_hide_an_unreachable_state() -> None:
    text = ('{"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "${x}", "Next": "B"}, '
            '"B": {"Type": "Succeed"}, "C": {"Type": "Succeed"}}}')
    assert _codes(check(text, name="flow.asl.json"), "error") == ["unreachable-state"]


def test_fn_sub_variables_render_to_what_they_produce() -> None:
    # Fn::Sub [template, {Name: !Ref WorkerFunction}]: ${Name} is the function's ${WorkerFunction}
    value = {"Fn::Sub": ["arn:aws:lambda:${AWS::Region}:1:function:${Name} ${!Literal}", {"Name": {"Ref": "WorkerFunction"}}]}
    assert templates.render_intrinsics(value) == "arn:aws:lambda:${AWS::Region}:1:function:${WorkerFunction} ${!Literal}"


def test_a_cloudformation_template_is_named_as_such() -> None:
    # `sm validate .` in a SAM project meets template.yaml: one clear error, not a list of
    # missing StartAt/unknown Resources fields.
    sam = """AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  OrderFlow:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachine/order.asl.json
      DefinitionSubstitutions:
        CheckStockFunctionArn: !GetAtt CheckStockFunction.Arn
"""
    assert _codes(check(sam, name="template.yaml"), "error") == ["cloudformation-template"]
    cdk = json.dumps({"Resources": {"SM": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {}}}})
    assert _codes(check(cdk, name="MyStack.template.json"), "error") == ["cloudformation-template"]
    # a definition that merely has a field named Resources is still judged as a definition
    odd = '{"StartAt": "P", "Resources": {}, "States": {"P": {"Type": "Pass", "End": true}}}'
    assert _codes(check(odd, name="flow.json"), "error") == ["unknown-field"]


def test_a_terraform_condition_is_read_the_same_way_wherever_it_stands() -> None:
    # Terraform renders either audit=true or audit=false: never the "Audit" Next without the
    # state, so reading each %{ if } on its own (first branches) would report a false error.
    text = """{
  "StartAt": "Start",
  "States": {
    "Start": {"Type": "Pass", "Next": %{ if audit }"Audit"%{ else }"Skipped"%{ endif }},
%{ if !audit ~}
    "Skipped": {"Type": "Pass", "Next": "Done"},
%{ else ~}
    "Audit": {"Type": "Pass", "Next": "Done"},
%{ endif ~}
    "Done": {"Type": "Succeed"}
  }
}"""
    found = check(text, name="flow.asl.json")
    assert _codes(found, "error") == []
    assert all("--substitute audit=false" in d.message for d in found)
    assert list(load_source(text).data["States"]) == ["Start", "Audit", "Done"]
    assert check(text, name="flow.asl.json", substitutions={"audit": "false"}) == []
    assert list(load_source(text, substitutions={"audit": "false"}).data["States"]) == ["Start", "Skipped", "Done"]


def test_an_unquoted_yaml_placeholder_that_routes_leaves_reachability_to_the_values() -> None:
    # Serverless: "Choices: ${file(./choices.yml)}" brings the rules (and their Next) from a file.
    text = ("StartAt: Route\nStates:\n  Route:\n    Type: Choice\n    Choices: ${file(./choices.yml)}\n"
            "    Default: Done\n  Special:\n    Type: Pass\n    Next: Done\n  Done:\n    Type: Succeed\n")
    assert _codes(check(text, name="flow.yml"), "error") == []
    # Serverless resolves variables in the parsed document: quoted, the file's rules come in too
    assert _codes(check(text.replace("${file(./choices.yml)}", "'${file(./choices.yml)}'"), name="flow.yml"), "error") == []
    # a SAM placeholder is filled as text: quoted, it is a string, which holds no rules
    quoted = text.replace("${file(./choices.yml)}", "'${ChoiceRules}'")
    assert "unreachable-state" in _codes(check(quoted, name="flow.yml"), "error")


@pytest.mark.parametrize("quote", ["'", '"', ""])
def test_a_quoted_serverless_variable_takes_the_type_of_its_value(quote: str) -> None:
    # Serverless resolves '${self:custom.delay}' to the value itself: the number 30 here, which
    # "Seconds" needs; SAM's textual '${Delay}' filled with 30 stays the text "30" (refused).
    text = f"StartAt: W\nStates:\n  W:\n    Type: Wait\n    Seconds: {quote}${{self:custom.delay}}{quote}\n    End: true\n"
    found = check(text, name="flow.yml")
    assert _codes(found, "error") == [] and "stays a string" not in found[0].message
    assert check(text, name="flow.yml", substitutions={"self:custom.delay": "30"}) == []
    assert load_source(text, substitutions={"self:custom.delay": "30"}).data["States"]["W"]["Seconds"] == 30
    sam = text.replace("self:custom.delay", "Delay")
    expected = ["wrong-type"] if quote else []
    assert _codes(check(sam, name="flow.yml", substitutions={"Delay": "30"}), "error") == expected
    # in JSON too, and only when the string is the variable alone
    json_text = '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": "${self:custom.delay}", "End": true}}}'
    assert load_source(json_text, substitutions={"self:custom.delay": "30"}).data["States"]["W"]["Seconds"] == 30
    assert templates.substitute("'x ${self:a}' '${self:b}'", {"self:a": "1", "self:b": "bob"}) == "'x 1' 'bob'"


# Terraform templatefile: a whole field written as an expression (`${jsonencode(...)}`) with
# braces and JSON strings of its own, as `templatefile` fills it before AWS sees the text.
TERRAFORM_EXPRESSION = """{
  "StartAt": "Notify",
  "States": {
    "Notify": {
      "Type": "Task",
      "Resource": "arn:aws:states:::sns:publish",
      "Parameters": {"TopicArn": "${topic_arn}",
                     "Message": ${jsonencode({"kind": "report", "ids": [1, {"n": 2}]})}},
      "TimeoutSeconds": ${timeout},
      "End": true
    }
  }
}"""


def test_terraform_expressions_with_braces_and_strings_are_placeholders() -> None:
    found = check(TERRAFORM_EXPRESSION, name="flow.asl.json")
    assert _codes(found, "error") == []
    messages = [d.message for d in found if d.code == "template-placeholder"]
    assert any('${jsonencode({"kind": "report", "ids": [1, {"n": 2}]})}' in m for m in messages)
    filled = check(TERRAFORM_EXPRESSION, name="flow.asl.json", substitutions={
        "topic_arn": "arn:aws:sns:us-east-1:111111111111:reports",
        'jsonencode({"kind": "report", "ids": [1, {"n": 2}]})': '{"kind":"report","ids":[1,{"n":2}]}',
        "timeout": "30"})
    assert [d.code for d in filled] == []
